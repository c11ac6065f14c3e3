//! Shopify wire → core [`Order`].
//!
//! Both shapes map here: a GraphQL `Order` node and the REST/webhook order JSON.
//! Money stays exact (decimal strings), countries are ISO 3166-1 alpha-2, and every
//! error is a [`MappingError`] naming the Shopify field that was wrong.

use super::wire::{
    GqlLineItem, GqlOrder, MailingAddress, MoneyBag, RestAddress, RestLineItem, RestOrder, StrOrNum,
};
use chrono::{DateTime, Utc};
use orderhub_core::{
    parse_money, Address, Currency, Customer, FulfillmentStatus, MappingError, Order, OrderLine,
    OrderStatus, PaymentStatus,
};
use rust_decimal::Decimal;
use serde::de::{DeserializeOwned, IgnoredAny};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;

pub const CHANNEL: &str = "shopify";

/// Decode a JSON value into a wire type; a decode error names the JSON path.
pub fn decode<T: DeserializeOwned>(value: &Value) -> Result<T, MappingError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let field = if path.is_empty() || path == "." {
            "$".to_string()
        } else {
            path
        };
        MappingError::new(field, e.into_inner().to_string())
    })
}

/// The numeric tail of a Shopify global id (`gid://shopify/Order/1001` → `1001`).
pub fn gid_tail(gid: &str) -> Option<&str> {
    let tail = gid.rsplit('/').next()?;
    let tail = tail.split('?').next()?;
    (!tail.is_empty() && tail.bytes().all(|b| b.is_ascii_digit())).then_some(tail)
}

/// The order's numeric id from a raw node or REST body, when readable: for
/// quarantine records.
pub fn external_id_of(raw: &Value) -> Option<String> {
    let raw = raw.get("order").filter(|o| o.is_object()).unwrap_or(raw);
    if let Some(v) = raw.get("legacyResourceId") {
        match v {
            Value::String(s) if !s.is_empty() => return Some(s.clone()),
            Value::Number(n) => return Some(n.to_string()),
            _ => {}
        }
    }
    match raw.get("id") {
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(Value::String(s)) => gid_tail(s)
            .map(str::to_string)
            .or_else(|| (!s.is_empty() && !s.contains('/')).then(|| s.clone())),
        _ => None,
    }
}

fn parse_time(field: &str, value: Option<&str>) -> Result<DateTime<Utc>, MappingError> {
    let s = value.ok_or_else(|| MappingError::new(field, "missing"))?;
    DateTime::parse_from_rfc3339(s.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| MappingError::new(field, format!("`{s}` is not an RFC 3339 time")))
}

fn parse_opt_time(field: &str, value: Option<&str>) -> Result<Option<DateTime<Utc>>, MappingError> {
    match value {
        None => Ok(None),
        Some(s) if s.trim().is_empty() => Ok(None),
        Some(s) => parse_time(field, Some(s)).map(Some),
    }
}

fn currency(field: &str, code: &str) -> Result<Currency, MappingError> {
    Currency::try_from(code.trim().to_string()).map_err(|e| MappingError::new(field, e))
}

