//! Generated orders shared by the marketplace sandboxes, so every channel's
//! sandbox sells the same catalog (skus `SKU-001`..`SKU-020`, which the demo's
//! warehouses stock) to the same kinds of buyers, each in its vendor's shape.

use chrono::{DateTime, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rust_decimal::{Decimal, RoundingStrategy};

pub const CATALOG: [&str; 20] = [
    "Canvas Tote",
    "Enamel Mug",
    "Linen Apron",
    "Cotton Tee",
    "Wool Socks",
    "Leather Wallet",
    "Wool Scarf",
    "Ceramic Bowl",
    "Glass Carafe",
    "Notebook",
    "Fountain Pen",
    "Desk Lamp",
    "Beeswax Candle",
    "Tea Sampler",
    "Coffee Beans",
    "Oak Coasters",
    "Travel Pillow",
    "Rain Jacket",
    "Sun Hat",
    "Yoga Mat",
];

pub struct CountryProfile {
    pub code: &'static str,
    pub name: &'static str,
    pub tax_rate: &'static str,
    pub shipping: &'static str,
    pub shipping_title: &'static str,
    pub addresses: &'static [(
        &'static str,
        &'static str,
        &'static str,
        &'static str,
        &'static str,
        &'static str,
        &'static str,
    )],
}

// (first, last, street, city, province, province code, zip)
pub const COUNTRIES: [CountryProfile; 3] = [
    CountryProfile {
        code: "US",
        name: "United States",
        tax_rate: "0.08",
        shipping: "5.00",
        shipping_title: "Standard",
        addresses: &[
            (
                "Ada",
                "Lovelace",
                "150 Elgin Street",
                "Toledo",
                "Ohio",
                "OH",
                "43606",
            ),
            (
                "Grace",
                "Hopper",
                "2 Navy Way",
                "Arlington",
                "Virginia",
                "VA",
                "22201",
            ),
            (
                "Alan",
                "Kay",
                "44 Market Street",
                "San Francisco",
                "California",
                "CA",
                "94105",
            ),
        ],
    },
    CountryProfile {
        code: "DE",
        name: "Germany",
        tax_rate: "0.19",
        shipping: "9.95",
        shipping_title: "DHL Paket International",
        addresses: &[
            (
                "Grete",
                "Weber",
                "Torstraße 1",
                "Berlin",
                "Berlin",
                "BE",
                "10119",
            ),
            (
                "Jonas",
                "Keller",
                "Marienplatz 8",
                "München",
                "Bayern",
                "BY",
                "80331",
            ),
        ],
    },
    CountryProfile {
        code: "GB",
        name: "United Kingdom",
        tax_rate: "0.20",
        shipping: "9.95",
        shipping_title: "Royal Mail International",
        addresses: &[
            (
                "Tom",
                "Smith",
                "10 Downing Lane",
                "London",
                "England",
                "ENG",
                "SW1A 2AA",
            ),
            (
                "Fiona",
                "Reid",
                "5 Princes Street",
                "Edinburgh",
                "Scotland",
                "SCT",
                "EH2 2AN",
            ),
        ],
    },
];

pub fn dec(s: &str) -> Decimal {
    s.parse().unwrap_or_default()
}

pub fn catalog_price(i: usize) -> Decimal {
    // 8.99, 11.49, 13.99, …: plausible, two decimals.
    Decimal::new(899 + 250 * i as i64, 2)
}

/// A buyer's address, as generated.
#[derive(Debug, Clone)]
pub struct GenAddress {
    pub first_name: &'static str,
    pub last_name: &'static str,
    pub street: &'static str,
    pub city: &'static str,
    pub region: &'static str,
    pub region_code: &'static str,
    pub postal_code: &'static str,
    pub country_name: &'static str,
    pub country_code: &'static str,
}

