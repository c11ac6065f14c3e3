//! A local Etsy Open API v3 for one shop: the receipts endpoints, the OAuth
//! refresh grant, `x-api-key` and bearer checks, Etsy's rate limits (10/s and
//! 10,000 per rolling 24 h; 429 with `retry-after`, no limit headers) and its
//! `{"error": "..."}` bodies, plus the shared control routes.

// Handlers answer early with a ready `Response` as their error.
#![allow(clippy::result_large_err)]

pub use super::sandbox_profile as profile;
pub use super::SANDBOX_SHOP_ID;
use crate::sandbox::generate::{generate_order, GenOrder};
use crate::sandbox::{
    json_response, parse_body, Catalog, Fault, Listing, SandboxCore, SandboxLimits, SandboxProfile,
};
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use chrono::{DateTime, Duration as ChronoDuration, TimeZone, Utc};
use rand::Rng;
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The seller's Etsy user id (access tokens start with it).
const SELLER_USER_ID: u64 = 87_654_321;
pub const PUBLISHED_PER_SECOND: u32 = 10;
pub const PUBLISHED_PER_DAY: u32 = 10_000;
const VOLUME_PER_SECOND: u32 = 50;
const VOLUME_PER_DAY: u32 = 1_000_000;
const DAY: Duration = Duration::from_secs(86_400);
const SECOND: Duration = Duration::from_secs(1);

/// The sandbox shop's fixed credentials and options.

pub fn router(profile: &SandboxProfile, limits: SandboxLimits) -> Router {
    let mut opts = EtsySandboxOptions::published(
        profile.secret("keystring"),
        profile.secret("shared_secret"),
        profile.secret("refresh_token"),
    );
    if let Some(id) = profile.options.get("shop_id") {
        opts.shop_id = id.clone();
    }
    if limits == SandboxLimits::Volume {
        opts.per_second = VOLUME_PER_SECOND;
        opts.per_day = VOLUME_PER_DAY;
    }
    EtsySandbox::new(opts).router()
}

#[derive(Debug, Clone)]
pub struct EtsySandboxOptions {
    pub shop_id: String,
    pub keystring: String,
    pub shared_secret: String,
    pub refresh_token: String,
    pub per_second: u32,
    pub per_day: u32,
    /// `expires_in` of issued access tokens (Etsy: 3600 s).
    pub token_lifetime: Duration,
}

impl EtsySandboxOptions {
    pub fn published(keystring: &str, shared_secret: &str, refresh_token: &str) -> Self {
        Self {
            shop_id: SANDBOX_SHOP_ID.to_string(),
            keystring: keystring.to_string(),
            shared_secret: shared_secret.to_string(),
            refresh_token: refresh_token.to_string(),
            per_second: PUBLISHED_PER_SECOND,
            per_day: PUBLISHED_PER_DAY,
            token_lifetime: Duration::from_secs(3600),
        }
    }
}

#[derive(Debug, Clone)]
struct Shipment {
    id: u64,
    at: DateTime<Utc>,
    carrier_name: String,
    tracking_code: String,
}

#[derive(Debug, Clone)]
struct StoredReceipt {
    receipt_id: u64,
    gen: GenOrder,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    canceled: bool,
    shipments: Vec<Shipment>,
}

#[derive(Debug, Default)]
struct Store {
    receipts: Vec<StoredReceipt>,
    next_seq: u64,
    next_shipment: u64,
    /// When each accepted request inside the last second / 24 h was made.
    second: VecDeque<Instant>,
    day: VecDeque<Instant>,
    access_tokens: HashMap<String, Instant>,
    refresh_tokens: HashSet<String>,
}

/// The sandbox: its options, the receipts and the shared core.
#[derive(Clone)]
pub struct EtsySandbox {
    core: Arc<SandboxCore>,
    catalog: Catalog,
    store: Arc<Mutex<Store>>,
    opts: Arc<EtsySandboxOptions>,
}

