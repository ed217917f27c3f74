//! The Facebook Login client on `/facebook` and `/social-media-posting/oauth/facebook`:
//! the dialog redirect (seed 000), the callback that links the Facebook account to the local
//! user, the popup flow reporting through `postMessage` (seed 003), the connected-accounts API,
//! and Facebook's deauthorize / data-deletion callbacks.

mod accounts;
mod callback;
mod callbacks;
pub mod cipher;
pub mod graph;
pub mod integrator;
mod login;
pub mod pages;
pub mod signed_request;

use crate::config::{Config, FacebookConfig};
use crate::http::endpoint::Handler;
use crate::http::{Auth, Contract, Endpoint, Verb};
use crate::metrics::Metrics;
use crate::store::StoreHandle;
use cipher::TokenCipher;
use graph::GraphClient;
use std::sync::Arc;

/// Every endpoint is mounted under both prefixes: seed 000 uses the first, seed 003 the second.
pub const PREFIXES: [&str; 2] = ["/facebook", "/social-media-posting/oauth/facebook"];

const fn endpoint(
    verb: Verb,
    path: &'static str,
    auth: Auth,
    contract: Contract,
    handler: Handler<FacebookService>,
) -> Endpoint<FacebookService> {
    Endpoint {
        verb,
        path,
        auth,
        contract,
        handler,
    }
}

/// The callback comes from Facebook and the deletion callbacks are signed by it, so those are
/// public to the proxy; the popup start also takes a one-time ticket from `window.open`.
pub const ENDPOINTS: &[Endpoint<FacebookService>] = &[
    endpoint(
        Verb::Get,
        "/oauth_dialog",
        Auth::User,
        Contract::Rfc6750,
        |s, r| Box::pin(async move { login::dialog(s, &r).await }),
    ),
    endpoint(
        Verb::Get,
        "/oauth_code",
        Auth::Public,
        Contract::HtmlPage,
        |s, r| Box::pin(async move { callback::callback(s, &r).await }),
    ),
    endpoint(
        Verb::Get,
        "/start",
        Auth::UserOrTicket("start_token"),
        Contract::HtmlPage,
        |s, r| Box::pin(async move { login::start_popup(s, &r).await }),
    ),
    endpoint(
        Verb::Post,
        "/start-token",
        Auth::User,
        Contract::Rfc6750,
        |s, r| Box::pin(async move { login::start_token(s, &r).await }),
    ),
    endpoint(
        Verb::Post,
        "/deauthorize",
        Auth::Public,
        Contract::Rfc6750,
        |s, r| Box::pin(async move { callbacks::deauthorize(s, &r).await }),
    ),
    endpoint(
        Verb::Post,
        "/data-deletion",
        Auth::Public,
        Contract::Rfc6750,
        |s, r| Box::pin(async move { callbacks::data_deletion(s, &r).await }),
    ),
    endpoint(
        Verb::Get,
        "/data-deletion",
        Auth::Public,
        Contract::Rfc6750,
        |s, r| Box::pin(async move { callbacks::deletion_status(s, &r).await }),
    ),
    endpoint(
        Verb::Get,
        "/accounts/:account_id",
        Auth::User,
        Contract::Seed003,
        |s, r| Box::pin(async move { accounts::show(s, &r).await }),
    ),
    endpoint(
        Verb::Post,
        "/accounts/:account_id",
        Auth::User,
        Contract::Seed003,
        |s, r| Box::pin(async move { accounts::attach(s, &r).await }),
    ),
];

pub struct FacebookService {
    pub config: FacebookConfig,
    pub graph: GraphClient,
    pub cipher: TokenCipher,
    pub store: StoreHandle,
    pub metrics: Arc<Metrics>,
    /// `server.public_url` without a trailing slash.
    pub public_url: String,
    /// Our callback as sent to the dialog; the code exchange repeats it byte for byte.
    pub callback_url: String,
    pub max_body_bytes: usize,
}

impl FacebookService {
    pub fn new(
        config: &Config,
        store: StoreHandle,
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
            metrics,
            max_body_bytes: config.http.max_body_bytes,
        }))
    }
}
