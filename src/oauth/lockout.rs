//! Throttling of credential guesses per account (or client) and per address, on every
//! credential path. Attempts are counted in the store *before* the password is checked, so
//! under any concurrency at most `max_failures` guesses per window reach argon2.

use crate::config::LockoutConfig;
use crate::http::ApiError;
use crate::metrics::Metrics;
use crate::store::{now_unix, StoreHandle, ThrottlePolicy};
use std::net::IpAddr;
use std::sync::Arc;

pub struct Lockout {
    store: StoreHandle,
    account_policy: ThrottlePolicy,
    address_policy: ThrottlePolicy,
    metrics: Arc<Metrics>,
}

/// Keys counted for one attempt; hand it back on success.
pub struct Attempt {
    account: String,
    address: Option<String>,
}

impl Lockout {
    pub fn new(store: StoreHandle, config: &LockoutConfig, metrics: Arc<Metrics>) -> Self {
        let policy = |max_attempts| ThrottlePolicy {
            max_attempts,
            window_secs: config.window.as_secs() as i64,
            ban_secs: config.ban.as_secs() as i64,
        };
        Lockout {
            store,
            account_policy: policy(config.max_failures),
            address_policy: policy(config.max_failures_per_address),
            metrics,
        }
    }

    /// Counts one attempt on `account` (already prefixed, e.g. `user:alice`) and on `ip`, the
    /// client's address as the proxy resolved it (a trusted ingress's `X-Forwarded-For`).
    pub async fn begin(&self, account: &str, ip: Option<IpAddr>) -> Result<Attempt, ApiError> {
        let now = now_unix();
        let address = ip.map(|ip| format!("ip:{ip}"));
        let mut locked_until = 0;
        let keys = std::iter::once((account.to_string(), self.account_policy))
            .chain(address.clone().map(|a| (a, self.address_policy)));
        for (key, policy) in keys {
            let outcome = self
                .store
                .run(move |s| async move { s.throttle_attempt(&key, now, policy).await })
                .await?;
            if !outcome.allowed {
                locked_until = locked_until.max(outcome.locked_until.max(now + 1));
            }
        }
        if locked_until > 0 {
            self.failed();
            return Err(ApiError::LockedOut {
                retry_after: locked_until - now,
            });
        }
        Ok(Attempt {
            account: account.to_string(),
            address,
        })
    }

    /// The credential was right: the account starts afresh, the address gets its attempt back.
    pub async fn succeeded(&self, attempt: Attempt) {
        let Attempt { account, address } = attempt;
        let result = self
            .store
            .run(move |s| async move {
                s.throttle_reset(&account).await?;
                if let Some(a) = address {
                    s.throttle_release(&a).await?;
                }
                Ok(())
            })
            .await;
        if let Err(e) = result {
            tracing::warn!(error = %e, "could not reset a login throttle");
        }
    }

    pub fn failed(&self) {
        self.metrics.login_failures.inc();
    }
}
