//! The real binary as an operator runs it: tokens issued on the command line work, logs never
//! contain a token, and SIGTERM lets in-flight requests finish before the process exits.

mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::*;

fn gatehouse() -> Command {
    Command::new(env!("CARGO_BIN_EXE_gatehouse"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_serves_logs_no_secrets_and_drains_on_sigterm() {
    let up = EchoUpstream::start("app").await;
    let dir = tempfile::tempdir().unwrap();
    let (port, admin) = (free_port(), free_port());
    let sections = [
        "[tokens]\nlegacy_locations = [\"oauth_header\", \"query:oauth_token\"]\n".to_string(),
        upstream_section("app", &up, ""),
        route("/echo", "handler:echo", "required", ""),
        route("/", "app", "required", ""),
    ]
    .concat();
    let text = TestGatehouse::config_text(
        port,
        admin,
        &dir.path().join("g.db").display().to_string(),
        &sections,
    )
    .replace("level = \"warn\"", "level = \"debug\"")
    .replace("access_log = false", "access_log = true")
    .replace("shutdown_grace = \"1s\"", "shutdown_grace = \"2s\"");
    let config = dir.path().join("gatehouse.toml");
    std::fs::write(&config, text).unwrap();

    let out = gatehouse()
        .args([
            "token", "issue", "--user", "7", "--name", "ops", "--scopes", "read", "--config",
        ])
        .arg(&config)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert_eq!(token.len(), 43);

    let log_path = dir.path().join("gatehouse.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let mut child = gatehouse()
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

    let client = reqwest::Client::new();
    let base = format!("http://{addr}");
    let r = client
        .get(format!("{base}/echo"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = client
        .get(format!("{base}/x?oauth_token={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(up.last().uri, "/x");
    let r = client
        .get(format!("{base}/x"))
        .header("Authorization", format!("OAuth {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = client
        .get(format!("{base}/x"))
        .bearer_auth("secret-looking-but-wrong-token")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    // A slow request is in flight when SIGTERM arrives: it must complete.
    let slow = tokio::spawn({
        let (client, url, token) = (client.clone(), format!("{base}/slow"), token.clone());
        async move {
            client
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .map(|r| r.status().as_u16())
        }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    assert_eq!(
        slow.await.unwrap().unwrap(),
        200,
        "in-flight request drained"
    );

    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "gatehouse did not exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}");

    let logs = std::fs::read_to_string(&log_path).unwrap();
    assert!(
        logs.contains("gatehouse::access"),
        "access log missing:\n{logs}"
    );
    assert!(!logs.contains(&token), "a token reached the logs:\n{logs}");
    assert!(
        !logs.contains("secret-looking-but-wrong-token"),
        "a token reached the logs"
    );
}
