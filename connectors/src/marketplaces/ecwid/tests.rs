//! Mapping of Ecwid's documented payloads, webhook signatures, and the
//! connector against its sandbox over real HTTP on loopback.

use super::mapping::{order_from_value, StoreFormats, WeightUnit};
use super::sandbox::{EcwidSandbox, EcwidSandboxOptions};
use super::wire::{ErrorBody, OrdersPage, UpdateResult};
use super::*;
use crate::http::{HttpClient, RetryPolicy};
use crate::marketplace::{
    ChannelSetup, DeliveryStatusPush, Marketplace, TrackingPush, WebhookError, WebhookOrder,
};
use crate::sandbox::{serve, FaultConfig, Stats};
use crate::RemoteError;
use chrono::{DateTime, Duration as ChronoDuration, TimeZone, Utc};
use orderhub_core::{
    FulfillmentStatus, Order, OrderStatus, PaymentStatus, Quarantined, TrackingStatus,
};
use rust_decimal::Decimal;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

const TOKEN: &str = "secret_test_token";
const CLIENT_SECRET: &str = "test_client_secret";

fn d(s: &str) -> Decimal {
    s.parse().unwrap()
}

fn utc(y: i32, mo: u32, day: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, day, h, mi, s).unwrap()
}

// ---------------------------------------------------------------- mapping

#[test]
fn legacy_documented_search_result_maps_and_adds_up() {
    let page: OrdersPage =
        serde_json::from_str(include_str!("testdata/search_orders_response_legacy.json")).unwrap();
    assert_eq!((page.total, page.count, page.items.len()), (1, 1, 1));
    let formats = StoreFormats {
        weight_unit: Some(WeightUnit::Kilogram),
        ..StoreFormats::default()
    };
    let o = order_from_value(&page.items[0], &formats).unwrap();
    o.check_totals().unwrap();
    // An old store's order: no `id`, so the order number is the id.
    assert_eq!(o.external_id, "20");
    assert_eq!(o.number.as_deref(), Some("20"));
    assert_eq!(o.channel, "ecwid");
    assert_eq!(o.currency.as_str(), "USD");
    assert_eq!(o.subtotal, d("29.95"));
    assert_eq!(o.total, d("37.39"));
    assert_eq!(o.tax_total, d("1.79"));
    // `discount` 2.85 plus the coupon's 1.50.
    assert_eq!(o.discount_total, d("4.35"));
    // The documented total only adds up with the handling fee inside the rate.
    assert_eq!(o.shipping_total, d("10.00"));
    assert_eq!(o.shipping_method.as_deref(), Some("2nd day delivery"));
    let l = &o.lines[0];
    assert_eq!(l.external_id.as_deref(), Some("40989227"));
    assert_eq!(l.sku.as_deref(), Some("00004"));
    assert_eq!(l.title, "Cherry");
    assert_eq!(
        (l.quantity, l.unit_price, l.total),
        (5, d("5.99"), d("29.95"))
    );
    assert_eq!(l.tax, d("1.79"));
    assert_eq!(l.grams, Some(320));
    assert_eq!(o.status, OrderStatus::Awaiting);
    assert_eq!(o.payment_status, PaymentStatus::Paid);
    assert_eq!(o.fulfillment_status, FulfillmentStatus::Unfulfilled);
    assert_eq!(o.placed_at, utc(2014, 9, 20, 19, 59, 43));
    assert_eq!(o.updated_at, utc(2014, 9, 21, 0, 0, 12));
    let ship = o.ship_to.as_ref().unwrap();
    assert_eq!(ship.name.as_deref(), Some("John Smith"));
    assert_eq!(ship.company.as_deref(), Some("Unreal Company"));
    assert_eq!(ship.line1.as_deref(), Some("W 3d st"));
    assert_eq!(ship.region.as_deref(), Some("NY"));
    assert_eq!(ship.postal_code.as_deref(), Some("10001"));
    assert_eq!(ship.country.as_deref(), Some("US"));
    let c = o.customer.as_ref().unwrap();
    assert_eq!(c.external_id.as_deref(), Some("15319410"));
    assert_eq!(c.email.as_deref(), Some("johnsmith@example.com"));
}

