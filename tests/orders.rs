//! One order list for all channels, on SQLite and PostgreSQL, against the
//! real server: `GET /api/orders` filters, sorts and pages with a keyset
//! cursor (pages disjoint, complete and in order, under every sort);
//! `GET /api/orders.csv` and `orderhub orders export` give exactly the orders
//! the list shows, in the same order; bad parameters are a 400 naming them.

mod common;

use chrono::{DateTime, Duration as Span, Utc};
use common::*;
use orderhub_core::store::{shipment, Store};
use orderhub_core::*;
use rust_decimal::Decimal;
use sea_orm::{ActiveValue::Set, EntityTrait};
use serde_json::Value;
use std::collections::{BTreeSet, HashSet};
use std::str::FromStr;

const OPS_TOKEN: &str = "orders-test-ops-token";
const BIN: &str = env!("CARGO_BIN_EXE_orderhub");

fn set_ops_token() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| std::env::set_var("ORDERHUB_API_TOKEN", OPS_TOKEN));
}

/// What the test seeded, to compute the expected lists independently.
#[derive(Clone, Debug)]
struct Seeded {
    id: i64,
    channel: String,
    external_id: String,
    number: String,
    status: OrderStatus,
    payment: PaymentStatus,
    fulfillment: FulfillmentStatus,
    placed_at: DateTime<Utc>,
    total: Decimal,
    name: Option<String>,
    email: Option<String>,
    skus: Vec<String>,
    warehouses: Vec<&'static str>,
}

const N: usize = 320;

fn base_time() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2025-03-01T12:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn make(i: usize) -> (String, Order, Vec<&'static str>) {
    let channels = ["shop", "ebay-eu", "woo"];
    let payments = [
        PaymentStatus::Paid,
        PaymentStatus::Pending,
        PaymentStatus::Refunded,
        PaymentStatus::PartiallyPaid,
        PaymentStatus::Authorized,
    ];
    let fulfillments = [
        FulfillmentStatus::Unfulfilled,
        FulfillmentStatus::Fulfilled,
        FulfillmentStatus::PartiallyFulfilled,
    ];
    let names = [
        Some("Ada Lovelace"),
        Some("Grace Hopper"),
        Some("Alan Turing"),
        None,
        Some("Edsger Dijkstra"),
        Some("Promo 50% Ltd"),
        Some("Under_Score Co"),
    ];
    // Ties on placed_at (i % 7 == 0 share a time with i - 1), fractions of a
    // second on some, whole seconds on others.
    let step = if i.is_multiple_of(7) && i > 0 {
        i - 1
    } else {
        i
    };
    let placed = base_time()
        + Span::minutes((step * 37 % 600) as i64)
        + Span::milliseconds(if step % 3 == 0 {
            0
        } else {
            (step * 131 % 1000) as i64
        });
    // Totals whose text order differs from their numeric order, with ties
    // (including the same value at another scale).
    let totals = [
        "9.50", "10.00", "10.0", "100", "99.99", "1000.01", "2.5", "0.00", "250.75", "10", "19.99",
        "1234.5",
    ];
    let total = Decimal::from_str(totals[(i * 5) % totals.len()]).unwrap();
    let sku_sets: [&[&str]; 5] = [
        &["SKU-RED-S"],
        &["SKU-BLUE-M", "SKU-RED-S"],
        &["AB_1"],
        &["ABX1", "SKU-GREEN-L"],
        &[],
    ];
    let skus = sku_sets[i % sku_sets.len()];
    let name = names[i % names.len()];
    let email = name.map(|n| {
        let local: String = n
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .collect::<String>();
        if i.is_multiple_of(2) {
            format!("{local}@Example.COM")
        } else {
            format!("{}@shop.example.org", local.to_lowercase())
        }
    });
    let warehouses: Vec<&'static str> = match i % 6 {
        0 => vec!["wh-east"],
        1 => vec!["wh-west"],
        2 => vec!["wh-east", "wh-west"],
        _ => vec![],
    };
    let order = Order {
        channel: "shopify".into(),
        external_id: format!("ext-{i}"),
        // #500, #1500, ... contain `50` followed by a digit: what an
        // unescaped `50%` pattern would wrongly match.
        number: Some(format!("#{}", 500 + i * 10)),
        status: OrderStatus::ALL[i % OrderStatus::ALL.len()],
        payment_status: payments[i % payments.len()],
        fulfillment_status: fulfillments[i % fulfillments.len()],
        placed_at: placed,
        updated_at: placed,
        currency: Currency::from_str("USD").unwrap(),
        subtotal: total,
        shipping_total: Decimal::ZERO,
        tax_total: Decimal::ZERO,
        discount_total: Decimal::ZERO,
        total,
        customer: Some(Customer {
            external_id: None,
            name: name.map(str::to_string),
            email: email.clone(),
            phone: None,
        }),
        ship_to: Some(Address {
            country: Some(["US", "DE", "FR"][i % 3].into()),
            ..Default::default()
        }),
        bill_to: None,
        shipping_method: None,
        lines: skus
            .iter()
            .map(|sku| OrderLine {
                external_id: None,
                sku: Some(sku.to_string()),
                title: sku.to_string(),
                quantity: 1,
                unit_price: Decimal::ONE,
                tax: Decimal::ZERO,
                discount: Decimal::ZERO,
                total: Decimal::ONE,
                grams: None,
                barcode: None,
            })
            .collect(),
    };
    (channels[i % channels.len()].to_string(), order, warehouses)
}

