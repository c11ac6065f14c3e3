//! The ops API (bearer token): channels with sync health, orders.

use super::ApiError;
use crate::app::App;
use crate::jobs_api::{self, JobFilter};
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures::StreamExt;
use orderhub_core::store::{NoteRefusal, OrderCursor, OrderFilter, OrderSort};
use serde::Deserialize;
use std::sync::Arc;

pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/api/channels", get(channels))
        .route("/api/orders", get(list_orders))
        .route("/api/orders.csv", get(export_orders_csv))
        .route("/api/orders/{id}", get(show_order))
        .route("/api/orders/{id}/timeline", get(order_timeline))
        .route("/api/orders/{id}/notes", post(add_order_note))
        .route("/api/orders/{id}/status", post(change_order_status))
        .route("/api/jobs", get(list_jobs))
        .route("/api/jobs/{id}", get(show_job))
        .route("/api/jobs/{id}/retry", post(retry_job))
        .route("/api/jobs/{id}/cancel", post(cancel_job))
        .route("/api/openapi.json", get(super::openapi::document))
}

pub use super::auth::Caller;

/// Text that reaches the store as a parameter. PostgreSQL text cannot hold
/// NUL, so such input is a 400 here instead of a store error (503) there.
pub(crate) fn no_nul(name: &str, value: Option<&str>) -> Result<(), ApiError> {
    match value {
        Some(v) if v.contains('\0') => Err(ApiError(
            StatusCode::BAD_REQUEST,
            format!("{name} must not contain NUL"),
        )),
        _ => Ok(()),
    }
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
    caller: Caller,
    State(app): State<Arc<App>>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let list = app.store.channel_statuses(caller.scope()).await?;
    Ok(Json(serde_json::json!({ "channels": list })))
}

/// The query of `GET /api/orders` and `GET /api/orders.csv`.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct OrdersQuery {
    /// Only this channel's orders (the channel id).
    channel: Option<String>,
    /// Only orders in this status.
    #[param(inline, value_type = Option<super::openapi::OrderStatusName>)]
    status: Option<String>,
    /// Only this payment status.
    #[param(inline, value_type = Option<super::openapi::PaymentStatusName>)]
    payment_status: Option<String>,
    /// Only this fulfillment status.
    #[param(inline, value_type = Option<super::openapi::FulfillmentStatusName>)]
    fulfillment_status: Option<String>,
    /// Placed at or after this time (RFC 3339, e.g. `2025-01-31T00:00:00Z`; escape a `+` offset as `%2B`).
    #[param(format = DateTime)]
    placed_from: Option<String>,
    /// Placed strictly before this time (RFC 3339).
    #[param(format = DateTime)]
    placed_to: Option<String>,
    /// Only orders with a shipment from this warehouse (the warehouse id).
    warehouse: Option<String>,
    /// Case-insensitive text in the order number, external id, customer name or
    /// email, or a line's sku. `%`, `_` and `\` are literal characters.
    q: Option<String>,
    /// The order of the list; ties are broken by ascending id. Default `id`.
    #[param(inline, value_type = Option<super::openapi::OrderSortName>)]
    sort: Option<String>,
    /// Continue after the page that returned this `next_cursor` (same sort).
    cursor: Option<String>,
    /// Orders with an id greater than this: the previous page's `next_after`
    /// (older paging, `sort=id` only; prefer `cursor`).
    after: Option<i64>,
    /// Page size: 100 by default, 1 to 1000. Not used by the CSV export.
    limit: Option<u64>,
}

fn bad_request(msg: impl Into<String>) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, msg.into())
}

impl OrdersQuery {
    /// The store filter, or a 400 naming the bad parameter.
    fn into_filter(self) -> Result<OrderFilter, ApiError> {
        no_nul("cursor", self.cursor.as_deref())?;
        let mut filter = crate::cli::OrderQuery {
            channel: self.channel,
            status: self.status,
            payment_status: self.payment_status,
            fulfillment_status: self.fulfillment_status,
            placed_from: self.placed_from,
            placed_to: self.placed_to,
            warehouse: self.warehouse,
            q: self.q,
            sort: self.sort,
        }
        .to_filter()
        .map_err(bad_request)?;
        if let Some(c) = &self.cursor {
            if self.after.is_some() {
                return Err(bad_request("give either cursor or after, not both"));
            }
            filter.cursor = Some(OrderCursor::decode(c, filter.sort).map_err(bad_request)?);
        }
        if self.after.is_some() && filter.sort != OrderSort::Id {
            return Err(bad_request("after pages by id only: use cursor with sort"));
        }
        filter.after_id = self.after;
        filter.limit = match self.limit {
            None => 100,
            Some(l @ 1..=1000) => l,
            Some(_) => return Err(bad_request("limit must be from 1 to 1000")),
        };
        Ok(filter)
    }
}

