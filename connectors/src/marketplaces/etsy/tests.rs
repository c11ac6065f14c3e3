use super::client::{etsy_carrier_name, sign_webhook, verify_etsy_webhook, EtsyConnector};
use super::mapping::{money, normalize, order_from_value};
use super::sandbox::{profile, EtsySandbox, EtsySandboxOptions};
use super::wire::Money;
use crate::http::{HttpClient, RemoteError, RetryPolicy};
use crate::marketplace::{ChannelSetup, Marketplace, TrackingPush, WebhookError, WebhookOrder};
use crate::sandbox::{serve, FaultConfig};
use chrono::{TimeZone, Utc};
use orderhub_core::{FulfillmentStatus, Order, OrderStatus, PaymentStatus};
use rust_decimal::Decimal;
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;

const GET_RECEIPT: &str = include_str!("testdata/get_receipt.json");
const RECEIPTS: &str = include_str!("testdata/receipts_response.json");
const WEBHOOK: &str = include_str!("testdata/webhook_order_paid.json");

fn dec(s: &str) -> Decimal {
    s.parse().unwrap()
}

#[test]
fn documented_receipt_maps_exactly() {
    let o = normalize(GET_RECEIPT).unwrap();
    o.check_totals().unwrap();
    assert_eq!(o.external_id, "3512345678");
    assert_eq!(o.currency.as_str(), "USD");
    assert_eq!(o.total, dec("50.13"));
    assert_eq!(o.subtotal, dec("46.00"));
    assert_eq!(o.discount_total, dec("5.00"));
    assert_eq!(o.shipping_total, dec("5.95"));
    assert_eq!(o.tax_total, dec("3.18"));
    assert_eq!(o.lines.len(), 2);
    let l = &o.lines[0];
    assert_eq!(l.external_id.as_deref(), Some("4123456701"));
    assert_eq!(l.sku.as_deref(), Some("MUG-BLUE"));
    assert_eq!(
        (l.quantity, l.unit_price, l.total),
        (2, dec("18.00"), dec("36.00"))
    );
    assert_eq!(o.lines[1].sku, None, "an empty sku is no sku");
    let a = o.ship_to.as_ref().unwrap();
    assert_eq!(a.line1.as_deref(), Some("123 Main St"));
    assert_eq!(a.line2.as_deref(), Some("Apt 4B"));
    assert_eq!(a.region.as_deref(), Some("NY"));
    assert_eq!(a.country.as_deref(), Some("US"));
    assert_eq!(
        o.customer.as_ref().unwrap().email.as_deref(),
        Some("buyer@example.com")
    );
    assert_eq!(o.shipping_method.as_deref(), Some("USPS Priority Mail"));
    assert_eq!(o.status, OrderStatus::Awaiting);
    assert_eq!(o.payment_status, PaymentStatus::Paid);
    assert_eq!(o.fulfillment_status, FulfillmentStatus::Unfulfilled);
    assert_eq!(o.placed_at, Utc.timestamp_opt(1758153645, 0).unwrap());
    assert_eq!(o.updated_at, Utc.timestamp_opt(1758157245, 0).unwrap());
}

