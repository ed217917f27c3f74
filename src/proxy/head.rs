//! Checks of the request head before routing: its size, and the host it is routed on.

use crate::http::ApiError;
use crate::routing::normalize_host;
use pingora::http::RequestHeader;
use pingora::protocols::http::authority::raw_target_authority;
use std::borrow::Cow;

/// The host to route on: exactly the authority the upstream will act on, normalized. HTTP/1.1
/// requires `Host` (RFC 9112 §3.2), and pingora has already refused a `Host` that differs from an
/// absolute-form target's authority, so for HTTP/1.x `Host` is that authority. An HTTP/1.0
/// absolute-form target goes upstream as it came, authority included; HTTP/2 carries
/// `:authority` in the URI.
pub(super) fn request_host(req: &RequestHeader) -> Result<Option<Cow<'_, str>>, ApiError> {
    let authority = match req.headers.get(http::header::HOST) {
        Some(h) => Some(h.as_bytes()),
        None if req.version == http::Version::HTTP_11 => {
            return Err(ApiError::InvalidRequest(
                "an HTTP/1.1 request needs a Host header".into(),
            ))
        }
        None => raw_target_authority(req.raw_path())
            .authority()
            .or_else(|| req.uri.authority().map(|a| a.as_str().as_bytes())),
    };
    authority
        .map(|a| normalize_host(a).map_err(|e| ApiError::InvalidRequest(e.to_string())))
        .transpose()
}

/// Refuses header sections larger than we accept (RFC 6585 §5).
pub(super) fn check_header_size(
    req: &RequestHeader,
    max_header_bytes: usize,
) -> Result<(), ApiError> {
    let size: usize = req
        .headers
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len() + 4)
        .sum();
    if size > max_header_bytes {
        return Err(ApiError::HeadersTooLarge);
    }
    Ok(())
}
