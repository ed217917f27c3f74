//! In-process test harness: starts Gatehouse on free ports with a temp SQLite store and a
//! config written by the test, plus helpers to talk to it over real HTTP (reqwest, and a raw
//! socket for requests a well-behaved client would never send).
#![allow(dead_code)]

pub mod browser;
pub mod chromium;
pub mod fake_facebook;
pub mod faulty_upstream;
pub mod ingress;
pub mod jws;
pub mod oauth;
pub mod postgres;
pub mod tcp_proxy;
pub mod upstream;

use gatehouse::auth::NewToken;
use gatehouse::{Config, Gatehouse, RunningGatehouse};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;
use tempfile::TempDir;

pub use upstream::EchoUpstream;

/// A port nothing listens on now and that this test process has not handed out before: the
/// kernel may give a just-released port back at once, so two calls in one test (a listener
/// and an admin listener) could otherwise get the same one.
/// No test request takes this long: one that does is stuck (a peer that neither answers nor
/// closes), and fails naming its step instead of hanging the whole suite.
pub const REQUEST_DEADLINE: Duration = Duration::from_secs(120);

pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("free port");
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

pub struct TestGatehouse {
    pub running: RunningGatehouse,
    pub addr: SocketAddr,
    pub admin: SocketAddr,
    pub dir: TempDir,
    pub client: reqwest::Client,
}

impl TestGatehouse {
    /// `sections` is every config section except `[server]`, `[store]` and `[log]`, which the
    /// harness owns (free ports, a temp database).
    pub fn start(sections: &str) -> TestGatehouse {
        Self::start_with_server("", sections)
    }

    /// Like `start`, with extra `[server]` lines (`trusted_proxies = [...]`).
    pub fn start_with_server(server_extra: &str, sections: &str) -> TestGatehouse {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("gatehouse.db");
        let store = format!("[store]\nurl = \"sqlite://{}\"\n", db.display());
        Self::start_text(
            dir,
            Self::config_text_with_server(server_extra, &store, sections),
        )
    }

    /// Like `start`, with the `[store]` section given (PostgreSQL tests).
    pub fn start_with_store(dir: TempDir, store: &str, sections: &str) -> TestGatehouse {
        Self::start_text(dir, Self::config_text_with_server("", store, sections))
    }

    fn config_text_with_server(server_extra: &str, store: &str, sections: &str) -> String {
        Self::config_text_with_store(free_port(), free_port(), store, sections).replace(
            "shutdown_grace = \"1s\"\n",
            &format!("shutdown_grace = \"1s\"\n{server_extra}\n"),
        )
    }

    fn start_text(dir: TempDir, text: String) -> TestGatehouse {
        let config =
            Config::from_toml(&text, "test").unwrap_or_else(|e| panic!("{e}\n---\n{text}"));
        let addr = config.server.listen.expect("plain listener");
        let admin = config.server.admin_listen;
        let running = start_outside_runtime(config);
        TestGatehouse {
            running,
            addr,
            admin,
            dir,
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(REQUEST_DEADLINE)
                .build()
                .expect("client"),
        }
    }

    /// Like `start`, on a port the test chose (to know `public_url`), with extra `[server]`
    /// keys.
    pub fn start_at(port: u16, server_extra: &str, sections: &str) -> TestGatehouse {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("gatehouse.db");
        let store = format!("[store]\nurl = \"sqlite://{}\"\n", db.display());
        let text = Self::config_text_full(port, free_port(), &store, server_extra, sections);
        let config =
            Config::from_toml(&text, "test").unwrap_or_else(|e| panic!("{e}\n---\n{text}"));
        let addr = config.server.listen.expect("plain listener");
        let admin = config.server.admin_listen;
        let running = start_outside_runtime(config);
        TestGatehouse {
            running,
            addr,
            admin,
            dir,
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(REQUEST_DEADLINE)
                .build()
                .expect("client"),
        }
    }

    pub fn config_text(port: u16, admin_port: u16, db: &str, sections: &str) -> String {
        Self::config_text_with_store(
            port,
            admin_port,
            &format!("[store]\nurl = \"sqlite://{db}\"\n"),
            sections,
        )
    }

    pub fn config_text_with_store(
        port: u16,
        admin_port: u16,
        store: &str,
        sections: &str,
    ) -> String {
        Self::config_text_full(port, admin_port, store, "", sections)
    }

    /// `server_extra`: more `[server]` keys (`trusted_proxies = […]`).
    pub fn config_text_full(
        port: u16,
        admin_port: u16,
        store: &str,
        server_extra: &str,
        sections: &str,
    ) -> String {
        format!(
            r#"
[server]
listen = "127.0.0.1:{port}"
public_url = "http://localhost:{port}"
admin_listen = "127.0.0.1:{admin_port}"
shutdown_grace = "1s"
{server_extra}

[log]
level = "warn"
access_log = false

{store}
{sections}
"#
        )
    }

    pub fn url(&self, path_and_query: &str) -> String {
        format!("http://{}{}", self.addr, path_and_query)
    }

