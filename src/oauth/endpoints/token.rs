//! `POST /oauth/token`: client authentication, then the grant named by `grant_type`.

use super::super::issuer::token_response;
use super::super::request::{required, TokenRequest};
use super::super::{grants, OAuthServer};
use super::{body_params, client_auth};
use crate::http::ApiError;
use crate::http::OwnResponse;
use crate::http::Request;

pub async fn handle(server: &OAuthServer, req: &Request) -> Result<OwnResponse, ApiError> {
    let params: TokenRequest = body_params(req)?;
    let grant_type = required(&params.grant_type, "grant_type")?;
    let client = client_auth(server, req, &params.client).await?;
    let minted = match grant_type {
        "authorization_code" => grants::authorization_code::grant(server, client, &params).await?,
        "refresh_token" => grants::refresh_token::grant(server, client, &params).await?,
        "client_credentials" => {
            grants::client_credentials::grant(server, client, params.owner.scope.as_deref()).await?
        }
        "password" => {
            if client.is_public() {
                return Err(ApiError::UnauthorizedClient(
                    "public clients may only use authorization_code with PKCE".into(),
                ));
            }
            grants::password::grant(server, client, &params.owner, req.client_ip).await?
        }
        _ => return Err(ApiError::UnsupportedGrantType),
    };
    Ok(token_response(&minted))
}
