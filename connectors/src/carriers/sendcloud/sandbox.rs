//! A local imitation of Sendcloud's Shipping API v2, for tests, the demo and
//! the benchmark.
//!
//! Vendor surface (HTTP Basic with the public key as user and the secret key
//! as password; 401 with Sendcloud's error body otherwise, or when the
//! credentials were revoked through `/_sandbox/credentials`):
//! - `POST /api/v2/parcels` `{"parcel": {...}}` → 200 `{"parcel": …}`:
//!   status 999 "No label" when `request_label` is false; announced at once
//!   when it is true and a `shipment.id` is given. Missing recipient fields,
//!   a bad weight or an `external_reference` already used → 400.
//! - `PUT /api/v2/parcels` `{"parcel": {"id", "request_label": true,
//!   "shipment": {"id"}}}` → 200 `{"parcel": [ …announced… ]}` with
//!   `tracking_number`, `tracking_url`, `label.label_printer` /
//!   `label.normal_printer` and `carrier.code`. A parcel that is announced
//!   already is refused (400) and no second label is made.
//! - `GET /api/v2/parcels` (`external_reference`, `tracking_number`,
//!   `order_number` filters), `GET /api/v2/parcels/{id}`.
//! - `POST /api/v2/parcels/{id}/cancel` → 200 `cancelled` (announced, not yet
//!   moving), 202 queued (moving: en route or driver en route; status 1999),
//!   400 (delivered or already cancelled), 200 `deleted` for a parcel without
//!   a label (it is removed), 404 unknown.
//! - `GET /api/v2/shipping_methods?to_country=` and `/shipping_methods/{id}`:
//!   PostNL, DHL and DPD methods in weight brackets, priced per destination.
//! - `GET /api/v2/labels/label_printer/{id}` and `/normal_printer/{id}`: the
//!   label PDF ([`label_document`]).
//! - `GET /api/v2/parcels/{id}/documents/{type}` (the parcel's
//!   `documents[].link` once announced): the label in the format the
//!   `Accept` header names — `application/pdf` (default), `application/zpl`,
//!   `image/png` — with `dpi` checked per format ([`DOCUMENT_DPI`]; PDF 72,
//!   PNG 150/300, ZPL any); 406 for another `Accept`, 400 for a bad `dpi`,
//!   404 for an unknown type or a parcel without that document.
//!
//! Parcels move 1 "Announced" → 3 "En route to sorting center" → 92 "Driver
//! en route" → 11 "Delivered", one step per `advance_every_ms` (0: only when
//! asked); every status change (the announcement included) is a
//! `parcel_status_changed` webhook signed with `Sendcloud-Signature`, sent to
//! the URLs given to `/_sandbox/subscribe` with retries.
//!
//! Limits (published): GET 1000 requests/minute; POST/PUT/PATCH/DELETE 100
//! requests/minute with bursts of at most 15 per second. Excess → 429 with
//! `Retry-After` and `{"error": {"code": 429, …}}`. Volume runs get 100×.
//!
//! Faults (shared `FaultConfig`) apply to the `/api/v2/...` calls, named
//! `"<METHOD> <template>"` (`"PUT /api/v2/parcels"`,
//! `"POST /api/v2/parcels/{id}/cancel"`): 429 and 5xx answer before
//! any work; a timeout hangs before the work; `timeout_after_success` does the
//! work (a label is made) and then hangs; `malformed` spoils one method's
//! price; `slow` delays the answer.

use super::client::{delivery_id, sign_webhook, HEADER_SIGNATURE};
use super::mapping::{self, message_for_id};
use super::wire::{
    Document, Label, MethodCountry, Parcel, ParcelInput, ShipmentRef, ShippingMethod, Status,
};
pub use super::{DEFAULT_PUBLIC_KEY, DEFAULT_SECRET_KEY};
use crate::carrier::LabelFormat;
use crate::sandbox::carrier::label_document;
use crate::sandbox::{json_response, parse_body, Fault, SandboxCore, SandboxLimits};
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use base64::Engine;
use chrono::Utc;
use rand::Rng;
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

/// The status ids a sandbox parcel goes through once announced, in order.
pub const TRACKER_STEPS: [i64; 4] = [1, 3, 92, 11];

/// Refusal of a label request for a parcel that has one (sandbox wording).
pub const ALREADY_ANNOUNCED: &str = "This parcel has already been announced and cannot be changed.";

/// How the sandbox behaves.
#[derive(Clone)]
pub struct SendcloudSandboxOptions {
    pub public_key: String,
    pub secret_key: String,
    /// Webhooks are signed with this (the integration's secret key).
    pub webhook_key: String,
    pub advance_every_ms: u64,
    pub limits: SandboxLimits,
    /// Delivery attempts per event and URL, the first included.
    pub webhook_attempts: u32,
    pub webhook_retry_base_ms: u64,
    pub webhook_timeout_ms: u64,
}

impl SendcloudSandboxOptions {
    pub fn with_keys(public_key: &str, secret_key: &str) -> Self {
        Self {
            public_key: public_key.into(),
            secret_key: secret_key.into(),
            webhook_key: secret_key.into(),
            advance_every_ms: 0,
            limits: SandboxLimits::Published,
            webhook_attempts: 4,
            webhook_retry_base_ms: 200,
            webhook_timeout_ms: 2_000,
        }
    }
}

impl Default for SendcloudSandboxOptions {
    fn default() -> Self {
        Self::with_keys(DEFAULT_PUBLIC_KEY, DEFAULT_SECRET_KEY)
    }
}

impl std::fmt::Debug for SendcloudSandboxOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SendcloudSandboxOptions")
            .field("advance_every_ms", &self.advance_every_ms)
            .field("limits", &self.limits)
            .field("webhook_attempts", &self.webhook_attempts)
            .finish_non_exhaustive()
    }
}

/// One token bucket.
struct Bucket {
    capacity: f64,
    per_second: f64,
    tokens: f64,
    last: Instant,
}

impl Bucket {
    fn new(capacity: f64, per_second: f64) -> Self {
        Self {
            capacity,
            per_second,
            tokens: capacity,
            last: Instant::now(),
        }
    }
    fn refill(&mut self) {
        let now = Instant::now();
        let secs = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + secs * self.per_second).min(self.capacity);
        self.last = now;
    }
    /// Seconds until one token is there.
    fn wait(&self) -> f64 {
        ((1.0 - self.tokens) / self.per_second).max(0.0)
    }
}

