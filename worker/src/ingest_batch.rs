//! Webhook ingest with group commit (issue 12).
//!
//! A request whose signature checked out hands its delivery to one writer
//! task and waits. The writer takes every delivery waiting at that moment
//! (up to [`MAX_BATCH`]), stores them in ONE write transaction
//! ([`Store::insert_webhooks`]: deduplicated by delivery id inside the batch
//! and against everything stored before), enqueues the ApplyTrackingEvent
//! jobs of the new carrier events, and only then answers each request:
//! nobody gets a 200 before their delivery is committed (invariant 6). If a
//! batch fails, each of its deliveries is stored on its own, so one bad row
//! costs its own request a 503 and nobody else's.
//!
//! New channel deliveries are then applied after the answer by one applier
//! task ([`Store::apply_webhooks`], again one transaction per batch). A
//! delivery the applier has no room for, or that a crash left unapplied, is
//! still in the inbox unprocessed: the applier catches up on the ones it had
//! no room for as soon as it is idle, and the scheduler's sweep
//! ([`crate::server::webhooks::sweep_unapplied`]) finishes whatever a crash
//! left behind. Applying twice changes nothing (newest wins).

use crate::app::App;
use crate::jobs::{ApplyTrackingEvent, PollChannel, RouteOrder};
use crate::queue::Storage;
use bytes::Bytes;
use orderhub_connectors::WebhookOrder;
use orderhub_core::store::{Backend, NewWebhook, Store, UpsertOutcome, WebhookEffect};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use tokio::sync::{mpsc, oneshot};

/// Deliveries per write transaction at most.
pub const MAX_BATCH: usize = 512;
/// Deliveries waiting for the writer at most (then requests wait to hand
/// theirs over).
const WRITER_QUEUE: usize = 4096;
/// Stored channel deliveries waiting to be applied at most (then the
/// applier catches up from the inbox by id).
const APPLIER_QUEUE: usize = 2048;
/// Deliveries applied per transaction at most.
const APPLY_BATCH: usize = 64;
/// Ids the applier had no room for, kept to catch up on; beyond this the
/// scheduler's sweep finds them.
const MAX_OVERFLOW: usize = 1_000_000;

/// Whence a delivery came, and what follows once it is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// A channel's order webhook: applied after the answer.
    Channel,
    /// A carrier's tracking event: its ApplyTrackingEvent job is enqueued
    /// before the answer.
    Carrier,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Channel => "channel",
            Source::Carrier => "carrier",
        }
    }
}

/// One verified delivery. `body` is the request's own buffer (not copied);
/// the caller checked it is UTF-8.
pub struct Delivery {
    pub source: Source,
    pub source_id: String,
    pub delivery_id: String,
    pub topic: String,
    pub body: Bytes,
}

/// The store failed for this delivery (logged where it happened).
#[derive(Debug)]
pub struct StoreFailed;

struct Pending {
    delivery: Delivery,
    reply: oneshot::Sender<Result<Option<i64>, StoreFailed>>,
}

struct Stored {
    inbox_id: i64,
    channel_id: String,
    topic: String,
    body: Bytes,
}

/// The handle the HTTP handlers share (one per [`App`]). The tasks start on
/// the first delivery, on the runtime serving it, and stop when the `App`
/// is dropped (or that runtime ends; the next delivery starts them again).
#[derive(Default)]
pub struct Ingest {
    writer: Mutex<Option<mpsc::Sender<Pending>>>,
    largest_batch: Arc<AtomicUsize>,
}

impl Ingest {
    /// Store a verified delivery (group commit) and answer once it is
    /// committed: `Some(inbox id)` when new, `None` for a duplicate.
    pub async fn store(&self, app: &Arc<App>, d: Delivery) -> Result<Option<i64>, StoreFailed> {
        let (reply, answer) = oneshot::channel();
        let mut pending = Pending { delivery: d, reply };
        // At most twice: a writer whose runtime ended is replaced once.
        for _ in 0..2 {
            let tx = self.writer(app);
            match tx.send(pending).await {
                Ok(()) => {
                    return answer.await.unwrap_or_else(|_| {
                        tracing::error!("the webhook writer stopped before answering");
                        Err(StoreFailed)
                    })
                }
                Err(mpsc::error::SendError(p)) => {
                    pending = p;
                    let mut w = self.writer.lock().unwrap_or_else(|e| e.into_inner());
                    if w.as_ref().is_some_and(|w| w.same_channel(&tx)) {
                        *w = None;
                    }
                }
            }
        }
        tracing::error!("the webhook writer is not running");
        Err(StoreFailed)
    }

    /// The most deliveries one transaction stored so far (tests, the bench).
    pub fn largest_batch(&self) -> usize {
        self.largest_batch.load(Ordering::Relaxed)
    }

