//! Outbound notifications: signed webhooks (Standard Webhooks) to the
//! sellers' own systems. See `orderhub_core::store::outbound` for the outbox.
//!
//! One loop per process, every `worker.tick_ms`:
//! - the dispatcher turns new timeline events into deliveries (safe to run in
//!   several processes at once);
//! - for each configured subscriber not already being served by this
//!   process, a task takes the subscriber's lease (one sender per subscriber
//!   across processes) and sends its due deliveries one at a time in
//!   order-event order, stopping at the first failure: the failed head is
//!   retried at its `next_attempt_at` (exponential backoff with full jitter,
//!   `notifications.retry_base_ms` doubling to `retry_max_secs`) and every
//!   later delivery of that subscriber waits behind it.
//!
//! Each request carries `webhook-id` (the delivery's stable id, the same on
//! every retry), `webhook-timestamp` (the attempt's Unix time) and
//! `webhook-signature` (`v1,` + base64 HMAC-SHA256 of `id.timestamp.body`
//! keyed with the base64-decoded part of the `whsec_` secret). Success is a
//! 2xx answer. The secret is never logged; logs name the subscriber, the
//! delivery and the status.

use crate::app::App;
use orderhub_core::config::{NotificationSettings, WebhookSubscriberSettings};
use orderhub_core::store::outbound::outbound_delivery;
use orderhub_core::store::{AttemptOutcome, PausePolicy};
use rand::Rng;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Timeline events read per dispatcher pass.
const DISPATCH_BATCH: u64 = 500;
/// Deliveries one sender turn sends before giving the lease back.
const TURN_MAX: usize = 200;

/// A subscriber ready to send to: its config and its signing key.
struct Subscriber {
    settings: WebhookSubscriberSettings,
    signer: standardwebhooks::Webhook,
}

/// The backoff before attempt `failed + 1`, after `failed` failed attempts:
/// uniformly random in `[0, min(max, base · 2^(failed-1))]` (full jitter),
/// at least `retry_after` when the receiver asked for it (capped at max).
pub fn backoff(n: &NotificationSettings, failed: u32, retry_after: Option<Duration>) -> Duration {
    backoff_between(n.retry_base_ms, n.retry_max_secs, failed, retry_after)
}

/// [`backoff`] with its bounds given (also the customer email outbox's).
pub fn backoff_between(
    base_ms: u64,
    max_secs: u64,
    failed: u32,
    retry_after: Option<Duration>,
) -> Duration {
    let base = Duration::from_millis(base_ms.max(1));
    let max = Duration::from_secs(max_secs).max(base);
    let exp = failed.saturating_sub(1).min(32);
    let cap = base.saturating_mul(1u32 << exp.min(31)).min(max);
    let jittered = Duration::from_millis(rand::rng().random_range(0..=cap.as_millis() as u64));
    match retry_after {
        Some(r) => jittered.max(r.min(max)),
        None => jittered,
    }
}

/// The pause rule from config.
pub fn pause_policy(n: &NotificationSettings) -> PausePolicy {
    PausePolicy {
        after_failures: n.pause_after_failures.max(1),
        after: chrono::Duration::milliseconds((n.pause_after_hours * 3_600_000.0) as i64),
    }
}

