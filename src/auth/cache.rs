//! The moka cache in front of a validator. Positive entries live for `cache.ttl` but never past
//! the token's own expiry; negative entries (unknown, expired, revoked) live in a separate,
//! smaller cache for `cache.negative_ttl`, so a flood of random tokens cannot evict good ones.
//! Concurrent misses for one token share a single validation (`try_get_with`).
//! The cache holds claims, never decisions: route scopes are checked by the caller every time.

use super::{AuthError, Identity, TokenChecksum, TokenValidator};
use crate::config::CacheConfig;
use crate::metrics::Metrics;
use crate::store::now_unix;
use crate::store::{RevocationSink, TokenHash};
use async_trait::async_trait;
use moka::future::Cache;
use moka::Expiry;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::Instrument;

/// The validator's id and the token's SHA-256: never the token itself, never shared across
/// validators, and derivable from a stored hash so revocations can find the entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct CacheKey {
    validator: &'static str,
    hash: TokenHash,
}

#[derive(Debug, Clone, Copy)]
enum Negative {
    Invalid,
    Expired,
}

struct UntilTokenExpiry {
    ttl: Duration,
}

impl Expiry<CacheKey, Arc<Identity>> for UntilTokenExpiry {
    fn expire_after_create(
        &self,
        _key: &CacheKey,
        value: &Arc<Identity>,
        _created_at: Instant,
    ) -> Option<Duration> {
        let remaining = (value.expires_at - now_unix()).max(0) as u64;
        Some(self.ttl.min(Duration::from_secs(remaining)))
    }
}

pub struct CachedValidator {
    inner: Arc<dyn TokenValidator>,
    positive: Cache<CacheKey, Arc<Identity>>,
    negative: Cache<CacheKey, Negative>,
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
            inner,
            positive: Cache::builder()
                .max_capacity(positive_capacity)
                .expire_after(UntilTokenExpiry { ttl: config.ttl })
                .build(),
            negative: Cache::builder()
                .max_capacity(negative_capacity)
                .time_to_live(config.negative_ttl)
                .build(),
            metrics,
            checksum,
        }
    }

    /// The same caches in front of another validator (a reloaded config's `[jwt]`): entries,
    /// and the revocations that evict them, are shared with `self`.
    pub fn with_inner(&self, inner: Arc<dyn TokenValidator>) -> Self {
        CachedValidator {
            inner,
            positive: self.positive.clone(),
            negative: self.negative.clone(),
            metrics: self.metrics.clone(),
            checksum: self.checksum.clone(),
        }
    }

    fn key(&self, token: &str) -> CacheKey {
        self.key_for_hash(super::hash_token(token))
    }

    fn key_for_hash(&self, hash: TokenHash) -> CacheKey {
        CacheKey {
            validator: self.inner.id(),
            hash,
        }
    }

    pub async fn validate(&self, token: &str) -> Result<Arc<Identity>, AuthError> {
        // Before the cache: a token without our checksum takes neither an entry nor a lookup.
        self.checksum.screen(token).map_err(AuthError::Refused)?;
        let key = self.key(token);
        if let Some(identity) = self.positive.get(&key).await {
            self.metrics.cache_hit.inc();
            // The entry may outlive the token by up to a second of rounding: check every time.
            if identity.expires_at <= now_unix() {
                self.positive.invalidate(&key).await;
                return Err(AuthError::Expired);
            }
            return Ok(identity);
        }
        if let Some(neg) = self.negative.get(&key).await {
            self.metrics.cache_negative_hit.inc();
            return Err(match neg {
                Negative::Invalid => AuthError::Invalid,
                Negative::Expired => AuthError::Expired,
            });
        }
        self.metrics.cache_miss.inc();
        let inner = self.inner.clone();
        let owned = token.to_owned();
        // An exported span only (`[tracing]`); without it the callsite is off and this is free.
        let lookup = tracing::info_span!(
            target: crate::telemetry::SPANS,
            "token.lookup",
            gatehouse.validator = self.inner.id(),
        );
        let validation = async move { inner.validate(&owned).await }.instrument(lookup);
        let result = self.positive.try_get_with(key, validation).await;
        match result {
            Ok(identity) => Ok(identity),
            Err(shared) => {
                let err = (*shared).clone();
                match err {
                    AuthError::Invalid => self.negative.insert(key, Negative::Invalid).await,
                    AuthError::Expired => self.negative.insert(key, Negative::Expired).await,
                    // An outage is not a verdict on the token: nothing is cached.
                    AuthError::Unavailable(_) => {}
                    // Refused before the cache; the validators behind it never say this.
                    AuthError::Refused(_) => {}
                }
                Err(err)
            }
        }
    }

    /// Drops every entry for this token, positive or negative.
    pub async fn invalidate(&self, token: &str) {
        self.invalidate_hash(super::hash_token(token)).await;
    }

    /// Drops the entries of a token known only by its stored hash (family or user revocation).
    pub async fn invalidate_hash(&self, hash: TokenHash) {
        let key = self.key_for_hash(hash);
        self.positive.invalidate(&key).await;
        self.negative.invalidate(&key).await;
    }

    pub fn invalidate_all(&self) {
        self.positive.invalidate_all();
        self.negative.invalidate_all();
    }

    /// Entry counts (positive, negative), after pending maintenance.
    pub async fn entry_counts(&self) -> (u64, u64) {
        self.positive.run_pending_tasks().await;
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
