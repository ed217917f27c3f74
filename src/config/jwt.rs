//! Validation of `[[jwt.issuers]]`: the external issuers whose JWTs are checked locally, each
//! with its own keys (a static key, or a JWKS found by URL or OIDC discovery), algorithms,
//! audiences, leeway and claim mapping.

use super::raw::{JwtAlgorithm, OneOf, RawJwt, RawJwtIssuer};
use super::Problems;
use jsonwebtoken::{Algorithm, DecodingKey};
use std::time::Duration;

#[derive(Clone, Debug)]
pub struct JwtConfig {
    pub issuers: Vec<IssuerConfig>,
}

#[derive(Clone, Debug)]
pub struct IssuerConfig {
    /// Exact `iss`; a JWT is sent to the issuer whose name it carries.
    pub issuer: String,
    pub keys: KeySource,
    /// The allow-list (RFC 8725 §3.1): never `none`; HS* only with a static secret.
    pub algorithms: Vec<Algorithm>,
    /// `aud` must hold one of these.
    pub audiences: Vec<String>,
    pub leeway: Duration,
    pub claims: ClaimMapping,
}

#[derive(Clone)]
pub enum KeySource {
    Static(DecodingKey),
    Jwks {
        location: JwksLocation,
        /// Periodic re-fetch.
        refresh: Duration,
        /// No two fetches closer than this, whatever asks (SECURITY D7).
        min_refresh: Duration,
    },
}

impl std::fmt::Debug for KeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeySource::Static(_) => f.write_str("Static(..)"),
            KeySource::Jwks {
                location,
                refresh,
                min_refresh,
            } => f
                .debug_struct("Jwks")
                .field("location", location)
                .field("refresh", refresh)
                .field("min_refresh", min_refresh)
                .finish(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JwksLocation {
    Url(String),
    /// `jwks_uri` of `<issuer>/.well-known/openid-configuration`.
    Discovery(String),
}

/// Which claim gives each part of the identity; `None` keeps the standard choice.
#[derive(Clone, Debug, Default)]
pub struct ClaimMapping {
    pub user_id: Option<String>,
    pub user_name: Option<String>,
    pub scopes: Option<String>,
    pub client_id: Option<String>,
}

impl From<JwtAlgorithm> for Algorithm {
    fn from(algorithm: JwtAlgorithm) -> Self {
        match algorithm {
            JwtAlgorithm::Hs256 => Algorithm::HS256,
            JwtAlgorithm::Hs384 => Algorithm::HS384,
            JwtAlgorithm::Hs512 => Algorithm::HS512,
            JwtAlgorithm::Rs256 => Algorithm::RS256,
            JwtAlgorithm::Rs384 => Algorithm::RS384,
            JwtAlgorithm::Rs512 => Algorithm::RS512,
            JwtAlgorithm::Es256 => Algorithm::ES256,
            JwtAlgorithm::Es384 => Algorithm::ES384,
        }
    }
}

pub fn is_hmac(a: Algorithm) -> bool {
    matches!(a, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512)
}

fn is_ec(a: Algorithm) -> bool {
    matches!(a, Algorithm::ES256 | Algorithm::ES384)
}

const MAX_LEEWAY: Duration = Duration::from_secs(60);

pub(super) fn validate_jwt(p: &mut Problems, raw: RawJwt) -> Option<JwtConfig> {
    if let Some(key) = raw.legacy.keys().next() {
        p.push(format!(
            "jwt.{key}: the single `[jwt]` table is now a list: move its keys into a \
             `[[jwt.issuers]]` table with `issuer = \"...\"`, `algorithms = [...]` and \
             `audiences = [...]` (README: migrating from `[jwt]`)"
        ));
        return None;
    }
    if raw.issuers.is_empty() {
        p.push("jwt.issuers: at least one `[[jwt.issuers]]` (or leave `[jwt]` out)".into());
        return None;
    }
    let mut issuers: Vec<IssuerConfig> = Vec::new();
    for (i, r) in raw.issuers.into_iter().enumerate() {
        let Some(issuer) = validate_issuer(p, i, r) else {
            continue;
        };
        if issuers.iter().any(|o| o.issuer == issuer.issuer) {
            p.push(format!(
                "jwt.issuers[{i}].issuer: `{}` is listed twice",
                issuer.issuer
            ));
        }
        issuers.push(issuer);
    }
    Some(JwtConfig { issuers })
}

fn validate_issuer(p: &mut Problems, i: usize, raw: RawJwtIssuer) -> Option<IssuerConfig> {
    let at = |key: &str| format!("jwt.issuers[{i}].{key}");
    let issuer = match raw.issuer {
        Some(s) if !s.is_empty() => s,
        _ => {
            p.push(format!("{}: required (the exact `iss`)", at("issuer")));
            return None;
        }
    };
    let mut algorithms = Vec::new();
    for a in raw.algorithms {
        match a {
            OneOf::Known(a) => algorithms.push(Algorithm::from(a)),
            OneOf::Unknown(other) => p.push(format!(
                "{}: `{other}` (use HS256/384/512, RS256/384/512, ES256/384)",
                at("algorithms")
            )),
        }
    }
    if algorithms.is_empty() {
        p.push(format!("{}: at least one algorithm", at("algorithms")));
        return None;
    }
    if raw.audiences.is_empty() {
        p.push(format!(
            "{}: at least one (a token meant for another API must not pass)",
            at("audiences")
        ));
    }
    let leeway = p.duration(
        &at("leeway"),
        raw.leeway.as_deref(),
        Duration::from_secs(30),
    );
    if leeway > MAX_LEEWAY {
        p.push(format!("{}: at most 60s", at("leeway")));
    }
    let secret_given = raw.secret.is_some() || raw.secret_file.is_some();
    let sources = [
        raw.discovery == Some(true),
        raw.jwks_url.is_some(),
        secret_given,
        raw.public_key_file.is_some(),
    ];
    if sources.iter().filter(|s| **s).count() != 1 {
        p.push(format!(
            "{}: exactly one of `discovery = true`, `jwks_url`, `secret`/`secret_file`, `public_key_file`",
            at("issuer")
        ));
        return None;
    }
    let hmac = algorithms.iter().filter(|a| is_hmac(**a)).count();
    let keys = if secret_given || raw.public_key_file.is_some() {
        if raw.refresh.is_some() || raw.min_refresh.is_some() {
            p.push(format!(
                "{}: only for keys fetched from a JWKS",
                at("min_refresh")
            ));
        }
        let given = StaticKey {
            secret: raw.secret.as_deref(),
            secret_file: raw.secret_file.as_deref(),
            public_key_file: raw.public_key_file.as_deref(),
        };
        KeySource::Static(static_key(p, &at, given, &algorithms, hmac)?)
    } else {
        // A JWKS publishes public keys: an HS* token is never checked against one.
        if hmac > 0 {
            p.push(format!(
                "{}: HS* needs a shared `secret`, never a JWKS's keys",
                at("algorithms")
            ));
        }
        let refresh = p.duration(
            &at("refresh"),
            raw.refresh.as_deref(),
            Duration::from_secs(900),
        );
        let min_refresh = p.duration(
            &at("min_refresh"),
            raw.min_refresh.as_deref(),
            Duration::from_secs(60),
        );
        if min_refresh < Duration::from_secs(1) {
            p.push(format!("{}: at least 1s", at("min_refresh")));
        }
        if refresh < min_refresh {
            p.push(format!("{}: not below min_refresh", at("refresh")));
        }
        let location = match raw.jwks_url {
            Some(url) => {
                fetchable(p, &at("jwks_url"), &url);
                JwksLocation::Url(url)
            }
            None => {
                fetchable(p, &at("issuer"), &issuer);
                JwksLocation::Discovery(format!(
                    "{}/.well-known/openid-configuration",
                    issuer.trim_end_matches('/')
                ))
            }
        };
        KeySource::Jwks {
            location,
            refresh,
            min_refresh,
        }
    };
    let c = raw.claims;
    Some(IssuerConfig {
        issuer,
        keys,
        algorithms,
        audiences: raw.audiences,
        leeway,
        claims: ClaimMapping {
            user_id: c.user_id,
            user_name: c.user_name,
            scopes: c.scopes,
            client_id: c.client_id,
        },
    })
}

/// Keys come over HTTPS; plain HTTP only from this machine (a sidecar IdP, tests).
fn fetchable(p: &mut Problems, key: &str, url: &str) {
    match url::Url::parse(url) {
        Ok(u) if u.scheme() == "https" => {}
        Ok(u)
            if u.scheme() == "http"
                && matches!(u.host_str(), Some("localhost" | "127.0.0.1" | "[::1]")) => {}
        Ok(_) => p.push(format!(
            "{key}: `{url}` must be https (http only for localhost)"
        )),
        Err(e) => p.push(format!("{key}: `{url}` is not a URL: {e}")),
    }
}

struct StaticKey<'a> {
    secret: Option<&'a str>,
    secret_file: Option<&'a str>,
    public_key_file: Option<&'a str>,
}

