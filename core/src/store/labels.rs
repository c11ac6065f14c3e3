//! The store side of rate shopping's record, label batches, voids and
//! cancellations.
//!
//! A shipment's statuses beyond the buying path: `voiding` (a void was asked
//! and the carrier is being told), `voided` (the carrier voided the label or
//! took the refund request), `cancelled` (the order was cancelled before any
//! label was bought). Each step is a guarded update; leaving a shipment for
//! good releases the stock it reserved, in the same transaction.

use super::entities::{order, reservation, shipment, stock};
use super::{events, now, Store};
use super::{SHIPMENT_BUYING, SHIPMENT_CREATED, SHIPMENT_LABEL_BOUGHT};
use crate::{OrderStatus, TrackingStatus};
use chrono::NaiveDate;
use rust_decimal::Decimal;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder};
use serde::{Deserialize, Serialize};

pub const SHIPMENT_VOIDING: &str = "voiding";
pub const SHIPMENT_VOIDED: &str = "voided";
pub const SHIPMENT_CANCELLED: &str = "cancelled";

/// One rate rate shopping considered (or one carrier account it skipped),
/// with the verdict, as stored on the shipment and shown on the order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateQuoteRecord {
    /// The carrier account (config id).
    pub account: String,
    pub carrier: Option<String>,
    pub service: Option<String>,
    pub amount: Option<Decimal>,
    pub currency: Option<String>,
    pub delivery_days: Option<u32>,
    pub estimated_delivery: Option<NaiveDate>,
    pub chosen: bool,
    /// Why chosen or rejected, or why the account was skipped.
    pub reason: String,
    /// How long the account took to answer (or to be given up on); the
    /// accounts are asked in parallel, so rate shopping took the longest.
    #[serde(default)]
    pub answered_ms: Option<u64>,
}

/// The shipment statuses from which a label may be voided: bought and not
/// yet in the carrier's hands.
fn not_picked_up() -> [&'static str; 2] {
    [
        TrackingStatus::Unknown.as_str(),
        TrackingStatus::PreTransit.as_str(),
    ]
}

/// Why a void was refused before asking the carrier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VoidRefusal {
    NotFound,
    /// The shipment has no bought label (its status is given).
    NoLabel(String),
    /// The carrier already has the parcel.
    PickedUp(String),
}

impl std::fmt::Display for VoidRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            VoidRefusal::NotFound => write!(f, "no such shipment"),
            VoidRefusal::NoLabel(s) => write!(f, "the shipment is `{s}`: no label to void"),
            VoidRefusal::PickedUp(s) => {
                write!(f, "the carrier already has the parcel (tracking `{s}`)")
            }
        }
    }
}

impl Store {
    /// `label_bought → voiding`, only while the carrier has not picked the
    /// parcel up. A shipment already `voiding` is accepted again (a retry).
    pub async fn begin_void(&self, id: i64) -> Result<Result<(), VoidRefusal>, DbErr> {
        let res = shipment::Entity::update_many()
            .col_expr(shipment::Column::Status, Expr::value(SHIPMENT_VOIDING))
            .col_expr(shipment::Column::UpdatedAt, Expr::value(now()))
            .filter(shipment::Column::Id.eq(id))
            .filter(shipment::Column::Status.eq(SHIPMENT_LABEL_BOUGHT))
            .filter(shipment::Column::TrackingStatus.is_in(not_picked_up()))
            .exec(&self.db)
            .await?;
        if res.rows_affected == 1 {
            return Ok(Ok(()));
        }
        Ok(match self.shipment(id).await? {
            None => Err(VoidRefusal::NotFound),
            Some(s) if s.status == SHIPMENT_VOIDING => Ok(()),
            Some(s) if s.status == SHIPMENT_LABEL_BOUGHT => {
                Err(VoidRefusal::PickedUp(s.tracking_status))
            }
            Some(s) => Err(VoidRefusal::NoLabel(s.status)),
        })
    }

