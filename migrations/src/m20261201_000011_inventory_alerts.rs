//! Stock counts (audits: what was expected, what was counted, the
//! difference) and low-stock alerts (at most one open per warehouse and sku:
//! a partial unique index).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum StockCounts {
    Table,
    Id,
    WarehouseId,
    Sku,
    Expected,
    Counted,
    Difference,
    CountedBy,
    At,
}

#[derive(DeriveIden)]
enum StockAlerts {
    Table,
    Id,
    SellerId,
    WarehouseId,
    Sku,
    Available,
    Threshold,
    RaisedAt,
    ClearedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(StockCounts::Table)
                .if_not_exists()
                .col(big_pk_auto(StockCounts::Id))
                .col(string(StockCounts::WarehouseId))
                .col(string(StockCounts::Sku))
                .col(big_integer(StockCounts::Expected))
                .col(big_integer(StockCounts::Counted))
                .col(big_integer(StockCounts::Difference))
                .col(string(StockCounts::CountedBy))
                .col(timestamp_with_time_zone(StockCounts::At))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .if_not_exists()
                .name("idx_stock_counts_warehouse")
                .table(StockCounts::Table)
                .col(StockCounts::WarehouseId)
                .col(StockCounts::Id)
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(StockAlerts::Table)
                .if_not_exists()
                .col(big_pk_auto(StockAlerts::Id))
                .col(string(StockAlerts::SellerId))
                .col(string(StockAlerts::WarehouseId))
                .col(string(StockAlerts::Sku))
                .col(big_integer(StockAlerts::Available))
                .col(big_integer(StockAlerts::Threshold))
                .col(timestamp_with_time_zone(StockAlerts::RaisedAt))
                .col(timestamp_with_time_zone_null(StockAlerts::ClearedAt))
                .to_owned(),
        )
        .await?;
        // One open alert per (warehouse, sku), whatever races.
        m.get_connection()
            .execute_unprepared(
                "CREATE UNIQUE INDEX IF NOT EXISTS idx_stock_alerts_open \
                 ON stock_alerts (warehouse_id, sku) WHERE cleared_at IS NULL",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(
            Table::drop()
                .table(StockAlerts::Table)
                .if_exists()
                .to_owned(),
        )
        .await?;
        m.drop_table(
            Table::drop()
                .table(StockCounts::Table)
                .if_exists()
                .to_owned(),
        )
        .await?;
        Ok(())
    }
}
