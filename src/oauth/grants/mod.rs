//! One file per grant type; each returns freshly minted, already stored tokens.

pub mod authorization_code;
pub mod client_credentials;
pub mod password;
pub mod refresh_token;

use super::oidc::{self, id_token};
use super::{issuer, OAuthServer};
use crate::http::ApiError;
use crate::store::{now_unix, Redemption};

/// Mints the grant's tokens and stores them (grants that redeem nothing first).
pub(crate) async fn issue(
    server: &OAuthServer,
    grant: issuer::Grant,
    label: &'static str,
) -> Result<issuer::Minted, ApiError> {
    let minted = issuer::mint(&grant, &server.tokens, &server.checksum)?;
    let records = minted.records.clone();
    server.store.insert_tokens(records).await?;
    server.metrics.token_issued(label);
    Ok(minted)
}

/// Maps a redemption's outcome; a replay also purges the revoked tokens from the cache.
pub(crate) async fn settled(
    server: &OAuthServer,
    outcome: Redemption,
    what: &str,
) -> Result<(), ApiError> {
    match outcome {
        Redemption::Redeemed => Ok(()),
        Redemption::Replayed { revoked } => {
            server.forget(&revoked).await;
            tracing::warn!(
                grant = what,
                revoked = revoked.len(),
                "replayed one-time credential: family revoked"
            );
            Err(ApiError::InvalidGrant(format!(
                "the {what} was already used; its tokens are revoked"
            )))
        }
        Redemption::Unusable => Err(ApiError::InvalidGrant(format!(
            "the {what} is invalid or expired"
        ))),
    }
}

/// Adds the ID token to tokens minted with `openid` for a family that has an OpenID record
/// (one that started at the authorization endpoint); `first` on the code's own response.
pub(crate) async fn add_id_token(
    server: &OAuthServer,
    minted: &mut issuer::Minted,
    first: bool,
) -> Result<(), ApiError> {
    let (Some(keys), access) = (&server.tokens.signing, &minted.records.access.1) else {
        return Ok(());
    };
    let scopes: Vec<String> = minted.scope.split(' ').map(str::to_string).collect();
    let Some(family) = access
        .family_id
        .clone()
        .filter(|_| oidc::is_openid(&scopes))
    else {
        return Ok(());
    };
    let Some(grant) = server
        .store
        .run(move |s| async move { s.find_oidc_grant(&family).await })
        .await?
    else {
        return Ok(());
    };
    let ttl = server.tokens.access_ttl.as_secs();
    minted.id_token = Some(
        id_token::sign(keys, &grant, &minted.access_token, first, now_unix(), ttl)
            .map_err(|e| ApiError::Internal(e.to_string()))?,
    );
    Ok(())
}
