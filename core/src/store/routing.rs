//! RouteOrder's store side: read the candidate warehouses' stock, let the
//! seller's rule chain (`crate::routing_rules`) decide which warehouse(s) ship
//! what, reserve that stock and create one shipment per warehouse, in one
//! transaction (invariant 3: concurrent routing never reserves more than on
//! hand, and never dips into safety stock).
//!
//! Why it holds: the order is first claimed with a guarded
//! `awaiting → processing` update, so one router per order; each planned
//! (warehouse, sku) is then reserved with `UPDATE stock SET reserved =
//! reserved + q WHERE … AND on_hand - reserved - safety >= q`, which the
//! database re-checks under the row lock. The plan's reservations happen in
//! one savepoint, in (warehouse, sku) order so two routers never lock rows in
//! opposite orders; if any guarded update finds the stock gone (a concurrent
//! router took it after we read it), the savepoint is rolled back and the plan
//! recomputed from fresh counts, a few times.

use super::entities::{order, order_event, order_line, reservation, shipment, stock, warehouse};
use super::{events, now, Store};
use crate::routing_rules::{self, Candidate, Coords, Destination, OrderInput, Plan, RoutingConfig};
use crate::OrderStatus;
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    TransactionTrait,
};
use std::collections::BTreeMap;

/// A shipment routing created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutedShipment {
    pub shipment_id: i64,
    pub warehouse_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteOutcome {
    /// One warehouse ships the whole order.
    Routed {
        shipment_id: i64,
        warehouse_id: String,
    },
    /// Split over several warehouses (one shipment each), and/or some units
    /// backordered (`backorder = "allow"`).
    Shipments {
        shipments: Vec<RoutedShipment>,
        /// Units per sku no warehouse ships.
        backordered: BTreeMap<String, i64>,
    },
    /// Nothing in stock anywhere and `backorder = "allow"`: the order stays
    /// awaiting (the scheduler's sweep routes it again later).
    Backordered { lines: BTreeMap<String, i64> },
    /// The order was not awaiting routing (already routed, cancelled, ...).
    NotAwaiting,
    /// No warehouse can fill every line: the order is now `exception`.
    NoStock,
    /// The seller has no warehouse configured: the order stays awaiting.
    NoWarehouses,
}

impl RouteOutcome {
    /// The shipments this routing created (each wants a label).
    pub fn shipment_ids(&self) -> Vec<i64> {
        match self {
            RouteOutcome::Routed { shipment_id, .. } => vec![*shipment_id],
            RouteOutcome::Shipments { shipments, .. } => {
                shipments.iter().map(|s| s.shipment_id).collect()
            }
            _ => Vec::new(),
        }
    }
}

/// A warehouse's routing settings (config is the source of truth).
#[derive(Debug, Clone, PartialEq)]
pub struct WarehouseRouting {
    pub open: bool,
    /// Countries it ships to; empty: all.
    pub ships_to: Vec<String>,
    /// Channel ids it ships for; empty: all.
    pub channels: Vec<String>,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
}

impl Default for WarehouseRouting {
    fn default() -> Self {
        Self {
            open: true,
            ships_to: Vec::new(),
            channels: Vec::new(),
            lat: None,
            lon: None,
        }
    }
}

/// Timeline event: nothing could be shipped yet, units wait for stock.
pub const EVENT_BACKORDERED: &str = "backordered";

/// Attempts at reserving a plan before giving up for this run (the job is
/// retried): each failed attempt means another router took the stock.
const PLAN_ATTEMPTS: usize = 8;

pub const NO_STOCK: &str = "no stock";

impl Store {
    /// Create or update a warehouse (config is the source of truth).
    pub async fn upsert_warehouse(
        &self,
        id: &str,
        seller_id: &str,
        name: &str,
        priority: i32,
        country: Option<&str>,
        carriers: &[String],
    ) -> Result<(), DbErr> {
        let am = warehouse::ActiveModel {
            id: Set(id.into()),
            seller_id: Set(seller_id.into()),
            name: Set(name.into()),
            priority: Set(priority),
            country: Set(country.map(str::to_string)),
            carriers: Set(serde_json::to_string(carriers).unwrap_or_else(|_| "[]".into())),
            // Set by `set_warehouse_address`; an update here leaves it alone.
            address: sea_orm::ActiveValue::NotSet,
            // Set by `set_warehouse_routing` / `set_safety_stock`.
            open: sea_orm::ActiveValue::NotSet,
            ships_to: sea_orm::ActiveValue::NotSet,
            channels: sea_orm::ActiveValue::NotSet,
            lat: sea_orm::ActiveValue::NotSet,
            lon: sea_orm::ActiveValue::NotSet,
            default_safety: sea_orm::ActiveValue::NotSet,
        };
        warehouse::Entity::insert(am)
            .on_conflict(
                OnConflict::column(warehouse::Column::Id)
                    .update_columns([
                        warehouse::Column::SellerId,
                        warehouse::Column::Name,
                        warehouse::Column::Priority,
                        warehouse::Column::Country,
                        warehouse::Column::Carriers,
                    ])
                    .to_owned(),
            )
            .exec_without_returning(&self.db)
            .await?;
        Ok(())
    }

