//! The config file as written: serde types that mirror the TOML, unknown keys rejected, and
//! the spellings of its enum values. Nothing outside `config/` sees these; each section's
//! `validate_*` function turns them into the checked types of `Config`.

use super::{AuthMode, FailMode, GrantType, LogFormat, OnMissing, RateKey, TokenFormat};
use serde::de::{DeserializeOwned, IntoDeserializer};
use serde::{Deserialize, Deserializer};

/// A value the file must spell as one of `T`'s variants, `T` being parsed by serde. An unknown
/// spelling is kept as written rather than failing the whole parse: the section check then
/// reports it under its key, beside every other problem of the file, in its own words.
#[derive(Debug)]
pub enum OneOf<T> {
    Known(T),
    Unknown(String),
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for OneOf<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // A non-string still fails here, with toml's own line and column.
        let text = String::deserialize(deserializer)?;
        let parsed: Result<T, serde::de::value::Error> =
            T::deserialize(text.as_str().into_deserializer());
        Ok(match parsed {
            Ok(v) => OneOf::Known(v),
            Err(_) => OneOf::Unknown(text),
        })
    }
}

/// `tokens.legacy_locations` entries: where, beside `Authorization: Bearer`, a token is taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum LegacyLocation {
    #[serde(rename = "oauth_header")]
    OAuthHeader,
    #[serde(rename = "query:oauth_token")]
    QueryParam,
}

/// `routes.handler`: the in-process handlers a config route may name. The OAuth, users and
/// Facebook handlers are mounted by their own sections, never by a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RouteHandler {
    Echo,
}

