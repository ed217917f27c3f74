//! Admin listener (metrics, health, readiness), common response headers, request ids, bodies.

use crate::support;

use support::*;

fn config(up: &EchoUpstream) -> String {
    [
        upstream_section("app", up, ""),
        route("/app", "app", "required", "name = \"app-route\""),
        route("/echo", "handler:echo", "required", "name = \"echo\""),
        route("/open", "handler:echo", "public", "name = \"open\""),
    ]
    .concat()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_parse_and_count_what_happened() {
    let up = EchoUpstream::start("app").await;
    let gh = TestGatehouse::start(&config(&up));
    let t = gh.issue("u", &[]).await;
    for _ in 0..3 {
        assert_eq!(gh.get("/app/x", Some(&t)).await.status(), 200);
    }
    assert_eq!(gh.get("/app/x", None).await.status(), 401);
    assert_eq!(gh.get("/app/x", Some("bogus")).await.status(), 401);
    assert_eq!(gh.get("/nowhere", None).await.status(), 404);
    for i in 0..50 {
        // Random paths must not create series.
        gh.get(&format!("/random-{i}"), None).await;
    }

    // pingora counts a request in its logging hook, after the response went out: the last
    // one may be a moment behind the client.
    let unmatched = "gatehouse_requests_total{route=\"unmatched\",status_class=\"4xx\"}";
    let counted = eventually(std::time::Duration::from_secs(5), || async {
        metric_value(&gh.metrics_text().await, unmatched) >= 51.0
    })
    .await;
    assert!(counted, "the unmatched requests were not all counted");
    let text = gh.metrics_text().await;
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (series, value) = line.rsplit_once(' ').expect("series value");
        assert!(value.parse::<f64>().is_ok(), "bad value in {line}");
        let name = series.split('{').next().unwrap();
        assert!(name.starts_with("gatehouse_"), "unexpected metric {line}");
        assert!(!series.contains("random-"), "raw path in a label: {line}");
    }
    let m = |s: &str| metric_value(&text, s);
    assert_eq!(
        m("gatehouse_requests_total{route=\"app-route\",status_class=\"2xx\"}"),
        3.0
    );
    assert_eq!(
        m("gatehouse_requests_total{route=\"app-route\",status_class=\"4xx\"}"),
        2.0
    );
    assert_eq!(
        m("gatehouse_requests_total{route=\"unmatched\",status_class=\"4xx\"}"),
        51.0
    );
    assert_eq!(
        m("gatehouse_request_duration_seconds_count{route=\"app-route\"}"),
        5.0
    );
    assert_eq!(m("gatehouse_auth_decisions_total{result=\"ok\"}"), 3.0);
    assert_eq!(m("gatehouse_auth_decisions_total{result=\"missing\"}"), 1.0);
    assert_eq!(m("gatehouse_auth_decisions_total{result=\"invalid\"}"), 1.0);
    assert_eq!(m("gatehouse_token_cache_total{result=\"miss\"}"), 2.0);
    assert_eq!(m("gatehouse_token_cache_total{result=\"hit\"}"), 2.0);

    let r = gh
        .client
        .get(gh.admin_url("/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = gh.client.get(gh.admin_url("/readyz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["store"], "ok");
    // The admin endpoints are not on the proxy port.
    assert_eq!(gh.get("/metrics", None).await.status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn own_responses_carry_the_seed_headers() {
    let up = EchoUpstream::start("app").await;
    let gh = TestGatehouse::start(&config(&up));
    let t = gh.issue("9", &["read"]).await;
    for r in [
        gh.get("/echo", Some(&t)).await,
        gh.get("/app", None).await,
        gh.get("/nope", None).await,
    ] {
        let h = r.headers();
        assert_eq!(h["x-frame-options"], "SAMEORIGIN");
        assert_eq!(h["x-xss-protection"], "1; mode=block");
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert_eq!(h["access-control-allow-origin"], "*");
        assert_eq!(
            h["access-control-allow-methods"],
            "POST, PUT, DELETE, GET, OPTIONS"
        );
        assert_eq!(h["access-control-request-method"], "*");
        assert_eq!(
            h["access-control-allow-headers"],
            "Origin, X-Requested-With, Content-Type, Accept, Authorization, Content-Disposition"
        );
        let id = h["x-request-id"].to_str().unwrap();
        assert!(uuid::Uuid::parse_str(id).is_ok(), "{id}");
        let runtime: f64 = h["x-runtime"].to_str().unwrap().parse().unwrap();
        assert!((0.0..10.0).contains(&runtime));
        assert_eq!(
            h["content-length"]
                .to_str()
                .unwrap()
                .parse::<usize>()
                .unwrap(),
            r.content_length().unwrap() as usize
        );
    }
    // The echo handler reports the identity headers it would forward.
    let body: serde_json::Value = gh.get("/echo", Some(&t)).await.json().await.unwrap();
    assert_eq!(body["identity_headers"]["x-auth-user-id"], "9");
    assert_eq!(body["identity_headers"]["x-auth-scopes"], "read");
    let body: serde_json::Value = gh.get("/open", None).await.json().await.unwrap();
    assert_eq!(body["authenticated"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_ids_are_propagated_or_replaced() {
    let up = EchoUpstream::start("app").await;
    let gh = TestGatehouse::start(&config(&up));
    let t = gh.issue("u", &[]).await;
    let r = gh
        .client
        .get(gh.url("/app/x"))
        .bearer_auth(&t)
        .header("X-Request-Id", "trace-abc_123")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-request-id"], "trace-abc_123");
    assert_eq!(
        up.last().header_values("x-request-id"),
        vec!["trace-abc_123"]
    );

    let r = gh
        .client
        .get(gh.url("/app/x"))
        .bearer_auth(&t)
        .header("X-Request-Id", "bad id <x>")
        .send()
        .await
        .unwrap();
    let id = r.headers()["x-request-id"].to_str().unwrap().to_string();
    assert!(uuid::Uuid::parse_str(&id).is_ok());
    assert_eq!(up.last().header_values("x-request-id"), vec![id.as_str()]);

    let r = gh.client.get(gh.url("/app/x")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert!(uuid::Uuid::parse_str(r.headers()["x-request-id"].to_str().unwrap()).is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_are_bounded_and_rejections_lose_nothing() {
    let up = EchoUpstream::start("app").await;
    let gh = TestGatehouse::start(&config(&up));
    let t = gh.issue("u", &[]).await;
    let r = gh
        .client
        .post(gh.url("/echo"))
        .bearer_auth(&t)
        .body(vec![b'x'; 1 << 20])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request");

    // A rejected POST with a body, then a good request on a fresh connection, both answered.
    let r = gh
        .client
        .post(gh.url("/app/x"))
        .body("payload")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = gh
        .client
        .post(gh.url("/app/x"))
        .bearer_auth(&t)
        .body("payload")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(up.last().body, b"payload");
    assert_eq!(up.count(), 1);

    // CORS preflight is answered here, without credentials, never proxied.
    let r = gh
        .client
        .request(reqwest::Method::OPTIONS, gh.url("/app/x"))
        .header("Origin", "https://app.example.com")
        .header("Access-Control-Request-Method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(r.headers()["access-control-allow-origin"], "*");
    assert_eq!(up.count(), 1);
}
