//! Scan-to-verify packing, the ops API (bearer token, scoped to the caller's
//! seller: another seller's shipment or session answers 404):
//!
//! - `POST /api/pack/sessions` `{barcode}`: the shipment's barcode
//!   (`SHIP-<id>` from the packing slip, or the bare id) starts its session,
//!   or resumes it (a blocked one reopens for the missing units);
//! - `POST /api/pack/sessions/{id}/scans` `{barcode}`: one unit scanned;
//! - `POST /api/pack/sessions/{id}/finish` `{weight_grams?}`: verified, or
//!   blocked with what is missing or wrong; a measured weight beyond
//!   `packing.reweigh_tolerance_pct` re-rates the shipment;
//! - `POST /api/pack/sessions/{id}/override` `{reason, author}`;
//! - `GET /api/pack/sessions/{id}`;
//! - `PUT|GET /api/skus/{sku}/barcodes`: a seller's sku barcodes.
//!
//! The label gate itself ([`label_gate`]) is used by the BuyLabel job, label
//! batches and manually recorded labels.

use super::auth::Caller;
use super::ApiError;
use crate::app::App;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use orderhub_core::pack_verify::{clean_scan, shipment_id_of, Mismatches, MAX_SCAN_CHARS};
use orderhub_core::store::pack_verify::{
    BarcodeView, FinishRecorded, PackLineView, PackRefusal, PackScanView, PackSessionView,
};
use orderhub_core::store::{SHIPMENT_BUYING, SHIPMENT_CREATED};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::ToSchema;

/// The heaviest measured weight accepted (grams).
pub const MAX_WEIGHT_GRAMS: u64 = 1_000_000;
const MAX_TEXT: usize = 500;

pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/api/pack/sessions", post(start_session))
        .route("/api/pack/sessions/{id}", get(show_session))
        .route("/api/pack/sessions/{id}/scans", post(scan))
        .route("/api/pack/sessions/{id}/finish", post(finish))
        .route("/api/pack/sessions/{id}/override", post(override_session))
        .route(
            "/api/skus/{sku}/barcodes",
            get(list_barcodes).put(set_barcodes),
        )
}

// ---------------------------------------------------------------------------
// The gate and the flow, shared by the API, the dashboard and the jobs

/// Whether the warehouse requires scan verification before labels.
pub fn scan_required(app: &App, warehouse_id: &str) -> bool {
    app.settings
        .warehouses
        .iter()
        .any(|w| w.id == warehouse_id && w.require_scan_verification)
}

/// Whether a label may be bought for the shipment now: `Err` says why not.
/// Only asked while no purchase was attempted (a `created` shipment, or a
/// `buying` one with no attempt): a purchase under way is always finished.
pub async fn label_gate(
    app: &App,
    ship: &orderhub_core::store::shipment::Model,
) -> Result<Result<(), String>, sea_orm::DbErr> {
    let unbought = ship.status == SHIPMENT_CREATED
        || (ship.status == SHIPMENT_BUYING && ship.buy_attempts == 0);
    if !unbought {
        return Ok(Ok(()));
    }
    app.store
        .pack_gate(ship.id, scan_required(app, &ship.warehouse_id))
        .await
}

/// The weight (grams) the shipment's rating assumes: its parcels as
/// BuyLabel packs them, over the order's lines.
pub async fn computed_grams(app: &App, shipment_id: i64) -> Result<Option<u64>, sea_orm::DbErr> {
    let Some(ship) = app.store.shipment(shipment_id).await? else {
        return Ok(None);
    };
    let Some(order) = app.store.get_order(ship.order_id).await? else {
        return Ok(None);
    };
    Ok(
        crate::jobs::parcels_for(&order.order.lines, &app.settings.shipping)
            .ok()
            .map(|p| crate::jobs::parcels_grams(&p)),
    )
}

