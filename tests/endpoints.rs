//! The endpoint table of Gatehouse's own services: 405 with `Allow` derived from the table,
//! the configured realm on every 401 (routes and built-ins alike), repeated parameters
//! refused (RFC 6749 §3.1), and `check-config` refusing a route that shadows a built-in.

use crate::support;

use serde_json::Value;
use std::process::Command;
use support::fake_facebook::{FakeFacebook, APP_ID, APP_SECRET};
use support::oauth::*;
use support::*;

const KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

async fn everything(realm: &str) -> (TestGatehouse, std::sync::Arc<EchoUpstream>) {
    let up = EchoUpstream::start("app").await;
    let fb = FakeFacebook::start().await;
    let sections = format!(
        "{}\n[tokens]\nrealm = \"{realm}\"\n\
         [facebook]\napp_id = \"{APP_ID}\"\napp_secret = \"{APP_SECRET}\"\ndialog_url = \"{base}\"\n\
         graph_url = \"{base}\"\napi_version = \"v21.0\"\nscopes = [\"pages_show_list\"]\n\
         integrator_origins = [\"https://btask.example.net\"]\ntoken_encryption_key = \"{KEY}\"\n\
         timeout = \"1s\"\n{}{}{}",
        oauth_sections(""),
        upstream_section("app", &up, ""),
        route("/api", "app", "required", ""),
        route("/echo", "handler:echo", "required", ""),
        base = fb.base_url
    );
    (TestGatehouse::start(&sections), up)
}

