//! `GET /metrics`: what ops need to see what is stuck, in the OpenMetrics
//! text format Prometheus scrapes (prometheus-client).
//!
//! Two kinds of numbers:
//! - read from the store at scrape time, so every worker process sharing the
//!   database reports the same: jobs by queue and status, the latency of jobs
//!   done recently, each channel's sync lag and state, orders and shipments;
//! - counted in this process as things happen: remote calls, throttles and
//!   retries (in the shared HTTP client, `orderhub_connectors::http::metrics`)
//!   and webhook deliveries by result (here, [`count_webhook`]).
//!
//! Public, as is customary for scrapes. No label can carry a secret or
//! customer data: label values are configured channel, carrier and client
//! ids, connector kinds, queue names and statuses only.

use crate::app::App;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use orderhub_core::store::ChannelStatus;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, NoLabelSet};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use sea_orm::{ConnectionTrait, DbErr, Statement};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

/// The window of `orderhub_job_latency_seconds`: jobs done this recently.
pub const LATENCY_WINDOW: Duration = Duration::from_secs(15 * 60);

/// Bucket bounds (seconds) of `orderhub_job_latency_seconds`.
pub const LATENCY_BUCKETS: [f64; 12] = [
    0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0,
];

const CONTENT: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The webhook results counted (`result` label).
pub const WEBHOOK_RESULTS: [&str; 5] = ["accepted", "duplicate", "rejected", "unknown", "error"];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WebhookLabels {
    /// `channel` or `carrier`.
    source: &'static str,
    /// The configured channel or carrier id; empty when the path named none
    /// we know (never the unknown id itself: it comes from outside).
    source_id: String,
    result: &'static str,
}

static WEBHOOKS: LazyLock<Family<WebhookLabels, Counter>> = LazyLock::new(Family::default);

/// Count one webhook delivery. `source_id`: the configured id, `None` for
/// an id we do not know (then `result` is `unknown`).
pub fn count_webhook(source: &'static str, source_id: Option<&str>, result: &'static str) {
    WEBHOOKS
        .get_or_create(&WebhookLabels {
            source,
            source_id: source_id.unwrap_or_default().to_string(),
            result,
        })
        .inc();
}

/// What the store said at scrape time.
#[derive(Debug, Default)]
struct Snapshot {
    /// Whether every store read of this scrape worked.
    store_up: bool,
    /// `None` when the read failed.
    jobs: Option<Vec<(String, String, i64)>>,
    latency: Vec<crate::jobs_api::LatencyHistogram>,
    channels: Vec<ChannelStatus>,
    /// (channel, status, count).
    orders: Vec<(String, String, i64)>,
    /// (status, count).
    shipments: Vec<(String, i64)>,
}

/// The channel states `Store::channel_statuses` reports.
const CHANNEL_STATES: [&str; 4] = ["ok", "never_synced", "failing", "auth_failed"];

/// The queues the worker runs: each is reported (zero when empty).
const QUEUES: [&str; 6] = [
    crate::queue::POLL_QUEUE,
    crate::queue::ROUTE_QUEUE,
    crate::queue::BUY_LABEL_QUEUE,
    crate::queue::PUSH_TRACKING_QUEUE,
    crate::queue::TRACKING_EVENT_QUEUE,
    crate::queue::VOID_LABEL_QUEUE,
];

/// `SELECT <key columns>, COUNT(*) ... GROUP BY <key columns>` on the store.
async fn counts(app: &App, keys: &[&str], table: &str) -> Result<Vec<(Vec<String>, i64)>, DbErr> {
    let cols = keys.join(", ");
    let sql = format!("SELECT {cols}, CAST(COUNT(*) AS BIGINT) AS n FROM {table} GROUP BY {cols}");
    let db = app.store.db();
    let rows = db
        .query_all_raw(Statement::from_string(db.get_database_backend(), sql))
        .await?;
    rows.into_iter()
        .map(|r| {
            let key = keys
                .iter()
                .map(|k| r.try_get::<String>("", k))
                .collect::<Result<Vec<_>, _>>()?;
            Ok((key, r.try_get("", "n")?))
        })
        .collect()
}

