//! Returns (RMA) round trip, on SQLite and PostgreSQL, with the real worker
//! and server against the Shopify and EasyPost sandboxes: orders are synced,
//! labelled and delivered through tracker webhooks; a return is requested
//! for lines of a delivered order; its label is bought through EasyPost
//! (`is_return: true`) exactly once although every buy answer is lost
//! (`timeout_after_success` on the buy path) and the label is asked for
//! twice; the return label's tracker webhooks move the return to
//! `in_transit` and `delivered`; the warehouse receives it with units
//! restocked and one damaged: on-hand stock rises by exactly the restocked
//! units; the refund is recorded; the KPIs and the order's timeline show
//! each step. Refused: more units than delivered, an undelivered order,
//! another seller's order or return (404), a second receipt (409). The CLI
//! (`orderhub returns create|list|receive|refund`) runs the same store
//! calls through the real binary (SQLite case).

mod common;

use common::flow::*;
use common::*;
use orderhub::app::App;
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

const OPS_TOKEN: &str = "returns-test-ops-token";

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

async fn call(
    http: &reqwest::Client,
    method: Method,
    url: &str,
    token: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = http.request(method.clone(), url).bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req
        .send()
        .await
        .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let status = r.status().as_u16();
    let text = r.text().await.unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

async fn tracking_status(app: &App, order_id: i64) -> String {
    app.store.order_shipments(order_id).await.unwrap()[0]
        .shipment
        .tracking_status
        .clone()
}

async fn deliver(app: &Arc<App>, easypost: &Sandbox, order_id: i64) {
    let pre = wait_for(Duration::from_secs(30), || {
        let app = app.clone();
        async move { tracking_status(&app, order_id).await == "pre_transit" }
    })
    .await;
    assert!(pre, "pre_transit applied for order {order_id}");
    let code = app.store.order_shipments(order_id).await.unwrap()[0]
        .shipment
        .tracking_code
        .clone()
        .unwrap();
    for want in ["in_transit", "out_for_delivery", "delivered"] {
        easypost
            .post(&format!("/_sandbox/trackers/{code}/advance"), json!({}))
            .await;
        let moved = wait_for(Duration::from_secs(30), || {
            let app = app.clone();
            async move { tracking_status(&app, order_id).await == want }
        })
        .await;
        assert!(moved, "order {order_id}: tracking {want}");
    }
}

async fn on_hand(app: &App, sku: &str) -> i64 {
    app.store
        .stock("main", sku)
        .await
        .unwrap()
        .map(|s| s.on_hand)
        .unwrap_or(0)
}

async fn return_status(app: &App, id: i64) -> String {
    app.store.get_return(id).await.unwrap().unwrap().status
}

async fn run(db: Db) {
    let shopify = Sandbox::start().await;
    shopify.seed(4, 100).await;
    let easypost = easypost(0).await; // trackers move only when asked
    let url = fresh_db(db).await;
    let toml = flow_toml(&url, &shopify.base, &easypost.base, "");
    let (app, base) = start(&toml, &easypost).await;
    let http = reqwest::Client::new();

    let ready = wait_for(Duration::from_secs(90), || {
        let s = app.store.clone();
        async move {
            s.fulfillment_counts()
                .await
                .map(|c| c.tracking_pushed >= 4)
                .unwrap_or(false)
        }
    })
    .await;
    assert!(ready, "four labels bought and tracking pushed");
    let mut orders = app
        .store
        .list_orders(&orderhub_core::store::OrderFilter {
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    orders.sort_by_key(|o| o.id);
    assert_eq!(orders.len(), 4);
    let ids: Vec<i64> = orders.iter().map(|o| o.id).collect();
    let undelivered = ids[3];
    for &id in &ids[..3] {
        deliver(&app, &easypost, id).await;
    }
    let delivered_status = wait_for(Duration::from_secs(30), || {
        let app = app.clone();
        let ids = ids.clone();
        async move {
            for &id in &ids[..3] {
                let o = app.store.get_order(id).await.unwrap().unwrap();
                if o.order.status != orderhub_core::OrderStatus::Delivered {
                    return false;
                }
            }
            true
        }
    })
    .await;
    assert!(delivered_status, "three orders delivered");

    // The order to return: one of the delivered with at least two units.
    let mut chosen = None;
    for &id in &ids[..3] {
        let res = app.store.reservations(id).await.unwrap();
        let units: i64 = res.iter().map(|r| r.quantity).sum();
        if units >= 2 {
            chosen = Some((id, res));
            break;
        }
    }
    let (order_id, res) = chosen.expect("a delivered order with two units or more");
    let mut shipped: BTreeMap<String, i64> = BTreeMap::new();
    for r in &res {
        *shipped.entry(r.sku.clone()).or_default() += r.quantity;
    }
    let skus: Vec<(String, i64)> = shipped.into_iter().collect();
    let (sku_a, qty_a) = skus[0].clone();
    let second = skus.get(1).cloned();

    // Refusals before anything is returned.
    let (st, body) = call(
        &http,
        Method::POST,
        &format!("{base}/api/orders/{order_id}/returns"),
        OPS_TOKEN,
        Some(json!({"lines": [{"sku": sku_a, "quantity": qty_a + 1, "reason": "wrong_item"}]})),
    )
    .await;
    assert_eq!(st, 409, "more than delivered: {body}");
    let und_sku = app.store.reservations(undelivered).await.unwrap()[0]
        .sku
        .clone();
    let (st, body) = call(
        &http,
        Method::POST,
        &format!("{base}/api/orders/{undelivered}/returns"),
        OPS_TOKEN,
        Some(json!({"lines": [{"sku": und_sku, "quantity": 1, "reason": "other"}]})),
    )
    .await;
    assert_eq!(st, 409, "an undelivered order: {body}");
    let (st, body) = call(
        &http,
        Method::POST,
        &format!("{base}/api/orders/{order_id}/returns"),
        OPS_TOKEN,
        Some(json!({"lines": [{"sku": sku_a, "quantity": 1, "reason": "because"}]})),
    )
    .await;
    assert_eq!(st, 422, "an unknown reason code: {body}");
    let globex = orderhub::cli::new_token();
    app.store
        .create_token("globex", "test", &globex)
        .await
        .unwrap();
    let (st, body) = call(
        &http,
        Method::POST,
        &format!("{base}/api/orders/{order_id}/returns"),
        &globex,
        Some(json!({"lines": [{"sku": sku_a, "quantity": 1, "reason": "other"}]})),
    )
    .await;
    assert_eq!(st, 404, "another seller's order: {body}");

    // The return, by a seller token of the order's seller.
    let acme = orderhub::cli::new_token();
    app.store.create_token("acme", "test", &acme).await.unwrap();
    let mut lines = vec![
        json!({"sku": sku_a, "quantity": qty_a, "reason": "wrong_item", "note": "ordered the blue one"}),
    ];
    if let Some((b, _)) = &second {
        lines.push(json!({"sku": b, "quantity": 1, "reason": "damaged"}));
    }
    let (st, ret) = call(
        &http,
        Method::POST,
        &format!("{base}/api/orders/{order_id}/returns"),
        &acme,
        Some(json!({"lines": lines, "reason": "customer email 12", "author": "ana"})),
    )
    .await;
    assert_eq!(st, 201, "{ret}");
    let rid = ret["id"].as_i64().unwrap();
    assert_eq!(ret["status"], "requested");
    assert_eq!(ret["rma"], format!("RMA-{rid:06}"));
    assert_eq!(ret["warehouse_id"], "main");
    assert_eq!(ret["refund"]["status"], "none");
    // Everything of sku A is in a return now: one more is refused.
    let (st, body) = call(
        &http,
        Method::POST,
        &format!("{base}/api/orders/{order_id}/returns"),
        &acme,
        Some(json!({"lines": [{"sku": sku_a, "quantity": 1, "reason": "other"}]})),
    )
    .await;
    assert_eq!(st, 409, "already returned: {body}");

    // Another seller sees none of it.
    for (method, path, body) in [
        (Method::GET, format!("/api/returns/{rid}"), None),
        (Method::POST, format!("/api/returns/{rid}/label"), None),
        (
            Method::POST,
            format!("/api/returns/{rid}/receive"),
            Some(json!({"lines": [{"sku": sku_a, "quantity": 1, "condition": "restock"}]})),
        ),
        (
            Method::POST,
            format!("/api/returns/{rid}/refund"),
            Some(json!({"status": "refunded", "amount": "1.00"})),
        ),
    ] {
        let (st, b) = call(
            &http,
            method.clone(),
            &format!("{base}{path}"),
            &globex,
            body,
        )
        .await;
        assert_eq!(st, 404, "{method} {path} by another seller: {b}");
    }
    let (st, list) = call(
        &http,
        Method::GET,
        &format!("{base}/api/returns"),
        &globex,
        None,
    )
    .await;
    assert_eq!(st, 200);
    assert_eq!(list["returns"].as_array().unwrap().len(), 0, "{list}");
    let (st, list) = call(
        &http,
        Method::GET,
        &format!("{base}/api/returns?order_id={order_id}&status=requested"),
        &acme,
        None,
    )
    .await;
    assert_eq!(st, 200);
    assert_eq!(list["returns"][0]["id"], rid, "{list}");
    let (st, _) = call(
        &http,
        Method::GET,
        &format!("{base}/api/returns?status=bogus"),
        &acme,
        None,
    )
    .await;
    assert_eq!(st, 400);

    // The label: every buy answer is lost after the purchase went through.
    easypost
        .post(
            "/_sandbox/faults",
            json!({"rate_timeout_after_success": 1.0, "paths": ["/buy"], "timeout_ms": 4000}),
        )
        .await;
    let (st, body) = call(
        &http,
        Method::POST,
        &format!("{base}/api/returns/{rid}/label"),
        &acme,
        None,
    )
    .await;
    assert_eq!(st, 202, "{body}");
    let (st, body) = call(
        &http,
        Method::POST,
        &format!("{base}/api/returns/{rid}/label"),
        &acme,
        None,
    )
    .await;
    assert_eq!(st, 202, "asked twice: {body}");
    let bought = wait_for(Duration::from_secs(60), || {
        let app = app.clone();
        async move { return_status(&app, rid).await == "label_bought" }
    })
    .await;
    assert!(
        bought,
        "return label bought: {:?}",
        app.store.get_return(rid).await.unwrap()
    );
    easypost.post("/_sandbox/faults", json!({})).await;
    // Asking once more buys nothing.
    let (st, body) = call(
        &http,
        Method::POST,
        &format!("{base}/api/returns/{rid}/label"),
        OPS_TOKEN,
        None,
    )
    .await;
    assert_eq!(st, 202, "{body}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let stats = easypost.stats().await;
    let rec = &stats["recorded"];
    let reference = format!("orderhub-return-{rid}");
    assert_eq!(
        rec["return_labels_by_reference"][&reference], 1,
        "exactly one return label: {rec}"
    );
    assert_eq!(rec["return_labels_total"], 1, "{rec}");
    // The buy's answer was lost (the fault fired) and the label was still
    // recorded once: by the client's retry (refused: postage exists, then
    // read back) or by asking the carrier after the failure.
    assert!(
        stats["faults_injected"]["timeout_after_success"]
            .as_u64()
            .unwrap_or(0)
            >= 1,
        "the buy's answer was lost: {stats}"
    );
    let (_, shown) = call(
        &http,
        Method::GET,
        &format!("{base}/api/returns/{rid}"),
        &acme,
        None,
    )
    .await;
    let label = &shown["label"];
    assert_eq!(label["carrier_account"], CARRIER_ID, "{shown}");
    let code = label["tracking_code"].as_str().unwrap().to_string();
    assert!(label["label_url"].as_str().unwrap().starts_with("http"));
    // The carrier's return shipment goes from the customer to the warehouse.
    let cs: Value = easypost
        .http
        .get(format!(
            "{}/v2/shipments/{}",
            easypost.base,
            app.store
                .return_row(rid)
                .await
                .unwrap()
                .unwrap()
                .carrier_shipment_id
                .unwrap()
        ))
        .bearer_auth(EP_KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(cs["is_return"], true, "{cs}");
    assert_eq!(cs["to_address"]["street1"], "417 Montgomery St", "{cs}");
    assert_eq!(cs["reference"], reference.as_str());

    // The return label's tracking moves the return along.
    for (step, want) in [
        ("in_transit", "in_transit"),
        ("out_for_delivery", "in_transit"),
        ("delivered", "delivered"),
    ] {
        easypost
            .post(&format!("/_sandbox/trackers/{code}/advance"), json!({}))
            .await;
        let moved = wait_for(Duration::from_secs(30), || {
            let app = app.clone();
            let code = code.clone();
            async move {
                let r = app.store.return_row(rid).await.unwrap().unwrap();
                r.tracking_status.as_deref() == Some(step)
                    && r.status == want
                    && r.tracking_code.as_deref() == Some(code.as_str())
            }
        })
        .await;
        assert!(moved, "return tracking {step} → {want}");
    }

    // Receipt: restock and damaged.
    let before_a = on_hand(&app, &sku_a).await;
    let before_b = match &second {
        Some((b, _)) => on_hand(&app, b).await,
        None => 0,
    };
    let (receipt, restocked) = match &second {
        Some((b, _)) => (
            vec![
                json!({"sku": sku_a, "quantity": qty_a, "condition": "restock"}),
                json!({"sku": b, "quantity": 1, "condition": "damaged"}),
            ],
            qty_a,
        ),
        None => (
            vec![
                json!({"sku": sku_a, "quantity": qty_a - 1, "condition": "restock"}),
                json!({"sku": sku_a, "quantity": 1, "condition": "damaged"}),
            ],
            qty_a - 1,
        ),
    };
    let (st, bad) = call(
        &http,
        Method::POST,
        &format!("{base}/api/returns/{rid}/receive"),
        &acme,
        Some(json!({"lines": [{"sku": "NOT-IN-IT", "quantity": 1, "condition": "restock"}]})),
    )
    .await;
    assert_eq!(st, 422, "{bad}");
    let (st, got) = call(
        &http,
        Method::POST,
        &format!("{base}/api/returns/{rid}/receive"),
        &acme,
        Some(json!({"lines": receipt, "author": "dock-3"})),
    )
    .await;
    assert_eq!(st, 200, "{got}");
    assert_eq!(got["status"], "restocked");
    assert_eq!(
        on_hand(&app, &sku_a).await - before_a,
        restocked,
        "on hand rises by exactly the restocked units"
    );
    if let Some((b, _)) = &second {
        assert_eq!(
            on_hand(&app, b).await,
            before_b,
            "damaged units not restocked"
        );
    }
    let (st, again) = call(
        &http,
        Method::POST,
        &format!("{base}/api/returns/{rid}/receive"),
        &acme,
        Some(json!({"lines": receipt})),
    )
    .await;
    assert_eq!(st, 409, "received twice: {again}");
    assert_eq!(on_hand(&app, &sku_a).await - before_a, restocked);

    // Refund.
    let (st, bad) = call(
        &http,
        Method::POST,
        &format!("{base}/api/returns/{rid}/refund"),
        &acme,
        Some(json!({"status": "refunded"})),
    )
    .await;
    assert_eq!(st, 422, "no amount: {bad}");
    let (st, r) = call(
        &http,
        Method::POST,
        &format!("{base}/api/returns/{rid}/refund"),
        &acme,
        Some(json!({"status": "refunded", "amount": "12.50"})),
    )
    .await;
    assert_eq!(st, 200, "{r}");
    assert_eq!(r["refund"]["status"], "refunded");
    assert_eq!(r["refund"]["amount"], "12.5");
    let currency = r["refund"]["currency"].as_str().unwrap().to_string();
    let (st, _) = call(
        &http,
        Method::POST,
        &format!("{base}/api/returns/{rid}/refund"),
        &acme,
        Some(json!({"status": "declined"})),
    )
    .await;
    assert_eq!(st, 409, "a refund is final");

    // KPIs.
    let (st, k) = call(
        &http,
        Method::GET,
        &format!("{base}/api/kpis?from=2000-01-01T00:00:00Z"),
        &acme,
        None,
    )
    .await;
    assert_eq!(st, 200, "{k}");
    let rk = &k["returns"];
    assert_eq!(rk["returns"], 1, "{rk}");
    assert_eq!(rk["return_rate"]["matching"], 1, "{rk}");
    assert_eq!(rk["return_rate"]["count"], 3, "{rk}");
    assert_eq!(rk["by_status"]["restocked"], 1, "{rk}");
    assert_eq!(rk["units_by_reason"]["wrong_item"], qty_a, "{rk}");
    assert_eq!(rk["units_restocked"], restocked, "{rk}");
    assert_eq!(rk["units_damaged"], 1, "{rk}");
    assert_eq!(rk["refunded"][&currency], "12.5", "{rk}");
    let (_, k) = call(
        &http,
        Method::GET,
        &format!("{base}/api/kpis?from=2000-01-01T00:00:00Z"),
        &globex,
        None,
    )
    .await;
    assert_eq!(k["returns"]["returns"], 0, "another seller's KPIs: {k}");

    // The timeline: each step once, in order.
    let (st, tl) = call(
        &http,
        Method::GET,
        &format!("{base}/api/orders/{order_id}/timeline"),
        OPS_TOKEN,
        None,
    )
    .await;
    assert_eq!(st, 200);
    let kinds: Vec<String> = tl
        .as_array()
        .or_else(|| tl["timeline"].as_array())
        .unwrap_or_else(|| panic!("{tl}"))
        .iter()
        .filter_map(|e| e["kind"].as_str())
        .filter(|k| k.starts_with("return_"))
        .map(str::to_string)
        .collect();
    assert_eq!(
        kinds,
        [
            "return_requested",
            "return_label_bought",
            "return_in_transit",
            "return_delivered",
            "return_received",
            "return_restocked",
            "return_refunded"
        ],
        "{tl}"
    );

    if db == Db::Sqlite {
        cli_round(&toml, &app, &ids[..3], order_id).await;
    }
}

/// `orderhub returns …` through the real binary, on the same database.
async fn cli_round(toml: &str, app: &App, delivered: &[i64], returned: i64) {
    let other = *delivered.iter().find(|&&o| o != returned).unwrap();
    let res = app.store.reservations(other).await.unwrap();
    let sku = res[0].sku.clone();
    let dir = std::env::temp_dir().join(format!(
        "orderhub-returns-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("c.toml");
    std::fs::write(&cfg, toml).unwrap();
    let bin = env!("CARGO_BIN_EXE_orderhub");
    let run = |args: Vec<String>| {
        let out = std::process::Command::new(bin)
            .arg("--config")
            .arg(&cfg)
            .args(&args)
            .env("ORDERHUB_LOG", "error")
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let (code, _, err) = run(s(&[
        "returns",
        "create",
        "--order",
        &other.to_string(),
        "--line",
        &format!("{sku}:1:bogus"),
    ]));
    assert_eq!(code, Some(1), "a bad reason is refused: {err}");
    let (code, _, err) = run(s(&[
        "returns",
        "create",
        "--order",
        &other.to_string(),
        "--line",
        "nonsense",
    ]));
    assert_eq!(code, Some(2), "{err}");
    let (code, out, err) = run(s(&[
        "returns",
        "create",
        "--order",
        &other.to_string(),
        "--line",
        &format!("{sku}:1:no_longer_needed"),
    ]));
    assert_eq!(code, Some(0), "{out}{err}");
    let id: i64 = out.split('\t').next().unwrap().trim().parse().unwrap();
    assert!(out.contains("RMA-"), "{out}");
    let (code, out, _) = run(s(&["returns", "list"]));
    assert_eq!(code, Some(0));
    assert_eq!(out.lines().count(), 3, "header and two returns: {out}");
    let before = on_hand(app, &sku).await;
    let (code, out, err) = run(s(&[
        "returns",
        "receive",
        &id.to_string(),
        "--line",
        &format!("{sku}:1:damaged"),
    ]));
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("damaged"), "{out}");
    assert_eq!(
        on_hand(app, &sku).await,
        before,
        "damaged: nothing restocked"
    );
    let (code, _, err) = run(s(&[
        "returns",
        "refund",
        &id.to_string(),
        "--status",
        "declined",
    ]));
    assert_eq!(code, Some(0), "{err}");
    let v = app.store.get_return(id).await.unwrap().unwrap();
    assert_eq!(v.status, "damaged");
    assert_eq!(v.refund.status, "declined");
    assert_eq!(v.lines[0].damaged, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn return_round_trip_sqlite() {
    run(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn return_round_trip_postgres() {
    run(Db::Postgres).await;
}
