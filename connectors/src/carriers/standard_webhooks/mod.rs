//! Standard Webhooks: a tracking-events-only receiver, so a carrier or an
//! in-house shipping system that follows the Standard Webhooks specification
//! (<https://www.standardwebhooks.com>) plugs in with config alone.
//!
//! Declares: kind `standard_webhooks`; secret `webhook_secret` (`whsec_` +
//! base64 of the signing key, at least 24 bytes as the specification asks; a
//! malformed one is refused by `build`, naming the problem, never the secret).
//! No `base_url` and no options are used: nothing is ever called.
//!
//! This account buys no labels: `create_shipment`, `shipment` and `buy`
//! answer a permanent error (labels are bought outside orderhub), and
//! [`CarrierCapabilities`] says `buys_labels: false`, `voids: false`.
//!
//! # Authenticity
//!
//! Every delivery carries `webhook-id`, `webhook-timestamp` (Unix seconds)
//! and `webhook-signature` (space-separated `v1,<base64 HMAC-SHA256>` entries,
//! one per active key, so secrets can rotate). The signed content is
//! `{webhook-id}.{webhook-timestamp}.{raw body}`. A delivery is accepted when
//! one `v1` entry matches (compared in constant time) and the timestamp is
//! within 5 minutes of now, either way. Checked on the raw bytes with the
//! `standardwebhooks` crate (the specification's own Rust library); anything
//! else fails closed. `delivery_id` is `webhook-id` (the same for a retried
//! or replayed event), `topic` is the payload's `type`.
//!
//! # Payload
//!
//! The specification's recommended envelope `{"type", "timestamp", "data"}`,
//! with one event type orderhub reads, `tracking.updated` (others are
//! acknowledged and ignored):
//!
//! ```json
//! {
//!   "type": "tracking.updated",
//!   "timestamp": "2026-11-20T15:04:05Z",
//!   "data": {
//!     "tracking_code": "ZX123456789",
//!     "carrier": "Acme Freight",
//!     "carrier_shipment_id": "shp-881",
//!     "status": "in_transit",
//!     "carrier_status": "DEPARTED_HUB",
//!     "public_url": "https://track.example.com/ZX123456789",
//!     "events": [
//!       {"status": "pre_transit", "carrier_status": "LABEL_PRINTED",
//!        "message": "Label printed", "occurred_at": "2026-11-20T09:00:00Z",
//!        "location": "Reno, NV, US"},
//!       {"status": "in_transit", "occurred_at": "2026-11-20T15:00:00+01:00"}
//!     ]
//!   }
//! }
//! ```
//!
//! `tracking_code`, `status`, and each event's `status` and `occurred_at`
//! (RFC 3339) are required; the rest is optional. `status` uses orderhub's
//! words: `pre_transit`, `in_transit`, `out_for_delivery`,
//! `available_for_pickup`, `delivered`, `return_to_sender`, `failure`,
//! `cancelled`, `error`, `unknown`; any other word is `unknown` (kept as the
//! carrier status), never guessed. `carrier_status` defaults to `status`.
//! Events are put in time order. `carrier` is informational.
//!
//! # Sandbox
//!
//! [`sandbox`] imitates an in-house shipping system that sends such events.

pub mod mapping;
#[cfg(feature = "sandbox")]
pub mod sandbox;

#[cfg(test)]
mod tests;

pub use mapping::{tracking_update_from_payload, TRACKING_UPDATED};
#[cfg(feature = "sandbox")]
pub use sandbox::{DeliveryReport, StandardWebhooksSandbox, StandardWebhooksSandboxOptions};

use crate::carrier::{
    Carrier, CarrierCapabilities, CarrierKind, CarrierSetup, CarrierShipment, LabelRequest,
    PurchasedLabel, TrackingUpdate,
};
use crate::http::RemoteError;
use crate::marketplace::{VerifiedWebhook, WebhookError};
#[cfg(feature = "sandbox")]
use crate::sandbox::CarrierSandboxSettings;
use crate::sandbox::{CarrierSandbox, SandboxProfile};
use async_trait::async_trait;
use base64::Engine;
use std::sync::Arc;

pub const HEADER_ID: &str = "webhook-id";
pub const HEADER_TIMESTAMP: &str = "webhook-timestamp";
pub const HEADER_SIGNATURE: &str = "webhook-signature";
/// How a symmetric secret is written.
pub const SECRET_PREFIX: &str = "whsec_";
/// The specification's minimum key length for symmetric signatures.
pub const MIN_KEY_BYTES: usize = 24;

/// The signing key of a `whsec_…` secret; the error names the problem only.
pub fn parse_secret(secret: &str) -> Result<Vec<u8>, String> {
    let secret = secret.trim();
    if secret.is_empty() {
        return Err("secret `webhook_secret` is missing".into());
    }
    let Some(encoded) = secret.strip_prefix(SECRET_PREFIX) else {
        return Err(format!(
            "secret `webhook_secret` must start with `{SECRET_PREFIX}` (a Standard Webhooks symmetric secret)"
        ));
    };
    // Padded as the specification's libraries write it; unpadded is taken
    // too, as the reference Python library does.
    let key = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(encoded))
        .map_err(|_| {
            format!("secret `webhook_secret`: the part after `{SECRET_PREFIX}` is not base64")
        })?;
    if key.len() < MIN_KEY_BYTES {
        return Err(format!(
            "secret `webhook_secret` decodes to {} bytes; Standard Webhooks keys are at least {MIN_KEY_BYTES}",
            key.len()
        ));
    }
    Ok(key)
}

