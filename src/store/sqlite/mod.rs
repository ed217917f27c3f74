//! The embedded default: one SQLite file, created and migrated on first start.

use super::{StoreError, TokenHash};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool};
use std::path::Path;
use std::time::Duration;

pub struct SqliteStore {
    pool: SqlitePool,
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("src/store/migrations/sqlite");

impl SqliteStore {
    pub async fn open(
        path: &Path,
        max_connections: u32,
        connect_timeout: Duration,
    ) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                StoreError::Unavailable(format!("cannot create {}: {e}", dir.display()))
            })?;
        }
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            // WAL lets readers (token checks) proceed while a writer commits.
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(connect_timeout)
            .connect_with(options)
            .await?;
        MIGRATOR
            .run(&pool)
            .await
            .map_err(|e| StoreError::Migration(e.to_string()))?;
        Ok(SqliteStore { pool })
    }
}

impl SqliteStore {
    /// One process owns an SQLite file: its own cache was already updated by the caller.
    async fn notify_revoked(
        _tx: &mut sqlx::Transaction<'static, Sqlite>,
        _hashes: &[TokenHash],
    ) -> Result<(), sqlx::Error> {
        Ok(())
    }
}

mod queries {
    use super::SqliteStore;
    crate::store::sql::impl_sql_store!(SqliteStore, sqlx::Sqlite);
}
