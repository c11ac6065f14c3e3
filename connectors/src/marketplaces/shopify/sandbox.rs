//! A local imitation of Shopify's GraphQL Admin API, for tests, the demo and the
//! benchmark.
//!
//! Vendor surface: `POST /admin/api/{version}/graphql.json` with
//! `X-Shopify-Access-Token`, served by async-graphql with Shopify's names for the
//! subset the connector uses: `orders` (first/after/query/sortKey/reverse, search
//! filters `updated_at:>=`, `updated_at:>`, `created_at:>=` …), `order(id:)`,
//! `Order.lineItems`, `Order.fulfillmentOrders`, `Order.fulfillments` (with
//! `Fulfillment.displayStatus` and `Fulfillment.events`) and the
//! `fulfillmentCreate` and `fulfillmentEventCreate` mutations; for stock,
//! `productVariants(first:, query: "sku:…")` (variant, inventory item, its
//! inventory levels' locations) and `inventorySetQuantities` (`available`,
//! one location, absolute quantities) over the shared [`Catalog`] (variant
//! `gid://shopify/ProductVariant/{44000000000 + index}`, inventory item
//! `{46000000000 + index}`, one location `gid://shopify/Location/{LOCATION_ID}`). Every answer
//! carries `extensions.cost` from a
//! leaky bucket charged with the calculated query cost ([`super::cost`]); an empty
//! bucket answers 200 with a `THROTTLED` error, a query above 1,000 points
//! `MAX_COST_EXCEEDED`, a wrong token 401 with Shopify's error body.
//!
//! Control surface: the shared `/_sandbox/faults|stats|reset-stats`, plus
//! `POST /_sandbox/seed`, `POST /_sandbox/orders/{id}/touch` and
//! `GET /_sandbox/orders/{id}/webhook?topic=orders/updated` (a signed webhook
//! delivery for the order, to post to the hub).

use super::client::{sign_webhook, HEADER_HMAC, HEADER_TOPIC, HEADER_WEBHOOK_ID, TOPICS};
use super::cost::{self, MAX_SINGLE_QUERY_COST};
use super::mapping::gid_tail;
use crate::sandbox::catalog::generated_barcode;
use crate::sandbox::generate::{catalog_price, dec, CATALOG, COUNTRIES};
use crate::sandbox::{
    bad_request, json_response, parse_body, Catalog, Fault, Listing, SandboxCore,
};
use async_graphql::{
    Context, EmptySubscription, Enum, InputObject, InputValueError, InputValueResult, Object,
    Scalar, ScalarType, Schema, SimpleObject, Variables, ID,
};
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use base64::Engine;
use chrono::{DateTime, Duration as ChronoDuration, SecondsFormat, TimeZone, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

/// Shopify's answer to a missing or wrong access token (HTTP 401).
pub const INVALID_TOKEN_BODY: &str =
    r#"{"errors":"[API] Invalid API key or access token (unrecognized login or wrong password)"}"#;
const RATE_LIMIT_DOCS: &str = "https://shopify.dev/api/usage/rate-limits";
const FIRST_ORDER_ID: u64 = 1001;
const MAX_SEED: u32 = 100_000;

/// How the sandbox behaves. Defaults: a Standard-plan shop (bucket 2,000 points,
/// restoring 100 points/s, as Shopify reports `maximumAvailable`/`restoreRate`
/// for Standard shops).
#[derive(Clone)]
pub struct ShopifySandboxOptions {
    pub access_token: String,
    pub webhook_secret: String,
    /// `maximumAvailable`, in cost points.
    pub bucket_size: f64,
    /// `restoreRate`, in cost points per second.
    pub restore_rate: f64,
}

impl Default for ShopifySandboxOptions {
    fn default() -> Self {
        Self {
            access_token: "shpat_sandbox_token".into(),
            webhook_secret: "sandbox_webhook_secret".into(),
            bucket_size: 2000.0,
            restore_rate: 100.0,
        }
    }
}

impl ShopifySandboxOptions {
    /// A Standard-plan shop (the default): bucket 2,000, 100 points/s. With the
    /// connector's orders query that is about 2–3 orders a second once the
    /// bucket is drained, as on a real Standard shop.
    pub fn standard(access_token: &str, webhook_secret: &str) -> Self {
        Self {
            access_token: access_token.into(),
            webhook_secret: webhook_secret.into(),
            ..Self::default()
        }
    }

    /// A Shopify Plus shop: 1,000 points/s (bucket 20,000, the same 20 s of
    /// restore as the Standard bucket holds).
    pub fn plus(access_token: &str, webhook_secret: &str) -> Self {
        Self {
            bucket_size: 20_000.0,
            restore_rate: 1_000.0,
            ..Self::standard(access_token, webhook_secret)
        }
    }

    /// For tests and the demo that need volume fast: the bucket is still
    /// enforced and reported, but restores 100,000 points/s.
    pub fn fast(access_token: &str, webhook_secret: &str) -> Self {
        Self {
            bucket_size: 100_000.0,
            restore_rate: 100_000.0,
            ..Self::standard(access_token, webhook_secret)
        }
    }
}

impl std::fmt::Debug for ShopifySandboxOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShopifySandboxOptions")
            .field("bucket_size", &self.bucket_size)
            .field("restore_rate", &self.restore_rate)
            .finish_non_exhaustive()
    }
}

// ------------------------------------------------------------------ stored world

#[derive(Debug, Clone)]
struct SAddress {
    first_name: String,
    last_name: String,
    company: Option<String>,
    address1: String,
    address2: Option<String>,
    city: String,
    province: String,
    province_code: String,
    zip: String,
    country: String,
    country_code: String,
    phone: Option<String>,
}

#[derive(Debug, Clone)]
struct SLine {
    id: u64,
    sku: Option<String>,
    title: String,
    quantity: u32,
    price: Decimal,
    discount: Decimal,
    tax: Decimal,
    tax_rate: Decimal,
    grams: u32,
    /// The variant's barcode (`ProductVariant.barcode`).
    barcode: Option<String>,
}

impl SLine {
    fn total(&self) -> Decimal {
        self.price * Decimal::from(self.quantity) - self.discount
    }
}

#[derive(Debug, Clone)]
struct SFoLine {
    id: u64,
    line_id: u64,
    total: u32,
    remaining: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
enum FulfillmentOrderStatus {
    Cancelled,
    Closed,
    Incomplete,
    InProgress,
    OnHold,
    Open,
    Scheduled,
}

#[derive(Debug, Clone)]
struct SFo {
    id: u64,
    status: FulfillmentOrderStatus,
    lines: Vec<SFoLine>,
}

#[derive(Debug, Clone, SimpleObject)]
#[graphql(name = "FulfillmentTrackingInfo")]
struct STracking {
    company: Option<String>,
    number: Option<String>,
    url: Option<String>,
}

#[derive(Debug, Clone)]
struct SFulfillment {
    id: u64,
    created_at: DateTime<Utc>,
    tracking: Vec<STracking>,
    /// In the order they were created.
    events: Vec<SEvent>,
}

impl SFulfillment {
    /// The event that sets the display status: the one that happened last (the
    /// later-created one on a tie).
    fn latest_event(&self) -> Option<&SEvent> {
        self.events.iter().max_by_key(|e| (e.happened_at, e.id))
    }

    /// `displayStatus`: the latest event's status, FULFILLED before any event.
    fn display_status(&self) -> FulfillmentDisplayStatus {
        self.latest_event()
            .map(|e| e.status.display())
            .unwrap_or(FulfillmentDisplayStatus::Fulfilled)
    }

    fn first_event_at(&self, status: FulfillmentEventStatus) -> Option<DateTime<Utc>> {
        self.events
            .iter()
            .filter(|e| e.status == status)
            .map(|e| e.happened_at)
            .min()
    }
}

/// `FulfillmentEventStatus` (2025-10).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
enum FulfillmentEventStatus {
    AttemptedDelivery,
    CarrierPickedUp,
    Confirmed,
    Delayed,
    Delivered,
    Failure,
    InTransit,
    LabelPrinted,
    LabelPurchased,
    OutForDelivery,
    ReadyForPickup,
}

impl FulfillmentEventStatus {
    /// Shopify's name (`IN_TRANSIT`).
    fn name(self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default()
    }