/// The receiver for one carrier account.
pub struct StandardWebhooksReceiver {
    account_id: String,
    webhook: standardwebhooks::Webhook,
}

impl std::fmt::Debug for StandardWebhooksReceiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StandardWebhooksReceiver")
            .field("account_id", &self.account_id)
            .finish_non_exhaustive()
    }
}

impl StandardWebhooksReceiver {
    pub fn new(setup: CarrierSetup) -> Result<Self, String> {
        let key = parse_secret(setup.secret("webhook_secret"))
            .map_err(|e| format!("standard_webhooks carrier `{}`: {e}", setup.channel_id))?;
        let webhook = standardwebhooks::Webhook::from_bytes(key)
            .map_err(|_| format!("standard_webhooks carrier `{}`: bad key", setup.channel_id))?;
        Ok(Self {
            account_id: setup.channel_id,
            webhook,
        })
    }
}

/// Verify a delivery with `webhook` (see the module docs), then read its
/// id and `type`.
pub fn verify_standard_webhook(
    webhook: &standardwebhooks::Webhook,
    headers: &http::HeaderMap,
    body: &[u8],
) -> Result<VerifiedWebhook, WebhookError> {
    use standardwebhooks::WebhookError as Sw;
    // Missing or blank headers are named; everything else is a bad signature.
    for name in [HEADER_ID, HEADER_TIMESTAMP, HEADER_SIGNATURE] {
        let present = headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| !v.trim().is_empty());
        if !present {
            return Err(WebhookError::MissingHeader(name));
        }
    }
    webhook.verify(body, headers).map_err(|e| match e {
        Sw::MissingHeader("id") => WebhookError::MissingHeader(HEADER_ID),
        Sw::MissingHeader("timestamp") => WebhookError::MissingHeader(HEADER_TIMESTAMP),
        Sw::MissingHeader(_) => WebhookError::MissingHeader(HEADER_SIGNATURE),
        _ => WebhookError::BadSignature,
    })?;
    let delivery_id = headers
        .get(HEADER_ID)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .unwrap_or_default()
        .to_string();
    // Signed by the sender but not an envelope: not a forgery, refused as an
    // event orderhub cannot handle.
    let topic = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            v.get("type")
                .and_then(|t| t.as_str())
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(str::to_string)
        })
        .ok_or_else(|| {
            WebhookError::UnsupportedTopic(
                "signed body is not a Standard Webhooks envelope (no `type`)".into(),
            )
        })?;
    Ok(VerifiedWebhook { delivery_id, topic })
}

fn no_labels() -> RemoteError {
    RemoteError::permanent(
        "this standard_webhooks carrier account only receives tracking events; its labels are bought outside orderhub",
    )
}

#[async_trait]
impl Carrier for StandardWebhooksReceiver {
    fn kind(&self) -> &'static str {
        KIND.kind
    }

    fn capabilities(&self) -> CarrierCapabilities {
        CarrierCapabilities {
            buys_labels: false,
            multi_parcel: false,
            voids: false,
            label_formats: &[],
        }
    }

    async fn create_shipment(&self, _req: &LabelRequest) -> Result<CarrierShipment, RemoteError> {
        Err(no_labels())
    }

    async fn shipment(&self, _carrier_shipment_id: &str) -> Result<CarrierShipment, RemoteError> {
        Err(no_labels())
    }

    async fn buy(
        &self,
        _carrier_shipment_id: &str,
        _rate_id: &str,
    ) -> Result<PurchasedLabel, RemoteError> {
        Err(no_labels())
    }

    fn verify_webhook(
        &self,
        headers: &http::HeaderMap,
        body: &[u8],
    ) -> Result<VerifiedWebhook, WebhookError> {
        verify_standard_webhook(&self.webhook, headers, body)
    }

    fn tracking_update(&self, body: &[u8]) -> Result<Option<TrackingUpdate>, String> {
        mapping::tracking_update_from_payload(body)
    }
}

fn build(setup: CarrierSetup) -> Result<Arc<dyn Carrier>, String> {
    StandardWebhooksReceiver::new(setup).map(|c| Arc::new(c) as Arc<dyn Carrier>)
}

/// What the `standard_webhooks` carrier kind declares.
pub const KIND: CarrierKind = CarrierKind {
    kind: "standard_webhooks",
    required_secrets: &["webhook_secret"],
    optional_secrets: &[],
    build,
    sandbox: CarrierSandbox {
        kind: "standard_webhooks",
        profile: sandbox_profile,
        #[cfg(feature = "sandbox")]
        router: sandbox_router,
        published_limit: "none: the system only sends events; orderhub calls no API",
    },
};

/// The sandbox's one account: its signing secret.
pub fn sandbox_profile() -> SandboxProfile {
    SandboxProfile::new(&[("webhook_secret", SANDBOX_SECRET)], &[])
}

#[cfg(feature = "sandbox")]
fn sandbox_router(profile: &SandboxProfile, settings: CarrierSandboxSettings) -> axum::Router {
    let opts = StandardWebhooksSandboxOptions {
        secret: profile.secret("webhook_secret").to_string(),
        advance_every_ms: settings.advance_every_ms,
        ..StandardWebhooksSandboxOptions::default()
    };
    StandardWebhooksSandbox::new(opts).router()
}

/// The sandbox profile's secret (24 bytes, base64, `whsec_`).
pub const SANDBOX_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
