//! Etsy `ShopReceipt` → [`Order`].
//!
//! Money is Etsy's `{amount, divisor, currency_code}`, converted exactly
//! (`amount / divisor`). Transactions are the lines (unit `price` ×
//! `quantity`); `discount_amt` is an order-level coupon discount; tax is
//! `total_tax_cost` plus `total_vat_cost` when `grandtotal` includes it.

use super::wire::{Money, ShopReceipt};
use chrono::{DateTime, TimeZone, Utc};
use orderhub_core::{
    Address, Currency, Customer, FulfillmentStatus, MappingError, Order, OrderLine, OrderStatus,
    PaymentStatus,
};
use rust_decimal::Decimal;
use serde_json::Value;

pub const CHANNEL: &str = "etsy";

/// Map one receipt JSON exactly as Etsy returns it (`orderhub normalize`).
pub fn normalize(raw: &str) -> Result<Order, MappingError> {
    let value: Value =
        serde_json::from_str(raw).map_err(|e| MappingError::new("$", format!("not JSON: {e}")))?;
    order_from_value(&value)
}

/// The receipt id of a raw receipt, for quarantine records.
pub fn external_id_of(raw: &Value) -> Option<String> {
    match raw.get("receipt_id")? {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        _ => None,
    }
}

/// Decode and map one raw receipt, naming the field that failed.
pub fn order_from_value(value: &Value) -> Result<Order, MappingError> {
    let receipt: ShopReceipt = serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        MappingError::new(path, e.into_inner().to_string())
    })?;
    order_from_receipt(&receipt)
}

/// `amount / divisor` exactly, in `currency`.
pub fn money(field: &str, m: &Money, currency: &str) -> Result<Decimal, MappingError> {
    if m.divisor <= 0 {
        return Err(MappingError::new(field, format!("divisor {}", m.divisor)));
    }
    if !m.currency_code.eq_ignore_ascii_case(currency) {
        return Err(MappingError::new(
            field,
            format!("currency {} in a {currency} receipt", m.currency_code),
        ));
    }
    // Powers of ten (the usual 100) give an exact scale; others divide.
    let mut d = m.divisor;
    let mut scale = 0u32;
    while d % 10 == 0 && scale < 28 {
        d /= 10;
        scale += 1;
    }
    if d == 1 {
        Ok(Decimal::new(m.amount, scale))
    } else {
        Decimal::from(m.amount)
            .checked_div(Decimal::from(m.divisor))
            .map(|v| v.normalize())
            .ok_or_else(|| MappingError::new(field, "amount / divisor overflows"))
    }
}

fn unix(field: &str, secs: i64) -> Result<DateTime<Utc>, MappingError> {
    Utc.timestamp_opt(secs, 0)
        .single()
        .ok_or_else(|| MappingError::new(field, format!("{secs} is not a unix time")))
}

