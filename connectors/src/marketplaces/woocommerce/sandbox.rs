//! A local WooCommerce store (REST API v3) for tests, the demo and benchmarks.
//!
//! What it speaks, as WooCommerce does:
//! - `GET /wp-json/wc/v3/orders` with `page`, `per_page` (1–100, default 10),
//!   `offset`, `status` (`any` by default: every status but `trash` and
//!   `checkout-draft`), `after`/`before` (created), `modified_after`/
//!   `modified_before` (strict, to the second), `dates_are_gmt` (else the
//!   dates are site time: the sandbox's site runs at UTC−05:00), `orderby`
//!   (`date`, `id`, `modified`, …, ties broken by id) and `order`; headers
//!   `X-WP-Total`, `X-WP-TotalPages` and `Link` (`prev`/`next`).
//! - `GET`/`PUT /wp-json/wc/v3/orders/{id}` (a status change adds WooCommerce's
//!   system note and moves `date_modified`), `GET`/`POST …/orders/{id}/notes`,
//!   and the Shipment Tracking extension's
//!   `GET`/`POST /wp-json/wc-shipment-tracking/v3/orders/{id}/shipment-trackings`.
//! - Auth: HTTP Basic with the consumer key/secret, or `consumer_key`/
//!   `consumer_secret` query parameters (as the official clients send with
//!   `queryStringAuth`). The real store takes Basic auth over HTTPS only; the
//!   sandbox stands in for an HTTPS store on plain HTTP. OAuth 1.0a is not
//!   accepted. A wrong secret for the known key answers 401
//!   `woocommerce_rest_authentication_error` "Consumer secret is invalid."; no
//!   key, an unknown key or revoked credentials answer 401 with the endpoint's
//!   permission error (`woocommerce_rest_cannot_view` "Sorry, you cannot list
//!   resources.", `…_cannot_edit`, `…_cannot_create`).
//! - Bodies are encoded as `wp_json_encode` does (`\/` and `\uXXXX` escapes);
//!   errors are `{"code","message","data":{"status"}}`.
//! - Limit: WooCommerce publishes none (it runs on the merchant's host). The
//!   sandbox enforces an assumed host-style limit, a token bucket of 25
//!   requests/s with a burst of 50 ([`HostLimit::PUBLISHED`]), answering 429 with
//!   `Retry-After` and `RateLimit-*` headers and the body WooCommerce's Store API
//!   limiter uses (`rate_limit_exceeded`). Volume runs get 500/s, burst 1000.
//!
//! - Products (stock): `GET /wp-json/wc/v3/products?sku=` (an array, the
//!   listing with that sku or none) and `PUT /wp-json/wc/v3/products/{id}`
//!   with `manage_stock`/`stock_quantity`; listings are the shared
//!   [`crate::sandbox::Catalog`] (product id `300 + index`, WordPress post
//!   ids); `recorded.stock` holds the last quantity written per sku.
//!
//! Faults are decided on `"<METHOD> <path>"`, so `FaultConfig.paths` can aim at
//! writes only (`"POST /wp-json"`); requests are counted by path.
//!
//! `recorded`: `tracking` (per order, one entry per tracking number the store
//! holds, counted from orderhub-style notes "Shipped with C, tracking N[: URL]"
//! and the extension's trackings, whichever holds it more often), `notes` (notes
//! per order) and `completed` (ids of completed orders).

use super::client::sign_webhook;
use crate::sandbox::generate::{generate_order, GenOrder};
use crate::sandbox::{json_response, parse_body, Catalog, Fault, Listing, SandboxCore};
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use base64::Engine;
use chrono::{DateTime, Duration as ChronoDuration, FixedOffset, NaiveDateTime, TimeZone, Utc};
use rand::Rng;
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

/// The sandbox site's timezone (WordPress "UTC-5"), for the non-GMT dates.
pub const SITE_UTC_OFFSET_SECS: i32 = -5 * 3600;
const WEBHOOK_ID: u64 = 142;
const USER_AGENT: &str = "WooCommerce/9.8.5 Hookshot (WordPress/6.8.1)";

/// A host-style request limit: a token bucket.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HostLimit {
    pub per_second: f64,
    pub burst: f64,
}

impl HostLimit {
    /// The assumed limit of a managed WordPress host (WooCommerce publishes none).
    pub const PUBLISHED: HostLimit = HostLimit {
        per_second: 25.0,
        burst: 50.0,
    };
    pub const VOLUME: HostLimit = HostLimit {
        per_second: 500.0,
        burst: 1000.0,
    };
}

#[derive(Clone)]
pub struct WooSandboxOptions {
    pub consumer_key: String,
    pub consumer_secret: String,
    pub webhook_secret: String,
    pub limit: HostLimit,
}

impl std::fmt::Debug for WooSandboxOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WooSandboxOptions")
            .field("limit", &self.limit)
            .finish_non_exhaustive()
    }
}

struct SNote {
    id: u64,
    created: DateTime<Utc>,
    note: String,
    customer_note: bool,
    author: &'static str,
}

struct STracking {
    id: String,
    provider: String,
    link: Option<String>,
    number: String,
    date_shipped: String,
}

struct SOrder {
    id: u64,
    gen: GenOrder,
    status: String,
    created: DateTime<Utc>,
    modified: DateTime<Utc>,
    paid: Option<DateTime<Utc>>,
    completed: Option<DateTime<Utc>>,
    /// Ids of its line items, then its shipping line, then its tax line.
    first_item_id: u64,
    notes: Vec<SNote>,
    trackings: Vec<STracking>,
}

struct Bucket {
    tokens: f64,
    last: Instant,
}

struct Store {
    orders: BTreeMap<u64, SOrder>,
    next_order_id: u64,
    next_item_id: u64,
    next_note_id: u64,
    next_seq: u64,
}

struct Shared {
    core: Arc<SandboxCore>,
    catalog: Catalog,
    opts: WooSandboxOptions,
    state: Mutex<Store>,
    bucket: Mutex<Bucket>,
}

/// The sandbox store; cheap to clone (shared state).
#[derive(Clone)]
pub struct WooSandbox {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for WooSandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WooSandbox")
            .field("orders", &self.order_count())
            .finish_non_exhaustive()
    }
}

/// `POST /_sandbox/seed`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct SeedRequest {
    pub count: u32,
    pub start: Option<DateTime<Utc>>,
    pub step_ms: Option<u64>,
}

/// `POST /_sandbox/orders/{id}/touch`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct TouchRequest {
    pub updated_at: Option<DateTime<Utc>>,
    pub cancel: Option<bool>,
}

