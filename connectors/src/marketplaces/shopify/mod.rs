//! Shopify: orders through the GraphQL Admin API, tracking back through
//! fulfillment orders (`fulfillmentCreate`), carrier status changes back as
//! fulfillment events (`fulfillmentEventCreate`), order webhooks signed with
//! `X-Shopify-Hmac-Sha256`.
//!
//! Declares: kind `shopify`; secrets `access_token` (sent as
//! `X-Shopify-Access-Token`) and `webhook_secret` (the app secret webhooks are
//! signed with); options `api_version` (default 2025-10), `page_size` (default 100,
//! lowered to what fits Shopify's 1,000-point single-query cost limit) and
//! `line_items_page` (line items fetched with each order, default 5; more are paged
//! in follow-up queries). Limits: Shopify's calculated query cost with a leaky
//! bucket (`extensions.cost.throttleStatus`), which the client follows.

pub mod client;
pub mod cost;
pub mod mapping;
#[cfg(feature = "sandbox")]
pub mod sandbox;
pub mod wire;

#[cfg(test)]
mod tests;

pub use client::{
    shopify_carrier_name, sign_webhook, verify_shopify_webhook, ShopifyConnector,
    DEFAULT_API_VERSION, HEADER_ACCESS_TOKEN, HEADER_HMAC, HEADER_TOPIC, HEADER_WEBHOOK_ID, TOPICS,
};
pub use mapping::normalize;
#[cfg(feature = "sandbox")]
pub use sandbox::{SeedOrder, SeedRequest, ShopifySandbox, ShopifySandboxOptions, TouchRequest};

use crate::marketplace::{ChannelSetup, Marketplace, MarketplaceKind};
#[cfg(feature = "sandbox")]
use crate::sandbox::SandboxLimits;
use crate::sandbox::{MarketplaceSandbox, SandboxProfile};
use std::sync::Arc;

fn build(setup: ChannelSetup) -> Result<Arc<dyn Marketplace>, String> {
    ShopifyConnector::new(setup).map(|c| Arc::new(c) as Arc<dyn Marketplace>)
}

/// What the `shopify` connector kind declares.
pub const KIND: MarketplaceKind = MarketplaceKind {
    kind: "shopify",
    required_secrets: &["access_token", "webhook_secret"],
    build,
    normalize: mapping::normalize,
    sandbox: MarketplaceSandbox {
        kind: "shopify",
        profile: sandbox_profile,
        #[cfg(feature = "sandbox")]
        router: sandbox_router,
        published_limit:
            "GraphQL cost bucket 20,000 points restoring 1,000 points/s (Shopify Plus)",
    },
};

fn sandbox_profile() -> SandboxProfile {
    SandboxProfile::new(
        &[
            ("access_token", "shpat_sandbox_token"),
            ("webhook_secret", "sandbox_webhook_secret"),
        ],
        &[],
    )
}

#[cfg(feature = "sandbox")]
fn sandbox_router(profile: &SandboxProfile, limits: SandboxLimits) -> axum::Router {
    let (token, secret) = (
        profile.secret("access_token"),
        profile.secret("webhook_secret"),
    );
    let opts = match limits {
        // Shopify publishes one bucket per plan; the sandbox's published
        // profile is Plus, the plan multichannel sellers at volume are on
        // (`ShopifySandboxOptions::standard` is the Standard plan's, which
        // the sync tests also exercise).
        SandboxLimits::Published => ShopifySandboxOptions::plus(token, secret),
        SandboxLimits::Volume => ShopifySandboxOptions::fast(token, secret),
    };
    ShopifySandbox::new(opts).router()
}
