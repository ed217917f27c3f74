//! Password hashing: argon2id with OWASP's minimum (19 MiB, t=2, p=1), run on the store
//! runtime's blocking pool behind a semaphore so logins never stall the proxy's event loop.

use crate::store::{StoreError, StoreHandle};
use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher as _, PasswordVerifier, SaltString,
};
use argon2::{Algorithm, Argon2, Params, Version};
use std::sync::Arc;
use tokio::sync::Semaphore;

pub const MIN_PASSWORD_LEN: usize = 8;
pub const MAX_PASSWORD_LEN: usize = 128;

fn argon2() -> Argon2<'static> {
    // These constants are valid argon2 parameters; `Params::DEFAULT` is the fallback.
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or(Params::DEFAULT);
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes synchronously (CLI and start-up use; the server goes through `PasswordHasher`).
pub fn hash_now(password: &str) -> Result<String, String> {
    let salt = SaltString::generate(&mut OsRng);
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

fn verify_now(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| {
            argon2()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

pub struct PasswordHasher {
    store: StoreHandle,
    checks: prometheus::IntCounter,
    /// Verifications (logins) and hashes (sign-ups) wait in separate queues, so a burst of
    /// sign-ups never delays a login behind it.
    permits: Arc<Semaphore>,
    hash_permits: Arc<Semaphore>,
    /// Verified against when the user does not exist, so both cases cost the same.
    dummy_hash: String,
}

impl PasswordHasher {
    pub fn new(
        store: StoreHandle,
        max_concurrent: usize,
        checks: prometheus::IntCounter,
    ) -> Result<Self, String> {
        let dummy = crate::auth::generate_token();
        Ok(PasswordHasher {
            store,
            checks,
            permits: Arc::new(Semaphore::new(max_concurrent)),
            // Sign-ups get half as many (at least one): logins come first.
            hash_permits: Arc::new(Semaphore::new((max_concurrent / 2).max(1))),
            dummy_hash: hash_now(&dummy)?,
        })
    }

    pub async fn hash(&self, password: &str) -> Result<String, StoreError> {
        let _permit = self
            .hash_permits
            .acquire()
            .await
            .map_err(|_| StoreError::Unavailable("hasher closed".into()))?;
        let password = password.to_owned();
        self.store
            .blocking(move || hash_now(&password))
            .await?
            .map_err(StoreError::Query)
    }

    /// True when `password` matches `hash`; with no hash (unknown user) a dummy is checked and
    /// the answer is false.
    pub async fn verify(&self, password: &str, hash: Option<&str>) -> Result<bool, StoreError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| StoreError::Unavailable("hasher closed".into()))?;
        self.checks.inc();
        let known = hash.is_some();
        let hash = hash.unwrap_or(&self.dummy_hash).to_owned();
        let password = password.to_owned();
        let ok = self
            .store
            .blocking(move || verify_now(&password, &hash))
            .await?;
        Ok(ok && known)
    }

    /// Verifies a configured client secret hash (same cost rules as passwords).
    pub async fn verify_hash(&self, secret: &str, hash: &str) -> Result<bool, StoreError> {
        self.verify(secret, Some(hash)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_with_owasp_parameters() {
        let h = hash_now("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(verify_now("correct horse", &h));
        assert!(!verify_now("wrong horse", &h));
        assert!(!verify_now("x", "not a hash"));
    }
}
