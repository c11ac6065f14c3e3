//! The wiring shared by every part of a running orderhub: the store, the
//! configured channels with their connectors, and the job queue.

use crate::queue::JobQueue;
use crate::settings::Loaded;
use anyhow::Context;
use orderhub_connectors::{carrier_kind, marketplace_kind, Carrier, ChannelSetup, Marketplace};
use orderhub_core::config::{carrier_secrets_key, CarrierSettings, ChannelSettings, Settings};
use orderhub_core::store::Store;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// One configured channel and its live connector.
pub struct Channel {
    pub settings: ChannelSettings,
    pub connector: Arc<dyn Marketplace>,
}

/// One configured carrier account and its live connector.
pub struct CarrierAccount {
    pub settings: CarrierSettings,
    pub connector: Arc<dyn Carrier>,
    /// Calls in flight to this account at once (rates and buys), bounded by
    /// `shipping.batch_concurrency_per_carrier`, so a label batch or a burst
    /// of jobs never floods one carrier.
    pub gate: Arc<tokio::sync::Semaphore>,
}

pub struct App {
    pub settings: Settings,
    pub store: Store,
    pub channels: BTreeMap<String, Channel>,
    pub carriers: BTreeMap<String, CarrierAccount>,
    pub queue: JobQueue,
    /// Unique per process start: names the worker and owns channel leases.
    pub instance: String,
    /// The ops API token, read from the environment variable config names.
    pub api_token: Option<String>,
    /// Webhook deliveries stored by group commit, then applied.
    pub ingest: crate::ingest_batch::Ingest,
}

impl App {
    /// Connect, migrate, set up the queue and build every connector.
    pub async fn start(loaded: Loaded) -> anyhow::Result<Arc<App>> {
        let Loaded { settings, secrets } = loaded;
        let store = Store::connect(&settings.database.url, settings.database.max_connections)
            .await
            .context("opening the database")?;
        crate::migrate::run(&store).await?;
        let queue = JobQueue::setup(&store, settings.worker.max_attempts).await?;
        let timeout = Duration::from_millis(settings.worker.request_timeout_ms);
        let budget = crate::budget::for_store(&store);
        let mut channels = BTreeMap::new();
        for c in &settings.channels {
            let kind = marketplace_kind(&c.kind).context("validated kinds exist")?;
            let setup = ChannelSetup {
                channel_id: c.id.clone(),
                base_url: c.base_url.clone(),
                options: c.options.clone(),
                secrets: secrets.get(&c.id).cloned().unwrap_or_default(),
                request_timeout: timeout,
            };
            // On PostgreSQL the published limit is shared by every process.
            let connector = orderhub_connectors::http::with_shared_budget(budget.clone(), || {
                (kind.build)(setup)
            })
            .map_err(|e| anyhow::anyhow!("channel `{}`: {e}", c.id))?;
            store.ensure_channel(&c.id, &c.seller, &c.kind).await?;
            channels.insert(
                c.id.clone(),
                Channel {
                    settings: c.clone(),
                    connector,
                },
            );
        }
        let mut carriers = BTreeMap::new();
        for c in &settings.carriers {
            let kind = carrier_kind(&c.kind).context("validated kinds exist")?;
            let setup = ChannelSetup {
                channel_id: c.id.clone(),
                base_url: c.base_url.clone(),
                options: c.options.clone(),
                secrets: secrets
                    .get(&carrier_secrets_key(&c.id))
                    .cloned()
                    .unwrap_or_default(),
                request_timeout: timeout,
            };
            let connector = orderhub_connectors::http::with_shared_budget(budget.clone(), || {
                (kind.build)(setup)
            })
            .map_err(|e| anyhow::anyhow!("carrier `{}`: {e}", c.id))?;
            carriers.insert(
                c.id.clone(),
                CarrierAccount {
                    settings: c.clone(),
                    connector,
                    gate: Arc::new(tokio::sync::Semaphore::new(
                        settings.shipping.batch_concurrency_per_carrier.max(1),
                    )),
                },
            );
        }
        for w in &settings.warehouses {
            let name = if w.name.is_empty() { &w.id } else { &w.name };
            store
                .upsert_warehouse(
                    &w.id,
                    &w.seller,
                    name,
                    w.priority,
                    w.country.as_deref(),
                    &w.carriers,
                )
                .await?;
            store
                .set_warehouse_address(&w.id, w.address.as_ref())
                .await?;
            for (sku, q) in &w.stock {
                store.seed_stock(&w.id, sku, *q).await?;
            }
            store.seed_config_barcodes(&w.seller, &w.barcodes).await?;
            store
                .set_warehouse_routing(
                    &w.id,
                    &orderhub_core::store::WarehouseRouting {
                        open: w.open,
                        ships_to: w.ships_to.clone(),
                        channels: w.channels.clone(),
                        lat: w.lat,
                        lon: w.lon,
                    },
                )
                .await?;
            store
                .set_safety_stock(&w.id, w.default_safety_stock, &w.safety_stock)
                .await?;
        }
        let api_token = std::env::var(&settings.server.api_token_env)
            .ok()
            .filter(|t| !t.is_empty());
        let instance = format!(
            "orderhub-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        );
        Ok(Arc::new(App {
            settings,
            store,
            channels,
            carriers,
            queue,
            instance,
            api_token,
            ingest: Default::default(),
        }))
    }
}