fn non_empty(s: &Option<String>) -> Option<String> {
    s.as_ref()
        .map(|v| v.trim())
        .filter(|v| !v.is_empty())
        .map(str::to_string)
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

fn full_name(
    name: &Option<String>,
    first: &Option<String>,
    last: &Option<String>,
) -> Option<String> {
    non_empty(name).or_else(|| {
        let joined = [non_empty(first), non_empty(last)]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
        (!joined.is_empty()).then_some(joined)
    })
}

/// A `MoneyBag`'s shop amount, checked against the order currency. `None` when
/// the whole bag is absent.
fn money_bag(
    field: &str,
    bag: &Option<MoneyBag>,
    order_currency: &Currency,
) -> Result<Option<Decimal>, MappingError> {
    let Some(bag) = bag else { return Ok(None) };
    let money = bag
        .shop_money
        .as_ref()
        .ok_or_else(|| MappingError::new(format!("{field}.shopMoney"), "missing"))?;
    let amount_field = format!("{field}.shopMoney.amount");
    let amount = money
        .amount
        .as_ref()
        .ok_or_else(|| MappingError::new(&amount_field, "missing"))?;
    let value = parse_money(&amount_field, &amount.text())?;
    let code_field = format!("{field}.shopMoney.currencyCode");
    match money.currency_code.as_deref() {
        None => Err(MappingError::new(code_field, "missing")),
        Some(code) if code.trim() != order_currency.as_str() => Err(MappingError::new(
            code_field,
            format!(
                "`{code}` differs from the order currency {}",
                order_currency.as_str()
            ),
        )),
        Some(_) => Ok(Some(value)),
    }
}

fn gql_payment_status(s: Option<&str>) -> PaymentStatus {
    match s.unwrap_or_default() {
        "PAID" => PaymentStatus::Paid,
        "PENDING" => PaymentStatus::Pending,
        "AUTHORIZED" => PaymentStatus::Authorized,
        "PARTIALLY_PAID" => PaymentStatus::PartiallyPaid,
        "PARTIALLY_REFUNDED" => PaymentStatus::PartiallyRefunded,
        "REFUNDED" => PaymentStatus::Refunded,
        "VOIDED" | "EXPIRED" => PaymentStatus::Voided,
        _ => PaymentStatus::Unknown,
    }
}

fn gql_fulfillment_status(s: Option<&str>) -> FulfillmentStatus {
    match s.unwrap_or_default() {
        "FULFILLED" => FulfillmentStatus::Fulfilled,
        "PARTIALLY_FULFILLED" => FulfillmentStatus::PartiallyFulfilled,
        "UNFULFILLED"
        | "OPEN"
        | "IN_PROGRESS"
        | "PENDING_FULFILLMENT"
        | "ON_HOLD"
        | "SCHEDULED"
        | "REQUEST_DECLINED" => FulfillmentStatus::Unfulfilled,
        "RESTOCKED" => FulfillmentStatus::Restocked,
        _ => FulfillmentStatus::Unknown,
    }
}

fn gql_order_status(cancelled: bool, fulfillment: Option<&str>) -> OrderStatus {
    if cancelled {
        return OrderStatus::Cancelled;
    }
    match fulfillment.unwrap_or_default() {
        "FULFILLED" => OrderStatus::Shipped,
        "PARTIALLY_FULFILLED" | "IN_PROGRESS" => OrderStatus::Processing,
        _ => OrderStatus::Awaiting,
    }
}

fn gql_address(field: &str, a: &Option<MailingAddress>) -> Result<Option<Address>, MappingError> {
    let Some(a) = a else { return Ok(None) };
    Ok(Some(Address {
        name: full_name(&a.name, &a.first_name, &a.last_name),
        company: non_empty(&a.company),
        line1: non_empty(&a.address1),
        line2: non_empty(&a.address2),
        city: non_empty(&a.city),
        region: non_empty(&a.province_code).or_else(|| non_empty(&a.province)),
        postal_code: non_empty(&a.zip),
        country: country(&format!("{field}.countryCodeV2"), &a.country_code_v2)?,
        phone: non_empty(&a.phone),
    }))
}

fn quantity(field: &str, q: Option<i64>) -> Result<u32, MappingError> {
    let q = q.ok_or_else(|| MappingError::new(field, "missing"))?;
    u32::try_from(q).map_err(|_| MappingError::new(field, format!("{q} is not a valid quantity")))
}

fn gql_line(index: usize, line: &GqlLineItem, cur: &Currency) -> Result<OrderLine, MappingError> {
    let f = |name: &str| format!("lineItems.nodes[{index}].{name}");
    let qty = quantity(&f("quantity"), line.quantity)?;
    let unit_price = money_bag(
        &f("originalUnitPriceSet"),
        &line.original_unit_price_set,
        cur,
    )?
    .ok_or_else(|| MappingError::new(f("originalUnitPriceSet"), "missing"))?;
    let discount =
        money_bag(&f("totalDiscountSet"), &line.total_discount_set, cur)?.unwrap_or_default();
    let mut tax = Decimal::ZERO;
    for (i, t) in line.tax_lines.iter().enumerate() {
        tax += money_bag(&f(&format!("taxLines[{i}].priceSet")), &t.price_set, cur)?
            .unwrap_or_default();
    }
    let title = non_empty(&line.title)
        .or_else(|| non_empty(&line.name))
        .ok_or_else(|| MappingError::new(f("title"), "missing"))?;
    Ok(OrderLine {
        external_id: line
            .id
            .as_deref()
            .map(|id| gid_tail(id).unwrap_or(id).to_string()),
        sku: non_empty(&line.sku),
        title,
        quantity: qty,
        unit_price,
        tax,
        discount,
        total: unit_price * Decimal::from(qty) - discount,
        grams: None,
        barcode: line.variant.as_ref().and_then(|v| non_empty(&v.barcode)),
    })
}

impl TryFrom<&GqlOrder> for Order {
    type Error = MappingError;

    fn try_from(o: &GqlOrder) -> Result<Self, Self::Error> {
        let external_id = match &o.legacy_resource_id {
            Some(id) => id.text(),
            None => gid_tail(&o.id)
                .map(str::to_string)
                .ok_or_else(|| MappingError::new("legacyResourceId", "missing"))?,
        };
        if external_id.is_empty() || !external_id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(MappingError::new(
                "legacyResourceId",
                format!("`{external_id}` is not a numeric id"),
            ));
        }
        let placed_at = parse_time("createdAt", o.created_at.as_deref())?;
        let updated_at = parse_time("updatedAt", o.updated_at.as_deref())?;
        let cancelled_at = parse_opt_time("cancelledAt", o.cancelled_at.as_deref())?;
        let code = o
            .currency_code
            .clone()
            .or_else(|| {
                o.total_price_set
                    .as_ref()
                    .and_then(|b| b.shop_money.as_ref())
                    .and_then(|m| m.currency_code.clone())
            })
            .ok_or_else(|| MappingError::new("currencyCode", "missing"))?;
        let cur = currency("currencyCode", &code)?;
        let total = money_bag("totalPriceSet", &o.total_price_set, &cur)?
            .ok_or_else(|| MappingError::new("totalPriceSet", "missing"))?;
        let subtotal = money_bag("subtotalPriceSet", &o.subtotal_price_set, &cur)?;
        let shipping_total = money_bag("totalShippingPriceSet", &o.total_shipping_price_set, &cur)?
            .unwrap_or_default();
        let tax_total = money_bag("totalTaxSet", &o.total_tax_set, &cur)?.unwrap_or_default();
        let discount_total =
            money_bag("totalDiscountsSet", &o.total_discounts_set, &cur)?.unwrap_or_default();

        let mut lines = Vec::new();
        if let Some(conn) = &o.line_items {
            for (i, l) in conn.nodes.iter().enumerate() {
                lines.push(gql_line(i, l, &cur)?);
            }
        }
        let subtotal = subtotal.unwrap_or_else(|| lines.iter().map(|l| l.total).sum::<Decimal>());

        let customer = o.customer.as_ref().map(|c| Customer {
            external_id: c
                .legacy_resource_id
                .as_ref()
                .map(StrOrNum::text)
                .or_else(|| c.id.as_deref().and_then(gid_tail).map(str::to_string)),
            name: non_empty(&c.display_name)
                .or_else(|| full_name(&None, &c.first_name, &c.last_name)),
            email: non_empty(&c.email).or_else(|| non_empty(&o.email)),
            phone: non_empty(&c.phone).or_else(|| non_empty(&o.phone)),
        });
        let customer = customer.or_else(|| {
            non_empty(&o.email).map(|email| Customer {
                email: Some(email),
                phone: non_empty(&o.phone),
                ..Customer::default()
            })
        });

        let fulfillment = o.display_fulfillment_status.as_deref();
        Ok(Order {
            channel: CHANNEL.to_string(),
            external_id,
            number: non_empty(&o.name),
            status: gql_order_status(cancelled_at.is_some(), fulfillment),
            payment_status: gql_payment_status(o.display_financial_status.as_deref()),
            fulfillment_status: gql_fulfillment_status(fulfillment),
            placed_at,
            updated_at,
            currency: cur,
            subtotal,
            shipping_total,
            tax_total,
            discount_total,
            total,
            customer,
            ship_to: gql_address("shippingAddress", &o.shipping_address)?,
            bill_to: gql_address("billingAddress", &o.billing_address)?,
            shipping_method: o
                .shipping_line
                .as_ref()
                .and_then(|s| non_empty(&s.title).or_else(|| non_empty(&s.code))),
            lines,
        })
    }
}

