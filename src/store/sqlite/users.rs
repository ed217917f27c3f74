//! Users on SQLite.

use super::{to_hash, SqliteStore};
use crate::store::{NewUser, StoreError, TokenHash, User, UserCredentials, UserStore};
use async_trait::async_trait;
use sqlx::sqlite::SqliteRow;
use sqlx::Row;

fn user_from_row(r: &SqliteRow) -> Result<User, sqlx::Error> {
    Ok(User {
        id: r.try_get("id")?,
        username: r.try_get("username")?,
        created_at: r.try_get("created_at")?,
    })
}

#[async_trait]
impl UserStore for SqliteStore {
    async fn create_user(&self, u: &NewUser, now: i64) -> Result<User, StoreError> {
        let row = sqlx::query(
            "INSERT INTO users (username, username_key, password_hash, created_at) VALUES (?, ?, ?, ?) \
             RETURNING id, username, created_at",
        )
        .bind(&u.username)
        .bind(&u.username_key)
        .bind(&u.password_hash)
        .bind(now)
        .fetch_one(&self.pool)
        .await?;
        Ok(user_from_row(&row)?)
    }

    async fn find_user_by_key(&self, key: &str) -> Result<Option<UserCredentials>, StoreError> {
        let row = sqlx::query(
            "SELECT id, username, created_at, password_hash FROM users WHERE username_key = ?",
        )
        .bind(key)
        .fetch_optional(&self.pool)
        .await?;
        let Some(r) = row else { return Ok(None) };
        Ok(Some(UserCredentials {
            user: user_from_row(&r)?,
            password_hash: r.try_get("password_hash").map_err(StoreError::from)?,
        }))
    }

    async fn find_user(&self, id: i64) -> Result<Option<User>, StoreError> {
        let row = sqlx::query("SELECT id, username, created_at FROM users WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(user_from_row).transpose()?)
    }

    async fn list_users(&self, offset: i64, limit: i64) -> Result<(Vec<User>, i64), StoreError> {
        let rows =
            sqlx::query("SELECT id, username, created_at FROM users ORDER BY id LIMIT ? OFFSET ?")
                .bind(limit)
                .bind(offset)
                .fetch_all(&self.pool)
                .await?;
        let total: i64 = sqlx::query("SELECT COUNT(*) AS n FROM users")
            .fetch_one(&self.pool)
            .await?
            .try_get("n")?;
        let users = rows
            .iter()
            .map(user_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        Ok((users, total))
    }

    async fn delete_user(&self, id: i64, now: i64) -> Result<Option<Vec<TokenHash>>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query("DELETE FROM users WHERE id = ?")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Ok(None);
        }
        let uid = id.to_string();
        sqlx::query(
            "UPDATE refresh_tokens SET revoked_at = COALESCE(revoked_at, ?) WHERE user_id = ?",
        )
        .bind(now)
        .bind(&uid)
        .execute(&mut *tx)
        .await?;
        let rows = sqlx::query(
            "UPDATE access_tokens SET revoked_at = COALESCE(revoked_at, ?) WHERE user_id = ? RETURNING token_hash",
        )
        .bind(now)
        .bind(&uid)
        .fetch_all(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM consents WHERE user_id = ?")
            .bind(&uid)
            .execute(&mut *tx)
            .await?;
        let hashes = rows
            .iter()
            .map(|r| to_hash(r.try_get("token_hash")?))
            .collect::<Result<Vec<_>, sqlx::Error>>()?;
        tx.commit().await?;
        Ok(Some(hashes))
    }
}
