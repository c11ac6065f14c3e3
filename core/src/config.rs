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
    #[serde(default)]
    pub carriers: Vec<CarrierSettings>,
    #[serde(default)]
    pub shipping: ShippingSettings,
    #[serde(default)]
    pub inventory: InventorySettings,
    #[serde(default)]
    pub routing: RoutingSettings,
    #[serde(default)]
    pub notifications: NotificationSettings,
    /// Scan-to-verify packing (`[packing]`).
    #[serde(default)]
    pub packing: PackingSettings,
    #[serde(default)]
    pub email: EmailSettings,
    /// Stock levels pushed to every channel (`[stock_sync]`).
    #[serde(default)]
    pub stock_sync: StockSyncSettings,
}

/// Stock sync to the channels (`[stock_sync]`): after a stock change, each
/// (channel, sku) waits `debounce_secs` so a burst of changes is one push.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StockSyncSettings {
    pub enabled: bool,
    /// Seconds from a sku's first unpushed change to its push (fractions allowed).
    pub debounce_secs: f64,
}

impl Default for StockSyncSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            debounce_secs: 3.0,
        }
    }
}

impl StockSyncSettings {
    pub fn debounce_ms(&self) -> i64 {
        (self.debounce_secs.clamp(0.0, 3600.0) * 1000.0) as i64
    }

    fn problems(&self) -> Vec<String> {
        if self.debounce_secs.is_finite() && (0.0..=3600.0).contains(&self.debounce_secs) {
            vec![]
        } else {
            vec!["stock_sync.debounce_secs: must be from 0 to 3600".into()]
        }
    }
}

/// How orders are routed to warehouses (`[routing]`): the tie-breakers in
/// order, whether an order may be split, and what happens to units no
/// warehouse has. See `crate::routing_rules`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RoutingSettings {
    /// `fewest_shipments`, `closest`, `priority`, `most_stock`, in order.
    pub rules: Vec<String>,
    /// Split an order over warehouses when no single one can fill it.
    pub allow_split: bool,
    /// `none` (the order goes to exception) or `allow` (units backordered).
    pub backorder: String,
}

impl Default for RoutingSettings {
    fn default() -> Self {
        Self {
            rules: crate::routing_rules::Rule::ALL
                .iter()
                .map(|r| r.as_str().to_string())
                .collect(),
            allow_split: false,
            backorder: "none".into(),
        }
    }
}

impl RoutingSettings {
    /// The planner's config; unknown names (reported by validation) are skipped.
    pub fn to_config(&self) -> crate::routing_rules::RoutingConfig {
        crate::routing_rules::RoutingConfig {
            rules: self.rules.iter().filter_map(|r| r.parse().ok()).collect(),
            allow_split: self.allow_split,
            backorder: self.backorder.parse().unwrap_or_default(),
        }
    }

    fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let mut seen = BTreeSet::new();
        for r in &self.rules {
            if let Err(e) = r.parse::<crate::routing_rules::Rule>() {
                problems.push(format!("routing.rules: {e}"));
            } else if !seen.insert(r.trim()) {
                problems.push(format!("routing.rules: `{r}` is listed twice"));
            }
        }
        if let Err(e) = self.backorder.parse::<crate::routing_rules::Backorder>() {
            problems.push(format!("routing.backorder: {e}"));
        }
        problems
    }
}

/// Scan-to-verify packing (`[packing]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PackingSettings {
    /// A measured weight (Finish with a weight) that differs from the
    /// shipment's computed weight by more than this percentage re-rates the
    /// shipment with the measured weight before its label (default 10).
    pub reweigh_tolerance_pct: f64,
}

impl Default for PackingSettings {
    fn default() -> Self {
        Self {
            reweigh_tolerance_pct: 10.0,
        }
    }
}

/// Stock alerts (`[inventory]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InventorySettings {
    /// A sku whose available stock (on hand − reserved) in a warehouse is at
    /// or below this is listed as low on the dashboard.
    pub low_stock_threshold: i64,
    /// Per-sku thresholds (`{ "SKU-001" = 10 }`) for low-stock alerts; a sku
    /// not listed uses `low_stock_threshold`.
    pub thresholds: BTreeMap<String, i64>,
}

impl Default for InventorySettings {
    fn default() -> Self {
        Self {
            low_stock_threshold: 5,
            thresholds: BTreeMap::new(),
        }
    }
}

impl InventorySettings {
    /// The low-stock threshold of `sku`: its own, else the global one.
    pub fn threshold_for(&self, sku: &str) -> i64 {
        self.thresholds
            .get(sku)
            .copied()
            .unwrap_or(self.low_stock_threshold)
    }

    fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.low_stock_threshold < 0 {
            problems.push("inventory.low_stock_threshold: must be 0 or more".into());
        }
        for (sku, t) in &self.thresholds {
            if sku.trim().is_empty() || sku.contains('\0') {
                problems.push("inventory.thresholds: a sku must not be empty".into());
            }
            if *t < 0 {
                problems.push(format!("inventory.thresholds: `{sku}` must be 0 or more"));
            }
        }
        problems
    }
}

/// A carrier account labels are bought through (`[[carriers]]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CarrierSettings {
    pub id: String,
    pub kind: String,
    /// The seller whose account this is: only that seller's warehouses may
    /// use it, and only that seller's token may record labels on it. Unset:
    /// an account every seller's warehouses may use (the platform's own).
    #[serde(default)]
    pub seller: Option<String>,
    pub base_url: String,
    /// Secret name (as the connector declares it) → environment variable name.
    #[serde(default)]
    pub secrets: BTreeMap<String, String>,
    #[serde(default)]
    pub options: BTreeMap<String, String>,
}

