//! Decides when each channel is due a poll and enqueues `PollChannel`.
//!
//! Several `orderhub run` processes may tick at once: a process enqueues only
//! if its guarded update of `next_poll_at_ms` wins, and the job's lease keeps
//! polls of one channel from overlapping anyway.

use crate::app::App;
use crate::jobs::PollChannel;
use orderhub_core::store::channel;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use std::sync::Arc;
use std::time::Duration;

pub async fn run(app: Arc<App>) {
    let tick = Duration::from_millis(app.settings.worker.tick_ms.max(50));
    loop {
        if let Err(e) = tick_once(&app).await {
            tracing::warn!(error = %e, "scheduler tick failed");
        }
        // Deliveries acknowledged but not applied (a crash in between).
        match crate::server::webhooks::sweep_unapplied(&app, chrono::Duration::seconds(30)).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(applied = n, "applied webhooks left over from a crash"),
            Err(e) => tracing::warn!(error = %e, "webhook sweep failed"),
        }
        tokio::time::sleep(tick).await;
    }
}

pub async fn tick_once(app: &App) -> anyhow::Result<usize> {
    let now_ms = chrono::Utc::now().timestamp_millis();
    let ttl_ms = (app.settings.worker.lease_ttl_secs * 1000) as i64;
    let mut pushed = 0;
    for id in app.channels.keys() {
        let Some(row) = app.store.channel(id).await? else {
            continue;
        };
        if row.next_poll_at_ms > now_ms {
            continue;
        }
        // Claim this slot; if the job is lost, the channel is due again after the lease TTL.
        let claimed = channel::Entity::update_many()
            .col_expr(channel::Column::NextPollAtMs, Expr::value(now_ms + ttl_ms))
            .filter(channel::Column::Id.eq(id.as_str()))
            .filter(channel::Column::NextPollAtMs.eq(row.next_poll_at_ms))
            .exec(app.store.db())
            .await?;
        if claimed.rows_affected == 1 {
            app.queue
                .push_poll(PollChannel {
                    channel_id: id.clone(),
                })
                .await?;
            pushed += 1;
        }
    }
    Ok(pushed)
}
