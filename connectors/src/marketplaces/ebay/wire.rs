//! eBay Sell Fulfillment API v1 and OAuth wire types, spelled as eBay spells
//! them (camelCase in the Fulfillment API, snake_case at the OAuth endpoint).
//! Unknown fields are tolerated; what eBay may leave out is an `Option`.
//! Shared by the client (decoding) and the sandbox (encoding).

use serde::{Deserialize, Serialize};

/// `Amount`: a decimal string and an ISO 4217 code (`{"value": "12.50", "currency": "USD"}`).
/// eBay does not pad the scale (`"264.8"`, `"0.0"` occur).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Amount {
    pub value: String,
    pub currency: String,
}

/// `GET /sell/fulfillment/v1/order`: `OrderSearchPagedCollection`. Orders are
/// kept raw so each is mapped (or quarantined) on its own.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderSearchPagedCollection<O = serde_json::Value> {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub href: Option<String>,
    #[serde(default)]
    pub total: u64,
    #[serde(default)]
    pub limit: u64,
    #[serde(default)]
    pub offset: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prev: Option<String>,
    #[serde(default)]
    pub orders: Vec<O>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<ErrorDetailV3>,
}

/// One `Order`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Order {
    pub order_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub legacy_order_id: Option<String>,
    pub creation_date: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_modified_date: Option<String>,
    /// NOT_STARTED, IN_PROGRESS, FULFILLED.
    pub order_fulfillment_status: String,
    /// PAID, PENDING, FAILED, FULLY_REFUNDED, PARTIALLY_REFUNDED.
    pub order_payment_status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seller_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buyer: Option<Buyer>,
    pub pricing_summary: PricingSummary,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancel_status: Option<CancelStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_summary: Option<serde_json::Value>,
    #[serde(default)]
    pub fulfillment_start_instructions: Vec<FulfillmentStartInstruction>,
    #[serde(default)]
    pub fulfillment_hrefs: Vec<String>,
    pub line_items: Vec<LineItem>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sales_record_reference: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_fee_basis_amount: Option<Amount>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_marketplace_fee: Option<Amount>,
    /// Returned (true) only when eBay collects tax on at least one line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ebay_collect_and_remit_tax: Option<bool>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Buyer {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tax_address: Option<TaxAddress>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buyer_registration_address: Option<ExtendedContact>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaxAddress {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_or_province: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country_code: Option<String>,
}

/// `ExtendedContact` (buyer registration address) and the `shipTo` contact.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExtendedContact {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_address: Option<ContactAddress>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_phone: Option<PhoneNumber>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContactAddress {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address_line1: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address_line2: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_or_province: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
    /// ISO 3166-1 alpha-2 (`CountryCodeEnum`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country_code: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PhoneNumber {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<String>,
}