/// A webhook delivery as WooCommerce would send it.
#[derive(Debug, Clone)]
pub struct SignedWebhook {
    pub headers: Vec<(String, String)>,
    pub body: String,
}

fn trunc_secs(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp(t.timestamp(), 0).unwrap_or(t)
}

fn site_offset() -> FixedOffset {
    FixedOffset::east_opt(SITE_UTC_OFFSET_SECS).unwrap_or_else(|| chrono::Offset::fix(&Utc))
}

fn fmt_gmt(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S").to_string()
}

fn fmt_site(t: DateTime<Utc>) -> String {
    t.with_timezone(&site_offset())
        .format("%Y-%m-%dT%H:%M:%S")
        .to_string()
}

fn money(d: Decimal) -> String {
    format!("{:.2}", d.round_dp(2))
}

fn label(status: &str) -> &'static str {
    match status {
        "pending" => "Pending payment",
        "processing" => "Processing",
        "on-hold" => "On hold",
        "completed" => "Completed",
        "cancelled" => "Cancelled",
        "refunded" => "Refunded",
        "failed" => "Failed",
        "trash" => "Trash",
        _ => "Draft",
    }
}

const STATUSES: [&str; 9] = [
    "pending",
    "processing",
    "on-hold",
    "completed",
    "cancelled",
    "refunded",
    "failed",
    "trash",
    "checkout-draft",
];

/// JSON as `wp_json_encode` writes it: `/` as `\/`, non-ASCII as `\uXXXX`.
/// Both only ever occur inside strings, so escaping the serialized text is safe.
pub fn wp_json(v: &Value) -> String {
    let plain = v.to_string();
    let mut out = String::with_capacity(plain.len() + 16);
    for c in plain.chars() {
        match c {
            '/' => out.push_str("\\/"),
            c if c.is_ascii() => out.push(c),
            c => {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{u:04x}"));
                }
            }
        }
    }
    out
}

fn wp_response(status: StatusCode, body: &Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json; charset=UTF-8")],
        wp_json(body),
    )
        .into_response()
}

fn wp_error(status: StatusCode, code: &str, message: &str) -> Response {
    wp_response(
        status,
        &json!({ "code": code, "message": message, "data": { "status": status.as_u16() } }),
    )
}

fn invalid_param(name: &str, why: &str) -> Response {
    wp_response(
        StatusCode::BAD_REQUEST,
        &json!({
            "code": "rest_invalid_param",
            "message": format!("Invalid parameter(s): {name}"),
            "data": { "status": 400, "params": { name: why } },
        }),
    )
}

fn order_not_found() -> Response {
    wp_error(
        StatusCode::NOT_FOUND,
        "woocommerce_rest_order_invalid_id",
        "Invalid order ID.",
    )
}

fn too_many(retry_after_secs: u64, limit: HostLimit) -> Response {
    let body = json!({
        "code": "rate_limit_exceeded",
        "message": format!("Too many requests. Please wait {retry_after_secs} seconds before trying again."),
        "data": { "status": 429 },
    });
    let mut resp = wp_response(StatusCode::TOO_MANY_REQUESTS, &body);
    let h = resp.headers_mut();
    for (name, value) in [
        ("retry-after", retry_after_secs.to_string()),
        ("ratelimit-limit", format!("{}", limit.burst as u64)),
        ("ratelimit-remaining", "0".to_string()),
        ("ratelimit-reset", retry_after_secs.to_string()),
        ("ratelimit-retry-after", retry_after_secs.to_string()),
    ] {
        if let Ok(v) = HeaderValue::from_str(&value) {
            h.insert(name, v);
        }
    }
    resp
}

/// 429 and 5xx faults as the store or its host answers them.
fn early_fault(fault: Fault, limit: HostLimit) -> Option<Response> {
    match fault {
        Fault::TooManyRequests { retry_after } => {
            Some(too_many(retry_after.as_secs_f64().ceil() as u64, limit))
        }
        Fault::ServerError(500) => Some(wp_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            &json!({
                "code": "internal_server_error",
                "message": "<p>There has been a critical error on this website.</p><p><a href=\"https://wordpress.org/documentation/article/faq-troubleshooting/\">Learn more about troubleshooting WordPress.</a></p>",
                "data": { "status": 500 },
                "additional_errors": [],
            }),
        )),
        // 502/503 come from the host's proxy, not WordPress: HTML.
        Fault::ServerError(code) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_GATEWAY);
            let reason = status.canonical_reason().unwrap_or("Error");
            Some(
                (
                    status,
                    [(header::CONTENT_TYPE, "text/html")],
                    format!("<html><head><title>{code} {reason}</title></head><body><center><h1>{code} {reason}</h1></center><hr><center>nginx</center></body></html>"),
                )
                    .into_response(),
            )
        }
        _ => None,
    }
}

/// What a request without working credentials is refused with, per endpoint.
#[derive(Clone, Copy)]
enum Denial {
    List,
    View,
    Edit,
    Create,
}

impl Denial {
    fn response(self) -> Response {
        let (code, message) = match self {
            Denial::List => (
                "woocommerce_rest_cannot_view",
                "Sorry, you cannot list resources.",
            ),
            Denial::View => (
                "woocommerce_rest_cannot_view",
                "Sorry, you cannot view this resource.",
            ),
            Denial::Edit => (
                "woocommerce_rest_cannot_edit",
                "Sorry, you are not allowed to edit this resource.",
            ),
            Denial::Create => (
                "woocommerce_rest_cannot_create",
                "Sorry, you are not allowed to create resources.",
            ),
        };
        wp_error(StatusCode::UNAUTHORIZED, code, message)
    }
}

fn query_pairs(q: &Option<String>) -> Vec<(String, String)> {
    q.as_deref()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default()
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A date-time parameter: with an explicit offset it is absolute, else GMT or
/// site time as `dates_are_gmt` says.
fn parse_date_param(s: &str, gmt: bool) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    let naive = NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S")
        .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S"))
        .ok()?;
    if gmt {
        Some(naive.and_utc())
    } else {
        site_offset()
            .from_local_datetime(&naive)
            .single()
            .map(|t| t.with_timezone(&Utc))
    }
}

