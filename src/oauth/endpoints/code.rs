//! The end of an approved authorization request: a one-time code bound to the client,
//! redirect URI and PKCE challenge, the consent remembered, and for `openid` the token
//! family's OpenID record (`OidcGrant`: nonce, `auth_time`, the sign-in's `sid`).

use super::super::clients::Client;
use super::super::oidc::{self, new_sid};
use super::super::{issuer, OAuthServer};
use super::browser::{expired_page, redirect};
use crate::auth::hash_token;
use crate::http::{ApiError, OwnResponse};
use crate::store::{now_unix, AuthorizationRequest, OidcGrant, StoredCode};

/// Issues the code of an approved request of a signed-in user and redirects with it. An
/// `openid` request also records its token family's sign-in (`OidcGrant`).
pub(super) async fn issue_code(
    server: &OAuthServer,
    client: &Client,
    pending: &AuthorizationRequest,
    status: u16,
) -> Result<OwnResponse, ApiError> {
    let user_id = pending.user_id.clone().ok_or_else(expired_page)?;
    let now = now_unix();
    let code = server.checksum.mint();
    let stored = StoredCode {
        family_id: issuer::new_family_id(),
        client_id: client.id().to_string(),
        user_id: user_id.clone(),
        user_name: pending.user_name.clone(),
        redirect_uri: pending.redirect_uri.clone(),
        scopes: pending.scopes.clone(),
        code_challenge: pending.code_challenge.clone(),
        code_challenge_method: pending.code_challenge_method.clone(),
        created_at: now,
        expires_at: now + server.config.code_ttl.as_secs() as i64,
        used: false,
    };
    let scopes = super::super::scope::parse(&pending.scopes).unwrap_or_default();
    let lifetime = server.tokens.refresh_ttl.max(server.tokens.access_ttl);
    let oidc_grant = oidc::is_openid(&scopes).then(|| OidcGrant {
        family_id: stored.family_id.clone(),
        client_id: client.id().to_string(),
        user_id: user_id.clone(),
        sid: pending.sid.clone().unwrap_or_else(new_sid),
        nonce: pending.nonce.clone(),
        auth_time: pending.auth_time.unwrap_or(now),
        created_at: now,
        expires_at: now + lifetime.as_secs() as i64,
    });
    let code_hash = hash_token(&code);
    let (cid, scopes) = (client.id().to_string(), pending.scopes.clone());
    server
        .store
        .run(move |s| async move {
            s.save_consent(&user_id, &cid, &scopes, now).await?;
            if let Some(g) = &oidc_grant {
                s.insert_oidc_grant(g).await?;
            }
            s.insert_code(&code_hash, &stored).await
        })
        .await?;
    let mut pairs = vec![("code", code)];
    if let Some(s) = &pending.state {
        pairs.push(("state", s.clone()));
    }
    redirect(server, status, &pending.redirect_uri, &pairs)
}
