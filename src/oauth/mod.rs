//! The OAuth 2.0 authorization server: endpoints on `/oauth`, one file per grant under
//! `grants/`, protocol rules (PKCE, redirect matching, scopes) as pure functions.

pub mod clients;
pub mod endpoints;
pub mod error;
pub mod grants;
pub mod issuer;
pub mod lockout;
pub mod pages;
pub mod pkce;
pub mod request;
pub mod scope;

pub use error::OAuthError;

use crate::auth::CachedValidator;
use crate::config::{Config, OAuthConfig, TokensConfig};
use crate::handlers::HandlerRequest;
use crate::http::OwnResponse;
use crate::metrics::Metrics;
use crate::store::{StoreHandle, TokenHash};
use crate::users::passwords::PasswordHasher;
use clients::ClientRegistry;
use http::Method;
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
    pub passwords: PasswordHasher,
    pub lockout: Lockout,
    pub metrics: Arc<Metrics>,
    pub max_body_bytes: usize,
}

impl OAuthServer {
    /// `None` when the config has no `[oauth]` section.
    pub fn new(
        config: &Config,
        store: StoreHandle,
        cache: Arc<CachedValidator>,
        metrics: Arc<Metrics>,
    ) -> Result<Option<OAuthServer>, String> {
        let Some(oauth) = &config.oauth else {
            return Ok(None);
        };
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
            passwords: PasswordHasher::new(
                store.clone(),
                oauth.max_concurrent_hashes,
                metrics.password_checks.clone(),
            )?,
            lockout: Lockout::new(store.clone(), &oauth.lockout, metrics.clone()),
            store,
            cache,
            metrics,
            max_body_bytes: config.http.max_body_bytes,
        }))
    }

    pub async fn handle(&self, req: &HandlerRequest<'_>) -> OwnResponse {
        let result = match (req.method, req.path) {
            (&Method::GET, METADATA_PATH) => Ok(endpoints::metadata::document(self)),
            (&Method::POST, "/oauth/authorize") => {
                endpoints::legacy_password::handle(self, req).await
            }
            (&Method::GET, "/oauth/authorize") => endpoints::authorize::start(self, req).await,
            (&Method::POST, "/oauth/sign-in") => endpoints::authorize::sign_in(self, req).await,
            (&Method::GET, "/oauth/consent") => endpoints::authorize::consent_page(self, req).await,
            (&Method::POST, "/oauth/consent") => endpoints::authorize::consent(self, req).await,
            (&Method::POST, "/oauth/token") => endpoints::token::handle(self, req).await,
            (&Method::POST, "/oauth/revoke") => endpoints::revoke::handle(self, req).await,
            (&Method::POST, "/oauth/introspect") => endpoints::introspect::handle(self, req).await,
            (
                _,
                METADATA_PATH | "/oauth/authorize" | "/oauth/sign-in" | "/oauth/consent"
                | "/oauth/token" | "/oauth/revoke" | "/oauth/introspect",
            ) => Err(OAuthError::MethodNotAllowed),
            _ => Err(OAuthError::NotFound),
        };
        result.unwrap_or_else(|e| e.response())
    }

    /// Revoked access tokens leave this process's cache at once.
    pub async fn forget(&self, hashes: &[TokenHash]) {
        for h in hashes {
            self.cache.invalidate_hash(*h).await;
        }
    }
}