/// Run the dispatcher and the senders until the process stops.
pub async fn run(app: Arc<App>) {
    let n = &app.settings.notifications;
    let tick = Duration::from_millis(app.settings.worker.tick_ms.clamp(50, 5_000));
    let mut subs = Vec::new();
    for s in &n.webhooks {
        // Validated at startup; read here like the ops token (never logged).
        let secret = std::env::var(s.secrets.get("signing_secret").map_or("", String::as_str))
            .unwrap_or_default();
        match standardwebhooks::Webhook::new(&secret) {
            Ok(signer) => subs.push(Arc::new(Subscriber {
                settings: s.clone(),
                signer,
            })),
            Err(_) => tracing::error!(
                subscriber = %s.id,
                "webhook subscriber's signing secret is not a whsec_ secret; not sending to it"
            ),
        }
    }
    let client = match reqwest::Client::builder()
        .timeout(Duration::from_millis(n.timeout_ms.max(1)))
        .connect_timeout(Duration::from_millis(n.timeout_ms.max(1)))
        .user_agent(concat!("orderhub/", env!("CARGO_PKG_VERSION")))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "no HTTP client for outbound webhooks");
            return;
        }
    };
    let configured: Vec<WebhookSubscriberSettings> =
        subs.iter().map(|s| s.settings.clone()).collect();
    let mut synced = false;
    let mut running: HashMap<String, tokio::task::JoinHandle<()>> = HashMap::new();
    loop {
        if !synced {
            match app.store.sync_webhook_subscribers(&configured).await {
                Ok(()) => synced = true,
                Err(e) => tracing::warn!(error = %e, "could not store the webhook subscribers"),
            }
        }
        if synced {
            dispatch(&app, &configured).await;
            running.retain(|_, h| !h.is_finished());
            for s in &subs {
                if running.contains_key(&s.settings.id) {
                    continue;
                }
                let h = tokio::spawn(turn(app.clone(), client.clone(), s.clone()));
                running.insert(s.settings.id.clone(), h);
            }
        }
        tokio::time::sleep(tick).await;
    }
}

/// Dispatcher passes until caught up (bounded, so the senders get a turn).
async fn dispatch(app: &App, subs: &[WebhookSubscriberSettings]) {
    let grace = chrono::Duration::seconds(app.settings.notifications.gap_grace_secs as i64);
    for _ in 0..20 {
        match app
            .store
            .dispatch_notifications(subs, DISPATCH_BATCH, grace)
            .await
        {
            Ok(r) => {
                if r.deliveries > 0 {
                    tracing::debug!(
                        events = r.events,
                        deliveries = r.deliveries,
                        watermark = r.watermark,
                        "notifications dispatched"
                    );
                }
                if (r.events as u64) < DISPATCH_BATCH {
                    return;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "notification dispatcher pass failed");
                return;
            }
        }
    }
}

/// One sender turn for one subscriber: under its lease, its due deliveries
/// in order, up to the first failure.
async fn turn(app: Arc<App>, client: reqwest::Client, sub: Arc<Subscriber>) {
    let n = &app.settings.notifications;
    let id = sub.settings.id.as_str();
    let owner = app.instance.as_str();
    // Long enough for one request plus slack; a dead process's lease expires.
    let ttl_ms = (n.timeout_ms + app.settings.worker.lease_ttl_secs * 1000) as i64;
    let mut sent = 0;
    let mut claimed = false;
    let due =
        |h: &outbound_delivery::Model| h.next_attempt_at.is_none_or(|t| t <= chrono::Utc::now());
    while sent < TURN_MAX {
        // A read first: nothing due, no write.
        match app.store.head_webhook_delivery(id).await {
            Ok(Some(h)) if due(&h) => {}
            Ok(_) => break,
            Err(e) => {
                tracing::warn!(subscriber = %id, error = %e, "could not read the next delivery");
                break;
            }
        }
        // Take or renew the lease before each send (a paused subscriber
        // cannot be claimed).
        match app.store.claim_webhook_subscriber(id, owner, ttl_ms).await {
            Ok(true) => claimed = true,
            Ok(false) => return,
            Err(e) => {
                tracing::warn!(subscriber = %id, error = %e, "could not take the subscriber's lease");
                break;
            }
        }
        // Read again under the lease: another process may have sent it.
        let head = match app.store.head_webhook_delivery(id).await {
            Ok(Some(h)) if due(&h) => h,
            Ok(_) => break,
            Err(e) => {
                tracing::warn!(subscriber = %id, error = %e, "could not read the next delivery");
                break;
            }
        };
        let mut outcome = send(&client, &sub, &head).await;
        if !outcome.ok {
            let retry_after = outcome
                .retry_at
                .take()
                .map(|t| (t - chrono::Utc::now()).to_std().unwrap_or_default());
            let delay = backoff(n, (head.attempts + 1) as u32, retry_after);
            outcome.retry_at =
                Some(chrono::Utc::now() + chrono::Duration::from_std(delay).unwrap_or_default());
        }
        match app
            .store
            .record_webhook_attempt(&head, &outcome, pause_policy(n))
            .await
        {
            Ok(rec) => {
                if outcome.ok {
                    tracing::debug!(subscriber = %id, delivery = head.id, status = ?outcome.status_code, "webhook delivered");
                    sent += 1;
                    continue;
                }
                tracing::info!(
                    subscriber = %id,
                    delivery = head.id,
                    attempt = head.attempts + 1,
                    status = ?outcome.status_code,
                    error = outcome.error.as_deref().unwrap_or(""),
                    consecutive_failures = rec.consecutive_failures,
                    "webhook delivery failed; will retry"
                );
                if rec.paused {
                    tracing::warn!(
                        subscriber = %id,
                        consecutive_failures = rec.consecutive_failures,
                        "webhook subscriber paused after repeated failures; its deliveries are kept until it is resumed"
                    );
                    return;
                }
                break;
            }
            Err(e) => {
                tracing::warn!(subscriber = %id, delivery = head.id, error = %e, "could not record a webhook attempt");
                break;
            }
        }
    }
    if !claimed {
        return;
    }
    if let Err(e) = app.store.release_webhook_subscriber(id, owner).await {
        tracing::warn!(subscriber = %id, error = %e, "could not release the subscriber's lease");
    }
}

