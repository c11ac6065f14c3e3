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
                    Storage::Sqlite(mut s, _) => {
                        s.push_task(task).await?;
                        wake::sqlite_pushed(&s);
                    }
                    // The insert trigger's NOTIFY wakes every process's workers.
                    Storage::Postgres(mut s, _) => s.push_task(task).await?,
                }
                Ok(())
            }

            /// Push many jobs in one insert transaction (one round trip per
            /// batch rather than one per job: a page of new orders).
            pub async fn push_many(&self, jobs: Vec<$job>) -> anyhow::Result<()> {
                if jobs.is_empty() {
                    return Ok(());
                }
                let m = self.max_attempts();
                let tasks = futures::stream::iter(
                    jobs.into_iter()
                        .map(move |j| TaskBuilder::new(j).max_attempts(m).build()),
                );
                match self.clone() {
                    Storage::Sqlite(mut s, _) => {
                        s.push_all(tasks).await?;
                        wake::sqlite_pushed(&s);
                    }
                    Storage::Postgres(mut s, _) => s.push_all(tasks).await?,
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
            .backend({
                let fallback = Duration::from_millis($app.settings.worker.poll_fallback_ms);
                let strategy = wake::strategy(&$storage, fallback);
                $storage.poll_with_strategy(strategy)
            })
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

/// No sleeping pollers: a worker fetches as soon as a job is pushed, and
/// polls every `worker.poll_fallback_ms` (200) only as the fallback (jobs whose `run_at`
/// came due, retries, a missed signal). With the interval alone, an idle
/// worker took 100 ms on average (up to 200 ms) to see a new order's
/// RouteOrder or a carrier event's ApplyTrackingEvent, and each stage of the
/// pipeline that ran dry waited as long again.
/// - PostgreSQL: one LISTEN connection per process and database on
///   apalis-postgres' insert trigger (`apalis::job::insert`, a JSON payload
///   naming the queue), fanned out to that queue's workers, so a job pushed by
///   any process wakes the workers of every process.
/// - SQLite: a signal from `push` in this process to the workers of the same
///   database file and queue (a job pushed by another process waits for the
///   fallback poll).
///
/// Signals coalesce: a full channel already holds a wake-up.
mod wake {
    use apalis::prelude::{IntervalStrategy, PollSnapshot, PollStrategy};
    use apalis_postgres::PostgresStorage;
    use apalis_sqlite::SqliteStorage;
    use futures::channel::mpsc;
    use futures::StreamExt;
    use std::collections::{HashMap, HashSet};
    use std::sync::{LazyLock, Mutex};
    use std::task::{Context, Poll};
    use std::time::Duration;

    /// (database, queue) → the wake-up senders of that queue's workers.
    static WAITING: LazyLock<Mutex<HashMap<(String, String), Vec<mpsc::Sender<()>>>>> =
        LazyLock::new(Default::default);
    /// PostgreSQL databases this process has a listener on.
    static LISTENING: LazyLock<Mutex<HashSet<String>>> = LazyLock::new(Default::default);

    fn subscribe(db: String, queue: String) -> mpsc::Receiver<()> {
        let (tx, rx) = mpsc::channel(0);
        if let Ok(mut map) = WAITING.lock() {
            map.entry((db, queue)).or_default().push(tx);
        }
        rx
    }

    /// Wake the workers of `queue` on `db` in this process.
    fn signal(db: &str, queue: &str) {
        if let Ok(mut map) = WAITING.lock() {
            if let Some(senders) = map.get_mut(&(db.to_string(), queue.to_string())) {
                // A full channel already holds a wake-up; a closed one is a
                // stopped worker.
                senders.retain_mut(|tx| match tx.try_send(()) {
                    Ok(()) => true,
                    Err(e) => !e.is_disconnected(),
                });
            }
        }
    }

    /// Whether any worker of this process still waits on `db`.
    fn has_waiting(db: &str) -> bool {
        WAITING.lock().is_ok_and(|mut map| {
            map.retain(|_, senders| {
                senders.retain(|tx| !tx.is_closed());
                !senders.is_empty()
            });
            map.keys().any(|(d, _)| d == db)
        })
    }

    /// The poll strategy: fetch on a wake-up, else every `fallback`.
    ///
    /// A wake-up can arrive while a fetch that started before the job was
    /// committed is still in flight; that fetch comes back empty and the
    /// worker would park with the job unseen until the fallback poll. So a
    /// wake-up is echoed: the next time apalis consults the strategy, it asks
    /// for one more turn, which starts a fetch after the wake-up for sure.
    pub struct WakeOnPush {
        // `Mutex` only for `Sync`, which apalis asks of strategies; reached
        // through `get_mut`, never locked.
        signals: Mutex<mpsc::Receiver<()>>,
        echo: bool,
        fallback: IntervalStrategy,
    }

    impl PollStrategy for WakeOnPush {
        fn poll_drive(
            &mut self,
            cx: &mut Context<'_>,
            snapshot: &PollSnapshot,
        ) -> Poll<Option<()>> {
            if std::mem::take(&mut self.echo) {
                cx.waker().wake_by_ref();
            }
            if let Ok(rx) = self.signals.get_mut() {
                if let Poll::Ready(Some(())) = rx.poll_next_unpin(cx) {
                    // Several pushes, one fetch.
                    while rx.try_recv().is_ok() {}
                    self.echo = true;
                    return Poll::Ready(Some(()));
                }
            }
            self.fallback.poll_drive(cx, snapshot)
        }
    }

    fn strategy_on(rx: mpsc::Receiver<()>, fallback: Duration) -> WakeOnPush {
        WakeOnPush {
            signals: Mutex::new(rx),
            echo: false,
            fallback: IntervalStrategy::new(fallback),
        }
    }

    fn sqlite_db<T>(s: &SqliteStorage<T>) -> String {
        format!(
            "sqlite:{}",
            s.pool().connect_options().get_filename().to_string_lossy()
        )
    }

    /// Wake this process's workers of `s`'s queue.
    pub fn sqlite_pushed<T>(s: &SqliteStorage<T>) {
        signal(&sqlite_db(s), std::any::type_name::<T>());
    }

    pub trait WakeStrategy {
        fn wake_strategy(&self, fallback: Duration) -> WakeOnPush;
    }

    impl<T> WakeStrategy for SqliteStorage<T> {
        fn wake_strategy(&self, fallback: Duration) -> WakeOnPush {
            // One queue per job type in orderhub (`SqliteStorage` shows no config).
            let rx = subscribe(sqlite_db(self), std::any::type_name::<T>().to_string());
            strategy_on(rx, fallback)
        }
    }

    impl<T> WakeStrategy for PostgresStorage<T> {
        fn wake_strategy(&self, fallback: Duration) -> WakeOnPush {
            let pool = self.pool().clone();
            let db = format!(
                "pg:{}",
                pool.connect_options().get_database().unwrap_or_default()
            );
            let rx = subscribe(db.clone(), self.config().queue.as_ref().to_string());
            let first = LISTENING.lock().is_ok_and(|mut l| l.insert(db.clone()));
            if first {
                tokio::spawn(listen(pool, db));
            }
            strategy_on(rx, fallback)
        }
    }

    #[derive(serde::Deserialize)]
    struct Inserted {
        job_type: String,
    }

    /// LISTEN for new jobs on `db` until no worker of this process waits on
    /// it; reconnect after a second when the connection drops (the interval
    /// poll covers the gap).
    async fn listen(pool: apalis_postgres::PgPool, db: String) {
        while has_waiting(&db) {
            let mut listener = match apalis_postgres::PgListener::connect_with(&pool).await {
                Ok(l) => l,
                Err(e) => {
                    tracing::debug!(error = %e, "job listener: connect failed; polling meanwhile");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            if let Err(e) = listener.listen("apalis::job::insert").await {
                tracing::debug!(error = %e, "job listener: LISTEN failed; polling meanwhile");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
            loop {
                match tokio::time::timeout(Duration::from_secs(5), listener.recv()).await {
                    Ok(Ok(n)) => {
                        if let Ok(ev) = serde_json::from_str::<Inserted>(n.payload()) {
                            signal(&db, &ev.job_type);
                        }
                    }
                    Ok(Err(e)) => {
                        tracing::debug!(error = %e, "job listener: connection lost; reconnecting");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        break;
                    }
                    Err(_) => {
                        if !has_waiting(&db) {
                            break;
                        }
                    }
                }
            }
        }
        if let Ok(mut l) = LISTENING.lock() {
            l.remove(&db);
        }
    }

    pub fn strategy(s: &impl WakeStrategy, fallback: Duration) -> WakeOnPush {
        s.wake_strategy(fallback)
    }
}
