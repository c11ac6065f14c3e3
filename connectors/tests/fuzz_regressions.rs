//! Inputs that cargo-fuzz (`fuzz/`, see the README's Fuzzing section) found
//! breaking a connector, replayed through the same function as the fuzz
//! target that found them, so each stays fixed in a plain `cargo test` run.
//!
//! `tests/fuzz_regressions/<target>/<name>` is one input, `<target>` the
//! fuzz target:
//! - `normalize_<kind>/`: the raw payload the normalizer of `<kind>` read;
//! - `carrier_tracking_events/`: the raw bytes, the first one picking the
//!   carrier (index in `carrier_kinds()`), the rest the event body;
//! - `marketplace_webhooks/`, `carrier_webhooks/`: the forged delivery
//!   written out as JSON, `{"kind", "headers": [[name, value]], "query",
//!   "body"}` (the fuzz targets decode it from bytes; a readable file here).
//!
//! What must hold is what the fuzz target checks: no panic; an order a
//! normalizer accepts is that channel's; no forged delivery is accepted.

use orderhub_connectors::sandbox::SandboxProfile;
use orderhub_connectors::{
    carrier_kind, carrier_kinds, marketplace_kind, marketplace_kinds, ChannelSetup,
};
use serde::Deserialize;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::Duration;

fn dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz_regressions")
        .join(target)
}

/// Every input of a target, sorted (none when the folder does not exist).
fn inputs(target: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = match std::fs::read_dir(dir(target)) {
        Ok(entries) => entries.map(|e| e.unwrap().path()).collect(),
        Err(_) => Vec::new(),
    };
    files.sort();
    files
}

/// Runs `check` on each input of `target`; names every input that
/// panicked, with its panic message.
fn replay(target: &str, check: impl Fn(&[u8])) -> Vec<String> {
    let mut failed = Vec::new();
    for path in inputs(target) {
        let data = std::fs::read(&path).unwrap();
        if let Err(e) = catch_unwind(AssertUnwindSafe(|| check(&data))) {
            let msg = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            failed.push(format!("{}: {msg}", path.display()));
        }
    }
    failed
}

fn assert_none(failed: Vec<String>) {
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}

fn setup(profile: &SandboxProfile) -> ChannelSetup {
    ChannelSetup {
        channel_id: "fuzz".into(),
        base_url: "http://127.0.0.1:9".into(),
        options: profile.options.clone(),
        secrets: profile.secrets.clone(),
        request_timeout: Duration::from_secs(1),
    }
}

/// A forged delivery, as the fuzz targets' `Delivery` means it.
#[derive(Deserialize)]
struct Delivery {
    kind: String,
    #[serde(default)]
    headers: Vec<(String, String)>,
    #[serde(default)]
    query: Option<String>,
    body: String,
}

impl Delivery {
    fn read(data: &[u8]) -> Delivery {
        serde_json::from_slice(data).expect("a delivery file")
    }

    fn header_map(&self) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        for (name, value) in &self.headers {
            h.append(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                http::HeaderValue::from_str(value).unwrap(),
            );
        }
        h
    }
}

#[test]
fn normalizers() {
    let mut failed = Vec::new();
    for k in marketplace_kinds() {
        failed.extend(replay(&format!("normalize_{}", k.kind), |data| {
            let Ok(text) = std::str::from_utf8(data) else {
                return;
            };
            if let Ok(order) = (k.normalize)(text) {
                assert_eq!(order.channel, k.kind);
            }
        }));
    }
    assert_none(failed);
}

#[test]
fn carrier_tracking_events() {
    assert_none(replay("carrier_tracking_events", |data| {
        let Some((first, body)) = data.split_first() else {
            return;
        };
        let kinds = carrier_kinds();
        let k = &kinds[*first as usize % kinds.len()];
        let c = (k.build)(setup(&(k.sandbox.profile)())).unwrap();
        let _ = c.tracking_update(body);
    }));
}

#[test]
fn marketplace_webhooks() {
    assert_none(replay("marketplace_webhooks", |data| {
        let d = Delivery::read(data);
        let k = marketplace_kind(&d.kind).expect("a marketplace kind");
        let m = (k.build)(setup(&(k.sandbox.profile)())).unwrap();
        let body = d.body.as_bytes();
        match m.verify_webhook(&d.header_map(), body) {
            Ok(v) => {
                assert!(
                    d.kind == "woocommerce" && v.topic == "ping",
                    "{}: a forged delivery was accepted: {v:?}",
                    d.kind
                );
                let _ = m.order_from_webhook(&v.topic, body);
            }
            Err(_) => {
                for topic in ["orders/create", "order.updated", "order.created"] {
                    let _ = m.order_from_webhook(topic, body);
                }
            }
        }
    }));
}

#[test]
fn carrier_webhooks() {
    assert_none(replay("carrier_webhooks", |data| {
        let d = Delivery::read(data);
        let k = carrier_kind(&d.kind).expect("a carrier kind");
        let c = (k.build)(setup(&(k.sandbox.profile)())).unwrap();
        let verdict =
            c.verify_webhook_request(d.query.as_deref(), &d.header_map(), d.body.as_bytes());
        assert!(
            verdict.is_err(),
            "{}: a forged delivery was accepted: {verdict:?}",
            d.kind
        );
    }));
}

/// Every folder is one the tests above read.
#[test]
fn every_folder_is_replayed() {
    let mut known: Vec<String> = marketplace_kinds()
        .iter()
        .map(|k| format!("normalize_{}", k.kind))
        .collect();
    known.extend(
        [
            "carrier_tracking_events",
            "marketplace_webhooks",
            "carrier_webhooks",
        ]
        .map(String::from),
    );
    if let Ok(entries) = std::fs::read_dir(dir("")) {
        for e in entries {
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            assert!(
                known.contains(&name),
                "tests/fuzz_regressions/{name}: no such target"
            );
        }
    }
}