type OrdersQueryResult = Result<Query<OrdersQuery>, axum::extract::rejection::QueryRejection>;

/// Orders, filtered and sorted, a page at a time.
#[utoipa::path(
    get,
    path = "/api/orders",
    tag = "ops",
    security(("bearer" = [])),
    params(OrdersQuery),
    responses(
        (status = 200, description = "A page of orders in the requested order", body = super::openapi::OrderList),
        (status = 400, description = "A bad parameter (named in the message): unknown status or sort, a time that is not RFC 3339, a garbage or foreign cursor, a limit out of range, a parameter of the wrong type, or NUL in a text parameter", body = super::openapi::ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = super::openapi::ErrorBody),
        (status = 503, description = "The store is unavailable", body = super::openapi::ErrorBody),
    )
)]
async fn list_orders(
    caller: Caller,
    State(app): State<Arc<App>>,
    q: OrdersQueryResult,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Query(q) = q.map_err(|e| bad_request(e.body_text()))?;
    let mut filter = q.into_filter()?;
    filter.seller_id = caller.scope().map(str::to_string);
    let page = app.store.order_page(&filter).await?;
    let next_after = match (&page.next_cursor, filter.sort) {
        (Some(c), OrderSort::Id) => Some(c.id),
        _ => None,
    };
    let next_cursor = page.next_cursor.as_ref().map(OrderCursor::encode);
    let items: Vec<_> = page
        .rows
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
    Ok(Json(serde_json::json!({
        "items": items,
        "orders": items,
        "next_cursor": next_cursor,
        "next_after": next_after,
    })))
}

/// Every order the filters match, as CSV, in the requested order: a header
/// row, then one row per order. Streamed; no page limit.
#[utoipa::path(
    get,
    path = "/api/orders.csv",
    tag = "ops",
    security(("bearer" = [])),
    params(OrdersQuery),
    responses(
        (status = 200, description = "Columns: id, channel, external_id, number, status, payment_status, fulfillment_status, placed_at, currency, total, customer_name, customer_email, ship_to_country, lines (how many), skus (`;`-joined). Text a spreadsheet would run as a formula is prefixed with `'`.", body = String, content_type = "text/csv"),
        (status = 400, description = "A bad parameter (named in the message), as for `GET /api/orders`", body = super::openapi::ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = super::openapi::ErrorBody),
        (status = 503, description = "The store is unavailable", body = super::openapi::ErrorBody),
    )
)]
async fn export_orders_csv(
    caller: Caller,
    State(app): State<Arc<App>>,
    q: OrdersQueryResult,
) -> Result<Response, ApiError> {
    let Query(q) = q.map_err(|e| bad_request(e.body_text()))?;
    let mut filter = q.into_filter()?;
    filter.seller_id = caller.scope().map(str::to_string);
    let mut export = crate::cli::OrderCsv::new(filter);
    // The first page before the answer: a store that is down is a 503,
    // not a 200 cut short.
    let first = export.next_chunk(&app.store).await?.unwrap_or_default();
    let rest = futures::stream::try_unfold(export, move |mut export| {
        let app = app.clone();
        async move {
            match export.next_chunk(&app.store).await {
                Ok(chunk) => Ok(chunk.map(|c| (Bytes::from(c), export))),
                Err(e) => {
                    tracing::error!(error = %e, "orders CSV export cut short");
                    Err(e)
                }
            }
        }
    });
    let body = futures::stream::once(async move { Ok(Bytes::from(first)) }).chain(rest);
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"orders.csv\"",
            ),
        ],
        Body::from_stream(body),
    )
        .into_response())
}

#[utoipa::path(
    get,
    path = "/api/orders/{id}",
    tag = "ops",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "The order's orderhub id")),
    responses(
        (status = 200, description = "The order as stored, with its lines, its shipments and its timeline (oldest first)", body = super::openapi::StoredOrder),
        (status = 400, description = "The id is not an integer", body = super::openapi::ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = super::openapi::ErrorBody),
        (status = 404, description = "No such order", body = super::openapi::ErrorBody),
        (status = 503, description = "The store is unavailable", body = super::openapi::ErrorBody),
    )
)]
async fn show_order(
    caller: Caller,
    State(app): State<Arc<App>>,
    id: Result<Path<i64>, axum::extract::rejection::PathRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Path(id) = id.map_err(|e| ApiError(StatusCode::BAD_REQUEST, e.body_text()))?;
    let Some(order) = app.store.get_order(id).await? else {
        return Err(ApiError(StatusCode::NOT_FOUND, "no such order".into()));
    };
    caller.check(&order.seller_id)?;
    // The order with its shipments: warehouse, label, rate, tracking status
    // and timeline.
    let shipments = app.store.order_shipments(id).await?;
    let timeline = app.store.order_timeline(id).await?;
    let mut body = serde_json::to_value(&order).unwrap_or_default();
    body["shipments"] = serde_json::to_value(&shipments).unwrap_or_default();
    for (i, s) in shipments.iter().enumerate() {
        if let Some(url) = super::tracking_page::page_url(&app, s.shipment.id).await? {
            body["shipments"][i]["tracking_page_url"] = url.into();
        }
    }
    body["timeline"] = serde_json::to_value(&timeline).unwrap_or_default();
    Ok(Json(body))
}