/// How parcels are made and how the channel is told (`[shipping]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ShippingSettings {
    /// Ask the channel to email the buyer when tracking is pushed.
    pub notify_customer: bool,
    /// Weight per unit by sku, in grams; wins over the channel's grams.
    pub sku_grams: BTreeMap<String, u32>,
    /// Weight of a unit whose sku has no weight here or from the channel.
    pub default_item_grams: u32,
    /// The box used when `boxes` is empty (one box per shipment, no
    /// weight limit but the carriers').
    #[serde(rename = "box")]
    pub default_box: BoxSettings,
    /// The boxes the packer chooses from (`[[shipping.boxes]]`).
    pub boxes: Vec<PackBoxSettings>,
    /// Dimensions and weight per sku (`[shipping.skus."SKU-1"]`), for packing.
    pub skus: BTreeMap<String, SkuSettings>,
    /// How rate shopping chooses: `cheapest`, `fastest` or `cheapest_on_time`.
    pub policy: String,
    /// Business days between an order and its handover to the carrier.
    pub handling_days: u32,
    /// Orders seen after this time of day (UTC, `HH:MM`) count from the
    /// next business day.
    pub cutoff: String,
    /// Promised transit business days by the channel's shipping method name
    /// (matched case-insensitively), for `cheapest_on_time`.
    pub methods: BTreeMap<String, u32>,
    /// Promised transit days when the method is not listed.
    pub default_transit_days: u32,
    /// How long rate shopping waits for all carrier accounts; a slower one
    /// is skipped.
    pub rate_budget_ms: u64,
    /// Buy a label as soon as an order is routed; `false` leaves shipments
    /// `created` for a batch (`orderhub labels buy --all-ready`).
    pub auto_buy_labels: bool,
    /// Labels bought at once per carrier account in a batch.
    pub batch_concurrency_per_carrier: usize,
    /// A shipment with a label whose tracking has not moved for this many
    /// days (fractions allowed) raises a delivery problem.
    pub stalled_after_days: f64,
    /// Overrides `stalled_after_days`, in seconds (tests).
    pub stalled_after_secs: Option<u64>,
}

/// A box the packer may use: inner dimensions in inches, the most it may
/// weigh in grams (contents and box), and its own weight.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PackBoxSettings {
    pub name: String,
    pub length_in: rust_decimal::Decimal,
    pub width_in: rust_decimal::Decimal,
    pub height_in: rust_decimal::Decimal,
    pub max_grams: u32,
    #[serde(default)]
    pub tare_grams: u32,
}

/// One unit of a sku: weight in grams and outer dimensions in inches.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct SkuSettings {
    pub grams: Option<u32>,
    pub length_in: Option<rust_decimal::Decimal>,
    pub width_in: Option<rust_decimal::Decimal>,
    pub height_in: Option<rust_decimal::Decimal>,
}

impl Default for ShippingSettings {
    fn default() -> Self {
        Self {
            notify_customer: true,
            sku_grams: BTreeMap::new(),
            default_item_grams: 450,
            default_box: BoxSettings::default(),
            boxes: Vec::new(),
            skus: BTreeMap::new(),
            policy: "cheapest".into(),
            handling_days: 1,
            cutoff: "14:00".into(),
            methods: BTreeMap::new(),
            default_transit_days: 5,
            rate_budget_ms: 5_000,
            auto_buy_labels: true,
            batch_concurrency_per_carrier: 8,
            stalled_after_days: 5.0,
            stalled_after_secs: None,
        }
    }
}

impl ShippingSettings {
    /// How long tracking may stand still before a delivery problem is raised.
    pub fn stalled_after(&self) -> chrono::Duration {
        match self.stalled_after_secs {
            Some(secs) => chrono::Duration::seconds(secs.min(i64::MAX as u64 / 1000) as i64),
            None => chrono::Duration::milliseconds(
                (self.stalled_after_days.max(0.0) * 86_400_000.0).min(1e15) as i64,
            ),
        }
    }

    /// The cut-off as a time of day (UTC).
    pub fn cutoff_time(&self) -> Option<chrono::NaiveTime> {
        chrono::NaiveTime::parse_from_str(self.cutoff.trim(), "%H:%M").ok()
    }

    /// Promised transit days for a channel's shipping method.
    pub fn transit_days_for(&self, method: Option<&str>) -> u32 {
        method
            .and_then(|m| {
                self.methods
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(m.trim()))
                    .map(|(_, d)| *d)
            })
            .unwrap_or(self.default_transit_days)
    }

    fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self
            .policy
            .parse::<crate::rate_choice::RatePolicy>()
            .is_err()
        {
            problems.push(format!(
                "shipping.policy `{}` is not cheapest, fastest or cheapest_on_time",
                self.policy
            ));
        }
        if self.cutoff_time().is_none() {
            problems.push(format!(
                "shipping.cutoff `{}` is not a time of day as HH:MM",
                self.cutoff
            ));
        }
        if self.batch_concurrency_per_carrier == 0 {
            problems.push("shipping.batch_concurrency_per_carrier must be at least 1".into());
        }
        let mut names = BTreeSet::new();
        for b in &self.boxes {
            let at = format!("shipping.boxes `{}`", b.name);
            if !names.insert(b.name.clone()) {
                problems.push(format!("{at}: duplicate box name"));
            }
            if [b.length_in, b.width_in, b.height_in]
                .iter()
                .any(|d| *d <= rust_decimal::Decimal::ZERO)
            {
                problems.push(format!("{at}: every dimension must be above 0"));
            }
            if b.max_grams <= b.tare_grams {
                problems.push(format!(
                    "{at}: max_grams must be above the box's own weight"
                ));
            }
        }
        for (sku, s) in &self.skus {
            let dims = [s.length_in, s.width_in, s.height_in];
            let given = dims.iter().filter(|d| d.is_some()).count();
            if given != 0 && given != 3 {
                problems.push(format!(
                    "shipping.skus `{sku}`: give all three dimensions or none"
                ));
            }
            if dims
                .iter()
                .flatten()
                .any(|d| *d <= rust_decimal::Decimal::ZERO)
            {
                problems.push(format!(
                    "shipping.skus `{sku}`: every dimension must be above 0"
                ));
            }
        }
        problems
    }
}

