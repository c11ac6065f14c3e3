//! Mapping of the example payloads, webhook signatures, and the connector
//! against its sandbox over loopback HTTP.

use super::sandbox::{self, TiktokSandbox};
use super::*;
use crate::marketplace::{
    ChannelSetup, Marketplace, PushLine, TrackingPush, WebhookError, WebhookOrder,
};
use crate::sandbox::{serve, FaultConfig, SandboxLimits};
use chrono::{Duration as ChronoDuration, Utc};
use orderhub_core::{OrderStatus, PaymentStatus};
use rust_decimal::Decimal;
use std::time::Duration;

fn d(s: &str) -> Decimal {
    s.parse().unwrap()
}

#[test]
fn example_order_maps_and_adds_up() {
    let o = normalize(include_str!("testdata/order.json")).unwrap();
    o.check_totals().unwrap();
    assert_eq!(o.external_id, "576461413038785752");
    assert_eq!(o.currency.as_str(), "USD");
    assert_eq!(
        (o.status, o.payment_status),
        (OrderStatus::Awaiting, PaymentStatus::Paid)
    );
    assert_eq!(o.total, d("24.35"));
    assert_eq!(o.discount_total, d("3.00"));
    assert_eq!(o.shipping_total, d("5.99"));
    assert_eq!(o.tax_total, d("1.36"));
    // Two units with different discounts stay two lines.
    assert_eq!(o.lines.len(), 2);
    assert_eq!(o.lines[0].sku.as_deref(), Some("SKU-003"));
    assert_eq!(o.lines[0].total, d("7.00"));
    let a = o.ship_to.unwrap();
    assert_eq!(a.country.as_deref(), Some("US"));
    assert_eq!(a.city.as_deref(), Some("San Jose"));
    assert_eq!(a.region.as_deref(), Some("California"));
    assert_eq!(o.placed_at.timestamp(), 1619611561);
    assert_eq!(o.updated_at.timestamp(), 1619621355);
}

#[test]
fn identical_units_fold_into_one_line() {
    let mut v: serde_json::Value =
        serde_json::from_str(include_str!("testdata/order.json")).unwrap();
    v["line_items"][0]["sale_price"] = "10.00".into();
    v["line_items"][0]["seller_discount"] = "0".into();
    v["line_items"][0]["platform_discount"] = "0".into();
    v["payment"]["total_amount"] = "27.35".into();
    let o = normalize(&v.to_string()).unwrap();
    assert_eq!(o.lines.len(), 1);
    assert_eq!(o.lines[0].quantity, 2);
    assert_eq!(
        o.lines[0].external_id.as_deref(),
        Some("577086512123755123+577086512123755124")
    );
}

fn setup(base: &str) -> ChannelSetup {
    let p = sandbox::profile();
    ChannelSetup {
        channel_id: "tt".into(),
        base_url: base.into(),
        options: p.options.clone(),
        secrets: p.secrets.clone(),
        request_timeout: Duration::from_millis(500),
    }
}

#[test]
fn webhooks_verify_on_raw_bytes() {
    let c = TiktokConnector::new(setup("http://127.0.0.1:1")).unwrap();
    let p = sandbox::profile();
    let body = include_bytes!("testdata/webhook_order_status.json");
    let sig = sign_webhook(p.secret("app_key"), p.secret("app_secret"), body);
    let mut h = http::HeaderMap::new();
    h.insert(HEADER_SIGNATURE, sig.parse().unwrap());
    let v = c.verify_webhook(&h, body).unwrap();
    assert_eq!(v.delivery_id, "7327112393057371910");
    let mut tampered = body.to_vec();
    tampered[10] ^= 1;
    assert_eq!(
        c.verify_webhook(&h, &tampered).unwrap_err(),
        WebhookError::BadSignature
    );
    assert!(matches!(
        c.verify_webhook(&http::HeaderMap::new(), body),
        Err(WebhookError::MissingHeader(_))
    ));
    match c.order_from_webhook(&v.topic, body).unwrap() {
        WebhookOrder::Changed { external_id } => assert_eq!(external_id, "576461413038785752"),
        other => panic!("{other:?}"),
    }
}

