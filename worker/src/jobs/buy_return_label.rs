//! BuyReturnLabel: buy a return's label through the carrier layer, exactly
//! once (invariant 4, as for outbound labels).
//!
//! The return row and its idempotency key (`orderhub-return-{id}`, sent as
//! the carrier's reference) exist before the carrier is called. The
//! carrier's return shipment and the chosen rate are committed
//! (`requested → label_buying`) before the purchase; every later attempt,
//! including one after a timeout or a killed worker, first asks the carrier
//! for that shipment and records a label it finds instead of buying again.
//! A second buy of the same carrier shipment is refused by the carrier
//! anyway (EasyPost's `SHIPMENT.POSTAGE.EXISTS`, read back by the client),
//! and no second carrier shipment is made once one is stored.
//!
//! The account: the first of the return warehouse's carrier accounts whose
//! connector makes return labels (EasyPost today). The rate: the cheapest
//! the carrier offers (a return has no promised date).

use super::{finish, StepError};
use crate::app::App;
use apalis::prelude::{Attempt, BoxDynError, Data, TaskId};
use orderhub_connectors::{LabelFormat, LabelRequest, PurchasedLabel};
use orderhub_core::config::CarrierChoice;
use orderhub_core::store::returns::{
    return_row, ReturnCarrierShipment, ReturnLabelRecord, RETURN_LABEL_BOUGHT, RETURN_LABEL_BUYING,
    RETURN_REQUESTED,
};
use orderhub_core::{Address, OrderLine};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

pub const BUY_RETURN_LABEL_QUEUE: &str = "orderhub.buy_return_label";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BuyReturnLabel {
    pub return_id: i64,
}

pub async fn buy_return_label(
    job: BuyReturnLabel,
    app: Data<Arc<App>>,
    attempt: Attempt,
    task_id: Option<TaskId>,
) -> Result<(), BoxDynError> {
    let outcome = buy_return_label_once(&app, job.return_id).await;
    if let Err(StepError::Permanent(reason)) = &outcome {
        app.store.return_exception(job.return_id, reason).await?;
    }
    finish(
        &app,
        BUY_RETURN_LABEL_QUEUE,
        task_id.as_ref(),
        attempt.current(),
        None,
        outcome,
    )
    .await
}

/// One pass: from whatever state the return is in to a bought label, or an
/// error. A return past its label (or in exception) is left alone.
pub async fn buy_return_label_once(app: &App, return_id: i64) -> Result<(), StepError> {
    let Some(mut r) = app.store.return_row(return_id).await? else {
        return Err(StepError::Permanent(format!(
            "return {return_id} does not exist"
        )));
    };
    if r.status == RETURN_REQUESTED {
        rate_and_choose(app, &r).await?;
        r = app
            .store
            .return_row(return_id)
            .await?
            .ok_or_else(|| StepError::Permanent("return vanished".into()))?;
    }
    if r.status == RETURN_LABEL_BUYING {
        buy_once(app, &r).await?;
    } else if r.status != RETURN_LABEL_BOUGHT {
        tracing::info!(return_id, status = %r.status, "return label: nothing to do");
    }
    Ok(())
}

