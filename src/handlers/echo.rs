//! The demo handler: answers with what Gatehouse would forward upstream for this request, so a
//! newcomer sees authentication work without running an upstream.

use super::HandlerRequest;
use crate::http::OwnResponse;
use serde_json::{json, Map, Value};

pub fn handle(req: &HandlerRequest<'_>) -> OwnResponse {
    let headers: Map<String, Value> = req
        .forwarded
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    OwnResponse::json(
        200,
        &json!({
            "route": req.route_name,
            "method": req.method.as_str(),
            "path": req.path,
            "authenticated": req.identity.is_some(),
            "identity_headers": headers,
        }),
    )
}
