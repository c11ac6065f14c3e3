//! The ops API for returns (RMA): request a return of a delivered order's
//! lines, list and show returns, buy the return label (a BuyReturnLabel
//! job), record the warehouse's receipt (restock or damaged, per line) and
//! the refund status. Every route is scoped to the caller's seller: another
//! seller's order or return answers 404.

use super::auth::Caller;
use super::ApiError;
use crate::app::App;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use orderhub_core::store::returns::{
    ReceiptLine, ReturnRefusal, ReturnView, RETURN_REASONS, RETURN_STATUSES,
};
use orderhub_core::store::{NewReturn, NewReturnLine, ReturnFilter};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::ToSchema;

pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/api/orders/{id}/returns", post(create_return))
        .route("/api/returns", get(list_returns))
        .route("/api/returns/{id}", get(show_return))
        .route("/api/returns/{id}/label", post(buy_return_label))
        .route("/api/returns/{id}/receive", post(receive_return))
        .route("/api/returns/{id}/refund", post(record_refund))
}

fn json_rejection(e: JsonRejection) -> ApiError {
    ApiError(e.status(), e.body_text())
}

fn path_rejection(e: PathRejection) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, e.body_text())
}

fn refusal(r: ReturnRefusal) -> ApiError {
    match r {
        ReturnRefusal::NotFound => {
            ApiError(StatusCode::NOT_FOUND, "no such order or return".into())
        }
        ReturnRefusal::Invalid(m) => ApiError(StatusCode::UNPROCESSABLE_ENTITY, m),
        ReturnRefusal::Conflict(m) => ApiError(StatusCode::CONFLICT, m),
    }
}

/// The author of a step: what the body says, else `api`.
fn author_of(a: Option<&str>) -> Result<String, ApiError> {
    match a.map(str::trim) {
        None | Some("") => Ok("api".into()),
        Some(a) if a.chars().count() <= 100 && !a.chars().any(char::is_control) => {
            Ok(a.to_string())
        }
        Some(_) => Err(ApiError(
            StatusCode::UNPROCESSABLE_ENTITY,
            "author must be at most 100 characters without control characters".into(),
        )),
    }
}

/// One line of a return request.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ReturnLineRequest {
    pub sku: String,
    /// Units of the sku to return (at most those delivered and not yet
    /// returned).
    #[schema(minimum = 1)]
    pub quantity: i64,
    /// `damaged`, `wrong_item`, `not_as_described`, `no_longer_needed` or
    /// `other`.
    #[schema(example = "wrong_item")]
    pub reason: String,
    /// Free text, at most 500 characters.
    pub note: Option<String>,
}

/// `POST /api/orders/{id}/returns`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateReturnRequest {
    pub lines: Vec<ReturnLineRequest>,
    /// Free text about the whole return, at most 500 characters.
    pub reason: Option<String>,
    /// Who asked (on the timeline as `staff:<author>`; default `api`).
    pub author: Option<String>,
}

/// A return (RMA) as stored.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ReturnDoc {
    pub id: i64,
    /// `RMA-000042`.
    pub rma: String,
    pub order_id: i64,
    pub seller_id: String,
    /// Where the units go back to.
    pub warehouse_id: String,
    /// `requested`, `label_buying`, `label_bought`, `in_transit`,
    /// `delivered` (to the warehouse, by the carrier), `restocked`,
    /// `damaged` (received, nothing restocked) or `exception`.
    pub status: String,
    #[schema(required = true)]
    pub reason: Option<String>,
    pub created_by: String,
    pub lines: Vec<ReturnLineDoc>,
    /// The return label, once a carrier shipment was chosen.
    #[schema(required = true)]
    pub label: Option<ReturnLabelDoc>,
    pub refund: RefundDoc,
    /// Why the label could not be bought.
    #[schema(required = true)]
    pub exception_reason: Option<String>,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
    #[schema(format = DateTime, required = true)]
    pub received_at: Option<String>,
}

/// One sku of a return.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ReturnLineDoc {
    pub sku: String,
    pub quantity: i64,
    pub reason_code: String,
    #[schema(required = true)]
    pub reason_text: Option<String>,
    /// Units put back on hand at receipt.
    pub restocked: i64,
    /// Units received damaged (not restocked).
    pub damaged: i64,
}

