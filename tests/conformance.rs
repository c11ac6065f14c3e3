//! The marketplace conformance suite: every channel connector, run by the same
//! code against its own sandbox at the vendor's published limits, through the
//! real worker, on SQLite and on PostgreSQL. Adding a channel means adding its
//! folder under `connectors/src/marketplaces/` and its name to `conformance!`.
//!
//! Part one (sync, the worker's poll called directly): a full sync of 500
//! orders, a resync with nothing new, updates and late arrivals picked up,
//! invariant 1 under replayed pages and an older version, webhooks verified,
//! deduplicated and tampered ones refused, faults (429, 5xx, timeouts, a
//! malformed order) survived with every order stored or quarantined, the
//! sandbox's own rate-limit counter at 0, and revoked credentials shown as
//! `auth_failed`. Part two (the whole worker running, with faults on the
//! channel): tracking pushed and recorded by the sandbox exactly once per
//! shipment.

mod common;

use common::flow::{
    carrier_and_warehouse_toml, easypost, register_webhook, EP_HOOK_SECRET, EP_KEY,
};
use common::*;
use orderhub::app::App;
use orderhub_connectors::sandbox::{SandboxLimits, SandboxProfile};
use orderhub_connectors::MarketplaceKind;
use orderhub_core::store::Store;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

const CHANNEL: &str = "ch";

macro_rules! conformance {
    ($($kind:ident),* $(,)?) => {
        $(
            mod $kind {
                use super::*;
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sync_sqlite() {
                    sync_suite(stringify!($kind), Db::Sqlite).await
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sync_postgres() {
                    sync_suite(stringify!($kind), Db::Postgres).await
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn tracking_sqlite() {
                    tracking_suite(stringify!($kind), Db::Sqlite).await
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn tracking_postgres() {
                    tracking_suite(stringify!($kind), Db::Postgres).await
                }
            }
        )*
    };
}

conformance!(shopify, woocommerce, ecwid, ebay, etsy, amazon, tiktok);

fn kind(name: &str) -> &'static MarketplaceKind {
    orderhub_connectors::marketplace_kind(name)
        .unwrap_or_else(|| panic!("`{name}` is not registered in marketplace_kinds()"))
}

/// The limits a channel's sandbox runs the suite at: the vendor's published
/// ones, except Amazon's searchOrders (a burst of 20, then one request every
/// ~180 s), under which the suite's dozens of polls would take hours. Its
/// pacing at the published shape is proven by the connector's own test
/// (1,000 orders, ≥ 95 % of the refill rate, 0 QuotaExceeded).
fn suite_limits(name: &str) -> SandboxLimits {
    match name {
        "amazon" => SandboxLimits::Volume,
        _ => SandboxLimits::Published,
    }
}

/// A channel's sandbox at the limits above, served on a free port.
struct ChannelSandbox {
    kind: &'static MarketplaceKind,
    profile: SandboxProfile,
    sb: Sandbox,
}

impl ChannelSandbox {
    async fn start(name: &str) -> Self {
        let kind = kind(name);
        let profile = (kind.sandbox.profile)();
        let router = (kind.sandbox.router)(&profile, suite_limits(name));
        let (addr, _h) = orderhub_connectors::sandbox::serve(router, "127.0.0.1:0")
            .await
            .unwrap();
        ChannelSandbox {
            kind,
            profile,
            sb: Sandbox {
                base: format!("http://{addr}"),
                http: reqwest::Client::new(),
            },
        }
    }

    /// Seed `count` orders ending about `ends_secs_ago` seconds ago, `step_ms` apart.
    async fn seed(&self, count: u32, step_ms: u64, ends_secs_ago: i64) -> Vec<String> {
        let start = chrono::Utc::now()
            - chrono::Duration::seconds(ends_secs_ago)
            - chrono::Duration::milliseconds(step_ms as i64 * count as i64);
        let out = self
            .sb
            .post(
                "/_sandbox/seed",
                json!({ "count": count, "step_ms": step_ms, "start": start }),
            )
            .await;
        let ids: Vec<String> = out["ids"]
            .as_array()
            .expect("seed answers {\"ids\": [...]}")
            .iter()
            .map(|v| v.as_str().expect("ids are strings").to_string())
            .collect();
        assert_eq!(ids.len(), count as usize, "{out}");
        ids
    }

    async fn touch(&self, id: &str, body: Value) {
        self.sb
            .post(&format!("/_sandbox/orders/{id}/touch"), body)
            .await;
    }

    /// The channel section of the config, secrets through environment variables.
    fn channel_toml(&self) -> String {
        self.channel_toml_as(CHANNEL)
    }

    fn channel_toml_as(&self, id: &str) -> String {
        let upper = self.kind.kind.to_uppercase();
        let mut secrets = String::new();
        for (name, value) in &self.profile.secrets {
            let var = format!("ORDERHUB_CONF_{upper}_{}", name.to_uppercase());
            std::env::set_var(&var, value);
            secrets.push_str(&format!("{name} = \"{var}\"\n"));
        }
        let options = self
            .profile
            .options
            .iter()
            .map(|(k, v)| format!("{k} = {}", Value::from(v.as_str())))
            .collect::<Vec<_>>()
            .join(", ");
        format!(
            r#"
[[channels]]
id = "{id}"
kind = "{kind}"
seller = "acme"
base_url = "{base}"
poll_interval_secs = 1
options = {{ {options} }}
[channels.secrets]
{secrets}"#,
            kind = self.kind.kind,
            base = self.sb.base,
        )
    }

    async fn recorded_tracking(&self) -> BTreeMap<String, usize> {
        let stats = self.sb.stats().await;
        stats["recorded"]["tracking"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_array().map_or(0, Vec::len)))
                    .collect()
            })
            .unwrap_or_default()
    }
}