/// After a session allows the label: drop the wait note and, with
/// `auto_buy_labels`, buy it now.
async fn label_allowed(app: &App, shipment_id: i64) {
    if let Err(e) = app.store.clear_pack_wait(shipment_id).await {
        tracing::warn!(shipment_id, error = %e, "could not clear the pack wait note");
    }
    if app.settings.shipping.auto_buy_labels {
        if let Err(e) = app
            .queue
            .buy_label
            .push(crate::jobs::BuyLabel { shipment_id })
            .await
        {
            tracing::warn!(shipment_id, error = %e, "enqueue failed; the sweep will buy the label");
        }
    }
}

fn required_fn(app: &App) -> impl Fn(&str) -> bool + '_ {
    move |w: &str| scan_required(app, w)
}

/// Start or resume the session of the shipment `barcode` names.
pub async fn start_flow(
    app: &App,
    caller: &Caller,
    barcode: &str,
) -> Result<Result<PackSessionView, PackRefusal>, ApiError> {
    let Some(code) = clean_scan(barcode) else {
        return Err(bad(
            "barcode must be 1 to 128 characters without control characters",
        ));
    };
    let Some(shipment_id) = shipment_id_of(code) else {
        return Err(bad(&format!(
            "`{code}` is not a shipment barcode (SHIP-<shipment id> or the id)"
        )));
    };
    Ok(app
        .store
        .start_pack_session(shipment_id, caller.scope(), required_fn(app))
        .await?)
}

/// Finish a session, re-rating the shipment when the measured weight is
/// beyond the tolerance.
pub async fn finish_flow(
    app: &App,
    caller: &Caller,
    session_id: i64,
    weight_grams: Option<u64>,
) -> Result<Result<PackSessionView, PackRefusal>, ApiError> {
    if weight_grams.is_some_and(|w| w == 0 || w > MAX_WEIGHT_GRAMS) {
        return Err(bad(&format!(
            "weight_grams must be between 1 and {MAX_WEIGHT_GRAMS}"
        )));
    }
    let Some(current) = app
        .store
        .pack_session_view(session_id, caller.scope(), required_fn(app))
        .await?
    else {
        return Ok(Err(PackRefusal::NotFound));
    };
    let computed = match weight_grams {
        Some(_) => computed_grams(app, current.shipment_id).await?,
        None => None,
    };
    let done = app
        .store
        .pack_finish(
            session_id,
            weight_grams,
            computed,
            app.settings.packing.reweigh_tolerance_pct,
            caller.scope(),
            required_fn(app),
        )
        .await?;
    let FinishRecorded {
        mut session,
        rerate,
    } = match done {
        Ok(f) => f,
        Err(r) => return Ok(Err(r)),
    };
    if rerate {
        let what = app.store.reset_rating(session.shipment_id).await?;
        tracing::info!(shipment_id = session.shipment_id, measured = ?weight_grams, computed = ?computed, what, "measured weight beyond the tolerance");
        app.store.note_rerate(session_id, what).await?;
    }
    if session.label_allowed {
        label_allowed(app, session.shipment_id).await;
    }
    if rerate {
        if let Some(v) = app
            .store
            .pack_session_view(session_id, caller.scope(), required_fn(app))
            .await?
        {
            session = v;
        }
    }
    Ok(Ok(session))
}

/// Override a session with a reason.
pub async fn override_flow(
    app: &App,
    caller: &Caller,
    session_id: i64,
    reason: &str,
    author: &str,
) -> Result<Result<PackSessionView, PackRefusal>, ApiError> {
    for (name, v) in [("reason", reason), ("author", author)] {
        if v.trim().is_empty() || v.chars().count() > MAX_TEXT || v.contains('\0') {
            return Err(bad(&format!(
                "{name} must be 1 to {MAX_TEXT} characters without NUL"
            )));
        }
    }
    let done = app
        .store
        .pack_override(
            session_id,
            reason.trim(),
            author.trim(),
            caller.scope(),
            required_fn(app),
        )
        .await?;
    if let Ok(s) = &done {
        label_allowed(app, s.shipment_id).await;
    }
    Ok(done)
}

