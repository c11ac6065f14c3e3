//! The store: connection setup and the queries the worker and the API need.
//!
//! Writes that must be atomic go through [`Store::begin_write`], which on SQLite
//! starts an IMMEDIATE transaction (no "database is locked" upgrade failures).

pub mod email;
pub mod entities;
mod events;
mod fulfillment;
pub mod inventory;
mod kpis;
mod labels;
mod orders;
pub mod outbound;
pub mod pack_verify;
pub mod picklist;
pub mod returns;
mod routing;
mod stock_levels;
pub mod stock_sync;
mod sync;
mod tokens;
mod tracking_page;
mod webhooks;

pub use entities::*;
pub use events::{
    check_note, NoteRefusal, TimelineEntry, ACTOR_CARRIER, ACTOR_CHANNEL, ACTOR_SYSTEM,
    EVENT_EXCEPTION, EVENT_LABEL_BOUGHT, EVENT_NOTE, EVENT_RATE_CHOSEN, EVENT_ROUTED,
    EVENT_STATUS_CHANGED, EVENT_SYNCED, EVENT_TRACKING, EVENT_TRACKING_PUSHED, EVENT_UPDATED,
    EVENT_VOIDED, NOTE_AUTHOR_MAX_CHARS, NOTE_MAX_CHARS,
};
pub use fulfillment::{
    needs_channel_push, ChosenRate, FulfillmentCounts, LabelRecord, ShipmentView, TrackingOutcome,
    SHIPMENT_BUYING, SHIPMENT_CREATED, SHIPMENT_EXCEPTION, SHIPMENT_LABEL_BOUGHT,
};
pub use inventory::{
    AlertChanges, StockAlertView, StockCountView, StockFilter, StockLine, StockRow,
};
pub use kpis::{
    compute as compute_kpis, duration_stats, parse_time as parse_kpi_time, percentile, share,
    sum_by_currency, summarize as summarize_kpis, DurationStats, KpiGroup, KpiQuery, KpiSet, Kpis,
    OrderCounts, OrderFacts, Promise, Share, ShipmentFacts, DEFAULT_KPI_DAYS,
};
pub use labels::{
    RateQuoteRecord, VoidRefusal, SHIPMENT_CANCELLED, SHIPMENT_VOIDED, SHIPMENT_VOIDING,
};
pub use orders::{
    OrderCursor, OrderFilter, OrderPage, OrderSort, StatusRefusal, StoredOrder, UpsertOutcome,
};
pub use outbound::{
    notification_type, AttemptOutcome, AttemptRecorded, AttemptView, DeliveryFilter, DeliveryView,
    DispatchReport, PausePolicy, SubscriberView, DELIVERY_DELIVERED, DELIVERY_FAILED,
    DELIVERY_PENDING, DELIVERY_STATUSES, SUBSCRIBER_ACTIVE, SUBSCRIBER_PAUSED,
};
pub use picklist::{BinLine, PackingSlip, PickRefusal, SlipLine};
pub use returns::{
    NewReturn, NewReturnLine, ReceiptLine, ReturnFilter, ReturnKpis, ReturnRefusal, ReturnView,
};
pub use routing::{RouteOutcome, RoutedShipment, WarehouseRouting, EVENT_BACKORDERED, NO_STOCK};
pub use stock_levels::StockLevel;
pub use stock_sync::{StockSyncView, STOCK_LOW_EVENT};
pub use sync::{ChannelStatus, PageOutcome, PollFailure};
pub use tokens::{token_hash, TokenInfo};
pub use tracking_page::{is_tracking_token, DeliveryWatch, PublicTrackingEvent, TrackingPage};
pub use webhooks::{NewWebhook, WebhookEffect};

use sea_orm::sqlx;
use sea_orm::{
    AccessMode, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr,
    SqlxPostgresConnector, SqlxSqliteConnector, TransactionOptions, TransactionTrait,
};
use std::str::FromStr;
use std::time::Duration;

/// Which database the store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn of_url(url: &str) -> Option<Backend> {
        if url.starts_with("sqlite:") {
            Some(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Backend::Postgres)
        } else {
            None
        }
    }
}

