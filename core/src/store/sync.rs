//! Channel sync state: leases, cursors, pages stored atomically (invariant 2),
//! quarantined payloads.

use super::entities::{channel, quarantine, sync_cursor};
use super::orders::{upsert_order, UpsertOutcome};
use super::pack_verify::sku_barcode;
use super::{now, sha256_hex, Store};
use crate::{Order, Quarantined};
use chrono::{DateTime, TimeZone, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter,
};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// The `source` of a barcode that came with a channel's order data.
pub const BARCODE_SOURCE_CHANNEL: &str = "channel";

/// Store the barcodes the channel's order lines carry (`OrderLine::barcode`)
/// in `sku_barcodes` with source `channel`, in the caller's transaction, so
/// scan-to-verify knows them. Returns how many were added.
///
/// Precedence: what the seller set wins. A sku that has any barcode from
/// config, CSV or the API takes no channel barcode (so a CSV import that
/// replaced a sku's barcodes is not undone by the next sync); otherwise a
/// channel barcode is added next to the sku's other channel barcodes (never
/// replacing one). A barcode already known stays as it is: for the same sku
/// nothing changes, for another sku it is logged and skipped (a barcode is
/// unique per seller), and so is one barcode sent for two skus in one page.
pub(crate) async fn store_channel_barcodes<'a, C: ConnectionTrait>(
    db: &C,
    seller_id: &str,
    orders: impl IntoIterator<Item = &'a Order>,
) -> Result<u64, DbErr> {
    // barcode → sku, cleaned as a scan is.
    let mut wanted: BTreeMap<&str, &str> = BTreeMap::new();
    let mut clashing: BTreeSet<&str> = BTreeSet::new();
    for o in orders {
        for l in &o.lines {
            let (Some(sku), Some(code)) = (
                l.sku.as_deref().map(str::trim).filter(|s| !s.is_empty()),
                l.barcode
                    .as_deref()
                    .and_then(crate::pack_verify::clean_scan),
            ) else {
                continue;
            };
            match wanted.get(code) {
                Some(other) if *other != sku => {
                    if clashing.insert(code) {
                        tracing::warn!(
                            seller_id,
                            channel = %o.channel,
                            barcode = code,
                            sku,
                            other_sku = *other,
                            "one channel barcode for two skus: not stored"
                        );
                    }
                }
                Some(_) => {}
                None => {
                    wanted.insert(code, sku);
                }
            }
        }
    }
    for code in &clashing {
        wanted.remove(code);
    }
    if wanted.is_empty() {
        return Ok(0);
    }
    let skus: BTreeSet<&str> = wanted.values().copied().collect();
    let known = sku_barcode::Entity::find()
        .filter(sku_barcode::Column::SellerId.eq(seller_id))
        .filter(
            Condition::any()
                .add(sku_barcode::Column::Barcode.is_in(wanted.keys().copied()))
                .add(sku_barcode::Column::Sku.is_in(skus.iter().copied())),
        )
        .all(db)
        .await?;
    let owner: BTreeMap<&str, &str> = known
        .iter()
        .map(|k| (k.barcode.as_str(), k.sku.as_str()))
        .collect();
    let curated: BTreeSet<&str> = known
        .iter()
        .filter(|k| k.source != BARCODE_SOURCE_CHANNEL)
        .map(|k| k.sku.as_str())
        .collect();
    let mut added = 0;
    for (code, sku) in wanted {
        match owner.get(code) {
            Some(o) if *o == sku => continue,
            Some(o) => {
                tracing::warn!(
                    seller_id,
                    barcode = code,
                    sku,
                    owner_sku = *o,
                    "channel barcode belongs to another sku: not stored"
                );
                continue;
            }
            None => {}
        }
        if curated.contains(sku) {
            continue;
        }
        // A concurrent writer may have stored it meanwhile: the unique
        // (seller, barcode) index keeps the first.
        sku_barcode::Entity::insert(sku_barcode::ActiveModel {
            id: NotSet,
            seller_id: Set(seller_id.to_string()),
            sku: Set(sku.to_string()),
            barcode: Set(code.to_string()),
            source: Set(BARCODE_SOURCE_CHANNEL.to_string()),
            updated_at: Set(now()),
        })
        .on_conflict_do_nothing_on([sku_barcode::Column::SellerId, sku_barcode::Column::Barcode])
        .exec_without_returning(db)
        .await?;
        added += 1;
    }
    Ok(added)
}

