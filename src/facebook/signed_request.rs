//! Facebook's `signed_request` (deauthorize and data-deletion callbacks): `SIG.PAYLOAD`, both
//! base64url; SIG is HMAC-SHA256 of the encoded payload under the app secret, compared in
//! constant time; only the `HMAC-SHA256` algorithm is accepted.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The payload's JSON when the signature is good.
pub fn verify(signed_request: &str, app_secret: &str) -> Option<serde_json::Value> {
    let (sig, payload) = signed_request.split_once('.')?;
    let decode = |s: &str| URL_SAFE_NO_PAD.decode(s.trim_end_matches('='));
    let sig = decode(sig).ok()?;
    let mut mac = Hmac::<Sha256>::new_from_slice(app_secret.as_bytes()).ok()?;
    mac.update(payload.as_bytes());
    mac.verify_slice(&sig).ok()?;
    let json: serde_json::Value = serde_json::from_slice(&decode(payload).ok()?).ok()?;
    (json.get("algorithm")?.as_str()? == "HMAC-SHA256").then_some(json)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sign(payload: &serde_json::Value, secret: &str) -> String {
        let p = URL_SAFE_NO_PAD.encode(payload.to_string());
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(p.as_bytes());
        format!(
            "{}.{p}",
            URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
        )
    }

    #[test]
    fn good_tampered_and_wrong_algorithm() {
        let payload =
            serde_json::json!({"algorithm": "HMAC-SHA256", "user_id": "42", "issued_at": 1});
        let good = sign(&payload, "secret");
        assert_eq!(verify(&good, "secret").unwrap()["user_id"], "42");
        assert!(verify(&good, "other").is_none());
        let (sig, _) = good.split_once('.').unwrap();
        let forged = format!(
            "{sig}.{}",
            URL_SAFE_NO_PAD.encode(r#"{"algorithm":"HMAC-SHA256","user_id":"43"}"#)
        );
        assert!(verify(&forged, "secret").is_none());
        let other_alg = sign(
            &serde_json::json!({"algorithm": "none", "user_id": "42"}),
            "secret",
        );
        assert!(verify(&other_alg, "secret").is_none());
        assert!(verify("garbage", "secret").is_none());
    }
}
