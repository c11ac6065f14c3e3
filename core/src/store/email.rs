//! Customer email: an outbox on the order timeline, beside the webhook one.
//!
//! The dispatcher ([`Store::dispatch_emails`]) reads the timeline after its
//! own watermark with the webhook dispatcher's reader
//! ([`super::outbound::events_after`], the same hole handling on
//! PostgreSQL), maps each event to at most one customer email type
//! ([`email_type`]) and inserts one row per (event, recipient), unique on
//! `(dedup_key, recipient)`, with the watermark moved in the same
//! transaction. A delivered shipment also schedules the order's follow-up
//! (`dedup_key` `followup:<order id>`: once per order), due
//! `email.followup_after_days` later. An order without a usable address gets
//! a `skipped` row saying so, and nothing is sent.
//!
//! The sender claims one due row at a time under a lease
//! ([`Store::claim_email`]), fixes its rendered subject and bodies once
//! ([`Store::set_email_content`], so a retry sends the same message) and
//! records each attempt ([`Store::record_email_attempt`]): `sent`, or
//! `failed` with the next attempt's time. A `sent` row is never claimed
//! again, so a restart sends nothing twice.

use super::entities::{order, order_event};
use super::{now, Store};
use crate::config::{is_email_address, EmailSettings};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

/// Not sent yet.
pub const EMAIL_PENDING: &str = "pending";
/// The SMTP server accepted it.
pub const EMAIL_SENT: &str = "sent";
/// The last attempt failed; retried at `next_attempt_at`.
pub const EMAIL_FAILED: &str = "failed";
/// Never sent: the order has no usable email address (`last_error` says why).
pub const EMAIL_SKIPPED: &str = "skipped";
pub const EMAIL_STATUSES: [&str; 4] = [EMAIL_PENDING, EMAIL_SENT, EMAIL_FAILED, EMAIL_SKIPPED];

/// The follow-up's email type.
pub const EMAIL_FOLLOWUP: &str = "order.followup";

pub mod email_outbox {
    use sea_orm::entity::prelude::*;

    /// One customer email (or the record that it was skipped).
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "email_outbox")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub seller_id: String,
        pub order_id: i64,
        pub order_event_id: i64,
        pub shipment_id: Option<i64>,
        /// The timeline event's detail (JSON), for the template.
        pub detail: String,
        /// `event:<order event id>` or `followup:<order id>`.
        pub dedup_key: String,
        /// `order.received`, `shipment.shipped`, … (`EMAIL_EVENT_TYPES`).
        pub event_type: String,
        /// Empty for a skipped row without an address.
        pub recipient: String,
        pub language: Option<String>,
        pub subject: Option<String>,
        pub text_body: Option<String>,
        pub html_body: Option<String>,
        pub status: String,
        pub attempts: i32,
        pub next_attempt_at: Option<DateTimeUtc>,
        pub last_error: Option<String>,
        pub lease_owner: Option<String>,
        pub lease_until_ms: Option<i64>,
        pub created_at: DateTimeUtc,
        pub sent_at: Option<DateTimeUtc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod email_attempt {
    use sea_orm::entity::prelude::*;

    /// One try at handing an email to the SMTP server.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "email_attempts")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub email_id: i64,
        pub attempt_no: i32,
        pub at: DateTimeUtc,
        pub smtp_code: Option<i32>,
        pub error: Option<String>,
        pub duration_ms: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod email_watermark {
    use sea_orm::entity::prelude::*;

    /// The email dispatcher's progress over `order_events` (one row, id 1).
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "email_watermark")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: i32,
        pub last_event_id: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

use email_attempt as attempt;
use email_outbox as outbox;
use email_watermark as watermark;

/// Whether an `exception` event is a delivery problem raised by the
/// scheduler's sweep (`Store::raise_delivery_problem` marks its detail).
pub fn is_delivery_problem(detail: &Value) -> bool {
    detail["problem"].as_str() == Some(super::tracking_page::DELIVERY_PROBLEM)
}

/// The customer email a timeline event becomes, if any.
///
/// | timeline kind | email type |
/// | --- | --- |
/// | `synced` | `order.received` |
/// | `tracking_pushed` | `shipment.shipped` |
/// | `tracking_event` `out_for_delivery` | `shipment.out_for_delivery` |
/// | `tracking_event` `delivered` | `shipment.delivered` (and the follow-up is scheduled) |
/// | `exception` from the delivery-problem sweep | `delivery.problem` |
/// | any other `exception` | `order.exception` |
/// | `return_received` | `return.received` |
pub fn email_type(kind: &str, detail: &Value) -> Option<&'static str> {
    Some(match kind {
        "synced" => "order.received",
        "tracking_pushed" => "shipment.shipped",
        "tracking_event" => match detail["status"].as_str() {
            Some("out_for_delivery") => "shipment.out_for_delivery",
            Some("delivered") => "shipment.delivered",
            _ => return None,
        },
        "exception" if is_delivery_problem(detail) => "delivery.problem",
        "exception" => "order.exception",
        "return_received" => "return.received",
        _ => return None,
    })
}

