//! An in-house shipping system in miniature that sends Standard Webhooks
//! tracking events, per the carrier sandbox contract
//! ([`crate::sandbox::carrier`]).
//!
//! Such a system has no API orderhub calls (labels are printed in-house), so
//! every route is a control route and no published rate limit applies; the
//! shared fault configuration has nothing to act on (it is served, and
//! ignored).
//!
//! - `POST /_sandbox/parcels` `{"tracking_code", "reference", "carrier"?}` —
//!   the system shipped a parcel: it is registered at `pre_transit` (201;
//!   the same tracking code again answers 200 with the parcel and records
//!   nothing new). `stats.recorded.labels_by_reference[reference]` counts it.
//! - `POST /_sandbox/subscribe` `{"url"}` — deliver events there from now on.
//! - `POST /_sandbox/trackers/advance` — every parcel not yet delivered moves
//!   one step (pre_transit → in_transit → out_for_delivery → delivered) and a
//!   `tracking.updated` event (new `webhook-id`) is delivered to every
//!   subscription; answers `{"events", "delivered", "failed"}` once the
//!   deliveries (retries included) are done or given up.
//! - `POST /_sandbox/trackers/{tracking_code}/advance` — one parcel; 404 when
//!   unknown. `POST /_sandbox/trackers/{tracking_code}/replay` — its last event
//!   again, same `webhook-id` and body (a fresh timestamp and signature, as a
//!   Standard Webhooks retry has); 404 when none was sent.
//!
//! Deliveries are signed with the `standardwebhooks` crate: `webhook-id`,
//! `webhook-timestamp` (the attempt's time), `webhook-signature` `v1,…`.
//! A failed attempt (non-2xx, connection error, timeout) is retried with
//! exponential backoff and jitter; `410 Gone` disables the subscription, as
//! the specification asks. `stats.recorded` holds `shipments_created`,
//! `labels_total`, `labels_by_reference`, `voids_by_reference` (always empty:
//! nothing is voided here), `events_created`, `webhooks_sent`,
//! `webhooks_failed`, `webhook_attempts_failed`, `subscriptions_disabled`,
//! `trackers_by_status`.

use super::mapping::{Envelope, TrackingData, TrackingEvent, TRACKING_UPDATED};
pub use super::SANDBOX_SECRET;
use super::{parse_secret, HEADER_ID, HEADER_SIGNATURE, HEADER_TIMESTAMP};
use crate::sandbox::{bad_request, json_response, parse_body, SandboxCore};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use chrono::{DateTime, SecondsFormat, Utc};
use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

/// The steps a parcel goes through, in order.
pub const STEPS: [&str; 4] = ["pre_transit", "in_transit", "out_for_delivery", "delivered"];

/// How the sandbox behaves.
#[derive(Clone)]
pub struct StandardWebhooksSandboxOptions {
    /// The `whsec_…` secret events are signed with. Unparseable: events go
    /// out unsigned (and every receiver refuses them).
    pub secret: String,
    /// Every parcel not yet delivered moves one step this often; 0 = only
    /// through the control routes.
    pub advance_every_ms: u64,
    /// The carrier name put in events when a parcel names none.
    pub carrier: String,
    /// Delivery attempts per event and subscription, the first included.
    pub webhook_attempts: u32,
    /// Delay before the first retry; doubles with each attempt.
    pub webhook_retry_base_ms: u64,
    pub webhook_retry_max_ms: u64,
    /// How long one attempt may take.
    pub webhook_timeout_ms: u64,
}

impl Default for StandardWebhooksSandboxOptions {
    fn default() -> Self {
        Self {
            secret: SANDBOX_SECRET.into(),
            advance_every_ms: 0,
            carrier: "In-house Fleet".into(),
            webhook_attempts: 4,
            webhook_retry_base_ms: 200,
            webhook_retry_max_ms: 10_000,
            webhook_timeout_ms: 5_000,
        }
    }
}

