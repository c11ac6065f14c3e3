//! The inventory API (bearer token): stock levels (set one, list with
//! available = on hand − reserved − safety), stock counts (audits that set
//! on hand to what was counted and record the difference) and low-stock
//! alerts. A seller's token sees and writes its own warehouses only; another
//! seller's warehouse answers 404 and is never listed.
//!
//! Also the CSV reader `orderhub stock import` uses ([`parse_stock_csv`]).

use super::api::no_nul;
use super::auth::Caller;
use super::ApiError;
use crate::app::App;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, put};
use axum::{Json, Router};
use orderhub_core::store::{BinLine, StockFilter, StockLine};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// The largest quantity on hand accepted (API, CSV, counts).
pub const MAX_ON_HAND: i64 = 1_000_000_000;
/// At most this many skus in one stock count.
pub const MAX_COUNT_LINES: usize = 10_000;
const MAX_TEXT: usize = 200;

pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/api/stock", get(list_stock))
        .route("/api/stock/{warehouse}/{sku}", put(set_stock))
        .route("/api/stock/counts", get(list_counts).post(record_count))
        .route("/api/stock/alerts", get(list_alerts))
}

/// A list's `limit`: 200 by default, 1 to 1000.
fn page_limit(limit: Option<u64>) -> Result<u64, ApiError> {
    match limit.unwrap_or(200) {
        l @ 1..=1000 => Ok(l),
        _ => Err(bad_request("limit must be 1 to 1000")),
    }
}

fn bad_request(msg: impl Into<String>) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, msg.into())
}

fn not_found() -> ApiError {
    ApiError(StatusCode::NOT_FOUND, "no such warehouse".into())
}

/// A text field: not empty, at most 200 characters, no NUL.
pub fn check_text(name: &str, v: &str) -> Result<(), String> {
    if v.trim().is_empty() {
        Err(format!("{name} must not be empty"))
    } else if v.chars().count() > MAX_TEXT {
        Err(format!("{name} must be at most {MAX_TEXT} characters"))
    } else if v.contains('\0') {
        Err(format!("{name} must not contain NUL"))
    } else {
        Ok(())
    }
}

/// The longest bin location accepted.
pub const MAX_BIN: usize = 50;

/// A bin location: at most 50 characters, no control characters (empty
/// means none).
pub fn check_bin(name: &str, v: &str) -> Result<(), String> {
    if v.chars().count() > MAX_BIN {
        Err(format!("{name} must be at most {MAX_BIN} characters"))
    } else if v.chars().any(char::is_control) {
        Err(format!("{name} must not contain control characters"))
    } else {
        Ok(())
    }
}

fn check_quantity(name: &str, v: i64) -> Result<(), String> {
    if !(0..=MAX_ON_HAND).contains(&v) {
        Err(format!("{name} must be 0 to {MAX_ON_HAND}"))
    } else {
        Ok(())
    }
}

/// The caller may write this warehouse: it exists and is the caller's
/// seller's (else 404, whether it exists or not).
async fn writable_warehouse(app: &App, caller: &Caller, warehouse: &str) -> Result<(), ApiError> {
    let seller = app
        .store
        .warehouse_seller(warehouse)
        .await?
        .ok_or_else(not_found)?;
    caller.check(&seller).map_err(|_| not_found())
}

/// The body of `PUT /api/stock/{warehouse}/{sku}`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct SetStock {
    /// The quantity on hand now (reservations are kept).
    #[schema(minimum = 0, maximum = 1_000_000_000, example = 40)]
    pub on_hand: i64,
    /// Why (logged).
    #[schema(example = "received PO 1182")]
    pub reason: Option<String>,
    /// The sku's bin location in this warehouse (`A-10`; at most 50
    /// characters); absent: unchanged; empty: forgotten.
    #[schema(example = "A-10")]
    pub bin: Option<String>,
}

