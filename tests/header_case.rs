//! `http.preserve_header_case`: by default HTTP/1 header names reach the upstream, and the
//! upstream's reach the client, in lowercase (as HAProxy and Envoy send them); with the key on,
//! as they were spelled. Read off raw sockets on both sides, since every HTTP library folds case.

use crate::support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// Answers every request with the same response and hands its head, as received, to the test.
async fn raw_upstream() -> (SocketAddr, mpsc::UnboundedReceiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = tx.send(String::from_utf8_lossy(&head).into_owned());
                let resp = b"HTTP/1.1 200 Fine By Me\r\nX-Upstream-Thing: up\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok";
                let _ = s.write_all(resp).await;
            });
        }
    });
    (addr, rx)
}

/// One request through Gatehouse on a raw socket: (what the upstream got, what the client got).
async fn through(preserve: Option<bool>) -> (String, String) {
    let (up, mut heads) = raw_upstream().await;
    let http = preserve.map_or(String::new(), |p| {
        format!("[http]\npreserve_header_case = {p}\n")
    });
    let gh = TestGatehouse::start(
        &[
            http,
            upstream_at("app", up, ""),
            route("/req", "app", "required", ""),
        ]
        .concat(),
    );
    let token = gh.issue("42", &["read"]).await;
    let addr = gh.addr;
    let client = tokio::task::spawn_blocking(move || {
        let mut s = TcpStream::connect(addr).expect("connect");
        let req = format!(
            "GET /req/x?q=1 HTTP/1.1\r\nHost: localhost\r\nX-Custom-Thing: a\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
        );
        s.write_all(req.as_bytes()).expect("write");
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out
    })
    .await
    .expect("client");
    let upstream = heads.recv().await.expect("the upstream got no request");
    (upstream, client)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_go_lowercase_by_default() {
    let (upstream, client) = through(None).await;
    assert!(
        upstream.starts_with("GET /req/x?q=1 HTTP/1.1\r\n"),
        "{upstream}"
    );
    assert!(upstream.contains("\r\nx-custom-thing: a\r\n"), "{upstream}");
    assert!(upstream.contains("\r\nx-auth-user-id: "), "{upstream}");
    assert!(upstream.contains("\r\nHost: localhost\r\n"), "{upstream}");
    assert!(
        !upstream.to_ascii_lowercase().contains("authorization"),
        "{upstream}"
    );
    assert!(
        client.starts_with("HTTP/1.1 200 Fine By Me\r\n"),
        "{client}"
    );
    assert!(client.contains("\r\nx-upstream-thing: up\r\n"), "{client}");
    assert!(client.contains("\r\nx-request-id: "), "{client}");
    assert!(client.ends_with("\r\n\r\nok"), "{client}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_keep_their_case_when_asked() {
    let (upstream, client) = through(Some(true)).await;
    assert!(upstream.contains("\r\nX-Custom-Thing: a\r\n"), "{upstream}");
    // Gatehouse's own headers go in lowercase either way.
    assert!(upstream.contains("\r\nx-auth-user-id: "), "{upstream}");
    assert!(
        client.starts_with("HTTP/1.1 200 Fine By Me\r\n"),
        "{client}"
    );
    assert!(client.contains("\r\nX-Upstream-Thing: up\r\n"), "{client}");
    assert!(client.ends_with("\r\n\r\nok"), "{client}");
}
