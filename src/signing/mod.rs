//! Gatehouse's own signing keys (`[[tokens.signing_keys]]`): loading them from PKCS#8 PEM,
//! signing JWTs with the one active key, verifying ours by `kid` against every published
//! one, and the public JWK set. Depends on no other module of the crate, so config (which
//! loads the keys), auth (which verifies), oauth (which mints and serves the JWKS) and the
//! proxy (which signs assertions) can all use it.

mod generate;
mod verify;

pub use generate::{generate_pem, write_key_file};
pub use verify::{checked_here, Verifier};

/// Where the published keys are served (`crate::jwks`); the route config mounts it there too.
pub const JWKS_PATH: &str = "/oauth/jwks.json";

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::Serialize;
use serde_json::{json, Map, Value};
use std::fmt;

/// The algorithms Gatehouse signs with (RFC 8725: one per key, never `none` or HMAC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
pub enum KeyAlgorithm {
    #[serde(rename = "EdDSA", alias = "ed25519", alias = "Ed25519")]
    EdDsa,
    #[serde(rename = "ES256", alias = "es256")]
    Es256,
    #[serde(rename = "RS256", alias = "rs256")]
    Rs256,
}

impl KeyAlgorithm {
    pub fn jose(self) -> Algorithm {
        match self {
            KeyAlgorithm::EdDsa => Algorithm::EdDSA,
            KeyAlgorithm::Es256 => Algorithm::ES256,
            KeyAlgorithm::Rs256 => Algorithm::RS256,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            KeyAlgorithm::EdDsa => "EdDSA",
            KeyAlgorithm::Es256 => "ES256",
            KeyAlgorithm::Rs256 => "RS256",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignError {
    #[error("signing failed: {0}")]
    Sign(String),
}

/// Why one of our JWTs was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// Signature, header, issuer, audience or claims wrong, or an unknown `kid`.
    Invalid,
    Expired,
}

/// One key pair. `Debug` shows the `kid` and algorithm, never the private part.
#[derive(Clone)]
pub struct KeyPair {
    pub kid: String,
    pub algorithm: KeyAlgorithm,
    encoding: EncodingKey,
    decoding: DecodingKey,
    /// Checks signatures (ring); `decoding` is only used to validate the claims.
    verifier: Verifier,
    /// The public JWK (RFC 7517), built once.
    jwk: Value,
}

impl fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyPair")
            .field("kid", &self.kid)
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

impl KeyPair {
    /// Reads a PKCS#8 PEM private key (`PRIVATE KEY`; RSA keys also as PKCS#1 `RSA PRIVATE
    /// KEY`) of `algorithm`. The error says what is wrong, never the key.
    pub fn from_pem(
        kid: &str,
        algorithm: KeyAlgorithm,
        pem_text: &[u8],
    ) -> Result<KeyPair, String> {
        let parsed = pem::parse(pem_text).map_err(|e| format!("not a PEM file ({e})"))?;
        let der = parsed.contents();
        let (encoding, decoding, verifier, params) = match algorithm {
            KeyAlgorithm::EdDsa => {
                use ed25519_dalek::pkcs8::DecodePrivateKey;
                if parsed.tag() != "PRIVATE KEY" {
                    return Err(format!(
                        "`{}` PEM: expected `PRIVATE KEY` (PKCS#8)",
                        parsed.tag()
                    ));
                }
                let key = ed25519_dalek::SigningKey::from_pkcs8_der(der)
                    .map_err(|_| "not an Ed25519 private key (PKCS#8)".to_string())?;
                let x = key.verifying_key().to_bytes();
                (
                    EncodingKey::from_ed_der(der),
                    DecodingKey::from_ed_der(&x),
                    Verifier::ed25519(&x),
                    json!({"kty": "OKP", "crv": "Ed25519", "x": b64(&x)}),
                )
            }
            KeyAlgorithm::Es256 => {
                use p256::elliptic_curve::sec1::ToEncodedPoint;
                use p256::pkcs8::DecodePrivateKey;
                if parsed.tag() != "PRIVATE KEY" {
                    return Err(format!(
                        "`{}` PEM: expected `PRIVATE KEY` (PKCS#8)",
                        parsed.tag()
                    ));
                }
                let key = p256::SecretKey::from_pkcs8_der(der)
                    .map_err(|_| "not a P-256 private key (PKCS#8)".to_string())?;
                let point = key.public_key().to_encoded_point(false);
                let (Some(x), Some(y)) = (point.x(), point.y()) else {
                    return Err("P-256 public key has no coordinates".into());
                };
                let verifier = Verifier::es256(x, y)
                    .ok_or_else(|| "P-256 public key coordinates are not 32 bytes".to_string())?;
                let (x, y) = (b64(x), b64(y));
                let decoding = DecodingKey::from_ec_components(&x, &y)
                    .map_err(|e| format!("P-256 public key: {e}"))?;
                (
                    EncodingKey::from_ec_der(der),
                    decoding,
                    verifier,
                    json!({"kty": "EC", "crv": "P-256", "x": x, "y": y}),
                )
            }
            KeyAlgorithm::Rs256 => {
                use rsa::pkcs1::{DecodeRsaPrivateKey, EncodeRsaPrivateKey};
                use rsa::pkcs8::DecodePrivateKey;
                use rsa::traits::PublicKeyParts;
                let key = match parsed.tag() {
                    "PRIVATE KEY" => rsa::RsaPrivateKey::from_pkcs8_der(der).ok(),
                    "RSA PRIVATE KEY" => rsa::RsaPrivateKey::from_pkcs1_der(der).ok(),
                    other => return Err(format!("`{other}` PEM: expected `PRIVATE KEY`")),
                }
                .ok_or_else(|| "not an RSA private key".to_string())?;
                if key.size() < 256 {
                    return Err("RSA keys must have at least 2048 bits".into());
                }
                let pkcs1 = key
                    .to_pkcs1_der()
                    .map_err(|_| "RSA key cannot be re-encoded".to_string())?;
                let (n, e) = (key.n().to_bytes_be(), key.e().to_bytes_be());
                (
                    EncodingKey::from_rsa_der(pkcs1.as_bytes()),
                    DecodingKey::from_rsa_raw_components(&n, &e),
                    Verifier::rs256(&n, &e),
                    json!({"kty": "RSA", "n": b64(&n), "e": b64(&e)}),
                )
            }
        };
        let mut jwk = params;
        if let Value::Object(m) = &mut jwk {
            m.insert("kid".into(), Value::String(kid.to_string()));
            m.insert("alg".into(), Value::String(algorithm.name().into()));
            m.insert("use".into(), Value::String("sig".into()));
        }
        Ok(KeyPair {
            kid: kid.to_string(),
            algorithm,
            encoding,
            decoding,
            verifier,
            jwk,
        })
    }

    pub fn jwk(&self) -> &Value {
        &self.jwk
    }
}

/// The configured keys: the active one signs, every one verifies and is published.
/// `issuer` is Gatehouse's `server.public_url` without a trailing slash (the `iss` of
/// everything signed here, and the `aud` of its access tokens).
#[derive(Debug, Clone)]
pub struct KeySet {
    keys: Vec<KeyPair>,
    active: usize,
    pub issuer: String,
}

/// The `typ` of access tokens (RFC 9068 §2.1).
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";

impl KeySet {
    /// `None` unless exactly one of `keys` is the active one (index `active`).
    pub fn new(keys: Vec<KeyPair>, active: usize, issuer: String) -> Option<KeySet> {
        (active < keys.len()).then_some(KeySet {
            keys,
            active,
            issuer,
        })
    }

    pub fn active(&self) -> &KeyPair {
        &self.keys[self.active]
    }

    pub fn keys(&self) -> &[KeyPair] {
        &self.keys
    }

    /// Signs `claims` with the active key, its `kid` and the given `typ` in the header.
    pub fn sign<T: Serialize>(&self, typ: &str, claims: &T) -> Result<String, SignError> {
        let key = self.active();
        let mut header = Header::new(key.algorithm.jose());
        header.typ = Some(typ.to_string());
        header.kid = Some(key.kid.clone());
        jsonwebtoken::encode(&header, claims, &key.encoding)
            .map_err(|e| SignError::Sign(e.to_string()))
    }

    /// The published key that signed `token`: its header names our `typ`, a published `kid`
    /// and that key's algorithm, and the signature verifies (ring).
    fn signer_of(&self, token: &str, typ: &str) -> Result<&KeyPair, Rejection> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| Rejection::Invalid)?;
        if header.typ.as_deref() != Some(typ) {
            return Err(Rejection::Invalid);
        }
        let kid = header.kid.as_deref().ok_or(Rejection::Invalid)?;
        let key = self
            .keys
            .iter()
            .find(|k| k.kid == kid)
            .ok_or(Rejection::Invalid)?;
        if header.alg != key.algorithm.jose() || !key.verifier.verifies(token) {
            return Err(Rejection::Invalid);
        }
        Ok(key)
    }

