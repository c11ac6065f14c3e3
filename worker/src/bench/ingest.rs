//! Webhook ingest: `wrk` (a second process) posting signed Shopify
//! `orders/updated` deliveries, each with a new `X-Shopify-Webhook-Id`, to
//! the real `/webhooks/channels/{id}` route (signature checked on the raw
//! body, the delivery committed to the inbox before the 200, deliveries
//! arriving together in one transaction; applied after the answer by the
//! ingest's applier), against a bare axum handler on the same server that
//! reads the same body and answers 200. After the webhook run, the time
//! until the applier has applied every stored delivery is measured too, so
//! applying later is not applying never.

use super::e2e::Sandboxes;
use super::procs;
use crate::app::App;
use crate::bench_list::{parse_wrk, Measured};
use anyhow::{bail, Context};
use axum::routing::post;
use axum::Router;
use orderhub_connectors::marketplaces::shopify::sandbox::SeedRequest;
use orderhub_core::store::Backend;
use sea_orm::{ConnectionTrait, Statement};

#[derive(Clone, Debug)]
pub struct Ingest {
    pub connections: u32,
    pub secs: u64,
    pub webhook_rps: f64,
    pub webhook_p99_ms: f64,
    pub bare_rps: f64,
    /// Inbox rows stored by the run (each answered request is one).
    pub stored: i64,
    /// Seconds from the end of the webhook run until every stored delivery
    /// was applied (`None`: not within a minute).
    pub drain_secs: Option<f64>,
    /// The most deliveries one transaction stored.
    pub largest_batch: usize,
}

pub fn wrk_available() -> bool {
    std::process::Command::new("wrk")
        .arg("--version")
        .output()
        .is_ok()
}

/// The wrk script: POST the signed body; every request gets a delivery id of
/// its own (thread number and a counter), so each is a new delivery.
fn script(run: &str, body: &str, headers: &[(String, String)]) -> String {
    let mut s = String::from("wrk.method = \"POST\"\n");
    s += &format!("wrk.body = {}\n", lua_string(body));
    for (k, v) in headers {
        s += &format!("wrk.headers[{}] = {}\n", lua_string(k), lua_string(v));
    }
    s += &format!(
        r#"local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
local n = 0
function request()
  n = n + 1
  wrk.headers["X-Shopify-Webhook-Id"] = "bench-{run}-" .. tostring(tid) .. "-" .. n
  return wrk.format()
end
"#
    );
    s
}

fn lua_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

async fn wrk(url: &str, script: &std::path::Path, secs: u64, c: u32) -> anyhow::Result<Measured> {
    let out = tokio::process::Command::new("wrk")
        .arg(format!("-t{}", c.clamp(1, 2)))
        .arg(format!("-c{c}"))
        .arg(format!("-d{secs}s"))
        .arg("--latency")
        .arg("-s")
        .arg(script)
        .arg(url)
        .output()
        .await
        .context("running wrk")?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!(
            "wrk failed ({}): {text}{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    parse_wrk(&text)
}

async fn count(app: &App, sql: &str) -> anyhow::Result<i64> {
    let db = app.store.db();
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            sql.to_string(),
        ))
        .await?
        .context("a count")?;
    Ok(row.try_get::<i64>("", "n")?)
}

async fn inbox_rows(app: &App) -> anyhow::Result<i64> {
    count(app, "SELECT COUNT(*) AS n FROM webhook_inbox").await
}

async fn unapplied_rows(app: &App) -> anyhow::Result<i64> {
    count(
        app,
        "SELECT COUNT(*) AS n FROM webhook_inbox WHERE processed_at IS NULL",
    )
    .await
}

