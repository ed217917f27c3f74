//! `GET /.well-known/oauth-authorization-server` (RFC 8414). Every URL is built from
//! `server.public_url`, never from the request.

use super::super::oidc::discovery;
use super::super::OAuthServer;
use crate::config::GrantType;
use crate::http::{ApiError, OwnResponse};
use serde_json::json;
use std::collections::BTreeSet;

pub fn document(server: &OAuthServer) -> OwnResponse {
    OwnResponse::json(200, &base(server))
}

/// `GET /.well-known/openid-configuration`: not found without signing keys, as the JWKS.
pub fn openid_configuration(server: &OAuthServer) -> Result<OwnResponse, ApiError> {
    let keys =
        server.tokens.signing.as_ref().ok_or_else(|| {
            ApiError::NotFound("OpenID Connect needs [[tokens.signing_keys]]".into())
        })?;
    Ok(OwnResponse::json(
        200,
        &discovery::document(base(server), keys),
    ))
}

/// The RFC 8414 document.
fn base(server: &OAuthServer) -> serde_json::Value {
    let base = &server.issuer;
    let configs = server.clients.configs();
    let scopes: BTreeSet<&str> = configs
        .iter()
        .filter_map(|c| c.scopes.as_ref())
        .flatten()
        .map(String::as_str)
        .collect();
    let grants: BTreeSet<&str> = configs
        .iter()
        .flat_map(|c| c.grant_types.iter().map(|g| g.as_str()))
        .chain([
            GrantType::AuthorizationCode.as_str(),
            GrantType::RefreshToken.as_str(),
        ])
        .collect();
    let mut doc = json!({
            "issuer": base,
            "authorization_endpoint": format!("{base}/oauth/authorize"),
            "token_endpoint": format!("{base}/oauth/token"),
            "revocation_endpoint": format!("{base}/oauth/revoke"),
            "introspection_endpoint": format!("{base}/oauth/introspect"),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": grants,
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
            "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
            "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "scopes_supported": scopes,
            "authorization_response_iss_parameter_supported": true,
    });
    if server.tokens.signing.is_some() {
        doc["jwks_uri"] = format!("{base}{JWKS_PATH}").into();
    }
    doc
}

pub use crate::jwks::JWKS_PATH;

/// `GET /oauth/jwks.json` beside the authorization server's other endpoints.
pub fn jwks(server: &OAuthServer) -> Result<OwnResponse, ApiError> {
    crate::jwks::response(server.tokens.signing.as_ref())
}
