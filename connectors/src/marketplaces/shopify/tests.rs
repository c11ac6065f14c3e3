//! The connector against its sandbox, over real HTTP on loopback.

use super::*;
use crate::http::{HttpClient, RetryPolicy};
use crate::marketplace::{
    ChannelSetup, DeliveryStatusPush, Marketplace, TrackingPush, WebhookOrder,
};
use crate::sandbox::{serve, FaultConfig, Stats};
use crate::RemoteError;
use chrono::{DateTime, Duration as ChronoDuration, Utc};
use orderhub_core::{Order, OrderStatus, TrackingStatus};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

const TOKEN: &str = "shpat_test_token_123";
const SECRET: &str = "test_webhook_secret";

struct Env {
    sandbox: ShopifySandbox,
    base: String,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Env {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn env(bucket_size: f64, restore_rate: f64) -> Env {
    let sandbox = ShopifySandbox::new(ShopifySandboxOptions {
        access_token: TOKEN.into(),
        webhook_secret: SECRET.into(),
        bucket_size,
        restore_rate,
    });
    let (addr, server) = serve(sandbox.router(), "127.0.0.1:0").await.unwrap();
    Env {
        sandbox,
        base: format!("http://{addr}"),
        server,
    }
}

fn setup(base: &str, token: &str) -> ChannelSetup {
    ChannelSetup {
        channel_id: "shop-test".into(),
        base_url: base.into(),
        options: BTreeMap::new(),
        secrets: BTreeMap::from([
            ("access_token".to_string(), token.to_string()),
            ("webhook_secret".to_string(), SECRET.to_string()),
        ]),
        request_timeout: Duration::from_secs(2),
    }
}

fn connector(base: &str) -> ShopifyConnector {
    let fast = HttpClient::new("shopify:test", Duration::from_secs(2), None).with_retry_policy(
        RetryPolicy {
            max_attempts: 10,
            base: Duration::from_millis(10),
            max: Duration::from_millis(200),
        },
    );
    ShopifyConnector::new(setup(base, TOKEN))
        .unwrap()
        .with_http_client(fast)
}

fn epoch() -> DateTime<Utc> {
    DateTime::from_timestamp(0, 0).unwrap()
}

/// Page through everything updated since `since`, retrying a failed page a few
/// times as the worker's job would.
async fn fetch_all(
    c: &ShopifyConnector,
    since: DateTime<Utc>,
) -> (Vec<Order>, Vec<orderhub_core::Quarantined>, usize) {
    let mut page = None;
    let mut ok = Vec::new();
    let mut bad = Vec::new();
    let mut pages = 0;
    loop {
        let mut attempt = 0;
        let result = loop {
            match c.fetch_orders(since, page.clone()).await {
                Err(e) if e.is_retryable() && attempt < 5 => attempt += 1,
                other => break other,
            }
        };
        let result = result.unwrap();
        pages += 1;
        for o in result.orders {
            match o {
                Ok(o) => ok.push(o),
                Err(q) => bad.push(q),
            }
        }
        match result.next_page {
            Some(p) => page = Some(p),
            None => break,
        }
        assert!(pages < 1000, "paging does not end");
    }
    (ok, bad, pages)
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

async fn seed(base: &str, body: Value) -> Vec<String> {
    let r: Value = reqwest::Client::new()
        .post(format!("{base}/_sandbox/seed"))
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    serde_json::from_value(r["ids"].clone()).unwrap()
}

#[tokio::test]
async fn pages_through_250_orders_without_being_throttled() {
    let e = env(2000.0, 2000.0).await;
    let ids = seed(&e.base, json!({"count": 250})).await;
    assert_eq!(ids.len(), 250);
    assert_eq!(ids[0], "1001");
    assert_eq!(e.sandbox.order_count(), 250);
    let c = connector(&e.base);
    let (orders, bad, pages) = fetch_all(&c, epoch()).await;
    assert!(bad.is_empty(), "{bad:?}");
    assert_eq!(orders.len(), 250);
    let got: BTreeSet<_> = orders.iter().map(|o| o.external_id.clone()).collect();
    assert_eq!(got, ids.iter().cloned().collect());
    assert!(pages >= 250 / c.page_size() as usize);
    // Sorted by updatedAt: each page continues where the last one ended.
    assert!(orders
        .windows(2)
        .all(|w| w[0].updated_at <= w[1].updated_at));
    for o in &orders {
        assert_eq!(o.channel, "shopify");
        assert_eq!(
            o.number.as_deref(),
            Some(format!("#{}", o.external_id).as_str())
        );
        assert_eq!(o.total, o.subtotal + o.shipping_total + o.tax_total);
        assert!((1..=3).contains(&o.lines.len()));
        assert_eq!(o.status, OrderStatus::Awaiting);
    }
    let s = stats(&e.base).await;
    assert_eq!(s.throttled, 0);
    assert_eq!(s.total_requests() as usize, pages);
    assert!(c.throttle_status().is_some());
}

#[tokio::test]
async fn the_client_waits_for_the_bucket_instead_of_being_throttled() {
    // A small bucket that a few pages drain: the client must pace itself.
    let e = env(1000.0, 1000.0).await;
    seed(&e.base, json!({"count": 60})).await;
    let c = connector(&e.base);
    let start = std::time::Instant::now();
    let (orders, bad, pages) = fetch_all(&c, epoch()).await;
    assert_eq!(orders.len(), 60);
    assert!(bad.is_empty());
    assert!(pages >= 4);
    let s = stats(&e.base).await;
    assert_eq!(s.throttled, 0, "{s:?}");
    assert!(
        start.elapsed() > Duration::from_millis(500),
        "no pacing happened"
    );
}

#[tokio::test]
async fn the_sandbox_throttles_and_caps_query_cost() {
    let e = env(1000.0, 1.0).await;
    seed(&e.base, json!({"count": 30})).await;
    let http = reqwest::Client::new();
    let url = format!("{}/admin/api/2025-10/graphql.json", e.base);
    let body = json!({
        "query": client::ORDERS_QUERY,
        "variables": {"first": 13, "query": "", "lineItems": 5},
    });
    let first: Value = http
        .post(&url)
        .header(HEADER_ACCESS_TOKEN, TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        first["data"]["orders"]["nodes"].as_array().unwrap().len(),
        13
    );
    // 2 for the connection + 13 × 72 per order (each of 5 line items with
    // its `variant`).
    assert_eq!(first["extensions"]["cost"]["requestedQueryCost"], 938);
    let actual = first["extensions"]["cost"]["actualQueryCost"]
        .as_u64()
        .unwrap();
    assert!(actual < 938 && actual > 13 * 20, "{actual}");
    // The refund leaves less than the next query needs.
    let resp = http
        .post(&url)
        .header(HEADER_ACCESS_TOKEN, TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let second: Value = resp.json().await.unwrap();
    assert_eq!(second["errors"][0]["extensions"]["code"], "THROTTLED");
    assert_eq!(second["errors"][0]["message"], "Throttled");
    assert!(second["extensions"]["cost"]["actualQueryCost"].is_null());
    assert_eq!(
        second["extensions"]["cost"]["throttleStatus"]["maximumAvailable"],
        1000.0
    );
    // Above the single-query limit.
    let big = json!({
        "query": client::ORDERS_QUERY,
        "variables": {"first": 250, "query": "", "lineItems": 50},
    });
    let third: Value = http
        .post(&url)
        .header(HEADER_ACCESS_TOKEN, TOKEN)
        .json(&big)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        third["errors"][0]["extensions"]["code"],
        "MAX_COST_EXCEEDED"
    );
    let s = stats(&e.base).await;
    assert_eq!(s.throttled, 1);
    assert_eq!(s.faults_total(), 0);
}

#[tokio::test]
async fn all_orders_arrive_through_429s_and_5xx() {
    let e = env(2000.0, 5000.0).await;
    seed(&e.base, json!({"count": 120})).await;
    set_faults(
        &e.base,
        &FaultConfig {
            rate_429: 0.15,
            rate_5xx: 0.15,
            retry_after_secs: Some(0.05),
            seed: Some(42),
            ..FaultConfig::default()
        },
    )
    .await;
    let c = connector(&e.base);
    let (orders, bad, _) = fetch_all(&c, epoch()).await;
    assert!(bad.is_empty());
    let got: BTreeSet<_> = orders.iter().map(|o| o.external_id.clone()).collect();
    assert_eq!(got.len(), 120);
    let s = stats(&e.base).await;
    assert!(s.faults_total() > 0, "{s:?}");
    assert_eq!(s.throttled, 0);
}

#[tokio::test]
async fn line_barcodes_come_from_the_variant() {
    let e = env(2000.0, 5000.0).await;
    seed(
        &e.base,
        json!({"orders": [{"lines": [
            {"sku": "SKU-003", "quantity": 2},
            {"sku": "SKU-004", "barcode": " 0012345678905 "},
            {"sku": "SKU-005", "barcode": ""},
            {"sku": "NOT-LISTED"},
        ]}]}),
    )
    .await;
    let c = connector(&e.base);
    let (ok, bad, _) = fetch_all(&c, epoch()).await;
    assert!(bad.is_empty(), "{bad:?}");
    let lines = &ok[0].lines;
    let barcode = |sku: &str| {
        lines
            .iter()
            .find(|l| l.sku.as_deref() == Some(sku))
            .unwrap()
            .barcode
            .clone()
    };
    // The catalog's EAN-13 for the sku, the seeded one (trimmed), none for a
    // variant without a barcode, none for a line without a variant.
    assert_eq!(
        barcode("SKU-003"),
        Some(crate::sandbox::catalog::generated_barcode("SKU-003"))
    );
    assert_eq!(barcode("SKU-004").as_deref(), Some("0012345678905"));
    assert_eq!(barcode("SKU-005"), None);
    assert_eq!(barcode("NOT-LISTED"), None);
    // The same through the follow-up line-items query (one line per page).
    let mut one = setup(&e.base, TOKEN);
    one.options.insert("line_items_page".into(), "1".into());
    let c = ShopifyConnector::new(one).unwrap();
    let (again, _, _) = fetch_all(&c, epoch()).await;
    assert_eq!(again[0].lines, ok[0].lines);
}

#[tokio::test]
async fn a_malformed_node_is_quarantined_and_the_rest_mapped() {
    let e = env(2000.0, 5000.0).await;
    seed(&e.base, json!({"count": 10})).await;
    set_faults(
        &e.base,
        &FaultConfig {
            rate_malformed: 1.0,
            paths: vec!["graphql".into()],
            seed: Some(3),
            ..FaultConfig::default()
        },
    )
    .await;
    let c = connector(&e.base);
    let page = c.fetch_orders(epoch(), None).await.unwrap();
    let (ok, bad): (Vec<_>, Vec<_>) = page.orders.into_iter().partition(Result::is_ok);
    assert_eq!(bad.len(), 1);
    assert_eq!(ok.len(), 9);
    let q = bad.into_iter().next().unwrap().unwrap_err();
    assert!(
        q.reason.contains("totalPriceSet.shopMoney.amount"),
        "{}",
        q.reason
    );
    let raw: Value = serde_json::from_str(&q.raw).unwrap();
    assert_eq!(raw["totalPriceSet"]["shopMoney"]["amount"], "twelve");
    assert_eq!(q.external_id.as_deref(), raw["legacyResourceId"].as_str());
    // The stored order is fine: without the fault it maps.
    set_faults(&e.base, &FaultConfig::default()).await;
    let again = c.fetch_orders(epoch(), None).await.unwrap();
    assert!(again.orders.iter().all(Result::is_ok));
    assert_eq!(again.orders.len(), 10);
}

#[tokio::test]
async fn a_bad_token_is_a_permanent_error_that_hides_the_token() {
    let e = env(2000.0, 100.0).await;
    seed(&e.base, json!({"count": 1})).await;
    let c = ShopifyConnector::new(setup(&e.base, "shpat_wrong_secret_value")).unwrap();
    let err = c.fetch_orders(epoch(), None).await.unwrap_err();
    match &err {
        RemoteError::Permanent { status, message } => {
            assert_eq!(*status, Some(401));
            assert!(
                message.contains("Invalid API key or access token"),
                "{message}"
            );
        }
        other => panic!("expected permanent, got {other:?}"),
    }
    assert!(!err.to_string().contains("shpat_wrong_secret_value"));
    assert!(!format!("{err:?}").contains("shpat_wrong_secret_value"));
    assert!(!format!("{c:?}").contains("shpat_wrong_secret_value"));
    // Exactly one request: a 401 is not retried.
    assert_eq!(stats(&e.base).await.total_requests(), 1);
}

#[tokio::test]
async fn updates_and_late_arrivals_show_up_in_later_polls() {
    let e = env(2000.0, 5000.0).await;
    let start = Utc::now() - ChronoDuration::hours(2);
    seed(
        &e.base,
        json!({"count": 5, "start": start.to_rfc3339(), "step_ms": 60000}),
    )
    .await;
    let c = connector(&e.base);
    let (orders, _, _) = fetch_all(&c, epoch()).await;
    assert_eq!(orders.len(), 5);
    let high = orders.iter().map(|o| o.updated_at).max().unwrap();

    // An update moves an order past the high-water mark.
    let http = reqwest::Client::new();
    let r: Value = http
        .post(format!("{}/_sandbox/orders/1002/touch", e.base))
        .json(&json!({"cancel": true}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["id"], "1002");
    let (later, _, _) = fetch_all(&c, high).await;
    let touched: Vec<_> = later.iter().filter(|o| o.external_id == "1002").collect();
    assert_eq!(touched.len(), 1);
    assert_eq!(touched[0].status, OrderStatus::Cancelled);
    assert!(touched[0].updated_at > high);

    // A late arrival (updatedAt in the past) is only seen by a window reaching back.
    let past = high - ChronoDuration::minutes(10);
    let r = http
        .post(format!("{}/_sandbox/orders/1001/touch", e.base))
        .json(&json!({"updated_at": past.to_rfc3339()}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (window, _, _) = fetch_all(&c, high - ChronoDuration::minutes(15)).await;
    assert!(window.iter().any(|o| o.external_id == "1001"));
    let (narrow, _, _) = fetch_all(&c, high).await;
    assert!(!narrow.iter().any(|o| o.external_id == "1001"));

    // Unknown order, bad id, bad body.
    let r = http
        .post(format!("{}/_sandbox/orders/999999/touch", e.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = http
        .post(format!("{}/_sandbox/orders/abc/touch", e.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = http
        .post(format!("{}/_sandbox/orders/1001/touch", e.base))
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn tracking_is_pushed_once_and_retries_are_idempotent() {
    let e = env(2000.0, 5000.0).await;
    seed(&e.base, json!({"count": 2})).await;
    let c = connector(&e.base);
    let push = TrackingPush {
        order_external_id: "1001".into(),
        carrier: "UPS".into(),
        tracking_number: "1Z999AA10123456784".into(),
        tracking_url: Some("https://www.ups.com/track?tracknum=1Z999AA10123456784".into()),
        notify_customer: true,
        lines: vec![],
        shipped_at: chrono::Utc::now(),
    };
    c.push_tracking(&push).await.unwrap();
    // A retry of the same push changes nothing.
    c.push_tracking(&push).await.unwrap();
    let s = stats(&e.base).await;
    assert_eq!(s.recorded["fulfillments"]["1001"], 1);
    let tracking = &s.recorded["tracking"]["1001"][0];
    assert_eq!(tracking["company"], "UPS");
    assert_eq!(tracking["number"], "1Z999AA10123456784");
    assert_eq!(tracking["notify_customer"], true);

    // Another number for an order with nothing left to fulfil is refused.
    let other = TrackingPush {
        tracking_number: "9400100000000000000000".into(),
        carrier: "USPS".into(),
        ..push.clone()
    };
    assert!(!c.push_tracking(&other).await.unwrap_err().is_retryable());

    // The order now reads as shipped.
    let (orders, _, _) = fetch_all(&c, epoch()).await;
    let o = orders.iter().find(|o| o.external_id == "1001").unwrap();
    assert_eq!(o.status, OrderStatus::Shipped);

    // An earlier attempt that went through although its answer was lost.
    let http = reqwest::Client::new();
    let url = format!("{}/admin/api/2025-10/graphql.json", e.base);
    let fo: Value = http
        .post(&url)
        .header(HEADER_ACCESS_TOKEN, TOKEN)
        .json(&json!({"query": client::ORDER_FULFILLMENT_QUERY, "variables": {"id": "gid://shopify/Order/1002"}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let fo_id = fo["data"]["order"]["fulfillmentOrders"]["nodes"][0]["id"].clone();
    assert_eq!(
        fo["data"]["order"]["fulfillmentOrders"]["nodes"][0]["status"],
        "OPEN"
    );
    let created: Value = http
        .post(&url)
        .header(HEADER_ACCESS_TOKEN, TOKEN)
        .json(
            &json!({"query": client::FULFILLMENT_CREATE_MUTATION, "variables": {"fulfillment": {
                "lineItemsByFulfillmentOrder": [{"fulfillmentOrderId": fo_id}],
                "trackingInfo": {"company": "FedEx", "number": "794698766350"},
                "notifyCustomer": false
            }}}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        created["data"]["fulfillmentCreate"]["userErrors"],
        json!([])
    );
    assert_eq!(created["extensions"]["cost"]["requestedQueryCost"], 10);
    // A second create for the closed fulfillment order gets Shopify's user error.
    let again: Value = http
        .post(&url)
        .header(HEADER_ACCESS_TOKEN, TOKEN)
        .json(
            &json!({"query": client::FULFILLMENT_CREATE_MUTATION, "variables": {"fulfillment": {
                "lineItemsByFulfillmentOrder": [{"fulfillmentOrderId": fo_id}],
                "trackingInfo": {"company": "FedEx", "number": "794698766350"}
            }}}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let msg = again["data"]["fulfillmentCreate"]["userErrors"][0]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(msg.contains("unfulfillable status= closed"), "{msg}");
    let retry = TrackingPush {
        order_external_id: "1002".into(),
        carrier: "FedEx".into(),
        tracking_number: "794698766350".into(),
        tracking_url: None,
        notify_customer: false,
        lines: vec![],
        shipped_at: chrono::Utc::now(),
    };
    c.push_tracking(&retry).await.unwrap();
    assert_eq!(stats(&e.base).await.recorded["fulfillments"]["1002"], 1);

    // No such order: permanent.
    let missing = TrackingPush {
        order_external_id: "424242".into(),
        ..retry
    };
    assert!(!c.push_tracking(&missing).await.unwrap_err().is_retryable());
}

#[tokio::test]
async fn webhooks_from_the_sandbox_verify_and_map() {
    let e = env(2000.0, 100.0).await;
    seed(&e.base, json!({"count": 1})).await;
    let c = connector(&e.base);
    let delivery: Value = reqwest::get(format!(
        "{}/_sandbox/orders/1001/webhook?topic=orders/create",
        e.base
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let mut headers = http::HeaderMap::new();
    for (k, v) in delivery["headers"].as_object().unwrap() {
        headers.insert(
            http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            v.as_str().unwrap().parse().unwrap(),
        );
    }
    let body = delivery["body"].as_str().unwrap().as_bytes().to_vec();
    let verified = c.verify_webhook(&headers, &body).unwrap();
    assert_eq!(verified.topic, "orders/create");
    assert!(verified.delivery_id.starts_with("sandbox-1001-"));
    let WebhookOrder::Order(order) = c.order_from_webhook(&verified.topic, &body).unwrap() else {
        panic!("a Shopify webhook carries the order")
    };
    assert_eq!(order.external_id, "1001");
    // Tampered body.
    let mut tampered = body.clone();
    tampered[10] ^= 1;
    assert!(c.verify_webhook(&headers, &tampered).is_err());
    // Missing signature.
    headers.remove(HEADER_HMAC);
    assert_eq!(
        c.verify_webhook(&headers, &body).unwrap_err(),
        crate::WebhookError::MissingHeader(HEADER_HMAC)
    );
}

#[tokio::test]
async fn the_sandbox_answers_bad_input_with_4xx() {
    let e = env(2000.0, 100.0).await;
    let http = reqwest::Client::new();
    let url = format!("{}/admin/api/2025-10/graphql.json", e.base);
    // No token, wrong token: Shopify's 401 body.
    let r = http.post(&url).body("{}").send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.text().await.unwrap(), sandbox::INVALID_TOKEN_BODY);
    // Not JSON, no query: 400.
    for body in ["{not json", "{}", "[1]", "{\"query\": 5}"] {
        let r = http
            .post(&url)
            .header(HEADER_ACCESS_TOKEN, TOKEN)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{body}");
    }
    // A GraphQL syntax error or unknown field: 200 with errors, like Shopify.
    for q in [
        "{ orders(first: ",
        "{ nope }",
        "{ orders { nodes { id } } }",
    ] {
        let r = http
            .post(&url)
            .header(HEADER_ACCESS_TOKEN, TOKEN)
            .json(&json!({"query": q}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let v: Value = r.json().await.unwrap();
        assert!(v["errors"].is_array(), "{v}");
        assert!(v["extensions"]["cost"].is_object() || v["errors"].is_array());
    }
    // Bad cursor, bad id.
    let r: Value = http
        .post(&url)
        .header(HEADER_ACCESS_TOKEN, TOKEN)
        .json(&json!({"query": "{ orders(first: 5, after: \"!!\") { nodes { id } } order2: order(id: \"nope\") { id } }"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(r["errors"].is_array());
    // Control routes: bad JSON and bad rates are 400.
    for (path, body) in [
        ("/_sandbox/faults", "{nope"),
        ("/_sandbox/faults", "{\"rate_429\": 2}"),
        ("/_sandbox/seed", "{\"count\": -1}"),
        ("/_sandbox/seed", "{\"orders\": [{\"country\": \"FR\"}]}"),
        ("/_sandbox/seed", "{\"orders\": [{\"lines\": [{\"price\": \"79228162514264337593543950335\", \"quantity\": 10000}]}]}"),
        ("/_sandbox/seed", "{\"start\": \"+262142-12-30T00:00:00Z\", \"count\": 5, \"step_ms\": 86400000}"),
    ] {
        let r = http
            .post(format!("{}{path}", e.base))
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{path} {body}");
    }
    assert_eq!(e.sandbox.order_count(), 0, "a refused seed creates nothing");
    let r = http
        .post(format!("{}/_sandbox/reset-stats", e.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(stats(&e.base).await.total_requests(), 0);
}

#[test]
fn option_presets_keep_secrets_out_of_debug() {
    let o = ShopifySandboxOptions::fast("shpat_x_secret", "whsec_y_secret");
    assert_eq!(o.restore_rate, 100_000.0);
    assert_eq!(ShopifySandboxOptions::plus("a", "b").restore_rate, 1_000.0);
    assert_eq!(
        ShopifySandboxOptions::standard("a", "b").restore_rate,
        100.0
    );
    let dbg = format!("{o:?} {:?}", ShopifySandbox::new(o.clone()));
    assert!(
        !dbg.contains("shpat_x_secret") && !dbg.contains("whsec_y_secret"),
        "{dbg}"
    );
}

#[tokio::test]
async fn timeouts_are_retried_until_the_page_arrives() {
    let e = env(2000.0, 5000.0).await;
    seed(&e.base, json!({"count": 20})).await;
    set_faults(
        &e.base,
        &FaultConfig {
            rate_timeout: 0.3,
            rate_slow: 0.2,
            slow_ms: 50,
            timeout_ms: Some(1500),
            seed: Some(11),
            ..FaultConfig::default()
        },
    )
    .await;
    let fast = HttpClient::new("shopify:test", Duration::from_millis(400), None).with_retry_policy(
        RetryPolicy {
            max_attempts: 10,
            base: Duration::from_millis(10),
            max: Duration::from_millis(100),
        },
    );
    let c = ShopifyConnector::new(setup(&e.base, TOKEN))
        .unwrap()
        .with_http_client(fast);
    let (orders, bad, _) = fetch_all(&c, epoch()).await;
    assert!(bad.is_empty());
    assert_eq!(orders.len(), 20);
}

// ------------------------------------------------------------ delivery status

const UPS_NUMBER: &str = "1Z999AA10123456784";

/// Seed `count` orders and ship order 1001 with `UPS_NUMBER`.
async fn shipped_env(count: u32) -> (Env, ShopifyConnector) {
    let e = env(2000.0, 5000.0).await;
    seed(&e.base, json!({ "count": count })).await;
    let c = connector(&e.base);
    c.push_tracking(&TrackingPush {
        order_external_id: "1001".into(),
        carrier: "UPS".into(),
        tracking_number: UPS_NUMBER.into(),
        tracking_url: None,
        notify_customer: false,
        lines: vec![],
        shipped_at: chrono::Utc::now(),
    })
    .await
    .unwrap();
    (e, c)
}

fn delivery(
    order: &str,
    number: &str,
    status: TrackingStatus,
    minutes_ago: i64,
) -> DeliveryStatusPush {
    let at = Utc::now() - ChronoDuration::minutes(minutes_ago);
    DeliveryStatusPush {
        order_external_id: order.into(),
        tracking_number: number.into(),
        status,
        happened_at: DateTime::from_timestamp(at.timestamp(), 0).unwrap(),
    }
}

async fn gql(base: &str, query: &str, variables: Value) -> Value {
    reqwest::Client::new()
        .post(format!("{base}/admin/api/2025-10/graphql.json"))
        .header(HEADER_ACCESS_TOKEN, TOKEN)
        .json(&json!({ "query": query, "variables": variables }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// The order's first fulfillment as the connector reads it.
async fn first_fulfillment(base: &str, order: &str) -> Value {
    let v = gql(
        base,
        client::ORDER_FULFILLMENT_EVENTS_QUERY,
        json!({ "id": format!("gid://shopify/Order/{order}") }),
    )
    .await;
    v["data"]["order"]["fulfillments"][0].clone()
}

fn recorded_events(s: &Stats, order: &str) -> Value {
    s.recorded["fulfillment_events"][order].clone()
}

#[tokio::test]
async fn delivered_is_pushed_once_and_a_repeat_records_nothing() {
    let (e, c) = shipped_env(1).await;
    let push = delivery("1001", UPS_NUMBER, TrackingStatus::Delivered, 5);
    c.push_delivery_status(&push).await.unwrap();
    assert_eq!(
        recorded_events(&stats(&e.base).await, "1001"),
        json!(["DELIVERED"])
    );
    // The same push again (a retried job): read, seen, nothing sent.
    let before = stats(&e.base).await.total_requests();
    c.push_delivery_status(&push).await.unwrap();
    let s = stats(&e.base).await;
    assert_eq!(recorded_events(&s, "1001"), json!(["DELIVERED"]));
    assert_eq!(s.total_requests(), before + 1, "only the read");

    let f = first_fulfillment(&e.base, "1001").await;
    assert_eq!(f["displayStatus"], "DELIVERED");
    assert_eq!(f["status"], "SUCCESS");
    let ev = &f["events"]["nodes"][0];
    assert_eq!(ev["status"], "DELIVERED");
    assert_eq!(
        ev["happenedAt"],
        push.happened_at
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    );
    assert!(ev["id"]
        .as_str()
        .unwrap()
        .starts_with("gid://shopify/FulfillmentEvent/"));
    // Shopify's order-level status has no delivery values: still FULFILLED.
    let o = gql(
        &e.base,
        "{ order(id: \"gid://shopify/Order/1001\") { displayFulfillmentStatus fulfillments(first: 1) { deliveredAt inTransitAt } } }",
        json!({}),
    )
    .await;
    assert_eq!(o["data"]["order"]["displayFulfillmentStatus"], "FULFILLED");
    assert_eq!(
        o["data"]["order"]["fulfillments"][0]["deliveredAt"],
        ev["happenedAt"]
    );
    assert!(o["data"]["order"]["fulfillments"][0]["inTransitAt"].is_null());
}

#[tokio::test]
async fn in_transit_then_delivered_are_recorded_in_order_and_late_news_is_dropped() {
    let (e, c) = shipped_env(1).await;
    c.push_delivery_status(&delivery("1001", UPS_NUMBER, TrackingStatus::InTransit, 60))
        .await
        .unwrap();
    c.push_delivery_status(&delivery("1001", UPS_NUMBER, TrackingStatus::InTransit, 50))
        .await
        .unwrap();
    c.push_delivery_status(&delivery("1001", UPS_NUMBER, TrackingStatus::Delivered, 10))
        .await
        .unwrap();
    // A late "out for delivery" after delivery does not pull the parcel back.
    c.push_delivery_status(&delivery(
        "1001",
        UPS_NUMBER,
        TrackingStatus::OutForDelivery,
        20,
    ))
    .await
    .unwrap();
    let s = stats(&e.base).await;
    assert_eq!(
        recorded_events(&s, "1001"),
        json!(["IN_TRANSIT", "DELIVERED"])
    );
    let f = first_fulfillment(&e.base, "1001").await;
    assert_eq!(f["displayStatus"], "DELIVERED");
    // Newest first, as the connector asks (HAPPENED_AT, reverse).
    let statuses: Vec<_> = f["events"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["status"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(statuses, ["DELIVERED", "IN_TRANSIT"]);
    // Tracking numbers match whatever their case or surrounding spaces.
    let c2 = connector(&e.base);
    let lower = format!("  {}  ", UPS_NUMBER.to_lowercase());
    c2.push_delivery_status(&delivery("1001", &lower, TrackingStatus::Delivered, 1))
        .await
        .unwrap();
    assert_eq!(
        recorded_events(&stats(&e.base).await, "1001"),
        json!(["IN_TRANSIT", "DELIVERED"])
    );
}

#[tokio::test]
async fn statuses_without_a_shopify_event_do_nothing() {
    let (e, c) = shipped_env(1).await;
    let before = stats(&e.base).await.total_requests();
    for status in [
        TrackingStatus::Unknown,
        TrackingStatus::Error,
        TrackingStatus::Cancelled,
    ] {
        c.push_delivery_status(&delivery("1001", UPS_NUMBER, status, 1))
            .await
            .unwrap();
        // Not even for an order or number that does not exist.
        c.push_delivery_status(&delivery("424242", "nope", status, 1))
            .await
            .unwrap();
    }
    let s = stats(&e.base).await;
    assert_eq!(s.total_requests(), before, "nothing was sent");
    assert!(recorded_events(&s, "1001").is_null());
    assert_eq!(
        first_fulfillment(&e.base, "1001").await["displayStatus"],
        "FULFILLED"
    );
}

#[tokio::test]
async fn no_fulfillment_with_that_number_is_a_permanent_error() {
    let (e, c) = shipped_env(2).await;
    // Order 1002 was never shipped.
    let err = c
        .push_delivery_status(&delivery("1002", UPS_NUMBER, TrackingStatus::Delivered, 1))
        .await
        .unwrap_err();
    assert!(!err.is_retryable(), "{err:?}");
    assert!(err.to_string().contains("no fulfillment carries"), "{err}");
    assert!(err.to_string().contains(UPS_NUMBER), "{err}");
    // Order 1001 ships with another number.
    let err = c
        .push_delivery_status(&delivery(
            "1001",
            "9400100000000000000000",
            TrackingStatus::InTransit,
            1,
        ))
        .await
        .unwrap_err();
    assert!(!err.is_retryable(), "{err:?}");
    assert!(err.to_string().contains("9400100000000000000000"), "{err}");
    // No such order, not an order id, no number.
    for (order, number) in [("424242", UPS_NUMBER), ("#1001", UPS_NUMBER), ("1001", " ")] {
        let err = c
            .push_delivery_status(&delivery(order, number, TrackingStatus::Delivered, 1))
            .await
            .unwrap_err();
        assert!(!err.is_retryable(), "{order} {number}: {err:?}");
    }
    assert!(stats(&e.base).await.recorded["fulfillment_events"].is_null());
}

#[tokio::test]
async fn the_documented_example_runs_against_the_sandbox() {
    let (e, c) = shipped_env(1).await;
    let fulfillment_id = first_fulfillment(&e.base, "1001").await["id"].clone();
    let mut doc: Value = serde_json::from_str(include_str!(
        "testdata/graphql_fulfillment_event_create.json"
    ))
    .unwrap();
    doc["variables"]["fulfillmentEvent"]["fulfillmentId"] = fulfillment_id;
    let v = gql(
        &e.base,
        doc["query"].as_str().unwrap(),
        doc["variables"].clone(),
    )
    .await;
    let payload = &v["data"]["fulfillmentEventCreate"];
    assert_eq!(payload["userErrors"], json!([]), "{v}");
    assert_eq!(payload["fulfillmentEvent"]["status"], "OUT_FOR_DELIVERY");
    assert_eq!(
        payload["fulfillmentEvent"]["message"],
        "This package is now out for delivery!"
    );
    // A mutation costs 10, charged to the same bucket.
    assert_eq!(v["extensions"]["cost"]["requestedQueryCost"], 10);
    assert_eq!(v["extensions"]["cost"]["actualQueryCost"], 10);
    // The example's details are kept on the event.
    let detail = gql(
        &e.base,
        "{ order(id: \"gid://shopify/Order/1001\") { fulfillments(first: 1) { displayStatus estimatedDeliveryAt events(first: 5) { nodes { city zip latitude happenedAt estimatedDeliveryAt } } } } }",
        json!({}),
    )
    .await;
    let f = &detail["data"]["order"]["fulfillments"][0];
    assert_eq!(f["displayStatus"], "OUT_FOR_DELIVERY");
    assert_eq!(f["estimatedDeliveryAt"], "2024-03-07T16:50:00Z");
    assert_eq!(f["events"]["nodes"][0]["city"], "Ottawa");
    assert_eq!(
        f["events"]["nodes"][0]["happenedAt"],
        "2024-03-07T15:50:00Z"
    );
    // The connector sees "out for delivery" and skips an older in-transit, but
    // delivery still goes through (its happenedAt is later than the example's).
    c.push_delivery_status(&delivery("1001", UPS_NUMBER, TrackingStatus::InTransit, 1))
        .await
        .unwrap();
    c.push_delivery_status(&delivery("1001", UPS_NUMBER, TrackingStatus::Delivered, 0))
        .await
        .unwrap();
    assert_eq!(
        recorded_events(&stats(&e.base).await, "1001"),
        json!(["OUT_FOR_DELIVERY", "DELIVERED"])
    );
    // Shopify's refusals come back as user errors.
    let bad = gql(
        &e.base,
        doc["query"].as_str().unwrap(),
        json!({"fulfillmentEvent": {"fulfillmentId": "gid://shopify/Fulfillment/1", "status": "DELIVERED"}}),
    )
    .await;
    assert_eq!(
        bad["data"]["fulfillmentEventCreate"]["userErrors"][0]["field"],
        json!(["fulfillmentEvent", "fulfillmentId"])
    );
    assert!(bad["data"]["fulfillmentEventCreate"]["fulfillmentEvent"].is_null());
    // An unknown status is a GraphQL error, as for any enum.
    let wrong = gql(
        &e.base,
        doc["query"].as_str().unwrap(),
        json!({"fulfillmentEvent": {"fulfillmentId": "gid://shopify/Fulfillment/1", "status": "TELEPORTED"}}),
    )
    .await;
    assert!(wrong["errors"].is_array(), "{wrong}");
}

#[tokio::test]
async fn lost_answers_do_not_duplicate_events() {
    let (e, _) = shipped_env(1).await;
    // Every other request or so does its work and then never answers.
    set_faults(
        &e.base,
        &FaultConfig {
            rate_timeout_after_success: 0.4,
            timeout_ms: Some(1000),
            seed: Some(7),
            ..FaultConfig::default()
        },
    )
    .await;
    let fast = HttpClient::new("shopify:test", Duration::from_millis(300), None).with_retry_policy(
        RetryPolicy {
            max_attempts: 10,
            base: Duration::from_millis(10),
            max: Duration::from_millis(100),
        },
    );
    let c = ShopifyConnector::new(setup(&e.base, TOKEN))
        .unwrap()
        .with_http_client(fast);
    for (status, minutes_ago) in [
        (TrackingStatus::InTransit, 30),
        (TrackingStatus::InTransit, 25),
        (TrackingStatus::OutForDelivery, 20),
        (TrackingStatus::Delivered, 10),
        (TrackingStatus::Delivered, 10),
    ] {
        c.push_delivery_status(&delivery("1001", UPS_NUMBER, status, minutes_ago))
            .await
            .unwrap();
    }
    let s = stats(&e.base).await;
    assert!(
        s.faults_injected
            .get("timeout_after_success")
            .copied()
            .unwrap_or(0)
            > 0,
        "{s:?}"
    );
    assert_eq!(
        recorded_events(&s, "1001"),
        json!(["IN_TRANSIT", "OUT_FOR_DELIVERY", "DELIVERED"])
    );
}

// ---------------------------------------------------------------- stock

mod stock {
    use super::super::client::{set_quantities_input, sku_search, stock_target_in};
    use super::super::wire::{GraphqlResponse, InventorySetQuantitiesData, ProductVariantsData};
    use serde_json::Value;

    #[test]
    fn variant_lookup_picks_the_exact_sku_and_its_location() {
        let resp: GraphqlResponse<Value> = serde_json::from_str(include_str!(
            "testdata/graphql_product_variants_by_sku.json"
        ))
        .unwrap();
        let data: ProductVariantsData = serde_json::from_value(resp.data.unwrap()).unwrap();
        let t = stock_target_in(&data, "SKU-005", None).unwrap();
        assert_eq!(
            t.inventory_item_id,
            "gid://shopify/InventoryItem/46000000004"
        );
        assert_eq!(t.location_id, "gid://shopify/Location/71234567890");
        // A prefix match is not the sku; a location it is not stocked at is none.
        assert!(stock_target_in(&data, "SKU-00", None).is_none());
        assert!(stock_target_in(&data, "SKU-0055", None).is_none());
        assert!(stock_target_in(&data, "SKU-005", Some("gid://shopify/Location/1")).is_none());
        assert_eq!(sku_search("SKU-005"), r#"sku:"SKU-005""#);
        assert_eq!(sku_search(r#"a"b"#), r#"sku:"a\"b""#);
        let input = serde_json::to_value(set_quantities_input(&t, -3)).unwrap();
        assert_eq!(input["name"], "available");
        assert_eq!(input["reason"], "correction");
        assert_eq!(input["ignoreCompareQuantity"], true);
        assert_eq!(input["quantities"][0]["quantity"], 0);
        assert_eq!(
            input["quantities"][0]["inventoryItemId"],
            t.inventory_item_id
        );
        assert_eq!(input["quantities"][0]["locationId"], t.location_id);
    }

    #[test]
    fn set_quantities_answer_decodes() {
        let resp: GraphqlResponse<Value> = serde_json::from_str(include_str!(
            "testdata/graphql_inventory_set_quantities.json"
        ))
        .unwrap();
        let data: InventorySetQuantitiesData = serde_json::from_value(resp.data.unwrap()).unwrap();
        let p = data.inventory_set_quantities.unwrap();
        assert!(p.user_errors.is_empty());
        assert_eq!(
            p.inventory_adjustment_group.unwrap()["reason"],
            "correction"
        );
    }
}
