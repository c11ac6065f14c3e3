//! TikTok Shop Partner API 202309 shapes, spelled as the vendor spells them.
//! Money is a decimal string; times are UNIX seconds. Unknown fields are ignored.

use serde::{Deserialize, Serialize};

/// Every response: `{"code":0,"message":"Success","request_id":"…","data":{…}}`.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Envelope<T> {
    pub code: i64,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub request_id: Option<String>,
    pub data: Option<T>,
}

/// `data` of `POST /order/202309/orders/search`; orders stay raw so each maps on its own.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct SearchOrdersData {
    #[serde(default)]
    pub orders: Vec<serde_json::Value>,
    #[serde(default)]
    pub next_page_token: Option<String>,
    #[serde(default)]
    pub total_count: Option<u64>,
}

/// `data` of `GET /order/202309/orders?ids=…`.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct OrderDetailData {
    #[serde(default)]
    pub orders: Vec<TtsOrder>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct TtsOrder {
    pub id: String,
    pub status: String,
    pub create_time: i64,
    pub update_time: i64,
    pub payment: Payment,
    #[serde(default)]
    pub recipient_address: Option<RecipientAddress>,
    #[serde(default)]
    pub line_items: Vec<LineItem>,
    #[serde(default)]
    pub packages: Vec<PackageRef>,
    #[serde(default)]
    pub buyer_email: Option<String>,
    #[serde(default)]
    pub user_id: Option<String>,
    #[serde(default)]
    pub delivery_option_id: Option<String>,
    #[serde(default)]
    pub delivery_option_name: Option<String>,
    #[serde(default)]
    pub shipping_provider: Option<String>,
    #[serde(default)]
    pub shipping_provider_id: Option<String>,
    #[serde(default)]
    pub tracking_number: Option<String>,
    #[serde(default)]
    pub paid_time: Option<i64>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Payment {
    pub currency: String,
    #[serde(default)]
    pub sub_total: Option<String>,
    #[serde(default)]
    pub shipping_fee: Option<String>,
    #[serde(default)]
    pub seller_discount: Option<String>,
    #[serde(default)]
    pub platform_discount: Option<String>,
    #[serde(default)]
    pub tax: Option<String>,
    pub total_amount: String,
    #[serde(default)]
    pub original_total_product_price: Option<String>,
    #[serde(default)]
    pub original_shipping_fee: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct RecipientAddress {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub first_name: Option<String>,
    #[serde(default)]
    pub last_name: Option<String>,
    #[serde(default)]
    pub phone_number: Option<String>,
    #[serde(default)]
    pub full_address: Option<String>,
    #[serde(default)]
    pub address_line1: Option<String>,
    #[serde(default)]
    pub address_line2: Option<String>,
    #[serde(default)]
    pub postal_code: Option<String>,
    #[serde(default)]
    pub region_code: Option<String>,
    #[serde(default)]
    pub district_info: Vec<DistrictInfo>,
}

/// One level of the address (`Country`, `State`, `County`, `City`, …).
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct DistrictInfo {
    pub address_level_name: String,
    pub address_name: String,
    #[serde(default)]
    pub address_level: Option<String>,
}

/// One unit sold: TikTok repeats the item once per unit.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct LineItem {
    pub id: String,
    #[serde(default)]
    pub sku_id: Option<String>,
    #[serde(default)]
    pub seller_sku: Option<String>,
    #[serde(default)]
    pub product_name: Option<String>,
    #[serde(default)]
    pub sku_name: Option<String>,
    pub sale_price: String,
    pub original_price: String,
    #[serde(default)]
    pub seller_discount: Option<String>,
    #[serde(default)]
    pub platform_discount: Option<String>,
    #[serde(default)]
    pub currency: Option<String>,
    #[serde(default)]
    pub package_id: Option<String>,
    #[serde(default)]
    pub tracking_number: Option<String>,
    #[serde(default)]
    pub shipping_provider_id: Option<String>,
    #[serde(default)]
    pub shipping_provider_name: Option<String>,
    #[serde(default)]
    pub display_status: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct PackageRef {
    pub id: String,
}

/// `POST /fulfillment/202309/packages/{package_id}/ship`.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct ShipPackageRequest {
    pub handover_method: String,
    pub self_shipment: SelfShipment,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct SelfShipment {
    pub tracking_number: String,
    pub shipping_provider_id: String,
}

/// `data` of `GET /logistics/202309/delivery_options/{id}/shipping_providers`.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct ShippingProvidersData {
    #[serde(default)]
    pub shipping_providers: Vec<ShippingProvider>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct ShippingProvider {
    pub id: String,
    pub name: String,
}

/// An order webhook: `type` 1 is an order status change and carries only the id.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Webhook {
    #[serde(rename = "type")]
    pub kind: i64,
    #[serde(default)]
    pub tts_notification_id: Option<String>,
    #[serde(default)]
    pub shop_id: Option<String>,
    #[serde(default)]
    pub timestamp: Option<i64>,
    #[serde(default)]
    pub data: serde_json::Value,
}

/// Body of `POST /product/202309/products/search` (query `page_size`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
pub struct SearchProductsRequest {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub seller_skus: Vec<String>,
}

/// `data` of products search.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct SearchProductsData {
    #[serde(default)]
    pub products: Vec<ProductSummary>,
    #[serde(default)]
    pub total_count: Option<u64>,
    #[serde(default)]
    pub next_page_token: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct ProductSummary {
    pub id: String,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub skus: Vec<ProductSku>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct ProductSku {
    pub id: String,
    #[serde(default)]
    pub seller_sku: Option<String>,
    #[serde(default)]
    pub inventory: Vec<SkuInventory>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
pub struct SkuInventory {
    pub warehouse_id: String,
    pub quantity: i64,
}

/// Body of `POST /product/202309/products/{product_id}/inventory/update`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
pub struct UpdateInventoryRequest {
    pub skus: Vec<UpdateInventorySku>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
pub struct UpdateInventorySku {
    pub id: String,
    pub inventory: Vec<SkuInventory>,
}
