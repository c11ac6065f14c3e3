//! orderhub's carrier model ↔ Shippo's wire formats.
//!
//! Money is parsed from Shippo's decimal strings into `Decimal` (never a
//! float); every error names the Shippo field that was wrong.

use super::wire::{
    message_text, Address as WireAddress, CreateShipmentRequest, Parcel, Rate as WireRate,
    Shipment, Track, TrackLocation, TrackingStatus as WireStatus, Transaction, WebhookEvent,
};
use crate::carrier::{
    CarrierShipment, LabelFormat, LabelRequest, ParcelSpec, PurchasedLabel, Rate, TrackingDetail,
    TrackingUpdate,
};
use chrono::{DateTime, NaiveDateTime, Utc};
use orderhub_core::{Address, TrackingStatus};
use rust_decimal::Decimal;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::str::FromStr;

/// The webhook event that carries a `Track`.
pub const TRACK_UPDATED: &str = "track_updated";

/// Decode a JSON value into a wire type; the error names the JSON path.
pub fn decode<T: DeserializeOwned>(value: &Value, prefix: &str) -> Result<T, String> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let field = match (prefix.is_empty(), path.is_empty() || path == ".") {
            (true, true) => "$".to_string(),
            (true, false) => path,
            (false, true) => prefix.to_string(),
            (false, false) => format!("{prefix}.{path}"),
        };
        format!("{field}: {}", e.into_inner())
    })
}

fn clean(s: &Option<String>) -> Option<String> {
    s.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// Every `label_file_type` Shippo takes (`LabelFileTypeEnum` of Shippo's
/// API reference and SDKs; docs.goshippo.com "Shipping label sizes"),
/// spelled exactly so: the choice is case-sensitive.
pub const LABEL_FILE_TYPES: &[&str] = &[
    "PNG",
    "PNG_2.3x7.5",
    "PDF",
    "PDF_2.3x7.5",
    "PDF_4x6",
    "PDF_4x8",
    "PDF_A4",
    "PDF_A5",
    "PDF_A6",
    "ZPLII",
];

/// Shippo's `label_file_type` for a label format: PDF as a 4×6 in page (the
/// thermal label size; plain `PDF` is a letter sheet), PNG, ZPL II.
pub fn label_file_type(f: LabelFormat) -> &'static str {
    match f {
        LabelFormat::Pdf => "PDF_4x6",
        LabelFormat::Png => "PNG",
        LabelFormat::Zpl => "ZPLII",
    }
}

/// The label format of a Shippo `label_file_type` (`PDF_4x6` is a PDF,
/// `PNG_2.3x7.5` a PNG); `None` for a value Shippo does not take.
pub fn format_of_file_type(t: &str) -> Option<LabelFormat> {
    let t = LABEL_FILE_TYPES.iter().find(|k| **k == t)?;
    Some(if t.starts_with("PDF") {
        LabelFormat::Pdf
    } else if t.starts_with("PNG") {
        LabelFormat::Png
    } else {
        LabelFormat::Zpl
    })
}

/// A PDF `label_file_type`'s page in points (72 to the inch), as the
/// "Shipping label sizes" table gives it; `None` for PNG and ZPL.
pub fn pdf_page_of_file_type(t: &str) -> Option<(u32, u32)> {
    Some(match t {
        "PDF" => (612, 792),
        "PDF_2.3x7.5" => (166, 540),
        "PDF_4x6" => (288, 432),
        "PDF_4x8" => (288, 576),
        "PDF_A4" => (595, 842),
        "PDF_A5" => (420, 595),
        "PDF_A6" => (298, 420),
        _ => return None,
    })
}

/// The carrier shipment id orderhub holds: Shippo's shipment `object_id`,
/// followed by `~png` / `~zpl` when the label is not a PDF. The connector
/// keeps no state between calls, so the format asked in `create_shipment`
/// travels with the id to `buy` (and `shipment`, which reports it).
pub fn carrier_shipment_id(object_id: &str, format: LabelFormat) -> String {
    match format {
        LabelFormat::Pdf => object_id.to_string(),
        other => format!("{object_id}~{}", other.as_str()),
    }
}

