//! Orders: the idempotent upsert (invariant 1) and the read side.

use super::entities::{order, order_line, shipment};
use super::{events, now, Store};
use crate::{
    Address, Currency, Customer, FulfillmentStatus, Order, OrderLine, OrderStatus, PaymentStatus,
};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sea_orm::sea_query::{Expr, Func, LikeExpr, Query, SimpleExpr};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect,
};
use serde::Serialize;
use std::collections::HashMap;
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
                        events::record(
                            db,
                            id,
                            events::EVENT_SYNCED,
                            events::ACTOR_CHANNEL,
                            serde_json::json!({
                                "channel_id": channel_id,
                                "external_id": o.external_id,
                                "number": o.number,
                                "status": o.status.as_str(),
                                "channel_updated_at": o.updated_at,
                            }),
                        )
                        .await?;
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
                let mut recorded = vec![(
                    events::EVENT_UPDATED,
                    events::ACTOR_CHANNEL,
                    serde_json::json!({
                        "channel_status": o.status.as_str(),
                        "payment_status": o.payment_status.as_str(),
                        "fulfillment_status": o.fulfillment_status.as_str(),
                        "total": o.total.to_string(),
                        "channel_updated_at": o.updated_at,
                    }),
                )];
                if merged != current {
                    recorded.push((
                        events::EVENT_STATUS_CHANGED,
                        events::ACTOR_CHANNEL,
                        serde_json::json!({
                            "from": current.as_str(),
                            "to": merged.as_str(),
                            "reason": "the channel's update",
                        }),
                    ));
                }
                events::record_many(db, cur.id, &recorded).await?;
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

/// Filters for listing orders. Every field narrows the list; `sort` and
/// `cursor` (or the older `after_id`, for `sort = id`) page through it.
#[derive(Debug, Clone, Default)]
pub struct OrderFilter {
    pub seller_id: Option<String>,
    pub channel_id: Option<String>,
    pub status: Option<OrderStatus>,
    pub payment_status: Option<PaymentStatus>,
    pub fulfillment_status: Option<FulfillmentStatus>,
    /// Placed at or after this time.
    pub placed_from: Option<DateTime<Utc>>,
    /// Placed strictly before this time.
    pub placed_to: Option<DateTime<Utc>>,
    /// Orders with a shipment from this warehouse (`shipments.warehouse_id`).
    pub warehouse: Option<String>,
    /// Case-insensitive substring of the order number, external id, customer
    /// name or email, or of a line's sku. `%`, `_` and `\` are literal.
    pub q: Option<String>,
    pub sort: OrderSort,
    /// Continue after this row (keyset pagination under `sort`).
    pub cursor: Option<OrderCursor>,
    /// Return orders with id greater than this (the older pagination, by id).
    pub after_id: Option<i64>,
    pub limit: u64,
}

/// The order of a list. Ties (and every page boundary) are broken by
/// ascending id, so keyset pages are stable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OrderSort {
    #[default]
    Id,
    PlacedAt,
    PlacedAtDesc,
    Total,
    TotalDesc,
}

impl OrderSort {
    pub const ALL: [OrderSort; 5] = [
        OrderSort::Id,
        OrderSort::PlacedAt,
        OrderSort::PlacedAtDesc,
        OrderSort::Total,
        OrderSort::TotalDesc,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Id => "id",
            Self::PlacedAt => "placed_at",
            Self::PlacedAtDesc => "-placed_at",
            Self::Total => "total",
            Self::TotalDesc => "-total",
        }
    }
}

impl std::fmt::Display for OrderSort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for OrderSort {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        OrderSort::ALL
            .into_iter()
            .find(|o| o.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<_> = OrderSort::ALL.iter().map(|o| o.as_str()).collect();
                format!("unknown sort `{s}` (one of {})", names.join(", "))
            })
    }
}

/// Where a page ended: the last row's sort key and id. Travels as an opaque
/// URL-safe string (unpadded base64url of a small JSON object) that names
/// the sort it was made for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderCursor {
    pub sort: OrderSort,
    /// For the `placed_at` sorts.
    pub placed_at: Option<DateTime<Utc>>,
    /// For the `total` sorts.
    pub total: Option<Decimal>,
    pub id: i64,
}

#[derive(Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct CursorWire {
    s: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    k: Option<String>,
    i: i64,
}

