//! Issuing and revoking access tokens: the one place that writes tokens, so revocation always
//! drops this process's cache entry in the same call.

use super::{hash_token, CachedValidator, TokenChecksum};
use crate::store::{now_unix, StoreError, StoreHandle, StoredAccessToken};
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone, Default)]
pub struct NewToken {
    pub user_id: Option<String>,
    pub user_name: Option<String>,
    pub client_id: Option<String>,
    pub scopes: Vec<String>,
    pub admin: bool,
    /// Validated group names the token carries.
    pub groups: Vec<String>,
}

#[derive(Clone)]
pub struct TokenService {
    store: StoreHandle,
    cache: Arc<CachedValidator>,
    checksum: Arc<TokenChecksum>,
}

impl TokenService {
    pub fn new(
        store: StoreHandle,
        cache: Arc<CachedValidator>,
        checksum: Arc<TokenChecksum>,
    ) -> Self {
        TokenService {
            store,
            cache,
            checksum,
        }
    }

    /// Stores a new access token and returns it; this is the only time the token exists in clear.
    pub async fn issue(&self, new: NewToken, ttl: Duration) -> Result<String, StoreError> {
        let token = self.checksum.mint();
        let now = now_unix();
        let stored = StoredAccessToken {
            user_id: new.user_id,
            user_name: new.user_name,
            client_id: new.client_id,
            scopes: new.scopes.join(" "),
            admin: new.admin,
            created_at: now,
            expires_at: now.saturating_add(ttl.as_secs() as i64),
            revoked: false,
            family_id: None,
            groups: new.groups.join(" "),
        };
        self.store
            .insert_access_token(hash_token(&token), stored)
            .await?;
        Ok(token)
    }

    /// Revokes in the store, then drops the cache entry: effective at once on this process.
    /// A token that fails the checksum cannot be in the store: false without a lookup.
    pub async fn revoke(&self, token: &str) -> Result<bool, StoreError> {
        if self.checksum.screen(token).is_err() {
            return Ok(false);
        }
        let found = self
            .store
            .revoke_access_token(hash_token(token), now_unix())
            .await?;
        self.cache.invalidate(token).await;
        Ok(found)
    }
}
