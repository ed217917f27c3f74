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

/// The sign-in form's cookie (the pending authorization request's id), plain and `__Host-`.
pub const SIGN_IN: &str = "gatehouse-authz";
pub const SIGN_IN_HOST: &str = "__Host-gatehouse-authz";

/// Gatehouse's own cookies sent on every path, given the session cookie's name: what an
/// upstream never receives. (The Facebook flow's cookie is scoped to `/facebook`, which
/// Gatehouse serves itself.)
pub fn own_names(session: &str) -> [&str; 3] {
    [session, SIGN_IN, SIGN_IN_HOST]
}

/// The `Cookie` header values with every pair named in `names` taken out and the other pairs
/// kept as they came; `None` when nothing was taken (the headers can stay as they are). A
/// value left empty is dropped.
pub fn without(headers: &HeaderMap, names: &[&str]) -> Option<Vec<HeaderValue>> {
    let mut found = false;
    let mut kept = Vec::new();
    for value in headers.get_all(http::header::COOKIE) {
        let Ok(text) = value.to_str() else {
            kept.push(value.clone());
            continue;
        };
        let pairs: Vec<&str> = text
            .split(';')
            .map(str::trim)
            .filter(|pair| {
                let named = pair
                    .split('=')
                    .next()
                    .map(str::trim)
                    .is_some_and(|n| names.contains(&n));
                found |= named;
                !named && !pair.is_empty()
            })
            .collect();
        if !pairs.is_empty() {
            if let Ok(v) = HeaderValue::from_str(&pairs.join("; ")) {
                kept.push(v);
            }
        }
    }
    found.then_some(kept)
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

    #[test]
    fn without_takes_out_only_the_named_pairs() {
        let mut h = HeaderMap::new();
        h.append(
            http::header::COOKIE,
            HeaderValue::from_static("a=1; gatehouse-session=s1;b=2"),
        );
        h.append(
            http::header::COOKIE,
            HeaderValue::from_static("gatehouse-session=s2"),
        );
        h.append(
            http::header::COOKIE,
            HeaderValue::from_static("gatehouse-session-x=3"),
        );
        let kept = without(&h, &["gatehouse-session"]).unwrap();
        assert_eq!(kept, vec!["a=1; b=2", "gatehouse-session-x=3"]);
        assert!(without(&h, &["c"]).is_none());
        let kept = without(&h, &own_names("gatehouse-session-x")).unwrap();
        assert_eq!(
            kept,
            vec!["a=1; gatehouse-session=s1; b=2", "gatehouse-session=s2"]
        );
        let mut h = HeaderMap::new();
        h.append(
            http::header::COOKIE,
            HeaderValue::from_static("gatehouse-authz=p; a=1; __Host-gatehouse-authz=q"),
        );
        assert_eq!(without(&h, &own_names("sid")).unwrap(), vec!["a=1"]);
    }
}
