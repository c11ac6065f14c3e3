//! Ecwid REST API v3 wire types, spelled as Ecwid spells them.
//!
//! Money is a JSON number in Ecwid's answers (`"total": 41.5`). [`Money`] reads
//! it from the number's decimal text, never through arithmetic on an `f64`, so
//! `0.1` stays `0.1`. Unknown fields are ignored; what Ecwid may omit is `Option`.

use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use std::str::FromStr;

/// An amount as Ecwid sends it: a JSON number, read exactly from its text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Money(pub Decimal);

impl<'de> Deserialize<'de> for Money {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let n = serde_json::Number::deserialize(d)?;
        decimal_from_number(&n)
            .map(Money)
            .ok_or_else(|| serde::de::Error::custom(format!("`{n}` is not a decimal amount")))
    }
}

/// The exact decimal a JSON number's text spells (`1e-7` included).
pub fn decimal_from_number(n: &serde_json::Number) -> Option<Decimal> {
    let text = n.to_string();
    Decimal::from_str(&text)
        .or_else(|_| Decimal::from_scientific(&text))
        .ok()
}

/// `GET /api/v3/{storeId}/orders` → `SearchResult`. Items stay raw so each order
/// is mapped (or quarantined) on its own.
#[derive(Debug, Clone, Deserialize)]
pub struct OrdersPage {
    pub total: u64,
    pub count: u64,
    #[serde(default)]
    pub offset: u64,
    #[serde(default)]
    pub limit: u64,
    #[serde(default)]
    pub items: Vec<Value>,
}

/// One order (`GET /orders/{orderId}`, or one of `items`).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EcwidOrder {
    /// Order id with the store's prefix/suffix (`XJ12H`, `MYSTORE-X8UYE`);
    /// absent in old stores' answers, which only have `orderNumber`.
    pub id: Option<String>,
    pub internal_id: Option<u64>,
    /// A number for placed orders (a cart id string for abandoned ones).
    pub order_number: Option<Value>,
    pub vendor_order_number: Option<String>,
    pub subtotal: Option<Money>,
    pub total: Money,
    pub total_before_gift_card_redemption: Option<Money>,
    pub gift_card_redemption: Option<Money>,
    pub tax: Option<Money>,
    pub coupon_discount: Option<Money>,
    pub discount: Option<Money>,
    pub volume_discount: Option<Money>,
    pub membership_based_discount: Option<Money>,
    pub prices_include_tax: Option<bool>,
    pub email: Option<String>,
    pub customer_id: Option<u64>,
    pub payment_status: Option<String>,
    pub fulfillment_status: Option<String>,
    /// `2024-06-06 08:00:26 +0000`
    pub create_date: Option<String>,
    pub update_date: Option<String>,
    pub create_timestamp: Option<i64>,
    pub update_timestamp: Option<i64>,
    #[serde(default)]
    pub items: Vec<EcwidItem>,
    pub billing_person: Option<PersonInfo>,
    pub shipping_person: Option<PersonInfo>,
    pub shipping_option: Option<ShippingOption>,
    pub handling_fee: Option<HandlingFee>,
    #[serde(default)]
    pub custom_surcharges: Vec<CustomSurcharge>,
    pub tracking_number: Option<String>,
    pub tracking_url: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EcwidItem {
    pub id: Option<u64>,
    pub product_id: Option<u64>,
    pub sku: Option<String>,
    pub name: Option<String>,
    pub quantity: u32,
    /// Price of one unit in the cart (options included).
    pub price: Money,
    pub price_without_tax: Option<Money>,
    /// Tax on the line (all units).
    pub tax: Option<Money>,
    /// One unit's weight in the store's weight unit.
    pub weight: Option<Money>,
}

/// `billingPerson` / `shippingPerson`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PersonInfo {
    pub name: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub company_name: Option<String>,
    /// Address line 1 and 2 separated by `\n`.
    pub street: Option<String>,
    pub city: Option<String>,
    pub country_code: Option<String>,
    pub country_name: Option<String>,
    pub postal_code: Option<String>,
    pub state_or_province_code: Option<String>,
    pub state_or_province_name: Option<String>,
    pub phone: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShippingOption {
    pub shipping_carrier_name: Option<String>,
    pub shipping_method_name: Option<String>,
    pub shipping_rate: Option<Money>,
    pub is_pickup: Option<bool>,
    pub fulfillment_type: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct HandlingFee {
    pub name: Option<String>,
    pub value: Option<Money>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CustomSurcharge {
    pub id: Option<String>,
    /// The amount the surcharge added to the order.
    pub total: Option<Money>,
}

/// `PUT /api/v3/{storeId}/orders/{orderId}`: only the fields that change.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderUpdate {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fulfillment_status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tracking_number: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tracking_url: Option<String>,
}

/// What `PUT /orders/{orderId}` answers.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateResult {
    pub update_count: u64,
}

/// Ecwid's error body (optional on errors): `{"errorMessage", "errorCode"}`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    pub error_message: Option<String>,
    pub error_code: Option<String>,
}

/// `GET /api/v3/{storeId}/profile`, the part the connector reads: orders carry
/// no currency or weight unit, the store profile does.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoreProfile {
    pub formats_and_units: Option<FormatsAndUnits>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FormatsAndUnits {
    pub currency: Option<String>,
    pub currency_precision: Option<u32>,
    /// `KILOGRAM`, `GRAM`, `OUNCE`, `POUND`.
    pub weight_unit: Option<String>,
}

/// A webhook event as Ecwid posts it. Only `eventCreated` and `eventId` are
/// covered by the signature.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookEvent {
    pub event_id: String,
    /// A UNIX timestamp (a JSON number).
    pub event_created: Value,
    pub store_id: Option<Value>,
    /// Internal order id for order events ("use `data.orderId` instead").
    pub entity_id: Option<Value>,
    pub event_type: String,
    pub data: Option<WebhookData>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookData {
    pub order_id: Option<String>,
    pub old_payment_status: Option<String>,
    pub new_payment_status: Option<String>,
    pub old_fulfillment_status: Option<String>,
    pub new_fulfillment_status: Option<String>,
}

/// `GET /api/v3/{storeId}/products?sku=` (search products): the page of
/// products whose sku, or one of whose variations' sku, is the one asked for.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProductsPage {
    #[serde(default)]
    pub total: u64,
    #[serde(default)]
    pub items: Vec<ProductItem>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProductItem {
    pub id: u64,
    #[serde(default)]
    pub sku: Option<String>,
    #[serde(default)]
    pub quantity: Option<i64>,
    #[serde(default)]
    pub unlimited: Option<bool>,
    /// Variations (`combinations`), each with its own id and sku.
    #[serde(default)]
    pub combinations: Vec<ProductCombination>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProductCombination {
    pub id: u64,
    #[serde(default)]
    pub sku: Option<String>,
    #[serde(default)]
    pub quantity: Option<i64>,
}

/// `PUT /api/v3/{storeId}/products/{productId}` (or
/// `…/combinations/{combinationId}`): the stock fields only.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StockUpdate {
    pub quantity: i64,
    pub unlimited: bool,
}
