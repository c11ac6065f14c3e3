//! Settings as read from `config/default.toml`, `--config FILE` and
//! `ORDERHUB__SECTION__KEY` variables, and their validation.
//!
//! Secrets are never values here: a channel names the *environment variables*
//! that hold them, and [`Settings::validate`] resolves those.

use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub database: DatabaseSettings,
    #[serde(default)]
    pub server: ServerSettings,
    #[serde(default)]
    pub worker: WorkerSettings,
    #[serde(default)]
    pub channels: Vec<ChannelSettings>,
    #[serde(default)]
    pub warehouses: Vec<WarehouseSettings>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WarehouseSettings {
    pub id: String,
    pub seller: String,
    #[serde(default)]
    pub name: String,
    /// Higher is preferred when routing.
    #[serde(default)]
    pub priority: i32,
    /// ISO 3166-1 alpha-2.
    pub country: Option<String>,
    /// Carrier account ids this warehouse ships with.
    #[serde(default)]
    pub carriers: Vec<String>,
    /// Initial stock per sku, applied where the hub has no count yet.
    #[serde(default)]
    pub stock: BTreeMap<String, i64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    pub url: String,
    #[serde(default = "default_max_connections")]
    pub max_connections: u32,
}

fn default_max_connections() -> u32 {
    8
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSettings {
    pub listen: String,
    /// Name of the environment variable holding the ops API bearer token.
    pub api_token_env: String,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            api_token_env: "ORDERHUB_API_TOKEN".into(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorkerSettings {
    /// How often the scheduler looks for channels due a poll.
    pub tick_ms: u64,
    /// How long a poll lease lasts without renewal.
    pub lease_ttl_secs: u64,
    /// Each poll reaches back this far before the cursor (late arrivals).
    pub overlap_secs: u64,
    /// Jobs run at once per queue.
    pub concurrency: usize,
    /// Attempts before a job is left failed for ops.
    pub max_attempts: usize,
    /// Per-request timeout towards remote APIs.
    pub request_timeout_ms: u64,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        Self {
            tick_ms: 1000,
            lease_ttl_secs: 120,
            overlap_secs: 300,
            concurrency: 4,
            max_attempts: 8,
            request_timeout_ms: 15_000,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelSettings {
    pub id: String,
    pub kind: String,
    pub seller: String,
    pub base_url: String,
    #[serde(default = "default_poll_interval")]
    pub poll_interval_secs: u64,
    /// Secret name (as the connector declares it) → environment variable name.
    #[serde(default)]
    pub secrets: BTreeMap<String, String>,
    /// Connector-specific settings (`api_version`, `page_size`, ...).
    #[serde(default)]
    pub options: BTreeMap<String, String>,
}

fn default_poll_interval() -> u64 {
    60
}

/// What validation needs to know about connector kinds.
pub trait KindCatalog {
    /// The secrets a kind requires, or `None` if the kind is unknown.
    fn required_secrets(&self, kind: &str) -> Option<&'static [&'static str]>;
    fn known_kinds(&self) -> Vec<&'static str>;
}

/// A channel's secrets, resolved from the environment.
pub type ResolvedSecrets = BTreeMap<String, BTreeMap<String, String>>;

impl Settings {
    /// Check everything and list every problem, not just the first. On success
    /// returns each channel's secrets read from the environment.
    pub fn validate(
        &self,
        kinds: &dyn KindCatalog,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<ResolvedSecrets, Vec<String>> {
        let mut problems = Vec::new();
        let db = &self.database.url;
        if !(db.starts_with("sqlite:")
            || db.starts_with("postgres://")
            || db.starts_with("postgresql://"))
        {
            problems.push(format!(
                "database.url: must start with sqlite: or postgres:// (got a {}-character value)",
                db.len()
            ));
        }
        if self.server.listen.parse::<std::net::SocketAddr>().is_err() {
            problems.push(format!(
                "server.listen: `{}` is not an address like 127.0.0.1:8080",
                self.server.listen
            ));
        }
        if self.worker.concurrency == 0 {
            problems.push("worker.concurrency: must be at least 1".into());
        }
        if self.worker.max_attempts == 0 {
            problems.push("worker.max_attempts: must be at least 1".into());
        }
        let mut seen = BTreeSet::new();
        let mut resolved = ResolvedSecrets::new();
        for (i, c) in self.channels.iter().enumerate() {
            let at = if c.id.is_empty() {
                format!("channels[{i}]")
            } else {
                format!("channel `{}`", c.id)
            };
            if c.id.is_empty()
                || !c
                    .id
                    .chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_')
            {
                problems.push(format!(
                    "{at}: id must be non-empty letters, digits, - or _"
                ));
            }
            if !seen.insert(c.id.clone()) {
                problems.push(format!("{at}: duplicate channel id"));
            }
            if c.seller.is_empty() {
                problems.push(format!("{at}: seller must not be empty"));
            }
            match url::Url::parse(&c.base_url) {
                Ok(u) if u.scheme() == "http" || u.scheme() == "https" => {}
                _ => problems.push(format!(
                    "{at}: base_url `{}` is not an http(s) URL",
                    c.base_url
                )),
            }
            if c.poll_interval_secs == 0 {
                problems.push(format!("{at}: poll_interval_secs must be at least 1"));
            }
            let Some(required) = kinds.required_secrets(&c.kind) else {
                problems.push(format!(
                    "{at}: unknown connector kind `{}` (known: {})",
                    c.kind,
                    kinds.known_kinds().join(", ")
                ));
                continue;
            };
            let mut secrets = BTreeMap::new();
            for name in required {
                match c.secrets.get(*name) {
                    None => problems.push(format!(
                        "{at}: missing secret `{name}` (set secrets.{name} to the name of an environment variable)"
                    )),
                    Some(var) => match env(var) {
                        Some(v) if !v.is_empty() => {
                            secrets.insert(name.to_string(), v);
                        }
                        _ => problems.push(format!(
                            "{at}: secret `{name}`: environment variable {var} is not set"
                        )),
                    },
                }
            }
            for name in c.secrets.keys() {
                if !required.contains(&name.as_str()) {
                    problems.push(format!(
                        "{at}: `{name}` is not a secret of kind `{}`",
                        c.kind
                    ));
                }
            }
            resolved.insert(c.id.clone(), secrets);
        }
        let mut seen_wh = BTreeSet::new();
        for (i, w) in self.warehouses.iter().enumerate() {
            let at = if w.id.is_empty() {
                format!("warehouses[{i}]")
            } else {
                format!("warehouse `{}`", w.id)
            };
            if w.id.is_empty() {
                problems.push(format!("{at}: id must not be empty"));
            }
            if !seen_wh.insert(w.id.clone()) {
                problems.push(format!("{at}: duplicate warehouse id"));
            }
            if w.seller.is_empty() {
                problems.push(format!("{at}: seller must not be empty"));
            }
            if let Some(c) = &w.country {
                if c.len() != 2 || !c.bytes().all(|b| b.is_ascii_uppercase()) {
                    problems.push(format!(
                        "{at}: country `{c}` is not an ISO 3166-1 alpha-2 code"
                    ));
                }
            }
            for (sku, q) in &w.stock {
                if *q < 0 {
                    problems.push(format!("{at}: stock of `{sku}` is negative"));
                }
            }
        }
        if problems.is_empty() {
            Ok(resolved)
        } else {
            Err(problems)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Kinds;
    impl KindCatalog for Kinds {
        fn required_secrets(&self, kind: &str) -> Option<&'static [&'static str]> {
            (kind == "shopify").then_some(&["access_token", "webhook_secret"][..])
        }
        fn known_kinds(&self) -> Vec<&'static str> {
            vec!["shopify"]
        }
    }

    fn channel(id: &str, kind: &str, url: &str) -> ChannelSettings {
        ChannelSettings {
            id: id.into(),
            kind: kind.into(),
            seller: "acme".into(),
            base_url: url.into(),
            poll_interval_secs: 60,
            secrets: [("access_token".to_string(), "TOKEN_VAR".to_string())].into(),
            options: Default::default(),
        }
    }

    #[test]
    fn every_problem_is_listed_at_once() {
        let s = Settings {
            database: DatabaseSettings {
                url: "mysql://x".into(),
                max_connections: 1,
            },
            server: Default::default(),
            worker: Default::default(),
            warehouses: vec![],
            channels: vec![
                channel("a", "shopify", "https://a.example"),
                channel("a", "amazin", "https://b.example"),
                channel("c", "shopify", "not a url"),
            ],
        };
        let problems = s.validate(&Kinds, &|_| None).unwrap_err();
        let all = problems.join("\n");
        assert!(all.contains("database.url"), "{all}");
        assert!(all.contains("duplicate channel id"), "{all}");
        assert!(all.contains("unknown connector kind `amazin`"), "{all}");
        assert!(all.contains("base_url `not a url`"), "{all}");
        assert!(all.contains("missing secret `webhook_secret`"), "{all}");
        assert!(all.contains("TOKEN_VAR is not set"), "{all}");
    }

    #[test]
    fn secrets_come_from_the_environment_and_are_not_in_messages() {
        let mut c = channel("a", "shopify", "https://a.example");
        c.secrets.insert("webhook_secret".into(), "HOOK_VAR".into());
        let s = Settings {
            database: DatabaseSettings {
                url: "sqlite::memory:".into(),
                max_connections: 1,
            },
            server: Default::default(),
            worker: Default::default(),
            warehouses: vec![],
            channels: vec![c],
        };
        let got = s
            .validate(&Kinds, &|v| Some(format!("value-of-{v}")))
            .unwrap();
        assert_eq!(got["a"]["access_token"], "value-of-TOKEN_VAR");
    }
}
