//! Sendcloud's wire formats (Shipping API v2), spelled as Sendcloud spells them.
//!
//! The same types are read by the connector and written by the sandbox, so the
//! two cannot drift apart. Reading is lenient (fields the connector does not
//! need have defaults, unknown fields are ignored). Weights and sizes are
//! decimal strings (`"2.000"` kg, `"52.3"` cm); shipping-method prices are JSON
//! numbers (`9.75`), kept here as their text and parsed to a decimal by the
//! mapping, never through a float.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

/// `null` and a missing field both mean the default.
fn null_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// A number or numeric string kept as its text (`9.75`, `"2.000"`).
pub fn opt_text<'de, D>(d: D) -> Result<Option<String>, D::Error>
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

/// An id Sendcloud sends as a number (`3172`) but some examples spell as a
/// string; kept as text.
fn id_text<'de, D>(d: D) -> Result<String, D::Error>
where
    D: Deserializer<'de>,
{
    Ok(opt_text(d)?.unwrap_or_default())
}

/// A whole number that may come as a number or a numeric string.
fn opt_i64<'de, D>(d: D) -> Result<Option<i64>, D::Error>
where
    D: Deserializer<'de>,
{
    Ok(match Option::<Value>::deserialize(d)? {
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    })
}

// ------------------------------------------------------------------- errors

/// Every error body: `{"error": {"code": 404, "request": "api/v2/parcels/1",
/// "message": "Not found."}}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: ApiError,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ApiError {
    /// The HTTP status, repeated.
    #[serde(default, deserialize_with = "opt_i64")]
    pub code: Option<i64>,
    /// The request path, without the leading slash (`api/v2/parcels`).
    #[serde(default)]
    pub request: Option<String>,
    #[serde(default, deserialize_with = "opt_text")]
    pub message: Option<String>,
}

// ----------------------------------------------------------------- requests

/// The method chosen for a parcel: `{"id": 8}` (the shipping method id).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShipmentRef {
    #[serde(deserialize_with = "opt_i64")]
    pub id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// `POST /api/v2/parcels` and `PUT /api/v2/parcels` body: `{"parcel": {...}}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ParcelRequest {
    pub parcel: ParcelInput,
}

/// A parcel as sent (recipient address, weight, our references). Only what
/// is known is sent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParcelInput {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address_2: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
    /// ISO 3166-1 alpha-2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// State or province code, required for US, CA, IT and AU.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country_state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub telephone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_label: Option<bool>,
    /// Kilograms as a decimal string (`"2.000"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<String>,
    /// Centimetres as decimal strings; all three or none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub length: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_number: Option<String>,
    /// Unique across parcels: Sendcloud's idempotence key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_reference: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantity: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shipment: Option<ShipmentRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender_address: Option<i64>,
}

// ---------------------------------------------------------------- responses

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    #[serde(default, deserialize_with = "opt_i64")]
    pub id: Option<i64>,
    #[serde(default)]
    pub message: Option<String>,
}

/// `label`: the A4 sheet URLs (one per start position) and the label-printer URL.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Label {
    #[serde(default, deserialize_with = "null_default")]
    pub normal_printer: Vec<String>,
    #[serde(default)]
    pub label_printer: Option<String>,
}

/// One of a parcel's `documents`: `{"type": "label", "size": "a6",
/// "link": ".../api/v2/parcels/{id}/documents/label"}`. The link is the
/// parcel-documents endpoint, which serves the file in the format the
/// request's `Accept` names (PDF, ZPL or PNG).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Document {
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub size: Option<String>,
    #[serde(default)]
    pub link: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Country {
    #[serde(default)]
    pub iso_2: Option<String>,
    #[serde(default)]
    pub iso_3: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CarrierRef {
    #[serde(default)]
    pub code: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddressDivided {
    #[serde(default, deserialize_with = "opt_text")]
    pub street: Option<String>,
    #[serde(default, deserialize_with = "opt_text")]
    pub house_number: Option<String>,
}

/// A parcel as Sendcloud returns it (`ParcelResponseFull`, the fields used).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Parcel {
    #[serde(deserialize_with = "id_text")]
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub company_name: Option<String>,
    #[serde(default)]
    pub address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address_2: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address_divided: Option<AddressDivided>,
    #[serde(default)]
    pub city: Option<String>,
    #[serde(default)]
    pub postal_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub telephone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// `dd-mm-yyyy HH:MM:SS` in the documented examples.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_created: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_updated: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_announced: Option<String>,
    #[serde(default)]
    pub tracking_number: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracking_url: Option<String>,
    #[serde(default, deserialize_with = "opt_text")]
    pub weight: Option<String>,
    #[serde(
        default,
        deserialize_with = "opt_text",
        skip_serializing_if = "Option::is_none"
    )]
    pub length: Option<String>,
    #[serde(
        default,
        deserialize_with = "opt_text",
        skip_serializing_if = "Option::is_none"
    )]
    pub width: Option<String>,
    #[serde(
        default,
        deserialize_with = "opt_text",
        skip_serializing_if = "Option::is_none"
    )]
    pub height: Option<String>,
    #[serde(default)]
    pub label: Option<Label>,
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub documents: Vec<Document>,
    #[serde(default)]
    pub status: Option<Status>,
    #[serde(default)]
    pub country: Option<Country>,
    #[serde(default)]
    pub shipment: Option<ShipmentRef>,
    #[serde(default)]
    pub carrier: Option<CarrierRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_number: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_reference: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub colli_uuid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collo_nr: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collo_count: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shipment_uuid: Option<String>,
}