fn header(r: &reqwest::Response, name: &str) -> String {
    r.headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_method_on_a_known_path_is_405_with_allow() {
    let (gh, _up) = everything("gatehouse").await;
    let cases = [
        (reqwest::Method::GET, "/oauth/token", "POST"),
        (reqwest::Method::PUT, "/oauth/authorize", "POST, GET"),
        (reqwest::Method::DELETE, "/oauth/consent", "GET, POST"),
        (reqwest::Method::GET, "/sign-up", "POST"),
        (reqwest::Method::POST, "/users/1", "GET, DELETE"),
        (reqwest::Method::PUT, "/facebook/start-token", "POST"),
        (
            reqwest::Method::PUT,
            "/social-media-posting/oauth/facebook/data-deletion",
            "POST, GET",
        ),
    ];
    for (method, path, allow) in cases {
        let r = gh
            .client
            .request(method.clone(), gh.url(path))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 405, "{method} {path}");
        assert_eq!(header(&r, "allow"), allow, "{method} {path}");
        // Each in its endpoint's contract: JSON for the APIs, a page for the browser forms.
        if header(&r, "content-type").starts_with("application/json") {
            let body: Value = r.json().await.unwrap();
            assert_eq!(body["error"], "invalid_request", "{method} {path}");
        } else {
            assert!(header(&r, "content-type").starts_with("text/html"));
        }
    }

    // The connected-accounts API answers in seed 003's shape, Allow included.
    let r = gh
        .client
        .delete(gh.url("/facebook/accounts/ffffffffffffffffffffffff"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    assert_eq!(header(&r, "allow"), "GET, POST");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["statusCode"], 405);
    assert_eq!(body["error"], "Method Not Allowed");

    // A path no endpoint declares is a 404, not a 405.
    let r = gh
        .client
        .get(gh.url("/oauth/nothing"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert!(r.headers().get("allow").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_401_carries_the_configured_realm() {
    let (gh, _up) = everything("pitchtarget").await;
    let bearer = "Bearer realm=\"pitchtarget\"";
    // Proxied route, the echo handler, the admin users API, Facebook: no token.
    for path in [
        "/api/x",
        "/echo/x",
        "/users",
        "/facebook/oauth_dialog?redirect_uri=https%3A%2F%2Fbtask.example.net",
        "/facebook/start",
        "/facebook/accounts/ffffffffffffffffffffffff",
    ] {
        let r = gh.get(path, None).await;
        assert_eq!(r.status(), 401, "{path}");
        assert!(
            header(&r, "www-authenticate").starts_with(bearer),
            "{path}: {}",
            header(&r, "www-authenticate")
        );
    }
    // A bad token on a built-in, and a bad token on a route.
    for path in [
        "/users/1",
        "/api/x",
        "/facebook/accounts/ffffffffffffffffffffffff",
    ] {
        let r = gh.get(path, Some("not-a-real-token")).await;
        assert_eq!(r.status(), 401, "{path}");
        assert!(header(&r, "www-authenticate").starts_with(bearer), "{path}");
    }
    let r = gh
        .client
        .post(gh.url("/facebook/start-token"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(header(&r, "www-authenticate").starts_with(bearer));

    // Client authentication failures use Basic with the same realm.
    let r = gh
        .client
        .post(gh.url("/oauth/token"))
        .basic_auth(SERVICE, Some("wrong"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(
        header(&r, "www-authenticate"),
        "Basic realm=\"pitchtarget\""
    );

    // Facebook's decisions are counted with everyone else's.
    let missing = gh
        .metric("gatehouse_auth_decisions_total{result=\"missing\"}")
        .await;
    assert!(missing >= 5.0, "missing decisions counted: {missing}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_parameters_are_refused() {
    let (gh, _up) = everything("gatehouse").await;
    let r = gh
        .client
        .post(gh.url("/oauth/token"))
        .basic_auth(SERVICE, Some(SERVICE_SECRET))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials&grant_type=client_credentials")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(header(&r, "cache-control"), "no-store");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("repeated"),
        "{body}"
    );

    // The same request once is fine.
    let r = gh
        .client
        .post(gh.url("/oauth/token"))
        .basic_auth(SERVICE, Some(SERVICE_SECRET))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // In the authorization request's query too: an error page, never a redirect.
    let r = gh
        .get(
            &format!("/oauth/authorize?client_id={WEB}&client_id={WEB}&response_type=code"),
            None,
        )
        .await;
    assert_eq!(r.status(), 400);
    assert!(r.headers().get("location").is_none());
    assert!(header(&r, "content-type").starts_with("text/html"));
}

fn check(text: &str) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("g.toml");
    std::fs::write(&path, text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args(["check-config", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout),
    )
}

const BASE: &str = r#"
[server]
listen = "127.0.0.1:18998"
public_url = "http://localhost:18998"
admin_listen = "127.0.0.1:19998"
[[upstreams]]
name = "app"
addrs = ["127.0.0.1:3000"]
[[routes]]
path_prefix = "/"
upstream = "app"
[oauth]
"#;

#[test]
fn check_config_refuses_a_route_shadowing_a_builtin() {
    assert!(check(BASE).0, "{}", check(BASE).1);
    let shadowing = [
        // A host-specific `/` wins over the host-less built-ins on that host.
        (
            format!("{BASE}\n[[routes]]\nhost = \"api.example.com\"\npath_prefix = \"/\"\nupstream = \"app\"\n"),
            "POST /oauth/token",
        ),
        // A longer prefix wins over `/oauth`.
        (
            format!("{BASE}\n[[routes]]\npath_prefix = \"/oauth/token\"\nupstream = \"app\"\n"),
            "POST /oauth/token",
        ),
        (
            format!("{BASE}\n[[routes]]\nhost = \"id.example.com\"\npath_prefix = \"/.well-known\"\nupstream = \"app\"\n"),
            "GET /.well-known/oauth-authorization-server",
        ),
    ];
    for (text, needle) in shadowing {
        let (ok, out) = check(&text);
        assert!(!ok, "should fail: {needle}");
        assert!(
            out.contains(needle),
            "message should name `{needle}`: {out}"
        );
        assert!(out.contains("shadow"), "{out}");
    }
    // A host-specific route beside the built-ins, not over them, is fine.
    let fine = format!(
        "{BASE}\n[[routes]]\nhost = \"api.example.com\"\npath_prefix = \"/api\"\nupstream = \"app\"\n"
    );
    assert!(check(&fine).0, "{}", check(&fine).1);
}

/// Issue 9 part 2: client authentication is a decision like a token check, and counted with
/// them (the proxy cannot make it: the credentials may sit in the body).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_authentication_decisions_are_counted() {
    let (gh, _up) = everything("gatehouse").await;
    let count = |result: &'static str| {
        let gh = &gh;
        async move {
            gh.metric(&format!(
                "gatehouse_auth_decisions_total{{result=\"{result}\"}}"
            ))
            .await
        }
    };
    let (ok, invalid, malformed) = (
        count("ok").await,
        count("invalid").await,
        count("malformed").await,
    );
    for (secret, status) in [(SERVICE_SECRET, 200), ("wrong", 401), ("wrong", 401)] {
        let r = gh
            .post_form_basic(
                "/oauth/token",
                SERVICE,
                secret,
                &[("grant_type", "client_credentials")],
            )
            .await;
        assert_eq!(r.status(), status);
    }
    // Basic and a body secret at once: malformed.
    let r = gh
        .post_form_basic(
            "/oauth/token",
            SERVICE,
            SERVICE_SECRET,
            &[
                ("grant_type", "client_credentials"),
                ("client_secret", SERVICE_SECRET),
            ],
        )
        .await;
    assert_eq!(r.status(), 400);
    assert_eq!(count("ok").await, ok + 1.0);
    assert_eq!(count("invalid").await, invalid + 2.0);
    assert_eq!(count("malformed").await, malformed + 1.0);
}