struct Limiter {
    safe: Bucket,
    unsafe_minute: Bucket,
    unsafe_second: Bucket,
}

impl Limiter {
    fn new(limits: SandboxLimits) -> Self {
        let k = match limits {
            SandboxLimits::Published => 1.0,
            SandboxLimits::Volume => 100.0,
        };
        Self {
            safe: Bucket::new(1000.0 * k, 1000.0 * k / 60.0),
            unsafe_minute: Bucket::new(100.0 * k, 100.0 * k / 60.0),
            unsafe_second: Bucket::new(15.0 * k, 15.0 * k),
        }
    }
    /// Take one request; `Err(seconds to wait)` when refused.
    fn take(&mut self, safe: bool) -> Result<(), f64> {
        if safe {
            self.safe.refill();
            if self.safe.tokens >= 1.0 {
                self.safe.tokens -= 1.0;
                return Ok(());
            }
            return Err(self.safe.wait());
        }
        self.unsafe_minute.refill();
        self.unsafe_second.refill();
        if self.unsafe_minute.tokens >= 1.0 && self.unsafe_second.tokens >= 1.0 {
            self.unsafe_minute.tokens -= 1.0;
            self.unsafe_second.tokens -= 1.0;
            return Ok(());
        }
        Err(self.unsafe_minute.wait().max(self.unsafe_second.wait()))
    }
}

struct SParcel {
    parcel: Parcel,
    reference: String,
    last_step: Instant,
    /// The last webhook body sent for this parcel, for replays.
    last_event: Option<Arc<String>>,
    voided: bool,
}

#[derive(Default)]
struct Store {
    parcels: BTreeMap<i64, SParcel>,
    next_id: i64,
    subscribers: Vec<String>,
}

struct Shared {
    opts: SendcloudSandboxOptions,
    core: Arc<SandboxCore>,
    store: Mutex<Store>,
    limiter: Mutex<Limiter>,
    http: reqwest::Client,
    ticker_started: AtomicBool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// What a delivery round did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryReport {
    pub events: Vec<String>,
    pub delivered: u64,
    pub failed: u64,
}

struct Outgoing {
    body: Arc<String>,
    targets: Vec<String>,
}

/// The Sendcloud sandbox; clones share one world.
#[derive(Clone)]
pub struct SendcloudSandbox {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for SendcloudSandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SendcloudSandbox")
            .field("opts", &self.shared.opts)
            .finish_non_exhaustive()
    }
}

// ------------------------------------------------------------- the catalogue

struct Method_ {
    id: i64,
    name: &'static str,
    carrier: &'static str,
    /// Grams: `min <= w < max`.
    min_g: i64,
    max_g: i64,
    /// Percent of the destination's base price.
    factor: i64,
}

const METHODS: [Method_; 5] = [
    Method_ {
        id: 8,
        name: "PostNL Standard 0-2kg",
        carrier: "postnl",
        min_g: 1,
        max_g: 2_001,
        factor: 100,
    },
    Method_ {
        id: 9,
        name: "PostNL Standard 2-23kg",
        carrier: "postnl",
        min_g: 2_001,
        max_g: 23_001,
        factor: 145,
    },
    Method_ {
        id: 1315,
        name: "DHL For You 0-5kg",
        carrier: "dhl",
        min_g: 1,
        max_g: 5_001,
        factor: 110,
    },
    Method_ {
        id: 1316,
        name: "DHL For You 5-20kg",
        carrier: "dhl",
        min_g: 5_001,
        max_g: 20_001,
        factor: 160,
    },
    Method_ {
        id: 2001,
        name: "DPD Classic 0-31.5kg",
        carrier: "dpd",
        min_g: 1,
        max_g: 31_501,
        factor: 175,
    },
];

/// Destinations: ISO-2, ISO-3, name, base price in cents, lead time hours.
const COUNTRIES: [(&str, &str, &str, i64, i64); 6] = [
    ("NL", "NLD", "Netherlands", 695, 24),
    ("BE", "BEL", "Belgium", 895, 48),
    ("DE", "DEU", "Germany", 995, 48),
    ("FR", "FRA", "France", 1250, 72),
    ("GB", "GBR", "United Kingdom", 1890, 96),
    ("US", "USA", "United States", 3900, 120),
];

fn price_of(m: &Method_, base_cents: i64) -> Decimal {
    // Rounded to the cent, half up.
    Decimal::new((base_cents * m.factor + 50) / 100, 2)
}

/// A JSON number for a decimal (`9.75`), as Sendcloud writes prices.
fn number(d: Decimal) -> Value {
    serde_json::from_str::<Value>(&d.normalize().to_string()).unwrap_or(Value::Null)
}

fn kg_of(g: i64) -> String {
    let mut d = Decimal::new(g, 3);
    d.rescale(3);
    d.to_string()
}

fn method_json(m: &Method_, to_country: Option<&str>) -> Value {
    let countries: Vec<Value> = COUNTRIES
        .iter()
        .enumerate()
        .filter(|(_, c)| to_country.is_none_or(|t| t.eq_ignore_ascii_case(c.0)))
        .map(|(i, c)| {
            let mc = MethodCountry {
                id: Some(i as i64 + 1),
                name: Some(c.2.into()),
                price: None,
                iso_2: Some(c.0.into()),
                iso_3: Some(c.1.into()),
                lead_time_hours: Some(c.4),
            };
            let mut v = serde_json::to_value(mc).unwrap_or(Value::Null);
            v["price"] = number(price_of(m, c.3));
            v
        })
        .collect();
    let sm = ShippingMethod {
        id: m.id.to_string(),
        name: m.name.into(),
        carrier: m.carrier.into(),
        min_weight: Some(kg_of(m.min_g)),
        max_weight: Some(kg_of(m.max_g)),
        service_point_input: Some("none".into()),
        price: None,
        countries: vec![],
    };
    let mut v = serde_json::to_value(sm).unwrap_or(Value::Null);
    v["id"] = json!(m.id);
    v["price"] = json!(0);
    v["countries"] = Value::Array(countries);
    v
}

// ----------------------------------------------------------------- helpers

/// `{"error": {"code", "request", "message"}}` with `status`.
fn sc_error(status: StatusCode, request: &str, message: &str) -> Response {
    json_response(
        status,
        &json!({ "error": { "code": status.as_u16(), "request": request.trim_start_matches('/'), "message": message } }),
    )
}

