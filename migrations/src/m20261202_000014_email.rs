//! Customer email: an outbox with one row per (order event or follow-up,
//! recipient), unique, so nothing is sent twice even across restarts; every
//! SMTP attempt; and the email dispatcher's own watermark over
//! `order_events`. The watermark starts at the newest event present when
//! this migration runs: customers are never emailed about history.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum EmailOutbox {
    Table,
    Id,
    SellerId,
    OrderId,
    OrderEventId,
    ShipmentId,
    Detail,
    DedupKey,
    EventType,
    Recipient,
    Language,
    Subject,
    TextBody,
    HtmlBody,
    Status,
    Attempts,
    NextAttemptAt,
    LastError,
    LeaseOwner,
    LeaseUntilMs,
    CreatedAt,
    SentAt,
}

#[derive(DeriveIden)]
enum EmailAttempts {
    Table,
    Id,
    EmailId,
    AttemptNo,
    At,
    SmtpCode,
    Error,
    DurationMs,
}

#[derive(DeriveIden)]
enum EmailWatermark {
    Table,
    Id,
    LastEventId,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(EmailOutbox::Table)
                .if_not_exists()
                .col(big_pk_auto(EmailOutbox::Id))
                .col(string(EmailOutbox::SellerId))
                .col(big_integer(EmailOutbox::OrderId))
                .col(big_integer(EmailOutbox::OrderEventId))
                .col(big_integer_null(EmailOutbox::ShipmentId))
                .col(text(EmailOutbox::Detail))
                .col(string(EmailOutbox::DedupKey))
                .col(string(EmailOutbox::EventType))
                .col(string(EmailOutbox::Recipient))
                .col(string_null(EmailOutbox::Language))
                .col(text_null(EmailOutbox::Subject))
                .col(text_null(EmailOutbox::TextBody))
                .col(text_null(EmailOutbox::HtmlBody))
                .col(string(EmailOutbox::Status))
                .col(integer(EmailOutbox::Attempts).default(0))
                .col(timestamp_with_time_zone_null(EmailOutbox::NextAttemptAt))
                .col(text_null(EmailOutbox::LastError))
                .col(string_null(EmailOutbox::LeaseOwner))
                .col(big_integer_null(EmailOutbox::LeaseUntilMs))
                .col(timestamp_with_time_zone(EmailOutbox::CreatedAt))
                .col(timestamp_with_time_zone_null(EmailOutbox::SentAt))
                .to_owned(),
        )
        .await?;
        // One email per (event or follow-up, recipient), whoever enqueues it.
        m.create_index(
            Index::create()
                .name("ux_email_outbox_dedup_recipient")
                .table(EmailOutbox::Table)
                .col(EmailOutbox::DedupKey)
                .col(EmailOutbox::Recipient)
                .unique()
                .if_not_exists()
                .to_owned(),
        )
        .await?;
        // The sender's scan: due rows by status.
        m.create_index(
            Index::create()
                .name("ix_email_outbox_status_due")
                .table(EmailOutbox::Table)
                .col(EmailOutbox::Status)
                .col(EmailOutbox::NextAttemptAt)
                .if_not_exists()
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_email_outbox_order")
                .table(EmailOutbox::Table)
                .col(EmailOutbox::OrderId)
                .if_not_exists()
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_email_outbox_seller")
                .table(EmailOutbox::Table)
                .col(EmailOutbox::SellerId)
                .col(EmailOutbox::Id)
                .if_not_exists()
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(EmailAttempts::Table)
                .if_not_exists()
                .col(big_pk_auto(EmailAttempts::Id))
                .col(big_integer(EmailAttempts::EmailId))
                .col(integer(EmailAttempts::AttemptNo))
                .col(timestamp_with_time_zone(EmailAttempts::At))
                .col(integer_null(EmailAttempts::SmtpCode))
                .col(text_null(EmailAttempts::Error))
                .col(big_integer(EmailAttempts::DurationMs))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_email_attempts_email")
                .table(EmailAttempts::Table)
                .col(EmailAttempts::EmailId)
                .if_not_exists()
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(EmailWatermark::Table)
                .if_not_exists()
                .col(integer(EmailWatermark::Id).primary_key())
                .col(big_integer(EmailWatermark::LastEventId))
                .to_owned(),
        )
        .await?;
        let insert = Query::insert()
            .into_table(EmailWatermark::Table)
            .columns([EmailWatermark::Id, EmailWatermark::LastEventId])
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
        for t in [
            EmailWatermark::Table.into_iden(),
            EmailAttempts::Table.into_iden(),
            EmailOutbox::Table.into_iden(),
        ] {
            m.drop_table(Table::drop().table(t).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
