//! The config file as written: serde types that mirror the TOML, unknown keys rejected.
//! Nothing outside `config/` sees these; `validate` turns them into `Config`.

use serde::Deserialize;

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
    pub routes: Vec<RawRoute>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawServer {
    pub listen: String,
    pub public_url: String,
    pub admin_listen: String,
    pub threads: Option<usize>,
    pub shutdown_grace: Option<String>,
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLog {
    pub level: Option<String>,
    pub format: Option<String>,
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
    pub format: Option<String>,
    pub access_ttl: Option<String>,
    pub refresh_ttl: Option<String>,
    pub legacy_locations: Option<Vec<String>>,
    pub realm: Option<String>,
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
    pub handler: Option<String>,
    pub auth: Option<String>,
    #[serde(default)]
    pub scopes: Vec<String>,
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
    pub grant_types: Option<Vec<String>>,
    pub scopes: Option<Vec<String>>,
    #[serde(default)]
    pub admin: bool,
    #[serde(default)]
    pub legacy: bool,
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawJwt {
    pub algorithm: String,
    pub issuer: Option<String>,
    pub audience: Option<String>,
    pub secret: Option<String>,
    pub secret_file: Option<String>,
    pub public_key_file: Option<String>,
    pub leeway: Option<String>,
}
