//! BuyLabel: rate the shipment's parcel with the warehouse's carrier account,
//! choose the cheapest rate of the carriers the warehouse allows, and buy it,
//! exactly once (invariant 4).
//!
//! How exactly-once holds: the carrier's shipment id and the chosen rate are
//! committed (`created → buying`) before the purchase. Every later attempt,
//! including one after a timeout or a killed worker, starts by asking the
//! carrier for that shipment: a label already there is recorded, never bought
//! again; a second buy on the same carrier shipment is refused by the carrier
//! anyway (EasyPost's `SHIPMENT.POSTAGE.EXISTS`), and no second carrier
//! shipment is ever made once one is stored.

use super::{finish, rate_shop, StepError};
use crate::app::App;
use apalis::prelude::{Attempt, BoxDynError, Data, TaskId};
use orderhub_connectors::{CarrierShipment, LabelFormat, LabelRequest, ParcelSpec, PurchasedLabel};
use orderhub_core::config::{CarrierChoice, ShippingSettings};
use orderhub_core::packing::{pack, BoxType, Dims, PackItem};
use orderhub_core::rate_choice::{self, RatePolicy};
use orderhub_core::store::{
    shipment, ChosenRate, LabelRecord, SHIPMENT_BUYING, SHIPMENT_CREATED, SHIPMENT_LABEL_BOUGHT,
};
use orderhub_core::{Address, OrderLine, OrderStatus};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BuyLabel {
    pub shipment_id: i64,
}

pub async fn buy_label(
    job: BuyLabel,
    app: Data<Arc<App>>,
    attempt: Attempt,
    task_id: Option<TaskId>,
) -> Result<(), BoxDynError> {
    let outcome = buy_label_once(&app, job.shipment_id).await;
    if let Err(StepError::Permanent(reason)) = &outcome {
        app.store
            .shipment_exception(job.shipment_id, reason)
            .await?;
    }
    finish(
        &app,
        crate::queue::BUY_LABEL_QUEUE,
        task_id.as_ref(),
        attempt.current(),
        Some(job.shipment_id),
        outcome,
    )
    .await
}

/// One pass of the job: from whatever state the shipment is in to a bought
/// label (and PushTracking enqueued), or an error.
pub async fn buy_label_once(app: &App, shipment_id: i64) -> Result<(), StepError> {
    let Some(mut ship) = app.store.shipment(shipment_id).await? else {
        return Err(StepError::Permanent(format!(
            "shipment {shipment_id} does not exist"
        )));
    };
    if ship.status == SHIPMENT_CREATED || ship.status == SHIPMENT_BUYING {
        // An order cancelled before its label: release the stock, buy
        // nothing. (One with a purchase already tried goes on to reconcile;
        // a label found then is voided by the scheduler's sweep.)
        let cancelled = app
            .store
            .get_order(ship.order_id)
            .await?
            .is_some_and(|o| o.order.status == OrderStatus::Cancelled);
        if cancelled && app.store.cancel_unbought_shipment(shipment_id).await? {
            tracing::info!(
                shipment_id,
                "order cancelled before its label; shipment cancelled"
            );
            return Ok(());
        }
    }
    // Scan-to-verify packing: no label while the shipment's pack session
    // is blocked or has mismatches (or, where the warehouse requires it,
    // before it is verified or overridden). The shipment waits with a note
    // (the sweep leaves it); the session's verify/override enqueues us again.
    if let Err(why) = crate::server::pack::label_gate(app, &ship).await? {
        tracing::info!(shipment_id, reason = %why, "label held for pack verification");
        app.store.note_pack_wait(shipment_id, &why).await?;
        return Ok(());
    }
    if ship.status == SHIPMENT_CREATED {
        if !rate_and_choose(app, &ship).await? {
            return Ok(()); // labels for this warehouse are bought outside orderhub
        }
        // Re-read: this run or a concurrent one moved it to `buying`.
        ship = app
            .store
            .shipment(shipment_id)
            .await?
            .ok_or_else(|| StepError::Permanent("shipment vanished".into()))?;
    }
    if ship.status == SHIPMENT_BUYING {
        buy_once(app, &ship).await?;
    } else if ship.status != SHIPMENT_LABEL_BOUGHT {
        // exception or cancelled: nothing to do.
        return Ok(());
    }
    app.queue
        .push_tracking
        .push(super::PushTracking { shipment_id })
        .await?;
    Ok(())
}

