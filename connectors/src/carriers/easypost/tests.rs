//! The connector against its sandbox over real HTTP on loopback, and the
//! mapping against EasyPost's documented example payloads (testdata/).

use super::mapping::{label_from_wire, shipment_from_wire, tracker_update};
use super::wire::{ErrorBody, FieldError, Shipment, Tracker};
use super::*;
use crate::carrier::{carrier_kind, Carrier, CarrierSetup, LabelRequest, ParcelSpec};
use crate::http::{HttpClient, RetryPolicy};
use crate::marketplace::{VerifiedWebhook, WebhookError};
use crate::sandbox::{serve, FaultConfig, Stats};
use crate::{RemoteError, TrackingUpdate};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use orderhub_core::{Address, TrackingStatus};
use rust_decimal::Decimal;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const KEY: &str = "EZTK_test_key_0123456789";
/// Not ASCII on purpose: EasyPost keys the HMAC with the NFKD form.
const SECRET: &str = "whs\u{e9}cret-\u{fb01}ne";

const SHIPMENT_CREATE: &str = include_str!("testdata/shipment_create.json");
const SHIPMENT_BUY: &str = include_str!("testdata/shipment_buy.json");
const EVENT_TRACKER_UPDATED: &str = include_str!("testdata/event_tracker_updated.json");
const EVENT_BATCH_UPDATED: &str = include_str!("testdata/event_batch_updated.json");
const TRACKER_RETRIEVE: &str = include_str!("testdata/tracker_retrieve.json");
const ERROR_ADDRESS_VERIFY: &str = include_str!("testdata/error_address_verify.json");
const WEBHOOK_CREATE: &str = include_str!("testdata/webhook_create.json");

