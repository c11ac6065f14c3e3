use super::client::AmazonConnector;
use super::mapping::{normalize, order_from_value};
use super::sandbox::{profile, AmazonLimits, AmazonSandbox, UsagePlan, CONFIRM_PATH};
use crate::marketplace::{ChannelSetup, Marketplace, PushLine, TrackingPush, WebhookOrder};
use crate::sandbox::{serve, FaultConfig};
use chrono::{Duration as ChronoDuration, Utc};
use orderhub_core::{FulfillmentStatus, Order, OrderStatus, PaymentStatus};
use rust_decimal::Decimal;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

const ORDER: &str = include_str!("testdata/order.json");
const SEARCH: &str = include_str!("testdata/search_orders_response.json");

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

#[test]
fn documented_order_maps_with_consistent_totals() {
    let o = normalize(ORDER).unwrap();
    o.check_totals().unwrap();
    assert_eq!(o.channel, "amazon");
    assert_eq!(o.external_id, "123-4567890-1234567");
    assert_eq!(o.currency.as_str(), "USD");
    assert_eq!(o.lines.len(), 2);
    let echo = &o.lines[0];
    assert_eq!(echo.external_id.as_deref(), Some("12345678901234"));
    assert_eq!(echo.sku.as_deref(), Some("ECHO-DOT-4-CHARCOAL"));
    assert_eq!(
        (echo.quantity, echo.unit_price, echo.total),
        (2, d("49.99"), d("99.98"))
    );
    assert_eq!(echo.tax, d("0.02"));
    assert_eq!(o.lines[1].total, d("49.99"));
    assert_eq!(o.subtotal, d("149.97"));
    assert_eq!(o.tax_total, d("0.02"));
    // The order-level DELIVERY_TIP is the one extra charge.
    assert_eq!(o.shipping_total, d("5.00"));
    assert_eq!(o.total, d("154.99"));
    assert_eq!(o.status, OrderStatus::Shipped);
    assert_eq!(o.payment_status, PaymentStatus::Paid);
    assert_eq!(o.fulfillment_status, FulfillmentStatus::Fulfilled);
    assert_eq!(o.placed_at.to_rfc3339(), "2024-12-25T10:30:00+00:00");
    assert_eq!(o.updated_at.to_rfc3339(), "2024-12-25T14:45:00+00:00");
    let to = o.ship_to.as_ref().unwrap();
    assert_eq!(to.country.as_deref(), Some("US"));
    assert_eq!(to.line2.as_deref(), Some("Suite 456"));
    assert_eq!(
        (to.city.as_deref(), to.region.as_deref()),
        (Some("Seattle"), Some("WA"))
    );
    let c = o.customer.as_ref().unwrap();
    assert_eq!(
        c.email.as_deref(),
        Some("buyer-email@marketplace.amazon.com")
    );
    assert_eq!(o.shipping_method.as_deref(), Some("STANDARD"));
    // getOrder's `{"order": ...}` envelope is accepted too.
    let wrapped = format!("{{\"order\": {ORDER}}}");
    assert_eq!(normalize(&wrapped).unwrap(), o);
}

#[test]
fn documented_search_response_maps_every_order() {
    let page: super::wire::SearchOrdersResponse = serde_json::from_str(SEARCH).unwrap();
    assert_eq!(page.orders.len(), 1);
    assert!(page.pagination.unwrap().next_token.is_some());
    for raw in &page.orders {
        order_from_value(raw).unwrap().check_totals().unwrap();
    }
}

#[test]
fn bad_money_names_the_field_and_grand_total_must_agree() {
    let mut v: serde_json::Value = serde_json::from_str(ORDER).unwrap();
    v["orderItems"][0]["product"]["price"]["unitPrice"]["amount"] = "N/A".into();
    let e = order_from_value(&v).unwrap_err();
    assert!(e.field.contains("unitPrice"), "{e}");
    let mut v: serde_json::Value = serde_json::from_str(ORDER).unwrap();
    v["proceeds"]["grandTotal"]["amount"] = "1.00".into();
    assert_eq!(
        order_from_value(&v).unwrap_err().field,
        "proceeds.grandTotal"
    );
    let mut v: serde_json::Value = serde_json::from_str(ORDER).unwrap();
    v["fulfillment"]["fulfillmentStatus"] = "CANCELLED".into();
    assert_eq!(order_from_value(&v).unwrap().status, OrderStatus::Cancelled);
}