// ------------------------------------------------------------------------- REST

fn rest_money(field: &str, v: &Option<StrOrNum>) -> Result<Option<Decimal>, MappingError> {
    match v {
        None => Ok(None),
        Some(v) => parse_money(field, &v.text()).map(Some),
    }
}

fn rest_payment_status(s: Option<&str>) -> PaymentStatus {
    match s.unwrap_or_default() {
        "paid" => PaymentStatus::Paid,
        "pending" => PaymentStatus::Pending,
        "authorized" => PaymentStatus::Authorized,
        "partially_paid" => PaymentStatus::PartiallyPaid,
        "partially_refunded" => PaymentStatus::PartiallyRefunded,
        "refunded" => PaymentStatus::Refunded,
        "voided" | "expired" => PaymentStatus::Voided,
        _ => PaymentStatus::Unknown,
    }
}

fn rest_fulfillment(cancelled: bool, s: Option<&str>) -> (OrderStatus, FulfillmentStatus) {
    let fs = match s {
        None | Some("") | Some("unfulfilled") | Some("null") => FulfillmentStatus::Unfulfilled,
        Some("fulfilled") => FulfillmentStatus::Fulfilled,
        Some("partial") => FulfillmentStatus::PartiallyFulfilled,
        Some("restocked") => FulfillmentStatus::Restocked,
        Some(_) => FulfillmentStatus::Unknown,
    };
    let os = if cancelled {
        OrderStatus::Cancelled
    } else {
        match fs {
            FulfillmentStatus::Fulfilled => OrderStatus::Shipped,
            FulfillmentStatus::PartiallyFulfilled => OrderStatus::Processing,
            _ => OrderStatus::Awaiting,
        }
    };
    (os, fs)
}

