//! Warehouse floor documents over the API (bearer token, scoped to the
//! caller's seller: another seller's warehouse or shipment answers 404):
//!
//! - `GET /api/warehouses/{id}/picklist` (JSON), `.csv`, `.pdf`: what to
//!   pick for the shipments ready at the warehouse (or `?shipments=` named
//!   ones), summed per sku in bin order;
//! - `GET /api/shipments/{id}/packing-slip.pdf`: a shipment's packing slip
//!   (barcode `SHIP-<id>`);
//! - `GET /api/warehouses/{id}/print.pdf`: for each shipment in pick-list
//!   order its packing slip, then its label (PDF labels merged, PNG labels as
//!   an image page; ZPL cannot go into a PDF);
//! - `GET /api/warehouses/{id}/labels.zpl`: the ZPL labels of those
//!   shipments, concatenated in pick-list order, for a thermal printer.

use super::auth::{not_found, Caller};
use super::ApiError;
use crate::app::App;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use orderhub_core::picklist::PickList;
use serde::Deserialize;
use std::sync::Arc;

/// At most this many shipments in one pick list or print batch.
pub const MAX_BATCH: usize = 500;

pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/api/warehouses/{id}/picklist", get(picklist_json))
        .route("/api/warehouses/{id}/picklist.csv", get(picklist_csv))
        .route("/api/warehouses/{id}/picklist.pdf", get(picklist_pdf))
        .route("/api/warehouses/{id}/print.pdf", get(print_pdf))
        .route("/api/warehouses/{id}/labels.zpl", get(labels_zpl))
        .route(
            "/api/shipments/{id}/packing-slip.pdf",
            get(packing_slip_pdf),
        )
}

/// The query of the pick list and print routes.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BatchQuery {
    /// Only these shipments (comma-separated ids), each of which must be at
    /// the warehouse and ready to pick; absent: every shipment ready there.
    pub shipments: Option<String>,
}

fn bad_request(msg: impl Into<String>) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, msg.into())
}

/// `shipments=1,2,3` → the ids (1 to 500 of them).
pub fn parse_ids(s: &str) -> Result<Vec<i64>, String> {
    let ids: Vec<i64> = s
        .split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|p| p.trim().parse::<i64>())
        .collect::<Result<_, _>>()
        .map_err(|_| "shipments must be shipment ids separated by commas".to_string())?;
    if ids.is_empty() || ids.len() > MAX_BATCH {
        return Err(format!("give between 1 and {MAX_BATCH} shipment ids"));
    }
    Ok(ids)
}

/// The warehouse, if the caller may see it (else 404 whether it exists or not).
async fn own_warehouse(
    app: &App,
    caller: &Caller,
    id: &str,
) -> Result<orderhub_core::store::warehouse::Model, ApiError> {
    if id.is_empty() || id.len() > 200 || id.contains('\0') {
        return Err(not_found());
    }
    let w = app
        .store
        .stock_warehouses(caller.scope())
        .await?
        .into_iter()
        .find(|w| w.id == id)
        .ok_or_else(not_found)?;
    caller.check(&w.seller_id)?;
    Ok(w)
}

