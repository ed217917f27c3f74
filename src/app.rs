//! Everything a request needs, built from the validated config and shared by the proxy and
//! the admin listener: the route and endpoint tables, the services behind them, the
//! validator, the renderer. Also the start-up checks that need the endpoint table.
//!
//! An `AppState` is one config *generation*: `AppState::generation` builds it, at start-up and
//! on every reload (`crate::reload`), from a `Config` and the `Lasting` parts that outlive
//! reloads (store, metrics, token and session caches). `Live` holds the current one; a request
//! loads it once and keeps it to its end, so a reload never changes a request half-way.

use crate::auth::{
    CachedValidator, JwtValidator, LocalJwtValidator, Locations, OpaqueStoreValidator,
    SelectingValidator, Sessions, TokenChecksum, TokenService, TokenValidator,
};
use crate::config::{Config, HandlerKind, RouteConfig, RouteTarget};
use crate::echo::{self, EchoService};
use crate::facebook::{self, FacebookService};
use crate::http::{
    endpoint, Assertions, CommonHeaders, EndpointTable, IdentityHeaders, Renderer, Verb,
};
use crate::jwks::{self, KeysService};
use crate::metrics::{LiveSeries, Metrics, RouteMetrics, UNMATCHED_ROUTE};
use crate::oauth::{self, OAuthServer};
use crate::ratelimit::RateLimiter;
use crate::routing::RouteTable;
use crate::store::StoreHandle;
use crate::upstream::UpstreamGroup;
use crate::users::api::UsersService;
use crate::users::passwords::PasswordHasher;
use arc_swap::ArcSwap;
use std::sync::Arc;

pub struct AppState {
    /// 1 at start-up, one more for each reload that was applied.
    pub generation: u64,
    pub config: Config,
    pub routes: RouteTable,
    /// Indexed like `config.routes`.
    pub route_metrics: Vec<RouteMetrics>,
    pub unmatched_metrics: RouteMetrics,
    /// Indexed like `config.upstreams`; a group a reload left unchanged is the same `Arc`.
    pub upstreams: Vec<Arc<UpstreamGroup>>,
    /// This generation's validators in front of the lasting caches (`Lasting::validator`).
    pub validator: Arc<CachedValidator>,
    /// Browser sessions of `on_missing = "sign_in"` routes (signed in by the OAuth pages).
    pub sessions: Arc<Sessions>,
    pub tokens: TokenService,
    pub store: StoreHandle,
    pub metrics: Arc<Metrics>,
    pub common_headers: CommonHeaders,
    pub identity_headers: IdentityHeaders,
    /// `[assertion]`: the signed identity assertion for upstreams (and the header stripped).
    pub assertions: Assertions,
    pub locations: Locations,
    /// Gatehouse's own endpoints, behind the routes whose target is a handler.
    pub endpoints: EndpointTable,
    pub renderer: Renderer,
    /// Per route index: one counter per rule of the route's policy, then the no-match one
    /// (`gatehouse_policy_decisions_total`); empty for routes without a policy.
    pub policy_counters: Vec<Vec<prometheus::IntCounter>>,
    pub rate_limiter: RateLimiter,
    /// The limit of the endpoints `mark_credential` marked (`credentials`).
    pub credentials_limit: Option<usize>,
    /// What the next generation is built on.
    pub lasting: Lasting,
}

/// What outlives a reload: built once at start-up, handed from generation to generation.
#[derive(Clone)]
pub struct Lasting {
    pub store: StoreHandle,
    pub checksum: Arc<TokenChecksum>,
    pub metrics: Arc<Metrics>,
    /// The token caches (the revocation feed evicts from them); each generation puts its own
    /// validators behind them (`CachedValidator::with_inner`).
    pub validator: Arc<CachedValidator>,
    pub sessions: Arc<Sessions>,
}

