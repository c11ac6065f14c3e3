//! EasyPost: rate a parcel (`POST /v2/shipments`), buy a label exactly once
//! (`POST /v2/shipments/{id}/buy`, reconciled through `SHIPMENT.POSTAGE.EXISTS`
//! and `GET /v2/shipments/{id}`), and read tracker webhooks (`Event`s signed
//! with `X-Hmac-Signature`).
//!
//! Declares: kind `easypost`; secrets `api_key` (sent as `Authorization: Bearer`)
//! and `webhook_secret` (the secret given when the webhook was created; EasyPost
//! signs with its NFKD normalization); option `requests_per_second` (client-side
//! pace, default 10). `base_url` defaults to `https://api.easypost.com`.

pub mod client;
pub mod mapping;
#[cfg(feature = "sandbox")]
pub mod sandbox;
pub mod wire;

#[cfg(test)]
mod tests;

pub use client::{
    sign_webhook, verify_easypost_webhook, EasyPostConnector, DEFAULT_BASE_URL,
    DEFAULT_REQUESTS_PER_SECOND, HEADER_SIGNATURE, POSTAGE_EXISTS, SIGNATURE_PREFIX,
};
pub use mapping::{tracking_update_from_event, TRACKER_EVENTS};
#[cfg(feature = "sandbox")]
pub use sandbox::{DeliveryReport, EasyPostSandbox, EasyPostSandboxOptions, TRACKER_STEPS};

use crate::carrier::{Carrier, CarrierKind, CarrierSetup};
#[cfg(feature = "sandbox")]
use crate::sandbox::CarrierSandboxSettings;
use crate::sandbox::{CarrierSandbox, SandboxProfile};
use std::sync::Arc;

fn build(setup: CarrierSetup) -> Result<Arc<dyn Carrier>, String> {
    EasyPostConnector::new(setup).map(|c| Arc::new(c) as Arc<dyn Carrier>)
}

/// What the `easypost` carrier kind declares.
pub const KIND: CarrierKind = CarrierKind {
    kind: "easypost",
    required_secrets: &["api_key", "webhook_secret"],
    optional_secrets: &[],
    build,
    sandbox: CarrierSandbox {
        kind: "easypost",
        profile: sandbox_profile,
        #[cfg(feature = "sandbox")]
        router: sandbox_router,
        published_limit: "no published request limit; 429 with Retry-After on bursts",
    },
};

/// The sandbox's one account: its test key and webhook secret.
pub fn sandbox_profile() -> SandboxProfile {
    SandboxProfile::new(
        &[
            ("api_key", DEFAULT_API_KEY),
            ("webhook_secret", "sandbox_easypost_webhook_secret"),
        ],
        &[],
    )
}

#[cfg(feature = "sandbox")]
fn sandbox_router(profile: &SandboxProfile, settings: CarrierSandboxSettings) -> axum::Router {
    let mut opts = EasyPostSandboxOptions::with_key(profile.secret("api_key"));
    opts.advance_every_ms = settings.advance_every_ms;
    opts.webhook_secret =
        Some(profile.secret("webhook_secret").to_string()).filter(|s| !s.is_empty());
    EasyPostSandbox::new(opts).router()
}

/// EasyPost test keys start with `EZTK`.
pub const DEFAULT_API_KEY: &str = "EZTK_sandbox_test_key";
