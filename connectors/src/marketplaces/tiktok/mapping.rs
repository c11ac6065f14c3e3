//! TikTok Shop order → orderhub `Order`.
//!
//! TikTok lists one line item per unit sold. Units with the same SKU and the
//! same prices and discounts fold into one core line whose quantity is the
//! number of units; its `external_id` is the first unit's line item id (the
//! others are `+`-joined after it, so every unit id stays recoverable).
//! A unit's `original_price` is the unit price; its seller and platform
//! discounts are the line discount, so `total_amount = Σ lines + shipping_fee + tax`.

use super::wire::{LineItem, TtsOrder};
use chrono::{DateTime, Utc};
use orderhub_core::{
    parse_money, Address, Currency, Customer, FulfillmentStatus, MappingError, Order, OrderLine,
    OrderStatus, PaymentStatus,
};
use rust_decimal::Decimal;

pub const CHANNEL: &str = "tiktok";

fn money(field: &str, s: Option<&str>) -> Result<Decimal, MappingError> {
    match s.map(str::trim) {
        None | Some("") => Ok(Decimal::ZERO),
        Some(v) => parse_money(field, v),
    }
}

/// [`parse_money`], naming the field (built only on failure): its checks,
/// then its error again with the name.
fn money_at(field: impl FnOnce() -> String, s: &str) -> Result<Decimal, MappingError> {
    parse_money("", s).or_else(|_| parse_money(&field(), s))
}

/// [`money`], naming the field (built only on failure).
fn opt_money_at(field: impl FnOnce() -> String, s: Option<&str>) -> Result<Decimal, MappingError> {
    match s.map(str::trim) {
        None | Some("") => Ok(Decimal::ZERO),
        Some(v) => money_at(field, v),
    }
}

fn unix(field: &str, secs: i64) -> Result<DateTime<Utc>, MappingError> {
    DateTime::from_timestamp(secs, 0)
        .ok_or_else(|| MappingError::new(field, format!("`{secs}` is not a UNIX time")))
}

/// (order status, payment status, fulfillment status) for a TikTok status.
pub fn statuses(status: &str) -> (OrderStatus, PaymentStatus, FulfillmentStatus) {
    use FulfillmentStatus as F;
    use OrderStatus as O;
    use PaymentStatus as P;
    match status {
        "UNPAID" => (O::Awaiting, P::Pending, F::Unfulfilled),
        // Paid, held by TikTok's fraud window before it can be shipped.
        "ON_HOLD" => (O::Awaiting, P::Paid, F::Unfulfilled),
        // Paid and waiting for the seller to ship: what orderhub routes.
        "AWAITING_SHIPMENT" => (O::Awaiting, P::Paid, F::Unfulfilled),
        "PARTIALLY_SHIPPING" => (O::Processing, P::Paid, F::PartiallyFulfilled),
        "AWAITING_COLLECTION" | "IN_TRANSIT" => (O::Shipped, P::Paid, F::Fulfilled),
        "DELIVERED" | "COMPLETED" => (O::Delivered, P::Paid, F::Fulfilled),
        "CANCELLED" => (O::Cancelled, P::Voided, F::Unfulfilled),
        _ => (O::Exception, P::Unknown, F::Unknown),
    }
}

fn nonblank(s: &Option<String>) -> Option<String> {
    s.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

struct Unit<'a> {
    item: &'a LineItem,
    price: Decimal,
    discount: Decimal,
}

/// Fold per-unit items into lines, keeping first-seen order.
fn fold_lines(items: &[LineItem]) -> Result<Vec<OrderLine>, MappingError> {
    let mut groups: Vec<(Vec<Unit>, String)> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let price = money_at(
            || format!("line_items[{i}].original_price"),
            &item.original_price,
        )?;
        let sale = money_at(|| format!("line_items[{i}].sale_price"), &item.sale_price)?;
        let seller = opt_money_at(
            || format!("line_items[{i}].seller_discount"),
            item.seller_discount.as_deref(),
        )?;
        let platform = opt_money_at(
            || format!("line_items[{i}].platform_discount"),
            item.platform_discount.as_deref(),
        )?;
        let discount = seller + platform;
        if price - discount != sale {
            return Err(MappingError::new(
                format!("line_items[{i}].sale_price"),
                format!("{sale} ≠ original {price} − discounts {discount}"),
            ));
        }
        let key = format!(
            "{}|{}|{price}|{discount}",
            item.sku_id.as_deref().unwrap_or_default(),
            item.seller_sku.as_deref().unwrap_or_default()
        );
        let unit = Unit {
            item,
            price,
            discount,
        };
        match groups.iter_mut().find(|(_, k)| *k == key) {
            Some((units, _)) => units.push(unit),
            None => groups.push((vec![unit], key)),
        }
    }
    Ok(groups
        .into_iter()
        .map(|(units, _)| {
            let first = &units[0];
            let quantity = units.len() as u32;
            let discount: Decimal = units.iter().map(|u| u.discount).sum();
            let ids: Vec<&str> = units.iter().map(|u| u.item.id.as_str()).collect();
            OrderLine {
                external_id: Some(ids.join("+")),
                sku: nonblank(&first.item.seller_sku).or_else(|| nonblank(&first.item.sku_id)),
                title: nonblank(&first.item.product_name).unwrap_or_else(|| "Item".into()),
                quantity,
                unit_price: first.price,
                tax: Decimal::ZERO,
                discount,
                total: first.price * Decimal::from(quantity) - discount,
                grams: None,
                barcode: None,
            }
        })
        .collect())
}

