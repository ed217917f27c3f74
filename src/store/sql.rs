//! The SQL both backends run, written once. SQLite and PostgreSQL agree on everything used here
//! (`$n` placeholders, `ON CONFLICT … DO UPDATE`, `RETURNING`, booleans bound as `bool`), so
//! one macro implements every store trait for a backend; each backend adds only how it opens,
//! migrates, and announces revocations (`notify_revoked`, run inside the revoking transaction).

macro_rules! impl_sql_store {
    ($store:ty, $db:ty) => {
        use crate::store::{
            AuthorizationRequest, GrantStore, IssuedTokens, MaintenanceStore, NewUser,
            Redemption, StoreError, StoredAccessToken, StoredCode, StoredRefreshToken,
            ThrottleOutcome, ThrottlePolicy, ThrottleStore, TokenHash, TokenStore, User,
            UserCredentials, UserStore, FacebookStore, FbAccount, FbAdAccount, FbPage, FbState,
        };
        use async_trait::async_trait;
        use sqlx::{Row, Transaction};

        type DbRow = <$db as sqlx::Database>::Row;
        type Tx = Transaction<'static, $db>;

        /// Hashes come back from binary columns; anything not 32 bytes is a corrupt row.
        fn to_hash(bytes: Vec<u8>) -> Result<TokenHash, sqlx::Error> {
            bytes
                .try_into()
                .map_err(|_| sqlx::Error::Decode("token hash is not 32 bytes".into()))
        }

        fn access_from_row(r: &DbRow) -> Result<StoredAccessToken, sqlx::Error> {
            Ok(StoredAccessToken {
                user_id: r.try_get("user_id")?,
                user_name: r.try_get("user_name")?,
                client_id: r.try_get("client_id")?,
                scopes: r.try_get("scopes")?,
                admin: r.try_get("admin")?,
                created_at: r.try_get("created_at")?,
                expires_at: r.try_get("expires_at")?,
                revoked: r.try_get::<Option<i64>, _>("revoked_at")?.is_some(),
                family_id: r.try_get("family_id")?,
            })
        }

        fn refresh_from_row(r: &DbRow) -> Result<StoredRefreshToken, sqlx::Error> {
            Ok(StoredRefreshToken {
                family_id: r.try_get("family_id")?,
                user_id: r.try_get("user_id")?,
                user_name: r.try_get("user_name")?,
                client_id: r.try_get("client_id")?,
                scopes: r.try_get("scopes")?,
                admin: r.try_get("admin")?,
                created_at: r.try_get("created_at")?,
                expires_at: r.try_get("expires_at")?,
                rotated: r.try_get::<Option<i64>, _>("rotated_at")?.is_some(),
                revoked: r.try_get::<Option<i64>, _>("revoked_at")?.is_some(),
            })
        }

        fn code_from_row(r: &DbRow) -> Result<StoredCode, sqlx::Error> {
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
        }

        fn request_from_row(r: &DbRow) -> Result<AuthorizationRequest, sqlx::Error> {
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
        }

        fn user_from_row(r: &DbRow) -> Result<User, sqlx::Error> {
            Ok(User {
                id: r.try_get("id")?,
                username: r.try_get("username")?,
                created_at: r.try_get("created_at")?,
            })
        }

        fn hashes_from_rows(rows: &[DbRow], column: &str) -> Result<Vec<TokenHash>, sqlx::Error> {
            rows.iter().map(|r| to_hash(r.try_get(column)?)).collect()
        }

        async fn insert_access(tx: &mut Tx, hash: &TokenHash, t: &StoredAccessToken) -> Result<(), sqlx::Error> {
            sqlx::query(
                "INSERT INTO access_tokens (token_hash, user_id, user_name, client_id, scopes, admin, \
                 created_at, expires_at, revoked_at, family_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
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
            .execute(&mut **tx)
            .await?;
            Ok(())
        }

        async fn insert_issued(tx: &mut Tx, tokens: &IssuedTokens) -> Result<(), sqlx::Error> {
            insert_access(tx, &tokens.access.0, &tokens.access.1).await?;
            if let Some((hash, r)) = &tokens.refresh {
                sqlx::query(
                    "INSERT INTO refresh_tokens (token_hash, family_id, user_id, user_name, client_id, scopes, \
                     admin, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
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
                .execute(&mut **tx)
                .await?;
            }
            Ok(())
        }

        /// Revokes a family inside an open transaction and announces its access tokens.
        async fn revoke_family_tx(tx: &mut Tx, family_id: &str, now: i64) -> Result<Vec<TokenHash>, sqlx::Error> {
            sqlx::query("UPDATE refresh_tokens SET revoked_at = COALESCE(revoked_at, $1) WHERE family_id = $2")
                .bind(now)
                .bind(family_id)
                .execute(&mut **tx)
                .await?;
            let rows = sqlx::query(
                "UPDATE access_tokens SET revoked_at = COALESCE(revoked_at, $1) WHERE family_id = $2 RETURNING token_hash",
            )
            .bind(now)
            .bind(family_id)
            .fetch_all(&mut **tx)
            .await?;
            let hashes = hashes_from_rows(&rows, "token_hash")?;
            <$store>::notify_revoked(tx, &hashes).await?;
            Ok(hashes)
        }

        /// Redeems a one-time credential (code, refresh token) in one transaction. `claim` is an
        /// UPDATE binding (now, hash, now) that marks it used only if still unused; it comes
        /// first, so concurrent redemptions serialize on the row (SQLite's write lock,
        /// PostgreSQL's row lock) with one winner. The winner writes `tokens`; a loser whose
        /// credential `replayed` (a SELECT of `family_id` binding the hash) finds already used
        /// revokes that family.
        async fn redeem_once(
            pool: &sqlx::Pool<$db>,
            claim: &str,
            replayed: &str,
            hash: &TokenHash,
            now: i64,
            tokens: &IssuedTokens,
        ) -> Result<Redemption, StoreError> {
            let mut tx = pool.begin().await?;
            let done = sqlx::query(claim).bind(now).bind(&hash[..]).bind(now).execute(&mut *tx).await?;
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
                Some(f) => Redemption::Replayed { revoked: revoke_family_tx(&mut tx, &f, now).await? },
                None => Redemption::Unusable,
            };
            tx.commit().await?;
            Ok(outcome)
        }

        #[async_trait]
        impl TokenStore for $store {
            async fn ping(&self) -> Result<(), StoreError> {
                sqlx::query("SELECT 1").execute(&self.pool).await?;
                Ok(())
            }

            async fn find_access_token(&self, hash: &TokenHash) -> Result<Option<StoredAccessToken>, StoreError> {
                let row = sqlx::query(
                    "SELECT user_id, user_name, client_id, scopes, admin, created_at, expires_at, revoked_at, family_id \
                     FROM access_tokens WHERE token_hash = $1",
                )
                .bind(&hash[..])
                .fetch_optional(&self.pool)
                .await?;
                Ok(row.as_ref().map(access_from_row).transpose()?)
            }

            async fn insert_access_token(&self, hash: &TokenHash, t: &StoredAccessToken) -> Result<(), StoreError> {
                let mut tx = self.pool.begin().await?;
                insert_access(&mut tx, hash, t).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn revoke_access_token(&self, hash: &TokenHash, now: i64) -> Result<bool, StoreError> {
                let mut tx = self.pool.begin().await?;
                let done = sqlx::query("UPDATE access_tokens SET revoked_at = COALESCE(revoked_at, $1) WHERE token_hash = $2")
                    .bind(now)
                    .bind(&hash[..])
                    .execute(&mut *tx)
                    .await?;
                let found = done.rows_affected() > 0;
                if found {
                    <$store>::notify_revoked(&mut tx, std::slice::from_ref(hash)).await?;
                }
                tx.commit().await?;
                Ok(found)
            }

            async fn insert_tokens(&self, tokens: &IssuedTokens) -> Result<(), StoreError> {
                let mut tx = self.pool.begin().await?;
                insert_issued(&mut tx, tokens).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn find_refresh_token(&self, hash: &TokenHash) -> Result<Option<StoredRefreshToken>, StoreError> {
                let row = sqlx::query(
                    "SELECT family_id, user_id, user_name, client_id, scopes, admin, created_at, expires_at, \
                     rotated_at, revoked_at FROM refresh_tokens WHERE token_hash = $1",
                )
                .bind(&hash[..])
                .fetch_optional(&self.pool)
                .await?;
                Ok(row.as_ref().map(refresh_from_row).transpose()?)
            }

            async fn rotate_refresh_token(&self, old: &TokenHash, now: i64, new: &IssuedTokens) -> Result<Redemption, StoreError> {
                redeem_once(
                    &self.pool,
                    "UPDATE refresh_tokens SET rotated_at = $1 \
                     WHERE token_hash = $2 AND rotated_at IS NULL AND revoked_at IS NULL AND expires_at > $3",
                    "SELECT family_id FROM refresh_tokens WHERE token_hash = $1 AND rotated_at IS NOT NULL",
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

        #[async_trait]
        impl GrantStore for $store {
            async fn insert_code(&self, hash: &TokenHash, c: &StoredCode) -> Result<(), StoreError> {
                sqlx::query(
                    "INSERT INTO authorization_codes (code_hash, family_id, client_id, user_id, user_name, redirect_uri, \
                     scopes, code_challenge, code_challenge_method, created_at, expires_at) \
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
                let row = sqlx::query(
                    "SELECT family_id, client_id, user_id, user_name, redirect_uri, scopes, code_challenge, \
                     code_challenge_method, created_at, expires_at, used_at FROM authorization_codes WHERE code_hash = $1",
                )
                .bind(&hash[..])
                .fetch_optional(&self.pool)
                .await?;
                Ok(row.as_ref().map(code_from_row).transpose()?)
            }

            async fn redeem_code(&self, hash: &TokenHash, now: i64, tokens: &IssuedTokens) -> Result<Redemption, StoreError> {
                redeem_once(
                    &self.pool,
                    "UPDATE authorization_codes SET used_at = $1 WHERE code_hash = $2 AND used_at IS NULL AND expires_at > $3",
                    "SELECT family_id FROM authorization_codes WHERE code_hash = $1 AND used_at IS NOT NULL",
                    hash,
                    now,
                    tokens,
                )
                .await
            }

            async fn insert_authorization_request(&self, id: &TokenHash, q: &AuthorizationRequest) -> Result<(), StoreError> {
                sqlx::query(
                    "INSERT INTO authorization_requests (id_hash, csrf_token, client_id, redirect_uri, scopes, state, \
                     code_challenge, code_challenge_method, user_id, user_name, created_at, expires_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
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

            async fn find_authorization_request(&self, id: &TokenHash) -> Result<Option<AuthorizationRequest>, StoreError> {
                let row = sqlx::query(
                    "SELECT csrf_token, client_id, redirect_uri, scopes, state, code_challenge, code_challenge_method, \
                     user_id, user_name, created_at, expires_at FROM authorization_requests WHERE id_hash = $1",
                )
                .bind(&id[..])
                .fetch_optional(&self.pool)
                .await?;
                Ok(row.as_ref().map(request_from_row).transpose()?)
            }

            async fn set_authorization_request_user(&self, id: &TokenHash, user_id: &str, user_name: &str) -> Result<(), StoreError> {
                sqlx::query("UPDATE authorization_requests SET user_id = $1, user_name = $2 WHERE id_hash = $3")
                    .bind(user_id)
                    .bind(user_name)
                    .bind(&id[..])
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn take_authorization_request(&self, id: &TokenHash) -> Result<bool, StoreError> {
                let done = sqlx::query("DELETE FROM authorization_requests WHERE id_hash = $1")
                    .bind(&id[..])
                    .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn find_consent(&self, user_id: &str, client_id: &str) -> Result<Option<String>, StoreError> {
                let row = sqlx::query("SELECT scopes FROM consents WHERE user_id = $1 AND client_id = $2")
                    .bind(user_id)
                    .bind(client_id)
                    .fetch_optional(&self.pool)
                    .await?;
                Ok(row.map(|r| r.try_get("scopes")).transpose()?)
            }

            async fn save_consent(&self, user_id: &str, client_id: &str, scopes: &str, now: i64) -> Result<(), StoreError> {
                sqlx::query(
                    "INSERT INTO consents (user_id, client_id, scopes, created_at) VALUES ($1, $2, $3, $4) \
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

        #[async_trait]
        impl UserStore for $store {
            async fn create_user(&self, u: &NewUser, now: i64) -> Result<User, StoreError> {
                let row = sqlx::query(
                    "INSERT INTO users (username, username_key, password_hash, created_at) VALUES ($1, $2, $3, $4) \
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
                let row = sqlx::query("SELECT id, username, created_at, password_hash FROM users WHERE username_key = $1")
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
                let row = sqlx::query("SELECT id, username, created_at FROM users WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?;
                Ok(row.as_ref().map(user_from_row).transpose()?)
            }

            async fn list_users(&self, offset: i64, limit: i64) -> Result<(Vec<User>, i64), StoreError> {
                let rows = sqlx::query("SELECT id, username, created_at FROM users ORDER BY id LIMIT $1 OFFSET $2")
                    .bind(limit)
                    .bind(offset)
                    .fetch_all(&self.pool)
                    .await?;
                let total: i64 = sqlx::query("SELECT COUNT(*) AS n FROM users").fetch_one(&self.pool).await?.try_get("n")?;
                let users = rows.iter().map(user_from_row).collect::<Result<Vec<_>, _>>()?;
                Ok((users, total))
            }

            async fn delete_user(&self, id: i64, now: i64) -> Result<Option<Vec<TokenHash>>, StoreError> {
                let mut tx = self.pool.begin().await?;
                let done = sqlx::query("DELETE FROM users WHERE id = $1").bind(id).execute(&mut *tx).await?;
                if done.rows_affected() == 0 {
                    return Ok(None);
                }
                let uid = id.to_string();
                sqlx::query("UPDATE refresh_tokens SET revoked_at = COALESCE(revoked_at, $1) WHERE user_id = $2")
                    .bind(now)
                    .bind(&uid)
                    .execute(&mut *tx)
                    .await?;
                let rows = sqlx::query(
                    "UPDATE access_tokens SET revoked_at = COALESCE(revoked_at, $1) WHERE user_id = $2 RETURNING token_hash",
                )
                .bind(now)
                .bind(&uid)
                .fetch_all(&mut *tx)
                .await?;
                sqlx::query("DELETE FROM consents WHERE user_id = $1").bind(&uid).execute(&mut *tx).await?;
                let hashes = hashes_from_rows(&rows, "token_hash")?;
                <$store>::notify_revoked(&mut tx, &hashes).await?;
                tx.commit().await?;
                Ok(Some(hashes))
            }
        }

        #[async_trait]
        impl ThrottleStore for $store {
            async fn throttle_attempt(&self, key: &str, now: i64, p: ThrottlePolicy) -> Result<ThrottleOutcome, StoreError> {
                let row = sqlx::query(crate::store::sql::THROTTLE_UPSERT)
                    .bind(key)
                    .bind(now)
                    .bind(p.window_secs)
                    .bind(p.max_attempts as i64)
                    .bind(p.ban_secs)
                    .fetch_one(&self.pool)
                    .await?;
                let attempts: i64 = row.try_get("attempts")?;
                let locked_until: i64 = row.try_get("locked_until")?;
                Ok(ThrottleOutcome {
                    allowed: locked_until <= now && attempts <= p.max_attempts as i64,
                    locked_until: if locked_until > now { locked_until } else { 0 },
                })
            }

            async fn throttle_reset(&self, key: &str) -> Result<(), StoreError> {
                sqlx::query("DELETE FROM throttles WHERE key = $1").bind(key).execute(&self.pool).await?;
                Ok(())
            }

            async fn throttle_release(&self, key: &str) -> Result<(), StoreError> {
                sqlx::query("UPDATE throttles SET attempts = attempts - 1 WHERE key = $1 AND attempts > 0")
                    .bind(key)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }
        }

        fn fb_account_from_row(r: &DbRow) -> Result<FbAccount, sqlx::Error> {
            Ok(FbAccount {
                id: r.try_get("id")?,
                fb_user_id: r.try_get("fb_user_id")?,
                user_id: r.try_get("user_id")?,
                name: r.try_get("name")?,
                email: r.try_get("email")?,
                token_ciphertext: r.try_get("token_ciphertext")?,
                token_expires_at: r.try_get("token_expires_at")?,
                scopes: r.try_get("scopes")?,
                declined_scopes: r.try_get("declined_scopes")?,
                created_at: r.try_get("created_at")?,
                updated_at: r.try_get("updated_at")?,
            })
        }

        #[async_trait]
        impl FacebookStore for $store {
            async fn insert_fb_state(&self, hash: &TokenHash, s: &FbState) -> Result<(), StoreError> {
                sqlx::query(
                    "INSERT INTO facebook_states (state_hash, purpose, user_id, integrator_uri, details, created_at, expires_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
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

            async fn consume_fb_state(&self, hash: &TokenHash, now: i64) -> Result<Option<FbState>, StoreError> {
                let row = sqlx::query(
                    "UPDATE facebook_states SET used_at = $1 WHERE state_hash = $2 AND used_at IS NULL AND expires_at > $1 \
                     RETURNING purpose, user_id, integrator_uri, details, created_at, expires_at",
                )
                .bind(now)
                .bind(&hash[..])
                .fetch_optional(&self.pool)
                .await?;
                let Some(r) = row else { return Ok(None) };
                Ok(Some(FbState {
                    purpose: r.try_get("purpose")?,
                    user_id: r.try_get("user_id")?,
                    integrator_uri: r.try_get("integrator_uri")?,
                    details: r.try_get("details")?,
                    created_at: r.try_get("created_at")?,
                    expires_at: r.try_get("expires_at")?,
                }))
            }

            async fn link_fb_account(&self, a: &FbAccount, pages: &[FbPage], ads: &[FbAdAccount]) -> Result<String, StoreError> {
                let mut tx = self.pool.begin().await?;
                let existing = sqlx::query("SELECT id, user_id FROM facebook_accounts WHERE fb_user_id = $1")
                    .bind(&a.fb_user_id)
                    .fetch_optional(&mut *tx)
                    .await?;
                let id = match existing {
                    Some(r) => {
                        let owner: String = r.try_get("user_id")?;
                        if owner != a.user_id {
                            return Err(StoreError::Conflict);
                        }
                        let id: String = r.try_get("id")?;
                        sqlx::query(
                            "UPDATE facebook_accounts SET name = $1, email = $2, token_ciphertext = $3, token_expires_at = $4, \
                             scopes = $5, declined_scopes = $6, updated_at = $7 WHERE id = $8",
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
                        sqlx::query(
                            "INSERT INTO facebook_accounts (id, fb_user_id, user_id, name, email, token_ciphertext, \
                             token_expires_at, scopes, declined_scopes, created_at, updated_at) \
                             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
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
                let connected: Vec<String> = sqlx::query("SELECT page_id FROM facebook_pages WHERE account_id = $1 AND is_connected = $2")
                    .bind(&id)
                    .bind(true)
                    .fetch_all(&mut *tx)
                    .await?
                    .iter()
                    .map(|r| r.try_get("page_id"))
                    .collect::<Result<_, _>>()?;
                sqlx::query("DELETE FROM facebook_pages WHERE account_id = $1").bind(&id).execute(&mut *tx).await?;
                for p in pages {
                    sqlx::query(
                        "INSERT INTO facebook_pages (account_id, page_id, name, avatar, is_owned, is_connected) \
                         VALUES ($1, $2, $3, $4, $5, $6)",
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
                sqlx::query("DELETE FROM facebook_ad_accounts WHERE account_id = $1").bind(&id).execute(&mut *tx).await?;
                for ad in ads {
                    sqlx::query("INSERT INTO facebook_ad_accounts (account_id, ad_account_id, name) VALUES ($1, $2, $3)")
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
                let row = sqlx::query(
                    "SELECT id, fb_user_id, user_id, name, email, token_ciphertext, token_expires_at, scopes, \
                     declined_scopes, created_at, updated_at FROM facebook_accounts WHERE id = $1",
                )
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
                Ok(row.as_ref().map(fb_account_from_row).transpose()?)
            }

            async fn fb_pages(&self, account_id: &str) -> Result<Vec<FbPage>, StoreError> {
                let rows = sqlx::query(
                    "SELECT page_id, name, avatar, is_owned, is_connected FROM facebook_pages WHERE account_id = $1 ORDER BY page_id",
                )
                .bind(account_id)
                .fetch_all(&self.pool)
                .await?;
                let pages = rows
                    .iter()
                    .map(|r| -> Result<FbPage, sqlx::Error> {
                        Ok(FbPage {
                            page_id: r.try_get("page_id")?,
                            name: r.try_get("name")?,
                            avatar: r.try_get("avatar")?,
                            is_owned: r.try_get("is_owned")?,
                            is_connected: r.try_get("is_connected")?,
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(pages)
            }

            async fn connect_fb_page(&self, account_id: &str, page_id: &str) -> Result<bool, StoreError> {
                let done = sqlx::query("UPDATE facebook_pages SET is_connected = $1 WHERE account_id = $2 AND page_id = $3")
                    .bind(true)
                    .bind(account_id)
                    .bind(page_id)
                    .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn unlink_fb_user(&self, fb_user_id: &str) -> Result<bool, StoreError> {
                let mut tx = self.pool.begin().await?;
                let row = sqlx::query("DELETE FROM facebook_accounts WHERE fb_user_id = $1 RETURNING id")
                    .bind(fb_user_id)
                    .fetch_optional(&mut *tx)
                    .await?;
                let Some(r) = row else { return Ok(false) };
                let id: String = r.try_get("id")?;
                sqlx::query("DELETE FROM facebook_pages WHERE account_id = $1").bind(&id).execute(&mut *tx).await?;
                sqlx::query("DELETE FROM facebook_ad_accounts WHERE account_id = $1").bind(&id).execute(&mut *tx).await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn fb_link_of_user(&self, user_id: &str) -> Result<Option<(String, Vec<String>)>, StoreError> {
                let row = sqlx::query("SELECT id, fb_user_id FROM facebook_accounts WHERE user_id = $1 ORDER BY created_at LIMIT 1")
                    .bind(user_id)
                    .fetch_optional(&self.pool)
                    .await?;
                let Some(r) = row else { return Ok(None) };
                let id: String = r.try_get("id")?;
                let ads = sqlx::query("SELECT ad_account_id FROM facebook_ad_accounts WHERE account_id = $1 ORDER BY ad_account_id")
                    .bind(&id)
                    .fetch_all(&self.pool)
                    .await?
                    .iter()
                    .map(|r| r.try_get("ad_account_id"))
                    .collect::<Result<Vec<String>, _>>()?;
                Ok(Some((r.try_get("fb_user_id")?, ads)))
            }
        }

        #[async_trait]
        impl MaintenanceStore for $store {
            async fn purge_expired(&self, now: i64, keep_secs: i64) -> Result<u64, StoreError> {
                let before = now - keep_secs;
                let mut removed = 0;
                for statement in crate::store::sql::PURGE {
                    removed += sqlx::query(statement).bind(before).execute(&self.pool).await?.rows_affected();
                }
                Ok(removed)
            }
        }
    };
}

pub(crate) use impl_sql_store;

/// Counts the attempt before it is evaluated: within a window at most `max` attempts pass,
/// whatever their concurrency; the one after that starts a ban.
pub(crate) const THROTTLE_UPSERT: &str = "\
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

/// Rows whose life ended before `$1` (now minus a grace period kept for audits and replays).
pub(crate) const PURGE: [&str; 6] = [
    "DELETE FROM facebook_states WHERE expires_at < $1",
    "DELETE FROM access_tokens WHERE expires_at < $1",
    "DELETE FROM refresh_tokens WHERE expires_at < $1",
    "DELETE FROM authorization_codes WHERE expires_at < $1",
    "DELETE FROM authorization_requests WHERE expires_at < $1",
    "DELETE FROM throttles WHERE locked_until < $1 AND window_start < $1",
];