fn rest_address(field: &str, a: &Option<RestAddress>) -> Result<Option<Address>, MappingError> {
    let Some(a) = a else { return Ok(None) };
    Ok(Some(Address {
        name: full_name(&a.name, &a.first_name, &a.last_name),
        company: non_empty(&a.company),
        line1: non_empty(&a.address1),
        line2: non_empty(&a.address2),
        city: non_empty(&a.city),
        region: non_empty(&a.province_code).or_else(|| non_empty(&a.province)),
        postal_code: non_empty(&a.zip),
        country: country(&format!("{field}.country_code"), &a.country_code)?,
        phone: non_empty(&a.phone),
    }))
}

fn rest_line(index: usize, l: &RestLineItem) -> Result<OrderLine, MappingError> {
    let f = |name: &str| format!("line_items[{index}].{name}");
    let qty = quantity(&f("quantity"), l.quantity)?;
    let unit_price = rest_money(&f("price"), &l.price)?
        .ok_or_else(|| MappingError::new(f("price"), "missing"))?;
    let discount = rest_money(&f("total_discount"), &l.total_discount)?.unwrap_or_default();
    let mut tax = Decimal::ZERO;
    for (i, t) in l.tax_lines.iter().enumerate() {
        tax += rest_money(&f(&format!("tax_lines[{i}].price")), &t.price)?.unwrap_or_default();
    }
    let grams = match l.grams {
        None => None,
        Some(g) => Some(
            u32::try_from(g)
                .map_err(|_| MappingError::new(f("grams"), format!("{g} is not a valid weight")))?,
        ),
    };
    Ok(OrderLine {
        external_id: l.id.as_ref().map(StrOrNum::text),
        sku: non_empty(&l.sku),
        title: non_empty(&l.title)
            .or_else(|| non_empty(&l.name))
            .ok_or_else(|| MappingError::new(f("title"), "missing"))?,
        quantity: qty,
        unit_price,
        tax,
        discount,
        total: unit_price * Decimal::from(qty) - discount,
        grams,
        barcode: None,
    })
}

