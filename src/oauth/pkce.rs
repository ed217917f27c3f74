//! PKCE (RFC 7636): challenge checks at the authorization endpoint, verifier checks at the token
//! endpoint. `plain` is only for clients marked legacy.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    S256,
    Plain,
}

impl Method {
    pub fn parse(s: Option<&str>) -> Option<Method> {
        match s {
            // RFC 7636 §4.3: absent means plain.
            None | Some("plain") => Some(Method::Plain),
            Some("S256") => Some(Method::S256),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Method::S256 => "S256",
            Method::Plain => "plain",
        }
    }
}

/// `[A-Za-z0-9-._~]{43,128}`: the form of both a verifier and a plain challenge.
pub fn is_valid_verifier(v: &str) -> bool {
    (43..=128).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// An S256 challenge is the unpadded base64url of a SHA-256: 43 characters.
pub fn is_valid_challenge(challenge: &str, method: Method) -> bool {
    match method {
        Method::S256 => {
            challenge.len() == 43
                && URL_SAFE_NO_PAD
                    .decode(challenge)
                    .map(|d| d.len() == 32)
                    .unwrap_or(false)
        }
        Method::Plain => is_valid_verifier(challenge),
    }
}

pub fn verify(verifier: &str, challenge: &str, method: Method) -> bool {
    if !is_valid_verifier(verifier) {
        return false;
    }
    let computed = match method {
        Method::S256 => URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())),
        Method::Plain => verifier.to_string(),
    };
    computed.as_bytes().ct_eq(challenge.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7636_appendix_b() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert!(is_valid_challenge(challenge, Method::S256));
        assert!(verify(verifier, challenge, Method::S256));
        assert!(!verify(
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXl",
            challenge,
            Method::S256
        ));
        assert!(verify(verifier, verifier, Method::Plain));
    }

    #[test]
    fn verifier_form() {
        assert!(!is_valid_verifier(&"a".repeat(42)));
        assert!(is_valid_verifier(&"a".repeat(43)));
        assert!(is_valid_verifier(&"a".repeat(128)));
        assert!(!is_valid_verifier(&"a".repeat(129)));
        assert!(!is_valid_verifier(&format!("{}+", "a".repeat(43))));
        assert_eq!(Method::parse(Some("S256")), Some(Method::S256));
        assert_eq!(Method::parse(None), Some(Method::Plain));
        assert_eq!(Method::parse(Some("s256")), None);
    }
}
