//! A local imitation of EasyPost's API v2, for tests, the demo and the benchmark.
//!
//! Vendor surface (auth `Authorization: Bearer <key>` or Basic with the key as
//! user, 401 with EasyPost's error body otherwise):
//! - `POST /v2/shipments` — `{"shipment": {to_address, from_address, parcel,
//!   reference}}` → 201 with a `Shipment` rated for USPS, UPS and FedEx, priced
//!   deterministically from the weight; missing fields → 422 listing them.
//! - `GET /v2/shipments/{id}`; `POST /v2/shipments/{id}/buy` `{"rate": {"id"}}` →
//!   the shipment with `postage_label`, `tracking_code`, `selected_rate` and a
//!   `tracker` (`pre_transit`). A second buy → 422 `SHIPMENT.POSTAGE.EXISTS`; a
//!   rate not of this shipment → 422 `SHIPMENT.MISSING_RATE`; an unknown shipment
//!   → 404 `NOT_FOUND`.
//! - `POST /v2/webhooks` `{"webhook": {url, webhook_secret}}`, `GET /v2/webhooks`,
//!   `DELETE /v2/webhooks/{id}`: where tracker `Event`s go, signed with
//!   `X-Hmac-Signature` when the webhook has a secret. A delivery that fails
//!   (non-2xx, connection error, timeout) is retried with backoff.
//! - `POST /v2/shipments/{id}/refund` → the shipment with `refund_status`:
//!   `submitted` for USPS (EasyPost: USPS refunds take 15+ days), `refunded`
//!   for the others, `rejected` once the tracker left `pre_transit` (a scanned
//!   label cannot be refunded). A shipment without postage, or one whose
//!   refund is already submitted or done → 422 `SHIPMENT.REFUND.FAILURE`; a
//!   rejected refund may be asked again. Refunded trackers stop moving.
//! - `options.label_format` on create (`PNG` default, `PDF`, `ZPL`, `EPL2`;
//!   anything else → 422) decides the bought label's file:
//!   `GET /labels/{pl_id}.{png|pdf|zpl|epl2}` (`label_url`, and
//!   `label_pdf_url` / `label_zpl_url` / `label_epl2_url` for those formats),
//!   made by [`crate::sandbox::carrier::label_document`].
//!
//! - `is_return: true` on create (a boolean; anything else → 422) makes a
//!   return shipment: the given addresses are swapped (the label goes from
//!   `to_address` back to `from_address`), the shipment says
//!   `is_return: true`, and its labels are also counted in
//!   `return_labels_total` / `return_labels_by_reference`
//!   (`return_shipments_created` for the shipments).
//!
//! Trackers move `pre_transit` → `in_transit` → `out_for_delivery` →
//! `delivered`, one step per `advance_every_ms` (0: only when asked), each step
//! a `TrackingDetail` and a `tracker.updated` event (a new `evt_` id each);
//! buying sends `tracker.created`.
//!
//! Control surface: the shared `/_sandbox/faults|stats|reset-stats|credentials`
//! (revoked credentials answer 401 like a bad key), plus the carrier contract
//! (`crate::sandbox::carrier`): `POST /_sandbox/subscribe` `{"url"}` (a
//! webhook signed with the sandbox's `webhook_secret`),
//! `POST /_sandbox/trackers/advance` (every tracker not yet delivered, one
//! step; answers once the webhooks were delivered or given up),
//! `POST /_sandbox/trackers/{id}/advance` (one tracker, by tracking code,
//! `trk_` or `shp_` id) and `POST /_sandbox/trackers/{id}/replay` (the
//! tracker's last event again, same id and body: a duplicate delivery).
//! `stats.recorded` holds `shipments_created`, `labels_total`,
//! `labels_by_reference`, `voids_by_reference`,
//! `buys_refused_postage_exists`, `events_created`, `webhooks_sent`,
//! `webhooks_failed`, `webhook_attempts_failed`, `trackers_by_status`, and for
//! return labels `return_shipments_created`, `return_labels_total`,
//! `return_labels_by_reference`.
//!
//! Faults (shared `FaultConfig`) apply to the `/v2/...` paths, named by their
//! templates (`/v2/shipments/{id}/buy`): 429 and 5xx answer with EasyPost-styled
//! bodies before any work; a timeout hangs before the work (the client gives up
//! and the work is never done); `timeout_after_success` does the work and then
//! hangs, for answers that succeeded (a refused buy is answered at once);
//! `malformed` spoils one rate's price in the answer; `slow` delays it.

use super::client::{sign_webhook, HEADER_SIGNATURE};
use super::wire::{
    Address, Fee, Parcel, PostageLabel, Rate, Shipment, Tracker, TrackingDetail, TrackingLocation,
    Webhook, WebhookList,
};
pub use super::DEFAULT_API_KEY;
use crate::carrier::LabelFormat;
use crate::sandbox::carrier::label_document;
use crate::sandbox::{json_response, parse_body, Fault, SandboxCore};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::Router;
use base64::Engine;
use chrono::{DateTime, SecondsFormat, Utc};
use rand::Rng;
use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

/// The statuses a sandbox tracker goes through, in order.
pub const TRACKER_STEPS: [&str; 4] = ["pre_transit", "in_transit", "out_for_delivery", "delivered"];

const NOT_FOUND_MESSAGE: &str = "The requested resource could not be found.";
/// EasyPost's wording for a buy with a rate that is not the shipment's
/// (reported in EasyPost's client issue trackers).
const MISSING_RATE_MESSAGE: &str = "A valid rate must be supplied in order to purchase a shipment. Please verify the rate exists and that the rate is associated with the shipment being purchased.";

/// The code the sandbox answers a refund it cannot make with. EasyPost's
/// exact code and wording for these cases are not documented publicly.
const REFUND_FAILURE: &str = "SHIPMENT.REFUND.FAILURE";

/// A label file format EasyPost takes in `options.label_format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FileFormat {
    Png,
    Pdf,
    Zpl,
    Epl2,
}

impl FileFormat {
    fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_uppercase().as_str() {
            "PNG" => Some(Self::Png),
            "PDF" => Some(Self::Pdf),
            "ZPL" => Some(Self::Zpl),
            "EPL2" => Some(Self::Epl2),
            _ => None,
        }
    }
    fn word(self) -> &'static str {
        match self {
            Self::Png => "PNG",
            Self::Pdf => "PDF",
            Self::Zpl => "ZPL",
            Self::Epl2 => "EPL2",
        }
    }
    fn extension(self) -> &'static str {
        match self {
            Self::Png => "png",
            Self::Pdf => "pdf",
            Self::Zpl => "zpl",
            Self::Epl2 => "epl2",
        }
    }
    fn content_type(self) -> &'static str {
        match self {
            Self::Png => "image/png",
            Self::Pdf => "application/pdf",
            Self::Zpl => "application/zpl",
            Self::Epl2 => "application/epl2",
        }
    }
    /// The label file: carrier and tracking code on it.
    fn document(self, carrier: &str, tracking_code: &str) -> (&'static str, Vec<u8>) {
        let shared = match self {
            Self::Png => LabelFormat::Png,
            Self::Pdf => LabelFormat::Pdf,
            Self::Zpl => LabelFormat::Zpl,
            Self::Epl2 => {
                let safe = |s: &str| -> String {
                    s.chars()
                        .filter(|c| c.is_ascii_graphic() || *c == ' ')
                        .filter(|c| *c != '"' && *c != '\\')
                        .collect()
                };
                let text = format!(
                    "N\nA50,50,0,4,1,1,N,\"{}\"\nB50,120,0,1,3,7,120,B,\"{}\"\nP1\n",
                    safe(carrier),
                    safe(tracking_code)
                );
                return (self.content_type(), text.into_bytes());
            }
        };
        label_document(shared, carrier, tracking_code)
    }
}

