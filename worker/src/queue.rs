//! The apalis job queue on the store's own database: apalis-sqlite for the
//! embedded default, apalis-postgres when the store is PostgreSQL. Both share
//! the store's connection pool.

use crate::app::App;
use crate::jobs::BuyReturnLabel;
pub use crate::jobs::BUY_RETURN_LABEL_QUEUE;
use crate::jobs::{ApplyTrackingEvent, BuyLabel, PollChannel, PushTracking, RouteOrder, VoidLabel};
use apalis::prelude::*;
use apalis_postgres::PostgresStorage;
use apalis_sqlite::SqliteStorage;
use orderhub_core::store::{Backend, Store};
use std::sync::Arc;
use std::time::Duration;

pub const POLL_QUEUE: &str = "orderhub.poll_channel";
pub const ROUTE_QUEUE: &str = "orderhub.route_order";
pub const BUY_LABEL_QUEUE: &str = "orderhub.buy_label";
pub const PUSH_TRACKING_QUEUE: &str = "orderhub.push_tracking";
pub const TRACKING_EVENT_QUEUE: &str = "orderhub.apply_tracking_event";
pub const VOID_LABEL_QUEUE: &str = "orderhub.void_label";

/// One typed queue on whichever backend the store uses.
pub enum Storage<T> {
    Sqlite(SqliteStorage<T>, usize),
    Postgres(PostgresStorage<T>, usize),
}

impl<T> Clone for Storage<T> {
    fn clone(&self) -> Self {
        match self {
            Storage::Sqlite(s, m) => Storage::Sqlite(s.clone(), *m),
            Storage::Postgres(s, m) => Storage::Postgres(s.clone(), *m),
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
    fn open(store: &Store, queue: &str, max_attempts: usize) -> Storage<T> {
        match store.backend() {
            Backend::Sqlite => Storage::Sqlite(
                SqliteStorage::new(store.db().get_sqlite_connection_pool())
                    .with_config(sqlite_config(queue)),
                max_attempts,
            ),
            Backend::Postgres => Storage::Postgres(
                PostgresStorage::new(store.db().get_postgres_connection_pool())
                    .with_config(postgres_config(queue)),
                max_attempts,
            ),
        }
    }

    fn max_attempts(&self) -> usize {
        match self {
            Storage::Sqlite(_, m) | Storage::Postgres(_, m) => *m,
        }
    }
}

/// `push` for each job type (apalis' sink bounds are spelled per backend).
/// Jobs carry `max_attempts` from config: after that many failed attempts a
/// job stays `Failed`, listed for ops to retry (the dead-letter view).
macro_rules! impl_push {
    ($($job:ty),*) => {$(
        impl Storage<$job> {
            pub async fn push(&self, job: $job) -> anyhow::Result<()> {
                let task = TaskBuilder::new(job).max_attempts(self.max_attempts()).build();
                match self.clone() {
                    Storage::Sqlite(mut s, _) => s.push_task(task).await?,
                    Storage::Postgres(mut s, _) => s.push_task(task).await?,
                }
                Ok(())
            }
        }
    )*};
}

impl_push!(
    PollChannel,
    RouteOrder,
    BuyLabel,
    PushTracking,
    ApplyTrackingEvent,
    VoidLabel
);
impl_push!(BuyReturnLabel);

/// The queues orderhub runs; arguments are ids only.
#[derive(Clone)]
pub struct JobQueue {
    pub poll: Storage<PollChannel>,
    pub route: Storage<RouteOrder>,
    pub buy_label: Storage<BuyLabel>,
    pub push_tracking: Storage<PushTracking>,
    pub tracking_event: Storage<ApplyTrackingEvent>,
    pub void_label: Storage<VoidLabel>,
    pub buy_return_label: Storage<BuyReturnLabel>,
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
    pub async fn setup(store: &Store, max_attempts: usize) -> anyhow::Result<JobQueue> {
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
        let m = max_attempts.max(1);
        Ok(JobQueue {
            poll: Storage::open(store, POLL_QUEUE, m),
            route: Storage::open(store, ROUTE_QUEUE, m),
            buy_label: Storage::open(store, BUY_LABEL_QUEUE, m),
            push_tracking: Storage::open(store, PUSH_TRACKING_QUEUE, m),
            tracking_event: Storage::open(store, TRACKING_EVENT_QUEUE, m),
            void_label: Storage::open(store, VOID_LABEL_QUEUE, m),
            buy_return_label: Storage::open(store, BUY_RETURN_LABEL_QUEUE, m),
        })
    }

    pub async fn push_poll(&self, job: PollChannel) -> anyhow::Result<()> {
        self.poll.push(job).await
    }

    /// Run the workers until the process stops.
    pub async fn run_workers(app: Arc<App>) -> anyhow::Result<()> {
        let name = |q: &str| format!("{}-{q}", app.instance);
        let q = app.queue.clone();
        let returns = q.buy_return_label.clone();
        match (
            q.poll,
            q.route,
            q.buy_label,
            q.push_tracking,
            q.tracking_event,
            q.void_label,
        ) {
            (
                Storage::Sqlite(p, _),
                Storage::Sqlite(r, _),
                Storage::Sqlite(b, _),
                Storage::Sqlite(t, _),
                Storage::Sqlite(e, _),
                Storage::Sqlite(v, _),
            ) => {
                let Storage::Sqlite(rl, _) = returns else {
                    anyhow::bail!("queues on different backends");
                };
                tokio::try_join!(
                    worker!(p, name("poll"), app, crate::jobs::poll_channel),
                    worker!(r, name("route"), app, crate::jobs::route_order),
                    worker!(b, name("buy-label"), app, crate::jobs::buy_label),
                    worker!(t, name("push-tracking"), app, crate::jobs::push_tracking),
                    worker!(
                        e,
                        name("tracking-event"),
                        app,
                        crate::jobs::apply_tracking_event
                    ),
                    worker!(v, name("void-label"), app, crate::jobs::void_label),
                    worker!(
                        rl,
                        name("buy-return-label"),
                        app,
                        crate::jobs::buy_return_label
                    ),
                )?;
            }
            (
                Storage::Postgres(p, _),
                Storage::Postgres(r, _),
                Storage::Postgres(b, _),
                Storage::Postgres(t, _),
                Storage::Postgres(e, _),
                Storage::Postgres(v, _),
            ) => {
                let Storage::Postgres(rl, _) = returns else {
                    anyhow::bail!("queues on different backends");
                };
                tokio::try_join!(
                    worker!(p, name("poll"), app, crate::jobs::poll_channel),
                    worker!(r, name("route"), app, crate::jobs::route_order),
                    worker!(b, name("buy-label"), app, crate::jobs::buy_label),
                    worker!(t, name("push-tracking"), app, crate::jobs::push_tracking),
                    worker!(
                        e,
                        name("tracking-event"),
                        app,
                        crate::jobs::apply_tracking_event
                    ),
                    worker!(v, name("void-label"), app, crate::jobs::void_label),
                    worker!(
                        rl,
                        name("buy-return-label"),
                        app,
                        crate::jobs::buy_return_label
                    ),
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
