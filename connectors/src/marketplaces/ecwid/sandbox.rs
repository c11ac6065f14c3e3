//! A local Ecwid: the REST API v3 order endpoints the connector (and Ecwid's
//! own client libraries) use, in Ecwid's JSON shapes, with its auth, offset
//! paging, error bodies and published rate limit, plus the shared control
//! routes (see [`crate::sandbox`]).
//!
//! - `GET /api/v3/{storeId}/orders` (`updatedFrom`/`updatedTo`/`createdFrom`/
//!   `createdTo` as UNIX seconds or `yyyy-MM-dd HH:mm:ss Z`, `ids`, `offset`,
//!   `limit` ≤ 100) → `{"total","count","offset","limit","items"}`, newest
//!   order first (Ecwid documents no sort parameter; this is an assumption);
//! - `GET` / `PUT /api/v3/{storeId}/orders/{orderId}` → the order /
//!   `{"updateCount": 1}`; `GET /api/v3/{storeId}/profile` (`formatsAndUnits`);
//! - `GET /api/v3/{storeId}/products?sku=` → the same search envelope with
//!   the product listing that sku (Ecwid matches a product's or variation's
//!   sku exactly), `PUT /api/v3/{storeId}/products/{productId}` with
//!   `quantity` (and `unlimited`) → `{"updateCount": 1}`; the listings are
//!   the shared [`Catalog`] (product id `700000000 + index`);
//! - auth: `Authorization: Bearer secret_…` (or the legacy `?token=`); a wrong,
//!   missing or revoked token is `403 {"errorMessage","errorCode":"INVALID_API_TOKEN"}`;
//! - limit: N requests per token in any 60 s (600 published); beyond it
//!   `429` with `Retry-After: <seconds>` and `errorCode: RATE_LIMITED`.
//!
//! The store is in USD with weights in kilograms (one currency per Ecwid
//! store: generated orders keep their amounts whatever their buyer's country).

// Handlers answer with a vendor-shaped `Response` on every path, errors included.
#![allow(clippy::result_large_err)]

use super::client::sign_webhook;
use super::mapping::{format_ecwid_date, parse_ecwid_date};
pub use super::sandbox_profile as profile;
pub use super::SANDBOX_STORE_ID;
use crate::sandbox::generate::{generate_order, GenOrder};
use crate::sandbox::{
    json_response, parse_body, Catalog, Fault, Listing, SandboxCore, SandboxLimits, SandboxProfile,
};
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use chrono::{DateTime, Duration as ChronoDuration, Utc};
use rand::Rng;
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Ecwid's published limit: 600 requests per minute per token.
pub const PUBLISHED_PER_MINUTE: u32 = 600;
/// Still enforced, ten times the published one, for demos and benchmarks.
pub const VOLUME_PER_MINUTE: u32 = 6000;
const WINDOW: Duration = Duration::from_secs(60);
const FULFILLMENT_STATUSES: [&str; 11] = [
    "AWAITING_PROCESSING",
    "PROCESSING",
    "SHIPPED",
    "DELIVERED",
    "WILL_NOT_DELIVER",
    "RETURNED",
    "READY_FOR_PICKUP",
    "OUT_FOR_DELIVERY",
    "CUSTOM_FULFILLMENT_STATUS_1",
    "CUSTOM_FULFILLMENT_STATUS_2",
    "CUSTOM_FULFILLMENT_STATUS_3",
];
const PAYMENT_STATUSES: [&str; 9] = [
    "AWAITING_PAYMENT",
    "PAID",
    "CANCELLED",
    "REFUNDED",
    "PARTIALLY_REFUNDED",
    "INCOMPLETE",
    "CUSTOM_PAYMENT_STATUS_1",
    "CUSTOM_PAYMENT_STATUS_2",
    "CUSTOM_PAYMENT_STATUS_3",
];

/// The sandbox store's fixed credentials and options.

