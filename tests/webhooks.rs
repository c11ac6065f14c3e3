//! Channel webhooks through the real HTTP server: signature on the raw bytes,
//! stored once, replays change nothing, bad input gets a 4xx.

mod common;

use base64::Engine;
use common::*;
use hmac::{Hmac, Mac};
use serde_json::Value;

fn sign(body: &[u8]) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(HOOK_SECRET.as_bytes()).unwrap();
    mac.update(body);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

const ORDER: &str =
    include_str!("../connectors/src/marketplaces/shopify/testdata/webhook_order.json");

async fn server(db: Db) -> (std::sync::Arc<orderhub::app::App>, String) {
    let sb = Sandbox::start().await;
    let app = app(&fresh_db(db).await, &sb.base, "").await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(orderhub::server::serve(app.clone(), listener));
    (app, format!("http://{addr}"))
}

async fn post(url: &str, body: &[u8], headers: &[(&str, String)]) -> reqwest::StatusCode {
    let mut r = reqwest::Client::new().post(url).body(body.to_vec());
    for (k, v) in headers {
        r = r.header(*k, v);
    }
    r.send().await.unwrap().status()
}

fn headers(sig: String, id: &str) -> Vec<(&'static str, String)> {
    vec![
        ("X-Shopify-Hmac-Sha256", sig),
        ("X-Shopify-Topic", "orders/create".into()),
        ("X-Shopify-Webhook-Id", id.into()),
        ("Content-Type", "application/json".into()),
    ]
}

async fn webhooks_case(db: Db) {
    let (app, base) = server(db).await;
    let url = format!("{base}/webhooks/channels/shop");
    let body = ORDER.as_bytes();
    let external_id = serde_json::from_str::<Value>(ORDER).unwrap()["id"].to_string();

    // Missing and bad signatures: 401, nothing stored.
    assert_eq!(
        post(&url, body, &headers(String::new(), "w1")[1..]).await,
        401
    );
    assert_eq!(
        post(&url, body, &headers(sign(b"something else"), "w1")).await,
        401
    );
    let mut tampered = body.to_vec();
    tampered[10] ^= 1;
    assert_eq!(post(&url, &tampered, &headers(sign(body), "w1")).await, 401);
    assert_eq!(
        app.store.count_webhooks("channel", "shop").await.unwrap(),
        0
    );
    assert_eq!(app.store.count_orders(Some("shop")).await.unwrap(), 0);

    // A good one is stored and applied.
    assert_eq!(post(&url, body, &headers(sign(body), "w1")).await, 200);
    let first = app
        .store
        .find_order("shop", &external_id)
        .await
        .unwrap()
        .expect("order stored");
    // Replayed: acknowledged, changes nothing.
    assert_eq!(post(&url, body, &headers(sign(body), "w1")).await, 200);
    assert_eq!(
        app.store.count_webhooks("channel", "shop").await.unwrap(),
        1
    );
    let again = app
        .store
        .find_order("shop", &external_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first.synced_at, again.synced_at, "a replay writes nothing");

    // Unknown channel, garbage body with a valid signature: 4xx, never 5xx.
    assert_eq!(
        post(
            &format!("{base}/webhooks/channels/nope"),
            body,
            &headers(sign(body), "w2")
        )
        .await,
        404
    );
    let garbage = b"{not json";
    let status = post(&url, garbage, &headers(sign(garbage), "w3")).await;
    assert!(status.is_success() || status.is_client_error(), "{status}");
    assert_eq!(app.store.count_orders(Some("shop")).await.unwrap(), 1);
}

#[tokio::test]
async fn webhooks_sqlite() {
    webhooks_case(Db::Sqlite).await
}

#[tokio::test]
async fn webhooks_postgres() {
    webhooks_case(Db::Postgres).await
}

