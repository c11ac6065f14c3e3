//! `orderhub demo` and `orderhub sandbox`: the sandboxes and the real worker
//! on a temporary SQLite file, orders flowing end to end.

use crate::app::App;
use orderhub_connectors::marketplaces::shopify::sandbox::{ShopifySandbox, ShopifySandboxOptions};
use orderhub_connectors::sandbox::{CarrierSandboxSettings, SandboxLimits};
use orderhub_core::store::FulfillmentCounts;
use orderhub_core::OrderStatus;
use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// Start a Shopify sandbox on `listen` and seed it with `orders` orders.
/// Returns its base URL.
/// `plus`: Shopify Plus limits (bucket 20,000, 1,000 points/s); `fast`: limits
/// out of the way, for measuring orderhub itself.
pub async fn start_shopify_sandbox(
    listen: &str,
    orders: u32,
    fast: bool,
) -> anyhow::Result<String> {
    let profile = (orderhub_connectors::marketplaces::shopify::KIND
        .sandbox
        .profile)();
    let (token, secret) = (
        profile.secret("access_token"),
        profile.secret("webhook_secret"),
    );
    let opts = if fast {
        ShopifySandboxOptions::fast(token, secret)
    } else {
        ShopifySandboxOptions::plus(token, secret)
    };
    let sandbox = ShopifySandbox::new(opts);
    let (addr, _handle) = orderhub_connectors::sandbox::serve(sandbox.router(), listen).await?;
    let base = format!("http://{addr}");
    if orders > 0 {
        seed(&base, orders).await?;
    }
    Ok(base)
}

pub async fn seed(base: &str, count: u32) -> anyhow::Result<()> {
    reqwest::Client::new()
        .post(format!("{base}/_sandbox/seed"))
        .json(&serde_json::json!({ "count": count }))
        .send()
        .await?
        .error_for_status()?;
    Ok(())
}

pub async fn run_sandbox(kind: &str, listen: &str, orders: u32) -> anyhow::Result<ExitCode> {
    let (base, profile, limit) = if let Some(k) = orderhub_connectors::carrier_kind(kind) {
        let profile = (k.sandbox.profile)();
        let settings = CarrierSandboxSettings {
            advance_every_ms: 1000,
            limits: SandboxLimits::Published,
        };
        let router = (k.sandbox.router)(&profile, settings);
        let (addr, _handle) = orderhub_connectors::sandbox::serve(router, listen).await?;
        let base = format!("http://{addr}");
        println!("{kind} carrier sandbox listening on {base}; labels move one step a second");
        println!("  subscribe a webhook URL: POST {base}/_sandbox/subscribe {{\"url\": \"...\"}}");
        (base, profile, k.sandbox.published_limit)
    } else if let Some(k) = orderhub_connectors::marketplace_kind(kind) {
        let profile = (k.sandbox.profile)();
        let router = (k.sandbox.router)(&profile, SandboxLimits::Published);
        let (addr, _handle) = orderhub_connectors::sandbox::serve(router, listen).await?;
        let base = format!("http://{addr}");
        if orders > 0 {
            seed(&base, orders).await?;
        }
        println!("{kind} sandbox listening on {base} with {orders} orders");
        println!("  seed: POST {base}/_sandbox/seed, revoke credentials: POST {base}/_sandbox/credentials");
        (base, profile, k.sandbox.published_limit)
    } else {
        let known: Vec<&str> = orderhub_connectors::marketplace_kinds()
            .iter()
            .map(|k| k.kind)
            .chain(orderhub_connectors::carrier_kinds().iter().map(|k| k.kind))
            .collect();
        eprintln!(
            "error: no sandbox for `{kind}` (known: {})",
            known.join(", ")
        );
        return Ok(ExitCode::from(2));
    };
    println!("  published limit enforced: {limit}");
    // These are the sandbox's own fixed credentials, not anyone's secrets.
    for (name, value) in &profile.secrets {
        println!("  secret {name}: {value}");
    }
    for (name, value) in &profile.options {
        println!("  option {name}: {value}");
    }
    println!("  control: POST {base}/_sandbox/faults, GET {base}/_sandbox/stats");
    tokio::signal::ctrl_c().await?;
    Ok(ExitCode::SUCCESS)
}

/// The demo's configuration (`config/demo.toml`, compiled in) with the
/// sandboxes' addresses and the database filled in.
pub const DEMO_TOML: &str = include_str!("../../config/demo.toml");

/// The carrier kinds the demo buys labels through (rate shopping asks all
/// three for every shipment of the west warehouse).
pub const DEMO_CARRIERS: [&str; 3] = ["easypost", "shippo", "sendcloud"];

