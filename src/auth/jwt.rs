//! JWTs from an external issuer, validated locally: one configured algorithm (never `none`, no
//! HMAC on an asymmetric key), signature, `exp`, `nbf`, exact `iss` and `aud` when configured,
//! bounded leeway. The claims become the same `Identity` an opaque token gives.

use super::{AuthError, ClaimValues, Identity, TokenValidator};
use crate::config::JwtConfig;
use crate::store::StoredAccessToken;
use async_trait::async_trait;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::Validation;
use serde_json::{Map, Value};
use std::sync::Arc;

pub struct JwtValidator {
    config: JwtConfig,
    validation: Validation,
    /// `Config::claims`: the claims identities keep beside the standard ones.
    claims: Arc<[String]>,
}

impl JwtValidator {
    pub fn new(config: JwtConfig, claims: Arc<[String]>) -> Self {
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
        JwtValidator {
            config,
            validation,
            claims,
        }
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
        let data =
            jsonwebtoken::decode::<Map<String, Value>>(token, &self.config.key, &self.validation)
                .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => AuthError::Expired,
                _ => AuthError::Invalid,
            })?;
        let exp = data
            .claims
            .get("exp")
            .and_then(Value::as_i64)
            .ok_or(AuthError::Invalid)?;
        // When the token stops being accepted, leeway included: the cache checks this on
        // every hit, and `exp` alone would refuse there what the validator just accepted.
        let expires_at = exp.saturating_add(self.validation.leeway as i64);
        identity_from_claims(&data.claims, &self.claims, expires_at)
            .map(Arc::new)
            .ok_or(AuthError::Invalid)
    }
}

/// The identity a JWT's claims describe: `sub` → user id (required, a string),
/// `name`/`preferred_username` → user name, `scope` (or the array `scp`) → scopes,
/// `client_id`/`azp` → client id, `iss` → issuer, and the `claims` named by the config.
/// Shared with `check-config --explain`, which builds identities from a claims file.
pub fn identity_from_claims(
    c: &Map<String, Value>,
    claims: &[String],
    expires_at: i64,
) -> Option<Identity> {
    let text = |k: &str| c.get(k).and_then(Value::as_str).map(str::to_string);
    let scopes = match (c.get("scope"), c.get("scp")) {
        (Some(Value::String(s)), _) => s.clone(),
        (None, Some(Value::Array(list))) => list
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(" "),
        (None, None) => String::new(),
        _ => return None,
    };
    let stored = StoredAccessToken {
        user_id: Some(text("sub")?),
        user_name: text("name").or_else(|| text("preferred_username")),
        client_id: text("client_id").or_else(|| text("azp")),
        scopes,
        admin: false,
        created_at: c.get("iat").and_then(Value::as_i64).unwrap_or(0),
        expires_at,
        revoked: false,
        family_id: None,
        groups: String::new(),
    };
    let mut identity = Identity::from_stored(&stored);
    identity.issuer = text("iss").map(String::into_boxed_str);
    identity.set_claims(ClaimValues::from_json(claims, c));
    Some(identity)
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
