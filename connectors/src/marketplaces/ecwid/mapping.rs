//! Ecwid order JSON → core [`Order`].
//!
//! Ecwid orders carry neither a currency nor a weight unit: both are store
//! settings (`GET /profile` → `formatsAndUnits`), passed in as [`StoreFormats`].
//! Amounts are rounded half away from zero to the currency's precision.
//!
//! The money identity: lines (`price` × `quantity`) − discounts + shipping
//! (`shippingOption.shippingRate`, plus the handling fee and custom surcharges,
//! the non-product charges orderhub files with shipping) + `tax` = `total`.
//! Ecwid's own documentation reads two ways on two points: whether `discount`
//! already includes `couponDiscount` (the field table says both), and whether
//! the handling fee is inside `shippingRate` (the documented example's total
//! only adds up if it is). The mapping accepts an order under the first of
//! those readings that balances to the cent, and refuses it otherwise (the
//! order is quarantined, never silently adjusted). Stores with prices that
//! include tax (`pricesIncludeTax`) count tax once: `tax_total` is 0 there and
//! each line keeps its tax for reference.

use super::wire::{EcwidItem, EcwidOrder, Money, PersonInfo};
use chrono::{DateTime, NaiveDateTime, Utc};
use orderhub_core::{
    Address, Currency, Customer, FulfillmentStatus, MappingError, Order, OrderLine, OrderStatus,
    PaymentStatus,
};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::{Decimal, RoundingStrategy};
use serde_json::Value;

pub const CHANNEL: &str = "ecwid";

/// Store settings an order needs to be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreFormats {
    pub currency: Currency,
    /// Decimal places of the currency (`currencyPrecision`, 2 for USD).
    pub precision: u32,
    /// `formatsAndUnits.weightUnit`; `None` leaves `grams` empty.
    pub weight_unit: Option<WeightUnit>,
}

impl Default for StoreFormats {
    /// USD, Ecwid's default store currency; weight unknown.
    fn default() -> Self {
        Self {
            currency: Currency::try_from("USD".to_string()).expect("USD is an ISO 4217 code"),
            precision: 2,
            weight_unit: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeightUnit {
    Kilogram,
    Gram,
    Ounce,
    Pound,
}

impl WeightUnit {
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_uppercase().as_str() {
            "KILOGRAM" => Some(Self::Kilogram),
            "GRAM" => Some(Self::Gram),
            "OUNCE" => Some(Self::Ounce),
            "POUND" => Some(Self::Pound),
            _ => None,
        }
    }

    fn grams_per_unit(self) -> Decimal {
        match self {
            Self::Kilogram => Decimal::from(1000),
            Self::Gram => Decimal::ONE,
            Self::Ounce => Decimal::new(28_349_523_125, 9),
            Self::Pound => Decimal::new(45_359_237, 5),
        }
    }
}

/// Decode a JSON value into a wire type; a decode error names the JSON path.
pub fn decode<T: serde::de::DeserializeOwned>(value: &Value) -> Result<T, MappingError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let problem = e.into_inner().to_string();
        // serde names a missing field in its message, not in the path.
        let missing = problem
            .strip_prefix("missing field `")
            .and_then(|rest| rest.split('`').next())
            .map(str::to_string);
        let field = match (path.as_str(), missing) {
            ("" | ".", Some(name)) => name,
            ("" | ".", None) => "$".to_string(),
            (p, Some(name)) => format!("{p}.{name}"),
            (p, None) => p.to_string(),
        };
        MappingError::new(field, problem)
    })
}

/// The order's id from a raw order, when readable: for quarantine records.
pub fn external_id_of(raw: &Value) -> Option<String> {
    match raw.get("id") {
        Some(Value::String(s)) if !s.trim().is_empty() => return Some(s.trim().to_string()),
        _ => {}
    }
    match raw.get("orderNumber") {
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_string()),
        _ => None,
    }
}