impl Lasting {
    /// `config` gives the settings of the lasting parts (`cache`, `sessions`): restart-only.
    pub fn new(
        config: &Config,
        store: StoreHandle,
        checksum: Arc<TokenChecksum>,
    ) -> Result<Lasting, String> {
        let metrics = Arc::new(Metrics::new().map_err(|e| format!("metrics: {e}"))?);
        // A placeholder inside: every generation puts its own validator in (`with_inner`), so
        // JWKS issuers are built (and fetch their keys) once per generation, not twice at start.
        let placeholder = Arc::new(OpaqueStoreValidator::new(store.clone(), metrics.clone()));
        let validator = Arc::new(CachedValidator::new(
            placeholder,
            &config.cache,
            metrics.clone(),
            checksum.clone(),
        ));
        let sessions = Arc::new(Sessions::new(
            store.clone(),
            config.sessions.clone(),
            &config.cache,
            metrics.clone(),
        ));
        Ok(Lasting {
            store,
            checksum,
            metrics,
            validator,
            sessions,
        })
    }
}

/// The generation serving new requests.
pub struct Live(ArcSwap<AppState>);

impl Live {
    pub fn new(state: Arc<AppState>) -> Self {
        Live(ArcSwap::new(state))
    }

    /// One atomic load; the caller keeps the generation for as long as it needs it.
    pub fn current(&self) -> Arc<AppState> {
        self.0.load_full()
    }

    /// New requests get `next`; those holding the previous one finish on it.
    pub fn replace(&self, next: Arc<AppState>) {
        self.0.store(next);
    }
}

/// The endpoints that take a password, a code or a refresh token: the built-in `credentials`
/// limit (per address) applies to them. Sign-up has its own limits (`oauth.sign_up`).
const CREDENTIAL_ENDPOINTS: [(HandlerKind, Verb, &str); 3] = [
    (HandlerKind::OAuth, Verb::Post, "/oauth/token"),
    (HandlerKind::OAuth, Verb::Post, "/oauth/sign-in"),
    (HandlerKind::OAuth, Verb::Post, "/oauth/authorize"),
];

impl AppState {
    /// Start-up: the lasting parts, then the first generation on them.
    pub fn build(
        config: Config,
        store: StoreHandle,
        checksum: Arc<TokenChecksum>,
    ) -> Result<Arc<AppState>, String> {
        let lasting = Lasting::new(&config, store, checksum)?;
        Ok(Arc::new(AppState::generation(config, lasting, None)?))
    }

    /// One generation: everything built from the config. The one constructor of start-up and
    /// of reloads, so whatever is added here is reloaded too. `previous` (on reload) lends
    /// what may be kept while its config is unchanged: upstream groups with their health
    /// state, rate-limit buckets.
    pub fn generation(
        config: Config,
        lasting: Lasting,
        previous: Option<&AppState>,
    ) -> Result<AppState, String> {
        check_routes(&config).map_err(|problems| problems.join("\n"))?;
        let Lasting {
            store,
            checksum,
            metrics,
            ..
        } = lasting.clone();
        let mut upstreams = Vec::new();
        for u in &config.upstreams {
            let kept = previous.and_then(|p| p.upstreams.iter().find(|g| g.config == *u));
            upstreams.push(match kept {
                Some(group) => group.clone(),
                None => Arc::new(UpstreamGroup::build(u, &metrics, store.runtime())?),
            });
        }
        let validator = Arc::new(lasting.validator.with_inner(token_validator(
            &config,
            store.clone(),
            metrics.clone(),
        )?));
        let sessions = lasting.sessions.clone();
        let mut endpoints =
            endpoint_table(&config, &store, &validator, &sessions, &checksum, &metrics)?;
        let credentials_limit = config
            .rate_limits
            .iter()
            .position(|l| l.name == crate::config::CREDENTIALS_LIMIT)
            .filter(|_| config.oauth.is_some());
        let mut extra = Vec::new();
        if let Some(limit) = credentials_limit {
            for (kind, verb, path) in CREDENTIAL_ENDPOINTS {
                if !endpoints.mark_credential(kind, verb, path) {
                    return Err(format!("internal: no credential endpoint {path}"));
                }
            }
            if let Some(route) = config.routes.iter().position(|r| {
                r.name == "oauth" && r.target == RouteTarget::Handler(HandlerKind::OAuth)
            }) {
                extra.push((route, limit));
            }
        }
        Ok(AppState {
            generation: previous.map_or(1, |p| p.generation + 1),
            policy_counters: policy_counters(&config, &metrics),
            rate_limiter: RateLimiter::new(
                &config,
                &metrics,
                &extra,
                previous.map(|p| &p.rate_limiter),
            )?,
            credentials_limit,
            routes: RouteTable::new(&config.routes),
            route_metrics: config
                .routes
                .iter()
                .map(|r| metrics.route(&r.name))
                .collect(),
            unmatched_metrics: metrics.route(UNMATCHED_ROUTE),
            upstreams,
            tokens: TokenService::new(store.clone(), validator.clone(), checksum),
            validator,
            sessions,
            store,
            common_headers: CommonHeaders::new(&config.http.cors)?,
            identity_headers: IdentityHeaders::new(
                &config.identity_headers,
                &config.server.trusted_proxies,
            )?,
            assertions: Assertions::new(&config),
            locations: Locations {
                oauth_header: config.tokens.legacy_oauth_header,
                query_param: config.tokens.legacy_query_param,
            },
            endpoints,
            renderer: Renderer::new(&config.tokens.realm),
            metrics,
            config,
            lasting,
        })
    }
}

