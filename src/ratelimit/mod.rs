//! `[[rate_limits]]` at request time: which bucket a request draws from, local or Redis
//! buckets, the fail mode when Redis is away, and the draft-ietf-httpapi-ratelimit-headers
//! fields (`RateLimit-Policy`, `RateLimit`). Routes without limits never reach this module.

mod gcra;
mod local;
mod shared;

use crate::auth::Identity;
use crate::config::{Config, FailMode, RateBackend, RateKey, RateLimitConfig};
use crate::http::{ApiError, Dependency};
use crate::metrics::Metrics;
use bytes::Bytes;
use gcra::{ceil_secs, Verdict};
use http::HeaderValue;
use local::LocalBuckets;
use prometheus::IntCounter;
use shared::RedisBuckets;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// What a bucket belongs to, borrowed from the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BucketKey<'a> {
    /// By name, not index: a reload that inserts or reorders routes keeps the limits whose
    /// config is unchanged, buckets and all, and each bucket must stay with its route.
    Route(&'a str),
    Address(IpAddr),
    /// The issuer (`None`: Gatehouse's own accounts) and the user id: an external issuer's
    /// `sub = "42"` does not share local user 42's bucket.
    User(Option<&'a str>, &'a str),
    Client(&'a str),
    /// No address could be worked out (not a TCP peer): one shared bucket.
    Unknown,
}

/// What the bucket keys are taken from.
pub struct Subject<'a> {
    pub identity: Option<&'a Identity>,
    pub address: Option<IpAddr>,
    pub route: usize,
    pub route_name: &'a str,
}

impl Subject<'_> {
    fn key(&self, by: RateKey) -> BucketKey<'_> {
        let address = || self.address.map_or(BucketKey::Unknown, BucketKey::Address);
        match by {
            RateKey::Route => BucketKey::Route(self.route_name),
            RateKey::Address => address(),
            RateKey::User => self
                .identity
                .and_then(|i| Some(BucketKey::User(i.issuer(), i.user_id()?)))
                .unwrap_or_else(address),
            RateKey::Client => self
                .identity
                .and_then(|i| i.client_id())
                .map_or_else(address, BucketKey::Client),
        }
    }
}

enum Backend {
    Local(LocalBuckets),
    Redis(RedisBuckets),
}

struct Limit {
    config: RateLimitConfig,
    backend: Backend,
    /// This limit's `RateLimit-Policy` item, formatted once.
    policy_item: String,
    /// The same as a header value, which most routes (one limit) send as it is.
    policy_value: HeaderValue,
    backend_errors: IntCounter,
    /// Set while the backend fails, so an outage is logged when it starts and ends, not once
    /// per request.
    down: AtomicBool,
}

/// The fields an allowed response carries, one item per limit of the route.
#[derive(Debug, Clone)]
pub struct RateHeaders {
    pub policy: HeaderValue,
    pub state: HeaderValue,
}

pub struct RateLimiter {
    /// Shared with the next config generation when its entry is unchanged, buckets and all.
    limits: Vec<Arc<Limit>>,
    /// `(limit index, counter)` per route index: `gatehouse_rate_limited_total{route,limit}`.
    refused: Vec<Vec<(usize, IntCounter)>>,
}

