//! Scale-out on PostgreSQL with real `orderhub run` processes: a channel is
//! polled under a lease with an expiry. A process killed (SIGKILL) while it
//! holds the lease leaves it behind; another process takes the channel over
//! only once that lease has expired, and finishes the sync with nothing lost
//! or doubled.

mod common;

use common::*;
use orderhub_core::store::Store;
use serde_json::json;
use std::process::{Command, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_orderhub");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_processs_channel_lease_is_taken_over_after_it_expires_postgres() {
    let shopify = Sandbox::start().await;
    shopify.seed(120, 100).await;
    // Every page answers slowly (within the client's timeout), so a poll
    // holds the lease long enough to be killed in the middle of it.
    shopify
        .faults(json!({ "rate_slow": 1.0, "slow_ms": 700, "paths": ["/graphql"] }))
        .await;
    let url = fresh_db(Db::Postgres).await;
    let toml =
        config_toml(&url, &shopify.base, "").replace("lease_ttl_secs = 3", "lease_ttl_secs = 4");
    let dir =
        std::env::temp_dir().join(format!("orderhub-lease-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("c.toml");
    std::fs::write(&cfg, toml).unwrap();
    let spawn = || {
        Command::new(BIN)
            .args(["--config", cfg.to_str().unwrap(), "run"])
            .env("ORDERHUB_TEST_SHOPIFY_TOKEN", TOKEN)
            .env("ORDERHUB_TEST_SHOPIFY_WEBHOOK_SECRET", HOOK_SECRET)
            .env("ORDERHUB_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    // `orderhub migrate` first, so the test's store sees the schema at once.
    let status = Command::new(BIN)
        .args(["--config", cfg.to_str().unwrap(), "migrate"])
        .env("ORDERHUB_TEST_SHOPIFY_TOKEN", TOKEN)
        .env("ORDERHUB_TEST_SHOPIFY_WEBHOOK_SECRET", HOOK_SECRET)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let store = Store::connect(&url, 2).await.unwrap();

    // Process A: killed once it holds the lease and has stored a page.
    let mut a = spawn();
    let mid_sync = wait_for(Duration::from_secs(60), || {
        let s = store.clone();
        async move {
            let leased = s
                .channel("shop")
                .await
                .ok()
                .flatten()
                .is_some_and(|c| c.lease_owner.is_some());
            leased && s.count_orders(Some("shop")).await.unwrap_or(0) > 0
        }
    })
    .await;
    assert!(mid_sync, "process A is syncing under the lease");
    a.kill().unwrap(); // SIGKILL: the lease stays behind
    a.wait().unwrap();
    let killed_at = chrono::Utc::now();
    let left = store.channel("shop").await.unwrap().unwrap();
    let dead_owner = left
        .lease_owner
        .clone()
        .expect("the dead process's lease is left");
    let dead_until = left.lease_until_ms.expect("with its expiry");
    let stored_by_a = store.count_orders(Some("shop")).await.unwrap();
    assert!(
        stored_by_a < 120,
        "A was killed mid-sync ({stored_by_a} stored)"
    );

    // Process B: may poll only after the dead lease expired.
    shopify.faults(json!({})).await;
    let mut b = spawn();
    let done = wait_for(Duration::from_secs(90), || {
        let s = store.clone();
        async move {
            let synced = s.count_orders(Some("shop")).await.unwrap_or(0) >= 120;
            let finished = s
                .channel("shop")
                .await
                .ok()
                .flatten()
                .is_some_and(|c| c.last_success_at.is_some());
            synced && finished
        }
    })
    .await;
    let after = store.channel("shop").await.unwrap().unwrap();
    b.kill().unwrap();
    b.wait().unwrap();
    assert!(done, "process B finished the sync");
    assert_eq!(
        store.count_orders(Some("shop")).await.unwrap(),
        120,
        "no order doubled"
    );
    assert_ne!(
        after.lease_owner.as_deref(),
        Some(dead_owner.as_str()),
        "{after:?}"
    );

    // Nothing B stored before the dead lease expired.
    let orders = store
        .list_orders(&orderhub_core::store::OrderFilter {
            channel_id: Some("shop".into()),
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap();
    let first_by_b = orders
        .iter()
        .map(|o| o.synced_at)
        .filter(|t| *t > killed_at)
        .min()
        .expect("B stored orders");
    assert!(
        first_by_b.timestamp_millis() >= dead_until,
        "B stored an order at {first_by_b} while the dead lease ran to {dead_until} ms"
    );
    let success = after.last_success_at.expect("B's poll succeeded");
    assert!(success.timestamp_millis() >= dead_until);
}
