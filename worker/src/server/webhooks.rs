//! Webhooks from channels and carriers: verify the signature on the raw
//! bytes, store the delivery in the inbox (deduplicated by its delivery id),
//! and only then acknowledge (invariant 6). Deliveries arriving together
//! are stored together, in one transaction ([`crate::ingest_batch`]).
//!
//! `POST /webhooks/channels/{channel_id}`: the order it carries is applied
//! after the answer (`stored`), by the ingest's applier or, after a crash,
//! the scheduler's sweep ([`sweep_unapplied`]); a payload we cannot map is
//! quarantined then. `POST /webhooks/carriers/{carrier_id}`: see
//! [`carrier_webhook`].

use super::ApiError;
use crate::app::App;
use crate::ingest_batch::{Delivery, Source};
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use orderhub_connectors::{VerifiedWebhook, WebhookError, WebhookOrder};
use std::sync::Arc;

type WebhookAnswer = Result<(StatusCode, Json<serde_json::Value>), ApiError>;

fn answer(status: &str) -> WebhookAnswer {
    Ok((
        StatusCode::OK,
        Json(serde_json::json!({ "status": status })),
    ))
}

/// The part every webhook shares: the signature checked on the raw bytes
/// (401), the body stored in the inbox under its delivery id before any
/// answer (group commit). `Ok(None)` for a delivery stored before (a
/// replay). The body is handed over as it came (no copy).
async fn verify_and_store(
    app: &Arc<App>,
    source: Source,
    source_id: &str,
    verified: Result<VerifiedWebhook, WebhookError>,
    body: Bytes,
) -> Result<Option<i64>, ApiError> {
    let verified = verified.map_err(|e| {
        tracing::warn!(source = source.as_str(), source_id, reason = %e, "webhook rejected");
        ApiError(StatusCode::UNAUTHORIZED, e.to_string())
    })?;
    if std::str::from_utf8(&body).is_err() {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            "body is not UTF-8".into(),
        ));
    }
    // No text column takes a NUL (PostgreSQL refuses it): bad input, a 4xx.
    if body.contains(&0) || verified.delivery_id.contains('\0') || verified.topic.contains('\0') {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            "NUL byte in the delivery".into(),
        ));
    }
    let delivery_id = verified.delivery_id;
    let inbox_id = app
        .ingest
        .store(
            app,
            Delivery {
                source,
                source_id: source_id.to_string(),
                delivery_id: delivery_id.clone(),
                topic: verified.topic,
                body,
            },
        )
        .await
        .map_err(|_| ApiError(StatusCode::SERVICE_UNAVAILABLE, "store unavailable".into()))?;
    if inbox_id.is_none() {
        tracing::info!(source = source.as_str(), source_id, delivery = %delivery_id, "duplicate webhook ignored");
    }
    Ok(inbox_id)
}

/// `/metrics`: count a delivery by the answer it got.
fn counted(source: &'static str, known_id: Option<&str>, answer: WebhookAnswer) -> WebhookAnswer {
    let result = match &answer {
        Ok((_, Json(v))) if v["status"] == "duplicate" => "duplicate",
        Ok(_) => "accepted",
        Err(ApiError(StatusCode::NOT_FOUND, _)) => "unknown",
        Err(ApiError(status, _)) if status.is_server_error() => "error",
        Err(_) => "rejected",
    };
    super::metrics::count_webhook(source, known_id, result);
    answer
}

