//! Fulfillment KPIs over the orders placed in a time range, in total, per
//! channel and per warehouse (`GET /api/kpis`, `orderhub kpis`).
//!
//! One query fetches what the numbers need: every matching order (placed in
//! `[from, to)`, optionally of one channel and/or with a shipment from one
//! warehouse) left-joined to its shipments and to the first `delivered`
//! tracking event of each shipment (a grouped subquery). Everything else is
//! computed here, in Rust, over those rows.
//!
//! Definitions:
//!
//! - **orders**: orders placed in the range, in total and by order status.
//! - **placed_to_label**: per order, the first `label_bought_at` of its
//!   shipments minus `placed_at`, over the orders with a bought label.
//! - **placed_to_delivered**: per order, when its last (live) shipment was
//!   delivered minus `placed_at`, over delivered orders. A shipment's delivery
//!   time is the `occurred_at` of its first `delivered` tracking event. An
//!   order is delivered when every one of its shipments that is not voided or
//!   cancelled has such an event (and it has at least one).
//! - Durations are whole seconds; `median_secs` and `p90_secs` are
//!   nearest-rank percentiles (the smallest observed duration with at least
//!   50 % / 90 % of the durations at or below it), so they are always one of
//!   the observed durations. `null` when there is none.
//! - **on_time_rate**: of delivered orders, the share whose delivery (its UTC
//!   date) is on or before the promised date,
//!   [`crate::rate_choice::promised_date`] of `placed_at` with the
//!   configured handling days, cut-off and the transit days of the order's
//!   shipping method.
//! - **accuracy**: of routed orders (orders with at least one shipment), the
//!   share that never went to `exception`: the order's status is not
//!   `exception` and none of its shipments is in `exception`. Returns for a
//!   wrong item are not modelled yet, so they do not lower it.
//! - **fill_rate**: of routed orders, the share shipped complete from the first
//!   warehouse. Routing never splits an order today, so this is: routed
//!   orders with exactly one shipment (of any status) ÷ routed orders.
//! - **labels_cost**: the sum of `rate_amount` of the shipments with a bought
//!   label (`label_bought_at` set), per currency (upper-cased), as exact
//!   decimal text. Voided labels are still counted (refunds are not known).
//! - **returns**: the returns of these orders (with a warehouse filter, those
//!   going back to it): how many, by status, units by reason code, units
//!   returned / restocked / damaged, refunds recorded `refunded` and
//!   `pending` per currency (exact decimal text), and the return rate:
//!   delivered orders with at least one return ÷ delivered orders.
//! - Shares are `{rate, matching, count}`; `rate` is `matching / count`, or
//!   `null` when `count` is 0.
//!
//! Per warehouse (and with the `warehouse` filter): the orders with a shipment
//! from that warehouse; the shipment-level numbers (label, delivery, cost,
//! shipment exceptions) look at that warehouse's shipments only, while the
//! fill rate looks at all of the order's shipments. Unrouted orders belong to
//! no warehouse. Per channel: the orders of that channel, under the same
//! warehouse scope as the total.

use super::entities::{order, shipment, tracking_event};
use super::{Store, SHIPMENT_CANCELLED, SHIPMENT_EXCEPTION, SHIPMENT_VOIDED};
use crate::config::ShippingSettings;
use crate::rate_choice::promised_date;
use crate::OrderStatus;
use chrono::{DateTime, Duration, NaiveTime, Utc};
use rust_decimal::Decimal;
use sea_orm::sea_query::{Expr, ExprTrait, Func, JoinType, Order as SortOrder, Query};
use sea_orm::{ConnectionTrait, DbErr};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;

/// The range used when none is given: the last 30 days.
pub const DEFAULT_KPI_DAYS: i64 = 30;

/// Which orders the KPIs are over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KpiQuery {
    /// Placed at or after.
    pub from: DateTime<Utc>,
    /// Placed strictly before.
    pub to: DateTime<Utc>,
    pub channel: Option<String>,
    pub warehouse: Option<String>,
    /// Only this seller's orders (a seller's API token); `None` for ops.
    pub seller: Option<String>,
}

