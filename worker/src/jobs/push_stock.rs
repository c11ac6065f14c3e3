//! PushStock: tell one channel the current sellable quantity of every sku
//! whose stock changed (see `orderhub_core::store::stock_sync`).
//!
//! The scheduler, every tick, folds the stock change log into dirty
//! (channel, sku) rows and enqueues one `PushStock` per channel with rows
//! dirty for at least `[stock_sync] debounce_secs` (claimed, so ticks do not
//! pile up jobs). The job pushes the level computed now, not the one at the
//! change, so any number of changes within the window is one push; a level
//! the channel already holds is not sent again. Calls go through the
//! connector, so its rate limiter paces them; a retryable failure (timeout,
//! 429, 5xx) leaves the rest dirty and retries the job through the shared
//! backoff; a permanent one is recorded on the row and logged.

use super::{finish, StepError};
use crate::app::App;
use apalis::prelude::{Attempt, BoxDynError, Data, TaskId};
use orderhub_connectors::{RemoteError, StockPush, StockPushOutcome};
use orderhub_core::store::stock_sync::{
    OUTCOME_FAILED, OUTCOME_NOT_LISTED, OUTCOME_UNCHANGED, OUTCOME_UPDATED,
};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

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

pub async fn push_stock(
    job: PushStock,
    app: Data<Arc<App>>,
    attempt: Attempt,
    task_id: Option<TaskId>,
) -> Result<(), BoxDynError> {
    // After a failure the rows stay claimed (`CLAIM_MS`) for this job's
    // retries with backoff; a job lost or given up on leaves them to a new
    // claim once that expires.
    let outcome = push_stock_once(&app, &job.channel_id).await.map(|_| ());
    finish(
        &app,
        PUSH_STOCK_QUEUE,
        task_id.as_ref(),
        attempt.current(),
        None,
        outcome,
    )
    .await
}

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
pub async fn schedule(app: &App) -> anyhow::Result<usize> {
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
        app.queue
            .push_stock
            .push(PushStock {
                channel_id: channel_id.clone(),
            })
            .await?;
    }
    Ok(claimed.len())
}