    /// Claims validation for a token whose signature `signer_of` already checked.
    fn claims_validation(&self, key: &KeyPair, required: &[&str]) -> Validation {
        let mut validation = Validation::new(key.algorithm.jose());
        #[allow(deprecated)] // its replacement, `dangerous::insecure_decode`, skips the claims too
        validation.insecure_disable_signature_validation();
        validation.set_issuer(&[&self.issuer]);
        validation.required_spec_claims = required.iter().map(|s| s.to_string()).collect();
        validation
    }

    /// Verifies one of our JWTs: a published `kid`, that key's algorithm, the `typ`, our
    /// `iss`, `aud` = `audience`, a live `exp`, and a `jti`. No leeway: we set the clock.
    pub fn verify(
        &self,
        token: &str,
        typ: &str,
        audience: &str,
    ) -> Result<Map<String, Value>, Rejection> {
        let key = self.signer_of(token, typ)?;
        let mut validation = self.claims_validation(key, &["exp", "iss", "aud", "sub"]);
        validation.leeway = 0;
        validation.set_audience(&[audience]);
        let data = jsonwebtoken::decode::<Map<String, Value>>(token, &key.decoding, &validation)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => Rejection::Expired,
                _ => Rejection::Invalid,
            })?;
        if !data.claims.get("jti").is_some_and(Value::is_string) {
            return Err(Rejection::Invalid);
        }
        Ok(data.claims)
    }

    /// One of our JWTs whose lifetime does not matter (an ID token sent back as a logout's
    /// `id_token_hint`): a published `kid`, its algorithm, the `typ`, our `iss`, a `sub` and an
    /// `aud`; `exp` is not checked.
    pub fn verify_ignoring_expiry(
        &self,
        token: &str,
        typ: &str,
    ) -> Result<Map<String, Value>, Rejection> {
        let key = self.signer_of(token, typ)?;
        let mut validation = self.claims_validation(key, &["iss", "aud", "sub"]);
        validation.validate_exp = false;
        validation.validate_aud = false;
        jsonwebtoken::decode::<Map<String, Value>>(token, &key.decoding, &validation)
            .map(|d| d.claims)
            .map_err(|_| Rejection::Invalid)
    }

    /// The JWK set (RFC 7517 §5) of every published key: public parameters only.
    pub fn jwks(&self) -> Value {
        json!({ "keys": self.keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>() })
    }
}

