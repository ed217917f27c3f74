//! JWTs from an external issuer, validated locally: one configured algorithm (never `none`, no
//! HMAC on an asymmetric key), signature, `exp`, `nbf`, exact `iss` and `aud` when configured,
//! bounded leeway. The claims become the same `Identity` an opaque token gives.

use super::{AuthError, Identity, TokenValidator};
use crate::config::JwtConfig;
use crate::store::StoredAccessToken;
use async_trait::async_trait;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::Validation;
use serde::Deserialize;
use std::sync::Arc;

#[derive(Debug, Deserialize)]
struct Claims {
    sub: String,
    exp: i64,
    #[serde(default)]
    iat: Option<i64>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    preferred_username: Option<String>,
    /// OAuth's space-separated `scope` (RFC 8693 / RFC 9068)…
    #[serde(default)]
    scope: Option<String>,
    /// …or an array, as some issuers write it.
    #[serde(default)]
    scp: Option<Vec<String>>,
    #[serde(default)]
    client_id: Option<String>,
    #[serde(default)]
    azp: Option<String>,
}

pub struct JwtValidator {
    config: JwtConfig,
    validation: Validation,
}

impl JwtValidator {
    pub fn new(config: JwtConfig) -> Self {
        let mut validation = Validation::new(config.algorithm);
        validation.leeway = config.leeway.as_secs();
        validation.validate_nbf = true;
        validation.required_spec_claims = ["exp", "sub"].iter().map(|s| s.to_string()).collect();
        if let Some(iss) = &config.issuer {
            validation.set_issuer(&[iss]);
            validation.required_spec_claims.insert("iss".into());
        }
        match &config.audience {
            Some(aud) => {
                validation.set_audience(&[aud]);
                validation.required_spec_claims.insert("aud".into());
            }
            None => validation.validate_aud = false,
        }
        JwtValidator { config, validation }
    }
}

/// A JWT has exactly three dot-separated parts; opaque tokens (base64url) have none.
pub fn looks_like_jwt(token: &str) -> bool {
    token.bytes().filter(|&b| b == b'.').count() == 2
}

#[async_trait]
impl TokenValidator for JwtValidator {
    fn id(&self) -> &'static str {
        "jwt"
    }

    async fn validate(&self, token: &str) -> Result<Arc<Identity>, AuthError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.config.key, &self.validation)
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => AuthError::Expired,
                _ => AuthError::Invalid,
            })?;
        let c = data.claims;
        let scopes = match (c.scope, c.scp) {
            (Some(s), _) => s,
            (None, Some(list)) => list.join(" "),
            (None, None) => String::new(),
        };
        let stored = StoredAccessToken {
            user_id: Some(c.sub),
            user_name: c.name.or(c.preferred_username),
            client_id: c.client_id.or(c.azp),
            scopes,
            admin: false,
            created_at: c.iat.unwrap_or(0),
            // When the token stops being accepted, leeway included: the cache checks this on
            // every hit, and `exp` alone would refuse there what the validator just accepted.
            expires_at: c.exp.saturating_add(self.validation.leeway as i64),
            revoked: false,
            family_id: None,
        };
        Ok(Arc::new(Identity::from_stored(&stored)))
    }
}

/// Sends JWT-shaped tokens to the JWT validator (when configured), everything else to the
/// opaque store validator.
pub struct SelectingValidator {
    pub opaque: Arc<dyn TokenValidator>,
    pub jwt: Option<Arc<dyn TokenValidator>>,
}

#[async_trait]
impl TokenValidator for SelectingValidator {
    fn id(&self) -> &'static str {
        // One validator per token shape, and the token hash is part of the key: no entry made
        // for one kind of token can answer for another.
        "gatehouse"
    }

    async fn validate(&self, token: &str) -> Result<Arc<Identity>, AuthError> {
        match &self.jwt {
            Some(jwt) if looks_like_jwt(token) => jwt.validate(token).await,
            _ => self.opaque.validate(token).await,
        }
    }
}
