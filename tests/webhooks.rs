//! Channel webhooks through the real HTTP server: signature on the raw bytes,
//! stored once (also when many arrive at once and are stored together),
//! applied after the answer, replays change nothing, bad input gets a 4xx.

mod common;

use base64::Engine;
use common::*;
use hmac::{Hmac, Mac};
use serde_json::Value;
use std::time::Duration;

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

    // A good one is stored before the answer, and applied after it.
    assert_eq!(post(&url, body, &headers(sign(body), "w1")).await, 200);
    assert_eq!(
        app.store.count_webhooks("channel", "shop").await.unwrap(),
        1,
        "stored before the 200"
    );
    assert!(
        wait_for(Duration::from_secs(10), || {
            let (app, id) = (app.clone(), external_id.clone());
            async move { app.store.find_order("shop", &id).await.unwrap().is_some() }
        })
        .await,
        "order applied"
    );
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
    // A signed body with a NUL byte (no text column takes one): 4xx.
    let nul = b"{\"id\": 1,\x00 \"x\": 2}";
    let status = post(&url, nul, &headers(sign(nul), "w4")).await;
    assert!(status.is_client_error(), "{status}");
    // The garbage is quarantined once applied; no order from it.
    assert!(
        wait_for(Duration::from_secs(10), || {
            let app = app.clone();
            async move {
                app.store
                    .unapplied_webhooks(
                        "channel",
                        chrono::Utc::now() + chrono::Duration::hours(1),
                        10,
                    )
                    .await
                    .unwrap()
                    .is_empty()
            }
        })
        .await,
        "every stored delivery applied"
    );
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
    // Applied after the answer.
    assert!(
        wait_for(Duration::from_secs(10), || {
            let app = app.clone();
            async move {
                app.store
                    .find_order("shop", "1001")
                    .await
                    .unwrap()
                    .is_some_and(|o| o.order.status == orderhub_core::OrderStatus::Cancelled)
            }
        })
        .await,
        "the cancellation applied"
    );
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

