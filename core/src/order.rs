//! The normalized order every channel maps into.
//!
//! Money is `rust_decimal::Decimal` with an ISO 4217 currency on the order; it
//! serializes as a decimal string so nothing is lost through JSON. Times are UTC.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Where an order is in orderhub's flow. Changes only through [`OrderStatus::can_become`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    Awaiting,
    Processing,
    Shipped,
    Delivered,
    Cancelled,
    Exception,
}

impl OrderStatus {
    pub const ALL: [OrderStatus; 6] = [
        Self::Awaiting,
        Self::Processing,
        Self::Shipped,
        Self::Delivered,
        Self::Cancelled,
        Self::Exception,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Awaiting => "awaiting",
            Self::Processing => "processing",
            Self::Shipped => "shipped",
            Self::Delivered => "delivered",
            Self::Cancelled => "cancelled",
            Self::Exception => "exception",
        }
    }

    /// The declared transitions. Staying in the same status is not a transition.
    /// Delivered and cancelled are terminal; an exception is resolved by ops back
    /// into the flow (or by cancelling).
    pub fn can_become(self, to: OrderStatus) -> bool {
        use OrderStatus::*;
        matches!(
            (self, to),
            (
                Awaiting,
                Processing | Shipped | Delivered | Cancelled | Exception
            ) | (
                Processing,
                Awaiting | Shipped | Delivered | Cancelled | Exception
            ) | (Shipped, Delivered | Exception)
                | (
                    Exception,
                    Awaiting | Processing | Shipped | Delivered | Cancelled
                )
        )
    }

    /// The status to keep when a channel reports `reported` for an order that is
    /// `self` in the hub: the channel's word wins only where the transition is
    /// declared, so a stale "unfulfilled" never pulls a shipped order back.
    pub fn merge_from_channel(self, reported: OrderStatus) -> OrderStatus {
        if self == reported || self.can_become(reported) {
            reported
        } else {
            self
        }
    }
}

impl fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for OrderStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| format!("unknown order status `{s}`"))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentStatus {
    Pending,
    Authorized,
    Paid,
    PartiallyPaid,
    PartiallyRefunded,
    Refunded,
    Voided,
    Unknown,
}

impl PaymentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Authorized => "authorized",
            Self::Paid => "paid",
            Self::PartiallyPaid => "partially_paid",
            Self::PartiallyRefunded => "partially_refunded",
            Self::Refunded => "refunded",
            Self::Voided => "voided",
            Self::Unknown => "unknown",
        }
    }
}

impl FromStr for PaymentStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        serde_json::from_value(serde_json::Value::String(s.into()))
            .map_err(|_| format!("unknown payment status `{s}`"))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FulfillmentStatus {
    Unfulfilled,
    PartiallyFulfilled,
    Fulfilled,
    Restocked,
    Unknown,
}

impl FulfillmentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unfulfilled => "unfulfilled",
            Self::PartiallyFulfilled => "partially_fulfilled",
            Self::Fulfilled => "fulfilled",
            Self::Restocked => "restocked",
            Self::Unknown => "unknown",
        }
    }
}

impl FromStr for FulfillmentStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        serde_json::from_value(serde_json::Value::String(s.into()))
            .map_err(|_| format!("unknown fulfillment status `{s}`"))
    }
}

/// An ISO 4217 alphabetic code, checked for shape (three ASCII capitals).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Currency(String);

impl Currency {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Currency {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        if s.len() == 3 && s.bytes().all(|b| b.is_ascii_uppercase()) {
            Ok(Currency(s))
        } else {
            Err(format!("`{s}` is not an ISO 4217 currency code"))
        }
    }
}

impl From<Currency> for String {
    fn from(c: Currency) -> String {
        c.0
    }
}

impl FromStr for Currency {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Currency::try_from(s.to_string())
    }
}

/// A postal address; `country` is ISO 3166-1 alpha-2.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Address {
    pub name: Option<String>,
    pub company: Option<String>,
    pub line1: Option<String>,
    pub line2: Option<String>,
    pub city: Option<String>,
    pub region: Option<String>,
    pub postal_code: Option<String>,
    pub country: Option<String>,
    pub phone: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Customer {
    pub external_id: Option<String>,
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderLine {
    pub external_id: Option<String>,
    pub sku: Option<String>,
    pub title: String,
    pub quantity: u32,
    pub unit_price: Decimal,
    pub tax: Decimal,
    pub discount: Decimal,
    /// quantity × unit price − discount (tax not included).
    pub total: Decimal,
    /// Weight of one unit in grams, when the channel says.
    pub grams: Option<u32>,
    /// The unit's GTIN/UPC/EAN as the channel's order data gives it (only
    /// Shopify's GraphQL orders carry one: `LineItem.variant.barcode`). The
    /// store keeps it per sku in `sku_barcodes` (source `channel`), not on
    /// the stored line, so an order read back from the store has `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub barcode: Option<String>,
}

/// One order as orderhub understands it, whatever channel it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    /// The channel kind (`shopify`, ...); the store also keeps the configured channel id.
    pub channel: String,
    pub external_id: String,
    /// The number the seller and the buyer see (`#1001`).
    pub number: Option<String>,
    pub status: OrderStatus,
    pub payment_status: PaymentStatus,
    pub fulfillment_status: FulfillmentStatus,
    pub placed_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub currency: Currency,
    pub subtotal: Decimal,
    pub shipping_total: Decimal,
    pub tax_total: Decimal,
    pub discount_total: Decimal,
    pub total: Decimal,
    pub customer: Option<Customer>,
    pub ship_to: Option<Address>,
    pub bill_to: Option<Address>,
    pub shipping_method: Option<String>,
    pub lines: Vec<OrderLine>,
}