fn base_toml(db_url: &str) -> String {
    format!(
        r#"
[database]
url = "{db_url}"
max_connections = 16
[server]
listen = "127.0.0.1:0"
[worker]
tick_ms = 100
lease_ttl_secs = 5
# Every order the suite seeds after the first sync is younger than this.
overlap_secs = 60
request_timeout_ms = 2000
concurrency = 8
"#
    )
}

async fn start_app(toml: &str) -> Arc<App> {
    let loaded = orderhub::settings::load_layers(None, Some(toml)).expect("valid test config");
    App::start(loaded).await.unwrap()
}

async fn poll(app: &App) -> orderhub::jobs::PollReport {
    orderhub::jobs::poll_once(app, CHANNEL)
        .await
        .unwrap_or_else(|e| panic!("poll failed: {e:#}"))
}

async fn stored(store: &Store) -> u64 {
    store.count_orders(Some(CHANNEL)).await.unwrap()
}

async fn sync_suite(name: &str, db: Db) {
    let ch = ChannelSandbox::start(name).await;
    let app = start_app(&(base_toml(&fresh_db(db).await) + &ch.channel_toml())).await;
    let store = &app.store;
    let t0 = std::time::Instant::now();
    let phase = |what: &str| eprintln!("[{name}] {what} at {:.1}s", t0.elapsed().as_secs_f64());

    // A full sync of 500 orders.
    let ids = ch.seed(500, 500, 30).await;
    let mut report = poll(&app).await;
    for _ in 0..3 {
        if stored(store).await >= 500 {
            break;
        }
        report = poll(&app).await;
    }
    assert_eq!(stored(store).await, 500, "full sync: {report:?}");
    // The figure the notes report: how hard the full sync drove the API.
    let sync_stats = ch.sb.stats().await;
    let requests: u64 = sync_stats["requests_by_path"]
        .as_object()
        .map_or(0, |m| m.values().filter_map(Value::as_u64).sum());
    let secs = t0.elapsed().as_secs_f64();
    eprintln!(
        "[{name}] full sync of 500 orders: {requests} requests in {secs:.2} s = {:.1} requests/s (published limit: {})",
        requests as f64 / secs,
        ch.kind.sandbox.published_limit
    );
    assert_eq!(report.quarantined, 0);
    for id in &ids {
        let o = store
            .find_order(CHANNEL, id)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("order {id} stored"));
        assert_eq!(o.order.channel, name);
        assert!(!o.order.lines.is_empty(), "{id} has lines");
        o.order
            .check_totals()
            .unwrap_or_else(|e| panic!("order {id}: {e}"));
    }

    phase("full sync done");
    // A resync with nothing new changes nothing; the next poll is due no
    // sooner than the configured interval and the channel's quota allow.
    let polled_at = chrono::Utc::now();
    let again = poll(&app).await;
    assert_eq!(again.inserted + again.updated, 0, "resync: {again:?}");
    let min = app.channels[CHANNEL]
        .connector
        .min_poll_interval()
        .max(Duration::from_secs(1));
    let next = store
        .channel_statuses(None)
        .await
        .unwrap()
        .into_iter()
        .find(|c| c.id == CHANNEL)
        .unwrap()
        .next_poll_at;
    assert!(
        next >= polled_at + chrono::Duration::from_std(min).unwrap(),
        "next poll {next} comes {min:?} after {polled_at} at the earliest"
    );

    phase("resync done");
    // Updates and late arrivals (older than the cursor, within the overlap).
    for id in &ids[490..495] {
        ch.touch(id, json!({})).await;
    }
    let late = ch.seed(3, 100, 20).await;
    let after = poll(&app).await;
    assert_eq!(after.inserted, 3, "late arrivals picked up: {after:?}");
    assert!(after.updated >= 5, "updates picked up: {after:?}");
    for id in &late {
        assert!(store.find_order(CHANNEL, id).await.unwrap().is_some());
    }

    phase("updates done");
    // Invariant 1 under replays: every page again from the beginning, and an
    // older version of an order, change nothing.
    let conn = &app.channels[CHANNEL].connector;
    let newest_before = store
        .find_order(CHANNEL, &ids[490])
        .await
        .unwrap()
        .unwrap()
        .order
        .updated_at;
    ch.touch(
        &ids[490],
        json!({ "updated_at": newest_before - chrono::Duration::hours(1) }),
    )
    .await;
    let mut token = None;
    let mut replayed = 0;
    loop {
        let page = conn
            .fetch_orders(chrono::Utc::now() - chrono::Duration::days(30), token)
            .await
            .unwrap();
        let out = store
            .store_page("acme", CHANNEL, &page.orders)
            .await
            .unwrap();
        assert_eq!(out.inserted, 0, "a replayed page inserts nothing");
        replayed += page.orders.len();
        match page.next_page {
            Some(t) => token = Some(t),
            None => break,
        }
    }
    assert!(replayed >= 503, "every order replayed ({replayed})");
    assert_eq!(stored(store).await, 503);
    let kept = store.find_order(CHANNEL, &ids[490]).await.unwrap().unwrap();
    assert_eq!(
        kept.order.updated_at, newest_before,
        "an older version never overwrites a newer one"
    );

    phase("replays done");
    webhooks(&ch, &app, &ids[10]).await;

    phase("webhooks done");
    // Faults: every order ends up stored or quarantined with its payload.
    ch.sb
        .faults(json!({
            "rate_429": 0.1, "rate_5xx": 0.1, "rate_timeout": 0.05, "rate_malformed": 0.1,
            "timeout_ms": 2500, "retry_after_secs": 0.2, "seed": 11,
        }))
        .await;
    let more = ch.seed(200, 50, 5).await;
    let mut polls = 0;
    loop {
        let _ = orderhub::jobs::poll_once(&app, CHANNEL).await;
        polls += 1;
        let quarantined = store.quarantined(CHANNEL).await.unwrap();
        let mut missing = 0;
        for id in &more {
            let stored = store.find_order(CHANNEL, id).await.unwrap().is_some();
            let held = quarantined
                .iter()
                .any(|q| q.external_id.as_deref() == Some(id.as_str()));
            if !stored && !held {
                missing += 1;
            }
        }
        if missing == 0 {
            break;
        }
        assert!(
            polls < 40,
            "{missing} orders neither stored nor quarantined"
        );
    }
    let stats = ch.sb.stats().await;
    assert!(stats["faults_injected"]
        .as_object()
        .is_some_and(|m| !m.is_empty()));
    let quarantined = store.quarantined(CHANNEL).await.unwrap();
    for q in &quarantined {
        assert!(!q.reason.is_empty());
        let id = q.external_id.as_deref().unwrap_or_default();
        assert!(
            !id.is_empty() && q.raw_payload.contains(id),
            "quarantined with its raw payload: {q:?}"
        );
    }
    ch.sb.faults(json!({})).await;
    assert_eq!(
        stats["throttled"], 0,
        "the client keeps under the published limit ({}): {stats}",
        ch.kind.sandbox.published_limit
    );

    phase("faults done");
    // Revoked credentials: the channel shows auth_failed, then recovers.
    ch.sb
        .post("/_sandbox/credentials", json!({"revoked": true}))
        .await;
    assert!(orderhub::jobs::poll_once(&app, CHANNEL).await.is_err());
    let state = channel_state(store).await;
    assert_eq!(state.0, "auth_failed", "{:?}", state.1);
    let error = state.1.unwrap_or_default();
    for secret in ch.profile.secrets.values() {
        assert!(
            !error.contains(secret.as_str()),
            "a secret in the error: {error}"
        );
    }
    ch.sb
        .post("/_sandbox/credentials", json!({"revoked": false}))
        .await;
    // The failed poll scheduled the next one ten intervals out; ask now.
    poll(&app).await;
    assert_eq!(channel_state(store).await.0, "ok");
}