/// `orderhub normalize --channel ecwid FILE`: one order as Ecwid returns it.
/// The file carries no store settings, so the store is taken to be in USD
/// (Ecwid's default) with an unknown weight unit.
pub fn normalize(raw: &str) -> Result<Order, MappingError> {
    let value: Value =
        serde_json::from_str(raw).map_err(|e| MappingError::new("$", format!("not JSON: {e}")))?;
    order_from_value(&value, &StoreFormats::default())
}

/// Map one raw Ecwid order.
pub fn order_from_value(value: &Value, formats: &StoreFormats) -> Result<Order, MappingError> {
    let o: EcwidOrder = decode(value)?;
    order_from_wire(&o, formats)
}

/// Rounded to the currency's places and written with exactly that many
/// (`10` → `10.00`), as money is shown.
fn round(m: Decimal, precision: u32) -> Decimal {
    let mut r = m.round_dp_with_strategy(precision, RoundingStrategy::MidpointAwayFromZero);
    r.rescale(precision);
    r
}

fn non_empty(s: &Option<String>) -> Option<String> {
    s.as_ref()
        .map(|v| v.trim())
        .filter(|v| !v.is_empty())
        .map(str::to_string)
}

/// `2024-06-06 08:00:26 +0000` (Ecwid's date format) or, failing that, the
/// matching UNIX timestamp field.
fn ecwid_time(
    field: &str,
    date: &Option<String>,
    timestamp: Option<i64>,
) -> Result<DateTime<Utc>, MappingError> {
    if let Some(s) = non_empty(date) {
        return parse_ecwid_date(&s)
            .ok_or_else(|| MappingError::new(field, format!("`{s}` is not an Ecwid date")));
    }
    let ts_field = field.replace("Date", "Timestamp");
    let ts = timestamp.ok_or_else(|| MappingError::new(field, "missing"))?;
    DateTime::from_timestamp(ts, 0)
        .ok_or_else(|| MappingError::new(ts_field, format!("{ts} is out of range")))
}

/// Ecwid's `yyyy-MM-dd HH:mm:ss Z` (also accepted without the zone, as UTC).
pub fn parse_ecwid_date(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    DateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S %z")
        .map(|t| t.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S")
                .ok()
                .map(|n| n.and_utc())
        })
}

/// Ecwid's date format for `t`.
pub fn format_ecwid_date(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S +0000").to_string()
}

fn country(field: &str, code: &Option<String>) -> Result<Option<String>, MappingError> {
    match non_empty(code) {
        None => Ok(None),
        Some(c) if c.len() == 2 && c.bytes().all(|b| b.is_ascii_alphabetic()) => {
            Ok(Some(c.to_ascii_uppercase()))
        }
        Some(c) => Err(MappingError::new(
            field,
            format!("`{c}` is not an ISO 3166-1 alpha-2 country code"),
        )),
    }
}

fn person_name(p: &PersonInfo) -> Option<String> {
    non_empty(&p.name).or_else(|| {
        let joined = [non_empty(&p.first_name), non_empty(&p.last_name)]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
        (!joined.is_empty()).then_some(joined)
    })
}

fn address(field: &str, p: &Option<PersonInfo>) -> Result<Option<Address>, MappingError> {
    let Some(p) = p else { return Ok(None) };
    let street = non_empty(&p.street).unwrap_or_default();
    let mut street_lines = street.split('\n').map(str::trim).filter(|l| !l.is_empty());
    let line1 = street_lines.next().map(str::to_string);
    let rest: Vec<&str> = street_lines.collect();
    let line2 = (!rest.is_empty()).then(|| rest.join(", "));
    let a = Address {
        name: person_name(p),
        company: non_empty(&p.company_name),
        line1,
        line2,
        city: non_empty(&p.city),
        region: non_empty(&p.state_or_province_code)
            .or_else(|| non_empty(&p.state_or_province_name)),
        postal_code: non_empty(&p.postal_code),
        country: country(&format!("{field}.countryCode"), &p.country_code)?,
        phone: non_empty(&p.phone),
    };
    Ok((a != Address::default()).then_some(a))
}