/// One signed POST. A failure's `retry_at` carries the receiver's
/// `Retry-After` (seconds) if it sent one.
async fn send(
    client: &reqwest::Client,
    sub: &Subscriber,
    d: &outbound_delivery::Model,
) -> AttemptOutcome {
    let started = Instant::now();
    let msg_id = d.webhook_id();
    let ts = chrono::Utc::now().timestamp();
    let signature = match sub.signer.sign(&msg_id, ts, d.body.as_bytes()) {
        Ok(s) => s,
        Err(e) => {
            return AttemptOutcome {
                ok: false,
                status_code: None,
                error: Some(format!("signing failed: {e}")),
                duration_ms: 0,
                retry_at: None,
            }
        }
    };
    let res = client
        .post(&sub.settings.url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header("webhook-id", &msg_id)
        .header("webhook-timestamp", ts.to_string())
        .header("webhook-signature", signature)
        .body(d.body.clone())
        .send()
        .await;
    let duration_ms = started.elapsed().as_millis() as i64;
    match res {
        Ok(r) => {
            let code = r.status();
            let retry_after = r
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(|s| chrono::Utc::now() + chrono::Duration::seconds(s.min(86_400) as i64));
            AttemptOutcome {
                ok: code.is_success(),
                status_code: Some(code.as_u16()),
                error: (!code.is_success()).then(|| format!("answered HTTP {}", code.as_u16())),
                duration_ms,
                retry_at: if code.is_success() { None } else { retry_after },
            }
        }
        Err(e) => {
            // Without the URL: it may carry a token in its query.
            let kind = if e.is_timeout() {
                "timeout"
            } else if e.is_connect() {
                "connection failed"
            } else {
                "request failed"
            };
            AttemptOutcome {
                ok: false,
                status_code: None,
                error: Some(format!("{kind}: {}", e.without_url())),
                duration_ms,
                retry_at: None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_full_jitter_up_to_the_max() {
        let n = NotificationSettings::default(); // 5 s doubling to 1 h
        for _ in 0..200 {
            assert!(backoff(&n, 1, None) <= Duration::from_secs(5));
            assert!(backoff(&n, 3, None) <= Duration::from_secs(20));
            assert!(backoff(&n, 40, None) <= Duration::from_secs(3600));
        }
        // Jittered: not always the cap.
        let many: std::collections::BTreeSet<_> = (0..50).map(|_| backoff(&n, 10, None)).collect();
        assert!(many.len() > 10);
        // Retry-After is honoured, capped at the max.
        assert!(backoff(&n, 1, Some(Duration::from_secs(60))) >= Duration::from_secs(60));
        assert!(backoff(&n, 1, Some(Duration::from_secs(99_999))) <= Duration::from_secs(3600));
    }
}
