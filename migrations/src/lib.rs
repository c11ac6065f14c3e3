//! The store's schema, one file per change. Runs on SQLite and PostgreSQL
//! (one ALTER per statement: SQLite cannot do more).

pub use sea_orm_migration::prelude::*;

mod m20261124_000001_store;
mod m20261124_000002_inventory;
mod m20261125_000003_fulfillment;
mod m20261125_000004_channel_state;
mod m20261125_000005_carriers;
mod m20261125_000006_order_events;
mod m20261201_000007_api_tokens;
mod m20261201_000008_routing;
mod m20261201_000009_order_list_indexes;
mod m20261201_000010_outbound_webhooks;
mod m20261201_000011_inventory_alerts;
mod m20261201_000012_tracking_page;
mod m20261202_000013_stock_sync;
mod m20261202_000014_email;
mod m20261202_000015_returns;
mod m20261202_000016_warehouse_floor;
mod m20261202_000017_pack_verification;
mod m20261202_000018_channel_budget;

pub use m20261201_000009_order_list_indexes::{
    create_order_list_indexes, drop_order_list_indexes, ORDER_LIST_INDEXES,
};

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261124_000001_store::Migration),
            Box::new(m20261124_000002_inventory::Migration),
            Box::new(m20261125_000003_fulfillment::Migration),
            Box::new(m20261125_000004_channel_state::Migration),
            Box::new(m20261125_000005_carriers::Migration),
            Box::new(m20261125_000006_order_events::Migration),
            Box::new(m20261201_000007_api_tokens::Migration),
            Box::new(m20261201_000008_routing::Migration),
            Box::new(m20261201_000009_order_list_indexes::Migration),
            Box::new(m20261201_000010_outbound_webhooks::Migration),
            Box::new(m20261201_000011_inventory_alerts::Migration),
            Box::new(m20261201_000012_tracking_page::Migration),
            Box::new(m20261202_000013_stock_sync::Migration),
            Box::new(m20261202_000014_email::Migration),
            Box::new(m20261202_000015_returns::Migration),
            Box::new(m20261202_000016_warehouse_floor::Migration),
            Box::new(m20261202_000017_pack_verification::Migration),
            Box::new(m20261202_000018_channel_budget::Migration),
        ]
    }
}
