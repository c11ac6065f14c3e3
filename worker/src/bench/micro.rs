//! Normalize cost per order: each marketplace's normalizer on its documented
//! order (the connector's testdata, the same files the fuzzers start from)
//! against a bare `serde_json::from_slice::<Value>` of the same bytes.

use std::hint::black_box;
use std::time::Instant;

/// Each kind's documented order, compiled in.
const ORDERS: [(&str, &str); 7] = [
    (
        "shopify",
        include_str!("../../../connectors/src/marketplaces/shopify/testdata/webhook_order.json"),
    ),
    (
        "woocommerce",
        include_str!("../../../connectors/src/marketplaces/woocommerce/testdata/order.json"),
    ),
    (
        "ecwid",
        include_str!("../../../connectors/src/marketplaces/ecwid/testdata/get_order.json"),
    ),
    (
        "ebay",
        include_str!("../../../connectors/src/marketplaces/ebay/testdata/get_order.json"),
    ),
    (
        "etsy",
        include_str!("../../../connectors/src/marketplaces/etsy/testdata/get_receipt.json"),
    ),
    (
        "amazon",
        include_str!("../../../connectors/src/marketplaces/amazon/testdata/order.json"),
    ),
    (
        "tiktok",
        include_str!("../../../connectors/src/marketplaces/tiktok/testdata/order.json"),
    ),
];

pub struct NormalizeCost {
    pub kind: &'static str,
    pub bytes: usize,
    /// Nanoseconds per order.
    pub normalize_ns: f64,
    pub parse_ns: f64,
}

/// Best of five rounds of `iters` calls each (the least disturbed by the
/// rest of the machine).
fn best_ns(iters: u32, mut f: impl FnMut()) -> f64 {
    let mut best = f64::INFINITY;
    for _ in 0..5 {
        let t = Instant::now();
        for _ in 0..iters {
            f();
        }
        best = best.min(t.elapsed().as_nanos() as f64 / iters as f64);
    }
    best
}

pub fn normalize_costs(iters: u32) -> Vec<NormalizeCost> {
    let mut out = Vec::new();
    for (kind, doc) in ORDERS {
        let Some(k) = orderhub_connectors::marketplace_kind(kind) else {
            continue;
        };
        if (k.normalize)(doc).is_err() {
            eprintln!("  warning: {kind}'s documented order does not normalize");
            continue;
        }
        let bytes = doc.as_bytes();
        // Scale so each round is a few milliseconds whatever the size.
        let n = (iters as usize * 2_000 / bytes.len().max(1)).clamp(200, iters as usize) as u32;
        let normalize_ns = best_ns(n, || {
            let _ = black_box((k.normalize)(black_box(doc)));
        });
        let parse_ns = best_ns(n, || {
            let _ = black_box(serde_json::from_slice::<serde_json::Value>(black_box(
                bytes,
            )));
        });
        println!(
            "  normalize {kind:<12} {:>7.1} µs/order, bare parse {:>7.1} µs ({} bytes): {:.2}×",
            normalize_ns / 1000.0,
            parse_ns / 1000.0,
            bytes.len(),
            normalize_ns / parse_ns
        );
        out.push(NormalizeCost {
            kind,
            bytes: bytes.len(),
            normalize_ns,
            parse_ns,
        });
    }
    out
}
