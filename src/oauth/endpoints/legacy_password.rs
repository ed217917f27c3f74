//! `POST /oauth/authorize` with `grant_type=password` (seed 001): the legacy clients' login.
//! JSON or form body `{username, password, grant_type, client_id}`, no client secret; only
//! clients marked legacy accept it.

use super::super::issuer::token_response;
use super::super::{grants, OAuthServer};
use super::body_params;
use crate::http::ApiError;
use crate::http::OwnResponse;
use crate::http::Request;

pub async fn handle(server: &OAuthServer, req: &Request) -> Result<OwnResponse, ApiError> {
    let params = body_params(req)?;
    match params.require("grant_type")? {
        "password" => {}
        _ => return Err(ApiError::UnsupportedGrantType),
    }
    let client_id = params.require("client_id")?;
    let client = server
        .clients
        .get(client_id)
        .ok_or(ApiError::InvalidClient)?;
    if !client.config.legacy {
        return Err(ApiError::UnauthorizedClient(
            "this client must use /oauth/token".into(),
        ));
    }
    let minted = grants::password::grant(server, client, &params, req.client_ip).await?;
    Ok(token_response(&minted))
}
