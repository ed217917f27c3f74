//! Persistent state behind one trait, so the embedded SQLite default and the shared-database
//! backends answer the same calls. Tokens are only ever stored as their SHA-256.

mod from_row;
mod handle;
mod postgres;
mod schema;
mod sql;
mod sqlite;
mod sqlite_grants;
mod types;

pub use handle::StoreHandle;
pub use postgres::{PostgresStore, RevocationFeed, RevocationSink};
pub use sql::SqlStore;
pub use sqlite::SqliteStore;
pub use types::*;

use async_trait::async_trait;

/// SHA-256 of a token: the only form in which a token reaches the store.
pub type TokenHash = [u8; 32];

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the store is unavailable: {0}")]
    Unavailable(String),
    #[error("store query failed: {0}")]
    Query(String),
    #[error("store migration failed: {0}")]
    Migration(String),
    /// A unique constraint refused the write (e.g. a username already taken).
    #[error("already exists")]
    Conflict,
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
                StoreError::Unavailable(e.to_string())
            }
            sqlx::Error::Database(ref db) if db.is_unique_violation() => StoreError::Conflict,
            other => StoreError::Query(other.to_string()),
        }
    }
}

/// Everything the product persists, on either backend.
pub trait Store: StoreParts {}
impl<T: StoreParts> Store for T {}

/// The traits every backend implements, gathered so `Store` stays one line to extend.
pub trait StoreParts:
    TokenStore
    + GrantStore
    + UserStore
    + ThrottleStore
    + MaintenanceStore
    + FacebookStore
    + SessionStore
    + KeyStore
    + OidcStore
    + Send
    + Sync
    + 'static
{
}
impl<T> StoreParts for T where
    T: TokenStore
        + GrantStore
        + UserStore
        + ThrottleStore
        + MaintenanceStore
        + FacebookStore
        + SessionStore
        + KeyStore
        + OidcStore
        + Send
        + Sync
        + 'static
{
}

