//! One external issuer's published keys (JWKS): fetched at start, every `refresh`, and when a
//! token names an unknown `kid`. Fetches are single-flight and never closer than `min_refresh`
//! (SECURITY D7), whatever asks; a failed fetch keeps the last good keys; a body over
//! `MAX_JWKS_BYTES` is refused. Only public signing keys (RSA, EC) are kept: a JWKS never
//! supplies an HMAC secret.

use crate::config::JwksLocation;
use crate::metrics::Metrics;
use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, RwLock, Weak};
use std::time::{Duration, Instant};
use tokio::runtime::Handle;
use tokio::sync::Mutex;

/// Real JWKS are a few KiB; the cap keeps a hostile or broken endpoint from filling memory.
pub const MAX_JWKS_BYTES: usize = 128 * 1024;
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyFamily {
    Rsa,
    Ec,
}

impl KeyFamily {
    pub fn of(alg: Algorithm) -> Option<KeyFamily> {
        match alg {
            Algorithm::RS256 | Algorithm::RS384 | Algorithm::RS512 => Some(KeyFamily::Rsa),
            Algorithm::ES256 | Algorithm::ES384 => Some(KeyFamily::Ec),
            _ => None,
        }
    }
}

pub struct PublicKey {
    pub key: DecodingKey,
    pub family: KeyFamily,
    /// The JWK's `alg`, when it names one: the only algorithm the key then verifies.
    pub alg: Option<Algorithm>,
    kid: Option<String>,
}

#[derive(Default)]
pub struct KeySet {
    keys: Vec<Arc<PublicKey>>,
    by_kid: HashMap<String, Arc<PublicKey>>,
}

impl KeySet {
    fn new(keys: Vec<PublicKey>) -> KeySet {
        let keys: Vec<Arc<PublicKey>> = keys.into_iter().map(Arc::new).collect();
        let by_kid = keys
            .iter()
            .filter_map(|k| k.kid.clone().map(|kid| (kid, k.clone())))
            .collect();
        KeySet { keys, by_kid }
    }

    pub fn get(&self, kid: &str) -> Option<Arc<PublicKey>> {
        self.by_kid.get(kid).cloned()
    }

    /// For a token without `kid`: every key of the algorithm's family.
    pub fn of_family(&self, family: KeyFamily) -> Vec<Arc<PublicKey>> {
        self.keys
            .iter()
            .filter(|k| k.family == family)
            .cloned()
            .collect()
    }
}

pub struct JwksKeys {
    issuer: String,
    location: JwksLocation,
    min_refresh: Duration,
    client: reqwest::Client,
    /// Fetches run here: a long-lived runtime, not the proxy worker that asked.
    runtime: Option<Handle>,
    metrics: Arc<Metrics>,
    current: RwLock<Arc<KeySet>>,
    /// Held across a fetch: concurrent askers wait for it instead of fetching again. Holds
    /// when the last fetch started.
    gate: Mutex<Option<Instant>>,
}

#[derive(Debug)]
enum FetchError {
    Unreachable(String),
    Status(u16),
    TooLarge,
    Invalid(String),
}

impl FetchError {
    fn label(&self) -> &'static str {
        match self {
            FetchError::Unreachable(_) => "unreachable",
            FetchError::Status(_) => "status",
            FetchError::TooLarge => "too_large",
            FetchError::Invalid(_) => "invalid",
        }
    }
}

impl std::fmt::Display for FetchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FetchError::Unreachable(e) => write!(f, "unreachable: {e}"),
            FetchError::Status(s) => write!(f, "answered HTTP {s}"),
            FetchError::TooLarge => write!(f, "answer over {MAX_JWKS_BYTES} bytes"),
            FetchError::Invalid(e) => write!(f, "unusable answer: {e}"),
        }
    }
}

impl JwksKeys {
    pub fn new(
        issuer: String,
        location: JwksLocation,
        min_refresh: Duration,
        client: reqwest::Client,
        runtime: Option<Handle>,
        metrics: Arc<Metrics>,
    ) -> JwksKeys {
        JwksKeys {
            issuer,
            location,
            min_refresh,
            client,
            runtime,
            metrics,
            current: RwLock::new(Arc::new(KeySet::default())),
            gate: Mutex::new(None),
        }
    }

