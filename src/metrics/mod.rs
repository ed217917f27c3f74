//! The Prometheus registry and every metric handle, built once at start-up. Label values come
//! from config names and fixed enums only, so the series count cannot grow with traffic.

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts,
    Registry, TextEncoder,
};

mod retain;

pub use retain::LiveSeries;

pub const STATUS_CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// Handles for one route, resolved at start-up so the hot path does no label lookup.
pub struct RouteMetrics {
    by_class: [IntCounter; 5],
    duration: Histogram,
}

impl RouteMetrics {
    pub fn observe(&self, status: u16, seconds: f64) {
        let class = (status / 100).clamp(1, 5) as usize - 1;
        self.by_class[class].inc();
        self.duration.observe(seconds);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthDecision {
    Ok,
    Anonymous,
    Missing,
    Malformed,
    Invalid,
    Expired,
    InsufficientScope,
    Unavailable,
    /// `gth1_` without a checksum of ours: refused before the cache and the store.
    Forged,
    /// Not `gth1_` while `tokens.accept_unstructured` is off: refused without a lookup.
    Unstructured,
}

impl AuthDecision {
    pub const ALL: [AuthDecision; 10] = [
        AuthDecision::Ok,
        AuthDecision::Anonymous,
        AuthDecision::Missing,
        AuthDecision::Malformed,
        AuthDecision::Invalid,
        AuthDecision::Expired,
        AuthDecision::InsufficientScope,
        AuthDecision::Unavailable,
        AuthDecision::Forged,
        AuthDecision::Unstructured,
    ];

    /// The `result` label: a closed set, never request data.
    pub fn label(self) -> &'static str {
        match self {
            AuthDecision::Ok => "ok",
            AuthDecision::Anonymous => "anonymous",
            AuthDecision::Missing => "missing",
            AuthDecision::Malformed => "malformed",
            AuthDecision::Invalid => "invalid",
            AuthDecision::Expired => "expired",
            AuthDecision::InsufficientScope => "insufficient_scope",
            AuthDecision::Unavailable => "unavailable",
            AuthDecision::Forged => "forged",
            AuthDecision::Unstructured => "unstructured",
        }
    }

    /// Position in `ALL`; a match rather than `as usize`, so a new variant cannot index past
    /// the handles without the compiler noticing the missing arm.
    fn index(self) -> usize {
        match self {
            AuthDecision::Ok => 0,
            AuthDecision::Anonymous => 1,
            AuthDecision::Missing => 2,
            AuthDecision::Malformed => 3,
            AuthDecision::Invalid => 4,
            AuthDecision::Expired => 5,
            AuthDecision::InsufficientScope => 6,
            AuthDecision::Unavailable => 7,
            AuthDecision::Forged => 8,
            AuthDecision::Unstructured => 9,
        }
    }
}

/// Which front end asked for a forward-auth decision (`front_end` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrontEnd {
    /// The HTTP decision endpoint (nginx, Traefik, Caddy, Envoy's HTTP `ext_authz`).
    Http,
    /// Envoy's gRPC `ext_authz` (`forward_auth.grpc_listen`).
    Grpc,
}

impl FrontEnd {
    pub const ALL: [FrontEnd; 2] = [FrontEnd::Http, FrontEnd::Grpc];

    pub fn label(self) -> &'static str {
        match self {
            FrontEnd::Http => "http",
            FrontEnd::Grpc => "grpc",
        }
    }

    fn index(self) -> usize {
        match self {
            FrontEnd::Http => 0,
            FrontEnd::Grpc => 1,
        }
    }
}

/// How a forward-auth decision was answered (`gatehouse_forward_auth_decisions_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForwardAuthResult {
    /// 2xx: the ingress forwards the request.
    Allowed,
    /// 401: no usable token; or a browser sent to sign in (302, or 401 for nginx).
    Unauthenticated,
    /// 403: the token lacks a scope, or the route's rules refuse it.
    Forbidden,
    /// 403: the asking peer is not in `server.trusted_proxies`.
    Untrusted,
    /// 400: the described request is missing, ambiguous or unreadable.
    Invalid,
    /// 503: the token store could not be asked.
    Unavailable,
    /// Anything else (no route, method not allowed, internal error).
    Other,
}

