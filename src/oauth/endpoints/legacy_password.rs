//! `POST /oauth/authorize` with `grant_type=password` (seed 001): the legacy clients' login.
//! JSON or form body `{username, password, grant_type, client_id}`, no client secret; only
//! clients marked legacy accept it.

use super::super::issuer::token_response;
use super::super::request::{required, LegacyPasswordRequest};
use super::super::{grants, OAuthServer};
use super::body_params;
use crate::http::ApiError;
use crate::http::OwnResponse;
use crate::http::Request;

pub async fn handle(server: &OAuthServer, req: &Request) -> Result<OwnResponse, ApiError> {
    let params: LegacyPasswordRequest = body_params(req)?;
    match required(&params.grant_type, "grant_type")? {
        "password" => {}
        _ => return Err(ApiError::UnsupportedGrantType),
    }
    let client_id = required(&params.client_id, "client_id")?;
    let client = server
        .clients
        .get(client_id)
        .ok_or(ApiError::InvalidClient)?;
    if !client.config.legacy {
        return Err(ApiError::UnauthorizedClient(
            "this client must use /oauth/token".into(),
        ));
    }
    let minted = grants::password::grant(server, client, &params.owner, req.client_ip).await?;
    Ok(token_response(&minted))
}
