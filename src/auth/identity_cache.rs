//! The positive cache: valid tokens' identities by token hash, bounded and expiring, in about
//! 90 bytes an entry (issue 14: moka keeps about 330 bytes of bookkeeping per entry, more
//! than a compact identity). A plain map per shard under a mutex, with a second, older
//! generation: entries go into `young`; when `young` is full it becomes `old` and the previous
//! `old` is dropped; a hit in `old` moves the entry back to `young`. So every entry used since
//! the last turn over is kept, at most `capacity` entries are ever held, and a lookup is one
//! or two hash probes without any bookkeeping queue.
//! Also here: concurrent misses for one token wait for a single validation.

use super::{AuthError, Identity};
use crate::store::TokenHash;
use std::collections::HashMap;
use std::future::Future;
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::OnceCell;

/// The first 128 bits of a token's SHA-256: half the bytes of the whole hash in every slot
/// (issue 14), and still no two tokens meet by chance (a collision among a million entries is
/// about 2^-89) or by design (finding a token with a given prefix is a 2^128 second preimage).
/// Already uniform, so its first 8 bytes are the map's hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key([u8; 16]);

impl Key {
    pub fn of(hash: &TokenHash) -> Key {
        let mut key = [0u8; 16];
        key.copy_from_slice(&hash[..16]);
        Key(key)
    }
}

impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        let mut first = [0u8; 8];
        first.copy_from_slice(&self.0[..8]);
        state.write_u64(u64::from_le_bytes(first));
    }
}

/// Passes `Key`'s hash through: no hashing work on the hot path, and no flooding risk since
/// the key is a cryptographic hash of the token.
#[derive(Default)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

type Map = HashMap<Key, Slot, BuildHasherDefault<PassThrough>>;

/// 16 bytes, so a bucket with its key is 32.
struct Slot {
    identity: Arc<Identity>,
    /// The expiry, Unix milliseconds (the cache's ttl, never past the token's own expiry),
    /// above the byte of the validator that made the entry (`CachedValidator`): an entry
    /// never answers for another validator.
    stamp: u64,
}

impl Slot {
    fn new(identity: Arc<Identity>, expires_ms: i64, validator: u8) -> Slot {
        // 56 bits of milliseconds last two million years; before 1970 is already expired.
        let ms = expires_ms.clamp(0, (1 << 56) - 1) as u64;
        Slot {
            identity,
            stamp: ms << 8 | u64::from(validator),
        }
    }

    /// Whether `validator`'s lookup at `now_ms` may use this entry.
    fn answers(&self, validator: u8, now_ms: i64) -> bool {
        self.stamp as u8 == validator && (self.stamp >> 8) as i64 > now_ms
    }
}

#[derive(Default)]
struct Shard {
    young: Map,
    old: Map,
}

pub type Shared = Result<Arc<Identity>, AuthError>;

pub struct IdentityCache {
    shards: Box<[Mutex<Shard>]>,
    /// Entries per generation in one shard.
    generation: usize,
    /// Whether a full `young` becomes `old` (else it is cleared: capacities below 2 a shard).
    keep_old: bool,
    ttl_ms: i64,
    inflight: Mutex<HashMap<Key, Arc<OnceCell<Shared>>, BuildHasherDefault<PassThrough>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A poisoned shard only means a panic elsewhere mid-operation; maps stay consistent.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl IdentityCache {
    pub fn new(capacity: u64, ttl: std::time::Duration) -> Self {
        let capacity = usize::try_from(capacity).unwrap_or(usize::MAX);
        // Shards only where there are enough entries to spread: small caches stay exact.
        let shards = (capacity / 4096).clamp(1, 16);
        let per_shard = capacity / shards;
        let keep_old = per_shard >= 2;
        IdentityCache {
            shards: (0..shards).map(|_| Mutex::default()).collect(),
            generation: if keep_old { per_shard / 2 } else { per_shard },
            keep_old,
            ttl_ms: i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX),
            inflight: Mutex::default(),
        }
    }

    fn shard(&self, key: &Key) -> &Mutex<Shard> {
        &self.shards[usize::from(key.0[8]) % self.shards.len()]
    }

    pub fn get(&self, key: &Key, validator: u8) -> Option<Arc<Identity>> {
        let now = now_ms();
        let mut s = lock(self.shard(key));
        if let Some(slot) = s.young.get(key) {
            if slot.answers(validator, now) {
                return Some(slot.identity.clone());
            }
            s.young.remove(key);
            return None;
        }
        let slot = s.old.remove(key)?;
        if !slot.answers(validator, now) {
            return None;
        }
        let identity = slot.identity.clone();
        self.put(&mut s, *key, slot);
        Some(identity)
    }

    pub fn insert(&self, key: Key, validator: u8, identity: Arc<Identity>) {
        let until_token_expiry = identity.expires_at.saturating_mul(1000);
        let expires_ms = now_ms().saturating_add(self.ttl_ms).min(until_token_expiry);
        let slot = Slot::new(identity, expires_ms, validator);
        let dropped = {
            let mut s = lock(self.shard(&key));
            s.old.remove(&key);
            self.put(&mut s, key, slot)
        };
        // Freed outside the lock: a turn over may drop thousands of identities.
        drop(dropped);
    }

