//! The bench's worker processes: real `orderhub run` children of this
//! binary, their configuration, databases next to the one given, and their
//! resident memory read from `/proc`.

use anyhow::{bail, Context};
use sea_orm::ConnectionTrait;
use std::path::Path;
use std::time::{Duration, Instant};

/// The environment variable holding the bench's ops token (children inherit it).
pub const TOKEN_ENV: &str = "ORDERHUB_BENCH_TOKEN";

/// A fresh database next to `url`: another SQLite file in `dir`, or a new
/// PostgreSQL database on the same server (created through `url`).
pub async fn sibling_db(url: &str, dir: &Path, tag: &str) -> anyhow::Result<String> {
    let id = uuid::Uuid::new_v4().simple().to_string();
    if url.starts_with("sqlite:") {
        return Ok(format!(
            "sqlite://{}?mode=rwc",
            dir.join(format!("{tag}-{}.sqlite", &id[..8])).display()
        ));
    }
    let name = format!("orderhub_bench_{tag}_{}", &id[..12]);
    let db = sea_orm::Database::connect(url)
        .await
        .context("connecting to the PostgreSQL database given")?;
    db.execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await?;
    db.close().await.ok();
    let (path, query) = url.split_once('?').unwrap_or((url, ""));
    let (base, _) = path
        .rsplit_once('/')
        .context("a PostgreSQL URL ends in /database")?;
    // Keep the query (`?host=/var/run/postgresql` for a Unix socket).
    Ok(if query.is_empty() {
        format!("{base}/{name}")
    } else {
        format!("{base}/{name}?{query}")
    })
}

/// Drop a database [`sibling_db`] made (PostgreSQL; SQLite files go with the
/// temporary directory).
pub async fn drop_sibling(url: &str, sibling: &str) {
    if url.starts_with("sqlite:") {
        return;
    }
    let Some(name) = sibling.split('?').next().and_then(|p| p.rsplit('/').next()) else {
        return;
    };
    if let Ok(db) = sea_orm::Database::connect(url).await {
        let _ = db
            .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .await;
        db.close().await.ok();
    }
}

/// A free TCP port on 127.0.0.1 (bound and released).
pub fn free_port() -> anyhow::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

/// The bench's configuration: `channels` Shopify channels on one sandbox
/// (polled at start, then hourly: new orders come by webhook), one EasyPost
/// account with the client paced at its allowed maximum (1,000 requests/s), one warehouse stocking
/// every sku the sandboxes sell, labels bought as soon as an order is routed.
pub fn config_toml(
    db_url: &str,
    port: u16,
    shopify: &str,
    easypost: &str,
    channels: usize,
) -> String {
    let mut t = format!(
        r#"[database]
url = "{db_url}"
max_connections = 16

[server]
listen = "127.0.0.1:{port}"
api_token_env = "{TOKEN_ENV}"

[worker]
tick_ms = 200
concurrency = 8
request_timeout_ms = 10000
"#
    );
    for i in 0..channels {
        let id = if i == 0 {
            "bench-shopify".to_string()
        } else {
            format!("bench-shopify-{i}")
        };
        t += &format!(
            r#"
[[channels]]
id = "{id}"
kind = "shopify"
seller = "bench"
base_url = "{shopify}"
poll_interval_secs = 3600
[channels.secrets]
access_token = "ORDERHUB_DEMO_SHOPIFY_ACCESS_TOKEN"
webhook_secret = "ORDERHUB_DEMO_SHOPIFY_WEBHOOK_SECRET"
"#
        );
    }
    let stock: Vec<String> = (1..=20)
        .map(|i| format!("\"SKU-{i:03}\" = 100000000"))
        .collect();
    t += &format!(
        r#"
[[carriers]]
id = "bench-easypost"
kind = "easypost"
base_url = "{easypost}"
options = {{ requests_per_second = "1000" }}
[carriers.secrets]
api_key = "ORDERHUB_DEMO_EASYPOST_API_KEY"
webhook_secret = "ORDERHUB_DEMO_EASYPOST_WEBHOOK_SECRET"

[shipping]
policy = "cheapest"
default_item_grams = 400
box = {{ length_in = 12, width_in = 9, height_in = 4, tare_grams = 150 }}

[[warehouses]]
id = "main"
seller = "bench"
name = "Main"
priority = 10
country = "US"
carriers = ["bench-easypost"]
address = {{ name = "Bench Seller", line1 = "1 Infinite Loop", city = "Cupertino", region = "CA", postal_code = "95014", country = "US", phone = "4085551212" }}
stock = {{ {} }}
"#,
        stock.join(", ")
    );
    t
}