fn setup(base: &str, options: &[(&str, &str)]) -> ChannelSetup {
    let p = profile();
    let mut opts = p.options.clone();
    for (k, v) in options {
        opts.insert(k.to_string(), v.to_string());
    }
    ChannelSetup {
        channel_id: "amazon-test".into(),
        base_url: base.into(),
        options: opts,
        secrets: p.secrets.clone(),
        request_timeout: Duration::from_millis(500),
    }
}

#[test]
fn setup_is_validated_and_secrets_stay_out_of_debug() {
    let mut s = setup(
        "http://127.0.0.1:1",
        &[("page_size", "500"), ("marketplace_id", "x")],
    );
    s.secrets.remove("refresh_token");
    let err = AmazonConnector::new(s).unwrap_err();
    assert!(
        err.contains("refresh_token")
            && err.contains("page_size")
            && err.contains("marketplace_id"),
        "{err}"
    );
    let c = AmazonConnector::new(setup("http://127.0.0.1:1", &[])).unwrap();
    let shown = format!("{c:?}");
    for secret in profile().secrets.values() {
        assert!(!shown.contains(secret.as_str()));
    }
}

#[test]
fn no_http_webhooks_verify_and_notifications_name_the_order() {
    let c = AmazonConnector::new(setup("http://127.0.0.1:1", &[])).unwrap();
    // Fail closed: nothing over HTTP carries an Amazon signature.
    assert!(c.verify_webhook(&http::HeaderMap::new(), b"{}").is_err());
    let body = br#"{"NotificationType":"ORDER_CHANGE","Payload":{"OrderChangeNotification":{"AmazonOrderId":"113-0000001-0000001"}}}"#;
    match c.order_from_webhook("ORDER_CHANGE", body).unwrap() {
        WebhookOrder::Changed { external_id } => assert_eq!(external_id, "113-0000001-0000001"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        c.order_from_webhook("x", b"{}").unwrap(),
        WebhookOrder::Ignored
    ));
    assert!(c.order_from_webhook("x", b"not json").is_err());
}

struct Running {
    sb: Arc<AmazonSandbox>,
    base: String,
    _server: tokio::task::JoinHandle<()>,
}

async fn start(limits: AmazonLimits) -> Running {
    let sb = AmazonSandbox::new(profile(), limits);
    let (addr, server) = serve(sb.clone().router(), "127.0.0.1:0").await.unwrap();
    Running {
        sb,
        base: format!("http://{addr}"),
        _server: server,
    }
}

async fn fetch_all(c: &AmazonConnector, since: chrono::DateTime<Utc>) -> (Vec<Order>, usize) {
    let (mut orders, mut quarantined, mut page) = (vec![], 0, None);
    loop {
        let p = c.fetch_orders(since, page).await.unwrap();
        for o in p.orders {
            match o {
                Ok(o) => orders.push(o),
                Err(_) => quarantined += 1,
            }
        }
        match p.next_page {
            Some(t) => page = Some(t),
            None => return (orders, quarantined),
        }
    }
}

#[tokio::test]
async fn full_paging_since_filter_and_touch() {
    let r = start(AmazonLimits::volume()).await;
    let old = Utc::now() - ChronoDuration::hours(2);
    let ids = r.sb.seed_orders(300, old, 1000);
    let c = AmazonConnector::new(setup(&r.base, &[])).unwrap();
    let (orders, q) = fetch_all(&c, old - ChronoDuration::minutes(1)).await;
    assert_eq!((orders.len(), q), (300, 0));
    for o in &orders {
        o.check_totals().unwrap();
        assert!(o
            .lines
            .iter()
            .all(|l| l.sku.as_deref().unwrap().starts_with("SKU-0")));
        assert_eq!(o.status, OrderStatus::Awaiting);
    }
    // Only the last 100 were updated at or after the 200th's time.
    let (newer, _) = fetch_all(&c, old + ChronoDuration::seconds(200)).await;
    assert_eq!(newer.len(), 100);
    // A touch makes the order show up in a window that starts now.
    let now = Utc::now();
    assert_eq!(fetch_all(&c, now).await.0.len(), 0);
    let client = reqwest::Client::new();
    let url = format!("{}/_sandbox/orders/{}/touch", r.base, ids[5]);
    let resp = client
        .post(&url)
        .body(r#"{"cancel": true}"#)
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success());
    let (touched, _) = fetch_all(&c, now).await;
    assert_eq!(touched.len(), 1);
    assert_eq!(touched[0].external_id, ids[5]);
    assert_eq!(touched[0].status, OrderStatus::Cancelled);
    let hook = client
        .get(format!("{}/_sandbox/orders/{}/webhook", r.base, ids[5]))
        .send()
        .await
        .unwrap();
    assert_eq!(hook.status(), 501);
}