pub fn router(profile: &SandboxProfile, limits: SandboxLimits) -> Router {
    let mut opts = EcwidSandboxOptions::published(
        profile.secret("access_token"),
        profile.secret("client_secret"),
    );
    if let Some(id) = profile.options.get("store_id") {
        opts.store_id = id.clone();
    }
    if limits == SandboxLimits::Volume {
        opts.requests_per_minute = VOLUME_PER_MINUTE;
    }
    EcwidSandbox::new(opts).router()
}

#[derive(Debug, Clone)]
pub struct EcwidSandboxOptions {
    pub store_id: String,
    pub access_token: String,
    pub client_secret: String,
    /// Requests accepted per token in any 60 s window.
    pub requests_per_minute: u32,
}

impl EcwidSandboxOptions {
    pub fn published(access_token: &str, client_secret: &str) -> Self {
        Self {
            store_id: SANDBOX_STORE_ID.to_string(),
            access_token: access_token.to_string(),
            client_secret: client_secret.to_string(),
            requests_per_minute: PUBLISHED_PER_MINUTE,
        }
    }
}

#[derive(Debug, Clone)]
struct StoredOrder {
    id: String,
    internal_id: u64,
    gen: GenOrder,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    payment_status: String,
    fulfillment_status: String,
    tracking_number: Option<String>,
    tracking_url: Option<String>,
}

#[derive(Debug, Default)]
struct Store {
    orders: Vec<StoredOrder>,
    next_seq: u64,
    /// When each request inside the current 60 s window was accepted.
    window: VecDeque<Instant>,
}

/// The sandbox: its options, the orders and the shared core.
#[derive(Clone)]
pub struct EcwidSandbox {
    core: Arc<SandboxCore>,
    store: Arc<Mutex<Store>>,
    opts: Arc<EcwidSandboxOptions>,
    catalog: Catalog,
}

/// Ecwid product id of a catalog listing.
pub const PRODUCT_ID_BASE: u64 = 700_000_000;

fn product_json(l: &Listing) -> Value {
    let name = crate::sandbox::generate::CATALOG
        .get(l.index as usize)
        .copied()
        .unwrap_or("Product");
    json!({
        "id": PRODUCT_ID_BASE + l.index,
        "sku": l.sku,
        "name": name,
        "quantity": l.quantity,
        "unlimited": false,
        "inStock": l.quantity > 0,
        "enabled": true,
        "price": 20.0,
        "combinations": [],
    })
}