/// What storing one page did.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct PageOutcome {
    pub inserted: u64,
    /// Store ids of the orders this page created (to route them).
    pub inserted_ids: Vec<i64>,
    pub updated: u64,
    pub unchanged: u64,
    pub quarantined: u64,
    /// The newest `updated_at` on the page (unix ms).
    pub newest_ms: Option<i64>,
}

/// A channel's sync health, for ops.
#[derive(Debug, Clone, Serialize)]
pub struct ChannelStatus {
    pub id: String,
    pub seller_id: String,
    pub kind: String,
    pub watermark: Option<DateTime<Utc>>,
    pub last_success_at: Option<DateTime<Utc>>,
    /// When the scheduler next polls the channel (interval, backoff and the
    /// channel's quota taken into account).
    pub next_poll_at: DateTime<Utc>,
    /// Seconds since the last successful sync.
    pub lag_seconds: Option<i64>,
    pub last_error: Option<String>,
    /// `ok`, `never_synced`, `failing` (the last poll failed; retried with
    /// backoff) or `auth_failed` (the channel refused the credentials: fix
    /// them; other channels keep syncing).
    pub state: &'static str,
    pub error_count: i64,
    pub orders_synced: i64,
    pub lease_owner: Option<String>,
}

/// Why a poll failed, as the channel's state shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PollFailure {
    /// 401/403: the credentials stopped working.
    Auth,
    /// Anything else (down, throttled past retries, a store error).
    Other,
}

