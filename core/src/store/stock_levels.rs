//! Stock levels for people: which skus are running low in which warehouse
//! (the dashboard's low-stock alerts), optionally one seller's only.

use super::entities::{stock, warehouse};
use super::Store;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, DbErr, EntityTrait, QueryFilter, QueryOrder};
use serde::Serialize;

/// One sku in one warehouse with what is left to sell.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StockLevel {
    pub warehouse_id: String,
    pub warehouse_name: String,
    pub seller_id: String,
    pub sku: String,
    pub on_hand: i64,
    pub reserved: i64,
    /// `on_hand - reserved`.
    pub available: i64,
}

impl Store {
    /// Every (warehouse, sku) whose available stock (on hand − reserved) is
    /// at or below `threshold`, lowest first; given a seller, only that
    /// seller's warehouses.
    pub async fn low_stock(
        &self,
        seller: Option<&str>,
        threshold: i64,
    ) -> Result<Vec<StockLevel>, DbErr> {
        let warehouses = self.stock_warehouses(seller).await?;
        if warehouses.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<String> = warehouses.iter().map(|w| w.id.clone()).collect();
        let rows = stock::Entity::find()
            .filter(stock::Column::WarehouseId.is_in(ids))
            .filter(
                Expr::col(stock::Column::OnHand)
                    .sub(Expr::col(stock::Column::Reserved))
                    .lte(threshold),
            )
            .order_by_asc(Expr::col(stock::Column::OnHand).sub(Expr::col(stock::Column::Reserved)))
            .order_by_asc(stock::Column::WarehouseId)
            .order_by_asc(stock::Column::Sku)
            .all(self.db())
            .await?;
        Ok(rows
            .into_iter()
            .filter_map(|s| {
                let w = warehouses.iter().find(|w| w.id == s.warehouse_id)?;
                Some(StockLevel {
                    warehouse_name: w.name.clone(),
                    seller_id: w.seller_id.clone(),
                    available: s.on_hand - s.reserved,
                    warehouse_id: s.warehouse_id,
                    sku: s.sku,
                    on_hand: s.on_hand,
                    reserved: s.reserved,
                })
            })
            .collect())
    }

    /// The warehouses (by id), optionally one seller's.
    pub async fn stock_warehouses(
        &self,
        seller: Option<&str>,
    ) -> Result<Vec<warehouse::Model>, DbErr> {
        let mut q = warehouse::Entity::find().order_by_asc(warehouse::Column::Id);
        if let Some(s) = seller {
            q = q.filter(warehouse::Column::SellerId.eq(s));
        }
        q.all(self.db()).await
    }
}