fn not_found(request: &str) -> Response {
    sc_error(StatusCode::NOT_FOUND, request, "Not found.")
}

/// 429 as Sendcloud answers it. The limiter's waits are whole seconds; an
/// injected fault's `Retry-After` is sent as configured (tests use fractions).
fn too_many(request: &str, wait_secs: f64, exact: bool) -> Response {
    let secs = wait_secs.ceil().max(1.0) as u64;
    let header_value = if exact {
        format!("{:.1}", wait_secs.max(0.0))
    } else {
        secs.to_string()
    };
    let mut resp = sc_error(
        StatusCode::TOO_MANY_REQUESTS,
        request,
        &format!("Request was throttled. Expected available in {secs} seconds."),
    );
    if let Ok(v) = HeaderValue::from_str(&header_value) {
        resp.headers_mut().insert(header::RETRY_AFTER, v);
    }
    resp
}

fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn authorized(headers: &HeaderMap, public: &str, secret: &str) -> bool {
    let Some(v) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
    else {
        return false;
    };
    let Some((scheme, rest)) = v.split_once(' ') else {
        return false;
    };
    if !scheme.eq_ignore_ascii_case("basic") || public.is_empty() {
        return false;
    }
    let Ok(raw) = base64::engine::general_purpose::STANDARD.decode(rest.trim()) else {
        return false;
    };
    let Some(at) = raw.iter().position(|b| *b == b':') else {
        return false;
    };
    ct_eq(&raw[..at], public.as_bytes()) & ct_eq(&raw[at + 1..], secret.as_bytes())
}

fn bump(r: &mut Value, key: &str) {
    let cur = r.get(key).and_then(Value::as_u64).unwrap_or(0);
    r[key] = json!(cur.saturating_add(1));
}

fn bump_in(r: &mut Value, map: &str, key: &str) {
    if !r.get(map).is_some_and(Value::is_object) {
        r[map] = json!({});
    }
    let cur = r[map].get(key).and_then(Value::as_u64).unwrap_or(0);
    r[map][key] = json!(cur.saturating_add(1));
}

/// `dd-mm-yyyy HH:MM:SS`, as Sendcloud's parcel dates are written.
fn sc_date() -> String {
    Utc::now().format("%d-%m-%Y %H:%M:%S").to_string()
}

fn digits(n: usize) -> String {
    let mut rng = rand::rng();
    (0..n)
        .map(|_| char::from(b'0' + rng.random_range(0..10u8)))
        .collect()
}

/// A tracking number shaped like the carrier's.
fn tracking_number_for(carrier: &str) -> String {
    match carrier {
        "postnl" => format!("3SYZXG{}", digits(9)),
        "dhl" => format!("JVGL{}", digits(16)),
        _ => format!("0{}", digits(13)),
    }
}

/// Where the sandbox serves files: itself, as the client reached it.
fn origin(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
        });
    match host {
        Some(h) => format!("http://{h}"),
        None => "https://panel.sendcloud.sc".into(),
    }
}

/// A random UUID v4 in its usual spelling.
fn uuid_like() -> String {
    let n: u128 = rand::rng().random::<u128>();
    let n = (n & !(0xf << 76) | (0x4 << 76)) & !(0x3 << 62) | (0x2 << 62);
    let h = format!("{n:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

fn label_hash(id: i64) -> String {
    delivery_id(format!("sandbox-label-{id}").as_bytes())[..40].to_string()
}

// ------------------------------------------------------------------ the API

impl SendcloudSandbox {
    pub fn new(opts: SendcloudSandboxOptions) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_millis(opts.webhook_timeout_ms.max(1)))
            .user_agent("Sendcloud sandbox webhooks")
            .build()
            .unwrap_or_default();
        let core = SandboxCore::new();
        core.record(|r| {
            for k in [
                "shipments_created",
                "labels_total",
                "buys_refused_announced",
                "events_created",
                "webhooks_sent",
                "webhooks_failed",
                "webhook_attempts_failed",
            ] {
                r[k] = json!(0);
            }
            r["labels_by_reference"] = json!({});
            r["voids_by_reference"] = json!({});
            r["label_downloads_by_format"] = json!({});
        });
        let limiter = Mutex::new(Limiter::new(opts.limits));
        let sb = Self {
            shared: Arc::new(Shared {
                opts,
                core,
                store: Mutex::new(Store {
                    next_id: 3172,
                    ..Store::default()
                }),
                limiter,
                http,
                ticker_started: AtomicBool::new(false),
            }),
        };
        sb.ensure_ticker();
        sb
    }

    pub fn core(&self) -> Arc<SandboxCore> {
        self.shared.core.clone()
    }

    pub fn router(&self) -> Router {
        self.ensure_ticker();
        Router::new()
            .route(
                "/api/v2/parcels",
                post(create_parcel).put(update_parcel).get(list_parcels),
            )
            .route("/api/v2/parcels/{id}", get(get_parcel))
            .route("/api/v2/parcels/{id}/cancel", post(cancel_parcel))
            .route("/api/v2/shipping_methods", get(list_methods))
            .route("/api/v2/shipping_methods/{id}", get(get_method))
            .route("/api/v2/labels/{printer}/{id}", get(label_file))
            .route(
                "/api/v2/parcels/{id}/documents/{type}",
                get(parcel_document),
            )
            .route("/_sandbox/subscribe", post(subscribe))
            .route("/_sandbox/trackers/advance", post(advance_all))
            .route("/_sandbox/trackers/{code}/advance", post(advance_one))
            .route("/_sandbox/trackers/{code}/replay", post(replay))
            .fallback(fallback)
            .with_state(self.shared.clone())
            .merge(self.shared.core.control_routes())
    }

    /// Deliver parcel webhooks to `url` from now on.
    pub fn subscribe(&self, url: &str) {
        let mut store = self.shared.lock();
        if !store.subscribers.iter().any(|u| u == url) {
            store.subscribers.push(url.to_string());
        }
    }

    /// Move every parcel not yet delivered one step; waits for the webhooks.
    pub async fn advance_all(&self) -> DeliveryReport {
        let out = advance(&self.shared, None, None);
        deliver_all(&self.shared, out).await
    }

    /// A parcel's status id, by tracking number or parcel id.
    pub fn status_of(&self, code: &str) -> Option<i64> {
        let store = self.shared.lock();
        let id = parcel_for(&store, code)?;
        store
            .parcels
            .get(&id)
            .and_then(|p| mapping::status_id(&p.parcel))
    }

    fn ensure_ticker(&self) {
        let every = self.shared.opts.advance_every_ms;
        if every == 0 || tokio::runtime::Handle::try_current().is_err() {
            return;
        }
        if self.shared.ticker_started.swap(true, Ordering::SeqCst) {
            return;
        }
        let weak: Weak<Shared> = Arc::downgrade(&self.shared);
        let step = Duration::from_millis(every);
        let tick = (step / 4).clamp(Duration::from_millis(5), Duration::from_secs(1));
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(tick).await;
                let Some(shared) = weak.upgrade() else { break };
                let out = advance(&shared, None, Some(step));
                if !out.is_empty() {
                    let s = shared.clone();
                    tokio::spawn(async move {
                        deliver_all(&s, out).await;
                    });
                }
            }
        });
    }
}

