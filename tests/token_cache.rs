//! The moka cache in front of the store: revocation is immediate on this process, negative
//! entries expire, concurrent misses share one store lookup, floods do not evict good entries.

use crate::support;

use gatehouse::auth::hash_token;
use gatehouse::store::{now_unix, StoredAccessToken};
use std::sync::Arc;
use std::time::Duration;
use support::*;

const STORE_LOOKUPS: &str = "gatehouse_token_store_lookups_total";

fn config(up: &EchoUpstream, cache: &str) -> String {
    [
        upstream_section("app", up, ""),
        route("/", "app", "required", ""),
        cache.to_string(),
    ]
    .concat()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocation_is_immediate_on_this_process() {
    let up = EchoUpstream::start("app").await;
    let gh = TestGatehouse::start(&config(&up, "[cache]\nttl = \"300s\"\n"));
    let t = gh.issue("u", &[]).await;
    assert_eq!(gh.get("/a", Some(&t)).await.status(), 200);
    assert_eq!(gh.get("/a", Some(&t)).await.status(), 200);
    assert!(
        gh.metric("gatehouse_token_cache_total{result=\"hit\"}")
            .await
            >= 1.0
    );
    assert!(gh.running.state().tokens.revoke(&t).await.unwrap());
    assert_eq!(gh.get("/a", Some(&t)).await.status(), 401);
    assert_eq!(up.count(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn negative_entries_expire() {
    let up = EchoUpstream::start("app").await;
    let gh = TestGatehouse::start(&config(&up, "[cache]\nnegative_ttl = \"1s\"\n"));
    let token = "chosen-token-value-for-negative-cache-test";
    assert_eq!(gh.get("/a", Some(token)).await.status(), 401);

    // The token appears in the store (say, written by another replica) after the miss.
    let now = now_unix();
    gh.running
        .state()
        .store
        .insert_access_token(
            hash_token(token),
            StoredAccessToken {
                user_id: Some("late".into()),
                user_name: None,
                client_id: None,
                scopes: String::new(),
                admin: false,
                created_at: now,
                expires_at: now + 3600,
                revoked: false,
                family_id: None,
                groups: String::new(),
            },
        )
        .await
        .unwrap();
    assert_eq!(
        gh.get("/a", Some(token)).await.status(),
        401,
        "negative entry still fresh"
    );
    assert!(
        gh.metric("gatehouse_token_cache_total{result=\"negative_hit\"}")
            .await
            >= 1.0
    );
    tokio::time::sleep(Duration::from_millis(1300)).await;
    assert_eq!(
        gh.get("/a", Some(token)).await.status(),
        200,
        "negative entry expired"
    );
    assert_eq!(up.last().header("x-auth-user-id"), Some("late"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_misses_hit_the_store_once() {
    let up = EchoUpstream::start("app").await;
    let gh = Arc::new(TestGatehouse::start(&config(&up, "")));
    let t = Arc::new(gh.issue("u", &[]).await);
    let before = gh.metric(STORE_LOOKUPS).await;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(200)
        .build()
        .unwrap();
    let mut tasks = Vec::new();
    for _ in 0..1000 {
        let (client, t, url) = (client.clone(), t.clone(), gh.url("/c"));
        tasks.push(tokio::spawn(async move {
            client
                .get(url)
                .bearer_auth(t.as_str())
                .send()
                .await
                .map(|r| r.status().as_u16())
        }));
    }
    let mut ok = 0;
    for task in tasks {
        if task.await.unwrap().unwrap() == 200 {
            ok += 1;
        }
    }
    assert_eq!(ok, 1000);
    assert_eq!(gh.metric(STORE_LOOKUPS).await - before, 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_token_flood_does_not_evict_good_entries() {
    let up = EchoUpstream::start("app").await;
    let gh = TestGatehouse::start(&config(&up, "[cache]\nmax_entries = 100\n"));
    let good = gh.issue("u", &[]).await;
    assert_eq!(gh.get("/a", Some(&good)).await.status(), 200);
    for i in 0..1000 {
        let r = gh.get("/a", Some(&format!("random-token-{i}"))).await;
        assert_eq!(r.status(), 401);
    }
    let (positive, negative) = gh.running.state().validator.entry_counts().await;
    assert!(negative <= 10, "negative cache is bounded: {negative}");
    assert!(positive + negative <= 100);
    let lookups = gh.metric(STORE_LOOKUPS).await;
    let hits = gh
        .metric("gatehouse_token_cache_total{result=\"hit\"}")
        .await;
    assert_eq!(gh.get("/a", Some(&good)).await.status(), 200);
    assert_eq!(
        gh.metric(STORE_LOOKUPS).await,
        lookups,
        "the good token was still cached"
    );
    assert_eq!(
        gh.metric("gatehouse_token_cache_total{result=\"hit\"}")
            .await,
        hits + 1.0
    );
}