fn line(i: usize, item: &EcwidItem, formats: &StoreFormats) -> Result<OrderLine, MappingError> {
    let f = |name: &str| format!("items[{i}].{name}");
    if item.quantity == 0 {
        return Err(MappingError::new(f("quantity"), "must be at least 1"));
    }
    let p = formats.precision;
    let unit_price = round(item.price.0, p);
    if unit_price.is_sign_negative() {
        return Err(MappingError::new(f("price"), "is negative"));
    }
    let grams = match (formats.weight_unit, item.weight) {
        (Some(unit), Some(Money(w))) if w > Decimal::ZERO => (w * unit.grams_per_unit())
            .round()
            .to_u32()
            .filter(|g| *g > 0),
        _ => None,
    };
    let title = non_empty(&item.name)
        .or_else(|| non_empty(&item.sku))
        .ok_or_else(|| MappingError::new(f("name"), "missing"))?;
    Ok(OrderLine {
        external_id: item.id.map(|id| id.to_string()),
        sku: non_empty(&item.sku),
        title,
        quantity: item.quantity,
        unit_price,
        tax: round(item.tax.unwrap_or_default().0, p),
        discount: Decimal::ZERO,
        total: unit_price * Decimal::from(item.quantity),
        grams,
        barcode: None,
    })
}

/// orderhub's status for Ecwid's payment and fulfillment statuses.
pub fn order_status(payment: &str, fulfillment: &str) -> OrderStatus {
    let not_shipped = matches!(fulfillment, "AWAITING_PROCESSING" | "PROCESSING" | "");
    match (payment, fulfillment) {
        ("CANCELLED", _) => OrderStatus::Cancelled,
        ("REFUNDED", _) if not_shipped => OrderStatus::Cancelled,
        (_, "WILL_NOT_DELIVER") => OrderStatus::Cancelled,
        (_, "AWAITING_PROCESSING") => OrderStatus::Awaiting,
        (_, "SHIPPED" | "OUT_FOR_DELIVERY") => OrderStatus::Shipped,
        (_, "DELIVERED") => OrderStatus::Delivered,
        // Goods came back after shipping: someone has to look at it.
        (_, "RETURNED") => OrderStatus::Exception,
        // PROCESSING, READY_FOR_PICKUP (a local pickup order the merchant hands
        // over) and the merchant's own CUSTOM_FULFILLMENT_STATUS_n: in hand.
        _ => OrderStatus::Processing,
    }
}

pub fn payment_status(s: &str) -> PaymentStatus {
    match s {
        "AWAITING_PAYMENT" | "INCOMPLETE" => PaymentStatus::Pending,
        "PAID" => PaymentStatus::Paid,
        "CANCELLED" => PaymentStatus::Voided,
        "REFUNDED" => PaymentStatus::Refunded,
        "PARTIALLY_REFUNDED" => PaymentStatus::PartiallyRefunded,
        _ => PaymentStatus::Unknown,
    }
}

pub fn fulfillment_status(s: &str) -> FulfillmentStatus {
    match s {
        "AWAITING_PROCESSING" | "PROCESSING" | "READY_FOR_PICKUP" | "WILL_NOT_DELIVER" => {
            FulfillmentStatus::Unfulfilled
        }
        "SHIPPED" | "OUT_FOR_DELIVERY" | "DELIVERED" => FulfillmentStatus::Fulfilled,
        _ => FulfillmentStatus::Unknown,
    }
}

