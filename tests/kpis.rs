//! Fulfillment KPIs (`GET /api/kpis`, `orderhub kpis`) on SQLite and
//! PostgreSQL, over a data set built directly in the store so every number is
//! computable by hand: 10 orders in range over two channels and two
//! warehouses (a weekend order, an after-cut-off order, an express order, a
//! split order, an exception, an unrouted order), plus two just outside the
//! range. Bad parameters are a 400 naming them.

mod common;

use chrono::{DateTime, Utc};
use common::*;
use orderhub_core::store::{shipment, tracking_event, Store};
use orderhub_core::*;
use rust_decimal::Decimal;
use sea_orm::{ActiveValue::Set, EntityTrait};
use serde_json::{json, Value};
use std::str::FromStr;

const OPS_TOKEN: &str = "kpis-test-ops-token";
const BIN: &str = env!("CARGO_BIN_EXE_orderhub");

fn set_ops_token() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| std::env::set_var("ORDERHUB_API_TOKEN", OPS_TOKEN));
}

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// Promised dates: 1 handling day, cut-off 14:00 UTC, 2 transit days, 1 for
/// `express`.
const SHIPPING: &str = r#"
[shipping]
handling_days = 1
cutoff = "14:00"
default_transit_days = 2
[shipping.methods]
express = 1
"#;

struct Ship {
    warehouse: &'static str,
    status: &'static str,
    /// Seconds after placed_at.
    label_after: Option<i64>,
    cost: Option<(&'static str, &'static str)>,
    /// Tracking events: (status, occurred_at).
    events: Vec<(&'static str, &'static str)>,
}

struct Seed {
    n: u32,
    channel: &'static str,
    placed: &'static str,
    status: OrderStatus,
    method: Option<&'static str>,
    shipments: Vec<Ship>,
}

fn ship(
    warehouse: &'static str,
    label_after: i64,
    cost: (&'static str, &'static str),
    events: Vec<(&'static str, &'static str)>,
) -> Ship {
    Ship {
        warehouse,
        status: "label_bought",
        label_after: Some(label_after),
        cost: Some(cost),
        events,
    }
}

