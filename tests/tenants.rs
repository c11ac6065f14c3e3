//! Sellers as tenants (invariant 8), on SQLite and PostgreSQL, against the
//! real server: two sellers (`acme` and `globex`), each with a channel, a
//! warehouse, orders, shipments and jobs. A seller's token sees its own data
//! on every list endpoint and gets 404 for the other's ids on every detail
//! and action endpoint (nothing changes there); the ops token sees both; a
//! revoked token is refused; only a hash of a token is stored. The test
//! reads the OpenAPI document and fails when an `/api` route exists that it
//! does not cover, so a new endpoint cannot skip the check.

mod common;

use common::flow::*;
use common::*;
use orderhub::app::App;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

const OPS_TOKEN: &str = "tenants-test-ops-token";

fn set_ops_token() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| std::env::set_var("ORDERHUB_API_TOKEN", OPS_TOKEN));
}

/// Channel `shop` (acme) on `acme_base`, channel `gshop` (globex) on
/// `globex_base`, a warehouse each stocking every sandbox sku, one carrier
/// account nobody answers on (no label is bought in this test).
fn two_sellers_toml(db_url: &str, acme_base: &str, globex_base: &str) -> String {
    let stock = (1..=20)
        .map(|i| format!("\"SKU-{i:03}\" = 1000000"))
        .collect::<Vec<_>>()
        .join(", ");
    flow_toml(db_url, acme_base, "http://127.0.0.1:9", "")
        + &format!(
            r#"
[[channels]]
id = "gshop"
kind = "shopify"
seller = "globex"
base_url = "{globex_base}"
poll_interval_secs = 1
[channels.secrets]
access_token = "ORDERHUB_TEST_SHOPIFY_TOKEN"
webhook_secret = "ORDERHUB_TEST_SHOPIFY_WEBHOOK_SECRET"

[[carriers]]
id = "gep"
kind = "easypost"
seller = "globex"
base_url = "http://127.0.0.1:9"
[carriers.secrets]
api_key = "ORDERHUB_TEST_EP_KEY"
webhook_secret = "ORDERHUB_TEST_EP_HOOK_SECRET"

[[warehouses]]
id = "gmain"
seller = "globex"
priority = 10
carriers = ["{CARRIER_ID}", "gep"]
address = {{ name = "Globex", line1 = "1 Main St", city = "Springfield", region = "OR", postal_code = "97477", country = "US" }}
stock = {{ {stock} }}
"#
        )
}

struct Client {
    base: String,
    http: reqwest::Client,
}

