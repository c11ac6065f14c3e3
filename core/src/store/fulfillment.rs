//! BuyLabel's, PushTracking's and ApplyTrackingEvent's store side.
//!
//! A shipment moves `created` → `buying` → `label_bought` (or `exception`),
//! each step a guarded update. The carrier's shipment id and the chosen rate
//! are stored in the `created → buying` step, before any purchase is tried
//! (invariant 4): from then on every attempt first asks the carrier what that
//! shipment already has, and no second carrier shipment is ever made for it.
//! Tracking status only moves forward; events are appended once each.

use super::entities::{order, shipment, tracking_event, warehouse};
use super::{events, now, Store};
use crate::{Address, OrderStatus, TrackingStatus, TrackingUpdate};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder,
};
use serde::Serialize;

pub const SHIPMENT_CREATED: &str = "created";
pub const SHIPMENT_BUYING: &str = "buying";
pub const SHIPMENT_LABEL_BOUGHT: &str = "label_bought";
pub const SHIPMENT_EXCEPTION: &str = "exception";

/// The rate BuyLabel chose, with the carrier shipment it belongs to.
#[derive(Debug, Clone)]
pub struct ChosenRate {
    pub carrier_account: String,
    pub carrier_shipment_id: String,
    pub rate_id: String,
    pub carrier: String,
    pub service: String,
    pub amount: Decimal,
    pub currency: String,
    /// The parcels as sent (JSON list).
    pub parcel: String,
    /// Every rate considered with its verdict (JSON list of
    /// [`super::RateQuoteRecord`]).
    pub quotes: String,
}

/// A bought label as the store keeps it.
#[derive(Debug, Clone)]
pub struct LabelRecord {
    pub carrier: String,
    pub service: String,
    pub amount: Decimal,
    pub currency: String,
    pub tracking_code: String,
    pub tracking_url: Option<String>,
    pub label_url: String,
    pub label_id: String,
    /// `pdf`, `png` or `zpl`.
    pub label_format: String,
}

/// What applying a tracking update did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrackingOutcome {
    /// No shipment of this carrier account has that tracking code.
    UnknownShipment,
    /// Events were recorded; `advanced` is the new status if it moved forward.
    Applied {
        shipment_id: i64,
        order_id: i64,
        new_events: u64,
        advanced: Option<TrackingStatus>,
    },
}

/// A shipment with its tracking timeline, as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct ShipmentView {
    #[serde(flatten)]
    pub shipment: shipment::Model,
    /// The rates rate shopping considered, chosen and rejected, with why.
    pub rate_quotes: Vec<super::RateQuoteRecord>,
    pub events: Vec<tracking_event::Model>,
}

/// Counts by pipeline step, for the demo summary and ops.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct FulfillmentCounts {
    pub shipments: u64,
    pub labels_bought: u64,
    pub tracking_pushed: u64,
    pub delivered: u64,
    /// Shipments whose channel was told they were delivered.
    pub delivery_pushed: u64,
    pub exceptions: u64,
}

/// Whether the channel has not yet heard all there is to tell about this
/// shipment: the tracking itself, or a newer carrier status.
pub fn needs_channel_push(s: &shipment::Model) -> bool {
    if s.status != SHIPMENT_LABEL_BOUGHT {
        return false;
    }
    let pushed = s
        .status_pushed
        .as_deref()
        .map_or(TrackingStatus::Unknown, TrackingStatus::from_carrier);
    s.tracking_pushed_at.is_none()
        || pushed.can_advance_to(TrackingStatus::from_carrier(&s.tracking_status))
}

fn set_now() -> Expr {
    Expr::value(now())
}

impl Store {
    pub async fn shipment(&self, id: i64) -> Result<Option<shipment::Model>, DbErr> {
        shipment::Entity::find_by_id(id).one(&self.db).await
    }

