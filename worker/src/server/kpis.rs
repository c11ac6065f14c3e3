//! The ops API for fulfillment KPIs: `GET /api/kpis` (bearer token).

use super::auth::Caller;
use super::ApiError;
use crate::app::App;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use orderhub_core::store::{KpiQuery, Kpis};
use serde::Deserialize;
use std::sync::Arc;

pub fn routes() -> Router<Arc<App>> {
    Router::new().route("/api/kpis", get(kpis))
}

/// The query of `GET /api/kpis`.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct KpisQuery {
    /// Orders placed at or after this time (RFC 3339, e.g. `2025-01-01T00:00:00Z`;
    /// escape a `+` offset as `%2B`). Default: 30 days before `to`.
    #[param(format = DateTime)]
    pub from: Option<String>,
    /// Orders placed strictly before this time (RFC 3339). Default: now.
    #[param(format = DateTime)]
    pub to: Option<String>,
    /// Only this channel's orders (the channel id).
    pub channel: Option<String>,
    /// Only orders with a shipment from this warehouse (the warehouse id);
    /// their label, delivery and cost numbers count that warehouse's
    /// shipments only.
    pub warehouse: Option<String>,
}

type KpisQueryResult = Result<Query<KpisQuery>, axum::extract::rejection::QueryRejection>;

/// Fulfillment KPIs of the orders placed in `[from, to)`: order counts,
/// placed → label bought and placed → delivered times (median and p90,
/// nearest rank, whole seconds), the on-time rate against the promised date,
/// accuracy (routed orders that never went to `exception`; returns for a
/// wrong item are not modelled yet), fill rate (routed orders with exactly one
/// shipment: routing never splits today) and label cost per currency; in
/// total, per channel and per warehouse.
#[utoipa::path(
    get,
    path = "/api/kpis",
    tag = "ops",
    security(("bearer" = [])),
    params(KpisQuery),
    responses(
        (status = 200, description = "The KPIs in total, by channel and by warehouse", body = super::openapi::KpiReport),
        (status = 400, description = "A bad parameter (named in the message): a time that is not RFC 3339, from not before to, or NUL in a parameter", body = super::openapi::ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = super::openapi::ErrorBody),
        (status = 503, description = "The store is unavailable", body = super::openapi::ErrorBody),
    )
)]
pub async fn kpis(
    caller: Caller,
    State(app): State<Arc<App>>,
    q: KpisQueryResult,
) -> Result<Json<Kpis>, ApiError> {
    let Query(q) = q.map_err(|e| ApiError(StatusCode::BAD_REQUEST, e.body_text()))?;
    let mut query = KpiQuery::parse(
        q.from.as_deref(),
        q.to.as_deref(),
        q.channel.as_deref(),
        q.warehouse.as_deref(),
        chrono::Utc::now(),
    )
    .map_err(|e| ApiError(StatusCode::BAD_REQUEST, e))?;
    query.seller = caller.scope().map(str::to_string);
    let kpis = app.store.kpis(&query, &app.settings.shipping).await?;
    Ok(Json(kpis))
}
