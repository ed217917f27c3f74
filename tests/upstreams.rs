//! Upstream failure and recovery: 502 JSON when down, 504 when silent, health checks and
//! readiness, round-robin across addresses.

use crate::support;

use std::time::{Duration, Instant};
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn down_upstream_gives_502_then_recovers() {
    let up = EchoUpstream::start("app").await;
    let gh = TestGatehouse::start(
        &[
            upstream_section("app", &up, "connect_timeout = \"1s\""),
            route("/", "app", "public", ""),
        ]
        .concat(),
    );
    assert_eq!(gh.get("/x", None).await.status(), 200);

    up.stop();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let started = Instant::now();
    let r = gh.get("/x", None).await;
    assert_eq!(r.status(), 502);
    assert!(started.elapsed() < Duration::from_secs(5), "no hang");
    assert!(r.headers().get("x-request-id").is_some());
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"], "bad_gateway");
    assert!(
        gh.metric("gatehouse_upstream_errors_total{upstream=\"app\"}")
            .await
            >= 1.0
    );

    up.restart().await;
    assert_eq!(gh.get("/x", None).await.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_upstream_gives_504_in_time() {
    let up = EchoUpstream::start("app").await;
    up.set_silent(true);
    let gh = TestGatehouse::start(
        &[
            upstream_section("app", &up, "read_timeout = \"500ms\""),
            route("/", "app", "public", ""),
        ]
        .concat(),
    );
    let started = Instant::now();
    let r = gh.get("/x", None).await;
    assert_eq!(r.status(), 504);
    assert!(started.elapsed() < Duration::from_secs(5));
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"], "gateway_timeout");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_checks_drive_readiness_and_selection() {
    let a = EchoUpstream::start("a").await;
    let b = EchoUpstream::start("b").await;
    let section = format!(
        "[[upstreams]]\nname = \"app\"\naddrs = [\"{}\", \"{}\"]\nhealth_check = {{ path = \"/health\", interval = \"100ms\" }}\n",
        a.addr, b.addr
    );
    let gh = TestGatehouse::start(&[section, route("/", "app", "public", "")].concat());
    let wait = Duration::from_secs(10);
    assert!(eventually(wait, || async { gh.ready_status().await == 200 }).await);

    // Round-robin: both addresses get traffic.
    for _ in 0..10 {
        assert_eq!(gh.get("/rr", None).await.status(), 200);
    }
    assert!(
        a.count() >= 3 && b.count() >= 3,
        "a={} b={}",
        a.count(),
        b.count()
    );

    // One address fails its check: traffic goes to the other only; still ready.
    a.set_healthy(false);
    // Wait until the failing address stopped getting traffic (its check ran).
    assert!(
        eventually(wait, || async {
            let before = a.count();
            for _ in 0..4 {
                gh.get("/probe", None).await;
            }
            a.count() == before
        })
        .await
    );
    let a_before = a.count();
    for _ in 0..6 {
        assert_eq!(gh.get("/one", None).await.status(), 200);
    }
    assert_eq!(a.count(), a_before);
    assert_eq!(
        gh.client
            .get(gh.admin_url("/readyz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    // Both fail: not ready, and the proxy answers 502 at once instead of trying.
    b.set_healthy(false);
    assert!(eventually(wait, || async { gh.ready_status().await == 503 }).await);
    let r = gh.client.get(gh.admin_url("/readyz")).send().await.unwrap();
    assert_eq!(r.status(), 503);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["upstreams"]["app"], "unhealthy");
    assert_eq!(gh.get("/none", None).await.status(), 502);

    // Recovery.
    a.set_healthy(true);
    b.set_healthy(true);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        gh.client
            .get(gh.admin_url("/readyz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(gh.get("/back", None).await.status(), 200);
}
