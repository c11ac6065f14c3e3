//! Amazon order (v2026-01-01) → orderhub `Order`.
//!
//! Per item, `product.price.unitPrice` is one unit's price and the item's
//! `proceeds.breakdowns` carry the money by type (`ITEM`, `SHIPPING`, `TAX`,
//! `DISCOUNT`, `GIFT_WRAP`, `COD_FEE`, `OTHER`). Shipping, gift wrap and fees
//! become the order's shipping total; `DISCOUNT` (negative or positive as
//! sent) is the line discount. Order-level proceeds that no item carries
//! (`DELIVERY_TIP`) are added to the shipping total, the only order-level
//! charge orderhub has. The order total is the sum, and must agree with
//! `proceeds.grandTotal` when Amazon sends one.

use super::wire::{AmazonOrder, CustomerAddress, Money, OrderItem};
use chrono::{DateTime, Utc};
use orderhub_core::{
    parse_money, Address, Currency, Customer, FulfillmentStatus, MappingError, Order, OrderLine,
    OrderStatus, PaymentStatus,
};
use rust_decimal::Decimal;
use serde_json::Value;

/// Map one order JSON as `searchOrders`/`getOrder` return it (also accepts a
/// whole `getOrder` answer `{"order": {...}}`).
pub fn normalize(raw: &str) -> Result<Order, MappingError> {
    let value: Value =
        serde_json::from_str(raw).map_err(|e| MappingError::new("$", format!("not JSON: {e}")))?;
    let value = match value.get("order") {
        Some(inner) if value.get("orderId").is_none() => inner.clone(),
        _ => value,
    };
    order_from_value(&value)
}

pub fn order_from_value(value: &Value) -> Result<Order, MappingError> {
    let wire: AmazonOrder = serde_path_to_error::deserialize(value)
        .map_err(|e| MappingError::new(e.path().to_string(), e.inner().to_string()))?;
    order_from_wire(&wire)
}

/// The order id of a raw order, for quarantine records.
pub fn external_id_of(raw: &Value) -> Option<String> {
    raw.get("orderId")?.as_str().map(str::to_string)
}

pub fn parse_time(field: &str, s: &str) -> Result<DateTime<Utc>, MappingError> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| MappingError::new(field, format!("`{s}` is not an ISO 8601 time")))
}

fn money(field: &str, m: &Money, currency: &mut Option<String>) -> Result<Decimal, MappingError> {
    match currency {
        Some(c) if *c != m.currency_code => {
            return Err(MappingError::new(
                field,
                format!("currency {} differs from {c}", m.currency_code),
            ))
        }
        None => *currency = Some(m.currency_code.clone()),
        _ => {}
    }
    parse_money(field, &m.amount)
}

/// Proceeds categories an item carries; the order's breakdowns repeat them
/// as sums.
const ITEM_CATEGORIES: [&str; 7] = [
    "ITEM",
    "SHIPPING",
    "GIFT_WRAP",
    "COD_FEE",
    "OTHER",
    "TAX",
    "DISCOUNT",
];

/// Money of one item, by proceeds type.
struct ItemMoney {
    unit_price: Decimal,
    tax: Decimal,
    discount: Decimal,
    shipping: Decimal,
}

fn item_money(
    i: usize,
    item: &OrderItem,
    currency: &mut Option<String>,
) -> Result<ItemMoney, MappingError> {
    let field = format!("orderItems[{i}]");
    let unit = item
        .product
        .price
        .as_ref()
        .and_then(|p| p.unit_price.as_ref())
        .ok_or_else(|| MappingError::new(format!("{field}.product.price.unitPrice"), "missing"))?;
    let mut m = ItemMoney {
        unit_price: money(&format!("{field}.product.price.unitPrice"), unit, currency)?,
        tax: Decimal::ZERO,
        discount: Decimal::ZERO,
        shipping: Decimal::ZERO,
    };
    let breakdowns = item.proceeds.as_ref().map(|p| p.breakdowns.as_slice());
    for (j, b) in breakdowns.unwrap_or_default().iter().enumerate() {
        let amount = money(
            &format!("{field}.proceeds.breakdowns[{j}].subtotal"),
            &b.subtotal,
            currency,
        )?;
        match b.kind.as_str() {
            "TAX" => m.tax += amount,
            // Amazon reports discounts as a negative subtotal; take either sign.
            "DISCOUNT" => m.discount += amount.abs(),
            "SHIPPING" | "GIFT_WRAP" | "COD_FEE" | "OTHER" => m.shipping += amount,
            _ => {} // ITEM: quantity × unit price, derived below.
        }
    }
    Ok(m)
}