    /// The sellers of these shipments (through their orders); a shipment
    /// that does not exist is absent from the map.
    pub async fn shipment_sellers(
        &self,
        ids: &[i64],
    ) -> Result<std::collections::HashMap<i64, String>, DbErr> {
        use sea_orm::QuerySelect;
        let mut out = std::collections::HashMap::new();
        for chunk in ids.chunks(500) {
            let ships: Vec<(i64, i64)> = shipment::Entity::find()
                .select_only()
                .column(shipment::Column::Id)
                .column(shipment::Column::OrderId)
                .filter(shipment::Column::Id.is_in(chunk.to_vec()))
                .into_tuple()
                .all(&self.db)
                .await?;
            let order_ids: Vec<i64> = ships.iter().map(|(_, o)| *o).collect();
            let sellers: std::collections::HashMap<i64, String> = order::Entity::find()
                .select_only()
                .column(order::Column::Id)
                .column(order::Column::SellerId)
                .filter(order::Column::Id.is_in(order_ids))
                .into_tuple::<(i64, String)>()
                .all(&self.db)
                .await?
                .into_iter()
                .collect();
            for (id, order_id) in ships {
                if let Some(seller) = sellers.get(&order_id) {
                    out.insert(id, seller.clone());
                }
            }
        }
        Ok(out)
    }

    pub async fn warehouse(&self, id: &str) -> Result<Option<warehouse::Model>, DbErr> {
        warehouse::Entity::find_by_id(id.to_string())
            .one(&self.db)
            .await
    }

