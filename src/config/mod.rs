//! Validated configuration. `Config::load` reads the TOML, parses it into `raw` types
//! (unknown keys rejected, enum values read by serde), then each section's `validate_*`
//! function checks and converts its values once; a bad file fails here with every problem
//! listed, each naming its key. This module owns `Config` and `validate`, which assembles it
//! from the sections.

mod clients;
mod duration;
mod facebook;
mod forward_auth;
mod http;
mod jwt;
mod policies;
mod problems;
mod rate_limits;
mod raw;
mod routes;
pub mod secret;
mod server;
mod sessions;
mod signing;
mod store;
mod tokens;
mod traces;
mod upstreams;

// `self::` because the `http` crate has the same name.
pub use self::http::{CorsConfig, CorsOrigins, HttpConfig, IdentityHeadersConfig};
pub use clients::{
    parse_secret_hash, redirect_uri_problem, ClientConfig, ClientSecretConfig, GrantType,
    LockoutConfig, OAuthConfig, SignUpLimits, SHA256_SECRET_PREFIX,
};
pub use duration::parse_duration;
pub use facebook::{origin_problem, FacebookConfig};
pub use forward_auth::ForwardAuthConfig;
pub use jwt::{is_hmac, ClaimMapping, IssuerConfig, JwksLocation, JwtConfig, KeySource};
pub use policies::{
    ClaimTest, Condition, Effect, IssuerRef, PolicyConfig, RuleConfig, STANDARD_CLAIMS,
};
pub use rate_limits::{
    parse_rate, FailMode, RateBackend, RateKey, RateLimitConfig, CREDENTIALS_LIMIT,
};
pub use routes::{AuthMode, HandlerKind, OnMissing, RouteConfig, RouteTarget};
pub use secret::SecretString;
pub use server::{LogConfig, LogFormat, ServerConfig, ServerTlsConfig};
pub use sessions::SessionsConfig;
pub use signing::{AssertionConfig, KeyStatus, DEFAULT_ASSERTION_HEADER};
pub use store::{StoreBackend, StoreConfig};
pub use tokens::{CacheConfig, ChecksumKey, TokenFormat, TokensConfig};
pub use traces::TracingConfig;
pub use upstreams::{HealthCheckConfig, UpstreamConfig, UpstreamTlsConfig};

use problems::{Outside, Problems};
use raw::RawConfig;
use std::path::Path;

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
    /// JWTs from external issuers (`[[jwt.issuers]]`), accepted beside Gatehouse's opaque tokens.
    pub jwt: Option<JwtConfig>,
    /// Present when the `[oauth]` section is: Gatehouse is then the authorization server.
    pub oauth: Option<OAuthConfig>,
    pub clients: Vec<ClientConfig>,
    /// Present when the `[facebook]` section is: the Facebook Login client is mounted.
    pub facebook: Option<FacebookConfig>,
    pub upstreams: Vec<UpstreamConfig>,
    pub routes: Vec<RouteConfig>,
    /// `[[policies]]`, then the inline policies of routes; routes refer to them by index.
    pub policies: Vec<PolicyConfig>,
    /// `[[rate_limits]]` (and the built-in `credentials` one with `[oauth]`).
    pub rate_limits: Vec<RateLimitConfig>,
    /// The claims identities keep, in the order they keep them: `groups`, `roles`, then every
    /// other claim a policy names. Nothing else of a token is stored.
    pub claims: Vec<String>,
    /// Present when the `[forward_auth]` section is: the decision endpoint is answered.
    pub forward_auth: Option<ForwardAuthConfig>,
    /// Browser sessions (routes with `on_missing = "sign_in"`); defaults when not written.
    pub sessions: SessionsConfig,
    /// `[assertion]`: the signed identity assertion sent upstream.
    pub assertion: Option<AssertionConfig>,
    /// Present when the `[tracing]` section is: spans are exported over OTLP/HTTP.
    pub tracing: Option<TracingConfig>,
}

impl Config {
    /// What is worth a warning but valid (`check-config` prints it, the start logs it).
    pub fn warnings(&self) -> Vec<String> {
        clients::openid_warnings(&self.clients, self.tokens.signing.is_some())
    }

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
        Self::parse(text, origin, Outside::Process)
    }

    /// `from_toml` consulting nothing but `text`: socket addresses must be literal, and a
    /// `${ENV}` value or a `*_file` key is a problem. For the fuzzer (`crate::fuzzing`).
    pub(crate) fn from_toml_sandboxed(text: &str, origin: &str) -> Result<Config, ConfigError> {
        Self::parse(text, origin, Outside::Nothing)
    }

    fn parse(text: &str, origin: &str, outside: Outside) -> Result<Config, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: origin.to_string(),
            message: e.to_string().trim_end().to_string(),
        })?;
        validate(raw, outside).map_err(|problems| ConfigError::Invalid {
            path: origin.to_string(),
            problems,
        })
    }
}

