//! Server-generated keys: written once by whichever replica gets there first, then only read.

use super::{ColumnValue, Dialect, SqlStore};
use crate::store::{KeyStore, StoreError};
use async_trait::async_trait;
use sqlx::{ColumnIndex, Encode, Executor, IntoArguments, Type};

#[async_trait]
impl<DB> KeyStore for SqlStore<DB>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'r> &'r str: ColumnIndex<DB::Row>,
    usize: ColumnIndex<DB::Row>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> &'q [u8]: Encode<'q, DB> + Type<DB>,
    i64: ColumnValue<DB>,
    Vec<u8>: ColumnValue<DB>,
{
    async fn key_or_insert(
        &self,
        name: &str,
        candidate: &[u8],
        now: i64,
    ) -> Result<Vec<u8>, StoreError> {
        // DO NOTHING, then read: a replica that loses the race reads the winner's key.
        sqlx::query::<DB>(
            "INSERT INTO server_keys (name, key_bytes, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(candidate)
        .bind(now)
        .execute(&self.pool)
        .await?;
        self.find_key(name)
            .await?
            .ok_or_else(|| StoreError::Query(format!("server key `{name}` vanished after insert")))
    }

    async fn find_key(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let row: Option<(Vec<u8>,)> =
            sqlx::query_as::<DB, (Vec<u8>,)>("SELECT key_bytes FROM server_keys WHERE name = $1")
                .bind(name)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(|(k,)| k))
    }
}
