//! Order sync end to end: the real worker against the Shopify sandbox, on
//! SQLite and on PostgreSQL. Each test has its own database and sandbox.

mod common;

use common::*;
use orderhub_core::store::Store;
use serde_json::json;
use std::time::Duration;

/// Run one test body on SQLite and on PostgreSQL.
macro_rules! on_both {
    ($name:ident, $body:ident) => {
        mod $name {
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                $body(Db::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                $body(Db::Postgres).await
            }
        }
    };
}

/// Every page the channel has, as the connector maps it.
async fn fetch_all(
    app: &orderhub::app::App,
) -> Vec<Result<orderhub_core::Order, orderhub_core::Quarantined>> {
    let conn = &app.channels["shop"].connector;
    let mut all = Vec::new();
    let mut token = None;
    loop {
        let page = conn
            .fetch_orders(chrono::DateTime::UNIX_EPOCH, token)
            .await
            .unwrap();
        all.extend(page.orders);
        match page.next_page {
            Some(t) => token = Some(t),
            None => return all,
        }
    }
}

on_both!(full_sync_of_2000_orders_is_never_throttled, full_sync);
async fn full_sync(db: Db) {
    // A tight cost bucket (1,000 points, well under what 2,000 orders cost) so
    // the client has to wait on the bucket many times during the sync.
    let sb = Sandbox::start_with(
        orderhub_connectors::marketplaces::shopify::sandbox::ShopifySandboxOptions {
            bucket_size: 1_000.0,
            restore_rate: 5_000.0,
            ..orderhub_connectors::marketplaces::shopify::sandbox::ShopifySandboxOptions::standard(
                TOKEN,
                HOOK_SECRET,
            )
        },
    )
    .await;
    sb.seed(2000, 100).await;
    let app = app(&fresh_db(db).await, &sb.base, "").await;
    let report = orderhub::jobs::poll_once(&app, "shop").await.unwrap();
    assert_eq!(report.inserted, 2000, "{report:?}");
    assert_eq!(app.store.count_orders(Some("shop")).await.unwrap(), 2000);
    let stats = sb.stats().await;
    assert_eq!(
        stats["throttled"], 0,
        "the client must wait, not collect throttles: {stats}"
    );
    // A resync with nothing new stores nothing new.
    let again = orderhub::jobs::poll_once(&app, "shop").await.unwrap();
    assert_eq!(again.inserted + again.updated, 0, "{again:?}");
    assert_eq!(app.store.count_orders(Some("shop")).await.unwrap(), 2000);
}

on_both!(sync_survives_429_5xx_and_timeouts, sync_under_faults);
async fn sync_under_faults(db: Db) {
    let sb = Sandbox::start().await;
    sb.seed(400, 100).await;
    sb.faults(json!({ "rate_429": 0.2, "rate_5xx": 0.2, "rate_timeout": 0.05, "seed": 7 }))
        .await;
    let app = app(&fresh_db(db).await, &sb.base, "").await;
    let n = sync_until(&app, 400, Duration::from_secs(120)).await;
    assert_eq!(n, 400);
    let stats = sb.stats().await;
    assert!(
        stats["faults_injected"].as_object().map_or(0, |m| m.len()) > 0,
        "faults were injected: {stats}"
    );
}

on_both!(
    a_malformed_order_is_quarantined_and_the_page_kept,
    malformed_order
);
async fn malformed_order(db: Db) {
    let sb = Sandbox::start().await;
    sb.seed(50, 10).await;
    sb.faults(json!({ "rate_malformed": 1.0, "seed": 1 })).await;
    let app = app(&fresh_db(db).await, &sb.base, "").await;
    let report = orderhub::jobs::poll_once(&app, "shop").await.unwrap();
    assert!(report.quarantined >= 1, "{report:?}");
    let stored = app.store.count_orders(Some("shop")).await.unwrap();
    assert_eq!(
        stored + report.quarantined,
        50,
        "the rest of the page is stored"
    );
    let q = app.store.quarantined("shop").await.unwrap();
    assert!(
        !q.is_empty() && q[0].raw_payload.contains("gid://shopify/Order/"),
        "raw payload kept"
    );
    assert!(!q[0].reason.is_empty());
    assert!(
        app.store.watermark("shop").await.unwrap().is_some(),
        "the cursor still moves"
    );
    // The order is fine at the source: the next poll (overlap window) stores it.
    sb.faults(json!({})).await;
    orderhub::jobs::poll_once(&app, "shop").await.unwrap();
    assert_eq!(app.store.count_orders(Some("shop")).await.unwrap(), 50);
}

on_both!(
    updates_and_late_arrivals_are_picked_up,
    updates_and_late_arrivals
);
async fn updates_and_late_arrivals(db: Db) {
    let sb = Sandbox::start().await;
    let seeded = sb.seed(20, 10).await;
    let app = app(&fresh_db(db).await, &sb.base, "").await;
    orderhub::jobs::poll_once(&app, "shop").await.unwrap();
    assert_eq!(app.store.count_orders(Some("shop")).await.unwrap(), 20);
    let first = app
        .store
        .find_order("shop", "1001")
        .await
        .unwrap()
        .expect("order 1001");
    assert_eq!(first.order.status, orderhub_core::OrderStatus::Awaiting);
    // An update: cancelled on the channel.
    sb.post("/_sandbox/orders/1001/touch", json!({ "cancel": true }))
        .await;
    // A late arrival: a new order whose updated_at is already behind the cursor
    // (inside the overlap window).
    let watermark = app.store.watermark("shop").await.unwrap().unwrap();
    let late = (watermark - chrono::Duration::seconds(60)).to_rfc3339();
    sb.post("/_sandbox/seed", json!({ "count": 1, "start": late }))
        .await;
    orderhub::jobs::poll_once(&app, "shop").await.unwrap();
    let after = app.store.find_order("shop", "1001").await.unwrap().unwrap();
    assert_eq!(after.order.status, orderhub_core::OrderStatus::Cancelled);
    assert!(after.order.updated_at > first.order.updated_at);
    assert_eq!(
        app.store.count_orders(Some("shop")).await.unwrap(),
        21,
        "late arrival stored"
    );
    let _ = seeded;
}