/// One item scan.
pub async fn scan_flow(
    app: &App,
    caller: &Caller,
    session_id: i64,
    barcode: &str,
) -> Result<Result<ScanAnswer, PackRefusal>, ApiError> {
    let Some(code) = clean_scan(barcode) else {
        return Err(bad(
            "barcode must be 1 to 128 characters without control characters",
        ));
    };
    Ok(app
        .store
        .pack_scan(session_id, code, caller.scope(), required_fn(app))
        .await?
        .map(|r| ScanAnswer {
            result: r.result,
            sku: r.sku,
            session: r.session.into(),
        }))
}

fn bad(msg: &str) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, msg.to_string())
}

fn refusal(r: PackRefusal) -> ApiError {
    match r {
        PackRefusal::NotFound => super::auth::not_found(),
        PackRefusal::Conflict(why) => ApiError(StatusCode::CONFLICT, why),
    }
}

fn json_rejection(e: JsonRejection) -> ApiError {
    ApiError(e.status(), e.body_text())
}

fn path_id(id: Result<Path<i64>, PathRejection>) -> Result<i64, ApiError> {
    let Path(id) = id.map_err(|e| ApiError(StatusCode::BAD_REQUEST, e.body_text()))?;
    Ok(id)
}

// ---------------------------------------------------------------------------
// Wire types

/// A scan: what the scanner typed.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ScanRequest {
    /// The shipment's barcode (`SHIP-<id>` or the id) to start; a unit's
    /// barcode (GTIN/UPC/EAN) or its sku to scan an item.
    #[schema(example = "SHIP-42")]
    pub barcode: String,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct FinishRequest {
    /// The parcel's weight on the scale, grams (1 to 1,000,000).
    pub weight_grams: Option<u64>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct OverrideRequest {
    /// Why the label may be bought anyway (1 to 500 characters).
    pub reason: String,
    /// Who decided (1 to 500 characters).
    pub author: String,
}

/// Mismatches by kind.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PackMismatches {
    /// Scans of a sku of the seller that is not in this shipment.
    pub wrong_item: u64,
    /// Scans of one unit more than a line expects.
    pub over_scan: u64,
    /// Scans of a barcode that is no sku or barcode of the seller.
    pub unknown: u64,
    /// Units missing when Finish was pressed (every time).
    pub missing_unit: u64,
}

impl From<Mismatches> for PackMismatches {
    fn from(m: Mismatches) -> Self {
        PackMismatches {
            wrong_item: m.wrong_item,
            over_scan: m.over_scan,
            unknown: m.unknown,
            missing_unit: m.missing_unit,
        }
    }
}

/// A line of the shipment and what was scanned of it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PackLine {
    pub sku: String,
    pub title: String,
    pub expected: u32,
    pub scanned: u32,
    pub missing: u32,
    /// The sku's barcodes when the session started.
    pub barcodes: Vec<String>,
}

impl From<PackLineView> for PackLine {
    fn from(l: PackLineView) -> Self {
        PackLine {
            sku: l.sku,
            title: l.title,
            expected: l.expected,
            scanned: l.scanned,
            missing: l.missing,
            barcodes: l.barcodes,
        }
    }
}

/// One scan.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PackScan {
    pub barcode: String,
    #[schema(required = true)]
    pub sku: Option<String>,
    /// `ok`, `wrong_item`, `over_scan` or `unknown`.
    pub result: String,
    #[schema(value_type = String, format = DateTime)]
    pub at: chrono::DateTime<chrono::Utc>,
}

impl From<PackScanView> for PackScan {
    fn from(s: PackScanView) -> Self {
        PackScan {
            barcode: s.barcode,
            sku: s.sku,
            result: s.result,
            at: s.at,
        }
    }
}

