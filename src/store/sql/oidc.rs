//! OpenID Connect token families: written with the authorization code, read on every ID
//! token and by RP-initiated logout.

use super::{ColumnValue, Dialect, SqlStore};
use crate::store::{OidcGrant, OidcStore, StoreError};
use async_trait::async_trait;
use sqlx::{ColumnIndex, Encode, Executor, IntoArguments, Type};

#[async_trait]
impl<DB> OidcStore for SqlStore<DB>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'r> &'r str: ColumnIndex<DB::Row>,
    usize: ColumnIndex<DB::Row>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> &'q [u8]: Encode<'q, DB> + Type<DB>,
    i64: ColumnValue<DB>,
    String: ColumnValue<DB>,
    Option<String>: ColumnValue<DB>,
{
    async fn insert_oidc_grant(&self, g: &OidcGrant) -> Result<(), StoreError> {
        sqlx::query::<DB>(
            "INSERT INTO oidc_grants (family_id, client_id, user_id, sid, nonce, auth_time, \
             created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(g.family_id.as_str())
        .bind(g.client_id.as_str())
        .bind(g.user_id.as_str())
        .bind(g.sid.as_str())
        .bind(g.nonce.clone())
        .bind(g.auth_time)
        .bind(g.created_at)
        .bind(g.expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn find_oidc_grant(&self, family_id: &str) -> Result<Option<OidcGrant>, StoreError> {
        Ok(sqlx::query_as::<DB, OidcGrant>(
            "SELECT family_id, client_id, user_id, sid, nonce, auth_time, created_at, expires_at \
             FROM oidc_grants WHERE family_id = $1",
        )
        .bind(family_id)
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn oidc_families_of_sign_in(&self, sid: &str) -> Result<Vec<String>, StoreError> {
        Ok(
            sqlx::query_scalar::<DB, String>("SELECT family_id FROM oidc_grants WHERE sid = $1")
                .bind(sid)
                .fetch_all(&self.pool)
                .await?,
        )
    }
}
