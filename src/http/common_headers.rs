//! Headers every response Gatehouse writes itself carries: the seeds' security set, CORS as
//! configured (the seeds' permissive set by default), and values built once at start-up.

use crate::config::{CorsConfig, CorsOrigins};
use http::header::{HeaderName, HeaderValue};
use pingora::http::ResponseHeader;

pub struct CommonHeaders {
    fixed: Vec<(HeaderName, HeaderValue)>,
    cors: CorsConfig,
    cors_methods: HeaderValue,
    cors_headers: HeaderValue,
}

const ACAO: HeaderName = HeaderName::from_static("access-control-allow-origin");
const ACAC: HeaderName = HeaderName::from_static("access-control-allow-credentials");

impl CommonHeaders {
    pub fn new(cors: &CorsConfig) -> Result<CommonHeaders, String> {
        let value = |key: &str, v: &str| {
            HeaderValue::from_str(v)
                .map_err(|_| format!("http.cors.{key}: not a valid header value"))
        };
        let cors_methods = value("allow_methods", &cors.allow_methods)?;
        let cors_headers = value("allow_headers", &cors.allow_headers)?;
        let fixed = vec![
            (
                HeaderName::from_static("x-frame-options"),
                HeaderValue::from_static("SAMEORIGIN"),
            ),
            (
                HeaderName::from_static("x-xss-protection"),
                HeaderValue::from_static("1; mode=block"),
            ),
            (
                HeaderName::from_static("x-content-type-options"),
                HeaderValue::from_static("nosniff"),
            ),
            (
                HeaderName::from_static("x-ua-compatible"),
                HeaderValue::from_static("chrome=1"),
            ),
        ];
        Ok(CommonHeaders {
            fixed,
            cors: cors.clone(),
            cors_methods,
            cors_headers,
        })
    }

    /// Adds the common set to `resp`, leaving any header the handler already set alone.
    pub fn apply(&self, resp: &mut ResponseHeader, origin: Option<&HeaderValue>) {
        for (name, value) in &self.fixed {
            if !resp.headers.contains_key(name) {
                let _ = resp.insert_header(name.clone(), value.clone());
            }
        }
        let allowed_origin = match &self.cors.origins {
            CorsOrigins::Any => Some(HeaderValue::from_static("*")),
            CorsOrigins::List(list) => {
                // Vary on every response, matched or not: caches must not mix origins.
                let _ = resp.append_header(http::header::VARY, "Origin");
                origin
                    .filter(|o| list.iter().any(|a| a.as_bytes() == o.as_bytes()))
                    .cloned()
            }
        };
        if let Some(o) = allowed_origin {
            let _ = resp.insert_header(ACAO, o);
            let _ = resp.insert_header("access-control-allow-methods", self.cors_methods.clone());
            let _ = resp.insert_header("access-control-request-method", "*");
            let _ = resp.insert_header("access-control-allow-headers", self.cors_headers.clone());
            if self.cors.allow_credentials {
                let _ = resp.insert_header(ACAC, "true");
            }
        }
    }
}
