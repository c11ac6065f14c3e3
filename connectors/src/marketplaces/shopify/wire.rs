//! Shopify's wire formats, spelled exactly as Shopify spells them.
//!
//! - GraphQL Admin API: the response envelope (`data`, `errors`, `extensions.cost`),
//!   the `orders` connection and the `Order` fields the connector selects.
//! - REST / webhook order JSON (`orders/create`, `orders/updated`, `orders/cancelled`).
//!
//! Timestamps and money stay strings here: the mapping parses them and names the
//! field when one is wrong. A page's nodes are kept as raw `serde_json::Value` so
//! one bad node can be quarantined whole while the rest are mapped.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

// ---------------------------------------------------------------- GraphQL envelope

/// Any GraphQL Admin response: `data` may be absent when `errors` is set.
#[derive(Debug, Clone, Deserialize)]
pub struct GraphqlResponse<T> {
    #[serde(default = "none")]
    pub data: Option<T>,
    /// An array of `{message, extensions{code}}` on GraphQL errors; Shopify also
    /// answers a plain string for some HTTP-level errors.
    #[serde(default)]
    pub errors: Option<Value>,
    #[serde(default)]
    pub extensions: Option<ResponseExtensions>,
}

fn none<T>() -> Option<T> {
    None
}

/// `null` and a missing field both mean the default (an empty list).
fn null_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct ResponseExtensions {
    #[serde(default)]
    pub cost: Option<QueryCost>,
}

/// `extensions.cost`, on every GraphQL Admin response.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QueryCost {
    pub requested_query_cost: f64,
    /// `null` when the query was throttled (it did not run).
    pub actual_query_cost: Option<f64>,
    pub throttle_status: ThrottleStatus,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ThrottleStatus {
    pub maximum_available: f64,
    pub currently_available: f64,
    pub restore_rate: f64,
}

/// One entry of `errors` (when it is an array).
#[derive(Debug, Clone, Deserialize)]
pub struct GraphqlError {
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub extensions: Option<GraphqlErrorExtensions>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct GraphqlErrorExtensions {
    #[serde(default)]
    pub code: Option<String>,
}

/// The `code`s of an `errors` value (`THROTTLED`, `MAX_COST_EXCEEDED`, ...).
pub fn error_codes(errors: &Value) -> Vec<String> {
    match errors {
        Value::Array(items) => items
            .iter()
            .filter_map(|e| serde_json::from_value::<GraphqlError>(e.clone()).ok())
            .filter_map(|e| e.extensions.and_then(|x| x.code))
            .collect(),
        _ => Vec::new(),
    }
}

/// The messages of an `errors` value, joined, cut to a sane length.
pub fn error_text(errors: &Value) -> String {
    let text = match errors {
        Value::String(s) => s.clone(),
        Value::Array(items) => items
            .iter()
            .map(|e| {
                e.get("message")
                    .and_then(Value::as_str)
                    .map(str::to_string)
                    .unwrap_or_else(|| e.to_string())
            })
            .collect::<Vec<_>>()
            .join("; "),
        other => other.to_string(),
    };
    text.chars().take(500).collect()
}

// ---------------------------------------------------------------- GraphQL objects

/// `data` of the `orders` query.
#[derive(Debug, Clone, Deserialize)]
pub struct OrdersData {
    pub orders: RawConnection,
}

/// A connection whose nodes are kept raw, to be decoded one by one.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RawConnection {
    pub page_info: PageInfo,
    #[serde(default, deserialize_with = "null_default")]
    pub nodes: Vec<Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PageInfo {
    #[serde(default)]
    pub has_next_page: bool,
    #[serde(default)]
    pub end_cursor: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", bound(deserialize = "T: Deserialize<'de>"))]
pub struct Connection<T> {
    #[serde(default)]
    pub page_info: Option<PageInfo>,
    #[serde(default = "Vec::new", deserialize_with = "null_default")]
    pub nodes: Vec<T>,
}

/// `MoneyBag`: an amount in the shop's and the presentment currency.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MoneyBag {
    pub shop_money: Option<MoneyV2>,
}

/// `MoneyV2`: `amount` is a `Decimal` scalar, serialized as a string.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MoneyV2 {
    pub amount: Option<StrOrNum>,
    pub currency_code: Option<String>,
}

