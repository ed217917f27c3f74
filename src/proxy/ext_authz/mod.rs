//! Envoy's gRPC `ext_authz` (`envoy.service.auth.v3.Authorization/Check`): the front end of
//! `forward_auth.grpc_listen`. The answer is the one decision the HTTP endpoint gives
//! (`GatehouseProxy::decide_for_ingress`), asked about the request Envoy describes, traced
//! (`[tracing]`) as one server span like an HTTP request's.

mod request;
mod response;

use super::forward_auth::Verdict;
use super::{trace, GatehouseProxy, RequestCtx};
use crate::app::{AppState, Live};
use crate::http::request_id;
use crate::metrics::FrontEnd;
use envoy_types::pb::envoy::service::auth::v3::attribute_context::HttpRequest;
use envoy_types::pb::envoy::service::auth::v3::authorization_server::Authorization;
use envoy_types::pb::envoy::service::auth::v3::{CheckRequest, CheckResponse};
use std::sync::Arc;
use tonic::{Request, Response, Status};
use tracing::Instrument;

pub use envoy_types::pb::envoy::service::auth::v3::authorization_server::AuthorizationServer;

pub struct ExtAuthz {
    /// Each Check is decided on the generation current when it arrives.
    live: Arc<Live>,
}

impl ExtAuthz {
    pub fn new(live: Arc<Live>) -> Self {
        ExtAuthz { live }
    }
}

impl ExtAuthz {
    /// What the proxy's `logging` hook does for an HTTP decision: the route's request metrics
    /// and, when enabled, the access log line.
    fn record(s: &AppState, ctx: &RequestCtx, status: u16, http: Option<&HttpRequest>) {
        let elapsed = ctx.start.elapsed();
        let route = ctx.route.and_then(|i| s.route_metrics.get(i));
        route
            .unwrap_or(&s.unmatched_metrics)
            .observe(status, elapsed.as_secs_f64());
        if !s.config.log.access_log {
            return;
        }
        let policy = ctx
            .policy
            .and_then(|(i, d)| s.config.policies.get(i).map(|p| (d, p)));
        // The path only: the query may hold an `oauth_token`.
        let path = http.map_or("", |h| h.path.split('?').next().unwrap_or(""));
        tracing::info!(
            target: "gatehouse::access",
            request_id = ctx.request_id.as_ref().and_then(|v| v.to_str().ok()).unwrap_or(""),
            front_end = "grpc",
            method = http.map_or("", |h| h.method.as_str()),
            path,
            route = ctx.route.and_then(|i| s.config.routes.get(i)).map(|r| r.name.as_str()).unwrap_or("unmatched"),
            status,
            duration_ms = elapsed.as_secs_f64() * 1000.0,
            user_id = ctx.identity.as_ref().and_then(|i| i.user_id()).unwrap_or("-"),
            policy = policy.map_or("-", |(d, _)| d.effect.label()),
            rule = policy.map_or("-", |(d, p)| d.rule_name(p)),
        );
    }
}

#[tonic::async_trait]
impl Authorization for ExtAuthz {
    async fn check(
        &self,
        request: Request<CheckRequest>,
    ) -> Result<Response<CheckResponse>, Status> {
        let asker = request.remote_addr().map(|a| a.ip());
        let (metadata, _, check) = request.into_parts();
        let proxy = GatehouseProxy::decisions(self.live.current());
        let mut ctx = RequestCtx::new(proxy.state.clone());
        let described = request::http_attributes(&check);
        trace::begin_check(
            &proxy.state,
            asker,
            metadata.as_ref(),
            described.map_or("", |h| h.method.as_str()),
            described.map_or("", |h| h.path.as_str()),
            &mut ctx,
        );
        let span = ctx.trace.span();
        let seen = described.map(request::headers);
        let seen = seen.unwrap_or_default();
        let header = |name: &str| {
            seen.iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .and_then(|(_, v)| http::HeaderValue::from_bytes(v).ok())
        };
        ctx.request_id = Some(request_id::request_id(header(request_id::HEADER).as_ref()));
        ctx.origin = header(http::header::ORIGIN.as_str());
        // The client's address is Envoy's `source`; without one, Envoy (a trusted proxy) is
        // the peer and the described `X-Forwarded-For` names the client.
        let client = request::source_ip(&check).or(asker);
        let verdict = proxy
            .decide_for_ingress(
                FrontEnd::Grpc,
                asker,
                client,
                || request::describe_check(&check),
                &mut ctx,
            )
            .instrument(span)
            .await;
        let status = match &verdict {
            Verdict::Allowed => 200,
            Verdict::Refused(_, refusal, _) => refusal.status,
        };
        trace::finish(&proxy.state, &ctx, status, None);
        {
            // The access line carries the Check's trace id, as an HTTP request's does.
            let _in_check = ctx.trace.enter();
            Self::record(&proxy.state, &ctx, status, described);
        }
        let names: Vec<&str> = seen.iter().map(|(n, _)| *n).collect();
        Ok(Response::new(response::check_response(
            &proxy.state,
            &ctx,
            verdict,
            &names,
        )))
    }
}
