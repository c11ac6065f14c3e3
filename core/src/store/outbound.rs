//! Outbound notifications: an outbox on the order timeline.
//!
//! Every change to an order already appends a row to `order_events` in the
//! same transaction as the change, so no write path knows about
//! notifications. The dispatcher ([`Store::dispatch_notifications`]) reads
//! the events after a stored watermark, maps each to at most one
//! notification type ([`notification_type`]), inserts one delivery per
//! matching subscriber of the order's seller (unique on `(subscriber_id,
//! order_event_id)`) and moves the watermark, all in one transaction, the
//! watermark row locked (`FOR UPDATE` on PostgreSQL; SQLite's write
//! transaction is exclusive anyway). Running it twice, or in two processes at
//! once, changes nothing the first run did not.
//!
//! A subscriber's deliveries are sent one at a time in `order_event_id`
//! order by whoever holds its lease ([`Store::claim_webhook_subscriber`]);
//! the head delivery's `next_attempt_at` holds the rest back after a failure.
//! After `pause_after_failures` consecutive failures spanning
//! `pause_after_hours` the subscriber is `paused`; its deliveries are kept
//! until [`Store::resume_webhook_subscriber`].
//!
//! PostgreSQL assigns ids when a transaction inserts, not when it commits:
//! an event may become visible after one with a higher id. The dispatcher
//! therefore stops at a hole in the ids and waits for it to fill; a hole
//! older than `gap_grace` (a rolled-back transaction) is passed over.

use super::entities::{order, order_event, shipment};
use super::{now, Backend, Store};
use crate::config::WebhookSubscriberSettings;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DbBackend, DbErr, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Statement,
};
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

pub const SUBSCRIBER_ACTIVE: &str = "active";
pub const SUBSCRIBER_PAUSED: &str = "paused";

/// Not sent yet (or waiting behind the subscriber's head).
pub const DELIVERY_PENDING: &str = "pending";
/// Answered 2xx.
pub const DELIVERY_DELIVERED: &str = "delivered";
/// The last attempt failed; it is retried at `next_attempt_at` (or after a resume).
pub const DELIVERY_FAILED: &str = "failed";
pub const DELIVERY_STATUSES: [&str; 3] = [DELIVERY_PENDING, DELIVERY_DELIVERED, DELIVERY_FAILED];

pub mod outbound_subscriber {
    use sea_orm::entity::prelude::*;

    /// A configured webhook subscriber and its delivery state.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "outbound_subscribers")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub seller_id: String,
        pub url: String,
        /// JSON list of event types (as configured).
        pub events: String,
        /// `active` or `paused`.
        pub state: String,
        pub consecutive_failures: i64,
        pub first_failure_at: Option<DateTimeUtc>,
        pub paused_at: Option<DateTimeUtc>,
        pub last_error: Option<String>,
        pub last_attempt_at: Option<DateTimeUtc>,
        pub lease_owner: Option<String>,
        pub lease_until_ms: Option<i64>,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod outbound_delivery {
    use sea_orm::entity::prelude::*;

    /// One notification for one subscriber: the signed body is fixed when
    /// the delivery is made, so every retry sends the same bytes.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "outbound_deliveries")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub subscriber_id: String,
        pub seller_id: String,
        pub order_event_id: i64,
        pub order_id: i64,
        pub event_type: String,
        pub body: String,
        pub status: String,
        pub attempts: i32,
        pub next_attempt_at: Option<DateTimeUtc>,
        pub last_status_code: Option<i32>,
        pub last_error: Option<String>,
        pub created_at: DateTimeUtc,
        pub delivered_at: Option<DateTimeUtc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}

    impl Model {
        /// The Standard Webhooks `webhook-id`: stable for the delivery, the
        /// same on every retry.
        pub fn webhook_id(&self) -> String {
            super::webhook_id(&self.subscriber_id, self.order_event_id)
        }
    }
}

pub mod outbound_attempt {
    use sea_orm::entity::prelude::*;

