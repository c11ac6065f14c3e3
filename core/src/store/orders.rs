//! Orders: the idempotent upsert (invariant 1) and the read side.

use super::entities::{order, order_line};
use super::{now, Store};
use crate::{Address, Currency, Customer, Order, OrderLine, OrderStatus};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect,
};
use serde::Serialize;
use std::str::FromStr;

/// What an upsert did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpsertOutcome {
    Inserted(i64),
    Updated(i64),
    /// The stored version is as new or newer: nothing written.
    Unchanged(i64),
}

impl UpsertOutcome {
    pub fn id(self) -> i64 {
        match self {
            Self::Inserted(id) | Self::Updated(id) | Self::Unchanged(id) => id,
        }
    }
}

fn to_json<T: Serialize>(v: &Option<T>) -> Option<String> {
    v.as_ref().and_then(|v| serde_json::to_string(v).ok())
}

/// Insert the order, or update it if `o.updated_at` is newer than what is
/// stored. Safe under concurrency on both backends: the insert is
/// `ON CONFLICT DO NOTHING`, the update is guarded by the version it read.
pub async fn upsert_order<C: ConnectionTrait>(
    db: &C,
    seller_id: &str,
    channel_id: &str,
    o: &Order,
) -> Result<UpsertOutcome, DbErr> {
    let version = o.updated_at.timestamp_millis();
    loop {
        let existing = order::Entity::find()
            .filter(order::Column::ChannelId.eq(channel_id))
            .filter(order::Column::ExternalId.eq(o.external_id.as_str()))
            .one(db)
            .await?;
        match existing {
            None => {
                let am = order::ActiveModel {
                    seller_id: Set(seller_id.to_string()),
                    channel_id: Set(channel_id.to_string()),
                    channel_kind: Set(o.channel.clone()),
                    external_id: Set(o.external_id.clone()),
                    status: Set(o.status.as_str().into()),
                    channel_status: Set(o.status.as_str().into()),
                    created_at: Set(now()),
                    ..fields(o, version)
                };
                let res = order::Entity::insert(am)
                    .on_conflict_do_nothing_on([
                        order::Column::ChannelId,
                        order::Column::ExternalId,
                    ])
                    .exec(db)
                    .await;
                match res {
                    Ok(sea_orm::TryInsertResult::Inserted(r)) => {
                        let id = r.last_insert_id;
                        write_lines(db, id, &o.lines).await?;
                        return Ok(UpsertOutcome::Inserted(id));
                    }
                    // Someone else inserted it between our read and our write: read again.
                    Ok(_) | Err(DbErr::RecordNotInserted) => continue,
                    Err(e) => return Err(e),
                }
            }
            Some(cur) if cur.source_version >= version => {
                return Ok(UpsertOutcome::Unchanged(cur.id))
            }
            Some(cur) => {
                let current: OrderStatus = cur.status.parse().unwrap_or(OrderStatus::Exception);
                let merged = current.merge_from_channel(o.status);
                let am = order::ActiveModel {
                    status: Set(merged.as_str().into()),
                    channel_status: Set(o.status.as_str().into()),
                    ..fields(o, version)
                };
                let res = order::Entity::update_many()
                    .set(am)
                    .filter(order::Column::Id.eq(cur.id))
                    .filter(order::Column::SourceVersion.eq(cur.source_version))
                    // The status was merged from the one read: if a job moved
                    // it meanwhile (delivered, say), merge again.
                    .filter(order::Column::Status.eq(cur.status.as_str()))
                    .exec(db)
                    .await?;
                if res.rows_affected == 0 {
                    continue; // a concurrent writer moved it; compare again
                }
                order_line::Entity::delete_many()
                    .filter(order_line::Column::OrderId.eq(cur.id))
                    .exec(db)
                    .await?;
                write_lines(db, cur.id, &o.lines).await?;
                return Ok(UpsertOutcome::Updated(cur.id));
            }
        }
    }
}