#[tokio::test]
async fn the_api_wants_its_token_and_rejects_bad_input_with_4xx() {
    std::env::set_var("ORDERHUB_API_TOKEN", "ops-secret");
    let (_app, base) = server(Db::Sqlite).await;
    let c = reqwest::Client::new();
    assert_eq!(
        c.get(format!("{base}/api/orders"))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    let auth = |r: reqwest::RequestBuilder| r.bearer_auth("ops-secret");
    assert_eq!(
        auth(c.get(format!("{base}/api/orders")))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        auth(c.get(format!("{base}/api/orders?status=bogus")))
            .send()
            .await
            .unwrap()
            .status(),
        400
    );
    assert_eq!(
        auth(c.get(format!("{base}/api/orders?limit=-1")))
            .send()
            .await
            .unwrap()
            .status(),
        400
    );
    assert_eq!(
        auth(c.get(format!("{base}/api/orders/abc")))
            .send()
            .await
            .unwrap()
            .status(),
        400
    );
    assert_eq!(
        auth(c.get(format!("{base}/api/orders/999")))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    let ch: Value = auth(c.get(format!("{base}/api/channels")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ch["channels"][0]["id"], "shop");
    assert!(
        !ch.to_string().contains(TOKEN),
        "secrets never in API output"
    );
}

/// Invariant 1 across both paths: a poll and webhooks for the same order, in
/// either order and replayed, leave one order holding the newest version.
async fn webhook_and_poll_case(db: Db) {
    let sb = Sandbox::start().await;
    sb.seed(5, 10).await;
    let app = app(&fresh_db(db).await, &sb.base, "").await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hub = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(orderhub::server::serve(app.clone(), listener));
    let deliver = |topic: &'static str| {
        let (sb_base, hub) = (sb.base.clone(), hub.clone());
        async move {
            let signed: Value = reqwest::get(format!(
                "{sb_base}/_sandbox/orders/1001/webhook?topic={topic}"
            ))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
            let owned: Vec<(String, String)> = signed["headers"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                .collect();
            let hs: Vec<(&str, String)> =
                owned.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
            post(
                &format!("{hub}/webhooks/channels/shop"),
                signed["body"].as_str().unwrap().as_bytes(),
                &hs,
            )
            .await
        }
    };
    // The webhook arrives before the poll.
    let old_delivery = deliver("orders/create").await;
    assert_eq!(old_delivery, 200);
    orderhub::jobs::poll_once(&app, "shop").await.unwrap();
    assert_eq!(app.store.count_orders(Some("shop")).await.unwrap(), 5);
    // The channel updates the order; the update's webhook arrives, then the poll.
    sb.post(
        "/_sandbox/orders/1001/touch",
        serde_json::json!({ "cancel": true }),
    )
    .await;
    assert_eq!(deliver("orders/cancelled").await, 200);
    let after_hook = app.store.find_order("shop", "1001").await.unwrap().unwrap();
    assert_eq!(
        after_hook.order.status,
        orderhub_core::OrderStatus::Cancelled
    );
    orderhub::jobs::poll_once(&app, "shop").await.unwrap();
    assert_eq!(app.store.count_orders(Some("shop")).await.unwrap(), 5);
    let after_poll = app.store.find_order("shop", "1001").await.unwrap().unwrap();
    assert_eq!(after_poll.order.updated_at, after_hook.order.updated_at);
    assert_eq!(
        after_poll.order.status,
        orderhub_core::OrderStatus::Cancelled
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_and_poll_for_one_order_sqlite() {
    webhook_and_poll_case(Db::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_and_poll_for_one_order_postgres() {
    webhook_and_poll_case(Db::Postgres).await
}

/// A delivery stored and acknowledged, then the process died before applying
/// it: the scheduler's sweep applies it, once.
#[tokio::test]
async fn a_stored_but_unapplied_delivery_is_applied_by_the_sweep() {
    let sb = Sandbox::start().await;
    let app = app(&fresh_db(Db::Sqlite).await, &sb.base, "").await;
    let external_id = serde_json::from_str::<Value>(ORDER).unwrap()["id"].to_string();
    app.store
        .insert_webhook("channel", "shop", "crashed-1", "orders/create", ORDER)
        .await
        .unwrap()
        .expect("new delivery");
    assert_eq!(app.store.count_orders(Some("shop")).await.unwrap(), 0);
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let sweep = orderhub::server::webhooks::sweep_unapplied(&app, chrono::Duration::zero());
    assert_eq!(sweep.await.unwrap(), 1);
    assert!(app
        .store
        .find_order("shop", &external_id)
        .await
        .unwrap()
        .is_some());
    let again = orderhub::server::webhooks::sweep_unapplied(&app, chrono::Duration::zero());
    assert_eq!(
        again.await.unwrap(),
        0,
        "applied deliveries are not applied again"
    );
}
