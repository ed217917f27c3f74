//! Authorization codes, pending authorization requests and remembered consents on SQLite.

use super::tokens::redeem_once;
use super::SqliteStore;
use crate::store::{
    AuthorizationRequest, GrantStore, IssuedTokens, Redemption, StoreError, StoredCode, TokenHash,
};
use async_trait::async_trait;
use sqlx::Row;

#[async_trait]
impl GrantStore for SqliteStore {
    async fn insert_code(&self, hash: &TokenHash, c: &StoredCode) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO authorization_codes (code_hash, family_id, client_id, user_id, user_name, redirect_uri, \
             scopes, code_challenge, code_challenge_method, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&hash[..])
        .bind(&c.family_id)
        .bind(&c.client_id)
        .bind(&c.user_id)
        .bind(&c.user_name)
        .bind(&c.redirect_uri)
        .bind(&c.scopes)
        .bind(&c.code_challenge)
        .bind(&c.code_challenge_method)
        .bind(c.created_at)
        .bind(c.expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn find_code(&self, hash: &TokenHash) -> Result<Option<StoredCode>, StoreError> {
        let row = sqlx::query(
            "SELECT family_id, client_id, user_id, user_name, redirect_uri, scopes, code_challenge, \
             code_challenge_method, created_at, expires_at, used_at FROM authorization_codes WHERE code_hash = ?",
        )
        .bind(&hash[..])
        .fetch_optional(&self.pool)
        .await?;
        let Some(r) = row else { return Ok(None) };
        let code = (|| -> Result<StoredCode, sqlx::Error> {
            Ok(StoredCode {
                family_id: r.try_get("family_id")?,
                client_id: r.try_get("client_id")?,
                user_id: r.try_get("user_id")?,
                user_name: r.try_get("user_name")?,
                redirect_uri: r.try_get("redirect_uri")?,
                scopes: r.try_get("scopes")?,
                code_challenge: r.try_get("code_challenge")?,
                code_challenge_method: r.try_get("code_challenge_method")?,
                created_at: r.try_get("created_at")?,
                expires_at: r.try_get("expires_at")?,
                used: r.try_get::<Option<i64>, _>("used_at")?.is_some(),
            })
        })()?;
        Ok(Some(code))
    }

    async fn redeem_code(
        &self,
        hash: &TokenHash,
        now: i64,
        tokens: &IssuedTokens,
    ) -> Result<Redemption, StoreError> {
        redeem_once(
            &self.pool,
            "UPDATE authorization_codes SET used_at = ? WHERE code_hash = ? AND used_at IS NULL AND expires_at > ?",
            "SELECT family_id FROM authorization_codes WHERE code_hash = ? AND used_at IS NOT NULL",
            hash,
            now,
            tokens,
        )
        .await
    }

    async fn insert_authorization_request(
        &self,
        id: &TokenHash,
        q: &AuthorizationRequest,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO authorization_requests (id_hash, csrf_token, client_id, redirect_uri, scopes, state, \
             code_challenge, code_challenge_method, user_id, user_name, created_at, expires_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&id[..])
        .bind(&q.csrf_token)
        .bind(&q.client_id)
        .bind(&q.redirect_uri)
        .bind(&q.scopes)
        .bind(&q.state)
        .bind(&q.code_challenge)
        .bind(&q.code_challenge_method)
        .bind(&q.user_id)
        .bind(&q.user_name)
        .bind(q.created_at)
        .bind(q.expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn find_authorization_request(
        &self,
        id: &TokenHash,
    ) -> Result<Option<AuthorizationRequest>, StoreError> {
        let row = sqlx::query(
            "SELECT csrf_token, client_id, redirect_uri, scopes, state, code_challenge, code_challenge_method, \
             user_id, user_name, created_at, expires_at FROM authorization_requests WHERE id_hash = ?",
        )
        .bind(&id[..])
        .fetch_optional(&self.pool)
        .await?;
        let Some(r) = row else { return Ok(None) };
        let req = (|| -> Result<AuthorizationRequest, sqlx::Error> {
            Ok(AuthorizationRequest {
                csrf_token: r.try_get("csrf_token")?,
                client_id: r.try_get("client_id")?,
                redirect_uri: r.try_get("redirect_uri")?,
                scopes: r.try_get("scopes")?,
                state: r.try_get("state")?,
                code_challenge: r.try_get("code_challenge")?,
                code_challenge_method: r.try_get("code_challenge_method")?,
                user_id: r.try_get("user_id")?,
                user_name: r.try_get("user_name")?,
                created_at: r.try_get("created_at")?,
                expires_at: r.try_get("expires_at")?,
            })
        })()?;
        Ok(Some(req))
    }

    async fn set_authorization_request_user(
        &self,
        id: &TokenHash,
        user_id: &str,
        user_name: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE authorization_requests SET user_id = ?, user_name = ? WHERE id_hash = ?",
        )
        .bind(user_id)
        .bind(user_name)
        .bind(&id[..])
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn take_authorization_request(&self, id: &TokenHash) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM authorization_requests WHERE id_hash = ?")
            .bind(&id[..])
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn find_consent(
        &self,
        user_id: &str,
        client_id: &str,
    ) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT scopes FROM consents WHERE user_id = ? AND client_id = ?")
            .bind(user_id)
            .bind(client_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.try_get("scopes")).transpose()?)
    }

    async fn save_consent(
        &self,
        user_id: &str,
        client_id: &str,
        scopes: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO consents (user_id, client_id, scopes, created_at) VALUES (?, ?, ?, ?) \
             ON CONFLICT (user_id, client_id) DO UPDATE SET scopes = excluded.scopes, created_at = excluded.created_at",
        )
        .bind(user_id)
        .bind(client_id)
        .bind(scopes)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
