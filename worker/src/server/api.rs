//! The ops API (bearer token): channels with sync health, orders.

use super::ApiError;
use crate::app::App;
use crate::jobs_api::{self, JobFilter};
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use orderhub_core::store::OrderFilter;
use orderhub_core::OrderStatus;
use serde::Deserialize;
use std::sync::Arc;

pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/api/channels", get(channels))
        .route("/api/orders", get(list_orders))
        .route("/api/orders/{id}", get(show_order))
        .route("/api/jobs", get(list_jobs))
        .route("/api/jobs/{id}", get(show_job))
        .route("/api/jobs/{id}/retry", post(retry_job))
        .route("/api/jobs/{id}/cancel", post(cancel_job))
        .route("/api/openapi.json", get(super::openapi::document))
}

/// Proof that the request carried the ops token.
pub struct Authorized;

impl FromRequestParts<Arc<App>> for Authorized {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, ApiError> {
        let given = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        match (&app.api_token, given) {
            (Some(expected), Some(given))
                if constant_time_eq(expected.as_bytes(), given.as_bytes()) =>
            {
                Ok(Authorized)
            }
            _ => Err(ApiError(
                StatusCode::UNAUTHORIZED,
                "missing or wrong bearer token".into(),
            )),
        }
    }
}

/// Text that reaches the store as a parameter. PostgreSQL text cannot hold
/// NUL, so such input is a 400 here instead of a store error (503) there.
fn no_nul(name: &str, value: Option<&str>) -> Result<(), ApiError> {
    match value {
        Some(v) if v.contains('\0') => Err(ApiError(
            StatusCode::BAD_REQUEST,
            format!("{name} must not contain NUL"),
        )),
        _ => Ok(()),
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[utoipa::path(
    get,
    path = "/api/channels",
    tag = "ops",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Every channel with its sync health", body = super::openapi::ChannelList),
        (status = 401, description = "Missing or wrong bearer token", body = super::openapi::ErrorBody),
        (status = 503, description = "The store is unavailable", body = super::openapi::ErrorBody),
    )
)]
async fn channels(
    _: Authorized,
    State(app): State<Arc<App>>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let list = app.store.channel_statuses(None).await?;
    Ok(Json(serde_json::json!({ "channels": list })))
}

#[derive(Deserialize)]
struct OrdersQuery {
    channel: Option<String>,
    status: Option<String>,
    after: Option<i64>,
    limit: Option<u64>,
}

#[utoipa::path(
    get,
    path = "/api/orders",
    tag = "ops",
    security(("bearer" = [])),
    params(
        ("channel" = Option<String>, Query, description = "Only this channel's orders (the channel id)"),
        ("status" = inline(Option<super::openapi::OrderStatusName>), Query, description = "Only orders in this status"),
        ("after" = Option<i64>, Query, description = "Orders with an id greater than this: the previous page's `next_after`"),
        ("limit" = Option<u64>, Query, description = "Page size: 100 by default, at most 1000"),
    ),
    responses(
        (status = 200, description = "A page of orders by ascending id", body = super::openapi::OrderList),
        (status = 400, description = "Unknown status, a parameter of the wrong type, or NUL in a text parameter", body = super::openapi::ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = super::openapi::ErrorBody),
        (status = 503, description = "The store is unavailable", body = super::openapi::ErrorBody),
    )
)]
async fn list_orders(
    _: Authorized,
    State(app): State<Arc<App>>,
    q: Result<Query<OrdersQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Query(q) = q.map_err(|e| ApiError(StatusCode::BAD_REQUEST, e.body_text()))?;
    no_nul("channel", q.channel.as_deref())?;
    let status = match q.status.as_deref() {
        None => None,
        Some(s) => Some(
            s.parse::<OrderStatus>()
                .map_err(|e| ApiError(StatusCode::BAD_REQUEST, e))?,
        ),
    };
    let filter = OrderFilter {
        seller_id: None,
        channel_id: q.channel,
        status,
        after_id: q.after,
        limit: q.limit.unwrap_or(100).min(1000),
    };
    let rows = app.store.list_orders(&filter).await?;
    let next = if rows.len() as u64 == filter.limit {
        rows.last().map(|r| r.id)
    } else {
        None
    };
    let items: Vec<_> = rows
        .into_iter()
        .map(|o| {
            serde_json::json!({
                "id": o.id, "channel_id": o.channel_id, "external_id": o.external_id,
                "number": o.number, "status": o.status, "payment_status": o.payment_status,
                "total": o.total, "currency": o.currency, "placed_at": o.placed_at,
                "updated_at": o.updated_at, "customer_name": o.customer_name,
            })
        })
        .collect();
    Ok(Json(
        serde_json::json!({ "orders": items, "next_after": next }),
    ))
}

