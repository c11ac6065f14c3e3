//! The Shopify connector: GraphQL Admin API calls through the shared HTTP client.
//!
//! - `orders(query: "updated_at:>='…'", sortKey: UPDATED_AT)` with cursor paging;
//!   each node is mapped on its own, a bad one is quarantined with its raw JSON.
//! - Cost-based throttling: the bucket state from every response's
//!   `extensions.cost.throttleStatus` is kept, and a query waits until the bucket
//!   holds its cost; a `THROTTLED` error (HTTP 200) becomes a retryable error with
//!   the same wait as `Retry-After`, so the shared client retries it.
//! - Tracking goes back through fulfillment orders and `fulfillmentCreate`.
//! - Carrier status changes go back as `fulfillmentEventCreate` on the fulfillment
//!   that carries the tracking number, once per status: the fulfillment's
//!   `displayStatus` and latest events are read first, and the mutation is sent
//!   without blind retries (a lost answer is followed by a fresh read), so a retry
//!   does not add a second event.
//! - Webhooks: base64 HMAC-SHA256 of the raw body with the app secret.

use super::cost::{self, MAX_SINGLE_QUERY_COST};
use super::mapping::{self, external_id_of};
use super::wire::{
    error_codes, error_text, FulfillmentCreateData, FulfillmentEventCreateData,
    FulfillmentEventInput, FulfillmentInput, FulfillmentNode, FulfillmentOrderLineItemsInput,
    GraphqlResponse, OrderFulfillmentData, OrderFulfillmentEventsData, OrderFulfillmentNode,
    OrderLineItemsData, OrdersData, QueryCost, ThrottleStatus, TrackingInfo, UserError,
};
use super::wire::{
    InventoryQuantityInput, InventorySetQuantitiesData, InventorySetQuantitiesInput,
    ProductVariantsData,
};
use crate::http::{HttpClient, RawResponse, RemoteError, RetryPolicy};
use crate::marketplace::{
    ChannelSetup, DeliveryStatusPush, Marketplace, OrderPage, StockPush, StockPushOutcome,
    TrackingPush, VerifiedWebhook, WebhookError, WebhookOrder,
};
use async_trait::async_trait;
use base64::Engine;
use chrono::{DateTime, SecondsFormat, Utc};
use hmac::{Hmac, Mac};
use orderhub_core::{Quarantined, TrackingStatus};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use sha2::Sha256;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub const DEFAULT_API_VERSION: &str = "2025-10";
pub const DEFAULT_PAGE_SIZE: u32 = 100;
/// Line items fetched with each order; an order with more gets the rest in
/// follow-up queries.
pub const DEFAULT_LINE_ITEMS_PAGE: u32 = 5;
/// Shopify's cap on `first` for any connection.
pub const MAX_PAGE: u32 = 250;
const MORE_LINE_ITEMS_PAGE: u32 = 50;

pub const HEADER_ACCESS_TOKEN: &str = "X-Shopify-Access-Token";
pub const HEADER_HMAC: &str = "X-Shopify-Hmac-Sha256";
pub const HEADER_TOPIC: &str = "X-Shopify-Topic";
pub const HEADER_WEBHOOK_ID: &str = "X-Shopify-Webhook-Id";
/// The webhook topics the connector accepts.
pub const TOPICS: [&str; 3] = ["orders/create", "orders/updated", "orders/cancelled"];

pub const ORDERS_QUERY: &str = r#"query OrdersUpdatedSince($first: Int!, $after: String, $query: String!, $lineItems: Int!) {
  orders(first: $first, after: $after, query: $query, sortKey: UPDATED_AT) {
    pageInfo { hasNextPage endCursor }
    nodes {
      id
      legacyResourceId
      name
      createdAt
      updatedAt
      cancelledAt
      displayFinancialStatus
      displayFulfillmentStatus
      currencyCode
      email
      phone
      subtotalPriceSet { shopMoney { amount currencyCode } }
      totalShippingPriceSet { shopMoney { amount currencyCode } }
      totalTaxSet { shopMoney { amount currencyCode } }
      totalDiscountsSet { shopMoney { amount currencyCode } }
      totalPriceSet { shopMoney { amount currencyCode } }
      customer { id legacyResourceId firstName lastName displayName email phone }
      shippingAddress { ...Address }
      billingAddress { ...Address }
      shippingLine { title code }
      lineItems(first: $lineItems) {
        pageInfo { hasNextPage endCursor }
        nodes { ...Line }
      }
    }
  }
}
fragment Address on MailingAddress {
  name firstName lastName company address1 address2 city province provinceCode zip countryCodeV2 phone
}
fragment Line on LineItem {
  id sku name title quantity
  originalUnitPriceSet { shopMoney { amount currencyCode } }
  discountedTotalSet { shopMoney { amount currencyCode } }
  totalDiscountSet { shopMoney { amount currencyCode } }
  taxLines { priceSet { shopMoney { amount currencyCode } } }
  variant { barcode }
}"#;

pub const ORDER_LINE_ITEMS_QUERY: &str = r#"query OrderLineItems($id: ID!, $first: Int!, $after: String) {
  order(id: $id) {
    lineItems(first: $first, after: $after) {
      pageInfo { hasNextPage endCursor }
      nodes {
        id sku name title quantity
        originalUnitPriceSet { shopMoney { amount currencyCode } }
        discountedTotalSet { shopMoney { amount currencyCode } }
        totalDiscountSet { shopMoney { amount currencyCode } }
        taxLines { priceSet { shopMoney { amount currencyCode } } }
        variant { barcode }
      }
    }
  }
}"#;

pub const ORDER_FULFILLMENT_QUERY: &str = r#"query OrderFulfillmentState($id: ID!) {
  order(id: $id) {
    fulfillmentOrders(first: 10) { nodes { id status } }
    fulfillments(first: 10) { id status trackingInfo(first: 3) { company number url } }
  }
}"#;

pub const FULFILLMENT_CREATE_MUTATION: &str = r#"mutation FulfillmentCreate($fulfillment: FulfillmentInput!) {
  fulfillmentCreate(fulfillment: $fulfillment) {
    fulfillment { id status trackingInfo(first: 10) { company number url } }
    userErrors { field message }
  }
}"#;

/// An order's fulfillments with their display status and latest events, to find
/// the one carrying a tracking number and see how far it has got.
pub const ORDER_FULFILLMENT_EVENTS_QUERY: &str = r#"query OrderFulfillmentEvents($id: ID!) {
  order(id: $id) {
    fulfillments(first: 5) {
      id
      status
      displayStatus
      trackingInfo(first: 3) { number }
      events(first: 3, sortKey: HAPPENED_AT, reverse: true) { nodes { id status happenedAt } }
    }
  }
}"#;

