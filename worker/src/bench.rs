//! `orderhub bench`: the sync rate against its baseline, in one run on one
//! database: (1) the bare apalis queue running no-op jobs, (2) a full sync of
//! N sandbox orders through the real `PollChannel` body.

use crate::app::App;
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

/// Jobs per second of the bare queue for `n` no-op jobs.
pub async fn bare_queue(store: &Store, n: u64) -> anyhow::Result<f64> {
    let queue = format!("bench.noop.{}", uuid::Uuid::new_v4().simple());
    let target = Arc::new(Target(n, AtomicU64::new(0)));
    let jobs: Vec<u64> = (0..n).collect();
    let started;
    JobQueue::setup(store, 1).await?;
    match store.backend() {
        Backend::Sqlite => {
            let pool = store.db().get_sqlite_connection_pool().clone();
            let mut s = SqliteStorage::<u64>::new(&pool).with_config(
                apalis_sqlite::Config::default()
                    .queue(&queue)
                    .batch_size(100),
            );
            for chunk in jobs.chunks(1000) {
                s.push_bulk(chunk.to_vec()).await?;
            }
            started = Instant::now();
            WorkerBuilder::new(queue.as_str())
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
                    .queue(&queue)
                    .batch_size(100),
            );
            for chunk in jobs.chunks(1000) {
                s.push_bulk(chunk.to_vec()).await?;
            }
            started = Instant::now();
            WorkerBuilder::new(queue.as_str())
                .backend(s.poll_with_interval(Duration::from_millis(50)))
                .data(target.clone())
                .build(noop)
                .run()
                .await?;
        }
    }
    Ok(n as f64 / started.elapsed().as_secs_f64())
}

pub async fn run(orders: u32, database: Option<String>) -> anyhow::Result<ExitCode> {
    let dir =
        std::env::temp_dir().join(format!("orderhub-bench-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir)?;
    let db_url = database
        .unwrap_or_else(|| format!("sqlite://{}?mode=rwc", dir.join("bench.sqlite").display()));
    let base = crate::demo::start_shopify_sandbox("127.0.0.1:0", orders, true).await?;
    crate::demo::set_demo_secrets();
    let loaded = crate::settings::load_layers(
        None,
        Some(&crate::demo::demo_toml(
            &db_url,
            &std::collections::BTreeMap::from([("shopify", base)]),
        )),
    )
    .map_err(|p| anyhow::anyhow!(p.join("; ")))?;
    let app = App::start(loaded).await?;
    let noop_rate = bare_queue(&app.store, orders as u64).await?;
    let started = Instant::now();
    let report = crate::jobs::poll_once(&app, "demo-shopify").await?;
    let secs = started.elapsed().as_secs_f64();
    let stored = app.store.count_orders(None).await?;
    let sync_rate = stored as f64 / secs;
    println!("backend                 {:?}", app.store.backend());
    println!("bare apalis no-op jobs  {noop_rate:.0} jobs/s ({orders} jobs)");
    println!(
        "order sync              {sync_rate:.0} orders/s ({stored} orders, {} pages, {secs:.2}s)",
        report.pages
    );
    println!("ratio sync/no-op        {:.3}", sync_rate / noop_rate);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(ExitCode::SUCCESS)
}
