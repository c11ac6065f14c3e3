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

/// `GET /v3/application/shops/{shop_id}/listings` (getListingsByShop): the
/// fields a stock push needs from each `ShopListing`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct ListingsPage {
    #[serde(default)]
    pub count: u64,
    #[serde(default)]
    pub results: Vec<ShopListingRef>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct ShopListingRef {
    pub listing_id: u64,
    #[serde(default)]
    pub state: Option<String>,
    /// Every sku of the listing's products.
    #[serde(default)]
    pub skus: Vec<String>,
}

/// `ListingInventory`, as `GET /v3/application/listings/{listing_id}/inventory`
/// returns it.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct ListingInventory {
    #[serde(default)]
    pub products: Vec<ListingProduct>,
    #[serde(default)]
    pub price_on_property: Vec<u64>,
    #[serde(default)]
    pub quantity_on_property: Vec<u64>,
    #[serde(default)]
    pub sku_on_property: Vec<u64>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct ListingProduct {
    #[serde(default)]
    pub product_id: Option<u64>,
    #[serde(default)]
    pub sku: String,
    #[serde(default)]
    pub is_deleted: bool,
    #[serde(default)]
    pub offerings: Vec<ListingOffering>,
    #[serde(default)]
    pub property_values: Vec<PropertyValue>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct ListingOffering {
    #[serde(default)]
    pub offering_id: Option<u64>,
    pub quantity: i64,
    #[serde(default = "yes")]
    pub is_enabled: bool,
    #[serde(default)]
    pub is_deleted: bool,
    pub price: Money,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
pub struct PropertyValue {
    pub property_id: u64,
    #[serde(default)]
    pub property_name: Option<String>,
    #[serde(default)]
    pub scale_id: Option<u64>,
    #[serde(default)]
    pub value_ids: Vec<u64>,
    #[serde(default)]
    pub values: Vec<String>,
}

/// The body of `PUT /v3/application/listings/{listing_id}/inventory`
/// (updateListingInventory): every product again, offerings with `price` as
/// a decimal number (not `Money`), `quantity` and `is_enabled`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
pub struct UpdateListingInventory {
    pub products: Vec<UpdateProduct>,
    pub price_on_property: Vec<u64>,
    pub quantity_on_property: Vec<u64>,
    pub sku_on_property: Vec<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
pub struct UpdateProduct {
    pub sku: String,
    pub property_values: Vec<PropertyValue>,
    pub offerings: Vec<UpdateOffering>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
pub struct UpdateOffering {
    pub price: f64,
    pub quantity: i64,
    pub is_enabled: bool,
}

impl Default for Money {
    fn default() -> Self {
        Money {
            amount: 0,
            divisor: 100,
            currency_code: "USD".into(),
        }
    }
}

/// The update that sets `sku`'s quantity and keeps everything else as read;
/// `None` when no live product of the inventory carries `sku`.
pub fn inventory_with_quantity(
    inv: &ListingInventory,
    sku: &str,
    quantity: i64,
) -> Option<UpdateListingInventory> {
    let live = |p: &&ListingProduct| !p.is_deleted;
    if !inv.products.iter().filter(live).any(|p| p.sku == sku) {
        return None;
    }
    let products = inv
        .products
        .iter()
        .filter(live)
        .map(|p| UpdateProduct {
            sku: p.sku.clone(),
            property_values: p.property_values.clone(),
            offerings: p
                .offerings
                .iter()
                .filter(|o| !o.is_deleted)
                .map(|o| UpdateOffering {
                    price: o.price.amount as f64 / o.price.divisor.max(1) as f64,
                    quantity: if p.sku == sku { quantity } else { o.quantity },
                    is_enabled: o.is_enabled,
                })
                .collect(),
        })
        .collect();
    Some(UpdateListingInventory {
        products,
        price_on_property: inv.price_on_property.clone(),
        quantity_on_property: inv.quantity_on_property.clone(),
        sku_on_property: inv.sku_on_property.clone(),
    })
}
