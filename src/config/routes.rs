//! The `[[routes]]` list and the routes Gatehouse mounts itself for `[oauth]` and `[facebook]`:
//! what each route matches (host, normalized prefix), where it goes and how it authenticates.

use super::policies::{compile_policy, Compiler, PolicyConfig};
use super::raw::{OneOf, RawPolicyRef, RawRoute, RouteHandler};
use super::{is_scope_token, OAuthConfig, Problems, RateLimitConfig, UpstreamConfig};
use crate::host::normalize_host;
use crate::path::normalize_path;
use serde::Deserialize;
use std::collections::HashSet;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMode {
    Required,
    Optional,
    Public,
}

/// What a route answers a request without credentials (`routes.on_missing`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum OnMissing {
    /// 401 with `WWW-Authenticate: Bearer`, for every client.
    #[serde(rename = "401")]
    Unauthorized,
    /// Browsers (a GET or HEAD accepting `text/html`) are sent to sign in and get a session
    /// cookie; every other client still gets the 401. Session cookies are accepted here only.
    #[serde(rename = "sign_in")]
    SignIn,
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
    /// The published signing keys alone, when there is no `[oauth]` to serve them.
    Keys,
}

impl From<RouteHandler> for HandlerKind {
    fn from(handler: RouteHandler) -> Self {
        match handler {
            RouteHandler::Echo => HandlerKind::Echo,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteTarget {
    /// Index into `Config::upstreams`.
    Upstream(usize),
    Handler(HandlerKind),
    /// Neither: the route only answers forward-auth decisions (the ingress carries the
    /// traffic); the proxy refuses it with 404.
    Decisions,
}

#[derive(Debug, Clone)]
pub struct RouteConfig {
    pub name: String,
    pub host: Option<String>,
    pub path_prefix: String,
    pub target: RouteTarget,
    pub auth: AuthMode,
    pub on_missing: OnMissing,
    pub scopes: Vec<String>,
    /// Accept `Authorization: OAuth` here even when `tokens.legacy_locations` does not (the
    /// seed clients use it on the users API).
    pub accept_oauth_header: bool,
    /// Send the client's `Authorization` header upstream. Off by default: the identity
    /// headers are the upstream's contract, and an upstream that logs headers would log tokens.
    pub forward_authorization: bool,
    /// Index into `Config::policies`; `None`: no rules beyond `auth` and `scopes`.
    pub policy: Option<usize>,
    /// Indexes into `Config::rate_limits`, each one checked.
    pub rate_limits: Vec<usize>,
    /// The `aud` of the signed identity assertion this route's upstream gets (`[assertion]`);
    /// `None`: no assertion unless `assertion.all_routes` (then the upstream's name).
    pub assertion_audience: Option<String>,
    /// `assertion = false` written on the route: none even with `assertion.all_routes`.
    pub assertion_off: bool,
}

/// What routes refer to by name, and where inline policies are added.
pub(super) struct Referenced<'a, 'c> {
    pub policies: &'a mut Vec<PolicyConfig>,
    /// How many of `policies` are `[[policies]]` entries (the rest are inline ones).
    pub named: usize,
    pub compiler: &'a mut Compiler<'c>,
    pub rate_limits: &'a [RateLimitConfig],
}

/// What the routes seen so far already claim: a route must not repeat another's place or name.
#[derive(Default)]
struct Claimed {
    places: HashSet<(Option<String>, String)>,
    names: HashSet<String>,
}

/// The file's routes, then the built-in ones of the sections present (`oauth`, and
/// `facebook` when `with_facebook`; the key set alone when `publish_keys`); a file route on a
/// built-in prefix or name is a problem.
pub(super) fn validate_routes(
    p: &mut Problems,
    raw: Vec<RawRoute>,
    upstreams: &[UpstreamConfig],
    oauth: Option<&OAuthConfig>,
    with_facebook: bool,
    publish_keys: bool,
    refs: &mut Referenced<'_, '_>,
) -> Vec<RouteConfig> {
    let mut claimed = Claimed::default();
    let mut routes: Vec<RouteConfig> = raw
        .into_iter()
        .enumerate()
        .filter_map(|(i, r)| {
            let key = format!("routes[{i}]");
            let route = validate_route(p, &key, r, upstreams, &mut claimed, refs)?;
            if route.on_missing == OnMissing::SignIn && oauth.is_none() {
                p.push(format!(
                    "{key}.on_missing: `sign_in` needs the [oauth] section (its sign-in page and users)"
                ));
            }
            Some(route)
        })
        .collect();
    let mut builtins = oauth.map(oauth_routes).unwrap_or_default();
    if oauth.is_none() && publish_keys {
        builtins.push(builtin(
            "jwks",
            crate::signing::JWKS_PATH,
            HandlerKind::Keys,
            AuthMode::Public,
            false,
        ));
    }
    if with_facebook {
        builtins.extend(facebook_routes());
    }
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
    routes
}

/// One file route; `None` when it has no usable target (a problem is pushed).
fn validate_route(
    p: &mut Problems,
    key: &str,
    r: RawRoute,
    upstreams: &[UpstreamConfig],
    claimed: &mut Claimed,
    refs: &mut Referenced<'_, '_>,
) -> Option<RouteConfig> {
    let prefix = match normalize_path(&r.path_prefix) {
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
    // Spelled as requests are normalized, so two spellings of one host (`admin.test.`,
    // `ADMIN.test`) are one place and the duplicate check below sees them.
    let host = r.host.map(|h| {
        if h.is_empty() || h.contains(['/', ' ', ':']) {
            p.push(format!(
                "{key}.host: `{h}` must be a bare host name (no port)"
            ));
            return h.to_ascii_lowercase();
        }
        match normalize_host(h.as_bytes()) {
            Ok(n) => n.into_owned(),
            Err(e) => {
                p.push(format!("{key}.host: `{h}`: {e}"));
                h.to_ascii_lowercase()
            }
        }
    });
    if !claimed.places.insert((host.clone(), prefix.clone())) {
        p.push(format!(
            "{key}: duplicate route for host {} and path_prefix `{prefix}`",
            host.as_deref().unwrap_or("*")
        ));
    }
    let target = validate_target(p, key, r.upstream, r.handler, upstreams);
    let auth = p.choice(r.auth, AuthMode::Required, |other| {
        format!("{key}.auth: `{other}` (use required, optional or public)")
    });
    let on_missing = p.choice(r.on_missing, OnMissing::Unauthorized, |other| {
        format!("{key}.on_missing: `{other}` (use \"401\" or sign_in)")
    });
    if on_missing == OnMissing::SignIn {
        if auth != AuthMode::Required {
            p.push(format!(
                "{key}.on_missing: `sign_in` needs auth = \"required\" (a route that lets anonymous requests through has nothing to sign in for)"
            ));
        }
        if !r.scopes.is_empty() {
            p.push(format!(
                "{key}.on_missing: `sign_in` sessions carry no scopes, so they could never pass this route's `scopes`; use a policy (groups) instead"
            ));
        }
    }
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
    if !claimed.names.insert(name.clone()) {
        p.push(format!("{key}.name: duplicate route name `{name}`"));
    }
    let policy = match r.policy {
        None => None,
        Some(RawPolicyRef::Named(wanted)) => {
            let found = refs.policies[..refs.named]
                .iter()
                .position(|x| x.name == wanted);
            if found.is_none() {
                p.push(format!("{key}.policy: no policy named `{wanted}`"));
            }
            found
        }
        Some(RawPolicyRef::Inline(rules)) => {
            let compiled = compile_policy(
                p,
                refs.compiler,
                &format!("{key}.policy"),
                name.clone(),
                rules,
            );
            refs.policies.push(compiled);
            Some(refs.policies.len() - 1)
        }
    };
    let assertion_audience = match (r.assertion, r.assertion_audience, &target) {
        (Some(true), aud, Some(RouteTarget::Upstream(i))) => {
            aud.or_else(|| upstreams.get(*i).map(|u| u.name.clone()))
        }
        (Some(true), _, Some(_)) => {
            p.push(format!(
                "{key}.assertion: only routes to an upstream get an assertion"
            ));
            None
        }
        (Some(false) | None, Some(_), _) => {
            p.push(format!(
                "{key}.assertion_audience: set without `assertion = true`"
            ));
            None
        }
        _ => None,
    };
    let mut rate_limits = Vec::new();
    for wanted in r.rate_limit.map(|l| l.into_vec()).unwrap_or_default() {
        match refs.rate_limits.iter().position(|l| l.name == wanted) {
            Some(i) if rate_limits.contains(&i) => {
                p.push(format!("{key}.rate_limit: `{wanted}` given twice"))
            }
            Some(i) => rate_limits.push(i),
            None => p.push(format!("{key}.rate_limit: no rate limit named `{wanted}`")),
        }
    }
    Some(RouteConfig {
        name,
        host,
        path_prefix: prefix,
        target: target?,
        auth,
        on_missing,
        scopes: r.scopes,
        accept_oauth_header: false,
        forward_authorization: r.forward_authorization.unwrap_or(false),
        policy,
        rate_limits,
        assertion_audience,
        assertion_off: r.assertion == Some(false),
    })
}
/// Exactly one of `upstream` (by name) or `handler`.
fn validate_target(
    p: &mut Problems,
    key: &str,
    upstream: Option<String>,
    handler: Option<OneOf<RouteHandler>>,
    upstreams: &[UpstreamConfig],
) -> Option<RouteTarget> {
    match (upstream, handler) {
        (Some(u), None) => match upstreams.iter().position(|x| x.name == u) {
            Some(idx) => Some(RouteTarget::Upstream(idx)),
            None => {
                p.push(format!("{key}.upstream: no upstream named `{u}`"));
                None
            }
        },
        (None, Some(OneOf::Known(h))) => Some(RouteTarget::Handler(h.into())),
        (None, Some(OneOf::Unknown(other))) => {
            p.push(format!(
                "{key}.handler: unknown handler `{other}` (known: echo)"
            ));
            None
        }
        (Some(_), Some(_)) => {
            p.push(format!(
                "{key}: give either `upstream` or `handler`, not both"
            ));
            None
        }
        // Allowed only with `[forward_auth]`, which `forward_auth::check_decision_only_routes`
        // checks (this function does not see the other sections).
        (None, None) => Some(RouteTarget::Decisions),
    }
}

/// A built-in route: Gatehouse's own handler under `prefix`, with nothing from the file.
fn builtin(
    name: &str,
    prefix: &str,
    kind: HandlerKind,
    auth: AuthMode,
    legacy: bool,
) -> RouteConfig {
    RouteConfig {
        name: name.into(),
        host: None,
        path_prefix: prefix.into(),
        target: RouteTarget::Handler(kind),
        auth,
        on_missing: OnMissing::Unauthorized,
        scopes: vec![],
        accept_oauth_header: legacy,
        forward_authorization: false,
        policy: None,
        rate_limits: vec![],
        assertion_audience: None,
        assertion_off: false,
    }
}

/// Routes the authorization server mounts itself when `[oauth]` is present.
fn oauth_routes(oauth: &OAuthConfig) -> Vec<RouteConfig> {
    let r = builtin;
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
        r(
            "openid-configuration",
            "/.well-known/openid-configuration",
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
    [
        ("facebook", "/facebook"),
        (
            "social-media-posting",
            "/social-media-posting/oauth/facebook",
        ),
    ]
    .into_iter()
    .map(|(name, prefix)| builtin(name, prefix, HandlerKind::Facebook, AuthMode::Public, false))
    .collect()
}