/// `PricingSummary`. Discounts (`priceDiscount`, `deliveryDiscount`) are
/// negative amounts; `adjustment` may be either sign.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PricingSummary {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price_subtotal: Option<Amount>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price_discount: Option<Amount>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery_cost: Option<Amount>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery_discount: Option<Amount>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tax: Option<Amount>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adjustment: Option<Amount>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fee: Option<Amount>,
    pub total: Amount,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CancelStatus {
    /// NONE_REQUESTED, IN_PROGRESS, CANCELED.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancel_state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancelled_date: Option<String>,
    #[serde(default)]
    pub cancel_requests: Vec<serde_json::Value>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FulfillmentStartInstruction {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fulfillment_instructions_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ebay_supported_fulfillment: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shipping_step: Option<ShippingStep>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShippingStep {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ship_to: Option<ExtendedContact>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shipping_carrier_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shipping_service_code: Option<String>,
}

/// One `LineItem`. `lineItemCost` is quantity × unit price before discounts;
/// `discountedLineItemCost` is present only when a promotion applied.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LineItem {
    pub line_item_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub legacy_item_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub legacy_variation_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sku: Option<String>,
    #[serde(default)]
    pub title: String,
    pub line_item_cost: Amount,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discounted_line_item_cost: Option<Amount>,
    pub quantity: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sold_format: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listing_marketplace_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purchase_marketplace_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line_item_fulfillment_status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<Amount>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery_cost: Option<DeliveryCost>,
    #[serde(default)]
    pub applied_promotions: Vec<AppliedPromotion>,
    #[serde(default)]
    pub taxes: Vec<Tax>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ebay_collect_and_remit_taxes: Vec<EbayCollectAndRemitTax>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryCost {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shipping_cost: Option<Amount>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discount_amount: Option<Amount>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppliedPromotion {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discount_amount: Option<Amount>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promotion_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tax {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<Amount>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tax_type: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EbayCollectAndRemitTax {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tax_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<Amount>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collection_method: Option<String>,
}

/// `LineItemReference`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LineItemReference {
    pub line_item_id: String,
    pub quantity: u32,
}

/// `POST /order/{orderId}/shipping_fulfillment` body: `ShippingFulfillmentDetails`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShippingFulfillmentDetails {
    #[serde(default)]
    pub line_items: Vec<LineItemReference>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shipped_date: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shipping_carrier_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracking_number: Option<String>,
}

/// One `ShippingFulfillment`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShippingFulfillment {
    pub fulfillment_id: String,
    #[serde(default)]
    pub line_items: Vec<LineItemReference>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shipment_tracking_number: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shipped_date: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shipping_carrier_code: Option<String>,
}

/// `GET /order/{orderId}/shipping_fulfillment`: `ShippingFulfillmentPagedCollection`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShippingFulfillmentPagedCollection {
    #[serde(default)]
    pub fulfillments: Vec<ShippingFulfillment>,
    #[serde(default)]
    pub total: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<ErrorDetailV3>,
}

/// The error envelope of every eBay REST API: `{"errors": [ErrorDetailV3]}`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ErrorResponse {
    #[serde(default)]
    pub errors: Vec<ErrorDetailV3>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorDetailV3 {
    #[serde(default)]
    pub error_id: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub long_message: Option<String>,
}

impl ErrorResponse {
    pub fn one(error_id: u64, domain: &str, category: &str, message: &str) -> Self {
        Self {
            errors: vec![ErrorDetailV3 {
                error_id,
                domain: Some(domain.into()),
                category: Some(category.into()),
                message: Some(message.into()),
                long_message: None,
            }],
        }
    }

    pub fn with_long_message(mut self, long: &str) -> Self {
        if let Some(e) = self.errors.first_mut() {
            e.long_message = Some(long.into());
        }
        self
    }
}

/// `POST /identity/v1/oauth2/token` (refresh-token grant) success body.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub expires_in: u64,
    #[serde(default)]
    pub token_type: String,
}

/// The OAuth endpoint's error body (`invalid_grant`, `invalid_client`, ...).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct OAuthError {
    pub error: String,
    #[serde(default)]
    pub error_description: String,
}

/// `POST /sell/inventory/v1/bulk_update_price_quantity` (bulkUpdatePriceQuantity):
/// up to 25 skus, each with its new ship-to-home quantity (offers left as they are).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BulkPriceQuantity {
    pub requests: Vec<PriceQuantity>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PriceQuantity {
    pub sku: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ship_to_location_availability: Option<ShipToLocationAvailability>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ShipToLocationAvailability {
    pub quantity: i64,
}

/// Its answer (200, or 207 when some skus failed): one entry per sku.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BulkPriceQuantityResponse {
    #[serde(default)]
    pub responses: Vec<PriceQuantityResponse>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PriceQuantityResponse {
    #[serde(default)]
    pub status_code: u16,
    #[serde(default)]
    pub sku: Option<String>,
    #[serde(default)]
    pub offer_id: Option<String>,
    #[serde(default)]
    pub errors: Vec<InventoryError>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InventoryError {
    #[serde(default)]
    pub error_id: u64,
    #[serde(default)]
    pub message: Option<String>,
}
