//! The OpenID Provider metadata (OpenID Connect Discovery 1.0 §3): the RFC 8414 document
//! plus what OpenID Connect adds. Served only with signing keys: without them no ID token
//! can be signed.

use super::userinfo::SCOPE_CLAIMS;
use super::OPENID;
use crate::signing::KeySet;
use serde_json::{json, Value};
use std::collections::BTreeSet;

pub const PATH: &str = "/.well-known/openid-configuration";
pub const USERINFO_PATH: &str = "/oauth/userinfo";
pub const LOGOUT_PATH: &str = "/oauth/logout";

/// Every claim an ID token or the UserInfo response may carry.
const ID_TOKEN_CLAIMS: &[&str] = &[
    "iss",
    "sub",
    "aud",
    "azp",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "at_hash",
    "sid",
    "jti",
];

/// `base` is the RFC 8414 document (issuer, endpoints, grants, scopes, PKCE methods).
pub fn document(mut base: Value, keys: &KeySet) -> Value {
    let issuer = keys.issuer.as_str();
    let algs: BTreeSet<&str> = keys.keys().iter().map(|k| k.algorithm.name()).collect();
    let mut scopes: BTreeSet<String> = base["scopes_supported"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    scopes.insert(OPENID.to_string());
    scopes.extend(SCOPE_CLAIMS.iter().map(|(s, _)| s.to_string()));
    let claims: BTreeSet<&str> = ID_TOKEN_CLAIMS
        .iter()
        .copied()
        .chain(SCOPE_CLAIMS.iter().flat_map(|(_, c)| c.iter().copied()))
        .collect();
    let extra = json!({
        "userinfo_endpoint": format!("{issuer}{USERINFO_PATH}"),
        "end_session_endpoint": format!("{issuer}{LOGOUT_PATH}"),
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": algs,
        "scopes_supported": scopes,
        "claims_supported": claims,
        "claims_parameter_supported": false,
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
        "prompt_values_supported": ["none", "login", "consent", "select_account"],
    });
    if let (Value::Object(doc), Value::Object(more)) = (&mut base, extra) {
        doc.extend(more);
    }
    base
}