/// A pack session.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PackSession {
    pub id: i64,
    pub shipment_id: i64,
    pub order_id: i64,
    #[schema(required = true)]
    pub order_number: Option<String>,
    pub warehouse_id: String,
    /// `open`, `verified`, `blocked` or `overridden`.
    pub status: String,
    pub lines: Vec<PackLine>,
    pub mismatches: PackMismatches,
    /// How many times Finish was pressed.
    pub finishes: u32,
    #[schema(required = true)]
    pub override_reason: Option<String>,
    #[schema(required = true)]
    pub override_author: Option<String>,
    /// The weight the rating assumed when a weight was entered (grams).
    #[schema(required = true)]
    pub computed_grams: Option<i64>,
    #[schema(required = true)]
    pub measured_grams: Option<i64>,
    /// The measured weight was beyond the tolerance and re-rated the shipment.
    pub rerated: bool,
    #[schema(required = true)]
    pub weight_note: Option<String>,
    /// Whether a label may be bought now.
    pub label_allowed: bool,
    #[schema(required = true)]
    pub label_blocked_reason: Option<String>,
    /// The latest scans, newest first (at most 50).
    pub scans: Vec<PackScan>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: chrono::DateTime<chrono::Utc>,
    #[schema(required = true, value_type = Option<String>, format = DateTime)]
    pub finished_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl From<PackSessionView> for PackSession {
    fn from(v: PackSessionView) -> Self {
        PackSession {
            id: v.id,
            shipment_id: v.shipment_id,
            order_id: v.order_id,
            order_number: v.order_number,
            warehouse_id: v.warehouse_id,
            status: v.status,
            lines: v.lines.into_iter().map(Into::into).collect(),
            mismatches: v.mismatches.into(),
            finishes: v.finishes,
            override_reason: v.override_reason,
            override_author: v.override_author,
            computed_grams: v.computed_grams,
            measured_grams: v.measured_grams,
            rerated: v.rerated,
            weight_note: v.weight_note,
            label_allowed: v.label_allowed,
            label_blocked_reason: v.label_blocked_reason,
            scans: v.scans.into_iter().map(Into::into).collect(),
            created_at: v.created_at,
            finished_at: v.finished_at,
        }
    }
}

/// What one item scan came to.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ScanAnswer {
    /// `ok`, `wrong_item`, `over_scan` or `unknown`.
    pub result: String,
    #[schema(required = true)]
    pub sku: Option<String>,
    pub session: PackSession,
}

// ---------------------------------------------------------------------------
// Handlers

/// Start (or resume) the pack session of the shipment a shipment barcode
/// names: `SHIP-<shipment id>` as the packing slip prints it, or the bare id.
/// A blocked session reopens so the missing units can be scanned.
#[utoipa::path(
    post,
    path = "/api/pack/sessions",
    tag = "ops",
    security(("bearer" = [])),
    request_body = ScanRequest,
    responses(
        (status = 200, description = "The session, with the expected lines", body = PackSession),
        (status = 400, description = "Not a shipment barcode, or the body is not JSON", body = super::openapi::ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = super::openapi::ErrorBody),
        (status = 404, description = "No such shipment, or another seller's", body = super::openapi::ErrorBody),
        (status = 409, description = "The shipment is cancelled or voided, or has no lines to scan", body = super::openapi::ErrorBody),
        (status = 413, description = "The body is larger than the server accepts"),
        (status = 415, description = "The body is not `application/json`", body = super::openapi::ErrorBody),
        (status = 422, description = "The JSON does not have the documented fields and types", body = super::openapi::ErrorBody),
        (status = 503, description = "The store is unavailable", body = super::openapi::ErrorBody),
    )
)]
pub async fn start_session(
    caller: Caller,
    State(app): State<Arc<App>>,
    body: Result<Json<ScanRequest>, JsonRejection>,
) -> Result<Json<PackSession>, ApiError> {
    let Json(req) = body.map_err(json_rejection)?;
    let s = start_flow(&app, &caller, &req.barcode)
        .await?
        .map_err(refusal)?;
    Ok(Json(s.into()))
}