impl OrderCursor {
    /// The cursor that continues after `m` under `sort`.
    pub fn after(sort: OrderSort, m: &order::Model) -> OrderCursor {
        OrderCursor {
            sort,
            placed_at: matches!(sort, OrderSort::PlacedAt | OrderSort::PlacedAtDesc)
                .then_some(m.placed_at),
            total: matches!(sort, OrderSort::Total | OrderSort::TotalDesc).then(|| dec(&m.total)),
            id: m.id,
        }
    }

    pub fn encode(&self) -> String {
        let k = match self.sort {
            OrderSort::Id => None,
            OrderSort::PlacedAt | OrderSort::PlacedAtDesc => self
                .placed_at
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)),
            OrderSort::Total | OrderSort::TotalDesc => self.total.map(|t| t.to_string()),
        };
        let wire = CursorWire {
            s: self.sort.as_str().into(),
            k,
            i: self.id,
        };
        b64url_encode(serde_json::to_string(&wire).unwrap_or_default().as_bytes())
    }

    /// Read a cursor made for `sort`. Anything else (garbage, a tampered
    /// key, a cursor of another sort) is an error message for the caller.
    pub fn decode(text: &str, sort: OrderSort) -> Result<OrderCursor, String> {
        let bad = || "cursor is not a cursor this server issued".to_string();
        if text.is_empty() || text.len() > 512 {
            return Err(bad());
        }
        let bytes = b64url_decode(text).ok_or_else(bad)?;
        let wire: CursorWire = serde_json::from_slice(&bytes).map_err(|_| bad())?;
        let made_for: OrderSort = wire.s.parse().map_err(|_| bad())?;
        if made_for != sort {
            return Err(format!(
                "cursor was made for sort `{made_for}`, not `{sort}`"
            ));
        }
        let mut c = OrderCursor {
            sort,
            placed_at: None,
            total: None,
            id: wire.i,
        };
        match (sort, wire.k) {
            (OrderSort::Id, None) => {}
            (OrderSort::PlacedAt | OrderSort::PlacedAtDesc, Some(k)) => {
                c.placed_at = Some(
                    DateTime::parse_from_rfc3339(&k)
                        .map_err(|_| bad())?
                        .with_timezone(&Utc),
                );
            }
            (OrderSort::Total | OrderSort::TotalDesc, Some(k)) => {
                // Only plain decimals, as the store writes them.
                if k.is_empty()
                    || k.len() > 40
                    || !k
                        .bytes()
                        .all(|b| b.is_ascii_digit() || b == b'.' || b == b'-')
                {
                    return Err(bad());
                }
                c.total = Some(Decimal::from_str(&k).map_err(|_| bad())?);
            }
            _ => return Err(bad()),
        }
        Ok(c)
    }
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Unpadded base64url (RFC 4648 §5).
fn b64url_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | (b as u32) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(B64[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

fn b64url_decode(text: &str) -> Option<Vec<u8>> {
    if text.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    for chunk in text.as_bytes().chunks(4) {
        let mut n = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            let v = B64.iter().position(|&b| b == c)? as u32;
            n |= v << (18 - 6 * i);
        }
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        let keep = chunk.len() - 1;
        // Bits past the last whole byte must be zero (one text per value).
        if keep < 3 && bytes[keep] != 0 {
            return None;
        }
        out.extend_from_slice(&bytes[..keep]);
    }
    Some(out)
}

/// A page of orders and, when more follow, the cursor of the next page.
#[derive(Debug, Clone)]
pub struct OrderPage {
    pub rows: Vec<order::Model>,
    pub next_cursor: Option<OrderCursor>,
}

/// `text` as a LIKE pattern matching it anywhere, lower-cased, with the
/// wildcards `%` and `_` and the escape `\` taken literally (`ESCAPE '\'`).
fn like_contains(text: &str) -> String {
    let mut p = String::with_capacity(text.len() + 2);
    p.push('%');
    for c in text.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
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
                    barcode: None,
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
        super::sync::store_channel_barcodes(&tx, seller_id, [o]).await?;
        tx.commit().await?;
        Ok(out)
    }

    /// One page of orders: the filter, sort and cursor of `f`, at most
    /// `f.limit` rows (1 to 1000).
    pub async fn list_orders(&self, f: &OrderFilter) -> Result<Vec<order::Model>, DbErr> {
        filtered(f)
            .limit(f.limit.clamp(1, 1000))
            .all(&self.db)
            .await
    }

    /// Like [`Store::list_orders`], and whether more follow: one query that
    /// reads one row past the page.
    pub async fn order_page(&self, f: &OrderFilter) -> Result<OrderPage, DbErr> {
        let limit = f.limit.clamp(1, 1000);
        let mut rows = filtered(f).limit(limit + 1).all(&self.db).await?;
        let next_cursor = if rows.len() as u64 > limit {
            rows.truncate(limit as usize);
            rows.last().map(|m| OrderCursor::after(f.sort, m))
        } else {
            None
        };
        Ok(OrderPage { rows, next_cursor })
    }

    /// The skus of these orders' lines, in line order (`None` for a line
    /// without sku), in one query. Orders without lines are absent.
    pub async fn order_line_skus(
        &self,
        order_ids: &[i64],
    ) -> Result<HashMap<i64, Vec<Option<String>>>, DbErr> {
        let mut out: HashMap<i64, Vec<Option<String>>> = HashMap::new();
        if order_ids.is_empty() {
            return Ok(out);
        }
        let rows: Vec<(i64, Option<String>)> = order_line::Entity::find()
            .select_only()
            .column(order_line::Column::OrderId)
            .column(order_line::Column::Sku)
            .filter(order_line::Column::OrderId.is_in(order_ids.iter().copied()))
            .order_by_asc(order_line::Column::OrderId)
            .order_by_asc(order_line::Column::LineNo)
            .into_tuple()
            .all(&self.db)
            .await?;
        for (id, sku) in rows {
            out.entry(id).or_default().push(sku);
        }
        Ok(out)
    }

    /// The seller an order belongs to (`None`: no such order).
    pub async fn order_seller(&self, id: i64) -> Result<Option<String>, DbErr> {
        use sea_orm::QuerySelect;
        order::Entity::find_by_id(id)
            .select_only()
            .column(order::Column::SellerId)
            .into_tuple::<String>()
            .one(&self.db)
            .await
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
        Store::transition_order_by(db, id, from, to, reason, reason, events::ACTOR_SYSTEM).await
    }

    /// A person moves an order to another status through the same declared,
    /// guarded transition the jobs use; the timeline names them
    /// (`staff:<author>`). Cancelling this way lets the usual cancellation
    /// steps follow (no label is bought for a cancelled order; a bought label
    /// not yet picked up is voided by the scheduler's sweep).
    pub async fn change_status_by_staff(
        &self,
        id: i64,
        to: OrderStatus,
        author: &str,
        reason: Option<&str>,
    ) -> Result<Result<(OrderStatus, OrderStatus), StatusRefusal>, DbErr> {
        let reason_text = reason.unwrap_or("-");
        if let Err(e) = events::check_note(author, reason_text) {
            return Ok(Err(StatusRefusal::Invalid(e.replace("text", "reason"))));
        }
        let Some(current) = order::Entity::find_by_id(id).one(&self.db).await? else {
            return Ok(Err(StatusRefusal::NotFound));
        };
        let Ok(from) = current.status.parse::<OrderStatus>() else {
            return Err(DbErr::Custom(format!(
                "order {id} has status {}",
                current.status
            )));
        };
        if from == to {
            return Ok(Err(StatusRefusal::Unchanged(from)));
        }
        if !from.can_become(to) {
            return Ok(Err(StatusRefusal::NotDeclared { from, to }));
        }
        let actor = format!("staff:{}", author.trim());
        let tx = self.begin_write().await?;
        // A reason is kept as the order's exception reason only for `exception`.
        let kept = if to == OrderStatus::Exception {
            reason
        } else {
            None
        };
        // The reason of any other change is on the timeline entry only.
        if !Store::transition_order_by(&tx, id, from, to, kept, reason, &actor).await? {
            tx.rollback().await?;
            return Ok(Err(StatusRefusal::Moved));
        }
        tx.commit().await?;
        Ok(Ok((from, to)))
    }

    /// `reason` is stored as the order's exception reason; `event_reason`
    /// goes on the timeline entry.
    async fn transition_order_by<C: ConnectionTrait>(
        db: &C,
        id: i64,
        from: OrderStatus,
        to: OrderStatus,
        reason: Option<&str>,
        event_reason: Option<&str>,
        actor: &str,
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
        if res.rows_affected != 1 {
            return Ok(false);
        }
        events::record(
            db,
            id,
            events::EVENT_STATUS_CHANGED,
            actor,
            serde_json::json!({ "from": from.as_str(), "to": to.as_str(), "reason": event_reason }),
        )
        .await?;
        Ok(true)
    }
}

