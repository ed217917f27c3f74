//! Values many cached identities share (client ids, scope sets, issuers, claim sets), kept
//! once: 100,000 tokens of one client with one scope set hold one copy of each, and their
//! header values are built once, when the value is first seen.
//! The tables hold weak references, so a value no identity uses any more is dropped, and its
//! slot pruned when the table has doubled since the last prune.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex, Weak};

pub struct Interner<K, V> {
    table: Mutex<Table<K, V>>,
}

struct Table<K, V> {
    map: HashMap<K, Weak<V>>,
    prune_at: usize,
}

/// Below this many distinct values the table is never pruned.
const MIN_PRUNE: usize = 1024;

impl<K: Eq + Hash, V> Interner<K, V> {
    pub fn new() -> Self {
        Interner {
            table: Mutex::new(Table {
                map: HashMap::new(),
                prune_at: MIN_PRUNE,
            }),
        }
    }

    /// The shared value for `key`, made by `make` when no live one exists. Called when an
    /// identity is built (a cache miss), never on a hit.
    pub fn get<Q>(&self, key: &Q, to_key: impl FnOnce() -> K, make: impl FnOnce() -> V) -> Arc<V>
    where
        K: Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        // A poisoned table only means another thread panicked mid-insert: the map is intact.
        let mut t = self.table.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(live) = t.map.get(key).and_then(Weak::upgrade) {
            return live;
        }
        let value = Arc::new(make());
        if t.map.len() >= t.prune_at {
            t.map.retain(|_, v| v.strong_count() > 0);
            t.prune_at = (t.map.len() * 2).max(MIN_PRUNE);
        }
        t.map.insert(to_key(), Arc::downgrade(&value));
        value
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.table.lock().map(|t| t.map.len()).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_values_share_one_copy_and_dead_ones_are_pruned() {
        let i: Interner<String, String> = Interner::new();
        let a = i.get("x", || "x".into(), || "x".into());
        let b = i.get("x", || "x".into(), || "other".into());
        assert!(Arc::ptr_eq(&a, &b));
        drop((a, b));
        let kept: Vec<_> = (0..MIN_PRUNE + 1)
            .map(|n| i.get(n.to_string().as_str(), || n.to_string(), || n.to_string()))
            .collect();
        // The dead "x" went in the prune the table's growth triggered.
        assert_eq!(i.len(), MIN_PRUNE + 1);
        assert_eq!(kept.len(), MIN_PRUNE + 1);
    }
}
