//! Label batches: buy labels for many shipments at once (peak days), with
//! bounded concurrency per carrier account, a report per shipment, and one
//! merged PDF to print.
//!
//! Each shipment goes through the same step as the BuyLabel job
//! (`buy_label_once`), so exactly-once holds as it does there: a shipment
//! bought by a concurrent job or an earlier batch is recorded, not bought
//! again. A shipment whose carrier is down stays `created`/`buying` and is
//! listed as failed; running the batch again retries exactly those.

use crate::app::App;
use crate::jobs::{buy_label_once, StepError};
use futures::stream::{self, StreamExt};
use orderhub_connectors::LabelFormat;
use orderhub_core::store::SHIPMENT_LABEL_BOUGHT;
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// Which shipments a batch buys for.
#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
pub struct BatchRequest {
    /// These shipments; or, with `all_ready`, every shipment waiting for a label.
    #[serde(default)]
    pub shipment_ids: Vec<i64>,
    #[serde(default)]
    pub all_ready: bool,
    /// Only shipments of this warehouse (with `all_ready`).
    pub warehouse: Option<String>,
    /// At most this many shipments (default 1,000).
    pub limit: Option<u64>,
}

/// What happened to one shipment of the batch.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct BatchItem {
    pub shipment_id: i64,
    /// `bought` (now or before), `failed` (retry by running the batch
    /// again), `exception` (needs ops: the reason says why), `skipped`
    /// (not waiting for a label: cancelled, voided, unknown), or `blocked`
    /// (its scan-to-verify pack session holds the label: the error says why).
    pub outcome: String,
    pub carrier_account: Option<String>,
    pub carrier: Option<String>,
    pub tracking_code: Option<String>,
    pub label_url: Option<String>,
    pub label_format: Option<String>,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BatchReport {
    pub items: Vec<BatchItem>,
    pub bought: usize,
    pub failed: usize,
    pub exceptions: usize,
    pub skipped: usize,
    pub elapsed_ms: u64,
}

impl BatchReport {
    /// The shipments whose label can be printed, in batch order.
    pub fn printable(&self) -> Vec<i64> {
        self.items
            .iter()
            .filter(|i| i.outcome == "bought")
            .map(|i| i.shipment_id)
            .collect()
    }
}

/// The shipments a request names, oldest first for `all_ready`.
pub async fn resolve(app: &App, req: &BatchRequest) -> anyhow::Result<Vec<i64>> {
    let limit = req.limit.unwrap_or(1_000).clamp(1, 10_000);
    if req.all_ready {
        Ok(app
            .store
            .shipments_ready_for_labels(req.warehouse.as_deref(), limit)
            .await?
            .into_iter()
            .map(|s| s.id)
            .collect())
    } else {
        Ok(req
            .shipment_ids
            .iter()
            .copied()
            .take(limit as usize)
            .collect())
    }
}

/// Buy labels for `ids`. Concurrency: `batch_concurrency_per_carrier` per
/// configured carrier account in flight at once overall, and each account's
/// own gate (see `CarrierAccount::gate`) keeps any one account at that bound.
pub async fn buy_batch(app: &App, ids: &[i64]) -> BatchReport {
    let started = Instant::now();
    let per_carrier = app.settings.shipping.batch_concurrency_per_carrier.max(1);
    let width = per_carrier * app.carriers.len().max(1);
    let items: Vec<BatchItem> = stream::iter(ids.iter().copied())
        .map(|id| async move { buy_one(app, id).await })
        .buffered(width)
        .collect()
        .await;
    let count = |o: &str| items.iter().filter(|i| i.outcome == o).count();
    BatchReport {
        bought: count("bought"),
        failed: count("failed"),
        exceptions: count("exception"),
        skipped: count("skipped"),
        elapsed_ms: started.elapsed().as_millis() as u64,
        items,
    }
}

async fn buy_one(app: &App, shipment_id: i64) -> BatchItem {
    // Scan-to-verify packing holds the label: reported as `blocked`.
    if let Ok(Some(ship)) = app.store.shipment(shipment_id).await {
        if let Ok(Err(why)) = crate::server::pack::label_gate(app, &ship).await {
            return BatchItem {
                shipment_id,
                outcome: "blocked".into(),
                carrier_account: ship.carrier_account.clone(),
                carrier: ship.carrier.clone(),
                tracking_code: None,
                label_url: None,
                label_format: None,
                error: Some(why),
            };
        }
    }
    let result = buy_label_once(app, shipment_id).await;
    let ship = app.store.shipment(shipment_id).await.ok().flatten();
    let mut item = BatchItem {
        shipment_id,
        outcome: String::new(),
        carrier_account: ship.as_ref().and_then(|s| s.carrier_account.clone()),
        carrier: ship.as_ref().and_then(|s| s.carrier.clone()),
        tracking_code: ship.as_ref().and_then(|s| s.tracking_code.clone()),
        label_url: ship.as_ref().and_then(|s| s.label_url.clone()),
        label_format: ship.as_ref().and_then(|s| s.label_format.clone()),
        error: None,
    };
    let status = ship.as_ref().map(|s| s.status.as_str());
    item.outcome = match (&result, status) {
        (_, Some(SHIPMENT_LABEL_BOUGHT)) => "bought",
        (Err(StepError::Permanent(reason)), _) => {
            // As the BuyLabel job does: the shipment and order show why.
            if let Err(e) = app.store.shipment_exception(shipment_id, reason).await {
                tracing::warn!(shipment_id, error = %e, "could not record the exception");
            }
            item.error = Some(reason.clone());
            "exception"
        }
        (Err(e), _) => {
            item.error = Some(e.to_string());
            "failed"
        }
        (Ok(()), Some("created")) => {
            // Left for buying by hand (the warehouse has no carrier account).
            item.error = ship.as_ref().and_then(|s| s.exception_reason.clone());
            "skipped"
        }
        (Ok(()), _) => "skipped",
    }
    .to_string();
    item
}