async fn start_at(qps: usize) -> (TiktokSandbox, TiktokConnector, String) {
    let sb = TiktokSandbox::new(&sandbox::profile(), qps);
    let (addr, _h) = serve(sb.router(), "127.0.0.1:0").await.unwrap();
    let base = format!("http://{addr}");
    let c = TiktokConnector::new(setup(&base)).unwrap();
    (sb, c, base)
}

async fn start(qps: usize) -> (TiktokSandbox, TiktokConnector) {
    let (sb, c, _) = start_at(qps).await;
    (sb, c)
}

async fn fetch_all(c: &TiktokConnector, since: chrono::DateTime<Utc>) -> (usize, usize) {
    let (mut ok, mut bad, mut page) = (0, 0, None);
    loop {
        let p = c.fetch_orders(since, page).await.unwrap();
        for o in &p.orders {
            match o {
                Ok(o) => {
                    o.check_totals().unwrap();
                    ok += 1
                }
                Err(_) => bad += 1,
            }
        }
        page = p.next_page;
        if page.is_none() {
            return (ok, bad);
        }
    }
}

#[tokio::test]
async fn pages_filters_and_respects_the_limit() {
    let (sb, c, base) = start_at(sandbox::PUBLISHED_QPS).await;
    let start_at = Utc::now() - ChronoDuration::hours(2);
    let ids = sb.seed(300, Some(start_at), 10_000);
    assert_eq!(fetch_all(&c, start_at).await, (300, 0));
    let since = start_at + ChronoDuration::seconds(10 * 200);
    assert_eq!(fetch_all(&c, since).await.0, 100);
    // A touched order shows up in a poll from just before now.
    let now = Utc::now() - ChronoDuration::seconds(1);
    let r = reqwest::Client::new()
        .post(format!("{base}/_sandbox/orders/{}/touch", ids[0]))
        .body(r#"{"cancel": true}"#)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    let p = c.fetch_orders(now, None).await.unwrap();
    let touched = p.orders[0].as_ref().unwrap();
    assert_eq!(
        (touched.external_id.as_str(), touched.status),
        (ids[0].as_str(), OrderStatus::Cancelled)
    );
    // A burst stays under the published QPS.
    sb.core().reset_stats();
    for _ in 0..60 {
        c.fetch_orders(now, None).await.unwrap();
    }
    assert_eq!(sb.core().stats().throttled, 0);
}

#[tokio::test]
async fn malformed_quarantined_and_faults_survived() {
    let (sb, c) = start(sandbox::PUBLISHED_QPS).await;
    let start_at = Utc::now() - ChronoDuration::hours(1);
    sb.seed(50, Some(start_at), 1000);
    sb.core()
        .set_faults(FaultConfig {
            rate_malformed: 1.0,
            ..FaultConfig::default()
        })
        .unwrap();
    let p = c.fetch_orders(start_at, None).await.unwrap();
    assert_eq!(p.orders.iter().filter(|o| o.is_err()).count(), 1);
    assert_eq!(p.orders.len(), 50);
    sb.core()
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
    assert_eq!(fetch_all(&c, start_at).await, (50, 0));
}

#[tokio::test]
async fn tracking_once_even_when_retried_and_revoked_is_permanent() {
    let (sb, c) = start(sandbox::PUBLISHED_QPS).await;
    let ids = sb.seed(2, None, 1000);
    let push = |id: &str| TrackingPush {
        order_external_id: id.into(),
        carrier: "USPS".into(),
        tracking_number: "9400111899223100000001".into(),
        tracking_url: None,
        notify_customer: true,
        lines: vec![PushLine {
            external_id: None,
            sku: None,
            quantity: 1,
        }],
        shipped_at: Utc::now(),
    };
    c.push_tracking(&push(&ids[0])).await.unwrap();
    c.push_tracking(&push(&ids[0])).await.unwrap();
    sb.core()
        .set_faults(FaultConfig {
            rate_timeout_after_success: 1.0,
            timeout_ms: Some(1500),
            paths: vec!["/ship".into()],
            ..FaultConfig::default()
        })
        .unwrap();
    c.push_tracking(&push(&ids[1])).await.unwrap();
    let rec = sb.core().stats().recorded;
    for id in &ids {
        assert_eq!(rec["tracking"][id].as_array().unwrap().len(), 1);
    }
    assert_eq!(rec["tracking"][&ids[0]][0]["carrier"], "USPS");
    sb.core().set_faults(FaultConfig::default()).unwrap();
    sb.core().set_credentials_revoked(true);
    let err = c.fetch_orders(Utc::now(), None).await.unwrap_err();
    assert!(err.is_auth_failure(), "{err:?}");
}

#[tokio::test]
async fn published_router_builds() {
    let _ = sandbox::router(&sandbox::profile(), SandboxLimits::Published);
}

/// The sandbox checks TikTok's request signature: the same request signed
/// right is served, signed wrong (or unsigned) is refused with TikTok's error.
#[tokio::test]
async fn a_wrongly_signed_request_is_refused() {
    let (_sb, _c, base) = start_at(50).await;
    let p = sandbox::profile();
    let path = "/order/202309/orders/search";
    let body = r#"{"update_time_ge":0}"#;
    let send = |sign: Option<String>| {
        let mut query = std::collections::BTreeMap::from([
            ("app_key".to_string(), p.secret("app_key").to_string()),
            ("timestamp".to_string(), Utc::now().timestamp().to_string()),
            ("shop_cipher".to_string(), p.options["shop_cipher"].clone()),
            ("page_size".to_string(), "10".to_string()),
        ]);
        let sign = sign.unwrap_or_else(|| sign_request(p.secret("app_secret"), path, &query, body));
        query.insert("sign".into(), sign);
        let mut url = url::Url::parse(&format!("{base}{path}")).unwrap();
        url.query_pairs_mut().extend_pairs(&query);
        reqwest::Client::new()
            .post(url)
            .header("x-tts-access-token", p.secret("access_token"))
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let ok = send(None).await.unwrap();
    assert!(ok.status().is_success(), "{}", ok.status());
    let ok: serde_json::Value = ok.json().await.unwrap();
    assert_eq!(ok["code"], 0, "{ok}");
    let bad = send(Some("0".repeat(64))).await.unwrap();
    let status = bad.status();
    let bad: serde_json::Value = bad.json().await.unwrap_or_default();
    assert!(
        !status.is_success() || bad["code"] != 0,
        "a wrong signature is refused: {status} {bad}"
    );
}

// ---------------------------------------------------------------- stock

mod stock {
    use super::super::client::{inventory_update, stock_target_in};
    use super::super::wire::{Envelope, SearchProductsData};

    #[test]
    fn search_result_names_the_sku_and_warehouse_to_update() {
        let env: Envelope<SearchProductsData> =
            serde_json::from_str(include_str!("testdata/search_products.json")).unwrap();
        let data = env.data.unwrap();
        let t = stock_target_in(&data, "SKU-005").unwrap();
        assert_eq!(t.product_id, "1729382256910000004");
        assert_eq!(t.sku_id, "1729382256920000004");
        assert_eq!(t.warehouse_id, "7068517275539719942");
        assert!(stock_target_in(&data, "SKU-006").is_none());
        let body = serde_json::to_value(inventory_update(&t, 7)).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"skus": [{"id": "1729382256920000004",
                "inventory": [{"warehouse_id": "7068517275539719942", "quantity": 7}]}]})
        );
    }
}
