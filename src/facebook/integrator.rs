//! Integrator URLs (where a user goes back after Facebook Login): absolute, parsed by `url`,
//! with an origin (scheme, host, port) exactly in the configured allow-list. Everything else
//! is refused before any redirect is written (CWE-601, RFC 9700 §4.11).

use url::Url;

/// The parsed URL when `raw` is acceptable.
pub fn check(raw: &str, allowed_origins: &[String]) -> Option<Url> {
    // Control characters and backslashes are never part of a URL we would send a browser to;
    // `url` would silently strip or rewrite some of them.
    if raw.is_empty()
        || raw
            .chars()
            .any(|c| c.is_control() || c == '\\' || c.is_whitespace())
    {
        return None;
    }
    // Written out in full: `https:evil.com` or `https:///x` parse, but are not what they look like.
    let after_scheme = raw
        .strip_prefix("https://")
        .or_else(|| raw.strip_prefix("http://"))?;
    if after_scheme.starts_with('/') {
        return None;
    }
    let url = Url::parse(raw).ok()?;
    if !matches!(url.scheme(), "https" | "http")
        || !url.username().is_empty()
        || url.password().is_some()
    {
        return None;
    }
    if url.fragment().is_some() {
        return None;
    }
    let origin = url.origin().ascii_serialization();
    allowed_origins.contains(&origin).then_some(url)
}

#[cfg(test)]
mod tests {
    use super::check;

    #[test]
    fn open_redirect_corpus_is_refused() {
        let allowed = vec![
            "https://allowed.com".to_string(),
            "http://localhost:3000".to_string(),
        ];
        assert!(check("https://allowed.com/done?x=1", &allowed).is_some());
        assert!(check("https://allowed.com", &allowed).is_some());
        assert!(check("http://localhost:3000/cb", &allowed).is_some());
        let corpus = [
            "//evil.com",
            "/\\evil.com",
            "https:evil.com",
            "https://allowed.com.evil.com",
            "https://allowed.com@evil.com",
            "https://evil.com#allowed.com",
            "https://allowed.com%09.evil.com",
            "java%0ascript:alert(1)",
            "https://allowed.com%00.evil.com",
            "HTTPS://EVIL.COM",
            "https://аllowed.com",
            "https://xn--llowed-2nf.com",
            "javascript:alert(1)",
            "data:text/html,x",
            "http://allowed.com",
            "https://allowed.com:8443/",
            "https://allowed.com\t.evil.com",
            "https://allowed.com/#frag",
            " https://allowed.com",
            "https://user:pw@allowed.com/",
            "ftp://allowed.com",
            "https://evil.com/https://allowed.com",
            "https://allowed.com.",
            "",
            "https:///allowed.com",
            "https://evil.com\\@allowed.com",
            "\\\\evil.com",
            "http://localhost:3001/",
            "https://ALLOWED.com.evil.com",
            "https://allowed.com%2f@evil.com",
        ];
        for bad in corpus {
            assert!(check(bad, &allowed).is_none(), "{bad:?} must be refused");
        }
    }
}
