//! Returns (RMA): one row per return of a delivered order's lines, with its
//! status (`requested` → `label_buying` → `label_bought` → `in_transit` →
//! `delivered` → `restocked` | `damaged`; `exception` when the label cannot
//! be bought), its RMA number (unique), the return label (carrier account,
//! the carrier's shipment id and rate stored before any purchase, the
//! idempotency key sent as the carrier's reference, tracking number, label
//! URL) and the refund status (`none`, `pending`, `refunded`, `declined`;
//! the amount as exact decimal text with its currency). `return_lines`: one
//! row per sku returned, with its reason code, free text and, once
//! received, how many units were restocked and how many were damaged.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Returns {
    Table,
    Id,
    OrderId,
    SellerId,
    WarehouseId,
    Rma,
    Status,
    Reason,
    CreatedBy,
    CarrierAccount,
    CarrierShipmentId,
    RateId,
    IdempotencyKey,
    BuyAttempts,
    Carrier,
    Service,
    LabelAmount,
    LabelCurrency,
    TrackingCode,
    TrackingUrl,
    LabelUrl,
    LabelId,
    TrackingStatus,
    ExceptionReason,
    RefundStatus,
    RefundAmount,
    RefundCurrency,
    CreatedAt,
    UpdatedAt,
    LabelBoughtAt,
    ReceivedAt,
    RefundedAt,
}

#[derive(DeriveIden)]
enum ReturnLines {
    Table,
    Id,
    ReturnId,
    Sku,
    Quantity,
    ReasonCode,
    ReasonText,
    Restocked,
    Damaged,
}

const RMA_INDEX: &str = "returns_rma_uq";
const KEY_INDEX: &str = "returns_idempotency_key_uq";
const ORDER_INDEX: &str = "returns_order_idx";
const SELLER_INDEX: &str = "returns_seller_status_idx";
const TRACKING_INDEX: &str = "returns_tracking_idx";
const LINES_INDEX: &str = "return_lines_return_idx";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Returns::Table)
                .if_not_exists()
                .col(big_pk_auto(Returns::Id))
                .col(big_integer(Returns::OrderId))
                .col(string(Returns::SellerId))
                .col(string(Returns::WarehouseId))
                .col(string(Returns::Rma))
                .col(string(Returns::Status))
                .col(text_null(Returns::Reason))
                .col(string(Returns::CreatedBy))
                .col(string_null(Returns::CarrierAccount))
                .col(string_null(Returns::CarrierShipmentId))
                .col(string_null(Returns::RateId))
                .col(string(Returns::IdempotencyKey))
                .col(integer(Returns::BuyAttempts).default(0))
                .col(string_null(Returns::Carrier))
                .col(string_null(Returns::Service))
                .col(string_null(Returns::LabelAmount))
                .col(string_null(Returns::LabelCurrency))
                .col(string_null(Returns::TrackingCode))
                .col(text_null(Returns::TrackingUrl))
                .col(text_null(Returns::LabelUrl))
                .col(string_null(Returns::LabelId))
                .col(string_null(Returns::TrackingStatus))
                .col(text_null(Returns::ExceptionReason))
                .col(string(Returns::RefundStatus).default("none"))
                .col(string_null(Returns::RefundAmount))
                .col(string_null(Returns::RefundCurrency))
                .col(timestamp_with_time_zone(Returns::CreatedAt))
                .col(timestamp_with_time_zone(Returns::UpdatedAt))
                .col(timestamp_with_time_zone_null(Returns::LabelBoughtAt))
                .col(timestamp_with_time_zone_null(Returns::ReceivedAt))
                .col(timestamp_with_time_zone_null(Returns::RefundedAt))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(ReturnLines::Table)
                .if_not_exists()
                .col(big_pk_auto(ReturnLines::Id))
                .col(big_integer(ReturnLines::ReturnId))
                .col(string(ReturnLines::Sku))
                .col(big_integer(ReturnLines::Quantity))
                .col(string(ReturnLines::ReasonCode))
                .col(text_null(ReturnLines::ReasonText))
                .col(big_integer(ReturnLines::Restocked).default(0))
                .col(big_integer(ReturnLines::Damaged).default(0))
                .foreign_key(
                    ForeignKey::create()
                        .from(ReturnLines::Table, ReturnLines::ReturnId)
                        .to(Returns::Table, Returns::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        for (name, table, cols, unique) in [
            (RMA_INDEX, Returns::Table, vec![Returns::Rma], true),
            (
                KEY_INDEX,
                Returns::Table,
                vec![Returns::IdempotencyKey],
                true,
            ),
            (ORDER_INDEX, Returns::Table, vec![Returns::OrderId], false),
            (
                SELLER_INDEX,
                Returns::Table,
                vec![Returns::SellerId, Returns::Status],
                false,
            ),
            (
                TRACKING_INDEX,
                Returns::Table,
                vec![Returns::CarrierAccount, Returns::TrackingCode],
                false,
            ),
        ] {
            let mut idx = Index::create();
            idx.name(name).table(table);
            for c in cols {
                idx.col(c);
            }
            if unique {
                idx.unique();
            }
            m.create_index(idx.to_owned()).await?;
        }
        m.create_index(
            Index::create()
                .name(LINES_INDEX)
                .table(ReturnLines::Table)
                .col(ReturnLines::ReturnId)
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(ReturnLines::Table).to_owned())
            .await?;
        m.drop_table(Table::drop().table(Returns::Table).to_owned())
            .await?;
        Ok(())
    }
}
