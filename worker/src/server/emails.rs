//! The ops API for customer email (bearer token): the email outbox with
//! every SMTP attempt. A seller's token sees its own orders' emails only;
//! another seller's order id is a 404.

use super::auth::Caller;
use super::ApiError;
use crate::app::App;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use orderhub_core::store::email::{EmailFilter, EMAIL_STATUSES};
use serde::Deserialize;
use std::sync::Arc;

pub fn routes() -> Router<Arc<App>> {
    Router::new().route("/api/emails", get(list_emails))
}

fn bad_request(msg: impl Into<String>) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, msg.into())
}

/// The query of `GET /api/emails`.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EmailsQuery {
    /// Only this order's emails (another seller's order: 404).
    pub order_id: Option<i64>,
    /// `pending`, `sent`, `failed` (the last attempt failed; retried later)
    /// or `skipped` (no usable address on the order).
    pub status: Option<String>,
    /// At most this many, 1 to 500 (default 50).
    pub limit: Option<u64>,
}

/// Customer emails the caller may see, newest first: the message as sent
/// (recipient, language, subject, text) and every SMTP attempt.
#[utoipa::path(
    get,
    path = "/api/emails",
    tag = "ops",
    security(("bearer" = [])),
    params(EmailsQuery),
    responses(
        (status = 200, description = "The emails, newest first", body = EmailList),
        (status = 400, description = "A bad parameter (named in the message)", body = super::openapi::ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = super::openapi::ErrorBody),
        (status = 404, description = "No such order (or another seller's)", body = super::openapi::ErrorBody),
        (status = 503, description = "The store is unavailable", body = super::openapi::ErrorBody),
    )
)]
pub async fn list_emails(
    caller: Caller,
    State(app): State<Arc<App>>,
    q: Result<Query<EmailsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Query(q) = q.map_err(|e| bad_request(e.body_text()))?;
    if let Some(s) = &q.status {
        if !EMAIL_STATUSES.contains(&s.as_str()) {
            return Err(bad_request(format!(
                "status must be one of {}",
                EMAIL_STATUSES.join(", ")
            )));
        }
    }
    let limit = q.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(bad_request("limit must be 1 to 500"));
    }
    if let Some(o) = q.order_id {
        let not_found = || ApiError(StatusCode::NOT_FOUND, "no such order".into());
        let seller = app
            .store
            .email_order_seller(o)
            .await?
            .ok_or_else(not_found)?;
        caller.check(&seller).map_err(|_| not_found())?;
    }
    let filter = EmailFilter {
        seller: caller.scope().map(str::to_string),
        order_id: q.order_id,
        status: q.status,
        limit,
    };
    let emails = app.store.emails(&filter).await?;
    Ok(Json(serde_json::json!({ "emails": emails })))
}

// Schemas of the answer (they mirror `orderhub_core::store::email`'s views,
// which stay free of utoipa).

/// `GET /api/emails`.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct EmailList {
    pub emails: Vec<Email>,
}

/// One customer email (or the record that it was skipped).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct Email {
    pub id: i64,
    pub order_id: i64,
    /// The order timeline event it reports (for a follow-up: the delivery).
    pub order_event_id: i64,
    /// `order.received`, `shipment.shipped`, `shipment.out_for_delivery`,
    /// `shipment.delivered`, `delivery.problem`, `order.exception`,
    /// `return.received` or `order.followup`.
    #[schema(example = "shipment.shipped")]
    pub event_type: String,
    /// The customer's address (empty when skipped for want of one).
    pub recipient: String,
    /// The template language used (`en`, `de`); null until rendered.
    pub language: Option<String>,
    pub subject: Option<String>,
    pub text_body: Option<String>,
    /// Whether an HTML part was sent too.
    pub has_html: bool,
    /// `pending`, `sent`, `failed` or `skipped`.
    pub status: String,
    pub attempt_count: i32,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub next_attempt_at: Option<String>,
    /// The last failure (SMTP reply or connection error), or why it was skipped.
    pub last_error: Option<String>,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub sent_at: Option<String>,
    /// Every attempt, oldest first.
    pub attempts: Vec<EmailAttempt>,
}

/// One attempt at handing an email to the SMTP server.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct EmailAttempt {
    pub attempt: i32,
    #[schema(format = DateTime)]
    pub at: String,
    /// The SMTP reply code (null: no reply).
    pub smtp_code: Option<i32>,
    pub error: Option<String>,
    pub duration_ms: i64,
}
