//! The pingora `ProxyHttp` service: a thin layer that calls routing, the endpoint table, the
//! one authentication step and the services, keeps per-request state in `RequestCtx`, and
//! writes responses through `respond`; every refusal is an `ApiError` rendered in the
//! contract of the endpoint it concerns.

mod access;
mod authenticate;
mod decide;
mod described;
mod ext_authz;
mod forward_auth;
mod framing;
mod grpc;
mod handler;
mod head;
mod header_case;
mod live;
mod respond;
mod session;
mod trace;
mod upgrade;

use crate::app::AppState;
use crate::auth::{strip_query_token, Identity};
use crate::config::RouteTarget;
use crate::http::endpoint::Mounted;
use crate::http::{cookies, request_id, ApiError, Auth, Contract, HeadEdit, OwnResponse, Resolved};
use crate::policy::Decision;
use crate::ratelimit::RateHeaders;
use crate::routing::normalize_path;
use async_trait::async_trait;
use bytes::Bytes;
use forward_auth::Listener;
use framing::has_framing_conflict;
use head::{check_header_size, request_host};
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::proxy::{FailToProxy, ProxyHttp, Session};
use pingora::upstreams::peer::HttpPeer;
use pingora::{Error, ErrorSource, ErrorType};
use std::borrow::Cow;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;
use tracing::Instrument;

pub use ext_authz::{AuthorizationServer, ExtAuthz};
pub use live::ProxyService;

/// One request's proxy: its config generation and its listener.
pub struct GatehouseProxy {
    state: Arc<AppState>,
    listener: Listener,
}

/// Why a request is decided: to be proxied, or to answer an ingress's forward-auth question.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Purpose {
    Proxy,
    Decision,
}

/// Everything later hooks need, computed once in `request_filter`.
pub struct RequestCtx {
    /// The config generation this request runs on, loaded once when it starts.
    state: Arc<AppState>,
    start: Instant,
    request_id: Option<http::HeaderValue>,
    origin: Option<http::HeaderValue>,
    route: Option<usize>,
    upstream: Option<usize>,
    identity: Option<Arc<Identity>>,
    /// Set when the path was normalized or `oauth_token` removed from the query.
    upstream_uri: Option<http::Uri>,
    body_consumed: bool,
    /// Pre-read chunked body that pingora's retry buffer dropped: goes out before the rest.
    body_prefix: Option<Bytes>,
    /// We answered `Expect: 100-continue` ourselves, so the upstream is not asked.
    continue_sent: bool,
    /// The normalized path, kept for in-process handlers (proxied requests never need it).
    handler_path: String,
    /// The endpoint pattern's captures, for in-process handlers.
    captures: Vec<(&'static str, String)>,
    /// The policy (index into `Config::policies`) and its decision, for the access log.
    policy: Option<(usize, Decision)>,
    /// The rate-limit fields an allowed response carries.
    rate_headers: Option<RateHeaders>,
    /// The client connection is TLS: responses carry HSTS (never over plain HTTP, RFC 6797).
    tls: bool,
    /// OpenTelemetry spans (`[tracing]`); none without it.
    trace: trace::RequestTrace,
    /// The client connection's peer address, read once in `request_filter`.
    peer: Option<IpAddr>,
}

enum Next<'s> {
    Proxy,
    Handler(&'s Mounted),
    Respond(OwnResponse),
}

/// An error and the contract it is to be written in.
type Refusal = (ApiError, Contract);

/// The proxy's own refusals (no endpoint involved) speak RFC 6750 JSON.
fn refused(e: ApiError) -> Refusal {
    (e, Contract::Rfc6750)
}

fn unreadable() -> ApiError {
    ApiError::InvalidRequest("the request could not be read".into())
}

/// What the upstream gets besides the client's request: forwarding and identity headers in
/// place of any the client sent, no credentials of Gatehouse's, the request id, the trace.
fn upstream_headers(ctx: &mut RequestCtx, h: &mut dyn HeadEdit) {
    let s = &*ctx.state;
    s.identity_headers.sanitize(h, ctx.peer, ctx.tls);
    let forward_authorization = ctx
        .route
        .and_then(|i| s.config.routes.get(i))
        .is_some_and(|r| r.forward_authorization);
    if !forward_authorization {
        h.unset(&http::header::AUTHORIZATION);
    }
    // The session and the pending sign-in are Gatehouse's, not the upstream's: the browser's
    // other cookies go on.
    if let Some(kept) = cookies::without(
        h.headers(),
        &cookies::own_names(&s.sessions.config().cookie_name),
    ) {
        h.unset(&http::header::COOKIE);
        for value in kept {
            h.add(&http::header::COOKIE, value);
        }
    }
    if let Some(identity) = &ctx.identity {
        s.identity_headers.inject(h, identity);
    }
    s.assertions.apply(h, ctx.route, ctx.identity.as_deref());
    if let Some(id) = &ctx.request_id {
        h.set(&respond::REQUEST_ID, id.clone());
    }
    if ctx.continue_sent {
        h.unset(&http::header::EXPECT);
    }
    trace::upstream(s, ctx.upstream, &mut ctx.trace, h);
}

impl RequestCtx {
    fn new(state: Arc<AppState>) -> RequestCtx {
        RequestCtx {
            state,
            start: Instant::now(),
            request_id: None,
            origin: None,
            route: None,
            upstream: None,
            identity: None,
            upstream_uri: None,
            body_consumed: false,
            body_prefix: None,
            continue_sent: false,
            handler_path: String::new(),
            captures: Vec::new(),
            policy: None,
            rate_headers: None,
            tls: false,
            trace: trace::RequestTrace::off(),
            peer: None,
        }
    }
}

#[async_trait]
impl ProxyHttp for ProxyService {
    type CTX = RequestCtx;

