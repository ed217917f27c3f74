//! Validation of the `[jwt]` section: JWTs from an external issuer, checked locally.

use super::raw::{JwtAlgorithm, OneOf, RawJwt};
use super::Problems;
use jsonwebtoken::{Algorithm, DecodingKey};
use std::time::Duration;

#[derive(Clone)]
pub struct JwtConfig {
    /// The only algorithm accepted (RFC 8725 §3.1: one per key, never `none`).
    pub algorithm: Algorithm,
    pub key: DecodingKey,
    /// Exact `iss`, when set.
    pub issuer: Option<String>,
    /// Required `aud`, when set.
    pub audience: Option<String>,
    pub leeway: Duration,
}

impl std::fmt::Debug for JwtConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtConfig")
            .field("algorithm", &self.algorithm)
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("leeway", &self.leeway)
            .finish_non_exhaustive()
    }
}

impl From<JwtAlgorithm> for Algorithm {
    fn from(algorithm: JwtAlgorithm) -> Self {
        match algorithm {
            JwtAlgorithm::Hs256 => Algorithm::HS256,
            JwtAlgorithm::Hs384 => Algorithm::HS384,
            JwtAlgorithm::Hs512 => Algorithm::HS512,
            JwtAlgorithm::Rs256 => Algorithm::RS256,
            JwtAlgorithm::Rs384 => Algorithm::RS384,
            JwtAlgorithm::Rs512 => Algorithm::RS512,
            JwtAlgorithm::Es256 => Algorithm::ES256,
            JwtAlgorithm::Es384 => Algorithm::ES384,
        }
    }
}

/// `None` when the algorithm or key is unusable (a problem is pushed).
pub(super) fn validate_jwt(p: &mut Problems, raw: RawJwt) -> Option<JwtConfig> {
    let algorithm: Algorithm = match raw.algorithm {
        OneOf::Known(a) => a.into(),
        OneOf::Unknown(other) => {
            p.push(format!(
                "jwt.algorithm: `{other}` (use HS256/384/512, RS256/384/512, ES256/384)"
            ));
            return None;
        }
    };
    let hmac = matches!(
        algorithm,
        Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512
    );
    let key = if hmac {
        if raw.public_key_file.is_some() {
            p.push("jwt.public_key_file: not used with an HS* algorithm (give jwt.secret)".into());
        }
        match p.secret(
            "jwt.secret",
            raw.secret.as_deref(),
            raw.secret_file.as_deref(),
        ) {
            Ok(Some(s)) if s.expose().len() >= 32 => {
                Some(DecodingKey::from_secret(s.expose().as_bytes()))
            }
            Ok(Some(_)) => {
                p.push("jwt.secret: at least 32 bytes for HMAC keys".into());
                None
            }
            Ok(None) => {
                p.push("jwt.secret: required for HS* algorithms".into());
                None
            }
            Err(e) => {
                p.push(e);
                None
            }
        }
    } else {
        if raw.secret.is_some() || raw.secret_file.is_some() {
            p.push(
                "jwt.secret: not used with an asymmetric algorithm (give jwt.public_key_file)"
                    .into(),
            );
        }
        match &raw.public_key_file {
            None => {
                p.push("jwt.public_key_file: required for RS*/ES* algorithms".into());
                None
            }
            Some(path) => match p.read_file(path) {
                Err(e) => {
                    p.push(format!("jwt.public_key_file: cannot read `{path}`: {e}"));
                    None
                }
                Ok(pem) => {
                    let key = if matches!(algorithm, Algorithm::ES256 | Algorithm::ES384) {
                        DecodingKey::from_ec_pem(&pem)
                    } else {
                        DecodingKey::from_rsa_pem(&pem)
                    };
                    match key {
                        Ok(k) => Some(k),
                        Err(e) => {
                            p.push(format!(
                                "jwt.public_key_file: `{path}` is not a usable public key: {e}"
                            ));
                            None
                        }
                    }
                }
            },
        }
    };
    let leeway = p.duration("jwt.leeway", raw.leeway.as_deref(), Duration::from_secs(30));
    if leeway > Duration::from_secs(60) {
        p.push("jwt.leeway: at most 60s".into());
    }
    Some(JwtConfig {
        algorithm,
        key: key?,
        issuer: raw.issuer,
        audience: raw.audience,
        leeway,
    })
}
