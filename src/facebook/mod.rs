//! The Facebook Login client on `/facebook` and `/social-media-posting/oauth/facebook`:
//! the dialog redirect (seed 000), the callback that links the Facebook account to the local
//! user, the popup flow reporting through `postMessage` (seed 003), the connected-accounts API,
//! and Facebook's deauthorize / data-deletion callbacks.

mod accounts;
mod callbacks;
pub mod cipher;
pub mod graph;
pub mod integrator;
mod login;
pub mod pages;
pub mod signed_request;

use crate::auth::{extract_token, AuthError, CachedValidator, Identity, Locations};
use crate::config::{Config, FacebookConfig};
use crate::handlers::HandlerRequest;
use crate::http::OwnResponse;
use crate::metrics::Metrics;
use crate::store::StoreHandle;
use cipher::TokenCipher;
use graph::GraphClient;
use http::Method;
use std::sync::Arc;

pub const SOCIAL_PREFIX: &str = "/social-media-posting/oauth/facebook";

pub struct FacebookService {
    pub config: FacebookConfig,
    pub graph: GraphClient,
    pub cipher: TokenCipher,
    pub store: StoreHandle,
    pub validator: Arc<CachedValidator>,
    pub metrics: Arc<Metrics>,
    /// `server.public_url` without a trailing slash.
    pub public_url: String,
    /// Our callback as sent to the dialog; the code exchange repeats it byte for byte.
    pub callback_url: String,
    pub max_body_bytes: usize,
}

/// Why the caller is not authenticated.
pub enum Unauthenticated {
    Missing,
    Invalid,
    StoreDown,
}

impl FacebookService {
    pub fn new(
        config: &Config,
        store: StoreHandle,
        validator: Arc<CachedValidator>,
        metrics: Arc<Metrics>,
    ) -> Result<Option<FacebookService>, String> {
        let Some(fb) = &config.facebook else {
            return Ok(None);
        };
        let public_url = config
            .server
            .public_url
            .as_str()
            .trim_end_matches('/')
            .to_string();
        Ok(Some(FacebookService {
            graph: GraphClient::new(fb, metrics.clone())?,
            cipher: TokenCipher::new(&fb.token_key),
            config: fb.clone(),
            callback_url: format!("{public_url}/facebook/oauth_code"),
            public_url,
            store,
            validator,
            metrics,
            max_body_bytes: config.http.max_body_bytes,
        }))
    }

    pub async fn handle(&self, req: &HandlerRequest<'_>) -> OwnResponse {
        let path = req
            .path
            .strip_prefix(SOCIAL_PREFIX)
            .map(|rest| format!("/facebook{rest}"));
        let path = path.as_deref().unwrap_or(req.path);
        match (req.method, path) {
            (&Method::GET, "/facebook/oauth_dialog") => login::dialog(self, req).await,
            (&Method::GET, "/facebook/oauth_code") => login::callback(self, req).await,
            (&Method::GET, "/facebook/start") => login::start_popup(self, req).await,
            (&Method::POST, "/facebook/start-token") => login::start_token(self, req).await,
            (&Method::POST, "/facebook/deauthorize") => callbacks::deauthorize(self, req).await,
            (&Method::POST | &Method::GET, "/facebook/data-deletion") => {
                callbacks::data_deletion(self, req).await
            }
            (m, p) if p.starts_with("/facebook/accounts/") => {
                let id = &p["/facebook/accounts/".len()..];
                accounts::handle(self, req, m, id).await
            }
            _ => OwnResponse::error(404, "not_found", "no such Facebook endpoint"),
        }
    }

    /// The Gatehouse user behind the request: Bearer, `OAuth` header or `?oauth_token=`
    /// (the seed clients' forms are always accepted on these endpoints).
    pub async fn authenticate(
        &self,
        req: &HandlerRequest<'_>,
    ) -> Result<Arc<Identity>, Unauthenticated> {
        let locations = Locations {
            oauth_header: true,
            query_param: true,
        };
        let token = match extract_token(req.headers, req.query, locations) {
            Ok(Some(t)) => t,
            Ok(None) => return Err(Unauthenticated::Missing),
            Err(_) => return Err(Unauthenticated::Invalid),
        };
        match self.validator.validate(&token).await {
            Ok(identity) if identity.user_id.is_some() => Ok(identity),
            Ok(_) | Err(AuthError::Invalid | AuthError::Expired) => Err(Unauthenticated::Invalid),
            Err(AuthError::Unavailable(_)) => Err(Unauthenticated::StoreDown),
        }
    }
}