/// How the sandbox behaves.
#[derive(Clone)]
pub struct EasyPostSandboxOptions {
    /// The one API key accepted.
    pub api_key: String,
    /// Every tracker not yet delivered moves one step this often (ms since its
    /// last step); 0 = only through the control routes.
    pub advance_every_ms: u64,
    /// Send `tracker.created` when a label is bought (EasyPost does).
    pub send_tracker_created: bool,
    /// Delivery attempts per event and webhook, the first included.
    pub webhook_attempts: u32,
    /// Delay before the first retry; doubles with each attempt.
    pub webhook_retry_base_ms: u64,
    /// The longest pause between two delivery attempts.
    pub webhook_retry_max_ms: u64,
    /// How long one delivery attempt may take.
    pub webhook_timeout_ms: u64,
    /// The secret webhooks registered through `POST /_sandbox/subscribe`
    /// are signed with (`None`: unsigned).
    pub webhook_secret: Option<String>,
}

impl Default for EasyPostSandboxOptions {
    fn default() -> Self {
        Self {
            api_key: DEFAULT_API_KEY.into(),
            advance_every_ms: 0,
            send_tracker_created: true,
            webhook_attempts: 4,
            webhook_retry_base_ms: 200,
            webhook_retry_max_ms: 10_000,
            webhook_timeout_ms: 2_000,
            webhook_secret: None,
        }
    }
}

impl EasyPostSandboxOptions {
    /// Only `api_key` set; trackers move on demand.
    pub fn with_key(api_key: &str) -> Self {
        Self {
            api_key: api_key.into(),
            ..Self::default()
        }
    }
}

impl std::fmt::Debug for EasyPostSandboxOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EasyPostSandboxOptions")
            .field("advance_every_ms", &self.advance_every_ms)
            .field("send_tracker_created", &self.send_tracker_created)
            .field("webhook_attempts", &self.webhook_attempts)
            .field("webhook_retry_base_ms", &self.webhook_retry_base_ms)
            .field("webhook_retry_max_ms", &self.webhook_retry_max_ms)
            .field("webhook_timeout_ms", &self.webhook_timeout_ms)
            .finish_non_exhaustive()
    }
}

// ------------------------------------------------------------------ the world

struct HookEntry {
    hook: Webhook,
    secret: Option<String>,
}

struct TrackerState {
    shipment_id: String,
    last_step: Instant,
    /// The last event sent for this tracker, for replays: (id, body).
    last_event: Option<(String, Arc<String>)>,
}

#[derive(Default)]
struct Store {
    shipments: HashMap<String, Shipment>,
    trackers: HashMap<String, TrackerState>,
    /// Label id → shipment id, for the label images.
    labels: HashMap<String, String>,
    /// Shipment id → the label format asked at create.
    formats: HashMap<String, FileFormat>,
    webhooks: Vec<HookEntry>,
}

struct Shared {
    opts: EasyPostSandboxOptions,
    core: Arc<SandboxCore>,
    store: Mutex<Store>,
    http: reqwest::Client,
    ticker_started: AtomicBool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Store> {
        // A poisoned lock means a handler panicked mid-update; carry on.
        self.store.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// One event ready to go out, and where.
struct Outgoing {
    event_id: String,
    body: Arc<String>,
    targets: Vec<(String, Option<String>)>,
}

/// What a delivery round did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryReport {
    pub events: Vec<String>,
    pub delivered: u64,
    pub failed: u64,
}

/// The EasyPost sandbox; clone it freely (clones share one world).
#[derive(Clone)]
pub struct EasyPostSandbox {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for EasyPostSandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EasyPostSandbox")
            .field("opts", &self.shared.opts)
            .finish_non_exhaustive()
    }
}

fn now() -> DateTime<Utc> {
    Utc::now()
}

fn stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// An EasyPost-shaped id: prefix, `_`, 32 hex characters.
fn new_id(prefix: &str) -> String {
    format!("{prefix}_{:032x}", rand::rng().random::<u128>())
}

fn digits(n: usize) -> String {
    let mut rng = rand::rng();
    (0..n)
        .map(|_| char::from(b'0' + rng.random_range(0..10u8)))
        .collect()
}

/// A tracking number shaped like the carrier's.
fn tracking_code_for(carrier: &str) -> String {
    match carrier {
        "UPS" => format!("1Z{}", digits(16)),
        "FedEx" => digits(12),
        _ => format!("9400{}", digits(18)),
    }
}

/// EasyPost's public tracking page: base64 of `v1:<tracker id>`.
fn public_url(tracker_id: &str) -> String {
    format!(
        "https://track.easypost.com/{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("v1:{tracker_id}"))
    )
}

/// `{"error": {"code", "message", "errors"}}` with `status`.
fn ep_error(status: StatusCode, code: &str, message: &str, errors: Vec<Value>) -> Response {
    json_response(
        status,
        &json!({ "error": { "code": code, "message": message, "errors": errors } }),
    )
}

fn not_found() -> Response {
    ep_error(
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
        NOT_FOUND_MESSAGE,
        vec![],
    )
}

fn bad_json() -> Response {
    ep_error(
        StatusCode::BAD_REQUEST,
        "BAD_REQUEST",
        "The request could not be understood by the server due to malformed syntax.",
        vec![],
    )
}

fn field_error(field: &str, message: &str) -> Value {
    json!({ "field": field, "message": message, "suggestion": null })
}

fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Bearer with the key, or Basic with the key as user (any password).
fn authorized(headers: &HeaderMap, key: &str) -> bool {
    let Some(v) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
    else {
        return false;
    };
    let (scheme, rest) = v.split_once(' ').unwrap_or((v, ""));
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("bearer") {
        return !key.is_empty() && ct_eq(rest.as_bytes(), key.as_bytes());
    }
    if scheme.eq_ignore_ascii_case("basic") {
        let Ok(raw) = base64::engine::general_purpose::STANDARD.decode(rest) else {
            return false;
        };
        let user = raw.split(|b| *b == b':').next().unwrap_or_default();
        return !key.is_empty() && ct_eq(user, key.as_bytes());
    }
    false
}

