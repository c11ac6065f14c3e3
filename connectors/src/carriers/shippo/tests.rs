//! The connector against its sandbox over real HTTP on loopback, and the
//! mapping against Shippo's documented example payloads (testdata/).

use super::mapping::{label_from_transaction, rate_from_wire, shipment_from_wire, track_update};
use super::wire::{error_text, Page, Rate as WireRate, Shipment, Track, Transaction};
use super::*;
use crate::carrier::{carrier_kind, Carrier, CarrierSetup, LabelFormat, LabelRequest, ParcelSpec};
use crate::http::{HttpClient, RetryPolicy};
use crate::marketplace::{VerifiedWebhook, WebhookError};
use crate::sandbox::{serve, FaultConfig, Stats};
use crate::{RemoteError, TrackingUpdate, VoidStatus};
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
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

const TOKEN: &str = "shippo_test_0123456789abcdef_tests";
const HOOK_TOKEN: &str = "hook-token-ab12";
const HMAC: &str = "shippo-hmac-secret";

const SHIPMENT_CREATE: &str = include_str!("testdata/shipment_create.json");
const TRANSACTION_RETRIEVE: &str = include_str!("testdata/transaction_retrieve.json");
const TRANSACTIONS_LIST: &str = include_str!("testdata/transactions_list.json");
const TRACK_RETRIEVE: &str = include_str!("testdata/track_retrieve.json");
const WEBHOOK_TRACK_UPDATED: &str = include_str!("testdata/webhook_track_updated.json");
const WEBHOOK_TRANSACTION_CREATED: &str = include_str!("testdata/webhook_transaction_created.json");
const ERROR_NOT_FOUND: &str = include_str!("testdata/error_not_found.json");
const ERROR_FIELDS: &str = include_str!("testdata/error_field_errors.json");
const SAMPLE_RATE: &str = include_str!("testdata/sample_rate.json");
const REFUND_CREATE: &str = include_str!("testdata/refund_create.json");

