//! Browser sessions: creation (retiring the session it replaces in the same transaction),
//! lookup, the throttled last-seen update, and revocation.

use super::{ColumnValue, Dialect, SqlStore};
use crate::store::from_row::from_row;
use crate::store::{SessionStore, StoreError, StoredSession, TokenHash};
use async_trait::async_trait;
use sqlx::{ColumnIndex, Encode, Executor, IntoArguments, Type};

from_row! {
    struct SessionRow {
        user_id: String,
        user_name: String,
        user_groups: String,
        created_at: i64,
        expires_at: i64,
        last_seen_at: i64,
        revoked_at: Option<i64>,
    }
}

impl From<SessionRow> for StoredSession {
    fn from(r: SessionRow) -> Self {
        StoredSession {
            user_id: r.user_id,
            user_name: r.user_name,
            groups: r.user_groups,
            created_at: r.created_at,
            expires_at: r.expires_at,
            last_seen_at: r.last_seen_at,
            revoked: r.revoked_at.is_some(),
        }
    }
}

#[async_trait]
impl<DB> SessionStore for SqlStore<DB>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'r> &'r str: ColumnIndex<DB::Row>,
    usize: ColumnIndex<DB::Row>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> &'q [u8]: Encode<'q, DB> + Type<DB>,
    i64: ColumnValue<DB>,
    bool: ColumnValue<DB>,
    String: ColumnValue<DB>,
    Vec<u8>: ColumnValue<DB>,
    Option<i64>: ColumnValue<DB>,
    Option<String>: ColumnValue<DB>,
{
    async fn insert_session(
        &self,
        hash: &TokenHash,
        session: &StoredSession,
        replaces: Option<&TokenHash>,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        if let Some(old) = replaces {
            let done = sqlx::query::<DB>(
                "UPDATE sessions SET revoked_at = COALESCE(revoked_at, $1) WHERE token_hash = $2",
            )
            .bind(session.created_at)
            .bind(&old[..])
            .execute(&mut *tx)
            .await?;
            if DB::rows_affected(&done) > 0 {
                DB::notify_revoked(&mut tx, std::slice::from_ref(old)).await?;
            }
        }
        sqlx::query::<DB>(
            "INSERT INTO sessions (token_hash, user_id, user_name, user_groups, created_at, \
             expires_at, last_seen_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&hash[..])
        .bind(session.user_id.as_str())
        .bind(session.user_name.as_str())
        .bind(session.groups.as_str())
        .bind(session.created_at)
        .bind(session.expires_at)
        .bind(session.last_seen_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn find_session(&self, hash: &TokenHash) -> Result<Option<StoredSession>, StoreError> {
        let row = sqlx::query_as::<DB, SessionRow>(
            "SELECT user_id, user_name, user_groups, created_at, expires_at, last_seen_at, \
             revoked_at FROM sessions WHERE token_hash = $1",
        )
        .bind(&hash[..])
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(StoredSession::from))
    }

    async fn touch_session(&self, hash: &TokenHash, now: i64) -> Result<(), StoreError> {
        // Never backwards: another replica may have written a later time already.
        sqlx::query::<DB>(
            "UPDATE sessions SET last_seen_at = $1 WHERE token_hash = $2 AND last_seen_at < $1",
        )
        .bind(now)
        .bind(&hash[..])
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn revoke_session(&self, hash: &TokenHash, now: i64) -> Result<bool, StoreError> {
        Ok(self
            .revoke_one(
                "UPDATE sessions SET revoked_at = $1 WHERE token_hash = $2 AND revoked_at IS NULL",
                hash,
                now,
            )
            .await?)
    }
}
