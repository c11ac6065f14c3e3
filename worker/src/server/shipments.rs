//! The ops API for labels: batches, the merged PDF to print, and voids.

use super::auth::Caller;
use super::ApiError;
use crate::app::App;
use crate::labels::{self, BatchReport, BatchRequest, VoidNow};
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use orderhub_core::store::VoidRefusal;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/api/shipments/labels:batch", post(buy_labels))
        .route("/api/shipments/labels.pdf", get(labels_pdf))
        .route("/api/shipments/{id}/void", post(void_label))
        .route("/api/shipments/{id}/label", post(record_label))
}

/// Buy labels for many shipments at once (named ones, or every shipment
/// waiting for a label), with bounded concurrency per carrier account; one
/// result per shipment. Failed ones stay waiting: run the batch again.
#[utoipa::path(
    post,
    path = "/api/shipments/labels:batch",
    tag = "ops",
    security(("bearer" = [])),
    request_body = BatchRequest,
    responses(
        (status = 200, description = "What happened to each shipment", body = BatchReport),
        (status = 400, description = "Neither shipment ids nor all_ready given, or the body is not JSON", body = super::openapi::ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = super::openapi::ErrorBody),
        (status = 404, description = "A named shipment does not exist or is another seller's", body = super::openapi::ErrorBody),
        (status = 409, description = "A named shipment's label is held by scan-to-verify packing (blocked, mismatches, or not verified where required); nothing bought", body = super::openapi::ErrorBody),
        (status = 413, description = "The body is larger than the server accepts"),
        (status = 415, description = "The body is not `application/json`", body = super::openapi::ErrorBody),
        (status = 422, description = "The JSON does not have the documented fields and types", body = super::openapi::ErrorBody),
        (status = 503, description = "The store is unavailable", body = super::openapi::ErrorBody),
    )
)]
pub async fn buy_labels(
    caller: Caller,
    State(app): State<Arc<App>>,
    req: Result<Json<BatchRequest>, JsonRejection>,
) -> Result<Json<BatchReport>, ApiError> {
    let Json(req) = req.map_err(json_rejection)?;
    if !req.all_ready && req.shipment_ids.is_empty() {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            "give shipment_ids or all_ready: true".into(),
        ));
    }
    if req.warehouse.as_deref().is_some_and(|w| w.contains('\0')) {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            "warehouse must not contain NUL".into(),
        ));
    }
    let ids = labels::resolve(&app, &req).await.map_err(store_down)?;
    let ids = own_shipments(&app, &caller, ids, !req.all_ready).await?;
    if !req.all_ready {
        pack_gate(&app, &ids).await?;
    }
    let report = labels::buy_batch(&app, &ids).await;
    tracing::info!(
        bought = report.bought,
        failed = report.failed,
        exceptions = report.exceptions,
        elapsed_ms = report.elapsed_ms,
        "label batch"
    );
    Ok(Json(report))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct LabelsPdfQuery {
    /// Shipment ids, comma-separated, in print order.
    pub ids: String,
}

/// The PDF labels of the given shipments merged into one file, in the order
/// given. Shipments without a PDF label are left out and named in the
/// `x-orderhub-left-out` header.
#[utoipa::path(
    get,
    path = "/api/shipments/labels.pdf",
    tag = "ops",
    security(("bearer" = [])),
    params(LabelsPdfQuery),
    responses(
        (status = 200, description = "The merged labels", content_type = "application/pdf"),
        (status = 400, description = "ids is missing or not a comma-separated list of numbers", body = super::openapi::ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = super::openapi::ErrorBody),
        (status = 404, description = "None of the shipments has a PDF label, or one is another seller's", body = super::openapi::ErrorBody),
        (status = 503, description = "The store is unavailable", body = super::openapi::ErrorBody),
    )
)]
pub async fn labels_pdf(
    caller: Caller,
    State(app): State<Arc<App>>,
    q: Result<Query<LabelsPdfQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = q.map_err(|e| ApiError(StatusCode::BAD_REQUEST, e.body_text()))?;
    let ids: Vec<i64> = q
        .ids
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| s.trim().parse::<i64>())
        .collect::<Result<_, _>>()
        .map_err(|_| {
            ApiError(
                StatusCode::BAD_REQUEST,
                "ids must be shipment ids separated by commas".into(),
            )
        })?;
    if ids.is_empty() || ids.len() > 2_000 {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            "give between 1 and 2000 shipment ids".into(),
        ));
    }
    let ids = own_shipments(&app, &caller, ids, true).await?;
    let (merged, left_out) = labels::merged_labels(&app, &ids).await.map_err(|e| {
        tracing::warn!(error = %format!("{e:#}"), "merging labels failed");
        ApiError(
            StatusCode::SERVICE_UNAVAILABLE,
            "labels could not be merged".into(),
        )
    })?;
    let left: String = left_out
        .iter()
        .map(|(id, _)| id.to_string())
        .collect::<Vec<_>>()
        .join(",");
    let Some(pdf) = merged else {
        return Err(ApiError(
            StatusCode::NOT_FOUND,
            "none of these shipments has a PDF label".into(),
        ));
    };
    Ok((
        [
            (header::CONTENT_TYPE, "application/pdf".to_string()),
            (header::HeaderName::from_static("x-orderhub-left-out"), left),
        ],
        pdf,
    )
        .into_response())
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct VoidAnswer {
    pub shipment_id: i64,
    /// `voided`, `void requested` (the carrier decides later) or `rejected`.
    pub status: String,
    pub detail: Option<String>,
}