async fn seed(store: &Store) -> Vec<Seeded> {
    let mut out = Vec::new();
    for i in 0..N {
        let (channel, o, warehouses) = make(i);
        let id = store.upsert_order("acme", &channel, &o).await.unwrap().id();
        for w in &warehouses {
            shipment::Entity::insert(shipment::ActiveModel {
                order_id: Set(id),
                warehouse_id: Set(w.to_string()),
                status: Set("created".into()),
                created_at: Set(Utc::now()),
                buy_attempts: Set(0),
                tracking_status: Set("unknown".into()),
                ..Default::default()
            })
            .exec(store.db())
            .await
            .unwrap();
        }
        out.push(Seeded {
            id,
            channel,
            external_id: o.external_id.clone(),
            number: o.number.clone().unwrap(),
            status: o.status,
            payment: o.payment_status,
            fulfillment: o.fulfillment_status,
            placed_at: o.placed_at,
            total: o.total,
            name: o.customer.as_ref().and_then(|c| c.name.clone()),
            email: o.customer.as_ref().and_then(|c| c.email.clone()),
            skus: o.lines.iter().filter_map(|l| l.sku.clone()).collect(),
            warehouses,
        });
    }
    out
}

/// One filter combination: its query string and the same predicate in Rust.
struct Case {
    query: String,
    keep: Box<dyn Fn(&Seeded) -> bool>,
}

fn contains_ci(hay: &str, needle: &str) -> bool {
    hay.to_lowercase().contains(&needle.to_lowercase())
}

fn matches_q(o: &Seeded, q: &str) -> bool {
    contains_ci(&o.number, q)
        || contains_ci(&o.external_id, q)
        || o.name.as_deref().is_some_and(|n| contains_ci(n, q))
        || o.email.as_deref().is_some_and(|e| contains_ci(e, q))
        || o.skus.iter().any(|s| contains_ci(s, q))
}

fn cases() -> Vec<Case> {
    let from = base_time() + Span::minutes(100);
    let to = base_time() + Span::minutes(400);
    vec![
        Case {
            query: String::new(),
            keep: Box::new(|_| true),
        },
        Case {
            query: "channel=shop".into(),
            keep: Box::new(|o| o.channel == "shop"),
        },
        Case {
            query: "status=processing&payment_status=pending".into(),
            keep: Box::new(|o| {
                o.status == OrderStatus::Processing && o.payment == PaymentStatus::Pending
            }),
        },
        Case {
            // `+00:00` written raw arrives as a space; it is read as `+`.
            query: "fulfillment_status=unfulfilled&placed_from=2025-03-01T13:40:00+00:00&placed_to=2025-03-01T18:40:00Z".into(),
            keep: Box::new(move |o| {
                o.fulfillment == FulfillmentStatus::Unfulfilled
                    && o.placed_at >= from
                    && o.placed_at < to
            }),
        },
        Case {
            query: "warehouse=wh-east".into(),
            keep: Box::new(|o| o.warehouses.contains(&"wh-east")),
        },
        Case {
            query: "q=blue".into(),
            keep: Box::new(|o| matches_q(o, "blue")),
        },
        Case {
            query: "q=GRACE".into(),
            keep: Box::new(|o| matches_q(o, "grace")),
        },
        Case {
            query: "q=example.com&channel=woo&placed_from=2025-03-01T14:00:00Z".into(),
            keep: Box::new(move |o| {
                matches_q(o, "example.com")
                    && o.channel == "woo"
                    && o.placed_at >= base_time() + Span::minutes(120)
            }),
        },
        Case {
            query: "q=ab_1".into(),
            keep: Box::new(|o| matches_q(o, "ab_1")),
        },
    ]
}