/// A pack session: expected vs scanned, mismatches, the latest scans and
/// whether the label may be bought.
#[utoipa::path(
    get,
    path = "/api/pack/sessions/{id}",
    tag = "ops",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "The session id")),
    responses(
        (status = 200, description = "The session", body = PackSession),
        (status = 400, description = "The id is not a number", body = super::openapi::ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = super::openapi::ErrorBody),
        (status = 404, description = "No such session, or another seller's", body = super::openapi::ErrorBody),
        (status = 503, description = "The store is unavailable", body = super::openapi::ErrorBody),
    )
)]
pub async fn show_session(
    caller: Caller,
    State(app): State<Arc<App>>,
    id: Result<Path<i64>, PathRejection>,
) -> Result<Json<PackSession>, ApiError> {
    let id = path_id(id)?;
    let s = app
        .store
        .pack_session_view(id, caller.scope(), required_fn(&app))
        .await?
        .ok_or_else(super::auth::not_found)?;
    Ok(Json(s.into()))
}

/// Scan one unit: `ok`, `wrong_item` (a sku of the seller not in this
/// shipment), `over_scan` (more units than expected) or `unknown`. Every
/// result but `ok` is a mismatch: counted, and the label is blocked until it
/// is overridden. A blocked session is reopened by a scan.
#[utoipa::path(
    post,
    path = "/api/pack/sessions/{id}/scans",
    tag = "ops",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "The session id")),
    request_body = ScanRequest,
    responses(
        (status = 200, description = "What the scan came to, and the session", body = ScanAnswer),
        (status = 400, description = "The id is not a number, the barcode is empty, too long or holds control characters, or the body is not JSON", body = super::openapi::ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = super::openapi::ErrorBody),
        (status = 404, description = "No such session, or another seller's", body = super::openapi::ErrorBody),
        (status = 409, description = "The session is verified or overridden", body = super::openapi::ErrorBody),
        (status = 413, description = "The body is larger than the server accepts"),
        (status = 415, description = "The body is not `application/json`", body = super::openapi::ErrorBody),
        (status = 422, description = "The JSON does not have the documented fields and types", body = super::openapi::ErrorBody),
        (status = 503, description = "The store is unavailable", body = super::openapi::ErrorBody),
    )
)]
pub async fn scan(
    caller: Caller,
    State(app): State<Arc<App>>,
    id: Result<Path<i64>, PathRejection>,
    body: Result<Json<ScanRequest>, JsonRejection>,
) -> Result<Json<ScanAnswer>, ApiError> {
    let id = path_id(id)?;
    let Json(req) = body.map_err(json_rejection)?;
    let a = scan_flow(&app, &caller, id, &req.barcode)
        .await?
        .map_err(refusal)?;
    Ok(Json(a))
}

/// Finish packing: every unit matched and no mismatch → `verified`; units
/// missing or a mismatch → `blocked` (missing units are counted each time).
/// A measured weight beyond `packing.reweigh_tolerance_pct` of the computed
/// one re-rates the shipment with it before its label.
#[utoipa::path(
    post,
    path = "/api/pack/sessions/{id}/finish",
    tag = "ops",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "The session id")),
    request_body = FinishRequest,
    responses(
        (status = 200, description = "The finished session (verified or blocked)", body = PackSession),
        (status = 400, description = "The id is not a number, the weight is out of range, or the body is not JSON", body = super::openapi::ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = super::openapi::ErrorBody),
        (status = 404, description = "No such session, or another seller's", body = super::openapi::ErrorBody),
        (status = 409, description = "The session is not open", body = super::openapi::ErrorBody),
        (status = 413, description = "The body is larger than the server accepts"),
        (status = 415, description = "The body is not `application/json`", body = super::openapi::ErrorBody),
        (status = 422, description = "The JSON does not have the documented fields and types", body = super::openapi::ErrorBody),
        (status = 503, description = "The store is unavailable", body = super::openapi::ErrorBody),
    )
)]
pub async fn finish(
    caller: Caller,
    State(app): State<Arc<App>>,
    id: Result<Path<i64>, PathRejection>,
    body: Result<Json<FinishRequest>, JsonRejection>,
) -> Result<Json<PackSession>, ApiError> {
    let id = path_id(id)?;
    let Json(req) = body.map_err(json_rejection)?;
    let s = finish_flow(&app, &caller, id, req.weight_grams)
        .await?
        .map_err(refusal)?;
    Ok(Json(s.into()))
}

