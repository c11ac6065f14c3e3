//! `orderhub bench-list`: the order list's response time at N orders, on one
//! database, measured by a load tool in a second process (`wrk`) against the
//! real HTTP server, beside a bare axum handler of the same process that
//! answers a fixed JSON body of the same size (the baseline).
//!
//! The database is a fresh temporary SQLite file unless `--database` names
//! one; it is bulk-seeded with N orders of seven channels over 90 days
//! (multi-row INSERTs, a few thousand rows a transaction), with lines, skus,
//! customers and shipments at two warehouses.

use crate::app::App;
use anyhow::{bail, Context};
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use chrono::{DateTime, Duration as Span, Utc};
use orderhub_core::store::{order, order_line, shipment, Backend, Store};
use orderhub_core::{Address, Customer};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rust_decimal::Decimal;
use sea_orm::ActiveValue::Set;
use sea_orm::{ConnectionTrait, EntityTrait, Statement};
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// What `orderhub bench-list` was asked.
pub struct Options {
    pub orders: u32,
    pub database: Option<String>,
    /// How long wrk loads each URL (`10s`, `1m`, `500ms`).
    pub duration: String,
    pub connections: u32,
    /// Drop migration 000009's order-list indexes first: the list as it was
    /// before them.
    pub without_indexes: bool,
}

/// The seven channels: id, kind, seller, currency, share of the orders (%).
const CHANNELS: [(&str, &str, &str, &str, u32); 7] = [
    ("shopify-acme", "shopify", "acme", "USD", 30),
    ("amazon-acme", "amazon", "acme", "USD", 20),
    ("ebay-acme", "ebay", "acme", "USD", 12),
    ("woo-acme", "woocommerce", "acme", "EUR", 12),
    ("etsy-globex", "etsy", "globex", "GBP", 10),
    ("tiktok-globex", "tiktok", "globex", "USD", 10),
    ("ecwid-globex", "ecwid", "globex", "EUR", 6),
];

/// The channel the `channel=` queries and the cursor walk use.
const LIST_CHANNEL: &str = "ebay-acme";
/// Pages of 50 walked before the deep page's cursor (5,000 orders in).
const DEEP_PAGES: usize = 100;

const FIRST_NAMES: [&str; 40] = [
    "James",
    "Mary",
    "John",
    "Patricia",
    "Robert",
    "Jennifer",
    "Michael",
    "Linda",
    "William",
    "Elizabeth",
    "David",
    "Barbara",
    "Richard",
    "Susan",
    "Joseph",
    "Jessica",
    "Thomas",
    "Sarah",
    "Carlos",
    "Karen",
    "Daniel",
    "Lisa",
    "Matthew",
    "Nancy",
    "Anthony",
    "Sofia",
    "Mark",
    "Emma",
    "Lukas",
    "Anna",
    "Paul",
    "Laura",
    "Marco",
    "Giulia",
    "Pierre",
    "Camille",
    "Jan",
    "Eva",
    "Kenji",
    "Yuki",
];

/// In the order of how common they are (Zipf-like weights).
const SURNAMES: [&str; 60] = [
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Gonzalez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Perez",
    "Thompson",
    "White",
    "Harris",
    "Sanchez",
    "Clark",
    "Ramirez",
    "Lewis",
    "Robinson",
    "Walker",
    "Young",
    "Allen",
    "King",
    "Wright",
    "Scott",
    "Torres",
    "Nguyen",
    "Hill",
    "Flores",
    "Green",
    "Adams",
    "Nelson",
    "Baker",
    "Hall",
    "Rivera",
    "Campbell",
    "Mitchell",
    "Carter",
    "Roberts",
    "Muller",
    "Schmidt",
    "Schneider",
    "Fischer",
    "Weber",
    "Rossi",
    "Russo",
    "Ferrari",
    "Dubois",
    "Kowalski",
];

/// The surname the `q=` query searches (about 2 % of the orders).
const SEARCHED_SURNAME: &str = "Rodriguez";

