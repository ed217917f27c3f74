//! Gatehouse's own JWT access tokens (`tokens.format = "jwt"`): a JWT whose `iss` is ours is
//! verified against our published keys (by `kid`), then looked up like an opaque token, so a
//! revoked one is refused exactly as an opaque one is (the store row, keyed by the token's
//! hash, and the cross-replica eviction of that hash). Every other token goes to the
//! validator this one wraps.

use super::{looks_like_jwt, AuthError, Identity, TokenValidator};
use crate::signing::{peek_issuer, KeySet, Rejection, ACCESS_TOKEN_TYP};
use async_trait::async_trait;
use std::sync::Arc;

pub struct LocalJwtValidator {
    keys: Arc<KeySet>,
    /// The store lookup (revocation, expiry, the identity as issued).
    store: Arc<dyn TokenValidator>,
    /// External JWTs and opaque tokens.
    others: Arc<dyn TokenValidator>,
    /// Whether a JWT that is not ours may go to `others`: only when they check JWTs
    /// themselves (`[jwt]`) or look every token up anyway (`tokens.accept_unstructured`).
    /// Otherwise the checksum screen let it through for us alone, and it stops here.
    foreign_jwts: bool,
}

impl LocalJwtValidator {
    pub fn new(
        keys: Arc<KeySet>,
        store: Arc<dyn TokenValidator>,
        others: Arc<dyn TokenValidator>,
        foreign_jwts: bool,
    ) -> Self {
        LocalJwtValidator {
            keys,
            store,
            others,
            foreign_jwts,
        }
    }

    /// Ours by its (unverified) `iss`; the signature is checked next, by our keys only.
    pub fn is_ours(&self, token: &str) -> bool {
        looks_like_jwt(token) && peek_issuer(token).is_some_and(|iss| iss == self.keys.issuer)
    }
}

#[async_trait]
impl TokenValidator for LocalJwtValidator {
    fn id(&self) -> &'static str {
        // The token hash is in the key: an entry for one token never answers for another.
        "gatehouse"
    }

    async fn validate(&self, token: &str) -> Result<Arc<Identity>, AuthError> {
        if !looks_like_jwt(token) {
            return self.others.validate(token).await;
        }
        if !self.is_ours(token) {
            return match self.foreign_jwts {
                true => self.others.validate(token).await,
                false => Err(AuthError::Invalid),
            };
        }
        self.keys
            .verify(token, ACCESS_TOKEN_TYP, &self.keys.issuer)
            .map_err(|r| match r {
                Rejection::Expired => AuthError::Expired,
                Rejection::Invalid => AuthError::Invalid,
            })?;
        self.store.validate(token).await
    }
}
