//! eBay `Order` → `orderhub_core::Order`.
//!
//! Money rules (every mapped order passes `Order::check_totals`):
//! - a line's `lineItemCost` is quantity × unit price before promotions; its
//!   discount is `lineItemCost − discountedLineItemCost` (or the sum of
//!   `appliedPromotions` when eBay leaves the discounted cost out). When the
//!   cost does not divide by the quantity in cents, the unit price is rounded
//!   up to the cent and the rounding goes into the line discount, so the line
//!   total is still exactly what the buyer paid for the line;
//! - order-level discount = |`priceDiscount`| − Σ line discounts (never below 0),
//!   plus a negative `adjustment`;
//! - shipping = `deliveryCost` − |`deliveryDiscount`| + `fee` (+ a positive `adjustment`);
//! - tax: eBay puts "Collect and Remit" tax (`ebayCollectAndRemitTaxes`, US sales
//!   tax, UK/EU VAT, ...) into `pricingSummary.total` only when the order was
//!   read with `fieldGroups=TAX_BREAKDOWN`; without it the total leaves that tax
//!   out. So the tax is what the total says it is: `total − (lines − order
//!   discount + shipping)`, accepted only when it is one of 0, `pricingSummary.tax`,
//!   Σ collect-and-remit, or their sum. Anything else is refused (quarantined)
//!   rather than guessed.
//!
//! Status: `cancelStatus.cancelState = CANCELED` → cancelled; otherwise by
//! `orderFulfillmentStatus`: NOT_STARTED → awaiting, IN_PROGRESS (some lines
//! shipped) → processing, FULFILLED → shipped.

use super::wire::{Amount, ContactAddress, ExtendedContact, LineItem, Order as EbayOrder};
use chrono::{DateTime, Utc};
use orderhub_core::{
    parse_money, Address, Currency, Customer, FulfillmentStatus, MappingError, Order, OrderLine,
    OrderStatus, PaymentStatus,
};
use rust_decimal::{Decimal, RoundingStrategy};

pub const CHANNEL: &str = "ebay";

/// Map one order JSON exactly as getOrders/getOrder returns it.
pub fn normalize(raw: &str) -> Result<Order, MappingError> {
    let de = &mut serde_json::Deserializer::from_str(raw);
    let order: EbayOrder = serde_path_to_error::deserialize(de)
        .map_err(|e| MappingError::new(e.path().to_string(), e.inner().to_string()))?;
    map_order(&order)
}

/// Map one order already parsed as JSON (a page item).
pub fn normalize_value(raw: &serde_json::Value) -> Result<Order, MappingError> {
    let order: EbayOrder = serde_path_to_error::deserialize(raw)
        .map_err(|e| MappingError::new(e.path().to_string(), e.inner().to_string()))?;
    map_order(&order)
}

/// The order id in a raw order, for quarantine records of orders that do not map.
pub fn external_id_of(raw: &serde_json::Value) -> Option<String> {
    raw.get("orderId")?.as_str().map(str::to_string)
}

fn money(field: &str, a: &Amount, currency: &Currency) -> Result<Decimal, MappingError> {
    if a.currency != currency.as_str() {
        return Err(MappingError::new(
            format!("{field}.currency"),
            format!(
                "`{}` differs from the order's {}",
                a.currency,
                currency.as_str()
            ),
        ));
    }
    parse_money(&format!("{field}.value"), &a.value)
}

fn opt_money(
    field: &str,
    a: &Option<Amount>,
    currency: &Currency,
) -> Result<Decimal, MappingError> {
    a.as_ref()
        .map(|a| money(field, a, currency))
        .transpose()
        .map(Option::unwrap_or_default)
}

fn time(field: &str, s: &str) -> Result<DateTime<Utc>, MappingError> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| MappingError::new(field, format!("`{s}` is not an ISO 8601 timestamp")))
}

struct MappedLine {
    line: OrderLine,
    /// `lineItemCost`: before promotions.
    cost: Decimal,
    remit_tax: Decimal,
    listed_tax: Decimal,
}

