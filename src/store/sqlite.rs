//! The embedded default: one SQLite file, created and migrated on first start.

use super::sql::{Dialect, SqlStore};
use super::sqlite_grants::GrantWriter;
use super::{schema, StoreError, TokenHash};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePoolOptions,
    SqliteQueryResult, SqliteSynchronous,
};
use sqlx::Sqlite;
use std::path::Path;
use std::time::Duration;

pub type SqliteStore = SqlStore<Sqlite>;

/// How long a connection waits for another's write lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

impl SqlStore<Sqlite> {
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
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true)
            // Each pooled connection has its own page cache: 2 MiB by default, 16 MiB for 8
            // connections, the most a 100k-token cache cost outside the cache itself (issue 14,
            // bench/results/cache-memory-latest.md). A token check reads a few pages of two
            // B-trees: their inner pages stay in 256 KiB up to about a quarter of a million
            // tokens, and the leaves come from the OS page cache (no CPU cost measured).
            .pragma("cache_size", "-256");
        let pool = SqlitePoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(connect_timeout)
            // A file connection cannot lose its peer: sqlx's default ping before every
            // checkout would only add a round trip to the connection's thread per query.
            .test_before_acquire(false)
            .connect_with(options)
            .await?;
        schema::migrator(schema::SQLITE)
            .await
            .map_err(StoreError::Migration)?
            .run(&pool)
            .await
            .map_err(|e| StoreError::Migration(e.to_string()))?;
        let grants = GrantWriter::open(path, BUSY_TIMEOUT)?;
        Ok(SqlStore {
            pool,
            grants: Some(grants),
        })
    }
}

impl Dialect for Sqlite {
    /// One process owns an SQLite file: its own cache was already updated by the caller.
    async fn notify_revoked(
        _conn: &mut SqliteConnection,
        _hashes: &[TokenHash],
    ) -> Result<(), sqlx::Error> {
        Ok(())
    }

    fn rows_affected(done: &SqliteQueryResult) -> u64 {
        done.rows_affected()
    }
}
