//! WooCommerce order JSON → [`Order`].
//!
//! Money: WooCommerce keeps line `subtotal` (before coupons) and `total` (after
//! coupons) tax-excluded even when the shop enters prices with tax
//! (`prices_include_tax`), and `total_tax` holds every tax (lines, shipping,
//! fees). So `total = Σ line totals + fees + shipping_total + total_tax`, which is
//! orderhub's identity with:
//! - a line's discount = `subtotal − total` (coupons are spread over the lines),
//!   its unit price = `subtotal / quantity` (the `price` number when it agrees);
//! - a positive fee = one more line (quantity 1, no sku); a negative fee = an
//!   order-level discount;
//! - `tax_total = total_tax`, `shipping_total` as sent.
//!
//! An order that does not add up is refused (quarantined), not patched.
//!
//! Statuses (WooCommerce → orderhub status / payment / fulfillment):
//! - `pending` (awaiting payment) → awaiting / pending / unfulfilled;
//! - `processing` (paid, to be shipped) → awaiting / paid / unfulfilled;
//! - `on-hold` (awaiting payment confirmation, e.g. bank transfer) → awaiting /
//!   paid when `date_paid_gmt` is set, else pending / unfulfilled;
//! - `completed` → shipped / paid / fulfilled;
//! - `cancelled` → cancelled / voided (refunded if it had been paid) / unfulfilled;
//! - `refunded` → cancelled / refunded / unknown (it may have shipped);
//! - `failed` (payment failed or declined) → exception / voided / unfulfilled:
//!   not cancelled, because the buyer may still pay and WooCommerce then moves it
//!   to processing, which orderhub must be able to follow;
//! - `trash` → cancelled / unknown / unknown;
//! - `checkout-draft` (block checkout in progress) → awaiting / pending / unfulfilled.
//!
//! Any other (plugin) status is refused with its name. Refunds on an order that is
//! not `refunded` make the payment `partially_refunded`.
//!
//! Times: `date_created_gmt` / `date_modified_gmt` (UTC without a suffix).

use super::wire::{WcAddress, WcOrder};
use chrono::{DateTime, NaiveDateTime, Utc};
use orderhub_core::{
    parse_money, Address, Currency, Customer, FulfillmentStatus, MappingError, Order, OrderLine,
    OrderStatus, PaymentStatus,
};
use rust_decimal::Decimal;
use serde_json::Value;

pub const CHANNEL: &str = "woocommerce";

/// Map one order JSON exactly as WooCommerce returns it (for `orderhub normalize`).
pub fn normalize(raw: &str) -> Result<Order, MappingError> {
    let value: Value =
        serde_json::from_str(raw).map_err(|e| MappingError::new("$", format!("not JSON: {e}")))?;
    order_from_value(&value)
}

/// Map one order from its JSON value (one item of a list page, a webhook body).
pub fn order_from_value(value: &Value) -> Result<Order, MappingError> {
    let order: WcOrder = serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        MappingError::new(path, e.into_inner().to_string())
    })?;
    order_from_wire(&order)
}

