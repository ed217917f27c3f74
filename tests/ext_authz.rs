//! Envoy's gRPC `ext_authz` (issue 12 part 2): a tonic client asks Gatehouse's
//! `envoy.service.auth.v3.Authorization/Check` on `forward_auth.grpc_listen`, and gets the
//! decision the HTTP endpoint and the proxy give: identity headers to set (client copies
//! removed), the proxy's refusals as denied responses, trust, normalization, policies, limits,
//! and gRPC health.

use crate::support;

use envoy_types::pb::envoy::config::core::v3::address::Address;
use envoy_types::pb::envoy::config::core::v3::header_value_option::HeaderAppendAction;
use envoy_types::pb::envoy::config::core::v3::{Address as EnvoyAddress, SocketAddress};
use envoy_types::pb::envoy::service::auth::v3::attribute_context::{HttpRequest, Peer, Request};
use envoy_types::pb::envoy::service::auth::v3::authorization_client::AuthorizationClient;
use envoy_types::pb::envoy::service::auth::v3::check_response::HttpResponse;
use envoy_types::pb::envoy::service::auth::v3::{
    AttributeContext, CheckRequest, CheckResponse, DeniedHttpResponse, OkHttpResponse,
};
use gatehouse::auth::NewToken;
use std::net::SocketAddr;
use std::time::Duration;
use support::oauth::{oauth_sections, LEGACY};
use support::*;
use tonic::transport::Channel;
use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

const TRUSTED: &str = "trusted_proxies = [\"127.0.0.1\"]";
const DECIDE: &str = "/_gatehouse/auth";
const IDENTITY: [&str; 5] = [
    "x-auth-user-id",
    "x-auth-user-name",
    "x-auth-scopes",
    "x-auth-client-id",
    "x-auth-groups",
];

fn sections(up: &EchoUpstream, grpc: SocketAddr) -> String {
    format!(
        r#"
{oauth}
[forward_auth]
grpc_listen = "{grpc}"

{upstream}
[[rate_limits]]
name = "per-user"
key = "user"
rate = "1/h"
burst = 2

[[rate_limits]]
name = "per-address"
key = "address"
rate = "1/h"
burst = 1

[[policies]]
name = "editors"
rules = [
  {{ deny  = {{ method = ["DELETE"] }} }},
  {{ allow = {{ all = [ {{ scopes = ["write"] }}, {{ claim = "groups", any_of = ["editors"] }} ] }} }},
  {{ allow = {{ all = [ {{ method = ["GET"] }}, {{ path = "/docs/*" }} ] }} }},
]

[[routes]]
path_prefix = "/app"
upstream = "app"

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

[[routes]]
path_prefix = "/docs"
upstream = "app"
policy = "editors"

[[routes]]
path_prefix = "/api"
upstream = "app"
rate_limit = "per-user"

[[routes]]
path_prefix = "/open"
auth = "public"
rate_limit = "per-address"
"#,
        oauth = oauth_sections(""),
        upstream = upstream_section("app", up, ""),
    )
}

struct Envoyish {
    gh: TestGatehouse,
    up: std::sync::Arc<EchoUpstream>,
    channel: Channel,
}

async fn start_trusting(trusted: &str) -> Envoyish {
    let up = EchoUpstream::start("app").await;
    let grpc: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let gh = TestGatehouse::start_with_server(trusted, &sections(&up, grpc));
    let channel = Channel::from_shared(format!("http://{grpc}"))
        .expect("uri")
        .connect()
        .await
        .expect("the ext_authz gRPC listener accepts connections");
    Envoyish { gh, up, channel }
}

async fn start() -> Envoyish {
    start_trusting(TRUSTED).await
}

async fn token(gh: &TestGatehouse, scopes: &[&str], groups: &[&str]) -> String {
    gh.issue_with(
        NewToken {
            user_id: Some("42".into()),
            user_name: Some("alice".into()),
            client_id: Some(LEGACY.into()),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            groups: groups.iter().map(|s| s.to_string()).collect(),
            admin: false,
        },
        Duration::from_secs(3600),
    )
    .await
}

