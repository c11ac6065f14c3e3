//! Schema setup: orderhub's own migrations, then the job queue's tables.

use orderhub_core::store::Store;
use orderhub_migrations::{Migrator, MigratorTrait};

pub async fn run(store: &Store) -> anyhow::Result<()> {
    Migrator::up(store.db(), None).await?;
    Ok(())
}