#[tokio::test]
async fn malformed_order_is_quarantined_and_the_page_kept() {
    let r = start(AmazonLimits::volume()).await;
    let since = Utc::now() - ChronoDuration::hours(1);
    r.sb.seed_orders(50, since, 10);
    r.sb.core
        .set_faults(FaultConfig {
            rate_malformed: 1.0,
            seed: Some(1),
            ..Default::default()
        })
        .unwrap();
    let c = AmazonConnector::new(setup(&r.base, &[])).unwrap();
    let page = c.fetch_orders(since, None).await.unwrap();
    let bad: Vec<_> = page
        .orders
        .iter()
        .filter_map(|o| o.as_ref().err())
        .collect();
    assert_eq!((page.orders.len(), bad.len()), (50, 1));
    let id = bad[0].external_id.clone().unwrap();
    assert!(bad[0].raw.contains(&id) && bad[0].reason.contains("unitPrice"));
}

#[tokio::test]
async fn faults_are_survived_without_ever_being_throttled() {
    let r = start(AmazonLimits::volume()).await;
    let since = Utc::now() - ChronoDuration::hours(1);
    r.sb.seed_orders(300, since, 10);
    r.sb.core
        .set_faults(FaultConfig {
            rate_429: 0.15,
            rate_5xx: 0.15,
            rate_timeout: 0.1,
            timeout_ms: Some(1500),
            seed: Some(7),
            ..Default::default()
        })
        .unwrap();
    let c = AmazonConnector::new(setup(&r.base, &[("page_size", "50")])).unwrap();
    let (orders, q) = fetch_all(&c, since).await;
    assert_eq!((orders.len(), q), (300, 0));
    let stats = r.sb.core.stats();
    assert!(stats.faults_total() > 0);
    assert_eq!(stats.throttled, 0);
}

/// Over 1,000 orders the client never meets QuotaExceeded and, once the burst
/// is spent, runs at ≥ 95 % of the refill rate (a sped-up bucket: 10/s, burst 3).
#[tokio::test]
async fn client_paces_itself_at_the_refill_rate() {
    let plan = UsagePlan {
        rate: 10.0,
        burst: 3,
    };
    let r = start(AmazonLimits {
        search_orders: plan,
        ..AmazonLimits::volume()
    })
    .await;
    let since = Utc::now() - ChronoDuration::hours(1);
    r.sb.seed_orders(1000, since, 10);
    let c = AmazonConnector::new(setup(
        &r.base,
        &[
            ("page_size", "20"),
            ("search_orders_rate", "10"),
            ("search_orders_burst", "3"),
        ],
    ))
    .unwrap();
    let (mut total, mut page, mut requests) = (0, None, 0u32);
    let mut after_burst = None;
    loop {
        let p = c.fetch_orders(since, page).await.unwrap();
        requests += 1;
        if requests == plan.burst {
            after_burst = Some(Instant::now());
        }
        total += p.orders.len();
        match p.next_page {
            Some(t) => page = Some(t),
            None => break,
        }
    }
    let paced = requests - plan.burst;
    let secs = after_burst.unwrap().elapsed().as_secs_f64();
    let rate = paced as f64 / secs;
    assert_eq!(total, 1000);
    assert_eq!(r.sb.core.stats().throttled, 0, "no QuotaExceeded");
    assert!(
        rate >= 0.95 * plan.rate,
        "{paced} requests in {secs:.2}s = {rate:.2}/s"
    );
    assert!(rate <= plan.rate * 1.05, "{rate:.2}/s");
}

fn push(id: &str, number: &str) -> TrackingPush {
    TrackingPush {
        order_external_id: id.into(),
        carrier: "USPS".into(),
        tracking_number: number.into(),
        tracking_url: None,
        notify_customer: true,
        lines: vec![],
        shipped_at: Utc::now(),
    }
}

