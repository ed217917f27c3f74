//! The one place an `ApiError` becomes a response: the body in the endpoint's contract, and
//! every header an error carries (the challenge with `tokens.realm`, `Retry-After`, `Allow`,
//! `Cache-Control: no-store`, and for pages the CSP of the page shell).

use super::error::{ApiError, Contract, Dependency};
use super::{page, OwnResponse};
use http::header::{HeaderName, HeaderValue, CACHE_CONTROL, PRAGMA, RETRY_AFTER, WWW_AUTHENTICATE};
use serde_json::json;

/// draft-ietf-httpapi-ratelimit-headers-11 §3 and §4.
pub const RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
pub const RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");

pub struct Renderer {
    realm: String,
}

impl Renderer {
    pub fn new(realm: &str) -> Renderer {
        Renderer {
            realm: realm.to_string(),
        }
    }

    pub fn render(&self, contract: Contract, error: &ApiError) -> OwnResponse {
        let status = error.status();
        let mut resp = match (contract, error) {
            (_, ApiError::SignIn { location }) => OwnResponse::browser_redirect(status, location)
                .unwrap_or_else(|_| OwnResponse::error(500, "server_error", "cannot redirect")),
            (_, ApiError::Page { title, message, .. }) => {
                page::response(status, page::error(title, message), None)
            }
            (Contract::HtmlPage, e) => page::response(
                status,
                page::error(page_title(status), &e.description(contract)),
                None,
            ),
            (Contract::Seed003, e) => OwnResponse::json(
                status,
                &json!({
                    "statusCode": status,
                    "message": seed_message(e),
                    "error": reason_phrase(status),
                }),
            ),
            (Contract::Rfc6749Json | Contract::UsersApi, e) => {
                let mut resp = OwnResponse::error(status, e.code(), &e.description(contract));
                resp.headers.extend(no_store());
                resp
            }
            (Contract::Rfc6750, e) => {
                OwnResponse::error(status, e.code(), &e.description(contract))
            }
        };
        if let Some(challenge) = self.challenge(error) {
            resp.headers.push((WWW_AUTHENTICATE, challenge));
        }
        match error {
            ApiError::LockedOut { retry_after }
            | ApiError::ClientLockedOut { retry_after }
            | ApiError::TooManyRequests { retry_after } => resp
                .headers
                .push((RETRY_AFTER, HeaderValue::from((*retry_after).max(1)))),
            ApiError::RateLimited {
                retry_after,
                policy,
                state,
            } => {
                resp.headers
                    .push((RETRY_AFTER, HeaderValue::from((*retry_after).max(1))));
                for (name, value) in [(RATELIMIT_POLICY, policy), (RATELIMIT, state)] {
                    if let Ok(v) = HeaderValue::from_str(value) {
                        resp.headers.push((name, v));
                    }
                }
            }
            ApiError::Unavailable(_) => resp
                .headers
                .push((RETRY_AFTER, HeaderValue::from_static("1"))),
            ApiError::MethodNotAllowed { allow } => {
                if let Ok(v) = HeaderValue::from_str(allow) {
                    resp.headers.push((http::header::ALLOW, v));
                }
            }
            _ => {}
        }
        resp
    }

    /// `WWW-Authenticate` for every 401 and every bearer failure, always with `tokens.realm`.
    fn challenge(&self, error: &ApiError) -> Option<HeaderValue> {
        let realm = &self.realm;
        let value = match error {
            ApiError::InvalidClient | ApiError::ClientLockedOut { .. } => {
                format!("Basic realm=\"{realm}\"")
            }
            ApiError::MissingToken => format!("Bearer realm=\"{realm}\""),
            ApiError::MalformedToken(_) => {
                format!("Bearer realm=\"{realm}\", error=\"invalid_request\"")
            }
            ApiError::InvalidToken { .. } => format!(
                "Bearer realm=\"{realm}\", error=\"invalid_token\", error_description=\"{}\"",
                error.description(Contract::Rfc6750)
            ),
            ApiError::InsufficientScope { required } => format!(
                "Bearer realm=\"{realm}\", error=\"insufficient_scope\", scope=\"{required}\""
            ),
            e if e.status() == 401 => format!("Bearer realm=\"{realm}\""),
            _ => return None,
        };
        Some(HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static("Bearer")))
    }
}