pub const FULFILLMENT_EVENT_CREATE_MUTATION: &str = r#"mutation FulfillmentEventCreate($fulfillmentEvent: FulfillmentEventInput!) {
  fulfillmentEventCreate(fulfillmentEvent: $fulfillmentEvent) {
    fulfillmentEvent { id status happenedAt }
    userErrors { field message }
  }
}"#;

/// A sku's variant, its inventory item and where it is stocked.
pub const VARIANT_BY_SKU_QUERY: &str = r#"query VariantBySku($query: String!) {
  productVariants(first: 5, query: $query) {
    nodes {
      id
      sku
      inventoryItem { id tracked inventoryLevels(first: 5) { nodes { location { id } } } }
    }
  }
}"#;

/// Set the `available` quantity at a location (an absolute value, reason
/// `correction`, no compare-and-set: orderhub's count is the truth).
pub const INVENTORY_SET_QUANTITIES_MUTATION: &str = r#"mutation InventorySetQuantities($input: InventorySetQuantitiesInput!) {
  inventorySetQuantities(input: $input) {
    inventoryAdjustmentGroup { reason }
    userErrors { field message }
  }
}"#;

/// A sku's inventory item and the location its stock is set at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StockTarget {
    pub inventory_item_id: String,
    pub location_id: String,
}

