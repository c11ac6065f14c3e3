//! Shippo: rate a shipment (`POST /shipments`, multi-piece), buy a label
//! exactly once (`POST /transactions`, reconciled through
//! `GET /transactions?rate=`), void it (`POST /refunds`), and read
//! `track_updated` webhooks authenticated by a token in the webhook URL
//! (and, where Shippo has provisioned it, `Shippo-Auth-Signature`).
//!
//! Declares: kind `shippo`; secrets `api_token` (sent as
//! `Authorization: ShippoToken <token>`) and `webhook_token` (the `?token=`
//! the webhook URL registered at Shippo carries); optional option (or
//! secret, where config allows one not declared required) `webhook_secret`
//! (the HMAC secret, only when Shippo signs the account's webhooks); option `requests_per_second` (client-side pace, default 90% of
//! Shippo's POST limit for the token: 7.5/s live, 0.75/s test). `base_url`
//! defaults to `https://api.goshippo.com`.

pub mod client;
pub mod mapping;
#[cfg(feature = "sandbox")]
pub mod sandbox;
pub mod wire;

#[cfg(test)]
mod tests;

pub use client::{
    delivery_id, sign_webhook, verify_shippo_webhook, ShippoConnector, DEFAULT_BASE_URL,
    HEADER_SIGNATURE, LABEL_FORMATS, TOKEN_PARAM,
};
pub use mapping::{status_from_wire, tracking_update_from_event, TRACK_UPDATED};
#[cfg(feature = "sandbox")]
pub use sandbox::{DeliveryReport, ShippoLimits, ShippoSandbox, ShippoSandboxOptions, TRACK_STEPS};

use crate::carrier::{Carrier, CarrierKind, CarrierSetup};
use crate::sandbox::{CarrierSandbox, SandboxProfile};
#[cfg(feature = "sandbox")]
use crate::sandbox::{CarrierSandboxSettings, SandboxLimits};
use std::sync::Arc;

fn build(setup: CarrierSetup) -> Result<Arc<dyn Carrier>, String> {
    ShippoConnector::new(setup).map(|c| Arc::new(c) as Arc<dyn Carrier>)
}

/// What the `shippo` carrier kind declares.
pub const KIND: CarrierKind = CarrierKind {
    kind: "shippo",
    required_secrets: &["api_token", "webhook_token"],
    optional_secrets: &["webhook_secret"],
    build,
    sandbox: CarrierSandbox {
        kind: "shippo",
        profile: sandbox_profile,
        #[cfg(feature = "sandbox")]
        router: sandbox_router,
        published_limit: "Shippo's published limits per test token and minute: POST 50 per resource, GET of one object 400, GET of a list 10; 429 with Retry-After",
    },
};

/// The sandbox's one account: its test token, its webhook token and the query
/// its webhook URLs carry, and an HMAC secret: the sandbox account is one
/// for which Shippo has provisioned `Shippo-Auth-Signature`, so a body
/// tampered with under a valid URL token is refused too.
pub fn sandbox_profile() -> SandboxProfile {
    let mut p = SandboxProfile::new(
        &[
            ("api_token", DEFAULT_API_TOKEN),
            ("webhook_token", DEFAULT_WEBHOOK_TOKEN),
            ("webhook_secret", DEFAULT_WEBHOOK_SECRET),
        ],
        &[],
    );
    p.webhook_query = format!("?{TOKEN_PARAM}={DEFAULT_WEBHOOK_TOKEN}");
    p
}

#[cfg(feature = "sandbox")]
fn sandbox_router(profile: &SandboxProfile, settings: CarrierSandboxSettings) -> axum::Router {
    let mut opts = ShippoSandboxOptions::with_token(profile.secret("api_token"));
    opts.hmac_secret = profile
        .secrets
        .get("webhook_secret")
        .filter(|s| !s.is_empty())
        .cloned();
    opts.advance_every_ms = settings.advance_every_ms;
    opts.limits = match settings.limits {
        SandboxLimits::Published => ShippoLimits::TEST_TOKEN,
        SandboxLimits::Volume => ShippoLimits::VOLUME,
    };
    ShippoSandbox::new(opts).router()
}

/// The sandbox's test token (Shippo test tokens start with `shippo_test_`).
pub const DEFAULT_API_TOKEN: &str = "shippo_test_sandbox0123456789abcdef0123456789abcdef";
/// The token the sandbox's webhook URLs carry (`?token=`).
pub const DEFAULT_WEBHOOK_TOKEN: &str = "sandbox_shippo_webhook_token";
/// The HMAC secret the sandbox profile signs webhooks with.
pub const DEFAULT_WEBHOOK_SECRET: &str = "sandbox_shippo_hmac_secret";
