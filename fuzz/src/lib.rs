//! What the fuzz targets share: the connectors built from their sandbox
//! profiles (the secrets are the sandboxes' own, so a forged delivery can
//! only pass by a verifier bug), and the checks each target makes.

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use orderhub_connectors::sandbox::SandboxProfile;
use orderhub_connectors::{
    carrier_kinds, marketplace_kind, marketplace_kinds, Carrier, ChannelSetup, Marketplace,
};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// Header names the verifiers read (marketplaces' and carriers'), plus noise.
pub const HEADER_NAMES: &[&str] = &[
    "X-Shopify-Hmac-Sha256",
    "X-Shopify-Topic",
    "X-Shopify-Webhook-Id",
    "X-WC-Webhook-Signature",
    "X-WC-Webhook-Topic",
    "X-WC-Webhook-Delivery-ID",
    "X-WC-Webhook-Resource",
    "X-WC-Webhook-Event",
    "X-WC-Webhook-ID",
    "X-WC-Webhook-Source",
    "X-Ecwid-Webhook-Signature",
    "Authorization",
    "X-Hmac-Signature",
    "Shippo-Auth-Signature",
    "Sendcloud-Signature",
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
    "content-type",
];

/// One forged delivery: which kind gets it, headers (by index into
/// [`HEADER_NAMES`]), a URL query and the raw body.
#[derive(Debug, Arbitrary)]
pub struct Delivery {
    pub kind: u8,
    pub headers: Vec<(u8, String)>,
    pub query: Option<String>,
    pub body: Vec<u8>,
}

impl Delivery {
    pub fn header_map(&self) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        for (i, v) in &self.headers {
            let name = HEADER_NAMES[*i as usize % HEADER_NAMES.len()];
            if let Ok(v) = http::HeaderValue::from_str(v) {
                h.append(name, v);
            }
        }
        h
    }
}

fn setup(profile: &SandboxProfile) -> ChannelSetup {
    ChannelSetup {
        channel_id: "fuzz".into(),
        base_url: "http://127.0.0.1:9".into(),
        options: profile.options.clone(),
        secrets: profile.secrets.clone(),
        request_timeout: Duration::from_secs(1),
    }
}

fn marketplaces() -> &'static [(&'static str, Arc<dyn Marketplace>)] {
    static M: OnceLock<Vec<(&'static str, Arc<dyn Marketplace>)>> = OnceLock::new();
    M.get_or_init(|| {
        marketplace_kinds()
            .iter()
            .map(|k| {
                let c = (k.build)(setup(&(k.sandbox.profile)()))
                    .expect("the sandbox profile builds");
                (k.kind, c)
            })
            .collect()
    })
}

fn carriers() -> &'static [(&'static str, Arc<dyn Carrier>)] {
    static C: OnceLock<Vec<(&'static str, Arc<dyn Carrier>)>> = OnceLock::new();
    C.get_or_init(|| {
        carrier_kinds()
            .iter()
            .map(|k| {
                let c = (k.build)(setup(&(k.sandbox.profile)()))
                    .expect("the sandbox profile builds");
                (k.kind, c)
            })
            .collect()
    })
}

/// A kind's normalizer on raw bytes (as text, the way `orderhub normalize`
/// and the sync read them): an error is a refusal; an accepted order is that
/// channel's.
pub fn normalize(kind: &str, data: &[u8]) {
    let k = marketplace_kind(kind).expect("a registered kind");
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(order) = (k.normalize)(text) {
        assert_eq!(order.channel, kind);
    }
}

/// A forged delivery to a marketplace's verifier; whatever it accepts is
/// mapped as the handler would.
pub fn marketplace_webhook(d: &Delivery) {
    let all = marketplaces();
    let (kind, m) = &all[d.kind as usize % all.len()];
    let headers = d.header_map();
    match m.verify_webhook(&headers, &d.body) {
        Ok(v) => {
            // WooCommerce acknowledges its unsigned creation ping (a form
            // body `webhook_id=N`), which carries no order.
            assert!(
                *kind == "woocommerce" && v.topic == "ping",
                "{kind}: a forged delivery was accepted: {v:?}"
            );
            let _ = m.order_from_webhook(&v.topic, &d.body);
        }
        Err(_) => {
            // What a verified body would map to, for every topic.
            for topic in ["orders/create", "order.updated", "order.created"] {
                let _ = m.order_from_webhook(topic, &d.body);
            }
        }
    }
}

/// A forged delivery to a carrier's verifier: never accepted.
pub fn carrier_webhook(d: &Delivery) {
    let all = carriers();
    let (kind, c) = &all[d.kind as usize % all.len()];
    let headers = d.header_map();
    if let Ok(v) = c.verify_webhook_request(d.query.as_deref(), &headers, &d.body) {
        panic!("{kind}: a forged delivery was accepted: {v:?}");
    }
}

/// A carrier's tracking event reader on raw bytes (first byte: which one).
pub fn tracking_event(data: &[u8]) {
    let Some((first, body)) = data.split_first() else {
        return;
    };
    let all = carriers();
    let (_, c) = &all[*first as usize % all.len()];
    let _ = c.tracking_update(body);
}
