//! Mapping of eBay's documented payloads, and the connector against its
//! sandbox over real HTTP on loopback.

use super::*;
use crate::http::{HttpClient, RemoteError, RetryPolicy};
use crate::marketplace::{ChannelSetup, Marketplace, PushLine, TrackingPush, WebhookError};
use crate::sandbox::{serve, FaultConfig, Stats};
use chrono::{DateTime, Duration as ChronoDuration, Utc};
use orderhub_core::{FulfillmentStatus, Order, OrderStatus, PaymentStatus};
use rust_decimal::Decimal;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

const ORDER: &str = include_str!("testdata/get_order.json");
const PAGE: &str = include_str!("testdata/get_orders_page.json");
const FULFILLMENTS: &str = include_str!("testdata/shipping_fulfillments.json");
const CREATE_FULFILLMENT: &str = include_str!("testdata/create_shipping_fulfillment.json");
const TOKEN: &str = include_str!("testdata/token_refresh.json");
const ERR_TOKEN: &str = include_str!("testdata/error_invalid_token.json");
const ERR_429: &str = include_str!("testdata/error_too_many_requests.json");
const ERR_GRANT: &str = include_str!("testdata/error_invalid_grant.json");
const ERR_LINE: &str = include_str!("testdata/error_invalid_line_item.json");

const CLIENT_ID: &str = "test-client-PRD-1234";
const CLIENT_SECRET: &str = "PRD-test-secret-5678";
const REFRESH: &str = "v^1.1#i^1#r^1#test-refresh";

fn d(s: &str) -> Decimal {
    s.parse().unwrap()
}

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

// ------------------------------------------------------------------ mapping

#[test]
fn the_documented_order_maps_with_the_tax_ebay_collects() {
    let o = normalize(ORDER).unwrap();
    o.check_totals().unwrap();
    assert_eq!(o.channel, "ebay");
    assert_eq!(o.external_id, "12-03468-77349");
    assert_eq!(o.currency.as_str(), "USD");
    assert_eq!(o.status, OrderStatus::Awaiting);
    assert_eq!(o.payment_status, PaymentStatus::Paid);
    assert_eq!(o.fulfillment_status, FulfillmentStatus::Unfulfilled);
    assert_eq!(o.placed_at, t("2025-10-06T14:21:09Z"));
    assert_eq!(o.updated_at, t("2025-10-06T14:22:41Z"));
    assert_eq!(o.total, d("70.09"));
    assert_eq!(o.subtotal, d("60.27"));
    assert_eq!(o.shipping_total, d("5.00"));
    assert_eq!(o.tax_total, d("4.82"));
    assert_eq!(o.discount_total, d("3.20"));
    assert_eq!(o.shipping_method.as_deref(), Some("USPSPriority"));

    let l = &o.lines[0];
    assert_eq!(l.external_id.as_deref(), Some("10203468773491"));
    assert_eq!(l.sku.as_deref(), Some("SKU-004"));
    assert_eq!(l.title, "Cotton Tee");
    assert_eq!((l.quantity, l.unit_price), (2, d("15.99")));
    assert_eq!(
        (l.discount, l.total, l.tax),
        (d("3.20"), d("28.78"), d("2.30"))
    );
    assert_eq!(o.lines[1].tax, d("2.52"));
    assert_eq!(o.lines[1].total, d("31.49"));

    let ship = o.ship_to.as_ref().unwrap();
    assert_eq!(ship.name.as_deref(), Some("Ada Lovelace"));
    assert_eq!(ship.line1.as_deref(), Some("150 Elgin Street"));
    assert_eq!(ship.line2.as_deref(), Some("Apt 2"));
    assert_eq!(ship.city.as_deref(), Some("Toledo"));
    assert_eq!(ship.region.as_deref(), Some("OH"));
    assert_eq!(ship.postal_code.as_deref(), Some("43606-1234"));
    assert_eq!(ship.country.as_deref(), Some("US"));
    assert_eq!(ship.phone.as_deref(), Some("4195550100"));
    assert_eq!(
        o.bill_to.as_ref().unwrap().postal_code.as_deref(),
        Some("43606")
    );
    let c = o.customer.as_ref().unwrap();
    assert_eq!(c.external_id.as_deref(), Some("ada_lovelace_1815"));
    assert_eq!(c.name.as_deref(), Some("Ada Lovelace"));
    assert!(c.email.as_deref().unwrap().ends_with("@members.ebay.com"));
}

