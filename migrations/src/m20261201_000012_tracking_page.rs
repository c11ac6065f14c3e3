//! The public tracking page and delivery problems: each shipment's
//! unguessable page token (unique; assigned once its label is bought), and
//! when a delivery problem (no tracking progress, past the promised date) was
//! raised for it, so that it is raised once.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Shipments {
    Table,
    TrackingToken,
    ProblemRaisedAt,
}

const TOKEN_INDEX: &str = "shipments_tracking_token_uq";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Shipments::Table)
                .add_column(&mut string_null(Shipments::TrackingToken))
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(Shipments::Table)
                .add_column(&mut timestamp_with_time_zone_null(
                    Shipments::ProblemRaisedAt,
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name(TOKEN_INDEX)
                .table(Shipments::Table)
                .col(Shipments::TrackingToken)
                .unique()
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(
            Index::drop()
                .name(TOKEN_INDEX)
                .table(Shipments::Table)
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(Shipments::Table)
                .drop_column(Shipments::ProblemRaisedAt)
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(Shipments::Table)
                .drop_column(Shipments::TrackingToken)
                .to_owned(),
        )
        .await?;
        Ok(())
    }
}