    /// Set a warehouse's ship-from address (config is the source of truth).
    pub async fn set_warehouse_address(
        &self,
        id: &str,
        address: Option<&Address>,
    ) -> Result<(), DbErr> {
        let json = address.and_then(|a| serde_json::to_string(a).ok());
        warehouse::Entity::update_many()
            .col_expr(warehouse::Column::Address, Expr::value(json))
            .filter(warehouse::Column::Id.eq(id))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// An order's shipments with their tracking timelines.
    pub async fn order_shipments(&self, order_id: i64) -> Result<Vec<ShipmentView>, DbErr> {
        let ships = shipment::Entity::find()
            .filter(shipment::Column::OrderId.eq(order_id))
            .order_by_asc(shipment::Column::Id)
            .all(&self.db)
            .await?;
        let mut out = Vec::with_capacity(ships.len());
        for s in ships {
            let events = self.tracking_events(s.id).await?;
            let rate_quotes = s
                .rate_quotes
                .as_deref()
                .and_then(|q| serde_json::from_str(q).ok())
                .unwrap_or_default();
            out.push(ShipmentView {
                shipment: s,
                rate_quotes,
                events,
            });
        }
        Ok(out)
    }

    pub async fn tracking_events(
        &self,
        shipment_id: i64,
    ) -> Result<Vec<tracking_event::Model>, DbErr> {
        tracking_event::Entity::find()
            .filter(tracking_event::Column::ShipmentId.eq(shipment_id))
            .order_by_asc(tracking_event::Column::OccurredAt)
            .order_by_asc(tracking_event::Column::Id)
            .all(&self.db)
            .await
    }

    /// `created → buying`: store the carrier shipment and the chosen rate
    /// before anything is bought. `false` if another run got there first.
    pub async fn record_carrier_shipment(&self, id: i64, r: &ChosenRate) -> Result<bool, DbErr> {
        let tx = self.begin_write().await?;
        let res = shipment::Entity::update_many()
            .col_expr(shipment::Column::Status, Expr::value(SHIPMENT_BUYING))
            .col_expr(
                shipment::Column::CarrierAccount,
                Expr::value(r.carrier_account.clone()),
            )
            .col_expr(
                shipment::Column::CarrierShipmentId,
                Expr::value(r.carrier_shipment_id.clone()),
            )
            .col_expr(shipment::Column::RateId, Expr::value(r.rate_id.clone()))
            .col_expr(shipment::Column::Carrier, Expr::value(r.carrier.clone()))
            .col_expr(shipment::Column::Service, Expr::value(r.service.clone()))
            .col_expr(
                shipment::Column::RateAmount,
                Expr::value(r.amount.to_string()),
            )
            .col_expr(
                shipment::Column::RateCurrency,
                Expr::value(r.currency.clone()),
            )
            .col_expr(shipment::Column::Parcel, Expr::value(r.parcel.clone()))
            .col_expr(shipment::Column::RateQuotes, Expr::value(r.quotes.clone()))
            .col_expr(shipment::Column::UpdatedAt, set_now())
            .filter(shipment::Column::Id.eq(id))
            .filter(shipment::Column::Status.eq(SHIPMENT_CREATED))
            .filter(shipment::Column::CarrierShipmentId.is_null())
            .exec(&tx)
            .await?;
        if res.rows_affected != 1 {
            tx.rollback().await?;
            return Ok(false);
        }
        events::record_for_shipment(
            &tx,
            id,
            events::EVENT_RATE_CHOSEN,
            events::ACTOR_SYSTEM,
            serde_json::json!({
                "shipment_id": id,
                "carrier_account": r.carrier_account,
                "carrier": r.carrier,
                "service": r.service,
                "amount": r.amount.to_string(),
                "currency": r.currency,
            }),
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Count one purchase attempt, committed before the carrier is called.
    pub async fn count_buy_attempt(&self, id: i64) -> Result<(), DbErr> {
        shipment::Entity::update_many()
            .col_expr(
                shipment::Column::BuyAttempts,
                Expr::col(shipment::Column::BuyAttempts).add(1),
            )
            .col_expr(shipment::Column::UpdatedAt, set_now())
            .filter(shipment::Column::Id.eq(id))
            .filter(shipment::Column::Status.eq(SHIPMENT_BUYING))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// `buying → label_bought`. `false` if it was recorded already.
    pub async fn record_label(&self, id: i64, l: &LabelRecord) -> Result<bool, DbErr> {
        let tx = self.begin_write().await?;
        let res = shipment::Entity::update_many()
            .col_expr(shipment::Column::Status, Expr::value(SHIPMENT_LABEL_BOUGHT))
            .col_expr(shipment::Column::Carrier, Expr::value(l.carrier.clone()))
            .col_expr(shipment::Column::Service, Expr::value(l.service.clone()))
            .col_expr(
                shipment::Column::RateAmount,
                Expr::value(l.amount.to_string()),
            )
            .col_expr(
                shipment::Column::RateCurrency,
                Expr::value(l.currency.clone()),
            )
            .col_expr(
                shipment::Column::TrackingCode,
                Expr::value(l.tracking_code.clone()),
            )
            .col_expr(
                shipment::Column::TrackingUrl,
                Expr::value(l.tracking_url.clone()),
            )
            .col_expr(shipment::Column::LabelUrl, Expr::value(l.label_url.clone()))
            .col_expr(shipment::Column::LabelId, Expr::value(l.label_id.clone()))
            .col_expr(
                shipment::Column::LabelFormat,
                Expr::value(l.label_format.clone()),
            )
            .col_expr(shipment::Column::LabelBoughtAt, set_now())
            .col_expr(
                shipment::Column::ExceptionReason,
                Expr::value(None::<String>),
            )
            .col_expr(shipment::Column::UpdatedAt, set_now())
            .filter(shipment::Column::Id.eq(id))
            .filter(shipment::Column::Status.eq(SHIPMENT_BUYING))
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
                "carrier": l.carrier,
                "service": l.service,
                "tracking_code": l.tracking_code,
                "amount": l.amount.to_string(),
                "currency": l.currency,
            }),
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// A permanent failure before a label exists: the shipment and its order
    /// go to `exception` with the reason, for ops to see.
    pub async fn shipment_exception(&self, id: i64, reason: &str) -> Result<(), DbErr> {
        let tx = self.begin_write().await?;
        let Some(s) = shipment::Entity::find_by_id(id).one(&tx).await? else {
            return tx.rollback().await;
        };
        let res = shipment::Entity::update_many()
            .col_expr(shipment::Column::Status, Expr::value(SHIPMENT_EXCEPTION))
            .col_expr(
                shipment::Column::ExceptionReason,
                Expr::value(reason.to_string()),
            )
            .col_expr(shipment::Column::UpdatedAt, set_now())
            .filter(shipment::Column::Id.eq(id))
            .filter(shipment::Column::Status.is_in([SHIPMENT_CREATED, SHIPMENT_BUYING]))
            .exec(&tx)
            .await?;
        if res.rows_affected == 1 {
            events::record(
                &tx,
                s.order_id,
                events::EVENT_EXCEPTION,
                events::ACTOR_SYSTEM,
                serde_json::json!({ "shipment_id": id, "reason": reason }),
            )
            .await?;
            Store::transition_order(
                &tx,
                s.order_id,
                OrderStatus::Processing,
                OrderStatus::Exception,
                Some(reason),
            )
            .await?;
        }
        tx.commit().await
    }

    /// Note a problem on a shipment without changing its status (e.g. the
    /// channel refused the tracking push).
    pub async fn note_shipment_problem(&self, id: i64, reason: Option<&str>) -> Result<(), DbErr> {
        shipment::Entity::update_many()
            .col_expr(
                shipment::Column::ExceptionReason,
                Expr::value(reason.map(str::to_string)),
            )
            .col_expr(shipment::Column::UpdatedAt, set_now())
            .filter(shipment::Column::Id.eq(id))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// Take the shipment's push lease for `ttl_ms` (one PushTracking run at
    /// a time talks to the channel about it). `false` while another holds it.
    pub async fn take_push_lease(&self, id: i64, ttl_ms: i64) -> Result<bool, DbErr> {
        use sea_orm::Condition;
        let now_ms = now().timestamp_millis();
        let res = shipment::Entity::update_many()
            .col_expr(
                shipment::Column::PushLeaseUntilMs,
                Expr::value(now_ms + ttl_ms),
            )
            .filter(shipment::Column::Id.eq(id))
            .filter(
                Condition::any()
                    .add(shipment::Column::PushLeaseUntilMs.is_null())
                    .add(shipment::Column::PushLeaseUntilMs.lt(now_ms)),
            )
            .exec(&self.db)
            .await?;
        Ok(res.rows_affected == 1)
    }

    pub async fn release_push_lease(&self, id: i64) -> Result<(), DbErr> {
        shipment::Entity::update_many()
            .col_expr(shipment::Column::PushLeaseUntilMs, Expr::value(None::<i64>))
            .filter(shipment::Column::Id.eq(id))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// The channel has the tracking; a problem noted on the way is over.
    pub async fn mark_tracking_pushed(&self, id: i64) -> Result<(), DbErr> {
        let tx = self.begin_write().await?;
        let res = shipment::Entity::update_many()
            .col_expr(shipment::Column::TrackingPushedAt, set_now())
            .col_expr(
                shipment::Column::ExceptionReason,
                Expr::value(None::<String>),
            )
            .col_expr(shipment::Column::UpdatedAt, set_now())
            .filter(shipment::Column::Id.eq(id))
            .filter(shipment::Column::TrackingPushedAt.is_null())
            .exec(&tx)
            .await?;
        if res.rows_affected != 1 {
            return tx.rollback().await;
        }
        events::record_for_shipment(
            &tx,
            id,
            events::EVENT_TRACKING_PUSHED,
            events::ACTOR_SYSTEM,
            serde_json::json!({ "shipment_id": id }),
        )
        .await?;
        tx.commit().await
    }

    /// Record that the channel was told `status`, guarded on what was
    /// recorded before (`from`), so a slower concurrent push of an older
    /// status cannot overwrite a newer one.
    pub async fn mark_status_pushed(
        &self,
        id: i64,
        from: Option<&str>,
        status: TrackingStatus,
    ) -> Result<bool, DbErr> {
        let mut q = shipment::Entity::update_many()
            .col_expr(shipment::Column::StatusPushed, Expr::value(status.as_str()))
            .col_expr(shipment::Column::UpdatedAt, set_now())
            .filter(shipment::Column::Id.eq(id));
        q = match from {
            Some(f) => q.filter(shipment::Column::StatusPushed.eq(f)),
            None => q.filter(shipment::Column::StatusPushed.is_null()),
        };
        Ok(q.exec(&self.db).await?.rows_affected == 1)
    }

    /// Append a tracking update's events, move the shipment's status forward
    /// only, and move the order to shipped or delivered; one transaction.
    pub async fn apply_tracking(
        &self,
        carrier_account: &str,
        update: &TrackingUpdate,
    ) -> Result<TrackingOutcome, DbErr> {
        let tx = self.begin_write().await?;
        // By the carrier's shipment id when the event names it (that id is
        // stored before the purchase, so events that overtake a lost buy
        // answer still find their shipment), or by tracking code (labels
        // recorded by hand have no carrier shipment id).
        let mut by = sea_orm::Condition::any()
            .add(shipment::Column::TrackingCode.eq(update.tracking_code.as_str()));
        if let Some(cs) = &update.carrier_shipment_id {
            by = by.add(shipment::Column::CarrierShipmentId.eq(cs.as_str()));
        }
        let q = shipment::Entity::find()
            .filter(shipment::Column::CarrierAccount.eq(carrier_account))
            .filter(by)
            .order_by_asc(shipment::Column::Id);
        let Some(ship) = q.one(&tx).await? else {
            tx.rollback().await?;
            return Ok(TrackingOutcome::UnknownShipment);
        };
        let mut new_events = 0;
        for d in &update.details {
            let res = tracking_event::Entity::insert(tracking_event::ActiveModel {
                shipment_id: Set(ship.id),
                status: Set(d.status.as_str().into()),
                carrier_status: Set(d.carrier_status.clone()),
                message: Set(d.message.clone()),
                location: Set(d.location.clone()),
                occurred_at: Set(d.occurred_at),
                received_at: Set(now()),
                ..Default::default()
            })
            .on_conflict(
                OnConflict::columns([
                    tracking_event::Column::ShipmentId,
                    tracking_event::Column::CarrierStatus,
                    tracking_event::Column::OccurredAt,
                ])
                .do_nothing()
                .to_owned(),
            )
            .exec_without_returning(&tx)
            .await?;
            new_events += res;
        }
        let current = TrackingStatus::from_carrier(&ship.tracking_status);
        let mut advanced = None;
        if current.can_advance_to(update.status) {
            // Guarded on rank, not on the status read: under concurrent
            // updates (PostgreSQL re-checks the WHERE after the row lock)
            // a newer status still wins over one that committed meanwhile,
            // and an older one never overwrites a newer.
            let lower: Vec<&str> = TrackingStatus::ALL
                .into_iter()
                .filter(|s| s.can_advance_to(update.status))
                .map(TrackingStatus::as_str)
                .collect();
            let res = shipment::Entity::update_many()
                .col_expr(
                    shipment::Column::TrackingStatus,
                    Expr::value(update.status.as_str()),
                )
                .col_expr(shipment::Column::TrackingUpdatedAt, set_now())
                .col_expr(shipment::Column::UpdatedAt, set_now())
                .filter(shipment::Column::Id.eq(ship.id))
                .filter(shipment::Column::TrackingStatus.is_in(lower))
                .exec(&tx)
                .await?;
            if res.rows_affected == 1 {
                advanced = Some(update.status);
                events::record(
                    &tx,
                    ship.order_id,
                    events::EVENT_TRACKING,
                    events::ACTOR_CARRIER,
                    serde_json::json!({
                        "shipment_id": ship.id,
                        "tracking_code": update.tracking_code,
                        "from": current.as_str(),
                        "status": update.status.as_str(),
                    }),
                )
                .await?;
                if ship.tracking_url.is_none() && update.public_url.is_some() {
                    shipment::Entity::update_many()
                        .col_expr(
                            shipment::Column::TrackingUrl,
                            Expr::value(update.public_url.clone()),
                        )
                        .filter(shipment::Column::Id.eq(ship.id))
                        .exec(&tx)
                        .await?;
                }
                settle_order_status(&tx, ship.order_id).await?;
            }
        }
        tx.commit().await?;
        Ok(TrackingOutcome::Applied {
            shipment_id: ship.id,
            order_id: ship.order_id,
            new_events,
            advanced,
        })
    }

    /// Shipments stuck mid-pipeline since before `before` (a crash between a
    /// commit and the enqueue of the next job): the sweep enqueues their next
    /// step again and touches them, so each is swept at most once per grace.
    pub async fn stalled_shipments(
        &self,
        before: DateTime<Utc>,
        limit: u64,
    ) -> Result<Vec<shipment::Model>, DbErr> {
        use sea_orm::{Condition, QuerySelect};
        // A shipment with a noted problem waits for ops (its job is failed
        // and listed); the sweep leaves it alone.
        let stalled = Condition::all()
            .add(shipment::Column::ExceptionReason.is_null())
            .add(
                Condition::any()
                    .add(shipment::Column::Status.is_in([SHIPMENT_CREATED, SHIPMENT_BUYING]))
                    .add(
                        Condition::all()
                            .add(shipment::Column::Status.eq(SHIPMENT_LABEL_BOUGHT))
                            .add(
                                Condition::any()
                                    .add(shipment::Column::TrackingPushedAt.is_null())
                                    .add(
                                        Condition::all()
                                            .add(
                                                shipment::Column::TrackingStatus
                                                    .ne(TrackingStatus::Unknown.as_str()),
                                            )
                                            .add(
                                                Condition::any()
                                                    .add(shipment::Column::StatusPushed.is_null())
                                                    .add(
                                                        Expr::col(shipment::Column::StatusPushed)
                                                            .ne(Expr::col(
                                                                shipment::Column::TrackingStatus,
                                                            )),
                                                    ),
                                            ),
                                    ),
                            ),
                    ),
            );
        let rows = shipment::Entity::find()
            .filter(stalled)
            .filter(
                Condition::any()
                    .add(shipment::Column::UpdatedAt.lt(before))
                    .add(
                        Condition::all()
                            .add(shipment::Column::UpdatedAt.is_null())
                            .add(shipment::Column::CreatedAt.lt(before)),
                    ),
            )
            .order_by_asc(shipment::Column::Id)
            .limit(limit)
            .all(&self.db)
            .await?;
        if !rows.is_empty() {
            shipment::Entity::update_many()
                .col_expr(shipment::Column::UpdatedAt, set_now())
                .filter(shipment::Column::Id.is_in(rows.iter().map(|r| r.id)))
                .exec(&self.db)
                .await?;
        }
        Ok(rows)
    }

    pub async fn fulfillment_counts(&self) -> Result<FulfillmentCounts, DbErr> {
        let count = |f: sea_orm::Select<shipment::Entity>| async move { f.count(&self.db).await };
        Ok(FulfillmentCounts {
            shipments: count(shipment::Entity::find()).await?,
            labels_bought: count(
                shipment::Entity::find().filter(shipment::Column::LabelBoughtAt.is_not_null()),
            )
            .await?,
            tracking_pushed: count(
                shipment::Entity::find().filter(shipment::Column::TrackingPushedAt.is_not_null()),
            )
            .await?,
            delivered: count(
                shipment::Entity::find().filter(
                    shipment::Column::TrackingStatus.eq(TrackingStatus::Delivered.as_str()),
                ),
            )
            .await?,
            delivery_pushed: count(
                shipment::Entity::find()
                    .filter(shipment::Column::StatusPushed.eq(TrackingStatus::Delivered.as_str())),
            )
            .await?,
            exceptions: count(
                shipment::Entity::find().filter(shipment::Column::Status.eq(SHIPMENT_EXCEPTION)),
            )
            .await?,
        })
    }
}

/// The order's status from its shipments' tracking: delivered when every
/// shipment is delivered, shipped once any is moving, an exception when a
/// parcel comes back or is lost. Only declared transitions are taken.
async fn settle_order_status<C: ConnectionTrait>(db: &C, order_id: i64) -> Result<(), DbErr> {
    let statuses: Vec<TrackingStatus> = shipment::Entity::find()
        .filter(shipment::Column::OrderId.eq(order_id))
        .all(db)
        .await?
        .iter()
        .map(|s| TrackingStatus::from_carrier(&s.tracking_status))
        .collect();
    use TrackingStatus as T;
    let (target, reason) = if statuses.iter().all(|s| *s == T::Delivered) {
        (OrderStatus::Delivered, None)
    } else if let Some(bad) = statuses
        .iter()
        .find(|s| matches!(s, T::ReturnToSender | T::Failure | T::Cancelled))
    {
        (
            OrderStatus::Exception,
            Some(format!("carrier reports {bad}")),
        )
    } else if statuses.iter().any(|s| s.rank() >= T::InTransit.rank()) {
        (OrderStatus::Shipped, None)
    } else {
        return Ok(());
    };
    // The guarded transition fails when a concurrent writer (a poll's page
    // moving processing → shipped) changed the status after our read: read
    // again and retry, else a delivered order would stay shipped.
    for _ in 0..5 {
        let Some(o) = order::Entity::find_by_id(order_id).one(db).await? else {
            return Ok(());
        };
        let Ok(current) = o.status.parse::<OrderStatus>() else {
            return Ok(());
        };
        // Only from the fulfillment flow's own states: an order ops put on
        // hold in exception stays there.
        if !(matches!(current, OrderStatus::Processing | OrderStatus::Shipped)
            && current != target
            && current.can_become(target))
        {
            return Ok(());
        }
        if Store::transition_order(db, order_id, current, target, reason.as_deref()).await? {
            return Ok(());
        }
    }
    Ok(())
}