/// The pick list the request asks for, or the error answer.
async fn pick_list(
    app: &App,
    caller: &Caller,
    id: Result<Path<String>, PathRejection>,
    q: Result<Query<BatchQuery>, QueryRejection>,
) -> Result<(orderhub_core::store::warehouse::Model, PickList), ApiError> {
    let Path(id) = id.map_err(|e| bad_request(e.body_text()))?;
    let Query(q) = q.map_err(|e| bad_request(e.body_text()))?;
    let ids = match q.shipments.as_deref() {
        Some(s) => Some(parse_ids(s).map_err(bad_request)?),
        None => None,
    };
    let w = own_warehouse(app, caller, &id).await?;
    match app
        .store
        .pick_list(&w.id, ids.as_deref(), MAX_BATCH as u64)
        .await?
    {
        Ok(list) => Ok((w, list)),
        Err(refusal) if !refusal.not_here.is_empty() => Err(ApiError(
            StatusCode::NOT_FOUND,
            format!(
                "no such shipment at this warehouse: {}",
                join(refusal.not_here.iter())
            ),
        )),
        Err(refusal) => Err(ApiError(
            StatusCode::CONFLICT,
            format!(
                "not ready to pick: {}",
                refusal
                    .not_ready
                    .iter()
                    .map(|(id, why)| format!("{id} ({why})"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
    }
}

fn join<T: ToString>(it: impl Iterator<Item = T>) -> String {
    it.map(|x| x.to_string()).collect::<Vec<_>>().join(",")
}

/// The pick list of a warehouse: the shipments ready to pick there
/// (`created`, `buying` or `label_bought`, not yet scanned by the carrier,
/// order not cancelled), or the named ones; one row per sku with the total
/// and the units per shipment, sorted by bin location (natural order:
/// `A-2` before `A-10`), skus without a bin last. `shipment_ids` is the
/// pick-list order packing slips and labels are printed in.
#[utoipa::path(
    get,
    path = "/api/warehouses/{id}/picklist",
    tag = "ops",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The warehouse's configured id"), BatchQuery),
    responses(
        (status = 200, description = "The pick list", body = PickListDoc),
        (status = 400, description = "A bad parameter (named in the message)", body = super::openapi::ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = super::openapi::ErrorBody),
        (status = 404, description = "No such warehouse (or another seller's), or a named shipment is not at it", body = super::openapi::ErrorBody),
        (status = 409, description = "A named shipment is not ready to pick (status named)", body = super::openapi::ErrorBody),
        (status = 503, description = "The store is unavailable", body = super::openapi::ErrorBody),
    )
)]
pub async fn picklist_json(
    caller: Caller,
    State(app): State<Arc<App>>,
    id: Result<Path<String>, PathRejection>,
    q: Result<Query<BatchQuery>, QueryRejection>,
) -> Result<Json<PickList>, ApiError> {
    let (_, list) = pick_list(&app, &caller, id, q).await?;
    Ok(Json(list))
}

/// The pick list as CSV: `bin,sku,title,quantity,shipments`, one line per
/// sku in bin order; `shipments` is `id:units` joined with `;`.
#[utoipa::path(
    get,
    path = "/api/warehouses/{id}/picklist.csv",
    tag = "ops",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The warehouse's configured id"), BatchQuery),
    responses(
        (status = 200, description = "Columns: bin, sku, title, quantity, shipments (`id:units` joined with `;`). Text a spreadsheet would run as a formula is prefixed with `'`.", body = String, content_type = "text/csv"),
        (status = 400, description = "A bad parameter (named in the message)", body = super::openapi::ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = super::openapi::ErrorBody),
        (status = 404, description = "No such warehouse (or another seller's), or a named shipment is not at it", body = super::openapi::ErrorBody),
        (status = 409, description = "A named shipment is not ready to pick", body = super::openapi::ErrorBody),
        (status = 503, description = "The store is unavailable", body = super::openapi::ErrorBody),
    )
)]
pub async fn picklist_csv(
    caller: Caller,
    State(app): State<Arc<App>>,
    id: Result<Path<String>, PathRejection>,
    q: Result<Query<BatchQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let (w, list) = pick_list(&app, &caller, id, q).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"picklist-{}.csv\"", file_safe(&w.id)),
            ),
        ],
        orderhub_core::picklist::to_csv(&list),
    )
        .into_response())
}

/// A name safe in a `Content-Disposition` filename.
fn file_safe(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(60)
        .collect()
}

fn pdf_answer(pdf: Vec<u8>, extra: Vec<(&'static str, String)>) -> Response {
    let mut r = ([(header::CONTENT_TYPE, "application/pdf")], pdf).into_response();
    for (k, v) in extra {
        if let Ok(v) = header::HeaderValue::from_str(&v) {
            r.headers_mut()
                .insert(header::HeaderName::from_static(k), v);
        }
    }
    r
}

fn pdf_failed(what: &str, e: String) -> ApiError {
    tracing::error!(error = %e, what, "a floor document could not be written");
    ApiError(
        StatusCode::SERVICE_UNAVAILABLE,
        format!("the {what} could not be written"),
    )
}

/// The pick list as a PDF to print (Letter): bin, sku, quantity, title and
/// the shipments each row's units go to, in bin order.
#[utoipa::path(
    get,
    path = "/api/warehouses/{id}/picklist.pdf",
    tag = "ops",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The warehouse's configured id"), BatchQuery),
    responses(
        (status = 200, description = "The pick list", content_type = "application/pdf"),
        (status = 400, description = "A bad parameter (named in the message)", body = super::openapi::ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = super::openapi::ErrorBody),
        (status = 404, description = "No such warehouse (or another seller's), or a named shipment is not at it", body = super::openapi::ErrorBody),
        (status = 409, description = "A named shipment is not ready to pick", body = super::openapi::ErrorBody),
        (status = 503, description = "The store is unavailable", body = super::openapi::ErrorBody),
    )
)]
pub async fn picklist_pdf(
    caller: Caller,
    State(app): State<Arc<App>>,
    id: Result<Path<String>, PathRejection>,
    q: Result<Query<BatchQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let (w, list) = pick_list(&app, &caller, id, q).await?;
    let pdf = crate::packing_slip::pick_list_pdf(&list, &w.name)
        .map_err(|e| pdf_failed("pick list", e))?;
    Ok(pdf_answer(pdf, Vec::new()))
}