    pub fn admin_url(&self, path: &str) -> String {
        format!("http://{}{}", self.admin, path)
    }

    pub async fn issue(&self, user: &str, scopes: &[&str]) -> String {
        self.issue_with(
            NewToken {
                user_id: Some(user.into()),
                user_name: Some(format!("name-{user}")),
                client_id: Some("test-client".into()),
                scopes: scopes.iter().map(|s| s.to_string()).collect(),
                admin: false,
                groups: vec![],
            },
            Duration::from_secs(3600),
        )
        .await
    }

    pub async fn issue_with(&self, new: NewToken, ttl: Duration) -> String {
        self.running
            .state()
            .tokens
            .issue(new, ttl)
            .await
            .expect("issue token")
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> reqwest::Response {
        let mut req = self.client.get(self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.expect("request")
    }

    /// The Prometheus text of the admin listener.
    pub async fn metrics_text(&self) -> String {
        self.client
            .get(self.admin_url("/metrics"))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("metrics body")
    }

    /// Value of one series, e.g. `gatehouse_token_cache_total{result="hit"}`; 0 when absent.
    pub async fn metric(&self, series: &str) -> f64 {
        metric_value(&self.metrics_text().await, series)
    }
}

/// `gatehouse token issue --config F ARGS…` run as an operator would; the token it prints.
pub fn cli_issue(config: &std::path::Path, args: &[&str]) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args(["token", "issue"])
        .args(args)
        .arg("--config")
        .arg(config)
        .output()
        .expect("run gatehouse token issue");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("utf-8 token")
        .trim()
        .to_string()
}

/// What one run of the real binary left: its exit, and its two outputs.
pub struct CliRun {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `gatehouse ARGS --config CONFIG` with `stdin` piped in (passwords are read from it).
pub fn run_cli(args: &[&str], config: &std::path::Path, stdin: &str) -> CliRun {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args(args)
        .arg("--config")
        .arg(config)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run gatehouse");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    let out = child.wait_with_output().expect("gatehouse output");
    CliRun {
        success: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Reads one HTTP head (through the empty line) byte by byte, so nothing after it is taken.
pub fn read_head(s: &mut std::net::TcpStream) -> String {
    use std::io::Read;
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if s.read(&mut b).unwrap_or(0) == 0 {
            break;
        }
        head.push(b[0]);
    }
    String::from_utf8_lossy(&head).into_owned()
}

/// Gatehouse opens its store on a runtime of its own, which cannot start from inside the
/// test's tokio runtime: build and spawn it from a plain thread.
pub fn start_outside_runtime(config: Config) -> RunningGatehouse {
    std::thread::spawn(move || Gatehouse::build(config).and_then(Gatehouse::spawn))
        .join()
        .expect("start thread")
        .unwrap_or_else(|e| panic!("start gatehouse: {e}"))
}

/// Polls `check` until it returns true or `within` passes; returns the last result.
pub async fn eventually<F, Fut>(within: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if check().await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

impl TestGatehouse {
    pub async fn ready_status(&self) -> u16 {
        self.client
            .get(self.admin_url("/readyz"))
            .send()
            .await
            .map(|r| r.status().as_u16())
            .unwrap_or(0)
    }
}

pub fn metric_value(text: &str, series: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| {
            let (name, value) = l.rsplit_once(' ')?;
            (name == series).then(|| value.parse().ok()).flatten()
        })
        .unwrap_or(0.0)
}

pub fn upstream_section(name: &str, up: &EchoUpstream, extra: &str) -> String {
    upstream_at(name, up.addr, extra)
}

/// An `[[upstreams]]` group of one address, whatever listens there (or nothing).
pub fn upstream_at(name: &str, addr: SocketAddr, extra: &str) -> String {
    format!("[[upstreams]]\nname = \"{name}\"\naddrs = [\"{addr}\"]\n{extra}\n")
}

pub fn route(prefix: &str, target: &str, auth: &str, extra: &str) -> String {
    let target = match target.strip_prefix("handler:") {
        Some(handler) => format!("handler = \"{handler}\""),
        None => format!("upstream = \"{target}\""),
    };
    format!("[[routes]]\npath_prefix = \"{prefix}\"\n{target}\nauth = \"{auth}\"\n{extra}\n")
}

/// A response read off a raw socket.
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl RawResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Sends `request` bytes as they are (no client-side normalization) and reads one response.
/// The request should carry `Connection: close`.
pub fn raw_request(addr: SocketAddr, request: &str) -> RawResponse {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).ok();
    s.write_all(request.as_bytes()).expect("write");
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    RawResponse {
        status,
        headers,
        body: body.to_string(),
    }
}

/// `GET path` with extra header lines, over a raw socket.
pub fn raw_get(addr: SocketAddr, path: &str, extra_headers: &[&str]) -> RawResponse {
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
    for h in extra_headers {
        req.push_str(h);
        req.push_str("\r\n");
    }
    req.push_str("\r\n");
    raw_request(addr, &req)
}