/// How a SQLite connection waits for the write lock another holds.
///
/// SQLite's own handler (what `busy_timeout` installs) sleeps 1, 2, 5, 10,
/// 15, 20, 25, 25, 25, 50, 50 and then 100 ms between tries. With a few dozen
/// jobs writing at once, the waiters slept through most of the time the lock
/// was free: the worker sat at ~10 % of a core, statements waited over a
/// second, and the pipeline moved ~50 orders/s. This one tries again after
/// 50 µs, doubling to 1 ms, and gives up (`SQLITE_BUSY`) after about 30 s
/// like the `busy_timeout` it replaces. It runs on the connection's own
/// sqlx worker thread, so sleeping there blocks no async task.
extern "C" fn busy_retry(_: *mut std::ffi::c_void, tries: std::ffi::c_int) -> std::ffi::c_int {
    const MAX_TRIES: std::ffi::c_int = 30_000 + 5;
    if tries >= MAX_TRIES {
        return 0;
    }
    let micros = (50u64 << tries.clamp(0, 5)).min(1_000);
    std::thread::sleep(Duration::from_micros(micros));
    1
}

fn set_busy_retry(db: *mut libsqlite3_sys::sqlite3) -> Result<(), sqlx::Error> {
    // SAFETY: `db` is the live connection handle, locked by the caller for the
    // duration of this call; `busy_retry` touches no shared state.
    let rc =
        unsafe { libsqlite3_sys::sqlite3_busy_handler(db, Some(busy_retry), std::ptr::null_mut()) };
    if rc == libsqlite3_sys::SQLITE_OK {
        Ok(())
    } else {
        Err(sqlx::Error::Protocol(format!(
            "sqlite3_busy_handler failed: {rc}"
        )))
    }
}

/// The store's handle; cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    db: DatabaseConnection,
}

impl Store {
    /// Open the database at `url` (`sqlite://path?mode=rwc` or `postgres://…`).
    ///
    /// SQLite gets its PRAGMAs on every pooled connection (WAL, synchronous=NORMAL,
    /// busy_timeout, foreign keys), not only on the first one.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Store, DbErr> {
        let err = |e: sqlx::Error| DbErr::Conn(sea_orm::RuntimeErr::SqlxError(e.into()));
        let db = match Backend::of_url(url) {
            Some(Backend::Sqlite) => {
                use sqlx::sqlite::{
                    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous,
                };
                let opts = SqliteConnectOptions::from_str(url)
                    .map_err(err)?
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .busy_timeout(Duration::from_secs(30))
                    .foreign_keys(true)
                    .pragma("cache_size", "-64000")
                    .pragma("temp_store", "MEMORY");
                let pool = SqlitePoolOptions::new()
                    .max_connections(max_connections.max(1))
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            let mut handle = conn.lock_handle().await?;
                            set_busy_retry(handle.as_raw_handle().as_ptr())
                        })
                    })
                    .connect_with(opts)
                    .await
                    .map_err(err)?;
                SqlxSqliteConnector::from_sqlx_sqlite_pool(pool)
            }
            Some(Backend::Postgres) => {
                let pool = sqlx::postgres::PgPoolOptions::new()
                    .max_connections(max_connections.max(1))
                    .acquire_timeout(Duration::from_secs(30))
                    .connect(url)
                    .await
                    .map_err(err)?;
                SqlxPostgresConnector::from_sqlx_postgres_pool(pool)
            }
            None => {
                return Err(DbErr::Custom(
                    "database url must start with sqlite: or postgres://".into(),
                ))
            }
        };
        Ok(Store { db })
    }

    pub fn from_connection(db: DatabaseConnection) -> Store {
        Store { db }
    }

    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    pub fn backend(&self) -> Backend {
        match self.db.get_database_backend() {
            DbBackend::Sqlite => Backend::Sqlite,
            _ => Backend::Postgres,
        }
    }

    /// A write transaction: IMMEDIATE on SQLite so concurrent writers queue on
    /// `busy_timeout` instead of failing when a read lock would be upgraded.
    pub async fn begin_write(&self) -> Result<DatabaseTransaction, DbErr> {
        let mut opts = TransactionOptions {
            access_mode: None,
            ..Default::default()
        };
        if self.backend() == Backend::Sqlite {
            opts.sqlite_transaction_mode = Some(sea_orm::SqliteTransactionMode::Immediate);
        } else {
            opts.access_mode = Some(AccessMode::ReadWrite);
        }
        self.db.begin_with_options(opts).await
    }

    /// Run a statement of plain SQL (schema tweaks, maintenance).
    pub async fn execute_unprepared(&self, sql: &str) -> Result<(), DbErr> {
        self.db.execute_unprepared(sql).await.map(|_| ())
    }
}

pub(crate) fn now() -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now()
}

pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}
