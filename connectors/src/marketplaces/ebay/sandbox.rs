//! A local imitation of eBay's OAuth token endpoint and Sell Fulfillment API v1.
//!
//! Vendor routes (paths, JSON and error bodies as eBay has them):
//! - `POST /identity/v1/oauth2/token` — refresh-token grant, Basic auth with the
//!   client id and secret, form body; issues `User Access Token`s that expire
//!   after `token_lifetime` (7200 s like eBay; tests shorten it). Wrong client:
//!   401 `invalid_client`; wrong or revoked refresh token: 400 `invalid_grant`.
//! - `GET /sell/fulfillment/v1/order` — `filter=lastmodifieddate:[from..to]`,
//!   `creationdate:[..]`, `orderfulfillmentstatus:{A|B}`; `limit` 1–200 (default
//!   50), `offset`, `orderIds`, `fieldGroups=TAX_BREAKDOWN`. Date filters reach back
//!   90 days. Newest orders first; `href`/`next`/`prev` are absolute URLs.
//! - `GET /sell/fulfillment/v1/order/{orderId}`.
//! - `GET|POST /sell/fulfillment/v1/order/{orderId}/shipping_fulfillment` and
//!   `GET .../shipping_fulfillment/{fulfillmentId}`: a post answers 201 with a
//!   `Location` header (the fulfillment id is the tracking number, as on eBay),
//!   marks the lines and the order fulfilled, and is not idempotent.
//!
//! Tax: US orders carry state sales tax and DE/GB orders VAT, both as eBay
//! "Collect and Remit" tax; it is in the totals only with `fieldGroups=TAX_BREAKDOWN`.
//!
//! Limits: eBay publishes 100,000 Fulfillment API calls per application per day
//! (reset at midnight Pacific; here at 08:00 UTC, ignoring daylight saving).
//! eBay publishes no per-second rate, so the sandbox also smooths with a bucket of
//! 25 calls refilling 25/s, documented as its own. Refusals are eBay's 429
//! (`errorId` 2001); the bucket's carry `Retry-After`, the daily quota's do not.
//! `SandboxLimits::Volume` raises both (10 M/day, 500/s).
//!
//! Revoked credentials: API calls answer 401 `Invalid access token` and the token
//! endpoint `invalid_grant`. `GET /_sandbox/orders/{id}/webhook` answers 501:
//! eBay sends no order webhooks to REST apps.

// Handlers pass ready vendor responses up as errors; boxing them buys nothing here.
#![allow(clippy::result_large_err)]

use super::client::{ORDERS_PATH, TOKEN_PATH};
use super::wire::{
    Amount, Buyer, CancelStatus, ContactAddress, DeliveryCost, EbayCollectAndRemitTax,
    ErrorResponse, ExtendedContact, FulfillmentStartInstruction, LineItem, LineItemReference,
    OAuthError, Order as WireOrder, OrderSearchPagedCollection, PhoneNumber, PricingSummary,
    ShippingFulfillment, ShippingFulfillmentDetails, ShippingFulfillmentPagedCollection,
    ShippingStep, Tax, TaxAddress, TokenResponse,
};
use crate::sandbox::generate::{generate_order, GenAddress};
use crate::sandbox::{bad_request, json_response, parse_body, Catalog, Fault, SandboxCore};
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use base64::Engine;
use chrono::{DateTime, Duration as ChronoDuration, SecondsFormat, Utc};
use rand::Rng;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

pub const PUBLISHED_DAILY_QUOTA: u64 = 100_000;
pub const SMOOTHING_PER_SECOND: f64 = 25.0;
const MAX_SEED: u32 = 20_000;
/// The first generated order is `12-03468-77349`, like eBay's own examples.
const FIRST_SEQ: u64 = 120_346_877_349;

/// What the sandbox accepts and how hard it limits.
#[derive(Clone)]
pub struct EbaySandboxOptions {
    pub client_id: String,
    pub client_secret: String,
    pub refresh_token: String,
    pub token_lifetime: Duration,
    pub daily_quota: u64,
    pub per_second: f64,
    pub burst: f64,
}

impl std::fmt::Debug for EbaySandboxOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EbaySandboxOptions")
            .field("client_id", &self.client_id)
            .field("token_lifetime", &self.token_lifetime)
            .field("daily_quota", &self.daily_quota)
            .field("per_second", &self.per_second)
            .finish_non_exhaustive()
    }
}

impl EbaySandboxOptions {
    /// eBay's published limits and token lifetime.
    pub fn published(client_id: &str, client_secret: &str, refresh_token: &str) -> Self {
        Self {
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            refresh_token: refresh_token.into(),
            token_lifetime: Duration::from_secs(7200),
            daily_quota: PUBLISHED_DAILY_QUOTA,
            per_second: SMOOTHING_PER_SECOND,
            burst: SMOOTHING_PER_SECOND,
        }
    }

    /// Still limited, but roomy enough for volume runs.
    pub fn volume(client_id: &str, client_secret: &str, refresh_token: &str) -> Self {
        Self {
            daily_quota: 10_000_000,
            per_second: 500.0,
            burst: 500.0,
            ..Self::published(client_id, client_secret, refresh_token)
        }
    }
}