fn unauthorized() -> Response {
    ep_error(
        StatusCode::UNAUTHORIZED,
        "UNAUTHORIZED",
        "The API key provided is missing or not valid. Send it as `Authorization: Bearer <key>` or as the Basic auth user.",
        vec![],
    )
}

/// A decimal from a JSON number or numeric string.
fn decimal_of(v: &Value) -> Option<Decimal> {
    match v {
        Value::Number(n) => {
            let s = n.to_string();
            Decimal::from_str(&s)
                .or_else(|_| Decimal::from_scientific(&s))
                .ok()
        }
        Value::String(s) => Decimal::from_str(s.trim()).ok(),
        _ => None,
    }
}

/// A decimal as a JSON number, the way EasyPost returns parcel sizes.
fn number_of(d: Decimal) -> Value {
    serde_json::from_str::<Value>(&d.normalize().to_string()).unwrap_or(Value::Null)
}

/// Money with two decimals (`10.07`), or `places` decimals for fees.
fn money(d: Decimal, places: u32) -> String {
    let mut d = d.round_dp_with_strategy(places, RoundingStrategy::MidpointAwayFromZero);
    d.rescale(places);
    d.to_string()
}

struct Service {
    carrier: &'static str,
    service: &'static str,
    /// Dollars and cents, for the first pound.
    base: (i64, u32),
    /// Cents per further pound.
    per_lb_cents: i64,
    days: u32,
}

/// The services rated, EasyPost's carrier and service names.
const SERVICES: [Service; 7] = [
    Service {
        carrier: "USPS",
        service: "GroundAdvantage",
        base: (540, 2),
        per_lb_cents: 95,
        days: 4,
    },
    Service {
        carrier: "USPS",
        service: "Priority",
        base: (870, 2),
        per_lb_cents: 145,
        days: 2,
    },
    Service {
        carrier: "USPS",
        service: "Express",
        base: (2875, 2),
        per_lb_cents: 260,
        days: 1,
    },
    Service {
        carrier: "UPS",
        service: "Ground",
        base: (985, 2),
        per_lb_cents: 110,
        days: 4,
    },
    Service {
        carrier: "UPS",
        service: "2ndDayAir",
        base: (1990, 2),
        per_lb_cents: 230,
        days: 2,
    },
    Service {
        carrier: "FedEx",
        service: "FEDEX_GROUND",
        base: (960, 2),
        per_lb_cents: 105,
        days: 4,
    },
    Service {
        carrier: "FedEx",
        service: "FEDEX_2_DAY",
        base: (2140, 2),
        per_lb_cents: 240,
        days: 2,
    },
];

/// The price of `service` for a parcel of `weight_oz`: the first pound at the
/// base price, each further started pound at the per-pound price.
fn price(service: &Service, weight_oz: Decimal) -> Decimal {
    let pounds = (weight_oz / Decimal::from(16)).ceil().max(Decimal::ONE);
    Decimal::new(service.base.0, service.base.1)
        + Decimal::new(service.per_lb_cents, 2) * (pounds - Decimal::ONE)
}

/// The sandbox's carrier account id for a carrier (`ca_…`, stable).
fn carrier_account(carrier: &str) -> String {
    let n: u128 = carrier
        .bytes()
        .fold(0x9685a1198a75477885a3cdca37559bacu128, |acc, b| {
            acc.rotate_left(7) ^ u128::from(b)
        });
    format!("ca_{n:032x}")
}

fn make_rates(shipment_id: &str, weight_oz: Decimal, at: &str) -> Vec<Rate> {
    SERVICES
        .iter()
        .map(|s| {
            let p = price(s, weight_oz);
            let retail = p * Decimal::new(125, 2);
            Rate {
                id: new_id("rate"),
                object: Some("Rate".into()),
                created_at: Some(at.into()),
                updated_at: Some(at.into()),
                mode: Some("test".into()),
                service: s.service.into(),
                carrier: s.carrier.into(),
                rate: Some(money(p, 2)),
                currency: Some("USD".into()),
                retail_rate: Some(money(retail, 2)),
                retail_currency: Some("USD".into()),
                list_rate: Some(money(p, 2)),
                list_currency: Some("USD".into()),
                billing_type: Some("easypost".into()),
                delivery_days: Some(s.days),
                delivery_date: None,
                delivery_date_guaranteed: Some(false),
                est_delivery_days: Some(s.days),
                shipment_id: Some(shipment_id.into()),
                carrier_account_id: Some(carrier_account(s.carrier)),
            }
        })
        .collect()
}

// ---------------------------------------------------------------- validation

/// Read a string field; anything but a string or null is a field error.
fn text_field(
    obj: &serde_json::Map<String, Value>,
    key: &str,
    path: &str,
    errors: &mut Vec<Value>,
) -> Option<String> {
    match obj.get(key) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.trim().to_string()).filter(|s| !s.is_empty()),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(_) => {
            errors.push(field_error(&format!("{path}.{key}"), "must be a string"));
            None
        }
    }
}

fn address_from(v: Option<&Value>, path: &str, at: &str, errors: &mut Vec<Value>) -> Address {
    let Some(obj) = v.and_then(Value::as_object) else {
        errors.push(field_error(path, "is required"));
        return Address::default();
    };
    let mut text = |k: &str| text_field(obj, k, path, errors);
    let a = Address {
        id: new_id("adr"),
        object: "Address".into(),
        created_at: Some(at.into()),
        updated_at: Some(at.into()),
        name: text("name"),
        company: text("company"),
        street1: text("street1"),
        street2: text("street2"),
        city: text("city"),
        state: text("state"),
        zip: text("zip"),
        country: text("country").or_else(|| Some("US".into())),
        phone: text("phone"),
        email: text("email"),
        mode: Some("test".into()),
        residential: None,
    };
    for (k, val) in [("street1", &a.street1), ("city", &a.city), ("zip", &a.zip)] {
        if val.is_none() {
            errors.push(field_error(&format!("{path}.{k}"), "is required"));
        }
    }
    a
}

