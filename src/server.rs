//! Assembles the pingora server (proxy, admin listener, forward-auth listeners) around the live
//! config generation, and runs it either as the process's main loop (with SIGHUP reloading
//! the config, and the pid file `gatehouse reload` reads) or in a thread for in-process tests.

use crate::admin::AdminApp;
use crate::app::{AppState, Live};
use crate::auth::TokenChecksum;
use crate::config::{Config, StoreBackend};
use crate::connection::{ConnectionLimits, Guarded};
use crate::grpc_server::GrpcListener;
use crate::proxy::ProxyService;
use crate::reload::{PidFile, ReloadError, ReloadReport, Reloader, StepFn};
use crate::store::{
    now_unix, PostgresStore, RevocationFeed, RevocationSink, SqliteStore, Store, StoreError,
    StoreHandle,
};
use crate::tls::TlsCertificates;
use crate::users::username::confusable_skeleton;
use async_trait::async_trait;
use pingora::apps::HttpServerOptions;
use pingora::server::configuration::ServerConf;
use pingora::server::{RunArgs, Server, ShutdownSignal, ShutdownSignalWatch};
use pingora::services::listening::Service;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tokio::runtime::Runtime;
use tokio::sync::oneshot;

/// How long idle kept-alive client connections stay open after SIGTERM (`connection::Guarded`
/// explains why), at most `server.shutdown_grace`. A request already on the wire when the
/// listener closed arrives in far less; a longer wait only keeps idle connections open.
const SHUTDOWN_LINGER: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    Config(String),
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot start the store runtime: {0}")]
    Runtime(std::io::Error),
    #[error("gatehouse did not start listening on {0} in time")]
    NotListening(SocketAddr),
    #[error("{0}")]
    Process(String),
}

/// The runtime that owns database connections for the life of the process.
pub fn store_runtime() -> Result<Runtime, StartError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("gatehouse-store")
        .enable_all()
        .build()
        .map_err(StartError::Runtime)
}

pub struct OpenedStore {
    pub handle: StoreHandle,
    /// Revocations announced by other replicas (PostgreSQL only).
    pub feed: Option<RevocationFeed>,
    /// Under the configured key, or the one the store keeps.
    pub checksum: Arc<TokenChecksum>,
}

/// Opens (creating and migrating as needed) the configured store on `runtime`.
pub fn open_store(config: &Config, runtime: &Runtime) -> Result<OpenedStore, StartError> {
    let c = &config.store;
    let (store, feed): (Arc<dyn Store>, _) = match &c.backend {
        StoreBackend::Sqlite { path } => (
            Arc::new(runtime.block_on(SqliteStore::open(
                path,
                c.max_connections,
                c.connect_timeout,
            ))?),
            None,
        ),
        StoreBackend::Postgres { url, schema } => {
            let pg = runtime.block_on(PostgresStore::open(
                url.expose(),
                schema.as_deref(),
                c.max_connections,
                c.connect_timeout,
            ))?;
            let feed = pg.revocation_feed();
            (Arc::new(pg), Some(feed))
        }
    };
    fill_username_skeletons(store.as_ref(), runtime)?;
    let checksum = runtime.block_on(TokenChecksum::load(
        &config.tokens,
        // JWT-shaped tokens pass the screen to be verified by signature: external or our own.
        config.jwt.is_some() || config.tokens.signing.is_some(),
        store.as_ref(),
    ))?;
    Ok(OpenedStore {
        handle: StoreHandle::new(store, runtime.handle().clone()),
        feed,
        checksum: Arc::new(checksum),
    })
}

/// Users created before skeletons were stored get theirs now (the migration cannot compute
/// them). Look-alikes already registered are named by id so an operator can look at them; their
/// start-up, and their logins, go on.
fn fill_username_skeletons(store: &dyn Store, runtime: &Runtime) -> Result<(), StartError> {
    let fill = runtime.block_on(store.fill_username_skeletons(confusable_skeleton))?;
    if fill.filled > 0 {
        tracing::info!(
            users = fill.filled,
            "stored the confusable skeletons of existing users"
        );
    }
    if !fill.look_alikes.is_empty() {
        tracing::warn!(
            user_ids = ?fill.look_alikes,
            "these users' names look like an earlier user's; they keep working, without a skeleton of their own"
        );
    }
    Ok(())
}