/// Why a manual status change was not made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatusRefusal {
    NotFound,
    /// The author or reason is empty, too long or has control characters.
    Invalid(String),
    /// The order already has that status.
    Unchanged(OrderStatus),
    /// The model does not declare this transition (e.g. delivered → awaiting).
    NotDeclared {
        from: OrderStatus,
        to: OrderStatus,
    },
    /// The order moved while the change was being made; read it again.
    Moved,
}

/// `orders.total` as a number. Money is stored as decimal text; the cast
/// (exact NUMERIC on PostgreSQL, REAL or INTEGER on SQLite) orders it
/// numerically on both backends.
fn total_expr() -> SimpleExpr {
    Func::cast_as(Expr::col((order::Entity, order::Column::Total)), "NUMERIC").into()
}

fn total_value(d: Decimal) -> SimpleExpr {
    Func::cast_as(Expr::val(d.to_string()), "NUMERIC").into()
}

/// The query of a list: filters, the keyset condition and the order.
fn filtered(f: &OrderFilter) -> sea_orm::Select<order::Entity> {
    use sea_orm::sea_query::ExprTrait;
    let mut q = order::Entity::find();
    if let Some(s) = &f.seller_id {
        q = q.filter(order::Column::SellerId.eq(s.as_str()));
    }
    if let Some(c) = &f.channel_id {
        q = q.filter(order::Column::ChannelId.eq(c.as_str()));
    }
    if let Some(st) = f.status {
        q = q.filter(order::Column::Status.eq(st.as_str()));
    }
    if let Some(p) = f.payment_status {
        q = q.filter(order::Column::PaymentStatus.eq(p.as_str()));
    }
    if let Some(p) = f.fulfillment_status {
        q = q.filter(order::Column::FulfillmentStatus.eq(p.as_str()));
    }
    if let Some(t) = f.placed_from {
        q = q.filter(order::Column::PlacedAt.gte(t));
    }
    if let Some(t) = f.placed_to {
        q = q.filter(order::Column::PlacedAt.lt(t));
    }
    if let Some(w) = &f.warehouse {
        q = q.filter(Expr::exists(
            Query::select()
                .expr(Expr::val(1))
                .from(shipment::Entity)
                .and_where(
                    Expr::col((shipment::Entity, shipment::Column::OrderId))
                        .equals((order::Entity, order::Column::Id)),
                )
                .and_where(
                    Expr::col((shipment::Entity, shipment::Column::WarehouseId)).eq(w.as_str()),
                )
                .to_owned(),
        ));
    }
    if let Some(text) = f.q.as_deref().filter(|t| !t.is_empty()) {
        let pattern = like_contains(text);
        let like = |col: SimpleExpr| -> SimpleExpr {
            SimpleExpr::from(Func::lower(col)).like(LikeExpr::new(pattern.clone()).escape('\\'))
        };
        let sku = Expr::exists(
            Query::select()
                .expr(Expr::val(1))
                .from(order_line::Entity)
                .and_where(
                    Expr::col((order_line::Entity, order_line::Column::OrderId))
                        .equals((order::Entity, order::Column::Id)),
                )
                .and_where(like(Expr::col((
                    order_line::Entity,
                    order_line::Column::Sku,
                ))))
                .to_owned(),
        );
        q = q.filter(
            Condition::any()
                .add(like(Expr::col((order::Entity, order::Column::Number))))
                .add(like(Expr::col((order::Entity, order::Column::ExternalId))))
                .add(like(Expr::col((
                    order::Entity,
                    order::Column::CustomerName,
                ))))
                .add(like(Expr::col((
                    order::Entity,
                    order::Column::CustomerEmail,
                ))))
                .add(sku),
        );
    }
    let id = || Expr::col((order::Entity, order::Column::Id));
    if let Some(after) = f.after_id {
        q = q.filter(id().gt(after));
    }
    // The keyset condition: strictly after the cursor's (key, id) in the
    // list's order, ties broken by ascending id.
    if let Some(c) = &f.cursor {
        let cond: SimpleExpr = match (f.sort, c.placed_at, c.total) {
            // The leading `>=` / `<=` is implied by the OR; it is there so
            // PostgreSQL bounds the index scan with it (an OR alone is only a
            // filter, so page k read every row of pages 1..k).
            (OrderSort::PlacedAt, Some(t), _) => {
                let col = || Expr::col((order::Entity, order::Column::PlacedAt));
                col()
                    .gte(t)
                    .and(col().gt(t).or(col().eq(t).and(id().gt(c.id))))
            }
            (OrderSort::PlacedAtDesc, Some(t), _) => {
                let col = || Expr::col((order::Entity, order::Column::PlacedAt));
                col()
                    .lte(t)
                    .and(col().lt(t).or(col().eq(t).and(id().gt(c.id))))
            }
            (OrderSort::Total, _, Some(t)) => total_expr()
                .gt(total_value(t))
                .or(total_expr().eq(total_value(t)).and(id().gt(c.id))),
            (OrderSort::TotalDesc, _, Some(t)) => total_expr()
                .lt(total_value(t))
                .or(total_expr().eq(total_value(t)).and(id().gt(c.id))),
            // Sort by id, or a cursor without its key (never decoded so).
            _ => id().gt(c.id),
        };
        q = q.filter(cond);
    }
    q = match f.sort {
        OrderSort::Id => q,
        OrderSort::PlacedAt => q.order_by_asc(order::Column::PlacedAt),
        OrderSort::PlacedAtDesc => q.order_by_desc(order::Column::PlacedAt),
        OrderSort::Total => q.order_by(total_expr(), sea_orm::Order::Asc),
        OrderSort::TotalDesc => q.order_by(total_expr(), sea_orm::Order::Desc),
    };
    q.order_by_asc(order::Column::Id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64url_round_trips() {
        for len in 0..40 {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            let text = b64url_encode(&bytes);
            assert!(text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
            assert_eq!(b64url_decode(&text), Some(bytes));
        }
        assert_eq!(b64url_encode(b"hello"), "aGVsbG8");
        assert_eq!(b64url_decode("a"), None);
        assert_eq!(b64url_decode("aGVsbG8"), Some(b"hello".to_vec()));
        // Trailing bits set: not the one text of any value.
        assert_eq!(b64url_decode("aGVsbG9"), None);
        assert_eq!(b64url_decode("aGVsbG+"), None);
        assert_eq!(b64url_decode("aGVsbG9="), None);
    }

    #[test]
    fn cursors_round_trip_and_refuse_garbage() {
        let t = DateTime::parse_from_rfc3339("2025-03-04T05:06:07.123456Z")
            .unwrap()
            .with_timezone(&Utc);
        for c in [
            OrderCursor {
                sort: OrderSort::Id,
                placed_at: None,
                total: None,
                id: 7,
            },
            OrderCursor {
                sort: OrderSort::PlacedAtDesc,
                placed_at: Some(t),
                total: None,
                id: 8,
            },
            OrderCursor {
                sort: OrderSort::Total,
                placed_at: None,
                total: Some(Decimal::from_str("129.90").unwrap()),
                id: 9,
            },
        ] {
            let text = c.encode();
            assert_eq!(OrderCursor::decode(&text, c.sort), Ok(c.clone()));
            let other = if c.sort == OrderSort::Id {
                OrderSort::Total
            } else {
                OrderSort::Id
            };
            assert!(OrderCursor::decode(&text, other).is_err());
        }
        for junk in ["", "x", "%%%", "eyJzIjoiaWQifQ", "bnVsbA", &"A".repeat(600)] {
            assert!(OrderCursor::decode(junk, OrderSort::Id).is_err(), "{junk}");
        }
        let forged = b64url_encode(br#"{"s":"total","k":"1e9; DROP","i":1}"#);
        assert!(OrderCursor::decode(&forged, OrderSort::Total).is_err());
    }

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(like_contains("50%"), "%50\\%%");
        assert_eq!(like_contains("A_b\\"), "%a\\_b\\\\%");
    }
}
