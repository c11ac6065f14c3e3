//! orderhub's carrier model ↔ Sendcloud's wire formats.
//!
//! Weights go out in kilograms (ounces converted exactly, rounded up to the
//! gram), sizes in centimetres (rounded up to the millimetre); prices are
//! parsed from Sendcloud's numbers into `Decimal` through their text, never a
//! float. Every error names the Sendcloud field that was wrong.

use super::wire::{Parcel, ParcelInput, ParcelRequest, ShipmentRef, ShippingMethod, WebhookBody};
use crate::carrier::{LabelFormat, LabelRequest, ParcelSpec, PurchasedLabel, Rate, TrackingDetail};
use chrono::{DateTime, TimeZone, Utc};
use orderhub_core::{Address, TrackingStatus, TrackingUpdate};
use rust_decimal::{Decimal, RoundingStrategy};
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::str::FromStr;

/// The webhook action that carries tracking.
pub const PARCEL_STATUS_CHANGED: &str = "parcel_status_changed";

/// Grams in one avoirdupois ounce, exactly (28.349523125).
fn grams_per_oz() -> Decimal {
    Decimal::new(28_349_523_125, 9)
}

/// Centimetres in one inch, exactly.
fn cm_per_in() -> Decimal {
    Decimal::new(254, 2)
}

/// Sendcloud's parcel status ids and what each means for orderhub. Ids not in
/// this table are `Unknown` (their message is kept as the carrier status),
/// never guessed as in transit.
pub const STATUS_TABLE: &[(i64, &str, TrackingStatus)] = &[
    (1, "Announced", TrackingStatus::PreTransit),
    (3, "En route to sorting center", TrackingStatus::InTransit),
    (4, "Delivery delayed", TrackingStatus::InTransit),
    (5, "Sorted", TrackingStatus::InTransit),
    (6, "Not sorted", TrackingStatus::InTransit),
    (7, "Being sorted", TrackingStatus::InTransit),
    // Another attempt follows: not an end state, so it does not move the
    // status (Failure would end it).
    (8, "Delivery attempt failed", TrackingStatus::Unknown),
    (11, "Delivered", TrackingStatus::Delivered),
    (
        12,
        "Awaiting customer pickup",
        TrackingStatus::AvailableForPickup,
    ),
    (13, "Announced: not collected", TrackingStatus::PreTransit),
    (15, "Error collecting", TrackingStatus::Error),
    (
        22,
        "Shipment picked up by driver",
        TrackingStatus::InTransit,
    ),
    (80, "Unable to deliver", TrackingStatus::Failure),
    (91, "Parcel en route", TrackingStatus::InTransit),
    (92, "Driver en route", TrackingStatus::OutForDelivery),
    (
        93,
        "Shipment collected by customer",
        TrackingStatus::Delivered,
    ),
    (999, "No label", TrackingStatus::Unknown),
    (1000, "Ready to send", TrackingStatus::PreTransit),
    (1001, "Being announced", TrackingStatus::PreTransit),
    (1002, "Announcement failed", TrackingStatus::Error),
    (
        1337,
        "Unknown status - check carrier track & trace page for more insights",
        TrackingStatus::Unknown,
    ),
    (1998, "Cancelled upstream", TrackingStatus::Cancelled),
    // Asked, not done: the carrier may still refuse.
    (1999, "Cancellation requested", TrackingStatus::Unknown),
    (2000, "Cancelled", TrackingStatus::Cancelled),
    (
        2001,
        "Submitting cancellation request",
        TrackingStatus::Unknown,
    ),
];

/// A Sendcloud status id → orderhub's status (`Unknown` when not listed).
pub fn status_for_id(id: i64) -> TrackingStatus {
    STATUS_TABLE
        .iter()
        .find(|(i, _, _)| *i == id)
        .map(|(_, _, s)| *s)
        .unwrap_or(TrackingStatus::Unknown)
}

/// Sendcloud's message for a status id, as the sandbox sends it.
pub fn message_for_id(id: i64) -> &'static str {
    STATUS_TABLE
        .iter()
        .find(|(i, _, _)| *i == id)
        .map(|(_, m, _)| *m)
        .unwrap_or("Unknown status")
}

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

/// Ounces → kilograms, exactly, rounded up to the gram (at least 1 g), with
/// three decimals as Sendcloud writes weights (`"2.000"`).
pub fn kg_text(weight_oz: Decimal) -> String {
    // Weights are checked (0 < oz <= 1,000,000) before this; a product that
    // still overflowed would say so in the weight rather than panic.
    let grams = weight_oz
        .checked_mul(grams_per_oz())
        .unwrap_or(Decimal::MAX)
        .round_dp_with_strategy(0, RoundingStrategy::AwayFromZero)
        .max(Decimal::ONE);
    let mut kg = grams / Decimal::from(1000);
    kg.rescale(3);
    kg.to_string()
}