#[utoipa::path(
    get,
    path = "/api/orders/{id}",
    tag = "ops",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "The order's orderhub id")),
    responses(
        (status = 200, description = "The order as stored, with its lines", body = super::openapi::StoredOrder),
        (status = 400, description = "The id is not an integer", body = super::openapi::ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = super::openapi::ErrorBody),
        (status = 404, description = "No such order", body = super::openapi::ErrorBody),
        (status = 503, description = "The store is unavailable", body = super::openapi::ErrorBody),
    )
)]
async fn show_order(
    _: Authorized,
    State(app): State<Arc<App>>,
    id: Result<Path<i64>, axum::extract::rejection::PathRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Path(id) = id.map_err(|e| ApiError(StatusCode::BAD_REQUEST, e.body_text()))?;
    let Some(order) = app.store.get_order(id).await? else {
        return Err(ApiError(StatusCode::NOT_FOUND, "no such order".into()));
    };
    // The order with its shipments: warehouse, label, rate, tracking status
    // and timeline.
    let shipments = app.store.order_shipments(id).await?;
    let mut body = serde_json::to_value(&order).unwrap_or_default();
    body["shipments"] = serde_json::to_value(&shipments).unwrap_or_default();
    Ok(Json(body))
}

#[derive(Deserialize)]
struct JobsQuery {
    queue: Option<String>,
    status: Option<String>,
    channel: Option<String>,
    limit: Option<u64>,
}

#[utoipa::path(
    get,
    path = "/api/jobs",
    tag = "ops",
    security(("bearer" = [])),
    params(
        ("queue" = Option<String>, Query, description = "Only jobs of this queue (job type)"),
        ("status" = inline(Option<super::openapi::JobStatusName>), Query, description = "Only jobs in this status"),
        ("channel" = Option<String>, Query, description = "Only jobs whose arguments name this channel"),
        ("limit" = Option<u64>, Query, description = "At most this many jobs: 100 by default, 1 to 1000"),
    ),
    responses(
        (status = 200, description = "Jobs, newest first; failed ones stay until retried", body = super::openapi::JobList),
        (status = 400, description = "Unknown status, a parameter of the wrong type, or NUL in a text parameter", body = super::openapi::ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = super::openapi::ErrorBody),
        (status = 503, description = "The store is unavailable", body = super::openapi::ErrorBody),
    )
)]
async fn list_jobs(
    _: Authorized,
    State(app): State<Arc<App>>,
    q: Result<Query<JobsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Query(q) = q.map_err(|e| ApiError(StatusCode::BAD_REQUEST, e.body_text()))?;
    no_nul("queue", q.queue.as_deref())?;
    no_nul("channel", q.channel.as_deref())?;
    if let Some(s) = &q.status {
        if !jobs_api::STATUSES.contains(&s.as_str()) {
            return Err(ApiError(
                StatusCode::BAD_REQUEST,
                format!("status must be one of {}", jobs_api::STATUSES.join(", ")),
            ));
        }
    }
    let filter = JobFilter {
        queue: q.queue,
        status: q.status,
        channel: q.channel,
        limit: q.limit.unwrap_or(100),
    };
    let jobs = jobs_api::list(&app.store, &filter).await?;
    Ok(Json(serde_json::json!({ "jobs": jobs })))
}