/// Deletes ended tokens, codes and pending requests every `interval`, on the store runtime.
fn spawn_purger(store: StoreHandle, runtime: &Runtime, interval: Duration, keep: Duration) {
    runtime.spawn(async move {
        let mut ticker = tokio::time::interval(interval);
        ticker.tick().await;
        loop {
            ticker.tick().await;
            let keep = keep.as_secs() as i64;
            match store
                .run(move |s| async move { s.purge_expired(now_unix(), keep).await })
                .await
            {
                Ok(n) if n > 0 => tracing::info!(rows = n, "purged expired rows"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "purge of expired rows failed"),
            }
        }
    });
}

pub struct Gatehouse {
    live: Arc<Live>,
    reloader: Reloader,
    server: Server,
    store_runtime: Runtime,
    certificates: Option<Arc<TlsCertificates>>,
}

impl Gatehouse {
    pub fn build(config: Config) -> Result<Gatehouse, StartError> {
        // pingora retries a busy port for a while and then panics in a service thread while the
        // process lives on: find out now, with a clear message.
        for addr in listeners(&config) {
            TcpListener::bind(addr).map_err(|source| StartError::Bind { addr, source })?;
        }
        let store_runtime = store_runtime()?;
        let opened = open_store(&config, &store_runtime)?;
        let store = opened.handle;
        spawn_purger(
            store.clone(),
            &store_runtime,
            config.store.purge_interval,
            config.store.purge_keep,
        );

        let grace = config.server.shutdown_grace.as_secs();
        let conf = ServerConf {
            threads: config.server.threads,
            grace_period_seconds: Some(grace),
            graceful_shutdown_timeout_seconds: Some(grace.max(1)),
            // pingora's own retry of failed upstream connects; our config keeps it modest.
            max_retries: 1,
            // One worker: pingora's no-steal runtime, a current-thread tokio runtime, with
            // nothing to steal and 8-12% more requests a second than a one-worker work-stealing
            // runtime (bench/results/cost-latest.md). More workers keep work stealing: no-steal
            // runs a connection's task on a random thread while its socket stays registered
            // with the accepting thread's driver. vendor/pingora-runtime/PATCHES.md has the two
            // fixes the no-steal runtime needed.
            work_stealing: config.server.threads > 1,
            ..ServerConf::default()
        };
        let mut server = Server::new_with_opt_and_conf(None, conf);
        server.bootstrap();

        let certificates = match &config.server.tls {
            Some(t) => {
                Some(TlsCertificates::load(t).map_err(|e| StartError::Config(e.to_string()))?)
            }
            None => None,
        };
        let admin_listen = config.server.admin_listen.to_string();
        let state = AppState::build(config, store, opened.checksum).map_err(StartError::Config)?;
        state.metrics.config_generation.set(1);
        let live = Arc::new(Live::new(state.clone()));
        if let Some(feed) = opened.feed {
            feed.spawn(
                store_runtime.handle(),
                vec![
                    state.validator.clone() as Arc<dyn RevocationSink>,
                    state.sessions.clone(),
                ],
            );
        }

        let limits = ConnectionLimits {
            max_connections: state.config.server.max_connections,
            header_timeout: state.config.http.header_timeout,
            idle_timeout: state.config.http.keepalive_timeout,
            // Within the grace: after it the runtime drops every connection anyway.
            shutdown_linger: state.config.server.shutdown_grace.min(SHUTDOWN_LINGER),
        };
        let mut app =
            pingora::proxy::http_proxy(&server.configuration, ProxyService::new(live.clone()));
        let mut options = HttpServerOptions::default();
        // pingora turns h2c off on TLS connections itself (ALPN decides there).
        options.h2c = state.config.server.h2c;
        options.h2_idle_timeout = Some(state.config.http.keepalive_timeout);
        app.server_options = Some(options);
        // One service for both listeners: one connection cap, one set of workers.
        let guarded = Guarded::new(app, limits, state.metrics.clone());
        let count_before_handshake = guarded.count_before_handshake();
        let mut proxy = Service::new("gatehouse proxy".to_string(), guarded);
        if let Some(addr) = state.config.server.listen {
            proxy.add_tcp(&addr.to_string());
        }
        if let (Some(tls), Some(certs)) = (&state.config.server.tls, &certificates) {
            let settings = certs
                .listener_settings()
                .map_err(|e| StartError::Config(e.to_string()))?;
            proxy.add_tls_with_settings(&tls.listen.to_string(), None, settings);
            proxy
                .endpoints()
                .set_pre_tls_callback(count_before_handshake);
        }
        server.add_service(proxy);

        if let Some(addr) = state.config.forward_auth.as_ref().and_then(|f| f.listen) {
            let mut decisions = Service::new(
                "gatehouse forward-auth".to_string(),
                Guarded::new(
                    pingora::proxy::http_proxy(
                        &server.configuration,
                        ProxyService::decisions(live.clone()),
                    ),
                    limits,
                    state.metrics.clone(),
                ),
            );
            decisions.add_tcp(&addr.to_string());
            server.add_service(decisions);
        }

        if let Some(addr) = state
            .config
            .forward_auth
            .as_ref()
            .and_then(|f| f.grpc_listen)
        {
            server.add_service(GrpcListener::service(live.clone(), addr));
        }

        let mut admin = Service::new("gatehouse admin".to_string(), AdminApp::new(live.clone()));
        admin.add_tcp(&admin_listen);
        admin.threads = Some(1);
        server.add_service(admin);

        let mut reloader = Reloader::new(live.clone(), None);
        if let Some(certs) = certificates.clone() {
            // New handshakes get the new certificate, open connections keep theirs; a file
            // that cannot be used refuses the reload and leaves the old certificate in place.
            reloader.add_step(
                "tls certificates",
                Box::new(move |_: &Config| certs.reload().map_err(|e| e.to_string())),
            );
        }
        Ok(Gatehouse {
            reloader,
            live,
            server,
            store_runtime,
            certificates,
        })
    }