struct Env {
    sandbox: ShippoSandbox,
    base: String,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Env {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn opts() -> ShippoSandboxOptions {
    ShippoSandboxOptions {
        webhook_retry_base_ms: 20,
        webhook_timeout_ms: 1_000,
        limits: ShippoLimits::VOLUME,
        ..ShippoSandboxOptions::with_token(TOKEN)
    }
}

async fn env_with(opts: ShippoSandboxOptions) -> Env {
    let sandbox = ShippoSandbox::new(opts);
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

fn setup(base: &str, token: &str) -> CarrierSetup {
    CarrierSetup {
        channel_id: "shippo-test".into(),
        base_url: base.into(),
        options: BTreeMap::new(),
        secrets: BTreeMap::from([
            ("api_token".to_string(), token.to_string()),
            ("webhook_token".to_string(), HOOK_TOKEN.to_string()),
        ]),
        request_timeout: Duration::from_secs(2),
    }
}

fn connector_with(base: &str, token: &str, timeout: Duration, attempts: u32) -> ShippoConnector {
    let fast = HttpClient::new("shippo:test", timeout, None).with_retry_policy(RetryPolicy {
        max_attempts: attempts,
        base: Duration::from_millis(5),
        max: Duration::from_millis(50),
    });
    ShippoConnector::new(setup(base, token))
        .unwrap()
        .with_http_client(fast)
}

fn connector(base: &str) -> ShippoConnector {
    connector_with(base, TOKEN, Duration::from_secs(2), 8)
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
        phone: Some("4151234567".into()),
    }
}

fn parcel(weight_oz: i64) -> ParcelSpec {
    ParcelSpec {
        weight_oz: Decimal::from(weight_oz),
        length_in: Decimal::new(102, 1),
        width_in: Decimal::new(8, 0),
        height_in: Decimal::new(4, 0),
    }
}

fn label_request(reference: &str) -> LabelRequest {
    LabelRequest {
        reference: reference.into(),
        from: addr(
            "Warehouse",
            "1092 Indian Summer Ct",
            "San Jose",
            "CA",
            "95122",
        ),
        to: addr("Mr Hippo", "965 Mission St", "San Francisco", "CA", "94103"),
        parcels: vec![parcel(40)],
        label_format: LabelFormat::Pdf,
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

fn count_in(s: &Stats, map: &str, key: &str) -> u64 {
    s.recorded[map]
        .get(key)
        .and_then(Value::as_u64)
        .unwrap_or(0)
}

/// A raw call to the sandbox, as Shippo's own client libraries make it.
async fn raw(
    method: reqwest::Method,
    url: String,
    body: Option<&str>,
    token: Option<&str>,
) -> (u16, HeaderMap, Value) {
    let mut rb = reqwest::Client::new().request(method, url);
    if let Some(t) = token {
        rb = rb.header("authorization", format!("ShippoToken {t}"));
    }
    if let Some(b) = body {
        rb = rb
            .header("content-type", "application/json")
            .body(b.to_string());
    }
    let r = rb.send().await.unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let text = r.text().await.unwrap();
    (
        status,
        headers,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn cheapest(rates: &[crate::Rate]) -> &crate::Rate {
    rates.iter().min_by_key(|r| r.amount).unwrap()
}

// --------------------------------------------------------------- rate and buy

#[tokio::test]
async fn creates_a_multi_parcel_shipment_with_exact_rates() {
    let e = env().await;
    let c = connector(&e.base);
    let mut req = label_request("orderhub-shipment-1");
    req.parcels = vec![parcel(40), parcel(24)];
    let s = c.create_shipment(&req).await.unwrap();
    assert_eq!(s.id.len(), 32, "{}", s.id);
    assert!(s.label.is_none());
    assert_eq!(s.rates.len(), 4);
    let priority = s
        .rates
        .iter()
        .find(|r| r.carrier == "USPS" && r.service == "Priority Mail")
        .unwrap();
    // 64 oz = 4 lb: 8.70 + 3 × 1.45, and 7.00 for the second box.
    assert_eq!(priority.amount, Decimal::new(2005, 2));
    assert_eq!(priority.currency, "USD");
    assert_eq!(priority.delivery_days, Some(2));
    for (carrier, service) in [
        ("USPS", "Ground Advantage"),
        ("UPS", "Ground"),
        ("UPS", "2nd Day Air"),
    ] {
        assert!(s
            .rates
            .iter()
            .any(|r| r.carrier == carrier && r.service == service));
    }
    assert_eq!(c.shipment(&s.id).await.unwrap(), s);

    // What Shippo was sent, read back as Shippo's clients see it.
    let (status, _, v) = raw(
        reqwest::Method::GET,
        format!("{}/shipments/{}", e.base, s.id),
        None,
        Some(TOKEN),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(v["metadata"], "orderhub-shipment-1");
    assert_eq!(v["status"], "SUCCESS");
    assert_eq!(v["address_to"]["street1"], "965 Mission St");
    assert_eq!(v["address_to"]["street2"], "Suite 5");
    assert_eq!(v["address_to"]["zip"], "94103");
    assert_eq!(v["address_from"]["city"], "San Jose");
    assert_eq!(v["parcels"].as_array().unwrap().len(), 2);
    assert_eq!(v["parcels"][0]["weight"], "40");
    assert_eq!(v["parcels"][0]["length"], "10.2");
    assert_eq!(v["parcels"][0]["mass_unit"], "oz");
    assert_eq!(v["parcels"][0]["distance_unit"], "in");
    assert!(v["rates"][0]["amount"].is_string());
    assert_eq!(v["object_owner"], "sandbox@orderhub.test");
    assert_eq!(recorded(&stats(&e.base).await, "shipments_created"), 1);

    // Shippo answers 201 to a create.
    let body = serde_json::to_string(&super::mapping::shipment_request(&req)).unwrap();
    let (status, _, v) = raw(
        reqwest::Method::POST,
        format!("{}/shipments/", e.base),
        Some(&body),
        Some(TOKEN),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    assert_eq!(v["rates"].as_array().unwrap().len(), 4);
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
    assert_eq!(label.label_format, LabelFormat::Pdf);
    assert_eq!(label.label_id.len(), 32);
    assert!(label.tracking_code.starts_with("9400"));
    assert!(label
        .tracking_url
        .as_deref()
        .is_some_and(|u| u.contains(&label.tracking_code)));
    assert!(label.label_url.starts_with(&format!("{}/labels/", e.base)));
    let pdf = reqwest::get(&label.label_url).await.unwrap();
    assert_eq!(pdf.status(), 200);
    assert_eq!(pdf.headers()["content-type"], "application/pdf");
    assert!(pdf.bytes().await.unwrap().starts_with(b"%PDF"));

    // Again, with the same rate or another: the same label, still one bought.
    assert_eq!(c.buy(&s.id, &rate.id).await.unwrap(), label);
    let other = s.rates.iter().find(|r| r.id != rate.id).unwrap();
    let again = c.buy(&s.id, &other.id).await.unwrap();
    assert_eq!(again.label_id, label.label_id);
    assert_eq!(again.tracking_code, label.tracking_code);
    assert_eq!(c.shipment(&s.id).await.unwrap().label, Some(label.clone()));

    let st = stats(&e.base).await;
    assert_eq!(recorded(&st, "labels_total"), 1);
    assert_eq!(
        count_in(&st, "labels_by_reference", "orderhub-shipment-2"),
        1
    );
    assert_eq!(recorded(&st, "transactions_returned_existing"), 2);
    assert_eq!(e.sandbox.labels_for_reference("orderhub-shipment-2"), 1);

    // The purchase as Shippo shows it.
    let (status, _, t) = raw(
        reqwest::Method::GET,
        format!("{}/transactions/{}", e.base, label.label_id),
        None,
        Some(TOKEN),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(t["status"], "SUCCESS");
    assert_eq!(t["rate"], json!(rate.id));
    assert_eq!(t["metadata"], "orderhub-shipment-2");
}

#[tokio::test]
async fn the_label_format_travels_with_the_shipment_id() {
    let e = env().await;
    let c = connector(&e.base);
    for (format, ext, content_type) in [
        (LabelFormat::Zpl, "zpl", "application/zpl"),
        (LabelFormat::Png, "png", "image/png"),
    ] {
        let mut req = label_request(&format!("orderhub-shipment-fmt-{ext}"));
        req.label_format = format;
        let s = c.create_shipment(&req).await.unwrap();
        assert!(s.id.ends_with(&format!("~{ext}")), "{}", s.id);
        let label = c.buy(&s.id, &cheapest(&s.rates).id).await.unwrap();
        assert_eq!(label.label_format, format);
        assert!(label.label_url.ends_with(&format!(".{ext}")));
        let r = reqwest::get(&label.label_url).await.unwrap();
        assert_eq!(r.headers()["content-type"], content_type);
        assert_eq!(c.shipment(&s.id).await.unwrap().label, Some(label));
    }
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
    assert_eq!(e.sandbox.labels_for_reference("orderhub-shipment-3"), 1);
}

#[tokio::test]
async fn a_buy_whose_answer_is_lost_is_found_by_shipment() {
    let e = env().await;
    // One attempt, 500 ms: the sandbox buys, then hangs 1.5 s.
    let c = connector_with(&e.base, TOKEN, Duration::from_millis(500), 1);
    let s = c
        .create_shipment(&label_request("orderhub-shipment-4"))
        .await
        .unwrap();
    set_faults(
        &e.base,
        &FaultConfig {
            rate_timeout_after_success: 1.0,
            timeout_ms: Some(1_500),
            paths: vec!["/transactions".into()],
            ..FaultConfig::default()
        },
    )
    .await;
    let rate = cheapest(&s.rates).clone();
    let err = c.buy(&s.id, &rate.id).await.unwrap_err();
    assert!(err.is_retryable(), "{err}");
    set_faults(&e.base, &FaultConfig::default()).await;
    // The hub asks before buying again: the label is there.
    let found = c.shipment(&s.id).await.unwrap().label.unwrap();
    assert_eq!(found.amount, rate.amount);
    assert_eq!(found.carrier, rate.carrier);
    // And a retried buy answers the same label without buying another.
    assert_eq!(c.buy(&s.id, &rate.id).await.unwrap(), found);
    let st = stats(&e.base).await;
    assert_eq!(
        count_in(&st, "labels_by_reference", "orderhub-shipment-4"),
        1
    );
    assert!(st.faults_injected["timeout_after_success"] >= 1);
}

#[tokio::test]
async fn a_buy_retried_after_a_lost_answer_buys_once() {
    let e = env().await;
    let c = connector_with(&e.base, TOKEN, Duration::from_millis(500), 5);
    let s = c
        .create_shipment(&label_request("orderhub-shipment-5"))
        .await
        .unwrap();
    set_faults(
        &e.base,
        &FaultConfig {
            rate_timeout_after_success: 1.0,
            timeout_ms: Some(1_500),
            paths: vec!["/transactions".into()],
            seed: Some(1),
            ..FaultConfig::default()
        },
    )
    .await;
    // Every answer hangs: the shared client retries, each time the sandbox
    // answers the existing transaction; none is a second label.
    let _ = c.buy(&s.id, &cheapest(&s.rates).id).await;
    set_faults(&e.base, &FaultConfig::default()).await;
    let st = stats(&e.base).await;
    assert_eq!(
        count_in(&st, "labels_by_reference", "orderhub-shipment-5"),
        1
    );
    assert!(
        recorded(&st, "transactions_returned_existing") >= 1,
        "{st:?}"
    );
}

#[tokio::test]
async fn survives_5xx_and_429() {
    let e = env().await;
    let c = connector_with(&e.base, TOKEN, Duration::from_secs(2), 12);
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
    for i in 0..4 {
        let reference = format!("orderhub-shipment-5xx-{i}");
        let s = c.create_shipment(&label_request(&reference)).await.unwrap();
        let label = c.buy(&s.id, &cheapest(&s.rates).id).await.unwrap();
        assert_eq!(c.shipment(&s.id).await.unwrap().label, Some(label));
    }
    let st = stats(&e.base).await;
    assert!(st.faults_injected.get("429").copied().unwrap_or(0) > 0);
    assert!(st.faults_injected.get("5xx").copied().unwrap_or(0) > 0);
    assert_eq!(recorded(&st, "labels_total"), 4);
}

#[tokio::test]
async fn a_refused_purchase_is_permanent_with_shippos_messages() {
    let e = env().await;
    let c = connector(&e.base);
    let mut req = label_request("orderhub-shipment-6");
    req.to.postal_code = Some("00000".into());
    let s = c.create_shipment(&req).await.unwrap();
    let err = c.buy(&s.id, &cheapest(&s.rates).id).await.unwrap_err();
    assert!(!err.is_retryable());
    assert!(err.to_string().contains("could not be found"), "{err}");
    assert!(c.shipment(&s.id).await.unwrap().label.is_none());
    let st = stats(&e.base).await;
    assert_eq!(recorded(&st, "labels_total"), 0);
    assert_eq!(recorded(&st, "transactions_failed"), 1);
}

#[tokio::test]
async fn voids_map_refund_statuses() {
    let e = env().await;
    let c = connector(&e.base);
    // USPS: queued at Shippo, submitted for us.
    let s = c
        .create_shipment(&label_request("orderhub-shipment-7"))
        .await
        .unwrap();
    let usps = s.rates.iter().find(|r| r.carrier == "USPS").unwrap();
    let label = c.buy(&s.id, &usps.id).await.unwrap();
    assert_eq!(
        c.void(&s.id, &label.label_id).await.unwrap(),
        VoidStatus::Submitted
    );
    // Asked again (a retry): the same refund, counted once.
    assert_eq!(
        c.void(&s.id, &label.label_id).await.unwrap(),
        VoidStatus::Submitted
    );
    // A voided label is no longer the shipment's label.
    assert!(c.shipment(&s.id).await.unwrap().label.is_none());

    // UPS: voided at once.
    let s = c
        .create_shipment(&label_request("orderhub-shipment-8"))
        .await
        .unwrap();
    let ups = s.rates.iter().find(|r| r.carrier == "UPS").unwrap();
    let label = c.buy(&s.id, &ups.id).await.unwrap();
    assert!(label.tracking_code.starts_with("1Z"));
    assert_eq!(
        c.void(&s.id, &label.label_id).await.unwrap(),
        VoidStatus::Voided
    );

    // Scanned by the carrier: refused.
    let s = c
        .create_shipment(&label_request("orderhub-shipment-9"))
        .await
        .unwrap();
    let label = c.buy(&s.id, &cheapest(&s.rates).id).await.unwrap();
    e.sandbox
        .advance_tracker(&label.tracking_code)
        .await
        .unwrap();
    assert!(matches!(
        c.void(&s.id, &label.label_id).await.unwrap(),
        VoidStatus::Rejected(_)
    ));
    let err = c.void(&s.id, "nope").await.unwrap_err();
    assert!(!err.is_retryable());
    assert!(err.to_string().contains("transaction"), "{err}");

    let st = stats(&e.base).await;
    assert_eq!(
        count_in(&st, "voids_by_reference", "orderhub-shipment-7"),
        1
    );
    assert_eq!(
        count_in(&st, "voids_by_reference", "orderhub-shipment-8"),
        1
    );
    assert_eq!(
        count_in(&st, "voids_by_reference", "orderhub-shipment-9"),
        0
    );
}

#[tokio::test]
async fn a_wrong_token_is_permanent_and_never_shown() {
    let e = env().await;
    let wrong = "shippo_test_wrong_token_999";
    let c = connector_with(&e.base, wrong, Duration::from_secs(2), 8);
    let err = c
        .create_shipment(&label_request("orderhub-shipment-10"))
        .await
        .unwrap_err();
    assert!(err.is_auth_failure(), "{err}");
    let text = err.to_string();
    assert!(text.contains("Invalid token."), "{text}");
    assert!(!text.contains(wrong) && !text.contains(TOKEN), "{text}");
    assert_eq!(stats(&e.base).await.total_requests(), 1);

    let (status, _, v) = raw(
        reqwest::Method::GET,
        format!("{}/shipments/x", e.base),
        None,
        None,
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(v["detail"], "Authentication credentials were not provided.");
    // Revoked credentials answer as Shippo does for a dead token.
    reqwest::Client::new()
        .post(format!("{}/_sandbox/credentials", e.base))
        .json(&json!({"revoked": true}))
        .send()
        .await
        .unwrap();
    let err = connector(&e.base).shipment("abc").await.unwrap_err();
    assert!(err.is_auth_failure(), "{err}");
}

#[tokio::test]
async fn unknown_objects_answer_shippos_errors() {
    let e = env().await;
    let c = connector(&e.base);
    let err = c.shipment("0123abcd").await.unwrap_err();
    assert!(matches!(
        err,
        RemoteError::Permanent {
            status: Some(404),
            ..
        }
    ));
    assert!(err.to_string().contains("Not found."), "{err}");
    let s = c
        .create_shipment(&label_request("orderhub-shipment-11"))
        .await
        .unwrap();
    let err = c.buy(&s.id, "rate_nope").await.unwrap_err();
    assert!(!err.is_retryable());
    let url = format!("{}/transactions/", e.base);
    let (status, _, v) = raw(
        reqwest::Method::POST,
        url.clone(),
        Some(r#"{"rate": "nope", "async": false}"#),
        Some(TOKEN),
    )
    .await;
    assert_eq!(status, 400);
    assert!(v["rate"][0].as_str().unwrap().contains("does not exist"));
    let (status, _, v) = raw(reqwest::Method::POST, url, Some("{}"), Some(TOKEN)).await;
    assert_eq!(status, 400);
    assert_eq!(v["rate"], json!(["This field is required."]));
    let (status, _, v) = raw(
        reqwest::Method::POST,
        format!("{}/shipments", e.base),
        Some(
            &json!({"address_from": {"city": "X"}, "address_to": "x", "async": false,
                "parcels": [{"length": "1", "width": "1", "height": "1", "distance_unit": "in",
                "weight": "1", "mass_unit": "oz"}, {"weight": "-1", "mass_unit": "stone"}]})
            .to_string(),
        ),
        Some(TOKEN),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        v["address_from"]["street1"],
        json!(["This field is required."])
    );
    assert!(v["address_to"].is_object());
    assert_eq!(v["parcels"][0], json!({}));
    assert!(v["parcels"][1]["weight"].is_array());
    assert!(error_text(&v).unwrap().contains("parcels.weight"));
    let (status, _, _) = raw(
        reqwest::Method::POST,
        format!("{}/shipments", e.base),
        Some("{not json"),
        Some(TOKEN),
    )
    .await;
    assert_eq!(status, 400);
    for path in ["trackers/nope/advance", "trackers/nope/replay"] {
        let (status, _, _) = raw(
            reqwest::Method::POST,
            format!("{}/_sandbox/{path}", e.base),
            None,
            None,
        )
        .await;
        assert_eq!(status, 404, "{path}");
    }
}

#[tokio::test]
async fn a_spoiled_rate_is_left_out() {
    let e = env().await;
    let c = connector(&e.base);
    set_faults(
        &e.base,
        &FaultConfig {
            rate_malformed: 1.0,
            paths: vec!["/shipments".into()],
            ..FaultConfig::default()
        },
    )
    .await;
    let s = c
        .create_shipment(&label_request("orderhub-shipment-12"))
        .await
        .unwrap();
    assert_eq!(s.rates.len(), 3);
}

// ---------------------------------------------------------------- rate limits

#[tokio::test]
async fn the_sandbox_enforces_its_limit_and_the_client_paces_below_it() {
    let limits = ShippoLimits {
        post: 5,
        get_one: 50,
        get_list: 2,
        window_ms: 1_000,
    };
    let e = env_with(ShippoSandboxOptions { limits, ..opts() }).await;
    let body = serde_json::to_string(&super::mapping::shipment_request(&label_request(
        "orderhub-burst",
    )))
    .unwrap();
    // A raw burst: past the bucket, Shippo's 429.
    let mut refused = 0;
    for _ in 0..10 {
        let (status, headers, v) = raw(
            reqwest::Method::POST,
            format!("{}/shipments/", e.base),
            Some(&body),
            Some(TOKEN),
        )
        .await;
        if status == 429 {
            refused += 1;
            assert!(headers.contains_key("retry-after"));
            assert!(v["detail"].as_str().unwrap().contains("throttled"), "{v}");
        }
    }
    assert!(refused >= 4, "{refused}");
    assert_eq!(stats(&e.base).await.throttled, refused);
    // Lists have their own, lower bucket.
    let mut list_refused = 0;
    for _ in 0..4 {
        let (status, _, _) = raw(
            reqwest::Method::GET,
            format!("{}/transactions/?rate=x", e.base),
            None,
            Some(TOKEN),
        )
        .await;
        if status == 429 {
            list_refused += 1;
        }
    }
    assert!(list_refused >= 1);

    // The connector paced at 4/s (its option) sees no refusal in a burst.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    reqwest::Client::new()
        .post(format!("{}/_sandbox/reset-stats", e.base))
        .send()
        .await
        .unwrap();
    let mut s = setup(&e.base, TOKEN);
    s.options.insert("requests_per_second".into(), "4".into());
    let c = Arc::new(ShippoConnector::new(s).unwrap());
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let c = c.clone();
            tokio::spawn(async move {
                c.create_shipment(&label_request(&format!("orderhub-paced-{i}")))
                    .await
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let st = stats(&e.base).await;
    assert_eq!(st.throttled, 0, "{st:?}");
    assert_eq!(st.total_requests(), 8);
}

// ------------------------------------------------------------------ webhooks

fn signed_headers(secret: &str, body: &[u8]) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(
        HEADER_SIGNATURE,
        sign_webhook(secret, chrono::Utc::now().timestamp(), body)
            .parse()
            .unwrap(),
    );
    h
}

#[test]
fn webhooks_are_authenticated_by_the_url_token_and_the_optional_hmac() {
    let c = ShippoConnector::new(setup("http://127.0.0.1:1", TOKEN)).unwrap();
    let body = WEBHOOK_TRACK_UPDATED.as_bytes();
    let none = HeaderMap::new();
    let good = format!("token={HOOK_TOKEN}");

    let ok = c.verify_webhook_request(Some(&good), &none, body).unwrap();
    assert_eq!(ok.topic, "track_updated");
    assert_eq!(ok.delivery_id, delivery_id(body));
    assert!(ok.delivery_id.starts_with("sha256:") && ok.delivery_id.len() == 71);
    // The same body is the same delivery; another body another.
    assert_eq!(
        c.verify_webhook_request(Some(&format!("?{good}")), &none, body)
            .unwrap()
            .delivery_id,
        ok.delivery_id
    );
    assert_ne!(delivery_id(b"{}"), ok.delivery_id);

    assert_eq!(
        c.verify_webhook_request(Some("token=wrong"), &none, body)
            .unwrap_err(),
        WebhookError::BadSignature
    );
    assert_eq!(
        c.verify_webhook_request(Some(&format!("{good}&token=x")), &none, body)
            .unwrap_err(),
        WebhookError::MissingHeader(TOKEN_PARAM)
    );
    assert_eq!(
        c.verify_webhook_request(None, &none, body).unwrap_err(),
        WebhookError::MissingHeader(TOKEN_PARAM)
    );
    // Without the query (the plain trait call): fail closed.
    assert_eq!(
        c.verify_webhook(&none, body).unwrap_err(),
        WebhookError::MissingHeader(TOKEN_PARAM)
    );
    // Authentic but not a Shippo webhook: refused, not called a forgery.
    assert!(matches!(
        c.verify_webhook_request(Some(&good), &none, b"[1]"),
        Err(WebhookError::UnsupportedTopic(_))
    ));
    // Other events verify; tracking_update ignores them.
    let other = WEBHOOK_TRANSACTION_CREATED.as_bytes();
    assert_eq!(
        c.verify_webhook_request(Some(&good), &none, other)
            .unwrap()
            .topic,
        "transaction_created"
    );

    // With HMAC provisioned: the header is required and checked on raw bytes.
    let mut s = setup("http://127.0.0.1:1", TOKEN);
    s.secrets.insert("webhook_secret".into(), HMAC.into());
    let c = ShippoConnector::new(s).unwrap();
    assert!(c
        .verify_webhook_request(Some(&good), &signed_headers(HMAC, body), body)
        .is_ok());
    assert_eq!(
        c.verify_webhook_request(Some(&good), &none, body)
            .unwrap_err(),
        WebhookError::MissingHeader(HEADER_SIGNATURE)
    );
    let mut tampered = body.to_vec();
    let at = tampered.len() / 2;
    tampered[at] ^= 0x01;
    assert_eq!(
        c.verify_webhook_request(Some(&good), &signed_headers(HMAC, body), &tampered)
            .unwrap_err(),
        WebhookError::BadSignature
    );
    assert_eq!(
        c.verify_webhook_request(Some(&good), &signed_headers("other", body), body)
            .unwrap_err(),
        WebhookError::BadSignature
    );
    // A good signature does not replace the token.
    assert_eq!(
        c.verify_webhook_request(Some("token=no"), &signed_headers(HMAC, body), body)
            .unwrap_err(),
        WebhookError::BadSignature
    );
    let stale = {
        let mut h = HeaderMap::new();
        h.insert(
            HEADER_SIGNATURE,
            sign_webhook(HMAC, chrono::Utc::now().timestamp() - 3_600, body)
                .parse()
                .unwrap(),
        );
        h
    };
    assert_eq!(
        c.verify_webhook_request(Some(&good), &stale, body)
            .unwrap_err(),
        WebhookError::BadSignature
    );
    assert!(verify_shippo_webhook("", None, Some("token=x"), &none, body, 0).is_err());
}

/// What the receiver accepted, in arrival order.
type Received = Arc<Mutex<Vec<(VerifiedWebhook, Option<TrackingUpdate>)>>>;

/// A tiny hub endpoint that verifies every delivery with the connector.
#[derive(Clone)]
struct Receiver {
    connector: Arc<ShippoConnector>,
    got: Received,
    refused: Arc<AtomicUsize>,
    fail_first: Arc<AtomicUsize>,
}

async fn receive(
    State(r): State<Receiver>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    if r.fail_first
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
    {
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    match r
        .connector
        .verify_webhook_request(query.as_deref(), &headers, &body)
    {
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
    connector: ShippoConnector,
    fail_first: usize,
) -> (Receiver, String, tokio::task::JoinHandle<()>) {
    let r = Receiver {
        connector: Arc::new(connector),
        got: Arc::default(),
        refused: Arc::default(),
        fail_first: Arc::new(AtomicUsize::new(fail_first)),
    };
    let app = Router::new()
        .route("/hooks/shippo", post(receive))
        .with_state(r.clone());
    let (addr, handle) = serve(app, "127.0.0.1:0").await.unwrap();
    (r, format!("http://{addr}/hooks/shippo"), handle)
}

async fn subscribe(base: &str, url: &str) {
    let (status, _, v) = raw(
        reqwest::Method::POST,
        format!("{base}/_sandbox/subscribe"),
        Some(&json!({ "url": url }).to_string()),
        None,
    )
    .await;
    assert_eq!(status, 200, "{v}");
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

async fn track_updates_flow(hmac: Option<&str>) {
    let e = env_with(ShippoSandboxOptions {
        hmac_secret: hmac.map(str::to_string),
        ..opts()
    })
    .await;
    let mut s = setup(&e.base, TOKEN);
    if let Some(h) = hmac {
        s.secrets.insert("webhook_secret".into(), h.into());
    }
    // The receiver fails its first request: the sandbox retries it.
    let (r, hook_url, rx) = receiver(ShippoConnector::new(s).unwrap(), 1).await;
    subscribe(&e.base, &format!("{hook_url}?token={HOOK_TOKEN}")).await;
    let c = connector(&e.base);
    let s = c
        .create_shipment(&label_request("orderhub-shipment-20"))
        .await
        .unwrap();
    let label = c.buy(&s.id, &cheapest(&s.rates).id).await.unwrap();
    wait_for("the pre-transit update", || {
        !r.got.lock().unwrap().is_empty()
    })
    .await;

    let advance = format!("{}/_sandbox/trackers/advance", e.base);
    for _ in 0..3 {
        let (status, _, v) = raw(reqwest::Method::POST, advance.clone(), None, None).await;
        assert_eq!(status, 200);
        assert_eq!(v["delivered"], 1, "{v}");
        assert_eq!(v["failed"], 0);
        assert!(v["events"][0].as_str().unwrap().starts_with("sha256:"));
    }
    let (_, _, v) = raw(reqwest::Method::POST, advance, None, None).await;
    assert_eq!(v["events"], json!([]));
    assert_eq!(
        e.sandbox.tracker_status(&label.tracking_code),
        Some(("DELIVERED".into(), "delivered".into()))
    );

    let got = r.got.lock().unwrap().clone();
    assert_eq!(got.len(), 4, "{got:?}");
    assert_eq!(r.refused.load(Ordering::SeqCst), 0);
    assert!(got.iter().all(|(v, _)| v.topic == "track_updated"));
    let ids: HashSet<&str> = got.iter().map(|(v, _)| v.delivery_id.as_str()).collect();
    assert_eq!(ids.len(), 4);
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
    assert_eq!(last.carrier_status, "DELIVERED");
    assert_eq!(last.details.len(), 4);
    assert!(last
        .details
        .windows(2)
        .all(|w| w[0].occurred_at < w[1].occurred_at));
    assert_eq!(
        last.details[3].location.as_deref(),
        Some("San Francisco, CA, 94103, US")
    );

    // A replay is the same event again: the hub sees a duplicate id.
    let (status, _, v) = raw(
        reqwest::Method::POST,
        format!(
            "{}/_sandbox/trackers/{}/replay",
            e.base, label.tracking_code
        ),
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
    assert_eq!(recorded(&st, "events_created"), 4);
    rx.abort();
}

#[tokio::test]
async fn track_updates_reach_the_subscribed_url_and_verify() {
    track_updates_flow(None).await;
}

#[tokio::test]
async fn signed_track_updates_verify_with_the_hmac() {
    track_updates_flow(Some(HMAC)).await;
}

#[tokio::test]
async fn deliveries_refused_with_a_4xx_are_not_retried() {
    let e = env_with(ShippoSandboxOptions {
        send_on_purchase: false,
        ..opts()
    })
    .await;
    // A receiver expecting another token refuses with 401: final, as Shippo
    // treats 4xx other than 408/429.
    let mut other = setup(&e.base, TOKEN);
    other
        .secrets
        .insert("webhook_token".into(), "another".into());
    let (r, hook_url, rx) = receiver(ShippoConnector::new(other).unwrap(), 0).await;
    subscribe(&e.base, &format!("{hook_url}?token={HOOK_TOKEN}")).await;
    // And a URL nobody listens on: retried, then given up.
    subscribe(&e.base, "http://127.0.0.1:9/nobody?token=x").await;
    let c = connector(&e.base);
    let s = c
        .create_shipment(&label_request("orderhub-shipment-21"))
        .await
        .unwrap();
    let label = c.buy(&s.id, &cheapest(&s.rates).id).await.unwrap();
    let report = e
        .sandbox
        .advance_tracker(&label.tracking_code)
        .await
        .unwrap();
    assert_eq!(report.events.len(), 1);
    assert_eq!(report.delivered, 0);
    assert_eq!(report.failed, 2);
    assert_eq!(r.refused.load(Ordering::SeqCst), 1);
    let st = stats(&e.base).await;
    assert_eq!(recorded(&st, "webhooks_failed"), 2);
    assert_eq!(recorded(&st, "webhook_attempts_failed"), 1 + 3);
    rx.abort();
}

#[tokio::test]
async fn trackers_advance_on_their_own_when_asked_to() {
    let e = env_with(ShippoSandboxOptions {
        advance_every_ms: 20,
        ..opts()
    })
    .await;
    let c = connector(&e.base);
    let s = c
        .create_shipment(&label_request("orderhub-shipment-22"))
        .await
        .unwrap();
    let label = c.buy(&s.id, &cheapest(&s.rates).id).await.unwrap();
    let sb = e.sandbox.clone();
    wait_for("delivery", || {
        sb.tracker_status(&label.tracking_code)
            .is_some_and(|(s, _)| s == "DELIVERED")
    })
    .await;
}

// ---------------------------------------------------- documented payloads

#[test]
fn the_documented_shipment_maps() {
    let s: Shipment = serde_json::from_str(SHIPMENT_CREATE).unwrap();
    let cs = shipment_from_wire("89436997a794439ab47999701e60392e", &s).unwrap();
    assert_eq!(cs.rates.len(), 1);
    let r = &cs.rates[0];
    assert_eq!(r.id, "545ab0a1a6ea4c9f9adb2512a57d6d8b");
    assert_eq!(r.carrier, "USPS");
    assert_eq!(r.service, "Priority Mail");
    assert_eq!(r.amount, Decimal::new(550, 2));
    assert_eq!(r.currency, "USD");
    assert_eq!(r.delivery_days, Some(2));
    assert_eq!(s.parcels[0].weight.as_deref(), Some("1"));
    assert_eq!(s.parcels[0].mass_unit.as_deref(), Some("lb"));
    assert_eq!(s.metadata.as_deref(), Some("Customer ID 123456"));

    let sample: WireRate = serde_json::from_str(SAMPLE_RATE).unwrap();
    let r = rate_from_wire("rate", &sample).unwrap();
    assert_eq!(r.amount, Decimal::new(1250, 2));
    let mut broken = sample.clone();
    broken.amount = Some("12,50".into());
    assert!(rate_from_wire("rates[0]", &broken)
        .unwrap_err()
        .starts_with("rates[0].amount"));
}

#[test]
fn the_documented_transactions_map() {
    let rate = crate::Rate {
        id: "ee81fab0372e419ab52245c8952ccaeb".into(),
        carrier: "USPS".into(),
        service: "Priority Mail".into(),
        amount: Decimal::new(550, 2),
        currency: "USD".into(),
        delivery_days: Some(2),
    };
    let t: Transaction = serde_json::from_str(TRANSACTION_RETRIEVE).unwrap();
    assert_eq!(
        t.rate_id().as_deref(),
        Some("ee81fab0372e419ab52245c8952ccaeb")
    );
    // The documented example is SUCCESS with an empty label_url: not a label.
    let err = label_from_transaction(&t, &rate, LabelFormat::Pdf).unwrap_err();
    assert!(err.starts_with("label_url"), "{err}");
    let mut good = t.clone();
    good.label_url = Some("https://deliver.goshippo.com/x.pdf".into());
    good.tracking_number = Some("9205590164917312751089".into());
    let super::mapping::Purchase::Bought(label) =
        label_from_transaction(&good, &rate, LabelFormat::Pdf).unwrap()
    else {
        panic!("a label");
    };
    assert_eq!(label.label_id, "ef8808606f4241ee848aa5990a09933c");
    assert_eq!(label.amount, Decimal::new(550, 2));
    assert_eq!(label.tracking_url, None);
    let mut failed = t.clone();
    failed.status = Some("ERROR".into());
    failed.messages = vec![json!({"source": "USPS", "code": "", "text": "Address not found"})];
    assert_eq!(
        label_from_transaction(&failed, &rate, LabelFormat::Pdf).unwrap(),
        super::mapping::Purchase::Failed("USPS: Address not found".into())
    );
    let page: Page<Transaction> = serde_json::from_str(TRANSACTIONS_LIST).unwrap();
    assert_eq!(page.results.len(), 1);
    assert_eq!(page.next, None);
    let refund: super::wire::Refund = serde_json::from_str(REFUND_CREATE).unwrap();
    assert_eq!(refund.status.as_deref(), Some("QUEUED"));
}

#[test]
fn the_documented_track_and_webhook_map() {
    let t: Track = serde_json::from_str(TRACK_RETRIEVE).unwrap();
    let u = track_update("track", &t).unwrap();
    assert_eq!(u.tracking_code, "9205590164917312751089");
    assert_eq!(u.status, TrackingStatus::Delivered);
    assert_eq!(u.carrier_status, "DELIVERED");
    assert_eq!(u.carrier_shipment_id, None);
    assert_eq!(u.details.len(), 2);
    assert_eq!(u.details[0].status, TrackingStatus::InTransit);
    assert_eq!(
        u.details[0].message.as_deref(),
        Some("Your shipment has been accepted.")
    );
    assert_eq!(
        u.details[0].location.as_deref(),
        Some("Las Vegas, NV, 89101, US")
    );

    let c = ShippoConnector::new(setup("http://127.0.0.1:1", TOKEN)).unwrap();
    let u = c
        .tracking_update(WEBHOOK_TRACK_UPDATED.as_bytes())
        .unwrap()
        .unwrap();
    assert_eq!(u.tracking_code, "9205590164917312751089");
    assert_eq!(u.status, TrackingStatus::Delivered);
    assert_eq!(u.details.len(), 1);
    assert_eq!(
        c.tracking_update(WEBHOOK_TRANSACTION_CREATED.as_bytes()),
        Ok(None)
    );
}

#[test]
fn status_mapping_table() {
    use TrackingStatus::*;
    for (status, sub, want) in [
        ("UNKNOWN", None, Unknown),
        ("PRE_TRANSIT", Some("information_received"), PreTransit),
        ("TRANSIT", None, InTransit),
        ("TRANSIT", Some("package_departed"), InTransit),
        ("TRANSIT", Some("out_for_delivery"), OutForDelivery),
        ("TRANSIT", Some("pickup_available"), AvailableForPickup),
        ("DELIVERED", Some("delivered"), Delivered),
        ("RETURNED", Some("return_to_sender"), ReturnToSender),
        ("FAILURE", Some("package_lost"), Failure),
        ("IN_TRANSIT", None, Unknown),
        ("transit", None, Unknown),
        ("", None, Unknown),
    ] {
        assert_eq!(status_from_wire(status, sub), want, "{status} {sub:?}");
    }
    // An unknown word in a webhook stays Unknown, never guessed forward.
    let mut v: Value = serde_json::from_str(WEBHOOK_TRACK_UPDATED).unwrap();
    v["data"]["tracking_status"]["status"] = json!("TELEPORTED");
    v["data"]["tracking_history"][0]["status"] = json!("BEAMED");
    let u = tracking_update_from_event(v.to_string().as_bytes())
        .unwrap()
        .unwrap();
    assert_eq!(u.status, Unknown);
    assert_eq!(u.carrier_status, "TELEPORTED");
    assert_eq!(u.details[0].status, Unknown);
    assert_eq!(u.details[0].carrier_status, "BEAMED");
}

#[test]
fn malformed_webhooks_name_the_field() {
    let base: Value = serde_json::from_str(WEBHOOK_TRACK_UPDATED).unwrap();
    type Spoil = Box<dyn Fn(&mut Value)>;
    let cases: Vec<(Spoil, &str)> = vec![
        (
            Box::new(|v: &mut Value| {
                v["data"]["tracking_history"][0]["status_date"] = json!("yesterday")
            }),
            "data.tracking_history[0].status_date",
        ),
        (
            Box::new(|v: &mut Value| v["data"]["tracking_number"] = Value::Null),
            "data.tracking_number",
        ),
        (
            Box::new(|v: &mut Value| v["data"]["tracking_status"] = Value::Null),
            "data.tracking_status",
        ),
        (
            Box::new(|v: &mut Value| v["data"]["tracking_status"]["status"] = json!("")),
            "data.tracking_status.status",
        ),
        (Box::new(|v: &mut Value| v["data"] = json!("x")), "data"),
        (
            Box::new(|v: &mut Value| v["data"]["tracking_history"] = json!("none")),
            "data.tracking_history",
        ),
        (Box::new(|v: &mut Value| v["event"] = json!("")), "event"),
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
fn the_documented_error_bodies_read() {
    let v: Value = serde_json::from_str(ERROR_NOT_FOUND).unwrap();
    assert_eq!(error_text(&v).as_deref(), Some("Not found."));
    let v: Value = serde_json::from_str(ERROR_FIELDS).unwrap();
    let text = error_text(&v).unwrap();
    assert!(
        text.contains("address_to.zip: This field is required."),
        "{text}"
    );
    assert!(
        text.contains("parcels.weight: This field is required."),
        "{text}"
    );
}

#[test]
fn the_kind_builds_from_config_and_declares_its_sandbox() {
    let kind = carrier_kind("shippo").unwrap();
    assert_eq!(
        kind.required_secrets.to_vec(),
        vec!["api_token", "webhook_token"]
    );
    let c = (kind.build)(setup("https://api.goshippo.com", TOKEN)).unwrap();
    assert_eq!(c.kind(), "shippo");
    let caps = c.capabilities();
    assert!(caps.buys_labels && caps.multi_parcel && caps.voids);
    assert_eq!(caps.label_formats, LABEL_FORMATS);
    let c = ShippoConnector::new(setup("", TOKEN)).unwrap();
    assert_eq!(c.base_url(), "https://api.goshippo.com/");
    assert!((kind.build)(setup("https://api.goshippo.com", "")).is_err());

    let profile = (kind.sandbox.profile)();
    assert_eq!(profile.secret("api_token"), DEFAULT_API_TOKEN);
    assert_eq!(profile.secret("webhook_token"), DEFAULT_WEBHOOK_TOKEN);
    assert_eq!(profile.secret("webhook_secret"), DEFAULT_WEBHOOK_SECRET);
    assert_eq!(kind.optional_secrets.to_vec(), vec!["webhook_secret"]);
    assert_eq!(
        profile.webhook_query,
        format!("?token={DEFAULT_WEBHOOK_TOKEN}")
    );
    assert_eq!(kind.sandbox.kind, "shippo");
}

#[tokio::test]
async fn the_declared_sandbox_serves_the_profile() {
    let kind = carrier_kind("shippo").unwrap();
    let profile = (kind.sandbox.profile)();
    let router = (kind.sandbox.router)(&profile, Default::default());
    let (addr, server) = serve(router, "127.0.0.1:0").await.unwrap();
    let base = format!("http://{addr}");
    let mut s = setup(&base, profile.secret("api_token"));
    s.secrets = profile.secrets.clone();
    s.options = profile.options.clone();
    let fast = HttpClient::new("t", Duration::from_secs(2), None);
    let c = ShippoConnector::new(s).unwrap().with_http_client(fast);
    let shp = c
        .create_shipment(&label_request("orderhub-profile"))
        .await
        .unwrap();
    let label = c.buy(&shp.id, &cheapest(&shp.rates).id).await.unwrap();
    let body = format!(
        r#"{{"event":"track_updated","test":true,"data":{{"tracking_number":"{}","tracking_status":{{"status":"TRANSIT","status_date":"2026-01-01T00:00:00Z"}}}}}}"#,
        label.tracking_code
    );
    let q = Some(profile.webhook_query.as_str());
    let signed = signed_headers(DEFAULT_WEBHOOK_SECRET, body.as_bytes());
    let v = c
        .verify_webhook_request(q, &signed, body.as_bytes())
        .unwrap();
    assert_eq!(v.topic, "track_updated");
    // The profile's account signs: a token alone no longer passes.
    assert_eq!(
        c.verify_webhook_request(q, &HeaderMap::new(), body.as_bytes())
            .unwrap_err(),
        WebhookError::MissingHeader(HEADER_SIGNATURE)
    );
    server.abort();
}

// ------------------------------------------------------------------ returns

#[test]
fn a_return_request_carries_extra_is_return() {
    let req = label_request("orderhub-return-3");
    let body = serde_json::to_value(mapping::return_shipment_request(&req)).unwrap();
    assert_eq!(body["extra"]["is_return"], true, "{body}");
    // The outbound addresses as they are: Shippo swaps them on the label.
    assert_eq!(body["address_from"]["street1"], "1092 Indian Summer Ct");
    assert_eq!(body["address_to"]["street1"], "965 Mission St");
    let outbound = serde_json::to_value(mapping::shipment_request(&req)).unwrap();
    assert!(outbound.get("extra").is_none(), "{outbound}");
}

#[tokio::test]
async fn a_return_label_goes_from_the_customer_to_the_warehouse() {
    let env = env().await;
    let c = connector(&env.base);
    assert!(c.supports_returns());
    let shp = c
        .create_return_shipment(&label_request("orderhub-return-4"))
        .await
        .unwrap();
    let rate = cheapest(&shp.rates).clone();
    c.buy(&shp.id, &rate.id).await.unwrap();
    let (status, _, wire) = raw(
        reqwest::Method::GET,
        format!("{}/shipments/{}", env.base, shp.id),
        None,
        Some(TOKEN),
    )
    .await;
    assert_eq!(status, 200, "{wire}");
    assert_eq!(wire["extra"]["is_return"], true, "{wire}");
    assert_eq!(wire["address_from"]["street1"], "965 Mission St", "{wire}");
    assert_eq!(wire["address_to"]["street1"], "1092 Indian Summer Ct");
    let s = stats(&env.base).await;
    assert_eq!(recorded(&s, "return_shipments_created"), 1);
    assert_eq!(recorded(&s, "return_labels_total"), 1);
    assert_eq!(
        count_in(&s, "return_labels_by_reference", "orderhub-return-4"),
        1
    );
}

// --------------------------------------------------------------- label formats

const LABEL_FILE_TYPES_DOC: &str = include_str!("testdata/label_file_types.json");
const TRANSACTION_CREATE_FILE_TYPE: &str =
    include_str!("testdata/transaction_create_label_file_type.json");

/// The page size a sandbox PDF label declares.
fn media_box(pdf: &[u8]) -> String {
    let text = String::from_utf8_lossy(pdf);
    let at = text.find("/MediaBox [").expect("a MediaBox") + "/MediaBox [".len();
    text[at..at + text[at..].find(']').unwrap()].to_string()
}

#[test]
fn label_file_types_are_shippos_tokens_spelled_exactly() {
    use super::mapping::{format_of_file_type, label_file_type, LABEL_FILE_TYPES};
    let documented: Vec<String> = serde_json::from_str(LABEL_FILE_TYPES_DOC).unwrap();
    assert_eq!(LABEL_FILE_TYPES, documented);
    for (format, token) in [
        (LabelFormat::Pdf, "PDF_4x6"),
        (LabelFormat::Png, "PNG"),
        (LabelFormat::Zpl, "ZPLII"),
    ] {
        assert_eq!(label_file_type(format), token);
        assert!(documented.iter().any(|d| d == token));
        assert_eq!(format_of_file_type(token), Some(format));
    }
    for (token, format) in [
        ("PDF", LabelFormat::Pdf),
        ("PDF_A6", LabelFormat::Pdf),
        ("PDF_2.3x7.5", LabelFormat::Pdf),
        ("PNG_2.3x7.5", LabelFormat::Png),
    ] {
        assert_eq!(format_of_file_type(token), Some(format), "{token}");
    }
    for wrong in ["pdf_4x6", "PDF_4X6", "ZPL", " PDF", "PDFX", ""] {
        assert_eq!(format_of_file_type(wrong), None, "{wrong:?}");
    }
    // The documented purchase body has the keys the connector sends.
    let documented: Value = serde_json::from_str(TRANSACTION_CREATE_FILE_TYPE).unwrap();
    let ours = serde_json::to_value(super::wire::CreateTransactionRequest {
        rate: "a5c9d1bec93149f5bedc3a9374b50970".into(),
        label_file_type: "PDF".into(),
        is_async: false,
        metadata: None,
    })
    .unwrap();
    assert_eq!(ours, documented);
}

#[tokio::test]
async fn each_format_is_bought_as_its_label_file_type_and_served_so() {
    let e = env().await;
    let c = connector(&e.base);
    for (format, token, content_type, magic) in [
        (
            LabelFormat::Pdf,
            "PDF_4x6",
            "application/pdf",
            b"%PDF-".as_slice(),
        ),
        (LabelFormat::Png, "PNG", "image/png", b"\x89PNG\r\n\x1a\n"),
        (LabelFormat::Zpl, "ZPLII", "application/zpl", b"^XA"),
    ] {
        let mut req = label_request(&format!("orderhub-shipment-lft-{token}"));
        req.label_format = format;
        let s = c.create_shipment(&req).await.unwrap();
        let label = c.buy(&s.id, &cheapest(&s.rates).id).await.unwrap();
        assert_eq!(label.label_format, format);
        // What the connector asked for, as Shippo holds it.
        let (status, _, t) = raw(
            reqwest::Method::GET,
            format!("{}/transactions/{}", e.base, label.label_id),
            None,
            Some(TOKEN),
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(t["label_file_type"], token, "{t}");
        let r = reqwest::get(&label.label_url).await.unwrap();
        assert_eq!(r.headers()["content-type"], content_type);
        let bytes = r.bytes().await.unwrap();
        assert!(bytes.starts_with(magic), "{token}");
        assert!(
            String::from_utf8_lossy(&bytes).contains(&label.tracking_code)
                || format == LabelFormat::Png
        );
        if format == LabelFormat::Pdf {
            assert_eq!(media_box(&bytes), "0 0 288 432", "4x6 in");
        }
        // A retry that asks Shippo finds the same label, format included.
        assert_eq!(c.shipment(&s.id).await.unwrap().label, Some(label));
    }
}

#[tokio::test]
async fn the_sandbox_takes_shippos_label_file_types_only() {
    let e = env().await;
    let c = connector(&e.base);
    let mut rates = Vec::new();
    for i in 0..4 {
        let s = c
            .create_shipment(&label_request(&format!("orderhub-shipment-raw-{i}")))
            .await
            .unwrap();
        rates.push(cheapest(&s.rates).id.clone());
    }
    let buy = |body: Value| {
        let url = format!("{}/transactions/", e.base);
        async move {
            raw(
                reqwest::Method::POST,
                url,
                Some(&body.to_string()),
                Some(TOKEN),
            )
            .await
        }
    };
    for wrong in ["ZPL", "pdf", "PDF_4X6", "GIF"] {
        let (status, _, body) =
            buy(json!({"rate": rates[0], "async": false, "label_file_type": wrong})).await;
        assert_eq!(status, 400, "{wrong}");
        assert_eq!(
            body,
            json!({"label_file_type": [format!("\"{wrong}\" is not a valid choice.")]})
        );
        assert!(error_text(&body).unwrap().starts_with("label_file_type: "));
    }
    assert_eq!(
        recorded(&stats(&e.base).await, "labels_total"),
        0,
        "nothing bought"
    );
    // The documented request body, with a rate of ours: a letter-size PDF.
    let mut documented: Value = serde_json::from_str(TRANSACTION_CREATE_FILE_TYPE).unwrap();
    documented["rate"] = json!(rates[0]);
    for (rate, body, page) in [
        (&rates[0], documented, "0 0 612 792"),
        (
            &rates[1],
            json!({"rate": rates[1], "async": false, "label_file_type": "PDF_A4"}),
            "0 0 595 842",
        ),
        (
            &rates[2],
            json!({"rate": rates[2], "async": false, "label_file_type": "PDF_4x8"}),
            "0 0 288 576",
        ),
    ] {
        let (status, _, t) = buy(body.clone()).await;
        assert_eq!(status, 201, "{t}");
        assert_eq!(t["rate"], json!(rate));
        assert_eq!(t["label_file_type"], body["label_file_type"]);
        let pdf = reqwest::get(t["label_url"].as_str().unwrap())
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        assert_eq!(media_box(&pdf), page, "{}", body["label_file_type"]);
    }
    // No label_file_type: the account's default (PDF).
    let (status, _, t) = buy(json!({"rate": rates[3], "async": false})).await;
    assert_eq!(status, 201, "{t}");
    assert_eq!(t["label_file_type"], "PDF");
}

#[test]
fn a_transaction_says_what_its_label_is() {
    let rate = crate::Rate {
        id: "ee81fab0372e419ab52245c8952ccaeb".into(),
        carrier: "USPS".into(),
        service: "Priority Mail".into(),
        amount: Decimal::new(550, 2),
        currency: "USD".into(),
        delivery_days: Some(2),
    };
    let mut t: Transaction = serde_json::from_str(TRANSACTION_RETRIEVE).unwrap();
    t.label_url = Some("https://deliver.goshippo.com/x.zpl".into());
    t.tracking_number = Some("9205590164917312751089".into());
    let format_of = |t: &Transaction, asked| match label_from_transaction(t, &rate, asked).unwrap()
    {
        super::mapping::Purchase::Bought(l) => l.label_format,
        other => panic!("{other:?}"),
    };
    // No label_file_type in the answer: the format asked.
    assert_eq!(format_of(&t, LabelFormat::Zpl), LabelFormat::Zpl);
    // Shippo's answer wins (a dashboard default, a carrier's own choice).
    t.label_file_type = Some("PDF_4x6".into());
    assert_eq!(format_of(&t, LabelFormat::Zpl), LabelFormat::Pdf);
    t.label_file_type = Some("ZPLII".into());
    assert_eq!(format_of(&t, LabelFormat::Pdf), LabelFormat::Zpl);
}