/// `urls`: marketplace or carrier kind → its sandbox's base URL. A kind with
/// no sandbox running points at a closed port (the bench polls one only).
pub fn demo_toml(db_url: &str, urls: &BTreeMap<&str, String>) -> String {
    let mut toml = DEMO_TOML.replace("{database_url}", db_url);
    let kinds = orderhub_connectors::marketplace_kinds()
        .iter()
        .map(|k| k.kind)
        .chain(DEMO_CARRIERS);
    for kind in kinds {
        let url = urls.get(kind).map_or("http://127.0.0.1:9", String::as_str);
        toml = toml.replace(&format!("{{{kind}_url}}"), url);
    }
    toml
}

/// The demo's own secrets, set for this process only: each sandbox's fixed
/// credentials as `ORDERHUB_DEMO_{KIND}_{SECRET}`, as `config/demo.toml`
/// names them.
pub fn set_demo_secrets() {
    let profiles = orderhub_connectors::marketplace_kinds()
        .iter()
        .map(|k| (k.kind, (k.sandbox.profile)()))
        .chain(
            orderhub_connectors::carrier_kinds()
                .iter()
                .map(|k| (k.kind, (k.sandbox.profile)())),
        );
    for (kind, profile) in profiles {
        for (name, value) in profile.secrets {
            std::env::set_var(
                format!(
                    "ORDERHUB_DEMO_{}_{}",
                    kind.to_uppercase(),
                    name.to_uppercase()
                ),
                value,
            );
        }
    }
}

/// Start every marketplace kind's sandbox (volume limits) and seed `orders`
/// orders spread evenly over them. Returns kind → (base URL, orders seeded).
pub async fn start_marketplace_sandboxes(
    orders: u32,
) -> anyhow::Result<BTreeMap<&'static str, (String, u32)>> {
    let kinds = orderhub_connectors::marketplace_kinds();
    let mut out = BTreeMap::new();
    for (i, k) in kinds.iter().enumerate() {
        let share =
            orders / kinds.len() as u32 + u32::from((i as u32) < orders % kinds.len() as u32);
        let profile = (k.sandbox.profile)();
        let router = (k.sandbox.router)(&profile, SandboxLimits::Volume);
        let (addr, _handle) = orderhub_connectors::sandbox::serve(router, "127.0.0.1:0").await?;
        let base = format!("http://{addr}");
        if share > 0 {
            seed(&base, share).await?;
        }
        out.insert(k.kind, (base, share));
    }
    Ok(out)
}

/// Start the demo's carrier sandboxes (volume limits) whose labels move one
/// step every `advance_every_ms`. Returns kind → base URL.
pub async fn start_carrier_sandboxes(
    advance_every_ms: u64,
) -> anyhow::Result<BTreeMap<&'static str, String>> {
    let mut out = BTreeMap::new();
    for kind in DEMO_CARRIERS {
        let k = orderhub_connectors::carrier_kind(kind)
            .ok_or_else(|| anyhow::anyhow!("carrier kind {kind} is not registered"))?;
        let profile = (k.sandbox.profile)();
        let settings = CarrierSandboxSettings {
            advance_every_ms,
            limits: SandboxLimits::Volume,
        };
        let router = (k.sandbox.router)(&profile, settings);
        let (addr, _handle) = orderhub_connectors::sandbox::serve(router, "127.0.0.1:0").await?;
        out.insert(k.kind, format!("http://{addr}"));
    }
    Ok(out)
}

/// Tell each carrier sandbox where orderhub takes its tracking webhooks
/// (`/webhooks/carriers/demo-{kind}`, plus the URL token where the carrier
/// authenticates that way).
async fn subscribe_carriers(
    carriers: &BTreeMap<&'static str, String>,
    orderhub: std::net::SocketAddr,
) -> anyhow::Result<()> {
    for (kind, base) in carriers {
        let query = orderhub_connectors::carrier_kind(kind)
            .map(|k| (k.sandbox.profile)().webhook_query)
            .unwrap_or_default();
        let url = format!("http://{orderhub}/webhooks/carriers/demo-{kind}{query}");
        reqwest::Client::new()
            .post(format!("{base}/_sandbox/subscribe"))
            .json(&serde_json::json!({ "url": url }))
            .send()
            .await?
            .error_for_status()?;
    }
    Ok(())
}

/// Where the demo's orders are, for the progress bar and the summary.
struct Progress {
    synced: u64,
    routed: u64,
    counts: FulfillmentCounts,
    delivered_orders: u64,
    exceptions: u64,
}