    /// One try at sending a delivery.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "outbound_attempts")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub delivery_id: i64,
        pub attempt_no: i32,
        pub at: DateTimeUtc,
        pub status_code: Option<i32>,
        pub error: Option<String>,
        pub duration_ms: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod outbound_watermark {
    use sea_orm::entity::prelude::*;

    /// The dispatcher's progress over `order_events` (one row, id 1).
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "outbound_watermark")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: i32,
        pub last_event_id: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

use outbound_attempt as attempt;
use outbound_delivery as delivery;
use outbound_subscriber as subscriber;
use outbound_watermark as watermark;

/// The `webhook-id` of the delivery of order event `order_event_id` to `subscriber_id`.
pub fn webhook_id(subscriber_id: &str, order_event_id: i64) -> String {
    format!("msg_{order_event_id}_{subscriber_id}")
}

/// The notification type a timeline event becomes, if any (at most one).
///
/// | timeline kind | notification |
/// | --- | --- |
/// | `synced` | `order.created` |
/// | `updated` | `order.updated` |
/// | `status_changed` | `order.status_changed` |
/// | `routed` | `order.routed` |
/// | `backordered` | `order.backordered` |
/// | `exception` | `order.exception` |
/// | `note` | `order.note_added` |
/// | `label_bought` | `shipment.label_bought` |
/// | `tracking_pushed` | `shipment.shipped` (the channel was told carrier and tracking) |
/// | `tracking_event` `in_transit` | `shipment.in_transit` |
/// | `tracking_event` `out_for_delivery` | `shipment.out_for_delivery` |
/// | `tracking_event` `delivered` | `shipment.delivered` |
/// | `tracking_event`, any other status | `shipment.tracking_updated` |
/// | `voided` | `shipment.voided` |
/// | `return_requested` | `return.requested` |
/// | `return_label_bought` | `return.label_bought` |
/// | `return_received` | `return.received` |
/// | `return_refunded` | `return.refunded` |
/// | `rate_chosen` | none (internal step before the label) |
pub fn notification_type(kind: &str, detail: &Value) -> Option<&'static str> {
    Some(match kind {
        "synced" => "order.created",
        "updated" => "order.updated",
        "status_changed" => "order.status_changed",
        "routed" => "order.routed",
        "backordered" => "order.backordered",
        "exception" => "order.exception",
        "note" => "order.note_added",
        "label_bought" => "shipment.label_bought",
        "tracking_pushed" => "shipment.shipped",
        "tracking_event" => match detail["status"].as_str() {
            Some("in_transit") => "shipment.in_transit",
            Some("out_for_delivery") => "shipment.out_for_delivery",
            Some("delivered") => "shipment.delivered",
            _ => "shipment.tracking_updated",
        },
        "voided" => "shipment.voided",
        "return_requested" => "return.requested",
        "return_label_bought" => "return.label_bought",
        "return_received" => "return.received",
        "return_refunded" => "return.refunded",
        _ => return None,
    })
}

/// The body of a notification: `{"type", "timestamp", "data"}`. `data`
/// holds the timeline event (`event_id`, `actor`, `change`: the event's
/// detail, or `{author, text}` for a note), the order (ids, number, channel,
/// statuses, placed_at, currency, total, shipping method; never the
/// customer's name, email or addresses) as it is when the notification is
/// made, and for events about a shipment, the shipment (warehouse, carrier,
/// service, tracking code, URL and status).
fn payload(
    event_type: &str,
    ev: &order_event::Model,
    o: &order::Model,
    ship: Option<&shipment::Model>,
) -> Value {
    let change = if ev.kind == "note" {
        json!({
            "author": ev.actor.strip_prefix("staff:").unwrap_or(&ev.actor),
            "text": ev.detail,
        })
    } else {
        serde_json::from_str::<Value>(&ev.detail)
            .ok()
            .filter(Value::is_object)
            .unwrap_or_else(|| json!({}))
    };
    let mut data = json!({
        "event_id": ev.id,
        "actor": ev.actor,
        "change": change,
        "order": {
            "id": o.id,
            "number": o.number,
            "channel_id": o.channel_id,
            "channel_kind": o.channel_kind,
            "external_id": o.external_id,
            "status": o.status,
            "payment_status": o.payment_status,
            "fulfillment_status": o.fulfillment_status,
            "placed_at": o.placed_at,
            "currency": o.currency,
            "total": o.total,
            "shipping_method": o.shipping_method,
        },
    });
    if let Some(s) = ship {
        data["shipment"] = json!({
            "id": s.id,
            "warehouse_id": s.warehouse_id,
            "status": s.status,
            "carrier": s.carrier,
            "service": s.service,
            "tracking_code": s.tracking_code,
            "tracking_url": s.tracking_url,
            "tracking_status": s.tracking_status,
            "label_bought_at": s.label_bought_at,
        });
    }
    json!({
        "type": event_type,
        "timestamp": ev.at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "data": data,
    })
}

