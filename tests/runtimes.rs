//! The worker runtimes: `server.threads = 1` (the default) runs pingora's no-steal runtime, more
//! threads the work-stealing one. Both must start, serve and stop, and a process that starts
//! servers one after another (an embedding, this suite) must get working listeners each time
//! (vendor/pingora-runtime/PATCHES.md).

use crate::support;

use std::time::Duration;
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn config(up: &EchoUpstream) -> String {
    [
        upstream_section("app", up, ""),
        route("/app", "app", "required", "name = \"app\""),
        route("/open", "handler:echo", "public", "name = \"open\""),
    ]
    .concat()
}

/// Stops `gh` off the test's runtime and fails, naming the server, when that takes longer
/// than a fast stop should (a worker that never sees its stop message hangs here).
async fn stop_within(gh: TestGatehouse, which: &str) {
    let stop = tokio::task::spawn_blocking(move || drop(gh));
    match tokio::time::timeout(Duration::from_secs(10), stop).await {
        Ok(done) => done.expect("stop thread"),
        Err(_) => panic!("{which}: stop did not return within 10 s"),
    }
}

/// One server's worth of traffic: a proxied authenticated request, a built-in public one and
/// the admin listener, each on fresh connections.
async fn serves(gh: &TestGatehouse, which: &str) {
    let token = gh.issue("u", &[]).await;
    let r = gh.get("/app/x", Some(&token)).await;
    assert_eq!(r.status(), 200, "{which}: proxied request");
    let r = gh.get("/open", None).await;
    assert_eq!(r.status(), 200, "{which}: public built-in route");
    let r = gh
        .client
        .get(gh.admin_url("/healthz"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{which}: admin listener: {e}"));
    assert_eq!(r.status(), 200, "{which}: /healthz");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_worker_servers_started_one_after_another_all_serve_and_stop() {
    let up = EchoUpstream::start("app").await;
    // Each stop ends the no-steal workers; the next server's workers are new threads, which
    // may be handed the ended ones' thread-local slots (pingora #981).
    for round in 1..=8 {
        let which = format!("server {round} (threads = 1)");
        let gh = TestGatehouse::start(&config(&up));
        serves(&gh, &which).await;
        stop_within(gh, &which).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_worker_server_stops_with_connections_open() {
    let up = EchoUpstream::start("app").await;
    let gh = TestGatehouse::start(&config(&up));
    serves(&gh, "threads = 1").await;
    // Kept-alive client connections, and pooled upstream ones, are open at the stop.
    let token = gh.issue("u", &[]).await;
    let mut open = Vec::new();
    for i in 0..8 {
        let mut s = tokio::net::TcpStream::connect(gh.addr)
            .await
            .expect("connect");
        let request = format!(
            "GET /app/{i} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}\r\n\r\n"
        );
        s.write_all(request.as_bytes()).await.expect("write");
        let mut head = vec![0u8; 12];
        s.read_exact(&mut head).await.expect("response");
        assert_eq!(&head, b"HTTP/1.1 200", "kept-alive request {i}");
        open.push(s);
    }
    stop_within(gh, "threads = 1 with open connections").await;
    drop(open);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_workers_serve_concurrently_and_stop() {
    let up = EchoUpstream::start("app").await;
    let gh = TestGatehouse::start_with_server("threads = 2", &config(&up));
    serves(&gh, "threads = 2").await;
    let token = gh.issue("u", &[]).await;
    let mut requests = tokio::task::JoinSet::new();
    for i in 0..32 {
        let client = gh.client.clone();
        let url = gh.url(&format!("/app/{i}"));
        let token = token.clone();
        requests.spawn(async move { client.get(url).bearer_auth(token).send().await });
    }
    while let Some(r) = requests.join_next().await {
        assert_eq!(r.expect("task").expect("request").status(), 200);
    }
    stop_within(gh, "threads = 2").await;
}