/// Set the quantity on hand of a sku in a warehouse (creating the row if
/// the sku was not stocked there). Reservations are kept; low-stock alerts
/// are raised or cleared at once.
#[utoipa::path(
    put,
    path = "/api/stock/{warehouse}/{sku}",
    tag = "ops",
    security(("bearer" = [])),
    params(
        ("warehouse" = String, Path, description = "The warehouse's configured id"),
        ("sku" = String, Path, description = "The sku"),
    ),
    request_body = SetStock,
    responses(
        (status = 200, description = "The stock level now", body = StockLevelRow),
        (status = 400, description = "A bad path, body or quantity (named in the message)", body = super::openapi::ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = super::openapi::ErrorBody),
        (status = 404, description = "No such warehouse (or another seller's)", body = super::openapi::ErrorBody),
        (status = 413, description = "The body is larger than the server accepts"),
        (status = 415, description = "The body is not `application/json`", body = super::openapi::ErrorBody),
        (status = 422, description = "The JSON does not have the documented fields and types", body = super::openapi::ErrorBody),
        (status = 503, description = "The store is unavailable", body = super::openapi::ErrorBody),
    )
)]
pub async fn set_stock(
    caller: Caller,
    State(app): State<Arc<App>>,
    path: Result<Path<(String, String)>, PathRejection>,
    body: Result<Json<SetStock>, JsonRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Path((warehouse, sku)) = path.map_err(|e| bad_request(e.body_text()))?;
    check_text("warehouse", &warehouse).map_err(bad_request)?;
    check_text("sku", &sku).map_err(bad_request)?;
    let Json(body) = body.map_err(|e| ApiError(e.status(), e.body_text()))?;
    check_quantity("on_hand", body.on_hand).map_err(bad_request)?;
    if let Some(r) = &body.reason {
        if r.chars().count() > 500 || r.contains('\0') {
            return Err(bad_request(
                "reason must be at most 500 characters, without NUL",
            ));
        }
    }
    if let Some(b) = &body.bin {
        check_bin("bin", b).map_err(bad_request)?;
    }
    writable_warehouse(&app, &caller, &warehouse).await?;
    let line = StockLine {
        warehouse_id: warehouse.clone(),
        sku: sku.clone(),
        on_hand: body.on_hand,
    };
    app.store
        .apply_stock_lines(&[line], None, &app.settings.inventory)
        .await?;
    if let Some(b) = &body.bin {
        app.store
            .set_bins(&[BinLine {
                warehouse_id: warehouse.clone(),
                sku: sku.clone(),
                bin: Some(b.clone()),
            }])
            .await?;
    }
    tracing::info!(
        warehouse = %warehouse,
        sku = %sku,
        on_hand = body.on_hand,
        reason = body.reason.as_deref().unwrap_or(""),
        "stock set by API"
    );
    let row = app
        .store
        .stock_rows(
            &StockFilter {
                warehouse: Some(warehouse),
                sku: Some(sku),
                ..Default::default()
            },
            &app.settings.inventory,
        )
        .await?
        .into_iter()
        .next()
        .ok_or_else(not_found)?;
    Ok(Json(serde_json::to_value(row).unwrap_or_default()))
}

/// The query of `GET /api/stock`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StockQuery {
    /// Only this warehouse (another seller's lists nothing).
    pub warehouse: Option<String>,
    /// Only this sku.
    pub sku: Option<String>,
    /// Only skus at or below their low-stock threshold.
    pub low: Option<bool>,
}

/// Stock levels of the caller's warehouses, by warehouse then sku: on hand,
/// reserved, safety stock, available (on hand − reserved − safety) and the
/// low-stock threshold that applies.
#[utoipa::path(
    get,
    path = "/api/stock",
    tag = "ops",
    security(("bearer" = [])),
    params(StockQuery),
    responses(
        (status = 200, description = "The stock levels", body = StockList),
        (status = 400, description = "A bad parameter (named in the message)", body = super::openapi::ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = super::openapi::ErrorBody),
        (status = 503, description = "The store is unavailable", body = super::openapi::ErrorBody),
    )
)]
pub async fn list_stock(
    caller: Caller,
    State(app): State<Arc<App>>,
    q: Result<Query<StockQuery>, QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Query(q) = q.map_err(|e| bad_request(e.body_text()))?;
    no_nul("warehouse", q.warehouse.as_deref())?;
    no_nul("sku", q.sku.as_deref())?;
    let rows = app
        .store
        .stock_rows(
            &StockFilter {
                seller: caller.scope().map(str::to_string),
                warehouse: q.warehouse,
                sku: q.sku,
                low: q.low.unwrap_or(false),
            },
            &app.settings.inventory,
        )
        .await?;
    Ok(Json(serde_json::json!({ "stock": rows })))
}

/// One sku of a stock count.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct CountLine {
    #[schema(example = "SKU-001")]
    pub sku: String,
    #[schema(minimum = 0, maximum = 1_000_000_000, example = 37)]
    pub counted: i64,
}

