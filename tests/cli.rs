//! Operator commands: `user add|list|delete` and `hash-secret` feed the running server.

mod support;

use std::io::Write;
use std::process::{Command, Stdio};
use support::*;

fn run(args: &[&str], config: &std::path::Path, stdin: &str) -> (bool, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args(args)
        .arg("--config")
        .arg(config)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_and_hashed_client_secrets_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("g.db").display().to_string();
    let (port, admin) = (free_port(), free_port());

    let (ok, hash) = run(
        &["hash-secret"],
        std::path::Path::new("/nonexistent"),
        "cli-client-secret-123\n",
    );
    assert!(ok, "{hash}");
    let hash = hash.trim().to_string();
    assert!(
        hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{hash}"
    );

    let sections = format!(
        "[oauth]\n[[clients]]\nid = \"cli-client\"\nsecret_hash = \"{hash}\"\nlegacy = true\ngrant_types = [\"password\", \"client_credentials\"]\n"
    );
    let config = dir.path().join("g.toml");
    std::fs::write(
        &config,
        TestGatehouse::config_text(port, admin, &db, &sections),
    )
    .unwrap();

    let (ok, out) = run(
        &["user", "add", "--username", "Grace"],
        &config,
        "grace-password\n",
    );
    assert!(ok, "{out}");
    let (ok, out) = run(
        &["user", "add", "--username", "GRACE"],
        &config,
        "grace-password\n",
    );
    assert!(!ok && out.contains("taken"), "{out}");
    let (ok, out) = run(&["user", "add", "--username", "short"], &config, "short\n");
    assert!(!ok && out.contains("at least 8"), "{out}");
    let (ok, out) = run(&["user", "list"], &config, "");
    assert!(
        ok && out.contains("1 users") && out.contains("Grace"),
        "{out}"
    );

    let running = start_outside_runtime(gatehouse::Config::load(&config).unwrap());
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let r = client
        .post(format!("{base}/oauth/token"))
        .basic_auth("cli-client", Some("cli-client-secret-123"))
        .form(&[
            ("grant_type", "password"),
            ("username", "grace"),
            ("password", "grace-password"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        200,
        "hashed secret and CLI-created user both work"
    );
    let r = client
        .post(format!("{base}/oauth/token"))
        .basic_auth("cli-client", Some("not-the-secret"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    drop(running);

    let (ok, out) = run(&["user", "delete", "1"], &config, "");
    assert!(ok, "{out}");
    let (ok, _) = run(&["user", "delete", "1"], &config, "");
    assert!(!ok);
}
