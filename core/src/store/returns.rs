//! Returns (RMA): a delivered order's lines coming back.
//!
//! A return moves `requested` → `label_buying` (the carrier's return
//! shipment and rate stored, before any purchase) → `label_bought` →
//! `in_transit` (the return label's tracking moved) → `delivered` (the
//! carrier delivered it to the warehouse) → `restocked` or `damaged` (the
//! warehouse received it, line by line: restocked units go back on hand,
//! damaged ones are only recorded). A label that cannot be bought puts the
//! return in `exception` with the reason; asking for the label again retries
//! it. A return may be received in any state from `requested` on (a
//! customer may send it back with their own label) except while a label
//! purchase is in flight.
//!
//! Rules: only the lines of delivered shipments (or of an order whose status
//! is `delivered`) can be returned, at most the units shipped minus the units
//! already in other returns; one write transaction per step, the order row
//! locked on PostgreSQL while the quantities are checked, so two concurrent
//! requests cannot return the same unit twice. Every step writes its
//! `order_events` row (`return_requested`, `return_label_bought`,
//! `return_in_transit`, `return_delivered`, `return_received`,
//! `return_restocked`, `return_refunded`, `return_refund_updated`,
//! `return_exception`) in the same transaction, only when the guarded update
//! applied, so it shows on the timeline and feeds outbound webhooks.
//!
//! The refund is recorded, not paid: `none`, `pending`, `refunded` or
//! `declined`, with an exact decimal amount in the order's currency.

use super::entities::{order, reservation, shipment, stock};
use super::events;
use super::{now, KpiQuery, Store};
use crate::config::InventorySettings;
use crate::{OrderStatus, TrackingStatus, TrackingUpdate};
use rust_decimal::Decimal;
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, Condition, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use serde::Serialize;
use serde_json::json;
use std::collections::BTreeMap;
use std::str::FromStr;

pub mod return_row {
    use sea_orm::entity::prelude::*;

    /// A return (RMA).
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "returns")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub order_id: i64,
        pub seller_id: String,
        /// Where the units go back to.
        pub warehouse_id: String,
        pub rma: String,
        pub status: String,
        #[sea_orm(column_type = "Text", nullable)]
        pub reason: Option<String>,
        pub created_by: String,
        pub carrier_account: Option<String>,
        pub carrier_shipment_id: Option<String>,
        pub rate_id: Option<String>,
        /// Sent as the carrier's reference (`orderhub-return-42`); exists
        /// before the carrier is called.
        pub idempotency_key: String,
        pub buy_attempts: i32,
        pub carrier: Option<String>,
        pub service: Option<String>,
        pub label_amount: Option<String>,
        pub label_currency: Option<String>,
        pub tracking_code: Option<String>,
        #[sea_orm(column_type = "Text", nullable)]
        pub tracking_url: Option<String>,
        #[sea_orm(column_type = "Text", nullable)]
        pub label_url: Option<String>,
        pub label_id: Option<String>,
        pub tracking_status: Option<String>,
        #[sea_orm(column_type = "Text", nullable)]
        pub exception_reason: Option<String>,
        pub refund_status: String,
        pub refund_amount: Option<String>,
        pub refund_currency: Option<String>,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
        pub label_bought_at: Option<DateTimeUtc>,
        pub received_at: Option<DateTimeUtc>,
        pub refunded_at: Option<DateTimeUtc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod return_line {
    use sea_orm::entity::prelude::*;

    /// One sku of a return.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "return_lines")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub return_id: i64,
        pub sku: String,
        pub quantity: i64,
        pub reason_code: String,
        #[sea_orm(column_type = "Text", nullable)]
        pub reason_text: Option<String>,
        pub restocked: i64,
        pub damaged: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub const RETURN_REQUESTED: &str = "requested";
pub const RETURN_LABEL_BUYING: &str = "label_buying";
pub const RETURN_LABEL_BOUGHT: &str = "label_bought";
pub const RETURN_IN_TRANSIT: &str = "in_transit";
pub const RETURN_DELIVERED: &str = "delivered";
pub const RETURN_RESTOCKED: &str = "restocked";
pub const RETURN_DAMAGED: &str = "damaged";
pub const RETURN_EXCEPTION: &str = "exception";
pub const RETURN_STATUSES: [&str; 8] = [
    RETURN_REQUESTED,
    RETURN_LABEL_BUYING,
    RETURN_LABEL_BOUGHT,
    RETURN_IN_TRANSIT,
    RETURN_DELIVERED,
    RETURN_RESTOCKED,
    RETURN_DAMAGED,
    RETURN_EXCEPTION,
];

/// The reason codes a return line may give.
pub const RETURN_REASONS: [&str; 5] = [
    "damaged",
    "wrong_item",
    "not_as_described",
    "no_longer_needed",
    "other",
];

pub const REFUND_NONE: &str = "none";
pub const REFUND_PENDING: &str = "pending";
pub const REFUND_REFUNDED: &str = "refunded";
pub const REFUND_DECLINED: &str = "declined";
pub const REFUND_STATUSES: [&str; 4] = [
    REFUND_NONE,
    REFUND_PENDING,
    REFUND_REFUNDED,
    REFUND_DECLINED,
];

pub const CONDITION_RESTOCK: &str = "restock";
pub const CONDITION_DAMAGED: &str = "damaged";

pub const EVENT_RETURN_REQUESTED: &str = "return_requested";
pub const EVENT_RETURN_LABEL_BOUGHT: &str = "return_label_bought";
pub const EVENT_RETURN_IN_TRANSIT: &str = "return_in_transit";
pub const EVENT_RETURN_DELIVERED: &str = "return_delivered";
pub const EVENT_RETURN_RECEIVED: &str = "return_received";
pub const EVENT_RETURN_RESTOCKED: &str = "return_restocked";
pub const EVENT_RETURN_REFUNDED: &str = "return_refunded";
pub const EVENT_RETURN_REFUND_UPDATED: &str = "return_refund_updated";
pub const EVENT_RETURN_EXCEPTION: &str = "return_exception";

/// The most lines one return takes, and the longest texts.
pub const RETURN_MAX_LINES: usize = 100;
pub const RETURN_TEXT_MAX_CHARS: usize = 500;

/// One line of a return request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewReturnLine {
    pub sku: String,
    pub quantity: i64,
    pub reason_code: String,
    pub reason_text: Option<String>,
}

