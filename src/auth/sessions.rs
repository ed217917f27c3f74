//! Browser sessions: opaque 256-bit tokens in a cookie, stored as their SHA-256 like access
//! tokens and cached like them (moka, positive and negative caches apart, single-flight
//! misses, outages never cached). A session ends at its absolute lifetime, after
//! `sessions.idle_ttl` unused, or when revoked. The last use is written to the store at most
//! once per touch interval, so a busy session costs no write per request.

use super::{generate_token, hash_token, AuthError, Identity};
use crate::config::{CacheConfig, SessionsConfig};
use crate::metrics::Metrics;
use crate::store::{
    now_unix, RevocationSink, StoreError, StoreHandle, StoredAccessToken, StoredSession, TokenHash,
    User,
};
use async_trait::async_trait;
use moka::future::Cache;
use moka::Expiry;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Cache key space of sessions: never shared with access tokens, whose cache is another one.
struct CachedSession {
    identity: Arc<Identity>,
    expires_at: i64,
    /// The last use this process wrote (or is writing) to the store.
    last_seen: AtomicI64,
}

struct UntilSessionEnds {
    ttl: Duration,
    idle: i64,
}

impl Expiry<TokenHash, Arc<CachedSession>> for UntilSessionEnds {
    fn expire_after_create(
        &self,
        _key: &TokenHash,
        value: &Arc<CachedSession>,
        _created_at: Instant,
    ) -> Option<Duration> {
        let now = now_unix();
        let idle_end = value.last_seen.load(Ordering::Relaxed) + self.idle;
        let remaining = (value.expires_at.min(idle_end) - now).max(0) as u64;
        Some(self.ttl.min(Duration::from_secs(remaining)))
    }
}

pub struct Sessions {
    store: StoreHandle,
    config: SessionsConfig,
    positive: Cache<TokenHash, Arc<CachedSession>>,
    negative: Cache<TokenHash, AuthError>,
    metrics: Arc<Metrics>,
}

