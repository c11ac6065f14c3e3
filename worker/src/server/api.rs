//! The ops API (bearer token): channels with sync health, orders.

use super::ApiError;
use crate::app::App;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::routing::get;
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

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

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

async fn list_orders(
    _: Authorized,
    State(app): State<Arc<App>>,
    q: Result<Query<OrdersQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Query(q) = q.map_err(|e| ApiError(StatusCode::BAD_REQUEST, e.body_text()))?;
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

async fn show_order(
    _: Authorized,
    State(app): State<Arc<App>>,
    id: Result<Path<i64>, axum::extract::rejection::PathRejection>,
) -> Result<Json<orderhub_core::store::StoredOrder>, ApiError> {
    let Path(id) = id.map_err(|e| ApiError(StatusCode::BAD_REQUEST, e.body_text()))?;
    match app.store.get_order(id).await? {
        Some(o) => Ok(Json(o)),
        None => Err(ApiError(StatusCode::NOT_FOUND, "no such order".into())),
    }
}
