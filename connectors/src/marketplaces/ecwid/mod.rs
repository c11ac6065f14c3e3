//! Ecwid (by Lightspeed): orders through the REST API v3
//! (`GET /api/v3/{storeId}/orders?updatedFrom=…&offset=…&limit=…`), tracking
//! and delivery status back with `PUT /api/v3/{storeId}/orders/{orderId}`
//! (`fulfillmentStatus`, `trackingNumber`, `trackingUrl`), order webhooks
//! that carry only ids, signed with `X-Ecwid-Webhook-Signature`.
//!
//! Declares: kind `ecwid`; secrets `access_token` (the `secret_…` token, sent
//! as `Authorization: Bearer`) and `client_secret` (the app's client secret,
//! the key of webhook signatures); options `store_id` (required), `page_size`
//! (1–100, default 100) and `currency` (overrides the store profile's
//! currency; orders carry none). Limits: Ecwid accepts 600 requests per minute
//! per token and answers 429 with `Retry-After` beyond it; the client paces
//! itself at 9 requests/s (burst 10).

pub mod client;
pub mod mapping;
#[cfg(feature = "sandbox")]
pub mod sandbox;
pub mod wire;

#[cfg(test)]
mod tests;

pub use client::{
    ecwid_delivery_status, sign_webhook, verify_ecwid_webhook, EcwidConnector, CLIENT_RATE,
    HEADER_SIGNATURE,
};
pub use mapping::normalize;
#[cfg(feature = "sandbox")]
pub use sandbox::{EcwidSandbox, EcwidSandboxOptions};

use crate::marketplace::{ChannelSetup, Marketplace, MarketplaceKind};
use crate::sandbox::{MarketplaceSandbox, SandboxProfile};
use std::sync::Arc;

fn build(setup: ChannelSetup) -> Result<Arc<dyn Marketplace>, String> {
    EcwidConnector::new(setup).map(|c| Arc::new(c) as Arc<dyn Marketplace>)
}

/// What the `ecwid` connector kind declares.
pub const KIND: MarketplaceKind = MarketplaceKind {
    kind: "ecwid",
    required_secrets: &["access_token", "client_secret"],
    build,
    normalize: mapping::normalize,
    sandbox: MarketplaceSandbox {
        kind: "ecwid",
        profile: sandbox_profile,
        #[cfg(feature = "sandbox")]
        router: sandbox::router,
        published_limit: "600 requests/min per token (429 with Retry-After beyond it)",
    },
};

pub const SANDBOX_STORE_ID: &str = "1003";

/// The sandbox's one account: the credentials and options it accepts.
pub fn sandbox_profile() -> SandboxProfile {
    SandboxProfile::new(
        &[
            ("access_token", "secret_sandbox_token"),
            ("client_secret", "sandbox_client_secret"),
        ],
        &[("store_id", SANDBOX_STORE_ID)],
    )
}