/// `created → buying`: pack the lines, rate-shop the warehouse's carrier
/// accounts, store the chosen account's carrier shipment and rate with the
/// verdict on every rate. `false` when the warehouse ships with no carrier
/// account: the shipment stays `created` with a note, and the order
/// `processing`, for the seller to ship by hand.
async fn rate_and_choose(app: &App, ship: &shipment::Model) -> Result<bool, StepError> {
    let warehouse = app
        .store
        .warehouse(&ship.warehouse_id)
        .await?
        .ok_or_else(|| {
            StepError::Permanent(format!("warehouse `{}` is gone", ship.warehouse_id))
        })?;
    let choices: Vec<CarrierChoice> = serde_json::from_str::<Vec<String>>(&warehouse.carriers)
        .unwrap_or_default()
        .iter()
        .map(|c| CarrierChoice::parse(c))
        .collect();
    if choices.is_empty() {
        let note = format!("warehouse `{}` has no carrier account", warehouse.id);
        app.store
            .note_shipment_problem(ship.id, Some(&note))
            .await?;
        return Ok(false);
    }
    if !choices
        .iter()
        .any(|c| app.carriers.contains_key(&c.account))
    {
        return Err(StepError::Permanent(format!(
            "warehouse `{}` has no configured carrier account",
            warehouse.id
        )));
    }
    let from: Address = warehouse
        .address
        .as_deref()
        .and_then(|a| serde_json::from_str(a).ok())
        .ok_or_else(|| {
            StepError::Permanent(format!("warehouse `{}` has no address", warehouse.id))
        })?;
    let order = app
        .store
        .get_order(ship.order_id)
        .await?
        .ok_or_else(|| StepError::Permanent(format!("order {} is gone", ship.order_id)))?;
    let Some(to) = order.order.ship_to.clone() else {
        return Err(StepError::Permanent(
            "the order has no shipping address".into(),
        ));
    };
    let shipping = &app.settings.shipping;
    let parcels = parcels_for(&order.order.lines, shipping).map_err(StepError::Permanent)?;
    // A packer's measured weight beyond the tolerance replaces the computed one.
    let parcels = match app.store.pack_measured_grams(ship.id).await? {
        Some(grams) => reweighed(parcels, grams),
        None => parcels,
    };
    let request = LabelRequest {
        reference: format!("orderhub-shipment-{}", ship.id),
        from,
        to,
        parcels: parcels.clone(),
        label_format: label_format_for(app, &warehouse.id),
    };
    let budget = Duration::from_millis(shipping.rate_budget_ms.max(1));
    let asked = rate_shop::ask_accounts(app, &choices, &request, budget).await;
    let policy: RatePolicy = shipping.policy.parse().unwrap_or(RatePolicy::Cheapest);
    let cutoff = shipping.cutoff_time().unwrap_or(chrono::NaiveTime::MIN);
    let ship_date = rate_choice::ship_date(chrono::Utc::now(), shipping.handling_days, cutoff);
    let promised = rate_choice::promised_date(
        order.order.placed_at,
        shipping.handling_days,
        cutoff,
        shipping.transit_days_for(order.order.shipping_method.as_deref()),
    );
    let offered: usize = asked.answers.iter().map(|a| a.shipment.rates.len()).sum();
    let outcome = rate_shop::choose(
        &asked.answers,
        asked.skipped,
        policy,
        ship_date,
        Some(promised),
    );
    let Some((account, carrier_shipment_id, rate)) = outcome.chosen else {
        let why = outcome
            .records
            .iter()
            .map(|r| format!("{}: {}", r.account, r.reason))
            .collect::<Vec<_>>()
            .join("; ");
        let message = format!("no rate to buy ({offered} offered): {why}");
        return Err(if asked.transient_skips > 0 {
            StepError::Retry {
                message,
                retry_after: None,
            }
        } else {
            StepError::Permanent(message)
        });
    };
    let chosen = ChosenRate {
        carrier_account: account,
        carrier_shipment_id,
        rate_id: rate.id.clone(),
        carrier: rate.carrier.clone(),
        service: rate.service.clone(),
        amount: rate.amount,
        currency: rate.currency.clone(),
        parcel: serde_json::to_string(&parcels).unwrap_or_default(),
        quotes: serde_json::to_string(&outcome.records).unwrap_or_default(),
    };
    if !app.store.record_carrier_shipment(ship.id, &chosen).await? {
        // A concurrent run stored its carrier shipment first; ours is never
        // bought (no money spent) and theirs is the one that counts.
        tracing::info!(
            shipment_id = ship.id,
            "carrier shipment chosen by a concurrent run"
        );
    }
    Ok(true)
}

