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