/// Everything that happened to one order, oldest first: synced, updated,
/// status changes, routing, rate and label, tracking pushed, the carrier's
/// tracking steps, exceptions, voids, and staff notes.
#[utoipa::path(
    get,
    path = "/api/orders/{id}/timeline",
    tag = "ops",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "The order's orderhub id")),
    responses(
        (status = 200, description = "The order's timeline, oldest first", body = super::openapi::Timeline),
        (status = 400, description = "The id is not an integer", body = super::openapi::ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = super::openapi::ErrorBody),
        (status = 404, description = "No such order", body = super::openapi::ErrorBody),
        (status = 503, description = "The store is unavailable", body = super::openapi::ErrorBody),
    )
)]
async fn order_timeline(
    caller: Caller,
    State(app): State<Arc<App>>,
    id: Result<Path<i64>, axum::extract::rejection::PathRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Path(id) = id.map_err(|e| ApiError(StatusCode::BAD_REQUEST, e.body_text()))?;
    check_order(&app, &caller, id).await?;
    let timeline = app.store.order_timeline(id).await?;
    Ok(Json(serde_json::json!({ "timeline": timeline })))
}

/// A staff note on an order (`POST /api/orders/{id}/notes`).
#[derive(Deserialize, utoipa::ToSchema)]
pub struct NoteRequest {
    /// Who writes the note: 1 to 100 characters, no control characters.
    /// Shown as the actor `staff:<author>`.
    #[schema(example = "ana")]
    pub author: String,
    /// The note: 1 to 2000 characters, not blank, no NUL.
    #[schema(example = "Customer called: leave the parcel with the neighbour.")]
    pub text: String,
}

/// Leave an internal note on an order; it joins the order's timeline as a
/// `note` by `staff:<author>`. Internal only: never sent to the channel.
#[utoipa::path(
    post,
    path = "/api/orders/{id}/notes",
    tag = "ops",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "The order's orderhub id")),
    request_body = NoteRequest,
    responses(
        (status = 201, description = "The note as stored in the timeline", body = super::openapi::TimelineEvent),
        (status = 400, description = "The id is not an integer, the body is not JSON, or the author or text is empty, too long or holds NUL", body = super::openapi::ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = super::openapi::ErrorBody),
        (status = 404, description = "No such order", body = super::openapi::ErrorBody),
        (status = 413, description = "The body is larger than the server accepts"),
        (status = 415, description = "The body is not `application/json`", body = super::openapi::ErrorBody),
        (status = 422, description = "The JSON lacks `author` or `text`, or they are not strings", body = super::openapi::ErrorBody),
        (status = 503, description = "The store is unavailable", body = super::openapi::ErrorBody),
    )
)]
async fn add_order_note(
    caller: Caller,
    State(app): State<Arc<App>>,
    id: Result<Path<i64>, axum::extract::rejection::PathRejection>,
    body: Result<Json<NoteRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let Path(id) = id.map_err(|e| ApiError(StatusCode::BAD_REQUEST, e.body_text()))?;
    let Json(note) = body.map_err(|e| ApiError(e.status(), e.body_text()))?;
    check_order(&app, &caller, id).await?;
    match app.store.add_note(id, &note.author, &note.text).await? {
        Ok(entry) => {
            tracing::info!(order_id = id, actor = %entry.actor, "note added to order");
            Ok((
                StatusCode::CREATED,
                Json(serde_json::to_value(&entry).unwrap_or_default()),
            ))
        }
        Err(NoteRefusal::Invalid(msg)) => Err(bad_request(msg)),
        Err(NoteRefusal::NotFound) => Err(ApiError(StatusCode::NOT_FOUND, "no such order".into())),
    }
}

/// A manual status change (`POST /api/orders/{id}/status`).
#[derive(Deserialize, utoipa::ToSchema)]
pub struct StatusChangeRequest {
    /// The new status; only the declared transitions are allowed.
    #[schema(value_type = super::openapi::OrderStatusName)]
    pub status: String,
    /// Who makes the change: 1 to 100 characters, no control characters.
    #[schema(example = "ana")]
    pub author: String,
    /// Why (on the timeline; kept as the exception reason for `exception`).
    pub reason: Option<String>,
}