/// A return request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NewReturn {
    pub lines: Vec<NewReturnLine>,
    pub reason: Option<String>,
    /// Who asked (`api`, `cli`, a staff name).
    pub created_by: String,
}

/// One line of a receipt: units of a sku and their condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptLine {
    pub sku: String,
    pub quantity: i64,
    /// [`CONDITION_RESTOCK`] or [`CONDITION_DAMAGED`].
    pub condition: String,
}

/// Why a return step was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReturnRefusal {
    /// No such order or return (or another seller's): 404.
    NotFound,
    /// The request itself is wrong (the message says what): 400/422.
    Invalid(String),
    /// The state does not allow it (not delivered, more than shipped,
    /// already received): 409.
    Conflict(String),
}

/// A return line as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReturnLineView {
    pub sku: String,
    pub quantity: i64,
    pub reason_code: String,
    pub reason_text: Option<String>,
    /// Units put back on hand at receipt.
    pub restocked: i64,
    /// Units received damaged (not restocked).
    pub damaged: i64,
}

/// The return label, once a carrier shipment was chosen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReturnLabelView {
    pub carrier_account: Option<String>,
    pub carrier: Option<String>,
    pub service: Option<String>,
    /// Exact decimal text.
    pub amount: Option<String>,
    pub currency: Option<String>,
    pub tracking_code: Option<String>,
    pub tracking_url: Option<String>,
    pub label_url: Option<String>,
    pub tracking_status: Option<String>,
    pub bought_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// The refund as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RefundView {
    pub status: String,
    /// Exact decimal text.
    pub amount: Option<String>,
    pub currency: Option<String>,
    pub at: Option<chrono::DateTime<chrono::Utc>>,
}

/// A return as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReturnView {
    pub id: i64,
    pub rma: String,
    pub order_id: i64,
    pub seller_id: String,
    pub warehouse_id: String,
    pub status: String,
    pub reason: Option<String>,
    pub created_by: String,
    pub lines: Vec<ReturnLineView>,
    pub label: Option<ReturnLabelView>,
    pub refund: RefundView,
    pub exception_reason: Option<String>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
    pub received_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// Which returns to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReturnFilter {
    pub seller: Option<String>,
    pub status: Option<String>,
    pub order_id: Option<i64>,
    pub limit: u64,
}

/// The return's carrier shipment and chosen rate, stored before the purchase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReturnCarrierShipment {
    pub carrier_account: String,
    pub carrier_shipment_id: String,
    pub rate_id: String,
    pub carrier: String,
    pub service: String,
    pub amount: Decimal,
    pub currency: String,
}

/// A bought return label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReturnLabelRecord {
    pub carrier: String,
    pub service: String,
    pub amount: Decimal,
    pub currency: String,
    pub tracking_code: String,
    pub tracking_url: Option<String>,
    pub label_url: String,
    pub label_id: String,
}

/// What a tracking event did to a return.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReturnTrackingOutcome {
    /// No return of this carrier account has that tracking code.
    Unknown,
    /// The return's tracking was recorded; `moved_to` is its new status if
    /// the event moved it.
    Applied {
        return_id: i64,
        moved_to: Option<String>,
    },
}

/// The return KPIs of the orders a [`KpiQuery`] selects.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct ReturnKpis {
    /// Returns of these orders.
    pub returns: u64,
    /// Of the delivered orders, those with at least one return.
    pub return_rate: super::Share,
    /// Returns by status (every status, zeros included).
    pub by_status: BTreeMap<String, u64>,
    /// Units returned by reason code (every code, zeros included).
    pub units_by_reason: BTreeMap<String, i64>,
    pub units_returned: i64,
    pub units_restocked: i64,
    pub units_damaged: i64,
    /// Currency → exact decimal sum of refunds recorded as `refunded`.
    pub refunded: BTreeMap<String, String>,
    /// Currency → exact decimal sum of refunds recorded as `pending`.
    pub refunds_pending: BTreeMap<String, String>,
}

impl Default for super::Share {
    fn default() -> Self {
        super::share(0, 0)
    }
}

/// Check and normalize a return request (codes, quantities, texts).
pub fn check_new_return(req: &NewReturn) -> Result<BTreeMap<String, NewReturnLine>, String> {
    if req.lines.is_empty() {
        return Err("a return needs at least one line".into());
    }
    if req.lines.len() > RETURN_MAX_LINES {
        return Err(format!("at most {RETURN_MAX_LINES} lines"));
    }
    check_text("reason", req.reason.as_deref())?;
    let mut by_sku: BTreeMap<String, NewReturnLine> = BTreeMap::new();
    for (i, l) in req.lines.iter().enumerate() {
        let sku = l.sku.trim();
        if sku.is_empty() || sku.chars().count() > 200 || sku.chars().any(char::is_control) {
            return Err(format!(
                "lines[{i}].sku must be 1 to 200 characters without control characters"
            ));
        }
        if l.quantity < 1 || l.quantity > 1_000_000 {
            return Err(format!("lines[{i}].quantity must be 1 to 1000000"));
        }
        if !RETURN_REASONS.contains(&l.reason_code.as_str()) {
            return Err(format!(
                "lines[{i}].reason must be one of {}",
                RETURN_REASONS.join(", ")
            ));
        }
        check_text(&format!("lines[{i}].note"), l.reason_text.as_deref())?;
        match by_sku.get_mut(sku) {
            Some(prev) if prev.reason_code == l.reason_code => prev.quantity += l.quantity,
            Some(_) => return Err(format!("sku `{sku}` is given twice with different reasons")),
            None => {
                by_sku.insert(
                    sku.to_string(),
                    NewReturnLine {
                        sku: sku.to_string(),
                        quantity: l.quantity,
                        reason_code: l.reason_code.clone(),
                        reason_text: l
                            .reason_text
                            .as_deref()
                            .map(str::trim)
                            .filter(|t| !t.is_empty())
                            .map(str::to_string),
                    },
                );
            }
        }
    }
    Ok(by_sku)
}

fn check_text(name: &str, t: Option<&str>) -> Result<(), String> {
    if let Some(t) = t {
        if t.chars().count() > RETURN_TEXT_MAX_CHARS || t.contains('\0') {
            return Err(format!(
                "{name} must be at most {RETURN_TEXT_MAX_CHARS} characters, without NUL"
            ));
        }
    }
    Ok(())
}

