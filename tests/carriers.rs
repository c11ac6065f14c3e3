//! The carrier conformance suite: every carrier kind orderhub knows, against
//! its own sandbox, through the real worker and server, on SQLite and
//! PostgreSQL (`carrier_conformance!` below lists the kinds).
//!
//! For kinds that buy labels: rate shopping records a chosen rate and the
//! verdicts; a purchase cut off mid-flight (the future dropped, as a killed
//! worker leaves it) and then retried buys exactly one label; a batch under
//! 429s, 5xx and timeouts after a successful buy ends with every shipment
//! bought exactly once (invariant 4); the merged PDF has a page per label; a
//! label not yet picked up is voided through the carrier, once, and its stock
//! released. For every kind (tracking-only ones get labels recorded by hand):
//! tracking webhooks move every shipment to delivered, a replayed event
//! changes nothing, and tampered or unsigned deliveries get 401 and are not
//! stored (invariant 6).
//!
//! A second test buys 500 labels in one batch with one of two carriers down.

mod common;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::routing::post;
use axum::Router;
use common::*;
use orderhub::app::App;
use orderhub_connectors::sandbox::{CarrierSandboxSettings, SandboxLimits, SandboxProfile};
use orderhub_connectors::{carrier_kind, TrackingStatus};
use orderhub_core::store::{Store, SHIPMENT_LABEL_BOUGHT, SHIPMENT_VOIDED};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const API_TOKEN: &str = "carrier-suite-ops-token";
const ACCOUNT: &str = "carrier";

/// A carrier kind's sandbox, started from its declaration.
struct CarrierSandbox {
    kind: &'static str,
    base: String,
    profile: SandboxProfile,
    http: reqwest::Client,
    buys_labels: bool,
}

impl CarrierSandbox {
    async fn start(kind: &'static str) -> CarrierSandbox {
        Self::start_with(kind, SandboxLimits::Published).await
    }