/// A return label.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ReturnLabelDoc {
    #[schema(required = true)]
    pub carrier_account: Option<String>,
    #[schema(required = true)]
    pub carrier: Option<String>,
    #[schema(required = true)]
    pub service: Option<String>,
    /// Exact decimal text.
    #[schema(required = true, example = "7.58")]
    pub amount: Option<String>,
    #[schema(required = true)]
    pub currency: Option<String>,
    #[schema(required = true)]
    pub tracking_code: Option<String>,
    #[schema(required = true)]
    pub tracking_url: Option<String>,
    #[schema(required = true)]
    pub label_url: Option<String>,
    #[schema(required = true)]
    pub tracking_status: Option<String>,
    #[schema(format = DateTime, required = true)]
    pub bought_at: Option<String>,
}

/// The refund as recorded (orderhub moves no money).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct RefundDoc {
    /// `none`, `pending`, `refunded` or `declined`.
    pub status: String,
    /// Exact decimal text.
    #[schema(required = true, example = "19.99")]
    pub amount: Option<String>,
    #[schema(required = true)]
    pub currency: Option<String>,
    #[schema(format = DateTime, required = true)]
    pub at: Option<String>,
}

/// Request a return of lines of a delivered order: each line's units must
/// have been delivered and not be in another return already. The return
/// starts `requested`; buy its label with `POST /api/returns/{id}/label`.
#[utoipa::path(
    post,
    path = "/api/orders/{id}/returns",
    tag = "ops",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "The order id")),
    request_body = CreateReturnRequest,
    responses(
        (status = 201, description = "The return, `requested`", body = ReturnDoc),
        (status = 400, description = "The id is not a number", body = super::openapi::ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = super::openapi::ErrorBody),
        (status = 404, description = "No such order, or another seller's", body = super::openapi::ErrorBody),
        (status = 409, description = "The order is not delivered, a sku was not delivered with it, or more units than delivered and not yet returned", body = super::openapi::ErrorBody),
        (status = 413, description = "The body is larger than the server accepts"),
        (status = 415, description = "The body is not `application/json`", body = super::openapi::ErrorBody),
        (status = 422, description = "The JSON does not have the documented fields and types, or a line is invalid (the message names it)", body = super::openapi::ErrorBody),
        (status = 503, description = "The store is unavailable", body = super::openapi::ErrorBody),
    )
)]
pub async fn create_return(
    caller: Caller,
    State(app): State<Arc<App>>,
    id: Result<Path<i64>, PathRejection>,
    req: Result<Json<CreateReturnRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Path(id) = id.map_err(path_rejection)?;
    let Json(req) = req.map_err(json_rejection)?;
    let author = author_of(req.author.as_deref())?;
    let new = NewReturn {
        lines: req
            .lines
            .into_iter()
            .map(|l| NewReturnLine {
                sku: l.sku,
                quantity: l.quantity,
                reason_code: l.reason,
                reason_text: l.note,
            })
            .collect(),
        reason: req.reason,
        created_by: author,
    };
    let view = app
        .store
        .create_return(id, caller.scope(), &new)
        .await?
        .map_err(refusal)?;
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

/// The query of `GET /api/returns`.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReturnsQuery {
    /// Only returns in this status.
    pub status: Option<String>,
    /// Only this order's returns.
    pub order_id: Option<i64>,
    /// At most this many (1 to 500, default 100).
    pub limit: Option<u64>,
}

/// Returns, newest first.
#[derive(Serialize, ToSchema)]
pub struct ReturnList {
    #[schema(value_type = Vec<ReturnDoc>)]
    pub returns: Vec<ReturnView>,
}

