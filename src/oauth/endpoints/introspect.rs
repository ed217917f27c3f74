//! `POST /oauth/introspect` (RFC 7662): confidential clients only; anything not currently
//! valid is just `{"active": false}`, and so is a token of another client unless the caller
//! is a resource server (`introspect = true`) or an admin client: otherwise any confidential
//! client could look up whose token it holds (RFC 7662 §4). What is live comes from
//! `introspection` (the token cache first).

use super::super::introspection::live_token;
use super::super::request::{required, TokenReference};
use super::super::OAuthServer;
use super::{body_params, client_auth};
use crate::http::ApiError;
use crate::http::OwnResponse;
use crate::http::Request;
use serde_json::json;

pub async fn handle(server: &OAuthServer, req: &Request) -> Result<OwnResponse, ApiError> {
    let params: TokenReference = body_params(req)?;
    let client = client_auth(server, req, &params.client).await?;
    if client.is_public() {
        return Err(ApiError::InvalidClient);
    }
    let found = live_token(server, required(&params.token, "token")?).await?;
    let may_see = |owner: &Option<String>| {
        client.config.introspect || client.config.admin || owner.as_deref() == Some(client.id())
    };
    let body = match found {
        Some(t) if may_see(&t.client_id) => json!({
            "active": true,
            "scope": t.scope,
            "client_id": t.client_id,
            "username": t.user_name,
            "sub": t.user_id,
            "token_type": if t.refresh { "refresh_token" } else { "bearer" },
            "exp": t.expires_at,
            "iat": t.issued_at,
            "iss": server.issuer,
        }),
        _ => json!({ "active": false }),
    };
    Ok(OwnResponse::json(200, &body).no_store())
}