/// A running `orderhub run` child.
pub struct Worker {
    pub child: tokio::process::Child,
    pub port: u16,
}

impl Worker {
    /// Start `orderhub --config FILE run` (this binary) and wait for /healthz.
    pub async fn start(config: &Path, port: u16) -> anyhow::Result<Worker> {
        // This binary; if a rebuild replaced it while the bench runs, the
        // new one at the same path.
        let mut exe = std::env::current_exe().context("finding this binary")?;
        if let Some(p) = exe
            .to_str()
            .and_then(|s| s.strip_suffix(" (deleted)"))
            .map(std::path::PathBuf::from)
        {
            exe = p;
        }
        let child = tokio::process::Command::new(exe)
            .arg("--config")
            .arg(config)
            .arg("run")
            .env(
                "ORDERHUB_LOG",
                std::env::var("ORDERHUB_BENCH_CHILD_LOG").unwrap_or_else(|_| "error".into()),
            )
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context("starting an orderhub run child")?;
        let mut w = Worker { child, port };
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = w.child.try_wait()? {
                bail!("the worker process exited at startup ({status})");
            }
            if let Ok(r) = http
                .get(format!("http://127.0.0.1:{port}/healthz"))
                .send()
                .await
            {
                if r.status().is_success() {
                    return Ok(w);
                }
            }
            if Instant::now() > deadline {
                let _ = w.child.kill().await;
                bail!("the worker process did not answer /healthz within 60 s");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// (VmRSS, VmHWM) in MB.
    pub fn rss_mb(&self) -> (f64, f64) {
        self.pid().map_or((f64::NAN, f64::NAN), proc_rss_mb)
    }

    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

fn status_kb(text: &str, key: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(key))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// (VmRSS, VmHWM) of a process in MB, from `/proc/PID/status`.
pub fn proc_rss_mb(pid: u32) -> (f64, f64) {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    (
        status_kb(&text, "VmRSS:").unwrap_or(f64::NAN) / 1024.0,
        status_kb(&text, "VmHWM:").unwrap_or(f64::NAN) / 1024.0,
    )
}

/// This process's peak RSS (VmHWM) in MB.
pub fn self_hwm_mb() -> f64 {
    let text = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status_kb(&text, "VmHWM:").unwrap_or(f64::NAN) / 1024.0
}

/// One worker process with `channels` channels configured and nothing to
/// do, after it settled (5 s of ticks and polls): (VmRSS, VmHWM) in MB.
pub async fn idle_rss(dir: &Path, channels: usize) -> anyhow::Result<(f64, f64)> {
    let sandboxes = super::e2e::Sandboxes::start().await?;
    let db = format!(
        "sqlite://{}?mode=rwc",
        dir.join(format!("idle-{}.sqlite", uuid::Uuid::new_v4().simple()))
            .display()
    );
    let port = free_port()?;
    let cfg = dir.join("idle.toml");
    std::fs::write(
        &cfg,
        config_toml(&db, port, &sandboxes.shopify, &sandboxes.easypost, channels),
    )?;
    let w = Worker::start(&cfg, port).await?;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let rss = w.rss_mb();
    w.stop().await;
    Ok(rss)
}
