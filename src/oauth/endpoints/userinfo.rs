//! `GET`/`POST /oauth/userinfo` (OIDC Core §5.3): a Bearer access token of a user granted
//! `openid`; refusals are RFC 6750's, with their `WWW-Authenticate` challenge.

use super::super::oidc::{self, userinfo, OPENID};
use super::super::OAuthServer;
use crate::http::{ApiError, OwnResponse, Request};

pub async fn handle(_server: &OAuthServer, req: &Request) -> Result<OwnResponse, ApiError> {
    let identity = req.identity()?;
    if !oidc::is_openid(identity.scopes()) {
        return Err(ApiError::InsufficientScope {
            required: OPENID.into(),
        });
    }
    let user_id = identity
        .user_id()
        .ok_or(ApiError::InvalidToken { expired: false })?;
    Ok(OwnResponse::json(200, &userinfo::claims(identity, user_id)).no_store())
}
