//! Browser sessions (`on_missing = "sign_in"`), driven as a browser would over real HTTP
//! through the proxy to the real test upstream: follow the redirects, post the forms, keep the
//! cookies. Sign-in returns to the URL asked for; the cookie works and never reaches the
//! upstream; cross-site unsafe requests are refused; logout ends the session at once; return
//! URLs stay on the host; Bearer still wins; sessions expire (absolute and idle) and rotate.

use crate::support;

use gatehouse::Config;
use std::time::Duration;
use support::browser::Browser;
use support::oauth::*;
use support::*;

const COOKIE: &str = "gatehouse-session";
const PASSWORD: &str = "password123";

fn sections(up: &EchoUpstream, sessions: &str) -> String {
    format!(
        "{}{}{}{}\n{sessions}\n",
        oauth_sections(""),
        upstream_section("app", up, ""),
        route("/app", "app", "required", "on_missing = \"sign_in\""),
        route("/api", "app", "required", ""),
    )
}

async fn start(sessions: &str) -> (TestGatehouse, std::sync::Arc<EchoUpstream>, Browser) {
    let up = EchoUpstream::start("app").await;
    let gh = TestGatehouse::start(&sections(&up, sessions));
    gh.sign_up("alice", PASSWORD).await;
    let browser = Browser::new(gh.addr, &format!("localhost:{}", gh.addr.port()));
    (gh, up, browser)
}

#[tokio::test]
async fn sign_in_returns_to_the_original_url_and_the_cookie_works() {
    let (gh, up, mut b) = start("").await;
    b.jar.insert("theme".into(), "dark".into());

    let (page, hops) = b
        .sign_in_through("/app/dash?x=1&y=%2Fz", "alice", PASSWORD)
        .await;
    assert_eq!(
        hops,
        [
            "/oauth/sign-in?rd=%2Fapp%2Fdash%3Fx%3D1%26y%3D%252Fz",
            "/app/dash?x=1&y=%2Fz"
        ]
    );
    assert_eq!(page.status, 200, "{page:?}");
    let seen = up.last();
    assert_eq!(seen.uri, "/app/dash?x=1&y=%2Fz");
    assert_eq!(seen.header("x-auth-user-name"), Some("alice"));
    assert!(seen.header("x-auth-user-id").is_some());
    // The session cookie is Gatehouse's; the app's own cookies go on untouched.
    assert_eq!(seen.header_values("cookie"), ["theme=dark"]);
    assert!(!format!("{:?}", seen.headers).contains(COOKIE));

    // The cookie keeps working, for any path of the route; a pending sign-in's cookie (another
    // tab's) is Gatehouse's too and never reaches the app.
    b.jar.insert("gatehouse-authz".into(), "pending".into());
    let again = b.visit("/app/other").await;
    assert_eq!(again.status, 200);
    assert_eq!(up.last().header("x-auth-user-name"), Some("alice"));
    assert_eq!(up.last().header_values("cookie"), ["theme=dark"]);
    assert_eq!(
        gh.metric("gatehouse_tokens_issued_total{grant=\"session\"}")
            .await,
        1.0
    );

    // Only where sessions are asked for: a 401 route does not take the cookie.
    let api = b.visit("/api/x").await;
    assert_eq!(api.status, 401);
}

#[tokio::test]
async fn the_cookie_has_the_attributes_of_an_http_loopback_deployment() {
    let (_gh, _up, mut b) = start("[sessions]\nttl = \"2h\"\n").await;
    let form = b.visit("/oauth/sign-in?rd=/app").await;
    let posted = b
        .submit(
            "/oauth/sign-in",
            &[
                ("csrf_token", &form.csrf_token()),
                ("username", "alice"),
                ("password", PASSWORD),
            ],
        )
        .await;
    let cookie = posted.set_cookie(COOKIE).expect("session cookie");
    let value = cookie
        .split(';')
        .next()
        .unwrap()
        .trim_start_matches("gatehouse-session=");
    assert_eq!(value.len(), 43, "{cookie}");
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=7200"] {
        assert!(cookie.contains(attribute), "{attribute} missing: {cookie}");
    }
    assert!(
        !cookie.contains("Secure") && !cookie.contains("Domain"),
        "{cookie}"
    );
    // The pending sign-in's own cookie is cleared on the way back.
    assert!(posted
        .set_cookie("gatehouse-authz")
        .is_some_and(|c| c.contains("Max-Age=0")));
}

