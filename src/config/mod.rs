//! Validated configuration. `Config::load` reads the TOML, parses it into `raw` types
//! (unknown keys rejected), then checks and converts every value once; a bad file fails here
//! with every problem listed, each naming its key.

mod clients;
mod duration;
mod facebook;
mod jwt;
mod raw;
pub mod secret;

pub use clients::{
    redirect_uri_problem, ClientConfig, ClientSecretConfig, GrantType, LockoutConfig, OAuthConfig,
};
pub use duration::parse_duration;
pub use facebook::{origin_problem, FacebookConfig};
pub use jwt::JwtConfig;
pub use secret::SecretString;

use raw::RawConfig;
use std::collections::HashSet;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;
use url::Url;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file `{path}`: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("config file `{path}`: {message}")]
    Parse { path: String, message: String },
    #[error("config file `{path}` is invalid:\n  - {}", problems.join("\n  - "))]
    Invalid { path: String, problems: Vec<String> },
}

#[derive(Debug, Clone)]
pub struct Config {
    pub server: ServerConfig,
    pub log: LogConfig,
    pub store: StoreConfig,
    pub tokens: TokensConfig,
    pub cache: CacheConfig,
    pub http: HttpConfig,
    pub identity_headers: IdentityHeadersConfig,
    /// JWTs from an external issuer, accepted beside Gatehouse's opaque tokens.
    pub jwt: Option<JwtConfig>,
    /// Present when the `[oauth]` section is: Gatehouse is then the authorization server.
    pub oauth: Option<OAuthConfig>,
    pub clients: Vec<ClientConfig>,
    /// Present when the `[facebook]` section is: the Facebook Login client is mounted.
    pub facebook: Option<FacebookConfig>,
    pub upstreams: Vec<UpstreamConfig>,
    pub routes: Vec<RouteConfig>,
}

#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub public_url: Url,
    pub admin_listen: SocketAddr,
    pub threads: usize,
    pub shutdown_grace: Duration,
    pub trusted_proxies: Vec<ipnet::IpNet>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone)]
pub struct LogConfig {
    pub level: String,
    pub format: LogFormat,
    pub access_log: bool,
}

#[derive(Debug, Clone)]
pub enum StoreBackend {
    Sqlite {
        path: PathBuf,
    },
    Postgres {
        url: SecretString,
        /// Created if missing; tables live there (several deployments or tests per database).
        schema: Option<String>,
    },
}

#[derive(Debug, Clone)]
pub struct StoreConfig {
    pub backend: StoreBackend,
    pub max_connections: u32,
    pub connect_timeout: Duration,
    /// How often expired tokens, codes and pending requests are deleted.
    pub purge_interval: Duration,
    /// How long ended rows are kept before deletion.
    pub purge_keep: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenFormat {
    Opaque,
}

#[derive(Debug, Clone)]
pub struct TokensConfig {
    pub format: TokenFormat,
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
    /// `Authorization: OAuth <t>` (the seed clients' header form).
    pub legacy_oauth_header: bool,
    /// `?oauth_token=` in the query string (the seed clients' query form).
    pub legacy_query_param: bool,
    pub realm: String,
}

#[derive(Debug, Clone)]
pub struct CacheConfig {
    pub max_entries: u64,
    pub ttl: Duration,
    pub negative_ttl: Duration,
}

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
    pub cors: CorsConfig,
}

