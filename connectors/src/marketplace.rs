//! What every marketplace connector declares and implements.

use crate::http::RemoteError;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use orderhub_core::{MappingError, Order, Quarantined};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// One page of a "changed orders" listing. Items that could not be mapped are
/// `Err(Quarantined)` with their raw payload, so the rest of the page is kept.
#[derive(Debug, Default)]
pub struct OrderPage {
    pub orders: Vec<Result<Order, Quarantined>>,
    /// Opaque token for the next page; `None` when this was the last one.
    pub next_page: Option<String>,
}

/// A webhook that passed signature verification.
#[derive(Debug, Clone)]
pub struct VerifiedWebhook {
    /// The channel's delivery id, used to drop duplicates.
    pub delivery_id: String,
    pub topic: String,
}

/// Why an inbound webhook was refused. Always answered with a 4xx.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WebhookError {
    #[error("missing header {0}")]
    MissingHeader(&'static str),
    #[error("signature does not match")]
    BadSignature,
    #[error("unsupported topic {0}")]
    UnsupportedTopic(String),
}

/// Everything a connector needs from configuration: the channel's settings and
/// its secrets (already resolved from the environment).
#[derive(Clone)]
pub struct ChannelSetup {
    pub channel_id: String,
    pub base_url: String,
    /// Connector-specific settings from the config file (e.g. `api_version`).
    pub options: BTreeMap<String, String>,
    /// Secrets by the names the connector declares in `required_secrets`.
    pub secrets: BTreeMap<String, String>,
    pub request_timeout: Duration,
}

impl std::fmt::Debug for ChannelSetup {
    // Secrets never reach a log line: print their names only.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChannelSetup")
            .field("channel_id", &self.channel_id)
            .field("base_url", &self.base_url)
            .field("options", &self.options)
            .field("secrets", &self.secrets.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl ChannelSetup {
    pub fn secret(&self, name: &str) -> &str {
        self.secrets
            .get(name)
            .map(String::as_str)
            .unwrap_or_default()
    }

    /// Connectors validate their setup by collecting every problem (startup
    /// lists them all at once); these are the checks they share.
    ///
    /// A problem for each of `names` that is missing or blank.
    pub fn require_secrets(&self, names: &[&str], problems: &mut Vec<String>) {
        for name in names {
            if self.secret(name).trim().is_empty() {
                problems.push(format!("secret `{name}` is missing"));
            }
        }
    }

    /// `base_url` without a trailing slash; a problem unless it is http(s).
    pub fn http_base_url(&self, what: &str, problems: &mut Vec<String>) -> String {
        let base = self.base_url.trim().trim_end_matches('/').to_string();
        match url::Url::parse(&base) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => {}
            _ => problems.push(format!("base_url must be {what}")),
        }
        base
    }

    /// A whole-number option within `range`, `default` when absent.
    pub fn whole_number_option(
        &self,
        name: &str,
        default: u32,
        range: std::ops::RangeInclusive<u32>,
        problems: &mut Vec<String>,
    ) -> u32 {
        match self.options.get(name) {
            None => default,
            Some(v) => match v.trim().parse::<u32>() {
                Ok(n) if range.contains(&n) => n,
                _ => {
                    problems.push(format!(
                        "option `{name}` must be a whole number from {} to {}",
                        range.start(),
                        range.end()
                    ));
                    default
                }
            },
        }
    }
}

/// Tracking details pushed back to the channel an order came from.
#[derive(Debug, Clone)]
pub struct TrackingPush {
    pub order_external_id: String,
    /// The carrier as orderhub names it (`USPS`, `UPS`, `FedEx`, `DHL`, ...);
    /// each connector maps it to the channel's own carrier codes.
    pub carrier: String,
    pub tracking_number: String,
    pub tracking_url: Option<String>,
    pub notify_customer: bool,
    /// The order lines this shipment carries (channels such as eBay name them).
    pub lines: Vec<PushLine>,
    /// When the label was bought.
    pub shipped_at: DateTime<Utc>,
}

/// One order line in a shipment, as the channel identifies it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushLine {
    /// The channel's line id (`OrderLine::external_id`).
    pub external_id: Option<String>,
    pub sku: Option<String>,
    pub quantity: u32,
}

