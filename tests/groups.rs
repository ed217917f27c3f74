//! Issue 15 part 2 over real HTTP: local users' groups from `gatehouse user add --group`, carried
//! by the tokens of the password grant (and their refreshes) and of `gatehouse token issue
//! --groups`, tested by the contract's policy, sent upstream in `X-Auth-Groups` (a client's own
//! copy replaced), and shown by the users API.

use crate::support;

use serde_json::{json, Value};
use support::oauth::*;
use support::*;

/// The contract's policy, on a route without the rate limit (the test sends many requests).
const POLICY: &str = r#"
[[policies]]
name = "editors"
rules = [
  { deny  = { method = ["DELETE"] } },
  { allow = { all = [ { scopes = ["write"] }, { claim = "groups", any_of = ["editors", "admins"] } ] } },
  { allow = { all = [ { method = ["GET", "HEAD"] }, { path = "/docs/*" } ] } },
]

[[routes]]
name = "docs"
path_prefix = "/docs"
upstream = "legacy"
policy = "editors"
"#;

fn run(args: &[&str], config: &std::path::Path, stdin: &str) -> (bool, String, String) {
    let out = run_cli(args, config, stdin);
    (out.success, out.stdout.trim().to_string(), out.stderr)
}

async fn post(
    gh: &TestGatehouse,
    path: &str,
    token: &str,
    forged: Option<&str>,
) -> reqwest::Response {
    let mut req = gh.client.post(gh.url(path)).bearer_auth(token);
    if let Some(g) = forged {
        req = req.header("X-Auth-Groups", g).header("x_auth_groups", g);
    }
    req.send().await.unwrap()
}