    fn new_ctx(&self) -> RequestCtx {
        RequestCtx::new(self.live.current())
    }

    /// No downstream modules. pingora's default is a response-compression module at level 0:
    /// it never compresses, yet builds a context and runs its filters on every request.
    fn init_downstream_modules(&self, _modules: &mut pingora::modules::http::HttpModules) {}

    async fn request_filter(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
    ) -> pingora::Result<bool> {
        let this = self.pinned(ctx);
        ctx.tls = session.digest().is_some_and(|d| d.ssl_digest.is_some());
        trace::begin(&this.state, session, ctx);
        let span = ctx.trace.span();
        let req = session.req_header();
        ctx.request_id = Some(request_id::request_id(
            req.headers.get(&respond::REQUEST_ID),
        ));
        ctx.origin = req.headers.get(http::header::ORIGIN).cloned();
        if has_framing_conflict(session) {
            // Whatever follows the head cannot be trusted to be the next request.
            session.set_keepalive(None);
            let conflict = ApiError::InvalidRequest(
                "ambiguous framing (Content-Length / Transfer-Encoding) is refused".into(),
            );
            return this.reject(session, ctx, refused(conflict)).await;
        }
        if let Some(answered) = this
            .forward_auth(session, ctx)
            .instrument(span.clone())
            .await
        {
            return answered;
        }
        let peer = session
            .client_addr()
            .and_then(|a| a.as_inet())
            .map(|a| a.ip());
        ctx.peer = peer;
        let req = session.req_header();
        let next = this
            .decide(req, peer, ctx, Purpose::Proxy)
            .instrument(span.clone())
            .await;
        if matches!(next, Ok(Next::Proxy)) && !this.state.config.http.preserve_header_case {
            // Before pingora copies the head for the upstream: one map to copy and edit.
            header_case::drop_request_case(session.req_header_mut());
        }
        match next {
            Ok(Next::Proxy) if framing::needs_preread(session) => {
                ctx.continue_sent = framing::expects_continue(session);
                match framing::preread_chunked(session).await {
                    Ok(prefix) => {
                        ctx.body_prefix = prefix;
                        Ok(false)
                    }
                    Err(()) => {
                        // The rest of the stream cannot be told from the next request.
                        session.set_keepalive(None);
                        let bad = ApiError::InvalidRequest("malformed chunked body".into());
                        this.reject(session, ctx, refused(bad)).await
                    }
                }
            }
            Ok(Next::Proxy) => Ok(false),
            Ok(Next::Respond(resp)) => {
                respond::write_own(&this.state, session, ctx, resp).await?;
                Ok(true)
            }
            Ok(Next::Handler(endpoint)) => {
                let handled = this.run_handler(session, ctx, endpoint);
                let resp = match handled.instrument(span).await {
                    Ok(resp) => resp,
                    Err(e) => this.state.renderer.render(endpoint.contract, &e),
                };
                respond::write_own(&this.state, session, ctx, resp).await?;
                Ok(true)
            }
            Err(r) => this.reject(session, ctx, r).await,
        }
    }