/// Split a carrier shipment id into Shippo's `object_id` and the label format.
pub fn split_shipment_id(id: &str) -> Result<(String, LabelFormat), String> {
    let id = id.trim();
    let (object_id, format) = match id.rsplit_once('~') {
        Some((o, f)) => (
            o,
            LabelFormat::parse(f)
                .ok_or_else(|| format!("shipment id `{id}`: unknown label format `{f}`"))?,
        ),
        None => (id, LabelFormat::Pdf),
    };
    if object_id.is_empty() {
        return Err("shipment id is empty".into());
    }
    Ok((object_id.to_string(), format))
}

/// orderhub address → Shippo address (`line1`→`street1`, `region`→`state`,
/// `postal_code`→`zip`); empty fields are left out rather than sent blank.
pub fn address_input(a: &Address) -> WireAddress {
    WireAddress {
        name: clean(&a.name),
        company: clean(&a.company),
        street1: clean(&a.line1),
        street2: clean(&a.line2),
        city: clean(&a.city),
        state: clean(&a.region),
        zip: clean(&a.postal_code),
        country: clean(&a.country),
        phone: clean(&a.phone),
        ..WireAddress::default()
    }
}

/// One box: inches and ounces as decimal strings (`65.90` → `"65.9"`), units
/// in lower case as Shippo writes them.
pub fn parcel_input(p: &ParcelSpec) -> Parcel {
    let text = |d: Decimal| Some(d.normalize().to_string());
    Parcel {
        object_id: None,
        length: text(p.length_in),
        width: text(p.width_in),
        height: text(p.height_in),
        distance_unit: Some("in".into()),
        weight: text(p.weight_oz),
        mass_unit: Some("oz".into()),
    }
}

/// The `POST /shipments` body: every parcel of the request (Shippo rates
/// multi-piece shipments), rates in the answer, our reference as `metadata`.
pub fn shipment_request(req: &LabelRequest) -> CreateShipmentRequest {
    CreateShipmentRequest {
        address_from: address_input(&req.from),
        address_to: address_input(&req.to),
        parcels: req.parcels.iter().map(parcel_input).collect(),
        is_async: false,
        metadata: Some(req.reference.clone()).filter(|r| !r.trim().is_empty()),
        extra: None,
    }
}

/// The `POST /shipments` body for a return label: the outbound addresses
/// as they are, with `extra.is_return: true` (Shippo swaps them on the
/// label).
pub fn return_shipment_request(req: &LabelRequest) -> CreateShipmentRequest {
    let mut body = shipment_request(req);
    body.extra = Some(serde_json::json!({ "is_return": true }));
    body
}

/// A decimal amount from Shippo's money string.
pub fn parse_money(field: &str, value: Option<&str>) -> Result<Decimal, String> {
    let s = value.ok_or_else(|| format!("{field}: missing"))?;
    Decimal::from_str(s.trim()).map_err(|_| format!("{field}: `{s}` is not a decimal amount"))
}

/// One Shippo rate → orderhub's (`field` names it in errors, e.g. `rates[2]`).
/// The service is the service level's name (`Priority Mail`).
pub fn rate_from_wire(field: &str, r: &WireRate) -> Result<Rate, String> {
    if r.object_id.trim().is_empty() {
        return Err(format!("{field}.object_id: missing"));
    }
    let amount = parse_money(&format!("{field}.amount"), r.amount.as_deref())?;
    let carrier = clean(&r.provider).ok_or_else(|| format!("{field}.provider: missing"))?;
    let level = r.servicelevel.as_ref();
    let service = level
        .and_then(|s| clean(&s.name).or_else(|| clean(&s.token)))
        .ok_or_else(|| format!("{field}.servicelevel.name: missing"))?;
    Ok(Rate {
        id: r.object_id.clone(),
        carrier,
        service,
        amount,
        currency: clean(&r.currency).unwrap_or_else(|| "USD".into()),
        delivery_days: r.estimated_days,
    })
}