impl KpiQuery {
    /// The query from raw parameters (API query string or CLI flags), or a
    /// message naming the first bad parameter. Without `to` the range ends
    /// `now`; without `from` it starts [`DEFAULT_KPI_DAYS`] before its end.
    pub fn parse(
        from: Option<&str>,
        to: Option<&str>,
        channel: Option<&str>,
        warehouse: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<KpiQuery, String> {
        for (name, v) in [
            ("from", from),
            ("to", to),
            ("channel", channel),
            ("warehouse", warehouse),
        ] {
            if v.is_some_and(|v| v.contains('\0')) {
                return Err(format!("{name} must not contain NUL"));
            }
        }
        let to = match to {
            Some(t) => parse_time("to", t)?,
            None => now,
        };
        let from = match from {
            Some(f) => parse_time("from", f)?,
            None => to
                .checked_sub_signed(Duration::days(DEFAULT_KPI_DAYS))
                .unwrap_or(DateTime::<Utc>::MIN_UTC),
        };
        if from >= to {
            return Err("from must be before to".into());
        }
        Ok(KpiQuery {
            from,
            to,
            channel: channel.map(str::to_string),
            warehouse: warehouse.map(str::to_string),
            seller: None,
        })
    }
}

/// An RFC 3339 time; an unescaped `+` of an offset arrives in a query string
/// as a space and is read as `+`.
pub fn parse_time(name: &str, value: &str) -> Result<DateTime<Utc>, String> {
    let parse = |v: &str| DateTime::parse_from_rfc3339(v.trim());
    parse(value)
        .or_else(|e| parse(&value.replace(' ', "+")).map_err(|_| e))
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| format!("{name} must be an RFC 3339 time such as 2025-01-31T00:00:00Z"))
}

/// Order counts: the total and one entry per status (every known status,
/// zeros included).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OrderCounts {
    pub total: u64,
    pub by_status: BTreeMap<String, u64>,
}

/// A duration distribution in whole seconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DurationStats {
    /// How many durations the percentiles are over.
    pub count: u64,
    pub median_secs: Option<i64>,
    pub p90_secs: Option<i64>,
}

/// `matching` of `count`; `rate` is `null` when `count` is 0.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Share {
    pub rate: Option<f64>,
    pub matching: u64,
    pub count: u64,
}

/// The KPIs of one group of orders.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KpiSet {
    pub orders: OrderCounts,
    pub placed_to_label: DurationStats,
    pub placed_to_delivered: DurationStats,
    pub on_time_rate: Share,
    pub accuracy: Share,
    pub fill_rate: Share,
    /// Currency → exact decimal sum, as text.
    pub labels_cost: BTreeMap<String, String>,
}

/// One row of `by_channel` or `by_warehouse`: the group's id and its KPIs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KpiGroup {
    /// The channel id or the warehouse id.
    pub id: String,
    pub orders: OrderCounts,
    pub placed_to_label: DurationStats,
    pub placed_to_delivered: DurationStats,
    pub on_time_rate: Share,
    pub accuracy: Share,
    pub fill_rate: Share,
    pub labels_cost: BTreeMap<String, String>,
}

impl KpiGroup {
    fn new(id: String, k: KpiSet) -> KpiGroup {
        KpiGroup {
            id,
            orders: k.orders,
            placed_to_label: k.placed_to_label,
            placed_to_delivered: k.placed_to_delivered,
            on_time_rate: k.on_time_rate,
            accuracy: k.accuracy,
            fill_rate: k.fill_rate,
            labels_cost: k.labels_cost,
        }
    }
}

/// The answer: the range and filters, the KPIs of all matching orders, and
/// the same per channel and per warehouse (sorted by id).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Kpis {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub channel: Option<String>,
    pub warehouse: Option<String>,
    pub orders: OrderCounts,
    pub placed_to_label: DurationStats,
    pub placed_to_delivered: DurationStats,
    pub on_time_rate: Share,
    pub accuracy: Share,
    pub fill_rate: Share,
    pub labels_cost: BTreeMap<String, String>,
    pub by_channel: Vec<KpiGroup>,
    pub by_warehouse: Vec<KpiGroup>,
    /// Returns of these orders (see [`super::returns::ReturnKpis`]).
    pub returns: super::returns::ReturnKpis,
    /// Scan-to-verify packing over these orders' pack sessions: accuracy
    /// (verified at the first Finish with no mismatch ÷ finished sessions)
    /// and mismatches by kind (see [`super::pack_verify::PackKpis`]).
    pub pack_verification: super::pack_verify::PackKpis,
}