#[test]
fn documented_list_maps_each_receipt() {
    let page: Value = serde_json::from_str(RECEIPTS).unwrap();
    let orders: Vec<Order> = page["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| order_from_value(r).unwrap())
        .collect();
    assert_eq!(page["count"], 2);
    let uk = &orders[1];
    uk.check_totals().unwrap();
    assert_eq!(uk.currency.as_str(), "GBP");
    assert_eq!(
        uk.tax_total,
        dec("4.79"),
        "VAT collected on top counts as tax"
    );
    assert_eq!(uk.total, dec("28.74"));
    assert_eq!(uk.status, OrderStatus::Shipped);
    assert_eq!(uk.fulfillment_status, FulfillmentStatus::Fulfilled);
    assert_eq!(uk.ship_to.as_ref().unwrap().region, None);
}

#[test]
fn money_is_exact_and_checked() {
    let m = |amount, divisor, c: &str| Money {
        amount,
        divisor,
        currency_code: c.into(),
    };
    assert_eq!(
        money("x", &m(1250, 100, "USD"), "USD").unwrap(),
        dec("12.50")
    );
    assert_eq!(
        money("x", &m(1250, 1000, "USD"), "USD").unwrap(),
        dec("1.250")
    );
    assert_eq!(money("x", &m(500, 1, "JPY"), "JPY").unwrap(), dec("500"));
    assert!(money("x", &m(1, 0, "USD"), "USD").is_err());
    assert!(money("x", &m(1, 100, "EUR"), "USD").is_err());
    // A spoiled amount or totals that do not add up are mapping errors, not panics.
    let mut v: Value = serde_json::from_str(GET_RECEIPT).unwrap();
    v["grandtotal"]["amount"] = Value::from("12.50");
    assert!(order_from_value(&v)
        .unwrap_err()
        .field
        .contains("grandtotal"));
    let mut v: Value = serde_json::from_str(GET_RECEIPT).unwrap();
    v["grandtotal"]["amount"] = Value::from(9999);
    assert!(order_from_value(&v).is_err());
    assert!(normalize("not json").is_err());
}

#[test]
fn carriers_map_to_etsy_names() {
    assert_eq!(etsy_carrier_name("USPS"), "usps");
    assert_eq!(etsy_carrier_name("FedEx"), "fedex");
    assert_eq!(etsy_carrier_name("DHL Express"), "dhl-express");
    assert_eq!(etsy_carrier_name("Royal Mail"), "royal-mail");
    assert_eq!(
        etsy_carrier_name("Some Local Courier"),
        "some-local-courier"
    );
}

#[test]
fn webhook_signatures_verify_on_raw_bytes() {
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let now = Utc::now();
    let ts = now.timestamp().to_string();
    let sig = sign_webhook(secret, "msg_1", &ts, WEBHOOK.as_bytes());
    let mut h = http::HeaderMap::new();
    h.insert("webhook-id", "msg_1".parse().unwrap());
    h.insert("webhook-timestamp", ts.parse().unwrap());
    h.insert(
        "webhook-signature",
        format!("v1,bogus {sig}").parse().unwrap(),
    );
    let ok = verify_etsy_webhook(Some(secret), &h, WEBHOOK.as_bytes(), now).unwrap();
    assert_eq!(
        (ok.delivery_id.as_str(), ok.topic.as_str()),
        ("msg_1", "order.paid")
    );
    let tampered = WEBHOOK.replace("54321", "54322");
    assert_eq!(
        verify_etsy_webhook(Some(secret), &h, tampered.as_bytes(), now).unwrap_err(),
        WebhookError::BadSignature
    );
    assert_eq!(
        verify_etsy_webhook(None, &h, WEBHOOK.as_bytes(), now).unwrap_err(),
        WebhookError::BadSignature,
        "no secret: fail closed"
    );
    let late = now + chrono::Duration::minutes(10);
    assert!(verify_etsy_webhook(Some(secret), &h, WEBHOOK.as_bytes(), late).is_err());
    h.remove("webhook-signature");
    assert_eq!(
        verify_etsy_webhook(Some(secret), &h, WEBHOOK.as_bytes(), now).unwrap_err(),
        WebhookError::MissingHeader("webhook-signature")
    );
}

fn setup(base: &str) -> ChannelSetup {
    let p = profile();
    ChannelSetup {
        channel_id: "etsy-1".into(),
        base_url: base.into(),
        options: p.options.clone(),
        secrets: p.secrets.clone(),
        request_timeout: Duration::from_millis(500),
    }
}

#[test]
fn config_problems_are_listed_and_secrets_hidden() {
    let c = EtsyConnector::new(setup("https://openapi.etsy.com/")).unwrap();
    assert_eq!(
        c.api_base(),
        "https://openapi.etsy.com/v3/application/shops/41224728"
    );
    let dbg = format!("{c:?}");
    for s in profile().secrets.values() {
        assert!(!dbg.contains(s.as_str()), "{dbg}");
    }
    let mut s = setup("ftp:/x");
    s.secrets.clear();
    s.options = BTreeMap::from([("page_size".to_string(), "500".to_string())]);
    let err = EtsyConnector::new(s).unwrap_err();
    for needle in [
        "base_url",
        "shop_id",
        "page_size",
        "keystring",
        "shared_secret",
        "refresh_token",
    ] {
        assert!(err.contains(needle), "{err}");
    }
}

#[test]
fn webhook_bodies_name_the_receipt() {
    let c = EtsyConnector::new(setup("https://openapi.etsy.com")).unwrap();
    match c
        .order_from_webhook("order.paid", WEBHOOK.as_bytes())
        .unwrap()
    {
        WebhookOrder::Changed { external_id } => assert_eq!(external_id, "54321"),
        other => panic!("{other:?}"),
    }
    let ping = br#"{"event_type":"ping","resource_url":"","shop_id":1}"#;
    assert!(matches!(
        c.order_from_webhook("ping", ping).unwrap(),
        WebhookOrder::Ignored
    ));
    assert!(c.order_from_webhook("order.paid", b"{").is_err());
    assert!(c
        .verify_webhook(&http::HeaderMap::new(), WEBHOOK.as_bytes())
        .is_err());
}

struct Running {
    sb: EtsySandbox,
    base: String,
    _server: tokio::task::JoinHandle<()>,
}

async fn start(token_lifetime: Duration) -> Running {
    let p = profile();
    let mut opts = EtsySandboxOptions::published(
        p.secret("keystring"),
        p.secret("shared_secret"),
        p.secret("refresh_token"),
    );
    opts.token_lifetime = token_lifetime;
    let sb = EtsySandbox::new(opts);
    let (addr, server) = serve(sb.router(), "127.0.0.1:0").await.unwrap();
    Running {
        sb,
        base: format!("http://{addr}"),
        _server: server,
    }
}

fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 8,
        base: Duration::from_millis(20),
        max: Duration::from_millis(300),
    }
}

