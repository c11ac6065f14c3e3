//! The ops API for outbound notification webhooks (bearer token): the
//! subscribers with their delivery state, their deliveries with every
//! attempt, and resuming a paused subscriber. A seller's token sees its own
//! subscribers and deliveries only; another seller's subscriber is a 404.

use super::auth::Caller;
use super::ApiError;
use crate::app::App;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use orderhub_core::store::{DeliveryFilter, DELIVERY_STATUSES};
use serde::Deserialize;
use std::sync::Arc;

pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/api/webhooks/subscribers", get(list_subscribers))
        .route(
            "/api/webhooks/subscribers/{id}/resume",
            post(resume_subscriber),
        )
        .route("/api/webhooks/deliveries", get(list_deliveries))
}

fn bad_request(msg: impl Into<String>) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, msg.into())
}

/// The configured outbound webhook subscribers the caller may see, by id,
/// each with its state (`active`, or `paused` after repeated failures),
/// consecutive failures, and deliveries pending and delivered.
#[utoipa::path(
    get,
    path = "/api/webhooks/subscribers",
    tag = "ops",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The subscribers with their delivery state", body = SubscriberList),
        (status = 401, description = "Missing or wrong bearer token", body = super::openapi::ErrorBody),
        (status = 503, description = "The store is unavailable", body = super::openapi::ErrorBody),
    )
)]
pub async fn list_subscribers(
    caller: Caller,
    State(app): State<Arc<App>>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let subs = app.store.webhook_subscribers(caller.scope()).await?;
    Ok(Json(serde_json::json!({ "subscribers": subs })))
}

/// Resume a subscriber: it becomes `active`, its failures are forgotten and
/// every delivery kept while it was paused (or waiting for a retry) is sent
/// now, in order. Harmless on an active subscriber.
#[utoipa::path(
    post,
    path = "/api/webhooks/subscribers/{id}/resume",
    tag = "ops",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The subscriber's configured id")),
    responses(
        (status = 200, description = "The subscriber, active again", body = Subscriber),
        (status = 400, description = "The id holds NUL", body = super::openapi::ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = super::openapi::ErrorBody),
        (status = 404, description = "No such subscriber (or another seller's)", body = super::openapi::ErrorBody),
        (status = 503, description = "The store is unavailable", body = super::openapi::ErrorBody),
    )
)]
pub async fn resume_subscriber(
    caller: Caller,
    State(app): State<Arc<App>>,
    id: Result<Path<String>, axum::extract::rejection::PathRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Path(id) = id.map_err(|e| bad_request(e.body_text()))?;
    if id.contains('\0') {
        return Err(bad_request("id must not contain NUL"));
    }
    let not_found = || ApiError(StatusCode::NOT_FOUND, "no such subscriber".into());
    let seller = app
        .store
        .webhook_subscriber_seller(&id)
        .await?
        .ok_or_else(not_found)?;
    caller.check(&seller).map_err(|_| not_found())?;
    if !app.store.resume_webhook_subscriber(&id).await? {
        return Err(not_found());
    }
    tracing::info!(subscriber = %id, "webhook subscriber resumed");
    let view = app
        .store
        .webhook_subscriber(&id)
        .await?
        .ok_or_else(not_found)?;
    Ok(Json(serde_json::to_value(&view).unwrap_or_default()))
}

/// The query of `GET /api/webhooks/deliveries`.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveriesQuery {
    /// Only this subscriber's (an unknown or unseen id matches nothing).
    pub subscriber: Option<String>,
    /// `pending`, `delivered` or `failed` (the last attempt failed; retried later).
    pub status: Option<String>,
    /// Only notifications about this order.
    pub order_id: Option<i64>,
    /// At most this many, 1 to 500 (default 50).
    pub limit: Option<u64>,
}