/// What the KPIs need of one shipment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShipmentFacts {
    pub warehouse: String,
    pub status: String,
    pub label_bought_at: Option<DateTime<Utc>>,
    pub rate_amount: Option<String>,
    pub rate_currency: Option<String>,
    /// `occurred_at` of the first `delivered` tracking event.
    pub delivered_at: Option<DateTime<Utc>>,
}

/// What the KPIs need of one order, with all its shipments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderFacts {
    pub id: i64,
    pub channel: String,
    pub status: String,
    pub placed_at: DateTime<Utc>,
    pub shipping_method: Option<String>,
    pub shipments: Vec<ShipmentFacts>,
}

/// How promised dates are computed (from [`ShippingSettings`]).
pub struct Promise<'a> {
    pub handling_days: u32,
    pub cutoff: NaiveTime,
    pub shipping: &'a ShippingSettings,
}

impl<'a> Promise<'a> {
    pub fn of(shipping: &'a ShippingSettings) -> Promise<'a> {
        Promise {
            handling_days: shipping.handling_days,
            cutoff: shipping
                .cutoff_time()
                .unwrap_or(NaiveTime::from_hms_opt(14, 0, 0).expect("a valid time")),
            shipping,
        }
    }

    fn on_time(&self, o: &OrderFacts, delivered_at: DateTime<Utc>) -> bool {
        let promised = promised_date(
            o.placed_at,
            self.handling_days,
            self.cutoff,
            self.shipping.transit_days_for(o.shipping_method.as_deref()),
        );
        delivered_at.date_naive() <= promised
    }
}

/// The nearest-rank `p`-th percentile (0 < p ≤ 100) of `sorted` (ascending):
/// the value at 1-based rank ⌈p/100 · n⌉. `None` when empty.
pub fn percentile(sorted: &[i64], p: u32) -> Option<i64> {
    if sorted.is_empty() {
        return None;
    }
    let n = sorted.len() as u64;
    let rank = u64::div_ceil(u64::from(p.clamp(1, 100)) * n, 100);
    let rank = Ord::max(rank, 1);
    sorted.get(rank as usize - 1).copied()
}

/// Count, median and p90 of durations (any order).
pub fn duration_stats(mut secs: Vec<i64>) -> DurationStats {
    secs.sort_unstable();
    DurationStats {
        count: secs.len() as u64,
        median_secs: percentile(&secs, 50),
        p90_secs: percentile(&secs, 90),
    }
}

pub fn share(matching: u64, count: u64) -> Share {
    Share {
        rate: (count > 0).then(|| matching as f64 / count as f64),
        matching,
        count,
    }
}

/// Sum decimal amounts per currency (trimmed, upper-cased); amounts that are
/// not decimals are left out.
pub fn sum_by_currency<'a>(
    amounts: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> BTreeMap<String, String> {
    let mut sums: BTreeMap<String, Decimal> = BTreeMap::new();
    for (amount, currency) in amounts {
        let Ok(a) = Decimal::from_str(amount.trim()) else {
            continue;
        };
        let cur = currency.trim().to_ascii_uppercase();
        let slot = sums.entry(cur).or_default();
        if let Some(s) = slot.checked_add(a) {
            *slot = s;
        }
    }
    sums.into_iter().map(|(c, s)| (c, s.to_string())).collect()
}

fn secs_between(from: DateTime<Utc>, to: DateTime<Utc>) -> i64 {
    (to - from).num_seconds()
}

/// The KPIs of `orders`, looking at the shipments from `warehouse` only
/// when given (see the module documentation).
pub fn compute(orders: &[&OrderFacts], warehouse: Option<&str>, promise: &Promise) -> KpiSet {
    let mut by_status: BTreeMap<String, u64> = OrderStatus::ALL
        .iter()
        .map(|s| (s.as_str().to_string(), 0))
        .collect();
    let mut to_label = Vec::new();
    let mut to_delivered = Vec::new();
    let (mut delivered, mut on_time) = (0u64, 0u64);
    let (mut routed, mut accurate, mut complete) = (0u64, 0u64, 0u64);
    let mut costs = Vec::new();
    for o in orders {
        *by_status.entry(o.status.clone()).or_default() += 1;
        let scoped: Vec<&ShipmentFacts> = o
            .shipments
            .iter()
            .filter(|s| warehouse.is_none_or(|w| s.warehouse == w))
            .collect();
        if let Some(first) = scoped.iter().filter_map(|s| s.label_bought_at).min() {
            to_label.push(secs_between(o.placed_at, first));
        }
        let live: Vec<&&ShipmentFacts> = scoped
            .iter()
            .filter(|s| s.status != SHIPMENT_VOIDED && s.status != SHIPMENT_CANCELLED)
            .collect();
        let delivered_at = if live.is_empty() {
            None
        } else {
            live.iter()
                .map(|s| s.delivered_at)
                .collect::<Option<Vec<_>>>()
                .and_then(|ts| ts.into_iter().max())
        };
        if let Some(at) = delivered_at {
            to_delivered.push(secs_between(o.placed_at, at));
            delivered += 1;
            if promise.on_time(o, at) {
                on_time += 1;
            }
        }
        if !scoped.is_empty() {
            routed += 1;
            let exception = o.status == OrderStatus::Exception.as_str()
                || scoped.iter().any(|s| s.status == SHIPMENT_EXCEPTION);
            if !exception {
                accurate += 1;
            }
            if o.shipments.len() == 1 {
                complete += 1;
            }
        }
        for s in &scoped {
            if s.label_bought_at.is_some() {
                if let (Some(a), Some(c)) = (&s.rate_amount, &s.rate_currency) {
                    costs.push((a.as_str(), c.as_str()));
                }
            }
        }
    }
    KpiSet {
        orders: OrderCounts {
            total: orders.len() as u64,
            by_status,
        },
        placed_to_label: duration_stats(to_label),
        placed_to_delivered: duration_stats(to_delivered),
        on_time_rate: share(on_time, delivered),
        accuracy: share(accurate, routed),
        fill_rate: share(complete, routed),
        labels_cost: sum_by_currency(costs),
    }
}

/// The whole answer over already fetched orders.
pub fn summarize(q: &KpiQuery, orders: &[OrderFacts], promise: &Promise) -> Kpis {
    let all: Vec<&OrderFacts> = orders.iter().collect();
    let scope = q.warehouse.as_deref();
    let total = compute(&all, scope, promise);
    let channels: BTreeSet<&str> = orders.iter().map(|o| o.channel.as_str()).collect();
    let by_channel = channels
        .into_iter()
        .map(|c| {
            let of: Vec<&OrderFacts> = orders.iter().filter(|o| o.channel == c).collect();
            KpiGroup::new(c.to_string(), compute(&of, scope, promise))
        })
        .collect();
    let warehouses: BTreeSet<&str> = orders
        .iter()
        .flat_map(|o| o.shipments.iter().map(|s| s.warehouse.as_str()))
        .filter(|w| scope.is_none_or(|f| f == *w))
        .collect();
    let by_warehouse = warehouses
        .into_iter()
        .map(|w| {
            let of: Vec<&OrderFacts> = orders
                .iter()
                .filter(|o| o.shipments.iter().any(|s| s.warehouse == w))
                .collect();
            KpiGroup::new(w.to_string(), compute(&of, Some(w), promise))
        })
        .collect();
    Kpis {
        from: q.from,
        to: q.to,
        channel: q.channel.clone(),
        warehouse: q.warehouse.clone(),
        orders: total.orders,
        placed_to_label: total.placed_to_label,
        placed_to_delivered: total.placed_to_delivered,
        on_time_rate: total.on_time_rate,
        accuracy: total.accuracy,
        fill_rate: total.fill_rate,
        labels_cost: total.labels_cost,
        by_channel,
        by_warehouse,
        returns: Default::default(),
        pack_verification: Default::default(),
    }
}

impl Store {
    /// The orders the KPIs of `q` are over, each with all its shipments and
    /// their first delivery: one query (orders ⟕ shipments ⟕ first
    /// `delivered` event per shipment), ordered by order and shipment id.
    pub async fn kpi_facts(&self, q: &KpiQuery) -> Result<Vec<OrderFacts>, DbErr> {
        const D: &str = "first_delivered";
        let first_delivered = Query::select()
            .column(tracking_event::Column::ShipmentId)
            .expr_as(
                Func::min(Expr::col(tracking_event::Column::OccurredAt)),
                "delivered_at",
            )
            .from(tracking_event::Entity)
            .and_where(
                Expr::col(tracking_event::Column::Status)
                    .eq(crate::TrackingStatus::Delivered.as_str()),
            )
            .group_by_col(tracking_event::Column::ShipmentId)
            .to_owned();
        let mut stmt = Query::select();
        stmt.expr_as(Expr::col((order::Entity, order::Column::Id)), "order_id")
            .expr_as(
                Expr::col((order::Entity, order::Column::ChannelId)),
                "channel_id",
            )
            .expr_as(
                Expr::col((order::Entity, order::Column::Status)),
                "order_status",
            )
            .expr_as(
                Expr::col((order::Entity, order::Column::PlacedAt)),
                "placed_at",
            )
            .expr_as(
                Expr::col((order::Entity, order::Column::ShippingMethod)),
                "shipping_method",
            )
            .expr_as(
                Expr::col((shipment::Entity, shipment::Column::Id)),
                "shipment_id",
            )
            .expr_as(
                Expr::col((shipment::Entity, shipment::Column::WarehouseId)),
                "warehouse_id",
            )
            .expr_as(
                Expr::col((shipment::Entity, shipment::Column::Status)),
                "shipment_status",
            )
            .expr_as(
                Expr::col((shipment::Entity, shipment::Column::LabelBoughtAt)),
                "label_bought_at",
            )
            .expr_as(
                Expr::col((shipment::Entity, shipment::Column::RateAmount)),
                "rate_amount",
            )
            .expr_as(
                Expr::col((shipment::Entity, shipment::Column::RateCurrency)),
                "rate_currency",
            )
            .expr_as(Expr::col((D, "delivered_at")), "delivered_at")
            .from(order::Entity)
            .left_join(
                shipment::Entity,
                Expr::col((shipment::Entity, shipment::Column::OrderId))
                    .equals((order::Entity, order::Column::Id)),
            )
            .join_subquery(
                JoinType::LeftJoin,
                first_delivered,
                D,
                Expr::col((D, tracking_event::Column::ShipmentId))
                    .equals((shipment::Entity, shipment::Column::Id)),
            )
            .and_where(Expr::col((order::Entity, order::Column::PlacedAt)).gte(q.from))
            .and_where(Expr::col((order::Entity, order::Column::PlacedAt)).lt(q.to))
            .order_by((order::Entity, order::Column::Id), SortOrder::Asc)
            .order_by((shipment::Entity, shipment::Column::Id), SortOrder::Asc);
        if let Some(c) = &q.channel {
            stmt.and_where(Expr::col((order::Entity, order::Column::ChannelId)).eq(c.as_str()));
        }
        if let Some(s) = &q.seller {
            stmt.and_where(Expr::col((order::Entity, order::Column::SellerId)).eq(s.as_str()));
        }
        if let Some(w) = &q.warehouse {
            stmt.and_where(Expr::exists(
                Query::select()
                    .expr(Expr::val(1))
                    .from_as(shipment::Entity, "ws")
                    .and_where(
                        Expr::col(("ws", shipment::Column::OrderId))
                            .equals((order::Entity, order::Column::Id)),
                    )
                    .and_where(Expr::col(("ws", shipment::Column::WarehouseId)).eq(w.as_str()))
                    .to_owned(),
            ));
        }
        let rows = self.db().query_all(&stmt).await?;
        let mut out: Vec<OrderFacts> = Vec::new();
        for row in rows {
            let id: i64 = row.try_get("", "order_id")?;
            if out.last().is_none_or(|o| o.id != id) {
                out.push(OrderFacts {
                    id,
                    channel: row.try_get("", "channel_id")?,
                    status: row.try_get("", "order_status")?,
                    placed_at: row.try_get("", "placed_at")?,
                    shipping_method: row.try_get("", "shipping_method")?,
                    shipments: Vec::new(),
                });
            }
            let shipment_id: Option<i64> = row.try_get("", "shipment_id")?;
            if shipment_id.is_none() {
                continue;
            }
            let facts = ShipmentFacts {
                warehouse: row.try_get("", "warehouse_id")?,
                status: row.try_get("", "shipment_status")?,
                label_bought_at: row.try_get("", "label_bought_at")?,
                rate_amount: row.try_get("", "rate_amount")?,
                rate_currency: row.try_get("", "rate_currency")?,
                delivered_at: row.try_get("", "delivered_at")?,
            };
            if let Some(o) = out.last_mut() {
                o.shipments.push(facts);
            }
        }
        Ok(out)
    }

