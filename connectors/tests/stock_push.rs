//! Every marketplace connector's `push_stock` against its own sandbox at
//! published limits, over real HTTP: the quantity lands (the sandbox records
//! it), the sku lookup is cached (a second push costs one request, two for
//! Etsy, whose inventory update is a read and a write), a sku the channel
//! does not list is `NotListed`, and nothing is throttled.

use orderhub_connectors::sandbox::{serve, SandboxLimits};
use orderhub_connectors::{marketplace_kinds, ChannelSetup, StockPush, StockPushOutcome};
use std::time::Duration;

async fn stats(http: &reqwest::Client, base: &str) -> serde_json::Value {
    http.get(format!("{base}/_sandbox/stats"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

fn total(stats: &serde_json::Value) -> u64 {
    stats["requests_by_path"]
        .as_object()
        .unwrap()
        .values()
        .filter_map(|v| v.as_u64())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_connector_pushes_stock_to_its_sandbox() {
    let http = reqwest::Client::new();
    for kind in marketplace_kinds() {
        let profile = (kind.sandbox.profile)();
        let router = (kind.sandbox.router)(&profile, SandboxLimits::Published);
        let (addr, _h) = serve(router, "127.0.0.1:0").await.unwrap();
        let base = format!("http://{addr}");
        http.post(format!("{base}/_sandbox/listings"))
            .json(&serde_json::json!({ "unlist": ["SKU-009"] }))
            .send()
            .await
            .unwrap()
            .error_for_status()
            .unwrap();
        let connector = (kind.build)(ChannelSetup {
            channel_id: format!("t-{}", kind.kind),
            base_url: base.clone(),
            options: profile.options.clone(),
            secrets: profile.secrets.clone(),
            request_timeout: Duration::from_secs(5),
        })
        .unwrap();
        let push = |sku: &str, available: i64| StockPush {
            sku: sku.into(),
            available,
        };
        let k = kind.kind;
        assert_eq!(
            connector.push_stock(&push("SKU-005", 7)).await.unwrap(),
            StockPushOutcome::Updated,
            "{k}"
        );
        let s = stats(&http, &base).await;
        assert_eq!(s["recorded"]["stock"]["SKU-005"], 7, "{k}: {s}");
        let before = total(&s);
        assert_eq!(
            connector.push_stock(&push("SKU-005", 6)).await.unwrap(),
            StockPushOutcome::Updated,
            "{k}"
        );
        let s = stats(&http, &base).await;
        assert_eq!(s["recorded"]["stock"]["SKU-005"], 6, "{k}: {s}");
        assert_eq!(s["recorded"]["stock_pushes"]["SKU-005"], 2, "{k}: {s}");
        let per_push = if k == "etsy" { 2 } else { 1 };
        assert_eq!(total(&s) - before, per_push, "{k}: a cached push: {s}");
        // Negative levels are never sent.
        connector.push_stock(&push("SKU-005", -4)).await.unwrap();
        let s = stats(&http, &base).await;
        assert_eq!(s["recorded"]["stock"]["SKU-005"], 0, "{k}: {s}");
        assert_eq!(
            connector.push_stock(&push("SKU-009", 3)).await.unwrap(),
            StockPushOutcome::NotListed,
            "{k}"
        );
        let s = stats(&http, &base).await;
        assert!(s["recorded"]["stock"].get("SKU-009").is_none(), "{k}: {s}");
        assert_eq!(s["throttled"], 0, "{k}: {s}");
    }
}
