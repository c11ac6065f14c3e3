//! Sendcloud: create a parcel without a label and rate it with the shipping
//! methods that serve it (`POST /api/v2/parcels`, `GET
//! /api/v2/shipping_methods`), announce it to buy the label exactly once
//! (`PUT /api/v2/parcels` with `request_label: true`, reconciled through `GET
//! /api/v2/parcels/{id}`), cancel it (`POST /api/v2/parcels/{id}/cancel`) and
//! read `parcel_status_changed` webhooks signed with `Sendcloud-Signature`.
//!
//! Declares: kind `sendcloud`; secrets `public_key` and `secret_key` (HTTP
//! Basic auth; the secret key also signs webhooks) and, optionally,
//! `webhook_signature_key` for integrations that sign with a separate key;
//! options `requests_per_second` (POST/PUT pace, default 100/min),
//! `read_requests_per_second` (GET pace, default 1000/min), `currency`
//! (default EUR) and `sender_address` (a Sendcloud sender address id).
//! `base_url` defaults to `https://panel.sendcloud.sc`.

pub mod client;
pub mod mapping;
#[cfg(feature = "sandbox")]
pub mod sandbox;
pub mod wire;

#[cfg(test)]
mod tests;

pub use client::{
    api_message, delivery_id, sign_webhook, verify_sendcloud_webhook, SendcloudConnector,
    DEFAULT_BASE_URL, DEFAULT_CURRENCY, DEFAULT_READ_REQUESTS_PER_SECOND,
    DEFAULT_REQUESTS_PER_SECOND, HEADER_SIGNATURE,
};
pub use mapping::{
    status_for_id, tracking_update_from_webhook, PARCEL_STATUS_CHANGED, STATUS_TABLE,
};
#[cfg(feature = "sandbox")]
pub use sandbox::{DeliveryReport, SendcloudSandbox, SendcloudSandboxOptions, TRACKER_STEPS};

use crate::carrier::{Carrier, CarrierKind, CarrierSetup};
#[cfg(feature = "sandbox")]
use crate::sandbox::CarrierSandboxSettings;
use crate::sandbox::{CarrierSandbox, SandboxProfile};
use std::sync::Arc;

fn build(setup: CarrierSetup) -> Result<Arc<dyn Carrier>, String> {
    SendcloudConnector::new(setup).map(|c| Arc::new(c) as Arc<dyn Carrier>)
}

/// What the `sendcloud` carrier kind declares.
pub const KIND: CarrierKind = CarrierKind {
    kind: "sendcloud",
    required_secrets: &["public_key", "secret_key"],
    optional_secrets: &["webhook_signature_key"],
    build,
    sandbox: CarrierSandbox {
        kind: "sendcloud",
        profile: sandbox_profile,
        #[cfg(feature = "sandbox")]
        router: sandbox_router,
        published_limit: "GET 1000 requests/min; POST/PUT/PATCH/DELETE 100 requests/min, bursts of 15/s; 429 with Retry-After",
    },
};

/// The sandbox's one account: its API key pair.
pub fn sandbox_profile() -> SandboxProfile {
    SandboxProfile::new(
        &[
            ("public_key", DEFAULT_PUBLIC_KEY),
            ("secret_key", DEFAULT_SECRET_KEY),
        ],
        &[],
    )
}

#[cfg(feature = "sandbox")]
fn sandbox_router(profile: &SandboxProfile, settings: CarrierSandboxSettings) -> axum::Router {
    let mut opts = SendcloudSandboxOptions::with_keys(
        profile.secret("public_key"),
        profile.secret("secret_key"),
    );
    opts.advance_every_ms = settings.advance_every_ms;
    opts.limits = settings.limits;
    SendcloudSandbox::new(opts).router()
}

pub const DEFAULT_PUBLIC_KEY: &str = "sandbox_sendcloud_public_key";
pub const DEFAULT_SECRET_KEY: &str = "sandbox_sendcloud_secret_key";
