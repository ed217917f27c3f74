//! Records the store reads and writes. Secrets never appear here in clear: tokens, codes and
//! request ids are keyed by their SHA-256, passwords by their argon2 hash. Records that match
//! a table column for column are read straight from its rows (`FromRow`, by `from_row!`).

use super::from_row::from_row;
use super::TokenHash;

/// An access token as the store knows it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StoredAccessToken {
    pub user_id: Option<String>,
    pub user_name: Option<String>,
    pub client_id: Option<String>,
    /// Space-separated, as in OAuth's `scope`.
    pub scopes: String,
    pub admin: bool,
    /// Unix seconds.
    pub created_at: i64,
    pub expires_at: i64,
    pub revoked: bool,
    pub family_id: Option<String>,
    /// The user's groups when the token was issued, space-separated; empty for none.
    pub groups: String,
}

/// A browser session as the store knows it (`sessions` table).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSession {
    pub user_id: String,
    pub user_name: String,
    /// The user's groups at sign-in, space-separated; empty for none.
    pub groups: String,
    /// Unix seconds.
    pub created_at: i64,
    /// The absolute end (`sessions.ttl` after sign-in).
    pub expires_at: i64,
    /// The last use written to the store (at most once per touch interval).
    pub last_seen_at: i64,
    pub revoked: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRefreshToken {
    pub family_id: String,
    pub user_id: Option<String>,
    pub user_name: Option<String>,
    pub client_id: String,
    pub scopes: String,
    pub admin: bool,
    pub created_at: i64,
    pub expires_at: i64,
    /// Already exchanged for a newer refresh token.
    pub rotated: bool,
    pub revoked: bool,
    /// Carried to the access tokens it is exchanged for (space-separated).
    pub groups: String,
}

/// What one successful grant writes: an access token and, for most grants, a refresh token.
#[derive(Debug, Clone)]
pub struct IssuedTokens {
    pub access: (TokenHash, StoredAccessToken),
    pub refresh: Option<(TokenHash, StoredRefreshToken)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCode {
    pub family_id: String,
    pub client_id: String,
    pub user_id: String,
    pub user_name: Option<String>,
    pub redirect_uri: String,
    pub scopes: String,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
    pub used: bool,
}

/// Outcome of redeeming a one-time credential (authorization code, refresh token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Redemption {
    /// First use: the new tokens were written in the same transaction.
    Redeemed,
    /// Already used: its whole family was revoked; these access tokens must leave caches.
    Replayed { revoked: Vec<TokenHash> },
    /// Unknown, expired or revoked.
    Unusable,
}

/// Decides what a refresh token is renewed with: given the stored token, the tokens to issue
/// in its place, or `None` to refuse it (wrong client, wider scope); nothing is written then.
/// Owned, so a store may run it on a thread of its own (SQLite's grant thread).
pub struct Reissue {
    make: Box<MakeTokens>,
    cheap: bool,
}

type MakeTokens = dyn FnMut(&StoredRefreshToken) -> Option<IssuedTokens> + Send;

impl Reissue {
    /// `make` signs (a JWT access token): the store runs it outside its write transaction, so
    /// other grants do not wait for the signature.
    pub fn signing(
        make: impl FnMut(&StoredRefreshToken) -> Option<IssuedTokens> + Send + 'static,
    ) -> Self {
        Reissue {
            make: Box::new(make),
            cheap: false,
        }
    }

    /// `make` costs about as much as a statement (random tokens, HMAC, SHA-256): a store may
    /// run it inside the write transaction, so look-up, check and write are one step.
    pub fn cheap(
        make: impl FnMut(&StoredRefreshToken) -> Option<IssuedTokens> + Send + 'static,
    ) -> Self {
        Reissue {
            make: Box::new(make),
            cheap: true,
        }
    }

    /// May run while the store holds its write lock (see `cheap`).
    pub fn is_cheap(&self) -> bool {
        self.cheap
    }

    pub fn call(&mut self, stored: &StoredRefreshToken) -> Option<IssuedTokens> {
        (self.make)(stored)
    }
}

/// Outcome of renewing a refresh token (`TokenStore::renew_refresh_token`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Renewal {
    /// Retired; what `Reissue` gave was written in the same transaction.
    Renewed,
    /// `Reissue` refused this stored token; nothing changed.
    Declined(StoredRefreshToken),
    /// Already rotated: its whole family was revoked; these access tokens must leave caches.
    Replayed { revoked: Vec<TokenHash> },
    /// Unknown, expired or revoked.
    Unusable,
}