#[test]
fn every_order_of_the_documented_page_maps_and_adds_up() {
    let page: Value = serde_json::from_str(PAGE).unwrap();
    let orders: Vec<Order> = page["orders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| mapping::normalize_value(o).unwrap())
        .collect();
    for o in &orders {
        o.check_totals().unwrap();
    }
    // Promotions per line and a shipping discount on the order.
    let de = &orders[1];
    assert_eq!(de.status, OrderStatus::Shipped);
    assert_eq!(de.fulfillment_status, FulfillmentStatus::Fulfilled);
    assert_eq!(de.currency.as_str(), "EUR");
    assert_eq!(de.lines[0].unit_price, d("30.55"));
    assert_eq!(de.lines[0].discount, d("6.08"));
    assert_eq!(de.lines[1].total, d("135.44"));
    assert_eq!(de.discount_total, d("13.24"));
    assert_eq!(de.shipping_total, d("4.95"));
    assert_eq!(de.tax_total, Decimal::ZERO);
    assert_eq!(de.total, d("256.51"));
    assert_eq!(de.ship_to.as_ref().unwrap().country.as_deref(), Some("DE"));
    // Cancelled, and the VAT eBay collected is not in this total (no TAX_BREAKDOWN).
    let gb = &orders[2];
    assert_eq!(gb.status, OrderStatus::Cancelled);
    assert_eq!(gb.payment_status, PaymentStatus::Refunded);
    assert_eq!(gb.tax_total, Decimal::ZERO);
    assert_eq!(gb.lines[0].tax, Decimal::ZERO);
    assert_eq!(gb.total, d("61.44"));
    assert!(gb.bill_to.is_none());
    assert_eq!(gb.ship_to.as_ref().unwrap().country.as_deref(), Some("GB"));
}

#[test]
fn a_total_that_does_not_add_up_is_refused_not_guessed() {
    let mut v: Value = serde_json::from_str(ORDER).unwrap();
    v["pricingSummary"]["total"]["value"] = json!("71.09");
    let err = normalize(&v.to_string()).unwrap_err();
    assert_eq!(err.field, "pricingSummary.total");
}

#[test]
fn bad_fields_are_named() {
    let mut v: Value = serde_json::from_str(ORDER).unwrap();
    v["lineItems"][1]["lineItemCost"]["value"] = json!("31,49");
    assert_eq!(
        normalize(&v.to_string()).unwrap_err().field,
        "lineItems[1].lineItemCost.value"
    );
    let mut v: Value = serde_json::from_str(ORDER).unwrap();
    v.as_object_mut().unwrap().remove("orderId");
    assert!(normalize(&v.to_string()).is_err());
    let mut v: Value = serde_json::from_str(ORDER).unwrap();
    v["lineItems"][0]["lineItemCost"]["currency"] = json!("EUR");
    assert_eq!(
        normalize(&v.to_string()).unwrap_err().field,
        "lineItems[0].lineItemCost.currency"
    );
    assert!(normalize("not json").is_err());
}

#[test]
fn a_cost_that_does_not_divide_rounds_into_the_discount() {
    let mut v: Value = serde_json::from_str(ORDER).unwrap();
    let line = &mut v["lineItems"][1];
    line["quantity"] = json!(3);
    line["lineItemCost"]["value"] = json!("31.49");
    let o = normalize(&v.to_string()).unwrap();
    let l = &o.lines[1];
    assert_eq!(
        (l.unit_price, l.discount, l.total),
        (d("10.50"), d("0.01"), d("31.49"))
    );
    o.check_totals().unwrap();
}

#[test]
fn sandbox_orders_map_with_and_without_the_tax_breakdown() {
    let sb = EbaySandbox::new(EbaySandboxOptions::published(
        CLIENT_ID,
        CLIENT_SECRET,
        REFRESH,
    ));
    let ids = sb
        .seed(&SeedRequest {
            count: Some(60),
            ..SeedRequest::default()
        })
        .unwrap();
    assert_eq!(ids[0], "12-03468-77349");
    for id in &ids {
        let with = mapping::normalize_value(&sb.order_json(id, true).unwrap()).unwrap();
        let without = mapping::normalize_value(&sb.order_json(id, false).unwrap()).unwrap();
        assert_eq!(with.total - with.tax_total, without.total);
        assert!(with
            .lines
            .iter()
            .all(|l| l.sku.as_deref().unwrap().starts_with("SKU-0")));
        assert_eq!(with.external_id, *id);
    }
}

#[test]
fn the_other_documented_bodies_decode() {
    let f: wire::ShippingFulfillmentPagedCollection = serde_json::from_str(FULFILLMENTS).unwrap();
    assert_eq!(
        f.fulfillments[0].shipment_tracking_number.as_deref(),
        Some("9405509699937003457459")
    );
    let c: wire::ShippingFulfillmentDetails = serde_json::from_str(CREATE_FULFILLMENT).unwrap();
    assert_eq!(c.line_items.len(), 2);
    let tok: wire::TokenResponse = serde_json::from_str(TOKEN).unwrap();
    assert_eq!(
        (tok.expires_in, tok.token_type.as_str()),
        (7200, "User Access Token")
    );
    for (body, id) in [(ERR_TOKEN, 1001), (ERR_429, 2001), (ERR_LINE, 32200)] {
        let e: wire::ErrorResponse = serde_json::from_str(body).unwrap();
        assert_eq!(e.errors[0].error_id, id);
    }
    let g: wire::OAuthError = serde_json::from_str(ERR_GRANT).unwrap();
    assert_eq!(g.error, "invalid_grant");
}

#[test]
fn carrier_names_become_ebay_codes() {
    for (name, code) in [
        ("USPS", "USPS"),
        ("UPS", "UPS"),
        ("FedEx", "FedEx"),
        ("DHL", "DHL"),
        ("DHL Express", "DHLEXPRESS"),
        ("Royal Mail", "RoyalMail"),
        ("Deutsche Post", "DeutschePost"),
        ("Some Local Courier", "Some Local Courier"),
    ] {
        assert_eq!(ebay_carrier_code(name), code, "{name}");
    }
}

// ------------------------------------------------------------------ webhooks

#[test]
fn every_webhook_is_refused_because_ebay_sends_none() {
    let c = EbayConnector::new(setup("http://127.0.0.1:9", Duration::from_secs(1))).unwrap();
    let mut headers = http::HeaderMap::new();
    headers.insert("x-ebay-signature", "c2lnbmF0dXJl".parse().unwrap());
    for (h, body) in [
        (headers.clone(), ORDER.as_bytes()),
        (headers, b"tampered".as_slice()),
        (http::HeaderMap::new(), ORDER.as_bytes()),
    ] {
        assert!(matches!(
            c.verify_webhook(&h, body),
            Err(WebhookError::UnsupportedTopic(_))
        ));
    }
    assert!(c
        .order_from_webhook("ORDER_UPDATED", ORDER.as_bytes())
        .is_err());
}

// ------------------------------------------------------------------ against the sandbox

struct Env {
    sandbox: EbaySandbox,
    base: String,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Env {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn opts() -> EbaySandboxOptions {
    EbaySandboxOptions::published(CLIENT_ID, CLIENT_SECRET, REFRESH)
}

async fn env_with(o: EbaySandboxOptions) -> Env {
    let sandbox = EbaySandbox::new(o);
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

fn setup(base: &str, timeout: Duration) -> ChannelSetup {
    ChannelSetup {
        channel_id: "ebay-test".into(),
        base_url: base.into(),
        options: BTreeMap::from([("marketplace_id".to_string(), "EBAY_US".to_string())]),
        secrets: BTreeMap::from([
            ("client_id".to_string(), CLIENT_ID.to_string()),
            ("client_secret".to_string(), CLIENT_SECRET.to_string()),
            ("refresh_token".to_string(), REFRESH.to_string()),
        ]),
        request_timeout: timeout,
    }
}

fn connector_with(base: &str, timeout: Duration, page_size: u32) -> EbayConnector {
    let mut s = setup(base, timeout);
    s.options.insert("page_size".into(), page_size.to_string());
    let http = HttpClient::new("ebay:test", timeout, Some(client::DEFAULT_RATE)).with_retry_policy(
        RetryPolicy {
            max_attempts: 10,
            base: Duration::from_millis(10),
            max: Duration::from_millis(200),
        },
    );
    EbayConnector::new(s).unwrap().with_http_client(http)
}

fn connector(base: &str) -> EbayConnector {
    connector_with(base, Duration::from_secs(2), 200)
}

fn epoch() -> DateTime<Utc> {
    DateTime::from_timestamp(0, 0).unwrap()
}

/// Page through everything updated since `since`, retrying a failed page a few
/// times as the worker's job would.
async fn fetch_all(
    c: &EbayConnector,
    since: DateTime<Utc>,
) -> (Vec<Order>, Vec<orderhub_core::Quarantined>) {
    let (mut ok, mut bad, mut page) = (Vec::new(), Vec::new(), None);
    loop {
        let mut tries = 0;
        let p = loop {
            match c.fetch_orders(since, page.clone()).await {
                Ok(p) => break p,
                Err(e) if e.is_retryable() && tries < 5 => tries += 1,
                Err(e) => panic!("page failed: {e}"),
            }
        };
        for o in p.orders {
            match o {
                Ok(o) => ok.push(o),
                Err(q) => bad.push(q),
            }
        }
        match p.next_page {
            Some(n) => page = Some(n),
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

async fn post(base: &str, path: &str, body: Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{base}{path}"))
        .json(&body)
        .send()
        .await
        .unwrap()
}

fn push(order: &str, number: &str, lines: Vec<PushLine>) -> TrackingPush {
    TrackingPush {
        order_external_id: order.into(),
        carrier: "FedEx".into(),
        tracking_number: number.into(),
        tracking_url: None,
        notify_customer: true,
        lines,
        shipped_at: Utc::now(),
    }
}

fn recorded(s: &Stats, order: &str) -> Vec<Value> {
    s.recorded["tracking"][order]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[tokio::test]
async fn pages_through_300_orders_within_the_published_limit() {
    let e = env().await;
    let seeded: Vec<String> = post(&e.base, "/_sandbox/seed", json!({"count": 300}))
        .await
        .json::<Value>()
        .await
        .unwrap()["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert_eq!(seeded.len(), 300);
    let c = connector(&e.base);
    let (orders, bad) = fetch_all(&c, epoch()).await;
    assert!(bad.is_empty());
    let got: BTreeSet<_> = orders.iter().map(|o| o.external_id.clone()).collect();
    assert_eq!(got, seeded.into_iter().collect());
    for o in &orders {
        o.check_totals().unwrap();
        assert!(
            o.tax_total > Decimal::ZERO,
            "TAX_BREAKDOWN puts collected tax in the total"
        );
    }
    let s = stats(&e.base).await;
    assert_eq!(s.throttled, 0);
    assert_eq!(s.requests_by_path[ORDERS_PATH], 2, "200 + 100");
    assert_eq!(s.requests_by_path[TOKEN_PATH], 1, "the token is cached");
}

#[tokio::test]
async fn since_filters_and_touches_show_up_in_the_next_poll() {
    let e = env().await;
    // Whole milliseconds, as eBay's timestamps (and the client's filter) have.
    let start =
        DateTime::from_timestamp_millis((Utc::now() - ChronoDuration::hours(2)).timestamp_millis())
            .unwrap();
    let ids = e
        .sandbox
        .seed(&SeedRequest {
            count: Some(20),
            start: Some(start),
            step_ms: Some(60_000),
        })
        .unwrap();
    let c = connector(&e.base);
    let (later, _) = fetch_all(&c, start + ChronoDuration::minutes(10)).await;
    assert_eq!(later.len(), 10);
    assert!(later
        .iter()
        .all(|o| o.updated_at >= start + ChronoDuration::minutes(10)));

    let window = Utc::now() - ChronoDuration::seconds(5);
    assert!(fetch_all(&c, window).await.0.is_empty());
    let r = post(
        &e.base,
        &format!("/_sandbox/orders/{}/touch", ids[3]),
        json!({}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let (touched, _) = fetch_all(&c, window).await;
    assert_eq!(touched.len(), 1);
    assert_eq!(touched[0].external_id, ids[3]);
    assert_eq!(touched[0].status, OrderStatus::Awaiting);

    post(
        &e.base,
        &format!("/_sandbox/orders/{}/touch", ids[3]),
        json!({"cancel": true}),
    )
    .await;
    let (cancelled, _) = fetch_all(&c, window).await;
    assert_eq!(cancelled[0].status, OrderStatus::Cancelled);
    assert_eq!(cancelled[0].payment_status, PaymentStatus::Refunded);

    // An explicit older time moves the order out of the window again.
    post(
        &e.base,
        &format!("/_sandbox/orders/{}/touch", ids[3]),
        json!({"updated_at": (Utc::now() - ChronoDuration::hours(1)).to_rfc3339()}),
    )
    .await;
    assert!(fetch_all(&c, window).await.0.is_empty());
    let r = post(&e.base, "/_sandbox/orders/99-99999-99999/touch", json!({})).await;
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn since_older_than_90_days_is_clamped_not_refused() {
    let e = env().await;
    e.sandbox
        .seed(&SeedRequest {
            count: Some(3),
            ..SeedRequest::default()
        })
        .unwrap();
    let c = connector(&e.base);
    let (orders, _) = fetch_all(&c, Utc::now() - ChronoDuration::days(400)).await;
    assert_eq!(orders.len(), 3);
}

#[tokio::test]
async fn a_malformed_order_is_quarantined_and_the_rest_of_the_page_kept() {
    let e = env().await;
    e.sandbox
        .seed(&SeedRequest {
            count: Some(30),
            ..SeedRequest::default()
        })
        .unwrap();
    e.sandbox
        .core()
        .set_faults(FaultConfig {
            rate_malformed: 1.0,
            seed: Some(3),
            ..FaultConfig::default()
        })
        .unwrap();
    let c = connector(&e.base);
    let p = c.fetch_orders(epoch(), None).await.unwrap();
    let (ok, bad): (Vec<_>, Vec<_>) = p.orders.into_iter().partition(Result::is_ok);
    assert_eq!((ok.len(), bad.len()), (29, 1));
    let q = bad.into_iter().next().unwrap().unwrap_err();
    assert!(q.external_id.is_some());
    assert!(q.reason.contains("lineItemCost"), "{}", q.reason);
    assert!(q.raw.contains("12,50 USD"));
    // Stored data stays good.
    e.sandbox.core().set_faults(FaultConfig::default()).unwrap();
    let id = q.external_id.unwrap();
    assert!(mapping::normalize_value(&e.sandbox.order_json(&id, true).unwrap()).is_ok());
}

#[tokio::test]
async fn all_orders_arrive_through_429s_5xx_and_timeouts() {
    let e = env().await;
    e.sandbox
        .seed(&SeedRequest {
            count: Some(60),
            ..SeedRequest::default()
        })
        .unwrap();
    e.sandbox
        .core()
        .set_faults(FaultConfig {
            rate_429: 0.2,
            rate_5xx: 0.2,
            rate_timeout: 0.1,
            timeout_ms: Some(1500),
            seed: Some(11),
            ..FaultConfig::default()
        })
        .unwrap();
    let c = connector_with(&e.base, Duration::from_millis(500), 10);
    let (orders, bad) = fetch_all(&c, epoch()).await;
    assert!(bad.is_empty());
    let ids: BTreeSet<_> = orders.iter().map(|o| o.external_id.clone()).collect();
    assert_eq!(ids.len(), 60);
    let s = stats(&e.base).await;
    assert!(s.faults_total() > 0);
    assert_eq!(s.throttled, 0);
}

#[tokio::test]
async fn a_burst_of_calls_stays_under_the_limit() {
    let e = env().await;
    e.sandbox
        .seed(&SeedRequest {
            count: Some(5),
            ..SeedRequest::default()
        })
        .unwrap();
    let c = std::sync::Arc::new(connector_with(&e.base, Duration::from_secs(5), 1));
    let calls = (0..60).map(|_| {
        let c = c.clone();
        tokio::spawn(async move { c.fetch_orders(epoch(), None).await.map(|p| p.orders.len()) })
    });
    for r in futures::future::join_all(calls).await {
        assert_eq!(r.unwrap().unwrap(), 1);
    }
    let s = stats(&e.base).await;
    assert_eq!(s.requests_by_path[ORDERS_PATH], 60);
    assert_eq!(s.throttled, 0);
}

#[tokio::test]
async fn the_sandbox_refuses_calls_over_its_limit_as_ebay_does() {
    let e = env().await;
    let raw = reqwest::Client::new();
    let token: Value = raw
        .post(format!("{}{TOKEN_PATH}", e.base))
        .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "grant_type=refresh_token&refresh_token={}",
            urlencode(REFRESH)
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let bearer = token["access_token"].as_str().unwrap().to_string();
    let calls = (0..60).map(|_| {
        let (raw, url, bearer) = (
            raw.clone(),
            format!("{}{ORDERS_PATH}", e.base),
            bearer.clone(),
        );
        async move { raw.get(url).bearer_auth(bearer).send().await.unwrap() }
    });
    let answers = futures::future::join_all(calls).await;
    let refused: Vec<_> = answers.into_iter().filter(|r| r.status() == 429).collect();
    assert!(!refused.is_empty());
    let body: Value = refused.into_iter().next().unwrap().json().await.unwrap();
    assert_eq!(body["errors"][0]["errorId"], 2001);
    assert!(stats(&e.base).await.throttled > 0);

    // The daily quota, once used up, refuses without Retry-After.
    let small = env_with(EbaySandboxOptions {
        daily_quota: 2,
        ..opts()
    })
    .await;
    let c = connector(&small.base);
    c.fetch_orders(epoch(), None).await.unwrap();
    c.fetch_orders(epoch(), None).await.unwrap();
    let err = c.fetch_orders(epoch(), None).await.unwrap_err();
    assert!(
        matches!(
            err,
            RemoteError::Retryable {
                status: Some(429),
                retry_after: None,
                ..
            }
        ),
        "{err:?}"
    );
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test]
async fn tracking_is_pushed_once_even_when_pushed_twice() {
    let e = env().await;
    let ids = e
        .sandbox
        .seed(&SeedRequest {
            count: Some(2),
            ..SeedRequest::default()
        })
        .unwrap();
    let c = connector(&e.base);
    let p = push(&ids[0], "781234567890", vec![]);
    c.push_tracking(&p).await.unwrap();
    c.push_tracking(&p).await.unwrap();
    let s = stats(&e.base).await;
    let rec = recorded(&s, &ids[0]);
    assert_eq!(rec.len(), 1);
    assert_eq!(rec[0]["carrier"], "FedEx");
    assert_eq!(rec[0]["number"], "781234567890");
    let (orders, _) = fetch_all(&c, epoch()).await;
    let shipped = orders.iter().find(|o| o.external_id == ids[0]).unwrap();
    assert_eq!(shipped.status, OrderStatus::Shipped);

    // Named lines: one line of the second order, then the same number again.
    let line = e.sandbox.order_json(&ids[1], false).unwrap()["lineItems"][0].clone();
    let lines = vec![PushLine {
        external_id: line["lineItemId"].as_str().map(str::to_string),
        sku: None,
        quantity: line["quantity"].as_u64().unwrap() as u32,
    }];
    let p2 = push(&ids[1], "1Z999AA10123456784", lines);
    c.push_tracking(&p2).await.unwrap();
    c.push_tracking(&p2).await.unwrap();
    assert_eq!(recorded(&stats(&e.base).await, &ids[1]).len(), 1);
}

#[tokio::test]
async fn a_lost_answer_to_the_push_does_not_record_tracking_twice() {
    let e = env().await;
    let ids = e
        .sandbox
        .seed(&SeedRequest {
            count: Some(6),
            ..SeedRequest::default()
        })
        .unwrap();
    let c = connector_with(&e.base, Duration::from_millis(500), 200);
    // Every post is applied and its answer lost.
    e.sandbox
        .core()
        .set_faults(FaultConfig {
            rate_timeout_after_success: 1.0,
            timeout_ms: Some(1500),
            paths: vec!["POST ".into()],
            ..FaultConfig::default()
        })
        .unwrap();
    c.push_tracking(&push(&ids[0], "LOST-ANSWER-1", vec![]))
        .await
        .unwrap();
    c.push_tracking(&push(&ids[0], "LOST-ANSWER-1", vec![]))
        .await
        .unwrap();
    let s = stats(&e.base).await;
    assert_eq!(s.faults_injected["timeout_after_success"], 1);
    assert_eq!(recorded(&s, &ids[0]).len(), 1);
    // Lost answers on reads and posts alike, reproducibly mixed.
    e.sandbox
        .core()
        .set_faults(FaultConfig {
            rate_timeout_after_success: 0.5,
            timeout_ms: Some(1500),
            paths: vec!["shipping_fulfillment".into()],
            seed: Some(5),
            ..FaultConfig::default()
        })
        .unwrap();
    for (i, id) in ids.iter().enumerate().skip(1) {
        c.push_tracking(&push(id, &format!("TRK{i:06}"), vec![]))
            .await
            .unwrap();
    }
    let s = stats(&e.base).await;
    assert!(s.faults_injected["timeout_after_success"] > 1);
    for id in &ids {
        assert_eq!(recorded(&s, id).len(), 1, "{id}");
    }
}

#[tokio::test]
async fn unknown_line_items_are_a_permanent_error() {
    let e = env().await;
    let ids = e
        .sandbox
        .seed(&SeedRequest {
            count: Some(1),
            ..SeedRequest::default()
        })
        .unwrap();
    let c = connector(&e.base);
    let lines = vec![PushLine {
        external_id: Some("10999999999999".into()),
        sku: None,
        quantity: 1,
    }];
    let err = c
        .push_tracking(&push(&ids[0], "X1", lines))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            RemoteError::Permanent {
                status: Some(400),
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("32200"));
    let err = c
        .push_tracking(&push("99-99999-99999", "X2", vec![]))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            RemoteError::Permanent {
                status: Some(404),
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn revoked_credentials_are_a_permanent_401_that_hides_the_secrets() {
    let e = env().await;
    e.sandbox
        .seed(&SeedRequest {
            count: Some(1),
            ..SeedRequest::default()
        })
        .unwrap();
    let c = connector(&e.base);
    c.fetch_orders(epoch(), None).await.unwrap();
    let r = post(&e.base, "/_sandbox/credentials", json!({"revoked": true})).await;
    assert_eq!(r.status(), 200);
    let err = c.fetch_orders(epoch(), None).await.unwrap_err();
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
    let text = format!("{err} {err:?} {c:?}");
    for secret in [CLIENT_SECRET, REFRESH] {
        assert!(!text.contains(secret));
    }
    post(&e.base, "/_sandbox/credentials", json!({"revoked": false})).await;
    assert!(c.fetch_orders(epoch(), None).await.is_ok());

    // A wrong refresh token from the start is the same permanent 401.
    let mut s = setup(&e.base, Duration::from_secs(2));
    s.secrets
        .insert("refresh_token".into(), "v^1.1#wrong".into());
    let err = EbayConnector::new(s)
        .unwrap()
        .fetch_orders(epoch(), None)
        .await
        .unwrap_err();
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
}

#[tokio::test]
async fn expired_tokens_are_refreshed() {
    let e = env_with(EbaySandboxOptions {
        token_lifetime: Duration::from_secs(2),
        ..opts()
    })
    .await;
    e.sandbox
        .seed(&SeedRequest {
            count: Some(1),
            ..SeedRequest::default()
        })
        .unwrap();
    let c = connector(&e.base);
    c.fetch_orders(epoch(), None).await.unwrap();
    tokio::time::sleep(Duration::from_millis(2200)).await;
    c.fetch_orders(epoch(), None).await.unwrap();
    assert_eq!(stats(&e.base).await.requests_by_path[TOKEN_PATH], 2);
    // eBay forgets the token early (a 401 on a token the client thinks valid):
    // refreshed once and the call repeated.
    e.sandbox.forget_tokens();
    c.fetch_orders(epoch(), None).await.unwrap();
    let s = stats(&e.base).await;
    assert_eq!(s.requests_by_path[TOKEN_PATH], 3);
    assert_eq!(s.requests_by_path[ORDERS_PATH], 4);
}

#[tokio::test]
async fn the_sandbox_answers_the_webhook_route_with_501_and_bad_input_with_ebays_errors() {
    let e = env().await;
    let ids = e
        .sandbox
        .seed(&SeedRequest {
            count: Some(1),
            ..SeedRequest::default()
        })
        .unwrap();
    let r = reqwest::get(format!("{}/_sandbox/orders/{}/webhook", e.base, ids[0]))
        .await
        .unwrap();
    assert_eq!(r.status(), 501);
    let raw = reqwest::Client::new();
    let r = raw
        .get(format!("{}{ORDERS_PATH}", e.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = raw
        .get(format!("{}{ORDERS_PATH}", e.base))
        .bearer_auth("v^1.1#made-up")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(
        r.json::<Value>().await.unwrap()["errors"][0]["errorId"],
        1001
    );
    let r = raw
        .post(format!("{}{TOKEN_PATH}", e.base))
        .basic_auth(CLIENT_ID, Some("wrong"))
        .body("grant_type=refresh_token")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_client");
    let r = post(&e.base, "/_sandbox/seed", json!({"count": "many"})).await;
    assert_eq!(r.status(), 400);
}

#[test]
fn configuration_problems_are_listed_and_secrets_never_printed() {
    let mut s = setup("ftp://nowhere", Duration::from_secs(1));
    s.options.insert("marketplace_id".into(), "US".into());
    s.options.insert("page_size".into(), "500".into());
    s.options.insert("colour".into(), "blue".into());
    s.secrets.remove("refresh_token");
    let err = EbayConnector::new(s).unwrap_err();
    for needle in [
        "base_url",
        "marketplace_id",
        "page_size",
        "refresh_token",
        "colour",
    ] {
        assert!(err.contains(needle), "{err}");
    }
    let c = EbayConnector::new(setup("https://api.ebay.com", Duration::from_secs(1))).unwrap();
    let debug = format!("{c:?}");
    assert!(!debug.contains(CLIENT_SECRET) && !debug.contains(REFRESH));
    assert_eq!(c.page_size(), 200);
    assert!(KIND
        .required_secrets
        .iter()
        .all(|s| profile().secrets.contains_key(*s)));
}

// ---------------------------------------------------------------- stock

mod stock {
    use super::super::client::{stock_outcome, stock_request};
    use super::super::wire::BulkPriceQuantityResponse;
    use crate::marketplace::{StockPush, StockPushOutcome};

    #[test]
    fn bulk_update_request_and_per_sku_answers() {
        let body = serde_json::to_value(stock_request(&StockPush {
            sku: "SKU-005".into(),
            available: 7,
        }))
        .unwrap();
        let documented: serde_json::Value = serde_json::from_str(include_str!(
            "testdata/bulk_update_price_quantity_request.json"
        ))
        .unwrap();
        assert_eq!(body, documented);
        let resp: BulkPriceQuantityResponse = serde_json::from_str(include_str!(
            "testdata/bulk_update_price_quantity_response.json"
        ))
        .unwrap();
        assert_eq!(
            stock_outcome(&resp, "SKU-005").unwrap(),
            StockPushOutcome::Updated
        );
        assert_eq!(
            stock_outcome(&resp, "SKU-404").unwrap(),
            StockPushOutcome::NotListed
        );
        assert!(stock_outcome(&BulkPriceQuantityResponse::default(), "SKU-005").is_err());
    }
}
