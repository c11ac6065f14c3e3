//! Warehouse floor queries: bin locations per (warehouse, sku), the units
//! of the shipments ready to pick at a warehouse (for
//! [`crate::picklist`]), and what a packing slip shows.
//!
//! Ready to pick: a shipment at the warehouse whose status is `created`,
//! `buying` or `label_bought` (routed, stock reserved; labelled or not),
//! whose parcel the carrier has not scanned yet (tracking status `unknown`
//! or `pre_transit`), and whose order is not cancelled. Exceptions,
//! voided/voiding and cancelled shipments are never picked.

use super::entities::{order, order_line, reservation, shipment};
use super::{now, Store, SHIPMENT_BUYING, SHIPMENT_CREATED, SHIPMENT_LABEL_BOUGHT};
use crate::picklist::{PickList, PickUnit};
use crate::{Address, OrderStatus};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QueryTrait,
};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

pub mod stock_bin {
    use sea_orm::entity::prelude::*;

    /// Where a sku lives in a warehouse (`A-10`).
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "stock_bins")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub warehouse_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub sku: String,
        pub bin: String,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Shipment statuses a pick list takes.
pub const PICKABLE_STATUSES: [&str; 3] = [SHIPMENT_CREATED, SHIPMENT_BUYING, SHIPMENT_LABEL_BOUGHT];
/// Tracking statuses of a parcel not yet scanned by the carrier.
pub const UNSCANNED_TRACKING: [&str; 2] = ["unknown", "pre_transit"];

/// A bin location to record: `None` (or blank) forgets the bin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BinLine {
    pub warehouse_id: String,
    pub sku: String,
    pub bin: Option<String>,
}

/// What a pick list for named shipments found wrong with some of them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PickRefusal {
    /// Not shipments of this warehouse (or no such shipment).
    pub not_here: Vec<i64>,
    /// At the warehouse but not ready to pick: (id, status).
    pub not_ready: Vec<(i64, String)>,
}

/// One line of a packing slip.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SlipLine {
    pub sku: String,
    pub title: String,
    pub quantity: i64,
}

/// What a packing slip shows (nothing about money or the buyer's contact).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PackingSlip {
    pub shipment_id: i64,
    pub order_id: i64,
    pub seller_id: String,
    pub warehouse_id: String,
    pub order_number: String,
    pub placed_at: chrono::DateTime<chrono::Utc>,
    pub ship_to_name: Option<String>,
    pub ship_to_city: Option<String>,
    pub ship_to_country: Option<String>,
    pub shipping_method: Option<String>,
    pub lines: Vec<SlipLine>,
    pub status: String,
    pub label_url: Option<String>,
    pub label_format: Option<String>,
    pub carrier: Option<String>,
    pub tracking_code: Option<String>,
}

impl PackingSlip {
    /// The value of the slip's barcode: exactly `SHIP-<shipment id>`.
    pub fn barcode_value(&self) -> String {
        format!("SHIP-{}", self.shipment_id)
    }
}

fn order_number(o: &order::Model) -> String {
    o.number
        .clone()
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| o.external_id.clone())
}

impl Store {
    /// Record bin locations (upsert), all in one transaction; a line
    /// without a bin forgets the sku's bin.
    pub async fn set_bins(&self, lines: &[BinLine]) -> Result<(), DbErr> {
        if lines.is_empty() {
            return Ok(());
        }
        let tx = self.begin_write().await?;
        for l in lines {
            match l.bin.as_deref().map(str::trim).filter(|b| !b.is_empty()) {
                Some(bin) => {
                    stock_bin::Entity::insert(stock_bin::ActiveModel {
                        warehouse_id: Set(l.warehouse_id.clone()),
                        sku: Set(l.sku.clone()),
                        bin: Set(bin.to_string()),
                        updated_at: Set(now()),
                    })
                    .on_conflict(
                        OnConflict::columns([
                            stock_bin::Column::WarehouseId,
                            stock_bin::Column::Sku,
                        ])
                        .update_columns([stock_bin::Column::Bin, stock_bin::Column::UpdatedAt])
                        .to_owned(),
                    )
                    .exec_without_returning(&tx)
                    .await?;
                }
                None => {
                    stock_bin::Entity::delete_many()
                        .filter(stock_bin::Column::WarehouseId.eq(l.warehouse_id.as_str()))
                        .filter(stock_bin::Column::Sku.eq(l.sku.as_str()))
                        .exec(&tx)
                        .await?;
                }
            }
        }
        tx.commit().await
    }