/// The label files of `ids` (PDF labels only), fetched from where the
/// carriers keep them and merged in the order given. Returns the merged
/// file and the shipments left out, with why.
pub async fn merged_labels(
    app: &App,
    ids: &[i64],
) -> anyhow::Result<(Option<Vec<u8>>, Vec<(i64, String)>)> {
    let http = reqwest::Client::builder()
        .timeout(std::time::Duration::from_millis(
            app.settings.worker.request_timeout_ms,
        ))
        .build()?;
    let mut files = Vec::new();
    let mut left_out = Vec::new();
    for &id in ids {
        let Some(s) = app.store.shipment(id).await? else {
            left_out.push((id, "no such shipment".into()));
            continue;
        };
        let (Some(url), Some("pdf")) = (s.label_url.as_deref(), s.label_format.as_deref()) else {
            left_out.push((
                id,
                format!(
                    "no PDF label (status `{}`, format {})",
                    s.status,
                    s.label_format.as_deref().unwrap_or("none")
                ),
            ));
            continue;
        };
        match label_file(app, &http, s.carrier_account.as_deref(), url, "pdf").await {
            Ok(bytes) => files.push(bytes),
            Err(e) => left_out.push((id, format!("label not fetched: {e}"))),
        }
    }
    if files.is_empty() {
        return Ok((None, left_out));
    }
    let merged = crate::label_pdf::merge(&files).map_err(anyhow::Error::msg)?;
    Ok((Some(merged), left_out))
}

/// The file of a bought label (`url`, recorded as `format`): downloaded by
/// the shipment's carrier account when its carrier downloads its own links
/// (Sendcloud: the account's keys, and `Accept` naming the format), else
/// the link as it is (EasyPost's and Shippo's pre-signed links, labels
/// recorded by hand). At most 20 MB.
pub async fn label_file(
    app: &App,
    http: &reqwest::Client,
    carrier_account: Option<&str>,
    url: &str,
    format: &str,
) -> anyhow::Result<Vec<u8>> {
    let account = carrier_account.and_then(|a| app.carriers.get(a));
    if let (Some(account), Some(format)) = (account, LabelFormat::parse(format)) {
        if let Some(bytes) = account.connector.label_file(url, format).await? {
            anyhow::ensure!(bytes.len() <= 20 << 20, "label larger than 20 MB");
            return Ok(bytes);
        }
    }
    let r = http.get(url).send().await?;
    anyhow::ensure!(r.status().is_success(), "status {}", r.status().as_u16());
    let bytes = r.bytes().await?;
    anyhow::ensure!(bytes.len() <= 20 << 20, "label larger than 20 MB");
    Ok(bytes.to_vec())
}

/// What asking for a void right now came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VoidNow {
    /// The carrier answered (voided, submitted, or rejected with a reason).
    Answered(orderhub_connectors::VoidStatus),
    /// The carrier could not be asked now; the shipment stays `voiding` and
    /// the VoidLabel job (or the sweep) asks again.
    Pending(String),
}

/// Void a shipment's label now, for the API and the CLI: the guarded
/// `label_bought → voiding`, the carrier's refund call, and what it said
/// recorded. A permanent failure counts as the carrier's rejection.
pub async fn void_now(
    app: &App,
    shipment_id: i64,
) -> Result<Result<VoidNow, orderhub_core::store::VoidRefusal>, sea_orm::DbErr> {
    use orderhub_connectors::VoidStatus;
    if let Err(refusal) = app.store.begin_void(shipment_id).await? {
        return Ok(Err(refusal));
    }
    Ok(Ok(match crate::jobs::void_once(app, shipment_id).await {
        // `None`: another run finished the void meanwhile.
        Ok(status) => VoidNow::Answered(status.unwrap_or(VoidStatus::Voided)),
        Err(StepError::Permanent(reason)) => {
            app.store.void_refused(shipment_id, &reason).await?;
            VoidNow::Answered(VoidStatus::Rejected(reason))
        }
        Err(e) => VoidNow::Pending(e.to_string()),
    }))
}
