//! Outbound notifications as signed webhooks (Standard Webhooks): the
//! subscribers (from config, with their delivery state), one delivery per
//! subscriber and order event (unique), every attempt, and the dispatcher's
//! watermark over `order_events`. The watermark starts at the newest event
//! present when this migration runs: history is not notified.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum OutboundSubscribers {
    Table,
    Id,
    SellerId,
    Url,
    Events,
    State,
    ConsecutiveFailures,
    FirstFailureAt,
    PausedAt,
    LastError,
    LastAttemptAt,
    LeaseOwner,
    LeaseUntilMs,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum OutboundDeliveries {
    Table,
    Id,
    SubscriberId,
    SellerId,
    OrderEventId,
    OrderId,
    EventType,
    Body,
    Status,
    Attempts,
    NextAttemptAt,
    LastStatusCode,
    LastError,
    CreatedAt,
    DeliveredAt,
}

#[derive(DeriveIden)]
enum OutboundAttempts {
    Table,
    Id,
    DeliveryId,
    AttemptNo,
    At,
    StatusCode,
    Error,
    DurationMs,
}

#[derive(DeriveIden)]
enum OutboundWatermark {
    Table,
    Id,
    LastEventId,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(OutboundSubscribers::Table)
                .if_not_exists()
                .col(string(OutboundSubscribers::Id).primary_key())
                .col(string(OutboundSubscribers::SellerId))
                .col(text(OutboundSubscribers::Url))
                .col(text(OutboundSubscribers::Events))
                .col(string(OutboundSubscribers::State))
                .col(big_integer(OutboundSubscribers::ConsecutiveFailures).default(0))
                .col(timestamp_with_time_zone_null(
                    OutboundSubscribers::FirstFailureAt,
                ))
                .col(timestamp_with_time_zone_null(OutboundSubscribers::PausedAt))
                .col(text_null(OutboundSubscribers::LastError))
                .col(timestamp_with_time_zone_null(
                    OutboundSubscribers::LastAttemptAt,
                ))
                .col(string_null(OutboundSubscribers::LeaseOwner))
                .col(big_integer_null(OutboundSubscribers::LeaseUntilMs))
                .col(timestamp_with_time_zone(OutboundSubscribers::CreatedAt))
                .col(timestamp_with_time_zone(OutboundSubscribers::UpdatedAt))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(OutboundDeliveries::Table)
                .if_not_exists()
                .col(big_pk_auto(OutboundDeliveries::Id))
                .col(string(OutboundDeliveries::SubscriberId))
                .col(string(OutboundDeliveries::SellerId))
                .col(big_integer(OutboundDeliveries::OrderEventId))
                .col(big_integer(OutboundDeliveries::OrderId))
                .col(string(OutboundDeliveries::EventType))
                .col(text(OutboundDeliveries::Body))
                .col(string(OutboundDeliveries::Status))
                .col(integer(OutboundDeliveries::Attempts).default(0))
                .col(timestamp_with_time_zone_null(
                    OutboundDeliveries::NextAttemptAt,
                ))
                .col(integer_null(OutboundDeliveries::LastStatusCode))
                .col(text_null(OutboundDeliveries::LastError))
                .col(timestamp_with_time_zone(OutboundDeliveries::CreatedAt))
                .col(timestamp_with_time_zone_null(
                    OutboundDeliveries::DeliveredAt,
                ))
                .to_owned(),
        )
        .await?;
        // One delivery per subscriber and order event: the dispatcher may run
        // twice (or in two processes) and changes nothing the second time.
        m.create_index(
            Index::create()
                .name("ux_outbound_deliveries_sub_event")
                .table(OutboundDeliveries::Table)
                .col(OutboundDeliveries::SubscriberId)
                .col(OutboundDeliveries::OrderEventId)
                .unique()
                .if_not_exists()
                .to_owned(),
        )
        .await?;
        // A subscriber's head: its oldest delivery not yet delivered.
        m.create_index(
            Index::create()
                .name("ix_outbound_deliveries_sub_status")
                .table(OutboundDeliveries::Table)
                .col(OutboundDeliveries::SubscriberId)
                .col(OutboundDeliveries::Status)
                .col(OutboundDeliveries::OrderEventId)
                .if_not_exists()
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_outbound_deliveries_order")
                .table(OutboundDeliveries::Table)
                .col(OutboundDeliveries::OrderId)
                .if_not_exists()
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(OutboundAttempts::Table)
                .if_not_exists()
                .col(big_pk_auto(OutboundAttempts::Id))
                .col(big_integer(OutboundAttempts::DeliveryId))
                .col(integer(OutboundAttempts::AttemptNo))
                .col(timestamp_with_time_zone(OutboundAttempts::At))
                .col(integer_null(OutboundAttempts::StatusCode))
                .col(text_null(OutboundAttempts::Error))
                .col(big_integer(OutboundAttempts::DurationMs))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_outbound_attempts_delivery")
                .table(OutboundAttempts::Table)
                .col(OutboundAttempts::DeliveryId)
                .if_not_exists()
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(OutboundWatermark::Table)
                .if_not_exists()
                .col(integer(OutboundWatermark::Id).primary_key())
                .col(big_integer(OutboundWatermark::LastEventId))
                .to_owned(),
        )
        .await?;
        // The one watermark row, at the newest event present now.
        let insert = Query::insert()
            .into_table(OutboundWatermark::Table)
            .columns([OutboundWatermark::Id, OutboundWatermark::LastEventId])
            .select_from(
                Query::select()
                    .expr(Expr::val(1))
                    .expr(Expr::cust("COALESCE(MAX(id), 0)"))
                    .from(Alias::new("order_events"))
                    .to_owned(),
            )
            .map_err(|e| DbErr::Custom(e.to_string()))?
            .to_owned();
        m.get_connection().execute(&insert).await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(
            Table::drop()
                .table(OutboundWatermark::Table)
                .if_exists()
                .to_owned(),
        )
        .await?;
        m.drop_table(
            Table::drop()
                .table(OutboundAttempts::Table)
                .if_exists()
                .to_owned(),
        )
        .await?;
        m.drop_table(
            Table::drop()
                .table(OutboundDeliveries::Table)
                .if_exists()
                .to_owned(),
        )
        .await?;
        m.drop_table(
            Table::drop()
                .table(OutboundSubscribers::Table)
                .if_exists()
                .to_owned(),
        )
        .await?;
        Ok(())
    }
}
