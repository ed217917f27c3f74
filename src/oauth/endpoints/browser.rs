//! What the browser side of the authorization server shares: the pending request's cookie,
//! redirects back to the client (`code`/`error`, `state` byte for byte, `iss`), and the
//! error pages shown when no redirect is allowed.

use super::super::OAuthServer;
use crate::http::{cookies, ApiError, OwnResponse};
use http::header::HeaderValue;
use subtle::ConstantTimeEq;

/// Cookie holding the pending request's id; `__Host-` whenever the public URL is https.
pub(super) fn cookie_name(server: &OAuthServer) -> &'static str {
    if secure(server) {
        cookies::SIGN_IN_HOST
    } else {
        cookies::SIGN_IN
    }
}

pub(super) fn secure(server: &OAuthServer) -> bool {
    server.issuer.starts_with("https://")
}

pub(super) fn set_cookie(
    server: &OAuthServer,
    value: &str,
    max_age: u64,
) -> Result<HeaderValue, ApiError> {
    cookies::set(cookie_name(server), value, "/", max_age, secure(server))
}

pub(super) fn error_page(status: u16, title: &str, message: &str) -> ApiError {
    ApiError::page(status, title, message)
}

/// The raw (still percent-encoded) value of a query parameter: `state` goes back byte for byte.
pub(super) fn raw_query_value<'a>(query: Option<&'a str>, name: &str) -> Option<&'a str> {
    query?
        .split('&')
        .filter_map(|pair| pair.split_once('=').or(Some((pair, ""))))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

pub(super) fn encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// `redirect_uri` (already matched exactly against the registration) plus `pairs`, whose values
/// are already encoded, and `iss`.
pub(super) fn redirect(
    server: &OAuthServer,
    status: u16,
    redirect_uri: &str,
    pairs: &[(&str, String)],
) -> Result<OwnResponse, ApiError> {
    let mut location = redirect_uri.to_string();
    let mut sep = if redirect_uri.contains('?') { '&' } else { '?' };
    for (k, v) in pairs
        .iter()
        .chain(std::iter::once(&("iss", encode(&server.issuer))))
    {
        location.push(sep);
        location.push_str(k);
        location.push('=');
        location.push_str(v);
        sep = '&';
    }
    OwnResponse::browser_redirect(status, &location).map_err(|_| {
        error_page(
            400,
            "Invalid request",
            "The redirect address cannot be used.",
        )
    })
}

pub(super) fn error_redirect(
    server: &OAuthServer,
    status: u16,
    redirect_uri: &str,
    state: Option<&str>,
    error: &str,
    description: &str,
) -> Result<OwnResponse, ApiError> {
    let mut pairs = vec![
        ("error", error.to_string()),
        ("error_description", encode(description)),
    ];
    if let Some(s) = state {
        pairs.push(("state", s.to_string()));
    }
    redirect(server, status, redirect_uri, &pairs)
}

pub(super) fn expired_page() -> ApiError {
    error_page(
        400,
        "Sign-in expired",
        "This sign-in page is no longer valid. Go back to the application and start again.",
    )
}

pub(super) fn forbidden_page() -> ApiError {
    error_page(
        403,
        "Request refused",
        "The form could not be verified. Go back to the application and start again.",
    )
}

pub(super) fn csrf_matches(given: Option<&str>, expected: &str) -> bool {
    given.is_some_and(|g| bool::from(g.as_bytes().ct_eq(expected.as_bytes())))
}

#[cfg(test)]
mod tests {
    use super::raw_query_value;

    #[test]
    fn state_is_taken_raw() {
        assert_eq!(
            raw_query_value(Some("a=1&state=a%20b%2Bc&x"), "state"),
            Some("a%20b%2Bc")
        );
        assert_eq!(raw_query_value(Some("state"), "state"), Some(""));
        assert_eq!(raw_query_value(None, "state"), None);
    }
}
