//! Upstream faults over real sockets: an upstream that resets before answering, one that
//! closes mid-head, one that resets mid-body, one that refuses connections and one slower
//! than the configured timeout. Each gets the documented 502/504 JSON (or, once the head went
//! out, a connection closed short of the declared length), and while the faulty upstream
//! hangs, a route on a healthy upstream keeps answering.

use crate::support;

use std::net::SocketAddr;
use std::sync::Arc;
use support::faulty_upstream::{FaultyUpstream, Step};
use support::*;
use tokio::task::JoinHandle;

const UNAVAILABLE: &str = "the upstream service is unavailable";
const TOO_SLOW: &str = "the upstream service did not answer in time";

struct World {
    gh: TestGatehouse,
    healthy: Arc<EchoUpstream>,
}

/// `/faulty` goes to `faulty_addr`, everything else to a healthy echo upstream.
async fn world(faulty_addr: SocketAddr, faulty_extra: &str) -> World {
    let healthy = EchoUpstream::start("healthy").await;
    let gh = TestGatehouse::start(
        &[
            upstream_at("faulty", faulty_addr, faulty_extra),
            upstream_section("healthy", &healthy, ""),
            route("/faulty", "faulty", "public", ""),
            route("/", "healthy", "public", ""),
        ]
        .concat(),
    );
    World { gh, healthy }
}

impl World {
    fn send_faulty(&self) -> JoinHandle<reqwest::Result<reqwest::Response>> {
        let request = self.gh.client.get(self.gh.url("/faulty/x"));
        tokio::spawn(request.send())
    }

    /// A request on the healthy route reaches its upstream and comes back 200.
    async fn healthy_answers(&self) {
        let before = self.healthy.count();
        let r = self.gh.get("/ok", None).await;
        assert_eq!(r.status(), 200);
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["upstream"], "healthy");
        assert_eq!(self.healthy.count(), before + 1);
    }

    async fn faulty_errors(&self) -> f64 {
        self.gh
            .metric("gatehouse_upstream_errors_total{upstream=\"faulty\"}")
            .await
    }
}

/// The proxy's own error: exact status, JSON `{error, error_description}`, a request id.
async fn assert_gateway_error(r: reqwest::Response, status: u16, code: &str, description: &str) {
    assert_eq!(r.status(), status);
    assert_eq!(
        r.headers()["content-type"],
        "application/json; charset=utf-8"
    );
    // The connection is not reused after a proxy failure: the client must be told, or its
    // next request goes into a socket being closed.
    assert_eq!(r.headers()["connection"], "close");
    assert!(r.headers().get("x-request-id").is_some());
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(
        body,
        serde_json::json!({ "error": code, "error_description": description })
    );
}

/// Runs one held fault: the request reaches the faulty upstream and hangs there; meanwhile
/// the healthy route answers; then the fault is let go. Returns the faulty request's response.
async fn while_faulty_hangs(w: &World, faulty: &FaultyUpstream) -> reqwest::Response {
    let pending = w.send_faulty();
    faulty.wait_requests(1).await;
    w.healthy_answers().await;
    assert!(!pending.is_finished(), "the faulty request was held");
    faulty.open(0);
    pending.await.unwrap().expect("a response head")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_before_any_response_byte_gives_502() {
    let faulty = FaultyUpstream::start(vec![Step::Hold(0), Step::Reset]).await;
    let w = world(faulty.addr, "").await;
    let r = while_faulty_hangs(&w, &faulty).await;
    assert_gateway_error(r, 502, "bad_gateway", UNAVAILABLE).await;
    assert!(w.faulty_errors().await >= 1.0);
    w.healthy_answers().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partial_response_head_then_close_gives_502() {
    let faulty = FaultyUpstream::start(vec![
        Step::Hold(0),
        Step::Write(b"HTTP/1.1 200 OK\r\nContent-Type: text/pla"),
        Step::Close,
    ])
    .await;
    let w = world(faulty.addr, "").await;
    let r = while_faulty_hangs(&w, &faulty).await;
    assert_gateway_error(r, 502, "bad_gateway", UNAVAILABLE).await;
    w.healthy_answers().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_mid_body_closes_the_client_connection_short_of_the_length() {
    // The head and 40 of 100 declared bytes, then a reset. Data that arrived before a RST is
    // still read first, so Gatehouse always has the head.
    let faulty = FaultyUpstream::start(vec![
        Step::Hold(0),
        Step::Write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\n\
              0123456789012345678901234567890123456789",
        ),
        Step::Reset,
    ])
    .await;
    let w = world(faulty.addr, "").await;
    let r = while_faulty_hangs(&w, &faulty).await;
    assert_eq!(r.status(), 200, "the upstream's head was forwarded");
    assert_eq!(r.headers()["content-length"], "100");
    // The client must see the body cut short, never a complete 40-byte answer.
    let body = r.bytes().await;
    assert!(
        body.is_err(),
        "a truncated body was delivered as complete: {body:?}"
    );
    assert!(w.faulty_errors().await >= 1.0);
    w.healthy_answers().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_connection_gives_502_and_the_healthy_route_answers_alongside() {
    let refusing: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let w = world(refusing, "connect_timeout = \"2s\"").await;
    let (faulty, ()) = tokio::join!(w.send_faulty(), w.healthy_answers());
    let r = faulty.unwrap().expect("a response");
    assert_gateway_error(r, 502, "bad_gateway", UNAVAILABLE).await;
    assert!(w.faulty_errors().await >= 1.0);
    w.healthy_answers().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_slower_than_the_read_timeout_gives_504() {
    // It would answer, but only once the test opens the gate, after the timeout fired.
    let faulty = FaultyUpstream::start(vec![
        Step::Hold(0),
        Step::Write(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nlate"),
        Step::Close,
    ])
    .await;
    let w = world(faulty.addr, "read_timeout = \"1s\"").await;
    let pending = w.send_faulty();
    faulty.wait_requests(1).await;
    w.healthy_answers().await;
    let r = pending.await.unwrap().expect("a response");
    assert_gateway_error(r, 504, "gateway_timeout", TOO_SLOW).await;
    assert!(w.faulty_errors().await >= 1.0);

    // Once the upstream answers in time again, so does the route.
    faulty.open(0);
    let r = w.send_faulty().await.unwrap().expect("a response");
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "late");
    w.healthy_answers().await;
}
