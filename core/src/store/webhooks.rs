//! The webhook inbox: a delivery is stored before it is acknowledged, once.

use super::entities::webhook_inbox;
use super::{now, Store};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, DbErr, EntityTrait, QueryFilter};

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

    pub async fn webhook(&self, id: i64) -> Result<Option<webhook_inbox::Model>, DbErr> {
        webhook_inbox::Entity::find_by_id(id).one(&self.db).await
    }

    pub async fn mark_webhook_processed(&self, id: i64, error: Option<&str>) -> Result<(), DbErr> {
        webhook_inbox::Entity::update_many()
            .col_expr(webhook_inbox::Column::ProcessedAt, Expr::value(now()))
            .col_expr(
                webhook_inbox::Column::Error,
                Expr::value(error.map(str::to_string)),
            )
            .filter(webhook_inbox::Column::Id.eq(id))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// Channel deliveries stored but never applied (the process died between
    /// acknowledging and applying), received before `older_than`.
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
