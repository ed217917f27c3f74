//! `ApiError`: every way a request Gatehouse answers itself can fail, from the proxy's own
//! refusals to the authorization server's RFC 6749 errors. Handlers return it; only
//! `render` turns it into bytes, in the wire contract the endpoint declared.

use crate::store::StoreError;

/// The error shapes Gatehouse speaks. An endpoint declares one; the renderer keeps each
/// byte-for-byte as its clients expect it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Contract {
    /// RFC 6749 §5.2 JSON `{error, error_description}`, never cached.
    Rfc6749Json,
    /// RFC 6750 §3: the same JSON body, with a `Bearer` challenge on authentication failures.
    Rfc6750,
    /// The PitchTarget users API: `{error, error_description}`, never cached.
    UsersApi,
    /// Seed 003's connected-accounts API: `{statusCode, message, error}`.
    Seed003,
    /// A browser page: the shared HTML shell with the hashed-style CSP.
    HtmlPage,
}

/// Which dependency a 503 is about; the wording is all that differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dependency {
    Store,
    TokenStore,
    /// A rate limit's shared backend (Redis), with `fail_mode = "closed"`.
    RateLimiter,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiError {
    InvalidRequest(String),
    PayloadTooLarge,
    UnsupportedMediaType,
    HeadersTooLarge,
    NotFound(String),
    /// `allow` is derived from the endpoint table, e.g. `GET, POST`.
    MethodNotAllowed {
        allow: String,
    },
    /// RFC 6750 §3.1 `invalid_request`: the credential could not be read.
    MalformedToken(String),
    MissingToken,
    InvalidToken {
        expired: bool,
    },
    InsufficientScope {
        required: String,
    },
    Forbidden(String),
    /// A route's policy refused the request. Which rule did is logged and counted, never told.
    AccessDenied,
    /// Client authentication failed: 401 with a `Basic` challenge.
    InvalidClient,
    /// Client authentication refused for now (too many wrong secrets from this address):
    /// `InvalidClient` plus `Retry-After`.
    ClientLockedOut {
        retry_after: i64,
    },
    InvalidGrant(String),
    UnauthorizedClient(String),
    UnsupportedGrantType,
    InvalidScope(String),
    /// Throttled: answered like bad credentials, plus `Retry-After`.
    LockedOut {
        retry_after: i64,
    },
    Unprocessable(String),
    UsernameTaken,
    /// A rate limit (sign-ups per address or client): 429 with `Retry-After`.
    TooManyRequests {
        retry_after: i64,
    },
    /// A `[[rate_limits]]` bucket is empty: 429 with `Retry-After` and the draft RateLimit
    /// fields (draft-ietf-httpapi-ratelimit-headers), already formatted.
    RateLimited {
        retry_after: i64,
        policy: String,
        state: String,
    },
    /// 503 so the client retries rather than giving up (or throwing a good token away).
    Unavailable(Dependency),
    UpstreamUnavailable,
    UpstreamTimeout,
    Internal(String),
    /// A browser without credentials on a route with `on_missing = "sign_in"`: 302 to the
    /// sign-in page (`location`, a path on the request's own host, built by Gatehouse).
    SignIn {
        location: String,
    },
    /// A browser-facing refusal with its own title (expired sign-in, refused form…).
    Page {
        status: u16,
        title: String,
        message: String,
    },
}

/// The single message for every credential failure: no hint whether the user exists.
pub const BAD_CREDENTIALS: &str = "invalid username or password";

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        tracing::warn!(error = %e, "store error while answering a request");
        ApiError::Unavailable(Dependency::Store)
    }
}

impl ApiError {
    pub fn page(status: u16, title: &str, message: &str) -> ApiError {
        ApiError::Page {
            status,
            title: title.into(),
            message: message.into(),
        }
    }

    pub fn status(&self) -> u16 {
        match self {
            ApiError::InvalidRequest(_)
            | ApiError::MalformedToken(_)
            | ApiError::InvalidGrant(_)
            | ApiError::UnauthorizedClient(_)
            | ApiError::UnsupportedGrantType
            | ApiError::InvalidScope(_)
            | ApiError::LockedOut { .. } => 400,
            ApiError::MissingToken
            | ApiError::InvalidToken { .. }
            | ApiError::InvalidClient
            | ApiError::ClientLockedOut { .. } => 401,
            ApiError::InsufficientScope { .. }
            | ApiError::Forbidden(_)
            | ApiError::AccessDenied => 403,
            ApiError::NotFound(_) => 404,
            ApiError::MethodNotAllowed { .. } => 405,
            ApiError::UsernameTaken => 409,
            ApiError::TooManyRequests { .. } | ApiError::RateLimited { .. } => 429,
            ApiError::PayloadTooLarge => 413,
            ApiError::UnsupportedMediaType => 415,
            ApiError::Unprocessable(_) => 422,
            ApiError::HeadersTooLarge => 431,
            ApiError::Internal(_) => 500,
            ApiError::UpstreamUnavailable => 502,
            ApiError::Unavailable(_) => 503,
            ApiError::UpstreamTimeout => 504,
            ApiError::Page { status, .. } => *status,
            ApiError::SignIn { .. } => 302,
        }
    }