/// Parse `SKU:QTY:WORD` (the CLI's `--line`); the sku may itself hold `:`.
pub fn parse_line_spec(spec: &str) -> Result<(String, i64, String), String> {
    let mut parts = spec.rsplitn(3, ':');
    let word = parts.next().unwrap_or_default().trim().to_string();
    let qty = parts.next().unwrap_or_default().trim();
    let sku = parts.next().unwrap_or_default().trim().to_string();
    let qty: i64 = qty
        .parse()
        .map_err(|_| format!("`{spec}`: expected SKU:QUANTITY:WORD"))?;
    if sku.is_empty() || word.is_empty() {
        return Err(format!("`{spec}`: expected SKU:QUANTITY:WORD"));
    }
    Ok((sku, qty, word))
}

fn view(r: return_row::Model, lines: Vec<return_line::Model>) -> ReturnView {
    let label = r.carrier_account.is_some().then(|| ReturnLabelView {
        carrier_account: r.carrier_account.clone(),
        carrier: r.carrier.clone(),
        service: r.service.clone(),
        amount: r.label_amount.clone(),
        currency: r.label_currency.clone(),
        tracking_code: r.tracking_code.clone(),
        tracking_url: r.tracking_url.clone(),
        label_url: r.label_url.clone(),
        tracking_status: r.tracking_status.clone(),
        bought_at: r.label_bought_at,
    });
    ReturnView {
        id: r.id,
        rma: r.rma,
        order_id: r.order_id,
        seller_id: r.seller_id,
        warehouse_id: r.warehouse_id,
        status: r.status,
        reason: r.reason,
        created_by: r.created_by,
        lines: lines
            .into_iter()
            .map(|l| ReturnLineView {
                sku: l.sku,
                quantity: l.quantity,
                reason_code: l.reason_code,
                reason_text: l.reason_text,
                restocked: l.restocked,
                damaged: l.damaged,
            })
            .collect(),
        label,
        refund: RefundView {
            status: r.refund_status,
            amount: r.refund_amount,
            currency: r.refund_currency,
            at: r.refunded_at,
        },
        exception_reason: r.exception_reason,
        created_at: r.created_at,
        updated_at: r.updated_at,
        received_at: r.received_at,
    }
}

/// What can be returned of an order: per sku, the units delivered, the
/// warehouse they came from, and the units already in returns.
#[derive(Debug, Clone, Default)]
struct Returnable {
    shipped: i64,
    warehouse: Option<String>,
    returned: i64,
}

impl Store {
    /// Create a return for lines of a delivered order. `seller`: the
    /// caller's scope (another seller's order is [`ReturnRefusal::NotFound`]).
    pub async fn create_return(
        &self,
        order_id: i64,
        seller: Option<&str>,
        req: &NewReturn,
    ) -> Result<Result<ReturnView, ReturnRefusal>, DbErr> {
        let lines = match check_new_return(req) {
            Ok(l) => l,
            Err(e) => return Ok(Err(ReturnRefusal::Invalid(e))),
        };
        let tx = self.begin_write().await?;
        // The order row locked (PostgreSQL) while quantities are checked:
        // concurrent requests for the same order queue here.
        let Some(o) = order::Entity::find_by_id(order_id)
            .lock_exclusive()
            .one(&tx)
            .await?
        else {
            tx.rollback().await?;
            return Ok(Err(ReturnRefusal::NotFound));
        };
        if seller.is_some_and(|s| s != o.seller_id) {
            tx.rollback().await?;
            return Ok(Err(ReturnRefusal::NotFound));
        }
        let ships = shipment::Entity::find()
            .filter(shipment::Column::OrderId.eq(order_id))
            .order_by_asc(shipment::Column::Id)
            .all(&tx)
            .await?;
        let delivered: Vec<&shipment::Model> = ships
            .iter()
            .filter(|s| s.tracking_status == TrackingStatus::Delivered.as_str())
            .collect();
        let order_delivered = o.status == OrderStatus::Delivered.as_str();
        if delivered.is_empty() && !order_delivered {
            tx.rollback().await?;
            return Ok(Err(ReturnRefusal::Conflict(format!(
                "order {order_id} is `{}`: only delivered lines can be returned",
                o.status
            ))));
        }
        let mut can: BTreeMap<String, Returnable> = BTreeMap::new();
        // Units delivered: the reservations of the delivered shipments (or,
        // for an order delivered by other means, of all its shipments).
        let counted: Vec<i64> = if delivered.is_empty() {
            ships.iter().map(|s| s.id).collect()
        } else {
            delivered.iter().map(|s| s.id).collect()
        };
        if !counted.is_empty() {
            let res = reservation::Entity::find()
                .filter(reservation::Column::ShipmentId.is_in(counted.clone()))
                .order_by_asc(reservation::Column::Id)
                .all(&tx)
                .await?;
            for r in res {
                let e = can.entry(r.sku.clone()).or_default();
                e.shipped += r.quantity;
                e.warehouse.get_or_insert(r.warehouse_id.clone());
            }
        }
        if can.is_empty() && order_delivered {
            // No reservations (labels recorded by hand): the order's lines,
            // back to the warehouse of its first shipment.
            let wh = ships.first().map(|s| s.warehouse_id.clone());
            let ol = super::entities::order_line::Entity::find()
                .filter(super::entities::order_line::Column::OrderId.eq(order_id))
                .all(&tx)
                .await?;
            for l in ol {
                if let Some(sku) = l.sku {
                    let e = can.entry(sku).or_default();
                    e.shipped += l.quantity as i64;
                    if e.warehouse.is_none() {
                        e.warehouse = wh.clone();
                    }
                }
            }
        }
        let earlier: Vec<i64> = return_row::Entity::find()
            .filter(return_row::Column::OrderId.eq(order_id))
            .select_only()
            .column(return_row::Column::Id)
            .into_tuple()
            .all(&tx)
            .await?;
        if !earlier.is_empty() {
            for l in return_line::Entity::find()
                .filter(return_line::Column::ReturnId.is_in(earlier))
                .all(&tx)
                .await?
            {
                can.entry(l.sku).or_default().returned += l.quantity;
            }
        }
        let mut warehouse: Option<String> = None;
        for (sku, l) in &lines {
            let c = can.get(sku).cloned().unwrap_or_default();
            if c.shipped == 0 {
                tx.rollback().await?;
                return Ok(Err(ReturnRefusal::Conflict(format!(
                    "sku `{sku}` was not delivered with order {order_id}"
                ))));
            }
            let left = c.shipped - c.returned;
            if l.quantity > left {
                tx.rollback().await?;
                return Ok(Err(ReturnRefusal::Conflict(format!(
                    "sku `{sku}`: {} asked, but {} delivered and {} already returned ({left} returnable)",
                    l.quantity, c.shipped, c.returned
                ))));
            }
            if warehouse.is_none() {
                warehouse = c.warehouse.clone();
            }
        }
        let Some(warehouse) = warehouse else {
            tx.rollback().await?;
            return Ok(Err(ReturnRefusal::Conflict(
                "no warehouse shipped these lines".into(),
            )));
        };
        let at = now();
        // Unique until the id is known (the order row is locked meanwhile).
        let temp = format!(
            "pending-{order_id}-{}",
            at.timestamp_nanos_opt().unwrap_or_default()
        );
        let row = return_row::Entity::insert(return_row::ActiveModel {
            id: NotSet,
            order_id: Set(order_id),
            seller_id: Set(o.seller_id.clone()),
            warehouse_id: Set(warehouse.clone()),
            rma: Set(temp.clone()),
            status: Set(RETURN_REQUESTED.into()),
            reason: Set(req
                .reason
                .as_deref()
                .map(str::trim)
                .filter(|r| !r.is_empty())
                .map(str::to_string)),
            created_by: Set(req.created_by.clone()),
            carrier_account: Set(None),
            carrier_shipment_id: Set(None),
            rate_id: Set(None),
            idempotency_key: Set(temp),
            buy_attempts: Set(0),
            carrier: Set(None),
            service: Set(None),
            label_amount: Set(None),
            label_currency: Set(None),
            tracking_code: Set(None),
            tracking_url: Set(None),
            label_url: Set(None),
            label_id: Set(None),
            tracking_status: Set(None),
            exception_reason: Set(None),
            refund_status: Set(REFUND_NONE.into()),
            refund_amount: Set(None),
            refund_currency: Set(None),
            created_at: Set(at),
            updated_at: Set(at),
            label_bought_at: Set(None),
            received_at: Set(None),
            refunded_at: Set(None),
        })
        .exec_with_returning(&tx)
        .await?;
        let id = row.id;
        let rma = format!("RMA-{id:06}");
        return_row::Entity::update_many()
            .col_expr(return_row::Column::Rma, Expr::value(rma.clone()))
            .col_expr(
                return_row::Column::IdempotencyKey,
                Expr::value(format!("orderhub-return-{id}")),
            )
            .filter(return_row::Column::Id.eq(id))
            .exec(&tx)
            .await?;
        return_line::Entity::insert_many(lines.values().map(|l| return_line::ActiveModel {
            id: NotSet,
            return_id: Set(id),
            sku: Set(l.sku.clone()),
            quantity: Set(l.quantity),
            reason_code: Set(l.reason_code.clone()),
            reason_text: Set(l.reason_text.clone()),
            restocked: Set(0),
            damaged: Set(0),
        }))
        .exec_without_returning(&tx)
        .await?;
        let detail = json!({
            "return_id": id,
            "rma": rma,
            "warehouse": warehouse,
            "lines": lines.values().map(|l| json!({"sku": l.sku, "quantity": l.quantity, "reason": l.reason_code})).collect::<Vec<_>>(),
        });
        events::record(
            &tx,
            order_id,
            EVENT_RETURN_REQUESTED,
            &actor_of(&req.created_by),
            detail,
        )
        .await?;
        tx.commit().await?;
        tracing::info!(return_id = id, order_id, rma = %rma, "return requested");
        Ok(self.get_return(id).await?.ok_or(ReturnRefusal::NotFound))
    }

