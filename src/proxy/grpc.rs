//! Gatehouse's own answers to gRPC calls (a refusal, an unreachable upstream). A gRPC client
//! reads the status from `grpc-status`, not from the HTTP status or a JSON body (tonic reports
//! such a body as INTERNAL, "invalid compression flag"). The HTTP status stays, so logs and
//! metrics count the refusal as such, and clients that map HTTP statuses (grpc-go) agree.

use http::header::{HeaderValue, CONTENT_TYPE};
use pingora::http::{RequestHeader, ResponseHeader};

/// `application/grpc`, `application/grpc+proto`, …
pub fn is_grpc(req: &RequestHeader) -> bool {
    req.headers
        .get(CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"))
}

/// Turns `header` into a trailers-only gRPC answer: the caller sends it with end of stream
/// and no body.
pub fn trailers_only(header: &mut ResponseHeader) -> pingora::Result<()> {
    let status = header.status.as_u16();
    header.insert_header(CONTENT_TYPE, "application/grpc")?;
    header.insert_header("content-length", "0")?;
    header.insert_header("grpc-status", code(status).to_string())?;
    let reason = header.status.canonical_reason().unwrap_or("refused");
    header.insert_header(
        "grpc-message",
        HeaderValue::from_str(&format!("gatehouse: {status} {reason}"))
            .unwrap_or(HeaderValue::from_static("gatehouse")),
    )?;
    Ok(())
}

/// The gRPC code for an HTTP status, by gRPC's own mapping (doc/http-grpc-status-mapping.md).
fn code(status: u16) -> u8 {
    match status {
        400 => 13,                   // INTERNAL
        401 => 16,                   // UNAUTHENTICATED
        403 => 7,                    // PERMISSION_DENIED
        404 => 12,                   // UNIMPLEMENTED
        429 | 502 | 503 | 504 => 14, // UNAVAILABLE
        _ => 2,                      // UNKNOWN
    }
}