fn connector(r: &Running) -> EtsyConnector {
    let s = setup(&r.base);
    let http = HttpClient::new("etsy:test", s.request_timeout, Some(super::CLIENT_RATE));
    EtsyConnector::new(s)
        .unwrap()
        .with_http_client(http, fast_retry())
}

/// Every page from `since`, in order; quarantined items counted.
async fn fetch_all(c: &EtsyConnector, since: chrono::DateTime<Utc>) -> (Vec<Order>, usize) {
    let (mut orders, mut bad, mut page) = (Vec::new(), 0, None);
    loop {
        let p = c.fetch_orders(since, page).await.unwrap();
        for o in p.orders {
            match o {
                Ok(o) => orders.push(o),
                Err(_) => bad += 1,
            }
        }
        match p.next_page {
            Some(n) => page = Some(n),
            None => return (orders, bad),
        }
    }
}

fn distinct(orders: &[Order]) -> usize {
    orders
        .iter()
        .map(|o| o.external_id.as_str())
        .collect::<std::collections::BTreeSet<_>>()
        .len()
}

#[tokio::test]
async fn full_sync_since_filter_touch_and_refresh() {
    let r = start(Duration::from_secs(2)).await;
    let start_at = Utc::now() - chrono::Duration::hours(2);
    let ids = r.sb.seed(300, Some(start_at), 10_000);
    let c = connector(&r);
    let (orders, bad) = fetch_all(&c, start_at - chrono::Duration::seconds(1)).await;
    assert_eq!((distinct(&orders), bad), (300, 0));
    // Pages re-read a few items (the overlap); first sightings come oldest first.
    let mut seen = std::collections::BTreeSet::new();
    let firsts: Vec<&Order> = orders
        .iter()
        .filter(|o| seen.insert(o.external_id.clone()))
        .collect();
    assert!(firsts
        .windows(2)
        .all(|w| w[0].updated_at <= w[1].updated_at));
    for o in &orders {
        o.check_totals().unwrap();
        assert!(o
            .lines
            .iter()
            .all(|l| l.sku.as_deref().unwrap_or("").starts_with("SKU-0")));
    }
    // `since` filters: the last 100 (10 s apart) are within the last ~1000 s.
    let since = firsts[200].updated_at;
    let (recent, _) = fetch_all(&c, since).await;
    assert_eq!(distinct(&recent), 100);
    // The access token (2 s here) runs out and is refreshed.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let now = Utc::now();
    let touched = &ids[5];
    let client = reqwest::Client::new();
    let t = client
        .post(format!("{}/_sandbox/orders/{touched}/touch", r.base))
        .body(r#"{"cancel": true}"#)
        .send()
        .await
        .unwrap();
    assert!(t.status().is_success());
    let (after, _) = fetch_all(&c, now - chrono::Duration::seconds(5)).await;
    let o = after
        .iter()
        .find(|o| &o.external_id == touched)
        .expect("touched receipt seen");
    assert_eq!(o.status, OrderStatus::Cancelled);
    let stats = r.sb.core().stats();
    assert!(
        stats.requests_by_path["/v3/public/oauth/token"] >= 2,
        "{stats:?}"
    );
    assert_eq!(stats.throttled, 0);
}

#[tokio::test]
async fn faults_are_survived_and_bad_receipts_quarantined() {
    let r = start(Duration::from_secs(3600)).await;
    let start_at = Utc::now() - chrono::Duration::hours(1);
    r.sb.seed(250, Some(start_at), 1000);
    let c = connector(&r);
    r.sb.core()
        .set_faults(FaultConfig {
            rate_malformed: 1.0,
            paths: vec!["/receipts".into()],
            ..FaultConfig::default()
        })
        .unwrap();
    let page = c.fetch_orders(start_at, None).await.unwrap();
    let bad: Vec<_> = page
        .orders
        .iter()
        .filter_map(|o| o.as_ref().err())
        .collect();
    assert_eq!((page.orders.len(), bad.len()), (100, 1));
    assert!(
        bad[0].external_id.is_some() && bad[0].reason.contains("grandtotal"),
        "{:?}",
        bad[0]
    );
    r.sb.core()
        .set_faults(FaultConfig {
            rate_429: 0.15,
            rate_5xx: 0.15,
            rate_timeout: 0.1,
            timeout_ms: Some(1500),
            retry_after_secs: Some(0.2),
            seed: Some(3),
            ..FaultConfig::default()
        })
        .unwrap();
    let (orders, bad) = fetch_all(&c, start_at).await;
    assert_eq!((distinct(&orders), bad), (250, 0));
    let stats = r.sb.core().stats();
    assert!(stats.faults_total() > 0);
    assert_eq!(stats.throttled, 0, "the client never exceeds 10/s");
}

#[tokio::test]
async fn burst_stays_under_the_published_limit() {
    let r = start(Duration::from_secs(3600)).await;
    let ids = r.sb.seed(5, None, 1000);
    let c = std::sync::Arc::new(connector(&r));
    let tasks: Vec<_> = (0..30)
        .map(|i| {
            let c = c.clone();
            let since = Utc::now() - chrono::Duration::hours(1);
            let _ = &ids;
            tokio::spawn(async move {
                c.fetch_orders(since, (i % 2 == 0).then(|| "0".into()))
                    .await
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(r.sb.core().stats().throttled, 0);
}

fn push(id: &str, number: &str) -> TrackingPush {
    TrackingPush {
        order_external_id: id.into(),
        carrier: "USPS".into(),
        tracking_number: number.into(),
        tracking_url: None,
        notify_customer: false,
        lines: vec![],
        shipped_at: Utc::now(),
    }
}

#[tokio::test]
async fn tracking_is_recorded_once() {
    let r = start(Duration::from_secs(3600)).await;
    let ids = r.sb.seed(3, None, 1000);
    let c = connector(&r);
    c.push_tracking(&push(&ids[0], "9400111899223344556677"))
        .await
        .unwrap();
    c.push_tracking(&push(&ids[0], "9400111899223344556677"))
        .await
        .unwrap();
    // The POST is applied, then the answer never arrives.
    r.sb.core()
        .set_faults(FaultConfig {
            rate_timeout_after_success: 1.0,
            timeout_ms: Some(1500),
            paths: vec!["/tracking".into()],
            ..FaultConfig::default()
        })
        .unwrap();
    c.push_tracking(&push(&ids[1], "1Z999AA10123456784"))
        .await
        .unwrap();
    let rec = r.sb.core().stats().recorded;
    assert_eq!(
        rec["tracking"][&ids[0]].as_array().unwrap().len(),
        1,
        "{rec}"
    );
    assert_eq!(
        rec["tracking"][&ids[1]].as_array().unwrap().len(),
        1,
        "{rec}"
    );
    assert_eq!(rec["tracking"][&ids[0]][0]["carrier"], "usps");
    let receipt = r.sb.receipt_json(&ids[1]).unwrap();
    assert_eq!(receipt["is_shipped"], true);
    assert_eq!(receipt["status"], "completed");
}

#[tokio::test]
async fn revoked_credentials_and_wrong_api_key_are_permanent() {
    let r = start(Duration::from_secs(3600)).await;
    r.sb.seed(3, None, 1000);
    let since = Utc::now() - chrono::Duration::hours(1);
    let c = connector(&r);
    c.fetch_orders(since, None).await.unwrap();
    r.sb.core().set_credentials_revoked(true);
    let err = c.fetch_orders(since, None).await.unwrap_err();
    assert!(err.is_auth_failure(), "{err:?}");
    r.sb.core().set_credentials_revoked(false);

    let mut s = setup(&r.base);
    s.secrets.insert("shared_secret".into(), "wrong".into());
    let bad = EtsyConnector::new(s).unwrap();
    let err = bad.fetch_orders(since, None).await.unwrap_err();
    assert!(
        matches!(
            err,
            RemoteError::Permanent {
                status: Some(401 | 403),
                ..
            }
        ),
        "{err:?}"
    );
    assert!(!format!("{err:?}").contains("wrong"));
}

// ---------------------------------------------------------------- stock

mod stock {
    use super::super::wire::{inventory_with_quantity, ListingInventory};

    #[test]
    fn the_inventory_goes_back_whole_with_one_quantity_changed() {
        let inv: ListingInventory =
            serde_json::from_str(include_str!("testdata/listing_inventory.json")).unwrap();
        let up = inventory_with_quantity(&inv, "SKU-005", 7).unwrap();
        let v = serde_json::to_value(&up).unwrap();
        assert_eq!(v["products"][0]["sku"], "SKU-005");
        assert_eq!(v["products"][0]["offerings"][0]["quantity"], 7);
        assert_eq!(v["products"][0]["offerings"][0]["price"], 20.0);
        assert_eq!(v["products"][0]["offerings"][0]["is_enabled"], true);
        // The other product keeps its quantity, price and properties.
        assert_eq!(v["products"][1]["offerings"][0]["quantity"], 4);
        assert_eq!(v["products"][1]["offerings"][0]["price"], 22.5);
        assert_eq!(v["products"][1]["property_values"][0]["value_ids"][0], 1234);
        assert_eq!(v["quantity_on_property"][0], 100);
        // Money objects and read-only ids are not sent back.
        assert!(v["products"][0].get("product_id").is_none());
        assert!(v["products"][0]["offerings"][0]
            .get("offering_id")
            .is_none());
        assert!(inventory_with_quantity(&inv, "SKU-404", 1).is_none());
    }
}
