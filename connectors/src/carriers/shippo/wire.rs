//! Shippo's wire formats, spelled as Shippo spells them.
//!
//! The same types are read by the connector and written by the sandbox, so the
//! two cannot drift apart. Reading is lenient (every field the connector does
//! not need has a default, unknown fields are ignored). Money and parcel sizes
//! are strings on Shippo's wire (`"amount": "5.50"`, `"weight": "1"`); a bare
//! JSON number is accepted too and kept as its text, never as a float.

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

/// A string field Shippo documents as text; numbers are kept as their text.
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

/// A whole number that may come as `null`, a number or a numeric string.
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

// ----------------------------------------------------------------- requests

/// `POST /shipments` body.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CreateShipmentRequest {
    pub address_from: Address,
    pub address_to: Address,
    pub parcels: Vec<Parcel>,
    /// `false`: the rates come in the answer (Shippo's "synchronous" mode).
    #[serde(rename = "async")]
    pub is_async: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<String>,
    /// Shipment extras; orderhub sets only `{"is_return": true}` for a
    /// return label (Shippo then makes the label from `address_to` back to
    /// `address_from`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra: Option<Value>,
}

/// `POST /transactions` body (buy a label for a rate).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CreateTransactionRequest {
    pub rate: String,
    /// `PDF`, `PDF_4x6`, `PNG`, `ZPLII`, ...
    pub label_file_type: String,
    #[serde(rename = "async")]
    pub is_async: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<String>,
}

/// `POST /refunds` body.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CreateRefundRequest {
    pub transaction: String,
    #[serde(rename = "async")]
    pub is_async: bool,
}

// ------------------------------------------------------------------ objects

/// An address, as sent (only what is known) and as returned (with
/// `object_id`, `is_complete`, ...).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Address {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_complete: Option<bool>,
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_residential: Option<bool>,
}

/// A parcel: sizes and weight are strings, units in lower case (`in`, `oz`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Parcel {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_id: Option<String>,
    #[serde(default, deserialize_with = "opt_text")]
    pub length: Option<String>,
    #[serde(default, deserialize_with = "opt_text")]
    pub width: Option<String>,
    #[serde(default, deserialize_with = "opt_text")]
    pub height: Option<String>,
    #[serde(default)]
    pub distance_unit: Option<String>,
    #[serde(default, deserialize_with = "opt_text")]
    pub weight: Option<String>,
    #[serde(default)]
    pub mass_unit: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServiceLevel {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub token: Option<String>,
    #[serde(default)]
    pub terms: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extended_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_servicelevel: Option<Value>,
}

/// One price for a shipment (`GET /rates/{id}` shape, also inside `rates[]`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Rate {
    #[serde(default)]
    pub object_id: String,
    #[serde(default)]
    pub object_created: Option<String>,
    #[serde(default)]
    pub object_owner: Option<String>,
    #[serde(default)]
    pub shipment: Option<String>,
    #[serde(default, deserialize_with = "null_default")]
    pub attributes: Vec<Value>,
    /// The price, a decimal string (`"5.50"`).
    #[serde(default, deserialize_with = "opt_text")]
    pub amount: Option<String>,
    #[serde(default)]
    pub currency: Option<String>,
    #[serde(default, deserialize_with = "opt_text")]
    pub amount_local: Option<String>,
    #[serde(default)]
    pub currency_local: Option<String>,
    /// The carrier (`USPS`, `UPS`).
    #[serde(default)]
    pub provider: Option<String>,
    #[serde(default)]
    pub provider_image_75: Option<String>,
    #[serde(default)]
    pub provider_image_200: Option<String>,
    #[serde(default)]
    pub servicelevel: Option<ServiceLevel>,
    #[serde(default, deserialize_with = "opt_u32")]
    pub estimated_days: Option<u32>,
    #[serde(default)]
    pub arrives_by: Option<String>,
    #[serde(default)]
    pub duration_terms: Option<String>,
    #[serde(default, deserialize_with = "null_default")]
    pub messages: Vec<Value>,
    #[serde(default)]
    pub carrier_account: Option<String>,
    #[serde(default)]
    pub test: Option<bool>,
    #[serde(default)]
    pub zone: Option<String>,
}

