//! Outbound notifications as signed webhooks (Standard Webhooks), on SQLite
//! and PostgreSQL, with the real worker and server against the Shopify
//! sandbox and a receiver started by the test:
//!
//! 1. a receiver subscribed to `*` gets every notification of synced orders,
//!    their notes and status changes once, in order per order, and every
//!    signature verifies with the Standard Webhooks reference library from
//!    PyPI (`tests/outbound/verify.py`);
//! 2. a receiver that is down (port closed, then 503) and comes back gets
//!    every notification, none twice, in order; the failed attempts are
//!    recorded and shown by the API;
//! 3. a receiver that keeps failing gets its subscriber paused (shown by the
//!    API), its deliveries kept; after a resume it gets them all, in order;
//! 4. a seller's token sees only its own subscribers and deliveries, and
//!    another seller's subscriber is a 404.

mod common;

use common::*;
use orderhub::app::App;
use orderhub_core::store::notification_type;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const OPS_TOKEN: &str = "outbound-test-ops-token";
const SECRET_VAR: &str = "ORDERHUB_TEST_OUTBOUND_SECRET";
/// 24 random bytes, base64.
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const SUB: &str = "acme-hooks";

fn set_env() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        std::env::set_var("ORDERHUB_API_TOKEN", OPS_TOKEN);
        std::env::set_var(SECRET_VAR, SECRET);
    });
}

/// One request the receiver got, and what it answered.
#[derive(Debug, Clone)]
struct Got {
    id: String,
    timestamp: String,
    signature: String,
    body: String,
    answered: u16,
}

impl Got {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).expect("the body is JSON")
    }
}

/// A webhook receiver: answers `status` to every request and records it.
#[derive(Clone)]
struct Receiver {
    addr: SocketAddr,
    got: Arc<Mutex<Vec<Got>>>,
    status: Arc<AtomicU16>,
}

impl Receiver {
    /// An address nobody listens on yet (connection refused until `serve`).
    async fn reserve() -> Receiver {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        drop(l);
        Receiver {
            addr,
            got: Arc::default(),
            status: Arc::new(AtomicU16::new(200)),
        }
    }

    async fn start(status: u16) -> Receiver {
        let r = Receiver::reserve().await;
        r.set(status);
        r.serve().await;
        r
    }

    async fn serve(&self) {
        let me = self.clone();
        let app = axum::Router::new().route(
            "/hooks",
            axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
                let me = me.clone();
                async move {
                    let h = |n: &str| {
                        headers
                            .get(n)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("")
                            .to_string()
                    };
                    let answered = me.status.load(Ordering::SeqCst);
                    me.got.lock().unwrap().push(Got {
                        id: h("webhook-id"),
                        timestamp: h("webhook-timestamp"),
                        signature: h("webhook-signature"),
                        body,
                        answered,
                    });
                    axum::http::StatusCode::from_u16(answered).unwrap()
                }
            }),
        );
        // The port was free a moment ago; retry briefly if the OS is slow to let go.
        let mut tries = 0;
        let listener = loop {
            match tokio::net::TcpListener::bind(self.addr).await {
                Ok(l) => break l,
                Err(e) if tries < 50 => {
                    tries += 1;
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("cannot listen on {} again: {e}", self.addr),
            }
        };
        tokio::spawn(async move { axum::serve(listener, app).await });
    }

    fn set(&self, status: u16) {
        self.status.store(status, Ordering::SeqCst);
    }

    fn url(&self) -> String {
        // The query string must never show in the API or the logs.
        format!("http://{}/hooks?token=receiver-secret", self.addr)
    }

    fn all(&self) -> Vec<Got> {
        self.got.lock().unwrap().clone()
    }

    /// The requests answered 2xx, in arrival order.
    fn accepted(&self) -> Vec<Got> {
        self.all()
            .into_iter()
            .filter(|g| (200..300).contains(&g.answered))
            .collect()
    }
}

fn subscriber_toml(id: &str, seller: &str, url: &str) -> String {
    format!(
        r#"
[[notifications.webhooks]]
id = "{id}"
seller = "{seller}"
url = "{url}"
events = ["*"]
[notifications.webhooks.secrets]
signing_secret = "{SECRET_VAR}"
"#
    )
}

/// Shopify channel `shop` (seller acme), the notifications settings and the
/// subscribers.
fn toml(db_url: &str, shopify: &str, notifications: &str, subscribers: &[String]) -> String {
    config_toml(db_url, shopify, "")
        + &format!("\n[notifications]\n{notifications}\n")
        + &subscribers.concat()
}