#[derive(Debug, Clone)]
struct SLine {
    id: String,
    legacy_item_id: String,
    sku: String,
    title: String,
    quantity: u32,
    unit: Decimal,
    tax: Decimal,
    shipping: Decimal,
    shipped: u32,
}

#[derive(Debug, Clone)]
struct SOrder {
    id: String,
    created: DateTime<Utc>,
    modified: DateTime<Utc>,
    currency: String,
    tax_type: &'static str,
    username: String,
    email: String,
    phone: String,
    address: GenAddress,
    service_code: &'static str,
    payment: &'static str,
    cancelled: Option<DateTime<Utc>>,
    lines: Vec<SLine>,
    fulfillments: Vec<ShippingFulfillment>,
}

fn amount(v: Decimal, currency: &str) -> Amount {
    Amount {
        value: v.to_string(),
        currency: currency.to_string(),
    }
}

fn ms(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn trunc_ms(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(t.timestamp_millis()).unwrap_or(t)
}

impl SOrder {
    fn fulfillment_status(&self) -> &'static str {
        let shipped = self
            .lines
            .iter()
            .filter(|l| l.shipped >= l.quantity)
            .count();
        match shipped {
            0 if self.lines.iter().all(|l| l.shipped == 0) => "NOT_STARTED",
            n if n == self.lines.len() => "FULFILLED",
            _ => "IN_PROGRESS",
        }
    }

    /// The order as getOrders shows it; tax is in the totals only with
    /// `TAX_BREAKDOWN` (as eBay does for "Collect and Remit" tax).
    fn wire(&self, base: &str, breakdown: bool) -> WireOrder {
        let cur = self.currency.as_str();
        let contact = ExtendedContact {
            full_name: Some(format!(
                "{} {}",
                self.address.first_name, self.address.last_name
            )),
            company_name: None,
            contact_address: Some(ContactAddress {
                address_line1: Some(self.address.street.into()),
                address_line2: None,
                city: Some(self.address.city.into()),
                state_or_province: Some(self.address.region_code.into()),
                postal_code: Some(self.address.postal_code.into()),
                country_code: Some(self.address.country_code.into()),
            }),
            primary_phone: Some(PhoneNumber {
                phone_number: Some(self.phone.clone()),
            }),
            email: Some(self.email.clone()),
        };
        let lines: Vec<LineItem> = self
            .lines
            .iter()
            .map(|l| {
                let cost = l.unit * Decimal::from(l.quantity);
                let tax_in = if breakdown { l.tax } else { Decimal::ZERO };
                LineItem {
                    line_item_id: l.id.clone(),
                    legacy_item_id: Some(l.legacy_item_id.clone()),
                    legacy_variation_id: None,
                    sku: Some(l.sku.clone()),
                    title: l.title.clone(),
                    line_item_cost: amount(cost, cur),
                    discounted_line_item_cost: None,
                    quantity: l.quantity,
                    sold_format: Some("FIXED_PRICE".into()),
                    listing_marketplace_id: Some(marketplace_of(&self.address).into()),
                    purchase_marketplace_id: Some(marketplace_of(&self.address).into()),
                    line_item_fulfillment_status: Some(
                        if l.shipped >= l.quantity {
                            "FULFILLED"
                        } else {
                            "NOT_STARTED"
                        }
                        .into(),
                    ),
                    total: Some(amount(cost + l.shipping + tax_in, cur)),
                    delivery_cost: Some(DeliveryCost {
                        shipping_cost: Some(amount(l.shipping, cur)),
                        discount_amount: None,
                    }),
                    applied_promotions: vec![],
                    taxes: if breakdown && !l.tax.is_zero() {
                        vec![Tax {
                            amount: Some(amount(l.tax, cur)),
                            tax_type: Some(self.tax_type.into()),
                        }]
                    } else {
                        vec![]
                    },
                    ebay_collect_and_remit_taxes: if l.tax.is_zero() {
                        vec![]
                    } else {
                        vec![EbayCollectAndRemitTax {
                            tax_type: Some(self.tax_type.into()),
                            amount: Some(amount(l.tax, cur)),
                            collection_method: Some("NET".into()),
                        }]
                    },
                }
            })
            .collect();
        let subtotal: Decimal = self
            .lines
            .iter()
            .map(|l| l.unit * Decimal::from(l.quantity))
            .sum();
        let shipping: Decimal = self.lines.iter().map(|l| l.shipping).sum();
        let tax: Decimal = self.lines.iter().map(|l| l.tax).sum();
        let total = subtotal + shipping + if breakdown { tax } else { Decimal::ZERO };
        WireOrder {
            order_id: self.id.clone(),
            legacy_order_id: Some(self.id.clone()),
            creation_date: ms(self.created),
            last_modified_date: Some(ms(self.modified)),
            order_fulfillment_status: self.fulfillment_status().into(),
            order_payment_status: self.payment.into(),
            seller_id: Some("orderhub_sandbox_seller".into()),
            buyer: Some(Buyer {
                username: Some(self.username.clone()),
                tax_address: Some(TaxAddress {
                    city: Some(self.address.city.into()),
                    state_or_province: Some(self.address.region_code.into()),
                    postal_code: Some(self.address.postal_code.into()),
                    country_code: Some(self.address.country_code.into()),
                }),
                buyer_registration_address: Some(contact.clone()),
            }),
            pricing_summary: PricingSummary {
                price_subtotal: Some(amount(subtotal, cur)),
                delivery_cost: Some(amount(shipping, cur)),
                tax: breakdown.then(|| amount(tax, cur)),
                total: amount(total, cur),
                ..PricingSummary::default()
            },
            cancel_status: Some(CancelStatus {
                cancel_state: Some(
                    if self.cancelled.is_some() {
                        "CANCELED"
                    } else {
                        "NONE_REQUESTED"
                    }
                    .into(),
                ),
                cancelled_date: self.cancelled.map(ms),
                cancel_requests: vec![],
            }),
            payment_summary: None,
            fulfillment_start_instructions: vec![FulfillmentStartInstruction {
                fulfillment_instructions_type: Some("SHIP_TO".into()),
                ebay_supported_fulfillment: Some(false),
                shipping_step: Some(ShippingStep {
                    ship_to: Some(contact),
                    shipping_carrier_code: None,
                    shipping_service_code: Some(self.service_code.into()),
                }),
            }],
            fulfillment_hrefs: self
                .fulfillments
                .iter()
                .map(|f| {
                    format!(
                        "{base}{ORDERS_PATH}/{}/shipping_fulfillment/{}",
                        self.id, f.fulfillment_id
                    )
                })
                .collect(),
            line_items: lines,
            sales_record_reference: None,
            total_fee_basis_amount: Some(amount(subtotal + shipping + tax, cur)),
            total_marketplace_fee: None,
            ebay_collect_and_remit_tax: (!tax.is_zero()).then_some(true),
        }
    }
}

