//! `/oauth/token` grants, revocation, introspection and metadata.

use crate::support;

use serde_json::Value;
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

async fn json(r: reqwest::Response) -> (u16, reqwest::header::HeaderMap, Value) {
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    (status, headers, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_credentials_and_client_authentication() {
    let (gh, up) = start().await;
    let (status, headers, body) = json(
        gh.post_form_basic(
            "/oauth/token",
            SERVICE,
            SERVICE_SECRET,
            &[
                ("grant_type", "client_credentials"),
                ("scope", "reports:read"),
            ],
        )
        .await,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("refresh_token").is_none());
    assert_eq!(body["scope"], "reports:read");
    assert_eq!(headers["cache-control"], "no-store");
    let token = body["access_token"].as_str().unwrap();
    assert_eq!(gh.get("/api/x", Some(token)).await.status(), 200);
    let seen = up.last();
    assert_eq!(seen.header("x-auth-client-id"), Some(SERVICE));
    assert!(seen.header("x-auth-user-id").is_none());

    // Body credentials work too.
    let r = gh
        .post_form(
            "/oauth/token",
            &[
                ("grant_type", "client_credentials"),
                ("client_id", SERVICE),
                ("client_secret", SERVICE_SECRET),
            ],
        )
        .await;
    assert_eq!(r.status(), 200);

    // Wrong secret: 401, WWW-Authenticate Basic, invalid_client, no-store.
    let (status, headers, body) = json(
        gh.post_form_basic(
            "/oauth/token",
            SERVICE,
            "wrong-secret",
            &[("grant_type", "client_credentials")],
        )
        .await,
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(headers["www-authenticate"], "Basic realm=\"gatehouse\"");
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(headers["pragma"], "no-cache");
    assert_eq!(body["error"], "invalid_client");
    assert!(!body.to_string().contains("wrong-secret"));

    // Both methods at once, a scope not allowed, a public client, an unknown grant.
    let r = gh
        .client
        .post(gh.url("/oauth/token"))
        .basic_auth(SERVICE, Some(SERVICE_SECRET))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_secret", SERVICE_SECRET),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let (_, _, body) = json(
        gh.post_form_basic(
            "/oauth/token",
            SERVICE,
            SERVICE_SECRET,
            &[("grant_type", "client_credentials"), ("scope", "admin")],
        )
        .await,
    )
    .await;
    assert_eq!(body["error"], "invalid_scope");
    let (status, _, body) = json(
        gh.post_form(
            "/oauth/token",
            &[("grant_type", "client_credentials"), ("client_id", SPA)],
        )
        .await,
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("unauthorized_client"))
    );
    let (_, _, body) = json(
        gh.post_form_basic(
            "/oauth/token",
            SERVICE,
            SERVICE_SECRET,
            &[("grant_type", "magic")],
        )
        .await,
    )
    .await;
    assert_eq!(body["error"], "unsupported_grant_type");
    let (status, _, body) = json(
        gh.post_form("/oauth/token", &[("grant_type", "client_credentials")])
            .await,
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_rotation_family_revocation_and_narrowing() {
    let (gh, _up) = start().await;
    gh.sign_up("carol", "password123").await;
    let (status, _, first) = json(
        gh.post_form_basic(
            "/oauth/token",
            WEB,
            WEB_SECRET,
            &[
                ("grant_type", "password"),
                ("username", "carol"),
                ("password", "password123"),
                ("scope", "read write"),
            ],
        )
        .await,
    )
    .await;
    assert_eq!(status, 200, "{first}");
    let r1 = first["refresh_token"].as_str().unwrap().to_string();
    let a1 = first["access_token"].as_str().unwrap().to_string();

    // Widening is refused; narrowing works and rotates.
    let (_, _, body) = json(
        gh.post_form_basic(
            "/oauth/token",
            WEB,
            WEB_SECRET,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &r1),
                ("scope", "read admin"),
            ],
        )
        .await,
    )
    .await;
    assert_eq!(body["error"], "invalid_scope");
    let (status, _, second) = json(
        gh.post_form_basic(
            "/oauth/token",
            WEB,
            WEB_SECRET,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &r1),
                ("scope", "read"),
            ],
        )
        .await,
    )
    .await;
    assert_eq!(status, 200, "{second}");
    assert_eq!(second["scope"], "read");
    let r2 = second["refresh_token"].as_str().unwrap().to_string();
    let a2 = second["access_token"].as_str().unwrap().to_string();
    assert_ne!(r1, r2);
    assert_eq!(gh.get("/api/x", Some(&a2)).await.status(), 200);
    assert_eq!(gh.introspect(&a2).await["scope"], "read");

    // Another client cannot use it.
    let (_, _, body) = json(
        gh.post_form_basic(
            "/oauth/token",
            ADMIN,
            ADMIN_SECRET,
            &[("grant_type", "refresh_token"), ("refresh_token", &r2)],
        )
        .await,
    )
    .await;
    assert_eq!(body["error"], "invalid_grant");

    // Reusing the retired R1 revokes the whole family: R2, A1 and A2 included, at once.
    let (status, _, body) = json(
        gh.post_form_basic(
            "/oauth/token",
            WEB,
            WEB_SECRET,
            &[("grant_type", "refresh_token"), ("refresh_token", &r1)],
        )
        .await,
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    assert_eq!(gh.get("/api/x", Some(&a2)).await.status(), 401);
    assert_eq!(
        gh.introspect(&a1).await,
        serde_json::json!({"active": false})
    );
    assert_eq!(
        gh.introspect(&r2).await,
        serde_json::json!({"active": false})
    );
    let (_, _, body) = json(
        gh.post_form_basic(
            "/oauth/token",
            WEB,
            WEB_SECRET,
            &[("grant_type", "refresh_token"), ("refresh_token", &r2)],
        )
        .await,
    )
    .await;
    assert_eq!(body["error"], "invalid_grant");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_refresh_succeeds_once() {
    let (gh, _up) = start().await;
    gh.sign_up("dave", "password123").await;
    let login = gh.login("dave", "password123").await;
    let r = login["refresh_token"].as_str().unwrap().to_string();
    let ok = concurrent_refreshes(&[std::sync::Arc::new(gh)], &r, 20).await;
    assert_eq!(ok, 1, "exactly one concurrent rotation wins");
}

/// Introspection answers a live access token from the proxy's token cache (no store lookup
/// once warm), reports refresh tokens from the store, and a revoked or rotated token is
/// inactive at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn introspection_answers_from_the_token_cache_and_sees_revocation_at_once() {
    let (gh, _up) = start().await;
    gh.sign_up("fay", "password123").await;
    let login = gh.login("fay", "password123").await;
    let access = login["access_token"].as_str().unwrap();
    let refresh = login["refresh_token"].as_str().unwrap();

    let first = gh.introspect(access).await;
    assert_eq!(first["active"], true, "{first}");
    assert_eq!(first["username"], "fay");
    let lookups = gh.metric("gatehouse_token_store_lookups_total").await;
    for _ in 0..3 {
        assert_eq!(gh.introspect(access).await, first);
    }
    assert_eq!(gh.get("/api/x", Some(access)).await.status(), 200);
    assert_eq!(
        gh.metric("gatehouse_token_store_lookups_total").await,
        lookups,
        "answered from the token cache"
    );

    let info = gh.introspect(refresh).await;
    assert_eq!(info["active"], true, "{info}");
    assert_eq!(info["token_type"], "refresh_token");
    assert_eq!(info["username"], "fay");
    assert!(info["exp"].as_i64().unwrap() > info["iat"].as_i64().unwrap());
    let r = gh
        .post_form(
            "/oauth/token",
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh),
                ("client_id", LEGACY),
            ],
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        gh.introspect(refresh).await,
        serde_json::json!({"active": false}),
        "a rotated refresh token is spent"
    );

    let r = gh
        .post_form("/oauth/revoke", &[("token", access), ("client_id", LEGACY)])
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        gh.introspect(access).await,
        serde_json::json!({"active": false}),
        "revoked: inactive at once, though it was cached"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocation_and_introspection() {
    let (gh, _up) = start().await;
    gh.sign_up("erin", "password123").await;
    let login = gh.login("erin", "password123").await;
    let access = login["access_token"].as_str().unwrap();

    let info = gh.introspect(access).await;
    assert_eq!(info["active"], true);
    assert_eq!(info["username"], "erin");
    assert_eq!(info["client_id"], LEGACY);
    assert_eq!(info["token_type"], "bearer");
    assert!(info["exp"].as_i64().unwrap() > info["iat"].as_i64().unwrap());

    // Introspection needs an authenticated confidential client.
    let r = gh
        .post_form("/oauth/introspect", &[("token", access)])
        .await;
    assert_eq!(r.status(), 401);
    let r = gh
        .post_form(
            "/oauth/introspect",
            &[("token", access), ("client_id", SPA)],
        )
        .await;
    assert_eq!(r.status(), 401);
    assert_eq!(
        gh.introspect("random-token").await,
        serde_json::json!({"active": false})
    );

    assert_eq!(gh.get("/api/x", Some(access)).await.status(), 200);
    let r = gh
        .post_form("/oauth/revoke", &[("token", access), ("client_id", LEGACY)])
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        gh.get("/api/x", Some(access)).await.status(),
        401,
        "refused at once, cache included"
    );
    assert_eq!(
        gh.introspect(access).await,
        serde_json::json!({"active": false})
    );
    let r = gh
        .post_form(
            "/oauth/revoke",
            &[("token", "never-issued"), ("client_id", LEGACY)],
        )
        .await;
    assert_eq!(r.status(), 200);

    // Revoking the refresh token takes its access tokens with it.
    let login = gh.login("erin", "password123").await;
    let (a, rt) = (
        login["access_token"].as_str().unwrap(),
        login["refresh_token"].as_str().unwrap(),
    );
    assert_eq!(gh.get("/api/x", Some(a)).await.status(), 200);
    gh.post_form(
        "/oauth/revoke",
        &[
            ("token", rt),
            ("token_type_hint", "refresh_token"),
            ("client_id", LEGACY),
        ],
    )
    .await;
    assert_eq!(gh.get("/api/x", Some(a)).await.status(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_document_uses_the_configured_issuer() {
    let (gh, _up) = start().await;
    let r = gh
        .client
        .get(gh.url("/.well-known/oauth-authorization-server"))
        .header("Host", "evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let doc: Value = r.json().await.unwrap();
    let issuer = format!("http://localhost:{}", gh.addr.port());
    assert_eq!(doc["issuer"], issuer);
    assert_eq!(doc["token_endpoint"], format!("{issuer}/oauth/token"));
    assert_eq!(
        doc["authorization_endpoint"],
        format!("{issuer}/oauth/authorize")
    );
    assert_eq!(doc["authorization_response_iss_parameter_supported"], true);
    assert_eq!(
        doc["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    assert!(doc["grant_types_supported"]
        .as_array()
        .unwrap()
        .contains(&Value::from("client_credentials")));
    assert!(!doc.to_string().contains("evil.example"));
}
