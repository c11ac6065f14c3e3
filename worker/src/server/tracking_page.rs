//! The public tracking page (`GET /t/{token}`, and `GET /t/{token}.json` for a
//! store's own page) and the delivery-problem sweep.
//!
//! The token is 32 random bytes in hex, one per shipment, assigned once its
//! label is bought (on first need). The page shows the seller, the order
//! number, the shipment's status, carrier, tracking number and link, the
//! tracking events (time, status, location), the promised and the estimated
//! delivery date; nothing else of the order (no customer, address or money).
//! An unknown or malformed token gets the same 404 page.

use super::dashboard::escape;
use crate::app::App;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, NaiveDate, Utc};
use orderhub_core::rate_choice;
use orderhub_core::store::{DeliveryWatch, TrackingPage};
use orderhub_core::OrderStatus;
use std::sync::Arc;

pub fn routes() -> Router<Arc<App>> {
    Router::new().route("/t/{token}", get(tracking_page))
}

/// The public page's URL for a shipment (assigning its token on first use);
/// `None` while the shipment has no label.
pub async fn page_url(app: &App, shipment_id: i64) -> Result<Option<String>, sea_orm::DbErr> {
    let candidate = hex::encode(rand::random::<[u8; 32]>());
    let token = app.store.tracking_token(shipment_id, &candidate).await?;
    Ok(token.map(|t| {
        format!(
            "{}/t/{t}",
            app.settings.server.public_url.trim_end_matches('/')
        )
    }))
}

/// What `GET /t/{token}.json` answers (the same fields as the page).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct PublicTracking {
    /// The seller's id.
    pub seller: String,
    pub order_number: String,
    /// The shipment's tracking status (`unknown`, `pre_transit`, `in_transit`,
    /// `out_for_delivery`, `delivered`, …).
    pub status: String,
    pub carrier: Option<String>,
    pub service: Option<String>,
    pub tracking_code: Option<String>,
    /// The carrier's tracking page.
    pub tracking_url: Option<String>,
    /// The delivery date promised for the order (YYYY-MM-DD).
    pub promised_delivery: Option<String>,
    /// The carrier's estimate for the chosen service; null: no estimate.
    pub estimated_delivery: Option<String>,
    pub events: Vec<PublicTrackingStep>,
}

/// One tracking step: time, status, location.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct PublicTrackingStep {
    pub at: String,
    pub status: String,
    pub location: Option<String>,
}

/// The public tracking page of one shipment. Add `.json` to the token
/// (`/t/{token}.json`) for the same fields as JSON. Public: the token is
/// the only key; an unknown or malformed one answers 404.
#[utoipa::path(
    get,
    path = "/t/{token}",
    tag = "public",
    params(("token" = String, Path, description = "The shipment's tracking page token (64 hex characters), optionally followed by `.json`")),
    responses(
        (status = 200, description = "The tracking page (HTML), or its fields as JSON for `{token}.json`",
            content((String = "text/html"), (PublicTracking = "application/json"))),
        (status = 404, description = "No such tracking page (the same answer for any unknown or malformed token)",
            content((String = "text/html"), (super::openapi::ErrorBody = "application/json"))),
        (status = 503, description = "The store is unavailable",
            content((String = "text/html"), (super::openapi::ErrorBody = "application/json"))),
    )
)]
pub async fn tracking_page(
    State(app): State<Arc<App>>,
    token: Result<Path<String>, PathRejection>,
) -> Response {
    let raw = token.map(|Path(t)| t).unwrap_or_default();
    let (token, json) = match raw.strip_suffix(".json") {
        Some(t) => (t, true),
        None => (raw.as_str(), false),
    };
    let page = match app.store.tracking_page(token).await {
        Ok(Some(mut page)) => {
            let shipping = &app.settings.shipping;
            page.promised_delivery = Some(rate_choice::promised_date(
                page.placed_at,
                shipping.handling_days,
                shipping.cutoff_time().unwrap_or(chrono::NaiveTime::MIN),
                shipping.transit_days_for(page.shipping_method.as_deref()),
            ));
            page
        }
        Ok(None) => return not_found(json),
        Err(e) => {
            tracing::error!(error = %e, "store error while serving a tracking page");
            return unavailable(json);
        }
    };
    if json {
        let mut r = Json(&page).into_response();
        public_headers(&mut r);
        return r;
    }
    html(StatusCode::OK, "Tracking", &page_html(&page))
}