#[test]
fn https_public_url_gives_a_host_prefixed_secure_cookie_and_bad_config_names_its_key() {
    let base = |public_url: &str, extra: &str| {
        format!(
            "[server]\nlisten = \"127.0.0.1:0\"\npublic_url = \"{public_url}\"\nadmin_listen = \"127.0.0.1:0\"\n\
             [oauth]\n[[upstreams]]\nname = \"app\"\naddrs = [\"127.0.0.1:9\"]\n\
             [[routes]]\npath_prefix = \"/\"\nupstream = \"app\"\n{extra}"
        )
    };
    let https = Config::from_toml(
        &base(
            "https://app.example",
            "on_missing = \"sign_in\"\n[sessions]\ncookie_name = \"sid\"\n",
        ),
        "t",
    )
    .unwrap();
    assert_eq!(https.sessions.cookie_name, "__Host-sid");
    assert!(https.sessions.secure);
    let http = Config::from_toml(&base("http://localhost:8080", ""), "t").unwrap();
    assert_eq!(http.sessions.cookie_name, COOKIE);
    assert!(!http.sessions.secure);

    for (extra, key) in [
        (
            "auth = \"public\"\non_missing = \"sign_in\"\n",
            "routes[0].on_missing",
        ),
        (
            "auth = \"optional\"\non_missing = \"sign_in\"\n",
            "routes[0].on_missing",
        ),
        (
            "on_missing = \"sign_in\"\nscopes = [\"read\"]\n",
            "routes[0].on_missing",
        ),
        ("on_missing = \"302\"\n", "routes[0].on_missing"),
        (
            "[sessions]\ncookie_name = \"__Host-x\"\n",
            "sessions.cookie_name",
        ),
        (
            "[sessions]\ncookie_name = \"a b\"\n",
            "sessions.cookie_name",
        ),
        (
            "[sessions]\nttl = \"1h\"\nidle_ttl = \"2h\"\n",
            "sessions.idle_ttl",
        ),
        ("[sessions]\nttl = \"0s\"\n", "sessions.ttl"),
        ("[sessions]\nttl = \"soon\"\n", "sessions.ttl"),
        ("[sessions]\nidle = \"1h\"\n", "idle"),
    ] {
        let e = Config::from_toml(&base("http://localhost:8080", extra), "t")
            .unwrap_err()
            .to_string();
        assert!(e.contains(key), "{extra}: {e}");
    }
    let no_oauth =
        base("http://localhost:8080", "on_missing = \"sign_in\"\n").replace("[oauth]\n", "");
    let e = Config::from_toml(&no_oauth, "t").unwrap_err().to_string();
    assert!(
        e.contains("routes[0].on_missing") && e.contains("[oauth]"),
        "{e}"
    );
}

#[tokio::test]
async fn a_cross_site_post_is_refused_and_a_same_origin_one_passes() {
    let (_gh, up, mut b) = start("").await;
    b.sign_in_through("/app", "alice", PASSWORD).await;
    let before = up.count();
    let origin = b.origin();
    for headers in [
        vec![("origin", "http://evil.example")],
        vec![
            ("origin", "http://evil.example"),
            ("sec-fetch-site", "cross-site"),
        ],
        vec![("sec-fetch-site", "same-site")],
        vec![("origin", "null")],
        vec![],
    ] {
        for method in ["POST", "PUT", "PATCH", "DELETE"] {
            let page = b
                .send(method, "/app/items", &headers, Some(&[("a", "1")]))
                .await;
            assert_eq!(page.status, 403, "{method} {headers:?}: {page:?}");
            assert!(page.body.contains("forbidden"), "{}", page.body);
        }
    }
    assert_eq!(up.count(), before, "a refused request reached the upstream");
    for headers in [
        vec![("origin", origin.as_str())],
        vec![("sec-fetch-site", "same-origin")],
    ] {
        let page = b
            .send("POST", "/app/items", &headers, Some(&[("a", "1")]))
            .await;
        assert_eq!(page.status, 200, "{headers:?}: {page:?}");
    }
    assert_eq!(up.count(), before + 2);
    assert_eq!(up.last().method, "POST");
}

#[tokio::test]
async fn logout_ends_the_session_at_once() {
    let (_gh, _up, mut b) = start("").await;
    b.sign_in_through("/app", "alice", PASSWORD).await;
    // Warm the cache: the revocation must not wait for the entry to expire.
    assert_eq!(b.visit("/app/a").await.status, 200);
    assert_eq!(b.visit("/app/a").await.status, 200);
    let stolen = b.jar.get(COOKIE).cloned().expect("session cookie");

    let out = b.visit("/oauth/logout").await;
    assert_eq!(out.status, 200, "{out:?}");
    assert!(out.body.contains("Signed out"));
    assert!(out
        .set_cookie(COOKIE)
        .is_some_and(|c| c.contains("Max-Age=0")));
    assert!(!b.jar.contains_key(COOKIE));

    // The old value, replayed, is refused: the browser is sent to sign in again.
    b.jar.insert(COOKIE.into(), stolen);
    let page = b.visit("/app/a").await;
    assert_eq!(page.status, 302);
    assert!(page.location.unwrap().starts_with("/oauth/sign-in?rd="));
}