/// The predefined Shipment Tracking providers the sandbox knows, with links.
fn provider_link(provider: &str, number: &str) -> Option<String> {
    let base = match provider {
        "USPS" => "https://tools.usps.com/go/TrackConfirmAction_input?qtc_tLabels1=",
        "UPS" => "https://www.ups.com/track?loc=en_US&tracknum=",
        "Fedex" => "https://www.fedex.com/apps/fedextrack/?action=track&tracknumbers=",
        "DHL US" => "https://www.dhl.com/en/express/tracking.html?AWB=",
        "Royal Mail" => "https://www.royalmail.com/track-your-item#/tracking-results/",
        "ParcelForce" => "https://www.parcelforce.com/track-trace?trackNumber=",
        "Deutsche Post DHL" => {
            "https://www.dhl.de/de/privatkunden/pakete-empfangen/verfolgen.html?piececode="
        }
        "OnTrac" | "FedEx Sameday" | "DHL Parcel UK" | "DPD.co.uk" | "Hermes (DE)"
        | "Canada Post" | "Australia Post" => "https://track.example/?n=",
        _ => return None,
    };
    Some(format!("{base}{number}"))
}

/// `(carrier, number, url)` from a note orderhub wrote.
fn parse_tracking_note(note: &str) -> Option<(String, String, Option<String>)> {
    let rest = note.strip_prefix("Shipped with ")?;
    let (carrier, rest) = rest.split_once(", tracking ")?;
    let (number, url) = match rest.split_once(": ") {
        Some((n, u)) => (n, Some(u.trim().to_string())),
        None => (rest, None),
    };
    let number = number.trim();
    (!number.is_empty()).then(|| (carrier.trim().to_string(), number.to_string(), url))
}

impl SOrder {
    fn order_json(&self) -> Value {
        let g = &self.gen;
        let a = &g.address;
        let mut line_items = Vec::new();
        let mut line_total = Decimal::ZERO;
        for (i, l) in g.lines.iter().enumerate() {
            let sub = l.unit_price * Decimal::from(l.quantity);
            line_total += sub;
            // Serialized from its decimal text: 13.99, not 13.990000000000002.
            let price: Value =
                serde_json::from_str(&l.unit_price.normalize().to_string()).unwrap_or(Value::Null);
            line_items.push(json!({
                "id": self.first_item_id + i as u64,
                "name": l.title,
                "product_id": 10 + l.sku.trim_start_matches("SKU-").parse::<u64>().unwrap_or(0),
                "variation_id": 0,
                "quantity": l.quantity,
                "tax_class": "",
                "subtotal": money(sub),
                "subtotal_tax": money(l.tax),
                "total": money(sub),
                "total_tax": money(l.tax),
                "taxes": [{ "id": 1, "total": money(l.tax), "subtotal": money(l.tax) }],
                "meta_data": [],
                "sku": l.sku,
                "price": price,
            }));
        }
        let shipping_id = self.first_item_id + g.lines.len() as u64;
        let billing = json!({
            "first_name": a.first_name, "last_name": a.last_name, "company": "",
            "address_1": a.street, "address_2": "", "city": a.city, "state": a.region_code,
            "postcode": a.postal_code, "country": a.country_code, "email": g.email, "phone": g.phone,
        });
        let shipping = json!({
            "first_name": a.first_name, "last_name": a.last_name, "company": "",
            "address_1": a.street, "address_2": "", "city": a.city, "state": a.region_code,
            "postcode": a.postal_code, "country": a.country_code, "phone": "",
        });
        let opt = |t: Option<DateTime<Utc>>, f: fn(DateTime<Utc>) -> String| {
            t.map(f).map(Value::String).unwrap_or(Value::Null)
        };
        let mut order = json!({
            "id": self.id,
            "parent_id": 0,
            "number": self.id.to_string(),
            "order_key": format!("wc_order_{:013x}", self.id.wrapping_mul(0x9e37_79b9)),
            "created_via": "checkout",
            "version": "9.8.5",
            "status": self.status,
            "currency": g.currency,
            "date_created": fmt_site(self.created),
            "date_created_gmt": fmt_gmt(self.created),
            "date_modified": fmt_site(self.modified),
            "date_modified_gmt": fmt_gmt(self.modified),
            "discount_total": "0.00",
            "discount_tax": "0.00",
            "shipping_total": money(g.shipping),
            "shipping_tax": "0.00",
            "cart_tax": money(g.tax),
            "total": money(line_total + g.shipping + g.tax),
            "total_tax": money(g.tax),
            "prices_include_tax": false,
        });
        let rest = json!({
            "customer_id": 0,
            "customer_ip_address": "",
            "customer_user_agent": "",
            "customer_note": "",
            "billing": billing,
            "shipping": shipping,
            "payment_method": "stripe",
            "payment_method_title": "Credit Card (Stripe)",
            "transaction_id": format!("ch_{:016x}", self.id.wrapping_mul(0x2545_f491)),
            "date_paid": opt(self.paid, fmt_site),
            "date_paid_gmt": opt(self.paid, fmt_gmt),
            "date_completed": opt(self.completed, fmt_site),
            "date_completed_gmt": opt(self.completed, fmt_gmt),
            "cart_hash": "",
            "meta_data": [],
            "line_items": line_items,
            "tax_lines": [{
                "id": shipping_id + 1,
                "rate_code": format!("{}-TAX-1", a.country_code),
                "rate_id": 1,
                "label": "Tax",
                "compound": false,
                "tax_total": money(g.tax),
                "shipping_tax_total": "0.00",
                "meta_data": [],
            }],
            "shipping_lines": [{
                "id": shipping_id,
                "method_title": g.shipping_method,
                "method_id": "flat_rate",
                "total": money(g.shipping),
                "total_tax": "0.00",
                "taxes": [],
                "meta_data": [],
            }],
            "fee_lines": [],
            "coupon_lines": [],
            "refunds": [],
        });
        if let (Some(o), Value::Object(r)) = (order.as_object_mut(), rest) {
            o.extend(r);
        }
        order
    }

    fn with_links(&self, base: &str) -> Value {
        let mut v = self.order_json();
        v["_links"] = json!({
            "self": [{ "href": format!("{base}/wp-json/wc/v3/orders/{}", self.id) }],
            "collection": [{ "href": format!("{base}/wp-json/wc/v3/orders") }],
        });
        v
    }

    fn note_json(&self, n: &SNote, base: &str) -> Value {
        json!({
            "id": n.id,
            "author": n.author,
            "date_created": fmt_site(n.created),
            "date_created_gmt": fmt_gmt(n.created),
            "note": n.note,
            "customer_note": n.customer_note,
            "_links": {
                "self": [{ "href": format!("{base}/wp-json/wc/v3/orders/{}/notes/{}", self.id, n.id) }],
                "collection": [{ "href": format!("{base}/wp-json/wc/v3/orders/{}/notes", self.id) }],
                "up": [{ "href": format!("{base}/wp-json/wc/v3/orders/{}", self.id) }],
            },
        })
    }

