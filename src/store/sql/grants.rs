//! The authorization server's pending state: authorization codes and their one-time
//! redemption, sign-in requests awaiting consent, and saved consents.

use super::rows::CodeRow;
use super::{ColumnValue, Dialect, SqlStore};
use crate::store::{
    AuthorizationRequest, GrantStore, IssuedTokens, Redemption, SignedInUser, StoreError,
    StoredCode, TokenHash,
};
use async_trait::async_trait;
use sqlx::{ColumnIndex, Encode, Executor, IntoArguments, Type};

#[async_trait]
impl<DB> GrantStore for SqlStore<DB>
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
    async fn insert_code(&self, hash: &TokenHash, c: &StoredCode) -> Result<(), StoreError> {
        sqlx::query::<DB>(
            "INSERT INTO authorization_codes (code_hash, family_id, client_id, user_id, user_name, \
             redirect_uri, scopes, code_challenge, code_challenge_method, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
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
        let row = sqlx::query_as::<DB, CodeRow>(
            "SELECT family_id, client_id, user_id, user_name, redirect_uri, scopes, code_challenge, \
             code_challenge_method, created_at, expires_at, used_at \
             FROM authorization_codes WHERE code_hash = $1",
        )
        .bind(&hash[..])
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(StoredCode::from))
    }

    async fn redeem_code(
        &self,
        hash: &TokenHash,
        now: i64,
        tokens: &IssuedTokens,
    ) -> Result<Redemption, StoreError> {
        self.redeem_once(
            "UPDATE authorization_codes SET used_at = $1 \
             WHERE code_hash = $2 AND used_at IS NULL AND expires_at > $3",
            "SELECT family_id FROM authorization_codes WHERE code_hash = $1 AND used_at IS NOT NULL",
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
        sqlx::query::<DB>(
            "INSERT INTO authorization_requests (id_hash, csrf_token, client_id, redirect_uri, \
             scopes, state, code_challenge, code_challenge_method, user_id, user_name, created_at, \
             expires_at, nonce, prompt, auth_time, sid) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
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
        .bind(&q.nonce)
        .bind(&q.prompt)
        .bind(q.auth_time)
        .bind(&q.sid)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn find_authorization_request(
        &self,
        id: &TokenHash,
    ) -> Result<Option<AuthorizationRequest>, StoreError> {
        let request = sqlx::query_as::<DB, AuthorizationRequest>(
            "SELECT csrf_token, client_id, redirect_uri, scopes, state, code_challenge, \
             code_challenge_method, user_id, user_name, created_at, expires_at, nonce, prompt, \
             auth_time, sid FROM authorization_requests WHERE id_hash = $1",
        )
        .bind(&id[..])
        .fetch_optional(&self.pool)
        .await?;
        Ok(request)
    }

    async fn set_authorization_request_user(
        &self,
        id: &TokenHash,
        user: &SignedInUser,
    ) -> Result<(), StoreError> {
        sqlx::query::<DB>(
            "UPDATE authorization_requests SET user_id = $1, user_name = $2, auth_time = $3, \
             sid = $4 WHERE id_hash = $5",
        )
        .bind(user.user_id.as_str())
        .bind(user.user_name.as_str())
        .bind(user.auth_time)
        .bind(user.sid.as_str())
        .bind(&id[..])
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn take_authorization_request(&self, id: &TokenHash) -> Result<bool, StoreError> {
        let done = sqlx::query::<DB>("DELETE FROM authorization_requests WHERE id_hash = $1")
            .bind(&id[..])
            .execute(&self.pool)
            .await?;
        Ok(DB::rows_affected(&done) == 1)
    }

    async fn find_consent(
        &self,
        user_id: &str,
        client_id: &str,
    ) -> Result<Option<String>, StoreError> {
        let scopes = sqlx::query_scalar::<DB, String>(
            "SELECT scopes FROM consents WHERE user_id = $1 AND client_id = $2",
        )
        .bind(user_id)
        .bind(client_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(scopes)
    }

    async fn save_consent(
        &self,
        user_id: &str,
        client_id: &str,
        scopes: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        sqlx::query::<DB>(
            "INSERT INTO consents (user_id, client_id, scopes, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (user_id, client_id) \
             DO UPDATE SET scopes = excluded.scopes, created_at = excluded.created_at",
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
