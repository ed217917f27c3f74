//! The request's OpenTelemetry spans (`[tracing]`): one server span per request (an Envoy
//! `Check` included) with its route, status and authentication decision, a client span for
//! the upstream call, and the
//! W3C trace context: an incoming `traceparent`/`tracestate` is believed from trusted proxies
//! only, and the upstream always gets ours in place of whatever the client sent.
//!
//! Without `[tracing]` the spans kept are `Span::none()` and every function here returns at its
//! first check: no span object, no header read, no allocation; client-sent trace headers pass
//! through untouched, as before.

use super::RequestCtx;
use crate::app::AppState;
use crate::http::HeadEdit;
use crate::metrics::AuthDecision;
use crate::telemetry::{attach_trace_id, SPANS};
use http::header::{HeaderName, HeaderValue};
use opentelemetry::propagation::{Injector, TextMapPropagator};
use opentelemetry::trace::{Status, TraceContextExt};
use opentelemetry_http::HeaderExtractor;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use pingora::proxy::Session;
use std::net::IpAddr;
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

const TRACEPARENT: &str = "traceparent";
const TRACESTATE: &str = "tracestate";
const TRACEPARENT_NAME: HeaderName = HeaderName::from_static(TRACEPARENT);
const TRACESTATE_NAME: HeaderName = HeaderName::from_static(TRACESTATE);

/// The request's spans; `Span::none()` when tracing is off.
pub struct RequestTrace {
    span: Span,
    upstream: Span,
}

impl RequestTrace {
    pub(super) fn off() -> Self {
        RequestTrace {
            span: Span::none(),
            upstream: Span::none(),
        }
    }

    /// For the hooks' futures, so that spans and log lines inside them belong to the request.
    pub(super) fn span(&self) -> Span {
        self.span.clone()
    }

    pub(super) fn enter(&self) -> tracing::span::Entered<'_> {
        self.span.enter()
    }
}

/// A new server span named `request`, in the trace `headers` carry when they come from a
/// trusted peer (`None` when tracing is off).
fn server_span(state: &AppState, trusted: bool, headers: &http::HeaderMap) -> Option<Span> {
    state.config.tracing.as_ref()?;
    let span = tracing::info_span!(target: SPANS, parent: None, "request", otel.kind = "server");
    if span.is_disabled() {
        return None;
    }
    if trusted {
        let parent = TraceContextPropagator::new().extract(&HeaderExtractor(headers));
        if parent.span().span_context().is_valid() {
            // Fails only once the span has started, which it has not.
            let _ = span.set_parent(parent);
        }
    }
    Some(span)
}

/// Starts the request's span: in the trace of a trusted peer's `traceparent`, else a new one.
pub(super) fn begin(state: &AppState, session: &Session, ctx: &mut RequestCtx) {
    if state.config.tracing.is_none() {
        return;
    }
    let req = session.req_header();
    let peer = session
        .client_addr()
        .and_then(|a| a.as_inet())
        .map(|a| a.ip());
    let trusted = peer.is_some_and(|ip| state.identity_headers.is_trusted(ip));
    let Some(span) = server_span(state, trusted, &req.headers) else {
        return;
    };
    span.set_attribute("http.request.method", req.method.as_str().to_owned());
    // The path only: the query may hold an `oauth_token`.
    span.set_attribute("url.path", req.uri.path().to_owned());
    attach_trace_id(&span);
    ctx.trace.span = span;
}

/// Starts the span of an Envoy `Check` (gRPC ext_authz), the counterpart of an HTTP request's:
/// in the trace of a trusted asker's call (Envoy sends `traceparent` in the call's metadata),
/// else a new one. `method` and `path` are those of the request Envoy asks about.
pub(super) fn begin_check(
    state: &AppState,
    asker: Option<IpAddr>,
    metadata: &http::HeaderMap,
    method: &str,
    path: &str,
    ctx: &mut RequestCtx,
) {
    let trusted = asker.is_some_and(|ip| state.identity_headers.is_trusted(ip));
    let Some(span) = server_span(state, trusted, metadata) else {
        return;
    };
    span.set_attribute("rpc.system", "grpc");
    span.set_attribute("rpc.service", "envoy.service.auth.v3.Authorization");
    span.set_attribute("rpc.method", "Check");
    span.set_attribute("http.request.method", method.to_owned());
    // The path only: the query may hold an `oauth_token`.
    let path = path.split('?').next().unwrap_or("");
    span.set_attribute("url.path", path.to_owned());
    attach_trace_id(&span);
    ctx.trace.span = span;
}