/// The search query for a sku (quoted, so dashes and spaces stay one term).
pub fn sku_search(sku: &str) -> String {
    format!("sku:\"{}\"", sku.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The variant of a `productVariants` answer whose sku is exactly `sku`
/// (Shopify's search also matches prefixes), at `location` when given, else
/// at the first location stocking it.
pub fn stock_target_in(
    data: &ProductVariantsData,
    sku: &str,
    location: Option<&str>,
) -> Option<StockTarget> {
    let v = data
        .product_variants
        .nodes
        .iter()
        .find(|v| v.sku.as_deref() == Some(sku))?;
    let levels = &v.inventory_item.inventory_levels.nodes;
    let location_id = match location {
        Some(l) => levels
            .iter()
            .find(|n| n.location.id == l)?
            .location
            .id
            .clone(),
        None => levels.first()?.location.id.clone(),
    };
    Some(StockTarget {
        inventory_item_id: v.inventory_item.id.clone(),
        location_id,
    })
}

/// The `inventorySetQuantities` input that sets `available` to `quantity`.
pub fn set_quantities_input(target: &StockTarget, quantity: i64) -> InventorySetQuantitiesInput {
    InventorySetQuantitiesInput {
        name: "available".into(),
        reason: "correction".into(),
        ignore_compare_quantity: true,
        quantities: vec![InventoryQuantityInput {
            inventory_item_id: target.inventory_item_id.clone(),
            location_id: target.location_id.clone(),
            quantity: quantity.max(0),
        }],
    }
}

/// Rounds of "read the fulfillment, send the event once" before giving up with
/// the last retryable error, and the pause between them.
const EVENT_PUSH_RETRY: RetryPolicy = RetryPolicy {
    max_attempts: 6,
    base: Duration::from_millis(200),
    max: Duration::from_secs(5),
};

/// A secret that never prints.
#[derive(Clone)]
struct Secret(String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// The last known state of the shop's cost bucket, and what each operation cost.
#[derive(Debug, Default)]
struct CostBudget {
    /// Bucket state and when it was true.
    status: Option<(ThrottleStatus, Instant)>,
    /// The last `requestedQueryCost` per operation name.
    last_requested: HashMap<&'static str, f64>,
    /// Points reserved by calls not answered yet. Concurrent calls share the
    /// bucket: a fresh `throttleStatus` in one answer does not know about
    /// them, so they are taken off it (else every caller spends them again).
    outstanding: f64,
}

impl CostBudget {
    fn available_at(&self, at: Instant) -> Option<(f64, ThrottleStatus)> {
        let (s, when) = self.status?;
        let elapsed = at.saturating_duration_since(when).as_secs_f64();
        Some((
            (s.currently_available + elapsed * s.restore_rate).min(s.maximum_available),
            s,
        ))
    }
}

/// The Shopify marketplace connector.
pub struct ShopifyConnector {
    channel_id: String,
    endpoint: String,
    access_token: Secret,
    webhook_secret: Secret,
    http: HttpClient,
    page_size: u32,
    line_items_page: u32,
    budget: Mutex<CostBudget>,
    /// Option `location_id`: the location whose stock orderhub sets (default:
    /// the first location stocking the variant).
    location_id: Option<String>,
    /// sku → inventory item and location, found once.
    stock_targets: Mutex<HashMap<String, StockTarget>>,
}

impl std::fmt::Debug for ShopifyConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShopifyConnector")
            .field("channel_id", &self.channel_id)
            .field("endpoint", &self.endpoint)
            .field("page_size", &self.page_size)
            .field("line_items_page", &self.line_items_page)
            .finish_non_exhaustive()
    }
}

fn valid_api_version(v: &str) -> bool {
    if v == "unstable" {
        return true;
    }
    let b = v.as_bytes();
    b.len() == 7
        && b[4] == b'-'
        && b[..4].iter().all(u8::is_ascii_digit)
        && b[5..].iter().all(u8::is_ascii_digit)
}

/// The largest `first` for the orders query whose requested cost stays within the
/// single-query limit, given the line items fetched per order.
pub fn max_orders_per_page(line_items_page: u32) -> u32 {
    let cost_for = |first: u32| {
        cost::query_cost(
            ORDERS_QUERY,
            &json!({"first": first, "query": "", "lineItems": line_items_page}),
        )
        .unwrap_or(u64::MAX)
    };
    let base = cost_for(0);
    let per = cost_for(1).saturating_sub(base).max(1);
    let fit = MAX_SINGLE_QUERY_COST.saturating_sub(base) / per;
    (fit.min(MAX_PAGE as u64) as u32).max(1)
}

impl ShopifyConnector {
    /// Build from configuration; every problem is listed at once.
    pub fn new(setup: ChannelSetup) -> Result<Self, String> {
        let mut problems = Vec::new();
        let base = setup.http_base_url("an http(s) URL", &mut problems);
        let api_version = setup
            .options
            .get("api_version")
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|| DEFAULT_API_VERSION.to_string());
        if !valid_api_version(&api_version) {
            problems.push(format!(
                "option `api_version` must look like 2025-10 (got `{api_version}`)"
            ));
        }
        let page_size =
            setup.whole_number_option("page_size", DEFAULT_PAGE_SIZE, 1..=MAX_PAGE, &mut problems);
        let line_items_page = setup.whole_number_option(
            "line_items_page",
            DEFAULT_LINE_ITEMS_PAGE,
            1..=MAX_PAGE,
            &mut problems,
        );
        setup.require_secrets(&["access_token", "webhook_secret"], &mut problems);
        if !problems.is_empty() {
            return Err(format!(
                "shopify channel `{}`: {}",
                setup.channel_id,
                problems.join("; ")
            ));
        }
        let fit = max_orders_per_page(line_items_page);
        if page_size > fit {
            tracing::info!(
                channel = %setup.channel_id,
                page_size,
                effective = fit,
                "page size lowered so one orders query stays within Shopify's single-query cost limit"
            );
        }
        let http = HttpClient::new(
            format!("shopify:{}", setup.channel_id),
            setup.request_timeout,
            None,
        );
        Ok(Self {
            endpoint: format!("{base}/admin/api/{api_version}/graphql.json"),
            access_token: Secret(setup.secret("access_token").to_string()),
            webhook_secret: Secret(setup.secret("webhook_secret").to_string()),
            channel_id: setup.channel_id,
            http,
            page_size: page_size.min(fit),
            line_items_page,
            budget: Mutex::new(CostBudget::default()),
            location_id: setup
                .options
                .get("location_id")
                .map(|l| l.trim())
                .filter(|l| !l.is_empty())
                .map(|l| {
                    if l.starts_with("gid://") {
                        l.to_string()
                    } else {
                        format!("gid://shopify/Location/{l}")
                    }
                }),
            stock_targets: Mutex::new(HashMap::new()),
        })
    }

    /// Replace the shared client (e.g. a test's faster retry policy).
    pub fn with_http_client(mut self, http: HttpClient) -> Self {
        self.http = http;
        self
    }

    /// Orders requested per page (after the cost limit).
    pub fn page_size(&self) -> u32 {
        self.page_size
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The last bucket state Shopify reported (for ops and tests).
    pub fn throttle_status(&self) -> Option<ThrottleStatus> {
        self.lock_budget().status.map(|(s, _)| s)
    }

    fn lock_budget(&self) -> std::sync::MutexGuard<'_, CostBudget> {
        self.budget.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Wait until the bucket (as last reported, refilled since) holds `op`'s cost,
    /// and reserve it so concurrent calls see the smaller budget.
    /// Wait until the bucket holds this call's cost and reserve it; returns
    /// the points reserved, to [`Self::release_budget`] when answered.
    async fn wait_for_budget(&self, op: &'static str, estimate: f64) -> f64 {
        let (wait, needed) = {
            let mut b = self.lock_budget();
            let needed = b.last_requested.get(op).copied().unwrap_or(estimate);
            b.outstanding += needed;
            let now = Instant::now();
            let Some((available, status)) = b.available_at(now) else {
                return needed;
            };
            if status.restore_rate <= 0.0 {
                return needed;
            }
            // A little slack for the time the answer took to reach us.
            let needed_with_margin =
                (needed + status.restore_rate * 0.05).min(status.maximum_available);
            let wait_s = ((needed_with_margin - available) / status.restore_rate).max(0.0);
            let wait = Duration::from_secs_f64(wait_s.min(60.0));
            let at = now + wait;
            let reserved = ThrottleStatus {
                currently_available: (available + wait.as_secs_f64() * status.restore_rate
                    - needed)
                    .max(0.0),
                ..status
            };
            b.status = Some((reserved, at));
            (wait, needed)
        };
        if !wait.is_zero() {
            tracing::debug!(channel = %self.channel_id, op, wait_ms = wait.as_millis() as u64, "waiting for the Shopify cost bucket");
            tokio::time::sleep(wait).await;
        }
        needed
    }

    fn release_budget(&self, reserved: f64) {
        let mut b = self.lock_budget();
        b.outstanding = (b.outstanding - reserved).max(0.0);
    }

    fn note_cost(&self, op: &'static str, cost: &QueryCost) {
        let mut b = self.lock_budget();
        // The answer's own cost is part of `outstanding` until it is
        // released: erring on the side of waiting a little longer.
        let mut status = cost.throttle_status;
        status.currently_available = (status.currently_available - b.outstanding).max(0.0);
        b.status = Some((status, Instant::now()));
        if cost.requested_query_cost > 0.0 {
            b.last_requested.insert(op, cost.requested_query_cost);
        }
    }

    /// Check one GraphQL answer: cost bookkeeping, THROTTLED → retryable, other
    /// errors → permanent, then decode `data`.
    fn check<T: DeserializeOwned>(
        &self,
        op: &'static str,
        raw: RawResponse,
    ) -> Result<T, RemoteError> {
        let resp: GraphqlResponse<Value> = raw.json()?;
        if let Some(cost) = resp.extensions.as_ref().and_then(|e| e.cost.as_ref()) {
            self.note_cost(op, cost);
        }
        if let Some(errors) = resp.errors.as_ref().filter(|e| !e.is_null()) {
            let codes = error_codes(errors);
            let text = error_text(errors);
            if codes.iter().any(|c| c == "THROTTLED") {
                let retry_after = resp
                    .extensions
                    .as_ref()
                    .and_then(|e| e.cost.as_ref())
                    .map(throttle_wait)
                    .unwrap_or(Duration::from_secs(1));
                return Err(RemoteError::Retryable {
                    status: Some(raw.status.as_u16()),
                    retry_after: Some(retry_after),
                    message: format!("Shopify THROTTLED: {text}"),
                });
            }
            if codes
                .iter()
                .any(|c| c == "INTERNAL_SERVER_ERROR" || c == "SERVICE_UNAVAILABLE")
            {
                return Err(RemoteError::retryable(
                    format!("Shopify {op}: {text}"),
                    None,
                ));
            }
            return Err(RemoteError::Permanent {
                status: Some(raw.status.as_u16()),
                message: format!("Shopify {op} errors ({}): {text}", codes.join(",")),
            });
        }
        let data = resp.data.ok_or_else(|| {
            RemoteError::permanent(format!("Shopify {op}: response without data"))
        })?;
        mapping::decode::<T>(&data)
            .map_err(|e| RemoteError::permanent(format!("Shopify {op}: undecodable data: {e}")))
    }

    /// One GraphQL call: wait for budget, send, check (retries in the shared client).
    async fn graphql<T: DeserializeOwned>(
        &self,
        op: &'static str,
        query: &'static str,
        variables: Value,
    ) -> Result<T, RemoteError> {
        self.graphql_via(&self.http, op, query, variables).await
    }

    /// One GraphQL call sent at most once (no retry in the shared client): for a
    /// mutation that must not be repeated blindly when its answer is lost.
    async fn graphql_once<T: DeserializeOwned>(
        &self,
        op: &'static str,
        query: &'static str,
        variables: Value,
    ) -> Result<T, RemoteError> {
        let once = self.http.clone().with_retry_policy(RetryPolicy {
            max_attempts: 1,
            ..RetryPolicy::default()
        });
        self.graphql_via(&once, op, query, variables).await
    }

    async fn graphql_via<T: DeserializeOwned>(
        &self,
        client: &HttpClient,
        op: &'static str,
        query: &'static str,
        variables: Value,
    ) -> Result<T, RemoteError> {
        let estimate = cost::query_cost(query, &variables).unwrap_or(0) as f64;
        let reserved = self.wait_for_budget(op, estimate).await;
        let body = json!({ "query": query, "variables": variables, "operationName": op });
        let token = self.access_token.0.as_str();
        let result = client
            .execute(
                |c| {
                    c.post(&self.endpoint)
                        .header(HEADER_ACCESS_TOKEN, token)
                        .header(http::header::ACCEPT, "application/json")
                        .json(&body)
                },
                |raw| self.check::<T>(op, raw),
            )
            .await;
        self.release_budget(reserved);
        result
    }

    /// Complete a node's line items when the first page did not hold them all.
    async fn complete_line_items(&self, node: &mut Value) -> Result<(), RemoteError> {
        let has_more = node
            .pointer("/lineItems/pageInfo/hasNextPage")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        if !has_more {
            return Ok(());
        }
        let id = node
            .get("id")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| RemoteError::permanent("order node without id"))?;
        let mut after = node
            .pointer("/lineItems/pageInfo/endCursor")
            .and_then(Value::as_str)
            .map(str::to_string);
        let mut extra = Vec::new();
        for _ in 0..100 {
            let data: OrderLineItemsData = self
                .graphql(
                    "OrderLineItems",
                    ORDER_LINE_ITEMS_QUERY,
                    json!({"id": id, "first": MORE_LINE_ITEMS_PAGE, "after": after}),
                )
                .await?;
            let conn = data
                .order
                .ok_or_else(|| {
                    RemoteError::permanent(format!(
                        "order {id} vanished while paging its line items"
                    ))
                })?
                .line_items;
            extra.extend(conn.nodes);
            if !conn.page_info.has_next_page {
                break;
            }
            after = conn.page_info.end_cursor;
            if after.is_none() {
                return Err(RemoteError::permanent("line items page without endCursor"));
            }
        }
        if let Some(Value::Array(nodes)) = node.pointer_mut("/lineItems/nodes") {
            nodes.extend(extra);
        }
        if let Some(pi) = node.pointer_mut("/lineItems/pageInfo") {
            *pi = json!({"hasNextPage": false, "endCursor": null});
        }
        Ok(())
    }

    async fn fulfillment_state(
        &self,
        order_gid: &str,
    ) -> Result<OrderFulfillmentNode, RemoteError> {
        let data: OrderFulfillmentData = self
            .graphql(
                "OrderFulfillmentState",
                ORDER_FULFILLMENT_QUERY,
                json!({"id": order_gid}),
            )
            .await?;
        data.order
            .ok_or_else(|| RemoteError::permanent(format!("Shopify has no order {order_gid}")))
    }

    /// The order's fulfillments with `displayStatus` and their latest events.
    async fn fulfillment_events(
        &self,
        order_gid: &str,
    ) -> Result<Vec<FulfillmentNode>, RemoteError> {
        let data: OrderFulfillmentEventsData = self
            .graphql(
                "OrderFulfillmentEvents",
                ORDER_FULFILLMENT_EVENTS_QUERY,
                json!({"id": order_gid}),
            )
            .await?;
        data.order
            .map(|o| o.fulfillments)
            .ok_or_else(|| RemoteError::permanent(format!("Shopify has no order {order_gid}")))
    }

    /// `fulfillmentEventCreate`, sent once; user errors are permanent.
    async fn create_fulfillment_event(
        &self,
        input: &FulfillmentEventInput,
    ) -> Result<(), RemoteError> {
        let data: FulfillmentEventCreateData = self
            .graphql_once(
                "FulfillmentEventCreate",
                FULFILLMENT_EVENT_CREATE_MUTATION,
                json!({ "fulfillmentEvent": input }),
            )
            .await?;
        let payload = data
            .fulfillment_event_create
            .ok_or_else(|| RemoteError::permanent("fulfillmentEventCreate returned nothing"))?;
        if payload.user_errors.is_empty() && payload.fulfillment_event.is_some() {
            return Ok(());
        }
        Err(RemoteError::permanent(format!(
            "fulfillmentEventCreate {} for {} refused: {}",
            input.status,
            input.fulfillment_id,
            user_error_text(&payload.user_errors)
        )))
    }
}

