//! Rate limits (issue 15 part 3) over real HTTP: a burst then 429 with `Retry-After` and the
//! draft RateLimit fields, refill, per-key isolation, the built-in `credentials` limit, two
//! Gatehouse instances sharing buckets through the real Redis at 127.0.0.1:6379, and Redis
//! going away (never started, or cut mid-test) under each fail mode.

use crate::support;

use serde_json::Value;
use std::time::Duration;
use support::tcp_proxy::TcpProxy;
use support::*;

const REDIS: &str = "127.0.0.1:6379";

/// The shared-bucket tests need the Redis CI runs; without it they fail, saying so.
async fn require_redis() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let reply = async {
        let mut s = tokio::net::TcpStream::connect(REDIS).await.ok()?;
        s.write_all(b"PING\r\n").await.ok()?;
        let mut buf = [0u8; 7];
        s.read_exact(&mut buf).await.ok()?;
        Some(buf)
    };
    let got = tokio::time::timeout(Duration::from_secs(5), reply)
        .await
        .ok()
        .flatten();
    assert_eq!(
        got.as_ref().map(|b| &b[..]),
        Some(&b"+PONG\r\n"[..]),
        "Redis is not reachable at {REDIS}: start redis-server (CI and scripts/install-deps.sh provide it)"
    );
}

fn unique_prefix(test: &str) -> String {
    format!("gatehouse-test:{test}:{}", uuid::Uuid::new_v4().simple())
}

fn limit(name: &str, key: &str, rate: &str, burst: u32, extra: &str) -> String {
    format!("[[rate_limits]]\nname = \"{name}\"\nkey = \"{key}\"\nrate = \"{rate}\"\nburst = {burst}\n{extra}\n")
}

fn limited_route(prefix: &str, auth: &str, limits: &str) -> String {
    route(prefix, "app", auth, &format!("rate_limit = {limits}"))
}

fn header<'a>(r: &'a reqwest::Response, name: &str) -> &'a str {
    r.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn burst_then_429_with_retry_after_and_ratelimit_fields_per_key() {
    let up = EchoUpstream::start("app").await;
    let gh = TestGatehouse::start(&format!(
        "{}{}{}{}{}",
        upstream_section("app", &up, ""),
        limit("per-user", "user", "1/h", 3, ""),
        limit("per-client", "client", "1/h", 1, ""),
        limited_route("/api", "required", "\"per-user\""),
        limited_route("/by-client", "required", "[\"per-client\"]"),
    ));
    let alice = gh.issue("alice", &[]).await;
    let bob = gh.issue("bob", &[]).await;

    for left in [2, 1, 0] {
        let r = gh.get("/api/x", Some(&alice)).await;
        assert_eq!(r.status(), 200);
        assert_eq!(header(&r, "ratelimit-policy"), "\"per-user\";q=1;w=3600");
        let state = header(&r, "ratelimit");
        assert!(
            state.starts_with(&format!("\"per-user\";r={left};t=")),
            "{state}"
        );
    }
    let r = gh.get("/api/x", Some(&alice)).await;
    assert_eq!(r.status(), 429);
    // The next token comes back an hour after the first was taken.
    let retry: u64 = header(&r, "retry-after").parse().unwrap();
    assert!((3500..=3600).contains(&retry), "{retry}");
    assert_eq!(header(&r, "ratelimit-policy"), "\"per-user\";q=1;w=3600");
    assert_eq!(
        header(&r, "ratelimit"),
        format!("\"per-user\";r=0;t={retry}")
    );
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "too_many_requests");
    // The upstream saw only the allowed requests.
    assert_eq!(up.count(), 3);

    // Another user has a bucket of their own.
    assert_eq!(gh.get("/api/x", Some(&bob)).await.status(), 200);
    // Both tokens belong to one client: the per-client bucket is shared by them.
    assert_eq!(gh.get("/by-client/x", Some(&alice)).await.status(), 200);
    assert_eq!(gh.get("/by-client/x", Some(&bob)).await.status(), 429);

    let m = gh.metrics_text().await;
    assert_eq!(
        metric_value(
            &m,
            "gatehouse_rate_limited_total{limit=\"per-user\",route=\"/api\"}"
        ),
        1.0,
        "{m}"
    );
    assert_eq!(
        metric_value(
            &m,
            "gatehouse_rate_limited_total{limit=\"per-client\",route=\"/by-client\"}"
        ),
        1.0
    );
}