fn non_empty(s: &Option<String>) -> Option<String> {
    s.as_ref()
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

fn address(a: &CustomerAddress) -> Result<Address, MappingError> {
    let country = match non_empty(&a.country_code) {
        Some(c) if c.len() == 2 && c.bytes().all(|b| b.is_ascii_alphabetic()) => {
            Some(c.to_ascii_uppercase())
        }
        Some(c) => {
            return Err(MappingError::new(
                "recipient.deliveryAddress.countryCode",
                format!("`{c}` is not ISO 3166-1 alpha-2"),
            ))
        }
        None => None,
    };
    let line2 = [&a.address_line2, &a.address_line3]
        .iter()
        .filter_map(|l| non_empty(l))
        .collect::<Vec<_>>()
        .join(", ");
    Ok(Address {
        name: non_empty(&a.name),
        company: non_empty(&a.company_name),
        line1: non_empty(&a.address_line1),
        line2: Some(line2).filter(|l| !l.is_empty()),
        city: non_empty(&a.city),
        region: non_empty(&a.state_or_region),
        postal_code: non_empty(&a.postal_code),
        country,
        phone: non_empty(&a.phone),
    })
}

/// orderhub's statuses for Amazon's `fulfillmentStatus`.
pub fn statuses(s: &str) -> (OrderStatus, PaymentStatus, FulfillmentStatus) {
    match s {
        // Payment not yet authorized (PENDING) or a pre-order awaiting stock.
        "PENDING" | "PENDING_AVAILABILITY" => (
            OrderStatus::Awaiting,
            PaymentStatus::Pending,
            FulfillmentStatus::Unfulfilled,
        ),
        // Paid and waiting for the seller to ship: what orderhub routes.
        "UNSHIPPED" => (
            OrderStatus::Awaiting,
            PaymentStatus::Paid,
            FulfillmentStatus::Unfulfilled,
        ),
        "PARTIALLY_SHIPPED" => (
            OrderStatus::Processing,
            PaymentStatus::Paid,
            FulfillmentStatus::PartiallyFulfilled,
        ),
        "SHIPPED" => (
            OrderStatus::Shipped,
            PaymentStatus::Paid,
            FulfillmentStatus::Fulfilled,
        ),
        "CANCELLED" => (
            OrderStatus::Cancelled,
            PaymentStatus::Voided,
            FulfillmentStatus::Unfulfilled,
        ),
        "UNFULFILLABLE" => (
            OrderStatus::Exception,
            PaymentStatus::Unknown,
            FulfillmentStatus::Unknown,
        ),
        _ => (
            OrderStatus::Exception,
            PaymentStatus::Unknown,
            FulfillmentStatus::Unknown,
        ),
    }
}

pub fn order_from_wire(o: &AmazonOrder) -> Result<Order, MappingError> {
    if o.order_items.is_empty() {
        return Err(MappingError::new("orderItems", "an order has no items"));
    }
    let mut currency: Option<String> = None;
    let mut lines = Vec::with_capacity(o.order_items.len());
    let mut shipping_total = Decimal::ZERO;
    for (i, item) in o.order_items.iter().enumerate() {
        let m = item_money(i, item, &mut currency)?;
        shipping_total += m.shipping;
        let quantity = item.quantity_ordered;
        lines.push(OrderLine {
            external_id: Some(item.order_item_id.clone()),
            sku: non_empty(&item.product.seller_sku),
            title: non_empty(&item.product.title)
                .or_else(|| non_empty(&item.product.asin))
                .unwrap_or_else(|| item.order_item_id.clone()),
            quantity,
            unit_price: m.unit_price,
            tax: m.tax,
            discount: m.discount,
            total: Decimal::from(quantity) * m.unit_price - m.discount,
            grams: None,
            barcode: None,
        });
    }
    // Order-level categories that are not aggregates of the items' ones.
    let order_breakdowns = o.proceeds.as_ref().map(|p| p.breakdowns.as_slice());
    for (j, b) in order_breakdowns.unwrap_or_default().iter().enumerate() {
        if !ITEM_CATEGORIES.contains(&b.kind.as_str()) {
            let field = format!("proceeds.breakdowns[{j}].subtotal");
            shipping_total += money(&field, &b.subtotal, &mut currency)?;
        }
    }
    let subtotal: Decimal = lines
        .iter()
        .map(|l| Decimal::from(l.quantity) * l.unit_price)
        .sum();
    let tax_total: Decimal = lines.iter().map(|l| l.tax).sum();
    let discount_total: Decimal = lines.iter().map(|l| l.discount).sum();
    let total = subtotal - discount_total + shipping_total + tax_total;
    if let Some(grand) = o.proceeds.as_ref().and_then(|p| p.grand_total.as_ref()) {
        let grand = money("proceeds.grandTotal", grand, &mut currency)?;
        if grand != total {
            return Err(MappingError::new(
                "proceeds.grandTotal",
                format!("{grand} differs from the items' proceeds {total}"),
            ));
        }
    }
    let currency: Currency = currency
        .unwrap_or_default()
        .parse()
        .map_err(|e: String| MappingError::new("currencyCode", e))?;
    let fulfillment_status = o
        .fulfillment
        .as_ref()
        .map(|f| f.fulfillment_status.as_str())
        .unwrap_or_default();
    let (status, payment_status, fulfillment_status) = statuses(fulfillment_status);
    let ship_to = o
        .recipient
        .as_ref()
        .and_then(|r| r.delivery_address.as_ref())
        .map(address)
        .transpose()?;
    let customer = o.buyer.as_ref().map(|b| Customer {
        external_id: None,
        name: non_empty(&b.buyer_name),
        email: non_empty(&b.buyer_email),
        phone: None,
    });
    Ok(Order {
        channel: "amazon".into(),
        external_id: o.order_id.clone(),
        number: Some(o.order_id.clone()),
        status,
        payment_status,
        fulfillment_status,
        placed_at: parse_time("createdTime", &o.created_time)?,
        updated_at: parse_time("lastUpdatedTime", &o.last_updated_time)?,
        currency,
        subtotal,
        shipping_total,
        tax_total,
        discount_total,
        total,
        customer,
        ship_to,
        // Amazon gives no billing address in the Orders API.
        bill_to: None,
        shipping_method: o
            .fulfillment
            .as_ref()
            .and_then(|f| non_empty(&f.fulfillment_service_level)),
        lines,
    })
}
