//! The embedded default: one SQLite file, created and migrated on first start.

use super::{Store, StoreError, StoredAccessToken, TokenHash};
use async_trait::async_trait;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};
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

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn find_access_token(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<StoredAccessToken>, StoreError> {
        let row = sqlx::query(
            "SELECT user_id, user_name, client_id, scopes, admin, created_at, expires_at, revoked_at \
             FROM access_tokens WHERE token_hash = ?",
        )
        .bind(&hash[..])
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(StoredAccessToken {
                user_id: r.try_get("user_id")?,
                user_name: r.try_get("user_name")?,
                client_id: r.try_get("client_id")?,
                scopes: r.try_get("scopes")?,
                admin: r.try_get::<i64, _>("admin")? != 0,
                created_at: r.try_get("created_at")?,
                expires_at: r.try_get("expires_at")?,
                revoked: r.try_get::<Option<i64>, _>("revoked_at")?.is_some(),
            })
        })
        .transpose()
        .map_err(|e: sqlx::Error| StoreError::from(e))
    }

    async fn insert_access_token(
        &self,
        hash: &TokenHash,
        t: &StoredAccessToken,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO access_tokens \
             (token_hash, user_id, user_name, client_id, scopes, admin, created_at, expires_at, revoked_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&hash[..])
        .bind(&t.user_id)
        .bind(&t.user_name)
        .bind(&t.client_id)
        .bind(&t.scopes)
        .bind(t.admin as i64)
        .bind(t.created_at)
        .bind(t.expires_at)
        .bind(if t.revoked { Some(t.created_at) } else { None })
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn revoke_access_token(&self, hash: &TokenHash, now: i64) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE access_tokens SET revoked_at = COALESCE(revoked_at, ?) WHERE token_hash = ?",
        )
        .bind(now)
        .bind(&hash[..])
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }
}