fn map_line(i: usize, l: &LineItem, currency: &Currency) -> Result<MappedLine, MappingError> {
    let f = |name: &str| format!("lineItems[{i}].{name}");
    if l.quantity == 0 {
        return Err(MappingError::new(f("quantity"), "must be at least 1"));
    }
    let qty = Decimal::from(l.quantity);
    let cost = money(&f("lineItemCost"), &l.line_item_cost, currency)?;
    if cost.is_sign_negative() {
        return Err(MappingError::new(f("lineItemCost"), "is negative"));
    }
    let promotions = l
        .applied_promotions
        .iter()
        .enumerate()
        .map(|(j, p)| {
            opt_money(
                &format!("lineItems[{i}].appliedPromotions[{j}].discountAmount"),
                &p.discount_amount,
                currency,
            )
            .map(|d| d.abs())
        })
        .sum::<Result<Decimal, _>>()?;
    let discounted = match &l.discounted_line_item_cost {
        Some(a) => money(&f("discountedLineItemCost"), a, currency)?,
        None => cost - promotions,
    };
    if discounted.is_sign_negative() || discounted > cost {
        return Err(MappingError::new(
            f("discountedLineItemCost"),
            format!("{discounted} is not between 0 and lineItemCost {cost}"),
        ));
    }
    // eBay's unit prices are whole cents in practice; when the cost does not
    // divide, round up so the rounding lands in the discount (which stays ≥ 0).
    let exact = cost / qty;
    let mut unit = if exact * qty == cost && exact.scale() <= 4 {
        exact
    } else {
        exact.round_dp_with_strategy(2, RoundingStrategy::ToPositiveInfinity)
    };
    if unit * qty < cost {
        unit += Decimal::new(1, 2);
    }
    let discount = unit * qty - discounted;
    let remit_tax = l
        .ebay_collect_and_remit_taxes
        .iter()
        .enumerate()
        .map(|(j, t)| {
            opt_money(
                &format!("lineItems[{i}].ebayCollectAndRemitTaxes[{j}].amount"),
                &t.amount,
                currency,
            )
        })
        .sum::<Result<Decimal, _>>()?;
    let listed_tax = l
        .taxes
        .iter()
        .enumerate()
        .map(|(j, t)| {
            opt_money(
                &format!("lineItems[{i}].taxes[{j}].amount"),
                &t.amount,
                currency,
            )
        })
        .sum::<Result<Decimal, _>>()?;
    Ok(MappedLine {
        line: OrderLine {
            external_id: Some(l.line_item_id.clone()),
            sku: l.sku.clone().filter(|s| !s.trim().is_empty()),
            title: l.title.clone(),
            quantity: l.quantity,
            unit_price: unit,
            tax: Decimal::ZERO,
            discount,
            total: discounted,
            grams: None,
            barcode: None,
        },
        cost,
        remit_tax,
        listed_tax,
    })
}

fn address(field: &str, c: &ExtendedContact) -> Result<Option<Address>, MappingError> {
    let Some(a) = &c.contact_address else {
        return Ok(None);
    };
    Ok(Some(Address {
        name: c.full_name.clone(),
        company: c.company_name.clone(),
        line1: a.address_line1.clone(),
        line2: a.address_line2.clone(),
        city: a.city.clone(),
        region: a.state_or_province.clone(),
        postal_code: a.postal_code.clone(),
        country: country(field, a)?,
        phone: c
            .primary_phone
            .as_ref()
            .and_then(|p| p.phone_number.clone()),
    }))
}

fn country(field: &str, a: &ContactAddress) -> Result<Option<String>, MappingError> {
    match a.country_code.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(c) if c.len() == 2 && c.bytes().all(|b| b.is_ascii_alphabetic()) => {
            Ok(Some(c.to_ascii_uppercase()))
        }
        Some(c) => Err(MappingError::new(
            format!("{field}.contactAddress.countryCode"),
            format!("`{c}` is not an ISO 3166 alpha-2 code"),
        )),
    }
}