impl ForwardAuthResult {
    pub const ALL: [ForwardAuthResult; 7] = [
        ForwardAuthResult::Allowed,
        ForwardAuthResult::Unauthenticated,
        ForwardAuthResult::Forbidden,
        ForwardAuthResult::Untrusted,
        ForwardAuthResult::Invalid,
        ForwardAuthResult::Unavailable,
        ForwardAuthResult::Other,
    ];

    pub fn label(self) -> &'static str {
        match self {
            ForwardAuthResult::Allowed => "allowed",
            ForwardAuthResult::Unauthenticated => "unauthenticated",
            ForwardAuthResult::Forbidden => "forbidden",
            ForwardAuthResult::Untrusted => "untrusted",
            ForwardAuthResult::Invalid => "invalid",
            ForwardAuthResult::Unavailable => "unavailable",
            ForwardAuthResult::Other => "other",
        }
    }

    /// Position in `ALL` (a match, for the reason given at `AuthDecision::index`).
    fn index(self) -> usize {
        match self {
            ForwardAuthResult::Allowed => 0,
            ForwardAuthResult::Unauthenticated => 1,
            ForwardAuthResult::Forbidden => 2,
            ForwardAuthResult::Untrusted => 3,
            ForwardAuthResult::Invalid => 4,
            ForwardAuthResult::Unavailable => 5,
            ForwardAuthResult::Other => 6,
        }
    }
}

pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    durations: HistogramVec,

    upstream_errors: IntCounterVec,
    pub cache_hit: IntCounter,
    pub cache_miss: IntCounter,
    pub cache_negative_hit: IntCounter,
    pub token_store_lookups: IntCounter,
    pub login_failures: IntCounter,
    /// Client connections closed at once because `server.max_connections` were open.
    pub connections_refused: IntCounter,
    /// 1 when the last readiness check (every `/readyz` and `/metrics` request) passed, else 0.
    pub ready: IntGauge,
    pub password_checks: IntCounter,
    /// `gatehouse_config_reloads_total{result="ok"}` and `{result="error"}`.
    pub reloads_ok: IntCounter,
    pub reloads_error: IntCounter,
    /// The config generation serving new requests: 1 at start, +1 per applied reload.
    pub config_generation: IntGauge,
    tokens_issued: IntCounterVec,
    facebook_requests: IntCounterVec,
    policy_decisions: IntCounterVec,
    rate_limited: IntCounterVec,
    rate_limit_backend_errors: IntCounterVec,
    jwks_fetches: IntCounterVec,
    /// Indexed by `AuthDecision::index`, which covers every variant.
    decision_handles: [IntCounter; AuthDecision::ALL.len()],
    /// Indexed by `FrontEnd::index`, then `ForwardAuthResult::index`.
    forward_auth_handles: [[IntCounter; ForwardAuthResult::ALL.len()]; FrontEnd::ALL.len()],
}