fn marketplace_of(a: &GenAddress) -> &'static str {
    match a.country_code {
        "DE" => "EBAY_DE",
        "GB" => "EBAY_GB",
        _ => "EBAY_US",
    }
}

/// `NN-NNNNN-NNNNN`, eBay's order id format.
fn order_id(seq: u64) -> String {
    format!(
        "{:02}-{:05}-{:05}",
        (seq / 10_000_000_000) % 100,
        (seq / 100_000) % 100_000,
        seq % 100_000
    )
}

fn new_order(seq: u64, at: DateTime<Utc>) -> SOrder {
    let g = generate_order(seq, at);
    let (tax_type, service_code) = match g.address.country_code {
        "US" => ("STATE_SALES_TAX", "USPSPriority"),
        "DE" => ("VAT", "DE_DHLPaket"),
        _ => ("VAT", "UK_RoyalMailSecondClassStandard"),
    };
    let lines = g
        .lines
        .iter()
        .map(|l| SLine {
            id: format!(
                "{}",
                10_000_000_000_000 + (seq % 100_000_000_000) * 10 + l.position as u64
            ),
            legacy_item_id: format!("4063559{}", &l.sku[4..]),
            sku: l.sku.clone(),
            title: l.title.into(),
            quantity: l.quantity,
            unit: l.unit_price,
            tax: l.tax,
            shipping: if l.position == 1 {
                g.shipping
            } else {
                Decimal::ZERO
            },
            shipped: 0,
        })
        .collect();
    SOrder {
        id: order_id(seq),
        created: trunc_ms(at),
        modified: trunc_ms(at),
        currency: g.currency.into(),
        tax_type,
        username: format!(
            "{}_{}{}",
            g.address.first_name,
            g.address.last_name,
            seq % 1000
        )
        .to_lowercase(),
        email: format!(
            "{:020x}@members.ebay.com",
            seq.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 8
        ),
        phone: g.phone.into(),
        address: g.address,
        service_code,
        payment: "PAID",
        cancelled: None,
        lines,
        fulfillments: vec![],
    }
}

/// Daily quota plus per-second smoothing.
#[derive(Debug)]
struct Limiter {
    quota: u64,
    day: i64,
    used: u64,
    tokens: f64,
    capacity: f64,
    rate: f64,
    at: Instant,
}

enum Refusal {
    Daily,
    Smoothing,
}

impl Limiter {
    fn take(&mut self) -> Result<(), Refusal> {
        // eBay's day starts at midnight Pacific (UTC−8 without daylight saving).
        let day = (Utc::now() - ChronoDuration::hours(8))
            .timestamp()
            .div_euclid(86_400);
        if day != self.day {
            self.day = day;
            self.used = 0;
        }
        let now = Instant::now();
        self.tokens = (self.tokens + now.duration_since(self.at).as_secs_f64() * self.rate)
            .min(self.capacity);
        self.at = now;
        if self.used >= self.quota {
            return Err(Refusal::Daily);
        }
        if self.tokens < 1.0 {
            return Err(Refusal::Smoothing);
        }
        self.tokens -= 1.0;
        self.used += 1;
        Ok(())
    }
}

struct Store {
    orders: BTreeMap<String, SOrder>,
    next_seq: u64,
    tokens: HashMap<String, Instant>,
    limiter: Limiter,
}

struct Shared {
    core: Arc<SandboxCore>,
    catalog: Catalog,
    opts: EbaySandboxOptions,
    state: Mutex<Store>,
}

/// The sandbox; cheap to clone (shared state).
#[derive(Clone)]
pub struct EbaySandbox {
    shared: Arc<Shared>,
}