fn static_key(
    p: &mut Problems,
    at: &dyn Fn(&str) -> String,
    raw: StaticKey<'_>,
    algorithms: &[Algorithm],
    hmac: usize,
) -> Option<DecodingKey> {
    if let Some(path) = raw.public_key_file {
        // One key, one family: no HS* keyed with the public key, no RS* with an EC key.
        let ec = algorithms.iter().filter(|a| is_ec(**a)).count();
        if hmac > 0 || (ec > 0 && ec < algorithms.len()) {
            p.push(format!(
                "{}: one family per public key (all RS* or all ES*; HS* needs a `secret`)",
                at("algorithms")
            ));
            return None;
        }
        let pem = match p.read_file(path) {
            Ok(pem) => pem,
            Err(e) => {
                p.push(format!(
                    "{}: cannot read `{path}`: {e}",
                    at("public_key_file")
                ));
                return None;
            }
        };
        let key = if ec > 0 {
            DecodingKey::from_ec_pem(&pem)
        } else {
            DecodingKey::from_rsa_pem(&pem)
        };
        return match key {
            Ok(k) => Some(k),
            Err(e) => {
                p.push(format!(
                    "{}: `{path}` is not a usable public key: {e}",
                    at("public_key_file")
                ));
                None
            }
        };
    }
    if hmac != algorithms.len() {
        p.push(format!(
            "{}: a shared secret takes HS* algorithms only",
            at("algorithms")
        ));
        return None;
    }
    match p.secret(&at("secret"), raw.secret, raw.secret_file) {
        Ok(Some(s)) if s.expose().len() >= 32 => {
            Some(DecodingKey::from_secret(s.expose().as_bytes()))
        }
        Ok(Some(_)) => {
            p.push(format!("{}: at least 32 bytes for HMAC keys", at("secret")));
            None
        }
        Ok(None) => None,
        Err(e) => {
            p.push(e);
            None
        }
    }
}
