//! Header-name case on the way through (`http.preserve_header_case`), and where the proxy's
//! header edits go. pingora keeps, beside an HTTP/1 head's header map, a second map of every name
//! as it was spelled, and each header added or removed through the head is parsed from its name,
//! copied, and written to both. Without that second map the proxy edits the plain header map
//! with ready `HeaderName`s, and pingora's copy of the request for the upstream copies one map:
//! together about a sixth of Gatehouse's own instructions on a proxied request. Field names are
//! case-insensitive (RFC 9110 §5.1) and HTTP/2 sends them in lowercase anyway; HAProxy and Envoy
//! forward HTTP/1 names in lowercase too. Without the map, pingora writes names in lowercase,
//! a few standard ones (`Content-Type`, `Host`…) titled.

use crate::http::HeadEdit;
use pingora::http::{RequestHeader, ResponseHeader};

/// Headers the proxy may add, as room reserved up front: to a request (forwarding, identity,
/// request id; a best effort, every identity header and an assertion add a few more), and to a
/// response (request id, HSTS, the two rate-limit fields).
const ADDED_UPSTREAM: usize = 8;
const ADDED_DOWNSTREAM: usize = 4;

/// The request head without its case map, for the upstream. Not for a request whose target is
/// kept beside the URI (absolute-form, or not UTF-8): only the head holds those bytes.
pub(super) fn drop_request_case(req: &mut RequestHeader) {
    if !req.has_case() || !origin_form(req) {
        return;
    }
    let parts = take_request(req);
    *req = RequestHeader::from(parts);
}

fn origin_form(req: &RequestHeader) -> bool {
    req.raw_path_is_utf8() && req.raw_path().first() == Some(&b'/')
}

fn take_request(req: &mut RequestHeader) -> http::request::Parts {
    let placeholder = RequestHeader::from(http::Request::new(()).into_parts().0);
    http::request::Parts::from(std::mem::replace(req, placeholder))
}

/// Runs `edit` on the upstream request's plain header map when its head keeps no case map (the
/// proxy dropped it, or HTTP/2 never had one), else on the head itself.
pub(super) fn edit_request<R>(
    req: &mut RequestHeader,
    edit: impl FnOnce(&mut dyn HeadEdit) -> R,
) -> R {
    if req.has_case() || !origin_form(req) {
        return edit(req);
    }
    // An HTTP/2 upstream request says whether its HEADERS frame ends the stream; the parts
    // do not keep that.
    let end_stream = req.send_end_stream();
    let mut parts = take_request(req);
    // Room for what the proxy adds (forwarding, identity, request id) in one step: the parsed
    // map has none to spare, and it would otherwise be rehashed on the way, twice.
    let _ = parts.headers.try_reserve(ADDED_UPSTREAM);
    let out = edit(&mut parts.headers);
    *req = RequestHeader::from(parts);
    if let Some(end) = end_stream {
        req.set_send_end_stream(end);
    }
    out
}