/// Move an order to another status by hand, through the same guarded,
/// declared transitions the jobs use (e.g. resolve an `exception` back to
/// `awaiting` to route it again, or cancel). The change joins the timeline
/// as `status_changed` by `staff:<author>`.
#[utoipa::path(
    post,
    path = "/api/orders/{id}/status",
    tag = "ops",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "The order's orderhub id")),
    request_body = StatusChangeRequest,
    responses(
        (status = 200, description = "The status was changed", body = super::openapi::StatusChange),
        (status = 400, description = "The id is not an integer, the body is not JSON, the status is unknown, or the author or reason is empty, too long or has control characters", body = super::openapi::ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = super::openapi::ErrorBody),
        (status = 404, description = "No such order", body = super::openapi::ErrorBody),
        (status = 409, description = "The order already has that status, the transition is not declared (e.g. delivered → awaiting), or the order moved meanwhile", body = super::openapi::ErrorBody),
        (status = 413, description = "The body is larger than the server accepts"),
        (status = 415, description = "The body is not `application/json`", body = super::openapi::ErrorBody),
        (status = 422, description = "The JSON lacks `status` or `author`, or they are not strings", body = super::openapi::ErrorBody),
        (status = 503, description = "The store is unavailable", body = super::openapi::ErrorBody),
    )
)]
async fn change_order_status(
    caller: Caller,
    State(app): State<Arc<App>>,
    id: Result<Path<i64>, axum::extract::rejection::PathRejection>,
    body: Result<Json<StatusChangeRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    use orderhub_core::store::StatusRefusal;
    use orderhub_core::OrderStatus;
    let Path(id) = id.map_err(|e| ApiError(StatusCode::BAD_REQUEST, e.body_text()))?;
    let Json(req) = body.map_err(|e| ApiError(e.status(), e.body_text()))?;
    check_order(&app, &caller, id).await?;
    let to: OrderStatus = req.status.parse().map_err(|_| {
        bad_request(format!(
            "status must be one of {}",
            OrderStatus::ALL.map(|s| s.as_str()).join(", ")
        ))
    })?;
    no_nul("reason", req.reason.as_deref())?;
    let conflict = |m: String| ApiError(StatusCode::CONFLICT, m);
    match app
        .store
        .change_status_by_staff(id, to, &req.author, req.reason.as_deref())
        .await?
    {
        Ok((from, to)) => {
            tracing::info!(order_id = id, from = %from, to = %to, "order status changed by staff");
            if to == OrderStatus::Awaiting {
                // Back into the flow: route it again now (the sweep would, later).
                if let Err(e) = app
                    .queue
                    .route
                    .push(crate::jobs::RouteOrder { order_id: id })
                    .await
                {
                    tracing::warn!(order_id = id, error = %e, "enqueue failed; the sweep will route the order");
                }
            }
            Ok(Json(serde_json::json!({
                "id": id, "from": from.as_str(), "to": to.as_str()
            })))
        }
        Err(StatusRefusal::NotFound) => {
            Err(ApiError(StatusCode::NOT_FOUND, "no such order".into()))
        }
        Err(StatusRefusal::Invalid(m)) => Err(bad_request(m)),
        Err(StatusRefusal::Unchanged(s)) => Err(conflict(format!("the order is already {s}"))),
        Err(StatusRefusal::NotDeclared { from, to }) => {
            Err(conflict(format!("an order cannot go from {from} to {to}")))
        }
        Err(StatusRefusal::Moved) => Err(conflict(
            "the order changed meanwhile; read it and try again".into(),
        )),
    }
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
    caller: Caller,
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
        seller: caller.scope().map(str::to_string),
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
    caller: Caller,
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
) -> Result<Json<jobs_api::JobRow>, ApiError> {
    no_nul("id", Some(&id))?;
    match jobs_api::get_scoped(&app.store, &id, caller.scope()).await? {
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
    caller: Caller,
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    no_nul("id", Some(&id))?;
    check_job(&app, &caller, &id).await?;
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
    caller: Caller,
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    no_nul("id", Some(&id))?;
    check_job(&app, &caller, &id).await?;
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

/// A 404 unless the order exists and the caller may see it.
pub(crate) async fn check_order(app: &App, caller: &Caller, id: i64) -> Result<(), ApiError> {
    match app.store.order_seller(id).await? {
        Some(seller) => caller.check(&seller),
        None => Err(ApiError(StatusCode::NOT_FOUND, "no such order".into())),
    }
}

/// A 404 for a seller's token unless the job is about that seller's data.
async fn check_job(app: &App, caller: &Caller, id: &str) -> Result<(), ApiError> {
    if caller.is_admin() {
        return Ok(());
    }
    match jobs_api::get_scoped(&app.store, id, caller.scope()).await? {
        Some(_) => Ok(()),
        None => Err(ApiError(StatusCode::NOT_FOUND, "no such job".into())),
    }
}