/// The parcel and its weight; dimensions are all given or none.
fn parcel_from(v: Option<&Value>, at: &str, errors: &mut Vec<Value>) -> (Parcel, Decimal) {
    let path = "shipment.parcel";
    let Some(obj) = v.and_then(Value::as_object) else {
        errors.push(field_error(path, "is required"));
        return (Parcel::default(), Decimal::ONE);
    };
    let mut read = |k: &str, max: i64| -> Option<Decimal> {
        let v = obj.get(k).filter(|v| !v.is_null())?;
        match decimal_of(v) {
            Some(d) if d > Decimal::ZERO && d <= Decimal::from(max) => Some(d),
            _ => {
                errors.push(field_error(
                    &format!("{path}.{k}"),
                    &format!("must be a number above 0, at most {max}"),
                ));
                None
            }
        }
    };
    let weight = read("weight", 10_000);
    let dims = [
        read("length", 1_000),
        read("width", 1_000),
        read("height", 1_000),
    ];
    if obj.get("weight").is_none_or(Value::is_null) {
        errors.push(field_error(&format!("{path}.weight"), "is required"));
    }
    let given = dims.iter().filter(|d| d.is_some()).count();
    if given != 0 && given != 3 {
        errors.push(field_error(
            path,
            "length, width and height are required if any of them is present",
        ));
    }
    let parcel = Parcel {
        id: new_id("prcl"),
        object: Some("Parcel".into()),
        created_at: Some(at.into()),
        updated_at: Some(at.into()),
        length: dims[0].map(number_of),
        width: dims[1].map(number_of),
        height: dims[2].map(number_of),
        predefined_package: None,
        weight: weight.map(number_of),
        mode: Some("test".into()),
    };
    (parcel, weight.unwrap_or(Decimal::ONE))
}

// ------------------------------------------------------------------- stats

fn bump(r: &mut Value, key: &str, by: u64) {
    let cur = r.get(key).and_then(Value::as_u64).unwrap_or(0);
    r[key] = json!(cur.saturating_add(by));
}

fn bump_in(r: &mut Value, map: &str, key: &str) {
    if !r.get(map).is_some_and(Value::is_object) {
        r[map] = json!({});
    }
    let cur = r[map].get(key).and_then(Value::as_u64).unwrap_or(0);
    r[map][key] = json!(cur.saturating_add(1));
}

impl EasyPostSandbox {
    pub fn new(opts: EasyPostSandboxOptions) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_millis(opts.webhook_timeout_ms.max(1)))
            .user_agent("EasyPost sandbox webhooks")
            .build()
            .unwrap_or_default();
        let core = SandboxCore::new();
        core.record(|r| {
            for key in [
                "shipments_created",
                "labels_total",
                "buys_refused_postage_exists",
                "events_created",
                "webhooks_sent",
                "webhooks_failed",
                "webhook_attempts_failed",
            ] {
                r[key] = json!(0);
            }
            r["labels_by_reference"] = json!({});
            r["voids_by_reference"] = json!({});
            r["trackers_by_status"] = json!({});
        });
        let sb = Self {
            shared: Arc::new(Shared {
                opts,
                core,
                store: Mutex::new(Store::default()),
                http,
                ticker_started: AtomicBool::new(false),
            }),
        };
        sb.ensure_ticker();
        sb
    }

    /// The shared fault and stats surface.
    pub fn core(&self) -> Arc<SandboxCore> {
        self.shared.core.clone()
    }

    pub fn options(&self) -> &EasyPostSandboxOptions {
        &self.shared.opts
    }

    /// The vendor routes and the control routes.
    pub fn router(&self) -> Router {
        self.ensure_ticker();
        Router::new()
            .route("/v2/shipments", post(create_shipment))
            .route("/v2/shipments/{id}", get(get_shipment))
            .route("/v2/shipments/{id}/buy", post(buy_shipment))
            .route("/v2/shipments/{id}/refund", post(refund_shipment))
            .route("/v2/webhooks", post(create_webhook).get(list_webhooks))
            .route("/v2/webhooks/{id}", delete(delete_webhook))
            .route("/labels/{file}", get(label_image))
            .route("/_sandbox/subscribe", post(subscribe))
            .route("/_sandbox/trackers/advance", post(advance_all))
            .route("/_sandbox/trackers/{id}/advance", post(advance_one))
            .route("/_sandbox/trackers/{id}/replay", post(replay))
            .fallback(fallback)
            .method_not_allowed_fallback(method_not_allowed)
            .with_state(self.shared.clone())
            .merge(self.shared.core.control_routes())
    }

    /// Move every tracker not yet delivered one step and deliver the events
    /// (waits for the deliveries, retries included).
    pub async fn advance_trackers(&self) -> DeliveryReport {
        let out = advance(&self.shared, None, None);
        deliver_all(&self.shared, out).await
    }

    /// Move one tracker (by tracking code, `trk_` or `shp_` id) one step;
    /// `None` if unknown.
    pub async fn advance_tracker(&self, id: &str) -> Option<DeliveryReport> {
        let trk = tracker_id_for(&self.shared.lock(), id)?;
        let out = advance(&self.shared, Some(&trk), None);
        Some(deliver_all(&self.shared, out).await)
    }

    /// Send a tracker's last event again (same id, same body); `None` when the
    /// tracker is unknown or sent nothing yet.
    pub async fn replay_last_event(&self, id: &str) -> Option<DeliveryReport> {
        let out = replay_outgoing(&self.shared, id)?;
        Some(deliver_all(&self.shared, vec![out]).await)
    }

    /// A tracker's status (by tracking code, `trk_` or `shp_` id).
    pub fn tracker_status(&self, id: &str) -> Option<String> {
        let store = self.shared.lock();
        let trk = tracker_id_for(&store, id)?;
        let shp = &store.trackers.get(&trk)?.shipment_id;
        store.shipments.get(shp)?.tracker.as_ref()?.status.clone()
    }

    /// Labels bought for shipments with this reference.
    pub fn labels_for_reference(&self, reference: &str) -> u64 {
        self.shared
            .core
            .stats()
            .recorded
            .get("labels_by_reference")
            .and_then(|m| m.get(reference))
            .and_then(Value::as_u64)
            .unwrap_or(0)
    }

    pub fn shipment_count(&self) -> usize {
        self.shared.lock().shipments.len()
    }

    /// Start the clock that moves trackers, once, when there is a runtime.
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
                // Ends with the sandbox: no router and no handle left.
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

/// A tracker by its `trk_` id, its shipment's `shp_` id or its tracking code.
fn tracker_id_for(store: &Store, id: &str) -> Option<String> {
    if store.trackers.contains_key(id) {
        return Some(id.to_string());
    }
    if let Some(t) = store.shipments.get(id).and_then(|s| s.tracker.as_ref()) {
        return Some(t.id.clone());
    }
    store
        .shipments
        .values()
        .filter_map(|s| s.tracker.as_ref())
        .find(|t| t.tracking_code.as_deref() == Some(id))
        .map(|t| t.id.clone())
}

fn recount_trackers(shared: &Shared, store: &Store) {
    let mut by_status: BTreeMap<String, u64> = BTreeMap::new();
    for state in store.trackers.values() {
        if let Some(status) = store
            .shipments
            .get(&state.shipment_id)
            .and_then(|s| s.tracker.as_ref())
            .and_then(|t| t.status.clone())
        {
            *by_status.entry(status).or_default() += 1;
        }
    }
    shared
        .core
        .record(|r| r["trackers_by_status"] = json!(by_status));
}

fn location_of(a: Option<&Address>) -> TrackingLocation {
    TrackingLocation {
        object: Some("TrackingLocation".into()),
        city: a.and_then(|a| a.city.clone()),
        state: a.and_then(|a| a.state.clone()),
        country: a.and_then(|a| a.country.clone()),
        zip: a.and_then(|a| a.zip.clone()),
    }
}