    /// Set a warehouse's routing filters and coordinates.
    pub async fn set_warehouse_routing(&self, id: &str, r: &WarehouseRouting) -> Result<(), DbErr> {
        let json = |v: &Vec<String>| serde_json::to_string(v).unwrap_or_else(|_| "[]".into());
        warehouse::Entity::update_many()
            .col_expr(warehouse::Column::Open, Expr::value(r.open))
            .col_expr(warehouse::Column::ShipsTo, Expr::value(json(&r.ships_to)))
            .col_expr(warehouse::Column::Channels, Expr::value(json(&r.channels)))
            .col_expr(warehouse::Column::Lat, Expr::value(r.lat))
            .col_expr(warehouse::Column::Lon, Expr::value(r.lon))
            .filter(warehouse::Column::Id.eq(id))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// Set a warehouse's safety stock: `per_sku` overrides, `default` for
    /// every other sku (a sku dropped from `per_sku` falls back to it). A sku
    /// with no stock row gets one with nothing on hand.
    pub async fn set_safety_stock(
        &self,
        warehouse_id: &str,
        default: i64,
        per_sku: &BTreeMap<String, i64>,
    ) -> Result<(), DbErr> {
        let tx = self.begin_write().await?;
        warehouse::Entity::update_many()
            .col_expr(warehouse::Column::DefaultSafety, Expr::value(default))
            .filter(warehouse::Column::Id.eq(warehouse_id))
            .exec(&tx)
            .await?;
        stock::Entity::update_many()
            .col_expr(stock::Column::Safety, Expr::value(None::<i64>))
            .filter(stock::Column::WarehouseId.eq(warehouse_id))
            .filter(stock::Column::Sku.is_not_in(per_sku.keys().cloned()))
            .exec(&tx)
            .await?;
        for (sku, n) in per_sku {
            stock::Entity::insert(stock::ActiveModel {
                warehouse_id: Set(warehouse_id.into()),
                sku: Set(sku.clone()),
                on_hand: Set(0),
                reserved: Set(0),
                safety: Set(Some(*n)),
            })
            .on_conflict(
                OnConflict::columns([stock::Column::WarehouseId, stock::Column::Sku])
                    .update_column(stock::Column::Safety)
                    .to_owned(),
            )
            .exec_without_returning(&tx)
            .await?;
        }
        tx.commit().await
    }

    /// Set the quantity on hand only where none is recorded yet (initial
    /// stock from config must not overwrite counts the hub keeps).
    pub async fn seed_stock(
        &self,
        warehouse_id: &str,
        sku: &str,
        on_hand: i64,
    ) -> Result<(), DbErr> {
        self.write_stock(warehouse_id, sku, on_hand, false).await
    }

    /// Set the quantity on hand (reservations are kept).
    pub async fn set_stock(
        &self,
        warehouse_id: &str,
        sku: &str,
        on_hand: i64,
    ) -> Result<(), DbErr> {
        self.write_stock(warehouse_id, sku, on_hand, true).await
    }

    async fn write_stock(
        &self,
        warehouse_id: &str,
        sku: &str,
        on_hand: i64,
        overwrite: bool,
    ) -> Result<(), DbErr> {
        let am = stock::ActiveModel {
            warehouse_id: Set(warehouse_id.into()),
            sku: Set(sku.into()),
            on_hand: Set(on_hand),
            reserved: Set(0),
            safety: sea_orm::ActiveValue::NotSet,
        };
        let mut conflict = OnConflict::columns([stock::Column::WarehouseId, stock::Column::Sku]);
        if overwrite {
            conflict.update_column(stock::Column::OnHand);
        } else {
            conflict.do_nothing();
        }
        stock::Entity::insert(am)
            .on_conflict(conflict)
            .exec_without_returning(&self.db)
            .await?;
        Ok(())
    }

    pub async fn stock(
        &self,
        warehouse_id: &str,
        sku: &str,
    ) -> Result<Option<stock::Model>, DbErr> {
        stock::Entity::find_by_id((warehouse_id.to_string(), sku.to_string()))
            .one(&self.db)
            .await
    }

    pub async fn reservations(&self, order_id: i64) -> Result<Vec<reservation::Model>, DbErr> {
        reservation::Entity::find()
            .filter(reservation::Column::OrderId.eq(order_id))
            .all(&self.db)
            .await
    }

    /// Orders still awaiting routing since before `before` whose seller has a
    /// warehouse (a crash between a page's commit and the RouteOrder enqueue
    /// leaves them so). Marked swept, so each comes back at most once per
    /// grace period while its job waits in the queue.
    pub async fn stalled_awaiting_orders(
        &self,
        before: chrono::DateTime<chrono::Utc>,
        limit: u64,
    ) -> Result<Vec<i64>, DbErr> {
        use super::entities::order;
        use sea_orm::Condition;
        let sellers: Vec<String> = warehouse::Entity::find()
            .all(&self.db)
            .await?
            .into_iter()
            .map(|w| w.seller_id)
            .collect();
        if sellers.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<i64> = order::Entity::find()
            .filter(order::Column::Status.eq(OrderStatus::Awaiting.as_str()))
            .filter(order::Column::SellerId.is_in(sellers))
            .filter(order::Column::CreatedAt.lt(before))
            .filter(
                Condition::any()
                    .add(order::Column::RouteSweptAt.is_null())
                    .add(order::Column::RouteSweptAt.lt(before)),
            )
            .order_by_asc(order::Column::Id)
            .limit(limit)
            .all(&self.db)
            .await?
            .into_iter()
            .map(|o| o.id)
            .collect();
        if !ids.is_empty() {
            order::Entity::update_many()
                .col_expr(order::Column::RouteSweptAt, Expr::value(now()))
                .filter(order::Column::Id.is_in(ids.clone()))
                .exec(&self.db)
                .await?;
        }
        Ok(ids)
    }

    /// Route one order with the default rule chain (priority order when no
    /// warehouse has coordinates, no split, no backorder). Safe to run twice
    /// or concurrently for the same order.
    pub async fn route_order(&self, order_id: i64) -> Result<RouteOutcome, DbErr> {
        self.route_order_with(order_id, &RoutingConfig::default())
            .await
    }

    /// Route one order by the seller's rule chain. Safe to run twice or
    /// concurrently for the same order.
    pub async fn route_order_with(
        &self,
        order_id: i64,
        config: &RoutingConfig,
    ) -> Result<RouteOutcome, DbErr> {
        let tx = self.begin_write().await?;
        if !Store::transition_order(
            &tx,
            order_id,
            OrderStatus::Awaiting,
            OrderStatus::Processing,
            None,
        )
        .await?
        {
            tx.rollback().await?;
            return Ok(RouteOutcome::NotAwaiting);
        }
        let Some(o) = order::Entity::find_by_id(order_id).one(&tx).await? else {
            tx.rollback().await?;
            return Ok(RouteOutcome::NotAwaiting);
        };
        // Quantity per sku; a line without a sku cannot be picked from stock.
        let mut wanted: BTreeMap<String, i64> = BTreeMap::new();
        let mut unroutable = false;
        for l in order_line::Entity::find()
            .filter(order_line::Column::OrderId.eq(order_id))
            .all(&tx)
            .await?
        {
            match l.sku {
                Some(sku) if !sku.is_empty() && l.quantity > 0 => {
                    *wanted.entry(sku).or_default() += l.quantity as i64
                }
                Some(sku) if !sku.is_empty() => {}
                _ => unroutable = true,
            }
        }
        let warehouses = warehouse::Entity::find()
            .filter(warehouse::Column::SellerId.eq(o.seller_id.as_str()))
            .order_by_desc(warehouse::Column::Priority)
            .order_by_asc(warehouse::Column::Id)
            .all(&tx)
            .await?;
        if warehouses.is_empty() {
            tx.rollback().await?;
            return Ok(RouteOutcome::NoWarehouses);
        }
        let ship_to = o
            .ship_to
            .as_deref()
            .and_then(|j| serde_json::from_str::<crate::Address>(j).ok())
            .unwrap_or_default();
        let input = OrderInput {
            destination: Destination {
                country: ship_to.country,
                postal_code: ship_to.postal_code,
                coords: None,
            },
            channel: o.channel_id.clone(),
            lines: wanted.clone(),
        };
        let mut failed = if unroutable || wanted.is_empty() {
            Some("a line has no sku".to_string())
        } else {
            None
        };
        if failed.is_none() {
            for _ in 0..PLAN_ATTEMPTS {
                let candidates = read_candidates(&tx, &warehouses, &wanted).await?;
                let plan = match routing_rules::plan(&input, &candidates, config) {
                    Ok(p) => p,
                    Err(no) => {
                        failed = Some(no.reason);
                        break;
                    }
                };
                if plan.allocations.is_empty() {
                    // Backordered whole: nothing to reserve, the order waits.
                    tx.rollback().await?;
                    self.record_backorder(order_id, &plan).await?;
                    return Ok(RouteOutcome::Backordered {
                        lines: plan.backordered,
                    });
                }
                let sp = tx.begin().await?;
                let defaults: BTreeMap<&str, i64> = warehouses
                    .iter()
                    .map(|w| (w.id.as_str(), w.default_safety))
                    .collect();
                let mut units: Vec<(&str, &str, i64)> = plan
                    .allocations
                    .iter()
                    .flat_map(|a| {
                        a.lines
                            .iter()
                            .map(|(sku, q)| (a.warehouse_id.as_str(), sku.as_str(), *q))
                    })
                    .collect();
                units.sort();
                let mut all = true;
                for (wh, sku, q) in units {
                    if !reserve(&sp, wh, sku, q, defaults.get(wh).copied().unwrap_or(0)).await? {
                        all = false;
                        break;
                    }
                }
                if !all {
                    sp.rollback().await?;
                    continue; // someone took the stock since we read it
                }
                let mut shipments = Vec::new();
                let mut detail_shipments = Vec::new();
                for a in &plan.allocations {
                    let ship = shipment::Entity::insert(shipment::ActiveModel {
                        order_id: Set(order_id),
                        warehouse_id: Set(a.warehouse_id.clone()),
                        status: Set("created".into()),
                        created_at: Set(now()),
                        ..Default::default()
                    })
                    .exec(&sp)
                    .await?;
                    let rows = a.lines.iter().map(|(sku, q)| reservation::ActiveModel {
                        order_id: Set(order_id),
                        shipment_id: Set(ship.last_insert_id),
                        warehouse_id: Set(a.warehouse_id.clone()),
                        sku: Set(sku.clone()),
                        quantity: Set(*q),
                        created_at: Set(now()),
                        ..Default::default()
                    });
                    reservation::Entity::insert_many(rows).exec(&sp).await?;
                    detail_shipments.push(serde_json::json!({
                        "shipment_id": ship.last_insert_id,
                        "warehouse_id": a.warehouse_id,
                        "lines": a.lines,
                    }));
                    shipments.push(RoutedShipment {
                        shipment_id: ship.last_insert_id,
                        warehouse_id: a.warehouse_id.clone(),
                    });
                }
                events::record(
                    &sp,
                    order_id,
                    events::EVENT_ROUTED,
                    events::ACTOR_SYSTEM,
                    serde_json::json!({
                        // The first shipment, as before splits existed.
                        "warehouse_id": shipments[0].warehouse_id,
                        "shipment_id": shipments[0].shipment_id,
                        "shipments": detail_shipments,
                        "backordered": plan.backordered,
                        "rule": plan.rule.map(|r| r.as_str()),
                        "decided_by": plan.decided_by,
                        "excluded": excluded_json(&plan),
                    }),
                )
                .await?;
                sp.commit().await?;
                tx.commit().await?;
                return Ok(if shipments.len() == 1 && plan.backordered.is_empty() {
                    let s = shipments.remove(0);
                    RouteOutcome::Routed {
                        shipment_id: s.shipment_id,
                        warehouse_id: s.warehouse_id,
                    }
                } else {
                    RouteOutcome::Shipments {
                        shipments,
                        backordered: plan.backordered,
                    }
                });
            }
        }
        let Some(why) = failed else {
            // Every attempt lost its stock to concurrent routers: nothing was
            // written; the job's retry routes it again.
            tx.rollback().await?;
            return Err(DbErr::Custom(format!(
                "routing order {order_id}: stock changed under {PLAN_ATTEMPTS} plans in a row; retry"
            )));
        };
        Store::transition_order(
            &tx,
            order_id,
            OrderStatus::Processing,
            OrderStatus::Exception,
            Some(NO_STOCK),
        )
        .await?;
        events::record(
            &tx,
            order_id,
            events::EVENT_EXCEPTION,
            events::ACTOR_SYSTEM,
            serde_json::json!({ "reason": NO_STOCK, "decided_by": why }),
        )
        .await?;
        tx.commit().await?;
        Ok(RouteOutcome::NoStock)
    }

    /// Note on the timeline that the order waits for stock, unless the last
    /// thing noted is the same backorder (the sweep re-routes it often).
    async fn record_backorder(&self, order_id: i64, plan: &Plan) -> Result<(), DbErr> {
        let detail = serde_json::json!({
            "backordered": plan.backordered,
            "decided_by": plan.decided_by,
            "excluded": excluded_json(plan),
        });
        let last = order_event::Entity::find()
            .filter(order_event::Column::OrderId.eq(order_id))
            .order_by_desc(order_event::Column::Id)
            .limit(1)
            .one(&self.db)
            .await?;
        let same = last.is_some_and(|e| {
            e.kind == EVENT_BACKORDERED
                && serde_json::from_str::<serde_json::Value>(&e.detail)
                    .ok()
                    .as_ref()
                    == Some(&detail)
        });
        if !same {
            events::record(
                &self.db,
                order_id,
                EVENT_BACKORDERED,
                events::ACTOR_SYSTEM,
                detail,
            )
            .await?;
        }
        Ok(())
    }
}

fn excluded_json(plan: &Plan) -> serde_json::Value {
    plan.excluded
        .iter()
        .map(|(w, why)| serde_json::json!({ "warehouse_id": w, "why": why }))
        .collect()
}

/// The seller's warehouses as routing candidates, with what is available of
/// the order's skus now (`on_hand − reserved − safety`).
async fn read_candidates<C: sea_orm::ConnectionTrait>(
    db: &C,
    warehouses: &[warehouse::Model],
    wanted: &BTreeMap<String, i64>,
) -> Result<Vec<Candidate>, DbErr> {
    let rows = stock::Entity::find()
        .filter(stock::Column::WarehouseId.is_in(warehouses.iter().map(|w| w.id.clone())))
        .filter(stock::Column::Sku.is_in(wanted.keys().cloned()))
        .all(db)
        .await?;
    let list = |j: &str| serde_json::from_str::<Vec<String>>(j).unwrap_or_default();
    Ok(warehouses
        .iter()
        .map(|w| Candidate {
            id: w.id.clone(),
            priority: w.priority,
            open: w.open,
            ships_to: list(&w.ships_to),
            channels: list(&w.channels),
            coords: match (w.lat, w.lon) {
                (Some(lat), Some(lon)) => Some(Coords::new(lat, lon)),
                _ => None,
            },
            available: rows
                .iter()
                .filter(|s| s.warehouse_id == w.id)
                .map(|s| {
                    let safety = s.safety.unwrap_or(w.default_safety);
                    (
                        s.sku.clone(),
                        std::cmp::max(s.on_hand - s.reserved - safety, 0),
                    )
                })
                .collect(),
        })
        .collect())
}

/// Reserve `q` of a sku in a warehouse if that leaves its safety stock
/// untouched: one guarded UPDATE the database re-checks under the row lock.
async fn reserve<C: sea_orm::ConnectionTrait>(
    db: &C,
    warehouse_id: &str,
    sku: &str,
    q: i64,
    default_safety: i64,
) -> Result<bool, DbErr> {
    use sea_orm::sea_query::Func;
    let safety = Func::coalesce([Expr::col(stock::Column::Safety), Expr::val(default_safety)]);
    let res = stock::Entity::update_many()
        .col_expr(
            stock::Column::Reserved,
            Expr::col(stock::Column::Reserved).add(q),
        )
        .filter(stock::Column::WarehouseId.eq(warehouse_id))
        .filter(stock::Column::Sku.eq(sku))
        .filter(
            Expr::col(stock::Column::OnHand)
                .sub(Expr::col(stock::Column::Reserved))
                .sub(safety)
                .gte(q),
        )
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}
