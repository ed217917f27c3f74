//! The client credentials grant (RFC 6749 §4.4): a confidential client acting for itself.
//! No refresh token (§4.4.3).

use super::super::clients::Client;
use super::super::issuer::{self, Grant, Minted};
use super::super::OAuthServer;
use super::password::requested_scopes;
use crate::config::GrantType;
use crate::http::ApiError;

pub async fn grant(
    server: &OAuthServer,
    client: &Client,
    scope: Option<&str>,
) -> Result<Minted, ApiError> {
    if !client.allows(GrantType::ClientCredentials) || client.is_public() {
        return Err(ApiError::UnauthorizedClient(
            "this client may not use client_credentials".into(),
        ));
    }
    let grant = Grant {
        user_id: None,
        user_name: None,
        client_id: client.id().to_string(),
        scopes: requested_scopes(client, scope)?,
        admin: false,
        groups: String::new(),
        family_id: issuer::new_family_id(),
        with_refresh: false,
    };
    super::issue(server, grant, "client_credentials").await
}
