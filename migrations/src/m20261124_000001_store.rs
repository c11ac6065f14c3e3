//! Orders, lines, channels, sync cursors, quarantined payloads, webhook inbox.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Channels {
    Table,
    Id,
    SellerId,
    Kind,
    LeaseOwner,
    LeaseUntilMs,
    NextPollAtMs,
    LastSuccessAt,
    LastError,
    ErrorCount,
    OrdersSynced,
    CreatedAt,
}

#[derive(DeriveIden)]
enum SyncCursors {
    Table,
    ChannelId,
    WatermarkMs,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Orders {
    Table,
    Id,
    SellerId,
    ChannelId,
    ChannelKind,
    ExternalId,
    Number,
    Status,
    PaymentStatus,
    FulfillmentStatus,
    ChannelStatus,
    PlacedAt,
    UpdatedAt,
    SourceVersion,
    Currency,
    Subtotal,
    ShippingTotal,
    TaxTotal,
    DiscountTotal,
    Total,
    CustomerName,
    CustomerEmail,
    Customer,
    ShipTo,
    BillTo,
    ShippingMethod,
    ExceptionReason,
    CreatedAt,
    SyncedAt,
}

#[derive(DeriveIden)]
enum OrderLines {
    Table,
    Id,
    OrderId,
    LineNo,
    ExternalId,
    Sku,
    Title,
    Quantity,
    UnitPrice,
    Tax,
    Discount,
    Total,
    Grams,
}

#[derive(DeriveIden)]
enum QuarantinedPayloads {
    Table,
    Id,
    ChannelId,
    ExternalId,
    Reason,
    RawPayload,
    PayloadHash,
    Source,
    ReceivedAt,
}

#[derive(DeriveIden)]
enum WebhookInbox {
    Table,
    Id,
    Source,
    SourceId,
    DeliveryId,
    Topic,
    Body,
    ReceivedAt,
    ProcessedAt,
    Error,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Channels::Table)
                .if_not_exists()
                .col(string(Channels::Id).primary_key())
                .col(string(Channels::SellerId))
                .col(string(Channels::Kind))
                .col(string_null(Channels::LeaseOwner))
                .col(big_integer_null(Channels::LeaseUntilMs))
                .col(big_integer(Channels::NextPollAtMs).default(0))
                .col(timestamp_with_time_zone_null(Channels::LastSuccessAt))
                .col(text_null(Channels::LastError))
                .col(big_integer(Channels::ErrorCount).default(0))
                .col(big_integer(Channels::OrdersSynced).default(0))
                .col(timestamp_with_time_zone(Channels::CreatedAt))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(SyncCursors::Table)
                .if_not_exists()
                .col(string(SyncCursors::ChannelId).primary_key())
                .col(big_integer(SyncCursors::WatermarkMs))
                .col(timestamp_with_time_zone(SyncCursors::UpdatedAt))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Orders::Table)
                .if_not_exists()
                .col(big_pk_auto(Orders::Id))
                .col(string(Orders::SellerId))
                .col(string(Orders::ChannelId))
                .col(string(Orders::ChannelKind))
                .col(string(Orders::ExternalId))
                .col(string_null(Orders::Number))
                .col(string(Orders::Status))
                .col(string(Orders::PaymentStatus))
                .col(string(Orders::FulfillmentStatus))
                .col(string(Orders::ChannelStatus))
                .col(timestamp_with_time_zone(Orders::PlacedAt))
                .col(timestamp_with_time_zone(Orders::UpdatedAt))
                .col(big_integer(Orders::SourceVersion))
                .col(string(Orders::Currency))
                .col(string(Orders::Subtotal))
                .col(string(Orders::ShippingTotal))
                .col(string(Orders::TaxTotal))
                .col(string(Orders::DiscountTotal))
                .col(string(Orders::Total))
                .col(string_null(Orders::CustomerName))
                .col(string_null(Orders::CustomerEmail))
                .col(text_null(Orders::Customer))
                .col(text_null(Orders::ShipTo))
                .col(text_null(Orders::BillTo))
                .col(string_null(Orders::ShippingMethod))
                .col(text_null(Orders::ExceptionReason))
                .col(timestamp_with_time_zone(Orders::CreatedAt))
                .col(timestamp_with_time_zone(Orders::SyncedAt))
                .to_owned(),
        )
        .await?;
        // Invariant 1: one order per (channel, external id).
        m.create_index(
            Index::create()
                .name("ux_orders_channel_external")
                .table(Orders::Table)
                .col(Orders::ChannelId)
                .col(Orders::ExternalId)
                .unique()
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_orders_seller_status")
                .table(Orders::Table)
                .col(Orders::SellerId)
                .col(Orders::Status)
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(OrderLines::Table)
                .if_not_exists()
                .col(big_pk_auto(OrderLines::Id))
                .col(big_integer(OrderLines::OrderId))
                .col(integer(OrderLines::LineNo))
                .col(string_null(OrderLines::ExternalId))
                .col(string_null(OrderLines::Sku))
                .col(text(OrderLines::Title))
                .col(integer(OrderLines::Quantity))
                .col(string(OrderLines::UnitPrice))
                .col(string(OrderLines::Tax))
                .col(string(OrderLines::Discount))
                .col(string(OrderLines::Total))
                .col(integer_null(OrderLines::Grams))
                .foreign_key(
                    ForeignKey::create()
                        .from(OrderLines::Table, OrderLines::OrderId)
                        .to(Orders::Table, Orders::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_order_lines_order")
                .table(OrderLines::Table)
                .col(OrderLines::OrderId)
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(QuarantinedPayloads::Table)
                .if_not_exists()
                .col(big_pk_auto(QuarantinedPayloads::Id))
                .col(string(QuarantinedPayloads::ChannelId))
                .col(string_null(QuarantinedPayloads::ExternalId))
                .col(text(QuarantinedPayloads::Reason))
                .col(text(QuarantinedPayloads::RawPayload))
                .col(string(QuarantinedPayloads::PayloadHash))
                .col(string(QuarantinedPayloads::Source))
                .col(timestamp_with_time_zone(QuarantinedPayloads::ReceivedAt))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_quarantine_payload")
                .table(QuarantinedPayloads::Table)
                .col(QuarantinedPayloads::ChannelId)
                .col(QuarantinedPayloads::PayloadHash)
                .unique()
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(WebhookInbox::Table)
                .if_not_exists()
                .col(big_pk_auto(WebhookInbox::Id))
                .col(string(WebhookInbox::Source))
                .col(string(WebhookInbox::SourceId))
                .col(string(WebhookInbox::DeliveryId))
                .col(string(WebhookInbox::Topic))
                .col(text(WebhookInbox::Body))
                .col(timestamp_with_time_zone(WebhookInbox::ReceivedAt))
                .col(timestamp_with_time_zone_null(WebhookInbox::ProcessedAt))
                .col(text_null(WebhookInbox::Error))
                .to_owned(),
        )
        .await?;
        // Invariant 6: a delivery is stored once, however often it is sent.
        m.create_index(
            Index::create()
                .name("ux_webhook_inbox_delivery")
                .table(WebhookInbox::Table)
                .col(WebhookInbox::Source)
                .col(WebhookInbox::SourceId)
                .col(WebhookInbox::DeliveryId)
                .unique()
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in [
            WebhookInbox::Table.into_iden(),
            QuarantinedPayloads::Table.into_iden(),
            OrderLines::Table.into_iden(),
            Orders::Table.into_iden(),
            SyncCursors::Table.into_iden(),
            Channels::Table.into_iden(),
        ] {
            m.drop_table(Table::drop().table(t).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