    /// The bins of a warehouse: sku → bin.
    pub async fn bins(&self, warehouse_id: &str) -> Result<BTreeMap<String, String>, DbErr> {
        Ok(stock_bin::Entity::find()
            .filter(stock_bin::Column::WarehouseId.eq(warehouse_id))
            .all(self.db())
            .await?
            .into_iter()
            .map(|b| (b.sku, b.bin))
            .collect())
    }

    /// The bins of several warehouses: (warehouse, sku) → bin.
    pub async fn bins_of(
        &self,
        warehouse_ids: &[String],
    ) -> Result<BTreeMap<(String, String), String>, DbErr> {
        if warehouse_ids.is_empty() {
            return Ok(BTreeMap::new());
        }
        Ok(stock_bin::Entity::find()
            .filter(stock_bin::Column::WarehouseId.is_in(warehouse_ids.iter().cloned()))
            .all(self.db())
            .await?
            .into_iter()
            .map(|b| ((b.warehouse_id, b.sku), b.bin))
            .collect())
    }

    /// The pick list of a warehouse: every shipment ready to pick there (at
    /// most `limit`, oldest first), or exactly the named ones. Named
    /// shipments that are not this warehouse's or not ready are refused
    /// (nothing is listed then).
    pub async fn pick_list(
        &self,
        warehouse_id: &str,
        shipment_ids: Option<&[i64]>,
        limit: u64,
    ) -> Result<Result<PickList, PickRefusal>, DbErr> {
        use sea_orm::QuerySelect;
        let ships: Vec<shipment::Model> = match shipment_ids {
            Some(ids) => {
                let found: HashMap<i64, shipment::Model> = shipment::Entity::find()
                    .filter(shipment::Column::Id.is_in(ids.iter().copied()))
                    .all(self.db())
                    .await?
                    .into_iter()
                    .map(|s| (s.id, s))
                    .collect();
                let orders: HashMap<i64, String> = order::Entity::find()
                    .filter(order::Column::Id.is_in(found.values().map(|s| s.order_id)))
                    .all(self.db())
                    .await?
                    .into_iter()
                    .map(|o| (o.id, o.status))
                    .collect();
                let mut refusal = PickRefusal::default();
                let mut ships = Vec::new();
                let mut seen = std::collections::BTreeSet::new();
                for id in ids {
                    if !seen.insert(*id) {
                        continue;
                    }
                    match found.get(id) {
                        Some(s) if s.warehouse_id == warehouse_id => {
                            let cancelled = orders
                                .get(&s.order_id)
                                .is_some_and(|st| st == OrderStatus::Cancelled.as_str());
                            if is_pickable(s) && !cancelled {
                                ships.push(s.clone());
                            } else {
                                let why = if cancelled {
                                    "order cancelled".to_string()
                                } else if is_pickable_status(s) {
                                    format!("tracking {}", s.tracking_status)
                                } else {
                                    s.status.clone()
                                };
                                refusal.not_ready.push((*id, why));
                            }
                        }
                        _ => refusal.not_here.push(*id),
                    }
                }
                if !refusal.not_here.is_empty() || !refusal.not_ready.is_empty() {
                    return Ok(Err(refusal));
                }
                ships
            }
            None => {
                let cancelled = order::Entity::find()
                    .select_only()
                    .column(order::Column::Id)
                    .filter(order::Column::Status.eq(OrderStatus::Cancelled.as_str()))
                    .into_query();
                shipment::Entity::find()
                    .filter(shipment::Column::WarehouseId.eq(warehouse_id))
                    .filter(shipment::Column::Status.is_in(PICKABLE_STATUSES))
                    .filter(shipment::Column::TrackingStatus.is_in(UNSCANNED_TRACKING))
                    .filter(shipment::Column::OrderId.not_in_subquery(cancelled))
                    .order_by_asc(shipment::Column::Id)
                    .limit(limit)
                    .all(self.db())
                    .await?
            }
        };
        let units = self.pick_units(&ships).await?;
        let bins = self.bins(warehouse_id).await?;
        Ok(Ok(crate::picklist::build(
            warehouse_id,
            &units,
            &bins,
            now(),
        )))
    }