/// The `Shipment` object; rates come inside when created with `async: false`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Shipment {
    #[serde(default)]
    pub object_id: String,
    #[serde(default)]
    pub object_created: Option<String>,
    #[serde(default)]
    pub object_updated: Option<String>,
    #[serde(default)]
    pub object_owner: Option<String>,
    /// `WAITING`, `QUEUED`, `SUCCESS`, `ERROR`.
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub address_from: Option<Address>,
    #[serde(default)]
    pub address_to: Option<Address>,
    #[serde(default)]
    pub address_return: Option<Address>,
    #[serde(default, deserialize_with = "null_default")]
    pub parcels: Vec<Parcel>,
    #[serde(default)]
    pub shipment_date: Option<String>,
    #[serde(default)]
    pub extra: Option<Value>,
    #[serde(default)]
    pub customs_declaration: Option<Value>,
    #[serde(default, deserialize_with = "null_default")]
    pub rates: Vec<Rate>,
    #[serde(default, deserialize_with = "null_default")]
    pub carrier_accounts: Vec<Value>,
    #[serde(default, deserialize_with = "null_default")]
    pub messages: Vec<Value>,
    #[serde(default)]
    pub metadata: Option<String>,
    #[serde(default)]
    pub test: Option<bool>,
}

/// A label purchase.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Transaction {
    #[serde(default)]
    pub object_state: Option<String>,
    /// `WAITING`, `QUEUED`, `SUCCESS`, `ERROR`, `REFUNDED`, `REFUNDPENDING`,
    /// `REFUNDREJECTED`.
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub object_created: Option<String>,
    #[serde(default)]
    pub object_updated: Option<String>,
    #[serde(default)]
    pub object_id: String,
    #[serde(default)]
    pub object_owner: Option<String>,
    #[serde(default)]
    pub test: Option<bool>,
    /// The rate's `object_id` (some answers expand it to the rate object).
    #[serde(default)]
    pub rate: Option<Value>,
    #[serde(default)]
    pub tracking_number: Option<String>,
    /// A status word or a tracking status object, depending on the answer.
    #[serde(default)]
    pub tracking_status: Option<Value>,
    #[serde(default, deserialize_with = "null_default")]
    pub tracking_history: Vec<Value>,
    #[serde(default)]
    pub tracking_url_provider: Option<String>,
    #[serde(default)]
    pub eta: Option<String>,
    #[serde(default)]
    pub label_url: Option<String>,
    /// The label's print format (`PDF_4x6`, `PNG`, `ZPLII`, ...: see
    /// [`super::mapping::LABEL_FILE_TYPES`]); absent in older answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_file_type: Option<String>,
    #[serde(default)]
    pub commercial_invoice_url: Option<String>,
    #[serde(default, deserialize_with = "null_default")]
    pub messages: Vec<Value>,
    #[serde(default)]
    pub order: Option<Value>,
    #[serde(default)]
    pub metadata: Option<String>,
    #[serde(default)]
    pub parcel: Option<Value>,
    #[serde(default)]
    pub billing: Option<Value>,
    #[serde(default)]
    pub qr_code_url: Option<String>,
}

impl Transaction {
    /// The rate's id, whether the answer gives it as a string or an object.
    pub fn rate_id(&self) -> Option<String> {
        match self.rate.as_ref()? {
            Value::String(s) => Some(s.clone()),
            Value::Object(o) => o
                .get("object_id")
                .and_then(Value::as_str)
                .map(str::to_string),
            _ => None,
        }
    }
}

/// A page of a list endpoint (`GET /transactions`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(bound(deserialize = "T: Deserialize<'de>", serialize = "T: Serialize"))]
pub struct Page<T> {
    #[serde(default)]
    pub next: Option<String>,
    #[serde(default)]
    pub previous: Option<String>,
    #[serde(default = "Vec::new", deserialize_with = "null_default")]
    pub results: Vec<T>,
}

