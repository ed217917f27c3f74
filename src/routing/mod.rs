//! The route table: picks the route for a request from its Host and normalized path.
//! Host-specific routes win over host-less ones; among those, the longest path prefix wins,
//! matched on whole segments (`/api` matches `/api` and `/api/x`, not `/apix`).

// The normalisers live in the leaf modules `host` and `path` so that `config` (route hosts and
// prefixes) can use them without importing routing; re-exported here because the proxy
// normalizes and routes together.
pub use crate::host::{normalize_host, HostError};
pub use crate::path::{normalize_path, PathError};

use crate::config::{AuthMode, OnMissing, RouteConfig, RouteTarget};

#[derive(Debug)]
pub struct Route {
    pub index: usize,
    pub name: String,
    pub host: Option<String>,
    pub path_prefix: String,
    pub target: RouteTarget,
    pub auth: AuthMode,
    pub on_missing: OnMissing,
    pub scopes: Vec<String>,
    pub accept_oauth_header: bool,
    /// Copied from the config so the proxy needs no further lookup: index into
    /// `Config::policies`, and into `Config::rate_limits`.
    pub policy: Option<usize>,
    pub rate_limits: Vec<usize>,
}

#[derive(Debug)]
pub struct RouteTable {
    /// Sorted so that the first match is the best one.
    routes: Vec<Route>,
}

impl RouteTable {
    pub fn new(configs: &[RouteConfig]) -> Self {
        let mut routes: Vec<Route> = configs
            .iter()
            .enumerate()
            .map(|(index, c)| Route {
                index,
                name: c.name.clone(),
                // Compared with the request's normalized host, so spelled the same way.
                host: c.host.as_deref().map(|h| {
                    normalize_host(h.as_bytes())
                        .map(|h| h.into_owned())
                        .unwrap_or_else(|_| h.to_ascii_lowercase())
                }),
                path_prefix: c.path_prefix.clone(),
                target: c.target.clone(),
                auth: c.auth,
                on_missing: c.on_missing,
                scopes: c.scopes.clone(),
                accept_oauth_header: c.accept_oauth_header,
                policy: c.policy,
                rate_limits: c.rate_limits.clone(),
            })
            .collect();
        routes.sort_by(|a, b| {
            b.host
                .is_some()
                .cmp(&a.host.is_some())
                .then(b.path_prefix.len().cmp(&a.path_prefix.len()))
        });
        RouteTable { routes }
    }

    /// `host` comes from `normalize_host`; `path` is already normalized.
    pub fn find(&self, host: Option<&str>, path: &str) -> Option<&Route> {
        self.routes.iter().find(|r| {
            let host_ok = match (&r.host, host) {
                (None, _) => true,
                (Some(want), Some(got)) => want == got,
                (Some(_), None) => false,
            };
            host_ok && prefix_matches(&r.path_prefix, path)
        })
    }

    pub fn routes_by_index(&self) -> Vec<&Route> {
        let mut v: Vec<&Route> = self.routes.iter().collect();
        v.sort_by_key(|r| r.index);
        v
    }
}

fn prefix_matches(prefix: &str, path: &str) -> bool {
    if prefix == "/" {
        return true;
    }
    match path.strip_prefix(prefix) {
        Some(rest) => rest.is_empty() || rest.starts_with('/'),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(name: &str, host: Option<&str>, prefix: &str) -> RouteConfig {
        RouteConfig {
            name: name.into(),
            host: host.map(Into::into),
            path_prefix: prefix.into(),
            target: RouteTarget::Upstream(0),
            auth: AuthMode::Public,
            on_missing: OnMissing::Unauthorized,
            scopes: vec![],
            accept_oauth_header: false,
            forward_authorization: false,
            policy: None,
            rate_limits: vec![],
            assertion_audience: None,
            assertion_off: false,
        }
    }

    #[test]
    fn longest_prefix_and_host_win() {
        let t = RouteTable::new(&[
            route("root", None, "/"),
            route("api", None, "/api"),
            route("api-v2", None, "/api/v2"),
            route("admin-host", Some("admin.example.com"), "/"),
        ]);
        let name = |h: Option<&str>, p: &str| {
            let h = h.map(|h| normalize_host(h.as_bytes()).unwrap());
            t.find(h.as_deref(), p).map(|r| r.name.as_str())
        };
        assert_eq!(name(None, "/api/v2/x"), Some("api-v2"));
        assert_eq!(name(None, "/api/v1"), Some("api"));
        assert_eq!(name(None, "/api"), Some("api"));
        assert_eq!(name(None, "/apix"), Some("root"));
        assert_eq!(name(Some("ADMIN.example.com"), "/api"), Some("admin-host"));
        assert_eq!(name(Some("other"), "/api/v2"), Some("api-v2"));
    }
}
