//! WooCommerce REST API v3 (`/wp-json/wc/v3`) shapes, spelled as WooCommerce
//! spells them. Money is a string with the store's decimals (`"29.35"`), except a
//! line's `price`, which is a JSON number (`3`, `13.99`); dates come in two
//! flavours, site time (`date_created`) and GMT (`date_created_gmt`), both
//! `YYYY-MM-DDTHH:MM:SS` without an offset. Unknown fields are ignored; what the
//! store may omit or send as `null` is an `Option` or defaults.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// An order (`GET /orders`, `GET /orders/{id}`, the `order.*` webhook body).
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct WcOrder {
    pub id: u64,
    #[serde(default)]
    pub parent_id: Option<u64>,
    #[serde(default)]
    pub number: Option<String>,
    #[serde(default)]
    pub order_key: Option<String>,
    #[serde(default)]
    pub created_via: Option<String>,
    pub status: String,
    pub currency: String,
    #[serde(default)]
    pub date_created_gmt: Option<String>,
    #[serde(default)]
    pub date_modified_gmt: Option<String>,
    #[serde(default)]
    pub date_paid_gmt: Option<String>,
    #[serde(default)]
    pub date_completed_gmt: Option<String>,
    pub discount_total: String,
    #[serde(default)]
    pub discount_tax: Option<String>,
    pub shipping_total: String,
    #[serde(default)]
    pub shipping_tax: Option<String>,
    #[serde(default)]
    pub cart_tax: Option<String>,
    pub total: String,
    pub total_tax: String,
    #[serde(default)]
    pub prices_include_tax: bool,
    #[serde(default)]
    pub customer_id: Option<u64>,
    #[serde(default)]
    pub customer_note: Option<String>,
    #[serde(default)]
    pub billing: Option<WcAddress>,
    #[serde(default)]
    pub shipping: Option<WcAddress>,
    #[serde(default)]
    pub payment_method: Option<String>,
    #[serde(default)]
    pub payment_method_title: Option<String>,
    #[serde(default)]
    pub transaction_id: Option<String>,
    #[serde(default)]
    pub line_items: Vec<WcLineItem>,
    #[serde(default)]
    pub tax_lines: Vec<WcTaxLine>,
    #[serde(default)]
    pub shipping_lines: Vec<WcShippingLine>,
    #[serde(default)]
    pub fee_lines: Vec<WcFeeLine>,
    #[serde(default)]
    pub coupon_lines: Vec<WcCouponLine>,
    #[serde(default)]
    pub refunds: Vec<WcRefund>,
}

/// `billing` and `shipping` (shipping has no `email`; `phone` since WC 5.6).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct WcAddress {
    #[serde(default)]
    pub first_name: Option<String>,
    #[serde(default)]
    pub last_name: Option<String>,
    #[serde(default)]
    pub company: Option<String>,
    #[serde(default)]
    pub address_1: Option<String>,
    #[serde(default)]
    pub address_2: Option<String>,
    #[serde(default)]
    pub city: Option<String>,
    /// ISO code or name of the state, province or district.
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub postcode: Option<String>,
    /// ISO 3166-1 alpha-2.
    #[serde(default)]
    pub country: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct WcLineItem {
    pub id: u64,
    pub name: String,
    #[serde(default)]
    pub product_id: Option<u64>,
    #[serde(default)]
    pub variation_id: Option<u64>,
    pub quantity: i64,
    #[serde(default)]
    pub tax_class: Option<String>,
    /// Before discounts, tax excluded.
    pub subtotal: String,
    #[serde(default)]
    pub subtotal_tax: Option<String>,
    /// After discounts, tax excluded.
    pub total: String,
    pub total_tax: String,
    #[serde(default)]
    pub taxes: Vec<Value>,
    #[serde(default)]
    pub meta_data: Vec<WcMeta>,
    #[serde(default)]
    pub sku: Option<String>,
    /// A JSON number in practice (`3`, `13.99`) though the reference table says
    /// string: kept raw and parsed from its text, never through f64 arithmetic.
    #[serde(default)]
    pub price: Option<Value>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct WcMeta {
    #[serde(default)]
    pub id: Option<u64>,
    pub key: String,
    #[serde(default)]
    pub value: Value,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct WcTaxLine {
    pub id: u64,
    #[serde(default)]
    pub rate_code: Option<String>,
    #[serde(default)]
    pub rate_id: Option<Value>,
    #[serde(default)]
    pub label: Option<String>,
    #[serde(default)]
    pub compound: bool,
    pub tax_total: String,
    pub shipping_tax_total: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct WcShippingLine {
    pub id: u64,
    pub method_title: String,
    #[serde(default)]
    pub method_id: Option<String>,
    pub total: String,
    pub total_tax: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct WcFeeLine {
    pub id: u64,
    pub name: String,
    #[serde(default)]
    pub tax_status: Option<String>,
    /// Negative for a discount given as a fee.
    pub total: String,
    pub total_tax: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct WcCouponLine {
    pub id: u64,
    pub code: String,
    pub discount: String,
    #[serde(default)]
    pub discount_tax: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct WcRefund {
    pub id: u64,
    #[serde(default)]
    pub reason: Option<String>,
    /// Negative (`"-10.00"`).
    pub total: String,
}

/// An order note (`/orders/{id}/notes`).
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct WcOrderNote {
    pub id: u64,
    #[serde(default)]
    pub author: Option<String>,
    #[serde(default)]
    pub date_created_gmt: Option<String>,
    pub note: String,
    #[serde(default)]
    pub customer_note: bool,
}

/// `POST /orders/{id}/notes`.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct WcNoteInput {
    pub note: String,
    #[serde(default)]
    pub customer_note: bool,
}

/// `PUT /orders/{id}`: only what orderhub changes.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct WcOrderUpdate {
    pub status: String,
}

/// One tracking of the Shipment Tracking extension
/// (`/wp-json/wc-shipment-tracking/v3/orders/{id}/shipment-trackings`).
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct WcShipmentTracking {
    pub tracking_id: String,
    #[serde(default)]
    pub tracking_provider: Option<String>,
    #[serde(default)]
    pub tracking_link: Option<String>,
    pub tracking_number: String,
    /// `YYYY-MM-DD`.
    #[serde(default)]
    pub date_shipped: Option<String>,
}

/// What the extension takes: a predefined `tracking_provider` (its link is then
/// the provider's own), or `custom_tracking_provider` + `custom_tracking_link`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct WcShipmentTrackingInput {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracking_provider: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_tracking_provider: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_tracking_link: Option<String>,
    pub tracking_number: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_shipped: Option<String>,
}

/// Every WordPress / WooCommerce REST error: `{"code","message","data":{"status"}}`.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct WpError {
    pub code: String,
    pub message: String,
    #[serde(default)]
    pub data: Option<Value>,
}

/// One item of `GET /wp-json/wc/v3/products?sku=` (the fields a stock push
/// needs). A variation found by its sku has `type: "variation"` and its
/// product's id in `parent_id`.
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize)]
pub struct WcProductRef {
    pub id: u64,
    #[serde(default)]
    pub sku: String,
    #[serde(default, rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub parent_id: u64,
    #[serde(default)]
    pub manage_stock: serde_json::Value,
    #[serde(default)]
    pub stock_quantity: Option<i64>,
}

/// `PUT /wp-json/wc/v3/products/{id}` (or `…/variations/{id}`): stock only.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
pub struct WcStockUpdate {
    pub manage_stock: bool,
    pub stock_quantity: i64,
}
