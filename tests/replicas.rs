//! Several Gatehouse replicas on one PostgreSQL database: revocations reach every replica's
//! cache, one-time credentials and usernames hold under cross-replica races, lockout counts
//! across replicas, and a database outage degrades to 503 (never 401) and recovers by itself.
//! PostgreSQL: see `support::postgres` (the local server, or GATEHOUSE_TEST_POSTGRES_URL).

use crate::support;

use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::oauth::*;
use support::tcp_proxy::TcpProxy;
use support::*;

/// Two replicas (A, B) sharing one fresh schema, each with a 300 s positive cache: anything
/// faster than that came through LISTEN/NOTIFY.
async fn pair(test: &str) -> (TestGatehouse, TestGatehouse, Arc<EchoUpstream>) {
    let url = postgres::url(test).await;
    let schema = postgres::fresh_schema();
    let up = EchoUpstream::start("app").await;
    let sections = [
        oauth_sections(""),
        "[cache]\nttl = \"300s\"\n".to_string(),
        upstream_section("app", &up, ""),
        route("/api", "app", "required", ""),
    ]
    .concat();
    let store = postgres::store_section(&url, &schema, "");
    let a = TestGatehouse::start_with_store(tempfile::tempdir().unwrap(), &store, &sections);
    let b = TestGatehouse::start_with_store(tempfile::tempdir().unwrap(), &store, &sections);
    (a, b, up)
}

