//! eBay: orders through the Sell Fulfillment API v1 (`getOrders` filtered by
//! `lastmodifieddate`, offset paging), tracking back as shipping fulfillments
//! (`createShippingFulfillment`, after reading `getShippingFulfillments` so a
//! repeat never adds a second one), OAuth user tokens minted from the seller's
//! refresh token.
//!
//! Declares: kind `ebay`; secrets `client_id` and `client_secret` (the
//! application's keyset, sent as Basic auth to the token endpoint) and
//! `refresh_token` (the seller's consent, scope `sell.fulfillment`); options
//! `marketplace_id` (sent as `X-EBAY-C-MARKETPLACE-ID`, default EBAY_US),
//! `page_size` (getOrders `limit`, 1–200, default 200) and
//! `requests_per_second` (default 20). `base_url` is `https://api.ebay.com`
//! (or `https://api.sandbox.ebay.com`).
//!
//! Limits: eBay publishes 100,000 Fulfillment API calls per application per day
//! (OAuth refresh grants: 50,000/day, separately) and no per-second rate; the
//! client paces itself at 20 calls/s, under the sandbox's documented smoothing of
//! 25/s. getOrders' date filter reaches back 90 days; older `since` values are
//! clamped. eBay sends no order webhooks to REST apps: `verify_webhook` refuses
//! everything and the channel is polled.

pub mod client;
pub mod mapping;
#[cfg(feature = "sandbox")]
pub mod sandbox;
pub mod wire;

#[cfg(test)]
mod tests;

pub use client::{
    ebay_carrier_code, EbayConnector, DEFAULT_MARKETPLACE_ID, HEADER_MARKETPLACE_ID, ORDERS_PATH,
    PUBLISHED_DAILY_CALLS, TOKEN_PATH,
};
pub use mapping::normalize;
#[cfg(feature = "sandbox")]
pub use sandbox::{EbaySandbox, EbaySandboxOptions, SeedRequest, TouchRequest};

use crate::marketplace::{ChannelSetup, Marketplace, MarketplaceKind};
#[cfg(feature = "sandbox")]
use crate::sandbox::SandboxLimits;
use crate::sandbox::{MarketplaceSandbox, SandboxProfile};
use std::sync::Arc;

fn build(setup: ChannelSetup) -> Result<Arc<dyn Marketplace>, String> {
    EbayConnector::new(setup).map(|c| Arc::new(c) as Arc<dyn Marketplace>)
}

/// What the `ebay` connector kind declares.
pub const KIND: MarketplaceKind = MarketplaceKind {
    kind: "ebay",
    required_secrets: &["client_id", "client_secret", "refresh_token"],
    build,
    normalize: mapping::normalize,
    sandbox: MarketplaceSandbox {
        kind: "ebay",
        profile,
        #[cfg(feature = "sandbox")]
        router,
        published_limit:
            "100,000 Fulfillment API calls/day per application (sandbox smoothing: 25 calls/s)",
    },
};

/// The sandbox's fixed keyset and seller consent.
pub fn profile() -> SandboxProfile {
    SandboxProfile::new(
        &[
            ("client_id", "orderhub-sandbox-PRD-5a1f0c2e7-3b9d4e61"),
            ("client_secret", "PRD-a1f0c2e73b9d-4e61-47c2-9d0a-sandbox"),
            (
                "refresh_token",
                "v^1.1#i^1#r^1#p^3#I^3#f^0#t^sandbox-refresh-token",
            ),
        ],
        &[("marketplace_id", "EBAY_US")],
    )
}

/// eBay's routes and the control routes, accepting `profile`'s credentials.
#[cfg(feature = "sandbox")]
pub fn router(profile: &SandboxProfile, limits: SandboxLimits) -> axum::Router {
    let (id, secret, refresh) = (
        profile.secret("client_id"),
        profile.secret("client_secret"),
        profile.secret("refresh_token"),
    );
    let opts = match limits {
        SandboxLimits::Published => EbaySandboxOptions::published(id, secret, refresh),
        SandboxLimits::Volume => EbaySandboxOptions::volume(id, secret, refresh),
    };
    EbaySandbox::new(opts).router()
}