    /// One return (any seller's; scope it with [`ReturnView::seller_id`]).
    pub async fn get_return(&self, id: i64) -> Result<Option<ReturnView>, DbErr> {
        let Some(r) = return_row::Entity::find_by_id(id).one(self.db()).await? else {
            return Ok(None);
        };
        let lines = return_line::Entity::find()
            .filter(return_line::Column::ReturnId.eq(id))
            .order_by_asc(return_line::Column::Id)
            .all(self.db())
            .await?;
        Ok(Some(view(r, lines)))
    }

    /// The stored row of a return.
    pub async fn return_row(&self, id: i64) -> Result<Option<return_row::Model>, DbErr> {
        return_row::Entity::find_by_id(id).one(self.db()).await
    }

    /// Returns, newest first.
    pub async fn list_returns(&self, f: &ReturnFilter) -> Result<Vec<ReturnView>, DbErr> {
        let mut q = return_row::Entity::find()
            .order_by_desc(return_row::Column::Id)
            .limit(f.limit.clamp(1, 500));
        if let Some(s) = &f.seller {
            q = q.filter(return_row::Column::SellerId.eq(s.as_str()));
        }
        if let Some(s) = &f.status {
            q = q.filter(return_row::Column::Status.eq(s.as_str()));
        }
        if let Some(o) = f.order_id {
            q = q.filter(return_row::Column::OrderId.eq(o));
        }
        let rows = q.all(self.db()).await?;
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let mut lines: BTreeMap<i64, Vec<return_line::Model>> = BTreeMap::new();
        for l in return_line::Entity::find()
            .filter(return_line::Column::ReturnId.is_in(rows.iter().map(|r| r.id)))
            .order_by_asc(return_line::Column::Id)
            .all(self.db())
            .await?
        {
            lines.entry(l.return_id).or_default().push(l);
        }
        Ok(rows
            .into_iter()
            .map(|r| {
                let ls = lines.remove(&r.id).unwrap_or_default();
                view(r, ls)
            })
            .collect())
    }

