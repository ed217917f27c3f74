//! Harnesses for signed credentials: external-issuer JWTs and Facebook's `signed_request`.
//! Each can also sign what the fuzzer wrote, so mutations reach the header and claim parsing
//! behind the signature check instead of dying at it.

use crate::auth::{JwtValidator, TokenValidator};
use crate::config::{ClaimMapping, IssuerConfig, JwtConfig, KeySource};
use crate::facebook::signed_request as facebook;
use crate::metrics::Metrics;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::Value;
use sha2::Sha256;
use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The HS256 issuer's key, as `jwt.issuers.secret` would give it.
pub const JWT_SECRET: &[u8] = b"fuzzing-jwt-secret-at-least-32-bytes-long";
pub const JWT_ISSUER: &str = "https://issuer.example";
pub const JWT_AUDIENCE: &str = "legacy-api";
const LEEWAY: Duration = Duration::from_secs(30);
/// The RS256 issuer's public key (the test fixture; its private half signs nothing here).
const RSA_PUBLIC_PEM: &[u8] = include_bytes!("../../tests/fixtures/jwt-test-public.pem");
pub const FACEBOOK_APP_SECRET: &str = "fuzzing-app-secret-0123456789";

fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    match Hmac::<Sha256>::new_from_slice(key) {
        Ok(mut mac) => {
            mac.update(message);
            mac.finalize().into_bytes().to_vec()
        }
        Err(e) => panic!("HMAC takes any key: {e}"),
    }
}

fn b64(part: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(part.trim_end_matches('=')).ok()
}

fn validators() -> &'static (JwtValidator, Option<JwtValidator>) {
    static VALIDATORS: OnceLock<(JwtValidator, Option<JwtValidator>)> = OnceLock::new();
    VALIDATORS.get_or_init(|| {
        let config = |algorithm, key| JwtConfig {
            issuers: vec![IssuerConfig {
                issuer: JWT_ISSUER.into(),
                keys: KeySource::Static(key),
                algorithms: vec![algorithm],
                audiences: vec![JWT_AUDIENCE.into()],
                leeway: LEEWAY,
                claims: ClaimMapping::default(),
            }],
        };
        // The claims policies may name: the fuzzed tokens exercise keeping them too.
        let claims: std::sync::Arc<[String]> = ["groups".to_string(), "roles".to_string()].into();
        let metrics = match Metrics::new() {
            Ok(m) => Arc::new(m),
            Err(e) => panic!("metrics: {e}"),
        };
        let build = |c: JwtConfig| match JwtValidator::new(&c, claims.clone(), None, &metrics) {
            Ok(v) => v,
            Err(e) => panic!("validator: {e}"),
        };
        let hs = build(config(
            Algorithm::HS256,
            DecodingKey::from_secret(JWT_SECRET),
        ));
        let rs = DecodingKey::from_rsa_pem(RSA_PUBLIC_PEM)
            .ok()
            .map(|k| build(config(Algorithm::RS256, k)));
        (hs, rs)
    })
}

struct NoWake;
impl Wake for NoWake {
    fn wake(self: Arc<Self>) {}
}

/// Validation awaits nothing, so one poll finishes it.
fn run_now<F: Future>(f: F) -> F::Output {
    let waker = Waker::from(Arc::new(NoWake));
    let mut cx = Context::from_waker(&waker);
    let mut f = std::pin::pin!(f);
    match f.as_mut().poll(&mut cx) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("JWT validation waited"),
    }
}