/// The authentication step's verdict (the metric's label, never the credential).
pub(super) fn decision(state: &AppState, decision: AuthDecision) {
    if state.config.tracing.is_some() {
        Span::current().set_attribute("gatehouse.auth.decision", decision.label());
    }
}

/// Opens the upstream call's span and sends its context as the upstream's `traceparent`.
pub(super) fn upstream(
    state: &AppState,
    upstream: Option<usize>,
    trace: &mut RequestTrace,
    upstream_request: &mut dyn HeadEdit,
) {
    if trace.span.is_disabled() {
        return;
    }
    let name = upstream
        .and_then(|i| state.upstreams.get(i))
        .map_or("-", |g| g.name.as_str());
    let span = tracing::info_span!(
        target: SPANS,
        parent: &trace.span,
        "upstream",
        otel.kind = "client",
        gatehouse.upstream = name,
    );
    let mut fields = TraceFields::default();
    TraceContextPropagator::new().inject_context(&span.context(), &mut fields);
    upstream_request.unset(&TRACEPARENT_NAME);
    upstream_request.unset(&TRACESTATE_NAME);
    // The propagator writes printable ASCII; anything else is left out, not sent broken.
    if let Some(Ok(v)) = fields.traceparent.map(HeaderValue::try_from) {
        upstream_request.set(&TRACEPARENT_NAME, v);
    }
    if let Some(Ok(v)) = fields.tracestate.map(HeaderValue::try_from) {
        upstream_request.set(&TRACESTATE_NAME, v);
    }
    // A retry's span replaces (and so ends) the failed attempt's.
    trace.upstream = span;
}

/// Records the outcome on the spans; they end when the request's state is dropped.
pub(super) fn finish(
    state: &AppState,
    ctx: &RequestCtx,
    status: u16,
    error: Option<&pingora::Error>,
) {
    let span = &ctx.trace.span;
    if span.is_disabled() {
        return;
    }
    let route = ctx
        .route
        .and_then(|i| state.config.routes.get(i))
        .map_or("unmatched", |r| r.name.as_str());
    span.set_attribute("gatehouse.route", route.to_owned());
    span.set_attribute("http.response.status_code", i64::from(status));
    if let Some((decision, policy)) = ctx
        .policy
        .and_then(|(i, d)| state.config.policies.get(i).map(|p| (d, p)))
    {
        span.set_attribute("gatehouse.policy.effect", decision.effect.label());
        span.set_attribute(
            "gatehouse.policy.rule",
            decision.rule_name(policy).to_owned(),
        );
    }
    if status >= 500 {
        span.set_status(Status::error(format!("HTTP {status}")));
    }
    let upstream = &ctx.trace.upstream;
    if upstream.is_disabled() {
        return;
    }
    match error {
        Some(e) if matches!(e.esource(), pingora::ErrorSource::Upstream) => {
            upstream.set_status(Status::error(e.etype().as_str()));
        }
        _ => upstream.set_attribute("http.response.status_code", i64::from(status)),
    }
}

/// What the propagator writes: the two W3C fields, nothing else.
#[derive(Default)]
struct TraceFields {
    traceparent: Option<String>,
    tracestate: Option<String>,
}

impl Injector for TraceFields {
    fn set(&mut self, key: &str, value: String) {
        match key {
            TRACEPARENT => self.traceparent = Some(value),
            TRACESTATE if !value.is_empty() => self.tracestate = Some(value),
            _ => {}
        }
    }
}
