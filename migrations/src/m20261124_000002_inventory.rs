//! Warehouses, stock per (warehouse, sku), reservations and shipments.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Warehouses {
    Table,
    Id,
    SellerId,
    Name,
    Priority,
    Country,
    Carriers,
}

#[derive(DeriveIden)]
enum Stock {
    Table,
    WarehouseId,
    Sku,
    OnHand,
    Reserved,
}

#[derive(DeriveIden)]
enum Reservations {
    Table,
    Id,
    OrderId,
    ShipmentId,
    WarehouseId,
    Sku,
    Quantity,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Shipments {
    Table,
    Id,
    OrderId,
    WarehouseId,
    Status,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Warehouses::Table)
                .if_not_exists()
                .col(string(Warehouses::Id).primary_key())
                .col(string(Warehouses::SellerId))
                .col(string(Warehouses::Name))
                .col(integer(Warehouses::Priority))
                .col(string_null(Warehouses::Country))
                .col(text(Warehouses::Carriers))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Stock::Table)
                .if_not_exists()
                .col(string(Stock::WarehouseId))
                .col(string(Stock::Sku))
                .col(big_integer(Stock::OnHand))
                .col(big_integer(Stock::Reserved).default(0))
                .primary_key(Index::create().col(Stock::WarehouseId).col(Stock::Sku))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Shipments::Table)
                .if_not_exists()
                .col(big_pk_auto(Shipments::Id))
                .col(big_integer(Shipments::OrderId))
                .col(string(Shipments::WarehouseId))
                .col(string(Shipments::Status))
                .col(timestamp_with_time_zone(Shipments::CreatedAt))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_shipments_order_warehouse")
                .table(Shipments::Table)
                .col(Shipments::OrderId)
                .col(Shipments::WarehouseId)
                .unique()
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Reservations::Table)
                .if_not_exists()
                .col(big_pk_auto(Reservations::Id))
                .col(big_integer(Reservations::OrderId))
                .col(big_integer(Reservations::ShipmentId))
                .col(string(Reservations::WarehouseId))
                .col(string(Reservations::Sku))
                .col(big_integer(Reservations::Quantity))
                .col(timestamp_with_time_zone(Reservations::CreatedAt))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_reservations_order")
                .table(Reservations::Table)
                .col(Reservations::OrderId)
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in [
            Reservations::Table.into_iden(),
            Shipments::Table.into_iden(),
            Stock::Table.into_iden(),
            Warehouses::Table.into_iden(),
        ] {
            m.drop_table(Table::drop().table(t).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
