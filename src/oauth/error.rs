//! OAuth errors (RFC 6749 §5.2, RFC 7009, RFC 7662) and the one place they become responses.

use crate::http::OwnResponse;
use crate::store::StoreError;
use http::header::{HeaderName, HeaderValue};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OAuthError {
    InvalidRequest(String),
    /// Client authentication failed: 401 with `WWW-Authenticate: Basic`.
    InvalidClient,
    InvalidGrant(String),
    UnauthorizedClient(String),
    UnsupportedGrantType,
    InvalidScope(String),
    /// Throttled: answered like bad credentials, plus `Retry-After`.
    LockedOut {
        retry_after: i64,
    },
    /// A body over `http.max_body_bytes` or a content type we do not read.
    PayloadTooLarge,
    UnsupportedMediaType,
    NotFound,
    MethodNotAllowed,
    /// The store failed: 503 so the client retries rather than giving up.
    Unavailable,
}

impl From<StoreError> for OAuthError {
    fn from(e: StoreError) -> Self {
        tracing::warn!(error = %e, "store error in the authorization server");
        OAuthError::Unavailable
    }
}

pub const NO_STORE: [(HeaderName, HeaderValue); 2] = [
    (
        http::header::CACHE_CONTROL,
        HeaderValue::from_static("no-store"),
    ),
    (http::header::PRAGMA, HeaderValue::from_static("no-cache")),
];

impl OAuthError {
    pub fn response(&self) -> OwnResponse {
        let (status, code, desc): (u16, &str, String) = match self {
            OAuthError::InvalidRequest(d) => (400, "invalid_request", d.clone()),
            OAuthError::InvalidClient => (401, "invalid_client", "client authentication failed".into()),
            OAuthError::InvalidGrant(d) => (400, "invalid_grant", d.clone()),
            OAuthError::UnauthorizedClient(d) => (400, "unauthorized_client", d.clone()),
            OAuthError::UnsupportedGrantType => (
                400,
                "unsupported_grant_type",
                "grant_type must be one of password, authorization_code, refresh_token, client_credentials".into(),
            ),
            OAuthError::InvalidScope(d) => (400, "invalid_scope", d.clone()),
            OAuthError::LockedOut { .. } => (400, "invalid_grant", BAD_CREDENTIALS.into()),
            OAuthError::PayloadTooLarge => (413, "invalid_request", "the request body is too large".into()),
            OAuthError::UnsupportedMediaType => (
                415,
                "invalid_request",
                "send application/x-www-form-urlencoded or application/json".into(),
            ),
            OAuthError::NotFound => (404, "not_found", "no such endpoint".into()),
            OAuthError::MethodNotAllowed => (405, "invalid_request", "method not allowed on this endpoint".into()),
            OAuthError::Unavailable => (503, "temporarily_unavailable", "the store cannot be reached; retry later".into()),
        };
        let mut resp = OwnResponse::error(status, code, &desc);
        for (name, value) in NO_STORE {
            resp = resp.with_header(name, value);
        }
        match self {
            OAuthError::InvalidClient => resp.with_header(
                http::header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"gatehouse\""),
            ),
            OAuthError::LockedOut { retry_after } => resp.with_header(
                http::header::RETRY_AFTER,
                HeaderValue::from((*retry_after).max(1)),
            ),
            OAuthError::Unavailable => {
                resp.with_header(http::header::RETRY_AFTER, HeaderValue::from_static("1"))
            }
            _ => resp,
        }
    }
}

/// The single message for every credential failure: no hint whether the user exists.
pub const BAD_CREDENTIALS: &str = "invalid username or password";
