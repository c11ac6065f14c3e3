//! Mapping of WooCommerce's documented payloads, webhook checks, and the
//! connector against its sandbox over real HTTP on loopback.

use super::client::{contains_token, wc_time, TOPIC_PING};
use super::*;
use crate::http::{HttpClient, RateLimit, RetryPolicy};
use crate::marketplace::{ChannelSetup, Marketplace, TrackingPush, WebhookError, WebhookOrder};
use crate::sandbox::{serve, FaultConfig, SandboxProfile, Stats};
use crate::RemoteError;
use chrono::{DateTime, Duration as ChronoDuration, TimeZone, Utc};
use orderhub_core::{FulfillmentStatus, Order, OrderStatus, PaymentStatus};
use rust_decimal::Decimal;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::time::Duration;

const ORDER: &str = include_str!("testdata/order.json");
const ORDERS_LIST: &str = include_str!("testdata/orders_list.json");
const WEBHOOK_BODY: &str = include_str!("testdata/webhook_order_updated.body");
const NOTES: &str = include_str!("testdata/order_notes.json");
const TRACKING_CREATED: &str = include_str!("testdata/shipment_tracking_created.json");
const ERR_CANNOT_LIST: &str = include_str!("testdata/error_cannot_list.json");
const ERR_SECRET: &str = include_str!("testdata/error_consumer_secret_invalid.json");

fn d(s: &str) -> Decimal {
    s.parse().unwrap()
}

fn utc(y: i32, mo: u32, da: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, da, h, mi, s).unwrap()
}

// ---------------------------------------------------------------- mapping

#[test]
fn the_documented_order_maps_and_adds_up() {
    let o = normalize(ORDER).unwrap();
    o.check_totals().unwrap();
    assert_eq!(o.channel, "woocommerce");
    assert_eq!(o.external_id, "727");
    assert_eq!(o.number.as_deref(), Some("727"));
    assert_eq!(o.currency.as_str(), "USD");
    assert_eq!(
        (o.status, o.payment_status, o.fulfillment_status),
        (
            OrderStatus::Awaiting,
            PaymentStatus::Paid,
            FulfillmentStatus::Unfulfilled
        )
    );
    // The GMT fields, not the site-time ones (three hours apart in the example).
    assert_eq!(o.placed_at, utc(2017, 3, 22, 19, 28, 2));
    assert_eq!(o.updated_at, utc(2017, 3, 22, 19, 28, 8));
    assert_eq!(o.total, d("29.35"));
    assert_eq!(o.subtotal, d("18.00"));
    assert_eq!(o.shipping_total, d("10.00"));
    assert_eq!(o.tax_total, d("1.35"));
    assert_eq!(o.discount_total, Decimal::ZERO);
    assert_eq!(o.shipping_method.as_deref(), Some("Flat Rate"));

    assert_eq!(o.lines.len(), 2);
    let l = &o.lines[0];
    assert_eq!(l.external_id.as_deref(), Some("315"));
    assert_eq!(l.sku, None, "an empty sku is no sku");
    assert_eq!(l.title, "Woo Single #1");
    assert_eq!(
        (l.quantity, l.unit_price, l.tax, l.discount, l.total),
        (2, d("3"), d("0.45"), d("0"), d("6.00"))
    );
    let l = &o.lines[1];
    assert_eq!(l.external_id.as_deref(), Some("316"));
    assert_eq!(l.sku.as_deref(), Some("Bar3"));
    assert_eq!(
        (l.quantity, l.unit_price, l.tax, l.total),
        (1, d("12"), d("0.90"), d("12.00"))
    );

    let ship = o.ship_to.as_ref().unwrap();
    assert_eq!(ship.name.as_deref(), Some("John Doe"));
    assert_eq!(ship.line1.as_deref(), Some("969 Market"));
    assert_eq!(ship.line2, None);
    assert_eq!(ship.city.as_deref(), Some("San Francisco"));
    assert_eq!(ship.region.as_deref(), Some("CA"));
    assert_eq!(ship.postal_code.as_deref(), Some("94103"));
    assert_eq!(ship.country.as_deref(), Some("US"));
    let c = o.customer.as_ref().unwrap();
    assert_eq!(c.external_id, None, "customer_id 0 is a guest");
    assert_eq!(c.email.as_deref(), Some("john.doe@example.com"));
    assert_eq!(
        o.bill_to.as_ref().unwrap().phone.as_deref(),
        Some("(555) 555-5555")
    );
}

#[test]
fn the_documented_list_maps_each_order() {
    let list: Vec<Value> = serde_json::from_str(ORDERS_LIST).unwrap();
    let orders: Vec<Order> = list
        .iter()
        .map(|v| mapping::order_from_value(v).unwrap())
        .collect();
    for o in &orders {
        o.check_totals().unwrap();
    }
    let o = &orders[1];
    assert_eq!(o.external_id, "723");
    assert_eq!(
        (o.status, o.payment_status, o.fulfillment_status),
        (
            OrderStatus::Shipped,
            PaymentStatus::PartiallyRefunded,
            FulfillmentStatus::Fulfilled
        )
    );
    assert_eq!(o.total, d("39.00"));
    assert_eq!(
        o.customer.as_ref().unwrap().external_id.as_deref(),
        Some("26")
    );
    assert_eq!(
        o.customer.as_ref().unwrap().name.as_deref(),
        Some("João Silva")
    );
    assert_eq!(o.ship_to.as_ref().unwrap().country.as_deref(), Some("BR"));
    assert_eq!(o.updated_at, utc(2017, 3, 21, 19, 54, 51));
}