/// A shipment's packing slip (4×6 in): seller, order number, ship-to name
/// and city, the lines (sku, title, quantity) and a Code 128 barcode whose
/// value is `SHIP-<shipment id>`.
#[utoipa::path(
    get,
    path = "/api/shipments/{id}/packing-slip.pdf",
    tag = "ops",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "The shipment id")),
    responses(
        (status = 200, description = "The packing slip", content_type = "application/pdf"),
        (status = 400, description = "The id is not a number", body = super::openapi::ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = super::openapi::ErrorBody),
        (status = 404, description = "No such shipment (or another seller's)", body = super::openapi::ErrorBody),
        (status = 503, description = "The store is unavailable", body = super::openapi::ErrorBody),
    )
)]
pub async fn packing_slip_pdf(
    caller: Caller,
    State(app): State<Arc<App>>,
    id: Result<Path<i64>, PathRejection>,
) -> Result<Response, ApiError> {
    let Path(id) = id.map_err(|e| bad_request(e.body_text()))?;
    let slip = app.store.packing_slip(id).await?.ok_or_else(not_found)?;
    caller.check(&slip.seller_id)?;
    let pdf =
        crate::packing_slip::packing_slip_pdf(&slip).map_err(|e| pdf_failed("packing slip", e))?;
    Ok(pdf_answer(pdf, Vec::new()))
}

/// One batch, printed: for each shipment in pick-list order, its packing
/// slip then its label. PDF labels are merged as they are; PNG labels
/// become an image page; ZPL labels cannot go into a PDF (get them from
/// `labels.zpl`) and, like shipments without a label yet, are named in the
/// `x-orderhub-no-label` header (`id:reason` joined with `,`); their slip is
/// still printed.
#[utoipa::path(
    get,
    path = "/api/warehouses/{id}/print.pdf",
    tag = "ops",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The warehouse's configured id"), BatchQuery),
    responses(
        (status = 200, description = "Packing slips and labels, in pick-list order", content_type = "application/pdf"),
        (status = 400, description = "A bad parameter (named in the message)", body = super::openapi::ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = super::openapi::ErrorBody),
        (status = 404, description = "No such warehouse (or another seller's), a named shipment is not at it, or nothing is ready to print", body = super::openapi::ErrorBody),
        (status = 409, description = "A named shipment is not ready to pick", body = super::openapi::ErrorBody),
        (status = 503, description = "The store is unavailable, or a document could not be written", body = super::openapi::ErrorBody),
    )
)]
pub async fn print_pdf(
    caller: Caller,
    State(app): State<Arc<App>>,
    id: Result<Path<String>, PathRejection>,
    q: Result<Query<BatchQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let (w, list) = pick_list(&app, &caller, id, q).await?;
    if list.shipment_ids.is_empty() {
        return Err(ApiError(
            StatusCode::NOT_FOUND,
            "nothing is ready to print at this warehouse".into(),
        ));
    }
    let http = label_client(&app);
    let mut parts: Vec<Vec<u8>> = Vec::new();
    let mut no_label: Vec<String> = Vec::new();
    for &sid in &list.shipment_ids {
        let Some(slip) = app.store.packing_slip(sid).await? else {
            continue;
        };
        parts.push(
            crate::packing_slip::packing_slip_pdf(&slip)
                .map_err(|e| pdf_failed("packing slip", e))?,
        );
        let format = slip.label_format.as_deref().unwrap_or("pdf");
        let Some(url) = slip.label_url.as_deref().filter(|u| !u.is_empty()) else {
            no_label.push(format!("{sid}:no label yet"));
            continue;
        };
        if format == "zpl" {
            no_label.push(format!("{sid}:zpl"));
            continue;
        }
        let account = app
            .store
            .shipment(sid)
            .await?
            .and_then(|s| s.carrier_account);
        match fetch(&app, &http, account.as_deref(), url, format).await {
            Ok(bytes) => {
                let page = if format == "png" {
                    crate::packing_slip::png_page_pdf(&bytes)
                } else {
                    Ok(bytes)
                };
                match page {
                    Ok(p) => parts.push(p),
                    Err(e) => {
                        tracing::warn!(shipment_id = sid, warehouse = %w.id, error = %e, "label not printable");
                        no_label.push(format!("{sid}:unreadable {format}"));
                    }
                }
            }
            Err(e) => {
                tracing::warn!(shipment_id = sid, warehouse = %w.id, error = %e, "label not fetched");
                no_label.push(format!("{sid}:label not fetched"));
            }
        }
    }
    let merged = match crate::label_pdf::merge(&parts) {
        Ok(m) => m,
        Err(e) => {
            // A carrier's file that lopdf cannot read: print without it is
            // not possible to tell apart here, so say so.
            return Err(pdf_failed("batch", e));
        }
    };
    tracing::info!(
        warehouse = %w.id,
        shipments = list.shipment_ids.len(),
        without_label = no_label.len(),
        "batch printed"
    );
    Ok(pdf_answer(
        merged,
        vec![
            ("x-orderhub-no-label", no_label.join(",")),
            ("x-orderhub-shipments", join(list.shipment_ids.iter())),
        ],
    ))
}