/// The body of `POST /api/stock/counts`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct CountRequest {
    /// The warehouse counted.
    #[schema(example = "main")]
    pub warehouse: String,
    /// What was counted, one entry per sku (at most 10,000).
    pub counts: Vec<CountLine>,
    /// Who counted.
    #[schema(example = "ana")]
    pub counted_by: String,
}

/// Record a stock count (audit): each sku's quantity on hand becomes what was
/// counted, and the difference found (counted − expected on hand) is
/// recorded. All or nothing.
#[utoipa::path(
    post,
    path = "/api/stock/counts",
    tag = "ops",
    security(("bearer" = [])),
    request_body = CountRequest,
    responses(
        (status = 201, description = "The count, per sku, with the differences found", body = CountList),
        (status = 400, description = "A bad field, quantity or a sku listed twice (named in the message)", body = super::openapi::ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = super::openapi::ErrorBody),
        (status = 404, description = "No such warehouse (or another seller's)", body = super::openapi::ErrorBody),
        (status = 413, description = "The body is larger than the server accepts"),
        (status = 415, description = "The body is not `application/json`", body = super::openapi::ErrorBody),
        (status = 422, description = "The JSON does not have the documented fields and types", body = super::openapi::ErrorBody),
        (status = 503, description = "The store is unavailable", body = super::openapi::ErrorBody),
    )
)]
pub async fn record_count(
    caller: Caller,
    State(app): State<Arc<App>>,
    body: Result<Json<CountRequest>, JsonRejection>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let Json(req) = body.map_err(|e| ApiError(e.status(), e.body_text()))?;
    check_text("warehouse", &req.warehouse).map_err(bad_request)?;
    check_text("counted_by", &req.counted_by).map_err(bad_request)?;
    if req.counts.is_empty() || req.counts.len() > MAX_COUNT_LINES {
        return Err(bad_request(format!(
            "counts must list 1 to {MAX_COUNT_LINES} skus"
        )));
    }
    let mut seen = BTreeSet::new();
    for (i, c) in req.counts.iter().enumerate() {
        check_text(&format!("counts[{i}].sku"), &c.sku).map_err(bad_request)?;
        check_quantity(&format!("counts[{i}].counted"), c.counted).map_err(bad_request)?;
        if !seen.insert(c.sku.as_str()) {
            return Err(bad_request(format!(
                "counts[{i}].sku: `{}` is listed twice",
                c.sku
            )));
        }
    }
    writable_warehouse(&app, &caller, &req.warehouse).await?;
    let lines: Vec<StockLine> = req
        .counts
        .iter()
        .map(|c| StockLine {
            warehouse_id: req.warehouse.clone(),
            sku: c.sku.clone(),
            on_hand: c.counted,
        })
        .collect();
    let counts = app
        .store
        .apply_stock_lines(&lines, Some(&req.counted_by), &app.settings.inventory)
        .await?;
    tracing::info!(
        warehouse = %req.warehouse,
        skus = counts.len(),
        counted_by = %req.counted_by,
        "stock count recorded"
    );
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({ "counts": counts })),
    ))
}

/// The query of `GET /api/stock/counts`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CountsQuery {
    /// Only this warehouse's counts (another seller's lists nothing).
    pub warehouse: Option<String>,
    /// At most this many, 1 to 1000 (default 200).
    pub limit: Option<u64>,
}

/// Recorded stock counts of the caller's warehouses, newest first.
#[utoipa::path(
    get,
    path = "/api/stock/counts",
    tag = "ops",
    security(("bearer" = [])),
    params(CountsQuery),
    responses(
        (status = 200, description = "The counts, newest first", body = CountList),
        (status = 400, description = "A bad parameter (named in the message)", body = super::openapi::ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = super::openapi::ErrorBody),
        (status = 503, description = "The store is unavailable", body = super::openapi::ErrorBody),
    )
)]
pub async fn list_counts(
    caller: Caller,
    State(app): State<Arc<App>>,
    q: Result<Query<CountsQuery>, QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Query(q) = q.map_err(|e| bad_request(e.body_text()))?;
    no_nul("warehouse", q.warehouse.as_deref())?;
    let limit = page_limit(q.limit)?;
    let counts = app
        .store
        .stock_counts(caller.scope(), q.warehouse.as_deref(), limit)
        .await?;
    Ok(Json(serde_json::json!({ "counts": counts })))
}