/// The documented order with a 10 % coupon spread over its lines and two fees,
/// as WooCommerce computes them.
#[test]
fn coupons_and_fees_keep_the_identity() {
    let mut v: Value = serde_json::from_str(ORDER).unwrap();
    v["line_items"][0]["total"] = json!("5.40");
    v["line_items"][0]["total_tax"] = json!("0.41");
    v["line_items"][1]["total"] = json!("10.80");
    v["line_items"][1]["total_tax"] = json!("0.81");
    v["coupon_lines"] =
        json!([{ "id": 400, "code": "ten", "discount": "1.80", "discount_tax": "0.13" }]);
    v["fee_lines"] = json!([
        { "id": 401, "name": "Gift wrap", "tax_status": "none", "total": "2.50", "total_tax": "0.00" },
        { "id": 402, "name": "Loyalty", "tax_status": "none", "total": "-1.00", "total_tax": "0.00" }
    ]);
    v["discount_total"] = json!("1.80");
    v["total_tax"] = json!("1.22");
    v["total"] = json!("28.92"); // 5.40 + 10.80 + 2.50 − 1.00 + 10.00 + 1.22
    let o = mapping::order_from_value(&v).unwrap();
    o.check_totals().unwrap();
    assert_eq!(o.lines.len(), 3);
    assert_eq!(o.lines[0].discount, d("0.60"));
    assert_eq!(o.lines[1].discount, d("1.20"));
    assert_eq!(o.lines[2].external_id.as_deref(), Some("fee-401"));
    assert_eq!(
        o.discount_total,
        d("2.80"),
        "coupons 1.80 + negative fee 1.00"
    );
}

#[test]
fn a_subtotal_that_does_not_divide_still_adds_up() {
    let mut v: Value = serde_json::from_str(ORDER).unwrap();
    v["line_items"][0]["quantity"] = json!(3);
    v["line_items"][0]["subtotal"] = json!("10.00");
    v["line_items"][0]["total"] = json!("10.00");
    v["line_items"][0]["price"] = json!(3.3333333333333335);
    v["total"] = json!("33.35");
    let o = mapping::order_from_value(&v).unwrap();
    o.check_totals().unwrap();
    assert_eq!(o.lines[0].unit_price, d("3.33"));
    assert_eq!(o.lines[0].discount, d("-0.01"));
}

#[test]
fn every_status_maps_and_unknown_ones_are_refused() {
    let mut v: Value = serde_json::from_str(ORDER).unwrap();
    let cases = [
        ("pending", OrderStatus::Awaiting, PaymentStatus::Pending),
        ("processing", OrderStatus::Awaiting, PaymentStatus::Paid),
        ("on-hold", OrderStatus::Awaiting, PaymentStatus::Paid), // date_paid is set
        ("completed", OrderStatus::Shipped, PaymentStatus::Paid),
        ("cancelled", OrderStatus::Cancelled, PaymentStatus::Refunded),
        ("refunded", OrderStatus::Cancelled, PaymentStatus::Refunded),
        ("failed", OrderStatus::Exception, PaymentStatus::Voided),
        ("trash", OrderStatus::Cancelled, PaymentStatus::Unknown),
        (
            "checkout-draft",
            OrderStatus::Awaiting,
            PaymentStatus::Pending,
        ),
    ];
    for (status, expect, payment) in cases {
        v["status"] = json!(status);
        let o = mapping::order_from_value(&v).unwrap();
        assert_eq!((o.status, o.payment_status), (expect, payment), "{status}");
    }
    v["date_paid_gmt"] = Value::Null;
    v["status"] = json!("on-hold");
    assert_eq!(
        mapping::order_from_value(&v).unwrap().payment_status,
        PaymentStatus::Pending
    );
    v["status"] = json!("shipped-by-plugin");
    let err = mapping::order_from_value(&v).unwrap_err();
    assert_eq!(err.field, "status");
}

#[test]
fn spoiled_payloads_name_the_field() {
    let mut v: Value = serde_json::from_str(ORDER).unwrap();
    v["total"] = json!("N/A");
    assert_eq!(mapping::order_from_value(&v).unwrap_err().field, "total");
    let mut v: Value = serde_json::from_str(ORDER).unwrap();
    v["line_items"][1]["price"] = json!("twelve");
    assert_eq!(
        mapping::order_from_value(&v).unwrap_err().field,
        "line_items[1].price"
    );
    let mut v: Value = serde_json::from_str(ORDER).unwrap();
    v["line_items"][0]["subtotal"] = json!(6);
    assert!(mapping::order_from_value(&v)
        .unwrap_err()
        .field
        .contains("line_items"));
    let mut v: Value = serde_json::from_str(ORDER).unwrap();
    v["total"] = json!("30.00");
    assert!(
        mapping::order_from_value(&v).is_err(),
        "totals that do not add up are refused"
    );
    assert!(normalize("{not json").is_err());
}

