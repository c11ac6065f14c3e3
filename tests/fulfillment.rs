//! The flow of one order, end to end, with the real worker against the
//! Shopify and EasyPost sandboxes, on SQLite and PostgreSQL: synced, routed,
//! one label bought per shipment (invariant 4), tracking pushed once per
//! order (invariant 5), tracker webhooks applied forward only (invariant 6),
//! delivered. Then the same with faults, and with the worker process killed.

mod common;

use common::flow::*;
use common::*;
use orderhub::app::App;
use orderhub::jobs_api::{JobFilter, JobRow};
use orderhub::queue::PUSH_TRACKING_QUEUE;
use orderhub_core::store::Store;
use orderhub_core::{OrderStatus, TrackingStatus};
use serde_json::{json, Value};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_orderhub");

/// Start the app in-process with its server, EasyPost's webhook registered.
async fn start(toml: &str, easypost: &Sandbox) -> (Arc<App>, std::net::SocketAddr) {
    set_flow_secrets();
    let loaded = orderhub::settings::load_layers(None, Some(toml)).expect("valid test config");
    let app = App::start(loaded).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    register_webhook(easypost, addr).await;
    tokio::spawn(orderhub::run(app.clone(), listener));
    (app, addr)
}

/// Every order delivered and the channel told everything: tracking and the
/// delivery.
async fn all_done(store: &Store, n: u64) -> bool {
    let Ok(c) = store.fulfillment_counts().await else {
        return false;
    };
    delivered(store).await >= n && c.tracking_pushed >= n && c.delivery_pushed >= n
}

/// Jobs in one status, of one queue or of all.
async fn jobs(store: &Store, queue: Option<&str>, status: &str) -> Vec<JobRow> {
    let filter = JobFilter {
        queue: queue.map(str::to_string),
        status: Some(status.into()),
        channel: None,
        seller: None,
        limit: 20,
    };
    orderhub::jobs_api::list(store, &filter)
        .await
        .unwrap_or_default()
}

async fn delivered(store: &Store) -> u64 {
    store
        .count_orders_in(OrderStatus::Delivered)
        .await
        .unwrap_or(0)
}

/// Every order delivered, one label per shipment, one fulfillment per order,
/// every tracking push recorded by the store.
async fn assert_exactly_once(store: &Store, shopify: &Sandbox, easypost: &Sandbox, n: u64) {
    assert_eq!(store.count_orders(None).await.unwrap(), n);
    assert_eq!(delivered(store).await, n, "every order delivered");
    let counts = store.fulfillment_counts().await.unwrap();
    assert_eq!(counts.shipments, n);
    assert_eq!(counts.labels_bought, n);
    assert_eq!(counts.tracking_pushed, n, "no tracking push lost");
    assert_eq!(counts.delivered, n);
    assert_eq!(
        counts.delivery_pushed, n,
        "every delivery told to the channel"
    );
    assert_eq!(counts.exceptions, 0);
    let rec = Recorded::read(shopify, easypost).await;
    assert_eq!(rec.labels.len() as u64, n, "a label for every shipment");
    assert_eq!(rec.double_labels(), 0, "no shipment has two labels");
    assert_eq!(rec.fulfillments.len() as u64, n, "a fulfillment per order");
    assert_eq!(rec.double_fulfillments(), 0, "no order fulfilled twice");
}

