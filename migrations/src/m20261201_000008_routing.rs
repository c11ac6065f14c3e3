//! Routing rules: warehouses that are open or closed, ship to some countries
//! or for some channels only, with coordinates for `closest`; safety stock per
//! (warehouse, sku) with a warehouse default. Existing rows keep today's
//! behavior: open, everywhere, every channel, no safety stock.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Warehouses {
    Table,
    Open,
    ShipsTo,
    Channels,
    Lat,
    Lon,
    DefaultSafety,
}

#[derive(DeriveIden)]
enum Stock {
    Table,
    Safety,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // One column per ALTER: SQLite cannot add several at once.
        let columns = [
            boolean(Warehouses::Open).default(true).to_owned(),
            text(Warehouses::ShipsTo).default("[]").to_owned(),
            text(Warehouses::Channels).default("[]").to_owned(),
            double_null(Warehouses::Lat),
            double_null(Warehouses::Lon),
            big_integer(Warehouses::DefaultSafety).default(0).to_owned(),
        ];
        for mut col in columns {
            m.alter_table(
                Table::alter()
                    .table(Warehouses::Table)
                    .add_column(&mut col)
                    .to_owned(),
            )
            .await?;
        }
        m.alter_table(
            Table::alter()
                .table(Stock::Table)
                .add_column(&mut big_integer_null(Stock::Safety))
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Stock::Table)
                .drop_column(Stock::Safety)
                .to_owned(),
        )
        .await?;
        for col in [
            Warehouses::Open,
            Warehouses::ShipsTo,
            Warehouses::Channels,
            Warehouses::Lat,
            Warehouses::Lon,
            Warehouses::DefaultSafety,
        ] {
            m.alter_table(
                Table::alter()
                    .table(Warehouses::Table)
                    .drop_column(col)
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }
}
