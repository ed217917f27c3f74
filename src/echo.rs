//! The echo service: answers with what Gatehouse would forward upstream for this request, so a
//! newcomer sees authentication work without running an upstream.

use crate::http::{ApiError, Auth, Contract, Endpoint, OwnResponse, Request, Verb};
use serde_json::{json, Map, Value};

pub struct EchoService;

/// Any method, any path under the route; the route's own `auth` and `scopes` apply.
pub const ENDPOINTS: &[Endpoint<EchoService>] = &[Endpoint {
    verb: Verb::Any,
    path: "/*",
    auth: Auth::Route,
    contract: Contract::Rfc6750,
    handler: |_, r| Box::pin(async move { handle(&r) }),
}];

fn handle(req: &Request) -> Result<OwnResponse, ApiError> {
    let headers: Map<String, Value> = req
        .forwarded
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    Ok(OwnResponse::json(
        200,
        &json!({
            "route": req.route_name,
            "method": req.method.as_str(),
            "path": req.path,
            "authenticated": req.identity.is_some(),
            "identity_headers": headers,
        }),
    ))
}
