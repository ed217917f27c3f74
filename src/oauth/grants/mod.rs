//! One file per grant type; each returns freshly minted, already stored tokens.

pub mod authorization_code;
pub mod client_credentials;
pub mod password;
pub mod refresh_token;

use super::{issuer, OAuthServer};
use crate::http::ApiError;
use crate::store::Redemption;

/// Mints the grant's tokens and stores them (grants that redeem nothing first).
pub(crate) async fn issue(
    server: &OAuthServer,
    grant: issuer::Grant,
    label: &'static str,
) -> Result<issuer::Minted, ApiError> {
    let minted = issuer::mint(&grant, &server.tokens, &server.checksum)?;
    let records = minted.records.clone();
    server
        .store
        .run(move |s| async move { s.insert_tokens(&records).await })
        .await?;
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