    fn writer(&self, app: &Arc<App>) -> mpsc::Sender<Pending> {
        let mut w = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        match &*w {
            Some(tx) if !tx.is_closed() => tx.clone(),
            _ => {
                let (tx, rx) = mpsc::channel(WRITER_QUEUE);
                let (atx, arx) = mpsc::channel(APPLIER_QUEUE);
                let overflow = Arc::new(Mutex::new(Vec::new()));
                let gate = WriteGate::for_store(&app.store);
                tokio::spawn(writer(
                    app.store.clone(),
                    app.queue.tracking_event.clone(),
                    rx,
                    atx,
                    overflow.clone(),
                    self.largest_batch.clone(),
                    gate.clone(),
                ));
                tokio::spawn(applier(Arc::downgrade(app), arx, overflow, gate));
                *w = Some(tx.clone());
                tx
            }
        }
    }
}

/// SQLite has one writer at a time, and a transaction that finds the lock
/// taken polls for it in the store's busy handler (50 µs to 1 ms naps). The
/// writer and the applier take turns here instead (first come, first
/// served), so neither polls for the other.
/// PostgreSQL needs no turns: their rows do not overlap.
#[derive(Clone)]
struct WriteGate(Option<Arc<tokio::sync::Mutex<()>>>);

impl WriteGate {
    fn for_store(store: &Store) -> WriteGate {
        WriteGate(
            (store.backend() == Backend::Sqlite).then(|| Arc::new(tokio::sync::Mutex::new(()))),
        )
    }

    async fn turn(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        match &self.0 {
            Some(m) => Some(m.lock().await),
            None => None,
        }
    }
}

async fn writer(
    store: Store,
    tracking_event: Storage<ApplyTrackingEvent>,
    mut rx: mpsc::Receiver<Pending>,
    applier: mpsc::Sender<Stored>,
    overflow: Arc<Mutex<Vec<i64>>>,
    largest_batch: Arc<AtomicUsize>,
    gate: WriteGate,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    // Whatever is waiting when the last batch committed is the next batch:
    // no timer, so an idle server answers at once.
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        largest_batch.fetch_max(batch.len(), Ordering::Relaxed);
        let ids = {
            let _turn = gate.turn().await;
            store_batch(&store, &batch).await
        };
        // The carrier events' jobs, before the answer. If an enqueue fails
        // the event is stored all the same: the scheduler's sweep enqueues it.
        let events: Vec<ApplyTrackingEvent> = batch
            .iter()
            .zip(&ids)
            .filter(|(p, _)| p.delivery.source == Source::Carrier)
            .filter_map(|(_, id)| id.as_ref().ok().copied().flatten())
            .map(|inbox_id| ApplyTrackingEvent { inbox_id })
            .collect();
        let count = events.len();
        if let Err(e) = tracking_event.push_many(events).await {
            tracing::warn!(events = count, error = %e, "enqueue failed; the sweep will apply them");
        }
        for (p, id) in batch.drain(..).zip(ids) {
            if let (Source::Channel, Ok(Some(inbox_id))) = (p.delivery.source, &id) {
                let stored = Stored {
                    inbox_id: *inbox_id,
                    channel_id: p.delivery.source_id,
                    topic: p.delivery.topic,
                    body: p.delivery.body,
                };
                if let Err(mpsc::error::TrySendError::Full(s)) = applier.try_send(stored) {
                    let mut o = overflow.lock().unwrap_or_else(|e| e.into_inner());
                    if o.len() < MAX_OVERFLOW {
                        o.push(s.inbox_id);
                    }
                }
            }
            // The request may have gone away meanwhile; its delivery is
            // stored all the same.
            let _ = p.reply.send(id);
        }
    }
}

/// One transaction for the batch; if it fails, each delivery on its own.
async fn store_batch(store: &Store, batch: &[Pending]) -> Vec<Result<Option<i64>, StoreFailed>> {
    let rows: Vec<NewWebhook<'_>> = batch
        .iter()
        .map(|p| NewWebhook {
            source: p.delivery.source.as_str(),
            source_id: &p.delivery.source_id,
            delivery_id: &p.delivery.delivery_id,
            topic: &p.delivery.topic,
            body: std::str::from_utf8(&p.delivery.body).unwrap_or_default(),
        })
        .collect();
    match store.insert_webhooks(&rows).await {
        Ok(ids) => ids.into_iter().map(Ok).collect(),
        Err(e) => {
            tracing::warn!(deliveries = rows.len(), error = %e, "storing a webhook batch failed; storing each on its own");
            let mut out = Vec::with_capacity(rows.len());
            for w in &rows {
                out.push(
                    store
                        .insert_webhook(w.source, w.source_id, w.delivery_id, w.topic, w.body)
                        .await
                        .map_err(|e| {
                            tracing::error!(source = w.source, source_id = w.source_id, error = %e, "storing a webhook failed");
                            StoreFailed
                        }),
                );
            }
            out
        }
    }
}

