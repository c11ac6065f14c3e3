//! An order's timeline (`order_events`): append-only, one row per thing that
//! happened to the order, written where it happens.
//!
//! Each event is one INSERT in the same transaction as the guarded update it
//! reports, and only when that update applied: a job run twice or a replayed
//! webhook changes nothing, so it records nothing either. Where the caller
//! knows only the shipment, the INSERT takes the order id from the shipment
//! row (`INSERT … SELECT order_id FROM shipments WHERE id = ?`), no extra read.

use super::entities::{order, order_event, shipment};
use super::{now, Store};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
};
use serde::Serialize;

/// The order was first stored.
pub const EVENT_SYNCED: &str = "synced";
/// A newer version of the order was stored.
pub const EVENT_UPDATED: &str = "updated";
pub const EVENT_STATUS_CHANGED: &str = "status_changed";
pub const EVENT_ROUTED: &str = "routed";
pub const EVENT_RATE_CHOSEN: &str = "rate_chosen";
pub const EVENT_LABEL_BOUGHT: &str = "label_bought";
pub const EVENT_TRACKING_PUSHED: &str = "tracking_pushed";
/// The carrier moved a shipment's tracking status forward.
pub const EVENT_TRACKING: &str = "tracking_event";
pub const EVENT_EXCEPTION: &str = "exception";
pub const EVENT_VOIDED: &str = "voided";
/// A staff note (internal only).
pub const EVENT_NOTE: &str = "note";

pub const ACTOR_SYSTEM: &str = "system";
pub const ACTOR_CHANNEL: &str = "channel";
pub const ACTOR_CARRIER: &str = "carrier";

/// The longest note text, in characters.
pub const NOTE_MAX_CHARS: usize = 2000;
/// The longest note author, in characters.
pub const NOTE_AUTHOR_MAX_CHARS: usize = 100;

/// One step of an order's timeline, as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TimelineEntry {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub kind: String,
    pub actor: String,
    /// An object for system events; the note's text for notes.
    pub detail: serde_json::Value,
}

impl From<order_event::Model> for TimelineEntry {
    fn from(m: order_event::Model) -> TimelineEntry {
        let detail = match serde_json::from_str::<serde_json::Value>(&m.detail) {
            Ok(v @ serde_json::Value::Object(_)) if m.kind != EVENT_NOTE => v,
            _ => serde_json::Value::String(m.detail),
        };
        TimelineEntry {
            id: m.id,
            at: m.at,
            kind: m.kind,
            actor: m.actor,
            detail,
        }
    }
}

/// Why a note was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoteRefusal {
    /// The author or the text is empty, too long or holds NUL (the message
    /// says which).
    Invalid(String),
    NotFound,
}

/// Check a note's author and text: the author 1 to 100 characters, the text
/// 1 to 2000, neither blank nor holding NUL (or another control character
/// in the author).
pub fn check_note(author: &str, text: &str) -> Result<(), String> {
    let a = author.trim();
    if a.is_empty() || a.chars().count() > NOTE_AUTHOR_MAX_CHARS || a.chars().any(char::is_control)
    {
        return Err(format!(
            "author must be 1 to {NOTE_AUTHOR_MAX_CHARS} characters without control characters"
        ));
    }
    if text.trim().is_empty() || text.chars().count() > NOTE_MAX_CHARS || text.contains('\0') {
        return Err(format!(
            "text must be 1 to {NOTE_MAX_CHARS} characters, not blank, without NUL"
        ));
    }
    Ok(())
}

/// Append one event to an order's timeline: one INSERT.
pub(crate) async fn record<C: ConnectionTrait>(
    db: &C,
    order_id: i64,
    kind: &str,
    actor: &str,
    detail: serde_json::Value,
) -> Result<(), DbErr> {
    record_many(db, order_id, &[(kind, actor, detail)]).await
}