async fn full_flow(db: Db) {
    let shopify = Sandbox::start().await;
    shopify.seed(200, 100).await;
    let easypost = easypost(150).await;
    let url = fresh_db(db).await;
    let (app, _) = start(
        &flow_toml(&url, &shopify.base, &easypost.base, "concurrency = 8"),
        &easypost,
    )
    .await;
    let done = wait_for(Duration::from_secs(120), || {
        let s = app.store.clone();
        async move { all_done(&s, 200).await }
    })
    .await;
    if !done {
        dump_unfinished(&app.store).await;
        eprintln!("easypost recorded: {}", easypost.stats().await["recorded"]);
    }
    assert!(
        done,
        "200 orders delivered ({} so far)",
        delivered(&app.store).await
    );
    assert_exactly_once(&app.store, &shopify, &easypost, 200).await;
    // The channel heard the delivery too, once per order.
    let sh = shopify.stats().await;
    let events = sh["recorded"]["fulfillment_events"]
        .as_object()
        .expect("Shopify recorded fulfillment events");
    assert_eq!(events.len(), 200, "every order heard of its parcel");
    for (order, list) in events {
        let list = list.as_array().unwrap();
        let delivered = list.iter().filter(|s| *s == "DELIVERED").count();
        assert_eq!(delivered, 1, "order {order}: {list:?}");
    }
    // The API shows the label and the tracking timeline.
    let some = app.store.list_orders(&Default::default()).await.unwrap();
    let ships = app.store.order_shipments(some[0].id).await.unwrap();
    assert_eq!(ships.len(), 1);
    assert!(ships[0].shipment.label_url.is_some());
    assert!(ships[0].events.len() >= 3, "{:?}", ships[0].events);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_orders_flow_end_to_end_sqlite() {
    full_flow(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_orders_flow_end_to_end_postgres() {
    full_flow(Db::Postgres).await;
}

/// 20 % faults in both sandboxes, timeouts after successful buys included.
async fn flow_with_faults(db: Db) {
    let shopify = Sandbox::start().await;
    shopify.seed(200, 100).await;
    let easypost = easypost(150).await;
    let url = fresh_db(db).await;
    let (app, _) = start(
        &flow_toml(&url, &shopify.base, &easypost.base, "concurrency = 8")
            .replace("request_timeout_ms = 2000", "request_timeout_ms = 800"),
        &easypost,
    )
    .await;
    shopify
        .faults(
            json!({ "rate_429": 0.05, "rate_5xx": 0.1, "rate_timeout": 0.05,
            "timeout_ms": 1200, "retry_after_secs": 0.2, "seed": 11 }),
        )
        .await;
    easypost
        .faults(
            json!({ "rate_429": 0.05, "rate_5xx": 0.1, "rate_timeout": 0.02,
            "rate_timeout_after_success": 0.03, "timeout_ms": 1200, "retry_after_secs": 0.2,
            "paths": ["/v2/shipments"], "seed": 12 }),
        )
        .await;
    let done = wait_for(Duration::from_secs(240), || {
        let s = app.store.clone();
        async move { all_done(&s, 200).await }
    })
    .await;
    let ep = easypost.stats().await;
    let sh = shopify.stats().await;
    if !done {
        dump_unfinished(&app.store).await;
    }
    assert!(
        done,
        "200 orders delivered ({} so far; faults: shopify {} easypost {})",
        delivered(&app.store).await,
        sh["faults_injected"],
        ep["faults_injected"]
    );
    assert!(
        ep["faults_injected"]["timeout_after_success"]
            .as_u64()
            .unwrap_or(0)
            > 0,
        "the run had timeouts after a successful call: {}",
        ep["faults_injected"]
    );
    assert!(sh["faults_injected"]["5xx"].as_u64().unwrap_or(0) > 0);
    assert_exactly_once(&app.store, &shopify, &easypost, 200).await;
}

/// What the orders that did not arrive are stuck on, for a failing test.
async fn dump_unfinished(store: &Store) {
    let mut after = None;
    loop {
        let page = store
            .list_orders(&orderhub_core::store::OrderFilter {
                after_id: after,
                limit: 500,
                ..Default::default()
            })
            .await
            .unwrap();
        let Some(last) = page.last() else { break };
        after = Some(last.id);
        for o in page.iter().filter(|o| o.status != "delivered") {
            let ships = store.order_shipments(o.id).await.unwrap();
            eprintln!(
                "order {} {} ({:?}): {:?}",
                o.id,
                o.status,
                o.exception_reason,
                ships
                    .iter()
                    .map(|s| (
                        &s.shipment.status,
                        &s.shipment.tracking_status,
                        &s.shipment.status_pushed,
                        s.shipment.tracking_pushed_at.is_some(),
                        &s.shipment.exception_reason
                    ))
                    .collect::<Vec<_>>()
            );
        }
    }
    for j in jobs(store, None, "Failed").await {
        eprintln!(
            "failed job {} {} {:?} {:?}",
            j.queue, j.attempts, j.args, j.last_result
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn faults_in_both_sandboxes_change_nothing_sqlite() {
    flow_with_faults(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn faults_in_both_sandboxes_change_nothing_postgres() {
    flow_with_faults(Db::Postgres).await;
}

/// Kill the `orderhub run` process while labels are being bought (each buy
/// slow, so purchases are in flight), restart it: still exactly once.
async fn kill_mid_run(db: Db) {
    let shopify = Sandbox::start().await;
    shopify.seed(200, 100).await;
    let easypost = easypost(150).await;
    easypost
        .faults(json!({ "rate_slow": 1.0, "slow_ms": 150, "paths": ["/buy"] }))
        .await;
    let url = fresh_db(db).await;
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let toml = flow_toml(&url, &shopify.base, &easypost.base, "concurrency = 4")
        .replace("listen = \"127.0.0.1:0\"", &format!("listen = \"{port}\""));
    let dir = std::env::temp_dir().join(format!("orderhub-kill-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("c.toml");
    std::fs::write(&cfg, toml).unwrap();
    register_webhook(&easypost, port).await;
    // Both runs append their warnings here, shown if the test fails.
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("worker.log"))
        .unwrap();
    let spawn = || {
        Command::new(BIN)
            .args(["--config", cfg.to_str().unwrap(), "run"])
            .env("ORDERHUB_TEST_SHOPIFY_TOKEN", TOKEN)
            .env("ORDERHUB_TEST_SHOPIFY_WEBHOOK_SECRET", HOOK_SECRET)
            .env("ORDERHUB_TEST_EP_KEY", EP_KEY)
            .env("ORDERHUB_TEST_EP_HOOK_SECRET", EP_HOOK_SECRET)
            .env("ORDERHUB_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(log.try_clone().unwrap())
            .spawn()
            .unwrap()
    };
    let store = Store::connect(&url, 2).await.unwrap();
    let mut child = spawn();
    let mid = wait_for(Duration::from_secs(60), || {
        let s = store.clone();
        async move {
            s.fulfillment_counts()
                .await
                .map(|c| c.labels_bought >= 40)
                .unwrap_or(false)
        }
    })
    .await;
    assert!(mid, "the worker started buying labels");
    child.kill().unwrap(); // SIGKILL: no graceful shutdown
    child.wait().unwrap();
    let at_kill = store.fulfillment_counts().await.unwrap();
    assert!(at_kill.labels_bought < 200, "killed mid-run: {at_kill:?}");
    let mut child = spawn();
    let done = wait_for(Duration::from_secs(180), || {
        let s = store.clone();
        async move { all_done(&s, 200).await }
    })
    .await;
    child.kill().unwrap();
    child.wait().unwrap();
    if !done {
        dump_unfinished(&store).await;
        eprintln!("easypost recorded: {}", easypost.stats().await["recorded"]);
        let log = std::fs::read_to_string(dir.join("worker.log")).unwrap_or_default();
        let warnings: Vec<&str> = log
            .lines()
            .filter(|l| l.contains("WARN") || l.contains("ERROR"))
            .collect();
        eprintln!("worker warnings (last 40 of {}):", warnings.len());
        for l in warnings.iter().rev().take(40).rev() {
            eprintln!("  {l}");
        }
    }
    assert!(
        done,
        "every order delivered after the restart ({})",
        delivered(&store).await
    );
    assert_exactly_once(&store, &shopify, &easypost, 200).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_worker_mid_run_changes_nothing_sqlite() {
    kill_mid_run(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_worker_mid_run_changes_nothing_postgres() {
    kill_mid_run(Db::Postgres).await;
}

/// Invariant 6: unsigned and tampered tracker webhooks get 401 and change
/// nothing; a replayed one and an older status are acknowledged and change
/// nothing either.
async fn carrier_webhooks_are_checked(db: Db) {
    let shopify = Sandbox::start().await;
    shopify.seed(3, 100).await;
    let easypost = easypost(0).await; // trackers move only when asked
    let url = fresh_db(db).await;
    let (app, addr) = start(
        &flow_toml(&url, &shopify.base, &easypost.base, ""),
        &easypost,
    )
    .await;
    let pushed = wait_for(Duration::from_secs(60), || {
        let s = app.store.clone();
        async move {
            s.fulfillment_counts()
                .await
                .map(|c| c.tracking_pushed >= 3)
                .unwrap_or(false)
        }
    })
    .await;
    assert!(pushed, "labels bought and tracking pushed");
    // Move every tracker to delivered (pre_transit was sent on purchase).
    for _ in 0..3 {
        easypost.post("/_sandbox/trackers/advance", json!({})).await;
    }
    let all = wait_for(Duration::from_secs(30), || {
        let s = app.store.clone();
        async move { delivered(&s).await >= 3 }
    })
    .await;
    assert!(all, "delivered through signed tracker webhooks");

    let order = app.store.list_orders(&Default::default()).await.unwrap()[0].id;
    let ship = app.store.order_shipments(order).await.unwrap().remove(0);
    let events_before = ship.events.len();
    let inbox_before = app
        .store
        .count_webhooks("carrier", CARRIER_ID)
        .await
        .unwrap();
    let hook = format!("http://{addr}/webhooks/carriers/{CARRIER_ID}");
    let http = reqwest::Client::new();

    // An older status for the same tracker, validly signed and new to us.
    let stale = json!({
        "object": "Event", "id": "evt_stale_test", "description": "tracker.updated",
        "mode": "test", "created_at": "2026-11-25T10:00:00Z", "updated_at": "2026-11-25T10:00:00Z",
        "result": {
            "object": "Tracker", "id": "trk_stale", "mode": "test",
            "tracking_code": ship.shipment.tracking_code, "status": "in_transit",
            "status_detail": "arrived_at_facility", "carrier": ship.shipment.carrier,
            "shipment_id": ship.shipment.carrier_shipment_id,
            "created_at": "2026-11-25T10:00:00Z", "updated_at": "2026-11-25T10:00:00Z",
            "tracking_details": [{
                "object": "TrackingDetail", "message": "Arrived at facility",
                "status": "in_transit", "status_detail": "arrived_at_facility",
                "datetime": "2026-11-25T09:00:00Z", "source": "USPS",
                "tracking_location": { "object": "TrackingLocation", "city": "Reno", "state": "NV", "country": "US", "zip": null }
            }]
        },
        "previous_attributes": {}, "pending_urls": [], "completed_urls": []
    })
    .to_string();
    let sig =
        orderhub_connectors::carriers::easypost::sign_webhook(EP_HOOK_SECRET, stale.as_bytes());

    // Unsigned: 401, nothing stored.
    let r = http.post(&hook).body(stale.clone()).send().await.unwrap();
    assert_eq!(r.status(), 401);
    // Tampered: the signature of another body.
    let tampered = stale.replace("in_transit", "delivered");
    let r = http
        .post(&hook)
        .header("X-Hmac-Signature", &sig)
        .body(tampered)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // A garbage signature header.
    let r = http
        .post(&hook)
        .header("X-Hmac-Signature", "hmac-sha256-hex=zz")
        .body(stale.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(
        app.store
            .count_webhooks("carrier", CARRIER_ID)
            .await
            .unwrap(),
        inbox_before,
        "rejected webhooks are not stored"
    );
    // Signed, but older than what the shipment is at: status stays.
    let r = http
        .post(&hook)
        .header("X-Hmac-Signature", &sig)
        .body(stale.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // And replayed: acknowledged as a duplicate.
    let r = http
        .post(&hook)
        .header("X-Hmac-Signature", &sig)
        .body(stale.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["status"], "duplicate");
    // A replay of a real event from the sandbox.
    let trk = ship.shipment.carrier_shipment_id.clone().unwrap();
    easypost
        .post(&format!("/_sandbox/trackers/{trk}/replay"), json!({}))
        .await;
    let applied = wait_for(Duration::from_secs(20), || {
        let s = app.store.clone();
        async move {
            s.unapplied_webhooks(
                "carrier",
                chrono::Utc::now() + chrono::Duration::days(1),
                10,
            )
            .await
            .map(|r| r.is_empty())
            .unwrap_or(false)
        }
    })
    .await;
    assert!(applied, "every stored carrier event is applied");
    let after = app.store.order_shipments(order).await.unwrap().remove(0);
    assert_eq!(
        after.shipment.tracking_status,
        TrackingStatus::Delivered.as_str(),
        "status never moves back"
    );
    // The stale event's one step is appended to the timeline (it is history),
    // the replay adds nothing.
    assert_eq!(after.events.len(), events_before + 1);
    let o = app.store.get_order(order).await.unwrap().unwrap();
    assert_eq!(o.order.status, OrderStatus::Delivered);
    // Unknown carrier: 404.
    let r = http
        .post(format!("http://{addr}/webhooks/carriers/nope"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn carrier_webhooks_are_verified_and_applied_once_sqlite() {
    carrier_webhooks_are_checked(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn carrier_webhooks_are_verified_and_applied_once_postgres() {
    carrier_webhooks_are_checked(Db::Postgres).await;
}

/// Invariant 5: a channel that stays down leaves the tracking push as a
/// visible failed job (and the shipment says why); ops retry it once the
/// channel is back, and the tracking arrives once. Also: an order that first
/// arrives by webhook is routed and shipped like a polled one.
async fn channel_down_leaves_a_failed_job(db: Db) {
    let shopify = Sandbox::start().await;
    shopify.seed(1, 100).await;
    let easypost = easypost(0).await;
    let url = fresh_db(db).await;
    // Shopify answers 503 to everything from the start: the order comes in
    // by webhook, not by the (failing) poll.
    shopify.faults(json!({ "rate_5xx": 1.0 })).await;
    let (app, addr) = start(
        &flow_toml(&url, &shopify.base, &easypost.base, "max_attempts = 2")
            .replace("poll_interval_secs = 1", "poll_interval_secs = 3600"),
        &easypost,
    )
    .await;
    let signed: Value = reqwest::get(format!(
        "{}/_sandbox/orders/1001/webhook?topic=orders/create",
        shopify.base
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let mut req = reqwest::Client::new()
        .post(format!("http://{addr}/webhooks/channels/shop"))
        .body(signed["body"].as_str().unwrap().to_string());
    for (k, v) in signed["headers"].as_object().unwrap() {
        req = req.header(k.as_str(), v.as_str().unwrap());
    }
    assert_eq!(req.send().await.unwrap().status(), 200);
    let failed = wait_for(Duration::from_secs(90), || {
        let s = app.store.clone();
        async move {
            jobs(&s, Some(PUSH_TRACKING_QUEUE), "Failed")
                .await
                .iter()
                .any(|j| j.attempts >= j.max_attempts)
        }
    })
    .await;
    assert!(
        failed,
        "the push is a failed job once its attempts are spent"
    );
    let failed_jobs = jobs(&app.store, Some(PUSH_TRACKING_QUEUE), "Failed").await;
    let job = &failed_jobs[0];
    let order = app.store.find_order("shop", "1001").await.unwrap().unwrap();
    let ship = app.store.order_shipments(order.id).await.unwrap().remove(0);
    assert_eq!(job.args["shipment_id"], ship.shipment.id);
    assert!(ship.shipment.label_url.is_some(), "the label was bought");
    assert!(ship.shipment.tracking_pushed_at.is_none());
    assert!(
        ship.shipment
            .exception_reason
            .as_deref()
            .unwrap_or_default()
            .contains("gave up"),
        "{:?}",
        ship.shipment.exception_reason
    );
    // Not dropped, not re-run behind ops' back: still failed a while later.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let again = orderhub::jobs_api::get(&app.store, &job.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.status, "Failed");
    // The channel is back; ops retry.
    shopify.faults(json!({})).await;
    assert!(orderhub::jobs_api::retry(&app.store, &job.id)
        .await
        .unwrap());
    let pushed = wait_for(Duration::from_secs(30), || {
        let s = app.store.clone();
        async move {
            s.fulfillment_counts()
                .await
                .map(|c| c.tracking_pushed == 1)
                .unwrap_or(false)
        }
    })
    .await;
    assert!(pushed, "the retried job pushed the tracking");
    let rec = Recorded::read(&shopify, &easypost).await;
    assert_eq!(rec.fulfillments.get("1001"), Some(&1));
    let ship = app.store.order_shipments(order.id).await.unwrap().remove(0);
    assert!(
        ship.shipment.exception_reason.is_none(),
        "the note is cleared"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_channel_that_stays_down_leaves_a_failed_job_sqlite() {
    channel_down_leaves_a_failed_job(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_channel_that_stays_down_leaves_a_failed_job_postgres() {
    channel_down_leaves_a_failed_job(Db::Postgres).await;
}

/// No sleeping pollers: with the fallback poll a minute away, a poll job,
/// the RouteOrder jobs a page enqueues, their BuyLabel and PushTracking all
/// run as soon as they are pushed (on PostgreSQL through LISTEN/NOTIFY, on
/// SQLite through the in-process signal). Were the wake-up broken, each hop
/// would wait for the 60 s poll and nothing would be pushed within 30 s.
async fn pushed_jobs_wake_their_workers(db: Db) {
    let shopify = Sandbox::start().await;
    shopify.seed(5, 100).await;
    let easypost = easypost(0).await;
    let url = fresh_db(db).await;
    let (app, _) = start(
        &flow_toml(
            &url,
            &shopify.base,
            &easypost.base,
            "poll_fallback_ms = 60000",
        ),
        &easypost,
    )
    .await;
    let pushed = wait_for(Duration::from_secs(30), || {
        let s = app.store.clone();
        async move {
            s.fulfillment_counts()
                .await
                .is_ok_and(|c| c.tracking_pushed >= 5)
        }
    })
    .await;
    let counts = app.store.fulfillment_counts().await.unwrap();
    assert!(
        pushed,
        "5 orders through four queues without a poll: {counts:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushed_jobs_wake_their_workers_sqlite() {
    pushed_jobs_wake_their_workers(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushed_jobs_wake_their_workers_postgres() {
    pushed_jobs_wake_their_workers(Db::Postgres).await;
}