    fn tracking_json(&self, t: &STracking, base: &str) -> Value {
        let prefix = format!("{base}/wp-json/wc-shipment-tracking/v3/orders/{}", self.id);
        json!({
            "tracking_id": t.id,
            "tracking_provider": t.provider,
            "tracking_link": t.link.clone().unwrap_or_default(),
            "tracking_number": t.number,
            "date_shipped": t.date_shipped,
            "_links": {
                "self": [{ "href": format!("{prefix}/shipment-trackings/{}", t.id) }],
                "collection": [{ "href": format!("{prefix}/shipment-trackings") }],
                "up": [{ "href": format!("{base}/wp-json/wc/v3/orders/{}", self.id) }],
            },
        })
    }

    /// What `recorded.tracking[id]` shows: per number, as many entries as the
    /// source holding it most often (a note and an extension tracking for the
    /// same shipment are one; two notes for it are two).
    fn recorded_tracking(&self) -> Vec<Value> {
        let mut per_number: BTreeMap<String, (usize, usize, Value)> = BTreeMap::new();
        for n in &self.notes {
            if let Some((carrier, number, url)) = parse_tracking_note(&n.note) {
                let e = per_number.entry(number.clone()).or_insert_with(|| {
                    (
                        0,
                        0,
                        json!({ "carrier": carrier, "number": number, "url": url }),
                    )
                });
                e.0 += 1;
            }
        }
        for t in &self.trackings {
            let e = per_number.entry(t.number.clone()).or_insert_with(|| {
                (
                    0,
                    0,
                    json!({ "carrier": t.provider, "number": t.number, "url": t.link }),
                )
            });
            e.1 += 1;
        }
        per_number
            .into_values()
            .flat_map(|(notes, trackings, entry)| std::iter::repeat_n(entry, notes.max(trackings)))
            .collect()
    }

    /// A status change as WooCommerce makes it: system note, dates.
    fn set_status(&mut self, to: &str, note_id: u64, now: DateTime<Utc>) {
        if self.status == to {
            return;
        }
        self.notes.push(SNote {
            id: note_id,
            created: now,
            note: format!(
                "Order status changed from {} to {}.",
                label(&self.status),
                label(to)
            ),
            customer_note: false,
            author: "system",
        });
        if to == "completed" {
            self.completed = Some(now);
        }
        self.status = to.to_string();
        self.modified = bump(self.modified, now);
    }
}

/// A new modification time that a poll overlapping the old one sees as newer.
fn bump(previous: DateTime<Utc>, now: DateTime<Utc>) -> DateTime<Utc> {
    trunc_secs(now).max(previous + ChronoDuration::seconds(1))
}

struct Ctx {
    method: Method,
    path: String,
    base: String,
    headers: HeaderMap,
    query: Vec<(String, String)>,
}

impl Ctx {
    fn new(method: Method, uri: &Uri, headers: HeaderMap, query: Option<String>) -> Self {
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("localhost")
            .to_string();
        Self {
            method,
            path: uri.path().to_string(),
            base: format!("http://{host}"),
            headers,
            query: query_pairs(&query),
        }
    }

    fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

impl WooSandbox {
    pub fn new(opts: WooSandboxOptions) -> Self {
        let core = SandboxCore::new();
        Self {
            shared: Arc::new(Shared {
                catalog: Catalog::generated(core.clone()),
                core,
                bucket: Mutex::new(Bucket {
                    tokens: opts.limit.burst,
                    last: Instant::now(),
                }),
                opts,
                state: Mutex::new(Store {
                    orders: BTreeMap::new(),
                    next_order_id: 1001,
                    next_item_id: 1,
                    next_note_id: 1,
                    next_seq: 1,
                }),
            }),
        }
    }

    pub fn core(&self) -> &Arc<SandboxCore> {
        &self.shared.core
    }

    // A poisoned lock means a handler panicked mid-update; the data is still
    // the store's, so carry on.
    fn state(&self) -> MutexGuard<'_, Store> {
        self.shared.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn router(&self) -> Router {
        let api = "/wp-json/wc/v3";
        Router::new()
            .route(&format!("{api}/orders"), get(list_orders))
            .route(
                &format!("{api}/orders/{{id}}"),
                get(get_order).put(update_order),
            )
            .route(
                &format!("{api}/orders/{{id}}/notes"),
                get(list_notes).post(create_note),
            )
            .route(
                "/wp-json/wc-shipment-tracking/v3/orders/{id}/shipment-trackings",
                get(list_trackings).post(create_tracking),
            )
            .route(&format!("{api}/products"), get(list_products))
            .route(
                &format!("{api}/products/{{id}}"),
                axum::routing::put(update_product),
            )
            .route("/_sandbox/seed", post(seed_handler))
            .route("/_sandbox/orders/{id}/touch", post(touch_handler))
            .route("/_sandbox/orders/{id}/webhook", get(webhook_handler))
            .fallback(no_route)
            .with_state(self.clone())
            .merge(self.core().control_routes())
            .merge(self.shared.catalog.control_routes())
    }

    pub fn catalog(&self) -> &Catalog {
        &self.shared.catalog
    }

    pub fn order_count(&self) -> usize {
        self.state().orders.len()
    }

    /// Create `count` generated orders; their ids.
    pub fn seed(&self, req: &SeedRequest) -> Result<Vec<u64>, String> {
        let count = req.count.max(1);
        if count > 20_000 {
            return Err("count must be at most 20000".into());
        }
        let step = ChronoDuration::milliseconds(req.step_ms.unwrap_or(1000).min(86_400_000) as i64);
        let start = req
            .start
            .unwrap_or_else(|| Utc::now() - step * (count as i32 - 1));
        let mut st = self.state();
        let mut ids = Vec::with_capacity(count as usize);
        for i in 0..count {
            let at = trunc_secs(start + step * i as i32);
            let seq = st.next_seq;
            st.next_seq += 1;
            let gen = generate_order(seq, at);
            let id = st.next_order_id;
            st.next_order_id += 1;
            let first_item_id = st.next_item_id;
            st.next_item_id += gen.lines.len() as u64 + 2;
            st.orders.insert(
                id,
                SOrder {
                    id,
                    gen,
                    status: "processing".into(),
                    created: at,
                    modified: at,
                    paid: Some(at),
                    completed: None,
                    first_item_id,
                    notes: Vec::new(),
                    trackings: Vec::new(),
                },
            );
            ids.push(id);
        }
        Ok(ids)
    }