#[derive(Debug, Clone)]
pub struct IdentityHeadersConfig {
    pub user_id: String,
    pub user_name: String,
    pub scopes: String,
    pub client_id: String,
    pub also_strip: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct HealthCheckConfig {
    pub path: String,
    pub interval: Duration,
    pub host: String,
}

#[derive(Debug, Clone)]
pub struct UpstreamConfig {
    pub name: String,
    pub addrs: Vec<SocketAddr>,
    pub connect_timeout: Duration,
    pub read_timeout: Duration,
    pub idle_timeout: Duration,
    pub health_check: Option<HealthCheckConfig>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMode {
    Required,
    Optional,
    Public,
}

/// Handlers that live inside Gatehouse and write their own response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandlerKind {
    /// Answers with the identity headers Gatehouse would forward: a demo and a debugging aid.
    Echo,
    /// The authorization server: `/oauth/*` and the RFC 8414 metadata document.
    OAuth,
    /// `POST /sign-up` and the admin users API.
    Users,
    /// Facebook Login: dialog, callback, popup flow, connected-accounts API.
    Facebook,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteTarget {
    /// Index into `Config::upstreams`.
    Upstream(usize),
    Handler(HandlerKind),
}

#[derive(Debug, Clone)]
pub struct RouteConfig {
    pub name: String,
    pub host: Option<String>,
    pub path_prefix: String,
    pub target: RouteTarget,
    pub auth: AuthMode,
    pub scopes: Vec<String>,
    /// Accept `Authorization: OAuth` here even when `tokens.legacy_locations` does not (the
    /// seed clients use it on the users API).
    pub accept_oauth_header: bool,
}

/// Routes the authorization server mounts itself when `[oauth]` is present.
fn builtin_routes(oauth: &OAuthConfig) -> Vec<RouteConfig> {
    let r = |name: &str, prefix: &str, kind, auth, legacy| RouteConfig {
        name: name.into(),
        host: None,
        path_prefix: prefix.into(),
        target: RouteTarget::Handler(kind),
        auth,
        scopes: vec![],
        accept_oauth_header: legacy,
    };
    let mut routes = vec![
        r(
            "oauth",
            "/oauth",
            HandlerKind::OAuth,
            AuthMode::Public,
            false,
        ),
        r(
            "oauth-metadata",
            "/.well-known/oauth-authorization-server",
            HandlerKind::OAuth,
            AuthMode::Public,
            false,
        ),
    ];
    if oauth.users_api {
        routes.push(r(
            "sign-up",
            "/sign-up",
            HandlerKind::Users,
            AuthMode::Public,
            false,
        ));
        routes.push(r(
            "users",
            "/users",
            HandlerKind::Users,
            AuthMode::Required,
            true,
        ));
    }
    routes
}

/// Routes the Facebook Login client mounts when `[facebook]` is present. They authenticate
/// inside the handler: the callback comes from Facebook, the popup from `window.open`.
fn facebook_routes() -> Vec<RouteConfig> {
    ["/facebook", "/social-media-posting/oauth/facebook"]
        .iter()
        .enumerate()
        .map(|(i, prefix)| RouteConfig {
            name: if i == 0 {
                "facebook".into()
            } else {
                "social-media-posting".into()
            },
            host: None,
            path_prefix: prefix.to_string(),
            target: RouteTarget::Handler(HandlerKind::Facebook),
            auth: AuthMode::Public,
            scopes: vec![],
            accept_oauth_header: false,
        })
        .collect()
}

impl Config {
    pub fn load(path: impl AsRef<Path>) -> Result<Config, ConfigError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_toml(&text, &path.display().to_string())
    }

    /// `origin` names the source in errors (a path, or "inline" in tests).
    pub fn from_toml(text: &str, origin: &str) -> Result<Config, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: origin.to_string(),
            message: e.to_string().trim_end().to_string(),
        })?;
        validate(raw).map_err(|problems| ConfigError::Invalid {
            path: origin.to_string(),
            problems,
        })
    }
}

/// Collects problems instead of stopping at the first, so one run shows everything to fix.
struct Problems(Vec<String>);

impl Problems {
    fn push(&mut self, msg: String) {
        self.0.push(msg);
    }
    fn duration(&mut self, key: &str, value: Option<&str>, default: Duration) -> Duration {
        match value.map(parse_duration) {
            None => default,
            Some(Ok(d)) => d,
            Some(Err(e)) => {
                self.push(format!("{key}: bad duration {e}"));
                default
            }
        }
    }
    fn socket_addr(&mut self, key: &str, value: &str) -> Option<SocketAddr> {
        // Resolved here, once: peers on the request path are plain addresses (no DNS per request).
        match value.to_socket_addrs() {
            Ok(mut addrs) => match addrs.next() {
                Some(a) => Some(a),
                None => {
                    self.push(format!("{key}: `{value}` resolves to no address"));
                    None
                }
            },
            Err(e) => {
                self.push(format!("{key}: `{value}` is not a usable host:port ({e})"));
                None
            }
        }
    }
}