from_row! {
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct AuthorizationRequest {
        pub csrf_token: String,
        pub client_id: String,
        pub redirect_uri: String,
        pub scopes: String,
        pub state: Option<String>,
        pub code_challenge: Option<String>,
        pub code_challenge_method: Option<String>,
        pub user_id: Option<String>,
        pub user_name: Option<String>,
        pub created_at: i64,
        pub expires_at: i64,
        /// OpenID Connect: the RP's `nonce`, echoed in the ID token.
        pub nonce: Option<String>,
        /// OpenID Connect: the `prompt` values asked for, space-separated.
        pub prompt: Option<String>,
        /// When the user authenticated (Unix seconds): at the sign-in form, or the session's start.
        pub auth_time: Option<i64>,
        /// The sign-in the user authenticated in (see `OidcGrant::sid`).
        pub sid: Option<String>,
    }
}

/// Who completed the sign-in form of a pending request, when, and in which sign-in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedInUser {
    pub user_id: String,
    pub user_name: String,
    pub auth_time: i64,
    pub sid: String,
}

from_row! {
    /// One token family issued with the `openid` scope: what its ID tokens repeat on every
    /// refresh, and the sign-in it came from, so that ending that sign-in finds it.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct OidcGrant {
        pub family_id: String,
        pub client_id: String,
        pub user_id: String,
        /// Names one sign-in (a browser session, or one pass through the sign-in form); never
        /// the session's cookie or its stored hash.
        pub sid: String,
        pub nonce: Option<String>,
        pub auth_time: i64,
        pub created_at: i64,
        pub expires_at: i64,
    }
}

from_row! {
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct User {
        pub id: i64,
        pub username: String,
        pub created_at: i64,
        /// Validated group names, space-separated; empty for none.
        #[column = "user_groups"]
        pub groups: String,
    }
}

#[derive(Debug, Clone)]
pub struct UserCredentials {
    pub user: User,
    pub password_hash: String,
}

/// `from_row!` with the user's columns read by `User`'s own impl (the derive's `flatten`).
impl<'r, R: sqlx::Row> sqlx::FromRow<'r, R> for UserCredentials
where
    User: sqlx::FromRow<'r, R>,
    &'r str: sqlx::ColumnIndex<R>,
    String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    fn from_row(row: &'r R) -> Result<Self, sqlx::Error> {
        Ok(UserCredentials {
            user: User::from_row(row)?,
            password_hash: row.try_get("password_hash")?,
        })
    }
}

#[derive(Debug, Clone)]
pub struct NewUser {
    /// As the username profile stores and shows it.
    pub username: String,
    /// Unique: case- and width-insensitive.
    pub username_key: String,
    /// Unique: the UTS #39 confusable skeleton of the key.
    pub username_skeleton: String,
    pub password_hash: String,
    /// Validated group names, space-separated; empty for none.
    pub groups: String,
}

/// Computes a username key's skeleton. The store cannot (it is the users layer's rule), so
/// the caller hands it in. An alias, so that `async_trait` leaves its lifetime alone.
pub type SkeletonOfKey = fn(&str) -> String;

/// What `fill_username_skeletons` did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SkeletonFill {
    pub filled: u64,
    /// Users left without a skeleton because an earlier user looks the same.
    pub look_alikes: Vec<i64>,
}

/// A throttle's verdict on one more attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottleOutcome {
    pub allowed: bool,
    /// Unix seconds; 0 when not locked.
    pub locked_until: i64,
}

#[derive(Debug, Clone, Copy)]
pub struct ThrottlePolicy {
    pub max_attempts: u32,
    pub window_secs: i64,
    pub ban_secs: i64,
}

from_row! {
    /// A one-time Facebook Login `state`: who started the login and where to send them back.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct FbState {
        /// `redirect` (seed 000's dialog), `popup` (seed 003), or `start` (a popup's start token).
        pub purpose: String,
        pub user_id: String,
        /// The integrator URL (redirect) or origin (popup), validated when the flow started.
        pub integrator_uri: String,
        /// JSON with flow details (the popup's locationId, page, reconnect…).
        pub details: String,
        pub created_at: i64,
        pub expires_at: i64,
    }
}

from_row! {
    /// A Facebook account linked to a local user; the Facebook token only ever encrypted.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct FbAccount {
        pub id: String,
        pub fb_user_id: String,
        pub user_id: String,
        pub name: Option<String>,
        pub email: Option<String>,
        pub token_ciphertext: Vec<u8>,
        pub token_expires_at: Option<i64>,
        pub scopes: String,
        pub declined_scopes: String,
        pub created_at: i64,
        pub updated_at: i64,
    }
}

from_row! {
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct FbPage {
        pub page_id: String,
        pub name: String,
        pub avatar: Option<String>,
        pub is_owned: bool,
        pub is_connected: bool,
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FbAdAccount {
    pub ad_account_id: String,
    pub name: Option<String>,
}
