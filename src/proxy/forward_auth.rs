//! The forward-auth decision endpoint. An ingress that carries the traffic itself asks
//! whether a request may pass; the answer is the proxy's own decision for that request
//! (`decide`: the same normalization, route table, authentication and route rules), so the
//! two modes cannot drift apart. Allowed → 200 with the identity headers for the ingress to
//! copy upstream; refused → the proxy's own refusal, body and `WWW-Authenticate` included.
//! `decide_for_ingress` is that one decision for both front ends: this endpoint and Envoy's
//! gRPC `ext_authz` (`ext_authz/`).

use super::described::describe;
use super::{respond, session, GatehouseProxy, Purpose, RequestCtx};
use crate::app::AppState;
use crate::http::{ApiError, Contract, OwnResponse};
use crate::metrics::{ForwardAuthResult, FrontEnd};
use crate::routing::normalize_path;
use http::{HeaderMap, HeaderValue};
use pingora::http::RequestHeader;
use pingora::proxy::Session;
use std::net::IpAddr;
use std::sync::Arc;

/// What a listener serves: the proxy (and decisions at `forward_auth.path` when they have
/// no listener of their own), or decisions only (`forward_auth.listen`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listener {
    Proxy,
    Decisions,
}

impl GatehouseProxy {
    /// One decision for an ingress on `state` (gRPC `ext_authz`).
    pub(super) fn decisions(state: Arc<AppState>) -> Self {
        GatehouseProxy {
            state,
            listener: Listener::Decisions,
        }
    }

    /// Answers the request when it is one for this listener's decision endpoint (or when the
    /// listener serves nothing else); `None`: an ordinary request for the proxy.
    pub(super) async fn forward_auth(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
    ) -> Option<pingora::Result<bool>> {
        let fa = match (&self.state.config.forward_auth, self.listener) {
            (Some(fa), Listener::Decisions) => fa,
            (Some(fa), Listener::Proxy) if fa.listen.is_none() => fa,
            _ => return None,
        };
        let req = session.req_header();
        let path = normalize_path(req.uri.path()).ok();
        let appended = path.as_deref().and_then(|p| {
            let rest = p.strip_prefix(fa.path.as_str())?;
            (rest.is_empty() || rest.starts_with('/')).then(|| rest.to_string())
        });
        let response = match appended {
            Some(rest) => match self.decision(session, ctx, &rest).await {
                Answer::Allowed(headers) => {
                    return Some(
                        respond::write_allowed_decision(session, ctx, headers)
                            .await
                            .map(|()| true),
                    )
                }
                Answer::Refused(response) => response,
            },
            None if self.listener == Listener::Proxy => return None,
            None => {
                let elsewhere = ApiError::NotFound(format!(
                    "this listener answers only forward-auth decisions, at {}",
                    fa.path
                ));
                self.state.renderer.render(Contract::Rfc6750, &elsewhere)
            }
        };
        Some(
            respond::write_own(&self.state, session, ctx, response)
                .await
                .map(|()| true),
        )
    }

    /// `appended` is what followed the decision path: empty, or Envoy's original path.
    async fn decision(&self, session: &Session, ctx: &mut RequestCtx, appended: &str) -> Answer {
        let req = session.req_header();
        // The ingress is the peer; the client behind it is in its X-Forwarded-For, which the
        // policy's and the limits' address reading believes because the ingress is trusted.
        let peer = session
            .client_addr()
            .and_then(|a| a.as_inet())
            .map(|a| a.ip());
        let described = || {
            let appended = (!appended.is_empty()).then(|| match req.uri.query() {
                Some(q) => format!("{appended}?{q}"),
                None => appended.to_string(),
            });
            describe(req, appended.as_deref())
        };
        match self
            .decide_for_ingress(FrontEnd::Http, peer, peer, described, ctx)
            .await
        {
            Verdict::Allowed => {
                let mut headers = HeaderMap::with_capacity(12);
                let pairs = self.state.identity_headers.pairs(ctx.identity.as_deref());
                for (name, value) in pairs {
                    // Empty, not absent: `auth_request_set` must not keep a stale value.
                    let value = value.unwrap_or(HeaderValue::from_static(""));
                    headers.insert(name.clone(), value);
                }
                headers.extend(session::cookie_for_upstream(&self.state, req));
                Answer::Allowed(headers)
            }
            Verdict::Refused(_, refusal, Some(location)) => Answer::Refused(
                session::sign_in_for_ingress(&self.state, req, &location, refusal),
            ),
            Verdict::Refused(_, refusal, None) => Answer::Refused(refusal),
        }
    }

