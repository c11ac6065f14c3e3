//! `orderhub demo` and `orderhub sandbox`: the sandboxes and the real worker
//! on a temporary SQLite file, orders flowing end to end.

use crate::app::App;
use orderhub_connectors::marketplaces::shopify::sandbox::{ShopifySandbox, ShopifySandboxOptions};
use orderhub_core::OrderStatus;
use std::process::ExitCode;
use std::time::{Duration, Instant};

pub const DEMO_TOKEN: &str = "shpat_demo_token";
pub const DEMO_WEBHOOK_SECRET: &str = "demo_webhook_secret";

/// Start a Shopify sandbox on `listen` and seed it with `orders` orders.
/// Returns its base URL.
/// `plus`: Shopify Plus limits (bucket 20,000, 1,000 points/s); `fast`: limits
/// out of the way, for measuring orderhub itself.
pub async fn start_shopify_sandbox(
    listen: &str,
    orders: u32,
    fast: bool,
) -> anyhow::Result<String> {
    let opts = if fast {
        ShopifySandboxOptions::fast(DEMO_TOKEN, DEMO_WEBHOOK_SECRET)
    } else {
        ShopifySandboxOptions::plus(DEMO_TOKEN, DEMO_WEBHOOK_SECRET)
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
    if kind != "shopify" {
        eprintln!("error: no sandbox for `{kind}` (known: shopify)");
        return Ok(ExitCode::from(2));
    }
    let base = start_shopify_sandbox(listen, orders, false).await?;
    println!("shopify sandbox listening on {base}");
    println!("  access token (X-Shopify-Access-Token): {DEMO_TOKEN}");
    println!("  control: POST {base}/_sandbox/seed, POST {base}/_sandbox/faults, GET {base}/_sandbox/stats");
    tokio::signal::ctrl_c().await?;
    Ok(ExitCode::SUCCESS)
}

/// The demo's configuration: one Shopify channel on the sandbox.
pub fn demo_toml(db_url: &str, shopify_base: &str) -> String {
    format!(
        r#"
[database]
url = "{db_url}"
[server]
listen = "127.0.0.1:0"
[worker]
tick_ms = 200
[[channels]]
id = "demo-shopify"
kind = "shopify"
seller = "demo-seller"
base_url = "{shopify_base}"
poll_interval_secs = 2
[channels.secrets]
access_token = "ORDERHUB_DEMO_SHOPIFY_TOKEN"
webhook_secret = "ORDERHUB_DEMO_SHOPIFY_WEBHOOK_SECRET"
{warehouses}"#,
        warehouses = demo_warehouses(),
    )
}

/// Two warehouses: "east" (preferred) stocks the first 15 SKUs, "west" all 20,
/// so orders with SKU-016..020 are routed to west.
fn demo_warehouses() -> String {
    let stock = |n: usize, q: u32| {
        (1..=n)
            .map(|i| format!("\"SKU-{i:03}\" = {q}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!(
        r#"
[[warehouses]]
id = "east"
seller = "demo-seller"
name = "East coast"
priority = 20
country = "US"
carriers = ["easypost"]
stock = {{ {} }}

[[warehouses]]
id = "west"
seller = "demo-seller"
name = "West coast"
priority = 10
country = "US"
carriers = ["easypost"]
stock = {{ {} }}
"#,
        stock(15, 1_000_000),
        stock(20, 1_000_000)
    )
}

/// The demo's own secrets, set for this process only.
pub fn set_demo_secrets() {
    std::env::set_var("ORDERHUB_DEMO_SHOPIFY_TOKEN", DEMO_TOKEN);
    std::env::set_var("ORDERHUB_DEMO_SHOPIFY_WEBHOOK_SECRET", DEMO_WEBHOOK_SECRET);
}

pub async fn run(orders: u32, database: Option<String>) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let dir = std::env::temp_dir().join(format!("orderhub-demo-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir)?;
    let db_url = database
        .unwrap_or_else(|| format!("sqlite://{}?mode=rwc", dir.join("demo.sqlite").display()));
    let base = start_shopify_sandbox("127.0.0.1:0", orders, false).await?;
    set_demo_secrets();
    let loaded = crate::settings::load_layers(None, Some(&demo_toml(&db_url, &base)))
        .map_err(|p| anyhow::anyhow!(p.join("; ")))?;
    let app = App::start(loaded).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let runner = tokio::spawn(crate::run(app.clone(), listener));
    println!("demo: {orders} orders in a Shopify sandbox at {base}, database {db_url}");
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut last = u64::MAX;
    loop {
        let n = app.store.count_orders(None).await?;
        if n != last {
            println!(
                "  synced {n}/{orders} orders ({:.1}s)",
                started.elapsed().as_secs_f64()
            );
            last = n;
        }
        let awaiting = app.store.count_orders_in(OrderStatus::Awaiting).await?;
        if (n >= orders as u64 && awaiting == 0)
            || Instant::now() > deadline
            || runner.is_finished()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let stored = app.store.count_orders(None).await?;
    let quarantined = app.store.quarantined("demo-shopify").await?.len();
    let stats: serde_json::Value = reqwest::get(format!("{base}/_sandbox/stats"))
        .await?
        .json()
        .await?;
    println!();
    println!("  orders in sandbox     {orders}");
    println!("  orders synced         {stored}");
    println!("  quarantined payloads  {quarantined}");
    for st in [
        OrderStatus::Awaiting,
        OrderStatus::Processing,
        OrderStatus::Exception,
    ] {
        let label = match st {
            OrderStatus::Processing => "routed (processing)",
            _ => st.as_str(),
        };
        println!("  {label:<21} {}", app.store.count_orders_in(st).await?);
    }
    println!(
        "  throttled by sandbox  {}",
        stats.get("throttled").cloned().unwrap_or_default()
    );
    println!("  elapsed               {elapsed:.2}s");
    println!("  orders/s              {:.1}", stored as f64 / elapsed);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(if stored >= orders as u64 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