#[test]
fn documented_notes_tracking_and_errors_decode() {
    let notes: Vec<wire::WcOrderNote> = serde_json::from_str(NOTES).unwrap();
    assert_eq!(notes.len(), 3);
    assert_eq!(notes[0].note, "Order ok!!!");
    let t: wire::WcShipmentTracking = serde_json::from_str(TRACKING_CREATED).unwrap();
    assert_eq!(t.tracking_number, "12345678");
    assert_eq!(t.date_shipped.as_deref(), Some("2016-08-11"));
    for body in [ERR_CANNOT_LIST, ERR_SECRET] {
        let e: wire::WpError = serde_json::from_str(body).unwrap();
        assert_eq!(e.data.unwrap()["status"], 401);
    }
}

// ---------------------------------------------------------------- webhooks

const WEBHOOK_SECRET: &str = "sandbox_webhook_secret";

fn headers(pairs: &[(&str, &str)]) -> http::HeaderMap {
    let mut h = http::HeaderMap::new();
    for (k, v) in pairs {
        h.insert(
            http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
    }
    h
}

fn signed_headers(body: &[u8], topic: &str) -> http::HeaderMap {
    let sig = sign_webhook(WEBHOOK_SECRET, body);
    headers(&[
        (HEADER_SIGNATURE, &sig),
        (HEADER_TOPIC, topic),
        ("X-WC-Webhook-Resource", "order"),
        ("X-WC-Webhook-Event", "updated"),
        ("X-WC-Webhook-ID", "142"),
        (HEADER_DELIVERY_ID, "b5f8c1e0a9d2"),
    ])
}

#[test]
fn webhook_signatures_are_checked_on_the_raw_body() {
    let body = WEBHOOK_BODY.as_bytes();
    let v =
        verify_woocommerce_webhook(WEBHOOK_SECRET, &signed_headers(body, "order.updated"), body)
            .unwrap();
    assert_eq!(
        (v.topic.as_str(), v.delivery_id.as_str()),
        ("order.updated", "b5f8c1e0a9d2")
    );

    // The same JSON re-serialized (no `\/` escapes) is other bytes: refused.
    let reencoded = serde_json::to_vec(&serde_json::from_slice::<Value>(body).unwrap()).unwrap();
    assert_eq!(
        verify_woocommerce_webhook(
            WEBHOOK_SECRET,
            &signed_headers(body, "order.updated"),
            &reencoded
        )
        .unwrap_err(),
        WebhookError::BadSignature
    );
    let mut tampered = body.to_vec();
    let i = WEBHOOK_BODY.find("29.35").unwrap();
    tampered[i] = b'9';
    assert_eq!(
        verify_woocommerce_webhook(
            WEBHOOK_SECRET,
            &signed_headers(body, "order.updated"),
            &tampered
        )
        .unwrap_err(),
        WebhookError::BadSignature
    );
    assert_eq!(
        verify_woocommerce_webhook("", &signed_headers(body, "order.updated"), body).unwrap_err(),
        WebhookError::BadSignature,
        "no secret configured fails closed"
    );
    let missing = headers(&[(HEADER_TOPIC, "order.updated")]);
    assert_eq!(
        verify_woocommerce_webhook(WEBHOOK_SECRET, &missing, body).unwrap_err(),
        WebhookError::MissingHeader(HEADER_SIGNATURE)
    );
    assert!(matches!(
        verify_woocommerce_webhook(
            WEBHOOK_SECRET,
            &signed_headers(body, "product.updated"),
            body
        ),
        Err(WebhookError::UnsupportedTopic(_))
    ));
    // The docs' spelling of the delivery header is accepted too.
    let mut h = signed_headers(body, "order.updated");
    h.remove(HEADER_DELIVERY_ID);
    h.insert("X-WC-Delivery-ID", "77".parse().unwrap());
    assert_eq!(
        verify_woocommerce_webhook(WEBHOOK_SECRET, &h, body)
            .unwrap()
            .delivery_id,
        "77"
    );
}

#[test]
fn webhook_bodies_map_or_are_ignored() {
    let c = WooCommerceConnector::new(setup("https://shop.example", &sandbox_profile())).unwrap();
    match c
        .order_from_webhook("order.updated", WEBHOOK_BODY.as_bytes())
        .unwrap()
    {
        WebhookOrder::Order(o) => {
            assert_eq!(o.external_id, "727");
            assert_eq!(o.status, OrderStatus::Shipped);
            assert_eq!(o.ship_to.unwrap().name.as_deref(), Some("John Doe"));
        }
        other => panic!("{other:?}"),
    }
    match c
        .order_from_webhook("order.deleted", br#"{"id":727}"#)
        .unwrap()
    {
        WebhookOrder::Changed { external_id } => assert_eq!(external_id, "727"),
        other => panic!("{other:?}"),
    }
    // The unsigned ping sent when a webhook is saved.
    let ping = b"webhook_id=142";
    let v = c.verify_webhook(&http::HeaderMap::new(), ping).unwrap();
    assert_eq!(v.topic, TOPIC_PING);
    assert!(matches!(
        c.order_from_webhook(&v.topic, ping).unwrap(),
        WebhookOrder::Ignored
    ));
    // Anything else unsigned is refused.
    assert!(c
        .verify_webhook(&http::HeaderMap::new(), b"webhook_id=1&x=2")
        .is_err());
    let q = c
        .order_from_webhook("order.updated", b"{\"id\": 9, \"total\": 1}")
        .unwrap_err();
    assert_eq!(q.external_id.as_deref(), Some("9"));
}

// ---------------------------------------------------------------- pieces

#[test]
fn page_tokens_round_trip_and_always_advance() {
    let t = PageToken::first(utc(2025, 1, 1, 0, 0, 30), utc(2025, 1, 2, 0, 0, 0));
    assert_eq!(wc_time(t.after), "2025-01-01T00:00:29");
    assert_eq!(PageToken::decode(&t.encode()), Some(t));
    assert_eq!(PageToken::decode("v1:1:0:5"), None);
    assert_eq!(PageToken::decode("garbage"), None);
    let later = t.next(Some(t.after + 100));
    assert_eq!((later.after, later.page), (t.after + 99, 1));
    let tie = t.next(Some(t.after + 1));
    assert_eq!((tie.after, tie.page), (t.after, 2));
    assert_eq!(t.next(None).page, 2);
}

#[test]
fn carriers_map_to_shipment_tracking_providers() {
    assert_eq!(shipment_tracking_provider("USPS"), Some("USPS"));
    assert_eq!(shipment_tracking_provider("UPS"), Some("UPS"));
    assert_eq!(shipment_tracking_provider("FedEx"), Some("Fedex"));
    assert_eq!(shipment_tracking_provider("DHL Express"), Some("DHL US"));
    assert_eq!(shipment_tracking_provider("Royal Mail"), Some("Royal Mail"));
    assert_eq!(shipment_tracking_provider("Bob's Couriers"), None);
    assert!(contains_token(
        "Shipped with UPS, tracking 1Z9: https://x",
        "1Z9"
    ));
    assert!(!contains_token("tracking 1Z99", "1Z9"));
}

#[test]
fn config_problems_are_listed_and_secrets_stay_out_of_debug() {
    let profile = sandbox_profile();
    let c = WooCommerceConnector::new(setup("https://shop.example", &profile)).unwrap();
    let dbg = format!("{c:?}");
    for s in profile.secrets.values() {
        assert!(!dbg.contains(s.as_str()), "{dbg}");
    }
    let mut bad = setup("ftp://x", &profile);
    bad.options.insert("page_size".into(), "500".into());
    bad.options.insert("shipment_tracking".into(), "yes".into());
    bad.secrets.insert("consumer_key".into(), "nope".into());
    bad.secrets.remove("webhook_secret");
    let err = WooCommerceConnector::new(bad).unwrap_err();
    for needle in [
        "base_url",
        "page_size",
        "shipment_tracking",
        "`ck_`",
        "webhook_secret",
    ] {
        assert!(err.contains(needle), "{err}");
    }
    assert!(!err.contains("nope"));
}

// ---------------------------------------------------------------- against the sandbox

struct Env {
    sandbox: WooSandbox,
    base: String,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Env {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn env(limit: HostLimit) -> Env {
    let p = sandbox_profile();
    let sandbox = WooSandbox::new(WooSandboxOptions {
        consumer_key: p.secret("consumer_key").into(),
        consumer_secret: p.secret("consumer_secret").into(),
        webhook_secret: p.secret("webhook_secret").into(),
        limit,
    });
    let (addr, server) = serve(sandbox.router(), "127.0.0.1:0").await.unwrap();
    Env {
        sandbox,
        base: format!("http://{addr}"),
        server,
    }
}

fn setup(base: &str, profile: &SandboxProfile) -> ChannelSetup {
    ChannelSetup {
        channel_id: "woo-test".into(),
        base_url: base.into(),
        options: profile.options.clone(),
        secrets: profile.secrets.clone(),
        request_timeout: Duration::from_millis(500),
    }
}

/// The connector as built from config, with a quicker retry schedule for tests
/// (same rate limit as production).
fn connector_with(base: &str, options: &[(&str, &str)]) -> WooCommerceConnector {
    let mut s = setup(base, &sandbox_profile());
    for (k, v) in options {
        s.options.insert(k.to_string(), v.to_string());
    }
    let http = HttpClient::new(
        "woocommerce:test",
        s.request_timeout,
        Some(RateLimit {
            per_second: 20.0,
            burst: 10,
        }),
    )
    .with_retry_policy(RetryPolicy {
        max_attempts: 8,
        base: Duration::from_millis(20),
        max: Duration::from_millis(300),
    });
    WooCommerceConnector::new(s).unwrap().with_http_client(http)
}

fn connector(base: &str) -> WooCommerceConnector {
    connector_with(base, &[])
}

async fn control(base: &str, path: &str, body: Value) -> Value {
    let resp = reqwest::Client::new()
        .post(format!("{base}{path}"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{path}: {}", resp.status());
    resp.json().await.unwrap()
}

async fn seed(base: &str, body: Value) -> Vec<String> {
    let v = control(base, "/_sandbox/seed", body).await;
    serde_json::from_value(v["ids"].clone()).unwrap()
}

async fn stats(base: &str) -> Stats {
    reqwest::get(format!("{base}/_sandbox/stats"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn set_faults(base: &str, f: FaultConfig) {
    control(base, "/_sandbox/faults", serde_json::to_value(f).unwrap()).await;
}

/// Every page from `since`, retrying a failed page as the worker's next run would.
async fn fetch_all(c: &WooCommerceConnector, since: DateTime<Utc>) -> (Vec<Order>, usize) {
    let (mut orders, mut quarantined, mut page, mut failures) = (Vec::new(), 0, None, 0);
    loop {
        match c.fetch_orders(since, page.clone()).await {
            Ok(p) => {
                for o in p.orders {
                    match o {
                        Ok(o) => orders.push(o),
                        Err(_) => quarantined += 1,
                    }
                }
                match p.next_page {
                    Some(n) => page = Some(n),
                    None => return (orders, quarantined),
                }
            }
            Err(e) => {
                failures += 1;
                assert!(e.is_retryable() && failures < 10, "{e}");
            }
        }
    }
}

fn ids(orders: &[Order]) -> BTreeSet<String> {
    orders.iter().map(|o| o.external_id.clone()).collect()
}

fn epoch() -> DateTime<Utc> {
    DateTime::<Utc>::UNIX_EPOCH
}

#[tokio::test]
async fn pages_through_300_orders_within_the_limit() {
    let e = env(HostLimit::PUBLISHED).await;
    let seeded: BTreeSet<String> = seed(&e.base, json!({ "count": 300, "step_ms": 1000 }))
        .await
        .into_iter()
        .collect();
    let c = connector_with(&e.base, &[("page_size", "20")]);
    let (orders, q) = fetch_all(&c, epoch()).await;
    assert_eq!(q, 0);
    assert_eq!(ids(&orders), seeded);
    for o in &orders {
        o.check_totals().unwrap();
    }
    let s = stats(&e.base).await;
    assert!(s.total_requests() >= 15, "{s:?}");
    assert_eq!(s.throttled, 0, "the client never went over the host limit");
}

#[tokio::test]
async fn a_burst_of_calls_is_paced_under_the_limit() {
    let e = env(HostLimit::PUBLISHED).await;
    seed(&e.base, json!({ "count": 5 })).await;
    let c = std::sync::Arc::new(connector(&e.base));
    let started = std::time::Instant::now();
    let calls: Vec<_> = (0..80)
        .map(|_| {
            let c = c.clone();
            tokio::spawn(async move { c.fetch_orders(epoch(), None).await.map(|p| p.orders.len()) })
        })
        .collect();
    for call in calls {
        assert_eq!(call.await.unwrap().unwrap(), 5);
    }
    assert!(
        started.elapsed() >= Duration::from_secs(3),
        "80 calls at 20/s after a burst of 10"
    );
    assert_eq!(stats(&e.base).await.throttled, 0);

    // Without the client's pacing the host refuses, as WooCommerce hosts do.
    let raw = reqwest::Client::new();
    let url = format!("{}/wp-json/wc/v3/orders", e.base);
    let p = sandbox_profile();
    let mut refused = None;
    for _ in 0..120 {
        let r = raw
            .get(&url)
            .basic_auth(p.secret("consumer_key"), Some(p.secret("consumer_secret")))
            .send()
            .await
            .unwrap();
        if r.status() == 429 {
            refused = Some(r);
            break;
        }
    }
    let r = refused.expect("the sandbox enforces its limit");
    assert!(r.headers().contains_key("retry-after"));
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["code"], "rate_limit_exceeded");
    assert!(stats(&e.base).await.throttled >= 1);
}

#[tokio::test]
async fn since_filters_and_a_touch_shows_up_in_the_next_poll() {
    let e = env(HostLimit::PUBLISHED).await;
    let start = Utc::now() - ChronoDuration::hours(2);
    let ids_old = seed(
        &e.base,
        json!({ "count": 10, "start": start, "step_ms": 60_000 }),
    )
    .await;
    let c = connector(&e.base);
    // Orders 6..10 were modified at or after the sixth one's time.
    let since = start + ChronoDuration::minutes(5);
    let (orders, _) = fetch_all(&c, since).await;
    assert_eq!(ids(&orders), ids_old[5..].iter().cloned().collect());

    let now = Utc::now();
    assert!(fetch_all(&c, now).await.0.is_empty());
    control(
        &e.base,
        &format!("/_sandbox/orders/{}/touch", ids_old[0]),
        json!({}),
    )
    .await;
    control(
        &e.base,
        &format!("/_sandbox/orders/{}/touch", ids_old[1]),
        json!({ "cancel": true }),
    )
    .await;
    let (orders, _) = fetch_all(&c, now - ChronoDuration::seconds(1)).await;
    assert_eq!(
        ids(&orders),
        BTreeSet::from([ids_old[0].clone(), ids_old[1].clone()])
    );
    let cancelled = orders.iter().find(|o| o.external_id == ids_old[1]).unwrap();
    assert_eq!(cancelled.status, OrderStatus::Cancelled);
    // An explicit older time is set as given.
    let at = start - ChronoDuration::days(1);
    control(
        &e.base,
        &format!("/_sandbox/orders/{}/touch", ids_old[0]),
        json!({ "updated_at": at }),
    )
    .await;
    let (orders, _) = fetch_all(&c, at).await;
    assert_eq!(
        orders
            .iter()
            .find(|o| o.external_id == ids_old[0])
            .unwrap()
            .updated_at,
        at.with_nanosecond_zero()
    );
}

trait NanoZero {
    fn with_nanosecond_zero(self) -> Self;
}

impl NanoZero for DateTime<Utc> {
    fn with_nanosecond_zero(self) -> Self {
        DateTime::from_timestamp(self.timestamp(), 0).unwrap()
    }
}

#[tokio::test]
async fn orders_sharing_one_second_and_edits_mid_sync_are_not_skipped() {
    let e = env(HostLimit::PUBLISHED).await;
    let start = Utc::now() - ChronoDuration::hours(1);
    // 120 orders in the same second, then 80 one second apart.
    let mut all = seed(
        &e.base,
        json!({ "count": 120, "start": start, "step_ms": 0 }),
    )
    .await;
    all.extend(
        seed(
            &e.base,
            json!({ "count": 80, "start": start + ChronoDuration::seconds(5), "step_ms": 1000 }),
        )
        .await,
    );
    let c = connector_with(&e.base, &[("page_size", "50")]);
    let first = c.fetch_orders(epoch(), None).await.unwrap();
    let mut seen: BTreeSet<String> = first
        .orders
        .iter()
        .map(|o| o.as_ref().unwrap().external_id.clone())
        .collect();
    // A seller edits orders already read while the sync runs.
    for id in all.iter().take(10) {
        control(&e.base, &format!("/_sandbox/orders/{id}/touch"), json!({})).await;
    }
    let mut page = first.next_page;
    while let Some(p) = page {
        let next = c.fetch_orders(epoch(), Some(p)).await.unwrap();
        seen.extend(
            next.orders
                .iter()
                .map(|o| o.as_ref().unwrap().external_id.clone()),
        );
        page = next.next_page;
    }
    let missing: Vec<_> = all.iter().filter(|id| !seen.contains(*id)).collect();
    assert!(missing.is_empty(), "skipped {missing:?}");
}

#[tokio::test]
async fn a_malformed_order_is_quarantined_and_the_rest_kept() {
    let e = env(HostLimit::PUBLISHED).await;
    seed(&e.base, json!({ "count": 30 })).await;
    set_faults(
        &e.base,
        FaultConfig {
            rate_malformed: 1.0,
            paths: vec!["GET /wp-json/wc/v3/orders".into()],
            ..FaultConfig::default()
        },
    )
    .await;
    let c = connector(&e.base);
    let page = c.fetch_orders(epoch(), None).await.unwrap();
    let bad: Vec<_> = page
        .orders
        .iter()
        .filter_map(|o| o.as_ref().err())
        .collect();
    assert_eq!(bad.len(), 1);
    assert_eq!(page.orders.len(), 30);
    assert!(bad[0].reason.contains("total"), "{}", bad[0].reason);
    assert!(bad[0].external_id.is_some());
    assert!(bad[0].raw.contains("N/A"));
    // Stored data stays good.
    set_faults(&e.base, FaultConfig::default()).await;
    let page = c.fetch_orders(epoch(), None).await.unwrap();
    assert!(page.orders.iter().all(|o| o.is_ok()));
}

#[tokio::test]
async fn all_orders_arrive_through_429s_5xx_and_timeouts() {
    let e = env(HostLimit::PUBLISHED).await;
    let seeded: BTreeSet<String> = seed(&e.base, json!({ "count": 150 }))
        .await
        .into_iter()
        .collect();
    set_faults(
        &e.base,
        FaultConfig {
            rate_429: 0.15,
            rate_5xx: 0.15,
            rate_timeout: 0.1,
            timeout_ms: Some(1500),
            retry_after_secs: Some(0.2),
            seed: Some(11),
            ..FaultConfig::default()
        },
    )
    .await;
    let c = connector_with(&e.base, &[("page_size", "25")]);
    let (orders, q) = fetch_all(&c, epoch()).await;
    assert_eq!(q, 0);
    assert_eq!(ids(&orders), seeded);
    let s = stats(&e.base).await;
    assert!(s.faults_total() > 0, "{s:?}");
    assert_eq!(s.throttled, 0);
}

fn push(order: &str, number: &str) -> TrackingPush {
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

fn recorded_tracking(s: &Stats, order: &str) -> Vec<Value> {
    s.recorded["tracking"][order]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[tokio::test]
async fn tracking_is_recorded_once_when_pushed_twice() {
    let e = env(HostLimit::PUBLISHED).await;
    let ids = seed(&e.base, json!({ "count": 2 })).await;
    let c = connector(&e.base); // the sandbox profile turns the extension on
    c.push_tracking(&push(&ids[0], "1Z999AA10123456784"))
        .await
        .unwrap();
    c.push_tracking(&push(&ids[0], "1Z999AA10123456784"))
        .await
        .unwrap();
    let s = stats(&e.base).await;
    let t = recorded_tracking(&s, &ids[0]);
    assert_eq!(t.len(), 1, "{t:?}");
    assert_eq!(t[0]["number"], "1Z999AA10123456784");
    assert_eq!(s.recorded["completed"][&ids[0]], true);
    // One tracking note and one status-change note: the repeat added nothing.
    assert_eq!(s.recorded["notes"][&ids[0]], 2);

    // A second parcel is a second number; the order is refetched as completed.
    c.push_tracking(&push(&ids[0], "1Z999AA10123456795"))
        .await
        .unwrap();
    assert_eq!(recorded_tracking(&stats(&e.base).await, &ids[0]).len(), 2);
    let o =
        mapping::order_from_value(&e.sandbox.order_json(ids[0].parse().unwrap()).unwrap()).unwrap();
    assert_eq!(o.status, OrderStatus::Shipped);

    // Notes only (no extension), an unknown carrier: same guarantees.
    let plain = connector_with(&e.base, &[("shipment_tracking", "false")]);
    let mut p = push(&ids[1], "JJD000390007");
    p.carrier = "Bob's Couriers".into();
    plain.push_tracking(&p).await.unwrap();
    plain.push_tracking(&p).await.unwrap();
    let t = recorded_tracking(&stats(&e.base).await, &ids[1]);
    assert_eq!(t.len(), 1);
    assert_eq!(t[0]["carrier"], "Bob's Couriers");
}

#[tokio::test]
async fn a_push_whose_answer_is_lost_is_not_repeated() {
    let e = env(HostLimit::PUBLISHED).await;
    let ids = seed(&e.base, json!({ "count": 1 })).await;
    // Every write is applied, then hangs past the client's 500 ms timeout.
    set_faults(
        &e.base,
        FaultConfig {
            rate_timeout_after_success: 1.0,
            timeout_ms: Some(1500),
            paths: vec!["POST /wp-json".into()],
            ..FaultConfig::default()
        },
    )
    .await;
    let c = connector(&e.base);
    c.push_tracking(&push(&ids[0], "9400111899223197428490"))
        .await
        .unwrap();
    let s = stats(&e.base).await;
    assert_eq!(recorded_tracking(&s, &ids[0]).len(), 1, "{:?}", s.recorded);
    assert!(
        s.faults_injected
            .get("timeout_after_success")
            .copied()
            .unwrap_or(0)
            >= 2
    );
    assert_eq!(s.recorded["completed"][&ids[0]], true);
    // And a whole second run (the worker's retry) records nothing more.
    set_faults(&e.base, FaultConfig::default()).await;
    c.push_tracking(&push(&ids[0], "9400111899223197428490"))
        .await
        .unwrap();
    assert_eq!(recorded_tracking(&stats(&e.base).await, &ids[0]).len(), 1);
}

#[tokio::test]
async fn revoked_or_wrong_credentials_are_permanent_401s() {
    let e = env(HostLimit::PUBLISHED).await;
    let ids = seed(&e.base, json!({ "count": 1 })).await;
    control(&e.base, "/_sandbox/credentials", json!({ "revoked": true })).await;
    let c = connector(&e.base);
    match c.fetch_orders(epoch(), None).await.unwrap_err() {
        RemoteError::Permanent { status, message } => {
            assert_eq!(status, Some(401));
            assert!(
                message.contains("woocommerce_rest_cannot_view"),
                "{message}"
            );
        }
        other => panic!("{other:?}"),
    }
    let err = c.push_tracking(&push(&ids[0], "1Z1")).await.unwrap_err();
    assert!(
        matches!(
            err,
            RemoteError::Permanent {
                status: Some(401),
                ..
            }
        ),
        "{err:?}"
    );
    control(
        &e.base,
        "/_sandbox/credentials",
        json!({ "revoked": false }),
    )
    .await;
    assert!(c.fetch_orders(epoch(), None).await.is_ok());

    // A wrong secret for the right key.
    let mut s = setup(&e.base, &sandbox_profile());
    s.secrets
        .insert("consumer_secret".into(), "cs_wrong_secret_value".into());
    let wrong = WooCommerceConnector::new(s).unwrap();
    let err = wrong.fetch_orders(epoch(), None).await.unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(
            err,
            RemoteError::Permanent {
                status: Some(401),
                ..
            }
        ),
        "{text}"
    );
    assert!(text.contains("Consumer secret is invalid."), "{text}");
    assert!(!text.contains("cs_wrong_secret_value"));

    // Query-string auth, as hosts that strip Authorization need, works too.
    let q = connector_with(&e.base, &[("query_string_auth", "true")]);
    assert_eq!(q.fetch_orders(epoch(), None).await.unwrap().orders.len(), 1);
}

#[tokio::test]
async fn sandbox_webhooks_verify_and_map() {
    let e = env(HostLimit::PUBLISHED).await;
    let ids = seed(&e.base, json!({ "count": 1 })).await;
    let c = connector(&e.base);
    for topic in ["order.updated", "order.created", "order.deleted", "ping"] {
        let w: Value = reqwest::get(format!(
            "{}/_sandbox/orders/{}/webhook?topic={topic}",
            e.base, ids[0]
        ))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
        let mut h = http::HeaderMap::new();
        for (k, v) in w["headers"].as_object().unwrap() {
            h.insert(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.as_str().unwrap().parse().unwrap(),
            );
        }
        let body = w["body"].as_str().unwrap().as_bytes();
        let verified = c.verify_webhook(&h, body).unwrap();
        let got = c.order_from_webhook(&verified.topic, body).unwrap();
        match (topic, got) {
            ("order.deleted", WebhookOrder::Changed { external_id }) => {
                assert_eq!(external_id, ids[0])
            }
            ("ping", WebhookOrder::Ignored) => {}
            (_, WebhookOrder::Order(o)) => {
                assert_eq!(o.external_id, ids[0]);
                o.check_totals().unwrap();
                assert!(
                    w["body"].as_str().unwrap().contains("\\/wp-json\\/"),
                    "wp_json_encode escapes"
                );
            }
            (t, other) => panic!("{t}: {other:?}"),
        }
    }
}

#[tokio::test]
async fn the_sandbox_answers_like_woocommerce() {
    let e = env(HostLimit::PUBLISHED).await;
    let ids = seed(&e.base, json!({ "count": 12, "step_ms": 1000 })).await;
    let p = sandbox_profile();
    let http = reqwest::Client::new();
    let get = |path: String| {
        http.get(format!("{}{path}", e.base))
            .basic_auth(p.secret("consumer_key"), Some(p.secret("consumer_secret")))
            .send()
    };
    // Default page of 10, totals in headers, a next link.
    let r = get("/wp-json/wc/v3/orders".into()).await.unwrap();
    assert_eq!(r.headers()["x-wp-total"], "12");
    assert_eq!(r.headers()["x-wp-totalpages"], "2");
    assert!(r.headers()["link"]
        .to_str()
        .unwrap()
        .contains("rel=\"next\""));
    let list: Vec<Value> = r.json().await.unwrap();
    assert_eq!(list.len(), 10);
    assert_eq!(
        list[0]["id"].to_string(),
        ids[11],
        "newest first by default"
    );
    assert!(list[0]["line_items"][0]["price"].is_number());
    assert!(list[0]["total"].is_string());
    let r = get("/wp-json/wc/v3/orders?per_page=101".into())
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.json::<Value>().await.unwrap()["code"],
        "rest_invalid_param"
    );
    let r = get("/wp-json/wc/v3/orders/999999".into()).await.unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(
        r.json::<Value>().await.unwrap()["code"],
        "woocommerce_rest_shop_order_invalid_id"
    );
    let r = get("/wp-json/wc/v3/nothing".into()).await.unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["code"], "rest_no_route");
    // Without credentials: the documented 401 body.
    let r = http
        .get(format!("{}/wp-json/wc/v3/orders", e.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        serde_json::from_str::<Value>(ERR_CANNOT_LIST).unwrap()
    );
    // Site-time dates without dates_are_gmt: UTC−5.
    let o: Value = get(format!("/wp-json/wc/v3/orders/{}", ids[0]))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let gmt = mapping::parse_gmt("g", o["date_created_gmt"].as_str().unwrap()).unwrap();
    let site = mapping::parse_gmt("s", o["date_created"].as_str().unwrap()).unwrap();
    assert_eq!(gmt - site, ChronoDuration::hours(5));
}

// ---------------------------------------------------------------- stock

mod stock {
    use super::super::client::stock_path_in;
    use super::super::wire::{WcProductRef, WcStockUpdate};

    #[test]
    fn a_variation_found_by_sku_is_written_under_its_product() {
        let items: Vec<WcProductRef> =
            serde_json::from_str(include_str!("testdata/products_by_sku.json")).unwrap();
        assert_eq!(
            stock_path_in(&items, "SKU-005").as_deref(),
            Some("/wp-json/wc/v3/products/3100/variations/3102")
        );
        assert_eq!(stock_path_in(&items, "SKU-006"), None);
        let simple = vec![WcProductRef {
            id: 301,
            sku: "SKU-002".into(),
            kind: "simple".into(),
            ..Default::default()
        }];
        assert_eq!(
            stock_path_in(&simple, "SKU-002").as_deref(),
            Some("/wp-json/wc/v3/products/301")
        );
        let body = serde_json::to_value(WcStockUpdate {
            manage_stock: true,
            stock_quantity: 7,
        })
        .unwrap();
        assert_eq!(
            body,
            serde_json::json!({"manage_stock": true, "stock_quantity": 7})
        );
    }
}