/// Checks every section, always in the same order, into one problem list: a section with
/// problems still yields what it can, so later sections (routes naming upstreams) are checked
/// against it.
fn validate(raw: RawConfig, outside: Outside) -> Result<Config, Vec<String>> {
    let mut p = Problems::new(outside);
    let server = server::validate_server(&mut p, raw.server);
    let log = server::validate_log(&mut p, raw.log);
    let tracing = raw
        .tracing
        .and_then(|t| traces::validate_tracing(&mut p, t));
    let store = store::validate_store(&mut p, raw.store);
    let local_issuer = server.as_ref().map(|s| s.public_url.as_str().to_string());
    let has_signing_keys = raw
        .tokens
        .signing_keys
        .as_ref()
        .is_some_and(|k| !k.is_empty());
    let tokens = tokens::validate_tokens(&mut p, raw.tokens, local_issuer.as_deref());
    let assertion = signing::validate_assertion(
        &mut p,
        raw.assertion,
        tokens.signing.as_ref(),
        has_signing_keys,
    );
    let cache = tokens::validate_cache(&mut p, raw.cache);
    let http = self::http::validate_http(&mut p, raw.http);
    let identity_headers = self::http::validate_identity_headers(&mut p, raw.identity_headers);
    let oauth = raw.oauth.map(|o| clients::validate_oauth(&mut p, o));
    let clients = clients::validate_clients(&mut p, raw.clients);
    let facebook = raw
        .facebook
        .and_then(|f| facebook::validate_facebook(&mut p, f));
    let jwt = raw.jwt.and_then(|j| jwt::validate_jwt(&mut p, j));
    if raw.sessions.is_some() && oauth.is_none() {
        p.push("sessions: declared without an [oauth] section (sessions are signed in through its pages)".into());
    }
    let declared = raw.sessions.is_some();
    let sessions = sessions::validate_sessions(
        &mut p,
        raw.sessions.unwrap_or_default(),
        server.as_ref(),
        declared,
    );
    if oauth.is_none() && !clients.is_empty() {
        p.push("clients: declared without an [oauth] section (add `[oauth]` to enable the authorization server)".into());
    }
    let upstreams = upstreams::validate_upstreams(&mut p, raw.upstreams);
    let mut compiler = policies::Compiler::new(local_issuer.as_deref());
    let mut policies = policies::validate_policies(&mut p, &mut compiler, raw.policies);
    let rate_limits = rate_limits::validate_rate_limits(&mut p, raw.rate_limits, oauth.is_some());
    let named = policies.len();
    let forward_auth = raw
        .forward_auth
        .map(|f| forward_auth::validate_forward_auth(&mut p, f, server.as_ref()));
    forward_auth::check_decision_only_routes(&mut p, &raw.routes, forward_auth.as_ref());
    let routes = routes::validate_routes(
        &mut p,
        raw.routes,
        &upstreams,
        oauth.as_ref(),
        facebook.is_some(),
        tokens.signing.is_some(),
        &mut routes::Referenced {
            policies: &mut policies,
            named,
            compiler: &mut compiler,
            rate_limits: &rate_limits,
        },
    );
    let claims = compiler.claims;
    check_assertion_routes(&mut p, &routes, assertion.as_ref());
    if let Some(f) = &forward_auth {
        forward_auth::check_shadowed_routes(&mut p, &routes, f);
    }

    if let Some(problems) = p.into_problems() {
        return Err(problems);
    }
    // A section that yields `None` has pushed a problem, so these are present here.
    let (Some(server), Some(store)) = (server, store) else {
        return Err(vec!["internal: missing validated value".into()]);
    };
    Ok(Config {
        server,
        log,
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
        policies,
        rate_limits,
        claims,
        forward_auth,
        sessions,
        assertion,
        tracing,
    })
}

