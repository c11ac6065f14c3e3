//! The public tracking page's data and delivery problems.
//!
//! Each shipment with a label gets one unguessable token (`shipments.tracking_token`,
//! unique), assigned once by a guarded update (`… WHERE tracking_token IS NULL`),
//! so concurrent first uses agree on one token. The page shows only what
//! [`TrackingPage`] holds: never the customer, the addresses or the money.
//!
//! Delivery problems: a shipment with a label, not delivered, whose tracking has
//! not moved for too long or whose promised date has passed, puts its order in
//! `exception` once (`shipments.problem_raised_at` marks it).

use super::entities::{order, shipment, tracking_event};
use super::{events, now, Store, SHIPMENT_LABEL_BOUGHT};
use crate::order::OrderStatus;
use crate::tracking::TrackingStatus;
use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder};
use serde::Serialize;

const TOKEN_COL: &str = "tracking_token";
const PROBLEM_COL: &str = "problem_raised_at";

/// One tracking step as the public page shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PublicTrackingEvent {
    pub at: DateTime<Utc>,
    pub status: String,
    pub location: Option<String>,
}

/// Everything the public tracking page may show, and nothing else.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TrackingPage {
    pub seller: String,
    pub order_number: String,
    pub status: String,
    pub carrier: Option<String>,
    pub service: Option<String>,
    pub tracking_code: Option<String>,
    pub tracking_url: Option<String>,
    /// Filled by the caller from the shipping settings.
    pub promised_delivery: Option<NaiveDate>,
    /// The chosen rate's estimate, if the carrier quoted one.
    pub estimated_delivery: Option<NaiveDate>,
    pub events: Vec<PublicTrackingEvent>,
    /// For the promised date (not shown as such).
    #[serde(skip)]
    pub placed_at: DateTime<Utc>,
    #[serde(skip)]
    pub shipping_method: Option<String>,
}

/// A shipment the delivery-problem sweep looks at.
#[derive(Debug, Clone)]
pub struct DeliveryWatch {
    pub shipment_id: i64,
    pub order_id: i64,
    pub order_status: String,
    pub placed_at: DateTime<Utc>,
    pub shipping_method: Option<String>,
    /// The last time tracking moved, or the label's purchase.
    pub last_progress_at: DateTime<Utc>,
}

/// `problem` in the detail of the exception a delivery problem raises.
pub const DELIVERY_PROBLEM: &str = "delivery";

