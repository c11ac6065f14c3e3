//! The webhook inbox: a delivery is stored before it is acknowledged, once.

use super::entities::webhook_inbox;
use super::{now, Store, UpsertOutcome};
use crate::order::{Order, Quarantined};
use sea_orm::sea_query::{Expr, OnConflict, Query};
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};
use std::collections::HashMap;

/// One verified delivery for [`Store::insert_webhooks`].
#[derive(Debug, Clone, Copy)]
pub struct NewWebhook<'a> {
    /// `channel` or `carrier`.
    pub source: &'a str,
    pub source_id: &'a str,
    pub delivery_id: &'a str,
    pub topic: &'a str,
    pub body: &'a str,
}

/// What applying one stored channel delivery writes (see
/// [`Store::apply_webhooks`]).
pub enum WebhookEffect<'a> {
    /// Upsert the order it carries (newest wins).
    Upsert {
        seller_id: &'a str,
        channel_id: &'a str,
        order: &'a Order,
    },
    /// Quarantine the payload; the inbox row keeps the reason.
    Quarantine {
        channel_id: &'a str,
        quarantined: &'a Quarantined,
    },
    /// Nothing to write but the inbox row marked processed.
    Nothing,
}

/// Rows per INSERT statement (8 bound values each).
const INSERT_CHUNK: usize = 400;

impl Store {
    /// Store a verified delivery. `Ok(None)` when this delivery id was stored
    /// before (a replay): the caller acknowledges it and does nothing else.
    pub async fn insert_webhook(
        &self,
        source: &str,
        source_id: &str,
        delivery_id: &str,
        topic: &str,
        body: &str,
    ) -> Result<Option<i64>, DbErr> {
        let am = webhook_inbox::ActiveModel {
            source: Set(source.into()),
            source_id: Set(source_id.into()),
            delivery_id: Set(delivery_id.into()),
            topic: Set(topic.into()),
            body: Set(body.into()),
            received_at: Set(now()),
            processed_at: Set(None),
            error: Set(None),
            ..Default::default()
        };
        let res = webhook_inbox::Entity::insert(am)
            .on_conflict_do_nothing_on([
                webhook_inbox::Column::Source,
                webhook_inbox::Column::SourceId,
                webhook_inbox::Column::DeliveryId,
            ])
            .exec(&self.db)
            .await;
        match res {
            Ok(sea_orm::TryInsertResult::Inserted(r)) => Ok(Some(r.last_insert_id)),
            Ok(_) | Err(DbErr::RecordNotInserted) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Store verified deliveries in ONE write transaction (group commit).
    /// Answers, per delivery in `items` order, `Some(inbox id)` when it is
    /// new, `None` when its `(source, source_id, delivery_id)` was stored
    /// before, by an earlier transaction or earlier in `items` (the first
    /// occurrence wins). Nothing is stored when it fails.
    pub async fn insert_webhooks(
        &self,
        items: &[NewWebhook<'_>],
    ) -> Result<Vec<Option<i64>>, DbErr> {
        type Key<'k> = (&'k str, &'k str, &'k str);
        fn key<'k>(w: &NewWebhook<'k>) -> Key<'k> {
            (w.source, w.source_id, w.delivery_id)
        }
        // The first occurrence of each key, sorted by key: concurrent
        // batches (several processes on PostgreSQL) take the unique index's
        // locks in one order, so they do not deadlock each other.
        let mut first: HashMap<Key<'_>, usize> = HashMap::with_capacity(items.len());
        for (i, w) in items.iter().enumerate() {
            first.entry(key(w)).or_insert(i);
        }
        let mut unique: Vec<usize> = first.values().copied().collect();
        unique.sort_by_key(|&i| key(&items[i]));
        let mut stored: HashMap<(String, String, String), i64> =
            HashMap::with_capacity(unique.len());
        if !unique.is_empty() {
            let received = now();
            let tx = self.begin_write().await?;
            let backend = tx.get_database_backend();
            for chunk in unique.chunks(INSERT_CHUNK) {
                let mut q = Query::insert();
                q.into_table(webhook_inbox::Entity).columns([
                    webhook_inbox::Column::Source,
                    webhook_inbox::Column::SourceId,
                    webhook_inbox::Column::DeliveryId,
                    webhook_inbox::Column::Topic,
                    webhook_inbox::Column::Body,
                    webhook_inbox::Column::ReceivedAt,
                ]);
                for &i in chunk {
                    let w = &items[i];
                    q.values_panic([
                        w.source.into(),
                        w.source_id.into(),
                        w.delivery_id.into(),
                        w.topic.into(),
                        w.body.into(),
                        received.into(),
                    ]);
                }
                q.on_conflict(
                    OnConflict::columns([
                        webhook_inbox::Column::Source,
                        webhook_inbox::Column::SourceId,
                        webhook_inbox::Column::DeliveryId,
                    ])
                    .do_nothing()
                    .to_owned(),
                );
                q.returning(Query::returning().columns([
                    webhook_inbox::Column::Id,
                    webhook_inbox::Column::Source,
                    webhook_inbox::Column::SourceId,
                    webhook_inbox::Column::DeliveryId,
                ]));
                // Only the rows inserted come back; a conflict returns none.
                for row in tx.query_all_raw(backend.build(&q)).await? {
                    stored.insert(
                        (
                            row.try_get("", "source")?,
                            row.try_get("", "source_id")?,
                            row.try_get("", "delivery_id")?,
                        ),
                        row.try_get("", "id")?,
                    );
                }
            }
            tx.commit().await?;
        }
        Ok(items
            .iter()
            .enumerate()
            .map(|(i, w)| {
                let k = key(w);
                if first.get(&k) != Some(&i) {
                    return None;
                }
                stored
                    .get(&(k.0.to_string(), k.1.to_string(), k.2.to_string()))
                    .copied()
            })
            .collect())
    }

