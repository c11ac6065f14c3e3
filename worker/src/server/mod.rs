//! The HTTP server: channel webhooks, the ops API and health.

mod api;
pub mod auth;
mod dashboard;
mod dashboard_pack;
mod emails;
pub mod floor;
mod kpis;
pub mod metrics;
pub mod openapi;
pub mod pack;
pub mod returns;
mod shipments;
pub mod stock;
pub mod tracking_page;
pub mod webhooks;
mod webhooks_out;

use crate::app::App;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use std::sync::Arc;

pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/metrics", get(metrics::metrics))
        .route(
            "/webhooks/channels/{channel_id}",
            post(webhooks::channel_webhook),
        )
        .route(
            "/webhooks/carriers/{carrier_id}",
            post(webhooks::carrier_webhook),
        )
        .merge(api::routes())
        .merge(kpis::routes())
        .merge(shipments::routes())
        .merge(stock::routes())
        .merge(floor::routes())
        .merge(returns::routes())
        .merge(webhooks_out::routes())
        .merge(emails::routes())
        .merge(pack::routes())
        .merge(dashboard::routes())
        .merge(dashboard_pack::routes())
        .merge(tracking_page::routes())
        .with_state(app)
}

/// An error answer: a status and a short JSON message, never internals.
pub struct ApiError(pub StatusCode, pub String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(serde_json::json!({ "error": self.1 }))).into_response()
    }
}

impl From<sea_orm::DbErr> for ApiError {
    fn from(e: sea_orm::DbErr) -> Self {
        tracing::error!(error = %e, "store error while serving a request");
        ApiError(StatusCode::SERVICE_UNAVAILABLE, "store unavailable".into())
    }
}

pub async fn serve(app: Arc<App>, listener: tokio::net::TcpListener) -> anyhow::Result<()> {
    axum::serve(listener, router(app)).await?;
    Ok(())
}