/// PostgreSQL: whether the ids `[from, to)` missing from `order_events` can
/// no longer appear. A missing id was taken by a transaction that inserted
/// an event before the one at `to` was visible; if that transaction still
/// runs, it is in the current snapshot's in-progress list. So: when no
/// transaction but this one is in progress, and the ids are still missing
/// when read after that snapshot, their transaction rolled back. (With other
/// transactions in flight the dispatcher waits, at most `gap_grace`.)
async fn hole_is_abandoned<C: ConnectionTrait>(db: &C, from: i64, to: i64) -> Result<bool, DbErr> {
    let in_flight = db
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT COUNT(*)::bigint FROM pg_snapshot_xip(pg_current_snapshot()) AS x \
             WHERE x <> pg_current_xact_id()",
        ))
        .await?
        .map(|r| r.try_get_by_index::<i64>(0))
        .transpose()?
        .unwrap_or(1);
    if in_flight > 0 {
        return Ok(false);
    }
    let filled = order_event::Entity::find()
        .filter(order_event::Column::Id.gte(from))
        .filter(order_event::Column::Id.lt(to))
        .count(db)
        .await?;
    Ok(filled == 0)
}

/// The timeline events after watermark `mark` that may be passed now (at
/// most `batch`, oldest first), and whether a hole in the ids held the rest
/// back: on PostgreSQL the prefix ends at a hole younger than `gap_grace`
/// that a running transaction may still fill. Shared by the outboxes that
/// follow the timeline (webhooks here, customer email in `store::email`).
pub(crate) async fn events_after<C: ConnectionTrait>(
    tx: &C,
    backend: Backend,
    mark: i64,
    batch: u64,
    gap_grace: chrono::Duration,
) -> Result<(Vec<order_event::Model>, bool), DbErr> {
    let mut events = order_event::Entity::find()
        .filter(order_event::Column::Id.gt(mark))
        .order_by_asc(order_event::Column::Id)
        .limit(std::cmp::max(batch, 1))
        .all(tx)
        .await?;
    // The prefix that may be passed: on PostgreSQL, up to a young hole.
    let mut take = 0;
    let mut waiting_on_gap = false;
    let mut expected = mark + 1;
    let oldest_ok = now() - gap_grace;
    for e in &events {
        if e.id != expected
            && backend == Backend::Postgres
            && e.at > oldest_ok
            && !hole_is_abandoned(tx, expected, e.id).await?
        {
            waiting_on_gap = true;
            break;
        }
        expected = e.id + 1;
        take += 1;
    }
    events.truncate(take);
    Ok((events, waiting_on_gap))
}

/// What one dispatcher pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DispatchReport {
    /// Timeline events passed (mapped or not).
    pub events: usize,
    /// Deliveries inserted.
    pub deliveries: u64,
    /// The watermark after the pass.
    pub watermark: i64,
    /// A hole in the ids that is not old enough to pass holds the dispatcher.
    pub waiting_on_gap: bool,
}

/// When a failing subscriber is paused.
#[derive(Debug, Clone, Copy)]
pub struct PausePolicy {
    pub after_failures: u32,
    pub after: chrono::Duration,
}

/// How one attempt went.
#[derive(Debug, Clone)]
pub struct AttemptOutcome {
    /// Answered 2xx.
    pub ok: bool,
    pub status_code: Option<u16>,
    /// The transport error, or a short note on a non-2xx answer.
    pub error: Option<String>,
    pub duration_ms: i64,
    /// After a failure: when to try again.
    pub retry_at: Option<DateTime<Utc>>,
}

/// What recording an attempt changed for the subscriber.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptRecorded {
    /// The subscriber was paused by this attempt.
    pub paused: bool,
    pub consecutive_failures: i64,
}

/// A subscriber as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct SubscriberView {
    pub id: String,
    pub seller: String,
    /// Without credentials and query string.
    pub url: String,
    pub events: Vec<String>,
    /// `active` or `paused`.
    pub state: String,
    pub consecutive_failures: i64,
    pub first_failure_at: Option<DateTime<Utc>>,
    pub paused_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    /// Deliveries not delivered yet (pending or failed).
    pub pending: i64,
    pub delivered: i64,
    /// When the head delivery is tried next (None: as soon as possible).
    pub next_attempt_at: Option<DateTime<Utc>>,
}

/// One attempt as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct AttemptView {
    pub attempt: i32,
    pub at: DateTime<Utc>,
    pub status_code: Option<i32>,
    pub error: Option<String>,
    pub duration_ms: i64,
}