fn validate(raw: RawConfig) -> Result<Config, Vec<String>> {
    let mut p = Problems(Vec::new());

    let listen = p.socket_addr("server.listen", &raw.server.listen);
    let admin_listen = p.socket_addr("server.admin_listen", &raw.server.admin_listen);
    if listen.is_some() && listen == admin_listen && listen.map(|a| a.port()) != Some(0) {
        p.push("server.admin_listen: must differ from server.listen".into());
    }
    let public_url = match Url::parse(&raw.server.public_url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Some(u),
        Ok(_) => {
            p.push(format!(
                "server.public_url: `{}` must be an absolute http(s) URL",
                raw.server.public_url
            ));
            None
        }
        Err(e) => {
            p.push(format!(
                "server.public_url: `{}` {e}",
                raw.server.public_url
            ));
            None
        }
    };
    let threads = raw.server.threads.unwrap_or(1);
    if threads == 0 || threads > 256 {
        p.push(format!(
            "server.threads: {threads} is out of range (1..=256)"
        ));
    }
    let shutdown_grace = p.duration(
        "server.shutdown_grace",
        raw.server.shutdown_grace.as_deref(),
        Duration::from_secs(10),
    );
    let mut trusted_proxies = Vec::new();
    for (i, t) in raw.server.trusted_proxies.iter().enumerate() {
        let parsed = t
            .parse::<ipnet::IpNet>()
            .or_else(|_| t.parse::<std::net::IpAddr>().map(ipnet::IpNet::from));
        match parsed {
            Ok(net) => trusted_proxies.push(net),
            Err(_) => p.push(format!(
                "server.trusted_proxies[{i}]: `{t}` is not an IP address or CIDR"
            )),
        }
    }

    let level = raw.log.level.unwrap_or_else(|| "info".into());
    if tracing_subscriber::EnvFilter::try_new(&level).is_err() {
        p.push(format!("log.level: `{level}` is not a valid filter"));
    }
    let format = match raw.log.format.as_deref() {
        None | Some("text") => LogFormat::Text,
        Some("json") => LogFormat::Json,
        Some(other) => {
            p.push(format!("log.format: `{other}` (use text or json)"));
            LogFormat::Text
        }
    };

    let store = validate_store(&mut p, raw.store);

    let format_tokens = match raw.tokens.format.as_deref() {
        None | Some("opaque") => TokenFormat::Opaque,
        Some(other) => {
            p.push(format!(
                "tokens.format: `{other}` is not supported (use opaque)"
            ));
            TokenFormat::Opaque
        }
    };
    let mut legacy_oauth_header = false;
    let mut legacy_query_param = false;
    for (i, loc) in raw
        .tokens
        .legacy_locations
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        match loc.as_str() {
            "oauth_header" => legacy_oauth_header = true,
            "query:oauth_token" => legacy_query_param = true,
            other => p.push(format!(
                "tokens.legacy_locations[{i}]: `{other}` (use oauth_header or query:oauth_token)"
            )),
        }
    }
    let realm = raw.tokens.realm.unwrap_or_else(|| "gatehouse".into());
    if realm.contains(['"', '\\']) || realm.chars().any(|c| c.is_control()) {
        p.push("tokens.realm: must not contain quotes, backslashes or control characters".into());
    }
    let tokens = TokensConfig {
        format: format_tokens,
        access_ttl: p.duration(
            "tokens.access_ttl",
            raw.tokens.access_ttl.as_deref(),
            Duration::from_secs(7200),
        ),
        refresh_ttl: p.duration(
            "tokens.refresh_ttl",
            raw.tokens.refresh_ttl.as_deref(),
            Duration::from_secs(30 * 86_400),
        ),
        legacy_oauth_header,
        legacy_query_param,
        realm,
    };

    let cache = CacheConfig {
        max_entries: raw.cache.max_entries.unwrap_or(100_000),
        ttl: p.duration(
            "cache.ttl",
            raw.cache.ttl.as_deref(),
            Duration::from_secs(30),
        ),
        negative_ttl: p.duration(
            "cache.negative_ttl",
            raw.cache.negative_ttl.as_deref(),
            Duration::from_secs(5),
        ),
    };
    if cache.max_entries < 10 {
        p.push("cache.max_entries: must be at least 10".into());
    }
    if cache.ttl > Duration::from_secs(300) {
        // The TTL is the revocation budget for replicas that did not see the revocation.
        p.push(
            "cache.ttl: at most 300s (it bounds how long a revoked token may still pass)".into(),
        );
    }
    if cache.negative_ttl > Duration::from_secs(5) {
        p.push("cache.negative_ttl: at most 5s (a new token must start working quickly)".into());
    }

    let http = validate_http(&mut p, raw.http);
    let identity_headers = validate_identity_headers(&mut p, raw.identity_headers);
    let oauth = raw.oauth.map(|o| clients::validate_oauth(&mut p, o));
    let clients = clients::validate_clients(&mut p, raw.clients);
    let facebook = raw
        .facebook
        .and_then(|f| facebook::validate_facebook(&mut p, f));
    let jwt = raw.jwt.and_then(|j| jwt::validate_jwt(&mut p, j));
    if oauth.is_none() && !clients.is_empty() {
        p.push("clients: declared without an [oauth] section (add `[oauth]` to enable the authorization server)".into());
    }

    let mut upstreams = Vec::new();
    let mut names = HashSet::new();
    for (i, u) in raw.upstreams.into_iter().enumerate() {
        let key = format!("upstreams[{i}]");
        if !is_name(&u.name) {
            p.push(format!("{key}.name: `{}` must be [A-Za-z0-9_-]+", u.name));
        }
        if !names.insert(u.name.clone()) {
            p.push(format!("{key}.name: duplicate upstream `{}`", u.name));
        }
        if u.addrs.is_empty() {
            p.push(format!("{key}.addrs: needs at least one address"));
        }
        let addrs = u
            .addrs
            .iter()
            .enumerate()
            .filter_map(|(j, a)| p.socket_addr(&format!("{key}.addrs[{j}]"), a))
            .collect();
        let health_check = u.health_check.map(|hc| {
            let path = hc.path.unwrap_or_else(|| "/".into());
            if !path.starts_with('/') {
                p.push(format!("{key}.health_check.path: must start with `/`"));
            }
            HealthCheckConfig {
                path,
                interval: p.duration(
                    &format!("{key}.health_check.interval"),
                    hc.interval.as_deref(),
                    Duration::from_secs(5),
                ),
                host: hc.host.unwrap_or_else(|| "localhost".into()),
            }
        });
        upstreams.push(UpstreamConfig {
            connect_timeout: p.duration(
                &format!("{key}.connect_timeout"),
                u.connect_timeout.as_deref(),
                Duration::from_secs(2),
            ),
            read_timeout: p.duration(
                &format!("{key}.read_timeout"),
                u.read_timeout.as_deref(),
                Duration::from_secs(30),
            ),
            idle_timeout: p.duration(
                &format!("{key}.idle_timeout"),
                u.idle_timeout.as_deref(),
                Duration::from_secs(60),
            ),
            name: u.name,
            addrs,
            health_check,
        });
    }

    let mut routes = Vec::new();
    let mut seen = HashSet::new();
    let mut route_names = HashSet::new();
    for (i, r) in raw.routes.into_iter().enumerate() {
        let key = format!("routes[{i}]");
        let prefix = match crate::path::normalize_path(&r.path_prefix) {
            Ok(n) if n == r.path_prefix => r.path_prefix.clone(),
            _ => {
                p.push(format!(
                    "{key}.path_prefix: `{}` must be a normalized absolute path",
                    r.path_prefix
                ));
                r.path_prefix.clone()
            }
        };
        let prefix = if prefix.len() > 1 {
            prefix.trim_end_matches('/').to_string()
        } else {
            prefix
        };
        let host = r.host.map(|h| h.to_ascii_lowercase());
        if let Some(h) = &host {
            if h.is_empty() || h.contains(['/', ' ', ':']) {
                p.push(format!(
                    "{key}.host: `{h}` must be a bare host name (no port)"
                ));
            }
        }
        if !seen.insert((host.clone(), prefix.clone())) {
            p.push(format!(
                "{key}: duplicate route for host {} and path_prefix `{prefix}`",
                host.as_deref().unwrap_or("*")
            ));
        }
        let target = match (r.upstream, r.handler) {
            (Some(u), None) => match upstreams.iter().position(|x| x.name == u) {
                Some(idx) => Some(RouteTarget::Upstream(idx)),
                None => {
                    p.push(format!("{key}.upstream: no upstream named `{u}`"));
                    None
                }
            },
            (None, Some(h)) => match h.as_str() {
                "echo" => Some(RouteTarget::Handler(HandlerKind::Echo)),
                other => {
                    p.push(format!(
                        "{key}.handler: unknown handler `{other}` (known: echo)"
                    ));
                    None
                }
            },
            (Some(_), Some(_)) => {
                p.push(format!(
                    "{key}: give either `upstream` or `handler`, not both"
                ));
                None
            }
            (None, None) => {
                p.push(format!("{key}: needs `upstream` or `handler`"));
                None
            }
        };
        let auth = match r.auth.as_deref() {
            None | Some("required") => AuthMode::Required,
            Some("optional") => AuthMode::Optional,
            Some("public") => AuthMode::Public,
            Some(other) => {
                p.push(format!(
                    "{key}.auth: `{other}` (use required, optional or public)"
                ));
                AuthMode::Required
            }
        };
        if auth == AuthMode::Public && !r.scopes.is_empty() {
            p.push(format!(
                "{key}.scopes: a public route cannot require scopes"
            ));
        }
        for (j, s) in r.scopes.iter().enumerate() {
            if !is_scope_token(s) {
                p.push(format!("{key}.scopes[{j}]: `{s}` is not a valid scope"));
            }
        }
        let name = r.name.unwrap_or_else(|| match &host {
            Some(h) => format!("{h}{prefix}"),
            None => prefix.clone(),
        });
        if !route_names.insert(name.clone()) {
            p.push(format!("{key}.name: duplicate route name `{name}`"));
        }
        if let Some(target) = target {
            routes.push(RouteConfig {
                name,
                host,
                path_prefix: prefix,
                target,
                auth,
                scopes: r.scopes,
                accept_oauth_header: false,
            });
        }
    }
    let mut builtins = oauth.as_ref().map(builtin_routes).unwrap_or_default();
    if facebook.is_some() {
        builtins.extend(facebook_routes());
    }
    {
        for b in builtins {
            if routes
                .iter()
                .any(|r| r.host.is_none() && r.path_prefix == b.path_prefix)
            {
                p.push(format!(
                    "routes: `{}` is served by Gatehouse itself; remove that route{}",
                    b.path_prefix,
                    if b.target == RouteTarget::Handler(HandlerKind::Users) {
                        " or set oauth.users_api = false"
                    } else {
                        ""
                    }
                ));
            }
            if routes.iter().any(|r| r.name == b.name) {
                p.push(format!(
                    "routes: the name `{}` is reserved for a built-in route",
                    b.name
                ));
            }
            routes.push(b);
        }
    }

    if !p.0.is_empty() {
        return Err(p.0);
    }
    // Every branch that fails above pushes a problem, so these are present here.
    let (Some(listen), Some(admin_listen), Some(public_url), Some(store)) =
        (listen, admin_listen, public_url, store)
    else {
        return Err(vec!["internal: missing validated value".into()]);
    };
    Ok(Config {
        server: ServerConfig {
            listen,
            public_url,
            admin_listen,
            threads,
            shutdown_grace,
            trusted_proxies,
        },
        log: LogConfig {
            level,
            format,
            access_log: raw.log.access_log.unwrap_or(true),
        },
        store,
        tokens,
        cache,
        http,
        identity_headers,
        jwt,
        oauth,
        clients,
        facebook,
        upstreams,
        routes,
    })
}