/// Inches → centimetres, rounded up to the millimetre (`"52.3"`, `"48"`).
pub fn cm_text(inches: Decimal) -> String {
    inches
        .checked_mul(cm_per_in())
        .unwrap_or(Decimal::MAX)
        .round_dp_with_strategy(1, RoundingStrategy::AwayFromZero)
        .normalize()
        .to_string()
}

/// A decimal from Sendcloud's text (`"2.000"`, `9.75`).
pub fn parse_decimal(field: &str, value: Option<&str>) -> Result<Decimal, String> {
    let s = value.ok_or_else(|| format!("{field}: missing"))?;
    Decimal::from_str(s.trim())
        .or_else(|_| Decimal::from_scientific(s.trim()))
        .map_err(|_| format!("{field}: `{s}` is not a decimal number"))
}

/// The states that need `country_state`.
const STATE_COUNTRIES: [&str; 4] = ["US", "CA", "IT", "AU"];

/// The recipient as Sendcloud spells it (`line1`→`address`, `line2`→
/// `address_2`, `region`→`country_state` where Sendcloud wants one).
pub fn recipient(a: &Address, input: &mut ParcelInput) {
    input.name = clean(&a.name).or_else(|| clean(&a.company));
    input.company_name = clean(&a.company);
    input.address = clean(&a.line1);
    input.address_2 = clean(&a.line2);
    input.city = clean(&a.city);
    input.postal_code = clean(&a.postal_code);
    input.country = clean(&a.country).map(|c| c.to_ascii_uppercase());
    input.country_state = clean(&a.region).filter(|_| {
        input
            .country
            .as_deref()
            .is_some_and(|c| STATE_COUNTRIES.contains(&c))
    });
    input.telephone = clean(&a.phone);
}

/// The `POST /api/v2/parcels` body: the parcel without a label, our
/// reference as `order_number` and as `external_reference` (Sendcloud keeps
/// the latter unique: a second create with it is refused).
pub fn create_request(
    req: &LabelRequest,
    parcel: &ParcelSpec,
    sender_address: Option<i64>,
) -> ParcelRequest {
    let mut input = ParcelInput::default();
    recipient(&req.to, &mut input);
    input.request_label = Some(false);
    input.weight = Some(kg_text(parcel.weight_oz));
    let dims = [parcel.length_in, parcel.width_in, parcel.height_in];
    if dims.iter().all(|d| *d > Decimal::ZERO) {
        input.length = Some(cm_text(dims[0]));
        input.width = Some(cm_text(dims[1]));
        input.height = Some(cm_text(dims[2]));
    }
    let reference = Some(req.reference.trim().to_string()).filter(|r| !r.is_empty());
    input.order_number = reference.clone();
    input.external_reference = reference;
    input.quantity = Some(1);
    input.sender_address = sender_address;
    ParcelRequest { parcel: input }
}

/// The `PUT /api/v2/parcels` body that announces the parcel with a method.
pub fn label_request(parcel_id: i64, method_id: i64) -> ParcelRequest {
    ParcelRequest {
        parcel: ParcelInput {
            id: Some(parcel_id),
            request_label: Some(true),
            shipment: Some(ShipmentRef {
                id: Some(method_id),
                name: None,
            }),
            ..ParcelInput::default()
        },
    }
}

/// Whether `weight_kg` fits the method's bracket (`min <= w < max`, or up to
/// `max` inclusive when Sendcloud writes it as `23.001`).
pub fn method_fits(m: &ShippingMethod, weight_kg: Decimal) -> bool {
    let min = parse_decimal("min_weight", m.min_weight.as_deref()).unwrap_or(Decimal::ZERO);
    let max = match m.max_weight.as_deref() {
        None => return weight_kg >= min,
        Some(t) => match parse_decimal("max_weight", Some(t)) {
            Ok(d) => d,
            Err(_) => return false,
        },
    };
    weight_kg >= min && weight_kg < max
}