/// A delivery as the API shows it, with its attempts.
#[derive(Debug, Clone, Serialize)]
pub struct DeliveryView {
    pub id: i64,
    pub webhook_id: String,
    pub subscriber_id: String,
    pub order_event_id: i64,
    pub order_id: i64,
    pub event_type: String,
    pub status: String,
    pub attempt_count: i32,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub last_status_code: Option<i32>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
    /// The JSON body sent (signed as is).
    pub payload: Value,
    pub attempts: Vec<AttemptView>,
}

/// The filter of [`Store::webhook_deliveries`]; newest first.
#[derive(Debug, Clone, Default)]
pub struct DeliveryFilter {
    /// Only this seller's (a seller's token).
    pub seller: Option<String>,
    pub subscriber: Option<String>,
    pub status: Option<String>,
    pub order_id: Option<i64>,
    pub limit: u64,
}

/// A URL fit to show: no user, password, query or fragment.
pub fn redact_url(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut u) => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.set_query(None);
            u.set_fragment(None);
            u.to_string()
        }
        Err(_) => String::new(),
    }
}

impl Store {
    /// Make the configured subscribers' rows exist and match config (seller,
    /// URL, events); their state (active/paused, failures) is kept.
    pub async fn sync_webhook_subscribers(
        &self,
        subs: &[WebhookSubscriberSettings],
    ) -> Result<(), DbErr> {
        for s in subs {
            let events = serde_json::to_string(&s.events).unwrap_or_else(|_| "[]".into());
            let at = now();
            let row = subscriber::ActiveModel {
                id: Set(s.id.clone()),
                seller_id: Set(s.seller.clone()),
                url: Set(s.url.clone()),
                events: Set(events.clone()),
                state: Set(SUBSCRIBER_ACTIVE.into()),
                consecutive_failures: Set(0),
                first_failure_at: Set(None),
                paused_at: Set(None),
                last_error: Set(None),
                last_attempt_at: Set(None),
                lease_owner: Set(None),
                lease_until_ms: Set(None),
                created_at: Set(at),
                updated_at: Set(at),
            };
            subscriber::Entity::insert(row)
                .on_conflict_do_nothing_on([subscriber::Column::Id])
                .exec_without_returning(&self.db)
                .await?;
            subscriber::Entity::update_many()
                .col_expr(subscriber::Column::SellerId, Expr::value(s.seller.clone()))
                .col_expr(subscriber::Column::Url, Expr::value(s.url.clone()))
                .col_expr(subscriber::Column::Events, Expr::value(events))
                .filter(subscriber::Column::Id.eq(s.id.as_str()))
                .filter(
                    Condition::any()
                        .add(subscriber::Column::SellerId.ne(s.seller.as_str()))
                        .add(subscriber::Column::Url.ne(s.url.as_str()))
                        .add(
                            subscriber::Column::Events
                                .ne(serde_json::to_string(&s.events).unwrap_or_default()),
                        ),
                )
                .exec(&self.db)
                .await?;
        }
        Ok(())
    }

    /// The dispatcher's watermark (the last order event id passed).
    pub async fn notification_watermark(&self) -> Result<i64, DbErr> {
        Ok(watermark::Entity::find_by_id(1)
            .one(&self.db)
            .await?
            .map_or(0, |w| w.last_event_id))
    }