    /// `voiding → voided`: the carrier voided the label (or took the refund
    /// request). The shipment's reservations are released and its order,
    /// unless cancelled, goes to `exception` for ops to re-ship by hand.
    pub async fn finish_void(&self, id: i64, carrier_said: &str) -> Result<bool, DbErr> {
        let tx = self.begin_write().await?;
        let res = shipment::Entity::update_many()
            .col_expr(shipment::Column::Status, Expr::value(SHIPMENT_VOIDED))
            .col_expr(
                shipment::Column::VoidStatus,
                Expr::value(carrier_said.to_string()),
            )
            .col_expr(shipment::Column::VoidedAt, Expr::value(now()))
            .col_expr(shipment::Column::UpdatedAt, Expr::value(now()))
            .filter(shipment::Column::Id.eq(id))
            .filter(shipment::Column::Status.eq(SHIPMENT_VOIDING))
            .exec(&tx)
            .await?;
        if res.rows_affected != 1 {
            tx.rollback().await?;
            return Ok(false);
        }
        release_reservations(&tx, id).await?;
        if let Some(s) = shipment::Entity::find_by_id(id).one(&tx).await? {
            events::record(
                &tx,
                s.order_id,
                events::EVENT_VOIDED,
                events::ACTOR_SYSTEM,
                serde_json::json!({
                    "shipment_id": id,
                    "tracking_code": s.tracking_code,
                    "carrier_said": carrier_said,
                }),
            )
            .await?;
            hold_order_after_void(&tx, s.order_id).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// `voiding → label_bought`: the carrier refused the void (or it could
    /// not be asked); the label stands and the refusal is noted.
    pub async fn void_refused(&self, id: i64, reason: &str) -> Result<bool, DbErr> {
        let res = shipment::Entity::update_many()
            .col_expr(shipment::Column::Status, Expr::value(SHIPMENT_LABEL_BOUGHT))
            .col_expr(
                shipment::Column::VoidStatus,
                Expr::value(format!("rejected: {reason}")),
            )
            .col_expr(shipment::Column::UpdatedAt, Expr::value(now()))
            .filter(shipment::Column::Id.eq(id))
            .filter(shipment::Column::Status.eq(SHIPMENT_VOIDING))
            .exec(&self.db)
            .await?;
        Ok(res.rows_affected == 1)
    }

    /// `created` (or `buying` with no purchase ever tried) → `cancelled`,
    /// releasing the stock, when the order was cancelled before its label.
    pub async fn cancel_unbought_shipment(&self, id: i64) -> Result<bool, DbErr> {
        use sea_orm::Condition;
        let tx = self.begin_write().await?;
        let res = shipment::Entity::update_many()
            .col_expr(shipment::Column::Status, Expr::value(SHIPMENT_CANCELLED))
            .col_expr(shipment::Column::UpdatedAt, Expr::value(now()))
            .filter(shipment::Column::Id.eq(id))
            .filter(
                Condition::any()
                    .add(shipment::Column::Status.eq(SHIPMENT_CREATED))
                    .add(
                        Condition::all()
                            .add(shipment::Column::Status.eq(SHIPMENT_BUYING))
                            .add(shipment::Column::BuyAttempts.eq(0)),
                    ),
            )
            .exec(&tx)
            .await?;
        if res.rows_affected == 1 {
            release_reservations(&tx, id).await?;
        }
        tx.commit().await?;
        Ok(res.rows_affected == 1)
    }

    /// Shipments whose order was cancelled while their label is bought and
    /// not picked up: the sweep voids them.
    pub async fn labels_to_void_for_cancelled_orders(&self, limit: u64) -> Result<Vec<i64>, DbErr> {
        use sea_orm::{QuerySelect, QueryTrait};
        let cancelled = order::Entity::find()
            .select_only()
            .column(order::Column::Id)
            .filter(order::Column::Status.eq(OrderStatus::Cancelled.as_str()))
            .into_query();
        let rows = shipment::Entity::find()
            .filter(shipment::Column::Status.eq(SHIPMENT_LABEL_BOUGHT))
            .filter(shipment::Column::TrackingStatus.is_in(not_picked_up()))
            .filter(shipment::Column::VoidStatus.is_null())
            .filter(shipment::Column::OrderId.in_subquery(cancelled))
            .order_by_asc(shipment::Column::Id)
            .limit(limit)
            .all(&self.db)
            .await?;
        Ok(rows.into_iter().map(|s| s.id).collect())
    }

    /// `created → label_bought` for a label bought outside orderhub (by hand,
    /// or by an in-house system that reports tracking by Standard Webhooks):
    /// the carrier account's tracking webhooks then apply to it, and the
    /// tracking is pushed to the channel as for any label. `false` if the
    /// shipment is not `created`.
    pub async fn record_manual_label(
        &self,
        id: i64,
        carrier_account: &str,
        carrier: &str,
        tracking_code: &str,
        tracking_url: Option<&str>,
    ) -> Result<bool, DbErr> {
        let tx = self.begin_write().await?;
        let res = shipment::Entity::update_many()
            .col_expr(shipment::Column::Status, Expr::value(SHIPMENT_LABEL_BOUGHT))
            .col_expr(
                shipment::Column::CarrierAccount,
                Expr::value(carrier_account.to_string()),
            )
            .col_expr(shipment::Column::Carrier, Expr::value(carrier.to_string()))
            .col_expr(shipment::Column::Service, Expr::value("manual"))
            .col_expr(
                shipment::Column::TrackingCode,
                Expr::value(tracking_code.to_string()),
            )
            .col_expr(
                shipment::Column::TrackingUrl,
                Expr::value(tracking_url.map(str::to_string)),
            )
            .col_expr(shipment::Column::LabelBoughtAt, Expr::value(now()))
            .col_expr(
                shipment::Column::ExceptionReason,
                Expr::value(None::<String>),
            )
            .col_expr(shipment::Column::UpdatedAt, Expr::value(now()))
            .filter(shipment::Column::Id.eq(id))
            .filter(shipment::Column::Status.eq(SHIPMENT_CREATED))
            .exec(&tx)
            .await?;
        if res.rows_affected != 1 {
            tx.rollback().await?;
            return Ok(false);
        }
        events::record_for_shipment(
            &tx,
            id,
            events::EVENT_LABEL_BOUGHT,
            events::ACTOR_SYSTEM,
            serde_json::json!({
                "shipment_id": id,
                "carrier_account": carrier_account,
                "carrier": carrier,
                "service": "manual",
                "tracking_code": tracking_code,
                "manual": true,
            }),
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Shipments left `voiding` since before `before` (a crash between the
    /// request and the job, or a job that gave up): the sweep asks again.
    pub async fn stalled_voids(
        &self,
        before: chrono::DateTime<chrono::Utc>,
        limit: u64,
    ) -> Result<Vec<i64>, DbErr> {
        use sea_orm::QuerySelect;
        let rows = shipment::Entity::find()
            .filter(shipment::Column::Status.eq(SHIPMENT_VOIDING))
            .filter(shipment::Column::UpdatedAt.lt(before))
            .order_by_asc(shipment::Column::Id)
            .limit(limit)
            .all(&self.db)
            .await?;
        if !rows.is_empty() {
            shipment::Entity::update_many()
                .col_expr(shipment::Column::UpdatedAt, Expr::value(now()))
                .filter(shipment::Column::Id.is_in(rows.iter().map(|r| r.id)))
                .exec(&self.db)
                .await?;
        }
        Ok(rows.into_iter().map(|s| s.id).collect())
    }

    /// Shipments waiting for a label (`created`, no noted problem), oldest
    /// first; optionally at one warehouse. What `labels buy --all-ready` buys.
    pub async fn shipments_ready_for_labels(
        &self,
        warehouse: Option<&str>,
        limit: u64,
    ) -> Result<Vec<shipment::Model>, DbErr> {
        use sea_orm::QuerySelect;
        let mut q = shipment::Entity::find()
            .filter(shipment::Column::Status.is_in([SHIPMENT_CREATED, SHIPMENT_BUYING]))
            .filter(shipment::Column::ExceptionReason.is_null());
        if let Some(w) = warehouse {
            q = q.filter(shipment::Column::WarehouseId.eq(w));
        }
        q.order_by_asc(shipment::Column::Id)
            .limit(limit)
            .all(&self.db)
            .await
    }
}

/// Give the stock a shipment reserved back, and forget the reservation.
pub(crate) async fn release_reservations<C: ConnectionTrait>(
    db: &C,
    shipment_id: i64,
) -> Result<(), DbErr> {
    let rows = reservation::Entity::find()
        .filter(reservation::Column::ShipmentId.eq(shipment_id))
        .all(db)
        .await?;
    for r in &rows {
        stock::Entity::update_many()
            .col_expr(
                stock::Column::Reserved,
                Expr::col(stock::Column::Reserved).sub(r.quantity),
            )
            .filter(stock::Column::WarehouseId.eq(r.warehouse_id.as_str()))
            .filter(stock::Column::Sku.eq(r.sku.as_str()))
            .exec(db)
            .await?;
    }
    reservation::Entity::delete_many()
        .filter(reservation::Column::ShipmentId.eq(shipment_id))
        .exec(db)
        .await?;
    Ok(())
}

/// After a void the order has no label: unless it was cancelled, hold it in
/// `exception` so ops re-ship it (a new label is a decision, not a retry).
async fn hold_order_after_void<C: ConnectionTrait>(db: &C, order_id: i64) -> Result<(), DbErr> {
    let Some(o) = order::Entity::find_by_id(order_id).one(db).await? else {
        return Ok(());
    };
    let Ok(current) = o.status.parse::<OrderStatus>() else {
        return Ok(());
    };
    if current.can_become(OrderStatus::Exception) {
        Store::transition_order(
            db,
            order_id,
            current,
            OrderStatus::Exception,
            Some("label voided: ship it again by hand or re-route"),
        )
        .await?;
    }
    Ok(())
}
