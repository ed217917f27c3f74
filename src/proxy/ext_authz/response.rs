//! A decision said in Envoy's terms. Allowed: `OK` with the identity headers to set on the
//! forwarded request, every other spelling of them removed, and the rate-limit fields for
//! the client. Refused: the proxy's own refusal (status, body, `WWW-Authenticate`,
//! `Retry-After`, common headers) as a `denied_response`, under the matching gRPC code.

use super::super::forward_auth::Verdict;
use super::super::respond::own_head;
use super::super::RequestCtx;
use crate::app::AppState;
use crate::http::render::{RATELIMIT, RATELIMIT_POLICY};
use crate::http::OwnResponse;
use envoy_types::pb::envoy::config::core::v3::header_value_option::HeaderAppendAction;
use envoy_types::pb::envoy::config::core::v3::{HeaderValue, HeaderValueOption};
use envoy_types::pb::envoy::r#type::v3::HttpStatus;
use envoy_types::pb::envoy::service::auth::v3::check_response::HttpResponse;
use envoy_types::pb::envoy::service::auth::v3::{
    CheckResponse, DeniedHttpResponse, OkHttpResponse,
};
use envoy_types::pb::google::rpc::Status;
use http::header::CONTENT_LENGTH;
use tonic::Code;

/// `seen`: the lowercase header names of the request Envoy described.
pub fn check_response(
    state: &AppState,
    ctx: &RequestCtx,
    verdict: Verdict,
    seen: &[&str],
) -> CheckResponse {
    match verdict {
        Verdict::Allowed => allowed(state, ctx, seen),
        Verdict::Refused(_, refusal, _) => denied(state, ctx, refusal),
    }
}

fn allowed(state: &AppState, ctx: &RequestCtx, seen: &[&str]) -> CheckResponse {
    let ih = &state.identity_headers;
    let mut set = Vec::new();
    let mut remove = Vec::new();
    for (name, value) in ih.pairs(ctx.identity.as_deref()) {
        match value {
            // Overwrite: every value the client sent under this name is discarded.
            Some(v) => set.push(option(name.as_str(), v.as_bytes(), true)),
            None => remove.push(name.as_str().to_string()),
        }
    }
    let is_set = |n: &str| {
        set.iter()
            .any(|o| o.header.as_ref().is_some_and(|h| h.key == n))
    };
    // Envoy matches names exactly, while some upstreams fold `_` into `-`: remove the
    // spellings the client used, and the `_` spelling of each name in case Envoy was told to
    // send only some headers.
    for name in ih.stripped_names() {
        if !is_set(name) && !remove.contains(name) {
            remove.push(name.clone());
        }
        let underscored = name.replace('-', "_");
        if underscored != *name && !remove.contains(&underscored) {
            remove.push(underscored);
        }
    }
    for name in seen.iter().filter(|n| ih.is_stripped(n) && !is_set(n)) {
        if !remove.iter().any(|r| r == name) {
            remove.push(name.to_string());
        }
    }
    let mut for_client = Vec::new();
    if let Some(h) = &ctx.rate_headers {
        for_client.push(option(RATELIMIT_POLICY.as_str(), h.policy.as_bytes(), true));
        for_client.push(option(RATELIMIT.as_str(), h.state.as_bytes(), true));
    }
    CheckResponse {
        status: Some(Status {
            code: Code::Ok as i32,
            ..Default::default()
        }),
        http_response: Some(HttpResponse::OkResponse(OkHttpResponse {
            headers: set,
            headers_to_remove: remove,
            response_headers_to_add: for_client,
            ..Default::default()
        })),
        ..Default::default()
    }
}

fn denied(state: &AppState, ctx: &RequestCtx, refusal: OwnResponse) -> CheckResponse {
    let status = refusal.status;
    let mut headers: Vec<HeaderValueOption> = Vec::new();
    match own_head(state, ctx, status, refusal.headers) {
        Ok(head) => {
            for (name, value) in head.headers.iter() {
                if name == CONTENT_LENGTH {
                    continue; // Envoy frames the body itself.
                }
                // Overwrite Envoy's own (its local reply's content type); a second value of
                // ours is appended.
                let first = !headers
                    .iter()
                    .any(|o| o.header.as_ref().is_some_and(|h| h.key == name.as_str()));
                headers.push(option(name.as_str(), value.as_bytes(), first));
            }
        }
        Err(e) => tracing::warn!(error = %e, "ext_authz: the refusal's headers could not be built"),
    }
    let message = match status {
        401 => "unauthenticated",
        403 => "forbidden",
        429 => "rate limited",
        _ => "refused",
    };
    CheckResponse {
        status: Some(Status {
            code: grpc_code(status) as i32,
            message: message.into(),
            ..Default::default()
        }),
        http_response: Some(HttpResponse::DeniedResponse(DeniedHttpResponse {
            status: Some(HttpStatus {
                code: i32::from(status),
            }),
            headers,
            body: String::from_utf8_lossy(&refusal.body).into_owned(),
        })),
        ..Default::default()
    }
}

/// The gRPC code closest to the refusal's HTTP status (Envoy denies on any code but `OK`;
/// the code is for logs and for other clients of the service).
fn grpc_code(status: u16) -> Code {
    match status {
        400 => Code::InvalidArgument,
        401 => Code::Unauthenticated,
        404 => Code::NotFound,
        429 => Code::ResourceExhausted,
        503 => Code::Unavailable,
        500..=599 => Code::Internal,
        _ => Code::PermissionDenied,
    }
}

/// A header for Envoy: `value` when it is text, else `raw_value`.
fn option(name: &str, value: &[u8], overwrite: bool) -> HeaderValueOption {
    let (value, raw_value) = match std::str::from_utf8(value) {
        Ok(text) => (text.to_string(), Vec::new()),
        Err(_) => (String::new(), value.to_vec()),
    };
    let action = if overwrite {
        HeaderAppendAction::OverwriteIfExistsOrAdd
    } else {
        HeaderAppendAction::AppendIfExistsOrAdd
    };
    HeaderValueOption {
        header: Some(HeaderValue {
            key: name.to_string(),
            value,
            raw_value,
        }),
        append_action: action as i32,
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_map_to_the_nearest_grpc_code() {
        assert_eq!(grpc_code(401), Code::Unauthenticated);
        assert_eq!(grpc_code(403), Code::PermissionDenied);
        assert_eq!(grpc_code(429), Code::ResourceExhausted);
        assert_eq!(grpc_code(503), Code::Unavailable);
        assert_eq!(grpc_code(500), Code::Internal);
        assert_eq!(grpc_code(405), Code::PermissionDenied);
    }

    #[test]
    fn binary_values_go_as_raw_bytes() {
        let o = option("x-a", b"\xff", true);
        let h = o.header.unwrap();
        assert_eq!(
            (h.value.as_str(), h.raw_value.as_slice()),
            ("", &b"\xff"[..])
        );
        let o = option("x-a", b"text", false);
        assert_eq!(o.header.unwrap().value, "text");
        assert_eq!(
            o.append_action,
            HeaderAppendAction::AppendIfExistsOrAdd as i32
        );
    }
}