/// A route that asks for an assertion needs `[assertion]`; `all_routes` asks for every
/// upstream route.
fn check_assertion_routes(
    p: &mut Problems,
    routes: &[RouteConfig],
    assertion: Option<&AssertionConfig>,
) {
    if assertion.is_none() {
        for r in routes.iter().filter(|r| r.assertion_audience.is_some()) {
            p.push(format!(
                "routes `{}`: `assertion = true` needs an [assertion] section (enabled)",
                r.name
            ));
        }
    }
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
    use std::time::Duration;

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
    fn enum_values_are_read_by_serde() {
        let text = MINIMAL.replace(
            "upstream = \"app\"",
            "upstream = \"app\"\nauth = \"public\"",
        )
            + "[log]\nformat = \"json\"\n[tokens]\nlegacy_locations = [\"query:oauth_token\"]\n";
        let c = Config::from_toml(&text, "t.toml").unwrap();
        assert_eq!(c.routes[0].auth, AuthMode::Public);
        assert_eq!(c.log.format, LogFormat::Json);
        assert!(c.tokens.legacy_query_param && !c.tokens.legacy_oauth_header);
    }

    #[test]
    fn every_section_reports_and_unknown_enum_values_name_their_key() {
        // One file, problems in several sections: all are listed, in file order.
        let text = MINIMAL.replace("upstream = \"app\"", "upstream = \"app\"\nauth = \"Public\"")
            + "[log]\nformat = \"xml\"\n[tokens]\nlegacy_locations = [\"cookie\"]\n[cache]\nttl = \"3x\"\n";
        let e = err(&text);
        let want = [
            "log.format: `xml` (use text or json)",
            "tokens.legacy_locations[0]: `cookie` (use oauth_header or query:oauth_token)",
            "cache.ttl: bad duration",
            "routes[0].auth: `Public` (use required, optional or public)",
        ];
        let at: Vec<usize> = want
            .iter()
            .map(|w| e.find(w).unwrap_or_else(|| panic!("{w} missing: {e}")))
            .collect();
        assert!(at.windows(2).all(|w| w[0] < w[1]), "{e}");
    }

    #[test]
    fn two_spellings_of_one_route_host_are_one_place() {
        let route = |host: &str, auth: &str| {
            format!("[[routes]]\npath_prefix = \"/\"\nhost = \"{host}\"\nupstream = \"app\"\nauth = \"{auth}\"\n")
        };
        // Found by the fuzz harness: both were accepted, and the table let the first shadow the second.
        let text = format!(
            "{MINIMAL}{}{}",
            route("Admin.Test.", "public"),
            route("admin.test", "required")
        );
        let e = err(&text);
        assert!(
            e.contains("routes[2]: duplicate route for host admin.test"),
            "{e}"
        );
        let c = Config::from_toml(&format!("{MINIMAL}{}", route("ADMIN.test.", "public")), "t")
            .unwrap();
        assert_eq!(c.routes[1].host.as_deref(), Some("admin.test"));
        assert!(
            err(&format!("{MINIMAL}{}", route("admin..test", "public"))).contains("routes[1].host")
        );
    }

    #[test]
    fn sandboxed_loading_consults_nothing_outside_the_text() {
        let literal = MINIMAL.replace("127.0.0.1:3000", "[::1]:3000");
        assert!(Config::from_toml_sandboxed(&literal, "t.toml").is_ok());
        std::env::set_var("GATEHOUSE_TEST_SANDBOX_URL", "sqlite://x.db");
        let url_file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(url_file.path(), "sqlite://x.db\n").unwrap();
        let url_file = url_file.path().display();
        for (text, key) in [
            (
                MINIMAL.replace("127.0.0.1:3000", "localhost:3000"),
                "upstreams[0].addrs[0]",
            ),
            (
                format!("{MINIMAL}[store]\nurl = \"${{GATEHOUSE_TEST_SANDBOX_URL}}\"\n"),
                "store.url",
            ),
            (
                format!("{MINIMAL}[store]\nurl_file = \"{url_file}\"\n"),
                "store.url_file",
            ),
        ] {
            assert!(Config::from_toml(&text, "t.toml").is_ok(), "{key}");
            let e = Config::from_toml_sandboxed(&text, "t.toml")
                .unwrap_err()
                .to_string();
            assert!(e.contains(key) && e.contains("here"), "{e}");
        }
    }

    #[test]
    fn unreadable_secret_is_named() {
        let e = err(&format!(
            "{MINIMAL}\n[store]\nurl_file = \"/nonexistent/secret\"\n"
        ));
        assert!(e.contains("store.url_file"), "{e}");
    }
}