    /// The `error` code of the JSON contracts.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::InvalidRequest(_)
            | ApiError::PayloadTooLarge
            | ApiError::UnsupportedMediaType
            | ApiError::HeadersTooLarge
            | ApiError::MethodNotAllowed { .. }
            | ApiError::MalformedToken(_)
            | ApiError::MissingToken => "invalid_request",
            ApiError::NotFound(_) => "not_found",
            ApiError::InvalidToken { .. } => "invalid_token",
            ApiError::InsufficientScope { .. } => "insufficient_scope",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::AccessDenied => "access_denied",
            ApiError::InvalidClient | ApiError::ClientLockedOut { .. } => "invalid_client",
            ApiError::InvalidGrant(_) | ApiError::LockedOut { .. } => "invalid_grant",
            ApiError::UnauthorizedClient(_) => "unauthorized_client",
            ApiError::UnsupportedGrantType => "unsupported_grant_type",
            ApiError::InvalidScope(_) => "invalid_scope",
            ApiError::Unprocessable(_) => "invalid_user",
            ApiError::UsernameTaken => "username_taken",
            ApiError::TooManyRequests { .. } | ApiError::RateLimited { .. } => "too_many_requests",
            ApiError::Unavailable(_) => "temporarily_unavailable",
            ApiError::UpstreamUnavailable => "bad_gateway",
            ApiError::UpstreamTimeout => "gateway_timeout",
            ApiError::Internal(_) => "server_error",
            ApiError::Page { status, .. } if *status >= 500 => "server_error",
            ApiError::Page { .. } => "invalid_request",
            ApiError::SignIn { .. } => "sign_in_required",
        }
    }

    /// The human-readable description (`error_description`, or the page's message).
    pub fn description(&self, contract: Contract) -> String {
        let text = match self {
            ApiError::InvalidRequest(d)
            | ApiError::NotFound(d)
            | ApiError::MalformedToken(d)
            | ApiError::Forbidden(d)
            | ApiError::InvalidGrant(d)
            | ApiError::UnauthorizedClient(d)
            | ApiError::InvalidScope(d)
            | ApiError::Unprocessable(d)
            | ApiError::Internal(d) => return d.clone(),
            ApiError::Page { message, .. } => return message.clone(),
            ApiError::InsufficientScope { required } => {
                return format!("this route requires the scope(s): {required}")
            }
            ApiError::PayloadTooLarge => "the request body is too large",
            ApiError::UnsupportedMediaType => {
                "send application/x-www-form-urlencoded or application/json"
            }
            ApiError::HeadersTooLarge => "the request headers are too large",
            ApiError::MethodNotAllowed { .. } => match contract {
                Contract::Rfc6749Json => "method not allowed on this endpoint",
                _ => "method not allowed",
            },
            ApiError::MissingToken => "an access token is required",
            ApiError::SignIn { .. } => "sign in to continue",
            ApiError::InvalidToken { expired: true } => "the access token expired",
            ApiError::InvalidToken { expired: false } => "the access token is invalid or revoked",
            ApiError::InvalidClient | ApiError::ClientLockedOut { .. } => {
                "client authentication failed"
            }
            ApiError::UnsupportedGrantType => {
                "grant_type must be one of password, authorization_code, refresh_token, client_credentials"
            }
            ApiError::LockedOut { .. } => BAD_CREDENTIALS,
            ApiError::UsernameTaken => "this username is already taken",
            ApiError::TooManyRequests { .. } => "too many requests from here; retry later",
            ApiError::RateLimited { .. } => "rate limit exceeded; retry after the time given",
            ApiError::AccessDenied => "access to this resource is denied",
            ApiError::Unavailable(Dependency::RateLimiter) => {
                "the rate limiter cannot be reached; retry later"
            }
            ApiError::Unavailable(Dependency::Store) => "the store cannot be reached; retry later",
            ApiError::Unavailable(Dependency::TokenStore) => {
                "the token store cannot be reached; retry later"
            }
            ApiError::UpstreamUnavailable => "the upstream service is unavailable",
            ApiError::UpstreamTimeout => "the upstream service did not answer in time",
        };
        text.to_string()
    }

    /// The authentication failures that carry a `Bearer` challenge (RFC 6750 §3).
    pub fn is_bearer_failure(&self) -> bool {
        matches!(
            self,
            ApiError::MalformedToken(_)
                | ApiError::MissingToken
                | ApiError::InvalidToken { .. }
                | ApiError::InsufficientScope { .. }
        )
    }
}
