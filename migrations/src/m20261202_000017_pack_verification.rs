//! Scan-to-verify packing: barcodes per sku (unique per seller), one pack
//! session per shipment (expected lines, scanned counts, mismatches, the
//! override, the measured weight) and every scan of it.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum SkuBarcodes {
    Table,
    Id,
    SellerId,
    Sku,
    Barcode,
    /// `channel`, `config`, `csv` or `api`.
    Source,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum PackSessions {
    Table,
    Id,
    ShipmentId,
    OrderId,
    SellerId,
    WarehouseId,
    ChannelId,
    /// The order's `placed_at`, so the KPIs select sessions as they select orders.
    PlacedAt,
    /// `open`, `verified`, `blocked` or `overridden`.
    Status,
    /// JSON list of the expected lines (sku, title, quantity, barcodes).
    Expected,
    /// JSON map sku → units scanned.
    Scanned,
    WrongItems,
    OverScans,
    UnknownScans,
    MissingUnits,
    /// How many times Finish was pressed.
    Finishes,
    OverrideReason,
    OverrideAuthor,
    ComputedGrams,
    MeasuredGrams,
    /// Whether the measured weight re-rated the shipment.
    Rerated,
    WeightNote,
    /// Optimistic lock: every write bumps it.
    Version,
    CreatedAt,
    UpdatedAt,
    FinishedAt,
}

#[derive(DeriveIden)]
enum PackScans {
    Table,
    Id,
    SessionId,
    Barcode,
    Sku,
    /// `ok`, `wrong_item`, `over_scan` or `unknown`.
    Result,
    At,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(SkuBarcodes::Table)
                .if_not_exists()
                .col(big_pk_auto(SkuBarcodes::Id))
                .col(string(SkuBarcodes::SellerId))
                .col(string(SkuBarcodes::Sku))
                .col(string(SkuBarcodes::Barcode))
                .col(string(SkuBarcodes::Source))
                .col(timestamp_with_time_zone(SkuBarcodes::UpdatedAt))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .if_not_exists()
                .name("idx_sku_barcodes_seller_barcode")
                .table(SkuBarcodes::Table)
                .col(SkuBarcodes::SellerId)
                .col(SkuBarcodes::Barcode)
                .unique()
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .if_not_exists()
                .name("idx_sku_barcodes_seller_sku")
                .table(SkuBarcodes::Table)
                .col(SkuBarcodes::SellerId)
                .col(SkuBarcodes::Sku)
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(PackSessions::Table)
                .if_not_exists()
                .col(big_pk_auto(PackSessions::Id))
                .col(big_integer(PackSessions::ShipmentId))
                .col(big_integer(PackSessions::OrderId))
                .col(string(PackSessions::SellerId))
                .col(string(PackSessions::WarehouseId))
                .col(string(PackSessions::ChannelId))
                .col(timestamp_with_time_zone(PackSessions::PlacedAt))
                .col(string(PackSessions::Status))
                .col(text(PackSessions::Expected))
                .col(text(PackSessions::Scanned))
                .col(integer(PackSessions::WrongItems).default(0))
                .col(integer(PackSessions::OverScans).default(0))
                .col(integer(PackSessions::UnknownScans).default(0))
                .col(integer(PackSessions::MissingUnits).default(0))
                .col(integer(PackSessions::Finishes).default(0))
                .col(text_null(PackSessions::OverrideReason))
                .col(string_null(PackSessions::OverrideAuthor))
                .col(big_integer_null(PackSessions::ComputedGrams))
                .col(big_integer_null(PackSessions::MeasuredGrams))
                .col(boolean(PackSessions::Rerated).default(false))
                .col(text_null(PackSessions::WeightNote))
                .col(big_integer(PackSessions::Version).default(0))
                .col(timestamp_with_time_zone(PackSessions::CreatedAt))
                .col(timestamp_with_time_zone(PackSessions::UpdatedAt))
                .col(timestamp_with_time_zone_null(PackSessions::FinishedAt))
                .to_owned(),
        )
        .await?;
        // One session per shipment, whatever races.
        m.create_index(
            Index::create()
                .if_not_exists()
                .name("idx_pack_sessions_shipment")
                .table(PackSessions::Table)
                .col(PackSessions::ShipmentId)
                .unique()
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .if_not_exists()
                .name("idx_pack_sessions_placed")
                .table(PackSessions::Table)
                .col(PackSessions::PlacedAt)
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(PackScans::Table)
                .if_not_exists()
                .col(big_pk_auto(PackScans::Id))
                .col(big_integer(PackScans::SessionId))
                .col(string(PackScans::Barcode))
                .col(string_null(PackScans::Sku))
                .col(string(PackScans::Result))
                .col(timestamp_with_time_zone(PackScans::At))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .if_not_exists()
                .name("idx_pack_scans_session")
                .table(PackScans::Table)
                .col(PackScans::SessionId)
                .col(PackScans::Id)
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in [
            PackScans::Table.into_iden(),
            PackSessions::Table.into_iden(),
            SkuBarcodes::Table.into_iden(),
        ] {
            m.drop_table(Table::drop().table(t).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