/// Append several events to one order's timeline, in this order: one INSERT.
pub(crate) async fn record_many<C: ConnectionTrait>(
    db: &C,
    order_id: i64,
    events: &[(&str, &str, serde_json::Value)],
) -> Result<(), DbErr> {
    if events.is_empty() {
        return Ok(());
    }
    let at = now();
    let rows = events
        .iter()
        .map(|(kind, actor, detail)| order_event::ActiveModel {
            order_id: Set(order_id),
            at: Set(at),
            kind: Set(kind.to_string()),
            actor: Set(actor.to_string()),
            detail: Set(detail.to_string()),
            ..Default::default()
        });
    order_event::Entity::insert_many(rows)
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// Append one event to the timeline of the order a shipment belongs to: one
/// `INSERT … SELECT order_id FROM shipments WHERE id = ?`.
pub(crate) async fn record_for_shipment<C: ConnectionTrait>(
    db: &C,
    shipment_id: i64,
    kind: &str,
    actor: &str,
    detail: serde_json::Value,
) -> Result<(), DbErr> {
    let select = Query::select()
        .column(shipment::Column::OrderId)
        .expr(Expr::val(now()))
        .expr(Expr::val(kind))
        .expr(Expr::val(actor))
        .expr(Expr::val(detail.to_string()))
        .from(shipment::Entity)
        .and_where(Expr::col(shipment::Column::Id).eq(shipment_id))
        .to_owned();
    let insert = Query::insert()
        .into_table(order_event::Entity)
        .columns([
            order_event::Column::OrderId,
            order_event::Column::At,
            order_event::Column::Kind,
            order_event::Column::Actor,
            order_event::Column::Detail,
        ])
        .select_from(select)
        .map_err(|e| DbErr::Custom(e.to_string()))?
        .to_owned();
    db.execute(&insert).await?;
    Ok(())
}

impl Store {
    /// An order's timeline, oldest first.
    pub async fn order_timeline(&self, order_id: i64) -> Result<Vec<TimelineEntry>, DbErr> {
        Ok(order_event::Entity::find()
            .filter(order_event::Column::OrderId.eq(order_id))
            .order_by_asc(order_event::Column::At)
            .order_by_asc(order_event::Column::Id)
            .all(&self.db)
            .await?
            .into_iter()
            .map(TimelineEntry::from)
            .collect())
    }

    /// A staff note on an order, kept as a `note` event by `staff:<author>`
    /// (the author trimmed). One `INSERT … SELECT … FROM orders WHERE id = ?
    /// RETURNING id`: an unknown order inserts nothing and is
    /// [`NoteRefusal::NotFound`].
    pub async fn add_note(
        &self,
        order_id: i64,
        author: &str,
        text: &str,
    ) -> Result<Result<TimelineEntry, NoteRefusal>, DbErr> {
        if let Err(e) = check_note(author, text) {
            return Ok(Err(NoteRefusal::Invalid(e)));
        }
        // Microseconds, as both backends keep it: the answer matches a later read.
        let at = chrono::SubsecRound::trunc_subsecs(now(), 6);
        let actor = format!("staff:{}", author.trim());
        let select = Query::select()
            .column(order::Column::Id)
            .expr(Expr::val(at))
            .expr(Expr::val(EVENT_NOTE))
            .expr(Expr::val(actor.clone()))
            .expr(Expr::val(text.to_string()))
            .from(order::Entity)
            .and_where(Expr::col(order::Column::Id).eq(order_id))
            .to_owned();
        let insert = Query::insert()
            .into_table(order_event::Entity)
            .columns([
                order_event::Column::OrderId,
                order_event::Column::At,
                order_event::Column::Kind,
                order_event::Column::Actor,
                order_event::Column::Detail,
            ])
            .select_from(select)
            .map_err(|e| DbErr::Custom(e.to_string()))?
            .returning_col(order_event::Column::Id)
            .to_owned();
        let Some(row) = self.db.query_one(&insert).await? else {
            return Ok(Err(NoteRefusal::NotFound));
        };
        let id: i64 = row.try_get_by_index(0)?;
        Ok(Ok(TimelineEntry {
            id,
            at,
            kind: EVENT_NOTE.into(),
            actor,
            detail: serde_json::Value::String(text.to_string()),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_are_checked() {
        assert!(check_note("ana", "called the customer").is_ok());
        assert!(check_note("", "x").is_err());
        assert!(check_note("  ", "x").is_err());
        assert!(check_note("ana", "").is_err());
        assert!(check_note("ana", "   ").is_err());
        assert!(check_note("ana", "a\0b").is_err());
        assert!(check_note("a\nb", "x").is_err());
        assert!(check_note("ana", &"é".repeat(2000)).is_ok());
        assert!(check_note("ana", &"é".repeat(2001)).is_err());
        assert!(check_note(&"a".repeat(101), "x").is_err());
    }
}