/// Polls `gh` until `token` is refused; returns how long that took.
async fn until_refused(gh: &TestGatehouse, token: &str, within: Duration) -> Option<Duration> {
    let started = Instant::now();
    while started.elapsed() < within {
        if gh.get("/api/x", Some(token)).await.status() == 401 {
            return Some(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocations_reach_the_other_replica() {
    let (a, b, _up) = pair("replicas::revocations_reach_the_other_replica").await;
    a.sign_up("ann", "password123").await;
    let within = Duration::from_secs(10);

    // Revocation through the revocation endpoint on A.
    let login = a.login("ann", "password123").await;
    let token = login["access_token"].as_str().unwrap().to_string();
    assert_eq!(a.get("/api/x", Some(&token)).await.status(), 200);
    assert_eq!(
        b.get("/api/x", Some(&token)).await.status(),
        200,
        "B has it cached now"
    );
    a.post_form("/oauth/revoke", &[("token", &token), ("client_id", LEGACY)])
        .await;
    assert_eq!(
        a.get("/api/x", Some(&token)).await.status(),
        401,
        "immediate on the revoking replica"
    );
    let delay = until_refused(&b, &token, within)
        .await
        .expect("B refuses the revoked token");
    eprintln!("revocation reached replica B after {delay:?}");

    // A refresh-token replay on A revokes the family, on B too.
    let login = a.login("ann", "password123").await;
    let (access, refresh) = (
        login["access_token"].as_str().unwrap(),
        login["refresh_token"].as_str().unwrap(),
    );
    assert_eq!(b.get("/api/x", Some(access)).await.status(), 200);
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh),
        ("client_id", LEGACY),
    ];
    assert_eq!(a.post_form("/oauth/token", &form).await.status(), 200);
    assert_eq!(
        b.post_form("/oauth/token", &form).await.status(),
        400,
        "replay, even on the other replica"
    );
    until_refused(&a, access, within)
        .await
        .expect("family revoked on A");
    until_refused(&b, access, within)
        .await
        .expect("family revoked on B");

    // Deleting the user on A.
    let token = a.login("ann", "password123").await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(b.get("/api/x", Some(&token)).await.status(), 200);
    let admin = a.admin_token().await;
    let users: Value = a.get("/users", Some(&admin)).await.json().await.unwrap();
    let id = users["users"][0]["id"].as_i64().unwrap();
    let r = a
        .client
        .delete(a.url(&format!("/users/{id}")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    until_refused(&b, &token, within)
        .await
        .expect("user deletion reached B");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_time_credentials_and_usernames_hold_across_replicas() {
    let (a, b, _up) =
        pair("replicas::one_time_credentials_and_usernames_hold_across_replicas").await;
    let (a, b) = (Arc::new(a), Arc::new(b));

    // The same username on both replicas at once: one user, one 409.
    let upper = json!({"username": "Twin", "password": "password123", "client_id": LEGACY});
    let lower = json!({"username": "twin", "password": "password123", "client_id": LEGACY});
    let (ra, rb) = tokio::join!(
        a.post_json("/sign-up", &upper),
        b.post_json("/sign-up", &lower)
    );
    let mut statuses = [ra.status().as_u16(), rb.status().as_u16()];
    statuses.sort();
    assert_eq!(statuses, [201, 409]);

    // A refresh token redeemed on both replicas at the same moment: exactly one wins.
    let refresh = a.login("twin", "password123").await["refresh_token"]
        .as_str()
        .unwrap()
        .to_string();
    let wins = concurrent_refreshes(&[a.clone(), b.clone()], &refresh, 10).await;
    assert_eq!(wins, 1);

    // An authorization code from A redeemed on A and B at once: exactly one wins.
    let code = authorization_code(&a, "twin").await;
    let exchange = |gh: Arc<TestGatehouse>, code: String| async move {
        gh.post_form_basic(
            "/oauth/token",
            WEB,
            WEB_SECRET,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", WEB_REDIRECT),
            ],
        )
        .await
        .status()
        .as_u16()
    };
    let (x, y) = tokio::join!(
        exchange(a.clone(), code.clone()),
        exchange(b.clone(), code.clone())
    );
    let mut statuses = [x, y];
    statuses.sort();
    assert_eq!(statuses, [200, 400]);
}

/// Drives the sign-in and consent forms on `gh` for the web client (no PKCE: confidential).
async fn authorization_code(gh: &TestGatehouse, user: &str) -> String {
    let q = format!(
        "response_type=code&client_id={WEB}&redirect_uri={}&scope=read",
        url::form_urlencoded::byte_serialize(WEB_REDIRECT.as_bytes()).collect::<String>()
    );
    gh.authorization_code_for(&q, user).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lockout_counts_attempts_on_every_replica() {
    let (a, b, _up) = pair("replicas::lockout_counts_attempts_on_every_replica").await;
    a.sign_up("target", "the right password").await;
    let (a, b) = (Arc::new(a), Arc::new(b));
    let mut tasks = Vec::new();
    for i in 0..30 {
        let gh = if i % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            gh.post_json("/oauth/authorize", &json!({"username": "target", "password": format!("guess {i}"), "grant_type": "password", "client_id": LEGACY}))
                .await
                .status()
                .as_u16()
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 400);
    }
    let checks = a.metric("gatehouse_password_checks_total").await
        + b.metric("gatehouse_password_checks_total").await;
    assert!(checks <= 5.0, "{checks} argon2 checks across both replicas");
    let r = b
        .post_json("/oauth/authorize", &json!({"username": "target", "password": "the right password", "grant_type": "password", "client_id": LEGACY}))
        .await;
    assert_eq!(r.status(), 400);
    assert!(r.headers().contains_key("retry-after"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_outage_degrades_to_503_and_recovers() {
    let url = postgres::url("replicas::database_outage_degrades_to_503_and_recovers").await;
    let mut parsed = url::Url::parse(&url).unwrap();
    let target = format!(
        "{}:{}",
        parsed.host_str().unwrap(),
        parsed.port().unwrap_or(5432)
    );
    let proxy = TcpProxy::start(
        tokio::net::lookup_host(&target)
            .await
            .unwrap()
            .next()
            .unwrap(),
    )
    .await;
    parsed.set_host(Some("127.0.0.1")).unwrap();
    parsed.set_port(Some(proxy.addr.port())).unwrap();
    let schema = postgres::fresh_schema();
    let up = EchoUpstream::start("app").await;
    let sections = [
        oauth_sections(""),
        "[cache]\nttl = \"300s\"\n".to_string(),
        upstream_section("app", &up, ""),
        route("/api", "app", "required", ""),
    ]
    .concat();
    // B reaches the database through the cuttable proxy; A directly.
    let b = TestGatehouse::start_with_store(
        tempfile::tempdir().unwrap(),
        &postgres::store_section(parsed.as_str(), &schema, "connect_timeout = \"1s\""),
        &sections,
    );
    let a = TestGatehouse::start_with_store(
        tempfile::tempdir().unwrap(),
        &postgres::store_section(&url, &schema, ""),
        &sections,
    );

    b.sign_up("olga", "password123").await;
    let cached = b.login("olga", "password123").await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let revoked_meanwhile = b.login("olga", "password123").await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let uncached = b.login("olga", "password123").await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(b.get("/api/x", Some(&cached)).await.status(), 200);
    assert_eq!(
        b.get("/api/x", Some(&revoked_meanwhile)).await.status(),
        200
    );
    assert_eq!(b.ready_status().await, 200);

    proxy.cut();
    // Cached tokens keep working (until their entry expires); an uncached one cannot be
    // judged: 503, never 401, so that a client does not throw a good token away.
    assert_eq!(
        b.get("/api/x", Some(&cached)).await.status(),
        200,
        "served from the cache"
    );
    let r = b.get("/api/x", Some(&uncached)).await;
    assert_eq!(r.status(), 503);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "temporarily_unavailable");
    assert!(
        eventually(Duration::from_secs(10), || async {
            b.ready_status().await == 503
        })
        .await
    );
    let r = b
        .post_json(
            "/sign-up",
            &json!({"username": "newbie", "password": "password123", "client_id": LEGACY}),
        )
        .await;
    assert_eq!(r.status(), 503, "writes fail clearly");
    let r = b.post_json("/oauth/authorize", &json!({"username": "olga", "password": "password123", "grant_type": "password", "client_id": LEGACY})).await;
    assert_eq!(r.status(), 503);

    // Meanwhile A revokes a token B has cached; B cannot hear the notification.
    let r = a
        .post_form(
            "/oauth/revoke",
            &[("token", &revoked_meanwhile), ("client_id", LEGACY)],
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        b.get("/api/x", Some(&revoked_meanwhile)).await.status(),
        200,
        "B still trusts its cache"
    );

    proxy.restore();
    assert!(
        eventually(Duration::from_secs(15), || async {
            b.ready_status().await == 200
        })
        .await,
        "ready again"
    );
    assert!(
        eventually(Duration::from_secs(15), || async {
            b.get("/api/x", Some(&uncached)).await.status() == 200
        })
        .await
    );
    // On reconnecting, B's listener dropped its cache (it may have missed revocations).
    assert!(
        eventually(Duration::from_secs(15), || async {
            b.get("/api/x", Some(&revoked_meanwhile)).await.status() == 401
        })
        .await,
        "a revocation missed during the outage is honoured after it"
    );
    assert_eq!(b.get("/api/x", Some(&cached)).await.status(), 200);
    // Nothing half-written: the failed sign-up left no user, and it can be made now.
    let r = b
        .post_json(
            "/sign-up",
            &json!({"username": "newbie", "password": "password123", "client_id": LEGACY}),
        )
        .await;
    assert_eq!(r.status(), 201);
}
