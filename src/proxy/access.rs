//! After authentication: the route's policy, then its rate limits (and the credential
//! endpoints' built-in one). A route with neither returns at the first two checks, without a
//! lookup or an allocation.

use super::{GatehouseProxy, RequestCtx};
use crate::config::Effect;
use crate::http::ApiError;
use crate::policy::{evaluate, Facts};
use crate::ratelimit::Subject;
use crate::routing::Route;
use pingora::http::RequestHeader;
use std::net::IpAddr;

impl GatehouseProxy {
    pub(super) async fn check_access(
        &self,
        req: &RequestHeader,
        ctx: &mut RequestCtx,
        route: &Route,
        path: &str,
        peer: Option<IpAddr>,
        credential: bool,
    ) -> Result<(), ApiError> {
        let s = &*self.state;
        let limits: &[usize] = match (credential, &s.credentials_limit) {
            (true, Some(limit)) => std::slice::from_ref(limit),
            _ => &route.rate_limits,
        };
        let policy = route.policy.and_then(|i| s.config.policies.get(i));
        if policy.is_none() && limits.is_empty() {
            return Ok(());
        }
        let reads_address = policy.is_some_and(|p| p.uses_address)
            || (!limits.is_empty() && s.rate_limiter.reads_address(limits));
        let address = if reads_address {
            s.identity_headers.client_ip(peer, &req.headers)
        } else {
            None
        };
        if let (Some(i), Some(policy)) = (route.policy, policy) {
            let decision = evaluate(
                policy,
                &Facts {
                    identity: ctx.identity.as_deref(),
                    method: &req.method,
                    path,
                    address,
                },
            );
            let counters = s.policy_counters.get(route.index);
            let slot = decision.rule.unwrap_or(policy.rules.len());
            if let Some(c) = counters.and_then(|c| c.get(slot)) {
                c.inc();
            }
            ctx.policy = Some((i, decision));
            if decision.effect == Effect::Deny {
                return Err(ApiError::AccessDenied);
            }
        }
        if !limits.is_empty() {
            let who = Subject {
                identity: ctx.identity.as_deref(),
                address,
                route: route.index,
                route_name: &route.name,
            };
            ctx.rate_headers = s.rate_limiter.check(limits, &who).await?;
        }
        Ok(())
    }
}
