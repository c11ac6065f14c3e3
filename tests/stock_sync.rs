//! Stock sync end to end: the seven marketplace sandboxes at their published
//! limits, one warehouse with stock, the real worker (scheduler, jobs,
//! server). A sale on one channel lowers the sku's quantity on every other
//! channel within a minute (each sandbox records the last quantity written
//! through its vendor inventory API); no sandbox throttles; a burst of stock
//! changes is a few pushes, not one per change; a sku a channel does not list
//! is skipped without an error; a low-stock alert reaches a subscriber as a
//! signed `stock.low` webhook. On SQLite and PostgreSQL.
//!
//! `cargo nextest run -p orderhub --test stock_sync --no-capture` prints the
//! figures (pushes per channel, sale → last channel updated).

mod common;

use base64::Engine;
use common::{fresh_db, wait_for, Db, Sandbox};
use hmac::{Hmac, Mac};
use orderhub::app::App;
use orderhub_connectors::sandbox::SandboxLimits;
use orderhub_core::store::StockLine;
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{json, Value};
use sha2::Sha256;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const KINDS: [&str; 7] = [
    "shopify",
    "woocommerce",
    "ecwid",
    "ebay",
    "etsy",
    "amazon",
    "tiktok",
];
const ON_HAND: i64 = 40;
const DEFAULT_SAFETY: i64 = 2;
/// The channel the sale happens on.
const SALE_CHANNEL: &str = "shopify";
/// Not listed on TikTok.
const UNLISTED: (&str, &str) = ("tiktok", "SKU-020");
/// The sku the burst of changes hits.
const BURST_SKU: &str = "SKU-001";
const HOOK_SECRET: &str = "whsec_c3RvY2stc3luYy10ZXN0LXNpZ25pbmcta2V5LTMyYg==";

fn skus() -> Vec<String> {
    (1..=20).map(|i| format!("SKU-{i:03}")).collect()
}

fn env_name(kind: &str, secret: &str) -> String {
    format!(
        "ORDERHUB_SS_{}_{}",
        kind.to_uppercase(),
        secret.to_uppercase()
    )
}