/// One shipping method → a rate to `to_country` (`field` names it in errors).
pub fn rate_from_method(
    field: &str,
    m: &ShippingMethod,
    to_country: &str,
    currency: &str,
) -> Result<Rate, String> {
    if m.id.trim().is_empty() {
        return Err(format!("{field}.id: missing"));
    }
    let (i, country) = m
        .countries
        .iter()
        .enumerate()
        .find(|(_, c)| {
            c.iso_2
                .as_deref()
                .is_some_and(|iso| iso.eq_ignore_ascii_case(to_country))
        })
        .ok_or_else(|| format!("{field}.countries: no entry for {to_country}"))?;
    let amount = parse_decimal(
        &format!("{field}.countries[{i}].price"),
        country.price.as_deref(),
    )?;
    if amount < Decimal::ZERO {
        return Err(format!("{field}.countries[{i}].price: negative"));
    }
    let delivery_days = country
        .lead_time_hours
        .filter(|h| *h > 0)
        .and_then(|h| u32::try_from(h.saturating_add(23) / 24).ok());
    Ok(Rate {
        id: m.id.trim().to_string(),
        carrier: m.carrier.clone(),
        service: m.name.clone(),
        amount,
        currency: currency.to_string(),
        delivery_days,
    })
}

/// The rates for a parcel of `weight_kg` to `to_country`: the methods whose
/// weight bracket fits and which serve the country. A method whose price
/// cannot be read is left out (logged) rather than offered with a guess.
pub fn rates_from_methods(
    methods: &[ShippingMethod],
    to_country: &str,
    weight_kg: Decimal,
    currency: &str,
) -> Vec<Rate> {
    let mut out = Vec::new();
    for (i, m) in methods.iter().enumerate() {
        if !method_fits(m, weight_kg) {
            continue;
        }
        match rate_from_method(&format!("shipping_methods[{i}]"), m, to_country, currency) {
            Ok(r) => out.push(r),
            Err(e) => tracing::debug!(error = %e, "Sendcloud shipping method skipped"),
        }
    }
    out
}

/// The parcel's status id, if any.
pub fn status_id(p: &Parcel) -> Option<i64> {
    p.status.as_ref().and_then(|s| s.id)
}

/// The `dpi` a label is asked in from the parcel-documents endpoint: PNG at
/// 300 (its default; 150 and 300 are valid), ZPL at 203 (the thermal
/// printers' resolution; Sendcloud says ZPL is not affected by `dpi`, and
/// client libraries send 203, 300 or 600 with it), PDF at 72 (the only one).
pub fn document_dpi(format: LabelFormat) -> u32 {
    match format {
        LabelFormat::Pdf => 72,
        LabelFormat::Png => 300,
        LabelFormat::Zpl => 203,
    }
}

/// The parcel-documents link of a parcel's label in `format`: the parcel's
/// `documents[type = label].link` (or, in an answer without `documents`,
/// the same path on the host of its label-printer URL:
/// `/api/v2/parcels/{id}/documents/label`) with `dpi`. The format itself is
/// chosen by the `Accept` header of the download, see
/// [`super::client::SendcloudConnector`]'s `label_file`.
pub fn document_url(p: &Parcel, format: LabelFormat) -> Option<String> {
    let linked = p
        .documents
        .iter()
        .find(|d| d.kind == "label")
        .and_then(|d| clean(&d.link))
        .and_then(|l| url::Url::parse(&l).ok());
    let mut url = match linked {
        Some(u) => u,
        None => {
            let printer = p.label.as_ref().and_then(|l| clean(&l.label_printer))?;
            let mut u = url::Url::parse(&printer).ok()?;
            let id = p.id.trim();
            if id.is_empty() {
                return None;
            }
            u.set_query(None);
            u.path_segments_mut().ok()?.clear().extend([
                "api",
                "v2",
                "parcels",
                id,
                "documents",
                "label",
            ]);
            u
        }
    };
    let kept: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| k != "dpi")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    url.query_pairs_mut()
        .clear()
        .extend_pairs(kept)
        .append_pair("dpi", &document_dpi(format).to_string());
    Some(url.to_string())
}

/// The carrier shipment id orderhub holds: the parcel id, followed by `~png`
/// / `~zpl` when the label is not a PDF. The connector keeps nothing between
/// calls, so the format asked in `create_shipment` travels with the id to
/// `buy` and `shipment` (Sendcloud makes one label and serves it in the
/// format the download asks for).
pub fn carrier_shipment_id(parcel_id: &str, format: LabelFormat) -> String {
    match format {
        LabelFormat::Pdf => parcel_id.trim().to_string(),
        other => format!("{}~{}", parcel_id.trim(), other.as_str()),
    }
}

/// Split a carrier shipment id into the parcel id and the label format.
pub fn split_shipment_id(id: &str) -> Result<(&str, LabelFormat), String> {
    let id = id.trim();
    match id.rsplit_once('~') {
        Some((parcel, f)) => Ok((
            parcel,
            LabelFormat::parse(f)
                .ok_or_else(|| format!("shipment id `{id}`: unknown label format `{f}`"))?,
        )),
        None => Ok((id, LabelFormat::Pdf)),
    }
}