/// A shipment as orderhub sees it (no label: see [`label_from_transaction`]).
/// A rate whose price cannot be read is left out (logged) rather than offered
/// with a guessed price.
pub fn shipment_from_wire(id: &str, s: &Shipment) -> Result<CarrierShipment, String> {
    if s.object_id.trim().is_empty() {
        return Err("object_id: missing".into());
    }
    if let Some(status) = s.status.as_deref().filter(|st| *st == "ERROR") {
        let why: Vec<String> = s.messages.iter().filter_map(message_text).collect();
        return Err(format!(
            "status: {status}{}",
            if why.is_empty() {
                String::new()
            } else {
                format!(" ({})", why.join("; "))
            }
        ));
    }
    let mut rates = Vec::with_capacity(s.rates.len());
    for (i, r) in s.rates.iter().enumerate() {
        match rate_from_wire(&format!("rates[{i}]"), r) {
            Ok(rate) => rates.push(rate),
            Err(e) => tracing::warn!(shipment = %s.object_id, error = %e, "Shippo rate skipped"),
        }
    }
    if rates.is_empty() && !s.rates.is_empty() {
        return Err("rates: none of the rates could be read".into());
    }
    Ok(CarrierShipment {
        id: id.to_string(),
        rates,
        label: None,
    })
}

/// What a transaction says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Purchase {
    /// `SUCCESS`: the label.
    Bought(Box<PurchasedLabel>),
    /// `ERROR`: Shippo's messages, one line.
    Failed(String),
    /// `WAITING`/`QUEUED` (an async purchase not finished), or a refund state.
    Pending(String),
}

/// A transaction → the label it bought. `rate` is the rate it bought (for
/// carrier, service and price), `format` the format asked; the
/// transaction's own `label_file_type`, when Shippo gives one, says what the
/// file is (Shippo uses the dashboard's default when none was asked).
pub fn label_from_transaction(
    t: &Transaction,
    rate: &Rate,
    format: LabelFormat,
) -> Result<Purchase, String> {
    if t.object_id.trim().is_empty() {
        return Err("object_id: missing".into());
    }
    let status = clean(&t.status).unwrap_or_default();
    match status.as_str() {
        "SUCCESS" => {}
        "ERROR" => {
            let why: Vec<String> = t.messages.iter().filter_map(message_text).collect();
            return Ok(Purchase::Failed(if why.is_empty() {
                "the label purchase failed (status ERROR, no message)".into()
            } else {
                why.join("; ")
            }));
        }
        other => return Ok(Purchase::Pending(format!("status {other:?}"))),
    }
    let label_url = clean(&t.label_url).ok_or("label_url: missing on a SUCCESS transaction")?;
    let tracking_code =
        clean(&t.tracking_number).ok_or("tracking_number: missing on a SUCCESS transaction")?;
    Ok(Purchase::Bought(Box::new(PurchasedLabel {
        tracking_code,
        label_url,
        carrier: rate.carrier.clone(),
        service: rate.service.clone(),
        amount: rate.amount,
        currency: rate.currency.clone(),
        tracking_url: clean(&t.tracking_url_provider),
        label_id: t.object_id.clone(),
        label_format: t
            .label_file_type
            .as_deref()
            .and_then(format_of_file_type)
            .unwrap_or(format),
    })))
}

/// A Shippo timestamp: ISO 8601 (UTC with `Z` in Shippo's examples); one
/// without an offset is taken as UTC.
pub fn parse_time(field: &str, s: Option<&str>) -> Result<DateTime<Utc>, String> {
    let s = s
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| format!("{field}: missing"))?;
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    for fmt in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, fmt) {
            return Ok(t.and_utc());
        }
    }
    Err(format!("{field}: `{s}` is not an ISO 8601 time"))
}

/// `Las Vegas, NV, 89101, US`, from whatever the carrier gave.
pub fn location_text(l: &TrackLocation) -> Option<String> {
    let parts: Vec<String> = [&l.city, &l.state, &l.zip, &l.country]
        .into_iter()
        .filter_map(clean)
        .collect();
    (!parts.is_empty()).then(|| parts.join(", "))
}