pub fn order_from_wire(o: &EcwidOrder, formats: &StoreFormats) -> Result<Order, MappingError> {
    let external_id = non_empty(&o.id)
        .or_else(|| match &o.order_number {
            Some(Value::Number(n)) => Some(n.to_string()),
            Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_string()),
            _ => None,
        })
        .ok_or_else(|| MappingError::new("id", "missing (and no orderNumber)"))?;
    let p = formats.precision;
    let money = |m: &Option<Money>| round(m.unwrap_or_default().0, p);

    let lines = o
        .items
        .iter()
        .enumerate()
        .map(|(i, item)| line(i, item, formats))
        .collect::<Result<Vec<_>, _>>()?;
    let lines_total: Decimal = lines.iter().map(|l| l.total).sum();

    // A gift card pays for the order; it does not make it cheaper.
    let total = match (o.gift_card_redemption, o.total_before_gift_card_redemption) {
        (Some(Money(g)), Some(before)) if g > Decimal::ZERO => round(before.0, p),
        _ => round(o.total.0, p),
    };
    let gross = o.prices_include_tax.unwrap_or(false);
    let tax_total = if gross { Decimal::ZERO } else { money(&o.tax) };
    let rate = o
        .shipping_option
        .as_ref()
        .map(|s| money(&s.shipping_rate))
        .unwrap_or_default();
    let handling = o
        .handling_fee
        .as_ref()
        .map(|h| money(&h.value))
        .unwrap_or_default();
    let surcharges: Decimal = o.custom_surcharges.iter().map(|s| money(&s.total)).sum();
    let coupon = money(&o.coupon_discount);
    let discount = money(&o.discount);

    // The documented readings, most literal first (see the module docs).
    let readings = [
        (discount + coupon, rate + handling + surcharges),
        (discount, rate + handling + surcharges),
        (discount + coupon, rate + surcharges),
        (discount, rate + surcharges),
    ];
    let balanced = readings
        .iter()
        .find(|(d, s)| lines_total - *d + *s + tax_total == total);
    let Some(&(discount_total, shipping_total)) = balanced else {
        let (d, s) = readings[0];
        return Err(MappingError::new(
            "total",
            format!(
                "Ecwid's total {total} does not add up: items {lines_total} − discounts {d} + shipping and fees {s} + tax {tax_total} = {}",
                lines_total - d + s + tax_total
            ),
        ));
    };

    let payment = o.payment_status.as_deref().unwrap_or("").trim().to_string();
    let fulfillment = o
        .fulfillment_status
        .as_deref()
        .unwrap_or("")
        .trim()
        .to_string();
    let ship_to = address("shippingPerson", &o.shipping_person)?;
    let bill_to = address("billingPerson", &o.billing_person)?;
    let named = o
        .billing_person
        .as_ref()
        .and_then(person_name)
        .or_else(|| o.shipping_person.as_ref().and_then(person_name));
    let phone = o
        .billing_person
        .as_ref()
        .and_then(|b| non_empty(&b.phone))
        .or_else(|| o.shipping_person.as_ref().and_then(|s| non_empty(&s.phone)));
    let customer = Customer {
        external_id: o.customer_id.map(|c| c.to_string()),
        name: named,
        email: non_empty(&o.email),
        phone,
    };
    let placed_at = ecwid_time("createDate", &o.create_date, o.create_timestamp)?;
    let updated_at = ecwid_time("updateDate", &o.update_date, o.update_timestamp)?;
    Ok(Order {
        channel: CHANNEL.to_string(),
        number: non_empty(&o.vendor_order_number).or_else(|| Some(external_id.clone())),
        external_id,
        status: order_status(&payment, &fulfillment),
        payment_status: payment_status(&payment),
        fulfillment_status: fulfillment_status(&fulfillment),
        placed_at,
        updated_at,
        currency: formats.currency.clone(),
        subtotal: o.subtotal.map(|s| round(s.0, p)).unwrap_or(lines_total),
        shipping_total,
        tax_total,
        discount_total,
        total,
        customer: (customer != Customer::default()).then_some(customer),
        ship_to,
        bill_to,
        shipping_method: o
            .shipping_option
            .as_ref()
            .and_then(|s| non_empty(&s.shipping_method_name)),
        lines,
    })
}
