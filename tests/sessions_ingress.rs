//! Browser sessions in forward-auth mode, through a real nginx (`auth_request`) and a real
//! Caddy (`forward_auth`) set up as the README's "Browser sessions" section says: a browser without a session is redirected to the
//! sign-in page on the app's own host, signs in there (nginx passes `/oauth/` to Gatehouse),
//! comes back, and the session cookie is then accepted by the decision endpoint, while the
//! upstream behind nginx never sees it. API clients still get their 401 and challenge.

use crate::support;

use support::browser::Browser;
use support::ingress::Ingress;
use support::oauth::*;
use support::*;

const TRUSTED: &str = "trusted_proxies = [\"127.0.0.1\"]";

/// The whole loop through `ingress`; `sign_in_at` is where the first redirect points, given
/// the ingress's address.
async fn sessions_through(
    start_ingress: fn(std::net::SocketAddr, std::net::SocketAddr) -> Ingress,
    sign_in_at: fn(&Ingress) -> String,
) {
    let up = EchoUpstream::start("app").await;
    let sections = format!(
        "{}[forward_auth]\n[[routes]]\npath_prefix = \"/app\"\non_missing = \"sign_in\"\n",
        oauth_sections("")
    );
    let gh = TestGatehouse::start_with_server(TRUSTED, &sections);
    gh.sign_up("alice", "password123").await;
    let ingress = start_ingress(gh.addr, up.addr);
    let mut b = Browser::new(ingress.addr, &format!("localhost:{}", ingress.addr.port()));
    b.jar.insert("theme".into(), "dark".into());

    // No session: redirected to the sign-in page on the app's own host.
    let first = b.visit("/app/dash?x=1").await;
    assert_eq!(first.status, 302, "{first:?}\n{}", ingress.log());
    assert_eq!(first.location, Some(sign_in_at(&ingress)));
    assert_eq!(up.count(), 0);

    let (page, _) = b
        .sign_in_through(
            "/oauth/sign-in?rd=%2Fapp%2Fdash%3Fx%3D1",
            "alice",
            "password123",
        )
        .await;
    assert_eq!(page.status, 200, "{page:?}\n{}", ingress.log());
    let seen = up.last();
    assert_eq!(seen.uri, "/app/dash?x=1");
    assert_eq!(seen.header("x-auth-user-name"), Some("alice"));
    // The app's own cookies arrive; the session does not.
    assert_eq!(
        seen.header_values("cookie"),
        ["theme=dark"],
        "{:?}",
        seen.headers
    );

    // A cross-site POST with the cookie is refused by the decision, so by the ingress.
    let before = up.count();
    let post = b
        .send(
            "POST",
            "/app/items",
            &[("origin", "http://evil.example")],
            Some(&[("a", "1")]),
        )
        .await;
    assert_eq!(post.status, 403);
    assert_eq!(up.count(), before);

    // An API client without a token gets the 401 and its challenge, not a redirect.
    let api = gh
        .client
        .get(ingress.url("/app/x"))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), 401);
    assert!(api.headers().get("location").is_none());
    assert!(api
        .headers()
        .get("www-authenticate")
        .is_some_and(|v| v.to_str().unwrap().starts_with("Bearer")));

    // Logout through the ingress ends it.
    let out = b.visit("/oauth/logout?rd=/app").await;
    assert_eq!(out.status, 303);
    assert_eq!(b.visit("/app").await.status, 302);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_redirects_to_sign_in_and_accepts_the_session_cookie() {
    // nginx turns the decision's 401 + X-Gatehouse-Sign-In into an absolute redirect.
    sessions_through(Ingress::nginx_sessions, |i| {
        format!(
            "http://localhost:{}/oauth/sign-in?rd=%2Fapp%2Fdash%3Fx%3D1",
            i.addr.port()
        )
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caddy_redirects_to_sign_in_and_accepts_the_session_cookie() {
    // Caddy hands the decision's own 302 to the browser.
    sessions_through(Ingress::caddy_sessions, |_| {
        "/oauth/sign-in?rd=%2Fapp%2Fdash%3Fx%3D1".to_string()
    })
    .await;
}

/// Traefik, Caddy and Envoy pass a refusal through as it is: the decision answers the 302
/// itself (a relative `Location`, on the browser's host), and 200 with the identity once the
/// cookie is there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_decision_endpoint_redirects_other_ingresses_with_a_302() {
    let sections = format!(
        "{}[forward_auth]\n[[routes]]\npath_prefix = \"/app\"\non_missing = \"sign_in\"\n",
        oauth_sections("")
    );
    let gh = TestGatehouse::start_with_server(TRUSTED, &sections);
    gh.sign_up("alice", "password123").await;
    let decide = |cookie: Option<String>| {
        let mut req = gh
            .client
            .get(gh.url("/_gatehouse/auth"))
            .header("x-forwarded-uri", "/app/x?y=1")
            .header("x-forwarded-method", "GET")
            .header("x-forwarded-host", "app.test")
            .header("accept", "text/html");
        if let Some(c) = cookie {
            req = req.header("cookie", c);
        }
        req.send()
    };
    let r = decide(None).await.unwrap();
    assert_eq!(r.status(), 302);
    assert_eq!(
        r.headers()["location"],
        "/oauth/sign-in?rd=%2Fapp%2Fx%3Fy%3D1"
    );

    let mut b = Browser::new(gh.addr, "app.test");
    b.sign_in_through("/oauth/sign-in?rd=/app", "alice", "password123")
        .await;
    let session = b.jar.get("gatehouse-session").cloned().unwrap();
    let r = decide(Some(format!("a=1; gatehouse-session={session}")))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-auth-user-name"], "alice");
    assert_eq!(r.headers()["x-gatehouse-cookie"], "a=1");
}
