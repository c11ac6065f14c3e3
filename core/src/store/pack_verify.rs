//! Scan-to-verify packing in the store: sku barcodes (unique per seller),
//! one pack session per shipment with its scans, the label gate, and the
//! packing numbers of the KPIs. The rules themselves are in
//! [`crate::pack_verify`].
//!
//! Writes to a session are guarded by its `version` (read, decide, write
//! `WHERE version = read`; a lost race reads again), so two scanners on the
//! same session never lose a scan.

use super::entities::{order, order_line, reservation, shipment, stock, warehouse};
use super::kpis::{share, KpiQuery, Share};
use super::{now, Store, SHIPMENT_BUYING, SHIPMENT_CANCELLED, SHIPMENT_CREATED, SHIPMENT_VOIDED};
use crate::pack_verify::{
    self as pv, ExpectedLine, Mismatches, ScanOutcome, SESSION_BLOCKED, SESSION_OPEN,
    SESSION_OVERRIDDEN, SESSION_VERIFIED,
};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect, SqlErr,
};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// The note a shipment carries while its label waits for verification
/// (keeps the sweep and `all_ready` batches off it until then).
pub const PACK_WAIT_NOTE: &str = "awaiting scan verification";

pub const BARCODE_SOURCES: [&str; 4] = ["channel", "config", "csv", "api"];

pub mod sku_barcode {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "sku_barcodes")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub seller_id: String,
        pub sku: String,
        pub barcode: String,
        pub source: String,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod pack_session {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "pack_sessions")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub shipment_id: i64,
        pub order_id: i64,
        pub seller_id: String,
        pub warehouse_id: String,
        pub channel_id: String,
        pub placed_at: DateTimeUtc,
        pub status: String,
        #[sea_orm(column_type = "Text")]
        pub expected: String,
        #[sea_orm(column_type = "Text")]
        pub scanned: String,
        pub wrong_items: i32,
        pub over_scans: i32,
        pub unknown_scans: i32,
        pub missing_units: i32,
        pub finishes: i32,
        #[sea_orm(column_type = "Text", nullable)]
        pub override_reason: Option<String>,
        pub override_author: Option<String>,
        pub computed_grams: Option<i64>,
        pub measured_grams: Option<i64>,
        pub rerated: bool,
        #[sea_orm(column_type = "Text", nullable)]
        pub weight_note: Option<String>,
        pub version: i64,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
        pub finished_at: Option<DateTimeUtc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod pack_scan {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "pack_scans")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub session_id: i64,
        pub barcode: String,
        pub sku: Option<String>,
        pub result: String,
        pub at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// A barcode of a sku.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BarcodeView {
    pub barcode: String,
    /// `channel`, `config`, `csv` or `api`.
    pub source: String,
    pub updated_at: DateTime<Utc>,
}

/// A barcode already belongs to another sku of the seller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BarcodeTaken {
    pub barcode: String,
    pub sku: String,
}

impl std::fmt::Display for BarcodeTaken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "barcode `{}` already belongs to sku `{}`",
            self.barcode, self.sku
        )
    }
}

/// Why a pack action was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PackRefusal {
    /// No such shipment or session, or another seller's (answered 404).
    NotFound,
    /// Not possible in the current state (answered 409), with why.
    Conflict(String),
}

/// One expected line with what was scanned of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PackLineView {
    pub sku: String,
    pub title: String,
    pub expected: u32,
    pub scanned: u32,
    pub missing: u32,
    pub barcodes: Vec<String>,
}

/// One scan of a session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PackScanView {
    pub barcode: String,
    pub sku: Option<String>,
    /// `ok`, `wrong_item`, `over_scan` or `unknown`.
    pub result: String,
    pub at: DateTime<Utc>,
}

/// A pack session as the API and the dashboard show it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PackSessionView {
    pub id: i64,
    pub shipment_id: i64,
    pub order_id: i64,
    pub order_number: Option<String>,
    pub seller_id: String,
    pub warehouse_id: String,
    /// `open`, `verified`, `blocked` or `overridden`.
    pub status: String,
    pub lines: Vec<PackLineView>,
    pub mismatches: Mismatches,
    pub finishes: u32,
    pub override_reason: Option<String>,
    pub override_author: Option<String>,
    pub computed_grams: Option<i64>,
    pub measured_grams: Option<i64>,
    pub rerated: bool,
    pub weight_note: Option<String>,
    /// Whether a label may be bought now (with the warehouse's setting).
    pub label_allowed: bool,
    /// Why not, when not.
    pub label_blocked_reason: Option<String>,
    /// The latest scans, newest first (at most 50).
    pub scans: Vec<PackScanView>,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// The packing numbers of the KPIs (`pack_verification`): over the pack
/// sessions of the orders the KPIs are over.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PackKpis {
    /// Of finished sessions (verified, blocked or overridden), those verified
    /// at the first Finish with no mismatch at all.
    pub accuracy: Share,
    pub sessions: u64,
    pub open: u64,
    pub verified: u64,
    pub blocked: u64,
    pub overridden: u64,
    /// Every mismatch, by kind.
    pub mismatches: Mismatches,
}

