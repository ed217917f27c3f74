//! The refresh token grant (RFC 6749 §6) with rotation (RFC 9700 §4.14.2): each use returns a
//! new refresh token and retires the old; reusing a retired one revokes the whole family.
//! The scope may only narrow.

use super::super::clients::Client;
use super::super::issuer::{self, Grant, Minted};
use super::super::request::{required, TokenRequest};
use super::super::{scope, OAuthServer};
use crate::config::GrantType;
use crate::http::ApiError;
use crate::store::now_unix;

pub async fn grant(
    server: &OAuthServer,
    client: &Client,
    params: &TokenRequest,
) -> Result<Minted, ApiError> {
    if !client.allows(GrantType::RefreshToken) {
        return Err(ApiError::UnauthorizedClient(
            "this client may not use refresh tokens".into(),
        ));
    }
    let invalid = || ApiError::InvalidGrant("the refresh token is invalid or expired".into());
    let old = server
        .lookup_hash(required(&params.refresh_token, "refresh_token")?)
        .ok_or_else(invalid)?;
    let stored = server
        .store
        .run(move |s| async move { s.find_refresh_token(&old).await })
        .await?
        .ok_or_else(invalid)?;
    if stored.client_id != client.id() {
        return Err(ApiError::InvalidGrant(
            "the refresh token was issued to another client".into(),
        ));
    }
    let granted = scope::parse(&stored.scopes).unwrap_or_default();
    let scopes = match params.owner.scope.as_deref() {
        None => granted,
        Some(text) => {
            let requested = scope::parse(text)
                .ok_or_else(|| ApiError::InvalidScope("malformed scope".into()))?;
            if !scope::is_subset(&requested, &granted) {
                return Err(ApiError::InvalidScope(
                    "a refresh may only narrow the scope".into(),
                ));
            }
            requested
        }
    };
    let grant = Grant {
        user_id: stored.user_id,
        user_name: stored.user_name,
        client_id: stored.client_id,
        scopes,
        admin: stored.admin,
        groups: stored.groups,
        family_id: stored.family_id,
        with_refresh: true,
    };
    let minted = issuer::mint(&grant, &server.tokens, &server.checksum);
    let records = minted.records.clone();
    let now = now_unix();
    let outcome = server
        .store
        .run(move |s| async move { s.rotate_refresh_token(&old, now, &records).await })
        .await?;
    let minted = super::settle(server, outcome, minted, "refresh token").await?;
    server.metrics.token_issued("refresh_token");
    Ok(minted)
}