/// Deliveries the caller may see, newest first, each with its attempts
/// (time, HTTP status or error, duration) and the JSON body sent.
#[utoipa::path(
    get,
    path = "/api/webhooks/deliveries",
    tag = "ops",
    security(("bearer" = [])),
    params(DeliveriesQuery),
    responses(
        (status = 200, description = "The deliveries, newest first", body = DeliveryList),
        (status = 400, description = "A bad parameter (named in the message)", body = super::openapi::ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = super::openapi::ErrorBody),
        (status = 503, description = "The store is unavailable", body = super::openapi::ErrorBody),
    )
)]
pub async fn list_deliveries(
    caller: Caller,
    State(app): State<Arc<App>>,
    q: Result<Query<DeliveriesQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Query(q) = q.map_err(|e| bad_request(e.body_text()))?;
    if q.subscriber.as_deref().is_some_and(|s| s.contains('\0')) {
        return Err(bad_request("subscriber must not contain NUL"));
    }
    if let Some(s) = &q.status {
        if !DELIVERY_STATUSES.contains(&s.as_str()) {
            return Err(bad_request(format!(
                "status must be one of {}",
                DELIVERY_STATUSES.join(", ")
            )));
        }
    }
    let limit = q.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(bad_request("limit must be 1 to 500"));
    }
    let filter = DeliveryFilter {
        seller: caller.scope().map(str::to_string),
        subscriber: q.subscriber,
        status: q.status,
        order_id: q.order_id,
        limit,
    };
    let deliveries = app.store.webhook_deliveries(&filter).await?;
    Ok(Json(serde_json::json!({ "deliveries": deliveries })))
}

// Schemas of the answers (they mirror `orderhub_core::store::outbound`'s
// views, which stay free of utoipa).

/// `GET /api/webhooks/subscribers`.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct SubscriberList {
    pub subscribers: Vec<Subscriber>,
}

/// An outbound webhook subscriber (`[[notifications.webhooks]]`) and its state.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct Subscriber {
    #[schema(example = "acme-erp")]
    pub id: String,
    /// The seller whose orders it is told about.
    pub seller: String,
    /// The URL, without credentials or query string.
    pub url: String,
    /// The event types it subscribed to (`*`: all).
    pub events: Vec<String>,
    /// `active`, or `paused` after `notifications.pause_after_failures`
    /// consecutive failures spanning `pause_after_hours`.
    #[schema(example = "active")]
    pub state: String,
    pub consecutive_failures: i64,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub first_failure_at: Option<String>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub paused_at: Option<String>,
    /// The last failed attempt's HTTP status or transport error.
    pub last_error: Option<String>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_attempt_at: Option<String>,
    /// Deliveries not delivered yet (pending or failed), kept while paused.
    pub pending: i64,
    pub delivered: i64,
    /// When the oldest undelivered delivery is tried next (null: now).
    #[schema(value_type = Option<String>, format = DateTime)]
    pub next_attempt_at: Option<String>,
}

/// `GET /api/webhooks/deliveries`.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct DeliveryList {
    pub deliveries: Vec<Delivery>,
}

/// One notification to one subscriber.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct Delivery {
    pub id: i64,
    /// The `webhook-id` header: the same on every retry.
    #[schema(example = "msg_1042_acme-erp")]
    pub webhook_id: String,
    pub subscriber_id: String,
    /// The order timeline event it reports.
    pub order_event_id: i64,
    pub order_id: i64,
    /// `order.created`, `order.status_changed`, `shipment.delivered`, ...
    #[schema(example = "order.created")]
    pub event_type: String,
    /// `pending`, `delivered` or `failed`.
    pub status: String,
    pub attempt_count: i32,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub next_attempt_at: Option<String>,
    pub last_status_code: Option<i32>,
    pub last_error: Option<String>,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub delivered_at: Option<String>,
    /// The JSON body sent: `{type, timestamp, data: {event_id, actor,
    /// change, order, shipment?}}`.
    pub payload: serde_json::Value,
    /// Every attempt, oldest first.
    pub attempts: Vec<DeliveryAttempt>,
}

/// One attempt at a delivery.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct DeliveryAttempt {
    pub attempt: i32,
    #[schema(format = DateTime)]
    pub at: String,
    /// The receiver's HTTP status (null: no answer).
    pub status_code: Option<i32>,
    /// The transport error or non-2xx note.
    pub error: Option<String>,
    pub duration_ms: i64,
}