    /// Into `young`, turning the generations over first when it is full; returns what left.
    fn put(&self, s: &mut Shard, key: Key, slot: Slot) -> Option<Map> {
        let mut dropped = None;
        if self.generation == 0 {
            return None;
        }
        if s.young.len() >= self.generation && !s.young.contains_key(&key) {
            let young = std::mem::take(&mut s.young);
            dropped = Some(match self.keep_old {
                true => std::mem::replace(&mut s.old, young),
                false => young,
            });
        }
        s.young.insert(key, slot);
        dropped
    }

    pub fn invalidate(&self, key: &Key) {
        let mut s = lock(self.shard(key));
        s.young.remove(key);
        s.old.remove(key);
    }

    pub fn invalidate_all(&self) {
        for shard in self.shards.iter() {
            let taken = std::mem::take(&mut *lock(shard));
            drop(taken);
        }
    }

    pub fn entry_count(&self) -> u64 {
        self.shards
            .iter()
            .map(|s| {
                let s = lock(s);
                (s.young.len() + s.old.len()) as u64
            })
            .sum()
    }

    /// The identity for `key`, from the cache or else from `validate`, which runs once for
    /// all concurrent callers with this key. A valid result is cached before it is returned.
    pub async fn get_or_validate<F>(&self, key: Key, validator: u8, validate: F) -> Shared
    where
        F: Future<Output = Shared>,
    {
        let cell = {
            let mut inflight = lock(&self.inflight);
            // Rechecked under the in-flight lock: a validation that finished after our miss
            // cached its identity before leaving the in-flight map.
            if let Some(identity) = self.get(&key, validator) {
                return Ok(identity);
            }
            inflight.entry(key).or_default().clone()
        };
        // Leaves the in-flight map when done, or when this caller is dropped mid-validation
        // (a waiter then takes over the cell itself).
        let _leave = Leave {
            cache: self,
            key,
            cell: &cell,
        };
        let result = cell
            .get_or_init(move || async move {
                let result = validate.await;
                if let Ok(identity) = &result {
                    self.insert(key, validator, identity.clone());
                }
                result
            })
            .await;
        result.clone()
    }
}

struct Leave<'a> {
    cache: &'a IdentityCache,
    key: Key,
    cell: &'a Arc<OnceCell<Shared>>,
}

impl Drop for Leave<'_> {
    fn drop(&mut self) {
        let mut inflight = lock(&self.cache.inflight);
        if inflight
            .get(&self.key)
            .is_some_and(|c| Arc::ptr_eq(c, self.cell))
        {
            inflight.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::IdentityParts;
    use std::time::Duration;

    fn identity(expires_at: i64) -> Arc<Identity> {
        Arc::new(Identity::new(IdentityParts {
            user_id: Some("u"),
            expires_at,
            ..Default::default()
        }))
    }

    fn key(n: u32) -> Key {
        let mut h = [0u8; 32];
        h[..4].copy_from_slice(&n.to_le_bytes());
        h[8] = n as u8;
        Key::of(&h)
    }

    #[test]
    fn bounded_keeps_what_is_used_and_honours_both_expiries() {
        let far = now_ms() / 1000 + 3600;
        let c = IdentityCache::new(10, Duration::from_secs(60));
        for n in 0..100 {
            c.insert(key(n), 0, identity(far));
            // Key 0 is used all along: it survives every turn over.
            assert!(c.get(&key(0), 0).is_some(), "after {n}");
            assert!(c.entry_count() <= 10);
        }
        assert!(c.get(&key(1), 0).is_none(), "an unused entry was dropped");
        assert!(c.get(&key(99), 1).is_none(), "another validator's entry");
        c.insert(key(5), 0, identity(now_ms() / 1000 - 1));
        assert!(c.get(&key(5), 0).is_none(), "token expired");
        let short = IdentityCache::new(10, Duration::ZERO);
        short.insert(key(6), 0, identity(far));
        assert!(short.get(&key(6), 0).is_none(), "ttl passed");
        c.invalidate(&key(0));
        assert!(c.get(&key(0), 0).is_none());
        c.insert(key(7), 0, identity(far));
        c.invalidate_all();
        assert_eq!(c.entry_count(), 0);
    }

    #[tokio::test]
    async fn concurrent_misses_share_one_validation() {
        let c = Arc::new(IdentityCache::new(100, Duration::from_secs(60)));
        let runs = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let far = now_ms() / 1000 + 3600;
        let tasks: Vec<_> = (0..20)
            .map(|_| {
                let (c, runs) = (c.clone(), runs.clone());
                tokio::spawn(async move {
                    c.get_or_validate(key(1), 0, async {
                        runs.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        Ok(identity(far))
                    })
                    .await
                })
            })
            .collect();
        for t in tasks {
            assert!(t.await.unwrap().is_ok());
        }
        assert_eq!(runs.load(std::sync::atomic::Ordering::SeqCst), 1);
        assert!(lock(&c.inflight).is_empty());
        assert!(c.get(&key(1), 0).is_some());
    }
}
