//! `[[tokens.signing_keys]]` (the keys Gatehouse signs its JWTs with) and `[assertion]` (the
//! signed identity assertion sent to upstreams). Each key file is read and checked against its
//! algorithm here, once; a problem names the key's path.

use super::raw::OneOf;
use super::{Problems, TokenFormat};
use crate::signing::{KeyAlgorithm, KeyPair, KeySet};
use http::HeaderName;
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyStatus {
    /// Signs, and is published.
    Active,
    /// Published (verifies), signs nothing: the key about to become active, or the one just
    /// retired while tokens it signed live on.
    Published,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSigningKey {
    pub kid: String,
    pub algorithm: OneOf<KeyAlgorithm>,
    pub private_key_file: String,
    pub status: OneOf<KeyStatus>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAssertion {
    pub enabled: Option<bool>,
    pub header: Option<String>,
    pub ttl: Option<String>,
    pub all_routes: Option<bool>,
}

/// `[assertion]`: when on, routes that ask for it (or all upstream routes with `all_routes`)
/// get a short-lived JWT about the caller, signed with the active key.
#[derive(Debug, Clone)]
pub struct AssertionConfig {
    pub header: HeaderName,
    /// At most 60 s.
    pub ttl: Duration,
    pub all_routes: bool,
    pub keys: Arc<KeySet>,
}

/// The header name used when `[assertion]` does not set one; stripped from client requests
/// even when assertions are off.
pub const DEFAULT_ASSERTION_HEADER: &str = "x-gatehouse-assertion";

/// The key set, when keys are listed. `issuer` is `server.public_url` (`None` when that is
/// already a problem).
pub(super) fn validate_signing_keys(
    p: &mut Problems,
    raw: Option<Vec<RawSigningKey>>,
    format: TokenFormat,
    issuer: Option<&str>,
) -> Option<Arc<KeySet>> {
    let raw = raw.unwrap_or_default();
    if raw.is_empty() {
        if format == TokenFormat::Jwt {
            p.push("tokens.signing_keys: `format = \"jwt\"` needs at least one key (status = \"active\"); generate one with `gatehouse keys generate --algorithm ed25519 --out FILE`".into());
        }
        return None;
    }
    let mut keys = Vec::new();
    let mut active = Vec::new();
    let mut ok = true;
    for (i, r) in raw.into_iter().enumerate() {
        let key = format!("tokens.signing_keys[{i}]");
        if r.kid.is_empty() || r.kid.chars().any(|c| c.is_control() || c == '"') {
            p.push(format!(
                "{key}.kid: must be non-empty, without quotes or control characters"
            ));
            ok = false;
        }
        if keys.iter().any(|k: &KeyPair| k.kid == r.kid) {
            p.push(format!("{key}.kid: `{}` is listed twice", r.kid));
            ok = false;
        }
        let algorithm = match r.algorithm {
            OneOf::Known(a) => a,
            OneOf::Unknown(other) => {
                p.push(format!(
                    "{key}.algorithm: `{other}` (use EdDSA, ES256 or RS256)"
                ));
                ok = false;
                continue;
            }
        };
        match r.status {
            OneOf::Known(KeyStatus::Active) => active.push(keys.len()),
            OneOf::Known(KeyStatus::Published) => {}
            OneOf::Unknown(other) => {
                p.push(format!("{key}.status: `{other}` (use active or published)"));
                ok = false;
            }
        }
        let path = &r.private_key_file;
        let pem = match p.read_file(path) {
            Ok(pem) => pem,
            Err(e) => {
                p.push(format!("{key}.private_key_file: cannot read `{path}`: {e}"));
                ok = false;
                continue;
            }
        };
        match KeyPair::from_pem(&r.kid, algorithm, &pem) {
            Ok(pair) => keys.push(pair),
            Err(e) => {
                p.push(format!(
                    "{key}.private_key_file: `{path}` is not a usable {} key: {e}",
                    algorithm.name()
                ));
                ok = false;
            }
        }
    }
    if active.len() != 1 {
        p.push(format!(
            "tokens.signing_keys: exactly one key must have status = \"active\" ({} do)",
            active.len()
        ));
        return None;
    }
    let (true, Some(issuer)) = (ok, issuer) else {
        return None;
    };
    KeySet::new(keys, active[0], issuer.trim_end_matches('/').to_string()).map(Arc::new)
}

pub(super) fn validate_assertion(
    p: &mut Problems,
    raw: Option<RawAssertion>,
    keys: Option<&Arc<KeySet>>,
    has_signing_keys: bool,
) -> Option<AssertionConfig> {
    let raw = raw?;
    let header_text = raw.header.as_deref().unwrap_or(DEFAULT_ASSERTION_HEADER);
    let header = match HeaderName::from_bytes(header_text.as_bytes()) {
        Ok(h) => Some(h),
        Err(_) => {
            p.push(format!(
                "assertion.header: `{header_text}` is not a header name"
            ));
            None
        }
    };
    let ttl = p.duration("assertion.ttl", raw.ttl.as_deref(), Duration::from_secs(60));
    if ttl > Duration::from_secs(60) || ttl < Duration::from_secs(2) {
        p.push("assertion.ttl: between 2s and 60s (an assertion is proof of one request, not a session)".into());
    }
    if !raw.enabled.unwrap_or(true) {
        return None;
    }
    if !has_signing_keys {
        p.push("assertion: needs [[tokens.signing_keys]] with one active key to sign with".into());
    }
    Some(AssertionConfig {
        header: header?,
        ttl,
        all_routes: raw.all_routes.unwrap_or(false),
        keys: keys?.clone(),
    })
}