/// Void a bought label that the carrier has not picked up yet, through the
/// carrier's refund call. The shipment's stock is released and its order
/// held in `exception` for ops (unless it was cancelled).
#[utoipa::path(
    post,
    path = "/api/shipments/{id}/void",
    tag = "ops",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "The shipment id")),
    responses(
        (status = 200, description = "What the carrier said", body = VoidAnswer),
        (status = 202, description = "The carrier could not be asked now; the void is retried in the background", body = VoidAnswer),
        (status = 400, description = "The id is not a number", body = super::openapi::ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = super::openapi::ErrorBody),
        (status = 404, description = "No such shipment", body = super::openapi::ErrorBody),
        (status = 409, description = "No label to void, or already picked up", body = super::openapi::ErrorBody),
        (status = 503, description = "The store is unavailable", body = super::openapi::ErrorBody),
    )
)]
pub async fn void_label(
    caller: Caller,
    State(app): State<Arc<App>>,
    id: Result<Path<i64>, PathRejection>,
) -> Result<Response, ApiError> {
    let Path(id) = id.map_err(|e| ApiError(StatusCode::BAD_REQUEST, e.body_text()))?;
    let answer = |status: &str, detail: Option<String>| VoidAnswer {
        shipment_id: id,
        status: status.into(),
        detail,
    };
    own_shipments(&app, &caller, vec![id], true).await?;
    use orderhub_connectors::VoidStatus;
    match labels::void_now(&app, id).await? {
        Err(VoidRefusal::NotFound) => {
            Err(ApiError(StatusCode::NOT_FOUND, "no such shipment".into()))
        }
        Err(refusal) => Err(ApiError(StatusCode::CONFLICT, refusal.to_string())),
        Ok(VoidNow::Answered(VoidStatus::Voided)) => {
            Ok(Json(answer("voided", None)).into_response())
        }
        Ok(VoidNow::Answered(VoidStatus::Submitted)) => {
            Ok(Json(answer("void requested", None)).into_response())
        }
        Ok(VoidNow::Answered(VoidStatus::Rejected(r))) => {
            Ok(Json(answer("rejected", Some(r))).into_response())
        }
        Ok(VoidNow::Pending(e)) => {
            // Still `voiding`: the job (and the sweep) keep asking.
            if let Err(qe) = app
                .queue
                .void_label
                .push(crate::jobs::VoidLabel { shipment_id: id })
                .await
            {
                tracing::warn!(shipment_id = id, error = %qe, "enqueue failed; the sweep will retry the void");
            }
            Ok((StatusCode::ACCEPTED, Json(answer("void pending", Some(e)))).into_response())
        }
    }
}

/// The shipments of `ids` the caller may act on (invariant 8). With
/// `named` (the caller listed the ids), another seller's shipment is a 404
/// as if it did not exist; otherwise (a resolved `all_ready` batch) it is
/// left out. The ops token may act on every shipment; a shipment that does
/// not exist is left for the action to report.
async fn own_shipments(
    app: &App,
    caller: &Caller,
    ids: Vec<i64>,
    named: bool,
) -> Result<Vec<i64>, ApiError> {
    let Some(seller) = caller.scope() else {
        return Ok(ids);
    };
    let sellers = app.store.shipment_sellers(&ids).await?;
    let mut own = Vec::with_capacity(ids.len());
    for id in ids {
        match sellers.get(&id) {
            Some(s) if s == seller => own.push(id),
            _ if named => {
                return Err(ApiError(
                    StatusCode::NOT_FOUND,
                    format!("no such shipment: {id}"),
                ))
            }
            _ => {}
        }
    }
    Ok(own)
}

