//! Etsy Open API v3 request and response types, spelled as Etsy spells them.
//! Unknown fields are tolerated; what Etsy may omit or send as null is `Option`.

use serde::{Deserialize, Serialize};

/// Etsy's `Money`: an integer `amount` in units of `1/divisor`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Money {
    pub amount: i64,
    pub divisor: i64,
    pub currency_code: String,
}

/// `GET /v3/application/shops/{shop_id}/receipts`: `ShopReceipts`. Items are
/// kept raw so each receipt is mapped (or quarantined) on its own.
#[derive(Debug, Clone, Deserialize)]
pub struct ReceiptsPage {
    pub count: u64,
    #[serde(default)]
    pub results: Vec<serde_json::Value>,
}

/// `ShopReceipt`.
#[derive(Debug, Clone, Deserialize)]
pub struct ShopReceipt {
    pub receipt_id: u64,
    #[serde(default)]
    pub buyer_user_id: Option<u64>,
    #[serde(default)]
    pub buyer_email: Option<String>,
    /// The recipient's name in the shipping address.
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub first_line: Option<String>,
    #[serde(default)]
    pub second_line: Option<String>,
    #[serde(default)]
    pub city: Option<String>,
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub zip: Option<String>,
    #[serde(default)]
    pub country_iso: Option<String>,
    /// `paid`, `completed`, `open`, `payment processing`, `canceled`, ...
    pub status: String,
    #[serde(default)]
    pub is_paid: bool,
    #[serde(default)]
    pub is_shipped: bool,
    pub create_timestamp: i64,
    #[serde(default)]
    pub update_timestamp: Option<i64>,
    #[serde(default)]
    pub updated_timestamp: Option<i64>,
    pub grandtotal: Money,
    #[serde(default)]
    pub subtotal: Option<Money>,
    pub total_price: Money,
    pub total_shipping_cost: Money,
    pub total_tax_cost: Money,
    #[serde(default)]
    pub total_vat_cost: Option<Money>,
    pub discount_amt: Money,
    #[serde(default)]
    pub gift_wrap_price: Option<Money>,
    #[serde(default)]
    pub shipments: Vec<ShopReceiptShipment>,
    #[serde(default)]
    pub transactions: Vec<ShopReceiptTransaction>,
}

/// `ShopReceiptShipment`: one shipment event of a receipt.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShopReceiptShipment {
    #[serde(default)]
    pub receipt_shipping_id: Option<u64>,
    #[serde(default)]
    pub shipment_notification_timestamp: Option<i64>,
    #[serde(default)]
    pub carrier_name: Option<String>,
    #[serde(default)]
    pub tracking_code: Option<String>,
}

/// `ShopReceiptTransaction`: one line of a receipt.
#[derive(Debug, Clone, Deserialize)]
pub struct ShopReceiptTransaction {
    pub transaction_id: u64,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub sku: Option<String>,
    pub quantity: u32,
    /// Unit price.
    pub price: Money,
    #[serde(default)]
    pub shipping_cost: Option<Money>,
    #[serde(default)]
    pub shipping_method: Option<String>,
}

/// Body of `POST .../receipts/{receipt_id}/tracking` (form-encoded).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CreateReceiptShipment {
    pub tracking_code: String,
    pub carrier_name: String,
    #[serde(default)]
    pub send_bcc: Option<bool>,
}

/// `POST /v3/public/oauth/token` answer.
#[derive(Debug, Clone, Deserialize)]
pub struct TokenResponse {
    pub access_token: String,
    #[serde(default)]
    pub token_type: Option<String>,
    #[serde(default)]
    pub expires_in: Option<u64>,
    #[serde(default)]
    pub refresh_token: Option<String>,
}

/// Etsy's error body: `{"error": "..."}` (OAuth errors add `error_description`).
#[derive(Debug, Clone, Deserialize)]
pub struct ErrorBody {
    pub error: String,
    #[serde(default)]
    pub error_description: Option<String>,
}