/// A box's inner dimensions in inches and its own weight in grams.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BoxSettings {
    pub length_in: rust_decimal::Decimal,
    pub width_in: rust_decimal::Decimal,
    pub height_in: rust_decimal::Decimal,
    pub tare_grams: u32,
}

impl Default for BoxSettings {
    fn default() -> Self {
        Self {
            length_in: rust_decimal::Decimal::new(12, 0),
            width_in: rust_decimal::Decimal::new(9, 0),
            height_in: rust_decimal::Decimal::new(4, 0),
            tare_grams: 150,
        }
    }
}

/// A warehouse's `carriers` entry: a carrier account id, optionally limited to
/// some of the carriers it offers (`easypost:USPS,UPS`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CarrierChoice {
    pub account: String,
    /// Empty: any carrier the account rates.
    pub only: Vec<String>,
}

impl CarrierChoice {
    pub fn parse(entry: &str) -> CarrierChoice {
        match entry.split_once(':') {
            Some((account, only)) => CarrierChoice {
                account: account.trim().to_string(),
                only: only
                    .split(',')
                    .map(|c| c.trim().to_string())
                    .filter(|c| !c.is_empty())
                    .collect(),
            },
            None => CarrierChoice {
                account: entry.trim().to_string(),
                only: Vec::new(),
            },
        }
    }

    /// Whether a rate from `carrier` (as the account names it) is allowed.
    pub fn allows(&self, carrier: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|c| c.eq_ignore_ascii_case(carrier))
    }
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
    /// Carrier accounts this warehouse ships with, in order of preference:
    /// an account id, optionally limited to some carriers (`easypost:USPS,UPS`).
    #[serde(default)]
    pub carriers: Vec<String>,
    /// The ship-from address labels are bought for.
    pub address: Option<crate::Address>,
    /// Label file format for this warehouse's printers: `pdf`, `png` or `zpl`.
    #[serde(default)]
    pub label_format: Option<String>,
    /// Initial stock per sku, applied where the hub has no count yet.
    #[serde(default)]
    pub stock: BTreeMap<String, i64>,
    /// Closed warehouses are skipped by routing.
    #[serde(default = "default_true")]
    pub open: bool,
    /// Destination countries (ISO 3166-1 alpha-2) it ships to; empty: all.
    #[serde(default)]
    pub ships_to: Vec<String>,
    /// Channel ids whose orders it ships; empty: all.
    #[serde(default)]
    pub channels: Vec<String>,
    /// Where it is, for the `closest` routing rule (degrees).
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    /// Units per sku routing never reserves (kept back from every channel).
    #[serde(default)]
    pub safety_stock: BTreeMap<String, i64>,
    /// Safety stock of skus not in `safety_stock`.
    #[serde(default)]
    pub default_safety_stock: i64,
    /// Labels for this warehouse's shipments are bought only after the
    /// packer's scan verification (`/pack`) verified or a supervisor
    /// overrode it. Off by default.
    #[serde(default)]
    pub require_scan_verification: bool,
    /// Barcodes (GTIN/UPC/EAN) of this seller's skus, `{ "SKU-001" =
    /// ["0012345678905"] }`: stored with source `config` at startup where
    /// the barcode is not already known.
    #[serde(default)]
    pub barcodes: BTreeMap<String, Vec<String>>,
}

fn default_true() -> bool {
    true
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    pub url: String,
    #[serde(default = "default_max_connections")]
    pub max_connections: u32,
}

fn default_max_connections() -> u32 {
    // Each queue's worker, the outbound and email loops, the scheduler and
    // the HTTP API share this pool; 8 ran out on PostgreSQL once there were
    // nine queues.
    16
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSettings {
    pub listen: String,
    /// Name of the environment variable holding the ops API bearer token.
    pub api_token_env: String,
    /// The server's public base URL, for links given out (tracking pages).
    pub public_url: String,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            api_token_env: "ORDERHUB_API_TOKEN".into(),
            public_url: "http://127.0.0.1:8080".into(),
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
    /// How often an idle queue worker looks for jobs anyway. A job pushed
    /// in this process (or, on PostgreSQL, in any process) wakes its worker at
    /// once; the poll catches retries whose backoff ran out and, on SQLite,
    /// jobs pushed by another process.
    pub poll_fallback_ms: u64,
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
            poll_fallback_ms: 200,
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
    /// The secrets a carrier kind requires, or `None` if the kind is unknown.
    fn carrier_required_secrets(&self, _kind: &str) -> Option<&'static [&'static str]> {
        None
    }
    fn known_carrier_kinds(&self) -> Vec<&'static str> {
        Vec::new()
    }
    /// Secrets a carrier kind may have but does not require.
    fn carrier_optional_secrets(&self, _kind: &str) -> &'static [&'static str] {
        &[]
    }
}

/// The key carrier accounts' secrets have in [`ResolvedSecrets`] (channels use
/// their id as is).
pub fn carrier_secrets_key(carrier_id: &str) -> String {
    format!("carrier:{carrier_id}")
}