    fn display(self) -> FulfillmentDisplayStatus {
        use FulfillmentDisplayStatus as D;
        match self {
            Self::AttemptedDelivery => D::AttemptedDelivery,
            Self::CarrierPickedUp => D::CarrierPickedUp,
            Self::Confirmed => D::Confirmed,
            Self::Delayed => D::Delayed,
            Self::Delivered => D::Delivered,
            Self::Failure => D::Failure,
            Self::InTransit => D::InTransit,
            Self::LabelPrinted => D::LabelPrinted,
            Self::LabelPurchased => D::LabelPurchased,
            Self::OutForDelivery => D::OutForDelivery,
            Self::ReadyForPickup => D::ReadyForPickup,
        }
    }
}

/// `FulfillmentDisplayStatus` (2025-10).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
enum FulfillmentDisplayStatus {
    AttemptedDelivery,
    Canceled,
    CarrierPickedUp,
    Confirmed,
    Delayed,
    Delivered,
    Failure,
    Fulfilled,
    InTransit,
    LabelPrinted,
    LabelPurchased,
    LabelVoided,
    MarkedAsFulfilled,
    NotDelivered,
    OutForDelivery,
    PickedUp,
    ReadyForPickup,
    Submitted,
}

/// `FulfillmentEventSortKeys` (2025-10).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
enum FulfillmentEventSortKeys {
    HappenedAt,
    Id,
}

/// One `FulfillmentEvent`, with the optional details `FulfillmentEventInput` takes.
#[derive(Debug, Clone)]
struct SEvent {
    id: u64,
    status: FulfillmentEventStatus,
    happened_at: DateTime<Utc>,
    created_at: DateTime<Utc>,
    estimated_delivery_at: Option<DateTime<Utc>>,
    message: Option<String>,
    address1: Option<String>,
    city: Option<String>,
    province: Option<String>,
    country: Option<String>,
    zip: Option<String>,
    latitude: Option<f64>,
    longitude: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
enum OrderDisplayFinancialStatus {
    Authorized,
    Expired,
    Paid,
    PartiallyPaid,
    PartiallyRefunded,
    Pending,
    Refunded,
    Voided,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
enum OrderDisplayFulfillmentStatus {
    Fulfilled,
    InProgress,
    OnHold,
    Open,
    PartiallyFulfilled,
    PendingFulfillment,
    RequestDeclined,
    Restocked,
    Scheduled,
    Unfulfilled,
}

#[derive(Debug, Clone)]
struct SOrder {
    id: u64,
    email: Option<String>,
    phone: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    cancelled_at: Option<DateTime<Utc>>,
    financial: OrderDisplayFinancialStatus,
    currency: String,
    customer_id: u64,
    ship: SAddress,
    bill: SAddress,
    shipping_title: String,
    shipping_price: Decimal,
    lines: Vec<SLine>,
    fulfillment_orders: Vec<SFo>,
    fulfillments: Vec<SFulfillment>,
}

impl SOrder {
    fn name(&self) -> String {
        format!("#{}", self.id)
    }
    fn subtotal(&self) -> Decimal {
        self.lines.iter().map(SLine::total).sum()
    }
    fn tax(&self) -> Decimal {
        self.lines.iter().map(|l| l.tax).sum()
    }
    fn discounts(&self) -> Decimal {
        self.lines.iter().map(|l| l.discount).sum()
    }
    fn total(&self) -> Decimal {
        self.subtotal() + self.shipping_price + self.tax()
    }
    fn display_fulfillment(&self) -> OrderDisplayFulfillmentStatus {
        let fulfilled: u32 = self
            .fulfillment_orders
            .iter()
            .flat_map(|f| &f.lines)
            .map(|l| l.total - l.remaining)
            .sum();
        let total: u32 = self
            .fulfillment_orders
            .iter()
            .flat_map(|f| &f.lines)
            .map(|l| l.total)
            .sum();
        if total > 0 && fulfilled == total {
            OrderDisplayFulfillmentStatus::Fulfilled
        } else if fulfilled > 0 {
            OrderDisplayFulfillmentStatus::PartiallyFulfilled
        } else {
            OrderDisplayFulfillmentStatus::Unfulfilled
        }
    }
}

struct Bucket {
    max: f64,
    rate: f64,
    available: f64,
    at: Instant,
}

impl Bucket {
    fn refill(&mut self) {
        let now = Instant::now();
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.available = (self.available + elapsed * self.rate).min(self.max);
        self.at = now;
    }
    fn status(&self) -> Value {
        json!({
            "maximumAvailable": self.max,
            "currentlyAvailable": self.available.floor() as i64,
            "restoreRate": self.rate,
        })
    }
}

struct Store {
    orders: BTreeMap<u64, SOrder>,
    next_order: u64,
    next_line: u64,
    next_fo: u64,
    next_fo_line: u64,
    next_fulfillment: u64,
    next_fulfillment_event: u64,
    bucket: Bucket,
}

type SharedStore = Arc<Mutex<Store>>;

fn lock(store: &SharedStore) -> MutexGuard<'_, Store> {
    store.lock().unwrap_or_else(|p| p.into_inner())
}

fn now_secs() -> DateTime<Utc> {
    let now = Utc::now();
    Utc.timestamp_opt(now.timestamp(), 0)
        .single()
        .unwrap_or(now)
}

fn trunc_secs(t: DateTime<Utc>) -> DateTime<Utc> {
    Utc.timestamp_opt(t.timestamp(), 0).single().unwrap_or(t)
}

// --------------------------------------------------------------------- scalars

/// Shopify's `DateTime` scalar: an ISO 8601 UTC string.
#[derive(Clone)]
struct DateTimeScalar(DateTime<Utc>);

#[Scalar(name = "DateTime")]
impl ScalarType for DateTimeScalar {
    fn parse(value: async_graphql::Value) -> InputValueResult<Self> {
        match &value {
            async_graphql::Value::String(s) => DateTime::parse_from_rfc3339(s)
                .map(|t| DateTimeScalar(t.with_timezone(&Utc)))
                .map_err(|_| InputValueError::custom("invalid DateTime")),
            _ => Err(InputValueError::expected_type(value)),
        }
    }
    fn to_value(&self) -> async_graphql::Value {
        async_graphql::Value::String(self.0.to_rfc3339_opts(SecondsFormat::Secs, true))
    }
}

/// Shopify's `Decimal` scalar: a decimal number serialized as a string.
#[derive(Clone)]
struct DecimalScalar(Decimal);

#[Scalar(name = "Decimal")]
impl ScalarType for DecimalScalar {
    fn parse(value: async_graphql::Value) -> InputValueResult<Self> {
        match &value {
            async_graphql::Value::String(s) => s
                .parse::<Decimal>()
                .map(DecimalScalar)
                .map_err(|_| InputValueError::custom("invalid Decimal")),
            _ => Err(InputValueError::expected_type(value)),
        }
    }
    fn to_value(&self) -> async_graphql::Value {
        async_graphql::Value::String(self.0.to_string())
    }
}

/// Shopify's `UnsignedInt64` scalar, serialized as a string.
#[derive(Clone)]
struct UnsignedInt64(u64);

#[Scalar(name = "UnsignedInt64")]
impl ScalarType for UnsignedInt64 {
    fn parse(value: async_graphql::Value) -> InputValueResult<Self> {
        match &value {
            async_graphql::Value::String(s) => s
                .parse::<u64>()
                .map(UnsignedInt64)
                .map_err(|_| InputValueError::custom("invalid UnsignedInt64")),
            _ => Err(InputValueError::expected_type(value)),
        }
    }
    fn to_value(&self) -> async_graphql::Value {
        async_graphql::Value::String(self.0.to_string())
    }
}

// ------------------------------------------------------------- GraphQL objects

#[derive(Clone, SimpleObject)]
struct PageInfo {
    has_next_page: bool,
    has_previous_page: bool,
    start_cursor: Option<String>,
    end_cursor: Option<String>,
}

/// An edge and a connection type per node type, named as Shopify names them.
macro_rules! connection {
    ($conn:ident, $edge:ident, $node:ty) => {
        #[derive(Clone, SimpleObject)]
        struct $edge {
            cursor: String,
            node: $node,
        }

        #[derive(Clone, SimpleObject)]
        struct $conn {
            edges: Vec<$edge>,
            nodes: Vec<$node>,
            page_info: PageInfo,
        }

        impl From<Conn<$node>> for $conn {
            fn from(c: Conn<$node>) -> Self {
                Self {
                    edges: c
                        .edges
                        .into_iter()
                        .map(|(cursor, node)| $edge { cursor, node })
                        .collect(),
                    nodes: c.nodes,
                    page_info: c.page_info,
                }
            }
        }
    };
}

/// A page of nodes before it becomes a named connection type.
struct Conn<T> {
    edges: Vec<(String, T)>,
    nodes: Vec<T>,
    page_info: PageInfo,
}

connection!(OrderConnection, OrderEdge, GOrder);
connection!(LineItemConnection, LineItemEdge, GLineItem);
connection!(
    FulfillmentOrderConnection,
    FulfillmentOrderEdge,
    GFulfillmentOrder
);
connection!(
    FulfillmentOrderLineItemConnection,
    FulfillmentOrderLineItemEdge,
    GFoLine
);
connection!(
    FulfillmentEventConnection,
    FulfillmentEventEdge,
    GFulfillmentEvent
);

fn encode_cursor(id: u64, value: &str) -> String {
    base64::engine::general_purpose::STANDARD
        .encode(json!({"last_id": id, "last_value": value}).to_string())
}

fn decode_cursor(cursor: &str) -> async_graphql::Result<(u64, String)> {
    let invalid = || {
        async_graphql::Error::new(format!(
            "Invalid cursor for current pagination sort: {}",
            cursor.chars().take(80).collect::<String>()
        ))
    };
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(cursor.trim())
        .map_err(|_| invalid())?;
    let v: Value = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
    let id = v
        .get("last_id")
        .and_then(Value::as_u64)
        .ok_or_else(invalid)?;
    let value = v
        .get("last_value")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    Ok((id, value))
}

fn page_size(first: Option<i32>, last: Option<i32>) -> async_graphql::Result<usize> {
    match (first, last) {
        (Some(n), _) if (0..=250).contains(&n) => Ok(n as usize),
        (Some(_), _) => Err(async_graphql::Error::new(
            "The value of the argument `first` must be between 0 and 250",
        )),
        (None, Some(_)) => Err(async_graphql::Error::new(
            "Using `last` without `before` is not supported by this sandbox; use `first`",
        )),
        (None, None) => Err(async_graphql::Error::new(
            "you must provide one of first or last",
        )),
    }
}

/// Page `items` (already in order, each with its cursor key) after `after`.
fn paginate<T: Clone>(
    items: Vec<(u64, String, T)>,
    first: usize,
    after: Option<&str>,
    cmp_after: impl Fn(&(u64, String), &(u64, String)) -> bool,
) -> async_graphql::Result<Conn<T>> {
    let start = match after {
        None => 0,
        Some(c) => {
            let pos = decode_cursor(c)?;
            items
                .iter()
                .position(|(id, v, _)| cmp_after(&(*id, v.clone()), &pos))
                .unwrap_or(items.len())
        }
    };
    let rest = items.len().saturating_sub(start);
    let take: Vec<_> = items.into_iter().skip(start).take(first).collect();
    let edges: Vec<(String, T)> = take
        .into_iter()
        .map(|(id, v, node)| (encode_cursor(id, &v), node))
        .collect();
    Ok(Conn {
        page_info: PageInfo {
            has_next_page: rest > edges.len(),
            has_previous_page: start > 0,
            start_cursor: edges.first().map(|e| e.0.clone()),
            end_cursor: edges.last().map(|e| e.0.clone()),
        },
        nodes: edges.iter().map(|e| e.1.clone()).collect(),
        edges,
    })
}

/// Paging by position (`last_id` is the index + 1).
fn paginate_by_index<T: Clone>(
    items: Vec<T>,
    first: usize,
    after: Option<&str>,
) -> async_graphql::Result<Conn<T>> {
    let keyed = items
        .into_iter()
        .enumerate()
        .map(|(i, t)| (i as u64 + 1, String::new(), t))
        .collect();
    paginate(keyed, first, after, |item, pos| item.0 > pos.0)
}

#[derive(Clone, SimpleObject)]
struct MoneyV2 {
    amount: DecimalScalar,
    currency_code: String,
}

#[derive(Clone, SimpleObject)]
struct MoneyBag {
    shop_money: MoneyV2,
    presentment_money: MoneyV2,
}

fn bag(amount: Decimal, currency: &str) -> MoneyBag {
    let m = MoneyV2 {
        amount: DecimalScalar(amount.round_dp(2)),
        currency_code: currency.to_string(),
    };
    MoneyBag {
        shop_money: m.clone(),
        presentment_money: m,
    }
}

#[derive(Clone)]
struct GAddress(SAddress);

#[Object(name = "MailingAddress")]
impl GAddress {
    async fn name(&self) -> String {
        format!("{} {}", self.0.first_name, self.0.last_name)
    }
    async fn first_name(&self) -> &str {
        &self.0.first_name
    }
    async fn last_name(&self) -> &str {
        &self.0.last_name
    }
    async fn company(&self) -> Option<&str> {
        self.0.company.as_deref()
    }
    async fn address1(&self) -> &str {
        &self.0.address1
    }
    async fn address2(&self) -> Option<&str> {
        self.0.address2.as_deref()
    }
    async fn city(&self) -> &str {
        &self.0.city
    }
    async fn province(&self) -> &str {
        &self.0.province
    }
    async fn province_code(&self) -> &str {
        &self.0.province_code
    }
    async fn zip(&self) -> &str {
        &self.0.zip
    }
    async fn country(&self) -> &str {
        &self.0.country
    }
    #[graphql(name = "countryCodeV2")]
    async fn country_code_v2(&self) -> &str {
        &self.0.country_code
    }
    async fn phone(&self) -> Option<&str> {
        self.0.phone.as_deref()
    }
}

#[derive(Clone)]
struct GCustomer {
    id: u64,
    email: Option<String>,
    phone: Option<String>,
    first_name: String,
    last_name: String,
}

#[Object(name = "Customer")]
impl GCustomer {
    async fn id(&self) -> ID {
        ID(format!("gid://shopify/Customer/{}", self.id))
    }
    async fn legacy_resource_id(&self) -> UnsignedInt64 {
        UnsignedInt64(self.id)
    }
    async fn first_name(&self) -> &str {
        &self.first_name
    }
    async fn last_name(&self) -> &str {
        &self.last_name
    }
    async fn display_name(&self) -> String {
        format!("{} {}", self.first_name, self.last_name)
    }
    async fn email(&self) -> Option<&str> {
        self.email.as_deref()
    }
    async fn phone(&self) -> Option<&str> {
        self.phone.as_deref()
    }
}

#[derive(Clone, SimpleObject)]
struct ShippingLine {
    title: String,
    code: String,
    original_price_set: MoneyBag,
}

#[derive(Clone, SimpleObject)]
struct TaxLine {
    title: String,
    rate: f64,
    price_set: MoneyBag,
}

#[derive(Clone)]
struct GLineItem {
    line: SLine,
    currency: String,
}

#[Object(name = "LineItem")]
impl GLineItem {
    async fn id(&self) -> ID {
        ID(format!("gid://shopify/LineItem/{}", self.line.id))
    }
    async fn sku(&self) -> Option<&str> {
        self.line.sku.as_deref()
    }
    async fn name(&self) -> &str {
        &self.line.title
    }
    async fn title(&self) -> &str {
        &self.line.title
    }
    async fn quantity(&self) -> i32 {
        self.line.quantity as i32
    }
    async fn current_quantity(&self) -> i32 {
        self.line.quantity as i32
    }
    async fn original_unit_price_set(&self) -> MoneyBag {
        bag(self.line.price, &self.currency)
    }
    async fn original_total_set(&self) -> MoneyBag {
        bag(
            self.line.price * Decimal::from(self.line.quantity),
            &self.currency,
        )
    }
    async fn discounted_total_set(&self) -> MoneyBag {
        bag(self.line.total(), &self.currency)
    }
    async fn total_discount_set(&self) -> MoneyBag {
        bag(self.line.discount, &self.currency)
    }
    /// `LineItem.variant`: the catalog's variant for the line's sku, with the
    /// barcode the line was sold with; `null` when the sku is not listed (as
    /// for a deleted variant).
    async fn variant(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<GProductVariant>> {
        let catalog = ctx.data::<Catalog>()?;
        Ok(self
            .line
            .sku
            .as_deref()
            .and_then(|sku| catalog.find(sku))
            .map(|listing| GProductVariant {
                listing,
                barcode: self.line.barcode.clone(),
            }))
    }
    async fn tax_lines(&self) -> Vec<TaxLine> {
        if self.line.tax.is_zero() {
            return Vec::new();
        }
        vec![TaxLine {
            title: "Sales Tax".into(),
            rate: self.line.tax_rate.to_string().parse().unwrap_or(0.0),
            price_set: bag(self.line.tax, &self.currency),
        }]
    }
}

#[derive(Clone)]
struct GFoLine {
    fo_line: SFoLine,
    line: Option<GLineItem>,
}

#[Object(name = "FulfillmentOrderLineItem")]
impl GFoLine {
    async fn id(&self) -> ID {
        ID(format!(
            "gid://shopify/FulfillmentOrderLineItem/{}",
            self.fo_line.id
        ))
    }
    async fn total_quantity(&self) -> i32 {
        self.fo_line.total as i32
    }
    async fn remaining_quantity(&self) -> i32 {
        self.fo_line.remaining as i32
    }
    async fn line_item(&self) -> Option<GLineItem> {
        self.line.clone()
    }
}

#[derive(Clone)]
struct GFulfillmentOrder {
    fo: SFo,
    order: Arc<SOrder>,
}

#[Object(name = "FulfillmentOrder")]
impl GFulfillmentOrder {
    async fn id(&self) -> ID {
        ID(format!("gid://shopify/FulfillmentOrder/{}", self.fo.id))
    }
    async fn status(&self) -> FulfillmentOrderStatus {
        self.fo.status
    }
    async fn order_id(&self) -> ID {
        ID(format!("gid://shopify/Order/{}", self.order.id))
    }
    async fn line_items(
        &self,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
    ) -> async_graphql::Result<FulfillmentOrderLineItemConnection> {
        let n = page_size(first, last)?;
        let items = self
            .fo
            .lines
            .iter()
            .map(|l| GFoLine {
                fo_line: l.clone(),
                line: self
                    .order
                    .lines
                    .iter()
                    .find(|x| x.id == l.line_id)
                    .map(|x| GLineItem {
                        line: x.clone(),
                        currency: self.order.currency.clone(),
                    }),
            })
            .collect();
        paginate_by_index(items, n, after.as_deref()).map(Into::into)
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Enum)]
enum FulfillmentStatus {
    Cancelled,
    Error,
    Failure,
    Success,
    Open,
    Pending,
}

#[derive(Clone)]
struct GFulfillment(SFulfillment);

#[Object(name = "Fulfillment")]
impl GFulfillment {
    async fn id(&self) -> ID {
        ID(format!("gid://shopify/Fulfillment/{}", self.0.id))
    }
    async fn status(&self) -> FulfillmentStatus {
        FulfillmentStatus::Success
    }
    async fn created_at(&self) -> DateTimeScalar {
        DateTimeScalar(self.0.created_at)
    }
    async fn tracking_info(&self, first: Option<i32>) -> Vec<STracking> {
        let n = first.map(|n| n.max(0) as usize).unwrap_or(usize::MAX);
        self.0.tracking.iter().take(n).cloned().collect()
    }
    async fn display_status(&self) -> Option<FulfillmentDisplayStatus> {
        Some(self.0.display_status())
    }
    async fn in_transit_at(&self) -> Option<DateTimeScalar> {
        self.0
            .first_event_at(FulfillmentEventStatus::InTransit)
            .map(DateTimeScalar)
    }
    async fn delivered_at(&self) -> Option<DateTimeScalar> {
        self.0
            .first_event_at(FulfillmentEventStatus::Delivered)
            .map(DateTimeScalar)
    }
    async fn estimated_delivery_at(&self) -> Option<DateTimeScalar> {
        self.0
            .events
            .iter()
            .rev()
            .find_map(|e| e.estimated_delivery_at)
            .map(DateTimeScalar)
    }
    #[allow(clippy::too_many_arguments)]
    async fn events(
        &self,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
        reverse: Option<bool>,
        sort_key: Option<FulfillmentEventSortKeys>,
    ) -> async_graphql::Result<FulfillmentEventConnection> {
        let n = page_size(first, last)?;
        if before.is_some() {
            return Err(async_graphql::Error::new(
                "`before` is not supported by this sandbox; page forward with `after`",
            ));
        }
        let mut events = self.0.events.clone();
        match sort_key.unwrap_or(FulfillmentEventSortKeys::Id) {
            FulfillmentEventSortKeys::Id => events.sort_by_key(|e| e.id),
            FulfillmentEventSortKeys::HappenedAt => events.sort_by_key(|e| (e.happened_at, e.id)),
        }
        if reverse.unwrap_or(false) {
            events.reverse();
        }
        let items = events.into_iter().map(GFulfillmentEvent).collect();
        paginate_by_index(items, n, after.as_deref()).map(Into::into)
    }
}

#[derive(Clone)]
struct GFulfillmentEvent(SEvent);

#[Object(name = "FulfillmentEvent")]
impl GFulfillmentEvent {
    async fn id(&self) -> ID {
        ID(format!("gid://shopify/FulfillmentEvent/{}", self.0.id))
    }
    async fn status(&self) -> FulfillmentEventStatus {
        self.0.status
    }
    async fn happened_at(&self) -> DateTimeScalar {
        DateTimeScalar(self.0.happened_at)
    }
    async fn created_at(&self) -> DateTimeScalar {
        DateTimeScalar(self.0.created_at)
    }
    async fn estimated_delivery_at(&self) -> Option<DateTimeScalar> {
        self.0.estimated_delivery_at.map(DateTimeScalar)
    }
    async fn message(&self) -> Option<&str> {
        self.0.message.as_deref()
    }
    async fn address1(&self) -> Option<&str> {
        self.0.address1.as_deref()
    }
    async fn city(&self) -> Option<&str> {
        self.0.city.as_deref()
    }
    async fn province(&self) -> Option<&str> {
        self.0.province.as_deref()
    }
    async fn country(&self) -> Option<&str> {
        self.0.country.as_deref()
    }
    async fn zip(&self) -> Option<&str> {
        self.0.zip.as_deref()
    }
    async fn latitude(&self) -> Option<f64> {
        self.0.latitude
    }
    async fn longitude(&self) -> Option<f64> {
        self.0.longitude
    }
}

#[derive(Clone)]
struct GOrder(Arc<SOrder>);

#[Object(name = "Order")]
impl GOrder {
    async fn id(&self) -> ID {
        ID(format!("gid://shopify/Order/{}", self.0.id))
    }
    async fn legacy_resource_id(&self) -> UnsignedInt64 {
        UnsignedInt64(self.0.id)
    }
    async fn name(&self) -> String {
        self.0.name()
    }
    async fn email(&self) -> Option<&str> {
        self.0.email.as_deref()
    }
    async fn phone(&self) -> Option<&str> {
        self.0.phone.as_deref()
    }
    async fn created_at(&self) -> DateTimeScalar {
        DateTimeScalar(self.0.created_at)
    }
    async fn processed_at(&self) -> DateTimeScalar {
        DateTimeScalar(self.0.created_at)
    }
    async fn updated_at(&self) -> DateTimeScalar {
        DateTimeScalar(self.0.updated_at)
    }
    async fn cancelled_at(&self) -> Option<DateTimeScalar> {
        self.0.cancelled_at.map(DateTimeScalar)
    }
    async fn cancel_reason(&self) -> Option<&str> {
        self.0.cancelled_at.map(|_| "CUSTOMER")
    }
    async fn closed(&self) -> bool {
        false
    }
    async fn display_financial_status(&self) -> OrderDisplayFinancialStatus {
        self.0.financial
    }
    async fn display_fulfillment_status(&self) -> OrderDisplayFulfillmentStatus {
        self.0.display_fulfillment()
    }
    async fn currency_code(&self) -> &str {
        &self.0.currency
    }
    async fn presentment_currency_code(&self) -> &str {
        &self.0.currency
    }
    async fn subtotal_price_set(&self) -> MoneyBag {
        bag(self.0.subtotal(), &self.0.currency)
    }
    async fn total_shipping_price_set(&self) -> MoneyBag {
        bag(self.0.shipping_price, &self.0.currency)
    }
    async fn total_tax_set(&self) -> MoneyBag {
        bag(self.0.tax(), &self.0.currency)
    }
    async fn total_discounts_set(&self) -> MoneyBag {
        bag(self.0.discounts(), &self.0.currency)
    }
    async fn total_price_set(&self) -> MoneyBag {
        bag(self.0.total(), &self.0.currency)
    }
    async fn current_total_price_set(&self) -> MoneyBag {
        bag(self.0.total(), &self.0.currency)
    }
    async fn customer(&self) -> Option<GCustomer> {
        Some(GCustomer {
            id: self.0.customer_id,
            email: self.0.email.clone(),
            phone: self.0.phone.clone(),
            first_name: self.0.bill.first_name.clone(),
            last_name: self.0.bill.last_name.clone(),
        })
    }
    async fn shipping_address(&self) -> Option<GAddress> {
        Some(GAddress(self.0.ship.clone()))
    }
    async fn billing_address(&self) -> Option<GAddress> {
        Some(GAddress(self.0.bill.clone()))
    }
    async fn shipping_line(&self) -> Option<ShippingLine> {
        Some(ShippingLine {
            title: self.0.shipping_title.clone(),
            code: self.0.shipping_title.to_uppercase().replace(' ', "_"),
            original_price_set: bag(self.0.shipping_price, &self.0.currency),
        })
    }
    async fn line_items(
        &self,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
    ) -> async_graphql::Result<LineItemConnection> {
        let n = page_size(first, last)?;
        let items = self
            .0
            .lines
            .iter()
            .map(|l| GLineItem {
                line: l.clone(),
                currency: self.0.currency.clone(),
            })
            .collect();
        paginate_by_index(items, n, after.as_deref()).map(Into::into)
    }
    async fn fulfillment_orders(
        &self,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        #[graphql(name = "query")] _query: Option<String>,
    ) -> async_graphql::Result<FulfillmentOrderConnection> {
        let n = page_size(first, last)?;
        let items = self
            .0
            .fulfillment_orders
            .iter()
            .map(|fo| GFulfillmentOrder {
                fo: fo.clone(),
                order: self.0.clone(),
            })
            .collect();
        paginate_by_index(items, n, after.as_deref()).map(Into::into)
    }
    async fn fulfillments(&self, first: Option<i32>) -> Vec<GFulfillment> {
        let n = first.map(|n| n.max(0) as usize).unwrap_or(usize::MAX);
        self.0
            .fulfillments
            .iter()
            .take(n)
            .cloned()
            .map(GFulfillment)
            .collect()
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Enum)]
enum OrderSortKeys {
    CreatedAt,
    CustomerName,
    FinancialStatus,
    FulfillmentStatus,
    Id,
    OrderNumber,
    ProcessedAt,
    Relevance,
    TotalPrice,
    UpdatedAt,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SearchField {
    UpdatedAt,
    CreatedAt,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SearchOp {
    Ge,
    Gt,
    Le,
    Lt,
    Eq,
}

/// The search terms the sandbox understands; others are ignored, as Shopify
/// ignores search terms it cannot use.
fn parse_search(query: &str) -> Vec<(SearchField, SearchOp, DateTime<Utc>)> {
    let mut terms = Vec::new();
    let mut current = String::new();
    let mut quote: Option<char> = None;
    for ch in query.chars() {
        match (quote, ch) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => current.push(c),
            (None, '\'' | '"') => quote = Some(ch),
            (None, c) if c.is_whitespace() => {
                if !current.is_empty() {
                    terms.push(std::mem::take(&mut current));
                }
            }
            (None, c) => current.push(c),
        }
    }
    if !current.is_empty() {
        terms.push(current);
    }
    terms
        .iter()
        .filter_map(|t| {
            let (field, rest) = t.split_once(':')?;
            let field = match field {
                "updated_at" => SearchField::UpdatedAt,
                "created_at" | "processed_at" => SearchField::CreatedAt,
                _ => return None,
            };
            let (op, value) = if let Some(v) = rest.strip_prefix(">=") {
                (SearchOp::Ge, v)
            } else if let Some(v) = rest.strip_prefix("<=") {
                (SearchOp::Le, v)
            } else if let Some(v) = rest.strip_prefix('>') {
                (SearchOp::Gt, v)
            } else if let Some(v) = rest.strip_prefix('<') {
                (SearchOp::Lt, v)
            } else {
                (SearchOp::Eq, rest)
            };
            let value = value.trim_matches(|c| c == '\'' || c == '"');
            let t = DateTime::parse_from_rfc3339(value)
                .map(|t| t.with_timezone(&Utc))
                .ok()
                .or_else(|| {
                    chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d")
                        .ok()
                        .and_then(|d| d.and_hms_opt(0, 0, 0))
                        .map(|d| d.and_utc())
                })?;
            Some((field, op, t))
        })
        .collect()
}

fn matches_search(o: &SOrder, terms: &[(SearchField, SearchOp, DateTime<Utc>)]) -> bool {
    terms.iter().all(|(field, op, t)| {
        let v = match field {
            SearchField::UpdatedAt => o.updated_at,
            SearchField::CreatedAt => o.created_at,
        };
        match op {
            SearchOp::Ge => v >= *t,
            SearchOp::Gt => v > *t,
            SearchOp::Le => v <= *t,
            SearchOp::Lt => v < *t,
            SearchOp::Eq => v == *t,
        }
    })
}

fn parse_order_gid(id: &str) -> Option<u64> {
    if id.starts_with("gid://shopify/Order/") {
        gid_tail(id)?.parse().ok()
    } else {
        None
    }
}

/// The sandbox shop's one location.
pub const LOCATION_ID: u64 = 71_234_567_890;
const VARIANT_ID_BASE: u64 = 44_000_000_000;
const INVENTORY_ITEM_ID_BASE: u64 = 46_000_000_000;

#[derive(Clone, SimpleObject)]
#[graphql(name = "Location")]
struct GLocation {
    id: ID,
    name: String,
}

#[derive(Clone, SimpleObject)]
#[graphql(name = "InventoryLevel")]
struct GInventoryLevel {
    id: ID,
    location: GLocation,
}

#[derive(Clone, SimpleObject)]
#[graphql(name = "InventoryLevelConnection")]
struct GInventoryLevelConnection {
    nodes: Vec<GInventoryLevel>,
}

#[derive(Clone)]
struct GInventoryItem(Listing);

#[Object(name = "InventoryItem")]
impl GInventoryItem {
    async fn id(&self) -> ID {
        ID(format!(
            "gid://shopify/InventoryItem/{}",
            INVENTORY_ITEM_ID_BASE + self.0.index
        ))
    }
    async fn sku(&self) -> String {
        self.0.sku.clone()
    }
    async fn tracked(&self) -> bool {
        true
    }
    async fn inventory_levels(
        &self,
        first: Option<i32>,
        last: Option<i32>,
    ) -> async_graphql::Result<GInventoryLevelConnection> {
        let n = page_size(first, last)?;
        let level = GInventoryLevel {
            id: ID(format!(
                "gid://shopify/InventoryLevel/{}?inventory_item_id={}",
                LOCATION_ID,
                INVENTORY_ITEM_ID_BASE + self.0.index
            )),
            location: GLocation {
                id: ID(format!("gid://shopify/Location/{LOCATION_ID}")),
                name: "Sandbox Warehouse".into(),
            },
        };
        Ok(GInventoryLevelConnection {
            nodes: std::iter::once(level).take(n).collect(),
        })
    }
}

#[derive(Clone)]
struct GProductVariant {
    listing: Listing,
    barcode: Option<String>,
}

#[Object(name = "ProductVariant")]
impl GProductVariant {
    async fn id(&self) -> ID {
        ID(format!(
            "gid://shopify/ProductVariant/{}",
            VARIANT_ID_BASE + self.listing.index
        ))
    }
    /// `ProductVariant.barcode`: the catalog's barcode for the sku (or the
    /// one the order line was seeded with).
    async fn barcode(&self) -> Option<&str> {
        self.barcode.as_deref()
    }
    async fn sku(&self) -> Option<String> {
        Some(self.listing.sku.clone())
    }
    async fn inventory_quantity(&self) -> i64 {
        self.listing.quantity
    }
    async fn inventory_item(&self) -> GInventoryItem {
        GInventoryItem(self.listing.clone())
    }
}

#[derive(Clone, SimpleObject)]
#[graphql(name = "ProductVariantConnection")]
struct GProductVariantConnection {
    nodes: Vec<GProductVariant>,
}

/// The skus a `productVariants` search names: `sku:X`, `sku:"X"`; Shopify
/// matches a term as a prefix, so `sku:SKU-00` finds several.
fn sku_terms(query: &str) -> Option<String> {
    let rest = query.trim().strip_prefix("sku:")?;
    let term = match rest.strip_prefix('"') {
        Some(q) => q
            .strip_suffix('"')?
            .replace("\\\"", "\"")
            .replace("\\\\", "\\"),
        None => rest.split_whitespace().next()?.to_string(),
    };
    Some(term.trim_end_matches('*').to_string())
}

#[derive(InputObject)]
struct InventoryQuantityInput {
    inventory_item_id: ID,
    location_id: ID,
    quantity: i32,
    compare_quantity: Option<i32>,
}

#[derive(InputObject)]
struct InventorySetQuantitiesInput {
    name: String,
    reason: String,
    reference_document_uri: Option<String>,
    ignore_compare_quantity: Option<bool>,
    quantities: Vec<InventoryQuantityInput>,
}

#[derive(Clone, SimpleObject)]
#[graphql(name = "InventoryAdjustmentGroup")]
struct GInventoryAdjustmentGroup {
    reason: String,
    created_at: DateTimeScalar,
}

#[derive(Clone, SimpleObject)]
#[graphql(name = "InventorySetQuantitiesUserError")]
struct InventoryUserError {
    field: Option<Vec<String>>,
    message: String,
    code: Option<String>,
}

#[derive(SimpleObject)]
struct InventorySetQuantitiesPayload {
    inventory_adjustment_group: Option<GInventoryAdjustmentGroup>,
    user_errors: Vec<InventoryUserError>,
}

struct QueryRoot;

#[Object]
impl QueryRoot {
    async fn product_variants(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        last: Option<i32>,
        query: Option<String>,
    ) -> async_graphql::Result<GProductVariantConnection> {
        let n = page_size(first, last)?;
        let catalog = ctx.data::<Catalog>()?;
        let term = query.as_deref().and_then(sku_terms);
        let nodes = catalog
            .all()
            .into_iter()
            .filter(|l| term.as_deref().is_none_or(|t| l.sku.starts_with(t)))
            .take(n)
            .map(|listing| GProductVariant {
                barcode: Some(generated_barcode(&listing.sku)),
                listing,
            })
            .collect();
        Ok(GProductVariantConnection { nodes })
    }

