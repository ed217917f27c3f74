//! Runs store calls on the store's own tokio runtime. pingora gives each service its own
//! runtimes; database connections are bound to the runtime that opened them, so every query
//! is handed to one long-lived runtime instead of being polled from whichever worker asked.

use super::{IssuedTokens, Reissue, Renewal, Store, StoreError, StoredAccessToken, TokenHash};
use std::future::Future;
use std::sync::Arc;
use tokio::runtime::Handle;

#[derive(Clone)]
pub struct StoreHandle {
    store: Arc<dyn Store>,
    runtime: Handle,
}

impl StoreHandle {
    pub fn new(store: Arc<dyn Store>, runtime: Handle) -> Self {
        StoreHandle { store, runtime }
    }

    /// The long-lived runtime, for background work that must outlive a proxy worker (JWKS
    /// fetches, upstream health checks).
    pub fn runtime(&self) -> &Handle {
        &self.runtime
    }

    /// Runs `f` against the store on the store's runtime.
    pub async fn run<T, F, Fut>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(Arc<dyn Store>) -> Fut,
        Fut: Future<Output = Result<T, StoreError>> + Send + 'static,
    {
        let fut = f(self.store.clone());
        self.runtime
            .spawn(fut)
            .await
            .map_err(|e| StoreError::Unavailable(format!("store runtime stopped: {e}")))?
    }

    /// CPU-heavy work (password hashing) on the store runtime's blocking pool, off the
    /// proxy's event loop.
    pub async fn blocking<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        self.runtime
            .spawn_blocking(f)
            .await
            .map_err(|e| StoreError::Unavailable(format!("blocking task failed: {e}")))
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        self.run(|s| async move { s.ping().await }).await
    }

    pub async fn find_access_token(
        &self,
        hash: TokenHash,
    ) -> Result<Option<StoredAccessToken>, StoreError> {
        self.run(|s| async move { s.find_access_token(&hash).await })
            .await
    }

    pub async fn insert_access_token(
        &self,
        hash: TokenHash,
        token: StoredAccessToken,
    ) -> Result<(), StoreError> {
        self.run(|s| async move { s.insert_access_token(&hash, &token).await })
            .await
    }

    /// A grant's writes: awaited here, not on the store runtime, when they need no runtime
    /// (SQLite's grant thread), two thread switches fewer per grant; otherwise as `run`.
    async fn grant<T, F, Fut>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(Arc<dyn Store>) -> Fut,
        Fut: Future<Output = Result<T, StoreError>> + Send + 'static,
    {
        if self.store.grants_off_runtime() {
            return f(self.store.clone()).await;
        }
        self.run(f).await
    }

    /// A grant's new tokens (`grant`).
    pub async fn insert_tokens(&self, tokens: IssuedTokens) -> Result<(), StoreError> {
        self.grant(|s| async move { s.insert_tokens(&tokens).await })
            .await
    }

    /// `TokenStore::renew_refresh_token` (`grant`).
    pub async fn renew_refresh_token(
        &self,
        old: TokenHash,
        now: i64,
        reissue: Reissue,
    ) -> Result<Renewal, StoreError> {
        self.grant(|s| async move { s.renew_refresh_token(&old, now, reissue).await })
            .await
    }

    pub async fn revoke_access_token(&self, hash: TokenHash, now: i64) -> Result<bool, StoreError> {
        self.run(|s| async move { s.revoke_access_token(&hash, now).await })
            .await
    }
}
