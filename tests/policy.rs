//! Route policies (issue 15 part 1) over real HTTP: the contract's example exactly as the issue
//! writes it, every condition kind allowing and denying, rule order and the default deny,
//! `*` and `**` on normalized paths, source addresses with and without a trusted proxy,
//! decisions re-checked on cache hits, the decision metric, and `check-config --explain`.

use crate::support;

use gatehouse::auth::NewToken;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use std::time::Duration;
use support::*;

const SECRET: &str = "policy-test-secret-policy-test-secret";
const ISSUER: &str = "https://issuer.example";

fn jwt(claims: Value) -> String {
    let mut c = claims;
    let now = gatehouse::store::now_unix();
    c["iat"] = json!(now);
    c["exp"] = json!(now + 600);
    c["iss"] = json!(ISSUER);
    c["aud"] = json!("policy-api");
    encode(
        &Header::new(Algorithm::HS256),
        &c,
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap()
}

fn jwt_section() -> String {
    format!("[[jwt.issuers]]\nissuer = \"{ISSUER}\"\naudiences = [\"policy-api\"]\nalgorithms = [\"HS256\"]\nsecret = \"{SECRET}\"\n")
}

async fn opaque(
    gh: &TestGatehouse,
    user: &str,
    scopes: &[&str],
    client: &str,
    admin: bool,
) -> String {
    gh.issue_with(
        NewToken {
            user_id: Some(user.into()),
            user_name: None,
            client_id: Some(client.into()),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            admin,
            groups: vec![],
        },
        Duration::from_secs(3600),
    )
    .await
}

async fn send(
    gh: &TestGatehouse,
    method: &str,
    path: &str,
    token: Option<&str>,
) -> reqwest::Response {
    let mut req = gh.client.request(method.parse().unwrap(), gh.url(path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.unwrap()
}

/// The contract of issue 15, byte for byte, behind a recording upstream named `legacy`.
const CONTRACT: &str = r#"
[[policies]]
name = "editors"
rules = [
  { deny  = { method = ["DELETE"] } },
  { allow = { all = [ { scopes = ["write"] }, { claim = "groups", any_of = ["editors", "admins"] } ] } },
  { allow = { all = [ { method = ["GET", "HEAD"] }, { path = "/docs/*" } ] } },
]                                   # no rule matched: deny (403 access_denied)

[[rate_limits]]
name = "per-user"
key = "user"                        # user | client | address | route
rate = "5/s"                        # N/s, N/m or N/h
burst = 5

[[routes]]
name = "docs"
path_prefix = "/docs"
upstream = "legacy"
policy = "editors"
rate_limit = "per-user"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_contract_example_works_as_written() {
    let up = EchoUpstream::start("legacy").await;
    let gh = TestGatehouse::start(&format!(
        "{}{}{CONTRACT}",
        jwt_section(),
        upstream_section("legacy", &up, "")
    ));
    let editor = jwt(json!({"sub": "ed", "scope": "read write", "groups": ["staff", "editors"]}));
    let admin_group = jwt(json!({"sub": "ad", "scope": "write", "groups": "admins"}));
    let writer_no_group = opaque(&gh, "w", &["read", "write"], "app", false).await;
    let group_no_write = jwt(json!({"sub": "g", "scope": "read", "groups": ["editors"]}));
    let reader = opaque(&gh, "r", &["read"], "app", false).await;

    // (method, path, token, status, deciding rule)
    let cases: Vec<(&str, &str, Option<&str>, u16)> = vec![
        ("DELETE", "/docs/a", Some(&editor), 403),
        ("POST", "/docs/a", Some(&editor), 200),
        ("POST", "/docs/a/b/c", Some(&admin_group), 200),
        ("POST", "/docs/a", Some(&writer_no_group), 403),
        ("POST", "/docs/a", Some(&group_no_write), 403),
        ("GET", "/docs/a", Some(&reader), 200),
        ("HEAD", "/docs/a", Some(&reader), 200),
        ("GET", "/docs/a/b", Some(&reader), 403),
        ("GET", "/docs", Some(&reader), 403),
        ("PUT", "/docs/a", Some(&reader), 403),
        ("GET", "/docs/a/../b", Some(&reader), 200),
        ("GET", "/docs/a/b/..", Some(&reader), 200),
        ("GET", "/docs/x/y/../../z/w", Some(&reader), 403),
        ("GET", "/docs/a/", Some(&reader), 200),
        ("GET", "/docs/a", None, 401),
    ];
    for (method, path, token, want) in &cases {
        // Each user stays within its 5/s bucket: the reader makes most requests, so give the
        // bucket time to refill between them without asserting on time.
        let mut r = send(&gh, method, path, *token).await;
        while r.status() == 429 {
            tokio::time::sleep(Duration::from_millis(250)).await;
            r = send(&gh, method, path, *token).await;
        }
        assert_eq!(r.status().as_u16(), *want, "{method} {path}");
        if *want == 403 {
            let body: Value = r.json().await.unwrap();
            assert_eq!(body["error"], "access_denied", "{method} {path}");
            let text = body.to_string();
            assert!(!text.contains("editors"), "the rule leaked: {text}");
        } else if *want == 200 {
            assert_eq!(
                r.headers()["ratelimit-policy"].to_str().unwrap(),
                "\"per-user\";q=5;w=1"
            );
            let state = r.headers()["ratelimit"].to_str().unwrap();
            assert!(state.starts_with("\"per-user\";r="), "{state}");
        }
    }
    let m = gh.metrics_text().await;
    for (rule, result, at_least) in [
        ("editors#0", "deny", 1.0),
        ("editors#1", "allow", 2.0),
        ("editors#2", "allow", 5.0),
        ("editors#default", "deny", 5.0),
    ] {
        let series = format!(
            "gatehouse_policy_decisions_total{{result=\"{result}\",route=\"docs\",rule=\"{rule}\"}}"
        );
        let v = metric_value(&m, &series);
        assert!(v >= at_least, "{series} = {v}\n{m}");
    }
}

/// One route per condition kind, each with an inline policy; a table of requests that the
/// condition must let through or refuse.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_condition_kind_allows_and_denies() {
    let up = EchoUpstream::start("app").await;
    let port = free_port();
    let local = format!("http://localhost:{port}");
    let r = |prefix: &str, auth: &str, policy: &str| {
        format!(
            "[[routes]]\npath_prefix = \"{prefix}\"\nupstream = \"app\"\nauth = \"{auth}\"\npolicy = {policy}\n"
        )
    };
    let routes = [
        r("/scopes-all", "required", r#"[{ allow = { scopes = ["a", "b"] } }]"#),
        r("/scopes-any", "required", r#"[{ allow = { any_scope = ["a", "b"] } }]"#),
        r("/claim-eq", "required", r#"[{ allow = { claim = "dept", equals = "eng" } }]"#),
        r("/claim-any", "required", r#"[{ allow = { claim = "groups", any_of = ["x", "y"] } }]"#),
        r("/claim-glob", "required", r#"[{ allow = { claim = "email", glob = "*@example.com" } }]"#),
        r("/client", "required", r#"[{ allow = { client_id = ["app-a"] } }]"#),
        r("/issuer-ext", "required", &format!("[{{ allow = {{ issuer = \"{ISSUER}\" }} }}]")),
        r("/issuer-local", "required", &format!("[{{ allow = {{ issuer = \"{local}\" }} }}]")),
        r("/admin", "required", r#"[{ allow = { admin = true } }]"#),
        r("/authn", "optional", r#"[{ allow = { authenticated = true } }]"#),
        r("/anon", "optional", r#"[{ allow = { authenticated = false } }]"#),
        r("/method", "required", r#"[{ allow = { method = "GET" } }]"#),
        r("/one", "required", r#"[{ allow = { path = "/one/*/edit" } }]"#),
        r("/many", "required", r#"[{ allow = { path = "/many/**/edit" } }]"#),
        r("/addr-local", "required", r#"[{ allow = { address = ["127.0.0.0/8"] } }]"#),
        r("/addr-other", "required", r#"[{ allow = { address = "10.0.0.0/8" } }]"#),
        r("/all", "required", r#"[{ allow = { all = [{ scopes = ["a"] }, { method = ["GET"] }] } }]"#),
        r("/any", "required", r#"[{ allow = { any = [{ scopes = ["a"] }, { client_id = "app-b" }] } }]"#),
        r("/not", "required", r#"[{ allow = { not = { client_id = "app-a" } } }]"#),
        r(
            "/order",
            "required",
            r#"[{ name = "no-posts", deny = { method = "POST" } }, { allow = { method = ["GET", "POST"] } }]"#,
        ),
        r("/public-get", "public", r#"[{ allow = { method = "GET" } }]"#),
    ]
    .concat();
    let gh = TestGatehouse::start_at(
        port,
        "",
        &format!(
            "{}{}{routes}",
            jwt_section(),
            upstream_section("app", &up, "")
        ),
    );
    let ab = opaque(&gh, "u1", &["a", "b"], "app-a", false).await;
    let a = opaque(&gh, "u2", &["a"], "app-a", false).await;
    let none = opaque(&gh, "u3", &[], "app-b", false).await;
    let admin = opaque(&gh, "u4", &[], "app-a", true).await;
    let ext = jwt(
        json!({"sub": "j1", "scope": "", "dept": "eng", "groups": ["y", "z"], "email": "j@example.com"}),
    );
    let ext_other = jwt(
        json!({"sub": "j2", "scope": "b", "dept": "ops", "groups": "q", "email": "j@example.com.evil"}),
    );

    let t = |s: &str| Some(s.to_string());
    let cases: Vec<(&str, &str, Option<String>, u16)> = vec![
        ("GET", "/scopes-all/x", t(&ab), 200),
        ("GET", "/scopes-all/x", t(&a), 403),
        ("GET", "/scopes-any/x", t(&a), 200),
        ("GET", "/scopes-any/x", t(&none), 403),
        ("GET", "/scopes-any/x", t(&ext_other), 200),
        ("GET", "/claim-eq/x", t(&ext), 200),
        ("GET", "/claim-eq/x", t(&ext_other), 403),
        ("GET", "/claim-eq/x", t(&ab), 403),
        ("GET", "/claim-any/x", t(&ext), 200),
        ("GET", "/claim-any/x", t(&ext_other), 403),
        ("GET", "/claim-glob/x", t(&ext), 200),
        ("GET", "/claim-glob/x", t(&ext_other), 403),
        ("GET", "/client/x", t(&ab), 200),
        ("GET", "/client/x", t(&none), 403),
        ("GET", "/issuer-ext/x", t(&ext), 200),
        ("GET", "/issuer-ext/x", t(&ab), 403),
        ("GET", "/issuer-local/x", t(&ab), 200),
        ("GET", "/issuer-local/x", t(&ext), 403),
        ("GET", "/admin/x", t(&admin), 200),
        ("GET", "/admin/x", t(&ab), 403),
        ("GET", "/authn/x", t(&none), 200),
        ("GET", "/authn/x", None, 403),
        ("GET", "/anon/x", None, 200),
        ("GET", "/anon/x", t(&none), 403),
        ("GET", "/method/x", t(&none), 200),
        ("POST", "/method/x", t(&none), 403),
        ("GET", "/one/7/edit", t(&none), 200),
        ("GET", "/one/7/8/edit", t(&none), 403),
        ("GET", "/one/7/x/../edit", t(&none), 200),
        ("GET", "/many/edit", t(&none), 200),
        ("GET", "/many/7/8/edit", t(&none), 200),
        ("GET", "/many/7/8/edit/../view", t(&none), 403),
        ("GET", "/addr-local/x", t(&none), 200),
        ("GET", "/addr-other/x", t(&none), 403),
        ("GET", "/all/x", t(&a), 200),
        ("POST", "/all/x", t(&a), 403),
        ("GET", "/all/x", t(&none), 403),
        ("GET", "/any/x", t(&a), 200),
        ("GET", "/any/x", t(&none), 200),
        ("GET", "/any/x", t(&ext), 403),
        ("GET", "/not/x", t(&none), 200),
        ("GET", "/not/x", t(&ab), 403),
        ("GET", "/order/x", t(&none), 200),
        ("POST", "/order/x", t(&none), 403),
        ("PUT", "/order/x", t(&none), 403),
        ("GET", "/public-get/x", None, 200),
        ("DELETE", "/public-get/x", None, 403),
    ];
    assert!(cases.len() >= 30);
    for (method, path, token, want) in &cases {
        let r = send(&gh, method, path, token.as_deref()).await;
        assert_eq!(
            r.status().as_u16(),
            *want,
            "{method} {path} {:?}",
            token.as_ref().map(|_| "token")
        );
    }
    // A cached identity is checked again on every request: the same token is let through and
    // then refused on the same route as the method changes.
    for (method, want) in [("GET", 200), ("POST", 403), ("GET", 200)] {
        assert_eq!(
            send(&gh, method, "/order/y", Some(&none)).await.status(),
            want
        );
    }
    let m = gh.metrics_text().await;
    assert!(m.contains(
        "gatehouse_policy_decisions_total{result=\"deny\",route=\"/order\",rule=\"no-posts\"} 2"
    ), "{m}");
    assert!(m.contains(
        "gatehouse_policy_decisions_total{result=\"allow\",route=\"/order\",rule=\"/order#1\"} 3"
    ), "{m}");
    assert!(m.contains(
        "gatehouse_policy_decisions_total{result=\"deny\",route=\"/order\",rule=\"/order#default\"} 1"
    ), "{m}");
}

/// The address a policy sees is the peer's, unless the peer is a trusted proxy: then the
/// rightmost untrusted `X-Forwarded-For` hop.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn source_addresses_come_from_trusted_proxies_only() {
    let up = EchoUpstream::start("app").await;
    let sections = format!(
        "{}[[routes]]\npath_prefix = \"/office\"\nupstream = \"app\"\nauth = \"public\"\npolicy = [{{ allow = {{ address = [\"203.0.113.0/24\", \"2001:db8::/32\"] }} }}]\n",
        upstream_section("app", &up, "")
    );
    let direct = TestGatehouse::start_at(free_port(), "", &sections);
    let behind =
        TestGatehouse::start_at(free_port(), "trusted_proxies = [\"127.0.0.1\"]", &sections);
    let get = |gh: &TestGatehouse, xff: Option<&'static str>| {
        let mut req = gh.client.get(gh.url("/office/x"));
        if let Some(x) = xff {
            req = req.header("x-forwarded-for", x);
        }
        req.send()
    };
    // Untrusted peer: what it claims is ignored, 127.0.0.1 is not in the office.
    assert_eq!(
        get(&direct, Some("203.0.113.9")).await.unwrap().status(),
        403
    );
    assert_eq!(get(&direct, None).await.unwrap().status(), 403);
    // Behind the trusted proxy: the hop it appended decides, not what the client prepended.
    assert_eq!(
        get(&behind, Some("203.0.113.9")).await.unwrap().status(),
        200
    );
    assert_eq!(
        get(&behind, Some("2001:db8::7")).await.unwrap().status(),
        200
    );
    assert_eq!(
        get(&behind, Some("203.0.113.9, 198.51.100.1"))
            .await
            .unwrap()
            .status(),
        403
    );
    assert_eq!(get(&behind, None).await.unwrap().status(), 403);
}

#[test]
fn check_config_explains_which_rule_decides() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("g.toml");
    let sections = format!(
        "{}[[upstreams]]\nname = \"legacy\"\naddrs = [\"127.0.0.1:9\"]\n{CONTRACT}",
        jwt_section()
    );
    std::fs::write(
        &config,
        TestGatehouse::config_text(free_port(), free_port(), "/nonexistent/g.db", &sections),
    )
    .unwrap();
    let claims = dir.path().join("claims.json");
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"))
            .arg("check-config")
            .arg("--config")
            .arg(&config)
            .args(args)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr),
        )
    };
    let with_claims = |c: Value, method: &str, url: &str| {
        std::fs::write(&claims, c.to_string()).unwrap();
        run(&[
            "--explain",
            method,
            url,
            "--token-claims",
            claims.to_str().unwrap(),
        ])
    };

    let (ok, out) = with_claims(
        json!({"sub": "ed", "scope": "write", "groups": ["editors"], "iss": ISSUER}),
        "POST",
        "http://localhost/docs/a",
    );
    assert!(ok, "{out}");
    assert!(out.contains("route: docs"), "{out}");
    assert!(out.contains("rule editors#0 (deny): no match"), "{out}");
    assert!(out.contains("decision: allow by rule `editors#1`"), "{out}");

    let (ok, out) = with_claims(json!({"sub": "r", "scope": "read"}), "DELETE", "/docs/a");
    assert!(ok, "{out}");
    assert!(out.contains("decision: deny by rule `editors#0`"), "{out}");

    let (ok, out) = with_claims(
        json!({"sub": "r", "scope": "read"}),
        "GET",
        "/docs/a/../b/c",
    );
    assert!(ok, "{out}");
    assert!(out.contains("request: GET /docs/b/c"), "{out}");
    assert!(
        out.contains("decision: deny by rule `editors#default`"),
        "{out}"
    );

    let (ok, out) = run(&["--explain", "GET", "/docs/a"]);
    assert!(ok, "{out}");
    assert!(out.contains("a token is required (401)"), "{out}");

    let (ok, out) = with_claims(json!({"scope": "read"}), "GET", "/docs/a");
    assert!(!ok && out.contains("sub"), "{out}");
}