fn data() -> Vec<Seed> {
    use OrderStatus::*;
    let h = 3600;
    vec![
        // Mon 09:00, before cut-off: ships Tue, promised Thu 03-06; delivered Thu.
        Seed {
            n: 1,
            channel: "shop",
            placed: "2025-03-03T09:00:00Z",
            status: Delivered,
            method: None,
            shipments: vec![ship(
                "wh-a",
                h,
                ("5.10", "USD"),
                vec![
                    ("in_transit", "2025-03-04T12:00:00Z"),
                    ("delivered", "2025-03-06T15:00:00Z"),
                ],
            )],
        },
        // Mon 15:00, after cut-off: ships Wed, promised Fri 03-07; delivered
        // Fri 23:59:59 (on time; it would be late without the cut-off rule).
        Seed {
            n: 2,
            channel: "shop",
            placed: "2025-03-03T15:00:00Z",
            status: Delivered,
            method: None,
            shipments: vec![ship(
                "wh-a",
                2 * h,
                ("7.25", "USD"),
                vec![("delivered", "2025-03-07T23:59:59Z")],
            )],
        },
        // Saturday: first working day Mon, ships Tue 03-11, promised Thu
        // 03-13; delivered Fri 01:00 UTC: late.
        Seed {
            n: 3,
            channel: "woo",
            placed: "2025-03-08T10:00:00Z",
            status: Delivered,
            method: None,
            shipments: vec![ship(
                "wh-b",
                3 * h,
                ("6.00", "EUR"),
                vec![("delivered", "2025-03-14T01:00:00Z")],
            )],
        },
        // Express (1 transit day): ships Wed, promised Thu 03-06; delivered
        // Fri: late. A second, later `delivered` event does not count.
        Seed {
            n: 4,
            channel: "woo",
            placed: "2025-03-04T08:00:00Z",
            status: Delivered,
            method: Some("Express"),
            shipments: vec![ship(
                "wh-b",
                4 * h,
                ("12.5", "eur"),
                vec![
                    ("delivered", "2025-03-08T12:00:00Z"),
                    ("in_transit", "2025-03-05T12:00:00Z"),
                    ("delivered", "2025-03-07T10:00:00Z"),
                ],
            )],
        },
        // In transit.
        Seed {
            n: 5,
            channel: "shop",
            placed: "2025-03-05T10:00:00Z",
            status: Shipped,
            method: None,
            shipments: vec![ship(
                "wh-b",
                5 * h,
                ("3.333", "USD"),
                vec![("in_transit", "2025-03-06T10:00:00Z")],
            )],
        },
        Seed {
            n: 6,
            channel: "shop",
            placed: "2025-03-05T11:00:00Z",
            status: Shipped,
            method: None,
            shipments: vec![ship("wh-a", 6 * h, ("4.00", "USD"), vec![])],
        },
        // Thu 12:00: ships Fri, promised Tue 03-11; delivered Mon: on time.
        Seed {
            n: 7,
            channel: "woo",
            placed: "2025-03-06T12:00:00Z",
            status: Delivered,
            method: None,
            shipments: vec![ship(
                "wh-a",
                7 * h,
                ("0.10", "usd"),
                vec![("delivered", "2025-03-10T12:00:00Z")],
            )],
        },
        // An exception before any label.
        Seed {
            n: 8,
            channel: "shop",
            placed: "2025-03-06T13:00:00Z",
            status: Exception,
            method: None,
            shipments: vec![Ship {
                warehouse: "wh-a",
                status: "exception",
                label_after: None,
                cost: None,
                events: vec![],
            }],
        },
        // Split over two warehouses; the wh-b shipment's label failed.
        Seed {
            n: 9,
            channel: "woo",
            placed: "2025-03-07T09:00:00Z",
            status: Processing,
            method: None,
            shipments: vec![
                ship("wh-a", 8 * h, ("1.00", "USD"), vec![]),
                Ship {
                    warehouse: "wh-b",
                    status: "exception",
                    label_after: None,
                    cost: None,
                    events: vec![],
                },
            ],
        },
        // Not routed.
        Seed {
            n: 10,
            channel: "shop",
            placed: "2025-03-07T10:00:00Z",
            status: Awaiting,
            method: None,
            shipments: vec![],
        },
        // Outside [2025-03-01, 2025-03-15).
        Seed {
            n: 11,
            channel: "shop",
            placed: "2025-02-28T23:59:59Z",
            status: Delivered,
            method: None,
            shipments: vec![ship(
                "wh-a",
                h,
                ("100", "USD"),
                vec![("delivered", "2025-03-03T10:00:00Z")],
            )],
        },
        Seed {
            n: 12,
            channel: "woo",
            placed: "2025-03-15T00:00:00Z",
            status: Shipped,
            method: None,
            shipments: vec![ship("wh-b", h, ("100", "EUR"), vec![])],
        },
    ]
}

fn order_of(s: &Seed) -> Order {
    let placed = t(s.placed);
    Order {
        channel: "shopify".into(),
        external_id: format!("kpi-{}", s.n),
        number: Some(format!("#{}", 1000 + s.n)),
        status: s.status,
        payment_status: PaymentStatus::Paid,
        fulfillment_status: FulfillmentStatus::Unfulfilled,
        placed_at: placed,
        updated_at: placed,
        currency: Currency::from_str("USD").unwrap(),
        subtotal: Decimal::ONE,
        shipping_total: Decimal::ZERO,
        tax_total: Decimal::ZERO,
        discount_total: Decimal::ZERO,
        total: Decimal::ONE,
        customer: None,
        ship_to: None,
        bill_to: None,
        shipping_method: s.method.map(str::to_string),
        lines: vec![],
    }
}

async fn seed(store: &Store) {
    for s in data() {
        let o = order_of(&s);
        let id = store
            .upsert_order("acme", s.channel, &o)
            .await
            .unwrap()
            .id();
        for sh in &s.shipments {
            let label_at = sh
                .label_after
                .map(|secs| o.placed_at + chrono::Duration::seconds(secs));
            let delivered = sh.events.iter().any(|(st, _)| *st == "delivered");
            let res = shipment::Entity::insert(shipment::ActiveModel {
                order_id: Set(id),
                warehouse_id: Set(sh.warehouse.to_string()),
                status: Set(sh.status.into()),
                created_at: Set(o.placed_at),
                buy_attempts: Set(i32::from(label_at.is_some())),
                carrier: Set(label_at.map(|_| "USPS".to_string())),
                rate_amount: Set(sh.cost.map(|c| c.0.to_string())),
                rate_currency: Set(sh.cost.map(|c| c.1.to_string())),
                label_bought_at: Set(label_at),
                tracking_status: Set(if delivered { "delivered" } else { "unknown" }.into()),
                ..Default::default()
            })
            .exec(store.db())
            .await
            .unwrap();
            for (status, at) in &sh.events {
                tracking_event::Entity::insert(tracking_event::ActiveModel {
                    shipment_id: Set(res.last_insert_id),
                    status: Set(status.to_string()),
                    carrier_status: Set(status.to_string()),
                    message: Set(None),
                    location: Set(None),
                    occurred_at: Set(t(at)),
                    received_at: Set(t(at)),
                    ..Default::default()
                })
                .exec(store.db())
                .await
                .unwrap();
            }
        }
    }
}

