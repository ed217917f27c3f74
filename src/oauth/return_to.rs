//! Where a browser goes back to after signing in or out: the `rd` it came with, kept only when
//! it names a place on the host it was sent from (a path, or an absolute URL of that very
//! origin), and always handed back as a path, so the redirect cannot leave the host.

/// Longer return URLs are refused rather than stored.
const MAX_LEN: usize = 2048;

/// The path and query `rd` names on `host` (the request's `Host`, port included), or `None`
/// when it is anywhere else or cannot be read. Checked on the raw text first: a parser
/// rewrites `\`, tabs and newlines into something else before anyone could look at them.
pub fn return_path(rd: &str, host: &str) -> Option<String> {
    if rd.is_empty()
        || rd.len() > MAX_LEN
        || rd
            .bytes()
            .any(|b| b <= b' ' || b == 0x7f || b == b'\\' || b >= 0x80)
    {
        return None;
    }
    let url = if rd.starts_with('/') {
        if rd.starts_with("//") {
            return None;
        }
        let base = url::Url::parse(&format!("http://{host}/")).ok()?;
        let joined = base.join(rd).ok()?;
        (joined.origin() == base.origin()).then_some(joined)?
    } else {
        let absolute = url::Url::parse(rd).ok()?;
        if !matches!(absolute.scheme(), "http" | "https") {
            return None;
        }
        let base = url::Url::parse(&format!("{}://{host}/", absolute.scheme())).ok()?;
        let same = absolute.origin() == base.origin()
            && absolute.username().is_empty()
            && absolute.password().is_none();
        same.then_some(absolute)?
    };
    let path = url.path();
    // `/.//evil.example` resolves to the path `//evil.example`: a scheme-relative URL.
    if !path.starts_with('/') || path.starts_with("//") {
        return None;
    }
    Some(match url.query() {
        Some(q) => format!("{path}?{q}"),
        None => path.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::return_path;

    const HOST: &str = "app.test:8080";

    #[test]
    fn paths_and_this_origin_are_kept_as_paths() {
        for (rd, want) in [
            ("/", "/"),
            ("/dash?x=1&y=%2F", "/dash?x=1&y=%2F"),
            ("/a/../b", "/b"),
            ("http://app.test:8080/in?q", "/in?q"),
            ("https://app.test:8080/in", "/in"),
            ("http://APP.test:8080/x", "/x"),
        ] {
            assert_eq!(return_path(rd, HOST).as_deref(), Some(want), "{rd}");
        }
    }

    #[test]
    fn anything_that_could_leave_the_host_is_refused() {
        for rd in [
            "",
            "//evil.example",
            "/\\evil.example",
            "\\\\evil.example",
            "/.//evil.example",
            "/%2e//evil.example/..",
            "https:evil.example",
            "http://evil.example/",
            "http://app.test:8080.evil.example/",
            "http://app.test:8080@evil.example/",
            "http://user@app.test:8080/",
            "http://evil.example#app.test:8080",
            "http://app.test/",
            "http://app.test:8081/",
            "https://app.test%09.evil.example/",
            "/\t/evil.example",
            "java\nscript:alert(1)",
            "javascript:alert(1)",
            "data:text/html,x",
            "ftp://app.test:8080/",
            "evil.example",
            "http://аpp.test:8080/",
        ] {
            assert_eq!(return_path(rd, HOST), None, "{rd:?}");
        }
        assert_eq!(return_path(&format!("/{}", "a".repeat(2048)), HOST), None);
    }
}