/// A tracker event for `tracker`, recorded as its last event.
fn tracker_event(
    shared: &Shared,
    store: &mut Store,
    tracker: &Tracker,
    description: &str,
    previous_status: Option<&str>,
) -> Outgoing {
    let at = stamp(now());
    let event_id = new_id("evt");
    let targets: Vec<(String, Option<String>)> = store
        .webhooks
        .iter()
        .filter(|h| h.hook.disabled_at.is_none())
        .map(|h| (h.hook.url.clone(), h.secret.clone()))
        .collect();
    let body = json!({
        "id": event_id,
        "object": "Event",
        "mode": "test",
        "description": description,
        "previous_attributes": previous_status.map_or(json!({}), |s| json!({ "status": s })),
        "created_at": at,
        "updated_at": at,
        "pending_urls": targets.iter().map(|(u, _)| u.clone()).collect::<Vec<_>>(),
        "completed_urls": [],
        "status": "pending",
        "result": tracker,
    });
    let body = Arc::new(body.to_string());
    if let Some(state) = store.trackers.get_mut(&tracker.id) {
        state.last_event = Some((event_id.clone(), body.clone()));
    }
    shared.core.record(|r| bump(r, "events_created", 1));
    Outgoing {
        event_id,
        body,
        targets,
    }
}

/// One step for `only` (or every tracker not delivered); with `due`, only
/// trackers whose last step is at least that old.
fn advance(shared: &Shared, only: Option<&str>, due: Option<Duration>) -> Vec<Outgoing> {
    let mut store = shared.lock();
    let mut ids: Vec<String> = match only {
        Some(id) => vec![id.to_string()],
        None => store.trackers.keys().cloned().collect(),
    };
    ids.sort();
    let mut out = Vec::new();
    for trk in ids {
        let Some(state) = store.trackers.get(&trk) else {
            continue;
        };
        if due.is_some_and(|d| state.last_step.elapsed() < d) {
            continue;
        }
        let shp = state.shipment_id.clone();
        let Some(shipment) = store.shipments.get_mut(&shp) else {
            continue;
        };
        // A voided label never travels.
        if matches!(
            shipment.refund_status.as_deref(),
            Some("submitted" | "refunded")
        ) {
            continue;
        }
        let from = shipment.from_address.clone();
        let to = shipment.to_address.clone();
        let Some(tracker) = shipment.tracker.as_mut() else {
            continue;
        };
        let current = tracker.status.clone().unwrap_or_default();
        let Some(pos) = TRACKER_STEPS.iter().position(|s| *s == current) else {
            continue;
        };
        let Some(next) = TRACKER_STEPS.get(pos + 1).copied() else {
            continue; // delivered
        };
        // Scan times strictly increase, even for steps asked in one second.
        let last = tracker
            .tracking_details
            .last()
            .and_then(|d| d.datetime.as_deref())
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc));
        let mut at = now();
        if let Some(last) = last {
            at = at.max(last + chrono::Duration::seconds(1));
        }
        let carrier = tracker.carrier.clone().unwrap_or_default();
        let (message, place) = match next {
            "in_transit" => (format!("Departed {carrier} origin facility"), from.as_ref()),
            "out_for_delivery" => ("Out for Delivery".to_string(), to.as_ref()),
            _ => ("Delivered, In/At Mailbox".to_string(), to.as_ref()),
        };
        tracker.tracking_details.push(TrackingDetail {
            object: Some("TrackingDetail".into()),
            message: Some(message),
            description: None,
            status: Some(next.into()),
            status_detail: Some("status_update".into()),
            datetime: Some(stamp(at)),
            source: Some(carrier),
            carrier_code: None,
            tracking_location: Some(location_of(place)),
        });
        tracker.status = Some(next.into());
        tracker.status_detail = Some("status_update".into());
        tracker.updated_at = Some(stamp(now()));
        if next == "delivered" {
            tracker.signed_by = Some("SANDBOX".into());
        }
        let snapshot = tracker.clone();
        shipment.updated_at = Some(stamp(now()));
        if let Some(state) = store.trackers.get_mut(&trk) {
            state.last_step = Instant::now();
        }
        out.push(tracker_event(
            shared,
            &mut store,
            &snapshot,
            "tracker.updated",
            Some(&current),
        ));
    }
    recount_trackers(shared, &store);
    out
}

fn replay_outgoing(shared: &Shared, id: &str) -> Option<Outgoing> {
    let store = shared.lock();
    let trk = tracker_id_for(&store, id)?;
    let (event_id, body) = store.trackers.get(&trk)?.last_event.clone()?;
    let targets = store
        .webhooks
        .iter()
        .filter(|h| h.hook.disabled_at.is_none())
        .map(|h| (h.hook.url.clone(), h.secret.clone()))
        .collect();
    Some(Outgoing {
        event_id,
        body,
        targets,
    })
}

/// POST one event to one webhook, retrying with backoff; true once delivered.
async fn deliver_one(shared: &Shared, url: &str, secret: Option<&str>, body: &Arc<String>) -> bool {
    let attempts = shared.opts.webhook_attempts.max(1);
    for attempt in 0..attempts {
        let mut rb = shared
            .http
            .post(url)
            .header(header::CONTENT_TYPE, "application/json")
            .body(body.as_str().to_owned());
        if let Some(secret) = secret {
            rb = rb.header(HEADER_SIGNATURE, sign_webhook(secret, body.as_bytes()));
        }
        match rb.send().await {
            Ok(r) if r.status().is_success() => {
                shared.core.record(|r| bump(r, "webhooks_sent", 1));
                return true;
            }
            _ => shared
                .core
                .record(|r| bump(r, "webhook_attempts_failed", 1)),
        }
        if attempt + 1 < attempts {
            let delay = shared
                .opts
                .webhook_retry_base_ms
                .saturating_mul(1u64 << attempt.min(16))
                .min(shared.opts.webhook_retry_max_ms);
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
    }
    shared.core.record(|r| bump(r, "webhooks_failed", 1));
    false
}

/// Deliver events in order; each event goes to its webhooks concurrently.
async fn deliver_all(shared: &Shared, events: Vec<Outgoing>) -> DeliveryReport {
    let mut report = DeliveryReport::default();
    for ev in events {
        let results = futures::future::join_all(
            ev.targets
                .iter()
                .map(|(url, secret)| deliver_one(shared, url, secret.as_deref(), &ev.body)),
        )
        .await;
        for ok in results {
            if ok {
                report.delivered += 1;
            } else {
                report.failed += 1;
            }
        }
        report.events.push(ev.event_id);
    }
    report
}

// ------------------------------------------------------------------ handlers

/// Count the request, roll for a fault, answer the early ones, check the key.
async fn gate(shared: &Shared, path: &str, headers: &HeaderMap) -> Result<Option<Fault>, Response> {
    shared.core.count_request(path);
    let fault = shared.core.decide_fault(path);
    match fault {
        Some(Fault::TooManyRequests { retry_after }) => {
            let mut resp = ep_error(
                StatusCode::TOO_MANY_REQUESTS,
                "RATE_LIMITED",
                "You have exceeded the rate limit. Please retry after a short wait.",
                vec![],
            );
            if let Ok(v) = format!("{:.1}", retry_after.as_secs_f64()).parse() {
                resp.headers_mut().insert(header::RETRY_AFTER, v);
            }
            return Err(resp);
        }
        Some(Fault::ServerError(code)) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return Err(ep_error(
                status,
                "INTERNAL_SERVER_ERROR",
                "We're sorry, something went wrong. If the problem persists please contact support@easypost.com (injected by the sandbox).",
                vec![],
            ));
        }
        Some(Fault::Timeout(d)) | Some(Fault::Slow(d)) => tokio::time::sleep(d).await,
        _ => {}
    }
    if shared.core.credentials_revoked() || !authorized(headers, &shared.opts.api_key) {
        return Err(unauthorized());
    }
    Ok(fault)
}