    /// The one decision behind both front ends (this HTTP endpoint and gRPC `ext_authz`):
    /// `asker` is the peer that asks, which must be a trusted proxy; `client_peer` is where the
    /// described request came from (the ingress itself when it forwards the client's address in
    /// `X-Forwarded-For`). Counted in `gatehouse_forward_auth_decisions_total`.
    pub(super) async fn decide_for_ingress(
        &self,
        front_end: FrontEnd,
        asker: Option<IpAddr>,
        client_peer: Option<IpAddr>,
        described: impl FnOnce() -> Result<RequestHeader, ApiError>,
        ctx: &mut RequestCtx,
    ) -> Verdict {
        let s = &*self.state;
        let verdict = if !asker.is_some_and(|ip| s.identity_headers.is_trusted(ip)) {
            // The described request is whatever the asker says it is: only an ingress may say.
            tracing::warn!(
                peer = ?asker,
                front_end = front_end.label(),
                "forward-auth decision refused: the peer is not in server.trusted_proxies"
            );
            let untrusted = ApiError::Forbidden(
                "forward-auth decisions are answered only to server.trusted_proxies".into(),
            );
            Verdict::Refused(
                ForwardAuthResult::Untrusted,
                s.renderer.render(Contract::Rfc6750, &untrusted),
                None,
            )
        } else {
            let decided = match described() {
                Ok(described) => self
                    .decide(&described, client_peer, ctx, Purpose::Decision)
                    .await
                    .map(|_| ()),
                Err(e) => Err((e, Contract::Rfc6750)),
            };
            match decided {
                Ok(()) => Verdict::Allowed,
                Err((error, contract)) => {
                    let sign_in = match &error {
                        ApiError::SignIn { location } => Some(location.clone()),
                        _ => None,
                    };
                    let refusal = s.renderer.render(contract, &error);
                    Verdict::Refused(result_of(&error), refusal, sign_in)
                }
            }
        };
        let result = match &verdict {
            Verdict::Allowed => ForwardAuthResult::Allowed,
            Verdict::Refused(result, _, _) => *result,
        };
        s.metrics.forward_auth_decision(front_end, result);
        verdict
    }
}

/// The HTTP endpoint's answer: an allowed decision's headers for the ingress to copy (written
/// by the lean `write_allowed_decision`), or a response of the proxy's own.
enum Answer {
    Allowed(HeaderMap),
    Refused(OwnResponse),
}

/// What a forward-auth decision came to, for each front end to say in its own protocol.
pub(super) enum Verdict {
    /// The described request may pass, as `RequestCtx::identity` (none on a public route).
    Allowed,
    /// The proxy's own refusal of the described request, body and headers included, and for a
    /// browser sent to sign in, where to (each front end says it in the form its ingress takes).
    Refused(ForwardAuthResult, OwnResponse, Option<String>),
}

fn result_of(error: &ApiError) -> ForwardAuthResult {
    match error.status() {
        400 => ForwardAuthResult::Invalid,
        // 302: a browser sent to sign in.
        302 | 401 => ForwardAuthResult::Unauthenticated,
        403 => ForwardAuthResult::Forbidden,
        503 => ForwardAuthResult::Unavailable,
        _ => ForwardAuthResult::Other,
    }
}