fn money(d: Decimal, currency: &str) -> Value {
    // Generated money has two places: `amount` in cents over 100.
    let cents = (d * Decimal::from(100)).trunc();
    json!({
        "amount": cents.to_string().parse::<i64>().unwrap_or(0),
        "divisor": 100,
        "currency_code": currency,
    })
}

fn error(status: StatusCode, message: &str) -> Response {
    json_response(status, &json!({ "error": message }))
}

fn too_many(retry_after_secs: u64) -> Response {
    let mut r = error(
        StatusCode::TOO_MANY_REQUESTS,
        "You have exceeded your quota of requests. Please try again later.",
    );
    r.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from(retry_after_secs.max(1)),
    );
    r
}

fn truncate_secs(t: DateTime<Utc>) -> DateTime<Utc> {
    Utc.timestamp_opt(t.timestamp(), 0).single().unwrap_or(t)
}

fn random_token() -> String {
    let b: [u8; 24] = rand::rng().random();
    hex::encode(b)
}

impl StoredReceipt {
    fn status(&self) -> &'static str {
        if self.canceled {
            "canceled"
        } else if self.shipments.is_empty() {
            "paid"
        } else {
            "completed"
        }
    }

    /// The receipt as Etsy renders a `ShopReceipt`.
    fn render(&self) -> Value {
        let g = &self.gen;
        let c = g.currency;
        let a = &g.address;
        // Etsy adds VAT it collects (UK, EU) as `total_vat_cost`, US sales tax as `total_tax_cost`.
        let (sales_tax, vat) = if a.country_code == "US" {
            (g.tax, Decimal::ZERO)
        } else {
            (Decimal::ZERO, g.tax)
        };
        let transactions: Vec<Value> = g
            .lines
            .iter()
            .map(|l| {
                json!({
                    "transaction_id": self.receipt_id * 10 + u64::from(l.position),
                    "title": l.title,
                    "description": format!("{} (handmade)", l.title),
                    "seller_user_id": SELLER_USER_ID,
                    "buyer_user_id": 10_000 + g.seq,
                    "create_timestamp": self.created_at.timestamp(),
                    "created_timestamp": self.created_at.timestamp(),
                    "paid_timestamp": self.created_at.timestamp(),
                    "shipped_timestamp": self.shipments.first().map(|s| s.at.timestamp()),
                    "quantity": l.quantity,
                    "listing_image_id": 5_000_000 + u64::from(l.position),
                    "receipt_id": self.receipt_id,
                    "is_digital": false,
                    "file_data": "",
                    "listing_id": 1_000_000 + l.sku.trim_start_matches("SKU-").parse::<u64>().unwrap_or(0),
                    "transaction_type": "listing",
                    "product_id": 2_000_000 + l.sku.trim_start_matches("SKU-").parse::<u64>().unwrap_or(0),
                    "sku": l.sku,
                    "price": money(l.unit_price, c),
                    "shipping_cost": money(Decimal::ZERO, c),
                    "variations": [],
                    "product_data": [],
                    "shipping_profile_id": 190_000_001,
                    "min_processing_days": 1,
                    "max_processing_days": 3,
                    "shipping_method": g.shipping_method,
                    "shipping_upgrade": null,
                    "expected_ship_date": (self.created_at + ChronoDuration::days(3)).timestamp(),
                    "buyer_coupon": 0,
                    "shop_coupon": 0,
                })
            })
            .collect();
        let shipments: Vec<Value> = self
            .shipments
            .iter()
            .map(|s| {
                json!({
                    "receipt_shipping_id": s.id,
                    "shipment_notification_timestamp": s.at.timestamp(),
                    "carrier_name": s.carrier_name,
                    "tracking_code": s.tracking_code,
                })
            })
            .collect();
        let name = format!("{} {}", a.first_name, a.last_name);
        json!({
            "receipt_id": self.receipt_id,
            "receipt_type": 0,
            "seller_user_id": SELLER_USER_ID,
            "seller_email": "seller@example.com",
            "buyer_user_id": 10_000 + g.seq,
            "buyer_email": g.email,
            "name": name,
            "first_line": a.street,
            "second_line": null,
            "city": a.city,
            "state": a.region_code,
            "zip": a.postal_code,
            "status": self.status(),
            "formatted_address": format!("{name}\n{}\n{} {} {}\n{}", a.street, a.city, a.region_code, a.postal_code, a.country_name),
            "country_iso": a.country_code,
            "payment_method": "cc",
            "payment_email": "",
            "message_from_seller": null,
            "message_from_buyer": null,
            "message_from_payment": null,
            "is_paid": true,
            "is_shipped": !self.shipments.is_empty(),
            "create_timestamp": self.created_at.timestamp(),
            "created_timestamp": self.created_at.timestamp(),
            "update_timestamp": self.updated_at.timestamp(),
            "updated_timestamp": self.updated_at.timestamp(),
            "is_gift": false,
            "gift_message": "",
            "gift_sender": "",
            "grandtotal": money(g.total, c),
            "subtotal": money(g.subtotal, c),
            "total_price": money(g.subtotal, c),
            "total_shipping_cost": money(g.shipping, c),
            "total_tax_cost": money(sales_tax, c),
            "total_vat_cost": money(vat, c),
            "discount_amt": money(Decimal::ZERO, c),
            "gift_wrap_price": money(Decimal::ZERO, c),
            "shipments": shipments,
            "transactions": transactions,
            "refunds": [],
        })
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

impl EtsySandbox {
    pub fn new(opts: EtsySandboxOptions) -> Self {
        let mut store = Store::default();
        store.refresh_tokens.insert(opts.refresh_token.clone());
        let core = SandboxCore::new();
        Self {
            catalog: Catalog::generated(core.clone()),
            core,
            store: Arc::new(Mutex::new(store)),
            opts: Arc::new(opts),
        }
    }

    pub fn core(&self) -> &Arc<SandboxCore> {
        &self.core
    }

    fn lock(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A receipt as Etsy would return it now.
    pub fn receipt_json(&self, id: &str) -> Option<Value> {
        let store = self.lock();
        store
            .receipts
            .iter()
            .find(|r| r.receipt_id.to_string() == id)
            .map(StoredReceipt::render)
    }

    pub fn router(&self) -> Router {
        Router::new()
            .route("/v3/public/oauth/token", post(oauth_token))
            .route(
                "/v3/application/shops/{shop_id}/receipts",
                get(list_receipts),
            )
            .route(
                "/v3/application/shops/{shop_id}/receipts/{receipt_id}",
                get(get_receipt),
            )
            .route(
                "/v3/application/shops/{shop_id}/receipts/{receipt_id}/tracking",
                post(create_shipment),
            )
            .route(
                "/v3/application/shops/{shop_id}/listings",
                get(list_listings),
            )
            .route(
                "/v3/application/listings/{listing_id}/inventory",
                get(get_inventory).put(update_inventory),
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

    /// Create `count` generated receipts, update times `step_ms` apart.
    pub fn seed(&self, count: u32, start: Option<DateTime<Utc>>, step_ms: u64) -> Vec<String> {
        let step = ChronoDuration::milliseconds(step_ms.min(86_400_000) as i64);
        let start = start.unwrap_or_else(|| Utc::now() - step * count.saturating_sub(1) as i32);
        let mut store = self.lock();
        (0..count)
            .map(|i| {
                let seq = store.next_seq;
                store.next_seq += 1;
                let at = truncate_secs(start + step * i as i32);
                let receipt = StoredReceipt {
                    receipt_id: 3_400_000_000 + seq,
                    gen: generate_order(seq, at),
                    created_at: at,
                    updated_at: at,
                    canceled: false,
                    shipments: Vec::new(),
                };
                let id = receipt.receipt_id.to_string();
                store.receipts.push(receipt);
                id
            })
            .collect()
    }

    /// Take one request from both windows; `Err(seconds)` to wait.
    fn admit(&self) -> Result<(u32, u32), u64> {
        let now = Instant::now();
        let mut store = self.lock();
        let Store { second, day, .. } = &mut *store;
        for (q, span) in [(&mut *second, SECOND), (&mut *day, DAY)] {
            while q.front().is_some_and(|t| now.duration_since(*t) >= span) {
                q.pop_front();
            }
        }
        if day.len() >= self.opts.per_day as usize {
            let wait = (day.front().copied().unwrap_or(now) + DAY).saturating_duration_since(now);
            return Err(wait.as_secs() + 1);
        }
        if second.len() >= self.opts.per_second as usize {
            return Err(1);
        }
        second.push_back(now);
        day.push_back(now);
        Ok((
            self.opts.per_second - second.len() as u32,
            self.opts.per_day - day.len() as u32,
        ))
    }

    /// Counting, the rate limits, faults answered before any work, then the
    /// API key; the remaining fault (if any) is the handler's to act on.
    fn gate(
        &self,
        path: &str,
        headers: &HeaderMap,
    ) -> Result<(Option<Fault>, (u32, u32)), Response> {
        self.core.count_request(path);
        let remaining = match self.admit() {
            Ok(r) => r,
            Err(wait) => {
                self.core.count_throttled();
                return Err(too_many(wait));
            }
        };
        let fault = self.core.decide_fault(path);
        if let Some(r) = fault.and_then(|f| f.early_response()) {
            let r = match fault {
                Some(Fault::TooManyRequests { retry_after }) => {
                    too_many(retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0))
                }
                Some(Fault::ServerError(code)) => error(
                    StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                    "An internal error occurred. Please try again later.",
                ),
                _ => r,
            };
            return Err(r);
        }
        let key = headers
            .get("x-api-key")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let expected = format!("{}:{}", self.opts.keystring, self.opts.shared_secret);
        if key.is_empty() || !key.contains(':') {
            return Err(error(
                StatusCode::FORBIDDEN,
                "Shared secret is required in x-api-key header",
            ));
        }
        if key != expected {
            return Err(error(StatusCode::FORBIDDEN, "Invalid API key"));
        }
        Ok((fault, remaining))
    }

    /// The bearer token check of every resource call.
    fn bearer_ok(&self, headers: &HeaderMap) -> Result<(), Response> {
        if self.core.credentials_revoked() {
            return Err(error(StatusCode::UNAUTHORIZED, "invalid_token"));
        }
        let token = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().strip_prefix("Bearer "))
            .map(str::trim)
            .unwrap_or("");
        match self.lock().access_tokens.get(token) {
            Some(exp) if *exp > Instant::now() => Ok(()),
            Some(_) => Err(error(StatusCode::UNAUTHORIZED, "access token is expired")),
            None => Err(error(StatusCode::UNAUTHORIZED, "invalid_token")),
        }
    }

    fn record_tracking(&self, r: &StoredReceipt) {
        let entries: Vec<Value> = r
            .shipments
            .iter()
            .map(|s| json!({ "carrier": s.carrier_name, "number": s.tracking_code, "url": null }))
            .collect();
        let id = r.receipt_id.to_string();
        self.core.record(move |rec| {
            if !rec["tracking"].is_object() {
                rec["tracking"] = json!({});
            }
            rec["tracking"][id.as_str()] = Value::Array(entries);
        });
    }

    /// A success with Etsy's rate-limit headers.
    fn ok(&self, body: &Value, remaining: (u32, u32)) -> Response {
        let mut r = json_response(StatusCode::OK, body);
        let h = r.headers_mut();
        h.insert(
            "x-limit-per-second",
            HeaderValue::from(self.opts.per_second),
        );
        h.insert("x-remaining-this-second", HeaderValue::from(remaining.0));
        h.insert("x-limit-per-day", HeaderValue::from(self.opts.per_day));
        h.insert("x-remaining-today", HeaderValue::from(remaining.1));
        r
    }
}

fn query_map(raw: Option<String>) -> BTreeMap<String, String> {
    url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
        .into_owned()
        .collect()
}

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

async fn oauth_token(State(sb): State<EtsySandbox>, body: Bytes) -> Response {
    let path = "/v3/public/oauth/token";
    sb.core.count_request(path);
    if let Err(wait) = sb.admit() {
        sb.core.count_throttled();
        return too_many(wait);
    }
    let fault = sb.core.decide_fault(path);
    if let Some(r) = fault.and_then(|f| f.early_response()) {
        return r;
    }
    delay_before(fault).await;
    let form: BTreeMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    let invalid = |e: &str, d: &str| {
        json_response(
            StatusCode::BAD_REQUEST,
            &json!({ "error": e, "error_description": d }),
        )
    };
    if form.get("grant_type").map(String::as_str) != Some("refresh_token") {
        return invalid("unsupported_grant_type", "grant_type must be refresh_token");
    }
    if form.get("client_id") != Some(&sb.opts.keystring) {
        return invalid("invalid_client", "Invalid client_id");
    }
    let given = form.get("refresh_token").cloned().unwrap_or_default();
    let issued = {
        let mut store = sb.lock();
        if sb.core.credentials_revoked() || !store.refresh_tokens.contains(&given) {
            None
        } else {
            let access = format!("{SELLER_USER_ID}.{}", random_token());
            let refresh = format!("{SELLER_USER_ID}.{}", random_token());
            store
                .access_tokens
                .insert(access.clone(), Instant::now() + sb.opts.token_lifetime);
            store.refresh_tokens.insert(refresh.clone());
            Some((access, refresh))
        }
    };
    let Some((access, refresh)) = issued else {
        return invalid("invalid_grant", "Invalid refresh token");
    };
    let body = json!({
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": sb.opts.token_lifetime.as_secs().max(1),
        "refresh_token": refresh,
    });
    delay_after(fault).await;
    json_response(StatusCode::OK, &body)
}

async fn list_receipts(
    State(sb): State<EtsySandbox>,
    Path(shop_id): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Response {
    let path = format!("/v3/application/shops/{shop_id}/receipts");
    let (fault, remaining) = match sb.gate(&path, &headers) {
        Ok(x) => x,
        Err(r) => return r,
    };
    if let Err(r) = sb.bearer_ok(&headers) {
        return r;
    }
    if shop_id != sb.opts.shop_id {
        return error(
            StatusCode::FORBIDDEN,
            "You do not have permission to access this shop",
        );
    }
    delay_before(fault).await;
    let q = query_map(raw);
    let int = |name: &str, default: i64| -> Result<i64, Response> {
        match q.get(name) {
            None => Ok(default),
            Some(v) => v.trim().parse::<i64>().map_err(|_| {
                error(
                    StatusCode::BAD_REQUEST,
                    &format!("Expected int for '{name}'"),
                )
            }),
        }
    };
    let parsed = (|| {
        Ok::<_, Response>((
            int("limit", 25)?,
            int("offset", 0)?,
            int("min_last_modified", i64::MIN)?,
            int("max_last_modified", i64::MAX)?,
            int("min_created", i64::MIN)?,
            int("max_created", i64::MAX)?,
        ))
    })();
    let (limit, offset, min_mod, max_mod, min_created, max_created) = match parsed {
        Ok(p) => p,
        Err(r) => return r,
    };
    if !(1..=100).contains(&limit) {
        return error(
            StatusCode::BAD_REQUEST,
            "Expected int <= 100 and >= 1 for 'limit'",
        );
    }
    if offset < 0 {
        return error(StatusCode::BAD_REQUEST, "Expected int >= 0 for 'offset'");
    }
    let sort_on = q.get("sort_on").map(String::as_str).unwrap_or("created");
    let descending = match q.get("sort_order").map(String::as_str).unwrap_or("desc") {
        "asc" | "ascending" | "up" => false,
        "desc" | "descending" | "down" => true,
        _ => return error(StatusCode::BAD_REQUEST, "Invalid value for 'sort_order'"),
    };
    let store = sb.lock();
    let mut matching: Vec<&StoredReceipt> = store
        .receipts
        .iter()
        .filter(|r| (min_mod..=max_mod).contains(&r.updated_at.timestamp()))
        .filter(|r| (min_created..=max_created).contains(&r.created_at.timestamp()))
        .collect();
    match sort_on {
        "created" => matching.sort_by_key(|r| (r.created_at, r.receipt_id)),
        "updated" => matching.sort_by_key(|r| (r.updated_at, r.receipt_id)),
        "receipt_id" => matching.sort_by_key(|r| r.receipt_id),
        _ => return error(StatusCode::BAD_REQUEST, "Invalid value for 'sort_on'"),
    }
    if descending {
        matching.reverse();
    }
    let count = matching.len();
    let mut results: Vec<Value> = matching
        .into_iter()
        .skip(offset as usize)
        .take(limit as usize)
        .map(StoredReceipt::render)
        .collect();
    drop(store);
    if fault == Some(Fault::Malformed) && !results.is_empty() {
        let i = sb.core.random_index(results.len());
        // A money amount that is not an integer: this response only.
        results[i]["grandtotal"]["amount"] = json!("12.50");
    }
    sb.ok(&json!({ "count": count, "results": results }), remaining)
}

/// Listing, product and offering ids of a catalog listing.
pub const LISTING_ID_BASE: u64 = 1_500_000_000;
const PRODUCT_ID_BASE: u64 = 2_000_000_000;
const OFFERING_ID_BASE: u64 = 3_000_000_000;

fn listing_json(l: &Listing, shop_id: &str) -> Value {
    json!({
        "listing_id": LISTING_ID_BASE + l.index,
        "shop_id": shop_id.parse::<u64>().unwrap_or_default(),
        "title": crate::sandbox::generate::CATALOG.get(l.index as usize).copied().unwrap_or("Listing"),
        "state": "active",
        "quantity": l.quantity,
        "skus": [l.sku],
        "price": { "amount": 2000, "divisor": 100, "currency_code": "USD" },
        "has_variations": false,
    })
}

fn inventory_json(l: &Listing) -> Value {
    json!({
        "products": [{
            "product_id": PRODUCT_ID_BASE + l.index,
            "sku": l.sku,
            "is_deleted": false,
            "offerings": [{
                "offering_id": OFFERING_ID_BASE + l.index,
                "quantity": l.quantity,
                "is_enabled": true,
                "is_deleted": false,
                "price": { "amount": 2000, "divisor": 100, "currency_code": "USD" },
            }],
            "property_values": [],
        }],
        "price_on_property": [],
        "quantity_on_property": [],
        "sku_on_property": [],
    })
}

fn listing_of_path(sb: &EtsySandbox, listing_id: &str) -> Option<Listing> {
    listing_id
        .parse::<u64>()
        .ok()
        .and_then(|id| id.checked_sub(LISTING_ID_BASE))
        .and_then(|i| sb.catalog.by_index(i))
}

/// `GET /v3/application/shops/{shop_id}/listings` (getListingsByShop):
/// `state` (active), `limit` ≤ 100, `offset`.
async fn list_listings(
    State(sb): State<EtsySandbox>,
    Path(shop_id): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Response {
    let path = format!("/v3/application/shops/{shop_id}/listings");
    let (fault, remaining) = match sb.gate(&path, &headers) {
        Ok(x) => x,
        Err(r) => return r,
    };
    if let Err(r) = sb.bearer_ok(&headers) {
        return r;
    }
    if shop_id != sb.opts.shop_id {
        return error(
            StatusCode::FORBIDDEN,
            "You do not have permission to access this shop",
        );
    }
    let q = query_map(raw);
    let limit = match q.get("limit").map(|l| l.parse::<usize>()) {
        None => 25,
        Some(Ok(l)) if (1..=100).contains(&l) => l,
        Some(_) => return error(StatusCode::BAD_REQUEST, "Expected int <= 100 for limit"),
    };
    let offset = match q.get("offset").map(|o| o.parse::<usize>()) {
        None => 0,
        Some(Ok(o)) => o,
        Some(_) => return error(StatusCode::BAD_REQUEST, "Expected int for offset"),
    };
    if q.get("state").is_some_and(|s| s != "active") {
        return sb.ok(&json!({ "count": 0, "results": [] }), remaining);
    }
    delay_before(fault).await;
    let all = sb.catalog.all();
    let results: Vec<Value> = all
        .iter()
        .skip(offset)
        .take(limit)
        .map(|l| listing_json(l, &shop_id))
        .collect();
    sb.ok(
        &json!({ "count": all.len(), "results": results }),
        remaining,
    )
}

/// `GET /v3/application/listings/{listing_id}/inventory` (getListingInventory).
async fn get_inventory(
    State(sb): State<EtsySandbox>,
    Path(listing_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let path = format!("/v3/application/listings/{listing_id}/inventory");
    let (fault, remaining) = match sb.gate(&path, &headers) {
        Ok(x) => x,
        Err(r) => return r,
    };
    if let Err(r) = sb.bearer_ok(&headers) {
        return r;
    }
    delay_before(fault).await;
    match listing_of_path(&sb, &listing_id) {
        Some(l) => sb.ok(&inventory_json(&l), remaining),
        None => error(
            StatusCode::NOT_FOUND,
            &format!("Listing {listing_id} not found"),
        ),
    }
}

/// `PUT /v3/application/listings/{listing_id}/inventory`
/// (updateListingInventory): JSON `products[]` with `sku`, `property_values`
/// and `offerings[]` (`price` a number, `quantity` 0–999, `is_enabled`).
async fn update_inventory(
    State(sb): State<EtsySandbox>,
    Path(listing_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    use super::wire::UpdateListingInventory;
    let path = format!("/v3/application/listings/{listing_id}/inventory");
    let (fault, remaining) = match sb.gate(&path, &headers) {
        Ok(x) => x,
        Err(r) => return r,
    };
    if let Err(r) = sb.bearer_ok(&headers) {
        return r;
    }
    delay_before(fault).await;
    let Some(listing) = listing_of_path(&sb, &listing_id) else {
        return error(
            StatusCode::NOT_FOUND,
            &format!("Listing {listing_id} not found"),
        );
    };
    let Ok(update) = serde_json::from_slice::<UpdateListingInventory>(&body) else {
        return error(StatusCode::BAD_REQUEST, "Invalid JSON body for products");
    };
    let Some(product) = update.products.iter().find(|p| p.sku == listing.sku) else {
        return error(
            StatusCode::BAD_REQUEST,
            "products must keep the listing's products",
        );
    };
    let Some(offering) = product.offerings.first() else {
        return error(StatusCode::BAD_REQUEST, "Each product needs an offering");
    };
    if !(0..=999).contains(&offering.quantity) || !(offering.price > 0.0) {
        return error(
            StatusCode::BAD_REQUEST,
            "Offering quantity must be 0 to 999 and price positive",
        );
    }
    sb.catalog.set_quantity(&listing.sku, offering.quantity);
    let now = sb.catalog.find(&listing.sku).unwrap_or(listing);
    delay_after(fault).await;
    sb.ok(&inventory_json(&now), remaining)
}

async fn get_receipt(
    State(sb): State<EtsySandbox>,
    Path((shop_id, receipt_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let path = format!("/v3/application/shops/{shop_id}/receipts/{receipt_id}");
    let (fault, remaining) = match sb.gate(&path, &headers) {
        Ok(x) => x,
        Err(r) => return r,
    };
    if let Err(r) = sb.bearer_ok(&headers) {
        return r;
    }
    if shop_id != sb.opts.shop_id {
        return error(
            StatusCode::FORBIDDEN,
            "You do not have permission to access this shop",
        );
    }
    delay_before(fault).await;
    match sb.receipt_json(&receipt_id) {
        Some(r) => sb.ok(&r, remaining),
        None => error(
            StatusCode::NOT_FOUND,
            &format!("Receipt {receipt_id} not found"),
        ),
    }
}

async fn create_shipment(
    State(sb): State<EtsySandbox>,
    Path((shop_id, receipt_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = format!("/v3/application/shops/{shop_id}/receipts/{receipt_id}/tracking");
    let (fault, remaining) = match sb.gate(&path, &headers) {
        Ok(x) => x,
        Err(r) => return r,
    };
    if let Err(r) = sb.bearer_ok(&headers) {
        return r;
    }
    if shop_id != sb.opts.shop_id {
        return error(
            StatusCode::FORBIDDEN,
            "You do not have permission to access this shop",
        );
    }
    delay_before(fault).await;
    // Etsy takes form fields; JSON is accepted too, as its gateway does.
    let form: BTreeMap<String, String> =
        match serde_json::from_slice::<BTreeMap<String, Value>>(&body) {
            Ok(m) => m
                .into_iter()
                .map(|(k, v)| {
                    (
                        k,
                        v.as_str()
                            .map(str::to_string)
                            .unwrap_or_else(|| v.to_string()),
                    )
                })
                .collect(),
            Err(_) => url::form_urlencoded::parse(&body).into_owned().collect(),
        };
    let field = |name: &str| {
        form.get(name)
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
    };
    let (Some(code), Some(carrier)) = (field("tracking_code"), field("carrier_name")) else {
        return error(
            StatusCode::BAD_REQUEST,
            "tracking_code and carrier_name are required",
        );
    };
    let rendered = {
        let mut store = sb.lock();
        store.next_shipment += 1;
        let shipment_id = 900_000_000 + store.next_shipment;
        let Some(r) = store
            .receipts
            .iter_mut()
            .find(|r| r.receipt_id.to_string() == receipt_id)
        else {
            return error(
                StatusCode::NOT_FOUND,
                &format!("Receipt {receipt_id} not found"),
            );
        };
        if r.canceled {
            return error(
                StatusCode::CONFLICT,
                "Cannot add tracking to a canceled receipt",
            );
        }
        let now = truncate_secs(Utc::now());
        // Etsy records a shipment per call, repeated codes included.
        r.shipments.push(Shipment {
            id: shipment_id,
            at: now,
            carrier_name: carrier,
            tracking_code: code,
        });
        r.updated_at = now.max(r.updated_at);
        let r = r.clone();
        sb.record_tracking(&r);
        r.render()
    };
    delay_after(fault).await;
    sb.ok(&rendered, remaining)
}

async fn seed(State(sb): State<EtsySandbox>, body: Bytes) -> Response {
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
    State(sb): State<EtsySandbox>,
    Path(external_id): Path<String>,
    body: Bytes,
) -> Response {
    let req: TouchRequest = match parse_body(&body) {
        Ok(r) => r,
        Err(r) => return r,
    };
    let mut store = sb.lock();
    let Some(r) = store
        .receipts
        .iter_mut()
        .find(|r| r.receipt_id.to_string() == external_id)
    else {
        return json_response(
            StatusCode::NOT_FOUND,
            &json!({ "error": format!("no receipt {external_id}") }),
        );
    };
    r.updated_at = match req.updated_at {
        Some(t) => truncate_secs(t),
        // Etsy keeps whole seconds: move at least one, so the change shows.
        None => truncate_secs(Utc::now()).max(r.updated_at + ChronoDuration::seconds(1)),
    };
    if req.cancel {
        r.canceled = true;
    }
    json_response(StatusCode::OK, &r.render())
}

/// Etsy's order webhooks need a signing secret this kind does not declare.
async fn webhook() -> Response {
    (
        StatusCode::NOT_IMPLEMENTED,
        [(header::CONTENT_TYPE, "application/json")],
        json!({ "error": "the etsy connector polls; webhook deliveries are not simulated" })
            .to_string(),
    )
        .into_response()
}