/// An address limit on a public route, and anonymous requests on a `user` limit, are keyed by
/// the client address that `trusted_proxies` resolves; the bucket refills over time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn address_buckets_are_per_client_and_refill() {
    let up = EchoUpstream::start("app").await;
    let gh = TestGatehouse::start_at(
        free_port(),
        "trusted_proxies = [\"127.0.0.1\"]",
        &format!(
            "{}{}{}{}{}",
            upstream_section("app", &up, ""),
            limit("per-address", "address", "1/h", 1, ""),
            limit("refilling", "address", "4/s", 1, ""),
            limited_route("/pub", "public", "\"per-address\""),
            limited_route("/refill", "public", "\"refilling\""),
        ),
    );
    let from = |ip: &'static str, path: &'static str| {
        gh.client
            .get(gh.url(path))
            .header("x-forwarded-for", ip)
            .send()
    };
    assert_eq!(from("203.0.113.1", "/pub/x").await.unwrap().status(), 200);
    assert_eq!(from("203.0.113.1", "/pub/x").await.unwrap().status(), 429);
    // Another client behind the same proxy is not held back by the first.
    assert_eq!(from("203.0.113.2", "/pub/x").await.unwrap().status(), 200);

    // Refill: drain the bucket until it refuses, then it lets a request through again.
    let mut refused = false;
    for _ in 0..50 {
        if from("198.51.100.1", "/refill/x").await.unwrap().status() == 429 {
            refused = true;
            break;
        }
    }
    assert!(
        refused,
        "a burst of 1 at 4/s never refused 50 quick requests"
    );
    let allowed_again = eventually(Duration::from_secs(10), || async {
        from("198.51.100.1", "/refill/x").await.unwrap().status() == 200
    })
    .await;
    assert!(allowed_again, "the bucket never refilled");
}

/// Sign-in, the password login and the token endpoint share the built-in per-address
/// `credentials` limit; the file may redefine it. Other OAuth endpoints are not limited by it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credential_endpoints_have_a_per_address_limit() {
    let gh = TestGatehouse::start(&format!(
        "[oauth]\n[[clients]]\nid = \"pub\"\nlegacy = true\ngrant_types = [\"password\", \"refresh_token\"]\n{}",
        limit("credentials", "address", "1/h", 2, "")
    ));
    let token = |gh: &TestGatehouse| {
        gh.client
            .post(gh.url("/oauth/token"))
            .form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", "nope"),
                ("client_id", "pub"),
            ])
            .send()
    };
    assert_eq!(token(&gh).await.unwrap().status(), 400);
    assert_eq!(
        gh.client
            .post(gh.url("/oauth/authorize"))
            .json(&serde_json::json!({"username": "x", "password": "y", "grant_type": "password", "client_id": "pub"}))
            .send()
            .await
            .unwrap()
            .status(),
        400
    );
    let r = token(&gh).await.unwrap();
    assert_eq!(r.status(), 429);
    assert!(header(&r, "retry-after").parse::<u64>().unwrap() > 0);
    assert_eq!(header(&r, "ratelimit-policy"), "\"credentials\";q=1;w=3600");
    // The metadata document is not a credential endpoint.
    assert_eq!(
        gh.get("/.well-known/oauth-authorization-server", None)
            .await
            .status(),
        200
    );
    assert_eq!(
        gh.metric("gatehouse_rate_limited_total{limit=\"credentials\",route=\"oauth\"}")
            .await,
        1.0
    );
}