/// One generated line: money exact, two decimals.
#[derive(Debug, Clone)]
pub struct GenLine {
    /// 1-based position in the order, handy for vendor line ids.
    pub position: u32,
    pub sku: String,
    pub title: &'static str,
    pub quantity: u32,
    pub unit_price: Decimal,
    /// Tax on this line (quantity × unit price × rate, rounded half away from zero).
    pub tax: Decimal,
    pub grams: u32,
    /// The product's barcode ([`super::catalog::generated_barcode`]), for the
    /// sandboxes whose vendor puts one in its order data (Shopify GraphQL).
    pub barcode: String,
}

/// One generated order. `total = subtotal + shipping + tax`, exactly.
#[derive(Debug, Clone)]
pub struct GenOrder {
    /// The sequence number it was generated from (deterministic per number).
    pub seq: u64,
    pub email: String,
    pub phone: &'static str,
    pub address: GenAddress,
    pub currency: &'static str,
    pub tax_rate: Decimal,
    pub lines: Vec<GenLine>,
    pub shipping: Decimal,
    pub shipping_method: &'static str,
    pub subtotal: Decimal,
    pub tax: Decimal,
    pub total: Decimal,
    pub created_at: DateTime<Utc>,
}

fn currency_of(country: &str) -> &'static str {
    match country {
        "US" => "USD",
        "GB" => "GBP",
        _ => "EUR",
    }
}

/// The order generated for `seq`, placed at `at`: one to three catalog lines
/// (quantities one to three), a buyer in the US (60 %), Germany or the UK.
pub fn generate_order(seq: u64, at: DateTime<Utc>) -> GenOrder {
    let mut rng = StdRng::seed_from_u64(seq);
    let profile = &COUNTRIES[rng.random_range(0..10).min(5) / 4];
    let a = profile.addresses[rng.random_range(0..profile.addresses.len())];
    let tax_rate = dec(profile.tax_rate);
    let lines: Vec<GenLine> = (0..rng.random_range(1..=3u32))
        .map(|i| {
            let idx = rng.random_range(0..CATALOG.len());
            let quantity = rng.random_range(1..=3u32);
            let unit_price = catalog_price(idx);
            let tax = (unit_price * Decimal::from(quantity) * tax_rate)
                .round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
            let sku = format!("SKU-{:03}", idx + 1);
            GenLine {
                position: i + 1,
                barcode: super::catalog::generated_barcode(&sku),
                sku,
                title: CATALOG[idx],
                quantity,
                unit_price,
                tax,
                grams: 100 + 50 * idx as u32,
            }
        })
        .collect();
    let subtotal: Decimal = lines
        .iter()
        .map(|l| l.unit_price * Decimal::from(l.quantity))
        .sum();
    let tax: Decimal = lines.iter().map(|l| l.tax).sum();
    let shipping = dec(profile.shipping);
    GenOrder {
        seq,
        email: format!("{}.{}+{seq}@example.com", a.0, a.1).to_lowercase(),
        phone: "+1 555 0100",
        address: GenAddress {
            first_name: a.0,
            last_name: a.1,
            street: a.2,
            city: a.3,
            region: a.4,
            region_code: a.5,
            postal_code: a.6,
            country_name: profile.name,
            country_code: profile.code,
        },
        currency: currency_of(profile.code),
        tax_rate,
        shipping,
        shipping_method: profile.shipping_title,
        total: subtotal + shipping + tax,
        subtotal,
        tax,
        lines,
        created_at: at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_orders_add_up_and_repeat() {
        for seq in 0..200 {
            let o = generate_order(seq, Utc::now());
            assert!(!o.lines.is_empty() && o.lines.len() <= 3);
            let lines: Decimal = o
                .lines
                .iter()
                .map(|l| l.unit_price * Decimal::from(l.quantity) + l.tax)
                .sum();
            assert_eq!(o.total, lines + o.shipping);
            assert_eq!(o.email, generate_order(seq, Utc::now()).email);
            assert!(o.lines.iter().all(|l| l.sku.starts_with("SKU-0")));
            assert!(o
                .lines
                .iter()
                .all(|l| l.barcode == super::super::catalog::generated_barcode(&l.sku)));
        }
    }
}