    async fn upstream_peer(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
    ) -> pingora::Result<Box<HttpPeer>> {
        let group = ctx
            .upstream
            .and_then(|i| ctx.state.upstreams.get(i))
            .ok_or_else(|| Error::explain(ErrorType::InternalError, "request has no upstream"))?;
        let mut peer = group.peer().ok_or_else(|| {
            let mut e = Error::explain(ErrorType::ConnectNoRoute, "no healthy upstream address");
            e.esource = ErrorSource::Upstream;
            e
        })?;
        if upgrade::is_upgrade(session.req_header()) {
            upgrade::prepare(&mut peer);
        }
        Ok(peer)
    }

    async fn upstream_request_filter(
        &self,
        _session: &mut Session,
        upstream_request: &mut RequestHeader,
        ctx: &mut RequestCtx,
    ) -> pingora::Result<()> {
        // Cloned, not taken: a retried attempt gets a fresh copy of the client's head, and must
        // not go out with the raw path or the `oauth_token` query.
        if let Some(uri) = &ctx.upstream_uri {
            upstream_request.set_uri(uri.clone());
        }
        header_case::edit_request(upstream_request, |h| upstream_headers(ctx, h));
        Ok(())
    }

    async fn request_body_filter(
        &self,
        _session: &mut Session,
        body: &mut Option<Bytes>,
        _end_of_stream: bool,
        ctx: &mut RequestCtx,
    ) -> pingora::Result<()> {
        if let Some(prefix) = ctx.body_prefix.take() {
            *body = Some(framing::prepend(prefix, body.take()));
        }
        Ok(())
    }

    async fn response_filter(
        &self,
        _session: &mut Session,
        upstream_response: &mut ResponseHeader,
        ctx: &mut RequestCtx,
    ) -> pingora::Result<()> {
        let keep_case = ctx.state.config.http.preserve_header_case;
        header_case::edit_response(upstream_response, keep_case, |h| {
            if let Some(id) = &ctx.request_id {
                if !h.headers().contains_key(&respond::REQUEST_ID) {
                    h.set(&respond::REQUEST_ID, id.clone());
                }
            }
            if let Some(r) = &ctx.rate_headers {
                respond::rate_headers(h, r);
            }
            respond::hsts(&ctx.state, ctx, h);
        });
        Ok(())
    }

    /// What pingora's own error lines ("Fail to proxy: …") say about the request. Its default
    /// prints the raw request target, so an `?oauth_token=` would reach the error log.
    fn request_summary(&self, session: &Session, ctx: &RequestCtx) -> String {
        let req = session.req_header();
        let path = normalize_path(req.uri.path());
        let route = ctx
            .route
            .and_then(|i| ctx.state.config.routes.get(i))
            .map_or("unmatched", |r| r.name.as_str());
        format!(
            "{} {}, route: {route}",
            req.method,
            path.as_deref().unwrap_or("(unreadable path)")
        )
    }

