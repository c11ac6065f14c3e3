//! The dashboard's packing station, `/pack`: one autofocused text field that
//! a USB scanner types into (and presses Enter). The first scan picks the
//! shipment (`SHIP-<id>` from the packing slip, or the bare id); later scans
//! add items. Expected vs scanned per line, mismatches flagged in red,
//! Finish with the scale's weight, Override with a reason. No JavaScript:
//! every form is a POST answered with a redirect back to the page (the CSP
//! stays strict), with the same cookie sign-in and cross-site refusal as
//! the other pages. The rules are the API's (`super::pack`).

use super::auth::Caller;
use super::dashboard::{
    badge, escape, form_fields, not_found, page, query_string, see_other, when, PageError,
    PageResult, SameOrigin, Viewer,
};
use super::pack::{self as api, PackSession};
use super::ApiError;
use crate::app::App;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::Router;
use orderhub_core::pack_verify::shipment_id_of;
use orderhub_core::store::pack_verify::PackRefusal;
use serde::Deserialize;
use std::fmt::Write as _;
use std::sync::Arc;

pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/pack", get(pack_page))
        .route("/pack/scan", post(pack_scan))
        .route("/pack/{id}/finish", post(pack_finish))
        .route("/pack/{id}/override", post(pack_override))
}

#[derive(Deserialize, Default)]
struct PackQuery {
    session: Option<String>,
    /// The last scan's result and code, or a message.
    result: Option<String>,
    code: Option<String>,
    msg: Option<String>,
}

fn back(session: Option<i64>, pairs: &[(&str, &str)]) -> axum::response::Response {
    let sid = session.map(|s| s.to_string()).unwrap_or_default();
    let mut all: Vec<(&str, &str)> = Vec::new();
    if session.is_some() {
        all.push(("session", sid.as_str()));
    }
    all.extend_from_slice(pairs);
    let q = query_string(all);
    if q.is_empty() {
        see_other("/pack")
    } else {
        see_other(&format!("/pack?{q}"))
    }
}

fn refused(session: Option<i64>, r: PackRefusal) -> PageResult {
    match r {
        PackRefusal::NotFound => Err(not_found()),
        PackRefusal::Conflict(why) => Ok(back(session, &[("msg", why.as_str())])),
    }
}

/// A 400 from the flow (bad input) goes back to the page as a message.
fn flow_error(session: Option<i64>, e: ApiError) -> PageResult {
    if e.0 == StatusCode::BAD_REQUEST {
        Ok(back(session, &[("msg", e.1.as_str())]))
    } else {
        Err(PageError::from(e))
    }
}

async fn pack_page(
    Viewer(caller): Viewer,
    State(app): State<Arc<App>>,
    q: Result<Query<PackQuery>, axum::extract::rejection::QueryRejection>,
) -> PageResult {
    let q = q.map(|Query(q)| q).unwrap_or_default();
    let session_id = q
        .session
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<i64>().map_err(|_| not_found()))
        .transpose()?;
    let session: Option<PackSession> = match session_id {
        Some(id) => Some(
            app.store
                .pack_session_view(id, caller.scope(), |w| api::scan_required(&app, w))
                .await?
                .ok_or_else(not_found)?
                .into(),
        ),
        None => None,
    };
    let main = pack_html(&app, &caller, session.as_ref(), &q).await?;
    Ok(page(&app, &caller, StatusCode::OK, "/pack", "Pack", &main).await)
}