/// Scan-to-verify packing: a 409 naming every named shipment whose pack
/// session holds its label (blocked, mismatches, or not verified where the
/// warehouse requires it); nothing is bought then.
async fn pack_gate(app: &App, ids: &[i64]) -> Result<(), ApiError> {
    let mut held = Vec::new();
    for &id in ids {
        if let Some(ship) = app.store.shipment(id).await? {
            if let Err(why) = super::pack::label_gate(app, &ship).await? {
                held.push(format!("shipment {id}: {why}"));
            }
        }
    }
    if held.is_empty() {
        Ok(())
    } else {
        Err(ApiError(StatusCode::CONFLICT, held.join("; ")))
    }
}

/// A body that is not the JSON asked for: the rejection's status (400, 413,
/// 415, 422) with a JSON error body like every other answer.
fn json_rejection(e: JsonRejection) -> ApiError {
    ApiError(e.status(), e.body_text())
}

fn store_down(e: anyhow::Error) -> ApiError {
    tracing::error!(error = %format!("{e:#}"), "store error while serving a request");
    ApiError(StatusCode::SERVICE_UNAVAILABLE, "store unavailable".into())
}

/// A label bought outside orderhub.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ManualLabel {
    /// The carrier account (config id) whose tracking webhooks report it.
    pub carrier_account: String,
    /// The carrier's name as the channel should show it (`DHL`).
    pub carrier: String,
    pub tracking_code: String,
    pub tracking_url: Option<String>,
}

/// Record a label bought outside orderhub for a shipment waiting for one;
/// its tracking is then pushed to the channel and followed through the
/// carrier account's webhooks like any other.
#[utoipa::path(
    post,
    path = "/api/shipments/{id}/label",
    tag = "ops",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "The shipment id")),
    request_body = ManualLabel,
    responses(
        (status = 200, description = "Recorded; tracking will be pushed", body = super::openapi::JobAction),
        (status = 400, description = "The id is not a number, the body is not JSON, or a field is empty, too long or holds NUL", body = super::openapi::ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = super::openapi::ErrorBody),
        (status = 404, description = "No such shipment or carrier account", body = super::openapi::ErrorBody),
        (status = 409, description = "The shipment is not waiting for a label, or scan-to-verify packing holds its label", body = super::openapi::ErrorBody),
        (status = 413, description = "The body is larger than the server accepts"),
        (status = 415, description = "The body is not `application/json`", body = super::openapi::ErrorBody),
        (status = 422, description = "The JSON does not have the documented fields and types", body = super::openapi::ErrorBody),
        (status = 503, description = "The store is unavailable", body = super::openapi::ErrorBody),
    )
)]
pub async fn record_label(
    caller: Caller,
    State(app): State<Arc<App>>,
    id: Result<Path<i64>, PathRejection>,
    label: Result<Json<ManualLabel>, JsonRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Path(id) = id.map_err(|e| ApiError(StatusCode::BAD_REQUEST, e.body_text()))?;
    let Json(label) = label.map_err(json_rejection)?;
    for (name, v) in [
        ("carrier_account", label.carrier_account.as_str()),
        ("carrier", label.carrier.as_str()),
        ("tracking_code", label.tracking_code.as_str()),
        ("tracking_url", label.tracking_url.as_deref().unwrap_or("-")),
    ] {
        if v.trim().is_empty() || v.len() > 500 || v.contains('\0') {
            return Err(ApiError(
                StatusCode::BAD_REQUEST,
                format!("{name} must be 1 to 500 characters without NUL"),
            ));
        }
    }
    own_shipments(&app, &caller, vec![id], true).await?;
    pack_gate(&app, &[id]).await?;
    // Another seller's carrier account is as unknown as a missing one.
    let usable = app.carriers.get(&label.carrier_account).is_some_and(|c| {
        match (caller.scope(), c.settings.seller.as_deref()) {
            (Some(me), Some(owner)) => me == owner,
            _ => true,
        }
    });
    if !usable {
        return Err(ApiError(
            StatusCode::NOT_FOUND,
            "no such carrier account".into(),
        ));
    }
    let recorded = app
        .store
        .record_manual_label(
            id,
            &label.carrier_account,
            &label.carrier,
            label.tracking_code.trim(),
            label.tracking_url.as_deref(),
        )
        .await?;
    if !recorded {
        return Err(match app.store.shipment(id).await? {
            None => ApiError(StatusCode::NOT_FOUND, "no such shipment".into()),
            Some(s) => ApiError(
                StatusCode::CONFLICT,
                format!("the shipment is `{}`, not waiting for a label", s.status),
            ),
        });
    }
    if let Err(e) = app
        .queue
        .push_tracking
        .push(crate::jobs::PushTracking { shipment_id: id })
        .await
    {
        tracing::warn!(shipment_id = id, error = %e, "enqueue failed; the sweep will push the tracking");
    }
    Ok(Json(
        serde_json::json!({ "id": id.to_string(), "status": "label recorded" }),
    ))
}