#[test]
fn documented_get_order_with_tax_included_prices_counts_tax_once() {
    let o = normalize(include_str!("testdata/get_order.json")).unwrap();
    o.check_totals().unwrap();
    assert_eq!(o.external_id, "K8XTQ");
    assert_eq!(o.total, d("10.00"));
    assert_eq!(o.subtotal, d("10.00"));
    // pricesIncludeTax: the 0.91 is inside the 10.00, kept on the line only.
    assert_eq!(o.tax_total, Decimal::ZERO);
    assert_eq!(o.lines[0].tax, d("0.91"));
    assert_eq!(o.lines[0].grams, None);
    assert_eq!(o.shipping_total, Decimal::ZERO);
    assert_eq!(o.status, OrderStatus::Delivered);
    assert_eq!(o.fulfillment_status, FulfillmentStatus::Fulfilled);
    assert!(o.ship_to.is_none(), "a digital order has no shippingPerson");
    let bill = o.bill_to.as_ref().unwrap();
    assert_eq!(bill.country.as_deref(), Some("ES"));
    assert_eq!(bill.company.as_deref(), Some("Ecwid API Team"));
    assert_eq!(o.placed_at, utc(2024, 9, 4, 7, 22, 9));
    assert_eq!(o.updated_at, utc(2024, 9, 4, 7, 26, 24));
    assert_eq!(o.placed_at.timestamp(), 1725434529);
}

#[test]
fn current_documented_search_example_does_not_add_up_and_is_refused() {
    // 500 − 10 coupon + 110 shipping + 10 tax = 610, the example says 600:
    // no documented reading balances it, so it is refused, not adjusted.
    let page: OrdersPage =
        serde_json::from_str(include_str!("testdata/search_orders_response.json")).unwrap();
    assert_eq!((page.total, page.count), (23, 1));
    let err = order_from_value(&page.items[0], &StoreFormats::default()).unwrap_err();
    assert_eq!(err.field, "total");
    assert!(err.problem.contains("600"), "{err}");
    // With the total it implies, the same order maps.
    let mut fixed = page.items[0].clone();
    fixed["total"] = json!(610);
    let o = order_from_value(&fixed, &StoreFormats::default()).unwrap();
    o.check_totals().unwrap();
    assert_eq!(o.external_id, "EBJFT");
    assert_eq!(o.discount_total, d("10.00"));
    assert_eq!(o.status, OrderStatus::Shipped);
    assert_eq!(o.customer.as_ref().and_then(|c| c.email.clone()), None);
}

#[test]
fn float_money_is_read_exactly_and_bad_money_names_the_field() {
    let order = json!({
        "id": "ABC12", "total": 0.3, "subtotal": 0.3, "tax": 0,
        "createDate": "2024-06-06 08:00:26 +0000", "updateDate": "2024-06-06 08:00:26 +0000",
        "items": [{"id": 1, "name": "Pin", "sku": "P", "quantity": 3, "price": 0.1}]
    });
    let o = order_from_value(&order, &StoreFormats::default()).unwrap();
    assert_eq!(o.total.to_string(), "0.30");
    o.check_totals().unwrap();
    let mut bad = order.clone();
    bad["items"][0]["price"] = json!("0.1");
    let err = order_from_value(&bad, &StoreFormats::default()).unwrap_err();
    assert_eq!(err.field, "items[0].price");
    let mut no_total = order;
    no_total.as_object_mut().unwrap().remove("total");
    assert_eq!(
        order_from_value(&no_total, &StoreFormats::default())
            .unwrap_err()
            .field,
        "total"
    );
}