/// The label a parcel holds: `None` until it is announced (no tracking
/// number or no label URL; status 999 "No label"). A PDF is the
/// label-printer PDF (one label per page), or the first A4 sheet; PNG and
/// ZPL are the parcel-documents link ([`document_url`]). `price` is what the
/// parcel's method costs (Sendcloud's parcel does not carry it).
pub fn label_from_parcel(
    p: &Parcel,
    price: Option<(Decimal, String)>,
    format: LabelFormat,
) -> Result<Option<PurchasedLabel>, String> {
    if status_id(p) == Some(999) {
        return Ok(None);
    }
    let Some(tracking_code) = clean(&p.tracking_number) else {
        return Ok(None);
    };
    let label_url = match format {
        LabelFormat::Pdf => p.label.as_ref().and_then(|l| {
            clean(&l.label_printer).or_else(|| {
                l.normal_printer
                    .iter()
                    .find(|u| !u.trim().is_empty())
                    .cloned()
            })
        }),
        other => document_url(p, other),
    };
    let Some(label_url) = label_url else {
        return Ok(None);
    };
    let (amount, currency) =
        price.ok_or("shipment: the price of the parcel's shipping method is unknown")?;
    let shipment = p.shipment.as_ref();
    Ok(Some(PurchasedLabel {
        tracking_code,
        label_url,
        carrier: p
            .carrier
            .as_ref()
            .and_then(|c| clean(&c.code))
            .unwrap_or_else(|| "sendcloud".into()),
        service: shipment
            .and_then(|s| clean(&s.name))
            .or_else(|| shipment.and_then(|s| s.id).map(|i| i.to_string()))
            .unwrap_or_default(),
        amount,
        currency,
        tracking_url: clean(&p.tracking_url),
        // Sendcloud cancels by parcel (`POST /api/v2/parcels/{id}/cancel`).
        label_id: p.id.clone(),
        label_format: format,
    }))
}

/// A webhook time: milliseconds since the epoch as Sendcloud sends them
/// (a value that small is taken as seconds).
pub fn webhook_time(field: &str, t: Option<i64>) -> Result<DateTime<Utc>, String> {
    let t = t.ok_or_else(|| format!("{field}: missing"))?;
    let parsed = if t.unsigned_abs() < 100_000_000_000 {
        Utc.timestamp_opt(t, 0).single()
    } else {
        Utc.timestamp_millis_opt(t).single()
    };
    parsed.ok_or_else(|| format!("{field}: `{t}` is not a time"))
}

/// Read a webhook body. `Ok(None)` for actions that carry no tracking
/// (integration changes, returns, ...) and for parcels without a tracking
/// number yet (nothing to follow).
pub fn tracking_update_from_webhook(body: &[u8]) -> Result<Option<TrackingUpdate>, String> {
    let raw: Value =
        serde_json::from_slice(body).map_err(|e| format!("$: not a JSON document: {e}"))?;
    if !raw.is_object() {
        return Err("$: expected a webhook object".into());
    }
    let hook: WebhookBody = decode(&raw, "")?;
    if hook.action.trim().is_empty() {
        return Err("action: missing".into());
    }
    if hook.action != PARCEL_STATUS_CHANGED {
        return Ok(None);
    }
    let parcel = hook
        .parcel
        .as_ref()
        .filter(|p| p.is_object())
        .ok_or("parcel: missing or not an object")?;
    let parcel: Parcel = decode(parcel, "parcel")?;
    let Some(tracking_code) = clean(&parcel.tracking_number) else {
        return Ok(None);
    };
    let status = parcel.status.clone().ok_or("parcel.status: missing")?;
    let id = status.id.ok_or("parcel.status.id: missing")?;
    let message = clean(&status.message);
    let carrier_status = message.clone().unwrap_or_else(|| id.to_string());
    let occurred_at = webhook_time(
        "carrier_status_change_timestamp",
        hook.carrier_status_change_timestamp,
    )
    .or_else(|_| webhook_time("timestamp", hook.timestamp))?;
    let mapped = status_for_id(id);
    Ok(Some(TrackingUpdate {
        tracking_code,
        carrier_shipment_id: Some(parcel.id.clone()).filter(|s| !s.trim().is_empty()),
        status: mapped,
        carrier_status: carrier_status.clone(),
        details: vec![TrackingDetail {
            status: mapped,
            carrier_status,
            message: message
                .map(|m| format!("{m} ({id})"))
                .or(Some(format!("status {id}"))),
            occurred_at,
            location: None,
        }],
        public_url: clean(&parcel.tracking_url),
    }))
}