/// `jwt.issuers.algorithms`: the algorithms Gatehouse verifies (never `none`, no PS*/EdDSA).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum JwtAlgorithm {
    Hs256,
    Hs384,
    Hs512,
    Rs256,
    Rs384,
    Rs512,
    Es256,
    Es384,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    pub server: RawServer,
    #[serde(default)]
    pub log: RawLog,
    #[serde(default)]
    pub store: RawStore,
    #[serde(default)]
    pub tokens: RawTokens,
    #[serde(default)]
    pub cache: RawCache,
    #[serde(default)]
    pub http: RawHttp,
    #[serde(default)]
    pub identity_headers: RawIdentityHeaders,
    pub jwt: Option<RawJwt>,
    pub oauth: Option<RawOAuth>,
    pub facebook: Option<RawFacebook>,
    #[serde(default)]
    pub clients: Vec<RawClient>,
    #[serde(default)]
    pub upstreams: Vec<RawUpstream>,
    #[serde(default)]
    pub policies: Vec<RawPolicy>,
    #[serde(default)]
    pub rate_limits: Vec<RawRateLimit>,
    #[serde(default)]
    pub routes: Vec<RawRoute>,
    pub forward_auth: Option<RawForwardAuth>,
    pub sessions: Option<RawSessions>,
    pub assertion: Option<super::signing::RawAssertion>,
    pub tracing: Option<RawTracing>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTracing {
    pub otlp_endpoint: String,
    pub sample_ratio: Option<f64>,
    pub service_name: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSessions {
    pub cookie_name: Option<String>,
    pub ttl: Option<String>,
    pub idle_ttl: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawForwardAuth {
    pub path: Option<String>,
    pub listen: Option<String>,
    pub grpc_listen: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawServer {
    /// Plain HTTP; may be left out when `tls` listens instead.
    pub listen: Option<String>,
    pub public_url: String,
    pub admin_listen: String,
    pub threads: Option<usize>,
    pub shutdown_grace: Option<String>,
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
    pub max_connections: Option<usize>,
    pub pid_file: Option<String>,
    /// HTTP/2 with prior knowledge on the plain listener (gRPC clients without TLS).
    pub h2c: Option<bool>,
    pub tls: Option<RawServerTls>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawServerTls {
    pub listen: String,
    pub cert_file: String,
    pub key_file: String,
    pub client_ca_file: Option<String>,
    pub hsts: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLog {
    pub level: Option<String>,
    pub format: Option<OneOf<LogFormat>>,
    pub access_log: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStore {
    pub url: Option<String>,
    pub url_file: Option<String>,
    pub max_connections: Option<u32>,
    pub connect_timeout: Option<String>,
    pub schema: Option<String>,
    pub purge_interval: Option<String>,
    pub purge_keep: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTokens {
    pub format: Option<OneOf<TokenFormat>>,
    pub access_ttl: Option<String>,
    pub refresh_ttl: Option<String>,
    pub legacy_locations: Option<Vec<OneOf<LegacyLocation>>>,
    pub realm: Option<String>,
    pub checksum_key: Option<String>,
    pub checksum_key_file: Option<String>,
    pub previous_checksum_keys: Option<Vec<String>>,
    pub accept_unstructured: Option<bool>,
    pub signing_keys: Option<Vec<super::signing::RawSigningKey>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCache {
    pub max_entries: Option<u64>,
    pub ttl: Option<String>,
    pub negative_ttl: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHttp {
    pub max_body_bytes: Option<usize>,
    pub max_header_bytes: Option<usize>,
    pub header_timeout: Option<String>,
    pub keepalive_timeout: Option<String>,
    pub preserve_header_case: Option<bool>,
    #[serde(default)]
    pub cors: RawCors,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCors {
    pub allow_origins: Option<Vec<String>>,
    pub allow_methods: Option<String>,
    pub allow_headers: Option<String>,
    pub allow_credentials: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawIdentityHeaders {
    pub user_id: Option<String>,
    pub user_name: Option<String>,
    pub scopes: Option<String>,
    pub client_id: Option<String>,
    pub groups: Option<String>,
    pub issuer: Option<String>,
    /// Further headers that only ever come from Gatehouse: stripped from clients, never set.
    #[serde(default)]
    pub also_strip: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawUpstream {
    pub name: String,
    pub addrs: Vec<String>,
    pub connect_timeout: Option<String>,
    pub read_timeout: Option<String>,
    pub idle_timeout: Option<String>,
    pub health_check: Option<RawHealthCheck>,
    pub tls: Option<bool>,
    pub sni: Option<String>,
    pub ca_file: Option<String>,
    pub client_cert_file: Option<String>,
    pub client_key_file: Option<String>,
    pub h2c: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHealthCheck {
    pub path: Option<String>,
    pub interval: Option<String>,
    pub host: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRoute {
    pub name: Option<String>,
    pub host: Option<String>,
    pub path_prefix: String,
    pub upstream: Option<String>,
    pub handler: Option<OneOf<RouteHandler>>,
    pub auth: Option<OneOf<AuthMode>>,
    pub on_missing: Option<OneOf<OnMissing>>,
    #[serde(default)]
    pub scopes: Vec<String>,
    pub forward_authorization: Option<bool>,
    pub policy: Option<RawPolicyRef>,
    pub rate_limit: Option<OneOrMany>,
    /// Send the signed identity assertion (`[assertion]`) to this route's upstream.
    pub assertion: Option<bool>,
    /// The assertion's `aud` (default: the upstream's name).
    pub assertion_audience: Option<String>,
}

/// A string, or a list of them (`method = "GET"` or `method = ["GET", "HEAD"]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    pub fn into_vec(self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s],
            OneOrMany::Many(v) => v,
        }
    }
}

/// `routes.policy`: the name of a `[[policies]]` entry, or the rules written inline.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum RawPolicyRef {
    Named(String),
    Inline(Vec<RawRule>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPolicy {
    pub name: String,
    pub rules: Vec<RawRule>,
}

/// `{ allow = COND }` or `{ deny = COND }`, optionally named for logs and metrics.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRule {
    pub name: Option<String>,
    pub allow: Option<RawCondition>,
    pub deny: Option<RawCondition>,
}

/// One condition per table (the `claim` key comes with one of `equals`, `any_of`, `glob`);
/// several are combined with `all`, `any` and `not`. Unknown keys are refused by serde.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCondition {
    pub scopes: Option<Vec<String>>,
    pub any_scope: Option<Vec<String>>,
    pub claim: Option<String>,
    pub equals: Option<String>,
    pub any_of: Option<Vec<String>>,
    pub glob: Option<String>,
    pub client_id: Option<OneOrMany>,
    pub issuer: Option<OneOrMany>,
    pub admin: Option<bool>,
    pub authenticated: Option<bool>,
    pub method: Option<OneOrMany>,
    pub path: Option<OneOrMany>,
    pub address: Option<OneOrMany>,
    pub all: Option<Vec<RawCondition>>,
    pub any: Option<Vec<RawCondition>>,
    pub not: Option<Box<RawCondition>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRateLimit {
    pub name: String,
    pub key: OneOf<RateKey>,
    pub rate: String,
    pub burst: Option<u32>,
    pub backend: Option<String>,
    pub backend_file: Option<String>,
    pub fail_mode: Option<OneOf<FailMode>>,
    pub timeout: Option<String>,
    pub key_prefix: Option<String>,
    pub max_keys: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawOAuth {
    pub code_ttl: Option<String>,
    pub sign_in_ttl: Option<String>,
    pub users_api: Option<bool>,
    pub max_concurrent_hashes: Option<usize>,
    #[serde(default)]
    pub lockout: RawLockout,
    #[serde(default)]
    pub sign_up: RawSignUp,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSignUp {
    pub max_per_address: Option<u32>,
    pub max_per_client: Option<u32>,
    pub window: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLockout {
    pub max_failures: Option<u32>,
    pub max_failures_per_address: Option<u32>,
    pub window: Option<String>,
    pub ban: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawClient {
    pub id: String,
    pub name: Option<String>,
    pub secret: Option<String>,
    pub secret_file: Option<String>,
    pub secret_hash: Option<String>,
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    pub grant_types: Option<Vec<OneOf<GrantType>>>,
    pub scopes: Option<Vec<String>>,
    #[serde(default)]
    pub admin: bool,
    #[serde(default)]
    pub legacy: bool,
    #[serde(default)]
    pub introspect: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFacebook {
    pub app_id: String,
    pub app_secret: Option<String>,
    pub app_secret_file: Option<String>,
    pub dialog_url: Option<String>,
    pub graph_url: Option<String>,
    pub api_version: Option<String>,
    pub scopes: Option<Vec<String>>,
    #[serde(default)]
    pub integrator_origins: Vec<String>,
    pub return_token_to_integrator: Option<bool>,
    pub token_encryption_key: Option<String>,
    pub token_encryption_key_file: Option<String>,
    pub timeout: Option<String>,
    pub max_pages: Option<usize>,
    pub state_ttl: Option<String>,
}

/// `[jwt]`: only `[[jwt.issuers]]`. Not `deny_unknown_fields`: the keys of the old single-issuer
/// table land in `legacy`, so the check can name the new shape instead of serde's "unknown field".
#[derive(Debug, Deserialize)]
pub struct RawJwt {
    #[serde(default)]
    pub issuers: Vec<RawJwtIssuer>,
    #[serde(flatten)]
    pub legacy: std::collections::BTreeMap<String, toml::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawJwtIssuer {
    pub issuer: Option<String>,
    pub discovery: Option<bool>,
    pub jwks_url: Option<String>,
    pub secret: Option<String>,
    pub secret_file: Option<String>,
    pub public_key_file: Option<String>,
    #[serde(default)]
    pub algorithms: Vec<OneOf<JwtAlgorithm>>,
    #[serde(default)]
    pub audiences: Vec<String>,
    pub leeway: Option<String>,
    pub refresh: Option<String>,
    pub min_refresh: Option<String>,
    #[serde(default)]
    pub claims: RawClaimMapping,
}

/// `jwt.issuers.claims`: which claim gives each part of the identity.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawClaimMapping {
    pub user_id: Option<String>,
    pub user_name: Option<String>,
    pub scopes: Option<String>,
    pub client_id: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct Doc {
        grant: OneOf<GrantType>,
    }

    #[test]
    fn one_of_keeps_unknown_spellings_and_refuses_other_types() {
        let known: Doc = toml::from_str("grant = \"refresh_token\"").unwrap();
        assert!(matches!(known.grant, OneOf::Known(GrantType::RefreshToken)));
        let unknown: Doc = toml::from_str("grant = \"RefreshToken\"").unwrap();
        assert!(matches!(unknown.grant, OneOf::Unknown(ref t) if t == "RefreshToken"));
        let e = toml::from_str::<Doc>("grant = 3").unwrap_err().to_string();
        assert!(e.contains("expected a string"), "{e}");
    }

    #[test]
    fn strict_serde_enum_error_would_lose_the_key_path() {
        // Why `OneOf` rather than a plain enum field: serde stops at the first bad value and
        // toml's message shows the line, not the key path (`routes[3].auth`) of an array entry.
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct Strict {
            routes: Vec<StrictRoute>,
        }
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct StrictRoute {
            auth: AuthMode,
        }
        let e = toml::from_str::<Strict>(
            "[[routes]]\nauth = \"public\"\n[[routes]]\nauth = \"sometimes\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(!e.contains("routes[1]"), "{e}");
    }
}
