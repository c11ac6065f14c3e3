//! The listings every marketplace sandbox carries, so stock pushes have
//! something to land on: every sku the order generator sells
//! (`SKU-001`..`SKU-020`) is listed on every channel by default, each sandbox
//! giving it its vendor's own ids (derived from the listing's index).
//!
//! - `POST /_sandbox/listings` — `{"unlist": ["SKU-007"], "list": ["SKU-042"]}`
//!   removes or adds listings (a channel that does not sell a sku answers its
//!   lookups with nothing, as the vendor does); answers the listed skus.
//! - `GET /_sandbox/stats` → `recorded.stock`: `{"<sku>": <last quantity
//!   pushed>}` and `recorded.stock_pushes`: `{"<sku>": <accepted writes>}`.

use super::{json_response, parse_body, SandboxCore};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use serde::Deserialize;
use std::sync::{Arc, Mutex, MutexGuard};

/// How many generated skus are listed by default.
pub const GENERATED_SKUS: usize = 20;

/// One listing: its sku, its position (vendors' ids derive from it) and the
/// quantity the channel shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing {
    pub sku: String,
    pub index: u64,
    pub quantity: i64,
}

#[derive(Debug, Default)]
struct Inner {
    listings: Vec<Listing>,
    next_index: u64,
}

/// A sandbox's listings; cheap to clone.
#[derive(Debug, Clone)]
pub struct Catalog {
    core: Arc<SandboxCore>,
    inner: Arc<Mutex<Inner>>,
}

/// The sku at index `i` of the generator's catalog.
pub fn generated_sku(i: usize) -> String {
    format!("SKU-{:03}", i + 1)
}

/// The barcode a sandbox gives `sku`'s product, the same on every channel and
/// every run: a valid EAN-13 in GS1's restricted-circulation range `200`
/// (numbers for in-store use, so never a real product's GTIN). `SKU-<n>`
/// takes `n`; any other sku a stable hash of it.
pub fn generated_barcode(sku: &str) -> String {
    let n = sku
        .strip_prefix("SKU-")
        .filter(|d| !d.is_empty() && d.len() <= 9 && d.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|d| d.parse::<u64>().ok())
        .unwrap_or_else(|| {
            // FNV-1a: stable across runs and platforms.
            let h = sku.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
                (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3)
            });
            h % 1_000_000_000
        });
    let body = format!("200{n:09}");
    format!("{body}{}", ean13_check_digit(&body))
}

/// The check digit of the 12 digits `body` (EAN-13 / GTIN-13): weights 1 and 3
/// alternating from the left.
pub fn ean13_check_digit(body: &str) -> char {
    let sum: u32 = body
        .bytes()
        .enumerate()
        .map(|(i, b)| (b - b'0') as u32 * if i % 2 == 0 { 1 } else { 3 })
        .sum();
    char::from(b'0' + ((10 - sum % 10) % 10) as u8)
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ListingsRequest {
    unlist: Vec<String>,
    list: Vec<String>,
}

impl Catalog {
    /// The generator's skus, listed with 100 units each.
    pub fn generated(core: Arc<SandboxCore>) -> Self {
        let c = Self {
            core,
            inner: Arc::new(Mutex::new(Inner::default())),
        };
        for i in 0..GENERATED_SKUS {
            c.list(&generated_sku(i));
        }
        c
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// List `sku` (no change when it already is).
    pub fn list(&self, sku: &str) {
        let mut g = self.lock();
        if g.listings.iter().any(|l| l.sku == sku) {
            return;
        }
        let index = g.next_index;
        g.next_index += 1;
        g.listings.push(Listing {
            sku: sku.to_string(),
            index,
            quantity: 100,
        });
    }

    /// Stop selling `sku`: lookups find nothing.
    pub fn unlist(&self, sku: &str) {
        self.lock().listings.retain(|l| l.sku != sku);
    }

    pub fn find(&self, sku: &str) -> Option<Listing> {
        self.lock().listings.iter().find(|l| l.sku == sku).cloned()
    }

    pub fn by_index(&self, index: u64) -> Option<Listing> {
        self.lock()
            .listings
            .iter()
            .find(|l| l.index == index)
            .cloned()
    }

    pub fn all(&self) -> Vec<Listing> {
        self.lock().listings.clone()
    }

    /// Set a listing's quantity as a stock write from the API does, and record
    /// it in the stats. `false` when the sku is not listed.
    pub fn set_quantity(&self, sku: &str, quantity: i64) -> bool {
        {
            let mut g = self.lock();
            let Some(l) = g.listings.iter_mut().find(|l| l.sku == sku) else {
                return false;
            };
            l.quantity = quantity;
        }
        let sku = sku.to_string();
        self.core.record(move |r| {
            for key in ["stock", "stock_pushes"] {
                if !r[key].is_object() {
                    r[key] = serde_json::json!({});
                }
            }
            r["stock"][sku.as_str()] = serde_json::json!(quantity);
            let n = r["stock_pushes"][sku.as_str()].as_u64().unwrap_or(0) + 1;
            r["stock_pushes"][sku.as_str()] = serde_json::json!(n);
        });
        true
    }

    /// `POST /_sandbox/listings`.
    pub fn control_routes(&self) -> Router {
        Router::new()
            .route("/_sandbox/listings", post(change_listings))
            .with_state(self.clone())
    }
}

async fn change_listings(State(c): State<Catalog>, body: Bytes) -> Response {
    let req: ListingsRequest = match parse_body(&body) {
        Ok(r) => r,
        Err(r) => return r,
    };
    for sku in &req.unlist {
        c.unlist(sku);
    }
    for sku in req.list.iter().filter(|s| !s.trim().is_empty()) {
        c.list(sku.trim());
    }
    let skus: Vec<String> = c.all().into_iter().map(|l| l.sku).collect();
    json_response(StatusCode::OK, &serde_json::json!({ "listed": skus }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_listings_and_recorded_levels() {
        let core = SandboxCore::new();
        let c = Catalog::generated(core.clone());
        assert_eq!(c.all().len(), GENERATED_SKUS);
        assert_eq!(c.find("SKU-001").map(|l| l.index), Some(0));
        assert!(c.set_quantity("SKU-002", 7));
        assert!(c.set_quantity("SKU-002", 6));
        c.unlist("SKU-003");
        assert!(!c.set_quantity("SKU-003", 1));
        let rec = core.stats().recorded;
        assert_eq!(rec["stock"]["SKU-002"], 6);
        assert_eq!(rec["stock_pushes"]["SKU-002"], 2);
        assert!(rec["stock"].get("SKU-003").is_none());
        c.list("SKU-003");
        assert_eq!(c.find("SKU-003").map(|l| l.index), Some(20));
    }

    #[test]
    fn generated_barcodes_are_valid_distinct_ean13s() {
        // A published EAN-13 and its check digit (GS1's example 400638133393x).
        assert_eq!(ean13_check_digit("400638133393"), '1');
        assert_eq!(ean13_check_digit("001234567890"), '5');
        assert_eq!(generated_barcode("SKU-001"), "2000000000015");
        let mut seen = std::collections::BTreeSet::new();
        for sku in (0..GENERATED_SKUS)
            .map(generated_sku)
            .chain(["MUG".to_string(), "IPOD2008PINK".to_string()])
        {
            let b = generated_barcode(&sku);
            assert_eq!(b.len(), 13, "{b}");
            assert!(b.starts_with("200"), "{b}");
            assert_eq!(b.chars().last(), Some(ean13_check_digit(&b[..12])));
            assert_eq!(b, generated_barcode(&sku));
            assert!(seen.insert(b), "{sku}");
        }
    }
}
