//! The apalis job queue on the store's own database: apalis-sqlite for the
//! embedded default, apalis-postgres when the store is PostgreSQL. Both share
//! the store's connection pool.

use crate::app::App;
use crate::jobs::{PollChannel, RouteOrder};
use apalis::prelude::*;
use apalis_postgres::PostgresStorage;
use apalis_sqlite::SqliteStorage;
use orderhub_core::store::{Backend, Store};
use std::sync::Arc;
use std::time::Duration;

pub const POLL_QUEUE: &str = "orderhub.poll_channel";
pub const ROUTE_QUEUE: &str = "orderhub.route_order";

/// One typed queue on whichever backend the store uses.
pub enum Storage<T> {
    Sqlite(SqliteStorage<T>),
    Postgres(PostgresStorage<T>),
}

impl<T> Clone for Storage<T> {
    fn clone(&self) -> Self {
        match self {
            Storage::Sqlite(s) => Storage::Sqlite(s.clone()),
            Storage::Postgres(s) => Storage::Postgres(s.clone()),
        }
    }
}

fn sqlite_config(queue: &str) -> apalis_sqlite::Config {
    apalis_sqlite::Config::default()
        .queue(queue)
        .batch_size(20)
        // Short heartbeats so jobs of a killed worker are picked up again soon.
        .heartbeat_interval(Duration::from_secs(5))
}

fn postgres_config(queue: &str) -> apalis_postgres::Config {
    apalis_postgres::Config::default()
        .queue(queue)
        .batch_size(20)
        .heartbeat_interval(Duration::from_secs(5))
}

impl<T> Storage<T> {
    fn open(store: &Store, queue: &str) -> Storage<T> {
        match store.backend() {
            Backend::Sqlite => Storage::Sqlite(
                SqliteStorage::new(store.db().get_sqlite_connection_pool())
                    .with_config(sqlite_config(queue)),
            ),
            Backend::Postgres => Storage::Postgres(
                PostgresStorage::new(store.db().get_postgres_connection_pool())
                    .with_config(postgres_config(queue)),
            ),
        }
    }
}

/// `push` for each job type (apalis' sink bounds are spelled per backend).
macro_rules! impl_push {
    ($($job:ty),*) => {$(
        impl Storage<$job> {
            pub async fn push(&self, job: $job) -> anyhow::Result<()> {
                match self.clone() {
                    Storage::Sqlite(mut s) => s.push(job).await?,
                    Storage::Postgres(mut s) => s.push(job).await?,
                }
                Ok(())
            }
        }
    )*};
}

impl_push!(PollChannel, RouteOrder);

/// The queues orderhub runs; arguments are ids only.
#[derive(Clone)]
pub struct JobQueue {
    pub poll: Storage<PollChannel>,
    pub route: Storage<RouteOrder>,
}

/// Build and run one worker on one storage (the two backends are different
/// types, so this is a macro rather than a function with long bounds).
macro_rules! worker {
    ($storage:expr, $name:expr, $app:expr, $handler:expr) => {
        WorkerBuilder::new($name)
            .backend($storage.poll_with_interval(Duration::from_millis(200)))
            .data($app.clone())
            .concurrency($app.settings.worker.concurrency)
            .build($handler)
            .run()
    };
}

impl JobQueue {
    /// Create the queue's tables (idempotent) and handles on them.
    pub async fn setup(store: &Store) -> anyhow::Result<JobQueue> {
        match store.backend() {
            Backend::Sqlite => {
                let pool = store.db().get_sqlite_connection_pool().clone();
                // Not `SqliteStorage::setup`: it sets synchronous=OFF on whichever
                // pooled connection it gets. Our pool sets its PRAGMAs per connection.
                SqliteStorage::<()>::migrations().run(&pool).await?;
                // apalis-sqlite's ack query picks the `lock_by` index over the
                // primary key and then scans every job the worker ever took:
                // throughput falls as done jobs pile up. Without it the ack
                // uses the id.
                sqlx_exec(&pool, "DROP INDEX IF EXISTS LIdx").await?;
            }
            Backend::Postgres => {
                PostgresStorage::<()>::setup(store.db().get_postgres_connection_pool()).await?;
            }
        }
        Ok(JobQueue {
            poll: Storage::open(store, POLL_QUEUE),
            route: Storage::open(store, ROUTE_QUEUE),
        })
    }

    pub async fn push_poll(&self, job: PollChannel) -> anyhow::Result<()> {
        self.poll.push(job).await
    }

    /// Run the workers until the process stops.
    pub async fn run_workers(app: Arc<App>) -> anyhow::Result<()> {
        let poll_name = format!("{}-poll", app.instance);
        let route_name = format!("{}-route", app.instance);
        match (app.queue.poll.clone(), app.queue.route.clone()) {
            (Storage::Sqlite(p), Storage::Sqlite(r)) => {
                tokio::try_join!(
                    worker!(p, poll_name, app, crate::jobs::poll_channel),
                    worker!(r, route_name, app, crate::jobs::route_order),
                )?;
            }
            (Storage::Postgres(p), Storage::Postgres(r)) => {
                tokio::try_join!(
                    worker!(p, poll_name, app, crate::jobs::poll_channel),
                    worker!(r, route_name, app, crate::jobs::route_order),
                )?;
            }
            _ => anyhow::bail!("queues on different backends"),
        }
        Ok(())
    }
}

async fn sqlx_exec(pool: &apalis_sqlite::SqlitePool, sql: &'static str) -> anyhow::Result<()> {
    sea_orm::sqlx::query(sql).execute(pool).await?;
    Ok(())
}