/// Shippo's status and substatus → orderhub's. `TRANSIT` with substatus
/// `out_for_delivery` is out for delivery, with `pickup_available` available
/// for pickup; any other word (or none) is `Unknown`, never guessed forward.
pub fn status_from_wire(status: &str, substatus: Option<&str>) -> TrackingStatus {
    match (status.trim(), substatus.map(str::trim)) {
        ("PRE_TRANSIT", _) => TrackingStatus::PreTransit,
        ("TRANSIT", Some("out_for_delivery")) => TrackingStatus::OutForDelivery,
        ("TRANSIT", Some("pickup_available")) => TrackingStatus::AvailableForPickup,
        ("TRANSIT", _) => TrackingStatus::InTransit,
        ("DELIVERED", _) => TrackingStatus::Delivered,
        ("RETURNED", _) => TrackingStatus::ReturnToSender,
        ("FAILURE", _) => TrackingStatus::Failure,
        _ => TrackingStatus::Unknown,
    }
}

fn status_of(s: &WireStatus) -> TrackingStatus {
    status_from_wire(
        s.status.as_deref().unwrap_or_default(),
        s.substatus.as_ref().and_then(|x| x.code.as_deref()),
    )
}

fn detail_from_wire(field: &str, d: &WireStatus) -> Result<TrackingDetail, String> {
    Ok(TrackingDetail {
        status: status_of(d),
        carrier_status: d.status.clone().unwrap_or_default(),
        message: clean(&d.status_details),
        occurred_at: parse_time(&format!("{field}.status_date"), d.status_date.as_deref())?,
        location: d.location.as_ref().and_then(location_text),
    })
}

/// A `Track` → a tracking update; details oldest first. When the history is
/// empty the current `tracking_status` is the one detail.
pub fn track_update(field: &str, t: &Track) -> Result<TrackingUpdate, String> {
    let tracking_code =
        clean(&t.tracking_number).ok_or_else(|| format!("{field}.tracking_number: missing"))?;
    let current = t
        .tracking_status
        .as_ref()
        .ok_or_else(|| format!("{field}.tracking_status: missing"))?;
    let carrier_status =
        clean(&current.status).ok_or_else(|| format!("{field}.tracking_status.status: missing"))?;
    let mut details = t
        .tracking_history
        .iter()
        .enumerate()
        .map(|(i, d)| detail_from_wire(&format!("{field}.tracking_history[{i}]"), d))
        .collect::<Result<Vec<_>, _>>()?;
    if details.is_empty() && current.status_date.is_some() {
        details.push(detail_from_wire(
            &format!("{field}.tracking_status"),
            current,
        )?);
    }
    // Stable: details at the same instant keep the carrier's order.
    details.sort_by_key(|d| d.occurred_at);
    Ok(TrackingUpdate {
        tracking_code,
        // A Track names its transaction, not its shipment: matched by number.
        carrier_shipment_id: None,
        status: status_of(current),
        carrier_status,
        details,
        public_url: None,
    })
}

/// Read a webhook body. `Ok(None)` for events that are not `track_updated`
/// (`transaction_created`, `batch_purchased`, ...): acknowledged and ignored.
pub fn tracking_update_from_event(body: &[u8]) -> Result<Option<TrackingUpdate>, String> {
    let raw: Value =
        serde_json::from_slice(body).map_err(|e| format!("$: not a JSON document: {e}"))?;
    if !raw.is_object() {
        return Err("$: expected a webhook object".into());
    }
    let event: WebhookEvent = decode(&raw, "")?;
    if event.event.trim().is_empty() {
        return Err("event: missing".into());
    }
    if event.event != TRACK_UPDATED {
        return Ok(None);
    }
    let data = event
        .data
        .as_ref()
        .filter(|d| d.is_object())
        .ok_or("data: missing or not an object")?;
    let track: Track = decode(data, "data")?;
    track_update("data", &track).map(Some)
}