#[test]
fn documented_bodies_decode() {
    let r: UpdateResult =
        serde_json::from_str(include_str!("testdata/update_order_response.json")).unwrap();
    assert_eq!(r.update_count, 1);
    let e: ErrorBody =
        serde_json::from_str(include_str!("testdata/error_invalid_token.json")).unwrap();
    assert_eq!(e.error_code.as_deref(), Some("INVALID_API_TOKEN"));
    let e: ErrorBody =
        serde_json::from_str(include_str!("testdata/error_rate_limited.json")).unwrap();
    assert_eq!(e.error_code.as_deref(), Some("RATE_LIMITED"));
}

// ---------------------------------------------------------------- webhooks

fn signed_headers(sig: &str) -> http::HeaderMap {
    let mut h = http::HeaderMap::new();
    h.insert(HEADER_SIGNATURE, sig.parse().unwrap());
    h
}

#[test]
fn webhook_signatures_are_verified_on_the_event_fields() {
    let body = include_bytes!("testdata/webhook_order_updated.json");
    let sig = sign_webhook(
        CLIENT_SECRET,
        "1234567",
        "80aece08-40e8-4145-8764-6c2f0d38678",
    );
    let v = verify_ecwid_webhook(CLIENT_SECRET, &signed_headers(&sig), body).unwrap();
    assert_eq!(v.topic, "order.updated");
    assert_eq!(v.delivery_id, "80aece08-40e8-4145-8764-6c2f0d38678");
    // Tampered event id, wrong or empty secret, garbage, missing header.
    let tampered = String::from_utf8_lossy(body).replace("6c2f0d38678", "6c2f0d38679");
    assert_eq!(
        verify_ecwid_webhook(CLIENT_SECRET, &signed_headers(&sig), tampered.as_bytes())
            .unwrap_err(),
        WebhookError::BadSignature
    );
    let later = String::from_utf8_lossy(body).replace("1234567", "1234568");
    assert_eq!(
        verify_ecwid_webhook(CLIENT_SECRET, &signed_headers(&sig), later.as_bytes()).unwrap_err(),
        WebhookError::BadSignature
    );
    for secret in ["other", ""] {
        assert_eq!(
            verify_ecwid_webhook(secret, &signed_headers(&sig), body).unwrap_err(),
            WebhookError::BadSignature
        );
    }
    assert_eq!(
        verify_ecwid_webhook(CLIENT_SECRET, &signed_headers("%%%"), body).unwrap_err(),
        WebhookError::BadSignature
    );
    assert_eq!(
        verify_ecwid_webhook(CLIENT_SECRET, &http::HeaderMap::new(), body).unwrap_err(),
        WebhookError::MissingHeader(HEADER_SIGNATURE)
    );
    assert_eq!(
        verify_ecwid_webhook(CLIENT_SECRET, &signed_headers(&sig), b"{not json").unwrap_err(),
        WebhookError::BadSignature
    );
}

#[test]
fn webhook_events_name_the_order_to_poll() {
    let c = EcwidConnector::new(setup("http://127.0.0.1:1", TOKEN, "1003")).unwrap();
    let body = include_bytes!("testdata/webhook_order_updated.json");
    match c.order_from_webhook("order.updated", body).unwrap() {
        WebhookOrder::Changed { external_id } => assert_eq!(external_id, "B8HGD"),
        other => panic!("{other:?}"),
    }
    let old = br#"{"eventId":"e1","eventCreated":1,"storeId":1003,"entityId":103,"eventType":"order.created"}"#;
    assert!(matches!(
        c.order_from_webhook("order.created", old).unwrap(),
        WebhookOrder::Changed { external_id } if external_id == "103"
    ));
    let product = br#"{"eventId":"e2","eventCreated":1,"storeId":1003,"entityId":667251253,"eventType":"product.created"}"#;
    assert!(matches!(
        c.order_from_webhook("product.created", product).unwrap(),
        WebhookOrder::Ignored
    ));
    let other_store = String::from_utf8_lossy(body).replace("1003", "2004");
    assert!(matches!(
        c.order_from_webhook("order.updated", other_store.as_bytes())
            .unwrap(),
        WebhookOrder::Ignored
    ));
    let q: Quarantined = c.order_from_webhook("order.updated", b"[]").unwrap_err();
    assert_eq!(q.raw, "[]");
}

