//! `orderhub bench`: orderhub's figures against their baselines, in one run
//! on one machine, printed as one table with the targets of issue 12:
//!
//! - the bare apalis queue running no-op jobs (SQLite, and PostgreSQL when
//!   `--database` or `ORDERHUB_BENCH_PG` names one), and its rate once
//!   100,000 done jobs sit in the table against its rate at 1,000;
//! - end to end, poll → route → label → tracking pushed, for N orders from a
//!   Shopify sandbox with its limits out of the way (`fast`) and an EasyPost
//!   sandbox in this process, through real `orderhub run` child processes of
//!   this binary (SQLite: 1; PostgreSQL: 1 and `--processes`, sharing one
//!   database), measured from the store (first order stored → last tracking
//!   pushed), with the jobs each order took;
//! - idle latency: a new order's webhook → its RouteOrder done, and a
//!   carrier tracking webhook → its ApplyTrackingEvent done (p50/p99);
//! - normalize per order (each marketplace's normalizer on its testdata
//!   order) against `serde_json::from_slice::<Value>` of the same bytes;
//! - webhook ingest (signed Shopify deliveries, each a new delivery id, each
//!   stored in the inbox before the 200) with `wrk` from a second process,
//!   against a bare axum handler on the same server;
//! - peak resident memory of the worker processes, idle with 10 channels and
//!   under the benchmark.

pub mod e2e;
pub mod ingest;
pub mod micro;
pub mod procs;

use crate::queue::JobQueue;
use apalis::prelude::*;
use apalis_postgres::PostgresStorage;
use apalis_sqlite::SqliteStorage;
use orderhub_core::store::{Backend, Store};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Target(u64, AtomicU64);

async fn noop(_job: u64, target: Data<Arc<Target>>, wrk: WorkerContext) -> Result<(), BoxDynError> {
    let t: &Target = &target;
    if t.1.fetch_add(1, Ordering::SeqCst) + 1 >= t.0 {
        let _ = wrk.stop();
    }
    Ok(())
}

/// Jobs per second of the bare queue for `n` no-op jobs (a fresh queue).
pub async fn bare_queue(store: &Store, n: u64) -> anyhow::Result<f64> {
    let queue = format!("bench.noop.{}", uuid::Uuid::new_v4().simple());
    bare_queue_on(store, &queue, n).await
}

/// Jobs per second of the bare queue for `n` no-op jobs on `queue` (rows of
/// earlier runs on the queue stay in the table, done). apalis refuses a
/// worker name that is already registered, so each run has its own.
pub async fn bare_queue_on(store: &Store, queue: &str, n: u64) -> anyhow::Result<f64> {
    let target = Arc::new(Target(n, AtomicU64::new(0)));
    let jobs: Vec<u64> = (0..n).collect();
    let started;
    JobQueue::setup(store, 1).await?;
    match store.backend() {
        Backend::Sqlite => {
            let pool = store.db().get_sqlite_connection_pool().clone();
            let mut s = SqliteStorage::<u64>::new(&pool).with_config(
                apalis_sqlite::Config::default()
                    .queue(queue)
                    .batch_size(100),
            );
            for chunk in jobs.chunks(1000) {
                s.push_bulk(chunk.to_vec()).await?;
            }
            started = Instant::now();
            WorkerBuilder::new(format!("{queue}-{}", uuid::Uuid::new_v4().simple()))
                .backend(s.poll_with_interval(Duration::from_millis(50)))
                .data(target.clone())
                .build(noop)
                .run()
                .await?;
        }
        Backend::Postgres => {
            let pool = store.db().get_postgres_connection_pool().clone();
            let mut s = PostgresStorage::<u64>::new(&pool).with_config(
                apalis_postgres::Config::default()
                    .queue(queue)
                    .batch_size(100),
            );
            for chunk in jobs.chunks(1000) {
                s.push_bulk(chunk.to_vec()).await?;
            }
            started = Instant::now();
            WorkerBuilder::new(format!("{queue}-{}", uuid::Uuid::new_v4().simple()))
                .backend(s.poll_with_interval(Duration::from_millis(50)))
                .data(target.clone())
                .build(noop)
                .run()
                .await?;
        }
    }
    Ok(n as f64 / started.elapsed().as_secs_f64())
}