/// The query of `GET /api/stock/alerts`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AlertsQuery {
    /// `true`: only open alerts; `false`: only cleared ones; absent: both.
    pub open: Option<bool>,
    /// Only this warehouse's alerts.
    pub warehouse: Option<String>,
    /// At most this many, 1 to 1000 (default 200).
    pub limit: Option<u64>,
}

/// Low-stock alerts of the caller's warehouses, newest first. One is raised
/// when a sku's available stock in a warehouse falls to or below its
/// threshold, stays open (not repeated) while it is low, and is cleared when
/// it rises above; the next fall raises a new one.
#[utoipa::path(
    get,
    path = "/api/stock/alerts",
    tag = "ops",
    security(("bearer" = [])),
    params(AlertsQuery),
    responses(
        (status = 200, description = "The alerts, newest first", body = AlertList),
        (status = 400, description = "A bad parameter (named in the message)", body = super::openapi::ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = super::openapi::ErrorBody),
        (status = 503, description = "The store is unavailable", body = super::openapi::ErrorBody),
    )
)]
pub async fn list_alerts(
    caller: Caller,
    State(app): State<Arc<App>>,
    q: Result<Query<AlertsQuery>, QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Query(q) = q.map_err(|e| bad_request(e.body_text()))?;
    no_nul("warehouse", q.warehouse.as_deref())?;
    let limit = page_limit(q.limit)?;
    let alerts = app
        .store
        .stock_alerts(caller.scope(), q.warehouse.as_deref(), q.open, limit)
        .await?;
    Ok(Json(serde_json::json!({ "alerts": alerts })))
}

/// Read a stock CSV (header `warehouse,sku,on_hand`, optionally with a
/// fourth column `bin`). Every bad row is reported with its line number (a
/// sku listed twice for one warehouse, a warehouse not in `warehouses`, a
/// quantity that is not 0 to 10⁹, a bin longer than 50 characters); any
/// problem means nothing is returned to apply.
pub fn parse_stock_csv(
    data: &[u8],
    warehouses: &BTreeSet<String>,
) -> Result<Vec<StockLine>, Vec<String>> {
    parse_stock_csv_with_bins(data, warehouses).map(|(lines, _)| lines)
}

/// [`parse_stock_csv`] with the bins: a row's non-empty `bin` cell is its
/// sku's bin location (an empty cell leaves the bin as it is).
pub fn parse_stock_csv_with_bins(
    data: &[u8],
    warehouses: &BTreeSet<String>,
) -> Result<(Vec<StockLine>, Vec<BinLine>), Vec<String>> {
    parse_stock_csv_full(data, warehouses).map(|(lines, bins, _)| (lines, bins))
}

/// A sku's barcode from the stock CSV's optional `barcode` column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BarcodeLine {
    pub warehouse_id: String,
    pub sku: String,
    pub barcode: String,
}