fn address(o: &TtsOrder) -> Option<Address> {
    let a = o.recipient_address.as_ref()?;
    let level = |names: &[&str]| {
        a.district_info
            .iter()
            .find(|d| {
                names
                    .iter()
                    .any(|n| d.address_level_name.eq_ignore_ascii_case(n))
            })
            .map(|d| d.address_name.clone())
    };
    let name = nonblank(&a.name).or_else(|| {
        let joined = format!(
            "{} {}",
            a.first_name.as_deref().unwrap_or_default(),
            a.last_name.as_deref().unwrap_or_default()
        );
        Some(joined.trim().to_string()).filter(|s| !s.is_empty())
    });
    Some(Address {
        name,
        company: None,
        line1: nonblank(&a.address_line1),
        line2: nonblank(&a.address_line2),
        city: level(&["City", "Town"]),
        region: level(&["State", "Province", "Region"]),
        postal_code: nonblank(&a.postal_code),
        // `region_code` is the ISO 3166-1 alpha-2 country (`US`, `GB`).
        country: nonblank(&a.region_code).map(|c| c.to_ascii_uppercase()),
        phone: nonblank(&a.phone_number),
    })
}

impl TryFrom<&TtsOrder> for Order {
    type Error = MappingError;

    fn try_from(o: &TtsOrder) -> Result<Self, MappingError> {
        if o.id.trim().is_empty() {
            return Err(MappingError::new("id", "is empty"));
        }
        let currency = Currency::try_from(o.payment.currency.clone())
            .map_err(|e| MappingError::new("payment.currency", e))?;
        let lines = fold_lines(&o.line_items)?;
        if lines.is_empty() {
            return Err(MappingError::new("line_items", "no line items"));
        }
        let p = &o.payment;
        let shipping = money("payment.shipping_fee", p.shipping_fee.as_deref())?;
        let tax = money("payment.tax", p.tax.as_deref())?;
        let total = parse_money("payment.total_amount", &p.total_amount)?;
        let subtotal: Decimal = lines
            .iter()
            .map(|l| l.unit_price * Decimal::from(l.quantity))
            .sum();
        let discount: Decimal = lines.iter().map(|l| l.discount).sum();
        let (status, payment_status, fulfillment_status) = statuses(&o.status);
        let ship_to = address(o);
        let order = Order {
            channel: CHANNEL.into(),
            external_id: o.id.clone(),
            number: Some(o.id.clone()),
            status,
            payment_status,
            fulfillment_status,
            placed_at: unix("create_time", o.create_time)?,
            updated_at: unix("update_time", o.update_time)?,
            currency,
            subtotal,
            shipping_total: shipping,
            tax_total: tax,
            discount_total: discount,
            total,
            customer: Some(Customer {
                external_id: nonblank(&o.user_id),
                name: ship_to.as_ref().and_then(|a| a.name.clone()),
                email: nonblank(&o.buyer_email),
                phone: ship_to.as_ref().and_then(|a| a.phone.clone()),
            }),
            bill_to: None,
            ship_to,
            shipping_method: nonblank(&o.delivery_option_name),
            lines,
        };
        // An order that does not add up is quarantined rather than stored wrong.
        order
            .check_totals()
            .map_err(|e| MappingError::new("payment.total_amount", e))?;
        Ok(order)
    }
}

/// Map one order as `orders/search` or `orders?ids=` returns it.
pub fn order_from_value(v: &serde_json::Value) -> Result<Order, MappingError> {
    let o: TtsOrder = serde_path_to_error::deserialize(v)
        .map_err(|e| MappingError::new(e.path().to_string(), e.inner().to_string()))?;
    Order::try_from(&o)
}

/// One raw order JSON as the vendor returns it (`orderhub normalize --channel tiktok`).
///
/// The wire type is decoded straight from the text; only a payload that does
/// not decode goes through a `serde_json::Value`, whose errors name the JSON
/// path (so results and errors are exactly [`order_from_value`]'s).
pub fn normalize(raw: &str) -> Result<Order, MappingError> {
    if let Ok(o) = serde_json::from_str::<TtsOrder>(raw) {
        return Order::try_from(&o);
    }
    let v: serde_json::Value =
        serde_json::from_str(raw).map_err(|e| MappingError::new("$", e.to_string()))?;
    order_from_value(&v)
}
