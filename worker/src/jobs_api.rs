//! Ops view of the apalis queue: list, show, retry and cancel jobs, on the
//! queue's own tables (`Jobs` on SQLite, `apalis.jobs` on PostgreSQL).
//!
//! apalis has no dead-letter view of its own: a job whose attempts are spent
//! stays `Failed` (or `Killed` when cancelled) and is listed here until ops
//! retry it, which resets its attempts and makes it due now.

use orderhub_core::store::{Backend, Store};
use sea_orm::{ConnectionTrait, DbErr, Statement, Value};
use serde::Serialize;

/// The statuses apalis writes.
pub const STATUSES: [&str; 6] = ["Pending", "Queued", "Running", "Done", "Failed", "Killed"];

#[derive(Debug, Clone, Serialize)]
pub struct JobRow {
    pub id: String,
    pub queue: String,
    pub status: String,
    pub attempts: i64,
    pub max_attempts: i64,
    /// Unix seconds.
    pub run_at: i64,
    pub done_at: Option<i64>,
    pub lock_by: Option<String>,
    /// The last result apalis recorded (the error of a failed attempt).
    pub last_result: Option<String>,
    pub args: serde_json::Value,
}

#[derive(Debug, Default, Clone)]
pub struct JobFilter {
    pub queue: Option<String>,
    pub status: Option<String>,
    pub channel: Option<String>,
    /// Only jobs about this seller's channels, orders and shipments
    /// (invariant 8). Jobs about a carrier's webhook delivery belong to no
    /// one seller and are listed for the ops token only.
    pub seller: Option<String>,
    pub limit: u64,
}

struct Dialect {
    backend: Backend,
}

impl Dialect {
    fn table(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite => "Jobs",
            Backend::Postgres => "apalis.jobs",
        }
    }
    /// The n-th parameter (numbered on both, so one may appear twice).
    fn p(&self, n: usize) -> String {
        match self.backend {
            Backend::Sqlite => format!("?{n}"),
            Backend::Postgres => format!("${n}"),
        }
    }
    fn epoch(&self, col: &str) -> String {
        match self.backend {
            Backend::Sqlite => format!("CAST({col} AS BIGINT)"),
            Backend::Postgres => format!("CAST(EXTRACT(EPOCH FROM {col}) AS BIGINT)"),
        }
    }
    fn args_text(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite => "CAST(job AS TEXT)",
            Backend::Postgres => "convert_from(job, 'UTF8')",
        }
    }
    /// One id (an integer) out of the job's JSON arguments.
    fn arg_id(&self, key: &str) -> String {
        match self.backend {
            Backend::Sqlite => format!("json_extract({}, '$.{key}')", self.args_text()),
            Backend::Postgres => format!("({}::jsonb ->> '{key}')", self.args_text()),
        }
    }
    /// A condition true for the jobs about seller `p`'s channels, orders and
    /// shipments. Every job's arguments name one of these ids.
    fn seller_condition(&self, p: &str) -> String {
        let (order_id, shipment_id, channel_id) = (
            self.arg_id("order_id"),
            self.arg_id("shipment_id"),
            self.arg_id("channel_id"),
        );
        let as_id = |e: &str| match self.backend {
            Backend::Sqlite => e.to_string(),
            Backend::Postgres => format!("CAST({e} AS BIGINT)"),
        };
        format!(
            "({o} IN (SELECT id FROM orders WHERE seller_id = {p}) \
             OR {s} IN (SELECT sh.id FROM shipments sh JOIN orders so ON so.id = sh.order_id WHERE so.seller_id = {p}) \
             OR {channel_id} IN (SELECT id FROM channels WHERE seller_id = {p}))",
            o = as_id(&order_id),
            s = as_id(&shipment_id),
        )
    }
    fn now(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite => "strftime('%s', 'now')",
            Backend::Postgres => "now()",
        }
    }
    fn select(&self) -> String {
        format!(
            "SELECT id, job_type, status, CAST(attempts AS BIGINT) AS attempts, CAST(max_attempts AS BIGINT) AS max_attempts, \
             {} AS run_at, {} AS done_at, lock_by, CAST(last_result AS TEXT) AS last_result, {} AS args FROM {}",
            self.epoch("run_at"),
            self.epoch("done_at"),
            self.args_text(),
            self.table()
        )
    }
}

fn dialect(store: &Store) -> Dialect {
    Dialect {
        backend: store.backend(),
    }
}

