//! EasyPost's wire formats (API v2), spelled as EasyPost spells them.
//!
//! The same types are read by the connector and written by the sandbox, so the
//! two cannot drift apart. Reading is lenient (every field the connector does
//! not need has a default, unknown fields are ignored); money stays a string
//! here and is parsed to a decimal by the mapping, which names the field when
//! it is wrong.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

/// `null` and a missing field both mean the default (an empty list).
fn null_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// A money or number field EasyPost documents as a string (`"10.07"`); a bare
/// JSON number is accepted too and kept as its text, never as a float.
fn opt_text<'de, D>(d: D) -> Result<Option<String>, D::Error>
where
    D: Deserializer<'de>,
{
    Ok(match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(other) => Some(other.to_string()),
    })
}

/// A whole-number field that may come as `null`, a number or a numeric string.
fn opt_u32<'de, D>(d: D) -> Result<Option<u32>, D::Error>
where
    D: Deserializer<'de>,
{
    Ok(match Option::<Value>::deserialize(d)? {
        Some(Value::Number(n)) => n.as_u64().and_then(|v| u32::try_from(v).ok()),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    })
}

// ------------------------------------------------------------------- errors

/// Every 4xx/5xx body: `{"error": {"code", "message", "errors": []}}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: ApiError,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ApiError {
    #[serde(default)]
    pub code: String,
    /// A string as documented; EasyPost's own clients note it "can sometimes
    /// incorrectly come back as a list or object", so it is kept raw.
    #[serde(default)]
    pub message: Value,
    /// `FieldError` objects or plain strings.
    #[serde(default, deserialize_with = "null_default")]
    pub errors: Vec<Value>,
}

impl ApiError {
    /// The message as one line of text, whatever shape it came in.
    pub fn message_text(&self) -> String {
        fn walk(v: &Value, out: &mut Vec<String>) {
            match v {
                Value::Null => {}
                Value::String(s) => out.push(s.clone()),
                Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
                Value::Object(o) => o.values().for_each(|x| walk(x, out)),
                other => out.push(other.to_string()),
            }
        }
        let mut parts = Vec::new();
        walk(&self.message, &mut parts);
        parts.join(", ")
    }
}

/// One entry of `errors` when it is an object.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
    #[serde(default)]
    pub suggestion: Option<String>,
}

// ----------------------------------------------------------------- requests

/// `POST /v2/shipments` body.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CreateShipmentRequest {
    pub shipment: ShipmentInput,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ShipmentInput {
    pub to_address: AddressInput,
    pub from_address: AddressInput,
    pub parcel: ParcelInput,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<ShipmentOptionsInput>,
    /// `true` for a return label: EasyPost takes the outbound shipment's
    /// addresses and swaps them for the label (customer → warehouse).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_return: Option<bool>,
}

/// `shipment.options` as sent; only what orderhub sets.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShipmentOptionsInput {
    /// `PNG` (EasyPost's default), `PDF`, `ZPL` or `EPL2`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_format: Option<String>,
}

/// An address as sent to create a shipment (only what is known is sent).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddressInput {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub street1: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub street2: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
}

/// Ounces and inches, sent as decimal strings exactly as EasyPost's own curl
/// example does (`"weight": "65.9"`): no float rounding on the way out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParcelInput {
    pub length: String,
    pub width: String,
    pub height: String,
    pub weight: String,
}

/// `POST /v2/shipments/{id}/buy` body.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BuyRequest {
    pub rate: RateRef,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RateRef {
    pub id: String,
}

/// `POST /v2/webhooks` body.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CreateWebhookRequest {
    pub webhook: WebhookInput,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WebhookInput {
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_secret: Option<String>,
}

// ------------------------------------------------------------------ objects

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Address {
    #[serde(default)]
    pub id: String,
    #[serde(default = "address_object")]
    pub object: String,
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(default)]
    pub updated_at: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub company: Option<String>,
    #[serde(default)]
    pub street1: Option<String>,
    #[serde(default)]
    pub street2: Option<String>,
    #[serde(default)]
    pub city: Option<String>,
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub zip: Option<String>,
    #[serde(default)]
    pub country: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub mode: Option<String>,
    #[serde(default)]
    pub residential: Option<bool>,
}

fn address_object() -> String {
    "Address".into()
}

