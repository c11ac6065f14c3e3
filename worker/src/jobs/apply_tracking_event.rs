//! ApplyTrackingEvent: a stored carrier webhook (the inbox row) becomes
//! tracking events on its shipment, a forward-only status change, and the
//! order's shipped/delivered status; the channel is then told by PushTracking.

use super::{finish, StepError};
use crate::app::App;
use apalis::prelude::{Attempt, BoxDynError, Data, TaskId};
use orderhub_core::store::{needs_channel_push, TrackingOutcome};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ApplyTrackingEvent {
    /// The webhook inbox row.
    pub inbox_id: i64,
}

pub async fn apply_tracking_event(
    job: ApplyTrackingEvent,
    app: Data<Arc<App>>,
    attempt: Attempt,
    task_id: Option<TaskId>,
) -> Result<(), BoxDynError> {
    let outcome = apply_once(&app, job.inbox_id).await;
    finish(
        &app,
        crate::queue::TRACKING_EVENT_QUEUE,
        task_id.as_ref(),
        attempt.current(),
        None,
        outcome,
    )
    .await
}

/// How long an event for a shipment we do not know is retried.
const UNKNOWN_SHIPMENT_PATIENCE: chrono::Duration = chrono::Duration::minutes(10);

pub async fn apply_once(app: &App, inbox_id: i64) -> Result<(), StepError> {
    let Some(row) = app.store.webhook(inbox_id).await? else {
        return Err(StepError::Permanent(format!("no inbox row {inbox_id}")));
    };
    if row.processed_at.is_some() {
        return Ok(()); // applied by an earlier run
    }
    let Some(carrier) = app.carriers.get(&row.source_id) else {
        app.store
            .mark_webhook_processed(inbox_id, Some("carrier account not configured"))
            .await?;
        return Ok(());
    };
    let update = match carrier.connector.tracking_update(row.body.as_bytes()) {
        Ok(Some(u)) => u,
        Ok(None) => {
            app.store.mark_webhook_processed(inbox_id, None).await?;
            return Ok(());
        }
        Err(reason) => {
            // Signed by the carrier but unreadable: kept in the inbox with
            // the reason, for ops; retrying cannot help.
            tracing::warn!(inbox_id, carrier = %row.source_id, reason = %reason, "malformed tracking event");
            app.store
                .mark_webhook_processed(inbox_id, Some(&format!("malformed: {reason}")))
                .await?;
            return Ok(());
        }
    };
    match app.store.apply_tracking(&row.source_id, &update).await? {
        TrackingOutcome::UnknownShipment => {
            // A return label's tracking (issue 9): the return moves along.
            if let orderhub_core::store::returns::ReturnTrackingOutcome::Applied {
                return_id,
                moved_to,
            } = app
                .store
                .apply_return_tracking(&row.source_id, &update)
                .await?
            {
                tracing::info!(inbox_id, return_id, moved_to = ?moved_to, "return tracking event applied");
                app.store.mark_webhook_processed(inbox_id, None).await?;
                return Ok(());
            }
            // The event may have overtaken the purchase it belongs to (the
            // buy's answer was lost and is being reconciled): try again for
            // a while before deciding it is not ours.
            if chrono::Utc::now() - row.received_at < UNKNOWN_SHIPMENT_PATIENCE {
                return Err(StepError::Retry {
                    message: format!(
                        "no shipment with tracking code {} yet",
                        update.tracking_code
                    ),
                    retry_after: None,
                });
            }
            tracing::info!(inbox_id, tracking = %update.tracking_code, "tracking event for no shipment of ours");
            app.store
                .mark_webhook_processed(inbox_id, Some("no shipment with this tracking code"))
                .await?;
        }
        TrackingOutcome::Applied {
            shipment_id,
            new_events,
            advanced,
            ..
        } => {
            tracing::info!(inbox_id, shipment_id, new_events, advanced = ?advanced, "tracking event applied");
            // Whether or not this run advanced it: the channel may still lack
            // the current status (a crash after an earlier apply).
            let needs_push = app
                .store
                .shipment(shipment_id)
                .await?
                .is_some_and(|s| needs_channel_push(&s));
            if needs_push {
                app.queue
                    .push_tracking
                    .push(super::PushTracking { shipment_id })
                    .await?;
            }
            app.store.mark_webhook_processed(inbox_id, None).await?;
        }
    }
    Ok(())
}
