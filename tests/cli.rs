//! Operator commands: `user add|list|delete` and `hash-secret` feed the running server.

use crate::support;

use support::*;

fn run(args: &[&str], config: &std::path::Path, stdin: &str) -> (bool, String) {
    let out = run_cli(args, config, stdin);
    (out.success, out.stdout + &out.stderr)
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

/// Hardening finding 13: a token to revoke never comes from the command line (the process
/// list shows it to every user); stdin and a file do, and the revocation holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_revoke_reads_stdin_or_a_file_never_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("g.db").display().to_string();
    let config = dir.path().join("g.toml");
    std::fs::write(
        &config,
        TestGatehouse::config_text(free_port(), free_port(), &db, ""),
    )
    .unwrap();
    let issue = || {
        let (ok, out) = run(
            &["token", "issue", "--user", "9", "--scopes", "read"],
            &config,
            "",
        );
        assert!(ok, "{out}");
        out.trim().to_string()
    };

    let token = issue();
    let (ok, out) = run(&["token", "revoke", &token], &config, "");
    assert!(!ok, "a token on the command line is refused");
    assert!(out.contains("process list"), "{out}");
    let (ok, out) = run(&["token", "revoke", "-"], &config, &format!("{token}\n"));
    assert!(ok, "{out}");
    let (ok, out) = run(&["token", "revoke", "-"], &config, "no-such-token\n");
    assert!(!ok, "unknown token: {out}");

    let token = issue();
    let file = dir.path().join("token.txt");
    std::fs::write(&file, format!("{token}\n")).unwrap();
    let (ok, out) = run(
        &[
            "token",
            "revoke",
            "--token-file",
            &file.display().to_string(),
        ],
        &config,
        "",
    );
    assert!(ok, "{out}");
    let (ok, out) = run(&["token", "revoke", "-"], &config, "");
    assert!(!ok, "empty stdin: {out}");
    let (ok, _) = run(
        &["token", "revoke", "--token-file", "/nonexistent/token"],
        &config,
        "",
    );
    assert!(!ok);
}
