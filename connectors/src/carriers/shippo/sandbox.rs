//! A local imitation of Shippo's API, for tests, the demo and the benchmark.
//!
//! Vendor surface (auth `Authorization: ShippoToken <token>`, 401 with
//! `{"detail": ...}` otherwise; paths with or without Shippo's trailing slash):
//! - `POST /shipments` — `{address_from, address_to, parcels[], async,
//!   metadata}` → 201 with a `Shipment` rated for USPS and UPS, priced
//!   deterministically from the total weight and the parcel count; invalid
//!   input → 400 with field errors (`{"parcels": [{"weight": [...]}]}`).
//! - `GET /shipments/{id}`; `GET /rates/{id}`.
//! - `POST /transactions` — `{rate, label_file_type, async, metadata}` → 201
//!   with a `Transaction` (`status: SUCCESS`, `label_url`, `label_file_type`,
//!   `tracking_number`). `label_file_type` must be one of Shippo's tokens,
//!   spelled exactly (`PNG`, `PNG_2.3x7.5`, `PDF`, `PDF_2.3x7.5`, `PDF_4x6`,
//!   `PDF_4x8`, `PDF_A4`, `PDF_A5`, `PDF_A6`, `ZPLII`); anything else → 400
//!   `{"label_file_type": ["\"X\" is not a valid choice."]}`; absent → `PDF`
//!   (the dashboard default of a new account).
//!   A second purchase for a shipment that already has a label does not make
//!   another: the existing successful transaction is answered again (Shippo's
//!   own answer is not documented). A shipment to ZIP `00000` fails with
//!   `status: ERROR` and `messages`, as Shippo reports carrier refusals.
//! - `GET /transactions?rate=&object_status=&page=&results=` (newest first,
//!   `{next, previous, results}`) and `GET /transactions/{id}`.
//! - `POST /refunds` — `{transaction, async}` → 201 with a `Refund`: UPS labels
//!   `SUCCESS` at once, USPS labels `QUEUED`; a label already scanned (past
//!   pre-transit) `ERROR`. A second refund answers the first. `GET /refunds/{id}`.
//! - `GET /labels/{transaction}.{pdf|png|zpl}` — the label file (`label_url`,
//!   unauthenticated like Shippo's pre-signed links): a PDF on the page its
//!   `label_file_type` names (letter, 4×6, 4×8, A4, A5, A6, 2.3×7.5 in), a
//!   4×6 in PNG (also for `PNG_2.3x7.5`), or a ZPL II format.
//!
//! Limits: Shippo's published per-minute limits per token, for the test token
//! the sandbox accepts: POST 50 per resource, GET of one object 400, GET of a
//! list 10 ([`ShippoLimits::TEST_TOKEN`]); token buckets refilled over the
//! window, 429 with `Retry-After` and `{"detail": "Request was throttled..."}`.
//!
//! Trackers move PRE_TRANSIT → TRANSIT → TRANSIT (`out_for_delivery`) →
//! DELIVERED; each step is a `track_updated` webhook (`{"event", "test",
//! "data": Track}`) posted to every URL subscribed through
//! `POST /_sandbox/subscribe` exactly as given (it carries `?token=`), signed
//! with `Shippo-Auth-Signature` when the sandbox has an HMAC secret. Buying
//! sends the PRE_TRANSIT update. Deliveries that answer 408, 429, 5xx or do
//! not answer are retried (Shippo retries twice); other 4xx are final.
//!
//! Control surface: the shared `/_sandbox/faults|stats|reset-stats|credentials`
//! and the carrier contract routes. `stats.recorded`: `shipments_created`,
//! `labels_total`, `labels_by_reference`, `voids_by_reference`,
//! `transactions_returned_existing`, `transactions_failed`, `events_created`,
//! `webhooks_sent`, `webhooks_failed`, `webhook_attempts_failed`,
//! `trackers_by_status`; for return labels (`extra.is_return: true` on the
//! shipment, which swaps its addresses: the label goes from `address_to`
//! back to `address_from`) `return_shipments_created`,
//! `return_labels_total`, `return_labels_by_reference`.

use super::client::{delivery_id, sign_webhook, HEADER_SIGNATURE};
use super::wire::{
    Address, Page, Parcel, Rate, Refund, ServiceLevel, Shipment, Substatus, Track, TrackLocation,
    TrackingStatus as WireStatus, Transaction,
};
pub use super::{DEFAULT_API_TOKEN, DEFAULT_WEBHOOK_SECRET, DEFAULT_WEBHOOK_TOKEN};
use crate::carrier::LabelFormat;
use crate::sandbox::carrier::{label_document, label_pdf_page};
use crate::sandbox::{json_response, parse_body, Fault, SandboxCore};
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use chrono::{DateTime, SecondsFormat, Utc};
use rand::Rng;
use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashMap};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

/// The steps a sandbox tracker goes through: status and substatus code.
pub const TRACK_STEPS: [(&str, &str); 4] = [
    ("PRE_TRANSIT", "information_received"),
    ("TRANSIT", "package_accepted"),
    ("TRANSIT", "out_for_delivery"),
    ("DELIVERED", "delivered"),
];

const OWNER: &str = "sandbox@orderhub.test";

/// Requests allowed per window and token, by kind of call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShippoLimits {
    /// POST on one resource (shipments, transactions, refunds each).
    pub post: u32,
    /// GET of one object.
    pub get_one: u32,
    /// GET of a list.
    pub get_list: u32,
    pub window_ms: u64,
}

impl ShippoLimits {
    /// Shippo's published limits for a test token, per minute.
    pub const TEST_TOKEN: ShippoLimits = ShippoLimits {
        post: 50,
        get_one: 400,
        get_list: 10,
        window_ms: 60_000,
    };
    /// Shippo's published limits for a live token, per minute.
    pub const LIVE_TOKEN: ShippoLimits = ShippoLimits {
        post: 500,
        get_one: 4000,
        get_list: 50,
        window_ms: 60_000,
    };
    /// Enforced the same way, large enough for volume runs.
    pub const VOLUME: ShippoLimits = ShippoLimits {
        post: 50_000,
        get_one: 400_000,
        get_list: 10_000,
        window_ms: 60_000,
    };
}

/// How the sandbox behaves.
#[derive(Clone)]
pub struct ShippoSandboxOptions {
    /// The one API token accepted.
    pub api_token: String,
    /// When set, webhooks are signed with `Shippo-Auth-Signature` (HMAC as
    /// Shippo provisions it on request).
    pub hmac_secret: Option<String>,
    /// Every tracker not yet delivered moves one step this often; 0 = only
    /// through the control routes.
    pub advance_every_ms: u64,
    pub limits: ShippoLimits,
    /// Send the PRE_TRANSIT `track_updated` when a label is bought.
    pub send_on_purchase: bool,
    /// Delivery attempts per event and URL, the first included (Shippo: 3).
    pub webhook_attempts: u32,
    pub webhook_retry_base_ms: u64,
    pub webhook_retry_max_ms: u64,
    /// How long one delivery attempt may take (Shippo expects 2xx in 3 s).
    pub webhook_timeout_ms: u64,
}