impl TryFrom<&RestOrder> for Order {
    type Error = MappingError;

    fn try_from(o: &RestOrder) -> Result<Self, Self::Error> {
        let external_id =
            o.id.as_ref()
                .map(StrOrNum::text)
                .ok_or_else(|| MappingError::new("id", "missing"))?;
        if external_id.is_empty() || !external_id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(MappingError::new(
                "id",
                format!("`{external_id}` is not a numeric id"),
            ));
        }
        let placed_at = parse_time("created_at", o.created_at.as_deref())?;
        let updated_at = parse_time("updated_at", o.updated_at.as_deref())?;
        let cancelled_at = parse_opt_time("cancelled_at", o.cancelled_at.as_deref())?;
        let code = o
            .currency
            .as_deref()
            .ok_or_else(|| MappingError::new("currency", "missing"))?;
        let cur = currency("currency", code)?;
        let total = rest_money("total_price", &o.total_price)?
            .ok_or_else(|| MappingError::new("total_price", "missing"))?;
        let shipping_total = match &o.total_shipping_price_set {
            Some(set) => {
                let m = set.shop_money.as_ref().ok_or_else(|| {
                    MappingError::new("total_shipping_price_set.shop_money", "missing")
                })?;
                if let Some(c) = &m.currency_code {
                    if c.trim() != cur.as_str() {
                        return Err(MappingError::new(
                            "total_shipping_price_set.shop_money.currency_code",
                            format!("`{c}` differs from the order currency {}", cur.as_str()),
                        ));
                    }
                }
                rest_money("total_shipping_price_set.shop_money.amount", &m.amount)?
                    .unwrap_or_default()
            }
            None => {
                let mut sum = Decimal::ZERO;
                for (i, s) in o.shipping_lines.iter().enumerate() {
                    sum += rest_money(&format!("shipping_lines[{i}].price"), &s.price)?
                        .unwrap_or_default();
                }
                sum
            }
        };
        let lines = o
            .line_items
            .iter()
            .enumerate()
            .map(|(i, l)| rest_line(i, l))
            .collect::<Result<Vec<_>, _>>()?;
        let subtotal = rest_money("subtotal_price", &o.subtotal_price)?
            .unwrap_or_else(|| lines.iter().map(|l| l.total).sum());
        let tax_total = rest_money("total_tax", &o.total_tax)?.unwrap_or_default();
        let discount_total = rest_money("total_discounts", &o.total_discounts)?.unwrap_or_default();
        let (status, fulfillment_status) =
            rest_fulfillment(cancelled_at.is_some(), o.fulfillment_status.as_deref());

        let customer = o
            .customer
            .as_ref()
            .map(|c| Customer {
                external_id: c.id.as_ref().map(StrOrNum::text),
                name: full_name(&None, &c.first_name, &c.last_name),
                email: non_empty(&c.email).or_else(|| non_empty(&o.email)),
                phone: non_empty(&c.phone).or_else(|| non_empty(&o.phone)),
            })
            .or_else(|| {
                non_empty(&o.email).map(|email| Customer {
                    email: Some(email),
                    phone: non_empty(&o.phone),
                    ..Customer::default()
                })
            });