fn parcel_for(store: &Store, code: &str) -> Option<i64> {
    if let Ok(id) = code.trim().parse::<i64>() {
        if store.parcels.contains_key(&id) {
            return Some(id);
        }
    }
    store
        .parcels
        .iter()
        .find(|(_, p)| p.parcel.tracking_number.as_deref() == Some(code))
        .map(|(id, _)| *id)
}

/// The webhook for a parcel's current state, recorded as its last event.
fn status_event(shared: &Shared, store: &mut Store, id: i64) -> Option<Outgoing> {
    let targets = store.subscribers.clone();
    let p = store.parcels.get_mut(&id)?;
    let now = Utc::now().timestamp_millis();
    let body = json!({
        "action": mapping::PARCEL_STATUS_CHANGED,
        "timestamp": now,
        "carrier_status_change_timestamp": now,
        "parcel": p.parcel,
    });
    let body = Arc::new(body.to_string());
    p.last_event = Some(body.clone());
    shared.core.record(|r| bump(r, "events_created"));
    Some(Outgoing { body, targets })
}

fn set_status(p: &mut Parcel, id: i64) {
    p.status = Some(Status {
        id: Some(id),
        message: Some(message_for_id(id).into()),
    });
    p.date_updated = Some(sc_date());
}

/// One step for `only` (or every parcel on its way); with `due`, only parcels
/// whose last step is at least that old.
fn advance(shared: &Shared, only: Option<i64>, due: Option<Duration>) -> Vec<Outgoing> {
    let mut store = shared.lock();
    let ids: Vec<i64> = match only {
        Some(id) => vec![id],
        None => store.parcels.keys().copied().collect(),
    };
    let mut out = Vec::new();
    for id in ids {
        let Some(p) = store.parcels.get_mut(&id) else {
            continue;
        };
        if due.is_some_and(|d| p.last_step.elapsed() < d) {
            continue;
        }
        let Some(cur) = mapping::status_id(&p.parcel) else {
            continue;
        };
        let Some(pos) = TRACKER_STEPS.iter().position(|s| *s == cur) else {
            continue;
        };
        let Some(next) = TRACKER_STEPS.get(pos + 1).copied() else {
            continue;
        };
        set_status(&mut p.parcel, next);
        p.last_step = Instant::now();
        if let Some(ev) = status_event(shared, &mut store, id) {
            out.push(ev);
        }
    }
    out
}

async fn deliver_one(shared: &Shared, url: &str, body: &Arc<String>) -> bool {
    let attempts = shared.opts.webhook_attempts.max(1);
    let signature = sign_webhook(&shared.opts.webhook_key, body.as_bytes());
    for attempt in 0..attempts {
        let sent = shared
            .http
            .post(url)
            .header(header::CONTENT_TYPE, "application/json")
            .header(HEADER_SIGNATURE, signature.as_str())
            .body(body.as_str().to_owned())
            .send()
            .await;
        if matches!(&sent, Ok(r) if r.status().is_success()) {
            shared.core.record(|r| bump(r, "webhooks_sent"));
            return true;
        }
        shared.core.record(|r| bump(r, "webhook_attempts_failed"));
        if attempt + 1 < attempts {
            let delay = shared
                .opts
                .webhook_retry_base_ms
                .saturating_mul(1u64 << attempt.min(16))
                .min(10_000);
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
    }
    shared.core.record(|r| bump(r, "webhooks_failed"));
    false
}

/// Deliver events in order; each event to its URLs concurrently.
async fn deliver_all(shared: &Shared, events: Vec<Outgoing>) -> DeliveryReport {
    let mut report = DeliveryReport::default();
    for ev in events {
        let results =
            futures::future::join_all(ev.targets.iter().map(|u| deliver_one(shared, u, &ev.body)))
                .await;
        for ok in results {
            if ok {
                report.delivered += 1;
            } else {
                report.failed += 1;
            }
        }
        report.events.push(delivery_id(ev.body.as_bytes()));
    }
    report
}

/// Count, limit, roll for a fault (answering 429/5xx at once), authenticate.
async fn gate(
    shared: &Shared,
    method: &Method,
    template: &str,
    request: &str,
    headers: &HeaderMap,
) -> Result<Option<Fault>, Response> {
    shared.core.count_request(template);
    let safe = *method == Method::GET;
    let taken = shared
        .limiter
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take(safe);
    if let Err(wait) = taken {
        shared.core.count_throttled();
        return Err(too_many(request, wait, false));
    }
    // Faults are decided on `"<METHOD> <path>"`, so `FaultConfig.paths` can
    // aim at one call (`"PUT /api/v2/parcels"`).
    let fault = shared.core.decide_fault(&format!("{method} {template}"));
    match fault {
        Some(Fault::TooManyRequests { retry_after }) => {
            return Err(too_many(request, retry_after.as_secs_f64(), true));
        }
        Some(Fault::ServerError(code)) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return Err(sc_error(
                status,
                request,
                "A server error occurred. (injected by the sandbox)",
            ));
        }
        Some(Fault::Timeout(d)) | Some(Fault::Slow(d)) => tokio::time::sleep(d).await,
        _ => {}
    }
    if shared.core.credentials_revoked()
        || !authorized(headers, &shared.opts.public_key, &shared.opts.secret_key)
    {
        return Err(sc_error(
            StatusCode::UNAUTHORIZED,
            request,
            "Invalid username/password.",
        ));
    }
    Ok(fault)
}