fn validate_store(p: &mut Problems, raw: raw::RawStore) -> Option<StoreConfig> {
    let url = match secret::resolve("store.url", raw.url.as_deref(), raw.url_file.as_deref()) {
        Ok(v) => v.map(|s| s.expose().to_string()),
        Err(e) => {
            p.push(e);
            return None;
        }
    }
    .unwrap_or_else(|| "sqlite://data/gatehouse.db".into());
    let backend = if let Some(path) = url.strip_prefix("sqlite://") {
        if path.is_empty() {
            p.push("store.url: sqlite:// needs a file path".into());
            return None;
        }
        StoreBackend::Sqlite {
            path: PathBuf::from(path),
        }
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        if let Some(s) = &raw.schema {
            let ok = s.len() <= 48
                && s.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
                && s.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
            if !ok {
                p.push(format!(
                    "store.schema: `{s}` must match [a-z_][a-z0-9_]* (at most 48 characters)"
                ));
            }
        }
        StoreBackend::Postgres {
            url: SecretString::new(url),
            schema: raw.schema.clone(),
        }
    } else {
        // Never echo the value: it may hold a password.
        p.push("store.url: unsupported scheme (use sqlite://PATH or postgres://…)".into());
        return None;
    };
    if raw.schema.is_some() && matches!(backend, StoreBackend::Sqlite { .. }) {
        p.push("store.schema: only for PostgreSQL".into());
    }
    let max_connections = raw.max_connections.unwrap_or(8);
    if max_connections == 0 {
        p.push("store.max_connections: must be at least 1".into());
    }
    let purge_interval = p.duration(
        "store.purge_interval",
        raw.purge_interval.as_deref(),
        Duration::from_secs(600),
    );
    if purge_interval < Duration::from_secs(1) {
        p.push("store.purge_interval: at least 1s".into());
    }
    Some(StoreConfig {
        backend,
        max_connections,
        connect_timeout: p.duration(
            "store.connect_timeout",
            raw.connect_timeout.as_deref(),
            Duration::from_secs(5),
        ),
        purge_interval,
        purge_keep: p.duration(
            "store.purge_keep",
            raw.purge_keep.as_deref(),
            Duration::from_secs(3600),
        ),
    })
}