fn ms_to_utc(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

pub(crate) async fn quarantine<C: ConnectionTrait>(
    db: &C,
    channel_id: &str,
    source: &str,
    q: &Quarantined,
) -> Result<(), DbErr> {
    let am = quarantine::ActiveModel {
        channel_id: Set(channel_id.into()),
        external_id: Set(q.external_id.clone()),
        reason: Set(q.reason.clone()),
        raw_payload: Set(q.raw.clone()),
        payload_hash: Set(sha256_hex(q.raw.as_bytes())),
        source: Set(source.into()),
        received_at: Set(now()),
        ..Default::default()
    };
    // The same bad payload seen again (overlapping polls) stays one row.
    quarantine::Entity::insert(am)
        .on_conflict_do_nothing_on([
            quarantine::Column::ChannelId,
            quarantine::Column::PayloadHash,
        ])
        .exec_without_returning(db)
        .await?;
    Ok(())
}

impl Store {
    /// Register a configured channel (idempotent; seller and kind follow config).
    pub async fn ensure_channel(&self, id: &str, seller_id: &str, kind: &str) -> Result<(), DbErr> {
        let am = channel::ActiveModel {
            id: Set(id.into()),
            seller_id: Set(seller_id.into()),
            kind: Set(kind.into()),
            lease_owner: Set(None),
            lease_until_ms: Set(None),
            next_poll_at_ms: Set(0),
            last_success_at: Set(None),
            last_error: Set(None),
            last_error_kind: Set(None),
            error_count: Set(0),
            orders_synced: Set(0),
            created_at: Set(now()),
        };
        channel::Entity::insert(am)
            .on_conflict(
                OnConflict::column(channel::Column::Id)
                    .update_columns([channel::Column::SellerId, channel::Column::Kind])
                    .to_owned(),
            )
            .exec_without_returning(&self.db)
            .await?;
        Ok(())
    }

    /// The highest channel `updated_at` stored so far.
    pub async fn watermark(&self, channel_id: &str) -> Result<Option<DateTime<Utc>>, DbErr> {
        Ok(sync_cursor::Entity::find_by_id(channel_id.to_string())
            .one(&self.db)
            .await?
            .map(|c| ms_to_utc(c.watermark_ms)))
    }

    /// Store one fetched page in one transaction: upsert its orders, quarantine
    /// what could not be mapped, and move the channel's cursor to the newest
    /// `updated_at` among them. If anything fails, nothing moves.
    pub async fn store_page(
        &self,
        seller_id: &str,
        channel_id: &str,
        items: &[Result<Order, Quarantined>],
    ) -> Result<PageOutcome, DbErr> {
        self.store_page_with(seller_id, channel_id, items, true)
            .await
    }

    /// [`Store::store_page`], moving the cursor only when `move_cursor`: for
    /// channels whose pages are not oldest first, the poll moves it with
    /// [`Store::advance_cursor`] after the last page (`PageOutcome::newest_ms`
    /// says how far).
    pub async fn store_page_with(
        &self,
        seller_id: &str,
        channel_id: &str,
        items: &[Result<Order, Quarantined>],
        move_cursor: bool,
    ) -> Result<PageOutcome, DbErr> {
        let tx = self.begin_write().await?;
        let mut out = PageOutcome::default();
        let mut newest: Option<i64> = None;
        // Orders in one fixed order (by external id), whatever order the page
        // came in: concurrent writers of overlapping pages then take the
        // orders' row locks in the same order and wait instead of deadlocking
        // (PostgreSQL 40P01).
        let mut ordered: Vec<&Result<Order, Quarantined>> = items.iter().collect();
        ordered.sort_by(|a, b| match (a, b) {
            (Ok(a), Ok(b)) => a.external_id.cmp(&b.external_id),
            (Ok(_), Err(_)) => std::cmp::Ordering::Less,
            (Err(_), Ok(_)) => std::cmp::Ordering::Greater,
            (Err(_), Err(_)) => std::cmp::Ordering::Equal,
        });
        for item in ordered {
            match item {
                Ok(o) => {
                    match upsert_order(&tx, seller_id, channel_id, o).await? {
                        UpsertOutcome::Inserted(id) => {
                            out.inserted += 1;
                            out.inserted_ids.push(id);
                        }
                        UpsertOutcome::Updated(_) => out.updated += 1,
                        UpsertOutcome::Unchanged(_) => out.unchanged += 1,
                    }
                    let v = o.updated_at.timestamp_millis();
                    newest = Some(newest.map_or(v, |n| std::cmp::max(n, v)));
                }
                Err(q) => {
                    quarantine(&tx, channel_id, "poll", q).await?;
                    out.quarantined += 1;
                }
            }
        }
        out.newest_ms = newest;
        store_channel_barcodes(&tx, seller_id, items.iter().filter_map(|i| i.as_ref().ok()))
            .await?;
        if let (Some(v), true) = (newest, move_cursor) {
            advance_cursor(&tx, channel_id, v).await?;
        }
        if out.inserted + out.updated > 0 {
            channel::Entity::update_many()
                .col_expr(
                    channel::Column::OrdersSynced,
                    Expr::col(channel::Column::OrdersSynced)
                        .add((out.inserted + out.updated) as i64),
                )
                .filter(channel::Column::Id.eq(channel_id))
                .exec(&tx)
                .await?;
        }
        tx.commit().await?;
        Ok(out)
    }

    /// Move a channel's cursor forward (never back) to `to_ms`, once every
    /// order it covers is stored.
    pub async fn advance_cursor(&self, channel_id: &str, to_ms: i64) -> Result<(), DbErr> {
        advance_cursor(&self.db, channel_id, to_ms).await
    }

    pub async fn quarantine(
        &self,
        channel_id: &str,
        source: &str,
        q: &Quarantined,
    ) -> Result<(), DbErr> {
        quarantine(&self.db, channel_id, source, q).await
    }

    pub async fn quarantined(&self, channel_id: &str) -> Result<Vec<quarantine::Model>, DbErr> {
        quarantine::Entity::find()
            .filter(quarantine::Column::ChannelId.eq(channel_id))
            .all(&self.db)
            .await
    }

    /// Take (or renew) the polling lease if it is free, expired or already ours.
    pub async fn acquire_lease(
        &self,
        channel_id: &str,
        owner: &str,
        ttl_ms: i64,
    ) -> Result<bool, DbErr> {
        let now_ms = now().timestamp_millis();
        let res = channel::Entity::update_many()
            .col_expr(channel::Column::LeaseOwner, Expr::value(owner))
            .col_expr(channel::Column::LeaseUntilMs, Expr::value(now_ms + ttl_ms))
            .filter(channel::Column::Id.eq(channel_id))
            .filter(
                Condition::any()
                    .add(channel::Column::LeaseUntilMs.is_null())
                    .add(channel::Column::LeaseUntilMs.lt(now_ms))
                    .add(channel::Column::LeaseOwner.eq(owner)),
            )
            .exec(&self.db)
            .await?;
        Ok(res.rows_affected == 1)
    }

    /// Give the lease back and record the outcome of the poll.
    pub async fn finish_poll(
        &self,
        channel_id: &str,
        owner: &str,
        error: Option<(PollFailure, &str)>,
        next_poll_at_ms: i64,
    ) -> Result<(), DbErr> {
        let mut q = channel::Entity::update_many()
            .col_expr(
                channel::Column::LeaseOwner,
                Expr::value(Option::<String>::None),
            )
            .col_expr(
                channel::Column::LeaseUntilMs,
                Expr::value(Option::<i64>::None),
            )
            .col_expr(channel::Column::NextPollAtMs, Expr::value(next_poll_at_ms));
        q = match error {
            None => q
                .col_expr(channel::Column::LastSuccessAt, Expr::value(now()))
                .col_expr(
                    channel::Column::LastError,
                    Expr::value(Option::<String>::None),
                )
                .col_expr(
                    channel::Column::LastErrorKind,
                    Expr::value(Option::<String>::None),
                )
                .col_expr(channel::Column::ErrorCount, Expr::value(0i64)),
            Some((kind, e)) => q
                .col_expr(channel::Column::LastError, Expr::value(e))
                .col_expr(
                    channel::Column::LastErrorKind,
                    Expr::value(match kind {
                        PollFailure::Auth => "auth",
                        PollFailure::Other => "remote",
                    }),
                )
                .col_expr(
                    channel::Column::ErrorCount,
                    Expr::col(channel::Column::ErrorCount).add(1),
                ),
        };
        q.filter(channel::Column::Id.eq(channel_id))
            .filter(channel::Column::LeaseOwner.eq(owner))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    pub async fn channel(&self, id: &str) -> Result<Option<channel::Model>, DbErr> {
        channel::Entity::find_by_id(id.to_string())
            .one(&self.db)
            .await
    }

    pub async fn channel_statuses(
        &self,
        seller_id: Option<&str>,
    ) -> Result<Vec<ChannelStatus>, DbErr> {
        let mut q = channel::Entity::find();
        if let Some(s) = seller_id {
            q = q.filter(channel::Column::SellerId.eq(s));
        }
        let channels = q.all(&self.db).await?;
        let cursors = sync_cursor::Entity::find().all(&self.db).await?;
        let now = now();
        Ok(channels
            .into_iter()
            .map(|c| ChannelStatus {
                watermark: cursors
                    .iter()
                    .find(|k| k.channel_id == c.id)
                    .map(|k| ms_to_utc(k.watermark_ms)),
                lag_seconds: c.last_success_at.map(|t| (now - t).num_seconds()),
                next_poll_at: ms_to_utc(c.next_poll_at_ms),
                id: c.id,
                seller_id: c.seller_id,
                kind: c.kind,
                state: match (c.last_error_kind.as_deref(), &c.last_error) {
                    (Some("auth"), _) => "auth_failed",
                    (_, Some(_)) => "failing",
                    _ if c.last_success_at.is_none() => "never_synced",
                    _ => "ok",
                },
                last_success_at: c.last_success_at,
                last_error: c.last_error,
                error_count: c.error_count,
                orders_synced: c.orders_synced,
                lease_owner: c.lease_owner,
            })
            .collect())
    }
}

/// Move the cursor forward only (never back), inside the caller's transaction.
async fn advance_cursor<C: ConnectionTrait>(
    db: &C,
    channel_id: &str,
    to_ms: i64,
) -> Result<(), DbErr> {
    let am = sync_cursor::ActiveModel {
        channel_id: Set(channel_id.into()),
        watermark_ms: Set(to_ms),
        updated_at: Set(now()),
    };
    sync_cursor::Entity::insert(am)
        .on_conflict(
            OnConflict::column(sync_cursor::Column::ChannelId)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    sync_cursor::Entity::update_many()
        .col_expr(sync_cursor::Column::WatermarkMs, Expr::value(to_ms))
        .col_expr(sync_cursor::Column::UpdatedAt, Expr::value(now()))
        .filter(sync_cursor::Column::ChannelId.eq(channel_id))
        .filter(sync_cursor::Column::WatermarkMs.lt(to_ms))
        .exec(db)
        .await?;
    Ok(())
}
