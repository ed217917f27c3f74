//! Facebook Login: one-time states, and linked accounts with their pages and ad accounts.

use super::{ColumnValue, Dialect, SqlStore};
use crate::store::{FacebookStore, FbAccount, FbAdAccount, FbPage, FbState, StoreError, TokenHash};
use async_trait::async_trait;
use sqlx::{ColumnIndex, Encode, Executor, IntoArguments, Type};

#[async_trait]
impl<DB> FacebookStore for SqlStore<DB>
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
    async fn insert_fb_state(&self, hash: &TokenHash, s: &FbState) -> Result<(), StoreError> {
        sqlx::query::<DB>(
            "INSERT INTO facebook_states (state_hash, purpose, user_id, integrator_uri, details, \
             created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&hash[..])
        .bind(&s.purpose)
        .bind(&s.user_id)
        .bind(&s.integrator_uri)
        .bind(&s.details)
        .bind(s.created_at)
        .bind(s.expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn peek_fb_state(
        &self,
        hash: &TokenHash,
        now: i64,
    ) -> Result<Option<FbState>, StoreError> {
        let state = sqlx::query_as::<DB, FbState>(
            "SELECT purpose, user_id, integrator_uri, details, created_at, expires_at \
             FROM facebook_states WHERE state_hash = $1 AND used_at IS NULL AND expires_at > $2",
        )
        .bind(&hash[..])
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        Ok(state)
    }

    async fn consume_fb_state(
        &self,
        hash: &TokenHash,
        now: i64,
    ) -> Result<Option<FbState>, StoreError> {
        let state = sqlx::query_as::<DB, FbState>(
            "UPDATE facebook_states SET used_at = $1 \
             WHERE state_hash = $2 AND used_at IS NULL AND expires_at > $1 \
             RETURNING purpose, user_id, integrator_uri, details, created_at, expires_at",
        )
        .bind(now)
        .bind(&hash[..])
        .fetch_optional(&self.pool)
        .await?;
        Ok(state)
    }

    async fn link_fb_account(
        &self,
        a: &FbAccount,
        pages: &[FbPage],
        ads: &[FbAdAccount],
    ) -> Result<String, StoreError> {
        let mut tx = self.pool.begin().await?;
        let existing = sqlx::query_as::<DB, (String, String)>(
            "SELECT id, user_id FROM facebook_accounts WHERE fb_user_id = $1",
        )
        .bind(&a.fb_user_id)
        .fetch_optional(&mut *tx)
        .await?;
        let id = match existing {
            Some((_, owner)) if owner != a.user_id => return Err(StoreError::Conflict),
            Some((id, _)) => {
                sqlx::query::<DB>(
                    "UPDATE facebook_accounts SET name = $1, email = $2, token_ciphertext = $3, \
                     token_expires_at = $4, scopes = $5, declined_scopes = $6, updated_at = $7 \
                     WHERE id = $8",
                )
                .bind(&a.name)
                .bind(&a.email)
                .bind(&a.token_ciphertext)
                .bind(a.token_expires_at)
                .bind(&a.scopes)
                .bind(&a.declined_scopes)
                .bind(a.updated_at)
                .bind(&id)
                .execute(&mut *tx)
                .await?;
                id
            }
            None => {
                sqlx::query::<DB>(
                    "INSERT INTO facebook_accounts (id, fb_user_id, user_id, name, email, \
                     token_ciphertext, token_expires_at, scopes, declined_scopes, created_at, \
                     updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                )
                .bind(&a.id)
                .bind(&a.fb_user_id)
                .bind(&a.user_id)
                .bind(&a.name)
                .bind(&a.email)
                .bind(&a.token_ciphertext)
                .bind(a.token_expires_at)
                .bind(&a.scopes)
                .bind(&a.declined_scopes)
                .bind(a.created_at)
                .bind(a.updated_at)
                .execute(&mut *tx)
                .await?;
                a.id.clone()
            }
        };
        let connected = sqlx::query_scalar::<DB, String>(
            "SELECT page_id FROM facebook_pages WHERE account_id = $1 AND is_connected = $2",
        )
        .bind(&id)
        .bind(true)
        .fetch_all(&mut *tx)
        .await?;
        sqlx::query::<DB>("DELETE FROM facebook_pages WHERE account_id = $1")
            .bind(&id)
            .execute(&mut *tx)
            .await?;
        for p in pages {
            sqlx::query::<DB>(
                "INSERT INTO facebook_pages (account_id, page_id, name, avatar, is_owned, \
                 is_connected) VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&id)
            .bind(&p.page_id)
            .bind(&p.name)
            .bind(&p.avatar)
            .bind(p.is_owned)
            .bind(p.is_connected || connected.contains(&p.page_id))
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query::<DB>("DELETE FROM facebook_ad_accounts WHERE account_id = $1")
            .bind(&id)
            .execute(&mut *tx)
            .await?;
        for ad in ads {
            sqlx::query::<DB>(
                "INSERT INTO facebook_ad_accounts (account_id, ad_account_id, name) \
                 VALUES ($1, $2, $3)",
            )
            .bind(&id)
            .bind(&ad.ad_account_id)
            .bind(&ad.name)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(id)
    }

    async fn find_fb_account(&self, id: &str) -> Result<Option<FbAccount>, StoreError> {
        let account = sqlx::query_as::<DB, FbAccount>(
            "SELECT id, fb_user_id, user_id, name, email, token_ciphertext, token_expires_at, \
             scopes, declined_scopes, created_at, updated_at FROM facebook_accounts WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(account)
    }

    async fn fb_pages(&self, account_id: &str) -> Result<Vec<FbPage>, StoreError> {
        let pages = sqlx::query_as::<DB, FbPage>(
            "SELECT page_id, name, avatar, is_owned, is_connected FROM facebook_pages \
             WHERE account_id = $1 ORDER BY page_id",
        )
        .bind(account_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(pages)
    }

    async fn connect_fb_page(&self, account_id: &str, page_id: &str) -> Result<bool, StoreError> {
        let done = sqlx::query::<DB>(
            "UPDATE facebook_pages SET is_connected = $1 WHERE account_id = $2 AND page_id = $3",
        )
        .bind(true)
        .bind(account_id)
        .bind(page_id)
        .execute(&self.pool)
        .await?;
        Ok(DB::rows_affected(&done) == 1)
    }

    async fn unlink_fb_user(&self, fb_user_id: &str) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let id = sqlx::query_scalar::<DB, String>(
            "DELETE FROM facebook_accounts WHERE fb_user_id = $1 RETURNING id",
        )
        .bind(fb_user_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(id) = id else { return Ok(false) };
        sqlx::query::<DB>("DELETE FROM facebook_pages WHERE account_id = $1")
            .bind(&id)
            .execute(&mut *tx)
            .await?;
        sqlx::query::<DB>("DELETE FROM facebook_ad_accounts WHERE account_id = $1")
            .bind(&id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn fb_link_of_user(
        &self,
        user_id: &str,
    ) -> Result<Option<(String, Vec<String>)>, StoreError> {
        let account = sqlx::query_as::<DB, (String, String)>(
            "SELECT id, fb_user_id FROM facebook_accounts WHERE user_id = $1 \
             ORDER BY created_at LIMIT 1",
        )
        .bind(user_id)
        .fetch_optional(&self.pool)
        .await?;
        let Some((id, fb_user_id)) = account else {
            return Ok(None);
        };
        let ads = sqlx::query_scalar::<DB, String>(
            "SELECT ad_account_id FROM facebook_ad_accounts WHERE account_id = $1 \
             ORDER BY ad_account_id",
        )
        .bind(&id)
        .fetch_all(&self.pool)
        .await?;
        Ok(Some((fb_user_id, ads)))
    }

    async fn fb_links_of_user_page(
        &self,
        offset: i64,
        limit: i64,
    ) -> Result<std::collections::HashMap<String, (String, Vec<String>)>, StoreError> {
        const PAGE: &str = "SELECT CAST(id AS TEXT) FROM users ORDER BY id LIMIT $1 OFFSET $2";
        let accounts = sqlx::query_as::<DB, (String, String, String)>(&format!(
            "SELECT user_id, id, fb_user_id FROM facebook_accounts WHERE user_id IN ({PAGE}) \
             ORDER BY created_at, id"
        ))
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.pool)
        .await?;
        let ads = sqlx::query_as::<DB, (String, String)>(&format!(
            "SELECT x.account_id, x.ad_account_id FROM facebook_ad_accounts x \
             JOIN facebook_accounts a ON a.id = x.account_id WHERE a.user_id IN ({PAGE}) \
             ORDER BY x.ad_account_id"
        ))
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.pool)
        .await?;
        // As in fb_link_of_user: a user's first linked account is the one shown.
        let mut first: std::collections::HashMap<String, String> = Default::default();
        let mut links: std::collections::HashMap<String, (String, Vec<String>)> =
            Default::default();
        for (user_id, id, fb_user_id) in accounts {
            if let std::collections::hash_map::Entry::Vacant(slot) = links.entry(user_id) {
                first.insert(id, slot.key().clone());
                slot.insert((fb_user_id, Vec::new()));
            }
        }
        for (account_id, ad) in ads {
            if let Some(link) = first.get(&account_id).and_then(|u| links.get_mut(u)) {
                link.1.push(ad);
            }
        }
        Ok(links)
    }
}
