//! Slow and idle clients cannot hold connections forever, and the number of open connections
//! is capped (SECURITY F4, M6; hardening finding 6). The bounds below are liveness limits for
//! a test that would otherwise hang, not timing assertions.

use crate::support;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};
use support::*;

fn start(up: &EchoUpstream, http: &str, max_connections: Option<usize>) -> TestGatehouse {
    let sections = [
        format!("[http]\n{http}\n"),
        upstream_section("app", up, ""),
        route("/", "app", "public", ""),
    ]
    .concat();
    let Some(max) = max_connections else {
        return TestGatehouse::start(&sections);
    };
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("g.db");
    // max_connections lives in [server], which the harness owns.
    let text = TestGatehouse::config_text(
        free_port(),
        free_port(),
        &db.display().to_string(),
        &sections,
    )
    .replace(
        "shutdown_grace = \"1s\"",
        &format!("shutdown_grace = \"1s\"\nmax_connections = {max}"),
    );
    let config = gatehouse::Config::from_toml(&text, "test").unwrap();
    let (addr, admin) = (
        config.server.listen.expect("plain listener"),
        config.server.admin_listen,
    );
    TestGatehouse {
        running: start_outside_runtime(config),
        addr,
        admin,
        dir,
        client: reqwest::Client::new(),
    }
}

/// True once the server has closed `s` (EOF or reset), waiting at most `within`.
fn closed_within(s: &mut TcpStream, within: Duration) -> bool {
    s.set_read_timeout(Some(within)).unwrap();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue, // a response (e.g. 408) before the close is fine
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return false
            }
            Err(_) => return true,
        }
    }
}

