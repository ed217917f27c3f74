//! Browser sessions on a route with `on_missing = "sign_in"`, when no token came: the session
//! cookie is the credential, a cookie-authenticated unsafe method must come from a page of
//! the same origin (CSRF), and a browser without a usable session is sent to sign in. Every
//! outcome is counted in `gatehouse_auth_decisions_total` like a token's.

use super::GatehouseProxy;
use crate::app::AppState;
use crate::auth::{AuthError, Identity};
use crate::http::same_origin::is_same_origin;
use crate::http::{cookies, ApiError, Dependency, OwnResponse};
use crate::metrics::AuthDecision;
use http::header::{HeaderName, HeaderValue};
use http::Method;
use pingora::http::RequestHeader;
use std::sync::Arc;

/// Where a browser signs in; `rd` is the path and query it asked for.
const SIGN_IN: &str = "/oauth/sign-in";

impl GatehouseProxy {
    /// The session's user, or the refusal: 302 to the sign-in page for a browser, 401 for
    /// anything else, 403 for a cross-site unsafe request.
    pub(super) async fn session(&self, req: &RequestHeader) -> Result<Arc<Identity>, ApiError> {
        let s = &*self.state;
        let config = s.sessions.config();
        let decide = |d: AuthDecision| {
            s.metrics.auth_decision(d);
            super::trace::decision(s, d);
        };
        let Some(value) = cookies::read(&req.headers, &config.cookie_name)
            .into_iter()
            .next()
        else {
            decide(AuthDecision::Missing);
            return Err(sign_in_or_401(req));
        };
        let identity = match s.sessions.validate(&value).await {
            Ok(identity) => identity,
            Err(AuthError::Unavailable(detail)) => {
                tracing::warn!(%detail, "session store unavailable");
                decide(AuthDecision::Unavailable);
                return Err(ApiError::Unavailable(Dependency::TokenStore));
            }
            Err(e) => {
                decide(if e == AuthError::Expired {
                    AuthDecision::Expired
                } else {
                    AuthDecision::Invalid
                });
                return Err(sign_in_or_401(req));
            }
        };
        let host = req
            .headers
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("");
        if !is_safe(&req.method) && !is_same_origin(&req.headers, host, config.secure) {
            decide(AuthDecision::Invalid);
            return Err(ApiError::Forbidden(
                "a request authenticated by the session cookie must come from this site (Origin or Sec-Fetch-Site)".into(),
            ));
        }
        decide(AuthDecision::Ok);
        Ok(identity)
    }
}

const X_GATEHOUSE_SIGN_IN: HeaderName = HeaderName::from_static("x-gatehouse-sign-in");
const X_GATEHOUSE_COOKIE: HeaderName = HeaderName::from_static("x-gatehouse-cookie");
const X_ORIGINAL_URI: HeaderName = HeaderName::from_static("x-original-uri");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

/// The sign-in redirect as an ingress can pass it on. Traefik, Caddy and Envoy hand a refusal
/// to the browser as it is, so the 302 goes out unchanged. nginx's `auth_request` accepts only
/// 401 and 403: it gets a 401 with the absolute sign-in URL in `X-Gatehouse-Sign-In`, for
/// `error_page 401` to redirect to (an absolute URL, or nginx redirects internally).
pub(super) fn sign_in_for_ingress(
    state: &AppState,
    decision: &RequestHeader,
    location: &str,
    resp: OwnResponse,
) -> OwnResponse {
    if !decision.headers.contains_key(X_ORIGINAL_URI) {
        return resp;
    }
    let one = |name: &HeaderName| {
        decision
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let scheme = one(&X_FORWARDED_PROTO)
        .filter(|p| p == "http" || p == "https")
        .unwrap_or_else(|| state.config.server.public_url.scheme().to_string());
    let host = one(&X_FORWARDED_HOST).or_else(|| one(&http::header::HOST));
    let absolute =
        host.and_then(|h| HeaderValue::from_str(&format!("{scheme}://{h}{location}")).ok());
    match absolute {
        Some(url) => OwnResponse::empty(401)
            .no_store()
            .with_header(X_GATEHOUSE_SIGN_IN, url),
        None => resp,
    }
}

/// For an allowed decision on a request with cookies: its `Cookie` without the session, in
/// `X-Gatehouse-Cookie`, for the ingress to send upstream as `Cookie` (the ingress forwards
/// the browser's request itself, so only it can take the cookie out). Sent whenever the
/// request had cookies, empty when the session was all: nginx cannot tell an absent header
/// from an empty one, so it always replaces `Cookie` with this.
pub(super) fn cookie_for_upstream(
    state: &AppState,
    decision: &RequestHeader,
) -> Option<(HeaderName, HeaderValue)> {
    let all = decision.headers.get_all(http::header::COOKIE);
    all.iter().next()?;
    let own = cookies::own_names(&state.sessions.config().cookie_name);
    let kept =
        cookies::without(&decision.headers, &own).unwrap_or_else(|| all.iter().cloned().collect());
    let joined = kept
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join("; ");
    HeaderValue::from_str(&joined)
        .ok()
        .map(|v| (X_GATEHOUSE_COOKIE, v))
}

/// RFC 9110 §9.2.1: what a link or an image may trigger on its own.
fn is_safe(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    )
}

/// A navigation (GET or HEAD of an HTML page) goes to the sign-in page and back; an API
/// client, a form post or a script gets the 401 it can act on.
fn sign_in_or_401(req: &RequestHeader) -> ApiError {
    let navigation = matches!(req.method, Method::GET | Method::HEAD)
        && req
            .headers
            .get_all(http::header::ACCEPT)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| v.to_ascii_lowercase().contains("text/html"));
    if !navigation {
        return ApiError::MissingToken;
    }
    let target = req.uri.path_and_query().map_or("/", |pq| pq.as_str());
    let rd: String = url::form_urlencoded::byte_serialize(target.as_bytes()).collect();
    ApiError::SignIn {
        location: format!("{SIGN_IN}?rd={rd}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(method: &str, target: &str, accept: Option<&str>) -> RequestHeader {
        let mut req = RequestHeader::build(method, target.as_bytes(), None).unwrap();
        if let Some(a) = accept {
            req.append_header("accept", a).unwrap();
        }
        req
    }

    #[test]
    fn only_navigations_are_sent_to_sign_in() {
        let html = Some("text/html,application/xhtml+xml,*/*;q=0.8");
        match sign_in_or_401(&request("GET", "/app/x?a=1&b=%2F", html)) {
            ApiError::SignIn { location } => {
                assert_eq!(location, "/oauth/sign-in?rd=%2Fapp%2Fx%3Fa%3D1%26b%3D%252F")
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            sign_in_or_401(&request("HEAD", "/", html)),
            ApiError::SignIn { .. }
        ));
        for (method, accept) in [
            ("GET", Some("application/json")),
            ("GET", None),
            ("POST", html),
            ("DELETE", html),
        ] {
            assert_eq!(
                sign_in_or_401(&request(method, "/app", accept)),
                ApiError::MissingToken,
                "{method} {accept:?}"
            );
        }
    }
}
