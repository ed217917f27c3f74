//! `POST /oauth/authorize` with `grant_type=password` (seed 001): the legacy clients' login.
//! JSON or form body `{username, password, grant_type, client_id}`, no client secret; only
//! clients marked legacy accept it.

use super::super::issuer::token_response;
use super::super::{grants, OAuthError, OAuthServer};
use super::body_params;
use crate::handlers::HandlerRequest;
use crate::http::OwnResponse;

pub async fn handle(
    server: &OAuthServer,
    req: &HandlerRequest<'_>,
) -> Result<OwnResponse, OAuthError> {
    let params = body_params(server, req)?;
    match params.require("grant_type")? {
        "password" => {}
        _ => return Err(OAuthError::UnsupportedGrantType),
    }
    let client_id = params.require("client_id")?;
    let client = server
        .clients
        .get(client_id)
        .ok_or(OAuthError::InvalidClient)?;
    if !client.config.legacy {
        return Err(OAuthError::UnauthorizedClient(
            "this client must use /oauth/token".into(),
        ));
    }
    let minted = grants::password::grant(server, client, &params, req.client_ip).await?;
    Ok(token_response(&minted))
}