impl Default for ShippoSandboxOptions {
    fn default() -> Self {
        Self {
            api_token: DEFAULT_API_TOKEN.into(),
            hmac_secret: None,
            advance_every_ms: 0,
            limits: ShippoLimits::TEST_TOKEN,
            send_on_purchase: true,
            webhook_attempts: 3,
            webhook_retry_base_ms: 200,
            webhook_retry_max_ms: 10_000,
            webhook_timeout_ms: 3_000,
        }
    }
}

impl ShippoSandboxOptions {
    pub fn with_token(api_token: &str) -> Self {
        Self {
            api_token: api_token.into(),
            ..Self::default()
        }
    }
}

impl std::fmt::Debug for ShippoSandboxOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShippoSandboxOptions")
            .field("signed", &self.hmac_secret.is_some())
            .field("advance_every_ms", &self.advance_every_ms)
            .field("limits", &self.limits)
            .field("webhook_attempts", &self.webhook_attempts)
            .finish_non_exhaustive()
    }
}

// ------------------------------------------------------------------ the world

struct ShipmentState {
    wire: Shipment,
    /// The successful transaction bought for it, if any.
    bought: Option<String>,
}

struct TxnState {
    wire: Transaction,
    shipment_id: String,
    format: LabelFormat,
    /// The `label_file_type` asked (or the default), e.g. `PDF_4x6`.
    file_type: String,
    carrier: String,
    reference: String,
}

struct TrackerState {
    txn_id: String,
    step: usize,
    track: Track,
    voided: bool,
    last_step: Instant,
    /// The last event sent, for replays: (id, body).
    last_event: Option<(String, Arc<String>)>,
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

#[derive(Default)]
struct Store {
    shipments: HashMap<String, ShipmentState>,
    /// Rate id → (shipment id, rate).
    rates: HashMap<String, (String, Rate)>,
    transactions: HashMap<String, TxnState>,
    /// Transaction ids, oldest first (lists answer newest first).
    txn_order: Vec<String>,
    /// By tracking number.
    trackers: BTreeMap<String, TrackerState>,
    /// Refunds by id, and transaction → refund id.
    refunds: HashMap<String, Refund>,
    refund_of: HashMap<String, String>,
    subscribers: Vec<String>,
    buckets: HashMap<String, Bucket>,
}

struct Shared {
    opts: ShippoSandboxOptions,
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
    targets: Vec<String>,
}

/// What a delivery round did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryReport {
    pub events: Vec<String>,
    pub delivered: u64,
    pub failed: u64,
}

/// The Shippo sandbox; clone it freely (clones share one world).
#[derive(Clone)]
pub struct ShippoSandbox {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for ShippoSandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShippoSandbox")
            .field("opts", &self.shared.opts)
            .finish_non_exhaustive()
    }
}

fn stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A Shippo-shaped object id: 32 lower-case hex characters.
fn new_id() -> String {
    format!("{:032x}", rand::rng().random::<u128>())
}

fn digits(n: usize) -> String {
    let mut rng = rand::rng();
    (0..n)
        .map(|_| char::from(b'0' + rng.random_range(0..10u8)))
        .collect()
}

fn tracking_number_for(provider: &str) -> String {
    match provider {
        "UPS" => format!("1Z{}", digits(16)),
        _ => format!("9400{}", digits(18)),
    }
}

fn tracking_url_for(provider: &str, number: &str) -> String {
    match provider {
        "UPS" => format!("https://www.ups.com/track?tracknum={number}"),
        _ => format!("https://tools.usps.com/go/TrackConfirmAction_input?origTrackNum={number}"),
    }
}

fn detail(status: StatusCode, message: &str) -> Response {
    json_response(status, &json!({ "detail": message }))
}

fn not_found() -> Response {
    detail(StatusCode::NOT_FOUND, "Not found.")
}

fn field_errors(errors: Map<String, Value>) -> Response {
    json_response(StatusCode::BAD_REQUEST, &Value::Object(errors))
}

fn required() -> Value {
    json!(["This field is required."])
}

fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn too_many(retry_after_secs: u64) -> Response {
    let mut resp = detail(
        StatusCode::TOO_MANY_REQUESTS,
        &format!("Request was throttled. Expected available in {retry_after_secs} seconds."),
    );
    if let Ok(v) = retry_after_secs.to_string().parse() {
        resp.headers_mut().insert(header::RETRY_AFTER, v);
    }
    resp
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

/// Money with two decimals (`11.60`).
fn money(d: Decimal) -> String {
    let mut d = d.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
    d.rescale(2);
    d.to_string()
}

struct Service {
    provider: &'static str,
    name: &'static str,
    token: &'static str,
    terms: &'static str,
    /// Cents for the first pound.
    base_cents: i64,
    /// Cents per further started pound of the whole shipment.
    per_lb_cents: i64,
    /// Cents per parcel beyond the first.
    per_parcel_cents: i64,
    days: u32,
}

/// The services rated, with Shippo's service level names and tokens.
const SERVICES: [Service; 4] = [
    Service {
        provider: "USPS",
        name: "Ground Advantage",
        token: "usps_ground_advantage",
        terms: "",
        base_cents: 540,
        per_lb_cents: 95,
        per_parcel_cents: 450,
        days: 4,
    },
    Service {
        provider: "USPS",
        name: "Priority Mail",
        token: "usps_priority",
        terms: "",
        base_cents: 870,
        per_lb_cents: 145,
        per_parcel_cents: 700,
        days: 2,
    },
    Service {
        provider: "UPS",
        name: "Ground",
        token: "ups_ground",
        terms: "",
        base_cents: 985,
        per_lb_cents: 110,
        per_parcel_cents: 800,
        days: 4,
    },
    Service {
        provider: "UPS",
        name: "2nd Day Air",
        token: "ups_second_day_air",
        terms: "",
        base_cents: 1990,
        per_lb_cents: 230,
        per_parcel_cents: 1500,
        days: 2,
    },
];

/// The price of `service` for `parcels` boxes weighing `weight_oz` together:
/// the first pound at the base price, each further started pound at the
/// per-pound price, each box beyond the first at the per-parcel price.
fn price(service: &Service, weight_oz: Decimal, parcels: usize) -> Decimal {
    let pounds = (weight_oz / Decimal::from(16)).ceil().max(Decimal::ONE);
    let extra = Decimal::from(parcels.saturating_sub(1) as u64);
    Decimal::new(service.base_cents, 2)
        + Decimal::new(service.per_lb_cents, 2) * (pounds - Decimal::ONE)
        + Decimal::new(service.per_parcel_cents, 2) * extra
}

/// The sandbox's carrier account id for a provider (stable).
fn carrier_account(provider: &str) -> String {
    let n: u128 = provider
        .bytes()
        .fold(0x078870331023437cb917f5187429b093u128, |acc, b| {
            acc.rotate_left(7) ^ u128::from(b)
        });
    format!("{n:032x}")
}

fn make_rates(shipment_id: &str, weight_oz: Decimal, parcels: usize, at: &str) -> Vec<Rate> {
    SERVICES
        .iter()
        .map(|s| {
            let p = money(price(s, weight_oz, parcels));
            Rate {
                object_id: new_id(),
                object_created: Some(at.into()),
                object_owner: Some(OWNER.into()),
                shipment: Some(shipment_id.into()),
                attributes: vec![],
                amount: Some(p.clone()),
                currency: Some("USD".into()),
                amount_local: Some(p),
                currency_local: Some("USD".into()),
                provider: Some(s.provider.into()),
                provider_image_75: Some(format!(
                    "https://shippo-static.s3.amazonaws.com/providers/75/{}.png",
                    s.provider
                )),
                provider_image_200: Some(format!(
                    "https://shippo-static.s3.amazonaws.com/providers/200/{}.png",
                    s.provider
                )),
                servicelevel: Some(ServiceLevel {
                    name: Some(s.name.into()),
                    token: Some(s.token.into()),
                    terms: Some(s.terms.into()),
                    extended_token: Some(s.token.into()),
                    parent_servicelevel: None,
                }),
                estimated_days: Some(s.days),
                arrives_by: None,
                duration_terms: Some(format!("Delivery in {} business days.", s.days)),
                messages: vec![],
                carrier_account: Some(carrier_account(s.provider)),
                test: Some(true),
                zone: Some("1".into()),
            }
        })
        .collect()
}

// ---------------------------------------------------------------- validation

const DISTANCE_UNITS: [&str; 6] = ["cm", "in", "ft", "mm", "m", "yd"];
const MASS_UNITS: [&str; 4] = ["g", "oz", "lb", "kg"];

fn text_of(obj: &Map<String, Value>, key: &str, errors: &mut Map<String, Value>) -> Option<String> {
    match obj.get(key) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.trim().to_string()).filter(|s| !s.is_empty()),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(_) => {
            errors.insert(key.into(), json!(["Not a valid string."]));
            None
        }
    }
}

