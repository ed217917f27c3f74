//! RFC 6750 behaviour on proxied routes: every error case, scopes, legacy token locations.

use crate::support;

use gatehouse::auth::NewToken;
use std::time::Duration;
use support::*;

fn config(up: &EchoUpstream, tokens: &str) -> String {
    [
        upstream_section("app", up, ""),
        // These upstreams read the token themselves (Authorization is not forwarded by default).
        route("/", "app", "required", "forward_authorization = true"),
        route(
            "/write",
            "app",
            "required",
            "scopes = [\"write\"]\nforward_authorization = true",
        ),
        route(
            "/both",
            "app",
            "required",
            "scopes = [\"read\", \"write\"]\nforward_authorization = true",
        ),
        tokens.to_string(),
    ]
    .concat()
}

fn www_auth(r: &reqwest::Response) -> String {
    r.headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rfc6750_error_cases() {
    let up = EchoUpstream::start("app").await;
    let gh = TestGatehouse::start(&config(&up, ""));

    // No token.
    let r = gh.get("/x", None).await;
    assert_eq!(r.status(), 401);
    assert_eq!(www_auth(&r), "Bearer realm=\"gatehouse\"");
    let body: serde_json::Value = r.json().await.unwrap();
    assert!(body["error"].is_string() && body["error_description"].is_string());

    // Unknown token.
    let r = gh.get("/x", Some("not-a-real-token")).await;
    assert_eq!(r.status(), 401);
    assert!(www_auth(&r).contains("error=\"invalid_token\""));
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"], "invalid_token");

    // Expired.
    let expired = gh
        .issue_with(
            NewToken {
                user_id: Some("u".into()),
                ..Default::default()
            },
            Duration::ZERO,
        )
        .await;
    let r = gh.get("/x", Some(&expired)).await;
    assert_eq!(r.status(), 401);
    assert!(www_auth(&r).contains("invalid_token"));

    // Revoked.
    let t = gh.issue("u1", &["read"]).await;
    assert_eq!(gh.get("/x", Some(&t)).await.status(), 200);
    gh.running.state().tokens.revoke(&t).await.unwrap();
    assert_eq!(gh.get("/x", Some(&t)).await.status(), 401);

    // Insufficient scope, also when the token is already cached.
    let read = gh.issue("u2", &["read"]).await;
    assert_eq!(gh.get("/x", Some(&read)).await.status(), 200);
    let r = gh.get("/write/x", Some(&read)).await;
    assert_eq!(r.status(), 403);
    assert_eq!(
        www_auth(&r),
        "Bearer realm=\"gatehouse\", error=\"insufficient_scope\", scope=\"write\""
    );
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"], "insufficient_scope");
    let r = gh.get("/both", Some(&read)).await;
    assert_eq!(r.status(), 403);
    assert!(www_auth(&r).contains("scope=\"read write\""));
    let rw = gh.issue("u3", &["read", "write"]).await;
    assert_eq!(gh.get("/both", Some(&rw)).await.status(), 200);

    // The upstream saw only the accepted requests.
    assert_eq!(up.count(), 3);
    assert!(up
        .seen()
        .iter()
        .all(|s| s.header("authorization").is_some()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_credentials_are_400_invalid_request() {
    let up = EchoUpstream::start("app").await;
    let gh = TestGatehouse::start(&config(
        &up,
        "[tokens]\nlegacy_locations = [\"oauth_header\", \"query:oauth_token\"]\n",
    ));
    let t = gh.issue("u", &[]).await;
    let two = format!("Authorization: Bearer {t}");
    let cases: Vec<(String, Vec<String>)> = vec![
        ("/x".into(), vec![two.clone(), two.clone()]),
        ("/x".into(), vec!["Authorization: Bearer".into()]),
        ("/x".into(), vec!["Authorization: Bearer    ".into()]),
        ("/x".into(), vec!["Authorization: Bearer a\"b".into()]),
        ("/x".into(), vec!["Authorization: Bearer a b".into()]),
        (format!("/x?oauth_token={t}"), vec![two.clone()]),
        (format!("/x?oauth_token={t}&oauth_token={t}"), vec![]),
    ];
    for (path, headers) in cases {
        let refs: Vec<&str> = headers.iter().map(String::as_str).collect();
        let r = raw_get(gh.addr, &path, &refs);
        assert_eq!(r.status, 400, "{path} {headers:?}: {r:?}");
        assert!(r
            .header("www-authenticate")
            .unwrap_or("")
            .contains("error=\"invalid_request\""));
        let body: serde_json::Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(body["error"], "invalid_request");
    }
    assert_eq!(up.count(), 0);
    // Another scheme is "no bearer token": 401, not 400.
    let r = raw_get(gh.addr, "/x", &["Authorization: Basic dXNlcjpwYXNz"]);
    assert_eq!(r.status, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_locations_only_when_enabled() {
    let up = EchoUpstream::start("app").await;
    let off = TestGatehouse::start(&config(&up, ""));
    let t = off.issue("u", &[]).await;
    let r = raw_get(off.addr, "/x", &[&format!("Authorization: OAuth {t}")]);
    assert_eq!(r.status, 401);
    let r = raw_get(off.addr, &format!("/x?oauth_token={t}"), &[]);
    assert_eq!(r.status, 401);
    assert_eq!(up.count(), 0);
    drop(off);

    let on = TestGatehouse::start(&config(
        &up,
        "[tokens]\nlegacy_locations = [\"oauth_header\", \"query:oauth_token\"]\n",
    ));
    let t = on.issue("u7", &[]).await;
    let r = raw_get(on.addr, "/x", &[&format!("Authorization: OAuth {t}")]);
    assert_eq!(r.status, 200);
    assert_eq!(up.last().header("x-auth-user-id"), Some("u7"));
    let r = raw_get(on.addr, &format!("/x/y?a=1&oauth_token={t}&b=%20"), &[]);
    assert_eq!(r.status, 200);
    let seen = up.last();
    assert_eq!(
        seen.uri, "/x/y?a=1&b=%20",
        "the token must not reach the upstream"
    );
    assert_eq!(seen.header("x-auth-user-id"), Some("u7"));
    let r = raw_get(on.addr, &format!("/x?oauth_token={t}"), &[]);
    assert_eq!(r.status, 200);
    assert_eq!(up.last().uri, "/x");
}