    /// The KPIs of the orders `q` selects (see the module documentation).
    pub async fn kpis(&self, q: &KpiQuery, shipping: &ShippingSettings) -> Result<Kpis, DbErr> {
        let facts = self.kpi_facts(q).await?;
        let mut k = summarize(q, &facts, &Promise::of(shipping));
        // The return rate's denominator: delivered orders in the same scope.
        let delivered = k
            .orders
            .by_status
            .get(OrderStatus::Delivered.as_str())
            .copied()
            .unwrap_or(0);
        k.returns = self.return_kpis(q, delivered).await?;
        k.pack_verification = self.pack_kpis(q).await?;
        Ok(k)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        parse_time("t", s).unwrap()
    }

    #[test]
    fn percentile_is_nearest_rank() {
        assert_eq!(percentile(&[], 50), None);
        assert_eq!(percentile(&[7], 50), Some(7));
        assert_eq!(percentile(&[7], 90), Some(7));
        let v: Vec<i64> = (1..=10).collect();
        assert_eq!(percentile(&v, 50), Some(5));
        assert_eq!(percentile(&v, 90), Some(9));
        assert_eq!(percentile(&v, 100), Some(10));
        let v: Vec<i64> = (1..=11).collect();
        assert_eq!(percentile(&v, 50), Some(6));
        assert_eq!(percentile(&v, 90), Some(10));
        assert_eq!(percentile(&[1, 2, 3, 4], 50), Some(2));
        assert_eq!(percentile(&[1, 2, 3, 4], 90), Some(4));
    }