        Ok(Order {
            channel: CHANNEL.to_string(),
            external_id,
            number: non_empty(&o.name),
            status,
            payment_status: rest_payment_status(o.financial_status.as_deref()),
            fulfillment_status,
            placed_at,
            updated_at,
            currency: cur,
            subtotal,
            shipping_total,
            tax_total,
            discount_total,
            total,
            customer,
            ship_to: rest_address("shipping_address", &o.shipping_address)?,
            bill_to: rest_address("billing_address", &o.billing_address)?,
            shipping_method: o
                .shipping_lines
                .first()
                .and_then(|s| non_empty(&s.title).or_else(|| non_empty(&s.code))),
            lines,
        })
    }
}

/// Map one GraphQL `Order` node.
pub fn order_from_graphql_node(node: &Value) -> Result<Order, MappingError> {
    let wire: GqlOrder = decode(node)?;
    Order::try_from(&wire)
}

/// Map one REST order JSON (bare, or wrapped as `{"order": {...}}`).
pub fn order_from_rest(value: &Value) -> Result<Order, MappingError> {
    // What decoding `RestOrderEnvelope` finds (an object's `order`, or the one
    // element of a one-element array), without copying the order.
    let wrapped = match value {
        Value::Object(m) => m.get("order"),
        Value::Array(a) if a.len() == 1 => a.first(),
        _ => None,
    };
    let value = wrapped.filter(|o| o.is_object()).unwrap_or(value);
    let wire: RestOrder = decode(value)?;
    Order::try_from(&wire)
}

/// Whether a key is present (with any value, `null` included).
#[derive(Default)]
struct Present(bool);

impl<'de> Deserialize<'de> for Present {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        IgnoredAny::deserialize(d).map(|_| Present(true))
    }
}

/// The top level of a raw payload, read without building a tree: what
/// [`normalize`] decides on.
#[derive(Deserialize)]
struct Shape<'a> {
    #[serde(borrow, default)]
    data: Option<&'a RawValue>,
    #[serde(borrow, default)]
    order: Option<&'a RawValue>,
    #[serde(rename = "legacyResourceId", default)]
    legacy_resource_id: Present,
    #[serde(rename = "createdAt", default)]
    created_at_gql: Present,
    #[serde(rename = "created_at", default)]
    created_at_rest: Present,
}

/// [`normalize`] for the usual payload, a bare GraphQL node or REST order:
/// one pass over the top level to see which, then the wire type straight
/// from the text. `None` for anything else (a wrapper, a payload that does
/// not decode, duplicate keys): [`normalize_value`] then answers, so results
/// and errors are exactly its own.
fn normalize_bare(raw: &str) -> Option<Result<Order, MappingError>> {
    let shape: Shape = serde_json::from_str(raw).ok()?;
    if shape.data.is_some() || shape.order.is_some() {
        return None;
    }
    if shape.legacy_resource_id.0 || shape.created_at_gql.0 {
        let wire: GqlOrder = serde_json::from_str(raw).ok()?;
        Some(Order::try_from(&wire))
    } else if shape.created_at_rest.0 {
        let wire: RestOrder = serde_json::from_str(raw).ok()?;
        Some(Order::try_from(&wire))
    } else {
        None
    }
}

/// What the hub makes of one raw Shopify order payload: a GraphQL `Order` node
/// (it has `legacyResourceId` or `createdAt`) or a REST/webhook order JSON (it has
/// `created_at`; `{"order": {...}}` is unwrapped). A GraphQL response holding one
/// order (`{"data": {"order": {...}}}`) is accepted too.
pub fn normalize(raw: &str) -> Result<Order, MappingError> {
    normalize_bare(raw).unwrap_or_else(|| normalize_value(raw))
}

