//! A mutation fuzzer on stable Rust for what comes from outside: every
//! marketplace's normalizer on its documented order, every carrier's tracking
//! webhook reader on its documented event, and every carrier's webhook
//! verifier on forged deliveries. Inputs are the vendors' example payloads
//! (testdata/), mutated byte-wise (flips, inserts, cuts) and JSON-wise (a node
//! replaced by another type, a huge number, an empty or very long string, a
//! key removed). What must hold: nothing panics (an error is a refusal, to be
//! quarantined with the payload); a forged webhook is never accepted.
//!
//! `ORDERHUB_FUZZ_ITERS` (default 300 per seed file) and `ORDERHUB_FUZZ_SEED`
//! set the run; CI runs the default, a longer local run is e.g.
//! `ORDERHUB_FUZZ_ITERS=20000 cargo test --release -p orderhub-connectors --test fuzz_inputs`.
//! A failure prints the seed and the input; paste it into `REGRESSIONS`.

use orderhub_connectors::sandbox::SandboxProfile;
use orderhub_connectors::{carrier_kinds, marketplace_kind, CarrierSetup};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::time::Duration;

/// Inputs a run found breaking something, kept as regression cases:
/// (kind, input). None so far (20,000 mutants per seed file, 2026-11-25).
const REGRESSIONS: &[(&str, &str)] = &[];