fn redis_limit(
    name: &str,
    backend: &str,
    prefix: &str,
    fail_mode: &str,
    rate: &str,
    burst: u32,
) -> String {
    limit(
        name,
        "user",
        rate,
        burst,
        &format!("backend = \"redis://{backend}\"\nkey_prefix = \"{prefix}\"\nfail_mode = \"{fail_mode}\"\ntimeout = \"500ms\""),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_share_buckets_through_redis() {
    require_redis().await;
    let up = EchoUpstream::start("app").await;
    let prefix = unique_prefix("shared");
    let sections = format!(
        "{}{}{}",
        upstream_section("app", &up, ""),
        redis_limit("shared", REDIS, &prefix, "closed", "1/h", 3),
        limited_route("/api", "required", "\"shared\""),
    );
    let a = TestGatehouse::start(&sections);
    let b = TestGatehouse::start(&sections);
    // Tokens from each replica's own store, for the same user id.
    let ta = a.issue("carol", &[]).await;
    let tb = b.issue("carol", &[]).await;
    let other = b.issue("dave", &[]).await;

    let mut statuses = Vec::new();
    for (gh, t) in [(&a, &ta), (&b, &tb), (&a, &ta), (&b, &tb), (&a, &ta)] {
        statuses.push(gh.get("/api/x", Some(t)).await.status().as_u16());
    }
    // Three tokens in the one shared bucket, whichever replica takes them.
    assert_eq!(statuses, [200, 200, 200, 429, 429]);
    let r = b.get("/api/x", Some(&tb)).await;
    assert_eq!(
        header(&r, "ratelimit"),
        format!("\"shared\";r=0;t={}", header(&r, "retry-after"))
    );
    assert_eq!(b.get("/api/x", Some(&other)).await.status(), 200);

    // The bucket lives in Redis under the configured prefix, and expires there on its own.
    let mut conn = redis::Client::open(format!("redis://{REDIS}"))
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let ttl: i64 = redis::cmd("PTTL")
        .arg(format!("{prefix}:shared:user:carol"))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(ttl > 0 && ttl <= 3 * 3600 * 1000 + 1, "{ttl}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_unreachable_fails_open_or_closed_as_configured() {
    let up = EchoUpstream::start("app").await;
    // Nothing listens there: every check fails at once.
    let closed_port = format!("127.0.0.1:{}", free_port());
    let prefix = unique_prefix("down");
    let gh = TestGatehouse::start(&format!(
        "{}{}{}{}{}",
        upstream_section("app", &up, ""),
        redis_limit("lenient", &closed_port, &prefix, "open", "1/h", 1),
        redis_limit("strict", &closed_port, &prefix, "closed", "1/h", 1),
        limited_route("/open", "required", "\"lenient\""),
        limited_route("/closed", "required", "\"strict\""),
    ));
    let t = gh.issue("erin", &[]).await;
    for _ in 0..3 {
        let r = gh.get("/open/x", Some(&t)).await;
        assert_eq!(r.status(), 200);
        assert!(r.headers().get("ratelimit").is_none());
    }
    let r = gh.get("/closed/x", Some(&t)).await;
    assert_eq!(r.status(), 503);
    assert_eq!(header(&r, "retry-after"), "1");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "temporarily_unavailable");
    let m = gh.metrics_text().await;
    assert_eq!(
        metric_value(
            &m,
            "gatehouse_rate_limit_backend_errors_total{fail_mode=\"open\",limit=\"lenient\"}"
        ),
        3.0,
        "{m}"
    );
    assert_eq!(
        metric_value(
            &m,
            "gatehouse_rate_limit_backend_errors_total{fail_mode=\"closed\",limit=\"strict\"}"
        ),
        1.0
    );
}

/// Redis cut between Gatehouse and the server mid-test (a TCP cutter, as in the PostgreSQL
/// outage tests): a closed limit refuses with 503 while it is away and limits again after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_cut_mid_test_then_restored() {
    require_redis().await;
    let cutter = TcpProxy::start(REDIS.parse().unwrap()).await;
    let up = EchoUpstream::start("app").await;
    let prefix = unique_prefix("cut");
    let gh = TestGatehouse::start(&format!(
        "{}{}{}",
        upstream_section("app", &up, ""),
        redis_limit(
            "strict",
            &cutter.addr.to_string(),
            &prefix,
            "closed",
            "1/h",
            2
        ),
        limited_route("/api", "required", "\"strict\""),
    ));
    let t = gh.issue("frank", &[]).await;
    assert_eq!(gh.get("/api/x", Some(&t)).await.status(), 200);

    cutter.cut();
    assert!(
        eventually(Duration::from_secs(10), || async {
            gh.get("/api/x", Some(&t)).await.status() == 503
        })
        .await,
        "a closed limit let requests through while Redis was cut"
    );

    cutter.restore();
    // Back: the bucket kept its state in Redis (one token left), so requests are limited
    // again. Polled without asserting on time: each request's own timeout paces the loop.
    let mut seen = Vec::new();
    for _ in 0..200 {
        let s = gh.get("/api/x", Some(&t)).await.status().as_u16();
        seen.push(s);
        if s == 429 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        seen.last(),
        Some(&429),
        "never limited again after Redis came back: {seen:?}"
    );
    assert!(seen.iter().all(|s| [200, 503, 429].contains(s)), "{seen:?}");
    assert!(
        gh.metric(
            "gatehouse_rate_limit_backend_errors_total{fail_mode=\"closed\",limit=\"strict\"}"
        )
        .await
            >= 1.0
    );
}