    /// The file reloads read (`gatehouse run` passes the one it started from).
    pub fn config_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.reloader.set_file(path.into());
        self
    }

    /// One more thing to re-read on reload (see `Reloader::add_step`).
    pub fn add_reload_step(&mut self, name: &'static str, step: StepFn) {
        self.reloader.add_step(name, step);
    }

    /// The current config generation.
    pub fn state(&self) -> Arc<AppState> {
        self.live.current()
    }

    /// The TLS listener's certificates (`None` without `[server.tls]`).
    pub fn certificates(&self) -> Option<Arc<TlsCertificates>> {
        self.certificates.clone()
    }

    /// Runs until a shutdown signal: SIGTERM drains for `server.shutdown_grace`, SIGINT is fast;
    /// SIGHUP reloads the config file. Writes `server.pid_file` while it runs.
    pub fn run_forever(self) -> Result<(), StartError> {
        let reloader = Arc::new(self.reloader);
        // Listening before the pid file exists: SIGHUP's default action would end us.
        let mut hangups = {
            let _in = self.store_runtime.enter();
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
                .map_err(|e| StartError::Process(format!("cannot listen for SIGHUP: {e}")))?
        };
        let reloads = reloader.clone();
        self.store_runtime.spawn(async move {
            while hangups.recv().await.is_some() {
                let reloader = reloads.clone();
                // The result is logged and counted by `reload` itself.
                let _ = tokio::task::spawn_blocking(move || reloader.reload()).await;
            }
        });
        let pid_file = match &self.live.current().config.server.pid_file {
            Some(path) => Some(PidFile::write(path).map_err(StartError::Process)?),
            None => None,
        };
        Self::run(
            self.server,
            self.store_runtime,
            reloader,
            RunArgs::default(),
        );
        drop(pid_file);
        Ok(())
    }

    fn run(server: Server, store_runtime: Runtime, reloader: Arc<Reloader>, args: RunArgs) {
        server.run(args);
        // The generations hold store handles and health checks on the store runtime.
        drop(reloader);
        store_runtime.shutdown_timeout(Duration::from_secs(2));
    }

    /// Starts the server on its own thread and waits until both listeners accept connections.
    pub fn spawn(self) -> Result<RunningGatehouse, StartError> {
        let live = self.live.clone();
        let reloader = Arc::new(self.reloader);
        let certificates = self.certificates.clone();
        let (tx, rx) = oneshot::channel();
        let signal = ChannelShutdown(Mutex::new(Some(rx)));
        let thread = std::thread::Builder::new()
            .name("gatehouse-server".into())
            .spawn({
                let reloader = reloader.clone();
                move || {
                    let args = RunArgs {
                        shutdown_signal: Box::new(signal),
                    };
                    Self::run(self.server, self.store_runtime, reloader, args)
                }
            })
            .map_err(StartError::Runtime)?;
        let running = RunningGatehouse {
            live,
            reloader,
            certificates,
            shutdown: Some(tx),
            thread: Some(thread),
        };
        for addr in listeners(&running.live.current().config) {
            wait_listening(addr)?;
        }
        Ok(running)
    }
}