/// Fast retries (0.1 s doubling to 1 s) and no pause unless asked.
const FAST: &str = "retry_base_ms = 100\nretry_max_secs = 1\ntimeout_ms = 2000";

async fn start(toml: &str) -> (Arc<App>, Api) {
    set_env();
    set_secrets();
    let loaded = orderhub::settings::load_layers(None, Some(toml)).expect("valid test config");
    let app = App::start(loaded).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(orderhub::run(app.clone(), listener));
    let api = Api {
        base: format!("http://{addr}"),
        http: reqwest::Client::new(),
    };
    (app, api)
}

struct Api {
    base: String,
    http: reqwest::Client,
}

impl Api {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap();
        let status = r.status();
        let text = r.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.call(reqwest::Method::GET, path, token, None).await
    }

    async fn post(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.call(reqwest::Method::POST, path, token, Some(body))
            .await
    }

    async fn subscriber(&self, id: &str) -> Value {
        let (s, v) = self.get("/api/webhooks/subscribers", OPS_TOKEN).await;
        assert_eq!(s, 200, "{v}");
        v["subscribers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["id"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("no subscriber {id} in {v}"))
    }

    async fn deliveries(&self, query: &str, token: &str) -> Vec<Value> {
        let (s, v) = self
            .get(&format!("/api/webhooks/deliveries?limit=500{query}"), token)
            .await;
        assert_eq!(s, 200, "{v}");
        v["deliveries"].as_array().unwrap().clone()
    }
}

fn all_orders() -> orderhub_core::store::OrderFilter {
    orderhub_core::store::OrderFilter {
        limit: 1000,
        ..Default::default()
    }
}

/// What the timeline says should have been sent: webhook id → (order id,
/// order event id, type), for the orders of seller acme (all of them here).
async fn expected(app: &App) -> BTreeMap<String, (i64, i64, String)> {
    let mut out = BTreeMap::new();
    for o in app.store.list_orders(&all_orders()).await.unwrap() {
        for e in app.store.order_timeline(o.id).await.unwrap() {
            if let Some(t) = notification_type(&e.kind, &e.detail) {
                out.insert(format!("msg_{}_{SUB}", e.id), (o.id, e.id, t.to_string()));
            }
        }
    }
    out
}

/// Whether the receiver accepted exactly what the timeline calls for and
/// nothing is pending.
async fn all_received(app: &App, r: &Receiver) -> bool {
    let got: BTreeSet<String> = r.accepted().into_iter().map(|g| g.id).collect();
    let want: BTreeSet<String> = expected(app).await.into_keys().collect();
    let pending = app
        .store
        .webhook_subscriber(SUB)
        .await
        .ok()
        .flatten()
        .map_or(-1, |s| s.pending);
    !want.is_empty() && got == want && pending == 0
}

/// Wait until the receiver accepted exactly what the timeline calls for,
/// and still does a second later (the worker may still be moving orders).
async fn wait_all_received(app: &App, r: &Receiver, within: Duration) {
    let ok = wait_for(within, || async move {
        if !all_received(app, r).await {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(1000)).await;
        all_received(app, r).await
    })
    .await;
    if !ok {
        let got: BTreeSet<String> = r.accepted().into_iter().map(|g| g.id).collect();
        let want: BTreeSet<String> = expected(app).await.into_keys().collect();
        panic!(
            "received != expected\nmissing: {:?}\nextra: {:?}",
            want.difference(&got).collect::<Vec<_>>(),
            got.difference(&want).collect::<Vec<_>>()
        );
    }
}

/// Each notification accepted once, and per order in timeline order.
fn assert_once_in_order(r: &Receiver) {
    let accepted = r.accepted();
    let mut seen = BTreeSet::new();
    for g in &accepted {
        assert!(seen.insert(g.id.clone()), "{} accepted twice", g.id);
    }
    let mut last: BTreeMap<i64, i64> = BTreeMap::new();
    for g in &accepted {
        let b = g.json();
        let order = b["data"]["order"]["id"].as_i64().unwrap();
        let event = b["data"]["event_id"].as_i64().unwrap();
        let prev = last.insert(order, event).unwrap_or(0);
        assert!(
            event > prev,
            "order {order}: event {event} arrived after {prev}"
        );
    }
}

