//! `[[rate_limits]]`: named token buckets (rate, burst, what a bucket is keyed by), local to the
//! replica or shared through Redis, and the built-in `credentials` limit the authorization
//! server's credential endpoints get.

use super::raw::{OneOf, RawRateLimit};
use super::secret::{self, SecretString};
use super::Problems;
use serde::Deserialize;
use std::collections::HashSet;
use std::time::Duration;

/// What one bucket belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RateKey {
    /// The token's user; requests without one (anonymous, client tokens) by address.
    User,
    /// The token's client; requests without one by address.
    Client,
    /// The client address as `server.trusted_proxies` resolves it.
    Address,
    /// One bucket for the whole route.
    Route,
}

/// What a shared backend's outage does to requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailMode {
    /// Let requests through (unlimited) until the backend is back.
    Open,
    /// Refuse them with 503 until the backend is back.
    Closed,
}

#[derive(Debug, Clone, PartialEq)]
pub enum RateBackend {
    /// Buckets in this replica's memory, at most `max_keys` of them (least used evicted).
    Local { max_keys: u64 },
    Redis {
        url: SecretString,
        key_prefix: String,
        timeout: Duration,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct RateLimitConfig {
    pub name: String,
    pub key: RateKey,
    /// `quota` requests per `window` (the `N` and unit of `rate`).
    pub quota: u32,
    pub window: Duration,
    /// Requests allowed at once after a quiet period.
    pub burst: u32,
    pub backend: RateBackend,
    pub fail_mode: FailMode,
}

impl RateLimitConfig {
    /// Time one request's token takes to come back.
    pub fn interval(&self) -> Duration {
        self.window / self.quota.max(1)
    }
}

/// The limit the credential endpoints (`POST /oauth/token`, `/oauth/sign-in`,
/// `/oauth/authorize`) get when `[oauth]` is on; a `[[rate_limits]]` entry of this name
/// replaces it.
pub const CREDENTIALS_LIMIT: &str = "credentials";

/// Per address: a flood from one address is cut off, while a busy backend refreshing in
/// parallel or an office behind one NAT is not (a busy client must never throttle itself:
/// hardening finding 3). A test suite's token traffic stays well inside it too. Failed guesses
/// are throttled much harder by `oauth.lockout`.
fn default_credentials_limit() -> RateLimitConfig {
    RateLimitConfig {
        name: CREDENTIALS_LIMIT.into(),
        key: RateKey::Address,
        quota: 100,
        window: Duration::from_secs(1),
        burst: 1000,
        backend: RateBackend::Local { max_keys: 100_000 },
        fail_mode: FailMode::Open,
    }
}

pub(super) fn validate_rate_limits(
    p: &mut Problems,
    raw: Vec<RawRateLimit>,
    with_oauth: bool,
) -> Vec<RateLimitConfig> {
    let mut names = HashSet::new();
    let mut out: Vec<RateLimitConfig> = Vec::new();
    for (i, r) in raw.into_iter().enumerate() {
        let key = format!("rate_limits[{i}]");
        if !super::policies::is_label(&r.name) || r.name.contains('#') {
            p.push(format!(
                "{key}.name: `{}` must be letters, digits, `-`, `_` or `.`",
                r.name
            ));
        }
        if !names.insert(r.name.clone()) {
            p.push(format!(
                "{key}.name: duplicate rate limit name `{}`",
                r.name
            ));
        }
        if let Some(limit) = validate_one(p, &key, r) {
            out.push(limit);
        }
    }
    if with_oauth && !names.contains(CREDENTIALS_LIMIT) {
        out.push(default_credentials_limit());
    }
    out
}

fn validate_one(p: &mut Problems, key: &str, r: RawRateLimit) -> Option<RateLimitConfig> {
    let rate_key = match r.key {
        OneOf::Known(k) => Some(k),
        OneOf::Unknown(other) => {
            p.push(format!(
                "{key}.key: `{other}` (use user, client, address or route)"
            ));
            None
        }
    };
    let rate = parse_rate(&r.rate);
    if let Err(e) = &rate {
        p.push(format!("{key}.rate: `{}` {e}", r.rate));
    }
    let burst = r
        .burst
        .unwrap_or_else(|| rate.as_ref().map_or(1, |(n, _)| *n));
    if burst == 0 {
        p.push(format!("{key}.burst: must be at least 1"));
    }
    let fail_mode = p.choice(r.fail_mode, FailMode::Open, |other| {
        format!("{key}.fail_mode: `{other}` (use open or closed)")
    });
    let url = match secret::resolve(
        &format!("{key}.backend"),
        r.backend.as_deref(),
        r.backend_file.as_deref(),
    ) {
        Ok(u) => u,
        Err(e) => {
            p.push(e);
            None
        }
    };
    let backend = match url {
        None => {
            for (name, given) in [
                ("key_prefix", r.key_prefix.is_some()),
                ("timeout", r.timeout.is_some()),
            ] {
                if given {
                    p.push(format!("{key}.{name}: only used with a Redis `backend`"));
                }
            }
            let max_keys = r.max_keys.unwrap_or(100_000);
            if max_keys == 0 {
                p.push(format!("{key}.max_keys: must be at least 1"));
            }
            RateBackend::Local { max_keys }
        }
        Some(url) => {
            let u = url.expose();
            if !(u.starts_with("redis://") || u.starts_with("rediss://")) {
                // The value may hold a password: name the key, never echo it.
                p.push(format!(
                    "{key}.backend: must be a `redis://` or `rediss://` URL"
                ));
            }
            if r.max_keys.is_some() {
                p.push(format!(
                    "{key}.max_keys: only used by local buckets (Redis expires its keys itself)"
                ));
            }
            let timeout = p.duration(
                &format!("{key}.timeout"),
                r.timeout.as_deref(),
                Duration::from_millis(250),
            );
            if timeout.is_zero() || timeout > Duration::from_secs(5) {
                p.push(format!("{key}.timeout: between 1ms and 5s"));
            }
            RateBackend::Redis {
                url,
                key_prefix: r.key_prefix.unwrap_or_else(|| "gatehouse:rl".into()),
                timeout,
            }
        }
    };
    let (quota, window) = rate.ok()?;
    Some(RateLimitConfig {
        name: r.name,
        key: rate_key?,
        quota,
        window,
        burst: burst.max(1),
        backend,
        fail_mode,
    })
}

/// `N/s`, `N/m` or `N/h`, N ≥ 1.
pub fn parse_rate(text: &str) -> Result<(u32, Duration), String> {
    let usage = "(write N/s, N/m or N/h with N ≥ 1)";
    let (n, unit) = text.split_once('/').ok_or_else(|| usage.to_string())?;
    let n: u32 = n
        .trim()
        .parse()
        .ok()
        .filter(|n| *n >= 1 && *n <= 1_000_000)
        .ok_or_else(|| usage.to_string())?;
    let window = match unit.trim() {
        "s" => Duration::from_secs(1),
        "m" => Duration::from_secs(60),
        "h" => Duration::from_secs(3600),
        _ => return Err(usage.into()),
    };
    Ok((n, window))
}