fn stmt(store: &Store, sql: String, values: Vec<Value>) -> Statement {
    Statement::from_sql_and_values(store.db().get_database_backend(), sql, values)
}

fn row(r: sea_orm::QueryResult) -> Result<JobRow, DbErr> {
    let args: Option<String> = r.try_get("", "args")?;
    Ok(JobRow {
        id: r.try_get("", "id")?,
        queue: r.try_get("", "job_type")?,
        status: r.try_get("", "status")?,
        attempts: r.try_get("", "attempts")?,
        max_attempts: r.try_get("", "max_attempts")?,
        run_at: r.try_get("", "run_at")?,
        done_at: r.try_get("", "done_at")?,
        lock_by: r.try_get("", "lock_by")?,
        last_result: r.try_get("", "last_result")?,
        args: args
            .and_then(|a| serde_json::from_str(&a).ok())
            .unwrap_or(serde_json::Value::Null),
    })
}

pub async fn list(store: &Store, f: &JobFilter) -> Result<Vec<JobRow>, DbErr> {
    let d = dialect(store);
    let mut sql = format!("{} WHERE 1=1", d.select());
    let mut values: Vec<Value> = Vec::new();
    if let Some(q) = &f.queue {
        values.push(q.clone().into());
        sql += &format!(" AND job_type = {}", d.p(values.len()));
    }
    if let Some(s) = &f.status {
        values.push(s.clone().into());
        sql += &format!(" AND status = {}", d.p(values.len()));
    }
    if let Some(c) = &f.channel {
        // PollChannel's arguments are `{"channel_id": "..."}`.
        values.push(format!("%\"channel_id\":{}%", serde_json::Value::String(c.clone())).into());
        sql += &format!(" AND {} LIKE {}", d.args_text(), d.p(values.len()));
    }
    if let Some(seller) = &f.seller {
        values.push(seller.clone().into());
        sql += &format!(" AND {}", d.seller_condition(&d.p(values.len())));
    }
    sql += &format!(
        " ORDER BY run_at DESC, id DESC LIMIT {}",
        f.limit.clamp(1, 1000)
    );
    let rows = store.db().query_all_raw(stmt(store, sql, values)).await?;
    rows.into_iter().map(row).collect()
}

pub async fn get(store: &Store, id: &str) -> Result<Option<JobRow>, DbErr> {
    get_scoped(store, id, None).await
}

/// The job, if it exists and (given a seller) is about that seller's data.
pub async fn get_scoped(
    store: &Store,
    id: &str,
    seller: Option<&str>,
) -> Result<Option<JobRow>, DbErr> {
    let d = dialect(store);
    let mut sql = format!("{} WHERE id = {}", d.select(), d.p(1));
    let mut values: Vec<Value> = vec![id.into()];
    if let Some(seller) = seller {
        values.push(seller.into());
        sql += &format!(" AND {}", d.seller_condition(&d.p(2)));
    }
    match store.db().query_one_raw(stmt(store, sql, values)).await? {
        Some(r) => row(r).map(Some),
        None => Ok(None),
    }
}

/// Make a failed or cancelled job due now with fresh attempts. `false` if the
/// job is not in a state that can be retried.
pub async fn retry(store: &Store, id: &str) -> Result<bool, DbErr> {
    let d = dialect(store);
    let sql = format!(
        "UPDATE {} SET status = 'Pending', attempts = 0, lock_by = NULL, lock_at = NULL, done_at = NULL, run_at = {} \
         WHERE id = {} AND status IN ('Failed', 'Killed')",
        d.table(),
        d.now(),
        d.p(1)
    );
    let res = store
        .db()
        .execute_raw(stmt(store, sql, vec![id.into()]))
        .await?;
    Ok(res.rows_affected() == 1)
}

/// Cancel a job that is not running: it stays listed as `Killed`.
pub async fn cancel(store: &Store, id: &str) -> Result<bool, DbErr> {
    let d = dialect(store);
    let sql = format!(
        "UPDATE {} SET status = 'Killed', done_at = {} WHERE id = {} AND status IN ('Pending', 'Failed')",
        d.table(),
        d.now(),
        d.p(1)
    );
    let res = store
        .db()
        .execute_raw(stmt(store, sql, vec![id.into()]))
        .await?;
    Ok(res.rows_affected() == 1)
}