    /// Edit an order as a seller would; its new modification time.
    pub fn touch(&self, id: u64, req: &TouchRequest) -> Option<DateTime<Utc>> {
        let mut st = self.state();
        let note_id = st.next_note_id;
        st.next_note_id += 1;
        let o = st.orders.get_mut(&id)?;
        let now = Utc::now();
        if req.cancel == Some(true) {
            o.set_status("cancelled", note_id, now);
        }
        o.modified = match req.updated_at {
            Some(t) => trunc_secs(t),
            None => bump(o.modified, now),
        };
        Some(o.modified)
    }

    /// The order as the REST API returns it (no `_links`).
    pub fn order_json(&self, id: u64) -> Option<Value> {
        self.state().orders.get(&id).map(SOrder::order_json)
    }

    /// A signed delivery for `topic` (`order.updated` by default; `ping`).
    pub fn webhook(&self, id: u64, topic: &str, base: &str) -> Option<SignedWebhook> {
        let body = {
            let st = self.state();
            let o = st.orders.get(&id)?;
            match topic {
                "ping" => format!("webhook_id={WEBHOOK_ID}"),
                "order.deleted" => wp_json(&json!({ "id": id })),
                _ => wp_json(&o.with_links(base)),
            }
        };
        if topic == "ping" {
            return Some(SignedWebhook {
                headers: vec![
                    ("User-Agent".into(), USER_AGENT.into()),
                    (
                        "Content-Type".into(),
                        "application/x-www-form-urlencoded".into(),
                    ),
                ],
                body,
            });
        }
        let event = topic.split_once('.').map(|(_, e)| e).unwrap_or("updated");
        let delivery: String = (0..32)
            .map(|_| char::from_digit(rand::rng().random_range(0..16), 16).unwrap_or('0'))
            .collect();
        Some(SignedWebhook {
            headers: vec![
                ("User-Agent".into(), USER_AGENT.into()),
                ("Content-Type".into(), "application/json".into()),
                ("X-WC-Webhook-Source".into(), format!("{base}/")),
                ("X-WC-Webhook-Topic".into(), topic.to_string()),
                ("X-WC-Webhook-Resource".into(), "order".into()),
                ("X-WC-Webhook-Event".into(), event.to_string()),
                (
                    "X-WC-Webhook-Signature".into(),
                    sign_webhook(&self.shared.opts.webhook_secret, body.as_bytes()),
                ),
                ("X-WC-Webhook-ID".into(), WEBHOOK_ID.to_string()),
                ("X-WC-Webhook-Delivery-ID".into(), delivery),
            ],
            body,
        })
    }

    fn record(&self, o: &SOrder) {
        let key = o.id.to_string();
        let tracking = Value::Array(o.recorded_tracking());
        let notes = o.notes.len();
        let completed = o.status == "completed";
        self.core().record(|r| {
            for k in ["tracking", "notes", "completed"] {
                if !r[k].is_object() {
                    r[k] = json!({});
                }
            }
            r["tracking"][&key] = tracking;
            r["notes"][&key] = json!(notes);
            if completed {
                r["completed"][&key] = json!(true);
            }
        });
    }

    /// Take one request from the host's bucket; the refusal when it is empty.
    fn throttle(&self) -> Option<Response> {
        let limit = self.shared.opts.limit;
        let mut b = self.shared.bucket.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let elapsed = now.saturating_duration_since(b.last).as_secs_f64();
        b.tokens = (b.tokens + elapsed * limit.per_second).min(limit.burst);
        b.last = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            return None;
        }
        let wait = ((1.0 - b.tokens) / limit.per_second).ceil().max(1.0) as u64;
        drop(b);
        self.core().count_throttled();
        Some(too_many(wait, limit))
    }

    #[allow(clippy::result_large_err)]
    fn authenticate(&self, ctx: &Ctx, denial: Denial) -> Result<(), Response> {
        if self.core().credentials_revoked() {
            return Err(denial.response());
        }
        let (key, secret) = match (ctx.param("consumer_key"), ctx.param("consumer_secret")) {
            (Some(k), Some(s)) if !k.is_empty() && !s.is_empty() => (k.to_string(), s.to_string()),
            _ => {
                let basic = ctx
                    .headers
                    .get(header::AUTHORIZATION)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.strip_prefix("Basic "))
                    .and_then(|b| {
                        base64::engine::general_purpose::STANDARD
                            .decode(b.trim())
                            .ok()
                    })
                    .and_then(|b| String::from_utf8(b).ok());
                match basic.as_deref().and_then(|s| s.split_once(':')) {
                    Some((k, s)) => (k.to_string(), s.to_string()),
                    None => return Err(denial.response()),
                }
            }
        };
        let opts = &self.shared.opts;
        if !constant_time_eq(key.as_bytes(), opts.consumer_key.as_bytes()) {
            return Err(denial.response());
        }
        if !constant_time_eq(secret.as_bytes(), opts.consumer_secret.as_bytes()) {
            let mut resp = wp_error(
                StatusCode::UNAUTHORIZED,
                "woocommerce_rest_authentication_error",
                "Consumer secret is invalid.",
            );
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"WooCommerce API. Use a consumer key in the username field and a consumer secret in the password field.\""),
            );
            return Err(resp);
        }
        Ok(())
    }

    /// Count, limit, inject faults, authenticate, then `work` (given whether to
    /// spoil an item of a list).
    async fn serve(
        &self,
        ctx: &Ctx,
        denial: Denial,
        work: impl FnOnce(bool) -> Response,
    ) -> Response {
        let core = self.core();
        core.count_request(&ctx.path);
        if let Some(refused) = self.throttle() {
            return refused;
        }
        let fault = core.decide_fault(&format!("{} {}", ctx.method, ctx.path));
        if let Some(resp) = fault.and_then(|f| early_fault(f, self.shared.opts.limit)) {
            return resp;
        }
        // A plain timeout hangs before the work: the client gives up and the
        // dropped request changes nothing.
        if let Some(Fault::Timeout(d) | Fault::Slow(d)) = fault {
            tokio::time::sleep(d).await;
        }
        if let Err(resp) = self.authenticate(ctx, denial) {
            return resp;
        }
        let resp = work(fault == Some(Fault::Malformed));
        if let Some(Fault::TimeoutAfterSuccess(d)) = fault {
            tokio::time::sleep(d).await;
        }
        resp
    }
}

