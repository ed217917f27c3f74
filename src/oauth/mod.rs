//! The OAuth 2.0 authorization server: endpoints on `/oauth`, one file per grant under
//! `grants/`, protocol rules (PKCE, redirect matching, scopes) as pure functions.

pub mod clearances;
pub mod client_secret;
pub mod clients;
pub mod endpoints;
pub mod grants;
pub mod introspection;
pub mod issuer;
pub mod lockout;
pub mod oidc;
pub mod pages;
pub mod pkce;
pub mod request;
pub mod return_to;
pub mod scope;

use crate::auth::{hash_token, CachedValidator, Sessions, TokenChecksum};
use crate::config::{Config, OAuthConfig, TokensConfig};
use crate::metrics::Metrics;
use crate::store::{StoreHandle, TokenHash};
use crate::users::passwords::PasswordHasher;
use clients::ClientRegistry;
use lockout::Lockout;
use std::sync::Arc;

pub const METADATA_PATH: &str = "/.well-known/oauth-authorization-server";

pub struct OAuthServer {
    pub config: OAuthConfig,
    pub tokens: TokensConfig,
    /// `server.public_url` without a trailing slash: the issuer, and the base of every URL we
    /// hand out. Never derived from the request's Host.
    pub issuer: String,
    pub clients: ClientRegistry,
    pub store: StoreHandle,
    pub cache: Arc<CachedValidator>,
    /// Browser sessions, created at sign-in for `on_missing = "sign_in"` routes.
    pub sessions: Arc<Sessions>,
    /// Mints tokens and codes; screens presented ones before any lookup.
    pub checksum: Arc<TokenChecksum>,
    /// Shared with the users API: one limit on concurrent hashes for the whole process.
    pub passwords: Arc<PasswordHasher>,
    pub lockout: Lockout,
    pub metrics: Arc<Metrics>,
    pub max_body_bytes: usize,
    /// Issue times of introspected access tokens (see `introspection`).
    pub issued_at: introspection::IssuedAt,
}

impl OAuthServer {
    /// `None` when the config has no `[oauth]` section.
    pub fn new(
        config: &Config,
        store: StoreHandle,
        cache: Arc<CachedValidator>,
        sessions: Arc<Sessions>,
        checksum: Arc<TokenChecksum>,
        metrics: Arc<Metrics>,
        passwords: Arc<PasswordHasher>,
    ) -> Result<Option<OAuthServer>, String> {
        let Some(oauth) = &config.oauth else {
            return Ok(None);
        };
        for w in config.warnings() {
            tracing::warn!(warning = %w, "config");
        }
        Ok(Some(OAuthServer {
            config: oauth.clone(),
            tokens: config.tokens.clone(),
            issuer: config
                .server
                .public_url
                .as_str()
                .trim_end_matches('/')
                .to_string(),
            clients: ClientRegistry::new(&config.clients),
            passwords,
            lockout: Lockout::new(store.clone(), &oauth.lockout, metrics.clone()),
            store,
            cache,
            sessions,
            checksum,
            metrics,
            max_body_bytes: config.http.max_body_bytes,
            issued_at: introspection::IssuedAt::default(),
        }))
    }

    /// The hash to look a presented token (refresh token, code, token to introspect or
    /// revoke) up by, or `None` when its checksum says no store holds it. Each lookup it allows
    /// is counted in `gatehouse_token_store_lookups_total`, as the proxy's are.
    pub fn lookup_hash(&self, token: &str) -> Option<TokenHash> {
        self.checksum.screen(token).ok()?;
        self.metrics.token_store_lookups.inc();
        Some(hash_token(token))
    }

    /// Revoked access tokens leave this process's cache at once.
    pub async fn forget(&self, hashes: &[TokenHash]) {
        for h in hashes {
            self.cache.invalidate_hash(*h).await;
        }
    }
}