/// The caller's returns, newest first.
#[utoipa::path(
    get,
    path = "/api/returns",
    tag = "ops",
    security(("bearer" = [])),
    params(ReturnsQuery),
    responses(
        (status = 200, description = "The returns", body = ReturnList),
        (status = 400, description = "A bad parameter (named in the message)", body = super::openapi::ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = super::openapi::ErrorBody),
        (status = 503, description = "The store is unavailable", body = super::openapi::ErrorBody),
    )
)]
pub async fn list_returns(
    caller: Caller,
    State(app): State<Arc<App>>,
    q: Result<Query<ReturnsQuery>, QueryRejection>,
) -> Result<Json<ReturnList>, ApiError> {
    let Query(q) = q.map_err(|e| ApiError(StatusCode::BAD_REQUEST, e.body_text()))?;
    if let Some(s) = &q.status {
        if !RETURN_STATUSES.contains(&s.as_str()) {
            return Err(ApiError(
                StatusCode::BAD_REQUEST,
                format!("status must be one of {}", RETURN_STATUSES.join(", ")),
            ));
        }
    }
    let limit = q.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            "limit must be 1 to 500".into(),
        ));
    }
    let returns = app
        .store
        .list_returns(&ReturnFilter {
            seller: caller.scope().map(str::to_string),
            status: q.status,
            order_id: q.order_id,
            limit,
        })
        .await?;
    Ok(Json(ReturnList { returns }))
}

/// The return `id` if the caller may see it (404 otherwise).
async fn own_return(app: &App, caller: &Caller, id: i64) -> Result<ReturnView, ApiError> {
    match app.store.get_return(id).await? {
        Some(v) if caller.sees(&v.seller_id) => Ok(v),
        _ => Err(ApiError(StatusCode::NOT_FOUND, "no such return".into())),
    }
}

/// One return with its lines, label and refund.
#[utoipa::path(
    get,
    path = "/api/returns/{id}",
    tag = "ops",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "The return id")),
    responses(
        (status = 200, description = "The return", body = ReturnDoc),
        (status = 400, description = "The id is not a number", body = super::openapi::ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = super::openapi::ErrorBody),
        (status = 404, description = "No such return, or another seller's", body = super::openapi::ErrorBody),
        (status = 503, description = "The store is unavailable", body = super::openapi::ErrorBody),
    )
)]
pub async fn show_return(
    caller: Caller,
    State(app): State<Arc<App>>,
    id: Result<Path<i64>, PathRejection>,
) -> Result<Json<ReturnView>, ApiError> {
    let Path(id) = id.map_err(path_rejection)?;
    Ok(Json(own_return(&app, &caller, id).await?))
}

/// Buy the return label through the carrier layer (the first of the return
/// warehouse's carrier accounts that makes return labels), exactly once: a
/// BuyReturnLabel job does it; asking again while it runs, or once bought,
/// buys nothing more. A return in `exception` is retried from where it
/// stopped.
#[utoipa::path(
    post,
    path = "/api/returns/{id}/label",
    tag = "ops",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "The return id")),
    responses(
        (status = 202, description = "The purchase is queued (or done: see `status` and `label`)", body = ReturnDoc),
        (status = 400, description = "The id is not a number", body = super::openapi::ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = super::openapi::ErrorBody),
        (status = 404, description = "No such return, or another seller's", body = super::openapi::ErrorBody),
        (status = 409, description = "The return is past its label (received)", body = super::openapi::ErrorBody),
        (status = 503, description = "The store or the queue is unavailable", body = super::openapi::ErrorBody),
    )
)]
pub async fn buy_return_label(
    caller: Caller,
    State(app): State<Arc<App>>,
    id: Result<Path<i64>, PathRejection>,
) -> Result<Response, ApiError> {
    let Path(id) = id.map_err(path_rejection)?;
    own_return(&app, &caller, id).await?;
    let row = app.store.prepare_return_label(id).await?.map_err(refusal)?;
    if row.status != orderhub_core::store::returns::RETURN_LABEL_BOUGHT {
        if let Err(e) = app
            .queue
            .buy_return_label
            .push(crate::jobs::BuyReturnLabel { return_id: id })
            .await
        {
            tracing::error!(return_id = id, error = %format!("{e:#}"), "could not enqueue the return label");
            return Err(ApiError(
                StatusCode::SERVICE_UNAVAILABLE,
                "queue unavailable".into(),
            ));
        }
    }
    let view = own_return(&app, &caller, id).await?;
    Ok((StatusCode::ACCEPTED, Json(view)).into_response())
}

/// One line of a receipt.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ReceiptLineRequest {
    pub sku: String,
    #[schema(minimum = 1)]
    pub quantity: i64,
    /// `restock` (back on hand) or `damaged` (recorded, not restocked).
    #[schema(example = "restock")]
    pub condition: String,
}

/// `POST /api/returns/{id}/receive`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ReceiveRequest {
    pub lines: Vec<ReceiptLineRequest>,
    /// Who received it (default `api`).
    pub author: Option<String>,
}

