//! The `[http]` section (body and header limits, CORS) and `[identity_headers]`, the headers
//! only Gatehouse may set on a proxied request.

use super::raw::{RawHttp, RawIdentityHeaders};
use super::Problems;
use std::time::Duration;
use url::Url;

#[derive(Debug, Clone)]
pub enum CorsOrigins {
    /// `Access-Control-Allow-Origin: *` on every own response (the seeds' behaviour).
    Any,
    /// Echo the request's `Origin` only when it is in the list.
    List(Vec<String>),
}

#[derive(Debug, Clone)]
pub struct CorsConfig {
    pub origins: CorsOrigins,
    pub allow_methods: String,
    pub allow_headers: String,
    pub allow_credentials: bool,
}

#[derive(Debug, Clone)]
pub struct HttpConfig {
    pub max_body_bytes: usize,
    /// Total size of the request's header section (names + values).
    pub max_header_bytes: usize,
    /// From a request's first byte to the end of its header section, however it trickles in.
    pub header_timeout: Duration,
    /// How long a connection may sit idle before (and between) requests.
    pub keepalive_timeout: Duration,
    /// Whether HTTP/1 header names keep the case they arrived in on their way through (an
    /// upstream's response too). Off: they go on in lowercase, as HAProxy and Envoy send them.
    pub preserve_header_case: bool,
    pub cors: CorsConfig,
}

#[derive(Debug, Clone)]
pub struct IdentityHeadersConfig {
    pub user_id: String,
    pub user_name: String,
    pub scopes: String,
    pub client_id: String,
    /// The identity's groups, comma-separated.
    pub groups: String,
    /// An external identity's issuer (`iss`); absent for Gatehouse's own accounts.
    pub issuer: String,
    pub also_strip: Vec<String>,
}

// The seed apps' CORS values: their browser clients keep working unconfigured.
const SEED_CORS_METHODS: &str = "POST, PUT, DELETE, GET, OPTIONS";
const SEED_CORS_HEADERS: &str =
    "Origin, X-Requested-With, Content-Type, Accept, Authorization, Content-Disposition";

pub(super) fn validate_http(p: &mut Problems, raw: RawHttp) -> HttpConfig {
    let origins = match raw.cors.allow_origins {
        None => CorsOrigins::Any,
        Some(list) if list.iter().any(|o| o == "*") => {
            if list.len() > 1 {
                p.push("http.cors.allow_origins: `*` cannot be combined with origins".into());
            }
            CorsOrigins::Any
        }
        Some(list) => {
            for (i, o) in list.iter().enumerate() {
                let ok = Url::parse(o)
                    .map(|u| u.origin().ascii_serialization() == *o)
                    .unwrap_or(false);
                if !ok {
                    p.push(format!(
                            "http.cors.allow_origins[{i}]: `{o}` must be an origin like https://app.example.com"
                        ));
                }
            }
            CorsOrigins::List(list)
        }
    };
    let allow_credentials = raw.cors.allow_credentials.unwrap_or(false);
    if allow_credentials && matches!(origins, CorsOrigins::Any) {
        p.push("http.cors.allow_credentials: not allowed with `*` origins".into());
    }
    let max_body_bytes = raw.max_body_bytes.unwrap_or(16 * 1024);
    if max_body_bytes == 0 {
        p.push("http.max_body_bytes: must be positive".into());
    }
    let max_header_bytes = raw.max_header_bytes.unwrap_or(32 * 1024);
    if max_header_bytes < 1024 {
        p.push("http.max_header_bytes: must be at least 1024".into());
    }
    let header_timeout = p.duration(
        "http.header_timeout",
        raw.header_timeout.as_deref(),
        Duration::from_secs(10),
    );
    if header_timeout < Duration::from_secs(1) {
        p.push("http.header_timeout: must be at least 1s".into());
    }
    let keepalive_timeout = p.duration(
        "http.keepalive_timeout",
        raw.keepalive_timeout.as_deref(),
        Duration::from_secs(60),
    );
    // pingora itself closes a keep-alive connection after 60 s idle: longer would be a promise
    // we do not keep.
    if !(Duration::from_secs(1)..=Duration::from_secs(60)).contains(&keepalive_timeout) {
        p.push("http.keepalive_timeout: must be between 1s and 60s".into());
    }
    HttpConfig {
        max_body_bytes,
        max_header_bytes,
        header_timeout,
        keepalive_timeout,
        preserve_header_case: raw.preserve_header_case.unwrap_or(false),
        cors: CorsConfig {
            origins,
            allow_methods: raw
                .cors
                .allow_methods
                .unwrap_or_else(|| SEED_CORS_METHODS.into()),
            allow_headers: raw
                .cors
                .allow_headers
                .unwrap_or_else(|| SEED_CORS_HEADERS.into()),
            allow_credentials,
        },
    }
}
pub(super) fn validate_identity_headers(
    p: &mut Problems,
    raw: RawIdentityHeaders,
) -> IdentityHeadersConfig {
    let mut check = |key: &str, v: Option<String>, default: &str| {
        let v = v.unwrap_or_else(|| default.to_string());
        if ::http::HeaderName::from_bytes(v.as_bytes()).is_err() {
            p.push(format!(
                "identity_headers.{key}: `{v}` is not a valid header name"
            ));
        }
        v
    };
    let user_id = check("user_id", raw.user_id, "X-Auth-User-Id");
    let user_name = check("user_name", raw.user_name, "X-Auth-User-Name");
    let scopes = check("scopes", raw.scopes, "X-Auth-Scopes");
    let client_id = check("client_id", raw.client_id, "X-Auth-Client-Id");
    let groups = check("groups", raw.groups, "X-Auth-Groups");
    let issuer = check("issuer", raw.issuer, "X-Auth-Issuer");
    let also_strip = raw
        .also_strip
        .into_iter()
        .enumerate()
        .map(|(i, h)| check(&format!("also_strip[{i}]"), Some(h), ""))
        .collect();
    IdentityHeadersConfig {
        user_id,
        user_name,
        scopes,
        client_id,
        groups,
        issuer,
        also_strip,
    }
}
