//! orderhub's carrier model ↔ EasyPost's wire formats.
//!
//! Money is parsed from EasyPost's decimal strings into `Decimal` (never a
//! float); every error names the EasyPost field that was wrong.

use super::wire::{
    AddressInput, CreateShipmentRequest, Event, ParcelInput, PostageLabel, Rate as WireRate,
    Shipment, ShipmentInput, ShipmentOptionsInput, Tracker, TrackingDetail as WireDetail,
    TrackingLocation,
};
use crate::carrier::{
    CarrierShipment, LabelFormat, LabelRequest, ParcelSpec, PurchasedLabel, Rate, TrackingDetail,
    TrackingUpdate, VoidStatus,
};
use chrono::{DateTime, NaiveDateTime, Utc};
use orderhub_core::{Address, TrackingStatus};
use rust_decimal::Decimal;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::str::FromStr;

/// The event descriptions that carry a `Tracker`.
pub const TRACKER_EVENTS: [&str; 2] = ["tracker.created", "tracker.updated"];

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

/// orderhub address → EasyPost address (`line1`→`street1`, `region`→`state`,
/// `postal_code`→`zip`); empty fields are left out rather than sent blank.
pub fn address_input(a: &Address) -> AddressInput {
    AddressInput {
        name: clean(&a.name),
        company: clean(&a.company),
        street1: clean(&a.line1),
        street2: clean(&a.line2),
        city: clean(&a.city),
        state: clean(&a.region),
        zip: clean(&a.postal_code),
        country: clean(&a.country),
        phone: clean(&a.phone),
    }
}

/// Ounces and inches as decimal strings, exactly as held (`65.90` → `"65.9"`).
pub fn parcel_input(p: &ParcelSpec) -> ParcelInput {
    let text = |d: Decimal| d.normalize().to_string();
    ParcelInput {
        length: text(p.length_in),
        width: text(p.width_in),
        height: text(p.height_in),
        weight: text(p.weight_oz),
    }
}

/// The `POST /v2/shipments` body for a label request.
pub fn shipment_request(req: &LabelRequest) -> CreateShipmentRequest {
    CreateShipmentRequest {
        shipment: ShipmentInput {
            to_address: address_input(&req.to),
            from_address: address_input(&req.from),
            // One parcel: the connector refuses more before getting here.
            parcel: parcel_input(req.parcels.first().unwrap_or(&ParcelSpec {
                weight_oz: Decimal::ZERO,
                length_in: Decimal::ZERO,
                width_in: Decimal::ZERO,
                height_in: Decimal::ZERO,
            })),
            reference: Some(req.reference.clone()).filter(|r| !r.trim().is_empty()),
            options: Some(ShipmentOptionsInput {
                label_format: Some(label_format_word(req.label_format).into()),
            }),
            is_return: None,
        },
    }
}

/// The `POST /v2/shipments` body for a return label: the outbound
/// addresses as they are (`from_address` the warehouse, `to_address` the
/// customer) with `is_return: true`; EasyPost swaps them for the label.
pub fn return_shipment_request(req: &LabelRequest) -> CreateShipmentRequest {
    let mut body = shipment_request(req);
    body.shipment.is_return = Some(true);
    body
}

/// `options.label_format` as EasyPost spells it.
pub fn label_format_word(f: LabelFormat) -> &'static str {
    match f {
        LabelFormat::Pdf => "PDF",
        LabelFormat::Png => "PNG",
        LabelFormat::Zpl => "ZPL",
    }
}

/// What a refund answer says: `refund_status` `submitted` (the carrier
/// decides later), `refunded`, `rejected`, or `not_applicable` (carriers that
/// bill on scan: nothing to refund, the label stands until it is used).
pub fn void_status_from_wire(s: &Shipment) -> Result<VoidStatus, String> {
    let status = clean(&s.refund_status).ok_or("refund_status: missing after a refund")?;
    match status.as_str() {
        "submitted" => Ok(VoidStatus::Submitted),
        "refunded" => Ok(VoidStatus::Voided),
        "rejected" => Ok(VoidStatus::Rejected(
            "EasyPost refund_status `rejected` (the carrier refused the refund)".into(),
        )),
        "not_applicable" => Ok(VoidStatus::Rejected(
            "EasyPost refund_status `not_applicable` (the carrier bills on scan; nothing to refund)"
                .into(),
        )),
        other => Err(format!("refund_status: `{other}` is not a refund status")),
    }
}