/// What one dispatcher pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EmailDispatchReport {
    pub events: usize,
    /// Rows inserted (emails, follow-ups and skipped ones).
    pub enqueued: u64,
    pub watermark: i64,
    pub waiting_on_gap: bool,
}

/// How one SMTP attempt went.
#[derive(Debug, Clone)]
pub struct EmailOutcome {
    pub ok: bool,
    pub smtp_code: Option<u16>,
    pub error: Option<String>,
    pub duration_ms: i64,
    /// After a failure: when to try again.
    pub retry_at: Option<DateTime<Utc>>,
}

/// Filter for [`Store::emails`].
#[derive(Debug, Clone, Default)]
pub struct EmailFilter {
    pub seller: Option<String>,
    pub order_id: Option<i64>,
    pub status: Option<String>,
    pub limit: u64,
}

/// One attempt as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct EmailAttemptView {
    pub attempt: i32,
    pub at: DateTime<Utc>,
    pub smtp_code: Option<i32>,
    pub error: Option<String>,
    pub duration_ms: i64,
}

/// One outbox row as the API shows it (the message as sent, no credentials).
#[derive(Debug, Clone, Serialize)]
pub struct EmailView {
    pub id: i64,
    pub order_id: i64,
    pub order_event_id: i64,
    pub event_type: String,
    pub recipient: String,
    pub language: Option<String>,
    pub subject: Option<String>,
    pub text_body: Option<String>,
    pub has_html: bool,
    pub status: String,
    pub attempt_count: i32,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    pub attempts: Vec<EmailAttemptView>,
}

impl Store {
    /// The email dispatcher's watermark.
    pub async fn email_watermark(&self) -> Result<i64, DbErr> {
        Ok(watermark::Entity::find_by_id(1)
            .one(&self.db)
            .await?
            .map_or(0, |w| w.last_event_id))
    }