fn recorded(sb: &AmazonSandbox, id: &str) -> usize {
    sb.core.stats().recorded["tracking"][id]
        .as_array()
        .map_or(0, Vec::len)
}

#[tokio::test]
async fn tracking_is_recorded_once_even_after_timeouts() {
    let r = start(AmazonLimits::volume()).await;
    let ids =
        r.sb.seed_orders(3, Utc::now() - ChronoDuration::hours(1), 10);
    let c = AmazonConnector::new(setup(&r.base, &[])).unwrap();
    c.push_tracking(&push(&ids[0], "9400100000000000000001"))
        .await
        .unwrap();
    c.push_tracking(&push(&ids[0], "9400100000000000000001"))
        .await
        .unwrap();
    assert_eq!(recorded(&r.sb, &ids[0]), 1);
    // The confirmation lands, then the answer never arrives in time.
    r.sb.core
        .set_faults(FaultConfig {
            rate_timeout_after_success: 1.0,
            timeout_ms: Some(1500),
            paths: vec!["shipmentConfirmation".into()],
            ..Default::default()
        })
        .unwrap();
    let mut p = push(&ids[1], "9400100000000000000002");
    p.lines = vec![PushLine {
        external_id: None,
        sku: Some("SKU-001".into()),
        quantity: 1,
    }];
    c.push_tracking(&p).await.unwrap();
    assert_eq!(recorded(&r.sb, &ids[1]), 1);
    assert!(r.sb.core.stats().requests_by_path[CONFIRM_PATH] >= 2);
    // The order now reads as shipped.
    r.sb.core.set_faults(FaultConfig::default()).unwrap();
    let o = c.get_order(&ids[1]).await.unwrap().order;
    assert_eq!(o.fulfillment.unwrap().fulfillment_status, "SHIPPED");
    assert_eq!(r.sb.core.stats().throttled, 0);
}

#[tokio::test]
async fn revoked_credentials_are_a_permanent_auth_failure() {
    let r = start(AmazonLimits::volume()).await;
    r.sb.seed_orders(2, Utc::now() - ChronoDuration::minutes(5), 10);
    let since = Utc::now() - ChronoDuration::hours(1);
    let warm = AmazonConnector::new(setup(&r.base, &[])).unwrap();
    warm.fetch_orders(since, None).await.unwrap();
    r.sb.core.set_credentials_revoked(true);
    // An access token already held stops working, and so does the refresh.
    let e = warm.fetch_orders(since, None).await.unwrap_err();
    assert!(e.is_auth_failure(), "{e:?}");
    let cold = AmazonConnector::new(setup(&r.base, &[])).unwrap();
    let e = cold.fetch_orders(since, None).await.unwrap_err();
    assert!(e.is_auth_failure(), "{e:?}");
    for secret in profile().secrets.values() {
        assert!(!e.to_string().contains(secret.as_str()));
    }
    r.sb.core.set_credentials_revoked(false);
    assert_eq!(
        warm.fetch_orders(since, None).await.unwrap().orders.len(),
        2
    );
}

#[test]
fn carriers_map_to_amazon_codes() {
    use super::client::amazon_carrier_code as code;
    assert_eq!(code("USPS"), Some("USPS"));
    assert_eq!(code("FedEx"), Some("FedEx"));
    assert_eq!(code("DHL Express"), Some("DHL"));
    assert_eq!(code("Royal Mail"), Some("Royal Mail"));
    assert_eq!(code("Pigeon Post"), None);
}

// ---------------------------------------------------------------- stock

mod stock {
    use super::super::client::stock_patch;
    use super::super::wire::ListingsItemSubmissionResponse;

    #[test]
    fn patch_body_and_answer_match_the_reference() {
        let body = serde_json::to_value(stock_patch(7)).unwrap();
        let documented: serde_json::Value =
            serde_json::from_str(include_str!("testdata/patch_listings_item_request.json"))
                .unwrap();
        assert_eq!(body, documented);
        assert_eq!(
            serde_json::to_value(stock_patch(-2)).unwrap()["patches"][0]["value"][0]["quantity"],
            0
        );
        let r: ListingsItemSubmissionResponse =
            serde_json::from_str(include_str!("testdata/patch_listings_item_response.json"))
                .unwrap();
        assert_eq!((r.sku.as_str(), r.status.as_str()), ("SKU-005", "ACCEPTED"));
        assert!(r.issues.is_empty());
    }
}