    #[test]
    fn duration_stats_sorts_first() {
        let s = duration_stats(vec![30, 10, 20]);
        assert_eq!(
            s,
            DurationStats {
                count: 3,
                median_secs: Some(20),
                p90_secs: Some(30)
            }
        );
        assert_eq!(duration_stats(vec![]).median_secs, None);
    }

    #[test]
    fn shares() {
        assert_eq!(share(0, 0).rate, None);
        assert_eq!(share(3, 4).rate, Some(0.75));
    }

    #[test]
    fn sums_are_exact_per_currency() {
        let sums = sum_by_currency([
            ("0.10", "usd"),
            ("0.20", "USD"),
            ("5", " eur "),
            ("x", "USD"),
            ("1.005", "EUR"),
        ]);
        assert_eq!(sums["USD"], "0.30");
        assert_eq!(sums["EUR"], "6.005");
        assert_eq!(sums.len(), 2);
    }

    #[test]
    fn parse_query() {
        let now = t("2025-03-31T00:00:00Z");
        let q = KpiQuery::parse(None, None, None, None, now).unwrap();
        assert_eq!(q.to, now);
        assert_eq!(q.from, t("2025-03-01T00:00:00Z"));
        let q = KpiQuery::parse(
            Some("2025-01-01T00:00:00 01:00"),
            Some("2025-01-02T00:00:00Z"),
            Some("shop"),
            None,
            now,
        )
        .unwrap();
        assert_eq!(q.from, t("2024-12-31T23:00:00Z"));
        assert_eq!(q.channel.as_deref(), Some("shop"));
        let e = KpiQuery::parse(Some("garbage"), None, None, None, now).unwrap_err();
        assert!(e.starts_with("from "), "{e}");
        let e = KpiQuery::parse(None, Some("2025-13-01"), None, None, now).unwrap_err();
        assert!(e.starts_with("to "), "{e}");
        let e = KpiQuery::parse(
            Some("2025-01-02T00:00:00Z"),
            Some("2025-01-02T00:00:00Z"),
            None,
            None,
            now,
        )
        .unwrap_err();
        assert!(e.contains("from must be before to"), "{e}");
        let e = KpiQuery::parse(None, None, None, Some("a\0b"), now).unwrap_err();
        assert!(e.starts_with("warehouse "), "{e}");
    }

