//! The periodic purge removes ended tokens from the store while the server runs.

use crate::support;

use gatehouse::auth::{hash_token, NewToken};
use std::time::Duration;
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_tokens_are_purged_periodically() {
    let dir = tempfile::tempdir().unwrap();
    let store = format!(
        "[store]\nurl = \"sqlite://{}\"\npurge_interval = \"1s\"\npurge_keep = \"0s\"\n",
        dir.path().join("g.db").display()
    );
    let gh = TestGatehouse::start_with_store(dir, &store, "");
    let new = || NewToken {
        user_id: Some("u".into()),
        ..Default::default()
    };
    let expired = gh.issue_with(new(), Duration::ZERO).await;
    let live = gh.issue_with(new(), Duration::from_secs(3600)).await;
    let state = gh.running.state().clone();
    let find = |token: String| {
        let state = state.clone();
        async move {
            state
                .store
                .find_access_token(hash_token(&token))
                .await
                .unwrap()
        }
    };
    assert!(find(expired.clone()).await.is_some());
    let gone = eventually(Duration::from_secs(10), || {
        let f = find(expired.clone());
        async move { f.await.is_none() }
    })
    .await;
    assert!(gone, "the expired token's row was purged");
    assert!(find(live).await.is_some(), "live tokens stay");
}