    #[allow(clippy::too_many_arguments)]
    async fn orders(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
        query: Option<String>,
        sort_key: Option<OrderSortKeys>,
        reverse: Option<bool>,
    ) -> async_graphql::Result<OrderConnection> {
        let n = page_size(first, last)?;
        if before.is_some() {
            return Err(async_graphql::Error::new(
                "`before` is not supported by this sandbox; page forward with `after`",
            ));
        }
        let terms = parse_search(query.as_deref().unwrap_or_default());
        let store = ctx.data::<SharedStore>()?;
        let mut items: Vec<(u64, i64, Arc<SOrder>)> = {
            let s = lock(store);
            s.orders
                .values()
                .filter(|o| matches_search(o, &terms))
                .map(|o| {
                    let key = match sort_key.unwrap_or(OrderSortKeys::Id) {
                        OrderSortKeys::UpdatedAt => o.updated_at.timestamp_millis(),
                        OrderSortKeys::CreatedAt | OrderSortKeys::ProcessedAt => {
                            o.created_at.timestamp_millis()
                        }
                        _ => o.id as i64,
                    };
                    (o.id, key, Arc::new(o.clone()))
                })
                .collect()
        };
        let reverse = reverse.unwrap_or(false);
        items.sort_by_key(|a| (a.1, a.0));
        if reverse {
            items.reverse();
        }
        let keyed = items
            .into_iter()
            .map(|(id, key, o)| (id, key.to_string(), GOrder(o)))
            .collect();
        paginate(keyed, n, after.as_deref(), |item, pos| {
            let k = item.1.parse::<i64>().unwrap_or(0);
            let p = pos.1.parse::<i64>().unwrap_or(0);
            if reverse {
                (k, item.0) < (p, pos.0)
            } else {
                (k, item.0) > (p, pos.0)
            }
        })
        .map(Into::into)
    }

