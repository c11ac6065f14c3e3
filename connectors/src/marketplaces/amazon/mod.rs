//! Amazon Selling Partner API: orders through the Orders API v2026-01-01
//! (`GET /orders/2026-01-01/orders?lastUpdatedAfter=…&marketplaceIds=…&includedData=…&paginationToken=…`,
//! items, buyer, recipient address, proceeds and packages in one response),
//! tracking back with Orders v0 `confirmShipment`
//! (`POST /orders/v0/orders/{orderId}/shipmentConfirmation`), the order's
//! packages read first (`getOrder`) so a tracking number is confirmed once.
//! Auth: Login with Amazon refresh (`POST /auth/o2/token`), the access token
//! sent as `x-amz-access-token`; no Restricted Data Token (PII is role-based).
//!
//! Declares: kind `amazon`; secrets `client_id`, `client_secret` (the LWA app
//! credentials) and `refresh_token` (the seller's authorization); options
//! `marketplace_id` (default `ATVPDKIKX0DER`, amazon.com), `page_size` (1–100,
//! default 100), `lwa_url` (default `https://api.amazon.com` for Amazon hosts,
//! else the base URL), `search_orders_rate`/`search_orders_burst` (the usage
//! plan the client paces by when a seller has a raised one).
//! Limits: per-operation token buckets; searchOrders 0.0056 requests/s with
//! burst 20, getOrder 0.5/s burst 30, confirmShipment 2/s burst 10; the
//! applied rate comes back in `x-amzn-RateLimit-Limit`; 429 `QuotaExceeded`
//! has no `Retry-After`, so the client keeps a bucket per operation and waits.
//! Amazon sends no HTTP order webhooks (SQS/EventBridge only).

pub mod client;
pub mod mapping;
#[cfg(feature = "sandbox")]
pub mod sandbox;
pub mod wire;

#[cfg(test)]
mod tests;

pub use client::{amazon_carrier_code, AmazonConnector};
pub use mapping::normalize;
#[cfg(feature = "sandbox")]
pub use sandbox::{AmazonLimits, AmazonSandbox, UsagePlan};

use crate::marketplace::{ChannelSetup, Marketplace, MarketplaceKind};
use crate::sandbox::{MarketplaceSandbox, SandboxProfile};
use std::sync::Arc;

fn build(setup: ChannelSetup) -> Result<Arc<dyn Marketplace>, String> {
    AmazonConnector::new(setup).map(|c| Arc::new(c) as Arc<dyn Marketplace>)
}

/// What the `amazon` connector kind declares.
pub const KIND: MarketplaceKind = MarketplaceKind {
    kind: "amazon",
    required_secrets: &["client_id", "client_secret", "refresh_token"],
    build,
    normalize: mapping::normalize,
    sandbox: MarketplaceSandbox {
        kind: "amazon",
        profile: sandbox_profile,
        #[cfg(feature = "sandbox")]
        router: sandbox::router,
        published_limit:
            "searchOrders 0.0056 requests/s, burst 20 (token bucket; 429 QuotaExceeded without Retry-After)",
    },
};

pub const SANDBOX_CLIENT_ID: &str = "amzn1.application-oa2-client.sandbox0000000000000000";
pub const SANDBOX_CLIENT_SECRET: &str = "amzn1.oa2-cs.v1.sandboxsecret";
pub const SANDBOX_REFRESH_TOKEN: &str = "Atzr|IwEBIsandbox-refresh-token";
pub const SANDBOX_MARKETPLACE: &str = "ATVPDKIKX0DER";
pub const SANDBOX_SELLER_ID: &str = "A2SANDBOXSELLER1";

/// The sandbox's one account: the credentials and options it accepts.
pub fn sandbox_profile() -> SandboxProfile {
    SandboxProfile::new(
        &[
            ("client_id", SANDBOX_CLIENT_ID),
            ("client_secret", SANDBOX_CLIENT_SECRET),
            ("refresh_token", SANDBOX_REFRESH_TOKEN),
        ],
        &[
            ("marketplace_id", SANDBOX_MARKETPLACE),
            ("seller_id", SANDBOX_SELLER_ID),
        ],
    )
}