/// A decimal amount from EasyPost's money string.
pub fn parse_money(field: &str, value: Option<&str>) -> Result<Decimal, String> {
    let s = value.ok_or_else(|| format!("{field}: missing"))?;
    Decimal::from_str(s.trim()).map_err(|_| format!("{field}: `{s}` is not a decimal amount"))
}

/// One EasyPost rate → orderhub's (`field` names it in errors, e.g. `rates[2]`).
pub fn rate_from_wire(field: &str, r: &WireRate) -> Result<Rate, String> {
    if r.id.trim().is_empty() {
        return Err(format!("{field}.id: missing"));
    }
    let amount = parse_money(&format!("{field}.rate"), r.rate.as_deref())?;
    Ok(Rate {
        id: r.id.clone(),
        carrier: r.carrier.clone(),
        service: r.service.clone(),
        amount,
        currency: r
            .currency
            .clone()
            .filter(|c| !c.trim().is_empty())
            .unwrap_or_else(|| "USD".into()),
        delivery_days: r.delivery_days.or(r.est_delivery_days),
    })
}

/// The bought label of a shipment: `None` while no postage was bought.
pub fn label_from_wire(s: &Shipment) -> Result<Option<PurchasedLabel>, String> {
    let Some(label) = &s.postage_label else {
        return Ok(None);
    };
    let label_url = clean(&label.label_url)
        .or_else(|| clean(&label.label_pdf_url))
        .or_else(|| clean(&label.label_zpl_url))
        .ok_or("postage_label.label_url: missing")?;
    let tracking_code = clean(&s.tracking_code)
        .or_else(|| s.tracker.as_ref().and_then(|t| clean(&t.tracking_code)))
        .ok_or("tracking_code: missing on a shipment with a postage_label")?;
    let rate = s
        .selected_rate
        .as_ref()
        .ok_or("selected_rate: missing on a shipment with a postage_label")?;
    let rate = rate_from_wire("selected_rate", rate)?;
    let label_format = label_format_from_wire(label, &label_url);
    Ok(Some(PurchasedLabel {
        tracking_code,
        label_url,
        carrier: rate.carrier,
        service: rate.service,
        amount: rate.amount,
        currency: rate.currency,
        tracking_url: s.tracker.as_ref().and_then(|t| clean(&t.public_url)),
        // EasyPost voids by shipment (`POST /v2/shipments/{id}/refund`).
        label_id: s.id.clone(),
        label_format,
    }))
}

/// A shipment as orderhub sees it. A rate whose price cannot be read is left
/// out (logged) rather than offered with a guessed price; a label that cannot
/// be read is an error, since money was spent on it.
pub fn shipment_from_wire(s: &Shipment) -> Result<CarrierShipment, String> {
    if s.id.trim().is_empty() {
        return Err("id: missing".into());
    }
    let mut rates = Vec::with_capacity(s.rates.len());
    for (i, r) in s.rates.iter().enumerate() {
        match rate_from_wire(&format!("rates[{i}]"), r) {
            Ok(rate) => rates.push(rate),
            Err(e) => tracing::warn!(shipment = %s.id, error = %e, "EasyPost rate skipped"),
        }
    }
    if rates.is_empty() && !s.rates.is_empty() {
        return Err("rates: none of the rates could be read".into());
    }
    Ok(CarrierShipment {
        id: s.id.clone(),
        rates,
        label: label_from_wire(s)?,
    })
}

/// An EasyPost timestamp. ISO 8601 with an offset as documented; one without
/// an offset is taken as UTC, which EasyPost uses when it knows no location.
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

