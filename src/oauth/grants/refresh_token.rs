//! The refresh token grant (RFC 6749 §6) with rotation (RFC 9700 §4.14.2): each use returns a
//! new refresh token and retires the old; reusing a retired one revokes the whole family.
//! The scope may only narrow.

use super::super::clients::Client;
use super::super::issuer::{self, Grant, Minted};
use super::super::request::{required, TokenRequest};
use super::super::{scope, OAuthServer};
use crate::config::GrantType;
use crate::http::ApiError;
use crate::store::{now_unix, Redemption, Reissue, Renewal, StoredRefreshToken};
use std::sync::{Arc, Mutex};

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
    let old = server
        .lookup_hash(required(&params.refresh_token, "refresh_token")?)
        .ok_or_else(unusable)?;
    let client_id = client.id().to_string();
    let requested = params.owner.scope.clone();
    let tokens = server.tokens.clone();
    let checksum = server.checksum.clone();
    // What `renew` minted, clear tokens included; the store keeps only the records (hashes).
    let minted = Arc::new(Mutex::new(None));
    let slot = minted.clone();
    let renew = move |stored: &StoredRefreshToken| {
        let grant = reissue(stored, &client_id, requested.as_deref()).ok()?;
        let m = issuer::mint(&grant, &tokens, &checksum);
        let records = m.as_ref().ok().map(|m| m.records.clone());
        if let Ok(mut slot) = slot.lock() {
            *slot = Some(m);
        }
        records
    };
    // Opaque tokens cost a few hashes: the store may mint them while it holds the token
    // claimed (SQLite: one job on its grant thread). A JWT is signed outside its transaction.
    let renew = if issuer::mint_signs(&server.tokens) {
        Reissue::signing(renew)
    } else {
        Reissue::cheap(renew)
    };
    // One transaction: the token is claimed, checked and replaced together, so it cannot be
    // spent twice and a refusal changes nothing.
    let renewal = server
        .store
        .renew_refresh_token(old, now_unix(), renew)
        .await?;
    let minted = minted.lock().ok().and_then(|mut m| m.take());
    // Signing failed: the refresh token was left as it was (declined), and the client is told.
    let minted = minted.transpose()?;
    let outcome = match renewal {
        Renewal::Renewed => Redemption::Redeemed,
        Renewal::Declined(stored) => {
            return Err(
                match reissue(&stored, client.id(), params.owner.scope.as_deref()) {
                    Err(e) => e,
                    Ok(_) => unusable(),
                },
            )
        }
        Renewal::Replayed { revoked } => Redemption::Replayed { revoked },
        Renewal::Unusable => Redemption::Unusable,
    };
    super::settled(server, outcome, "refresh token").await?;
    let mut minted = minted.ok_or_else(unusable)?;
    // OIDC Core §12.2: the same `auth_time`, `sub`, `aud`; no nonce.
    super::add_id_token(server, &mut minted, false).await?;
    server.metrics.token_issued("refresh_token");
    Ok(minted)
}

fn unusable() -> ApiError {
    ApiError::InvalidGrant("the refresh token is invalid or expired".into())
}

/// The grant a stored refresh token renews for `client_id`, with the scope narrowed to
/// `requested` if given.
fn reissue(
    stored: &StoredRefreshToken,
    client_id: &str,
    requested: Option<&str>,
) -> Result<Grant, ApiError> {
    if stored.client_id != client_id {
        return Err(ApiError::InvalidGrant(
            "the refresh token was issued to another client".into(),
        ));
    }
    let granted = scope::parse(&stored.scopes).unwrap_or_default();
    let scopes = match requested {
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
    Ok(Grant {
        user_id: stored.user_id.clone(),
        user_name: stored.user_name.clone(),
        client_id: stored.client_id.clone(),
        scopes,
        admin: stored.admin,
        groups: stored.groups.clone(),
        family_id: stored.family_id.clone(),
        with_refresh: true,
    })
}