pub async fn run(db_url: &str, secs: u64, connections: u32) -> anyhow::Result<Ingest> {
    let sandboxes = Sandboxes::start().await?;
    let toml = procs::config_toml(db_url, 0, &sandboxes.shopify, &sandboxes.easypost, 1);
    let loaded = crate::settings::load_layers(None, Some(&toml))
        .map_err(|p| anyhow::anyhow!(p.join("; ")))?;
    let app = App::start(loaded).await?;
    // The order the deliveries are about, stored once (the deliveries then
    // find it unchanged: the newest-wins upsert still reads and compares).
    let ids = sandboxes
        .shopify_sb
        .seed(&SeedRequest {
            count: Some(1),
            ..Default::default()
        })
        .map_err(|e| anyhow::anyhow!("seeding: {e}"))?;
    let id = *ids.first().context("one order")?;
    let hook = sandboxes
        .shopify_sb
        .webhook(id, "orders/updated")
        .context("a signed webhook")?;
    let headers: Vec<(String, String)> = hook
        .headers
        .iter()
        .filter(|(k, _)| !k.eq_ignore_ascii_case("X-Shopify-Webhook-Id"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();

    // The real router (no workers running: ingest alone), plus the bare
    // handler beside it.
    let bare = Router::new().route(
        "/_bench/ingest",
        post(|body: bytes::Bytes| async move {
            let _ = std::hint::black_box(body.len());
            (
                [(axum::http::header::CONTENT_TYPE, "application/json")],
                "{\"status\":\"ok\"}",
            )
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let router = crate::server::router(app.clone()).merge(bare);
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    // One delivery through reqwest first: it must be accepted.
    let mut req = reqwest::Client::new()
        .post(format!("http://{addr}/webhooks/channels/bench-shopify"))
        .body(hook.body.clone());
    for (k, v) in &hook.headers {
        req = req.header(k, v);
    }
    let r = req.send().await?;
    if !r.status().is_success() {
        bail!("the signed delivery was refused: {}", r.status());
    }
    let dir = std::env::temp_dir();
    let run_id = uuid::Uuid::new_v4().simple().to_string();
    let mut results = Vec::new();
    let mut drain = None;
    for (i, path) in ["/webhooks/channels/bench-shopify", "/_bench/ingest"]
        .iter()
        .enumerate()
    {
        let file = dir.join(format!("orderhub-bench-{run_id}-{i}.lua"));
        std::fs::write(
            &file,
            script(&format!("{}{i}", &run_id[..8]), &hook.body, &headers),
        )?;
        let url = format!("http://{addr}{path}");
        let before = inbox_rows(&app).await?;
        let m = wrk(&url, &file, secs, connections).await;
        let _ = std::fs::remove_file(&file);
        let m = m?;
        if m.bad > 0 {
            eprintln!("  warning: {path}: {} errors or non-2xx answers", m.bad);
        }
        let stored = inbox_rows(&app).await? - before;
        if i == 0 {
            // Applied after the answers: how long until none is left.
            let t0 = std::time::Instant::now();
            loop {
                if unapplied_rows(&app).await? == 0 {
                    drain = Some(t0.elapsed().as_secs_f64());
                    break;
                }
                if t0.elapsed() > std::time::Duration::from_secs(60) {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        }
        results.push((m, stored));
    }
    server.abort();
    let (hooks, stored) = &results[0];
    let (bare, _) = &results[1];
    let backend = match app.store.backend() {
        Backend::Sqlite => "SQLite",
        Backend::Postgres => "PostgreSQL",
    };
    let largest_batch = app.ingest.largest_batch();
    println!(
        "  webhook ingest on {backend}: {} requests, {stored} deliveries stored (at most {largest_batch} per transaction), all applied {}",
        hooks.requests,
        match drain {
            Some(s) => format!("{s:.2} s after the load"),
            None => "NOT within 60 s after the load".into(),
        }
    );
    app.store.db().clone().close().await.ok();
    Ok(Ingest {
        connections,
        secs,
        webhook_rps: hooks.requests_per_sec,
        webhook_p99_ms: hooks.p99_ms,
        bare_rps: bare.requests_per_sec,
        stored: *stored,
        drain_secs: drain,
        largest_batch,
    })
}
