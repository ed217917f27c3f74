//! JWTs from external issuers (`[[jwt.issuers]]`), validated locally. A token goes to the
//! issuer its `iss` names, and only that issuer's keys, algorithms, audiences and leeway apply:
//! algorithm on the issuer's allow-list (never `none`, no HMAC on a public key), signature,
//! `exp`, `nbf`, exact `iss`, `aud`. The claims become an `Identity` that carries the issuer,
//! so its `sub` never passes for a local user.

use super::jwks::{self, JwksKeys, KeyFamily};
use super::{AuthError, ClaimValues, Identity, IdentityParts, TokenValidator};
use crate::config::{is_hmac, ClaimMapping, IssuerConfig, JwtConfig, KeySource};
use crate::metrics::Metrics;
use crate::signing;
use async_trait::async_trait;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Header, Validation};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::runtime::Handle;

enum Keys {
    Static(DecodingKey),
    Jwks(Arc<JwksKeys>),
}

struct IssuerVerifier {
    config: IssuerConfig,
    keys: Keys,
    /// One per allowed algorithm: a token is checked with exactly the algorithm it names.
    validations: Vec<(Algorithm, Validation)>,
}

/// Every configured external issuer, by exact `iss`.
pub struct JwtValidator {
    issuers: HashMap<String, IssuerVerifier>,
    /// `Config::claims`: the claims identities keep beside the standard ones.
    claims: Arc<[String]>,
}

impl JwtValidator {
    /// Built from the config alone (a reload builds a new one). With a runtime, JWKS issuers
    /// fetch their keys on it at once and every `refresh`; without one (the fuzzer) only static
    /// keys work.
    pub fn new(
        config: &JwtConfig,
        claims: Arc<[String]>,
        runtime: Option<&Handle>,
        metrics: &Arc<Metrics>,
    ) -> Result<JwtValidator, String> {
        let client = jwks::http_client()?;
        let mut issuers = HashMap::new();
        for c in &config.issuers {
            let keys = match &c.keys {
                KeySource::Static(k) => Keys::Static(k.clone()),
                KeySource::Jwks {
                    location,
                    refresh,
                    min_refresh,
                } => {
                    let keys = Arc::new(JwksKeys::new(
                        c.issuer.clone(),
                        location.clone(),
                        *min_refresh,
                        client.clone(),
                        runtime.cloned(),
                        metrics.clone(),
                    ));
                    if let Some(rt) = runtime {
                        jwks::spawn_refresher(&keys, rt, *refresh);
                    }
                    Keys::Jwks(keys)
                }
            };
            let validations = c
                .algorithms
                .iter()
                .map(|a| (*a, validation(c, *a)))
                .collect();
            issuers.insert(
                c.issuer.clone(),
                IssuerVerifier {
                    config: c.clone(),
                    keys,
                    validations,
                },
            );
        }
        Ok(JwtValidator { issuers, claims })
    }
}

fn validation(c: &IssuerConfig, alg: Algorithm) -> Validation {
    let mut v = Validation::new(alg);
    v.leeway = c.leeway.as_secs();
    v.validate_nbf = true;
    v.required_spec_claims = ["exp", "iss", "aud"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    v.set_issuer(&[&c.issuer]);
    v.set_audience(&c.audiences);
    if signing::checked_here(alg) {
        // `IssuerVerifier::verify` checks these signatures with ring before the claims.
        #[allow(deprecated)] // its replacement, `dangerous::insecure_decode`, skips the claims too
        v.insecure_disable_signature_validation();
    }
    v
}

/// A JWT has exactly three dot-separated parts; opaque tokens (base64url) have none.
pub fn looks_like_jwt(token: &str) -> bool {
    token.bytes().filter(|&b| b == b'.').count() == 2
}

/// Read before the signature is checked, only to pick the issuer whose keys then check it.
#[derive(Deserialize)]
struct Unverified {
    iss: Option<String>,
}

#[async_trait]
impl TokenValidator for JwtValidator {
    fn id(&self) -> &'static str {
        "jwt"
    }

    async fn validate(&self, token: &str) -> Result<Arc<Identity>, AuthError> {
        let peek = jsonwebtoken::dangerous::insecure_decode::<Unverified>(token)
            .map_err(|_| AuthError::Invalid)?;
        let issuer = peek
            .claims
            .iss
            .as_deref()
            .and_then(|iss| self.issuers.get(iss))
            .ok_or(AuthError::Invalid)?;
        let claims = issuer.verify(token, &peek.header).await?;
        let exp = claims
            .get("exp")
            .and_then(Value::as_i64)
            .ok_or(AuthError::Invalid)?;
        // When the token stops being accepted, leeway included: the cache checks this on
        // every hit, and `exp` alone would refuse there what the validator just accepted.
        let expires_at = exp.saturating_add(issuer.config.leeway.as_secs() as i64);
        identity_from_claims(&claims, &issuer.config.claims, &self.claims, expires_at)
            .map(Arc::new)
            .ok_or(AuthError::Invalid)
    }
}