/// A push's order id as a Shopify order gid (numeric legacy ids are accepted).
fn order_gid(external_id: &str) -> Result<String, RemoteError> {
    let id = external_id.trim();
    if id.starts_with("gid://") {
        Ok(id.to_string())
    } else if !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()) {
        Ok(format!("gid://shopify/Order/{id}"))
    } else {
        Err(RemoteError::permanent(format!(
            "`{id}` is not a Shopify order id"
        )))
    }
}

fn user_error_text(errors: &[UserError]) -> String {
    if errors.is_empty() {
        return "no fulfillment event and no user error".to_string();
    }
    errors
        .iter()
        .map(|e| match &e.field {
            Some(f) if !f.is_empty() => format!("{}: {}", f.join("."), e.message),
            _ => e.message.clone(),
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The `FulfillmentEventStatus` Shopify records for a carrier tracking status;
/// `None` where Shopify has no equivalent (nothing is pushed then).
///
/// - `pre_transit` (label created, no carrier scan yet) is `LABEL_PURCHASED`;
/// - `return_to_sender` has no value of its own in the 2025-10 enum (the
///   delivery failed): `FAILURE`, with a message saying so;
/// - `cancelled` (the label or tracker was cancelled) is not a delivery event:
///   Shopify cancels a fulfillment with `fulfillmentCancel`, not with an event;
/// - `unknown` and `error` say nothing about the parcel.
pub fn fulfillment_event_status(status: TrackingStatus) -> Option<&'static str> {
    match status {
        TrackingStatus::PreTransit => Some("LABEL_PURCHASED"),
        TrackingStatus::InTransit => Some("IN_TRANSIT"),
        TrackingStatus::OutForDelivery => Some("OUT_FOR_DELIVERY"),
        TrackingStatus::AvailableForPickup => Some("READY_FOR_PICKUP"),
        TrackingStatus::Delivered => Some("DELIVERED"),
        TrackingStatus::ReturnToSender | TrackingStatus::Failure => Some("FAILURE"),
        TrackingStatus::Unknown | TrackingStatus::Cancelled | TrackingStatus::Error => None,
    }
}

/// How far along a `FulfillmentEventStatus` or `FulfillmentDisplayStatus` says
/// a parcel is, on the scale of [`TrackingStatus::rank`]; `None` for values that
/// say nothing about progress (FULFILLED, MARKED_AS_FULFILLED, SUBMITTED,
/// DELAYED, LABEL_VOIDED, CANCELED, and anything newer).
pub fn shopify_status_rank(status: &str) -> Option<u8> {
    Some(match status {
        "LABEL_PURCHASED" | "LABEL_PRINTED" | "CONFIRMED" => 1,
        "CARRIER_PICKED_UP" | "IN_TRANSIT" => 2,
        "OUT_FOR_DELIVERY" | "ATTEMPTED_DELIVERY" => 3,
        "READY_FOR_PICKUP" => 4,
        "DELIVERED" | "PICKED_UP" | "FAILURE" | "NOT_DELIVERED" => 5,
        _ => return None,
    })
}

fn carries_number(f: &FulfillmentNode, number: &str) -> bool {
    f.tracking_info.iter().any(|t| {
        t.number
            .as_deref()
            .is_some_and(|n| n.trim().eq_ignore_ascii_case(number))
    })
}

fn is_cancelled(f: &FulfillmentNode) -> bool {
    f.status.as_deref() == Some("CANCELLED") || f.display_status.as_deref() == Some("CANCELED")
}

/// Whether the fulfillment already shows `target` or a later status, by its
/// `displayStatus` or one of its (latest) events.
fn already_at_or_past(f: &FulfillmentNode, target: &str) -> bool {
    let events = f
        .events
        .as_ref()
        .map(|c| c.nodes.as_slice())
        .unwrap_or_default();
    if events.iter().any(|e| e.status == target) || f.display_status.as_deref() == Some(target) {
        return true;
    }
    let Some(want) = shopify_status_rank(target) else {
        return false;
    };
    let shown = events
        .iter()
        .filter_map(|e| shopify_status_rank(&e.status))
        .chain(f.display_status.as_deref().and_then(shopify_status_rank))
        .max();
    shown.is_some_and(|r| r >= want)
}

/// The fulfillments (ids) carrying `number` that still need the `target` event.
/// No live fulfillment with that number is a permanent error.
fn fulfillments_needing_event(
    order_gid: &str,
    fulfillments: &[FulfillmentNode],
    number: &str,
    target: &str,
) -> Result<Vec<String>, RemoteError> {
    let carrying: Vec<&FulfillmentNode> = fulfillments
        .iter()
        .filter(|f| carries_number(f, number))
        .collect();
    let live: Vec<&FulfillmentNode> = carrying
        .iter()
        .copied()
        .filter(|f| !is_cancelled(f))
        .collect();
    if live.is_empty() {
        let why = if carrying.is_empty() {
            "no fulfillment carries"
        } else {
            "the only fulfillment carrying it is cancelled, for"
        };
        return Err(RemoteError::permanent(format!(
            "order {order_gid}: {why} tracking number {number}; push the tracking first"
        )));
    }
    live.into_iter()
        .filter(|f| !already_at_or_past(f, target))
        .map(|f| {
            f.id.clone()
                .ok_or_else(|| RemoteError::permanent("Shopify fulfillment without id"))
        })
        .collect()
}

/// How long until the bucket holds the cost of the throttled query.
fn throttle_wait(cost: &QueryCost) -> Duration {
    let s = cost.throttle_status;
    if s.restore_rate <= 0.0 {
        return Duration::from_secs(1);
    }
    let secs = ((cost.requested_query_cost - s.currently_available) / s.restore_rate).max(0.0);
    Duration::from_secs_f64(secs.min(60.0)) + Duration::from_millis(50)
}

fn open_fulfillment_orders(state: &OrderFulfillmentNode) -> Vec<String> {
    state
        .fulfillment_orders
        .nodes
        .iter()
        .filter(|fo| matches!(fo.status.as_str(), "OPEN" | "IN_PROGRESS"))
        .map(|fo| fo.id.clone())
        .collect()
}

fn already_has_tracking(state: &OrderFulfillmentNode, number: &str) -> bool {
    state.fulfillments.iter().any(|f| {
        f.status.as_deref() != Some("CANCELLED")
            && f.tracking_info
                .iter()
                .any(|t| t.number.as_deref().map(str::trim) == Some(number.trim()))
    })
}

/// The tracking company name Shopify recognises for a carrier as EasyPost (and
/// most carrier APIs) name it; `Other` when Shopify has no such company.
pub fn shopify_carrier_name(carrier: &str) -> String {
    let key: String = carrier
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect::<String>()
        .to_ascii_lowercase();
    let name = match key.as_str() {
        "usps" | "uspsreturns" => "USPS",
        "ups" | "upsdap" | "upsiparcel" | "upsmailinnovations" | "upssurepost" => "UPS",
        "fedex" | "fedexdefault" | "fedexsmartpost" | "fedexground" | "fedexcrossborder" => "FedEx",
        "dhl" | "dhlexpress" => "DHL Express",
        "dhlecommerce" | "dhlecs" | "dhlecommercesolutions" | "dhlglobalmail" => "DHL eCommerce",
        "dhlparcel" | "dhlpaket" | "dhlde" => "DHL Parcel",
        "canadapost" => "Canada Post",
        "royalmail" => "Royal Mail",
        "purolator" => "Purolator",
        "australiapost" => "Australia Post",
        "dpd" => "DPD",
        "dpduk" => "DPD UK",
        "gls" => "GLS",
        "postnl" => "PostNL",
        "laposte" | "colissimo" => "La Poste",
        "tnt" => "TNT",
        "canpar" => "Canpar",
        "evri" | "hermes" | "hermesuk" => "Evri",
        "amazonshipping" | "amazonlogistics" => "Amazon Logistics US",
        "ontrac" => "OnTrac",
        "lasership" => "LaserShip",
        _ => "Other",
    };
    name.to_string()
}

/// The `X-Shopify-Hmac-Sha256` value for a body: base64 HMAC-SHA256 with the secret.
pub fn sign_webhook(secret: &str, body: &[u8]) -> String {
    // HMAC accepts keys of any length; this cannot fail.
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(body);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

fn header<'a>(headers: &'a http::HeaderMap, name: &'static str) -> Result<&'a str, WebhookError> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .ok_or(WebhookError::MissingHeader(name))
}

/// Verify a Shopify webhook on its raw body (fail closed).
pub fn verify_shopify_webhook(
    secret: &str,
    headers: &http::HeaderMap,
    body: &[u8],
) -> Result<VerifiedWebhook, WebhookError> {
    let signature = header(headers, HEADER_HMAC)?;
    if secret.is_empty() {
        return Err(WebhookError::BadSignature);
    }
    let expected = base64::engine::general_purpose::STANDARD
        .decode(signature)
        .map_err(|_| WebhookError::BadSignature)?;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
        .map_err(|_| WebhookError::BadSignature)?;
    mac.update(body);
    // verify_slice compares in constant time.
    mac.verify_slice(&expected)
        .map_err(|_| WebhookError::BadSignature)?;
    let topic = header(headers, HEADER_TOPIC)?;
    let delivery_id = header(headers, HEADER_WEBHOOK_ID)?;
    if !TOPICS.contains(&topic) {
        return Err(WebhookError::UnsupportedTopic(
            topic.chars().take(100).collect(),
        ));
    }
    Ok(VerifiedWebhook {
        delivery_id: delivery_id.to_string(),
        topic: topic.to_string(),
    })
}

fn quarantine(raw: &Value, reason: String) -> Quarantined {
    Quarantined {
        external_id: external_id_of(raw),
        reason,
        raw: raw.to_string(),
    }
}

#[async_trait]
impl Marketplace for ShopifyConnector {
    fn kind(&self) -> &'static str {
        "shopify"
    }

    async fn fetch_orders(
        &self,
        since: DateTime<Utc>,
        page: Option<String>,
    ) -> Result<OrderPage, RemoteError> {
        let query = format!(
            "updated_at:>='{}'",
            since.to_rfc3339_opts(SecondsFormat::Secs, true)
        );
        let data: OrdersData = self
            .graphql(
                "OrdersUpdatedSince",
                ORDERS_QUERY,
                json!({
                    "first": self.page_size,
                    "after": page,
                    "query": query,
                    "lineItems": self.line_items_page,
                }),
            )
            .await?;
        let conn = data.orders;
        let mut orders = Vec::with_capacity(conn.nodes.len());
        for mut node in conn.nodes {
            if let Err(e) = self.complete_line_items(&mut node).await {
                if e.is_retryable() {
                    return Err(e);
                }
                orders.push(Err(quarantine(&node, format!("line items: {e}"))));
                continue;
            }
            orders.push(
                mapping::order_from_graphql_node(&node)
                    .map_err(|e| quarantine(&node, e.to_string())),
            );
        }
        let next_page = if conn.page_info.has_next_page {
            Some(conn.page_info.end_cursor.ok_or_else(|| {
                RemoteError::permanent("Shopify says there is a next page but gives no endCursor")
            })?)
        } else {
            None
        };
        Ok(OrderPage { orders, next_page })
    }

    fn verify_webhook(
        &self,
        headers: &http::HeaderMap,
        body: &[u8],
    ) -> Result<VerifiedWebhook, WebhookError> {
        verify_shopify_webhook(&self.webhook_secret.0, headers, body)
    }

    fn order_from_webhook(&self, topic: &str, body: &[u8]) -> Result<WebhookOrder, Quarantined> {
        let raw_text = String::from_utf8_lossy(body).into_owned();
        let value: Value = serde_json::from_slice(body).map_err(|e| Quarantined {
            external_id: None,
            reason: format!("{topic}: body is not JSON: {e}"),
            raw: raw_text.clone(),
        })?;
        mapping::order_from_rest(&value)
            .map(|o| WebhookOrder::Order(Box::new(o)))
            .map_err(|e| Quarantined {
                external_id: external_id_of(&value),
                reason: format!("{topic}: {e}"),
                raw: raw_text,
            })
    }

    /// `productVariants(query: "sku:…")` once (cached), then one
    /// `inventorySetQuantities` per push (`available`, reason `correction`).
    async fn push_stock(&self, push: &StockPush) -> Result<StockPushOutcome, RemoteError> {
        for _ in 0..2 {
            let cached = self
                .stock_targets
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(&push.sku)
                .cloned();
            let target = match cached {
                Some(t) => t,
                None => {
                    let data: ProductVariantsData = self
                        .graphql(
                            "VariantBySku",
                            VARIANT_BY_SKU_QUERY,
                            json!({ "query": sku_search(&push.sku) }),
                        )
                        .await?;
                    match stock_target_in(&data, &push.sku, self.location_id.as_deref()) {
                        Some(t) => {
                            self.stock_targets
                                .lock()
                                .unwrap_or_else(|p| p.into_inner())
                                .insert(push.sku.clone(), t.clone());
                            t
                        }
                        None => return Ok(StockPushOutcome::NotListed),
                    }
                }
            };
            let data: InventorySetQuantitiesData = self
                .graphql(
                    "InventorySetQuantities",
                    INVENTORY_SET_QUANTITIES_MUTATION,
                    json!({ "input": set_quantities_input(&target, push.available) }),
                )
                .await?;
            let payload = data
                .inventory_set_quantities
                .ok_or_else(|| RemoteError::permanent("inventorySetQuantities returned nothing"))?;
            if payload.user_errors.is_empty() {
                return Ok(StockPushOutcome::Updated);
            }
            // An item or location that no longer exists: look the sku up again.
            tracing::info!(channel = %self.channel_id, sku = %push.sku, errors = %user_error_text(&payload.user_errors), "Shopify refused the quantity; looking the sku up again");
            self.stock_targets
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&push.sku);
        }
        Ok(StockPushOutcome::NotListed)
    }

    async fn push_tracking(&self, push: &TrackingPush) -> Result<(), RemoteError> {
        let number = push.tracking_number.trim();
        if number.is_empty() {
            return Err(RemoteError::permanent("empty tracking number"));
        }
        let order_gid = order_gid(&push.order_external_id)?;
        let state = self.fulfillment_state(&order_gid).await?;
        let open = open_fulfillment_orders(&state);
        if open.is_empty() {
            if already_has_tracking(&state, number) {
                return Ok(()); // a retry after a success we did not hear about
            }
            return Err(RemoteError::permanent(format!(
                "order {order_gid} has no open fulfillment order"
            )));
        }
        let input = FulfillmentInput {
            line_items_by_fulfillment_order: open
                .into_iter()
                .map(|fulfillment_order_id| FulfillmentOrderLineItemsInput {
                    fulfillment_order_id,
                })
                .collect(),
            tracking_info: TrackingInfo {
                company: Some(shopify_carrier_name(&push.carrier)),
                number: Some(number.to_string()),
                url: push.tracking_url.clone().filter(|u| !u.trim().is_empty()),
            },
            notify_customer: push.notify_customer,
        };
        let data: FulfillmentCreateData = self
            .graphql(
                "FulfillmentCreate",
                FULFILLMENT_CREATE_MUTATION,
                json!({ "fulfillment": input }),
            )
            .await?;
        let payload = data
            .fulfillment_create
            .ok_or_else(|| RemoteError::permanent("fulfillmentCreate returned nothing"))?;
        if payload.user_errors.is_empty() && payload.fulfillment.is_some() {
            return Ok(());
        }
        // The mutation may have gone through on an attempt whose answer was lost
        // (the shared client retried it): look before calling it a failure.
        let state = self.fulfillment_state(&order_gid).await?;
        if open_fulfillment_orders(&state).is_empty() && already_has_tracking(&state, number) {
            return Ok(());
        }
        let messages = user_error_text(&payload.user_errors);
        Err(RemoteError::permanent(format!(
            "fulfillmentCreate for {order_gid} refused: {messages}"
        )))
    }

    /// `fulfillmentEventCreate` on each fulfillment carrying the tracking number,
    /// unless it already shows that status or a later one. Each round reads the
    /// fulfillments first and sends the mutation once, so an attempt whose answer
    /// was lost is seen on the next read instead of being repeated.
    async fn push_delivery_status(&self, push: &DeliveryStatusPush) -> Result<(), RemoteError> {
        let Some(target) = fulfillment_event_status(push.status) else {
            tracing::debug!(
                channel = %self.channel_id,
                status = %push.status,
                "no Shopify fulfillment event for this tracking status; nothing pushed"
            );
            return Ok(());
        };
        let number = push.tracking_number.trim();
        if number.is_empty() {
            return Err(RemoteError::permanent("empty tracking number"));
        }
        let order_gid = order_gid(&push.order_external_id)?;
        let message = (push.status == TrackingStatus::ReturnToSender)
            .then(|| "Returned to sender".to_string());
        let happened_at = push.happened_at.to_rfc3339_opts(SecondsFormat::Secs, true);
        let mut round = 0;
        loop {
            let fulfillments = self.fulfillment_events(&order_gid).await?;
            let pending = fulfillments_needing_event(&order_gid, &fulfillments, number, target)?;
            let mut lost = None;
            for fulfillment_id in pending {
                let input = FulfillmentEventInput {
                    fulfillment_id,
                    status: target.to_string(),
                    happened_at: happened_at.clone(),
                    message: message.clone(),
                };
                match self.create_fulfillment_event(&input).await {
                    Ok(()) => {}
                    Err(e) if e.is_retryable() => {
                        lost = Some(e);
                        break;
                    }
                    Err(e) => return Err(e),
                }
            }
            let Some(err) = lost else {
                return Ok(());
            };
            round += 1;
            if round >= EVENT_PUSH_RETRY.max_attempts {
                return Err(err);
            }
            let delay = EVENT_PUSH_RETRY.delay(round - 1, err.retry_after());
            tracing::debug!(channel = %self.channel_id, round, delay_ms = delay.as_millis() as u64, error = %err, "fulfillmentEventCreate unanswered; reading again before another attempt");
            tokio::time::sleep(delay).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn setup() -> ChannelSetup {
        ChannelSetup {
            channel_id: "shop-1".into(),
            base_url: "http://127.0.0.1:1".into(),
            options: BTreeMap::new(),
            secrets: BTreeMap::from([
                ("access_token".to_string(), "shpat_secret_token".to_string()),
                ("webhook_secret".to_string(), "whsec".to_string()),
            ]),
            request_timeout: Duration::from_secs(2),
        }
    }

    #[test]
    fn secrets_stay_out_of_debug() {
        let c = ShopifyConnector::new(setup()).unwrap();
        let dbg = format!("{c:?}");
        assert!(!dbg.contains("shpat_secret_token"));
        assert!(!dbg.contains("whsec"));
        assert_eq!(
            c.endpoint(),
            "http://127.0.0.1:1/admin/api/2025-10/graphql.json"
        );
    }

    #[test]
    fn config_problems_are_listed_together() {
        let mut s = setup();
        s.secrets.clear();
        s.base_url = "not a url".into();
        s.options.insert("page_size".into(), "0".into());
        s.options.insert("api_version".into(), "latest".into());
        let err = ShopifyConnector::new(s).unwrap_err();
        for needle in [
            "base_url",
            "page_size",
            "api_version",
            "access_token",
            "webhook_secret",
        ] {
            assert!(err.contains(needle), "{err}");
        }
    }

    #[test]
    fn page_size_fits_the_single_query_limit() {
        let fit = max_orders_per_page(DEFAULT_LINE_ITEMS_PAGE);
        let cost = cost::query_cost(
            ORDERS_QUERY,
            &json!({"first": fit, "query": "", "lineItems": DEFAULT_LINE_ITEMS_PAGE}),
        )
        .unwrap();
        assert!(cost <= MAX_SINGLE_QUERY_COST, "{cost}");
        let over = cost::query_cost(
            ORDERS_QUERY,
            &json!({"first": fit + 1, "query": "", "lineItems": DEFAULT_LINE_ITEMS_PAGE}),
        )
        .unwrap();
        assert!(over > MAX_SINGLE_QUERY_COST, "{over}");
        let c = ShopifyConnector::new(setup()).unwrap();
        assert_eq!(c.page_size(), fit.min(DEFAULT_PAGE_SIZE));
    }

    #[test]
    fn carrier_names() {
        assert_eq!(shopify_carrier_name("USPS"), "USPS");
        assert_eq!(shopify_carrier_name("UPS"), "UPS");
        assert_eq!(shopify_carrier_name("FedEx"), "FedEx");
        assert_eq!(shopify_carrier_name("FedExSmartPost"), "FedEx");
        assert_eq!(shopify_carrier_name("DHLExpress"), "DHL Express");
        assert_eq!(shopify_carrier_name("DHL Express"), "DHL Express");
        assert_eq!(shopify_carrier_name("CanadaPost"), "Canada Post");
        assert_eq!(shopify_carrier_name("Acme Couriers"), "Other");
    }

    #[test]
    fn webhook_signatures() {
        let body = br#"{"id": 1}"#;
        let sig = sign_webhook("whsec", body);
        let mut h = http::HeaderMap::new();
        h.insert(HEADER_HMAC, sig.parse().unwrap());
        h.insert(HEADER_TOPIC, "orders/create".parse().unwrap());
        h.insert(
            HEADER_WEBHOOK_ID,
            "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043".parse().unwrap(),
        );
        let v = verify_shopify_webhook("whsec", &h, body).unwrap();
        assert_eq!(v.topic, "orders/create");
        assert_eq!(v.delivery_id, "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043");
        // Tampered body, wrong secret, garbage signature, missing headers.
        assert_eq!(
            verify_shopify_webhook("whsec", &h, br#"{"id": 2}"#).unwrap_err(),
            WebhookError::BadSignature
        );
        assert_eq!(
            verify_shopify_webhook("other", &h, body).unwrap_err(),
            WebhookError::BadSignature
        );
        assert_eq!(
            verify_shopify_webhook("", &h, body).unwrap_err(),
            WebhookError::BadSignature
        );
        let mut bad = h.clone();
        bad.insert(HEADER_HMAC, "%%%not base64".parse().unwrap());
        assert_eq!(
            verify_shopify_webhook("whsec", &bad, body).unwrap_err(),
            WebhookError::BadSignature
        );
        let mut missing = h.clone();
        missing.remove(HEADER_HMAC);
        assert_eq!(
            verify_shopify_webhook("whsec", &missing, body).unwrap_err(),
            WebhookError::MissingHeader(HEADER_HMAC)
        );
        let mut no_id = h.clone();
        no_id.remove(HEADER_WEBHOOK_ID);
        assert_eq!(
            verify_shopify_webhook("whsec", &no_id, body).unwrap_err(),
            WebhookError::MissingHeader(HEADER_WEBHOOK_ID)
        );
        let mut topic = h.clone();
        topic.insert(HEADER_TOPIC, "products/create".parse().unwrap());
        assert_eq!(
            verify_shopify_webhook("whsec", &topic, body).unwrap_err(),
            WebhookError::UnsupportedTopic("products/create".into())
        );
    }

    #[test]
    fn webhook_body_maps_or_is_quarantined() {
        let c = ShopifyConnector::new(setup()).unwrap();
        let body = include_bytes!("testdata/webhook_order.json");
        let Ok(WebhookOrder::Order(o)) = c.order_from_webhook("orders/cancelled", body) else {
            panic!("a Shopify webhook carries the order")
        };
        assert_eq!(o.external_id, "820982911946154508");
        let q = c
            .order_from_webhook("orders/create", b"{not json")
            .unwrap_err();
        assert_eq!(q.external_id, None);
        assert_eq!(q.raw, "{not json");
        let q = c
            .order_from_webhook("orders/create", br#"{"id": 77, "created_at": "x"}"#)
            .unwrap_err();
        assert_eq!(q.external_id.as_deref(), Some("77"));
        assert!(q.reason.contains("created_at"), "{}", q.reason);
    }

    #[test]
    fn tracking_statuses_map_to_fulfillment_event_statuses() {
        // Every value sent is in the 2025-10 FulfillmentEventStatus enum.
        let documented = [
            "ATTEMPTED_DELIVERY",
            "CARRIER_PICKED_UP",
            "CONFIRMED",
            "DELAYED",
            "DELIVERED",
            "FAILURE",
            "IN_TRANSIT",
            "LABEL_PRINTED",
            "LABEL_PURCHASED",
            "OUT_FOR_DELIVERY",
            "READY_FOR_PICKUP",
        ];
        for s in TrackingStatus::ALL {
            match fulfillment_event_status(s) {
                Some(e) => {
                    assert!(documented.contains(&e), "{s} -> {e}");
                    // Shopify's progress matches orderhub's, so "at or past" agrees.
                    assert_eq!(shopify_status_rank(e), Some(s.rank()), "{s} -> {e}");
                }
                None => assert!(
                    matches!(
                        s,
                        TrackingStatus::Unknown | TrackingStatus::Error | TrackingStatus::Cancelled
                    ),
                    "{s}"
                ),
            }
        }
        assert_eq!(
            fulfillment_event_status(TrackingStatus::Delivered),
            Some("DELIVERED")
        );
        assert_eq!(shopify_status_rank("FULFILLED"), None);
        assert_eq!(shopify_status_rank("DELAYED"), None);
    }

    #[test]
    fn the_fulfillment_carrying_the_number_is_picked() {
        let node = |id: &str, status: &str, display: &str, number: &str, events: Value| {
            serde_json::from_value::<FulfillmentNode>(json!({
                "id": id, "status": status, "displayStatus": display,
                "trackingInfo": [{"number": number}],
                "events": {"nodes": events},
            }))
            .unwrap()
        };
        let fs = vec![
            node(
                "gid://shopify/Fulfillment/1",
                "CANCELLED",
                "CANCELED",
                "AAA",
                json!([]),
            ),
            node(
                "gid://shopify/Fulfillment/2",
                "SUCCESS",
                "FULFILLED",
                "AAA",
                json!([]),
            ),
            node(
                "gid://shopify/Fulfillment/3",
                "SUCCESS",
                "IN_TRANSIT",
                "BBB",
                json!([{"id": "gid://shopify/FulfillmentEvent/9", "status": "IN_TRANSIT", "happenedAt": "2025-10-01T00:00:00Z"}]),
            ),
        ];
        let o = "gid://shopify/Order/1";
        assert_eq!(
            fulfillments_needing_event(o, &fs, "aaa", "IN_TRANSIT").unwrap(),
            vec!["gid://shopify/Fulfillment/2".to_string()]
        );
        assert!(fulfillments_needing_event(o, &fs, "BBB", "IN_TRANSIT")
            .unwrap()
            .is_empty());
        assert!(fulfillments_needing_event(o, &fs, "BBB", "LABEL_PURCHASED")
            .unwrap()
            .is_empty());
        assert_eq!(
            fulfillments_needing_event(o, &fs, "BBB", "DELIVERED").unwrap(),
            vec!["gid://shopify/Fulfillment/3".to_string()]
        );
        let err = fulfillments_needing_event(o, &fs[..1], "AAA", "DELIVERED").unwrap_err();
        assert!(err.to_string().contains("cancelled"), "{err}");
        let err = fulfillments_needing_event(o, &fs, "CCC", "DELIVERED").unwrap_err();
        assert!(!err.is_retryable());
    }

    #[test]
    fn throttled_example_waits_for_the_missing_points() {
        let resp: GraphqlResponse<Value> =
            serde_json::from_str(include_str!("testdata/graphql_throttled.json")).unwrap();
        assert_eq!(
            error_codes(resp.errors.as_ref().unwrap()),
            vec!["THROTTLED"]
        );
        let cost = resp.extensions.unwrap().cost.unwrap();
        assert_eq!(cost.actual_query_cost, None);
        // (70 - 66) / 50 = 0.08 s, plus slack.
        let w = throttle_wait(&cost);
        assert!(
            w >= Duration::from_millis(80) && w < Duration::from_millis(200),
            "{w:?}"
        );
    }
}