impl RateLimiter {
    /// `extra` lists (route index, limit index) pairs applied outside `routes.rate_limit` (the
    /// credential endpoints), so their refusals are counted too. A limit of `previous` (the
    /// generation a reload replaces) whose config is unchanged is kept with its buckets.
    pub fn new(
        config: &Config,
        metrics: &Metrics,
        extra: &[(usize, usize)],
        previous: Option<&RateLimiter>,
    ) -> Result<RateLimiter, String> {
        let mut limits = Vec::new();
        for c in &config.rate_limits {
            if let Some(kept) = previous.and_then(|p| p.limits.iter().find(|l| l.config == *c)) {
                limits.push(kept.clone());
                continue;
            }
            let backend = match &c.backend {
                RateBackend::Local { max_keys } => {
                    Backend::Local(LocalBuckets::new(*max_keys, c.interval(), c.burst))
                }
                RateBackend::Redis {
                    url,
                    key_prefix,
                    timeout,
                } => Backend::Redis(RedisBuckets::new(
                    url.expose(),
                    key_prefix,
                    &c.name,
                    *timeout,
                    c.interval(),
                    c.burst,
                )?),
            };
            let mode = match c.fail_mode {
                FailMode::Open => "open",
                FailMode::Closed => "closed",
            };
            let policy_item = format!("\"{}\";q={};w={}", c.name, c.quota, c.window.as_secs());
            let policy_value = HeaderValue::from_str(&policy_item)
                .map_err(|_| format!("rate_limits `{}`: name is not a header value", c.name))?;
            limits.push(Arc::new(Limit {
                policy_item,
                policy_value,
                backend,
                backend_errors: metrics.rate_limit_backend_error(&c.name, mode),
                down: AtomicBool::new(false),
                config: c.clone(),
            }));
        }
        let mut refused: Vec<Vec<(usize, IntCounter)>> = config
            .routes
            .iter()
            .map(|r| {
                r.rate_limits
                    .iter()
                    .filter_map(|&l| {
                        let limit = config.rate_limits.get(l)?;
                        Some((l, metrics.rate_limited(&r.name, &limit.name)))
                    })
                    .collect()
            })
            .collect();
        for &(route, l) in extra {
            if let (Some(list), Some(r), Some(limit)) = (
                refused.get_mut(route),
                config.routes.get(route),
                config.rate_limits.get(l),
            ) {
                list.push((l, metrics.rate_limited(&r.name, &limit.name)));
            }
        }
        Ok(RateLimiter { limits, refused })
    }

    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.limits.iter().position(|l| l.config.name == name)
    }

    /// Whether any of these limits may key a bucket by address (a `user` or `client` limit
    /// falls back to it for anonymous requests).
    pub fn reads_address(&self, limits: &[usize]) -> bool {
        limits.iter().any(|&i| {
            self.limits
                .get(i)
                .is_some_and(|l| l.config.key != RateKey::Route)
        })
    }

    /// Takes one token from each limit's bucket, in order. The first empty bucket refuses the
    /// request with 429 (counted); a backend outage lets it through or refuses it with 503, as
    /// the limit's `fail_mode` says. `None`: no limit answered (all failed open).
    pub async fn check(
        &self,
        limits: &[usize],
        who: &Subject<'_>,
    ) -> Result<Option<RateHeaders>, ApiError> {
        // Items of the limits that answered, in order: (limit, its verdict).
        let mut answered: Vec<(&Limit, Verdict)> = Vec::with_capacity(limits.len());
        for &i in limits {
            let Some(limit) = self.limits.get(i) else {
                continue;
            };
            let key = who.key(limit.config.key);
            let verdict = match &limit.backend {
                Backend::Local(b) => b.check(&key),
                Backend::Redis(b) => match b.check(&key).await {
                    Ok(v) => {
                        if limit.down.swap(false, Ordering::Relaxed) {
                            tracing::info!(limit = %limit.config.name, "rate-limit backend answers again");
                        }
                        v
                    }
                    Err(e) => {
                        limit.backend_errors.inc();
                        if !limit.down.swap(true, Ordering::Relaxed) {
                            tracing::warn!(limit = %limit.config.name, error = %e.0, fail_mode = ?limit.config.fail_mode, "rate-limit backend unreachable");
                        }
                        match limit.config.fail_mode {
                            FailMode::Open => continue,
                            FailMode::Closed => {
                                return Err(ApiError::Unavailable(Dependency::RateLimiter))
                            }
                        }
                    }
                },
            };
            answered.push((limit, verdict));
            if !verdict.allowed {
                self.count_refusal(who.route, i);
                let policy = answered
                    .iter()
                    .map(|(l, _)| l.policy_item.as_str())
                    .collect::<Vec<_>>()
                    .join(", ");
                return Err(ApiError::RateLimited {
                    retry_after: ceil_secs(verdict.retry_after_us).max(1) as i64,
                    policy,
                    state: state_field(&answered),
                });
            }
        }
        Ok(allowed_headers(&answered))
    }

    fn count_refusal(&self, route: usize, limit: usize) {
        if let Some((_, c)) = self
            .refused
            .get(route)
            .and_then(|l| l.iter().find(|(i, _)| *i == limit))
        {
            c.inc();
        }
    }
}

/// The headers of a request every answering limit let through. One limit (the usual case)
/// sends its pre-built policy value; only the `RateLimit` field is formatted per request.
fn allowed_headers(answered: &[(&Limit, Verdict)]) -> Option<RateHeaders> {
    let policy = match answered {
        [] => return None,
        [(limit, _)] => limit.policy_value.clone(),
        more => {
            let joined: Vec<&str> = more.iter().map(|(l, _)| l.policy_item.as_str()).collect();
            HeaderValue::from_str(&joined.join(", ")).ok()?
        }
    };
    let state = HeaderValue::from_maybe_shared(Bytes::from(state_field(answered))).ok()?;
    Some(RateHeaders { policy, state })
}

/// `"name";r=<remaining>;t=<seconds>` per limit: for an allowed request `t` is when the bucket
/// is full again; for a refused one it is the `Retry-After` delay, since the draft (§6) wants
/// `Retry-After` no earlier than the end of the effective window.
fn state_field(answered: &[(&Limit, Verdict)]) -> String {
    let mut out = String::with_capacity(answered.len() * 48);
    let mut numbers = itoa::Buffer::new();
    for (n, (limit, v)) in answered.iter().enumerate() {
        let t = if v.allowed {
            ceil_secs(v.reset_us)
        } else {
            ceil_secs(v.retry_after_us).max(1)
        };
        if n > 0 {
            out.push_str(", ");
        }
        out.push('"');
        out.push_str(&limit.config.name);
        out.push_str("\";r=");
        out.push_str(numbers.format(v.remaining));
        out.push_str(";t=");
        out.push_str(numbers.format(t));
    }
    out
}