/// The columns that come from the channel's copy of the order.
fn fields(o: &Order, version: i64) -> order::ActiveModel {
    order::ActiveModel {
        number: Set(o.number.clone()),
        payment_status: Set(o.payment_status.as_str().into()),
        fulfillment_status: Set(o.fulfillment_status.as_str().into()),
        placed_at: Set(o.placed_at),
        updated_at: Set(o.updated_at),
        source_version: Set(version),
        currency: Set(o.currency.as_str().into()),
        subtotal: Set(o.subtotal.to_string()),
        shipping_total: Set(o.shipping_total.to_string()),
        tax_total: Set(o.tax_total.to_string()),
        discount_total: Set(o.discount_total.to_string()),
        total: Set(o.total.to_string()),
        customer_name: Set(o.customer.as_ref().and_then(|c| c.name.clone())),
        customer_email: Set(o.customer.as_ref().and_then(|c| c.email.clone())),
        customer: Set(to_json(&o.customer)),
        ship_to: Set(to_json(&o.ship_to)),
        bill_to: Set(to_json(&o.bill_to)),
        shipping_method: Set(o.shipping_method.clone()),
        synced_at: Set(now()),
        ..Default::default()
    }
}

async fn write_lines<C: ConnectionTrait>(
    db: &C,
    order_id: i64,
    lines: &[OrderLine],
) -> Result<(), DbErr> {
    if lines.is_empty() {
        return Ok(());
    }
    let rows = lines
        .iter()
        .enumerate()
        .map(|(i, l)| order_line::ActiveModel {
            order_id: Set(order_id),
            line_no: Set(i as i32 + 1),
            external_id: Set(l.external_id.clone()),
            sku: Set(l.sku.clone()),
            title: Set(l.title.clone()),
            quantity: Set(l.quantity as i32),
            unit_price: Set(l.unit_price.to_string()),
            tax: Set(l.tax.to_string()),
            discount: Set(l.discount.to_string()),
            total: Set(l.total.to_string()),
            grams: Set(l.grams.map(|g| g as i32)),
            ..Default::default()
        });
    order_line::Entity::insert_many(rows).exec(db).await?;
    Ok(())
}

/// Filters for listing orders.
#[derive(Debug, Clone, Default)]
pub struct OrderFilter {
    pub seller_id: Option<String>,
    pub channel_id: Option<String>,
    pub status: Option<OrderStatus>,
    /// Return orders with id greater than this (cursor pagination).
    pub after_id: Option<i64>,
    pub limit: u64,
}

/// An order as stored, with its lines.
#[derive(Debug, Clone, Serialize)]
pub struct StoredOrder {
    pub id: i64,
    pub seller_id: String,
    pub channel_id: String,
    pub exception_reason: Option<String>,
    pub synced_at: DateTime<Utc>,
    #[serde(flatten)]
    pub order: Order,
}

fn parse_json<T: serde::de::DeserializeOwned>(s: &Option<String>) -> Option<T> {
    s.as_deref().and_then(|s| serde_json::from_str(s).ok())
}

fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap_or_default()
}

impl StoredOrder {
    fn from_rows(m: order::Model, lines: Vec<order_line::Model>) -> StoredOrder {
        let order = Order {
            channel: m.channel_kind.clone(),
            external_id: m.external_id.clone(),
            number: m.number.clone(),
            status: m.status.parse().unwrap_or(OrderStatus::Exception),
            payment_status: m
                .payment_status
                .parse()
                .unwrap_or(crate::PaymentStatus::Unknown),
            fulfillment_status: m
                .fulfillment_status
                .parse()
                .unwrap_or(crate::FulfillmentStatus::Unknown),
            placed_at: m.placed_at,
            updated_at: m.updated_at,
            currency: Currency::from_str(&m.currency)
                .unwrap_or_else(|_| Currency::from_str("XXX").expect("XXX is ISO 4217")),
            subtotal: dec(&m.subtotal),
            shipping_total: dec(&m.shipping_total),
            tax_total: dec(&m.tax_total),
            discount_total: dec(&m.discount_total),
            total: dec(&m.total),
            customer: parse_json::<Customer>(&m.customer),
            ship_to: parse_json::<Address>(&m.ship_to),
            bill_to: parse_json::<Address>(&m.bill_to),
            shipping_method: m.shipping_method.clone(),
            lines: lines
                .into_iter()
                .map(|l| OrderLine {
                    external_id: l.external_id,
                    sku: l.sku,
                    title: l.title,
                    quantity: l.quantity.max(0) as u32,
                    unit_price: dec(&l.unit_price),
                    tax: dec(&l.tax),
                    discount: dec(&l.discount),
                    total: dec(&l.total),
                    grams: l.grams.map(|g| g.max(0) as u32),
                })
                .collect(),
        };
        StoredOrder {
            id: m.id,
            seller_id: m.seller_id,
            channel_id: m.channel_id,
            exception_reason: m.exception_reason,
            synced_at: m.synced_at,
            order,
        }
    }
}