/// A JSON value Shopify documents as a string but that some producers send as a
/// number (`UnsignedInt64`, `Decimal`); kept as its text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum StrOrNum {
    Str(String),
    Num(serde_json::Number),
}

impl StrOrNum {
    pub fn text(&self) -> String {
        match self {
            StrOrNum::Str(s) => s.clone(),
            StrOrNum::Num(n) => n.to_string(),
        }
    }
}

/// One `Order` node as the connector selects it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GqlOrder {
    /// `gid://shopify/Order/1001`
    pub id: String,
    /// The numeric id as an `UnsignedInt64` (a string).
    pub legacy_resource_id: Option<StrOrNum>,
    pub name: Option<String>,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
    pub cancelled_at: Option<String>,
    pub display_financial_status: Option<String>,
    pub display_fulfillment_status: Option<String>,
    pub currency_code: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub subtotal_price_set: Option<MoneyBag>,
    pub total_shipping_price_set: Option<MoneyBag>,
    pub total_tax_set: Option<MoneyBag>,
    pub total_discounts_set: Option<MoneyBag>,
    pub total_price_set: Option<MoneyBag>,
    pub customer: Option<GqlCustomer>,
    pub shipping_address: Option<MailingAddress>,
    pub billing_address: Option<MailingAddress>,
    pub shipping_line: Option<ShippingLine>,
    pub line_items: Option<Connection<GqlLineItem>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GqlCustomer {
    pub id: Option<String>,
    pub legacy_resource_id: Option<StrOrNum>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub display_name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
}