    async fn start_with(kind: &'static str, limits: SandboxLimits) -> CarrierSandbox {
        let k = carrier_kind(kind).expect("a registered carrier kind");
        let profile = (k.sandbox.profile)();
        let router = (k.sandbox.router)(
            &profile,
            CarrierSandboxSettings {
                advance_every_ms: 0,
                limits,
            },
        );
        let (addr, _h) = orderhub_connectors::sandbox::serve(router, "127.0.0.1:0")
            .await
            .unwrap();
        // Whether it buys labels is the connector's to say.
        let setup = orderhub_connectors::CarrierSetup {
            channel_id: ACCOUNT.into(),
            base_url: format!("http://{addr}"),
            options: profile.options.clone(),
            secrets: profile.secrets.clone(),
            request_timeout: Duration::from_secs(5),
        };
        let buys_labels = (k.build)(setup)
            .map(|c| c.capabilities().buys_labels)
            .unwrap_or(true);
        CarrierSandbox {
            kind,
            base: format!("http://{addr}"),
            profile,
            http: reqwest::Client::new(),
            buys_labels,
        }
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn stats(&self) -> Value {
        self.http
            .get(format!("{}/_sandbox/stats", self.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    async fn recorded(&self, what: &str) -> BTreeMap<String, u64> {
        let s = self.stats().await;
        s["recorded"][what]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_u64().unwrap_or(0)))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Environment variables holding this kind's sandbox secrets, set now.
    fn secret_env(&self, account: &str) -> String {
        let mut lines = String::new();
        for (name, value) in &self.profile.secrets {
            let var = format!(
                "ORDERHUB_TEST_{}_{}_{}",
                self.kind.to_uppercase(),
                account.to_uppercase().replace('-', "_"),
                name.to_uppercase()
            );
            std::env::set_var(&var, value);
            lines.push_str(&format!("{name} = \"{var}\"\n"));
        }
        lines
    }

    /// The `[[carriers]]` entry for this sandbox as account `account`.
    fn carrier_toml(&self, account: &str) -> String {
        self.carrier_toml_with(account, &[])
    }

    fn carrier_toml_with(&self, account: &str, extra: &[(&str, &str)]) -> String {
        let options = self
            .profile
            .options
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .chain(extra.iter().copied())
            .map(|(k, v)| format!("{k} = \"{v}\""))
            .collect::<Vec<_>>()
            .join(", ");
        format!(
            "\n[[carriers]]\nid = \"{account}\"\nkind = \"{}\"\nbase_url = \"{}\"\noptions = {{ {options} }}\n[carriers.secrets]\n{}",
            self.kind,
            self.base,
            self.secret_env(account)
        )
    }
}

fn warehouse_toml(id: &str, seller: &str, carriers: &[&str]) -> String {
    let stock = (1..=20)
        .map(|i| format!("\"SKU-{i:03}\" = 100000"))
        .collect::<Vec<_>>()
        .join(", ");
    let carriers = carriers
        .iter()
        .map(|c| format!("\"{c}\""))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        r#"
[[warehouses]]
id = "{id}"
seller = "{seller}"
carriers = [{carriers}]
address = {{ name = "Acme", line1 = "417 Montgomery St", city = "San Francisco", region = "CA", postal_code = "94104", country = "US" }}
stock = {{ {stock} }}
"#
    )
}

/// Labels wait for a batch (so the suite drives buying); rate shopping
/// allows a slow sandbox.
const SHIPPING: &str = "\n[shipping]\nauto_buy_labels = false\nrate_budget_ms = 8000\n";

async fn start_app(toml: &str) -> (Arc<App>, std::net::SocketAddr) {
    set_secrets();
    std::env::set_var("ORDERHUB_TEST_API_TOKEN", API_TOKEN);
    let loaded = orderhub::settings::load_layers(None, Some(toml)).expect("valid test config");
    let app = App::start(loaded).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(orderhub::run(app.clone(), listener));
    (app, addr)
}

fn api(addr: std::net::SocketAddr, path: &str) -> String {
    format!("http://{addr}{path}")
}

async fn api_post(addr: std::net::SocketAddr, path: &str, body: Value) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(api(addr, path))
        .bearer_auth(API_TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// Deliveries a capture server received: (query, headers, body).
type Captured = Arc<Mutex<Vec<(Option<String>, HeaderMap, Bytes)>>>;

async fn capture_server() -> (String, Captured) {
    let seen: Captured = Arc::default();
    let router =
        Router::new()
            .route(
                "/hook",
                post(
                    |State(seen): State<Captured>,
                     RawQuery(q): RawQuery,
                     h: HeaderMap,
                     b: Bytes| async move {
                        seen.lock().unwrap().push((q, h, b));
                        "ok"
                    },
                ),
            )
            .with_state(seen.clone());
    let (addr, _h) = orderhub_connectors::sandbox::serve(router, "127.0.0.1:0")
        .await
        .unwrap();
    (format!("http://{addr}/hook"), seen)
}

async fn shipments(store: &Store) -> Vec<orderhub_core::store::shipment::Model> {
    use orderhub_core::store::shipment;
    use sea_orm::{EntityTrait, QueryOrder};
    shipment::Entity::find()
        .order_by_asc(shipment::Column::Id)
        .all(store.db())
        .await
        .unwrap()
}

async fn reserved_total(store: &Store) -> i64 {
    use orderhub_core::store::stock;
    use sea_orm::EntityTrait;
    stock::Entity::find()
        .all(store.db())
        .await
        .unwrap()
        .iter()
        .map(|s| s.reserved)
        .sum()
}

async fn conformance(kind: &'static str, db: Db) {
    const N: u64 = 12;
    let shop = Sandbox::start().await;
    shop.seed(N as u32, 50).await;
    let carrier = CarrierSandbox::start(kind).await;
    let url = fresh_db(db).await;
    let buying: &[&str] = if carrier.buys_labels { &[ACCOUNT] } else { &[] };
    let toml = config_toml(&url, &shop.base, "concurrency = 4").replace(
        "[server]\n",
        "[server]\napi_token_env = \"ORDERHUB_TEST_API_TOKEN\"\n",
    ) + &carrier.carrier_toml(ACCOUNT)
        + &warehouse_toml("main", "acme", buying)
        + SHIPPING;
    let (app, addr) = start_app(&toml).await;
    let store = app.store.clone();
    let routed = wait_for(Duration::from_secs(60), || {
        let s = store.clone();
        async move {
            s.fulfillment_counts()
                .await
                .map(|c| c.shipments >= N)
                .unwrap_or(false)
        }
    })
    .await;
    assert!(routed, "{kind}: every order synced and routed");

    if carrier.buys_labels {
        buy_and_void(&carrier, &app, addr, N).await;
    } else {
        // Labels bought outside orderhub; tracking comes by webhook.
        for (i, s) in shipments(&store).await.iter().enumerate() {
            let code = format!("SW{:06}", s.id);
            let (st, body) = api_post(
                addr,
                &format!("/api/shipments/{}/label", s.id),
                json!({ "carrier_account": ACCOUNT, "carrier": "InHouse", "tracking_code": code }),
            )
            .await;
            assert_eq!(st, 200, "{kind}: manual label {i}: {body}");
            let (st, _) = carrier
                .post(
                    "/_sandbox/parcels",
                    json!({ "tracking_code": code, "reference": format!("orderhub-shipment-{}", s.id) }),
                )
                .await;
            assert!(st < 300, "{kind}: sandbox parcel registered");
        }
    }

    // Tracking by webhook, to orderhub and to a capture server.
    let hook = format!(
        "http://{addr}/webhooks/carriers/{ACCOUNT}{}",
        carrier.profile.webhook_query
    );
    let (cap_url, captured) = capture_server().await;
    for u in [
        hook.clone(),
        format!("{cap_url}{}", carrier.profile.webhook_query),
    ] {
        let (st, body) = carrier
            .post("/_sandbox/subscribe", json!({ "url": u }))
            .await;
        assert!(st < 300, "{kind}: subscribe: {st} {body}");
    }
    let live: Vec<_> = shipments(&store)
        .await
        .into_iter()
        .filter(|s| s.status == SHIPMENT_LABEL_BOUGHT)
        .collect();
    assert!(live.len() as u64 >= N - 1, "{kind}: labels to follow");
    for _ in 0..5 {
        let (st, report) = carrier.post("/_sandbox/trackers/advance", json!({})).await;
        assert!(st < 300, "{kind}: advance: {report}");
    }
    let all_delivered = wait_for(Duration::from_secs(60), || {
        let s = store.clone();
        let want = live.len() as u64;
        async move {
            s.fulfillment_counts()
                .await
                .map(|c| c.delivered >= want)
                .unwrap_or(false)
        }
    })
    .await;
    if !all_delivered {
        eprintln!("{kind} sandbox stats: {}", carrier.stats().await);
        eprintln!(
            "inbox: {:?}",
            store.count_webhooks("carrier", ACCOUNT).await
        );
        {
            use orderhub_core::store::webhook_inbox;
            use sea_orm::EntityTrait;
            for r in webhook_inbox::Entity::find()
                .all(store.db())
                .await
                .unwrap()
                .iter()
                .take(3)
            {
                eprintln!("inbox row: {r:?}");
            }
        }
        eprintln!(
            "shipments: {:?}",
            shipments(&store)
                .await
                .iter()
                .map(|s| (&s.tracking_code, &s.tracking_status, &s.carrier_account))
                .collect::<Vec<_>>()
        );
    }
    assert!(
        all_delivered,
        "{kind}: every label delivered by webhook: {:?}",
        store.fulfillment_counts().await
    );

    // A replayed event changes nothing.
    let first = &live[0];
    let code = first.tracking_code.clone().unwrap();
    let events_before = store.tracking_events(first.id).await.unwrap().len();
    let inbox_before = store.count_webhooks("carrier", ACCOUNT).await.unwrap();
    let (st, _) = carrier
        .post(&format!("/_sandbox/trackers/{code}/replay"), json!({}))
        .await;
    assert!(st < 300, "{kind}: replay");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        store.tracking_events(first.id).await.unwrap().len(),
        events_before,
        "{kind}: replay adds no event"
    );
    assert_eq!(
        store.count_webhooks("carrier", ACCOUNT).await.unwrap(),
        inbox_before,
        "{kind}: replay not stored again"
    );
    let s = store.shipment(first.id).await.unwrap().unwrap();
    assert_eq!(
        TrackingStatus::from_carrier(&s.tracking_status),
        TrackingStatus::Delivered
    );

    // A captured delivery, tampered, unsigned, and as it came.
    let (query, headers, body) = captured
        .lock()
        .unwrap()
        .last()
        .cloned()
        .expect("a delivery captured");
    let target = |q: &Option<String>| match q {
        Some(q) => format!("http://{addr}/webhooks/carriers/{ACCOUNT}?{q}"),
        None => format!("http://{addr}/webhooks/carriers/{ACCOUNT}"),
    };
    let send = |url: String, headers: HeaderMap, body: Vec<u8>| async move {
        let mut req = reqwest::Client::new().post(url).body(body);
        for (k, v) in headers.iter() {
            if k != "host" && k != "content-length" {
                req = req.header(k.as_str(), v.as_bytes());
            }
        }
        req.send().await.unwrap().status().as_u16()
    };
    let mut tampered = body.to_vec();
    let at = tampered
        .iter()
        .position(|b| b.is_ascii_digit())
        .unwrap_or(0);
    tampered[at] = if tampered[at] == b'1' { b'2' } else { b'1' };
    assert_eq!(
        send(target(&query), headers.clone(), tampered).await,
        401,
        "{kind}: tampered body"
    );
    assert_eq!(
        send(
            format!("http://{addr}/webhooks/carriers/{ACCOUNT}"),
            HeaderMap::new(),
            body.to_vec()
        )
        .await,
        401,
        "{kind}: unsigned"
    );
    assert_eq!(
        send(target(&query), headers, body.to_vec()).await,
        200,
        "{kind}: as delivered (a duplicate)"
    );
    assert_eq!(
        store.count_webhooks("carrier", ACCOUNT).await.unwrap(),
        inbox_before,
        "{kind}: refused ones are not stored"
    );
}

/// Buying: one purchase cut off mid-flight then retried, a batch under
/// faults, the merged PDF, and a void.
async fn buy_and_void(
    carrier: &CarrierSandbox,
    app: &Arc<App>,
    addr: std::net::SocketAddr,
    n: u64,
) {
    let kind = carrier.kind;
    let store = &app.store;
    let ships = shipments(store).await;

    // A purchase whose worker dies mid-call: the future is dropped while
    // the carrier is slow to answer; the retry finds or buys one label.
    carrier
        .post(
            "/_sandbox/faults",
            json!({ "rate_slow": 1.0, "slow_ms": 400 }),
        )
        .await;
    let first = ships[0].id;
    let cut = tokio::time::timeout(
        Duration::from_millis(700),
        orderhub::jobs::buy_label_once(app, first),
    )
    .await;
    assert!(cut.is_err(), "{kind}: the purchase was cut off");
    carrier.post("/_sandbox/faults", json!({})).await;
    orderhub::jobs::buy_label_once(app, first).await.unwrap();

    // The rest in a batch, under 429s, 5xx and answers lost after the work.
    carrier
        .post(
            "/_sandbox/faults",
            json!({ "rate_429": 0.1, "rate_5xx": 0.1, "rate_timeout_after_success": 0.15, "timeout_ms": 3000, "retry_after_secs": 0.2 }),
        )
        .await;
    let mut rounds = 0;
    loop {
        rounds += 1;
        let (st, report) = api_post(
            addr,
            "/api/shipments/labels:batch",
            json!({ "all_ready": true }),
        )
        .await;
        assert_eq!(st, 200, "{kind}: batch: {report}");
        assert_eq!(report["exceptions"], 0, "{kind}: {report}");
        if report["failed"] == 0 || rounds == 8 {
            break;
        }
    }
    carrier.post("/_sandbox/faults", json!({})).await;
    let ships = shipments(store).await;
    assert!(
        ships.iter().all(|s| s.status == SHIPMENT_LABEL_BOUGHT),
        "{kind}: every shipment bought after {rounds} batch rounds: {:?}",
        ships
            .iter()
            .map(|s| (&s.status, &s.exception_reason))
            .collect::<Vec<_>>()
    );
    let labels = carrier.recorded("labels_by_reference").await;
    for s in &ships {
        let reference = format!("orderhub-shipment-{}", s.id);
        assert_eq!(
            labels.get(&reference),
            Some(&1),
            "{kind}: exactly one label for {reference}: {labels:?}"
        );
    }
    assert_eq!(
        labels.values().sum::<u64>(),
        n,
        "{kind}: no label for anything else"
    );

    // Rate shopping kept its verdicts: one chosen, every one with a reason.
    let order_ships = store.order_shipments(ships[1].order_id).await.unwrap();
    let quotes = &order_ships[0].rate_quotes;
    assert_eq!(
        quotes.iter().filter(|q| q.chosen).count(),
        1,
        "{kind}: {quotes:?}"
    );
    assert!(
        quotes.iter().all(|q| !q.reason.is_empty()),
        "{kind}: {quotes:?}"
    );

    // One file to print: a page per label, in the order asked.
    let ids: Vec<String> = ships.iter().map(|s| s.id.to_string()).collect();
    let r = reqwest::Client::new()
        .get(api(
            addr,
            &format!("/api/shipments/labels.pdf?ids={}", ids.join(",")),
        ))
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200, "{kind}: merged labels");
    let pdf = r.bytes().await.unwrap();
    let doc = lopdf::Document::load_mem(&pdf).expect("a readable PDF");
    assert_eq!(
        doc.get_pages().len(),
        ships.len(),
        "{kind}: a page per label"
    );
    let first_code = ships[0].tracking_code.clone().unwrap();
    assert!(
        doc.extract_text(&[1]).unwrap().contains(&first_code),
        "{kind}: first page is the first label"
    );

    // Void one label before pickup: the carrier is told once, stock released.
    let reserved = reserved_total(store).await;
    let victim = &ships[0];
    let (st, body) = api_post(
        addr,
        &format!("/api/shipments/{}/void", victim.id),
        json!({}),
    )
    .await;
    assert_eq!(st, 200, "{kind}: void: {body}");
    assert!(
        matches!(body["status"].as_str(), Some("voided" | "void requested")),
        "{kind}: {body}"
    );
    let after = store.shipment(victim.id).await.unwrap().unwrap();
    assert_eq!(after.status, SHIPMENT_VOIDED);
    let voids = carrier.recorded("voids_by_reference").await;
    assert_eq!(
        voids.get(&format!("orderhub-shipment-{}", victim.id)),
        Some(&1),
        "{kind}: {voids:?}"
    );
    assert!(
        reserved_total(store).await < reserved,
        "{kind}: the voided shipment's stock is released"
    );
    let (st, _) = api_post(
        addr,
        &format!("/api/shipments/{}/void", victim.id),
        json!({}),
    )
    .await;
    assert_eq!(st, 409, "{kind}: a void label cannot be voided again");
}

/// 500 labels in one batch: two sellers, each warehouse on its own EasyPost
/// account, one account down (every call a 5xx). The batch buys the 250 it
/// can, lists the other 250 as failed (not exceptions: retriable), and a
/// second batch once the carrier is back buys exactly those; no shipment
/// ever gets two labels.
async fn batch_with_one_carrier_down(db: Db) {
    const PER_SELLER: u32 = 250;
    let shop_a = Sandbox::start().await;
    let shop_b = Sandbox::start().await;
    shop_a.seed(PER_SELLER, 1).await;
    shop_b.seed(PER_SELLER, 1).await;
    let up = CarrierSandbox::start_with("easypost", SandboxLimits::Volume).await;
    let down = CarrierSandbox::start_with("easypost", SandboxLimits::Volume).await;
    down.post("/_sandbox/faults", json!({ "rate_5xx": 1.0 }))
        .await;
    let url = fresh_db(db).await;
    let fast = [("requests_per_second", "500")];
    let toml = config_toml(&url, &shop_a.base, "concurrency = 8")
        .replace("[server]\n", "[server]\napi_token_env = \"ORDERHUB_TEST_API_TOKEN\"\n")
        .replace("max_connections = 8", "max_connections = 24")
        + &format!(
            r#"
[[channels]]
id = "shop-b"
kind = "shopify"
seller = "beta"
base_url = "{}"
poll_interval_secs = 1
[channels.secrets]
access_token = "ORDERHUB_TEST_SHOPIFY_TOKEN"
webhook_secret = "ORDERHUB_TEST_SHOPIFY_WEBHOOK_SECRET"
"#,
            shop_b.base
        )
        + &up.carrier_toml_with("ep-up", &fast)
        + &down.carrier_toml_with("ep-down", &fast)
        + &warehouse_toml("main", "acme", &["ep-up"])
        + &warehouse_toml("beta-wh", "beta", &["ep-down"])
        + "\n[shipping]\nauto_buy_labels = false\nrate_budget_ms = 1500\nbatch_concurrency_per_carrier = 16\n";
    let (app, addr) = start_app(&toml).await;
    let store = app.store.clone();
    let total = 2 * PER_SELLER as u64;
    let routed = wait_for(Duration::from_secs(120), || {
        let s = store.clone();
        async move {
            s.fulfillment_counts()
                .await
                .map(|c| c.shipments >= total)
                .unwrap_or(false)
        }
    })
    .await;
    assert!(
        routed,
        "every order routed: {:?}",
        store.fulfillment_counts().await
    );

    let (st, report) = api_post(
        addr,
        "/api/shipments/labels:batch",
        json!({ "all_ready": true, "limit": 1000 }),
    )
    .await;
    assert_eq!(st, 200, "{report}");
    let items = report["items"].as_array().unwrap();
    assert_eq!(items.len() as u64, total, "a result for every shipment");
    assert_eq!(report["bought"], PER_SELLER, "{}", report["bought"]);
    assert_eq!(
        report["failed"], PER_SELLER,
        "the down carrier's shipments are listed as failed"
    );
    assert_eq!(report["exceptions"], 0);
    let failed: Vec<&Value> = items.iter().filter(|i| i["outcome"] == "failed").collect();
    assert!(
        failed
            .iter()
            .all(|i| i["error"].as_str().is_some_and(|e| !e.is_empty())),
        "each failure says why"
    );
    let secs = report["elapsed_ms"].as_u64().unwrap() as f64 / 1000.0;
    println!(
        "batch of {total} with one carrier down: {} bought in {secs:.1} s = {:.1} labels/s",
        report["bought"],
        PER_SELLER as f64 / secs
    );

    // The carrier is back: the same command buys exactly the failed ones.
    down.post("/_sandbox/faults", json!({})).await;
    let (st, again) = api_post(
        addr,
        "/api/shipments/labels:batch",
        json!({ "all_ready": true, "limit": 1000 }),
    )
    .await;
    assert_eq!(st, 200, "{again}");
    assert_eq!(
        again["bought"], PER_SELLER,
        "the retried ones: {}",
        again["failed"]
    );
    assert_eq!(again["failed"], 0);
    let secs = again["elapsed_ms"].as_u64().unwrap() as f64 / 1000.0;
    println!(
        "the same batch with the carrier back: {} bought in {secs:.1} s = {:.1} labels/s",
        again["bought"],
        PER_SELLER as f64 / secs
    );
    let mut labels = up.recorded("labels_by_reference").await;
    for (k, v) in down.recorded("labels_by_reference").await {
        assert!(
            labels.insert(k, v).is_none(),
            "a shipment labelled at both accounts"
        );
    }
    assert_eq!(labels.len() as u64, total, "a label for every shipment");
    assert!(labels.values().all(|n| *n == 1), "none bought twice");
    let counts = store.fulfillment_counts().await.unwrap();
    assert_eq!(counts.labels_bought, total);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_of_500_with_one_carrier_down_sqlite() {
    batch_with_one_carrier_down(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_of_500_with_one_carrier_down_postgres() {
    batch_with_one_carrier_down(Db::Postgres).await;
}

/// Cancellations on the channel: an order cancelled before its label gets
/// none and gives its stock back; one cancelled after its label was bought
/// (not yet picked up) has the label voided through the carrier, once.
async fn cancellations(db: Db) {
    let shop = Sandbox::start().await;
    let ids = shop.seed(2, 1).await["ids"].clone();
    let (early, late) = (
        ids[0].as_str().unwrap().to_string(),
        ids[1].as_str().unwrap().to_string(),
    );
    let carrier = CarrierSandbox::start_with("easypost", SandboxLimits::Volume).await;
    let url = fresh_db(db).await;
    let toml = config_toml(&url, &shop.base, "concurrency = 2").replace(
        "[server]\n",
        "[server]\napi_token_env = \"ORDERHUB_TEST_API_TOKEN\"\n",
    ) + &carrier.carrier_toml(ACCOUNT)
        + &warehouse_toml("main", "acme", &[ACCOUNT])
        + SHIPPING;
    let (app, addr) = start_app(&toml).await;
    let store = app.store.clone();
    let routed = wait_for(Duration::from_secs(60), || {
        let s = store.clone();
        async move {
            s.fulfillment_counts()
                .await
                .map(|c| c.shipments >= 2)
                .unwrap_or(false)
        }
    })
    .await;
    assert!(routed);
    let order_of = |ext: String| {
        let s = store.clone();
        async move { s.find_order("shop", &ext).await.unwrap().unwrap().id }
    };
    let (early_id, late_id) = (order_of(early.clone()).await, order_of(late.clone()).await);
    let ship_of = |order_id: i64| {
        let s = store.clone();
        async move {
            s.order_shipments(order_id).await.unwrap()[0]
                .shipment
                .clone()
        }
    };
    let late_ship = ship_of(late_id).await;
    let (st, r) = api_post(
        addr,
        "/api/shipments/labels:batch",
        json!({ "shipment_ids": [late_ship.id] }),
    )
    .await;
    assert_eq!((st, r["bought"].as_u64()), (200, Some(1)), "{r}");
    let reserved_before = reserved_total(&store).await;

    for ext in [&early, &late] {
        shop.post(
            &format!("/_sandbox/orders/{ext}/touch"),
            json!({ "cancel": true }),
        )
        .await;
    }
    let both_cancelled = wait_for(Duration::from_secs(30), || {
        let s = store.clone();
        async move {
            s.count_orders_in(orderhub_core::OrderStatus::Cancelled)
                .await
                .unwrap_or(0)
                == 2
        }
    })
    .await;
    assert!(both_cancelled, "the cancellations synced");

    // Before its label: the batch buys nothing and the stock comes back.
    let early_ship = ship_of(early_id).await;
    let (st, r) = api_post(
        addr,
        "/api/shipments/labels:batch",
        json!({ "shipment_ids": [early_ship.id] }),
    )
    .await;
    assert_eq!(st, 200);
    assert_eq!(r["bought"], 0, "{r}");
    assert_eq!(ship_of(early_id).await.status, "cancelled");

    // After its label, before pickup: the sweep voids it.
    let voided = wait_for(Duration::from_secs(30), || {
        let s = store.clone();
        async move { s.shipment(late_ship.id).await.unwrap().unwrap().status == SHIPMENT_VOIDED }
    })
    .await;
    assert!(voided, "the label of the cancelled order is voided");
    let voids = carrier.recorded("voids_by_reference").await;
    assert_eq!(
        voids.get(&format!("orderhub-shipment-{}", late_ship.id)),
        Some(&1),
        "{voids:?}"
    );
    let labels = carrier.recorded("labels_by_reference").await;
    assert_eq!(
        labels.len(),
        1,
        "no label for the order cancelled early: {labels:?}"
    );
    assert_eq!(
        reserved_total(&store).await,
        0,
        "every unit back in stock (was {reserved_before})"
    );
    // The cancelled order stays cancelled (not pulled into exception by the void).
    let o = store.get_order(late_id).await.unwrap().unwrap();
    assert_eq!(o.order.status, orderhub_core::OrderStatus::Cancelled);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_orders_get_no_label_or_a_void_sqlite() {
    cancellations(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_orders_get_no_label_or_a_void_postgres() {
    cancellations(Db::Postgres).await;
}

/// Rate shopping across three carrier accounts at once, `cheapest_on_time`:
/// every shipment gets one chosen rate among all three accounts' offers,
/// every rate a verdict, and the time each account took is kept. Prints what
/// rate shopping added per order (the slowest account's answer).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_shopping_asks_every_account_and_keeps_the_verdicts() {
    const N: u64 = 40;
    let shop = Sandbox::start().await;
    shop.seed(N as u32, 1).await;
    let mut accounts = Vec::new();
    for kind in ["easypost", "shippo", "sendcloud"] {
        accounts.push(CarrierSandbox::start_with(kind, SandboxLimits::Volume).await);
    }
    let url = fresh_db(Db::Sqlite).await;
    let ids = ["rs-easypost", "rs-shippo", "rs-sendcloud"];
    let mut toml = config_toml(&url, &shop.base, "concurrency = 4").replace(
        "[server]\n",
        "[server]\napi_token_env = \"ORDERHUB_TEST_API_TOKEN\"\n",
    );
    for (c, id) in accounts.iter().zip(ids) {
        toml += &c.carrier_toml_with(
            id,
            &[
                ("requests_per_second", "200"),
                ("read_requests_per_second", "200"),
            ],
        );
    }
    toml += &warehouse_toml("main", "acme", &ids);
    toml += "\n[shipping]\nauto_buy_labels = false\npolicy = \"cheapest_on_time\"\nrate_budget_ms = 5000\n";
    let (app, addr) = start_app(&toml).await;
    let store = app.store.clone();
    let routed = wait_for(Duration::from_secs(60), || {
        let s = store.clone();
        async move {
            s.fulfillment_counts()
                .await
                .map(|c| c.shipments >= N)
                .unwrap_or(false)
        }
    })
    .await;
    assert!(routed);
    let (st, report) = api_post(
        addr,
        "/api/shipments/labels:batch",
        json!({ "all_ready": true }),
    )
    .await;
    assert_eq!(st, 200, "{report}");
    assert_eq!(report["bought"], N, "{report}");
    let mut shop_ms = Vec::new();
    let mut chosen_accounts = BTreeMap::new();
    for s in shipments(&store).await {
        let view = store.order_shipments(s.order_id).await.unwrap();
        let quotes = &view[0].rate_quotes;
        let asked: std::collections::BTreeSet<&str> =
            quotes.iter().map(|q| q.account.as_str()).collect();
        assert_eq!(asked.len(), 3, "every account asked: {quotes:?}");
        let chosen: Vec<_> = quotes.iter().filter(|q| q.chosen).collect();
        assert_eq!(chosen.len(), 1, "{quotes:?}");
        assert_eq!(
            Some(chosen[0].account.as_str()),
            s.carrier_account.as_deref()
        );
        assert!(quotes.iter().all(|q| !q.reason.is_empty()));
        *chosen_accounts
            .entry(chosen[0].account.clone())
            .or_insert(0) += 1;
        shop_ms.push(
            quotes
                .iter()
                .filter_map(|q| q.answered_ms)
                .max()
                .unwrap_or(0),
        );
    }
    shop_ms.sort_unstable();
    println!(
        "rate shopping over 3 accounts: median {} ms, p90 {} ms per order (batch of {N}, 4 in flight); chosen: {chosen_accounts:?}",
        shop_ms[shop_ms.len() / 2],
        shop_ms[shop_ms.len() * 9 / 10]
    );
}

/// A warehouse configured for ZPL (`label_format = "zpl"`) whose only
/// carrier is Shippo, or Sendcloud, gets ZPL labels, as EasyPost's do in
/// `warehouse_floor`: every label is recorded as ZPL, and the warehouse's
/// ZPL batch (`GET /api/warehouses/{id}/labels.zpl`) holds one `^XA … ^XZ`
/// label per shipment with its tracking code, each fetched as its vendor
/// serves it — Shippo: the transaction bought with `label_file_type`
/// `ZPLII`, its `label_url` a plain file link; Sendcloud: the parcel's
/// documents link, downloaded with the account's keys and
/// `Accept: application/zpl` (counted by the sandbox). PDF warehouses on
/// these carriers are the conformance suite's (its merged PDF; Sendcloud's
/// PDF links are downloaded with the keys too).
async fn zpl_warehouse(kind: &'static str) {
    const N: u64 = 3;
    let shop = Sandbox::start().await;
    shop.seed(N as u32, 1).await;
    let carrier = CarrierSandbox::start_with(kind, SandboxLimits::Volume).await;
    let url = fresh_db(Db::Sqlite).await;
    let toml = config_toml(&url, &shop.base, "concurrency = 4").replace(
        "[server]\n",
        "[server]\napi_token_env = \"ORDERHUB_TEST_API_TOKEN\"\n",
    ) + &carrier.carrier_toml_with(
        ACCOUNT,
        &[
            ("requests_per_second", "200"),
            ("read_requests_per_second", "200"),
        ],
    ) + &warehouse_toml("thermal", "acme", &[ACCOUNT])
        .replace("carriers = [", "label_format = \"zpl\"\ncarriers = [")
        + SHIPPING;
    let (app, addr) = start_app(&toml).await;
    let store = app.store.clone();
    let routed = wait_for(Duration::from_secs(60), || {
        let s = store.clone();
        async move {
            s.fulfillment_counts()
                .await
                .map(|c| c.shipments >= N)
                .unwrap_or(false)
        }
    })
    .await;
    assert!(routed, "{kind}: every order synced and routed");
    let (st, report) = api_post(
        addr,
        "/api/shipments/labels:batch",
        json!({ "all_ready": true }),
    )
    .await;
    assert_eq!(st, 200, "{kind}: {report}");
    assert_eq!(report["bought"], N, "{kind}: {report}");
    let ships = shipments(&store).await;
    assert_eq!(ships.len() as u64, N);
    for s in &ships {
        assert_eq!(s.label_format.as_deref(), Some("zpl"), "{kind}: {s:?}");
    }
    for item in report["items"].as_array().unwrap() {
        assert_eq!(item["label_format"], "zpl", "{kind}: {item}");
    }

    let r = reqwest::Client::new()
        .get(api(addr, "/api/warehouses/thermal/labels.zpl"))
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{kind}");
    assert_eq!(r.headers()["content-type"], "application/zpl");
    let left_out = r
        .headers()
        .get("x-orderhub-left-out")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    assert_eq!(left_out, "", "{kind}: every label fetched");
    let zpl = r.text().await.unwrap();
    assert_eq!(zpl.matches("^XA").count() as u64, N, "{kind}: {zpl}");
    assert_eq!(zpl.matches("^XZ").count() as u64, N, "{kind}: {zpl}");
    for s in &ships {
        let code = s.tracking_code.as_deref().unwrap();
        assert!(zpl.contains(code), "{kind}: {code} in {zpl}");
    }

    // What the vendor was asked, from its side.
    match kind {
        "sendcloud" => {
            let downloads = carrier.recorded("label_downloads_by_format").await;
            assert_eq!(downloads.get("zpl"), Some(&N), "{kind}: {downloads:?}");
            assert_eq!(downloads.get("pdf"), None, "{kind}: {downloads:?}");
        }
        "shippo" => {
            for s in &ships {
                let t: Value = carrier
                    .http
                    .get(format!(
                        "{}/transactions/{}",
                        carrier.base,
                        s.label_id.as_deref().unwrap()
                    ))
                    .header(
                        "authorization",
                        format!("ShippoToken {}", carrier.profile.secret("api_token")),
                    )
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                assert_eq!(t["label_file_type"], "ZPLII", "{t}");
                assert!(t["label_url"].as_str().unwrap().ends_with(".zpl"), "{t}");
            }
        }
        _ => unreachable!(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zpl_warehouse_on_shippo_gets_zpl_labels() {
    zpl_warehouse("shippo").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zpl_warehouse_on_sendcloud_gets_zpl_labels() {
    zpl_warehouse("sendcloud").await;
}

macro_rules! carrier_conformance {
    ($($kind:ident),* $(,)?) => {$(
        mod $kind {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                conformance(stringify!($kind), Db::Sqlite).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                conformance(stringify!($kind), Db::Postgres).await;
            }
        }
    )*};
}

carrier_conformance!(easypost, shippo, sendcloud, standard_webhooks);
