//! Every way the proxy refuses or fails a request, and the one place each becomes a response:
//! RFC 6750 for bearer problems, JSON `{error, error_description}` bodies throughout.

use crate::auth::Malformed;
use crate::http::OwnResponse;
use crate::routing::{HostError, PathError};
use http::header::{HeaderValue, WWW_AUTHENTICATE};

#[derive(Debug)]
pub enum Rejection {
    BadPath(PathError),
    BadHost(HostError),
    MissingHost,
    NoRoute,
    Malformed(Malformed),
    MissingToken,
    InvalidToken { expired: bool },
    InsufficientScope { required: String },
    StoreUnavailable,
    BodyTooLarge,
    UpstreamUnavailable,
    UpstreamTimeout,
    BadRequest,
    HeadersTooLarge,
    FramingConflict,
    Internal,
}

impl Rejection {
    pub fn response(&self, realm: &str) -> OwnResponse {
        let bearer = |params: &str| {
            let v = if params.is_empty() {
                format!("Bearer realm=\"{realm}\"")
            } else {
                format!("Bearer realm=\"{realm}\", {params}")
            };
            HeaderValue::from_str(&v).unwrap_or_else(|_| HeaderValue::from_static("Bearer"))
        };
        match self {
            Rejection::BadPath(e) => OwnResponse::error(400, "invalid_request", &e.to_string()),
            Rejection::BadHost(e) => OwnResponse::error(400, "invalid_request", &e.to_string()),
            Rejection::MissingHost => OwnResponse::error(
                400,
                "invalid_request",
                "an HTTP/1.1 request needs a Host header",
            ),
            Rejection::NoRoute => {
                OwnResponse::error(404, "not_found", "no route matches this request")
            }
            Rejection::Malformed(m) => OwnResponse::error(400, "invalid_request", &m.to_string())
                .with_header(WWW_AUTHENTICATE, bearer("error=\"invalid_request\"")),
            Rejection::MissingToken => {
                OwnResponse::error(401, "invalid_request", "an access token is required")
                    .with_header(WWW_AUTHENTICATE, bearer(""))
            }
            Rejection::InvalidToken { expired } => {
                let desc = if *expired {
                    "the access token expired"
                } else {
                    "the access token is invalid or revoked"
                };
                OwnResponse::error(401, "invalid_token", desc).with_header(
                    WWW_AUTHENTICATE,
                    bearer(&format!(
                        "error=\"invalid_token\", error_description=\"{desc}\""
                    )),
                )
            }
            Rejection::InsufficientScope { required } => OwnResponse::error(
                403,
                "insufficient_scope",
                &format!("this route requires the scope(s): {required}"),
            )
            .with_header(
                WWW_AUTHENTICATE,
                bearer(&format!(
                    "error=\"insufficient_scope\", scope=\"{required}\""
                )),
            ),
            Rejection::StoreUnavailable => OwnResponse::error(
                503,
                "temporarily_unavailable",
                "the token store cannot be reached; retry later",
            )
            .with_header(http::header::RETRY_AFTER, HeaderValue::from_static("1")),
            Rejection::BodyTooLarge => {
                OwnResponse::error(413, "invalid_request", "the request body is too large")
            }
            Rejection::UpstreamUnavailable => {
                OwnResponse::error(502, "bad_gateway", "the upstream service is unavailable")
            }
            Rejection::UpstreamTimeout => OwnResponse::error(
                504,
                "gateway_timeout",
                "the upstream service did not answer in time",
            ),
            Rejection::BadRequest => {
                OwnResponse::error(400, "invalid_request", "the request could not be read")
            }
            Rejection::HeadersTooLarge => {
                OwnResponse::error(431, "invalid_request", "the request headers are too large")
            }
            Rejection::FramingConflict => OwnResponse::error(
                400,
                "invalid_request",
                "ambiguous framing (Content-Length / Transfer-Encoding) is refused",
            ),
            Rejection::Internal => {
                OwnResponse::error(500, "server_error", "an internal error occurred")
            }
        }
    }
}