/// Ecwid-style order id for a sequence number (5 characters, `XJ12H`-like).
fn order_id_for(seq: u64) -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHJKLMNPQRSTUVWXYZ";
    let mut n = seq + 2_000_000;
    let mut out = Vec::new();
    while n > 0 {
        out.push(ALPHABET[(n % 34) as usize]);
        n /= 34;
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

/// An amount as Ecwid writes it: a JSON number (`10`, `41.5`).
fn num(d: Decimal) -> Value {
    let d = d.normalize();
    if d.scale() == 0 {
        if let Ok(i) = i64::try_from(d.mantissa()) {
            return Value::from(i);
        }
    }
    d.to_string()
        .parse::<f64>()
        .ok()
        .and_then(serde_json::Number::from_f64)
        .map(Value::Number)
        .unwrap_or(Value::Null)
}

fn truncate_secs(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp(t.timestamp(), 0).unwrap_or(t)
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    json_response(
        status,
        &json!({ "errorMessage": message, "errorCode": code }),
    )
}

fn too_many(retry_after_secs: u64) -> Response {
    let mut r = error(
        StatusCode::TOO_MANY_REQUESTS,
        "RATE_LIMITED",
        "Too many requests, rate limit exceeded. Access token of the app will be temporarily blocked.",
    );
    if let Ok(v) = retry_after_secs.to_string().parse() {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
}

fn wrong_parameter(name: &str) -> Response {
    error(
        StatusCode::BAD_REQUEST,
        "WRONG_PARAMETER",
        &format!("Wrong request parameter: {name}"),
    )
}

/// `updatedFrom` and friends: UNIX seconds or Ecwid's date/time formats.
fn parse_time_param(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(secs) = s.parse::<i64>() {
        return DateTime::from_timestamp(secs, 0);
    }
    parse_ecwid_date(s).or_else(|| {
        chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .ok()
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(|n| n.and_utc())
    })
}

fn person(o: &GenOrder) -> Value {
    let a = &o.address;
    json!({
        "name": format!("{} {}", a.first_name, a.last_name),
        "firstName": a.first_name,
        "lastName": a.last_name,
        "companyName": "",
        "street": a.street,
        "city": a.city,
        "countryCode": a.country_code,
        "countryName": a.country_name,
        "postalCode": a.postal_code,
        "stateOrProvinceCode": a.region_code,
        "stateOrProvinceName": a.region,
        "phone": o.phone,
    })
}

impl StoredOrder {
    /// The order as Ecwid's API returns it.
    fn render(&self) -> Value {
        let g = &self.gen;
        let items: Vec<Value> = g
            .lines
            .iter()
            .map(|l| {
                let product: u64 = l.sku.trim_start_matches("SKU-").parse().unwrap_or(0);
                json!({
                    "id": self.internal_id * 10 + u64::from(l.position),
                    "productId": 690_000_000 + product,
                    "categoryId": 0,
                    "price": num(l.unit_price),
                    "priceWithoutTax": num(l.unit_price),
                    "productPrice": num(l.unit_price),
                    "sku": l.sku,
                    "quantity": l.quantity,
                    "tax": num(l.tax),
                    "shipping": 0,
                    "name": l.title,
                    "weight": num(Decimal::from(l.grams) / Decimal::from(1000)),
                    "isShippingRequired": true,
                    "trackQuantity": true,
                    "digital": false,
                    "couponApplied": false,
                    "taxes": [{
                        "name": "Sales tax",
                        "value": num(g.tax_rate * Decimal::from(100)),
                        "total": num(l.tax),
                        "includeInPrice": false,
                    }],
                })
            })
            .collect();
        let mut o = json!({
            "id": self.id,
            "internalId": self.internal_id,
            "orderNumber": self.internal_id,
            "vendorOrderNumber": self.id,
            "publicUid": self.id,
            "refundedAmount": 0,
            "subtotal": num(g.subtotal),
            "subtotalWithoutTax": num(g.subtotal),
            "total": num(g.total),
            "totalWithoutTax": num(g.total - g.tax),
            "giftCardRedemption": 0,
            "totalBeforeGiftCardRedemption": num(g.total),
            "email": g.email,
            "paymentMethod": "Credit or debit card",
            "tax": num(g.tax),
            "customerTaxExempt": false,
            "couponDiscount": 0,
            "volumeDiscount": 0,
            "membershipBasedDiscount": 0,
            "totalAndMembershipBasedDiscount": 0,
            "discount": 0,
            "customSurcharges": [],
            "paymentStatus": self.payment_status,
            "fulfillmentStatus": self.fulfillment_status,
            "createDate": format_ecwid_date(self.created_at),
            "updateDate": format_ecwid_date(self.updated_at),
            "createTimestamp": self.created_at.timestamp(),
            "updateTimestamp": self.updated_at.timestamp(),
            "items": items,
            "refunds": [],
            "billingPerson": person(g),
            "shippingPerson": person(g),
            "shippingOption": {
                "shippingMethodName": g.shipping_method,
                "shippingRate": num(g.shipping),
                "shippingRateWithoutTax": num(g.shipping),
                "isPickup": false,
                "fulfillmentType": "SHIPPING",
            },
            "shipments": [],
            "additionalInfo": {},
            "paymentParams": {},
            "hidden": false,
            "taxesOnShipping": [],
            "pricesIncludeTax": false,
        });
        if let Some(n) = &self.tracking_number {
            o["trackingNumber"] = Value::from(n.clone());
        }
        if let Some(u) = &self.tracking_url {
            o["trackingUrl"] = Value::from(u.clone());
        }
        o
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct SeedRequest {
    count: u32,
    start: Option<DateTime<Utc>>,
    step_ms: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct TouchRequest {
    updated_at: Option<DateTime<Utc>>,
    cancel: bool,
}

impl EcwidSandbox {
    pub fn new(opts: EcwidSandboxOptions) -> Self {
        let core = SandboxCore::new();
        Self {
            catalog: Catalog::generated(core.clone()),
            core,
            store: Arc::new(Mutex::new(Store::default())),
            opts: Arc::new(opts),
        }
    }

    pub fn core(&self) -> &Arc<SandboxCore> {
        &self.core
    }

    pub fn order_count(&self) -> usize {
        self.lock().orders.len()
    }

    /// The order as the API would return it (in-process inspection).
    pub fn order_json(&self, id: &str) -> Option<Value> {
        self.lock()
            .orders
            .iter()
            .find(|o| o.id == id)
            .map(StoredOrder::render)
    }

    // A handler that panicked mid-update leaves usable data; carry on.
    fn lock(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn router(&self) -> Router {
        Router::new()
            .route("/api/v3/{store_id}/orders", get(list_orders))
            .route(
                "/api/v3/{store_id}/orders/{order_id}",
                get(get_order).put(update_order),
            )
            .route("/api/v3/{store_id}/profile", get(get_profile))
            .route("/api/v3/{store_id}/products", get(search_products))
            .route(
                "/api/v3/{store_id}/products/{product_id}",
                axum::routing::put(update_product),
            )
            .route("/_sandbox/seed", post(seed))
            .route("/_sandbox/orders/{external_id}/touch", post(touch))
            .route("/_sandbox/orders/{external_id}/webhook", get(webhook))
            .with_state(self.clone())
            .merge(self.core.control_routes())
            .merge(self.catalog.control_routes())
    }

    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// Create `count` generated orders, update times `step_ms` apart.
    pub fn seed(&self, count: u32, start: Option<DateTime<Utc>>, step_ms: u64) -> Vec<String> {
        let step = ChronoDuration::milliseconds(step_ms.min(86_400_000) as i64);
        let start = start.unwrap_or_else(|| Utc::now() - step * count.saturating_sub(1) as i32);
        let mut store = self.lock();
        (0..count)
            .map(|i| {
                let seq = store.next_seq;
                store.next_seq += 1;
                let at = truncate_secs(start + step * i as i32);
                let order = StoredOrder {
                    id: order_id_for(seq),
                    internal_id: 500_000_000 + seq,
                    gen: generate_order(seq, at),
                    created_at: at,
                    updated_at: at,
                    payment_status: "PAID".into(),
                    fulfillment_status: "AWAITING_PROCESSING".into(),
                    tracking_number: None,
                    tracking_url: None,
                };
                let id = order.id.clone();
                store.orders.push(order);
                id
            })
            .collect()
    }

    /// Take one request from the token's 60 s window; `Err(seconds)` to wait.
    fn admit(&self) -> Result<(), u64> {
        let now = Instant::now();
        let mut store = self.lock();
        while store
            .window
            .front()
            .is_some_and(|t| now.duration_since(*t) >= WINDOW)
        {
            store.window.pop_front();
        }
        if store.window.len() >= self.opts.requests_per_minute as usize {
            let oldest = store.window.front().copied().unwrap_or(now);
            let wait = (oldest + WINDOW).saturating_duration_since(now);
            return Err(wait.as_secs() + u64::from(wait.subsec_nanos() > 0));
        }
        store.window.push_back(now);
        Ok(())
    }

    fn authorized(&self, headers: &HeaderMap, query: &BTreeMap<String, String>) -> bool {
        let bearer = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().strip_prefix("Bearer "))
            .map(str::trim);
        let given = bearer.or_else(|| query.get("token").map(String::as_str));
        given.is_some_and(|t| !t.is_empty() && t == self.opts.access_token)
    }

    /// What every vendor request goes through, in order: counting, the rate
    /// limit, faults answered before any work, auth. The remaining fault (if
    /// any) is the handler's to act on.
    fn gate(
        &self,
        path: &str,
        store_id: &str,
        headers: &HeaderMap,
        query: &BTreeMap<String, String>,
    ) -> Result<Option<Fault>, Response> {
        self.core.count_request(path);
        if let Err(wait) = self.admit() {
            self.core.count_throttled();
            return Err(too_many(wait.max(1)));
        }
        let fault = self.core.decide_fault(path);
        match fault {
            Some(Fault::TooManyRequests { retry_after }) => {
                let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
                return Err(too_many(secs));
            }
            Some(Fault::ServerError(code)) => {
                let status =
                    StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                return Err(error(status, "INTERNAL_ERROR", "Internal server error"));
            }
            _ => {}
        }
        if self.core.credentials_revoked()
            || !self.authorized(headers, query)
            || store_id != self.opts.store_id
        {
            return Err(error(
                StatusCode::FORBIDDEN,
                "INVALID_API_TOKEN",
                "Invalid access token in the request",
            ));
        }
        Ok(fault)
    }

    fn record_tracking(&self, order: &StoredOrder) {
        let entry = json!([{
            "carrier": Value::Null,
            "number": order.tracking_number,
            "url": order.tracking_url,
        }]);
        let id = order.id.clone();
        self.core.record(move |r| {
            if !r["tracking"].is_object() {
                r["tracking"] = json!({});
            }
            r["tracking"][id.as_str()] = entry;
        });
    }
}

fn query_map(raw: Option<String>) -> BTreeMap<String, String> {
    url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
        .into_owned()
        .collect()
}

/// Sleep for the faults that hang before any work.
async fn delay_before(fault: Option<Fault>) {
    if let Some(Fault::Timeout(d) | Fault::Slow(d)) = fault {
        tokio::time::sleep(d).await;
    }
}

async fn delay_after(fault: Option<Fault>) {
    if let Some(Fault::TimeoutAfterSuccess(d)) = fault {
        tokio::time::sleep(d).await;
    }
}

async fn list_orders(
    State(sb): State<EcwidSandbox>,
    Path(store_id): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Response {
    let q = query_map(raw);
    let path = format!("/api/v3/{store_id}/orders");
    let fault = match sb.gate(&path, &store_id, &headers, &q) {
        Ok(f) => f,
        Err(r) => return r,
    };
    delay_before(fault).await;
    let mut bounds = BTreeMap::new();
    for name in ["updatedFrom", "updatedTo", "createdFrom", "createdTo"] {
        if let Some(v) = q.get(name).filter(|v| !v.trim().is_empty()) {
            match parse_time_param(v) {
                Some(t) => {
                    bounds.insert(name, t);
                }
                None => return wrong_parameter(name),
            }
        }
    }
    let number = |name: &str, default: u64| -> Result<u64, Response> {
        match q.get(name).map(|v| v.trim()).filter(|v| !v.is_empty()) {
            None => Ok(default),
            Some(v) => v.parse().map_err(|_| wrong_parameter(name)),
        }
    };
    let offset = match number("offset", 0) {
        Ok(n) => n,
        Err(r) => return r,
    };
    // Ecwid caps `limit` at 100 (also its default).
    let limit = match number("limit", 100) {
        Ok(0) => 100,
        Ok(n) => n.min(100),
        Err(r) => return r,
    };
    let ids: Option<Vec<String>> = q
        .get("ids")
        .map(|v| v.split(',').map(|s| s.trim().to_string()).collect());
    let (total, mut items) = {
        let store = sb.lock();
        let mut matched: Vec<&StoredOrder> = store
            .orders
            .iter()
            .filter(|o| {
                let (u, c) = (o.updated_at, o.created_at);
                bounds.get("updatedFrom").is_none_or(|t| u >= *t)
                    && bounds.get("updatedTo").is_none_or(|t| u <= *t)
                    && bounds.get("createdFrom").is_none_or(|t| c >= *t)
                    && bounds.get("createdTo").is_none_or(|t| c <= *t)
                    && ids.as_ref().is_none_or(|ids| {
                        ids.iter()
                            .any(|i| *i == o.id || *i == o.internal_id.to_string())
                    })
            })
            .collect();
        matched.sort_by(|a, b| {
            b.created_at
                .cmp(&a.created_at)
                .then(b.internal_id.cmp(&a.internal_id))
        });
        let total = matched.len() as u64;
        let page: Vec<Value> = matched
            .into_iter()
            .skip(offset.min(usize::MAX as u64) as usize)
            .take(limit as usize)
            .map(StoredOrder::render)
            .collect();
        (total, page)
    };
    if fault == Some(Fault::Malformed) && !items.is_empty() {
        // One order's money is not a number in this answer only.
        let i = sb.core.random_index(items.len());
        items[i]["total"] = Value::from("41.5O");
    }
    let body = json!({
        "total": total,
        "count": items.len(),
        "offset": offset,
        "limit": limit,
        "items": items,
    });
    delay_after(fault).await;
    json_response(StatusCode::OK, &body)
}

fn not_found() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "ORDER_NOT_FOUND",
        "Order with specified ID was not found",
    )
}

fn find<'a>(orders: &'a mut [StoredOrder], id: &str) -> Option<&'a mut StoredOrder> {
    orders
        .iter_mut()
        .find(|o| o.id == id || o.internal_id.to_string() == id)
}

async fn get_order(
    State(sb): State<EcwidSandbox>,
    Path((store_id, order_id)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Response {
    let q = query_map(raw);
    let path = format!("/api/v3/{store_id}/orders/{order_id}");
    let fault = match sb.gate(&path, &store_id, &headers, &q) {
        Ok(f) => f,
        Err(r) => return r,
    };
    delay_before(fault).await;
    let found = find(&mut sb.lock().orders, &order_id).map(|o| o.render());
    delay_after(fault).await;
    match found {
        Some(o) => json_response(StatusCode::OK, &o),
        None => not_found(),
    }
}

async fn update_order(
    State(sb): State<EcwidSandbox>,
    Path((store_id, order_id)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let q = query_map(raw);
    let path = format!("/api/v3/{store_id}/orders/{order_id}");
    let fault = match sb.gate(&path, &store_id, &headers, &q) {
        Ok(f) => f,
        Err(r) => return r,
    };
    delay_before(fault).await;
    let Ok(Value::Object(update)) = serde_json::from_slice::<Value>(&body) else {
        return error(
            StatusCode::BAD_REQUEST,
            "WRONG_PARAMETER",
            "Request parameters are malformed",
        );
    };
    let text = |name: &str| -> Result<Option<String>, Response> {
        match update.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(wrong_parameter(name)),
        }
    };
    let fields = (|| {
        Ok::<_, Response>((
            text("fulfillmentStatus")?,
            text("paymentStatus")?,
            text("trackingNumber")?,
            text("trackingUrl")?,
        ))
    })();
    let (fulfillment, payment, number, url) = match fields {
        Ok(f) => f,
        Err(r) => return r,
    };
    if fulfillment
        .as_deref()
        .is_some_and(|f| !FULFILLMENT_STATUSES.contains(&f))
    {
        return wrong_parameter("fulfillmentStatus");
    }
    if payment
        .as_deref()
        .is_some_and(|p| !PAYMENT_STATUSES.contains(&p))
    {
        return wrong_parameter("paymentStatus");
    }
    let changed_tracking = {
        let mut store = sb.lock();
        let Some(o) = find(&mut store.orders, &order_id) else {
            return not_found();
        };
        let before = (
            o.fulfillment_status.clone(),
            o.payment_status.clone(),
            o.tracking_number.clone(),
            o.tracking_url.clone(),
        );
        if let Some(f) = fulfillment {
            o.fulfillment_status = f;
        }
        if let Some(p) = payment {
            o.payment_status = p;
        }
        if let Some(n) = number {
            o.tracking_number = Some(n).filter(|n| !n.trim().is_empty());
        }
        if let Some(u) = url {
            o.tracking_url = Some(u).filter(|u| !u.trim().is_empty());
        }
        let after = (
            o.fulfillment_status.clone(),
            o.payment_status.clone(),
            o.tracking_number.clone(),
            o.tracking_url.clone(),
        );
        if before != after {
            o.updated_at = truncate_secs(Utc::now()).max(o.updated_at);
        }
        (before.2 != after.2 || before.3 != after.3).then(|| o.clone())
    };
    if let Some(o) = changed_tracking {
        sb.record_tracking(&o);
    }
    delay_after(fault).await;
    json_response(StatusCode::OK, &json!({ "updateCount": 1 }))
}

async fn search_products(
    State(sb): State<EcwidSandbox>,
    Path(store_id): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Response {
    let q = query_map(raw);
    let path = format!("/api/v3/{store_id}/products");
    let fault = match sb.gate(&path, &store_id, &headers, &q) {
        Ok(f) => f,
        Err(r) => return r,
    };
    delay_before(fault).await;
    let items: Vec<Value> = match q.get("sku") {
        Some(sku) => sb.catalog.find(sku).iter().map(product_json).collect(),
        None => sb
            .catalog
            .all()
            .iter()
            .take(100)
            .map(product_json)
            .collect(),
    };
    json_response(
        StatusCode::OK,
        &json!({ "total": items.len(), "count": items.len(), "offset": 0, "limit": 100, "items": items }),
    )
}

async fn update_product(
    State(sb): State<EcwidSandbox>,
    Path((store_id, product_id)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let q = query_map(raw);
    let path = format!("/api/v3/{store_id}/products/{product_id}");
    let fault = match sb.gate(&path, &store_id, &headers, &q) {
        Ok(f) => f,
        Err(r) => return r,
    };
    delay_before(fault).await;
    let Ok(Value::Object(update)) = serde_json::from_slice::<Value>(&body) else {
        return error(
            StatusCode::BAD_REQUEST,
            "WRONG_PARAMETER",
            "Request parameters are malformed",
        );
    };
    let listing = product_id
        .parse::<u64>()
        .ok()
        .and_then(|id| id.checked_sub(PRODUCT_ID_BASE))
        .and_then(|i| sb.catalog.by_index(i));
    let Some(listing) = listing else {
        return error(
            StatusCode::NOT_FOUND,
            "PRODUCT_NOT_FOUND",
            "Product is not found",
        );
    };
    match update.get("quantity") {
        None => {}
        Some(Value::Number(n)) if n.as_i64().is_some_and(|v| v >= 0) => {
            sb.catalog
                .set_quantity(&listing.sku, n.as_i64().unwrap_or_default());
        }
        Some(_) => return wrong_parameter("quantity"),
    }
    delay_after(fault).await;
    json_response(StatusCode::OK, &json!({ "updateCount": 1 }))
}

async fn get_profile(
    State(sb): State<EcwidSandbox>,
    Path(store_id): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Response {
    let q = query_map(raw);
    let path = format!("/api/v3/{store_id}/profile");
    let fault = match sb.gate(&path, &store_id, &headers, &q) {
        Ok(f) => f,
        Err(r) => return r,
    };
    delay_before(fault).await;
    let body = json!({
        "generalInfo": {
            "storeId": sb.opts.store_id.parse::<u64>().unwrap_or(0),
            "storeUrl": format!("https://store{}.company.site", sb.opts.store_id),
        },
        "settings": { "storeName": "orderhub sandbox", "closed": false },
        "formatsAndUnits": {
            "currency": "USD",
            "currencyPrefix": "$",
            "currencySuffix": "",
            "currencyPrecision": 2,
            "currencyGroupSeparator": ",",
            "currencyDecimalSeparator": ".",
            "weightUnit": "KILOGRAM",
            "timezone": "UTC",
        },
    });
    delay_after(fault).await;
    json_response(StatusCode::OK, &body)
}

async fn seed(State(sb): State<EcwidSandbox>, body: Bytes) -> Response {
    let req: SeedRequest = match parse_body(&body) {
        Ok(r) => r,
        Err(r) => return r,
    };
    if req.count > 100_000 {
        return crate::sandbox::bad_request("count must be at most 100000");
    }
    let ids = sb.seed(req.count, req.start, req.step_ms.unwrap_or(1000));
    json_response(StatusCode::OK, &json!({ "ids": ids }))
}

async fn touch(
    State(sb): State<EcwidSandbox>,
    Path(external_id): Path<String>,
    body: Bytes,
) -> Response {
    let req: TouchRequest = match parse_body(&body) {
        Ok(r) => r,
        Err(r) => return r,
    };
    let mut store = sb.lock();
    let Some(o) = find(&mut store.orders, &external_id) else {
        return json_response(
            StatusCode::NOT_FOUND,
            &json!({ "error": format!("no order {external_id}") }),
        );
    };
    o.updated_at = match req.updated_at {
        Some(t) => truncate_secs(t),
        // Ecwid keeps whole seconds: move at least one, so the change shows.
        None => truncate_secs(Utc::now()).max(o.updated_at + ChronoDuration::seconds(1)),
    };
    if req.cancel {
        // What "Cancel order" in Ecwid's admin sets.
        o.payment_status = "CANCELLED".into();
        o.fulfillment_status = "WILL_NOT_DELIVER".into();
    }
    json_response(StatusCode::OK, &o.render())
}

fn event_id() -> String {
    let mut rng = rand::rng();
    let b: [u8; 16] = rng.random();
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

async fn webhook(
    State(sb): State<EcwidSandbox>,
    Path(external_id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    let q = query_map(raw);
    let topic = q
        .get("topic")
        .cloned()
        .unwrap_or_else(|| "order.updated".to_string());
    let Some(o) = find(&mut sb.lock().orders, &external_id).map(|o| o.clone()) else {
        return json_response(
            StatusCode::NOT_FOUND,
            &json!({ "error": format!("no order {external_id}") }),
        );
    };
    let mut data = Map::new();
    data.insert("orderId".into(), Value::from(o.id.clone()));
    match topic.as_str() {
        "order.created" => {}
        "order.updated" => {
            data.insert(
                "oldPaymentStatus".into(),
                Value::from(o.payment_status.clone()),
            );
            data.insert(
                "oldFulfillmentStatus".into(),
                Value::from(o.fulfillment_status.clone()),
            );
        }
        _ => data.clear(),
    }
    if !data.is_empty() {
        data.insert(
            "newPaymentStatus".into(),
            Value::from(o.payment_status.clone()),
        );
        data.insert(
            "newFulfillmentStatus".into(),
            Value::from(o.fulfillment_status.clone()),
        );
    }
    let id = event_id();
    let created = Utc::now().timestamp();
    let mut event = json!({
        "eventId": id,
        "eventCreated": created,
        "storeId": sb.opts.store_id.parse::<u64>().unwrap_or(0),
        "entityId": o.internal_id,
        "eventType": topic,
    });
    if !data.is_empty() {
        event["data"] = Value::Object(data);
    }
    let signature = sign_webhook(&sb.opts.client_secret, &created.to_string(), &id);
    json_response(
        StatusCode::OK,
        &json!({
            "headers": {
                "Content-Type": "application/json; charset=UTF-8",
                "X-Ecwid-Webhook-Signature": signature,
            },
            "body": event.to_string(),
        }),
    )
}
