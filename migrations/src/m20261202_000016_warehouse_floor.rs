//! Warehouse floor documents: the bin location of each (warehouse, sku), in
//! a table of its own so stock writes (routing's reservations, counts) never
//! touch it. The label format per warehouse is configuration
//! (`[[warehouses]] label_format`); the format each label was bought in is
//! already stored on its shipment (`shipments.label_format`).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum StockBins {
    Table,
    WarehouseId,
    Sku,
    Bin,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(StockBins::Table)
                .if_not_exists()
                .col(string(StockBins::WarehouseId))
                .col(string(StockBins::Sku))
                .col(string(StockBins::Bin))
                .col(timestamp_with_time_zone(StockBins::UpdatedAt))
                .primary_key(
                    Index::create()
                        .col(StockBins::WarehouseId)
                        .col(StockBins::Sku),
                )
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(StockBins::Table).if_exists().to_owned())
            .await
    }
}