async fn pack_html(
    app: &App,
    caller: &Caller,
    s: Option<&PackSession>,
    q: &PackQuery,
) -> Result<String, PageError> {
    let mut h = String::new();
    h.push_str(r#"<div class="panel" id="pack">"#);
    match s {
        None => h.push_str(
            "<h1>Pack <span class=\"sub\">scan the shipment's barcode (SHIP-…)</span></h1>",
        ),
        Some(s) => {
            let _ = write!(
                h,
                r#"<h1>Shipment {} <span class="sub">order {} · warehouse {}</span> <span id="session-status">{}</span></h1>"#,
                s.shipment_id,
                escape(s.order_number.as_deref().unwrap_or(&s.order_id.to_string())),
                escape(&s.warehouse_id),
                status_badge(&s.status),
            );
        }
    }
    if let Some(msg) = q.msg.as_deref().filter(|m| !m.is_empty()) {
        let _ = write!(
            h,
            r#"<p class="notice bad" id="pack-message">{}</p>"#,
            escape(msg)
        );
    }
    if let Some(result) = q.result.as_deref() {
        let code = q.code.as_deref().unwrap_or("");
        let (tone, text) = match result {
            "ok" => ("good", format!("✓ {code}")),
            "wrong_item" => ("bad", format!("✗ {code}: wrong item, not in this shipment")),
            "over_scan" => (
                "bad",
                format!("✗ {code}: more units than the shipment holds"),
            ),
            "unknown" => ("bad", format!("✗ {code}: unknown barcode")),
            _ => ("warn", code.to_string()),
        };
        let _ = write!(
            h,
            r#"<p class="notice {tone}" id="last-scan" data-result="{}">{}</p>"#,
            escape(result),
            escape(&text)
        );
    }
    // The scanner's field: always there, always focused.
    let sid = s.map(|s| s.id.to_string()).unwrap_or_default();
    let label = if s.is_some_and(|s| s.status == "open" || s.status == "blocked") {
        "Scan an item (or the next shipment's SHIP- barcode)"
    } else {
        "Scan a shipment"
    };
    let _ = write!(
        h,
        r#"<form method="post" action="/pack/scan" id="scan-form"><input type="hidden" name="session" value="{sid}">
<label for="code">{label}</label> <input id="code" name="code" type="text" autocomplete="off" autofocus required maxlength="128">
<button type="submit">Scan</button></form>"#
    );
    if let Some(s) = s {
        h.push_str(r#"<div class="table-wrap"><table id="pack-lines"><thead><tr><th>Sku</th><th>Item</th><th>Barcodes</th><th class="num">Expected</th><th class="num">Scanned</th><th class="num">Missing</th></tr></thead><tbody>"#);
        for l in &s.lines {
            let flag = if l.missing == 0 {
                badge("ok")
            } else {
                r#"<span class="badge tone-warn">missing</span>"#.to_string()
            };
            let _ = write!(
                h,
                r#"<tr data-sku="{sku}"><td>{sku}</td><td>{title}</td><td>{codes}</td><td class="num">{e}</td><td class="num">{sc}</td><td class="num">{m} {flag}</td></tr>"#,
                sku = escape(&l.sku),
                title = escape(&l.title),
                codes = escape(&l.barcodes.join(", ")),
                e = l.expected,
                sc = l.scanned,
                m = l.missing,
            );
        }
        h.push_str("</tbody></table></div>");
        let m = &s.mismatches;
        let total = m.wrong_item + m.over_scan + m.unknown + m.missing_unit;
        let _ = write!(
            h,
            r#"<p id="mismatches" class="notice {}">Mismatches: {} wrong item, {} over-scan, {} unknown, {} missing unit(s)</p>"#,
            if total > 0 { "bad" } else { "good" },
            m.wrong_item,
            m.over_scan,
            m.unknown,
            m.missing_unit
        );
        let _ = write!(
            h,
            r#"<p id="label-gate" class="notice {}">{}</p>"#,
            if s.label_allowed { "good" } else { "bad" },
            if s.label_allowed {
                "Label allowed".to_string()
            } else {
                format!(
                    "Label blocked: {}",
                    escape(s.label_blocked_reason.as_deref().unwrap_or(""))
                )
            }
        );
        if let Some(n) = &s.weight_note {
            let _ = write!(h, r#"<p id="weight-note">Weight: {}</p>"#, escape(n));
        }
        if let (Some(r), Some(a)) = (&s.override_reason, &s.override_author) {
            let _ = write!(
                h,
                r#"<p id="override-note">Overridden by {}: {}</p>"#,
                escape(a),
                escape(r)
            );
        }
        if s.status == "open" {
            let _ = write!(
                h,
                r#"<form method="post" action="/pack/{id}/finish" id="finish-form"><label for="weight">Weight (g)</label> <input id="weight" name="weight_grams" type="number" min="1" max="{max}" inputmode="numeric"> <button type="submit">Finish</button></form>"#,
                id = s.id,
                max = api::MAX_WEIGHT_GRAMS
            );
        }
        if s.status == "open" || s.status == "blocked" {
            let _ = write!(
                h,
                r#"<form method="post" action="/pack/{id}/override" id="override-form"><label for="reason">Override reason</label> <input id="reason" name="reason" type="text" maxlength="500" required> <label for="author">by</label> <input id="author" name="author" type="text" maxlength="500" required> <button type="submit">Override</button></form>"#,
                id = s.id
            );
        }
        if !s.scans.is_empty() {
            h.push_str(r#"<h3>Scans</h3><div class="table-wrap"><table id="pack-scans"><thead><tr><th>When</th><th>Barcode</th><th>Sku</th><th>Result</th></tr></thead><tbody>"#);
            for sc in &s.scans {
                let _ = write!(
                    h,
                    r#"<tr data-result="{r}"><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>"#,
                    when(sc.at),
                    escape(&sc.barcode),
                    escape(sc.sku.as_deref().unwrap_or("")),
                    result_badge(&sc.result),
                    r = escape(&sc.result),
                );
            }
            h.push_str("</tbody></table></div>");
        }
        h.push_str(r#"<p><a href="/pack">Next shipment</a></p>"#);
    } else {
        let recent = app.store.recent_pack_sessions(caller.scope(), 20).await?;
        if !recent.is_empty() {
            h.push_str(r#"<h3>Recent sessions</h3><div class="table-wrap"><table id="recent-sessions"><thead><tr><th>Shipment</th><th>Warehouse</th><th>Status</th><th>Updated</th></tr></thead><tbody>"#);
            for r in recent {
                let _ = write!(
                    h,
                    r#"<tr><td><a href="/pack?session={}">{}</a></td><td>{}</td><td>{}</td><td>{}</td></tr>"#,
                    r.id,
                    r.shipment_id,
                    escape(&r.warehouse_id),
                    status_badge(&r.status),
                    when(r.updated_at)
                );
            }
            h.push_str("</tbody></table></div>");
        }
    }
    h.push_str("</div>");
    Ok(h)
}

fn status_badge(status: &str) -> String {
    let tone = match status {
        "verified" | "overridden" => "good",
        "blocked" => "bad",
        _ => "warn",
    };
    format!(
        r#"<span class="badge tone-{tone}">{}</span>"#,
        escape(status)
    )
}

fn result_badge(result: &str) -> String {
    let tone = if result == "ok" { "good" } else { "bad" };
    format!(
        r#"<span class="badge tone-{tone}">{}</span>"#,
        escape(&result.replace('_', " "))
    )
}

fn session_field(fields: &std::collections::BTreeMap<String, String>) -> Option<i64> {
    fields
        .get("session")
        .filter(|s| !s.is_empty())
        .and_then(|s| s.parse::<i64>().ok())
}

/// A scan from the field: a shipment barcode starts (or resumes) its
/// session; anything else is an item of the current session.
async fn pack_scan(
    _: SameOrigin,
    Viewer(caller): Viewer,
    State(app): State<Arc<App>>,
    body: Bytes,
) -> PageResult {
    let fields = form_fields(&body);
    let code = fields.get("code").map(|c| c.trim()).unwrap_or("");
    let session = session_field(&fields);
    let is_slip = code
        .get(..5)
        .is_some_and(|p| p.eq_ignore_ascii_case("SHIP-"))
        && shipment_id_of(code).is_some();
    if session.is_none() || is_slip {
        return match api::start_flow(&app, &caller, code).await {
            Ok(Ok(s)) => Ok(back(Some(s.id), &[])),
            Ok(Err(r)) => refused(session, r),
            Err(e) => flow_error(session, e),
        };
    }
    let id = session.unwrap_or_default();
    match api::scan_flow(&app, &caller, id, code).await {
        Ok(Ok(a)) => Ok(back(
            Some(id),
            &[("result", a.result.as_str()), ("code", code)],
        )),
        Ok(Err(r)) => refused(Some(id), r),
        Err(e) => flow_error(Some(id), e),
    }
}

async fn pack_finish(
    _: SameOrigin,
    Viewer(caller): Viewer,
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    body: Bytes,
) -> PageResult {
    let id = id.parse::<i64>().map_err(|_| not_found())?;
    let fields = form_fields(&body);
    let weight = match fields.get("weight_grams").map(|w| w.trim()) {
        None | Some("") => None,
        Some(w) => match w.parse::<u64>() {
            Ok(g) => Some(g),
            Err(_) => return Ok(back(Some(id), &[("msg", "the weight must be whole grams")])),
        },
    };
    match api::finish_flow(&app, &caller, id, weight).await {
        Ok(Ok(_)) => Ok(back(Some(id), &[])),
        Ok(Err(r)) => refused(Some(id), r),
        Err(e) => flow_error(Some(id), e),
    }
}

async fn pack_override(
    _: SameOrigin,
    Viewer(caller): Viewer,
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    body: Bytes,
) -> PageResult {
    let id = id.parse::<i64>().map_err(|_| not_found())?;
    let fields = form_fields(&body);
    let get = |k: &str| fields.get(k).map(String::as_str).unwrap_or("");
    match api::override_flow(&app, &caller, id, get("reason"), get("author")).await {
        Ok(Ok(_)) => Ok(back(Some(id), &[])),
        Ok(Err(r)) => refused(Some(id), r),
        Err(e) => flow_error(Some(id), e),
    }
}

// ---------------------------------------------------------------------------
// The OpenAPI description of these pages (signature-only, never called).

/// The packing station: scan a shipment, then its items; Finish, Override.
#[utoipa::path(get, path = "/pack", tag = "dashboard",
    params(
        ("session" = Option<i64>, Query, description = "The pack session shown"),
        ("result" = Option<String>, Query, description = "The last scan's result, shown"),
        ("code" = Option<String>, Query, description = "The last scan's code, shown"),
        ("msg" = Option<String>, Query, description = "A message, shown"),
    ),
    responses(
        (status = 200, description = "The page", body = String, content_type = "text/html"),
        (status = 303, description = "Not signed in: redirect to `/login`"),
        (status = 404, description = "No such session (or another seller's)", body = String, content_type = "text/html"),
        (status = 503, description = "The store is unavailable", body = String, content_type = "text/html"),
    ))]
#[allow(dead_code)]
pub(crate) fn dashboard_pack() {}

/// A scan typed into the field (form `code`, `session`).
#[utoipa::path(post, path = "/pack/scan", tag = "dashboard",
    responses(
        (status = 303, description = "Back to `/pack` with the session and the scan's result"),
        (status = 403, description = "A request from another site", body = String, content_type = "text/html"),
        (status = 404, description = "No such shipment or session (or another seller's)", body = String, content_type = "text/html"),
        (status = 503, description = "The store is unavailable", body = String, content_type = "text/html"),
    ))]
#[allow(dead_code)]
pub(crate) fn dashboard_pack_scan() {}

/// Finish (form `weight_grams`, optional).
#[utoipa::path(post, path = "/pack/{id}/finish", tag = "dashboard",
    params(("id" = String, Path, description = "The session id")),
    responses(
        (status = 303, description = "Back to `/pack` with the session"),
        (status = 403, description = "A request from another site", body = String, content_type = "text/html"),
        (status = 404, description = "No such session (or another seller's)", body = String, content_type = "text/html"),
        (status = 503, description = "The store is unavailable", body = String, content_type = "text/html"),
    ))]
#[allow(dead_code)]
pub(crate) fn dashboard_pack_finish() {}

/// Override (form `reason`, `author`).
#[utoipa::path(post, path = "/pack/{id}/override", tag = "dashboard",
    params(("id" = String, Path, description = "The session id")),
    responses(
        (status = 303, description = "Back to `/pack` with the session"),
        (status = 403, description = "A request from another site", body = String, content_type = "text/html"),
        (status = 404, description = "No such session (or another seller's)", body = String, content_type = "text/html"),
        (status = 503, description = "The store is unavailable", body = String, content_type = "text/html"),
    ))]
#[allow(dead_code)]
pub(crate) fn dashboard_pack_override() {}
