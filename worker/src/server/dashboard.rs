//! The dashboard: server-rendered HTML pages for people, over the same store
//! queries as the ops API. No JavaScript, no CDN: the stylesheet is compiled
//! into the binary and charts are inline SVG, so it works offline.
//!
//! - `GET /login` asks for an API token; `POST /login` checks it and keeps it
//!   in the `orderhub_token` cookie (HttpOnly, SameSite=Strict); `POST
//!   /logout` drops it. Pages without a valid token redirect to `/login`.
//! - `GET /orders` (filters, sort, next page), `GET /orders/{id}` (lines,
//!   routing, shipments, rates, tracking, timeline), `GET /channels` (sync
//!   state and lag), `GET /jobs` (failed ones first in mind, with a Retry
//!   button: `POST /jobs/{id}/retry`), `GET /stock` (low-stock alerts),
//!   `GET /kpis` (KPI tiles and bar charts).
//!
//! Tenancy (invariant 8): a seller's token sees its own orders, channels,
//! jobs, stock and KPIs only; another seller's order or job is a 404.
//!
//! Every value is HTML-escaped ([`escape`]); links to carriers' label and
//! tracking pages are only made for `http(s)` URLs. Forms that change
//! something are POSTs; since the session is a cookie, POSTs from another
//! site are refused ([`SameOrigin`]) on top of the cookie's SameSite=Strict.

use super::auth::{self, Caller, TOKEN_COOKIE};
use super::ApiError;
use crate::app::App;
use crate::jobs_api::{self, JobFilter, JobRow};
use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use chrono::{DateTime, NaiveDate, Utc};
use orderhub_core::store::{
    ChannelStatus, KpiQuery, Kpis, OrderCursor, OrderSort, ShipmentView, StockLevel, StoredOrder,
    TimelineEntry,
};
use orderhub_core::{Address, OrderStatus};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

const CSS: &str = include_str!("dashboard.css");
/// Orders per page of the list.
const PAGE_SIZE: u64 = 50;
/// Jobs the jobs page lists at most.
const JOBS_SHOWN: u64 = 200;

pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/", get(|| async { see_other("/orders") }))
        .route("/assets/dashboard.css", get(stylesheet))
        .route("/login", get(login_form).post(login))
        .route("/logout", post(logout))
        .route("/orders", get(orders))
        .route("/orders/{id}", get(order))
        .route("/channels", get(channels))
        .route("/jobs", get(jobs))
        .route("/jobs/{id}/retry", post(retry_job))
        .route("/stock", get(stock))
        .route("/kpis", get(kpis))
}

// ---------------------------------------------------------------------------
// Escaping and small formatting helpers

/// `s` safe inside HTML text and double- or single-quoted attributes.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A query string (without `?`) from name/value pairs, empty values left out.
pub(crate) fn query_string<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        if !v.is_empty() {
            s.append_pair(k, v);
        }
    }
    s.finish()
}

pub(crate) fn when(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

fn when_opt(t: Option<DateTime<Utc>>) -> String {
    t.map(when).unwrap_or_else(|| "—".into())
}

fn when_unix(secs: i64) -> String {
    DateTime::<Utc>::from_timestamp(secs, 0)
        .map(when)
        .unwrap_or_else(|| secs.to_string())
}

/// `3 s`, `12 min`, `5 h`, `2 d`.
fn duration(secs: i64) -> String {
    let s = secs.max(0);
    match s {
        0..=119 => format!("{s} s"),
        120..=7_199 => format!("{} min", s / 60),
        7_200..=172_799 => format!("{:.1} h", s as f64 / 3600.0),
        _ => format!("{:.1} d", s as f64 / 86_400.0),
    }
}

/// How a status reads at a glance: `good`, `info`, `warn`, `bad` or `mute`.
fn tone(status: &str) -> &'static str {
    match status.to_ascii_lowercase().as_str() {
        "delivered" | "ok" | "done" | "paid" | "fulfilled" | "label_bought" => "good",
        "processing"
        | "shipped"
        | "in_transit"
        | "out_for_delivery"
        | "pre_transit"
        | "available_for_pickup"
        | "pending"
        | "queued"
        | "running"
        | "authorized"
        | "routed"
        | "rate_chosen"
        | "tracking_pushed"
        | "tracking_event"
        | "synced"
        | "updated"
        | "status_changed" => "info",
        "awaiting"
        | "never_synced"
        | "partially_paid"
        | "partially_fulfilled"
        | "partially_refunded"
        | "unfulfilled"
        | "created"
        | "buying"
        | "voiding"
        | "low"
        | "note" => "warn",
        "exception" | "failing" | "auth_failed" | "failed" | "killed" | "failure" | "error"
        | "return_to_sender" | "out_of_stock" => "bad",
        _ => "mute",
    }
}

pub(crate) fn badge(status: &str) -> String {
    format!(
        r#"<span class="badge tone-{}">{}</span>"#,
        tone(status),
        escape(&status.replace('_', " "))
    )
}

/// A link to `url` if it is an http(s) URL, else the text alone.
fn ext_link(url: Option<&str>, text: &str) -> String {
    match url {
        Some(u) if u.starts_with("https://") || u.starts_with("http://") => format!(
            r#"<a href="{}" rel="noopener noreferrer" target="_blank">{}</a>"#,
            escape(u),
            escape(text)
        ),
        _ => escape(text),
    }
}

fn opt(s: &Option<String>) -> &str {
    s.as_deref().unwrap_or("")
}

