//! One canonical host, for routing requests and for the route hosts in config, so that every
//! spelling an upstream would take for the same virtual host (`ADMIN.test`, `admin.test.`,
//! `admin.test:8080`, punycode) picks the same route. Anything that is not a plain host (a
//! path, userinfo, percent escapes, non-ASCII bytes, empty labels) is refused instead of being
//! guessed at. Imports nothing from the crate.

use std::borrow::Cow;
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostError {
    Empty,
    NotAscii,
    BadPort,
    Invalid,
}

impl fmt::Display for HostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HostError::Empty => "the Host header is empty",
            HostError::NotAscii => "the Host header has non-ASCII bytes",
            HostError::BadPort => "the Host header has an invalid port",
            HostError::Invalid => "the Host header is not a valid host name",
        })
    }
}

/// The host of an authority (`Host` value or absolute-form target), port dropped, lowercased,
/// one trailing dot removed, IDNA labels checked. Borrows when the value is already canonical,
/// which is every request from an ordinary client.
pub fn normalize_host(authority: &[u8]) -> Result<Cow<'_, str>, HostError> {
    if !authority.iter().all(|b| b.is_ascii_graphic()) {
        return Err(if authority.is_ascii() {
            HostError::Invalid
        } else {
            HostError::NotAscii
        });
    }
    let text = std::str::from_utf8(authority).map_err(|_| HostError::NotAscii)?;
    let host = strip_port(text)?;
    if host.is_empty() {
        return Err(HostError::Empty);
    }
    if is_canonical(host) {
        return Ok(Cow::Borrowed(host));
    }
    canonicalize(host).map(Cow::Owned)
}

fn strip_port(text: &str) -> Result<&str, HostError> {
    let (host, port) = if text.starts_with('[') {
        let end = text.find(']').ok_or(HostError::Invalid)?;
        let (host, rest) = text.split_at(end + 1);
        match rest.strip_prefix(':') {
            Some(port) => (host, port),
            None if rest.is_empty() => (host, ""),
            None => return Err(HostError::Invalid),
        }
    } else {
        match text.rsplit_once(':') {
            Some((host, port)) => (host, port),
            None => (text, ""),
        }
    };
    if port.len() > 5 || !port.bytes().all(|b| b.is_ascii_digit()) {
        return Err(HostError::BadPort);
    }
    Ok(host)
}

/// Lowercase LDH labels (plus `_`, which internal DNS names use), no empty label, no trailing
/// dot, no punycode: nothing to rewrite. A last label starting with a digit makes the URL
/// standard read the host as an IPv4 address (`0x7f.1` is 127.0.0.1, `admin.1` is invalid), so
/// only an address already in dotted-decimal form is kept as written.
fn is_canonical(host: &str) -> bool {
    let last = host.rsplit('.').next().unwrap_or(host);
    if last.starts_with(|c: char| c.is_ascii_digit()) {
        return host.parse::<std::net::Ipv4Addr>().is_ok();
    }
    host.split('.').all(|label| {
        !label.is_empty()
            && !label.starts_with("xn--")
            && label
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
    })
}

fn canonicalize(host: &str) -> Result<String, HostError> {
    // Percent escapes would be decoded by the URL parser into a host the upstream never sees.
    if host.contains('%') {
        return Err(HostError::Invalid);
    }
    let host = host.strip_suffix('.').unwrap_or(host);
    if !host.starts_with('[') && host.split('.').any(str::is_empty) {
        return Err(HostError::Invalid);
    }
    match url::Host::parse(host).map_err(|_| HostError::Invalid)? {
        url::Host::Domain(d) => Ok(d),
        ip => Ok(ip.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_of_one_host_agree() {
        for (input, want) in [
            ("admin.test", "admin.test"),
            ("ADMIN.Test", "admin.test"),
            ("admin.test.", "admin.test"),
            ("Admin.Test.:8080", "admin.test"),
            ("admin.test:", "admin.test"),
            ("127.0.0.1:80", "127.0.0.1"),
            ("[::1]:8080", "[::1]"),
            ("[0:0::1]", "[::1]"),
            ("xn--bcher-kva.example", "xn--bcher-kva.example"),
            ("XN--BCHER-KVA.example", "xn--bcher-kva.example"),
            ("svc_a.internal", "svc_a.internal"),
            ("0x7f.1", "127.0.0.1"),
            ("0X7F.0.0.1:80", "127.0.0.1"),
            ("127.1", "127.0.0.1"),
            ("x.1a", "x.1a"),
        ] {
            assert_eq!(
                normalize_host(input.as_bytes()).as_deref(),
                Ok(want),
                "{input}"
            );
        }
    }

    #[test]
    fn malformed_hosts_are_refused() {
        for (input, want) in [
            ("", HostError::Empty),
            (":80", HostError::Empty),
            ("admin.test/x", HostError::Invalid),
            ("admin.test..", HostError::Invalid),
            (".admin.test", HostError::Invalid),
            ("admin..test", HostError::Invalid),
            ("admin%2etest", HostError::Invalid),
            ("user@admin.test", HostError::Invalid),
            ("admin.test:80x", HostError::BadPort),
            ("admin.test:123456", HostError::BadPort),
            ("[::1", HostError::Invalid),
            ("[::1]x", HostError::Invalid),
            ("admin test", HostError::Invalid),
            ("xn--zz.example", HostError::Invalid),
            // Ends in a number, so read as IPv4, and not one: refused in any case (fuzzing
            // found `A.1` refused while `a.1` was routed).
            ("admin.1", HostError::Invalid),
            ("ADMIN.1", HostError::Invalid),
            ("i3A127.0.0.1081", HostError::Invalid),
            ("256.0.0.1", HostError::Invalid),
        ] {
            assert_eq!(normalize_host(input.as_bytes()), Err(want), "{input}");
        }
        assert_eq!(
            normalize_host("bücher.example".as_bytes()),
            Err(HostError::NotAscii)
        );
        assert_eq!(normalize_host(b"admin.test\xff"), Err(HostError::NotAscii));
    }

    #[test]
    fn canonical_hosts_are_borrowed() {
        assert!(matches!(
            normalize_host(b"api.example.com:443"),
            Ok(Cow::Borrowed("api.example.com"))
        ));
    }
}
