//! Throttling of credential guesses per account (or client) and per address, on every
//! credential path. Password attempts are counted in the store *before* the password is
//! checked, so under any concurrency at most `max_failures` guesses per window reach argon2.
//! Client secrets are checked first and only failures count (see `client_allowed`); a right
//! secret costs no store write, and no store read while its keys are known clear.

use super::clearances::Clearances;
use crate::config::LockoutConfig;
use crate::http::ApiError;
use crate::metrics::Metrics;
use crate::store::{now_unix, StoreError, StoreHandle, ThrottlePolicy};
use std::net::IpAddr;
use std::sync::Arc;

pub struct Lockout {
    store: StoreHandle,
    account_policy: ThrottlePolicy,
    address_policy: ThrottlePolicy,
    metrics: Arc<Metrics>,
    clearances: Clearances,
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
            clearances: Clearances::default(),
        }
    }

    /// Counts one attempt on `account` (already prefixed, e.g. `user:alice`) and on `ip`, the
    /// client's address as the proxy resolved it (a trusted ingress's `X-Forwarded-For`).
    pub async fn begin(&self, account: &str, ip: Option<IpAddr>) -> Result<Attempt, ApiError> {
        let now = now_unix();
        let address = ip.map(|ip| format!("ip:{ip}"));
        let keys: Vec<(String, ThrottlePolicy)> =
            std::iter::once((account.to_string(), self.account_policy))
                .chain(address.clone().map(|a| (a, self.address_policy)))
                .collect();
        let counted = self
            .store
            .run(move |s| async move { s.throttle_attempts(&keys, now, false).await })
            .await;
        let locked_until = self.counted(counted, now)?;
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

    /// Client secrets are high-entropy: guessing one is hopeless, so the throttle only has to
    /// slow a guesser, never the real client. They are checked first and counted only when
    /// wrong (a busy client's concurrent successes never count), per (client, address) (a
    /// guesser elsewhere never locks the real client out). This refuses a pair that is banned.
    pub async fn client_allowed(&self, client: &str, ip: Option<IpAddr>) -> Result<(), ApiError> {
        let keys: Vec<String> = std::iter::once(client_key(client, ip))
            .chain(ip.map(|ip| format!("ip:{ip}")))
            .collect();
        if self.clearances.all_clear(&keys) {
            return Ok(());
        }
        let epoch = self.clearances.epoch();
        let now = now_unix();
        let read = keys.clone();
        let until = self
            .store
            .run(move |s| async move {
                let mut until = 0;
                for key in &read {
                    until = until.max(s.throttle_locked_until(key, now).await?);
                }
                Ok(until)
            })
            .await?;
        if until > now {
            self.failed();
            return Err(ApiError::ClientLockedOut {
                retry_after: until - now,
            });
        }
        self.clearances.record(keys, epoch);
        Ok(())
    }

    /// Counts a wrong secret for (client, address) and for the address; the error to answer
    /// with, which carries `Retry-After` once this failure started a ban.
    pub async fn client_failed(&self, client: &str, ip: Option<IpAddr>) -> ApiError {
        self.failed();
        let keys: Vec<(String, ThrottlePolicy)> =
            std::iter::once((client_key(client, ip), self.account_policy))
                .chain(ip.map(|ip| (format!("ip:{ip}"), self.address_policy)))
                .collect();
        let now = now_unix();
        let outcome = self
            .store
            .run(move |s| async move { s.throttle_attempts(&keys, now, false).await })
            .await;
        match self.counted(outcome, now) {
            Ok(0) => ApiError::InvalidClient,
            Ok(until) => ApiError::ClientLockedOut {
                retry_after: until - now,
            },
            Err(e) => ApiError::from(e),
        }
    }

    pub fn failed(&self) {
        self.metrics.login_failures.inc();
    }

    /// Passes on the outcome of counting an attempt, first voiding the remembered clearances
    /// when a ban may have begun: a ban begun now ends exactly `ban` from now (a refusal by an
    /// older one ends sooner), and a failed count may have banned a key before it failed.
    fn counted(&self, outcome: Result<i64, StoreError>, now: i64) -> Result<i64, StoreError> {
        let shortest_ban = self
            .account_policy
            .ban_secs
            .min(self.address_policy.ban_secs);
        match &outcome {
            Ok(until) if *until > 0 && *until >= now + shortest_ban => self.clearances.void(),
            Ok(_) => {}
            Err(_) => self.clearances.void(),
        }
        outcome
    }
}

fn client_key(client: &str, ip: Option<IpAddr>) -> String {
    match ip {
        Some(ip) => format!("client:{client}@{ip}"),
        None => format!("client:{client}"),
    }
}
