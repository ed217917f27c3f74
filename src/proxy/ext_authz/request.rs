//! The request Envoy asks about, read from a gRPC `CheckRequest`: method, target, `Host` and
//! scheme from `attributes.request.http`, the client's headers as Envoy passed them, and the
//! client's address from `attributes.source`. Unlike the HTTP dialects there is nothing to
//! reconcile: Envoy says each thing once, in its own fields, so a client's `X-Original-URI`
//! and the like are just headers here and describe nothing.

use crate::http::ApiError;
use envoy_types::pb::envoy::config::core::v3::address::Address;
use envoy_types::pb::envoy::service::auth::v3::attribute_context::HttpRequest;
use envoy_types::pb::envoy::service::auth::v3::CheckRequest;
use http::header::{HeaderName, HeaderValue, HOST};
use pingora::http::RequestHeader;
use std::net::IpAddr;

const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::InvalidRequest(message.into())
}

/// `attributes.request.http`, which Envoy always sends for an HTTP request.
pub fn http_attributes(check: &CheckRequest) -> Option<&HttpRequest> {
    check.attributes.as_ref()?.request.as_ref()?.http.as_ref()
}

/// The client's address as Envoy saw it (`attributes.source.address`), when it is an IP.
pub fn source_ip(check: &CheckRequest) -> Option<IpAddr> {
    let source = check.attributes.as_ref()?.source.as_ref()?;
    match source.address.as_ref()?.address.as_ref()? {
        Address::SocketAddress(a) => a.address.parse().ok(),
        _ => None,
    }
}

/// The headers Envoy passed, lowercase names: `headers`, or `header_map` when Envoy is set
/// to `encode_raw_headers` (then values are in `raw_value`, repeated names not merged).
pub fn headers(http: &HttpRequest) -> Vec<(&str, &[u8])> {
    match &http.header_map {
        Some(map) if http.headers.is_empty() => map
            .headers
            .iter()
            .map(|h| {
                let value = if h.raw_value.is_empty() {
                    h.value.as_bytes()
                } else {
                    h.raw_value.as_slice()
                };
                (h.key.as_str(), value)
            })
            .collect(),
        _ => http
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_bytes()))
            .collect(),
    }
}

/// Builds the described request for the one decision function, as `described::describe`
/// does for the HTTP dialects.
pub fn describe_check(check: &CheckRequest) -> Result<RequestHeader, ApiError> {
    let http = http_attributes(check)
        .ok_or_else(|| invalid("the CheckRequest has no attributes.request.http"))?;
    if http.method.is_empty() {
        return Err(invalid("attributes.request.http.method is empty"));
    }
    if !http.path.starts_with('/') {
        return Err(invalid(
            "attributes.request.http.path must be a path (origin form)",
        ));
    }
    if http.host.is_empty() {
        return Err(invalid("attributes.request.http.host is empty"));
    }
    let unreadable = |what: &str| invalid(format!("the described {what} cannot be read"));
    let received = headers(http);
    let mut out = RequestHeader::build_no_case(
        http.method.as_str(),
        http.path.as_bytes(),
        Some(received.len() + 2),
    )
    .map_err(|_| unreadable("method or path"))?;
    out.set_version(http::Version::HTTP_11);
    for (name, value) in received {
        // Pseudo-headers repeat what the fields above say; `Host` is `http.host`.
        if name.starts_with(':') || name.eq_ignore_ascii_case(HOST.as_str()) {
            continue;
        }
        let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| unreadable("headers"))?;
        let value = HeaderValue::from_bytes(value).map_err(|_| unreadable("headers"))?;
        out.append_header(name, value)
            .map_err(|_| unreadable("headers"))?;
    }
    out.insert_header(HOST, http.host.as_str())
        .map_err(|_| unreadable("host"))?;
    if !http.scheme.is_empty() {
        // Envoy's own view of the scheme, as an ingress would forward it.
        out.insert_header(X_FORWARDED_PROTO, http.scheme.as_str())
            .map_err(|_| unreadable("scheme"))?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use envoy_types::pb::envoy::config::core::v3::{
        Address as EnvoyAddress, HeaderMap, HeaderValue as EnvoyHeader, SocketAddress,
    };
    use envoy_types::pb::envoy::service::auth::v3::attribute_context::{Peer, Request};
    use envoy_types::pb::envoy::service::auth::v3::AttributeContext;

    fn check(http: HttpRequest, source: Option<&str>) -> CheckRequest {
        let source = source.map(|ip| Peer {
            address: Some(EnvoyAddress {
                address: Some(Address::SocketAddress(SocketAddress {
                    address: ip.into(),
                    ..Default::default()
                })),
            }),
            ..Default::default()
        });
        CheckRequest {
            attributes: Some(AttributeContext {
                source,
                request: Some(Request {
                    http: Some(http),
                    ..Default::default()
                }),
                ..Default::default()
            }),
        }
    }

    fn http(method: &str, path: &str, host: &str, headers: &[(&str, &str)]) -> HttpRequest {
        HttpRequest {
            method: method.into(),
            path: path.into(),
            host: host.into(),
            scheme: "https".into(),
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn describes_method_target_host_scheme_and_headers() {
        let c = check(
            http(
                "DELETE",
                "/app/x?a=1",
                "app.test",
                &[
                    (":authority", "app.test"),
                    (":path", "/app/x?a=1"),
                    ("host", "elsewhere.test"),
                    ("authorization", "Bearer t"),
                    ("x-original-uri", "/public"),
                ],
            ),
            Some("203.0.113.9"),
        );
        let d = describe_check(&c).unwrap();
        assert_eq!(
            (d.method.as_str(), d.uri.path(), d.uri.query()),
            ("DELETE", "/app/x", Some("a=1"))
        );
        assert_eq!(d.headers.get("host").unwrap(), "app.test");
        assert_eq!(d.headers.get("x-forwarded-proto").unwrap(), "https");
        assert_eq!(d.headers.get("authorization").unwrap(), "Bearer t");
        assert!(d.headers.get(":authority").is_none());
        assert_eq!(source_ip(&c), Some("203.0.113.9".parse().unwrap()));
    }

    #[test]
    fn raw_headers_are_read_when_envoy_sends_them() {
        let mut h = http("GET", "/p", "a.test", &[]);
        h.header_map = Some(HeaderMap {
            headers: vec![EnvoyHeader {
                key: "authorization".into(),
                raw_value: b"Bearer raw".to_vec(),
                ..Default::default()
            }],
        });
        let d = describe_check(&check(h, None)).unwrap();
        assert_eq!(d.headers.get("authorization").unwrap(), "Bearer raw");
    }

    #[test]
    fn incomplete_or_unreadable_descriptions_are_refused() {
        for h in [
            http("", "/p", "a.test", &[]),
            http("GET", "", "a.test", &[]),
            http("GET", "http://evil.test/public", "a.test", &[]),
            http("GET", "/p", "", &[]),
            http("G E T", "/p", "a.test", &[]),
            http("GET", "/p", "a.test", &[("x-bad", "a\nb")]),
        ] {
            let c = check(h.clone(), None);
            assert!(
                matches!(describe_check(&c), Err(ApiError::InvalidRequest(_))),
                "{h:?}"
            );
        }
        let empty = CheckRequest { attributes: None };
        assert!(describe_check(&empty).is_err());
        assert_eq!(source_ip(&empty), None);
    }
}
