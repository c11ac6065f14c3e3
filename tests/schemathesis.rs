//! Schemathesis (from PyPI) against the real server's OpenAPI document: it
//! generates requests for every operation from the document (examples,
//! boundary values, then random data) and fails on any 5xx, on an answer
//! whose status, content type or body the document does not describe.
//!
//! The server holds real data (orders synced from a Shopify sandbox, a
//! routed shipment, queued jobs) and is called with the ops token, so the
//! generated requests reach the handlers, not only the 401 path.
//!
//! `.ci/run` installs schemathesis and sets `ORDERHUB_REQUIRE_SCHEMATHESIS=1`;
//! elsewhere the test says how to install it and passes without running.
//! By hand: `pip install schemathesis` then
//! `cargo nextest run -p orderhub --test schemathesis --no-capture`.

mod common;

use common::flow::*;
use common::*;
use orderhub::app::App;
use std::process::Command;
use std::time::Duration;

const OPS_TOKEN: &str = "schemathesis-ops-token";

fn schemathesis_available() -> bool {
    Command::new("schemathesis")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_server_error_and_no_undocumented_answer() {
    if !schemathesis_available() {
        let required = std::env::var("ORDERHUB_REQUIRE_SCHEMATHESIS").is_ok_and(|v| v == "1");
        assert!(
            !required,
            "schemathesis is not installed (pip install schemathesis)"
        );
        eprintln!("SKIPPED: schemathesis is not installed (pip install schemathesis)");
        return;
    }
    std::env::set_var("ORDERHUB_API_TOKEN", OPS_TOKEN);
    set_flow_secrets();
    let shopify = Sandbox::start().await;
    shopify.seed(5, 1000).await;
    let url = fresh_db(Db::Sqlite).await;
    // The carrier account points at a closed port: a label batch fails fast
    // (a retriable failure), it never buys.
    let toml = flow_toml(&url, &shopify.base, "http://127.0.0.1:9", "")
        + "\n[shipping]\nrate_budget_ms = 300\n";
    let loaded = orderhub::settings::load_layers(None, Some(&toml)).expect("valid test config");
    let app = App::start(loaded).await.unwrap();
    assert_eq!(sync_until(&app, 5, Duration::from_secs(30)).await, 5);
    let first = app.store.list_orders(&Default::default()).await.unwrap()[0].id;
    let _ = app.store.route_order(first).await.unwrap();
    app.queue
        .push_poll(orderhub::jobs::PollChannel {
            channel_id: "shop".into(),
        })
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(orderhub::server::serve(app.clone(), listener));

    let out_dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("schemathesis");
    std::fs::create_dir_all(&out_dir).unwrap();
    let report = out_dir.join("junit.xml");
    let run = tokio::task::spawn_blocking(move || {
        Command::new("schemathesis")
            .args(["run", &format!("{base}/api/openapi.json")])
            .args(["--header", &format!("Authorization: Bearer {OPS_TOKEN}")])
            .args([
                "--checks",
                "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
            ])
            .args(["--phases", "examples,coverage,fuzzing"])
            .args(["--max-examples", "40"])
            .args(["--workers", "1"])
            .args(["--seed", "1"])
            .args(["--report", "junit", "--report-junit-path"])
            .arg(&report)
            .env("NO_COLOR", "1")
            // Its cache (.schemathesis/) goes beside the report, not into the tree.
            .current_dir(report.parent().unwrap())
            .output()
            .expect("schemathesis runs")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    println!("{stdout}");
    assert!(
        run.status.success(),
        "schemathesis found problems (exit {:?}):\n{stdout}\n{}",
        run.status.code(),
        String::from_utf8_lossy(&run.stderr)
    );
}