#[tokio::test]
async fn a_sign_out_started_by_another_site_only_asks() {
    let (_gh, _up, mut b) = start("").await;
    b.sign_in_through("/app", "alice", PASSWORD).await;
    let asked = b
        .send(
            "GET",
            "/oauth/logout?rd=/app",
            &[("accept", "text/html"), ("sec-fetch-site", "cross-site")],
            None,
        )
        .await;
    assert_eq!(asked.status, 200);
    assert!(asked.body.contains("Sign out?") && asked.body.contains("<form"));
    assert!(asked.set_cookies.is_empty());
    assert_eq!(b.visit("/app").await.status, 200, "still signed in");

    // Its form, posted from elsewhere, is refused; from this origin it signs out and goes back.
    let forged = b
        .send(
            "POST",
            "/oauth/logout",
            &[("origin", "http://evil.example")],
            Some(&[("rd", "/app")]),
        )
        .await;
    assert_eq!(forged.status, 403);
    assert_eq!(b.visit("/app").await.status, 200, "still signed in");
    let out = b.submit("/oauth/logout", &[("rd", "/app")]).await;
    assert_eq!(out.status, 303);
    assert_eq!(out.location.as_deref(), Some("/app"));
    assert_eq!(b.visit("/app").await.status, 302);
}