fn not_found(json: bool) -> Response {
    if json {
        let mut r = (
            StatusCode::NOT_FOUND,
            Json(serde_json::json!({ "error": "no such tracking page" })),
        )
            .into_response();
        public_headers(&mut r);
        return r;
    }
    html(
        StatusCode::NOT_FOUND,
        "Not found",
        "<h1>Tracking page not found</h1><p>Check the link you were given.</p>",
    )
}

fn unavailable(json: bool) -> Response {
    if json {
        let mut r = (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({ "error": "store unavailable" })),
        )
            .into_response();
        public_headers(&mut r);
        return r;
    }
    html(
        StatusCode::SERVICE_UNAVAILABLE,
        "Unavailable",
        "<h1>Temporarily unavailable</h1><p>Please try again in a moment.</p>",
    )
}

/// Not cached, not indexed, and the token never leaves in a Referer.
fn public_headers(r: &mut Response) {
    let h = r.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert("x-robots-tag", HeaderValue::from_static("noindex"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
}

fn html(status: StatusCode, title: &str, main: &str) -> Response {
    let body = format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex"><title>{}</title><link rel="icon" href="data:,"><link rel="stylesheet" href="/assets/dashboard.css"></head>
<body><main>{main}</main></body></html>"#,
        escape(title)
    );
    let mut r = (status, body).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; img-src data:; form-action 'none'; \
             frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    public_headers(&mut r);
    r
}

fn label(status: &str) -> String {
    status.replace('_', " ")
}

fn date_or(d: Option<NaiveDate>, none: &str) -> String {
    d.map_or_else(|| none.to_string(), |d| d.format("%Y-%m-%d").to_string())
}

fn page_html(p: &TrackingPage) -> String {
    let opt = |s: &Option<String>| escape(s.as_deref().unwrap_or("—"));
    let link = match p.tracking_url.as_deref() {
        Some(u) if u.starts_with("https://") || u.starts_with("http://") => format!(
            r#"<a href="{}" rel="noreferrer noopener" target="_blank">Track with the carrier</a>"#,
            escape(u)
        ),
        _ => String::new(),
    };
    let mut events = String::new();
    for e in p.events.iter().rev() {
        events.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&e.at.format("%Y-%m-%d %H:%M UTC").to_string()),
            escape(&label(&e.status)),
            opt(&e.location),
        ));
    }
    let events = if events.is_empty() {
        "<p>No tracking events yet.</p>".to_string()
    } else {
        format!(
            "<table><thead><tr><th>Time</th><th>Status</th><th>Location</th></tr></thead><tbody>{events}</tbody></table>"
        )
    };
    format!(
        "<h1>Order {number} from {seller}</h1>\
         <p class=\"status\">Status: <strong>{status}</strong></p>\
         <dl>\
         <dt>Carrier</dt><dd>{carrier} {service}</dd>\
         <dt>Tracking number</dt><dd>{code} {link}</dd>\
         <dt>Promised delivery</dt><dd>{promised}</dd>\
         <dt>Estimated delivery</dt><dd>{estimated}</dd>\
         </dl><h2>Tracking</h2>{events}",
        number = escape(&p.order_number),
        seller = escape(&p.seller),
        status = escape(&label(&p.status)),
        carrier = opt(&p.carrier),
        service = escape(p.service.as_deref().unwrap_or("")),
        code = opt(&p.tracking_code),
        promised = escape(&date_or(p.promised_delivery, "no promised date")),
        estimated = escape(&date_or(p.estimated_delivery, "no estimate")),
    )
}

// ---------------------------------------------------------------------------
// Delivery problems

