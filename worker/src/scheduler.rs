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

/// How often the sweeps run, and how long a step may look stalled before
/// its job is enqueued again.
const SWEEP_EVERY: Duration = Duration::from_secs(5);
const SWEEP_GRACE_SECS: i64 = 30;

pub async fn run(app: Arc<App>) {
    let tick = Duration::from_millis(app.settings.worker.tick_ms.max(50));
    let mut last_sweep = std::time::Instant::now();
    tokio::spawn(crate::outbound::run(app.clone()));
    tokio::spawn(crate::email::run(app.clone()));
    loop {
        if let Err(e) = tick_once(&app).await {
            tracing::warn!(error = %e, "scheduler tick failed");
        }
        crate::server::stock::sweep_alerts(&app).await;
        if let Err(e) = crate::jobs::schedule_stock_sync(&app).await {
            tracing::warn!(error = %e, "stock sync tick failed");
        }
        if last_sweep.elapsed() >= SWEEP_EVERY {
            last_sweep = std::time::Instant::now();
            sweep(&app).await;
        }
        tokio::time::sleep(tick).await;
    }
}

/// Finish what a crash between a commit and the next enqueue left behind.
/// Every job is idempotent, so a step enqueued twice does nothing twice.
pub async fn sweep(app: &App) {
    let grace = chrono::Duration::seconds(SWEEP_GRACE_SECS);
    match crate::server::webhooks::sweep_unapplied(app, grace).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(
            applied = n,
            "applied channel webhooks left over from a crash"
        ),
        Err(e) => tracing::warn!(error = %e, "webhook sweep failed"),
    }
    match crate::server::webhooks::sweep_carrier_events(app, grace).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(enqueued = n, "re-enqueued carrier events not applied"),
        Err(e) => tracing::warn!(error = %e, "carrier event sweep failed"),
    }
    if let Err(e) = sweep_shipments(app, grace).await {
        tracing::warn!(error = %e, "shipment sweep failed");
    }
    if let Err(e) = sweep_awaiting_orders(app, grace).await {
        tracing::warn!(error = %e, "routing sweep failed");
    }
    if let Err(e) = sweep_voids(app, grace).await {
        tracing::warn!(error = %e, "void sweep failed");
    }
    crate::server::stock::sweep_cancelled_unbought(app).await;
    crate::server::tracking_page::sweep_delivery_problems(app).await;
}

async fn sweep_awaiting_orders(app: &App, grace: chrono::Duration) -> anyhow::Result<()> {
    let ids = app
        .store
        .stalled_awaiting_orders(chrono::Utc::now() - grace, 200)
        .await?;
    for order_id in &ids {
        app.queue
            .route
            .push(crate::jobs::RouteOrder {
                order_id: *order_id,
            })
            .await?;
    }
    if !ids.is_empty() {
        tracing::info!(count = ids.len(), "re-enqueued orders awaiting routing");
    }
    Ok(())
}

/// Labels to void: bought for orders cancelled since, not picked up yet;
/// and voids left unfinished by a crash.
async fn sweep_voids(app: &App, grace: chrono::Duration) -> anyhow::Result<()> {
    let mut ids = Vec::new();
    for id in app.store.labels_to_void_for_cancelled_orders(100).await? {
        if app.store.begin_void(id).await?.is_ok() {
            tracing::info!(
                shipment_id = id,
                "order cancelled before pickup; voiding its label"
            );
            ids.push(id);
        }
    }
    ids.extend(
        app.store
            .stalled_voids(chrono::Utc::now() - grace, 100)
            .await?,
    );
    for shipment_id in ids {
        app.queue
            .void_label
            .push(crate::jobs::VoidLabel { shipment_id })
            .await?;
    }
    Ok(())
}

async fn sweep_shipments(app: &App, grace: chrono::Duration) -> anyhow::Result<()> {
    use orderhub_core::store::{SHIPMENT_CREATED, SHIPMENT_LABEL_BOUGHT};
    let stalled = app
        .store
        .stalled_shipments(chrono::Utc::now() - grace, 200)
        .await?;
    for s in &stalled {
        if s.status == SHIPMENT_CREATED && !app.settings.shipping.auto_buy_labels {
            continue; // waits for a label batch
        }
        if s.status == SHIPMENT_LABEL_BOUGHT {
            app.queue
                .push_tracking
                .push(crate::jobs::PushTracking { shipment_id: s.id })
                .await?;
        } else {
            app.queue
                .buy_label
                .push(crate::jobs::BuyLabel { shipment_id: s.id })
                .await?;
        }
    }
    if !stalled.is_empty() {
        tracing::info!(count = stalled.len(), "re-enqueued stalled shipments");
    }
    Ok(())
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
