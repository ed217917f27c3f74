//! Named upstream groups: round-robin over addresses resolved at config load, optional active
//! HTTP health checks, timeouts from config. A group's health checks run on a runtime the
//! caller gives (the store's) rather than as a pingora service, because a reload can bring new
//! groups after the server has started; they stop when the group is dropped, i.e. when the
//! last config generation using it is gone.

use crate::config::UpstreamConfig;
use crate::metrics::Metrics;
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
    connect_timeout: Duration,
    read_timeout: Duration,
    idle_timeout: Duration,
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
        let mut stop = None;
        let lb = match &config.health_check {
            Some(hc) => {
                let mut check = HttpHealthCheck::new(&hc.host, false);
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
        Ok(UpstreamGroup {
            name: config.name.clone(),
            lb,
            connect_timeout: config.connect_timeout,
            read_timeout: config.read_timeout,
            idle_timeout: config.idle_timeout,
            errors: metrics.upstream_errors(&config.name),
            config: config.clone(),
            stop,
        })
    }

    /// The next healthy address, or `None` when every address is down.
    pub fn peer(&self) -> Option<Box<HttpPeer>> {
        let backend = self.lb.select(b"", 256)?;
        let mut peer = HttpPeer::new(backend.addr, false, String::new());
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