/// Channels' and carrier accounts' secrets, resolved from the environment,
/// by channel id or [`carrier_secrets_key`].
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
        if self.worker.poll_fallback_ms < 10 {
            problems.push("worker.poll_fallback_ms: must be at least 10".into());
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
            let secrets =
                resolve_secrets(&at, &c.kind, required, &[], &c.secrets, env, &mut problems);
            resolved.insert(c.id.clone(), secrets);
        }
        let mut carrier_ids = BTreeSet::new();
        for (i, c) in self.carriers.iter().enumerate() {
            let at = if c.id.is_empty() {
                format!("carriers[{i}]")
            } else {
                format!("carrier `{}`", c.id)
            };
            if c.id.is_empty() || c.id.contains(':') || c.id.contains(',') {
                problems.push(format!("{at}: id must be non-empty, without : or ,"));
            }
            if !carrier_ids.insert(c.id.clone()) {
                problems.push(format!("{at}: duplicate carrier id"));
            }
            match url::Url::parse(&c.base_url) {
                Ok(u) if u.scheme() == "http" || u.scheme() == "https" => {}
                _ => problems.push(format!(
                    "{at}: base_url `{}` is not an http(s) URL",
                    c.base_url
                )),
            }
            let Some(required) = kinds.carrier_required_secrets(&c.kind) else {
                problems.push(format!(
                    "{at}: unknown carrier kind `{}` (known: {})",
                    c.kind,
                    kinds.known_carrier_kinds().join(", ")
                ));
                continue;
            };
            let optional = kinds.carrier_optional_secrets(&c.kind);
            let secrets = resolve_secrets(
                &at,
                &c.kind,
                required,
                optional,
                &c.secrets,
                env,
                &mut problems,
            );
            resolved.insert(carrier_secrets_key(&c.id), secrets);
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
            for entry in &w.carriers {
                let choice = CarrierChoice::parse(entry);
                if !carrier_ids.contains(&choice.account) {
                    problems.push(format!(
                        "{at}: carrier `{}` is not a configured [[carriers]] id",
                        choice.account
                    ));
                }
                let owner = self
                    .carriers
                    .iter()
                    .find(|c| c.id == choice.account)
                    .and_then(|c| c.seller.as_deref());
                if let Some(owner) = owner.filter(|o| *o != w.seller) {
                    problems.push(format!(
                        "{at}: carrier `{}` is seller `{owner}`'s account, not `{}`'s",
                        choice.account, w.seller
                    ));
                }
            }
            if !w.carriers.is_empty() && w.address.is_none() {
                problems.push(format!(
                    "{at}: an address is needed to buy labels (carriers are set)"
                ));
            }
            for (sku, q) in &w.stock {
                if *q < 0 {
                    problems.push(format!("{at}: stock of `{sku}` is negative"));
                }
            }
            for c in &w.ships_to {
                if c.len() != 2 || !c.bytes().all(|b| b.is_ascii_uppercase()) {
                    problems.push(format!(
                        "{at}: ships_to `{c}` is not an ISO 3166-1 alpha-2 code"
                    ));
                }
            }
            for ch in &w.channels {
                if !seen.contains(ch) {
                    problems.push(format!(
                        "{at}: channels `{ch}` is not a configured [[channels]] id"
                    ));
                }
            }
            match (w.lat, w.lon) {
                (None, None) => {}
                (Some(lat), Some(lon)) => {
                    if !(-90.0..=90.0).contains(&lat) || !(-180.0..=180.0).contains(&lon) {
                        problems.push(format!(
                            "{at}: lat/lon {lat}, {lon} out of range (-90..90, -180..180)"
                        ));
                    }
                }
                _ => problems.push(format!("{at}: give both lat and lon or neither")),
            }
            for (sku, q) in &w.safety_stock {
                if *q < 0 {
                    problems.push(format!("{at}: safety_stock of `{sku}` is negative"));
                }
            }
            if w.default_safety_stock < 0 {
                problems.push(format!("{at}: default_safety_stock is negative"));
            }
        }
        let b = &self.shipping.default_box;
        if [b.length_in, b.width_in, b.height_in]
            .iter()
            .any(|d| *d <= rust_decimal::Decimal::ZERO)
        {
            problems.push("shipping.box: every dimension must be above 0".into());
        }
        problems.extend(self.shipping.problems());
        problems.extend(self.routing.problems());
        problems.extend(self.inventory.problems());
        let tol = self.packing.reweigh_tolerance_pct;
        if !(tol.is_finite() && tol >= 0.0) {
            problems.push(format!(
                "packing.reweigh_tolerance_pct must be a percentage of 0 or more (got {tol})"
            ));
        }
        problems.extend(self.stock_sync.problems());
        problems.extend(self.notifications.problems(env, &mut resolved));
        problems.extend(self.email.problems(env, &mut resolved));
        for w in &self.warehouses {
            if let Some(f) = &w.label_format {
                if !matches!(f.to_ascii_lowercase().as_str(), "pdf" | "png" | "zpl") {
                    problems.push(format!(
                        "warehouse `{}`: label_format `{f}` is not pdf, png or zpl",
                        w.id
                    ));
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

/// Read the secrets a kind requires from the environment variables config
/// names; every missing or unexpected one is a problem.
fn resolve_secrets(
    at: &str,
    kind: &str,
    required: &[&str],
    optional: &[&str],
    named: &BTreeMap<String, String>,
    env: &dyn Fn(&str) -> Option<String>,
    problems: &mut Vec<String>,
) -> BTreeMap<String, String> {
    let mut secrets = BTreeMap::new();
    let given_optional = optional.iter().filter(|n| named.contains_key(**n));
    for name in required.iter().chain(given_optional) {
        match named.get(*name) {
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
    for name in named.keys() {
        if !required.contains(&name.as_str()) && !optional.contains(&name.as_str()) {
            problems.push(format!("{at}: `{name}` is not a secret of kind `{kind}`"));
        }
    }
    secrets
}

/// Outbound notifications (`[notifications]`): signed webhooks (Standard
/// Webhooks) to the sellers' own systems, derived from the order timeline.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotificationSettings {
    /// `[[notifications.webhooks]]`: the subscribers.
    pub webhooks: Vec<WebhookSubscriberSettings>,
    /// A subscriber is paused after this many consecutive failed attempts...
    pub pause_after_failures: u32,
    /// ...spanning at least this many hours (fractions allowed).
    pub pause_after_hours: f64,
    /// The first retry waits up to this long (full jitter), doubling per attempt...
    pub retry_base_ms: u64,
    /// ...up to this.
    pub retry_max_secs: u64,
    /// Per-attempt timeout (connect and answer).
    pub timeout_ms: u64,
    /// PostgreSQL: how long a hole in the timeline's ids (a transaction not
    /// yet committed, or rolled back) holds the dispatcher before it is
    /// taken as rolled back.
    pub gap_grace_secs: u64,
}

impl Default for NotificationSettings {
    fn default() -> Self {
        Self {
            webhooks: Vec::new(),
            pause_after_failures: 10,
            pause_after_hours: 24.0,
            retry_base_ms: 5_000,
            retry_max_secs: 3_600,
            timeout_ms: 10_000,
            gap_grace_secs: 30,
        }
    }
}

/// One outbound webhook subscriber (`[[notifications.webhooks]]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSubscriberSettings {
    pub id: String,
    /// Only this seller's orders are notified.
    pub seller: String,
    pub url: String,
    /// Event types (see [`NOTIFICATION_EVENT_TYPES`]) or `["*"]` for all.
    pub events: Vec<String>,
    /// `signing_secret` → the environment variable holding the `whsec_<base64>` secret.
    #[serde(default)]
    pub secrets: BTreeMap<String, String>,
}

impl WebhookSubscriberSettings {
    /// Whether this subscriber wants events of `event_type`.
    pub fn wants(&self, event_type: &str) -> bool {
        self.events.iter().any(|e| e == "*" || e == event_type)
    }
}

/// Every notification event type a subscriber may name.
pub const NOTIFICATION_EVENT_TYPES: &[&str] = &[
    "stock.low",
    "order.created",
    "order.updated",
    "order.status_changed",
    "order.routed",
    "order.backordered",
    "order.exception",
    "order.note_added",
    "shipment.label_bought",
    "shipment.shipped",
    "shipment.in_transit",
    "shipment.out_for_delivery",
    "shipment.delivered",
    "shipment.tracking_updated",
    "shipment.voided",
    "return.requested",
    "return.label_bought",
    "return.received",
    "return.refunded",
];

/// The key a webhook subscriber's secrets have in [`ResolvedSecrets`].
pub fn webhook_secrets_key(subscriber_id: &str) -> String {
    format!("webhook:{subscriber_id}")
}

/// Whether `s` is a Standard Webhooks secret: `whsec_` then base64 of at
/// least 16 bytes.
pub fn is_whsec(s: &str) -> bool {
    let Some(b64) = s.strip_prefix("whsec_") else {
        return false;
    };
    const ALPHA: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let body = b64.trim_end_matches('=');
    let pad = b64.len() - body.len();
    pad <= 2
        && body.bytes().all(|b| ALPHA.contains(&b))
        && (body.len() + pad) % 4 == 0
        && body.len() * 3 / 4 >= 16
}

impl NotificationSettings {
    /// Every problem with the notifications config; the subscribers' secrets
    /// read from the environment go into `resolved`.
    pub fn problems(
        &self,
        env: &dyn Fn(&str) -> Option<String>,
        resolved: &mut ResolvedSecrets,
    ) -> Vec<String> {
        let mut problems = Vec::new();
        if self.pause_after_failures == 0 {
            problems.push("notifications.pause_after_failures: must be at least 1".into());
        }
        if !self.pause_after_hours.is_finite() || self.pause_after_hours < 0.0 {
            problems.push("notifications.pause_after_hours: must be 0 or more".into());
        }
        if self.retry_base_ms == 0 {
            problems.push("notifications.retry_base_ms: must be at least 1".into());
        }
        if self.retry_max_secs.saturating_mul(1000) < self.retry_base_ms {
            problems.push("notifications.retry_max_secs: must not be below retry_base_ms".into());
        }
        if self.timeout_ms == 0 {
            problems.push("notifications.timeout_ms: must be at least 1".into());
        }
        let mut seen = BTreeSet::new();
        for (i, w) in self.webhooks.iter().enumerate() {
            let at = if w.id.is_empty() {
                format!("notifications.webhooks[{i}]")
            } else {
                format!("webhook subscriber `{}`", w.id)
            };
            if w.id.is_empty()
                || w.id.len() > 64
                || !w
                    .id
                    .chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_')
            {
                problems.push(format!("{at}: id must be 1 to 64 letters, digits, - or _"));
            }
            if !seen.insert(w.id.clone()) {
                problems.push(format!("{at}: duplicate webhook subscriber id"));
            }
            if w.seller.is_empty() {
                problems.push(format!("{at}: seller must not be empty"));
            }
            match url::Url::parse(&w.url) {
                Ok(u) if (u.scheme() == "http" || u.scheme() == "https") && u.host().is_some() => {}
                _ => problems.push(format!("{at}: url `{}` is not an http(s) URL", w.url)),
            }
            if w.events.is_empty() {
                problems.push(format!("{at}: events must list event types or be [\"*\"]"));
            }
            for e in &w.events {
                if e != "*" && !NOTIFICATION_EVENT_TYPES.contains(&e.as_str()) {
                    problems.push(format!(
                        "{at}: unknown event type `{e}` (known: *, {})",
                        NOTIFICATION_EVENT_TYPES.join(", ")
                    ));
                }
            }
            let mut secrets = BTreeMap::new();
            match w.secrets.get("signing_secret") {
                None => problems.push(format!(
                    "{at}: missing secret `signing_secret` (set secrets.signing_secret to the name of an environment variable)"
                )),
                Some(var) => match env(var) {
                    Some(v) if !v.is_empty() => {
                        if is_whsec(&v) {
                            secrets.insert("signing_secret".to_string(), v);
                        } else {
                            problems.push(format!(
                                "{at}: secret `signing_secret`: environment variable {var} does not hold a whsec_<base64> secret of 16 bytes or more"
                            ));
                        }
                    }
                    _ => problems.push(format!(
                        "{at}: secret `signing_secret`: environment variable {var} is not set"
                    )),
                },
            }
            for name in w.secrets.keys() {
                if name != "signing_secret" {
                    problems.push(format!(
                        "{at}: `{name}` is not a secret of a webhook subscriber (only signing_secret)"
                    ));
                }
            }
            resolved.insert(webhook_secrets_key(&w.id), secrets);
        }
        problems
    }
}

/// Customer email through SMTP (`[email]`). The SMTP user name and password
/// are never values here: `username_env` / `password_env` name the
/// environment variables that hold them.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EmailSettings {
    /// Off by default: nothing is enqueued or sent (the watermark still moves,
    /// so turning it on never mails the customers about the past).
    pub enabled: bool,
    pub smtp_host: String,
    pub smtp_port: u16,
    /// `none` (plain, local relays and tests), `starttls` or `tls` (implicit TLS).
    pub tls: String,
    /// Environment variable holding the SMTP user name (optional; with `password_env`).
    pub username_env: Option<String>,
    /// Environment variable holding the SMTP password.
    pub password_env: Option<String>,
    /// The sender address (`shop@example.com`).
    pub from: String,
    /// The sender's display name (a seller's `from_name` wins).
    pub from_name: Option<String>,
    pub reply_to: Option<String>,
    /// The language when neither the order nor the seller gives one.
    pub default_language: String,
    /// The normalized order has no locale: its ship-to country picks the
    /// language (`{ DE = "de" }`), else the seller's `language`, else
    /// `default_language`.
    pub country_languages: BTreeMap<String, String>,
    /// Seller overrides: `<dir>/<seller>/<event>.<lang>.txt` (and `.html`),
    /// then `<dir>/<event>.<lang>.txt`, then the built-in template.
    pub templates_dir: Option<String>,
    pub notify_order_received: bool,
    pub notify_shipped: bool,
    pub notify_out_for_delivery: bool,
    pub notify_delivered: bool,
    /// A delivery problem (stalled tracking, past the promised date) raised
    /// by the scheduler's sweep.
    pub notify_delivery_problems: bool,
    /// Any other order exception (off by default: mostly internal reasons).
    pub notify_exceptions: bool,
    pub notify_return_received: bool,
    /// The follow-up email (survey link, related products) after delivery.
    pub followup: bool,
    pub followup_after_days: f64,
    /// Overrides `followup_after_days`, in seconds (tests).
    pub followup_after_secs: Option<u64>,
    /// Backoff after a failed attempt: full jitter, doubling from this...
    pub retry_base_ms: u64,
    /// ...up to this.
    pub retry_max_secs: u64,
    /// SMTP connect and command timeout.
    pub timeout_ms: u64,
    /// Per seller: `[email.sellers.acme]`.
    pub sellers: BTreeMap<String, SellerEmailSettings>,
}

/// One seller's email settings (`[email.sellers.<seller>]`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SellerEmailSettings {
    pub from_name: Option<String>,
    pub reply_to: Option<String>,
    /// The seller's default language (`de`).
    pub language: Option<String>,
    /// This seller's template directory (instead of `email.templates_dir/<seller>`).
    pub templates_dir: Option<String>,
    /// The follow-up's survey link (template variable `survey_url`).
    pub survey_url: Option<String>,
    /// Related products for the follow-up, seller-wide.
    pub related_products: Vec<String>,
    /// Related products by the sku bought (listed first).
    pub related_by_sku: BTreeMap<String, Vec<String>>,
}

impl Default for EmailSettings {
    fn default() -> Self {
        Self {
            enabled: false,
            smtp_host: "127.0.0.1".into(),
            smtp_port: 25,
            tls: "starttls".into(),
            username_env: None,
            password_env: None,
            from: String::new(),
            from_name: None,
            reply_to: None,
            default_language: "en".into(),
            country_languages: [("DE", "de"), ("AT", "de"), ("LI", "de")]
                .into_iter()
                .map(|(c, l)| (c.to_string(), l.to_string()))
                .collect(),
            templates_dir: None,
            notify_order_received: true,
            notify_shipped: true,
            notify_out_for_delivery: true,
            notify_delivered: true,
            notify_delivery_problems: true,
            notify_exceptions: false,
            notify_return_received: true,
            followup: true,
            followup_after_days: 7.0,
            followup_after_secs: None,
            retry_base_ms: 5_000,
            retry_max_secs: 3_600,
            timeout_ms: 15_000,
            sellers: BTreeMap::new(),
        }
    }
}

/// The customer email types, as the outbox and the template files name them.
pub const EMAIL_EVENT_TYPES: &[&str] = &[
    "order.received",
    "shipment.shipped",
    "shipment.out_for_delivery",
    "shipment.delivered",
    "delivery.problem",
    "order.exception",
    "return.received",
    "order.followup",
];

/// The key the SMTP credentials have in [`ResolvedSecrets`].
pub const EMAIL_SECRETS_KEY: &str = "email";

/// A plausible email address: one `@`, something on both sides, no spaces
/// or control characters, a dot in the domain.
pub fn is_email_address(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && local.len() <= 64
        && domain.len() >= 3
        && s.len() <= 254
        && domain.contains('.')
        && !domain.contains('@')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !s
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "<>()[],;:\"\\".contains(c))
}