/// Apply the faults that act on a successful answer, then send it.
async fn finish(
    shared: &Shared,
    fault: Option<Fault>,
    status: StatusCode,
    mut body: Value,
) -> Response {
    if fault == Some(Fault::Malformed) {
        if let Some(methods) = body
            .get_mut("shipping_methods")
            .and_then(Value::as_array_mut)
        {
            let i = shared.core.random_index(methods.len());
            if let Some(c) = methods
                .get_mut(i)
                .and_then(|m| m.get_mut("countries"))
                .and_then(Value::as_array_mut)
                .and_then(|c| c.first_mut())
            {
                c["price"] = json!("nine euros");
            }
        } else if let Some(p) = body.get_mut("parcel") {
            p["weight"] = json!({"kg": "?"});
        }
    }
    if let Some(Fault::TimeoutAfterSuccess(d)) = fault {
        tokio::time::sleep(d).await;
    }
    json_response(status, &body)
}

fn parcel_json(p: &Parcel) -> Value {
    serde_json::to_value(p).unwrap_or(Value::Null)
}

/// The `parcel` object of a body, or a 400.
#[allow(clippy::result_large_err)]
fn parcel_input(body: &[u8], request: &str) -> Result<ParcelInput, Response> {
    let v: Value = serde_json::from_slice(body).map_err(|_| {
        sc_error(
            StatusCode::BAD_REQUEST,
            request,
            "JSON parse error - request body is not valid JSON.",
        )
    })?;
    let p = v.get("parcel").filter(|p| p.is_object()).ok_or_else(|| {
        sc_error(
            StatusCode::BAD_REQUEST,
            request,
            "parcel: This field is required.",
        )
    })?;
    mapping::decode::<ParcelInput>(p, "parcel")
        .map_err(|e| sc_error(StatusCode::BAD_REQUEST, request, &e))
}

/// Announce `id` with `method_id`: the label, tracking number and status 1.
/// `Err` answers what Sendcloud would.
#[allow(clippy::result_large_err)]
fn announce(
    shared: &Shared,
    store: &mut Store,
    id: i64,
    method_id: Option<i64>,
    origin: &str,
    request: &str,
) -> Result<Option<Outgoing>, Response> {
    let Some(sp) = store.parcels.get_mut(&id) else {
        return Err(not_found(request));
    };
    if mapping::status_id(&sp.parcel) != Some(999) {
        shared.core.record(|r| bump(r, "buys_refused_announced"));
        return Err(sc_error(
            StatusCode::BAD_REQUEST,
            request,
            ALREADY_ANNOUNCED,
        ));
    }
    let Some(m) = method_id.and_then(|mid| METHODS.iter().find(|m| m.id == mid)) else {
        return Err(sc_error(
            StatusCode::BAD_REQUEST,
            request,
            "shipment: Shipping method is not available for this parcel.",
        ));
    };
    let grams = sp
        .parcel
        .weight
        .as_deref()
        .and_then(|w| Decimal::from_str(w).ok())
        .and_then(|kg| kg.checked_mul(Decimal::from(1000)))
        .and_then(|g| g.round().to_i64())
        .unwrap_or(0);
    if grams < m.min_g || grams >= m.max_g {
        return Err(sc_error(
            StatusCode::BAD_REQUEST,
            request,
            &format!(
                "weight: The weight is out of the range of the shipping method {}.",
                m.name
            ),
        ));
    }
    let country = sp
        .parcel
        .country
        .as_ref()
        .and_then(|c| c.iso_2.clone())
        .unwrap_or_default();
    if !COUNTRIES.iter().any(|c| c.0 == country) {
        return Err(sc_error(
            StatusCode::BAD_REQUEST,
            request,
            &format!(
                "shipment: Shipping method {} does not ship to {country}.",
                m.name
            ),
        ));
    }
    let tracking = tracking_number_for(m.carrier);
    let hash = label_hash(id);
    let p = &mut sp.parcel;
    p.tracking_number = Some(tracking.clone());
    p.tracking_url = Some(format!(
        "https://tracking.eu-central-1-0.sendcloud.sc/forward?carrier={}&code={tracking}&destination={country}&lang=en-us&source=NL&type=parcel",
        m.carrier
    ));
    p.label = Some(Label {
        normal_printer: (0..4)
            .map(|i| {
                format!("{origin}/api/v2/labels/normal_printer/{id}?start_from={i}&hash={hash}")
            })
            .collect(),
        label_printer: Some(format!(
            "{origin}/api/v2/labels/label_printer/{id}?hash={hash}"
        )),
    });
    p.documents = vec![Document {
        kind: "label".into(),
        size: Some("a6".into()),
        link: Some(format!("{origin}/api/v2/parcels/{id}/documents/label")),
    }];
    p.shipment = Some(ShipmentRef {
        id: Some(m.id),
        name: Some(m.name.into()),
    });
    p.carrier = Some(super::wire::CarrierRef {
        code: Some(m.carrier.into()),
    });
    p.date_announced = Some(sc_date());
    set_status(p, TRACKER_STEPS[0]);
    sp.last_step = Instant::now();
    let reference = sp.reference.clone();
    shared.core.record(|r| {
        bump(r, "labels_total");
        bump_in(r, "labels_by_reference", &reference);
    });
    Ok(status_event(shared, store, id))
}

fn spawn_delivery(shared: &Arc<Shared>, ev: Option<Outgoing>) {
    if let Some(ev) = ev.filter(|e| !e.targets.is_empty()) {
        let s = shared.clone();
        tokio::spawn(async move {
            deliver_all(&s, vec![ev]).await;
        });
    }
}

