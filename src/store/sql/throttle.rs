//! Credential-guessing throttles: one atomic upsert counts an attempt and decides on a ban.

use super::{ColumnValue, Dialect, SqlStore};
use crate::store::{StoreError, ThrottleOutcome, ThrottlePolicy, ThrottleStore};
use async_trait::async_trait;
use sqlx::{ColumnIndex, Encode, Executor, IntoArguments, Type};

/// Counts the attempt before it is evaluated: within a window at most `max` attempts pass,
/// whatever their concurrency; the one after that starts a ban.
const THROTTLE_UPSERT: &str = "\
INSERT INTO throttles (key, attempts, window_start, locked_until) VALUES ($1, 1, $2, 0) \
ON CONFLICT (key) DO UPDATE SET \
  attempts = CASE WHEN throttles.locked_until > $2 THEN throttles.attempts \
                  WHEN throttles.window_start <= $2 - $3 THEN 1 \
                  ELSE throttles.attempts + 1 END, \
  window_start = CASE WHEN throttles.locked_until <= $2 AND throttles.window_start <= $2 - $3 THEN $2 \
                      ELSE throttles.window_start END, \
  locked_until = CASE WHEN throttles.locked_until > $2 THEN throttles.locked_until \
                      WHEN throttles.window_start > $2 - $3 AND throttles.attempts + 1 > $4 THEN $2 + $5 \
                      ELSE throttles.locked_until END \
RETURNING attempts, locked_until";

#[async_trait]
impl<DB> ThrottleStore for SqlStore<DB>
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
    async fn throttle_attempt(
        &self,
        key: &str,
        now: i64,
        p: ThrottlePolicy,
    ) -> Result<ThrottleOutcome, StoreError> {
        let (attempts, locked_until) = sqlx::query_as::<DB, (i64, i64)>(THROTTLE_UPSERT)
            .bind(key)
            .bind(now)
            .bind(p.window_secs)
            .bind(p.max_attempts as i64)
            .bind(p.ban_secs)
            .fetch_one(&self.pool)
            .await?;
        Ok(ThrottleOutcome {
            allowed: locked_until <= now && attempts <= p.max_attempts as i64,
            locked_until: if locked_until > now { locked_until } else { 0 },
        })
    }

    async fn throttle_reset(&self, key: &str) -> Result<(), StoreError> {
        sqlx::query::<DB>("DELETE FROM throttles WHERE key = $1")
            .bind(key)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn throttle_release(&self, key: &str) -> Result<(), StoreError> {
        sqlx::query::<DB>(
            "UPDATE throttles SET attempts = attempts - 1 WHERE key = $1 AND attempts > 0",
        )
        .bind(key)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