struct Client {
    base: String,
    http: reqwest::Client,
}

impl Client {
    async fn get(&self, path: &str) -> (u16, Value) {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .header("Authorization", format!("Bearer {OPS_TOKEN}"))
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, body)
    }

    async fn json(&self, path: &str) -> Value {
        let (status, body) = self.get(path).await;
        assert_eq!(status, 200, "{path}: {body}");
        body
    }
}

fn durations(count: u64, median: Option<i64>, p90: Option<i64>) -> Value {
    json!({ "count": count, "median_secs": median, "p90_secs": p90 })
}

fn share(matching: u64, count: u64) -> Value {
    let rate = (count > 0).then(|| matching as f64 / count as f64);
    json!({ "rate": rate, "matching": matching, "count": count })
}

fn statuses(pairs: &[(&str, u64)]) -> Value {
    let mut m = serde_json::Map::new();
    for s in OrderStatus::ALL {
        m.insert(s.as_str().into(), json!(0));
    }
    for (s, n) in pairs {
        m.insert(s.to_string(), json!(n));
    }
    Value::Object(m)
}

/// The KPI fields of a total or a group (without its id or the filters).
fn kpis_of(v: &Value) -> Value {
    json!({
        "orders": v["orders"],
        "placed_to_label": v["placed_to_label"],
        "placed_to_delivered": v["placed_to_delivered"],
        "on_time_rate": v["on_time_rate"],
        "accuracy": v["accuracy"],
        "fill_rate": v["fill_rate"],
        "labels_cost": v["labels_cost"],
    })
}

fn group<'a>(v: &'a Value, list: &str, id: &str) -> &'a Value {
    v[list]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["id"] == id)
        .unwrap_or_else(|| panic!("no {list} {id} in {v}"))
}

fn ids(v: &Value, list: &str) -> Vec<String> {
    v[list]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["id"].as_str().unwrap().to_string())
        .collect()
}

const RANGE: &str = "from=2025-03-01T00:00:00Z&to=2025-03-15T00:00:00Z";

// Durations (seconds), by hand:
// labels: o1..o7 1..7 h, o9 8 h (its wh-b shipment has none).
// delivered: o1 3d06h = 280800, o2 4d08:59:59 = 377999, o3 5d15h = 486000,
//            o4 3d02h = 266400 (the first delivered event), o7 4d = 345600.
const H: i64 = 3600;

fn expected_wh_b() -> Value {
    // o3, o4, o5, o9.
    json!({
        "orders": { "total": 4, "by_status": statuses(&[("delivered", 2), ("shipped", 1), ("processing", 1)]) },
        "placed_to_label": durations(3, Some(4 * H), Some(5 * H)),
        "placed_to_delivered": durations(2, Some(266400), Some(486000)),
        "on_time_rate": share(0, 2),
        "accuracy": share(3, 4),
        "fill_rate": share(3, 4),
        "labels_cost": { "EUR": "18.50", "USD": "3.333" },
    })
}