const SORTS: [&str; 5] = ["id", "placed_at", "-placed_at", "total", "-total"];

/// The expected order: by the sort key, ties by ascending id.
fn expected(seeded: &[Seeded], case: &Case, sort: &str) -> Vec<i64> {
    let mut rows: Vec<&Seeded> = seeded.iter().filter(|o| (case.keep)(o)).collect();
    rows.sort_by(|a, b| {
        let key = match sort {
            "id" => std::cmp::Ordering::Equal,
            "placed_at" => a.placed_at.cmp(&b.placed_at),
            "-placed_at" => b.placed_at.cmp(&a.placed_at),
            "total" => a.total.cmp(&b.total),
            "-total" => b.total.cmp(&a.total),
            _ => unreachable!(),
        };
        key.then(a.id.cmp(&b.id))
    });
    rows.iter().map(|o| o.id).collect()
}

struct Client {
    base: String,
    http: reqwest::Client,
}

impl Client {
    async fn get(&self, path: &str) -> (u16, String, String) {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .header("Authorization", format!("Bearer {OPS_TOKEN}"))
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let ctype = r
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        (status, ctype, r.text().await.unwrap())
    }

    async fn json(&self, path: &str) -> Value {
        let (status, _, body) = self.get(path).await;
        assert_eq!(status, 200, "{path}: {body}");
        serde_json::from_str(&body).unwrap()
    }

    /// Every page of a list through `next_cursor`: the ids, page by page.
    async fn pages(&self, query: &str, limit: u64) -> Vec<Vec<i64>> {
        let mut pages = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut path = format!("/api/orders?{query}&limit={limit}");
            if let Some(c) = &cursor {
                path.push_str(&format!("&cursor={c}"));
            }
            let page = self.json(&path).await;
            assert_eq!(page["items"], page["orders"], "{path}");
            let ids: Vec<i64> = page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|o| o["id"].as_i64().unwrap())
                .collect();
            assert!(ids.len() as u64 <= limit, "{path}: {} rows", ids.len());
            pages.push(ids);
            match page["next_cursor"].as_str() {
                Some(c) => {
                    assert!(
                        c.bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
                        "cursor not URL-safe: {c}"
                    );
                    assert!(
                        !pages.last().unwrap().is_empty(),
                        "{path}: an empty page with a next cursor"
                    );
                    cursor = Some(c.to_string());
                }
                None => break,
            }
            assert!(pages.len() < 1000, "{query}: paging does not end");
        }
        pages
    }

    async fn csv_ids(&self, query: &str) -> (Vec<i64>, String) {
        let (status, ctype, body) = self.get(&format!("/api/orders.csv?{query}")).await;
        assert_eq!(status, 200, "{query}: {body}");
        assert!(ctype.starts_with("text/csv"), "{ctype}");
        let mut r = csv::Reader::from_reader(body.as_bytes());
        let ids = r
            .records()
            .map(|rec| rec.unwrap()[0].parse::<i64>().unwrap())
            .collect();
        (ids, body)
    }
}

async fn start(db: Db) -> (Client, Vec<Seeded>, String, Store) {
    set_ops_token();
    let sb = Sandbox::start().await;
    let url = fresh_db(db).await;
    let app = app(&url, &sb.base, "").await;
    let seeded = seed(&app.store).await;
    let store = app.store.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let c = Client {
        base: format!("http://{}", listener.local_addr().unwrap()),
        http: reqwest::Client::new(),
    };
    tokio::spawn(orderhub::server::serve(app, listener));
    (c, seeded, config_toml(&url, &sb.base, ""), store)
}

