//! An order's timeline: one append-only row per thing that happened to it
//! (synced, routed, label bought, tracking, staff notes, ...), read in
//! `(order_id, at)` order.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum OrderEvents {
    Table,
    Id,
    OrderId,
    At,
    Kind,
    Actor,
    Detail,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(OrderEvents::Table)
                .if_not_exists()
                .col(big_pk_auto(OrderEvents::Id))
                .col(big_integer(OrderEvents::OrderId))
                .col(timestamp_with_time_zone(OrderEvents::At))
                .col(string(OrderEvents::Kind))
                .col(text(OrderEvents::Actor))
                .col(text(OrderEvents::Detail))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_order_events_order_at")
                .table(OrderEvents::Table)
                .col(OrderEvents::OrderId)
                .col(OrderEvents::At)
                .if_not_exists()
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(
            Table::drop()
                .table(OrderEvents::Table)
                .if_exists()
                .to_owned(),
        )
        .await?;
        Ok(())
    }
}
