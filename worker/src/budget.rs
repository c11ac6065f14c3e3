//! A remote API's published request limit shared by every `orderhub run`
//! process on one PostgreSQL database.
//!
//! Each process's governor limiter knows only its own requests, so four
//! processes could send four times the published limit. On PostgreSQL every
//! rate-limited client (channels and carrier accounts declaring a
//! [`RateLimit`]) takes each request's token from one bucket row per client in
//! `channel_budget`, with one atomic statement:
//!
//! ```text
//! tokens ← min(burst, tokens + (now − refilled_at) · rate) − 1,  refilled_at ← now
//! ```
//!
//! run under the row's lock (an `INSERT … ON CONFLICT DO UPDATE … RETURNING`,
//! which also creates the row on first use), with `now` the database's clock.
//! When the answer is negative the request waits `−tokens / rate` before it is
//! sent: its slot is the moment the bucket would hold its token. This is the
//! token bucket (virtual scheduling, GCRA) over the requests of all processes
//! together, so the requests sent in any interval of length `d` are at most
//! `burst + rate · d`, however many processes there are, whenever they start
//! or die: a token is issued once, by the database, and a process that dies
//! with slots reserved only wastes them. The waits are durations on the
//! database's clock, so the processes' clocks need not agree.
//!
//! Why not divide the limit by the number of live processes (heartbeat rows)?
//! A process that starts sends at the full rate until it has seen the others'
//! heartbeats, and one that died keeps its share until its heartbeat expires:
//! the sum is within the limit only eventually, not always. The bucket costs
//! one indexed UPDATE per request (about a millisecond locally; the published
//! limits here are at most tens of requests a second) and no batching: a
//! process holding a batch of tokens could spend them later in a burst the
//! bucket never allowed.
//!
//! SQLite is one process: the local limiter stays.

use orderhub_connectors::http::{RateLimit, SharedBudget};
use orderhub_core::store::{Backend, Store};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// The shared budget for `store`'s database, `None` on SQLite.
/// `ORDERHUB_SHARED_BUDGET=off` turns it off (each process paces alone, up to
/// N × the limit): only for measuring what it prevents.
pub fn for_store(store: &Store) -> Option<Arc<dyn SharedBudget>> {
    if std::env::var("ORDERHUB_SHARED_BUDGET").is_ok_and(|v| v == "off") {
        tracing::warn!("ORDERHUB_SHARED_BUDGET=off: each process paces its requests alone");
        return None;
    }
    match store.backend() {
        Backend::Postgres => Some(Arc::new(PgBudget {
            pool: store.db().get_postgres_connection_pool().clone(),
        })),
        Backend::Sqlite => None,
    }
}

/// The token bucket rows on PostgreSQL.
pub struct PgBudget {
    pool: sea_orm::sqlx::PgPool,
}

const TAKE: &str = r#"
INSERT INTO channel_budget AS b (client, tokens, refilled_at_us, per_second, burst)
VALUES ($1, $2 - 1, CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000000 AS BIGINT), $3, CAST($2 AS INTEGER))
ON CONFLICT (client) DO UPDATE SET
    tokens = LEAST($2, b.tokens + (EXCLUDED.refilled_at_us - b.refilled_at_us) / 1000000.0 * $3) - 1,
    refilled_at_us = GREATEST(b.refilled_at_us, EXCLUDED.refilled_at_us),
    per_second = $3,
    burst = CAST($2 AS INTEGER)
RETURNING tokens
"#;

impl PgBudget {
    /// Take one token from `client`'s bucket; the wait before its slot.
    pub async fn take_token(&self, client: &str, rate: RateLimit) -> Result<Duration, String> {
        let per_second = rate.per_second.max(0.001);
        let burst = f64::from(rate.burst.max(1));
        let tokens: f64 = sea_orm::sqlx::query_scalar(TAKE)
            .bind(client)
            .bind(burst)
            .bind(per_second)
            .fetch_one(&self.pool)
            .await
            .map_err(|e| format!("taking a request token: {e}"))?;
        Ok(wait_for(tokens, per_second))
    }
}

/// How long a request that left `tokens` in the bucket waits for its slot.
fn wait_for(tokens: f64, per_second: f64) -> Duration {
    if tokens >= 0.0 || !tokens.is_finite() {
        Duration::ZERO
    } else {
        Duration::from_secs_f64((-tokens / per_second).min(3600.0))
    }
}

impl SharedBudget for PgBudget {
    fn take<'a>(
        &'a self,
        client: &'a str,
        rate: RateLimit,
    ) -> Pin<Box<dyn Future<Output = Result<Duration, String>> + Send + 'a>> {
        Box::pin(self.take_token(client, rate))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_waits_for_the_slot_its_token_falls_in() {
        assert_eq!(wait_for(3.0, 10.0), Duration::ZERO);
        assert_eq!(wait_for(0.0, 10.0), Duration::ZERO);
        assert_eq!(wait_for(-5.0, 10.0), Duration::from_millis(500));
        assert_eq!(wait_for(f64::NAN, 10.0), Duration::ZERO);
    }
}
