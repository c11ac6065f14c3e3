//! The connector against its sandbox over real HTTP on loopback, and the
//! mapping against Sendcloud's documented example payloads (testdata/).

use super::client::api_message;
use super::mapping::{
    cm_text, kg_text, label_from_parcel, message_for_id, rates_from_methods,
    tracking_update_from_webhook,
};
use super::sandbox::catalogue_price;
use super::wire::{CancelAnswer, ErrorBody, ParcelEnvelope, ShippingMethodList, UpdateEnvelope};
use super::*;
use crate::carrier::{
    carrier_kind, Carrier, CarrierCapabilities, CarrierSetup, LabelFormat, LabelRequest,
    ParcelSpec, VoidStatus,
};
use crate::http::{HttpClient, RetryPolicy};
use crate::marketplace::WebhookError;
use crate::sandbox::{serve, FaultConfig, SandboxLimits, Stats};
use crate::RemoteError;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use base64::Engine;
use orderhub_core::{Address, TrackingStatus, TrackingUpdate};
use rust_decimal::Decimal;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const PUBLIC: &str = "pk_test_0123456789";
const SECRET: &str = "sk_test_abcdefghij";

const PARCEL_CREATE: &str = include_str!("testdata/parcel_create.json");
const PARCEL_UPDATE: &str = include_str!("testdata/parcel_update.json");
const WEBHOOK: &str = include_str!("testdata/webhook_parcel_status_changed.json");
const SHIPPING_METHODS: &str = include_str!("testdata/shipping_methods.json");
const CANCEL_CANCELLED: &str = include_str!("testdata/cancel_cancelled.json");
const ERROR_PARCEL_CREATE: &str = include_str!("testdata/error_parcel_create.json");
const ERROR_INVALID_CURSOR: &str = include_str!("testdata/error_invalid_cursor.json");
const DOCUMENT_NOT_FOUND: &str = include_str!("testdata/parcel_document_not_found.json");