fn read_response(s: &mut TcpStream) -> String {
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while !String::from_utf8_lossy(&buf).contains("\r\n\r\n") {
        let n = s.read(&mut chunk).unwrap();
        assert!(
            n > 0,
            "closed before a response: {:?}",
            String::from_utf8_lossy(&buf)
        );
        buf.extend_from_slice(&chunk[..n]);
    }
    String::from_utf8_lossy(&buf).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_head_trickling_in_is_cut_off_at_the_deadline() {
    let up = EchoUpstream::start("app").await;
    let gh = start(&up, "header_timeout = \"1s\"", None);
    let mut s = TcpStream::connect(gh.addr).unwrap();
    s.write_all(b"GET /x HTTP/1.1\r\nHost: a\r\n").unwrap();
    // One header byte every 200 ms: every single read is quick, the head never ends.
    let start = Instant::now();
    let mut cut = false;
    while start.elapsed() < Duration::from_secs(8) {
        if s.write_all(b"X").is_err() {
            cut = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
        s.set_nonblocking(true).unwrap();
        let mut b = [0u8; 1];
        let peeked = s.peek(&mut b);
        s.set_nonblocking(false).unwrap();
        if matches!(peeked, Ok(0)) || matches!(&peeked, Err(e) if e.kind() != ErrorKind::WouldBlock)
        {
            cut = true;
            break;
        }
    }
    assert!(cut, "a head still arriving after 8 s was never cut off");
    assert_eq!(up.count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_close_and_busy_ones_are_reused() {
    let up = EchoUpstream::start("app").await;
    let gh = start(
        &up,
        "keepalive_timeout = \"1s\"\nheader_timeout = \"1s\"",
        None,
    );

    // Opened and never used.
    let mut idle = TcpStream::connect(gh.addr).unwrap();
    assert!(closed_within(&mut idle, Duration::from_secs(8)));

    // Two requests on one connection, each within the idle timeout, then silence.
    let mut s = TcpStream::connect(gh.addr).unwrap();
    for path in ["/a", "/b"] {
        write!(s, "GET {path} HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
        let head = read_response(&mut s);
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    }
    assert_eq!(up.count(), 2);
    assert!(closed_within(&mut s, Duration::from_secs(8)));
}

/// The idle timer is armed once and moved only when a deadline comes closer: a connection
/// that keeps sending requests past its first idle deadline is woken there, finds the deadline
/// moved on, and stays open; once it falls silent it is still closed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_connection_outlives_its_first_idle_deadline() {
    let up = EchoUpstream::start("app").await;
    let gh = start(
        &up,
        "keepalive_timeout = \"1s\"\nheader_timeout = \"1s\"",
        None,
    );
    let mut s = TcpStream::connect(gh.addr).unwrap();
    // Eight requests 300 ms apart: 2.4 s in all, each gap well inside the idle timeout.
    for i in 0..8 {
        write!(s, "GET /r{i} HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
        let head = read_response(&mut s);
        assert!(head.starts_with("HTTP/1.1 200"), "request {i}: {head}");
        std::thread::sleep(Duration::from_millis(300));
    }
    assert_eq!(up.count(), 8);
    assert!(closed_within(&mut s, Duration::from_secs(8)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_body_is_not_a_slow_head() {
    let up = EchoUpstream::start("app").await;
    let gh = start(&up, "header_timeout = \"1s\"", None);
    let mut s = TcpStream::connect(gh.addr).unwrap();
    s.write_all(b"POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabcde")
        .unwrap();
    // The head is complete; the body pauses longer than the head deadline.
    std::thread::sleep(Duration::from_millis(1800));
    s.write_all(b"fghij").unwrap();
    let head = read_response(&mut s);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert_eq!(up.count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_past_the_cap_are_closed_and_counted() {
    let up = EchoUpstream::start("app").await;
    let gh = start(&up, "keepalive_timeout = \"30s\"", Some(3));
    // Three connections, each proven served (a request answered on it, kept alive). The
    // harness's own start-up probe may hold a place for a moment: retry until it is gone.
    let mut held: Vec<TcpStream> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while held.len() < 3 {
        assert!(
            Instant::now() < deadline,
            "could not open three connections"
        );
        let mut s = TcpStream::connect(gh.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let _ = s.write_all(b"GET /warm HTTP/1.1\r\nHost: a\r\n\r\n");
        let mut buf = [0u8; 1024];
        match s.read(&mut buf) {
            Ok(n) if n > 0 && buf.starts_with(b"HTTP/1.1 200") => held.push(s),
            _ => std::thread::sleep(Duration::from_millis(100)),
        }
    }
    let refused = gh.metric("gatehouse_connections_refused_total").await;
    let seen = up.count();
    let mut fourth = TcpStream::connect(gh.addr).unwrap();
    let _ = fourth.write_all(b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n");
    assert!(closed_within(&mut fourth, Duration::from_secs(5)));
    assert_eq!(up.count(), seen, "the refused request reached nobody");
    assert_eq!(
        gh.metric("gatehouse_connections_refused_total").await,
        refused + 1.0
    );

    // The held ones still work, and a freed place is usable again.
    write!(held[0], "GET /a HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
    assert!(read_response(&mut held[0]).starts_with("HTTP/1.1 200"));
    drop(held.pop());
    std::thread::sleep(Duration::from_millis(300));
    let mut again = TcpStream::connect(gh.addr).unwrap();
    write!(again, "GET /b HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
    assert!(read_response(&mut again).starts_with("HTTP/1.1 200"));
}

/// A raw upstream on its own thread: answers every connection with `respond(stream)`.
fn raw_upstream(respond: fn(TcpStream)) -> std::net::SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for s in listener.incoming().flatten() {
            std::thread::spawn(move || respond(s));
        }
    });
    addr
}

fn start_raw(upstream: std::net::SocketAddr) -> TestGatehouse {
    TestGatehouse::start(&format!(
        "[http]\nheader_timeout = \"1s\"\nkeepalive_timeout = \"1s\"\n\
         [[upstreams]]\nname = \"raw\"\naddrs = [\"{upstream}\"]\n\
         [[routes]]\npath_prefix = \"/\"\nupstream = \"raw\"\nauth = \"public\"\n"
    ))
}

/// The deadlines are for HTTP request heads only: after a 101 the connection is a tunnel
/// (WebSocket), quiet for longer than both timeouts and carrying no blank lines.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upgraded_connection_is_not_held_to_http_deadlines() {
    let up = raw_upstream(|mut s| {
        read_head(&mut s);
        let _ = s.write_all(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
        );
        let mut buf = [0u8; 64];
        while let Ok(n) = s.read(&mut buf) {
            if n == 0 || s.write_all(&buf[..n]).is_err() {
                break;
            }
        }
    });
    let gh = start_raw(up);
    let mut c = TcpStream::connect(gh.addr).unwrap();
    c.write_all(
        b"GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
    )
    .unwrap();
    let head = read_head(&mut c);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    for frame in [&b"first frame"[..], b"second"] {
        // Quiet for longer than both the idle timeout and the head deadline.
        std::thread::sleep(Duration::from_millis(2500));
        c.write_all(frame).unwrap();
        let mut got = vec![0u8; frame.len()];
        c.read_exact(&mut got).unwrap();
        assert_eq!(got, frame);
    }
}