async fn paging_and_csv(db: Db) {
    let (c, seeded, _, _) = start(db).await;
    for case in cases() {
        for sort in SORTS {
            let query = if case.query.is_empty() {
                format!("sort={sort}")
            } else {
                format!("{}&sort={sort}", case.query)
            };
            let want = expected(&seeded, &case, sort);
            let pages = c.pages(&query, 37).await;
            let all: Vec<i64> = pages.concat();
            let distinct: HashSet<i64> = all.iter().copied().collect();
            assert_eq!(distinct.len(), all.len(), "{db:?} {query}: pages overlap");
            assert_eq!(
                all, want,
                "{db:?} {query}: pages incomplete or out of order"
            );
            // The CSV of the same filter and sort: exactly these orders, in this order.
            let (csv_ids, _) = c.csv_ids(&query).await;
            assert_eq!(
                csv_ids, all,
                "{db:?} {query}: the CSV differs from the list"
            );
        }
    }
    // Some filters matter: the cases are not all the whole list.
    assert!(expected(&seeded, &cases()[5], "id").len() < N / 2);
    assert!(!expected(&seeded, &cases()[7], "id").is_empty());
    assert!(!expected(&seeded, &cases()[3], "id").is_empty());

    // Old callers: `after` / `next_after` still page by id.
    let mut after: Option<i64> = None;
    let mut by_after = Vec::new();
    loop {
        let path = match after {
            Some(a) => format!("/api/orders?channel=shop&limit=50&after={a}"),
            None => "/api/orders?channel=shop&limit=50".to_string(),
        };
        let page = c.json(&path).await;
        by_after.extend(
            page["orders"]
                .as_array()
                .unwrap()
                .iter()
                .map(|o| o["id"].as_i64().unwrap()),
        );
        match page["next_after"].as_i64() {
            Some(a) => after = Some(a),
            None => break,
        }
    }
    assert_eq!(by_after, expected(&seeded, &cases()[1], "id"));
    // next_after is only for sort=id.
    let page = c.json("/api/orders?sort=-total&limit=5").await;
    assert!(
        page["next_after"].is_null() && page["next_cursor"].is_string(),
        "{page}"
    );
}

async fn search_is_literal(db: Db) {
    let (c, seeded, _, _) = start(db).await;
    let ids = |v: &Value| -> BTreeSet<i64> {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["id"].as_i64().unwrap())
            .collect()
    };
    // `50%`: only the literal text, not #500, #1500, ...
    let got = ids(&c.json("/api/orders?q=50%25&limit=1000").await);
    let want: BTreeSet<i64> = seeded
        .iter()
        .filter(|o| o.name.as_deref() == Some("Promo 50% Ltd"))
        .map(|o| o.id)
        .collect();
    assert!(!want.is_empty());
    assert_eq!(got, want, "{db:?}: q=50% must match the literal text only");
    assert!(seeded
        .iter()
        .any(|o| o.number.contains("50") && !want.contains(&o.id)));
    // `_` is literal too: AB_1 and Under_Score, not ABX1.
    let got = ids(&c.json("/api/orders?q=_&limit=1000").await);
    let want: BTreeSet<i64> = seeded
        .iter()
        .filter(|o| matches_q(o, "_"))
        .map(|o| o.id)
        .collect();
    assert_eq!(got, want, "{db:?}: q=_");
    assert!(seeded
        .iter()
        .any(|o| o.skus.iter().any(|s| s == "ABX1") && !want.contains(&o.id)));
    // A backslash, and `%` alone, match nothing here.
    assert!(ids(&c.json("/api/orders?q=%5C").await).is_empty());
    assert!(ids(&c.json("/api/orders?q=%25").await).len() == want_names(&seeded, "%"));
    // An exact sku.
    let got = ids(&c.json("/api/orders?q=SKU-GREEN-L&limit=1000").await);
    let want: BTreeSet<i64> = seeded
        .iter()
        .filter(|o| o.skus.iter().any(|s| s == "SKU-GREEN-L"))
        .map(|o| o.id)
        .collect();
    assert_eq!(got, want);
    // A filter that matches nothing: an empty page, no cursor; the CSV is the header.
    let none = c.json("/api/orders?warehouse=nowhere").await;
    assert_eq!(none["items"].as_array().unwrap().len(), 0);
    assert!(none["next_cursor"].is_null());
    let (ids_csv, body) = c.csv_ids("warehouse=nowhere").await;
    assert!(ids_csv.is_empty());
    assert_eq!(body.lines().count(), 1, "{body}");
}

