//! apalis jobs. Arguments are ids only; each job reads current state, does
//! one step and writes with guarded updates, so running it twice is harmless.
//!
//! Retries (shared by the fulfillment jobs): a step fails either retryably
//! (a timeout, 429, 5xx, a store hiccup) or permanently (the remote refused).
//! A retryable failure returns an error so apalis records the attempt, after
//! pushing the job's `run_at` out by an exponential backoff with full jitter
//! (honouring `Retry-After`), so no worker slot sleeps through it; after
//! `worker.max_attempts` the job stays `Failed`, listed for ops to retry. A
//! permanent failure aborts the job (apalis marks it `Killed` and keeps the
//! error as its last result) after the job wrote the reason to the store.

mod apply_tracking_event;
mod buy_label;
mod buy_return_label;
mod poll_channel;
mod push_stock;
mod push_tracking;
mod rate_shop;
mod route_order;
mod void_label;

pub use apply_tracking_event::{apply_tracking_event, ApplyTrackingEvent};
pub use buy_label::{buy_label, buy_label_once, parcels_for, parcels_grams, BuyLabel};
pub use buy_return_label::{
    buy_return_label, buy_return_label_once, BuyReturnLabel, BUY_RETURN_LABEL_QUEUE,
};
pub use poll_channel::{poll_channel, poll_once, PollChannel, PollReport};
pub use push_stock::{
    push_stock, push_stock_once, schedule as schedule_stock_sync, PushStock, PushStockReport,
    PUSH_STOCK_QUEUE,
};
pub use push_tracking::{push_tracking, push_tracking_once, PushTracking};
pub use route_order::{route_order, RouteOrder};
pub use void_label::{void_label, void_once, VoidLabel};

use crate::app::App;
use apalis::prelude::{AbortError, BoxDynError};
use orderhub_connectors::http::RetryPolicy;
use orderhub_connectors::RemoteError;
use std::time::Duration;

/// Why a job step did not finish.
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    #[error("{message}")]
    Retry {
        message: String,
        retry_after: Option<Duration>,
    },
    #[error("{0}")]
    Permanent(String),
}

impl From<sea_orm::DbErr> for StepError {
    fn from(e: sea_orm::DbErr) -> Self {
        StepError::Retry {
            message: format!("store: {e}"),
            retry_after: None,
        }
    }
}

impl From<anyhow::Error> for StepError {
    fn from(e: anyhow::Error) -> Self {
        StepError::Retry {
            message: format!("{e:#}"),
            retry_after: None,
        }
    }
}

impl From<RemoteError> for StepError {
    fn from(e: RemoteError) -> Self {
        match e {
            RemoteError::Retryable { retry_after, .. } => StepError::Retry {
                message: e.to_string(),
                retry_after,
            },
            RemoteError::Permanent { .. } => StepError::Permanent(e.to_string()),
        }
    }
}

/// The backoff between job attempts: 1 s doubling to 5 min, full jitter.
pub(crate) const JOB_BACKOFF: RetryPolicy = RetryPolicy {
    max_attempts: u32::MAX,
    base: Duration::from_secs(1),
    max: Duration::from_secs(300),
};

/// Turn a step's outcome into what apalis should record (see the module doc).
/// `shipment_id`: the shipment the job works on; when its last attempt
/// fails, the shipment notes why, which keeps the sweep from re-enqueueing
/// what ops are meant to see and retry.
async fn finish(
    app: &App,
    queue: &str,
    task_id: Option<&apalis::prelude::TaskId>,
    attempt: usize,
    shipment_id: Option<i64>,
    outcome: Result<(), StepError>,
) -> Result<(), BoxDynError> {
    match outcome {
        Ok(()) => Ok(()),
        Err(StepError::Retry {
            message,
            retry_after,
        }) => {
            if attempt >= app.settings.worker.max_attempts {
                tracing::warn!(queue, attempt, error = %message, "job gave up; left failed for ops");
                if let Some(id) = shipment_id {
                    let note = format!("{queue} gave up after {attempt} attempts: {message}");
                    app.store.note_shipment_problem(id, Some(&note)).await?;
                }
                return Err(message.into());
            }
            let delay = JOB_BACKOFF.delay(attempt.saturating_sub(1) as u32, retry_after);
            if let Some(id) = task_id {
                if let Err(e) = crate::jobs_api::delay(&app.store, &id.to_string(), delay).await {
                    tracing::warn!(queue, error = %e, "could not delay the retry");
                }
            }
            tracing::info!(queue, attempt, delay_ms = delay.as_millis() as u64, error = %message, "job step failed; will retry");
            Err(message.into())
        }
        Err(StepError::Permanent(message)) => {
            tracing::warn!(queue, attempt, error = %message, "job step failed permanently");
            Err(AbortError::new(message).into())
        }
    }
}
