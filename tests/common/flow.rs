//! The whole fulfillment flow for tests: a Shopify and an EasyPost sandbox,
//! the config that wires them (one warehouse, one carrier account), and the
//! counts that prove exactly-once from the sandboxes' side.

use super::*;
use orderhub_connectors::carriers::easypost::sandbox::{EasyPostSandbox, EasyPostSandboxOptions};

pub const EP_KEY: &str = "EZTK_test_key";
pub const EP_HOOK_SECRET: &str = "test_easypost_webhook_secret";
pub const CARRIER_ID: &str = "ep";

/// An EasyPost sandbox whose trackers move one step every `advance_every_ms`
/// (0: only when a test asks).
pub async fn easypost(advance_every_ms: u64) -> Sandbox {
    let mut opts = EasyPostSandboxOptions::with_key(EP_KEY);
    opts.advance_every_ms = advance_every_ms;
    // EasyPost keeps retrying a failed delivery for a long time; a loaded
    // test machine can be slow to answer.
    opts.webhook_attempts = 30;
    opts.webhook_retry_max_ms = 5_000;
    let sandbox = EasyPostSandbox::new(opts);
    let (addr, _h) = orderhub_connectors::sandbox::serve(sandbox.router(), "127.0.0.1:0")
        .await
        .unwrap();
    Sandbox {
        base: format!("http://{addr}"),
        http: reqwest::Client::new(),
    }
}

/// Config text: the Shopify channel of [`config_toml`], an EasyPost account
/// and one warehouse stocking every sandbox sku.
pub fn flow_toml(db_url: &str, shopify: &str, easypost: &str, extra_worker: &str) -> String {
    config_toml(db_url, shopify, extra_worker)
        .replace("max_connections = 8", "max_connections = 16")
        + &carrier_and_warehouse_toml(easypost)
}

/// The EasyPost account `CARRIER_ID` on `easypost` and warehouse `main`
/// (seller `acme`) stocking SKU-001..020, which every sandbox sells.
pub fn carrier_and_warehouse_toml(easypost: &str) -> String {
    let stock = (1..=20)
        .map(|i| format!("\"SKU-{i:03}\" = 1000000"))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        r#"
[[carriers]]
id = "{CARRIER_ID}"
kind = "easypost"
base_url = "{easypost}"
options = {{ requests_per_second = "100" }}
[carriers.secrets]
api_key = "ORDERHUB_TEST_EP_KEY"
webhook_secret = "ORDERHUB_TEST_EP_HOOK_SECRET"

[[warehouses]]
id = "main"
seller = "acme"
priority = 10
carriers = ["{CARRIER_ID}"]
address = {{ name = "Acme", line1 = "417 Montgomery St", city = "San Francisco", region = "CA", postal_code = "94104", country = "US" }}
stock = {{ {stock} }}
"#
    )
}

pub fn set_flow_secrets() {
    set_secrets();
    std::env::set_var("ORDERHUB_TEST_EP_KEY", EP_KEY);
    std::env::set_var("ORDERHUB_TEST_EP_HOOK_SECRET", EP_HOOK_SECRET);
}

/// Tell EasyPost where orderhub takes tracker webhooks.
pub async fn register_webhook(easypost: &Sandbox, orderhub_addr: std::net::SocketAddr) {
    let r = easypost
        .http
        .post(format!("{}/v2/webhooks", easypost.base))
        .bearer_auth(EP_KEY)
        .json(&json!({ "webhook": {
            "url": format!("http://{orderhub_addr}/webhooks/carriers/{CARRIER_ID}"),
            "webhook_secret": EP_HOOK_SECRET,
        }}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
}

/// What the sandboxes recorded, reduced to what exactly-once is about.
#[derive(Debug)]
pub struct Recorded {
    /// Labels bought per orderhub shipment (by the reference orderhub sends).
    pub labels: BTreeMap<String, u64>,
    /// Fulfillments created per Shopify order.
    pub fulfillments: BTreeMap<String, u64>,
}

impl Recorded {
    pub async fn read(shopify: &Sandbox, easypost: &Sandbox) -> Recorded {
        let counts = |v: &Value| -> BTreeMap<String, u64> {
            v.as_object()
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| (k.clone(), v.as_u64().unwrap_or(0)))
                        .collect()
                })
                .unwrap_or_default()
        };
        let ep = easypost.stats().await;
        let sh = shopify.stats().await;
        Recorded {
            labels: counts(&ep["recorded"]["labels_by_reference"]),
            fulfillments: counts(&sh["recorded"]["fulfillments"]),
        }
    }

    pub fn double_labels(&self) -> usize {
        self.labels.values().filter(|n| **n > 1).count()
    }

    pub fn double_fulfillments(&self) -> usize {
        self.fulfillments.values().filter(|n| **n > 1).count()
    }
}

use std::collections::BTreeMap;
