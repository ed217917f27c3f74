//! What introspection (RFC 7662) reports about a token. Access tokens are answered from the
//! proxy's token cache, so a resource server asking about a token costs what the proxy pays
//! to check it, revocation included: a revoked token leaves that cache at once on this
//! replica (and within `cache.ttl` on others, as for proxied requests). Refresh tokens, and
//! anything the cache does not hold as a live access token, are looked up in the store.

use super::OAuthServer;
use crate::auth::{hash_token, looks_like_jwt, AuthError};
use crate::http::{ApiError, Dependency};
use crate::store::{now_unix, TokenHash};
use std::time::Duration;

/// The stored facts about a token, whoever may see them.
pub struct Introspected {
    pub user_id: Option<String>,
    pub user_name: Option<String>,
    pub client_id: Option<String>,
    pub scope: String,
    pub issued_at: i64,
    pub expires_at: i64,
    pub refresh: bool,
}

/// When each access token was issued: the one fact introspection reports that the token
/// cache does not hold. It never changes, so an entry can only go, never go stale.
pub struct IssuedAt(moka::sync::Cache<TokenHash, i64>);

impl Default for IssuedAt {
    fn default() -> Self {
        IssuedAt(
            moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(Duration::from_secs(3600))
                .build(),
        )
    }
}

/// The token, if it is live now; `None` for anything unknown, expired, revoked or rotated.
pub async fn live_token(
    server: &OAuthServer,
    token: &str,
) -> Result<Option<Introspected>, ApiError> {
    // A forged `gth1_` token is inactive without touching the cache or the store. Store
    // lookups are counted where they happen below (the cache counts its own).
    if server.checksum.screen(token).is_err() {
        return Ok(None);
    }
    let hash = hash_token(token);
    // Tokens of external issuers (`[[jwt.issuers]]`) are not ours to describe: only the store's count.
    if !looks_like_jwt(token) {
        match server.cache.validate(token).await {
            Ok(identity) if identity.is_local() => {
                let issued_at = match server.issued_at.0.get(&hash) {
                    Some(at) => at,
                    None => match stored_access(server, hash).await? {
                        Some(found) => found.issued_at,
                        None => return Ok(None),
                    },
                };
                return Ok(Some(Introspected {
                    user_id: identity.user_id().map(str::to_string),
                    user_name: identity.user_name().map(str::to_string),
                    client_id: identity.client_id().map(str::to_string),
                    scope: identity.scope_string().to_string(),
                    issued_at,
                    expires_at: identity.expires_at,
                    refresh: false,
                }));
            }
            // Refused: screened out already above, so only if the key changed between the two.
            Ok(_) | Err(AuthError::Expired | AuthError::Refused(_)) => return Ok(None),
            // Not a live access token: it may still be a refresh token.
            Err(AuthError::Invalid) => return stored_refresh(server, hash).await,
            Err(AuthError::Unavailable(_)) => return Err(ApiError::Unavailable(Dependency::Store)),
        }
    }
    match stored_access(server, hash).await? {
        Some(found) => Ok(Some(found)),
        None => stored_refresh(server, hash).await,
    }
}

/// A live access token from the store; remembers when it was issued.
async fn stored_access(
    server: &OAuthServer,
    hash: TokenHash,
) -> Result<Option<Introspected>, ApiError> {
    let now = now_unix();
    server.metrics.token_store_lookups.inc();
    let found = server
        .store
        .run(move |s| async move { s.find_access_token(&hash).await })
        .await?;
    Ok(found.filter(|t| !t.revoked && t.expires_at > now).map(|t| {
        server.issued_at.0.insert(hash, t.created_at);
        Introspected {
            user_id: t.user_id,
            user_name: t.user_name,
            client_id: t.client_id,
            scope: t.scopes,
            issued_at: t.created_at,
            expires_at: t.expires_at,
            refresh: false,
        }
    }))
}

/// A live refresh token (not revoked, not yet rotated) from the store.
async fn stored_refresh(
    server: &OAuthServer,
    hash: TokenHash,
) -> Result<Option<Introspected>, ApiError> {
    let now = now_unix();
    server.metrics.token_store_lookups.inc();
    let found = server
        .store
        .run(move |s| async move { s.find_refresh_token(&hash).await })
        .await?;
    Ok(found
        .filter(|r| !r.revoked && !r.rotated && r.expires_at > now)
        .map(|r| Introspected {
            user_id: r.user_id,
            user_name: r.user_name,
            client_id: Some(r.client_id),
            scope: r.scopes,
            issued_at: r.created_at,
            expires_at: r.expires_at,
            refresh: true,
        }))
}
