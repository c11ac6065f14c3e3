//! End to end: N orders from a Shopify sandbox (limits out of the way)
//! through real `orderhub run` processes of this binary to tracking pushed
//! back to the sandbox, with labels from an EasyPost sandbox; then the idle
//! latency of a new order's webhook and of a carrier's tracking webhook to
//! their next job.

use super::procs::{self, Worker};
use crate::app::App;
use anyhow::Context;
use orderhub_connectors::marketplaces::shopify::sandbox::{
    SeedRequest, ShopifySandbox, ShopifySandboxOptions,
};
use orderhub_connectors::sandbox::{CarrierSandboxSettings, SandboxLimits};
use orderhub_core::store::{order, shipment, Backend, Store};
use orderhub_core::OrderStatus;
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, Statement,
};
use std::path::Path;
use std::time::{Duration, Instant};

/// The documented EasyPost `tracker.updated` event the carrier-webhook
/// latency samples are made from (tracking code and ids replaced).
const EASYPOST_EVENT: &str =
    include_str!("../../../connectors/src/carriers/easypost/testdata/event_tracker_updated.json");

/// The in-process sandboxes: Shopify with its bucket out of the way, EasyPost
/// whose trackers move only when asked (so the webhooks are the bench's).
pub struct Sandboxes {
    pub shopify_sb: ShopifySandbox,
    pub shopify: String,
    pub easypost: String,
}

impl Sandboxes {
    pub async fn start() -> anyhow::Result<Sandboxes> {
        let profile = (orderhub_connectors::marketplaces::shopify::KIND
            .sandbox
            .profile)();
        let sb = ShopifySandbox::new(ShopifySandboxOptions::fast(
            profile.secret("access_token"),
            profile.secret("webhook_secret"),
        ));
        let (addr, _) = orderhub_connectors::sandbox::serve(sb.router(), "127.0.0.1:0").await?;
        let ep = orderhub_connectors::carrier_kind("easypost").context("easypost is registered")?;
        let router = (ep.sandbox.router)(
            &(ep.sandbox.profile)(),
            CarrierSandboxSettings {
                advance_every_ms: 0,
                limits: SandboxLimits::Volume,
            },
        );
        let (ep_addr, _) = orderhub_connectors::sandbox::serve(router, "127.0.0.1:0").await?;
        Ok(Sandboxes {
            shopify_sb: sb,
            shopify: format!("http://{addr}"),
            easypost: format!("http://{ep_addr}"),
        })
    }
}