/// What Envoy sends for `method host path` from `source`, with the client's headers.
fn described(
    method: &str,
    host: &str,
    path: &str,
    source: &str,
    headers: &[(&str, &str)],
) -> CheckRequest {
    let mut all: Vec<(String, String)> = vec![
        (":method".into(), method.into()),
        (":path".into(), path.into()),
        (":authority".into(), host.into()),
        ("x-request-id".into(), "envoy-request-1".into()),
    ];
    all.extend(headers.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    CheckRequest {
        attributes: Some(AttributeContext {
            source: Some(Peer {
                address: Some(EnvoyAddress {
                    address: Some(Address::SocketAddress(SocketAddress {
                        address: source.into(),
                        ..Default::default()
                    })),
                }),
                ..Default::default()
            }),
            request: Some(Request {
                http: Some(HttpRequest {
                    method: method.into(),
                    path: path.into(),
                    host: host.into(),
                    scheme: "https".into(),
                    protocol: "HTTP/1.1".into(),
                    headers: all.into_iter().collect(),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }),
    }
}

fn get(path: &str, bearer: Option<&str>) -> CheckRequest {
    let auth = bearer.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = auth
        .as_deref()
        .map(|a| vec![("authorization", a)])
        .unwrap_or_default();
    described("GET", "app.test", path, "203.0.113.9", &headers)
}

async fn check(e: &Envoyish, request: CheckRequest) -> CheckResponse {
    AuthorizationClient::new(e.channel.clone())
        .check(request)
        .await
        .expect("Check answers (allowed or denied) rather than failing")
        .into_inner()
}

fn code(r: &CheckResponse) -> Code {
    Code::from(r.status.as_ref().map_or(0, |s| s.code))
}

fn ok(r: &CheckResponse) -> &OkHttpResponse {
    match &r.http_response {
        Some(HttpResponse::OkResponse(ok)) if code(r) == Code::Ok => ok,
        other => panic!("expected OK, got {:?}: {other:?}", code(r)),
    }
}

fn denied(r: &CheckResponse) -> &DeniedHttpResponse {
    match &r.http_response {
        Some(HttpResponse::DeniedResponse(d)) if code(r) != Code::Ok => d,
        other => panic!("expected DENIED, got {:?}: {other:?}", code(r)),
    }
}

fn denied_status(r: &CheckResponse) -> i32 {
    denied(r).status.as_ref().map_or(0, |s| s.code)
}

/// The value of `name` among headers to set (or a denied response's headers).
fn value_of(
    headers: &[envoy_types::pb::envoy::config::core::v3::HeaderValueOption],
    name: &str,
) -> Option<String> {
    headers
        .iter()
        .filter_map(|o| o.header.as_ref())
        .find(|h| h.key.eq_ignore_ascii_case(name))
        .map(|h| h.value.clone())
}

fn body(d: &DeniedHttpResponse) -> serde_json::Value {
    serde_json::from_str(&d.body).expect("json body")
}

/// The HTTP decision endpoint's answer for the same request (nginx dialect).
async fn over_http(
    gh: &TestGatehouse,
    method: &str,
    path: &str,
    token: Option<&str>,
) -> reqwest::Response {
    let mut req = gh
        .client
        .get(gh.url(DECIDE))
        .header("X-Original-URI", path)
        .header("X-Original-Method", method)
        .header("X-Forwarded-Host", "app.test");
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.expect("HTTP decision")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allowed_sets_the_identity_headers_and_removes_client_copies() {
    let e = start().await;
    let read = token(&e.gh, &["read"], &[]).await;
    let auth = format!("Bearer {read}");
    let r = check(
        &e,
        described(
            "GET",
            "app.test",
            "/private/x?a=1",
            "203.0.113.9",
            &[
                ("authorization", &auth),
                ("x-auth-user-id", "1"),
                ("x_auth_scopes", "admin"),
                ("x-auth-groups", "admins"),
            ],
        ),
    )
    .await;
    let allowed = ok(&r);
    assert_eq!(
        value_of(&allowed.headers, "x-auth-user-id").as_deref(),
        Some("42")
    );
    assert_eq!(
        value_of(&allowed.headers, "x-auth-user-name").as_deref(),
        Some("alice")
    );
    assert_eq!(
        value_of(&allowed.headers, "x-auth-scopes").as_deref(),
        Some("read")
    );
    assert_eq!(
        value_of(&allowed.headers, "x-auth-client-id").as_deref(),
        Some(LEGACY)
    );
    // Set by overwriting: Envoy drops every value the client sent under that name.
    for o in &allowed.headers {
        assert_eq!(
            o.append_action,
            HeaderAppendAction::OverwriteIfExistsOrAdd as i32,
            "{o:?}"
        );
    }
    // The identity has no groups: the client's copy goes, as does the `_` spelling.
    assert!(value_of(&allowed.headers, "x-auth-groups").is_none());
    for gone in ["x-auth-groups", "x_auth_scopes", "x_auth_user_id"] {
        assert!(
            allowed.headers_to_remove.iter().any(|h| h == gone),
            "{gone}: {:?}",
            allowed.headers_to_remove
        );
    }
    // Never removes what it sets (Envoy would apply both).
    for set in ["x-auth-user-id", "x-auth-scopes"] {
        assert!(!allowed.headers_to_remove.iter().any(|h| h == set), "{set}");
    }

    // The HTTP endpoint gives the same identity for the same request.
    let http = over_http(&e.gh, "GET", "/private/x?a=1", Some(&read)).await;
    assert_eq!(http.status(), 200);
    for name in [
        "x-auth-user-id",
        "x-auth-user-name",
        "x-auth-scopes",
        "x-auth-client-id",
    ] {
        let over_http = http
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_string());
        assert_eq!(value_of(&allowed.headers, name), over_http, "{name}");
    }

    // A public route: allowed, no identity set, and every client copy removed.
    let r = check(
        &e,
        described(
            "POST",
            "app.test",
            "/public/x",
            "203.0.113.9",
            &[("x-auth-user-id", "1")],
        ),
    )
    .await;
    let public = ok(&r);
    assert!(public.headers.is_empty(), "{:?}", public.headers);
    for name in IDENTITY {
        assert!(public.headers_to_remove.iter().any(|h| h == name), "{name}");
    }

    let m = e.gh.metrics_text().await;
    assert_eq!(
        metric_value(
            &m,
            "gatehouse_forward_auth_decisions_total{front_end=\"grpc\",result=\"allowed\"}"
        ),
        2.0
    );
    assert_eq!(
        metric_value(
            &m,
            "gatehouse_forward_auth_decisions_total{front_end=\"http\",result=\"allowed\"}"
        ),
        1.0
    );
    assert_eq!(e.up.count(), 0, "a decision never calls the upstream");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_are_the_proxys_own_as_denied_responses() {
    let e = start().await;
    let read = token(&e.gh, &["read"], &[]).await;

    // No token, and a token nobody issued: 401 with the challenge, the proxy's body.
    for tok in [None, Some("not-a-real-token")] {
        let r = check(&e, get("/app/x", tok)).await;
        assert_eq!(code(&r), Code::Unauthenticated);
        let d = denied(&r);
        assert_eq!(denied_status(&r), 401);
        let proxied = e.gh.get("/app/x", tok).await;
        assert_eq!(proxied.status(), 401);
        let challenge = proxied
            .headers()
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap().to_string());
        assert_eq!(value_of(&d.headers, "www-authenticate"), challenge);
        assert_eq!(
            value_of(&d.headers, "content-type"),
            proxied
                .headers()
                .get("content-type")
                .map(|v| v.to_str().unwrap().to_string())
        );
        assert!(value_of(&d.headers, "content-length").is_none());
        assert_eq!(
            value_of(&d.headers, "x-request-id").as_deref(),
            Some("envoy-request-1")
        );
        assert_eq!(body(d), proxied.json::<serde_json::Value>().await.unwrap());
    }
    let r = check(&e, get("/private", None)).await;
    assert_eq!(
        value_of(&denied(&r).headers, "www-authenticate").as_deref(),
        Some("Bearer realm=\"gatehouse\"")
    );

    // Wrong scope: 403 insufficient_scope, as over HTTP.
    let r = check(&e, get("/private/write/x", Some(&read))).await;
    assert_eq!(code(&r), Code::PermissionDenied);
    assert_eq!(denied_status(&r), 403);
    let d = denied(&r);
    assert!(value_of(&d.headers, "www-authenticate")
        .unwrap_or_default()
        .contains("error=\"insufficient_scope\", scope=\"write\""));
    let http = over_http(&e.gh, "GET", "/private/write/x", Some(&read)).await;
    assert_eq!(http.status(), 403);
    assert_eq!(body(d), http.json::<serde_json::Value>().await.unwrap());
    // The described host picks the host route and its scope.
    let mut on_admin = get("/private/a", Some(&read));
    if let Some(h) = on_admin
        .attributes
        .as_mut()
        .and_then(|a| a.request.as_mut())
        .and_then(|r| r.http.as_mut())
    {
        h.host = "ADMIN.test:8443".into();
    }
    assert_eq!(denied_status(&check(&e, on_admin).await), 403);
    // No route: the proxy's 404.
    let r = check(&e, get("/elsewhere", Some(&read))).await;
    assert_eq!((code(&r), denied_status(&r)), (Code::NotFound, 404));
    // An incomplete description: 400.
    let r = check(&e, CheckRequest { attributes: None }).await;
    assert_eq!((code(&r), denied_status(&r)), (Code::InvalidArgument, 400));

    // Revoked through the authorization server: refused on the very next check.
    assert!(ok(&check(&e, get("/private/x", Some(&read))).await)
        .headers
        .iter()
        .any(|o| o.header.as_ref().is_some_and(|h| h.key == "x-auth-user-id")));
    let r =
        e.gh.client
            .post(e.gh.url("/oauth/revoke"))
            .form(&[("token", read.as_str()), ("client_id", LEGACY)])
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), 200);
    let r = check(&e, get("/private/x", Some(&read))).await;
    assert_eq!(denied_status(&r), 401);
    assert!(value_of(&denied(&r).headers, "www-authenticate")
        .unwrap_or_default()
        .contains("error=\"invalid_token\""));

    let m = e.gh.metrics_text().await;
    let series = |result: &str| {
        metric_value(
            &m,
            &format!(
                "gatehouse_forward_auth_decisions_total{{front_end=\"grpc\",result=\"{result}\"}}"
            ),
        )
    };
    assert_eq!(series("unauthenticated"), 4.0);
    assert_eq!(series("forbidden"), 2.0);
    assert_eq!(series("invalid"), 1.0);
    assert_eq!(series("other"), 1.0);
    assert_eq!(e.up.count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dot_segments_cannot_select_a_public_route() {
    let e = start().await;
    for path in [
        "/public/../private/x",
        "/public/%2e%2e/private/x",
        "/public/%2E%2E/private/x?q=1",
        "/public/./../private",
    ] {
        let r = check(&e, get(path, None)).await;
        assert_eq!(denied_status(&r), 401, "{path}");
    }
    // A client's own description is just a header to Envoy's fields.
    let r = check(
        &e,
        described(
            "GET",
            "app.test",
            "/private/x",
            "203.0.113.9",
            &[
                ("x-original-uri", "/public/x"),
                ("x-forwarded-uri", "/public/x"),
            ],
        ),
    )
    .await;
    assert_eq!(denied_status(&r), 401);
    // And the normalized public path itself is allowed.
    ok(&check(&e, get("/private/../public/x", None)).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_peer_is_denied_whatever_it_describes() {
    // Only 127.0.0.2 may ask; this client connects from 127.0.0.1.
    let e = start_trusting("trusted_proxies = [\"127.0.0.2\"]").await;
    let read = token(&e.gh, &["read"], &[]).await;
    let mut from_trusted_source = get("/public/x", Some(&read));
    // A source address in the message proves nothing about who asks.
    if let Some(Address::SocketAddress(a)) = from_trusted_source
        .attributes
        .as_mut()
        .and_then(|a| a.source.as_mut())
        .and_then(|s| s.address.as_mut())
        .and_then(|a| a.address.as_mut())
    {
        a.address = "127.0.0.2".into();
    }
    for request in [
        get("/private/x", Some(&read)),
        get("/public/x", None),
        from_trusted_source,
    ] {
        let r = check(&e, request).await;
        assert_eq!(code(&r), Code::PermissionDenied);
        let d = denied(&r);
        assert_eq!(denied_status(&r), 403);
        assert!(value_of(&d.headers, "x-auth-user-id").is_none());
        let b = body(d);
        assert_eq!(b["error"], "forbidden");
        assert!(b["error_description"]
            .as_str()
            .unwrap_or_default()
            .contains("trusted_proxies"));
    }
    let m = e.gh.metrics_text().await;
    assert_eq!(
        metric_value(
            &m,
            "gatehouse_forward_auth_decisions_total{front_end=\"grpc\",result=\"untrusted\"}"
        ),
        3.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policies_and_rate_limits_decide_as_over_http() {
    let e = start().await;
    let editor = token(&e.gh, &["write"], &["editors"]).await;
    let writer = token(&e.gh, &["write"], &[]).await;
    for (method, path, token, want) in [
        ("POST", "/docs/a", &editor, 200),
        ("DELETE", "/docs/a", &editor, 403),
        ("POST", "/docs/a", &writer, 403),
        ("GET", "/docs/a", &writer, 200),
        ("GET", "/docs/a/b", &writer, 403),
    ] {
        let auth = format!("Bearer {token}");
        let r = check(
            &e,
            described(
                method,
                "app.test",
                path,
                "203.0.113.9",
                &[("authorization", &auth)],
            ),
        )
        .await;
        let http = over_http(&e.gh, method, path, Some(token)).await;
        assert_eq!(http.status().as_u16(), want, "{method} {path}");
        if want == 200 {
            ok(&r);
            if *token == editor {
                assert_eq!(
                    value_of(&ok(&r).headers, "x-auth-groups").as_deref(),
                    Some("editors")
                );
            }
        } else {
            assert_eq!(denied_status(&r), 403, "{method} {path}");
            assert_eq!(
                body(denied(&r)),
                http.json::<serde_json::Value>().await.unwrap()
            );
        }
    }

    // One user's bucket (burst 2), drawn by gRPC, the proxy, then gRPC again: refused with
    // Retry-After, as the proxy refuses.
    let user = token(&e.gh, &["read"], &[]).await;
    let first = check(&e, get("/api/x", Some(&user))).await;
    let limit = value_of(&ok(&first).response_headers_to_add, "ratelimit-policy");
    assert!(
        limit.is_some_and(|v| v.contains("per-user")),
        "{:?}",
        ok(&first).response_headers_to_add
    );
    assert_eq!(e.gh.get("/api/x", Some(&user)).await.status(), 200);
    let r = check(&e, get("/api/x", Some(&user))).await;
    assert_eq!(
        (code(&r), denied_status(&r)),
        (Code::ResourceExhausted, 429)
    );
    let retry = value_of(&denied(&r).headers, "retry-after").expect("Retry-After");
    assert!(retry.parse::<u64>().unwrap() > 0);
    assert_eq!(e.gh.get("/api/x", Some(&user)).await.status(), 429);

    // An address-keyed limit (burst 1) counts Envoy's `source` address, one bucket each.
    let from = |ip: &str| described("GET", "app.test", "/open/x", ip, &[]);
    ok(&check(&e, from("198.51.100.1")).await);
    assert_eq!(denied_status(&check(&e, from("198.51.100.1")).await), 429);
    ok(&check(&e, from("198.51.100.2")).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_health_reports_serving() {
    let e = start().await;
    let mut health = HealthClient::new(e.channel.clone());
    for service in ["", "envoy.service.auth.v3.Authorization"] {
        let r = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .expect("health check")
            .into_inner();
        assert_eq!(r.status, ServingStatus::Serving as i32, "{service:?}");
    }
    let unknown = health
        .check(HealthCheckRequest {
            service: "no.such.Service".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);
}

#[test]
fn grpc_listen_is_validated_naming_the_key() {
    let (port, admin) = (free_port(), free_port());
    let base = |extra: &str| {
        TestGatehouse::config_text(port, admin, "/tmp/x.db", extra).replace(
            "shutdown_grace = \"1s\"",
            &format!("shutdown_grace = \"1s\"\n{TRUSTED}"),
        )
    };
    let grpc = free_port();
    let ok = gatehouse::Config::from_toml(
        &base(&format!(
            "[forward_auth]\ngrpc_listen = \"127.0.0.1:{grpc}\""
        )),
        "t",
    )
    .unwrap();
    assert_eq!(
        ok.forward_auth.unwrap().grpc_listen,
        Some(([127, 0, 0, 1], grpc).into())
    );
    let listen = free_port();
    for (extra, named) in [
        (
            "grpc_listen = \"nowhere\"".to_string(),
            "forward_auth.grpc_listen",
        ),
        (
            format!("grpc_listen = \"127.0.0.1:{port}\""),
            "forward_auth.grpc_listen: 127.0.0.1:",
        ),
        (
            format!("grpc_listen = \"127.0.0.1:{admin}\""),
            "is already server.admin_listen",
        ),
        (
            format!("listen = \"127.0.0.1:{listen}\"\ngrpc_listen = \"127.0.0.1:{listen}\""),
            "is already forward_auth.listen",
        ),
        ("grpc_listn = \"127.0.0.1:1\"".to_string(), "grpc_listn"),
    ] {
        let e = gatehouse::Config::from_toml(&base(&format!("[forward_auth]\n{extra}")), "t")
            .unwrap_err()
            .to_string();
        assert!(e.contains(named), "{extra}: {e}");
    }
}