/// Override an open or blocked session with a reason: the label may be
/// bought. The mismatches stay counted.
#[utoipa::path(
    post,
    path = "/api/pack/sessions/{id}/override",
    tag = "ops",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "The session id")),
    request_body = OverrideRequest,
    responses(
        (status = 200, description = "The overridden session", body = PackSession),
        (status = 400, description = "The id is not a number, reason or author empty, too long or holding NUL, or the body is not JSON", body = super::openapi::ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = super::openapi::ErrorBody),
        (status = 404, description = "No such session, or another seller's", body = super::openapi::ErrorBody),
        (status = 409, description = "The session is already verified or overridden", body = super::openapi::ErrorBody),
        (status = 413, description = "The body is larger than the server accepts"),
        (status = 415, description = "The body is not `application/json`", body = super::openapi::ErrorBody),
        (status = 422, description = "The JSON does not have the documented fields and types", body = super::openapi::ErrorBody),
        (status = 503, description = "The store is unavailable", body = super::openapi::ErrorBody),
    )
)]
pub async fn override_session(
    caller: Caller,
    State(app): State<Arc<App>>,
    id: Result<Path<i64>, PathRejection>,
    body: Result<Json<OverrideRequest>, JsonRejection>,
) -> Result<Json<PackSession>, ApiError> {
    let id = path_id(id)?;
    let Json(req) = body.map_err(json_rejection)?;
    let s = override_flow(&app, &caller, id, &req.reason, &req.author)
        .await?
        .map_err(refusal)?;
    Ok(Json(s.into()))
}

// ---------------------------------------------------------------------------
// Sku barcodes