async fn channel_state(store: &Store) -> (String, Option<String>) {
    let list = store.channel_statuses(None).await.unwrap();
    let c = list.into_iter().find(|c| c.id == CHANNEL).unwrap();
    (c.state.to_string(), c.last_error)
}

/// A signed delivery from the sandbox: applied once, a replay ignored, a
/// tampered copy refused with 401. Channels that send no order webhooks
/// (the sandbox answers 501) skip this part.
async fn webhooks(ch: &ChannelSandbox, app: &Arc<App>, id: &str) {
    let r = ch
        .sb
        .http
        .get(format!("{}/_sandbox/orders/{id}/webhook", ch.sb.base))
        .send()
        .await
        .unwrap();
    if r.status() == reqwest::StatusCode::NOT_IMPLEMENTED {
        return;
    }
    assert!(r.status().is_success(), "{}", r.status());
    let delivery: Value = r.json().await.unwrap();
    let router = orderhub::server::router(app.clone());
    let (addr, _h) = orderhub_connectors::sandbox::serve(router, "127.0.0.1:0")
        .await
        .unwrap();
    // The headers that carry the signature (`X-Shopify-Hmac-Sha256`,
    // `X-WC-Webhook-Signature`, `X-Ecwid-Webhook-Signature`, TikTok's
    // `Authorization`, ...).
    let is_signature = |k: &str| {
        let k = k.to_ascii_lowercase();
        k.contains("signature") || k.contains("hmac") || k == "authorization"
    };
    let headers: Vec<(String, String)> = delivery["headers"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
        .collect();
    assert!(headers.iter().any(|(k, _)| is_signature(k)), "{headers:?}");
    let post = |body: Vec<u8>, headers: Vec<(String, String)>| {
        let mut req = reqwest::Client::new()
            .post(format!("http://{addr}/webhooks/channels/{CHANNEL}"))
            .body(body);
        for (k, v) in headers {
            req = req.header(k, v);
        }
        req.send()
    };
    let body = delivery["body"].as_str().unwrap().as_bytes().to_vec();
    let before = stored(&app.store).await;
    let first = post(body.clone(), headers.clone()).await.unwrap();
    assert_eq!(first.status(), 200);
    let second: Value = post(body.clone(), headers.clone())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(second["status"], "duplicate", "a replay changes nothing");
    let tampered: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| {
            let mut v = v.clone();
            if is_signature(k) {
                // Another valid-looking signature: the first character
                // changed to a digit, which no case-insensitive hex or
                // base64 reading takes for the letter it replaced.
                let c = if v.starts_with('0') { "1" } else { "0" };
                v.replace_range(0..1, c);
            }
            (k.clone(), v)
        })
        .collect();
    assert_eq!(post(body.clone(), tampered).await.unwrap().status(), 401);
    let unsigned: Vec<(String, String)> = headers
        .iter()
        .filter(|(k, _)| !is_signature(k))
        .cloned()
        .collect();
    assert_eq!(post(body.clone(), unsigned).await.unwrap().status(), 401);
    assert_eq!(
        stored(&app.store).await,
        before,
        "one order per external id"
    );
}

