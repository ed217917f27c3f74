//! Identity headers: client-sent copies never reach the upstream (any case, duplicates, `_`),
//! Gatehouse's values do; optional and public routes; forwarding headers from untrusted peers.

use crate::support;

use support::*;

const SPOOFS: &[&str] = &[
    "x-auth-user-id: admin",
    "X-AUTH-USER-ID: admin2",
    "X-Auth-User-Id: admin3",
    "X_Auth_User_Id: admin4",
    "x-auth-user-name: root",
    "X-Auth-User-Name: root2",
    "x_auth_user_name: root3",
    "X-Auth-Scopes: admin superuser",
    "x-auth-scopes: all",
    "X_AUTH_SCOPES: all",
    "X-Auth-Client-Id: trusted",
    "x-auth-client-id: trusted2",
    "X-Forwarded-For: 10.0.0.1",
    "X-Forwarded-Host: evil.example",
    "X-Forwarded-Proto: https",
    "Forwarded: for=10.0.0.1",
    "X-Real-IP: 10.0.0.1",
];

fn config(up: &EchoUpstream) -> String {
    [
        upstream_section("app", up, ""),
        route("/req", "app", "required", ""),
        route("/opt", "app", "optional", ""),
        route("/pub", "app", "public", ""),
    ]
    .concat()
}