impl std::fmt::Debug for StandardWebhooksSandboxOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StandardWebhooksSandboxOptions")
            .field("advance_every_ms", &self.advance_every_ms)
            .field("carrier", &self.carrier)
            .field("webhook_attempts", &self.webhook_attempts)
            .field("webhook_retry_base_ms", &self.webhook_retry_base_ms)
            .field("webhook_retry_max_ms", &self.webhook_retry_max_ms)
            .field("webhook_timeout_ms", &self.webhook_timeout_ms)
            .finish_non_exhaustive()
    }
}

struct Parcel {
    reference: String,
    carrier: String,
    /// Index into [`STEPS`].
    step: usize,
    events: Vec<TrackingEvent>,
    last_step: Instant,
    /// The last event sent: (`webhook-id`, body).
    last_event: Option<(String, Arc<String>)>,
}

struct Subscription {
    url: String,
    disabled: bool,
}

#[derive(Default)]
struct Store {
    parcels: BTreeMap<String, Parcel>,
    subscriptions: Vec<Subscription>,
}

struct Shared {
    opts: StandardWebhooksSandboxOptions,
    signer: Option<standardwebhooks::Webhook>,
    core: Arc<SandboxCore>,
    store: Mutex<Store>,
    http: reqwest::Client,
    ticker_started: AtomicBool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// One event ready to go out.
struct Outgoing {
    msg_id: String,
    body: Arc<String>,
}

/// What a delivery round did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryReport {
    pub events: Vec<String>,
    pub delivered: u64,
    pub failed: u64,
}

/// The sandbox; clones share one world.
#[derive(Clone)]
pub struct StandardWebhooksSandbox {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for StandardWebhooksSandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StandardWebhooksSandbox")
            .field("opts", &self.shared.opts)
            .finish_non_exhaustive()
    }
}

fn stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn new_msg_id() -> String {
    format!("msg_{:032x}", rand::rng().random::<u128>())
}

fn bump(r: &mut Value, key: &str, by: u64) {
    let cur = r.get(key).and_then(Value::as_u64).unwrap_or(0);
    r[key] = json!(cur.saturating_add(by));
}

fn bump_in(r: &mut Value, map: &str, key: &str) {
    if !r.get(map).is_some_and(Value::is_object) {
        r[map] = json!({});
    }
    let cur = r[map].get(key).and_then(Value::as_u64).unwrap_or(0);
    r[map][key] = json!(cur.saturating_add(1));
}

fn not_found(what: &str) -> Response {
    json_response(StatusCode::NOT_FOUND, &json!({ "error": what }))
}