/// An address object; its errors keyed by field (DRF style).
fn address_from(v: Option<&Value>) -> Result<Address, Value> {
    let Some(obj) = v.and_then(Value::as_object) else {
        return Err(match v {
            None | Some(Value::Null) => required(),
            _ => json!({"non_field_errors": ["Invalid data. Expected a dictionary."]}),
        });
    };
    let mut errors = Map::new();
    let mut a = Address {
        object_id: Some(new_id()),
        is_complete: Some(true),
        name: text_of(obj, "name", &mut errors),
        company: text_of(obj, "company", &mut errors),
        street1: text_of(obj, "street1", &mut errors),
        street2: text_of(obj, "street2", &mut errors),
        city: text_of(obj, "city", &mut errors),
        state: text_of(obj, "state", &mut errors),
        zip: text_of(obj, "zip", &mut errors),
        country: text_of(obj, "country", &mut errors),
        phone: text_of(obj, "phone", &mut errors),
        email: text_of(obj, "email", &mut errors),
        is_residential: None,
    };
    for (k, val) in [
        ("street1", &a.street1),
        ("city", &a.city),
        ("zip", &a.zip),
        ("country", &a.country),
    ] {
        if val.is_none() && !errors.contains_key(k) {
            errors.insert(k.into(), required());
        }
    }
    if let Some(c) = a.country.as_mut() {
        *c = c.to_ascii_uppercase();
    }
    if errors.is_empty() {
        Ok(a)
    } else {
        Err(Value::Object(errors))
    }
}

/// Ounces per unit of mass.
fn oz_per(unit: &str) -> Decimal {
    match unit {
        "lb" => Decimal::from(16),
        "g" => Decimal::new(35274, 6),
        "kg" => Decimal::new(35274, 3),
        _ => Decimal::ONE,
    }
}