/// A form value: trimmed, `None` when empty.
fn given(s: &Option<String>) -> Option<String> {
    s.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

fn select(name: &str, current: &str, options: &[(String, String)], any: &str) -> String {
    let mut h = format!(r#"<select name="{}">"#, escape(name));
    if !any.is_empty() {
        let _ = write!(h, r#"<option value="">{}</option>"#, escape(any));
    }
    for (value, label) in options {
        let sel = if value == current { " selected" } else { "" };
        let _ = write!(
            h,
            r#"<option value="{}"{sel}>{}</option>"#,
            escape(value),
            escape(label)
        );
    }
    h.push_str("</select>");
    h
}

fn same(values: &[&str]) -> Vec<(String, String)> {
    values
        .iter()
        .map(|v| (v.to_string(), v.replace('_', " ")))
        .collect()
}

// ---------------------------------------------------------------------------
// Responses

fn html_headers(resp: &mut Response) {
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
}

pub(crate) fn see_other(to: &str) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

fn document(status: StatusCode, title: &str, header_html: &str, main: &str) -> Response {
    let body = format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{} · orderhub</title><link rel="icon" href="data:,"><link rel="stylesheet" href="/assets/dashboard.css"></head>
<body>{header_html}<main>{main}</main></body></html>"#,
        escape(title)
    );
    let mut r = (status, body).into_response();
    html_headers(&mut r);
    r
}

/// What the navigation shows as needing attention.
#[derive(Default)]
struct Alerts {
    failed_jobs: usize,
    low_stock: usize,
}

async fn alerts(app: &App, caller: &Caller) -> Alerts {
    let failed = JobFilter {
        status: Some("Failed".into()),
        seller: caller.seller.clone(),
        limit: 1000,
        ..Default::default()
    };
    Alerts {
        failed_jobs: jobs_api::list(&app.store, &failed)
            .await
            .map(|j| j.len())
            .unwrap_or(0),
        low_stock: app
            .store
            .low_stock(caller.scope(), app.settings.inventory.low_stock_threshold)
            .await
            .map(|s| s.len())
            .unwrap_or(0),
    }
}

/// A page with the header, navigation and who is signed in.
pub(crate) async fn page(
    app: &App,
    caller: &Caller,
    status: StatusCode,
    active: &str,
    title: &str,
    main: &str,
) -> Response {
    let a = alerts(app, caller).await;
    let count = |n: usize, tone: &str| {
        if n == 0 {
            String::new()
        } else {
            format!(r#" <span class="count {tone}">{n}</span>"#)
        }
    };
    let mut nav = String::new();
    for (href, label, extra) in [
        ("/orders", "Orders", String::new()),
        ("/channels", "Channels", String::new()),
        ("/jobs", "Jobs", count(a.failed_jobs, "bad")),
        ("/stock", "Stock", count(a.low_stock, "warn")),
        ("/kpis", "KPIs", String::new()),
        ("/pack", "Pack", String::new()),
    ] {
        let cls = if href == active {
            r#" class="active""#
        } else {
            ""
        };
        let _ = write!(nav, r#"<a href="{href}"{cls}>{label}{extra}</a>"#);
    }
    let who = match caller.scope() {
        Some(s) => format!("seller <b>{}</b>", escape(s)),
        None => "<b>ops</b> (all sellers)".into(),
    };
    let header_html = format!(
        r#"<header class="top"><a class="brand" href="/orders">order<span>hub</span></a><nav>{nav}</nav>
<div class="who">{who}<form class="inline" method="post" action="/logout"><button type="submit">Log out</button></form></div></header>"#
    );
    document(status, title, &header_html, main)
}

/// An error page (no navigation: the caller may be unknown).
pub(crate) struct PageError(pub(crate) StatusCode, pub(crate) String);

impl From<sea_orm::DbErr> for PageError {
    fn from(e: sea_orm::DbErr) -> Self {
        let ApiError(status, msg) = ApiError::from(e);
        PageError(status, msg)
    }
}

impl From<ApiError> for PageError {
    fn from(ApiError(status, msg): ApiError) -> Self {
        PageError(status, msg)
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let main = format!(
            r#"<div class="panel"><h1>{} <span class="sub">{}</span></h1><p><a href="/orders">Back to the orders</a></p></div>"#,
            self.0.as_u16(),
            escape(&self.1)
        );
        let header_html = r#"<header class="top"><a class="brand" href="/orders">order<span>hub</span></a></header>"#;
        document(self.0, &self.1, header_html, &main)
    }
}

pub(crate) fn not_found() -> PageError {
    PageError(StatusCode::NOT_FOUND, "not found".into())
}

pub(crate) type PageResult = Result<Response, PageError>;

// ---------------------------------------------------------------------------
// Who is looking, and where a POST comes from

/// The signed-in caller of a page; without a valid token the page redirects
/// to `/login` (instead of the API's JSON 401).
pub struct Viewer(pub Caller);

impl FromRequestParts<Arc<App>> for Viewer {
    type Rejection = Response;
    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, Response> {
        let Some(token) = auth::token_of(parts) else {
            return Err(see_other("/login"));
        };
        match auth::resolve(app, token).await {
            Ok(Some(caller)) => Ok(Viewer(caller)),
            Ok(None) => {
                // A revoked or wrong token: forget it and ask again.
                let mut r = see_other("/login");
                r.headers_mut()
                    .insert(header::SET_COOKIE, HeaderValue::from_static(CLEAR_COOKIE));
                Err(r)
            }
            Err(e) => Err(PageError::from(e).into_response()),
        }
    }
}

/// A POST that comes from a page of this server: no `Sec-Fetch-Site` other
/// than `same-origin` (or `none`: typed by the user), and an `Origin`, when
/// sent, naming this host. Requests without either (not from a browser) pass:
/// they cannot carry the SameSite=Strict cookie on a visitor's behalf.
pub struct SameOrigin;

impl<S: Send + Sync> FromRequestParts<S> for SameOrigin {
    type Rejection = Response;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Response> {
        if same_origin(&parts.headers) {
            Ok(SameOrigin)
        } else {
            tracing::warn!("dashboard POST from another site refused");
            Err(
                PageError(StatusCode::FORBIDDEN, "cross-site request refused".into())
                    .into_response(),
            )
        }
    }
}

fn same_origin(h: &HeaderMap) -> bool {
    if let Some(site) = h.get("sec-fetch-site") {
        if !matches!(site.to_str(), Ok("same-origin") | Ok("none")) {
            return false;
        }
    }
    let Some(origin) = h.get(header::ORIGIN) else {
        return true;
    };
    let Some(host) = h.get(header::HOST).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    // `null` (sandboxed frames, some redirects) does not parse: refused.
    let Some(u) = origin.to_str().ok().and_then(|o| url::Url::parse(o).ok()) else {
        return false;
    };
    let Some(origin_host) = u.host_str() else {
        return false;
    };
    let authority = match u.port() {
        Some(p) => format!("{origin_host}:{p}"),
        None => origin_host.to_string(),
    };
    matches!(u.scheme(), "http" | "https") && authority.eq_ignore_ascii_case(host)
}

// ---------------------------------------------------------------------------
// Login

const CLEAR_COOKIE: &str = "orderhub_token=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0";

pub(crate) fn form_fields(body: &[u8]) -> BTreeMap<String, String> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        CSS,
    )
        .into_response()
}

fn login_page(status: StatusCode, message: Option<&str>) -> Response {
    let notice = message
        .map(|m| {
            format!(
                r#"<div class="notice bad" role="alert">{}</div>"#,
                escape(m)
            )
        })
        .unwrap_or_default();
    let main = format!(
        r#"<div class="login-box"><h1>order<span class="sub">hub</span> dashboard</h1>{notice}
<form method="post" action="/login">
<label>API token <input type="password" name="token" autocomplete="current-password" required autofocus></label>
<button type="submit">Sign in</button></form>
<p class="muted">The ops token, or a seller's token from <code>orderhub tokens create</code>.</p></div>"#
    );
    document(status, "Sign in", "", &main)
}

async fn login_form() -> Response {
    login_page(StatusCode::OK, None)
}

/// Whether `token` can travel as a cookie value as is.
fn cookie_safe(token: &str) -> bool {
    token
        .bytes()
        .all(|b| (0x21..=0x7e).contains(&b) && !matches!(b, b'"' | b',' | b';' | b'\\'))
}

async fn login(_: SameOrigin, State(app): State<Arc<App>>, body: Bytes) -> Response {
    let fields = form_fields(&body);
    let token = fields.get("token").map(|t| t.trim()).unwrap_or("");
    let caller = match auth::resolve(&app, token).await {
        Ok(c) => c,
        Err(e) => return PageError::from(e).into_response(),
    };
    match caller {
        Some(caller) if cookie_safe(token) => {
            tracing::info!(seller = ?caller.seller, "dashboard sign-in");
            let mut r = see_other("/orders");
            let cookie = format!("{TOKEN_COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/");
            if let Ok(v) = HeaderValue::from_str(&cookie) {
                r.headers_mut().insert(header::SET_COOKIE, v);
            }
            r
        }
        Some(_) => login_page(
            StatusCode::BAD_REQUEST,
            Some("This token has characters a cookie cannot hold; use the API with it."),
        ),
        None => login_page(StatusCode::UNAUTHORIZED, Some("Unknown or revoked token.")),
    }
}

async fn logout(_: SameOrigin) -> Response {
    let mut r = see_other("/login");
    r.headers_mut()
        .insert(header::SET_COOKIE, HeaderValue::from_static(CLEAR_COOKIE));
    r
}

// ---------------------------------------------------------------------------
// Orders

/// The order list's form (every field optional; empty means "any").
#[derive(Deserialize, Default)]
struct OrdersForm {
    channel: Option<String>,
    status: Option<String>,
    payment_status: Option<String>,
    fulfillment_status: Option<String>,
    /// `YYYY-MM-DD` (from that day, UTC) or RFC 3339.
    placed_from: Option<String>,
    /// `YYYY-MM-DD` (to the end of that day, UTC) or RFC 3339 (before).
    placed_to: Option<String>,
    warehouse: Option<String>,
    q: Option<String>,
    sort: Option<String>,
    cursor: Option<String>,
}

impl OrdersForm {
    /// The filters as a query string (without the cursor).
    fn query(&self) -> String {
        query_string([
            ("q", opt(&self.q)),
            ("channel", opt(&self.channel)),
            ("status", opt(&self.status)),
            ("payment_status", opt(&self.payment_status)),
            ("fulfillment_status", opt(&self.fulfillment_status)),
            ("warehouse", opt(&self.warehouse)),
            ("placed_from", opt(&self.placed_from)),
            ("placed_to", opt(&self.placed_to)),
            ("sort", opt(&self.sort)),
        ])
    }
}

/// A date input's `YYYY-MM-DD` as an RFC 3339 time (`next_day`: the start
/// of the following day, for an inclusive "to"); other text as is.
fn day_start(v: Option<String>, next_day: bool) -> Option<String> {
    let v = v?;
    match NaiveDate::parse_from_str(&v, "%Y-%m-%d") {
        Ok(d) => {
            let d = if next_day {
                d.succ_opt().unwrap_or(d)
            } else {
                d
            };
            Some(format!("{}T00:00:00Z", d.format("%Y-%m-%d")))
        }
        Err(_) => Some(v),
    }
}

const PAYMENT_STATUSES: [&str; 8] = [
    "pending",
    "authorized",
    "paid",
    "partially_paid",
    "partially_refunded",
    "refunded",
    "voided",
    "unknown",
];
const FULFILLMENT_STATUSES: [&str; 5] = [
    "unfulfilled",
    "partially_fulfilled",
    "fulfilled",
    "restocked",
    "unknown",
];

async fn orders(
    Viewer(caller): Viewer,
    State(app): State<Arc<App>>,
    form: Result<Query<OrdersForm>, axum::extract::rejection::QueryRejection>,
) -> PageResult {
    let Query(form) = form.map_err(|e| PageError(StatusCode::BAD_REQUEST, e.body_text()))?;
    let channels = app.store.channel_statuses(caller.scope()).await?;
    let warehouses = app.store.stock_warehouses(caller.scope()).await?;

    let filter = crate::cli::OrderQuery {
        channel: given(&form.channel),
        status: given(&form.status),
        payment_status: given(&form.payment_status),
        fulfillment_status: given(&form.fulfillment_status),
        placed_from: day_start(given(&form.placed_from), false),
        placed_to: day_start(given(&form.placed_to), true),
        warehouse: given(&form.warehouse),
        q: given(&form.q),
        sort: given(&form.sort),
    }
    .to_filter()
    .and_then(|mut f| {
        f.seller_id = caller.scope().map(str::to_string);
        f.limit = PAGE_SIZE;
        if let Some(c) = given(&form.cursor) {
            f.cursor = Some(OrderCursor::decode(&c, f.sort)?);
        }
        Ok(f)
    });

    let mut h = String::new();
    h.push_str(r#"<h1>Orders</h1>"#);
    // The filter form.
    let channel_opts: Vec<(String, String)> = channels
        .iter()
        .map(|c| (c.id.clone(), format!("{} ({})", c.id, c.kind)))
        .collect();
    let warehouse_opts: Vec<(String, String)> = warehouses
        .iter()
        .map(|w| (w.id.clone(), w.name.clone()))
        .collect();
    let status_opts: Vec<(String, String)> = OrderStatus::ALL
        .iter()
        .map(|s| (s.as_str().to_string(), s.as_str().to_string()))
        .collect();
    let sort_opts: Vec<(String, String)> = [
        (OrderSort::Id, "oldest first (id)"),
        (OrderSort::PlacedAtDesc, "newest placed"),
        (OrderSort::PlacedAt, "oldest placed"),
        (OrderSort::TotalDesc, "highest total"),
        (OrderSort::Total, "lowest total"),
    ]
    .iter()
    .map(|(s, l)| (s.as_str().to_string(), l.to_string()))
    .collect();
    let _ = write!(
        h,
        r#"<form class="filters" method="get" action="/orders" id="order-filters">
<label class="grow">Search <input type="search" name="q" value="{q}" placeholder="number, customer, email, sku"></label>
<label>Channel {channel}</label>
<label>Status {status}</label>
<label>Payment {payment}</label>
<label>Fulfillment {fulfillment}</label>
<label>Warehouse {warehouse}</label>
<label>Placed from <input type="date" name="placed_from" value="{from}"></label>
<label>Placed to <input type="date" name="placed_to" value="{to}"></label>
<label>Sort {sort}</label>
<button type="submit">Filter</button> <a class="button plain" href="/orders">Clear</a>
</form>"#,
        q = escape(opt(&form.q)),
        channel = select("channel", opt(&form.channel), &channel_opts, "any"),
        status = select("status", opt(&form.status), &status_opts, "any"),
        payment = select(
            "payment_status",
            opt(&form.payment_status),
            &same(&PAYMENT_STATUSES),
            "any"
        ),
        fulfillment = select(
            "fulfillment_status",
            opt(&form.fulfillment_status),
            &same(&FULFILLMENT_STATUSES),
            "any"
        ),
        warehouse = select("warehouse", opt(&form.warehouse), &warehouse_opts, "any"),
        from = escape(opt(&form.placed_from)),
        to = escape(opt(&form.placed_to)),
        sort = select("sort", opt(&form.sort), &sort_opts, ""),
    );

    let filter = match filter {
        Ok(f) => f,
        Err(msg) => {
            let _ = write!(
                h,
                r#"<div class="notice bad" role="alert">{}</div>"#,
                escape(&msg)
            );
            return Ok(page(
                &app,
                &caller,
                StatusCode::BAD_REQUEST,
                "/orders",
                "Orders",
                &h,
            )
            .await);
        }
    };
    let page_rows = app.store.order_page(&filter).await?;
    let filters = form.query();
    // The same filters as `GET /api/orders.csv` spells them (times, not days).
    let csv = query_string([
        ("q", opt(&form.q)),
        ("channel", opt(&form.channel)),
        ("status", opt(&form.status)),
        ("payment_status", opt(&form.payment_status)),
        ("fulfillment_status", opt(&form.fulfillment_status)),
        ("warehouse", opt(&form.warehouse)),
        (
            "placed_from",
            day_start(given(&form.placed_from), false)
                .as_deref()
                .unwrap_or(""),
        ),
        (
            "placed_to",
            day_start(given(&form.placed_to), true)
                .as_deref()
                .unwrap_or(""),
        ),
        ("sort", opt(&form.sort)),
    ]);
    if page_rows.rows.is_empty() {
        h.push_str(r#"<div class="table-wrap"><div class="empty" id="no-orders">No orders match these filters.</div></div>"#);
    } else {
        h.push_str(
            r#"<div class="table-wrap"><table id="orders"><thead><tr><th>Order</th><th>Channel</th><th>Status</th><th>Payment</th><th>Fulfillment</th><th>Customer</th><th class="num">Total</th><th>Placed</th></tr></thead><tbody>"#,
        );
        for o in &page_rows.rows {
            let number = o.number.clone().unwrap_or_else(|| o.external_id.clone());
            let _ = write!(
                h,
                r#"<tr class="order" data-id="{id}"><td><a href="/orders/{id}">{number}</a></td><td>{channel}</td><td>{status}</td><td>{payment}</td><td>{fulfillment}</td><td>{customer}<div class="muted">{email}</div></td><td class="num">{total} {currency}</td><td class="nowrap">{placed}</td></tr>"#,
                id = o.id,
                number = escape(&number),
                channel = escape(&o.channel_id),
                status = badge(&o.status),
                payment = badge(&o.payment_status),
                fulfillment = badge(&o.fulfillment_status),
                customer = escape(opt(&o.customer_name)),
                email = escape(opt(&o.customer_email)),
                total = escape(&o.total),
                currency = escape(&o.currency),
                placed = when(o.placed_at),
            );
        }
        h.push_str("</tbody></table></div>");
    }
    let next = page_rows.next_cursor.as_ref().map(|c| {
        let q = query_string([("cursor", c.encode().as_str())]);
        let sep = if filters.is_empty() { "" } else { "&" };
        format!(
            r#"<a class="button plain" id="next-page" href="/orders?{}{sep}{}">Next page →</a>"#,
            escape(&filters),
            escape(&q)
        )
    });
    let _ = write!(
        h,
        r#"<div class="pager"><span id="order-count">{n} order{plural} on this page</span><span><a href="/api/orders.csv?{csv}">Export CSV</a> {next}</span></div>"#,
        n = page_rows.rows.len(),
        plural = if page_rows.rows.len() == 1 { "" } else { "s" },
        csv = escape(&csv),
        next = next.unwrap_or_default(),
    );
    Ok(page(&app, &caller, StatusCode::OK, "/orders", "Orders", &h).await)
}

fn address(a: &Address) -> String {
    let city_line = [
        a.postal_code.as_deref(),
        a.city.as_deref(),
        a.region.as_deref(),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(" ");
    [
        a.name.clone(),
        a.company.clone(),
        a.line1.clone(),
        a.line2.clone(),
        Some(city_line).filter(|s| !s.is_empty()),
        a.country.clone(),
        a.phone.clone(),
    ]
    .into_iter()
    .flatten()
    .map(|l| escape(&l))
    .collect::<Vec<_>>()
    .join("<br>")
}

/// One line of an event's detail: `key: value` pairs, or a note's text.
fn detail_text(d: &serde_json::Value) -> String {
    match d {
        serde_json::Value::Object(m) => m
            .iter()
            .map(|(k, v)| match v {
                serde_json::Value::String(s) => format!("{k}: {s}"),
                other => format!("{k}: {other}"),
            })
            .collect::<Vec<_>>()
            .join(" · "),
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn timeline_html(t: &[TimelineEntry]) -> String {
    if t.is_empty() {
        return r#"<p class="muted">Nothing recorded yet.</p>"#.into();
    }
    let mut h = String::from(r#"<ol class="timeline" id="timeline">"#);
    for e in t {
        let _ = write!(
            h,
            r#"<li class="ev-{kind_class}"><span class="at">{at}</span>{kind}<span class="actor">by {actor}</span><div class="detail">{detail}</div></li>"#,
            kind_class = escape(&e.kind),
            at = when(e.at),
            kind = badge(&e.kind),
            actor = escape(&e.actor),
            detail = escape(&detail_text(&e.detail)),
        );
    }
    h.push_str("</ol>");
    h
}

fn shipment_html(v: &ShipmentView) -> String {
    let s = &v.shipment;
    let mut h = String::new();
    let rate = match (&s.rate_amount, &s.rate_currency) {
        (Some(a), Some(c)) => format!("{a} {c}"),
        (Some(a), None) => a.clone(),
        _ => "—".into(),
    };
    let carrier = [s.carrier.as_deref(), s.service.as_deref()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    let tracking = match &s.tracking_code {
        Some(code) => ext_link(s.tracking_url.as_deref(), code),
        None => "—".into(),
    };
    let label = match &s.label_url {
        Some(_) => ext_link(
            s.label_url.as_deref(),
            &format!("label ({})", s.label_format.as_deref().unwrap_or("pdf")),
        ),
        None => "—".into(),
    };
    let _ = write!(
        h,
        r#"<div class="panel shipment"><h3>Shipment {id} {status} <span class="sub">from warehouse {wh}</span></h3>
<dl class="facts"><dt>Carrier account</dt><dd>{account}</dd><dt>Carrier, service</dt><dd>{carrier}</dd><dt>Rate</dt><dd>{rate}</dd>
<dt>Label</dt><dd>{label}{bought}</dd><dt>Tracking</dt><dd>{tracking} {tstatus}</dd>
<dt>Channel told</dt><dd>{pushed}{told}</dd>{exception}</dl>"#,
        id = s.id,
        status = badge(&s.status),
        wh = escape(&s.warehouse_id),
        account = escape(s.carrier_account.as_deref().unwrap_or("—")),
        carrier = if carrier.is_empty() {
            "—".into()
        } else {
            escape(&carrier)
        },
        rate = escape(&rate),
        label = label,
        bought = s
            .label_bought_at
            .map(|t| format!(r#" <span class="muted">bought {}</span>"#, when(t)))
            .unwrap_or_default(),
        tracking = tracking,
        tstatus = badge(&s.tracking_status),
        pushed = s
            .tracking_pushed_at
            .map(|t| format!("tracking at {}", when(t)))
            .unwrap_or_else(|| "not yet".into()),
        told = s
            .status_pushed
            .as_deref()
            .map(|st| format!(", last status {}", badge(st)))
            .unwrap_or_default(),
        exception = s
            .exception_reason
            .as_deref()
            .map(|r| format!(r#"<dt>Exception</dt><dd class="error">{}</dd>"#, escape(r)))
            .unwrap_or_default(),
    );
    if !v.rate_quotes.is_empty() {
        h.push_str(r#"<h3>Rates considered</h3><div class="table-wrap"><table><thead><tr><th>Account</th><th>Carrier</th><th>Service</th><th class="num">Amount</th><th class="num">Days</th><th>Chosen</th><th>Why</th></tr></thead><tbody>"#);
        for q in &v.rate_quotes {
            let _ = write!(
                h,
                r#"<tr><td>{}</td><td>{}</td><td>{}</td><td class="num">{} {}</td><td class="num">{}</td><td>{}</td><td>{}</td></tr>"#,
                escape(&q.account),
                escape(q.carrier.as_deref().unwrap_or("—")),
                escape(q.service.as_deref().unwrap_or("—")),
                q.amount
                    .map(|a| a.to_string())
                    .unwrap_or_else(|| "—".into()),
                escape(q.currency.as_deref().unwrap_or("")),
                q.delivery_days
                    .map(|d| d.to_string())
                    .unwrap_or_else(|| "—".into()),
                if q.chosen {
                    badge("chosen")
                } else {
                    String::new()
                },
                escape(&q.reason),
            );
        }
        h.push_str("</tbody></table></div>");
    }
    if !v.events.is_empty() {
        h.push_str(r#"<h3>Tracking events</h3><div class="table-wrap"><table><thead><tr><th>When</th><th>Status</th><th>Carrier says</th><th>Where</th></tr></thead><tbody>"#);
        for e in &v.events {
            let _ = write!(
                h,
                r#"<tr><td class="nowrap">{}</td><td>{}</td><td>{}{}</td><td>{}</td></tr>"#,
                when(e.occurred_at),
                badge(&e.status),
                escape(&e.carrier_status),
                e.message
                    .as_deref()
                    .map(|m| format!(r#"<div class="muted">{}</div>"#, escape(m)))
                    .unwrap_or_default(),
                escape(e.location.as_deref().unwrap_or("")),
            );
        }
        h.push_str("</tbody></table></div>");
    }
    h.push_str("</div>");
    h
}

async fn order(
    Viewer(caller): Viewer,
    State(app): State<Arc<App>>,
    id: Result<Path<i64>, axum::extract::rejection::PathRejection>,
) -> PageResult {
    let Path(id) = id.map_err(|_| not_found())?;
    let Some(o) = app.store.get_order(id).await? else {
        return Err(not_found());
    };
    caller.check(&o.seller_id).map_err(|_| not_found())?;
    let shipments = app.store.order_shipments(id).await?;
    let timeline = app.store.order_timeline(id).await?;
    let title = format!(
        "Order {}",
        o.order.number.as_deref().unwrap_or(&o.order.external_id)
    );
    Ok(page(
        &app,
        &caller,
        StatusCode::OK,
        "/orders",
        &title,
        &order_html(&title, &o, &shipments, &timeline),
    )
    .await)
}

fn order_html(
    title: &str,
    o: &StoredOrder,
    shipments: &[ShipmentView],
    timeline: &[TimelineEntry],
) -> String {
    let ord = &o.order;
    let cur = ord.currency.as_str();
    let mut h = String::new();
    let _ = write!(
        h,
        r#"<p class="muted"><a href="/orders">← Orders</a></p><h1 id="order-title">{title} {status} <span class="sub">{channel} · {external}</span></h1>"#,
        title = escape(title),
        status = badge(ord.status.as_str()),
        channel = escape(&o.channel_id),
        external = escape(&ord.external_id),
    );
    if let Some(r) = &o.exception_reason {
        let _ = write!(
            h,
            r#"<div class="notice bad" role="alert">Exception: {}</div>"#,
            escape(r)
        );
    }
    let customer = ord
        .customer
        .as_ref()
        .map(|c| {
            [c.name.as_deref(), c.email.as_deref(), c.phone.as_deref()]
                .into_iter()
                .flatten()
                .map(escape)
                .collect::<Vec<_>>()
                .join("<br>")
        })
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "—".into());
    let _ = write!(
        h,
        r#"<div class="grid"><div class="panel"><h3>Order</h3><dl class="facts">
<dt>Placed</dt><dd>{placed}</dd><dt>Updated</dt><dd>{updated}</dd><dt>Synced</dt><dd>{synced}</dd>
<dt>Payment</dt><dd>{payment}</dd><dt>Fulfillment</dt><dd>{fulfillment}</dd><dt>Shipping</dt><dd>{method}</dd></dl></div>
<div class="panel"><h3>Money</h3><dl class="facts">
<dt>Subtotal</dt><dd>{sub} {cur}</dd><dt>Shipping</dt><dd>{ship} {cur}</dd><dt>Tax</dt><dd>{tax} {cur}</dd>
<dt>Discount</dt><dd>{disc} {cur}</dd><dt><b>Total</b></dt><dd><b>{total} {cur}</b></dd></dl></div>
<div class="panel"><h3>Customer</h3><p>{customer}</p></div>
<div class="panel"><h3>Ship to</h3><p>{ship_to}</p></div></div>"#,
        placed = when(ord.placed_at),
        updated = when(ord.updated_at),
        synced = when(o.synced_at),
        payment = badge(ord.payment_status.as_str()),
        fulfillment = badge(ord.fulfillment_status.as_str()),
        method = escape(ord.shipping_method.as_deref().unwrap_or("—")),
        sub = ord.subtotal,
        ship = ord.shipping_total,
        tax = ord.tax_total,
        disc = ord.discount_total,
        total = ord.total,
        cur = escape(cur),
        ship_to = ord
            .ship_to
            .as_ref()
            .map(address)
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "—".into()),
    );

    h.push_str(r#"<h2>Lines</h2><div class="table-wrap"><table id="lines"><thead><tr><th>#</th><th>SKU</th><th>Item</th><th class="num">Qty</th><th class="num">Unit price</th><th class="num">Discount</th><th class="num">Total</th></tr></thead><tbody>"#);
    for (i, l) in ord.lines.iter().enumerate() {
        let _ = write!(
            h,
            r#"<tr><td>{n}</td><td class="mono">{sku}</td><td>{title}</td><td class="num">{qty}</td><td class="num">{unit}</td><td class="num">{disc}</td><td class="num">{total} {cur}</td></tr>"#,
            n = i + 1,
            sku = escape(l.sku.as_deref().unwrap_or("—")),
            title = escape(&l.title),
            qty = l.quantity,
            unit = l.unit_price,
            disc = l.discount,
            total = l.total,
            cur = escape(cur),
        );
    }
    h.push_str("</tbody></table></div>");

    // The routing decision, as the timeline recorded it.
    h.push_str("<h2>Routing</h2>");
    let routed: Vec<&TimelineEntry> = timeline.iter().filter(|e| e.kind == "routed").collect();
    if routed.is_empty() {
        let why = match ord.status {
            OrderStatus::Awaiting => "Awaiting routing.",
            OrderStatus::Exception => "Not routed: see the exception above.",
            OrderStatus::Cancelled => "Cancelled.",
            _ => "No routing recorded.",
        };
        let _ = write!(h, r#"<p class="muted" id="routing">{why}</p>"#);
    } else {
        h.push_str(r#"<ul id="routing">"#);
        for e in routed {
            let wh = e.detail["warehouse_id"].as_str().unwrap_or("?");
            let ship = e.detail["shipment_id"]
                .as_i64()
                .map(|s| format!(" (shipment {s})"))
                .unwrap_or_default();
            let _ = write!(
                h,
                "<li>{} — routed to warehouse <b>{}</b>{}</li>",
                when(e.at),
                escape(wh),
                escape(&ship)
            );
        }
        h.push_str("</ul>");
    }

    let _ = write!(
        h,
        "<h2>Shipments <span class=\"sub\">{}</span></h2>",
        shipments.len()
    );
    if shipments.is_empty() {
        h.push_str(r#"<p class="muted">No shipment yet.</p>"#);
    }
    for s in shipments {
        h.push_str(&shipment_html(s));
    }

    h.push_str("<h2>Timeline</h2><div class=\"panel\">");
    h.push_str(&timeline_html(timeline));
    h.push_str("</div>");
    h
}

// ---------------------------------------------------------------------------
// Channels

async fn channels(Viewer(caller): Viewer, State(app): State<Arc<App>>) -> PageResult {
    let list = app.store.channel_statuses(caller.scope()).await?;
    Ok(page(
        &app,
        &caller,
        StatusCode::OK,
        "/channels",
        "Channels",
        &channels_html(&list),
    )
    .await)
}

fn channels_html(list: &[ChannelStatus]) -> String {
    let mut h = String::from("<h1>Channels</h1>");
    if list.is_empty() {
        h.push_str(
            r#"<div class="table-wrap"><div class="empty">No channels configured.</div></div>"#,
        );
        return h;
    }
    h.push_str(r#"<div class="table-wrap"><table id="channels"><thead><tr><th>Channel</th><th>Kind</th><th>Seller</th><th>State</th><th>Last sync</th><th class="num">Lag</th><th>Next poll</th><th class="num">Orders synced</th><th class="num">Errors in a row</th><th>Last error</th></tr></thead><tbody>"#);
    for c in list {
        let cls = if matches!(c.state, "failing" | "auth_failed") {
            r#" class="failed""#
        } else {
            ""
        };
        let _ = write!(
            h,
            r#"<tr id="channel-{id}"{cls}><td><b>{id}</b></td><td>{kind}</td><td>{seller}</td><td>{state}</td><td class="nowrap">{last}</td><td class="num">{lag}</td><td class="nowrap">{next}</td><td class="num">{synced}</td><td class="num">{errors}</td><td class="error">{error}</td></tr>"#,
            id = escape(&c.id),
            kind = escape(&c.kind),
            seller = escape(&c.seller_id),
            state = badge(c.state),
            last = when_opt(c.last_success_at),
            lag = c.lag_seconds.map(duration).unwrap_or_else(|| "—".into()),
            next = when(c.next_poll_at),
            synced = c.orders_synced,
            errors = c.error_count,
            error = escape(c.last_error.as_deref().unwrap_or("")),
        );
    }
    h.push_str("</tbody></table></div>");
    h
}

// ---------------------------------------------------------------------------
// Jobs

#[derive(Deserialize, Default)]
struct JobsForm {
    status: Option<String>,
    queue: Option<String>,
    /// A job just retried (the redirect after `POST /jobs/{id}/retry`).
    retried: Option<String>,
    /// A job that could not be retried, and why.
    refused: Option<String>,
}

/// What the job is about, linked where the dashboard has a page for it.
fn job_subject(args: &serde_json::Value) -> String {
    if let Some(id) = args["order_id"].as_i64() {
        return format!(r#"<a href="/orders/{id}">order {id}</a>"#);
    }
    if let Some(id) = args["shipment_id"].as_i64() {
        return format!("shipment {id}");
    }
    if let Some(c) = args["channel_id"].as_str() {
        return format!(r#"<a href="/channels">channel {}</a>"#, escape(c));
    }
    if let Some(id) = args["inbox_id"].as_i64() {
        return format!("carrier webhook {id}");
    }
    escape(&args.to_string())
}

fn short(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max).collect();
        t.push('…');
        t
    }
}

async fn jobs(
    Viewer(caller): Viewer,
    State(app): State<Arc<App>>,
    form: Result<Query<JobsForm>, axum::extract::rejection::QueryRejection>,
) -> PageResult {
    let Query(form) = form.map_err(|e| PageError(StatusCode::BAD_REQUEST, e.body_text()))?;
    let status = given(&form.status).filter(|s| jobs_api::STATUSES.contains(&s.as_str()));
    let queue = given(&form.queue).filter(|q| !q.contains('\0'));
    let filter = JobFilter {
        status: status.clone(),
        queue: queue.clone(),
        seller: caller.seller.clone(),
        limit: JOBS_SHOWN,
        ..Default::default()
    };
    let rows = jobs_api::list(&app.store, &filter).await?;
    let mut h = String::from("<h1>Jobs</h1>");
    if let Some(id) = given(&form.retried) {
        let _ = write!(
            h,
            r#"<div class="notice good" role="status" id="retried">Job <code>{}</code> is pending again with fresh attempts.</div>"#,
            escape(&id)
        );
    }
    if let Some(why) = given(&form.refused) {
        let _ = write!(
            h,
            r#"<div class="notice warn" role="status">{}</div>"#,
            escape(&why)
        );
    }
    let queues = [
        crate::queue::POLL_QUEUE,
        crate::queue::ROUTE_QUEUE,
        crate::queue::BUY_LABEL_QUEUE,
        crate::queue::PUSH_TRACKING_QUEUE,
        crate::queue::TRACKING_EVENT_QUEUE,
        crate::queue::VOID_LABEL_QUEUE,
    ];
    let queue_opts: Vec<(String, String)> = queues
        .iter()
        .map(|q| {
            (
                q.to_string(),
                q.trim_start_matches("orderhub.").replace('_', " "),
            )
        })
        .collect();
    let _ = write!(
        h,
        r#"<form class="filters" method="get" action="/jobs"><label>Status {}</label><label>Queue {}</label><button type="submit">Filter</button> <a class="button plain" href="/jobs?status=Failed">Failed only</a> <a class="button plain" href="/jobs">All</a></form>"#,
        select(
            "status",
            status.as_deref().unwrap_or(""),
            &same(&jobs_api::STATUSES),
            "any"
        ),
        select("queue", queue.as_deref().unwrap_or(""), &queue_opts, "any"),
    );
    if rows.is_empty() {
        h.push_str(r#"<div class="table-wrap"><div class="empty">No jobs match.</div></div>"#);
    } else {
        h.push_str(&jobs_table(&rows, status.as_deref().unwrap_or("")));
    }
    let _ = write!(
        h,
        r#"<p class="muted">{} job{} shown (newest first, at most {JOBS_SHOWN}). A job whose attempts are spent stays failed until retried.</p>"#,
        rows.len(),
        if rows.len() == 1 { "" } else { "s" }
    );
    Ok(page(&app, &caller, StatusCode::OK, "/jobs", "Jobs", &h).await)
}

fn jobs_table(rows: &[JobRow], status_filter: &str) -> String {
    let mut h = String::from(
        r#"<div class="table-wrap"><table id="jobs"><thead><tr><th>Job</th><th>Queue</th><th>About</th><th>Status</th><th class="num">Attempts</th><th>Run at</th><th>Last result</th><th></th></tr></thead><tbody>"#,
    );
    for j in rows {
        let failed = j.status == "Failed";
        let action = if matches!(j.status.as_str(), "Failed" | "Killed") {
            format!(
                r#"<form class="inline" method="post" action="/jobs/{id}/retry"><input type="hidden" name="status" value="{st}"><button type="submit" class="small retry">Retry</button></form>"#,
                id = escape(&url_path_segment(&j.id)),
                st = escape(status_filter),
            )
        } else {
            String::new()
        };
        let _ = write!(
            h,
            r#"<tr class="job{cls}" data-id="{id}" data-status="{status_raw}"><td class="mono" title="{id}">{short_id}</td><td>{queue}</td><td>{about}</td><td>{status}</td><td class="num">{attempts}/{max}</td><td class="nowrap">{run_at}</td><td class="error">{result}</td><td>{action}</td></tr>"#,
            cls = if failed { " failed" } else { "" },
            id = escape(&j.id),
            status_raw = escape(&j.status),
            short_id = escape(&short(&j.id, 14)),
            queue = escape(j.queue.trim_start_matches("orderhub.")),
            about = job_subject(&j.args),
            status = badge(&j.status),
            attempts = j.attempts,
            max = j.max_attempts,
            run_at = when_unix(j.run_at),
            result = if j.status == "Done" {
                String::new()
            } else {
                escape(&short(j.last_result.as_deref().unwrap_or(""), 160))
            },
        );
    }
    h.push_str("</tbody></table></div>");
    h
}

/// A job id as one URL path segment.
fn url_path_segment(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

async fn retry_job(
    _: SameOrigin,
    Viewer(caller): Viewer,
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    body: Bytes,
) -> PageResult {
    if id.contains('\0') {
        return Err(not_found());
    }
    // Another seller's job is a 404, like an unknown one.
    let Some(job) = jobs_api::get_scoped(&app.store, &id, caller.scope()).await? else {
        return Err(not_found());
    };
    let fields = form_fields(&body);
    let status = fields
        .get("status")
        .filter(|s| jobs_api::STATUSES.contains(&s.as_str()))
        .map(String::as_str)
        .unwrap_or("");
    let outcome = if jobs_api::retry(&app.store, &id).await? {
        tracing::info!(job = %id, seller = ?caller.seller, "job retried from the dashboard");
        ("retried", id.clone())
    } else {
        (
            "refused",
            format!(
                "Job {} is {}: only failed or cancelled jobs can be retried.",
                id, job.status
            ),
        )
    };
    let q = query_string([("status", status), (outcome.0, outcome.1.as_str())]);
    Ok(see_other(&format!("/jobs?{q}")))
}

// ---------------------------------------------------------------------------
// Stock

#[derive(Deserialize, Default)]
struct StockForm {
    threshold: Option<String>,
}

async fn stock(
    Viewer(caller): Viewer,
    State(app): State<Arc<App>>,
    form: Result<Query<StockForm>, axum::extract::rejection::QueryRejection>,
) -> PageResult {
    let form = form.map(|Query(f)| f).unwrap_or_default();
    let threshold = given(&form.threshold)
        .and_then(|t| t.parse::<i64>().ok())
        .unwrap_or(app.settings.inventory.low_stock_threshold);
    let rows = app
        .store
        .low_stock_after_safety(caller.scope(), threshold)
        .await?;
    let warehouses = app.store.stock_warehouses(caller.scope()).await?;
    let body = stock_html(&rows, threshold) + &super::floor::dashboard_links(&warehouses);
    Ok(page(&app, &caller, StatusCode::OK, "/stock", "Low stock", &body).await)
}

fn stock_html(rows: &[StockLevel], threshold: i64) -> String {
    let mut h = format!(
        r#"<h1>Low stock <span class="sub">available (on hand − reserved − safety stock) at or below {threshold}</span></h1>
<form class="filters" method="get" action="/stock"><label>Threshold <input type="number" name="threshold" value="{threshold}"></label><button type="submit">Show</button></form>"#
    );
    if rows.is_empty() {
        h.push_str(r#"<div class="table-wrap"><div class="empty" id="no-low-stock">Every sku is above the threshold.</div></div>"#);
        return h;
    }
    h.push_str(r#"<div class="table-wrap"><table id="low-stock"><thead><tr><th>Warehouse</th><th>SKU</th><th class="num">On hand</th><th class="num">Reserved</th><th class="num">Available</th><th></th></tr></thead><tbody>"#);
    for s in rows {
        let level = if s.available <= 0 { "out" } else { "low" };
        let _ = write!(
            h,
            r#"<tr class="stock{cls}"><td>{name} <span class="muted">{wid}</span></td><td class="mono">{sku}</td><td class="num">{on_hand}</td><td class="num">{reserved}</td><td class="num"><b>{available}</b></td><td>{badge}</td></tr>"#,
            cls = if level == "out" { " failed" } else { "" },
            name = escape(&s.warehouse_name),
            wid = escape(&s.warehouse_id),
            sku = escape(&s.sku),
            on_hand = s.on_hand,
            reserved = s.reserved,
            available = s.available,
            badge = badge(if level == "out" {
                "out_of_stock"
            } else {
                "low"
            }),
        );
    }
    h.push_str("</tbody></table></div>");
    h
}

// ---------------------------------------------------------------------------
// KPIs

#[derive(Deserialize, Default)]
struct KpisForm {
    from: Option<String>,
    to: Option<String>,
    channel: Option<String>,
}

async fn kpis(
    Viewer(caller): Viewer,
    State(app): State<Arc<App>>,
    form: Result<Query<KpisForm>, axum::extract::rejection::QueryRejection>,
) -> PageResult {
    let Query(form) = form.map_err(|e| PageError(StatusCode::BAD_REQUEST, e.body_text()))?;
    let channels = app.store.channel_statuses(caller.scope()).await?;
    let channel_opts: Vec<(String, String)> = channels
        .iter()
        .map(|c| (c.id.clone(), c.id.clone()))
        .collect();
    let mut h = String::from("<h1>KPIs</h1>");
    let _ = write!(
        h,
        r#"<form class="filters" method="get" action="/kpis"><label>Placed from <input type="date" name="from" value="{}"></label><label>Placed to <input type="date" name="to" value="{}"></label><label>Channel {}</label><button type="submit">Show</button></form>"#,
        escape(opt(&form.from)),
        escape(opt(&form.to)),
        select("channel", opt(&form.channel), &channel_opts, "all"),
    );
    let from = day_start(given(&form.from), false);
    let to = day_start(given(&form.to), true);
    let channel = given(&form.channel);
    let query = KpiQuery::parse(
        from.as_deref(),
        to.as_deref(),
        channel.as_deref(),
        None,
        Utc::now(),
    );
    let mut query = match query {
        Ok(q) => q,
        Err(msg) => {
            let _ = write!(
                h,
                r#"<div class="notice bad" role="alert">{}</div>"#,
                escape(&msg)
            );
            return Ok(page(&app, &caller, StatusCode::BAD_REQUEST, "/kpis", "KPIs", &h).await);
        }
    };
    // The same computation as `GET /api/kpis`, scoped to the caller.
    query.seller = caller.scope().map(str::to_string);
    let k = app.store.kpis(&query, &app.settings.shipping).await?;
    h.push_str(&kpis_html(&k));
    Ok(page(&app, &caller, StatusCode::OK, "/kpis", "KPIs", &h).await)
}

fn pct(rate: Option<f64>) -> String {
    rate.map(|r| format!("{:.1} %", r * 100.0))
        .unwrap_or_else(|| "—".into())
}

fn secs_opt(s: Option<i64>) -> String {
    s.map(duration).unwrap_or_else(|| "—".into())
}

/// One horizontal bar per row: label, value (against `max`), text shown,
/// and a tone class for the bar.
fn bar_chart(title: &str, rows: &[(String, f64, String, &str)], max: f64) -> String {
    const W: f64 = 560.0;
    const LABEL: f64 = 150.0;
    const VALUE: f64 = 90.0;
    const ROW: f64 = 26.0;
    let bar_w = W - LABEL - VALUE;
    let height = (rows.len().max(1) as f64) * ROW + 8.0;
    let mut s = format!(
        r#"<div class="panel"><h3>{t}</h3><svg class="chart" viewBox="0 0 {W} {height}" role="img" aria-label="{t}" xmlns="http://www.w3.org/2000/svg">"#,
        t = escape(title)
    );
    if rows.is_empty() {
        let _ = write!(s, r#"<text x="0" y="18" class="value">no data</text>"#);
    }
    for (i, (label, value, text, tone)) in rows.iter().enumerate() {
        let y = 4.0 + i as f64 * ROW;
        let w = if max > 0.0 {
            (value / max).clamp(0.0, 1.0) * bar_w
        } else {
            0.0
        };
        let _ = write!(
            s,
            r#"<text x="{lx}" y="{ty}" text-anchor="end">{label}</text><rect class="track" x="{LABEL}" y="{y}" width="{bar_w}" height="18" rx="3"></rect><rect class="bar tone-{tone}" x="{LABEL}" y="{y}" width="{w:.1}" height="18" rx="3"><title>{label}: {text}</title></rect><text class="value" x="{vx}" y="{ty}">{text}</text>"#,
            lx = LABEL - 8.0,
            ty = y + 13.0,
            vx = LABEL + bar_w + 8.0,
            label = escape(&short(label, 22)),
            text = escape(text),
            tone = escape(tone),
        );
    }
    s.push_str("</svg></div>");
    s
}

/// Two bars per row (median and p90 of a duration), one chart.
fn duration_chart(title: &str, rows: &[(String, Option<i64>, Option<i64>)]) -> String {
    const W: f64 = 560.0;
    const LABEL: f64 = 150.0;
    const VALUE: f64 = 110.0;
    const ROW: f64 = 34.0;
    let bar_w = W - LABEL - VALUE;
    let max = rows
        .iter()
        .flat_map(|(_, a, b)| [a.unwrap_or(0), b.unwrap_or(0)])
        .max()
        .unwrap_or(0) as f64;
    let height = (rows.len().max(1) as f64) * ROW + 8.0;
    let mut s = format!(
        r#"<div class="panel"><h3>{t}</h3><svg class="chart" viewBox="0 0 {W} {height}" role="img" aria-label="{t}" xmlns="http://www.w3.org/2000/svg">"#,
        t = escape(title)
    );
    if rows.is_empty() {
        s.push_str(r#"<text x="0" y="18" class="value">no data</text>"#);
    }
    for (i, (label, median, p90)) in rows.iter().enumerate() {
        let y = 4.0 + i as f64 * ROW;
        let w = |v: Option<i64>| {
            if max > 0.0 {
                (v.unwrap_or(0) as f64 / max).clamp(0.0, 1.0) * bar_w
            } else {
                0.0
            }
        };
        let _ = write!(
            s,
            r#"<text x="{lx}" y="{ty}" text-anchor="end">{label}</text><rect class="bar" x="{LABEL}" y="{y}" width="{wm:.1}" height="12" rx="2"><title>median {m}</title></rect><rect class="bar alt" x="{LABEL}" y="{y2}" width="{wp:.1}" height="12" rx="2"><title>p90 {p}</title></rect><text class="value" x="{vx}" y="{ty}">{m} / {p}</text>"#,
            lx = LABEL - 8.0,
            ty = y + 17.0,
            y2 = y + 14.0,
            vx = LABEL + bar_w + 8.0,
            label = escape(&short(label, 22)),
            wm = w(*median),
            wp = w(*p90),
            m = secs_opt(*median),
            p = secs_opt(*p90),
        );
    }
    s.push_str(r#"</svg><div class="legend"><span><i class="main"></i>median</span><span><i class="alt"></i>p90</span></div></div>"#);
    s
}

fn kpis_html(k: &Kpis) -> String {
    let mut h = String::new();
    let cost = if k.labels_cost.is_empty() {
        "—".to_string()
    } else {
        k.labels_cost
            .iter()
            .map(|(c, a)| format!("{a} {c}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let _ = write!(
        h,
        r#"<p class="muted">Orders placed {} to {}.</p><div class="tiles" id="kpi-tiles">"#,
        when(k.from),
        when(k.to)
    );
    for (label, value, note) in [
        ("Orders", k.orders.total.to_string(), String::new()),
        (
            "Placed → label",
            secs_opt(k.placed_to_label.median_secs),
            format!("p90 {}", secs_opt(k.placed_to_label.p90_secs)),
        ),
        (
            "Placed → delivered",
            secs_opt(k.placed_to_delivered.median_secs),
            format!("p90 {}", secs_opt(k.placed_to_delivered.p90_secs)),
        ),
        (
            "On time",
            pct(k.on_time_rate.rate),
            format!("{} of {}", k.on_time_rate.matching, k.on_time_rate.count),
        ),
        (
            "Accuracy",
            pct(k.accuracy.rate),
            format!("{} of {}", k.accuracy.matching, k.accuracy.count),
        ),
        (
            "Fill rate",
            pct(k.fill_rate.rate),
            format!("{} of {}", k.fill_rate.matching, k.fill_rate.count),
        ),
        ("Labels cost", cost, String::new()),
    ] {
        let _ = write!(
            h,
            r#"<div class="tile"><div class="label">{}</div><div class="value">{}</div><div class="note">{}</div></div>"#,
            escape(label),
            escape(&value),
            escape(&note)
        );
    }
    h.push_str("</div><div class=\"charts\">");

    let by_status: Vec<(String, f64, String, &str)> = k
        .orders
        .by_status
        .iter()
        .map(|(s, n)| (s.clone(), *n as f64, n.to_string(), tone(s)))
        .collect();
    let max = by_status.iter().map(|r| r.1).fold(0.0, f64::max);
    h.push_str(&bar_chart("Orders by status", &by_status, max));

    let by_channel: Vec<(String, f64, String, &str)> = k
        .by_channel
        .iter()
        .map(|g| {
            (
                g.id.clone(),
                g.orders.total as f64,
                g.orders.total.to_string(),
                "info",
            )
        })
        .collect();
    let max = by_channel.iter().map(|r| r.1).fold(0.0, f64::max);
    h.push_str(&bar_chart("Orders by channel", &by_channel, max));

    let rates: Vec<(String, f64, String, &str)> = [
        ("on time", &k.on_time_rate),
        ("accuracy", &k.accuracy),
        ("fill rate", &k.fill_rate),
    ]
    .into_iter()
    .map(|(l, s)| {
        let r = s.rate.unwrap_or(0.0);
        let tone = match s.rate {
            None => "mute",
            Some(r) if r >= 0.95 => "good",
            Some(r) if r >= 0.8 => "warn",
            Some(_) => "bad",
        };
        (l.to_string(), r * 100.0, pct(s.rate), tone)
    })
    .collect();
    h.push_str(&bar_chart("Rates", &rates, 100.0));

    let mut times: Vec<(String, Option<i64>, Option<i64>)> = vec![(
        "all → label".into(),
        k.placed_to_label.median_secs,
        k.placed_to_label.p90_secs,
    )];
    times.extend(k.by_channel.iter().map(|g| {
        (
            format!("{} → label", g.id),
            g.placed_to_label.median_secs,
            g.placed_to_label.p90_secs,
        )
    }));
    times.push((
        "all → delivered".into(),
        k.placed_to_delivered.median_secs,
        k.placed_to_delivered.p90_secs,
    ));
    h.push_str(&duration_chart("Fulfillment time (median / p90)", &times));
    h.push_str("</div>");

    if !k.by_warehouse.is_empty() {
        h.push_str(r#"<h2>By warehouse</h2><div class="table-wrap"><table><thead><tr><th>Warehouse</th><th class="num">Orders</th><th class="num">Placed → label (median)</th><th class="num">On time</th><th class="num">Accuracy</th><th class="num">Fill rate</th><th>Labels cost</th></tr></thead><tbody>"#);
        for g in &k.by_warehouse {
            let _ = write!(
                h,
                r#"<tr><td>{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td>{}</td></tr>"#,
                escape(&g.id),
                g.orders.total,
                secs_opt(g.placed_to_label.median_secs),
                pct(g.on_time_rate.rate),
                pct(g.accuracy.rate),
                pct(g.fill_rate.rate),
                escape(
                    &g.labels_cost
                        .iter()
                        .map(|(c, a)| format!("{a} {c}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            );
        }
        h.push_str("</tbody></table></div>");
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_covers_markup_and_quotes() {
        assert_eq!(
            escape(r#"<a href="x" onclick='y'>&</a>"#),
            "&lt;a href=&quot;x&quot; onclick=&#39;y&#39;&gt;&amp;&lt;/a&gt;"
        );
    }

    #[test]
    fn same_origin_rules() {
        let h = |pairs: &[(&str, &str)]| {
            let mut m = HeaderMap::new();
            for (k, v) in pairs {
                m.insert(
                    axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                    HeaderValue::from_str(v).unwrap(),
                );
            }
            m
        };
        assert!(same_origin(&h(&[("host", "127.0.0.1:8080")])));
        assert!(same_origin(&h(&[
            ("host", "127.0.0.1:8080"),
            ("origin", "http://127.0.0.1:8080"),
            ("sec-fetch-site", "same-origin"),
        ])));
        assert!(!same_origin(&h(&[
            ("host", "127.0.0.1:8080"),
            ("origin", "http://evil.example"),
        ])));
        assert!(!same_origin(&h(&[
            ("host", "127.0.0.1:8080"),
            ("origin", "null"),
        ])));
        assert!(!same_origin(&h(&[
            ("host", "127.0.0.1:8080"),
            ("sec-fetch-site", "cross-site"),
        ])));
        assert!(!same_origin(&h(&[
            ("host", "shop.example"),
            ("sec-fetch-site", "same-site"),
        ])));
    }

    #[test]
    fn dates_become_times() {
        assert_eq!(
            day_start(Some("2025-01-31".into()), false).as_deref(),
            Some("2025-01-31T00:00:00Z")
        );
        assert_eq!(
            day_start(Some("2025-01-31".into()), true).as_deref(),
            Some("2025-02-01T00:00:00Z")
        );
        assert_eq!(
            day_start(Some("2025-01-31T10:00:00Z".into()), false).as_deref(),
            Some("2025-01-31T10:00:00Z")
        );
    }

    #[test]
    fn only_web_links_are_links() {
        assert!(ext_link(Some("javascript:alert(1)"), "x") == "x");
        assert!(ext_link(Some("https://t.example/1?a=1&b=2"), "x").contains("a=1&amp;b=2"));
    }
}