/// [`normalize`] through a `serde_json::Value`: every shape, and errors that
/// name the JSON path.
fn normalize_value(raw: &str) -> Result<Order, MappingError> {
    let value: Value =
        serde_json::from_str(raw).map_err(|e| MappingError::new("$", format!("not JSON: {e}")))?;
    if !value.is_object() {
        return Err(MappingError::new("$", "expected a JSON object"));
    }
    if let Some(order) = value.get("data").and_then(|d| d.get("order")) {
        return order_from_graphql_node(order);
    }
    let inner = value
        .get("order")
        .filter(|o| o.is_object())
        .unwrap_or(&value);
    if inner.get("legacyResourceId").is_some() || inner.get("createdAt").is_some() {
        order_from_graphql_node(inner)
    } else if inner.get("created_at").is_some() {
        order_from_rest(inner)
    } else {
        Err(MappingError::new(
            "$",
            "neither a GraphQL Order node (createdAt) nor a REST order (created_at)",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    const WEBHOOK_CANCELLED: &str = include_str!("testdata/webhook_order.json");
    const GRAPHQL_PAGE: &str = include_str!("testdata/graphql_orders_page.json");

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn webhook_sample_maps() {
        let o = normalize(WEBHOOK_CANCELLED).unwrap();
        assert_eq!(o.channel, "shopify");
        assert_eq!(o.external_id, "820982911946154508");
        assert_eq!(o.number.as_deref(), Some("#9999"));
        assert_eq!(o.status, OrderStatus::Cancelled);
        assert_eq!(o.payment_status, PaymentStatus::Voided);
        assert_eq!(o.fulfillment_status, FulfillmentStatus::Unfulfilled);
        assert_eq!(o.currency.as_str(), "USD");
        assert_eq!(o.total, d("388.00"));
        assert_eq!(o.total.to_string(), "388.00");
        assert_eq!(o.subtotal, d("388.00"));
        assert_eq!(o.shipping_total, d("10.00"));
        assert_eq!(o.discount_total, d("20.00"));
        assert_eq!(o.tax_total, d("0.00"));
        assert_eq!(o.lines.len(), 2);
        assert_eq!(o.lines[0].sku.as_deref(), Some("IPOD2008PINK"));
        assert_eq!(o.lines[0].unit_price, d("199.00"));
        assert_eq!(o.lines[0].grams, Some(567));
        // REST line items carry no barcode.
        assert!(o.lines.iter().all(|l| l.barcode.is_none()));
        assert_eq!(
            o.lines[0].external_id.as_deref(),
            Some("866550311766439020")
        );
        let ship = o.ship_to.unwrap();
        assert_eq!(ship.country.as_deref(), Some("US"));
        assert_eq!(ship.region.as_deref(), Some("KY"));
        assert_eq!(ship.name.as_deref(), Some("Steve Shipper"));
        assert_eq!(o.shipping_method.as_deref(), Some("Generic Shipping"));
        assert_eq!(
            o.placed_at,
            DateTime::parse_from_rfc3339("2022-01-01T00:00:00Z").unwrap()
        );
        let c = o.customer.unwrap();
        assert_eq!(c.external_id.as_deref(), Some("115310627314723954"));
        assert_eq!(c.name.as_deref(), Some("John Smith"));
    }

    #[test]
    fn rest_order_wrapped_maps_the_same() {
        let bare = normalize(WEBHOOK_CANCELLED).unwrap();
        let wrapped = format!("{{\"order\": {WEBHOOK_CANCELLED}}}");
        assert_eq!(normalize(&wrapped).unwrap(), bare);
        let value: Value = serde_json::from_str(&wrapped).unwrap();
        assert_eq!(order_from_rest(&value).unwrap(), bare);
    }

    #[test]
    fn graphql_page_nodes_map() {
        let page: Value = serde_json::from_str(GRAPHQL_PAGE).unwrap();
        let nodes = page["data"]["orders"]["nodes"].as_array().unwrap();
        let first = order_from_graphql_node(&nodes[0]).unwrap();
        assert_eq!(first.external_id, "1001");
        assert_eq!(first.number.as_deref(), Some("#1001"));
        assert_eq!(first.payment_status, PaymentStatus::Paid);
        assert_eq!(first.status, OrderStatus::Awaiting);
        assert_eq!(first.total.to_string(), "54.58");
        assert_eq!(first.lines.len(), 2);
        assert_eq!(first.lines[1].quantity, 2);
        assert_eq!(first.lines[1].total, d("25.00"));
        assert_eq!(
            first.lines.iter().map(|l| l.tax).sum::<Decimal>(),
            first.tax_total
        );
        assert_eq!(
            first.ship_to.as_ref().unwrap().country.as_deref(),
            Some("US")
        );
        // `variant { barcode }`: a barcode as given, trimmed; none for a
        // variant without one or a deleted variant.
        assert_eq!(first.lines[0].barcode.as_deref(), Some("2000000000015"));
        assert_eq!(first.lines[1].barcode.as_deref(), Some("012345678905"));
        let second = order_from_graphql_node(&nodes[1]).unwrap();
        assert_eq!(second.lines[0].barcode, None);
        assert_eq!(second.status, OrderStatus::Shipped);
        assert_eq!(second.fulfillment_status, FulfillmentStatus::Fulfilled);
        assert_eq!(second.ship_to.unwrap().country.as_deref(), Some("DE"));
        let third = order_from_graphql_node(&nodes[2]).unwrap();
        assert_eq!(third.lines[0].barcode, None);
        assert_eq!(third.status, OrderStatus::Cancelled);
        assert_eq!(third.payment_status, PaymentStatus::Refunded);
        // The same node through normalize.
        assert_eq!(normalize(&nodes[0].to_string()).unwrap(), first);
    }

    #[test]
    fn errors_name_the_field() {
        let page: Value = serde_json::from_str(GRAPHQL_PAGE).unwrap();
        let mut node = page["data"]["orders"]["nodes"][0].clone();
        node["totalPriceSet"]["shopMoney"]["amount"] = Value::from("twelve");
        let err = order_from_graphql_node(&node).unwrap_err();
        assert_eq!(err.field, "totalPriceSet.shopMoney.amount");

        let mut node = page["data"]["orders"]["nodes"][0].clone();
        node["currencyCode"] = Value::Null;
        node["totalPriceSet"]["shopMoney"]
            .as_object_mut()
            .unwrap()
            .remove("currencyCode");
        let err = order_from_graphql_node(&node).unwrap_err();
        assert_eq!(err.field, "currencyCode");

        let mut node = page["data"]["orders"]["nodes"][0].clone();
        node["lineItems"]["nodes"][1]["quantity"] = Value::from("two");
        let err = order_from_graphql_node(&node).unwrap_err();
        assert!(err.field.contains("lineItems"), "{err}");
        assert!(err.field.contains("quantity"), "{err}");

        let mut node = page["data"]["orders"]["nodes"][0].clone();
        node["shippingAddress"]["countryCodeV2"] = Value::from("USA");
        let err = order_from_graphql_node(&node).unwrap_err();
        assert_eq!(err.field, "shippingAddress.countryCodeV2");

        let mut node = page["data"]["orders"]["nodes"][0].clone();
        node["updatedAt"] = Value::from("yesterday");
        assert_eq!(
            order_from_graphql_node(&node).unwrap_err().field,
            "updatedAt"
        );

        let mut rest: Value = serde_json::from_str(WEBHOOK_CANCELLED).unwrap();
        rest["total_price"] = Value::from("12,5x");
        assert_eq!(order_from_rest(&rest).unwrap_err().field, "total_price");
        assert_eq!(external_id_of(&rest).as_deref(), Some("820982911946154508"));
    }

    #[test]
    fn normalize_refuses_what_it_cannot_tell() {
        assert_eq!(normalize("not json").unwrap_err().field, "$");
        assert_eq!(normalize("[1,2]").unwrap_err().field, "$");
        assert_eq!(normalize("{\"foo\": 1}").unwrap_err().field, "$");
    }

    #[test]
    fn gid_tails() {
        assert_eq!(gid_tail("gid://shopify/Order/1001"), Some("1001"));
        assert_eq!(gid_tail("gid://shopify/Order/abc"), None);
        assert_eq!(
            external_id_of(&serde_json::json!({"id": "gid://shopify/Order/7"})).as_deref(),
            Some("7")
        );
    }
}