async fn progress(app: &App) -> anyhow::Result<Progress> {
    let s = &app.store;
    let synced = s.count_orders(None).await?;
    let awaiting = s.count_orders_in(OrderStatus::Awaiting).await?;
    Ok(Progress {
        synced,
        routed: synced - awaiting,
        counts: s.fulfillment_counts().await?,
        delivered_orders: s.count_orders_in(OrderStatus::Delivered).await?,
        exceptions: s.count_orders_in(OrderStatus::Exception).await?,
    })
}

pub async fn run(orders: u32, database: Option<String>) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let dir = std::env::temp_dir().join(format!("orderhub-demo-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir)?;
    let db_url = database
        .unwrap_or_else(|| format!("sqlite://{}?mode=rwc", dir.join("demo.sqlite").display()));
    let markets = start_marketplace_sandboxes(orders).await?;
    let carriers = start_carrier_sandboxes(300).await?;
    set_demo_secrets();
    let urls: BTreeMap<&str, String> = markets
        .iter()
        .map(|(k, (u, _))| (*k, u.clone()))
        .chain(carriers.iter().map(|(k, u)| (*k, u.clone())))
        .collect();
    let loaded = crate::settings::load_layers(None, Some(&demo_toml(&db_url, &urls)))
        .map_err(|p| anyhow::anyhow!(p.join("; ")))?;
    let app = App::start(loaded).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    subscribe_carriers(&carriers, listener.local_addr()?).await?;
    let runner = tokio::spawn(crate::run(app.clone(), listener));
    println!(
        "orderhub demo: {orders} orders over {} marketplace sandboxes:",
        markets.len()
    );
    for (kind, (url, n)) in &markets {
        println!("  {kind:<12} {n:>5} orders at {url}");
    }
    for (kind, url) in &carriers {
        println!("  carrier {kind:<10} at {url}");
    }
    println!("  database {db_url}");
    let bar = indicatif::ProgressBar::new(orders as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "  {elapsed:>4} [{bar:30}] {pos}/{len} delivered  {msg}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    // Ecwid's published 600 requests/min is the slowest lane: allow for it.
    let deadline = Instant::now() + Duration::from_secs(180 + orders as u64 / 5);
    let mut p;
    loop {
        p = progress(&app).await?;
        bar.set_position(p.delivered_orders);
        bar.set_message(format!(
            "synced {} routed {} labels {} pushed {} exceptions {}",
            p.synced, p.routed, p.counts.labels_bought, p.counts.tracking_pushed, p.exceptions
        ));
        // Done when every order is delivered and every channel was told
        // (tracking, then the delivery), or is in exception.
        let done = p.synced >= orders as u64
            && p.delivered_orders + p.exceptions >= p.synced
            && p.counts.tracking_pushed + p.exceptions >= p.synced
            && p.counts.delivery_pushed + p.exceptions >= p.synced;
        if done || Instant::now() > deadline || runner.is_finished() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    bar.finish();
    let elapsed = started.elapsed().as_secs_f64();
    println!();
    // One row per carrier account: labels its sandbox sold, and any sold
    // twice for one shipment (or for a shipment another carrier labelled).
    println!(
        "  {:<12} {:>7} {:>13} {:>7} {:>9}",
        "carrier", "labels", "double labels", "voided", "requests"
    );
    let mut double_labels = 0;
    let mut labelled: BTreeMap<String, u64> = BTreeMap::new();
    for (kind, url) in &carriers {
        let stats = sandbox_stats(url).await?;
        let by_ref = stats["recorded"]["labels_by_reference"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        let mut doubled = 0;
        for (reference, n) in &by_ref {
            let n = n.as_u64().unwrap_or(0);
            let seen = labelled.entry(reference.clone()).or_default();
            *seen += n;
            if n > 1 || *seen > n {
                doubled += 1;
            }
        }
        double_labels += doubled;
        let requests: u64 = stats["requests_by_path"]
            .as_object()
            .map_or(0, |m| m.values().filter_map(|v| v.as_u64()).sum());
        println!(
            "  {:<12} {:>7} {:>13} {:>7} {:>9}",
            kind,
            by_ref.values().filter_map(|v| v.as_u64()).sum::<u64>(),
            doubled,
            stats["recorded"]["voids_by_reference"]
                .as_object()
                .map_or(0, |m| m.len()),
            requests,
        );
    }
    println!();
    // One row per channel: what the channel's sandbox holds and recorded.
    println!(
        "  {:<12} {:>7} {:>7} {:>11} {:>9} {:>15} {:>9} {:>9}",
        "channel",
        "orders",
        "synced",
        "quarantined",
        "tracking",
        "double tracking",
        "requests",
        "throttled"
    );
    let mut double_tracking = 0;
    for (kind, (url, n)) in &markets {
        let channel_id = format!("demo-{kind}");
        let stats = sandbox_stats(url).await?;
        let tracking = stats["recorded"]["tracking"].as_object();
        let with_tracking = tracking.map_or(0, |m| m.len());
        let doubled = tracking.map_or(0, |m| {
            m.values()
                .filter(|v| v.as_array().is_some_and(|a| a.len() > 1))
                .count()
        });
        double_tracking += doubled;
        let requests: u64 = stats["requests_by_path"]
            .as_object()
            .map_or(0, |m| m.values().filter_map(|v| v.as_u64()).sum());
        println!(
            "  {:<12} {:>7} {:>7} {:>11} {:>9} {:>15} {:>9} {:>9}",
            kind,
            n,
            app.store.count_orders(Some(&channel_id)).await?,
            app.store.quarantined(&channel_id).await?.len(),
            with_tracking,
            doubled,
            requests,
            stats["throttled"].as_u64().unwrap_or(0),
        );
    }
    println!();
    // The baseline, in the same run on the same database: the bare queue
    // running as many no-op jobs as there were orders.
    let noop = crate::bench::bare_queue(&app.store, orders.max(1) as u64).await?;
    let rate = p.delivered_orders as f64 / elapsed;
    let rows: [(&str, String); 14] = [
        ("orders in the sandboxes", orders.to_string()),
        ("orders synced", p.synced.to_string()),
        ("orders routed", p.routed.to_string()),
        ("labels bought", p.counts.labels_bought.to_string()),
        ("double labels", double_labels.to_string()),
        ("tracking pushed", p.counts.tracking_pushed.to_string()),
        ("deliveries told", p.counts.delivery_pushed.to_string()),
        ("double tracking", double_tracking.to_string()),
        ("shipments delivered", p.counts.delivered.to_string()),
        ("orders delivered", p.delivered_orders.to_string()),
        ("exceptions", p.exceptions.to_string()),
        ("elapsed", format!("{elapsed:.1} s")),
        ("orders/s end to end", format!("{rate:.1}")),
        (
            "bare apalis no-op jobs/s",
            format!("{noop:.0} (ratio {:.5})", rate / noop),
        ),
    ];
    for (label, value) in rows {
        println!("  {label:<26} {value:>10}");
    }
    // The KPIs ops would see for these orders (`GET /api/kpis`); placed times
    // are the sandboxes' generated ones, so durations run from those.
    let range = orderhub_core::store::KpiQuery {
        from: chrono::Utc::now() - chrono::Duration::days(365),
        to: chrono::Utc::now() + chrono::Duration::minutes(1),
        channel: None,
        warehouse: None,
        seller: None,
    };
    if let Ok(k) = app.store.kpis(&range, &app.settings.shipping).await {
        let secs = |s: Option<i64>| match s {
            None => "-".to_string(),
            Some(s) if s < 3600 => format!("{s} s"),
            Some(s) => format!("{:.1} h", s as f64 / 3600.0),
        };
        let share = |s: &orderhub_core::store::Share| {
            s.rate.map_or("-".to_string(), |r| {
                format!("{:.1} % of {}", r * 100.0, s.count)
            })
        };
        let cost = k
            .labels_cost
            .iter()
            .map(|(c, a)| format!("{a} {c}"))
            .collect::<Vec<_>>()
            .join(", ");
        println!("  KPIs (GET /api/kpis)");
        println!(
            "  {:<26} {:>10} median, {} p90",
            "placed → label",
            secs(k.placed_to_label.median_secs),
            secs(k.placed_to_label.p90_secs)
        );
        println!(
            "  {:<26} {:>10} median, {} p90",
            "placed → delivered",
            secs(k.placed_to_delivered.median_secs),
            secs(k.placed_to_delivered.p90_secs)
        );
        println!("  {:<26} {:>10}", "on time", share(&k.on_time_rate));
        println!("  {:<26} {:>10}", "accuracy", share(&k.accuracy));
        println!("  {:<26} {:>10}", "labels cost", cost);
    }
    let _ = std::fs::remove_dir_all(&dir);
    let ok = p.synced >= orders as u64
        && p.delivered_orders + p.exceptions >= p.synced
        && p.counts.tracking_pushed + p.exceptions >= p.synced
        && double_labels == 0
        && double_tracking == 0;
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

async fn sandbox_stats(base: &str) -> anyhow::Result<serde_json::Value> {
    Ok(reqwest::get(format!("{base}/_sandbox/stats"))
        .await?
        .json()
        .await?)
}