/// `{"parcel": {...}}` (create, retrieve).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ParcelEnvelope {
    pub parcel: Parcel,
}

/// The update answer: the documented example holds `parcel` as a list of
/// one; a single object is read too.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    Many(Vec<Parcel>),
    One(Box<Parcel>),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UpdateEnvelope {
    pub parcel: OneOrMany,
}

impl UpdateEnvelope {
    pub fn into_first(self) -> Option<Parcel> {
        match self.parcel {
            OneOrMany::Many(v) => v.into_iter().next(),
            OneOrMany::One(p) => Some(*p),
        }
    }
}

/// `GET /api/v2/parcels` answer.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ParcelList {
    #[serde(default)]
    pub next: Option<Value>,
    #[serde(default)]
    pub previous: Option<Value>,
    #[serde(default, deserialize_with = "null_default")]
    pub parcels: Vec<Parcel>,
}

/// One destination of a shipping method, with its price and lead time.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MethodCountry {
    #[serde(default, deserialize_with = "opt_i64")]
    pub id: Option<i64>,
    #[serde(default)]
    pub name: Option<String>,
    /// A JSON number (`9.75`), kept as text.
    #[serde(default, deserialize_with = "opt_text")]
    pub price: Option<String>,
    #[serde(default)]
    pub iso_2: Option<String>,
    #[serde(default)]
    pub iso_3: Option<String>,
    #[serde(default, deserialize_with = "opt_i64")]
    pub lead_time_hours: Option<i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShippingMethod {
    #[serde(deserialize_with = "id_text")]
    pub id: String,
    #[serde(default)]
    pub name: String,
    /// The carrier code (`postnl`, `dhl`, `dpd`).
    #[serde(default)]
    pub carrier: String,
    /// Kilograms as decimal strings; the method takes parcels in
    /// `min_weight <= w < max_weight`.
    #[serde(default, deserialize_with = "opt_text")]
    pub min_weight: Option<String>,
    #[serde(default, deserialize_with = "opt_text")]
    pub max_weight: Option<String>,
    #[serde(default)]
    pub service_point_input: Option<String>,
    #[serde(default, deserialize_with = "opt_text")]
    pub price: Option<String>,
    #[serde(default, deserialize_with = "null_default")]
    pub countries: Vec<MethodCountry>,
}

/// `GET /api/v2/shipping_methods` answer.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ShippingMethodList {
    #[serde(default)]
    pub next: Option<Value>,
    #[serde(default)]
    pub previous: Option<Value>,
    #[serde(default, deserialize_with = "null_default")]
    pub shipping_methods: Vec<ShippingMethod>,
}

/// `GET /api/v2/shipping_methods/{id}` answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ShippingMethodEnvelope {
    pub shipping_method: ShippingMethod,
}

/// `POST /api/v2/parcels/{id}/cancel` answer: `{"status": "cancelled",
/// "message": "Parcel has been cancelled"}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CancelAnswer {
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub message: String,
}

/// A webhook body: `{"action": "parcel_status_changed", "timestamp": …,
/// "parcel": {...}}`. Other actions carry other objects.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WebhookBody {
    #[serde(default)]
    pub action: String,
    /// Milliseconds since the epoch (seconds are accepted too).
    #[serde(default, deserialize_with = "opt_i64")]
    pub timestamp: Option<i64>,
    #[serde(
        default,
        deserialize_with = "opt_i64",
        skip_serializing_if = "Option::is_none"
    )]
    pub carrier_status_change_timestamp: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parcel: Option<Value>,
}
