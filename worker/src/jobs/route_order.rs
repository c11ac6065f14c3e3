//! RouteOrder: pick a warehouse, reserve stock, create the shipment
//! (`Store::route_order`, one transaction, guarded: running it twice or
//! concurrently changes nothing the first run did not), then enqueue BuyLabel.

use crate::app::App;
use apalis::prelude::{BoxDynError, Data};
use orderhub_core::store::RouteOutcome;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RouteOrder {
    pub order_id: i64,
}

/// Store errors are returned so apalis retries the job; outcomes are logged.
pub async fn route_order(job: RouteOrder, app: Data<Arc<App>>) -> Result<(), BoxDynError> {
    let outcome = app.store.route_order(job.order_id).await?;
    tracing::info!(order_id = job.order_id, outcome = ?outcome, "route order");
    // With `auto_buy_labels = false` the shipment waits for a batch.
    if let (RouteOutcome::Routed { shipment_id, .. }, true) =
        (&outcome, app.settings.shipping.auto_buy_labels)
    {
        let shipment_id = *shipment_id;
        // After the commit; a crash right here is covered by the scheduler's
        // sweep of shipments left `created`.
        app.queue
            .buy_label
            .push(super::BuyLabel { shipment_id })
            .await?;
    }
    Ok(())
}
