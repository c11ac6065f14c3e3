//! A local TikTok Shop (Partner API 202309): the order, fulfillment and
//! logistics endpoints the connector uses, signed like the vendor (`app_key`,
//! `timestamp`, `sign`, `shop_cipher` query parameters, `x-tts-access-token`
//! header), with TikTok's `{"code","message","request_id","data"}` envelope,
//! `page_token` paging sorted by `update_time`, its error bodies and a
//! per-API QPS limit, plus the shared control routes (see [`crate::sandbox`]).

#![allow(clippy::result_large_err)]

use super::client::{sign_request, sign_webhook, HEADER_ACCESS_TOKEN, RATE_LIMIT_CODE};
pub use super::sandbox_profile as profile;
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
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Published: 50 requests per second per shop per API (assumed; see mod docs).
pub const PUBLISHED_QPS: usize = 50;
pub const VOLUME_QPS: usize = 500;
const DELIVERY_OPTION_ID: &str = "7091146663229654785";
const PROVIDERS: [(&str, &str); 5] = [
    ("6617675021119438849", "USPS"),
    ("6617675021119438850", "UPS"),
    ("6617675021119438851", "FedEx"),
    ("6617675021119438852", "DHL eCommerce"),
    ("6617675021119438853", "Royal Mail"),
];

pub fn router(profile: &SandboxProfile, limits: SandboxLimits) -> Router {
    let qps = match limits {
        SandboxLimits::Published => PUBLISHED_QPS,
        SandboxLimits::Volume => VOLUME_QPS,
    };
    TiktokSandbox::new(profile, qps).router()
}

#[derive(Debug, Clone)]
struct StoredOrder {
    id: String,
    gen: GenOrder,
    created: i64,
    updated: i64,
    status: &'static str,
    package_id: String,
    tracking: Option<(String, String)>,
}

#[derive(Debug, Default)]
struct Store {
    orders: Vec<StoredOrder>,
    next_seq: u64,
    windows: HashMap<String, VecDeque<Instant>>,
}

#[derive(Clone)]
pub struct TiktokSandbox {
    core: Arc<SandboxCore>,
    catalog: Catalog,
    store: Arc<Mutex<Store>>,
    app_key: Arc<str>,
    app_secret: Arc<str>,
    access_token: Arc<str>,
    shop_cipher: Arc<str>,
    qps: usize,
}

fn envelope(status: StatusCode, code: i64, message: &str, data: Option<Value>) -> Response {
    let mut body = json!({
        "code": code,
        "message": message,
        "request_id": format!("2025{:024X}", rand::random::<u64>()),
    });
    if let Some(d) = data {
        body["data"] = d;
    }
    json_response(status, &body)
}

fn ok(data: Value) -> Response {
    envelope(StatusCode::OK, 0, "Success", Some(data))
}

