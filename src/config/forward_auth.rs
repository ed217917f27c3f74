//! `[forward_auth]`: the decision endpoint an existing ingress (nginx `auth_request`, Traefik
//! `ForwardAuth`, Caddy `forward_auth`, Envoy HTTP `ext_authz`) asks before it forwards a
//! request, where it listens, and where Envoy's gRPC `ext_authz` asks.

use super::raw::{RawForwardAuth, RawRoute};
use super::{Problems, RouteConfig, ServerConfig};
use crate::path::normalize_path;
use std::net::SocketAddr;

pub const DEFAULT_PATH: &str = "/_gatehouse/auth";

#[derive(Debug, Clone)]
pub struct ForwardAuthConfig {
    /// Normalized, no trailing `/`. Envoy appends the original path to it, so everything
    /// under it is a decision request too.
    pub path: String,
    /// A listener of its own; `None`: the proxy listener answers decisions at `path`.
    pub listen: Option<SocketAddr>,
    /// Envoy's gRPC `ext_authz` (`envoy.service.auth.v3.Authorization`) and gRPC health.
    pub grpc_listen: Option<SocketAddr>,
}

pub(super) fn validate_forward_auth(
    p: &mut Problems,
    raw: RawForwardAuth,
    server: Option<&ServerConfig>,
) -> ForwardAuthConfig {
    let path = raw.path.unwrap_or_else(|| DEFAULT_PATH.to_string());
    let normalized = normalize_path(&path).is_ok_and(|n| n == path);
    if !normalized || path == "/" || path.ends_with('/') || path.contains('?') {
        p.push(format!(
            "forward_auth.path: `{path}` must be a normalized absolute path below `/`, without a trailing `/` or a query"
        ));
    }
    let listen = raw
        .listen
        .and_then(|l| p.socket_addr("forward_auth.listen", &l));
    let grpc_listen = raw
        .grpc_listen
        .and_then(|l| p.socket_addr("forward_auth.grpc_listen", &l));
    let mut taken: Vec<(&str, SocketAddr)> = server
        .map(|s| {
            let mut t = vec![("server.admin_listen", s.admin_listen)];
            t.extend(s.listen.map(|l| ("server.listen", l)));
            t.extend(s.tls.as_ref().map(|l| ("server.tls.listen", l.listen)));
            t
        })
        .unwrap_or_default();
    for (key, addr) in [
        ("forward_auth.listen", listen),
        ("forward_auth.grpc_listen", grpc_listen),
    ] {
        let Some(addr) = addr else { continue };
        if let Some((other, _)) = taken.iter().find(|(_, t)| addr.port() != 0 && *t == addr) {
            p.push(format!("{key}: {addr} is already {other}"));
        }
        taken.push((key, addr));
    }
    if server.is_some_and(|s| s.trusted_proxies.is_empty()) {
        // Decisions are answered only to trusted peers: without any, every one is refused.
        p.push(
            "forward_auth: server.trusted_proxies is empty; list the ingress addresses that ask for decisions"
                .into(),
        );
    }
    ForwardAuthConfig {
        path,
        listen,
        grpc_listen,
    }
}

/// A route without `upstream` or `handler` exists only to be asked about; that needs
/// `[forward_auth]`. Checked on the routes as written, so the key names the file's entry.
pub(super) fn check_decision_only_routes(
    p: &mut Problems,
    raw: &[RawRoute],
    forward_auth: Option<&ForwardAuthConfig>,
) {
    if forward_auth.is_some() {
        return;
    }
    for (i, r) in raw.iter().enumerate() {
        if r.upstream.is_none() && r.handler.is_none() {
            p.push(format!(
                "routes[{i}]: needs `upstream` or `handler` (a route without either exists only for decisions, and needs a [forward_auth] section)"
            ));
        }
    }
}

/// On the proxy listener everything at or under `forward_auth.path` is a decision request,
/// so a route there could never be reached.
pub(super) fn check_shadowed_routes(
    p: &mut Problems,
    routes: &[RouteConfig],
    forward_auth: &ForwardAuthConfig,
) {
    if forward_auth.listen.is_some() {
        return;
    }
    let under = |prefix: &str| {
        prefix == forward_auth.path
            || prefix
                .strip_prefix(forward_auth.path.as_str())
                .is_some_and(|rest| rest.starts_with('/'))
    };
    for r in routes.iter().filter(|r| under(&r.path_prefix)) {
        p.push(format!(
            "routes: `{}` (path_prefix `{}`) lies under forward_auth.path, which answers decisions on the proxy listener; move it or give forward_auth its own listen address",
            r.name, r.path_prefix
        ));
    }
}
