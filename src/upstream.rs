//! Named upstream groups: round-robin over addresses resolved at config load, optional active
//! HTTP health checks, timeouts from config. A group's health checks run on a runtime the
//! caller gives (the store's) rather than as a pingora service, because a reload can bring new
//! groups after the server has started; they stop when the group is dropped, i.e. when the
//! last config generation using it is gone.
//! Each peer is spoken to as configured: TLS with SNI, roots and client certificate; h2c.

use crate::config::UpstreamConfig;
use crate::metrics::Metrics;
use crate::tls::UpstreamTls;
use pingora::http::RequestHeader;
use pingora::lb::{health_check::HttpHealthCheck, selection::RoundRobin, LoadBalancer};
use pingora::services::background::BackgroundService;
use pingora::upstreams::peer::HttpPeer;
use prometheus::IntCounter;
use std::sync::Arc;
use std::time::Duration;
use tokio::runtime::Handle;
use tokio::sync::watch;

pub struct UpstreamGroup {
    pub name: String,
    lb: Arc<LoadBalancer<RoundRobin>>,
    /// The one address of a group that has one and no health check: there is nothing to
    /// choose, and asking the balancer (an atomic, a hash-map lookup of the address's health)
    /// cost ~1.5k instructions a request.
    only: Option<pingora::protocols::l4::socket::SocketAddr>,
    connect_timeout: Duration,
    read_timeout: Duration,
    idle_timeout: Duration,
    tls: Option<UpstreamTls>,
    h2c: bool,
    pub errors: IntCounter,
    /// What the group was built from: a reload keeps the group (and its health state) when
    /// this is unchanged.
    pub config: UpstreamConfig,
    /// Stops the health checks on drop (a dropped sender alone would not stop pingora's loop).
    stop: Option<watch::Sender<bool>>,
}

impl Drop for UpstreamGroup {
    fn drop(&mut self) {
        if let Some(stop) = &self.stop {
            let _ = stop.send(true);
        }
    }
}

impl UpstreamGroup {
    /// Builds the group; its health checks, when it has them, start on `runtime`.
    pub fn build(
        config: &UpstreamConfig,
        metrics: &Metrics,
        runtime: &Handle,
    ) -> Result<UpstreamGroup, String> {
        let mut lb = LoadBalancer::<RoundRobin>::try_from_iter(config.addrs.iter().copied())
            .map_err(|e| format!("upstreams `{}`: {e}", config.name))?;
        let tls = match &config.tls {
            Some(t) => Some(
                UpstreamTls::load(&format!("upstreams `{}`", config.name), t)
                    .map_err(|e| e.to_string())?,
            ),
            None => None,
        };
        let mut stop = None;
        let lb = match &config.health_check {
            Some(hc) => {
                let mut check = HttpHealthCheck::new(&hc.host, tls.is_some());
                if let Some(t) = &tls {
                    if let Some(sni) = &t.sni {
                        check.peer_template.sni = sni.clone();
                    }
                    apply_tls(&mut check.peer_template, t);
                }
                if config.h2c {
                    check.peer_template.options.set_http_version(2, 2);
                }
                let mut req = RequestHeader::build("GET", hc.path.as_bytes(), None)
                    .map_err(|e| format!("upstreams `{}`.health_check.path: {e}", config.name))?;
                req.insert_header("Host", hc.host.as_str())
                    .map_err(|e| format!("upstreams `{}`.health_check.host: {e}", config.name))?;
                check.req = req;
                check.peer_template.options.connection_timeout = Some(config.connect_timeout);
                check.peer_template.options.read_timeout =
                    Some(config.read_timeout.min(Duration::from_secs(5)));
                lb.set_health_check(Box::new(check));
                lb.health_check_frequency = Some(hc.interval);
                let lb = Arc::new(lb);
                let (tx, rx) = watch::channel(false);
                let checked = lb.clone();
                runtime.spawn(async move { checked.start(rx).await });
                stop = Some(tx);
                lb
            }
            None => Arc::new(lb),
        };
        let only = match (&config.addrs[..], &config.health_check) {
            ([addr], None) => Some(pingora::protocols::l4::socket::SocketAddr::Inet(*addr)),
            _ => None,
        };
        Ok(UpstreamGroup {
            name: config.name.clone(),
            lb,
            only,
            connect_timeout: config.connect_timeout,
            read_timeout: config.read_timeout,
            idle_timeout: config.idle_timeout,
            errors: metrics.upstream_errors(&config.name),
            tls,
            h2c: config.h2c,
            config: config.clone(),
            stop,
        })
    }

    /// The next healthy address, or `None` when every address is down.
    pub fn peer(&self) -> Option<Box<HttpPeer>> {
        let addr = match &self.only {
            Some(addr) => addr.clone(),
            None => self.lb.select(b"", 256)?.addr,
        };
        let mut peer = match &self.tls {
            Some(tls) => {
                // Without a configured name the address's IP is verified (an IP SAN): pingora
                // skips verification altogether for an empty SNI.
                let sni = match &tls.sni {
                    Some(s) => s.clone(),
                    None => addr
                        .as_inet()
                        .map_or_else(String::new, |a| a.ip().to_string()),
                };
                let mut peer = HttpPeer::new(addr, true, sni);
                apply_tls(&mut peer, tls);
                peer
            }
            None => HttpPeer::new(addr, false, String::new()),
        };
        if self.h2c {
            // Prior knowledge: plain TCP has no ALPN to ask the upstream with.
            peer.options.set_http_version(2, 2);
        }
        peer.options.connection_timeout = Some(self.connect_timeout);
        peer.options.read_timeout = Some(self.read_timeout);
        peer.options.idle_timeout = Some(self.idle_timeout);
        Some(Box::new(peer))
    }

    /// At least one address passes its health check (always true without a health check).
    pub fn healthy(&self) -> bool {
        let backends = self.lb.backends();
        backends.get_backend().iter().any(|b| backends.ready(b))
    }
}

fn apply_tls(peer: &mut HttpPeer, tls: &UpstreamTls) {
    peer.options.ca = tls.ca.clone();
    peer.client_cert_key = tls.client_cert.clone();
}