    async fn order(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<GOrder>> {
        let Some(n) = parse_order_gid(&id) else {
            return Err(async_graphql::Error::new(format!(
                "Invalid global id '{}'",
                id.chars().take(100).collect::<String>()
            )));
        };
        let store = ctx.data::<SharedStore>()?;
        let s = lock(store);
        Ok(s.orders.get(&n).map(|o| GOrder(Arc::new(o.clone()))))
    }
}

#[derive(InputObject)]
struct FulfillmentOrderLineItemInput {
    id: ID,
    quantity: i32,
}

#[derive(InputObject)]
struct FulfillmentOrderLineItemsInput {
    fulfillment_order_id: ID,
    fulfillment_order_line_items: Option<Vec<FulfillmentOrderLineItemInput>>,
}

#[derive(InputObject)]
struct FulfillmentTrackingInput {
    company: Option<String>,
    number: Option<String>,
    url: Option<String>,
    numbers: Option<Vec<String>>,
    urls: Option<Vec<String>>,
}

#[derive(InputObject)]
struct FulfillmentInput {
    line_items_by_fulfillment_order: Vec<FulfillmentOrderLineItemsInput>,
    tracking_info: Option<FulfillmentTrackingInput>,
    notify_customer: Option<bool>,
}

#[derive(Clone, SimpleObject)]
struct UserError {
    field: Option<Vec<String>>,
    message: String,
}

#[derive(SimpleObject)]
struct FulfillmentCreatePayload {
    fulfillment: Option<GFulfillment>,
    user_errors: Vec<UserError>,
}

/// `FulfillmentEventInput`: every field Shopify documents for 2025-10.
#[derive(InputObject)]
struct FulfillmentEventInput {
    fulfillment_id: ID,
    status: FulfillmentEventStatus,
    happened_at: Option<DateTimeScalar>,
    estimated_delivery_at: Option<DateTimeScalar>,
    message: Option<String>,
    address1: Option<String>,
    city: Option<String>,
    province: Option<String>,
    country: Option<String>,
    zip: Option<String>,
    latitude: Option<f64>,
    longitude: Option<f64>,
}

#[derive(SimpleObject)]
struct FulfillmentEventCreatePayload {
    fulfillment_event: Option<GFulfillmentEvent>,
    user_errors: Vec<UserError>,
}

fn user_error(field: &[&str], message: impl Into<String>) -> FulfillmentCreatePayload {
    FulfillmentCreatePayload {
        fulfillment: None,
        user_errors: vec![UserError {
            field: Some(field.iter().map(|s| s.to_string()).collect()),
            message: message.into(),
        }],
    }
}

struct MutationRoot;

fn inventory_error(field: &[&str], code: &str, message: &str) -> InventorySetQuantitiesPayload {
    InventorySetQuantitiesPayload {
        inventory_adjustment_group: None,
        user_errors: vec![InventoryUserError {
            field: Some(field.iter().map(|s| s.to_string()).collect()),
            message: message.into(),
            code: Some(code.into()),
        }],
    }
}

#[Object]
impl MutationRoot {
    async fn inventory_set_quantities(
        &self,
        ctx: &Context<'_>,
        input: InventorySetQuantitiesInput,
    ) -> async_graphql::Result<InventorySetQuantitiesPayload> {
        let catalog = ctx.data::<Catalog>()?;
        if input.name != "available" && input.name != "on_hand" {
            return Ok(inventory_error(
                &["input", "name"],
                "INVALID_NAME",
                "The quantity name must be either 'available' or 'on_hand'.",
            ));
        }
        const REASONS: [&str; 13] = [
            "correction",
            "cycle_count_available",
            "damaged",
            "movement_created",
            "movement_updated",
            "movement_received",
            "movement_canceled",
            "other",
            "promotion",
            "quality_control",
            "received",
            "reservation_created",
            "restock",
        ];
        if !REASONS.contains(&input.reason.as_str()) {
            return Ok(inventory_error(
                &["input", "reason"],
                "INVALID_REASON",
                "The specified reason is invalid.",
            ));
        }
        let mut writes = Vec::new();
        for (i, q) in input.quantities.iter().enumerate() {
            let field = ["input", "quantities", &i.to_string()].map(String::from);
            let item = q
                .inventory_item_id
                .strip_prefix("gid://shopify/InventoryItem/")
                .and_then(|n| n.parse::<u64>().ok())
                .and_then(|n| n.checked_sub(INVENTORY_ITEM_ID_BASE))
                .and_then(|i| catalog.by_index(i));
            let Some(item) = item else {
                return Ok(InventorySetQuantitiesPayload {
                    inventory_adjustment_group: None,
                    user_errors: vec![InventoryUserError {
                        field: Some(field.to_vec()),
                        message: "The specified inventory item could not be found.".into(),
                        code: Some("INVALID_INVENTORY_ITEM".into()),
                    }],
                });
            };
            if q.location_id.as_str() != format!("gid://shopify/Location/{LOCATION_ID}") {
                return Ok(inventory_error(
                    &["input", "quantities"],
                    "INVALID_LOCATION",
                    "The specified location could not be found.",
                ));
            }
            if input.ignore_compare_quantity != Some(true)
                && q.compare_quantity.map(i64::from) != Some(item.quantity)
            {
                return Ok(inventory_error(
                    &["input", "quantities"],
                    "COMPARE_QUANTITY_STALE",
                    "The compareQuantity value does not match the current quantity.",
                ));
            }
            if !(0..=1_000_000_000).contains(&q.quantity) {
                return Ok(inventory_error(
                    &["input", "quantities"],
                    "INVALID_QUANTITY_TOO_HIGH",
                    "The quantity is out of range.",
                ));
            }
            writes.push((item.sku, i64::from(q.quantity)));
        }
        for (sku, q) in writes {
            catalog.set_quantity(&sku, q);
        }
        Ok(InventorySetQuantitiesPayload {
            inventory_adjustment_group: Some(GInventoryAdjustmentGroup {
                reason: input.reason,
                created_at: DateTimeScalar(now_secs()),
            }),
            user_errors: vec![],
        })
    }