/// Every (route, rule) series exists from start-up, at zero: names come only from the config.
fn policy_counters(config: &Config, metrics: &Metrics) -> Vec<Vec<prometheus::IntCounter>> {
    config
        .routes
        .iter()
        .map(|r| {
            policy_labels(config, r)
                .map(|(rule, result)| metrics.policy_decision(&r.name, rule, result))
                .collect()
        })
        .collect()
}

/// A route's policy counters as `(rule, result)`: one per rule of its policy, then the
/// no-match rule; none without a policy.
fn policy_labels<'c>(
    config: &'c Config,
    route: &RouteConfig,
) -> impl Iterator<Item = (&'c str, &'static str)> {
    let policy = route.policy.and_then(|i| config.policies.get(i));
    policy.into_iter().flat_map(|p| {
        p.rules
            .iter()
            .map(|rule| (rule.name.as_str(), rule.effect.label()))
            .chain(std::iter::once((p.default_rule.as_str(), "deny")))
    })
}

/// The names `config` gives its metric series, for `Metrics::retain` after a reload.
pub fn live_series(config: &Config) -> LiveSeries {
    LiveSeries {
        routes: config.routes.iter().map(|r| r.name.clone()).collect(),
        upstreams: config.upstreams.iter().map(|u| u.name.clone()).collect(),
        policy_decisions: config
            .routes
            .iter()
            .flat_map(|r| {
                policy_labels(config, r)
                    .map(|(rule, result)| (r.name.clone(), rule.to_owned(), result.to_owned()))
            })
            .collect(),
        rate_limits: config.rate_limits.iter().map(|l| l.name.clone()).collect(),
        issuers: config
            .jwt
            .iter()
            .flat_map(|j| &j.issuers)
            .map(|i| i.issuer.clone())
            .collect(),
    }
}

/// Each service registers its endpoints; those the config does not enable are not mounted.
fn endpoint_table(
    config: &Config,
    store: &StoreHandle,
    validator: &Arc<CachedValidator>,
    sessions: &Arc<Sessions>,
    checksum: &Arc<TokenChecksum>,
    metrics: &Arc<Metrics>,
) -> Result<EndpointTable, String> {
    let mut table = EndpointTable::default();
    if let Some(oauth_config) = &config.oauth {
        let passwords = Arc::new(PasswordHasher::new(
            store.clone(),
            oauth_config.max_concurrent_hashes,
            metrics.password_checks.clone(),
        )?);
        if let Some(server) = OAuthServer::new(
            config,
            store.clone(),
            validator.clone(),
            sessions.clone(),
            checksum.clone(),
            metrics.clone(),
            passwords.clone(),
        )? {
            let server = Arc::new(server);
            table.mount(HandlerKind::OAuth, "", &server, oauth::endpoints::ENDPOINTS);
        }
        if oauth_config.users_api {
            let users = Arc::new(UsersService::new(
                config,
                store.clone(),
                passwords,
                validator.clone(),
                sessions.clone(),
            ));
            table.mount(HandlerKind::Users, "", &users, crate::users::api::ENDPOINTS);
        }
    }
    if let (None, Some(keys)) = (&config.oauth, &config.tokens.signing) {
        let keys = Arc::new(KeysService { keys: keys.clone() });
        table.mount(HandlerKind::Keys, "", &keys, jwks::ENDPOINTS);
    }
    if let Some(fb) = FacebookService::new(config, store.clone(), metrics.clone())? {
        let fb = Arc::new(fb);
        for prefix in facebook::PREFIXES {
            table.mount(HandlerKind::Facebook, prefix, &fb, facebook::ENDPOINTS);
        }
    }
    table.mount(
        HandlerKind::Echo,
        "",
        &Arc::new(EchoService),
        echo::ENDPOINTS,
    );
    Ok(table)
}