    /// Apply stored channel deliveries in ONE write transaction: each one's
    /// effect (an upsert, newest wins, or a quarantine), and every row
    /// marked processed. Answers each upsert's outcome, in `items` order.
    /// Nothing is written when it fails.
    pub async fn apply_webhooks(
        &self,
        items: &[(i64, WebhookEffect<'_>)],
    ) -> Result<Vec<Option<UpsertOutcome>>, DbErr> {
        let mut outcomes = Vec::with_capacity(items.len());
        let mut done = Vec::with_capacity(items.len());
        let tx = self.begin_write().await?;
        for (inbox_id, effect) in items {
            match effect {
                WebhookEffect::Upsert {
                    seller_id,
                    channel_id,
                    order,
                } => {
                    let out =
                        super::orders::upsert_order(&tx, seller_id, channel_id, order).await?;
                    // As `Store::upsert_order` does for a webhook order.
                    super::sync::store_channel_barcodes(&tx, seller_id, [*order]).await?;
                    outcomes.push(Some(out));
                    done.push(*inbox_id);
                }
                WebhookEffect::Quarantine {
                    channel_id,
                    quarantined,
                } => {
                    super::sync::quarantine(&tx, channel_id, "webhook", quarantined).await?;
                    mark_processed(&tx, &[*inbox_id], Some(&quarantined.reason)).await?;
                    outcomes.push(None);
                }
                WebhookEffect::Nothing => {
                    outcomes.push(None);
                    done.push(*inbox_id);
                }
            }
        }
        for chunk in done.chunks(INSERT_CHUNK) {
            mark_processed(&tx, chunk, None).await?;
        }
        tx.commit().await?;
        Ok(outcomes)
    }

    /// Stored deliveries by id, those not applied yet.
    pub async fn unapplied_webhooks_by_id(
        &self,
        ids: &[i64],
    ) -> Result<Vec<webhook_inbox::Model>, DbErr> {
        webhook_inbox::Entity::find()
            .filter(webhook_inbox::Column::Id.is_in(ids.iter().copied()))
            .filter(webhook_inbox::Column::ProcessedAt.is_null())
            .all(&self.db)
            .await
    }

    pub async fn webhook(&self, id: i64) -> Result<Option<webhook_inbox::Model>, DbErr> {
        webhook_inbox::Entity::find_by_id(id).one(&self.db).await
    }

    pub async fn mark_webhook_processed(&self, id: i64, error: Option<&str>) -> Result<(), DbErr> {
        mark_processed(&self.db, &[id], error).await
    }

    /// Deliveries from `source` (`channel` or `carrier`) stored before
    /// `older_than` and never applied.
    pub async fn unapplied_webhooks(
        &self,
        source: &str,
        older_than: chrono::DateTime<chrono::Utc>,
        limit: u64,
    ) -> Result<Vec<webhook_inbox::Model>, DbErr> {
        use sea_orm::{QueryOrder, QuerySelect};
        webhook_inbox::Entity::find()
            .filter(webhook_inbox::Column::Source.eq(source))
            .filter(webhook_inbox::Column::ProcessedAt.is_null())
            .filter(webhook_inbox::Column::ReceivedAt.lt(older_than))
            .order_by_asc(webhook_inbox::Column::Id)
            .limit(limit)
            .all(&self.db)
            .await
    }

    pub async fn count_webhooks(&self, source: &str, source_id: &str) -> Result<u64, DbErr> {
        use sea_orm::PaginatorTrait;
        webhook_inbox::Entity::find()
            .filter(webhook_inbox::Column::Source.eq(source))
            .filter(webhook_inbox::Column::SourceId.eq(source_id))
            .count(&self.db)
            .await
    }
}

async fn mark_processed<C: ConnectionTrait>(
    db: &C,
    ids: &[i64],
    error: Option<&str>,
) -> Result<(), DbErr> {
    webhook_inbox::Entity::update_many()
        .col_expr(webhook_inbox::Column::ProcessedAt, Expr::value(now()))
        .col_expr(
            webhook_inbox::Column::Error,
            Expr::value(error.map(str::to_string)),
        )
        .filter(webhook_inbox::Column::Id.is_in(ids.iter().copied()))
        .exec(db)
        .await?;
    Ok(())
}