fn parse_id(s: &str) -> Option<u64> {
    s.parse().ok().filter(|id| *id > 0)
}

#[derive(Clone, Copy, PartialEq)]
enum SortKey {
    Date,
    Modified,
    Id,
}

#[allow(clippy::result_large_err)]
fn list_orders_work(sb: &WooSandbox, ctx: &Ctx, spoil: bool) -> Response {
    let gmt = matches!(ctx.param("dates_are_gmt"), Some("true" | "1"));
    let mut bounds = HashMap::new();
    for name in ["after", "before", "modified_after", "modified_before"] {
        if let Some(v) = ctx.param(name) {
            match parse_date_param(v, gmt) {
                Some(t) => {
                    bounds.insert(name, t.timestamp());
                }
                None => return invalid_param(name, "Invalid date."),
            }
        }
    }
    let int = |name: &str, default: u64, min: u64, max: u64| -> Result<u64, Response> {
        match ctx.param(name) {
            None => Ok(default),
            Some(v) => v
                .parse::<u64>()
                .ok()
                .filter(|n| (min..=max).contains(n))
                .ok_or_else(|| {
                    invalid_param(
                        name,
                        &format!("{name} must be between {min} (inclusive) and {max} (inclusive)"),
                    )
                }),
        }
    };
    let (page, per_page, offset) = match (
        int("page", 1, 1, u32::MAX as u64),
        int("per_page", 10, 1, 100),
        ctx.param("offset")
            .map(|_| int("offset", 0, 0, u32::MAX as u64))
            .transpose(),
    ) {
        (Ok(p), Ok(n), Ok(o)) => (p, n, o),
        (Err(r), _, _) | (_, Err(r), _) | (_, _, Err(r)) => return r,
    };
    let sort = match ctx.param("orderby").unwrap_or("date") {
        "date" | "title" | "slug" | "include" => SortKey::Date,
        "modified" => SortKey::Modified,
        "id" => SortKey::Id,
        _ => {
            return invalid_param(
                "orderby",
                "orderby is not one of date, id, include, title, slug, and modified.",
            )
        }
    };
    let desc = match ctx.param("order").unwrap_or("desc") {
        "desc" => true,
        "asc" => false,
        _ => return invalid_param("order", "order is not one of asc and desc."),
    };
    let wanted: Vec<&str> = ctx
        .param("status")
        .unwrap_or("any")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    if let Some(bad) = wanted
        .iter()
        .find(|s| **s != "any" && !STATUSES.contains(s))
    {
        return invalid_param(
            "status",
            &format!(
                "status[0] is not one of any, {}. ({bad})",
                STATUSES.join(", ")
            ),
        );
    }
    let status_ok = |s: &str| {
        wanted.contains(&s) || (wanted.contains(&"any") && !matches!(s, "trash" | "checkout-draft"))
    };
    let st = sb.state();
    let mut hits: Vec<&SOrder> = st
        .orders
        .values()
        .filter(|o| status_ok(&o.status))
        .filter(|o| {
            let (c, m) = (o.created.timestamp(), o.modified.timestamp());
            bounds.get("after").is_none_or(|t| c > *t)
                && bounds.get("before").is_none_or(|t| c < *t)
                && bounds.get("modified_after").is_none_or(|t| m > *t)
                && bounds.get("modified_before").is_none_or(|t| m < *t)
        })
        .collect();
    hits.sort_by_key(|o| match sort {
        SortKey::Date => (o.created.timestamp(), o.id),
        SortKey::Modified => (o.modified.timestamp(), o.id),
        SortKey::Id => (0, o.id),
    });
    if desc {
        hits.reverse();
    }
    let total = hits.len() as u64;
    let pages = total.div_ceil(per_page);
    let start = offset.unwrap_or((page - 1).saturating_mul(per_page));
    let mut items: Vec<Value> = hits
        .iter()
        .skip(start.min(total) as usize)
        .take(per_page as usize)
        .map(|o| o.with_links(&ctx.base))
        .collect();
    drop(st);
    if spoil && !items.is_empty() {
        let i = sb.core().random_index(items.len());
        items[i]["total"] = json!("N/A");
    }
    let mut resp = wp_response(StatusCode::OK, &Value::Array(items));
    let link_to = |p: u64| {
        let mut q: Vec<(String, String)> = ctx
            .query
            .iter()
            .filter(|(k, _)| k != "page" && !k.starts_with("consumer_"))
            .cloned()
            .collect();
        q.push(("page".into(), p.to_string()));
        let qs: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(q)
            .finish();
        format!("{}{}?{}", ctx.base, ctx.path, qs)
    };
    let mut links = Vec::new();
    if page > 1 {
        links.push(format!(
            "<{}>; rel=\"prev\"",
            link_to((page - 1).min(pages.max(1)))
        ));
    }
    if pages > page {
        links.push(format!("<{}>; rel=\"next\"", link_to(page + 1)));
    }
    let h = resp.headers_mut();
    for (name, value) in [
        ("x-wp-total", total.to_string()),
        ("x-wp-totalpages", pages.to_string()),
        ("link", links.join(", ")),
    ] {
        if value.is_empty() {
            continue;
        }
        if let Ok(v) = HeaderValue::from_str(&value) {
            h.insert(name, v);
        }
    }
    resp
}

async fn list_orders(
    State(sb): State<WooSandbox>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    let ctx = Ctx::new(method, &uri, headers, q);
    sb.serve(&ctx, Denial::List, |spoil| {
        list_orders_work(&sb, &ctx, spoil)
    })
    .await
}

async fn get_order(
    State(sb): State<WooSandbox>,
    Path(id): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    let ctx = Ctx::new(method, &uri, headers, q);
    sb.serve(&ctx, Denial::View, |_| {
        match parse_id(&id)
            .and_then(|id| sb.state().orders.get(&id).map(|o| o.with_links(&ctx.base)))
        {
            Some(v) => wp_response(StatusCode::OK, &v),
            None => wp_error(
                StatusCode::NOT_FOUND,
                "woocommerce_rest_shop_order_invalid_id",
                "Invalid ID.",
            ),
        }
    })
    .await
}