fn assert_no_spoof(seen: &support::upstream::Seen) {
    for name in [
        "x-auth-user-id",
        "x-auth-user-name",
        "x-auth-scopes",
        "x-auth-client-id",
    ] {
        for v in seen.header_values(name) {
            assert!(
                ![
                    "admin",
                    "admin2",
                    "admin3",
                    "admin4",
                    "root",
                    "root2",
                    "root3",
                    "admin superuser",
                    "all",
                    "trusted",
                    "trusted2"
                ]
                .contains(&v),
                "spoofed {name}: {v}"
            );
        }
    }
    assert!(
        seen.headers.iter().all(|(k, _)| !k.contains('_')),
        "underscore header passed: {:?}",
        seen.headers
    );
    assert_eq!(seen.header_values("x-forwarded-for"), vec!["127.0.0.1"]);
    assert!(seen.header("x-forwarded-host").is_none());
    assert!(seen.header("forwarded").is_none());
    assert!(seen.header("x-real-ip").is_none());
    assert_eq!(seen.header_values("x-forwarded-proto"), vec!["http"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spoofed_identity_headers_never_reach_upstream() {
    let up = EchoUpstream::start("app").await;
    let gh = TestGatehouse::start(&config(&up));
    let t = gh.issue("42", &["read", "write"]).await;
    let auth = format!("Authorization: Bearer {t}");

    let mut headers: Vec<&str> = SPOOFS.to_vec();
    headers.push(&auth);
    let r = raw_get(gh.addr, "/req/x", &headers);
    assert_eq!(r.status, 200, "{r:?}");
    let seen = up.last();
    assert_no_spoof(&seen);
    assert_eq!(seen.header_values("x-auth-user-id"), vec!["42"]);
    assert_eq!(seen.header_values("x-auth-user-name"), vec!["name-42"]);
    assert_eq!(seen.header_values("x-auth-scopes"), vec!["read write"]);
    assert_eq!(seen.header_values("x-auth-client-id"), vec!["test-client"]);

    // Optional route without a token: forwarded anonymously, nothing injected, spoofs stripped.
    let r = raw_get(gh.addr, "/opt/x", SPOOFS);
    assert_eq!(r.status, 200);
    let seen = up.last();
    assert_no_spoof(&seen);
    assert!(seen.header("x-auth-user-id").is_none());

    // Optional route with a token: identity forwarded.
    let r = raw_get(gh.addr, "/opt/x", &[&auth]);
    assert_eq!(r.status, 200);
    assert_eq!(up.last().header("x-auth-user-id"), Some("42"));

    // Optional route with a bad token: refused, not downgraded to anonymous.
    let r = raw_get(gh.addr, "/opt/x", &["Authorization: Bearer nope"]);
    assert_eq!(r.status, 401);

    // Public route: never validates (a bad token passes) but still strips.
    let mut headers: Vec<&str> = SPOOFS.to_vec();
    headers.push("Authorization: Bearer nope");
    let r = raw_get(gh.addr, "/pub/x", &headers);
    assert_eq!(r.status, 200);
    let seen = up.last();
    assert_no_spoof(&seen);
    assert!(seen.header("x-auth-user-id").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trusted_proxy_keeps_forwarding_chain() {
    let up = EchoUpstream::start("app").await;
    let mut text = config(&up);
    text.push('\n');
    let gh = {
        // trusted_proxies lives in [server], which the harness owns: build the config by hand.
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("g.db");
        let cfg =
            TestGatehouse::config_text(free_port(), free_port(), &db.display().to_string(), &text)
                .replace(
                    "shutdown_grace = \"1s\"",
                    "shutdown_grace = \"1s\"\ntrusted_proxies = [\"127.0.0.0/8\"]",
                );
        let config = gatehouse::Config::from_toml(&cfg, "test").unwrap();
        let addr = config.server.listen.expect("plain listener");
        (start_outside_runtime(config), addr, dir)
    };
    let r = raw_get(
        gh.1,
        "/pub/x",
        &["X-Forwarded-For: 203.0.113.9", "X-Auth-User-Id: admin"],
    );
    assert_eq!(r.status, 200);
    let seen = up.last();
    assert_eq!(
        seen.header("x-forwarded-for"),
        Some("203.0.113.9, 127.0.0.1")
    );
    assert!(
        seen.header("x-auth-user-id").is_none(),
        "identity headers are stripped even from trusted peers"
    );
}

/// Hardening finding 8: every header through which a client could claim a scheme, port, path
/// or address is dropped from untrusted peers, like `X-Forwarded-For`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheme_port_path_and_address_claims_are_dropped_from_untrusted_peers() {
    let up = EchoUpstream::start("app").await;
    let gh = TestGatehouse::start(&config(&up));
    let claims = [
        "X-Forwarded-Ssl: on",
        "X-Forwarded-Scheme: https",
        "X-Forwarded-Port: 443",
        "X-Forwarded-Prefix: /admin",
        "X-Forwarded-Server: internal",
        "X-Forwarded-Uri: /admin",
        "X-Original-URL: /admin/delete",
        "X-Rewrite-URL: /admin/delete",
        "Client-IP: 10.0.0.1",
        "True-Client-IP: 10.0.0.1",
        "X-Client-IP: 10.0.0.1",
        "x_original_url: /admin",
    ];
    let r = raw_get(gh.addr, "/pub/x", &claims);
    assert_eq!(r.status, 200);
    let seen = up.last();
    for claim in claims {
        let name = claim.split_once(':').unwrap().0;
        assert!(
            seen.header(name).is_none() && seen.header(&name.replace('_', "-")).is_none(),
            "{name} reached the upstream: {seen:?}"
        );
    }
}

/// Hardening finding 9 (SECURITY M5): the client's `Authorization` stays at the proxy unless
/// the route asks for it; the identity headers are what the upstream gets.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorization_is_forwarded_only_where_the_route_asks() {
    let up = EchoUpstream::start("app").await;
    let gh = TestGatehouse::start(
        &[
            "[tokens]\nlegacy_locations = [\"oauth_header\"]\n".to_string(),
            upstream_section("app", &up, ""),
            route("/kept", "app", "required", "forward_authorization = true"),
            route("/req", "app", "required", ""),
            route("/pub", "app", "public", ""),
        ]
        .concat(),
    );
    let token = gh.issue("5", &["read"]).await;
    for (path, scheme) in [
        ("/req/x", "Bearer"),
        ("/req/y", "OAuth"),
        ("/pub/x", "Bearer"),
    ] {
        let r = gh
            .client
            .get(gh.url(path))
            .header("Authorization", format!("{scheme} {token}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
        let seen = up.last();
        assert!(seen.header("authorization").is_none(), "{path}: {seen:?}");
    }
    assert_eq!(
        up.last().header("x-auth-user-id"),
        None,
        "public: no identity"
    );
    let r = gh.get("/req/z", Some(&token)).await;
    assert_eq!(r.status(), 200);
    assert_eq!(up.last().header("x-auth-user-id"), Some("5"));

    let r = gh.get("/kept/x", Some(&token)).await;
    assert_eq!(r.status(), 200);
    let expected = format!("Bearer {token}");
    assert_eq!(up.last().header("authorization"), Some(expected.as_str()));
}
