//! Buckets shared by every replica through Redis: the same GCRA step as `gcra`, run by one Lua
//! script so read-check-write is atomic, timed by Redis's own clock (`TIME`) so replicas with
//! skewed clocks still agree. The connection is made on first use and re-made by the
//! connection manager after an outage; every call is bounded by the limit's `timeout`.

use super::gcra::Verdict;
use super::BucketKey;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use std::fmt::Write;
use std::time::Duration;
use tokio::sync::OnceCell;

const SCRIPT: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local capacity = interval * tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
local new_tat = tat + interval
local debt = new_tat - now
if debt > capacity then
  return {0, 0, debt - capacity, tat - now}
end
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', math.ceil(debt / 1000) + 1)
return {1, math.floor((capacity - debt) / interval), 0, debt}
"#;

pub struct RedisBuckets {
    client: redis::Client,
    connection: OnceCell<ConnectionManager>,
    script: redis::Script,
    /// `<key_prefix>:<limit name>:`
    prefix: String,
    timeout: Duration,
    interval_us: u64,
    burst: u64,
}

/// Never the URL (it may hold a password): only what went wrong.
#[derive(Debug)]
pub struct BackendError(pub String);

impl RedisBuckets {
    pub fn new(
        url: &str,
        key_prefix: &str,
        limit: &str,
        timeout: Duration,
        interval: Duration,
        burst: u32,
    ) -> Result<RedisBuckets, String> {
        let client = redis::Client::open(url)
            .map_err(|e| format!("rate_limits `{limit}`: unusable Redis URL ({:?})", e.kind()))?;
        Ok(RedisBuckets {
            client,
            connection: OnceCell::new(),
            script: redis::Script::new(SCRIPT),
            prefix: format!("{key_prefix}:{limit}:"),
            timeout,
            interval_us: (interval.as_micros() as u64).max(1),
            burst: u64::from(burst),
        })
    }

    async fn connection(&self) -> Result<ConnectionManager, BackendError> {
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(self.timeout)
            .set_response_timeout(self.timeout)
            .set_number_of_retries(1);
        self.connection
            .get_or_try_init(|| ConnectionManager::new_with_config(self.client.clone(), config))
            .await
            .cloned()
            .map_err(|e| BackendError(format!("connect: {:?}", e.kind())))
    }

    pub async fn check(&self, key: &BucketKey<'_>) -> Result<Verdict, BackendError> {
        let mut name = String::with_capacity(self.prefix.len() + 48);
        name.push_str(&self.prefix);
        let _ = match *key {
            BucketKey::Route(r) => write!(name, "route:{r}"),
            BucketKey::Address(a) => write!(name, "address:{a}"),
            BucketKey::User(None, u) => write!(name, "user:{u}"),
            // Length-prefixed: no issuer and user id can spell another pair's key.
            BucketKey::User(Some(iss), u) => write!(name, "issuer:{}:{iss}:user:{u}", iss.len()),
            BucketKey::Client(c) => write!(name, "client:{c}"),
            BucketKey::Unknown => write!(name, "unknown"),
        };
        let call = async {
            let mut conn = self.connection().await?;
            self.script
                .key(&name)
                .arg(self.interval_us)
                .arg(self.burst)
                .invoke_async::<(i64, i64, i64, i64)>(&mut conn)
                .await
                .map_err(|e| BackendError(format!("script: {:?}", e.kind())))
        };
        let (allowed, remaining, retry_after, reset) = tokio::time::timeout(self.timeout, call)
            .await
            .map_err(|_| BackendError("timed out".into()))??;
        let us = |v: i64| u64::try_from(v).unwrap_or(0);
        Ok(Verdict {
            allowed: allowed == 1,
            remaining: us(remaining),
            retry_after_us: us(retry_after),
            reset_us: us(reset),
        })
    }
}
