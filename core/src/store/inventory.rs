//! Inventory by API and CSV: stock levels (set, list), stock counts (audits
//! that record the difference they found) and low-stock alerts (one open per
//! warehouse and sku, cleared when stock recovers, raised again on the next
//! crossing). Also the scheduler's release of stock held by a cancelled
//! order's shipment that never got a label.

use super::entities::{order, shipment, stock, warehouse};
use super::{now, Store, SHIPMENT_CREATED};
use crate::config::InventorySettings;
use crate::OrderStatus;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect, QueryTrait, SqlErr,
};
use serde::Serialize;
use std::collections::BTreeMap;

pub mod stock_count {
    use sea_orm::entity::prelude::*;

    /// One sku of a stock count (audit).
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "stock_counts")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub warehouse_id: String,
        pub sku: String,
        /// On hand before the count.
        pub expected: i64,
        pub counted: i64,
        /// `counted - expected`.
        pub difference: i64,
        pub counted_by: String,
        pub at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod stock_alert {
    use sea_orm::entity::prelude::*;

    /// A low-stock alert: open while `cleared_at` is NULL.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "stock_alerts")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub seller_id: String,
        pub warehouse_id: String,
        pub sku: String,
        /// Available stock when it was raised.
        pub available: i64,
        pub threshold: i64,
        pub raised_at: DateTimeUtc,
        pub cleared_at: Option<DateTimeUtc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// One (warehouse, sku) with what is left to sell.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StockRow {
    pub warehouse_id: String,
    pub seller_id: String,
    pub sku: String,
    pub on_hand: i64,
    pub reserved: i64,
    /// Units routing never reserves (the sku's own, else the warehouse's default).
    pub safety: i64,
    /// `on_hand - reserved - safety`.
    pub available: i64,
    /// The low-stock threshold that applies (`inventory.thresholds` or the global one).
    pub threshold: i64,
    /// `available <= threshold`.
    pub low: bool,
    /// Where the sku lives in the warehouse (`A-10`), if recorded.
    pub bin: Option<String>,
}

/// A filter of [`Store::stock_rows`].
#[derive(Debug, Clone, Default)]
pub struct StockFilter {
    pub seller: Option<String>,
    pub warehouse: Option<String>,
    pub sku: Option<String>,
    /// Only rows at or below their threshold.
    pub low: bool,
}

/// A quantity on hand to set (from the API, a CSV row or a count).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StockLine {
    pub warehouse_id: String,
    pub sku: String,
    pub on_hand: i64,
}

/// A stock count recorded, per sku.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StockCountView {
    pub id: i64,
    pub warehouse_id: String,
    pub sku: String,
    pub expected: i64,
    pub counted: i64,
    pub difference: i64,
    pub counted_by: String,
    pub at: chrono::DateTime<chrono::Utc>,
}

impl From<stock_count::Model> for StockCountView {
    fn from(m: stock_count::Model) -> Self {
        StockCountView {
            id: m.id,
            warehouse_id: m.warehouse_id,
            sku: m.sku,
            expected: m.expected,
            counted: m.counted,
            difference: m.difference,
            counted_by: m.counted_by,
            at: m.at,
        }
    }
}

/// A low-stock alert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StockAlertView {
    pub id: i64,
    pub seller_id: String,
    pub warehouse_id: String,
    pub sku: String,
    pub available: i64,
    pub threshold: i64,
    pub raised_at: chrono::DateTime<chrono::Utc>,
    pub cleared_at: Option<chrono::DateTime<chrono::Utc>>,
    pub open: bool,
}

impl From<stock_alert::Model> for StockAlertView {
    fn from(m: stock_alert::Model) -> Self {
        StockAlertView {
            open: m.cleared_at.is_none(),
            id: m.id,
            seller_id: m.seller_id,
            warehouse_id: m.warehouse_id,
            sku: m.sku,
            available: m.available,
            threshold: m.threshold,
            raised_at: m.raised_at,
            cleared_at: m.cleared_at,
        }
    }
}

/// What an alert evaluation did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AlertChanges {
    pub raised: usize,
    pub cleared: usize,
}

impl Store {
    /// The seller owning a warehouse (`None`: no such warehouse).
    pub async fn warehouse_seller(&self, warehouse_id: &str) -> Result<Option<String>, DbErr> {
        Ok(warehouse::Entity::find_by_id(warehouse_id.to_string())
            .one(self.db())
            .await?
            .map(|w| w.seller_id))
    }