impl IssuerVerifier {
    async fn verify(&self, token: &str, header: &Header) -> Result<Map<String, Value>, AuthError> {
        let alg = header.alg;
        let validation = self
            .validations
            .iter()
            .find(|(a, _)| *a == alg)
            .map(|(_, v)| v)
            .ok_or(AuthError::Invalid)?;
        let found;
        let candidates: Vec<&DecodingKey> = match &self.keys {
            Keys::Static(k) => vec![k],
            Keys::Jwks(jwks) => {
                // Config refuses HS* for a JWKS issuer; checked again where it matters.
                let family = KeyFamily::of(alg).filter(|_| !is_hmac(alg));
                let family = family.ok_or(AuthError::Invalid)?;
                let fits =
                    |k: &jwks::PublicKey| k.family == family && k.alg.is_none_or(|a| a == alg);
                found = match &header.kid {
                    Some(kid) => jwks.key(kid).await.into_iter().collect::<Vec<_>>(),
                    None => jwks.current().of_family(family),
                };
                found.iter().filter(|k| fits(k)).map(|k| &k.key).collect()
            }
        };
        for key in candidates {
            // Never skipped for an algorithm whose validation leaves the signature to us.
            if signing::checked_here(alg)
                && !signing::Verifier::for_key(alg, key).is_some_and(|v| v.verifies(token))
            {
                continue;
            }
            match jsonwebtoken::decode::<Map<String, Value>>(token, key, validation) {
                Ok(data) => return Ok(data.claims),
                Err(e) if *e.kind() == ErrorKind::InvalidSignature => continue,
                Err(e) if *e.kind() == ErrorKind::ExpiredSignature => {
                    return Err(AuthError::Expired)
                }
                Err(_) => return Err(AuthError::Invalid),
            }
        }
        Err(AuthError::Invalid)
    }
}

/// The identity a JWT's claims describe, each part from the claim the issuer's mapping names,
/// else: `sub` → user id (required, a string that can be a header value), `name`/`preferred_username` → user name,
/// `scope` (or the array `scp`) → scopes, `client_id`/`azp` → client id; `iss` → issuer, and
/// the `claims` named by the config. Shared with `check-config --explain`.
pub fn identity_from_claims(
    c: &Map<String, Value>,
    mapping: &ClaimMapping,
    claims: &[String],
    expires_at: i64,
) -> Option<Identity> {
    let text = |k: &str| c.get(k).and_then(Value::as_str).map(str::to_string);
    let either = |named: &Option<String>, a: &str, b: &str| match named {
        Some(k) => text(k),
        None => text(a).or_else(|| text(b)),
    };
    let scope_list = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        Value::Array(list) => Some(
            list.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(" "),
        ),
        _ => None,
    };
    let scopes = match &mapping.scopes {
        Some(k) => match c.get(k) {
            None => String::new(),
            Some(v) => scope_list(v)?,
        },
        None => match (c.get("scope"), c.get("scp")) {
            (Some(Value::String(s)), _) => s.clone(),
            (None, Some(v @ Value::Array(_))) => scope_list(v)?,
            (None, None) => String::new(),
            _ => return None,
        },
    };
    let user_id = text(mapping.user_id.as_deref().unwrap_or("sub"))?;
    // The user id is who the upstream is told it serves: one that cannot travel as a header
    // (control characters) is refused, never sent on without its identity header.
    if http::HeaderValue::from_str(&user_id).is_err() {
        return None;
    }
    let user_name = either(&mapping.user_name, "name", "preferred_username");
    let client_id = either(&mapping.client_id, "client_id", "azp");
    let issuer = text("iss");
    Some(Identity::new(IdentityParts {
        user_id: Some(&user_id),
        user_name: user_name.as_deref(),
        client_id: client_id.as_deref(),
        scopes: &scopes,
        admin: false,
        issuer: issuer.as_deref(),
        claims: ClaimValues::from_json(claims, c),
        expires_at,
    }))
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
        // for one kind of token can answer for another. A JWT's `iss` is inside the hashed
        // token, so its entry is bound to the issuer that checked it.
        "gatehouse"
    }

    async fn validate(&self, token: &str) -> Result<Arc<Identity>, AuthError> {
        match &self.jwt {
            Some(jwt) if looks_like_jwt(token) => jwt.validate(token).await,
            _ => self.opaque.validate(token).await,
        }
    }
}