struct Env {
    sandbox: SendcloudSandbox,
    base: String,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Env {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn opts(limits: SandboxLimits) -> SendcloudSandboxOptions {
    SendcloudSandboxOptions {
        webhook_retry_base_ms: 20,
        webhook_timeout_ms: 1_000,
        limits,
        ..SendcloudSandboxOptions::with_keys(PUBLIC, SECRET)
    }
}

async fn env_with(o: SendcloudSandboxOptions) -> Env {
    let sandbox = SendcloudSandbox::new(o);
    let (addr, server) = serve(sandbox.router(), "127.0.0.1:0").await.unwrap();
    Env {
        sandbox,
        base: format!("http://{addr}"),
        server,
    }
}

/// Volume limits: tests that are not about the limit do not trip it.
async fn env() -> Env {
    env_with(opts(SandboxLimits::Volume)).await
}

fn setup(base: &str, secret: &str) -> CarrierSetup {
    CarrierSetup {
        channel_id: "sc-test".into(),
        base_url: base.into(),
        options: BTreeMap::new(),
        secrets: BTreeMap::from([
            ("public_key".to_string(), PUBLIC.to_string()),
            ("secret_key".to_string(), secret.to_string()),
        ]),
        request_timeout: Duration::from_secs(2),
    }
}

fn connector_with(
    base: &str,
    secret: &str,
    timeout: Duration,
    attempts: u32,
) -> SendcloudConnector {
    let fast = HttpClient::new("sendcloud:test", timeout, None).with_retry_policy(RetryPolicy {
        max_attempts: attempts,
        base: Duration::from_millis(5),
        max: Duration::from_millis(50),
    });
    SendcloudConnector::new(setup(base, secret))
        .unwrap()
        .with_http_client(fast)
}

fn connector(base: &str) -> SendcloudConnector {
    connector_with(base, SECRET, Duration::from_secs(2), 8)
}

fn addr(name: &str, line1: &str, city: &str, zip: &str, country: &str) -> Address {
    Address {
        name: Some(name.into()),
        company: Some("Orderhub Test".into()),
        line1: Some(line1.into()),
        line2: None,
        city: Some(city.into()),
        region: None,
        postal_code: Some(zip.into()),
        country: Some(country.into()),
        phone: Some("+31612345678".into()),
    }
}

fn label_request(reference: &str) -> LabelRequest {
    LabelRequest {
        reference: reference.into(),
        from: addr("Warehouse", "Keizersgracht 1", "Amsterdam", "1015 CJ", "NL"),
        to: addr("John Doe", "Stadhuisplein 10", "Eindhoven", "5611 EM", "NL"),
        label_format: Default::default(),
        parcels: vec![ParcelSpec {
            weight_oz: Decimal::new(400, 1), // 40 oz = 1.134 kg
            length_in: Decimal::new(12, 0),
            width_in: Decimal::new(9, 0),
            height_in: Decimal::new(4, 0),
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
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
}

fn recorded_in(s: &Stats, map: &str, key: &str) -> u64 {
    s.recorded
        .get(map)
        .and_then(|m| m.get(key))
        .and_then(Value::as_u64)
        .unwrap_or(0)
}

fn basic() -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{PUBLIC}:{SECRET}"))
    )
}

// ------------------------------------------------------- documented payloads

#[test]
fn the_documented_parcel_maps_to_its_label() {
    let env: ParcelEnvelope = serde_json::from_str(PARCEL_CREATE).unwrap();
    let label = label_from_parcel(
        &env.parcel,
        Some((Decimal::new(695, 2), "EUR".into())),
        LabelFormat::Pdf,
    )
    .unwrap()
    .unwrap();
    assert_eq!(label.tracking_code, "S0M3TR4Ck1NgNumB3r");
    assert_eq!(
        label.label_url,
        "https://panel.sendcloud.sc/api/v2/label/label_printer/3172?hash=bbfd669ee9ebb19408b85b33d181a50040fd9bc4"
    );
    assert_eq!(label.carrier, "postnl");
    assert_eq!(label.service, "PostNL Standard 0-23kg");
    assert_eq!(label.label_id, "3");
    assert_eq!(label.amount, Decimal::new(695, 2));
    assert_eq!(label.label_format, crate::carrier::LabelFormat::Pdf);
    // Without a price the label cannot be reported (money was spent on it).
    assert!(label_from_parcel(&env.parcel, None, LabelFormat::Pdf).is_err());
    // A parcel with no label yet (status 999) holds none.
    let mut p = env.parcel.clone();
    p.status = Some(super::wire::Status {
        id: Some(999),
        message: Some("No label".into()),
    });
    assert_eq!(label_from_parcel(&p, None, LabelFormat::Zpl).unwrap(), None);
}

#[test]
fn the_documented_update_answer_holds_a_list() {
    let env: UpdateEnvelope = serde_json::from_str(PARCEL_UPDATE).unwrap();
    let p = env.into_first().unwrap();
    assert_eq!(p.id, "3");
    assert_eq!(p.weight.as_deref(), Some("2.000"));
    // A single object is read too.
    let one: UpdateEnvelope = serde_json::from_str(PARCEL_CREATE).unwrap();
    assert_eq!(one.into_first().unwrap().id, "3");
}

#[test]
fn the_documented_shipping_methods_rate_exactly() {
    let list: ShippingMethodList = serde_json::from_str(SHIPPING_METHODS).unwrap();
    let rates = rates_from_methods(&list.shipping_methods, "NL", Decimal::new(2, 0), "EUR");
    assert_eq!(rates.len(), 2);
    assert_eq!(rates[0].id, "8020");
    assert_eq!(rates[0].carrier, "dhl");
    assert_eq!(rates[0].service, "DHLForYou Drop Off - Agecheck 18+");
    assert_eq!(rates[0].amount, Decimal::new(975, 2));
    assert_eq!(rates[0].currency, "EUR");
    assert_eq!(rates[0].delivery_days, Some(1));
    assert_eq!(rates[1].amount, Decimal::new(1001, 2));
    // Too heavy for the bracket, or a country the method does not serve.
    assert!(
        rates_from_methods(&list.shipping_methods, "NL", Decimal::new(24, 0), "EUR").is_empty()
    );
    assert!(rates_from_methods(&list.shipping_methods, "DE", Decimal::ONE, "EUR").is_empty());
}

#[test]
fn the_documented_webhook_maps() {
    let u = tracking_update_from_webhook(WEBHOOK.as_bytes())
        .unwrap()
        .unwrap();
    assert_eq!(u.tracking_code, "3SYZXG132912330");
    assert_eq!(u.carrier_shipment_id.as_deref(), Some("1"));
    // Status id 1 is "Announced"; the example's message is kept as sent.
    assert_eq!(u.status, TrackingStatus::PreTransit);
    assert_eq!(u.carrier_status, "Ready to send");
    assert_eq!(u.details.len(), 1);
    assert_eq!(u.details[0].occurred_at.timestamp(), 123);
}

#[test]
fn the_documented_error_and_cancel_bodies_read() {
    let e: ErrorBody = serde_json::from_str(ERROR_PARCEL_CREATE).unwrap();
    assert_eq!(e.error.code, Some(400));
    assert_eq!(e.error.request.as_deref(), Some("api/v2/parcels"));
    let e: ErrorBody = serde_json::from_str(ERROR_INVALID_CURSOR).unwrap();
    assert_eq!(e.error.message.as_deref(), Some("Invalid cursor"));
    let c: CancelAnswer = serde_json::from_str(CANCEL_CANCELLED).unwrap();
    assert_eq!(c.status, "cancelled");
    // As the shared client words a failure, whole and cut at 300 bytes.
    let err = RemoteError::Permanent {
        status: Some(400),
        message: format!(
            "HTTP 400 Bad Request: {}",
            ERROR_PARCEL_CREATE.replace('\n', "")
        ),
    };
    assert!(api_message(&err).unwrap().starts_with("non_field_errors"));
    let cut = RemoteError::Permanent {
        status: Some(400),
        message: r#"HTTP 400 Bad Request: {"error": {"code": 400, "message": "external_reference: Parcel with this ext"#.into(),
    };
    assert!(api_message(&cut).unwrap().starts_with("external_reference"));
    assert_eq!(
        api_message(&RemoteError::permanent("HTTP 502 Bad Gateway: <html>")),
        None
    );
}

#[test]
fn weights_and_sizes_convert_exactly_rounding_up() {
    assert_eq!(kg_text(Decimal::new(16, 0)), "0.454"); // 453.59237 g
    assert_eq!(kg_text(Decimal::new(40, 0)), "1.134"); // 1133.9809 g
    assert_eq!(kg_text(Decimal::new(1, 2)), "0.001"); // 0.28 g: at least a gram
                                                      // 35.2739619 oz is just under a kilogram, 35.27396195 oz just over.
    assert_eq!(kg_text(Decimal::new(352739619, 7)), "1.000");
    assert_eq!(kg_text(Decimal::new(3527396195, 8)), "1.001");
    assert_eq!(cm_text(Decimal::new(109, 1)), "27.7"); // 27.686 cm
    assert_eq!(cm_text(Decimal::new(10, 0)), "25.4");
    assert_eq!(cm_text(Decimal::new(50, 0)), "127");
}

#[test]
fn status_ids_map_and_unknown_ones_stay_unknown() {
    let expect = [
        (1, TrackingStatus::PreTransit),
        (3, TrackingStatus::InTransit),
        (8, TrackingStatus::Unknown),
        (11, TrackingStatus::Delivered),
        (12, TrackingStatus::AvailableForPickup),
        (80, TrackingStatus::Failure),
        (91, TrackingStatus::InTransit),
        (92, TrackingStatus::OutForDelivery),
        (93, TrackingStatus::Delivered),
        (999, TrackingStatus::Unknown),
        (1000, TrackingStatus::PreTransit),
        (1002, TrackingStatus::Error),
        (1999, TrackingStatus::Unknown),
        (2000, TrackingStatus::Cancelled),
        (0, TrackingStatus::Unknown),
        (4242, TrackingStatus::Unknown),
        (-1, TrackingStatus::Unknown),
    ];
    for (id, want) in expect {
        assert_eq!(status_for_id(id), want, "status {id}");
    }
    // An id Sendcloud adds later: Unknown, its message kept.
    let body = json!({
        "action": "parcel_status_changed", "timestamp": 1_700_000_000_000i64,
        "parcel": {"id": 7, "tracking_number": "T1", "status": {"id": 4242, "message": "Teleported"}}
    });
    let u = tracking_update_from_webhook(body.to_string().as_bytes())
        .unwrap()
        .unwrap();
    assert_eq!(u.status, TrackingStatus::Unknown);
    assert_eq!(u.carrier_status, "Teleported");
    assert_eq!(u.details[0].occurred_at.timestamp(), 1_700_000_000);
}

#[test]
fn other_actions_are_ignored_and_malformed_bodies_name_the_field() {
    let other = json!({"action": "integration_updated", "timestamp": 1, "integration": {}});
    assert_eq!(
        tracking_update_from_webhook(other.to_string().as_bytes()).unwrap(),
        None
    );
    let no_tracking = json!({"action": "parcel_status_changed", "timestamp": 1,
        "parcel": {"id": 1, "tracking_number": "", "status": {"id": 999, "message": "No label"}}});
    assert_eq!(
        tracking_update_from_webhook(no_tracking.to_string().as_bytes()).unwrap(),
        None
    );
    for (body, field) in [
        (json!({"timestamp": 1}).to_string(), "action"),
        (json!({"action": "parcel_status_changed", "timestamp": 1}).to_string(), "parcel"),
        (json!({"action": "parcel_status_changed", "timestamp": 1, "parcel": {"id": 1, "tracking_number": "T"}}).to_string(), "parcel.status"),
        (json!({"action": "parcel_status_changed", "parcel": {"id": 1, "tracking_number": "T", "status": {"id": 3}}}).to_string(), "timestamp"),
        (json!({"action": "parcel_status_changed", "timestamp": 1, "parcel": {"id": 1, "tracking_number": "T", "status": {"message": "x"}}}).to_string(), "parcel.status.id"),
        ("[1,2]".to_string(), "$"),
        ("not json".to_string(), "$"),
    ] {
        let err = tracking_update_from_webhook(body.as_bytes()).unwrap_err();
        assert!(err.starts_with(field), "{field}: {err}");
    }
}

#[test]
fn hostile_inputs_do_not_panic() {
    let bodies = [
        json!({"action": "parcel_status_changed", "timestamp": i64::MIN,
            "parcel": {"id": 1, "tracking_number": "T", "status": {"id": i64::MAX, "message": null}}}),
        json!({"action": "parcel_status_changed", "timestamp": i64::MAX,
            "parcel": {"id": [], "tracking_number": "T", "status": {"id": "11"}}}),
        json!({"action": 5, "parcel": 5}),
        json!({"action": "parcel_status_changed", "timestamp": "soon", "parcel": {"id": 1, "tracking_number": {"a": 1}}}),
    ];
    for b in &bodies {
        let _ = tracking_update_from_webhook(b.to_string().as_bytes());
    }
    for raw in [&b""[..], b"\xff\xfe", b"{", b"null", b"{\"action\":\"\"}"] {
        let _ = tracking_update_from_webhook(raw);
        let _ = verify_sendcloud_webhook(SECRET, &signed(raw, SECRET), raw);
    }
    let methods: ShippingMethodList = serde_json::from_value(json!({"shipping_methods": [
        {"id": 1, "name": "x", "carrier": "c", "min_weight": "abc", "max_weight": "1e400",
         "countries": [{"iso_2": "NL", "price": "NaN", "lead_time_hours": i64::MAX}]},
        {"id": 2, "name": "y", "carrier": "c", "countries": [{"iso_2": "NL", "price": 1.5, "lead_time_hours": i64::MAX}]}
    ]}))
    .unwrap();
    let rates = rates_from_methods(&methods.shipping_methods, "NL", Decimal::ONE, "EUR");
    assert_eq!(rates.len(), 1);
    assert_eq!(kg_text(Decimal::MAX), kg_text(Decimal::MAX));
    let _ = cm_text(Decimal::MAX);
}

/// The example of Sendcloud's webhook documentation: `{"key": "value"}`
/// signed with `secretkey`.
#[test]
fn signatures_match_sendclouds_documented_example() {
    assert_eq!(
        sign_webhook("secretkey", br#"{"key": "value"}"#),
        "1eed4b3d41f4653ac64fd56f1bf1cbfd349e4482cbc11dff7134bd93e5da4b0a"
    );
}

fn signed(body: &[u8], key: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(HEADER_SIGNATURE, sign_webhook(key, body).parse().unwrap());
    h
}

#[test]
fn webhook_signatures_good_missing_bad_tampered() {
    let c = connector("http://127.0.0.1:9");
    let body = WEBHOOK.as_bytes();
    let ok = c
        .verify_webhook_request(None, &signed(body, SECRET), body)
        .unwrap();
    assert_eq!(ok.topic, "parcel_status_changed");
    assert_eq!(ok.delivery_id, delivery_id(body));
    assert_eq!(ok.delivery_id.len(), 64);
    assert_eq!(
        c.verify_webhook(&HeaderMap::new(), body).unwrap_err(),
        WebhookError::MissingHeader(HEADER_SIGNATURE)
    );
    assert_eq!(
        c.verify_webhook(&signed(body, "another key"), body)
            .unwrap_err(),
        WebhookError::BadSignature
    );
    let mut tampered = body.to_vec();
    tampered[20] ^= 1;
    assert_eq!(
        c.verify_webhook(&signed(body, SECRET), &tampered)
            .unwrap_err(),
        WebhookError::BadSignature
    );
    let mut junk = HeaderMap::new();
    junk.insert(HEADER_SIGNATURE, "not-hex".parse().unwrap());
    assert_eq!(
        c.verify_webhook(&junk, body).unwrap_err(),
        WebhookError::BadSignature
    );
    // Signed but not a webhook: refused as unsupported, not as forged.
    assert!(matches!(
        c.verify_webhook(&signed(b"[]", SECRET), b"[]"),
        Err(WebhookError::UnsupportedTopic(_))
    ));
    // An empty key never verifies (fail closed).
    assert_eq!(
        verify_sendcloud_webhook("", &signed(body, ""), body).unwrap_err(),
        WebhookError::BadSignature
    );
    // A separate webhook signature key, when configured, is the one used.
    let mut s = setup("http://127.0.0.1:9", SECRET);
    s.secrets
        .insert("webhook_signature_key".into(), "whk".into());
    let c2 = SendcloudConnector::new(s).unwrap();
    assert!(c2.verify_webhook(&signed(body, "whk"), body).is_ok());
    assert!(c2.verify_webhook(&signed(body, SECRET), body).is_err());
}

#[test]
fn the_kind_builds_from_config_and_keeps_secrets_out_of_debug() {
    let kind = carrier_kind("sendcloud").expect("registered");
    assert_eq!(kind.required_secrets, &["public_key", "secret_key"]);
    assert_eq!(kind.sandbox.kind, "sendcloud");
    let c = (kind.build)(setup("", SECRET)).unwrap();
    assert_eq!(c.kind(), "sendcloud");
    assert!(!c.capabilities().multi_parcel);
    assert!(c.capabilities().voids);
    let direct = SendcloudConnector::new(setup("", SECRET)).unwrap();
    assert_eq!(direct.base_url(), "https://panel.sendcloud.sc/");
    let text = format!("{direct:?}");
    assert!(!text.contains(SECRET) && !text.contains(PUBLIC), "{text}");
    let mut bad = setup("ftp://x", SECRET);
    bad.secrets.clear();
    bad.options
        .insert("requests_per_second".into(), "lots".into());
    bad.options.insert("currency".into(), "euro".into());
    let err = SendcloudConnector::new(bad).unwrap_err();
    for needle in [
        "base_url",
        "`public_key`",
        "`secret_key`",
        "requests_per_second",
        "currency",
    ] {
        assert!(err.contains(needle), "{needle}: {err}");
    }
    let profile = (kind.sandbox.profile)();
    assert_eq!(profile.secret("public_key"), DEFAULT_PUBLIC_KEY);
}

// --------------------------------------------------------- over the sandbox

#[tokio::test]
async fn creates_a_parcel_and_rates_it_exactly() {
    let env = env().await;
    let c = connector(&env.base);
    let s = c
        .create_shipment(&label_request("orderhub-shipment-1"))
        .await
        .unwrap();
    assert!(s.label.is_none());
    assert!(s.id.parse::<i64>().is_ok());
    // 1.134 kg to NL: PostNL 0-2kg, DHL 0-5kg, DPD 0-31.5kg.
    let mut ids: Vec<&str> = s.rates.iter().map(|r| r.id.as_str()).collect();
    ids.sort();
    assert_eq!(ids, ["1315", "2001", "8"]);
    for r in &s.rates {
        let id: i64 = r.id.parse().unwrap();
        assert_eq!(Some(r.amount), catalogue_price(id, "NL"), "{r:?}");
        assert_eq!(r.currency, "EUR");
        assert_eq!(r.delivery_days, Some(1));
    }
    let postnl = s.rates.iter().find(|r| r.id == "8").unwrap();
    assert_eq!(postnl.carrier, "postnl");
    assert_eq!(postnl.amount, Decimal::new(695, 2));
    // The parcel holds what was sent: kilograms, centimetres, our reference.
    let raw: Value = reqwest::Client::new()
        .get(format!("{}/api/v2/parcels/{}", env.base, s.id))
        .header("authorization", basic())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(raw["parcel"]["weight"], "1.134");
    assert_eq!(raw["parcel"]["length"], "30.5");
    assert_eq!(raw["parcel"]["external_reference"], "orderhub-shipment-1");
    assert_eq!(raw["parcel"]["order_number"], "orderhub-shipment-1");
    assert_eq!(raw["parcel"]["status"]["id"], 999);
    let st = stats(&env.base).await;
    assert_eq!(st.recorded["shipments_created"], 1);
}

#[tokio::test]
async fn several_boxes_and_bad_weights_are_refused_permanently() {
    let env = env().await;
    let c = connector(&env.base);
    let mut req = label_request("r");
    req.parcels.push(req.parcels[0].clone());
    assert!(!c.create_shipment(&req).await.unwrap_err().is_retryable());
    req.parcels.truncate(1);
    req.parcels[0].weight_oz = Decimal::ZERO;
    assert!(!c.create_shipment(&req).await.unwrap_err().is_retryable());
    assert_eq!(stats(&env.base).await.total_requests(), 0);
}

#[tokio::test]
async fn buys_once_and_a_second_buy_returns_the_same_label() {
    let env = env().await;
    let c = connector(&env.base);
    let s = c
        .create_shipment(&label_request("orderhub-shipment-2"))
        .await
        .unwrap();
    let label = c.buy(&s.id, "8").await.unwrap();
    assert_eq!(label.carrier, "postnl");
    assert_eq!(label.service, "PostNL Standard 0-2kg");
    assert_eq!(label.amount, Decimal::new(695, 2));
    assert_eq!(label.label_id, s.id);
    assert!(label.tracking_code.starts_with("3SYZXG"));
    assert!(label.tracking_url.is_some());
    let again = c.buy(&s.id, "8").await.unwrap();
    assert_eq!(again, label);
    let st = stats(&env.base).await;
    assert_eq!(
        recorded_in(&st, "labels_by_reference", "orderhub-shipment-2"),
        1
    );
    assert_eq!(st.recorded["buys_refused_announced"], 1);
    // shipment() reports the label too.
    let back = c.shipment(&s.id).await.unwrap();
    assert_eq!(back.label, Some(label.clone()));
    // The label file is a PDF naming the tracking code.
    let file = reqwest::get(&label.label_url).await.unwrap();
    assert_eq!(file.headers()["content-type"], "application/pdf");
    let bytes = file.bytes().await.unwrap();
    let text = String::from_utf8_lossy(&bytes);
    assert!(text.starts_with("%PDF-1.4") && text.contains(&label.tracking_code));
}

#[tokio::test]
async fn concurrent_buys_of_one_parcel_buy_one_label() {
    let env = env().await;
    let c = Arc::new(connector(&env.base));
    let s = c
        .create_shipment(&label_request("orderhub-shipment-3"))
        .await
        .unwrap();
    let tasks: Vec<_> = (0..5)
        .map(|_| {
            let c = c.clone();
            let id = s.id.clone();
            tokio::spawn(async move { c.buy(&id, "1315").await })
        })
        .collect();
    let mut codes = Vec::new();
    for t in tasks {
        codes.push(t.await.unwrap().unwrap().tracking_code);
    }
    codes.dedup();
    assert_eq!(codes.len(), 1);
    assert_eq!(
        recorded_in(
            &stats(&env.base).await,
            "labels_by_reference",
            "orderhub-shipment-3"
        ),
        1
    );
}

#[tokio::test]
async fn a_buy_whose_answer_is_lost_is_recorded_not_bought_again() {
    let env = env().await;
    let c = connector(&env.base);
    let s = c
        .create_shipment(&label_request("orderhub-shipment-4"))
        .await
        .unwrap();
    // The label request is carried out, then the answer hangs.
    set_faults(
        &env.base,
        &FaultConfig {
            rate_timeout_after_success: 1.0,
            paths: vec!["PUT /api/v2/parcels".into()],
            timeout_ms: Some(1_500),
            ..FaultConfig::default()
        },
    )
    .await;
    let one_shot = connector_with(&env.base, SECRET, Duration::from_millis(400), 1);
    assert!(one_shot.buy(&s.id, "8").await.unwrap_err().is_retryable());
    // What orderhub does after a lost answer: ask, and record what exists.
    let seen = c.shipment(&s.id).await.unwrap();
    let label = seen.label.expect("the label bought before the timeout");
    // A retry with the shared client's retries: refused (announced), read back.
    let retrying = connector_with(&env.base, SECRET, Duration::from_millis(400), 4);
    assert_eq!(retrying.buy(&s.id, "8").await.unwrap(), label);
    let st = stats(&env.base).await;
    assert_eq!(
        recorded_in(&st, "labels_by_reference", "orderhub-shipment-4"),
        1
    );
    assert_eq!(st.faults_injected["timeout_after_success"], 2);
}

#[tokio::test]
async fn a_create_whose_answer_is_lost_reuses_the_parcel() {
    let env = env().await;
    set_faults(
        &env.base,
        &FaultConfig {
            rate_timeout_after_success: 1.0,
            paths: vec!["POST /api/v2/parcels".into()],
            timeout_ms: Some(1_500),
            ..FaultConfig::default()
        },
    )
    .await;
    let c = connector_with(&env.base, SECRET, Duration::from_millis(400), 4);
    let s = c
        .create_shipment(&label_request("orderhub-shipment-5"))
        .await
        .unwrap();
    assert!(!s.rates.is_empty());
    assert_eq!(env.sandbox.core().stats().recorded["shipments_created"], 1);
}

#[tokio::test]
async fn survives_injected_5xx_and_429() {
    let env = env().await;
    set_faults(
        &env.base,
        &FaultConfig {
            rate_429: 0.25,
            rate_5xx: 0.25,
            retry_after_secs: Some(0.05),
            seed: Some(11),
            ..FaultConfig::default()
        },
    )
    .await;
    let c = connector_with(&env.base, SECRET, Duration::from_secs(2), 12);
    let s = c
        .create_shipment(&label_request("orderhub-shipment-6"))
        .await
        .unwrap();
    let label = c.buy(&s.id, "2001").await.unwrap();
    assert_eq!(label.carrier, "dpd");
    let st = stats(&env.base).await;
    assert!(st.faults_total() > 0);
    assert_eq!(
        recorded_in(&st, "labels_by_reference", "orderhub-shipment-6"),
        1
    );
}

#[tokio::test]
async fn a_wrong_key_is_permanent_and_never_shown() {
    let env = env().await;
    let c = connector_with(
        &env.base,
        "sk_wrong_secret_value",
        Duration::from_secs(2),
        3,
    );
    let err = c.create_shipment(&label_request("r")).await.unwrap_err();
    assert!(err.is_auth_failure(), "{err}");
    assert!(!err.to_string().contains("sk_wrong_secret_value"));
    assert!(
        err.to_string().contains("Invalid username/password."),
        "{err}"
    );
    // Revoked credentials answer the same way.
    env.sandbox.core().set_credentials_revoked(true);
    assert!(connector(&env.base)
        .shipment("3172")
        .await
        .unwrap_err()
        .is_auth_failure());
}

#[tokio::test]
async fn unknown_methods_and_parcels_are_permanent() {
    let env = env().await;
    let c = connector(&env.base);
    let s = c
        .create_shipment(&label_request("orderhub-shipment-7"))
        .await
        .unwrap();
    // PostNL 2-23kg does not take 1.134 kg; 77 is no method.
    for rate in ["9", "77"] {
        let err = c.buy(&s.id, rate).await.unwrap_err();
        assert!(!err.is_retryable(), "{err}");
    }
    assert!(!c
        .buy(&s.id, "not-a-number")
        .await
        .unwrap_err()
        .is_retryable());
    let err = c.shipment("999999").await.unwrap_err();
    assert!(
        matches!(
            err,
            RemoteError::Permanent {
                status: Some(404),
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(
        recorded_in(
            &stats(&env.base).await,
            "labels_by_reference",
            "orderhub-shipment-7"
        ),
        0
    );
}

#[tokio::test]
async fn a_spoiled_price_is_left_out() {
    let env = env().await;
    set_faults(
        &env.base,
        &FaultConfig {
            rate_malformed: 1.0,
            paths: vec!["GET /api/v2/shipping_methods".into()],
            seed: Some(3),
            ..FaultConfig::default()
        },
    )
    .await;
    let s = connector(&env.base)
        .create_shipment(&label_request("orderhub-shipment-8"))
        .await
        .unwrap();
    // One of the five methods had its price spoiled; whichever it was, what
    // is offered is priced right, and nothing is offered with a guess.
    assert!(s.rates.len() == 2 || s.rates.len() == 3, "{:?}", s.rates);
    for r in &s.rates {
        assert_eq!(Some(r.amount), catalogue_price(r.id.parse().unwrap(), "NL"));
    }
    assert_eq!(stats(&env.base).await.faults_injected["malformed"], 1);
}

#[tokio::test]
async fn voids_as_sendcloud_answers() {
    let env = env().await;
    let c = connector(&env.base);
    // Announced, not moving: cancelled at once.
    let s = c
        .create_shipment(&label_request("orderhub-void-1"))
        .await
        .unwrap();
    let l = c.buy(&s.id, "8").await.unwrap();
    assert_eq!(
        c.void(&s.id, &l.label_id).await.unwrap(),
        VoidStatus::Voided
    );
    match c.void(&s.id, &l.label_id).await.unwrap() {
        VoidStatus::Rejected(why) => assert!(why.contains("already been cancelled"), "{why}"),
        other => panic!("{other:?}"),
    }
    // On its way: queued (202).
    let s2 = c
        .create_shipment(&label_request("orderhub-void-2"))
        .await
        .unwrap();
    let l2 = c.buy(&s2.id, "8").await.unwrap();
    env.sandbox.advance_all().await;
    assert_eq!(
        c.void(&s2.id, &l2.label_id).await.unwrap(),
        VoidStatus::Submitted
    );
    assert_eq!(env.sandbox.status_of(&l2.tracking_code), Some(1999));
    // Delivered: refused.
    let s3 = c
        .create_shipment(&label_request("orderhub-void-3"))
        .await
        .unwrap();
    let l3 = c.buy(&s3.id, "8").await.unwrap();
    for _ in 0..3 {
        env.sandbox.advance_all().await;
    }
    assert_eq!(env.sandbox.status_of(&l3.tracking_code), Some(11));
    assert!(matches!(
        c.void(&s3.id, &l3.label_id).await.unwrap(),
        VoidStatus::Rejected(_)
    ));
    let st = stats(&env.base).await;
    assert_eq!(recorded_in(&st, "voids_by_reference", "orderhub-void-1"), 1);
    assert_eq!(recorded_in(&st, "voids_by_reference", "orderhub-void-2"), 1);
    assert_eq!(recorded_in(&st, "voids_by_reference", "orderhub-void-3"), 0);
}

#[tokio::test]
async fn the_published_limit_answers_429_as_sendcloud_does() {
    let env = env_with(opts(SandboxLimits::Published)).await;
    let client = reqwest::Client::new();
    let tasks: Vec<_> = (0..25)
        .map(|_| {
            let client = client.clone();
            let url = format!("{}/api/v2/parcels", env.base);
            tokio::spawn(async move {
                let r = client
                    .post(url)
                    .header("authorization", basic())
                    .header("content-type", "application/json")
                    .body("{}")
                    .send()
                    .await
                    .unwrap();
                let status = r.status();
                let retry = r.headers().get("retry-after").cloned();
                let body: Value = r.json().await.unwrap();
                (status, retry, body)
            })
        })
        .collect();
    let mut throttled = 0;
    for t in tasks {
        let (status, retry, body) = t.await.unwrap();
        if status == StatusCode::TOO_MANY_REQUESTS {
            throttled += 1;
            assert!(retry.is_some());
            assert_eq!(body["error"]["code"], 429);
            assert_eq!(body["error"]["request"], "api/v2/parcels");
        } else {
            assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        }
    }
    // 15 per second at most (one more may have trickled in meanwhile).
    assert!((8..=10).contains(&throttled), "{throttled}");
    assert_eq!(stats(&env.base).await.throttled, throttled);
}

#[tokio::test]
async fn the_client_paces_itself_so_a_burst_sees_no_429() {
    let env = env_with(opts(SandboxLimits::Published)).await;
    // The shipped defaults: 100 writes/min with bursts of 15, 1000 reads/min.
    let c = Arc::new(SendcloudConnector::new(setup(&env.base, SECRET)).unwrap());
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let c = c.clone();
            tokio::spawn(async move {
                c.create_shipment(&label_request(&format!("burst-{i}")))
                    .await
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let st = stats(&env.base).await;
    assert_eq!(st.throttled, 0);
    assert_eq!(st.recorded["shipments_created"], 20);
}

// ---------------------------------------------------------- contract routes

#[derive(Clone, Default)]
struct Receiver {
    got: Arc<Mutex<Vec<(HeaderMap, Bytes)>>>,
    fail_first: Arc<Mutex<u32>>,
}

async fn receive(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    {
        let mut f = r.fail_first.lock().unwrap();
        if *f > 0 {
            *f -= 1;
            return StatusCode::SERVICE_UNAVAILABLE;
        }
    }
    r.got.lock().unwrap().push((headers, body));
    StatusCode::OK
}

async fn receiver() -> (Receiver, String, tokio::task::JoinHandle<()>) {
    let r = Receiver::default();
    let app = Router::new()
        .route("/hook", post(receive))
        .with_state(r.clone());
    let (addr, h) = serve(app, "127.0.0.1:0").await.unwrap();
    (r, format!("http://{addr}/hook"), h)
}

async fn wait_for(mut done: impl FnMut() -> bool) {
    for _ in 0..200 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out");
}

#[tokio::test]
async fn subscribed_webhooks_advance_verify_and_replay() {
    let env = env().await;
    let (recv, url, h) = receiver().await;
    *recv.fail_first.lock().unwrap() = 1; // the first delivery is retried
    let http = reqwest::Client::new();
    let r = http
        .post(format!("{}/_sandbox/subscribe", env.base))
        .json(&json!({ "url": url }))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    let c = connector(&env.base);
    let s = c
        .create_shipment(&label_request("orderhub-hooks-1"))
        .await
        .unwrap();
    let label = c.buy(&s.id, "8").await.unwrap();
    // The announcement is a status change too.
    wait_for(|| recv.got.lock().unwrap().len() == 1).await;
    let mut updates: Vec<TrackingUpdate> = Vec::new();
    for step in 0..3 {
        let report: DeliveryReport = http
            .post(format!("{}/_sandbox/trackers/advance", env.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(report.delivered, 1, "step {step}");
        assert_eq!(report.events.len(), 1);
    }
    // Nothing left to move.
    let report: DeliveryReport = http
        .post(format!("{}/_sandbox/trackers/advance", env.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(report.events.is_empty());
    let got = recv.got.lock().unwrap().clone();
    assert_eq!(got.len(), 4);
    let mut ids = Vec::new();
    for (headers, body) in &got {
        let v = c.verify_webhook_request(None, headers, body).unwrap();
        assert_eq!(v.topic, "parcel_status_changed");
        ids.push(v.delivery_id);
        updates.push(c.tracking_update(body).unwrap().unwrap());
    }
    let statuses: Vec<TrackingStatus> = updates.iter().map(|u| u.status).collect();
    assert_eq!(
        statuses,
        [
            TrackingStatus::PreTransit,
            TrackingStatus::InTransit,
            TrackingStatus::OutForDelivery,
            TrackingStatus::Delivered
        ]
    );
    assert!(updates
        .iter()
        .all(|u| u.tracking_code == label.tracking_code
            && u.carrier_shipment_id.as_deref() == Some(s.id.as_str())));
    assert_eq!(updates[3].carrier_status, message_for_id(11));
    // Replay: the same event again, same id.
    let report: DeliveryReport = http
        .post(format!(
            "{}/_sandbox/trackers/{}/replay",
            env.base, label.tracking_code
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(report.events, vec![ids[3].clone()]);
    let got = recv.got.lock().unwrap().clone();
    assert_eq!(got.len(), 5);
    let again = c
        .verify_webhook_request(None, &got[4].0, &got[4].1)
        .unwrap();
    assert_eq!(again.delivery_id, ids[3]);
    // Unknown codes: 404 on both routes.
    for route in ["advance", "replay"] {
        let r = http
            .post(format!("{}/_sandbox/trackers/NOPE/{route}", env.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
    }
    let st = stats(&env.base).await;
    assert!(st.recorded["webhook_attempts_failed"].as_u64().unwrap() >= 1);
    h.abort();
}

#[tokio::test]
async fn one_parcel_advances_by_tracking_code() {
    let env = env().await;
    let c = connector(&env.base);
    let s = c
        .create_shipment(&label_request("orderhub-hooks-2"))
        .await
        .unwrap();
    let l = c.buy(&s.id, "1315").await.unwrap();
    let r = reqwest::Client::new()
        .post(format!(
            "{}/_sandbox/trackers/{}/advance",
            env.base, l.tracking_code
        ))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    assert_eq!(env.sandbox.status_of(&l.tracking_code), Some(3));
}

#[tokio::test]
async fn parcels_advance_on_their_own_when_asked_to() {
    let mut o = opts(SandboxLimits::Volume);
    o.advance_every_ms = 30;
    let env = env_with(o).await;
    let c = connector(&env.base);
    let s = c
        .create_shipment(&label_request("orderhub-auto"))
        .await
        .unwrap();
    let l = c.buy(&s.id, "8").await.unwrap();
    wait_for(|| env.sandbox.status_of(&l.tracking_code) == Some(11)).await;
}

// ------------------------------------------------------------ label formats

#[test]
fn the_documented_parcel_gives_a_label_link_per_format() {
    let env: ParcelEnvelope = serde_json::from_str(PARCEL_CREATE).unwrap();
    let price = || Some((Decimal::new(695, 2), "EUR".to_string()));
    let url = |p: &super::wire::Parcel, f| {
        label_from_parcel(p, price(), f)
            .unwrap()
            .map(|l| (l.label_url, l.label_format))
    };
    // PDF: the label-printer link; PNG and ZPL: the documents link, whose
    // format the download's Accept chooses, with the dpi that fits it.
    assert_eq!(
        url(&env.parcel, LabelFormat::Pdf).unwrap().0,
        "https://panel.sendcloud.sc/api/v2/label/label_printer/3172?hash=bbfd669ee9ebb19408b85b33d181a50040fd9bc4"
    );
    assert_eq!(
        url(&env.parcel, LabelFormat::Png),
        Some((
            "https://panel.sendcloud.sc/api/v2/parcels/3/documents/label?dpi=300".into(),
            LabelFormat::Png
        ))
    );
    assert_eq!(
        url(&env.parcel, LabelFormat::Zpl),
        Some((
            "https://panel.sendcloud.sc/api/v2/parcels/3/documents/label?dpi=203".into(),
            LabelFormat::Zpl
        ))
    );
    // An answer without `documents` (the update example): the same path on
    // the label-printer link's host.
    let mut p = env.parcel.clone();
    p.documents.clear();
    assert_eq!(
        url(&p, LabelFormat::Zpl).unwrap().0,
        "https://panel.sendcloud.sc/api/v2/parcels/3/documents/label?dpi=203"
    );
    // A link that already names a dpi gets the one that fits.
    p.documents = vec![super::wire::Document {
        kind: "label".into(),
        size: Some("a6".into()),
        link: Some("https://panel.sendcloud.sc/api/v2/parcels/3/documents/label?dpi=72".into()),
    }];
    assert_eq!(
        url(&p, LabelFormat::Png).unwrap().0,
        "https://panel.sendcloud.sc/api/v2/parcels/3/documents/label?dpi=300"
    );
    assert_eq!(super::mapping::document_dpi(LabelFormat::Pdf), 72);
}

#[test]
fn the_format_travels_in_the_carrier_shipment_id() {
    use super::mapping::{carrier_shipment_id, split_shipment_id};
    assert_eq!(carrier_shipment_id("3172", LabelFormat::Pdf), "3172");
    assert_eq!(carrier_shipment_id("3172", LabelFormat::Zpl), "3172~zpl");
    assert_eq!(carrier_shipment_id("3172", LabelFormat::Png), "3172~png");
    for f in [LabelFormat::Pdf, LabelFormat::Png, LabelFormat::Zpl] {
        assert_eq!(
            split_shipment_id(&carrier_shipment_id("3172", f)).unwrap(),
            ("3172", f)
        );
    }
    assert!(split_shipment_id("3172~gif").is_err());
}

#[test]
fn sendcloud_declares_pdf_png_and_zpl_and_others_fall_back_to_pdf() {
    let c = SendcloudConnector::new(setup("", SECRET)).unwrap();
    let caps = c.capabilities();
    assert_eq!(
        caps.label_formats,
        &[LabelFormat::Pdf, LabelFormat::Png, LabelFormat::Zpl]
    );
    assert_eq!(caps.label_format_for(LabelFormat::Zpl), LabelFormat::Zpl);
    let pdf_only = CarrierCapabilities::default();
    assert_eq!(
        pdf_only.label_format_for(LabelFormat::Zpl),
        LabelFormat::Pdf
    );
    assert_eq!(
        pdf_only.label_format_for(LabelFormat::Png),
        LabelFormat::Pdf
    );
}

#[test]
fn the_documented_document_errors_read() {
    let examples: Value = serde_json::from_str(DOCUMENT_NOT_FOUND).unwrap();
    for (name, message) in [
        ("NotFound", "No Parcel matches the given query."),
        ("document_type_not_found", "Not found."),
    ] {
        let body: ErrorBody = serde_json::from_value(examples[name].clone()).unwrap();
        assert_eq!(body.error.code, Some(404), "{name}");
        assert_eq!(body.error.message.as_deref(), Some(message), "{name}");
    }
}

/// A raw GET as Sendcloud's own clients make it: Basic auth, an `Accept`.
async fn get_document(url: &str, accept: Option<&str>) -> (u16, String, Vec<u8>) {
    let mut rb = reqwest::Client::new()
        .get(url)
        .header("authorization", basic());
    if let Some(a) = accept {
        rb = rb.header("accept", a);
    }
    let r = rb.send().await.unwrap();
    let status = r.status().as_u16();
    let ct = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    (status, ct, r.bytes().await.unwrap().to_vec())
}

#[tokio::test]
async fn each_format_is_bought_and_downloaded_as_sendcloud_serves_it() {
    let env = env().await;
    let c = connector(&env.base);
    for (format, magic) in [
        (LabelFormat::Pdf, b"%PDF-".as_slice()),
        (LabelFormat::Png, b"\x89PNG\r\n\x1a\n".as_slice()),
        (LabelFormat::Zpl, b"^XA".as_slice()),
    ] {
        let mut req = label_request(&format!("orderhub-shipment-fmt-{}", format.as_str()));
        req.label_format = format;
        let s = c.create_shipment(&req).await.unwrap();
        if format == LabelFormat::Pdf {
            assert!(s.id.parse::<i64>().is_ok(), "{}", s.id);
        } else {
            assert!(s.id.ends_with(&format!("~{}", format.as_str())), "{}", s.id);
        }
        let label = c.buy(&s.id, "8").await.unwrap();
        assert_eq!(label.label_format, format);
        let parcel_id = s.id.split('~').next().unwrap();
        assert_eq!(label.label_id, parcel_id);
        if format != LabelFormat::Pdf {
            assert_eq!(
                label.label_url,
                format!(
                    "{}/api/v2/parcels/{parcel_id}/documents/label?dpi={}",
                    env.base,
                    super::mapping::document_dpi(format)
                )
            );
        }
        // The connector downloads it with the account's keys and Accept.
        let bytes = c
            .label_file(&label.label_url, format)
            .await
            .unwrap()
            .expect("Sendcloud's links are downloaded by the connector");
        assert!(bytes.starts_with(magic), "{format:?}");
        if format != LabelFormat::Png {
            assert!(String::from_utf8_lossy(&bytes).contains(&label.tracking_code));
        }
        // A retry that asks Sendcloud finds the same label, format included.
        assert_eq!(c.shipment(&s.id).await.unwrap().label, Some(label.clone()));
        assert_eq!(c.buy(&s.id, "8").await.unwrap(), label);
    }
    let st = stats(&env.base).await;
    assert_eq!(recorded_in(&st, "label_downloads_by_format", "png"), 1);
    assert_eq!(recorded_in(&st, "label_downloads_by_format", "zpl"), 1);
    // Keys go to Sendcloud's own host only.
    assert_eq!(
        c.label_file("https://labels.example.com/x.pdf", LabelFormat::Pdf)
            .await
            .unwrap(),
        None
    );
    // Voiding by a suffixed shipment id works (label id empty).
    let mut req = label_request("orderhub-shipment-fmt-void");
    req.label_format = LabelFormat::Zpl;
    let s = c.create_shipment(&req).await.unwrap();
    c.buy(&s.id, "8").await.unwrap();
    assert_eq!(c.void(&s.id, "").await.unwrap(), VoidStatus::Voided);
}

#[tokio::test]
async fn the_documents_endpoint_checks_accept_dpi_and_type_as_sendcloud_does() {
    let env = env().await;
    let c = connector(&env.base);
    let s = c
        .create_shipment(&label_request("orderhub-shipment-doc"))
        .await
        .unwrap();
    let unannounced = format!("{}/api/v2/parcels/{}/documents/label", env.base, s.id);
    let (st, _, body) = get_document(&unannounced, None).await;
    assert_eq!(st, 404, "no label before the announcement");
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        v["error"]["message"],
        "Document type requested is not available for the parcel."
    );
    c.buy(&s.id, "8").await.unwrap();
    let parcel: Value = reqwest::Client::new()
        .get(format!("{}/api/v2/parcels/{}", env.base, s.id))
        .header("authorization", basic())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let link = parcel["parcel"]["documents"][0]["link"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(parcel["parcel"]["documents"][0]["type"], "label");
    assert_eq!(link, unannounced);
    for (accept, dpi, status, ct) in [
        (None, None, 200, "application/pdf"),
        (Some("*/*"), None, 200, "application/pdf"),
        (Some("application/pdf"), Some("72"), 200, "application/pdf"),
        (Some("application/zpl"), None, 200, "application/zpl"),
        (Some("application/zpl"), Some("203"), 200, "application/zpl"),
        (Some("application/zpl"), Some("600"), 200, "application/zpl"),
        (Some("image/png"), None, 200, "image/png"),
        (Some("image/png"), Some("150"), 200, "image/png"),
        (Some("image/png"), Some("300"), 200, "image/png"),
        (
            Some("text/html, application/zpl;q=0.9"),
            None,
            200,
            "application/zpl",
        ),
        (Some("image/png"), Some("72"), 400, "application/json"),
        (
            Some("application/pdf"),
            Some("300"),
            400,
            "application/json",
        ),
        (
            Some("application/zpl"),
            Some("204"),
            400,
            "application/json",
        ),
        (Some("image/png"), Some("high"), 400, "application/json"),
        (Some("text/html"), None, 406, "application/json"),
        (Some("image/gif"), None, 406, "application/json"),
    ] {
        let url = match dpi {
            Some(d) => format!("{link}?dpi={d}"),
            None => link.clone(),
        };
        let (st, got_ct, body) = get_document(&url, accept).await;
        assert_eq!(
            st,
            status,
            "{accept:?} dpi {dpi:?}: {}",
            String::from_utf8_lossy(&body)
        );
        assert!(got_ct.starts_with(ct), "{accept:?} {dpi:?}: {got_ct}");
        if st != 200 {
            let e: ErrorBody = serde_json::from_slice(&body).unwrap();
            assert_eq!(e.error.code, Some(st as i64));
            assert!(e.error.message.is_some());
        }
    }
    // Types: unknown → "Not found.", customs documents these parcels lack,
    // an unknown parcel (the v2 OpenAPI's two 404 examples).
    let examples: Value = serde_json::from_str(DOCUMENT_NOT_FOUND).unwrap();
    let (st, _, body) = get_document(
        &format!(
            "{}/api/v2/parcels/{}/documents/not-existing-document-type",
            env.base, s.id
        ),
        None,
    )
    .await;
    assert_eq!(st, 404);
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        v["error"]["message"],
        examples["document_type_not_found"]["error"]["message"]
    );
    let (st, _, _) = get_document(
        &format!("{}/api/v2/parcels/{}/documents/cn23", env.base, s.id),
        None,
    )
    .await;
    assert_eq!(st, 404);
    let (st, _, body) = get_document(
        &format!("{}/api/v2/parcels/999999/documents/label", env.base),
        None,
    )
    .await;
    assert_eq!(st, 404);
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        v["error"]["message"],
        examples["NotFound"]["error"]["message"]
    );
    assert_eq!(
        v["error"]["request"],
        "api/v2/parcels/999999/documents/label"
    );
    // Without the keys: 401, as every Sendcloud call.
    let r = reqwest::get(&link).await.unwrap();
    assert_eq!(r.status(), 401);
}
