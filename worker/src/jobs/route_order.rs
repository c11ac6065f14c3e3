//! RouteOrder: pick the warehouse(s) by the seller's `[routing]` rule chain,
//! reserve stock, create one shipment per warehouse (`Store::route_order_with`,
//! one transaction, guarded: running it twice or concurrently changes nothing
//! the first run did not), then enqueue BuyLabel for each shipment.

use crate::app::App;
use apalis::prelude::{BoxDynError, Data};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RouteOrder {
    pub order_id: i64,
}

/// Store errors are returned so apalis retries the job; outcomes are logged.
pub async fn route_order(job: RouteOrder, app: Data<Arc<App>>) -> Result<(), BoxDynError> {
    let outcome = app
        .store
        .route_order_with(job.order_id, &app.settings.routing.to_config())
        .await?;
    tracing::info!(order_id = job.order_id, outcome = ?outcome, "route order");
    // With `auto_buy_labels = false` the shipments wait for a batch.
    if app.settings.shipping.auto_buy_labels {
        // After the commit; a crash right here is covered by the scheduler's
        // sweep of shipments left `created`.
        let jobs = outcome.shipment_ids().into_iter();
        app.queue
            .buy_label
            .push_many(
                jobs.map(|shipment_id| super::BuyLabel { shipment_id })
                    .collect(),
            )
            .await?;
    }
    Ok(())
}