    /// A client that hangs up mid-request is not an error of ours (load generators do it at
    /// the end of every run); everything else is still logged.
    fn suppress_error_log(&self, _session: &Session, _ctx: &RequestCtx, e: &Error) -> bool {
        matches!(e.esource(), ErrorSource::Downstream)
            && matches!(
                e.etype(),
                ErrorType::ConnectionClosed | ErrorType::ReadError | ErrorType::WriteError
            )
    }

    async fn fail_to_proxy(
        &self,
        session: &mut Session,
        e: &Error,
        ctx: &mut RequestCtx,
    ) -> FailToProxy {
        let rejection = match e.etype() {
            ErrorType::ConnectTimedout | ErrorType::ReadTimedout | ErrorType::WriteTimedout => {
                Some(ApiError::UpstreamTimeout)
            }
            _ => match e.esource() {
                ErrorSource::Upstream => Some(ApiError::UpstreamUnavailable),
                ErrorSource::Downstream => match e.etype() {
                    ErrorType::WriteError | ErrorType::ReadError | ErrorType::ConnectionClosed => {
                        None
                    }
                    _ => Some(unreadable()),
                },
                _ => Some(ApiError::Internal("an internal error occurred".into())),
            },
        };
        if matches!(e.esource(), ErrorSource::Upstream) {
            if let Some(group) = ctx.upstream.and_then(|i| ctx.state.upstreams.get(i)) {
                group.errors.inc();
                tracing::warn!(upstream = %group.name, error = %e, "upstream request failed");
            }
        }
        let mut code = 0;
        if let Some(r) = rejection {
            let resp = ctx.state.renderer.render(Contract::Rfc6750, &r);
            code = resp.status;
            // Once the upstream's header went out, only closing the connection is left.
            if session.response_written().is_none() {
                // The connection is closed after a proxy failure (`can_reuse_downstream`
                // below): the answer must say so, or a client sends its next request into a
                // socket we are closing.
                session.set_keepalive(None);
                if let Err(err) = respond::write_own(&ctx.state, session, ctx, resp).await {
                    tracing::debug!(error = %err, "could not write error response");
                }
            }
        }
        FailToProxy {
            error_code: code,
            can_reuse_downstream: false,
        }
    }

    async fn logging(&self, session: &mut Session, e: Option<&Error>, ctx: &mut RequestCtx) {
        let s = &*ctx.state;
        let status = session
            .response_written()
            .map(|r| r.status.as_u16())
            .unwrap_or(499);
        let elapsed = ctx.start.elapsed();
        let route = ctx.route.and_then(|i| s.route_metrics.get(i));
        route
            .unwrap_or(&s.unmatched_metrics)
            .observe(status, elapsed.as_secs_f64());
        trace::finish(s, ctx, status, e);
        // The access line carries the trace id. The guard is !Send, so no await can follow it.
        let _in_request = ctx.trace.enter();
        if s.config.log.access_log {
            let req = session.req_header();
            let policy = ctx
                .policy
                .and_then(|(i, d)| s.config.policies.get(i).map(|p| (d, p)));
            tracing::info!(
                target: "gatehouse::access",
                request_id = ctx.request_id.as_ref().and_then(|v| v.to_str().ok()).unwrap_or(""),
                method = %req.method,
                // The path only: the query may hold an `oauth_token`.
                path = req.uri.path(),
                route = ctx.route.and_then(|i| s.config.routes.get(i)).map(|r| r.name.as_str()).unwrap_or("unmatched"),
                status,
                duration_ms = elapsed.as_secs_f64() * 1000.0,
                user_id = ctx.identity.as_ref().and_then(|i| i.user_id()).unwrap_or("-"),
                policy = policy.map_or("-", |(d, _)| d.effect.label()),
                rule = policy.map_or("-", |(d, p)| d.rule_name(p)),
            );
        }
    }
}
