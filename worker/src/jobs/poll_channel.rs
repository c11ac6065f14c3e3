//! PollChannel: fetch the channel's orders changed since its cursor (minus an
//! overlap window) page by page; each page is stored and the cursor moved in
//! one transaction (invariant 2). One worker polls a channel at a time: the
//! lease in the `channels` row.

use crate::app::App;
use apalis::prelude::{BoxDynError, Data};
use chrono::Utc;
use orderhub_connectors::RemoteError;
use orderhub_core::store::PollFailure;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PollChannel {
    pub channel_id: String,
}

#[derive(Debug, Default, Clone, Copy, Serialize)]
pub struct PollReport {
    pub pages: u64,
    pub inserted: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub quarantined: u64,
    /// False when another worker held the lease and this run did nothing.
    pub leased: bool,
}

/// The apalis handler. A failed poll is recorded on the channel and
/// rescheduled with backoff by [`poll_once`]; the job itself then succeeds,
/// because the scheduler, not the queue, owns a channel's next poll.
pub async fn poll_channel(job: PollChannel, app: Data<Arc<App>>) -> Result<(), BoxDynError> {
    match poll_once(&app, &job.channel_id).await {
        Ok(report) => {
            tracing::info!(channel = %job.channel_id, pages = report.pages, inserted = report.inserted,
                updated = report.updated, quarantined = report.quarantined, "poll finished");
            Ok(())
        }
        Err(e) => {
            tracing::warn!(channel = %job.channel_id, error = %e, "poll failed");
            Ok(())
        }
    }
}

/// One poll of one channel, start to end.
pub async fn poll_once(app: &App, channel_id: &str) -> anyhow::Result<PollReport> {
    let Some(channel) = app.channels.get(channel_id) else {
        anyhow::bail!("channel `{channel_id}` is not configured");
    };
    let store = &app.store;
    let ttl_ms = (app.settings.worker.lease_ttl_secs * 1000) as i64;
    let mut report = PollReport::default();
    if !store
        .acquire_lease(channel_id, &app.instance, ttl_ms)
        .await?
    {
        return Ok(report);
    }
    report.leased = true;
    let result = fetch_and_store(app, channel, &mut report).await;
    // The configured interval, but never faster than the channel's quota allows.
    let interval_ms = ((channel.settings.poll_interval_secs * 1000) as i64)
        .max(channel.connector.min_poll_interval().as_millis() as i64);
    let now_ms = Utc::now().timestamp_millis();
    match &result {
        Ok(()) => {
            store
                .finish_poll(channel_id, &app.instance, None, now_ms + interval_ms)
                .await?
        }
        Err(e) => {
            let failure = if e
                .downcast_ref::<RemoteError>()
                .is_some_and(RemoteError::is_auth_failure)
            {
                PollFailure::Auth
            } else {
                PollFailure::Other
            };
            // Back off on consecutive failures, up to ten intervals; refused
            // credentials will not fix themselves, so straight to ten.
            let errors = store
                .channel(channel_id)
                .await?
                .map_or(0, |c| c.error_count);
            let backoff = match failure {
                PollFailure::Auth => interval_ms * 10,
                PollFailure::Other => interval_ms
                    .saturating_mul(1 << errors.clamp(0, 3))
                    .min(interval_ms * 10),
            };
            if failure == PollFailure::Auth {
                tracing::error!(channel = %channel_id, error = %e, "the channel refused its credentials: auth_failed");
            }
            store
                .finish_poll(
                    channel_id,
                    &app.instance,
                    Some((failure, &format!("{e:#}"))),
                    now_ms + backoff,
                )
                .await?
        }
    }
    result.map(|()| report)
}

async fn fetch_and_store(
    app: &App,
    channel: &crate::app::Channel,
    report: &mut PollReport,
) -> anyhow::Result<()> {
    let c = &channel.settings;
    let store = &app.store;
    let overlap = chrono::Duration::seconds(app.settings.worker.overlap_secs as i64);
    let since = store
        .watermark(&c.id)
        .await?
        .map(|w| w - overlap)
        .unwrap_or(chrono::DateTime::<Utc>::UNIX_EPOCH);
    let ttl_ms = (app.settings.worker.lease_ttl_secs * 1000) as i64;
    let mut page_token = None;
    // Pages oldest first: the cursor moves with each page. Otherwise it moves
    // once the last page is stored, so a failure half-way re-reads the window.
    let per_page = channel.connector.pages_oldest_first();
    let mut newest: Option<i64> = None;
    loop {
        let page = channel
            .connector
            .fetch_orders(since, page_token.take())
            .await?;
        let out = store
            .store_page_with(&c.seller, &c.id, &page.orders, per_page)
            .await?;
        newest = newest.max(out.newest_ms);
        report.pages += 1;
        report.inserted += out.inserted;
        report.updated += out.updated;
        report.unchanged += out.unchanged;
        report.quarantined += out.quarantined;
        // After the page committed. A crash right here leaves these orders
        // awaiting; the scheduler's sweep enqueues them after 30 s.
        app.queue
            .route
            .push_many(
                out.inserted_ids
                    .iter()
                    .map(|&order_id| super::RouteOrder { order_id })
                    .collect(),
            )
            .await?;
        // Renew the lease; if we lost it, another worker carries on.
        if !store.acquire_lease(&c.id, &app.instance, ttl_ms).await? {
            anyhow::bail!("lost the lease on channel `{}`", c.id);
        }
        match page.next_page {
            Some(next) => page_token = Some(next),
            None => {
                if let (false, Some(to)) = (per_page, newest) {
                    store.advance_cursor(&c.id, to).await?;
                }
                return Ok(());
            }
        }
    }
}
