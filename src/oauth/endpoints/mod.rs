//! HTTP adapters of the authorization server: the endpoint table it registers, and one
//! handler per endpoint that parses its request, calls the protocol code and shapes the reply.

pub mod authorize;
mod browser;
mod code;
pub mod introspect;
pub mod legacy_password;
pub mod logout;
pub mod metadata;
pub mod revoke;
pub mod session;
mod sso;
pub mod token;
pub mod userinfo;

use super::clients::Client;
use super::oidc::discovery;
use super::request::{basic_credentials, ClientCredentials};
use super::{OAuthServer, METADATA_PATH};
use crate::http::{ApiError, Auth, Contract, Endpoint, Request, Verb};
use crate::metrics::AuthDecision;

const fn endpoint(
    verb: Verb,
    path: &'static str,
    auth: Auth,
    contract: Contract,
    handler: crate::http::endpoint::Handler<OAuthServer>,
) -> Endpoint<OAuthServer> {
    Endpoint {
        verb,
        path,
        auth,
        contract,
        handler,
    }
}

/// Every endpoint of the authorization server. The browser side speaks HTML pages; the rest
/// speaks RFC 6749 JSON.
pub const ENDPOINTS: &[Endpoint<OAuthServer>] = &[
    endpoint(
        Verb::Get,
        METADATA_PATH,
        Auth::Public,
        Contract::Rfc6749Json,
        |s, _| Box::pin(async move { Ok(metadata::document(s)) }),
    ),
    endpoint(
        Verb::Get,
        discovery::PATH,
        Auth::Public,
        Contract::Rfc6749Json,
        |s, _| Box::pin(async move { metadata::openid_configuration(s) }),
    ),
    endpoint(
        Verb::Get,
        discovery::USERINFO_PATH,
        Auth::User,
        Contract::Rfc6750,
        |s, r| Box::pin(async move { userinfo::handle(s, &r).await }),
    ),
    endpoint(
        Verb::Post,
        discovery::USERINFO_PATH,
        Auth::User,
        Contract::Rfc6750,
        |s, r| Box::pin(async move { userinfo::handle(s, &r).await }),
    ),
    endpoint(
        Verb::Get,
        metadata::JWKS_PATH,
        Auth::Public,
        Contract::Rfc6749Json,
        |s, _| Box::pin(async move { metadata::jwks(s) }),
    ),
    endpoint(
        Verb::Post,
        "/oauth/authorize",
        Auth::Public,
        Contract::Rfc6749Json,
        |s, r| Box::pin(async move { legacy_password::handle(s, &r).await }),
    ),
    endpoint(
        Verb::Get,
        "/oauth/authorize",
        Auth::Public,
        Contract::HtmlPage,
        |s, r| Box::pin(async move { authorize::start(s, &r).await }),
    ),
    endpoint(
        Verb::Get,
        "/oauth/sign-in",
        Auth::Public,
        Contract::HtmlPage,
        |s, r| Box::pin(async move { session::start(s, &r).await }),
    ),
    endpoint(
        Verb::Get,
        discovery::LOGOUT_PATH,
        Auth::Public,
        Contract::HtmlPage,
        |s, r| Box::pin(async move { logout::get(s, &r).await }),
    ),
    endpoint(
        Verb::Post,
        discovery::LOGOUT_PATH,
        Auth::CsrfForm,
        Contract::HtmlPage,
        |s, r| Box::pin(async move { logout::post(s, &r).await }),
    ),
    endpoint(
        Verb::Post,
        "/oauth/sign-in",
        Auth::CsrfForm,
        Contract::HtmlPage,
        |s, r| Box::pin(async move { authorize::sign_in(s, &r).await }),
    ),
    endpoint(
        Verb::Get,
        "/oauth/consent",
        Auth::CsrfForm,
        Contract::HtmlPage,
        |s, r| Box::pin(async move { authorize::consent_page(s, &r).await }),
    ),
    endpoint(
        Verb::Post,
        "/oauth/consent",
        Auth::CsrfForm,
        Contract::HtmlPage,
        |s, r| Box::pin(async move { authorize::consent(s, &r).await }),
    ),
    endpoint(
        Verb::Post,
        "/oauth/token",
        Auth::Client,
        Contract::Rfc6749Json,
        |s, r| Box::pin(async move { token::handle(s, &r).await }),
    ),
    endpoint(
        Verb::Post,
        "/oauth/revoke",
        Auth::Client,
        Contract::Rfc6749Json,
        |s, r| Box::pin(async move { revoke::handle(s, &r).await }),
    ),
    endpoint(
        Verb::Post,
        "/oauth/introspect",
        Auth::Client,
        Contract::Rfc6749Json,
        |s, r| Box::pin(async move { introspect::handle(s, &r).await }),
    ),
];

/// Identifies the calling client (RFC 6749 §2.3): HTTP Basic or `client_id`/`client_secret` in
/// the body (never both); a public client names itself with `client_id` alone. The outcome is
/// counted in `gatehouse_auth_decisions_total` like every token decision.
pub(crate) async fn client_auth<'s>(
    server: &'s OAuthServer,
    req: &Request,
    body: &ClientCredentials,
) -> Result<&'s Client, ApiError> {
    let result = identify_client(server, req, body).await;
    server.metrics.auth_decision(match &result {
        Ok(c) if c.is_public() => AuthDecision::Anonymous,
        Ok(_) => AuthDecision::Ok,
        Err(ApiError::InvalidRequest(_)) => AuthDecision::Malformed,
        Err(ApiError::Unavailable(_)) => AuthDecision::Unavailable,
        Err(_) => AuthDecision::Invalid,
    });
    result
}

async fn identify_client<'s>(
    server: &'s OAuthServer,
    req: &Request,
    body: &ClientCredentials,
) -> Result<&'s Client, ApiError> {
    let basic = basic_credentials(&req.headers)?;
    let body_secret = body.client_secret.as_deref();
    let (id, secret) = match (basic, body_secret) {
        (Some(_), Some(_)) => {
            return Err(ApiError::InvalidRequest(
                "use one client authentication method".into(),
            ))
        }
        (Some((id, secret)), None) => {
            if body.client_id.as_deref().is_some_and(|b| b != id) {
                return Err(ApiError::InvalidClient);
            }
            (id, Some(secret))
        }
        (None, secret) => (
            body.client_id
                .as_deref()
                .ok_or(ApiError::InvalidClient)?
                .to_string(),
            secret.map(str::to_string),
        ),
    };
    match secret {
        Some(secret) => {
            server
                .clients
                .authenticate(
                    &id,
                    &secret,
                    &server.passwords,
                    &server.lockout,
                    req.client_ip,
                )
                .await
        }
        None => match server.clients.get(&id) {
            Some(c) if c.is_public() => Ok(c),
            _ => Err(ApiError::InvalidClient),
        },
    }
}

/// The endpoint's typed request from its body; the proxy already refused bodies over
/// `http.max_body_bytes`.
pub(crate) fn body_params<T: serde::de::DeserializeOwned>(req: &Request) -> Result<T, ApiError> {
    req.body_params()?.parse()
}
