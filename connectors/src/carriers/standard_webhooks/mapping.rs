//! The `tracking.updated` payload (documented in the module docs of
//! [`super`]) ↔ orderhub's tracking model. The same types are written by the
//! sandbox, so the two cannot drift apart.

use crate::carrier::{TrackingDetail, TrackingUpdate};
use chrono::{DateTime, Utc};
use orderhub_core::TrackingStatus;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The one event type orderhub reads.
pub const TRACKING_UPDATED: &str = "tracking.updated";

/// The Standard Webhooks envelope.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Envelope<T> {
    #[serde(rename = "type")]
    pub kind: String,
    /// When the event happened (RFC 3339), not when it was delivered.
    pub timestamp: String,
    pub data: T,
}

/// `data` of a `tracking.updated` event.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TrackingData {
    pub tracking_code: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub carrier: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub carrier_shipment_id: Option<String>,
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub carrier_status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_url: Option<String>,
    #[serde(default)]
    pub events: Vec<TrackingEvent>,
}

/// One scan.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TrackingEvent {
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub carrier_status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// RFC 3339.
    pub occurred_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
}

fn clean(s: &Option<String>) -> Option<String> {
    s.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// orderhub's status word → status; anything else is `Unknown`.
pub fn status_of(word: &str) -> TrackingStatus {
    TrackingStatus::from_carrier(word.trim())
}

fn parse_time(field: &str, s: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(s.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| format!("{field}: `{s}` is not an RFC 3339 time"))
}

/// `data` → a tracking update; events oldest first.
pub fn tracking_update_from_data(d: &TrackingData) -> Result<TrackingUpdate, String> {
    let tracking_code = d.tracking_code.trim();
    if tracking_code.is_empty() {
        return Err("data.tracking_code: missing".into());
    }
    let status_word = d.status.trim();
    if status_word.is_empty() {
        return Err("data.status: missing".into());
    }
    let mut details = Vec::with_capacity(d.events.len());
    for (i, e) in d.events.iter().enumerate() {
        let field = format!("data.events[{i}]");
        if e.status.trim().is_empty() {
            return Err(format!("{field}.status: missing"));
        }
        details.push(TrackingDetail {
            status: status_of(&e.status),
            carrier_status: clean(&e.carrier_status).unwrap_or_else(|| e.status.trim().into()),
            message: clean(&e.message),
            occurred_at: parse_time(&format!("{field}.occurred_at"), &e.occurred_at)?,
            location: clean(&e.location),
        });
    }
    // Stable: events at the same instant keep the sender's order.
    details.sort_by_key(|d| d.occurred_at);
    Ok(TrackingUpdate {
        tracking_code: tracking_code.to_string(),
        carrier_shipment_id: clean(&d.carrier_shipment_id),
        status: status_of(status_word),
        carrier_status: clean(&d.carrier_status).unwrap_or_else(|| status_word.into()),
        details,
        public_url: clean(&d.public_url),
    })
}

/// Read a verified body. `Ok(None)` for other event types; `Err` names the
/// field that is wrong.
pub fn tracking_update_from_payload(body: &[u8]) -> Result<Option<TrackingUpdate>, String> {
    let raw: Value =
        serde_json::from_slice(body).map_err(|e| format!("$: not a JSON document: {e}"))?;
    let Some(obj) = raw.as_object() else {
        return Err("$: expected an object with `type`, `timestamp` and `data`".into());
    };
    let kind = obj
        .get("type")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or("type: missing")?;
    if kind != TRACKING_UPDATED {
        return Ok(None);
    }
    let data = obj
        .get("data")
        .filter(|d| d.is_object())
        .ok_or("data: missing or not an object")?;
    let data: TrackingData = serde_path_to_error::deserialize(data).map_err(|e| {
        let path = e.path().to_string();
        let field = if path.is_empty() || path == "." {
            "data".to_string()
        } else {
            format!("data.{path}")
        };
        format!("{field}: {}", e.into_inner())
    })?;
    tracking_update_from_data(&data).map(Some)
}
