//! A response Gatehouse writes itself (errors, built-in handlers), before common headers.

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, CONTENT_TYPE};

pub const JSON: HeaderValue = HeaderValue::from_static("application/json; charset=utf-8");

#[derive(Debug, Clone)]
pub struct OwnResponse {
    pub status: u16,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub body: Bytes,
}

impl OwnResponse {
    pub fn json(status: u16, value: &serde_json::Value) -> OwnResponse {
        OwnResponse {
            status,
            headers: vec![(CONTENT_TYPE, JSON)],
            body: Bytes::from(value.to_string()),
        }
    }

    /// The `{"error", "error_description"}` body of RFC 6749 §5.2 / RFC 6750 §3.
    pub fn error(status: u16, error: &str, description: &str) -> OwnResponse {
        Self::json(
            status,
            &serde_json::json!({ "error": error, "error_description": description }),
        )
    }

    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> OwnResponse {
        self.headers.push((name, value));
        self
    }

    /// RFC 6749 §5.1: a response that may carry credentials is never cached.
    pub fn no_store(mut self) -> OwnResponse {
        self.headers.extend(super::no_store());
        self
    }

    /// A redirect to an address built by us (never an unchecked client value).
    pub fn redirect(status: u16, location: &str) -> Result<OwnResponse, super::ApiError> {
        let value = HeaderValue::from_str(location)
            .map_err(|_| super::ApiError::Internal("cannot build the redirect".into()))?;
        Ok(OwnResponse::empty(status).with_header(http::header::LOCATION, value))
    }

    /// A redirect out of a browser flow: never cached, and the page's own URL (which may hold
    /// a code or state) never sent on as the referrer.
    pub fn browser_redirect(status: u16, location: &str) -> Result<OwnResponse, super::ApiError> {
        Ok(Self::redirect(status, location)?
            .with_header(
                http::header::CACHE_CONTROL,
                HeaderValue::from_static("no-store"),
            )
            .with_header(
                http::header::REFERRER_POLICY,
                HeaderValue::from_static("no-referrer"),
            ))
    }

    /// `Retry-After` in seconds, at least one.
    pub fn retry_after(self, secs: i64) -> OwnResponse {
        self.with_header(http::header::RETRY_AFTER, HeaderValue::from(secs.max(1)))
    }

    pub fn empty(status: u16) -> OwnResponse {
        OwnResponse {
            status,
            headers: Vec::new(),
            body: Bytes::new(),
        }
    }
}