/// The warehouse received the return: per line, units restocked (added to
/// the warehouse's stock on hand, low-stock alerts re-evaluated) or damaged
/// (recorded only). Units not listed were not received. The return ends
/// `restocked`, or `damaged` when nothing was restocked; once only.
#[utoipa::path(
    post,
    path = "/api/returns/{id}/receive",
    tag = "ops",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "The return id")),
    request_body = ReceiveRequest,
    responses(
        (status = 200, description = "The return, received", body = ReturnDoc),
        (status = 400, description = "The id is not a number", body = super::openapi::ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = super::openapi::ErrorBody),
        (status = 404, description = "No such return, or another seller's", body = super::openapi::ErrorBody),
        (status = 409, description = "Already received, or its label purchase is in flight", body = super::openapi::ErrorBody),
        (status = 413, description = "The body is larger than the server accepts"),
        (status = 415, description = "The body is not `application/json`", body = super::openapi::ErrorBody),
        (status = 422, description = "The JSON does not have the documented fields and types, or a line is invalid (a sku not in the return, more units than returned, an unknown condition)", body = super::openapi::ErrorBody),
        (status = 503, description = "The store is unavailable", body = super::openapi::ErrorBody),
    )
)]
pub async fn receive_return(
    caller: Caller,
    State(app): State<Arc<App>>,
    id: Result<Path<i64>, PathRejection>,
    req: Result<Json<ReceiveRequest>, JsonRejection>,
) -> Result<Json<ReturnView>, ApiError> {
    let Path(id) = id.map_err(path_rejection)?;
    let Json(req) = req.map_err(json_rejection)?;
    let author = author_of(req.author.as_deref())?;
    let lines: Vec<ReceiptLine> = req
        .lines
        .into_iter()
        .map(|l| ReceiptLine {
            sku: l.sku,
            quantity: l.quantity,
            condition: l.condition,
        })
        .collect();
    let view = app
        .store
        .receive_return(id, caller.scope(), &lines, &author, &app.settings.inventory)
        .await?
        .map_err(refusal)?;
    Ok(Json(view))
}

/// `POST /api/returns/{id}/refund`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct RefundRequest {
    /// `none`, `pending`, `refunded` (final) or `declined`.
    #[schema(example = "refunded")]
    pub status: String,
    /// Exact decimal text in the order's currency (`"19.99"`); needed for
    /// `pending` and `refunded`, at most the order's total.
    #[schema(example = "19.99")]
    pub amount: Option<String>,
    pub author: Option<String>,
}

/// Record the refund status of a return (orderhub moves no money).
#[utoipa::path(
    post,
    path = "/api/returns/{id}/refund",
    tag = "ops",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "The return id")),
    request_body = RefundRequest,
    responses(
        (status = 200, description = "The return with its refund", body = ReturnDoc),
        (status = 400, description = "The id is not a number", body = super::openapi::ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = super::openapi::ErrorBody),
        (status = 404, description = "No such return, or another seller's", body = super::openapi::ErrorBody),
        (status = 409, description = "Already refunded", body = super::openapi::ErrorBody),
        (status = 413, description = "The body is larger than the server accepts"),
        (status = 415, description = "The body is not `application/json`", body = super::openapi::ErrorBody),
        (status = 422, description = "The JSON does not have the documented fields and types, an unknown status, or a bad or missing amount", body = super::openapi::ErrorBody),
        (status = 503, description = "The store is unavailable", body = super::openapi::ErrorBody),
    )
)]
pub async fn record_refund(
    caller: Caller,
    State(app): State<Arc<App>>,
    id: Result<Path<i64>, PathRejection>,
    req: Result<Json<RefundRequest>, JsonRejection>,
) -> Result<Json<ReturnView>, ApiError> {
    let Path(id) = id.map_err(path_rejection)?;
    let Json(req) = req.map_err(json_rejection)?;
    let author = author_of(req.author.as_deref())?;
    let view = app
        .store
        .record_refund(
            id,
            caller.scope(),
            &req.status,
            req.amount.as_deref(),
            &author,
        )
        .await?
        .map_err(refusal)?;
    Ok(Json(view))
}

/// The reason codes, for messages and the CLI.
pub fn reason_codes() -> String {
    RETURN_REASONS.join(", ")
}
