//! A local Amazon Selling Partner API: Login with Amazon token refresh
//! (`POST /auth/o2/token`), Orders v2026-01-01 `searchOrders` and `getOrder`,
//! and Orders v0 `confirmShipment`, with SP-API's auth header
//! (`x-amz-access-token`), error bodies (`{"errors": [{code, message,
//! details}]}`), per-operation token buckets answered with
//! `x-amzn-RateLimit-Limit` and, when empty, 429 `QuotaExceeded` without
//! `Retry-After`. Listings Items 2021-08-01 `patchListingsItem`
//! (`PATCH /listings/2021-08-01/items/{sellerId}/{sku}?marketplaceIds=`, a
//! JSON Patch replacing `fulfillment_availability`, 5/s burst 5) sets a
//! listing's quantity; the listings are the shared [`Catalog`] (404 for a
//! sku not listed). Amazon sends order notifications through SQS/EventBridge,
//! not HTTP webhooks, so the webhook control route answers 501.

pub use super::sandbox_profile as profile;
use super::wire::{
    AmazonOrder, ApiError, Buyer, ConfirmShipmentRequest, CustomerAddress, ErrorList, ItemPrice,
    ItemProceeds, ItemProduct, LwaTokenResponse, Money, OrderFulfillment, OrderItem, OrderPackage,
    OrderProceeds, Pagination, ProceedsBreakdown, Recipient, SalesChannel, SearchOrdersResponse,
};
pub use super::{
    SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET, SANDBOX_MARKETPLACE, SANDBOX_REFRESH_TOKEN,
    SANDBOX_SELLER_ID,
};
use crate::sandbox::generate::{generate_order, GenOrder};
use crate::sandbox::{
    json_response, parse_body, Catalog, Fault, SandboxCore, SandboxLimits, SandboxProfile,
};
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use chrono::{DateTime, SecondsFormat, Utc};
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

const TOKEN_LIFETIME: Duration = Duration::from_secs(3600);
const PAGE_TOKEN_LIFETIME: Duration = Duration::from_secs(24 * 3600);

pub const SEARCH_PATH: &str = "/orders/2026-01-01/orders";
pub const GET_ORDER_PATH: &str = "/orders/2026-01-01/orders/{orderId}";
pub const CONFIRM_PATH: &str = "/orders/v0/orders/{orderId}/shipmentConfirmation";
pub const LISTINGS_ITEM_PATH: &str = "/listings/2021-08-01/items/{sellerId}/{sku}";
/// `patchListingsItem`'s default usage plan.
pub const PATCH_LISTINGS_PLAN: UsagePlan = UsagePlan {
    rate: 5.0,
    burst: 5,
};

/// One operation's usage plan: `rate` requests/s refill, `burst` bucket size.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct UsagePlan {
    pub rate: f64,
    pub burst: u32,
}

/// The usage plans the sandbox enforces, per operation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AmazonLimits {
    pub search_orders: UsagePlan,
    pub get_order: UsagePlan,
    pub confirm_shipment: UsagePlan,
}

impl AmazonLimits {
    /// Amazon's default usage plans: searchOrders 0.0056/s burst 20, getOrder
    /// 0.5/s burst 30 (Orders v2026-01-01 model), confirmShipment 2/s burst 10
    /// (Orders v0 model).
    pub fn published() -> Self {
        Self {
            search_orders: UsagePlan {
                rate: 0.0056,
                burst: 20,
            },
            get_order: UsagePlan {
                rate: 0.5,
                burst: 30,
            },
            confirm_shipment: UsagePlan {
                rate: 2.0,
                burst: 10,
            },
        }
    }