/// `POST /_sandbox/seed`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct SeedRequest {
    pub count: Option<u32>,
    pub start: Option<DateTime<Utc>>,
    pub step_ms: Option<u64>,
}

/// `POST /_sandbox/orders/{id}/touch`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct TouchRequest {
    pub updated_at: Option<DateTime<Utc>>,
    pub cancel: Option<bool>,
}

fn ebay_error(status: StatusCode, body: ErrorResponse) -> Response {
    json_response(status, &json!(body))
}

fn fulfillment_error(status: StatusCode, id: u64, message: &str) -> Response {
    ebay_error(
        status,
        ErrorResponse::one(id, "API_FULFILLMENT", "REQUEST", message),
    )
}

fn invalid_token() -> Response {
    ebay_error(
        StatusCode::UNAUTHORIZED,
        ErrorResponse::one(1001, "OAuth", "REQUEST", "Invalid access token").with_long_message(
            "Invalid access token. Check the value of the Authorization HTTP request header.",
        ),
    )
}

fn too_many_requests(retry_after: Option<u64>) -> Response {
    let mut r = ebay_error(
        StatusCode::TOO_MANY_REQUESTS,
        ErrorResponse::one(2001, "ACCESS", "REQUEST", "Too many requests.")
            .with_long_message("The request limit has been reached for the resource."),
    );
    if let Some(s) = retry_after {
        if let Ok(v) = s.to_string().parse() {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
    }
    r
}

fn server_error(code: u16) -> Response {
    ebay_error(
        StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        ErrorResponse::one(30500, "API_FULFILLMENT", "APPLICATION", "System error.")
            .with_long_message("There was a problem with an eBay internal system or process."),
    )
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    json_response(
        status,
        &json!(OAuthError {
            error: error.into(),
            error_description: description.into(),
        }),
    )
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn query_map(q: &Option<String>) -> HashMap<String, String> {
    url::form_urlencoded::parse(q.as_deref().unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}

fn base_of(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    format!("http://{host}")
}

/// A parsed getOrders `filter`.
#[derive(Debug, Default)]
struct Filter {
    created: (Option<DateTime<Utc>>, Option<DateTime<Utc>>),
    modified: (Option<DateTime<Utc>>, Option<DateTime<Utc>>),
    dated: bool,
    statuses: Option<Vec<String>>,
}

fn parse_filter(s: &str) -> Result<Filter, Response> {
    let mut f = Filter::default();
    let bad = |name: &str, value: &str| {
        fulfillment_error(
            StatusCode::BAD_REQUEST,
            30800,
            &format!("Invalid filter value {value} for filter {name}"),
        )
    };
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((name, value)) = part.split_once(':') else {
            return Err(fulfillment_error(
                StatusCode::BAD_REQUEST,
                30700,
                &format!("Invalid filter name: {part}"),
            ));
        };
        match name {
            "creationdate" | "lastmodifieddate" => {
                let inner = value
                    .strip_prefix('[')
                    .and_then(|v| v.strip_suffix(']'))
                    .and_then(|v| v.split_once(".."))
                    .ok_or_else(|| bad(name, value))?;
                let side = |t: &str| -> Result<Option<DateTime<Utc>>, Response> {
                    if t.is_empty() {
                        return Ok(None);
                    }
                    DateTime::parse_from_rfc3339(t)
                        .map(|d| Some(d.with_timezone(&Utc)))
                        .map_err(|_| bad(name, value))
                };
                let range = (side(inner.0)?, side(inner.1)?);
                f.dated = true;
                if name == "creationdate" {
                    f.created = range;
                } else {
                    f.modified = range;
                }
            }
            "orderfulfillmentstatus" => {
                let inner = value
                    .strip_prefix('{')
                    .and_then(|v| v.strip_suffix('}'))
                    .ok_or_else(|| bad(name, value))?;
                f.statuses = Some(inner.split('|').map(|s| s.trim().to_string()).collect());
            }
            other => {
                return Err(fulfillment_error(
                    StatusCode::BAD_REQUEST,
                    30700,
                    &format!("Invalid filter name: {other}"),
                ))
            }
        }
    }
    Ok(f)
}

fn in_range(t: DateTime<Utc>, r: &(Option<DateTime<Utc>>, Option<DateTime<Utc>>)) -> bool {
    r.0.is_none_or(|from| t >= from) && r.1.is_none_or(|to| t <= to)
}

impl EbaySandbox {
    pub fn new(opts: EbaySandboxOptions) -> Self {
        let limiter = Limiter {
            quota: opts.daily_quota,
            day: 0,
            used: 0,
            tokens: opts.burst.max(1.0),
            capacity: opts.burst.max(1.0),
            rate: opts.per_second.max(0.001),
            at: Instant::now(),
        };
        let core = SandboxCore::new();
        Self {
            shared: Arc::new(Shared {
                catalog: Catalog::generated(core.clone()),
                core,
                opts,
                state: Mutex::new(Store {
                    orders: BTreeMap::new(),
                    next_seq: FIRST_SEQ,
                    tokens: HashMap::new(),
                    limiter,
                }),
            }),
        }
    }

    pub fn core(&self) -> &Arc<SandboxCore> {
        &self.shared.core
    }

    fn lock(&self) -> MutexGuard<'_, Store> {
        self.shared.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The vendor routes and the control routes.
    pub fn router(&self) -> Router {
        Router::new()
            .route(TOKEN_PATH, post(token_handler))
            .route(ORDERS_PATH, get(list_orders))
            .route("/sell/fulfillment/v1/order/{order_id}", get(get_order))
            .route(
                "/sell/fulfillment/v1/order/{order_id}/shipping_fulfillment",
                get(list_fulfillments).post(create_fulfillment),
            )
            .route(
                "/sell/fulfillment/v1/order/{order_id}/shipping_fulfillment/{fulfillment_id}",
                get(get_fulfillment),
            )
            .route(
                super::client::BULK_PRICE_QUANTITY_PATH,
                post(bulk_update_price_quantity),
            )
            .route("/_sandbox/seed", post(seed_handler))
            .route("/_sandbox/orders/{external_id}/touch", post(touch_handler))
            .route(
                "/_sandbox/orders/{external_id}/webhook",
                get(webhook_handler),
            )
            .with_state(self.clone())
            .merge(self.shared.core.control_routes())
            .merge(self.shared.catalog.control_routes())
    }

    pub fn catalog(&self) -> &Catalog {
        &self.shared.catalog
    }

    /// Create generated orders; returns their order ids.
    pub fn seed(&self, req: &SeedRequest) -> Result<Vec<String>, String> {
        let n = req.count.unwrap_or(1);
        if n > MAX_SEED {
            return Err(format!("count must be at most {MAX_SEED}"));
        }
        let step = ChronoDuration::milliseconds(req.step_ms.unwrap_or(1000).min(86_400_000) as i64);
        let span = step
            .checked_mul(n as i32)
            .ok_or("step_ms × count is out of range")?;
        let start = match req.start {
            Some(s) => s,
            None => Utc::now()
                .checked_sub_signed(span)
                .ok_or("start out of range")?,
        };
        start
            .checked_add_signed(span)
            .ok_or("start/step_ms put the orders outside the representable time range")?;
        let mut st = self.lock();
        let mut ids = Vec::with_capacity(n as usize);
        for i in 0..n {
            let at = start + step * i as i32;
            let seq = st.next_seq;
            st.next_seq += 1;
            let o = new_order(seq, at);
            ids.push(o.id.clone());
            st.orders.insert(o.id.clone(), o);
        }
        Ok(ids)
    }

    /// Update an order as a seller editing it would; `None` for an unknown order.
    pub fn touch(&self, id: &str, req: &TouchRequest) -> Option<DateTime<Utc>> {
        let mut st = self.lock();
        let o = st.orders.get_mut(id)?;
        o.modified = match req.updated_at {
            Some(t) => trunc_ms(t),
            None => trunc_ms(Utc::now()).max(o.modified + ChronoDuration::milliseconds(1)),
        };
        if req.cancel == Some(true) && o.cancelled.is_none() {
            o.cancelled = Some(o.modified);
            // A paid order cancelled on eBay is refunded in full.
            o.payment = "FULLY_REFUNDED";
        }
        Some(o.modified)
    }

    /// The order JSON as getOrder returns it (with or without TAX_BREAKDOWN).
    pub fn order_json(&self, id: &str, breakdown: bool) -> Option<Value> {
        let st = self.lock();
        st.orders
            .get(id)
            .map(|o| json!(o.wire("http://localhost", breakdown)))
    }

    /// Drop every issued access token, as when eBay invalidates them early.
    pub fn forget_tokens(&self) {
        self.lock().tokens.clear();
    }

    pub fn order_count(&self) -> usize {
        self.lock().orders.len()
    }

    /// Count the request, enforce the limit and the injected faults, check the
    /// bearer token. `Ok(fault)` = go ahead (handling Timeout/Slow/… around the work).
    fn admit(&self, path: &str, headers: &HeaderMap) -> Result<Option<Fault>, Response> {
        self.admit_as(path, path, headers)
    }

    /// `admit`, rolling the fault dice for `fault_path`: mutations roll for
    /// `POST <path>`, so `FaultConfig.paths` can aim at them alone (`"POST "`)
    /// while a plain path substring still matches both.
    fn admit_as(
        &self,
        path: &str,
        fault_path: &str,
        headers: &HeaderMap,
    ) -> Result<Option<Fault>, Response> {
        let core = &self.shared.core;
        core.count_request(path);
        if let Err(refusal) = self.lock().limiter.take() {
            core.count_throttled();
            return Err(match refusal {
                Refusal::Daily => too_many_requests(None),
                Refusal::Smoothing => too_many_requests(Some(1)),
            });
        }
        let fault = core.decide_fault(fault_path);
        match fault {
            Some(Fault::TooManyRequests { .. }) => return Err(too_many_requests(None)),
            Some(Fault::ServerError(code)) => return Err(server_error(code)),
            _ => {}
        }
        let Some(auth) = headers
            .get(header::AUTHORIZATION)
            .and_then(|h| h.to_str().ok())
        else {
            return Err(ebay_error(
                StatusCode::UNAUTHORIZED,
                ErrorResponse::one(1002, "OAuth", "REQUEST", "Missing access token")
                    .with_long_message(
                        "Access token is missing in the Authorization HTTP request header.",
                    ),
            ));
        };
        if core.credentials_revoked() {
            return Err(invalid_token());
        }
        let token = auth.strip_prefix("Bearer ").unwrap_or("").trim();
        let valid = self
            .lock()
            .tokens
            .get(token)
            .is_some_and(|exp| Instant::now() < *exp);
        if !valid {
            return Err(invalid_token());
        }
        Ok(fault)
    }
}

/// Hang before answering for Timeout/Slow faults.
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

async fn token_handler(State(sb): State<EbaySandbox>, headers: HeaderMap, body: Bytes) -> Response {
    let core = sb.core().clone();
    core.count_request(TOKEN_PATH);
    let fault = core.decide_fault(TOKEN_PATH);
    match fault {
        Some(Fault::TooManyRequests { .. }) => return too_many_requests(None),
        Some(Fault::ServerError(code)) => return server_error(code),
        _ => {}
    }
    delay_before(fault).await;
    let opts = &sb.shared.opts;
    let expected = base64::engine::general_purpose::STANDARD
        .encode(format!("{}:{}", opts.client_id, opts.client_secret));
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Basic "))
        .unwrap_or("")
        .trim();
    if !constant_time_eq(given.as_bytes(), expected.as_bytes()) {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "client authentication failed",
        );
    }
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    if form.get("grant_type").map(String::as_str) != Some("refresh_token") {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "grant type in request is not supported by the authorization server",
        );
    }
    let given_refresh = form.get("refresh_token").map(String::as_str).unwrap_or("");
    if core.credentials_revoked()
        || !constant_time_eq(given_refresh.as_bytes(), opts.refresh_token.as_bytes())
    {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "the provided authorization refresh token is invalid or was issued to another client",
        );
    }
    if let Some(scope) = form.get("scope") {
        if scope
            .split_whitespace()
            .any(|s| !s.starts_with("https://api.ebay.com/oauth/api_scope"))
        {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_scope",
                "the requested scope is invalid, unknown, malformed, or exceeds the scope granted to the client",
            );
        }
    }
    let token = format!(
        "v^1.1#i^1#p^3#r^0#I^3#t^{:032x}",
        rand::rng().random::<u128>()
    );
    {
        let mut st = sb.lock();
        let now = Instant::now();
        st.tokens.retain(|_, exp| *exp > now);
        st.tokens.insert(token.clone(), now + opts.token_lifetime);
    }
    delay_after(fault).await;
    json_response(
        StatusCode::OK,
        &json!(TokenResponse {
            access_token: token,
            expires_in: opts.token_lifetime.as_secs(),
            token_type: "User Access Token".into(),
        }),
    )
}