/// What a verified order webhook carries.
#[derive(Debug, Clone)]
pub enum WebhookOrder {
    /// The whole order (Shopify, WooCommerce send it in the body).
    Order(Box<Order>),
    /// Only that an order changed (Ecwid's events carry ids): the channel is
    /// polled at once, and its overlapping window picks the order up.
    Changed { external_id: String },
    /// A topic that says nothing about orders (a ping); acknowledged only.
    Ignored,
}

#[async_trait]
pub trait Marketplace: Send + Sync {
    /// The connector kind as written in config (`shopify`).
    fn kind(&self) -> &'static str;

    /// One page of orders updated at or after `since`, continuing at `page`.
    async fn fetch_orders(
        &self,
        since: DateTime<Utc>,
        page: Option<String>,
    ) -> Result<OrderPage, RemoteError>;

    /// Whether `fetch_orders` pages come oldest update first. Then the sync
    /// cursor moves with each stored page; otherwise (newest first, or no
    /// documented order) it moves only after the last page, so a sync that
    /// fails half-way starts again from where it was.
    fn pages_oldest_first(&self) -> bool {
        true
    }

    /// The shortest interval between two polls the channel's quota allows
    /// (Amazon's orders search refills slowly); the worker never polls faster,
    /// however short the configured interval.
    fn min_poll_interval(&self) -> Duration {
        Duration::ZERO
    }

    /// Check an inbound webhook's signature on the raw body.
    fn verify_webhook(
        &self,
        headers: &http::HeaderMap,
        body: &[u8],
    ) -> Result<VerifiedWebhook, WebhookError>;

    /// What a verified webhook body says about an order.
    fn order_from_webhook(&self, topic: &str, body: &[u8]) -> Result<WebhookOrder, Quarantined>;

    /// Tell the channel an order shipped.
    async fn push_tracking(&self, push: &TrackingPush) -> Result<(), RemoteError>;

    /// Tell the channel a shipment's carrier status changed (in transit,
    /// delivered, ...). Channels with no such notion keep the default, which
    /// does nothing.
    async fn push_delivery_status(&self, _push: &DeliveryStatusPush) -> Result<(), RemoteError> {
        Ok(())
    }

    /// Set how many units of a sku the channel may sell, through the
    /// channel's inventory API. `NotListed` when the channel has no listing
    /// with that sku (nothing to update; not an error).
    async fn push_stock(&self, push: &StockPush) -> Result<StockPushOutcome, RemoteError>;
}

/// The quantity a channel should show for one sku.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StockPush {
    pub sku: String,
    /// Units available to sell (never negative when orderhub sends it).
    pub available: i64,
}

/// What a stock push did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StockPushOutcome {
    Updated,
    /// The channel has no listing with that sku.
    NotListed,
}

/// A carrier status change told to the channel, for the fulfillment that
/// carries `tracking_number`.
#[derive(Debug, Clone)]
pub struct DeliveryStatusPush {
    pub order_external_id: String,
    pub tracking_number: String,
    pub status: orderhub_core::TrackingStatus,
    pub happened_at: DateTime<Utc>,
}

/// What a connector kind declares, so config can be validated before anything runs.
pub struct MarketplaceKind {
    pub kind: &'static str,
    pub required_secrets: &'static [&'static str],
    pub build: fn(ChannelSetup) -> Result<Arc<dyn Marketplace>, String>,
    /// Map one raw order payload as the channel sends it (for `orderhub normalize`).
    pub normalize: fn(&str) -> Result<Order, MappingError>,
    /// The kind's local imitation of the vendor.
    pub sandbox: crate::sandbox::MarketplaceSandbox,
}

/// Every marketplace orderhub knows. A new marketplace is one folder and one line here.
pub fn marketplace_kinds() -> &'static [MarketplaceKind] {
    &[
        crate::marketplaces::shopify::KIND,
        crate::marketplaces::woocommerce::KIND,
        crate::marketplaces::ecwid::KIND,
        crate::marketplaces::ebay::KIND,
        crate::marketplaces::etsy::KIND,
        crate::marketplaces::amazon::KIND,
        crate::marketplaces::tiktok::KIND,
    ]
}

pub fn marketplace_kind(kind: &str) -> Option<&'static MarketplaceKind> {
    marketplace_kinds().iter().find(|k| k.kind == kind)
}
