//! Inventory (issue 7), on SQLite and PostgreSQL against the real server and
//! binary: stock set by API (another seller's warehouse is a 404 and never
//! listed), a stock count records the differences it found, low-stock
//! alerts (a crossing raises one, lows after it do not repeat it, recovery
//! clears it, the next crossing raises a new one; the scheduler's sweep
//! catches writes made elsewhere), a CSV import through `orderhub stock
//! import` (a bad file changes nothing and names its bad lines), and a
//! cancelled order's shipment still `created` (no label batch will take it)
//! released by the scheduler's sweep.

mod common;

use common::flow::*;
use common::*;
use orderhub::app::App;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

const OPS_TOKEN: &str = "inventory-test-ops-token";

fn set_ops_token() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| std::env::set_var("ORDERHUB_API_TOKEN", OPS_TOKEN));
}

/// Warehouse `main` (acme, from the flow config) and `gmain` (globex), a
/// global threshold of 5 and 10 for SKU-001.
fn toml(db_url: &str, shopify: &str, extra: &str) -> String {
    flow_toml(db_url, shopify, "http://127.0.0.1:9", "")
        + r#"
[[warehouses]]
id = "gmain"
seller = "globex"
priority = 10
stock = { "SKU-001" = 100 }

[inventory]
low_stock_threshold = 5
thresholds = { "SKU-001" = 10 }
"# + extra
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
    ) -> (StatusCode, Value) {
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
        let text = r.text().await.unwrap_or_default();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn get(&self, path: &str, token: &str) -> Value {
        let (status, body) = self.call(Method::GET, path, token, None).await;
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }

    async fn put_stock(
        &self,
        w: &str,
        sku: &str,
        on_hand: i64,
        token: &str,
    ) -> (StatusCode, Value) {
        self.call(
            Method::PUT,
            &format!("/api/stock/{w}/{sku}"),
            token,
            Some(json!({ "on_hand": on_hand, "reason": "test" })),
        )
        .await
    }
}

async fn serve(app: &Arc<App>) -> Client {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let c = Client {
        base: format!("http://{}", listener.local_addr().unwrap()),
        http: reqwest::Client::new(),
    };
    tokio::spawn(orderhub::server::serve(app.clone(), listener));
    c
}

fn alerts_of<'a>(v: &'a Value, sku: &str) -> Vec<&'a Value> {
    v["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["sku"] == sku)
        .collect()
}