async fn update_order(
    State(sb): State<WooSandbox>,
    Path(id): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    let ctx = Ctx::new(method, &uri, headers, q);
    sb.serve(&ctx, Denial::Edit, |_| {
        let Ok(req) = serde_json::from_slice::<Value>(&body) else {
            return wp_error(StatusCode::BAD_REQUEST, "rest_invalid_json", "Invalid JSON body passed.");
        };
        let status = match req.get("status") {
            None => None,
            Some(Value::String(s)) if STATUSES.contains(&s.as_str()) => Some(s.clone()),
            Some(_) => return invalid_param("status", "status is not one of pending, processing, on-hold, completed, cancelled, refunded, failed, trash, and checkout-draft."),
        };
        let mut st = sb.state();
        let note_id = st.next_note_id;
        st.next_note_id += 1;
        let Some(o) = parse_id(&id).and_then(|id| st.orders.get_mut(&id)) else {
            return wp_error(StatusCode::BAD_REQUEST, "woocommerce_rest_shop_order_invalid_id", "Invalid ID.");
        };
        if let Some(s) = status {
            o.set_status(&s, note_id, Utc::now());
        }
        sb.record(o);
        wp_response(StatusCode::OK, &o.with_links(&ctx.base))
    })
    .await
}

/// WordPress post id of a catalog listing.
pub const PRODUCT_ID_BASE: u64 = 300;

fn wc_product(l: &Listing) -> Value {
    let name = crate::sandbox::generate::CATALOG
        .get(l.index as usize)
        .copied()
        .unwrap_or("Product");
    json!({
        "id": PRODUCT_ID_BASE + l.index,
        "name": name,
        "type": "simple",
        "status": "publish",
        "sku": l.sku,
        "price": "20.00",
        "manage_stock": true,
        "stock_quantity": l.quantity,
        "stock_status": if l.quantity > 0 { "instock" } else { "outofstock" },
        "parent_id": 0,
    })
}

async fn list_products(
    State(sb): State<WooSandbox>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    let ctx = Ctx::new(method, &uri, headers, q);
    sb.serve(&ctx, Denial::List, |_| {
        let items: Vec<Value> = match ctx.param("sku") {
            Some(sku) => sku
                .split(',')
                .filter_map(|s| sb.shared.catalog.find(s.trim()))
                .map(|l| wc_product(&l))
                .collect(),
            None => sb
                .shared
                .catalog
                .all()
                .iter()
                .take(10)
                .map(wc_product)
                .collect(),
        };
        wp_response(StatusCode::OK, &Value::Array(items))
    })
    .await
}

async fn update_product(
    State(sb): State<WooSandbox>,
    Path(id): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    let ctx = Ctx::new(method, &uri, headers, q);
    sb.serve(&ctx, Denial::Edit, |_| {
        let Ok(req) = serde_json::from_slice::<Value>(&body) else {
            return wp_error(
                StatusCode::BAD_REQUEST,
                "rest_invalid_json",
                "Invalid JSON body passed.",
            );
        };
        let Some(listing) = parse_id(&id)
            .and_then(|id| id.checked_sub(PRODUCT_ID_BASE))
            .and_then(|i| sb.shared.catalog.by_index(i))
        else {
            return wp_error(
                StatusCode::NOT_FOUND,
                "woocommerce_rest_product_invalid_id",
                "Invalid ID.",
            );
        };
        let quantity = match req.get("stock_quantity") {
            None => None,
            Some(Value::Number(n)) if n.as_i64().is_some() => n.as_i64(),
            Some(_) => {
                return invalid_param("stock_quantity", "stock_quantity is not of type integer.")
            }
        };
        if let Some(q) = quantity {
            sb.shared.catalog.set_quantity(&listing.sku, q);
        }
        let now = sb.shared.catalog.find(&listing.sku).unwrap_or(listing);
        wp_response(StatusCode::OK, &wc_product(&now))
    })
    .await
}

async fn list_notes(
    State(sb): State<WooSandbox>,
    Path(id): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    let ctx = Ctx::new(method, &uri, headers, q);
    sb.serve(&ctx, Denial::List, |_| {
        let kind = ctx.param("type").unwrap_or("any");
        if !matches!(kind, "any" | "customer" | "internal") {
            return invalid_param("type", "type is not one of any, customer, and internal.");
        }
        let st = sb.state();
        let Some(o) = parse_id(&id).and_then(|id| st.orders.get(&id)) else {
            return order_not_found();
        };
        let notes: Vec<Value> = o
            .notes
            .iter()
            .rev()
            .filter(|n| kind == "any" || (kind == "customer") == n.customer_note)
            .map(|n| o.note_json(n, &ctx.base))
            .collect();
        wp_response(StatusCode::OK, &Value::Array(notes))
    })
    .await
}

async fn create_note(
    State(sb): State<WooSandbox>,
    Path(id): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    let ctx = Ctx::new(method, &uri, headers, q);
    sb.serve(&ctx, Denial::Create, |_| {
        let req: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let Some(text) = req
            .get("note")
            .and_then(Value::as_str)
            .filter(|s| !s.trim().is_empty())
        else {
            return wp_response(
                StatusCode::BAD_REQUEST,
                &json!({
                    "code": "rest_missing_callback_param",
                    "message": "Missing parameter(s): note",
                    "data": { "status": 400, "params": ["note"] },
                }),
            );
        };
        let customer_note = req
            .get("customer_note")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let mut st = sb.state();
        let note_id = st.next_note_id;
        st.next_note_id += 1;
        let Some(o) = parse_id(&id).and_then(|id| st.orders.get_mut(&id)) else {
            return order_not_found();
        };
        o.notes.push(SNote {
            id: note_id,
            created: trunc_secs(Utc::now()),
            note: text.to_string(),
            customer_note,
            author: "WooCommerce",
        });
        sb.record(o);
        let Some(n) = o.notes.last() else {
            return order_not_found();
        };
        let mut resp = wp_response(StatusCode::CREATED, &o.note_json(n, &ctx.base));
        if let Ok(v) = HeaderValue::from_str(&format!(
            "{}/wp-json/wc/v3/orders/{}/notes/{note_id}",
            ctx.base, o.id
        )) {
            resp.headers_mut().insert(header::LOCATION, v);
        }
        resp
    })
    .await
}

async fn list_trackings(
    State(sb): State<WooSandbox>,
    Path(id): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    let ctx = Ctx::new(method, &uri, headers, q);
    sb.serve(&ctx, Denial::List, |_| {
        let st = sb.state();
        let Some(o) = parse_id(&id).and_then(|id| st.orders.get(&id)) else {
            return order_not_found();
        };
        let list: Vec<Value> = o
            .trackings
            .iter()
            .map(|t| o.tracking_json(t, &ctx.base))
            .collect();
        wp_response(StatusCode::OK, &Value::Array(list))
    })
    .await
}