async fn create_parcel(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request = "/api/v2/parcels";
    let fault = match gate(&shared, &Method::POST, request, request, &headers).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let input = match parcel_input(&body, request) {
        Ok(i) => i,
        Err(r) => return r,
    };
    let mut problems = Vec::new();
    for (name, v) in [
        ("name", &input.name),
        ("address", &input.address),
        ("city", &input.city),
        ("postal_code", &input.postal_code),
        ("country", &input.country),
    ] {
        if v.as_deref().is_none_or(|s| s.trim().is_empty()) {
            problems.push(format!("{name}: This field is required."));
        }
    }
    let country = input
        .country
        .clone()
        .unwrap_or_default()
        .to_ascii_uppercase();
    if !country.is_empty()
        && (country.len() != 2 || !country.bytes().all(|b| b.is_ascii_alphabetic()))
    {
        problems.push(format!("country: \"{country}\" is not a valid choice."));
    }
    let weight = match input.weight.as_deref().map(str::trim) {
        None => Decimal::ONE,
        Some(w) => match Decimal::from_str(w) {
            Ok(d) if d > Decimal::ZERO && d <= Decimal::from(70) => d,
            _ => {
                problems.push(
                    "weight: Ensure this value is a decimal between 0.001 and 70.000.".into(),
                );
                Decimal::ONE
            }
        },
    };
    if !problems.is_empty() {
        return sc_error(StatusCode::BAD_REQUEST, request, &problems.join(" "));
    }
    let origin = origin(&headers);
    let (out, event) = {
        let mut store = shared.lock();
        if let Some(ext) = input
            .external_reference
            .as_deref()
            .filter(|e| !e.is_empty())
        {
            if store
                .parcels
                .values()
                .any(|p| p.parcel.external_reference.as_deref() == Some(ext))
            {
                return sc_error(
                    StatusCode::BAD_REQUEST,
                    request,
                    "external_reference: Parcel with this external reference already exists.",
                );
            }
        }
        let id = store.next_id;
        store.next_id += 1;
        let mut w = weight;
        w.rescale(3);
        let (iso_3, cname) = COUNTRIES
            .iter()
            .find(|c| c.0 == country)
            .map(|c| (Some(c.1.to_string()), Some(c.2.to_string())))
            .unwrap_or((None, None));
        let now = sc_date();
        let parcel = Parcel {
            id: id.to_string(),
            name: input.name.clone(),
            company_name: input.company_name.clone(),
            address: input.address.clone(),
            address_2: input.address_2.clone(),
            city: input.city.clone(),
            postal_code: input.postal_code.clone(),
            telephone: input.telephone.clone(),
            email: input.email.clone(),
            date_created: Some(now.clone()),
            date_updated: Some(now),
            weight: Some(w.to_string()),
            length: input.length.clone(),
            width: input.width.clone(),
            height: input.height.clone(),
            status: Some(Status {
                id: Some(999),
                message: Some(message_for_id(999).into()),
            }),
            country: Some(super::wire::Country {
                iso_2: Some(country.clone()),
                iso_3,
                name: cname,
            }),
            order_number: input.order_number.clone(),
            external_reference: input.external_reference.clone(),
            colli_uuid: Some(uuid_like()),
            collo_nr: Some(0),
            collo_count: Some(1),
            shipment_uuid: Some(uuid_like()),
            ..Parcel::default()
        };
        let reference = input
            .external_reference
            .clone()
            .or_else(|| input.order_number.clone())
            .unwrap_or_else(|| "(none)".into());
        store.parcels.insert(
            id,
            SParcel {
                parcel,
                reference,
                last_step: Instant::now(),
                last_event: None,
                voided: false,
            },
        );
        shared.core.record(|r| bump(r, "shipments_created"));
        let mut event = None;
        if input.request_label == Some(true) {
            match announce(
                &shared,
                &mut store,
                id,
                input.shipment.as_ref().and_then(|s| s.id),
                &origin,
                request,
            ) {
                Ok(ev) => event = ev,
                Err(r) => {
                    store.parcels.remove(&id);
                    return r;
                }
            }
        }
        let out = store
            .parcels
            .get(&id)
            .map(|p| parcel_json(&p.parcel))
            .unwrap_or(Value::Null);
        (out, event)
    };
    spawn_delivery(&shared, event);
    finish(&shared, fault, StatusCode::OK, json!({ "parcel": out })).await
}

async fn update_parcel(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request = "/api/v2/parcels";
    let fault = match gate(&shared, &Method::PUT, request, request, &headers).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let input = match parcel_input(&body, request) {
        Ok(i) => i,
        Err(r) => return r,
    };
    let Some(id) = input.id else {
        return sc_error(
            StatusCode::BAD_REQUEST,
            request,
            "id: This field is required.",
        );
    };
    let origin = origin(&headers);
    let (out, event) = {
        let mut store = shared.lock();
        let Some(sp) = store.parcels.get(&id) else {
            return not_found(request);
        };
        if mapping::status_id(&sp.parcel) != Some(999) {
            shared.core.record(|r| bump(r, "buys_refused_announced"));
            return sc_error(StatusCode::BAD_REQUEST, request, ALREADY_ANNOUNCED);
        }
        let event = if input.request_label == Some(true) {
            match announce(
                &shared,
                &mut store,
                id,
                input.shipment.as_ref().and_then(|s| s.id),
                &origin,
                request,
            ) {
                Ok(ev) => ev,
                Err(r) => return r,
            }
        } else {
            None
        };
        let out = store
            .parcels
            .get(&id)
            .map(|p| parcel_json(&p.parcel))
            .unwrap_or(Value::Null);
        (out, event)
    };
    spawn_delivery(&shared, event);
    finish(&shared, fault, StatusCode::OK, json!({ "parcel": [out] })).await
}

#[derive(Deserialize, Default)]
struct ParcelQuery {
    external_reference: Option<String>,
    tracking_number: Option<String>,
    order_number: Option<String>,
}

async fn list_parcels(
    State(shared): State<Arc<Shared>>,
    Query(q): Query<ParcelQuery>,
    headers: HeaderMap,
) -> Response {
    let request = "/api/v2/parcels";
    let fault = match gate(&shared, &Method::GET, request, request, &headers).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let parcels: Vec<Value> = shared
        .lock()
        .parcels
        .values()
        .filter(|p| {
            let m = |want: &Option<String>, have: &Option<String>| {
                want.as_deref().is_none_or(|w| have.as_deref() == Some(w))
            };
            m(&q.external_reference, &p.parcel.external_reference)
                && m(&q.tracking_number, &p.parcel.tracking_number)
                && m(&q.order_number, &p.parcel.order_number)
        })
        .map(|p| parcel_json(&p.parcel))
        .collect();
    finish(
        &shared,
        fault,
        StatusCode::OK,
        json!({ "next": null, "previous": null, "parcels": parcels }),
    )
    .await
}

async fn get_parcel(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let request = format!("/api/v2/parcels/{id}");
    let fault = match gate(
        &shared,
        &Method::GET,
        "/api/v2/parcels/{id}",
        &request,
        &headers,
    )
    .await
    {
        Ok(f) => f,
        Err(r) => return r,
    };
    let found = id.parse::<i64>().ok().and_then(|n| {
        shared
            .lock()
            .parcels
            .get(&n)
            .map(|p| parcel_json(&p.parcel))
    });
    match found {
        Some(p) => finish(&shared, fault, StatusCode::OK, json!({ "parcel": p })).await,
        None => not_found(&request),
    }
}