/// The label format the warehouse's printers take (PDF unless configured).
fn label_format_for(app: &App, warehouse_id: &str) -> LabelFormat {
    app.settings
        .warehouses
        .iter()
        .find(|w| w.id == warehouse_id)
        .and_then(|w| w.label_format.as_deref())
        .and_then(LabelFormat::parse)
        .unwrap_or_default()
}

/// `buying → label_bought`: ask first, buy only if the carrier has no label.
async fn buy_once(app: &App, ship: &shipment::Model) -> Result<(), StepError> {
    let label = buy_asking_first(
        app,
        "shipment",
        ship.id,
        (
            ship.carrier_account.as_deref(),
            ship.carrier_shipment_id.as_deref(),
            ship.rate_id.as_deref(),
        ),
        ship.buy_attempts,
        || app.store.count_buy_attempt(ship.id),
    )
    .await?;
    record(app, ship.id, &label).await
}

/// Invariant 4's purchase, shared by outbound and return labels: the row
/// (`what` `id`) holds the carrier account, carrier shipment and rate. An
/// earlier attempt may have bought the label with the answer lost, so once an
/// attempt is recorded the carrier is asked first (with none recorded nothing
/// can have been bought, so the call is skipped); the attempt is counted
/// before buying; a failed buy looks once more before calling it a failure.
pub(super) async fn buy_asking_first<F, Fut>(
    app: &App,
    what: &str,
    id: i64,
    (account, cs_id, rate_id): (Option<&str>, Option<&str>, Option<&str>),
    attempts_before: i32,
    count_attempt: F,
) -> Result<PurchasedLabel, StepError>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<(), sea_orm::DbErr>>,
{
    let (Some(account), Some(cs_id), Some(rate_id)) = (account, cs_id, rate_id) else {
        return Err(StepError::Permanent(format!(
            "{what} is buying without a carrier shipment"
        )));
    };
    let Some(carrier) = app.carriers.get(account) else {
        return Err(StepError::Permanent(format!(
            "carrier account `{account}` is no longer configured"
        )));
    };
    let _permit = carrier.gate.acquire().await;
    if attempts_before > 0 {
        if let Some(label) = carrier.connector.shipment(cs_id).await?.label {
            tracing::info!(
                what,
                id,
                carrier_shipment = cs_id,
                "label found at the carrier; recording it"
            );
            return Ok(label);
        }
    }
    count_attempt().await?;
    match carrier.connector.buy(cs_id, rate_id).await {
        Ok(label) => Ok(label),
        Err(e) => {
            // The answer may be lost while the purchase went through: look
            // once more before calling it a failure.
            if let Ok(CarrierShipment {
                label: Some(label), ..
            }) = carrier.connector.shipment(cs_id).await
            {
                Ok(label)
            } else {
                Err(e.into())
            }
        }
    }
}

async fn record(app: &App, shipment_id: i64, l: &PurchasedLabel) -> Result<(), StepError> {
    let recorded = app
        .store
        .record_label(
            shipment_id,
            &LabelRecord {
                carrier: l.carrier.clone(),
                service: l.service.clone(),
                amount: l.amount,
                currency: l.currency.clone(),
                tracking_code: l.tracking_code.clone(),
                tracking_url: l.tracking_url.clone(),
                label_url: l.label_url.clone(),
                label_id: l.label_id.clone(),
                label_format: l.label_format.as_str().to_string(),
            },
        )
        .await?;
    tracing::info!(shipment_id, recorded, carrier = %l.carrier, service = %l.service, tracking = %l.tracking_code, "label bought");
    Ok(())
}