/// What `orderhub bench` was asked.
pub struct Options {
    pub orders: u32,
    /// A PostgreSQL database URL (or `ORDERHUB_BENCH_PG`): the PostgreSQL
    /// rows run in fresh databases created next to it (and dropped after).
    pub database: Option<String>,
    /// Worker processes of the PostgreSQL scale-out row.
    pub processes: usize,
    /// Idle-latency samples per kind.
    pub samples: usize,
    /// Done jobs before the second queue measurement.
    pub queue_fill: u64,
    /// How long wrk loads each ingest URL (seconds).
    pub wrk_secs: u64,
    /// Skip the wrk rows (no wrk installed, or a quick run).
    pub no_wrk: bool,
}

/// One backend's figures.
#[derive(Default, Clone)]
pub struct BackendFigures {
    pub name: &'static str,
    pub noop_rate: f64,
    pub queue_at_small: f64,
    pub queue_at_fill: f64,
    pub e2e: Vec<e2e::E2e>,
    pub ingest: Option<ingest::Ingest>,
}

fn yes(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "MISSED"
    }
}

pub async fn run(opts: Options) -> anyhow::Result<ExitCode> {
    let pg = opts
        .database
        .clone()
        .or_else(|| std::env::var("ORDERHUB_BENCH_PG").ok())
        .filter(|u| !u.is_empty());
    if let Some(u) = &pg {
        if !u.starts_with("postgres") {
            eprintln!("--database / ORDERHUB_BENCH_PG must be a postgres:// URL (SQLite always runs on a temporary file)");
            return Ok(ExitCode::from(2));
        }
    }
    let wrk = !opts.no_wrk && ingest::wrk_available();
    if !opts.no_wrk && !wrk {
        eprintln!("note: wrk is not on PATH (apt-get install -y wrk): the webhook ingest rows are skipped");
    }
    crate::demo::set_demo_secrets();
    let dir =
        std::env::temp_dir().join(format!("orderhub-bench-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir)?;
    let started = Instant::now();
    println!(
        "orderhub bench: {} orders, {} cores, {}",
        opts.orders,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC")
    );

    // ORDERHUB_BENCH_E2E_ONLY: the end-to-end rows alone (with
    // ORDERHUB_BENCH_PROGRESS, stage by stage), to iterate on the pipeline:
    // SQLite, or with --database PostgreSQL with 1 and --processes workers.
    if std::env::var_os("ORDERHUB_BENCH_E2E_ONLY").is_some() {
        let (url, counts) = match &pg {
            Some(admin) => (admin.clone(), vec![1, opts.processes.max(1)]),
            None => (sqlite_url(&dir), vec![1]),
        };
        let mut done = std::collections::BTreeSet::new();
        for p in counts.into_iter().filter(|p| done.insert(*p)) {
            e2e_row(&url, &dir, opts.orders, p, 0).await?;
        }
        let _ = std::fs::remove_dir_all(&dir);
        return Ok(ExitCode::SUCCESS);
    }

    // Normalize against a bare parse (no database).
    let normalize = micro::normalize_costs(20_000);

    // Idle RSS with 10 channels (one worker process, SQLite).
    let idle_rss = procs::idle_rss(&dir, 10).await?;
    println!(
        "  idle worker, 10 channels: RSS {:.1} MB (peak {:.1} MB)",
        idle_rss.0, idle_rss.1
    );

    let mut backends = Vec::new();
    // SQLite.
    {
        let url = sqlite_url(&dir);
        let mut f = backend_figures("SQLite", &url, &dir, &opts, &[1], wrk).await?;
        f.name = "SQLite";
        backends.push(f);
    }
    if let Some(admin) = &pg {
        let mut counts = vec![1];
        if opts.processes > 1 {
            counts.push(opts.processes);
        }
        // Every PostgreSQL part runs in a fresh database created next to
        // this one and dropped after.
        let mut f = backend_figures("PostgreSQL", admin, &dir, &opts, &counts, wrk).await?;
        f.name = "PostgreSQL";
        backends.push(f);
    }
    let bench_hwm = procs::self_hwm_mb();
    let _ = std::fs::remove_dir_all(&dir);

    // ------------------------------------------------------------ the table
    println!();
    println!("| figure | backend | value | baseline (same run) | ratio | target | verdict |");
    println!("| --- | --- | --- | --- | --- | --- | --- |");
    let mut peak_worker: f64 = idle_rss.1;
    for b in &backends {
        println!(
            "| bare apalis no-op ({} jobs) | {} | {:.0} jobs/s | | | | |",
            opts.orders, b.name, b.noop_rate
        );
        let drift = b.queue_at_fill / b.queue_at_small;
        println!(
            "| bare queue at {} done jobs vs at 1,000 | {} | {:.0} jobs/s | {:.0} jobs/s | {:.2} | within 20 % (≥ 0.80) | {} |",
            opts.queue_fill,
            b.name,
            b.queue_at_fill,
            b.queue_at_small,
            drift,
            yes(drift >= 0.8)
        );
        for e in &b.e2e {
            peak_worker = peak_worker.max(e.peak_rss_mb);
            let eff = e.orders_per_sec * e.jobs_per_order / b.noop_rate;
            println!(
                "| end to end, poll → tracking pushed, {} process{} | {} | {:.0} orders/s ({} orders, {:.2} s, {:.2} jobs/order) | {:.0} no-op jobs/s | efficiency {:.3} | ≥ 0.5{} | {} |",
                e.processes,
                if e.processes == 1 { "" } else { "es" },
                b.name,
                e.orders_per_sec,
                e.orders,
                e.secs,
                e.jobs_per_order,
                b.noop_rate,
                eff,
                if b.name == "SQLite" { "; ≥ 2,000 orders/s" } else { "" },
                yes(eff >= 0.5 && (b.name != "SQLite" || e.orders_per_sec >= 2000.0))
            );
        }
        if let (Some(one), Some(many)) = (
            b.e2e.iter().find(|e| e.processes == 1),
            b.e2e.iter().find(|e| e.processes > 1),
        ) {
            let r = many.orders_per_sec / one.orders_per_sec;
            println!(
                "| {} processes vs 1 | {} | {:.0} orders/s | {:.0} orders/s | {:.2} | ≥ 1.5 | {} |",
                many.processes,
                b.name,
                many.orders_per_sec,
                one.orders_per_sec,
                r,
                yes(r >= 1.5)
            );
        }
        if let Some(e) = b.e2e.iter().find(|e| e.processes == 1) {
            for (what, l) in [
                (
                    "idle: new order webhook → RouteOrder done",
                    &e.order_latency,
                ),
                (
                    "idle: carrier webhook → ApplyTrackingEvent done",
                    &e.event_latency,
                ),
            ] {
                if let Some(l) = l {
                    println!(
                        "| {what} ({} samples) | {} | p50 {:.1} ms, p99 {:.1} ms | | | < 100 ms | {} |",
                        l.samples,
                        b.name,
                        l.p50_ms,
                        l.p99_ms,
                        yes(l.p99_ms < 100.0)
                    );
                }
            }
        }
        if let Some(i) = &b.ingest {
            let r = i.webhook_rps / i.bare_rps;
            println!(
                "| webhook ingest (wrk -c{} {} s, each stored before the 200; {} stored) | {} | {:.0} req/s (p99 {:.1} ms) | bare axum {:.0} req/s | {:.3} | ≥ 0.5 | {} |",
                i.connections,
                i.secs,
                i.stored,
                b.name,
                i.webhook_rps,
                i.webhook_p99_ms,
                i.bare_rps,
                r,
                yes(r >= 0.5)
            );
        }
    }
    for n in &normalize {
        let r = n.normalize_ns / n.parse_ns;
        println!(
            "| normalize per order ({}, {} bytes) | - | {:.1} µs | serde_json Value {:.1} µs | {:.2} | ≤ 2 | {} |",
            n.kind,
            n.bytes,
            n.normalize_ns / 1000.0,
            n.parse_ns / 1000.0,
            r,
            yes(r <= 2.0)
        );
    }
    println!(
        "| worker RSS idle, 10 channels | SQLite | {:.1} MB (peak {:.1} MB) | | | ≤ 64 MB | {} |",
        idle_rss.0,
        idle_rss.1,
        yes(idle_rss.1 <= 64.0)
    );
    println!(
        "| worker peak RSS under the benchmark (VmHWM, largest process) | all | {peak_worker:.1} MB | | | ≤ 256 MB | {} |",
        yes(peak_worker <= 256.0)
    );
    println!(
        "| bench process peak RSS (sandboxes, in-process parts) | all | {bench_hwm:.1} MB | | | | |"
    );
    println!();
    println!("  bench took {:.1} s", started.elapsed().as_secs_f64());
    Ok(ExitCode::SUCCESS)
}

/// The SQLite database of a run (a file in its temporary directory).
fn sqlite_url(dir: &std::path::Path) -> String {
    format!("sqlite://{}?mode=rwc", dir.join("bench.sqlite").display())
}

/// One end-to-end row with `p` worker processes, on a fresh database next
/// to `url` (dropped after), printed as it ends.
async fn e2e_row(
    url: &str,
    dir: &std::path::Path,
    orders: u32,
    p: usize,
    samples: usize,
) -> anyhow::Result<e2e::E2e> {
    let eurl = procs::sibling_db(url, dir, &format!("e2e{p}")).await?;
    let r = e2e::run(&eurl, dir, orders, p, samples).await;
    procs::drop_sibling(url, &eurl).await;
    let e = r?;
    println!(
        "  end to end, {p} process(es): {:.0} orders/s ({} orders in {:.2} s, {:.2} jobs/order), peak RSS {:.1} MB",
        e.orders_per_sec, e.orders, e.secs, e.jobs_per_order, e.peak_rss_mb
    );
    Ok(e)
}

async fn backend_figures(
    name: &'static str,
    url: &str,
    dir: &std::path::Path,
    opts: &Options,
    process_counts: &[usize],
    wrk: bool,
) -> anyhow::Result<BackendFigures> {
    println!("{name}:");
    let mut f = BackendFigures {
        name,
        ..Default::default()
    };
    // The queue baselines on their own database.
    {
        let qurl = procs::sibling_db(url, dir, "queue").await?;
        let store = Store::connect(&qurl, 8).await?;
        crate::migrate::run(&store).await?;
        f.noop_rate = bare_queue(&store, opts.orders.max(1000) as u64).await?;
        println!("  bare apalis no-op: {:.0} jobs/s", f.noop_rate);
        let queue = format!("bench.fill.{}", uuid::Uuid::new_v4().simple());
        f.queue_at_small = bare_queue_on(&store, &queue, 1000).await?;
        let fill = opts.queue_fill.saturating_sub(1000);
        if fill > 0 {
            bare_queue_on(&store, &queue, fill).await?;
        }
        f.queue_at_fill = bare_queue_on(&store, &queue, 1000).await?;
        println!(
            "  queue: {:.0} jobs/s at 1,000 done, {:.0} jobs/s at {} done",
            f.queue_at_small, f.queue_at_fill, opts.queue_fill
        );
        store.db().clone().close().await.ok();
        procs::drop_sibling(url, &qurl).await;
    }
    for &p in process_counts {
        f.e2e
            .push(e2e_row(url, dir, opts.orders, p, opts.samples).await?);
    }
    if wrk {
        let iurl = procs::sibling_db(url, dir, "ingest").await?;
        let r = ingest::run(&iurl, opts.wrk_secs, 8).await;
        procs::drop_sibling(url, &iurl).await;
        let i = r?;
        println!(
            "  webhook ingest: {:.0} req/s vs bare {:.0} req/s",
            i.webhook_rps, i.bare_rps
        );
        f.ingest = Some(i);
    }
    Ok(f)
}
