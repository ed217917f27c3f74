//! Local user accounts; deleting one revokes every token it holds in the same transaction.

use super::{to_hashes, ColumnValue, Dialect, SqlStore};
use crate::store::{
    NewUser, SkeletonFill, SkeletonOfKey, StoreError, TokenHash, User, UserCredentials, UserStore,
};
use async_trait::async_trait;
use sqlx::{ColumnIndex, Encode, Executor, IntoArguments, Type};

#[async_trait]
impl<DB> UserStore for SqlStore<DB>
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
    async fn create_user(&self, u: &NewUser, now: i64) -> Result<User, StoreError> {
        let user = sqlx::query_as::<DB, User>(
            "INSERT INTO users (username, username_key, username_skeleton, password_hash, \
             created_at, user_groups) VALUES ($1, $2, $3, $4, $5, $6) \
             RETURNING id, username, created_at, user_groups",
        )
        .bind(&u.username)
        .bind(&u.username_key)
        .bind(&u.username_skeleton)
        .bind(&u.password_hash)
        .bind(now)
        .bind(&u.groups)
        .fetch_one(&self.pool)
        .await?;
        Ok(user)
    }

    async fn find_user_by_key(&self, key: &str) -> Result<Option<UserCredentials>, StoreError> {
        let credentials = sqlx::query_as::<DB, UserCredentials>(
            "SELECT id, username, created_at, user_groups, password_hash FROM users \
             WHERE username_key = $1",
        )
        .bind(key)
        .fetch_optional(&self.pool)
        .await?;
        Ok(credentials)
    }

    async fn username_skeleton_taken(&self, skeleton: &str) -> Result<bool, StoreError> {
        let found =
            sqlx::query_scalar::<DB, i64>("SELECT id FROM users WHERE username_skeleton = $1")
                .bind(skeleton)
                .fetch_optional(&self.pool)
                .await?;
        Ok(found.is_some())
    }

    async fn fill_username_skeletons(
        &self,
        skeleton_of_key: SkeletonOfKey,
    ) -> Result<SkeletonFill, StoreError> {
        let mut fill = SkeletonFill::default();
        let mut after = 0_i64;
        loop {
            // Pages by id, so that rows left without a skeleton are not read again.
            let rows = sqlx::query_as::<DB, (i64, String)>(
                "SELECT id, username_key FROM users \
                 WHERE username_skeleton IS NULL AND id > $1 ORDER BY id LIMIT 500",
            )
            .bind(after)
            .fetch_all(&self.pool)
            .await?;
            let Some((last, _)) = rows.last() else {
                return Ok(fill);
            };
            after = *last;
            for (id, key) in rows {
                let done = sqlx::query::<DB>(
                    "UPDATE users SET username_skeleton = $1 \
                     WHERE id = $2 AND username_skeleton IS NULL",
                )
                .bind(skeleton_of_key(&key))
                .bind(id)
                .execute(&self.pool)
                .await;
                match done.map_err(StoreError::from) {
                    Ok(_) => fill.filled += 1,
                    Err(StoreError::Conflict) => fill.look_alikes.push(id),
                    Err(e) => return Err(e),
                }
            }
        }
    }

    async fn find_user(&self, id: i64) -> Result<Option<User>, StoreError> {
        let user = sqlx::query_as::<DB, User>(
            "SELECT id, username, created_at, user_groups FROM users WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(user)
    }

    async fn list_users(&self, offset: i64, limit: i64) -> Result<(Vec<User>, i64), StoreError> {
        let users = sqlx::query_as::<DB, User>(
            "SELECT id, username, created_at, user_groups FROM users ORDER BY id LIMIT $1 OFFSET $2",
        )
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.pool)
        .await?;
        let total = sqlx::query_scalar::<DB, i64>("SELECT COUNT(*) FROM users")
            .fetch_one(&self.pool)
            .await?;
        Ok((users, total))
    }

    async fn delete_user(&self, id: i64, now: i64) -> Result<Option<Vec<TokenHash>>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query::<DB>("DELETE FROM users WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        if DB::rows_affected(&done) == 0 {
            return Ok(None);
        }
        // Tokens name their user by the decimal id.
        let uid = id.to_string();
        sqlx::query::<DB>(
            "UPDATE refresh_tokens SET revoked_at = COALESCE(revoked_at, $1) WHERE user_id = $2",
        )
        .bind(now)
        .bind(&uid)
        .execute(&mut *tx)
        .await?;
        let rows = sqlx::query_scalar::<DB, Vec<u8>>(
            "UPDATE access_tokens SET revoked_at = COALESCE(revoked_at, $1) WHERE user_id = $2 \
             RETURNING token_hash",
        )
        .bind(now)
        .bind(&uid)
        .fetch_all(&mut *tx)
        .await?;
        let sessions = sqlx::query_scalar::<DB, Vec<u8>>(
            "UPDATE sessions SET revoked_at = COALESCE(revoked_at, $1) WHERE user_id = $2 \
             RETURNING token_hash",
        )
        .bind(now)
        .bind(&uid)
        .fetch_all(&mut *tx)
        .await?;
        sqlx::query::<DB>("DELETE FROM consents WHERE user_id = $1")
            .bind(&uid)
            .execute(&mut *tx)
            .await?;
        // Everything Facebook holds for the user goes with them, encrypted tokens included
        // (the account rows keep them): the pages and ad accounts first, then the accounts.
        for child in ["facebook_pages", "facebook_ad_accounts"] {
            sqlx::query::<DB>(&format!(
                "DELETE FROM {child} WHERE account_id IN \
                 (SELECT id FROM facebook_accounts WHERE user_id = $1)"
            ))
            .bind(&uid)
            .execute(&mut *tx)
            .await?;
        }
        for table in ["facebook_accounts", "facebook_states"] {
            sqlx::query::<DB>(&format!("DELETE FROM {table} WHERE user_id = $1"))
                .bind(&uid)
                .execute(&mut *tx)
                .await?;
        }
        let mut hashes = to_hashes(rows)?;
        hashes.extend(to_hashes(sessions)?);
        DB::notify_revoked(&mut tx, &hashes).await?;
        tx.commit().await?;
        Ok(Some(hashes))
    }
}