const CITIES: [(&str, &str, &str); 8] = [
    ("Austin", "TX", "US"),
    ("Denver", "CO", "US"),
    ("Portland", "OR", "US"),
    ("Chicago", "IL", "US"),
    ("Leeds", "", "GB"),
    ("Lyon", "", "FR"),
    ("Munich", "BY", "DE"),
    ("Turin", "TO", "IT"),
];

const CUSTOMERS: u32 = 30_000;
const SKUS: u32 = 800;
/// Orders per transaction; rows per INSERT statement.
const TX_ORDERS: usize = 2_000;
const INSERT_ROWS: usize = 500;

fn pick_weighted<'a, T>(rng: &mut StdRng, items: &'a [(T, u32)]) -> &'a T {
    let total: u32 = items.iter().map(|(_, w)| w).sum();
    let mut x = rng.random_range(0..total);
    for (item, w) in items {
        if x < *w {
            return item;
        }
        x -= w;
    }
    &items[items.len() - 1].0
}

fn money(cents: i64) -> String {
    Decimal::new(cents, 2).to_string()
}

/// Customer `k`'s name and email (the same customer always the same).
fn customer(k: u32, surname_weights: &[(usize, u32)]) -> (String, String) {
    let mut rng = StdRng::seed_from_u64(0xC0FFEE ^ u64::from(k));
    let first = FIRST_NAMES[rng.random_range(0..FIRST_NAMES.len())];
    let last = SURNAMES[*pick_weighted(&mut rng, surname_weights)];
    let email = format!(
        "{}.{}{}@example.com",
        first.to_lowercase(),
        last.to_lowercase(),
        k % 100
    );
    (format!("{first} {last}"), email)
}

/// One generated order with its lines and shipments.
struct Seeded {
    order: order::ActiveModel,
    lines: Vec<order_line::ActiveModel>,
    shipments: Vec<shipment::ActiveModel>,
}