#[tokio::test]
async fn a_return_url_on_another_host_is_refused() {
    let (_gh, _up, mut b) = start("").await;
    let port = b.addr.port();
    for rd in [
        "http://evil.example/".to_string(),
        "//evil.example/x".into(),
        "/\\evil.example".into(),
        "https:evil.example".into(),
        format!("http://localhost:{port}@evil.example/"),
        format!("http://localhost:{port}.evil.example/"),
        "http://localhost/".into(),
        "/.//evil.example".into(),
        "javascript:alert(1)".into(),
    ] {
        let encoded: String = url::form_urlencoded::byte_serialize(rd.as_bytes()).collect();
        for path in [
            format!("/oauth/sign-in?rd={encoded}"),
            format!("/oauth/logout?rd={encoded}"),
        ] {
            let page = b.visit(&path).await;
            assert_eq!(page.status, 400, "{rd}: {page:?}");
            assert!(page.location.is_none(), "{rd}");
            assert!(page.body.contains("Invalid return address"), "{rd}");
        }
    }
    // The same origin, spelled absolutely, comes back as a path.
    let form = b
        .visit(&format!("/oauth/sign-in?rd=http://localhost:{port}/app/x"))
        .await;
    assert_eq!(form.status, 200);
    let posted = b
        .submit(
            "/oauth/sign-in",
            &[
                ("csrf_token", &form.csrf_token()),
                ("username", "alice"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(posted.location.as_deref(), Some("/app/x"));
}

#[tokio::test]
async fn bearer_still_wins_and_non_browsers_get_401() {
    let (gh, up, mut b) = start("").await;
    let token = gh.issue("api-user", &[]).await;
    let html = "text/html,*/*";
    let auth = format!("Bearer {token}");
    let page = b
        .send(
            "GET",
            "/app/x",
            &[("accept", html), ("authorization", &auth)],
            None,
        )
        .await;
    assert_eq!(page.status, 200, "{page:?}");
    assert_eq!(up.last().header("x-auth-user-id"), Some("api-user"));
    // A bad token is judged as a token, never redirected.
    let page = b
        .send(
            "GET",
            "/app/x",
            &[("accept", html), ("authorization", "Bearer nope")],
            None,
        )
        .await;
    assert_eq!(page.status, 401);
    assert!(page.location.is_none());

    for (method, accept) in [
        ("GET", "application/json"),
        ("GET", "*/*"),
        ("POST", html),
        ("DELETE", html),
    ] {
        let page = b.send(method, "/app/x", &[("accept", accept)], None).await;
        assert_eq!(page.status, 401, "{method} {accept}");
        assert!(page.location.is_none());
        assert!(page.body.contains("invalid_request"), "{}", page.body);
    }
    assert_eq!(b.visit("/app/x").await.status, 302);
}

#[tokio::test]
async fn sign_in_rotates_the_session() {
    let (_gh, _up, mut b) = start("").await;
    // A value planted beforehand (session fixation) is never adopted.
    b.jar.insert(COOKIE.into(), "a".repeat(43));
    b.sign_in_through("/app", "alice", PASSWORD).await;
    let first = b.jar.get(COOKIE).cloned().unwrap();
    assert_ne!(first, "a".repeat(43));
    assert_eq!(b.visit("/app").await.status, 200);

    let form = b.visit("/oauth/sign-in?rd=/app").await;
    b.submit(
        "/oauth/sign-in",
        &[
            ("csrf_token", &form.csrf_token()),
            ("username", "alice"),
            ("password", PASSWORD),
        ],
    )
    .await;
    let second = b.jar.get(COOKIE).cloned().unwrap();
    assert_ne!(first, second);
    assert_eq!(b.visit("/app").await.status, 200);
    b.jar.insert(COOKIE.into(), first);
    assert_eq!(
        b.visit("/app").await.status,
        302,
        "the old session still works"
    );
}

#[tokio::test]
async fn a_wrong_password_shows_the_form_again_and_sets_no_session() {
    let (_gh, _up, mut b) = start("").await;
    let form = b.visit("/oauth/sign-in?rd=/app").await;
    let again = b
        .submit(
            "/oauth/sign-in",
            &[
                ("csrf_token", &form.csrf_token()),
                ("username", "alice"),
                ("password", "wrong-password"),
            ],
        )
        .await;
    assert_eq!(again.status, 200);
    assert!(again.body.contains("incorrect"));
    assert!(again.set_cookie(COOKIE).is_none());
    assert_eq!(b.visit("/app").await.status, 302);
}

#[tokio::test]
async fn an_idle_session_ends() {
    let (_gh, _up, mut b) = start("[sessions]\nttl = \"1h\"\nidle_ttl = \"2s\"\n").await;
    b.sign_in_through("/app", "alice", PASSWORD).await;
    // Used within the idle time, it lives on past it.
    for _ in 0..3 {
        assert_eq!(b.visit("/app").await.status, 200);
        tokio::time::sleep(Duration::from_millis(900)).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let page = b.visit("/app").await;
    assert_eq!(page.status, 302, "{page:?}");
}

#[tokio::test]
async fn a_session_ends_at_its_absolute_lifetime_however_busy() {
    let (_gh, _up, mut b) = start("[sessions]\nttl = \"3s\"\nidle_ttl = \"3s\"\n").await;
    b.sign_in_through("/app", "alice", PASSWORD).await;
    let mut refused = false;
    // Used every half second; refused once the three seconds are over, never later than that.
    for _ in 0..12 {
        if b.visit("/app").await.status == 302 {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(refused, "the session outlived its ttl");
    assert_eq!(b.visit("/app").await.status, 302);
}

#[tokio::test]
async fn deleting_the_user_ends_their_sessions_at_once() {
    let (gh, _up, mut b) = start("").await;
    let bob = gh.sign_up("bob", PASSWORD).await;
    let id = bob["user"]["id"].to_string();
    b.sign_in_through("/app", "bob", PASSWORD).await;
    assert_eq!(b.visit("/app").await.status, 200);
    let admin = gh.admin_token().await;
    let deleted = gh
        .client
        .delete(gh.url(&format!("/users/{id}")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    assert_eq!(b.visit("/app").await.status, 302);
}

/// Two replicas on one PostgreSQL schema, each caching for 300 s: a logout on A reaches B's
/// cache through LISTEN/NOTIFY, so the session stops working there too, long before its cache
/// entry would expire.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_on_one_replica_reaches_the_other() {
    let url = postgres::url("sessions::logout_on_one_replica_reaches_the_other").await;
    let schema = postgres::fresh_schema();
    let up = EchoUpstream::start("app").await;
    let sections = format!("{}[cache]\nttl = \"300s\"\n", sections(&up, ""));
    let store = postgres::store_section(&url, &schema, "");
    let a = TestGatehouse::start_with_store(tempfile::tempdir().unwrap(), &store, &sections);
    let b = TestGatehouse::start_with_store(tempfile::tempdir().unwrap(), &store, &sections);
    a.sign_up("alice", PASSWORD).await;
    let mut on_a = Browser::new(a.addr, &format!("localhost:{}", a.addr.port()));
    on_a.sign_in_through("/app", "alice", PASSWORD).await;
    let cookie = on_a.jar.get(COOKIE).cloned().unwrap();
    let mut on_b = Browser::new(b.addr, &format!("localhost:{}", b.addr.port()));
    on_b.jar.insert(COOKIE.into(), cookie);
    assert_eq!(on_b.visit("/app").await.status, 200, "B knows the session");
    assert_eq!(on_b.visit("/app").await.status, 200, "and has it cached");

    assert_eq!(on_a.visit("/oauth/logout").await.status, 200);
    let refused = eventually(Duration::from_secs(10), || {
        let b = &b;
        let cookie = on_b.jar.get(COOKIE).cloned().unwrap();
        async move {
            let mut fresh = Browser::new(b.addr, &format!("localhost:{}", b.addr.port()));
            fresh.jar.insert(COOKIE.into(), cookie);
            fresh.visit("/app").await.status == 302
        }
    })
    .await;
    assert!(refused, "B still accepts the session A signed out");
}
