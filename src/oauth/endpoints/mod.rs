//! HTTP adapters of the authorization server: each parses its request, calls the protocol
//! code, and shapes the response.

pub mod authorize;
pub mod introspect;
pub mod legacy_password;
pub mod metadata;
pub mod revoke;
pub mod token;

use super::clients::Client;
use super::request::{basic_credentials, Params};
use super::{OAuthError, OAuthServer};
use crate::handlers::HandlerRequest;

/// Identifies the calling client (RFC 6749 §2.3): HTTP Basic or `client_id`/`client_secret` in
/// the body (never both); a public client names itself with `client_id` alone.
pub(crate) async fn client_auth<'s>(
    server: &'s OAuthServer,
    req: &HandlerRequest<'_>,
    params: &Params,
) -> Result<&'s Client, OAuthError> {
    let basic = basic_credentials(req.headers)?;
    let body_secret = params.get("client_secret");
    let (id, secret) = match (basic, body_secret) {
        (Some(_), Some(_)) => {
            return Err(OAuthError::InvalidRequest(
                "use one client authentication method".into(),
            ))
        }
        (Some((id, secret)), None) => {
            if params.get("client_id").is_some_and(|b| b != id) {
                return Err(OAuthError::InvalidClient);
            }
            (id, Some(secret))
        }
        (None, secret) => (
            params
                .get("client_id")
                .ok_or(OAuthError::InvalidClient)?
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
            _ => Err(OAuthError::InvalidClient),
        },
    }
}

pub(crate) fn body_params(
    server: &OAuthServer,
    req: &HandlerRequest<'_>,
) -> Result<Params, OAuthError> {
    if req.body.len() > server.max_body_bytes {
        return Err(OAuthError::PayloadTooLarge);
    }
    Params::from_body(req.headers, &req.body)
}
