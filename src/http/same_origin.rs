//! Whether a browser request comes from a page of the origin it is sent to: the CSRF check of
//! cookie-authenticated unsafe methods. `Sec-Fetch-Site: same-origin` says so directly;
//! otherwise `Origin` must name this very origin. A request with neither is refused: every
//! browser that sends cookies sends one of them on an unsafe method.

use http::HeaderMap;

const SEC_FETCH_SITE: &str = "sec-fetch-site";

/// `host` is the request's `Host` (port included); with `https_only` an `http` origin is not
/// this one, even on the same host and port.
pub fn is_same_origin(headers: &HeaderMap, host: &str, https_only: bool) -> bool {
    if headers
        .get(SEC_FETCH_SITE)
        .is_some_and(|v| v.as_bytes() == b"same-origin")
    {
        return true;
    }
    let mut origins = headers.get_all(http::header::ORIGIN).iter();
    let (Some(origin), None) = (origins.next(), origins.next()) else {
        return false;
    };
    let Some(origin) = origin.to_str().ok().and_then(|o| url::Url::parse(o).ok()) else {
        return false;
    };
    let scheme = origin.scheme();
    if !(scheme == "https" || (scheme == "http" && !https_only)) {
        return false;
    }
    url::Url::parse(&format!("{scheme}://{host}/"))
        .is_ok_and(|this| this.origin() == origin.origin())
}

/// `Sec-Fetch-Site` says the request was started from another site (or a sibling subdomain):
/// a link or form there, not the user on this site.
pub fn is_cross_site(headers: &HeaderMap) -> bool {
    headers
        .get(SEC_FETCH_SITE)
        .is_some_and(|v| v.as_bytes() == b"cross-site" || v.as_bytes() == b"same-site")
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn only_this_origin_passes() {
        let host = "app.test:8080";
        let yes: &[&[(&str, &str)]] = &[
            &[("sec-fetch-site", "same-origin")],
            &[("origin", "http://app.test:8080")],
            &[("origin", "http://APP.test:8080")],
        ];
        for h in yes {
            assert!(is_same_origin(&headers(h), host, false), "{h:?}");
        }
        let no: &[&[(&str, &str)]] = &[
            &[],
            &[("sec-fetch-site", "cross-site")],
            &[
                ("sec-fetch-site", "same-site"),
                ("origin", "http://a.app.test:8080"),
            ],
            &[("origin", "null")],
            &[("origin", "http://app.test:8081")],
            &[("origin", "http://evil.test")],
            &[("origin", "http://app.test:8080.evil.test")],
            &[
                ("origin", "http://app.test:8080"),
                ("origin", "http://evil.test"),
            ],
        ];
        for h in no {
            assert!(!is_same_origin(&headers(h), host, false), "{h:?}");
        }
        assert!(!is_same_origin(
            &headers(&[("origin", "http://app.test")]),
            "app.test",
            true
        ));
        assert!(is_same_origin(
            &headers(&[("origin", "https://app.test")]),
            "app.test",
            true
        ));
    }
}