/// `requested → label_buying`: the carrier's return shipment and its
/// cheapest rate, stored before any money is spent.
async fn rate_and_choose(app: &App, r: &return_row::Model) -> Result<(), StepError> {
    let warehouse =
        app.store.warehouse(&r.warehouse_id).await?.ok_or_else(|| {
            StepError::Permanent(format!("warehouse `{}` is gone", r.warehouse_id))
        })?;
    let choices: Vec<CarrierChoice> = serde_json::from_str::<Vec<String>>(&warehouse.carriers)
        .unwrap_or_default()
        .iter()
        .map(|c| CarrierChoice::parse(c))
        .collect();
    let Some((account, carrier)) = choices.iter().find_map(|c| {
        app.carriers
            .get(&c.account)
            .filter(|a| a.connector.supports_returns())
            .map(|a| (c.account.clone(), a))
    }) else {
        return Err(StepError::Permanent(format!(
            "warehouse `{}` has no carrier account that makes return labels",
            warehouse.id
        )));
    };
    let warehouse_address: Address = warehouse
        .address
        .as_deref()
        .and_then(|a| serde_json::from_str(a).ok())
        .ok_or_else(|| {
            StepError::Permanent(format!("warehouse `{}` has no address", warehouse.id))
        })?;
    let order = app
        .store
        .get_order(r.order_id)
        .await?
        .ok_or_else(|| StepError::Permanent(format!("order {} is gone", r.order_id)))?;
    let Some(customer) = order.order.ship_to.clone() else {
        return Err(StepError::Permanent(
            "the order has no shipping address to return from".into(),
        ));
    };
    let view = app
        .store
        .get_return(r.id)
        .await?
        .ok_or_else(|| StepError::Permanent("return vanished".into()))?;
    // The returned units, weighed like the order's lines.
    let lines: Vec<OrderLine> = view
        .lines
        .iter()
        .map(|l| {
            let base = order
                .order
                .lines
                .iter()
                .find(|o| o.sku.as_deref() == Some(l.sku.as_str()));
            OrderLine {
                external_id: None,
                sku: Some(l.sku.clone()),
                title: base
                    .map(|b| b.title.clone())
                    .unwrap_or_else(|| l.sku.clone()),
                quantity: u32::try_from(l.quantity).unwrap_or(u32::MAX),
                unit_price: base.map(|b| b.unit_price).unwrap_or_default(),
                tax: Default::default(),
                discount: Default::default(),
                total: Default::default(),
                grams: base.and_then(|b| b.grams),
                barcode: None,
            }
        })
        .collect();
    let parcels =
        super::parcels_for(&lines, &app.settings.shipping).map_err(StepError::Permanent)?;
    let label_format = app
        .settings
        .warehouses
        .iter()
        .find(|w| w.id == warehouse.id)
        .and_then(|w| w.label_format.as_deref())
        .and_then(LabelFormat::parse)
        .unwrap_or_default();
    let request = LabelRequest {
        reference: r.idempotency_key.clone(),
        // The outbound addresses: the carrier makes the label from the
        // customer back to the warehouse.
        from: warehouse_address,
        to: customer,
        parcels,
        label_format,
    };
    let shipment = {
        let _permit = carrier.gate.acquire().await;
        carrier.connector.create_return_shipment(&request).await?
    };
    let Some(rate) = shipment
        .rates
        .iter()
        .min_by(|a, b| a.amount.cmp(&b.amount).then_with(|| a.id.cmp(&b.id)))
        .cloned()
    else {
        return Err(StepError::Permanent(format!(
            "carrier account `{account}` offered no rate for the return"
        )));
    };
    let stored = app
        .store
        .record_return_carrier_shipment(
            r.id,
            &ReturnCarrierShipment {
                carrier_account: account.clone(),
                carrier_shipment_id: shipment.id.clone(),
                rate_id: rate.id.clone(),
                carrier: rate.carrier.clone(),
                service: rate.service.clone(),
                amount: rate.amount,
                currency: rate.currency.clone(),
            },
        )
        .await?;
    tracing::info!(
        return_id = r.id,
        account = %account,
        carrier_shipment = %shipment.id,
        stored,
        carrier = %rate.carrier,
        service = %rate.service,
        "return shipment rated"
    );
    Ok(())
}

/// `label_buying → label_bought`: ask first, buy only if the carrier has no
/// label for the stored shipment (the same purchase as outbound labels).
async fn buy_once(app: &App, r: &return_row::Model) -> Result<(), StepError> {
    let label = super::buy_label::buy_asking_first(
        app,
        "return",
        r.id,
        (
            r.carrier_account.as_deref(),
            r.carrier_shipment_id.as_deref(),
            r.rate_id.as_deref(),
        ),
        r.buy_attempts,
        || app.store.count_return_buy_attempt(r.id),
    )
    .await?;
    record(app, r.id, &label).await
}

async fn record(app: &App, return_id: i64, l: &PurchasedLabel) -> Result<(), StepError> {
    let recorded = app
        .store
        .record_return_label(
            return_id,
            &ReturnLabelRecord {
                carrier: l.carrier.clone(),
                service: l.service.clone(),
                amount: l.amount,
                currency: l.currency.clone(),
                tracking_code: l.tracking_code.clone(),
                tracking_url: l.tracking_url.clone(),
                label_url: l.label_url.clone(),
                label_id: l.label_id.clone(),
            },
        )
        .await?;
    tracing::info!(return_id, recorded, carrier = %l.carrier, service = %l.service, tracking = %l.tracking_code, "return label bought");
    Ok(())
}
