//! An order's timeline and staff notes, on SQLite and PostgreSQL, with the
//! real worker against the Shopify and EasyPost sandboxes: one order runs end
//! to end (synced → routed → rate chosen → label bought → tracking pushed →
//! tracking events → delivered) and its timeline holds each step once, in
//! order; running the jobs again, calling the guarded store steps again and
//! replaying the carrier's webhook add nothing. Notes: stored with their
//! author, 404 for an unknown order, 4xx for bad bodies; and the CLI's
//! `orders note` and `orders show`.

mod common;

use common::flow::*;
use common::*;
use orderhub::app::App;
use orderhub_core::store::{ChosenRate, LabelRecord, Store, TimelineEntry};
use orderhub_core::OrderStatus;
use reqwest::StatusCode;
use rust_decimal::Decimal;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_orderhub");
const OPS_TOKEN: &str = "timeline-test-ops-token";

fn set_ops_token() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| std::env::set_var("ORDERHUB_API_TOKEN", OPS_TOKEN));
}

/// Start the app in-process with its server, EasyPost's webhook registered.
async fn start(toml: &str, easypost: &Sandbox) -> (Arc<App>, String) {
    set_flow_secrets();
    set_ops_token();
    let loaded = orderhub::settings::load_layers(None, Some(toml)).expect("valid test config");
    let app = App::start(loaded).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    register_webhook(easypost, addr).await;
    tokio::spawn(orderhub::run(app.clone(), listener));
    (app, format!("http://{addr}"))
}

fn kinds(t: &[TimelineEntry]) -> Vec<&str> {
    t.iter().map(|e| e.kind.as_str()).collect()
}

fn count(t: &[TimelineEntry], kind: &str) -> usize {
    t.iter().filter(|e| e.kind == kind).count()
}

/// The position of the first event matching `f`.
fn pos(t: &[TimelineEntry], f: impl Fn(&TimelineEntry) -> bool) -> usize {
    t.iter()
        .position(f)
        .unwrap_or_else(|| panic!("missing event in {:?}", kinds(t)))
}

fn of_kind(kind: &'static str) -> impl Fn(&TimelineEntry) -> bool {
    move |e| e.kind == kind
}

/// Every stored carrier webhook applied.
async fn webhooks_applied(store: &Store) -> bool {
    store
        .unapplied_webhooks(
            "carrier",
            chrono::Utc::now() + chrono::Duration::days(1),
            10,
        )
        .await
        .map(|r| r.is_empty())
        .unwrap_or(false)
}

/// No job of these queues waiting or running.
async fn queues_idle(store: &Store) -> bool {
    for status in ["Pending", "Queued", "Running"] {
        let filter = orderhub::jobs_api::JobFilter {
            queue: None,
            status: Some(status.into()),
            channel: None,
            seller: None,
            limit: 100,
        };
        let Ok(jobs) = orderhub::jobs_api::list(store, &filter).await else {
            return false;
        };
        // The poll job is always waiting for its next turn.
        if jobs
            .iter()
            .any(|j| j.queue != orderhub::queue::POLL_QUEUE && j.run_at <= now_secs())
        {
            return false;
        }
    }
    true
}

fn now_secs() -> i64 {
    chrono::Utc::now().timestamp()
}

