//! TikTok Shop: orders through the Partner API 202309
//! (`POST /order/202309/orders/search?…&sort_field=update_time&sort_order=ASC`
//! with `{"update_time_ge": unix_s}`, `page_token` paging), order detail
//! (`GET /order/202309/orders?ids=`), tracking with
//! `POST /fulfillment/202309/packages/{package_id}/ship` (`self_shipment`
//! with a `shipping_provider_id` from
//! `GET /logistics/202309/delivery_options/{id}/shipping_providers`), and
//! order status webhooks (type 1, id only) signed in `Authorization`.
//!
//! Every call carries `app_key`, `timestamp`, `shop_cipher` and `sign`
//! (hex HMAC-SHA256 keyed by the app secret over secret + path + sorted
//! params + body + secret) and the `x-tts-access-token` header.
//!
//! Declares: kind `tiktok`; secrets `app_key`, `app_secret`, `access_token`
//! (token refresh is not implemented: an expired token shows as auth_failed);
//! options `shop_cipher` (required) and `page_size` (1–100, default 100).
//! TikTok lists one line item per unit; units with the same SKU and prices
//! fold into one line whose external id is the unit ids joined with `+`.
//! Limits: 50 requests/s per shop per API (assumed, 429 with code 36009004
//! beyond it); the client paces itself at 20 requests/s (burst 5) overall.

pub mod client;
pub mod mapping;
#[cfg(feature = "sandbox")]
pub mod sandbox;
pub mod wire;

#[cfg(test)]
mod tests;

pub use client::{sign_request, sign_webhook, TiktokConnector, CLIENT_RATE, HEADER_SIGNATURE};
pub use mapping::normalize;
#[cfg(feature = "sandbox")]
pub use sandbox::TiktokSandbox;

use crate::marketplace::{ChannelSetup, Marketplace, MarketplaceKind};
use crate::sandbox::{MarketplaceSandbox, SandboxProfile};
use std::sync::Arc;

fn build(setup: ChannelSetup) -> Result<Arc<dyn Marketplace>, String> {
    TiktokConnector::new(setup).map(|c| Arc::new(c) as Arc<dyn Marketplace>)
}

/// What the `tiktok` connector kind declares.
pub const KIND: MarketplaceKind = MarketplaceKind {
    kind: "tiktok",
    required_secrets: &["app_key", "app_secret", "access_token"],
    build,
    normalize: mapping::normalize,
    sandbox: MarketplaceSandbox {
        kind: "tiktok",
        profile: sandbox_profile,
        #[cfg(feature = "sandbox")]
        router: sandbox::router,
        published_limit: "50 requests/s per shop per API (429, code 36009004, beyond it)",
    },
};

/// The sandbox's one account: the credentials and options it accepts.
pub fn sandbox_profile() -> SandboxProfile {
    SandboxProfile::new(
        &[
            ("app_key", "6a1sandboxkey"),
            ("app_secret", "sandbox_app_secret"),
            ("access_token", "ROW_sandbox_access_token"),
        ],
        &[("shop_cipher", "ROW_sandbox_cipher")],
    )
}