fn text(s: &Option<String>) -> Option<String> {
    s.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// Order, payment and fulfillment status from Etsy's `status` and flags.
pub fn statuses(r: &ShopReceipt) -> (OrderStatus, PaymentStatus, FulfillmentStatus) {
    let status = r.status.trim().to_ascii_lowercase();
    let fulfillment = if r.is_shipped {
        FulfillmentStatus::Fulfilled
    } else {
        FulfillmentStatus::Unfulfilled
    };
    let payment = if r.is_paid {
        PaymentStatus::Paid
    } else {
        PaymentStatus::Pending
    };
    match status.as_str() {
        "canceled" | "cancelled" | "fully refunded" => (
            OrderStatus::Cancelled,
            if r.is_paid {
                PaymentStatus::Refunded
            } else {
                PaymentStatus::Voided
            },
            fulfillment,
        ),
        "partially refunded" => (
            if r.is_shipped {
                OrderStatus::Shipped
            } else {
                OrderStatus::Awaiting
            },
            PaymentStatus::PartiallyRefunded,
            fulfillment,
        ),
        _ if r.is_shipped || status == "completed" => {
            (OrderStatus::Shipped, payment, FulfillmentStatus::Fulfilled)
        }
        "paid" => (OrderStatus::Awaiting, PaymentStatus::Paid, fulfillment),
        "open" | "payment processing" => {
            (OrderStatus::Awaiting, PaymentStatus::Pending, fulfillment)
        }
        _ => (OrderStatus::Processing, payment, fulfillment),
    }
}

/// Map a decoded receipt; every result satisfies [`Order::check_totals`].
pub fn order_from_receipt(r: &ShopReceipt) -> Result<Order, MappingError> {
    let currency_code = r.grandtotal.currency_code.trim().to_ascii_uppercase();
    let currency = Currency::try_from(currency_code.clone())
        .map_err(|e| MappingError::new("grandtotal.currency_code", e.to_string()))?;
    let cur = currency_code.as_str();
    let grandtotal = money("grandtotal", &r.grandtotal, cur)?;
    let total_price = money("total_price", &r.total_price, cur)?;
    let shipping = money("total_shipping_cost", &r.total_shipping_cost, cur)?;
    let sales_tax = money("total_tax_cost", &r.total_tax_cost, cur)?;
    let vat = match &r.total_vat_cost {
        Some(m) => money("total_vat_cost", m, cur)?,
        None => Decimal::ZERO,
    };
    let discount = money("discount_amt", &r.discount_amt, cur)?;
    let gift_wrap = match &r.gift_wrap_price {
        Some(m) => money("gift_wrap_price", m, cur)?,
        None => Decimal::ZERO,
    };

    let mut lines = Vec::with_capacity(r.transactions.len());
    for (i, t) in r.transactions.iter().enumerate() {
        let unit = money(&format!("transactions[{i}].price"), &t.price, cur)?;
        lines.push(OrderLine {
            external_id: Some(t.transaction_id.to_string()),
            sku: text(&t.sku),
            title: text(&t.title).unwrap_or_else(|| format!("Transaction {}", t.transaction_id)),
            quantity: t.quantity,
            unit_price: unit,
            // Etsy reports tax per receipt only.
            tax: Decimal::ZERO,
            discount: Decimal::ZERO,
            total: unit * Decimal::from(t.quantity),
            grams: None,
            barcode: None,
        });
    }
    if lines.is_empty() {
        return Err(MappingError::new(
            "transactions",
            "a receipt with no transactions",
        ));
    }
    let line_sum: Decimal = lines.iter().map(|l| l.total).sum();
    if line_sum != total_price {
        return Err(MappingError::new(
            "total_price",
            format!("{total_price} ≠ Σ price × quantity = {line_sum}"),
        ));
    }
    // Gift wrap is a charge beside shipping; orderhub has no own field for it.
    let shipping_total = shipping + gift_wrap;
    // VAT is part of `grandtotal` where Etsy collects it on top; where prices
    // already include it, it is informational and not added again.
    let with_vat = line_sum - discount + shipping_total + sales_tax + vat;
    let tax_total = if with_vat == grandtotal {
        sales_tax + vat
    } else if with_vat - vat == grandtotal {
        sales_tax
    } else {
        return Err(MappingError::new(
            "grandtotal",
            format!(
                "{grandtotal} ≠ total_price {total_price} − discount_amt {discount} + shipping {shipping_total} + tax {sales_tax} (+ VAT {vat})"
            ),
        ));
    };

    let placed_at = unix("create_timestamp", r.create_timestamp)?;
    let updated_at = match r.updated_timestamp.or(r.update_timestamp) {
        Some(t) => unix("updated_timestamp", t)?,
        None => placed_at,
    };
    let (status, payment_status, fulfillment_status) = statuses(r);
    let ship_to = Address {
        name: text(&r.name),
        company: None,
        line1: text(&r.first_line),
        line2: text(&r.second_line),
        city: text(&r.city),
        region: text(&r.state),
        postal_code: text(&r.zip),
        country: text(&r.country_iso).map(|c| c.to_ascii_uppercase()),
        phone: None,
    };
    let has_address = ship_to != Address::default();
    let customer = Customer {
        external_id: r.buyer_user_id.map(|id| id.to_string()),
        name: text(&r.name),
        email: text(&r.buyer_email),
        phone: None,
    };
    let order = Order {
        channel: CHANNEL.to_string(),
        external_id: r.receipt_id.to_string(),
        number: Some(r.receipt_id.to_string()),
        status,
        payment_status,
        fulfillment_status,
        placed_at,
        updated_at,
        currency,
        subtotal: line_sum,
        shipping_total,
        tax_total,
        discount_total: discount,
        total: grandtotal,
        customer: (customer != Customer::default()).then_some(customer),
        ship_to: has_address.then_some(ship_to),
        bill_to: None,
        shipping_method: r.transactions.iter().find_map(|t| text(&t.shipping_method)),
        lines,
    };
    order
        .check_totals()
        .map_err(|e| MappingError::new("grandtotal", e))?;
    Ok(order)
}