/// The whole worker with faults on the channel: tracking reaches the channel
/// exactly once per shipment (invariant 5), under the published limit.
async fn tracking_suite(name: &str, db: Db) {
    const N: usize = 20;
    let ch = ChannelSandbox::start(name).await;
    let ids = ch.seed(N as u32, 200, 10).await;
    let ep = easypost(0).await;
    std::env::set_var("ORDERHUB_TEST_EP_KEY", EP_KEY);
    std::env::set_var("ORDERHUB_TEST_EP_HOOK_SECRET", EP_HOOK_SECRET);
    let toml =
        base_toml(&fresh_db(db).await) + &ch.channel_toml() + &carrier_and_warehouse_toml(&ep.base);
    // Faults on every channel call, the pushes included; a timeout after the
    // channel applied a push is the case exactly-once is about.
    ch.sb
        .faults(json!({
            "rate_429": 0.1, "rate_5xx": 0.1, "rate_timeout_after_success": 0.1,
            "timeout_ms": 2500, "retry_after_secs": 0.2, "seed": 5,
        }))
        .await;
    let app = start_app(&toml).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    register_webhook(&ep, listener.local_addr().unwrap()).await;
    tokio::spawn(orderhub::run(app.clone(), listener));
    let done = wait_for(Duration::from_secs(60), || {
        let s = app.store.clone();
        async move {
            s.fulfillment_counts()
                .await
                .is_ok_and(|c| c.tracking_pushed >= N as u64)
        }
    })
    .await;
    let counts = app.store.fulfillment_counts().await.unwrap();
    if !done {
        let failed = orderhub::jobs_api::list(
            &app.store,
            &orderhub::jobs_api::JobFilter {
                queue: None,
                status: None,
                channel: None,
                seller: None,
                limit: 200,
            },
        )
        .await
        .unwrap_or_default();
        for j in failed
            .iter()
            .filter(|j| {
                j.last_result
                    .as_deref()
                    .is_some_and(|r| !r.contains("\"Ok\""))
            })
            .take(5)
        {
            eprintln!(
                "job {} {} {}: {:?}",
                j.queue, j.status, j.args, j.last_result
            );
        }
    }
    assert!(done, "tracking pushed for every shipment: {counts:?}");
    assert_eq!(counts.shipments, N as u64);
    // Let any retry still in flight land before counting.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let recorded = ch.recorded_tracking().await;
    for id in &ids {
        assert_eq!(
            recorded.get(id).copied().unwrap_or(0),
            1,
            "order {id}: tracking recorded by the channel exactly once ({recorded:?})"
        );
    }
    let stats = ch.sb.stats().await;
    assert_eq!(stats["throttled"], 0, "{stats}");
}