/// Sync `n` orders from a fresh sandbox.
async fn orders(app: &App, n: u64) {
    let ok = wait_for(Duration::from_secs(60), || async move {
        app.store.count_orders(Some("shop")).await.unwrap_or(0) >= n
    })
    .await;
    assert!(ok, "{n} orders synced");
}

async fn order_ids(app: &App) -> Vec<i64> {
    app.store
        .list_orders(&all_orders())
        .await
        .unwrap()
        .into_iter()
        .map(|o| o.id)
        .collect()
}

/// Run the reference library's verifier on what the receiver accepted.
fn verify_with_reference_library(got: &[Got]) {
    let importable = |py: &str| {
        std::process::Command::new(py)
            .args(["-c", "import standardwebhooks"])
            .status()
            .is_ok_and(|s| s.success())
    };
    let py = "python3";
    if !importable(py) {
        let out = std::process::Command::new(py)
            .args(["-m", "pip", "install", "--quiet", "standardwebhooks"])
            .output()
            .expect("python3 runs");
        assert!(
            out.status.success() && importable(py),
            "could not install the Standard Webhooks reference library from PyPI \
             (`python3 -m pip install standardwebhooks`): {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let dir = std::env::temp_dir().join("orderhub-tests");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join(format!("outbound-{}.jsonl", uuid::Uuid::new_v4().simple()));
    let lines: Vec<String> = got
        .iter()
        .map(|g| {
            json!({
                "headers": {
                    "webhook-id": g.id,
                    "webhook-timestamp": g.timestamp,
                    "webhook-signature": g.signature,
                },
                "body": g.body,
            })
            .to_string()
        })
        .collect();
    std::fs::write(&file, lines.join("\n")).unwrap();
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/outbound/verify.py");
    let out = std::process::Command::new(py)
        .arg(&script)
        .arg(&file)
        .env("OUTBOUND_SECRET", SECRET)
        .output()
        .expect("python3 runs");
    let _ = std::fs::remove_file(&file);
    assert!(
        out.status.success(),
        "the reference library refused a delivery: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("{}", String::from_utf8_lossy(&out.stdout).trim());
}

async fn every_event_once_in_order_and_signed(db: Db) {
    let shopify = Sandbox::start().await;
    shopify.seed(3, 100).await;
    let r = Receiver::start(200).await;
    let url = fresh_db(db).await;
    let (app, api) = start(&toml(
        &url,
        &shopify.base,
        FAST,
        &[subscriber_toml(SUB, "acme", &r.url())],
    ))
    .await;
    let (app, api) = (&*app, &api);
    orders(app, 3).await;
    let ids = order_ids(app).await;
    for id in &ids {
        let (s, v) = api
            .post(
                &format!("/api/orders/{id}/notes"),
                OPS_TOKEN,
                json!({ "author": "ana", "text": format!("called about {id}") }),
            )
            .await;
        assert_eq!(s, 201, "{v}");
    }
    // Staff status changes (routing may be moving the order too: retry a 409).
    for id in &ids {
        let changed = wait_for(Duration::from_secs(20), || async move {
            let (s, _) = api
                .post(
                    &format!("/api/orders/{id}/status"),
                    OPS_TOKEN,
                    json!({ "status": "cancelled", "author": "ana", "reason": "customer asked" }),
                )
                .await;
            s == 200
        })
        .await;
        assert!(changed, "order {id} cancelled by staff");
    }
    wait_all_received(app, &r, Duration::from_secs(60)).await;
    assert_once_in_order(&r);
    let got = r.accepted();
    // What each order got: created first, the note, the staff status change.
    for id in &ids {
        let mine: Vec<Value> = got
            .iter()
            .map(Got::json)
            .filter(|b| b["data"]["order"]["id"] == *id)
            .collect();
        assert_eq!(mine[0]["type"], "order.created", "{mine:?}");
        let note = mine
            .iter()
            .find(|b| b["type"] == "order.note_added")
            .expect("the note was notified");
        assert_eq!(note["data"]["change"]["author"], "ana");
        assert_eq!(note["data"]["change"]["text"], format!("called about {id}"));
        assert!(
            mine.iter().any(|b| b["type"] == "order.status_changed"
                && b["data"]["change"]["to"] == "cancelled"
                && b["data"]["actor"] == "staff:ana"),
            "{mine:?}"
        );
        for b in &mine {
            assert!(b["timestamp"].is_string());
            assert_eq!(b["data"]["order"]["channel_id"], "shop");
            assert!(b["data"]["order"]["number"].is_string(), "{b}");
            let order = b["data"]["order"].as_object().unwrap();
            for private in [
                "customer",
                "customer_email",
                "customer_name",
                "ship_to",
                "bill_to",
            ] {
                assert!(!order.contains_key(private), "{private} in {b}");
            }
        }
    }
    for g in &got {
        assert!(!g.body.contains('@'), "an email address in {}", g.body);
        assert!(g.signature.starts_with("v1,"), "{}", g.signature);
    }
    // The same id on the delivery in the API, delivered, one attempt each.
    let deliveries = api
        .deliveries(&format!("&subscriber={SUB}"), OPS_TOKEN)
        .await;
    assert_eq!(deliveries.len(), got.len());
    for d in &deliveries {
        assert_eq!(d["status"], "delivered", "{d}");
        assert_eq!(d["attempt_count"], 1, "{d}");
        assert_eq!(d["attempts"][0]["status_code"], 200, "{d}");
    }
    let sub = api.subscriber(SUB).await;
    assert_eq!(sub["state"], "active");
    assert_eq!(sub["pending"], 0);
    assert_eq!(sub["delivered"], got.len());
    assert!(
        !sub["url"].as_str().unwrap().contains("receiver-secret"),
        "{sub}"
    );
    // Dispatching again changes nothing.
    let subs = app.settings.notifications.webhooks.clone();
    let again = app
        .store
        .dispatch_notifications(&subs, 500, chrono::Duration::seconds(0))
        .await
        .unwrap();
    assert_eq!(again.deliveries, 0);
    verify_with_reference_library(&got);
}

async fn a_receiver_that_was_down_gets_everything(db: Db) {
    let shopify = Sandbox::start().await;
    shopify.seed(3, 100).await;
    let r = Receiver::reserve().await; // connection refused for now
    let url = fresh_db(db).await;
    let (app, api) = start(&toml(
        &url,
        &shopify.base,
        FAST,
        &[subscriber_toml(SUB, "acme", &r.url())],
    ))
    .await;
    let (app, api, r) = (&*app, &api, &r);
    orders(app, 3).await;
    let refused = wait_for(Duration::from_secs(30), || async move {
        let d = api
            .deliveries(&format!("&subscriber={SUB}&status=failed"), OPS_TOKEN)
            .await;
        d.iter()
            .any(|d| d["attempts"].as_array().unwrap().len() >= 2)
    })
    .await;
    assert!(refused, "attempts against a closed port are recorded");
    // Up, but answering 503.
    r.set(503);
    r.serve().await;
    let unavailable = wait_for(
        Duration::from_secs(30),
        || async move { r.all().len() >= 3 },
    )
    .await;
    assert!(unavailable, "the receiver saw retries while answering 503");
    assert!(r.accepted().is_empty());
    // Back.
    r.set(200);
    wait_all_received(app, &r, Duration::from_secs(60)).await;
    assert_once_in_order(&r);
    // Retries of one delivery carry the same webhook-id.
    let all = r.all();
    let retried = all
        .iter()
        .filter(|g| g.answered == 503)
        .map(|g| g.id.clone())
        .collect::<BTreeSet<_>>();
    assert!(retried
        .iter()
        .all(|id| r.accepted().iter().any(|g| &g.id == id)));
    // The failures are on record.
    let deliveries = api
        .deliveries(&format!("&subscriber={SUB}"), OPS_TOKEN)
        .await;
    let attempts: Vec<&Value> = deliveries
        .iter()
        .flat_map(|d| d["attempts"].as_array().unwrap())
        .collect();
    assert!(
        attempts.iter().any(|a| a["status_code"].is_null()
            && a["error"]
                .as_str()
                .is_some_and(|e| e.contains("connection"))),
        "a refused connection recorded: {attempts:?}"
    );
    assert!(attempts.iter().any(|a| a["status_code"] == 503));
    assert!(deliveries.iter().all(|d| d["status"] == "delivered"));
    let head = deliveries
        .iter()
        .min_by_key(|d| d["order_event_id"].as_i64())
        .unwrap();
    let n = head["attempts"].as_array().unwrap().len();
    assert!(n >= 3, "the head was retried: {head}");
    assert_eq!(head["attempt_count"], n);
    for (i, a) in head["attempts"].as_array().unwrap().iter().enumerate() {
        assert_eq!(a["attempt"], i + 1);
        assert!(a["duration_ms"].is_i64());
    }
    let sub = api.subscriber(SUB).await;
    assert_eq!(sub["state"], "active", "{sub}");
    assert_eq!(sub["consecutive_failures"], 0, "{sub}");
    verify_with_reference_library(&r.accepted());
}

async fn a_failing_receiver_is_paused_then_resumed(db: Db) {
    let shopify = Sandbox::start().await;
    shopify.seed(2, 100).await;
    let r = Receiver::start(500).await;
    let url = fresh_db(db).await;
    // Paused after 3 failures spanning at least ~1 s.
    let settings = format!("{FAST}\npause_after_failures = 3\npause_after_hours = 0.0003");
    let (app, api) = start(&toml(
        &url,
        &shopify.base,
        &settings,
        &[subscriber_toml(SUB, "acme", &r.url())],
    ))
    .await;
    let (app, api) = (&*app, &api);
    orders(app, 2).await;
    let paused = wait_for(Duration::from_secs(30), || async move {
        api.subscriber(SUB).await["state"] == "paused"
    })
    .await;
    assert!(paused, "paused: {}", api.subscriber(SUB).await);
    let sub = api.subscriber(SUB).await;
    assert!(sub["consecutive_failures"].as_i64().unwrap() >= 3, "{sub}");
    assert!(sub["paused_at"].is_string(), "{sub}");
    assert!(sub["last_error"].as_str().unwrap().contains("500"), "{sub}");
    // Nothing is sent while paused, and nothing is dropped.
    r.set(200);
    let tried = r.all().len();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(r.all().len(), tried, "sent while paused");
    assert!(r.accepted().is_empty());
    let kept = wait_for(Duration::from_secs(10), || async move {
        let want = expected(app).await.len() as i64;
        api.subscriber(SUB).await["pending"] == want
    })
    .await;
    assert!(kept, "every delivery kept: {}", api.subscriber(SUB).await);
    let failed = api
        .deliveries(&format!("&subscriber={SUB}&status=failed"), OPS_TOKEN)
        .await;
    assert_eq!(failed.len(), 1, "only the head was tried: {failed:?}");
    // Resume: everything, in order.
    let (s, v) = api
        .post(
            &format!("/api/webhooks/subscribers/{SUB}/resume"),
            OPS_TOKEN,
            json!({}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["state"], "active", "{v}");
    assert_eq!(v["consecutive_failures"], 0, "{v}");
    wait_all_received(app, &r, Duration::from_secs(60)).await;
    assert_once_in_order(&r);
    let sub = api.subscriber(SUB).await;
    assert_eq!(sub["pending"], 0, "{sub}");
    assert_eq!(sub["state"], "active", "{sub}");
    verify_with_reference_library(&r.accepted());
}

async fn sellers_see_only_their_own(db: Db) {
    let shopify = Sandbox::start().await;
    shopify.seed(2, 100).await;
    let acme = Receiver::start(200).await;
    let globex = Receiver::start(200).await;
    let url = fresh_db(db).await;
    let subs = [
        subscriber_toml(SUB, "acme", &acme.url()),
        subscriber_toml("globex-hooks", "globex", &globex.url()),
    ];
    let (app, api) = start(&toml(&url, &shopify.base, FAST, &subs)).await;
    let app = &*app;
    app.store
        .create_token("acme", "ci", "acme-token-1")
        .await
        .unwrap();
    app.store
        .create_token("globex", "ci", "globex-token-1")
        .await
        .unwrap();
    orders(app, 2).await;
    wait_all_received(app, &acme, Duration::from_secs(60)).await;
    assert!(globex.all().is_empty(), "globex got acme's orders");

    let ids = |v: &Value, key: &str| -> BTreeSet<String> {
        v[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["id"].as_str().unwrap().to_string())
            .collect()
    };
    let (s, v) = api.get("/api/webhooks/subscribers", "acme-token-1").await;
    assert_eq!(s, 200);
    assert_eq!(ids(&v, "subscribers"), BTreeSet::from([SUB.to_string()]));
    let (_, v) = api.get("/api/webhooks/subscribers", "globex-token-1").await;
    assert_eq!(
        ids(&v, "subscribers"),
        BTreeSet::from(["globex-hooks".to_string()])
    );
    let (_, v) = api.get("/api/webhooks/subscribers", OPS_TOKEN).await;
    assert_eq!(ids(&v, "subscribers").len(), 2);

    let order = order_ids(app).await[0];
    let mine = api.deliveries("", "acme-token-1").await;
    assert!(!mine.is_empty());
    assert!(mine.iter().all(|d| d["subscriber_id"] == SUB));
    for q in [
        String::new(),
        format!("&subscriber={SUB}"),
        format!("&order_id={order}"),
        "&status=delivered".to_string(),
    ] {
        let theirs = api.deliveries(&q, "globex-token-1").await;
        assert!(
            theirs.is_empty(),
            "globex sees acme's deliveries with {q}: {theirs:?}"
        );
    }
    let by_order = api
        .deliveries(&format!("&order_id={order}"), "acme-token-1")
        .await;
    assert!(!by_order.is_empty() && by_order.iter().all(|d| d["order_id"] == order));

    // Another seller's subscriber is not found; one's own resumes.
    let (s, _) = api
        .post(
            &format!("/api/webhooks/subscribers/{SUB}/resume"),
            "globex-token-1",
            json!({}),
        )
        .await;
    assert_eq!(s, 404);
    let (s, _) = api
        .post(
            "/api/webhooks/subscribers/nope/resume",
            OPS_TOKEN,
            json!({}),
        )
        .await;
    assert_eq!(s, 404);
    let (s, v) = api
        .post(
            &format!("/api/webhooks/subscribers/{SUB}/resume"),
            "acme-token-1",
            json!({}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["id"], SUB);
    // No token, a bad token, bad parameters.
    for path in [
        "/api/webhooks/subscribers",
        "/api/webhooks/deliveries?limit=abc",
    ] {
        let r = reqwest::get(format!("{}{path}", api.base)).await.unwrap();
        assert_eq!(r.status(), 401, "{path}");
        let (s, _) = api.get(path, "wrong-token").await;
        assert_eq!(s, 401, "{path}");
    }
    for q in [
        "status=bogus",
        "limit=0",
        "limit=501",
        "limit=abc",
        "order_id=x",
        "subscriber=%00",
    ] {
        let (s, v) = api
            .get(&format!("/api/webhooks/deliveries?{q}"), OPS_TOKEN)
            .await;
        assert_eq!(s, 400, "{q}: {v}");
    }
}

macro_rules! both {
    ($name:ident) => {
        mod $name {
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn sqlite() {
                super::$name(Db::Sqlite).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn postgres() {
                super::$name(Db::Postgres).await;
            }
        }
    };
}

both!(every_event_once_in_order_and_signed);
both!(a_receiver_that_was_down_gets_everything);
both!(a_failing_receiver_is_paused_then_resumed);
both!(sellers_see_only_their_own);

/// Config validation lists every problem of the notifications section.
#[test]
fn bad_notification_config_is_refused_with_every_problem() {
    std::env::set_var("ORDERHUB_TEST_OUTBOUND_BAD", "not-a-whsec-secret");
    let t = r#"
[database]
url = "sqlite::memory:"
[notifications]
pause_after_failures = 0
[[notifications.webhooks]]
id = "a"
seller = "acme"
url = "ftp://nope"
events = ["order.created", "order.exploded"]
[[notifications.webhooks]]
id = "a"
seller = "acme"
url = "https://hooks.example/in"
events = ["*"]
[notifications.webhooks.secrets]
signing_secret = "ORDERHUB_TEST_OUTBOUND_BAD"
[[notifications.webhooks]]
id = "c"
seller = "acme"
url = "https://hooks.example/in"
events = ["*"]
[notifications.webhooks.secrets]
signing_secret = "ORDERHUB_TEST_OUTBOUND_UNSET_VAR"
"#;
    let problems = orderhub::settings::load_layers(None, Some(t))
        .err()
        .expect("refused")
        .join("\n");
    for want in [
        "notifications.pause_after_failures",
        "url `ftp://nope` is not an http(s) URL",
        "unknown event type `order.exploded`",
        "missing secret `signing_secret`",
        "duplicate webhook subscriber id",
        "does not hold a whsec_",
        "ORDERHUB_TEST_OUTBOUND_UNSET_VAR is not set",
    ] {
        assert!(problems.contains(want), "{want} missing from:\n{problems}");
    }
    assert!(
        !problems.contains("not-a-whsec-secret"),
        "a secret in a message"
    );
}