async fn cancel_parcel(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let request = format!("/api/v2/parcels/{id}/cancel");
    let fault = match gate(
        &shared,
        &Method::POST,
        "/api/v2/parcels/{id}/cancel",
        &request,
        &headers,
    )
    .await
    {
        Ok(f) => f,
        Err(r) => return r,
    };
    let Ok(n) = id.parse::<i64>() else {
        return not_found(&request);
    };
    let (status, body, event) = {
        let mut store = shared.lock();
        let Some(sp) = store.parcels.get_mut(&n) else {
            return not_found(&request);
        };
        let cur = mapping::status_id(&sp.parcel).unwrap_or(0);
        match cur {
            999 => {
                store.parcels.remove(&n);
                (
                    StatusCode::OK,
                    json!({"status": "deleted", "message": "Parcel has been deleted"}),
                    None,
                )
            }
            11 | 2000 => {
                let why = if cur == 11 {
                    "Parcel has been delivered and can no longer be cancelled"
                } else {
                    "Parcel has already been cancelled"
                };
                return sc_error(StatusCode::BAD_REQUEST, &request, why);
            }
            _ => {
                let queued = cur != 1 && cur != 1000;
                set_status(&mut sp.parcel, if queued { 1999 } else { 2000 });
                let first = !sp.voided;
                sp.voided = true;
                let reference = sp.reference.clone();
                if first {
                    shared
                        .core
                        .record(|r| bump_in(r, "voids_by_reference", &reference));
                }
                let ev = status_event(&shared, &mut store, n);
                if queued {
                    (
                        StatusCode::ACCEPTED,
                        json!({"status": "queued", "message": "Parcel cancellation has been queued"}),
                        ev,
                    )
                } else {
                    (
                        StatusCode::OK,
                        json!({"status": "cancelled", "message": "Parcel has been cancelled"}),
                        ev,
                    )
                }
            }
        }
    };
    spawn_delivery(&shared, event);
    finish(&shared, fault, status, body).await
}

#[derive(Deserialize, Default)]
struct MethodQuery {
    to_country: Option<String>,
}

async fn list_methods(
    State(shared): State<Arc<Shared>>,
    Query(q): Query<MethodQuery>,
    headers: HeaderMap,
) -> Response {
    let request = "/api/v2/shipping_methods";
    let fault = match gate(&shared, &Method::GET, request, request, &headers).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let to = q
        .to_country
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty());
    let methods: Vec<Value> = METHODS
        .iter()
        .filter(|_| to.is_none_or(|t| COUNTRIES.iter().any(|c| c.0.eq_ignore_ascii_case(t))))
        .map(|m| method_json(m, to))
        .collect();
    finish(
        &shared,
        fault,
        StatusCode::OK,
        json!({ "next": null, "previous": null, "shipping_methods": methods }),
    )
    .await
}

async fn get_method(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    Query(q): Query<MethodQuery>,
    headers: HeaderMap,
) -> Response {
    let request = format!("/api/v2/shipping_methods/{id}");
    let fault = match gate(
        &shared,
        &Method::GET,
        "/api/v2/shipping_methods/{id}",
        &request,
        &headers,
    )
    .await
    {
        Ok(f) => f,
        Err(r) => return r,
    };
    let to = q
        .to_country
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty());
    match id
        .parse::<i64>()
        .ok()
        .and_then(|n| METHODS.iter().find(|m| m.id == n))
    {
        Some(m) => {
            finish(
                &shared,
                fault,
                StatusCode::OK,
                json!({ "shipping_method": method_json(m, to) }),
            )
            .await
        }
        None => not_found(&request),
    }
}

#[derive(Deserialize, Default)]
struct LabelQuery {
    hash: Option<String>,
}

async fn label_file(
    State(shared): State<Arc<Shared>>,
    Path((printer, id)): Path<(String, String)>,
    Query(q): Query<LabelQuery>,
) -> Response {
    let request = format!("/api/v2/labels/{printer}/{id}");
    if printer != "label_printer" && printer != "normal_printer" {
        return not_found(&request);
    }
    let Ok(n) = id.parse::<i64>() else {
        return not_found(&request);
    };
    if q.hash.as_deref() != Some(label_hash(n).as_str()) {
        return not_found(&request);
    }
    let found = shared.lock().parcels.get(&n).and_then(|p| {
        let t = p.parcel.tracking_number.clone()?;
        let c = p
            .parcel
            .carrier
            .as_ref()
            .and_then(|c| c.code.clone())
            .unwrap_or_default();
        Some((c, t))
    });
    let Some((carrier, tracking)) = found else {
        return not_found(&request);
    };
    let (ct, bytes) = label_document(LabelFormat::Pdf, &carrier.to_ascii_uppercase(), &tracking);
    (StatusCode::OK, [(header::CONTENT_TYPE, ct)], bytes).into_response()
}

/// The document types `GET /api/v2/parcels/{id}/documents/{type}` knows.
pub const DOCUMENT_TYPES: [&str; 7] = [
    "air-waybill",
    "cn23",
    "cn23-default",
    "commercial-invoice",
    "cp71",
    "label",
    "qr",
];

/// The `dpi` values the endpoint takes.
pub const DOCUMENT_DPI: [u32; 5] = [72, 150, 203, 300, 600];

#[derive(Deserialize, Default)]
struct DocumentQuery {
    dpi: Option<String>,
}

/// The format an `Accept` header asks for: absent, `*/*` or
/// `application/*` is PDF (the default), `image/*` PNG; the first
/// acceptable entry wins. `Err` when nothing in it can be served.
fn accept_format(headers: &HeaderMap) -> Result<LabelFormat, String> {
    let Some(v) = headers.get(header::ACCEPT) else {
        return Ok(LabelFormat::Pdf);
    };
    let text = v.to_str().map_err(|_| "?".to_string())?;
    if text.trim().is_empty() {
        return Ok(LabelFormat::Pdf);
    }
    for entry in text.split(',') {
        let mime = entry.split(';').next().unwrap_or("").trim();
        match mime.to_ascii_lowercase().as_str() {
            "application/pdf" | "application/*" | "*/*" => return Ok(LabelFormat::Pdf),
            "application/zpl" => return Ok(LabelFormat::Zpl),
            "image/png" | "image/*" => return Ok(LabelFormat::Png),
            _ => {}
        }
    }
    Err(text.to_string())
}