/// Apply the faults that act on an answer, then send it.
async fn finish(
    shared: &Shared,
    fault: Option<Fault>,
    status: StatusCode,
    mut body: Value,
) -> Response {
    if fault == Some(Fault::Malformed) {
        if let Some(rates) = body.get_mut("rates").and_then(Value::as_array_mut) {
            let i = shared.core.random_index(rates.len());
            if let Some(rate) = rates.get_mut(i) {
                rate["rate"] = json!("twelve dollars");
            }
        }
    }
    if let Some(Fault::TimeoutAfterSuccess(d)) = fault {
        if status.is_success() {
            tokio::time::sleep(d).await;
        }
    }
    json_response(status, &body)
}

#[allow(clippy::result_large_err)]
fn parse_json(body: &[u8]) -> Result<Value, Response> {
    serde_json::from_slice::<Value>(body).map_err(|_| bad_json())
}

async fn create_shipment(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let fault = match gate(&shared, "/v2/shipments", &headers).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let v = match parse_json(&body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let at = stamp(now());
    let mut errors = Vec::new();
    let Some(input) = v.get("shipment").and_then(Value::as_object) else {
        return ep_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "PARAMETER.REQUIRED",
            "Missing required parameter.",
            vec![field_error("shipment", "is required")],
        );
    };
    let to = address_from(
        input.get("to_address"),
        "shipment.to_address",
        &at,
        &mut errors,
    );
    let from = address_from(
        input.get("from_address"),
        "shipment.from_address",
        &at,
        &mut errors,
    );
    let (parcel, weight) = parcel_from(input.get("parcel"), &at, &mut errors);
    let reference = text_field(input, "reference", "shipment", &mut errors);
    let format = match input.get("options").filter(|o| !o.is_null()) {
        None => FileFormat::Png,
        Some(Value::Object(o)) => match o.get("label_format").filter(|f| !f.is_null()) {
            None => FileFormat::Png,
            Some(f) => match f.as_str().and_then(FileFormat::parse) {
                Some(f) => f,
                None => {
                    errors.push(field_error(
                        "shipment.options.label_format",
                        "must be one of PNG, PDF, ZPL, EPL2",
                    ));
                    FileFormat::Png
                }
            },
        },
        Some(_) => {
            errors.push(field_error("shipment.options", "must be an object"));
            FileFormat::Png
        }
    };
    let is_return = match input.get("is_return") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            errors.push(field_error("shipment.is_return", "must be a boolean"));
            false
        }
    };
    // A return label goes from the customer back to the sender: EasyPost
    // takes the outbound addresses and swaps them itself.
    let (from, to) = if is_return { (to, from) } else { (from, to) };
    if !errors.is_empty() {
        return ep_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "SHIPMENT.INVALID_PARAMS",
            "Unable to create shipment, one or more parameters were invalid.",
            errors,
        );
    }
    let id = new_id("shp");
    let shipment = Shipment {
        id: id.clone(),
        object: Some("Shipment".into()),
        created_at: Some(at.clone()),
        updated_at: Some(at.clone()),
        is_return: Some(is_return),
        messages: vec![],
        mode: Some("test".into()),
        options: Some(
            json!({"label_format": format.word(), "currency": "USD", "payment": {"type": "SENDER"}, "date_advance": 0}),
        ),
        reference,
        status: Some("unknown".into()),
        tracking_code: None,
        return_address: Some(from.clone()),
        buyer_address: Some(to.clone()),
        from_address: Some(from),
        to_address: Some(to),
        parcel: Some(parcel),
        postage_label: None,
        rates: make_rates(&id, weight, &at),
        selected_rate: None,
        tracker: None,
        refund_status: None,
        forms: vec![],
        fees: vec![],
    };
    let out = serde_json::to_value(&shipment).unwrap_or(Value::Null);
    {
        let mut store = shared.lock();
        store.formats.insert(id.clone(), format);
        store.shipments.insert(id, shipment);
    }
    shared.core.record(|r| {
        bump(r, "shipments_created", 1);
        if is_return {
            bump(r, "return_shipments_created", 1);
        }
    });
    finish(&shared, fault, StatusCode::CREATED, out).await
}

async fn get_shipment(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let fault = match gate(&shared, "/v2/shipments/{id}", &headers).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let found = shared
        .lock()
        .shipments
        .get(&id)
        .map(|s| serde_json::to_value(s).unwrap_or(Value::Null));
    match found {
        Some(v) => finish(&shared, fault, StatusCode::OK, v).await,
        None => not_found(),
    }
}

/// Where the label file is served: this sandbox as the client reached it.
fn label_url(headers: &HeaderMap, label_id: &str, format: FileFormat) -> String {
    let ext = format.extension();
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
        });
    match host {
        Some(h) => format!("http://{h}/labels/{label_id}.{ext}"),
        None => format!(
            "https://easypost-files.s3.us-west-2.amazonaws.com/files/postage_label/sandbox/{label_id}.{ext}"
        ),
    }
}