/// The `iss` claim of a JWT-shaped token, read without verifying anything: only to choose
/// which verifier gets the token.
pub fn peek_issuer(token: &str) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Iss {
        iss: Option<String>,
    }
    let payload = token.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload).ok()?;
    serde_json::from_slice::<Iss>(&bytes).ok()?.iss
}

/// A fresh `jti`: 128 random bits, base64url.
pub fn new_jti() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut bytes);
    b64(&bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(alg: KeyAlgorithm) -> KeySet {
        let pem = generate_pem(alg).unwrap();
        let key = KeyPair::from_pem("k1", alg, pem.as_bytes()).unwrap();
        KeySet::new(vec![key], 0, "https://gh.example".into()).unwrap()
    }

    #[test]
    fn every_algorithm_signs_and_verifies_its_own_tokens_only() {
        for alg in [
            KeyAlgorithm::EdDsa,
            KeyAlgorithm::Es256,
            KeyAlgorithm::Rs256,
        ] {
            let keys = set(alg);
            let claims = json!({"iss": "https://gh.example", "aud": "a", "sub": "u",
                "exp": 4_000_000_000i64, "jti": new_jti()});
            let token = keys.sign("at+jwt", &claims).unwrap();
            assert_eq!(keys.verify(&token, "at+jwt", "a").unwrap()["sub"], "u");
            assert_eq!(keys.verify(&token, "x+jwt", "a"), Err(Rejection::Invalid));
            assert_eq!(keys.verify(&token, "at+jwt", "b"), Err(Rejection::Invalid));
            // Another key of the same kid and algorithm does not verify it.
            assert_eq!(
                set(alg).verify(&token, "at+jwt", "a"),
                Err(Rejection::Invalid)
            );
            let jwk = keys.jwks()["keys"][0].clone();
            assert!(jwk.get("d").is_none() && jwk.get("p").is_none());
            assert_eq!(jwk["kid"], "k1");
            assert_eq!(peek_issuer(&token).as_deref(), Some("https://gh.example"));
        }
    }

    #[test]
    fn a_key_of_another_algorithm_is_refused() {
        let pem = generate_pem(KeyAlgorithm::EdDsa).unwrap();
        assert!(KeyPair::from_pem("k", KeyAlgorithm::Es256, pem.as_bytes()).is_err());
        assert!(KeyPair::from_pem("k", KeyAlgorithm::Rs256, pem.as_bytes()).is_err());
        assert!(KeyPair::from_pem("k", KeyAlgorithm::EdDsa, b"nonsense").is_err());
    }

    #[test]
    fn expired_tokens_say_so() {
        let keys = set(KeyAlgorithm::EdDsa);
        let claims = json!({"iss": "https://gh.example", "aud": "a", "sub": "u",
            "exp": 1_000, "jti": "j"});
        let token = keys.sign("at+jwt", &claims).unwrap();
        assert_eq!(keys.verify(&token, "at+jwt", "a"), Err(Rejection::Expired));
    }
}