/// Push a job's next run out by `delay` (a backoff between attempts: apalis
/// picks a failed job up again as soon as its `run_at` has passed).
pub async fn delay(store: &Store, id: &str, delay: std::time::Duration) -> Result<(), DbErr> {
    let d = dialect(store);
    let secs = delay.as_secs_f64().ceil() as i64;
    let until = match d.backend {
        Backend::Sqlite => format!("CAST(strftime('%s', 'now') AS INTEGER) + {}", d.p(1)),
        Backend::Postgres => format!(
            "now() + make_interval(secs => CAST({} AS DOUBLE PRECISION))",
            d.p(1)
        ),
    };
    let sql = format!(
        "UPDATE {} SET run_at = {until} WHERE id = {}",
        d.table(),
        d.p(2)
    );
    store
        .db()
        .execute_raw(stmt(store, sql, vec![secs.into(), id.into()]))
        .await?;
    Ok(())
}

/// Jobs by queue and status (for `/metrics`).
pub async fn count_by_queue_and_status(store: &Store) -> Result<Vec<(String, String, i64)>, DbErr> {
    let d = dialect(store);
    let sql = format!(
        "SELECT job_type, status, CAST(COUNT(*) AS BIGINT) AS n FROM {} GROUP BY job_type, status",
        d.table()
    );
    let rows = store.db().query_all_raw(stmt(store, sql, vec![])).await?;
    rows.into_iter()
        .map(|r| {
            Ok((
                r.try_get("", "job_type")?,
                r.try_get("", "status")?,
                r.try_get("", "n")?,
            ))
        })
        .collect()
}

/// Latency (seconds from `run_at` to `done_at`) of the jobs of one queue done
/// in a recent window, as a histogram: `le[i]` counts the jobs with latency
/// at most `bounds[i]` (cumulative).
#[derive(Debug, Clone, PartialEq)]
pub struct LatencyHistogram {
    pub queue: String,
    pub count: u64,
    pub sum_seconds: f64,
    pub le: Vec<u64>,
}

/// [`LatencyHistogram`]s per queue of the jobs `Done` within the last
/// `window`, bucketed by `bounds` (ascending seconds), computed in the
/// database (one grouped query, no rows fetched).
pub async fn done_latency(
    store: &Store,
    window: std::time::Duration,
    bounds: &[f64],
) -> Result<Vec<LatencyHistogram>, DbErr> {
    let d = dialect(store);
    let (latency, since) = match d.backend {
        Backend::Sqlite => (
            "CAST(done_at - run_at AS REAL)".to_string(),
            format!("CAST(strftime('%s', 'now') AS INTEGER) - {}", d.p(1)),
        ),
        Backend::Postgres => (
            "CAST(EXTRACT(EPOCH FROM (done_at - run_at)) AS DOUBLE PRECISION)".to_string(),
            format!(
                "now() - make_interval(secs => CAST({} AS DOUBLE PRECISION))",
                d.p(1)
            ),
        ),
    };
    let mut cols = String::new();
    for (i, b) in bounds.iter().enumerate() {
        // Bounds are our own constants, written as SQL literals.
        cols += &format!(
            ", CAST(SUM(CASE WHEN {latency} <= {b:?} THEN 1 ELSE 0 END) AS BIGINT) AS le{i}"
        );
    }
    let sql = format!(
        "SELECT job_type, CAST(COUNT(*) AS BIGINT) AS n, \
         CAST(SUM(CASE WHEN {latency} > 0 THEN {latency} ELSE 0 END) AS DOUBLE PRECISION) AS total{cols} \
         FROM {} WHERE status = 'Done' AND done_at IS NOT NULL AND done_at >= {since} GROUP BY job_type",
        d.table()
    );
    let secs = window.as_secs() as i64;
    let rows = store
        .db()
        .query_all_raw(stmt(store, sql, vec![secs.into()]))
        .await?;
    rows.into_iter()
        .map(|r| {
            let n: i64 = r.try_get("", "n")?;
            let total: Option<f64> = r.try_get("", "total")?;
            let le = (0..bounds.len())
                .map(|i| {
                    r.try_get::<Option<i64>>("", &format!("le{i}"))
                        .map(|v| v.unwrap_or(0).max(0) as u64)
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok(LatencyHistogram {
                queue: r.try_get("", "job_type")?,
                count: n.max(0) as u64,
                sum_seconds: total.unwrap_or(0.0),
                le,
            })
        })
        .collect()
}
