//! The `[[upstreams]]` list: named groups of resolved addresses, their timeouts, health
//! checks and how they are spoken to (TLS, h2c).

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
    pub tls: Option<UpstreamTlsConfig>,
    /// HTTP/2 with prior knowledge over plain TCP (gRPC upstreams).
    pub h2c: bool,
}

/// `tls = true` and its options; files are read when the group is built.
#[derive(Debug, Clone, PartialEq)]
pub struct UpstreamTlsConfig {
    /// The name sent and verified; `None`: each address's IP (verified against IP SANs).
    pub sni: Option<String>,
    /// Roots to verify the upstream with, in place of the system's.
    pub ca_file: Option<String>,
    /// Certificate chain and key Gatehouse presents (mTLS).
    pub client_cert: Option<(String, String)>,
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
    let tls = validate_tls(p, key, &u);
    let h2c = u.h2c.unwrap_or(false);
    if h2c && tls.is_some() {
        p.push(format!(
            "{key}.h2c: HTTP/2 without TLS; it cannot be combined with tls = true"
        ));
    }
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
        tls,
        h2c,
    }
}

fn validate_tls(p: &mut Problems, key: &str, u: &RawUpstream) -> Option<UpstreamTlsConfig> {
    let client_cert = match (&u.client_cert_file, &u.client_key_file) {
        (Some(c), Some(k)) => Some((c.clone(), k.clone())),
        (None, None) => None,
        (Some(_), None) => {
            p.push(format!(
                "{key}.client_key_file: needed with client_cert_file"
            ));
            None
        }
        (None, Some(_)) => {
            p.push(format!(
                "{key}.client_cert_file: needed with client_key_file"
            ));
            None
        }
    };
    if u.tls != Some(true) {
        for (name, set) in [
            ("sni", u.sni.is_some()),
            ("ca_file", u.ca_file.is_some()),
            ("client_cert_file", u.client_cert_file.is_some()),
            ("client_key_file", u.client_key_file.is_some()),
        ] {
            if set {
                p.push(format!("{key}.{name}: only used with tls = true"));
            }
        }
        return None;
    }
    if u.sni.as_deref().is_some_and(|s| s.is_empty()) {
        // pingora skips certificate verification for an empty SNI.
        p.push(format!(
            "{key}.sni: must not be empty (leave it out to use the address)"
        ));
    }
    Some(UpstreamTlsConfig {
        sni: u.sni.clone(),
        ca_file: u.ca_file.clone(),
        client_cert,
    })
}
