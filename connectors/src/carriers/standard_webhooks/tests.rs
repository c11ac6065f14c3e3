//! Verification against the specification's vectors, the payload mapping
//! against testdata/, and the receiver against its sandbox over loopback.

use super::*;
use crate::carrier::{carrier_kind, LabelFormat, ParcelSpec};
use crate::sandbox::{serve, CarrierSandboxSettings, Stats};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use orderhub_core::{Address, TrackingStatus};
use rust_decimal::Decimal;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// The secret and vector of the `standardwebhooks` libraries' own tests.
const SPEC_SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
const SPEC_ID: &str = "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk";
const SPEC_TS: i64 = 1649367553;
const SPEC_BODY: &[u8] = br#"{"email":"test@example.com","username":"test_user"}"#;
const SPEC_SIG: &str = "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=";

const TRACKING_UPDATED_JSON: &str = include_str!("testdata/tracking_updated.json");
const SPEC_EXAMPLE_EVENT: &str = include_str!("testdata/spec_example_event.json");

fn setup(secret: &str) -> CarrierSetup {
    CarrierSetup {
        channel_id: "sw-1".into(),
        base_url: String::new(),
        options: BTreeMap::new(),
        secrets: BTreeMap::from([("webhook_secret".to_string(), secret.to_string())]),
        request_timeout: Duration::from_secs(2),
    }
}