    async fn fulfillment_create(
        &self,
        ctx: &Context<'_>,
        fulfillment: FulfillmentInput,
        #[graphql(name = "message")] _message: Option<String>,
    ) -> async_graphql::Result<FulfillmentCreatePayload> {
        let store = ctx.data::<SharedStore>()?;
        let core = ctx.data::<Arc<SandboxCore>>()?;
        let mut s = lock(store);
        if fulfillment.line_items_by_fulfillment_order.is_empty() {
            return Ok(user_error(
                &["fulfillment", "lineItemsByFulfillmentOrder"],
                "Line items by fulfillment order can't be blank.",
            ));
        }
        // Find every fulfillment order and check them before changing anything.
        let mut order_id = None;
        // (fulfillment order, Some(line item, quantity) or None for all of it)
        type Wanted = Vec<(u64, Option<Vec<(u64, u32)>>)>;
        let mut wanted: Wanted = Vec::new();
        for entry in &fulfillment.line_items_by_fulfillment_order {
            let fo_gid = entry.fulfillment_order_id.as_str();
            let fo_id = fo_gid
                .strip_prefix("gid://shopify/FulfillmentOrder/")
                .and_then(|t| t.parse::<u64>().ok());
            let found = fo_id.and_then(|fo_id| {
                s.orders.values().find_map(|o| {
                    o.fulfillment_orders
                        .iter()
                        .find(|f| f.id == fo_id)
                        .map(|f| (o.id, f.clone()))
                })
            });
            let Some((oid, fo)) = found else {
                return Ok(user_error(
                    &["fulfillment"],
                    format!("Fulfillment order {fo_gid} does not exist."),
                ));
            };
            if order_id.is_some_and(|o| o != oid) {
                return Ok(user_error(
                    &["fulfillment"],
                    "All fulfillment orders must belong to the same order.",
                ));
            }
            order_id = Some(oid);
            if !matches!(
                fo.status,
                FulfillmentOrderStatus::Open | FulfillmentOrderStatus::InProgress
            ) {
                let status = match fo.status {
                    FulfillmentOrderStatus::Closed => "closed",
                    FulfillmentOrderStatus::Cancelled => "cancelled",
                    FulfillmentOrderStatus::OnHold => "on_hold",
                    FulfillmentOrderStatus::Scheduled => "scheduled",
                    _ => "incomplete",
                };
                return Ok(user_error(
                    &["fulfillment"],
                    format!("Fulfillment order {fo_gid} has an unfulfillable status= {status}."),
                ));
            }
            let lines = match &entry.fulfillment_order_line_items {
                None => None,
                Some(items) if items.is_empty() => None,
                Some(items) => {
                    let mut v = Vec::new();
                    for it in items {
                        let lid = it
                            .id
                            .strip_prefix("gid://shopify/FulfillmentOrderLineItem/")
                            .and_then(|t| t.parse::<u64>().ok());
                        let Some(l) = lid.and_then(|lid| fo.lines.iter().find(|l| l.id == lid))
                        else {
                            return Ok(user_error(
                                &["fulfillment", "lineItemsByFulfillmentOrder"],
                                format!(
                                    "Invalid fulfillment order line item id {}.",
                                    it.id.as_str()
                                ),
                            ));
                        };
                        if it.quantity <= 0 || it.quantity as u32 > l.remaining {
                            return Ok(user_error(
                                &["fulfillment", "lineItemsByFulfillmentOrder"],
                                format!(
                                    "Invalid quantity {} for fulfillment order line item {}.",
                                    it.quantity,
                                    it.id.as_str()
                                ),
                            ));
                        }
                        v.push((l.id, it.quantity as u32));
                    }
                    Some(v)
                }
            };
            wanted.push((fo.id, lines));
        }
        let Some(order_id) = order_id else {
            return Ok(user_error(&["fulfillment"], "No fulfillment order given."));
        };
        let tracking = fulfillment
            .tracking_info
            .map(|t| {
                let mut v = Vec::new();
                if t.number.is_some() || t.company.is_some() || t.url.is_some() {
                    v.push(STracking {
                        company: t.company.clone(),
                        number: t.number,
                        url: t.url,
                    });
                }
                let urls = t.urls.unwrap_or_default();
                for (i, n) in t.numbers.unwrap_or_default().into_iter().enumerate() {
                    v.push(STracking {
                        company: t.company.clone(),
                        number: Some(n),
                        url: urls.get(i).cloned(),
                    });
                }
                v
            })
            .unwrap_or_default();
        let fulfillment_id = s.next_fulfillment;
        s.next_fulfillment += 1;
        let Some(order) = s.orders.get_mut(&order_id) else {
            return Ok(user_error(&["fulfillment"], "The order no longer exists."));
        };
        for (fo_id, lines) in wanted {
            if let Some(fo) = order.fulfillment_orders.iter_mut().find(|f| f.id == fo_id) {
                match lines {
                    None => fo.lines.iter_mut().for_each(|l| l.remaining = 0),
                    Some(lines) => {
                        for (lid, q) in lines {
                            if let Some(l) = fo.lines.iter_mut().find(|l| l.id == lid) {
                                l.remaining = l.remaining.saturating_sub(q);
                            }
                        }
                    }
                }
                fo.status = if fo.lines.iter().all(|l| l.remaining == 0) {
                    FulfillmentOrderStatus::Closed
                } else {
                    FulfillmentOrderStatus::InProgress
                };
            }
        }
        let created = SFulfillment {
            id: fulfillment_id,
            created_at: now_secs(),
            tracking: tracking.clone(),
            events: Vec::new(),
        };
        order.fulfillments.push(created.clone());
        order.updated_at = bump(order.updated_at, None);
        drop(s);
        let notify = fulfillment.notify_customer.unwrap_or(false);
        core.record(|r| {
            let key = order_id.to_string();
            let count = r["fulfillments"][&key].as_u64().unwrap_or(0);
            r["fulfillments"][&key] = json!(count + 1);
            let mut list = r["tracking"][&key].as_array().cloned().unwrap_or_default();
            for t in &tracking {
                list.push(json!({
                    "company": t.company,
                    "number": t.number,
                    "url": t.url,
                    "notify_customer": notify,
                }));
            }
            r["tracking"][&key] = Value::Array(list);
        });
        Ok(FulfillmentCreatePayload {
            fulfillment: Some(GFulfillment(created)),
            user_errors: Vec::new(),
        })
    }