impl StandardWebhooksSandbox {
    pub fn new(opts: StandardWebhooksSandboxOptions) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_millis(opts.webhook_timeout_ms.max(1)))
            .user_agent("orderhub standard-webhooks sandbox")
            .build()
            .unwrap_or_default();
        let signer = parse_secret(&opts.secret)
            .ok()
            .and_then(|key| standardwebhooks::Webhook::from_bytes(key).ok());
        if signer.is_none() {
            tracing::warn!("standard_webhooks sandbox: the secret is not a whsec_ secret; events go out unsigned");
        }
        let core = SandboxCore::new();
        core.record(|r| {
            for key in [
                "shipments_created",
                "labels_total",
                "events_created",
                "webhooks_sent",
                "webhooks_failed",
                "webhook_attempts_failed",
                "subscriptions_disabled",
            ] {
                r[key] = json!(0);
            }
            r["labels_by_reference"] = json!({});
            r["voids_by_reference"] = json!({});
            r["trackers_by_status"] = json!({});
        });
        let sb = Self {
            shared: Arc::new(Shared {
                opts,
                signer,
                core,
                store: Mutex::new(Store::default()),
                http,
                ticker_started: AtomicBool::new(false),
            }),
        };
        sb.ensure_ticker();
        sb
    }

    pub fn core(&self) -> Arc<SandboxCore> {
        self.shared.core.clone()
    }

    /// The contract routes and the shared control routes.
    pub fn router(&self) -> Router {
        self.ensure_ticker();
        Router::new()
            .route("/_sandbox/parcels", post(register_parcel))
            .route("/_sandbox/subscribe", post(subscribe))
            .route("/_sandbox/trackers/advance", post(advance_all))
            .route("/_sandbox/trackers/{code}/advance", post(advance_one))
            .route("/_sandbox/trackers/{code}/replay", post(replay))
            .fallback(|| async { not_found("no such route") })
            .with_state(self.shared.clone())
            .merge(self.shared.core.control_routes())
    }

    /// Register a shipped parcel; false when it was known already.
    pub fn register(&self, tracking_code: &str, reference: &str) -> bool {
        register(&self.shared, tracking_code, reference, None)
    }

    /// Deliver events to `url` from now on.
    pub fn subscribe(&self, url: &str) {
        self.shared.lock().subscriptions.push(Subscription {
            url: url.to_string(),
            disabled: false,
        });
    }

    /// Every parcel not delivered, one step; waits for the deliveries.
    pub async fn advance_all(&self) -> DeliveryReport {
        let out = advance(&self.shared, None, None);
        deliver_all(&self.shared, out).await
    }

    /// One parcel one step; `None` when unknown.
    pub async fn advance(&self, tracking_code: &str) -> Option<DeliveryReport> {
        if !self.shared.lock().parcels.contains_key(tracking_code) {
            return None;
        }
        let out = advance(&self.shared, Some(tracking_code), None);
        Some(deliver_all(&self.shared, out).await)
    }

    /// The parcel's last event again; `None` when nothing was sent.
    pub async fn replay(&self, tracking_code: &str) -> Option<DeliveryReport> {
        let out = replay_outgoing(&self.shared, tracking_code)?;
        Some(deliver_all(&self.shared, vec![out]).await)
    }

    /// A parcel's status word.
    pub fn status(&self, tracking_code: &str) -> Option<&'static str> {
        let store = self.shared.lock();
        store
            .parcels
            .get(tracking_code)
            .and_then(|p| STEPS.get(p.step).copied())
    }

    fn ensure_ticker(&self) {
        let every = self.shared.opts.advance_every_ms;
        if every == 0 || tokio::runtime::Handle::try_current().is_err() {
            return;
        }
        if self.shared.ticker_started.swap(true, Ordering::SeqCst) {
            return;
        }
        let weak: Weak<Shared> = Arc::downgrade(&self.shared);
        let step = Duration::from_millis(every);
        let tick = (step / 4).clamp(Duration::from_millis(5), Duration::from_secs(1));
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(tick).await;
                let Some(shared) = weak.upgrade() else { break };
                let out = advance(&shared, None, Some(step));
                if !out.is_empty() {
                    let s = shared.clone();
                    tokio::spawn(async move {
                        deliver_all(&s, out).await;
                    });
                }
            }
        });
    }
}

fn register(shared: &Shared, tracking_code: &str, reference: &str, carrier: Option<&str>) -> bool {
    let mut store = shared.lock();
    if store.parcels.contains_key(tracking_code) {
        return false;
    }
    let carrier = carrier
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .unwrap_or(&shared.opts.carrier)
        .to_string();
    store.parcels.insert(
        tracking_code.to_string(),
        Parcel {
            reference: reference.to_string(),
            carrier,
            step: 0,
            events: vec![TrackingEvent {
                status: STEPS[0].into(),
                carrier_status: Some("LABEL_PRINTED".into()),
                message: Some("Label printed, parcel handed to the dock".into()),
                occurred_at: stamp(Utc::now()),
                location: None,
            }],
            last_step: Instant::now(),
            last_event: None,
        },
    );
    shared.core.record(|r| {
        bump(r, "shipments_created", 1);
        bump(r, "labels_total", 1);
        bump_in(r, "labels_by_reference", reference);
    });
    recount(shared, &store);
    true
}

fn recount(shared: &Shared, store: &Store) {
    let mut by_status: BTreeMap<&str, u64> = BTreeMap::new();
    for p in store.parcels.values() {
        if let Some(s) = STEPS.get(p.step) {
            *by_status.entry(s).or_default() += 1;
        }
    }
    shared
        .core
        .record(|r| r["trackers_by_status"] = json!(by_status));
}