fn generate(
    rng: &mut StdRng,
    id: i64,
    i: u32,
    n: u32,
    now: DateTime<Utc>,
    surname_weights: &[(usize, u32)],
) -> Seeded {
    let channel_weights: Vec<(usize, u32)> =
        CHANNELS.iter().enumerate().map(|(i, c)| (i, c.4)).collect();
    let (channel_id, kind, seller, currency, _) = CHANNELS[*pick_weighted(rng, &channel_weights)];
    // Ids follow the sync order: roughly placed_at order, with some jitter.
    let span_ms = 90 * 24 * 3_600_000i64;
    let at_ms =
        span_ms * i64::from(i) / i64::from(n.max(1)) + rng.random_range(-3_600_000..3_600_000);
    let placed_at = now - Span::milliseconds(span_ms) + Span::milliseconds(at_ms);
    // Jitter past now is folded back into the past.
    let placed_at = if placed_at >= now {
        now - (placed_at - now) - Span::seconds(1)
    } else {
        placed_at
    };
    let age_days = (now - placed_at).num_hours() as f64 / 24.0;
    // Recent orders wait; older ones are out the door.
    let status = *pick_weighted(
        rng,
        if age_days < 2.0 {
            &[
                ("awaiting", 55),
                ("processing", 30),
                ("shipped", 10),
                ("cancelled", 3),
                ("exception", 2),
            ][..]
        } else if age_days < 7.0 {
            &[
                ("awaiting", 3),
                ("processing", 5),
                ("shipped", 50),
                ("delivered", 35),
                ("cancelled", 5),
                ("exception", 2),
            ][..]
        } else {
            &[
                ("delivered", 90),
                ("shipped", 3),
                ("cancelled", 6),
                ("exception", 1),
            ][..]
        },
    );
    let payment = *match status {
        "cancelled" => pick_weighted(rng, &[("refunded", 50), ("voided", 50)]),
        "awaiting" => pick_weighted(rng, &[("paid", 80), ("pending", 10), ("authorized", 10)]),
        _ => pick_weighted(
            rng,
            &[("paid", 95), ("partially_refunded", 3), ("refunded", 2)],
        ),
    };
    let fulfillment = match status {
        "delivered" => "fulfilled",
        "shipped" => *pick_weighted(rng, &[("fulfilled", 95), ("partially_fulfilled", 5)]),
        "cancelled" => *pick_weighted(rng, &[("unfulfilled", 70), ("restocked", 30)]),
        _ => "unfulfilled",
    };
    let k = rng.random_range(0..CUSTOMERS);
    let (name, email) = customer(k, surname_weights);
    let (city, region, country) = CITIES[(k as usize) % CITIES.len()];
    let address = Address {
        name: Some(name.clone()),
        company: None,
        line1: Some(format!("{} Main Street", 1 + k % 400)),
        line2: None,
        city: Some(city.into()),
        region: (!region.is_empty()).then(|| region.into()),
        postal_code: Some(format!("{:05}", 10_000 + k % 89_999)),
        country: Some(country.into()),
        phone: Some(format!("+1555{:07}", k)),
    };
    let cust = Customer {
        external_id: Some(format!("cus_{k}")),
        name: Some(name.clone()),
        email: Some(email.clone()),
        phone: address.phone.clone(),
    };
    let prefix = if seller == "acme" { "ACM" } else { "GLX" };
    let n_lines = *pick_weighted(rng, &[(1, 45), (2, 25), (3, 15), (4, 10), (5, 5)]);
    let mut subtotal = 0i64;
    let mut tax_total = 0i64;
    let mut lines = Vec::with_capacity(n_lines);
    for line_no in 1..=n_lines {
        let sku_no = rng.random_range(1..=SKUS);
        let qty = rng.random_range(1..=3i64);
        let unit = 299 + i64::from(sku_no * 37 % 14_700);
        let tax = unit * qty * 8 / 100;
        subtotal += unit * qty;
        tax_total += tax;
        lines.push(order_line::ActiveModel {
            order_id: Set(id),
            line_no: Set(line_no as i32),
            external_id: Set(Some(format!("{id}-{line_no}"))),
            sku: Set(Some(format!("{prefix}-{sku_no:05}"))),
            title: Set(format!("Product {sku_no} ({prefix})")),
            quantity: Set(qty as i32),
            unit_price: Set(money(unit)),
            tax: Set(money(tax)),
            discount: Set(money(0)),
            total: Set(money(unit * qty + tax)),
            grams: Set(Some(100 + (sku_no as i32 * 13) % 2_000)),
            ..Default::default()
        });
    }
    let shipping = *pick_weighted(rng, &[(0i64, 40), (499, 40), (999, 20)]);
    let discount = if rng.random_range(0..10) == 0 {
        subtotal / 10
    } else {
        0
    };
    let total = subtotal + shipping + tax_total - discount;
    let updated_at = placed_at + Span::minutes(rng.random_range(1..600));
    let number = format!("{}{}", &prefix[..1], 100_000 + id);
    let order = order::ActiveModel {
        id: Set(id),
        seller_id: Set(seller.into()),
        channel_id: Set(channel_id.into()),
        channel_kind: Set(kind.into()),
        external_id: Set(format!("{kind}-{id}")),
        number: Set(Some(number)),
        status: Set(status.into()),
        payment_status: Set(payment.into()),
        fulfillment_status: Set(fulfillment.into()),
        channel_status: Set(status.into()),
        placed_at: Set(placed_at),
        updated_at: Set(updated_at),
        source_version: Set(updated_at.timestamp_millis()),
        currency: Set(currency.into()),
        subtotal: Set(money(subtotal)),
        shipping_total: Set(money(shipping)),
        tax_total: Set(money(tax_total)),
        discount_total: Set(money(discount)),
        total: Set(money(total)),
        customer_name: Set(Some(name)),
        customer_email: Set(Some(email)),
        customer: Set(serde_json::to_string(&cust).ok()),
        ship_to: Set(serde_json::to_string(&address).ok()),
        bill_to: Set(serde_json::to_string(&address).ok()),
        shipping_method: Set(Some(
            (*pick_weighted(rng, &[("Standard", 70), ("Express", 25), ("Overnight", 5)]))
                .to_string(),
        )),
        exception_reason: Set((status == "exception").then(|| "no rate within budget".into())),
        created_at: Set(placed_at + Span::minutes(1)),
        synced_at: Set(updated_at),
        route_swept_at: Set(None),
    };
    let mut shipments = Vec::new();
    let ships = match status {
        "shipped" | "delivered" | "exception" => true,
        "processing" => rng.random_range(0..2) == 0,
        _ => false,
    };
    if ships {
        let first = if rng.random_range(0..10) < 6 {
            "west"
        } else {
            "east"
        };
        let mut warehouses = vec![first];
        if rng.random_range(0..100) < 4 {
            warehouses.push(if first == "west" { "east" } else { "west" });
        }
        for w in warehouses {
            let (st, tracking) = match status {
                "delivered" => ("label_bought", "delivered"),
                "shipped" => ("label_bought", "in_transit"),
                "exception" => ("exception", "unknown"),
                _ => ("created", "unknown"),
            };
            let bought = st == "label_bought";
            shipments.push(shipment::ActiveModel {
                order_id: Set(id),
                warehouse_id: Set(w.into()),
                status: Set(st.into()),
                created_at: Set(placed_at + Span::minutes(5)),
                buy_attempts: Set(i32::from(bought)),
                carrier_account: Set(bought.then(|| "easypost".into())),
                carrier: Set(bought.then(|| "USPS".into())),
                service: Set(bought.then(|| "Priority".into())),
                rate_amount: Set(bought.then(|| money(600 + id % 900))),
                rate_currency: Set(bought.then(|| "USD".into())),
                tracking_code: Set(bought.then(|| format!("9400{id:018}{w}"))),
                tracking_status: Set(tracking.into()),
                label_bought_at: Set(bought.then(|| placed_at + Span::hours(3))),
                exception_reason: Set((st == "exception").then(|| "no rate within budget".into())),
                ..Default::default()
            });
        }
    }
    Seeded {
        order,
        lines,
        shipments,
    }
}