async fn create_tracking(
    State(sb): State<WooSandbox>,
    Path(id): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    let ctx = Ctx::new(method, &uri, headers, q);
    sb.serve(&ctx, Denial::Create, |_| {
        let req: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let text = |k: &str| {
            req.get(k)
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        let Some(number) = text("tracking_number") else {
            return wp_response(
                StatusCode::BAD_REQUEST,
                &json!({
                    "code": "rest_missing_callback_param",
                    "message": "Missing parameter(s): tracking_number",
                    "data": { "status": 400, "params": ["tracking_number"] },
                }),
            );
        };
        let (provider, link) = match (text("tracking_provider"), text("custom_tracking_provider")) {
            (Some(p), _) => {
                let link = provider_link(&p, &number);
                (p, link)
            }
            (None, Some(c)) => (c, text("custom_tracking_link")),
            (None, None) => (String::new(), None),
        };
        let date_shipped =
            text("date_shipped").unwrap_or_else(|| Utc::now().format("%Y-%m-%d").to_string());
        let tracking_id: String = (0..32)
            .map(|_| char::from_digit(rand::rng().random_range(0..16), 16).unwrap_or('0'))
            .collect();
        let mut st = sb.state();
        let Some(o) = parse_id(&id).and_then(|id| st.orders.get_mut(&id)) else {
            return order_not_found();
        };
        o.trackings.push(STracking {
            id: tracking_id,
            provider,
            link,
            number,
            date_shipped,
        });
        sb.record(o);
        let Some(t) = o.trackings.last() else {
            return order_not_found();
        };
        wp_response(StatusCode::CREATED, &o.tracking_json(t, &ctx.base))
    })
    .await
}

async fn no_route(State(sb): State<WooSandbox>, uri: Uri) -> Response {
    if uri.path().starts_with("/wp-json") {
        sb.core().count_request(uri.path());
    }
    wp_error(
        StatusCode::NOT_FOUND,
        "rest_no_route",
        "No route was found matching the URL and request method.",
    )
}

async fn seed_handler(State(sb): State<WooSandbox>, body: Bytes) -> Response {
    let req: SeedRequest = match parse_body(&body) {
        Ok(r) => r,
        Err(r) => return r,
    };
    match sb.seed(&req) {
        Ok(ids) => json_response(
            StatusCode::OK,
            &json!({ "ids": ids.iter().map(u64::to_string).collect::<Vec<_>>() }),
        ),
        Err(e) => crate::sandbox::bad_request(e),
    }
}

async fn touch_handler(
    State(sb): State<WooSandbox>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let req: TouchRequest = match parse_body(&body) {
        Ok(r) => r,
        Err(r) => return r,
    };
    match parse_id(&id).and_then(|id| sb.touch(id, &req)) {
        Some(t) => json_response(
            StatusCode::OK,
            &json!({ "id": id, "date_modified_gmt": fmt_gmt(t) }),
        ),
        None => json_response(
            StatusCode::NOT_FOUND,
            &json!({ "error": format!("no order {id}") }),
        ),
    }
}

async fn webhook_handler(
    State(sb): State<WooSandbox>,
    Path(id): Path<String>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    let pairs = query_pairs(&q);
    let topic = pairs
        .iter()
        .find(|(k, _)| k == "topic")
        .map(|(_, v)| v.as_str())
        .unwrap_or("order.updated");
    if topic != "ping" && !super::client::TOPICS.contains(&topic) {
        return crate::sandbox::bad_request(format!(
            "topic must be ping or one of {}",
            super::client::TOPICS.join(", ")
        ));
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    match parse_id(&id).and_then(|id| sb.webhook(id, topic, &format!("http://{host}"))) {
        Some(w) => {
            let headers: serde_json::Map<String, Value> = w
                .headers
                .into_iter()
                .map(|(k, v)| (k, Value::String(v)))
                .collect();
            json_response(
                StatusCode::OK,
                &json!({ "headers": headers, "body": w.body }),
            )
        }
        None => json_response(
            StatusCode::NOT_FOUND,
            &json!({ "error": format!("no order {id}") }),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::marketplaces::woocommerce::client::contains_token;

    #[test]
    fn wp_json_escapes_like_php() {
        let v = json!({ "u": "https://x.test/a", "n": "München" });
        let s = wp_json(&v);
        assert!(s.contains("https:\\/\\/x.test\\/a"), "{s}");
        assert!(s.contains("M\\u00fcnchen"), "{s}");
        assert_eq!(serde_json::from_str::<Value>(&s).unwrap(), v);
    }

    #[test]
    fn tracking_notes_parse_back() {
        let n = super::super::client::tracking_note("UPS", "1Z999", Some("https://ups.test/1Z999"));
        assert_eq!(
            parse_tracking_note(&n),
            Some((
                "UPS".into(),
                "1Z999".into(),
                Some("https://ups.test/1Z999".into())
            ))
        );
        assert!(contains_token(&n, "1Z999"));
        assert!(!contains_token(&n, "1Z99"));
    }

    #[test]
    fn bump_always_moves_forward() {
        let t = trunc_secs(Utc::now()) + ChronoDuration::seconds(30);
        assert!(bump(t, Utc::now()) > t);
    }

    #[test]
    fn a_dropped_request_keeps_the_limit_honest() {
        let sb = WooSandbox::new(WooSandboxOptions {
            consumer_key: "ck_a".into(),
            consumer_secret: "cs_b".into(),
            webhook_secret: "w".into(),
            limit: HostLimit {
                per_second: 1.0,
                burst: 3.0,
            },
        });
        let refused = (0..5).filter(|_| sb.throttle().is_some()).count();
        assert_eq!(refused, 2);
        assert_eq!(sb.core().stats().throttled, 2);
    }

    #[test]
    fn seeded_orders_map_and_add_up() {
        let sb = WooSandbox::new(WooSandboxOptions {
            consumer_key: "ck_a".into(),
            consumer_secret: "cs_b".into(),
            webhook_secret: "w".into(),
            limit: HostLimit::PUBLISHED,
        });
        let ids = sb
            .seed(&SeedRequest {
                count: 50,
                ..Default::default()
            })
            .unwrap();
        for id in ids {
            let v = sb.order_json(id).unwrap();
            let o = super::super::mapping::order_from_value(&v).unwrap();
            assert_eq!(o.external_id, id.to_string());
            assert!(o
                .lines
                .iter()
                .all(|l| l.sku.as_deref().unwrap().starts_with("SKU-0")));
        }
    }
}
