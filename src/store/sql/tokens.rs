//! Access and refresh tokens: lookups, writes, single and family revocation, and rotation of
//! refresh tokens.

use super::rows::{AccessRow, RefreshRow};
use super::{ColumnValue, Dialect, SqlStore};
use crate::store::{
    IssuedTokens, Reissue, Renewal, StoreError, StoredAccessToken, StoredRefreshToken, TokenHash,
    TokenStore,
};
use async_trait::async_trait;
use sqlx::{ColumnIndex, Encode, Executor, IntoArguments, Type};

#[async_trait]
impl<DB> TokenStore for SqlStore<DB>
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
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query::<DB>("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn find_access_token(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<StoredAccessToken>, StoreError> {
        let row = sqlx::query_as::<DB, AccessRow>(
            "SELECT user_id, user_name, client_id, scopes, admin, created_at, expires_at, \
             revoked_at, family_id, user_groups FROM access_tokens WHERE token_hash = $1",
        )
        .bind(&hash[..])
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(StoredAccessToken::from))
    }

    async fn insert_access_token(
        &self,
        hash: &TokenHash,
        t: &StoredAccessToken,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        Self::insert_access(&mut tx, hash, t).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn revoke_access_token(&self, hash: &TokenHash, now: i64) -> Result<bool, StoreError> {
        Ok(self
            .revoke_one(
                "UPDATE access_tokens SET revoked_at = COALESCE(revoked_at, $1) WHERE token_hash = $2",
                hash,
                now,
            )
            .await?)
    }

    async fn insert_tokens(&self, tokens: &IssuedTokens) -> Result<(), StoreError> {
        if let Some(grants) = &self.grants {
            return grants.insert_tokens(tokens.clone()).await;
        }
        if tokens.refresh.is_none() {
            // One statement is atomic on its own: no BEGIN/COMMIT round trips around it.
            let mut conn = self.pool.acquire().await?;
            Self::insert_access(&mut conn, &tokens.access.0, &tokens.access.1).await?;
            return Ok(());
        }
        let mut tx = self.pool.begin().await?;
        Self::insert_issued(&mut tx, tokens).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn find_refresh_token(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<StoredRefreshToken>, StoreError> {
        let row = sqlx::query_as::<DB, RefreshRow>(
            "SELECT family_id, user_id, user_name, client_id, scopes, admin, created_at, \
             expires_at, rotated_at, revoked_at, user_groups FROM refresh_tokens WHERE token_hash = $1",
        )
        .bind(&hash[..])
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(StoredRefreshToken::from))
    }

    async fn renew_refresh_token(
        &self,
        old: &TokenHash,
        now: i64,
        mut reissue: Reissue,
    ) -> Result<Renewal, StoreError> {
        if let Some(grants) = &self.grants {
            if reissue.is_cheap() {
                // Look-up, `reissue` and the writes as one job on the grant thread.
                return grants.renew(*old, now, reissue).await;
            }
            // As `renew_once`: the look-up, `reissue` here (signing stays off the grant
            // thread), then the claim and the writes as one job.
            let Some(stored) = grants.find_refresh_token(*old).await? else {
                return Ok(Renewal::Unusable);
            };
            let Some(tokens) = reissue.call(&stored) else {
                return Ok(Renewal::Declined(stored));
            };
            return grants.rotate(*old, now, tokens).await;
        }
        // As in `redeem_once`: a PostgreSQL deadlock among concurrent replays of one family
        // failed a transaction that did nothing; it runs again.
        let mut tries = 0;
        loop {
            match self.renew_once(old, now, &mut reissue).await {
                Err(e) if super::redeem::is_lock_conflict(&e) && tries < 3 => tries += 1,
                result => return result.map_err(StoreError::from),
            }
        }
    }

    async fn revoke_family(&self, family_id: &str, now: i64) -> Result<Vec<TokenHash>, StoreError> {
        // Like `redeem_once`: concurrent revocations of one family may deadlock on
        // PostgreSQL; revoking is idempotent, so the one PostgreSQL failed runs again.
        let mut tries = 0;
        loop {
            let attempt = async {
                let mut tx = self.pool.begin().await?;
                let hashes = Self::revoke_family_in(&mut tx, family_id, now).await?;
                tx.commit().await?;
                Ok::<_, sqlx::Error>(hashes)
            };
            match attempt.await {
                Err(e) if super::redeem::is_lock_conflict(&e) && tries < 3 => tries += 1,
                result => return result.map_err(StoreError::from),
            }
        }
    }

    fn grants_off_runtime(&self) -> bool {
        self.grants.is_some()
    }
}
