//! Buckets in this replica's memory: one GCRA timestamp per key in a bounded moka cache.
//! An entry idle for longer than its bucket takes to fill is dropped, which is the same as
//! keeping a full bucket, so eviction never grants more than the limit allows.

use super::gcra::{step, Verdict};
use super::BucketKey;
use moka::sync::Cache;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Buckets are keyed by a keyed (SipHash, random per process) 64-bit digest of the borrowed
/// key, so a check allocates nothing and hashes the user or client id once. Two keys sharing a
/// digest would share one bucket (stricter, never looser); with random keys an attacker cannot
/// aim for that, and by chance it takes billions of live keys.
pub struct LocalBuckets {
    buckets: Cache<u64, Arc<AtomicU64>, PassThrough>,
    keys: RandomState,
    epoch: Instant,
    interval_us: u64,
    burst: u64,
}

/// moka hashes its keys again; ours are already uniform 64-bit digests, so pass them through.
#[derive(Clone, Default)]
struct PassThrough;

#[derive(Default)]
struct PassThroughHasher(u64);

impl BuildHasher for PassThrough {
    type Hasher = PassThroughHasher;
    fn build_hasher(&self) -> PassThroughHasher {
        PassThroughHasher(0)
    }
}

impl Hasher for PassThroughHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write_u64(&mut self, n: u64) {
        self.0 ^= n;
    }
    // Only `u64` keys reach this hasher; anything else is folded in rather than lost.
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
}

/// TAT 0 stands for "no request yet": the clock starts at 1 µs past the epoch.
const EMPTY: u64 = 0;

impl LocalBuckets {
    pub fn new(max_keys: u64, interval: Duration, burst: u32) -> LocalBuckets {
        let interval_us = (interval.as_micros() as u64).max(1);
        let fill = Duration::from_micros(interval_us.saturating_mul(u64::from(burst)));
        LocalBuckets {
            buckets: Cache::builder()
                .max_capacity(max_keys)
                .time_to_idle(fill.max(Duration::from_secs(1)))
                .build_with_hasher(PassThrough),
            keys: RandomState::new(),
            epoch: Instant::now(),
            interval_us,
            burst: u64::from(burst),
        }
    }

    pub fn check(&self, key: &BucketKey<'_>) -> Verdict {
        let digest = self.keys.hash_one(key);
        let cell = self
            .buckets
            .get_with(digest, || Arc::new(AtomicU64::new(EMPTY)));
        let now = self.epoch.elapsed().as_micros() as u64 + 1;
        // Concurrent requests on one key: retry until our read-modify-write wins.
        let mut current = cell.load(Ordering::Acquire);
        loop {
            let tat = (current != EMPTY).then_some(current);
            let (verdict, next) = step(tat, now, self.interval_us, self.burst);
            let Some(next) = next else {
                return verdict;
            };
            match cell.compare_exchange_weak(current, next, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return verdict,
                Err(seen) => current = seen,
            }
        }
    }
}