fn iters() -> usize {
    std::env::var("ORDERHUB_FUZZ_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300)
}

fn seed() -> u64 {
    std::env::var("ORDERHUB_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x00dd_5eed)
}

fn src(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("src")
        .join(rel)
}

/// A value to put where another was.
fn odd_value(rng: &mut StdRng) -> Value {
    match rng.random_range(0..12) {
        0 => Value::Null,
        1 => Value::Bool(rng.random()),
        2 => serde_json::json!(-1),
        3 => serde_json::json!(u64::MAX),
        4 => serde_json::json!(1e308),
        5 => serde_json::json!(""),
        6 => Value::String("9".repeat(rng.random_range(1..400))),
        7 => Value::String("-0.000000000000000000000000001".into()),
        8 => Value::String("\u{0}\u{202e}ü😀".into()),
        9 => serde_json::json!([]),
        10 => serde_json::json!({}),
        _ => Value::String("2026-02-30T25:61:61Z".into()),
    }
}

/// Replace, remove or grow one node somewhere in `v`.
fn mutate_json(v: &mut Value, rng: &mut StdRng, depth: usize) {
    let descend = depth < 12 && rng.random_bool(0.7);
    match v {
        Value::Object(map) if !map.is_empty() => {
            let keys: Vec<String> = map.keys().cloned().collect();
            let key = &keys[rng.random_range(0..keys.len())];
            if descend {
                if let Some(child) = map.get_mut(key) {
                    return mutate_json(child, rng, depth + 1);
                }
            }
            if rng.random_bool(0.3) {
                map.remove(key);
            } else {
                map.insert(key.clone(), odd_value(rng));
            }
        }
        Value::Array(items) if !items.is_empty() => {
            let i = rng.random_range(0..items.len());
            if descend {
                return mutate_json(&mut items[i], rng, depth + 1);
            }
            match rng.random_range(0..3) {
                0 => {
                    items.remove(i);
                }
                1 => {
                    let copy = items[i].clone();
                    for _ in 0..rng.random_range(1..50) {
                        items.push(copy.clone());
                    }
                }
                _ => items[i] = odd_value(rng),
            }
        }
        _ => *v = odd_value(rng),
    }
}

fn mutate_bytes(input: &[u8], rng: &mut StdRng) -> Vec<u8> {
    let mut b = input.to_vec();
    if b.is_empty() {
        return b;
    }
    for _ in 0..rng.random_range(1..6) {
        let at = rng.random_range(0..b.len());
        match rng.random_range(0..4) {
            0 => b[at] ^= 1 << rng.random_range(0..8),
            1 => b.insert(at, rng.random()),
            2 => {
                let end = (at + rng.random_range(1..32)).min(b.len());
                b.drain(at..end);
            }
            _ => b.truncate(at.max(1)),
        }
        if b.is_empty() {
            break;
        }
    }
    b
}

/// One mutated input from a seed document.
fn mutant(seed_doc: &str, rng: &mut StdRng) -> Vec<u8> {
    if rng.random_bool(0.6) {
        if let Ok(mut v) = serde_json::from_str::<Value>(seed_doc) {
            for _ in 0..rng.random_range(1..4) {
                mutate_json(&mut v, rng, 0);
            }
            return serde_json::to_vec(&v).unwrap_or_default();
        }
    }
    mutate_bytes(seed_doc.as_bytes(), rng)
}

fn show(input: &[u8]) -> String {
    let s = String::from_utf8_lossy(input);
    s.chars().take(2_000).collect()
}

const ORDERS: &[(&str, &str)] = &[
    (
        "shopify",
        "marketplaces/shopify/testdata/webhook_order.json",
    ),
    (
        "woocommerce",
        "marketplaces/woocommerce/testdata/order.json",
    ),
    ("ecwid", "marketplaces/ecwid/testdata/get_order.json"),
    ("ebay", "marketplaces/ebay/testdata/get_order.json"),
    ("etsy", "marketplaces/etsy/testdata/get_receipt.json"),
    ("amazon", "marketplaces/amazon/testdata/order.json"),
    ("tiktok", "marketplaces/tiktok/testdata/order.json"),
];

#[test]
fn normalizers_never_panic() {
    let mut rng = StdRng::seed_from_u64(seed());
    let mut checked = 0;
    for (kind, file) in ORDERS {
        let k = marketplace_kind(kind).expect("registered kind");
        let doc = std::fs::read_to_string(src(file)).expect("testdata file");
        assert!(
            (k.normalize)(&doc).is_ok(),
            "{kind}: the documented order normalizes"
        );
        let mut inputs: Vec<Vec<u8>> = (0..iters()).map(|_| mutant(&doc, &mut rng)).collect();
        inputs.extend(
            REGRESSIONS
                .iter()
                .filter(|(k, _)| k == kind)
                .map(|(_, i)| i.as_bytes().to_vec()),
        );
        for input in inputs {
            let text = String::from_utf8_lossy(&input).into_owned();
            let outcome = catch_unwind(AssertUnwindSafe(|| (k.normalize)(&text)));
            match outcome {
                Err(_) => panic!("{kind}: normalize panicked on:\n{}", show(&input)),
                Ok(Ok(order)) => assert_eq!(order.channel, *kind),
                Ok(Err(_)) => {}
            }
            checked += 1;
        }
    }
    assert!(checked >= ORDERS.len() * iters());
}

fn carrier_setup(profile: &SandboxProfile) -> CarrierSetup {
    CarrierSetup {
        channel_id: "fuzz".into(),
        base_url: "http://127.0.0.1:9".into(),
        options: profile.options.clone(),
        secrets: profile.secrets.clone(),
        request_timeout: Duration::from_secs(1),
    }
}

/// Each carrier kind's documented tracking event.
fn event_seed(kind: &str) -> Option<&'static str> {
    Some(match kind {
        "easypost" => "carriers/easypost/testdata/event_tracker_updated.json",
        "shippo" => "carriers/shippo/testdata/webhook_track_updated.json",
        "sendcloud" => "carriers/sendcloud/testdata/webhook_parcel_status_changed.json",
        "standard_webhooks" => "carriers/standard_webhooks/testdata/tracking_updated.json",
        _ => return None,
    })
}

#[test]
fn tracking_readers_never_panic() {
    let mut rng = StdRng::seed_from_u64(seed() ^ 1);
    for k in carrier_kinds() {
        let profile = (k.sandbox.profile)();
        let carrier = (k.build)(carrier_setup(&profile)).expect("the sandbox profile builds");
        let file =
            event_seed(k.kind).unwrap_or_else(|| panic!("{}: add its event to event_seed", k.kind));
        let doc = std::fs::read_to_string(src(file)).expect("testdata file");
        assert!(
            carrier.tracking_update(doc.as_bytes()).is_ok(),
            "{}: the documented event reads",
            k.kind
        );
        for _ in 0..iters() {
            let input = mutant(&doc, &mut rng);
            if catch_unwind(AssertUnwindSafe(|| carrier.tracking_update(&input))).is_err() {
                panic!("{}: tracking_update panicked on:\n{}", k.kind, show(&input));
            }
        }
    }
}

/// Header names the carriers' verifiers read, plus noise.
const HEADER_NAMES: &[&str] = &[
    "x-hmac-signature",
    "shippo-auth-signature",
    "sendcloud-signature",
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
    "content-type",
];

fn odd_header_value(rng: &mut StdRng) -> String {
    match rng.random_range(0..8) {
        0 => String::new(),
        1 => "hmac-sha256-hex=".to_string() + &"a".repeat(rng.random_range(0..80)),
        2 => format!("t={},v1={}", rng.random::<i64>(), "0".repeat(64)),
        3 => format!("v1,{}", "A".repeat(rng.random_range(0..60))),
        4 => rng.random::<u64>().to_string(),
        5 => "v1,==== v2,abc v1a,xyz".into(),
        6 => "9".repeat(rng.random_range(1..40)),
        _ => "msg_".to_string() + &"x".repeat(rng.random_range(0..300)),
    }
}

#[test]
fn webhook_verifiers_refuse_forgeries_and_never_panic() {
    let mut rng = StdRng::seed_from_u64(seed() ^ 2);
    for k in carrier_kinds() {
        let profile = (k.sandbox.profile)();
        let carrier = (k.build)(carrier_setup(&profile)).expect("the sandbox profile builds");
        let doc = event_seed(k.kind)
            .and_then(|f| std::fs::read_to_string(src(f)).ok())
            .unwrap_or_default();
        for _ in 0..iters() {
            let body = mutant(&doc, &mut rng);
            let mut headers = http::HeaderMap::new();
            for _ in 0..rng.random_range(0..5) {
                let name = HEADER_NAMES[rng.random_range(0..HEADER_NAMES.len())];
                if let Ok(v) = http::HeaderValue::from_str(&odd_header_value(&mut rng)) {
                    headers.append(name, v);
                }
            }
            // A query that is not the configured token (random or empty).
            let query = match rng.random_range(0..3) {
                0 => None,
                1 => Some("token=".to_string() + &odd_header_value(&mut rng)),
                _ => Some(odd_header_value(&mut rng)),
            };
            let verdict = catch_unwind(AssertUnwindSafe(|| {
                carrier.verify_webhook_request(query.as_deref(), &headers, &body)
            }));
            match verdict {
                Err(_) => panic!(
                    "{}: verify panicked on {headers:?} {query:?}:\n{}",
                    k.kind,
                    show(&body)
                ),
                Ok(Ok(_)) => panic!(
                    "{}: a forged delivery was accepted: {headers:?} {query:?}:\n{}",
                    k.kind,
                    show(&body)
                ),
                Ok(Err(_)) => {}
            }
        }
    }
}