async fn assert_denied(r: reqwest::Response) {
    assert_eq!(r.status(), 403);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "access_denied", "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_users_groups_reach_policies_headers_and_the_users_api() {
    let up = EchoUpstream::start("legacy").await;
    let sections = format!(
        "{}{}{POLICY}",
        oauth_sections(""),
        upstream_section("legacy", &up, "")
    );
    let gh = TestGatehouse::start(&sections);
    // The operator's commands run on the running server's store.
    let db = gh.dir.path().join("gatehouse.db").display().to_string();
    let cli = gh.dir.path().join("cli.toml");
    std::fs::write(
        &cli,
        TestGatehouse::config_text(free_port(), free_port(), &db, &sections),
    )
    .unwrap();

    let (ok, out, err) = run(
        &[
            "user",
            "add",
            "--username",
            "ed",
            "--group",
            "editors",
            "--group",
            "staff",
            "--group",
            "editors",
        ],
        &cli,
        "ed-password\n",
    );
    assert!(ok, "{err}");
    let ed_id: i64 = out.split('\t').next().unwrap().parse().unwrap();
    let (ok, _, err) = run(
        &["user", "add", "--username", "plain"],
        &cli,
        "plain-password\n",
    );
    assert!(ok, "{err}");
    // Refusals name the bad group, and nothing is created.
    let (ok, _, err) = run(
        &["user", "add", "--username", "bad", "--group", "no way"],
        &cli,
        "bad-password\n",
    );
    assert!(
        !ok && err.contains("`no way` is not a valid group name"),
        "{err}"
    );
    let many: Vec<String> = (0..33)
        .flat_map(|i| ["--group".to_string(), format!("g{i}")])
        .collect();
    let mut args = vec!["user", "add", "--username", "many"];
    args.extend(many.iter().map(String::as_str));
    let (ok, _, err) = run(&args, &cli, "many-password\n");
    assert!(!ok && err.contains("at most 32 groups"), "{err}");
    let (_, list, _) = run(&["user", "list"], &cli, "");
    assert!(
        list.contains("ed\teditors,staff") && list.contains("2 users"),
        "{list}"
    );

    // Password grant: the token carries the user's groups; the contract allows the write.
    let ed = gh.login("ed", "ed-password").await;
    let ed_token = ed["access_token"].as_str().unwrap();
    let r = post(&gh, "/docs/a", ed_token, Some("admins")).await;
    assert_eq!(r.status(), 200);
    // The client's copies (both spellings) are gone; Gatehouse's value is the only one.
    assert_eq!(
        up.last().header_values("x-auth-groups"),
        vec!["editors,staff"]
    );
    assert!(up.last().header("x_auth_groups").is_none());
    assert_denied(
        gh.client
            .delete(gh.url("/docs/a"))
            .bearer_auth(ed_token)
            .send()
            .await
            .unwrap(),
    )
    .await;

    // Without the group: denied, whatever group header the client forges.
    let plain = gh.login("plain", "plain-password").await;
    let plain_token = plain["access_token"].as_str().unwrap();
    assert_denied(post(&gh, "/docs/a", plain_token, Some("editors")).await).await;
    let seen = up.count();
    let r = gh.get("/docs/a", Some(plain_token)).await;
    assert_eq!(r.status(), 200);
    assert_eq!(up.count(), seen + 1);
    assert!(
        up.last().header("x-auth-groups").is_none(),
        "no groups, no header"
    );

    // A refreshed token keeps the groups it was issued with.
    let refresh = ed["refresh_token"].as_str().expect("refresh token");
    let r = gh
        .post_form(
            "/oauth/token",
            &[
                ("grant_type", "refresh_token"),
                ("client_id", LEGACY),
                ("refresh_token", refresh),
            ],
        )
        .await;
    assert_eq!(r.status(), 200);
    let refreshed: Value = r.json().await.unwrap();
    let r = post(
        &gh,
        "/docs/b",
        refreshed["access_token"].as_str().unwrap(),
        None,
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(up.last().header("x-auth-groups"), Some("editors,staff"));

    // `token issue --groups`: explicit groups for an operator's token.
    let admins = cli_issue(
        &cli,
        &[
            "--user",
            "99",
            "--scopes",
            "write",
            "--groups",
            "admins, ops",
        ],
    );
    let r = post(&gh, "/docs/c", &admins, None).await;
    assert_eq!(r.status(), 200);
    assert_eq!(up.last().header("x-auth-groups"), Some("admins,ops"));
    let none = cli_issue(&cli, &["--user", "98", "--scopes", "write"]);
    assert_denied(post(&gh, "/docs/c", &none, None).await).await;
    let (ok, _, err) = run(
        &["token", "issue", "--user", "1", "--groups", "a,b c"],
        &cli,
        "",
    );
    assert!(
        !ok && err.contains("--groups: `b c` is not a valid group name"),
        "{err}"
    );

    // The users API shows them.
    let admin = gh.admin_token().await;
    let r = gh.get(&format!("/users/{ed_id}"), Some(&admin)).await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["user"]["groups"], json!(["editors", "staff"]));
    let body: Value = gh.get("/users", Some(&admin)).await.json().await.unwrap();
    let users = body["users"].as_array().unwrap();
    assert_eq!(users[0]["groups"], json!(["editors", "staff"]));
    assert_eq!(users[1]["username"], "plain");
    assert_eq!(users[1]["groups"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_groups_header_name_is_configurable() {
    let up = EchoUpstream::start("legacy").await;
    let gh = TestGatehouse::start(&format!(
        "[identity_headers]\ngroups = \"X-Roles\"\n{}{}",
        upstream_section("legacy", &up, ""),
        route("/docs", "legacy", "required", "")
    ));
    let token = gh
        .issue_with(
            gatehouse::auth::NewToken {
                user_id: Some("5".into()),
                groups: vec!["editors".into(), "qa".into()],
                ..Default::default()
            },
            std::time::Duration::from_secs(3600),
        )
        .await;
    let r = gh
        .client
        .get(gh.url("/docs/x"))
        .bearer_auth(&token)
        .header("X-Roles", "admins")
        .header("X-Auth-Groups", "admins")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(up.last().header_values("x-roles"), vec!["editors,qa"]);
    // The default name is only Gatehouse's when configured: here it is a client header.
    assert_eq!(up.last().header("x-auth-groups"), Some("admins"));
}

/// The code flow: the token carries the user's groups as they are when the code is redeemed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn code_flow_tokens_carry_the_users_groups() {
    let up = EchoUpstream::start("legacy").await;
    let gh = TestGatehouse::start(&format!(
        "{}{}{POLICY}",
        oauth_sections(""),
        upstream_section("legacy", &up, "")
    ));
    let store = gh.running.state().store.clone();
    let now = gatehouse::store::now_unix();
    let new = gatehouse::store::NewUser {
        username: "carol".into(),
        username_key: "carol".into(),
        username_skeleton: "carol".into(),
        password_hash: "unused".into(),
        groups: "admins".into(),
    };
    let user = store
        .run(move |s| async move { s.create_user(&new, now).await })
        .await
        .unwrap();
    let mut tokens = vec![];
    for (code, user_id) in [
        ("code-for-carol-groups-test", user.id.to_string()),
        ("code-for-nobody-groups-test", "777".into()),
    ] {
        let stored = gatehouse::store::StoredCode {
            family_id: format!("f-{code}"),
            client_id: WEB.into(),
            user_id,
            user_name: Some("carol".into()),
            redirect_uri: WEB_REDIRECT.into(),
            scopes: "read write".into(),
            code_challenge: None,
            code_challenge_method: None,
            created_at: now,
            expires_at: now + 60,
            used: false,
        };
        let hash = gatehouse::auth::hash_token(code);
        store
            .run(move |s| async move { s.insert_code(&hash, &stored).await })
            .await
            .unwrap();
        let r = gh
            .post_form_basic(
                "/oauth/token",
                WEB,
                WEB_SECRET,
                &[
                    ("grant_type", "authorization_code"),
                    ("code", code),
                    ("redirect_uri", WEB_REDIRECT),
                ],
            )
            .await;
        assert_eq!(r.status(), 200);
        let body: Value = r.json().await.unwrap();
        tokens.push(body["access_token"].as_str().unwrap().to_string());
    }
    let r = post(&gh, "/docs/a", &tokens[0], None).await;
    assert_eq!(r.status(), 200);
    assert_eq!(up.last().header("x-auth-groups"), Some("admins"));
    // A user id the store does not know has no groups.
    assert_denied(post(&gh, "/docs/a", &tokens[1], None).await).await;
}
