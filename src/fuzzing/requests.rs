//! Harnesses for what a request brings: its path, its Host, its token, its parameters.

use crate::auth::{extract_token, strip_query_token, Locations, QUERY_PARAM};
use crate::host::normalize_host;
use crate::http::Params;
use crate::path::normalize_path;
use http::{HeaderMap, HeaderValue};
use std::collections::BTreeMap;

/// The canonical path is canonical: normalizing it again changes nothing, and it has no empty,
/// `.` or `..` segment left for an upstream to resolve differently.
pub fn path_normalize(data: &[u8]) {
    let Ok(raw) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(once) = normalize_path(raw) else {
        return;
    };
    assert_eq!(
        normalize_path(&once).as_deref(),
        Ok(once.as_ref()),
        "not idempotent on {raw:?}"
    );
    assert!(once.starts_with('/'));
    assert!(!once.contains("//"), "{once:?}");
    assert!(once.split('/').all(|s| s != "." && s != ".."), "{once:?}");
}

/// A normalized host is lowercase printable ASCII without a trailing dot, normalizes to itself,
/// and does not depend on the case the client wrote it in.
pub fn host_normalize(data: &[u8]) {
    let result = normalize_host(data);
    if let Ok(host) = &result {
        assert!(!host.is_empty());
        assert!(
            host.bytes()
                .all(|b| b.is_ascii_graphic() && !b.is_ascii_uppercase()),
            "{host:?}"
        );
        assert!(!host.ends_with('.'), "{host:?}");
        assert_eq!(
            normalize_host(host.as_bytes()).as_deref(),
            Ok(host.as_ref()),
            "not idempotent"
        );
    }
    let lower = data.to_ascii_lowercase();
    assert_eq!(
        result.ok(),
        normalize_host(&lower).ok(),
        "the case of {:?} changes the host",
        String::from_utf8_lossy(data)
    );
}

/// RFC 6750 b64token, written out again so the extractor is checked against the grammar
/// rather than against itself.
fn is_b64token(t: &str) -> bool {
    let body = t.trim_end_matches('=');
    !body.is_empty()
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b))
}

/// First byte: bit 0 allows `Authorization: OAuth`, bit 1 `?oauth_token=`, bit 2 says a query
/// is present. The rest, split at `\n`: the query, then each `Authorization` header value.
/// A token found is well-formed and was in the request; two credentials are never accepted;
/// a query with its token parameters stripped carries none.
pub fn token_extract(data: &[u8]) {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let mut parts = rest.split(|&b| b == b'\n');
    let Ok(query) = std::str::from_utf8(parts.next().unwrap_or_default()) else {
        return;
    };
    let query = (flags & 4 != 0).then_some(query);
    let mut headers = HeaderMap::new();
    for value in parts.filter_map(|v| HeaderValue::from_bytes(v).ok()) {
        headers.append(http::header::AUTHORIZATION, value);
    }
    let locations = Locations {
        oauth_header: flags & 1 != 0,
        query_param: flags & 2 != 0,
    };
    if let Ok(Some(token)) = extract_token(&headers, query, locations) {
        assert!(is_b64token(&token), "accepted {token:?}");
        assert!(headers.len() <= 1, "a token beside a second Authorization");
        let in_header = headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains(token.as_ref()));
        let in_query = locations.query_param
            && query.is_some_and(|q| {
                url::form_urlencoded::parse(q.as_bytes())
                    .any(|(k, v)| k == QUERY_PARAM && v == token)
            });
        assert!(in_header || in_query, "{token:?} is not in the request");
        // One place at a time: each alone must give the same answer.
        let no_headers = HeaderMap::new();
        let alone = [
            extract_token(&headers, None, locations),
            extract_token(&no_headers, query, locations),
        ];
        let found = alone
            .iter()
            .filter(|r| matches!(r, Ok(Some(t)) if *t == token))
            .count();
        let other = alone.iter().filter(|r| matches!(r, Ok(Some(_)))).count();
        assert!(found == 1 && other == 1, "token beside another credential");
    }
    if let Some(q) = query {
        let stripped = strip_query_token(q);
        let forwarded = stripped.as_deref().unwrap_or(q);
        for (k, _) in url::form_urlencoded::parse(forwarded.as_bytes()) {
            assert!(
                k != QUERY_PARAM && k != "access_token",
                "{k:?} forwarded in {forwarded:?}"
            );
        }
        // Everything else is forwarded as it was, in order.
        let mut original = q.split('&');
        for kept in forwarded.split('&').filter(|p| !p.is_empty()) {
            assert!(original.any(|p| p == kept), "{kept:?} was rewritten");
        }
    }
}

/// Form bodies (and query strings, the same grammar) against `url`'s independent decoder:
/// when accepted, nothing was lost, merged or changed, and no name came twice.
pub fn form_params(data: &[u8]) {
    let mut headers = HeaderMap::new();
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-www-form-urlencoded"),
    );
    let body = Params::from_body(&headers, data);
    if let Ok(text) = std::str::from_utf8(data) {
        assert_eq!(
            body.is_ok(),
            Params::from_query(Some(text)).is_ok(),
            "query and body disagree"
        );
    }
    let Ok(params) = body else {
        return;
    };
    let pairs: Vec<_> = url::form_urlencoded::parse(data).collect();
    assert_eq!(params.names().count(), pairs.len(), "a pair was lost");
    for (k, v) in &pairs {
        let want = Some(v.as_ref()).filter(|v| !v.is_empty());
        assert_eq!(params.get(k), want, "{k:?}");
    }
    assert_round_trip(&params);
}

/// JSON bodies: when accepted, the object had no repeated key (serde_json alone keeps the last,
/// so a repeat shows as fewer members) and every string member reads back unchanged.
pub fn json_params(data: &[u8]) {
    let mut headers = HeaderMap::new();
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    let Ok(params) = Params::from_body(&headers, data) else {
        return;
    };
    if data.is_empty() {
        return;
    }
    let value: serde_json::Value = match serde_json::from_slice(data) {
        Ok(v) => v,
        Err(e) => panic!("accepted JSON serde_json refuses: {e}"),
    };
    let Some(object) = value.as_object() else {
        panic!("accepted a JSON body that is not an object");
    };
    let members = object.values().filter(|v| !v.is_null()).count();
    assert_eq!(params.names().count(), members, "a key came twice");
    for (k, v) in object {
        if let Some(s) = v.as_str() {
            assert_eq!(params.get(k), Some(s).filter(|s| !s.is_empty()), "{k:?}");
        }
    }
    assert_round_trip(&params);
}

/// Endpoints read parameters through `Params::parse`, which re-encodes them: every value must
/// come back as it went in.
fn assert_round_trip(params: &Params) {
    let read: BTreeMap<String, String> = match params.parse() {
        Ok(m) => m,
        Err(e) => panic!("accepted parameters cannot be read back: {e:?}"),
    };
    for name in params.names() {
        assert_eq!(
            read.get(name).map(String::as_str),
            params.get(name),
            "{name:?}"
        );
    }
}