#[derive(Debug, Deserialize, ToSchema)]
pub struct BarcodesRequest {
    /// The sku's barcodes (GTIN/UPC/EAN or any code its label carries), at
    /// most 20; they replace the sku's current ones. Unique per seller.
    pub barcodes: Vec<String>,
    /// The seller (required with the ops token; a seller's token is its own).
    pub seller: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BarcodesQuery {
    /// The seller (required with the ops token).
    pub seller: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SkuBarcode {
    pub barcode: String,
    /// `channel`, `config`, `csv` or `api`.
    pub source: String,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SkuBarcodes {
    pub seller: String,
    pub sku: String,
    pub barcodes: Vec<SkuBarcode>,
}

fn answer(seller: String, sku: String, list: Vec<BarcodeView>) -> SkuBarcodes {
    SkuBarcodes {
        seller,
        sku,
        barcodes: list
            .into_iter()
            .map(|b| SkuBarcode {
                barcode: b.barcode,
                source: b.source,
                updated_at: b.updated_at,
            })
            .collect(),
    }
}

/// The seller a barcode request is about: a seller's token is its own (a
/// different `seller` is a 404); the ops token must name one.
fn barcode_seller(caller: &Caller, given: Option<&str>) -> Result<String, ApiError> {
    match (caller.scope(), given) {
        (Some(me), None) => Ok(me.to_string()),
        (Some(me), Some(s)) if s == me => Ok(me.to_string()),
        (Some(_), Some(_)) => Err(super::auth::not_found()),
        (None, Some(s)) if !s.trim().is_empty() && s.len() <= MAX_TEXT && !s.contains('\0') => {
            Ok(s.to_string())
        }
        (None, _) => Err(bad("seller is required with the ops token")),
    }
}

fn check_sku(sku: &str) -> Result<(), ApiError> {
    if clean_scan(sku) != Some(sku) {
        return Err(bad(&format!(
            "sku must be 1 to {MAX_SCAN_CHARS} characters without control characters or surrounding spaces"
        )));
    }
    Ok(())
}

/// A sku's barcodes (scoped to the caller's seller).
#[utoipa::path(
    get,
    path = "/api/skus/{sku}/barcodes",
    tag = "ops",
    security(("bearer" = [])),
    params(("sku" = String, Path, description = "The sku"), BarcodesQuery),
    responses(
        (status = 200, description = "The sku's barcodes", body = SkuBarcodes),
        (status = 400, description = "A bad sku, or no seller with the ops token", body = super::openapi::ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = super::openapi::ErrorBody),
        (status = 404, description = "Another seller named with a seller's token", body = super::openapi::ErrorBody),
        (status = 503, description = "The store is unavailable", body = super::openapi::ErrorBody),
    )
)]
pub async fn list_barcodes(
    caller: Caller,
    State(app): State<Arc<App>>,
    sku: Result<Path<String>, PathRejection>,
    q: Result<Query<BarcodesQuery>, QueryRejection>,
) -> Result<Json<SkuBarcodes>, ApiError> {
    let Path(sku) = sku.map_err(|e| ApiError(StatusCode::BAD_REQUEST, e.body_text()))?;
    let Query(q) = q.map_err(|e| ApiError(StatusCode::BAD_REQUEST, e.body_text()))?;
    check_sku(&sku)?;
    let seller = barcode_seller(&caller, q.seller.as_deref())?;
    let list = app.store.sku_barcodes(&seller, &sku).await?;
    Ok(Json(answer(seller, sku, list)))
}

/// Set a sku's barcodes (they replace its current ones); a barcode that
/// belongs to another of the seller's skus is refused (409), nothing changed.
#[utoipa::path(
    put,
    path = "/api/skus/{sku}/barcodes",
    tag = "ops",
    security(("bearer" = [])),
    params(("sku" = String, Path, description = "The sku")),
    request_body = BarcodesRequest,
    responses(
        (status = 200, description = "The sku's barcodes now", body = SkuBarcodes),
        (status = 400, description = "A bad sku or barcode, more than 20, no seller with the ops token, or the body is not JSON", body = super::openapi::ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = super::openapi::ErrorBody),
        (status = 404, description = "Another seller named with a seller's token", body = super::openapi::ErrorBody),
        (status = 409, description = "A barcode belongs to another sku of the seller", body = super::openapi::ErrorBody),
        (status = 413, description = "The body is larger than the server accepts"),
        (status = 415, description = "The body is not `application/json`", body = super::openapi::ErrorBody),
        (status = 422, description = "The JSON does not have the documented fields and types", body = super::openapi::ErrorBody),
        (status = 503, description = "The store is unavailable", body = super::openapi::ErrorBody),
    )
)]
pub async fn set_barcodes(
    caller: Caller,
    State(app): State<Arc<App>>,
    sku: Result<Path<String>, PathRejection>,
    body: Result<Json<BarcodesRequest>, JsonRejection>,
) -> Result<Json<SkuBarcodes>, ApiError> {
    let Path(sku) = sku.map_err(|e| ApiError(StatusCode::BAD_REQUEST, e.body_text()))?;
    let Json(req) = body.map_err(json_rejection)?;
    check_sku(&sku)?;
    let seller = barcode_seller(&caller, req.seller.as_deref())?;
    if req.barcodes.len() > 20 {
        return Err(bad("at most 20 barcodes per sku"));
    }
    let mut codes = Vec::with_capacity(req.barcodes.len());
    for b in &req.barcodes {
        let Some(c) = clean_scan(b) else {
            return Err(bad(&format!(
                "a barcode must be 1 to {MAX_SCAN_CHARS} characters without control characters"
            )));
        };
        codes.push(c.to_string());
    }
    match app
        .store
        .set_sku_barcodes(&seller, &sku, &codes, "api")
        .await?
    {
        Ok(list) => {
            tracing::info!(seller = %seller, sku = %sku, count = list.len(), "sku barcodes set");
            Ok(Json(answer(seller, sku, list)))
        }
        Err(taken) => Err(ApiError(StatusCode::CONFLICT, taken.to_string())),
    }
}
