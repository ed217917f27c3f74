//! The forward-auth decision endpoint (issue 12 part 1): each ingress dialect over real HTTP,
//! trust, normalization of the described path, decision-only routes, its own listener, and
//! real nginx (`auth_request`) and Caddy (`forward_auth`) in front of an echo upstream.

use crate::support;

use gatehouse::auth::NewToken;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use support::ingress::Ingress;
use support::oauth::{oauth_sections, LEGACY};
use support::*;

const DECIDE: &str = "/_gatehouse/auth";
/// The ingresses (and this test's own "trusted" client) connect from 127.0.0.1.
const TRUSTED: &str = "trusted_proxies = [\"127.0.0.1\"]";
/// Any loopback address other than 127.0.0.1 is an untrusted peer.
const UNTRUSTED_SOURCE: [u8; 4] = [127, 0, 0, 2];

/// An external issuer beside the authorization server, so an ingress is seen to carry the
/// issuer header that tells its `sub` from a local user id.
const ISSUER: &str = "https://issuer.example";
const ISSUER_SECRET: &str = "forward-auth-issuer-secret-0123456789";

fn sections(up: &EchoUpstream, forward_auth: &str) -> String {
    format!(
        r#"
{oauth}
{forward_auth}
{upstream}
[[jwt.issuers]]
issuer = "{ISSUER}"
algorithms = ["HS256"]
secret = "{ISSUER_SECRET}"
audiences = ["legacy-api"]

[[routes]]
path_prefix = "/app"
upstream = "app"

# Decision-only routes: the ingress carries their traffic.
[[routes]]
path_prefix = "/private"

[[routes]]
path_prefix = "/private/write"
scopes = ["write"]

[[routes]]
path_prefix = "/public"
auth = "public"

[[routes]]
host = "admin.test"
path_prefix = "/private"
scopes = ["admin"]
"#,
        oauth = oauth_sections(""),
        upstream = upstream_section("app", up, ""),
    )
}

async fn start(forward_auth: &str) -> (TestGatehouse, std::sync::Arc<EchoUpstream>) {
    let up = EchoUpstream::start("app").await;
    let gh = TestGatehouse::start_with_server(TRUSTED, &sections(&up, forward_auth));
    (gh, up)
}

async fn token(gh: &TestGatehouse, scopes: &[&str]) -> String {
    gh.issue_with(
        NewToken {
            user_id: Some("42".into()),
            user_name: Some("alice".into()),
            client_id: Some(LEGACY.into()),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            admin: false,
            groups: vec![],
        },
        Duration::from_secs(3600),
    )
    .await
}

/// A decision request to `at` (the decision path, or Envoy's path below it) from 127.0.0.1.
/// An HS256 JWT from the external issuer whose `sub` equals the local user's id.
fn external_jwt(scope: &str) -> String {
    let now = gatehouse::store::now_unix();
    let claims = serde_json::json!({"sub": "42", "scope": scope, "iss": ISSUER,
        "aud": "legacy-api", "iat": now, "exp": now + 600});
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(ISSUER_SECRET.as_bytes()),
    )
    .unwrap()
}

async fn ask(
    gh: &TestGatehouse,
    at: &str,
    method: reqwest::Method,
    headers: &[(&str, &str)],
    token: Option<&str>,
) -> reqwest::Response {
    let mut req = gh.client.request(method, gh.url(at));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.expect("decision request")
}

fn header(r: &reqwest::Response, name: &str) -> Option<String> {
    r.headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_string())
}

