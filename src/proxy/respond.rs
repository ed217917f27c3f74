//! Writing a response from inside the proxy (errors, handlers, preflights). pingora skips
//! `response_filter` for these, so the common headers are added here.

use super::RequestCtx;
use crate::app::AppState;
use crate::http::render::{RATELIMIT, RATELIMIT_POLICY};
use crate::http::{request_id, HeadEdit, OwnResponse};
use http::header::{HeaderName, HeaderValue};
use http::HeaderMap;

pub(super) const REQUEST_ID: HeaderName = HeaderName::from_static(request_id::HEADER);
use pingora::http::ResponseHeader;
use pingora::proxy::Session;

pub async fn write_own(
    state: &AppState,
    session: &mut Session,
    ctx: &RequestCtx,
    resp: OwnResponse,
) -> pingora::Result<()> {
    let mut header = own_head(state, ctx, resp.status, resp.headers)?;
    header.insert_header(http::header::CONTENT_LENGTH, resp.body.len().to_string())?;
    // A request body we did not read would be taken for the next request: close instead.
    if !session.is_body_empty() && !ctx.body_consumed {
        session.set_keepalive(None);
    }
    if resp.status >= 400 && super::grpc::is_grpc(session.req_header()) {
        super::grpc::trailers_only(&mut header)?;
        return session.write_response_header(Box::new(header), true).await;
    }
    let head_only = session.req_header().method == http::Method::HEAD;
    session
        .write_response_header(Box::new(header), head_only)
        .await?;
    if !head_only {
        session.write_response_body(Some(resp.body), true).await?;
    }
    Ok(())
}

/// An allowed forward-auth decision: 200 with the identity headers for the ingress to copy,
/// `no-store`, the request id and the rate-limit fields. Nothing of it reaches a browser (the
/// ingress copies only the headers it is told to), so the browser-facing common headers and
/// `X-Runtime` are left out, and the head is built as a plain header map: this is the answer
/// an ingress asks for on every request, and pingora's header-by-header insertion re-parses
/// and case-maps each name.
pub async fn write_allowed_decision(
    session: &mut Session,
    ctx: &RequestCtx,
    mut headers: HeaderMap,
) -> pingora::Result<()> {
    headers.extend(crate::http::render::no_store());
    if let Some(id) = &ctx.request_id {
        headers.insert(REQUEST_ID, id.clone());
    }
    if let Some(h) = &ctx.rate_headers {
        headers.insert(RATELIMIT_POLICY, h.policy.clone());
        headers.insert(RATELIMIT, h.state.clone());
    }
    headers.insert(http::header::CONTENT_LENGTH, HeaderValue::from_static("0"));
    let (mut parts, ()) = http::Response::new(()).into_parts();
    parts.status = http::StatusCode::OK;
    parts.headers = headers;
    // A request body we did not read would be taken for the next request: close instead.
    if !session.is_body_empty() && !ctx.body_consumed {
        session.set_keepalive(None);
    }
    // No body, whatever the method: the head ends the response.
    session
        .write_response_header(Box::new(ResponseHeader::from(parts)), true)
        .await
}

/// The head of a response of our own, without its framing: the response's headers, the
/// common set, the request id, the timing and the rate-limit fields. gRPC `ext_authz` hands
/// the same fields to Envoy for its denied responses.
pub(super) fn own_head(
    state: &AppState,
    ctx: &RequestCtx,
    status: u16,
    headers: Vec<(HeaderName, HeaderValue)>,
) -> pingora::Result<ResponseHeader> {
    let mut header = ResponseHeader::build(status, Some(headers.len() + 14))?;
    for (name, value) in headers {
        header.append_header(name, value)?;
    }
    state.common_headers.apply(&mut header, ctx.origin.as_ref());
    if let Some(id) = &ctx.request_id {
        header.insert_header(REQUEST_ID, id.clone())?;
    }
    header.insert_header(
        "x-runtime",
        format!("{:.6}", ctx.start.elapsed().as_secs_f64()),
    )?;
    if let Some(h) = &ctx.rate_headers {
        rate_headers(&mut header, h);
    }
    hsts(state, ctx, &mut header);
    Ok(header)
}

/// `Strict-Transport-Security` on a response over TLS, unless the upstream set its own.
pub(super) fn hsts<H: HeadEdit + ?Sized>(state: &AppState, ctx: &RequestCtx, header: &mut H) {
    if !ctx.tls
        || header
            .headers()
            .contains_key(http::header::STRICT_TRANSPORT_SECURITY)
    {
        return;
    }
    if let Some(value) = state
        .config
        .server
        .tls
        .as_ref()
        .and_then(|t| t.hsts.as_ref())
    {
        header.set(&http::header::STRICT_TRANSPORT_SECURITY, value.clone());
    }
}

/// `RateLimit-Policy` and `RateLimit` on a response the limits let through.
pub(super) fn rate_headers<H: HeadEdit + ?Sized>(
    header: &mut H,
    h: &crate::ratelimit::RateHeaders,
) {
    header.set(&RATELIMIT_POLICY, h.policy.clone());
    header.set(&RATELIMIT, h.state.clone());
}