/// One step for `only` (or every parcel not delivered); with `due`, only
/// parcels whose last step is at least that old.
fn advance(shared: &Shared, only: Option<&str>, due: Option<Duration>) -> Vec<Outgoing> {
    let mut store = shared.lock();
    let codes: Vec<String> = match only {
        Some(c) => vec![c.to_string()],
        None => store.parcels.keys().cloned().collect(),
    };
    let mut out = Vec::new();
    for code in codes {
        let Some(p) = store.parcels.get_mut(&code) else {
            continue;
        };
        if due.is_some_and(|d| p.last_step.elapsed() < d) {
            continue;
        }
        let Some(next) = STEPS.get(p.step + 1).copied() else {
            continue; // delivered
        };
        // Scan times strictly increase, even for steps asked in one second.
        let last = p
            .events
            .last()
            .and_then(|e| DateTime::parse_from_rfc3339(&e.occurred_at).ok())
            .map(|t| t.with_timezone(&Utc));
        let mut at = Utc::now();
        if let Some(last) = last {
            at = at.max(last + chrono::Duration::seconds(1));
        }
        let (carrier_status, message, location) = match next {
            "in_transit" => (
                "DEPARTED_DOCK",
                "Departed the warehouse dock",
                "Reno, NV, US",
            ),
            "out_for_delivery" => ("ON_VAN", "Out for delivery", "Sacramento, CA, US"),
            _ => (
                "DELIVERED",
                "Delivered to the front door",
                "Sacramento, CA, US",
            ),
        };
        p.events.push(TrackingEvent {
            status: next.into(),
            carrier_status: Some(carrier_status.into()),
            message: Some(message.into()),
            occurred_at: stamp(at),
            location: Some(location.into()),
        });
        p.step += 1;
        p.last_step = Instant::now();
        let envelope = Envelope {
            kind: TRACKING_UPDATED.to_string(),
            timestamp: stamp(at),
            data: TrackingData {
                tracking_code: code.clone(),
                carrier: Some(p.carrier.clone()),
                carrier_shipment_id: Some(p.reference.clone()),
                status: next.into(),
                carrier_status: Some(carrier_status.into()),
                public_url: None,
                events: p.events.clone(),
            },
        };
        let body = Arc::new(serde_json::to_string(&envelope).unwrap_or_default());
        let msg_id = new_msg_id();
        p.last_event = Some((msg_id.clone(), body.clone()));
        out.push(Outgoing { msg_id, body });
    }
    if !out.is_empty() {
        let n = out.len() as u64;
        shared.core.record(|r| bump(r, "events_created", n));
    }
    recount(shared, &store);
    out
}

fn replay_outgoing(shared: &Shared, code: &str) -> Option<Outgoing> {
    let store = shared.lock();
    let (msg_id, body) = store.parcels.get(code)?.last_event.clone()?;
    Some(Outgoing { msg_id, body })
}

/// POST one event to one subscription, retrying with backoff; true once
/// delivered. Each attempt is signed afresh with its own timestamp.
async fn deliver_one(shared: &Shared, index: usize, url: &str, ev: &Outgoing) -> bool {
    let attempts = shared.opts.webhook_attempts.max(1);
    for attempt in 0..attempts {
        let ts = Utc::now().timestamp();
        let mut rb = shared
            .http
            .post(url)
            .header(header::CONTENT_TYPE, "application/json")
            .header(HEADER_ID, ev.msg_id.as_str())
            .header(HEADER_TIMESTAMP, ts.to_string())
            .body(ev.body.as_str().to_owned());
        if let Some(sig) = shared
            .signer
            .as_ref()
            .and_then(|s| s.sign(&ev.msg_id, ts, ev.body.as_bytes()).ok())
        {
            rb = rb.header(HEADER_SIGNATURE, sig);
        }
        match rb.send().await {
            Ok(r) if r.status().is_success() => {
                shared.core.record(|r| bump(r, "webhooks_sent", 1));
                return true;
            }
            Ok(r) if r.status() == reqwest::StatusCode::GONE => {
                // The receiver wants no more: disable the subscription.
                if let Some(sub) = shared.lock().subscriptions.get_mut(index) {
                    sub.disabled = true;
                }
                shared.core.record(|r| {
                    bump(r, "webhook_attempts_failed", 1);
                    bump(r, "subscriptions_disabled", 1);
                    bump(r, "webhooks_failed", 1);
                });
                return false;
            }
            _ => shared
                .core
                .record(|r| bump(r, "webhook_attempts_failed", 1)),
        }
        if attempt + 1 < attempts {
            let base = shared
                .opts
                .webhook_retry_base_ms
                .saturating_mul(1u64 << attempt.min(16))
                .min(shared.opts.webhook_retry_max_ms);
            let jitter = rand::rng().random_range(0..=base / 10);
            tokio::time::sleep(Duration::from_millis(base + jitter)).await;
        }
    }
    shared.core.record(|r| bump(r, "webhooks_failed", 1));
    false
}