/// A well-formed token: 64 lowercase hex characters.
pub fn is_tracking_token(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// A carrier's location text without postal codes (a delivery scan's
/// location is often the buyer's own ZIP): words holding a digit are left out.
pub fn public_location(s: &str) -> Option<String> {
    let parts: Vec<String> = s
        .split(',')
        .map(|p| {
            p.split_whitespace()
                .filter(|w| !w.chars().any(|c| c.is_ascii_digit()))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .filter(|p| !p.is_empty())
        .collect();
    (!parts.is_empty()).then(|| parts.join(", "))
}

impl Store {
    /// The shipment's page token, assigning `candidate` if it has none yet and
    /// has a label. `None` for a shipment without a label (or unknown).
    pub async fn tracking_token(
        &self,
        shipment_id: i64,
        candidate: &str,
    ) -> Result<Option<String>, DbErr> {
        if let Some(t) = self.stored_token(shipment_id).await? {
            return Ok(Some(t));
        }
        let update = Query::update()
            .table(shipment::Entity)
            .value(Alias::new(TOKEN_COL), candidate)
            .and_where(Expr::col(shipment::Column::Id).eq(shipment_id))
            .and_where(Expr::col(Alias::new(TOKEN_COL)).is_null())
            .and_where(Expr::col(shipment::Column::LabelBoughtAt).is_not_null())
            .to_owned();
        self.db.execute(&update).await?;
        self.stored_token(shipment_id).await
    }

    async fn stored_token(&self, shipment_id: i64) -> Result<Option<String>, DbErr> {
        let select = Query::select()
            .column(Alias::new(TOKEN_COL))
            .from(shipment::Entity)
            .and_where(Expr::col(shipment::Column::Id).eq(shipment_id))
            .to_owned();
        match self.db.query_one(&select).await? {
            Some(row) => row.try_get::<Option<String>>("", TOKEN_COL),
            None => Ok(None),
        }
    }

    /// The public page's data for a token (`None`: no such token).
    pub async fn tracking_page(&self, token: &str) -> Result<Option<TrackingPage>, DbErr> {
        if !is_tracking_token(token) {
            return Ok(None);
        }
        let select = Query::select()
            .column(shipment::Column::Id)
            .from(shipment::Entity)
            .and_where(Expr::col(Alias::new(TOKEN_COL)).eq(token))
            .to_owned();
        let Some(row) = self.db.query_one(&select).await? else {
            return Ok(None);
        };
        let id: i64 = row.try_get("", "id")?;
        let Some(s) = shipment::Entity::find_by_id(id).one(&self.db).await? else {
            return Ok(None);
        };
        let Some(o) = order::Entity::find_by_id(s.order_id).one(&self.db).await? else {
            return Ok(None);
        };
        let estimated_delivery = s
            .rate_quotes
            .as_deref()
            .and_then(|q| serde_json::from_str::<Vec<super::RateQuoteRecord>>(q).ok())
            .and_then(|qs| qs.into_iter().find(|q| q.chosen))
            .and_then(|q| q.estimated_delivery);
        let events = tracking_event::Entity::find()
            .filter(tracking_event::Column::ShipmentId.eq(id))
            .order_by_asc(tracking_event::Column::OccurredAt)
            .order_by_asc(tracking_event::Column::Id)
            .all(&self.db)
            .await?
            .into_iter()
            .map(|e| PublicTrackingEvent {
                at: e.occurred_at,
                status: e.status,
                location: e.location.as_deref().and_then(public_location),
            })
            .collect();
        Ok(Some(TrackingPage {
            seller: o.seller_id,
            order_number: o.number.unwrap_or(o.external_id),
            status: s.tracking_status,
            carrier: s.carrier,
            service: s.service,
            tracking_code: s.tracking_code,
            tracking_url: s.tracking_url,
            promised_delivery: None,
            estimated_delivery,
            events,
            placed_at: o.placed_at,
            shipping_method: o.shipping_method,
        }))
    }

    /// Shipments with a label, not delivered, no problem raised yet, whose
    /// order is processing or shipped; by id after `after_id`.
    pub async fn delivery_watch(
        &self,
        after_id: i64,
        limit: u64,
    ) -> Result<Vec<DeliveryWatch>, DbErr> {
        let select = Query::select()
            .expr_as(
                Expr::col(("s", shipment::Column::Id)),
                Alias::new("shipment_id"),
            )
            .expr_as(
                Expr::col(("s", shipment::Column::OrderId)),
                Alias::new("order_id"),
            )
            .expr_as(
                Expr::col(("o", order::Column::Status)),
                Alias::new("order_status"),
            )
            .expr_as(
                Expr::col(("o", order::Column::PlacedAt)),
                Alias::new("placed_at"),
            )
            .expr_as(
                Expr::col(("o", order::Column::ShippingMethod)),
                Alias::new("shipping_method"),
            )
            .expr_as(
                Expr::col(("s", shipment::Column::LabelBoughtAt)),
                Alias::new("label_bought_at"),
            )
            .expr_as(
                Expr::col(("s", shipment::Column::TrackingUpdatedAt)),
                Alias::new("tracking_updated_at"),
            )
            .from_as(shipment::Entity, "s")
            .join_as(
                sea_orm::JoinType::InnerJoin,
                order::Entity,
                "o",
                Expr::col(("o", order::Column::Id)).equals(("s", shipment::Column::OrderId)),
            )
            .and_where(Expr::col(("s", shipment::Column::Id)).gt(after_id))
            .and_where(Expr::col(("s", shipment::Column::Status)).eq(SHIPMENT_LABEL_BOUGHT))
            .and_where(Expr::col(("s", shipment::Column::LabelBoughtAt)).is_not_null())
            .and_where(
                Expr::col(("s", shipment::Column::TrackingStatus))
                    .ne(TrackingStatus::Delivered.as_str()),
            )
            .and_where(Expr::col(("s", Alias::new(PROBLEM_COL))).is_null())
            .and_where(Expr::col(("o", order::Column::Status)).is_in([
                OrderStatus::Processing.as_str(),
                OrderStatus::Shipped.as_str(),
            ]))
            .order_by(("s", shipment::Column::Id), sea_orm::Order::Asc)
            .limit(limit)
            .to_owned();
        let rows = self.db.query_all(&select).await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let bought: DateTime<Utc> = row.try_get("", "label_bought_at")?;
            let moved: Option<DateTime<Utc>> = row.try_get("", "tracking_updated_at")?;
            out.push(DeliveryWatch {
                shipment_id: row.try_get("", "shipment_id")?,
                order_id: row.try_get("", "order_id")?,
                order_status: row.try_get("", "order_status")?,
                placed_at: row.try_get("", "placed_at")?,
                shipping_method: row.try_get("", "shipping_method")?,
                last_progress_at: moved.map_or(bought, |m| std::cmp::max(m, bought)),
            });
        }
        Ok(out)
    }

    /// Raise a delivery problem once: mark the shipment, record an
    /// `exception` on the timeline and move the order from `from` to
    /// `exception` through the guarded transition. `false` (nothing changed)
    /// if it was raised already, delivered meanwhile, or the order moved.
    pub async fn raise_delivery_problem(
        &self,
        shipment_id: i64,
        order_id: i64,
        from: OrderStatus,
        reason: &str,
    ) -> Result<bool, DbErr> {
        if !from.can_become(OrderStatus::Exception) {
            return Ok(false);
        }
        let tx = self.begin_write().await?;
        let mark = Query::update()
            .table(shipment::Entity)
            .value(Alias::new(PROBLEM_COL), now())
            .and_where(Expr::col(shipment::Column::Id).eq(shipment_id))
            .and_where(Expr::col(shipment::Column::OrderId).eq(order_id))
            .and_where(Expr::col(Alias::new(PROBLEM_COL)).is_null())
            .and_where(Expr::col(shipment::Column::Status).eq(SHIPMENT_LABEL_BOUGHT))
            .and_where(
                Expr::col(shipment::Column::TrackingStatus).ne(TrackingStatus::Delivered.as_str()),
            )
            .to_owned();
        if ConnectionTrait::execute(&tx, &mark).await?.rows_affected() != 1 {
            tx.rollback().await?;
            return Ok(false);
        }
        events::record(
            &tx,
            order_id,
            events::EVENT_EXCEPTION,
            events::ACTOR_SYSTEM,
            // `problem` marks the exception as the sweep's, so readers
            // (customer email) need not parse the reason text.
            serde_json::json!({ "shipment_id": shipment_id, "reason": reason, "problem": DELIVERY_PROBLEM }),
        )
        .await?;
        if !Store::transition_order(&tx, order_id, from, OrderStatus::Exception, Some(reason))
            .await?
        {
            tx.rollback().await?;
            return Ok(false);
        }
        tx.commit().await?;
        Ok(true)
    }
}