fn receiver_for(secret: &str) -> StandardWebhooksReceiver {
    StandardWebhooksReceiver::new(setup(secret)).unwrap()
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn headers(id: &str, ts: i64, sig: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(HEADER_ID, id.parse().unwrap());
    h.insert(HEADER_TIMESTAMP, ts.to_string().parse().unwrap());
    h.insert(HEADER_SIGNATURE, sig.parse().unwrap());
    h
}

fn signed(secret: &str, id: &str, ts: i64, body: &[u8]) -> HeaderMap {
    let sig = standardwebhooks::Webhook::new(secret)
        .unwrap()
        .sign(id, ts, body)
        .unwrap();
    headers(id, ts, &sig)
}

// ------------------------------------------------------------- verification

#[test]
fn signing_matches_the_specifications_vector() {
    let wh = standardwebhooks::Webhook::new(SPEC_SECRET).unwrap();
    assert_eq!(wh.sign(SPEC_ID, SPEC_TS, SPEC_BODY).unwrap(), SPEC_SIG);
    // Our own key parsing gives the same key.
    let ours = standardwebhooks::Webhook::from_bytes(parse_secret(SPEC_SECRET).unwrap()).unwrap();
    assert_eq!(ours.sign(SPEC_ID, SPEC_TS, SPEC_BODY).unwrap(), SPEC_SIG);
    // The vector's timestamp is years old: refused as stale, never accepted.
    let c = receiver_for(SPEC_SECRET);
    assert_eq!(
        c.verify_webhook(&headers(SPEC_ID, SPEC_TS, SPEC_SIG), SPEC_BODY)
            .unwrap_err(),
        WebhookError::BadSignature
    );
}

#[test]
fn good_deliveries_verify_and_name_id_and_type() {
    let c = receiver_for(SPEC_SECRET);
    let body = TRACKING_UPDATED_JSON.as_bytes();
    let v = c
        .verify_webhook(&signed(SPEC_SECRET, "msg_1", now(), body), body)
        .unwrap();
    assert_eq!(v.delivery_id, "msg_1");
    assert_eq!(v.topic, "tracking.updated");
    // Four minutes either way is inside the window.
    for ts in [now() - 240, now() + 240] {
        assert!(c
            .verify_webhook(&signed(SPEC_SECRET, "msg_2", ts, body), body)
            .is_ok());
    }
    // The default URL-aware entry point agrees.
    assert!(c
        .verify_webhook_request(
            Some("token=x"),
            &signed(SPEC_SECRET, "msg_3", now(), body),
            body
        )
        .is_ok());
}

#[test]
fn bad_deliveries_are_refused() {
    let c = receiver_for(SPEC_SECRET);
    let body = TRACKING_UPDATED_JSON.as_bytes();
    let bad = |h: &HeaderMap, b: &[u8]| c.verify_webhook(h, b).unwrap_err();

    // Tampered body, id or timestamp.
    let good = signed(SPEC_SECRET, "msg_1", now(), body);
    let mut tampered = body.to_vec();
    let at = tampered.len() / 2;
    tampered[at] ^= 0x01;
    assert_eq!(bad(&good, &tampered), WebhookError::BadSignature);
    let mut other_id = good.clone();
    other_id.insert(HEADER_ID, "msg_2".parse().unwrap());
    assert_eq!(bad(&other_id, body), WebhookError::BadSignature);
    let mut other_ts = good.clone();
    other_ts.insert(HEADER_TIMESTAMP, (now() - 1).to_string().parse().unwrap());
    if other_ts != good {
        assert_eq!(bad(&other_ts, body), WebhookError::BadSignature);
    }

    // Wrong secret.
    let other = "whsec_BwgJCgsMDQ4PEBESExQVFhcYGRobHB0e";
    assert_eq!(
        bad(&signed(other, "msg_1", now(), body), body),
        WebhookError::BadSignature
    );

    // Stale (6 minutes) and future (6 minutes), correctly signed.
    for ts in [now() - 360, now() + 360] {
        assert_eq!(
            bad(&signed(SPEC_SECRET, "msg_1", ts, body), body),
            WebhookError::BadSignature,
            "{ts}"
        );
    }
    // A timestamp that is not a number.
    let mut words = good.clone();
    words.insert(HEADER_TIMESTAMP, "yesterday".parse().unwrap());
    assert_eq!(bad(&words, body), WebhookError::BadSignature);

    // Missing (or blank) headers are named.
    for name in [HEADER_ID, HEADER_TIMESTAMP, HEADER_SIGNATURE] {
        let mut h = good.clone();
        h.remove(name);
        assert_eq!(bad(&h, body), WebhookError::MissingHeader(name));
        h.insert(name, " ".parse().unwrap());
        assert_eq!(bad(&h, body), WebhookError::MissingHeader(name));
    }

    // Signature entries that are not a matching `v1`.
    let sig = good[HEADER_SIGNATURE].to_str().unwrap().to_string();
    let b64 = sig.trim_start_matches("v1,").to_string();
    for junk in [
        b64.clone(),              // no version
        format!("v1a,{b64}"),     // asymmetric label on an HMAC
        format!("v2,{b64}"),      // unknown version
        "v1,".to_string(),        // empty
        sig[..8].to_string(),     // cut short
        format!("{sig}A"),        // too long
        "v1,%%%notbase64".into(), // junk
    ] {
        let mut h = good.clone();
        h.insert(HEADER_SIGNATURE, junk.parse().unwrap());
        assert_eq!(bad(&h, body), WebhookError::BadSignature, "{junk}");
    }

    // Signed, but not an envelope: not a forgery, still refused.
    for junk in [&b"not json"[..], &b"[]"[..], &br#"{"data":{}}"#[..]] {
        assert!(matches!(
            c.verify_webhook(&signed(SPEC_SECRET, "msg_1", now(), junk), junk),
            Err(WebhookError::UnsupportedTopic(_))
        ));
    }
    // Bytes that are not UTF-8 cannot be signed content: refused.
    let binary = [0xffu8, 0xfe, 0x00];
    let mut h = good.clone();
    h.insert(HEADER_SIGNATURE, sig.parse().unwrap());
    assert_eq!(bad(&h, &binary), WebhookError::BadSignature);
}

#[test]
fn several_signatures_verify_when_one_is_right() {
    let c = receiver_for(SPEC_SECRET);
    let body = TRACKING_UPDATED_JSON.as_bytes();
    let ts = now();
    let right = signed(SPEC_SECRET, "msg_9", ts, body)[HEADER_SIGNATURE]
        .to_str()
        .unwrap()
        .to_string();
    let old_key = signed("whsec_BwgJCgsMDQ4PEBESExQVFhcYGRobHB0e", "msg_9", ts, body)
        [HEADER_SIGNATURE]
        .to_str()
        .unwrap()
        .to_string();
    let asym = "v1a,hnO3f9T8Ytu9HwrXslvumlUpqtNVqkhqw/enGzPCXe5BdqzCInXqYXFymVJaA7AZdpXwVLPo3mNl8EM+m7TBAg==";
    for header in [
        format!("{old_key} {right}"),
        format!("{right} {old_key}"),
        format!("{asym} {old_key} {right}"),
    ] {
        assert!(
            c.verify_webhook(&headers("msg_9", ts, &header), body)
                .is_ok(),
            "{header}"
        );
    }
    assert_eq!(
        c.verify_webhook(&headers("msg_9", ts, &format!("{asym} {old_key}")), body)
            .unwrap_err(),
        WebhookError::BadSignature
    );
}

// ------------------------------------------------------------ configuration

#[test]
fn malformed_secrets_are_config_errors_that_do_not_show_the_secret() {
    for (secret, says) in [
        ("", "missing"),
        (
            "C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
            "must start with `whsec_`",
        ),
        ("whsec_not*base64*at*all!!", "not base64"),
        ("whsec_c2hvcnQ=", "5 bytes"),
    ] {
        let err = StandardWebhooksReceiver::new(setup(secret)).unwrap_err();
        assert!(err.contains(says), "{secret}: {err}");
        assert!(err.contains("sw-1"), "{err}");
        if !secret.is_empty() {
            assert!(!err.contains(secret), "{err}");
        }
    }
    // Unpadded base64 is taken, as the reference Python library does.
    assert!(parse_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").is_ok());
    let c = receiver_for(SPEC_SECRET);
    let text = format!("{c:?}");
    assert!(!text.contains("C2FVsBQ"), "{text}");
    assert!(text.contains("sw-1"));
}

#[tokio::test]
async fn the_kind_buys_nothing_and_says_so() {
    let kind = carrier_kind("standard_webhooks").unwrap();
    assert_eq!(kind.required_secrets.to_vec(), vec!["webhook_secret"]);
    assert!((kind.build)(setup("nope")).is_err());
    let c = (kind.build)(setup(SPEC_SECRET)).unwrap();
    assert_eq!(c.kind(), "standard_webhooks");
    let caps = c.capabilities();
    assert!(!caps.buys_labels && !caps.voids && !caps.multi_parcel);
    assert!(caps.label_formats.is_empty());
    let addr = Address {
        name: Some("A".into()),
        company: None,
        line1: Some("1 Main St".into()),
        line2: None,
        city: Some("Reno".into()),
        region: Some("NV".into()),
        postal_code: Some("89501".into()),
        country: Some("US".into()),
        phone: None,
    };
    let req = LabelRequest {
        reference: "orderhub-shipment-1".into(),
        from: addr.clone(),
        to: addr,
        parcels: vec![ParcelSpec {
            weight_oz: Decimal::ONE,
            length_in: Decimal::ONE,
            width_in: Decimal::ONE,
            height_in: Decimal::ONE,
        }],
        label_format: LabelFormat::Pdf,
    };
    for err in [
        c.create_shipment(&req).await.unwrap_err(),
        c.shipment("x").await.unwrap_err(),
        c.buy("x", "y").await.map(|_| ()).unwrap_err(),
        c.void("x", "y").await.map(|_| ()).unwrap_err(),
    ] {
        assert!(!err.is_retryable(), "{err}");
    }
    let err = c.buy("x", "y").await.unwrap_err().to_string();
    assert!(err.contains("only receives tracking"), "{err}");
    assert!(err.contains("outside orderhub"), "{err}");
}

// ------------------------------------------------------------------ mapping

#[test]
fn the_documented_payload_maps() {
    let u = tracking_update_from_payload(TRACKING_UPDATED_JSON.as_bytes())
        .unwrap()
        .unwrap();
    assert_eq!(u.tracking_code, "ZX123456789");
    assert_eq!(u.carrier_shipment_id.as_deref(), Some("shp-881"));
    assert_eq!(u.status, TrackingStatus::InTransit);
    assert_eq!(u.carrier_status, "DEPARTED_HUB");
    assert_eq!(
        u.public_url.as_deref(),
        Some("https://track.example.com/ZX123456789")
    );
    // Put in time order: 09:00Z before 15:00+01:00 (= 14:00Z).
    assert_eq!(u.details.len(), 2);
    assert_eq!(u.details[0].status, TrackingStatus::PreTransit);
    assert_eq!(u.details[0].carrier_status, "LABEL_PRINTED");
    assert_eq!(u.details[0].location, None);
    assert_eq!(
        u.details[1].message.as_deref(),
        Some("Departed the Reno hub")
    );
    assert_eq!(u.details[1].location.as_deref(), Some("Reno, NV, US"));
    assert_eq!(
        u.details[1].occurred_at.to_rfc3339(),
        "2026-11-20T14:00:00+00:00"
    );
}

#[test]
fn status_words_map_and_unknown_ones_stay_unknown() {
    let table = [
        ("pre_transit", TrackingStatus::PreTransit),
        ("in_transit", TrackingStatus::InTransit),
        ("out_for_delivery", TrackingStatus::OutForDelivery),
        ("available_for_pickup", TrackingStatus::AvailableForPickup),
        ("delivered", TrackingStatus::Delivered),
        ("return_to_sender", TrackingStatus::ReturnToSender),
        ("failure", TrackingStatus::Failure),
        ("cancelled", TrackingStatus::Cancelled),
        ("error", TrackingStatus::Error),
        ("unknown", TrackingStatus::Unknown),
        ("IN_TRANSIT", TrackingStatus::Unknown),
        ("transit", TrackingStatus::Unknown),
        ("moving", TrackingStatus::Unknown),
        ("", TrackingStatus::Unknown),
    ];
    for (word, want) in table {
        assert_eq!(mapping::status_of(word), want, "{word}");
    }
    let body = json!({
        "type": "tracking.updated",
        "timestamp": "2026-11-20T15:04:05Z",
        "data": {"tracking_code": "Z1", "status": "teleported",
                 "events": [{"status": "teleported", "occurred_at": "2026-11-20T15:04:05Z"}]}
    });
    let u = tracking_update_from_payload(body.to_string().as_bytes())
        .unwrap()
        .unwrap();
    assert_eq!(u.status, TrackingStatus::Unknown);
    assert_eq!(u.carrier_status, "teleported");
    assert_eq!(u.details[0].status, TrackingStatus::Unknown);
    assert_eq!(u.details[0].carrier_status, "teleported");
}

#[test]
fn other_types_are_ignored_and_malformed_ones_name_the_field() {
    assert_eq!(
        tracking_update_from_payload(SPEC_EXAMPLE_EVENT.as_bytes()).unwrap(),
        None
    );
    let cases = [
        (json!([]), "$"),
        (json!({"data": {}}), "type"),
        (json!({"type": "tracking.updated"}), "data"),
        (json!({"type": "tracking.updated", "data": 5}), "data"),
        (
            json!({"type": "tracking.updated", "data": {"status": "delivered"}}),
            "data",
        ),
        (
            json!({"type": "tracking.updated", "data": {"tracking_code": " ", "status": "delivered"}}),
            "data.tracking_code",
        ),
        (
            json!({"type": "tracking.updated", "data": {"tracking_code": "Z", "status": ""}}),
            "data.status",
        ),
        (
            json!({"type": "tracking.updated", "data": {"tracking_code": "Z", "status": "delivered",
                   "events": [{"status": "delivered", "occurred_at": "last tuesday"}]}}),
            "data.events[0].occurred_at",
        ),
        (
            json!({"type": "tracking.updated", "data": {"tracking_code": "Z", "status": "delivered",
                   "events": [{"occurred_at": "2026-11-20T15:04:05Z"}]}}),
            "data.events[0]",
        ),
        (
            json!({"type": "tracking.updated", "data": {"tracking_code": 5, "status": "delivered"}}),
            "data.tracking_code",
        ),
    ];
    for (body, field) in cases {
        let err = tracking_update_from_payload(body.to_string().as_bytes()).unwrap_err();
        assert!(err.starts_with(field), "{body}: {err}");
    }
    assert!(tracking_update_from_payload(b"\xff\xfe").is_err());
}

// ------------------------------------------------------------------ sandbox

type Got = Arc<Mutex<Vec<(VerifiedWebhook, TrackingUpdate)>>>;

#[derive(Clone)]
struct Hub {
    connector: Arc<dyn Carrier>,
    got: Got,
    refused: Arc<AtomicUsize>,
    /// Answer 503 to this many requests first.
    fail_first: Arc<AtomicUsize>,
    /// Answer this status to everything instead (e.g. 410).
    always: Option<StatusCode>,
}

async fn receive(State(h): State<Hub>, headers: HeaderMap, body: Bytes) -> StatusCode {
    if let Some(s) = h.always {
        return s;
    }
    if h.fail_first
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
    {
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    match h.connector.verify_webhook(&headers, &body) {
        Ok(v) => match h.connector.tracking_update(&body) {
            Ok(Some(u)) => {
                h.got.lock().unwrap().push((v, u));
                StatusCode::OK
            }
            _ => StatusCode::UNPROCESSABLE_ENTITY,
        },
        Err(_) => {
            h.refused.fetch_add(1, Ordering::SeqCst);
            StatusCode::UNAUTHORIZED
        }
    }
}

async fn hub(secret: &str, fail_first: usize, always: Option<StatusCode>) -> (Hub, String) {
    let kind = carrier_kind("standard_webhooks").unwrap();
    let h = Hub {
        connector: (kind.build)(setup(secret)).unwrap(),
        got: Arc::default(),
        refused: Arc::default(),
        fail_first: Arc::new(AtomicUsize::new(fail_first)),
        always,
    };
    let app = Router::new()
        .route("/hooks/carrier", post(receive))
        .with_state(h.clone());
    let (addr, _task) = serve(app, "127.0.0.1:0").await.unwrap();
    (h, format!("http://{addr}/hooks/carrier"))
}

/// The sandbox as the kind declares it (profile secret, published settings).
async fn sandbox() -> String {
    let sb = &KIND.sandbox;
    let router = (sb.router)(&(sb.profile)(), CarrierSandboxSettings::default());
    let (addr, _task) = serve(router, "127.0.0.1:0").await.unwrap();
    format!("http://{addr}")
}

async fn post_json(url: String, body: Value) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(url)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn stats(base: &str) -> Stats {
    reqwest::get(format!("{base}/_sandbox/stats"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_sandbox_delivers_signed_events_that_the_receiver_reads() {
    let base = sandbox().await;
    let profile = (KIND.sandbox.profile)();
    // The hub fails its first request: the sandbox retries it.
    let (h, hook) = hub(profile.secret("webhook_secret"), 1, None).await;
    let (status, v) = post_json(format!("{base}/_sandbox/subscribe"), json!({"url": hook})).await;
    assert_eq!(status, 201, "{v}");
    let (status, v) = post_json(
        format!("{base}/_sandbox/parcels"),
        json!({"tracking_code": "IH000123", "reference": "orderhub-shipment-7"}),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    assert_eq!(v["status"], "pre_transit");
    // Registering again changes nothing.
    let (status, _) = post_json(
        format!("{base}/_sandbox/parcels"),
        json!({"tracking_code": "IH000123", "reference": "orderhub-shipment-7"}),
    )
    .await;
    assert_eq!(status, 200);

    for _ in 0..3 {
        let (status, v) = post_json(format!("{base}/_sandbox/trackers/advance"), json!({})).await;
        assert_eq!(status, 200);
        assert_eq!(v["delivered"], 1, "{v}");
        assert_eq!(v["failed"], 0);
    }
    // Delivered parcels do not move.
    let (_, v) = post_json(format!("{base}/_sandbox/trackers/advance"), json!({})).await;
    assert_eq!(v["events"], json!([]));

    let got = h.got.lock().unwrap().clone();
    assert_eq!(h.refused.load(Ordering::SeqCst), 0);
    assert_eq!(got.len(), 3);
    let statuses: Vec<TrackingStatus> = got.iter().map(|(_, u)| u.status).collect();
    assert_eq!(
        statuses,
        [
            TrackingStatus::InTransit,
            TrackingStatus::OutForDelivery,
            TrackingStatus::Delivered
        ]
    );
    assert!(got.iter().all(|(v, _)| v.topic == "tracking.updated"));
    let ids: std::collections::HashSet<&str> =
        got.iter().map(|(v, _)| v.delivery_id.as_str()).collect();
    assert_eq!(ids.len(), 3, "each step is a new event");
    let last = &got[2].1;
    assert_eq!(last.tracking_code, "IH000123");
    assert_eq!(
        last.carrier_shipment_id.as_deref(),
        Some("orderhub-shipment-7")
    );
    assert_eq!(last.details.len(), 4);
    assert!(last
        .details
        .windows(2)
        .all(|w| w[0].occurred_at < w[1].occurred_at));

    // A replay by tracking code resends the same event: same webhook-id.
    let (status, v) = post_json(
        format!("{base}/_sandbox/trackers/IH000123/replay"),
        json!({}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(v["delivered"], 1);
    let got = h.got.lock().unwrap().clone();
    assert_eq!(got.len(), 4);
    assert_eq!(got[3].0.delivery_id, got[2].0.delivery_id);
    assert_eq!(got[3].1, got[2].1);

    // Unknown codes are 404, as is a replay of a parcel that sent nothing.
    for path in ["trackers/NOPE/advance", "trackers/NOPE/replay"] {
        let (status, _) = post_json(format!("{base}/_sandbox/{path}"), json!({})).await;
        assert_eq!(status, 404, "{path}");
    }
    post_json(
        format!("{base}/_sandbox/parcels"),
        json!({"tracking_code": "IH000124", "reference": "orderhub-shipment-8"}),
    )
    .await;
    let (status, _) = post_json(
        format!("{base}/_sandbox/trackers/IH000124/replay"),
        json!({}),
    )
    .await;
    assert_eq!(status, 404);
    // One parcel, one step, by tracking code.
    let (status, v) = post_json(
        format!("{base}/_sandbox/trackers/IH000124/advance"),
        json!({}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(v["delivered"], 1);

    let st = stats(&base).await;
    assert_eq!(st.recorded["labels_by_reference"]["orderhub-shipment-7"], 1);
    assert_eq!(st.recorded["shipments_created"], 2);
    assert_eq!(st.recorded["voids_by_reference"], json!({}));
    assert_eq!(st.recorded["webhooks_sent"], 5);
    assert_eq!(st.recorded["webhook_attempts_failed"], 1);
    assert_eq!(
        st.recorded["trackers_by_status"],
        json!({"delivered": 1, "in_transit": 1})
    );
}

#[tokio::test]
async fn a_hub_with_another_secret_refuses_everything_and_gone_disables() {
    let sb = StandardWebhooksSandbox::new(StandardWebhooksSandboxOptions {
        webhook_attempts: 2,
        webhook_retry_base_ms: 10,
        ..StandardWebhooksSandboxOptions::default()
    });
    let (wrong, wrong_url) = hub("whsec_BwgJCgsMDQ4PEBESExQVFhcYGRobHB0e", 0, None).await;
    let (_gone, gone_url) = hub(SANDBOX_SECRET, 0, Some(StatusCode::GONE)).await;
    sb.subscribe(&wrong_url);
    sb.subscribe(&gone_url);
    assert!(sb.register("IH1", "orderhub-shipment-9"));
    assert!(!sb.register("IH1", "orderhub-shipment-9"));
    let r = sb.advance("IH1").await.unwrap();
    assert_eq!((r.delivered, r.failed), (0, 2));
    assert_eq!(wrong.refused.load(Ordering::SeqCst), 2, "retried once");
    // The 410 subscription is off: the next event only tries the other one.
    let r = sb.advance("IH1").await.unwrap();
    assert_eq!((r.delivered, r.failed), (0, 1));
    assert_eq!(sb.status("IH1"), Some("out_for_delivery"));
    assert!(sb.advance("nope").await.is_none());
    let st = sb.core().stats();
    assert_eq!(st.recorded["subscriptions_disabled"], 1);
    assert_eq!(st.recorded["webhooks_failed"], 3);
}

#[tokio::test]
async fn control_routes_refuse_junk() {
    let base = sandbox().await;
    for (path, body) in [
        ("subscribe", json!({"url": "ftp://x"})),
        ("subscribe", json!({"url": 5})),
        ("parcels", json!({"tracking_code": ""})),
        ("parcels", json!({"tracking_code": "has space"})),
    ] {
        let (status, _) = post_json(format!("{base}/_sandbox/{path}"), body.clone()).await;
        assert_eq!(status, 400, "{path} {body}");
    }
    let r = reqwest::Client::new()
        .post(format!("{base}/_sandbox/parcels"))
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}