/// [`parse_stock_csv_with_bins`] with the optional `barcode` column too
/// (header `warehouse,sku,on_hand` then `bin` and/or `barcode` in any
/// order): a non-empty `barcode` cell is a barcode (GTIN/UPC/EAN) of the
/// sku, stored with source `csv`; one barcode naming two skus is a bad row.
pub fn parse_stock_csv_full(
    data: &[u8],
    warehouses: &BTreeSet<String>,
) -> Result<(Vec<StockLine>, Vec<BinLine>, Vec<BarcodeLine>), Vec<String>> {
    let mut problems = Vec::new();
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(data);
    let (bin_col, barcode_col, fields) = match rdr.headers() {
        Ok(h) => {
            let h: Vec<&str> = h.iter().collect();
            let extra = h.get(3..).unwrap_or(&[]);
            let ok = h.get(..3) == Some(&["warehouse", "sku", "on_hand"][..])
                && extra.iter().all(|c| matches!(*c, "bin" | "barcode"))
                && (extra.len() < 2 || extra[0] != extra[1])
                && extra.len() <= 2;
            if !ok {
                problems.push(format!(
                    "line 1: the header must be `warehouse,sku,on_hand`, optionally followed by `bin` and/or `barcode` (got `{}`)",
                    h.join(",")
                ));
                return Err(problems);
            }
            let col = |name: &str| h.iter().position(|c| *c == name);
            (col("bin"), col("barcode"), h.len())
        }
        Err(e) => return Err(vec![format!("line 1: {e}")]),
    };
    let header_text = ["warehouse", "sku", "on_hand"]
        .into_iter()
        .chain(
            [(bin_col, "bin"), (barcode_col, "barcode")]
                .into_iter()
                .filter_map(|(c, n)| c.map(|c| (c, n)))
                .collect::<BTreeMap<usize, &str>>()
                .into_values(),
        )
        .collect::<Vec<_>>()
        .join(",");
    let mut lines = Vec::new();
    let mut bins = Vec::new();
    let mut barcodes: Vec<BarcodeLine> = Vec::new();
    let mut barcode_seen: BTreeMap<(String, String), (String, u64)> = BTreeMap::new();
    let mut seen: BTreeMap<(String, String), u64> = BTreeMap::new();
    for rec in rdr.records() {
        let rec = match rec {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map(|p| p.line()).unwrap_or(0);
                problems.push(format!("line {line}: {e}"));
                continue;
            }
        };
        let line = rec.position().map(|p| p.line()).unwrap_or(0);
        if rec.len() != fields {
            problems.push(format!(
                "line {line}: expected {fields} fields ({header_text}), found {}",
                rec.len()
            ));
            continue;
        }
        let (w, sku, qty) = (&rec[0], &rec[1], &rec[2]);
        let mut bad = Vec::new();
        if let Err(e) = check_text("warehouse", w) {
            bad.push(e);
        } else if !warehouses.contains(w) {
            bad.push(format!("unknown warehouse `{w}`"));
        }
        if let Err(e) = check_text("sku", sku) {
            bad.push(e);
        }
        let on_hand = match qty.parse::<i64>() {
            Ok(n) => match check_quantity("on_hand", n) {
                Ok(()) => Some(n),
                Err(e) => {
                    bad.push(e);
                    None
                }
            },
            Err(_) => {
                bad.push(format!("on_hand `{qty}` is not a whole number"));
                None
            }
        };
        let bin = bin_col.map(|c| &rec[c]).unwrap_or("");
        if let Err(e) = check_bin("bin", bin) {
            bad.push(e);
        }
        let barcode = barcode_col.map(|c| &rec[c]).unwrap_or("");
        if !barcode.is_empty() {
            if orderhub_core::pack_verify::clean_scan(barcode) != Some(barcode) {
                bad.push(format!(
                    "barcode `{barcode}` must be at most {} characters without control characters",
                    orderhub_core::pack_verify::MAX_SCAN_CHARS
                ));
            } else if let Some((other, first)) = barcode_seen
                .get(&(w.to_string(), barcode.to_string()))
                .filter(|(other, _)| other != sku)
            {
                bad.push(format!(
                    "barcode `{barcode}` already given to sku `{other}` on line {first}"
                ));
            }
        }
        if bad.is_empty() {
            if let Some(first) = seen.insert((w.to_string(), sku.to_string()), line) {
                bad.push(format!("`{w}`/`{sku}` already given on line {first}"));
            }
        }
        if !bad.is_empty() {
            problems.push(format!("line {line}: {}", bad.join("; ")));
            continue;
        }
        lines.push(StockLine {
            warehouse_id: w.to_string(),
            sku: sku.to_string(),
            on_hand: on_hand.unwrap_or(0),
        });
        if !barcode.is_empty() {
            barcode_seen.insert(
                (w.to_string(), barcode.to_string()),
                (sku.to_string(), line),
            );
            barcodes.push(BarcodeLine {
                warehouse_id: w.to_string(),
                sku: sku.to_string(),
                barcode: barcode.to_string(),
            });
        }
        if !bin.is_empty() {
            bins.push(BinLine {
                warehouse_id: w.to_string(),
                sku: sku.to_string(),
                bin: Some(bin.to_string()),
            });
        }
    }
    if lines.is_empty() && problems.is_empty() {
        problems.push("the file has no rows".into());
    }
    if problems.is_empty() {
        Ok((lines, bins, barcodes))
    } else {
        Err(problems)
    }
}

// Schemas of the answers (they mirror `orderhub_core::store::inventory`'s
// views, which stay free of utoipa).

/// A sku in a warehouse and what is left to sell.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct StockLevelRow {
    #[schema(example = "main")]
    pub warehouse_id: String,
    pub seller_id: String,
    #[schema(example = "SKU-001")]
    pub sku: String,
    pub on_hand: i64,
    pub reserved: i64,
    /// Units routing never reserves.
    pub safety: i64,
    /// `on_hand - reserved - safety` (may be negative).
    pub available: i64,
    /// The low-stock threshold for this sku.
    pub threshold: i64,
    /// `available <= threshold`.
    pub low: bool,
    /// The sku's bin location in the warehouse (null: none recorded).
    pub bin: Option<String>,
}