/// A latency distribution over samples.
#[derive(Clone, Debug)]
pub struct Latency {
    pub samples: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

fn latency(mut ms: Vec<f64>) -> Option<Latency> {
    if ms.is_empty() {
        return None;
    }
    ms.sort_by(|a, b| a.total_cmp(b));
    let at = |q: f64| ms[((ms.len() as f64 - 1.0) * q).round() as usize];
    Some(Latency {
        samples: ms.len(),
        p50_ms: at(0.5),
        p99_ms: at(0.99),
    })
}

/// One end-to-end run's figures.
#[derive(Clone, Debug, Default)]
pub struct E2e {
    pub processes: usize,
    pub orders: u64,
    /// First order stored → last tracking pushed, from the store.
    pub secs: f64,
    pub orders_per_sec: f64,
    pub jobs_per_order: f64,
    pub jobs_by_queue: Vec<(String, i64)>,
    /// The largest VmHWM among the worker processes.
    pub peak_rss_mb: f64,
    pub order_latency: Option<Latency>,
    pub event_latency: Option<Latency>,
}

async fn jobs_by_queue(store: &Store) -> anyhow::Result<Vec<(String, i64)>> {
    let table = match store.backend() {
        Backend::Sqlite => "Jobs",
        Backend::Postgres => "apalis.jobs",
    };
    let rows = store
        .db()
        .query_all_raw(Statement::from_string(
            store.db().get_database_backend(),
            format!(
                "SELECT job_type, COUNT(*) AS n FROM {table} WHERE job_type LIKE 'orderhub.%' GROUP BY job_type ORDER BY job_type"
            ),
        ))
        .await?;
    let mut out = Vec::new();
    for r in rows {
        out.push((
            r.try_get::<String>("", "job_type")?,
            r.try_get::<i64>("", "n")?,
        ));
    }
    Ok(out)
}

/// Run `orders` orders end to end through `processes` workers on `db_url`
/// (a fresh database); with one process, also `samples` idle-latency samples
/// of each kind.
pub async fn run(
    db_url: &str,
    dir: &Path,
    orders: u32,
    processes: usize,
    samples: usize,
) -> anyhow::Result<E2e> {
    let sandboxes = Sandboxes::start().await?;
    std::env::set_var(procs::TOKEN_ENV, uuid::Uuid::new_v4().simple().to_string());
    // Migrate and load warehouses and stock once, here: the workers start on
    // a ready database.
    let toml = procs::config_toml(db_url, 0, &sandboxes.shopify, &sandboxes.easypost, 1);
    let loaded = crate::settings::load_layers(None, Some(&toml))
        .map_err(|p| anyhow::anyhow!(p.join("; ")))?;
    let app = App::start(loaded).await?;
    let store = app.store.clone();
    sandboxes
        .shopify_sb
        .seed(&SeedRequest {
            count: Some(orders),
            step_ms: Some(10),
            ..Default::default()
        })
        .map_err(|e| anyhow::anyhow!("seeding the sandbox: {e}"))?;

    let mut workers = Vec::new();
    for i in 0..processes {
        let port = procs::free_port()?;
        let cfg = dir.join(format!("worker-{i}-{}.toml", uuid::Uuid::new_v4().simple()));
        std::fs::write(
            &cfg,
            procs::config_toml(db_url, port, &sandboxes.shopify, &sandboxes.easypost, 1),
        )?;
        workers.push(Worker::start(&cfg, port).await?);
    }
    let want = orders as u64;
    let deadline = Instant::now() + Duration::from_secs(120 + want / 20);
    let mut peak: f64 = 0.0;
    // With ORDERHUB_BENCH_PROGRESS set: each second, how far each stage is
    // (stored, routed, labelled, pushed), which shows the stage that lags.
    let progress = std::env::var_os("ORDERHUB_BENCH_PROGRESS").is_some();
    let started = Instant::now();
    let mut next_report = Duration::from_secs(1);
    loop {
        for w in &workers {
            peak = peak.max(w.rss_mb().1);
        }
        let synced = store.count_orders(None).await?;
        let counts = store.fulfillment_counts().await?;
        let pushed = counts.tracking_pushed;
        if progress && started.elapsed() >= next_report {
            next_report += Duration::from_secs(1);
            eprintln!(
                "  {:>4.1}s stored {synced} routed {} labelled {} pushed {pushed}",
                started.elapsed().as_secs_f64(),
                counts.shipments,
                counts.labels_bought
            );
        }
        let exceptions = store.count_orders_in(OrderStatus::Exception).await?;
        if synced >= want && pushed + exceptions >= want {
            if exceptions > 0 {
                eprintln!("  note: {exceptions} orders ended in exception");
            }
            break;
        }
        if Instant::now() > deadline {
            for w in workers {
                w.stop().await;
            }
            anyhow::bail!(
                "end to end did not finish: {synced} synced, {pushed} pushed of {want} ({processes} processes)"
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for w in &workers {
        peak = peak.max(w.rss_mb().1);
    }
    let first = order::Entity::find()
        .order_by_asc(order::Column::CreatedAt)
        .one(store.db())
        .await?
        .context("no orders stored")?
        .created_at;
    let last = shipment::Entity::find()
        .filter(shipment::Column::TrackingPushedAt.is_not_null())
        .order_by_desc(shipment::Column::TrackingPushedAt)
        .one(store.db())
        .await?
        .and_then(|s| s.tracking_pushed_at)
        .context("no tracking pushed")?;
    let secs = ((last - first).num_microseconds().unwrap_or(0) as f64 / 1e6).max(1e-6);
    let jobs = jobs_by_queue(&store).await?;
    let total_jobs: i64 = jobs.iter().map(|(_, n)| n).sum();
    let mut out = E2e {
        processes,
        orders: want,
        secs,
        orders_per_sec: want as f64 / secs,
        jobs_per_order: total_jobs as f64 / want as f64,
        jobs_by_queue: jobs,
        peak_rss_mb: peak,
        ..Default::default()
    };
    println!(
        "  jobs by queue ({processes} process(es)): {}",
        out.jobs_by_queue
            .iter()
            .map(|(q, n)| format!("{} {n}", q.trim_start_matches("orderhub.")))
            .collect::<Vec<_>>()
            .join(", ")
    );
    if processes == 1 && samples > 0 {
        let port = workers[0].port;
        out.order_latency = order_latency(&store, &sandboxes, port, samples).await?;
        out.event_latency = event_latency(&store, port, samples).await?;
        for w in &workers {
            peak = peak.max(w.rss_mb().1);
        }
        out.peak_rss_mb = peak;
    }
    for w in workers {
        w.stop().await;
    }
    store.db().clone().close().await.ok();
    Ok(out)
}

/// A new order arrives by webhook (`orders/create`, stored before the 200)
/// on an idle worker: time from sending it to its RouteOrder done (the order
/// out of `awaiting`).
async fn order_latency(
    store: &Store,
    sandboxes: &Sandboxes,
    port: u16,
    samples: usize,
) -> anyhow::Result<Option<Latency>> {
    let http = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{port}/webhooks/channels/bench-shopify");
    let mut ms = Vec::new();
    for _ in 0..samples {
        let ids = sandboxes
            .shopify_sb
            .seed(&SeedRequest {
                count: Some(1),
                ..Default::default()
            })
            .map_err(|e| anyhow::anyhow!("seeding: {e}"))?;
        let id = *ids.first().context("seeded one order")?;
        let hook = sandboxes
            .shopify_sb
            .webhook(id, "orders/create")
            .context("a signed webhook")?;
        // Idle: nothing else in flight.
        tokio::time::sleep(Duration::from_millis(30)).await;
        let t0 = Instant::now();
        let mut req = http.post(&url).body(hook.body.clone());
        for (k, v) in &hook.headers {
            req = req.header(k, v);
        }
        let r = req.send().await?;
        anyhow::ensure!(r.status().is_success(), "webhook answered {}", r.status());
        let deadline = t0 + Duration::from_secs(10);
        loop {
            // This order stored (the webhook is applied after its 200) and
            // out of `awaiting`.
            let routed = order::Entity::find()
                .filter(order::Column::ExternalId.eq(id.to_string()))
                .filter(order::Column::Status.ne(OrderStatus::Awaiting.as_str()))
                .count(store.db())
                .await?;
            if routed > 0 {
                ms.push(t0.elapsed().as_secs_f64() * 1000.0);
                break;
            }
            if Instant::now() > deadline {
                anyhow::bail!("a webhook's order was not routed within 10 s");
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    Ok(latency(ms))
}

/// A carrier's signed `tracker.updated` for a shipment with a label, on an
/// idle worker: time from sending it to its ApplyTrackingEvent done (the
/// shipment's tracking status moved).
async fn event_latency(
    store: &Store,
    port: u16,
    samples: usize,
) -> anyhow::Result<Option<Latency>> {
    let secret = std::env::var("ORDERHUB_DEMO_EASYPOST_WEBHOOK_SECRET")
        .context("the EasyPost sandbox's webhook secret")?;
    let template: serde_json::Value = serde_json::from_str(EASYPOST_EVENT)?;
    let shipments = shipment::Entity::find()
        .filter(shipment::Column::TrackingCode.is_not_null())
        .order_by_asc(shipment::Column::Id)
        .limit(samples as u64)
        .all(store.db())
        .await?;
    let http = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{port}/webhooks/carriers/bench-easypost");
    let mut ms = Vec::new();
    for s in shipments {
        let Some(code) = s.tracking_code.clone() else {
            continue;
        };
        let mut ev = template.clone();
        ev["id"] = format!("evt_bench_{}", uuid::Uuid::new_v4().simple()).into();
        ev["result"]["id"] = format!("trk_bench_{}", s.id).into();
        ev["result"]["tracking_code"] = code.into();
        ev["result"]["status"] = "in_transit".into();
        if let Some(c) = &s.carrier {
            ev["result"]["carrier"] = c.clone().into();
        }
        let body = ev.to_string();
        let sig =
            orderhub_connectors::carriers::easypost::client::sign_webhook(&secret, body.as_bytes());
        let before = s.tracking_status.clone();
        tokio::time::sleep(Duration::from_millis(30)).await;
        let t0 = Instant::now();
        let r = http
            .post(&url)
            .header("Content-Type", "application/json")
            .header("X-Hmac-Signature", sig)
            .body(body)
            .send()
            .await?;
        anyhow::ensure!(
            r.status().is_success(),
            "carrier webhook answered {}",
            r.status()
        );
        let deadline = t0 + Duration::from_secs(10);
        loop {
            let now = shipment::Entity::find_by_id(s.id)
                .one(store.db())
                .await?
                .map(|x| x.tracking_status);
            if now.as_deref() != Some(before.as_str()) {
                ms.push(t0.elapsed().as_secs_f64() * 1000.0);
                break;
            }
            if Instant::now() > deadline {
                anyhow::bail!("a carrier event was not applied within 10 s");
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    Ok(latency(ms))
}