/// Bulk-insert `n` orders after the highest id there; orders per second.
async fn seed(store: &Store, n: u32) -> anyhow::Result<f64> {
    let db = store.db();
    let backend = db.get_database_backend();
    let base: i64 = db
        .query_one_raw(Statement::from_string(
            backend,
            "SELECT COALESCE(MAX(id), 0) AS m FROM orders",
        ))
        .await?
        .map(|r| r.try_get::<i64>("", "m"))
        .transpose()?
        .unwrap_or(0);
    let surname_weights: Vec<(usize, u32)> = (0..SURNAMES.len())
        .map(|r| (r, (10_000.0 / ((r + 1) as f64).powf(0.8)) as u32))
        .collect();
    for (id, kind, seller, _, _) in CHANNELS {
        store.ensure_channel(id, seller, kind).await?;
    }
    let mut rng = StdRng::seed_from_u64(42);
    let now = Utc::now();
    let started = Instant::now();
    let bar = indicatif::ProgressBar::new(u64::from(n));
    let mut i = 0u32;
    while i < n {
        let take = (n - i).min(TX_ORDERS as u32);
        let batch: Vec<Seeded> = (i..i + take)
            .map(|j| {
                generate(
                    &mut rng,
                    base + 1 + i64::from(j),
                    j,
                    n,
                    now,
                    &surname_weights,
                )
            })
            .collect();
        let mut orders = Vec::with_capacity(batch.len());
        let mut lines = Vec::new();
        let mut ships = Vec::new();
        for s in batch {
            orders.push(s.order);
            lines.extend(s.lines);
            ships.extend(s.shipments);
        }
        let tx = store.begin_write().await?;
        while !orders.is_empty() {
            let rest = orders.split_off(orders.len().min(INSERT_ROWS));
            order::Entity::insert_many(std::mem::replace(&mut orders, rest))
                .exec_without_returning(&tx)
                .await?;
        }
        while !lines.is_empty() {
            let rest = lines.split_off(lines.len().min(INSERT_ROWS * 2));
            order_line::Entity::insert_many(std::mem::replace(&mut lines, rest))
                .exec_without_returning(&tx)
                .await?;
        }
        while !ships.is_empty() {
            let rest = ships.split_off(ships.len().min(INSERT_ROWS * 2));
            shipment::Entity::insert_many(std::mem::replace(&mut ships, rest))
                .exec_without_returning(&tx)
                .await?;
        }
        tx.commit().await?;
        i += take;
        bar.set_position(u64::from(i));
    }
    bar.finish_and_clear();
    let rate = f64::from(n) / started.elapsed().as_secs_f64();
    if store.backend() == Backend::Postgres {
        // Ids were given explicitly: move the sequences past them.
        for t in ["orders", "order_lines", "shipments"] {
            store
                .execute_unprepared(&format!(
                    "SELECT setval(pg_get_serial_sequence('{t}', 'id'), \
                     (SELECT COALESCE(MAX(id), 1) FROM {t}))"
                ))
                .await?;
        }
        // What autovacuum would do shortly after a bulk load.
        store.execute_unprepared("ANALYZE").await?;
    }
    Ok(rate)
}