fn toml(db: &str, sandboxes: &BTreeMap<&str, Sandbox>, hook_url: &str) -> String {
    let mut t = format!(
        r#"
[database]
url = "{db}"
max_connections = 24
[server]
listen = "127.0.0.1:0"
[worker]
tick_ms = 100
lease_ttl_secs = 5
request_timeout_ms = 3000
concurrency = 8
[shipping]
auto_buy_labels = false
[inventory]
low_stock_threshold = 3
[[notifications.webhooks]]
id = "erp"
seller = "acme"
url = "{hook_url}"
events = ["stock.low"]
secrets.signing_secret = "ORDERHUB_SS_HOOK_SECRET"
[[warehouses]]
id = "main"
seller = "acme"
name = "Main"
priority = 1
country = "US"
default_safety_stock = {DEFAULT_SAFETY}
stock = {{ {} }}
"#,
        skus()
            .iter()
            .map(|s| format!("\"{s}\" = {ON_HAND}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    std::env::set_var("ORDERHUB_SS_HOOK_SECRET", HOOK_SECRET);
    for kind in KINDS {
        let k = orderhub_connectors::marketplace_kind(kind).unwrap();
        let profile = (k.sandbox.profile)();
        let options = profile
            .options
            .iter()
            .map(|(k, v)| format!("{k} = \"{v}\""))
            .collect::<Vec<_>>()
            .join(", ");
        let mut secrets = String::new();
        for (name, value) in &profile.secrets {
            std::env::set_var(env_name(kind, name), value);
            secrets.push_str(&format!("{name} = \"{}\"\n", env_name(kind, name)));
        }
        t.push_str(&format!(
            r#"
[[channels]]
id = "ss-{kind}"
kind = "{kind}"
seller = "acme"
base_url = "{}"
poll_interval_secs = 1
options = {{ {options} }}
[channels.secrets]
{secrets}"#,
            sandboxes[kind].base
        ));
    }
    t
}

async fn start_sandboxes() -> BTreeMap<&'static str, Sandbox> {
    let mut out = BTreeMap::new();
    for kind in KINDS {
        let k = orderhub_connectors::marketplace_kind(kind).unwrap();
        let profile = (k.sandbox.profile)();
        let router = (k.sandbox.router)(&profile, SandboxLimits::Published);
        let (addr, _h) = orderhub_connectors::sandbox::serve(router, "127.0.0.1:0")
            .await
            .unwrap();
        out.insert(
            kind,
            Sandbox {
                base: format!("http://{addr}"),
                http: reqwest::Client::new(),
            },
        );
    }
    out
}

/// What each sandbox holds: sku → last quantity written, and writes per sku.
async fn recorded(sb: &Sandbox) -> (BTreeMap<String, i64>, BTreeMap<String, u64>, Value) {
    let stats = sb.stats().await;
    let levels = stats["recorded"]["stock"]
        .as_object()
        .map(|o| {
            o.iter()
                .map(|(k, v)| (k.clone(), v.as_i64().unwrap_or(-1)))
                .collect()
        })
        .unwrap_or_default();
    let pushes = stats["recorded"]["stock_pushes"]
        .as_object()
        .map(|o| {
            o.iter()
                .map(|(k, v)| (k.clone(), v.as_u64().unwrap_or(0)))
                .collect()
        })
        .unwrap_or_default();
    (levels, pushes, stats)
}

/// What a channel should show per sku now, from the order lines (not from
/// what the hub reserved): on hand − ordered − safety.
async fn expected(app: &App) -> BTreeMap<String, i64> {
    let backend = app.store.db().get_database_backend();
    let rows = app
        .store
        .db()
        .query_all_raw(Statement::from_string(
            backend,
            "SELECT sku, CAST(SUM(quantity) AS BIGINT) AS q FROM order_lines GROUP BY sku",
        ))
        .await
        .unwrap();
    let ordered: BTreeMap<String, i64> = rows
        .iter()
        .map(|r| {
            (
                r.try_get::<String>("", "sku").unwrap(),
                r.try_get::<i64>("", "q").unwrap(),
            )
        })
        .collect();
    let on_hand = on_hand(app).await;
    skus()
        .into_iter()
        .map(|s| {
            let q = on_hand.get(&s).copied().unwrap_or(ON_HAND)
                - ordered.get(&s).copied().unwrap_or(0)
                - DEFAULT_SAFETY;
            (s, q.max(0))
        })
        .collect()
}

async fn on_hand(app: &App) -> BTreeMap<String, i64> {
    let backend = app.store.db().get_database_backend();
    app.store
        .db()
        .query_all_raw(Statement::from_string(
            backend,
            "SELECT sku, on_hand FROM stock WHERE warehouse_id = 'main'",
        ))
        .await
        .unwrap()
        .iter()
        .map(|r| {
            (
                r.try_get::<String>("", "sku").unwrap(),
                r.try_get::<i64>("", "on_hand").unwrap(),
            )
        })
        .collect()
}

/// Whether every channel (but `except`) shows `want` for every sku it lists.
async fn all_show(
    sandboxes: &BTreeMap<&str, Sandbox>,
    want: &BTreeMap<String, i64>,
    except: Option<&str>,
) -> bool {
    for (kind, sb) in sandboxes {
        if Some(*kind) == except {
            continue;
        }
        let (levels, _, _) = recorded(sb).await;
        for (sku, q) in want {
            if (*kind, sku.as_str()) == UNLISTED {
                continue;
            }
            if levels.get(sku) != Some(q) {
                return false;
            }
        }
    }
    true
}

#[derive(Clone, Default)]
struct Hooks(Arc<Mutex<Vec<(BTreeMap<String, String>, String)>>>);

async fn start_receiver() -> (String, Hooks) {
    let hooks = Hooks::default();
    let h2 = hooks.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
            let h = h2.clone();
            async move {
                let hs = headers
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
                    .collect();
                h.0.lock().unwrap().push((hs, body));
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/hook"), hooks)
}

fn signature_ok(headers: &BTreeMap<String, String>, body: &str) -> bool {
    let key = base64::engine::general_purpose::STANDARD
        .decode(HOOK_SECRET.trim_start_matches("whsec_"))
        .unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(
        format!(
            "{}.{}.{}",
            headers["webhook-id"], headers["webhook-timestamp"], body
        )
        .as_bytes(),
    );
    let want = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    headers["webhook-signature"]
        .split(' ')
        .any(|s| s == format!("v1,{want}"))
}

async fn scenario(db: Db) {
    let sandboxes = start_sandboxes().await;
    sandboxes[UNLISTED.0]
        .post("/_sandbox/listings", json!({ "unlist": [UNLISTED.1] }))
        .await;
    let (hook_url, hooks) = start_receiver().await;
    let url = fresh_db(db).await;
    let loaded = orderhub::settings::load_layers(None, Some(&toml(&url, &sandboxes, &hook_url)))
        .expect("test config is valid");
    let app = App::start(loaded).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut _run = tokio::spawn(orderhub::run(app.clone(), listener));

    // 1. The first run pushes every stocked sku to every channel.
    let initial: BTreeMap<String, i64> = skus()
        .into_iter()
        .map(|s| (s, ON_HAND - DEFAULT_SAFETY))
        .collect();
    let t = Instant::now();
    if !wait_for(Duration::from_secs(60), || {
        all_show(&sandboxes, &initial, None)
    })
    .await
    {
        for kind in KINDS {
            let rows = app
                .store
                .stock_sync_rows(&format!("ss-{kind}"))
                .await
                .unwrap();
            println!("{kind}: {} rows {:?}", rows.len(), rows.first());
            println!("{kind}: {}", recorded(&sandboxes[kind]).await.2);
        }
        if _run.is_finished() {
            println!("orderhub::run ended: {:?}", _run.await);
        }
        panic!("initial levels never reached every channel");
    }
    println!("initial sync of 20 skus to 7 channels: {:?}", t.elapsed());
    // A sku a channel does not list: skipped, recorded as such, no error.
    let tiktok = app.store.stock_sync_rows("ss-tiktok").await.unwrap();
    let row = tiktok.iter().find(|r| r.sku == UNLISTED.1).unwrap();
    assert_eq!(row.last_outcome.as_deref(), Some("not_listed"), "{row:?}");
    assert_eq!(row.last_error, None);
    assert!(!row.dirty);
    assert!(!recorded(&sandboxes[UNLISTED.0])
        .await
        .0
        .contains_key(UNLISTED.1));
    assert_eq!(
        recorded(&sandboxes["shopify"]).await.0.get(UNLISTED.1),
        Some(&(ON_HAND - DEFAULT_SAFETY))
    );
    let mut before = BTreeMap::new();
    for (kind, sb) in &sandboxes {
        before.insert(*kind, recorded(sb).await.1.values().sum::<u64>());
    }

    // 2. A sale on one channel: every other channel shows the lower level.
    let sold_at = Instant::now();
    sandboxes[SALE_CHANNEL].seed(1, 0).await;
    assert!(
        wait_for(Duration::from_secs(30), || async {
            app.store.count_orders(None).await.unwrap() == 1
        })
        .await,
        "the sale was never synced"
    );
    let mut want = expected(&app).await;
    assert!(
        want.values().any(|q| *q < ON_HAND - DEFAULT_SAFETY),
        "the order sold nothing: {want:?}"
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    let reached = loop {
        want = expected(&app).await;
        if all_show(&sandboxes, &want, Some(SALE_CHANNEL)).await {
            break true;
        }
        if Instant::now() > deadline {
            break false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let sale_to_last = sold_at.elapsed();
    assert!(reached, "a channel never showed the sale: want {want:?}");
    assert!(sale_to_last < Duration::from_secs(60), "{sale_to_last:?}");
    println!("sale on {SALE_CHANNEL} → every other channel updated: {sale_to_last:?}");

    // 3. A burst of changes to one sku within the debounce: a few pushes.
    let pushes_of = |kind: &'static str| {
        let sb = &sandboxes[kind];
        async move { recorded(sb).await.1.get(BURST_SKU).copied().unwrap_or(0) }
    };
    let mut burst_before = BTreeMap::new();
    for kind in KINDS {
        burst_before.insert(kind, pushes_of(kind).await);
    }
    const CHANGES: i64 = 37;
    let start = on_hand(&app).await[BURST_SKU];
    for i in 1..=CHANGES {
        app.store
            .apply_stock_lines(
                &[StockLine {
                    warehouse_id: "main".into(),
                    sku: BURST_SKU.into(),
                    on_hand: start - i,
                }],
                None,
                &app.settings.inventory,
            )
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let want_burst = expected(&app).await;
    let level = want_burst[BURST_SKU];
    assert!(
        wait_for(Duration::from_secs(60), || async {
            for kind in KINDS {
                if recorded(&sandboxes[kind]).await.0.get(BURST_SKU) != Some(&level) {
                    return false;
                }
            }
            true
        })
        .await,
        "the burst's final level {level} never reached every channel"
    );
    // Nothing else is due: give a late second push its chance to show.
    tokio::time::sleep(Duration::from_secs(4)).await;
    for kind in KINDS {
        let n = pushes_of(kind).await - burst_before[kind];
        println!("{kind}: {CHANGES} changes to {BURST_SKU} → {n} pushes");
        assert!(
            (1..=2).contains(&n),
            "{kind}: {CHANGES} changes became {n} pushes"
        );
    }

    // 4. The burst took the sku to its low-stock threshold: a signed stock.low.
    assert!(
        wait_for(Duration::from_secs(30), || async {
            !hooks.0.lock().unwrap().is_empty()
        })
        .await,
        "no stock.low notification"
    );
    let (headers, body) = hooks.0.lock().unwrap()[0].clone();
    assert!(signature_ok(&headers, &body), "bad signature: {headers:?}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["type"], "stock.low");
    assert_eq!(v["data"]["sku"], BURST_SKU);
    assert_eq!(v["data"]["warehouse_id"], "main");

    // 5. No sandbox refused a request for its rate limit.
    let mut total = 0;
    for (kind, sb) in &sandboxes {
        let (_, pushes, stats) = recorded(sb).await;
        let n = pushes.values().sum::<u64>();
        total += n;
        println!(
            "{kind}: {} stock writes ({} since the initial sync), {} requests, throttled {}",
            n,
            n - before[kind],
            stats["requests_by_path"]
                .as_object()
                .map(|o| o.values().filter_map(Value::as_u64).sum::<u64>())
                .unwrap_or(0),
            stats["throttled"]
        );
        assert_eq!(stats["throttled"], 0, "{kind} throttled: {stats}");
    }
    assert!(total > 0);
    // Every stock_sync row is clean and none failed.
    for kind in KINDS {
        for r in app
            .store
            .stock_sync_rows(&format!("ss-{kind}"))
            .await
            .unwrap()
        {
            assert!(!r.dirty, "{r:?}");
            assert_ne!(r.last_outcome.as_deref(), Some("failed"), "{r:?}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_sale_on_one_channel_reaches_every_other_channel_sqlite() {
    scenario(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_sale_on_one_channel_reaches_every_other_channel_postgres() {
    scenario(Db::Postgres).await;
}