async fn buy_shipment(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let fault = match gate(&shared, "/v2/shipments/{id}/buy", &headers).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let v = match parse_json(&body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let rate_id = v
        .get("rate")
        .and_then(|r| r.get("id"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let at = stamp(now());
    let label_id = new_id("pl");

    // Check and buy under one lock: two concurrent buys cannot both succeed.
    let (out, event) = {
        let mut store = shared.lock();
        let format = store.formats.get(&id).copied().unwrap_or(FileFormat::Png);
        let label_url = label_url(&headers, &label_id, format);
        let Some(shipment) = store.shipments.get_mut(&id) else {
            return not_found();
        };
        if shipment.postage_label.is_some() {
            drop(store);
            shared
                .core
                .record(|r| bump(r, "buys_refused_postage_exists", 1));
            return ep_error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "SHIPMENT.POSTAGE.EXISTS",
                "Postage already exists for this shipment.",
                vec![],
            );
        }
        let Some(rate) = shipment.rates.iter().find(|r| r.id == rate_id).cloned() else {
            return ep_error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "SHIPMENT.MISSING_RATE",
                MISSING_RATE_MESSAGE,
                vec![],
            );
        };
        let tracking_code = tracking_code_for(&rate.carrier);
        let tracker_id = new_id("trk");
        let first = TrackingDetail {
            object: Some("TrackingDetail".into()),
            message: Some("Shipping Label Created".into()),
            description: None,
            status: Some("pre_transit".into()),
            status_detail: Some("status_update".into()),
            datetime: Some(at.clone()),
            source: Some(rate.carrier.clone()),
            carrier_code: None,
            tracking_location: Some(location_of(shipment.from_address.as_ref())),
        };
        let tracker = Tracker {
            id: tracker_id.clone(),
            object: Some("Tracker".into()),
            mode: Some("test".into()),
            tracking_code: Some(tracking_code.clone()),
            status: Some("pre_transit".into()),
            status_detail: Some("status_update".into()),
            created_at: Some(at.clone()),
            updated_at: Some(at.clone()),
            signed_by: None,
            weight: None,
            est_delivery_date: None,
            shipment_id: Some(id.clone()),
            carrier: Some(rate.carrier.clone()),
            tracking_details: vec![first],
            fees: vec![],
            carrier_detail: None,
            public_url: Some(public_url(&tracker_id)),
        };
        let amount = rate
            .rate
            .as_deref()
            .and_then(|r| Decimal::from_str(r).ok())
            .unwrap_or_default();
        shipment.postage_label = Some(PostageLabel {
            object: Some("PostageLabel".into()),
            id: label_id.clone(),
            created_at: Some(at.clone()),
            updated_at: Some(at.clone()),
            date_advance: Some(0),
            integrated_form: Some("none".into()),
            label_date: Some(at.clone()),
            label_resolution: Some(300),
            label_size: Some("4x6".into()),
            label_type: Some("default".into()),
            label_file_type: Some(format.content_type().into()),
            label_pdf_url: (format == FileFormat::Pdf).then(|| label_url.clone()),
            label_zpl_url: (format == FileFormat::Zpl).then(|| label_url.clone()),
            label_epl2_url: (format == FileFormat::Epl2).then(|| label_url.clone()),
            label_url: Some(label_url),
            label_file: None,
        });
        let mut selected = rate;
        selected.updated_at = Some(at.clone());
        shipment.selected_rate = Some(selected);
        shipment.tracking_code = Some(tracking_code);
        shipment.tracker = Some(tracker.clone());
        shipment.updated_at = Some(at.clone());
        shipment.fees = vec![
            Fee {
                object: Some("Fee".into()),
                kind: Some("LabelFee".into()),
                amount: Some(money(Decimal::ZERO, 5)),
                charged: Some(true),
                refunded: Some(false),
            },
            Fee {
                object: Some("Fee".into()),
                kind: Some("PostageFee".into()),
                amount: Some(money(amount, 5)),
                charged: Some(true),
                refunded: Some(false),
            },
        ];
        let reference = shipment
            .reference
            .clone()
            .unwrap_or_else(|| "(none)".into());
        let is_return = shipment.is_return == Some(true);
        let out = serde_json::to_value(&*shipment).unwrap_or(Value::Null);
        store.labels.insert(label_id, id.clone());
        store.trackers.insert(
            tracker_id,
            TrackerState {
                shipment_id: id.clone(),
                last_step: Instant::now(),
                last_event: None,
            },
        );
        shared.core.record(|r| {
            bump(r, "labels_total", 1);
            bump_in(r, "labels_by_reference", &reference);
            if is_return {
                bump(r, "return_labels_total", 1);
                bump_in(r, "return_labels_by_reference", &reference);
            }
        });
        let event = shared
            .opts
            .send_tracker_created
            .then(|| tracker_event(&shared, &mut store, &tracker, "tracker.created", None));
        recount_trackers(&shared, &store);
        (out, event)
    };
    if let Some(ev) = event.filter(|e| !e.targets.is_empty()) {
        let s = shared.clone();
        tokio::spawn(async move {
            deliver_all(&s, vec![ev]).await;
        });
    }
    finish(&shared, fault, StatusCode::OK, out).await
}

#[derive(Deserialize, Default)]
struct WebhookBody {
    #[serde(default)]
    webhook: Option<Value>,
}

async fn create_webhook(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let fault = match gate(&shared, "/v2/webhooks", &headers).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let parsed: WebhookBody = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(_) => return bad_json(),
    };
    let w = parsed.webhook.unwrap_or(Value::Null);
    let url = w
        .get("url")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .trim();
    let valid = url::Url::parse(url).is_ok_and(|u| matches!(u.scheme(), "http" | "https"));
    if !valid {
        return ep_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "WEBHOOK.INVALID",
            "The webhook url must be a valid http or https URL.",
            vec![field_error("webhook.url", "must be a valid URL")],
        );
    }
    let secret = w
        .get("webhook_secret")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    let hook = Webhook {
        id: new_id("hook"),
        object: Some("Webhook".into()),
        mode: Some("test".into()),
        url: url.to_string(),
        created_at: Some(stamp(now())),
        disabled_at: None,
    };
    let out = serde_json::to_value(&hook).unwrap_or(Value::Null);
    shared.lock().webhooks.push(HookEntry { hook, secret });
    finish(&shared, fault, StatusCode::CREATED, out).await
}

async fn list_webhooks(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    let fault = match gate(&shared, "/v2/webhooks", &headers).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let list = WebhookList {
        webhooks: shared
            .lock()
            .webhooks
            .iter()
            .map(|h| h.hook.clone())
            .collect(),
    };
    let out = serde_json::to_value(&list).unwrap_or(Value::Null);
    finish(&shared, fault, StatusCode::OK, out).await
}

async fn delete_webhook(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let fault = match gate(&shared, "/v2/webhooks/{id}", &headers).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let removed = {
        let mut store = shared.lock();
        let before = store.webhooks.len();
        store.webhooks.retain(|h| h.hook.id != id);
        store.webhooks.len() != before
    };
    if !removed {
        return not_found();
    }
    finish(&shared, fault, StatusCode::OK, json!({})).await
}

async fn label_image(State(shared): State<Arc<Shared>>, Path(file): Path<String>) -> Response {
    let Some((label_id, ext)) = file.rsplit_once('.') else {
        return not_found();
    };
    let found = {
        let store = shared.lock();
        store.labels.get(label_id).and_then(|shp| {
            let format = store.formats.get(shp).copied().unwrap_or(FileFormat::Png);
            let s = store.shipments.get(shp)?;
            let carrier = s
                .selected_rate
                .as_ref()
                .map(|r| r.carrier.clone())
                .unwrap_or_default();
            let code = s.tracking_code.clone().unwrap_or_default();
            Some((format, carrier, code))
        })
    };
    match found {
        Some((format, carrier, code)) if format.extension() == ext => {
            let (content_type, bytes) = format.document(&carrier, &code);
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, content_type)],
                bytes,
            )
                .into_response()
        }
        _ => not_found(),
    }
}