/// One channel failing (refused credentials, or down with every call
/// hanging) never stops or slows the others: with the whole worker running,
/// a healthy channel syncs everything and picks up a change within a few
/// poll intervals while the others fail.
mod one_failing_channel_never_stops_the_others {
    use super::*;
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        one_failing_channel(Db::Sqlite).await
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        one_failing_channel(Db::Postgres).await
    }
}

async fn one_failing_channel(db: Db) {
    let good = ChannelSandbox::start("shopify").await;
    let revoked = ChannelSandbox::start("shopify").await;
    let down = ChannelSandbox::start("shopify").await;
    let ids = good.seed(300, 100, 5).await;
    revoked.seed(10, 100, 5).await;
    down.seed(10, 100, 5).await;
    revoked
        .sb
        .post("/_sandbox/credentials", json!({"revoked": true}))
        .await;
    down.sb
        .faults(json!({ "rate_timeout": 1.0, "timeout_ms": 60000 }))
        .await;
    let toml = base_toml(&fresh_db(db).await)
        + &good.channel_toml_as("good")
        + &revoked.channel_toml_as("revoked")
        + &down.channel_toml_as("down");
    let app = start_app(&toml).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    tokio::spawn(orderhub::run(app.clone(), listener));
    let store = app.store.clone();
    let synced = wait_for(Duration::from_secs(60), || {
        let s = store.clone();
        async move { s.count_orders(Some("good")).await.unwrap_or(0) >= 300 }
    })
    .await;
    assert!(synced, "the healthy channel synced while the others failed");
    good.touch(&ids[0], json!({})).await;
    let before = store
        .find_order("good", &ids[0])
        .await
        .unwrap()
        .unwrap()
        .order
        .updated_at;
    let picked_up = wait_for(Duration::from_secs(30), || {
        let s = store.clone();
        let id = ids[0].clone();
        async move {
            s.find_order("good", &id)
                .await
                .ok()
                .flatten()
                .is_some_and(|o| o.order.updated_at > before)
        }
    })
    .await;
    assert!(picked_up, "a change on the healthy channel is picked up");
    let states: BTreeMap<String, String> = store
        .channel_statuses(None)
        .await
        .unwrap()
        .into_iter()
        .map(|c| (c.id, c.state.to_string()))
        .collect();
    assert_eq!(states["good"], "ok", "{states:?}");
    assert_eq!(states["revoked"], "auth_failed", "{states:?}");
    assert_eq!(store.count_orders(Some("down")).await.unwrap(), 0);
}
