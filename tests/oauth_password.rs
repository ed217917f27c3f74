//! Seed 001 (password login), admin login, the users API, lockout and bad input.

use crate::support;

use serde_json::{json, Value};
use support::oauth::*;
use support::*;

async fn start() -> (TestGatehouse, std::sync::Arc<EchoUpstream>) {
    let up = EchoUpstream::start("app").await;
    let config = [
        oauth_sections(""),
        upstream_section("app", &up, ""),
        route("/api", "app", "required", ""),
    ]
    .concat();
    (TestGatehouse::start(&config), up)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_001_login_reproduced_then_proxied_with_identity() {
    let (gh, up) = start().await;
    let user = gh.sign_up("user_1", "password").await;
    assert_eq!(user["user"]["username"], "user_1");
    assert!(user["user"]["id"].is_i64());

    // The seed's request, literally.
    let r = gh
        .client
        .post(gh.url("/oauth/authorize"))
        .header("Accept", "application/json")
        .header("Content-Type", "application/json")
        .header("Cookie", "")
        .body(r#"{"username":"user_1","password":"password","grant_type":"password","client_id":"1bv9sh664cowghktxwn307wpeghj8e1"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let h = r.headers().clone();
    assert_eq!(h["cache-control"], "no-store");
    assert_eq!(h["pragma"], "no-cache");
    assert!(h["etag"].to_str().unwrap().starts_with('"'));
    assert!(h["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    for name in [
        "x-frame-options",
        "x-xss-protection",
        "x-content-type-options",
        "access-control-allow-origin",
        "x-request-id",
        "x-runtime",
    ] {
        assert!(h.contains_key(name), "{name}");
    }
    let body: Value = r.json().await.unwrap();
    let token = body["access_token"].as_str().unwrap();
    assert!(token.len() >= 27, "at least 160 bits");
    assert!(token
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
    assert_eq!(body["token_type"], "bearer");
    assert!(body["expires_in"].as_u64().unwrap() > 0);
    assert!(body["refresh_token"].is_string());

    let r = gh.get("/api/orders", Some(token)).await;
    assert_eq!(r.status(), 200);
    let seen = up.last();
    assert_eq!(
        seen.header("x-auth-user-id"),
        Some(user["user"]["id"].to_string().as_str())
    );
    assert_eq!(seen.header("x-auth-user-name"), Some("user_1"));
    assert_eq!(seen.header("x-auth-client-id"), Some(LEGACY));
    assert_eq!(seen.header("x-auth-scopes"), Some("read write"));

    // Form-encoded works the same; username is case-insensitive.
    let r = gh
        .post_form(
            "/oauth/authorize",
            &[
                ("username", "USER_1"),
                ("password", "password"),
                ("grant_type", "password"),
                ("client_id", LEGACY),
            ],
        )
        .await;
    assert_eq!(r.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_user_and_wrong_password_look_the_same() {
    let (gh, _up) = start().await;
    gh.sign_up("alice", "correct horse").await;
    let attempt = |user: &'static str, pass: &'static str| {
        let gh = &gh;
        async move {
            let r = gh
                .post_json("/oauth/authorize", &json!({"username": user, "password": pass, "grant_type": "password", "client_id": LEGACY}))
                .await;
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    let wrong = attempt("alice", "wrong password").await;
    let unknown = attempt("nobody", "wrong password").await;
    assert_eq!(wrong.0, 400);
    assert_eq!(wrong, unknown, "byte-identical answers");
    let body: Value = serde_json::from_str(&wrong.1).unwrap();
    assert_eq!(body["error"], "invalid_grant");
    // Both paths ran argon2 (the unknown user against a dummy hash).
    assert_eq!(gh.metric("gatehouse_password_checks_total").await, 2.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_login_and_users_api() {
    let (gh, up) = start().await;
    let admin = gh.admin_token().await;
    let mut ids = Vec::new();
    for i in 0..12 {
        ids.push(
            gh.sign_up(&format!("user{i:02}"), "password123").await["user"]["id"]
                .as_i64()
                .unwrap(),
        );
    }
    let user_token = gh.login("user03", "password123").await["access_token"]
        .as_str()
        .unwrap()
        .to_string();

    // Admin token with the seed's `Authorization: OAuth` form.
    let r = gh
        .client
        .get(gh.url("/users?page=2"))
        .header("Authorization", format!("OAuth {admin}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["meta"]["page"], 2);
    assert_eq!(body["meta"]["total"], 12);
    let users = body["users"].as_array().unwrap();
    assert_eq!(users.len(), 2);
    assert_eq!(users[0]["username"], "user10");
    assert!(users[0]["fb_id"].is_null());
    assert_eq!(users[0]["fb_ad_accounts"], json!([]));
    let r = gh.get("/users", Some(&admin)).await;
    assert_eq!(
        r.json::<Value>().await.unwrap()["users"]
            .as_array()
            .unwrap()
            .len(),
        10
    );

    // A user's token, or none.
    assert_eq!(gh.get("/users", Some(&user_token)).await.status(), 403);
    assert_eq!(gh.get("/users", None).await.status(), 401);
    assert_eq!(gh.get("/users?page=0", Some(&admin)).await.status(), 400);
    assert_eq!(gh.get("/users?page=x", Some(&admin)).await.status(), 400);

    let id = ids[3];
    let r = gh.get(&format!("/users/{id}"), Some(&admin)).await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<Value>().await.unwrap()["user"]["username"],
        "user03"
    );
    assert_eq!(gh.get("/users/999999", Some(&admin)).await.status(), 404);

    // The user's token works (and is cached) until the user is deleted; then it stops at once.
    assert_eq!(gh.get("/api/x", Some(&user_token)).await.status(), 200);
    let r = gh
        .client
        .delete(gh.url(&format!("/users/{id}")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(gh.get("/api/x", Some(&user_token)).await.status(), 401);
    assert_eq!(
        gh.get(&format!("/users/{id}"), Some(&admin)).await.status(),
        404
    );
    let r = gh
        .client
        .delete(gh.url(&format!("/users/{id}")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(up.count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_up_rules_and_bad_input_change_nothing() {
    let (gh, _up) = start().await;
    gh.sign_up("Alice", "password1").await;
    let cases: Vec<(reqwest::RequestBuilder, u16)> = vec![
        (gh.client.post(gh.url("/sign-up")).json(&json!({"username":"alice","password":"password1","client_id":LEGACY})), 409),
        (gh.client.post(gh.url("/sign-up")).json(&json!({"username":"ＡＬＩＣＥ","password":"password1","client_id":LEGACY})), 409),
        (gh.client.post(gh.url("/sign-up")).json(&json!({"username":"bob","password":"short","client_id":LEGACY})), 422),
        (gh.client.post(gh.url("/sign-up")).json(&json!({"username":"bob","password":"x".repeat(200_000),"client_id":LEGACY})), 413),
        (gh.client.post(gh.url("/sign-up")).json(&json!({"username":"bob","password":"x".repeat(129),"client_id":LEGACY})), 422),
        (gh.client.post(gh.url("/sign-up")).json(&json!({"username":"bob","password":"password1","client_id":"nope"})), 401),
        (gh.client.post(gh.url("/sign-up")).json(&json!({"username":"bob","password":"password1"})), 400),
        (gh.client.post(gh.url("/sign-up")).header("content-type", "application/json").body("{not json"), 400),
        (gh.client.post(gh.url("/sign-up")).header("content-type", "text/plain").body("username=bob"), 415),
        (gh.client.post(gh.url("/oauth/authorize")).header("content-type", "application/json").body("[]"), 400),
        (gh.client.post(gh.url("/oauth/authorize")).json(&json!({"username":"alice","password":"password1","grant_type":"magic","client_id":LEGACY})), 400),
        (gh.client.post(gh.url("/oauth/authorize")).json(&json!({"username":"alice","grant_type":"password","client_id":LEGACY})), 400),
        (gh.client.post(gh.url("/oauth/authorize")).json(&json!({"username":"alice","password":"password1","grant_type":"password","client_id":SERVICE})), 400),
        (gh.client.post(gh.url("/oauth/authorize")).json(&json!({"username":"alice","password":"password1","grant_type":"password","client_id":"unknown"})), 401),
        (gh.client.post(gh.url("/oauth/token")).body(vec![b'a'; 1 << 20]).header("content-type", "application/x-www-form-urlencoded"), 413),
    ];
    for (i, (req, status)) in cases.into_iter().enumerate() {
        let r = req.send().await.unwrap();
        assert_eq!(r.status().as_u16(), status, "case {i}");
        let body: Value = r
            .json()
            .await
            .unwrap_or_else(|e| panic!("case {i}: body is not JSON: {e}"));
        assert!(
            body["error"].is_string() && body["error_description"].is_string(),
            "case {i}: {body}"
        );
    }
    let admin = gh.admin_token().await;
    let r = gh.get("/users", Some(&admin)).await;
    assert_eq!(
        r.json::<Value>().await.unwrap()["meta"]["total"],
        1,
        "nothing else was written"
    );
    let r = gh
        .post_json("/oauth/authorize", &json!({"username":"alice","password":"password1","grant_type":"magic","client_id":LEGACY}))
        .await;
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"],
        "unsupported_grant_type"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lockout_holds_under_concurrency() {
    let (gh, _up) = start().await;
    gh.sign_up("victim", "the right password").await;
    let gh = std::sync::Arc::new(gh);
    let mut tasks = Vec::new();
    for i in 0..50 {
        let gh = gh.clone();
        tasks.push(tokio::spawn(async move {
            let r = gh
                .post_json("/oauth/authorize", &json!({"username":"victim","password":format!("guess {i}"),"grant_type":"password","client_id":LEGACY}))
                .await;
            r.status().as_u16()
        }));
    }
    let mut successes = 0;
    for t in tasks {
        if t.await.unwrap() == 200 {
            successes += 1;
        }
    }
    assert_eq!(successes, 0);
    let checks = gh.metric("gatehouse_password_checks_total").await;
    assert!(
        checks <= 5.0,
        "at most the failure limit reached argon2: {checks}"
    );
    assert_eq!(gh.metric("gatehouse_login_failures_total").await, 50.0);

    // Now even the right password is refused, the same way, with Retry-After.
    let r = gh
        .post_json("/oauth/authorize", &json!({"username":"victim","password":"the right password","grant_type":"password","client_id":LEGACY}))
        .await;
    assert_eq!(r.status(), 400);
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry > 0 && retry <= 900);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_grant");

    // The admin login path is throttled too (from this address, now banned).
    let r = gh
        .post_json("/oauth/authorize", &json!({"username":ADMIN,"password":ADMIN_SECRET,"grant_type":"password","client_id":ADMIN}))
        .await;
    assert_eq!(r.status(), 400);
}

/// SECURITY N4 (hardening finding 12): a repeated JSON key is refused like a repeated form
/// parameter, and bytes that are not UTF-8 are refused rather than replaced (`%ff` and `%fe`
/// would otherwise be the same password); nothing is stored either way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lossy_bodies_are_refused_and_store_nothing() {
    let (gh, _up) = start().await;
    let cases: Vec<(reqwest::RequestBuilder, &str)> = vec![
        (
            gh.client.post(gh.url("/sign-up")).header("content-type", "application/json").body(format!(
                r#"{{"username":"dup","username":"other","password":"password1","client_id":"{LEGACY}"}}"#
            )),
            "repeated",
        ),
        (
            gh.client
                .post(gh.url("/oauth/token"))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(format!("grant_type=password&username=dup&password=%ff%ff%ff%ff%ff%ff%ff%ff&client_id={LEGACY}")),
            "UTF-8",
        ),
        (
            gh.client.post(gh.url("/oauth/authorize")).header("content-type", "application/json").body(format!(
                r#"{{"username":"dup","password":"password1","password":"password2","grant_type":"password","client_id":"{LEGACY}"}}"#
            )),
            "repeated",
        ),
    ];
    for (i, (req, why)) in cases.into_iter().enumerate() {
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), 400, "case {i}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"], "invalid_request", "case {i}: {body}");
        assert!(
            body["error_description"].as_str().unwrap().contains(why),
            "case {i}: {body}"
        );
    }
    // Neither `dup` nor `other` was created.
    gh.sign_up("dup", "password1").await;
    gh.sign_up("other", "password1").await;
}