async fn list_orders(
    State(sb): State<EbaySandbox>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let fault = match sb.admit(ORDERS_PATH, &headers) {
        Ok(f) => f,
        Err(r) => return r,
    };
    delay_before(fault).await;
    let q = query_map(&raw);
    let limit = match q.get("limit").map(|s| s.parse::<u64>()) {
        None => 50,
        Some(Ok(n)) if (1..=200).contains(&n) => n,
        Some(_) => {
            return fulfillment_error(
                StatusCode::BAD_REQUEST,
                30200,
                "Invalid limit. Supported ranges 1 - 200.",
            )
        }
    };
    let Ok(offset) = q.get("offset").map_or(Ok(0), |s| s.parse::<u64>()) else {
        return fulfillment_error(StatusCode::BAD_REQUEST, 30300, "Invalid offset.");
    };
    let filter = match q.get("filter").map(|f| parse_filter(f)).transpose() {
        Ok(f) => f.unwrap_or_default(),
        Err(r) => return r,
    };
    let breakdown = q
        .get("fieldGroups")
        .is_some_and(|g| g.split(',').any(|g| g == "TAX_BREAKDOWN"));
    let ids: Option<Vec<&str>> = q
        .get("orderIds")
        .map(|s| s.split(',').map(str::trim).collect());
    let base = base_of(&headers);
    let horizon = Utc::now() - ChronoDuration::days(90);
    let (total, mut orders) = {
        let st = sb.lock();
        let mut matching: Vec<&SOrder> = st
            .orders
            .values()
            .filter(|o| match &ids {
                Some(ids) => ids.contains(&o.id.as_str()),
                None => {
                    in_range(o.created, &filter.created)
                        && in_range(o.modified, &filter.modified)
                        && (!filter.dated || o.modified >= horizon || o.created >= horizon)
                        && filter
                            .statuses
                            .as_ref()
                            .is_none_or(|s| s.iter().any(|s| s == o.fulfillment_status()))
                }
            })
            .collect();
        matching.sort_by(|a, b| b.created.cmp(&a.created).then(b.id.cmp(&a.id)));
        let page: Vec<Value> = matching
            .iter()
            .skip(offset as usize)
            .take(limit as usize)
            .map(|o| json!(o.wire(&base, breakdown)))
            .collect();
        (matching.len() as u64, page)
    };
    if fault == Some(Fault::Malformed) && !orders.is_empty() {
        let i = sb.core().random_index(orders.len());
        orders[i]["lineItems"][0]["lineItemCost"]["value"] = json!("12,50 USD");
    }
    let href = |off: u64| {
        let mut s = url::form_urlencoded::Serializer::new(String::new());
        if let Some(f) = q.get("filter") {
            s.append_pair("filter", f);
        }
        if breakdown {
            s.append_pair("fieldGroups", "TAX_BREAKDOWN");
        }
        s.append_pair("limit", &limit.to_string());
        s.append_pair("offset", &off.to_string());
        format!("{base}{ORDERS_PATH}?{}", s.finish())
    };
    let body = OrderSearchPagedCollection {
        href: Some(href(offset)),
        total,
        limit,
        offset,
        next: (offset + limit < total).then(|| href(offset + limit)),
        prev: (offset > 0).then(|| href(offset.saturating_sub(limit))),
        orders,
        warnings: vec![],
    };
    json_response(StatusCode::OK, &json!(body))
}