impl Client {
    async fn call(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (StatusCode, String) {
        let mut req = self
            .http
            .request(method.clone(), format!("{}{path}", self.base))
            .bearer_auth(token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = r.status();
        (status, r.text().await.unwrap_or_default())
    }

    async fn json(&self, path: &str, token: &str) -> Value {
        let (status, body) = self.call(Method::GET, path, token, None).await;
        assert_eq!(status, 200, "GET {path}: {body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: {e}: {body}"))
    }
}

struct Seller {
    token: String,
    channel: &'static str,
    orders: Vec<i64>,
    shipments: Vec<i64>,
}

async fn setup(app: &Arc<App>, seller: &str, channel: &'static str) -> Seller {
    let n = loop {
        let _ = orderhub::jobs::poll_once(app, channel).await;
        let n = app.store.count_orders(Some(channel)).await.unwrap();
        if n >= 3 {
            break n;
        }
    };
    assert_eq!(n, 3, "{channel}");
    let orders: Vec<i64> = app
        .store
        .list_orders(&orderhub_core::store::OrderFilter {
            channel_id: Some(channel.into()),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_iter()
        .map(|o| o.id)
        .collect();
    let mut shipments = Vec::new();
    for &o in &orders[..2] {
        match app.store.route_order(o).await.unwrap() {
            orderhub_core::store::RouteOutcome::Routed { shipment_id, .. } => {
                shipments.push(shipment_id)
            }
            other => panic!("order {o} not routed: {other:?}"),
        }
    }
    // Jobs about this seller's channel, an order and a shipment. No worker
    // runs in this test, so they stay where they are put.
    app.queue
        .push_poll(orderhub::jobs::PollChannel {
            channel_id: channel.into(),
        })
        .await
        .unwrap();
    app.queue
        .route
        .push(orderhub::jobs::RouteOrder {
            order_id: orders[2],
        })
        .await
        .unwrap();
    app.queue
        .buy_label
        .push(orderhub::jobs::BuyLabel {
            shipment_id: shipments[0],
        })
        .await
        .unwrap();
    let token = orderhub::cli::new_token();
    app.store
        .create_token(seller, "test", &token)
        .await
        .unwrap();
    Seller {
        token,
        channel,
        orders,
        shipments,
    }
}

/// The ids (order, shipment, channel) a job's arguments name.
fn job_subject(job: &Value) -> (Option<i64>, Option<i64>, Option<String>) {
    let a = &job["args"];
    (
        a["order_id"].as_i64(),
        a["shipment_id"].as_i64(),
        a["channel_id"].as_str().map(str::to_string),
    )
}

fn belongs(job: &Value, s: &Seller) -> bool {
    let (o, sh, ch) = job_subject(job);
    o.is_some_and(|o| s.orders.contains(&o))
        || sh.is_some_and(|sh| s.shipments.contains(&sh))
        || ch.is_some_and(|c| c == s.channel)
}

async fn tenants_case(db: Db) {
    set_ops_token();
    set_flow_secrets();
    let (acme_sb, globex_sb) = (Sandbox::start().await, Sandbox::start().await);
    acme_sb.seed(3, 1000).await;
    globex_sb.seed(3, 1000).await;
    let url = fresh_db(db).await;
    let toml = two_sellers_toml(&url, &acme_sb.base, &globex_sb.base);
    let loaded = orderhub::settings::load_layers(None, Some(&toml)).expect("valid test config");
    let app = App::start(loaded).await.unwrap();
    let acme = setup(&app, "acme", "shop").await;
    let globex = setup(&app, "globex", "gshop").await;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let c = Client {
        base: format!("http://{}", listener.local_addr().unwrap()),
        http: reqwest::Client::new(),
    };
    tokio::spawn(orderhub::server::serve(app.clone(), listener));

    // Every /api route of the document is one this test covers.
    let doc: Value = c.json("/api/openapi.json", OPS_TOKEN).await;
    let covered: BTreeSet<(&str, &str)> = [
        ("get", "/api/openapi.json"),
        ("get", "/api/channels"),
        ("get", "/api/orders"),
        ("get", "/api/orders.csv"),
        ("get", "/api/orders/{id}"),
        ("get", "/api/orders/{id}/timeline"),
        ("post", "/api/orders/{id}/notes"),
        ("post", "/api/orders/{id}/status"),
        ("get", "/api/jobs"),
        ("get", "/api/jobs/{id}"),
        ("post", "/api/jobs/{id}/retry"),
        ("post", "/api/jobs/{id}/cancel"),
        ("get", "/api/kpis"),
        ("post", "/api/shipments/labels:batch"),
        ("get", "/api/shipments/labels.pdf"),
        ("post", "/api/shipments/{id}/void"),
        ("post", "/api/shipments/{id}/label"),
        ("get", "/api/stock"),
        ("put", "/api/stock/{warehouse}/{sku}"),
        ("get", "/api/stock/counts"),
        ("post", "/api/stock/counts"),
        ("get", "/api/stock/alerts"),
        // Warehouse floor documents: checked below per warehouse and shipment.
        ("get", "/api/warehouses/{id}/picklist"),
        ("get", "/api/warehouses/{id}/picklist.csv"),
        ("get", "/api/warehouses/{id}/picklist.pdf"),
        ("get", "/api/warehouses/{id}/print.pdf"),
        ("get", "/api/warehouses/{id}/labels.zpl"),
        ("get", "/api/shipments/{id}/packing-slip.pdf"),
    ]
    .into_iter()
    // Subscribers are configured per seller; their isolation (lists,
    // details, resume) is checked with real subscribers and deliveries in
    // tests/outbound_webhooks.rs.
    .chain([
        ("get", "/api/webhooks/subscribers"),
        ("post", "/api/webhooks/subscribers/{id}/resume"),
        ("get", "/api/webhooks/deliveries"),
    ])
    // Returns: another seller's order answers 404 below; the return routes
    // (list, detail, label, receive, refund) are checked with a real return
    // of another seller in tests/returns.rs.
    .chain([
        ("post", "/api/orders/{id}/returns"),
        ("get", "/api/returns"),
        ("get", "/api/returns/{id}"),
        ("post", "/api/returns/{id}/label"),
        ("post", "/api/returns/{id}/receive"),
        ("post", "/api/returns/{id}/refund"),
    ])
    // Customer emails: listed per seller (checked below, and with real
    // emails in tests/email.rs).
    .chain([("get", "/api/emails")])
    // Scan-to-verify packing: checked below with a session of each seller.
    .chain([
        ("post", "/api/pack/sessions"),
        ("get", "/api/pack/sessions/{id}"),
        ("post", "/api/pack/sessions/{id}/scans"),
        ("post", "/api/pack/sessions/{id}/finish"),
        ("post", "/api/pack/sessions/{id}/override"),
        ("get", "/api/skus/{sku}/barcodes"),
        ("put", "/api/skus/{sku}/barcodes"),
    ])
    .collect();
    for (path, item) in doc["paths"].as_object().unwrap() {
        if !path.starts_with("/api/") {
            continue;
        }
        for method in item.as_object().unwrap().keys() {
            assert!(
                covered.contains(&(method.as_str(), path.as_str())),
                "{method} {path} is not covered by the tenant isolation test: add it here"
            );
        }
    }

    for (me, other) in [(&acme, &globex), (&globex, &acme)] {
        let t = me.token.as_str();
        // Lists: only my data.
        let channels = c.json("/api/channels", t).await;
        let ids: Vec<&str> = channels["channels"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, vec![me.channel], "{channels}");

        let orders = c.json("/api/orders?limit=100", t).await;
        let mut listed: Vec<i64> = orders["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["id"].as_i64().unwrap())
            .collect();
        listed.sort();
        assert_eq!(listed, me.orders, "{orders}");
        let foreign = c
            .json(&format!("/api/orders?channel={}", other.channel), t)
            .await;
        assert_eq!(
            foreign["items"],
            json!([]),
            "filtering by another seller's channel"
        );
        let q = c.json("/api/orders?warehouse=gmain&limit=100", t).await;
        for o in q["items"].as_array().unwrap() {
            assert!(me.orders.contains(&o["id"].as_i64().unwrap()), "{q}");
        }

        let (status, csv) = c.call(Method::GET, "/api/orders.csv", t, None).await;
        assert_eq!(status, 200, "{csv}");
        let mut csv_ids: Vec<i64> = csv
            .lines()
            .skip(1)
            .map(|l| l.split(',').next().unwrap().parse().unwrap())
            .collect();
        csv_ids.sort();
        assert_eq!(csv_ids, me.orders, "{csv}");

        let jobs = c.json("/api/jobs?limit=1000", t).await;
        let jobs = jobs["jobs"].as_array().unwrap();
        assert!(jobs.len() >= 3, "{jobs:?}");
        for j in jobs {
            assert!(belongs(j, me), "a job of someone else listed: {j}");
        }

        let kpis = c.json("/api/kpis?from=2000-01-01T00:00:00Z", t).await;
        let by_channel: Vec<&str> = kpis["by_channel"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["id"].as_str().unwrap_or(""))
            .collect();
        assert!(!by_channel.contains(&other.channel), "{kpis}");
        assert_eq!(kpis["orders"]["total"], 3, "{}", kpis["orders"]);

        // Details and actions on the other seller's ids: 404, nothing done.
        let o = other.orders[0];
        let s = other.shipments[1];
        for (method, path, body) in [
            (Method::GET, format!("/api/orders/{o}"), None),
            (Method::GET, format!("/api/orders/{o}/timeline"), None),
            (
                Method::POST,
                format!("/api/orders/{o}/returns"),
                Some(json!({"lines": [{"sku": "SKU-001", "quantity": 1, "reason": "other"}]})),
            ),
            (Method::GET, format!("/api/emails?order_id={o}"), None),
            (
                Method::POST,
                format!("/api/orders/{o}/notes"),
                Some(json!({"author": "mallory", "text": "hello"})),
            ),
            (
                Method::POST,
                format!("/api/orders/{o}/status"),
                Some(json!({"status": "cancelled", "author": "mallory"})),
            ),
            (Method::POST, format!("/api/shipments/{s}/void"), None),
            (
                Method::POST,
                format!("/api/shipments/{s}/label"),
                Some(
                    json!({"carrier_account": CARRIER_ID, "carrier": "USPS", "tracking_code": "EZ1"}),
                ),
            ),
            (
                Method::GET,
                format!("/api/shipments/labels.pdf?ids={s}"),
                None,
            ),
            (
                Method::POST,
                "/api/shipments/labels:batch".to_string(),
                Some(json!({"shipment_ids": [s]})),
            ),
        ] {
            let (status, body) = c.call(method.clone(), &path, t, body).await;
            assert_eq!(
                status, 404,
                "{method} {path} with another seller's id: {body}"
            );
        }
        let all_jobs = c.json("/api/jobs?limit=1000", OPS_TOKEN).await;
        let their_job = all_jobs["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|j| belongs(j, other) && j["status"] == "Pending")
            .unwrap_or_else(|| panic!("a pending job of the other seller in {all_jobs}"))
            .clone();
        let jid = their_job["id"].as_str().unwrap();
        for (method, path) in [
            (Method::GET, format!("/api/jobs/{jid}")),
            (Method::POST, format!("/api/jobs/{jid}/retry")),
            (Method::POST, format!("/api/jobs/{jid}/cancel")),
        ] {
            let (status, body) = c.call(method.clone(), &path, t, None).await;
            assert_eq!(status, 404, "{method} {path}: {body}");
        }
        let after = c.json(&format!("/api/jobs/{jid}"), OPS_TOKEN).await;
        assert_eq!(
            after["status"], "Pending",
            "the other seller's job was touched"
        );
        let timeline = c
            .json(&format!("/api/orders/{o}/timeline"), OPS_TOKEN)
            .await;
        assert!(
            !timeline.to_string().contains("mallory"),
            "a note reached another seller's order"
        );
        let theirs = app.store.get_order(o).await.unwrap().unwrap();
        assert_ne!(
            theirs.order.status.as_str(),
            "cancelled",
            "another seller's order was cancelled"
        );
        let shipment = app.store.shipment(s).await.unwrap().unwrap();
        assert_eq!(
            shipment.status, "created",
            "the other seller's shipment changed"
        );

        if me.channel == "shop" {
            // Globex's own carrier account is unknown to acme.
            let (status, body) = c
                .call(
                    Method::POST,
                    &format!("/api/shipments/{}/label", me.shipments[1]),
                    t,
                    Some(json!({"carrier_account": "gep", "carrier": "USPS", "tracking_code": "EZ2"})),
                )
                .await;
            assert_eq!(
                status, 404,
                "a label on another seller's carrier account: {body}"
            );
            let mine = app.store.shipment(me.shipments[1]).await.unwrap().unwrap();
            assert_eq!(mine.status, "created", "no label recorded");
        }

        // ...and my own ids work.
        let mine = me.orders[0];
        let order = c.json(&format!("/api/orders/{mine}"), t).await;
        assert_eq!(order["id"], mine);
        let (status, body) = c
            .call(
                Method::POST,
                &format!("/api/orders/{mine}/notes"),
                t,
                Some(json!({"author": "ana", "text": "mine"})),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        let my_job = jobs
            .iter()
            .find(|j| j["status"] == "Pending")
            .expect("a pending job of mine");
        let jid = my_job["id"].as_str().unwrap();
        assert_eq!(c.json(&format!("/api/jobs/{jid}"), t).await["id"], jid);
    }

    // Scan-to-verify packing: a session on each seller's shipment (ops
    // token); the other seller's shipment barcode, session and sku barcodes
    // answer 404 and nothing changes; one's own answer 200.
    for (me, my_name, other, other_name) in [
        (&acme, "acme", &globex, "globex"),
        (&globex, "globex", &acme, "acme"),
    ] {
        let t = me.token.as_str();
        let theirs = other.shipments[0];
        let (status, body) = c
            .call(
                Method::POST,
                "/api/pack/sessions",
                OPS_TOKEN,
                Some(json!({ "barcode": format!("SHIP-{theirs}") })),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        let sid = serde_json::from_str::<Value>(&body).unwrap()["id"]
            .as_i64()
            .unwrap();
        for (method, path, body) in [
            (
                Method::POST,
                "/api/pack/sessions".to_string(),
                Some(json!({ "barcode": format!("SHIP-{theirs}") })),
            ),
            (
                Method::POST,
                "/api/pack/sessions".to_string(),
                Some(json!({ "barcode": theirs.to_string() })),
            ),
            (Method::GET, format!("/api/pack/sessions/{sid}"), None),
            (
                Method::POST,
                format!("/api/pack/sessions/{sid}/scans"),
                Some(json!({ "barcode": "SKU-001" })),
            ),
            (
                Method::POST,
                format!("/api/pack/sessions/{sid}/finish"),
                Some(json!({})),
            ),
            (
                Method::POST,
                format!("/api/pack/sessions/{sid}/override"),
                Some(json!({ "reason": "mallory was here", "author": "mallory" })),
            ),
            (
                Method::GET,
                format!("/api/skus/SKU-001/barcodes?seller={other_name}"),
                None,
            ),
            (
                Method::PUT,
                "/api/skus/SKU-001/barcodes".to_string(),
                Some(json!({ "seller": other_name, "barcodes": ["mallory-1"] })),
            ),
        ] {
            let (status, body) = c.call(method.clone(), &path, t, body).await;
            assert_eq!(
                status, 404,
                "{method} {path} with another seller's id: {body}"
            );
        }
        let s = c
            .json(&format!("/api/pack/sessions/{sid}"), OPS_TOKEN)
            .await;
        assert_eq!(s["status"], "open", "{s}");
        assert_eq!(s["scans"], json!([]), "{s}");
        let (status, body) = c
            .call(
                Method::POST,
                "/api/pack/sessions",
                t,
                Some(json!({ "barcode": format!("SHIP-{}", me.shipments[0]) })),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        let (status, body) = c
            .call(
                Method::PUT,
                "/api/skus/SKU-001/barcodes",
                t,
                Some(json!({ "barcodes": [format!("{my_name}-0001")] })),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        let mine = c.json("/api/skus/SKU-001/barcodes", t).await;
        assert_eq!(mine["seller"], my_name);
        assert_eq!(
            mine["barcodes"].as_array().unwrap().len(),
            1,
            "only my barcodes: {mine}"
        );
    }

    // Inventory: each seller's warehouse gets a count and a low-stock alert
    // (ops token); a seller lists only its own and cannot write the other's.
    for w in ["main", "gmain"] {
        let (status, body) = c
            .call(
                Method::POST,
                "/api/stock/counts",
                OPS_TOKEN,
                Some(json!({"warehouse": w, "counted_by": "ops", "counts": [{"sku": "SKU-001", "counted": 1}]})),
            )
            .await;
        assert_eq!(status, 201, "{body}");
    }
    for (me, mine, theirs) in [(&acme, "main", "gmain"), (&globex, "gmain", "main")] {
        let t = me.token.as_str();
        for list in ["/api/stock", "/api/stock/counts", "/api/stock/alerts"] {
            let v = c.json(list, t).await;
            let key = list.rsplit('/').next().unwrap();
            let rows = v[key].as_array().unwrap_or_else(|| panic!("{list}: {v}"));
            assert!(!rows.is_empty(), "{list}: {v}");
            for r in rows {
                assert_eq!(
                    r["warehouse_id"], mine,
                    "{list} lists another seller's row: {r}"
                );
            }
            let filtered = c.json(&format!("{list}?warehouse={theirs}"), t).await;
            assert_eq!(
                filtered[key],
                json!([]),
                "{list}?warehouse={theirs}: {filtered}"
            );
        }
        for (method, path, body) in [
            (
                Method::PUT,
                format!("/api/stock/{theirs}/SKU-001"),
                json!({"on_hand": 999, "reason": "mallory"}),
            ),
            (
                Method::POST,
                "/api/stock/counts".to_string(),
                json!({"warehouse": theirs, "counted_by": "mallory", "counts": [{"sku": "SKU-001", "counted": 999}]}),
            ),
        ] {
            let (status, body) = c.call(method.clone(), &path, t, Some(body)).await;
            assert_eq!(
                status, 404,
                "{method} {path} on another seller's warehouse: {body}"
            );
        }
        let s = app.store.stock(theirs, "SKU-001").await.unwrap().unwrap();
        assert_eq!(s.on_hand, 1, "another seller's stock changed");
        // Floor documents: another seller's warehouse and shipments are 404;
        // my own warehouse's pick list lists my shipments only.
        let other = if me.channel == "shop" { &globex } else { &acme };
        for path in [
            format!("/api/warehouses/{theirs}/picklist"),
            format!("/api/warehouses/{theirs}/picklist.csv"),
            format!("/api/warehouses/{theirs}/picklist.pdf"),
            format!("/api/warehouses/{theirs}/print.pdf"),
            format!("/api/warehouses/{theirs}/labels.zpl"),
            format!("/api/shipments/{}/packing-slip.pdf", other.shipments[0]),
            format!(
                "/api/warehouses/{mine}/picklist?shipments={}",
                other.shipments[0]
            ),
        ] {
            let (status, body) = c.call(Method::GET, &path, t, None).await;
            assert_eq!(status, 404, "GET {path} of another seller: {body}");
        }
        let list = c.json(&format!("/api/warehouses/{mine}/picklist"), t).await;
        let mut listed: Vec<i64> = list["shipment_ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_i64().unwrap())
            .collect();
        listed.sort();
        assert_eq!(listed, me.shipments, "{list}");
        let (status, _) = c
            .call(
                Method::GET,
                &format!("/api/shipments/{}/packing-slip.pdf", me.shipments[0]),
                t,
                None,
            )
            .await;
        assert_eq!(status, 200);
        let (status, body) = c
            .call(
                Method::PUT,
                &format!("/api/stock/{mine}/SKU-001"),
                t,
                Some(json!({"on_hand": 1})),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }

    // The ops token sees everyone.
    let all = c.json("/api/orders?limit=100", OPS_TOKEN).await;
    assert_eq!(all["items"].as_array().unwrap().len(), 6, "{all}");
    let channels = c.json("/api/channels", OPS_TOKEN).await;
    assert_eq!(channels["channels"].as_array().unwrap().len(), 2);

    // Revoked: 401 from then on.
    let listed = app.store.tokens(Some("acme")).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert!(acme.token.starts_with(&listed[0].prefix));
    assert!(app.store.revoke_token(listed[0].id).await.unwrap());
    assert!(
        !app.store.revoke_token(listed[0].id).await.unwrap(),
        "revoked twice"
    );
    let (status, _) = c.call(Method::GET, "/api/orders", &acme.token, None).await;
    assert_eq!(status, 401);
    let (status, _) = c
        .call(Method::GET, "/api/orders", &globex.token, None)
        .await;
    assert_eq!(status, 200, "the other seller's token still works");

    // The store keeps a hash, never the token.
    use sea_orm::ConnectionTrait;
    let rows = app
        .store
        .db()
        .query_all_raw(sea_orm::Statement::from_string(
            app.store.db().get_database_backend(),
            "SELECT token_hash, prefix FROM api_tokens",
        ))
        .await
        .unwrap();
    assert_eq!(rows.len(), 2);
    for r in rows {
        let hash: String = r.try_get("", "token_hash").unwrap();
        assert!(hash != acme.token && hash != globex.token);
        assert!(
            hash == orderhub_core::store::token_hash(&acme.token)
                || hash == orderhub_core::store::token_hash(&globex.token)
        );
        let prefix: String = r.try_get("", "prefix").unwrap();
        assert!(prefix.len() <= 12, "only a prefix is kept: {prefix}");
    }
    let _ = Duration::ZERO;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sellers_token_sees_only_that_sellers_data_sqlite() {
    tenants_case(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sellers_token_sees_only_that_sellers_data_postgres() {
    tenants_case(Db::Postgres).await;
}

/// `orderhub tokens create|list|revoke` through the real binary.
#[test]
fn tokens_cli_creates_lists_and_revokes() {
    let bin = env!("CARGO_BIN_EXE_orderhub");
    let dir =
        std::env::temp_dir().join(format!("orderhub-tokens-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("c.toml");
    std::fs::write(
        &cfg,
        format!(
            "[database]\nurl = \"sqlite://{}?mode=rwc\"\n",
            dir.join("db.sqlite").display()
        ),
    )
    .unwrap();
    let run = |args: &[&str]| {
        let out = std::process::Command::new(bin)
            .arg("--config")
            .arg(&cfg)
            .args(args)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, token, err) = run(&["tokens", "create", "--seller", "acme", "--name", "erp"]);
    assert_eq!(code, Some(0), "{err}");
    let token = token.trim();
    assert!(token.starts_with("oh_") && token.len() == 67, "{token}");
    let (code, list, _) = run(&["tokens", "list"]);
    assert_eq!(code, Some(0));
    assert!(list.contains("acme") && list.contains("erp"), "{list}");
    assert!(
        !list.contains(token),
        "the list shows the token itself: {list}"
    );
    let id = list
        .lines()
        .nth(1)
        .and_then(|l| l.split_whitespace().next())
        .unwrap()
        .to_string();
    let (code, out, _) = run(&["tokens", "revoke", &id]);
    assert_eq!(code, Some(0), "{out}");
    let (code, _, _) = run(&["tokens", "revoke", &id]);
    assert_eq!(code, Some(1), "revoking twice fails");
    let (code, _, err) = run(&["tokens", "create", "--seller", "", "--name", "x"]);
    assert_eq!(code, Some(2), "{err}");
}
