//! Stock sync: which (channel, sku) pairs owe the channel a new quantity,
//! and what each channel was last told.
//!
//! Every stock write lands in `stock_changes` through database triggers
//! (migration 000013), whatever code path made it. [`Store::fold_stock_changes`]
//! turns that log into dirty `stock_sync` rows, one per configured channel of
//! the warehouse's seller; a row keeps the time of its first unpushed change
//! (`dirty_since_ms`) and a `version` every change bumps. The push job takes a
//! channel's rows dirty for at least the debounce, computes the sku's
//! current level ([`Store::channel_available`]), pushes it unless the channel
//! already holds it, and clears the row only if no change came meanwhile
//! (the version still matches); otherwise the row stays dirty with a fresh
//! debounce window, so many changes become one push.
//!
//! The level a channel shows is the sum over the seller's open warehouses
//! that ship for that channel (`warehouses.channels` empty or naming it) of
//! `max(0, on_hand − reserved − safety)`.

use super::entities::{stock, warehouse};
use super::inventory::stock_alert;
use super::{Backend, Store};
use crate::config::WebhookSubscriberSettings;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Statement,
};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

pub mod stock_change {
    use sea_orm::entity::prelude::*;

    /// One stock write, logged by a trigger.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "stock_changes")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub warehouse_id: String,
        pub sku: String,
        pub at_ms: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod stock_sync_row {
    use sea_orm::entity::prelude::*;

    /// What one channel owes / was last told about one sku.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "stock_sync")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub channel_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub sku: String,
        pub seller_id: String,
        pub dirty_since_ms: Option<i64>,
        pub version: i64,
        pub claimed_until_ms: i64,
        pub last_pushed_available: Option<i64>,
        pub last_pushed_at_ms: Option<i64>,
        pub pushes: i64,
        /// `updated`, `unchanged`, `not_listed` or `failed`.
        pub last_outcome: Option<String>,
        #[sea_orm(column_type = "Text", nullable)]
        pub last_error: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod stock_alert_notice {
    use sea_orm::entity::prelude::*;

    /// A low-stock alert already turned into `stock.low` deliveries.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "stock_alert_notices")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub alert_id: i64,
        pub notified_at_ms: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

use stock_sync_row as row;

pub const OUTCOME_UPDATED: &str = "updated";
pub const OUTCOME_UNCHANGED: &str = "unchanged";
pub const OUTCOME_NOT_LISTED: &str = "not_listed";
pub const OUTCOME_FAILED: &str = "failed";

/// The notification type of a low-stock alert.
pub const STOCK_LOW_EVENT: &str = "stock.low";

/// A (channel, sku) row as the API and tests read it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct StockSyncView {
    pub channel_id: String,
    pub sku: String,
    pub dirty: bool,
    pub last_pushed_available: Option<i64>,
    pub pushes: i64,
    pub last_outcome: Option<String>,
    pub last_error: Option<String>,
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Whether a warehouse ships for `channel_id` (its `channels` JSON list is
/// empty or names it).
fn serves(w: &warehouse::Model, channel_id: &str) -> bool {
    let list: Vec<String> = serde_json::from_str(&w.channels).unwrap_or_default();
    list.is_empty() || list.iter().any(|c| c == channel_id)
}

impl Store {
    /// Fold the trigger-written change log into dirty (channel, sku) rows for
    /// every configured channel (`channels`: id and seller) of each changed
    /// warehouse's seller. Returns how many log entries were folded.
    pub async fn fold_stock_changes(&self, channels: &[(String, String)]) -> Result<usize, DbErr> {
        let changes = stock_change::Entity::find()
            .order_by_asc(stock_change::Column::Id)
            .limit(5000)
            .all(self.db())
            .await?;
        if changes.is_empty() {
            return Ok(0);
        }
        // Earliest change per (warehouse, sku).
        let mut first: BTreeMap<(String, String), i64> = BTreeMap::new();
        for c in &changes {
            let e = first
                .entry((c.warehouse_id.clone(), c.sku.clone()))
                .or_insert(c.at_ms);
            *e = (*e).min(c.at_ms);
        }
        let whs: BTreeSet<String> = first.keys().map(|(w, _)| w.clone()).collect();
        let sellers: BTreeMap<String, String> = warehouse::Entity::find()
            .filter(warehouse::Column::Id.is_in(whs))
            .all(self.db())
            .await?
            .into_iter()
            .map(|w| (w.id, w.seller_id))
            .collect();
        // Earliest change per (channel, sku).
        let mut dirty: BTreeMap<(String, String), (String, i64)> = BTreeMap::new();
        for ((wh, sku), at) in &first {
            let Some(seller) = sellers.get(wh) else {
                continue;
            };
            for (ch, ch_seller) in channels {
                if ch_seller != seller {
                    continue;
                }
                let e = dirty
                    .entry((ch.clone(), sku.clone()))
                    .or_insert((seller.clone(), *at));
                e.1 = e.1.min(*at);
            }
        }
        let sql = match self.backend() {
            Backend::Sqlite => {
                "INSERT INTO stock_sync (channel_id, sku, seller_id, dirty_since_ms, version) \
                 VALUES (?, ?, ?, ?, 1) ON CONFLICT (channel_id, sku) DO UPDATE SET \
                 dirty_since_ms = COALESCE(stock_sync.dirty_since_ms, excluded.dirty_since_ms), \
                 version = stock_sync.version + 1, seller_id = excluded.seller_id"
            }
            Backend::Postgres => {
                "INSERT INTO stock_sync (channel_id, sku, seller_id, dirty_since_ms, version) \
                 VALUES ($1, $2, $3, $4, 1) ON CONFLICT (channel_id, sku) DO UPDATE SET \
                 dirty_since_ms = COALESCE(stock_sync.dirty_since_ms, excluded.dirty_since_ms), \
                 version = stock_sync.version + 1, seller_id = excluded.seller_id"
            }
        };
        let backend = self.db().get_database_backend();
        let tx = self.begin_write().await?;
        for ((ch, sku), (seller, at)) in &dirty {
            tx.execute_raw(Statement::from_sql_and_values(
                backend,
                sql,
                [
                    ch.clone().into(),
                    sku.clone().into(),
                    seller.clone().into(),
                    (*at).into(),
                ],
            ))
            .await?;
        }
        let ids: Vec<i64> = changes.iter().map(|c| c.id).collect();
        for chunk in ids.chunks(500) {
            stock_change::Entity::delete_many()
                .filter(stock_change::Column::Id.is_in(chunk.iter().copied()))
                .exec(&tx)
                .await?;
        }
        tx.commit().await?;
        Ok(changes.len())
    }

    /// Channels with rows dirty since at or before `due_ms` and not claimed
    /// by a run still going, each claimed until `claim_until_ms`: the
    /// scheduler enqueues one push job per channel returned.
    pub async fn claim_due_stock_channels(
        &self,
        channel_ids: &[String],
        due_ms: i64,
        claim_until_ms: i64,
    ) -> Result<Vec<String>, DbErr> {
        let now = now_ms();
        let mut claimed = Vec::new();
        for ch in channel_ids {
            let r = row::Entity::update_many()
                .col_expr(row::Column::ClaimedUntilMs, Expr::value(claim_until_ms))
                .filter(row::Column::ChannelId.eq(ch.as_str()))
                .filter(row::Column::DirtySinceMs.lte(due_ms))
                .filter(row::Column::ClaimedUntilMs.lt(now))
                .exec(self.db())
                .await?;
            if r.rows_affected > 0 {
                claimed.push(ch.clone());
            }
        }
        Ok(claimed)
    }

    /// A channel's rows dirty since at or before `due_ms` and claimed for a
    /// push job (by [`Store::claim_due_stock_channels`]), oldest first. Rows
    /// that became due after the claim wait for the next claim, so two jobs
    /// never push the same row.
    pub async fn due_stock_rows(
        &self,
        channel_id: &str,
        due_ms: i64,
        limit: u64,
    ) -> Result<Vec<row::Model>, DbErr> {
        row::Entity::find()
            .filter(row::Column::ChannelId.eq(channel_id))
            .filter(row::Column::DirtySinceMs.lte(due_ms))
            .filter(row::Column::ClaimedUntilMs.gt(now_ms()))
            .order_by_asc(row::Column::DirtySinceMs)
            .order_by_asc(row::Column::Sku)
            .limit(limit)
            .all(self.db())
            .await
    }

    /// What `channel_id` of `seller_id` should show for `sku` (see the module docs).
    pub async fn channel_available(
        &self,
        seller_id: &str,
        channel_id: &str,
        sku: &str,
    ) -> Result<i64, DbErr> {
        let whs: BTreeMap<String, warehouse::Model> = warehouse::Entity::find()
            .filter(warehouse::Column::SellerId.eq(seller_id))
            .filter(warehouse::Column::Open.eq(true))
            .all(self.db())
            .await?
            .into_iter()
            .filter(|w| serves(w, channel_id))
            .map(|w| (w.id.clone(), w))
            .collect();
        if whs.is_empty() {
            return Ok(0);
        }
        let rows = stock::Entity::find()
            .filter(stock::Column::Sku.eq(sku))
            .filter(stock::Column::WarehouseId.is_in(whs.keys().cloned()))
            .all(self.db())
            .await?;
        Ok(rows
            .iter()
            .filter_map(|s| {
                let w = whs.get(&s.warehouse_id)?;
                let safety = s.safety.unwrap_or(w.default_safety);
                Some((s.on_hand - s.reserved - safety).max(0))
            })
            .sum())
    }

    /// Record a push (or a skip) of `available` for a row read at `version`:
    /// the row is clean unless it changed meanwhile, when it stays dirty with
    /// a new debounce window starting now.
    pub async fn finish_stock_row(
        &self,
        channel_id: &str,
        sku: &str,
        version: i64,
        available: Option<i64>,
        outcome: &str,
        error: Option<&str>,
    ) -> Result<(), DbErr> {
        let now = now_ms();
        let pushed = outcome == OUTCOME_UPDATED;
        let mut q = row::Entity::update_many()
            .col_expr(row::Column::LastOutcome, Expr::value(outcome))
            .col_expr(
                row::Column::LastError,
                Expr::value(error.map(str::to_string)),
            )
            .col_expr(row::Column::ClaimedUntilMs, Expr::value(0i64))
            .filter(row::Column::ChannelId.eq(channel_id))
            .filter(row::Column::Sku.eq(sku));
        if outcome != OUTCOME_FAILED {
            q = q.col_expr(row::Column::LastPushedAvailable, Expr::value(available));
        }
        if pushed {
            q = q
                .col_expr(row::Column::LastPushedAtMs, Expr::value(now))
                .col_expr(
                    row::Column::Pushes,
                    sea_orm::sea_query::ExprTrait::add(Expr::col(row::Column::Pushes), 1i64),
                );
        }
        let tx = self.begin_write().await?;
        q.exec(&tx).await?;
        let cleared = row::Entity::update_many()
            .col_expr(row::Column::DirtySinceMs, Expr::value(Option::<i64>::None))
            .filter(row::Column::ChannelId.eq(channel_id))
            .filter(row::Column::Sku.eq(sku))
            .filter(row::Column::Version.eq(version))
            .exec(&tx)
            .await?;
        if cleared.rows_affected == 0 {
            row::Entity::update_many()
                .col_expr(row::Column::DirtySinceMs, Expr::value(now))
                .filter(row::Column::ChannelId.eq(channel_id))
                .filter(row::Column::Sku.eq(sku))
                .exec(&tx)
                .await?;
        }
        tx.commit().await
    }

    /// Keep a channel's claimed rows claimed until `until_ms` (a retry's
    /// backoff: no new run takes them before).
    pub async fn hold_stock_channel(&self, channel_id: &str, until_ms: i64) -> Result<(), DbErr> {
        row::Entity::update_many()
            .col_expr(row::Column::ClaimedUntilMs, Expr::value(until_ms))
            .filter(row::Column::ChannelId.eq(channel_id))
            .filter(row::Column::ClaimedUntilMs.gt(now_ms()))
            .exec(self.db())
            .await
            .map(|_| ())
    }

    /// Let another run take a channel's rows (after a failed run).
    pub async fn release_stock_channel(&self, channel_id: &str) -> Result<(), DbErr> {
        row::Entity::update_many()
            .col_expr(row::Column::ClaimedUntilMs, Expr::value(0i64))
            .filter(row::Column::ChannelId.eq(channel_id))
            .exec(self.db())
            .await
            .map(|_| ())
    }

    /// The stock sync rows of a channel (every sku it was ever told about).
    pub async fn stock_sync_rows(&self, channel_id: &str) -> Result<Vec<StockSyncView>, DbErr> {
        Ok(row::Entity::find()
            .filter(row::Column::ChannelId.eq(channel_id))
            .order_by_asc(row::Column::Sku)
            .all(self.db())
            .await?
            .into_iter()
            .map(|r| StockSyncView {
                channel_id: r.channel_id,
                sku: r.sku,
                dirty: r.dirty_since_ms.is_some(),
                last_pushed_available: r.last_pushed_available,
                pushes: r.pushes,
                last_outcome: r.last_outcome,
                last_error: r.last_error,
            })
            .collect())
    }

    /// Turn low-stock alerts not notified yet into one `stock.low` delivery
    /// per subscriber of the alert's seller that wants it, in the outbound
    /// webhook outbox (delivered, signed and retried like order events). A
    /// delivery's `order_event_id` is the alert id negated (order event ids
    /// are positive), so `(subscriber, event)` stays unique and the
    /// `webhook-id` is `msg_-<alert id>_<subscriber>`. Returns the deliveries made.
    pub async fn notify_stock_alerts(
        &self,
        subs: &[WebhookSubscriberSettings],
    ) -> Result<usize, DbErr> {
        use super::outbound::outbound_delivery as delivery;
        let notified: BTreeSet<i64> = stock_alert_notice::Entity::find()
            .select_only()
            .column(stock_alert_notice::Column::AlertId)
            .order_by_desc(stock_alert_notice::Column::AlertId)
            .limit(1000)
            .into_tuple::<i64>()
            .all(self.db())
            .await?
            .into_iter()
            .collect();
        let floor = notified.iter().next().copied().unwrap_or(0);
        let alerts: Vec<stock_alert::Model> = stock_alert::Entity::find()
            .filter(stock_alert::Column::Id.gte(floor))
            .order_by_asc(stock_alert::Column::Id)
            .limit(1200)
            .all(self.db())
            .await?
            .into_iter()
            .filter(|a| !notified.contains(&a.id))
            .take(100)
            .collect();
        if alerts.is_empty() {
            return Ok(0);
        }
        let tx = self.begin_write().await?;
        let mut made = 0;
        let at = super::now();
        for a in &alerts {
            let inserted = stock_alert_notice::Entity::insert(stock_alert_notice::ActiveModel {
                alert_id: Set(a.id),
                notified_at_ms: Set(now_ms()),
            })
            .on_conflict_do_nothing_on([stock_alert_notice::Column::AlertId])
            .exec_without_returning(&tx)
            .await?;
            if !matches!(inserted, sea_orm::TryInsertResult::Inserted(n) if n > 0) {
                continue; // another process notified it
            }
            let body = serde_json::json!({
                "type": STOCK_LOW_EVENT,
                "timestamp": a.raised_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                "data": {
                    "alert_id": a.id,
                    "warehouse_id": a.warehouse_id,
                    "sku": a.sku,
                    "available": a.available,
                    "threshold": a.threshold,
                    "raised_at": a.raised_at,
                },
            })
            .to_string();
            for s in subs
                .iter()
                .filter(|s| s.seller == a.seller_id && s.wants(STOCK_LOW_EVENT))
            {
                let r = delivery::Entity::insert(delivery::ActiveModel {
                    subscriber_id: Set(s.id.clone()),
                    seller_id: Set(a.seller_id.clone()),
                    order_event_id: Set(-a.id),
                    order_id: Set(0),
                    event_type: Set(STOCK_LOW_EVENT.into()),
                    body: Set(body.clone()),
                    status: Set(super::DELIVERY_PENDING.into()),
                    attempts: Set(0),
                    next_attempt_at: Set(None),
                    last_status_code: Set(None),
                    last_error: Set(None),
                    created_at: Set(at),
                    delivered_at: Set(None),
                    ..Default::default()
                })
                .on_conflict_do_nothing_on([
                    delivery::Column::SubscriberId,
                    delivery::Column::OrderEventId,
                ])
                .exec_without_returning(&tx)
                .await?;
                if matches!(r, sea_orm::TryInsertResult::Inserted(n) if n > 0) {
                    made += 1;
                }
            }
        }
        tx.commit().await?;
        Ok(made)
    }
}

impl Store {
    /// Like [`Store::low_stock`], but with available = on hand − reserved −
    /// safety stock (what can really be sold; what the channels are told):
    /// every (warehouse, sku) at or below `threshold`, lowest first.
    pub async fn low_stock_after_safety(
        &self,
        seller: Option<&str>,
        threshold: i64,
    ) -> Result<Vec<super::StockLevel>, DbErr> {
        let warehouses = self.stock_warehouses(seller).await?;
        if warehouses.is_empty() {
            return Ok(Vec::new());
        }
        let by_id: BTreeMap<&str, &warehouse::Model> =
            warehouses.iter().map(|w| (w.id.as_str(), w)).collect();
        let rows = stock::Entity::find()
            .filter(stock::Column::WarehouseId.is_in(by_id.keys().map(|k| k.to_string())))
            .all(self.db())
            .await?;
        let mut out: Vec<super::StockLevel> = rows
            .into_iter()
            .filter_map(|s| {
                let w = by_id.get(s.warehouse_id.as_str())?;
                let available = s.on_hand - s.reserved - s.safety.unwrap_or(w.default_safety);
                (available <= threshold).then(|| super::StockLevel {
                    warehouse_name: w.name.clone(),
                    seller_id: w.seller_id.clone(),
                    available,
                    warehouse_id: s.warehouse_id,
                    sku: s.sku,
                    on_hand: s.on_hand,
                    reserved: s.reserved,
                })
            })
            .collect();
        out.sort_by(|a, b| {
            (a.available, &a.warehouse_id, &a.sku).cmp(&(b.available, &b.warehouse_id, &b.sku))
        });
        Ok(out)
    }
}