    /// Still token buckets, large enough for demos of thousands of orders.
    pub fn volume() -> Self {
        Self {
            search_orders: UsagePlan {
                rate: 20.0,
                burst: 40,
            },
            get_order: UsagePlan {
                rate: 20.0,
                burst: 40,
            },
            confirm_shipment: UsagePlan {
                rate: 20.0,
                burst: 40,
            },
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Operation {
    SearchOrders,
    GetOrder,
    ConfirmShipment,
    PatchListingsItem,
}

struct Bucket {
    plan: UsagePlan,
    tokens: f64,
    last: Instant,
}

impl Bucket {
    fn new(plan: UsagePlan) -> Self {
        Self {
            plan,
            tokens: plan.burst as f64,
            last: Instant::now(),
        }
    }

    fn try_take(&mut self) -> bool {
        let now = Instant::now();
        let refill = now.duration_since(self.last).as_secs_f64() * self.plan.rate;
        self.tokens = (self.tokens + refill).min(self.plan.burst as f64);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

struct StoredOrder {
    gen: GenOrder,
    updated_at: DateTime<Utc>,
    cancelled: bool,
    packages: Vec<OrderPackage>,
}

struct PageCursor {
    ids: Vec<String>,
    offset: usize,
    issued: Instant,
}

#[derive(Default)]
struct SandboxState {
    orders: BTreeMap<String, StoredOrder>,
    next_seq: u64,
    access_tokens: HashMap<String, Instant>,
    pages: HashMap<String, PageCursor>,
    buckets: HashMap<Operation, Bucket>,
    issued: u64,
}

/// The sandbox's state; `router()` serves it.
pub struct AmazonSandbox {
    pub core: Arc<SandboxCore>,
    pub catalog: Catalog,
    profile: SandboxProfile,
    limits: AmazonLimits,
    state: Mutex<SandboxState>,
}

pub fn router(profile: &SandboxProfile, limits: SandboxLimits) -> Router {
    let limits = match limits {
        SandboxLimits::Published => AmazonLimits::published(),
        SandboxLimits::Volume => AmazonLimits::volume(),
    };
    AmazonSandbox::new(profile.clone(), limits).router()
}

/// An SP-API error response.
fn api_error(status: StatusCode, code: &str, message: &str, details: &str) -> Response {
    let body = ErrorList {
        errors: vec![ApiError {
            code: code.into(),
            message: message.into(),
            details: Some(details.into()),
        }],
    };
    json_response(status, &json!(body))
}

fn quota_exceeded() -> Response {
    // Amazon sends no Retry-After: clients model the bucket themselves.
    api_error(
        StatusCode::TOO_MANY_REQUESTS,
        "QuotaExceeded",
        "You exceeded your quota for the requested resource.",
        "",
    )
}

fn invalid_input(message: &str) -> Response {
    api_error(StatusCode::BAD_REQUEST, "InvalidInput", message, "")
}

fn time_str(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Amazon order ids look like `113-1234567-1234567`.
fn order_id(seq: u64) -> String {
    format!(
        "113-{:07}-{:07}",
        (seq * 7_919) % 10_000_000,
        seq % 10_000_000
    )
}

fn money(amount: Decimal, currency: &str) -> Money {
    Money {
        amount: amount.to_string(),
        currency_code: currency.into(),
    }
}

impl AmazonSandbox {
    pub fn new(profile: SandboxProfile, limits: AmazonLimits) -> Arc<Self> {
        let mut state = SandboxState::default();
        state
            .buckets
            .insert(Operation::SearchOrders, Bucket::new(limits.search_orders));
        state
            .buckets
            .insert(Operation::GetOrder, Bucket::new(limits.get_order));
        state.buckets.insert(
            Operation::ConfirmShipment,
            Bucket::new(limits.confirm_shipment),
        );
        state.buckets.insert(
            Operation::PatchListingsItem,
            Bucket::new(PATCH_LISTINGS_PLAN),
        );
        let core = SandboxCore::new();
        Arc::new(Self {
            catalog: Catalog::generated(core.clone()),
            core,
            profile,
            limits,
            state: Mutex::new(state),
        })
    }

    fn state(&self) -> MutexGuard<'_, SandboxState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn plan(&self, op: Operation) -> UsagePlan {
        match op {
            Operation::SearchOrders => self.limits.search_orders,
            Operation::GetOrder => self.limits.get_order,
            Operation::ConfirmShipment => self.limits.confirm_shipment,
            Operation::PatchListingsItem => PATCH_LISTINGS_PLAN,
        }
    }

    pub fn router(self: Arc<Self>) -> Router {
        let vendor = Router::new()
            .route("/auth/o2/token", post(token))
            .route(SEARCH_PATH, get(search_orders))
            .route(GET_ORDER_PATH, get(get_order))
            .route(CONFIRM_PATH, post(confirm_shipment))
            .route(
                LISTINGS_ITEM_PATH,
                axum::routing::patch(patch_listings_item),
            )
            .route("/_sandbox/seed", post(seed))
            .route("/_sandbox/orders/{external_id}/touch", post(touch))
            .route("/_sandbox/orders/{external_id}/webhook", get(webhook))
            .with_state(self.clone());
        vendor
            .merge(self.core.control_routes())
            .merge(self.catalog.control_routes())
    }

    /// Create `count` generated orders updated from `start`, `step_ms` apart.
    pub fn seed_orders(&self, count: u32, start: DateTime<Utc>, step_ms: u64) -> Vec<String> {
        let mut st = self.state();
        (0..count)
            .map(|i| {
                let seq = st.next_seq;
                st.next_seq += 1;
                let at = start + chrono::Duration::milliseconds((i as u64 * step_ms) as i64);
                let id = order_id(seq);
                let gen = generate_order(seq, at);
                st.orders.insert(
                    id.clone(),
                    StoredOrder {
                        gen,
                        updated_at: at,
                        cancelled: false,
                        packages: vec![],
                    },
                );
                id
            })
            .collect()
    }

    /// Count, inject faults, check credentials and the usage plan, in the
    /// order Amazon's front door does. `Ok(fault)` to go on with the work.
    async fn gate(
        &self,
        label: &str,
        op: Operation,
        headers: &HeaderMap,
    ) -> Result<Option<Fault>, Response> {
        self.core.count_request(label);
        let fault = self.core.decide_fault(label);
        match fault {
            Some(Fault::TooManyRequests { .. }) => return Err(quota_exceeded()),
            Some(Fault::ServerError(code)) => {
                let status =
                    StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                let (code, message) = if code == 503 {
                    ("ServiceUnavailable", "Service temporarily unavailable.")
                } else {
                    (
                        "InternalFailure",
                        "We encountered an internal error. Please try again.",
                    )
                };
                return Err(api_error(status, code, message, ""));
            }
            Some(Fault::Timeout(d)) | Some(Fault::Slow(d)) => tokio::time::sleep(d).await,
            _ => {}
        }
        let unauthorized = || {
            api_error(
                StatusCode::FORBIDDEN,
                "Unauthorized",
                "Access to requested resource is denied.",
                "",
            )
        };
        if self.core.credentials_revoked() {
            return Err(unauthorized());
        }
        let token = headers
            .get("x-amz-access-token")
            .and_then(|v| v.to_str().ok());
        let mut st = self.state();
        let valid = token
            .and_then(|t| st.access_tokens.get(t))
            .is_some_and(|expires| *expires > Instant::now());
        if !valid {
            return Err(api_error(
                StatusCode::FORBIDDEN,
                "Unauthorized",
                "Access to requested resource is denied.",
                "The access token you provided is revoked, malformed or invalid.",
            ));
        }
        let allowed = st.buckets.get_mut(&op).is_some_and(Bucket::try_take);
        drop(st);
        if !allowed {
            self.core.count_throttled();
            return Err(quota_exceeded());
        }
        Ok(fault)
    }

    fn with_limit_header(&self, op: Operation, mut resp: Response) -> Response {
        let rate = self.plan(op).rate.to_string();
        if let Ok(v) = HeaderValue::from_str(&rate) {
            resp.headers_mut().insert("x-amzn-RateLimit-Limit", v);
        }
        let id = {
            let mut st = self.state();
            st.issued += 1;
            st.issued
        };
        if let Ok(v) = HeaderValue::from_str(&format!("sandbox-{id:012}")) {
            resp.headers_mut().insert("x-amzn-RequestId", v);
        }
        resp
    }

    fn render(&self, id: &str, o: &StoredOrder, included: &[String]) -> AmazonOrder {
        let wants = |what: &str| included.iter().any(|i| i == what);
        let g = &o.gen;
        let cur = g.currency;
        let items: Vec<OrderItem> = g
            .lines
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let line = l.unit_price * Decimal::from(l.quantity);
                let shipping = if i == 0 { g.shipping } else { Decimal::ZERO };
                let breakdowns = vec![
                    ProceedsBreakdown {
                        kind: "ITEM".into(),
                        subtotal: money(line, cur),
                    },
                    ProceedsBreakdown {
                        kind: "SHIPPING".into(),
                        subtotal: money(shipping, cur),
                    },
                    ProceedsBreakdown {
                        kind: "TAX".into(),
                        subtotal: money(l.tax, cur),
                    },
                ];
                OrderItem {
                    order_item_id: format!("{}{:02}", 10_000_000_000u64 + g.seq * 10, l.position),
                    quantity_ordered: l.quantity,
                    product: ItemProduct {
                        asin: Some(format!("B0SANDBOX{}", &l.sku[4..])),
                        title: Some(l.title.into()),
                        seller_sku: Some(l.sku.clone()),
                        price: Some(ItemPrice {
                            unit_price: Some(money(l.unit_price, cur)),
                        }),
                    },
                    proceeds: wants("PROCEEDS").then(|| ItemProceeds {
                        proceeds_total: Some(money(line + shipping + l.tax, cur)),
                        breakdowns,
                    }),
                }
            })
            .collect();
        let status = if o.cancelled {
            "CANCELLED"
        } else if o.packages.is_empty() {
            "UNSHIPPED"
        } else {
            "SHIPPED"
        };
        let a = &g.address;
        AmazonOrder {
            order_id: id.into(),
            created_time: time_str(g.created_at),
            last_updated_time: time_str(o.updated_at),
            sales_channel: Some(SalesChannel {
                channel_name: "AMAZON".into(),
                marketplace_id: Some(SANDBOX_MARKETPLACE.into()),
                marketplace_name: Some("Amazon.com".into()),
            }),
            buyer: wants("BUYER").then(|| Buyer {
                buyer_name: Some(format!("{} {}", a.first_name, a.last_name)),
                buyer_email: Some(format!("{}@marketplace.amazon.com", g.seq)),
                buyer_company_name: None,
            }),
            recipient: wants("RECIPIENT").then(|| Recipient {
                delivery_address: Some(CustomerAddress {
                    name: Some(format!("{} {}", a.first_name, a.last_name)),
                    address_line1: Some(a.street.into()),
                    city: Some(a.city.into()),
                    state_or_region: Some(a.region_code.into()),
                    postal_code: Some(a.postal_code.into()),
                    country_code: Some(a.country_code.into()),
                    phone: Some(g.phone.into()),
                    address_type: Some("RESIDENTIAL".into()),
                    ..Default::default()
                }),
            }),
            proceeds: wants("PROCEEDS").then(|| OrderProceeds {
                grand_total: Some(money(g.total, cur)),
                breakdowns: vec![],
            }),
            fulfillment: wants("FULFILLMENT").then(|| OrderFulfillment {
                fulfillment_status: status.into(),
                fulfilled_by: Some("MERCHANT".into()),
                fulfillment_service_level: Some("STANDARD".into()),
            }),
            order_items: items,
            packages: wants("PACKAGES").then(|| o.packages.clone()),
        }
    }

    fn record_tracking(&self, id: &str, packages: &[OrderPackage]) {
        let list: Vec<Value> = packages
            .iter()
            .map(|p| json!({ "carrier": p.carrier, "number": p.tracking_number, "url": null }))
            .collect();
        self.core.record(|r| {
            if !r.is_object() {
                *r = json!({});
            }
            r["tracking"][id] = Value::Array(list);
        });
    }
}

fn form(body: &[u8]) -> HashMap<String, String> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

/// Query pairs; repeated or comma-separated list values are both accepted.
fn query(raw: &Option<String>) -> HashMap<String, String> {
    url::form_urlencoded::parse(raw.as_deref().unwrap_or_default().as_bytes())
        .into_owned()
        .collect()
}

fn list(q: &HashMap<String, String>, name: &str) -> Vec<String> {
    q.get(name)
        .map(|v| {
            v.split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

async fn token(State(sb): State<Arc<AmazonSandbox>>, body: Bytes) -> Response {
    let f = form(&body);
    let lwa_error = |status: StatusCode, error: &str, description: &str| {
        json_response(
            status,
            &json!({ "error": error, "error_description": description }),
        )
    };
    if f.get("grant_type").map(String::as_str) != Some("refresh_token") {
        return lwa_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "The authorization grant type is not supported by the authorization server",
        );
    }
    if f.get("client_id").map(String::as_str) != Some(sb.profile.secret("client_id"))
        || f.get("client_secret").map(String::as_str) != Some(sb.profile.secret("client_secret"))
    {
        return lwa_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "Client authentication failed",
        );
    }
    if sb.core.credentials_revoked()
        || f.get("refresh_token").map(String::as_str) != Some(sb.profile.secret("refresh_token"))
    {
        return lwa_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "The request has an invalid grant parameter : refresh_token",
        );
    }
    let mut st = sb.state();
    st.issued += 1;
    let access = format!("Atza|sandbox-access-{:08}", st.issued);
    st.access_tokens
        .insert(access.clone(), Instant::now() + TOKEN_LIFETIME);
    json_response(
        StatusCode::OK,
        &json!(LwaTokenResponse {
            access_token: access,
            token_type: Some("bearer".into()),
            expires_in: TOKEN_LIFETIME.as_secs(),
            refresh_token: Some(sb.profile.secret("refresh_token").into()),
        }),
    )
}

#[allow(clippy::result_large_err)]
fn parse_time(q: &HashMap<String, String>, name: &str) -> Result<Option<DateTime<Utc>>, Response> {
    match q.get(name) {
        None => Ok(None),
        Some(v) => DateTime::parse_from_rfc3339(v)
            .map(|t| Some(t.with_timezone(&Utc)))
            .map_err(|_| invalid_input(&format!("{name} is not a valid ISO 8601 date time"))),
    }
}

async fn search_orders(
    State(sb): State<Arc<AmazonSandbox>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let op = Operation::SearchOrders;
    let fault = match sb.gate(SEARCH_PATH, op, &headers).await {
        Ok(f) => f,
        Err(r) => return sb.with_limit_header(op, r),
    };
    let resp = search_page(&sb, &query(&raw), fault == Some(Fault::Malformed));
    sb.with_limit_header(op, resp)
}

fn search_page(sb: &AmazonSandbox, q: &HashMap<String, String>, spoil: bool) -> Response {
    let included = list(q, "includedData");
    let page_size = match q.get("maxResultsPerPage").map(|v| v.parse::<usize>()) {
        None => 100,
        Some(Ok(n)) if (1..=100).contains(&n) => n,
        Some(_) => return invalid_input("maxResultsPerPage must be between 1 and 100"),
    };
    let mut st = sb.state();
    let cursor = if let Some(token) = q.get("paginationToken") {
        match st.pages.remove(token) {
            Some(c) if c.issued.elapsed() < PAGE_TOKEN_LIFETIME => c,
            _ => return invalid_input("Invalid paginationToken"),
        }
    } else {
        let marketplaces = list(q, "marketplaceIds");
        if marketplaces.is_empty() {
            return invalid_input("marketplaceIds is required");
        }
        let (after, before) = match (
            parse_time(q, "lastUpdatedAfter"),
            parse_time(q, "lastUpdatedBefore"),
            parse_time(q, "createdAfter"),
        ) {
            (Ok(Some(a)), Ok(b), Ok(None)) => (a, b),
            (Err(r), ..) | (_, Err(r), _) | (.., Err(r)) => return r,
            _ => {
                return invalid_input(
                    "Exactly one of createdAfter and lastUpdatedAfter is required",
                )
            }
        };
        let mut matching: Vec<(&String, &StoredOrder)> = st
            .orders
            .iter()
            .filter(|_| marketplaces.iter().any(|m| m == SANDBOX_MARKETPLACE))
            .filter(|(_, o)| o.updated_at >= after && before.is_none_or(|b| o.updated_at <= b))
            .collect();
        matching.sort_by(|a, b| a.1.updated_at.cmp(&b.1.updated_at).then(a.0.cmp(b.0)));
        PageCursor {
            ids: matching.into_iter().map(|(id, _)| id.clone()).collect(),
            offset: 0,
            issued: Instant::now(),
        }
    };
    let end = (cursor.offset + page_size).min(cursor.ids.len());
    let mut orders: Vec<Value> = cursor.ids[cursor.offset..end]
        .iter()
        .filter_map(|id| {
            st.orders
                .get(id)
                .map(|o| json!(sb.render(id, o, &included)))
        })
        .collect();
    if spoil && !orders.is_empty() {
        let i = sb.core.random_index(orders.len());
        orders[i]["orderItems"][0]["product"]["price"]["unitPrice"]["amount"] = json!("N/A");
    }
    let pagination = (end < cursor.ids.len()).then(|| {
        st.issued += 1;
        let token = format!("sandbox-page-{:010}", st.issued);
        st.pages.insert(
            token.clone(),
            PageCursor {
                offset: end,
                ..cursor
            },
        );
        Pagination {
            next_token: Some(token),
        }
    });
    json_response(
        StatusCode::OK,
        &json!(SearchOrdersResponse {
            orders,
            pagination,
            ..Default::default()
        }),
    )
}

async fn get_order(
    State(sb): State<Arc<AmazonSandbox>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let op = Operation::GetOrder;
    let resp = match sb.gate(GET_ORDER_PATH, op, &headers).await {
        Err(r) => r,
        Ok(_) => {
            let included = list(&query(&raw), "includedData");
            let st = sb.state();
            match st.orders.get(&id) {
                Some(o) => json_response(
                    StatusCode::OK,
                    &json!({ "order": sb.render(&id, o, &included) }),
                ),
                None => api_error(StatusCode::NOT_FOUND, "NotFound", "Order not found.", &id),
            }
        }
    };
    sb.with_limit_header(op, resp)
}

/// `patchListingsItem`: only `replace` of `/attributes/fulfillment_availability`
/// with `[{fulfillment_channel_code: "DEFAULT", quantity}]` is modelled.
async fn patch_listings_item(
    State(sb): State<Arc<AmazonSandbox>>,
    Path((seller_id, sku)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    use super::wire::ListingsItemPatchRequest;
    let op = Operation::PatchListingsItem;
    let fault = match sb.gate(LISTINGS_ITEM_PATH, op, &headers).await {
        Ok(f) => f,
        Err(r) => return sb.with_limit_header(op, r),
    };
    let q: BTreeMap<String, String> =
        url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    let resp = (|| {
        if seller_id != SANDBOX_SELLER_ID {
            return api_error(
                StatusCode::FORBIDDEN,
                "Unauthorized",
                "Access to requested resource is denied.",
                "",
            );
        }
        if q.get("marketplaceIds").map(String::as_str) != Some(SANDBOX_MARKETPLACE) {
            return api_error(
                StatusCode::BAD_REQUEST,
                "InvalidInput",
                "Missing or invalid request parameters: [marketplaceIds]",
                "",
            );
        }
        let Ok(req) = serde_json::from_slice::<ListingsItemPatchRequest>(&body) else {
            return api_error(
                StatusCode::BAD_REQUEST,
                "InvalidInput",
                "Request body is not a valid ListingsItemPatchRequest.",
                "",
            );
        };
        let Some(listing) = sb.catalog.find(&sku) else {
            return api_error(
                StatusCode::NOT_FOUND,
                "NOT_FOUND",
                &format!("SKU '{sku}' not found in marketplace {SANDBOX_MARKETPLACE}"),
                "",
            );
        };
        let mut quantity = None;
        for p in &req.patches {
            let entry = p
                .value
                .as_ref()
                .and_then(|v| v.as_array())
                .and_then(|a| a.first())
                .cloned()
                .unwrap_or_default();
            let q = entry.get("quantity").and_then(Value::as_i64);
            if p.op != "replace"
                || p.path != "/attributes/fulfillment_availability"
                || entry
                    .get("fulfillment_channel_code")
                    .and_then(Value::as_str)
                    != Some("DEFAULT")
                || !q.is_some_and(|q| q >= 0)
            {
                return json_response(
                    StatusCode::OK,
                    &json!({
                        "sku": sku,
                        "status": "INVALID",
                        "submissionId": format!("sub-{}", listing.index),
                        "issues": [{"code": "90220", "message": "The patch is not valid for fulfillment_availability.", "severity": "ERROR", "attributeNames": ["fulfillment_availability"]}],
                    }),
                );
            }
            quantity = q;
        }
        if let Some(q) = quantity {
            sb.catalog.set_quantity(&listing.sku, q);
        }
        json_response(
            StatusCode::OK,
            &json!({
                "sku": sku,
                "status": "ACCEPTED",
                "submissionId": format!("{:032x}", rand::random::<u128>()),
                "issues": [],
            }),
        )
    })();
    if let Some(Fault::TimeoutAfterSuccess(d)) = fault {
        tokio::time::sleep(d).await;
    }
    sb.with_limit_header(op, resp)
}

async fn confirm_shipment(
    State(sb): State<Arc<AmazonSandbox>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let op = Operation::ConfirmShipment;
    let fault = match sb.gate(CONFIRM_PATH, op, &headers).await {
        Ok(f) => f,
        Err(r) => return sb.with_limit_header(op, r),
    };
    let resp = apply_confirmation(&sb, &id, &body);
    if let Some(Fault::TimeoutAfterSuccess(d)) = fault {
        tokio::time::sleep(d).await;
    }
    sb.with_limit_header(op, resp)
}

fn apply_confirmation(sb: &AmazonSandbox, id: &str, body: &[u8]) -> Response {
    let req: ConfirmShipmentRequest = match serde_json::from_slice(body) {
        Ok(r) => r,
        Err(e) => return invalid_input(&format!("Invalid request body: {e}")),
    };
    let d = &req.package_detail;
    if req.marketplace_id != SANDBOX_MARKETPLACE {
        return invalid_input("Invalid marketplaceId");
    }
    if d.package_reference_id
        .parse::<u64>()
        .map_or(true, |n| n == 0)
    {
        return invalid_input("packageReferenceId must be a positive number");
    }
    if d.carrier_code.trim().is_empty() || d.tracking_number.trim().is_empty() {
        return invalid_input("carrierCode and trackingNumber are required");
    }
    if DateTime::parse_from_rfc3339(&d.ship_date).is_err() {
        return invalid_input("shipDate is not a valid ISO 8601 date time");
    }
    let mut st = sb.state();
    let Some(order) = st.orders.get_mut(id) else {
        return api_error(StatusCode::NOT_FOUND, "NotFound", "Order not found.", id);
    };
    if order.cancelled {
        return invalid_input("The order is cancelled and cannot be confirmed.");
    }
    let item_ids: Vec<String> = order
        .gen
        .lines
        .iter()
        .map(|l| {
            format!(
                "{}{:02}",
                10_000_000_000u64 + order.gen.seq * 10,
                l.position
            )
        })
        .collect();
    if d.order_items
        .iter()
        .any(|i| !item_ids.contains(&i.order_item_id))
    {
        return invalid_input("Invalid orderItemId");
    }
    let carrier = d.carrier_name.clone().filter(|_| d.carrier_code == "Other");
    let package = OrderPackage {
        package_reference_id: d.package_reference_id.clone(),
        carrier: carrier.or_else(|| Some(d.carrier_code.clone())),
        ship_time: Some(d.ship_date.clone()),
        shipping_service: d.shipping_method.clone(),
        tracking_number: Some(d.tracking_number.clone()),
    };
    // The same packageReferenceId edits that package, as Amazon documents.
    match order
        .packages
        .iter_mut()
        .find(|p| p.package_reference_id == d.package_reference_id)
    {
        Some(p) => *p = package,
        None => order.packages.push(package),
    }
    order.updated_at = Utc::now().max(order.updated_at + chrono::Duration::milliseconds(1));
    let packages = order.packages.clone();
    drop(st);
    sb.record_tracking(id, &packages);
    StatusCode::NO_CONTENT.into_response()
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct SeedRequest {
    count: u32,
    start: Option<DateTime<Utc>>,
    step_ms: Option<u64>,
}

async fn seed(State(sb): State<Arc<AmazonSandbox>>, body: Bytes) -> Response {
    let req: SeedRequest = match parse_body(&body) {
        Ok(r) => r,
        Err(r) => return r,
    };
    let step = req.step_ms.unwrap_or(1000);
    let start = req.start.unwrap_or_else(|| {
        Utc::now() - chrono::Duration::milliseconds((step * req.count as u64) as i64)
    });
    let ids = sb.seed_orders(req.count, start, step);
    json_response(StatusCode::OK, &json!({ "ids": ids }))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct TouchRequest {
    updated_at: Option<DateTime<Utc>>,
    cancel: Option<bool>,
}

async fn touch(
    State(sb): State<Arc<AmazonSandbox>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let req: TouchRequest = match parse_body(&body) {
        Ok(r) => r,
        Err(r) => return r,
    };
    let mut st = sb.state();
    let Some(order) = st.orders.get_mut(&id) else {
        return json_response(StatusCode::NOT_FOUND, &json!({ "error": "unknown order" }));
    };
    order.updated_at = req
        .updated_at
        .unwrap_or_else(|| Utc::now().max(order.updated_at + chrono::Duration::milliseconds(1)));
    if req.cancel == Some(true) {
        order.cancelled = true;
    }
    json_response(
        StatusCode::OK,
        &json!({ "orderId": id, "lastUpdatedTime": time_str(order.updated_at) }),
    )
}

async fn webhook() -> Response {
    json_response(
        StatusCode::NOT_IMPLEMENTED,
        &json!({ "error": "Amazon delivers order notifications through SQS/EventBridge, not HTTP webhooks" }),
    )
}
