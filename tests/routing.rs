//! Routing by host and longest path prefix on the normalized path; normalization refusals.

use crate::support;

use support::*;

async fn two_upstreams() -> (
    TestGatehouse,
    std::sync::Arc<EchoUpstream>,
    std::sync::Arc<EchoUpstream>,
) {
    let a = EchoUpstream::start("a").await;
    let b = EchoUpstream::start("b").await;
    let config = [
        upstream_section("a", &a, ""),
        upstream_section("b", &b, ""),
        route("/", "a", "public", ""),
        route("/admin", "b", "required", ""),
        route("/api/v2", "b", "public", ""),
        route("/pub", "a", "public", ""),
        route(
            "/",
            "b",
            "public",
            "host = \"b.example.com\"\nname = \"b-host\"",
        ),
    ]
    .concat();
    (TestGatehouse::start(&config), a, b)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_by_host_and_longest_prefix() {
    let (gh, a, b) = two_upstreams().await;
    let r = gh.get("/api/v2/items", None).await;
    assert_eq!(r.status(), 200);
    assert_eq!(b.last().uri, "/api/v2/items");
    let r = gh.get("/api/v1/items", None).await;
    assert_eq!(r.status(), 200);
    assert_eq!(a.last().uri, "/api/v1/items");
    // Whole segments only: /api/v2x is not under /api/v2.
    gh.get("/api/v2x", None).await;
    assert_eq!(a.last().uri, "/api/v2x");

    let before_b = b.count();
    let r = gh
        .client
        .get(gh.url("/anything"))
        .header("Host", "B.Example.com:8080")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(b.count(), before_b + 1);
    assert_eq!(b.last().uri, "/anything");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_never_takes_part_in_matching() {
    let (gh, a, _b) = two_upstreams().await;
    // `/admin?/pub` is /admin: it needs a token.
    let r = raw_get(gh.addr, "/admin?/pub", &[]);
    assert_eq!(r.status, 401);
    let r = raw_get(gh.addr, "/pub?x=/admin", &[]);
    assert_eq!(r.status, 200);
    assert_eq!(a.last().uri, "/pub?x=/admin");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn normalized_paths_route_and_are_forwarded_canonical() {
    let (gh, a, b) = two_upstreams().await;
    let cases = [
        ("/pub/../api/v2/x", "/api/v2/x", "b"),
        ("//pub", "/pub", "a"),
        ("/pub//x///y", "/pub/x/y", "a"),
        ("/pub/./x", "/pub/x", "a"),
        ("/%70ub/x", "/pub/x", "a"),
        ("/pub/%7Euser", "/pub/~user", "a"),
        ("/api/v2/a/..", "/api/v2/", "b"),
    ];
    for (raw, canonical, which) in cases {
        let r = raw_get(gh.addr, raw, &[]);
        assert_eq!(r.status, 200, "{raw}: {r:?}");
        let up = if which == "a" { &a } else { &b };
        assert_eq!(up.last().uri, canonical, "{raw}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tricky_paths_never_reach_a_protected_route_unauthenticated() {
    let (gh, _a, b) = two_upstreams().await;
    let refused = [
        "/%2e%2e/",
        "/..",
        "/pub/../../admin",
        "/pub%2fadmin",
        "/pub%2F..%2Fadmin",
        "/pub%252f..%252fadmin",
        "/admin;x=1",
        "/pub;/../admin",
        "/pub%23/../admin",
        "/pub%5c..%5cadmin",
        "/pub%00/admin",
        "/pub%zz",
    ];
    for raw in refused {
        let r = raw_get(gh.addr, raw, &[]);
        assert_eq!(r.status, 400, "{raw}: {r:?}");
        let body: serde_json::Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(body["error"], "invalid_request", "{raw}");
    }
    // Paths that resolve to /admin are treated as /admin: they need a token.
    for raw in [
        "/pub/../admin",
        "/pub/%2e%2e/admin",
        "//admin",
        "/./admin",
        "/pub/.%2e/admin",
    ] {
        let r = raw_get(gh.addr, raw, &[]);
        assert_eq!(r.status, 401, "{raw}: {r:?}");
    }
    assert!(b.seen().iter().all(|s| !s.uri.starts_with("/admin")));
    // A raw backslash is refused by pingora's parser or by us: never routed.
    let r = raw_get(gh.addr, "/pub\\..\\admin", &[]);
    assert_eq!(r.status, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unmatched_path_is_404_json() {
    let up = EchoUpstream::start("a").await;
    let gh = TestGatehouse::start(
        &[
            upstream_section("a", &up, ""),
            route("/only", "a", "public", ""),
        ]
        .concat(),
    );
    let r = gh.get("/other", None).await;
    assert_eq!(r.status(), 404);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"], "not_found");
    assert_eq!(up.count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ambiguous_framing_and_huge_headers_never_reach_upstream() {
    let up = EchoUpstream::start("a").await;
    let gh = TestGatehouse::start(
        &[
            upstream_section("a", &up, ""),
            route("/", "a", "public", ""),
        ]
        .concat(),
    );
    let r = raw_request(
        gh.addr,
        "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n0\r\n\r\n",
    );
    // pingora frames it by Transfer-Encoding and drops the Content-Length (RFC 9112 §6.3):
    // whatever the status, the upstream never sees both.
    if r.status == 200 {
        let seen = up.last();
        assert!(
            seen.header("content-length").is_none() || seen.header("transfer-encoding").is_none(),
            "{seen:?}"
        );
    } else {
        assert_eq!(r.status, 400);
    }
    let before = up.count();
    let r = raw_request(gh.addr, "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nContent-Length: 5\r\nConnection: close\r\n\r\nabcd");
    assert_eq!(r.status, 400);
    let big = format!(
        "GET /x HTTP/1.1\r\nHost: a\r\nX-Big: {}\r\nConnection: close\r\n\r\n",
        "a".repeat(64 * 1024)
    );
    let r = raw_request(gh.addr, &big);
    assert_eq!(r.status, 431);
    assert_eq!(up.count(), before);
    // A normal request still goes through.
    assert_eq!(raw_get(gh.addr, "/x", &[]).status, 200);
}

/// SECURITY F3, hardening finding 14: both lengths at once is an error (RFC 9112 §6.3), not a
/// request to reinterpret: 400, nothing forwarded, and the connection closed so that whatever
/// the client meant as body is never read as the next request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn content_length_beside_transfer_encoding_is_refused_and_closed() {
    use std::io::{Read, Write};
    let up = EchoUpstream::start("a").await;
    let gh = TestGatehouse::start(
        &[
            upstream_section("a", &up, ""),
            route("/", "a", "public", ""),
        ]
        .concat(),
    );
    for (te, cl) in [
        ("Transfer-Encoding: chunked", "Content-Length: 4"),
        ("transfer-encoding: chunked", "content-LENGTH: 0"),
        ("Transfer-Encoding: chunked", "Content-Length: 99"),
    ] {
        // No `Connection: close`: the server must close by itself.
        let mut s = std::net::TcpStream::connect(gh.addr).unwrap();
        s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        let smuggled = "GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n";
        write!(
            s,
            "POST /x HTTP/1.1\r\nHost: a\r\n{te}\r\n{cl}\r\n\r\n0\r\n\r\n{smuggled}"
        )
        .unwrap();
        let mut buf = Vec::new();
        let read = s.read_to_end(&mut buf);
        assert!(read.is_ok(), "{te} + {cl}: connection left open ({read:?})");
        let text = String::from_utf8_lossy(&buf);
        assert!(text.starts_with("HTTP/1.1 400"), "{te} + {cl}: {text}");
        assert_eq!(
            text.matches("HTTP/1.1").count(),
            1,
            "one response only: {text}"
        );
        assert!(text.contains("Transfer-Encoding"), "{text}");
    }
    assert_eq!(up.count(), 0);
    // Chunked alone is fine.
    let r = raw_request(
        gh.addr,
        "POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n4\r\nabcd\r\n0\r\n\r\n",
    );
    assert_eq!(r.status, 200);
    assert_eq!(up.count(), 1);
}
