//! The authorization code grant (RFC 6749 §4.1.3) with PKCE (RFC 7636): the code is bound to
//! its client, redirect URI and challenge, works once, and a second use revokes every token it
//! produced.

use super::super::clients::Client;
use super::super::issuer::{self, Grant, Minted};
use super::super::request::{required, TokenRequest};
use super::super::{pkce, scope, OAuthServer};
use crate::config::GrantType;
use crate::http::ApiError;
use crate::store::now_unix;

pub async fn grant(
    server: &OAuthServer,
    client: &Client,
    params: &TokenRequest,
) -> Result<Minted, ApiError> {
    if !client.allows(GrantType::AuthorizationCode) {
        return Err(ApiError::UnauthorizedClient(
            "this client may not use authorization_code".into(),
        ));
    }
    let code_text = required(&params.code, "code")?;
    let redirect_uri = required(&params.redirect_uri, "redirect_uri")?;
    let verifier = params.code_verifier.as_deref();
    if let Some(v) = verifier {
        if !pkce::is_valid_verifier(v) {
            return Err(ApiError::InvalidRequest(
                "code_verifier must be 43-128 characters of [A-Za-z0-9-._~]".into(),
            ));
        }
    }
    let invalid = || ApiError::InvalidGrant("the code is invalid or expired".into());
    let code_hash = server.lookup_hash(code_text).ok_or_else(invalid)?;
    let code = server
        .store
        .run(move |s| async move { s.find_code(&code_hash).await })
        .await?
        .ok_or_else(invalid)?;
    if code.client_id != client.id() || code.redirect_uri != redirect_uri {
        return Err(ApiError::InvalidGrant(
            "the code was issued to another client or redirect_uri".into(),
        ));
    }
    let now = now_unix();
    if code.expires_at <= now {
        return Err(invalid());
    }
    match (&code.code_challenge, verifier) {
        (Some(challenge), Some(v)) => {
            let method = pkce::Method::parse(code.code_challenge_method.as_deref())
                .unwrap_or(pkce::Method::S256);
            if !pkce::verify(v, challenge, method) {
                return Err(ApiError::InvalidGrant(
                    "code_verifier does not match the code_challenge".into(),
                ));
            }
        }
        (Some(_), None) => return Err(ApiError::InvalidGrant("code_verifier is required".into())),
        (None, Some(_)) => {
            return Err(ApiError::InvalidGrant(
                "no code_challenge was sent for this code".into(),
            ))
        }
        (None, None) if client.is_public() => {
            return Err(ApiError::InvalidGrant(
                "public clients must use PKCE".into(),
            ))
        }
        (None, None) => {}
    }
    // The user's groups now, at issue; none when the user is gone.
    let groups = match code.user_id.parse::<i64>() {
        Ok(id) => server
            .store
            .run(move |s| async move { s.find_user(id).await })
            .await?
            .map(|u| u.groups)
            .unwrap_or_default(),
        Err(_) => String::new(),
    };
    let grant = Grant {
        user_id: Some(code.user_id.clone()),
        user_name: code.user_name.clone(),
        client_id: code.client_id.clone(),
        scopes: scope::parse(&code.scopes).unwrap_or_default(),
        admin: false,
        groups,
        family_id: code.family_id.clone(),
        with_refresh: client.allows(GrantType::RefreshToken),
    };
    let mut minted = issuer::mint(&grant, &server.tokens, &server.checksum)?;
    // Signed before the code is spent: a failure leaves the code usable.
    super::add_id_token(server, &mut minted, true).await?;
    let records = minted.records.clone();
    let outcome = server
        .store
        .run(move |s| async move { s.redeem_code(&code_hash, now, &records).await })
        .await?;
    super::settled(server, outcome, "authorization code").await?;
    server.metrics.token_issued("authorization_code");
    Ok(minted)
}