async fn json(r: reqwest::Response) -> serde_json::Value {
    r.json().await.expect("json body")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_dialect_allows_with_identity_headers_and_refuses_as_the_proxy_does() {
    let (gh, up) = start("[forward_auth]").await;
    let read = token(&gh, &["read"]).await;
    let get = reqwest::Method::GET;
    let describe = |uri: &'static str| vec![("X-Original-URI", uri), ("X-Original-Method", "GET")];

    let r = ask(
        &gh,
        DECIDE,
        get.clone(),
        &describe("/private/x?a=1"),
        Some(&read),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "x-auth-user-id").as_deref(), Some("42"));
    assert_eq!(header(&r, "x-auth-user-name").as_deref(), Some("alice"));
    assert_eq!(header(&r, "x-auth-scopes").as_deref(), Some("read"));
    assert_eq!(header(&r, "x-auth-client-id").as_deref(), Some(LEGACY));
    assert_eq!(header(&r, "cache-control").as_deref(), Some("no-store"));

    // Refusals are the proxy's own, byte for byte: compare with /app, which both serve.
    for tok in [None, Some("not-a-real-token")] {
        let decided = ask(&gh, DECIDE, get.clone(), &describe("/app/x"), tok).await;
        let proxied = gh.get("/app/x", tok).await;
        assert_eq!(decided.status(), 401);
        assert_eq!(decided.status(), proxied.status());
        assert_eq!(
            header(&decided, "www-authenticate"),
            header(&proxied, "www-authenticate")
        );
        assert_eq!(json(decided).await, json(proxied).await);
    }
    let r = ask(&gh, DECIDE, get.clone(), &describe("/private"), None).await;
    assert_eq!(
        header(&r, "www-authenticate").as_deref(),
        Some("Bearer realm=\"gatehouse\"")
    );
    let r = ask(
        &gh,
        DECIDE,
        get.clone(),
        &describe("/private/write/x"),
        Some(&read),
    )
    .await;
    assert_eq!(r.status(), 403);
    assert!(header(&r, "www-authenticate")
        .unwrap_or_default()
        .contains("error=\"insufficient_scope\", scope=\"write\""));
    assert!(header(&r, "x-auth-user-id").is_none());
    let r = ask(&gh, DECIDE, get.clone(), &describe("/public/x"), None).await;
    assert_eq!(r.status(), 200);
    // Anonymous: every identity header present and empty, so no ingress copies anything else.
    assert_eq!(header(&r, "x-auth-user-id").as_deref(), Some(""));
    assert_eq!(header(&r, "x-auth-scopes").as_deref(), Some(""));
    // A path no route claims: the proxy's 404.
    let r = ask(&gh, DECIDE, get, &describe("/elsewhere"), Some(&read)).await;
    assert_eq!(r.status(), 404);

    assert_eq!(
        up.count(),
        0,
        "refused proxy requests never reach the upstream"
    );
    let m = gh.metrics_text().await;
    let series = |result: &str| {
        metric_value(
            &m,
            &format!(
                "gatehouse_forward_auth_decisions_total{{front_end=\"http\",result=\"{result}\"}}"
            ),
        )
    };
    assert_eq!(series("allowed"), 2.0);
    assert_eq!(series("unauthenticated"), 3.0);
    assert_eq!(series("forbidden"), 1.0);
    assert_eq!(series("other"), 1.0);
    // The token checks themselves count where the proxy's do.
    assert_eq!(
        metric_value(&m, "gatehouse_auth_decisions_total{result=\"ok\"}"),
        1.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traefik_and_caddy_dialect_reads_method_host_and_uri() {
    let (gh, _up) = start("[forward_auth]").await;
    let read = token(&gh, &["read"]).await;
    let admin = token(&gh, &["read", "admin"]).await;
    let forwarded = |method: &'static str, host: &'static str, uri: &'static str| {
        vec![
            ("X-Forwarded-Method", method),
            ("X-Forwarded-Proto", "https"),
            ("X-Forwarded-Host", host),
            ("X-Forwarded-Uri", uri),
            ("X-Forwarded-For", "203.0.113.9"),
        ]
    };
    // Traefik and Caddy ask with GET whatever the original method was.
    let get = reqwest::Method::GET;
    let ok = ask(
        &gh,
        DECIDE,
        get.clone(),
        &forwarded("GET", "app.test", "/private/a"),
        Some(&read),
    )
    .await;
    assert_eq!(ok.status(), 200);
    // The described host picks the host route, with its stricter scope.
    let r = ask(
        &gh,
        DECIDE,
        get.clone(),
        &forwarded("GET", "admin.test:8443", "/private/a"),
        Some(&read),
    )
    .await;
    assert_eq!(r.status(), 403);
    let r = ask(
        &gh,
        DECIDE,
        get.clone(),
        &forwarded("GET", "ADMIN.test.", "/private/a"),
        Some(&admin),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "x-auth-scopes").as_deref(), Some("read admin"));
    // The described method is the one the endpoint table sees: /oauth/token takes POST only.
    let r = ask(
        &gh,
        DECIDE,
        get.clone(),
        &forwarded("DELETE", "app.test", "/oauth/token"),
        None,
    )
    .await;
    assert_eq!(r.status(), 405);
    let r = ask(
        &gh,
        DECIDE,
        get,
        &forwarded("POST", "app.test", "/oauth/token"),
        None,
    )
    .await;
    assert_eq!(r.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn envoy_dialect_takes_the_path_after_the_decision_path() {
    let (gh, _up) = start("[forward_auth]").await;
    let write = token(&gh, &["write"]).await;
    let read = token(&gh, &["read"]).await;
    // Envoy keeps the original method and Host and appends the original path and query.
    let at = format!("{DECIDE}/private/write/doc?v=2");
    let r = ask(&gh, &at, reqwest::Method::PUT, &[], Some(&write)).await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "x-auth-user-id").as_deref(), Some("42"));
    let r = ask(&gh, &at, reqwest::Method::PUT, &[], Some(&read)).await;
    assert_eq!(r.status(), 403);
    let r = ask(
        &gh,
        &format!("{DECIDE}/public"),
        reqwest::Method::POST,
        &[],
        None,
    )
    .await;
    assert_eq!(r.status(), 200);
    // A client-added header must agree with the appended path.
    let r = ask(
        &gh,
        &format!("{DECIDE}/private/x"),
        reqwest::Method::GET,
        &[("X-Forwarded-Uri", "/public/x")],
        None,
    )
    .await;
    assert_eq!(r.status(), 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn untrusted_peer_is_refused_whatever_it_describes() {
    let (gh, up) = start("[forward_auth]").await;
    let read = token(&gh, &["read"]).await;
    let untrusted = untrusted_client();
    let cases: &[&[(&str, &str)]] = &[
        &[
            ("X-Forwarded-Uri", "/public"),
            ("X-Forwarded-Method", "GET"),
        ],
        &[("X-Original-URI", "/public/x")],
        &[
            ("X-Original-URI", "/private/x"),
            ("Authorization", "Bearer placeholder"),
        ],
        &[],
    ];
    for headers in cases {
        let mut req = untrusted.get(gh.url(DECIDE));
        for (k, v) in *headers {
            let v = if *v == "Bearer placeholder" {
                format!("Bearer {read}")
            } else {
                v.to_string()
            };
            req = req.header(*k, v);
        }
        let r = req.send().await.expect("untrusted decision request");
        assert_eq!(r.status(), 403, "{headers:?}");
        assert!(header(&r, "x-auth-user-id").is_none());
        let body = json(r).await;
        assert_eq!(body["error"], "forbidden");
        assert!(body["error_description"]
            .as_str()
            .unwrap_or_default()
            .contains("trusted_proxies"));
    }
    // Envoy's form too.
    let r = untrusted
        .get(gh.url(&format!("{DECIDE}/public")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let m = gh.metrics_text().await;
    assert_eq!(
        metric_value(
            &m,
            "gatehouse_forward_auth_decisions_total{front_end=\"http\",result=\"untrusted\"}"
        ),
        5.0
    );
    // The same client is an ordinary client of the proxy.
    let r = untrusted
        .get(gh.url("/app/x"))
        .bearer_auth(&read)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(up.count(), 1);
}

/// A client connecting from 127.0.0.2, which `TRUSTED` does not list.
fn untrusted_client() -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(IpAddr::from(UNTRUSTED_SOURCE))
        .build()
        .expect("client")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_described_path_is_normalized_before_routing() {
    let (gh, _up) = start("[forward_auth]").await;
    let get = reqwest::Method::GET;
    // Each dot-segment trick lands on /private (required), never on /public.
    for uri in [
        "/public/../private/x",
        "/public/%2e%2e/private/x",
        "/public/.%2E/private",
        "/public/./../private",
        "//public/../private",
    ] {
        for dialect in ["X-Original-URI", "X-Forwarded-Uri"] {
            let r = ask(&gh, DECIDE, get.clone(), &[(dialect, uri)], None).await;
            assert_eq!(r.status(), 401, "{dialect}: {uri}");
        }
    }
    // What the proxy refuses as unreadable, the decision refuses too.
    for uri in [
        "/public/..%2fprivate",
        "/public%2f..%2fprivate",
        "/public/..\\private",
        "/public;x=1",
        "/../private",
    ] {
        let r = ask(&gh, DECIDE, get.clone(), &[("X-Original-URI", uri)], None).await;
        assert_eq!(r.status(), 400, "{uri}");
    }
    // Envoy: the appended path goes through the same normalization.
    let raw = raw_get(gh.addr, &format!("{DECIDE}/public/%2e%2e/private"), &[]);
    assert_eq!(raw.status, 401, "{raw:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_or_ambiguous_descriptions_are_refused() {
    let (gh, _up) = start("[forward_auth]").await;
    let get = reqwest::Method::GET;
    let cases: &[&[(&str, &str)]] = &[
        // Nothing described.
        &[],
        // nginx sets X-Original-URI; the client added an X-Forwarded-Uri naming a public route.
        &[
            ("X-Original-URI", "/private/x"),
            ("X-Forwarded-Uri", "/public/x"),
        ],
        &[
            ("X-Original-URI", "/private/x"),
            ("X-Original-Method", "GET"),
            ("X-Forwarded-Method", "OPTIONS"),
        ],
        &[("X-Original-URI", "http://app.test/public")],
    ];
    for headers in cases {
        let r = ask(&gh, DECIDE, get.clone(), headers, None).await;
        assert_eq!(r.status(), 400, "{headers:?}");
        assert_eq!(json(r).await["error"], "invalid_request");
    }
    // Saying the same thing in two dialects is fine.
    let r = ask(
        &gh,
        DECIDE,
        get,
        &[
            ("X-Original-URI", "/public/x"),
            ("X-Forwarded-Uri", "/public/x"),
        ],
        None,
    )
    .await;
    assert_eq!(r.status(), 200);
    let m = gh.metrics_text().await;
    assert_eq!(
        metric_value(
            &m,
            "gatehouse_forward_auth_decisions_total{front_end=\"http\",result=\"invalid\"}"
        ),
        cases.len() as f64
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_decision_only_route_is_not_found_through_the_proxy() {
    let (gh, up) = start("[forward_auth]").await;
    let read = token(&gh, &["read"]).await;
    for tok in [None, Some(read.as_str())] {
        let r = gh.get("/private/x", tok).await;
        assert_eq!(r.status(), 404);
        let body = json(r).await;
        assert_eq!(body["error"], "not_found");
        assert_eq!(
            body["error_description"],
            "this route only answers forward-auth decisions"
        );
    }
    assert_eq!(gh.get("/app/x", Some(&read)).await.status(), 200);
    assert_eq!(up.count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decisions_on_their_own_listener() {
    let port = free_port();
    let (gh, _up) = start(&format!(
        "[forward_auth]\nlisten = \"127.0.0.1:{port}\"\npath = \"/check\""
    ))
    .await;
    let read = token(&gh, &["read"]).await;
    let listener: SocketAddr = ([127, 0, 0, 1], port).into();
    let at = |p: &str| format!("http://{listener}{p}");
    let r = gh
        .client
        .get(at("/check"))
        .header("X-Original-URI", "/private/x")
        .bearer_auth(&read)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "x-auth-user-id").as_deref(), Some("42"));
    // That listener answers nothing else...
    let r = gh
        .client
        .get(at("/app/x"))
        .bearer_auth(&read)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    // ...and the proxy listener does not answer decisions.
    let r = gh
        .client
        .get(gh.url("/check"))
        .header("X-Original-URI", "/public")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(
        json(r).await["error_description"],
        "no route matches this request"
    );
}

#[test]
fn config_accepts_decision_only_routes_only_with_forward_auth() {
    let base =
        |extra: &str| TestGatehouse::config_text(free_port(), free_port(), "/tmp/x.db", extra);
    let decision_route = "[[routes]]\npath_prefix = \"/private\"\n";
    let e = gatehouse::Config::from_toml(&base(decision_route), "t")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("routes[0]: needs `upstream` or `handler`"),
        "{e}"
    );
    assert!(e.contains("[forward_auth]"), "{e}");

    // With [forward_auth] but no trusted proxies, every decision would be refused.
    let e = gatehouse::Config::from_toml(&base(&format!("[forward_auth]\n{decision_route}")), "t")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("forward_auth: server.trusted_proxies is empty"),
        "{e}"
    );

    let trusted = |extra: &str| {
        base(extra).replace(
            "shutdown_grace = \"1s\"",
            &format!("shutdown_grace = \"1s\"\n{TRUSTED}"),
        )
    };
    let ok =
        gatehouse::Config::from_toml(&trusted(&format!("[forward_auth]\n{decision_route}")), "t")
            .unwrap();
    assert_eq!(ok.forward_auth.unwrap().path, "/_gatehouse/auth");

    for (extra, named) in [
        ("[forward_auth]\npath = \"/a/../b\"", "forward_auth.path"),
        ("[forward_auth]\npath = \"/\"", "forward_auth.path"),
        (
            "[forward_auth]\nlisten = \"nowhere\"",
            "forward_auth.listen",
        ),
        ("[forward_auth]\npaht = \"/x\"", "paht"),
        (
            "[forward_auth]\n[[routes]]\npath_prefix = \"/_gatehouse/auth/x\"\n",
            "lies under forward_auth.path",
        ),
    ] {
        let e = gatehouse::Config::from_toml(&trusted(extra), "t")
            .unwrap_err()
            .to_string();
        assert!(e.contains(named), "{extra}: {e}");
    }
}

/// What a client-forged description does through each ingress: the ingress overwrites its own
/// dialect's header (the client's value is lost) and passes the other dialect's through, which
/// then disagrees with the real one (400, which nginx reports as 500).
struct Forgery {
    overwritten: &'static str,
    passed_through: &'static str,
    passed_through_status: u16,
}

async fn through_ingress(start_ingress: fn(SocketAddr, SocketAddr) -> Ingress, forgery: Forgery) {
    let (gh, up) = start("[forward_auth]").await;
    let ingress = start_ingress(gh.addr, up.addr);
    let read = token(&gh, &["read"]).await;
    let write = token(&gh, &["read", "write"]).await;
    let client = reqwest::Client::new();
    let get = |path: &str, tok: Option<&str>, extra: &[(&str, &str)]| {
        let mut req = client.get(ingress.url(path));
        if let Some(t) = tok {
            req = req.bearer_auth(t);
        }
        for (k, v) in extra {
            req = req.header(*k, *v);
        }
        req.send()
    };
    let context = || format!("{} log:\n{}", ingress.name, ingress.log());

    // Allowed: the upstream sees the identity from the decision, not the client's copies.
    let forged = [
        ("X-Auth-User-Id", "1"),
        ("X-Auth-Scopes", "admin"),
        ("X-Auth-User-Name", "root"),
        ("X-Auth-Groups", "admins"),
        ("X-Auth-Issuer", "https://forged.example"),
    ];
    let r = get("/private/x?q=1", Some(&read), &forged).await.unwrap();
    assert_eq!(r.status(), 200, "{}", context());
    let seen = up.last();
    assert_eq!(seen.uri, "/private/x?q=1");
    assert_eq!(seen.header_values("x-auth-user-id"), ["42"]);
    assert_eq!(seen.header_values("x-auth-user-name"), ["alice"]);
    assert_eq!(seen.header_values("x-auth-scopes"), ["read"]);
    assert_eq!(seen.header_values("x-auth-client-id"), [LEGACY]);
    // A local identity has no issuer and no groups here: the client's copies are gone.
    for h in ["x-auth-issuer", "x-auth-groups"] {
        assert!(
            seen.header_values(h).iter().all(|v| v.is_empty()),
            "{h}: {:?}\n{}",
            seen.header_values(h),
            context()
        );
    }
    // An external token whose `sub` is the local user's id arrives marked with its issuer.
    let external = external_jwt("read");
    let r = get("/private/x", Some(&external), &forged).await.unwrap();
    assert_eq!(r.status(), 200, "{}", context());
    let seen = up.last();
    assert_eq!(seen.header_values("x-auth-user-id"), ["42"]);
    assert_eq!(
        seen.header_values("x-auth-issuer"),
        [ISSUER],
        "{}",
        context()
    );
    assert!(seen
        .header_values("x-auth-groups")
        .iter()
        .all(|v| v.is_empty()));
    // A public route: no identity, and still none of the client's.
    let r = get("/public/x", None, &forged).await.unwrap();
    assert_eq!(r.status(), 200, "{}", context());
    let seen = up.last();
    assert_eq!(seen.uri, "/public/x");
    for h in ["x-auth-user-id", "x-auth-user-name", "x-auth-scopes"] {
        assert!(
            seen.header_values(h).iter().all(|v| v.is_empty()),
            "{h}: {:?}",
            seen.header_values(h)
        );
    }
    let reached = up.count();

    // No token: 401 with the challenge, through the ingress.
    let r = get("/private/x", None, &[]).await.unwrap();
    assert_eq!(r.status(), 401, "{}", context());
    assert_eq!(
        header(&r, "www-authenticate").as_deref(),
        Some("Bearer realm=\"gatehouse\"")
    );
    // Wrong scope: 403; the right one passes.
    let r = get("/private/write/x", Some(&read), &[]).await.unwrap();
    assert_eq!(r.status(), 403, "{}", context());
    assert_eq!(up.count(), reached);
    let r = get("/private/write/x", Some(&write), &[]).await.unwrap();
    assert_eq!(r.status(), 200, "{}", context());
    let reached = up.count();

    // Revoked through the authorization server: refused on the very next request.
    let r = gh
        .client
        .post(gh.url("/oauth/revoke"))
        .form(&[("token", read.as_str()), ("client_id", LEGACY)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = get("/private/x", Some(&read), &[]).await.unwrap();
    assert_eq!(r.status(), 401, "{}", context());
    assert!(header(&r, "www-authenticate")
        .unwrap_or_default()
        .contains("error=\"invalid_token\""));

    // A client describing a public route itself gets nowhere.
    let r = get("/private/x", None, &[(forgery.overwritten, "/public/x")])
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "{}", context());
    let r = get("/private/x", None, &[(forgery.passed_through, "/public/x")])
        .await
        .unwrap();
    assert_eq!(r.status(), forgery.passed_through_status, "{}", context());
    // Dot segments sent raw to the ingress land on /private.
    for path in ["/public/../private/x", "/public/%2e%2e/private/x"] {
        let raw = raw_get(ingress.addr, path, &[]);
        assert_eq!(raw.status, 401, "{path}: {raw:?}\n{}", context());
    }
    assert_eq!(
        up.count(),
        reached,
        "a refused request reached the upstream"
    );

    // And straight to Gatehouse from a peer that is not the ingress: refused.
    let r = untrusted_client()
        .get(gh.url(DECIDE))
        .header("X-Original-URI", "/public/x")
        .header("X-Forwarded-Uri", "/public/x")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_auth_request_in_front_of_an_upstream() {
    through_ingress(
        Ingress::nginx,
        Forgery {
            overwritten: "X-Original-URI",
            passed_through: "X-Forwarded-Uri",
            passed_through_status: 500,
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caddy_forward_auth_in_front_of_an_upstream() {
    through_ingress(
        Ingress::caddy,
        Forgery {
            overwritten: "X-Forwarded-Uri",
            passed_through: "X-Original-URI",
            passed_through_status: 400,
        },
    )
    .await;
}

/// Issue 15 part 4: a route's policy decides through the decision endpoint exactly as through
/// the proxy, local users' groups included, and the answer carries `X-Auth-Groups`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_route_policy_decides_the_same_through_the_decision_endpoint() {
    let up = EchoUpstream::start("app").await;
    let config = format!(
        r#"
{oauth}
[forward_auth]
{upstream}
[[policies]]
name = "editors"
rules = [
  {{ deny  = {{ method = ["DELETE"] }} }},
  {{ allow = {{ all = [ {{ scopes = ["write"] }}, {{ claim = "groups", any_of = ["editors", "admins"] }} ] }} }},
  {{ allow = {{ all = [ {{ method = ["GET", "HEAD"] }}, {{ path = "/docs/*" }} ] }} }},
]

[[routes]]
name = "docs"
path_prefix = "/docs"
upstream = "app"
policy = "editors"
"#,
        oauth = oauth_sections(""),
        upstream = upstream_section("app", &up, ""),
    );
    let gh = TestGatehouse::start_with_server(TRUSTED, &config);
    let issue = |scopes: &[&str], groups: &[&str]| {
        gh.issue_with(
            NewToken {
                user_id: Some("42".into()),
                client_id: Some(LEGACY.into()),
                scopes: scopes.iter().map(|s| s.to_string()).collect(),
                groups: groups.iter().map(|s| s.to_string()).collect(),
                ..Default::default()
            },
            Duration::from_secs(3600),
        )
    };
    let editor = issue(&["write"], &["staff", "editors"]).await;
    let writer = issue(&["write"], &[]).await;
    let reader = issue(&["read"], &["editors"]).await;
    let cases: [(&str, &str, &str, u16); 8] = [
        ("POST", "/docs/a", &editor, 200),
        ("DELETE", "/docs/a", &editor, 403),
        ("POST", "/docs/a", &writer, 403),
        ("POST", "/docs/a", &reader, 403),
        ("GET", "/docs/a", &reader, 200),
        ("GET", "/docs/a/b", &writer, 403),
        ("GET", "/docs/a/b", &editor, 200),
        ("PUT", "/docs/x/y", &editor, 200),
    ];
    for (method, path, token, want) in cases {
        let decided = ask(
            &gh,
            DECIDE,
            reqwest::Method::GET,
            &[("X-Original-URI", path), ("X-Original-Method", method)],
            Some(token),
        )
        .await;
        let proxied = gh
            .client
            .request(method.parse().unwrap(), gh.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(decided.status().as_u16(), want, "{method} {path}");
        assert_eq!(decided.status(), proxied.status(), "{method} {path}");
        if want == 200 {
            let groups = header(&decided, "x-auth-groups");
            let expected = if token == editor {
                "staff,editors"
            } else {
                "editors"
            };
            assert_eq!(groups.as_deref(), Some(expected), "{method} {path}");
            assert_eq!(up.last().header("x-auth-groups"), Some(expected));
        } else {
            assert_eq!(json(decided).await, json(proxied).await, "{method} {path}");
        }
    }
}

/// Issue 15 part 4, limits: a route's rate limit draws from the same buckets whether the
/// request is proxied or described to the decision endpoint, and a decision past it answers
/// 429 with `Retry-After` like the proxy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_route_rate_limit_is_shared_by_decisions_and_the_proxy() {
    let up = EchoUpstream::start("app").await;
    let config = format!(
        "{oauth}\n[forward_auth]\n{upstream}\n\
         [[rate_limits]]\nname = \"per-user\"\nkey = \"user\"\nrate = \"1/h\"\nburst = 2\n\
         [[routes]]\nname = \"api\"\npath_prefix = \"/api\"\nupstream = \"app\"\nrate_limit = \"per-user\"\n",
        oauth = oauth_sections(""),
        upstream = upstream_section("app", &up, ""),
    );
    let gh = TestGatehouse::start_with_server(TRUSTED, &config);
    let token = gh.issue("42", &["read"]).await;
    let decide = || {
        ask(
            &gh,
            DECIDE,
            reqwest::Method::GET,
            &[("X-Original-URI", "/api/x"), ("X-Original-Method", "GET")],
            Some(&token),
        )
    };
    assert_eq!(decide().await.status(), 200);
    assert_eq!(gh.get("/api/x", Some(&token)).await.status(), 200);
    // The burst of two is spent, one by each path.
    let refused = decide().await;
    assert_eq!(refused.status(), 429);
    assert!(header(&refused, "retry-after").is_some_and(|v| v.parse::<u64>().unwrap() > 0));
    assert_eq!(gh.get("/api/x", Some(&token)).await.status(), 429);
    // Another user has a bucket of their own.
    let other = gh.issue("43", &["read"]).await;
    assert_eq!(gh.get("/api/x", Some(&other)).await.status(), 200);
}