#[async_trait]
pub trait TokenStore {
    /// Cheap round trip used by readiness.
    async fn ping(&self) -> Result<(), StoreError>;
    async fn find_access_token(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<StoredAccessToken>, StoreError>;
    async fn insert_access_token(
        &self,
        hash: &TokenHash,
        token: &StoredAccessToken,
    ) -> Result<(), StoreError>;
    /// Marks the token revoked; false when no such token exists.
    async fn revoke_access_token(&self, hash: &TokenHash, now: i64) -> Result<bool, StoreError>;
    /// Writes an access token and its refresh token together.
    async fn insert_tokens(&self, tokens: &IssuedTokens) -> Result<(), StoreError>;
    async fn find_refresh_token(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<StoredRefreshToken>, StoreError>;
    /// In one transaction: claims `old` if it is live and not yet rotated, asks `reissue` what
    /// to issue in its place, writes that. A rotated `old` that `reissue` accepts is a replay:
    /// its family is revoked. One connection and one transaction for the whole grant.
    async fn renew_refresh_token(
        &self,
        old: &TokenHash,
        now: i64,
        reissue: Reissue,
    ) -> Result<Renewal, StoreError>;
    /// `renew_refresh_token` with `new`, whatever the stored token holds.
    async fn rotate_refresh_token(
        &self,
        old: &TokenHash,
        now: i64,
        new: &IssuedTokens,
    ) -> Result<Redemption, StoreError> {
        let new = new.clone();
        let reissue = Reissue::cheap(move |_: &StoredRefreshToken| Some(new.clone()));
        Ok(match self.renew_refresh_token(old, now, reissue).await? {
            Renewal::Renewed => Redemption::Redeemed,
            Renewal::Replayed { revoked } => Redemption::Replayed { revoked },
            Renewal::Declined(_) | Renewal::Unusable => Redemption::Unusable,
        })
    }
    /// Revokes every access and refresh token of the family; returns the access token hashes.
    async fn revoke_family(&self, family_id: &str, now: i64) -> Result<Vec<TokenHash>, StoreError>;
    /// True when `insert_tokens` and `renew_refresh_token` use no connection bound to the
    /// store's runtime (SQLite's grant thread), so any runtime may await them and the hop to
    /// the store's runtime (two thread switches) can be skipped (`StoreHandle`).
    fn grants_off_runtime(&self) -> bool {
        false
    }
}

/// Browser sessions, keyed by the SHA-256 of the cookie's value.
#[async_trait]
pub trait SessionStore {
    /// Writes a new session; `replaces` (the session the browser signed in with, if any) is
    /// revoked in the same transaction, so a sign-in never leaves two live sessions behind.
    async fn insert_session(
        &self,
        hash: &TokenHash,
        session: &StoredSession,
        replaces: Option<&TokenHash>,
    ) -> Result<(), StoreError>;
    async fn find_session(&self, hash: &TokenHash) -> Result<Option<StoredSession>, StoreError>;
    /// Records a use at `now` (never moving the time backwards).
    async fn touch_session(&self, hash: &TokenHash, now: i64) -> Result<(), StoreError>;
    /// Marks the session revoked; false when there was no live session of that hash.
    async fn revoke_session(&self, hash: &TokenHash, now: i64) -> Result<bool, StoreError>;
}

#[async_trait]
pub trait GrantStore {
    async fn insert_code(&self, hash: &TokenHash, code: &StoredCode) -> Result<(), StoreError>;
    async fn find_code(&self, hash: &TokenHash) -> Result<Option<StoredCode>, StoreError>;
    /// Marks the code used and writes the tokens in one transaction, only on its first use;
    /// a second use revokes everything the code produced.
    async fn redeem_code(
        &self,
        hash: &TokenHash,
        now: i64,
        tokens: &IssuedTokens,
    ) -> Result<Redemption, StoreError>;
    async fn insert_authorization_request(
        &self,
        id_hash: &TokenHash,
        req: &AuthorizationRequest,
    ) -> Result<(), StoreError>;
    async fn find_authorization_request(
        &self,
        id_hash: &TokenHash,
    ) -> Result<Option<AuthorizationRequest>, StoreError>;
    async fn set_authorization_request_user(
        &self,
        id_hash: &TokenHash,
        user: &SignedInUser,
    ) -> Result<(), StoreError>;
    /// Deletes the request; false when it was already gone (a concurrent submit won).
    async fn take_authorization_request(&self, id_hash: &TokenHash) -> Result<bool, StoreError>;
    async fn find_consent(
        &self,
        user_id: &str,
        client_id: &str,
    ) -> Result<Option<String>, StoreError>;
    async fn save_consent(
        &self,
        user_id: &str,
        client_id: &str,
        scopes: &str,
        now: i64,
    ) -> Result<(), StoreError>;
}

#[async_trait]
pub trait UserStore {
    /// `StoreError::Conflict` when the username key or skeleton is taken.
    async fn create_user(&self, user: &NewUser, now: i64) -> Result<User, StoreError>;
    async fn find_user_by_key(
        &self,
        username_key: &str,
    ) -> Result<Option<UserCredentials>, StoreError>;
    /// Whether a user's confusable skeleton is this one.
    async fn username_skeleton_taken(&self, skeleton: &str) -> Result<bool, StoreError>;
    /// Gives every user stored without a skeleton (created before the column existed) the
    /// skeleton of its username key. Safe to run on every start and from several replicas at
    /// once. A user whose skeleton another user already holds keeps none; it still logs in
    /// (logins go by key), and a new look-alike of it is refused through the other user.
    async fn fill_username_skeletons(
        &self,
        skeleton_of_key: SkeletonOfKey,
    ) -> Result<SkeletonFill, StoreError>;
    async fn find_user(&self, id: i64) -> Result<Option<User>, StoreError>;
    /// One page, ordered by id, and the total count.
    async fn list_users(&self, offset: i64, limit: i64) -> Result<(Vec<User>, i64), StoreError>;
    /// Deletes the user and revokes every token and session they hold, in one transaction;
    /// `None` when there was no such user. Returns the revoked access token and session hashes.
    async fn delete_user(&self, id: i64, now: i64) -> Result<Option<Vec<TokenHash>>, StoreError>;
}

#[async_trait]
pub trait ThrottleStore {
    /// Counts one attempt against `key` (atomically) and says whether it may proceed.
    async fn throttle_attempt(
        &self,
        key: &str,
        now: i64,
        policy: ThrottlePolicy,
    ) -> Result<ThrottleOutcome, StoreError>;
    /// Counts one attempt on each key in order; when the longest ban among the keys that
    /// refused ends, or 0 when every key allowed it. With `stop_at_refusal`, keys after the
    /// first refusal are not counted.
    async fn throttle_attempts(
        &self,
        keys: &[(String, ThrottlePolicy)],
        now: i64,
        stop_at_refusal: bool,
    ) -> Result<i64, StoreError> {
        let mut until = 0;
        for (key, policy) in keys {
            let o = self.throttle_attempt(key, now, *policy).await?;
            if !o.allowed {
                until = until.max(o.locked_until.max(now + 1));
                if stop_at_refusal {
                    break;
                }
            }
        }
        Ok(until)
    }
    /// Forgets the attempts of `key` (after a success on an account).
    async fn throttle_reset(&self, key: &str) -> Result<(), StoreError>;
    /// Gives one attempt back (after a success from an address).
    async fn throttle_release(&self, key: &str) -> Result<(), StoreError>;
    /// When `key`'s ban ends, or 0 when it is not banned at `now`; counts nothing. For
    /// credentials checked before they are counted (client secrets), so that successes never
    /// count toward a ban.
    async fn throttle_locked_until(&self, key: &str, now: i64) -> Result<i64, StoreError>;
}

#[async_trait]
pub trait MaintenanceStore {
    /// Deletes tokens, codes, pending requests and throttles that ended before
    /// `now - keep_secs`; returns the number of rows removed.
    async fn purge_expired(&self, now: i64, keep_secs: i64) -> Result<u64, StoreError>;
}

/// OpenID Connect token families (`OidcGrant`), keyed by family id.
#[async_trait]
pub trait OidcStore {
    async fn insert_oidc_grant(&self, grant: &OidcGrant) -> Result<(), StoreError>;
    async fn find_oidc_grant(&self, family_id: &str) -> Result<Option<OidcGrant>, StoreError>;
    /// The families issued in the sign-in `sid`, for every client.
    async fn oidc_families_of_sign_in(&self, sid: &str) -> Result<Vec<String>, StoreError>;
}

/// Keys the server generates for itself when the config gives none.
#[async_trait]
pub trait KeyStore {
    /// The key stored under `name`, storing `candidate` first when there is none. Replicas
    /// starting together all get the one key the first of them wrote.
    async fn key_or_insert(
        &self,
        name: &str,
        candidate: &[u8],
        now: i64,
    ) -> Result<Vec<u8>, StoreError>;
    /// The key stored under `name`, if any; never writes.
    async fn find_key(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError>;
}

#[async_trait]
pub trait FacebookStore {
    async fn insert_fb_state(&self, hash: &TokenHash, state: &FbState) -> Result<(), StoreError>;
    /// The state if it is unused and unexpired, without using it: for checks that must not
    /// spend it when they fail (the browser that started the login).
    async fn peek_fb_state(
        &self,
        hash: &TokenHash,
        now: i64,
    ) -> Result<Option<FbState>, StoreError>;
    /// Marks the state used and returns it, only if it is unused and unexpired (atomic).
    async fn consume_fb_state(
        &self,
        hash: &TokenHash,
        now: i64,
    ) -> Result<Option<FbState>, StoreError>;
    /// Links (or refreshes) a Facebook account for `account.user_id` with its pages and ad
    /// accounts, in one transaction; `Conflict` when that Facebook id belongs to another user.
    /// Returns the account id (the existing one when refreshing). Pages keep their
    /// `is_connected` flag across refreshes.
    async fn link_fb_account(
        &self,
        account: &FbAccount,
        pages: &[FbPage],
        ads: &[FbAdAccount],
    ) -> Result<String, StoreError>;
    async fn find_fb_account(&self, id: &str) -> Result<Option<FbAccount>, StoreError>;
    async fn fb_pages(&self, account_id: &str) -> Result<Vec<FbPage>, StoreError>;
    /// Marks a page of the account connected; false when the account has no such page.
    async fn connect_fb_page(&self, account_id: &str, page_id: &str) -> Result<bool, StoreError>;
    /// Removes the account of that Facebook user (deauthorization); false when none.
    async fn unlink_fb_user(&self, fb_user_id: &str) -> Result<bool, StoreError>;
    /// The Facebook id and ad account ids linked to a local user, for the users API.
    async fn fb_link_of_user(
        &self,
        user_id: &str,
    ) -> Result<Option<(String, Vec<String>)>, StoreError>;
    /// `fb_link_of_user` for every user on one page of `list_users` (same offset and limit),
    /// keyed by user id: two queries for the page instead of two per user.
    async fn fb_links_of_user_page(
        &self,
        offset: i64,
        limit: i64,
    ) -> Result<std::collections::HashMap<String, (String, Vec<String>)>, StoreError>;
}

pub fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