impl Metrics {
    pub fn new() -> Result<Metrics, prometheus::Error> {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "gatehouse_requests_total",
                "Requests answered, by route and status class",
            ),
            &["route", "status_class"],
        )?;
        let durations = HistogramVec::new(
            HistogramOpts::new(
                "gatehouse_request_duration_seconds",
                "Time from request start to the end of the response, by route",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                10.0,
            ]),
            &["route"],
        )?;
        let auth_decisions = IntCounterVec::new(
            Opts::new(
                "gatehouse_auth_decisions_total",
                "Authentication decisions, by result",
            ),
            &["result"],
        )?;
        let cache = IntCounterVec::new(
            Opts::new(
                "gatehouse_token_cache_total",
                "Token cache lookups, by result",
            ),
            &["result"],
        )?;
        let upstream_errors = IntCounterVec::new(
            Opts::new(
                "gatehouse_upstream_errors_total",
                "Requests that failed to reach or be answered by an upstream",
            ),
            &["upstream"],
        )?;
        let token_store_lookups = IntCounter::new(
            "gatehouse_token_store_lookups_total",
            "Presented tokens looked up in the store: validations on a cache miss, and the refresh tokens, codes and tokens to introspect or revoke of the OAuth endpoints",
        )?;
        let connections_refused = IntCounter::new(
            "gatehouse_connections_refused_total",
            "Client connections closed on accept because server.max_connections were open",
        )?;
        registry.register(Box::new(connections_refused.clone()))?;
        let ready = IntGauge::new(
            "gatehouse_ready",
            "1 when the last readiness check passed (store answers, every upstream has a healthy address), else 0",
        )?;
        registry.register(Box::new(ready.clone()))?;
        let login_failures = IntCounter::new(
            "gatehouse_login_failures_total",
            "Failed or throttled credential checks (passwords, client secrets)",
        )?;
        let tokens_issued = IntCounterVec::new(
            Opts::new(
                "gatehouse_tokens_issued_total",
                "Access tokens issued, by grant",
            ),
            &["grant"],
        )?;
        let password_checks = IntCounter::new(
            "gatehouse_password_checks_total",
            "argon2 verifications run (passwords, hashed client secrets, dummy checks for unknown users)",
        )?;
        let facebook_requests = IntCounterVec::new(
            Opts::new(
                "gatehouse_facebook_requests_total",
                "Graph API calls, by endpoint and outcome",
            ),
            &["endpoint", "outcome"],
        )?;
        registry.register(Box::new(facebook_requests.clone()))?;
        let policy_decisions = IntCounterVec::new(
            Opts::new(
                "gatehouse_policy_decisions_total",
                "Route policy decisions, by route, deciding rule (from the config) and result",
            ),
            &["route", "rule", "result"],
        )?;
        let rate_limited = IntCounterVec::new(
            Opts::new(
                "gatehouse_rate_limited_total",
                "Requests refused with 429 by a rate limit, by route and limit",
            ),
            &["route", "limit"],
        )?;
        let rate_limit_backend_errors = IntCounterVec::new(
            Opts::new(
                "gatehouse_rate_limit_backend_errors_total",
                "Rate-limit checks the shared backend (Redis) could not answer, by limit and by what the request got (fail_mode open or closed)",
            ),
            &["limit", "fail_mode"],
        )?;
        let jwks_fetches = IntCounterVec::new(
            Opts::new(
                "gatehouse_jwks_fetches_total",
                "JWKS fetches of external issuers, by issuer and result (ok, unreachable, status, too_large, invalid)",
            ),
            &["issuer", "result"],
        )?;
        registry.register(Box::new(jwks_fetches.clone()))?;
        registry.register(Box::new(policy_decisions.clone()))?;
        registry.register(Box::new(rate_limited.clone()))?;
        registry.register(Box::new(rate_limit_backend_errors.clone()))?;
        registry.register(Box::new(password_checks.clone()))?;
        registry.register(Box::new(login_failures.clone()))?;
        registry.register(Box::new(tokens_issued.clone()))?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(durations.clone()))?;
        registry.register(Box::new(auth_decisions.clone()))?;
        registry.register(Box::new(cache.clone()))?;
        registry.register(Box::new(upstream_errors.clone()))?;
        registry.register(Box::new(token_store_lookups.clone()))?;
        let decision_handles =
            AuthDecision::ALL.map(|d| auth_decisions.with_label_values(&[d.label()]));
        let forward_auth = IntCounterVec::new(
            Opts::new(
                "gatehouse_forward_auth_decisions_total",
                "Forward-auth decisions, by front end (HTTP endpoint or gRPC ext_authz) and result",
            ),
            &["front_end", "result"],
        )?;
        registry.register(Box::new(forward_auth.clone()))?;
        let reloads = IntCounterVec::new(
            Opts::new(
                "gatehouse_config_reloads_total",
                "Config reloads (SIGHUP, `gatehouse reload`), by result: ok (applied) or error (refused, the running config kept)",
            ),
            &["result"],
        )?;
        registry.register(Box::new(reloads.clone()))?;
        let config_generation = IntGauge::new(
            "gatehouse_config_generation",
            "The config generation new requests get: 1 at start, one more per applied reload",
        )?;
        registry.register(Box::new(config_generation.clone()))?;
        let forward_auth_handles = FrontEnd::ALL.map(|f| {
            ForwardAuthResult::ALL.map(|r| forward_auth.with_label_values(&[f.label(), r.label()]))
        });
        Ok(Metrics {
            reloads_ok: reloads.with_label_values(&["ok"]),
            reloads_error: reloads.with_label_values(&["error"]),
            config_generation,
            cache_hit: cache.with_label_values(&["hit"]),
            cache_miss: cache.with_label_values(&["miss"]),
            cache_negative_hit: cache.with_label_values(&["negative_hit"]),
            registry,
            requests,
            durations,

            upstream_errors,
            token_store_lookups,
            login_failures,
            connections_refused,
            ready,
            password_checks,
            tokens_issued,
            facebook_requests,
            policy_decisions,
            rate_limited,
            rate_limit_backend_errors,
            jwks_fetches,
            decision_handles,
            forward_auth_handles,
        })
    }

    pub fn route(&self, name: &str) -> RouteMetrics {
        RouteMetrics {
            by_class: STATUS_CLASSES.map(|c| self.requests.with_label_values(&[name, c])),
            duration: self.durations.with_label_values(&[name]),
        }
    }

    pub fn upstream_errors(&self, upstream: &str) -> IntCounter {
        self.upstream_errors.with_label_values(&[upstream])
    }

    pub fn auth_decision(&self, d: AuthDecision) {
        if let Some(h) = self.decision_handles.get(d.index()) {
            h.inc();
        }
    }

    pub fn forward_auth_decision(&self, front_end: FrontEnd, r: ForwardAuthResult) {
        let handles = self.forward_auth_handles.get(front_end.index());
        if let Some(h) = handles.and_then(|h| h.get(r.index())) {
            h.inc();
        }
    }

    /// Both labels are fixed names from the Graph client, never request data.
    pub fn facebook_request(&self, endpoint: &'static str, outcome: &'static str) {
        self.facebook_requests
            .with_label_values(&[endpoint, outcome])
            .inc();
    }

    /// `grant` is one of the fixed grant names, never client input.
    pub fn token_issued(&self, grant: &'static str) {
        self.tokens_issued.with_label_values(&[grant]).inc();
    }

    /// Resolved once per (route, rule) at start-up: names come from the config.
    pub fn policy_decision(&self, route: &str, rule: &str, result: &str) -> IntCounter {
        self.policy_decisions
            .with_label_values(&[route, rule, result])
    }

    /// Resolved once per (route, limit) at start-up.
    pub fn rate_limited(&self, route: &str, limit: &str) -> IntCounter {
        self.rate_limited.with_label_values(&[route, limit])
    }

    /// `issuer` is a configured issuer, `result` a fixed label.
    pub fn jwks_fetch(&self, issuer: &str, result: &'static str) {
        self.jwks_fetches.with_label_values(&[issuer, result]).inc();
    }

    /// `fail_mode` is `open` or `closed`.
    pub fn rate_limit_backend_error(&self, limit: &str, fail_mode: &str) -> IntCounter {
        self.rate_limit_backend_errors
            .with_label_values(&[limit, fail_mode])
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(8 * 1024);
        // Encoding into a Vec cannot fail on I/O; a metric-family error would be a bug.
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            tracing::error!(error = %e, "metrics encoding failed");
        }
        out
    }
}