async fn refund_shipment(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let fault = match gate(&shared, "/v2/shipments/{id}/refund", &headers).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    // EasyPost's refund takes no parameters; a body, if any, must be JSON.
    if !body.iter().all(u8::is_ascii_whitespace) {
        if let Err(r) = parse_json(&body) {
            return r;
        }
    }
    let at = stamp(now());
    let (out, voided) = {
        let mut store = shared.lock();
        let Some(shipment) = store.shipments.get_mut(&id) else {
            return not_found();
        };
        if shipment.postage_label.is_none() {
            return ep_error(
                StatusCode::UNPROCESSABLE_ENTITY,
                REFUND_FAILURE,
                "Unable to refund a shipment that has no postage. Buy a label first.",
                vec![],
            );
        }
        if matches!(
            shipment.refund_status.as_deref(),
            Some("submitted" | "refunded")
        ) {
            return ep_error(
                StatusCode::UNPROCESSABLE_ENTITY,
                REFUND_FAILURE,
                "A refund has already been requested for this shipment.",
                vec![],
            );
        }
        let scanned = shipment
            .tracker
            .as_ref()
            .and_then(|t| t.status.as_deref())
            .is_some_and(|st| st != "pre_transit");
        let carrier = shipment
            .selected_rate
            .as_ref()
            .map(|r| r.carrier.clone())
            .unwrap_or_default();
        let status = if scanned {
            "rejected"
        } else if carrier == "USPS" {
            "submitted"
        } else {
            "refunded"
        };
        shipment.refund_status = Some(status.into());
        shipment.updated_at = Some(at);
        if status == "refunded" {
            for fee in &mut shipment.fees {
                fee.refunded = Some(true);
            }
        }
        let reference = shipment
            .reference
            .clone()
            .unwrap_or_else(|| "(none)".into());
        let out = serde_json::to_value(&*shipment).unwrap_or(Value::Null);
        (out, (status != "rejected").then_some(reference))
    };
    if let Some(reference) = voided {
        shared
            .core
            .record(|r| bump_in(r, "voids_by_reference", &reference));
    }
    finish(&shared, fault, StatusCode::OK, out).await
}

#[derive(Deserialize, Default)]
struct SubscribeBody {
    #[serde(default)]
    url: String,
}

/// `POST /_sandbox/subscribe`: a webhook signed with the configured secret.
async fn subscribe(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let req: SubscribeBody = match parse_body(&body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let url = req.url.trim();
    if !url::Url::parse(url).is_ok_and(|u| matches!(u.scheme(), "http" | "https")) {
        return crate::sandbox::bad_request("`url` must be an http(s) URL");
    }
    let hook = Webhook {
        id: new_id("hook"),
        object: Some("Webhook".into()),
        mode: Some("test".into()),
        url: url.to_string(),
        created_at: Some(stamp(now())),
        disabled_at: None,
    };
    let out = serde_json::to_value(&hook).unwrap_or(Value::Null);
    shared.lock().webhooks.push(HookEntry {
        hook,
        secret: shared.opts.webhook_secret.clone().filter(|s| !s.is_empty()),
    });
    json_response(StatusCode::CREATED, &out)
}

async fn fallback() -> Response {
    not_found()
}

/// EasyPost's clients expect a JSON error body on every failure.
async fn method_not_allowed() -> Response {
    ep_error(
        StatusCode::METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
        "The request method is not supported for the requested resource.",
        vec![],
    )
}

async fn advance_all(State(shared): State<Arc<Shared>>) -> Response {
    let out = advance(&shared, None, None);
    let report = deliver_all(&shared, out).await;
    json_response(StatusCode::OK, &json!(report))
}

async fn advance_one(State(shared): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    let trk = tracker_id_for(&shared.lock(), &id);
    let Some(trk) = trk else {
        return not_found();
    };
    let out = advance(&shared, Some(&trk), None);
    let report = deliver_all(&shared, out).await;
    json_response(StatusCode::OK, &json!(report))
}

async fn replay(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    // No options yet; a body, if any, must still be JSON.
    if let Err(r) = parse_body::<Value>(&body) {
        return r;
    }
    let Some(out) = replay_outgoing(&shared, &id) else {
        return not_found();
    };
    let report = deliver_all(&shared, vec![out]).await;
    json_response(StatusCode::OK, &json!(report))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_are_exact_and_grow_with_weight() {
        let s = &SERVICES[1]; // USPS Priority
        assert_eq!(money(price(s, Decimal::new(8, 0)), 2), "8.70");
        assert_eq!(money(price(s, Decimal::new(16, 0)), 2), "8.70");
        assert_eq!(money(price(s, Decimal::new(659, 1)), 2), "14.50");
        let rates = make_rates("shp_x", Decimal::new(20, 0), "t");
        assert_eq!(rates.len(), SERVICES.len());
        assert!(rates
            .iter()
            .all(|r| r.id.starts_with("rate_") && r.id.len() == 37));
        assert!(rates
            .iter()
            .all(|r| r.rate.as_deref().is_some_and(|p| p.contains('.'))));
    }

    #[test]
    fn auth_takes_bearer_or_basic() {
        let key = "EZTK123";
        let mut h = HeaderMap::new();
        assert!(!authorized(&h, key));
        h.insert(header::AUTHORIZATION, "Bearer EZTK123".parse().unwrap());
        assert!(authorized(&h, key));
        h.insert(header::AUTHORIZATION, "Bearer EZTK124".parse().unwrap());
        assert!(!authorized(&h, key));
        let basic = base64::engine::general_purpose::STANDARD.encode("EZTK123:");
        h.insert(
            header::AUTHORIZATION,
            format!("Basic {basic}").parse().unwrap(),
        );
        assert!(authorized(&h, key));
        h.insert(header::AUTHORIZATION, "Basic %%%".parse().unwrap());
        assert!(!authorized(&h, key));
        assert!(!authorized(&h, ""));
    }

    #[test]
    fn ids_and_urls_look_like_easyposts() {
        let id = new_id("shp");
        assert!(id.starts_with("shp_") && id.len() == 36, "{id}");
        // The documented tracker's public URL is base64("v1:" + id).
        assert_eq!(
            public_url("trk_c801f8fb13804c1bb8cbe0c3c750a8e7"),
            "https://track.easypost.com/djE6dHJrX2M4MDFmOGZiMTM4MDRjMWJiOGNiZTBjM2M3NTBhOGU3"
        );
        assert_eq!(tracking_code_for("USPS").len(), 22);
        assert!(tracking_code_for("UPS").starts_with("1Z"));
    }
}
