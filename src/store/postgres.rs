//! PostgreSQL, for several Gatehouse replicas sharing one database. Same queries as SQLite
//! (store/sql/); in addition every revocation is announced with `NOTIFY` inside the revoking
//! transaction, and `RevocationFeed` listens so that each replica drops revoked tokens from
//! its cache within milliseconds. After a lost listener connection comes back, the whole cache
//! is dropped, since notifications may have been missed meanwhile.

use super::sql::{Dialect, SqlStore};
use super::{schema, StoreError, TokenHash};
use async_trait::async_trait;
use sqlx::postgres::{
    PgConnectOptions, PgConnection, PgListener, PgPool, PgPoolOptions, PgQueryResult,
};
use sqlx::{ConnectOptions, Connection, Executor, Postgres};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

/// One channel per database: replicas in other schemas hear hashes they never cached, which
/// costs a lookup and nothing else (hashes are of 256-bit random tokens).
pub const CHANNEL: &str = "gatehouse_revocations";

/// Hashes per notification: 100 × 65 bytes stays well under PostgreSQL's 8000-byte payload.
const HASHES_PER_NOTIFY: usize = 100;

pub type PostgresStore = SqlStore<Postgres>;

impl SqlStore<Postgres> {
    /// Connects, creates `schema` if given (each replica set, or each test, can have its own),
    /// and applies the PostgreSQL migrations.
    pub async fn open(
        url: &str,
        schema: Option<&str>,
        max_connections: u32,
        connect_timeout: Duration,
    ) -> Result<Self, StoreError> {
        let mut options = PgConnectOptions::from_str(url)
            .map_err(|e| StoreError::Unavailable(format!("bad PostgreSQL URL: {e}")))?
            .log_statements(log::LevelFilter::Trace);
        if let Some(schema) = schema {
            let mut conn = tokio::time::timeout(connect_timeout, options.connect())
                .await
                .map_err(|_| StoreError::Unavailable("PostgreSQL connect timed out".into()))??;
            // The name was checked to be a plain identifier when the config was loaded.
            conn.execute(format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\"").as_str())
                .await?;
            conn.close().await?;
            options = options.options([("search_path", schema)]);
        }
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(connect_timeout)
            .test_before_acquire(true)
            .connect_with(options)
            .await?;
        schema::migrator(schema::POSTGRES)
            .await
            .map_err(StoreError::Migration)?
            .run(&pool)
            .await
            .map_err(|e| StoreError::Migration(e.to_string()))?;
        Ok(SqlStore { pool, grants: None })
    }

    pub fn revocation_feed(&self) -> RevocationFeed {
        RevocationFeed {
            pool: self.pool.clone(),
        }
    }
}

impl Dialect for Postgres {
    /// Delivered to every replica's `RevocationFeed` when the transaction commits.
    async fn notify_revoked(
        conn: &mut PgConnection,
        hashes: &[TokenHash],
    ) -> Result<(), sqlx::Error> {
        for chunk in hashes.chunks(HASHES_PER_NOTIFY) {
            let payload = chunk.iter().map(hex::encode).collect::<Vec<_>>().join(",");
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(CHANNEL)
                .bind(payload)
                .execute(&mut *conn)
                .await?;
        }
        Ok(())
    }

    fn rows_affected(done: &PgQueryResult) -> u64 {
        done.rows_affected()
    }
}

/// Where the feed delivers other replicas' revocations: the token cache, which lives in `auth`
/// above the store and implements this.
#[async_trait]
pub trait RevocationSink: Send + Sync {
    /// Drops these tokens, revoked by another replica.
    async fn evict(&self, hashes: &[TokenHash]);
    /// Drops everything: revocations may have been missed while the feed was disconnected.
    fn evict_all(&self);
}

/// Listens for other replicas' revocations and evicts them from this process's cache.
pub struct RevocationFeed {
    pool: PgPool,
}

impl RevocationFeed {
    /// Every sink hears every revocation (the token cache and the session cache; hashes of
    /// 256-bit random values never collide between them).
    pub fn spawn(self, runtime: &tokio::runtime::Handle, sinks: Vec<Arc<dyn RevocationSink>>) {
        runtime.spawn(async move { self.run(sinks).await });
    }

    async fn run(self, sinks: Vec<Arc<dyn RevocationSink>>) {
        let mut backoff = Duration::from_millis(100);
        let mut connected_before = false;
        loop {
            let mut listener = match PgListener::connect_with(&self.pool).await {
                Ok(l) => l,
                Err(e) => {
                    tracing::warn!(error = %e, "revocation feed: cannot connect; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                    continue;
                }
            };
            if let Err(e) = listener.listen(CHANNEL).await {
                tracing::warn!(error = %e, "revocation feed: LISTEN failed; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
                continue;
            }
            if connected_before {
                // Revocations sent while we were away were missed: start from an empty cache.
                // (While away, cached tokens kept working: an outage must not log everyone out.)
                sinks.iter().for_each(|s| s.evict_all());
                tracing::info!("revocation feed reconnected; token cache cleared");
            }
            connected_before = true;
            backoff = Duration::from_millis(100);
            loop {
                match listener.try_recv().await {
                    Ok(Some(n)) => {
                        let hashes = parse_payload(n.payload());
                        for sink in &sinks {
                            sink.evict(&hashes).await;
                        }
                    }
                    Ok(None) => {
                        tracing::warn!("revocation feed lost its connection; reconnecting");
                        break;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "revocation feed failed; reconnecting");
                        break;
                    }
                }
            }
        }
    }
}

fn parse_payload(payload: &str) -> Vec<TokenHash> {
    payload
        .split(',')
        .filter_map(|h| hex::decode(h).ok())
        .filter_map(|b| TokenHash::try_from(b.as_slice()).ok())
        .collect()
}