fn want_names(seeded: &[Seeded], needle: &str) -> usize {
    seeded.iter().filter(|o| matches_q(o, needle)).count()
}

async fn bad_parameters(db: Db) {
    let (c, _, _, _) = start(db).await;
    let page = c.json("/api/orders?sort=total&limit=3").await;
    let total_cursor = page["next_cursor"].as_str().unwrap().to_string();
    let page = c.json("/api/orders?sort=placed_at&limit=3").await;
    let time_cursor = page["next_cursor"].as_str().unwrap().to_string();
    // Flip one character of a valid cursor.
    let mut tampered = total_cursor.clone().into_bytes();
    tampered[3] = if tampered[3] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    use base64::Engine;
    let forge = |json: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json);
    let cases: Vec<(String, &str)> = vec![
        ("cursor=garbage".into(), "cursor"),
        ("cursor=".into(), "cursor"),
        ("cursor=%00".into(), "cursor"),
        ("cursor=%FF%FE".into(), "cursor"),
        (format!("cursor={}", "A".repeat(5000)), "cursor"),
        (format!("sort=total&cursor={tampered}"), "cursor"),
        (format!("sort=id&cursor={total_cursor}"), "cursor"),
        (format!("sort=-total&cursor={total_cursor}"), "cursor"),
        (format!("sort=total&cursor={time_cursor}"), "cursor"),
        (
            format!(
                "sort=total&cursor={}",
                forge(r#"{"s":"total","k":"abc","i":1}"#)
            ),
            "cursor",
        ),
        (
            format!(
                "sort=total&cursor={}",
                forge(r#"{"s":"total","k":"1e999","i":1}"#)
            ),
            "cursor",
        ),
        (
            format!(
                "sort=placed_at&cursor={}",
                forge(r#"{"s":"placed_at","k":"yesterday","i":1}"#)
            ),
            "cursor",
        ),
        (
            format!("cursor={}", forge(r#"{"s":"id","i":"x"}"#)),
            "cursor",
        ),
        (
            format!("cursor={}", forge(r#"{"s":"id","i":1,"x":2}"#)),
            "cursor",
        ),
        (
            format!("cursor={}&after=3", forge(r#"{"s":"id","i":1}"#)),
            "cursor",
        ),
        ("sort=bogus".into(), "sort"),
        ("sort=".into(), "sort"),
        ("sort=total&after=3".into(), "after"),
        ("status=bogus".into(), "status"),
        ("payment_status=bogus".into(), "payment_status"),
        ("payment_status=".into(), "payment_status"),
        ("fulfillment_status=PAID".into(), "fulfillment_status"),
        ("placed_from=yesterday".into(), "placed_from"),
        ("placed_to=2025-13-01T00:00:00Z".into(), "placed_to"),
        ("placed_to=".into(), "placed_to"),
        ("limit=0".into(), "limit"),
        ("limit=1001".into(), "limit"),
        ("limit=abc".into(), "limit"),
        ("q=a%00b".into(), "q"),
        ("warehouse=%00".into(), "warehouse"),
        ("channel=%00".into(), "channel"),
        ("after=x".into(), "after"),
    ];
    let mut failures = Vec::new();
    for (query, names) in &cases {
        for path in ["/api/orders", "/api/orders.csv"] {
            let (status, _, body) = c.get(&format!("{path}?{query}")).await;
            if status != 400 || !body.contains(names) {
                let short: String = query.chars().take(80).collect();
                failures.push(format!("{path}?{short}: {status} {body}"));
            }
        }
    }
    assert!(failures.is_empty(), "{db:?}:\n{}", failures.join("\n"));
    // Valid but odd: not an error.
    for query in [
        "q=",
        "q=%FF%FE",
        "warehouse=",
        "channel=%FF",
        "placed_from=2030-01-01T00:00:00Z",
    ] {
        let (status, _, body) = c.get(&format!("/api/orders?{query}")).await;
        assert_eq!(status, 200, "{query}: {body}");
    }
}

async fn csv_rows_and_cli_export(db: Db) {
    let (c, seeded, toml, store) = start(db).await;
    let query = "sort=-total&channel=ebay-eu";
    let (ids, body) = c.csv_ids(query).await;
    let mut r = csv::Reader::from_reader(body.as_bytes());
    assert_eq!(
        r.headers().unwrap().iter().collect::<Vec<_>>(),
        [
            "id",
            "channel",
            "external_id",
            "number",
            "status",
            "payment_status",
            "fulfillment_status",
            "placed_at",
            "currency",
            "total",
            "customer_name",
            "customer_email",
            "ship_to_country",
            "lines",
            "skus"
        ]
    );
    for rec in r.records() {
        let rec = rec.unwrap();
        let id: i64 = rec[0].parse().unwrap();
        let s = seeded.iter().find(|o| o.id == id).unwrap();
        let stored = store.get_order(id).await.unwrap().unwrap();
        assert_eq!(&rec[1], s.channel);
        assert_eq!(&rec[2], s.external_id);
        assert_eq!(&rec[3], s.number);
        assert_eq!(&rec[4], s.status.as_str());
        assert_eq!(&rec[5], s.payment.as_str());
        assert_eq!(&rec[6], s.fulfillment.as_str());
        let placed = DateTime::parse_from_rfc3339(&rec[7]).unwrap();
        assert_eq!(placed, s.placed_at);
        assert_eq!(&rec[8], "USD");
        assert_eq!(Decimal::from_str(&rec[9]).unwrap(), s.total);
        assert_eq!(&rec[10], s.name.as_deref().unwrap_or(""));
        assert_eq!(&rec[11], s.email.as_deref().unwrap_or(""));
        assert_eq!(
            &rec[12],
            stored.order.ship_to.unwrap().country.unwrap().as_str()
        );
        assert_eq!(rec[13].parse::<usize>().unwrap(), s.skus.len());
        assert_eq!(&rec[14], s.skus.join(";"));
    }
    assert_eq!(
        ids.len(),
        seeded.iter().filter(|o| o.channel == "ebay-eu").count()
    );

    // The whole list, past one page of the export (500).
    let (all, _) = c.csv_ids("sort=placed_at").await;
    assert_eq!(all.len(), N);

    // `orderhub orders export` writes the same bytes as the API.
    let dir =
        std::env::temp_dir().join(format!("orderhub-export-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("c.toml");
    std::fs::write(&cfg, &toml).unwrap();
    set_secrets();
    let out_file = dir.join("orders.csv");
    let out = tokio::process::Command::new(BIN)
        .args([
            "--config",
            cfg.to_str().unwrap(),
            "orders",
            "export",
            "--sort=-total",
        ])
        .args(["--channel", "ebay-eu", "--out", out_file.to_str().unwrap()])
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(std::fs::read_to_string(&out_file).unwrap(), body);
    // To stdout, with a search.
    let out = tokio::process::Command::new(BIN)
        .args([
            "--config",
            cfg.to_str().unwrap(),
            "orders",
            "export",
            "--q",
            "50%",
        ])
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (_, api_body) = c.csv_ids("q=50%25").await;
    assert_eq!(String::from_utf8(out.stdout).unwrap(), api_body);
    // A bad flag value: exit 2, the flag named.
    let out = tokio::process::Command::new(BIN)
        .args([
            "--config",
            cfg.to_str().unwrap(),
            "orders",
            "list",
            "--sort",
            "price",
        ])
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("sort"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paging_and_csv_sqlite() {
    paging_and_csv(Db::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paging_and_csv_postgres() {
    paging_and_csv(Db::Postgres).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_is_literal_sqlite() {
    search_is_literal(Db::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_is_literal_postgres() {
    search_is_literal(Db::Postgres).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_parameters_sqlite() {
    bad_parameters(Db::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_parameters_postgres() {
    bad_parameters(Db::Postgres).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csv_rows_and_cli_export_sqlite() {
    csv_rows_and_cli_export(Db::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csv_rows_and_cli_export_postgres() {
    csv_rows_and_cli_export(Db::Postgres).await
}