    /// Stock levels, by warehouse then sku.
    pub async fn stock_rows(
        &self,
        filter: &StockFilter,
        settings: &InventorySettings,
    ) -> Result<Vec<StockRow>, DbErr> {
        let mut wq = warehouse::Entity::find().order_by_asc(warehouse::Column::Id);
        if let Some(s) = &filter.seller {
            wq = wq.filter(warehouse::Column::SellerId.eq(s.as_str()));
        }
        if let Some(w) = &filter.warehouse {
            wq = wq.filter(warehouse::Column::Id.eq(w.as_str()));
        }
        let warehouses: BTreeMap<String, warehouse::Model> = wq
            .all(self.db())
            .await?
            .into_iter()
            .map(|w| (w.id.clone(), w))
            .collect();
        if warehouses.is_empty() {
            return Ok(Vec::new());
        }
        let mut q = stock::Entity::find()
            .filter(stock::Column::WarehouseId.is_in(warehouses.keys().cloned()))
            .order_by_asc(stock::Column::WarehouseId)
            .order_by_asc(stock::Column::Sku);
        if let Some(sku) = &filter.sku {
            q = q.filter(stock::Column::Sku.eq(sku.as_str()));
        }
        let rows = q.all(self.db()).await?;
        let ids: Vec<String> = warehouses.keys().cloned().collect();
        let bins = self.bins_of(&ids).await?;
        Ok(rows
            .into_iter()
            .filter_map(|s| {
                let w = warehouses.get(&s.warehouse_id)?;
                let mut row = to_row(s, w, settings);
                row.bin = bins
                    .get(&(row.warehouse_id.clone(), row.sku.clone()))
                    .cloned();
                (!filter.low || row.low).then_some(row)
            })
            .collect())
    }

    /// Set quantities on hand (reservations are kept), all or nothing; with
    /// `counted_by`, as a stock count: each line's difference from what was
    /// on hand is recorded. The caller checks that the warehouses exist and
    /// may be written. Low-stock alerts are evaluated afterwards.
    pub async fn apply_stock_lines(
        &self,
        lines: &[StockLine],
        counted_by: Option<&str>,
        settings: &InventorySettings,
    ) -> Result<Vec<StockCountView>, DbErr> {
        let tx = self.begin_write().await?;
        let at = now();
        let mut counts = Vec::new();
        for l in lines {
            let expected = stock::Entity::find_by_id((l.warehouse_id.clone(), l.sku.clone()))
                .one(&tx)
                .await?
                .map(|s| s.on_hand)
                .unwrap_or(0);
            stock::Entity::insert(stock::ActiveModel {
                warehouse_id: Set(l.warehouse_id.clone()),
                sku: Set(l.sku.clone()),
                on_hand: Set(l.on_hand),
                reserved: Set(0),
                safety: NotSet,
            })
            .on_conflict(
                OnConflict::columns([stock::Column::WarehouseId, stock::Column::Sku])
                    .update_column(stock::Column::OnHand)
                    .to_owned(),
            )
            .exec_without_returning(&tx)
            .await?;
            if let Some(by) = counted_by {
                let m = stock_count::Entity::insert(stock_count::ActiveModel {
                    id: NotSet,
                    warehouse_id: Set(l.warehouse_id.clone()),
                    sku: Set(l.sku.clone()),
                    expected: Set(expected),
                    counted: Set(l.on_hand),
                    difference: Set(l.on_hand - expected),
                    counted_by: Set(by.to_string()),
                    at: Set(at),
                })
                .exec_with_returning(&tx)
                .await?;
                counts.push(StockCountView::from(m));
            }
        }
        tx.commit().await?;
        let mut by_warehouse: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for l in lines {
            by_warehouse
                .entry(l.warehouse_id.as_str())
                .or_default()
                .push(l.sku.clone());
        }
        for (w, skus) in by_warehouse {
            self.evaluate_stock_alerts(settings, w, Some(&skus)).await?;
        }
        Ok(counts)
    }

