//! One canonical form of the request path, used both to choose the route and as the path sent
//! upstream, so Gatehouse and the legacy app can never disagree about which resource was asked
//! for (the parser-differential class of bypasses).

use std::borrow::Cow;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("the path must start with `/`")]
    NotAbsolute,
    #[error("the path climbs above the root")]
    AboveRoot,
    #[error("the path contains an encoded `/`, `\\`, `%`, `#` or NUL")]
    EncodedDelimiter,
    #[error("the path contains a backslash, a `;` parameter or a control character")]
    ForbiddenCharacter,
    #[error("the path contains a malformed percent-escape")]
    BadEscape,
}

/// Bytes that may appear in a path as they are, and that need no further look.
fn is_plain(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'.'
                | b'_'
                | b'~'
                | b'!'
                | b'$'
                | b'&'
                | b'\''
                | b'('
                | b')'
                | b'*'
                | b'+'
                | b','
                | b'='
                | b':'
                | b'@'
                | b'/'
        )
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// Normalizes `raw` (the path without its query): decodes percent-escapes of unreserved
/// characters, resolves `.` and `..`, merges `//`. Refuses what could route differently here
/// and upstream: encoded `/` `\` `%` `#` NUL, raw `\` or `;`, control bytes, climbing above `/`.
pub fn normalize_path(raw: &str) -> Result<Cow<'_, str>, PathError> {
    let bytes = raw.as_bytes();
    if bytes.first() != Some(&b'/') {
        return Err(PathError::NotAbsolute);
    }
    if bytes.iter().all(|&b| is_plain(b)) && !needs_segment_work(bytes) {
        return Ok(Cow::Borrowed(raw));
    }

    let mut decoded = String::with_capacity(raw.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' {
            let hex = bytes.get(i + 1..i + 3).ok_or(PathError::BadEscape)?;
            let v = hex_pair(hex).ok_or(PathError::BadEscape)?;
            if is_unreserved(v) {
                decoded.push(v as char);
            } else if matches!(v, b'/' | b'\\' | b'%' | b'#' | 0) {
                return Err(PathError::EncodedDelimiter);
            } else {
                decoded.push('%');
                decoded.push(HEX[(v >> 4) as usize] as char);
                decoded.push(HEX[(v & 0xF) as usize] as char);
            }
            i += 3;
        } else if is_plain(b) {
            decoded.push(b as char);
            i += 1;
        } else {
            return Err(PathError::ForbiddenCharacter);
        }
    }

    let mut out: Vec<&str> = Vec::new();
    let ends_with_slash = {
        let last = decoded.rsplit('/').next().unwrap_or("");
        decoded.ends_with('/') || last == "." || last == ".."
    };
    for segment in decoded.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                if out.pop().is_none() {
                    return Err(PathError::AboveRoot);
                }
            }
            s => out.push(s),
        }
    }
    let mut result = String::with_capacity(decoded.len());
    for s in &out {
        result.push('/');
        result.push_str(s);
    }
    if result.is_empty() || (ends_with_slash && !out.is_empty()) {
        result.push('/');
    }
    Ok(Cow::Owned(result))
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

fn hex_pair(h: &[u8]) -> Option<u8> {
    let d = |c: u8| (c as char).to_digit(16).map(|v| v as u8);
    Some(d(h[0])? << 4 | d(h[1])?)
}

/// True when the plain path has `//`, or a `.`/`..` segment, which the fast path cannot keep.
fn needs_segment_work(b: &[u8]) -> bool {
    b.windows(2).any(|w| w == b"//") || b.split(|&c| c == b'/').any(|s| s == b"." || s == b"..")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(raw: &str) -> String {
        normalize_path(raw).unwrap().into_owned()
    }

    #[test]
    fn canonical_forms() {
        assert_eq!(ok("/"), "/");
        assert_eq!(ok("/a/b"), "/a/b");
        assert_eq!(ok("/a/../b"), "/b");
        assert_eq!(ok("/a/./b/"), "/a/b/");
        assert_eq!(ok("//x"), "/x");
        assert_eq!(ok("/a//b///c"), "/a/b/c");
        assert_eq!(ok("/pub/%2e%2e/admin"), "/admin");
        assert_eq!(ok("/%7Euser/%41"), "/~user/A");
        assert_eq!(ok("/a/b/.."), "/a/");
        assert_eq!(ok("/a/%c3%a9"), "/a/%C3%A9");
        assert_eq!(ok("/a%20b"), "/a%20b");
    }

    #[test]
    fn refusals() {
        use PathError::*;
        let cases = [
            ("/..", AboveRoot),
            ("/%2e%2e/", AboveRoot),
            ("/a/../../b", AboveRoot),
            ("/pub%2fadmin", EncodedDelimiter),
            ("/pub%2Fadmin", EncodedDelimiter),
            ("/pub%5cadmin", EncodedDelimiter),
            ("/pub%252f..%252fadmin", EncodedDelimiter),
            ("/pub%23/../admin", EncodedDelimiter),
            ("/pub%00", EncodedDelimiter),
            ("/admin;x=1", ForbiddenCharacter),
            ("/pub\\..\\admin", ForbiddenCharacter),
            ("/a\tb", ForbiddenCharacter),
            ("/a%zz", BadEscape),
            ("/a%2", BadEscape),
            ("a/b", NotAbsolute),
            ("", NotAbsolute),
            ("*", NotAbsolute),
        ];
        for (raw, want) in cases {
            assert_eq!(normalize_path(raw), Err(want), "{raw}");
        }
    }

    #[test]
    fn plain_paths_are_borrowed() {
        assert!(matches!(
            normalize_path("/api/v1/users"),
            Ok(Cow::Borrowed(_))
        ));
    }
}