/// Sessions are `generate_token` output: anything else is refused without a store lookup.
fn well_formed(token: &str) -> bool {
    token.len() == 43
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl Sessions {
    pub fn new(
        store: StoreHandle,
        config: SessionsConfig,
        cache: &CacheConfig,
        metrics: Arc<Metrics>,
    ) -> Self {
        let negative_capacity = (cache.max_entries / 10).max(1);
        Sessions {
            positive: Cache::builder()
                .max_capacity(cache.max_entries - negative_capacity)
                .expire_after(UntilSessionEnds {
                    ttl: cache.ttl,
                    idle: config.idle_ttl.as_secs() as i64,
                })
                .build(),
            negative: Cache::builder()
                .max_capacity(negative_capacity)
                .time_to_live(cache.negative_ttl)
                .build(),
            store,
            config,
            metrics,
        }
    }

    pub fn config(&self) -> &SessionsConfig {
        &self.config
    }

    /// The user the session cookie's value speaks for.
    pub async fn validate(&self, token: &str) -> Result<Arc<Identity>, AuthError> {
        if !well_formed(token) {
            return Err(AuthError::Invalid);
        }
        let hash = hash_token(token);
        let now = now_unix();
        let idle = self.config.idle_ttl.as_secs() as i64;
        if let Some(entry) = self.positive.get(&hash).await {
            self.metrics.cache_hit.inc();
            if entry.expires_at <= now {
                self.positive.invalidate(&hash).await;
                return Err(AuthError::Expired);
            }
            if now - entry.last_seen.load(Ordering::Relaxed) < idle {
                self.touch(hash, &entry, now).await;
                return Ok(entry.identity.clone());
            }
            // Idle here, but another replica may have seen it since: the store decides.
            self.positive.invalidate(&hash).await;
        } else if let Some(refusal) = self.negative.get(&hash).await {
            self.metrics.cache_negative_hit.inc();
            return Err(refusal);
        }
        self.metrics.cache_miss.inc();
        let store = self.store.clone();
        let metrics = self.metrics.clone();
        let loaded = self
            .positive
            .try_get_with(hash, async move {
                metrics.token_store_lookups.inc();
                let found = store
                    .run(move |s| async move { s.find_session(&hash).await })
                    .await
                    .map_err(|e| AuthError::Unavailable(e.to_string()))?;
                match found {
                    None => Err(AuthError::Invalid),
                    Some(s) if s.revoked => Err(AuthError::Invalid),
                    Some(s) if s.expires_at <= now || now - s.last_seen_at >= idle => {
                        Err(AuthError::Expired)
                    }
                    Some(s) => Ok(Arc::new(cached(&s))),
                }
            })
            .await;
        match loaded {
            Ok(entry) => {
                self.touch(hash, &entry, now).await;
                Ok(entry.identity.clone())
            }
            Err(shared) => {
                let err = (*shared).clone();
                if !matches!(err, AuthError::Unavailable(_)) {
                    self.negative.insert(hash, err.clone()).await;
                }
                Err(err)
            }
        }
    }

    /// Writes the use to the store once per touch interval; one request per interval does it.
    async fn touch(&self, hash: TokenHash, entry: &CachedSession, now: i64) {
        let interval = self.config.touch_interval().as_secs() as i64;
        let seen = entry.last_seen.load(Ordering::Relaxed);
        if now - seen < interval
            || entry
                .last_seen
                .compare_exchange(seen, now, Ordering::AcqRel, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        let written = self
            .store
            .run(move |s| async move { s.touch_session(&hash, now).await })
            .await;
        if let Err(e) = written {
            // The session stays valid; its idle clock just was not pushed back in the store.
            tracing::warn!(error = %e, "could not record a session's last use");
        }
    }

    /// Signs `user` in: a new session, and the one the browser came with (`replaces`, the
    /// cookie's value) revoked with it. Returns the new cookie value, the only time it exists
    /// in clear.
    pub async fn create(&self, user: &User, replaces: Option<&str>) -> Result<String, StoreError> {
        let token = generate_token();
        let now = now_unix();
        let stored = StoredSession {
            user_id: user.id.to_string(),
            user_name: user.username.clone(),
            groups: user.groups.clone(),
            created_at: now,
            expires_at: now.saturating_add(self.config.ttl.as_secs() as i64),
            last_seen_at: now,
            revoked: false,
        };
        let hash = hash_token(&token);
        let old = replaces.filter(|t| well_formed(t)).map(hash_token);
        self.store
            .run(move |s| async move { s.insert_session(&hash, &stored, old.as_ref()).await })
            .await?;
        if let Some(old) = old {
            self.forget(old).await;
        }
        self.metrics.token_issued("session");
        Ok(token)
    }

    /// Ends the session in the store and in this process's cache at once.
    pub async fn revoke(&self, token: &str) -> Result<bool, StoreError> {
        if !well_formed(token) {
            return Ok(false);
        }
        let hash = hash_token(token);
        let now = now_unix();
        let found = self
            .store
            .run(move |s| async move { s.revoke_session(&hash, now).await })
            .await?;
        self.forget(hash).await;
        Ok(found)
    }

    pub async fn forget(&self, hash: TokenHash) {
        self.positive.invalidate(&hash).await;
        self.negative.invalidate(&hash).await;
    }
}

fn cached(s: &StoredSession) -> CachedSession {
    let as_token = StoredAccessToken {
        user_id: Some(s.user_id.clone()),
        user_name: Some(s.user_name.clone()),
        client_id: None,
        scopes: String::new(),
        admin: false,
        created_at: s.created_at,
        expires_at: s.expires_at,
        revoked: false,
        family_id: None,
        groups: s.groups.clone(),
    };
    CachedSession {
        identity: Arc::new(Identity::from_stored(&as_token)),
        expires_at: s.expires_at,
        last_seen: AtomicI64::new(s.last_seen_at),
    }
}

/// Other replicas' revocations (logout, sign-in rotation, user deletion) leave this cache.
#[async_trait]
impl RevocationSink for Sessions {
    async fn evict(&self, hashes: &[TokenHash]) {
        for hash in hashes {
            self.forget(*hash).await;
        }
    }

    fn evict_all(&self) {
        self.positive.invalidate_all();
        self.negative.invalidate_all();
    }
}

#[cfg(test)]
mod tests {
    use super::well_formed;

    #[test]
    fn only_generated_tokens_are_looked_up() {
        assert!(well_formed(&super::generate_token()));
        let (long, padded) = ("a".repeat(44), format!("{}=", "a".repeat(42)));
        for bad in ["", "short", long.as_str(), padded.as_str()] {
            assert!(!well_formed(bad), "{bad}");
        }
    }
}