/// A label refund (void).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Refund {
    #[serde(default)]
    pub object_id: String,
    #[serde(default)]
    pub object_created: Option<String>,
    #[serde(default)]
    pub object_updated: Option<String>,
    #[serde(default)]
    pub object_owner: Option<String>,
    /// `QUEUED`, `PENDING`, `SUCCESS`, `ERROR`.
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub transaction: Option<String>,
    #[serde(default)]
    pub test: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TrackLocation {
    #[serde(default)]
    pub city: Option<String>,
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub zip: Option<String>,
    #[serde(default)]
    pub country: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Substatus {
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub action_required: Option<bool>,
}

/// `tracking_status` and each `tracking_history[]` entry of a `Track`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TrackingStatus {
    #[serde(default)]
    pub object_created: Option<String>,
    #[serde(default)]
    pub object_updated: Option<String>,
    #[serde(default)]
    pub object_id: Option<String>,
    /// `UNKNOWN`, `PRE_TRANSIT`, `TRANSIT`, `DELIVERED`, `RETURNED`, `FAILURE`.
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub substatus: Option<Substatus>,
    #[serde(default)]
    pub status_details: Option<String>,
    /// When the carrier scanned it (ISO 8601, UTC).
    #[serde(default)]
    pub status_date: Option<String>,
    #[serde(default)]
    pub location: Option<TrackLocation>,
}

/// A `Track`: what `GET /tracks/{carrier}/{number}` returns and what a
/// `track_updated` webhook carries as `data`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Track {
    #[serde(default)]
    pub carrier: Option<String>,
    #[serde(default)]
    pub tracking_number: Option<String>,
    #[serde(default)]
    pub address_from: Option<TrackLocation>,
    #[serde(default)]
    pub address_to: Option<TrackLocation>,
    /// The label's transaction id, when Shippo made the label.
    #[serde(default)]
    pub transaction: Option<String>,
    #[serde(default)]
    pub original_eta: Option<String>,
    #[serde(default)]
    pub eta: Option<String>,
    #[serde(default)]
    pub servicelevel: Option<Value>,
    #[serde(default)]
    pub metadata: Option<String>,
    #[serde(default)]
    pub tracking_status: Option<TrackingStatus>,
    #[serde(default, deserialize_with = "null_default")]
    pub tracking_history: Vec<TrackingStatus>,
    #[serde(default, deserialize_with = "null_default")]
    pub messages: Vec<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test: Option<bool>,
}

/// A webhook body: `{"event": "track_updated", "test": true, "data": {...}}`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct WebhookEvent {
    #[serde(default)]
    pub event: String,
    #[serde(default)]
    pub test: Option<bool>,
    #[serde(default)]
    pub data: Option<Value>,
}

/// A message in `messages[]`: `{"source", "code", "text"}`, or a bare string.
pub fn message_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()).filter(|s| !s.trim().is_empty()),
        Value::Object(o) => {
            let text = o.get("text").and_then(Value::as_str).unwrap_or_default();
            let source = o.get("source").and_then(Value::as_str).unwrap_or_default();
            let code = o.get("code").and_then(Value::as_str).unwrap_or_default();
            if text.trim().is_empty() && code.trim().is_empty() {
                return None;
            }
            let mut out = String::new();
            if !source.is_empty() {
                out.push_str(source);
                out.push_str(": ");
            }
            out.push_str(text);
            if !code.is_empty() {
                out.push_str(&format!(" ({code})"));
            }
            Some(out)
        }
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

/// Shippo's error bodies as one line: `{"detail": "..."}` (401, 404, 429) or
/// field errors (`{"parcels": ["This field is required."]}`, nested per
/// object), or `messages[]`.
pub fn error_text(body: &Value) -> Option<String> {
    fn walk(prefix: &str, v: &Value, out: &mut Vec<String>) {
        match v {
            Value::String(s) => {
                if prefix.is_empty() {
                    out.push(s.clone());
                } else {
                    out.push(format!("{prefix}: {s}"));
                }
            }
            Value::Array(a) => a.iter().for_each(|x| walk(prefix, x, out)),
            Value::Object(o) => {
                if let Some(t) = message_text(v).filter(|_| o.contains_key("text")) {
                    out.push(t);
                    return;
                }
                for (k, x) in o {
                    let p = match (prefix.is_empty(), k.as_str()) {
                        (_, "detail") | (_, "__all__") | (_, "non_field_errors") => {
                            prefix.to_string()
                        }
                        (true, _) => k.clone(),
                        (false, _) => format!("{prefix}.{k}"),
                    };
                    walk(&p, x, out);
                }
            }
            Value::Null => {}
            other => out.push(format!("{prefix}: {other}")),
        }
    }
    let mut parts = Vec::new();
    walk("", body, &mut parts);
    (!parts.is_empty()).then(|| parts.join("; "))
}