impl Default for PackKpis {
    fn default() -> Self {
        PackKpis {
            accuracy: share(0, 0),
            sessions: 0,
            open: 0,
            verified: 0,
            blocked: 0,
            overridden: 0,
            mismatches: Mismatches::default(),
        }
    }
}

/// The result of a scan.
#[derive(Debug, Clone, PartialEq)]
pub struct ScanRecorded {
    pub result: String,
    pub sku: Option<String>,
    pub session: PackSessionView,
}

/// The result of Finish.
#[derive(Debug, Clone, PartialEq)]
pub struct FinishRecorded {
    pub session: PackSessionView,
    /// The measured weight is beyond the tolerance: re-rate the shipment.
    pub rerate: bool,
}

fn mismatches_of(s: &pack_session::Model) -> Mismatches {
    Mismatches {
        wrong_item: s.wrong_items.max(0) as u64,
        over_scan: s.over_scans.max(0) as u64,
        unknown: s.unknown_scans.max(0) as u64,
        missing_unit: s.missing_units.max(0) as u64,
    }
}

fn expected_of(s: &pack_session::Model) -> Vec<ExpectedLine> {
    serde_json::from_str(&s.expected).unwrap_or_default()
}

fn scanned_of(s: &pack_session::Model) -> BTreeMap<String, u32> {
    serde_json::from_str(&s.scanned).unwrap_or_default()
}

fn is_unique_violation(e: &DbErr) -> bool {
    matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
}

/// Whether a label may be bought for a shipment with session `s`.
pub fn gate_of(s: Option<&pack_session::Model>, required: bool) -> Result<(), String> {
    let m = s.map(mismatches_of);
    pv::label_gate(s.map(|s| s.status.as_str()).zip(m.as_ref()), required)
}

impl Store {
    // ---- sku barcodes ----

    /// The barcodes of a seller's sku, oldest first.
    pub async fn sku_barcodes(&self, seller: &str, sku: &str) -> Result<Vec<BarcodeView>, DbErr> {
        Ok(sku_barcode::Entity::find()
            .filter(sku_barcode::Column::SellerId.eq(seller))
            .filter(sku_barcode::Column::Sku.eq(sku))
            .order_by_asc(sku_barcode::Column::Id)
            .all(&self.db)
            .await?
            .into_iter()
            .map(|b| BarcodeView {
                barcode: b.barcode,
                source: b.source,
                updated_at: b.updated_at,
            })
            .collect())
    }

    /// The sku a seller's barcode belongs to.
    pub async fn sku_of_barcode(&self, seller: &str, code: &str) -> Result<Option<String>, DbErr> {
        Ok(sku_barcode::Entity::find()
            .filter(sku_barcode::Column::SellerId.eq(seller))
            .filter(sku_barcode::Column::Barcode.eq(code))
            .one(&self.db)
            .await?
            .map(|b| b.sku))
    }

    /// Replace the barcodes of a seller's sku (all or nothing). `Err` when
    /// one already belongs to another of the seller's skus.
    pub async fn set_sku_barcodes(
        &self,
        seller: &str,
        sku: &str,
        barcodes: &[String],
        source: &str,
    ) -> Result<Result<Vec<BarcodeView>, BarcodeTaken>, DbErr> {
        let tx = self.begin_write().await?;
        let taken = sku_barcode::Entity::find()
            .filter(sku_barcode::Column::SellerId.eq(seller))
            .filter(sku_barcode::Column::Barcode.is_in(barcodes.iter().cloned()))
            .filter(sku_barcode::Column::Sku.ne(sku))
            .one(&tx)
            .await?;
        if let Some(t) = taken {
            tx.rollback().await?;
            return Ok(Err(BarcodeTaken {
                barcode: t.barcode,
                sku: t.sku,
            }));
        }
        sku_barcode::Entity::delete_many()
            .filter(sku_barcode::Column::SellerId.eq(seller))
            .filter(sku_barcode::Column::Sku.eq(sku))
            .exec(&tx)
            .await?;
        let unique: BTreeSet<&String> = barcodes.iter().collect();
        for b in unique {
            insert_barcode(&tx, seller, sku, b, source).await?;
        }
        tx.commit().await?;
        Ok(Ok(self.sku_barcodes(seller, sku).await?))
    }

    /// Add one barcode to a seller's sku unless it is known already (for the
    /// same sku: its source is kept). `Err` when it belongs to another sku.
    pub async fn add_sku_barcode<C: ConnectionTrait>(
        db: &C,
        seller: &str,
        sku: &str,
        code: &str,
        source: &str,
    ) -> Result<Result<bool, BarcodeTaken>, DbErr> {
        let existing = sku_barcode::Entity::find()
            .filter(sku_barcode::Column::SellerId.eq(seller))
            .filter(sku_barcode::Column::Barcode.eq(code))
            .one(db)
            .await?;
        match existing {
            Some(e) if e.sku == sku => Ok(Ok(false)),
            Some(e) => Ok(Err(BarcodeTaken {
                barcode: e.barcode,
                sku: e.sku,
            })),
            None => {
                insert_barcode(db, seller, sku, code, source).await?;
                Ok(Ok(true))
            }
        }
    }

