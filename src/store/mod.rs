//! Persistent state behind one trait, so the embedded SQLite default and the shared-database
//! backends answer the same calls. Tokens are only ever stored as their SHA-256.

mod handle;
mod sqlite;

pub use handle::StoreHandle;
pub use sqlite::SqliteStore;

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
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
                StoreError::Unavailable(e.to_string())
            }
            other => StoreError::Query(other.to_string()),
        }
    }
}

/// An access token as the store knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
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
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
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
}

pub fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