async fn check(db: Db) {
    set_ops_token();
    let sb = Sandbox::start().await;
    let url = fresh_db(db).await;
    let toml = format!("{}{SHIPPING}", config_toml(&url, &sb.base, ""));
    let app = app_from_toml(&toml).await;
    seed(&app.store).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let c = Client {
        base: format!("http://{}", listener.local_addr().unwrap()),
        http: reqwest::Client::new(),
    };
    tokio::spawn(orderhub::server::serve(app.clone(), listener));

    // Everything in range.
    let all = c.json(&format!("/api/kpis?{RANGE}")).await;
    assert_eq!(t(all["from"].as_str().unwrap()), t("2025-03-01T00:00:00Z"));
    assert_eq!(t(all["to"].as_str().unwrap()), t("2025-03-15T00:00:00Z"));
    assert_eq!(all["channel"], Value::Null);
    assert_eq!(all["warehouse"], Value::Null);
    assert_eq!(
        kpis_of(&all),
        json!({
            "orders": { "total": 10, "by_status": statuses(&[
                ("delivered", 5), ("shipped", 2), ("exception", 1), ("processing", 1), ("awaiting", 1),
            ]) },
            // 8 labels: 1..8 h → median rank 4, p90 rank 8.
            "placed_to_label": durations(8, Some(4 * H), Some(8 * H)),
            // 266400, 280800, 345600, 377999, 486000 → ranks 3 and 5.
            "placed_to_delivered": durations(5, Some(345600), Some(486000)),
            // o1, o2 (after cut-off), o7 on time; o3 (weekend) and o4 (express) late.
            "on_time_rate": share(3, 5),
            // 9 routed; o8 (order exception) and o9 (shipment exception) are not accurate.
            "accuracy": share(7, 9),
            // o9 is split.
            "fill_rate": share(8, 9),
            "labels_cost": { "EUR": "18.50", "USD": "20.783" },
        }),
        "{all:#}"
    );
    assert_eq!(ids(&all, "by_channel"), ["shop", "woo"]);
    assert_eq!(ids(&all, "by_warehouse"), ["wh-a", "wh-b"]);
    assert_eq!(
        kpis_of(group(&all, "by_channel", "shop")),
        json!({
            // o1, o2, o5, o6, o8, o10.
            "orders": { "total": 6, "by_status": statuses(&[
                ("delivered", 2), ("shipped", 2), ("exception", 1), ("awaiting", 1),
            ]) },
            "placed_to_label": durations(4, Some(2 * H), Some(6 * H)),
            "placed_to_delivered": durations(2, Some(280800), Some(377999)),
            "on_time_rate": share(2, 2),
            "accuracy": share(4, 5),
            "fill_rate": share(5, 5),
            "labels_cost": { "USD": "19.683" },
        })
    );
    assert_eq!(
        kpis_of(group(&all, "by_channel", "woo")),
        json!({
            // o3, o4, o7, o9.
            "orders": { "total": 4, "by_status": statuses(&[("delivered", 3), ("processing", 1)]) },
            "placed_to_label": durations(4, Some(4 * H), Some(8 * H)),
            "placed_to_delivered": durations(3, Some(345600), Some(486000)),
            "on_time_rate": share(1, 3),
            "accuracy": share(3, 4),
            "fill_rate": share(3, 4),
            "labels_cost": { "EUR": "18.50", "USD": "1.10" },
        })
    );
    assert_eq!(
        kpis_of(group(&all, "by_warehouse", "wh-a")),
        json!({
            // o1, o2, o6, o7, o8, o9 (its wh-a shipment is fine).
            "orders": { "total": 6, "by_status": statuses(&[
                ("delivered", 3), ("shipped", 1), ("exception", 1), ("processing", 1),
            ]) },
            "placed_to_label": durations(5, Some(6 * H), Some(8 * H)),
            "placed_to_delivered": durations(3, Some(345600), Some(377999)),
            "on_time_rate": share(3, 3),
            "accuracy": share(5, 6),
            "fill_rate": share(5, 6),
            "labels_cost": { "USD": "17.45" },
        })
    );
    assert_eq!(
        kpis_of(group(&all, "by_warehouse", "wh-b")),
        expected_wh_b()
    );

    // The warehouse filter: the total is that warehouse's group.
    let b = c.json(&format!("/api/kpis?{RANGE}&warehouse=wh-b")).await;
    assert_eq!(b["warehouse"], "wh-b");
    assert_eq!(kpis_of(&b), expected_wh_b());
    assert_eq!(ids(&b, "by_warehouse"), ["wh-b"]);
    assert_eq!(ids(&b, "by_channel"), ["shop", "woo"]);
    assert_eq!(group(&b, "by_channel", "shop")["orders"]["total"], 1);
    assert_eq!(
        group(&b, "by_channel", "woo")["labels_cost"],
        json!({ "EUR": "18.50" })
    );

    // The channel filter.
    let woo = c.json(&format!("/api/kpis?{RANGE}&channel=woo")).await;
    assert_eq!(woo["channel"], "woo");
    assert_eq!(kpis_of(&woo), kpis_of(group(&all, "by_channel", "woo")));
    assert_eq!(ids(&woo, "by_channel"), ["woo"]);
    assert_eq!(ids(&woo, "by_warehouse"), ["wh-a", "wh-b"]);
    assert_eq!(group(&woo, "by_warehouse", "wh-a")["orders"]["total"], 2);

    // A narrower range: [Mon 12:00, Thu 12:00) holds o2, o4, o5, o6 (o7 is
    // placed exactly at `to`). A `+00:00` offset written raw arrives as a space.
    let narrow = c
        .json("/api/kpis?from=2025-03-03T12:00:00%2B00:00&to=2025-03-06T12:00:00+00:00")
        .await;
    assert_eq!(narrow["orders"]["total"], 4, "{narrow:#}");
    assert_eq!(
        narrow["placed_to_label"],
        durations(4, Some(4 * H), Some(6 * H))
    );
    assert_eq!(narrow["on_time_rate"], share(1, 2));
    assert_eq!(
        narrow["labels_cost"],
        json!({ "EUR": "12.5", "USD": "14.583" })
    );

    // The default range is the last 30 days: none of these orders.
    let recent = c.json("/api/kpis").await;
    assert_eq!(recent["orders"]["total"], 0);
    assert_eq!(recent["placed_to_label"], durations(0, None, None));
    assert_eq!(recent["accuracy"], share(0, 0));
    assert_eq!(recent["by_channel"], json!([]));
    let (from, to) = (
        t(recent["from"].as_str().unwrap()),
        t(recent["to"].as_str().unwrap()),
    );
    assert_eq!(to - from, chrono::Duration::days(30));
    assert!((Utc::now() - to).num_seconds().abs() < 60);

    // Bad parameters: a 400 naming them.
    for (query, names) in [
        ("from=garbage", "from"),
        ("to=2025-02-30T00:00:00Z", "to"),
        (
            "from=2025-03-15T00:00:00Z&to=2025-03-01T00:00:00Z",
            "from must be before to",
        ),
        (
            "from=2025-03-01T00:00:00Z&to=2025-03-01T00:00:00Z",
            "from must be before to",
        ),
        ("channel=a%00b", "channel"),
        ("warehouse=%00", "warehouse"),
        ("from=%00", "from"),
        (
            "from=2025-03-01T00:00:00Z&from=2025-03-02T00:00:00Z",
            "from",
        ),
    ] {
        let (status, body) = c.get(&format!("/api/kpis?{query}")).await;
        assert_eq!(status, 400, "{query}: {body}");
        let msg = body["error"].as_str().unwrap_or_default();
        assert!(msg.contains(names), "{query}: {msg}");
    }
    let (status, _) = c
        .http
        .get(format!("{}/api/kpis", c.base))
        .send()
        .await
        .map(|r| (r.status().as_u16(), ()))
        .unwrap();
    assert_eq!(status, 401);

    // The CLI: the same numbers as JSON, and a table.
    let dir = std::env::temp_dir().join(format!("orderhub-kpis-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("c.toml");
    std::fs::write(&cfg, &toml).unwrap();
    set_secrets();
    let range = [
        "--from",
        "2025-03-01T00:00:00Z",
        "--to",
        "2025-03-15T00:00:00Z",
    ];
    let out = tokio::process::Command::new(BIN)
        .args(["--config", cfg.to_str().unwrap(), "kpis", "--json"])
        .args(range)
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cli: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(cli, all);
    let out = tokio::process::Command::new(BIN)
        .args(["--config", cfg.to_str().unwrap(), "kpis"])
        .args(range)
        .args(["--channel", "shop"])
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let table = String::from_utf8_lossy(&out.stdout);
    let row = |name: &str| {
        table
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("no row {name} in\n{table}"))
            .to_string()
    };
    assert!(row("all ").contains("100.0% (2/2)"), "{table}");
    assert!(row("channel shop").contains("19.683 USD"), "{table}");
    assert!(row("warehouse wh-a").contains("2h00m/6h00m (3)"), "{table}");
    assert!(!table.contains("channel woo"), "{table}");
    let out = tokio::process::Command::new(BIN)
        .args([
            "--config",
            cfg.to_str().unwrap(),
            "kpis",
            "--from",
            "garbage",
        ])
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("from"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kpis_sqlite() {
    check(Db::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kpis_postgres() {
    check(Db::Postgres).await
}