/// First byte: bit 0 picks the RS256 issuer (else HS256); bit 1 signs: the rest is a JOSE
/// header and a claims set (JSON, `\n` between), encoded and HMAC-signed with the HS256 key (the
/// RS256 issuer thus gets the algorithm-confusion forgery). Otherwise the rest is the token.
/// The RS256 issuer accepts nothing here, since nothing holds its private key; the HS256 one
/// accepts only HS256 tokens signed with its key, with exact `iss`, our `aud`, and a current
/// `exp` and `nbf`.
pub fn jwt(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let Ok(rest) = std::str::from_utf8(rest) else {
        return;
    };
    let token = if mode & 2 != 0 {
        let Some((header, claims)) = rest.split_once('\n') else {
            return;
        };
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(claims)
        );
        let key = if mode & 1 != 0 {
            RSA_PUBLIC_PEM
        } else {
            JWT_SECRET
        };
        let sig = hmac_sha256(key, signing_input.as_bytes());
        format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(sig))
    } else {
        rest.to_string()
    };
    let (hs, rs) = validators();
    if mode & 1 != 0 {
        if let Some(rs) = rs {
            assert!(run_now(rs.validate(&token)).is_err(), "RS256 forged");
        }
        return;
    }
    let Ok(identity) = run_now(hs.validate(&token)) else {
        return;
    };
    let parts: Vec<&str> = token.split('.').collect();
    let [header, claims, sig] = parts[..] else {
        panic!("accepted a token of {} parts", parts.len());
    };
    let signing_input = format!("{header}.{claims}");
    assert_eq!(
        b64(sig),
        Some(hmac_sha256(JWT_SECRET, signing_input.as_bytes())),
        "accepted a signature not made with the key"
    );
    let json = |part: &str| b64(part).and_then(|b| serde_json::from_slice::<Value>(&b).ok());
    let header = json(header).unwrap_or_default();
    assert_eq!(header["alg"], "HS256", "accepted {header}");
    let claims = json(claims).unwrap_or_default();
    assert_eq!(claims["iss"], JWT_ISSUER, "accepted {claims}");
    let aud_ok = match &claims["aud"] {
        Value::String(a) => a == JWT_AUDIENCE,
        Value::Array(list) => list.iter().any(|a| a == JWT_AUDIENCE),
        _ => false,
    };
    assert!(aud_ok, "accepted {claims}");
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let leeway = LEEWAY.as_secs() as i64;
    let exp = claims["exp"].as_i64();
    assert!(exp.is_some_and(|e| e + leeway >= now), "accepted {claims}");
    // A null claim reads as absent (serde's `Option`); anything else must be a time.
    if let Some(nbf) = claims.get("nbf").filter(|v| !v.is_null()) {
        assert!(
            nbf.as_i64().is_some_and(|n| n - leeway <= now),
            "accepted {claims}"
        );
    }
    assert_eq!(identity.user_id(), claims["sub"].as_str());
}

/// First byte: bit 0 signs, the rest being the payload JSON (encoded and signed with the app
/// secret); otherwise the rest is the `signed_request`. Accepted means signed with the app
/// secret over the payload as sent, with algorithm `HMAC-SHA256`; a well-signed payload of
/// that algorithm is accepted.
pub fn signed_request(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let Ok(rest) = std::str::from_utf8(rest) else {
        return;
    };
    let signed = if mode & 1 != 0 {
        let payload = URL_SAFE_NO_PAD.encode(rest);
        let sig = hmac_sha256(FACEBOOK_APP_SECRET.as_bytes(), payload.as_bytes());
        format!("{}.{payload}", URL_SAFE_NO_PAD.encode(sig))
    } else {
        rest.to_string()
    };
    let result = facebook::verify(&signed, FACEBOOK_APP_SECRET);
    if mode & 1 != 0 {
        let ours = serde_json::from_str::<Value>(rest)
            .is_ok_and(|v| v.get("algorithm").and_then(Value::as_str) == Some("HMAC-SHA256"));
        assert_eq!(result.is_some(), ours, "a well-signed {rest:?}");
    }
    let Some(json) = result else {
        return;
    };
    let Some((sig, payload)) = signed.split_once('.') else {
        panic!("accepted {signed:?} without a signature");
    };
    assert_eq!(
        b64(sig),
        Some(hmac_sha256(
            FACEBOOK_APP_SECRET.as_bytes(),
            payload.as_bytes()
        )),
        "accepted a signature not made with the app secret"
    );
    assert_eq!(
        b64(payload).and_then(|b| serde_json::from_slice::<Value>(&b).ok()),
        Some(json.clone())
    );
    assert_eq!(json["algorithm"], "HMAC-SHA256");
}