/// A parcel as EasyPost returns it: numbers, ounces and inches.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Parcel {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub object: Option<String>,
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(default)]
    pub updated_at: Option<String>,
    #[serde(default)]
    pub length: Option<Value>,
    #[serde(default)]
    pub width: Option<Value>,
    #[serde(default)]
    pub height: Option<Value>,
    #[serde(default)]
    pub predefined_package: Option<String>,
    #[serde(default)]
    pub weight: Option<Value>,
    #[serde(default)]
    pub mode: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Rate {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub object: Option<String>,
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(default)]
    pub updated_at: Option<String>,
    #[serde(default)]
    pub mode: Option<String>,
    #[serde(default)]
    pub service: String,
    #[serde(default)]
    pub carrier: String,
    /// The price, a decimal string (`"10.07"`).
    #[serde(default, deserialize_with = "opt_text")]
    pub rate: Option<String>,
    #[serde(default)]
    pub currency: Option<String>,
    #[serde(default, deserialize_with = "opt_text")]
    pub retail_rate: Option<String>,
    #[serde(default)]
    pub retail_currency: Option<String>,
    #[serde(default, deserialize_with = "opt_text")]
    pub list_rate: Option<String>,
    #[serde(default)]
    pub list_currency: Option<String>,
    #[serde(default)]
    pub billing_type: Option<String>,
    #[serde(default, deserialize_with = "opt_u32")]
    pub delivery_days: Option<u32>,
    #[serde(default)]
    pub delivery_date: Option<String>,
    #[serde(default)]
    pub delivery_date_guaranteed: Option<bool>,
    #[serde(default, deserialize_with = "opt_u32")]
    pub est_delivery_days: Option<u32>,
    #[serde(default)]
    pub shipment_id: Option<String>,
    #[serde(default)]
    pub carrier_account_id: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PostageLabel {
    #[serde(default)]
    pub object: Option<String>,
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(default)]
    pub updated_at: Option<String>,
    #[serde(default)]
    pub date_advance: Option<i64>,
    #[serde(default)]
    pub integrated_form: Option<String>,
    #[serde(default)]
    pub label_date: Option<String>,
    #[serde(default)]
    pub label_resolution: Option<i64>,
    #[serde(default)]
    pub label_size: Option<String>,
    #[serde(default)]
    pub label_type: Option<String>,
    #[serde(default)]
    pub label_file_type: Option<String>,
    #[serde(default)]
    pub label_url: Option<String>,
    #[serde(default)]
    pub label_pdf_url: Option<String>,
    #[serde(default)]
    pub label_zpl_url: Option<String>,
    #[serde(default)]
    pub label_epl2_url: Option<String>,
    #[serde(default)]
    pub label_file: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TrackingLocation {
    #[serde(default)]
    pub object: Option<String>,
    #[serde(default)]
    pub city: Option<String>,
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub country: Option<String>,
    #[serde(default)]
    pub zip: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TrackingDetail {
    #[serde(default)]
    pub object: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub status_detail: Option<String>,
    /// ISO 8601; checked by the mapping, which names the detail when it is bad.
    #[serde(default)]
    pub datetime: Option<String>,
    #[serde(default)]
    pub source: Option<String>,
    #[serde(default)]
    pub carrier_code: Option<String>,
    #[serde(default)]
    pub tracking_location: Option<TrackingLocation>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Tracker {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub object: Option<String>,
    #[serde(default)]
    pub mode: Option<String>,
    #[serde(default)]
    pub tracking_code: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub status_detail: Option<String>,
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(default)]
    pub updated_at: Option<String>,
    #[serde(default)]
    pub signed_by: Option<String>,
    #[serde(default)]
    pub weight: Option<Value>,
    #[serde(default)]
    pub est_delivery_date: Option<String>,
    #[serde(default)]
    pub shipment_id: Option<String>,
    #[serde(default)]
    pub carrier: Option<String>,
    #[serde(default, deserialize_with = "null_default")]
    pub tracking_details: Vec<TrackingDetail>,
    #[serde(default, deserialize_with = "null_default")]
    pub fees: Vec<Value>,
    #[serde(default)]
    pub carrier_detail: Option<Value>,
    #[serde(default)]
    pub public_url: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Fee {
    #[serde(default)]
    pub object: Option<String>,
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    #[serde(default, deserialize_with = "opt_text")]
    pub amount: Option<String>,
    #[serde(default)]
    pub charged: Option<bool>,
    #[serde(default)]
    pub refunded: Option<bool>,
}

/// The `Shipment` object (`shp_…`), with the fields the connector and the
/// sandbox use; others (customs, forms, ...) are ignored when read.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Shipment {
    pub id: String,
    #[serde(default)]
    pub object: Option<String>,
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(default)]
    pub updated_at: Option<String>,
    #[serde(default)]
    pub is_return: Option<bool>,
    #[serde(default, deserialize_with = "null_default")]
    pub messages: Vec<Value>,
    #[serde(default)]
    pub mode: Option<String>,
    #[serde(default)]
    pub options: Option<Value>,
    #[serde(default)]
    pub reference: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub tracking_code: Option<String>,
    #[serde(default)]
    pub from_address: Option<Address>,
    #[serde(default)]
    pub to_address: Option<Address>,
    #[serde(default)]
    pub return_address: Option<Address>,
    #[serde(default)]
    pub buyer_address: Option<Address>,
    #[serde(default)]
    pub parcel: Option<Parcel>,
    #[serde(default)]
    pub postage_label: Option<PostageLabel>,
    #[serde(default, deserialize_with = "null_default")]
    pub rates: Vec<Rate>,
    #[serde(default)]
    pub selected_rate: Option<Rate>,
    #[serde(default)]
    pub tracker: Option<Tracker>,
    #[serde(default)]
    pub refund_status: Option<String>,
    #[serde(default, deserialize_with = "null_default")]
    pub forms: Vec<Value>,
    #[serde(default, deserialize_with = "null_default")]
    pub fees: Vec<Fee>,
}

/// A webhook `Event` (`evt_…`); `result` is the object that changed (a
/// `Tracker` for `tracker.created` / `tracker.updated`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Event {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub object: Option<String>,
    #[serde(default)]
    pub mode: Option<String>,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub previous_attributes: Option<Value>,
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(default)]
    pub updated_at: Option<String>,
    #[serde(default, deserialize_with = "null_default")]
    pub pending_urls: Vec<String>,
    #[serde(default, deserialize_with = "null_default")]
    pub completed_urls: Vec<String>,
    #[serde(default)]
    pub result: Option<Value>,
}

/// A registered webhook (`hook_…`); the secret is never returned.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Webhook {
    pub id: String,
    #[serde(default)]
    pub object: Option<String>,
    #[serde(default)]
    pub mode: Option<String>,
    pub url: String,
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(default)]
    pub disabled_at: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct WebhookList {
    #[serde(default, deserialize_with = "null_default")]
    pub webhooks: Vec<Webhook>,
}