async fn applier(
    app: Weak<App>,
    mut rx: mpsc::Receiver<Stored>,
    overflow: Arc<Mutex<Vec<i64>>>,
    gate: WriteGate,
) {
    let mut batch = Vec::with_capacity(APPLY_BATCH);
    while rx.recv_many(&mut batch, APPLY_BATCH).await > 0 {
        let Some(app) = app.upgrade() else { return };
        apply_batch(&app, &gate, std::mem::take(&mut batch)).await;
        // Idle: catch up on the deliveries there was no room for.
        while rx.is_empty() {
            let ids: Vec<i64> = {
                let mut o = overflow.lock().unwrap_or_else(|e| e.into_inner());
                let n = o.len().min(APPLY_BATCH);
                o.drain(..n).collect()
            };
            if ids.is_empty() {
                break;
            }
            match app.store.unapplied_webhooks_by_id(&ids).await {
                Ok(rows) => {
                    let stored = rows
                        .into_iter()
                        .map(|r| Stored {
                            inbox_id: r.id,
                            channel_id: r.source_id,
                            topic: r.topic,
                            body: Bytes::from(r.body),
                        })
                        .collect();
                    apply_batch(&app, &gate, stored).await;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "reading deliveries to apply failed; the sweep applies them");
                    break;
                }
            }
        }
    }
}

/// Apply stored channel deliveries: one transaction for the batch, then the
/// jobs that follow (RouteOrder for a new order, PollChannel for an event
/// naming only an order). If the transaction fails, each delivery is
/// applied on its own (the way the sweep does).
async fn apply_batch(app: &App, gate: &WriteGate, batch: Vec<Stored>) {
    let mut decoded = Vec::with_capacity(batch.len());
    for s in &batch {
        let Some(channel) = app.channels.get(&s.channel_id) else {
            continue;
        };
        let what = channel.connector.order_from_webhook(&s.topic, &s.body);
        decoded.push((s, channel, what));
    }
    let effects: Vec<(i64, WebhookEffect<'_>)> = decoded
        .iter()
        .map(|(s, channel, what)| {
            let effect = match what {
                Ok(WebhookOrder::Order(order)) => WebhookEffect::Upsert {
                    seller_id: &channel.settings.seller,
                    channel_id: &channel.settings.id,
                    order,
                },
                Ok(WebhookOrder::Changed { .. } | WebhookOrder::Ignored) => WebhookEffect::Nothing,
                Err(q) => WebhookEffect::Quarantine {
                    channel_id: &channel.settings.id,
                    quarantined: q,
                },
            };
            (s.inbox_id, effect)
        })
        .collect();
    if effects.is_empty() {
        return;
    }
    let applied = {
        let _turn = gate.turn().await;
        app.store.apply_webhooks(&effects).await
    };
    match applied {
        Ok(outcomes) => {
            let routes: Vec<RouteOrder> = outcomes
                .iter()
                .filter_map(|o| match o {
                    Some(UpsertOutcome::Inserted(order_id)) => Some(RouteOrder {
                        order_id: *order_id,
                    }),
                    _ => None,
                })
                .collect();
            // A new order that came by webhook before any poll saw it is
            // routed like a polled one.
            let count = routes.len();
            if let Err(e) = app.queue.route.push_many(routes).await {
                tracing::error!(orders = count, error = %e, "enqueue RouteOrder failed; the orders stay awaiting");
            }
            // An event naming the order only: poll the channel now (once per
            // channel); its overlapping window picks the change up. If the
            // enqueue fails, the scheduler's next tick polls anyway.
            let polls: BTreeSet<&str> = decoded
                .iter()
                .filter(|(_, _, what)| matches!(what, Ok(WebhookOrder::Changed { .. })))
                .map(|(_, channel, _)| channel.settings.id.as_str())
                .collect();
            for channel_id in polls {
                if let Err(e) = app
                    .queue
                    .poll
                    .push(PollChannel {
                        channel_id: channel_id.to_string(),
                    })
                    .await
                {
                    tracing::warn!(channel = %channel_id, error = %e, "enqueue PollChannel failed; the next scheduled poll picks the change up");
                }
            }
        }
        Err(e) => {
            tracing::warn!(deliveries = effects.len(), error = %e, "applying a webhook batch failed; applying each on its own");
            drop(effects);
            for (s, channel, _) in &decoded {
                if let Err(e) =
                    crate::server::webhooks::apply(app, channel, s.inbox_id, &s.topic, &s.body)
                        .await
                {
                    tracing::error!(channel = %s.channel_id, inbox_id = s.inbox_id, error = %e, "applying webhook failed; the sweep tries again");
                }
            }
        }
    }
}
