//! `POST /oauth/introspect` (RFC 7662): confidential clients only; anything not currently
//! valid is just `{"active": false}`, and so is a token of another client unless the caller
//! is a resource server (`introspect = true`) or an admin client: otherwise any confidential
//! client could look up whose token it holds (RFC 7662 §4).

use super::super::request::{required, TokenReference};
use super::super::OAuthServer;
use super::{body_params, client_auth};
use crate::http::ApiError;
use crate::http::OwnResponse;
use crate::http::Request;
use crate::store::now_unix;
use serde_json::json;

pub async fn handle(server: &OAuthServer, req: &Request) -> Result<OwnResponse, ApiError> {
    let params: TokenReference = body_params(req)?;
    let client = client_auth(server, req, &params.client).await?;
    if client.is_public() {
        return Err(ApiError::InvalidClient);
    }
    let Some(hash) = server.lookup_hash(required(&params.token, "token")?) else {
        return Ok(OwnResponse::json(200, &json!({ "active": false })).no_store());
    };
    let now = now_unix();
    let found = server
        .store
        .run(move |s| async move {
            if let Some(t) = s.find_access_token(&hash).await? {
                return Ok(Some((
                    t.user_id,
                    t.user_name,
                    t.client_id,
                    t.scopes,
                    t.created_at,
                    t.expires_at,
                    t.revoked,
                    "access_token",
                )));
            }
            Ok(s.find_refresh_token(&hash).await?.map(|r| {
                (
                    r.user_id,
                    r.user_name,
                    Some(r.client_id),
                    r.scopes,
                    r.created_at,
                    r.expires_at,
                    r.revoked || r.rotated,
                    "refresh_token",
                )
            }))
        })
        .await?;
    let may_see = |owner: &Option<String>| {
        client.config.introspect || client.config.admin || owner.as_deref() == Some(client.id())
    };
    let body = match found {
        Some((sub, username, client_id, scope, iat, exp, revoked, kind))
            if !revoked && exp > now && may_see(&client_id) =>
        {
            json!({
                "active": true,
                "scope": scope,
                "client_id": client_id,
                "username": username,
                "sub": sub,
                "token_type": if kind == "access_token" { "bearer" } else { "refresh_token" },
                "exp": exp,
                "iat": iat,
                "iss": server.issuer,
            })
        }
        _ => json!({ "active": false }),
    };
    Ok(OwnResponse::json(200, &body).no_store())
}