/// `SAN FRANCISCO, CA, 94107, US`, from whatever the carrier gave.
pub fn location_text(l: &TrackingLocation) -> Option<String> {
    let parts: Vec<String> = [&l.city, &l.state, &l.zip, &l.country]
        .into_iter()
        .filter_map(clean)
        .collect();
    (!parts.is_empty()).then(|| parts.join(", "))
}

fn detail_from_wire(field: &str, d: &WireDetail) -> Result<TrackingDetail, String> {
    let carrier_status = d.status.clone().unwrap_or_default();
    Ok(TrackingDetail {
        status: TrackingStatus::from_carrier(carrier_status.trim()),
        carrier_status,
        message: clean(&d.message),
        occurred_at: parse_time(&format!("{field}.datetime"), d.datetime.as_deref())?,
        location: d.tracking_location.as_ref().and_then(location_text),
    })
}

/// A `Tracker` → a tracking update; details oldest first (EasyPost does not
/// promise an order: its own documented example lists "DELIVERED" last with
/// the earliest time).
pub fn tracker_update(field: &str, t: &Tracker) -> Result<TrackingUpdate, String> {
    if let Some(obj) = t.object.as_deref().filter(|o| *o != "Tracker") {
        return Err(format!("{field}.object: expected Tracker, got `{obj}`"));
    }
    let tracking_code =
        clean(&t.tracking_code).ok_or_else(|| format!("{field}.tracking_code: missing"))?;
    let carrier_status = clean(&t.status).ok_or_else(|| format!("{field}.status: missing"))?;
    let mut details = t
        .tracking_details
        .iter()
        .enumerate()
        .map(|(i, d)| detail_from_wire(&format!("{field}.tracking_details[{i}]"), d))
        .collect::<Result<Vec<_>, _>>()?;
    // Stable: details at the same instant keep the carrier's order.
    details.sort_by_key(|d| d.occurred_at);
    Ok(TrackingUpdate {
        tracking_code,
        carrier_shipment_id: clean(&t.shipment_id),
        status: TrackingStatus::from_carrier(&carrier_status),
        carrier_status,
        details,
        public_url: clean(&t.public_url),
    })
}

/// Read a webhook `Event` body. `Ok(None)` for events that are not about a
/// tracker (batches, refunds, ...): they are acknowledged and ignored.
pub fn tracking_update_from_event(body: &[u8]) -> Result<Option<TrackingUpdate>, String> {
    let raw: Value =
        serde_json::from_slice(body).map_err(|e| format!("$: not a JSON document: {e}"))?;
    if !raw.is_object() {
        return Err("$: expected an Event object".into());
    }
    let event: Event = decode(&raw, "")?;
    if let Some(obj) = event.object.as_deref().filter(|o| *o != "Event") {
        return Err(format!("object: expected Event, got `{obj}`"));
    }
    if event.description.trim().is_empty() {
        return Err("description: missing".into());
    }
    if !TRACKER_EVENTS.contains(&event.description.as_str()) {
        return Ok(None);
    }
    let result = event
        .result
        .as_ref()
        .filter(|r| r.is_object())
        .ok_or("result: missing or not an object")?;
    let tracker: Tracker = decode(result, "result")?;
    tracker_update("result", &tracker).map(Some)
}

/// The label's format: `label_file_type` (`image/png`, `application/pdf`,
/// `application/zpl`) when EasyPost gives it, else the URL's extension.
fn label_format_from_wire(label: &PostageLabel, url: &str) -> LabelFormat {
    let by_type = label
        .label_file_type
        .as_deref()
        .map(|t| t.trim().to_ascii_lowercase())
        .and_then(|t| match t.as_str() {
            "image/png" | "png" => Some(LabelFormat::Png),
            "application/pdf" | "pdf" => Some(LabelFormat::Pdf),
            "application/zpl" | "zpl" => Some(LabelFormat::Zpl),
            _ => None,
        });
    by_type.unwrap_or_else(|| label_format_of(url))
}

/// The format of a label file, from its URL's extension (PDF when unknown).
fn label_format_of(url: &str) -> crate::carrier::LabelFormat {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    path.rsplit('.')
        .next()
        .and_then(crate::carrier::LabelFormat::parse)
        .unwrap_or_default()
}