/// The order id of a raw order JSON, even one that does not map (for quarantine).
pub fn external_id_of(value: &Value) -> Option<String> {
    match value.get("id")? {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

/// A WooCommerce GMT date (`2017-03-22T19:28:02`; a `Z` or offset is tolerated).
pub fn parse_gmt(field: &str, s: &str) -> Result<DateTime<Utc>, MappingError> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S")
        .map(|n| n.and_utc())
        .map_err(|_| MappingError::new(field, format!("`{s}` is not a GMT date-time")))
}

/// The statuses orderhub derives from WooCommerce's one status word.
pub fn statuses(
    status: &str,
    paid: bool,
) -> Option<(OrderStatus, PaymentStatus, FulfillmentStatus)> {
    use FulfillmentStatus as F;
    use OrderStatus as O;
    use PaymentStatus as P;
    Some(match status {
        "pending" | "checkout-draft" => (O::Awaiting, P::Pending, F::Unfulfilled),
        "processing" => (O::Awaiting, P::Paid, F::Unfulfilled),
        "on-hold" if paid => (O::Awaiting, P::Paid, F::Unfulfilled),
        "on-hold" => (O::Awaiting, P::Pending, F::Unfulfilled),
        "completed" => (O::Shipped, P::Paid, F::Fulfilled),
        "cancelled" if paid => (O::Cancelled, P::Refunded, F::Unfulfilled),
        "cancelled" => (O::Cancelled, P::Voided, F::Unfulfilled),
        "refunded" => (O::Cancelled, P::Refunded, F::Unknown),
        "failed" => (O::Exception, P::Voided, F::Unfulfilled),
        "trash" => (O::Cancelled, P::Unknown, F::Unknown),
        _ => return None,
    })
}

fn non_empty(s: &Option<String>) -> Option<String> {
    s.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

fn full_name(a: &WcAddress) -> Option<String> {
    let name = [non_empty(&a.first_name), non_empty(&a.last_name)]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    (!name.is_empty()).then_some(name)
}

fn address(a: &WcAddress, field: &str) -> Result<Option<Address>, MappingError> {
    let country = non_empty(&a.country).map(|c| c.to_ascii_uppercase());
    if let Some(c) = &country {
        if c.len() != 2 || !c.bytes().all(|b| b.is_ascii_alphabetic()) {
            return Err(MappingError::new(
                format!("{field}.country"),
                format!("`{c}` is not an ISO 3166-1 alpha-2 code"),
            ));
        }
    }
    let addr = Address {
        name: full_name(a),
        company: non_empty(&a.company),
        line1: non_empty(&a.address_1),
        line2: non_empty(&a.address_2),
        city: non_empty(&a.city),
        region: non_empty(&a.state),
        postal_code: non_empty(&a.postcode),
        country,
        phone: non_empty(&a.phone),
    };
    // Virtual orders carry an all-empty shipping block: no address at all.
    Ok((addr != Address::default()).then_some(addr))
}

/// A line `price` as its JSON text (a number, or a string as the reference
/// table says), never through f64 arithmetic.
fn price_of(field: &str, v: &Value) -> Result<Decimal, MappingError> {
    match v {
        Value::Number(n) => {
            let text = n.to_string();
            text.parse::<Decimal>()
                .or_else(|_| Decimal::from_scientific(&text))
                .map_err(|_| MappingError::new(field, format!("`{text}` is not a decimal price")))
        }
        Value::String(s) => parse_money(field, s),
        other => Err(MappingError::new(
            field,
            format!("expected a number, got {other}"),
        )),
    }
}

/// `subtotal / quantity` when it is exact within four more decimals
/// (6.00 / 4 = 1.50, 1.00 / 8 = 0.125); `None` for 10.00 / 3. Decimal division
/// rounds at 28 digits, so exactness is checked on the integer mantissa.
fn exact_unit(subtotal: Decimal, quantity: u32) -> Option<Decimal> {
    let q = i128::from(quantity);
    (0..=4u32).find_map(|extra| {
        let scale = subtotal.scale() + extra;
        let m = subtotal
            .mantissa()
            .checked_mul(10i128.checked_pow(extra)?)?;
        if m % q != 0 {
            return None;
        }
        Decimal::try_from_i128_with_scale(m / q, scale).ok()
    })
}

pub fn order_from_wire(o: &WcOrder) -> Result<Order, MappingError> {
    let money = |field: &str, s: &str| parse_money(field, s);
    let currency: Currency = o
        .currency
        .parse()
        .map_err(|e: String| MappingError::new("currency", e))?;
    let placed_at = parse_gmt(
        "date_created_gmt",
        o.date_created_gmt
            .as_deref()
            .ok_or_else(|| MappingError::new("date_created_gmt", "missing"))?,
    )?;
    let updated_at = match o.date_modified_gmt.as_deref() {
        Some(s) => parse_gmt("date_modified_gmt", s)?,
        None => placed_at,
    };
    let paid = o
        .date_paid_gmt
        .as_deref()
        .is_some_and(|s| !s.trim().is_empty());
    let (status, mut payment_status, fulfillment_status) =
        statuses(&o.status, paid).ok_or_else(|| {
            MappingError::new(
                "status",
                format!(
                    "unknown order status `{}`",
                    o.status.chars().take(40).collect::<String>()
                ),
            )
        })?;
    if !o.refunds.is_empty() && payment_status == PaymentStatus::Paid {
        payment_status = PaymentStatus::PartiallyRefunded;
    }

    let mut lines = Vec::with_capacity(o.line_items.len() + o.fee_lines.len());
    for (i, li) in o.line_items.iter().enumerate() {
        let f = |name: &str| format!("line_items[{i}].{name}");
        let quantity = u32::try_from(li.quantity)
            .ok()
            .filter(|q| *q > 0)
            .ok_or_else(|| {
                MappingError::new(
                    f("quantity"),
                    format!("`{}` is not a positive quantity", li.quantity),
                )
            })?;
        let qty = Decimal::from(quantity);
        let subtotal = money(&f("subtotal"), &li.subtotal)?;
        let total = money(&f("total"), &li.total)?;
        let tax = money(&f("total_tax"), &li.total_tax)?;
        let price = li
            .price
            .as_ref()
            .filter(|v| !v.is_null())
            .map(|v| price_of(&f("price"), v))
            .transpose()?;
        // The unit price that makes quantity × unit = subtotal exactly; when the
        // subtotal does not divide (10.00 for 3), round it and let the line
        // discount absorb the cents so the line still adds up to WooCommerce's total.
        let unit_price = match price {
            Some(p) if p * qty == subtotal => p,
            _ => exact_unit(subtotal, quantity).unwrap_or_else(|| (subtotal / qty).round_dp(2)),
        };
        let discount = unit_price * qty - total;
        lines.push(OrderLine {
            external_id: Some(li.id.to_string()),
            sku: non_empty(&li.sku),
            title: li.name.clone(),
            quantity,
            unit_price,
            tax,
            discount,
            total,
            grams: None,
            barcode: None,
        });
    }
    let mut fee_discount = Decimal::ZERO;
    for (i, fee) in o.fee_lines.iter().enumerate() {
        let total = money(&format!("fee_lines[{i}].total"), &fee.total)?;
        let tax = money(&format!("fee_lines[{i}].total_tax"), &fee.total_tax)?;
        if total >= Decimal::ZERO {
            lines.push(OrderLine {
                external_id: Some(format!("fee-{}", fee.id)),
                sku: None,
                title: fee.name.clone(),
                quantity: 1,
                unit_price: total,
                tax,
                discount: Decimal::ZERO,
                total,
                grams: None,
                barcode: None,
            });
        } else {
            fee_discount -= total;
        }
    }

    let shipping_total = money("shipping_total", &o.shipping_total)?;
    let tax_total = money("total_tax", &o.total_tax)?;
    let total = money("total", &o.total)?;
    // Validated even though the lines carry the coupon amounts: a spoiled
    // discount_total is a spoiled order.
    let _coupons = money("discount_total", &o.discount_total)?;
    let line_discounts: Decimal = lines.iter().map(|l| l.discount).sum();
    let subtotal: Decimal = lines.iter().map(|l| l.total).sum();

    let billing = o.billing.clone().unwrap_or_default();
    let customer = Customer {
        external_id: o.customer_id.filter(|id| *id > 0).map(|id| id.to_string()),
        name: full_name(&billing),
        email: non_empty(&billing.email),
        phone: non_empty(&billing.phone),
    };
    let shipping_method = {
        let titles: Vec<&str> = o
            .shipping_lines
            .iter()
            .map(|s| s.method_title.trim())
            .filter(|s| !s.is_empty())
            .collect();
        (!titles.is_empty()).then(|| titles.join(", "))
    };

    let order = Order {
        channel: CHANNEL.to_string(),
        external_id: o.id.to_string(),
        number: non_empty(&o.number).or_else(|| Some(o.id.to_string())),
        status,
        payment_status,
        fulfillment_status,
        placed_at,
        updated_at,
        currency,
        subtotal,
        shipping_total,
        tax_total,
        discount_total: line_discounts + fee_discount,
        total,
        customer: (customer != Customer::default()).then_some(customer),
        ship_to: match &o.shipping {
            Some(a) => address(a, "shipping")?,
            None => None,
        },
        bill_to: address(&billing, "billing")?,
        shipping_method,
        lines,
    };
    order
        .check_totals()
        .map_err(|problem| MappingError::new("total", problem))?;
    Ok(order)
}
