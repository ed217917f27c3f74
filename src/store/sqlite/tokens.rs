//! Access and refresh tokens on SQLite.

use super::{to_hash, SqliteStore};
use crate::store::{
    IssuedTokens, Redemption, StoreError, StoredAccessToken, StoredRefreshToken, TokenHash,
    TokenStore,
};
use async_trait::async_trait;
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, Sqlite, Transaction};

fn access_from_row(r: &SqliteRow) -> Result<StoredAccessToken, sqlx::Error> {
    Ok(StoredAccessToken {
        user_id: r.try_get("user_id")?,
        user_name: r.try_get("user_name")?,
        client_id: r.try_get("client_id")?,
        scopes: r.try_get("scopes")?,
        admin: r.try_get::<i64, _>("admin")? != 0,
        created_at: r.try_get("created_at")?,
        expires_at: r.try_get("expires_at")?,
        revoked: r.try_get::<Option<i64>, _>("revoked_at")?.is_some(),
        family_id: r.try_get("family_id")?,
    })
}

fn refresh_from_row(r: &SqliteRow) -> Result<StoredRefreshToken, sqlx::Error> {
    Ok(StoredRefreshToken {
        family_id: r.try_get("family_id")?,
        user_id: r.try_get("user_id")?,
        user_name: r.try_get("user_name")?,
        client_id: r.try_get("client_id")?,
        scopes: r.try_get("scopes")?,
        admin: r.try_get::<i64, _>("admin")? != 0,
        created_at: r.try_get("created_at")?,
        expires_at: r.try_get("expires_at")?,
        rotated: r.try_get::<Option<i64>, _>("rotated_at")?.is_some(),
        revoked: r.try_get::<Option<i64>, _>("revoked_at")?.is_some(),
    })
}

pub(super) async fn insert_access(
    tx: &mut Transaction<'_, Sqlite>,
    hash: &TokenHash,
    t: &StoredAccessToken,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO access_tokens \
         (token_hash, user_id, user_name, client_id, scopes, admin, created_at, expires_at, revoked_at, family_id) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
    .bind(&t.family_id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub(super) async fn insert_issued(
    tx: &mut Transaction<'_, Sqlite>,
    tokens: &IssuedTokens,
) -> Result<(), sqlx::Error> {
    insert_access(tx, &tokens.access.0, &tokens.access.1).await?;
    if let Some((hash, r)) = &tokens.refresh {
        sqlx::query(
            "INSERT INTO refresh_tokens \
             (token_hash, family_id, user_id, user_name, client_id, scopes, admin, created_at, expires_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&hash[..])
        .bind(&r.family_id)
        .bind(&r.user_id)
        .bind(&r.user_name)
        .bind(&r.client_id)
        .bind(&r.scopes)
        .bind(r.admin as i64)
        .bind(r.created_at)
        .bind(r.expires_at)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// Revokes a family inside an open transaction; returns its access token hashes.
pub(super) async fn revoke_family_tx(
    tx: &mut Transaction<'_, Sqlite>,
    family_id: &str,
    now: i64,
) -> Result<Vec<TokenHash>, sqlx::Error> {
    sqlx::query(
        "UPDATE refresh_tokens SET revoked_at = COALESCE(revoked_at, ?) WHERE family_id = ?",
    )
    .bind(now)
    .bind(family_id)
    .execute(&mut **tx)
    .await?;
    sqlx::query(
        "UPDATE access_tokens SET revoked_at = COALESCE(revoked_at, ?) WHERE family_id = ?",
    )
    .bind(now)
    .bind(family_id)
    .execute(&mut **tx)
    .await?;
    let rows = sqlx::query("SELECT token_hash FROM access_tokens WHERE family_id = ?")
        .bind(family_id)
        .fetch_all(&mut **tx)
        .await?;
    rows.iter()
        .map(|r| to_hash(r.try_get("token_hash")?))
        .collect()
}

/// Redeems a one-time credential (code, refresh token) in one transaction. `claim` is an UPDATE
/// binding (now, hash, now) that marks it used only if still unused: it comes first so that it
/// takes SQLite's write lock, and concurrent redemptions serialize on it with one winner. The
/// winner writes `tokens`; a loser whose credential `replayed` (a SELECT of `family_id` binding
/// the hash) finds already used revokes that family.
pub(super) async fn redeem_once(
    pool: &sqlx::SqlitePool,
    claim: &str,
    replayed: &str,
    hash: &TokenHash,
    now: i64,
    tokens: &IssuedTokens,
) -> Result<Redemption, StoreError> {
    let mut tx = pool.begin().await?;
    let done = sqlx::query(claim)
        .bind(now)
        .bind(&hash[..])
        .bind(now)
        .execute(&mut *tx)
        .await?;
    if done.rows_affected() == 1 {
        insert_issued(&mut tx, tokens).await?;
        tx.commit().await?;
        return Ok(Redemption::Redeemed);
    }
    let family: Option<String> = sqlx::query(replayed)
        .bind(&hash[..])
        .fetch_optional(&mut *tx)
        .await?
        .map(|r| r.try_get("family_id"))
        .transpose()?;
    let outcome = match family {
        Some(f) => Redemption::Replayed {
            revoked: revoke_family_tx(&mut tx, &f, now).await?,
        },
        None => Redemption::Unusable,
    };
    tx.commit().await?;
    Ok(outcome)
}

#[async_trait]
impl TokenStore for SqliteStore {
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn find_access_token(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<StoredAccessToken>, StoreError> {
        let row = sqlx::query(
            "SELECT user_id, user_name, client_id, scopes, admin, created_at, expires_at, revoked_at, family_id \
             FROM access_tokens WHERE token_hash = ?",
        )
        .bind(&hash[..])
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(access_from_row).transpose()?)
    }

    async fn insert_access_token(
        &self,
        hash: &TokenHash,
        t: &StoredAccessToken,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        insert_access(&mut tx, hash, t).await?;
        tx.commit().await?;
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

    async fn insert_tokens(&self, tokens: &IssuedTokens) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        insert_issued(&mut tx, tokens).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn find_refresh_token(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<StoredRefreshToken>, StoreError> {
        let row = sqlx::query(
            "SELECT family_id, user_id, user_name, client_id, scopes, admin, created_at, expires_at, rotated_at, revoked_at \
             FROM refresh_tokens WHERE token_hash = ?",
        )
        .bind(&hash[..])
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(refresh_from_row).transpose()?)
    }

    async fn rotate_refresh_token(
        &self,
        old: &TokenHash,
        now: i64,
        new: &IssuedTokens,
    ) -> Result<Redemption, StoreError> {
        redeem_once(
            &self.pool,
            "UPDATE refresh_tokens SET rotated_at = ? \
             WHERE token_hash = ? AND rotated_at IS NULL AND revoked_at IS NULL AND expires_at > ?",
            "SELECT family_id FROM refresh_tokens WHERE token_hash = ? AND rotated_at IS NOT NULL",
            old,
            now,
            new,
        )
        .await
    }

    async fn revoke_family(&self, family_id: &str, now: i64) -> Result<Vec<TokenHash>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let hashes = revoke_family_tx(&mut tx, family_id, now).await?;
        tx.commit().await?;
        Ok(hashes)
    }
}