    /// Ask for the return label: from `exception`, back to where the
    /// purchase stopped (`label_buying` when a carrier shipment is stored,
    /// else `requested`). `Err` when the return is past its label.
    pub async fn prepare_return_label(
        &self,
        id: i64,
    ) -> Result<Result<return_row::Model, ReturnRefusal>, DbErr> {
        let Some(r) = self.return_row(id).await? else {
            return Ok(Err(ReturnRefusal::NotFound));
        };
        match r.status.as_str() {
            RETURN_REQUESTED | RETURN_LABEL_BUYING | RETURN_LABEL_BOUGHT => Ok(Ok(r)),
            RETURN_EXCEPTION => {
                let back = if r.carrier_shipment_id.is_some() {
                    RETURN_LABEL_BUYING
                } else {
                    RETURN_REQUESTED
                };
                return_row::Entity::update_many()
                    .col_expr(return_row::Column::Status, Expr::value(back))
                    .col_expr(
                        return_row::Column::ExceptionReason,
                        Expr::value(Option::<String>::None),
                    )
                    .col_expr(return_row::Column::UpdatedAt, Expr::value(now()))
                    .filter(return_row::Column::Id.eq(id))
                    .filter(return_row::Column::Status.eq(RETURN_EXCEPTION))
                    .exec(self.db())
                    .await?;
                Ok(self.return_row(id).await?.ok_or(ReturnRefusal::NotFound))
            }
            other => Ok(Err(ReturnRefusal::Conflict(format!(
                "return {id} is `{other}`: its label can no longer be bought"
            )))),
        }
    }

    /// `requested → label_buying`: the carrier's return shipment and the
    /// rate to buy, committed before any purchase. `false` when another run
    /// stored its own first (that one counts; ours is never bought).
    pub async fn record_return_carrier_shipment(
        &self,
        id: i64,
        c: &ReturnCarrierShipment,
    ) -> Result<bool, DbErr> {
        let res = return_row::Entity::update_many()
            .col_expr(return_row::Column::Status, Expr::value(RETURN_LABEL_BUYING))
            .col_expr(
                return_row::Column::CarrierAccount,
                Expr::value(c.carrier_account.clone()),
            )
            .col_expr(
                return_row::Column::CarrierShipmentId,
                Expr::value(c.carrier_shipment_id.clone()),
            )
            .col_expr(return_row::Column::RateId, Expr::value(c.rate_id.clone()))
            .col_expr(return_row::Column::Carrier, Expr::value(c.carrier.clone()))
            .col_expr(return_row::Column::Service, Expr::value(c.service.clone()))
            .col_expr(
                return_row::Column::LabelAmount,
                Expr::value(c.amount.normalize().to_string()),
            )
            .col_expr(
                return_row::Column::LabelCurrency,
                Expr::value(c.currency.to_ascii_uppercase()),
            )
            .col_expr(return_row::Column::UpdatedAt, Expr::value(now()))
            .filter(return_row::Column::Id.eq(id))
            .filter(return_row::Column::Status.eq(RETURN_REQUESTED))
            .filter(return_row::Column::CarrierShipmentId.is_null())
            .exec(self.db())
            .await?;
        Ok(res.rows_affected == 1)
    }

    /// Count a purchase attempt before the carrier is asked to buy.
    pub async fn count_return_buy_attempt(&self, id: i64) -> Result<(), DbErr> {
        return_row::Entity::update_many()
            .col_expr(
                return_row::Column::BuyAttempts,
                Expr::col(return_row::Column::BuyAttempts).add(1),
            )
            .filter(return_row::Column::Id.eq(id))
            .exec(self.db())
            .await?;
        Ok(())
    }