    /// Adds an event to a fulfillment; it becomes the fulfillment's
    /// `displayStatus` when it is the latest by `happenedAt`. The order's
    /// `displayFulfillmentStatus` has no delivery values and stays as it is.
    async fn fulfillment_event_create(
        &self,
        ctx: &Context<'_>,
        fulfillment_event: FulfillmentEventInput,
    ) -> async_graphql::Result<FulfillmentEventCreatePayload> {
        let store = ctx.data::<SharedStore>()?;
        let core = ctx.data::<Arc<SandboxCore>>()?;
        let refuse = |message: String| FulfillmentEventCreatePayload {
            fulfillment_event: None,
            user_errors: vec![UserError {
                field: Some(vec!["fulfillmentEvent".into(), "fulfillmentId".into()]),
                message,
            }],
        };
        let gid = fulfillment_event.fulfillment_id.as_str();
        let Some(fulfillment_id) = gid
            .strip_prefix("gid://shopify/Fulfillment/")
            .and_then(|t| t.parse::<u64>().ok())
        else {
            return Ok(refuse(format!("Fulfillment {gid} does not exist.")));
        };
        let mut s = lock(store);
        let event_id = s.next_fulfillment_event;
        let Some((order_id, fulfillment)) = s.orders.values_mut().find_map(|o| {
            let id = o.id;
            o.fulfillments
                .iter_mut()
                .find(|f| f.id == fulfillment_id)
                .map(|f| (id, f))
        }) else {
            return Ok(refuse(format!("Fulfillment {gid} does not exist.")));
        };
        let now = now_secs();
        let input = fulfillment_event;
        let event = SEvent {
            id: event_id,
            status: input.status,
            happened_at: input.happened_at.map(|t| trunc_secs(t.0)).unwrap_or(now),
            created_at: now,
            estimated_delivery_at: input.estimated_delivery_at.map(|t| t.0),
            message: input.message,
            address1: input.address1,
            city: input.city,
            province: input.province,
            country: input.country,
            zip: input.zip,
            latitude: input.latitude,
            longitude: input.longitude,
        };
        fulfillment.events.push(event.clone());
        s.next_fulfillment_event += 1;
        drop(s);
        core.record(|r| {
            let key = order_id.to_string();
            let mut list = r["fulfillment_events"][&key]
                .as_array()
                .cloned()
                .unwrap_or_default();
            list.push(json!(event.status.name()));
            r["fulfillment_events"][&key] = Value::Array(list);
        });
        Ok(FulfillmentEventCreatePayload {
            fulfillment_event: Some(GFulfillmentEvent(event)),
            user_errors: Vec::new(),
        })
    }
}

type ShopifySchema = Schema<QueryRoot, MutationRoot, EmptySubscription>;

/// The next `updatedAt`: now (or `to`), and never the same second as before
/// unless `to` says so explicitly.
fn bump(previous: DateTime<Utc>, to: Option<DateTime<Utc>>) -> DateTime<Utc> {
    match to {
        Some(t) => trunc_secs(t),
        None => now_secs().max(
            previous
                .checked_add_signed(ChronoDuration::seconds(1))
                .unwrap_or(previous),
        ),
    }
}

// ------------------------------------------------------------------ seeding

/// `POST /_sandbox/seed`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct SeedRequest {
    /// How many orders to generate (ignored when `orders` is given).
    pub count: Option<u32>,
    /// `updatedAt` (and `createdAt`) of the first order; default: `count × step`
    /// before now, so the last one is about now.
    pub start: Option<DateTime<Utc>>,
    /// Spacing between the orders' times (default 1000 ms).
    pub step_ms: Option<u64>,
    /// Explicit orders; whatever they leave out is generated.
    pub orders: Option<Vec<SeedOrder>>,
}

/// One explicit order for the seed; every field is optional.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct SeedOrder {
    pub email: Option<String>,
    /// `OrderDisplayFinancialStatus`, e.g. `PAID`.
    pub financial_status: Option<String>,
    /// `US`, `DE` or `GB` (sets the address, tax rate and shipping).
    pub country: Option<String>,
    pub created_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
    pub cancelled: Option<bool>,
    pub lines: Option<Vec<SeedLine>>,
    pub shipping_price: Option<Decimal>,
}

impl SeedOrder {
    /// Refuse what would not make a plausible order (or overflow the arithmetic).
    fn validate(&self) -> Result<(), String> {
        let limit = Decimal::from(1_000_000);
        if let Some(c) = &self.country {
            if !COUNTRIES.iter().any(|p| p.code.eq_ignore_ascii_case(c)) {
                return Err(format!("country `{c}` is not one of US, DE, GB"));
            }
        }
        if let Some(s) = &self.financial_status {
            serde_json::from_value::<OrderDisplayFinancialStatus>(json!(s)).map_err(|_| {
                format!("financial_status `{s}` is not an OrderDisplayFinancialStatus")
            })?;
        }
        if self
            .shipping_price
            .is_some_and(|p| p.is_sign_negative() || p > limit)
        {
            return Err("shipping_price must be between 0 and 1000000".into());
        }
        if let Some(lines) = &self.lines {
            if lines.is_empty() || lines.len() > 250 {
                return Err("an order has 1 to 250 lines".into());
            }
            for l in lines {
                let q = l.quantity.unwrap_or(1);
                if q == 0 || q > 10_000 {
                    return Err("line quantity must be 1 to 10000".into());
                }
                if l.price.is_some_and(|p| p.is_sign_negative() || p > limit) {
                    return Err("line price must be between 0 and 1000000".into());
                }
                let gross = l.price.unwrap_or(limit) * Decimal::from(q);
                if l.discount
                    .is_some_and(|d| d.is_sign_negative() || d > gross)
                {
                    return Err("line discount must be between 0 and the line's price".into());
                }
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct SeedLine {
    pub sku: Option<String>,
    pub title: Option<String>,
    pub quantity: Option<u32>,
    pub price: Option<Decimal>,
    pub discount: Option<Decimal>,
    /// The variant's barcode; without one, the catalog's barcode for the sku
    /// ([`generated_barcode`]); `""` for a variant without a barcode (`null`).
    pub barcode: Option<String>,
}

/// `POST /_sandbox/orders/{legacy_id}/touch`: bump `updatedAt` to now, or to a
/// given (possibly past) time, and optionally cancel.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct TouchRequest {
    pub updated_at: Option<DateTime<Utc>>,
    pub cancel: Option<bool>,
}

impl Store {
    fn new(opts: &ShopifySandboxOptions) -> Self {
        Self {
            orders: BTreeMap::new(),
            next_order: FIRST_ORDER_ID,
            next_line: 10_001,
            next_fo: 5_001,
            next_fo_line: 70_001,
            next_fulfillment: 9_001,
            next_fulfillment_event: 44_001,
            bucket: Bucket {
                max: opts.bucket_size.max(1.0),
                rate: opts.restore_rate.max(0.0),
                available: opts.bucket_size.max(1.0),
                at: Instant::now(),
            },
        }
    }

    fn create_order(&mut self, spec: &SeedOrder, at: DateTime<Utc>) -> Result<u64, String> {
        let id = self.next_order;
        let mut rng = StdRng::seed_from_u64(id);
        let profile = match spec.country.as_deref() {
            None => &COUNTRIES[rng.random_range(0..10).min(5) / 4],
            Some(c) => COUNTRIES
                .iter()
                .find(|p| p.code.eq_ignore_ascii_case(c))
                .ok_or_else(|| format!("country `{c}` is not one of US, DE, GB"))?,
        };
        let addr = profile.addresses[rng.random_range(0..profile.addresses.len())];
        let address = SAddress {
            first_name: addr.0.into(),
            last_name: addr.1.into(),
            company: None,
            address1: addr.2.into(),
            address2: None,
            city: addr.3.into(),
            province: addr.4.into(),
            province_code: addr.5.into(),
            zip: addr.6.into(),
            country: profile.name.into(),
            country_code: profile.code.into(),
            phone: None,
        };
        let tax_rate = dec(profile.tax_rate);
        let seed_lines = match &spec.lines {
            Some(lines) if !lines.is_empty() => lines.clone(),
            Some(_) => return Err("an order needs at least one line".into()),
            None => (0..rng.random_range(1..=3))
                .map(|_| SeedLine::default())
                .collect(),
        };
        let mut lines = Vec::new();
        for l in seed_lines {
            let idx = rng.random_range(0..CATALOG.len());
            let quantity = l.quantity.unwrap_or_else(|| rng.random_range(1..=3));
            if quantity == 0 || quantity > 10_000 {
                return Err("line quantity must be 1–10000".into());
            }
            let price = l.price.unwrap_or_else(|| catalog_price(idx)).round_dp(2);
            let discount = l.discount.unwrap_or_default().round_dp(2);
            if price.is_sign_negative() || discount.is_sign_negative() {
                return Err("prices and discounts must not be negative".into());
            }
            let net = price * Decimal::from(quantity) - discount;
            let tax =
                (net * tax_rate).round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
            let sku = l.sku.unwrap_or_else(|| format!("SKU-{:03}", idx + 1));
            let barcode = match l.barcode {
                Some(b) if b.trim().is_empty() => None,
                Some(b) => Some(b),
                None => Some(generated_barcode(&sku)),
            };
            lines.push(SLine {
                id: self.next_line,
                barcode,
                sku: Some(sku),
                title: l.title.unwrap_or_else(|| CATALOG[idx].to_string()),
                quantity,
                price,
                discount,
                tax,
                tax_rate,
                grams: 100 + 50 * idx as u32,
            });
            self.next_line += 1;
        }
        let fo_lines = lines
            .iter()
            .map(|l| {
                let fl = SFoLine {
                    id: self.next_fo_line,
                    line_id: l.id,
                    total: l.quantity,
                    remaining: l.quantity,
                };
                self.next_fo_line += 1;
                fl
            })
            .collect();
        let fo = SFo {
            id: self.next_fo,
            status: FulfillmentOrderStatus::Open,
            lines: fo_lines,
        };
        self.next_fo += 1;
        let financial = match spec.financial_status.as_deref() {
            Some(s) => serde_json::from_value(json!(s)).map_err(|_| {
                format!("financial_status `{s}` is not an OrderDisplayFinancialStatus")
            })?,
            None => match rng.random_range(0..20) {
                0 | 1 => OrderDisplayFinancialStatus::Pending,
                2 => OrderDisplayFinancialStatus::Authorized,
                _ => OrderDisplayFinancialStatus::Paid,
            },
        };
        let created_at = trunc_secs(spec.created_at.unwrap_or(at));
        let updated_at = trunc_secs(spec.updated_at.unwrap_or(at)).max(created_at);
        let order = SOrder {
            id,
            email: Some(spec.email.clone().unwrap_or_else(|| {
                format!("{}.{}+{id}@example.com", addr.0, addr.1).to_lowercase()
            })),
            phone: None,
            created_at,
            updated_at,
            cancelled_at: spec.cancelled.unwrap_or(false).then_some(updated_at),
            financial,
            currency: "USD".into(),
            customer_id: 7_000_000 + id,
            ship: address.clone(),
            bill: address,
            shipping_title: profile.shipping_title.into(),
            shipping_price: spec
                .shipping_price
                .unwrap_or_else(|| dec(profile.shipping))
                .round_dp(2),
            lines,
            fulfillment_orders: vec![fo],
            fulfillments: Vec::new(),
        };
        self.orders.insert(id, order);
        self.next_order += 1;
        Ok(id)
    }
}

fn rest_line_json(l: &SLine) -> Value {
    let money = |d: Decimal| d.round_dp(2).to_string();
    let tax_lines = if l.tax.is_zero() {
        json!([])
    } else {
        json!([{
            "title": "Sales Tax",
            "rate": l.tax_rate.to_string().parse::<f64>().unwrap_or(0.0),
            "price": money(l.tax),
        }])
    };
    json!({
        "id": l.id,
        "admin_graphql_api_id": format!("gid://shopify/LineItem/{}", l.id),
        "sku": l.sku,
        "title": l.title,
        "name": l.title,
        "quantity": l.quantity,
        "price": money(l.price),
        "grams": l.grams,
        "total_discount": money(l.discount),
        "tax_lines": tax_lines,
    })
}

/// The REST/webhook JSON for an order, as the `orders/*` webhooks deliver it.
fn rest_json(o: &SOrder) -> Value {
    let money = |d: Decimal| d.round_dp(2).to_string();
    let set = |d: Decimal| {
        json!({
            "shop_money": {"amount": money(d), "currency_code": o.currency},
            "presentment_money": {"amount": money(d), "currency_code": o.currency},
        })
    };
    let address = |a: &SAddress| {
        json!({
            "first_name": a.first_name, "last_name": a.last_name,
            "name": format!("{} {}", a.first_name, a.last_name),
            "company": a.company, "address1": a.address1, "address2": a.address2,
            "city": a.city, "province": a.province, "province_code": a.province_code,
            "zip": a.zip, "country": a.country, "country_code": a.country_code, "phone": a.phone,
        })
    };
    let financial = serde_json::to_value(o.financial)
        .ok()
        .and_then(|v| v.as_str().map(str::to_ascii_lowercase));
    let fulfillment_status = match o.display_fulfillment() {
        OrderDisplayFulfillmentStatus::Fulfilled => Some("fulfilled"),
        OrderDisplayFulfillmentStatus::PartiallyFulfilled => Some("partial"),
        _ => None,
    };
    let ts = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Secs, true);
    let line_items: Vec<Value> = o.lines.iter().map(rest_line_json).collect();
    json!({
        "id": o.id,
        "admin_graphql_api_id": format!("gid://shopify/Order/{}", o.id),
        "name": o.name(),
        "order_number": o.id,
        "email": o.email,
        "phone": o.phone,
        "created_at": ts(o.created_at),
        "updated_at": ts(o.updated_at),
        "processed_at": ts(o.created_at),
        "cancelled_at": o.cancelled_at.map(ts),
        "cancel_reason": o.cancelled_at.map(|_| "customer"),
        "financial_status": financial,
        "fulfillment_status": fulfillment_status,
        "currency": o.currency,
        "presentment_currency": o.currency,
        "subtotal_price": money(o.subtotal()),
        "total_tax": money(o.tax()),
        "total_discounts": money(o.discounts()),
        "total_price": money(o.total()),
        "total_shipping_price_set": set(o.shipping_price),
        "total_price_set": set(o.total()),
        "customer": {
            "id": o.customer_id,
            "email": o.email,
            "first_name": o.bill.first_name,
            "last_name": o.bill.last_name,
            "phone": o.phone,
            "admin_graphql_api_id": format!("gid://shopify/Customer/{}", o.customer_id),
        },
        "shipping_address": address(&o.ship),
        "billing_address": address(&o.bill),
        "shipping_lines": [{
            "title": o.shipping_title,
            "code": o.shipping_title.to_uppercase().replace(' ', "_"),
            "price": money(o.shipping_price),
        }],
        "line_items": line_items,
    })
}

// ------------------------------------------------------------------ the server

struct Shared {
    opts: ShopifySandboxOptions,
    catalog: Catalog,
    core: Arc<SandboxCore>,
    store: SharedStore,
    schema: ShopifySchema,
}

/// The Shopify sandbox: clone it freely, all clones share one world.
#[derive(Clone)]
pub struct ShopifySandbox {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for ShopifySandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShopifySandbox")
            .field("opts", &self.shared.opts)
            .finish_non_exhaustive()
    }
}

/// A webhook delivery the sandbox prepared: post `body` with `headers`.
#[derive(Debug, Clone, Serialize)]
pub struct SignedWebhook {
    pub headers: BTreeMap<String, String>,
    pub body: String,
}

impl ShopifySandbox {
    pub fn new(opts: ShopifySandboxOptions) -> Self {
        let core = SandboxCore::new();
        let store: SharedStore = Arc::new(Mutex::new(Store::new(&opts)));
        let catalog = Catalog::generated(core.clone());
        let schema = Schema::build(QueryRoot, MutationRoot, EmptySubscription)
            .data(store.clone())
            .data(core.clone())
            .data(catalog.clone())
            .finish();
        Self {
            shared: Arc::new(Shared {
                opts,
                catalog,
                core,
                store,
                schema,
            }),
        }
    }

