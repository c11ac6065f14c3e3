//! PushTracking: tell the order's channel the carrier, tracking number and
//! URL (invariant 5), then any newer carrier status (in transit, delivered).
//! Idempotent and convergent: it pushes what the store says was not pushed
//! yet, so running it twice, or late, changes nothing more.

use super::{finish, StepError};
use crate::app::App;
use apalis::prelude::{Attempt, BoxDynError, Data, TaskId};
use orderhub_connectors::{DeliveryStatusPush, PushLine, TrackingPush};
use orderhub_core::store::{needs_channel_push, SHIPMENT_LABEL_BOUGHT};
use orderhub_core::TrackingStatus;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PushTracking {
    pub shipment_id: i64,
}

pub async fn push_tracking(
    job: PushTracking,
    app: Data<Arc<App>>,
    attempt: Attempt,
    task_id: Option<TaskId>,
) -> Result<(), BoxDynError> {
    let outcome = push_tracking_once(&app, job.shipment_id).await;
    if let Err(StepError::Permanent(reason)) = &outcome {
        // The label stands; the shipment shows why the channel was not told.
        app.store
            .note_shipment_problem(job.shipment_id, Some(&format!("tracking push: {reason}")))
            .await?;
    }
    finish(
        &app,
        crate::queue::PUSH_TRACKING_QUEUE,
        task_id.as_ref(),
        attempt.current(),
        Some(job.shipment_id),
        outcome,
    )
    .await
}

/// How long one run may hold a shipment's push lease (a killed run's lease
/// expires after this).
const PUSH_LEASE_MS: i64 = 60_000;

pub async fn push_tracking_once(app: &App, shipment_id: i64) -> Result<(), StepError> {
    // One run at a time per shipment (two would both see "not pushed yet"
    // and tell the channel twice). A run that finds the lease taken leaves
    // it to the holder, which looks again after letting go, so whatever
    // this run was enqueued for is pushed by it. After a crash the lease
    // expires and the scheduler's sweep enqueues the push again.
    for _ in 0..5 {
        if !app
            .store
            .take_push_lease(shipment_id, PUSH_LEASE_MS)
            .await?
        {
            tracing::debug!(shipment_id, "push lease held by another run; it will push");
            return Ok(());
        }
        let result = push_under_lease(app, shipment_id).await;
        app.store.release_push_lease(shipment_id).await?;
        result?;
        match app.store.shipment(shipment_id).await? {
            Some(s) if needs_channel_push(&s) => continue,
            _ => return Ok(()),
        }
    }
    Ok(())
}

async fn push_under_lease(app: &App, shipment_id: i64) -> Result<(), StepError> {
    let Some(ship) = app.store.shipment(shipment_id).await? else {
        return Err(StepError::Permanent(format!(
            "shipment {shipment_id} does not exist"
        )));
    };
    if ship.status != SHIPMENT_LABEL_BOUGHT {
        return Ok(()); // no label yet: BuyLabel enqueues this job again
    }
    let (Some(carrier), Some(number)) = (ship.carrier.clone(), ship.tracking_code.clone()) else {
        return Err(StepError::Permanent(
            "label without carrier or number".into(),
        ));
    };
    let order = app
        .store
        .get_order(ship.order_id)
        .await?
        .ok_or_else(|| StepError::Permanent(format!("order {} is gone", ship.order_id)))?;
    let Some(channel) = app.channels.get(&order.channel_id) else {
        return Err(StepError::Permanent(format!(
            "channel `{}` is not configured",
            order.channel_id
        )));
    };
    if ship.tracking_pushed_at.is_none() {
        channel
            .connector
            .push_tracking(&TrackingPush {
                order_external_id: order.order.external_id.clone(),
                carrier,
                tracking_number: number.clone(),
                tracking_url: ship.tracking_url.clone(),
                notify_customer: app.settings.shipping.notify_customer,
                // One shipment per order today (routing does not split), so
                // the shipment carries every line of the order.
                lines: order
                    .order
                    .lines
                    .iter()
                    .map(|l| PushLine {
                        external_id: l.external_id.clone(),
                        sku: l.sku.clone(),
                        quantity: l.quantity,
                    })
                    .collect(),
                shipped_at: ship.label_bought_at.unwrap_or_else(chrono::Utc::now),
            })
            .await?;
        app.store.mark_tracking_pushed(ship.id).await?;
        tracing::info!(shipment_id, channel = %order.channel_id, order = %order.order.external_id, "tracking pushed");
    }
    let status = TrackingStatus::from_carrier(&ship.tracking_status);
    let pushed = ship
        .status_pushed
        .as_deref()
        .map_or(TrackingStatus::Unknown, TrackingStatus::from_carrier);
    // Pre-transit is what the fulfillment itself says (a label exists): it is
    // recorded, not sent, which saves a call per shipment.
    if pushed.can_advance_to(status) && status == TrackingStatus::PreTransit {
        app.store
            .mark_status_pushed(ship.id, ship.status_pushed.as_deref(), status)
            .await?;
    } else if pushed.can_advance_to(status) {
        channel
            .connector
            .push_delivery_status(&DeliveryStatusPush {
                order_external_id: order.order.external_id.clone(),
                tracking_number: number,
                status,
                happened_at: ship.tracking_updated_at.unwrap_or_else(chrono::Utc::now),
            })
            .await?;
        app.store
            .mark_status_pushed(ship.id, ship.status_pushed.as_deref(), status)
            .await?;
        tracing::info!(shipment_id, status = %status, "carrier status pushed to the channel");
    }
    if ship.exception_reason.is_some() {
        app.store.note_shipment_problem(ship.id, None).await?;
    }
    Ok(())
}
