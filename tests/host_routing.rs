//! Host routes hold whatever spelling of the host a client sends (SECURITY host confusion,
//! hardening finding 1): routing uses exactly the authority the upstream acts on, HTTP/1.1
//! without `Host` is refused (RFC 9112 §3.2), and malformed hosts get 400 without reaching any
//! upstream.

use crate::support;

use support::*;

async fn start() -> (TestGatehouse, std::sync::Arc<EchoUpstream>) {
    let up = EchoUpstream::start("app").await;
    let config = [
        upstream_section("app", &up, ""),
        route(
            "/",
            "app",
            "required",
            "name = \"admin\"\nhost = \"admin.test\"\nscopes = [\"admin\"]",
        ),
        route("/", "app", "required", "name = \"any\""),
    ]
    .concat();
    (TestGatehouse::start(&config), up)
}

fn send(gh: &TestGatehouse, request_line: &str, host: Option<&str>, token: &str) -> RawResponse {
    let host = host.map(|h| format!("Host: {h}\r\n")).unwrap_or_default();
    raw_request(
        gh.addr,
        &format!(
            "{request_line}\r\n{host}Authorization: Bearer {token}\r\nConnection: close\r\n\r\n"
        ),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn absolute_form_without_host_cannot_bypass_a_host_route() {
    let (gh, up) = start().await;
    let read = gh.issue("7", &["read"]).await;

    // The reported bypass: no Host, authority only in the request target.
    let r = send(&gh, "GET http://admin.test/x HTTP/1.1", None, &read);
    assert_eq!(r.status, 400, "{r:?}");
    assert!(r.body.contains("Host"), "{}", r.body);
    let r = send(&gh, "GET /x HTTP/1.1", None, &read);
    assert_eq!(r.status, 400);

    // HTTP/1.0 may omit Host: then the target's authority is what routes.
    let r = send(&gh, "GET http://admin.test/x HTTP/1.0", None, &read);
    assert_eq!(r.status, 403, "{r:?}");
    // With Host, the absolute-form authority must agree (pingora refuses a mismatch).
    let r = send(
        &gh,
        "GET http://admin.test/x HTTP/1.1",
        Some("other.test"),
        &read,
    );
    assert_eq!(r.status, 400);
    let r = send(
        &gh,
        "GET http://admin.test/x HTTP/1.1",
        Some("admin.test"),
        &read,
    );
    assert_eq!(r.status, 403);
    assert_eq!(up.count(), 0, "nothing reached the upstream");

    let r = send(&gh, "GET /x HTTP/1.0", None, &read);
    assert_eq!(r.status, 200, "HTTP/1.0 without Host routes host-less");
    assert_eq!(up.count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_spelling_of_a_host_takes_its_route() {
    let (gh, up) = start().await;
    let read = gh.issue("7", &["read"]).await;
    let admin = gh.issue("8", &["admin"]).await;

    for host in [
        "admin.test",
        "ADMIN.TEST",
        "Admin.Test.",
        "admin.test.:80",
        "admin.test:8080",
        "admin.test:",
    ] {
        let r = send(&gh, "GET /x HTTP/1.1", Some(host), &read);
        assert_eq!(r.status, 403, "{host}: {r:?}");
        let r = send(&gh, "GET /x HTTP/1.1", Some(host), &admin);
        assert_eq!(r.status, 200, "{host}");
        assert_eq!(
            up.last().header("host"),
            Some(host),
            "the Host goes upstream as sent"
        );
    }
    let r = send(&gh, "GET /x HTTP/1.1", Some("other.test"), &read);
    assert_eq!(r.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_hosts_are_refused_before_any_upstream() {
    let (gh, up) = start().await;
    let admin = gh.issue("8", &["admin"]).await;
    for host in [
        "admin.test/x",
        "admin.test..",
        ".admin.test",
        "admin..test",
        "admin%2etest",
        "admin.test:80x",
        "admin.test:99999999",
        "[::1",
        "bücher.example",
        "admin.tést",
        "xn--zz.example",
        "",
    ] {
        let r = send(&gh, "GET /x HTTP/1.1", Some(host), &admin);
        assert_eq!(r.status, 400, "{host:?}: {r:?}");
        let body: serde_json::Value = serde_json::from_str(&r.body)
            .unwrap_or_else(|e| panic!("{host:?}: body is not JSON ({e}): {}", r.body));
        assert_eq!(body["error"], "invalid_request", "{host:?}");
    }
    assert_eq!(up.count(), 0);
}
