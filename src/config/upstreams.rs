//! The `[[upstreams]]` list: named groups of resolved addresses, their timeouts and health
//! checks.

use super::raw::RawUpstream;
use super::Problems;
use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq)]
pub struct HealthCheckConfig {
    pub path: String,
    pub interval: Duration,
    pub host: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct UpstreamConfig {
    pub name: String,
    pub addrs: Vec<SocketAddr>,
    pub connect_timeout: Duration,
    pub read_timeout: Duration,
    pub idle_timeout: Duration,
    pub health_check: Option<HealthCheckConfig>,
}

/// Every group is kept, even one with problems, so that routes naming it are not reported
/// as naming an unknown upstream as well.
pub(super) fn validate_upstreams(p: &mut Problems, raw: Vec<RawUpstream>) -> Vec<UpstreamConfig> {
    let mut names = HashSet::new();
    raw.into_iter()
        .enumerate()
        .map(|(i, u)| {
            let key = format!("upstreams[{i}]");
            if !is_name(&u.name) {
                p.push(format!("{key}.name: `{}` must be [A-Za-z0-9_-]+", u.name));
            }
            if !names.insert(u.name.clone()) {
                p.push(format!("{key}.name: duplicate upstream `{}`", u.name));
            }
            validate_upstream(p, &key, u)
        })
        .collect()
}

/// Upstream names appear in routes and metric labels.
fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// One group; its name was checked by the caller, which sees the whole list.
fn validate_upstream(p: &mut Problems, key: &str, u: RawUpstream) -> UpstreamConfig {
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
    UpstreamConfig {
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
    }
}
