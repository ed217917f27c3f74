//! The moka cache in front of a validator. Positive entries live for `cache.ttl` but never past
//! the token's own expiry; negative entries (unknown, expired, revoked) live in a separate,
//! smaller cache for `cache.negative_ttl`, so a flood of random tokens cannot evict good ones.
//! Concurrent misses for one token share a single validation. Positive entries are kept
//! compact (`identity_cache`); negatives stay in moka, bounded to a tenth of the entries.
//! The cache holds claims, never decisions: route scopes are checked by the caller every time.

use super::identity_cache::{IdentityCache, Key};
use super::{AuthError, Identity, TokenChecksum, TokenValidator};
use crate::config::CacheConfig;
use crate::metrics::Metrics;
use crate::store::{RevocationSink, TokenHash};
use async_trait::async_trait;
use moka::future::Cache;
use std::sync::{Arc, Mutex};
use tracing::Instrument;

#[derive(Debug, Clone, Copy)]
enum Negative {
    Invalid,
    Expired,
}

/// A small number for each validator id (`TokenValidator::id`), so entries carry one byte,
/// not the id, to say which validator made them.
fn validator_tag(id: &'static str) -> u8 {
    static IDS: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());
    let mut ids = IDS.lock().unwrap_or_else(|e| e.into_inner());
    let at = match ids.iter().position(|i| *i == id) {
        Some(at) => at,
        None => {
            ids.push(id);
            ids.len() - 1
        }
    };
    u8::try_from(at).unwrap_or(u8::MAX)
}

pub struct CachedValidator {
    inner: Arc<dyn TokenValidator>,
    /// `inner`'s id, as entries carry it.
    tag: u8,
    positive: Arc<IdentityCache>,
    /// Keyed by the validator's id and the token hash (positive entries: its first half).
    negative: Cache<(u8, TokenHash), Negative>,
    metrics: Arc<Metrics>,
    checksum: Arc<TokenChecksum>,
}

impl CachedValidator {
    pub fn new(
        inner: Arc<dyn TokenValidator>,
        config: &CacheConfig,
        metrics: Arc<Metrics>,
        checksum: Arc<TokenChecksum>,
    ) -> Self {
        // Both caches together stay within max_entries; negatives get a tenth.
        let negative_capacity = (config.max_entries / 10).max(1);
        let positive_capacity = config.max_entries - negative_capacity;
        CachedValidator {
            tag: validator_tag(inner.id()),
            inner,
            positive: Arc::new(IdentityCache::new(positive_capacity, config.ttl)),
            negative: Cache::builder()
                .max_capacity(negative_capacity)
                .time_to_live(config.negative_ttl)
                .build(),
            metrics,
            checksum,
        }
    }

    /// The same caches in front of another validator (a reloaded config's `[[jwt.issuers]]`):
    /// entries, and the revocations that evict them, are shared with `self`.
    pub fn with_inner(&self, inner: Arc<dyn TokenValidator>) -> Self {
        CachedValidator {
            tag: validator_tag(inner.id()),
            inner,
            positive: self.positive.clone(),
            negative: self.negative.clone(),
            metrics: self.metrics.clone(),
            checksum: self.checksum.clone(),
        }
    }

    pub async fn validate(&self, token: &str) -> Result<Arc<Identity>, AuthError> {
        let hash = super::hash_token(token);
        let key = Key::of(&hash);
        // An entry never outlives its token (`IdentityCache::get` checks, to the millisecond).
        // A hit needs no checksum screen: only screened tokens get entries, the key is the
        // token's SHA-256 (its first 128 bits: finding another token with the same ones is
        // 2^128 work), and the checksum keys are the process's for its lifetime (reloads share
        // them, `with_inner`), so a hit is a token that passed. That keeps the HMAC off the
        // path nearly every request takes.
        if let Some(identity) = self.positive.get(&key, self.tag) {
            self.metrics.cache_hit.inc();
            return Ok(identity);
        }
        // Before the rest of the cache and the store: a token without our checksum takes
        // neither an entry nor a lookup.
        self.checksum.screen(token).map_err(AuthError::Refused)?;
        if let Some(neg) = self.negative.get(&(self.tag, hash)).await {
            self.metrics.cache_negative_hit.inc();
            return Err(match neg {
                Negative::Invalid => AuthError::Invalid,
                Negative::Expired => AuthError::Expired,
            });
        }
        self.metrics.cache_miss.inc();
        // An exported span only (`[tracing]`); without it the callsite is off and this is free.
        let lookup = tracing::info_span!(
            target: crate::telemetry::SPANS,
            "token.lookup",
            gatehouse.validator = self.inner.id(),
        );
        let validation = self.inner.validate(token).instrument(lookup);
        let result = self
            .positive
            .get_or_validate(key, self.tag, validation)
            .await;
        if let Err(err) = &result {
            let negative = match err {
                AuthError::Invalid => Some(Negative::Invalid),
                AuthError::Expired => Some(Negative::Expired),
                // An outage is not a verdict on the token: nothing is cached.
                AuthError::Unavailable(_) => None,
                // Refused before the cache; the validators behind it never say this.
                AuthError::Refused(_) => None,
            };
            if let Some(n) = negative {
                self.negative.insert((self.tag, hash), n).await;
            }
        }
        result
    }

    /// Drops every entry for this token, positive or negative.
    pub async fn invalidate(&self, token: &str) {
        self.invalidate_hash(super::hash_token(token)).await;
    }

    /// Drops the entries of a token known only by its stored hash (family or user revocation).
    pub async fn invalidate_hash(&self, hash: TokenHash) {
        self.positive.invalidate(&Key::of(&hash));
        self.negative.invalidate(&(self.tag, hash)).await;
    }

    pub fn invalidate_all(&self) {
        self.positive.invalidate_all();
        self.negative.invalidate_all();
    }

    /// Entry counts (positive, negative), after pending maintenance.
    pub async fn entry_counts(&self) -> (u64, u64) {
        self.negative.run_pending_tasks().await;
        (self.positive.entry_count(), self.negative.entry_count())
    }
}

/// Other replicas' revocations, heard by the store's `RevocationFeed`, leave this cache.
#[async_trait]
impl RevocationSink for CachedValidator {
    async fn evict(&self, hashes: &[TokenHash]) {
        for hash in hashes {
            self.invalidate_hash(*hash).await;
        }
    }

    fn evict_all(&self) {
        self.invalidate_all();
    }
}
