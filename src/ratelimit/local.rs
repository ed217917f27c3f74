//! Buckets in this replica's memory: one GCRA timestamp per key in a bounded moka cache.
//! An entry idle for longer than its bucket takes to fill is dropped, which is the same as
//! keeping a full bucket, so eviction never grants more than the limit allows.

use super::gcra::{step, Verdict};
use super::BucketKey;
use moka::sync::Cache;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A bucket key owned by the cache (borrowed `BucketKey` values are copied in once per check).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum OwnedKey {
    Route(usize),
    Address(std::net::IpAddr),
    User(Box<str>),
    Client(Box<str>),
    Unknown,
}

pub struct LocalBuckets {
    buckets: Cache<OwnedKey, Arc<AtomicU64>>,
    epoch: Instant,
    interval_us: u64,
    burst: u64,
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
                .build(),
            epoch: Instant::now(),
            interval_us,
            burst: u64::from(burst),
        }
    }

    pub fn check(&self, key: &BucketKey<'_>) -> Verdict {
        let owned = match *key {
            BucketKey::Route(i) => OwnedKey::Route(i),
            BucketKey::Address(a) => OwnedKey::Address(a),
            BucketKey::User(u) => OwnedKey::User(u.into()),
            BucketKey::Client(c) => OwnedKey::Client(c.into()),
            BucketKey::Unknown => OwnedKey::Unknown,
        };
        let cell = self
            .buckets
            .get_with(owned, || Arc::new(AtomicU64::new(EMPTY)));
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
