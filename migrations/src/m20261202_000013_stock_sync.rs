//! Stock sync to the channels.
//!
//! - `stock_changes`: an append-only log a trigger on `stock` (insert, or an
//!   update of `on_hand`, `reserved`, `safety`) and on `warehouses` (an update
//!   of `default_safety`, `open`, `channels`: every sku of it) writes, so every
//!   write path (reservations, releases, consumption, the stock API, CSV
//!   imports, counts, config seeding) marks its skus without knowing about
//!   stock sync. The scheduler folds the log into `stock_sync`.
//! - `stock_sync`: one row per (channel, sku): dirty since when (unix ms; the
//!   first unpushed change, kept while more arrive), a version bumped by every
//!   change, and what was last pushed.
//! - `stock_alert_notices`: low-stock alerts already turned into `stock.low`
//!   notifications (existing alerts count as notified).

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

const SQLITE_NOW_MS: &str = "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        let pg = m.get_database_backend() == DbBackend::Postgres;
        let id = if pg {
            "BIGSERIAL PRIMARY KEY"
        } else {
            "INTEGER PRIMARY KEY AUTOINCREMENT"
        };
        let mut stmts: Vec<String> = vec![
            format!(
                "CREATE TABLE IF NOT EXISTS stock_changes (id {id}, warehouse_id VARCHAR NOT NULL, \
                 sku VARCHAR NOT NULL, at_ms BIGINT NOT NULL)"
            ),
            "CREATE TABLE IF NOT EXISTS stock_sync (channel_id VARCHAR NOT NULL, sku VARCHAR NOT NULL, \
             seller_id VARCHAR NOT NULL, dirty_since_ms BIGINT NULL, version BIGINT NOT NULL DEFAULT 0, \
             claimed_until_ms BIGINT NOT NULL DEFAULT 0, last_pushed_available BIGINT NULL, \
             last_pushed_at_ms BIGINT NULL, pushes BIGINT NOT NULL DEFAULT 0, \
             last_outcome VARCHAR NULL, last_error TEXT NULL, PRIMARY KEY (channel_id, sku))"
                .into(),
            "CREATE INDEX IF NOT EXISTS stock_sync_dirty_idx ON stock_sync (channel_id, dirty_since_ms)"
                .into(),
            "CREATE TABLE IF NOT EXISTS stock_alert_notices (alert_id BIGINT PRIMARY KEY, \
             notified_at_ms BIGINT NOT NULL)"
                .into(),
            "INSERT INTO stock_alert_notices (alert_id, notified_at_ms) SELECT id, 0 FROM stock_alerts"
                .into(),
            // Everything stocked today is pushed once by the first run.
            "INSERT INTO stock_changes (warehouse_id, sku, at_ms) SELECT warehouse_id, sku, 0 FROM stock"
                .into(),
        ];
        if pg {
            stmts.extend([
                "CREATE OR REPLACE FUNCTION orderhub_stock_changed() RETURNS trigger AS $$ BEGIN \
                 INSERT INTO stock_changes (warehouse_id, sku, at_ms) VALUES \
                 (NEW.warehouse_id, NEW.sku, (extract(epoch from clock_timestamp()) * 1000)::bigint); \
                 RETURN NULL; END $$ LANGUAGE plpgsql"
                    .to_string(),
                "CREATE OR REPLACE FUNCTION orderhub_warehouse_changed() RETURNS trigger AS $$ BEGIN \
                 INSERT INTO stock_changes (warehouse_id, sku, at_ms) SELECT warehouse_id, sku, \
                 (extract(epoch from clock_timestamp()) * 1000)::bigint FROM stock WHERE warehouse_id = NEW.id; \
                 RETURN NULL; END $$ LANGUAGE plpgsql"
                    .to_string(),
                "CREATE TRIGGER stock_sync_on_insert AFTER INSERT ON stock FOR EACH ROW \
                 EXECUTE FUNCTION orderhub_stock_changed()"
                    .to_string(),
                "CREATE TRIGGER stock_sync_on_update AFTER UPDATE ON stock FOR EACH ROW WHEN \
                 (OLD.on_hand IS DISTINCT FROM NEW.on_hand OR OLD.reserved IS DISTINCT FROM NEW.reserved \
                 OR OLD.safety IS DISTINCT FROM NEW.safety) EXECUTE FUNCTION orderhub_stock_changed()"
                    .to_string(),
                "CREATE TRIGGER stock_sync_on_warehouse AFTER UPDATE ON warehouses FOR EACH ROW WHEN \
                 (OLD.default_safety IS DISTINCT FROM NEW.default_safety OR OLD.open IS DISTINCT FROM NEW.open \
                 OR OLD.channels IS DISTINCT FROM NEW.channels) EXECUTE FUNCTION orderhub_warehouse_changed()"
                    .to_string(),
            ]);
        } else {
            stmts.extend([
                format!(
                    "CREATE TRIGGER IF NOT EXISTS stock_sync_on_insert AFTER INSERT ON stock BEGIN \
                     INSERT INTO stock_changes (warehouse_id, sku, at_ms) VALUES (NEW.warehouse_id, NEW.sku, {SQLITE_NOW_MS}); END"
                ),
                format!(
                    "CREATE TRIGGER IF NOT EXISTS stock_sync_on_update AFTER UPDATE ON stock WHEN \
                     OLD.on_hand IS NOT NEW.on_hand OR OLD.reserved IS NOT NEW.reserved OR OLD.safety IS NOT NEW.safety \
                     BEGIN INSERT INTO stock_changes (warehouse_id, sku, at_ms) VALUES (NEW.warehouse_id, NEW.sku, {SQLITE_NOW_MS}); END"
                ),
                format!(
                    "CREATE TRIGGER IF NOT EXISTS stock_sync_on_warehouse AFTER UPDATE ON warehouses WHEN \
                     OLD.default_safety IS NOT NEW.default_safety OR OLD.open IS NOT NEW.open OR OLD.channels IS NOT NEW.channels \
                     BEGIN INSERT INTO stock_changes (warehouse_id, sku, at_ms) SELECT warehouse_id, sku, {SQLITE_NOW_MS} \
                     FROM stock WHERE warehouse_id = NEW.id; END"
                ),
            ]);
        }
        for s in stmts {
            db.execute_unprepared(&s).await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        let pg = m.get_database_backend() == DbBackend::Postgres;
        let mut stmts = vec![
            "DROP TRIGGER IF EXISTS stock_sync_on_insert".to_string(),
            "DROP TRIGGER IF EXISTS stock_sync_on_update".to_string(),
            "DROP TRIGGER IF EXISTS stock_sync_on_warehouse".to_string(),
        ];
        if pg {
            stmts = vec![
                "DROP TRIGGER IF EXISTS stock_sync_on_insert ON stock".into(),
                "DROP TRIGGER IF EXISTS stock_sync_on_update ON stock".into(),
                "DROP TRIGGER IF EXISTS stock_sync_on_warehouse ON warehouses".into(),
                "DROP FUNCTION IF EXISTS orderhub_stock_changed()".into(),
                "DROP FUNCTION IF EXISTS orderhub_warehouse_changed()".into(),
            ];
        }
        stmts.extend([
            "DROP TABLE IF EXISTS stock_alert_notices".to_string(),
            "DROP TABLE IF EXISTS stock_sync".to_string(),
            "DROP TABLE IF EXISTS stock_changes".to_string(),
        ]);
        for s in stmts {
            db.execute_unprepared(&s).await?;
        }
        Ok(())
    }
}