/// `10s`, `1m`, `500ms`, or plain seconds.
fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let (num, unit) = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .map_or((s, "s"), |i| s.split_at(i));
    let v: f64 = num.parse().ok()?;
    let secs = match unit {
        "ms" => v / 1000.0,
        "s" => v,
        "m" => v * 60.0,
        _ => return None,
    };
    (secs > 0.0).then(|| Duration::from_secs_f64(secs))
}

/// What wrk measured for one URL.
pub(crate) struct Measured {
    pub(crate) requests_per_sec: f64,
    pub(crate) p50_ms: f64,
    pub(crate) p99_ms: f64,
    pub(crate) requests: u64,
    pub(crate) bad: u64,
}

fn wrk_time_ms(text: &str) -> Option<f64> {
    let text = text.trim();
    let split = text.find(|c: char| c.is_ascii_alphabetic())?;
    let (num, unit) = text.split_at(split);
    let v: f64 = num.parse().ok()?;
    Some(match unit {
        "us" => v / 1000.0,
        "ms" => v,
        "s" => v * 1000.0,
        "m" => v * 60_000.0,
        _ => return None,
    })
}

/// Read `wrk --latency`'s report.
pub(crate) fn parse_wrk(out: &str) -> anyhow::Result<Measured> {
    let mut m = Measured {
        requests_per_sec: f64::NAN,
        p50_ms: f64::NAN,
        p99_ms: f64::NAN,
        requests: 0,
        bad: 0,
    };
    for line in out.lines() {
        let t = line.trim();
        let mut words = t.split_whitespace();
        match (words.next(), words.next()) {
            (Some("50%"), Some(v)) => m.p50_ms = wrk_time_ms(v).unwrap_or(f64::NAN),
            (Some("99%"), Some(v)) => m.p99_ms = wrk_time_ms(v).unwrap_or(f64::NAN),
            (Some("Requests/sec:"), Some(v)) => m.requests_per_sec = v.parse().unwrap_or(f64::NAN),
            (Some(n), Some("requests")) => m.requests = n.parse().unwrap_or(0),
            _ => {}
        }
        if let Some(v) = t.strip_prefix("Non-2xx or 3xx responses:") {
            m.bad += v.trim().parse::<u64>().unwrap_or(0);
        }
        if let Some(v) = t.strip_prefix("Socket errors:") {
            // connect 0, read 0, write 0, timeout 0
            m.bad += v
                .split(',')
                .filter_map(|p| p.split_whitespace().last()?.parse::<u64>().ok())
                .sum::<u64>();
        }
    }
    if m.requests_per_sec.is_nan() || m.p50_ms.is_nan() || m.p99_ms.is_nan() {
        bail!("could not read wrk's report:\n{out}");
    }
    Ok(m)
}