/// Every address Gatehouse listens on.
fn listeners(config: &Config) -> Vec<SocketAddr> {
    let mut addrs = vec![config.server.admin_listen];
    addrs.extend(config.server.listen);
    addrs.extend(config.server.tls.as_ref().map(|t| t.listen));
    if let Some(fa) = &config.forward_auth {
        addrs.extend(fa.listen);
        addrs.extend(fa.grpc_listen);
    }
    addrs
}

fn wait_listening(addr: SocketAddr) -> Result<(), StartError> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        // A connect to a port nobody listens on can pick that same port as its own source
        // and connect to itself (TCP simultaneous open): that is not our listener.
        let ours = TcpStream::connect_timeout(&addr, Duration::from_millis(200))
            .is_ok_and(|s| s.local_addr().ok() != s.peer_addr().ok());
        if ours {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Err(StartError::NotListening(addr))
}

struct ChannelShutdown(Mutex<Option<oneshot::Receiver<ShutdownSignal>>>);

#[async_trait]
impl ShutdownSignalWatch for ChannelShutdown {
    async fn recv(&self) -> ShutdownSignal {
        let rx = self.0.lock().ok().and_then(|mut g| g.take());
        match rx {
            Some(rx) => rx.await.unwrap_or(ShutdownSignal::FastShutdown),
            None => std::future::pending().await,
        }
    }
}

/// A Gatehouse running in this process (tests, embedding); stops on `stop` or drop.
pub struct RunningGatehouse {
    live: Arc<Live>,
    reloader: Arc<Reloader>,
    certificates: Option<Arc<TlsCertificates>>,
    shutdown: Option<oneshot::Sender<ShutdownSignal>>,
    thread: Option<JoinHandle<()>>,
}

impl RunningGatehouse {
    /// The current config generation.
    pub fn state(&self) -> Arc<AppState> {
        self.live.current()
    }

    /// What SIGHUP does in a `gatehouse run` process: read the config file again and apply it
    /// (blocking). Needs `Gatehouse::config_file`.
    pub fn reload(&self) -> Result<ReloadReport, ReloadError> {
        self.reloader.reload()
    }

    /// The TLS listener's certificates, to reload as SIGHUP does.
    pub fn certificates(&self) -> Option<&Arc<TlsCertificates>> {
        self.certificates.as_ref()
    }

    /// Graceful stop: in-flight requests get `server.shutdown_grace` to finish.
    pub fn stop_gracefully(mut self) {
        self.stop(ShutdownSignal::GracefulTerminate);
    }

    fn stop(&mut self, signal: ShutdownSignal) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(signal);
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for RunningGatehouse {
    fn drop(&mut self) {
        self.stop(ShutdownSignal::FastShutdown);
    }
}
