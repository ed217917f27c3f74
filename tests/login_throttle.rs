//! The per-address login throttle counts the real client (hardening finding 2): behind a trusted
//! ingress every user arrives from the ingress's address, so one guesser must not lock out the
//! rest; the client address comes from the ingress's `X-Forwarded-For`, and only then.

use crate::support;

use serde_json::json;
use support::oauth::*;
use support::*;

fn start(trusted: bool) -> TestGatehouse {
    start_with(trusted, "")
}

fn start_with(trusted: bool, oauth_extra: &str) -> TestGatehouse {
    let sections = oauth_sections(&format!(
        "[oauth.lockout]\nmax_failures_per_address = 8\n{oauth_extra}"
    ));
    if !trusted {
        return TestGatehouse::start(&sections);
    }
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("g.db");
    // trusted_proxies lives in [server], which the harness owns.
    let text = TestGatehouse::config_text(
        free_port(),
        free_port(),
        &db.display().to_string(),
        &sections,
    )
    .replace(
        "shutdown_grace = \"1s\"",
        "shutdown_grace = \"1s\"\ntrusted_proxies = [\"127.0.0.0/8\"]",
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

/// Seed 001's login from `xff`; returns (status, locked out?).
async fn login(gh: &TestGatehouse, xff: &str, user: &str, password: &str) -> (u16, bool) {
    let r = gh
        .client
        .post(gh.url("/oauth/authorize"))
        .header("X-Forwarded-For", xff)
        .json(&json!({"username": user, "password": password, "grant_type": "password", "client_id": LEGACY}))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.headers().contains_key("retry-after"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_guesser_behind_the_ingress_locks_out_only_itself() {
    let gh = start(true);
    gh.sign_up("alice", "alice's password").await;
    gh.sign_up("bob", "bob's password").await;

    // The guesser sprays wrong passwords over many accounts (one each, so no account locks).
    // What it writes left of the ingress's entry changes every time and must not help it.
    for i in 0..8 {
        let xff = format!("198.51.100.{i}, 203.0.113.66");
        let (status, locked) = login(&gh, &xff, &format!("nobody{i}"), "guess").await;
        assert_eq!((status, locked), (400, false), "attempt {i}");
    }
    let (status, locked) = login(&gh, "192.0.2.1, 203.0.113.66", "alice", "alice's password").await;
    assert_eq!(
        (status, locked),
        (400, true),
        "the guesser's own address is locked"
    );

    // Everyone else behind the same ingress signs in as usual.
    let (status, _) = login(&gh, "203.0.113.7", "alice", "alice's password").await;
    assert_eq!(status, 200);
    let (status, _) = login(&gh, "203.0.113.8", "bob", "bob's password").await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_for_from_an_untrusted_peer_is_ignored() {
    let gh = start(false);
    gh.sign_up("alice", "alice's password").await;
    for i in 0..8 {
        let xff = format!("203.0.113.{i}");
        let (status, locked) = login(&gh, &xff, &format!("nobody{i}"), "guess").await;
        assert_eq!((status, locked), (400, false), "attempt {i}");
    }
    // A fresh X-Forwarded-For does not make a fresh client: the peer address is locked.
    let (status, locked) = login(&gh, "203.0.113.200", "alice", "alice's password").await;
    assert_eq!((status, locked), (400, true));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_few_failures_from_a_shared_address_lock_no_one() {
    // The default per-address limit is ten times the per-account one.
    let gh = TestGatehouse::start(&oauth_sections(""));
    gh.sign_up("carol", "carol's password").await;
    for i in 0..20 {
        let (status, locked) = login(&gh, "", &format!("nobody{i}"), "guess").await;
        assert_eq!((status, locked), (400, false), "attempt {i}");
    }
    let (status, _) = login(&gh, "", "carol", "carol's password").await;
    assert_eq!(status, 200);
}

async fn client_credentials(gh: &TestGatehouse, xff: &str, secret: &str) -> reqwest::Response {
    gh.client
        .post(gh.url("/oauth/token"))
        .header("X-Forwarded-For", xff)
        .basic_auth(SERVICE, Some(secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
}

/// Hardening finding 3 (SECURITY M3): client secrets are counted only when wrong, per
/// (client, address). A busy client's concurrent successes never lock it out, and a guesser
/// locks out only its own address, answered with Retry-After.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_secrets_lock_out_the_guesser_never_the_client() {
    let gh = std::sync::Arc::new(start(true));

    // 32 concurrent correct authentications, twice over: every one succeeds.
    for _ in 0..2 {
        let tasks: Vec<_> = (0..32)
            .map(|_| {
                let gh = gh.clone();
                tokio::spawn(async move {
                    client_credentials(&gh, "203.0.113.20", SERVICE_SECRET)
                        .await
                        .status()
                        .as_u16()
                })
            })
            .collect();
        for t in tasks {
            assert_eq!(t.await.unwrap(), 200);
        }
    }

    // Six wrong secrets from the guesser: the sixth starts its ban, with Retry-After.
    for i in 1..=6 {
        let r = client_credentials(&gh, "198.51.100.66", "wrong-secret").await;
        assert_eq!(r.status(), 401, "attempt {i}");
        assert!(r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Basic"));
        assert_eq!(
            r.headers().contains_key("retry-after"),
            i == 6,
            "attempt {i}"
        );
    }
    // Even the right secret is refused from there now…
    let r = client_credentials(&gh, "198.51.100.66", SERVICE_SECRET).await;
    assert_eq!(r.status(), 401);
    assert!(r.headers().contains_key("retry-after"));
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"], "invalid_client");
    // …while the real client, elsewhere, goes on.
    let r = client_credentials(&gh, "203.0.113.20", SERVICE_SECRET).await;
    assert_eq!(r.status(), 200);
}

async fn sign_up_from(gh: &TestGatehouse, xff: &str, name: &str) -> reqwest::Response {
    gh.client
        .post(gh.url("/sign-up"))
        .header("X-Forwarded-For", xff)
        .json(&json!({"username": name, "password": "password1", "client_id": LEGACY}))
        .send()
        .await
        .unwrap()
}

/// Hardening finding 5 (SECURITY M4): sign-ups are limited per address and per client, and
/// answered 429 with Retry-After past the limit; other addresses keep signing up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_ups_are_limited_per_address_and_per_client() {
    let gh = start_with(
        true,
        "[oauth.sign_up]\nmax_per_address = 3\nmax_per_client = 5\nwindow = \"1h\"\n",
    );
    for i in 0..3 {
        let r = sign_up_from(&gh, "203.0.113.1", &format!("a{i}")).await;
        assert_eq!(r.status(), 201, "sign-up {i}");
    }
    let r = sign_up_from(&gh, "203.0.113.1", "a3").await;
    assert_eq!(r.status(), 429);
    let retry: i64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry > 0 && retry <= 3600, "{retry}");
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"], "too_many_requests");

    // Another address is not affected, until the client's own limit (5) is reached.
    assert_eq!(sign_up_from(&gh, "203.0.113.2", "b0").await.status(), 201);
    assert_eq!(sign_up_from(&gh, "203.0.113.3", "c0").await.status(), 201);
    assert_eq!(sign_up_from(&gh, "203.0.113.4", "d0").await.status(), 429);

    // Refused sign-ups created nothing: the names are still free to log in as nobody.
    let (status, _) = login(&gh, "203.0.113.9", "a3", "password1").await;
    assert_eq!(status, 400);
    let (status, _) = login(&gh, "203.0.113.9", "a0", "password1").await;
    assert_eq!(status, 200);
}
