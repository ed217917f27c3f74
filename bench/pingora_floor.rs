//! The floor under Gatehouse's proxy path, for bench/tls.sh (issue 13): a pingora proxy built
//! the way Gatehouse builds its own (one no-steal worker, rustls listener with h2 by ALPN, no
//! downstream modules, Gatehouse's allocator), with none of Gatehouse's work on top.
//!
//! `pingora_floor MODE LISTEN TLS_LISTEN CERT KEY UPSTREAM [SECRET]`
//!
//! MODE `bare`: every request goes to UPSTREAM, nothing checked or added. MODE `jwt`: the work
//! bench/tls.sh's HAProxy does, no more: the Bearer token verified as an HS256 JWT with SECRET
//! on every request (no cache), 401 without one, the client's `X-Auth-User-Id` dropped and the
//! token's `sub` sent upstream in it. What separates Gatehouse from `jwt` is Gatehouse's own
//! cost; what separates `bare` from HAProxy is pingora's.

use async_trait::async_trait;
use jsonwebtoken::{decode, Algorithm, DecodingKey, Validation};
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::listeners::tls::TlsSettings;
use pingora::prelude::{HttpPeer, ProxyHttp, Session};
use pingora::server::configuration::ServerConf;
use pingora::server::Server;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

#[global_allocator]
static GLOBAL: allocator::Allocator = allocator::Allocator;

#[path = "../src/allocator.rs"]
mod allocator;

#[cfg(target_os = "linux")]
#[path = "../src/allocator_options.rs"]
mod allocator_options;

struct Floor {
    upstream: SocketAddr,
    /// `None` for `bare`.
    jwt: Option<(DecodingKey, Validation)>,
}

#[derive(serde::Deserialize)]
struct Claims {
    sub: String,
}

#[async_trait]
impl ProxyHttp for Floor {
    /// The verified `sub`, for the upstream request.
    type CTX = Option<String>;

    fn new_ctx(&self) -> Option<String> {
        None
    }

    fn init_downstream_modules(&self, _modules: &mut pingora::modules::http::HttpModules) {}

    async fn request_filter(
        &self,
        session: &mut Session,
        ctx: &mut Option<String>,
    ) -> pingora::Result<bool> {
        let Some((key, validation)) = &self.jwt else {
            return Ok(false);
        };
        let sub = session
            .req_header()
            .headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .and_then(|t| decode::<Claims>(t, key, validation).ok())
            .map(|d| d.claims.sub);
        match sub {
            Some(sub) => {
                *ctx = Some(sub);
                Ok(false)
            }
            None => {
                let mut resp = ResponseHeader::build(401, Some(1))?;
                resp.insert_header(http::header::CONTENT_LENGTH, "0")?;
                session.write_response_header(Box::new(resp), true).await?;
                Ok(true)
            }
        }
    }

    async fn upstream_peer(
        &self,
        _session: &mut Session,
        _ctx: &mut Option<String>,
    ) -> pingora::Result<Box<HttpPeer>> {
        let mut peer = HttpPeer::new(self.upstream, false, String::new());
        // Gatehouse's defaults for an upstream group (HAProxy's config has its timeouts too).
        peer.options.connection_timeout = Some(Duration::from_secs(2));
        peer.options.read_timeout = Some(Duration::from_secs(30));
        peer.options.idle_timeout = Some(Duration::from_secs(60));
        Ok(Box::new(peer))
    }

    async fn upstream_request_filter(
        &self,
        _session: &mut Session,
        upstream_request: &mut RequestHeader,
        ctx: &mut Option<String>,
    ) -> pingora::Result<()> {
        if self.jwt.is_some() {
            upstream_request.remove_header("x-auth-user-id");
            if let Some(sub) = ctx.take() {
                upstream_request.insert_header("x-auth-user-id", sub)?;
            }
        }
        Ok(())
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (mode, listen, tls_listen, cert, key, upstream) = match &args[..] {
        [m, l, t, c, k, u] | [m, l, t, c, k, u, _] => (m, l, t, c, k, u),
        _ => {
            eprintln!("usage: pingora_floor bare|jwt LISTEN TLS_LISTEN CERT KEY UPSTREAM [SECRET]");
            return ExitCode::from(2);
        }
    };
    let jwt = match (mode.as_str(), args.get(6)) {
        ("bare", _) => None,
        ("jwt", Some(secret)) => {
            let mut validation = Validation::new(Algorithm::HS256);
            validation.validate_aud = false;
            Some((DecodingKey::from_secret(secret.as_bytes()), validation))
        }
        _ => {
            eprintln!("pingora_floor: MODE is bare, or jwt with a SECRET");
            return ExitCode::from(2);
        }
    };
    let Ok(upstream) = upstream.parse::<SocketAddr>() else {
        eprintln!("pingora_floor: UPSTREAM is an address and port, not {upstream}");
        return ExitCode::from(2);
    };
    let conf = ServerConf {
        threads: 1,
        work_stealing: false,
        // The benchmark stops it with SIGTERM: pingora's default grace is five minutes.
        grace_period_seconds: Some(0),
        graceful_shutdown_timeout_seconds: Some(1),
        ..ServerConf::default()
    };
    let mut server = Server::new_with_opt_and_conf(None, conf);
    server.bootstrap();
    let floor = Floor { upstream, jwt };
    let mut proxy = pingora::proxy::http_proxy_service(&server.configuration, floor);
    proxy.add_tcp(listen);
    let mut settings = match TlsSettings::intermediate(cert, key) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("pingora_floor: {e}");
            return ExitCode::from(1);
        }
    };
    settings.enable_h2();
    proxy.add_tls_with_settings(tls_listen, None, settings);
    server.add_service(proxy);
    server.run_forever()
}
