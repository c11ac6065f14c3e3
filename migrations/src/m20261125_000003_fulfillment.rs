//! Fulfillment: what a shipment needs to buy a label exactly once and follow
//! its tracking (carrier account, the carrier's shipment id stored before the
//! purchase, the label, tracking status, what was pushed to the channel), the
//! append-only tracking events, and a warehouse's ship-from address.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Shipments {
    Table,
    CarrierAccount,
    CarrierShipmentId,
    BuyAttempts,
    RateId,
    Carrier,
    Service,
    RateAmount,
    RateCurrency,
    TrackingCode,
    TrackingUrl,
    LabelUrl,
    LabelBoughtAt,
    TrackingStatus,
    TrackingUpdatedAt,
    TrackingPushedAt,
    StatusPushed,
    PushLeaseUntilMs,
    Parcel,
    ExceptionReason,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum TrackingEvents {
    Table,
    Id,
    ShipmentId,
    Status,
    CarrierStatus,
    Message,
    Location,
    OccurredAt,
    ReceivedAt,
}

#[derive(DeriveIden)]
enum Orders {
    Table,
    RouteSweptAt,
}

#[derive(DeriveIden)]
enum Warehouses {
    Table,
    Address,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // One ALTER per statement: SQLite cannot do more.
        let cols = [
            string_null(Shipments::CarrierAccount),
            string_null(Shipments::CarrierShipmentId),
            integer(Shipments::BuyAttempts).default(0).to_owned(),
            string_null(Shipments::RateId),
            string_null(Shipments::Carrier),
            string_null(Shipments::Service),
            string_null(Shipments::RateAmount),
            string_null(Shipments::RateCurrency),
            string_null(Shipments::TrackingCode),
            text_null(Shipments::TrackingUrl),
            text_null(Shipments::LabelUrl),
            timestamp_with_time_zone_null(Shipments::LabelBoughtAt),
            string(Shipments::TrackingStatus)
                .default("unknown")
                .to_owned(),
            timestamp_with_time_zone_null(Shipments::TrackingUpdatedAt),
            timestamp_with_time_zone_null(Shipments::TrackingPushedAt),
            string_null(Shipments::StatusPushed),
            big_integer_null(Shipments::PushLeaseUntilMs),
            text_null(Shipments::Parcel),
            text_null(Shipments::ExceptionReason),
            timestamp_with_time_zone_null(Shipments::UpdatedAt),
        ];
        for mut col in cols {
            m.alter_table(
                Table::alter()
                    .table(Shipments::Table)
                    .add_column(&mut col)
                    .to_owned(),
            )
            .await?;
        }
        m.create_index(
            Index::create()
                .name("ix_shipments_tracking_code")
                .table(Shipments::Table)
                .col(Shipments::TrackingCode)
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_shipments_carrier_shipment")
                .table(Shipments::Table)
                .col(Shipments::CarrierShipmentId)
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(Orders::Table)
                .add_column(timestamp_with_time_zone_null(Orders::RouteSweptAt))
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(Warehouses::Table)
                .add_column(text_null(Warehouses::Address))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(TrackingEvents::Table)
                .if_not_exists()
                .col(big_pk_auto(TrackingEvents::Id))
                .col(big_integer(TrackingEvents::ShipmentId))
                .col(string(TrackingEvents::Status))
                .col(string(TrackingEvents::CarrierStatus))
                .col(text_null(TrackingEvents::Message))
                .col(text_null(TrackingEvents::Location))
                .col(timestamp_with_time_zone(TrackingEvents::OccurredAt))
                .col(timestamp_with_time_zone(TrackingEvents::ReceivedAt))
                .to_owned(),
        )
        .await?;
        // Carriers resend a tracker's whole history with every update: one row
        // per (shipment, carrier status, time) keeps the timeline append-only
        // without duplicates.
        m.create_index(
            Index::create()
                .name("ux_tracking_events_step")
                .table(TrackingEvents::Table)
                .col(TrackingEvents::ShipmentId)
                .col(TrackingEvents::CarrierStatus)
                .col(TrackingEvents::OccurredAt)
                .unique()
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(
            Table::drop()
                .table(TrackingEvents::Table)
                .if_exists()
                .to_owned(),
        )
        .await?;
        Ok(())
    }
}
