//! WooCommerce: orders through the REST API v3 (`/wp-json/wc/v3/orders`, paged
//! by a modified-time keyset, see [`client`]), tracking back as an order note
//! plus status `completed` (and, optionally, the Shipment Tracking extension's
//! `shipment-trackings`), order webhooks signed with `X-WC-Webhook-Signature`.
//!
//! Declares: kind `woocommerce`; secrets `consumer_key` (`ck_…`) and
//! `consumer_secret` (`cs_…`) of a read/write REST API key, sent as HTTP Basic
//! auth, and `webhook_secret` (the secret set on the store's webhooks); options
//! `page_size` (1–100, default 100), `shipment_tracking` (`"true"` when the store
//! runs the Shipment Tracking extension; default `"false"`), `query_string_auth`
//! (`"true"` for hosts that strip the `Authorization` header: the key pair goes in
//! the query string instead) and `max_requests_per_second` (default 20).
//! Limits: WooCommerce publishes none (self-hosted); the client stays at 20
//! requests/s with bursts of 10, under the 25/s (burst 50) host-style limit the
//! sandbox assumes, and honors `Retry-After` on 429s from the host.

pub mod client;
pub mod mapping;
#[cfg(feature = "sandbox")]
pub mod sandbox;
pub mod wire;

#[cfg(test)]
mod tests;

pub use client::{
    shipment_tracking_provider, sign_webhook, verify_woocommerce_webhook, PageToken,
    WooCommerceConnector, HEADER_DELIVERY_ID, HEADER_SIGNATURE, HEADER_TOPIC, TOPICS,
};
pub use mapping::normalize;
#[cfg(feature = "sandbox")]
pub use sandbox::{HostLimit, SeedRequest, TouchRequest, WooSandbox, WooSandboxOptions};

use crate::marketplace::{ChannelSetup, Marketplace, MarketplaceKind};
#[cfg(feature = "sandbox")]
use crate::sandbox::SandboxLimits;
use crate::sandbox::{MarketplaceSandbox, SandboxProfile};
use std::sync::Arc;

fn build(setup: ChannelSetup) -> Result<Arc<dyn Marketplace>, String> {
    WooCommerceConnector::new(setup).map(|c| Arc::new(c) as Arc<dyn Marketplace>)
}

/// What the `woocommerce` connector kind declares.
pub const KIND: MarketplaceKind = MarketplaceKind {
    kind: "woocommerce",
    required_secrets: &["consumer_key", "consumer_secret", "webhook_secret"],
    build,
    normalize: mapping::normalize,
    sandbox: MarketplaceSandbox {
        kind: "woocommerce",
        profile: sandbox_profile,
        #[cfg(feature = "sandbox")]
        router: sandbox_router,
        published_limit:
            "none published (self-hosted); sandbox assumes a host limit of 25 requests/s, burst 50",
    },
};

pub fn sandbox_profile() -> SandboxProfile {
    SandboxProfile::new(
        &[
            (
                "consumer_key",
                "ck_sandbox_4f1c2d3e5a6b7c8d9e0f1a2b3c4d5e6f",
            ),
            (
                "consumer_secret",
                "cs_sandbox_9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b",
            ),
            ("webhook_secret", "sandbox_webhook_secret"),
        ],
        &[("shipment_tracking", "true")],
    )
}

#[cfg(feature = "sandbox")]
pub fn sandbox_router(profile: &SandboxProfile, limits: SandboxLimits) -> axum::Router {
    WooSandbox::new(WooSandboxOptions {
        consumer_key: profile.secret("consumer_key").to_string(),
        consumer_secret: profile.secret("consumer_secret").to_string(),
        webhook_secret: profile.secret("webhook_secret").to_string(),
        limit: match limits {
            SandboxLimits::Published => HostLimit::PUBLISHED,
            SandboxLimits::Volume => HostLimit::VOLUME,
        },
    })
    .router()
}
