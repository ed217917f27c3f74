//! The request an ingress asks about, read from its decision request in whichever dialect
//! it speaks: nginx `auth_request` (`X-Original-URI`, `X-Original-Method`), Traefik
//! `ForwardAuth` and Caddy `forward_auth` (`X-Forwarded-Uri`, `-Method`, `-Host`), Envoy's
//! HTTP `ext_authz` (the original path appended to the decision path, original method and
//! `Host`). The caller has already checked that the peer is a trusted proxy.

use crate::http::ApiError;
use http::header::{HeaderName, HOST};
use http::{Method, Uri};
use pingora::http::RequestHeader;

const X_ORIGINAL_URI: HeaderName = HeaderName::from_static("x-original-uri");
const X_ORIGINAL_METHOD: HeaderName = HeaderName::from_static("x-original-method");
const X_FORWARDED_URI: HeaderName = HeaderName::from_static("x-forwarded-uri");
const X_FORWARDED_METHOD: HeaderName = HeaderName::from_static("x-forwarded-method");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::InvalidRequest(message.into())
}

/// Builds the described request: its method, target and `Host`, with the decision request's
/// other headers (the token, `X-Forwarded-For`) as they came. `appended` is what followed
/// the decision path (Envoy), with the decision request's query.
pub fn describe(req: &RequestHeader, appended: Option<&str>) -> Result<RequestHeader, ApiError> {
    // Each ingress sets its own dialect's headers and passes the client's others through
    // (nginx forwards a client's `X-Forwarded-Uri`, Caddy a client's `X-Original-URI`), so
    // every description present must say the same thing: a client cannot add a second one
    // that names a laxer route.
    let uri = agreed(
        "the original URI",
        [
            appended,
            single(req, &X_ORIGINAL_URI)?,
            single(req, &X_FORWARDED_URI)?,
        ],
    )?
    .ok_or_else(|| {
        invalid(
            "the request to decide on is not described: send X-Original-URI (nginx), \
             X-Forwarded-Uri (Traefik, Caddy), or append its path to the decision path (Envoy)",
        )
    })?;
    if !uri.starts_with('/') {
        return Err(invalid("the described URI must be a path (origin form)"));
    }
    let method = agreed(
        "the original method",
        [
            single(req, &X_ORIGINAL_METHOD)?,
            single(req, &X_FORWARDED_METHOD)?,
        ],
    )?
    .unwrap_or(req.method.as_str());
    let host = match single(req, &X_FORWARDED_HOST)? {
        Some(_) => req.headers.get(&X_FORWARDED_HOST),
        None => req.headers.get(HOST),
    };

    let unreadable = |what: &str| invalid(format!("the described {what} cannot be read"));
    // Built from parts: the decision request's header map is cloned whole (reference-counted
    // values), where appending header by header re-parsed and case-mapped each name.
    let (mut parts, ()) = http::Request::new(()).into_parts();
    parts.method =
        Method::from_bytes(method.as_bytes()).map_err(|_| unreadable("method or URI"))?;
    parts.uri = Uri::try_from(uri).map_err(|_| unreadable("method or URI"))?;
    parts.version = http::Version::HTTP_11;
    parts.headers = req.headers.clone();
    // One `Host`: the described one (a second `Host` of the decision request never passes).
    match host.cloned() {
        Some(host) => parts.headers.insert(HOST, host),
        None => parts.headers.remove(HOST),
    };
    Ok(RequestHeader::from(parts))
}

/// The value of `name`, which may be sent at most once.
fn single<'r>(req: &'r RequestHeader, name: &HeaderName) -> Result<Option<&'r str>, ApiError> {
    let mut values = req.headers.get_all(name).iter();
    let Some(first) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(invalid(format!("{name} is sent more than once")));
    }
    first
        .to_str()
        .map(Some)
        .map_err(|_| invalid(format!("{name} is not visible ASCII")))
}

