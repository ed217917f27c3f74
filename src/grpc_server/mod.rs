//! The gRPC listener (`forward_auth.grpc_listen`): Envoy's `ext_authz` and the gRPC health
//! protocol, run as a pingora background service so that it starts and stops with the
//! process. Health reports the admin listener's readiness (store and upstreams).

mod capped;

use crate::admin::readiness;
use crate::app::{AppState, Live};
use crate::proxy::{AuthorizationServer, ExtAuthz};
use async_trait::async_trait;
use capped::CappedIncoming;
use pingora::server::ShutdownWatch;
use pingora::services::background::{BackgroundService, GenBackgroundService};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tonic::server::NamedService;
use tonic::transport::server::TcpIncoming;
use tonic::transport::Server;
use tonic_health::server::HealthReporter;
use tonic_health::ServingStatus;

/// How often gRPC health re-reads readiness (the store's ping and the upstreams' checks).
const HEALTH_INTERVAL: Duration = Duration::from_secs(5);

/// Concurrent Checks per connection (Envoy multiplexes its Checks over few connections).
const MAX_STREAMS: u32 = 1024;
/// A Check still unanswered after this is answered with gRPC `CANCELLED` (Envoy's own
/// `timeout` is usually far shorter).
const CHECK_TIMEOUT: Duration = Duration::from_secs(30);

pub struct GrpcListener {
    live: Arc<Live>,
    addr: SocketAddr,
}

impl GrpcListener {
    /// The service for `addr`, on as many threads as the proxy.
    pub fn service(live: Arc<Live>, addr: SocketAddr) -> GenBackgroundService<Self> {
        let threads = live.current().config.server.threads;
        let mut service = GenBackgroundService::new(
            "gatehouse ext_authz gRPC".to_string(),
            Arc::new(GrpcListener { live, addr }),
        );
        service.threads = Some(threads);
        service
    }
}

#[async_trait]
impl BackgroundService for GrpcListener {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        // The listener's own settings are restart-only; each Check loads the current generation.
        let s = self.live.current();
        let incoming = match TcpIncoming::bind(self.addr) {
            Ok(incoming) => CappedIncoming::new(
                incoming.with_nodelay(Some(true)),
                s.config.server.max_connections,
                s.metrics.clone(),
            ),
            Err(e) => {
                tracing::error!(addr = %self.addr, error = %e, "forward_auth.grpc_listen: cannot listen");
                return;
            }
        };
        let (reporter, health) = tonic_health::server::health_reporter();
        report(&reporter, &s).await;
        let watcher = {
            let (reporter, live) = (reporter.clone(), self.live.clone());
            tokio::spawn(async move {
                let mut ticker = tokio::time::interval(HEALTH_INTERVAL);
                ticker.tick().await;
                loop {
                    ticker.tick().await;
                    report(&reporter, &live.current()).await;
                }
            })
        };
        let stopping = {
            let reporter = reporter.clone();
            async move {
                let _ = shutdown.changed().await;
                // Health checkers see the drain before the listener goes.
                set_all(&reporter, ServingStatus::NotServing).await;
            }
        };
        let http = &s.config.http;
        let served = Server::builder()
            // A Check carries a request's headers; the proxy's limit on them holds here too.
            .http2_max_header_list_size(u32::try_from(http.max_header_bytes).unwrap_or(u32::MAX))
            .max_concurrent_streams(MAX_STREAMS)
            // Peers that vanish without closing are found by pings and dropped.
            .http2_keepalive_interval(Some(http.keepalive_timeout))
            .http2_keepalive_timeout(Some(http.header_timeout))
            .timeout(CHECK_TIMEOUT)
            .add_service(health)
            .add_service(AuthorizationServer::new(ExtAuthz::new(self.live.clone())))
            .serve_with_incoming_shutdown(incoming, stopping)
            .await;
        watcher.abort();
        if let Err(e) = served {
            tracing::error!(error = %e, "forward_auth.grpc_listen: the gRPC server stopped");
        }
    }
}

async fn report(reporter: &HealthReporter, state: &AppState) {
    let (status, _) = readiness(state).await;
    let serving = if status.is_success() {
        ServingStatus::Serving
    } else {
        ServingStatus::NotServing
    };
    set_all(reporter, serving).await;
}

/// The server as a whole (`""`, what Envoy's gRPC health check asks by default) and the
/// Authorization service by name.
async fn set_all(reporter: &HealthReporter, status: ServingStatus) {
    reporter.set_service_status("", status).await;
    reporter
        .set_service_status(
            <AuthorizationServer<ExtAuthz> as NamedService>::NAME,
            status,
        )
        .await;
}
