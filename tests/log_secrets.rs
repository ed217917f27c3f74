//! No token, session cookie, password or secret reaches the log, even at `debug` and even when pingora logs a
//! failed upstream request (hardening finding 4: its default request summary printed the raw
//! target, `?oauth_token=` included).

use crate::support;

use serde_json::{json, Value};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::oauth::*;
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_upstream_requests_log_no_credentials_at_debug() {
    let dir = tempfile::tempdir().unwrap();
    let (port, admin) = (free_port(), free_port());
    // Nothing listens on the upstream's port: every proxied request fails.
    let sections = [
        "[tokens]\nlegacy_locations = [\"oauth_header\", \"query:oauth_token\"]\n".to_string(),
        oauth_sections(""),
        format!(
            "[[upstreams]]\nname = \"down\"\naddrs = [\"127.0.0.1:{}\"]\n",
            free_port()
        ),
        route("/api", "down", "required", ""),
        route("/web", "down", "required", "on_missing = \"sign_in\""),
    ]
    .concat();
    let text = TestGatehouse::config_text(
        port,
        admin,
        &dir.path().join("g.db").display().to_string(),
        &sections,
    )
    .replace("level = \"warn\"", "level = \"debug\"")
    .replace("access_log = false", "access_log = true");
    let config = dir.path().join("gatehouse.toml");
    std::fs::write(&config, text).unwrap();

    let log_path = dir.path().join("gatehouse.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .arg("--config")
        .arg(&config)
        .stdout(Stdio::from(log.try_clone().unwrap()))
        .stderr(Stdio::from(log))
        .spawn()
        .unwrap();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(addr).is_err() {
        assert!(Instant::now() < deadline, "gatehouse did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    let base = format!("http://{addr}");
    // A failed proxy closes the connection: never reuse one.
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();

    let password = "pw-for-the-log-test-8271";
    let r = client
        .post(format!("{base}/sign-up"))
        .json(&json!({"username": "logged", "password": password, "client_id": LEGACY}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let login: Value = client
        .post(format!("{base}/oauth/authorize"))
        .json(&json!({"username": "logged", "password": password, "grant_type": "password", "client_id": LEGACY}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let access = login["access_token"].as_str().unwrap().to_string();
    let refresh = login["refresh_token"].as_str().unwrap().to_string();
    let r = client
        .post(format!("{base}/oauth/token"))
        .basic_auth(SERVICE, Some(SERVICE_SECRET))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let service_token = r.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_string();

    for (path, header) in [
        (format!("/api/x?oauth_token={access}"), None),
        (format!("/api/y?a=1&oauth_token={service_token}&b=2"), None),
        ("/api/z".to_string(), Some(format!("Bearer {access}"))),
        ("/api/w".to_string(), Some(format!("OAuth {service_token}"))),
    ] {
        let mut req = client.get(format!("{base}{path}"));
        if let Some(h) = header {
            req = req.header("Authorization", h);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), 502, "{path}");
    }
    // A browser session's cookie, through the sign-in pages, then to the failing upstream.
    let mut browser = support::browser::Browser::new(addr, &format!("localhost:{port}"));
    browser.sign_in_through("/web/a", "logged", password).await;
    let session = browser
        .jar
        .get("gatehouse-session")
        .cloned()
        .expect("session");
    assert_eq!(browser.visit("/web/b").await.status, 502);
    // A wrong password and a wrong client secret are secrets too.
    let wrong = "wrong-pw-for-the-log-test-1190";
    let r = client
        .post(format!("{base}/oauth/authorize"))
        .json(&json!({"username": "logged", "password": wrong, "grant_type": "password", "client_id": LEGACY}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = client
        .post(format!("{base}/oauth/token"))
        .basic_auth(SERVICE, Some("wrong-secret-for-the-log-test"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(15);
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "gatehouse did not exit");
        std::thread::sleep(Duration::from_millis(50));
    }

    let logs = std::fs::read_to_string(&log_path).unwrap();
    assert!(
        logs.contains("Fail to proxy"),
        "pingora's failure line is the one under test:\n{logs}"
    );
    assert!(
        logs.contains("route: "),
        "our request summary is used:\n{logs}"
    );
    // Written to a file, not a terminal: no colour codes (issue 13, logs).
    assert!(
        !logs.contains('\x1b'),
        "ANSI escape codes in a log file:\n{logs:.400}"
    );
    for secret in [
        access.as_str(),
        refresh.as_str(),
        session.as_str(),
        service_token.as_str(),
        password,
        wrong,
        SERVICE_SECRET,
        "wrong-secret-for-the-log-test",
        "oauth_token",
    ] {
        assert!(
            !logs.contains(secret),
            "`{secret}` reached the log:\n{logs}"
        );
    }
}