/// The weight of one unit of a line: `[shipping.skus]`, then `sku_grams`,
/// then the channel's grams, then the default item weight.
fn unit_grams(l: &OrderLine, shipping: &ShippingSettings) -> u32 {
    let sku = l.sku.as_deref();
    sku.and_then(|s| shipping.skus.get(s))
        .and_then(|s| s.grams)
        .or_else(|| sku.and_then(|s| shipping.sku_grams.get(s).copied()))
        .or(l.grams.filter(|g| *g > 0))
        .unwrap_or(shipping.default_item_grams)
}

/// The parcels' total weight in grams (from their ounces).
pub fn parcels_grams(parcels: &[ParcelSpec]) -> u64 {
    let oz: Decimal = parcels.iter().map(|p| p.weight_oz).sum();
    (oz * Decimal::new(28_349_523_125, 9))
        .round()
        .try_into()
        .unwrap_or(0)
}

/// The parcels with their weights scaled so they add up to `grams` (a
/// measured weight), each rounded up to a tenth of an ounce.
fn reweighed(parcels: Vec<ParcelSpec>, grams: u64) -> Vec<ParcelSpec> {
    let total: Decimal = parcels.iter().map(|p| p.weight_oz).sum();
    let target = Decimal::from(grams) / Decimal::new(28_349_523_125, 9);
    let n = Decimal::from(parcels.len().max(1) as u64);
    parcels
        .into_iter()
        .map(|p| {
            let share = if total > Decimal::ZERO {
                target * p.weight_oz / total
            } else {
                target / n
            };
            ParcelSpec {
                weight_oz: share
                    .round_dp_with_strategy(1, rust_decimal::RoundingStrategy::AwayFromZero)
                    .max(Decimal::new(1, 1)),
                ..p
            }
        })
        .collect()
}

/// Grams to ounces, rounded up to a tenth (carriers round up anyway).
fn ounces(grams: u64) -> Decimal {
    (Decimal::from(grams) / Decimal::new(28_349_523_125, 9))
        .round_dp_with_strategy(1, rust_decimal::RoundingStrategy::AwayFromZero)
        .max(Decimal::new(1, 1))
}

/// The shipment's boxes: packed by `orderhub_core::packing` into the
/// configured `[[shipping.boxes]]`, or one default box when none are
/// configured. `Err` says why nothing fits (the shipment goes to exception).
pub fn parcels_for(
    lines: &[OrderLine],
    shipping: &ShippingSettings,
) -> Result<Vec<ParcelSpec>, String> {
    if shipping.boxes.is_empty() {
        return Ok(vec![parcel_for(lines, shipping)]);
    }
    let items: Vec<PackItem> = lines
        .iter()
        .filter(|l| l.quantity > 0)
        .map(|l| {
            let sku = l.sku.clone().unwrap_or_else(|| l.title.clone());
            let spec = shipping.skus.get(&sku);
            let dims = spec.and_then(|s| {
                Some(Dims {
                    length_in: s.length_in?,
                    width_in: s.width_in?,
                    height_in: s.height_in?,
                })
            });
            PackItem {
                sku,
                quantity: l.quantity,
                dims,
                grams: unit_grams(l, shipping),
            }
        })
        .collect();
    let boxes: Vec<BoxType> = shipping
        .boxes
        .iter()
        .map(|b| BoxType {
            name: b.name.clone(),
            inner: Dims {
                length_in: b.length_in,
                width_in: b.width_in,
                height_in: b.height_in,
            },
            max_grams: b.max_grams,
            tare_grams: b.tare_grams,
        })
        .collect();
    let packed = pack(&items, &boxes).map_err(|e| e.to_string())?;
    Ok(packed
        .iter()
        .map(|b| ParcelSpec {
            weight_oz: ounces(b.weight_grams as u64),
            length_in: b.dims.length_in,
            width_in: b.dims.width_in,
            height_in: b.dims.height_in,
        })
        .collect())
}