impl Store {
    pub async fn upsert_order(
        &self,
        seller_id: &str,
        channel_id: &str,
        o: &Order,
    ) -> Result<UpsertOutcome, DbErr> {
        let tx = self.begin_write().await?;
        let out = upsert_order(&tx, seller_id, channel_id, o).await?;
        tx.commit().await?;
        Ok(out)
    }

    pub async fn list_orders(&self, f: &OrderFilter) -> Result<Vec<order::Model>, DbErr> {
        let mut q = order::Entity::find().order_by_asc(order::Column::Id);
        if let Some(s) = &f.seller_id {
            q = q.filter(order::Column::SellerId.eq(s.as_str()));
        }
        if let Some(c) = &f.channel_id {
            q = q.filter(order::Column::ChannelId.eq(c.as_str()));
        }
        if let Some(st) = f.status {
            q = q.filter(order::Column::Status.eq(st.as_str()));
        }
        if let Some(after) = f.after_id {
            q = q.filter(order::Column::Id.gt(after));
        }
        q.limit(f.limit.clamp(1, 1000)).all(&self.db).await
    }

    pub async fn get_order(&self, id: i64) -> Result<Option<StoredOrder>, DbErr> {
        let Some(m) = order::Entity::find_by_id(id).one(&self.db).await? else {
            return Ok(None);
        };
        let lines = order_line::Entity::find()
            .filter(order_line::Column::OrderId.eq(id))
            .order_by_asc(order_line::Column::LineNo)
            .all(&self.db)
            .await?;
        Ok(Some(StoredOrder::from_rows(m, lines)))
    }

    pub async fn find_order(
        &self,
        channel_id: &str,
        external_id: &str,
    ) -> Result<Option<StoredOrder>, DbErr> {
        let found = order::Entity::find()
            .filter(order::Column::ChannelId.eq(channel_id))
            .filter(order::Column::ExternalId.eq(external_id))
            .select_only()
            .column(order::Column::Id)
            .into_tuple::<i64>()
            .one(&self.db)
            .await?;
        match found {
            Some(id) => self.get_order(id).await,
            None => Ok(None),
        }
    }

    pub async fn count_orders(&self, channel_id: Option<&str>) -> Result<u64, DbErr> {
        let mut q = order::Entity::find();
        if let Some(c) = channel_id {
            q = q.filter(order::Column::ChannelId.eq(c));
        }
        q.count(&self.db).await
    }

    pub async fn count_orders_in(&self, status: OrderStatus) -> Result<u64, DbErr> {
        order::Entity::find()
            .filter(order::Column::Status.eq(status.as_str()))
            .count(&self.db)
            .await
    }

    /// Move an order between statuses only along a declared transition, and
    /// only if it is still in `from` (a guarded `UPDATE … WHERE status = from`).
    pub async fn transition_order<C: ConnectionTrait>(
        db: &C,
        id: i64,
        from: OrderStatus,
        to: OrderStatus,
        reason: Option<&str>,
    ) -> Result<bool, DbErr> {
        if !from.can_become(to) {
            return Err(DbErr::Custom(format!(
                "transition {from} → {to} is not declared"
            )));
        }
        let res = order::Entity::update_many()
            .col_expr(order::Column::Status, Expr::value(to.as_str()))
            .col_expr(
                order::Column::ExceptionReason,
                Expr::value(reason.map(str::to_string)),
            )
            .filter(order::Column::Id.eq(id))
            .filter(order::Column::Status.eq(from.as_str()))
            .exec(db)
            .await?;
        Ok(res.rows_affected == 1)
    }
}