    /// One dispatcher pass over at most `batch` timeline events after the
    /// watermark (see the module doc).
    pub async fn dispatch_notifications(
        &self,
        subs: &[WebhookSubscriberSettings],
        batch: u64,
        gap_grace: chrono::Duration,
    ) -> Result<DispatchReport, DbErr> {
        let tx = self.begin_write().await?;
        let mark = match watermark::Entity::find_by_id(1)
            .lock_exclusive()
            .one(&tx)
            .await?
        {
            Some(w) => w.last_event_id,
            None => {
                // The migration makes the row; be safe if someone deleted it.
                let max: Option<i64> = order_event::Entity::find()
                    .select_only()
                    .column_as(order_event::Column::Id.max(), "m")
                    .into_tuple::<Option<i64>>()
                    .one(&tx)
                    .await?
                    .flatten();
                let m = max.unwrap_or(0);
                watermark::Entity::insert(watermark::ActiveModel {
                    id: Set(1),
                    last_event_id: Set(m),
                })
                .on_conflict_do_nothing_on([watermark::Column::Id])
                .exec_without_returning(&tx)
                .await?;
                tx.commit().await?;
                return Ok(DispatchReport {
                    watermark: m,
                    ..Default::default()
                });
            }
        };
        let (events, waiting_on_gap) =
            events_after(&tx, self.backend(), mark, batch, gap_grace).await?;
        let events = &events[..];
        let Some(last) = events.last().map(|e| e.id) else {
            tx.rollback().await?;
            return Ok(DispatchReport {
                watermark: mark,
                waiting_on_gap,
                ..Default::default()
            });
        };
        let mut deliveries = 0;
        if !subs.is_empty() {
            let mapped: Vec<(&order_event::Model, &'static str, Value)> = events
                .iter()
                .filter_map(|e| {
                    let detail = serde_json::from_str::<Value>(&e.detail).unwrap_or(Value::Null);
                    notification_type(&e.kind, &detail).map(|t| (e, t, detail))
                })
                .filter(|(_, t, _)| subs.iter().any(|s| s.wants(t)))
                .collect();
            let order_ids: BTreeSet<i64> = mapped.iter().map(|(e, _, _)| e.order_id).collect();
            let ship_ids: BTreeSet<i64> = mapped
                .iter()
                .filter_map(|(_, _, d)| d["shipment_id"].as_i64())
                .collect();
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
            let ships: BTreeMap<i64, shipment::Model> = if ship_ids.is_empty() {
                BTreeMap::new()
            } else {
                shipment::Entity::find()
                    .filter(shipment::Column::Id.is_in(ship_ids))
                    .all(&tx)
                    .await?
                    .into_iter()
                    .map(|s| (s.id, s))
                    .collect()
            };
            let at = now();
            let mut rows = Vec::new();
            for (e, t, d) in &mapped {
                let Some(o) = orders.get(&e.order_id) else {
                    continue;
                };
                let ship = d["shipment_id"].as_i64().and_then(|id| ships.get(&id));
                let body = payload(t, e, o, ship).to_string();
                for s in subs
                    .iter()
                    .filter(|s| s.seller == o.seller_id && s.wants(t))
                {
                    rows.push(delivery::ActiveModel {
                        subscriber_id: Set(s.id.clone()),
                        seller_id: Set(o.seller_id.clone()),
                        order_event_id: Set(e.id),
                        order_id: Set(o.id),
                        event_type: Set(t.to_string()),
                        body: Set(body.clone()),
                        status: Set(DELIVERY_PENDING.into()),
                        attempts: Set(0),
                        next_attempt_at: Set(None),
                        last_status_code: Set(None),
                        last_error: Set(None),
                        created_at: Set(at),
                        delivered_at: Set(None),
                        ..Default::default()
                    });
                }
            }
            for chunk in rows.chunks(200) {
                if let sea_orm::TryInsertResult::Inserted(n) =
                    delivery::Entity::insert_many(chunk.to_vec())
                        .on_conflict_do_nothing_on([
                            delivery::Column::SubscriberId,
                            delivery::Column::OrderEventId,
                        ])
                        .exec_without_returning(&tx)
                        .await?
                {
                    deliveries += n;
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
        Ok(DispatchReport {
            events: events.len(),
            deliveries,
            watermark: last,
            waiting_on_gap,
        })
    }

    /// Take (or renew) a subscriber's sending lease: only while it is
    /// active, and when the lease is free, expired or already ours.
    pub async fn claim_webhook_subscriber(
        &self,
        id: &str,
        owner: &str,
        ttl_ms: i64,
    ) -> Result<bool, DbErr> {
        let now_ms = now().timestamp_millis();
        let res = subscriber::Entity::update_many()
            .col_expr(subscriber::Column::LeaseOwner, Expr::value(owner))
            .col_expr(
                subscriber::Column::LeaseUntilMs,
                Expr::value(now_ms + ttl_ms),
            )
            .filter(subscriber::Column::Id.eq(id))
            .filter(subscriber::Column::State.eq(SUBSCRIBER_ACTIVE))
            .filter(
                Condition::any()
                    .add(subscriber::Column::LeaseUntilMs.is_null())
                    .add(subscriber::Column::LeaseUntilMs.lt(now_ms))
                    .add(subscriber::Column::LeaseOwner.eq(owner)),
            )
            .exec(&self.db)
            .await?;
        Ok(res.rows_affected == 1)
    }

    /// Give a subscriber's lease back (if it is still ours).
    pub async fn release_webhook_subscriber(&self, id: &str, owner: &str) -> Result<(), DbErr> {
        subscriber::Entity::update_many()
            .col_expr(
                subscriber::Column::LeaseOwner,
                Expr::value(Option::<String>::None),
            )
            .col_expr(
                subscriber::Column::LeaseUntilMs,
                Expr::value(Option::<i64>::None),
            )
            .filter(subscriber::Column::Id.eq(id))
            .filter(subscriber::Column::LeaseOwner.eq(owner))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// A subscriber's head: its oldest delivery (by order event) not delivered.
    pub async fn head_webhook_delivery(
        &self,
        subscriber_id: &str,
    ) -> Result<Option<delivery::Model>, DbErr> {
        delivery::Entity::find()
            .filter(delivery::Column::SubscriberId.eq(subscriber_id))
            .filter(delivery::Column::Status.is_in([DELIVERY_PENDING, DELIVERY_FAILED]))
            .order_by_asc(delivery::Column::OrderEventId)
            .limit(1)
            .one(&self.db)
            .await
    }

    /// Record one attempt at `d`, and what it means for the delivery and its
    /// subscriber (failures counted, paused per `policy`), in one transaction.
    pub async fn record_webhook_attempt(
        &self,
        d: &delivery::Model,
        outcome: &AttemptOutcome,
        policy: PausePolicy,
    ) -> Result<AttemptRecorded, DbErr> {
        let tx = self.begin_write().await?;
        let at = now();
        let sub = subscriber::Entity::find_by_id(d.subscriber_id.clone())
            .lock_exclusive()
            .one(&tx)
            .await?
            .ok_or_else(|| DbErr::RecordNotFound(format!("subscriber {}", d.subscriber_id)))?;
        let current = delivery::Entity::find_by_id(d.id)
            .lock_exclusive()
            .one(&tx)
            .await?
            .ok_or_else(|| DbErr::RecordNotFound(format!("delivery {}", d.id)))?;
        let attempt_no = current.attempts + 1;
        attempt::Entity::insert(attempt::ActiveModel {
            delivery_id: Set(d.id),
            attempt_no: Set(attempt_no),
            at: Set(at),
            status_code: Set(outcome.status_code.map(i32::from)),
            error: Set(outcome.error.clone()),
            duration_ms: Set(outcome.duration_ms),
            ..Default::default()
        })
        .exec_without_returning(&tx)
        .await?;
        let code = outcome.status_code.map(i32::from);
        let mut upd = delivery::Entity::update_many()
            .col_expr(delivery::Column::Attempts, Expr::value(attempt_no))
            .col_expr(delivery::Column::LastStatusCode, Expr::value(code))
            .col_expr(
                delivery::Column::LastError,
                Expr::value(outcome.error.clone()),
            );
        upd = if outcome.ok {
            upd.col_expr(delivery::Column::Status, Expr::value(DELIVERY_DELIVERED))
                .col_expr(delivery::Column::DeliveredAt, Expr::value(Some(at)))
                .col_expr(
                    delivery::Column::NextAttemptAt,
                    Expr::value(Option::<DateTime<Utc>>::None),
                )
        } else if current.status == DELIVERY_DELIVERED {
            upd // a late failure of a copy sent twice never undoes a success
        } else {
            upd.col_expr(delivery::Column::Status, Expr::value(DELIVERY_FAILED))
                .col_expr(
                    delivery::Column::NextAttemptAt,
                    Expr::value(outcome.retry_at),
                )
        };
        upd.filter(delivery::Column::Id.eq(d.id)).exec(&tx).await?;
        let mut s = subscriber::Entity::update_many()
            .col_expr(subscriber::Column::LastAttemptAt, Expr::value(Some(at)))
            .col_expr(subscriber::Column::UpdatedAt, Expr::value(at))
            .filter(subscriber::Column::Id.eq(d.subscriber_id.as_str()));
        let recorded = if outcome.ok {
            s = s
                .col_expr(subscriber::Column::ConsecutiveFailures, Expr::value(0i64))
                .col_expr(
                    subscriber::Column::FirstFailureAt,
                    Expr::value(Option::<DateTime<Utc>>::None),
                )
                .col_expr(
                    subscriber::Column::LastError,
                    Expr::value(Option::<String>::None),
                );
            AttemptRecorded {
                paused: false,
                consecutive_failures: 0,
            }
        } else {
            let failures = sub.consecutive_failures + 1;
            let first = sub.first_failure_at.unwrap_or(at);
            let paused = sub.state == SUBSCRIBER_ACTIVE
                && failures >= i64::from(policy.after_failures)
                && at - first >= policy.after;
            s = s
                .col_expr(
                    subscriber::Column::ConsecutiveFailures,
                    Expr::value(failures),
                )
                .col_expr(subscriber::Column::FirstFailureAt, Expr::value(Some(first)))
                .col_expr(
                    subscriber::Column::LastError,
                    Expr::value(outcome.error.clone()),
                );
            if paused {
                s = s
                    .col_expr(subscriber::Column::State, Expr::value(SUBSCRIBER_PAUSED))
                    .col_expr(subscriber::Column::PausedAt, Expr::value(Some(at)))
                    .col_expr(
                        subscriber::Column::LeaseOwner,
                        Expr::value(Option::<String>::None),
                    )
                    .col_expr(
                        subscriber::Column::LeaseUntilMs,
                        Expr::value(Option::<i64>::None),
                    );
            }
            AttemptRecorded {
                paused,
                consecutive_failures: failures,
            }
        };
        s.exec(&tx).await?;
        tx.commit().await?;
        Ok(recorded)
    }

    /// Resume a subscriber (paused or not): active, failures forgotten, and
    /// every kept delivery due now, in order. False if there is no such
    /// subscriber.
    pub async fn resume_webhook_subscriber(&self, id: &str) -> Result<bool, DbErr> {
        let tx = self.begin_write().await?;
        let res = subscriber::Entity::update_many()
            .col_expr(subscriber::Column::State, Expr::value(SUBSCRIBER_ACTIVE))
            .col_expr(subscriber::Column::ConsecutiveFailures, Expr::value(0i64))
            .col_expr(
                subscriber::Column::FirstFailureAt,
                Expr::value(Option::<DateTime<Utc>>::None),
            )
            .col_expr(
                subscriber::Column::PausedAt,
                Expr::value(Option::<DateTime<Utc>>::None),
            )
            .col_expr(subscriber::Column::UpdatedAt, Expr::value(now()))
            .filter(subscriber::Column::Id.eq(id))
            .exec(&tx)
            .await?;
        if res.rows_affected == 0 {
            tx.rollback().await?;
            return Ok(false);
        }
        delivery::Entity::update_many()
            .col_expr(
                delivery::Column::NextAttemptAt,
                Expr::value(Option::<DateTime<Utc>>::None),
            )
            .filter(delivery::Column::SubscriberId.eq(id))
            .filter(delivery::Column::Status.is_in([DELIVERY_PENDING, DELIVERY_FAILED]))
            .exec(&tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// The seller a subscriber belongs to (None: no such subscriber).
    pub async fn webhook_subscriber_seller(&self, id: &str) -> Result<Option<String>, DbErr> {
        Ok(subscriber::Entity::find_by_id(id.to_string())
            .one(&self.db)
            .await?
            .map(|s| s.seller_id))
    }

    /// Subscribers (of one seller, or all), by id, with their counts.
    pub async fn webhook_subscribers(
        &self,
        seller: Option<&str>,
    ) -> Result<Vec<SubscriberView>, DbErr> {
        let mut q = subscriber::Entity::find().order_by_asc(subscriber::Column::Id);
        if let Some(s) = seller {
            q = q.filter(subscriber::Column::SellerId.eq(s));
        }
        let subs = q.all(&self.db).await?;
        let mut out = Vec::with_capacity(subs.len());
        for s in subs {
            out.push(self.subscriber_view(s).await?);
        }
        Ok(out)
    }

    /// One subscriber, with its counts.
    pub async fn webhook_subscriber(&self, id: &str) -> Result<Option<SubscriberView>, DbErr> {
        match subscriber::Entity::find_by_id(id.to_string())
            .one(&self.db)
            .await?
        {
            Some(s) => Ok(Some(self.subscriber_view(s).await?)),
            None => Ok(None),
        }
    }

    async fn subscriber_view(&self, s: subscriber::Model) -> Result<SubscriberView, DbErr> {
        let counts: Vec<(String, i64)> = delivery::Entity::find()
            .select_only()
            .column(delivery::Column::Status)
            .column_as(delivery::Column::Id.count(), "n")
            .filter(delivery::Column::SubscriberId.eq(s.id.as_str()))
            .group_by(delivery::Column::Status)
            .into_tuple()
            .all(&self.db)
            .await?;
        let count = |want: &[&str]| {
            counts
                .iter()
                .filter(|(st, _)| want.contains(&st.as_str()))
                .map(|(_, n)| *n)
                .sum::<i64>()
        };
        let head = self.head_webhook_delivery(&s.id).await?;
        Ok(SubscriberView {
            pending: count(&[DELIVERY_PENDING, DELIVERY_FAILED]),
            delivered: count(&[DELIVERY_DELIVERED]),
            next_attempt_at: head.and_then(|h| h.next_attempt_at),
            events: serde_json::from_str(&s.events).unwrap_or_default(),
            url: redact_url(&s.url),
            id: s.id,
            seller: s.seller_id,
            state: s.state,
            consecutive_failures: s.consecutive_failures,
            first_failure_at: s.first_failure_at,
            paused_at: s.paused_at,
            last_error: s.last_error,
            last_attempt_at: s.last_attempt_at,
        })
    }

    /// Deliveries matching `f`, newest first, each with its attempts.
    pub async fn webhook_deliveries(&self, f: &DeliveryFilter) -> Result<Vec<DeliveryView>, DbErr> {
        let mut q = delivery::Entity::find().order_by_desc(delivery::Column::Id);
        if let Some(s) = &f.seller {
            q = q.filter(delivery::Column::SellerId.eq(s.as_str()));
        }
        if let Some(s) = &f.subscriber {
            q = q.filter(delivery::Column::SubscriberId.eq(s.as_str()));
        }
        if let Some(s) = &f.status {
            q = q.filter(delivery::Column::Status.eq(s.as_str()));
        }
        if let Some(o) = f.order_id {
            q = q.filter(delivery::Column::OrderId.eq(o));
        }
        let rows = q.limit(f.limit.clamp(1, 1000)).all(&self.db).await?;
        let ids: Vec<i64> = rows.iter().map(|d| d.id).collect();
        let mut attempts: BTreeMap<i64, Vec<AttemptView>> = BTreeMap::new();
        if !ids.is_empty() {
            for a in attempt::Entity::find()
                .filter(attempt::Column::DeliveryId.is_in(ids))
                .order_by_asc(attempt::Column::Id)
                .all(&self.db)
                .await?
            {
                attempts
                    .entry(a.delivery_id)
                    .or_default()
                    .push(AttemptView {
                        attempt: a.attempt_no,
                        at: a.at,
                        status_code: a.status_code,
                        error: a.error,
                        duration_ms: a.duration_ms,
                    });
            }
        }
        Ok(rows
            .into_iter()
            .map(|d| DeliveryView {
                webhook_id: d.webhook_id(),
                attempts: attempts.remove(&d.id).unwrap_or_default(),
                payload: serde_json::from_str(&d.body).unwrap_or(Value::Null),
                id: d.id,
                subscriber_id: d.subscriber_id,
                order_event_id: d.order_event_id,
                order_id: d.order_id,
                event_type: d.event_type,
                status: d.status,
                attempt_count: d.attempts,
                next_attempt_at: d.next_attempt_at,
                last_status_code: d.last_status_code,
                last_error: d.last_error,
                created_at: d.created_at,
                delivered_at: d.delivered_at,
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeline_kinds_map_to_types() {
        let none = Value::Null;
        assert_eq!(notification_type("synced", &none), Some("order.created"));
        assert_eq!(notification_type("note", &none), Some("order.note_added"));
        assert_eq!(notification_type("rate_chosen", &none), None);
        assert_eq!(notification_type("whatever", &none), None);
        for (status, want) in [
            ("in_transit", "shipment.in_transit"),
            ("out_for_delivery", "shipment.out_for_delivery"),
            ("delivered", "shipment.delivered"),
            ("pre_transit", "shipment.tracking_updated"),
            ("failure", "shipment.tracking_updated"),
        ] {
            assert_eq!(
                notification_type("tracking_event", &json!({ "status": status })),
                Some(want)
            );
        }
        // Every type produced is one config accepts.
        for kind in [
            "synced",
            "updated",
            "status_changed",
            "routed",
            "backordered",
            "exception",
            "note",
            "label_bought",
            "tracking_pushed",
            "tracking_event",
            "voided",
        ] {
            let t = notification_type(kind, &none).unwrap();
            assert!(crate::config::NOTIFICATION_EVENT_TYPES.contains(&t), "{t}");
        }
    }

    #[test]
    fn urls_are_shown_without_credentials() {
        assert_eq!(
            redact_url("https://u:p@hooks.example/in?token=s3cret#x"),
            "https://hooks.example/in"
        );
        assert_eq!(redact_url("not a url"), "");
    }
}
