//! A remote API's request budget shared by every `orderhub run` process on
//! one PostgreSQL database: one token bucket row per client (`shopify:shop`,
//! `ecwid:acme-ecwid`, `easypost:ep`, ...), which each request takes a token
//! from with one atomic UPDATE (worker/src/budget.rs). SQLite runs one
//! process and keeps its in-process limiter; the table exists there too, unused.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ChannelBudget {
    Table,
    /// The client's name: connector kind and channel or carrier id.
    Client,
    /// Tokens in the bucket at `refilled_at_us`; negative while requests are
    /// scheduled ahead (each waits until its slot).
    Tokens,
    /// Database clock, microseconds since the epoch.
    RefilledAtUs,
    /// What the last taker declared (for ops reading the table).
    PerSecond,
    Burst,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(ChannelBudget::Table)
                .if_not_exists()
                .col(string(ChannelBudget::Client).primary_key())
                .col(double(ChannelBudget::Tokens))
                .col(big_integer(ChannelBudget::RefilledAtUs))
                .col(double(ChannelBudget::PerSecond))
                .col(integer(ChannelBudget::Burst))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(ChannelBudget::Table).to_owned())
            .await
    }
}