async fn snapshot(app: &App) -> Snapshot {
    let mut s = Snapshot {
        store_up: true,
        ..Snapshot::default()
    };
    let failed = |what: &str, e: DbErr| {
        tracing::warn!(what, error = %e, "metrics: store read failed");
        false
    };
    match crate::jobs_api::count_by_queue_and_status(&app.store).await {
        Ok(v) => s.jobs = Some(v),
        Err(e) => s.store_up &= failed("jobs", e),
    }
    match crate::jobs_api::done_latency(&app.store, LATENCY_WINDOW, &LATENCY_BUCKETS).await {
        Ok(v) => s.latency = v,
        Err(e) => s.store_up &= failed("job latency", e),
    }
    match app.store.channel_statuses(None).await {
        Ok(v) => s.channels = v,
        Err(e) => s.store_up &= failed("channels", e),
    }
    match counts(app, &["channel_id", "status"], "orders").await {
        Ok(v) => {
            s.orders = v
                .into_iter()
                .map(|(mut k, n)| {
                    let status = k.pop().unwrap_or_default();
                    (k.pop().unwrap_or_default(), status, n)
                })
                .collect()
        }
        Err(e) => s.store_up &= failed("orders", e),
    }
    match counts(app, &["status"], "shipments").await {
        Ok(v) => {
            s.shipments = v
                .into_iter()
                .map(|(mut k, n)| (k.pop().unwrap_or_default(), n))
                .collect()
        }
        Err(e) => s.store_up &= failed("shipments", e),
    }
    s
}

impl Collector for Snapshot {
    fn encode(&self, mut enc: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let mut m = enc.encode_descriptor(
            "orderhub_store_up",
            "1 when every store read of this scrape worked (the numbers read from the store are missing otherwise)",
            None,
            MetricType::Gauge,
        )?;
        m.encode_gauge(&(self.store_up as i64))?;

        let mut m = enc.encode_descriptor(
            "orderhub_jobs",
            "Jobs in the queue tables by queue and apalis status",
            None,
            MetricType::Gauge,
        )?;
        let mut jobs: std::collections::BTreeMap<(&str, &str), i64> = Default::default();
        if let Some(read) = &self.jobs {
            for q in QUEUES {
                for st in crate::jobs_api::STATUSES {
                    jobs.insert((q, st), 0);
                }
            }
            for (q, st, n) in read {
                *jobs.entry((q, st)).or_default() += n;
            }
        }
        for ((queue, status), n) in jobs {
            m.encode_family(&[("queue", queue), ("status", status)])?
                .encode_gauge(&n)?;
        }

        let mut m = enc.encode_descriptor(
            "orderhub_job_latency_seconds",
            "Seconds from a job's run_at to done_at, for jobs done in the last 15 minutes",
            None,
            MetricType::Histogram,
        )?;
        for h in &self.latency {
            // Per-bucket counts (the encoder accumulates them), then +Inf.
            let mut buckets = Vec::with_capacity(LATENCY_BUCKETS.len() + 1);
            let mut below = 0;
            for (bound, le) in LATENCY_BUCKETS.iter().zip(&h.le) {
                buckets.push((*bound, le.saturating_sub(below)));
                below = (*le).max(below);
            }
            buckets.push((f64::MAX, h.count.saturating_sub(below)));
            m.encode_family(&[("queue", h.queue.as_str())])?
                .encode_histogram::<NoLabelSet>(h.sum_seconds, h.count, &buckets, None)?;
        }

        let mut m = enc.encode_descriptor(
            "orderhub_channel_lag_seconds",
            "Seconds since the channel's last successful sync (absent before the first)",
            None,
            MetricType::Gauge,
        )?;
        for c in &self.channels {
            if let Some(lag) = c.lag_seconds {
                m.encode_family(&[("channel", c.id.as_str()), ("kind", c.kind.as_str())])?
                    .encode_gauge(&lag)?;
            }
        }

        let mut m = enc.encode_descriptor(
            "orderhub_channel_state",
            "1 for the channel's current sync state (ok, never_synced, failing, auth_failed)",
            None,
            MetricType::Gauge,
        )?;
        for c in &self.channels {
            for state in CHANNEL_STATES {
                m.encode_family(&[("channel", c.id.as_str()), ("state", state)])?
                    .encode_gauge(&((c.state == state) as i64))?;
            }
        }

        let mut m = enc.encode_descriptor(
            "orderhub_channel_errors",
            "Consecutive failed syncs of the channel",
            None,
            MetricType::Gauge,
        )?;
        for c in &self.channels {
            m.encode_family(&[("channel", c.id.as_str())])?
                .encode_gauge(&c.error_count)?;
        }

        let mut per_channel: std::collections::BTreeMap<&str, i64> = Default::default();
        for c in &self.channels {
            per_channel.insert(c.id.as_str(), 0);
        }
        for (channel, _, n) in &self.orders {
            *per_channel.entry(channel.as_str()).or_default() += n;
        }
        let mut m = enc.encode_descriptor(
            "orderhub_orders",
            "Orders stored, by channel",
            None,
            MetricType::Counter,
        )?;
        for (channel, n) in per_channel {
            m.encode_family(&[("channel", channel)])?
                .encode_counter::<NoLabelSet, _, u64>(&(n.max(0) as u64), None)?;
        }

        let mut m = enc.encode_descriptor(
            "orderhub_orders_in_status",
            "Orders stored, by channel and order status",
            None,
            MetricType::Gauge,
        )?;
        for (channel, status, n) in &self.orders {
            m.encode_family(&[("channel", channel.as_str()), ("status", status.as_str())])?
                .encode_gauge(n)?;
        }

        let mut m = enc.encode_descriptor(
            "orderhub_shipments",
            "Shipments by status",
            None,
            MetricType::Gauge,
        )?;
        for (status, n) in &self.shipments {
            m.encode_family(&[("status", status.as_str())])?
                .encode_gauge(n)?;
        }
        Ok(())
    }
}