/// The parcels and their total weight in ounces; errors as a list with one
/// entry per parcel (`{}` for good ones), as DRF reports list items.
fn parcels_from(v: Option<&Value>) -> Result<(Vec<Parcel>, Decimal), Value> {
    let Some(list) = v.and_then(Value::as_array) else {
        return Err(match v {
            None | Some(Value::Null) => required(),
            _ => json!(["Expected a list of items."]),
        });
    };
    if list.is_empty() {
        return Err(json!(["This list may not be empty."]));
    }
    let mut out = Vec::new();
    let mut all_errors = Vec::new();
    let mut total = Decimal::ZERO;
    let mut bad = false;
    for item in list {
        let mut errors = Map::new();
        let Some(obj) = item.as_object() else {
            all_errors.push(json!({"non_field_errors": ["Invalid data. Expected a dictionary."]}));
            bad = true;
            continue;
        };
        let mut number = |k: &str, max: i64| -> Option<Decimal> {
            match obj.get(k).filter(|v| !v.is_null()) {
                None => {
                    errors.insert(k.into(), required());
                    None
                }
                Some(v) => match decimal_of(v) {
                    Some(d) if d > Decimal::ZERO && d <= Decimal::from(max) => Some(d),
                    _ => {
                        errors.insert(
                            k.into(),
                            json!([format!(
                                "Ensure this value is a number above 0, at most {max}."
                            )]),
                        );
                        None
                    }
                },
            }
        };
        let dims = [
            number("length", 10_000),
            number("width", 10_000),
            number("height", 10_000),
        ];
        let weight = number("weight", 100_000);
        let unit = |k: &str, allowed: &[&str], errors: &mut Map<String, Value>| match obj
            .get(k)
            .and_then(Value::as_str)
        {
            Some(u) if allowed.contains(&u) => Some(u.to_string()),
            Some(u) => {
                errors.insert(k.into(), json!([format!("\"{u}\" is not a valid choice.")]));
                None
            }
            None => {
                errors.insert(k.into(), required());
                None
            }
        };
        let distance_unit = unit("distance_unit", &DISTANCE_UNITS, &mut errors);
        let mass_unit = unit("mass_unit", &MASS_UNITS, &mut errors);
        if let (Some(w), Some(m)) = (weight, mass_unit.as_deref()) {
            total += w * oz_per(m);
        }
        if errors.is_empty() {
            let text = |d: Option<Decimal>| d.map(|d| d.normalize().to_string());
            out.push(Parcel {
                object_id: Some(new_id()),
                length: text(dims[0]),
                width: text(dims[1]),
                height: text(dims[2]),
                distance_unit,
                weight: text(weight),
                mass_unit,
            });
            all_errors.push(json!({}));
        } else {
            bad = true;
            all_errors.push(Value::Object(errors));
        }
    }
    if bad {
        Err(Value::Array(all_errors))
    } else {
        Ok((out, total))
    }
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

// ------------------------------------------------------------------- sandbox

impl ShippoSandbox {
    pub fn new(opts: ShippoSandboxOptions) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_millis(opts.webhook_timeout_ms.max(1)))
            .user_agent("Shippo sandbox webhooks")
            .build()
            .unwrap_or_default();
        let core = SandboxCore::new();
        core.record(|r| {
            for key in [
                "shipments_created",
                "labels_total",
                "transactions_returned_existing",
                "transactions_failed",
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

    pub fn core(&self) -> Arc<SandboxCore> {
        self.shared.core.clone()
    }

    pub fn options(&self) -> &ShippoSandboxOptions {
        &self.shared.opts
    }

    /// The vendor routes, the carrier contract routes and the control routes.
    pub fn router(&self) -> Router {
        self.ensure_ticker();
        Router::new()
            .route("/shipments", post(create_shipment))
            .route("/shipments/", post(create_shipment))
            .route("/shipments/{id}", get(get_shipment))
            .route("/shipments/{id}/", get(get_shipment))
            .route("/rates/{id}", get(get_rate))
            .route("/rates/{id}/", get(get_rate))
            .route(
                "/transactions",
                post(create_transaction).get(list_transactions),
            )
            .route(
                "/transactions/",
                post(create_transaction).get(list_transactions),
            )
            .route("/transactions/{id}", get(get_transaction))
            .route("/transactions/{id}/", get(get_transaction))
            .route("/refunds", post(create_refund))
            .route("/refunds/", post(create_refund))
            .route("/refunds/{id}", get(get_refund))
            .route("/refunds/{id}/", get(get_refund))
            .route("/labels/{file}", get(label_file))
            .route("/_sandbox/subscribe", post(subscribe))
            .route("/_sandbox/trackers/advance", post(advance_all))
            .route("/_sandbox/trackers/{code}/advance", post(advance_one))
            .route("/_sandbox/trackers/{code}/replay", post(replay))
            .fallback(fallback)
            .method_not_allowed_fallback(method_not_allowed)
            .with_state(self.shared.clone())
            .merge(self.shared.core.control_routes())
    }

    /// Deliver tracking webhooks to `url` from now on.
    pub fn subscribe(&self, url: &str) {
        let mut store = self.shared.lock();
        if !store.subscribers.iter().any(|u| u == url) {
            store.subscribers.push(url.to_string());
        }
    }

    /// Move every tracker not yet delivered one step and deliver the events.
    pub async fn advance_trackers(&self) -> DeliveryReport {
        let out = advance(&self.shared, None, None);
        deliver_all(&self.shared, out).await
    }

    /// Move one tracker (by tracking number) one step; `None` if unknown.
    pub async fn advance_tracker(&self, tracking_number: &str) -> Option<DeliveryReport> {
        if !self.shared.lock().trackers.contains_key(tracking_number) {
            return None;
        }
        let out = advance(&self.shared, Some(tracking_number), None);
        Some(deliver_all(&self.shared, out).await)
    }

    /// A tracker's status and substatus code.
    pub fn tracker_status(&self, tracking_number: &str) -> Option<(String, String)> {
        let store = self.shared.lock();
        let (status, sub) = TRACK_STEPS.get(store.trackers.get(tracking_number)?.step)?;
        Some((status.to_string(), sub.to_string()))
    }

    /// Labels bought for this reference.
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

// ------------------------------------------------------------------ trackers

fn recount_trackers(shared: &Shared, store: &Store) {
    let mut by_status: BTreeMap<String, u64> = BTreeMap::new();
    for t in store.trackers.values().filter(|t| !t.voided) {
        if let Some((status, sub)) = TRACK_STEPS.get(t.step) {
            let key = if *sub == "out_for_delivery" {
                format!("{status}:{sub}")
            } else {
                status.to_string()
            };
            *by_status.entry(key).or_default() += 1;
        }
    }
    shared
        .core
        .record(|r| r["trackers_by_status"] = json!(by_status));
}

fn location_of(a: Option<&Address>) -> TrackLocation {
    TrackLocation {
        city: a.and_then(|a| a.city.clone()),
        state: a.and_then(|a| a.state.clone()),
        zip: a.and_then(|a| a.zip.clone()),
        country: a.and_then(|a| a.country.clone()),
    }
}

/// The status entry for step `step` of a tracker at `at`.
fn step_status(step: usize, at: DateTime<Utc>, place: TrackLocation, carrier: &str) -> WireStatus {
    let (status, code) = TRACK_STEPS
        .get(step)
        .copied()
        .unwrap_or(("UNKNOWN", "other"));
    let (text, details) = match code {
        "information_received" => (
            "Information about the package received.",
            "Shipping label created, the carrier awaits the item.".to_string(),
        ),
        "package_accepted" => (
            "Package has been accepted into the carrier network for delivery.",
            format!("Accepted at {carrier} origin facility."),
        ),
        "out_for_delivery" => (
            "Package is out for delivery.",
            "Out for delivery.".to_string(),
        ),
        _ => (
            "Package has been delivered.",
            "Your shipment has been delivered at the destination mailbox.".to_string(),
        ),
    };
    WireStatus {
        object_created: Some(stamp(Utc::now())),
        object_updated: Some(stamp(Utc::now())),
        object_id: Some(new_id()),
        status: Some(status.into()),
        substatus: Some(Substatus {
            code: Some(code.into()),
            text: Some(text.into()),
            action_required: Some(false),
        }),
        status_details: Some(details),
        status_date: Some(at.to_rfc3339_opts(SecondsFormat::Secs, true)),
        location: Some(place),
    }
}

/// A `track_updated` event for a tracker, recorded as its last event.
fn track_event(shared: &Shared, store: &mut Store, number: &str) -> Option<Outgoing> {
    let targets = store.subscribers.clone();
    let state = store.trackers.get_mut(number)?;
    let body = json!({ "event": "track_updated", "test": true, "data": state.track });
    let body = Arc::new(body.to_string());
    let event_id = delivery_id(body.as_bytes());
    state.last_event = Some((event_id.clone(), body.clone()));
    shared.core.record(|r| bump(r, "events_created", 1));
    Some(Outgoing {
        event_id,
        body,
        targets,
    })
}

/// One step for `only` (or every tracker not delivered); with `due`, only
/// trackers whose last step is at least that old.
fn advance(shared: &Shared, only: Option<&str>, due: Option<Duration>) -> Vec<Outgoing> {
    let mut store = shared.lock();
    let numbers: Vec<String> = match only {
        Some(n) => vec![n.to_string()],
        None => store.trackers.keys().cloned().collect(),
    };
    let mut out = Vec::new();
    for number in numbers {
        let (from, to, carrier) = {
            let Some(t) = store.trackers.get(&number) else {
                continue;
            };
            if t.voided || t.step + 1 >= TRACK_STEPS.len() {
                continue;
            }
            if due.is_some_and(|d| t.last_step.elapsed() < d) {
                continue;
            }
            let Some(txn) = store.transactions.get(&t.txn_id) else {
                continue;
            };
            let shp = store.shipments.get(&txn.shipment_id);
            (
                location_of(shp.and_then(|s| s.wire.address_from.as_ref())),
                location_of(shp.and_then(|s| s.wire.address_to.as_ref())),
                txn.carrier.clone(),
            )
        };
        let Some(t) = store.trackers.get_mut(&number) else {
            continue;
        };
        let next = t.step + 1;
        // Scan times strictly increase, even for steps asked in one second.
        let last = t
            .track
            .tracking_status
            .as_ref()
            .and_then(|s| s.status_date.as_deref())
            .and_then(|d| DateTime::parse_from_rfc3339(d).ok())
            .map(|d| d.with_timezone(&Utc));
        let mut at = Utc::now();
        if let Some(last) = last {
            at = at.max(last + chrono::Duration::seconds(1));
        }
        let place = if next == 1 { from } else { to };
        let status = step_status(next, at, place, &carrier);
        t.track.tracking_history.push(status.clone());
        t.track.tracking_status = Some(status);
        t.step = next;
        t.last_step = Instant::now();
        let txn_id = t.txn_id.clone();
        if let Some(txn) = store.transactions.get_mut(&txn_id) {
            txn.wire.tracking_status = Some(json!(TRACK_STEPS[next].0));
            txn.wire.object_updated = Some(stamp(Utc::now()));
        }
        if let Some(ev) = track_event(shared, &mut store, &number) {
            out.push(ev);
        }
    }
    recount_trackers(shared, &store);
    out
}

fn replay_outgoing(shared: &Shared, number: &str) -> Option<Outgoing> {
    let store = shared.lock();
    let (event_id, body) = store.trackers.get(number)?.last_event.clone()?;
    Some(Outgoing {
        event_id,
        body,
        targets: store.subscribers.clone(),
    })
}

/// POST one event to one URL, retrying as Shippo does; true once delivered.
async fn deliver_one(shared: &Shared, url: &str, body: &Arc<String>) -> bool {
    let attempts = shared.opts.webhook_attempts.max(1);
    for attempt in 0..attempts {
        let mut rb = shared
            .http
            .post(url)
            .header(header::CONTENT_TYPE, "application/json")
            .body(body.as_str().to_owned());
        if let Some(secret) = &shared.opts.hmac_secret {
            rb = rb.header(
                HEADER_SIGNATURE,
                sign_webhook(secret, Utc::now().timestamp(), body.as_bytes()),
            );
        }
        let retry = match rb.send().await {
            Ok(r) if r.status().is_success() => {
                shared.core.record(|r| bump(r, "webhooks_sent", 1));
                return true;
            }
            // Shippo retries 408, 429 and 5xx; any other answer is final.
            Ok(r) => {
                let s = r.status();
                s == StatusCode::REQUEST_TIMEOUT
                    || s == StatusCode::TOO_MANY_REQUESTS
                    || s.is_server_error()
            }
            Err(_) => true,
        };
        shared
            .core
            .record(|r| bump(r, "webhook_attempts_failed", 1));
        if !retry {
            break;
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

/// Deliver events in order; each event goes to its URLs concurrently.
async fn deliver_all(shared: &Shared, events: Vec<Outgoing>) -> DeliveryReport {
    let mut report = DeliveryReport::default();
    for ev in events {
        let results = futures::future::join_all(
            ev.targets
                .iter()
                .map(|url| deliver_one(shared, url, &ev.body)),
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

#[derive(Clone, Copy)]
enum Kind {
    Post,
    GetOne,
    GetList,
}

impl Shared {
    /// Take one request from the bucket of `key`; the refusal when empty.
    fn throttle(&self, key: &str, kind: Kind) -> Option<Response> {
        let l = self.opts.limits;
        let cap = f64::from(match kind {
            Kind::Post => l.post,
            Kind::GetOne => l.get_one,
            Kind::GetList => l.get_list,
        })
        .max(1.0);
        let per_sec = cap / (l.window_ms.max(1) as f64 / 1000.0);
        let mut store = self.lock();
        let b = store.buckets.entry(key.to_string()).or_insert(Bucket {
            tokens: cap,
            at: Instant::now(),
        });
        let elapsed = b.at.elapsed().as_secs_f64();
        b.at = Instant::now();
        b.tokens = (b.tokens + elapsed * per_sec).min(cap);
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            return None;
        }
        let wait = ((1.0 - b.tokens) / per_sec).ceil().max(1.0) as u64;
        drop(store);
        self.core.count_throttled();
        Some(too_many(wait))
    }
}

/// Count, limit, roll for a fault, answer the early ones, check the token.
async fn gate(
    shared: &Shared,
    path: &str,
    kind: Kind,
    headers: &HeaderMap,
) -> Result<Option<Fault>, Response> {
    shared.core.count_request(path);
    let bucket = format!(
        "{path}:{}",
        match kind {
            Kind::Post => "post",
            Kind::GetOne => "get",
            Kind::GetList => "list",
        }
    );
    if let Some(refused) = shared.throttle(&bucket, kind) {
        return Err(refused);
    }
    let fault = shared.core.decide_fault(path);
    match fault {
        Some(Fault::TooManyRequests { retry_after }) => {
            return Err(too_many(retry_after.as_secs_f64().ceil() as u64));
        }
        Some(Fault::ServerError(code)) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return Err(detail(
                status,
                "A server error occurred (injected by the sandbox).",
            ));
        }
        Some(Fault::Timeout(d)) | Some(Fault::Slow(d)) => tokio::time::sleep(d).await,
        _ => {}
    }
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::trim);
    let Some(auth) = auth.filter(|a| !a.is_empty()) else {
        return Err(detail(
            StatusCode::UNAUTHORIZED,
            "Authentication credentials were not provided.",
        ));
    };
    let (scheme, token) = auth.split_once(' ').unwrap_or((auth, ""));
    let ok = scheme.eq_ignore_ascii_case("ShippoToken")
        && !shared.opts.api_token.is_empty()
        && ct_eq(token.trim().as_bytes(), shared.opts.api_token.as_bytes())
        && !shared.core.credentials_revoked();
    if !ok {
        return Err(detail(StatusCode::UNAUTHORIZED, "Invalid token."));
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
                rate["amount"] = json!("twelve dollars");
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
    serde_json::from_slice::<Value>(body).map_err(|e| {
        detail(
            StatusCode::BAD_REQUEST,
            &format!("JSON parse error - {}", e.to_string().replace('"', "'")),
        )
    })
}

/// Where label files are served: this sandbox as the client reached it.
fn label_url(headers: &HeaderMap, file: &str) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
        });
    match host {
        Some(h) => format!("http://{h}/labels/{file}"),
        None => format!("https://deliver.goshippo.com/{file}"),
    }
}

async fn create_shipment(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let fault = match gate(&shared, "/shipments", Kind::Post, &headers).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let v = match parse_json(&body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let Some(obj) = v.as_object() else {
        return field_errors(Map::from_iter([(
            "non_field_errors".to_string(),
            json!(["Invalid data. Expected a dictionary."]),
        )]));
    };
    let mut errors = Map::new();
    let from = address_from(obj.get("address_from"))
        .map_err(|e| errors.insert("address_from".into(), e))
        .ok();
    let to = address_from(obj.get("address_to"))
        .map_err(|e| errors.insert("address_to".into(), e))
        .ok();
    let parcels = parcels_from(obj.get("parcels"))
        .map_err(|e| errors.insert("parcels".into(), e))
        .ok();
    let metadata = match obj.get("metadata") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.chars().count() <= 100 => Some(s.clone()),
        Some(Value::String(_)) => {
            errors.insert(
                "metadata".into(),
                json!(["Ensure this field has no more than 100 characters."]),
            );
            None
        }
        Some(_) => {
            errors.insert("metadata".into(), json!(["Not a valid string."]));
            None
        }
    };
    let is_return = match obj.get("extra") {
        None | Some(Value::Null) => false,
        Some(Value::Object(e)) => match e.get("is_return") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                errors.insert(
                    "extra".into(),
                    json!({"is_return": ["Must be a valid boolean."]}),
                );
                false
            }
        },
        Some(_) => {
            errors.insert(
                "extra".into(),
                json!(["Invalid data. Expected a dictionary."]),
            );
            false
        }
    };
    let (Some(from), Some(to), Some((parcels, weight))) = (from, to, parcels) else {
        return field_errors(errors);
    };
    // A return label goes from the customer back to the sender: Shippo
    // swaps the addresses of a shipment with `extra.is_return`.
    let (from, to) = if is_return { (to, from) } else { (from, to) };
    if !errors.is_empty() {
        return field_errors(errors);
    }
    let at = stamp(Utc::now());
    let id = new_id();
    let rates = make_rates(&id, weight, parcels.len(), &at);
    let shipment = Shipment {
        object_id: id.clone(),
        object_created: Some(at.clone()),
        object_updated: Some(at.clone()),
        object_owner: Some(OWNER.into()),
        status: Some("SUCCESS".into()),
        address_return: Some(from.clone()),
        address_from: Some(from),
        address_to: Some(to),
        parcels,
        shipment_date: Some(at.clone()),
        extra: Some(if is_return {
            json!({ "is_return": true })
        } else {
            json!({})
        }),
        customs_declaration: None,
        rates,
        carrier_accounts: vec![],
        messages: vec![],
        metadata: Some(metadata.unwrap_or_default()),
        test: Some(true),
    };
    let out = serde_json::to_value(&shipment).unwrap_or(Value::Null);
    {
        let mut store = shared.lock();
        for r in &shipment.rates {
            store
                .rates
                .insert(r.object_id.clone(), (id.clone(), r.clone()));
        }
        store.shipments.insert(
            id,
            ShipmentState {
                wire: shipment,
                bought: None,
            },
        );
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
    let fault = match gate(&shared, "/shipments/{id}", Kind::GetOne, &headers).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let found = shared
        .lock()
        .shipments
        .get(&id)
        .map(|s| serde_json::to_value(&s.wire).unwrap_or(Value::Null));
    match found {
        Some(v) => finish(&shared, fault, StatusCode::OK, v).await,
        None => not_found(),
    }
}

async fn get_rate(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let fault = match gate(&shared, "/rates/{id}", Kind::GetOne, &headers).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let found = shared
        .lock()
        .rates
        .get(&id)
        .map(|(_, r)| serde_json::to_value(r).unwrap_or(Value::Null));
    match found {
        Some(v) => finish(&shared, fault, StatusCode::OK, v).await,
        None => not_found(),
    }
}

fn invalid_pk(field: &str, id: &str) -> Response {
    field_errors(Map::from_iter([(
        field.to_string(),
        json!([format!("Invalid pk \"{id}\" - object does not exist.")]),
    )]))
}

async fn create_transaction(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let fault = match gate(&shared, "/transactions", Kind::Post, &headers).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let v = match parse_json(&body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let rate_id = v
        .get("rate")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .trim()
        .to_string();
    if rate_id.is_empty() {
        return field_errors(Map::from_iter([("rate".to_string(), required())]));
    }
    let file_type = match v.get("label_file_type") {
        None | Some(Value::Null) => "PDF".to_string(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    };
    let Some(format) = super::mapping::format_of_file_type(&file_type) else {
        return field_errors(Map::from_iter([(
            "label_file_type".to_string(),
            json!([format!("\"{file_type}\" is not a valid choice.")]),
        )]));
    };
    let metadata = v
        .get("metadata")
        .and_then(Value::as_str)
        .map(str::to_string);
    let at = stamp(Utc::now());
    let txn_id = new_id();
    let ext = format.as_str();
    let url = label_url(&headers, &format!("{txn_id}.{ext}"));

    // Check and buy under one lock: two concurrent purchases cannot both buy.
    let outcome = 'work: {
        let mut store = shared.lock();
        let Some((shipment_id, rate)) = store.rates.get(&rate_id).cloned() else {
            break 'work Outcome::Refused(invalid_pk("rate", &rate_id));
        };
        let Some(shp) = store.shipments.get(&shipment_id) else {
            break 'work Outcome::Refused(invalid_pk("rate", &rate_id));
        };
        let is_return =
            shp.wire.extra.as_ref().and_then(|e| e.get("is_return")) == Some(&Value::Bool(true));
        // Already bought: the label that exists, not a second one.
        if let Some(existing) = shp
            .bought
            .as_ref()
            .and_then(|t| store.transactions.get(t))
            .filter(|t| t.wire.status.as_deref() == Some("SUCCESS"))
        {
            break 'work Outcome::Existing(
                serde_json::to_value(&existing.wire).unwrap_or(Value::Null),
            );
        }
        let reference = metadata
            .clone()
            .filter(|m| !m.trim().is_empty())
            .or_else(|| shp.wire.metadata.clone().filter(|m| !m.trim().is_empty()))
            .unwrap_or_else(|| "(none)".into());
        let provider = rate.provider.clone().unwrap_or_default();
        let refused = shp.wire.address_to.as_ref().and_then(|a| a.zip.as_deref()) == Some("00000");
        let mut txn = Transaction {
            object_state: Some("VALID".into()),
            status: Some("SUCCESS".into()),
            object_created: Some(at.clone()),
            object_updated: Some(at.clone()),
            object_id: txn_id.clone(),
            object_owner: Some(OWNER.into()),
            test: Some(true),
            rate: Some(json!(rate_id)),
            tracking_number: None,
            tracking_status: Some(json!("UNKNOWN")),
            tracking_history: vec![],
            tracking_url_provider: None,
            eta: None,
            label_url: None,
            label_file_type: Some(file_type.clone()),
            commercial_invoice_url: None,
            messages: vec![],
            order: None,
            metadata: Some(metadata.clone().unwrap_or_default()),
            parcel: None,
            billing: Some(json!({ "payments": [] })),
            qr_code_url: None,
        };
        if refused {
            txn.status = Some("ERROR".into());
            txn.messages = vec![json!({
                "source": provider,
                "code": "",
                "text": "The address as submitted could not be found. Please check for excessive abbreviations in the street address line or in the City name."
            })];
            let out = serde_json::to_value(&txn).unwrap_or(Value::Null);
            store.txn_order.push(txn_id.clone());
            store.transactions.insert(
                txn_id,
                TxnState {
                    wire: txn,
                    shipment_id,
                    format,
                    file_type: file_type.clone(),
                    carrier: provider,
                    reference,
                },
            );
            break 'work Outcome::Failed(out);
        }
        let number = tracking_number_for(&provider);
        let days = i64::from(rate.estimated_days.unwrap_or(3));
        txn.tracking_number = Some(number.clone());
        txn.tracking_status = Some(json!("PRE_TRANSIT"));
        txn.tracking_url_provider = Some(tracking_url_for(&provider, &number));
        txn.eta = Some(stamp(Utc::now() + chrono::Duration::days(days)));
        txn.label_url = Some(url);
        let first = step_status(
            0,
            Utc::now(),
            location_of(shp.wire.address_from.as_ref()),
            &provider,
        );
        let from = location_of(shp.wire.address_from.as_ref());
        let to = location_of(shp.wire.address_to.as_ref());
        let level = rate.servicelevel.clone().unwrap_or_default();
        let track = Track {
            carrier: Some(provider.to_ascii_lowercase()),
            tracking_number: Some(number.clone()),
            address_from: Some(from),
            address_to: Some(to),
            transaction: Some(txn_id.clone()),
            original_eta: txn.eta.clone(),
            eta: txn.eta.clone(),
            servicelevel: Some(json!({ "token": level.token, "name": level.name })),
            metadata: Some(reference.clone()),
            tracking_status: Some(first.clone()),
            tracking_history: vec![first],
            messages: vec![],
            test: None,
        };
        let out = serde_json::to_value(&txn).unwrap_or(Value::Null);
        if let Some(s) = store.shipments.get_mut(&shipment_id) {
            s.bought = Some(txn_id.clone());
        }
        store.txn_order.push(txn_id.clone());
        store.transactions.insert(
            txn_id.clone(),
            TxnState {
                wire: txn,
                shipment_id,
                format,
                file_type: file_type.clone(),
                carrier: provider,
                reference: reference.clone(),
            },
        );
        store.trackers.insert(
            number.clone(),
            TrackerState {
                txn_id,
                step: 0,
                track,
                voided: false,
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
            .send_on_purchase
            .then(|| track_event(&shared, &mut store, &number))
            .flatten();
        recount_trackers(&shared, &store);
        Outcome::Bought(out, event)
    };
    let out = match outcome {
        Outcome::Refused(r) => return r,
        Outcome::Existing(out) => {
            shared
                .core
                .record(|r| bump(r, "transactions_returned_existing", 1));
            out
        }
        Outcome::Failed(out) => {
            shared.core.record(|r| bump(r, "transactions_failed", 1));
            out
        }
        Outcome::Bought(out, event) => {
            if let Some(ev) = event.filter(|e| !e.targets.is_empty()) {
                let s = shared.clone();
                tokio::spawn(async move {
                    deliver_all(&s, vec![ev]).await;
                });
            }
            out
        }
    };
    finish(&shared, fault, StatusCode::CREATED, out).await
}

/// What a purchase came to, decided under the lock.
enum Outcome {
    Refused(Response),
    Existing(Value),
    Failed(Value),
    Bought(Value, Option<Outgoing>),
}

#[derive(Debug, Default, Deserialize)]
struct ListQuery {
    rate: Option<String>,
    object_status: Option<String>,
    page: Option<String>,
    results: Option<String>,
}

async fn list_transactions(
    State(shared): State<Arc<Shared>>,
    Query(q): Query<ListQuery>,
    headers: HeaderMap,
) -> Response {
    let fault = match gate(&shared, "/transactions", Kind::GetList, &headers).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let page: usize = match q.page.as_deref().map(str::parse::<usize>) {
        None => 1,
        Some(Ok(p)) if p >= 1 => p,
        _ => return detail(StatusCode::NOT_FOUND, "Invalid page."),
    };
    let per_page: usize = q
        .results
        .as_deref()
        .and_then(|r| r.parse().ok())
        .unwrap_or(5)
        .clamp(1, 100);
    let matching: Vec<Value> = {
        let store = shared.lock();
        store
            .txn_order
            .iter()
            .rev()
            .filter_map(|id| store.transactions.get(id))
            .filter(|t| {
                q.rate
                    .as_deref()
                    .is_none_or(|r| t.wire.rate_id().as_deref() == Some(r))
            })
            .filter(|t| {
                q.object_status
                    .as_deref()
                    .is_none_or(|s| t.wire.status.as_deref() == Some(s))
            })
            .map(|t| serde_json::to_value(&t.wire).unwrap_or(Value::Null))
            .collect()
    };
    let start = (page - 1).saturating_mul(per_page);
    if start > 0 && start >= matching.len() {
        return detail(StatusCode::NOT_FOUND, "Invalid page.");
    }
    let results: Vec<Value> = matching
        .iter()
        .skip(start)
        .take(per_page)
        .cloned()
        .collect();
    let link = |p: usize| {
        let mut url = format!(
            "{}?page={p}&results={per_page}",
            label_url(&headers, "").replace("/labels/", "/transactions/")
        );
        if let Some(r) = &q.rate {
            url.push_str(&format!("&rate={r}"));
        }
        url
    };
    let page_out = Page {
        next: (start + per_page < matching.len()).then(|| link(page + 1)),
        previous: (page > 1).then(|| link(page - 1)),
        results,
    };
    let out = serde_json::to_value(&page_out).unwrap_or(Value::Null);
    finish(&shared, fault, StatusCode::OK, out).await
}

async fn get_transaction(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let fault = match gate(&shared, "/transactions/{id}", Kind::GetOne, &headers).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let found = shared
        .lock()
        .transactions
        .get(&id)
        .map(|t| serde_json::to_value(&t.wire).unwrap_or(Value::Null));
    match found {
        Some(v) => finish(&shared, fault, StatusCode::OK, v).await,
        None => not_found(),
    }
}

async fn create_refund(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let fault = match gate(&shared, "/refunds", Kind::Post, &headers).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let v = match parse_json(&body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let txn_id = v
        .get("transaction")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .trim()
        .to_string();
    if txn_id.is_empty() {
        return field_errors(Map::from_iter([("transaction".to_string(), required())]));
    }
    let at = stamp(Utc::now());
    let out = {
        let mut store = shared.lock();
        if let Some(existing) = store
            .refund_of
            .get(&txn_id)
            .and_then(|r| store.refunds.get(r))
        {
            serde_json::to_value(existing).unwrap_or(Value::Null)
        } else {
            let Some(txn) = store.transactions.get(&txn_id) else {
                return invalid_pk("transaction", &txn_id);
            };
            if txn.wire.status.as_deref() != Some("SUCCESS") {
                return field_errors(Map::from_iter([(
                    "transaction".to_string(),
                    json!(["Only successful transactions can be refunded."]),
                )]));
            }
            let number = txn.wire.tracking_number.clone().unwrap_or_default();
            let scanned = store.trackers.get(&number).is_some_and(|t| t.step > 0);
            let status = if scanned {
                "ERROR"
            } else if txn.carrier == "UPS" {
                "SUCCESS"
            } else {
                "QUEUED"
            };
            let reference = txn.reference.clone();
            let shipment_id = txn.shipment_id.clone();
            let refund = Refund {
                object_id: new_id(),
                object_created: Some(at.clone()),
                object_updated: Some(at.clone()),
                object_owner: Some(OWNER.into()),
                status: Some(status.into()),
                transaction: Some(txn_id.clone()),
                test: Some(true),
            };
            if status != "ERROR" {
                if let Some(t) = store.transactions.get_mut(&txn_id) {
                    t.wire.status = Some(
                        if status == "SUCCESS" {
                            "REFUNDED"
                        } else {
                            "REFUNDPENDING"
                        }
                        .into(),
                    );
                    t.wire.object_updated = Some(at.clone());
                }
                if let Some(s) = store.shipments.get_mut(&shipment_id) {
                    s.bought = None;
                }
                if let Some(t) = store.trackers.get_mut(&number) {
                    t.voided = true;
                }
                shared
                    .core
                    .record(|r| bump_in(r, "voids_by_reference", &reference));
            }
            store
                .refund_of
                .insert(txn_id.clone(), refund.object_id.clone());
            let out = serde_json::to_value(&refund).unwrap_or(Value::Null);
            store.refunds.insert(refund.object_id.clone(), refund);
            recount_trackers(&shared, &store);
            out
        }
    };
    finish(&shared, fault, StatusCode::CREATED, out).await
}

async fn get_refund(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let fault = match gate(&shared, "/refunds/{id}", Kind::GetOne, &headers).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let found = shared
        .lock()
        .refunds
        .get(&id)
        .map(|r| serde_json::to_value(r).unwrap_or(Value::Null));
    match found {
        Some(v) => finish(&shared, fault, StatusCode::OK, v).await,
        None => not_found(),
    }
}

async fn label_file(State(shared): State<Arc<Shared>>, Path(file): Path<String>) -> Response {
    let found = file.rsplit_once('.').and_then(|(id, ext)| {
        let store = shared.lock();
        let t = store.transactions.get(id)?;
        (t.format.as_str() == ext).then(|| {
            (
                t.format,
                t.file_type.clone(),
                t.carrier.clone(),
                t.wire.tracking_number.clone().unwrap_or_default(),
            )
        })
    });
    let Some((format, file_type, carrier, number)) = found else {
        return not_found();
    };
    // A PDF on the page its `label_file_type` names (`PDF` a letter sheet,
    // `PDF_4x6` 4×6 in, ...); PNG and ZPL as every carrier sandbox makes them.
    let (content_type, bytes) = match super::mapping::pdf_page_of_file_type(&file_type) {
        Some(page) => ("application/pdf", label_pdf_page(&carrier, &number, page)),
        None => label_document(format, &carrier, &number),
    };
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, content_type)],
        bytes,
    )
        .into_response()
}

#[derive(Debug, Default, Deserialize)]
struct SubscribeBody {
    #[serde(default)]
    url: String,
}

async fn subscribe(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let req: SubscribeBody = match parse_body(&body) {
        Ok(r) => r,
        Err(r) => return r,
    };
    let valid =
        url::Url::parse(req.url.trim()).is_ok_and(|u| matches!(u.scheme(), "http" | "https"));
    if !valid {
        return crate::sandbox::bad_request("`url` must be an http(s) URL");
    }
    let count = {
        let mut store = shared.lock();
        if !store.subscribers.iter().any(|u| u == req.url.trim()) {
            store.subscribers.push(req.url.trim().to_string());
        }
        store.subscribers.len()
    };
    json_response(
        StatusCode::OK,
        &json!({ "url": req.url.trim(), "subscribers": count }),
    )
}

async fn fallback() -> Response {
    not_found()
}

async fn method_not_allowed() -> Response {
    detail(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed.")
}

async fn advance_all(State(shared): State<Arc<Shared>>) -> Response {
    let out = advance(&shared, None, None);
    let report = deliver_all(&shared, out).await;
    json_response(StatusCode::OK, &json!(report))
}

async fn advance_one(State(shared): State<Arc<Shared>>, Path(code): Path<String>) -> Response {
    if !shared.lock().trackers.contains_key(&code) {
        return not_found();
    }
    let out = advance(&shared, Some(&code), None);
    let report = deliver_all(&shared, out).await;
    json_response(StatusCode::OK, &json!(report))
}

async fn replay(
    State(shared): State<Arc<Shared>>,
    Path(code): Path<String>,
    body: Bytes,
) -> Response {
    if let Err(r) = parse_body::<Value>(&body) {
        return r;
    }
    let Some(out) = replay_outgoing(&shared, &code) else {
        return not_found();
    };
    let report = deliver_all(&shared, vec![out]).await;
    json_response(StatusCode::OK, &json!(report))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_are_exact_and_grow_with_weight_and_parcels() {
        let s = &SERVICES[1]; // USPS Priority Mail
        assert_eq!(money(price(s, Decimal::new(8, 0), 1)), "8.70");
        assert_eq!(money(price(s, Decimal::new(16, 0), 1)), "8.70");
        assert_eq!(money(price(s, Decimal::new(40, 0), 1)), "11.60");
        assert_eq!(money(price(s, Decimal::new(64, 0), 2)), "20.05");
        let rates = make_rates("x", Decimal::new(20, 0), 1, "t");
        assert_eq!(rates.len(), SERVICES.len());
        assert!(rates.iter().all(|r| r.object_id.len() == 32));
    }

    #[test]
    fn parcels_are_validated_per_item() {
        let ok = json!([{"length": "10", "width": "5", "height": "2", "distance_unit": "in",
            "weight": "2", "mass_unit": "lb"}]);
        let (parcels, oz) = parcels_from(Some(&ok)).unwrap();
        assert_eq!(parcels.len(), 1);
        assert_eq!(oz, Decimal::from(32));
        let bad = json!([ok[0].clone(), {"weight": "0", "mass_unit": "stone"}]);
        let err = parcels_from(Some(&bad)).unwrap_err();
        assert_eq!(err[0], json!({}));
        assert!(err[1]["weight"].is_array());
        assert!(err[1]["mass_unit"][0].as_str().unwrap().contains("stone"));
        assert!(err[1]["length"].is_array());
        assert_eq!(parcels_from(None).unwrap_err(), required());
    }
}
