//! `POST /oauth/token`: client authentication, then the grant named by `grant_type`.

use super::super::issuer::token_response;
use super::super::{grants, OAuthError, OAuthServer};
use super::{body_params, client_auth};
use crate::handlers::HandlerRequest;
use crate::http::OwnResponse;

pub async fn handle(
    server: &OAuthServer,
    req: &HandlerRequest<'_>,
) -> Result<OwnResponse, OAuthError> {
    let params = body_params(server, req)?;
    let grant_type = params.require("grant_type")?.to_string();
    let client = client_auth(server, req, &params).await?;
    let minted = match grant_type.as_str() {
        "authorization_code" => grants::authorization_code::grant(server, client, &params).await?,
        "refresh_token" => grants::refresh_token::grant(server, client, &params).await?,
        "client_credentials" => grants::client_credentials::grant(server, client, &params).await?,
        "password" => {
            if client.is_public() {
                return Err(OAuthError::UnauthorizedClient(
                    "public clients may only use authorization_code with PKCE".into(),
                ));
            }
            grants::password::grant(server, client, &params, req.client_ip).await?
        }
        _ => return Err(OAuthError::UnsupportedGrantType),
    };
    Ok(token_response(&minted))
}
