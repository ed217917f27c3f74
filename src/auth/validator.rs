//! The `TokenValidator` seam and its first implementation: opaque tokens looked up by hash in
//! the store.

use super::{hash_token, AuthError, Identity};
use crate::metrics::Metrics;
use crate::store::{now_unix, StoreHandle};
use async_trait::async_trait;
use std::sync::Arc;

#[async_trait]
pub trait TokenValidator: Send + Sync + 'static {
    /// Distinguishes validators inside the shared cache key space, so an entry made by one
    /// validator is never served for another.
    fn id(&self) -> &'static str;
    async fn validate(&self, token: &str) -> Result<Arc<Identity>, AuthError>;
}

pub struct OpaqueStoreValidator {
    store: StoreHandle,
    metrics: Arc<Metrics>,
}

impl OpaqueStoreValidator {
    pub fn new(store: StoreHandle, metrics: Arc<Metrics>) -> Self {
        OpaqueStoreValidator { store, metrics }
    }
}

#[async_trait]
impl TokenValidator for OpaqueStoreValidator {
    fn id(&self) -> &'static str {
        "opaque-store"
    }

    async fn validate(&self, token: &str) -> Result<Arc<Identity>, AuthError> {
        self.metrics.token_store_lookups.inc();
        let found = self
            .store
            .find_access_token(hash_token(token))
            .await
            .map_err(|e| AuthError::Unavailable(e.to_string()))?;
        match found {
            None => Err(AuthError::Invalid),
            Some(t) if t.revoked => Err(AuthError::Invalid),
            Some(t) if t.expires_at <= now_unix() => Err(AuthError::Expired),
            Some(t) => Ok(Arc::new(Identity::from_stored(&t))),
        }
    }
}