/// One box holding every line: per-unit weight from config's `sku_grams`,
/// else the channel's grams, else the default item weight; plus the box.
pub fn parcel_for(lines: &[OrderLine], shipping: &ShippingSettings) -> ParcelSpec {
    let grams: u64 = lines
        .iter()
        .map(|l| unit_grams(l, shipping) as u64 * l.quantity as u64)
        .sum::<u64>()
        + shipping.default_box.tare_grams as u64;
    let b = &shipping.default_box;
    ParcelSpec {
        weight_oz: ounces(grams),
        length_in: b.length_in,
        width_in: b.width_in,
        height_in: b.height_in,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parcel_weight_comes_from_config_then_channel_then_default() {
        let line = |sku: &str, q: u32, grams: Option<u32>| OrderLine {
            external_id: None,
            sku: Some(sku.into()),
            title: sku.into(),
            quantity: q,
            unit_price: Decimal::ONE,
            tax: Decimal::ZERO,
            discount: Decimal::ZERO,
            total: Decimal::ONE,
            grams,
            barcode: None,
        };
        let mut s = ShippingSettings::default();
        s.sku_grams.insert("A".into(), 100);
        s.default_item_grams = 500;
        s.default_box.tare_grams = 0;
        // 2×100 (config wins over the channel's 999) + 1×300 + 1×500 = 1000 g.
        let p = parcel_for(
            &[
                line("A", 2, Some(999)),
                line("B", 1, Some(300)),
                line("C", 1, None),
            ],
            &s,
        );
        // 1000 g = 35.27 oz, rounded up to 35.3.
        assert_eq!(p.weight_oz, Decimal::new(353, 1));
    }

    fn line(sku: &str, q: u32) -> OrderLine {
        OrderLine {
            external_id: None,
            sku: Some(sku.into()),
            title: sku.into(),
            quantity: q,
            unit_price: Decimal::ONE,
            tax: Decimal::ZERO,
            discount: Decimal::ZERO,
            total: Decimal::ONE,
            grams: None,
            barcode: None,
        }
    }

    fn boxes_settings() -> ShippingSettings {
        use orderhub_core::config::{PackBoxSettings, SkuSettings};
        let mut s = ShippingSettings::default();
        let bx = |name: &str, l: i64, w: i64, h: i64, max: u32| PackBoxSettings {
            name: name.into(),
            length_in: Decimal::from(l),
            width_in: Decimal::from(w),
            height_in: Decimal::from(h),
            max_grams: max,
            tare_grams: 100,
        };
        s.boxes = vec![bx("small", 8, 6, 4, 5_000), bx("large", 16, 12, 10, 20_000)];
        let sku = |l: i64, w: i64, h: i64, g: u32| SkuSettings {
            grams: Some(g),
            length_in: Some(Decimal::from(l)),
            width_in: Some(Decimal::from(w)),
            height_in: Some(Decimal::from(h)),
        };
        s.skus.insert("MUG".into(), sku(5, 4, 4, 400));
        s.skus.insert("LAMP".into(), sku(14, 10, 9, 3_000));
        s.skus.insert("SOFA".into(), sku(80, 35, 30, 40_000));
        s
    }

    #[test]
    fn lines_are_packed_into_the_configured_boxes() {
        let s = boxes_settings();
        // One mug: the small box, 400 g + 100 g tare = 500 g = 17.7 oz.
        let p = parcels_for(&[line("MUG", 1)], &s).unwrap();
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].length_in, Decimal::from(8));
        assert_eq!(p[0].weight_oz, Decimal::new(177, 1));
        // Two lamps do not fit one large box by volume: two parcels.
        let p = parcels_for(&[line("LAMP", 2), line("MUG", 1)], &s).unwrap();
        assert_eq!(p.len(), 2, "{p:?}");
        // No boxes configured: the one default box, as before.
        let p = parcels_for(&[line("LAMP", 2)], &ShippingSettings::default()).unwrap();
        assert_eq!(p.len(), 1);
    }

    #[test]
    fn an_item_larger_than_every_box_is_an_error_naming_it() {
        let err = parcels_for(&[line("MUG", 1), line("SOFA", 1)], &boxes_settings()).unwrap_err();
        assert!(err.contains("SOFA"), "{err}");
    }
}
