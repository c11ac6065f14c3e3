//! The `orderhub` binary as a user runs it: config errors, normalize, and a
//! worker killed mid-sync (invariant 2).

mod common;

use common::*;
use serde_json::{json, Value};
use std::process::{Command, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_orderhub");
const TESTDATA: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../connectors/src/marketplaces/shopify/testdata"
);

#[test]
fn a_bad_config_lists_every_problem_and_exits_non_zero() {
    let dir = std::env::temp_dir().join(format!("orderhub-cfg-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("bad.toml");
    std::fs::write(
        &file,
        r#"
[database]
url = "mysql://nope"
[[channels]]
id = "a"
kind = "shopify"
seller = "s"
base_url = "not a url"
[channels.secrets]
access_token = "ORDERHUB_UNSET_VAR_1"
[[channels]]
id = "a"
kind = "amazin"
seller = "s"
base_url = "https://x.example"
"#,
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["--config", file.to_str().unwrap(), "run"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    for needle in [
        "database.url",
        "base_url",
        "duplicate channel id",
        "unknown connector kind `amazin`",
        "ORDERHUB_UNSET_VAR_1 is not set",
        "missing secret `webhook_secret`",
    ] {
        assert!(err.contains(needle), "missing `{needle}` in:\n{err}");
    }
    let missing = Command::new(BIN)
        .args(["--config", "/nonexistent.toml", "run"])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2));
}

#[test]
fn normalize_prints_the_core_order_and_names_the_bad_field() {
    let out = Command::new(BIN)
        .args([
            "normalize",
            "--channel",
            "shopify",
            &format!("{TESTDATA}/webhook_order.json"),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    for k in [
        "channel",
        "external_id",
        "status",
        "payment_status",
        "placed_at",
        "updated_at",
        "currency",
        "subtotal",
        "shipping_total",
        "tax_total",
        "discount_total",
        "total",
        "ship_to",
        "lines",
    ] {
        assert!(v.get(k).is_some(), "normalized order lacks `{k}`: {v}");
    }
    assert_eq!(v["channel"], "shopify");
    assert!(v["total"].is_string(), "money is a decimal string");

    let dir = std::env::temp_dir().join(format!("orderhub-norm-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut bad: Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{TESTDATA}/webhook_order.json")).unwrap(),
    )
    .unwrap();
    bad["total_price"] = json!("twelve");
    let bad_file = dir.join("bad.json");
    std::fs::write(&bad_file, bad.to_string()).unwrap();
    let out = Command::new(BIN)
        .args([
            "normalize",
            "--channel",
            "shopify",
            bad_file.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("total_price"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let out = Command::new(BIN)
        .args(["normalize", "--channel", "nope", "x"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = Command::new(BIN)
        .args(["normalize", "--channel", "shopify", "/nonexistent"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
}

/// Kill the worker process while it is between fetching and storing pages,
/// restart it, and every order arrives exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_worker_mid_sync_loses_no_order() {
    let sb = Sandbox::start().await;
    sb.seed(600, 100).await;
    // Slow pages so the kill lands mid-sync.
    sb.faults(json!({ "rate_slow": 1.0, "slow_ms": 300 })).await;
    let url = fresh_db(Db::Sqlite).await;
    let dir = std::env::temp_dir().join(format!("orderhub-kill-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("c.toml");
    std::fs::write(
        &cfg,
        config_toml(&url, &sb.base, "").replace(
            "[[channels]]",
            "[[channels]]\noptions = { page_size = \"50\" }",
        ),
    )
    .unwrap();
    let spawn = || {
        Command::new(BIN)
            .args(["--config", cfg.to_str().unwrap(), "run"])
            .env("ORDERHUB_TEST_SHOPIFY_TOKEN", TOKEN)
            .env("ORDERHUB_TEST_SHOPIFY_WEBHOOK_SECRET", HOOK_SECRET)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    let store = orderhub_core::store::Store::connect(&url, 2).await.unwrap();
    let mut child = spawn();
    let started = wait_for(Duration::from_secs(30), || {
        let s = store.clone();
        async move { s.count_orders(None).await.unwrap_or(0) >= 100 }
    })
    .await;
    assert!(started, "the worker started syncing");
    child.kill().unwrap(); // SIGKILL: no graceful shutdown
    child.wait().unwrap();
    let at_kill = store.count_orders(None).await.unwrap();
    assert!(at_kill < 600, "killed mid-sync ({at_kill} stored)");
    sb.faults(json!({})).await;
    let mut child = spawn();
    let all = wait_for(Duration::from_secs(60), || {
        let s = store.clone();
        async move { s.count_orders(None).await.unwrap_or(0) >= 600 }
    })
    .await;
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(all, "every order arrives after the restart");
    assert_eq!(store.count_orders(None).await.unwrap(), 600);
}

/// `orderhub normalize --channel KIND FILE` on each channel's documented
/// example order: the core order, with totals that add up.
#[test]
fn normalize_reads_every_channels_documented_order() {
    let marketplaces = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../connectors/src/marketplaces"
    );
    for (kind, file) in [
        ("woocommerce", "woocommerce/testdata/order.json"),
        ("ecwid", "ecwid/testdata/get_order.json"),
        ("ebay", "ebay/testdata/get_order.json"),
        ("etsy", "etsy/testdata/get_receipt.json"),
        ("amazon", "amazon/testdata/order.json"),
        ("tiktok", "tiktok/testdata/order.json"),
    ] {
        let out = Command::new(BIN)
            .args([
                "normalize",
                "--channel",
                kind,
                &format!("{marketplaces}/{file}"),
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{kind}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let order: orderhub_core::Order = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{kind}: not a core order: {e}"));
        assert_eq!(order.channel, kind);
        assert!(!order.lines.is_empty(), "{kind}: lines");
        order
            .check_totals()
            .unwrap_or_else(|e| panic!("{kind}: {e}"));
        assert!(!order.external_id.is_empty(), "{kind}: external id");
    }
}