// ---------------------------------------------------------------- sandbox

struct Env {
    sandbox: EcwidSandbox,
    base: String,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Env {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn env_with(requests_per_minute: u32) -> Env {
    let mut opts = EcwidSandboxOptions::published(TOKEN, CLIENT_SECRET);
    opts.requests_per_minute = requests_per_minute;
    let sandbox = EcwidSandbox::new(opts);
    let (addr, server) = serve(sandbox.router(), "127.0.0.1:0").await.unwrap();
    Env {
        sandbox,
        base: format!("http://{addr}"),
        server,
    }
}

async fn env() -> Env {
    env_with(sandbox::PUBLISHED_PER_MINUTE).await
}

fn setup(base: &str, token: &str, store: &str) -> ChannelSetup {
    ChannelSetup {
        channel_id: "ecwid-test".into(),
        base_url: base.into(),
        options: BTreeMap::from([("store_id".to_string(), store.to_string())]),
        secrets: BTreeMap::from([
            ("access_token".to_string(), token.to_string()),
            ("client_secret".to_string(), CLIENT_SECRET.to_string()),
        ]),
        request_timeout: Duration::from_millis(500),
    }
}

fn connector_with(base: &str, token: &str) -> EcwidConnector {
    let fast = HttpClient::new("ecwid:test", Duration::from_millis(500), Some(CLIENT_RATE))
        .with_retry_policy(RetryPolicy {
            max_attempts: 8,
            base: Duration::from_millis(10),
            max: Duration::from_millis(200),
        });
    EcwidConnector::new(setup(base, token, "1003"))
        .unwrap()
        .with_http_client(fast)
}

fn connector(base: &str) -> EcwidConnector {
    connector_with(base, TOKEN)
}

fn epoch() -> DateTime<Utc> {
    DateTime::from_timestamp(0, 0).unwrap()
}

/// Page through everything updated since `since`, retrying a failed page a
/// few times as the worker's job would.
async fn fetch_all(c: &EcwidConnector, since: DateTime<Utc>) -> (Vec<Order>, Vec<Quarantined>) {
    let (mut ok, mut bad, mut page, mut pages) = (Vec::new(), Vec::new(), None, 0);
    loop {
        let mut attempt = 0;
        let result = loop {
            match c.fetch_orders(since, page.clone()).await {
                Err(e) if e.is_retryable() && attempt < 5 => attempt += 1,
                other => break other,
            }
        };
        let result = result.unwrap();
        for o in result.orders {
            match o {
                Ok(o) => ok.push(o),
                Err(q) => bad.push(q),
            }
        }
        pages += 1;
        assert!(pages < 1000, "paging does not end");
        match result.next_page {
            Some(p) => page = Some(p),
            None => return (ok, bad),
        }
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

async fn post(base: &str, path: &str, body: Value) -> Value {
    let r = reqwest::Client::new()
        .post(format!("{base}{path}"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{path}: {}", r.status());
    r.json().await.unwrap()
}

async fn seed(base: &str, body: Value) -> Vec<String> {
    serde_json::from_value(post(base, "/_sandbox/seed", body).await["ids"].clone()).unwrap()
}

async fn set_faults(base: &str, faults: &FaultConfig) {
    post(base, "/_sandbox/faults", json!(faults)).await;
}

fn unique_ids(orders: &[Order]) -> BTreeSet<String> {
    orders.iter().map(|o| o.external_id.clone()).collect()
}

#[tokio::test]
async fn pages_through_300_orders_within_the_limit() {
    let e = env().await;
    let ids = seed(&e.base, json!({"count": 300})).await;
    assert_eq!(e.sandbox.order_count(), 300);
    let c = connector(&e.base);
    let (orders, bad) = fetch_all(&c, epoch()).await;
    assert!(bad.is_empty(), "{bad:?}");
    assert_eq!(unique_ids(&orders), ids.iter().cloned().collect());
    for o in &orders {
        o.check_totals().unwrap();
        assert_eq!(o.currency.as_str(), "USD");
        assert_eq!(o.status, OrderStatus::Awaiting);
        assert!(o
            .lines
            .iter()
            .all(|l| l.sku.as_deref().unwrap().starts_with("SKU-0")));
        assert!(o.lines.iter().all(|l| l.grams.is_some_and(|g| g >= 100)));
        assert!(o.ship_to.as_ref().unwrap().country.is_some());
    }
    let s = stats(&e.base).await;
    assert_eq!(s.throttled, 0);
    // One profile read, then 4 pages of 100 (each re-reading 2 items).
    assert_eq!(s.total_requests(), 5, "{:?}", s.requests_by_path);
}

#[tokio::test]
async fn since_filters_by_update_time() {
    let e = env().await;
    let start = Utc::now() - ChronoDuration::hours(2);
    let ids = seed(
        &e.base,
        json!({"count": 50, "start": start.to_rfc3339(), "step_ms": 60_000}),
    )
    .await;
    let c = connector(&e.base);
    let since = start + ChronoDuration::minutes(30);
    let (orders, _) = fetch_all(&c, since).await;
    assert_eq!(
        unique_ids(&orders),
        ids[30..].iter().cloned().collect::<BTreeSet<_>>()
    );
    assert!(orders
        .iter()
        .all(|o| o.updated_at >= since - ChronoDuration::seconds(1)));
}

#[tokio::test]
async fn a_malformed_order_is_quarantined_and_the_page_kept() {
    let e = env().await;
    seed(&e.base, json!({"count": 20})).await;
    set_faults(
        &e.base,
        &FaultConfig {
            rate_malformed: 1.0,
            paths: vec!["/orders".into()],
            seed: Some(3),
            ..FaultConfig::default()
        },
    )
    .await;
    let c = connector(&e.base);
    let page = c.fetch_orders(epoch(), None).await.unwrap();
    let (ok, bad): (Vec<_>, Vec<_>) = page.orders.into_iter().partition(|o| o.is_ok());
    assert_eq!((ok.len(), bad.len()), (19, 1));
    let q = bad.into_iter().next().unwrap().unwrap_err();
    assert!(q.external_id.is_some());
    assert!(q.reason.contains("total"), "{}", q.reason);
    assert!(q.raw.contains("41.5O"));
    // Stored data stays good.
    set_faults(&e.base, &FaultConfig::default()).await;
    let (orders, bad) = fetch_all(&c, epoch()).await;
    assert_eq!((orders.len(), bad.len()), (20, 0));
}

#[tokio::test]
async fn survives_429_5xx_and_timeouts() {
    let e = env().await;
    let ids = seed(&e.base, json!({"count": 250})).await;
    set_faults(
        &e.base,
        &FaultConfig {
            rate_429: 0.15,
            rate_5xx: 0.2,
            rate_timeout: 0.15,
            timeout_ms: Some(1500),
            retry_after_secs: Some(0.2),
            seed: Some(11),
            ..FaultConfig::default()
        },
    )
    .await;
    let c = connector(&e.base);
    let (orders, bad) = fetch_all(&c, epoch()).await;
    assert!(bad.is_empty());
    assert_eq!(unique_ids(&orders), ids.into_iter().collect());
    let s = stats(&e.base).await;
    assert!(s.faults_total() > 0, "{s:?}");
    assert_eq!(s.throttled, 0);
}

#[tokio::test]
async fn a_burst_is_paced_under_the_published_limit() {
    let e = env().await;
    seed(&e.base, json!({"count": 5})).await;
    let c = std::sync::Arc::new(connector(&e.base));
    let start = Instant::now();
    let calls: Vec<_> = (0..40)
        .map(|_| {
            let c = c.clone();
            tokio::spawn(async move { c.fetch_orders(epoch(), None).await.map(|p| p.orders.len()) })
        })
        .collect();
    for call in calls {
        assert_eq!(call.await.unwrap().unwrap(), 5);
    }
    let s = stats(&e.base).await;
    assert_eq!(s.throttled, 0);
    assert!(s.total_requests() >= 41);
    // 10 at once, then 9 per second.
    assert!(
        start.elapsed() >= Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );
}

#[tokio::test]
async fn the_sandbox_answers_429_with_retry_after_beyond_its_limit() {
    let e = env_with(5).await;
    let http = reqwest::Client::new();
    let url = format!("{}/api/v3/1003/orders", e.base);
    for _ in 0..5 {
        let r = http.get(&url).bearer_auth(TOKEN).send().await.unwrap();
        assert_eq!(r.status(), 200);
    }
    let r = http.get(&url).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(r.status(), 429);
    let wait: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&wait));
    let body: ErrorBody = r.json().await.unwrap();
    assert_eq!(body.error_code.as_deref(), Some("RATE_LIMITED"));
    assert_eq!(stats(&e.base).await.throttled, 1);
    // The legacy `?token=` query parameter is accepted too (env with room).
    let e = env().await;
    let r = http
        .get(format!(
            "{}/api/v3/1003/orders?token={TOKEN}&limit=500",
            e.base
        ))
        .send()
        .await
        .unwrap();
    let page: OrdersPage = r.json().await.unwrap();
    assert_eq!((page.total, page.limit), (0, 100));
}

#[tokio::test]
async fn bad_or_revoked_credentials_are_permanent_403s() {
    let e = env().await;
    seed(&e.base, json!({"count": 3})).await;
    let wrong = connector_with(&e.base, "secret_wrong");
    let err = wrong.fetch_orders(epoch(), None).await.unwrap_err();
    assert!(
        matches!(&err, RemoteError::Permanent { status: Some(403), message } if message.contains("INVALID_API_TOKEN")),
        "{err:?}"
    );
    assert!(!format!("{err:?}").contains("secret_wrong"));
    let c = connector(&e.base);
    c.fetch_orders(epoch(), None).await.unwrap();
    post(&e.base, "/_sandbox/credentials", json!({"revoked": true})).await;
    let err = c.fetch_orders(epoch(), None).await.unwrap_err();
    assert!(
        matches!(
            err,
            RemoteError::Permanent {
                status: Some(403),
                ..
            }
        ),
        "{err:?}"
    );
    let push = tracking_push("AAAAA", "1Z999");
    let err = c.push_tracking(&push).await.unwrap_err();
    assert!(
        matches!(
            err,
            RemoteError::Permanent {
                status: Some(403),
                ..
            }
        ),
        "{err:?}"
    );
    post(&e.base, "/_sandbox/credentials", json!({"revoked": false})).await;
    c.fetch_orders(epoch(), None).await.unwrap();
}

fn tracking_push(order: &str, number: &str) -> TrackingPush {
    TrackingPush {
        order_external_id: order.into(),
        carrier: "UPS".into(),
        tracking_number: number.into(),
        tracking_url: Some(format!("https://www.ups.com/track?tracknum={number}")),
        notify_customer: true,
        lines: vec![],
        shipped_at: Utc::now(),
    }
}

fn recorded_tracking(s: &Stats, id: &str) -> Vec<Value> {
    s.recorded["tracking"][id]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[tokio::test]
async fn tracking_is_recorded_once_when_pushed_twice() {
    let e = env().await;
    let id = seed(&e.base, json!({"count": 1})).await.remove(0);
    let c = connector(&e.base);
    c.push_tracking(&tracking_push(&id, "1Z999AA10123456784"))
        .await
        .unwrap();
    let after_first = e.sandbox.order_json(&id).unwrap();
    assert_eq!(after_first["fulfillmentStatus"], "SHIPPED");
    assert_eq!(after_first["trackingNumber"], "1Z999AA10123456784");
    c.push_tracking(&tracking_push(&id, "1Z999AA10123456784"))
        .await
        .unwrap();
    let after_second = e.sandbox.order_json(&id).unwrap();
    assert_eq!(after_first["updateDate"], after_second["updateDate"]);
    let s = stats(&e.base).await;
    let held = recorded_tracking(&s, &id);
    assert_eq!(held.len(), 1, "{held:?}");
    assert_eq!(held[0]["number"], "1Z999AA10123456784");
    // The order comes back shipped in the next poll.
    let (orders, _) = fetch_all(&c, epoch()).await;
    assert_eq!(orders[0].status, OrderStatus::Shipped);
}

#[tokio::test]
async fn tracking_survives_a_timeout_after_the_change_was_applied() {
    let e = env().await;
    let id = seed(&e.base, json!({"count": 1})).await.remove(0);
    set_faults(
        &e.base,
        &FaultConfig {
            rate_timeout_after_success: 0.6,
            timeout_ms: Some(1500),
            paths: vec![format!("/orders/{id}")],
            seed: Some(5),
            ..FaultConfig::default()
        },
    )
    .await;
    let c = connector(&e.base);
    let push = tracking_push(&id, "9400111899223100000000");
    // As the worker's job would: try again until it reports success.
    let mut done = false;
    for _ in 0..5 {
        if c.push_tracking(&push).await.is_ok() {
            done = true;
            break;
        }
    }
    assert!(done);
    set_faults(&e.base, &FaultConfig::default()).await;
    c.push_tracking(&push).await.unwrap();
    let s = stats(&e.base).await;
    assert!(
        s.faults_injected
            .get("timeout_after_success")
            .copied()
            .unwrap_or(0)
            > 0,
        "{s:?}"
    );
    assert_eq!(recorded_tracking(&s, &id).len(), 1);
    assert_eq!(
        e.sandbox.order_json(&id).unwrap()["trackingNumber"],
        "9400111899223100000000"
    );
}

#[tokio::test]
async fn delivery_status_moves_forward_only() {
    let e = env().await;
    let id = seed(&e.base, json!({"count": 1})).await.remove(0);
    let c = connector(&e.base);
    let status = |s: TrackingStatus, number: &str| DeliveryStatusPush {
        order_external_id: id.clone(),
        tracking_number: number.into(),
        status: s,
        happened_at: Utc::now(),
    };
    c.push_tracking(&tracking_push(&id, "TRK1")).await.unwrap();
    c.push_delivery_status(&status(TrackingStatus::InTransit, "TRK1"))
        .await
        .unwrap();
    assert_eq!(
        e.sandbox.order_json(&id).unwrap()["fulfillmentStatus"],
        "SHIPPED"
    );
    c.push_delivery_status(&status(TrackingStatus::OutForDelivery, "TRK1"))
        .await
        .unwrap();
    assert_eq!(
        e.sandbox.order_json(&id).unwrap()["fulfillmentStatus"],
        "OUT_FOR_DELIVERY"
    );
    c.push_delivery_status(&status(TrackingStatus::Delivered, "TRK1"))
        .await
        .unwrap();
    c.push_delivery_status(&status(TrackingStatus::OutForDelivery, "TRK1"))
        .await
        .unwrap();
    // A retried tracking push does not pull a delivered order back either.
    c.push_tracking(&tracking_push(&id, "TRK1")).await.unwrap();
    assert_eq!(
        e.sandbox.order_json(&id).unwrap()["fulfillmentStatus"],
        "DELIVERED"
    );
    // Another parcel's number says nothing about this order's.
    let other = tracking_push(&id, "TRK2");
    c.push_delivery_status(&status(TrackingStatus::Delivered, "TRK-UNKNOWN"))
        .await
        .unwrap();
    c.push_tracking(&other).await.unwrap();
    let o = e.sandbox.order_json(&id).unwrap();
    assert_eq!(
        (
            o["fulfillmentStatus"].as_str(),
            o["trackingNumber"].as_str()
        ),
        (Some("DELIVERED"), Some("TRK2"))
    );
}

#[tokio::test]
async fn a_touch_shows_in_the_next_poll_and_cancel_cancels() {
    let e = env().await;
    let start = Utc::now() - ChronoDuration::hours(3);
    let ids = seed(
        &e.base,
        json!({"count": 5, "start": start.to_rfc3339(), "step_ms": 1000}),
    )
    .await;
    let c = connector(&e.base);
    let since = Utc::now() - ChronoDuration::minutes(5);
    assert!(fetch_all(&c, since).await.0.is_empty());
    post(
        &e.base,
        &format!("/_sandbox/orders/{}/touch", ids[2]),
        json!({}),
    )
    .await;
    post(
        &e.base,
        &format!("/_sandbox/orders/{}/touch", ids[4]),
        json!({"cancel": true}),
    )
    .await;
    let (orders, _) = fetch_all(&c, since).await;
    let by_id: BTreeMap<_, _> = orders.iter().map(|o| (o.external_id.clone(), o)).collect();
    assert_eq!(by_id.len(), 2);
    assert_eq!(by_id[&ids[2]].status, OrderStatus::Awaiting);
    assert_eq!(by_id[&ids[4]].status, OrderStatus::Cancelled);
    assert_eq!(by_id[&ids[4]].payment_status, PaymentStatus::Voided);
    // An explicit older time puts it back out of the window.
    post(
        &e.base,
        &format!("/_sandbox/orders/{}/touch", ids[2]),
        json!({"updated_at": start.to_rfc3339()}),
    )
    .await;
    assert_eq!(fetch_all(&c, since).await.0.len(), 1);
    let r = reqwest::Client::new()
        .post(format!("{}/_sandbox/orders/NOPE1/touch", e.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn the_sandbox_webhook_verifies_and_names_the_order() {
    let e = env().await;
    let id = seed(&e.base, json!({"count": 1})).await.remove(0);
    let hook: Value = reqwest::get(format!("{}/_sandbox/orders/{id}/webhook", e.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut headers = http::HeaderMap::new();
    for (k, v) in hook["headers"].as_object().unwrap() {
        headers.insert(
            http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            v.as_str().unwrap().parse().unwrap(),
        );
    }
    let body = hook["body"].as_str().unwrap().as_bytes();
    let c = connector(&e.base);
    let v = c.verify_webhook(&headers, body).unwrap();
    assert_eq!(v.topic, "order.updated");
    match c.order_from_webhook(&v.topic, body).unwrap() {
        WebhookOrder::Changed { external_id } => assert_eq!(external_id, id),
        other => panic!("{other:?}"),
    }
}

// ---------------------------------------------------------------- stock

mod stock {
    use super::super::client::{stock_target_in, StockTarget};
    use super::super::wire::{ProductsPage, StockUpdate};

    #[test]
    fn search_by_sku_finds_the_product_or_its_variation() {
        let page: ProductsPage =
            serde_json::from_str(include_str!("testdata/search_products_by_sku.json")).unwrap();
        assert_eq!(
            stock_target_in(&page, "SKU-005"),
            Some(StockTarget {
                product_id: 700000004,
                combination_id: None
            })
        );
        assert_eq!(
            stock_target_in(&page, "SKU-005-L"),
            Some(StockTarget {
                product_id: 700000004,
                combination_id: Some(9001)
            })
        );
        assert_eq!(stock_target_in(&page, "SKU-006"), None);
        let body = serde_json::to_value(StockUpdate {
            quantity: 7,
            unlimited: false,
        })
        .unwrap();
        assert_eq!(body, serde_json::json!({"quantity": 7, "unlimited": false}));
    }
}