/// Deliver events in order; each to every active subscription concurrently.
async fn deliver_all(shared: &Shared, events: Vec<Outgoing>) -> DeliveryReport {
    let mut report = DeliveryReport::default();
    for ev in events {
        let targets: Vec<(usize, String)> = shared
            .lock()
            .subscriptions
            .iter()
            .enumerate()
            .filter(|(_, s)| !s.disabled)
            .map(|(i, s)| (i, s.url.clone()))
            .collect();
        let results = futures::future::join_all(
            targets
                .iter()
                .map(|(i, url)| deliver_one(shared, *i, url, &ev)),
        )
        .await;
        for ok in results {
            if ok {
                report.delivered += 1;
            } else {
                report.failed += 1;
            }
        }
        report.events.push(ev.msg_id);
    }
    report
}

// ------------------------------------------------------------------ handlers

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ParcelBody {
    tracking_code: String,
    reference: String,
    carrier: Option<String>,
}

async fn register_parcel(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let req: ParcelBody = match parse_body(&body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let code = req.tracking_code.trim();
    if code.is_empty() || code.len() > 64 || !code.bytes().all(|b| b.is_ascii_graphic()) {
        return bad_request("`tracking_code` must be 1 to 64 visible ASCII characters");
    }
    let reference = match req.reference.trim() {
        "" => "(none)",
        r => r,
    };
    let created = register(&shared, code, reference, req.carrier.as_deref());
    let store = shared.lock();
    let Some(p) = store.parcels.get(code) else {
        return not_found("parcel vanished");
    };
    let out = json!({
        "tracking_code": code,
        "reference": p.reference,
        "carrier": p.carrier,
        "status": STEPS.get(p.step).copied().unwrap_or("unknown"),
    });
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    json_response(status, &out)
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct SubscribeBody {
    url: String,
}

async fn subscribe(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let req: SubscribeBody = match parse_body(&body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let url = req.url.trim();
    if !url::Url::parse(url).is_ok_and(|u| matches!(u.scheme(), "http" | "https")) {
        return bad_request("`url` must be an http(s) URL");
    }
    let id = {
        let mut store = shared.lock();
        store.subscriptions.push(Subscription {
            url: url.to_string(),
            disabled: false,
        });
        store.subscriptions.len()
    };
    json_response(
        StatusCode::CREATED,
        &json!({ "id": format!("ep_{id}"), "url": url }),
    )
}

async fn advance_all(State(shared): State<Arc<Shared>>) -> Response {
    let out = advance(&shared, None, None);
    let report = deliver_all(&shared, out).await;
    json_response(StatusCode::OK, &json!(report))
}

async fn advance_one(State(shared): State<Arc<Shared>>, Path(code): Path<String>) -> Response {
    if !shared.lock().parcels.contains_key(&code) {
        return not_found("unknown tracking code");
    }
    let out = advance(&shared, Some(&code), None);
    let report = deliver_all(&shared, out).await;
    json_response(StatusCode::OK, &json!(report))
}

async fn replay(State(shared): State<Arc<Shared>>, Path(code): Path<String>) -> Response {
    let Some(out) = replay_outgoing(&shared, &code) else {
        return not_found("no event was sent for this tracking code");
    };
    let report = deliver_all(&shared, vec![out]).await;
    json_response(StatusCode::OK, &json!(report))
}