#[cfg(test)]
mod decision_tests {
    use super::*;

    #[test]
    fn every_decision_has_its_own_counter() {
        for (i, d) in AuthDecision::ALL.into_iter().enumerate() {
            assert_eq!(d.index(), i, "{d:?}");
        }
        let m = Metrics::new().unwrap();
        for d in AuthDecision::ALL {
            m.auth_decision(d);
        }
        let text = String::from_utf8(m.render()).unwrap();
        for d in AuthDecision::ALL {
            let series = format!(
                "gatehouse_auth_decisions_total{{result=\"{}\"}} 1",
                d.label()
            );
            assert!(text.contains(&series), "{series} missing:\n{text}");
        }
    }

    #[test]
    fn every_forward_auth_result_has_its_own_counter_per_front_end() {
        let m = Metrics::new().unwrap();
        for (i, f) in FrontEnd::ALL.into_iter().enumerate() {
            assert_eq!(f.index(), i, "{f:?}");
            for (i, r) in ForwardAuthResult::ALL.into_iter().enumerate() {
                assert_eq!(r.index(), i, "{r:?}");
                m.forward_auth_decision(f, r);
            }
        }
        let text = String::from_utf8(m.render()).unwrap();
        for f in FrontEnd::ALL {
            for r in ForwardAuthResult::ALL {
                let series = format!(
                    "gatehouse_forward_auth_decisions_total{{front_end=\"{}\",result=\"{}\"}} 1",
                    f.label(),
                    r.label()
                );
                assert!(text.contains(&series), "{series} missing:\n{text}");
            }
        }
    }
}
