//! VoidLabel: tell the carrier a bought label is not used (its refund call),
//! for a shipment ops voided or whose order was cancelled before pickup.
//!
//! The shipment is `voiding` before the job runs (`Store::begin_void`,
//! guarded on the parcel not being picked up); the job asks the carrier and
//! records what it said: voided or submitted → `voided` (stock released),
//! refused → back to `label_bought` with the refusal noted. Asking twice is
//! harmless: carriers answer a second refund of the same label with its
//! state, and a shipment no longer `voiding` is left alone.

use super::{finish, StepError};
use crate::app::App;
use apalis::prelude::{Attempt, BoxDynError, Data, TaskId};
use orderhub_connectors::VoidStatus;
use orderhub_core::store::SHIPMENT_VOIDING;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VoidLabel {
    pub shipment_id: i64,
}

pub async fn void_label(
    job: VoidLabel,
    app: Data<Arc<App>>,
    attempt: Attempt,
    task_id: Option<TaskId>,
) -> Result<(), BoxDynError> {
    let outcome = void_once(&app, job.shipment_id).await.map(|_| ());
    if let Err(StepError::Permanent(reason)) = &outcome {
        app.store.void_refused(job.shipment_id, reason).await?;
    }
    finish(
        &app,
        crate::queue::VOID_LABEL_QUEUE,
        task_id.as_ref(),
        attempt.current(),
        None,
        outcome,
    )
    .await
}

/// One pass: ask the carrier to void, record the answer. `None` when the
/// shipment was not `voiding` (nothing to do).
pub async fn void_once(app: &App, shipment_id: i64) -> Result<Option<VoidStatus>, StepError> {
    let Some(ship) = app.store.shipment(shipment_id).await? else {
        return Ok(None);
    };
    if ship.status != SHIPMENT_VOIDING {
        return Ok(None);
    }
    let (Some(account), Some(cs_id)) = (
        ship.carrier_account.as_deref(),
        ship.carrier_shipment_id.as_deref(),
    ) else {
        return Err(StepError::Permanent(
            "the label was not bought through orderhub".into(),
        ));
    };
    let Some(carrier) = app.carriers.get(account) else {
        return Err(StepError::Permanent(format!(
            "carrier account `{account}` is no longer configured"
        )));
    };
    let label_id = ship.label_id.as_deref().unwrap_or(cs_id);
    let status = carrier.connector.void(cs_id, label_id).await?;
    match &status {
        VoidStatus::Voided => app.store.finish_void(shipment_id, "voided").await?,
        VoidStatus::Submitted => app.store.finish_void(shipment_id, "submitted").await?,
        VoidStatus::Rejected(reason) => app.store.void_refused(shipment_id, reason).await?,
    };
    tracing::info!(shipment_id, carrier_account = account, status = ?status, "label void");
    Ok(Some(status))
}