    pub fn current(&self) -> Arc<KeySet> {
        match self.current.read() {
            Ok(k) => k.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// The key named `kid`, fetching the JWKS again if it is unknown and `min_refresh` allows.
    pub async fn key(&self, kid: &str) -> Option<Arc<PublicKey>> {
        if let Some(k) = self.current().get(kid) {
            return Some(k);
        }
        let mut last = self.gate.lock().await;
        // Whoever held the gate may just have fetched it.
        if let Some(k) = self.current().get(kid) {
            return Some(k);
        }
        if last.is_some_and(|t| t.elapsed() < self.min_refresh) {
            return None;
        }
        *last = Some(Instant::now());
        self.fetch_now().await;
        self.current().get(kid)
    }

    /// A fetch unless one started within `min_refresh` (start-up and the periodic refresh).
    pub async fn refresh(&self) {
        let mut last = self.gate.lock().await;
        if last.is_some_and(|t| t.elapsed() < self.min_refresh) {
            return;
        }
        *last = Some(Instant::now());
        self.fetch_now().await;
    }

    async fn fetch_now(&self) {
        let result = match &self.runtime {
            Some(rt) => {
                let (client, location, issuer) = (
                    self.client.clone(),
                    self.location.clone(),
                    self.issuer.clone(),
                );
                rt.spawn(async move { fetch(&client, &location, &issuer).await })
                    .await
                    .unwrap_or_else(|e| Err(FetchError::Unreachable(e.to_string())))
            }
            None => Err(FetchError::Unreachable("no runtime to fetch on".into())),
        };
        let label = match result {
            Ok(keys) => {
                let set = Arc::new(KeySet::new(keys));
                match self.current.write() {
                    Ok(mut k) => *k = set,
                    Err(poisoned) => *poisoned.into_inner() = set,
                }
                "ok"
            }
            Err(e) => {
                tracing::warn!(issuer = %self.issuer, error = %e, "JWKS fetch failed; keeping the last good keys");
                e.label()
            }
        };
        self.metrics.jwks_fetch(&self.issuer, label);
    }
}

/// Fetches at once, then every `every`, until the keys are dropped (a reload builds new ones).
pub fn spawn_refresher(keys: &Arc<JwksKeys>, runtime: &Handle, every: Duration) {
    let weak: Weak<JwksKeys> = Arc::downgrade(keys);
    runtime.spawn(async move {
        loop {
            match weak.upgrade() {
                Some(k) => k.refresh().await,
                None => return,
            }
            tokio::time::sleep(every).await;
        }
    });
}

pub fn http_client() -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .timeout(FETCH_TIMEOUT)
        .connect_timeout(FETCH_TIMEOUT)
        // Keys come from the configured place, not wherever it points.
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| format!("JWKS client: {e}"))
}

async fn fetch(
    client: &reqwest::Client,
    location: &JwksLocation,
    issuer: &str,
) -> Result<Vec<PublicKey>, FetchError> {
    let jwks_url = match location {
        JwksLocation::Url(url) => url.clone(),
        JwksLocation::Discovery(url) => {
            let doc: Value = serde_json::from_slice(&get_capped(client, url).await?)
                .map_err(|e| FetchError::Invalid(format!("discovery document: {e}")))?;
            // OpenID Connect Discovery §4.3: the document speaks for this issuer only.
            if doc.get("issuer").and_then(Value::as_str) != Some(issuer) {
                return Err(FetchError::Invalid(
                    "discovery document names another issuer".into(),
                ));
            }
            doc.get("jwks_uri")
                .and_then(Value::as_str)
                .filter(|u| u.starts_with("https://") || same_origin(u, url))
                .ok_or_else(|| FetchError::Invalid("no usable jwks_uri".into()))?
                .to_string()
        }
    };
    let body: Value = serde_json::from_slice(&get_capped(client, &jwks_url).await?)
        .map_err(|e| FetchError::Invalid(format!("JWKS: {e}")))?;
    let keys: Vec<PublicKey> = body
        .get("keys")
        .and_then(Value::as_array)
        .ok_or_else(|| FetchError::Invalid("JWKS without `keys`".into()))?
        .iter()
        .filter_map(public_key)
        .collect();
    if keys.is_empty() {
        return Err(FetchError::Invalid("no usable signing key".into()));
    }
    Ok(keys)
}

/// An `http://` `jwks_uri` is taken only from the same origin as an (allowed, local) discovery
/// URL.
fn same_origin(a: &str, b: &str) -> bool {
    match (url::Url::parse(a), url::Url::parse(b)) {
        (Ok(a), Ok(b)) => a.origin() == b.origin(),
        _ => false,
    }
}

/// One key of the set; anything else (symmetric, encryption, unknown curve) is skipped.
fn public_key(v: &Value) -> Option<PublicKey> {
    let jwk: Jwk = serde_json::from_value(v.clone()).ok()?;
    if matches!(jwk.common.public_key_use, Some(ref u) if *u != PublicKeyUse::Signature) {
        return None;
    }
    let family = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => KeyFamily::Rsa,
        AlgorithmParameters::EllipticCurve(_) => KeyFamily::Ec,
        AlgorithmParameters::OctetKey(_) | AlgorithmParameters::OctetKeyPair(_) => return None,
    };
    let alg = match jwk.common.key_algorithm {
        None => None,
        Some(a) => Some(a.to_string().parse::<Algorithm>().ok()?),
    };
    if alg.is_some_and(|a| KeyFamily::of(a) != Some(family)) {
        return None;
    }
    Some(PublicKey {
        key: DecodingKey::from_jwk(&jwk).ok()?,
        family,
        alg,
        kid: jwk.common.key_id,
    })
}

async fn get_capped(client: &reqwest::Client, url: &str) -> Result<Vec<u8>, FetchError> {
    let mut resp = client
        .get(url)
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(|e| FetchError::Unreachable(e.without_url().to_string()))?;
    if resp.status() != reqwest::StatusCode::OK {
        return Err(FetchError::Status(resp.status().as_u16()));
    }
    if resp
        .content_length()
        .is_some_and(|n| n > MAX_JWKS_BYTES as u64)
    {
        return Err(FetchError::TooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| FetchError::Unreachable(e.without_url().to_string()))?
    {
        if body.len() + chunk.len() > MAX_JWKS_BYTES {
            return Err(FetchError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