/// The one value every present candidate agrees on.
fn agreed<'a, const N: usize>(
    what: &str,
    candidates: [Option<&'a str>; N],
) -> Result<Option<&'a str>, ApiError> {
    let mut found: Option<&str> = None;
    for c in candidates.into_iter().flatten() {
        match found {
            Some(f) if f != c => {
                return Err(invalid(format!(
                    "{what} is described twice, differently (X-Original-* and X-Forwarded-* or the appended path)"
                )))
            }
            _ => found = Some(c),
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(method: &str, path: &str, headers: &[(&'static str, &str)]) -> RequestHeader {
        let mut req = RequestHeader::build(method, path.as_bytes(), None).unwrap();
        for (k, v) in headers {
            req.append_header(*k, *v).unwrap();
        }
        req
    }

    fn host(req: &RequestHeader) -> &str {
        req.headers.get(HOST).unwrap().to_str().unwrap()
    }

    #[test]
    fn each_dialect_describes_method_target_and_host() {
        let nginx = request(
            "GET",
            "/_gatehouse/auth",
            &[
                ("host", "127.0.0.1:9000"),
                ("x-original-uri", "/app/x?a=1"),
                ("x-original-method", "DELETE"),
                ("x-forwarded-host", "app.test"),
                ("authorization", "Bearer t"),
            ],
        );
        let d = describe(&nginx, None).unwrap();
        assert_eq!(
            (d.method.as_str(), d.uri.path(), d.uri.query()),
            ("DELETE", "/app/x", Some("a=1"))
        );
        assert_eq!(host(&d), "app.test");
        assert_eq!(d.headers.get("authorization").unwrap(), "Bearer t");

        let caddy = request(
            "GET",
            "/_gatehouse/auth",
            &[
                ("host", "app.test:8443"),
                ("x-forwarded-uri", "/app/y"),
                ("x-forwarded-method", "POST"),
                ("x-forwarded-proto", "https"),
                ("x-forwarded-host", "app.test:8443"),
            ],
        );
        let d = describe(&caddy, None).unwrap();
        assert_eq!((d.method.as_str(), d.uri.path()), ("POST", "/app/y"));
        assert_eq!(host(&d), "app.test:8443");

        // Envoy: original method and Host, the path after the decision path.
        let envoy = request("PUT", "/_gatehouse/auth/app/z?b=2", &[("host", "app.test")]);
        let d = describe(&envoy, Some("/app/z?b=2")).unwrap();
        assert_eq!(
            (d.method.as_str(), d.uri.path(), d.uri.query()),
            ("PUT", "/app/z", Some("b=2"))
        );
        assert_eq!(host(&d), "app.test");
    }

    #[test]
    fn missing_conflicting_or_repeated_descriptions_are_refused() {
        let cases: &[&[(&'static str, &str)]] = &[
            &[("host", "a")],
            &[
                ("x-original-uri", "/private"),
                ("x-forwarded-uri", "/public"),
            ],
            &[
                ("x-original-uri", "/private"),
                ("x-original-uri", "/public"),
            ],
            &[
                ("x-original-uri", "/p"),
                ("x-original-method", "GET"),
                ("x-forwarded-method", "POST"),
            ],
            &[("x-original-uri", "http://evil.test/public")],
            &[("x-original-uri", "/p"), ("x-original-method", "G E T")],
        ];
        for headers in cases {
            let req = request("GET", "/_gatehouse/auth", headers);
            assert!(
                matches!(describe(&req, None), Err(ApiError::InvalidRequest(_))),
                "{headers:?}"
            );
        }
        // The appended path and a header must agree too.
        let req = request(
            "GET",
            "/_gatehouse/auth/private",
            &[("x-forwarded-uri", "/public")],
        );
        assert!(describe(&req, Some("/private")).is_err());
        // Saying the same thing twice is fine.
        let req = request(
            "GET",
            "/_gatehouse/auth",
            &[("x-original-uri", "/p"), ("x-forwarded-uri", "/p")],
        );
        assert_eq!(describe(&req, None).unwrap().uri.path(), "/p");
    }
}
