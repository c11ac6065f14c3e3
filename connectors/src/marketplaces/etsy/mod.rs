//! Etsy: orders through the Open API v3 (`GET /v3/application/shops/{shop_id}/
//! receipts?min_last_modified=…&sort_on=updated&sort_order=asc&limit=&offset=`;
//! receipts are orders, their `transactions[]` the lines, money as
//! `{amount, divisor, currency_code}`), tracking back with `POST
//! /v3/application/shops/{shop_id}/receipts/{receipt_id}/tracking`
//! (`tracking_code`, `carrier_name`, `send_bcc`, form-encoded).
//!
//! Declares: kind `etsy`; secrets `keystring` (the app's API key, also the
//! OAuth `client_id`), `shared_secret` (sent with it as `x-api-key:
//! keystring:shared_secret`) and `refresh_token` (the seller's OAuth 2 grant,
//! exchanged at `POST /v3/public/oauth/token` for hour-long bearer tokens);
//! options `shop_id` (required, numeric) and `page_size` (1–100, default 100).
//! Limits: 10 requests/s and 10,000 per rolling 24 h per app (429 beyond
//! them, `x-limit-per-second`/`x-remaining-this-second`/`x-limit-per-day`/
//! `x-remaining-today` on successes); the client paces at 7/s, burst 2.
//! Webhooks: Etsy sends `order.paid` (commercial apps only) carrying only the
//! receipt URL, signed per Standard Webhooks with a signing secret this kind
//! does not declare yet, so deliveries are refused and the sandbox's webhook
//! control route answers 501; polling carries the sync.

pub mod client;
pub mod mapping;
#[cfg(feature = "sandbox")]
pub mod sandbox;
pub mod wire;

#[cfg(test)]
mod tests;

pub use client::{
    etsy_carrier_name, sign_webhook, verify_etsy_webhook, EtsyConnector, CLIENT_RATE,
};
pub use mapping::normalize;
#[cfg(feature = "sandbox")]
pub use sandbox::{EtsySandbox, EtsySandboxOptions};

use crate::marketplace::{ChannelSetup, Marketplace, MarketplaceKind};
use crate::sandbox::{MarketplaceSandbox, SandboxProfile};
use std::sync::Arc;

/// The secrets an Etsy channel needs.
pub const SECRETS: &[&str] = &["keystring", "shared_secret", "refresh_token"];

fn build(setup: ChannelSetup) -> Result<Arc<dyn Marketplace>, String> {
    EtsyConnector::new(setup).map(|c| Arc::new(c) as Arc<dyn Marketplace>)
}

/// What the `etsy` connector kind declares.
pub const KIND: MarketplaceKind = MarketplaceKind {
    kind: "etsy",
    required_secrets: SECRETS,
    build,
    normalize: mapping::normalize,
    sandbox: MarketplaceSandbox {
        kind: "etsy",
        profile: sandbox_profile,
        #[cfg(feature = "sandbox")]
        router: sandbox::router,
        published_limit: "10 requests/s and 10,000 requests per rolling 24 h per app (429 with retry-after beyond them)",
    },
};

pub const SANDBOX_SHOP_ID: &str = "41224728";

/// The sandbox's one account: the credentials and options it accepts.
pub fn sandbox_profile() -> SandboxProfile {
    SandboxProfile::new(
        &[
            ("keystring", "sbx1keystring2etsy3app"),
            ("shared_secret", "sbxsharedsecret"),
            ("refresh_token", "87654321.sbx-refresh-token"),
        ],
        &[("shop_id", SANDBOX_SHOP_ID)],
    )
}