/// Group commit (issue 12): many deliveries at once, each id sent several
/// times concurrently, are stored together in few transactions. Every
/// request gets its 200; every delivery id is stored exactly once, with its
/// own body, and exactly one of its requests is told `stored` (the others
/// `duplicate`); a second wave of the same ids stores nothing; every order
/// is applied once. Fails if a batch lost, doubled or mixed up a delivery.
async fn concurrent_deliveries_case(db: Db) {
    const IDS: usize = 60;
    const COPIES: usize = 3;
    let (app, base) = server(db).await;
    let url = format!("{base}/webhooks/channels/shop");
    let template: Value = serde_json::from_str(ORDER).unwrap();
    // One order of its own per delivery id, so a mixed-up body shows.
    let deliveries: Vec<(String, String, String)> = (0..IDS)
        .map(|i| {
            let mut order = template.clone();
            let external_id = 7_000_000 + i as u64;
            order["id"] = external_id.into();
            order["name"] = format!("#C{i}").into();
            (
                format!("concurrent-{i}"),
                external_id.to_string(),
                order.to_string(),
            )
        })
        .collect();
    let client = reqwest::Client::new();
    let send = |id: &str, body: &str| {
        let mut r = client.post(&url).body(body.to_string());
        for (k, v) in headers(sign(body.as_bytes()), id) {
            r = r.header(k, v);
        }
        async move {
            let resp = r.send().await.unwrap();
            let status = resp.status();
            let json: Value = resp.json().await.unwrap();
            (
                status,
                json["status"].as_str().unwrap_or_default().to_string(),
            )
        }
    };
    // Every copy of every delivery at once, interleaved.
    let mut requests = Vec::new();
    for _ in 0..COPIES {
        for (id, _, body) in &deliveries {
            requests.push((id.clone(), send(id, body)));
        }
    }
    let (ids, futs): (Vec<String>, Vec<_>) = requests.into_iter().unzip();
    let answers = futures::future::join_all(futs).await;
    let mut stored_answers = std::collections::BTreeMap::<String, usize>::new();
    for (id, (status, what)) in ids.iter().zip(&answers) {
        assert_eq!(*status, 200, "{id}: {what}");
        match what.as_str() {
            "stored" => *stored_answers.entry(id.clone()).or_default() += 1,
            "duplicate" => {}
            other => panic!("{id}: unexpected answer {other}"),
        }
    }
    for (id, _, _) in &deliveries {
        assert_eq!(
            stored_answers.get(id),
            Some(&1),
            "{id}: exactly one request is told it was stored"
        );
    }
    // Stored exactly once each, with its own body, before the answers.
    use sea_orm::EntityTrait;
    let rows = orderhub_core::store::webhook_inbox::Entity::find()
        .all(app.store.db())
        .await
        .unwrap();
    assert_eq!(rows.len(), IDS, "each delivery stored exactly once");
    let by_id: std::collections::BTreeMap<&str, &str> = rows
        .iter()
        .map(|r| (r.delivery_id.as_str(), r.body.as_str()))
        .collect();
    assert_eq!(by_id.len(), IDS);
    for (id, _, body) in &deliveries {
        assert_eq!(by_id.get(id.as_str()), Some(&body.as_str()), "{id}");
    }
    assert!(
        app.ingest.largest_batch() > 1,
        "concurrent deliveries were stored together"
    );
    // The same ids again, at once: acknowledged, nothing stored.
    let again =
        futures::future::join_all(deliveries.iter().map(|(id, _, body)| send(id, body))).await;
    for (status, what) in &again {
        assert_eq!(*status, 200);
        assert_eq!(what, "duplicate");
    }
    assert_eq!(
        app.store.count_webhooks("channel", "shop").await.unwrap(),
        IDS as u64
    );
    // Each applied once: one order per delivery, every row processed.
    let applied = wait_for(Duration::from_secs(30), || {
        let app = app.clone();
        async move {
            app.store
                .unapplied_webhooks(
                    "channel",
                    chrono::Utc::now() + chrono::Duration::hours(1),
                    10,
                )
                .await
                .unwrap()
                .is_empty()
        }
    })
    .await;
    assert!(applied, "every stored delivery applied");
    assert_eq!(
        app.store.count_orders(Some("shop")).await.unwrap(),
        IDS as u64
    );
    for (_, external_id, _) in &deliveries {
        assert!(
            app.store
                .find_order("shop", external_id)
                .await
                .unwrap()
                .is_some(),
            "order {external_id}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_deliveries_are_each_stored_once_sqlite() {
    concurrent_deliveries_case(Db::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_deliveries_are_each_stored_once_postgres() {
    concurrent_deliveries_case(Db::Postgres).await
}

/// The batch insert itself: duplicates inside one batch and across batches
/// are stored once, the first occurrence's body kept, the answers in order.
async fn batch_insert_case(db: Db) {
    use orderhub_core::store::NewWebhook;
    let sb = Sandbox::start().await;
    let app = app(&fresh_db(db).await, &sb.base, "").await;
    let w = |id: &'static str, body: &'static str| NewWebhook {
        source: "channel",
        source_id: "shop",
        delivery_id: id,
        topic: "orders/create",
        body,
    };
    let first = app
        .store
        .insert_webhooks(&[w("a", "a1"), w("b", "b1"), w("a", "a2"), w("c", "c1")])
        .await
        .unwrap();
    assert!(
        first[0].is_some() && first[1].is_some() && first[3].is_some(),
        "{first:?}"
    );
    assert_eq!(first[2], None, "a duplicate inside the batch");
    let second = app
        .store
        .insert_webhooks(&[w("c", "c2"), w("d", "d1"), w("d", "d2"), w("b", "b2")])
        .await
        .unwrap();
    assert_eq!(second[0], None, "stored by an earlier batch");
    assert!(second[1].is_some());
    assert_eq!(second[2], None);
    assert_eq!(second[3], None);
    // Another source's delivery with the same id is its own.
    let other = app
        .store
        .insert_webhooks(&[NewWebhook {
            source: "carrier",
            ..w("a", "carrier-a")
        }])
        .await
        .unwrap();
    assert!(other[0].is_some());
    assert_eq!(
        app.store.count_webhooks("channel", "shop").await.unwrap(),
        4
    );
    for (id, body) in [
        (first[0], "a1"),
        (first[1], "b1"),
        (first[3], "c1"),
        (second[1], "d1"),
    ] {
        let row = app.store.webhook(id.unwrap()).await.unwrap().unwrap();
        assert_eq!(row.body, body);
    }
    assert!(app.store.insert_webhooks(&[]).await.unwrap().is_empty());
}

#[tokio::test]
async fn batch_insert_dedupes_inside_and_across_batches_sqlite() {
    batch_insert_case(Db::Sqlite).await
}

#[tokio::test]
async fn batch_insert_dedupes_inside_and_across_batches_postgres() {
    batch_insert_case(Db::Postgres).await
}
