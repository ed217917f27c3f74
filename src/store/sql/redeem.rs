//! The transactions several store traits share: writing what a grant issues, revoking a token
//! family, and redeeming a one-time credential (authorization code, refresh token).

use super::rows::RefreshRow;
use super::{to_hashes, ColumnValue, Dialect, SqlStore};
use crate::store::{
    IssuedTokens, Redemption, Reissue, Renewal, StoreError, StoredAccessToken, StoredRefreshToken,
    TokenHash,
};
use sqlx::{ColumnIndex, Encode, Executor, IntoArguments, Type};

/// A refresh token in any state, as a `RefreshRow`.
const FIND_REFRESH: &str = "SELECT family_id, user_id, user_name, client_id, scopes, admin, \
    created_at, expires_at, rotated_at, revoked_at, user_groups FROM refresh_tokens \
    WHERE token_hash = $1";

impl<DB> SqlStore<DB>
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
    pub(super) async fn insert_access(
        conn: &mut DB::Connection,
        hash: &TokenHash,
        t: &StoredAccessToken,
    ) -> Result<(), sqlx::Error> {
        sqlx::query::<DB>(
            "INSERT INTO access_tokens (token_hash, user_id, user_name, client_id, scopes, admin, \
             created_at, expires_at, revoked_at, family_id, user_groups) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(&hash[..])
        .bind(&t.user_id)
        .bind(&t.user_name)
        .bind(&t.client_id)
        .bind(&t.scopes)
        .bind(t.admin)
        .bind(t.created_at)
        .bind(t.expires_at)
        .bind(if t.revoked { Some(t.created_at) } else { None })
        .bind(&t.family_id)
        .bind(&t.groups)
        .execute(&mut *conn)
        .await?;
        Ok(())
    }

    pub(super) async fn insert_issued(
        conn: &mut DB::Connection,
        tokens: &IssuedTokens,
    ) -> Result<(), sqlx::Error> {
        Self::insert_access(conn, &tokens.access.0, &tokens.access.1).await?;
        if let Some((hash, r)) = &tokens.refresh {
            sqlx::query::<DB>(
                "INSERT INTO refresh_tokens (token_hash, family_id, user_id, user_name, client_id, \
                 scopes, admin, created_at, expires_at, user_groups) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            )
            .bind(&hash[..])
            .bind(&r.family_id)
            .bind(&r.user_id)
            .bind(&r.user_name)
            .bind(&r.client_id)
            .bind(&r.scopes)
            .bind(r.admin)
            .bind(r.created_at)
            .bind(r.expires_at)
            .bind(&r.groups)
            .execute(&mut *conn)
            .await?;
        }
        Ok(())
    }

    /// Runs `sql` (an UPDATE binding `$1` = now, `$2` = the hash) and, when it changed a row,
    /// announces the hash to the other replicas in the same transaction: one-token revocation
    /// for access tokens and sessions alike.
    pub(super) async fn revoke_one(
        &self,
        sql: &'static str,
        hash: &TokenHash,
        now: i64,
    ) -> Result<bool, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query::<DB>(sql)
            .bind(now)
            .bind(&hash[..])
            .execute(&mut *tx)
            .await?;
        let found = DB::rows_affected(&done) > 0;
        if found {
            DB::notify_revoked(&mut tx, std::slice::from_ref(hash)).await?;
        }
        tx.commit().await?;
        Ok(found)
    }

    /// Revokes a family inside an open transaction and announces its access tokens.
    pub(super) async fn revoke_family_in(
        conn: &mut DB::Connection,
        family_id: &str,
        now: i64,
    ) -> Result<Vec<TokenHash>, sqlx::Error> {
        sqlx::query::<DB>(
            "UPDATE refresh_tokens SET revoked_at = COALESCE(revoked_at, $1) WHERE family_id = $2",
        )
        .bind(now)
        .bind(family_id)
        .execute(&mut *conn)
        .await?;
        let rows = sqlx::query_scalar::<DB, Vec<u8>>(
            "UPDATE access_tokens SET revoked_at = COALESCE(revoked_at, $1) WHERE family_id = $2 \
             RETURNING token_hash",
        )
        .bind(now)
        .bind(family_id)
        .fetch_all(&mut *conn)
        .await?;
        let hashes = to_hashes(rows)?;
        DB::notify_revoked(conn, &hashes).await?;
        Ok(hashes)
    }

    /// Redeems a one-time credential (code, refresh token) in one transaction. `claim` is an
    /// UPDATE binding (now, hash, now) that marks it used only if still unused; it comes
    /// first, so concurrent redemptions serialize on the row (SQLite's write lock,
    /// PostgreSQL's row lock) with one winner. The winner writes `tokens`; a loser whose
    /// credential `replayed` (a SELECT of `family_id` binding the hash) finds already used
    /// revokes that family.
    pub(super) async fn redeem_once(
        &self,
        claim: &str,
        replayed: &str,
        hash: &TokenHash,
        now: i64,
        tokens: &IssuedTokens,
    ) -> Result<Redemption, StoreError> {
        // Concurrent losers each revoke the same family, and PostgreSQL may lock its rows in
        // different orders in different transactions: a deadlock it breaks by failing one of
        // them. Revocation is idempotent, so the failed one just runs again.
        let mut tries = 0;
        loop {
            match self
                .redeem_once_tx(claim, replayed, hash, now, tokens)
                .await
            {
                Err(e) if is_lock_conflict(&e) && tries < 3 => tries += 1,
                result => return result.map_err(StoreError::from),
            }
        }
    }

    async fn redeem_once_tx(
        &self,
        claim: &str,
        replayed: &str,
        hash: &TokenHash,
        now: i64,
        tokens: &IssuedTokens,
    ) -> Result<Redemption, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query::<DB>(claim)
            .bind(now)
            .bind(&hash[..])
            .bind(now)
            .execute(&mut *tx)
            .await?;
        if DB::rows_affected(&done) == 1 {
            Self::insert_issued(&mut tx, tokens).await?;
            tx.commit().await?;
            return Ok(Redemption::Redeemed);
        }
        let family = sqlx::query_scalar::<DB, String>(replayed)
            .bind(&hash[..])
            .fetch_optional(&mut *tx)
            .await?;
        let outcome = match family {
            Some(f) => Redemption::Replayed {
                revoked: Self::revoke_family_in(&mut tx, &f, now).await?,
            },
            None => Redemption::Unusable,
        };
        tx.commit().await?;
        Ok(outcome)
    }

    /// One renewal of a refresh token on one connection: the look-up and `reissue` (checks,
    /// minting) come before the transaction, so the write lock (SQLite's is one per file) is
    /// held only for the claim and the inserts; then `redeem_once`'s claim-first transaction.
    pub(super) async fn renew_once(
        &self,
        old: &TokenHash,
        now: i64,
        reissue: &mut Reissue,
    ) -> Result<Renewal, sqlx::Error> {
        let mut conn = self.pool.acquire().await?;
        let found = sqlx::query_as::<DB, RefreshRow>(FIND_REFRESH)
            .bind(&old[..])
            .fetch_optional(&mut *conn)
            .await?;
        let Some(stored) = found.map(StoredRefreshToken::from) else {
            return Ok(Renewal::Unusable);
        };
        // Refused whatever its state (another client's, a wider scope): no replay of it.
        let Some(tokens) = reissue.call(&stored) else {
            return Ok(Renewal::Declined(stored));
        };
        let mut tx = sqlx::Connection::begin(&mut *conn).await?;
        let done = sqlx::query::<DB>(
            "UPDATE refresh_tokens SET rotated_at = $1 WHERE token_hash = $2 \
             AND rotated_at IS NULL AND revoked_at IS NULL AND expires_at > $3",
        )
        .bind(now)
        .bind(&old[..])
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if DB::rows_affected(&done) == 1 {
            Self::insert_issued(&mut tx, &tokens).await?;
            tx.commit().await?;
            return Ok(Renewal::Renewed);
        }
        // Rotated by now (perhaps by a concurrent renewal since the look-up): a replay.
        let family = sqlx::query_scalar::<DB, String>(
            "SELECT family_id FROM refresh_tokens WHERE token_hash = $1 AND rotated_at IS NOT NULL",
        )
        .bind(&old[..])
        .fetch_optional(&mut *tx)
        .await?;
        let outcome = match family {
            Some(f) => Renewal::Replayed {
                revoked: Self::revoke_family_in(&mut tx, &f, now).await?,
            },
            None => Renewal::Unusable,
        };
        tx.commit().await?;
        Ok(outcome)
    }
}

/// PostgreSQL's deadlock and serialization failures: the transaction did nothing and may be
/// run again. (SQLite serializes writers on its lock and reports neither.)
pub(super) fn is_lock_conflict(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .and_then(|d| d.code())
        .is_some_and(|c| c == "40P01" || c == "40001")
}
