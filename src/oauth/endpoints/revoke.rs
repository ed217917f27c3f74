//! `POST /oauth/revoke` (RFC 7009). Unknown tokens and tokens of other clients get 200 too, so
//! the endpoint tells nothing; a refresh token takes its whole family with it. Only the
//! owning client revokes a token; tokens without one (issued on the command line) and any
//! other client's only an admin client.

use super::super::request::{required, TokenReference};
use super::super::OAuthServer;
use super::{body_params, client_auth};
use crate::http::ApiError;
use crate::http::OwnResponse;
use crate::http::Request;
use crate::store::now_unix;

pub async fn handle(server: &OAuthServer, req: &Request) -> Result<OwnResponse, ApiError> {
    let params: TokenReference = body_params(req)?;
    let client = client_auth(server, req, &params.client).await?;
    // A token no store can hold is answered like an unknown one (RFC 7009 §2.2), unlooked-up.
    let Some(hash) = server.lookup_hash(required(&params.token, "token")?) else {
        return Ok(OwnResponse::empty(200).no_store());
    };
    let client_id = client.id().to_string();
    let admin = client.config.admin;
    let now = now_unix();
    let revoked = server
        .store
        .run(move |s| async move {
            let owned = |c: &Option<String>| admin || c.as_deref() == Some(client_id.as_str());
            if let Some(t) = s.find_access_token(&hash).await? {
                if owned(&t.client_id) {
                    s.revoke_access_token(&hash, now).await?;
                    return Ok(vec![hash]);
                }
                return Ok(vec![]);
            }
            if let Some(r) = s.find_refresh_token(&hash).await? {
                if admin || r.client_id == client_id {
                    return s.revoke_family(&r.family_id, now).await;
                }
            }
            Ok(vec![])
        })
        .await?;
    server.forget(&revoked).await;
    Ok(OwnResponse::empty(200).no_store())
}