struct Env {
    sandbox: EasyPostSandbox,
    base: String,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Env {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn opts() -> EasyPostSandboxOptions {
    EasyPostSandboxOptions {
        webhook_retry_base_ms: 20,
        webhook_timeout_ms: 1_000,
        ..EasyPostSandboxOptions::with_key(KEY)
    }
}

async fn env_with(opts: EasyPostSandboxOptions) -> Env {
    let sandbox = EasyPostSandbox::new(opts);
    let (addr, server) = serve(sandbox.router(), "127.0.0.1:0").await.unwrap();
    Env {
        sandbox,
        base: format!("http://{addr}"),
        server,
    }
}

async fn env() -> Env {
    env_with(opts()).await
}

fn setup(base: &str, key: &str) -> CarrierSetup {
    CarrierSetup {
        channel_id: "ep-test".into(),
        base_url: base.into(),
        options: BTreeMap::new(),
        secrets: BTreeMap::from([
            ("api_key".to_string(), key.to_string()),
            ("webhook_secret".to_string(), SECRET.to_string()),
        ]),
        request_timeout: Duration::from_secs(2),
    }
}

fn connector_with(base: &str, key: &str, timeout: Duration, attempts: u32) -> EasyPostConnector {
    let fast = HttpClient::new("easypost:test", timeout, None).with_retry_policy(RetryPolicy {
        max_attempts: attempts,
        base: Duration::from_millis(5),
        max: Duration::from_millis(50),
    });
    EasyPostConnector::new(setup(base, key))
        .unwrap()
        .with_http_client(fast)
}

fn connector(base: &str) -> EasyPostConnector {
    connector_with(base, KEY, Duration::from_secs(2), 8)
}

fn addr(name: &str, line1: &str, city: &str, region: &str, zip: &str) -> Address {
    Address {
        name: Some(name.into()),
        company: Some("Orderhub Test".into()),
        line1: Some(line1.into()),
        line2: Some("Suite 5".into()),
        city: Some(city.into()),
        region: Some(region.into()),
        postal_code: Some(zip.into()),
        country: Some("US".into()),
        phone: Some("4153334445".into()),
    }
}

fn label_request(reference: &str) -> LabelRequest {
    LabelRequest {
        reference: reference.into(),
        from: addr(
            "Warehouse",
            "417 Montgomery Street",
            "San Francisco",
            "CA",
            "94104",
        ),
        to: addr(
            "Dr. Steve Brule",
            "179 N Harbor Dr",
            "Redondo Beach",
            "CA",
            "90277",
        ),
        // EasyPost's own default; the format tests ask for each one.
        label_format: crate::LabelFormat::Png,
        parcels: vec![ParcelSpec {
            weight_oz: Decimal::new(400, 1), // 40.0 oz: three started pounds
            length_in: Decimal::new(202, 1),
            width_in: Decimal::new(109, 1),
            height_in: Decimal::new(5, 0),
        }],
    }
}

async fn stats(base: &str) -> Stats {
    reqwest::get(format!("{base}/_sandbox/stats"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn set_faults(base: &str, faults: &FaultConfig) {
    let r = reqwest::Client::new()
        .post(format!("{base}/_sandbox/faults"))
        .json(faults)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

fn recorded(s: &Stats, key: &str) -> u64 {
    s.recorded.get(key).and_then(Value::as_u64).unwrap_or(0)
}

fn labels_for(s: &Stats, reference: &str) -> u64 {
    s.recorded["labels_by_reference"]
        .get(reference)
        .and_then(Value::as_u64)
        .unwrap_or(0)
}

/// A raw call to the sandbox, as an EasyPost client library would make it.
async fn raw(
    method: reqwest::Method,
    url: String,
    body: Option<&str>,
    key: Option<&str>,
) -> (u16, Value) {
    let mut rb = reqwest::Client::new().request(method, url);
    if let Some(k) = key {
        rb = rb.bearer_auth(k);
    }
    if let Some(b) = body {
        rb = rb
            .header("content-type", "application/json")
            .body(b.to_string());
    }
    let r = rb.send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn cheapest(rates: &[crate::Rate]) -> &crate::Rate {
    rates.iter().min_by_key(|r| r.amount).unwrap()
}

// --------------------------------------------------------------- rate and buy

#[tokio::test]
async fn creates_a_shipment_with_exact_rates() {
    let e = env().await;
    let c = connector(&e.base);
    let s = c
        .create_shipment(&label_request("orderhub-shipment-1"))
        .await
        .unwrap();
    assert!(s.id.starts_with("shp_"), "{}", s.id);
    assert!(s.label.is_none());
    assert_eq!(s.rates.len(), 7);
    assert!(s.rates.iter().all(|r| r.id.starts_with("rate_")));
    let priority = s
        .rates
        .iter()
        .find(|r| r.carrier == "USPS" && r.service == "Priority")
        .unwrap();
    // 8.70 for the first pound, 1.45 for each of the two more started pounds.
    assert_eq!(priority.amount, Decimal::new(1160, 2));
    assert_eq!(priority.currency, "USD");
    assert_eq!(priority.delivery_days, Some(2));
    for (carrier, service) in [
        ("USPS", "GroundAdvantage"),
        ("USPS", "Express"),
        ("UPS", "Ground"),
        ("UPS", "2ndDayAir"),
        ("FedEx", "FEDEX_GROUND"),
        ("FedEx", "FEDEX_2_DAY"),
    ] {
        assert!(
            s.rates
                .iter()
                .any(|r| r.carrier == carrier && r.service == service),
            "{carrier} {service}"
        );
    }

    // The same shipment read back, and what EasyPost was sent.
    let again = c.shipment(&s.id).await.unwrap();
    assert_eq!(again, s);
    let (status, v) = raw(
        reqwest::Method::GET,
        format!("{}/v2/shipments/{}", e.base, s.id),
        None,
        Some(KEY),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(v["object"], "Shipment");
    assert_eq!(v["reference"], "orderhub-shipment-1");
    assert_eq!(v["to_address"]["street1"], "179 N Harbor Dr");
    assert_eq!(v["to_address"]["street2"], "Suite 5");
    assert_eq!(v["to_address"]["state"], "CA");
    assert_eq!(v["to_address"]["zip"], "90277");
    assert_eq!(v["to_address"]["company"], "Orderhub Test");
    assert_eq!(v["from_address"]["city"], "San Francisco");
    assert!(v["to_address"]["id"].as_str().unwrap().starts_with("adr_"));
    assert!(v["parcel"]["id"].as_str().unwrap().starts_with("prcl_"));
    assert_eq!(v["parcel"]["weight"], json!(40));
    assert_eq!(v["parcel"]["length"], json!(20.2));
    assert_eq!(v["postage_label"], Value::Null);
    assert_eq!(recorded(&stats(&e.base).await, "shipments_created"), 1);
}

#[tokio::test]
async fn buys_once_and_a_second_buy_returns_the_same_label() {
    let e = env().await;
    let c = connector(&e.base);
    let s = c
        .create_shipment(&label_request("orderhub-shipment-2"))
        .await
        .unwrap();
    let rate = cheapest(&s.rates).clone();
    let label = c.buy(&s.id, &rate.id).await.unwrap();
    assert_eq!(label.amount, rate.amount);
    assert_eq!(label.carrier, rate.carrier);
    assert_eq!(label.service, rate.service);
    assert_eq!(label.currency, "USD");
    assert!(!label.tracking_code.is_empty());
    assert!(
        label
            .label_url
            .starts_with(&format!("{}/labels/pl_", e.base)),
        "{}",
        label.label_url
    );
    assert!(label
        .tracking_url
        .as_deref()
        .is_some_and(|u| u.starts_with("https://track.easypost.com/")));
    let png = reqwest::get(&label.label_url).await.unwrap();
    assert_eq!(png.status(), 200);
    assert!(png.bytes().await.unwrap().starts_with(b"\x89PNG"));

    // A second buy (the same rate, or another) is refused by EasyPost with
    // SHIPMENT.POSTAGE.EXISTS and reconciled to the label that exists.
    assert_eq!(c.buy(&s.id, &rate.id).await.unwrap(), label);
    let other = s.rates.iter().find(|r| r.id != rate.id).unwrap();
    assert_eq!(c.buy(&s.id, &other.id).await.unwrap(), label);
    assert_eq!(c.shipment(&s.id).await.unwrap().label, Some(label));

    let st = stats(&e.base).await;
    assert_eq!(recorded(&st, "labels_total"), 1);
    assert_eq!(labels_for(&st, "orderhub-shipment-2"), 1);
    assert_eq!(recorded(&st, "buys_refused_postage_exists"), 2);
    assert_eq!(st.recorded["trackers_by_status"]["pre_transit"], 1);
}

#[tokio::test]
async fn concurrent_buys_of_one_shipment_buy_one_label() {
    let e = env().await;
    let c = Arc::new(connector(&e.base));
    let s = c
        .create_shipment(&label_request("orderhub-shipment-3"))
        .await
        .unwrap();
    let rate = cheapest(&s.rates).id.clone();
    let tasks: Vec<_> = (0..6)
        .map(|_| {
            let (c, id, rate) = (c.clone(), s.id.clone(), rate.clone());
            tokio::spawn(async move { c.buy(&id, &rate).await })
        })
        .collect();
    let mut labels = HashSet::new();
    for t in tasks {
        labels.insert(t.await.unwrap().unwrap().tracking_code);
    }
    assert_eq!(labels.len(), 1);
    assert_eq!(labels_for(&stats(&e.base).await, "orderhub-shipment-3"), 1);
}

#[tokio::test]
async fn a_buy_whose_answer_is_lost_is_reconciled_to_one_label() {
    let e = env().await;
    // The client gives up after 500 ms; the sandbox buys, then hangs 1.5 s.
    let c = connector_with(&e.base, KEY, Duration::from_millis(500), 5);
    let s = c
        .create_shipment(&label_request("orderhub-shipment-4"))
        .await
        .unwrap();
    set_faults(
        &e.base,
        &FaultConfig {
            rate_timeout_after_success: 1.0,
            timeout_ms: Some(1_500),
            paths: vec!["/buy".into()],
            ..FaultConfig::default()
        },
    )
    .await;
    let rate = cheapest(&s.rates).clone();
    let label = c.buy(&s.id, &rate.id).await.unwrap();
    assert_eq!(label.amount, rate.amount);

    let st = stats(&e.base).await;
    assert_eq!(labels_for(&st, "orderhub-shipment-4"), 1, "{st:?}");
    assert_eq!(recorded(&st, "labels_total"), 1);
    assert!(st.faults_injected["timeout_after_success"] >= 1);
    assert!(recorded(&st, "buys_refused_postage_exists") >= 1);
    set_faults(&e.base, &FaultConfig::default()).await;
    assert_eq!(c.shipment(&s.id).await.unwrap().label, Some(label));
}

#[tokio::test]
async fn a_buy_that_times_out_before_the_work_buys_once_on_retry() {
    let e = env().await;
    let c = connector_with(&e.base, KEY, Duration::from_millis(400), 6);
    let s = c
        .create_shipment(&label_request("orderhub-shipment-5"))
        .await
        .unwrap();
    // A seed whose first buy hangs before the work and whose second does not.
    let faults = |seed| FaultConfig {
        rate_timeout: 0.5,
        timeout_ms: Some(1_000),
        paths: vec!["/buy".into()],
        seed: Some(seed),
        ..FaultConfig::default()
    };
    let seed = (0..1_000u64)
        .find(|seed| {
            let core = crate::sandbox::SandboxCore::new();
            core.set_faults(faults(*seed)).unwrap();
            let first = core.decide_fault("/v2/shipments/{id}/buy");
            let second = core.decide_fault("/v2/shipments/{id}/buy");
            matches!(first, Some(crate::sandbox::Fault::Timeout(_))) && second.is_none()
        })
        .unwrap();
    set_faults(&e.base, &faults(seed)).await;
    let label = c.buy(&s.id, &cheapest(&s.rates).id).await.unwrap();
    // Let the hung handler's sleep run out: it must not buy a second label.
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    let st = stats(&e.base).await;
    assert_eq!(st.faults_injected.get("timeout"), Some(&1), "{st:?}");
    assert_eq!(labels_for(&st, "orderhub-shipment-5"), 1, "{st:?}");
    assert_eq!(
        c.shipment(&s.id)
            .await
            .unwrap()
            .label
            .unwrap()
            .tracking_code,
        label.tracking_code
    );
}

#[tokio::test]
async fn survives_5xx_and_429() {
    let e = env().await;
    let c = connector_with(&e.base, KEY, Duration::from_secs(2), 12);
    set_faults(
        &e.base,
        &FaultConfig {
            rate_429: 0.2,
            rate_5xx: 0.2,
            retry_after_secs: Some(0.01),
            seed: Some(7),
            ..FaultConfig::default()
        },
    )
    .await;
    for i in 0..5 {
        let reference = format!("orderhub-shipment-5xx-{i}");
        let s = c.create_shipment(&label_request(&reference)).await.unwrap();
        let label = c.buy(&s.id, &cheapest(&s.rates).id).await.unwrap();
        assert_eq!(
            c.shipment(&s.id).await.unwrap().label.as_ref(),
            Some(&label)
        );
    }
    let st = stats(&e.base).await;
    assert!(
        st.faults_injected.get("429").copied().unwrap_or(0) > 0,
        "{st:?}"
    );
    assert!(
        st.faults_injected.get("5xx").copied().unwrap_or(0) > 0,
        "{st:?}"
    );
    assert_eq!(recorded(&st, "labels_total"), 5);
    for i in 0..5 {
        assert_eq!(labels_for(&st, &format!("orderhub-shipment-5xx-{i}")), 1);
    }
}

#[tokio::test]
async fn a_wrong_key_is_permanent_and_never_shown() {
    let e = env().await;
    let wrong = "EZTK_wrong_key_abcdef";
    let c = connector_with(&e.base, wrong, Duration::from_secs(2), 8);
    let err = c
        .create_shipment(&label_request("orderhub-shipment-6"))
        .await
        .unwrap_err();
    match &err {
        RemoteError::Permanent { status, message } => {
            assert_eq!(*status, Some(401));
            assert!(message.contains("UNAUTHORIZED"), "{message}");
            assert!(!message.contains(wrong), "{message}");
            assert!(!message.contains(KEY), "{message}");
        }
        other => panic!("expected a permanent error, got {other:?}"),
    }
    // Not retried: one request.
    assert_eq!(stats(&e.base).await.total_requests(), 1);

    // No key at all: EasyPost's error body.
    let (status, v) = raw(
        reqwest::Method::GET,
        format!("{}/v2/webhooks", e.base),
        None,
        None,
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(v["error"]["code"], "UNAUTHORIZED");
    assert!(v["error"]["errors"].is_array());
    // Basic auth with the key as the user, as EasyPost also accepts.
    let r = reqwest::Client::new()
        .get(format!("{}/v2/webhooks", e.base))
        .basic_auth(KEY, None::<&str>)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn unknown_rates_and_shipments_are_permanent() {
    let e = env().await;
    let c = connector(&e.base);
    let s = c
        .create_shipment(&label_request("orderhub-shipment-7"))
        .await
        .unwrap();
    let err = c.buy(&s.id, "rate_nope").await.unwrap_err();
    assert!(!err.is_retryable());
    assert!(err.to_string().contains("SHIPMENT.MISSING_RATE"), "{err}");
    let err = c.shipment("shp_nope").await.unwrap_err();
    assert!(matches!(
        err,
        RemoteError::Permanent {
            status: Some(404),
            ..
        }
    ));
    assert!(err.to_string().contains("NOT_FOUND"), "{err}");
    let err = c.buy("shp_nope", "rate_nope").await.unwrap_err();
    assert!(err.to_string().contains("NOT_FOUND"), "{err}");
    assert_eq!(recorded(&stats(&e.base).await, "labels_total"), 0);
}

#[tokio::test]
async fn a_spoiled_rate_is_left_out() {
    let e = env().await;
    let c = connector(&e.base);
    set_faults(
        &e.base,
        &FaultConfig {
            rate_malformed: 1.0,
            paths: vec!["/v2/shipments".into()],
            ..FaultConfig::default()
        },
    )
    .await;
    let s = c
        .create_shipment(&label_request("orderhub-shipment-8"))
        .await
        .unwrap();
    assert_eq!(s.rates.len(), 6);
}

// ------------------------------------------------------------ sandbox shapes

#[tokio::test]
async fn the_sandbox_answers_junk_with_easyposts_errors() {
    let e = env().await;
    let url = format!("{}/v2/shipments", e.base);
    let post = reqwest::Method::POST;

    let (status, v) = raw(post.clone(), url.clone(), Some("{not json"), Some(KEY)).await;
    assert_eq!(status, 400);
    assert_eq!(v["error"]["code"], "BAD_REQUEST");

    let (status, v) = raw(post.clone(), url.clone(), Some("[1,2]"), Some(KEY)).await;
    assert_eq!(status, 422);
    assert_eq!(v["error"]["code"], "PARAMETER.REQUIRED");

    let body = json!({"shipment": {"to_address": {"city": 5}, "from_address": "x",
        "parcel": {"weight": "heavy", "length": 3}, "reference": {"a": 1}}});
    let (status, v) = raw(
        post.clone(),
        url.clone(),
        Some(&body.to_string()),
        Some(KEY),
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(v["error"]["code"], "SHIPMENT.INVALID_PARAMS");
    let fields: Vec<FieldError> = serde_json::from_value(v["error"]["errors"].clone()).unwrap();
    let names: HashSet<&str> = fields.iter().map(|f| f.field.as_str()).collect();
    for f in [
        "shipment.to_address.street1",
        "shipment.to_address.zip",
        "shipment.from_address",
        "shipment.parcel.weight",
        "shipment.parcel",
        "shipment.reference",
    ] {
        assert!(names.contains(f), "{f} missing from {names:?}");
    }

    let weights = [json!(0), json!(-1), json!(1e9), json!("NaN"), json!(null)];
    for w in weights {
        let body = json!({"shipment": {
            "to_address": {"street1": "1 A St", "city": "X", "zip": "1"},
            "from_address": {"street1": "1 A St", "city": "X", "zip": "1"},
            "parcel": {"weight": w}}});
        let (status, _) = raw(
            post.clone(),
            url.clone(),
            Some(&body.to_string()),
            Some(KEY),
        )
        .await;
        assert_eq!(status, 422, "weight {w}");
    }

    let (status, v) = raw(
        post.clone(),
        format!("{url}/shp_unknown/buy"),
        Some("{}"),
        Some(KEY),
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(v["error"]["code"], "NOT_FOUND");
    let (status, _) = raw(
        post.clone(),
        format!("{url}/x/buy"),
        Some("\u{0}"),
        Some(KEY),
    )
    .await;
    assert_eq!(status, 400);
    let (status, v) = raw(
        reqwest::Method::GET,
        format!("{}/v2/nothing/here", e.base),
        None,
        Some(KEY),
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(v["error"]["code"], "NOT_FOUND");
    let (status, v) = raw(
        reqwest::Method::PUT,
        format!("{}/v2/shipments", e.base),
        Some("{}"),
        Some(KEY),
    )
    .await;
    assert_eq!(status, 405);
    assert_eq!(v["error"]["code"], "METHOD_NOT_ALLOWED");
    let (status, v) = raw(
        post.clone(),
        format!("{}/v2/webhooks", e.base),
        Some(r#"{"webhook": {"url": "not a url"}}"#),
        Some(KEY),
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(v["error"]["code"], "WEBHOOK.INVALID");
    let (status, _) = raw(
        post,
        format!("{}/_sandbox/trackers/trk_nope/replay", e.base),
        None,
        None,
    )
    .await;
    assert_eq!(status, 404);
    // Still serving.
    assert_eq!(e.sandbox.shipment_count(), 0);
}

#[tokio::test]
async fn webhooks_are_registered_and_listed_as_easypost_shows_them() {
    let e = env().await;
    let (status, v) = raw(
        reqwest::Method::POST,
        format!("{}/v2/webhooks", e.base),
        Some(
            &json!({"webhook": {"url": "http://127.0.0.1:9/hook", "webhook_secret": SECRET}})
                .to_string(),
        ),
        Some(KEY),
    )
    .await;
    assert_eq!(status, 201);
    // The documented Webhook object's fields, and no secret.
    let documented: Value = serde_json::from_str(WEBHOOK_CREATE).unwrap();
    let keys = |v: &Value| -> HashSet<String> { v.as_object().unwrap().keys().cloned().collect() };
    assert_eq!(keys(&v), keys(&documented));
    assert!(v["id"].as_str().unwrap().starts_with("hook_"));
    let (status, list) = raw(
        reqwest::Method::GET,
        format!("{}/v2/webhooks", e.base),
        None,
        Some(KEY),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(list["webhooks"][0]["id"], v["id"]);
    assert!(!list.to_string().contains("webhook_secret"));
}

// ------------------------------------------------------------------ webhooks

fn signed(body: &[u8], secret: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(
        HEADER_SIGNATURE,
        sign_webhook(secret, body).parse().unwrap(),
    );
    h
}

#[test]
fn webhook_signatures_good_bad_missing_tampered() {
    let c = EasyPostConnector::new(setup("http://127.0.0.1:1", KEY)).unwrap();
    let body = EVENT_TRACKER_UPDATED.as_bytes();

    let ok = c.verify_webhook(&signed(body, SECRET), body).unwrap();
    assert_eq!(ok.delivery_id, "evt_...");
    assert_eq!(ok.topic, "tracker.updated");
    // The same secret in decomposed form signs alike (NFKD on both sides).
    let decomposed = "whse\u{301}cret-fine";
    assert!(c.verify_webhook(&signed(body, decomposed), body).is_ok());

    assert_eq!(
        c.verify_webhook(&signed(body, "another secret"), body)
            .unwrap_err(),
        WebhookError::BadSignature
    );
    assert_eq!(
        c.verify_webhook(&HeaderMap::new(), body).unwrap_err(),
        WebhookError::MissingHeader(HEADER_SIGNATURE)
    );
    let mut tampered = body.to_vec();
    let at = tampered.len() / 2;
    tampered[at] ^= 0x01;
    assert_eq!(
        c.verify_webhook(&signed(body, SECRET), &tampered)
            .unwrap_err(),
        WebhookError::BadSignature
    );
    let sig = sign_webhook(SECRET, body);
    for bad in [
        sig.trim_start_matches(SIGNATURE_PREFIX).to_string(), // no prefix
        format!("{SIGNATURE_PREFIX}zz{}", &sig[SIGNATURE_PREFIX.len() + 2..]), // not hex
        format!("{sig}00"),                                   // too long
        format!("sha256={}", &sig[SIGNATURE_PREFIX.len()..]), // other scheme
    ] {
        let mut h = HeaderMap::new();
        h.insert(HEADER_SIGNATURE, bad.parse().unwrap());
        assert_eq!(
            c.verify_webhook(&h, body).unwrap_err(),
            WebhookError::BadSignature,
            "{bad}"
        );
    }

    // Signed, but not an Event: refused without calling it a forgery.
    for junk in [&b"not json"[..], &br#"{"object":"Event"}"#[..], &b"[]"[..]] {
        assert!(matches!(
            c.verify_webhook(&signed(junk, SECRET), junk),
            Err(WebhookError::UnsupportedTopic(_))
        ));
    }
    // Other events verify; tracking_update then ignores them.
    let batch = EVENT_BATCH_UPDATED.as_bytes();
    assert_eq!(
        c.verify_webhook(&signed(batch, SECRET), batch)
            .unwrap()
            .topic,
        "batch.updated"
    );
    // The free function agrees.
    assert!(verify_easypost_webhook(SECRET, &signed(body, SECRET), body).is_ok());
    assert!(verify_easypost_webhook("", &signed(body, ""), body).is_err());
}

/// What the receiver accepted, in arrival order.
type Received = Arc<Mutex<Vec<(VerifiedWebhook, Option<TrackingUpdate>)>>>;

/// A tiny hub endpoint that verifies every delivery with the connector.
#[derive(Clone)]
struct Receiver {
    connector: Arc<EasyPostConnector>,
    got: Received,
    refused: Arc<AtomicUsize>,
    /// Answer 503 to this many requests first.
    fail_first: Arc<AtomicUsize>,
}

async fn receive(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    if r.fail_first
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
    {
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    match r.connector.verify_webhook(&headers, &body) {
        Ok(v) => {
            let update = r.connector.tracking_update(&body).unwrap();
            r.got.lock().unwrap().push((v, update));
            StatusCode::OK
        }
        Err(_) => {
            r.refused.fetch_add(1, Ordering::SeqCst);
            StatusCode::UNAUTHORIZED
        }
    }
}

async fn receiver(
    sandbox_base: &str,
    fail_first: usize,
) -> (Receiver, String, tokio::task::JoinHandle<()>) {
    let r = Receiver {
        connector: Arc::new(EasyPostConnector::new(setup(sandbox_base, KEY)).unwrap()),
        got: Arc::default(),
        refused: Arc::default(),
        fail_first: Arc::new(AtomicUsize::new(fail_first)),
    };
    let app = Router::new()
        .route("/hooks/easypost", post(receive))
        .with_state(r.clone());
    let (addr, handle) = serve(app, "127.0.0.1:0").await.unwrap();
    (r, format!("http://{addr}/hooks/easypost"), handle)
}

async fn register_webhook(base: &str, url: &str, secret: &str) {
    let (status, v) = raw(
        reqwest::Method::POST,
        format!("{base}/v2/webhooks"),
        Some(&json!({"webhook": {"url": url, "webhook_secret": secret}}).to_string()),
        Some(KEY),
    )
    .await;
    assert_eq!(status, 201, "{v}");
}

async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..1_000 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test]
async fn tracker_steps_send_signed_events_that_the_connector_reads() {
    let e = env().await;
    // The receiver fails its first request: the sandbox retries it.
    let (r, hook_url, rx) = receiver(&e.base, 1).await;
    register_webhook(&e.base, &hook_url, SECRET).await;
    let c = connector(&e.base);
    let s = c
        .create_shipment(&label_request("orderhub-shipment-9"))
        .await
        .unwrap();
    let label = c.buy(&s.id, &cheapest(&s.rates).id).await.unwrap();
    // tracker.created goes out in the background after the buy.
    wait_for("tracker.created", || !r.got.lock().unwrap().is_empty()).await;

    let advance = format!("{}/_sandbox/trackers/advance", e.base);
    for _ in 0..3 {
        let (status, v) = raw(reqwest::Method::POST, advance.clone(), None, None).await;
        assert_eq!(status, 200);
        assert_eq!(v["delivered"], 1, "{v}");
        assert_eq!(v["failed"], 0);
    }
    // Delivered trackers do not move.
    let (_, v) = raw(reqwest::Method::POST, advance, None, None).await;
    assert_eq!(v["events"], json!([]));
    assert_eq!(
        e.sandbox.tracker_status(&s.id).as_deref(),
        Some("delivered")
    );

    let got = r.got.lock().unwrap().clone();
    assert_eq!(got.len(), 4, "{got:?}");
    assert_eq!(r.refused.load(Ordering::SeqCst), 0);
    let topics: Vec<&str> = got.iter().map(|(v, _)| v.topic.as_str()).collect();
    assert_eq!(
        topics,
        [
            "tracker.created",
            "tracker.updated",
            "tracker.updated",
            "tracker.updated"
        ]
    );
    let ids: HashSet<&str> = got.iter().map(|(v, _)| v.delivery_id.as_str()).collect();
    assert_eq!(ids.len(), 4, "each step is a new event");
    assert!(ids.iter().all(|id| id.starts_with("evt_")));
    let statuses: Vec<TrackingStatus> = got
        .iter()
        .map(|(_, u)| u.as_ref().unwrap().status)
        .collect();
    assert_eq!(
        statuses,
        [
            TrackingStatus::PreTransit,
            TrackingStatus::InTransit,
            TrackingStatus::OutForDelivery,
            TrackingStatus::Delivered
        ]
    );
    let last = got[3].1.clone().unwrap();
    assert_eq!(last.tracking_code, label.tracking_code);
    assert_eq!(last.carrier_shipment_id.as_deref(), Some(s.id.as_str()));
    assert_eq!(last.public_url, label.tracking_url);
    assert_eq!(last.details.len(), 4);
    assert!(last
        .details
        .windows(2)
        .all(|w| w[0].occurred_at < w[1].occurred_at));
    assert_eq!(last.details[3].carrier_status, "delivered");
    assert_eq!(
        last.details[3].location.as_deref(),
        Some("Redondo Beach, CA, 90277, US")
    );

    // A replay is the same event again: the hub sees a duplicate id.
    let (status, v) = raw(
        reqwest::Method::POST,
        format!("{}/_sandbox/trackers/{}/replay", e.base, s.id),
        None,
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(v["delivered"], 1);
    let got = r.got.lock().unwrap().clone();
    assert_eq!(got.len(), 5);
    assert_eq!(got[4].0.delivery_id, got[3].0.delivery_id);

    let st = stats(&e.base).await;
    assert_eq!(recorded(&st, "webhooks_sent"), 5);
    assert_eq!(recorded(&st, "webhook_attempts_failed"), 1);
    assert_eq!(recorded(&st, "webhooks_failed"), 0);
    assert_eq!(recorded(&st, "events_created"), 4);
    assert_eq!(st.recorded["trackers_by_status"], json!({"delivered": 1}));
    rx.abort();
}

#[tokio::test]
async fn deliveries_that_keep_failing_are_given_up_and_counted() {
    let e = env_with(EasyPostSandboxOptions {
        webhook_attempts: 3,
        send_tracker_created: false,
        ..opts()
    })
    .await;
    // A receiver that checks with another secret refuses every delivery.
    let (r, hook_url, rx) = receiver(&e.base, 0).await;
    register_webhook(&e.base, &hook_url, "not the hub's secret").await;
    // And a webhook nobody listens on.
    register_webhook(&e.base, "http://127.0.0.1:9/nobody", SECRET).await;
    let c = connector(&e.base);
    let s = c
        .create_shipment(&label_request("orderhub-shipment-10"))
        .await
        .unwrap();
    c.buy(&s.id, &cheapest(&s.rates).id).await.unwrap();
    let report = e.sandbox.advance_tracker(&s.id).await.unwrap();
    assert_eq!(report.events.len(), 1);
    assert_eq!(report.delivered, 0);
    assert_eq!(report.failed, 2);
    assert_eq!(r.refused.load(Ordering::SeqCst), 3);
    let st = stats(&e.base).await;
    assert_eq!(recorded(&st, "webhooks_failed"), 2);
    assert_eq!(recorded(&st, "webhook_attempts_failed"), 6);
    assert_eq!(recorded(&st, "webhooks_sent"), 0);
    rx.abort();
}

#[tokio::test]
async fn trackers_advance_on_their_own_when_asked_to() {
    let e = env_with(EasyPostSandboxOptions {
        advance_every_ms: 20,
        ..opts()
    })
    .await;
    let (r, hook_url, rx) = receiver(&e.base, 0).await;
    register_webhook(&e.base, &hook_url, SECRET).await;
    let c = connector(&e.base);
    let s = c
        .create_shipment(&label_request("orderhub-shipment-11"))
        .await
        .unwrap();
    c.buy(&s.id, &cheapest(&s.rates).id).await.unwrap();
    let sb = e.sandbox.clone();
    let id = s.id.clone();
    wait_for("delivery", || {
        sb.tracker_status(&id).as_deref() == Some("delivered")
    })
    .await;
    wait_for("four events", || r.got.lock().unwrap().len() == 4).await;
    rx.abort();
}

// ---------------------------------------------------- documented payloads

#[test]
fn the_documented_shipment_maps() {
    let s: Shipment = serde_json::from_str(SHIPMENT_CREATE).unwrap();
    let cs = shipment_from_wire(&s).unwrap();
    assert_eq!(cs.id, "shp_490d50bd449442edb36f75e2937b32e8");
    assert!(cs.label.is_none());
    let amounts: Vec<Decimal> = cs.rates.iter().map(|r| r.amount).collect();
    assert_eq!(
        amounts,
        [
            Decimal::new(1007, 2),
            Decimal::new(4455, 2),
            Decimal::new(916, 2)
        ]
    );
    assert_eq!(cs.rates[0].id, "rate_aacff1509904422ca4b079fea6926895");
    assert_eq!(cs.rates[0].delivery_days, Some(2));
    assert_eq!(cs.rates[1].delivery_days, None);
    assert_eq!(cs.rates[2].service, "ParcelSelect");
    assert!(cs
        .rates
        .iter()
        .all(|r| r.carrier == "USPS" && r.currency == "USD"));
}

#[test]
fn the_documented_bought_shipment_maps_to_its_label() {
    let s: Shipment = serde_json::from_str(SHIPMENT_BUY).unwrap();
    let label = label_from_wire(&s).unwrap().unwrap();
    assert_eq!(label.tracking_code, "9461200106068143633094");
    assert_eq!(
        label.label_url,
        "https://easypost-files.s3.us-west-2.amazonaws.com/files/postage_label/20221017/d8f58ee193b24f9fadffae791f85d5f0.png"
    );
    assert_eq!(label.carrier, "USPS");
    assert_eq!(label.service, "ParcelSelect");
    assert_eq!(label.amount, Decimal::new(916, 2));
    assert_eq!(label.currency, "USD");
    assert_eq!(
        label.tracking_url.as_deref(),
        Some("https://track.easypost.com/djE6dHJrX2M4MDFmOGZiMTM4MDRjMWJiOGNiZTBjM2M3NTBhOGU3")
    );
    assert_eq!(shipment_from_wire(&s).unwrap().label, Some(label));

    // A label without its price is an error, not a guess.
    let mut broken = s.clone();
    if let Some(r) = broken.selected_rate.as_mut() {
        r.rate = Some("9,16".into());
    }
    let err = label_from_wire(&broken).unwrap_err();
    assert!(err.contains("selected_rate.rate"), "{err}");
}

#[test]
fn the_documented_tracker_event_maps_with_details_in_time_order() {
    let c = EasyPostConnector::new(setup("http://127.0.0.1:1", KEY)).unwrap();
    let u = c
        .tracking_update(EVENT_TRACKER_UPDATED.as_bytes())
        .unwrap()
        .unwrap();
    assert_eq!(u.tracking_code, "EZ4000000004");
    assert_eq!(u.carrier_shipment_id, None);
    assert_eq!(u.status, TrackingStatus::Delivered);
    assert_eq!(u.carrier_status, "delivered");
    assert_eq!(
        u.public_url.as_deref(),
        Some("https://track.easypost.com/djE7...")
    );
    assert_eq!(u.details.len(), 6);
    assert!(u
        .details
        .windows(2)
        .all(|w| w[0].occurred_at <= w[1].occurred_at));
    // The example's "DELIVERED" scan carries the earliest time, so it sorts first.
    assert_eq!(u.details[0].message.as_deref(), Some("DELIVERED"));
    assert_eq!(
        u.details[1].message.as_deref(),
        Some("BILLING INFORMATION RECEIVED")
    );
    assert_eq!(u.details[1].status, TrackingStatus::PreTransit);
    assert_eq!(u.details[1].location, None);
    assert_eq!(
        u.details[2].location.as_deref(),
        Some("SOUTH SAN FRANCISCO, CA, US")
    );
    assert_eq!(u.details[5].status, TrackingStatus::OutForDelivery);

    // The documented tracker (GET /trackers/{id}) reads the same way.
    let t: Tracker = serde_json::from_str(TRACKER_RETRIEVE).unwrap();
    let u = tracker_update("tracker", &t).unwrap();
    assert_eq!(u.status, TrackingStatus::PreTransit);
    assert_eq!(
        u.carrier_shipment_id.as_deref(),
        Some("shp_b3b2b84b0ad14a2ca926ab8fddd02ef2")
    );
    assert_eq!(u.details[1].location.as_deref(), Some("HOUSTON, TX, 77063"));
}

#[test]
fn unknown_statuses_stay_unknown() {
    let mut v: Value = serde_json::from_str(EVENT_TRACKER_UPDATED).unwrap();
    v["result"]["status"] = json!("teleported");
    v["result"]["tracking_details"][2]["status"] = json!("beamed_up");
    let u = tracking_update_from_event(v.to_string().as_bytes())
        .unwrap()
        .unwrap();
    assert_eq!(u.status, TrackingStatus::Unknown);
    assert_eq!(u.carrier_status, "teleported");
    let beamed = u
        .details
        .iter()
        .find(|d| d.carrier_status == "beamed_up")
        .unwrap();
    assert_eq!(beamed.status, TrackingStatus::Unknown);
    // EasyPost's own "unknown" is Unknown too, never guessed forward.
    v["result"]["status"] = json!("unknown");
    let u = tracking_update_from_event(v.to_string().as_bytes())
        .unwrap()
        .unwrap();
    assert_eq!(u.status, TrackingStatus::Unknown);
}

#[test]
fn other_events_are_ignored_and_malformed_ones_name_the_field() {
    assert_eq!(
        tracking_update_from_event(EVENT_BATCH_UPDATED.as_bytes()),
        Ok(None)
    );
    let base: Value = serde_json::from_str(EVENT_TRACKER_UPDATED).unwrap();
    type Spoil = Box<dyn Fn(&mut Value)>;
    let cases: Vec<(Spoil, &str)> = vec![
        (
            Box::new(|v: &mut Value| {
                v["result"]["tracking_details"][0]["datetime"] = json!("yesterday")
            }),
            "result.tracking_details[0].datetime",
        ),
        (
            Box::new(|v: &mut Value| {
                v["result"]["tracking_details"][3]
                    .as_object_mut()
                    .unwrap()
                    .remove("datetime");
            }),
            "result.tracking_details[3].datetime",
        ),
        (
            Box::new(|v: &mut Value| v["result"]["tracking_code"] = Value::Null),
            "result.tracking_code",
        ),
        (
            Box::new(|v: &mut Value| v["result"]["status"] = json!("")),
            "result.status",
        ),
        (
            Box::new(|v: &mut Value| v["result"] = json!("trk_1")),
            "result",
        ),
        (
            Box::new(|v: &mut Value| v["result"]["tracking_details"] = json!("none")),
            "result.tracking_details",
        ),
        (
            Box::new(|v: &mut Value| v["result"]["object"] = json!("Batch")),
            "result.object",
        ),
        (
            Box::new(|v: &mut Value| v["object"] = json!("Shipment")),
            "object",
        ),
        (
            Box::new(|v: &mut Value| v["description"] = json!(null)),
            "description",
        ),
    ];
    for (spoil, field) in cases {
        let mut v = base.clone();
        spoil(&mut v);
        let err = tracking_update_from_event(v.to_string().as_bytes()).unwrap_err();
        assert!(err.starts_with(field), "{field}: {err}");
    }
    assert!(tracking_update_from_event(b"{").is_err());
    assert!(tracking_update_from_event(b"[]").is_err());
}

#[test]
fn the_documented_error_body_reads() {
    let e: ErrorBody = serde_json::from_str(ERROR_ADDRESS_VERIFY).unwrap();
    assert_eq!(e.error.code, "ADDRESS.VERIFY.FAILURE");
    assert_eq!(e.error.message_text(), "Address not found");
    let fields: Vec<FieldError> = e
        .error
        .errors
        .iter()
        .map(|v| serde_json::from_value(v.clone()).unwrap())
        .collect();
    assert_eq!(fields[1].field, "street1");
}

#[test]
fn the_kind_builds_from_config() {
    let kind = carrier_kind("easypost").unwrap();
    assert_eq!(
        kind.required_secrets.to_vec(),
        vec!["api_key", "webhook_secret"]
    );
    let c = (kind.build)(setup("https://api.easypost.com", KEY)).unwrap();
    assert_eq!(c.kind(), "easypost");
    let mut no_base = setup("", KEY);
    no_base.base_url.clear();
    let c = EasyPostConnector::new(no_base).unwrap();
    assert_eq!(c.base_url(), "https://api.easypost.com/");
    assert!((kind.build)(setup("https://api.easypost.com", "")).is_err());
}

// ------------------------------------------------ void, formats, contract

const SHIPMENT_REFUND: &str = include_str!("testdata/shipment_refund.json");

/// Create and buy the cheapest rate of `carrier`.
async fn bought(c: &EasyPostConnector, reference: &str, carrier: &str) -> crate::PurchasedLabel {
    let s = c.create_shipment(&label_request(reference)).await.unwrap();
    let rates: Vec<crate::Rate> = s
        .rates
        .iter()
        .filter(|r| r.carrier == carrier)
        .cloned()
        .collect();
    c.buy(&s.id, &cheapest(&rates).id).await.unwrap()
}

fn voids_for(s: &Stats, reference: &str) -> u64 {
    s.recorded["voids_by_reference"]
        .get(reference)
        .and_then(Value::as_u64)
        .unwrap_or(0)
}

#[test]
fn the_documented_refund_answer_reads() {
    let s: Shipment = serde_json::from_str(SHIPMENT_REFUND).unwrap();
    assert_eq!(
        mapping::void_status_from_wire(&s).unwrap(),
        crate::VoidStatus::Submitted
    );
    let with = |status: Option<&str>| {
        let mut s = s.clone();
        s.refund_status = status.map(str::to_string);
        mapping::void_status_from_wire(&s)
    };
    assert_eq!(with(Some("refunded")).unwrap(), crate::VoidStatus::Voided);
    assert!(matches!(
        with(Some("rejected")).unwrap(),
        crate::VoidStatus::Rejected(r) if r.contains("rejected")
    ));
    assert!(matches!(
        with(Some("not_applicable")).unwrap(),
        crate::VoidStatus::Rejected(_)
    ));
    assert!(with(None).unwrap_err().contains("refund_status"));
    assert!(with(Some("maybe")).unwrap_err().contains("maybe"));
    // Its label is a PNG (label_file_type), voided by shipment id.
    let label = label_from_wire(&s).unwrap().unwrap();
    assert_eq!(label.label_format, crate::LabelFormat::Png);
    assert_eq!(label.label_id, "shp_6f6dc1fae22442798e7aee61c9ea2cf6");
}

#[tokio::test]
async fn voids_go_through_refund_once() {
    let e = env().await;
    let c = connector(&e.base);
    // USPS refunds are submitted (decided later); UPS ones are refunded.
    let usps = bought(&c, "orderhub-shipment-20", "USPS").await;
    assert_eq!(
        c.void(&usps.label_id, &usps.label_id).await.unwrap(),
        crate::VoidStatus::Submitted
    );
    let ups = bought(&c, "orderhub-shipment-21", "UPS").await;
    assert_eq!(
        c.void(&ups.label_id, "").await.unwrap(),
        crate::VoidStatus::Voided
    );
    // A second void: EasyPost refuses it, the connector reads the status back.
    assert_eq!(
        c.void(&usps.label_id, &usps.label_id).await.unwrap(),
        crate::VoidStatus::Submitted
    );
    let (status, v) = raw(
        reqwest::Method::POST,
        format!("{}/v2/shipments/{}/refund", e.base, usps.label_id),
        None,
        Some(KEY),
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(v["error"]["code"], "SHIPMENT.REFUND.FAILURE");

    // A scanned label is rejected, and may be asked again (still rejected).
    let scanned = bought(&c, "orderhub-shipment-22", "USPS").await;
    e.sandbox
        .advance_tracker(&scanned.tracking_code)
        .await
        .unwrap();
    for _ in 0..2 {
        assert!(matches!(
            c.void(&scanned.label_id, &scanned.label_id).await.unwrap(),
            crate::VoidStatus::Rejected(_)
        ));
    }
    // No postage: EasyPost's refusal, permanent; unknown shipment: 404.
    let s = c
        .create_shipment(&label_request("orderhub-shipment-23"))
        .await
        .unwrap();
    let err = c.void(&s.id, &s.id).await.unwrap_err();
    assert!(!err.is_retryable());
    assert!(err.to_string().contains("SHIPMENT.REFUND.FAILURE"), "{err}");
    assert!(c.void("shp_nope", "shp_nope").await.is_err());
    assert!(c.void("", "").await.is_err());

    let st = stats(&e.base).await;
    assert_eq!(voids_for(&st, "orderhub-shipment-20"), 1);
    assert_eq!(voids_for(&st, "orderhub-shipment-21"), 1);
    assert_eq!(voids_for(&st, "orderhub-shipment-22"), 0);
    assert_eq!(voids_for(&st, "orderhub-shipment-23"), 0);
    // A voided label's tracker does not move.
    let report = e.sandbox.advance_trackers().await;
    assert_eq!(report.events.len(), 1, "only the scanned one moves");
    assert_eq!(
        e.sandbox.tracker_status(&usps.tracking_code).as_deref(),
        Some("pre_transit")
    );
}

#[tokio::test]
async fn a_void_whose_answer_is_lost_is_reconciled() {
    let e = env().await;
    let c = connector_with(&e.base, KEY, Duration::from_millis(500), 5);
    let label = bought(&c, "orderhub-shipment-24", "USPS").await;
    set_faults(
        &e.base,
        &FaultConfig {
            rate_timeout_after_success: 1.0,
            timeout_ms: Some(1_500),
            paths: vec!["/refund".into()],
            ..FaultConfig::default()
        },
    )
    .await;
    assert_eq!(
        c.void(&label.label_id, &label.label_id).await.unwrap(),
        crate::VoidStatus::Submitted
    );
    let st = stats(&e.base).await;
    assert_eq!(voids_for(&st, "orderhub-shipment-24"), 1, "{st:?}");
    assert!(st.faults_injected["timeout_after_success"] >= 1);
}

#[tokio::test]
async fn labels_come_in_the_asked_format() {
    let e = env().await;
    let c = connector(&e.base);
    let caps = c.capabilities();
    assert!(caps.buys_labels && caps.voids && !caps.multi_parcel);
    assert_eq!(
        caps.label_formats,
        &[
            crate::LabelFormat::Pdf,
            crate::LabelFormat::Png,
            crate::LabelFormat::Zpl
        ]
    );
    for (format, word, ext, content_type, magic) in [
        (
            crate::LabelFormat::Pdf,
            "PDF",
            "pdf",
            "application/pdf",
            &b"%PDF-"[..],
        ),
        (
            crate::LabelFormat::Png,
            "PNG",
            "png",
            "image/png",
            &b"\x89PNG"[..],
        ),
        (
            crate::LabelFormat::Zpl,
            "ZPL",
            "zpl",
            "application/zpl",
            &b"^XA"[..],
        ),
    ] {
        let mut req = label_request(&format!("orderhub-shipment-fmt-{ext}"));
        req.label_format = format;
        let s = c.create_shipment(&req).await.unwrap();
        let (_, v) = raw(
            reqwest::Method::GET,
            format!("{}/v2/shipments/{}", e.base, s.id),
            None,
            Some(KEY),
        )
        .await;
        assert_eq!(v["options"]["label_format"], word);
        let label = c.buy(&s.id, &cheapest(&s.rates).id).await.unwrap();
        assert_eq!(label.label_format, format);
        assert!(
            label.label_url.ends_with(&format!(".{ext}")),
            "{}",
            label.label_url
        );
        let r = reqwest::get(&label.label_url).await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["content-type"], content_type);
        let bytes = r.bytes().await.unwrap();
        assert!(bytes.starts_with(magic), "{ext}");
        if format != crate::LabelFormat::Png {
            let text = String::from_utf8_lossy(&bytes);
            assert!(text.contains(&label.tracking_code), "{ext}");
        }
        // The same file under another extension is not served.
        let other = label.label_url.replace(&format!(".{ext}"), ".gif");
        assert_eq!(reqwest::get(&other).await.unwrap().status(), 404);
    }
    // A format EasyPost does not take is a field error.
    let (status, v) = raw(
        reqwest::Method::POST,
        format!("{}/v2/shipments", e.base),
        Some(
            &json!({"shipment": {
                "to_address": {"street1": "1 A St", "city": "X", "zip": "90277"},
                "from_address": {"street1": "1 B St", "city": "Y", "zip": "94104"},
                "parcel": {"weight": 10},
                "options": {"label_format": "GIF"}}})
            .to_string(),
        ),
        Some(KEY),
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(
        v["error"]["errors"][0]["field"],
        "shipment.options.label_format"
    );
}

#[tokio::test]
async fn the_contract_routes_deliver_signed_events_by_tracking_code() {
    // The sandbox as the kind declares it: its profile's key and secret.
    let sb = &KIND.sandbox;
    let profile = (sb.profile)();
    let router = (sb.router)(&profile, crate::sandbox::CarrierSandboxSettings::default());
    let (addr, server) = serve(router, "127.0.0.1:0").await.unwrap();
    let base = format!("http://{addr}");
    let mut s = setup(&base, profile.secret("api_key"));
    s.secrets.insert(
        "webhook_secret".into(),
        profile.secret("webhook_secret").into(),
    );
    let hub = Arc::new(EasyPostConnector::new(s.clone()).unwrap());
    let r = Receiver {
        connector: hub.clone(),
        got: Arc::default(),
        refused: Arc::default(),
        fail_first: Arc::new(AtomicUsize::new(0)),
    };
    let app = Router::new()
        .route("/hooks/easypost", post(receive))
        .with_state(r.clone());
    let (hook_addr, rx) = serve(app, "127.0.0.1:0").await.unwrap();
    let (status, v) = raw(
        reqwest::Method::POST,
        format!("{base}/_sandbox/subscribe"),
        Some(&json!({"url": format!("http://{hook_addr}/hooks/easypost")}).to_string()),
        None,
    )
    .await;
    assert_eq!(status, 201, "{v}");
    let (status, _) = raw(
        reqwest::Method::POST,
        format!("{base}/_sandbox/subscribe"),
        Some(r#"{"url": "not a url"}"#),
        None,
    )
    .await;
    assert_eq!(status, 400);

    let c = EasyPostConnector::new(s).unwrap();
    let label = bought(&c, "orderhub-shipment-30", "USPS").await;
    wait_for("tracker.created", || !r.got.lock().unwrap().is_empty()).await;
    let (status, v) = raw(
        reqwest::Method::POST,
        format!("{base}/_sandbox/trackers/{}/advance", label.tracking_code),
        None,
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(v["delivered"], 1, "{v}");
    let (status, v) = raw(
        reqwest::Method::POST,
        format!("{base}/_sandbox/trackers/{}/replay", label.tracking_code),
        None,
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(v["delivered"], 1, "{v}");
    let got = r.got.lock().unwrap().clone();
    assert_eq!(r.refused.load(Ordering::SeqCst), 0);
    assert_eq!(got.len(), 3);
    assert_eq!(got[2].0.delivery_id, got[1].0.delivery_id);
    let update = got[1].1.clone().unwrap();
    assert_eq!(update.tracking_code, label.tracking_code);
    assert_eq!(update.status, TrackingStatus::InTransit);
    for path in ["NOPE/advance", "NOPE/replay"] {
        let (status, _) = raw(
            reqwest::Method::POST,
            format!("{base}/_sandbox/trackers/{path}"),
            None,
            None,
        )
        .await;
        assert_eq!(status, 404, "{path}");
    }
    // Revoked credentials answer as a bad key does.
    let (status, _) = raw(
        reqwest::Method::POST,
        format!("{base}/_sandbox/credentials"),
        Some(r#"{"revoked": true}"#),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let err = c.shipment(&label.label_id).await.unwrap_err();
    assert!(err.is_auth_failure(), "{err}");
    rx.abort();
    server.abort();
}

// ------------------------------------------------------------------ returns

const SHIPMENT_CREATE_RETURN_REQUEST: &str =
    include_str!("testdata/shipment_create_return_request.json");

#[test]
fn a_return_request_is_the_outbound_shipment_with_is_return() {
    let req = label_request("orderhub-return-7");
    let body = serde_json::to_value(mapping::return_shipment_request(&req)).unwrap();
    assert_eq!(body["shipment"]["is_return"], true);
    // The outbound addresses as they are: EasyPost swaps them itself.
    assert_eq!(
        body["shipment"]["from_address"]["street1"],
        "417 Montgomery Street"
    );
    assert_eq!(body["shipment"]["to_address"]["street1"], "179 N Harbor Dr");
    assert_eq!(body["shipment"]["reference"], "orderhub-return-7");
    let outbound = serde_json::to_value(mapping::shipment_request(&req)).unwrap();
    assert!(
        outbound["shipment"].get("is_return").is_none(),
        "{outbound}"
    );
    // The documented request shape has the same keys.
    let doc: Value = serde_json::from_str(SHIPMENT_CREATE_RETURN_REQUEST).unwrap();
    for key in ["to_address", "from_address", "parcel", "is_return"] {
        assert!(doc["shipment"].get(key).is_some(), "{key}");
        assert!(body["shipment"].get(key).is_some(), "{key}");
    }
}

#[tokio::test]
async fn a_return_label_goes_from_the_customer_to_the_warehouse_once() {
    let env = env().await;
    let c = connector(&env.base);
    assert!(c.supports_returns());
    let req = label_request("orderhub-return-9");
    let shp = c.create_return_shipment(&req).await.unwrap();
    let rate = cheapest(&shp.rates).clone();
    let label = c.buy(&shp.id, &rate.id).await.unwrap();
    // A second buy (a retry) returns the same label and buys nothing.
    let again = c.buy(&shp.id, &rate.id).await.unwrap();
    assert_eq!(label.tracking_code, again.tracking_code);
    let (_, wire) = raw(
        reqwest::Method::GET,
        format!("{}/v2/shipments/{}", env.base, shp.id),
        None,
        Some(KEY),
    )
    .await;
    assert_eq!(wire["is_return"], true);
    assert_eq!(wire["from_address"]["street1"], "179 N Harbor Dr", "{wire}");
    assert_eq!(wire["to_address"]["street1"], "417 Montgomery Street");
    let s = stats(&env.base).await;
    assert_eq!(recorded(&s, "return_shipments_created"), 1);
    assert_eq!(recorded(&s, "return_labels_total"), 1);
    assert_eq!(
        s.recorded["return_labels_by_reference"]["orderhub-return-9"],
        1
    );
    // An outbound label is not a return one.
    let out = c
        .create_shipment(&label_request("orderhub-shipment-1"))
        .await
        .unwrap();
    c.buy(&out.id, &cheapest(&out.rates).id).await.unwrap();
    let s = stats(&env.base).await;
    assert_eq!(recorded(&s, "return_labels_total"), 1);
    assert_eq!(recorded(&s, "labels_total"), 2);
    // A non-boolean is_return is refused like EasyPost refuses bad params.
    let (status, _) = raw(
        reqwest::Method::POST,
        format!("{}/v2/shipments", env.base),
        Some(
            &json!({"shipment": {"is_return": "yes", "to_address": {"street1": "1 A St", "city": "X", "zip": "94104", "country": "US"}, "from_address": {"street1": "1 B St", "city": "Y", "zip": "94104", "country": "US"}, "parcel": {"weight": 10}}})
                .to_string(),
        ),
        Some(KEY),
    )
    .await;
    assert_eq!(status, 422);
}