fn is_language(s: &str) -> bool {
    (2..=3).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_lowercase())
}

impl EmailSettings {
    /// After delivery, how long the follow-up waits.
    pub fn followup_after(&self) -> chrono::Duration {
        match self.followup_after_secs {
            Some(s) => chrono::Duration::seconds(s.min(1 << 40) as i64),
            None => chrono::Duration::milliseconds(
                (self.followup_after_days.max(0.0) * 86_400_000.0).min(1e15) as i64,
            ),
        }
    }

    /// Whether customers get emails of this type.
    pub fn wants(&self, event_type: &str) -> bool {
        match event_type {
            "order.received" => self.notify_order_received,
            "shipment.shipped" => self.notify_shipped,
            "shipment.out_for_delivery" => self.notify_out_for_delivery,
            "shipment.delivered" => self.notify_delivered,
            "delivery.problem" => self.notify_delivery_problems,
            "order.exception" => self.notify_exceptions,
            "return.received" => self.notify_return_received,
            "order.followup" => self.followup,
            _ => false,
        }
    }

    /// Every problem with `[email]` (only when enabled, except the shape of
    /// the per-seller values); the SMTP credentials read from the
    /// environment go into `resolved` under [`EMAIL_SECRETS_KEY`].
    pub fn problems(
        &self,
        env: &dyn Fn(&str) -> Option<String>,
        resolved: &mut ResolvedSecrets,
    ) -> Vec<String> {
        let mut problems = Vec::new();
        for (seller, s) in &self.sellers {
            let at = format!("email.sellers.{seller}");
            if let Some(r) = &s.reply_to {
                if !is_email_address(r) {
                    problems.push(format!("{at}.reply_to: `{r}` is not an email address"));
                }
            }
            if let Some(l) = &s.language {
                if !is_language(l) {
                    problems.push(format!(
                        "{at}.language: `{l}` is not a language code like de"
                    ));
                }
            }
            if let Some(u) = &s.survey_url {
                match url::Url::parse(u) {
                    Ok(p) if matches!(p.scheme(), "http" | "https") => {}
                    _ => problems.push(format!("{at}.survey_url: `{u}` is not an http(s) URL")),
                }
            }
            if let Some(d) = &s.templates_dir {
                if !std::path::Path::new(d).is_dir() {
                    problems.push(format!("{at}.templates_dir: `{d}` is not a directory"));
                }
            }
            if s.from_name
                .as_deref()
                .is_some_and(|n| n.chars().any(char::is_control))
            {
                problems.push(format!("{at}.from_name: must not hold control characters"));
            }
        }
        if !self.enabled {
            return problems;
        }
        if self.smtp_host.trim().is_empty() {
            problems.push("email.smtp_host: must not be empty".into());
        }
        if self.smtp_port == 0 {
            problems.push("email.smtp_port: must be 1 to 65535".into());
        }
        if !matches!(self.tls.as_str(), "none" | "starttls" | "tls") {
            problems.push(format!(
                "email.tls: `{}` is not none, starttls or tls",
                self.tls
            ));
        }
        if !is_email_address(&self.from) {
            problems.push(format!(
                "email.from: `{}` is not an email address",
                self.from
            ));
        }
        if let Some(r) = &self.reply_to {
            if !is_email_address(r) {
                problems.push(format!("email.reply_to: `{r}` is not an email address"));
            }
        }
        if self
            .from_name
            .as_deref()
            .is_some_and(|n| n.chars().any(char::is_control))
        {
            problems.push("email.from_name: must not hold control characters".into());
        }
        if !is_language(&self.default_language) {
            problems.push(format!(
                "email.default_language: `{}` is not a language code like en",
                self.default_language
            ));
        }
        for (c, l) in &self.country_languages {
            if c.len() != 2 || !c.bytes().all(|b| b.is_ascii_uppercase()) || !is_language(l) {
                problems.push(format!(
                    "email.country_languages: `{c} = {l}` must map a country code like DE to a language like de"
                ));
            }
        }
        if let Some(d) = &self.templates_dir {
            if !std::path::Path::new(d).is_dir() {
                problems.push(format!("email.templates_dir: `{d}` is not a directory"));
            }
        }
        if !self.followup_after_days.is_finite() || self.followup_after_days < 0.0 {
            problems.push("email.followup_after_days: must be 0 or more".into());
        }
        if self.retry_base_ms == 0 {
            problems.push("email.retry_base_ms: must be at least 1".into());
        }
        if self.retry_max_secs.saturating_mul(1000) < self.retry_base_ms {
            problems.push("email.retry_max_secs: must not be below retry_base_ms".into());
        }
        if self.timeout_ms == 0 {
            problems.push("email.timeout_ms: must be at least 1".into());
        }
        let mut secrets = BTreeMap::new();
        match (&self.username_env, &self.password_env) {
            (None, None) => {}
            (Some(u), Some(p)) => {
                for (name, var) in [("username", u), ("password", p)] {
                    match env(var) {
                        Some(v) if !v.is_empty() => {
                            secrets.insert(name.to_string(), v);
                        }
                        _ => problems.push(format!(
                            "email.{name}_env: environment variable {var} is not set"
                        )),
                    }
                }
            }
            _ => problems.push(
                "email: give both username_env and password_env (the names of environment variables) or neither"
                    .into(),
            ),
        }
        resolved.insert(EMAIL_SECRETS_KEY.to_string(), secrets);
        problems
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
            carriers: vec![],
            shipping: Default::default(),
            inventory: Default::default(),
            routing: Default::default(),
            notifications: Default::default(),
            email: Default::default(),
            stock_sync: Default::default(),
            packing: Default::default(),
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
            carriers: vec![],
            shipping: Default::default(),
            inventory: Default::default(),
            routing: Default::default(),
            notifications: Default::default(),
            email: Default::default(),
            stock_sync: Default::default(),
            packing: Default::default(),
            channels: vec![c],
        };
        let got = s
            .validate(&Kinds, &|v| Some(format!("value-of-{v}")))
            .unwrap();
        assert_eq!(got["a"]["access_token"], "value-of-TOKEN_VAR");
    }

    #[test]
    fn routing_and_warehouse_routing_problems_are_listed() {
        let routing = RoutingSettings {
            rules: vec!["closest".into(), "nearest".into(), "closest".into()],
            allow_split: true,
            backorder: "sometimes".into(),
        };
        let p = routing.problems().join("\n");
        for want in [
            "`nearest` is not fewest_shipments",
            "`closest` is listed twice",
            "routing.backorder: `sometimes`",
        ] {
            assert!(p.contains(want), "{want} missing from:\n{p}");
        }
        assert!(RoutingSettings::default().problems().is_empty());
        assert_eq!(
            RoutingSettings::default().to_config(),
            crate::routing_rules::RoutingConfig::default()
        );
        let wh = serde_json::json!({
            "id": "w", "seller": "acme", "ships_to": ["us"], "channels": ["nope"],
            "lat": 95.0, "safety_stock": {"A": -1}, "default_safety_stock": -2,
        });
        let parsed: WarehouseSettings = serde_json::from_value(wh.clone()).unwrap();
        assert!(parsed.open, "open by default");
        let s: Settings = serde_json::from_value(serde_json::json!({
            "database": { "url": "sqlite::memory:" },
            "warehouses": [wh],
            "routing": { "rules": routing.rules, "backorder": routing.backorder },
        }))
        .unwrap();
        let all = s.validate(&Kinds, &|_| None).unwrap_err().join("\n");
        for want in [
            "ships_to `us` is not an ISO",
            "channels `nope` is not a configured",
            "give both lat and lon",
            "safety_stock of `A` is negative",
            "default_safety_stock is negative",
            "routing.rules",
        ] {
            assert!(all.contains(want), "{want} missing from:\n{all}");
        }
    }

    #[test]
    fn a_sellers_carrier_account_serves_that_sellers_warehouses_only() {
        let wh = |id: &str, seller: &str, carrier: &str| {
            serde_json::json!({
                "id": id, "seller": seller, "carriers": [carrier],
                "address": { "name": "W", "line1": "1 Main St", "city": "X",
                             "postal_code": "1", "country": "US" },
            })
        };
        let s: Settings = serde_json::from_value(serde_json::json!({
            "database": { "url": "sqlite::memory:" },
            "carriers": [
                { "id": "acme-ep", "kind": "easypost", "seller": "acme", "base_url": "https://a.example" },
                { "id": "shared", "kind": "easypost", "base_url": "https://b.example" },
            ],
            "warehouses": [
                wh("a1", "acme", "acme-ep"),
                wh("a2", "acme", "shared"),
                wh("g1", "globex", "shared"),
                wh("g2", "globex", "acme-ep"),
            ],
        }))
        .unwrap();
        let all = s.validate(&Kinds, &|_| None).unwrap_err().join("\n");
        assert!(
            all.contains(
                "warehouse `g2`: carrier `acme-ep` is seller `acme`'s account, not `globex`'s"
            ),
            "{all}"
        );
        for ok in [
            "warehouse `a1`: carrier",
            "warehouse `a2`: carrier",
            "warehouse `g1`: carrier",
        ] {
            assert!(!all.contains(ok), "{ok} in:\n{all}");
        }
    }

    #[test]
    fn shipping_problems_are_listed() {
        let d = |n: i64| rust_decimal::Decimal::from(n);
        let mut shipping = ShippingSettings {
            policy: "cheapo".into(),
            cutoff: "25:99".into(),
            batch_concurrency_per_carrier: 0,
            ..Default::default()
        };
        let bx = |name: &str, l: i64, max: u32| PackBoxSettings {
            name: name.into(),
            length_in: d(l),
            width_in: d(5),
            height_in: d(5),
            max_grams: max,
            tare_grams: 100,
        };
        shipping.boxes = vec![bx("a", 5, 1000), bx("a", 0, 50)];
        shipping.skus.insert(
            "HALF".into(),
            SkuSettings {
                grams: Some(1),
                length_in: Some(d(1)),
                width_in: None,
                height_in: None,
            },
        );
        let p = shipping.problems().join("\n");
        for want in [
            "shipping.policy `cheapo`",
            "shipping.cutoff `25:99`",
            "batch_concurrency_per_carrier",
            "`a`: duplicate box name",
            "`a`: every dimension must be above 0",
            "max_grams must be above",
            "`HALF`: give all three dimensions or none",
        ] {
            assert!(p.contains(want), "{want} missing from:\n{p}");
        }
        assert!(ShippingSettings::default().problems().is_empty());
        assert_eq!(ShippingSettings::default().transit_days_for(Some("x")), 5);
    }
}
