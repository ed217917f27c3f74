//! Throttle keys recently read from the store as not banned, so that a right client secret is
//! answered without a store read. The store alone decides bans; this only remembers "no ban"
//! for at most `TTL`, and forgets every such answer at once when this process sees a ban begin.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// How long a key read as not banned is believed. Bans begun in this process void the
/// remembered answers at once; one begun by another replica (PostgreSQL) applies here after
/// at most this long.
pub const TTL: Duration = Duration::from_secs(1);

/// Keys remembered at most: one per (client, address) and per address in use; a flood of
/// addresses only evicts entries, which then cost a store read again.
const CAPACITY: u64 = 100_000;

pub struct Clearances {
    /// Key → the epoch in which it was read as not banned.
    seen: moka::sync::Cache<String, u64>,
    /// Advanced whenever a ban may have begun: answers read in an older epoch no longer count.
    epoch: AtomicU64,
}

impl Default for Clearances {
    fn default() -> Self {
        Clearances {
            seen: moka::sync::Cache::builder()
                .max_capacity(CAPACITY)
                .time_to_live(TTL)
                .build(),
            epoch: AtomicU64::new(0),
        }
    }
}

impl Clearances {
    /// The epoch to record with a store read that starts now. Taken before the read: a ban
    /// that begins during the read advances the epoch, so the read's answer never counts.
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::SeqCst)
    }

    /// Whether every key was read as not banned since the last possible start of a ban.
    pub fn all_clear(&self, keys: &[String]) -> bool {
        let epoch = self.epoch();
        keys.iter().all(|k| self.seen.get(k) == Some(epoch))
    }

    /// The store said none of `keys` is banned, in a read that began in `epoch`.
    pub fn record(&self, keys: Vec<String>, epoch: u64) {
        for key in keys {
            self.seen.insert(key, epoch);
        }
    }

    /// A ban may have begun (or a count failed halfway): nothing remembered counts any more.
    /// Called after the store write, so later reads see the ban.
    pub fn void(&self) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_possible_ban_voids_every_clearance() {
        let c = Clearances::default();
        let keys = vec!["client:a@192.0.2.1".to_string(), "ip:192.0.2.1".to_string()];
        assert!(!c.all_clear(&keys));
        c.record(keys.clone(), c.epoch());
        assert!(c.all_clear(&keys));
        assert!(!c.all_clear(&["ip:192.0.2.2".to_string()]));
        c.void();
        assert!(!c.all_clear(&keys));
    }

    #[test]
    fn a_read_overtaken_by_a_ban_is_not_remembered() {
        let c = Clearances::default();
        let keys = vec!["ip:192.0.2.1".to_string()];
        let read_began = c.epoch();
        // A ban begins (and voids) while the read is on its way back from the store.
        c.void();
        c.record(keys.clone(), read_began);
        assert!(!c.all_clear(&keys));
    }
}
