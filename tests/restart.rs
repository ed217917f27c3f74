//! A restart keeps every user and every live token: users signed up, password-grant access and
//! refresh tokens, a client_credentials token and a token issued on the command line all
//! work after a graceful stop and a start on the same database; a revoked token stays
//! revoked. On SQLite and on PostgreSQL.

use crate::support;

use serde_json::Value;
use support::oauth::*;
use support::*;
use tempfile::TempDir;

/// Tokens held across the restart.
struct Held {
    alice_access: String,
    alice_refresh: String,
    service_access: String,
    cli_access: String,
    revoked: String,
}

fn sections(up: &EchoUpstream) -> String {
    [
        oauth_sections(""),
        upstream_section("app", up, ""),
        route("/api", "app", "required", ""),
    ]
    .concat()
}

/// The protected route with `token`: its status, and the user id and client id the
/// upstream was given when it got through.
async fn protected(
    gh: &TestGatehouse,
    up: &EchoUpstream,
    token: &str,
) -> (u16, Option<String>, Option<String>) {
    let before = up.count();
    let status = gh.get("/api/x", Some(token)).await.status().as_u16();
    if up.count() == before {
        return (status, None, None);
    }
    let seen = up.last();
    let id = |h: &str| seen.header(h).map(str::to_string);
    (status, id("x-auth-user-id"), id("x-auth-client-id"))
}

fn field(body: &Value, name: &str) -> String {
    body[name]
        .as_str()
        .unwrap_or_else(|| panic!("no {name} in {body}"))
        .to_string()
}

async fn before_restart(gh: &TestGatehouse, config: &std::path::Path) -> (Held, Value) {
    let alice = gh.sign_up("alice", "alice-password").await;
    gh.sign_up("bob", "bob-password").await;
    let login = gh.login("alice", "alice-password").await;
    let bob = gh.login("bob", "bob-password").await;
    let service = gh
        .post_form_basic(
            "/oauth/token",
            SERVICE,
            SERVICE_SECRET,
            &[("grant_type", "client_credentials")],
        )
        .await;
    assert_eq!(service.status(), 200);
    let service: Value = service.json().await.unwrap();
    let held = Held {
        alice_access: field(&login, "access_token"),
        alice_refresh: field(&login, "refresh_token"),
        service_access: field(&service, "access_token"),
        cli_access: cli_issue(
            config,
            &["--user", "99", "--name", "ops", "--scopes", "read"],
        ),
        revoked: field(&bob, "access_token"),
    };
    let r = gh
        .post_form(
            "/oauth/revoke",
            &[("token", held.revoked.as_str()), ("client_id", LEGACY)],
        )
        .await;
    assert_eq!(r.status(), 200);
    (held, alice["user"]["id"].clone())
}

async fn restart_keeps_users_and_live_tokens(dir: TempDir, store: &str) {
    let up = EchoUpstream::start("app").await;
    let sections = sections(&up);
    // The command line reads the same store; its ports are never bound.
    let config = dir.path().join("gatehouse.toml");
    let text = TestGatehouse::config_text_with_store(free_port(), free_port(), store, &sections);
    std::fs::write(&config, text).unwrap();

    let gh = TestGatehouse::start_with_store(dir, store, &sections);
    let (held, alice_id) = before_restart(&gh, &config).await;
    let alice_id = alice_id.to_string();
    // (token, user id, client id) as the upstream must see them; the CLI names no client.
    let live = [
        (&held.alice_access, Some(alice_id.as_str()), Some(LEGACY)),
        (&held.service_access, None, Some(SERVICE)),
        (&held.cli_access, Some("99"), None),
    ];
    let TestGatehouse { running, dir, .. } = gh;
    tokio::task::spawn_blocking(move || running.stop_gracefully())
        .await
        .unwrap();

    let gh = TestGatehouse::start_with_store(dir, store, &sections);
    for (token, user, client) in live {
        let (status, seen_user, seen_client) = protected(&gh, &up, token).await;
        assert_eq!(
            status, 200,
            "a live token of {user:?}/{client:?} after the restart"
        );
        assert_eq!(seen_user.as_deref(), user);
        if client.is_some() {
            assert_eq!(seen_client.as_deref(), client);
        }
    }
    assert_eq!(protected(&gh, &up, &held.revoked).await.0, 401);

    let refreshed = gh
        .post_form(
            "/oauth/token",
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", held.alice_refresh.as_str()),
                ("client_id", LEGACY),
            ],
        )
        .await;
    assert_eq!(refreshed.status(), 200);
    let refreshed: Value = refreshed.json().await.unwrap();
    let (status, user, _) = protected(&gh, &up, &field(&refreshed, "access_token")).await;
    assert_eq!((status, user.as_deref()), (200, Some(alice_id.as_str())));

    // Users and their passwords survive too.
    gh.login("bob", "bob-password").await;
    let admin = gh.admin_token().await;
    let users: Value = gh.get("/users", Some(&admin)).await.json().await.unwrap();
    let names: Vec<&str> = users["users"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|u| u["username"].as_str())
        .collect();
    assert_eq!(names, ["alice", "bob"], "{users}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_keeps_users_and_live_tokens_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let store = format!(
        "[store]\nurl = \"sqlite://{}\"\n",
        dir.path().join("gatehouse.db").display()
    );
    restart_keeps_users_and_live_tokens(dir, &store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_keeps_users_and_live_tokens_on_postgres() {
    let url = postgres::url("restart::restart_keeps_users_and_live_tokens_on_postgres").await;
    let store = postgres::store_section(&url, &postgres::fresh_schema(), "");
    restart_keeps_users_and_live_tokens(tempfile::tempdir().unwrap(), &store).await;
}