on_both!(replayed_and_reordered_pages_give_one_order_each, replays);
async fn replays(db: Db) {
    let sb = Sandbox::start().await;
    sb.seed(30, 10).await;
    let app = app(&fresh_db(db).await, &sb.base, "").await;
    let mut items = fetch_all(&app).await;
    // Newer copy of one order, then the pages again out of order.
    let mut newer = items[0].clone().unwrap();
    newer.updated_at += chrono::Duration::hours(1);
    newer.status = orderhub_core::OrderStatus::Cancelled;
    app.store
        .store_page("acme", "shop", &[Ok(newer.clone())])
        .await
        .unwrap();
    items.reverse();
    for _ in 0..2 {
        app.store.store_page("acme", "shop", &items).await.unwrap();
    }
    assert_eq!(app.store.count_orders(Some("shop")).await.unwrap(), 30);
    let kept = app
        .store
        .find_order("shop", &newer.external_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        kept.order.updated_at, newer.updated_at,
        "an older update never overwrites a newer one"
    );
    assert_eq!(kept.order.status, orderhub_core::OrderStatus::Cancelled);
}

on_both!(
    two_workers_upserting_at_once_keep_one_order_each,
    concurrent_writers
);
async fn concurrent_writers(db: Db) {
    let sb = Sandbox::start().await;
    sb.seed(100, 10).await;
    let url = fresh_db(db).await;
    let app = app(&url, &sb.base, "").await;
    let items = std::sync::Arc::new(fetch_all(&app).await);
    assert_eq!(items.len(), 100);
    let mut tasks = Vec::new();
    for i in 0..4 {
        // Separate pools: as separate processes would be.
        let store = Store::connect(&url, 4).await.unwrap();
        let items = items.clone();
        tasks.push(tokio::spawn(async move {
            let mut mine: Vec<_> = items.iter().cloned().collect();
            if i % 2 == 1 {
                mine.reverse();
            }
            store.store_page("acme", "shop", &mine).await
        }));
    }
    for t in tasks {
        t.await.unwrap().expect("concurrent page stores succeed");
    }
    assert_eq!(app.store.count_orders(Some("shop")).await.unwrap(), 100);
}

on_both!(the_queue_worker_syncs_a_channel, worker_via_queue);
async fn worker_via_queue(db: Db) {
    let sb = Sandbox::start().await;
    sb.seed(300, 50).await;
    let app = app(&fresh_db(db).await, &sb.base, "").await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let run = tokio::spawn(orderhub::run(app.clone(), listener));
    let a = app.clone();
    let done = wait_for(Duration::from_secs(60), || {
        let a = a.clone();
        async move {
            // The last page commits before the poll records its success.
            a.store.count_orders(Some("shop")).await.unwrap() == 300
                && a.store.channel_statuses(None).await.unwrap()[0]
                    .last_success_at
                    .is_some()
        }
    })
    .await;
    run.abort();
    assert!(done, "all 300 orders synced through apalis");
    let ch = app.store.channel_statuses(None).await.unwrap();
    assert!(ch[0].last_success_at.is_some(), "{ch:?}");
}

on_both!(
    synced_orders_are_routed_by_the_route_order_job,
    worker_routes
);
async fn worker_routes(db: Db) {
    let sb = Sandbox::start().await;
    sb.seed(200, 50).await;
    // One warehouse with plenty of SKU-001..SKU-020, the sandbox's catalog.
    let stock: Vec<String> = (1..=20)
        .map(|i| format!("\"SKU-{i:03}\" = 100000"))
        .collect();
    let toml = format!(
        "{}\n[[warehouses]]\nid = \"main\"\nseller = \"acme\"\npriority = 1\nstock = {{ {} }}\n",
        config_toml(&fresh_db(db).await, &sb.base, ""),
        stock.join(", ")
    );
    let app = app_from_toml(&toml).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let run = tokio::spawn(orderhub::run(app.clone(), listener));
    let a = app.clone();
    let routed = wait_for(Duration::from_secs(60), || {
        let a = a.clone();
        async move {
            a.store
                .count_orders_in(orderhub_core::OrderStatus::Processing)
                .await
                .unwrap()
                == 200
        }
    })
    .await;
    run.abort();
    assert!(
        routed,
        "every synced order was routed through the RouteOrder job"
    );
    let order = app.store.find_order("shop", "1001").await.unwrap().unwrap();
    let reserved: i64 = app
        .store
        .reservations(order.id)
        .await
        .unwrap()
        .iter()
        .map(|r| r.quantity)
        .sum();
    let wanted: i64 = order.order.lines.iter().map(|l| l.quantity as i64).sum();
    assert_eq!(reserved, wanted, "stock reserved for every unit");
}