const SEED_CORS_METHODS: &str = "POST, PUT, DELETE, GET, OPTIONS";
const SEED_CORS_HEADERS: &str =
    "Origin, X-Requested-With, Content-Type, Accept, Authorization, Content-Disposition";

fn validate_http(p: &mut Problems, raw: raw::RawHttp) -> HttpConfig {
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
    HttpConfig {
        max_body_bytes,
        max_header_bytes,
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

fn validate_identity_headers(
    p: &mut Problems,
    raw: raw::RawIdentityHeaders,
) -> IdentityHeadersConfig {
    let mut check = |key: &str, v: Option<String>, default: &str| {
        let v = v.unwrap_or_else(|| default.to_string());
        if http::HeaderName::from_bytes(v.as_bytes()).is_err() {
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
        also_strip,
    }
}

fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// RFC 6749 §3.3 scope-token: printable ASCII except space, `"` and `\`.
pub fn is_scope_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
[server]
listen = "127.0.0.1:0"
public_url = "http://localhost:8080"
admin_listen = "127.0.0.1:0"
[[upstreams]]
name = "app"
addrs = ["127.0.0.1:3000"]
[[routes]]
path_prefix = "/"
upstream = "app"
"#;

    fn err(text: &str) -> String {
        Config::from_toml(text, "t.toml").unwrap_err().to_string()
    }

    #[test]
    fn minimal_is_valid() {
        let c = Config::from_toml(MINIMAL, "t.toml").unwrap();
        assert_eq!(c.routes[0].target, RouteTarget::Upstream(0));
        assert_eq!(c.routes[0].auth, AuthMode::Required);
        assert_eq!(c.cache.ttl, Duration::from_secs(30));
    }

    #[test]
    fn unknown_key_is_named() {
        let e = err(&MINIMAL.replace("[server]", "[cache]\ntll = \"30s\"\n[server]"));
        assert!(e.contains("tll"), "{e}");
    }

    #[test]
    fn missing_upstream_is_named() {
        let e = err(&MINIMAL.replace("upstream = \"app\"", "upstream = \"nope\""));
        assert!(
            e.contains("routes[0].upstream") && e.contains("nope"),
            "{e}"
        );
    }

    #[test]
    fn bad_duration_and_duplicate_route_are_named() {
        let text = format!(
            "{MINIMAL}\n[[routes]]\npath_prefix = \"/\"\nupstream = \"app\"\n[cache]\nttl = \"3x\"\n"
        );
        let e = err(&text);
        assert!(e.contains("cache.ttl"), "{e}");
        assert!(e.contains("routes[1]: duplicate route"), "{e}");
    }

    #[test]
    fn unreadable_secret_is_named() {
        let e = err(&format!(
            "{MINIMAL}\n[store]\nurl_file = \"/nonexistent/secret\"\n"
        ));
        assert!(e.contains("store.url_file"), "{e}");
    }
}
