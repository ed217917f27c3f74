//! SECURITY F3, F4 (header part) and pingora CVE-2026-2833: ambiguous or malformed HTTP/1.1
//! framing sent over raw TCP. Every case is refused (400/431, or the connection closed without
//! a 2xx) and reaches no upstream, unless the corpus marks it as legitimately accepted, in which
//! case the upstream sees exactly one well-framed request. A smuggled second request
//! (`/smuggled`) never reaches the upstream.

use crate::support::*;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

const CORPUS: &str = include_str!("corpora/framing.tsv");

/// What came back on one connection: the status codes of every response, and whether the
/// server closed the connection (rather than our read timing out).
struct Exchange {
    statuses: Vec<u16>,
    closed: bool,
}

fn exchange(addr: SocketAddr, request: &str) -> Exchange {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    // The server may refuse before reading everything: a failed write is an answer too.
    let _ = s.write_all(request.as_bytes());
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let closed = loop {
        match s.read(&mut chunk) {
            Ok(0) => break true,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            // Reset by the server after refusing: closed.
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break true,
            Err(_) => break false,
        }
    };
    let text = String::from_utf8_lossy(&buf);
    let statuses = text
        .match_indices("HTTP/1.")
        .filter_map(|(i, _)| text[i..].split_whitespace().nth(1)?.parse().ok())
        .collect();
    Exchange { statuses, closed }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn framing_corpus_is_refused_and_never_forwarded() {
    let up = EchoUpstream::start("app").await;
    let gh = TestGatehouse::start(
        &[
            upstream_section("app", &up, ""),
            route("/", "app", "public", ""),
        ]
        .concat(),
    );
    let cases = crate::corpus(CORPUS, 59);
    let mut failures = Vec::new();
    for case in &cases {
        let (expected, request) = (case.field(0), case.field(1));
        let before = up.count();
        let got = exchange(gh.addr, request);
        let reached = up.count() - before;
        let first = got.statuses.first().copied();
        let ok = match expected {
            // Accepted: exactly one request, well framed, went through.
            "200" => first == Some(200) && reached == 1,
            // Alternatives such as `400|431` or `400|close` (no response, connection closed).
            alternatives => {
                reached == 0
                    && alternatives.split('|').any(|a| match (a, first) {
                        ("close", None) => got.closed,
                        (status, Some(s)) => status == s.to_string(),
                        _ => false,
                    })
            }
        };
        if !ok {
            failures.push(format!(
                "line {}: expected {expected}, got statuses {:?} closed={} upstream+{reached}{}",
                case.line,
                got.statuses,
                got.closed,
                if reached > 0 {
                    format!(" (last forwarded: {:?})", up.last())
                } else {
                    String::new()
                }
            ));
        }
    }
    assert!(
        up.seen().iter().all(|s| !s.uri.starts_with("/smuggled")),
        "a smuggled request reached the upstream: {:?}",
        up.seen()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // Still serving well-formed requests afterwards.
    assert_eq!(raw_get(gh.addr, "/after", &[]).status, 200);
}

/// SECURITY F5: `Expect: 100-continue` gets its interim 100 only after the auth and size
/// checks, so a refused client is never invited to send a 10 MiB body.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expect_continue_is_answered_only_after_auth_and_size_checks() {
    let up = EchoUpstream::start("app").await;
    let gh = TestGatehouse::start(
        &[
            crate::support::oauth::oauth_sections(""),
            upstream_section("app", &up, ""),
            route("/api", "app", "required", ""),
        ]
        .concat(),
    );
    let ten_mib = 10 * 1024 * 1024;
    for (what, request, status) in [
        (
            "own endpoint, body too large",
            format!("POST /oauth/token HTTP/1.1\r\nHost: a\r\nContent-Type: application/x-www-form-urlencoded\r\nExpect: 100-continue\r\nContent-Length: {ten_mib}\r\n\r\n"),
            413,
        ),
        (
            "protected route, no token",
            format!("POST /api/x HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: {ten_mib}\r\n\r\n"),
            401,
        ),
    ] {
        let got = exchange(gh.addr, &request);
        assert_eq!(
            got.statuses.first().copied(),
            Some(status),
            "{what}: {:?}",
            got.statuses
        );
        assert!(!got.statuses.contains(&100), "{what}: {:?}", got.statuses);
    }
    assert_eq!(up.count(), 0);
}