/// wrk against `url` for `secs` seconds (second process).
async fn wrk(url: &str, token: &str, secs: u64, connections: u32) -> anyhow::Result<Measured> {
    let threads = connections.clamp(1, 2);
    let out = tokio::process::Command::new("wrk")
        .arg(format!("-t{threads}"))
        .arg(format!("-c{connections}"))
        .arg(format!("-d{secs}s"))
        .arg("--latency")
        // A slow list must be measured, not counted as a timeout.
        .arg("--timeout")
        .arg("60s")
        .arg("-H")
        .arg(format!("Authorization: Bearer {token}"))
        .arg(url)
        .output()
        .await
        .context("running wrk")?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!(
            "wrk failed ({}): {}{}",
            out.status,
            text,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    parse_wrk(&text)
}

fn wrk_missing() -> bool {
    match std::process::Command::new("wrk").arg("--version").output() {
        Ok(_) => false,
        Err(e) => e.kind() == std::io::ErrorKind::NotFound,
    }
}

/// GET a list page; its body and the `next_cursor` it gives.
async fn get_page(
    http: &reqwest::Client,
    url: &str,
    token: &str,
) -> anyhow::Result<(Bytes, usize, Option<String>)> {
    let r = http.get(url).bearer_auth(token).send().await?;
    let status = r.status();
    let body = r.bytes().await?;
    if !status.is_success() {
        bail!("{url}: {status} {}", String::from_utf8_lossy(&body));
    }
    let v: serde_json::Value = serde_json::from_slice(&body)?;
    let items = v["items"].as_array().map_or(0, Vec::len);
    let next = v["next_cursor"].as_str().map(str::to_string);
    Ok((body, items, next))
}

pub async fn run(opts: Options) -> anyhow::Result<ExitCode> {
    if wrk_missing() {
        eprintln!(
            "bench-list needs the load tool wrk on PATH (a second process drives the server).\n\
             Install it: `apt-get install -y wrk` (Debian/Ubuntu), `brew install wrk` (macOS)."
        );
        return Ok(ExitCode::from(2));
    }
    let Some(load_for) = parse_duration(&opts.duration) else {
        eprintln!(
            "--duration: `{}` is not a duration (10s, 1m, 500ms)",
            opts.duration
        );
        return Ok(ExitCode::from(2));
    };
    let secs = load_for.as_secs().max(1);
    let connections = opts.connections.max(1);
    let dir = std::env::temp_dir().join(format!(
        "orderhub-bench-list-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir)?;
    let db_url = opts
        .database
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}?mode=rwc", dir.join("list.sqlite").display()));
    let token = format!("bench-{}", uuid::Uuid::new_v4().simple());
    std::env::set_var("ORDERHUB_BENCH_LIST_TOKEN", &token);
    let toml = format!(
        "[database]\nurl = {db_url:?}\n\n[server]\napi_token_env = \"ORDERHUB_BENCH_LIST_TOKEN\"\n"
    );
    let loaded = crate::settings::load_layers(None, Some(&toml))
        .map_err(|p| anyhow::anyhow!(p.join("; ")))?;
    let app = App::start(loaded).await?;
    let store = app.store.clone();
    let manager = orderhub_migrations::SchemaManager::new(store.db());
    if opts.without_indexes {
        orderhub_migrations::drop_order_list_indexes(&manager).await?;
    } else {
        orderhub_migrations::create_order_list_indexes(&manager).await?;
    }
    let backend = match store.backend() {
        Backend::Sqlite => "SQLite",
        Backend::Postgres => "PostgreSQL",
    };
    let indexes = if opts.without_indexes {
        "without the order-list indexes (--without-indexes)"
    } else {
        "with the order-list indexes (migration 000009)"
    };
    println!(
        "orderhub bench-list: {} orders on {backend}, {indexes}",
        opts.orders
    );
    println!("  database {db_url}");
    let seed_rate = seed(&store, opts.orders).await?;
    let stored = store.count_orders(None).await?;
    println!(
        "  seeded {} orders at {seed_rate:.0} orders/s ({stored} stored)",
        opts.orders
    );

    // The real server, plus a bench-only route beside it (not in the
    // product router): a fixed JSON body, set once the size is known.
    let fixed: std::sync::Arc<std::sync::OnceLock<Bytes>> = Default::default();
    let body = fixed.clone();
    let bench_routes = Router::new().route(
        "/_bench/fixed",
        get(move || {
            let body = body.get().cloned().unwrap_or_default();
            async move {
                (
                    [(axum::http::header::CONTENT_TYPE, "application/json")],
                    body,
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let router = crate::server::router(app.clone()).merge(bench_routes);
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router).await {
            tracing::error!(error = %e, "bench server stopped");
        }
    });
    let base = format!("http://{addr}");
    let http = reqwest::Client::new();

    let surname = SEARCHED_SURNAME.to_lowercase();
    let mut queries: Vec<(String, String)> = vec![
        (
            "a  status=awaiting".into(),
            "/api/orders?status=awaiting&limit=50".into(),
        ),
        (
            format!("b  channel={LIST_CHANNEL}&sort=-placed_at"),
            format!("/api/orders?channel={LIST_CHANNEL}&sort=-placed_at&limit=50"),
        ),
        (
            format!("c  q={surname}"),
            format!("/api/orders?q={surname}&limit=50"),
        ),
    ];
    // The deep page: the cursor after walking DEEP_PAGES pages of query b.
    let mut cursor = None;
    for _ in 0..DEEP_PAGES {
        let mut url = format!("{base}{}", queries[1].1);
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let (_, _, next) = get_page(&http, &url, &token).await?;
        match next {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    if let Some(c) = cursor {
        queries.push((
            format!("d  b, page {} of its cursor walk", DEEP_PAGES + 1),
            format!("{}&cursor={c}", queries[1].1),
        ));
    }
    queries.push((
        "e  sort=-placed_at (every order)".into(),
        "/api/orders?sort=-placed_at&limit=50".into(),
    ));
    queries.push((
        "f  sort=-total (every order)".into(),
        "/api/orders?sort=-total&limit=50".into(),
    ));
    println!(
        "  server {base}; wrk -t{} -c{connections} -d{secs}s --latency, 1 s warm-up per URL",
        connections.clamp(1, 2)
    );
    let mut sizes = Vec::new();
    for (name, path) in &queries {
        let (body, items, next) = get_page(&http, &format!("{base}{path}"), &token).await?;
        println!(
            "  {name:<44} {items:>3} orders, {} bytes{}",
            body.len(),
            if next.is_some() { ", more follow" } else { "" }
        );
        sizes.push(body);
    }
    // The baseline answers the first query's page, byte for byte.
    let _ = fixed.set(sizes[0].clone());
    queries.push((
        "bare axum handler, fixed JSON".into(),
        "/_bench/fixed".into(),
    ));

    let mut rows = Vec::new();
    for (name, path) in &queries {
        let url = format!("{base}{path}");
        wrk(&url, &token, 1, connections).await?; // warm-up
        let m = wrk(&url, &token, secs, connections).await?;
        if m.bad > 0 {
            eprintln!("  warning: {name}: {} errors or non-2xx answers", m.bad);
        }
        rows.push((name.clone(), m));
    }
    let bare_rps = rows.last().map_or(f64::NAN, |r| r.1.requests_per_sec);
    println!();
    println!(
        "{:<11} {:<44} {:>10} {:>9} {:>9} {:>8}",
        "backend", "query (limit=50)", "req/s", "p50 ms", "p99 ms", "vs bare"
    );
    for (name, m) in &rows {
        println!(
            "{backend:<11} {name:<44} {:>10.0} {:>9.2} {:>9.2} {:>8.3}",
            m.requests_per_sec,
            m.p50_ms,
            m.p99_ms,
            m.requests_per_sec / bare_rps
        );
        let _ = m.requests;
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_wrk_reports() {
        let out = "Running 10s test @ http://127.0.0.1:1/x\n  2 threads and 8 connections\n  \
            Thread Stats   Avg      Stdev     Max   +/- Stdev\n    Latency   1.05ms  340.12us   \
            9.80ms   90.00%\n  Latency Distribution\n     50%  812.00us\n     75%    1.10ms\n     \
            90%    1.50ms\n     99%    2.31ms\n  76432 requests in 10.00s, 2.10GB read\n  \
            Non-2xx or 3xx responses: 3\nRequests/sec:   7641.88\nTransfer/sec:    214.85MB\n";
        let m = parse_wrk(out).unwrap();
        assert!((m.p50_ms - 0.812).abs() < 1e-9);
        assert!((m.p99_ms - 2.31).abs() < 1e-9);
        assert!((m.requests_per_sec - 7641.88).abs() < 1e-9);
        assert_eq!(m.requests, 76432);
        assert_eq!(m.bad, 3);
        assert_eq!(parse_duration("10s"), Some(Duration::from_secs(10)));
        assert_eq!(parse_duration("1m"), Some(Duration::from_secs(60)));
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("x"), None);
    }
}
