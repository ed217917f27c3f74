//! Message framing we refuse before anything is routed (SECURITY F3): wherever two parsers
//! could disagree on where a request ends, the request is an error, not a guess. pingora
//! already refuses conflicting lengths and a non-chunked final coding; these are the cases it
//! reconciles instead, each of which an upstream or an intermediary may read differently.
//! A chunked body is read, and its framing checked, before its head goes upstream.

use bytes::{Bytes, BytesMut};
use pingora::proxy::Session;

/// How much of a chunked request body is read before the request head goes upstream. A body
/// that is malformed within it is refused and the upstream never hears of the request; a body
/// still well-formed past it streams, so memory per request stays bounded (nginx's
/// `proxy_request_buffering` makes the same trade at its buffer size).
pub const PREREAD_LIMIT: usize = 64 * 1024;

/// Any reason the request's framing is ambiguous.
pub fn has_framing_conflict(session: &Session) -> bool {
    let req = session.req_header();
    if req.version >= http::Version::HTTP_2 {
        return false;
    }
    // httparse accepts a bare LF as a line end; a front proxy that does not would see one
    // header line where we see two (RFC 9112 §2.2 lets a recipient refuse it).
    if has_bare_lf(&session.to_h1_raw()) {
        return true;
    }
    let headers = &req.headers;
    let mut lengths = headers.get_all(http::header::CONTENT_LENGTH).iter();
    // Identical repeats and lists (`4, 4`) are reconciled by pingora (RFC 9110 §8.6 allows
    // it); an upstream or cache that takes the first or the last is the smuggling risk.
    if lengths.next().is_some_and(|v| v.as_bytes().contains(&b',')) || lengths.next().is_some() {
        return true;
    }
    if headers.contains_key(http::header::TRANSFER_ENCODING)
        && (!only_chunked(headers) || raw_has_content_length(session))
    {
        return true;
    }
    // `Transfer_Encoding` / `Content_Length`: not framing headers to pingora, but servers that
    // fold `_` into `-` (CGI, some Rack and PHP setups) read them as such.
    headers.keys().any(|k| {
        let k = k.as_str();
        k.contains('_')
            && (k.eq_ignore_ascii_case("transfer_encoding")
                || k.eq_ignore_ascii_case("content_length"))
    })
}

fn has_bare_lf(head: &[u8]) -> bool {
    memchr::memchr_iter(b'\n', head).any(|i| i == 0 || head[i - 1] != b'\r')
}

/// A chunked HTTP/1 body that is not a protocol switch: the one kind of body whose framing is
/// only known once it is read (a `Content-Length` body cannot be malformed, only short).
pub fn needs_preread(session: &Session) -> bool {
    let req = session.req_header();
    req.version < http::Version::HTTP_2
        && req.headers.contains_key(http::header::TRANSFER_ENCODING)
        && !req.headers.contains_key(http::header::UPGRADE)
}

/// Reads up to [`PREREAD_LIMIT`] of a chunked body, so a malformed chunk is refused before
/// the upstream sees the head. pingora re-sends its retry buffer ahead of the rest of the
/// body, so enabling it first makes it carry what is read here; it holds at most 64 KiB and
/// drops everything past that, and then the copy returned here must go out first instead
/// (`Ok(Some(bytes))`). `Expect: 100-continue` is answered here, since the client waits for
/// it before sending what we are about to read; the upstream is then not asked again.
pub async fn preread_chunked(session: &mut Session) -> Result<Option<Bytes>, ()> {
    if expects_continue(session) {
        session
            .as_mut()
            .write_continue_response()
            .await
            .map_err(|_| ())?;
    }
    session.as_mut().enable_retry_buffering();
    let mut read = BytesMut::new();
    while read.len() < PREREAD_LIMIT {
        match session.read_request_body().await {
            Ok(Some(bytes)) => read.extend_from_slice(&bytes),
            Ok(None) => return Ok(None),
            Err(_) => return Err(()),
        }
    }
    Ok(session
        .as_ref()
        .retry_buffer_truncated()
        .then(|| read.freeze()))
}

/// The pre-read bytes pingora dropped, then the piece of body it is about to send.
pub fn prepend(prefix: Bytes, rest: Option<Bytes>) -> Bytes {
    match rest {
        Some(rest) => {
            let mut all = BytesMut::with_capacity(prefix.len() + rest.len());
            all.extend_from_slice(&prefix);
            all.extend_from_slice(&rest);
            all.freeze()
        }
        None => prefix,
    }
}

pub fn expects_continue(session: &Session) -> bool {
    session
        .req_header()
        .headers
        .get(http::header::EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"))
}

/// Exactly one `chunked` coding and nothing else (`chunked, chunked`, `identity, chunked`,
/// and repeated fields included are refused: RFC 9112 §6.1 forbids chunking twice, and we
/// apply no other coding).
fn only_chunked(headers: &http::HeaderMap) -> bool {
    let mut codings = headers
        .get_all(http::header::TRANSFER_ENCODING)
        .iter()
        .flat_map(|v| v.as_bytes().split(|b| *b == b','))
        .map(|c| c.trim_ascii());
    codings
        .next()
        .is_some_and(|c| c.eq_ignore_ascii_case(b"chunked"))
        && codings.next().is_none()
}

/// RFC 9112 §6.3: `Content-Length` beside `Transfer-Encoding` "ought to be handled as an
/// error"; pingora instead drops the length (and closes after the response), so the header map
/// no longer shows it: look at the raw header section.
fn raw_has_content_length(session: &Session) -> bool {
    const NAME: &[u8] = b"content-length:";
    session
        .to_h1_raw()
        .split(|b| *b == b'\n')
        .skip(1)
        .any(|line| line.len() >= NAME.len() && line[..NAME.len()].eq_ignore_ascii_case(NAME))
}

#[cfg(test)]
mod tests {
    use super::has_bare_lf;

    #[test]
    fn only_crlf_line_ends_pass() {
        assert!(!has_bare_lf(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"));
        assert!(has_bare_lf(b"GET / HTTP/1.1\nHost: a\n\n"));
        assert!(has_bare_lf(b"GET / HTTP/1.1\r\nHost: a\nX: y\r\n\r\n"));
        assert!(has_bare_lf(b"\nGET / HTTP/1.1\r\n\r\n"));
    }
}