    /// The shared control surface (faults, stats).
    pub fn core(&self) -> &Arc<SandboxCore> {
        &self.shared.core
    }

    pub fn options(&self) -> &ShopifySandboxOptions {
        &self.shared.opts
    }

    /// The vendor path and the control routes.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/admin/api/{version}/graphql.json", post(graphql_handler))
            .route("/_sandbox/seed", post(seed_handler))
            .route("/_sandbox/orders/{id}/touch", post(touch_handler))
            .route("/_sandbox/orders/{id}/webhook", get(webhook_handler))
            .with_state(self.clone())
            .merge(self.shared.core.control_routes())
            .merge(self.shared.catalog.control_routes())
    }

    pub fn catalog(&self) -> &Catalog {
        &self.shared.catalog
    }

    /// Create orders (see [`SeedRequest`]); returns their numeric ids.
    pub fn seed(&self, req: &SeedRequest) -> Result<Vec<u64>, String> {
        let step = ChronoDuration::milliseconds(req.step_ms.unwrap_or(1000).min(86_400_000) as i64);
        let specs: Vec<SeedOrder> = match &req.orders {
            Some(orders) => orders.clone(),
            None => {
                let n = req.count.unwrap_or(1);
                if n > MAX_SEED {
                    return Err(format!("count must be at most {MAX_SEED}"));
                }
                vec![SeedOrder::default(); n as usize]
            }
        };
        if specs.len() > MAX_SEED as usize {
            return Err(format!("at most {MAX_SEED} orders at once"));
        }
        let out_of_range =
            || "start/step_ms put the orders outside the representable time range".to_string();
        let span = |i: usize| step.checked_mul(i as i32).ok_or_else(out_of_range);
        let start = match req.start {
            Some(s) => s,
            None => Utc::now()
                .checked_sub_signed(span(specs.len())?)
                .ok_or_else(out_of_range)?,
        };
        // Check every time first, so a bad request creates nothing.
        let times = (0..specs.len())
            .map(|i| start.checked_add_signed(span(i)?).ok_or_else(out_of_range))
            .collect::<Result<Vec<_>, _>>()?;
        for spec in &specs {
            spec.validate()?;
        }
        let mut store = lock(&self.shared.store);
        let mut ids = Vec::with_capacity(specs.len());
        for (spec, at) in specs.iter().zip(times) {
            ids.push(store.create_order(spec, at)?);
        }
        Ok(ids)
    }

    /// Update an order (now, or at a given time) and optionally cancel it.
    /// Returns the new `updatedAt`, `None` when there is no such order.
    pub fn touch(&self, legacy_id: u64, req: &TouchRequest) -> Option<DateTime<Utc>> {
        let mut store = lock(&self.shared.store);
        let o = store.orders.get_mut(&legacy_id)?;
        o.updated_at = bump(o.updated_at, req.updated_at);
        if req.cancel == Some(true) && o.cancelled_at.is_none() {
            o.cancelled_at = Some(o.updated_at);
        }
        Some(o.updated_at)
    }

    /// The number of orders held.
    pub fn order_count(&self) -> usize {
        lock(&self.shared.store).orders.len()
    }

    /// The REST/webhook JSON of an order.
    pub fn order_rest_json(&self, legacy_id: u64) -> Option<Value> {
        lock(&self.shared.store)
            .orders
            .get(&legacy_id)
            .map(rest_json)
    }

    /// A signed webhook delivery for an order (`orders/create`, `orders/updated`,
    /// `orders/cancelled`), signed with the sandbox's webhook secret.
    pub fn webhook(&self, legacy_id: u64, topic: &str) -> Option<SignedWebhook> {
        if !TOPICS.contains(&topic) {
            return None;
        }
        let body = self.order_rest_json(legacy_id)?.to_string();
        let signature = sign_webhook(&self.shared.opts.webhook_secret, body.as_bytes());
        let delivery: u64 = rand::random();
        let headers = BTreeMap::from([
            (HEADER_HMAC.to_string(), signature),
            (HEADER_TOPIC.to_string(), topic.to_string()),
            (
                HEADER_WEBHOOK_ID.to_string(),
                format!("sandbox-{legacy_id}-{delivery:016x}"),
            ),
            (
                "X-Shopify-Shop-Domain".to_string(),
                "sandbox.myshopify.com".to_string(),
            ),
            (
                "X-Shopify-API-Version".to_string(),
                super::client::DEFAULT_API_VERSION.to_string(),
            ),
            ("Content-Type".to_string(), "application/json".to_string()),
        ]);
        Some(SignedWebhook { headers, body })
    }

