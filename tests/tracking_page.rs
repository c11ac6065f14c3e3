//! The public tracking page and delivery problems, on SQLite and PostgreSQL,
//! with the real worker against the Shopify and EasyPost sandboxes: two
//! orders get labels; one is delivered, the other's tracker never moves.
//! The page (HTML and JSON) shows the tracking number, status, events and
//! carrier link and none of the customer's data or the money; unknown and
//! garbled tokens answer 404; tokens are long and differ per shipment. The
//! delivery-problem sweep puts the stalled one in exception once, with the
//! reason, and never the delivered one.

mod common;

use common::flow::*;
use common::*;
use orderhub::app::App;
use orderhub_core::OrderStatus;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

const OPS_TOKEN: &str = "tracking-page-test-ops-token";

async fn start(toml: &str, easypost: &Sandbox) -> (Arc<App>, String) {
    set_flow_secrets();
    std::env::set_var("ORDERHUB_API_TOKEN", OPS_TOKEN);
    let loaded = orderhub::settings::load_layers(None, Some(toml)).expect("valid test config");
    let app = App::start(loaded).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    register_webhook(easypost, addr).await;
    tokio::spawn(orderhub::run(app.clone(), listener));
    (app, format!("http://{addr}"))
}

async fn get(http: &reqwest::Client, url: &str) -> (u16, String, String) {
    let r = http.get(url).send().await.unwrap();
    let status = r.status().as_u16();
    let ct = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    (status, ct, r.text().await.unwrap())
}

async fn tracking_status(app: &App, order_id: i64) -> String {
    app.store.order_shipments(order_id).await.unwrap()[0]
        .shipment
        .tracking_status
        .clone()
}