    /// The reserved units of these shipments, with order numbers and titles.
    async fn pick_units(&self, ships: &[shipment::Model]) -> Result<Vec<PickUnit>, DbErr> {
        let mut units = Vec::new();
        for chunk in ships.chunks(500) {
            let ids: Vec<i64> = chunk.iter().map(|s| s.id).collect();
            let order_ids: Vec<i64> = chunk.iter().map(|s| s.order_id).collect();
            let orders: HashMap<i64, order::Model> = order::Entity::find()
                .filter(order::Column::Id.is_in(order_ids.clone()))
                .all(self.db())
                .await?
                .into_iter()
                .map(|o| (o.id, o))
                .collect();
            let mut titles: HashMap<(i64, String), String> = HashMap::new();
            for l in order_line::Entity::find()
                .filter(order_line::Column::OrderId.is_in(order_ids))
                .order_by_asc(order_line::Column::LineNo)
                .all(self.db())
                .await?
            {
                if let Some(sku) = l.sku {
                    titles.entry((l.order_id, sku)).or_insert(l.title);
                }
            }
            for r in reservation::Entity::find()
                .filter(reservation::Column::ShipmentId.is_in(ids))
                .order_by_asc(reservation::Column::Id)
                .all(self.db())
                .await?
            {
                let number = orders
                    .get(&r.order_id)
                    .map(order_number)
                    .unwrap_or_else(|| r.order_id.to_string());
                units.push(PickUnit {
                    shipment_id: r.shipment_id,
                    order_id: r.order_id,
                    order_number: number,
                    title: titles.get(&(r.order_id, r.sku.clone())).cloned(),
                    sku: r.sku,
                    quantity: r.quantity,
                });
            }
        }
        Ok(units)
    }

    /// What the packing slip of a shipment shows; `None`: no such shipment.
    /// The lines are the units the shipment reserved (a split order's slip
    /// lists only its own part).
    pub async fn packing_slip(&self, shipment_id: i64) -> Result<Option<PackingSlip>, DbErr> {
        let Some(s) = shipment::Entity::find_by_id(shipment_id)
            .one(self.db())
            .await?
        else {
            return Ok(None);
        };
        let Some(o) = order::Entity::find_by_id(s.order_id).one(self.db()).await? else {
            return Ok(None);
        };
        let units = self.pick_units(std::slice::from_ref(&s)).await?;
        let mut lines: Vec<SlipLine> = Vec::new();
        for u in units {
            match lines.iter_mut().find(|l| l.sku == u.sku) {
                Some(l) => l.quantity += u.quantity,
                None => lines.push(SlipLine {
                    title: u.title.unwrap_or_default(),
                    sku: u.sku,
                    quantity: u.quantity,
                }),
            }
        }
        let to: Option<Address> = o
            .ship_to
            .as_deref()
            .and_then(|j| serde_json::from_str(j).ok());
        Ok(Some(PackingSlip {
            shipment_id: s.id,
            order_id: o.id,
            seller_id: o.seller_id.clone(),
            warehouse_id: s.warehouse_id,
            order_number: order_number(&o),
            placed_at: o.placed_at,
            ship_to_name: to
                .as_ref()
                .and_then(|a| a.name.clone())
                .or(o.customer_name.clone()),
            ship_to_city: to.as_ref().and_then(|a| a.city.clone()),
            ship_to_country: to.as_ref().and_then(|a| a.country.clone()),
            shipping_method: o.shipping_method,
            lines,
            status: s.status,
            label_url: s.label_url,
            label_format: s.label_format,
            carrier: s.carrier,
            tracking_code: s.tracking_code,
        }))
    }
}

fn is_pickable_status(s: &shipment::Model) -> bool {
    PICKABLE_STATUSES.contains(&s.status.as_str())
}

fn is_pickable(s: &shipment::Model) -> bool {
    is_pickable_status(s) && UNSCANNED_TRACKING.contains(&s.tracking_status.as_str())
}