    /// Barcodes from config (`[[warehouses]] barcodes`), stored where the
    /// barcode is not known yet; a barcode of another sku is logged and left.
    pub async fn seed_config_barcodes(
        &self,
        seller: &str,
        barcodes: &BTreeMap<String, Vec<String>>,
    ) -> Result<(), DbErr> {
        for (sku, codes) in barcodes {
            for code in codes {
                let Some(code) = pv::clean_scan(code) else {
                    continue;
                };
                match Self::add_sku_barcode(&self.db, seller, sku, code, "config").await {
                    Ok(Ok(_)) => {}
                    Ok(Err(taken)) => {
                        tracing::warn!(seller, sku = %sku, conflict = %taken, "config barcode not stored")
                    }
                    Err(e) if is_unique_violation(&e) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(())
    }

    // ---- sessions ----

    async fn session_row(&self, id: i64) -> Result<Option<pack_session::Model>, DbErr> {
        pack_session::Entity::find_by_id(id).one(&self.db).await
    }

    /// The pack session of a shipment, if one was started.
    pub async fn pack_session_of_shipment(
        &self,
        shipment_id: i64,
    ) -> Result<Option<pack_session::Model>, DbErr> {
        pack_session::Entity::find()
            .filter(pack_session::Column::ShipmentId.eq(shipment_id))
            .one(&self.db)
            .await
    }

    /// Whether a label may be bought for the shipment now.
    pub async fn pack_gate(
        &self,
        shipment_id: i64,
        required: bool,
    ) -> Result<Result<(), String>, DbErr> {
        let s = self.pack_session_of_shipment(shipment_id).await?;
        Ok(gate_of(s.as_ref(), required))
    }

    /// The measured weight a session asks the shipment to be rated with
    /// (set when it was beyond the tolerance).
    pub async fn pack_measured_grams(&self, shipment_id: i64) -> Result<Option<u64>, DbErr> {
        Ok(self
            .pack_session_of_shipment(shipment_id)
            .await?
            .filter(|s| s.rerated)
            .and_then(|s| s.measured_grams)
            .and_then(|g| u64::try_from(g).ok()))
    }

    /// A session as shown, with the gate under `required`.
    pub async fn pack_session_view(
        &self,
        id: i64,
        scope: Option<&str>,
        required: impl Fn(&str) -> bool,
    ) -> Result<Option<PackSessionView>, DbErr> {
        let Some(s) = self.session_row(id).await? else {
            return Ok(None);
        };
        if scope.is_some_and(|me| me != s.seller_id) {
            return Ok(None);
        }
        let req = required(&s.warehouse_id);
        Ok(Some(self.view(&s, req).await?))
    }

    async fn view(
        &self,
        s: &pack_session::Model,
        required: bool,
    ) -> Result<PackSessionView, DbErr> {
        let expected = expected_of(s);
        let scanned = scanned_of(s);
        let lines = expected
            .iter()
            .map(|l| {
                let have = scanned.get(&l.sku).copied().unwrap_or(0);
                PackLineView {
                    sku: l.sku.clone(),
                    title: l.title.clone(),
                    expected: l.quantity,
                    scanned: have,
                    missing: l.quantity.saturating_sub(have),
                    barcodes: l.barcodes.clone(),
                }
            })
            .collect();
        let scans = pack_scan::Entity::find()
            .filter(pack_scan::Column::SessionId.eq(s.id))
            .order_by_desc(pack_scan::Column::Id)
            .limit(50)
            .all(&self.db)
            .await?
            .into_iter()
            .map(|r| PackScanView {
                barcode: r.barcode,
                sku: r.sku,
                result: r.result,
                at: r.at,
            })
            .collect();
        let number = order::Entity::find_by_id(s.order_id)
            .one(&self.db)
            .await?
            .and_then(|o| o.number);
        let gate = gate_of(Some(s), required);
        Ok(PackSessionView {
            id: s.id,
            shipment_id: s.shipment_id,
            order_id: s.order_id,
            order_number: number,
            seller_id: s.seller_id.clone(),
            warehouse_id: s.warehouse_id.clone(),
            status: s.status.clone(),
            lines,
            mismatches: mismatches_of(s),
            finishes: s.finishes.max(0) as u32,
            override_reason: s.override_reason.clone(),
            override_author: s.override_author.clone(),
            computed_grams: s.computed_grams,
            measured_grams: s.measured_grams,
            rerated: s.rerated,
            weight_note: s.weight_note.clone(),
            label_allowed: gate.is_ok(),
            label_blocked_reason: gate.err(),
            scans,
            created_at: s.created_at,
            finished_at: s.finished_at,
        })
    }

    /// Start (or resume) the session of the shipment a shipment barcode
    /// names. A blocked session is reopened so the missing units can be
    /// scanned; a finished one is returned as it is.
    pub async fn start_pack_session(
        &self,
        shipment_id: i64,
        scope: Option<&str>,
        required: impl Fn(&str) -> bool,
    ) -> Result<Result<PackSessionView, PackRefusal>, DbErr> {
        let Some(ship) = shipment::Entity::find_by_id(shipment_id)
            .one(&self.db)
            .await?
        else {
            return Ok(Err(PackRefusal::NotFound));
        };
        let Some(o) = order::Entity::find_by_id(ship.order_id)
            .one(&self.db)
            .await?
        else {
            return Ok(Err(PackRefusal::NotFound));
        };
        if scope.is_some_and(|me| me != o.seller_id) {
            return Ok(Err(PackRefusal::NotFound));
        }
        if let Some(s) = self.pack_session_of_shipment(shipment_id).await? {
            let s = if s.status == SESSION_BLOCKED {
                self.reopen(s).await?
            } else {
                s
            };
            let req = required(&s.warehouse_id);
            return Ok(Ok(self.view(&s, req).await?));
        }
        if ship.status == SHIPMENT_CANCELLED || ship.status == SHIPMENT_VOIDED {
            return Ok(Err(PackRefusal::Conflict(format!(
                "shipment {shipment_id} is {}; nothing to pack",
                ship.status
            ))));
        }
        let expected = self.expected_lines(&ship, &o).await?;
        if expected.is_empty() {
            return Ok(Err(PackRefusal::Conflict(format!(
                "shipment {shipment_id} has no lines with a sku to scan"
            ))));
        }
        let t = now();
        let row = pack_session::ActiveModel {
            id: NotSet,
            shipment_id: Set(shipment_id),
            order_id: Set(o.id),
            seller_id: Set(o.seller_id.clone()),
            warehouse_id: Set(ship.warehouse_id.clone()),
            channel_id: Set(o.channel_id.clone()),
            placed_at: Set(o.placed_at),
            status: Set(SESSION_OPEN.into()),
            expected: Set(serde_json::to_string(&expected).unwrap_or_else(|_| "[]".into())),
            scanned: Set("{}".into()),
            wrong_items: Set(0),
            over_scans: Set(0),
            unknown_scans: Set(0),
            missing_units: Set(0),
            finishes: Set(0),
            override_reason: Set(None),
            override_author: Set(None),
            computed_grams: Set(None),
            measured_grams: Set(None),
            rerated: Set(false),
            weight_note: Set(None),
            version: Set(0),
            created_at: Set(t),
            updated_at: Set(t),
            finished_at: Set(None),
        };
        match pack_session::Entity::insert(row).exec(&self.db).await {
            Ok(_) => {}
            // A concurrent start made it: use theirs.
            Err(e) if is_unique_violation(&e) => {}
            Err(e) => return Err(e),
        }
        let s = self
            .pack_session_of_shipment(shipment_id)
            .await?
            .ok_or_else(|| DbErr::RecordNotFound("pack session".into()))?;
        tracing::info!(session_id = s.id, shipment_id, "pack session started");
        let req = required(&s.warehouse_id);
        Ok(Ok(self.view(&s, req).await?))
    }

    /// The shipment's lines: what routing reserved for it (by sku), titled
    /// from the order; an order with no reservations (stock kept elsewhere)
    /// expects its lines with a sku.
    async fn expected_lines(
        &self,
        ship: &shipment::Model,
        o: &order::Model,
    ) -> Result<Vec<ExpectedLine>, DbErr> {
        let order_lines = order_line::Entity::find()
            .filter(order_line::Column::OrderId.eq(o.id))
            .order_by_asc(order_line::Column::LineNo)
            .all(&self.db)
            .await?;
        let mut qty: BTreeMap<String, u32> = BTreeMap::new();
        for r in reservation::Entity::find()
            .filter(reservation::Column::ShipmentId.eq(ship.id))
            .all(&self.db)
            .await?
        {
            *qty.entry(r.sku).or_default() += r.quantity.max(0) as u32;
        }
        if qty.is_empty() {
            for l in &order_lines {
                if let Some(sku) = l.sku.as_deref().filter(|s| !s.trim().is_empty()) {
                    *qty.entry(sku.to_string()).or_default() += l.quantity.max(0) as u32;
                }
            }
        }
        let mut out = Vec::new();
        for (sku, quantity) in qty.into_iter().filter(|(_, q)| *q > 0) {
            let title = order_lines
                .iter()
                .find(|l| l.sku.as_deref() == Some(sku.as_str()))
                .map(|l| l.title.clone())
                .unwrap_or_else(|| sku.clone());
            let barcodes = self
                .sku_barcodes(&o.seller_id, &sku)
                .await?
                .into_iter()
                .map(|b| b.barcode)
                .collect();
            out.push(ExpectedLine {
                sku,
                title,
                quantity,
                barcodes,
            });
        }
        Ok(out)
    }

    async fn reopen(&self, s: pack_session::Model) -> Result<pack_session::Model, DbErr> {
        use sea_orm::sea_query::ExprTrait as _;
        pack_session::Entity::update_many()
            .col_expr(pack_session::Column::Status, Expr::value(SESSION_OPEN))
            .col_expr(
                pack_session::Column::Version,
                Expr::col(pack_session::Column::Version).add(1),
            )
            .col_expr(pack_session::Column::UpdatedAt, Expr::value(now()))
            .filter(pack_session::Column::Id.eq(s.id))
            .filter(pack_session::Column::Status.eq(SESSION_BLOCKED))
            .exec(&self.db)
            .await?;
        Ok(self.session_row(s.id).await?.unwrap_or(s))
    }

    /// Is `code` a sku of the seller (a barcode of one, or a sku stocked in
    /// one of its warehouses)?
    async fn seller_sku(&self, seller: &str, code: &str) -> Result<Option<String>, DbErr> {
        if let Some(sku) = self.sku_of_barcode(seller, code).await? {
            return Ok(Some(sku));
        }
        let warehouses: Vec<String> = warehouse::Entity::find()
            .filter(warehouse::Column::SellerId.eq(seller))
            .all(&self.db)
            .await?
            .into_iter()
            .map(|w| w.id)
            .collect();
        if warehouses.is_empty() {
            return Ok(None);
        }
        Ok(stock::Entity::find()
            .filter(stock::Column::WarehouseId.is_in(warehouses))
            .filter(stock::Column::Sku.eq(code))
            .one(&self.db)
            .await?
            .map(|s| s.sku))
    }

    /// Record one item scan. A blocked session is reopened by it; a
    /// verified or overridden one refuses (409).
    pub async fn pack_scan(
        &self,
        session_id: i64,
        code: &str,
        scope: Option<&str>,
        required: impl Fn(&str) -> bool,
    ) -> Result<Result<ScanRecorded, PackRefusal>, DbErr> {
        for _ in 0..20 {
            let Some(s) = self.session_row(session_id).await? else {
                return Ok(Err(PackRefusal::NotFound));
            };
            if scope.is_some_and(|me| me != s.seller_id) {
                return Ok(Err(PackRefusal::NotFound));
            }
            if s.status == SESSION_VERIFIED || s.status == SESSION_OVERRIDDEN {
                return Ok(Err(PackRefusal::Conflict(format!(
                    "the session is {}; start a new scan of another shipment",
                    s.status
                ))));
            }
            let expected = expected_of(&s);
            let mut scanned = scanned_of(&s);
            let seller_sku = self.seller_sku(&s.seller_id, code).await?;
            let outcome = pv::classify(&expected, &scanned, code, seller_sku.as_deref());
            let (mut wrong, mut over, mut unknown) = (s.wrong_items, s.over_scans, s.unknown_scans);
            match &outcome {
                ScanOutcome::Ok { sku } => *scanned.entry(sku.clone()).or_default() += 1,
                ScanOutcome::WrongItem { .. } => wrong += 1,
                ScanOutcome::OverScan { .. } => over += 1,
                ScanOutcome::Unknown => unknown += 1,
            }
            let t = now();
            let tx = self.begin_write().await?;
            let res = pack_session::Entity::update_many()
                .col_expr(pack_session::Column::Status, Expr::value(SESSION_OPEN))
                .col_expr(
                    pack_session::Column::Scanned,
                    Expr::value(serde_json::to_string(&scanned).unwrap_or_else(|_| "{}".into())),
                )
                .col_expr(pack_session::Column::WrongItems, Expr::value(wrong))
                .col_expr(pack_session::Column::OverScans, Expr::value(over))
                .col_expr(pack_session::Column::UnknownScans, Expr::value(unknown))
                .col_expr(pack_session::Column::Version, Expr::value(s.version + 1))
                .col_expr(pack_session::Column::UpdatedAt, Expr::value(t))
                .filter(pack_session::Column::Id.eq(s.id))
                .filter(pack_session::Column::Version.eq(s.version))
                .exec(&tx)
                .await?;
            if res.rows_affected != 1 {
                tx.rollback().await?;
                continue;
            }
            pack_scan::Entity::insert(pack_scan::ActiveModel {
                id: NotSet,
                session_id: Set(s.id),
                barcode: Set(code.to_string()),
                sku: Set(outcome.sku().map(str::to_string)),
                result: Set(outcome.as_str().to_string()),
                at: Set(t),
            })
            .exec(&tx)
            .await?;
            tx.commit().await?;
            if outcome.is_mismatch() {
                tracing::warn!(session_id = s.id, shipment_id = s.shipment_id, result = outcome.as_str(), sku = ?outcome.sku(), "pack scan mismatch");
            }
            let s = self
                .session_row(s.id)
                .await?
                .ok_or_else(|| DbErr::RecordNotFound("pack session".into()))?;
            let req = required(&s.warehouse_id);
            return Ok(Ok(ScanRecorded {
                result: outcome.as_str().to_string(),
                sku: outcome.sku().map(str::to_string),
                session: self.view(&s, req).await?,
            }));
        }
        Ok(Err(PackRefusal::Conflict(
            "the session is being changed by another scanner; scan again".into(),
        )))
    }

    /// Finish a session (see [`crate::pack_verify::finish`]), with the
    /// measured weight if given; `computed_grams` is what the shipment's
    /// rating assumes. `rerate` in the answer: the caller re-rates.
    #[allow(clippy::too_many_arguments)]
    pub async fn pack_finish(
        &self,
        session_id: i64,
        measured_grams: Option<u64>,
        computed_grams: Option<u64>,
        tolerance_pct: f64,
        scope: Option<&str>,
        required: impl Fn(&str) -> bool,
    ) -> Result<Result<FinishRecorded, PackRefusal>, DbErr> {
        for _ in 0..20 {
            let Some(s) = self.session_row(session_id).await? else {
                return Ok(Err(PackRefusal::NotFound));
            };
            if scope.is_some_and(|me| me != s.seller_id) {
                return Ok(Err(PackRefusal::NotFound));
            }
            if s.status != SESSION_OPEN {
                return Ok(Err(PackRefusal::Conflict(format!(
                    "the session is {}; scan the shipment again to resume a blocked one",
                    s.status
                ))));
            }
            let expected = expected_of(&s);
            let scanned = scanned_of(&s);
            let outcome = pv::finish(&expected, &scanned, &mismatches_of(&s));
            let mut rerate = false;
            let mut note = s.weight_note.clone();
            let (mut measured, mut computed) = (s.measured_grams, s.computed_grams);
            if let Some(m) = measured_grams {
                measured = Some(m as i64);
                computed = computed_grams.map(|c| c as i64);
                match computed_grams {
                    Some(c) if pv::needs_rerate(c, m, tolerance_pct) => {
                        rerate = true;
                        note = Some(format!(
                            "measured {m} g vs computed {c} g: beyond {tolerance_pct} %, re-rated with the measured weight"
                        ));
                    }
                    Some(c) => {
                        note = Some(format!(
                            "measured {m} g vs computed {c} g: within {tolerance_pct} %"
                        ));
                    }
                    None => note = Some(format!("measured {m} g; no computed weight to compare")),
                }
            }
            let t = now();
            let res = pack_session::Entity::update_many()
                .col_expr(pack_session::Column::Status, Expr::value(outcome.status))
                .col_expr(
                    pack_session::Column::MissingUnits,
                    Expr::value(s.missing_units + outcome.missing_units as i32),
                )
                .col_expr(pack_session::Column::Finishes, Expr::value(s.finishes + 1))
                .col_expr(pack_session::Column::MeasuredGrams, Expr::value(measured))
                .col_expr(pack_session::Column::ComputedGrams, Expr::value(computed))
                .col_expr(
                    pack_session::Column::Rerated,
                    Expr::value(s.rerated || rerate),
                )
                .col_expr(pack_session::Column::WeightNote, Expr::value(note))
                .col_expr(pack_session::Column::Version, Expr::value(s.version + 1))
                .col_expr(pack_session::Column::UpdatedAt, Expr::value(t))
                .col_expr(pack_session::Column::FinishedAt, Expr::value(Some(t)))
                .filter(pack_session::Column::Id.eq(s.id))
                .filter(pack_session::Column::Version.eq(s.version))
                .exec(&self.db)
                .await?;
            if res.rows_affected != 1 {
                continue;
            }
            tracing::info!(
                session_id = s.id,
                shipment_id = s.shipment_id,
                status = outcome.status,
                missing_units = outcome.missing_units,
                rerate,
                "pack session finished"
            );
            let s = self
                .session_row(s.id)
                .await?
                .ok_or_else(|| DbErr::RecordNotFound("pack session".into()))?;
            let req = required(&s.warehouse_id);
            return Ok(Ok(FinishRecorded {
                session: self.view(&s, req).await?,
                rerate,
            }));
        }
        Ok(Err(PackRefusal::Conflict(
            "the session is being changed by another scanner; try again".into(),
        )))
    }

    /// Override an open or blocked session with a reason (a supervisor's
    /// call): the label is allowed. A verified one refuses (409).
    pub async fn pack_override(
        &self,
        session_id: i64,
        reason: &str,
        author: &str,
        scope: Option<&str>,
        required: impl Fn(&str) -> bool,
    ) -> Result<Result<PackSessionView, PackRefusal>, DbErr> {
        let Some(s) = self.session_row(session_id).await? else {
            return Ok(Err(PackRefusal::NotFound));
        };
        if scope.is_some_and(|me| me != s.seller_id) {
            return Ok(Err(PackRefusal::NotFound));
        }
        if s.status == SESSION_VERIFIED || s.status == SESSION_OVERRIDDEN {
            return Ok(Err(PackRefusal::Conflict(format!(
                "the session is already {}",
                s.status
            ))));
        }
        let t = now();
        let res = pack_session::Entity::update_many()
            .col_expr(
                pack_session::Column::Status,
                Expr::value(SESSION_OVERRIDDEN),
            )
            .col_expr(pack_session::Column::OverrideReason, Expr::value(reason))
            .col_expr(pack_session::Column::OverrideAuthor, Expr::value(author))
            .col_expr(pack_session::Column::Version, Expr::value(s.version + 1))
            .col_expr(pack_session::Column::UpdatedAt, Expr::value(t))
            .col_expr(pack_session::Column::FinishedAt, Expr::value(Some(t)))
            .filter(pack_session::Column::Id.eq(s.id))
            .filter(pack_session::Column::Version.eq(s.version))
            .exec(&self.db)
            .await?;
        if res.rows_affected != 1 {
            return Ok(Err(PackRefusal::Conflict(
                "the session changed meanwhile; look at it again".into(),
            )));
        }
        tracing::info!(
            session_id = s.id,
            shipment_id = s.shipment_id,
            author,
            "pack session overridden"
        );
        let s = self
            .session_row(s.id)
            .await?
            .ok_or_else(|| DbErr::RecordNotFound("pack session".into()))?;
        let req = required(&s.warehouse_id);
        Ok(Ok(self.view(&s, req).await?))
    }

    /// The latest sessions the caller may see, newest first (the dashboard).
    pub async fn recent_pack_sessions(
        &self,
        scope: Option<&str>,
        limit: u64,
    ) -> Result<Vec<pack_session::Model>, DbErr> {
        let mut q = pack_session::Entity::find();
        if let Some(me) = scope {
            q = q.filter(pack_session::Column::SellerId.eq(me));
        }
        q.order_by_desc(pack_session::Column::UpdatedAt)
            .limit(limit)
            .all(&self.db)
            .await
    }

    // ---- the shipment side ----

    /// Mark a shipment as waiting for verification (once), so the sweep and
    /// `all_ready` batches leave it until the session allows the label.
    pub async fn note_pack_wait(&self, shipment_id: i64, why: &str) -> Result<(), DbErr> {
        shipment::Entity::update_many()
            .col_expr(
                shipment::Column::ExceptionReason,
                Expr::value(format!("{PACK_WAIT_NOTE}: {why}")),
            )
            .filter(shipment::Column::Id.eq(shipment_id))
            .filter(shipment::Column::Status.is_in([SHIPMENT_CREATED, SHIPMENT_BUYING]))
            .filter(
                sea_orm::Condition::any()
                    .add(shipment::Column::ExceptionReason.is_null())
                    .add(shipment::Column::ExceptionReason.like(format!("{PACK_WAIT_NOTE}%"))),
            )
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// Drop the wait note once the label is allowed.
    pub async fn clear_pack_wait(&self, shipment_id: i64) -> Result<(), DbErr> {
        shipment::Entity::update_many()
            .col_expr(
                shipment::Column::ExceptionReason,
                Expr::value(Option::<String>::None),
            )
            .filter(shipment::Column::Id.eq(shipment_id))
            .filter(shipment::Column::ExceptionReason.like(format!("{PACK_WAIT_NOTE}%")))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// Make a rated, not yet bought shipment rate again (`buying → created`,
    /// only when no purchase was ever attempted). What happened, for the
    /// session's weight note.
    pub async fn reset_rating(&self, shipment_id: i64) -> Result<&'static str, DbErr> {
        let Some(s) = shipment::Entity::find_by_id(shipment_id)
            .one(&self.db)
            .await?
        else {
            return Ok("shipment gone");
        };
        if s.status == SHIPMENT_CREATED {
            return Ok("not rated yet: rated with the measured weight");
        }
        if s.status != SHIPMENT_BUYING || s.buy_attempts > 0 {
            return Ok("label already bought or being bought: not re-rated");
        }
        let none = || Expr::value(Option::<String>::None);
        let res = shipment::Entity::update_many()
            .col_expr(shipment::Column::Status, Expr::value(SHIPMENT_CREATED))
            .col_expr(shipment::Column::CarrierAccount, none())
            .col_expr(shipment::Column::CarrierShipmentId, none())
            .col_expr(shipment::Column::RateId, none())
            .col_expr(shipment::Column::Carrier, none())
            .col_expr(shipment::Column::Service, none())
            .col_expr(shipment::Column::RateAmount, none())
            .col_expr(shipment::Column::RateCurrency, none())
            .col_expr(shipment::Column::UpdatedAt, Expr::value(Some(now())))
            .filter(shipment::Column::Id.eq(shipment_id))
            .filter(shipment::Column::Status.eq(SHIPMENT_BUYING))
            .filter(shipment::Column::BuyAttempts.eq(0))
            .exec(&self.db)
            .await?;
        Ok(if res.rows_affected == 1 {
            "chosen rate dropped: rated again with the measured weight"
        } else {
            "label already being bought: not re-rated"
        })
    }

    /// Append what re-rating did to the session's weight note.
    pub async fn note_rerate(&self, session_id: i64, what: &str) -> Result<(), DbErr> {
        if let Some(s) = self.session_row(session_id).await? {
            let note = match s.weight_note {
                Some(n) => format!("{n}; {what}"),
                None => what.to_string(),
            };
            pack_session::Entity::update_many()
                .col_expr(pack_session::Column::WeightNote, Expr::value(note))
                .filter(pack_session::Column::Id.eq(session_id))
                .exec(&self.db)
                .await?;
        }
        Ok(())
    }

    // ---- KPIs ----

    /// The packing numbers over the sessions of the orders `q` selects.
    pub async fn pack_kpis(&self, q: &KpiQuery) -> Result<PackKpis, DbErr> {
        let mut sel = pack_session::Entity::find()
            .filter(pack_session::Column::PlacedAt.gte(q.from))
            .filter(pack_session::Column::PlacedAt.lt(q.to));
        if let Some(s) = &q.seller {
            sel = sel.filter(pack_session::Column::SellerId.eq(s.as_str()));
        }
        if let Some(c) = &q.channel {
            sel = sel.filter(pack_session::Column::ChannelId.eq(c.as_str()));
        }
        if let Some(w) = &q.warehouse {
            sel = sel.filter(pack_session::Column::WarehouseId.eq(w.as_str()));
        }
        Ok(summarize_sessions(&sel.all(&self.db).await?))
    }
}

/// The packing KPIs of these sessions.
pub fn summarize_sessions(sessions: &[pack_session::Model]) -> PackKpis {
    let mut k = PackKpis {
        sessions: sessions.len() as u64,
        ..Default::default()
    };
    let (mut finished, mut first_time) = (0u64, 0u64);
    for s in sessions {
        let m = mismatches_of(s);
        k.mismatches.add(&m);
        match s.status.as_str() {
            SESSION_OPEN => k.open += 1,
            SESSION_VERIFIED => k.verified += 1,
            SESSION_BLOCKED => k.blocked += 1,
            SESSION_OVERRIDDEN => k.overridden += 1,
            _ => {}
        }
        if s.status != SESSION_OPEN {
            finished += 1;
            if s.status == SESSION_VERIFIED && s.finishes == 1 && m.total() == 0 {
                first_time += 1;
            }
        }
    }
    k.accuracy = share(first_time, finished);
    k
}

async fn insert_barcode<C: ConnectionTrait>(
    db: &C,
    seller: &str,
    sku: &str,
    code: &str,
    source: &str,
) -> Result<(), DbErr> {
    sku_barcode::Entity::insert(sku_barcode::ActiveModel {
        id: NotSet,
        seller_id: Set(seller.to_string()),
        sku: Set(sku.to_string()),
        barcode: Set(code.to_string()),
        source: Set(source.to_string()),
        updated_at: Set(now()),
    })
    .exec(db)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(status: &str, finishes: i32, wrong: i32, missing: i32) -> pack_session::Model {
        let t = now();
        pack_session::Model {
            id: 1,
            shipment_id: 1,
            order_id: 1,
            seller_id: "acme".into(),
            warehouse_id: "main".into(),
            channel_id: "shop".into(),
            placed_at: t,
            status: status.into(),
            expected: "[]".into(),
            scanned: "{}".into(),
            wrong_items: wrong,
            over_scans: 0,
            unknown_scans: 0,
            missing_units: missing,
            finishes,
            override_reason: None,
            override_author: None,
            computed_grams: None,
            measured_grams: None,
            rerated: false,
            weight_note: None,
            version: 0,
            created_at: t,
            updated_at: t,
            finished_at: None,
        }
    }

    #[test]
    fn accuracy_is_first_time_verified_of_finished() {
        let k = summarize_sessions(&[
            session(SESSION_VERIFIED, 1, 0, 0),
            session(SESSION_VERIFIED, 2, 0, 1),
            session(SESSION_BLOCKED, 1, 0, 2),
            session(SESSION_OVERRIDDEN, 0, 1, 0),
            session(SESSION_OPEN, 0, 0, 0),
        ]);
        assert_eq!(k.accuracy, share(1, 4));
        assert_eq!(k.sessions, 5);
        assert_eq!((k.open, k.verified, k.blocked, k.overridden), (1, 2, 1, 1));
        assert_eq!(k.mismatches.missing_unit, 3);
        assert_eq!(k.mismatches.wrong_item, 1);
    }

    #[test]
    fn the_gate_reads_the_session() {
        assert!(gate_of(Some(&session(SESSION_BLOCKED, 1, 0, 1)), false).is_err());
        assert!(gate_of(Some(&session(SESSION_OPEN, 0, 1, 0)), false).is_err());
        assert!(gate_of(Some(&session(SESSION_OVERRIDDEN, 1, 1, 0)), true).is_ok());
        assert!(gate_of(None, false).is_ok());
    }
}