/// Runs `edit` on the upstream's response head: with its case map when `keep_case`, else on
/// its plain header map, the case map dropped.
pub(super) fn edit_response<R>(
    resp: &mut ResponseHeader,
    keep_case: bool,
    edit: impl FnOnce(&mut dyn HeadEdit) -> R,
) -> R {
    if keep_case {
        return edit(resp);
    }
    // The parts keep no reason phrase: an upstream's own wording is copied back (a standard
    // one costs nothing, pingora stores only the others).
    let reason = resp.get_reason_phrase();
    let custom = (reason != resp.status.canonical_reason()).then(|| reason.map(str::to_owned));
    let placeholder = ResponseHeader::from(http::Response::new(()).into_parts().0);
    let mut parts = http::response::Parts::from(std::mem::replace(resp, placeholder));
    let _ = parts.headers.try_reserve(ADDED_DOWNSTREAM);
    let out = edit(&mut parts.headers);
    *resp = ResponseHeader::from(parts);
    if let Some(reason) = custom {
        // Only an invalid phrase is refused, and this one came through pingora's parser.
        let _ = resp.set_reason_phrase(reason.as_deref());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(req: &RequestHeader) -> String {
        let mut buf = Vec::new();
        req.header_to_h1_wire(&mut buf);
        String::from_utf8(buf).unwrap_or_default()
    }

    #[test]
    fn request_names_go_lowercase_and_everything_else_stays() {
        let mut req = RequestHeader::build("POST", b"/a%20b?x=1", None).unwrap();
        req.insert_header("X-Custom-Thing", "v1").unwrap();
        req.append_header("X-Custom-Thing", "v2").unwrap();
        req.insert_header("Host", "app.test").unwrap();
        assert!(wire(&req).contains("X-Custom-Thing: v1"));
        drop_request_case(&mut req);
        assert!(!req.has_case());
        assert_eq!(req.method, http::Method::POST);
        assert_eq!(req.raw_path(), b"/a%20b?x=1");
        let text = wire(&req);
        assert!(
            text.contains("x-custom-thing: v1\r\nx-custom-thing: v2\r\n"),
            "{text}"
        );
        assert!(text.contains("Host: app.test"), "{text}");
    }

    #[test]
    fn an_absolute_form_target_keeps_its_head() {
        let mut req = RequestHeader::build("GET", b"http://app.test/x", None).unwrap();
        req.insert_header("X-Custom-Thing", "v").unwrap();
        drop_request_case(&mut req);
        assert!(req.has_case());
        assert_eq!(req.raw_path(), b"http://app.test/x");
    }

    #[test]
    fn response_names_go_lowercase() {
        let mut resp = ResponseHeader::build(201, None).unwrap();
        resp.set_reason_phrase(Some("Made")).unwrap();
        resp.insert_header("X-Upstream-Thing", "v").unwrap();
        let name = http::header::HeaderName::from_static("x-added");
        edit_response(&mut resp, false, |h| h.set(&name, "a".parse().unwrap()));
        assert!(!resp.has_case());
        assert_eq!(resp.status, 201);
        assert_eq!(resp.get_reason_phrase(), Some("Made"));
        let mut buf = Vec::new();
        resp.header_to_h1_wire(&mut buf);
        assert_eq!(
            String::from_utf8(buf).unwrap_or_default(),
            "x-upstream-thing: v\r\nx-added: a\r\n"
        );
        // Kept: the head's own insert keeps both maps.
        let mut resp = ResponseHeader::build(200, None).unwrap();
        resp.insert_header("X-Upstream-Thing", "v").unwrap();
        edit_response(&mut resp, true, |h| h.set(&name, "a".parse().unwrap()));
        assert!(resp.has_case());
        let mut buf = Vec::new();
        resp.header_to_h1_wire(&mut buf);
        assert_eq!(
            String::from_utf8(buf).unwrap_or_default(),
            "X-Upstream-Thing: v\r\nx-added: a\r\n"
        );
    }

    #[test]
    fn request_edits_reach_the_plain_map_and_an_h2_end_of_stream_survives() {
        let name = http::header::HeaderName::from_static("x-added");
        let mut req = RequestHeader::build("GET", b"/x", None).unwrap();
        req.insert_header("X-Custom-Thing", "v").unwrap();
        drop_request_case(&mut req);
        req.set_version(http::Version::HTTP_2);
        req.set_send_end_stream(false);
        edit_request(&mut req, |h| h.set(&name, "a".parse().unwrap()));
        assert!(!req.has_case());
        assert_eq!(req.send_end_stream(), Some(false));
        assert_eq!(req.raw_path(), b"/x");
        assert_eq!(
            req.headers.get("x-added").map(|v| v.as_bytes()),
            Some(&b"a"[..])
        );
        // A head that keeps its case is edited through pingora, both maps in step.
        let mut req = RequestHeader::build("GET", b"/x", None).unwrap();
        req.insert_header("X-Custom-Thing", "v").unwrap();
        edit_request(&mut req, |h| h.set(&name, "a".parse().unwrap()));
        assert!(req.has_case());
        assert_eq!(wire(&req), "X-Custom-Thing: v\r\nx-added: a\r\n");
    }
}
