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
    let cases = crate::corpus(CORPUS, 69);
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

/// F-FRAME-3's other side: chunked bodies are read ahead (up to 64 KiB) before the head goes
/// upstream, so every well-formed body must still arrive byte for byte, whatever its size and
/// chunking: inside the window, at its edge, past it in small chunks (pingora's retry buffer
/// holds them) and past it in one large chunk (the buffer overflows and our copy goes first).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunked_bodies_of_every_size_arrive_intact() {
    let up = EchoUpstream::start("app").await;
    let gh = TestGatehouse::start(
        &[
            upstream_section("app", &up, ""),
            route("/", "app", "public", ""),
        ]
        .concat(),
    );
    let cases: [(&str, usize, usize); 6] = [
        ("empty", 0, 1),
        ("small", 10, 3),
        ("window edge in one chunk", 64 * 1024, 64 * 1024),
        ("past the window, 1 KiB chunks", 200 * 1024, 1024),
        ("past the window, one chunk", 300 * 1024, 300 * 1024),
        ("past the window, 40 KiB chunks", 200 * 1024 + 7, 40 * 1024),
    ];
    for (what, len, chunk) in cases {
        let body: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
        let mut request =
            b"POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                .to_vec();
        for piece in body.chunks(chunk) {
            request.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
            request.extend_from_slice(piece);
            request.extend_from_slice(b"\r\n");
        }
        request.extend_from_slice(b"0\r\n\r\n");
        let before = up.count();
        let mut s = TcpStream::connect(gh.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(&request).unwrap();
        let mut response = Vec::new();
        let _ = s.read_to_end(&mut response);
        let text = String::from_utf8_lossy(&response);
        assert!(text.starts_with("HTTP/1.1 200"), "{what}: {text:.200}");
        assert_eq!(up.count() - before, 1, "{what}");
        let seen = up.last();
        assert_eq!(seen.body.len(), body.len(), "{what}: length");
        assert!(seen.body == body, "{what}: bytes differ");
    }
}

/// A chunked upload that waits for `100 Continue` gets it from us once the request passed
/// auth (we read its body ahead of the upstream, so the upstream is not asked again): one 100,
/// then the upstream's answer, and the upstream sees no `Expect`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunked_upload_waiting_for_continue_is_invited_once() {
    let up = EchoUpstream::start("app").await;
    let gh = TestGatehouse::start(
        &[
            upstream_section("app", &up, ""),
            route("/", "app", "public", ""),
        ]
        .concat(),
    );
    let mut s = TcpStream::connect(gh.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n")
        .unwrap();
    // Only once invited does the body go out, as a real client does.
    let mut first = [0u8; 25];
    s.read_exact(&mut first).unwrap();
    assert_eq!(&first, b"HTTP/1.1 100 Continue\r\n\r\n");
    s.write_all(b"4\r\nabcd\r\n0\r\n\r\n").unwrap();
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest);
    let text = String::from_utf8_lossy(&rest);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(!text.contains(" 100 "), "a second 100: {text}");
    let seen = up.last();
    assert_eq!(seen.body, b"abcd");
    assert!(
        seen.headers
            .iter()
            .all(|(k, _)| !k.eq_ignore_ascii_case("expect")),
        "{:?}",
        seen.headers
    );
}