pub fn map_order(o: &EbayOrder) -> Result<Order, MappingError> {
    if o.order_id.trim().is_empty() {
        return Err(MappingError::new("orderId", "is empty"));
    }
    let currency: Currency = o
        .pricing_summary
        .total
        .currency
        .parse()
        .map_err(|e: String| MappingError::new("pricingSummary.total.currency", e))?;
    let ps = &o.pricing_summary;
    let total = money("pricingSummary.total", &ps.total, &currency)?;
    if o.line_items.is_empty() {
        return Err(MappingError::new(
            "lineItems",
            "an order has at least one line",
        ));
    }
    let mapped = o
        .line_items
        .iter()
        .enumerate()
        .map(|(i, l)| map_line(i, l, &currency))
        .collect::<Result<Vec<_>, _>>()?;

    let lines_total: Decimal = mapped.iter().map(|m| m.line.total).sum();
    let line_discounts: Decimal = mapped.iter().map(|m| m.line.discount).sum();
    let promo_discounts: Decimal = mapped.iter().map(|m| m.cost - m.line.total).sum();
    let price_discount = opt_money(
        "pricingSummary.priceDiscount",
        &ps.price_discount,
        &currency,
    )?
    .abs();
    let adjustment = opt_money("pricingSummary.adjustment", &ps.adjustment, &currency)?;
    let order_discount =
        (price_discount - promo_discounts).max(Decimal::ZERO) + (-adjustment).max(Decimal::ZERO);
    let shipping = opt_money("pricingSummary.deliveryCost", &ps.delivery_cost, &currency)?
        - opt_money(
            "pricingSummary.deliveryDiscount",
            &ps.delivery_discount,
            &currency,
        )?
        .abs()
        + opt_money("pricingSummary.fee", &ps.fee, &currency)?
        + adjustment.max(Decimal::ZERO);

    let seller_tax = opt_money("pricingSummary.tax", &ps.tax, &currency)?;
    let remit: Decimal = mapped.iter().map(|m| m.remit_tax).sum();
    let tax = total - (lines_total - order_discount + shipping);
    let remit_counted = !remit.is_zero() && (tax == remit || tax == seller_tax + remit);
    if !(tax.is_zero() || tax == seller_tax || remit_counted) {
        return Err(MappingError::new(
            "pricingSummary.total",
            format!(
                "{total} ≠ lines {lines_total} − discount {order_discount} + shipping {shipping} \
                 + tax (0, {seller_tax}, collect-and-remit {remit} or both)"
            ),
        ));
    }
    let mut lines = Vec::with_capacity(mapped.len());
    for m in mapped {
        let mut line = m.line;
        line.tax = if tax.is_zero() {
            Decimal::ZERO
        } else if remit_counted {
            m.remit_tax
        } else {
            m.listed_tax
        };
        lines.push(line);
    }

    let cancelled = o
        .cancel_status
        .as_ref()
        .and_then(|c| c.cancel_state.as_deref())
        == Some("CANCELED");
    let status = if cancelled {
        OrderStatus::Cancelled
    } else {
        match o.order_fulfillment_status.as_str() {
            "NOT_STARTED" => OrderStatus::Awaiting,
            "IN_PROGRESS" => OrderStatus::Processing,
            "FULFILLED" => OrderStatus::Shipped,
            other => {
                return Err(MappingError::new(
                    "orderFulfillmentStatus",
                    format!("unknown value `{other}`"),
                ))
            }
        }
    };
    let fulfillment_status = match o.order_fulfillment_status.as_str() {
        "NOT_STARTED" => FulfillmentStatus::Unfulfilled,
        "IN_PROGRESS" => FulfillmentStatus::PartiallyFulfilled,
        _ => FulfillmentStatus::Fulfilled,
    };
    let payment_status = match o.order_payment_status.as_str() {
        "PAID" => PaymentStatus::Paid,
        "PENDING" => PaymentStatus::Pending,
        // The buyer's payment did not go through: nothing is owed or held.
        "FAILED" => PaymentStatus::Voided,
        "FULLY_REFUNDED" => PaymentStatus::Refunded,
        "PARTIALLY_REFUNDED" => PaymentStatus::PartiallyRefunded,
        _ => PaymentStatus::Unknown,
    };

    let placed_at = time("creationDate", &o.creation_date)?;
    let updated_at = match &o.last_modified_date {
        Some(s) => time("lastModifiedDate", s)?,
        None => placed_at,
    };

    let step = o
        .fulfillment_start_instructions
        .iter()
        .find_map(|f| f.shipping_step.as_ref());
    let ship_contact = step.and_then(|s| s.ship_to.as_ref());
    let ship_to = ship_contact
        .map(|c| address("fulfillmentStartInstructions[0].shippingStep.shipTo", c))
        .transpose()?
        .flatten();
    let registration = o
        .buyer
        .as_ref()
        .and_then(|b| b.buyer_registration_address.as_ref());
    let bill_to = registration
        .map(|c| address("buyer.buyerRegistrationAddress", c))
        .transpose()?
        .flatten();
    let customer = o.buyer.as_ref().map(|b| Customer {
        external_id: b.username.clone(),
        name: registration
            .and_then(|r| r.full_name.clone())
            .or_else(|| ship_contact.and_then(|c| c.full_name.clone())),
        email: registration
            .and_then(|r| r.email.clone())
            .or_else(|| ship_contact.and_then(|c| c.email.clone())),
        phone: registration
            .and_then(|r| r.primary_phone.as_ref())
            .or_else(|| ship_contact.and_then(|c| c.primary_phone.as_ref()))
            .and_then(|p| p.phone_number.clone()),
    });

    let order = Order {
        channel: CHANNEL.to_string(),
        external_id: o.order_id.clone(),
        number: Some(o.order_id.clone()),
        status,
        payment_status,
        fulfillment_status,
        placed_at,
        updated_at,
        currency,
        subtotal: lines_total,
        shipping_total: shipping,
        tax_total: tax,
        discount_total: line_discounts + order_discount,
        total,
        customer,
        ship_to,
        bill_to,
        shipping_method: step.and_then(|s| s.shipping_service_code.clone()),
        lines,
    };
    order
        .check_totals()
        .map_err(|e| MappingError::new("pricingSummary", e))?;
    Ok(order)
}
