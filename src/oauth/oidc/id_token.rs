//! The ID token (OIDC Core §2, §3.1.3.6): signed with the active key, `aud` and `azp` the
//! client, `auth_time` and `sid` from the sign-in, the RP's `nonce` on the code's first
//! token (never on refreshes, §12.2), and `at_hash` over the access token it came with.

use crate::signing::{new_jti, KeyAlgorithm, KeySet, SignError};
use crate::store::OidcGrant;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::Value;
use sha2::{Digest, Sha256, Sha512};

/// The header `typ` of ID tokens: plain `JWT`, so RP libraries that check it accept them,
/// and distinct from access tokens' `at+jwt`, so neither passes for the other.
pub const TYP: &str = "JWT";

#[derive(serde::Serialize)]
struct Claims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    azp: &'a str,
    exp: i64,
    iat: i64,
    auth_time: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    nonce: Option<&'a str>,
    at_hash: String,
    sid: &'a str,
    jti: String,
}

/// The left half of the access token's hash, with the hash of the signing algorithm: SHA-256
/// for ES256 and RS256, SHA-512 for EdDSA over Ed25519 (the hash Ed25519 itself uses).
pub fn at_hash(algorithm: KeyAlgorithm, access_token: &str) -> String {
    let digest = match algorithm {
        KeyAlgorithm::Es256 | KeyAlgorithm::Rs256 => {
            Sha256::digest(access_token.as_bytes()).to_vec()
        }
        KeyAlgorithm::EdDsa => Sha512::digest(access_token.as_bytes()).to_vec(),
    };
    URL_SAFE_NO_PAD.encode(&digest[..digest.len() / 2])
}

/// Signs the ID token of `grant` issued with `access_token`; `first` is the code's token
/// response, the only one that echoes the nonce.
pub fn sign(
    keys: &KeySet,
    grant: &OidcGrant,
    access_token: &str,
    first: bool,
    now: i64,
    ttl_secs: u64,
) -> Result<String, SignError> {
    let claims = Claims {
        iss: &keys.issuer,
        sub: &grant.user_id,
        aud: &grant.client_id,
        azp: &grant.client_id,
        exp: now + ttl_secs as i64,
        iat: now,
        auth_time: grant.auth_time,
        nonce: grant.nonce.as_deref().filter(|_| first),
        at_hash: at_hash(keys.active().algorithm, access_token),
        sid: &grant.sid,
        jti: new_jti(),
    };
    keys.sign(TYP, &claims)
}

/// What a logout learns from a valid `id_token_hint`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hint {
    pub sub: String,
    /// The client it was issued to.
    pub client_id: String,
    pub sid: Option<String>,
}

/// An ID token we signed, expired or not (OIDC RP-Initiated Logout §2: an RP logs out with
/// the last ID token it has); `None` when anything else is wrong with it.
pub fn read_hint(keys: &KeySet, token: &str) -> Option<Hint> {
    let claims = keys.verify_ignoring_expiry(token, TYP).ok()?;
    let text = |name: &str| claims.get(name).and_then(Value::as_str).map(str::to_string);
    let client_id = match claims.get("aud")? {
        Value::String(s) => s.clone(),
        Value::Array(a) if a.len() == 1 => a[0].as_str()?.to_string(),
        _ => return None,
    };
    // ID tokens always carry `azp`; an access token or assertion of ours does not.
    if text("azp").as_deref() != Some(client_id.as_str()) {
        return None;
    }
    Some(Hint {
        sub: text("sub")?,
        client_id,
        sid: text("sid"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signing::{generate_pem, KeyPair};

    fn keys(alg: KeyAlgorithm) -> KeySet {
        let pem = generate_pem(alg).unwrap();
        let key = KeyPair::from_pem("k1", alg, pem.as_bytes()).unwrap();
        KeySet::new(vec![key], 0, "https://gh.example".into()).unwrap()
    }

    fn grant() -> OidcGrant {
        OidcGrant {
            family_id: "f".into(),
            client_id: "rp".into(),
            user_id: "7".into(),
            sid: "s1".into(),
            nonce: Some("n-0S6".into()),
            auth_time: 1_000,
            created_at: 1_000,
            expires_at: 2_000,
        }
    }

    #[test]
    fn at_hash_follows_the_key_algorithm() {
        // OIDC Core A.3's example: access token and at_hash for RS256.
        assert_eq!(
            at_hash(
                KeyAlgorithm::Rs256,
                "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"
            ),
            "77QmUPtjPfzWtF2AnpK9RQ"
        );
        assert_eq!(at_hash(KeyAlgorithm::EdDsa, "x").len(), 43);
    }

    #[test]
    fn a_hint_is_read_expired_but_not_forged() {
        let keys = keys(KeyAlgorithm::EdDsa);
        let token = sign(&keys, &grant(), "at", true, 1_000, 60).unwrap();
        let hint = read_hint(&keys, &token).unwrap();
        assert_eq!((hint.sub.as_str(), hint.client_id.as_str()), ("7", "rp"));
        assert_eq!(hint.sid.as_deref(), Some("s1"));
        assert_eq!(read_hint(&self::keys(KeyAlgorithm::EdDsa), &token), None);
        let mut parts: Vec<&str> = token.split('.').collect();
        parts[1] = "eyJzdWIiOiI4In0";
        assert_eq!(read_hint(&keys, &parts.join(".")), None);
    }
}