    fn ship(w: &str, status: &str, label: Option<&str>, delivered: Option<&str>) -> ShipmentFacts {
        ShipmentFacts {
            warehouse: w.into(),
            status: status.into(),
            label_bought_at: label.map(t),
            rate_amount: label.map(|_| "4.20".into()),
            rate_currency: label.map(|_| "USD".into()),
            delivered_at: delivered.map(t),
        }
    }

    #[test]
    fn compute_over_a_small_set() {
        let shipping = ShippingSettings::default(); // 1 handling day, 14:00, 5 transit days
        let promise = Promise::of(&shipping);
        // Monday 10:00: ships Tue, promised Tue + 5 = next Tue 2025-03-11.
        let o1 = OrderFacts {
            id: 1,
            channel: "a".into(),
            status: "delivered".into(),
            placed_at: t("2025-03-03T10:00:00Z"),
            shipping_method: None,
            shipments: vec![ship(
                "w1",
                "label_bought",
                Some("2025-03-03T11:00:00Z"),
                Some("2025-03-11T23:00:00Z"),
            )],
        };
        // Late: delivered Wednesday 2025-03-12.
        let o2 = OrderFacts {
            id: 2,
            channel: "b".into(),
            status: "delivered".into(),
            placed_at: t("2025-03-03T10:00:00Z"),
            shipping_method: None,
            shipments: vec![ship(
                "w2",
                "label_bought",
                Some("2025-03-03T13:00:00Z"),
                Some("2025-03-12T00:00:00Z"),
            )],
        };
        // Not routed.
        let o3 = OrderFacts {
            id: 3,
            channel: "a".into(),
            status: "awaiting".into(),
            placed_at: t("2025-03-03T10:00:00Z"),
            shipping_method: None,
            shipments: vec![],
        };
        // Two shipments, one in exception.
        let o4 = OrderFacts {
            id: 4,
            channel: "a".into(),
            status: "processing".into(),
            placed_at: t("2025-03-03T10:00:00Z"),
            shipping_method: None,
            shipments: vec![
                ship("w1", "exception", None, None),
                ship("w2", "created", None, None),
            ],
        };
        let all = vec![o1, o2, o3, o4];
        let refs: Vec<&OrderFacts> = all.iter().collect();
        let k = compute(&refs, None, &promise);
        assert_eq!(k.orders.total, 4);
        assert_eq!(k.orders.by_status["delivered"], 2);
        assert_eq!(k.orders.by_status["cancelled"], 0);
        assert_eq!(k.placed_to_label.count, 2);
        assert_eq!(k.placed_to_label.median_secs, Some(3600));
        assert_eq!(k.placed_to_label.p90_secs, Some(3 * 3600));
        assert_eq!(k.on_time_rate, share(1, 2));
        assert_eq!(k.accuracy, share(2, 3));
        assert_eq!(k.fill_rate, share(2, 3));
        assert_eq!(k.labels_cost["USD"], "8.40");

        let q = KpiQuery::parse(None, None, None, None, t("2025-04-01T00:00:00Z")).unwrap();
        let s = summarize(&q, &all, &promise);
        let ids: Vec<&str> = s.by_channel.iter().map(|g| g.id.as_str()).collect();
        assert_eq!(ids, ["a", "b"]);
        let w1 = &s.by_warehouse[0];
        assert_eq!(w1.id, "w1");
        assert_eq!(w1.orders.total, 2);
        // Order 4 is in w1 with an exception, and split: neither accurate nor complete.
        assert_eq!(w1.accuracy, share(1, 2));
        assert_eq!(w1.fill_rate, share(1, 2));
        let w2 = &s.by_warehouse[1];
        assert_eq!(w2.accuracy, share(2, 2));
        assert_eq!(w2.labels_cost["USD"], "4.20");
    }
}