fn unknown_order(id: &str) -> Response {
    fulfillment_error(
        StatusCode::NOT_FOUND,
        32100,
        &format!("Invalid order ID: {id}"),
    )
}

async fn get_order(
    State(sb): State<EbaySandbox>,
    Path(order_id): Path<String>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let path = format!("{ORDERS_PATH}/{order_id}");
    let fault = match sb.admit(&path, &headers) {
        Ok(f) => f,
        Err(r) => return r,
    };
    delay_before(fault).await;
    let breakdown = query_map(&raw)
        .get("fieldGroups")
        .is_some_and(|g| g.contains("TAX_BREAKDOWN"));
    let base = base_of(&headers);
    let order = sb
        .lock()
        .orders
        .get(&order_id)
        .map(|o| json!(o.wire(&base, breakdown)));
    match order {
        Some(o) => json_response(StatusCode::OK, &o),
        None => unknown_order(&order_id),
    }
}

async fn list_fulfillments(
    State(sb): State<EbaySandbox>,
    Path(order_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let path = format!("{ORDERS_PATH}/{order_id}/shipping_fulfillment");
    let fault = match sb.admit(&path, &headers) {
        Ok(f) => f,
        Err(r) => return r,
    };
    delay_before(fault).await;
    let found = sb
        .lock()
        .orders
        .get(&order_id)
        .map(|o| o.fulfillments.clone());
    match found {
        Some(fulfillments) => json_response(
            StatusCode::OK,
            &json!(ShippingFulfillmentPagedCollection {
                total: fulfillments.len() as u64,
                fulfillments,
                warnings: vec![],
            }),
        ),
        None => unknown_order(&order_id),
    }
}

async fn get_fulfillment(
    State(sb): State<EbaySandbox>,
    Path((order_id, fulfillment_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let path = format!("{ORDERS_PATH}/{order_id}/shipping_fulfillment/{fulfillment_id}");
    let fault = match sb.admit(&path, &headers) {
        Ok(f) => f,
        Err(r) => return r,
    };
    delay_before(fault).await;
    let st = sb.lock();
    let Some(o) = st.orders.get(&order_id) else {
        return unknown_order(&order_id);
    };
    match o
        .fulfillments
        .iter()
        .find(|f| f.fulfillment_id == fulfillment_id)
    {
        Some(f) => json_response(StatusCode::OK, &json!(f)),
        None => fulfillment_error(
            StatusCode::NOT_FOUND,
            32110,
            &format!("Invalid shipping fulfillment ID: {fulfillment_id}"),
        ),
    }
}

/// `POST /sell/inventory/v1/bulk_update_price_quantity`: 1–25 skus; each
/// listed sku's quantity is set (offer id `5000000000 + index`), an unknown sku
/// answers its entry with 404 and error 25702; 207 when any entry failed.
async fn bulk_update_price_quantity(
    State(sb): State<EbaySandbox>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    use super::wire::BulkPriceQuantity;
    let path = super::client::BULK_PRICE_QUANTITY_PATH;
    let fault = match sb.admit_as(path, &format!("POST {path}"), &headers) {
        Ok(f) => f,
        Err(r) => return r,
    };
    delay_before(fault).await;
    let req = match serde_json::from_slice::<BulkPriceQuantity>(&body) {
        Ok(r) if (1..=25).contains(&r.requests.len()) => r,
        _ => {
            return ebay_error(
                StatusCode::BAD_REQUEST,
                ErrorResponse::one(
                    25709,
                    "API_INVENTORY",
                    "REQUEST",
                    "Invalid value for requests. Between 1 and 25 requests are allowed.",
                ),
            )
        }
    };
    let mut all_ok = true;
    let mut responses = Vec::new();
    for r in &req.requests {
        let listing = sb.shared.catalog.find(&r.sku);
        let quantity = r.ship_to_location_availability.as_ref().map(|a| a.quantity);
        match (listing, quantity) {
            (Some(l), q) if q.is_none_or(|q| q >= 0) => {
                if let Some(q) = q {
                    sb.shared.catalog.set_quantity(&l.sku, q);
                }
                responses.push(json!({
                    "statusCode": 200,
                    "sku": r.sku,
                    "offerId": (5_000_000_000u64 + l.index).to_string(),
                    "warnings": [],
                }));
            }
            (Some(_), _) => {
                all_ok = false;
                responses.push(json!({
                    "statusCode": 400,
                    "sku": r.sku,
                    "errors": [{"errorId": 25713, "domain": "API_INVENTORY", "category": "REQUEST", "message": "Invalid value for shipToLocationAvailability.quantity."}],
                }));
            }
            (None, _) => {
                all_ok = false;
                responses.push(json!({
                    "statusCode": 404,
                    "sku": r.sku,
                    "errors": [{"errorId": super::client::ERROR_SKU_NOT_FOUND, "domain": "API_INVENTORY", "category": "REQUEST", "message": format!("SKU {} is not available in the system", r.sku)}],
                }));
            }
        }
    }
    delay_after(fault).await;
    let status = if all_ok {
        StatusCode::OK
    } else {
        StatusCode::MULTI_STATUS
    };
    json_response(status, &json!({ "responses": responses }))
}

async fn create_fulfillment(
    State(sb): State<EbaySandbox>,
    Path(order_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = format!("{ORDERS_PATH}/{order_id}/shipping_fulfillment");
    let fault = match sb.admit_as(&path, &format!("POST {path}"), &headers) {
        Ok(f) => f,
        Err(r) => return r,
    };
    if let Some(Fault::Timeout(d)) = fault {
        // The request hung before eBay acted on it: nothing is created.
        tokio::time::sleep(d).await;
        return server_error(504);
    }
    delay_before(fault).await;
    let Ok(req) = serde_json::from_slice::<ShippingFulfillmentDetails>(&body) else {
        return fulfillment_error(StatusCode::BAD_REQUEST, 32600, "Invalid input data.");
    };
    let shipped = match req
        .shipped_date
        .as_deref()
        .map(DateTime::parse_from_rfc3339)
    {
        None => Utc::now(),
        Some(Ok(t)) => t.with_timezone(&Utc),
        Some(Err(_)) => {
            return fulfillment_error(StatusCode::BAD_REQUEST, 32300, "Invalid shipped date.")
        }
    };
    let tracking = req
        .tracking_number
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty());
    let carrier = req
        .shipping_carrier_code
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty());
    if tracking.is_some() != carrier.is_some() {
        return fulfillment_error(
            StatusCode::BAD_REQUEST,
            32500,
            "Invalid shipment tracking number or carrier.",
        );
    }
    let base = base_of(&headers);
    let location = {
        let mut st = sb.lock();
        let Some(o) = st.orders.get_mut(&order_id) else {
            return unknown_order(&order_id);
        };
        if req.line_items.is_empty() {
            return fulfillment_error(StatusCode::BAD_REQUEST, 32200, "Invalid line item id");
        }
        for r in &req.line_items {
            let ok = o
                .lines
                .iter()
                .any(|l| l.id == r.line_item_id && (1..=l.quantity).contains(&r.quantity));
            if !ok {
                return fulfillment_error(StatusCode::BAD_REQUEST, 32200, "Invalid line item id");
            }
        }
        for r in &req.line_items {
            if let Some(l) = o.lines.iter_mut().find(|l| l.id == r.line_item_id) {
                l.shipped = (l.shipped + r.quantity).min(l.quantity);
            }
        }
        let id = match tracking {
            Some(t) => t.to_string(),
            None => format!(
                "{}",
                9_405_509_699_937_003_000u64 + o.fulfillments.len() as u64
            ),
        };
        o.fulfillments.push(ShippingFulfillment {
            fulfillment_id: id.clone(),
            line_items: req
                .line_items
                .iter()
                .map(|r| LineItemReference {
                    line_item_id: r.line_item_id.clone(),
                    quantity: r.quantity,
                })
                .collect(),
            shipment_tracking_number: tracking.map(str::to_string),
            shipped_date: Some(ms(shipped)),
            shipping_carrier_code: carrier.map(str::to_string),
        });
        o.modified = trunc_ms(Utc::now()).max(o.modified + ChronoDuration::milliseconds(1));
        if let Some(number) = tracking {
            sb.core().record(|r| {
                let entry = &mut r["tracking"][order_id.as_str()];
                if !entry.is_array() {
                    *entry = json!([]);
                }
                if let Some(list) = entry.as_array_mut() {
                    list.push(json!({"carrier": carrier, "number": number, "url": null}));
                }
            });
        }
        format!("{base}{ORDERS_PATH}/{order_id}/shipping_fulfillment/{id}")
    };
    delay_after(fault).await;
    (StatusCode::CREATED, [(header::LOCATION, location)], "").into_response()
}

async fn seed_handler(State(sb): State<EbaySandbox>, body: Bytes) -> Response {
    let req: SeedRequest = match parse_body(&body) {
        Ok(r) => r,
        Err(r) => return r,
    };
    match sb.seed(&req) {
        Ok(ids) => json_response(StatusCode::OK, &json!({"count": ids.len(), "ids": ids})),
        Err(e) => bad_request(e),
    }
}

async fn touch_handler(
    State(sb): State<EbaySandbox>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let req: TouchRequest = match parse_body(&body) {
        Ok(r) => r,
        Err(r) => return r,
    };
    match sb.touch(&id, &req) {
        Some(t) => json_response(
            StatusCode::OK,
            &json!({"orderId": id, "lastModifiedDate": ms(t)}),
        ),
        None => json_response(StatusCode::NOT_FOUND, &json!({"error": "no such order"})),
    }
}

async fn webhook_handler() -> Response {
    json_response(
        StatusCode::NOT_IMPLEMENTED,
        &json!({"error": "eBay sends no order webhooks to REST apps"}),
    )
}