pub async fn channel_webhook(
    State(app): State<Arc<App>>,
    Path(channel_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> WebhookAnswer {
    let known = app
        .channels
        .contains_key(&channel_id)
        .then(|| channel_id.clone());
    let answer = receive_channel_webhook(State(app), Path(channel_id), headers, body).await;
    counted("channel", known.as_deref(), answer)
}

async fn receive_channel_webhook(
    State(app): State<Arc<App>>,
    Path(channel_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> WebhookAnswer {
    let Some(channel) = app.channels.get(&channel_id) else {
        return Err(ApiError(StatusCode::NOT_FOUND, "unknown channel".into()));
    };
    let verified = channel.connector.verify_webhook(&headers, &body);
    match verify_and_store(&app, Source::Channel, &channel_id, verified, body).await? {
        // Stored: applied next by the ingest's applier (or the sweep).
        Some(_) => answer("stored"),
        None => answer("duplicate"),
    }
}

/// Apply a stored delivery: upsert its order (newest wins) or quarantine it,
/// then mark the inbox row processed. Used by the sweeper that finishes
/// deliveries a crash (or a store error) left unapplied, and by the ingest's
/// applier when applying a whole batch at once failed.
pub async fn apply(
    app: &App,
    channel: &crate::app::Channel,
    inbox_id: i64,
    topic: &str,
    body: &[u8],
) -> Result<String, sea_orm::DbErr> {
    let s = &channel.settings;
    let order = match channel.connector.order_from_webhook(topic, body) {
        Ok(WebhookOrder::Order(order)) => order,
        Ok(WebhookOrder::Changed { external_id }) => {
            // The event names the order only: poll the channel now; its
            // overlapping window picks the change up. If the enqueue fails,
            // the scheduler's next tick polls anyway.
            if let Err(e) = app
                .queue
                .poll
                .push(crate::jobs::PollChannel {
                    channel_id: s.id.clone(),
                })
                .await
            {
                tracing::warn!(channel = %s.id, error = %e, "enqueue PollChannel failed; the next scheduled poll picks the change up");
            }
            app.store.mark_webhook_processed(inbox_id, None).await?;
            tracing::info!(channel = %s.id, order = %external_id, "order changed; polling the channel");
            return Ok("poll_scheduled".into());
        }
        Ok(WebhookOrder::Ignored) => {
            app.store.mark_webhook_processed(inbox_id, None).await?;
            return Ok("ignored".into());
        }
        Err(q) => {
            app.store.quarantine(&s.id, "webhook", &q).await?;
            app.store
                .mark_webhook_processed(inbox_id, Some(&q.reason))
                .await?;
            return Ok("quarantined".into());
        }
    };
    Ok(
        match app.store.upsert_order(&s.seller, &s.id, &order).await {
            Ok(out) => {
                if let orderhub_core::store::UpsertOutcome::Inserted(order_id) = out {
                    // A new order that came by webhook before any poll saw it
                    // is routed like a polled one.
                    if let Err(e) = app
                        .queue
                        .route
                        .push(crate::jobs::RouteOrder { order_id })
                        .await
                    {
                        tracing::error!(channel = %s.id, order_id, error = %e, "enqueue RouteOrder failed; the order stays awaiting");
                    }
                }
                app.store.mark_webhook_processed(inbox_id, None).await?;
                format!("{out:?}")
            }
            Err(e) => {
                // Stored in the inbox already and acknowledged; left
                // unprocessed so the sweeper tries again.
                tracing::error!(channel = %s.id, error = %e, "applying webhook failed");
                "stored".into()
            }
        },
    )
}

/// Apply deliveries stored more than `grace` ago and never applied.
pub async fn sweep_unapplied(app: &App, grace: chrono::Duration) -> Result<usize, sea_orm::DbErr> {
    let rows = app
        .store
        .unapplied_webhooks("channel", chrono::Utc::now() - grace, 100)
        .await?;
    let mut applied = 0;
    for row in rows {
        let Some(channel) = app.channels.get(&row.source_id) else {
            continue;
        };
        apply(app, channel, row.id, &row.topic, row.body.as_bytes()).await?;
        applied += 1;
    }
    Ok(applied)
}

/// `POST /webhooks/carriers/{carrier_id}` (invariant 6): the signature is
/// checked on the raw bytes (401 when missing or wrong), the event is stored
/// in the inbox, deduplicated by the carrier's event id, before the 200; then
/// ApplyTrackingEvent does the rest. A replay is acknowledged and ignored.
pub async fn carrier_webhook(
    State(app): State<Arc<App>>,
    Path(carrier_id): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> WebhookAnswer {
    let known = app
        .carriers
        .contains_key(&carrier_id)
        .then(|| carrier_id.clone());
    let answer =
        receive_carrier_webhook(State(app), Path(carrier_id), RawQuery(query), headers, body).await;
    counted("carrier", known.as_deref(), answer)
}

async fn receive_carrier_webhook(
    State(app): State<Arc<App>>,
    Path(carrier_id): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> WebhookAnswer {
    let Some(carrier) = app.carriers.get(&carrier_id) else {
        return Err(ApiError(StatusCode::NOT_FOUND, "unknown carrier".into()));
    };
    // The query may carry the carrier's URL token (Shippo); it is checked,
    // never logged.
    let verified = carrier
        .connector
        .verify_webhook_request(query.as_deref(), &headers, &body);
    // Stored, and its ApplyTrackingEvent enqueued with the rest of its batch
    // before the answer; if that enqueue fails, the scheduler's sweep
    // enqueues it later.
    match verify_and_store(&app, Source::Carrier, &carrier_id, verified, body).await? {
        Some(_) => answer("accepted"),
        None => answer("duplicate"),
    }
}

/// Carrier events stored more than `grace` ago and not applied: enqueue
/// ApplyTrackingEvent again (it does nothing for rows applied meanwhile).
pub async fn sweep_carrier_events(app: &App, grace: chrono::Duration) -> anyhow::Result<usize> {
    let rows = app
        .store
        .unapplied_webhooks("carrier", chrono::Utc::now() - grace, 100)
        .await?;
    for row in &rows {
        app.queue
            .tracking_event
            .push(crate::jobs::ApplyTrackingEvent { inbox_id: row.id })
            .await?;
    }
    Ok(rows.len())
}