impl Order {
    /// The money identity every mapped order satisfies, in its currency:
    /// `Σ line totals − order-level discount + shipping + tax = total`, where a
    /// line total is `quantity × unit price − line discount` and the
    /// order-level discount is `discount_total − Σ line discounts`.
    /// `Err` names the difference (prices that include tax, as some EU shops
    /// send, count tax once: their connector puts 0 in `tax_total` or
    /// subtracts it from the unit price).
    pub fn check_totals(&self) -> Result<(), String> {
        let lines: Decimal = self.lines.iter().map(|l| l.total).sum();
        let line_discounts: Decimal = self.lines.iter().map(|l| l.discount).sum();
        for l in &self.lines {
            let expect = Decimal::from(l.quantity) * l.unit_price - l.discount;
            if l.total != expect {
                return Err(format!(
                    "line `{}`: total {} ≠ {} × {} − {}",
                    l.title, l.total, l.quantity, l.unit_price, l.discount
                ));
            }
        }
        let order_discount = self.discount_total - line_discounts;
        let expect = lines - order_discount + self.shipping_total + self.tax_total;
        if expect != self.total {
            return Err(format!(
                "total {} ≠ lines {lines} − order discount {order_discount} + shipping {} + tax {} = {expect} {}",
                self.total, self.shipping_total, self.tax_total, self.currency.as_str()
            ));
        }
        Ok(())
    }
}

/// A payload a channel sent that could not be mapped: kept whole with the reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quarantined {
    pub external_id: Option<String>,
    pub reason: String,
    pub raw: String,
}

/// Why a payload could not become an [`Order`]: names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("field `{field}`: {problem}")]
pub struct MappingError {
    pub field: String,
    pub problem: String,
}

impl MappingError {
    pub fn new(field: impl Into<String>, problem: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            problem: problem.into(),
        }
    }
}

/// The largest amount (in either sign) [`parse_money`] takes: a quadrillion
/// units of any currency. The mappings multiply amounts by quantities (`u32`)
/// and add them up in `Decimal`, whose arithmetic panics past ~7.9e28; with
/// amounts bounded, every such product and sum stays far inside it.
pub const MAX_AMOUNT: i64 = 1_000_000_000_000_000;

/// Parse a decimal money string exactly, naming the field on failure; an
/// amount beyond ±[`MAX_AMOUNT`] is refused.
pub fn parse_money(field: &str, s: &str) -> Result<Decimal, MappingError> {
    let d = Decimal::from_str(s.trim())
        .map_err(|_| MappingError::new(field, format!("`{s}` is not a decimal amount")))?;
    if d.abs() > Decimal::from(MAX_AMOUNT) {
        return Err(MappingError::new(
            field,
            format!("`{s}` is beyond ±{MAX_AMOUNT}"),
        ));
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_statuses_have_no_way_out() {
        for to in OrderStatus::ALL {
            assert!(!OrderStatus::Delivered.can_become(to));
            assert!(!OrderStatus::Cancelled.can_become(to));
        }
    }

    #[test]
    fn a_stale_channel_status_never_pulls_an_order_back() {
        assert_eq!(
            OrderStatus::Shipped.merge_from_channel(OrderStatus::Awaiting),
            OrderStatus::Shipped
        );
        assert_eq!(
            OrderStatus::Awaiting.merge_from_channel(OrderStatus::Cancelled),
            OrderStatus::Cancelled
        );
        assert_eq!(
            OrderStatus::Delivered.merge_from_channel(OrderStatus::Cancelled),
            OrderStatus::Delivered
        );
    }

    #[test]
    fn status_strings_round_trip() {
        for s in OrderStatus::ALL {
            assert_eq!(s.as_str().parse::<OrderStatus>().unwrap(), s);
        }
        assert!("bogus".parse::<OrderStatus>().is_err());
    }

    #[test]
    fn currency_must_be_iso_shaped() {
        assert!("USD".parse::<Currency>().is_ok());
        assert!("usd".parse::<Currency>().is_err());
        assert!("US".parse::<Currency>().is_err());
    }

    #[test]
    fn money_keeps_its_scale_through_json() {
        let d = parse_money("total", "12.50").unwrap();
        assert_eq!(serde_json::to_string(&d).unwrap(), "\"12.50\"");
        let err = parse_money("total", "12,5x").unwrap_err();
        assert_eq!(err.field, "total");
    }
}
