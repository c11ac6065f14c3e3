//! PushStock: tell one channel the current sellable quantity of every sku
//! whose stock changed (see `orderhub_core::store::stock_sync`).
//!
//! The scheduler, every tick, folds the stock change log into dirty
//! (channel, sku) rows and starts one `PushStock` run per channel with rows
//! dirty for at least `[stock_sync] debounce_secs` (claimed, so ticks do not
//! pile up runs; a run takes only the rows it claimed). The job pushes the level computed now, not the one at the
//! change, so any number of changes within the window is one push; a level
//! the channel already holds is not sent again. Calls go through the
//! connector, so its rate limiter paces them; a retryable failure (timeout,
//! 429, 5xx) leaves the rest dirty and claimed for the shared job backoff,
//! then retried; a permanent one is recorded on the row and logged.

use super::StepError;
use crate::app::App;
use orderhub_connectors::{RemoteError, StockPush, StockPushOutcome};
use orderhub_core::store::stock_sync::{
    OUTCOME_FAILED, OUTCOME_NOT_LISTED, OUTCOME_UNCHANGED, OUTCOME_UPDATED,
};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// The name push runs log under.
pub const PUSH_STOCK_QUEUE: &str = "orderhub.push_stock";

/// How long a channel's due rows stay claimed by an enqueued job before the
/// scheduler may enqueue another (a lost job).
const CLAIM_MS: i64 = 120_000;
/// Rows one run takes; more wait for the next run.
const BATCH: u64 = 500;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PushStock {
    pub channel_id: String,
}

/// One push run for a channel whose due rows the scheduler claimed. It runs
/// on its own task (no job-queue worker of its own, so no extra database
/// connection per process). A retryable failure keeps the rows claimed for
/// the shared job backoff (1 s doubling to 5 min, full jitter, honouring
/// `Retry-After`) and the next claim after it retries; a permanent one is
/// recorded on the row.
pub async fn push_stock(job: PushStock, app: Arc<App>) {
    let attempt = {
        let mut a = ATTEMPTS.lock().unwrap_or_else(|p| p.into_inner());
        let n = a.entry(job.channel_id.clone()).or_insert(0);
        *n += 1;
        *n
    };
    match push_stock_once(&app, &job.channel_id).await {
        Ok(report) => {
            ATTEMPTS
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&job.channel_id);
            if report != PushStockReport::default() {
                tracing::debug!(channel = %job.channel_id, ?report, "stock push run");
            }
        }
        Err(e) => {
            let retry_after = match &e {
                StepError::Retry { retry_after, .. } => *retry_after,
                StepError::Permanent(_) => None,
            };
            let delay = super::JOB_BACKOFF.delay(attempt.saturating_sub(1), retry_after);
            let until = chrono::Utc::now().timestamp_millis() + delay.as_millis() as i64;
            tracing::info!(queue = PUSH_STOCK_QUEUE, channel = %job.channel_id, attempt, delay_ms = delay.as_millis() as u64, error = %e, "stock push failed; will retry");
            if let Err(e) = app.store.hold_stock_channel(&job.channel_id, until).await {
                tracing::warn!(channel = %job.channel_id, error = %e, "could not hold the stock rows for the retry");
            }
        }
    }
}

/// Consecutive failed runs per channel (this process), for the backoff.
static ATTEMPTS: std::sync::LazyLock<std::sync::Mutex<std::collections::HashMap<String, u32>>> =
    std::sync::LazyLock::new(Default::default);

/// What one run did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PushStockReport {
    pub pushed: usize,
    pub unchanged: usize,
    pub not_listed: usize,
    pub failed: usize,
}

pub async fn push_stock_once(app: &App, channel_id: &str) -> Result<PushStockReport, StepError> {
    let mut report = PushStockReport::default();
    let Some(channel) = app.channels.get(channel_id) else {
        return Ok(report); // no longer configured
    };
    let due = chrono::Utc::now().timestamp_millis() - app.settings.stock_sync.debounce_ms();
    let rows = app.store.due_stock_rows(channel_id, due, BATCH).await?;
    for row in rows {
        let available = app
            .store
            .channel_available(&row.seller_id, channel_id, &row.sku)
            .await?;
        if row.last_pushed_available == Some(available) {
            app.store
                .finish_stock_row(
                    channel_id,
                    &row.sku,
                    row.version,
                    Some(available),
                    OUTCOME_UNCHANGED,
                    None,
                )
                .await?;
            report.unchanged += 1;
            continue;
        }
        let push = StockPush {
            sku: row.sku.clone(),
            available,
        };
        match channel.connector.push_stock(&push).await {
            Ok(StockPushOutcome::Updated) => {
                tracing::info!(channel = channel_id, sku = %row.sku, available, "stock level pushed");
                app.store
                    .finish_stock_row(
                        channel_id,
                        &row.sku,
                        row.version,
                        Some(available),
                        OUTCOME_UPDATED,
                        None,
                    )
                    .await?;
                report.pushed += 1;
            }
            Ok(StockPushOutcome::NotListed) => {
                tracing::debug!(channel = channel_id, sku = %row.sku, "sku not listed on the channel; skipped");
                app.store
                    .finish_stock_row(
                        channel_id,
                        &row.sku,
                        row.version,
                        None,
                        OUTCOME_NOT_LISTED,
                        None,
                    )
                    .await?;
                report.not_listed += 1;
            }
            Err(e @ RemoteError::Retryable { .. }) => {
                tracing::info!(channel = channel_id, sku = %row.sku, error = %e, "stock push failed; will retry");
                return Err(e.into());
            }
            Err(e) => {
                tracing::warn!(channel = channel_id, sku = %row.sku, error = %e, "stock push refused");
                app.store
                    .finish_stock_row(
                        channel_id,
                        &row.sku,
                        row.version,
                        None,
                        OUTCOME_FAILED,
                        Some(&e.to_string()),
                    )
                    .await?;
                report.failed += 1;
            }
        }
    }
    Ok(report)
}

/// The scheduler's part, every tick: fold the change log, turn new low-stock
/// alerts into `stock.low` notifications, and enqueue a push for each channel
/// with rows past the debounce.
pub async fn schedule(app: &Arc<App>) -> anyhow::Result<usize> {
    if let Err(e) = app
        .store
        .notify_stock_alerts(&app.settings.notifications.webhooks)
        .await
    {
        tracing::warn!(error = %e, "stock alert notifications failed");
    }
    if !app.settings.stock_sync.enabled {
        return Ok(0);
    }
    let channels: Vec<(String, String)> = app
        .channels
        .iter()
        .map(|(id, c)| (id.clone(), c.settings.seller.clone()))
        .collect();
    app.store.fold_stock_changes(&channels).await?;
    let now = chrono::Utc::now().timestamp_millis();
    let due = now - app.settings.stock_sync.debounce_ms();
    let ids: Vec<String> = app.channels.keys().cloned().collect();
    let claimed = app
        .store
        .claim_due_stock_channels(&ids, due, now + CLAIM_MS)
        .await?;
    for channel_id in &claimed {
        tokio::spawn(push_stock(
            PushStock {
                channel_id: channel_id.clone(),
            },
            app.clone(),
        ));
    }
    Ok(claimed.len())
}