fn too_many(retry_after: Option<Duration>) -> Response {
    let mut r = envelope(
        StatusCode::TOO_MANY_REQUESTS,
        RATE_LIMIT_CODE,
        "Too many requests. Please try again later.",
        None,
    );
    if let Some(d) = retry_after {
        if let Ok(v) = format!("{}", d.as_secs().max(1)).parse() {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
    }
    r
}

fn unauthorized(code: i64, message: &str) -> Response {
    envelope(StatusCode::UNAUTHORIZED, code, message, None)
}

fn bad_param(message: &str) -> Response {
    envelope(StatusCode::BAD_REQUEST, 36009003, message, None)
}

fn money(d: rust_decimal::Decimal) -> String {
    format!("{:.2}", d)
}

impl StoredOrder {
    fn render(&self) -> Value {
        let g = &self.gen;
        let mut items = Vec::new();
        for l in &g.lines {
            for unit in 0..l.quantity {
                let mut item = json!({
                    "id": format!("{}{:02}{:02}", &self.id[..16], l.position, unit),
                    "sku_id": format!("17293{:014}", l.sku.trim_start_matches("SKU-").parse::<u64>().unwrap_or(0)),
                    "seller_sku": l.sku,
                    "product_id": format!("17291{:014}", l.position),
                    "product_name": l.title,
                    "sku_name": "Default",
                    "sale_price": money(l.unit_price),
                    "original_price": money(l.unit_price),
                    "seller_discount": "0",
                    "platform_discount": "0",
                    "currency": g.currency,
                    "package_id": self.package_id,
                    "display_status": self.status,
                    "is_gift": false,
                });
                if let Some((number, provider)) = &self.tracking {
                    item["tracking_number"] = json!(number);
                    item["shipping_provider_id"] = json!(provider);
                }
                items.push(item);
            }
        }
        let a = &g.address;
        let mut o = json!({
            "id": self.id,
            "status": self.status,
            "create_time": self.created,
            "update_time": self.updated,
            "paid_time": self.created,
            "buyer_email": g.email,
            "user_id": format!("7494{:015}", g.seq),
            "delivery_option_id": DELIVERY_OPTION_ID,
            "delivery_option_name": g.shipping_method,
            "fulfillment_type": "FULFILLMENT_BY_SELLER",
            "payment": {
                "currency": g.currency,
                "sub_total": money(g.subtotal),
                "shipping_fee": money(g.shipping),
                "seller_discount": "0",
                "platform_discount": "0",
                "tax": money(g.tax),
                "total_amount": money(g.total),
                "original_total_product_price": money(g.subtotal),
                "original_shipping_fee": money(g.shipping),
            },
            "recipient_address": {
                "name": format!("{} {}", a.first_name, a.last_name),
                "first_name": a.first_name,
                "last_name": a.last_name,
                "phone_number": g.phone,
                "address_line1": a.street,
                "address_line2": "",
                "postal_code": a.postal_code,
                "region_code": a.country_code,
                "full_address": format!("{}, {}, {} {}", a.street, a.city, a.region_code, a.postal_code),
                "district_info": [
                    {"address_level_name": "Country", "address_name": a.country_name, "address_level": "L0"},
                    {"address_level_name": "State", "address_name": a.region, "address_level": "L1"},
                    {"address_level_name": "City", "address_name": a.city, "address_level": "L3"},
                ],
            },
            "line_items": items,
            "packages": [{"id": self.package_id}],
        });
        if let Some((number, provider)) = &self.tracking {
            o["tracking_number"] = json!(number);
            o["shipping_provider_id"] = json!(provider);
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

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct WebhookQuery {
    topic: Option<String>,
}

fn query_map(raw: Option<String>) -> BTreeMap<String, String> {
    url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
        .into_owned()
        .collect()
}

impl TiktokSandbox {
    pub fn new(profile: &SandboxProfile, qps: usize) -> Self {
        let core = SandboxCore::new();
        Self {
            catalog: Catalog::generated(core.clone()),
            core,
            store: Arc::new(Mutex::new(Store::default())),
            app_key: profile.secret("app_key").into(),
            app_secret: profile.secret("app_secret").into(),
            access_token: profile.secret("access_token").into(),
            shop_cipher: profile
                .options
                .get("shop_cipher")
                .map(String::as_str)
                .unwrap_or_default()
                .into(),
            qps,
        }
    }

    pub fn core(&self) -> &Arc<SandboxCore> {
        &self.core
    }

    fn lock(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn router(&self) -> Router {
        Router::new()
            .route("/order/202309/orders/search", post(search_orders))
            .route("/order/202309/orders", get(order_detail))
            .route(
                "/fulfillment/202309/packages/{package_id}/ship",
                post(ship_package),
            )
            .route(
                "/logistics/202309/delivery_options/{id}/shipping_providers",
                get(shipping_providers),
            )
            .route("/product/202309/products/search", post(search_products))
            .route(
                "/product/202309/products/{product_id}/inventory/update",
                post(update_inventory),
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

    pub fn seed(&self, count: u32, start: Option<DateTime<Utc>>, step_ms: u64) -> Vec<String> {
        let step = ChronoDuration::milliseconds(step_ms.min(86_400_000) as i64);
        let start = start.unwrap_or_else(|| Utc::now() - step * count.saturating_sub(1) as i32);
        let mut store = self.lock();
        (0..count)
            .map(|i| {
                let seq = store.next_seq;
                store.next_seq += 1;
                let at = start + step * i as i32;
                let order = StoredOrder {
                    id: format!("{}", 576_461_413_038_000_000u64 + seq),
                    gen: generate_order(seq, at),
                    created: at.timestamp(),
                    updated: at.timestamp(),
                    status: "AWAITING_SHIPMENT",
                    package_id: format!("{}", 1_152_921_504_606_000_000u64 + seq),
                    tracking: None,
                };
                let id = order.id.clone();
                store.orders.push(order);
                id
            })
            .collect()
    }

    /// Per-API window of one second: `Err` when the API's QPS is used up.
    fn admit(&self, api: &str) -> Result<(), ()> {
        let now = Instant::now();
        let mut store = self.lock();
        let window = store.windows.entry(api.to_string()).or_default();
        while window
            .front()
            .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(1))
        {
            window.pop_front();
        }
        if window.len() >= self.qps {
            return Err(());
        }
        window.push_back(now);
        Ok(())
    }

    /// Counting, the QPS limit, early faults, then TikTok's auth checks.
    fn gate(
        &self,
        api: &str,
        path: &str,
        headers: &HeaderMap,
        query: &BTreeMap<String, String>,
        body: &[u8],
    ) -> Result<Option<Fault>, Response> {
        self.core.count_request(path);
        if self.admit(api).is_err() {
            self.core.count_throttled();
            return Err(too_many(None));
        }
        let fault = self.core.decide_fault(path);
        match fault {
            Some(Fault::TooManyRequests { retry_after }) => {
                return Err(too_many(Some(retry_after)))
            }
            Some(Fault::ServerError(code)) => {
                let status =
                    StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                return Err(envelope(
                    status,
                    36009009,
                    "Internal error, please try again later.",
                    None,
                ));
            }
            _ => {}
        }
        if query.get("app_key").map(String::as_str) != Some(&*self.app_key) {
            return Err(unauthorized(106001, "Invalid app_key."));
        }
        let body = String::from_utf8_lossy(body);
        let expected = sign_request(&self.app_secret, path, query, &body);
        let given = query.get("sign").map(String::as_str).unwrap_or_default();
        if !constant_eq(given.as_bytes(), expected.as_bytes()) {
            return Err(unauthorized(106001, "Invalid signature."));
        }
        let ts = query.get("timestamp").and_then(|t| t.parse::<i64>().ok());
        if ts.is_none_or(|t| (Utc::now().timestamp() - t).abs() > 300) {
            return Err(unauthorized(106002, "The timestamp is expired."));
        }
        let token = headers
            .get(HEADER_ACCESS_TOKEN)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if self.core.credentials_revoked() {
            return Err(unauthorized(
                105002,
                "Expired credentials. Please refresh your access_token.",
            ));
        }
        if token != &*self.access_token {
            return Err(unauthorized(105001, "Invalid credentials."));
        }
        if query.get("shop_cipher").map(String::as_str) != Some(&*self.shop_cipher) {
            return Err(bad_param("Invalid shop_cipher."));
        }
        if let Some(Fault::Timeout(d) | Fault::Slow(d)) = fault {
            return Ok(Some(Fault::Slow(d)));
        }
        Ok(fault)
    }

    fn record_tracking(&self, id: &str, number: &str, provider: &str) {
        let carrier = PROVIDERS
            .iter()
            .find(|(pid, _)| *pid == provider)
            .map(|(_, n)| *n);
        let (id, entry) = (
            id.to_string(),
            json!([{ "carrier": carrier, "number": number, "url": Value::Null }]),
        );
        self.core.record(move |r| {
            if !r["tracking"].is_object() {
                r["tracking"] = json!({});
            }
            r["tracking"][id.as_str()] = entry;
        });
    }
}

fn constant_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Hang (timeouts, slow answers) before the work; `TimeoutAfterSuccess` after it.
async fn before(fault: Option<Fault>) {
    if let Some(Fault::Slow(d) | Fault::Timeout(d)) = fault {
        tokio::time::sleep(d).await;
    }
}

async fn after(fault: Option<Fault>) {
    if let Some(Fault::TimeoutAfterSuccess(d)) = fault {
        tokio::time::sleep(d).await;
    }
}

/// Page tokens are opaque to the client; here the offset, base64url-encoded.
fn encode_token(offset: usize) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("o:{offset}"))
}

fn decode_token(token: &str) -> Option<usize> {
    use base64::Engine;
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .ok()?;
    String::from_utf8(raw)
        .ok()?
        .strip_prefix("o:")?
        .parse()
        .ok()
}

async fn search_orders(
    State(sb): State<TiktokSandbox>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = "/order/202309/orders/search";
    let query = query_map(raw);
    let fault = match sb.gate("orders/search", path, &headers, &query, &body) {
        Ok(f) => f,
        Err(r) => return r,
    };
    before(fault).await;
    let filter: Value = match serde_json::from_slice(&body) {
        Ok(v @ Value::Object(_)) => v,
        _ if body.is_empty() => json!({}),
        _ => return bad_param("Invalid request body."),
    };
    let ge = filter["update_time_ge"].as_i64().unwrap_or(i64::MIN);
    let lt = filter["update_time_lt"].as_i64().unwrap_or(i64::MAX);
    let page_size = match query.get("page_size").map(|s| s.parse::<usize>()) {
        Some(Ok(n)) if (1..=100).contains(&n) => n,
        _ => return bad_param("page_size must be between 1 and 100."),
    };
    let offset = match query.get("page_token").filter(|t| !t.is_empty()) {
        None => 0,
        Some(t) => match decode_token(t) {
            Some(o) => o,
            None => return bad_param("Invalid page_token."),
        },
    };
    let desc = query.get("sort_order").is_some_and(|s| s == "DESC");
    let by_create = query.get("sort_field").is_some_and(|s| s == "create_time");
    let mut matching: Vec<StoredOrder> = sb
        .lock()
        .orders
        .iter()
        .filter(|o| o.updated >= ge && o.updated < lt)
        .cloned()
        .collect();
    matching.sort_by_key(|o| (if by_create { o.created } else { o.updated }, o.id.clone()));
    if desc {
        matching.reverse();
    }
    let total = matching.len();
    let mut orders: Vec<Value> = matching
        .iter()
        .skip(offset)
        .take(page_size)
        .map(StoredOrder::render)
        .collect();
    if fault == Some(Fault::Malformed) && !orders.is_empty() {
        let i = sb.core.random_index(orders.len());
        orders[i]["payment"]["total_amount"] = json!("12,3x");
    }
    let next = if offset + page_size < total {
        encode_token(offset + page_size)
    } else {
        String::new()
    };
    ok(json!({ "orders": orders, "next_page_token": next, "total_count": total }))
}

async fn order_detail(
    State(sb): State<TiktokSandbox>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Response {
    let path = "/order/202309/orders";
    let query = query_map(raw);
    let fault = match sb.gate("orders", path, &headers, &query, b"") {
        Ok(f) => f,
        Err(r) => return r,
    };
    before(fault).await;
    let ids: Vec<String> = query
        .get("ids")
        .map(|s| s.split(',').map(|i| i.trim().to_string()).collect())
        .unwrap_or_default();
    if ids.is_empty() || ids.len() > 50 {
        return bad_param("ids must hold 1 to 50 order ids.");
    }
    let orders: Vec<Value> = sb
        .lock()
        .orders
        .iter()
        .filter(|o| ids.contains(&o.id))
        .map(StoredOrder::render)
        .collect();
    ok(json!({ "orders": orders }))
}

/// Product, sku and warehouse ids of a catalog listing.
const PRODUCT_ID_BASE: u64 = 1_729_382_256_910_000_000;
const SKU_ID_BASE: u64 = 1_729_382_256_920_000_000;
pub const SANDBOX_WAREHOUSE_ID: &str = "7068517275539719942";

fn product_json(l: &Listing) -> Value {
    json!({
        "id": (PRODUCT_ID_BASE + l.index).to_string(),
        "title": crate::sandbox::generate::CATALOG.get(l.index as usize).copied().unwrap_or("Product"),
        "status": "ACTIVATE",
        "skus": [{
            "id": (SKU_ID_BASE + l.index).to_string(),
            "seller_sku": l.sku,
            "price": { "currency": "USD", "tax_exclusive_price": "20.00" },
            "inventory": [{ "warehouse_id": SANDBOX_WAREHOUSE_ID, "quantity": l.quantity }],
        }],
        "create_time": 1_700_000_000,
        "update_time": 1_700_000_000,
    })
}

/// `POST /product/202309/products/search?page_size=` with body filters
/// (`seller_skus`, `status`); one page.
async fn search_products(
    State(sb): State<TiktokSandbox>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = "/product/202309/products/search";
    let query = query_map(raw);
    let fault = match sb.gate("products/search", path, &headers, &query, &body) {
        Ok(f) => f,
        Err(r) => return r,
    };
    before(fault).await;
    let page_size = match query.get("page_size").map(|p| p.parse::<usize>()) {
        Some(Ok(n)) if (1..=100).contains(&n) => n,
        _ => return bad_param("page_size is required, 1 to 100."),
    };
    let req: super::wire::SearchProductsRequest = if body.is_empty() {
        Default::default()
    } else {
        match serde_json::from_slice(&body) {
            Ok(r) => r,
            Err(_) => return bad_param("Invalid request body."),
        }
    };
    let all: Vec<Listing> = sb
        .catalog
        .all()
        .into_iter()
        .filter(|l| req.seller_skus.is_empty() || req.seller_skus.contains(&l.sku))
        .collect();
    let products: Vec<Value> = all.iter().take(page_size).map(product_json).collect();
    after(fault).await;
    ok(json!({ "products": products, "total_count": all.len(), "next_page_token": "" }))
}

/// `POST /product/202309/products/{product_id}/inventory/update`:
/// `skus[].id` with `inventory[{warehouse_id, quantity}]`.
async fn update_inventory(
    State(sb): State<TiktokSandbox>,
    Path(product_id): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = format!("/product/202309/products/{product_id}/inventory/update");
    let query = query_map(raw);
    let fault = match sb.gate("products/inventory/update", &path, &headers, &query, &body) {
        Ok(f) => f,
        Err(r) => return r,
    };
    before(fault).await;
    let req: super::wire::UpdateInventoryRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(_) => return bad_param("Invalid request body."),
    };
    let Some(listing) = product_id
        .parse::<u64>()
        .ok()
        .and_then(|id| id.checked_sub(PRODUCT_ID_BASE))
        .and_then(|i| sb.catalog.by_index(i))
    else {
        return envelope(
            StatusCode::NOT_FOUND,
            12052048,
            "The product does not exist.",
            None,
        );
    };
    let sku_id = (SKU_ID_BASE + listing.index).to_string();
    let mut quantity = None;
    for s in &req.skus {
        if s.id != sku_id {
            return bad_param("The sku does not belong to the product.");
        }
        for inv in &s.inventory {
            if inv.warehouse_id != SANDBOX_WAREHOUSE_ID || !(0..=99_999).contains(&inv.quantity) {
                return bad_param("Invalid warehouse_id or quantity.");
            }
            quantity = Some(inv.quantity);
        }
    }
    if let Some(q) = quantity {
        sb.catalog.set_quantity(&listing.sku, q);
    }
    after(fault).await;
    ok(json!({}))
}

async fn ship_package(
    State(sb): State<TiktokSandbox>,
    Path(package_id): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = format!("/fulfillment/202309/packages/{package_id}/ship");
    let query = query_map(raw);
    let fault = match sb.gate("packages/ship", &path, &headers, &query, &body) {
        Ok(f) => f,
        Err(r) => return r,
    };
    before(fault).await;
    let req: super::wire::ShipPackageRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(_) => return bad_param("Invalid request body."),
    };
    let number = req.self_shipment.tracking_number.trim().to_string();
    let provider = req.self_shipment.shipping_provider_id;
    if number.is_empty() || !PROVIDERS.iter().any(|(id, _)| *id == provider) {
        return bad_param("Invalid tracking_number or shipping_provider_id.");
    }
    let order_id = {
        let mut store = sb.lock();
        let Some(order) = store.orders.iter_mut().find(|o| o.package_id == package_id) else {
            return envelope(
                StatusCode::NOT_FOUND,
                21011001,
                "Package does not exist.",
                None,
            );
        };
        if order.status != "AWAITING_SHIPMENT" {
            return bad_param("The package status does not allow this operation.");
        }
        order.status = "IN_TRANSIT";
        order.tracking = Some((number.clone(), provider.clone()));
        order.updated = Utc::now().timestamp();
        order.id.clone()
    };
    sb.record_tracking(&order_id, &number, &provider);
    after(fault).await;
    ok(json!({}))
}

async fn shipping_providers(
    State(sb): State<TiktokSandbox>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Response {
    let path = format!("/logistics/202309/delivery_options/{id}/shipping_providers");
    let query = query_map(raw);
    let fault = match sb.gate("shipping_providers", &path, &headers, &query, b"") {
        Ok(f) => f,
        Err(r) => return r,
    };
    before(fault).await;
    if id != DELIVERY_OPTION_ID {
        return bad_param("Invalid delivery_option_id.");
    }
    let list: Vec<Value> = PROVIDERS
        .iter()
        .map(|(id, name)| json!({ "id": id, "name": name }))
        .collect();
    ok(json!({ "shipping_providers": list }))
}

async fn seed(State(sb): State<TiktokSandbox>, body: Bytes) -> Response {
    let req: SeedRequest = match parse_body(&body) {
        Ok(r) => r,
        Err(r) => return r,
    };
    let ids = sb.seed(
        req.count.min(100_000),
        req.start,
        req.step_ms.unwrap_or(1000),
    );
    json_response(StatusCode::OK, &json!({ "ids": ids }))
}

async fn touch(State(sb): State<TiktokSandbox>, Path(id): Path<String>, body: Bytes) -> Response {
    let req: TouchRequest = match parse_body(&body) {
        Ok(r) => r,
        Err(r) => return r,
    };
    let mut store = sb.lock();
    let Some(order) = store.orders.iter_mut().find(|o| o.id == id) else {
        return json_response(StatusCode::NOT_FOUND, &json!({ "error": "no such order" }));
    };
    // Update times are whole seconds: move at least one second on.
    order.updated = match req.updated_at {
        Some(t) => t.timestamp(),
        None => Utc::now().timestamp().max(order.updated + 1),
    };
    if req.cancel {
        order.status = "CANCELLED";
    }
    json_response(StatusCode::OK, &order.render())
}

async fn webhook(
    State(sb): State<TiktokSandbox>,
    Path(id): Path<String>,
    axum::extract::Query(q): axum::extract::Query<WebhookQuery>,
) -> Response {
    let Some((status, updated)) = sb
        .lock()
        .orders
        .iter()
        .find(|o| o.id == id)
        .map(|o| (o.status, o.updated))
    else {
        return json_response(StatusCode::NOT_FOUND, &json!({ "error": "no such order" }));
    };
    let kind: i64 = q.topic.and_then(|t| t.parse().ok()).unwrap_or(1);
    let body = json!({
        "type": kind,
        "tts_notification_id": format!("7327{:015}", rand::random::<u64>() % 1_000_000_000_000_000),
        "shop_id": "7494049642642441621",
        "timestamp": Utc::now().timestamp(),
        "data": { "order_id": id, "order_status": status, "update_time": updated },
    })
    .to_string();
    let signature = sign_webhook(&sb.app_key, &sb.app_secret, body.as_bytes());
    json_response(
        StatusCode::OK,
        &json!({
            "headers": { "Authorization": signature, "Content-Type": "application/json" },
            "body": body,
        }),
    )
}
