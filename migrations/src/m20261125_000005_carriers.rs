//! Carriers widened: the label's id at the carrier (to void it) and format,
//! the rates rate shopping considered with its verdict on each, and voids.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Shipments {
    Table,
    LabelId,
    LabelFormat,
    RateQuotes,
    VoidStatus,
    VoidedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // One column per ALTER: SQLite cannot add several at once.
        let columns = [
            string_null(Shipments::LabelId),
            string_null(Shipments::LabelFormat),
            text_null(Shipments::RateQuotes),
            string_null(Shipments::VoidStatus),
            timestamp_with_time_zone_null(Shipments::VoidedAt),
        ];
        for mut col in columns {
            m.alter_table(
                Table::alter()
                    .table(Shipments::Table)
                    .add_column(&mut col)
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for col in [
            Shipments::LabelId,
            Shipments::LabelFormat,
            Shipments::RateQuotes,
            Shipments::VoidStatus,
            Shipments::VoidedAt,
        ] {
            m.alter_table(
                Table::alter()
                    .table(Shipments::Table)
                    .drop_column(col)
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }
}
