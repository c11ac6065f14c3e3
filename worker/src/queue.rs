//! The apalis job queue on the store's own database: apalis-sqlite for the
//! embedded default, apalis-postgres when the store is PostgreSQL. Both share
//! the store's connection pool.

use crate::app::App;
use crate::jobs::PollChannel;
use apalis::prelude::*;
use apalis_postgres::PostgresStorage;
use apalis_sqlite::SqliteStorage;
use orderhub_core::store::{Backend, Store};
use std::sync::Arc;
use std::time::Duration;

pub const POLL_QUEUE: &str = "orderhub.poll_channel";

#[derive(Clone)]
pub enum JobQueue {
    Sqlite(SqliteStorage<PollChannel>),
    Postgres(PostgresStorage<PollChannel>),
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

impl JobQueue {
    /// Create the queue's tables (idempotent) and a handle on them.
    pub async fn setup(store: &Store) -> anyhow::Result<JobQueue> {
        Ok(match store.backend() {
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
                SqliteStorage::new(&pool)
                    .with_config(sqlite_config(POLL_QUEUE))
                    .into()
            }
            Backend::Postgres => {
                let pool = store.db().get_postgres_connection_pool().clone();
                PostgresStorage::<()>::setup(&pool).await?;
                PostgresStorage::new(&pool)
                    .with_config(postgres_config(POLL_QUEUE))
                    .into()
            }
        })
    }

    pub async fn push_poll(&self, job: PollChannel) -> anyhow::Result<()> {
        match self.clone() {
            JobQueue::Sqlite(mut s) => s.push(job).await?,
            JobQueue::Postgres(mut s) => s.push(job).await?,
        }
        Ok(())
    }

    /// Run the workers until the process stops.
    pub async fn run_workers(app: Arc<App>) -> anyhow::Result<()> {
        let concurrency = app.settings.worker.concurrency;
        let name = format!("{}-poll", app.instance);
        match app.queue.clone() {
            JobQueue::Sqlite(s) => {
                WorkerBuilder::new(name)
                    .backend(s.poll_with_interval(Duration::from_millis(200)))
                    .data(app.clone())
                    .concurrency(concurrency)
                    .build(crate::jobs::poll_channel)
                    .run()
                    .await?
            }
            JobQueue::Postgres(s) => {
                WorkerBuilder::new(name)
                    .backend(s.poll_with_interval(Duration::from_millis(200)))
                    .data(app.clone())
                    .concurrency(concurrency)
                    .build(crate::jobs::poll_channel)
                    .run()
                    .await?
            }
        }
        Ok(())
    }
}

async fn sqlx_exec(pool: &apalis_sqlite::SqlitePool, sql: &'static str) -> anyhow::Result<()> {
    sea_orm::sqlx::query(sql).execute(pool).await?;
    Ok(())
}

impl From<SqliteStorage<PollChannel>> for JobQueue {
    fn from(s: SqliteStorage<PollChannel>) -> Self {
        JobQueue::Sqlite(s)
    }
}

impl From<PostgresStorage<PollChannel>> for JobQueue {
    fn from(s: PostgresStorage<PollChannel>) -> Self {
        JobQueue::Postgres(s)
    }
}