    /// One dispatcher pass over at most `batch` timeline events after the
    /// email watermark (see the module doc). With email disabled the
    /// watermark still moves and nothing is enqueued.
    pub async fn dispatch_emails(
        &self,
        settings: &EmailSettings,
        batch: u64,
        gap_grace: chrono::Duration,
    ) -> Result<EmailDispatchReport, DbErr> {
        let tx = self.begin_write().await?;
        let Some(mark) = watermark::Entity::find_by_id(1)
            .lock_exclusive()
            .one(&tx)
            .await?
            .map(|w| w.last_event_id)
        else {
            // The migration makes the row; if someone deleted it, start now.
            let max: Option<i64> = order_event::Entity::find()
                .select_only()
                .column_as(order_event::Column::Id.max(), "m")
                .into_tuple::<Option<i64>>()
                .one(&tx)
                .await?
                .flatten();
            watermark::Entity::insert(watermark::ActiveModel {
                id: Set(1),
                last_event_id: Set(max.unwrap_or(0)),
            })
            .on_conflict_do_nothing_on([watermark::Column::Id])
            .exec_without_returning(&tx)
            .await?;
            tx.commit().await?;
            return Ok(EmailDispatchReport {
                watermark: max.unwrap_or(0),
                ..Default::default()
            });
        };
        let (events, waiting_on_gap) =
            super::outbound::events_after(&tx, self.backend(), mark, batch, gap_grace).await?;
        let Some(last) = events.last().map(|e| e.id) else {
            tx.rollback().await?;
            return Ok(EmailDispatchReport {
                watermark: mark,
                waiting_on_gap,
                ..Default::default()
            });
        };
        let mut enqueued = 0;
        if settings.enabled {
            // (event, email type, detail); a delivered one also yields the follow-up.
            let mut mapped: Vec<(&order_event::Model, &'static str, Value)> = Vec::new();
            for e in &events {
                let detail = serde_json::from_str::<Value>(&e.detail).unwrap_or(Value::Null);
                let Some(t) = email_type(&e.kind, &detail) else {
                    continue;
                };
                if t == "shipment.delivered" && settings.wants(EMAIL_FOLLOWUP) {
                    mapped.push((e, EMAIL_FOLLOWUP, detail.clone()));
                }
                if settings.wants(t) {
                    mapped.push((e, t, detail));
                }
            }
            let order_ids: BTreeSet<i64> = mapped.iter().map(|(e, _, _)| e.order_id).collect();
            let orders: BTreeMap<i64, order::Model> = if order_ids.is_empty() {
                BTreeMap::new()
            } else {
                order::Entity::find()
                    .filter(order::Column::Id.is_in(order_ids))
                    .all(&tx)
                    .await?
                    .into_iter()
                    .map(|o| (o.id, o))
                    .collect()
            };
            let at = now();
            let followup_due = at + settings.followup_after();
            let mut rows = Vec::new();
            for (e, t, d) in &mapped {
                let Some(o) = orders.get(&e.order_id) else {
                    continue;
                };
                let address = o
                    .customer_email
                    .as_deref()
                    .map(str::trim)
                    .filter(|a| !a.is_empty());
                let (recipient, status, error) = match address {
                    Some(a) if is_email_address(a) => (a.to_string(), EMAIL_PENDING, None),
                    Some(_) => (
                        String::new(),
                        EMAIL_SKIPPED,
                        Some("the order's email address is not valid".to_string()),
                    ),
                    None => (
                        String::new(),
                        EMAIL_SKIPPED,
                        Some("the order has no email address".to_string()),
                    ),
                };
                let followup = *t == EMAIL_FOLLOWUP;
                rows.push(outbox::ActiveModel {
                    seller_id: Set(o.seller_id.clone()),
                    order_id: Set(o.id),
                    order_event_id: Set(e.id),
                    shipment_id: Set(d["shipment_id"].as_i64()),
                    detail: Set(if d.is_object() {
                        d.to_string()
                    } else {
                        json!({}).to_string()
                    }),
                    dedup_key: Set(if followup {
                        format!("followup:{}", o.id)
                    } else {
                        format!("event:{}", e.id)
                    }),
                    event_type: Set(t.to_string()),
                    recipient: Set(recipient),
                    language: Set(None),
                    subject: Set(None),
                    text_body: Set(None),
                    html_body: Set(None),
                    status: Set(status.to_string()),
                    attempts: Set(0),
                    next_attempt_at: Set(
                        (followup && status == EMAIL_PENDING).then_some(followup_due)
                    ),
                    last_error: Set(error),
                    lease_owner: Set(None),
                    lease_until_ms: Set(None),
                    created_at: Set(at),
                    sent_at: Set(None),
                    ..Default::default()
                });
            }
            for chunk in rows.chunks(200) {
                if let sea_orm::TryInsertResult::Inserted(n) =
                    outbox::Entity::insert_many(chunk.to_vec())
                        .on_conflict_do_nothing_on([
                            outbox::Column::DedupKey,
                            outbox::Column::Recipient,
                        ])
                        .exec_without_returning(&tx)
                        .await?
                {
                    enqueued += n;
                }
            }
        }
        watermark::Entity::update_many()
            .col_expr(watermark::Column::LastEventId, Expr::value(last))
            .filter(watermark::Column::Id.eq(1))
            .filter(watermark::Column::LastEventId.eq(mark))
            .exec(&tx)
            .await?;
        tx.commit().await?;
        Ok(EmailDispatchReport {
            events: events.len(),
            enqueued,
            watermark: last,
            waiting_on_gap,
        })
    }

    /// Up to `limit` emails due now (pending or failed, due, lease free), oldest first.
    pub async fn due_emails(&self, limit: u64) -> Result<Vec<outbox::Model>, DbErr> {
        let at = now();
        outbox::Entity::find()
            .filter(outbox::Column::Status.is_in([EMAIL_PENDING, EMAIL_FAILED]))
            .filter(
                Condition::any()
                    .add(outbox::Column::NextAttemptAt.is_null())
                    .add(outbox::Column::NextAttemptAt.lte(at)),
            )
            .filter(
                Condition::any()
                    .add(outbox::Column::LeaseUntilMs.is_null())
                    .add(outbox::Column::LeaseUntilMs.lt(at.timestamp_millis())),
            )
            .order_by_asc(outbox::Column::Id)
            .limit(limit.max(1))
            .all(&self.db)
            .await
    }

    /// Take an email's sending lease: only while it is pending or failed,
    /// and its lease is free, expired or already ours. Returns the row as
    /// claimed (None: someone else has it, or it was sent meanwhile).
    pub async fn claim_email(
        &self,
        id: i64,
        owner: &str,
        ttl_ms: i64,
    ) -> Result<Option<outbox::Model>, DbErr> {
        let now_ms = now().timestamp_millis();
        let res = outbox::Entity::update_many()
            .col_expr(outbox::Column::LeaseOwner, Expr::value(owner))
            .col_expr(outbox::Column::LeaseUntilMs, Expr::value(now_ms + ttl_ms))
            .filter(outbox::Column::Id.eq(id))
            .filter(outbox::Column::Status.is_in([EMAIL_PENDING, EMAIL_FAILED]))
            .filter(
                Condition::any()
                    .add(outbox::Column::LeaseUntilMs.is_null())
                    .add(outbox::Column::LeaseUntilMs.lt(now_ms))
                    .add(outbox::Column::LeaseOwner.eq(owner)),
            )
            .exec(&self.db)
            .await?;
        if res.rows_affected != 1 {
            return Ok(None);
        }
        outbox::Entity::find_by_id(id).one(&self.db).await
    }

    /// Fix an email's rendered message, once: later calls keep the first
    /// (a retry sends the same message). Returns the row as stored.
    pub async fn set_email_content(
        &self,
        id: i64,
        language: &str,
        subject: &str,
        text_body: &str,
        html_body: Option<&str>,
    ) -> Result<Option<outbox::Model>, DbErr> {
        outbox::Entity::update_many()
            .col_expr(outbox::Column::Language, Expr::value(language))
            .col_expr(outbox::Column::Subject, Expr::value(subject))
            .col_expr(outbox::Column::TextBody, Expr::value(text_body))
            .col_expr(
                outbox::Column::HtmlBody,
                Expr::value(html_body.map(str::to_string)),
            )
            .filter(outbox::Column::Id.eq(id))
            .filter(outbox::Column::Subject.is_null())
            .exec(&self.db)
            .await?;
        outbox::Entity::find_by_id(id).one(&self.db).await
    }

    /// Give up on an email that cannot be made (its order is gone): skipped
    /// with the reason.
    pub async fn skip_email(&self, id: i64, reason: &str) -> Result<(), DbErr> {
        outbox::Entity::update_many()
            .col_expr(outbox::Column::Status, Expr::value(EMAIL_SKIPPED))
            .col_expr(outbox::Column::LastError, Expr::value(reason))
            .col_expr(
                outbox::Column::LeaseOwner,
                Expr::value(Option::<String>::None),
            )
            .col_expr(
                outbox::Column::LeaseUntilMs,
                Expr::value(Option::<i64>::None),
            )
            .filter(outbox::Column::Id.eq(id))
            .filter(outbox::Column::Status.is_in([EMAIL_PENDING, EMAIL_FAILED]))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// Record one attempt at email `id` and what it means (sent, or failed
    /// until `retry_at`), releasing the lease, in one transaction. A `sent`
    /// email stays sent.
    pub async fn record_email_attempt(&self, id: i64, outcome: &EmailOutcome) -> Result<(), DbErr> {
        let tx = self.begin_write().await?;
        let at = now();
        let current = outbox::Entity::find_by_id(id)
            .lock_exclusive()
            .one(&tx)
            .await?
            .ok_or_else(|| DbErr::RecordNotFound(format!("email {id}")))?;
        let attempt_no = current.attempts + 1;
        attempt::Entity::insert(attempt::ActiveModel {
            email_id: Set(id),
            attempt_no: Set(attempt_no),
            at: Set(at),
            smtp_code: Set(outcome.smtp_code.map(i32::from)),
            error: Set(outcome.error.clone()),
            duration_ms: Set(outcome.duration_ms),
            ..Default::default()
        })
        .exec_without_returning(&tx)
        .await?;
        let mut upd = outbox::Entity::update_many()
            .col_expr(outbox::Column::Attempts, Expr::value(attempt_no))
            .col_expr(
                outbox::Column::LastError,
                Expr::value(outcome.error.clone()),
            )
            .col_expr(
                outbox::Column::LeaseOwner,
                Expr::value(Option::<String>::None),
            )
            .col_expr(
                outbox::Column::LeaseUntilMs,
                Expr::value(Option::<i64>::None),
            );
        if outcome.ok {
            upd = upd
                .col_expr(outbox::Column::Status, Expr::value(EMAIL_SENT))
                .col_expr(outbox::Column::SentAt, Expr::value(Some(at)))
                .col_expr(
                    outbox::Column::NextAttemptAt,
                    Expr::value(Option::<DateTime<Utc>>::None),
                );
        } else if current.status != EMAIL_SENT {
            upd = upd
                .col_expr(outbox::Column::Status, Expr::value(EMAIL_FAILED))
                .col_expr(outbox::Column::NextAttemptAt, Expr::value(outcome.retry_at));
        }
        upd.filter(outbox::Column::Id.eq(id)).exec(&tx).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The seller an order belongs to (None: no such order).
    pub async fn email_order_seller(&self, order_id: i64) -> Result<Option<String>, DbErr> {
        Ok(order::Entity::find_by_id(order_id)
            .one(&self.db)
            .await?
            .map(|o| o.seller_id))
    }

    /// Outbox rows matching `f`, newest first, each with its attempts.
    pub async fn emails(&self, f: &EmailFilter) -> Result<Vec<EmailView>, DbErr> {
        let mut q = outbox::Entity::find().order_by_desc(outbox::Column::Id);
        if let Some(s) = &f.seller {
            q = q.filter(outbox::Column::SellerId.eq(s.as_str()));
        }
        if let Some(o) = f.order_id {
            q = q.filter(outbox::Column::OrderId.eq(o));
        }
        if let Some(s) = &f.status {
            q = q.filter(outbox::Column::Status.eq(s.as_str()));
        }
        let rows = q.limit(f.limit.clamp(1, 1000)).all(&self.db).await?;
        let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
        let mut attempts: BTreeMap<i64, Vec<EmailAttemptView>> = BTreeMap::new();
        if !ids.is_empty() {
            for a in attempt::Entity::find()
                .filter(attempt::Column::EmailId.is_in(ids))
                .order_by_asc(attempt::Column::Id)
                .all(&self.db)
                .await?
            {
                attempts
                    .entry(a.email_id)
                    .or_default()
                    .push(EmailAttemptView {
                        attempt: a.attempt_no,
                        at: a.at,
                        smtp_code: a.smtp_code,
                        error: a.error,
                        duration_ms: a.duration_ms,
                    });
            }
        }
        Ok(rows
            .into_iter()
            .map(|r| EmailView {
                attempts: attempts.remove(&r.id).unwrap_or_default(),
                id: r.id,
                order_id: r.order_id,
                order_event_id: r.order_event_id,
                event_type: r.event_type,
                recipient: r.recipient,
                language: r.language,
                subject: r.subject,
                text_body: r.text_body,
                has_html: r.html_body.is_some(),
                status: r.status,
                attempt_count: r.attempts,
                next_attempt_at: r.next_attempt_at,
                last_error: r.last_error,
                created_at: r.created_at,
                sent_at: r.sent_at,
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeline_kinds_map_to_email_types() {
        let none = Value::Null;
        assert_eq!(email_type("synced", &none), Some("order.received"));
        assert_eq!(
            email_type("tracking_pushed", &none),
            Some("shipment.shipped")
        );
        assert_eq!(email_type("updated", &none), None);
        assert_eq!(email_type("note", &none), None);
        assert_eq!(
            email_type("tracking_event", &json!({"status": "in_transit"})),
            None
        );
        assert_eq!(
            email_type("tracking_event", &json!({"status": "delivered"})),
            Some("shipment.delivered")
        );
        assert_eq!(
            email_type(
                "exception",
                &json!({"shipment_id": 3, "reason": "past the promised date 2026-12-09 and not delivered", "problem": "delivery"})
            ),
            Some("delivery.problem")
        );
        assert_eq!(
            email_type(
                "exception",
                &json!({"shipment_id": 3, "reason": "no rates"})
            ),
            Some("order.exception")
        );
        assert_eq!(
            email_type("return_received", &none),
            Some("return.received")
        );
        for t in [
            "order.received",
            "shipment.shipped",
            "delivery.problem",
            EMAIL_FOLLOWUP,
        ] {
            assert!(crate::config::EMAIL_EVENT_TYPES.contains(&t));
        }
    }
}

#[cfg(test)]
mod config_tests {
    use crate::config::{EmailSettings, ResolvedSecrets, SellerEmailSettings, EMAIL_SECRETS_KEY};

    #[test]
    fn email_config_lists_every_problem_and_reads_credentials_from_the_environment() {
        let env = |k: &str| (k == "SMTP_PASS").then(|| "hunter2-smtp".to_string());
        let mut resolved = ResolvedSecrets::new();
        // Disabled: only the sellers' values are checked.
        assert!(EmailSettings::default()
            .problems(&env, &mut resolved)
            .is_empty());
        let mut s = EmailSettings {
            enabled: true,
            smtp_host: " ".into(),
            smtp_port: 0,
            tls: "ssl".into(),
            from: "not-an-address".into(),
            reply_to: Some("a@b".into()),
            default_language: "English".into(),
            username_env: Some("SMTP_USER".into()),
            password_env: Some("SMTP_PASS".into()),
            templates_dir: Some("/no/such/dir".into()),
            retry_base_ms: 0,
            ..Default::default()
        };
        s.sellers.insert(
            "acme".into(),
            SellerEmailSettings {
                survey_url: Some("ftp://x".into()),
                ..Default::default()
            },
        );
        let p = s.problems(&env, &mut resolved);
        for want in [
            "email.smtp_host",
            "email.smtp_port",
            "email.tls: `ssl`",
            "email.from:",
            "email.reply_to",
            "email.default_language",
            "email.templates_dir",
            "email.retry_base_ms",
            "email.username_env: environment variable SMTP_USER is not set",
            "email.sellers.acme.survey_url",
        ] {
            assert!(p.iter().any(|x| x.starts_with(want)), "{want} in {p:?}");
        }
        // Secrets are named, never echoed.
        assert!(p.iter().all(|x| !x.contains("hunter2-smtp")));
        // One of the two credentials alone is a problem.
        s = EmailSettings {
            enabled: true,
            from: "shop@acme.example".into(),
            password_env: Some("SMTP_PASS".into()),
            ..Default::default()
        };
        let p = s.problems(&env, &mut resolved);
        assert_eq!(p.len(), 1, "{p:?}");
        // A good one resolves the password.
        s.username_env = Some("SMTP_PASS".into());
        assert!(s.problems(&env, &mut resolved).is_empty());
        assert_eq!(resolved[EMAIL_SECRETS_KEY]["password"], "hunter2-smtp");
        assert_eq!(s.followup_after(), chrono::Duration::days(7));
        s.followup_after_secs = Some(3);
        assert_eq!(s.followup_after(), chrono::Duration::seconds(3));
        assert!(s.wants("delivery.problem") && !s.wants("order.exception"));
    }
}
