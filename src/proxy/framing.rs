//! Message framing we refuse before anything is routed (SECURITY F3): wherever two parsers
//! could disagree on where a request ends, the request is an error, not a guess. pingora
//! already refuses conflicting lengths and a non-chunked final coding; these are the cases it
//! reconciles instead, each of which an upstream or an intermediary may read differently.

use pingora::proxy::Session;

/// Any reason the request's framing is ambiguous.
pub fn has_framing_conflict(session: &Session) -> bool {
    let req = session.req_header();
    if req.version >= http::Version::HTTP_2 {
        return false;
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
