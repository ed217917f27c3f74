//! `GET /oauth/jwks.json`: the public half of every published signing key (RFC 7517 §5), for
//! whoever verifies what Gatehouse signs: JWT access tokens, ID tokens, and the identity
//! assertions upstreams receive. The authorization server lists it in its metadata; without
//! `[oauth]` the keys are still published here, because an upstream verifying assertions needs
//! them whether or not Gatehouse also issues tokens.

use crate::http::{ApiError, Auth, Contract, Endpoint, OwnResponse, Verb};
use crate::signing::KeySet;
use http::HeaderValue;
use std::sync::Arc;

pub use crate::signing::JWKS_PATH;

/// How long verifiers may keep the key set. A key is published before it signs and stays
/// published past the lifetime of what it signed, so a copy this old still verifies
/// everything current as long as rotation steps are at least this far apart.
const JWKS_MAX_AGE: &str = "public, max-age=300";

/// The key set alone, mounted when there is no authorization server to serve it.
pub struct KeysService {
    pub keys: Arc<KeySet>,
}

pub const ENDPOINTS: &[Endpoint<KeysService>] = &[Endpoint {
    verb: Verb::Get,
    path: JWKS_PATH,
    auth: Auth::Public,
    contract: Contract::Rfc6749Json,
    handler: |s, _| Box::pin(async move { response(Some(&s.keys)) }),
}];

/// The JWK set with its cache lifetime; not found without `[[tokens.signing_keys]]`.
pub fn response(keys: Option<&Arc<KeySet>>) -> Result<OwnResponse, ApiError> {
    let keys = keys.ok_or_else(|| ApiError::NotFound("no signing keys are configured".into()))?;
    Ok(OwnResponse::json(200, &keys.jwks()).with_header(
        http::header::CACHE_CONTROL,
        HeaderValue::from_static(JWKS_MAX_AGE),
    ))
}