async fn one_order_end_to_end(db: Db) {
    let shopify = Sandbox::start().await;
    shopify.seed(1, 100).await;
    let easypost = easypost(0).await; // trackers move only when asked
    let url = fresh_db(db).await;
    let toml = flow_toml(&url, &shopify.base, &easypost.base, "");
    let (app, base) = start(&toml, &easypost).await;
    let http = reqwest::Client::new();

    let pushed = wait_for(Duration::from_secs(60), || {
        let s = app.store.clone();
        async move {
            s.fulfillment_counts()
                .await
                .map(|c| c.tracking_pushed >= 1)
                .unwrap_or(false)
        }
    })
    .await;
    assert!(pushed, "label bought and tracking pushed");
    // pre_transit was sent on purchase; three steps more to delivered, one
    // at a time so that each is its own tracking event.
    let status_of = |s: Store| async move {
        let o = s.list_orders(&Default::default()).await.unwrap()[0].id;
        s.order_shipments(o).await.unwrap()[0]
            .shipment
            .tracking_status
            .clone()
    };
    let pre = wait_for(Duration::from_secs(30), || {
        let s = app.store.clone();
        async move { status_of(s).await == "pre_transit" }
    })
    .await;
    assert!(pre, "pre_transit applied");
    for want in ["in_transit", "out_for_delivery", "delivered"] {
        easypost.post("/_sandbox/trackers/advance", json!({})).await;
        let moved = wait_for(Duration::from_secs(30), || {
            let s = app.store.clone();
            async move { status_of(s).await == want }
        })
        .await;
        assert!(moved, "tracking {want}");
    }
    let delivered = wait_for(Duration::from_secs(30), || {
        let s = app.store.clone();
        async move {
            s.count_orders_in(OrderStatus::Delivered).await.unwrap_or(0) == 1
                && webhooks_applied(&s).await
        }
    })
    .await;
    assert!(delivered, "delivered through signed tracker webhooks");

    let order = app.store.list_orders(&Default::default()).await.unwrap()[0].clone();
    let id = order.id;
    let ship = app
        .store
        .order_shipments(id)
        .await
        .unwrap()
        .remove(0)
        .shipment;
    let t = app.store.order_timeline(id).await.unwrap();
    eprintln!("timeline: {:?}", kinds(&t));

    // Each step that happens once is there once.
    for kind in [
        "synced",
        "routed",
        "rate_chosen",
        "label_bought",
        "tracking_pushed",
    ] {
        assert_eq!(count(&t, kind), 1, "{kind} in {:?}", kinds(&t));
    }
    assert_eq!(count(&t, "note"), 0);
    assert_eq!(count(&t, "exception"), 0);
    // In order: synced → routed → rate chosen → label bought → tracking
    // pushed → the tracking we asked for → delivered.
    let synced = pos(&t, of_kind("synced"));
    let claimed = pos(&t, |e| {
        e.kind == "status_changed" && e.detail["to"] == "processing"
    });
    let routed = pos(&t, of_kind("routed"));
    let rate = pos(&t, of_kind("rate_chosen"));
    let label = pos(&t, of_kind("label_bought"));
    let pushed = pos(&t, of_kind("tracking_pushed"));
    let in_transit = pos(&t, |e| {
        e.kind == "tracking_event" && e.detail["status"] == "in_transit"
    });
    let tracked_delivered = pos(&t, |e| {
        e.kind == "tracking_event" && e.detail["status"] == "delivered"
    });
    let became_delivered = pos(&t, |e| {
        e.kind == "status_changed" && e.detail["to"] == "delivered"
    });
    assert_eq!(synced, 0, "{:?}", kinds(&t));
    assert!(
        synced < claimed
            && claimed < routed
            && routed < rate
            && rate < label
            && label < pushed
            && pushed < in_transit
            && in_transit < tracked_delivered
            && tracked_delivered < became_delivered,
        "out of order: {:?}",
        kinds(&t)
    );
    // The first tracking event comes after the label, whenever it arrived.
    assert!(pos(&t, of_kind("tracking_event")) > label);
    // Each tracking status once; the order delivered once.
    let mut statuses: Vec<&str> = t
        .iter()
        .filter(|e| e.kind == "tracking_event")
        .map(|e| e.detail["status"].as_str().unwrap())
        .collect();
    let all = statuses.len();
    statuses.dedup();
    assert_eq!(statuses.len(), all, "a tracking status twice: {statuses:?}");
    assert_eq!(
        statuses,
        ["pre_transit", "in_transit", "out_for_delivery", "delivered"]
    );
    assert_eq!(
        t.iter()
            .filter(|e| e.kind == "status_changed" && e.detail["to"] == "delivered")
            .count(),
        1
    );
    // Actors and details.
    assert_eq!(t[synced].actor, "channel");
    assert_eq!(t[synced].detail["external_id"], order.external_id.as_str());
    assert_eq!(t[routed].actor, "system");
    assert_eq!(t[routed].detail["warehouse_id"], "main");
    assert_eq!(t[routed].detail["shipment_id"], ship.id);
    assert_eq!(
        t[rate].detail["carrier"],
        ship.carrier.clone().unwrap().as_str()
    );
    assert_eq!(
        t[rate].detail["service"],
        ship.service.clone().unwrap().as_str()
    );
    assert_eq!(
        t[rate].detail["amount"],
        ship.rate_amount.clone().unwrap().as_str()
    );
    assert_eq!(
        t[label].detail["tracking_code"],
        ship.tracking_code.clone().unwrap().as_str()
    );
    assert_eq!(t[tracked_delivered].actor, "carrier");
    assert_eq!(t[became_delivered].detail["from"], "shipped");
    assert!(t.windows(2).all(|w| w[0].at <= w[1].at), "oldest first");

    // Running the steps again adds nothing: the guarded store steps...
    {
        let store = app.store.clone();
        let route = store.route_order(id).await.unwrap();
        assert_eq!(route, orderhub_core::store::RouteOutcome::NotAwaiting);
        let chosen = ChosenRate {
            carrier_account: CARRIER_ID.into(),
            carrier_shipment_id: "shp_again".into(),
            rate_id: "rate_again".into(),
            carrier: "USPS".into(),
            service: "Priority".into(),
            amount: Decimal::new(999, 2),
            currency: "USD".into(),
            parcel: "[]".into(),
            quotes: "[]".into(),
        };
        assert!(!store
            .record_carrier_shipment(ship.id, &chosen)
            .await
            .unwrap());
        let label = LabelRecord {
            carrier: "USPS".into(),
            service: "Priority".into(),
            amount: Decimal::new(999, 2),
            currency: "USD".into(),
            tracking_code: "again".into(),
            tracking_url: None,
            label_url: "http://x/label.pdf".into(),
            label_id: "pl_again".into(),
            label_format: "pdf".into(),
        };
        assert!(!store.record_label(ship.id, &label).await.unwrap());
        assert!(!store
            .record_manual_label(ship.id, CARRIER_ID, "USPS", "again", None)
            .await
            .unwrap());
        store.mark_tracking_pushed(ship.id).await.unwrap();
        store.shipment_exception(ship.id, "again").await.unwrap();
        assert!(!store.finish_void(ship.id, "voided").await.unwrap());
        assert!(!Store::transition_order(
            store.db(),
            id,
            OrderStatus::Awaiting,
            OrderStatus::Processing,
            None
        )
        .await
        .unwrap());
    }
    // ...and the jobs, queued again.
    app.queue
        .route
        .push(orderhub::jobs::RouteOrder { order_id: id })
        .await
        .unwrap();
    app.queue
        .buy_label
        .push(orderhub::jobs::BuyLabel {
            shipment_id: ship.id,
        })
        .await
        .unwrap();
    app.queue
        .push_tracking
        .push(orderhub::jobs::PushTracking {
            shipment_id: ship.id,
        })
        .await
        .unwrap();
    // And the carrier's webhook, replayed.
    let trk = ship.carrier_shipment_id.clone().unwrap();
    easypost
        .post(&format!("/_sandbox/trackers/{trk}/replay"), json!({}))
        .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let idle = wait_for(Duration::from_secs(30), || {
        let s = app.store.clone();
        async move { queues_idle(&s).await && webhooks_applied(&s).await }
    })
    .await;
    assert!(idle, "the re-queued jobs ran");
    let again = app.store.order_timeline(id).await.unwrap();
    // The channel may send a newer version of the order meanwhile (its
    // fulfillment changed it): only `updated` (and the status it carries)
    // may be new.
    let steps = |t: &[TimelineEntry]| -> Vec<(String, Value)> {
        t.iter()
            .filter(|e| e.kind != "updated" && e.actor != "channel")
            .map(|e| (e.kind.clone(), e.detail.clone()))
            .collect()
    };
    assert_eq!(count(&again, "synced"), 1);
    assert_eq!(
        steps(&again),
        steps(&t),
        "re-runs and replays added events: {:?}",
        kinds(&again)
    );

    // The API: the detail keeps every field and gains the timeline.
    let get = |path: String| {
        let http = http.clone();
        async move {
            let r = http.get(path).bearer_auth(OPS_TOKEN).send().await.unwrap();
            let status = r.status();
            (status, r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let (status, detail) = get(format!("{base}/api/orders/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    for field in [
        "id",
        "seller_id",
        "channel_id",
        "external_id",
        "status",
        "lines",
        "shipments",
        "timeline",
    ] {
        assert!(detail.get(field).is_some(), "{field} missing: {detail}");
    }
    assert_eq!(detail["status"], "delivered");
    assert_eq!(
        detail["timeline"].as_array().unwrap().len(),
        again.len(),
        "{detail}"
    );
    assert_eq!(detail["timeline"][0]["kind"], "synced");

    // A note, with its author, last in the timeline.
    let post = |path: String, body: Option<Value>, raw: Option<&'static str>| {
        let http = http.clone();
        async move {
            let mut req = http.post(path).bearer_auth(OPS_TOKEN);
            if let Some(b) = body {
                req = req.json(&b);
            }
            if let Some(r) = raw {
                req = req.header("content-type", "application/json").body(r);
            }
            let r = req.send().await.unwrap();
            let status = r.status();
            (status, r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let notes = format!("{base}/api/orders/{id}/notes");
    let text = "Customer called: leave it with the neighbour. ✓";
    let (status, note) = post(
        notes.clone(),
        Some(json!({ "author": "ana", "text": text })),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{note}");
    assert_eq!(note["kind"], "note");
    assert_eq!(note["actor"], "staff:ana");
    assert_eq!(note["detail"], text);
    let (status, body) = get(format!("{base}/api/orders/{id}/timeline")).await;
    assert_eq!(status, StatusCode::OK);
    let list = body["timeline"].as_array().unwrap();
    assert_eq!(list.len(), again.len() + 1);
    let last = list.last().unwrap();
    assert_eq!(last["kind"], "note");
    assert_eq!(last["actor"], "staff:ana");
    assert_eq!(last["detail"], text);
    assert_eq!(last["id"], note["id"]);
    assert_eq!(last["at"], note["at"], "the answer is what is stored");
    let (_, detail) = get(format!("{base}/api/orders/{id}")).await;
    assert_eq!(
        detail["timeline"].as_array().unwrap().last().unwrap()["kind"],
        "note"
    );
    // At the longest allowed.
    let long = "n".repeat(2000);
    let (status, _) = post(
        notes.clone(),
        Some(json!({ "author": "ana", "text": long })),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);

    // Unknown order: 404, for notes and the timeline.
    let (status, _) = post(
        format!("{base}/api/orders/987654321/notes"),
        Some(json!({ "author": "ana", "text": "x" })),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = get(format!("{base}/api/orders/987654321/timeline")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Bad bodies and ids: 4xx, nothing stored.
    let before = app.store.order_timeline(id).await.unwrap().len();
    let bad: Vec<(Option<Value>, Option<&'static str>)> = vec![
        (Some(json!({ "author": "ana", "text": "" })), None),
        (Some(json!({ "author": "ana", "text": "   " })), None),
        (
            Some(json!({ "author": "ana", "text": "n".repeat(2001) })),
            None,
        ),
        (Some(json!({ "author": "ana", "text": "a\u{0}b" })), None),
        (Some(json!({ "author": "", "text": "x" })), None),
        (Some(json!({ "author": "a\u{0}", "text": "x" })), None),
        (
            Some(json!({ "author": "a".repeat(101), "text": "x" })),
            None,
        ),
        (Some(json!({ "text": "x" })), None),
        (Some(json!({ "author": "ana" })), None),
        (Some(json!({ "author": 5, "text": "x" })), None),
        (Some(json!(null)), None),
        (None, Some("not json")),
        (None, Some("{\"author\": \"ana\", \"text\": \"x\"")),
        (None, Some("")),
        (None, None),
    ];
    for (body, raw) in bad {
        let what = format!("{body:?} {raw:?}");
        let (status, answer) = post(notes.clone(), body, raw).await;
        assert!(status.is_client_error(), "{what}: {status} {answer}");
    }
    for path in ["abc", "-", "1.5", "99999999999999999999999"] {
        let (status, _) = post(
            format!("{base}/api/orders/{path}/notes"),
            Some(json!({ "author": "ana", "text": "x" })),
            None,
        )
        .await;
        assert!(status.is_client_error(), "{path}: {status}");
        let (status, _) = get(format!("{base}/api/orders/{path}/timeline")).await;
        assert!(status.is_client_error(), "{path}: {status}");
    }
    // Without the token: 401.
    let r = http
        .post(&notes)
        .json(&json!({ "author": "ana", "text": "x" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = http
        .get(format!("{base}/api/orders/{id}/timeline"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.store.order_timeline(id).await.unwrap().len(), before);

    // The CLI: `orders note` adds one, `orders show` prints the timeline in
    // its JSON.
    let dir = std::env::temp_dir().join(format!(
        "orderhub-timeline-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("c.toml");
    std::fs::write(&cfg, &toml).unwrap();
    let cli = |args: &[&str]| {
        std::process::Command::new(BIN)
            .arg("--config")
            .arg(&cfg)
            .args(args)
            .env("ORDERHUB_TEST_SHOPIFY_TOKEN", TOKEN)
            .env("ORDERHUB_TEST_SHOPIFY_WEBHOOK_SECRET", HOOK_SECRET)
            .env("ORDERHUB_TEST_EP_KEY", EP_KEY)
            .env("ORDERHUB_TEST_EP_HOOK_SECRET", EP_HOOK_SECRET)
            .env("ORDERHUB_LOG", "warn")
            .output()
            .unwrap()
    };
    let id_s = id.to_string();
    let out = cli(&[
        "orders",
        "note",
        &id_s,
        "--author",
        "bob",
        "packed twice, check",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let t = app.store.order_timeline(id).await.unwrap();
    let last = t.last().unwrap();
    assert_eq!(last.kind, "note");
    assert_eq!(last.actor, "staff:bob");
    assert_eq!(last.detail, json!("packed twice, check"));
    let out = cli(&["orders", "note", "987654321", "--author", "bob", "x"]);
    assert_eq!(out.status.code(), Some(1));
    let out = cli(&["orders", "note", &id_s, "--author", "bob", ""]);
    assert_eq!(out.status.code(), Some(2));
    let out = cli(&["orders", "show", &id_s]);
    assert!(out.status.success());
    let shown: Value = serde_json::from_slice(&out.stdout).expect("orders show prints JSON");
    assert_eq!(shown["id"], id);
    assert!(shown["shipments"].is_array());
    let timeline = shown["timeline"].as_array().unwrap();
    assert_eq!(timeline.len(), t.len());
    assert_eq!(timeline[0]["kind"], "synced");
    assert_eq!(timeline.last().unwrap()["actor"], "staff:bob");
    assert_eq!(app.store.order_timeline(id).await.unwrap().len(), t.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_order_timeline_end_to_end_sqlite() {
    one_order_end_to_end(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_order_timeline_end_to_end_postgres() {
    one_order_end_to_end(Db::Postgres).await;
}