    /// Recorded stock counts, newest first, optionally one warehouse's
    /// and/or one seller's.
    pub async fn stock_counts(
        &self,
        seller: Option<&str>,
        warehouse_id: Option<&str>,
        limit: u64,
    ) -> Result<Vec<StockCountView>, DbErr> {
        let mut q = stock_count::Entity::find()
            .order_by_desc(stock_count::Column::Id)
            .limit(limit);
        if let Some(w) = warehouse_id {
            q = q.filter(stock_count::Column::WarehouseId.eq(w));
        }
        if let Some(s) = seller {
            let mine = warehouse::Entity::find()
                .select_only()
                .column(warehouse::Column::Id)
                .filter(warehouse::Column::SellerId.eq(s))
                .into_query();
            q = q.filter(stock_count::Column::WarehouseId.in_subquery(mine));
        }
        Ok(q.all(self.db())
            .await?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// Low-stock alerts, newest first; `open`: only those not cleared.
    pub async fn stock_alerts(
        &self,
        seller: Option<&str>,
        warehouse_id: Option<&str>,
        open: Option<bool>,
        limit: u64,
    ) -> Result<Vec<StockAlertView>, DbErr> {
        let mut q = stock_alert::Entity::find()
            .order_by_desc(stock_alert::Column::Id)
            .limit(limit);
        if let Some(s) = seller {
            q = q.filter(stock_alert::Column::SellerId.eq(s));
        }
        if let Some(w) = warehouse_id {
            q = q.filter(stock_alert::Column::WarehouseId.eq(w));
        }
        match open {
            Some(true) => q = q.filter(stock_alert::Column::ClearedAt.is_null()),
            Some(false) => q = q.filter(stock_alert::Column::ClearedAt.is_not_null()),
            None => {}
        }
        Ok(q.all(self.db())
            .await?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// Raise an alert for each (warehouse, sku) at or below its threshold
    /// that has none open; clear the open one of each above it. `skus`:
    /// only these (`None`: every sku of the warehouse).
    pub async fn evaluate_stock_alerts(
        &self,
        settings: &InventorySettings,
        warehouse_id: &str,
        skus: Option<&[String]>,
    ) -> Result<AlertChanges, DbErr> {
        let Some(w) = warehouse::Entity::find_by_id(warehouse_id.to_string())
            .one(self.db())
            .await?
        else {
            return Ok(AlertChanges::default());
        };
        let mut q = stock::Entity::find().filter(stock::Column::WarehouseId.eq(warehouse_id));
        let mut aq = stock_alert::Entity::find()
            .filter(stock_alert::Column::WarehouseId.eq(warehouse_id))
            .filter(stock_alert::Column::ClearedAt.is_null());
        if let Some(skus) = skus {
            q = q.filter(stock::Column::Sku.is_in(skus.iter().cloned()));
            aq = aq.filter(stock_alert::Column::Sku.is_in(skus.iter().cloned()));
        }
        let rows: Vec<StockRow> = q
            .all(self.db())
            .await?
            .into_iter()
            .map(|s| to_row(s, &w, settings))
            .collect();
        let open: BTreeMap<String, i64> = aq
            .all(self.db())
            .await?
            .into_iter()
            .map(|a| (a.sku, a.id))
            .collect();
        self.apply_alerts(&rows, &open).await
    }

    /// The scheduler's sweep: [`Store::evaluate_stock_alerts`] over every
    /// warehouse's stock, so a reservation made by routing raises its alert
    /// within a tick.
    pub async fn sweep_stock_alerts(
        &self,
        settings: &InventorySettings,
    ) -> Result<AlertChanges, DbErr> {
        let warehouses: BTreeMap<String, warehouse::Model> = warehouse::Entity::find()
            .all(self.db())
            .await?
            .into_iter()
            .map(|w| (w.id.clone(), w))
            .collect();
        let rows: Vec<StockRow> = stock::Entity::find()
            .all(self.db())
            .await?
            .into_iter()
            .filter_map(|s| {
                let w = warehouses.get(&s.warehouse_id)?;
                Some(to_row(s, w, settings))
            })
            .collect();
        let open: BTreeMap<(String, String), i64> = stock_alert::Entity::find()
            .filter(stock_alert::Column::ClearedAt.is_null())
            .all(self.db())
            .await?
            .into_iter()
            .map(|a| ((a.warehouse_id, a.sku), a.id))
            .collect();
        let mut total = AlertChanges::default();
        let mut by_warehouse: BTreeMap<&str, Vec<StockRow>> = BTreeMap::new();
        for r in &rows {
            by_warehouse
                .entry(r.warehouse_id.as_str())
                .or_default()
                .push(r.clone());
        }
        for (w, rows) in by_warehouse {
            let open: BTreeMap<String, i64> = open
                .iter()
                .filter(|((ow, _), _)| ow == w)
                .map(|((_, sku), id)| (sku.clone(), *id))
                .collect();
            let c = self.apply_alerts(&rows, &open).await?;
            total.raised += c.raised;
            total.cleared += c.cleared;
        }
        Ok(total)
    }

    async fn apply_alerts(
        &self,
        rows: &[StockRow],
        open: &BTreeMap<String, i64>,
    ) -> Result<AlertChanges, DbErr> {
        let mut changes = AlertChanges::default();
        for r in rows {
            match (r.low, open.get(&r.sku)) {
                (true, None) => {
                    let res = stock_alert::Entity::insert(stock_alert::ActiveModel {
                        id: NotSet,
                        seller_id: Set(r.seller_id.clone()),
                        warehouse_id: Set(r.warehouse_id.clone()),
                        sku: Set(r.sku.clone()),
                        available: Set(r.available),
                        threshold: Set(r.threshold),
                        raised_at: Set(now()),
                        cleared_at: Set(None),
                    })
                    .exec_without_returning(self.db())
                    .await;
                    match res {
                        Ok(_) => {
                            changes.raised += 1;
                            tracing::warn!(
                                warehouse = %r.warehouse_id,
                                sku = %r.sku,
                                available = r.available,
                                threshold = r.threshold,
                                "low stock: alert raised"
                            );
                        }
                        // Another evaluation raised it first (one open per
                        // warehouse and sku: a unique index).
                        Err(e)
                            if matches!(
                                e.sql_err(),
                                Some(SqlErr::UniqueConstraintViolation(_))
                            ) => {}
                        Err(e) => return Err(e),
                    }
                }
                (false, Some(&id)) => {
                    let res = stock_alert::Entity::update_many()
                        .col_expr(stock_alert::Column::ClearedAt, Expr::value(Some(now())))
                        .filter(stock_alert::Column::Id.eq(id))
                        .filter(stock_alert::Column::ClearedAt.is_null())
                        .exec(self.db())
                        .await?;
                    if res.rows_affected == 1 {
                        changes.cleared += 1;
                        tracing::info!(
                            warehouse = %r.warehouse_id,
                            sku = %r.sku,
                            available = r.available,
                            threshold = r.threshold,
                            "stock recovered: alert cleared"
                        );
                    }
                }
                _ => {}
            }
        }
        Ok(changes)
    }

    /// Shipments of cancelled orders still `created` (no label asked for:
    /// with `shipping.auto_buy_labels = false` no BuyLabel runs for them)
    /// are cancelled and their reservations released, like BuyLabel does.
    /// Guarded per shipment, so running it twice releases nothing twice.
    /// Returns the shipments cancelled.
    pub async fn cancel_unbought_shipments_of_cancelled_orders(
        &self,
        limit: u64,
    ) -> Result<Vec<i64>, DbErr> {
        let cancelled = order::Entity::find()
            .select_only()
            .column(order::Column::Id)
            .filter(order::Column::Status.eq(OrderStatus::Cancelled.as_str()))
            .into_query();
        let ids: Vec<i64> = shipment::Entity::find()
            .filter(shipment::Column::Status.eq(SHIPMENT_CREATED))
            .filter(shipment::Column::OrderId.in_subquery(cancelled))
            .order_by_asc(shipment::Column::Id)
            .limit(limit)
            .all(self.db())
            .await?
            .into_iter()
            .map(|s| s.id)
            .collect();
        let mut done = Vec::new();
        for id in ids {
            if self.cancel_unbought_shipment(id).await? {
                tracing::info!(
                    shipment_id = id,
                    "order cancelled before its label; shipment cancelled, stock released"
                );
                done.push(id);
            }
        }
        Ok(done)
    }
}

impl Store {
    /// The warehouses these shipments ship from.
    pub async fn shipments_warehouses(
        &self,
        ids: &[i64],
    ) -> Result<std::collections::BTreeSet<String>, DbErr> {
        Ok(shipment::Entity::find()
            .filter(shipment::Column::Id.is_in(ids.iter().copied()))
            .all(self.db())
            .await?
            .into_iter()
            .map(|s| s.warehouse_id)
            .collect())
    }
}

fn to_row(s: stock::Model, w: &warehouse::Model, settings: &InventorySettings) -> StockRow {
    let safety = s.safety.unwrap_or(w.default_safety);
    let available = s.on_hand - s.reserved - safety;
    let threshold = settings.threshold_for(&s.sku);
    StockRow {
        seller_id: w.seller_id.clone(),
        available,
        threshold,
        low: available <= threshold,
        warehouse_id: s.warehouse_id,
        sku: s.sku,
        on_hand: s.on_hand,
        reserved: s.reserved,
        safety,
        bin: None,
    }
}