/// The paths of the built-in endpoints the config enables, with the handler serving them.
fn builtin_paths(config: &Config) -> Vec<(HandlerKind, &'static str, String)> {
    let mut paths = Vec::new();
    let mut add = |kind, list: Vec<(&'static str, String)>| {
        paths.extend(list.into_iter().map(|(m, p)| (kind, m, p)));
    };
    if let Some(o) = &config.oauth {
        add(
            HandlerKind::OAuth,
            endpoint::declared_paths("", oauth::endpoints::ENDPOINTS),
        );
        if o.users_api {
            add(
                HandlerKind::Users,
                endpoint::declared_paths("", crate::users::api::ENDPOINTS),
            );
        }
    }
    if config.oauth.is_none() && config.tokens.signing.is_some() {
        add(
            HandlerKind::Keys,
            endpoint::declared_paths("", jwks::ENDPOINTS),
        );
    }
    if config.facebook.is_some() {
        for prefix in facebook::PREFIXES {
            add(
                HandlerKind::Facebook,
                endpoint::declared_paths(prefix, facebook::ENDPOINTS),
            );
        }
    }
    paths
}

/// Refuses a user route that would take requests meant for a built-in endpoint: a
/// host-specific route wins over the host-less built-in for that host, and a longer prefix
/// wins over a shorter one, so either can shadow `/oauth/token` and friends.
pub fn check_routes(config: &Config) -> Result<(), Vec<String>> {
    let table = RouteTable::new(&config.routes);
    let mut hosts: Vec<Option<&str>> = vec![None];
    hosts.extend(
        config
            .routes
            .iter()
            .filter_map(|r| r.host.as_deref().map(Some)),
    );
    hosts.dedup();
    let mut problems = Vec::new();
    for (kind, method, path) in builtin_paths(config) {
        for host in &hosts {
            let Some(route) = table.find(*host, &path) else {
                continue;
            };
            if route.target == RouteTarget::Handler(kind) {
                continue;
            }
            let problem = format!(
                "routes: `{}` (host {}, path_prefix `{}`) would shadow the built-in endpoint `{method} {path}`{}; narrow or remove that route",
                route.name,
                route.host.as_deref().unwrap_or("*"),
                route.path_prefix,
                host.map(|h| format!(" on host {h}")).unwrap_or_default(),
            );
            if !problems.contains(&problem) {
                problems.push(problem);
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

/// Opaque tokens from the store, JWTs from the `[[jwt.issuers]]` when any are configured (JWKS
/// issuers start fetching their keys on the store's runtime), and Gatehouse's own JWTs when it
/// has signing keys.
pub fn token_validator(
    config: &Config,
    store: StoreHandle,
    metrics: Arc<Metrics>,
) -> Result<Arc<dyn TokenValidator>, String> {
    let jwt = match &config.jwt {
        Some(j) => Some(Arc::new(JwtValidator::new(
            j,
            config.claims.clone().into(),
            Some(store.runtime()),
            &metrics,
        )?) as Arc<dyn TokenValidator>),
        None => None,
    };
    let opaque: Arc<dyn TokenValidator> = Arc::new(OpaqueStoreValidator::new(store, metrics));
    let selecting: Arc<dyn TokenValidator> = Arc::new(SelectingValidator {
        opaque: opaque.clone(),
        jwt,
    });
    // Our own JWTs first (`tokens.signing_keys`), then the rest as before.
    Ok(match &config.tokens.signing {
        Some(keys) => Arc::new(LocalJwtValidator::new(
            keys.clone(),
            opaque,
            selecting,
            config.jwt.is_some() || config.tokens.accept_unstructured,
        )),
        None => selecting,
    })
}
