//! OpenID Connect Core on the authorization server, as pure protocol code: the ID token
//! (`id_token`), the `prompt` parameter (`prompt`), the sign-in identifier (`sid`), the
//! discovery document (`discovery`) and the UserInfo claims (`userinfo`). The HTTP adapters
//! live with the other endpoints.

pub mod discovery;
pub mod id_token;
pub mod prompt;
pub mod userinfo;

use crate::store::TokenHash;
use sha2::{Digest, Sha256};

/// The scope that makes an authorization request an OpenID Connect one.
pub const OPENID: &str = "openid";

/// Longest `nonce` kept: it is stored with the request and echoed in a header-sized token.
pub const MAX_NONCE_LEN: usize = 512;

pub fn is_openid<S: AsRef<str>>(scopes: &[S]) -> bool {
    scopes.iter().any(|s| s.as_ref() == OPENID)
}

/// The `sid` of a browser session: derived from the stored hash of its cookie, so logout can
/// find it from the cookie, while the `sid` in an ID token reveals neither the cookie nor the
/// store's key.
pub fn sid_of_session(hash: &TokenHash) -> String {
    let mut h = Sha256::new();
    h.update(b"gatehouse-oidc-sid\0");
    h.update(hash);
    hex::encode(&h.finalize()[..16])
}

/// The `sid` of a sign-in that started no session (`[sessions]` not declared): its own.
pub fn new_sid() -> String {
    let hash = crate::auth::hash_token(&crate::auth::generate_token());
    hex::encode(&hash[..16])
}