/// The exposition: the store snapshot, then this process's counters.
pub async fn render(app: &App) -> String {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(snapshot(app).await));
    let remote = orderhub_connectors::http::metrics();
    registry.register(
        "orderhub_remote_requests",
        "HTTP attempts to remote APIs by client and outcome (ok, retryable, permanent); each retry is one more",
        remote.requests.clone(),
    );
    registry.register(
        "orderhub_remote_throttled",
        "Rate-limit refusals received from remote APIs (HTTP 429, or a throttle reported in a 2xx body)",
        remote.throttled.clone(),
    );
    registry.register(
        "orderhub_remote_retries",
        "Attempts made again after a retryable failure",
        remote.retries.clone(),
    );
    registry.register(
        "orderhub_webhooks",
        "Webhook deliveries by source (channel, carrier), configured id and result (accepted, duplicate, rejected, unknown, error)",
        WEBHOOKS.clone(),
    );
    let mut out = String::new();
    if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &registry) {
        tracing::error!(error = %e, "metrics: encoding failed");
    }
    out
}

/// Metrics for Prometheus in the OpenMetrics text format: jobs by queue and
/// status, recent job latency, sync lag and state per channel, orders and
/// shipments, remote calls, throttles and retries per connector client,
/// webhooks by result. Public (no bearer token), as is customary for
/// scrapes: it holds ids, kinds and statuses only, never secrets or customer
/// data.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "meta",
    responses((
        status = 200,
        description = "The metrics exposition",
        body = String,
        content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8",
        example = "# TYPE orderhub_jobs gauge\norderhub_jobs{queue=\"orderhub.poll_channel\",status=\"Done\"} 12\n# EOF\n"
    ))
)]
pub async fn metrics(State(app): State<Arc<App>>) -> Response {
    let body = render(&app).await;
    (StatusCode::OK, [(CONTENT_TYPE, CONTENT)], body).into_response()
}