    /// `label_buying → label_bought` with the label, and its timeline event.
    /// `false` when it was already recorded.
    pub async fn record_return_label(&self, id: i64, l: &ReturnLabelRecord) -> Result<bool, DbErr> {
        let tx = self.begin_write().await?;
        let at = now();
        let res = return_row::Entity::update_many()
            .col_expr(return_row::Column::Status, Expr::value(RETURN_LABEL_BOUGHT))
            .col_expr(return_row::Column::Carrier, Expr::value(l.carrier.clone()))
            .col_expr(return_row::Column::Service, Expr::value(l.service.clone()))
            .col_expr(
                return_row::Column::LabelAmount,
                Expr::value(l.amount.normalize().to_string()),
            )
            .col_expr(
                return_row::Column::LabelCurrency,
                Expr::value(l.currency.to_ascii_uppercase()),
            )
            .col_expr(
                return_row::Column::TrackingCode,
                Expr::value(l.tracking_code.clone()),
            )
            .col_expr(
                return_row::Column::TrackingUrl,
                Expr::value(l.tracking_url.clone()),
            )
            .col_expr(
                return_row::Column::LabelUrl,
                Expr::value(l.label_url.clone()),
            )
            .col_expr(return_row::Column::LabelId, Expr::value(l.label_id.clone()))
            .col_expr(
                return_row::Column::TrackingStatus,
                Expr::value(TrackingStatus::PreTransit.as_str()),
            )
            .col_expr(return_row::Column::LabelBoughtAt, Expr::value(Some(at)))
            .col_expr(return_row::Column::UpdatedAt, Expr::value(at))
            .filter(return_row::Column::Id.eq(id))
            .filter(return_row::Column::Status.eq(RETURN_LABEL_BUYING))
            .exec(&tx)
            .await?;
        if res.rows_affected != 1 {
            tx.rollback().await?;
            return Ok(false);
        }
        let r = return_row::Entity::find_by_id(id)
            .one(&tx)
            .await?
            .ok_or_else(|| DbErr::RecordNotFound(format!("return {id}")))?;
        events::record(
            &tx,
            r.order_id,
            EVENT_RETURN_LABEL_BOUGHT,
            events::ACTOR_SYSTEM,
            json!({
                "return_id": id,
                "rma": r.rma,
                "carrier_account": r.carrier_account,
                "carrier": l.carrier,
                "service": l.service,
                "tracking_code": l.tracking_code,
                "amount": l.amount.normalize().to_string(),
                "currency": l.currency.to_ascii_uppercase(),
            }),
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// A return label that cannot be bought: `exception` with the reason
    /// (from `requested` or `label_buying`), on the timeline.
    pub async fn return_exception(&self, id: i64, reason: &str) -> Result<bool, DbErr> {
        let tx = self.begin_write().await?;
        let res = return_row::Entity::update_many()
            .col_expr(return_row::Column::Status, Expr::value(RETURN_EXCEPTION))
            .col_expr(
                return_row::Column::ExceptionReason,
                Expr::value(reason.to_string()),
            )
            .col_expr(return_row::Column::UpdatedAt, Expr::value(now()))
            .filter(return_row::Column::Id.eq(id))
            .filter(return_row::Column::Status.is_in([RETURN_REQUESTED, RETURN_LABEL_BUYING]))
            .exec(&tx)
            .await?;
        if res.rows_affected != 1 {
            tx.rollback().await?;
            return Ok(false);
        }
        if let Some(r) = return_row::Entity::find_by_id(id).one(&tx).await? {
            events::record(
                &tx,
                r.order_id,
                EVENT_RETURN_EXCEPTION,
                events::ACTOR_SYSTEM,
                json!({"return_id": id, "rma": r.rma, "reason": reason}),
            )
            .await?;
        }
        tx.commit().await?;
        tracing::warn!(return_id = id, reason = %reason, "return label not bought");
        Ok(true)
    }

    /// A carrier tracking event for a return label (found by the carrier's
    /// shipment id or the tracking code): the tracking status moves forward
    /// only; in transit moves `label_bought` to `in_transit`, delivered
    /// moves `label_bought`/`in_transit` to `delivered`.
    pub async fn apply_return_tracking(
        &self,
        carrier_account: &str,
        update: &TrackingUpdate,
    ) -> Result<ReturnTrackingOutcome, DbErr> {
        let mut by = Condition::any()
            .add(return_row::Column::TrackingCode.eq(update.tracking_code.as_str()));
        if let Some(cs) = &update.carrier_shipment_id {
            by = by.add(return_row::Column::CarrierShipmentId.eq(cs.as_str()));
        }
        let tx = self.begin_write().await?;
        let Some(r) = return_row::Entity::find()
            .filter(return_row::Column::CarrierAccount.eq(carrier_account))
            .filter(by)
            .order_by_asc(return_row::Column::Id)
            .one(&tx)
            .await?
        else {
            tx.rollback().await?;
            return Ok(ReturnTrackingOutcome::Unknown);
        };
        let current = r
            .tracking_status
            .as_deref()
            .and_then(|s| TrackingStatus::from_str(s).ok())
            .unwrap_or(TrackingStatus::Unknown);
        if !current.can_advance_to(update.status) {
            tx.rollback().await?;
            return Ok(ReturnTrackingOutcome::Applied {
                return_id: r.id,
                moved_to: None,
            });
        }
        let target = match update.status {
            TrackingStatus::InTransit
            | TrackingStatus::OutForDelivery
            | TrackingStatus::AvailableForPickup => Some((
                RETURN_IN_TRANSIT,
                EVENT_RETURN_IN_TRANSIT,
                &[RETURN_LABEL_BOUGHT][..],
            )),
            TrackingStatus::Delivered => Some((
                RETURN_DELIVERED,
                EVENT_RETURN_DELIVERED,
                &[RETURN_LABEL_BOUGHT, RETURN_IN_TRANSIT][..],
            )),
            _ => None,
        };
        let at = now();
        return_row::Entity::update_many()
            .col_expr(
                return_row::Column::TrackingStatus,
                Expr::value(update.status.as_str()),
            )
            .col_expr(return_row::Column::UpdatedAt, Expr::value(at))
            .filter(return_row::Column::Id.eq(r.id))
            .exec(&tx)
            .await?;
        let mut moved_to = None;
        if let Some((to, kind, from)) = target {
            let res = return_row::Entity::update_many()
                .col_expr(return_row::Column::Status, Expr::value(to))
                .filter(return_row::Column::Id.eq(r.id))
                .filter(return_row::Column::Status.is_in(from.iter().copied()))
                .exec(&tx)
                .await?;
            if res.rows_affected == 1 {
                events::record(
                    &tx,
                    r.order_id,
                    kind,
                    events::ACTOR_CARRIER,
                    json!({
                        "return_id": r.id,
                        "rma": r.rma,
                        "tracking_code": update.tracking_code,
                        "status": update.status.as_str(),
                    }),
                )
                .await?;
                moved_to = Some(to.to_string());
            }
        }
        tx.commit().await?;
        Ok(ReturnTrackingOutcome::Applied {
            return_id: r.id,
            moved_to,
        })
    }

    /// The warehouse received the return: each line's units restocked (back
    /// on hand at the return's warehouse, in the same transaction) or
    /// damaged (recorded only). The return ends `restocked` (some units went
    /// back on hand) or `damaged` (none did). Low-stock alerts are evaluated
    /// afterwards, as after any stock write.
    pub async fn receive_return(
        &self,
        id: i64,
        seller: Option<&str>,
        receipt: &[ReceiptLine],
        by: &str,
        settings: &InventorySettings,
    ) -> Result<Result<ReturnView, ReturnRefusal>, DbErr> {
        if receipt.is_empty() || receipt.len() > RETURN_MAX_LINES {
            return Ok(Err(ReturnRefusal::Invalid(format!(
                "a receipt needs 1 to {RETURN_MAX_LINES} lines"
            ))));
        }
        let tx = self.begin_write().await?;
        let Some(r) = return_row::Entity::find_by_id(id)
            .lock_exclusive()
            .one(&tx)
            .await?
        else {
            tx.rollback().await?;
            return Ok(Err(ReturnRefusal::NotFound));
        };
        if seller.is_some_and(|s| s != r.seller_id) {
            tx.rollback().await?;
            return Ok(Err(ReturnRefusal::NotFound));
        }
        if !matches!(
            r.status.as_str(),
            RETURN_REQUESTED
                | RETURN_LABEL_BOUGHT
                | RETURN_IN_TRANSIT
                | RETURN_DELIVERED
                | RETURN_EXCEPTION
        ) {
            tx.rollback().await?;
            let why = if r.status == RETURN_LABEL_BUYING {
                "its label purchase is in flight".to_string()
            } else {
                "it was already received".to_string()
            };
            return Ok(Err(ReturnRefusal::Conflict(format!(
                "return {id} is `{}`: {why}",
                r.status
            ))));
        }
        let lines = return_line::Entity::find()
            .filter(return_line::Column::ReturnId.eq(id))
            .order_by_asc(return_line::Column::Id)
            .all(&tx)
            .await?;
        let mut got: BTreeMap<String, (i64, i64)> = BTreeMap::new();
        for (i, l) in receipt.iter().enumerate() {
            let sku = l.sku.trim();
            let Some(line) = lines.iter().find(|x| x.sku == sku) else {
                tx.rollback().await?;
                return Ok(Err(ReturnRefusal::Invalid(format!(
                    "lines[{i}]: sku `{sku}` is not in return {id}"
                ))));
            };
            if l.quantity < 1 || l.quantity > line.quantity {
                tx.rollback().await?;
                return Ok(Err(ReturnRefusal::Invalid(format!(
                    "lines[{i}].quantity must be 1 to {}",
                    line.quantity
                ))));
            }
            let e = got.entry(sku.to_string()).or_default();
            match l.condition.as_str() {
                CONDITION_RESTOCK => e.0 += l.quantity,
                CONDITION_DAMAGED => e.1 += l.quantity,
                _ => {
                    tx.rollback().await?;
                    return Ok(Err(ReturnRefusal::Invalid(format!(
                        "lines[{i}].condition must be `restock` or `damaged`"
                    ))));
                }
            }
            if e.0 + e.1 > line.quantity {
                tx.rollback().await?;
                return Ok(Err(ReturnRefusal::Invalid(format!(
                    "sku `{sku}`: {} units received, but the return has {}",
                    e.0 + e.1,
                    line.quantity
                ))));
            }
        }
        let restocked: i64 = got.values().map(|v| v.0).sum();
        let damaged: i64 = got.values().map(|v| v.1).sum();
        let to = if restocked > 0 {
            RETURN_RESTOCKED
        } else {
            RETURN_DAMAGED
        };
        let at = now();
        let res = return_row::Entity::update_many()
            .col_expr(return_row::Column::Status, Expr::value(to))
            .col_expr(return_row::Column::ReceivedAt, Expr::value(Some(at)))
            .col_expr(return_row::Column::UpdatedAt, Expr::value(at))
            .filter(return_row::Column::Id.eq(id))
            .filter(return_row::Column::Status.eq(r.status.clone()))
            .exec(&tx)
            .await?;
        if res.rows_affected != 1 {
            tx.rollback().await?;
            return Ok(Err(ReturnRefusal::Conflict(format!(
                "return {id} changed meanwhile; ask again"
            ))));
        }
        for line in &lines {
            let (rs, dm) = got.get(&line.sku).copied().unwrap_or_default();
            return_line::Entity::update_many()
                .col_expr(return_line::Column::Restocked, Expr::value(rs))
                .col_expr(return_line::Column::Damaged, Expr::value(dm))
                .filter(return_line::Column::Id.eq(line.id))
                .exec(&tx)
                .await?;
            if rs > 0 {
                stock::Entity::insert(stock::ActiveModel {
                    warehouse_id: Set(r.warehouse_id.clone()),
                    sku: Set(line.sku.clone()),
                    on_hand: Set(rs),
                    reserved: Set(0),
                    safety: NotSet,
                })
                .on_conflict(
                    OnConflict::columns([stock::Column::WarehouseId, stock::Column::Sku])
                        .value(
                            stock::Column::OnHand,
                            Expr::col((stock::Entity, stock::Column::OnHand)).add(rs),
                        )
                        .to_owned(),
                )
                .exec_without_returning(&tx)
                .await?;
            }
        }
        let actor = actor_of(by);
        let received: Vec<serde_json::Value> = got
            .iter()
            .map(|(sku, (rs, dm))| json!({"sku": sku, "restocked": rs, "damaged": dm}))
            .collect();
        let mut evs = vec![(
            EVENT_RETURN_RECEIVED,
            actor.as_str(),
            json!({
                "return_id": id,
                "rma": r.rma,
                "warehouse": r.warehouse_id,
                "restocked": restocked,
                "damaged": damaged,
                "lines": received,
            }),
        )];
        if restocked > 0 {
            evs.push((
                EVENT_RETURN_RESTOCKED,
                actor.as_str(),
                json!({
                    "return_id": id,
                    "rma": r.rma,
                    "warehouse": r.warehouse_id,
                    "units": restocked,
                    "lines": got.iter().filter(|(_, v)| v.0 > 0).map(|(sku, v)| json!({"sku": sku, "quantity": v.0})).collect::<Vec<_>>(),
                }),
            ));
        }
        events::record_many(&tx, r.order_id, &evs).await?;
        tx.commit().await?;
        tracing::info!(return_id = id, restocked, damaged, warehouse = %r.warehouse_id, "return received");
        if restocked > 0 {
            let skus: Vec<String> = got
                .iter()
                .filter(|(_, v)| v.0 > 0)
                .map(|(s, _)| s.clone())
                .collect();
            self.evaluate_stock_alerts(settings, &r.warehouse_id, Some(&skus))
                .await?;
        }
        Ok(self.get_return(id).await?.ok_or(ReturnRefusal::NotFound))
    }

    /// Record the refund (no money moves): `pending` and `refunded` need an
    /// amount (≥ 0, at most the order's total), in the order's currency.
    /// A refund recorded as `refunded` is final.
    pub async fn record_refund(
        &self,
        id: i64,
        seller: Option<&str>,
        status: &str,
        amount: Option<&str>,
        by: &str,
    ) -> Result<Result<ReturnView, ReturnRefusal>, DbErr> {
        if !REFUND_STATUSES.contains(&status) {
            return Ok(Err(ReturnRefusal::Invalid(format!(
                "status must be one of {}",
                REFUND_STATUSES.join(", ")
            ))));
        }
        let amount = match amount.map(str::trim) {
            None | Some("") => None,
            Some(a) => match Decimal::from_str(a) {
                Ok(d) if d >= Decimal::ZERO && d.scale() <= 4 => Some(d),
                _ => {
                    return Ok(Err(ReturnRefusal::Invalid(
                        "amount must be a decimal number ≥ 0 with at most 4 decimals, as a string such as \"12.50\"".into(),
                    )))
                }
            },
        };
        if amount.is_none() && matches!(status, REFUND_PENDING | REFUND_REFUNDED) {
            return Ok(Err(ReturnRefusal::Invalid(format!(
                "a `{status}` refund needs an amount"
            ))));
        }
        let tx = self.begin_write().await?;
        let Some(r) = return_row::Entity::find_by_id(id)
            .lock_exclusive()
            .one(&tx)
            .await?
        else {
            tx.rollback().await?;
            return Ok(Err(ReturnRefusal::NotFound));
        };
        if seller.is_some_and(|s| s != r.seller_id) {
            tx.rollback().await?;
            return Ok(Err(ReturnRefusal::NotFound));
        }
        if r.refund_status == REFUND_REFUNDED {
            tx.rollback().await?;
            return Ok(Err(ReturnRefusal::Conflict(format!(
                "return {id} is already refunded"
            ))));
        }
        let Some(o) = order::Entity::find_by_id(r.order_id).one(&tx).await? else {
            tx.rollback().await?;
            return Ok(Err(ReturnRefusal::NotFound));
        };
        if let (Some(a), Ok(total)) = (amount, Decimal::from_str(&o.total)) {
            if a > total {
                tx.rollback().await?;
                return Ok(Err(ReturnRefusal::Invalid(format!(
                    "amount {a} is more than the order's total {total}"
                ))));
            }
        }
        let at = now();
        let amount_text = amount.map(|a| a.normalize().to_string());
        return_row::Entity::update_many()
            .col_expr(return_row::Column::RefundStatus, Expr::value(status))
            .col_expr(
                return_row::Column::RefundAmount,
                Expr::value(amount_text.clone()),
            )
            .col_expr(
                return_row::Column::RefundCurrency,
                Expr::value(amount.map(|_| o.currency.to_ascii_uppercase())),
            )
            .col_expr(
                return_row::Column::RefundedAt,
                Expr::value((status == REFUND_REFUNDED).then_some(at)),
            )
            .col_expr(return_row::Column::UpdatedAt, Expr::value(at))
            .filter(return_row::Column::Id.eq(id))
            .exec(&tx)
            .await?;
        let kind = if status == REFUND_REFUNDED {
            EVENT_RETURN_REFUNDED
        } else {
            EVENT_RETURN_REFUND_UPDATED
        };
        events::record(
            &tx,
            r.order_id,
            kind,
            &actor_of(by),
            json!({
                "return_id": id,
                "rma": r.rma,
                "status": status,
                "amount": amount_text,
                "currency": amount.map(|_| o.currency.to_ascii_uppercase()),
            }),
        )
        .await?;
        tx.commit().await?;
        Ok(self.get_return(id).await?.ok_or(ReturnRefusal::NotFound))
    }

    /// The return KPIs of the orders `q` selects (placed in the range, its
    /// channel and seller; with a warehouse filter, the returns to that
    /// warehouse). `delivered_orders` is the return rate's denominator.
    pub async fn return_kpis(
        &self,
        q: &KpiQuery,
        delivered_orders: u64,
    ) -> Result<ReturnKpis, DbErr> {
        let mut oq = order::Entity::find()
            .select_only()
            .column(order::Column::Id)
            .filter(order::Column::PlacedAt.gte(q.from))
            .filter(order::Column::PlacedAt.lt(q.to));
        if let Some(c) = &q.channel {
            oq = oq.filter(order::Column::ChannelId.eq(c.as_str()));
        }
        if let Some(s) = &q.seller {
            oq = oq.filter(order::Column::SellerId.eq(s.as_str()));
        }
        let mut rq = return_row::Entity::find()
            .filter(return_row::Column::OrderId.in_subquery(sea_orm::QueryTrait::into_query(oq)))
            .order_by_asc(return_row::Column::Id);
        if let Some(w) = &q.warehouse {
            rq = rq.filter(return_row::Column::WarehouseId.eq(w.as_str()));
        }
        let rows = rq.all(self.db()).await?;
        let mut k = ReturnKpis {
            returns: rows.len() as u64,
            by_status: RETURN_STATUSES.iter().map(|s| (s.to_string(), 0)).collect(),
            units_by_reason: RETURN_REASONS.iter().map(|s| (s.to_string(), 0)).collect(),
            ..Default::default()
        };
        let orders_with: std::collections::BTreeSet<i64> =
            rows.iter().map(|r| r.order_id).collect();
        let with = orders_with.len() as u64;
        k.return_rate = super::share(with, std::cmp::max(delivered_orders, with));
        let mut refunded: BTreeMap<String, Decimal> = BTreeMap::new();
        let mut pending: BTreeMap<String, Decimal> = BTreeMap::new();
        for r in &rows {
            *k.by_status.entry(r.status.clone()).or_default() += 1;
            let amount = r
                .refund_amount
                .as_deref()
                .and_then(|a| Decimal::from_str(a).ok());
            if let (Some(a), Some(c)) = (amount, r.refund_currency.clone()) {
                match r.refund_status.as_str() {
                    REFUND_REFUNDED => *refunded.entry(c).or_default() += a,
                    REFUND_PENDING => *pending.entry(c).or_default() += a,
                    _ => {}
                }
            }
        }
        if !rows.is_empty() {
            for l in return_line::Entity::find()
                .filter(return_line::Column::ReturnId.is_in(rows.iter().map(|r| r.id)))
                .all(self.db())
                .await?
            {
                *k.units_by_reason.entry(l.reason_code.clone()).or_default() += l.quantity;
                k.units_returned += l.quantity;
                k.units_restocked += l.restocked;
                k.units_damaged += l.damaged;
            }
        }
        k.refunded = refunded
            .into_iter()
            .map(|(c, a)| (c, a.normalize().to_string()))
            .collect();
        k.refunds_pending = pending
            .into_iter()
            .map(|(c, a)| (c, a.normalize().to_string()))
            .collect();
        Ok(k)
    }
}

/// `staff:<name>` for people, `system` for orderhub itself.
fn actor_of(by: &str) -> String {
    let by = by.trim();
    if by.is_empty() || by == events::ACTOR_SYSTEM {
        events::ACTOR_SYSTEM.to_string()
    } else {
        format!("staff:{by}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(sku: &str, q: i64, reason: &str) -> NewReturnLine {
        NewReturnLine {
            sku: sku.into(),
            quantity: q,
            reason_code: reason.into(),
            reason_text: None,
        }
    }

    #[test]
    fn requests_are_checked() {
        let ok = NewReturn {
            lines: vec![line("A", 1, "damaged"), line("A", 2, "damaged")],
            ..Default::default()
        };
        let l = check_new_return(&ok).unwrap();
        assert_eq!(l["A"].quantity, 3);
        for bad in [
            vec![],
            vec![line("A", 0, "damaged")],
            vec![line("A", 1, "because")],
            vec![line("", 1, "other")],
            vec![line("A", 1, "other"), line("A", 1, "damaged")],
        ] {
            let r = NewReturn {
                lines: bad.clone(),
                ..Default::default()
            };
            assert!(check_new_return(&r).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn line_specs_parse() {
        assert_eq!(
            parse_line_spec("SKU-001:2:damaged").unwrap(),
            ("SKU-001".into(), 2, "damaged".into())
        );
        assert_eq!(
            parse_line_spec("a:b:3:restock").unwrap(),
            ("a:b".into(), 3, "restock".into())
        );
        assert!(parse_line_spec("SKU:x:restock").is_err());
        assert!(parse_line_spec("SKU:1").is_err());
    }
}