/// Why this shipment is a delivery problem at `now`, if it is: no tracking
/// progress for `stalled_after`, or past the promised date and not delivered.
pub fn problem_reason(
    last_progress_at: DateTime<Utc>,
    promised: NaiveDate,
    stalled_after: chrono::Duration,
    now: DateTime<Utc>,
) -> Option<String> {
    if now - last_progress_at >= stalled_after {
        return Some(format!(
            "no tracking progress for {} since {}",
            human(stalled_after),
            last_progress_at.format("%Y-%m-%d %H:%M UTC")
        ));
    }
    if now.date_naive() > promised {
        return Some(format!(
            "past the promised date {} and not delivered",
            promised.format("%Y-%m-%d")
        ));
    }
    None
}

fn human(d: chrono::Duration) -> String {
    let secs = d.num_seconds();
    let plural = |n: i64, unit: &str| format!("{n} {unit}{}", if n == 1 { "" } else { "s" });
    if secs > 0 && secs % 86_400 == 0 {
        plural(secs / 86_400, "day")
    } else if secs > 0 && secs % 3_600 == 0 {
        plural(secs / 3_600, "hour")
    } else if secs >= 86_400 {
        format!("{:.1} days", secs as f64 / 86_400.0)
    } else {
        plural(secs, "second")
    }
}

fn promised_of(app: &App, w: &DeliveryWatch) -> NaiveDate {
    let shipping = &app.settings.shipping;
    rate_choice::promised_date(
        w.placed_at,
        shipping.handling_days,
        shipping.cutoff_time().unwrap_or(chrono::NaiveTime::MIN),
        shipping.transit_days_for(w.shipping_method.as_deref()),
    )
}

/// Raise every delivery problem due at `now` (once per shipment); returns
/// how many were raised.
pub async fn raise_delivery_problems(
    app: &App,
    stalled_after: chrono::Duration,
    now: DateTime<Utc>,
) -> anyhow::Result<usize> {
    let mut raised = 0;
    let mut after = 0;
    loop {
        let page = app.store.delivery_watch(after, 500).await?;
        let Some(last) = page.last() else { break };
        after = last.shipment_id;
        for w in &page {
            let Some(reason) =
                problem_reason(w.last_progress_at, promised_of(app, w), stalled_after, now)
            else {
                continue;
            };
            let Ok(from) = w.order_status.parse::<OrderStatus>() else {
                continue;
            };
            if app
                .store
                .raise_delivery_problem(w.shipment_id, w.order_id, from, &reason)
                .await?
            {
                tracing::warn!(
                    shipment_id = w.shipment_id,
                    order_id = w.order_id,
                    %reason,
                    "delivery problem: order put in exception"
                );
                raised += 1;
            }
        }
        if page.len() < 500 {
            break;
        }
    }
    Ok(raised)
}

/// The scheduler's sweep: `shipping.stalled_after_days` (or `_secs`).
pub async fn sweep_delivery_problems(app: &App) {
    let stalled_after = app.settings.shipping.stalled_after();
    if let Err(e) = raise_delivery_problems(app, stalled_after, Utc::now()).await {
        tracing::warn!(error = %e, "delivery problem sweep failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons() {
        let now: DateTime<Utc> = "2026-12-10T12:00:00Z".parse().unwrap();
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        let five = chrono::Duration::days(5);
        let stalled = now - chrono::Duration::days(6);
        assert_eq!(
            problem_reason(stalled, d("2026-12-20"), five, now).unwrap(),
            format!(
                "no tracking progress for 5 days since {}",
                stalled.format("%Y-%m-%d %H:%M UTC")
            )
        );
        let recent = now - chrono::Duration::hours(1);
        assert_eq!(
            problem_reason(recent, d("2026-12-09"), five, now).unwrap(),
            "past the promised date 2026-12-09 and not delivered"
        );
        assert_eq!(problem_reason(recent, d("2026-12-10"), five, now), None);
        assert_eq!(human(chrono::Duration::seconds(2)), "2 seconds");
        assert_eq!(human(chrono::Duration::hours(36)), "36 hours");
        assert_eq!(human(chrono::Duration::seconds(129_601)), "1.5 days");
    }
}
