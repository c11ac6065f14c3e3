//! What every marketplace and carrier sandbox declares, so tests, the demo
//! and `orderhub sandbox KIND` start any of them the same way. The routers
//! need the `sandbox` feature; the profiles (credentials) do not.

use std::collections::BTreeMap;

/// How a channel pointed at a sandbox is configured: the credentials the
/// sandbox accepts (keyed by the names in the connector's `required_secrets`)
/// and the channel options the connector needs for it (a store id, ...).
#[derive(Debug, Clone, Default)]
pub struct SandboxProfile {
    pub secrets: BTreeMap<String, String>,
    pub options: BTreeMap<String, String>,
    /// What goes after orderhub's webhook URL when the vendor authenticates
    /// webhooks by a token in the URL (`?token=…`); empty otherwise.
    pub webhook_query: String,
}

/// Which limits a sandbox enforces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SandboxLimits {
    /// The vendor's published limits, exactly (the conformance suite uses these).
    Published,
    /// Still enforced and reported the same way, but large enough for volume
    /// runs (the demo's thousands of orders, benchmarks).
    Volume,
}

/// A marketplace sandbox as a connector kind declares it.
pub struct MarketplaceSandbox {
    /// The connector kind it imitates (`woocommerce`).
    pub kind: &'static str,
    /// The fixed credentials and options of the sandbox's one store.
    pub profile: fn() -> SandboxProfile,
    /// The vendor's routes and the control routes (see the module docs of
    /// [`crate::sandbox`]), accepting `profile`'s credentials.
    #[cfg(feature = "sandbox")]
    pub router: fn(&SandboxProfile, SandboxLimits) -> axum::Router,
    /// The published limit the sandbox enforces, in words, for notes and the
    /// demo summary (`600 requests/min per token`).
    pub published_limit: &'static str,
}

impl SandboxProfile {
    pub fn new(secrets: &[(&str, &str)], options: &[(&str, &str)]) -> Self {
        let map = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        Self {
            secrets: map(secrets),
            options: map(options),
            webhook_query: String::new(),
        }
    }

    pub fn secret(&self, name: &str) -> &str {
        self.secrets
            .get(name)
            .map(String::as_str)
            .unwrap_or_default()
    }
}

/// How a carrier sandbox runs.
#[derive(Debug, Clone, Copy)]
pub struct CarrierSandboxSettings {
    /// Every label not yet delivered moves one step this often; 0 = only when
    /// asked through `/_sandbox/trackers/...`.
    pub advance_every_ms: u64,
    pub limits: SandboxLimits,
}

impl Default for CarrierSandboxSettings {
    fn default() -> Self {
        Self {
            advance_every_ms: 0,
            limits: SandboxLimits::Published,
        }
    }
}

/// A carrier sandbox as a carrier kind declares it.
pub struct CarrierSandbox {
    /// The carrier kind it imitates (`shippo`).
    pub kind: &'static str,
    /// The fixed credentials (keyed by the kind's `required_secrets`) and
    /// options the sandbox's one account accepts.
    pub profile: fn() -> SandboxProfile,
    /// The vendor's routes and the control routes above.
    #[cfg(feature = "sandbox")]
    pub router: fn(&SandboxProfile, CarrierSandboxSettings) -> axum::Router,
    /// The published limit it enforces, in words.
    pub published_limit: &'static str,
}