    /// Run one GraphQL request as the vendor path does (auth aside): cost,
    /// bucket, execution, `extensions.cost`. Returns the response JSON.
    async fn run_graphql(
        &self,
        query: String,
        variables: Value,
        operation_name: Option<String>,
    ) -> Value {
        let doc = async_graphql::parser::parse_query(&query).ok();
        let requested = doc
            .as_ref()
            .and_then(|d| cost::requested_cost(d, operation_name.as_deref(), &variables))
            .map(|(_, c)| c);

        if let Some(req) = requested {
            if req > MAX_SINGLE_QUERY_COST {
                let status = {
                    let mut s = lock(&self.shared.store);
                    s.bucket.refill();
                    s.bucket.status()
                };
                return json!({
                    "errors": [{
                        "message": format!("Query cost is {req}, which exceeds the single query max cost limit ({MAX_SINGLE_QUERY_COST}).\n\nSee {RATE_LIMIT_DOCS} for more information on how the\ncost of a query is calculated.\n\nTo query larger amounts of data with fewer limits, bulk operations should be used instead.\nSee https://shopify.dev/docs/api/usage/bulk-operations/queries for usage details.\n"),
                        "extensions": {"code": "MAX_COST_EXCEEDED", "cost": req, "maxCost": MAX_SINGLE_QUERY_COST, "documentation": RATE_LIMIT_DOCS},
                    }],
                    "extensions": {"cost": {"requestedQueryCost": req, "actualQueryCost": null, "throttleStatus": status}},
                });
            }
        }
        let requested = requested.unwrap_or(0) as f64;
        {
            let mut s = lock(&self.shared.store);
            s.bucket.refill();
            if s.bucket.available < requested {
                let status = s.bucket.status();
                drop(s);
                self.shared.core.count_throttled();
                return json!({
                    "errors": [{
                        "message": "Throttled",
                        "extensions": {"code": "THROTTLED", "documentation": RATE_LIMIT_DOCS},
                    }],
                    "extensions": {"cost": {"requestedQueryCost": requested as u64, "actualQueryCost": null, "throttleStatus": status}},
                });
            }
            s.bucket.available -= requested;
        }

        let mut request =
            async_graphql::Request::new(query).variables(Variables::from_json(variables.clone()));
        if let Some(op) = &operation_name {
            request = request.operation_name(op.clone());
        }
        let response = self.shared.schema.execute(request).await;
        let mut body = serde_json::to_value(&response).unwrap_or_else(|_| json!({"data": null}));
        let data = body.get("data").cloned().unwrap_or(Value::Null);
        let actual = doc
            .as_ref()
            .and_then(|d| cost::actual_cost(d, operation_name.as_deref(), &variables, &data))
            .map(|c| c as f64)
            .unwrap_or(0.0)
            .min(requested);
        let status = {
            let mut s = lock(&self.shared.store);
            s.bucket.refill();
            s.bucket.available = (s.bucket.available + requested - actual).min(s.bucket.max);
            s.bucket.status()
        };
        if let Value::Object(map) = &mut body {
            map.remove("extensions");
            map.insert(
                "extensions".into(),
                json!({"cost": {"requestedQueryCost": requested as u64, "actualQueryCost": actual as u64, "throttleStatus": status}}),
            );
        }
        body
    }
}

/// Spoil one order node of a page (that response only): returns whether it did.
fn spoil_one_node(body: &mut Value, pick: impl FnOnce(usize) -> usize) -> bool {
    let Some(orders) = body.pointer_mut("/data/orders") else {
        return false;
    };
    let len_nodes = orders
        .get("nodes")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    let len_edges = orders
        .get("edges")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    let (node, len) = if len_nodes > 0 {
        ("nodes", len_nodes)
    } else if len_edges > 0 {
        ("edges", len_edges)
    } else {
        return false;
    };
    let i = pick(len).min(len - 1);
    let target = if node == "nodes" {
        orders.pointer_mut(&format!("/nodes/{i}"))
    } else {
        orders.pointer_mut(&format!("/edges/{i}/node"))
    };
    let Some(target) = target else { return false };
    if let Some(amount) = target.pointer_mut("/totalPriceSet/shopMoney/amount") {
        *amount = json!("twelve");
        return true;
    }
    if let Some(obj) = target.as_object_mut() {
        for key in ["currencyCode", "createdAt", "updatedAt", "legacyResourceId"] {
            if obj.contains_key(key) {
                obj.insert(
                    key.into(),
                    json!(if key == "currencyCode" {
                        Value::Null
                    } else {
                        json!("garbage")
                    }),
                );
                return true;
            }
        }
    }
    *target = json!("not an order");
    true
}

fn graphql_json(body: &Value) -> Response {
    json_response(StatusCode::OK, body)
}

async fn graphql_handler(
    State(sb): State<ShopifySandbox>,
    Path(version): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = format!("/admin/api/{version}/graphql.json");
    sb.shared.core.count_request(&path);
    let fault = sb.shared.core.decide_fault(&path);
    if let Some(resp) = fault.as_ref().and_then(Fault::early_response) {
        return resp;
    }
    match fault {
        Some(Fault::Timeout(d)) | Some(Fault::Slow(d)) => tokio::time::sleep(d).await,
        _ => {}
    }

    let token_ok = headers
        .get(super::client::HEADER_ACCESS_TOKEN)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| constant_time_eq(t.as_bytes(), sb.shared.opts.access_token.as_bytes()));
    if !token_ok || sb.shared.core.credentials_revoked() {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
            INVALID_TOKEN_BODY,
        )
            .into_response();
    }

    let is_graphql_text = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/graphql"));
    let (query, variables, operation_name) = if is_graphql_text {
        match std::str::from_utf8(&body) {
            Ok(q) => (q.to_string(), json!({}), None),
            Err(_) => return missing_query(),
        }
    } else {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Req {
            query: Option<String>,
            #[serde(default)]
            variables: Option<Value>,
            #[serde(default)]
            operation_name: Option<String>,
        }
        match serde_json::from_slice::<Req>(&body) {
            Ok(Req {
                query: Some(q),
                variables,
                operation_name,
            }) => {
                let vars = match variables {
                    None | Some(Value::Null) => json!({}),
                    Some(v @ Value::Object(_)) => v,
                    Some(_) => return missing_query(),
                };
                (q, vars, operation_name)
            }
            _ => return missing_query(),
        }
    };

    let mut out = sb.run_graphql(query, variables, operation_name).await;
    if fault == Some(Fault::Malformed) {
        let core = sb.shared.core.clone();
        spoil_one_node(&mut out, |len| core.random_index(len));
    }
    if let Some(Fault::TimeoutAfterSuccess(d)) = fault {
        tokio::time::sleep(d).await;
    }
    graphql_json(&out)
}

fn missing_query() -> Response {
    json_response(
        StatusCode::BAD_REQUEST,
        &json!({"errors": {"query": "Required parameter missing or invalid"}}),
    )
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn seed_handler(State(sb): State<ShopifySandbox>, body: Bytes) -> Response {
    let req: SeedRequest = match parse_body(&body) {
        Ok(r) => r,
        Err(r) => return r,
    };
    match sb.seed(&req) {
        Ok(ids) => json_response(
            StatusCode::OK,
            &json!({
                "ids": ids.iter().map(|i| i.to_string()).collect::<Vec<_>>(),
                "gids": ids.iter().map(|i| format!("gid://shopify/Order/{i}")).collect::<Vec<_>>(),
                "count": ids.len(),
            }),
        ),
        Err(e) => bad_request(e),
    }
}

async fn touch_handler(
    State(sb): State<ShopifySandbox>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let Ok(legacy_id) = id.parse::<u64>() else {
        return bad_request("order id must be the numeric legacy id");
    };
    let req: TouchRequest = match parse_body(&body) {
        Ok(r) => r,
        Err(r) => return r,
    };
    match sb.touch(legacy_id, &req) {
        Some(t) => json_response(
            StatusCode::OK,
            &json!({"id": legacy_id.to_string(), "updatedAt": t.to_rfc3339_opts(SecondsFormat::Secs, true)}),
        ),
        None => json_response(StatusCode::NOT_FOUND, &json!({"error": "no such order"})),
    }
}

async fn webhook_handler(
    State(sb): State<ShopifySandbox>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let Ok(legacy_id) = id.parse::<u64>() else {
        return bad_request("order id must be the numeric legacy id");
    };
    let topic = q
        .get("topic")
        .map(String::as_str)
        .unwrap_or("orders/updated");
    if !TOPICS.contains(&topic) {
        return bad_request(format!("topic must be one of {}", TOPICS.join(", ")));
    }
    match sb.webhook(legacy_id, topic) {
        Some(w) => json_response(StatusCode::OK, &json!(w)),
        None => json_response(StatusCode::NOT_FOUND, &json!({"error": "no such order"})),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_terms() {
        let t =
            parse_search("updated_at:>='2025-10-01T00:00:00Z' AND created_at:>=2025-09-01 foo:bar");
        assert_eq!(t.len(), 2);
        assert_eq!(t[0].0, SearchField::UpdatedAt);
        assert_eq!(t[0].1, SearchOp::Ge);
        assert_eq!(t[1].0, SearchField::CreatedAt);
        let t = parse_search("updated_at:>\"2025-10-01T00:00:00+02:00\"");
        assert_eq!(t[0].1, SearchOp::Gt);
        assert_eq!(t[0].2.to_rfc3339(), "2025-09-30T22:00:00+00:00");
        assert!(parse_search("updated_at:>=yesterday").is_empty());
    }

    #[test]
    fn seeded_orders_are_consistent() {
        let sb = ShopifySandbox::new(ShopifySandboxOptions::default());
        let ids = sb
            .seed(&SeedRequest {
                count: Some(50),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(ids.first(), Some(&1001));
        assert_eq!(ids.len(), 50);
        let store = lock(&sb.shared.store);
        for o in store.orders.values() {
            assert!((1..=3).contains(&o.lines.len()));
            assert_eq!(o.total(), o.subtotal() + o.shipping_price + o.tax());
            assert_eq!(o.total().scale(), 2, "{}", o.total());
            assert!(["US", "DE", "GB"].contains(&o.ship.country_code.as_str()));
            assert_eq!(o.fulfillment_orders.len(), 1);
        }
        let mut times: Vec<_> = store.orders.values().map(|o| o.updated_at).collect();
        let sorted = {
            let mut t = times.clone();
            t.sort();
            t
        };
        assert_eq!(times, sorted);
        times.dedup();
        assert_eq!(times.len(), 50);
    }

    #[test]
    fn rest_json_of_a_seeded_order_maps() {
        let sb = ShopifySandbox::new(ShopifySandboxOptions::default());
        sb.seed(&SeedRequest {
            count: Some(3),
            ..Default::default()
        })
        .unwrap();
        for id in 1001..=1003 {
            let v = sb.order_rest_json(id).unwrap();
            let o = super::super::mapping::order_from_rest(&v).unwrap();
            assert_eq!(o.external_id, id.to_string());
        }
        assert!(sb.webhook(1001, "orders/updated").is_some());
        assert!(sb.webhook(1001, "products/create").is_none());
        assert!(sb.webhook(99, "orders/updated").is_none());
    }

    #[test]
    fn spoiling_hits_one_node_only() {
        let mut body = json!({"data": {"orders": {"nodes": [
            {"totalPriceSet": {"shopMoney": {"amount": "1.00"}}},
            {"totalPriceSet": {"shopMoney": {"amount": "2.00"}}}
        ]}}});
        assert!(spoil_one_node(&mut body, |_| 1));
        assert_eq!(
            body["data"]["orders"]["nodes"][0]["totalPriceSet"]["shopMoney"]["amount"],
            "1.00"
        );
        assert_eq!(
            body["data"]["orders"]["nodes"][1]["totalPriceSet"]["shopMoney"]["amount"],
            "twelve"
        );
        let mut other = json!({"data": {"fulfillmentCreate": {}}});
        assert!(!spoil_one_node(&mut other, |_| 0));
    }
}