/// `GET /api/stock`.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct StockList {
    pub stock: Vec<StockLevelRow>,
}

/// One sku of a recorded stock count.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct StockCount {
    pub id: i64,
    pub warehouse_id: String,
    pub sku: String,
    /// On hand before the count.
    pub expected: i64,
    pub counted: i64,
    /// `counted - expected`.
    pub difference: i64,
    pub counted_by: String,
    #[schema(value_type = String, format = DateTime)]
    pub at: String,
}

/// Stock counts.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct CountList {
    pub counts: Vec<StockCount>,
}

/// A low-stock alert.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct StockAlert {
    pub id: i64,
    pub seller_id: String,
    pub warehouse_id: String,
    pub sku: String,
    /// Available stock when it was raised.
    pub available: i64,
    pub threshold: i64,
    #[schema(value_type = String, format = DateTime)]
    pub raised_at: String,
    /// When stock rose above the threshold again (null: still open).
    #[schema(value_type = Option<String>, format = DateTime)]
    pub cleared_at: Option<String>,
    pub open: bool,
}

/// `GET /api/stock/alerts`.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct AlertList {
    pub alerts: Vec<StockAlert>,
}

/// The scheduler's low-stock sweep (every tick): raises and clears alerts
/// over all stock, so a reservation made by routing is seen within a tick.
pub async fn sweep_alerts(app: &App) {
    if let Err(e) = app.store.sweep_stock_alerts(&app.settings.inventory).await {
        tracing::warn!(error = %e, "low-stock alert sweep failed");
    }
}

/// The scheduler's sweep of shipments of cancelled orders still `created`
/// (no label batch will ever take them): cancelled, their stock released.
pub async fn sweep_cancelled_unbought(app: &App) {
    match app
        .store
        .cancel_unbought_shipments_of_cancelled_orders(200)
        .await
    {
        Ok(ids) if !ids.is_empty() => {
            tracing::info!(
                count = ids.len(),
                "released stock of cancelled orders' shipments"
            );
            let warehouses: BTreeSet<String> = match app.store.shipments_warehouses(&ids).await {
                Ok(w) => w,
                Err(_) => BTreeSet::new(),
            };
            for w in warehouses {
                let _ = app
                    .store
                    .evaluate_stock_alerts(&app.settings.inventory, &w, None)
                    .await;
            }
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "cancelled shipments sweep failed"),
    }
}

#[cfg(test)]
mod barcode_column_tests {
    use super::*;

    fn known() -> BTreeSet<String> {
        ["main".to_string()].into_iter().collect()
    }

    #[test]
    fn the_barcode_column_is_optional_and_in_any_order() {
        let csv =
            b"warehouse,sku,on_hand,barcode,bin\nmain,SKU-1,5,0012345678905,A-1\nmain,SKU-2,3,,\n";
        let (lines, bins, codes) = parse_stock_csv_full(csv, &known()).unwrap();
        assert_eq!(lines.len(), 2);
        assert_eq!(bins.len(), 1);
        assert_eq!(
            codes,
            vec![BarcodeLine {
                warehouse_id: "main".into(),
                sku: "SKU-1".into(),
                barcode: "0012345678905".into(),
            }]
        );
        let plain = b"warehouse,sku,on_hand\nmain,SKU-1,5\n";
        assert!(parse_stock_csv_full(plain, &known()).unwrap().2.is_empty());
    }

    #[test]
    fn one_barcode_for_two_skus_or_a_bad_header_is_refused_whole() {
        let csv = b"warehouse,sku,on_hand,barcode\nmain,SKU-1,5,111\nmain,SKU-2,3,111\n";
        let problems = parse_stock_csv_full(csv, &known()).unwrap_err();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].starts_with("line 3:"), "{problems:?}");
        assert!(problems[0].contains("SKU-1"), "{problems:?}");
        let bad = b"warehouse,sku,on_hand,barcode,barcode\nmain,SKU-1,5,1,2\n";
        assert!(parse_stock_csv_full(bad, &known()).is_err());
        let ctl = b"warehouse,sku,on_hand,barcode\nmain,SKU-1,5,\"a\x01b\"\n";
        assert!(parse_stock_csv_full(ctl, &known()).is_err());
    }
}
