//! Cookies of the browser flows, read and written through the `cookie` crate: always
//! `HttpOnly` and `SameSite=Lax`, `Secure` whenever the public URL is https.

use super::ApiError;
use cookie::{Cookie, SameSite};
use http::{HeaderMap, HeaderValue};

/// Every value the request's `Cookie` headers carry under `name` (a browser may send a name
/// twice when paths differ; callers decide which one counts).
pub fn read(headers: &HeaderMap, name: &str) -> Vec<String> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .filter(|c| c.name() == name)
        .map(|c| c.value().to_string())
        .collect()
}

/// A `Set-Cookie` value; `max_age` 0 removes the cookie.
pub fn set(
    name: &str,
    value: &str,
    path: &str,
    max_age_secs: u64,
    secure: bool,
) -> Result<HeaderValue, ApiError> {
    let max_age = cookie::time::Duration::seconds(i64::try_from(max_age_secs).unwrap_or(i64::MAX));
    let c = Cookie::build((name.to_string(), value.to_string()))
        .path(path.to_string())
        .http_only(true)
        .same_site(SameSite::Lax)
        .max_age(max_age)
        .secure(secure)
        .build();
    HeaderValue::from_str(&c.to_string())
        .map_err(|_| ApiError::Internal("cannot build the cookie".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_cookies_read_back() {
        let v = set("gatehouse-authz", "abc", "/", 600, true).unwrap();
        let text = v.to_str().unwrap();
        for part in [
            "gatehouse-authz=abc",
            "Path=/",
            "HttpOnly",
            "SameSite=Lax",
            "Max-Age=600",
            "Secure",
        ] {
            assert!(text.contains(part), "{text}");
        }
        let mut h = HeaderMap::new();
        h.append(
            http::header::COOKIE,
            HeaderValue::from_static("a=1; gatehouse-authz=abc"),
        );
        h.append(
            http::header::COOKIE,
            HeaderValue::from_static("gatehouse-authz=def"),
        );
        assert_eq!(read(&h, "gatehouse-authz"), vec!["abc", "def"]);
        assert!(read(&h, "missing").is_empty());
        assert!(!set("n", "v", "/", 0, false)
            .unwrap()
            .to_str()
            .unwrap()
            .contains("Secure"));
    }
}