async fn run(db: Db) {
    let shopify = Sandbox::start().await;
    shopify.seed(2, 100).await;
    let easypost = easypost(0).await; // trackers move only when asked
    let url = fresh_db(db).await;
    let toml = flow_toml(&url, &shopify.base, &easypost.base, "").replace(
        "[server]\nlisten = \"127.0.0.1:0\"",
        "[server]\nlisten = \"127.0.0.1:0\"\npublic_url = \"https://track.example\"",
    );
    let (app, base) = start(&toml, &easypost).await;
    let http = reqwest::Client::new();

    let ready = wait_for(Duration::from_secs(90), || {
        let s = app.store.clone();
        async move {
            s.fulfillment_counts()
                .await
                .map(|c| c.tracking_pushed >= 2)
                .unwrap_or(false)
        }
    })
    .await;
    assert!(ready, "both labels bought and tracking pushed");
    let filter = orderhub_core::store::OrderFilter {
        limit: 10,
        ..Default::default()
    };
    let mut orders = app.store.list_orders(&filter).await.unwrap();
    orders.sort_by_key(|o| o.id);
    assert_eq!(orders.len(), 2);
    let (delivered_id, stalled_id) = (orders[0].id, orders[1].id);
    for id in [delivered_id, stalled_id] {
        let app = app.clone();
        let pre = wait_for(Duration::from_secs(30), || {
            let app = app.clone();
            async move { tracking_status(&app, id).await == "pre_transit" }
        })
        .await;
        assert!(pre, "pre_transit applied for order {id}");
    }
    // Deliver the first order, step by step.
    let code = app.store.order_shipments(delivered_id).await.unwrap()[0]
        .shipment
        .tracking_code
        .clone()
        .unwrap();
    for want in ["in_transit", "out_for_delivery", "delivered"] {
        easypost
            .post(&format!("/_sandbox/trackers/{code}/advance"), json!({}))
            .await;
        let app2 = app.clone();
        let moved = wait_for(Duration::from_secs(30), || {
            let app = app2.clone();
            async move { tracking_status(&app, delivered_id).await == want }
        })
        .await;
        assert!(moved, "tracking {want}");
    }

    // The page's URL is in the order detail.
    let mut tokens = Vec::new();
    for id in [delivered_id, stalled_id] {
        let detail: Value = http
            .get(format!("{base}/api/orders/{id}"))
            .bearer_auth(OPS_TOKEN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let page_url = detail["shipments"][0]["tracking_page_url"]
            .as_str()
            .unwrap_or_else(|| panic!("no tracking_page_url in {detail}"))
            .to_string();
        let token = page_url
            .strip_prefix("https://track.example/t/")
            .unwrap_or_else(|| panic!("{page_url}"))
            .to_string();
        assert_eq!(token.len(), 64, "32 random bytes in hex: {token}");
        // Asking again gives the same token.
        let again: Value = http
            .get(format!("{base}/api/orders/{id}"))
            .bearer_auth(OPS_TOKEN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            again["shipments"][0]["tracking_page_url"],
            page_url.as_str()
        );
        tokens.push(token);
    }
    assert_ne!(tokens[0], tokens[1], "one token per shipment");

    // The delivered order's page.
    let stored = app.store.get_order(delivered_id).await.unwrap().unwrap();
    let ship = app
        .store
        .order_shipments(delivered_id)
        .await
        .unwrap()
        .remove(0);
    let (status, ct, page) = get(&http, &format!("{base}/t/{}", tokens[0])).await;
    assert_eq!(status, 200, "{page}");
    assert!(ct.starts_with("text/html"), "{ct}");
    let (status, ct, json_text) = get(&http, &format!("{base}/t/{}.json", tokens[0])).await;
    assert_eq!(status, 200, "{json_text}");
    assert!(ct.starts_with("application/json"), "{ct}");
    let j: Value = serde_json::from_str(&json_text).unwrap();
    let code = ship.shipment.tracking_code.clone().unwrap();
    assert!(page.contains(&code), "tracking number on the page: {page}");
    assert_eq!(j["tracking_code"], code.as_str());
    assert_eq!(j["status"], "delivered");
    assert!(page.contains("delivered"), "{page}");
    let link = ship.shipment.tracking_url.clone().expect("a carrier link");
    assert!(
        page.contains(&format!("href=\"{}\"", link.replace('&', "&amp;"))),
        "carrier link on the page: {page}"
    );
    assert_eq!(j["tracking_url"], link.as_str());
    assert!(!ship.events.is_empty());
    assert_eq!(
        j["events"].as_array().unwrap().len(),
        ship.events.len(),
        "{j}"
    );
    for st in ["pre transit", "in transit", "out for delivery"] {
        assert!(page.contains(st), "event {st} on the page: {page}");
    }
    assert!(j["promised_delivery"].is_string(), "{j}");
    assert!(page.contains("Promised delivery"));
    // Nothing personal, no money.
    let o = &stored.order;
    let mut secrets: Vec<String> = Vec::new();
    if let Some(c) = &o.customer {
        secrets.extend(c.name.clone());
        secrets.extend(c.email.clone());
        secrets.extend(c.phone.clone());
    }
    for a in [&o.ship_to, &o.bill_to].into_iter().flatten() {
        secrets.extend(a.name.clone());
        secrets.extend(a.line1.clone());
        secrets.extend(a.line2.clone());
        secrets.extend(a.postal_code.clone());
        secrets.extend(a.phone.clone());
    }
    secrets.push(o.total.to_string());
    for l in &o.lines {
        secrets.push(l.unit_price.to_string());
        secrets.push(l.total.to_string());
    }
    let secrets: Vec<String> = secrets
        .into_iter()
        .filter(|s| s.trim().len() >= 4)
        .collect();
    assert!(
        secrets.len() >= 4,
        "the order has personal data to hide: {secrets:?}"
    );
    for s in &secrets {
        for (what, text) in [("page", &page), ("json", &json_text)] {
            assert!(
                !text.contains(s.as_str()) && !text.contains(&html_escape(s)),
                "{what} leaks {s:?}"
            );
        }
    }

    // Unknown, garbled and malformed tokens: the same 404.
    let unknown = "0".repeat(64);
    let (s404, _, body404) = get(&http, &format!("{base}/t/{unknown}")).await;
    assert_eq!(s404, 404);
    for bad in [
        tokens[0][..63].to_string(),
        tokens[0].to_uppercase(),
        format!("{}x", tokens[0]),
        "abc".to_string(),
        "%00".to_string(),
        "<script>".to_string(),
    ] {
        let (s, _, body) = get(&http, &format!("{base}/t/{bad}")).await;
        assert_eq!(s, 404, "{bad}");
        assert_eq!(body, body404, "the same 404 for {bad}");
    }
    let (s, ct, _) = get(&http, &format!("{base}/t/{unknown}.json")).await;
    assert_eq!(s, 404);
    assert!(ct.starts_with("application/json"));

    // Delivery problems: nothing yet with the default 5 days.
    let sweep = |secs: i64| {
        let app = app.clone();
        async move {
            orderhub::server::tracking_page::raise_delivery_problems(
                &app,
                chrono::Duration::seconds(secs),
                chrono::Utc::now(),
            )
            .await
            .unwrap()
        }
    };
    assert_eq!(sweep(5 * 86_400).await, 0);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let raised = sweep(1).await;
    let stalled = app.store.get_order(stalled_id).await.unwrap().unwrap();
    // The scheduler may have raised it first only with its own threshold
    // (5 days): so it is ours.
    assert_eq!(raised, 1);
    assert_eq!(stalled.order.status, OrderStatus::Exception);
    let reason = stalled.exception_reason.clone().unwrap();
    assert!(
        reason.starts_with("no tracking progress for 1 second since "),
        "{reason}"
    );
    let delivered = app.store.get_order(delivered_id).await.unwrap().unwrap();
    assert_eq!(delivered.order.status, OrderStatus::Delivered);
    let t = app.store.order_timeline(stalled_id).await.unwrap();
    let exceptions: Vec<_> = t.iter().filter(|e| e.kind == "exception").collect();
    assert_eq!(exceptions.len(), 1, "{t:?}");
    assert_eq!(exceptions[0].detail["reason"], reason.as_str());
    assert_eq!(
        t.iter()
            .filter(|e| e.kind == "status_changed" && e.detail["to"] == "exception")
            .count(),
        1
    );
    // Again, and far in the future: nothing more.
    let before = t.len();
    assert_eq!(sweep(1).await, 0);
    let later = orderhub::server::tracking_page::raise_delivery_problems(
        &app,
        chrono::Duration::seconds(1),
        chrono::Utc::now() + chrono::Duration::days(60),
    )
    .await
    .unwrap();
    assert_eq!(later, 0);
    assert_eq!(
        app.store.order_timeline(stalled_id).await.unwrap().len(),
        before
    );
    let t = app.store.order_timeline(delivered_id).await.unwrap();
    assert!(t.iter().all(|e| e.kind != "exception"), "{t:?}");
    // The exception's page still answers, with the tracking as it was.
    let (s, _, _) = get(&http, &format!("{base}/t/{}", tokens[1])).await;
    assert_eq!(s, 200);
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tracking_page_and_delivery_problems_sqlite() {
    run(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tracking_page_and_delivery_problems_postgres() {
    run(Db::Postgres).await;
}
