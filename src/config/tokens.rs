//! The `[tokens]` section (format, lifetimes, accepted locations, realm, checksum keys) and
//! `[cache]`, the validation cache whose lifetimes bound how long a revoked token may still pass.

use super::raw::{LegacyLocation, OneOf, RawCache, RawTokens};
use super::secret::parse_key;
use super::Problems;
use serde::Deserialize;
use std::fmt;
use std::time::Duration;

/// A 256-bit key of the token checksum (HMAC-SHA256); `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct ChecksumKey(pub [u8; 32]);

impl fmt::Debug for ChecksumKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ChecksumKey(***)")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenFormat {
    Opaque,
    /// RFC 9068 JWTs signed with the active `tokens.signing_keys` entry.
    Jwt,
}

#[derive(Debug, Clone)]
pub struct TokensConfig {
    pub format: TokenFormat,
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
    /// `Authorization: OAuth <t>` (the seed clients' header form).
    pub legacy_oauth_header: bool,
    /// `?oauth_token=` in the query string (the seed clients' query form).
    pub legacy_query_param: bool,
    pub realm: String,
    /// Signs the checksum of every token minted. `None`: the key the store keeps (generated
    /// by the first start), so restarts and replicas sharing the database agree on it.
    pub checksum_key: Option<ChecksumKey>,
    /// Earlier keys: tokens under them are still accepted, never minted.
    pub previous_checksum_keys: Vec<ChecksumKey>,
    /// Tokens without the `gth1_` structure (issued before it, the seed clients' tokens) are
    /// looked up in the store; when false they are refused without a lookup.
    pub accept_unstructured: bool,
    /// `[[tokens.signing_keys]]`: sign JWT access tokens (`format = "jwt"`) and assertions,
    /// and verify the JWTs Gatehouse signed. Set by `config::validate` once the issuer is known.
    pub signing: Option<std::sync::Arc<crate::signing::KeySet>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CacheConfig {
    pub max_entries: u64,
    pub ttl: Duration,
    pub negative_ttl: Duration,
}

pub(super) fn validate_tokens(
    p: &mut Problems,
    mut raw: RawTokens,
    issuer: Option<&str>,
) -> TokensConfig {
    let signing_keys = raw.signing_keys.take();
    let format = p.choice(raw.format, TokenFormat::Opaque, |other| {
        format!("tokens.format: `{other}` is not supported (use opaque or jwt)")
    });
    let mut legacy_oauth_header = false;
    let mut legacy_query_param = false;
    for (i, loc) in raw
        .legacy_locations
        .unwrap_or_default()
        .into_iter()
        .enumerate()
    {
        match loc {
            OneOf::Known(LegacyLocation::OAuthHeader) => legacy_oauth_header = true,
            OneOf::Known(LegacyLocation::QueryParam) => legacy_query_param = true,
            OneOf::Unknown(other) => p.push(format!(
                "tokens.legacy_locations[{i}]: `{other}` (use oauth_header or query:oauth_token)"
            )),
        }
    }
    let realm = raw.realm.unwrap_or_else(|| "gatehouse".into());
    if realm.contains(['"', '\\']) || realm.chars().any(|c| c.is_control()) {
        p.push("tokens.realm: must not contain quotes, backslashes or control characters".into());
    }
    let checksum_key = match p.secret(
        "tokens.checksum_key",
        raw.checksum_key.as_deref(),
        raw.checksum_key_file.as_deref(),
    ) {
        Ok(Some(text)) => parse_checksum_key(p, "tokens.checksum_key", text.expose()),
        Ok(None) => None,
        Err(e) => {
            p.push(e);
            None
        }
    };
    let mut previous_checksum_keys = Vec::new();
    for (i, text) in raw
        .previous_checksum_keys
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        let key = format!("tokens.previous_checksum_keys[{i}]");
        match p.secret(&key, Some(text.as_str()), None) {
            Ok(Some(value)) => {
                previous_checksum_keys.extend(parse_checksum_key(p, &key, value.expose()))
            }
            Ok(None) => {}
            Err(e) => p.push(e),
        }
    }
    let signing = super::signing::validate_signing_keys(p, signing_keys, format, issuer);
    TokensConfig {
        format,
        access_ttl: p.duration(
            "tokens.access_ttl",
            raw.access_ttl.as_deref(),
            Duration::from_secs(7200),
        ),
        refresh_ttl: p.duration(
            "tokens.refresh_ttl",
            raw.refresh_ttl.as_deref(),
            Duration::from_secs(30 * 86_400),
        ),
        legacy_oauth_header,
        legacy_query_param,
        realm,
        checksum_key,
        previous_checksum_keys,
        accept_unstructured: raw.accept_unstructured.unwrap_or(true),
        signing,
    }
}

fn parse_checksum_key(p: &mut Problems, key: &str, text: &str) -> Option<ChecksumKey> {
    let parsed = parse_key(text).map(ChecksumKey);
    if parsed.is_none() {
        p.push(format!(
            "{key}: must be 32 bytes, base64 or 64 hex digits (e.g. `openssl rand -base64 32`)"
        ));
    }
    parsed
}
pub(super) fn validate_cache(p: &mut Problems, raw: RawCache) -> CacheConfig {
    let cache = CacheConfig {
        max_entries: raw.max_entries.unwrap_or(100_000),
        ttl: p.duration("cache.ttl", raw.ttl.as_deref(), Duration::from_secs(30)),
        negative_ttl: p.duration(
            "cache.negative_ttl",
            raw.negative_ttl.as_deref(),
            Duration::from_secs(5),
        ),
    };
    if cache.max_entries < 10 {
        p.push("cache.max_entries: must be at least 10".into());
    }
    if cache.ttl > Duration::from_secs(300) {
        // The TTL is the revocation budget for replicas that did not see the revocation.
        p.push(
            "cache.ttl: at most 300s (it bounds how long a revoked token may still pass)".into(),
        );
    }
    if cache.negative_ttl > Duration::from_secs(5) {
        p.push("cache.negative_ttl: at most 5s (a new token must start working quickly)".into());
    }
    cache
}