/// RFC 6749 §5.1: responses that may carry credentials are never cached.
pub fn no_store() -> [(HeaderName, HeaderValue); 2] {
    [
        (CACHE_CONTROL, HeaderValue::from_static("no-store")),
        (PRAGMA, HeaderValue::from_static("no-cache")),
    ]
}

/// Seed 003's messages are sentences of their own; the rest reuse the description.
fn seed_message(e: &ApiError) -> String {
    match e {
        ApiError::MissingToken | ApiError::InvalidToken { .. } | ApiError::MalformedToken(_) => {
            "Invalid or missing access token".into()
        }
        ApiError::Unavailable(Dependency::Store) => {
            "The store cannot be reached; retry later".into()
        }
        ApiError::Unavailable(Dependency::TokenStore) => {
            "The token store cannot be reached; retry later".into()
        }
        ApiError::Unavailable(Dependency::RateLimiter) => {
            "The rate limiter cannot be reached; retry later".into()
        }
        ApiError::PayloadTooLarge => "The request body is too large".into(),
        ApiError::MethodNotAllowed { allow } => format!("Use {}", allow.replace(", ", " or ")),
        other => other.description(Contract::Seed003),
    }
}

fn reason_phrase(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        413 => "Payload Too Large",
        422 => "Unprocessable Entity",
        429 => "Too Many Requests",
        503 => "Service Unavailable",
        _ => "Error",
    }
}

fn page_title(status: u16) -> &'static str {
    match status {
        400 | 413 | 415 => "Invalid request",
        401 => "Sign-in required",
        403 => "Request refused",
        404 => "Not found",
        405 => "Method not allowed",
        503 => "Service unavailable",
        _ => "Error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header<'a>(r: &'a OwnResponse, name: &HeaderName) -> Option<&'a str> {
        r.headers
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| v.to_str().ok())
    }

    #[test]
    fn every_401_names_the_configured_realm() {
        let r = Renderer::new("pitchtarget");
        let errors = [
            ApiError::MissingToken,
            ApiError::InvalidToken { expired: true },
            ApiError::InvalidClient,
        ];
        for contract in [
            Contract::Rfc6749Json,
            Contract::Rfc6750,
            Contract::UsersApi,
            Contract::Seed003,
            Contract::HtmlPage,
        ] {
            for e in &errors {
                let resp = r.render(contract, e);
                assert_eq!(resp.status, 401);
                let challenge = header(&resp, &WWW_AUTHENTICATE).unwrap_or_default();
                assert!(
                    challenge.contains("realm=\"pitchtarget\""),
                    "{contract:?} {e:?}: {challenge}"
                );
            }
        }
    }

    #[test]
    fn unavailable_always_says_when_to_retry() {
        let r = Renderer::new("g");
        for contract in [Contract::Rfc6749Json, Contract::Seed003, Contract::HtmlPage] {
            let resp = r.render(contract, &ApiError::Unavailable(Dependency::Store));
            assert_eq!(resp.status, 503);
            assert_eq!(header(&resp, &RETRY_AFTER), Some("1"));
        }
    }

    #[test]
    fn seed_shape_and_allow_header() {
        let r = Renderer::new("g");
        let resp = r.render(
            Contract::Seed003,
            &ApiError::MethodNotAllowed {
                allow: "GET, POST".into(),
            },
        );
        let body: serde_json::Value = serde_json::from_slice(&resp.body).unwrap_or_default();
        assert_eq!(body["statusCode"], 405);
        assert_eq!(body["message"], "Use GET or POST");
        assert_eq!(body["error"], "Method Not Allowed");
        assert_eq!(header(&resp, &http::header::ALLOW), Some("GET, POST"));
    }
}
