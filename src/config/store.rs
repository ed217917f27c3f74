//! The `[store]` section: which database (SQLite file or PostgreSQL URL and schema), the pool,
//! and how often ended rows are purged.

use super::raw::RawStore;
use super::{Problems, SecretString};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq)]
pub enum StoreBackend {
    Sqlite {
        path: PathBuf,
    },
    Postgres {
        url: SecretString,
        /// Created if missing; tables live there (several deployments or tests per database).
        schema: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct StoreConfig {
    pub backend: StoreBackend,
    pub max_connections: u32,
    pub connect_timeout: Duration,
    /// How often expired tokens, codes and pending requests are deleted.
    pub purge_interval: Duration,
    /// How long ended rows are kept before deletion.
    pub purge_keep: Duration,
}

/// `None` when the URL cannot be used at all (a problem is pushed).
pub(super) fn validate_store(p: &mut Problems, raw: RawStore) -> Option<StoreConfig> {
    let url = match p.secret("store.url", raw.url.as_deref(), raw.url_file.as_deref()) {
        Ok(v) => v.map(|s| s.expose().to_string()),
        Err(e) => {
            p.push(e);
            return None;
        }
    }
    .unwrap_or_else(|| "sqlite://data/gatehouse.db".into());
    let backend = if let Some(path) = url.strip_prefix("sqlite://") {
        if path.is_empty() {
            p.push("store.url: sqlite:// needs a file path".into());
            return None;
        }
        StoreBackend::Sqlite {
            path: PathBuf::from(path),
        }
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        if let Some(s) = &raw.schema {
            let ok = s.len() <= 48
                && s.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
                && s.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
            if !ok {
                p.push(format!(
                    "store.schema: `{s}` must match [a-z_][a-z0-9_]* (at most 48 characters)"
                ));
            }
        }
        StoreBackend::Postgres {
            url: SecretString::new(url),
            schema: raw.schema.clone(),
        }
    } else {
        // Never echo the value: it may hold a password.
        p.push("store.url: unsupported scheme (use sqlite://PATH or postgres://…)".into());
        return None;
    };
    if raw.schema.is_some() && matches!(backend, StoreBackend::Sqlite { .. }) {
        p.push("store.schema: only for PostgreSQL".into());
    }
    let max_connections = raw.max_connections.unwrap_or(8);
    if max_connections == 0 {
        p.push("store.max_connections: must be at least 1".into());
    }
    let purge_interval = p.duration(
        "store.purge_interval",
        raw.purge_interval.as_deref(),
        Duration::from_secs(600),
    );
    if purge_interval < Duration::from_secs(1) {
        p.push("store.purge_interval: at least 1s".into());
    }
    Some(StoreConfig {
        backend,
        max_connections,
        connect_timeout: p.duration(
            "store.connect_timeout",
            raw.connect_timeout.as_deref(),
            Duration::from_secs(5),
        ),
        purge_interval,
        purge_keep: p.duration(
            "store.purge_keep",
            raw.purge_keep.as_deref(),
            Duration::from_secs(3600),
        ),
    })
}
