//! Shared helpers for the end-to-end tests: a fresh database per test (a
//! SQLite file or a new PostgreSQL database), a seeded Shopify sandbox, and
//! the real worker wired from config text.
#![allow(dead_code)]

use orderhub::app::App;
use orderhub_connectors::marketplaces::shopify::sandbox::{ShopifySandbox, ShopifySandboxOptions};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub const TOKEN: &str = "shpat_test_token";
pub const HOOK_SECRET: &str = "test_webhook_secret";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

/// A database of its own for one test.
pub async fn fresh_db(kind: Db) -> String {
    let name = format!("orderhub_t_{}", uuid::Uuid::new_v4().simple());
    match kind {
        Db::Sqlite => {
            let dir = std::env::temp_dir().join("orderhub-tests");
            std::fs::create_dir_all(&dir).unwrap();
            format!(
                "sqlite://{}?mode=rwc",
                dir.join(format!("{name}.sqlite")).display()
            )
        }
        Db::Postgres => {
            let admin = std::env::var("ORDERHUB_TEST_PG")
                .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
            use sea_orm::ConnectionTrait;
            let db = sea_orm::Database::connect(&admin)
                .await
                .expect("PostgreSQL for tests (ORDERHUB_TEST_PG)");
            db.execute_unprepared(&format!("CREATE DATABASE {name}"))
                .await
                .unwrap();
            let base = admin.rsplit_once('/').unwrap().0;
            format!("{base}/{name}")
        }
    }
}

pub struct Sandbox {
    pub base: String,
    pub http: reqwest::Client,
}

impl Sandbox {
    /// A sandbox with room for volume (tests that are not about limits).
    pub async fn start() -> Sandbox {
        Self::start_with(ShopifySandboxOptions::fast(TOKEN, HOOK_SECRET)).await
    }

    pub async fn start_with(opts: ShopifySandboxOptions) -> Sandbox {
        let sandbox = ShopifySandbox::new(opts);
        let (addr, _h) = orderhub_connectors::sandbox::serve(sandbox.router(), "127.0.0.1:0")
            .await
            .unwrap();
        Sandbox {
            base: format!("http://{addr}"),
            http: reqwest::Client::new(),
        }
    }

    pub async fn post(&self, path: &str, body: Value) -> Value {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{path}: {}", r.status());
        r.json().await.unwrap_or(Value::Null)
    }

    pub async fn seed(&self, count: u32, step_ms: u64) -> Value {
        self.post(
            "/_sandbox/seed",
            json!({ "count": count, "step_ms": step_ms }),
        )
        .await
    }

    pub async fn faults(&self, faults: Value) {
        self.post("/_sandbox/faults", faults).await;
    }

    pub async fn stats(&self) -> Value {
        self.http
            .get(format!("{}/_sandbox/stats", self.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

/// Config text for one Shopify channel on `base`.
pub fn config_toml(db_url: &str, base: &str, extra_worker: &str) -> String {
    format!(
        r#"
[database]
url = "{db_url}"
max_connections = 8
[server]
listen = "127.0.0.1:0"
[worker]
tick_ms = 100
lease_ttl_secs = 3
request_timeout_ms = 2000
{extra_worker}
[[channels]]
id = "shop"
kind = "shopify"
seller = "acme"
base_url = "{base}"
poll_interval_secs = 1
[channels.secrets]
access_token = "ORDERHUB_TEST_SHOPIFY_TOKEN"
webhook_secret = "ORDERHUB_TEST_SHOPIFY_WEBHOOK_SECRET"
"#
    )
}

pub fn set_secrets() {
    std::env::set_var("ORDERHUB_TEST_SHOPIFY_TOKEN", TOKEN);
    std::env::set_var("ORDERHUB_TEST_SHOPIFY_WEBHOOK_SECRET", HOOK_SECRET);
}

pub async fn app(db_url: &str, base: &str, extra_worker: &str) -> Arc<App> {
    app_from_toml(&config_toml(db_url, base, extra_worker)).await
}

pub async fn app_from_toml(toml: &str) -> Arc<App> {
    set_secrets();
    let loaded = orderhub::settings::load_layers(None, Some(toml)).expect("test config is valid");
    App::start(loaded).await.unwrap()
}

/// Poll the channel until `want` orders are stored (or time runs out).
pub async fn sync_until(app: &App, want: u64, within: Duration) -> u64 {
    let deadline = Instant::now() + within;
    loop {
        let _ = orderhub::jobs::poll_once(app, "shop").await;
        let n = app.store.count_orders(Some("shop")).await.unwrap();
        if n >= want || Instant::now() > deadline {
            return n;
        }
    }
}

pub async fn wait_for<F, Fut>(within: Duration, mut f: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if f().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

pub mod flow;
pub mod procs;