async fn api_case(db: Db) {
    set_ops_token();
    set_flow_secrets();
    let shopify = Sandbox::start().await;
    let url = fresh_db(db).await;
    let loaded = orderhub::settings::load_layers(None, Some(&toml(&url, &shopify.base, "")))
        .expect("valid test config");
    let app = App::start(loaded).await.unwrap();
    let acme = orderhub::cli::new_token();
    app.store.create_token("acme", "test", &acme).await.unwrap();
    let globex = orderhub::cli::new_token();
    app.store
        .create_token("globex", "test", &globex)
        .await
        .unwrap();
    let c = serve(&app).await;

    // Set by API.
    let (status, row) = c.put_stock("main", "SKU-050", 40, &acme).await;
    assert_eq!(status, 200, "{row}");
    assert_eq!(
        (
            row["on_hand"].as_i64(),
            row["reserved"].as_i64(),
            row["available"].as_i64()
        ),
        (Some(40), Some(0), Some(40)),
        "{row}"
    );
    // Another seller's warehouse: 404, nothing changed, never listed.
    let (status, body) = c.put_stock("main", "SKU-050", 1, &globex).await;
    assert_eq!(status, 404, "{body}");
    let (status, body) = c.put_stock("nowhere", "SKU-050", 1, &acme).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(
        app.store
            .stock("main", "SKU-050")
            .await
            .unwrap()
            .unwrap()
            .on_hand,
        40
    );
    let theirs = c.get("/api/stock?warehouse=main", &globex).await;
    assert_eq!(theirs["stock"], json!([]), "{theirs}");
    let theirs = c.get("/api/stock", &globex).await;
    for r in theirs["stock"].as_array().unwrap() {
        assert_eq!(r["warehouse_id"], "gmain", "{r}");
    }
    let mine = c.get("/api/stock?sku=SKU-050", &acme).await;
    assert_eq!(mine["stock"].as_array().unwrap().len(), 1, "{mine}");
    let all = c.get("/api/stock?sku=SKU-001", OPS_TOKEN).await;
    assert_eq!(
        all["stock"].as_array().unwrap().len(),
        2,
        "the ops token sees both: {all}"
    );
    // Bad input: documented JSON 4xx.
    let (status, body) = c.put_stock("main", "SKU-050", -1, &acme).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].is_string(), "{body}");
    let (status, body) = c
        .call(
            Method::PUT,
            "/api/stock/main/SKU-050",
            &acme,
            Some(json!({"on_hand": "x"})),
        )
        .await;
    assert_eq!(status, 422, "{body}");

    // A stock count: on hand becomes what was counted, the difference is recorded.
    let (status, body) = c
        .call(
            Method::POST,
            "/api/stock/counts",
            &acme,
            Some(json!({"warehouse": "main", "counted_by": "ana", "counts": [
                {"sku": "SKU-002", "counted": 999_990},
                {"sku": "SKU-003", "counted": 1_000_004},
                {"sku": "SKU-060", "counted": 7},
            ]})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let diffs: Vec<(String, i64, i64)> = body["counts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["sku"].as_str().unwrap().to_string(),
                c["expected"].as_i64().unwrap(),
                c["difference"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        diffs,
        vec![
            ("SKU-002".into(), 1_000_000, -10),
            ("SKU-003".into(), 1_000_000, 4),
            ("SKU-060".into(), 0, 7),
        ]
    );
    assert_eq!(
        app.store
            .stock("main", "SKU-002")
            .await
            .unwrap()
            .unwrap()
            .on_hand,
        999_990
    );
    let listed = c.get("/api/stock/counts?warehouse=main", &acme).await;
    assert_eq!(listed["counts"].as_array().unwrap().len(), 3, "{listed}");
    assert_eq!(listed["counts"][0]["counted_by"], "ana");
    let (status, body) = c
        .call(
            Method::POST,
            "/api/stock/counts",
            &globex,
            Some(json!({"warehouse": "main", "counted_by": "mallory", "counts": [{"sku": "SKU-002", "counted": 0}]})),
        )
        .await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(
        app.store
            .stock("main", "SKU-002")
            .await
            .unwrap()
            .unwrap()
            .on_hand,
        999_990
    );
    let theirs = c.get("/api/stock/counts", &globex).await;
    assert_eq!(theirs["counts"], json!([]), "{theirs}");
    let theirs = c.get("/api/stock/counts?warehouse=main", &globex).await;
    assert_eq!(theirs["counts"], json!([]), "{theirs}");

    // Alerts: SKU-001's threshold is 10.
    let open = |v: &Value| {
        alerts_of(v, "SKU-001")
            .into_iter()
            .filter(|a| a["open"] == true)
            .count()
    };
    assert_eq!(c.put_stock("main", "SKU-001", 8, &acme).await.0, 200);
    let a = c.get("/api/stock/alerts?open=true", &acme).await;
    let raised = alerts_of(&a, "SKU-001");
    assert_eq!(raised.len(), 1, "a crossing raises one: {a}");
    assert_eq!(
        (
            raised[0]["available"].as_i64(),
            raised[0]["threshold"].as_i64(),
            raised[0]["warehouse_id"].as_str()
        ),
        (Some(8), Some(10), Some("main"))
    );
    assert_eq!(c.put_stock("main", "SKU-001", 7, &acme).await.0, 200);
    assert_eq!(c.put_stock("main", "SKU-001", 2, &acme).await.0, 200);
    orderhub::server::stock::sweep_alerts(&app).await;
    let a = c.get("/api/stock/alerts", &acme).await;
    assert_eq!(
        alerts_of(&a, "SKU-001").len(),
        1,
        "repeated lows do not repeat it: {a}"
    );
    assert_eq!(c.put_stock("main", "SKU-001", 50, &acme).await.0, 200);
    let a = c.get("/api/stock/alerts", &acme).await;
    assert_eq!(alerts_of(&a, "SKU-001").len(), 1, "{a}");
    assert_eq!(open(&a), 0, "recovery clears it: {a}");
    assert!(alerts_of(&a, "SKU-001")[0]["cleared_at"].is_string(), "{a}");
    let none = c.get("/api/stock/alerts?open=true", &acme).await;
    assert!(alerts_of(&none, "SKU-001").is_empty(), "{none}");
    assert_eq!(c.put_stock("main", "SKU-001", 10, &acme).await.0, 200);
    let a = c.get("/api/stock/alerts", &acme).await;
    assert_eq!(
        alerts_of(&a, "SKU-001").len(),
        2,
        "crossing again raises a new one: {a}"
    );
    assert_eq!(open(&a), 1, "{a}");
    // The global threshold (5) for other skus; the count's SKU-060 (7) is above it.
    assert!(alerts_of(&a, "SKU-060").is_empty(), "{a}");
    assert_eq!(c.put_stock("main", "SKU-050", 5, &acme).await.0, 200);
    let a = c.get("/api/stock/alerts?open=true", &acme).await;
    assert_eq!(alerts_of(&a, "SKU-050").len(), 1, "{a}");
    // A write the API did not make (a reservation, say) is caught by the sweep.
    app.store.set_stock("main", "SKU-004", 3).await.unwrap();
    assert!(alerts_of(&c.get("/api/stock/alerts", &acme).await, "SKU-004").is_empty());
    orderhub::server::stock::sweep_alerts(&app).await;
    orderhub::server::stock::sweep_alerts(&app).await;
    let a = c.get("/api/stock/alerts?open=true", &acme).await;
    assert_eq!(alerts_of(&a, "SKU-004").len(), 1, "{a}");
    // ?low=true lists what is at or below its threshold.
    let low = c.get("/api/stock?low=true&warehouse=main", &acme).await;
    let mut skus: Vec<&str> = low["stock"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["sku"].as_str().unwrap())
        .collect();
    skus.sort();
    assert_eq!(skus, vec!["SKU-001", "SKU-004", "SKU-050"], "{low}");
    // Another seller's alerts are not listed.
    let theirs = c.get("/api/stock/alerts", &globex).await;
    assert_eq!(theirs["alerts"], json!([]), "{theirs}");
    let theirs = c.get("/api/stock/alerts?warehouse=main", &globex).await;
    assert_eq!(theirs["alerts"], json!([]), "{theirs}");
    let _ = Duration::ZERO;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stock_api_counts_and_alerts_sqlite() {
    api_case(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stock_api_counts_and_alerts_postgres() {
    api_case(Db::Postgres).await;
}

/// With `auto_buy_labels = false` nothing but a label batch takes a
/// `created` shipment; when its order is cancelled, the scheduler's sweep
/// cancels it and gives its reservations back, once.
async fn cancellation_case(db: Db) {
    set_flow_secrets();
    let shopify = Sandbox::start().await;
    shopify.seed(1, 1000).await;
    let url = fresh_db(db).await;
    let toml = toml(
        &url,
        &shopify.base,
        "\n[shipping]\nauto_buy_labels = false\n",
    );
    let loaded = orderhub::settings::load_layers(None, Some(&toml)).expect("valid test config");
    let app = App::start(loaded).await.unwrap();
    assert_eq!(sync_until(&app, 1, Duration::from_secs(30)).await, 1);
    let order = app.store.list_orders(&Default::default()).await.unwrap()[0].id;
    let shipment = match app.store.route_order(order).await.unwrap() {
        orderhub_core::store::RouteOutcome::Routed { shipment_id, .. } => shipment_id,
        other => panic!("not routed: {other:?}"),
    };
    let reservations = app.store.reservations(order).await.unwrap();
    assert!(!reservations.is_empty());
    for r in &reservations {
        let s = app
            .store
            .stock(&r.warehouse_id, &r.sku)
            .await
            .unwrap()
            .unwrap();
        assert!(s.reserved >= r.quantity, "{s:?}");
    }
    // A sweep before the cancellation leaves it waiting for a batch.
    orderhub::scheduler::sweep(&app).await;
    assert_eq!(
        app.store.shipment(shipment).await.unwrap().unwrap().status,
        "created"
    );
    let before: Vec<i64> = {
        let mut v = Vec::new();
        for r in &reservations {
            v.push(
                app.store
                    .stock(&r.warehouse_id, &r.sku)
                    .await
                    .unwrap()
                    .unwrap()
                    .reserved,
            );
        }
        v
    };

    app.store
        .change_status_by_staff(
            order,
            orderhub_core::OrderStatus::Cancelled,
            "ana",
            Some("buyer asked"),
        )
        .await
        .unwrap()
        .expect("cancelled");
    for _ in 0..2 {
        // Twice: the second sweep releases nothing more.
        orderhub::scheduler::sweep(&app).await;
        assert_eq!(
            app.store.shipment(shipment).await.unwrap().unwrap().status,
            "cancelled"
        );
        assert!(app.store.reservations(order).await.unwrap().is_empty());
        for (r, b) in reservations.iter().zip(&before) {
            let s = app
                .store
                .stock(&r.warehouse_id, &r.sku)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(s.reserved, b - r.quantity, "{s:?}");
            assert!(s.reserved >= 0);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_orders_created_shipments_release_stock_sqlite() {
    cancellation_case(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_orders_created_shipments_release_stock_postgres() {
    cancellation_case(Db::Postgres).await;
}

/// `orderhub stock import|list|alerts` through the real binary.
#[test]
fn stock_cli_imports_counts_and_refuses_a_bad_file_whole() {
    let bin = env!("CARGO_BIN_EXE_orderhub");
    let dir =
        std::env::temp_dir().join(format!("orderhub-stock-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("c.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"[database]
url = "sqlite://{}?mode=rwc"

[[warehouses]]
id = "main"
seller = "acme"
stock = {{ "SKU-001" = 100 }}

[inventory]
low_stock_threshold = 5
thresholds = {{ "SKU-001" = 10 }}
"#,
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
    let file = |name: &str, text: &str| {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p.to_str().unwrap().to_string()
    };
    let level = |list: &str, sku: &str| -> Vec<String> {
        list.lines()
            .find(|l| l.split_whitespace().nth(1) == Some(sku))
            .unwrap_or_else(|| panic!("{sku} not in {list}"))
            .split_whitespace()
            .map(str::to_string)
            .collect()
    };

    let good = file(
        "good.csv",
        "warehouse,sku,on_hand\nmain,SKU-001,50\nmain,SKU-002,3\n",
    );
    let (code, out, err) = run(&["stock", "import", &good]);
    assert_eq!(code, Some(0), "{out}{err}");
    let (code, list, err) = run(&["stock", "list", "--warehouse", "main"]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(level(&list, "SKU-001")[2], "50", "{list}");
    assert_eq!(level(&list, "SKU-002")[2], "3", "{list}");
    let (_, low, _) = run(&["stock", "list", "--low"]);
    assert!(low.contains("SKU-002") && !low.contains("SKU-001"), "{low}");
    let (code, alerts, _) = run(&["stock", "alerts"]);
    assert_eq!(code, Some(0));
    assert!(
        alerts.contains("SKU-002") && !alerts.contains("SKU-001"),
        "{alerts}"
    );

    // A bad file: every bad line named, nothing applied (not even its good rows).
    let bad = file(
        "bad.csv",
        "warehouse,sku,on_hand\nmain,SKU-001,1\nmain,SKU-002,abc\nnowhere,SKU-003,4\nmain,SKU-004,-2\nmain,SKU-001,9\n",
    );
    let (code, out, err) = run(&["stock", "import", &bad]);
    assert_eq!(code, Some(1), "{out}{err}");
    for line in ["line 3", "line 4", "line 5", "line 6"] {
        assert!(err.contains(line), "{line} not named: {err}");
    }
    assert!(!err.contains("line 2:"), "{err}");
    assert!(err.contains("nothing applied"), "{err}");
    let (_, list, _) = run(&["stock", "list", "--warehouse", "main"]);
    assert_eq!(level(&list, "SKU-001")[2], "50", "{list}");
    assert_eq!(level(&list, "SKU-002")[2], "3", "{list}");
    assert!(!list.contains("SKU-004"), "{list}");
    let header = file("header.csv", "wh,sku,qty\nmain,SKU-001,1\n");
    let (code, _, err) = run(&["stock", "import", &header]);
    assert_eq!(code, Some(1));
    assert!(err.contains("line 1"), "{err}");

    // A stock count: the differences are printed and recorded.
    let count = file(
        "count.csv",
        "warehouse,sku,on_hand\nmain,SKU-001,47\nmain,SKU-002,12\n",
    );
    let (code, out, err) = run(&["stock", "import", "--count", "--counted-by", "ana", &count]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("-3") && out.contains("+9"), "{out}");
    let (_, list, _) = run(&["stock", "list"]);
    assert_eq!(level(&list, "SKU-001")[2], "47", "{list}");
    // SKU-002 recovered (12 > 5): its alert is cleared.
    let (_, open, _) = run(&["stock", "alerts"]);
    assert!(!open.contains("SKU-002"), "{open}");
    let (_, all, _) = run(&["stock", "alerts", "--all"]);
    assert!(all.contains("SKU-002"), "{all}");
    let _ = std::fs::remove_dir_all(&dir);
}