/// `GET /api/v2/parcels/{id}/documents/{type}`: the label of an announced
/// parcel in the format `Accept` names, as Sendcloud's v2 OpenAPI gives the
/// endpoint. `dpi` must be one of 72, 150, 203, 300, 600 and fit the format
/// (PDF 72; PNG 150 or 300, default 300; ZPL is not affected); an unknown
/// `Accept` → 406, a bad `dpi` → 400, an unknown type or a parcel without
/// the document → 404, all in Sendcloud's error body. Downloads are counted
/// in `stats.recorded.label_downloads_by_format`.
async fn parcel_document(
    State(shared): State<Arc<Shared>>,
    Path((id, kind)): Path<(String, String)>,
    Query(q): Query<DocumentQuery>,
    headers: HeaderMap,
) -> Response {
    let request = format!("/api/v2/parcels/{id}/documents/{kind}");
    let fault = match gate(
        &shared,
        &Method::GET,
        "/api/v2/parcels/{id}/documents/{type}",
        &request,
        &headers,
    )
    .await
    {
        Ok(f) => f,
        Err(r) => return r,
    };
    if !DOCUMENT_TYPES.contains(&kind.as_str()) {
        return not_found(&request);
    }
    let format = match accept_format(&headers) {
        Ok(f) => f,
        Err(_) => {
            return sc_error(
                StatusCode::NOT_ACCEPTABLE,
                &request,
                "Could not satisfy the request Accept header.",
            )
        }
    };
    if let Some(text) = q.dpi.as_deref() {
        let Some(dpi) = text
            .trim()
            .parse::<u32>()
            .ok()
            .filter(|d| DOCUMENT_DPI.contains(d))
        else {
            return sc_error(
                StatusCode::BAD_REQUEST,
                &request,
                &format!("dpi: \"{text}\" is not a valid choice."),
            );
        };
        let fits = match format {
            LabelFormat::Pdf => dpi == 72,
            LabelFormat::Png => dpi == 150 || dpi == 300,
            LabelFormat::Zpl => true,
        };
        if !fits {
            return sc_error(
                StatusCode::BAD_REQUEST,
                &request,
                &format!(
                    "dpi: {dpi} is not a valid resolution for {}.",
                    format.media_type()
                ),
            );
        }
    }
    let Ok(n) = id.parse::<i64>() else {
        return sc_error(
            StatusCode::NOT_FOUND,
            &request,
            "No Parcel matches the given query.",
        );
    };
    let found = shared.lock().parcels.get(&n).map(|p| {
        let announced = mapping::status_id(&p.parcel) != Some(999);
        let t = p.parcel.tracking_number.clone().filter(|_| announced);
        let c = p
            .parcel
            .carrier
            .as_ref()
            .and_then(|c| c.code.clone())
            .unwrap_or_default();
        (c, t)
    });
    let (carrier, tracking) = match found {
        None => {
            return sc_error(
                StatusCode::NOT_FOUND,
                &request,
                "No Parcel matches the given query.",
            )
        }
        Some((c, Some(t))) if kind == "label" => (c, t),
        // No label yet, or a customs document these parcels do not need.
        Some(_) => {
            return sc_error(
                StatusCode::NOT_FOUND,
                &request,
                "Document type requested is not available for the parcel.",
            )
        }
    };
    let (ct, bytes) = label_document(format, &carrier.to_ascii_uppercase(), &tracking);
    shared
        .core
        .record(|r| bump_in(r, "label_downloads_by_format", format.as_str()));
    if let Some(Fault::TimeoutAfterSuccess(d)) = fault {
        tokio::time::sleep(d).await;
    }
    (StatusCode::OK, [(header::CONTENT_TYPE, ct)], bytes).into_response()
}

async fn fallback() -> Response {
    sc_error(StatusCode::NOT_FOUND, "", "Not found.")
}

#[derive(Deserialize, Default)]
struct SubscribeBody {
    #[serde(default)]
    url: String,
}

async fn subscribe(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let b: SubscribeBody = match parse_body(&body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let url = b.url.trim().to_string();
    if !url::Url::parse(&url).is_ok_and(|u| matches!(u.scheme(), "http" | "https")) {
        return crate::sandbox::bad_request("url must be an http(s) URL");
    }
    {
        let mut store = shared.lock();
        if !store.subscribers.contains(&url) {
            store.subscribers.push(url.clone());
        }
    }
    json_response(StatusCode::OK, &json!({ "url": url }))
}

async fn advance_all(State(shared): State<Arc<Shared>>) -> Response {
    let out = advance(&shared, None, None);
    let report = deliver_all(&shared, out).await;
    json_response(StatusCode::OK, &json!(report))
}

async fn advance_one(State(shared): State<Arc<Shared>>, Path(code): Path<String>) -> Response {
    let id = parcel_for(&shared.lock(), &code);
    let Some(id) = id.filter(|id| {
        shared
            .lock()
            .parcels
            .get(id)
            .is_some_and(|p| p.parcel.tracking_number.is_some())
    }) else {
        return crate::sandbox::json_response(
            StatusCode::NOT_FOUND,
            &json!({"error": "unknown tracking code"}),
        );
    };
    let out = advance(&shared, Some(id), None);
    let report = deliver_all(&shared, out).await;
    json_response(StatusCode::OK, &json!(report))
}

async fn replay(State(shared): State<Arc<Shared>>, Path(code): Path<String>) -> Response {
    let out = {
        let store = shared.lock();
        parcel_for(&store, &code)
            .and_then(|id| store.parcels.get(&id))
            .and_then(|p| p.last_event.clone())
            .map(|body| Outgoing {
                body,
                targets: store.subscribers.clone(),
            })
    };
    let Some(out) = out else {
        return json_response(
            StatusCode::NOT_FOUND,
            &json!({"error": "no event sent for this tracking code"}),
        );
    };
    let report = deliver_all(&shared, vec![out]).await;
    json_response(StatusCode::OK, &json!(report))
}

/// The published catalogue's prices, for tests: (method id, country, price).
pub fn catalogue_price(method_id: i64, country: &str) -> Option<Decimal> {
    let m = METHODS.iter().find(|m| m.id == method_id)?;
    let c = COUNTRIES.iter().find(|c| c.0 == country)?;
    Some(price_of(m, c.3))
}