/// The ZPL labels of a batch concatenated in pick-list order (each label is
/// its own `^XA … ^XZ` format), for a 4×6 thermal printer. Shipments whose
/// label is not ZPL are named in `x-orderhub-left-out`.
#[utoipa::path(
    get,
    path = "/api/warehouses/{id}/labels.zpl",
    tag = "ops",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The warehouse's configured id"), BatchQuery),
    responses(
        (status = 200, description = "The ZPL labels, one after the other", body = String, content_type = "application/zpl"),
        (status = 400, description = "A bad parameter (named in the message)", body = super::openapi::ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = super::openapi::ErrorBody),
        (status = 404, description = "No such warehouse (or another seller's), a named shipment is not at it, or none has a ZPL label", body = super::openapi::ErrorBody),
        (status = 409, description = "A named shipment is not ready to pick", body = super::openapi::ErrorBody),
        (status = 503, description = "The store is unavailable", body = super::openapi::ErrorBody),
    )
)]
pub async fn labels_zpl(
    caller: Caller,
    State(app): State<Arc<App>>,
    id: Result<Path<String>, PathRejection>,
    q: Result<Query<BatchQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let (w, list) = pick_list(&app, &caller, id, q).await?;
    let http = label_client(&app);
    let mut out = String::new();
    let mut left_out = Vec::new();
    for &sid in &list.shipment_ids {
        let Some(s) = app.store.shipment(sid).await? else {
            continue;
        };
        let (Some(url), Some("zpl")) = (s.label_url.as_deref(), s.label_format.as_deref()) else {
            left_out.push(sid);
            continue;
        };
        match fetch(&app, &http, s.carrier_account.as_deref(), url, "zpl").await {
            Ok(bytes) => match String::from_utf8(bytes) {
                Ok(text) if text.trim_start().starts_with("^XA") => {
                    out.push_str(text.trim_end());
                    out.push('\n');
                }
                _ => {
                    tracing::warn!(shipment_id = sid, warehouse = %w.id, "label is not ZPL text");
                    left_out.push(sid);
                }
            },
            Err(e) => {
                tracing::warn!(shipment_id = sid, warehouse = %w.id, error = %e, "label not fetched");
                left_out.push(sid);
            }
        }
    }
    if out.is_empty() {
        return Err(ApiError(
            StatusCode::NOT_FOUND,
            "none of these shipments has a ZPL label".into(),
        ));
    }
    let mut r = ([(header::CONTENT_TYPE, "application/zpl")], out).into_response();
    if let Ok(v) = header::HeaderValue::from_str(&join(left_out.iter())) {
        r.headers_mut()
            .insert(header::HeaderName::from_static("x-orderhub-left-out"), v);
    }
    Ok(r)
}

fn label_client(app: &App) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(std::time::Duration::from_millis(
            app.settings.worker.request_timeout_ms,
        ))
        .build()
        .unwrap_or_default()
}

/// A label file, at most 20 MB: through its carrier account when the
/// carrier downloads its own links (see [`crate::labels::label_file`]).
async fn fetch(
    app: &App,
    http: &reqwest::Client,
    carrier_account: Option<&str>,
    url: &str,
    format: &str,
) -> anyhow::Result<Vec<u8>> {
    crate::labels::label_file(app, http, carrier_account, url, format).await
}

// Schemas of the answers (mirroring `orderhub_core::picklist`).

/// The units of a row that go to one shipment.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct PickTargetDoc {
    pub shipment_id: i64,
    pub order_number: String,
    pub quantity: i64,
}

/// One sku to pick.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct PickRowDoc {
    /// The bin location (null: none recorded; such rows come last).
    #[schema(example = "A-10")]
    pub bin: Option<String>,
    pub sku: String,
    pub title: Option<String>,
    /// Units over every shipment.
    pub quantity: i64,
    pub shipments: Vec<PickTargetDoc>,
}