/// `MailingAddress`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MailingAddress {
    pub name: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub company: Option<String>,
    pub address1: Option<String>,
    pub address2: Option<String>,
    pub city: Option<String>,
    pub province: Option<String>,
    pub province_code: Option<String>,
    pub zip: Option<String>,
    pub country: Option<String>,
    pub country_code_v2: Option<String>,
    pub phone: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShippingLine {
    pub title: Option<String>,
    pub code: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GqlLineItem {
    /// `gid://shopify/LineItem/N`
    pub id: Option<String>,
    pub sku: Option<String>,
    pub name: Option<String>,
    pub title: Option<String>,
    pub quantity: Option<i64>,
    pub original_unit_price_set: Option<MoneyBag>,
    pub discounted_total_set: Option<MoneyBag>,
    pub total_discount_set: Option<MoneyBag>,
    #[serde(default, deserialize_with = "null_default")]
    pub tax_lines: Vec<GqlTaxLine>,
    /// `LineItem.variant` (`null` once the variant is deleted), selected for
    /// its `barcode`.
    #[serde(default)]
    pub variant: Option<GqlLineVariant>,
}

/// The `ProductVariant` of a line item, as the connector selects it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GqlLineVariant {
    /// `ProductVariant.barcode` (ISBN, UPC, GTIN, ...; `null` when unset).
    #[serde(default)]
    pub barcode: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GqlTaxLine {
    pub price_set: Option<MoneyBag>,
}

/// `data` of the follow-up query for an order's remaining line items.
#[derive(Debug, Clone, Deserialize)]
pub struct OrderLineItemsData {
    pub order: Option<OrderLineItemsNode>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderLineItemsNode {
    pub line_items: RawConnection,
}

// ------------------------------------------------------- fulfillment (push tracking)

/// `data` of the query for an order's fulfillment orders and fulfillments.
#[derive(Debug, Clone, Deserialize)]
pub struct OrderFulfillmentData {
    pub order: Option<OrderFulfillmentNode>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderFulfillmentNode {
    pub fulfillment_orders: Connection<FulfillmentOrderNode>,
    #[serde(default, deserialize_with = "null_default")]
    pub fulfillments: Vec<FulfillmentNode>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FulfillmentOrderNode {
    pub id: String,
    /// `FulfillmentOrderStatus`: OPEN, IN_PROGRESS, CLOSED, CANCELLED, INCOMPLETE,
    /// ON_HOLD, SCHEDULED.
    pub status: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FulfillmentNode {
    pub id: Option<String>,
    /// `FulfillmentStatus`: SUCCESS, CANCELLED, ERROR, FAILURE (OPEN, PENDING
    /// deprecated).
    pub status: Option<String>,
    #[serde(default, deserialize_with = "null_default")]
    pub tracking_info: Vec<TrackingInfo>,
    /// `FulfillmentDisplayStatus` (FULFILLED, IN_TRANSIT, DELIVERED, CANCELED, ...),
    /// when selected.
    #[serde(default)]
    pub display_status: Option<String>,
    /// `events(...)`, when selected: the fulfillment's `FulfillmentEvent`s.
    #[serde(default)]
    pub events: Option<Connection<FulfillmentEventNode>>,
}

/// One `FulfillmentEvent` as the connector selects it.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FulfillmentEventNode {
    /// `gid://shopify/FulfillmentEvent/N`
    pub id: Option<String>,
    /// `FulfillmentEventStatus`.
    pub status: String,
    pub happened_at: Option<String>,
}

/// `FulfillmentTrackingInfo` (output) and `FulfillmentTrackingInput` (input).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct TrackingInfo {
    pub company: Option<String>,
    pub number: Option<String>,
    pub url: Option<String>,
}

/// `FulfillmentInput` for `fulfillmentCreate`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FulfillmentInput {
    pub line_items_by_fulfillment_order: Vec<FulfillmentOrderLineItemsInput>,
    pub tracking_info: TrackingInfo,
    pub notify_customer: bool,
}

/// `FulfillmentOrderLineItemsInput`; no line items = all of the fulfillment order.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FulfillmentOrderLineItemsInput {
    pub fulfillment_order_id: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FulfillmentCreateData {
    pub fulfillment_create: Option<FulfillmentCreatePayload>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FulfillmentCreatePayload {
    pub fulfillment: Option<FulfillmentNode>,
    #[serde(default, deserialize_with = "null_default")]
    pub user_errors: Vec<UserError>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct UserError {
    #[serde(default)]
    pub field: Option<Vec<String>>,
    #[serde(default)]
    pub message: String,
}

// ------------------------------------------- fulfillment events (push delivery status)

/// `data` of the query for an order's fulfillments with their events.
#[derive(Debug, Clone, Deserialize)]
pub struct OrderFulfillmentEventsData {
    pub order: Option<OrderFulfillmentEventsNode>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderFulfillmentEventsNode {
    #[serde(default, deserialize_with = "null_default")]
    pub fulfillments: Vec<FulfillmentNode>,
}

/// `FulfillmentEventInput` for `fulfillmentEventCreate` (the fields the connector
/// sends; Shopify also takes `address1`, `city`, `province`, `country`, `zip`,
/// `latitude`, `longitude` and `estimatedDeliveryAt`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FulfillmentEventInput {
    pub fulfillment_id: String,
    /// `FulfillmentEventStatus`, e.g. `IN_TRANSIT`.
    pub status: String,
    /// `DateTime` (ISO 8601).
    pub happened_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FulfillmentEventCreateData {
    pub fulfillment_event_create: Option<FulfillmentEventCreatePayload>,
}

/// `FulfillmentEventCreatePayload`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FulfillmentEventCreatePayload {
    pub fulfillment_event: Option<FulfillmentEventNode>,
    #[serde(default, deserialize_with = "null_default")]
    pub user_errors: Vec<UserError>,
}

// ---------------------------------------------------------------- REST / webhooks

/// The REST order JSON, as the `orders/*` webhooks deliver it.
#[derive(Debug, Clone, Deserialize)]
pub struct RestOrder {
    pub id: Option<StrOrNum>,
    pub admin_graphql_api_id: Option<String>,
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
    pub cancelled_at: Option<String>,
    /// pending, authorized, partially_paid, paid, partially_refunded, refunded,
    /// voided (and expired).
    pub financial_status: Option<String>,
    /// null, fulfilled, partial, restocked (unfulfilled in some payloads).
    pub fulfillment_status: Option<String>,
    pub currency: Option<String>,
    pub subtotal_price: Option<StrOrNum>,
    pub total_shipping_price_set: Option<RestMoneySet>,
    pub total_tax: Option<StrOrNum>,
    pub total_discounts: Option<StrOrNum>,
    pub total_price: Option<StrOrNum>,
    pub customer: Option<RestCustomer>,
    pub shipping_address: Option<RestAddress>,
    pub billing_address: Option<RestAddress>,
    #[serde(default, deserialize_with = "null_default")]
    pub shipping_lines: Vec<RestShippingLine>,
    #[serde(default, deserialize_with = "null_default")]
    pub line_items: Vec<RestLineItem>,
}

/// `{"order": {...}}`, as the REST single-order endpoint wraps it.
#[derive(Debug, Clone, Deserialize)]
pub struct RestOrderEnvelope {
    pub order: Value,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RestMoneySet {
    pub shop_money: Option<RestMoney>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RestMoney {
    pub amount: Option<StrOrNum>,
    pub currency_code: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RestCustomer {
    pub id: Option<StrOrNum>,
    pub email: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub phone: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RestAddress {
    pub name: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub company: Option<String>,
    pub address1: Option<String>,
    pub address2: Option<String>,
    pub city: Option<String>,
    pub province: Option<String>,
    pub province_code: Option<String>,
    pub zip: Option<String>,
    pub country: Option<String>,
    pub country_code: Option<String>,
    pub phone: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RestShippingLine {
    pub title: Option<String>,
    pub code: Option<String>,
    pub price: Option<StrOrNum>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RestLineItem {
    pub id: Option<StrOrNum>,
    pub sku: Option<String>,
    pub title: Option<String>,
    pub name: Option<String>,
    pub quantity: Option<i64>,
    pub price: Option<StrOrNum>,
    pub grams: Option<i64>,
    pub total_discount: Option<StrOrNum>,
    #[serde(default, deserialize_with = "null_default")]
    pub tax_lines: Vec<RestTaxLine>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RestTaxLine {
    pub price: Option<StrOrNum>,
    pub rate: Option<f64>,
    pub title: Option<String>,
}

/// `productVariants(first:, query: "sku:…")`: each variant's inventory item
/// and the locations stocking it.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProductVariantsData {
    pub product_variants: VariantNodes,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct VariantNodes {
    #[serde(default)]
    pub nodes: Vec<VariantNode>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VariantNode {
    pub id: String,
    #[serde(default)]
    pub sku: Option<String>,
    pub inventory_item: InventoryItemNode,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InventoryItemNode {
    pub id: String,
    #[serde(default)]
    pub tracked: Option<bool>,
    pub inventory_levels: InventoryLevelNodes,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct InventoryLevelNodes {
    #[serde(default)]
    pub nodes: Vec<InventoryLevelNode>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct InventoryLevelNode {
    pub location: LocationRef,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct LocationRef {
    pub id: String,
}

/// `InventorySetQuantitiesInput`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InventorySetQuantitiesInput {
    pub name: String,
    pub reason: String,
    pub ignore_compare_quantity: bool,
    pub quantities: Vec<InventoryQuantityInput>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InventoryQuantityInput {
    pub inventory_item_id: String,
    pub location_id: String,
    pub quantity: i64,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InventorySetQuantitiesData {
    pub inventory_set_quantities: Option<InventorySetQuantitiesPayload>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InventorySetQuantitiesPayload {
    #[serde(default)]
    pub inventory_adjustment_group: Option<Value>,
    #[serde(default)]
    pub user_errors: Vec<UserError>,
}
