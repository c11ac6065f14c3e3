//! RouteOrder's store side: pick the highest-priority warehouse that has every
//! line in stock, reserve that stock and create the shipment, in one
//! transaction (invariant 3: concurrent routing never reserves more than on
//! hand).
//!
//! Why it holds: the order is first claimed with a guarded
//! `awaiting → processing` update, so one router per order; each line is then
//! reserved with `UPDATE stock SET reserved = reserved + q WHERE … AND
//! on_hand - reserved >= q`, which the database re-checks under the row lock.
//! A warehouse's reservations happen inside a savepoint that is rolled back if
//! any line is short, so a half-reserved warehouse leaves nothing behind.

use super::entities::{order_line, reservation, shipment, stock, warehouse};
use super::{events, now, Store};
use crate::OrderStatus;
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, TransactionTrait,
};
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteOutcome {
    Routed {
        shipment_id: i64,
        warehouse_id: String,
    },
    /// The order was not awaiting routing (already routed, cancelled, ...).
    NotAwaiting,
    /// No warehouse can fill every line: the order is now `exception`.
    NoStock,
    /// The seller has no warehouse configured: the order stays awaiting.
    NoWarehouses,
}

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
        use sea_orm::{Condition, QuerySelect};
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

    /// Route one order. Safe to run twice or concurrently for the same order.
    pub async fn route_order(&self, order_id: i64) -> Result<RouteOutcome, DbErr> {
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
        let seller: Option<String> = super::entities::order::Entity::find_by_id(order_id)
            .one(&tx)
            .await?
            .map(|o| o.seller_id);
        let Some(seller) = seller else {
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
                Some(sku) if !sku.is_empty() => {
                    *wanted.entry(sku).or_default() += l.quantity as i64
                }
                _ => unroutable = true,
            }
        }
        let warehouses = warehouse::Entity::find()
            .filter(warehouse::Column::SellerId.eq(seller.as_str()))
            .order_by_desc(warehouse::Column::Priority)
            .order_by_asc(warehouse::Column::Id)
            .all(&tx)
            .await?;
        if warehouses.is_empty() {
            tx.rollback().await?;
            return Ok(RouteOutcome::NoWarehouses);
        }
        if !unroutable && !wanted.is_empty() {
            for w in warehouses {
                let sp = tx.begin().await?;
                let mut all = true;
                for (sku, q) in &wanted {
                    let res = stock::Entity::update_many()
                        .col_expr(
                            stock::Column::Reserved,
                            Expr::col(stock::Column::Reserved).add(*q),
                        )
                        .filter(stock::Column::WarehouseId.eq(w.id.as_str()))
                        .filter(stock::Column::Sku.eq(sku.as_str()))
                        .filter(
                            Expr::col(stock::Column::OnHand)
                                .sub(Expr::col(stock::Column::Reserved))
                                .gte(*q),
                        )
                        .exec(&sp)
                        .await?;
                    if res.rows_affected != 1 {
                        all = false;
                        break;
                    }
                }
                if !all {
                    sp.rollback().await?;
                    continue;
                }
                let ship = shipment::Entity::insert(shipment::ActiveModel {
                    order_id: Set(order_id),
                    warehouse_id: Set(w.id.clone()),
                    status: Set("created".into()),
                    created_at: Set(now()),
                    ..Default::default()
                })
                .exec(&sp)
                .await?;
                let rows = wanted.iter().map(|(sku, q)| reservation::ActiveModel {
                    order_id: Set(order_id),
                    shipment_id: Set(ship.last_insert_id),
                    warehouse_id: Set(w.id.clone()),
                    sku: Set(sku.clone()),
                    quantity: Set(*q),
                    created_at: Set(now()),
                    ..Default::default()
                });
                reservation::Entity::insert_many(rows).exec(&sp).await?;
                events::record(
                    &sp,
                    order_id,
                    events::EVENT_ROUTED,
                    events::ACTOR_SYSTEM,
                    serde_json::json!({
                        "warehouse_id": w.id,
                        "shipment_id": ship.last_insert_id,
                    }),
                )
                .await?;
                sp.commit().await?;
                tx.commit().await?;
                return Ok(RouteOutcome::Routed {
                    shipment_id: ship.last_insert_id,
                    warehouse_id: w.id,
                });
            }
        }
        Store::transition_order(
            &tx,
            order_id,
            OrderStatus::Processing,
            OrderStatus::Exception,
            Some(NO_STOCK),
        )
        .await?;
        tx.commit().await?;
        Ok(RouteOutcome::NoStock)
    }
}
