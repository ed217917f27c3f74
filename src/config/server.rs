//! The `[server]` section (listeners, public URL, threads, trusted proxies) and `[log]`.

use super::raw::{RawLog, RawServer, RawServerTls};
use super::Problems;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use url::Url;

#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The plain HTTP listener; `None` when only `tls` listens.
    pub listen: Option<SocketAddr>,
    /// HTTP/2 with prior knowledge accepted on the plain listener.
    pub h2c: bool,
    pub tls: Option<ServerTlsConfig>,
    pub public_url: Url,
    pub admin_listen: SocketAddr,
    pub threads: usize,
    pub shutdown_grace: Duration,
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Open client connections on the proxy listener; past it, new ones are closed at once.
    pub max_connections: usize,
    /// Where `run` writes its process id, for `gatehouse reload` to signal (off by default).
    pub pid_file: Option<PathBuf>,
}

/// `[server.tls]`: the TLS listener. Files are read at start and again on reload.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerTlsConfig {
    pub listen: SocketAddr,
    pub cert_file: String,
    pub key_file: String,
    /// Clients must present a certificate signed by one of these (mTLS).
    pub client_ca_file: Option<String>,
    /// `Strict-Transport-Security` on every response over TLS; `None` when set to "".
    pub hsts: Option<http::HeaderValue>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
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

/// `None` when a listener or the public URL is unusable (a problem is pushed for each).
pub(super) fn validate_server(p: &mut Problems, raw: RawServer) -> Option<ServerConfig> {
    let listen = raw
        .listen
        .as_deref()
        .map(|l| p.socket_addr("server.listen", l));
    let admin_listen = p.socket_addr("server.admin_listen", &raw.admin_listen);
    let tls = raw.tls.map(|t| validate_tls(p, t));
    if listen.is_none() && tls.is_none() {
        p.push("server.listen: needed unless [server.tls] listens".into());
    }
    let mut taken = Vec::new();
    if let Some(l) = listen {
        taken.push(("server.listen", l));
    }
    taken.push(("server.admin_listen", admin_listen));
    if let Some(t) = &tls {
        taken.push(("server.tls.listen", t.as_ref().map(|t| t.listen)));
    }
    for (i, (key, addr)) in taken.iter().enumerate() {
        let Some(addr) = addr.filter(|a| a.port() != 0) else {
            continue;
        };
        if let Some((other, _)) = taken[..i].iter().find(|(_, a)| *a == Some(addr)) {
            p.push(format!("{key}: must differ from {other}"));
        }
    }
    let public_url = match Url::parse(&raw.public_url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Some(u),
        Ok(_) => {
            p.push(format!(
                "server.public_url: `{}` must be an absolute http(s) URL",
                raw.public_url
            ));
            None
        }
        Err(e) => {
            p.push(format!("server.public_url: `{}` {e}", raw.public_url));
            None
        }
    };
    let threads = raw.threads.unwrap_or(1);
    if threads == 0 || threads > 256 {
        p.push(format!(
            "server.threads: {threads} is out of range (1..=256)"
        ));
    }
    let shutdown_grace = p.duration(
        "server.shutdown_grace",
        raw.shutdown_grace.as_deref(),
        Duration::from_secs(10),
    );
    // Each idle connection costs 50–90 KB; the default bounds that near 1 GiB.
    let max_connections = raw.max_connections.unwrap_or(10_000);
    if max_connections == 0 {
        p.push("server.max_connections: must be at least 1".into());
    }
    let mut trusted_proxies = Vec::new();
    for (i, t) in raw.trusted_proxies.iter().enumerate() {
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
    Some(ServerConfig {
        listen: listen.map(|l| l.ok_or(())).transpose().ok()?,
        h2c: raw.h2c.unwrap_or(false),
        tls: tls.map(|t| t.ok_or(())).transpose().ok()?,
        public_url: public_url?,
        admin_listen: admin_listen?,
        threads,
        shutdown_grace,
        trusted_proxies,
        max_connections,
        pid_file: raw.pid_file.filter(|f| !f.is_empty()).map(PathBuf::from),
    })
}
fn validate_tls(p: &mut Problems, raw: RawServerTls) -> Option<ServerTlsConfig> {
    let listen = p.socket_addr("server.tls.listen", &raw.listen);
    for (key, value) in [
        ("cert_file", Some(&raw.cert_file)),
        ("key_file", Some(&raw.key_file)),
        ("client_ca_file", raw.client_ca_file.as_ref()),
    ] {
        if value.is_some_and(|v| v.is_empty()) {
            p.push(format!("server.tls.{key}: must name a PEM file"));
        }
    }
    // A year, without includeSubDomains: that one would bind hosts Gatehouse does not serve.
    let hsts = match raw.hsts.as_deref() {
        None => Some(http::HeaderValue::from_static("max-age=31536000")),
        Some("") => None,
        Some(v) => match http::HeaderValue::from_str(v) {
            Ok(h) if v.starts_with("max-age=") => Some(h),
            _ => {
                p.push(format!(
                    "server.tls.hsts: `{v}` must be a Strict-Transport-Security value (`max-age=…`) or \"\""
                ));
                None
            }
        },
    };
    Some(ServerTlsConfig {
        listen: listen?,
        cert_file: raw.cert_file,
        key_file: raw.key_file,
        client_ca_file: raw.client_ca_file,
        hsts,
    })
}

pub(super) fn validate_log(p: &mut Problems, raw: RawLog) -> LogConfig {
    let level = raw.level.unwrap_or_else(|| "info".into());
    if tracing_subscriber::EnvFilter::try_new(&level).is_err() {
        p.push(format!("log.level: `{level}` is not a valid filter"));
    }
    let format = p.choice(raw.format, LogFormat::Text, |other| {
        format!("log.format: `{other}` (use text or json)")
    });
    LogConfig {
        level,
        format,
        access_log: raw.access_log.unwrap_or(true),
    }
}