/// A pick list.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct PickListDoc {
    pub warehouse_id: String,
    #[schema(value_type = String, format = DateTime)]
    pub generated_at: String,
    /// The shipments, in pick-list order (the print order).
    pub shipment_ids: Vec<i64>,
    pub rows: Vec<PickRowDoc>,
    pub total_units: i64,
}

/// `orderhub picklist --warehouse W [--format csv|pdf|json] [--out FILE]
/// [--shipments 1,2]`: the same pick list as the API (exit 2 for bad
/// arguments or an unknown warehouse, 1 when named shipments are refused).
pub async fn picklist_cli(
    app: &App,
    warehouse: &str,
    format: &str,
    out: Option<std::path::PathBuf>,
    shipments: Option<String>,
) -> anyhow::Result<std::process::ExitCode> {
    use std::process::ExitCode;
    if !matches!(format, "csv" | "pdf" | "json") {
        eprintln!("--format must be csv, pdf or json");
        return Ok(ExitCode::from(2));
    }
    let ids = match shipments.as_deref().map(parse_ids).transpose() {
        Ok(ids) => ids,
        Err(e) => {
            eprintln!("--shipments: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    let Some(w) = app
        .store
        .stock_warehouses(None)
        .await?
        .into_iter()
        .find(|w| w.id == warehouse)
    else {
        eprintln!("no such warehouse: {warehouse}");
        return Ok(ExitCode::from(2));
    };
    let list = match app
        .store
        .pick_list(&w.id, ids.as_deref(), MAX_BATCH as u64)
        .await?
    {
        Ok(l) => l,
        Err(r) => {
            for id in r.not_here {
                eprintln!("shipment {id}: not at warehouse {}", w.id);
            }
            for (id, why) in r.not_ready {
                eprintln!("shipment {id}: not ready to pick ({why})");
            }
            return Ok(ExitCode::FAILURE);
        }
    };
    let bytes = match format {
        "csv" => orderhub_core::picklist::to_csv(&list).into_bytes(),
        "json" => {
            let mut v = serde_json::to_vec_pretty(&list)?;
            v.push(b'\n');
            v
        }
        _ => crate::packing_slip::pick_list_pdf(&list, &w.name).map_err(anyhow::Error::msg)?,
    };
    match out {
        Some(path) => {
            std::fs::write(&path, &bytes)?;
            eprintln!(
                "pick list of {} shipment(s), {} sku(s), {} unit(s) written to {}",
                list.shipment_ids.len(),
                list.rows.len(),
                list.total_units,
                path.display()
            );
        }
        None if format == "pdf" => {
            eprintln!("a PDF needs --out FILE");
            return Ok(ExitCode::from(2));
        }
        None => {
            use std::io::Write;
            std::io::stdout().write_all(&bytes)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The dashboard's `/stock` page section: per warehouse, links to its pick
/// list (PDF, CSV) and the batch print (slips and labels) and, for
/// warehouses printing ZPL, the ZPL labels. The links are `/api` routes,
/// authorised by the dashboard's session cookie like the CSV export.
pub fn dashboard_links(warehouses: &[orderhub_core::store::warehouse::Model]) -> String {
    use super::dashboard::escape;
    if warehouses.is_empty() {
        return String::new();
    }
    let mut h = String::from(
        r#"<h2>Pick lists <span class="sub">shipments ready to pick, summed per sku in bin order</span></h2><div class="table-wrap"><table id="picklists"><thead><tr><th>Warehouse</th><th>Pick list</th><th>Print</th></tr></thead><tbody>"#,
    );
    for w in warehouses {
        let id = escape(&w.id);
        let path: String =
            w.id.bytes()
                .map(|b| {
                    if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                        (b as char).to_string()
                    } else {
                        format!("%{b:02X}")
                    }
                })
                .collect();
        h.push_str(&format!(
            r#"<tr><td>{name} <span class="muted">{id}</span></td><td><a class="picklist-pdf" href="/api/warehouses/{path}/picklist.pdf">PDF</a> · <a class="picklist-csv" href="/api/warehouses/{path}/picklist.csv">CSV</a></td><td><a class="print-pdf" href="/api/warehouses/{path}/print.pdf">Slips and labels (PDF)</a> · <a class="labels-zpl" href="/api/warehouses/{path}/labels.zpl">ZPL labels</a></td></tr>"#,
            name = escape(&w.name),
        ));
    }
    h.push_str("</tbody></table></div>");
    h
}
