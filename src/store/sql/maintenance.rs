//! Retention: deletes rows whose life ended long enough ago.

use super::{ColumnValue, Dialect, SqlStore};
use crate::store::{MaintenanceStore, StoreError};
use async_trait::async_trait;
use sqlx::{ColumnIndex, Encode, Executor, IntoArguments, Type};

/// Rows whose life ended before `$1` (now minus a grace period kept for audits and replays).
const PURGE: [&str; 8] = [
    "DELETE FROM sessions WHERE expires_at < $1",
    "DELETE FROM facebook_states WHERE expires_at < $1",
    "DELETE FROM access_tokens WHERE expires_at < $1",
    "DELETE FROM refresh_tokens WHERE expires_at < $1",
    "DELETE FROM authorization_codes WHERE expires_at < $1",
    "DELETE FROM authorization_requests WHERE expires_at < $1",
    // A family's OpenID record outlives its code: it goes with the family's last refresh token.
    "DELETE FROM oidc_grants WHERE expires_at < $1 AND NOT EXISTS \
     (SELECT 1 FROM refresh_tokens r WHERE r.family_id = oidc_grants.family_id)",
    "DELETE FROM throttles WHERE locked_until < $1 AND window_start < $1",
];

#[async_trait]
impl<DB> MaintenanceStore for SqlStore<DB>
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
    async fn purge_expired(&self, now: i64, keep_secs: i64) -> Result<u64, StoreError> {
        let before = now - keep_secs;
        let mut removed = 0;
        for statement in PURGE {
            let done = sqlx::query::<DB>(statement)
                .bind(before)
                .execute(&self.pool)
                .await?;
            removed += DB::rows_affected(&done);
        }
        Ok(removed)
    }
}