#[utoipa::path(
    get,
    path = "/api/jobs/{id}",
    tag = "ops",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The job id")),
    responses(
        (status = 200, description = "The job", body = super::openapi::Job),
        (status = 400, description = "The id is not a valid job id (not UTF-8, or NUL)"),
        (status = 401, description = "Missing or wrong bearer token", body = super::openapi::ErrorBody),
        (status = 404, description = "No such job", body = super::openapi::ErrorBody),
        (status = 503, description = "The store is unavailable", body = super::openapi::ErrorBody),
    )
)]
async fn show_job(
    _: Authorized,
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
) -> Result<Json<jobs_api::JobRow>, ApiError> {
    no_nul("id", Some(&id))?;
    match jobs_api::get(&app.store, &id).await? {
        Some(j) => Ok(Json(j)),
        None => Err(ApiError(StatusCode::NOT_FOUND, "no such job".into())),
    }
}

/// Make a failed or cancelled job due now with fresh attempts.
#[utoipa::path(
    post,
    path = "/api/jobs/{id}/retry",
    tag = "ops",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The job id")),
    responses(
        (status = 200, description = "The job is pending again", body = super::openapi::JobAction),
        (status = 400, description = "The id is not a valid job id (not UTF-8, or NUL)"),
        (status = 401, description = "Missing or wrong bearer token", body = super::openapi::ErrorBody),
        (status = 404, description = "No such job", body = super::openapi::ErrorBody),
        (status = 409, description = "The job is neither Failed nor Killed", body = super::openapi::ErrorBody),
        (status = 503, description = "The store is unavailable", body = super::openapi::ErrorBody),
    )
)]
async fn retry_job(
    _: Authorized,
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    no_nul("id", Some(&id))?;
    job_action(
        &app,
        &id,
        jobs_api::retry(&app.store, &id).await?,
        "retried",
    )
    .await
}

/// Cancel a job that is not running; it stays listed as `Killed`.
#[utoipa::path(
    post,
    path = "/api/jobs/{id}/cancel",
    tag = "ops",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The job id")),
    responses(
        (status = 200, description = "The job is cancelled", body = super::openapi::JobAction),
        (status = 400, description = "The id is not a valid job id (not UTF-8, or NUL)"),
        (status = 401, description = "Missing or wrong bearer token", body = super::openapi::ErrorBody),
        (status = 404, description = "No such job", body = super::openapi::ErrorBody),
        (status = 409, description = "The job is neither Pending nor Failed", body = super::openapi::ErrorBody),
        (status = 503, description = "The store is unavailable", body = super::openapi::ErrorBody),
    )
)]
async fn cancel_job(
    _: Authorized,
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    no_nul("id", Some(&id))?;
    job_action(
        &app,
        &id,
        jobs_api::cancel(&app.store, &id).await?,
        "cancelled",
    )
    .await
}

/// 200 when the action applied, 404 for an unknown job, 409 when the job's
/// state does not allow it (e.g. retrying a job that is running).
async fn job_action(
    app: &App,
    id: &str,
    applied: bool,
    what: &str,
) -> Result<Json<serde_json::Value>, ApiError> {
    if applied {
        tracing::info!(job = %id, action = what, "job changed by ops");
        return Ok(Json(serde_json::json!({ "id": id, "status": what })));
    }
    match jobs_api::get(&app.store, id).await? {
        None => Err(ApiError(StatusCode::NOT_FOUND, "no such job".into())),
        Some(j) => Err(ApiError(
            StatusCode::CONFLICT,
            format!("job is {}; it cannot be {what}", j.status),
        )),
    }
}
