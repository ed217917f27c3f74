//! Backend-independent conformance suite for the store layer.
//!
//! Every case in `store_suite_cases` is written once against `Arc<dyn Store>` and knows nothing
//! of the backend. `store_suite!` instantiates all cases for one backend: it generates a module
//! named after the backend holding one `#[tokio::test]` per case, each on a fresh, empty,
//! migrated store (e.g. `sqlite::rotate_refresh_token`). Run one backend with
//! `cargo test --test store_suite sqlite::`.

use crate::support;

use gatehouse::auth::{generate_token, hash_token};
use gatehouse::store::{
    now_unix, AuthorizationRequest, FbAccount, FbAdAccount, FbPage, IssuedTokens, NewUser,
    OidcGrant, PostgresStore, Redemption, Reissue, Renewal, SignedInUser, SqliteStore, Store,
    StoreError, StoredAccessToken, StoredCode, StoredRefreshToken, StoredSession, ThrottleOutcome,
    ThrottlePolicy, TokenHash,
};
use std::any::Any;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A fresh, empty, migrated store, plus whatever must outlive it (a temp dir, a schema guard).
pub struct Backend {
    pub store: Arc<dyn Store>,
    pub _guard: Box<dyn Any + Send>,
}

// ---------------------------------------------------------------------------------------------
// Backends. Each opener must return an EMPTY store: cases count rows (e.g. `list_users` totals).
// ---------------------------------------------------------------------------------------------

async fn open_sqlite() -> Backend {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open(&dir.path().join("store.db"), 8, Duration::from_secs(10))
        .await
        .expect("open sqlite store");
    Backend {
        store: Arc::new(store),
        _guard: Box::new(dir),
    }
}

/// A new schema on the test PostgreSQL (`support::postgres`: the local server, or
/// `GATEHOUSE_TEST_POSTGRES_URL`); the test fails, naming PostgreSQL, when it does not answer.
async fn open_postgres() -> Backend {
    let url = support::postgres::url("store_suite::postgres").await;
    let schema = support::postgres::fresh_schema();
    let store = PostgresStore::open(&url, Some(&schema), 8, Duration::from_secs(10))
        .await
        .expect("open postgres store");
    Backend {
        store: Arc::new(store),
        _guard: Box::new(()),
    }
}

// ---------------------------------------------------------------------------------------------
// Instantiation: one test per case per backend.
// ---------------------------------------------------------------------------------------------

macro_rules! store_suite {
    ($backend:ident => $open:ident) => {
        store_suite!(@cases $backend, $open;
            ping,
            access_tokens,
            insert_tokens_writes_access_and_refresh,
            failed_grant_writes_nothing_among_concurrent_ones,
            rotate_refresh_token,
            declined_renewal_changes_nothing,
            concurrent_rotation_has_one_winner,
            codes,
            concurrent_code_redemption_has_one_winner,
            revoke_family,
            authorization_requests,
            consents,
            oidc_grants,
            users,
            user_and_token_groups,
            users_list_pagination,
            delete_user_revokes_tokens,
            delete_user_removes_facebook_links,
            concurrent_create_user_conflicts,
            username_skeletons_are_unique,
            concurrent_look_alikes_conflict,
            throttle_lockout_and_ban,
            throttle_reset_and_release,
            throttle_concurrent_attempts,
            throttle_window_expiry,
            throttle_status_counts_nothing,
            purge_expired,
            sessions,
            session_rotation_revokes_the_replaced_one,
            delete_user_revokes_sessions,
            purge_removes_ended_sessions,
            server_keys_first_writer_wins,
        );
    };
    (@cases $backend:ident, $open:ident; $($case:ident),* $(,)?) => {
        mod $backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let backend = super::$open().await;
                    super::store_suite_cases::$case(backend.store.clone()).await;
                    drop(backend);
                }
            )*
        }
    };
}

store_suite!(sqlite => open_sqlite);
store_suite!(postgres => open_postgres);

// ---------------------------------------------------------------------------------------------
// Helpers.
// ---------------------------------------------------------------------------------------------

fn fresh_hash() -> TokenHash {
    hash_token(&generate_token())
}

fn sorted(mut hashes: Vec<TokenHash>) -> Vec<TokenHash> {
    hashes.sort();
    hashes
}

fn access_token(family: Option<&str>, user_id: &str, now: i64) -> StoredAccessToken {
    StoredAccessToken {
        user_id: Some(user_id.to_string()),
        user_name: Some(format!("name-{user_id}")),
        client_id: Some("web-app".to_string()),
        scopes: "read write".to_string(),
        admin: false,
        created_at: now,
        expires_at: now + 3600,
        revoked: false,
        family_id: family.map(str::to_string),
        groups: String::new(),
    }
}

fn refresh_token(family: &str, user_id: &str, now: i64) -> StoredRefreshToken {
    StoredRefreshToken {
        family_id: family.to_string(),
        user_id: Some(user_id.to_string()),
        user_name: Some(format!("name-{user_id}")),
        client_id: "web-app".to_string(),
        scopes: "read write".to_string(),
        admin: false,
        created_at: now,
        expires_at: now + 86_400,
        rotated: false,
        revoked: false,
        groups: String::new(),
    }
}

/// A fresh access + refresh pair of `family` for `user_id`.
fn issued(family: &str, user_id: &str, now: i64) -> IssuedTokens {
    IssuedTokens {
        access: (fresh_hash(), access_token(Some(family), user_id, now)),
        refresh: Some((fresh_hash(), refresh_token(family, user_id, now))),
    }
}

fn refresh_hash(t: &IssuedTokens) -> TokenHash {
    t.refresh.as_ref().expect("refresh token").0
}

fn new_user(username: &str) -> NewUser {
    NewUser {
        username: username.to_string(),
        username_key: username.to_lowercase(),
        username_skeleton: format!("skeleton-{}", username.to_lowercase()),
        password_hash: format!("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA${username}"),
        groups: String::new(),
    }
}

mod store_suite_cases {
    use super::*;

    async fn access(store: &Arc<dyn Store>, hash: &TokenHash) -> Option<StoredAccessToken> {
        store
            .find_access_token(hash)
            .await
            .expect("find_access_token")
    }

    async fn refresh(store: &Arc<dyn Store>, hash: &TokenHash) -> Option<StoredRefreshToken> {
        store
            .find_refresh_token(hash)
            .await
            .expect("find_refresh_token")
    }

    /// Both halves of `t` read back exactly as written, but with the given flags.
    async fn assert_pair(store: &Arc<dyn Store>, t: &IssuedTokens, revoked: bool, rotated: bool) {
        let (ah, a) = &t.access;
        assert_eq!(
            access(store, ah).await,
            Some(StoredAccessToken {
                revoked,
                ..a.clone()
            })
        );
        let (rh, r) = t.refresh.as_ref().unwrap();
        assert_eq!(
            refresh(store, rh).await,
            Some(StoredRefreshToken {
                revoked,
                rotated,
                ..r.clone()
            })
        );
    }

    /// Neither half of `t` was written.
    async fn assert_absent(store: &Arc<dyn Store>, t: &IssuedTokens) {
        assert_eq!(access(store, &t.access.0).await, None);
        assert_eq!(refresh(store, &refresh_hash(t)).await, None);
    }

    fn replayed(r: Redemption) -> Vec<TokenHash> {
        match r {
            Redemption::Replayed { revoked } => sorted(revoked),
            other => panic!("expected Replayed, got {other:?}"),
        }
    }

    // 12.
    pub async fn ping(store: Arc<dyn Store>) {
        store.ping().await.expect("ping");
    }

    // 1.
    pub async fn access_tokens(store: Arc<dyn Store>) {
        let now = now_unix();
        let h = fresh_hash();
        let t = StoredAccessToken {
            user_id: Some("42".to_string()),
            user_name: Some("alice".to_string()),
            client_id: Some("web-app".to_string()),
            scopes: "openid profile admin".to_string(),
            admin: true,
            created_at: now,
            expires_at: now + 3600,
            revoked: false,
            family_id: Some("fam-access".to_string()),
            groups: String::new(),
        };
        store.insert_access_token(&h, &t).await.unwrap();
        assert_eq!(access(&store, &h).await, Some(t.clone()));

        // All optional fields empty.
        let bare_h = fresh_hash();
        let bare = StoredAccessToken {
            user_id: None,
            user_name: None,
            client_id: None,
            scopes: String::new(),
            admin: false,
            created_at: now - 10,
            expires_at: now + 10,
            revoked: false,
            family_id: None,
            groups: String::new(),
        };
        store.insert_access_token(&bare_h, &bare).await.unwrap();
        assert_eq!(access(&store, &bare_h).await, Some(bare.clone()));

        // Inserted already revoked.
        let dead_h = fresh_hash();
        let dead = StoredAccessToken {
            revoked: true,
            ..access_token(None, "9", now)
        };
        store.insert_access_token(&dead_h, &dead).await.unwrap();
        assert_eq!(access(&store, &dead_h).await, Some(dead));

        let unknown = fresh_hash();
        assert_eq!(access(&store, &unknown).await, None);

        assert!(store.revoke_access_token(&h, now + 5).await.unwrap());
        let revoked = StoredAccessToken {
            revoked: true,
            ..t.clone()
        };
        assert_eq!(access(&store, &h).await, Some(revoked.clone()));

        assert!(!store.revoke_access_token(&unknown, now + 5).await.unwrap());
        assert_eq!(access(&store, &unknown).await, None);

        // A second revocation finds the token and leaves it revoked.
        assert!(store.revoke_access_token(&h, now + 50).await.unwrap());
        assert_eq!(access(&store, &h).await, Some(revoked));

        // Others untouched.
        assert_eq!(access(&store, &bare_h).await, Some(bare));
    }

    // 2.
    /// A grant whose refresh token hash is taken fails with `Conflict` and leaves no access
    /// token behind (it was written first), while the grants written at the same time (SQLite
    /// commits queued grants together) all stand.
    pub async fn failed_grant_writes_nothing_among_concurrent_ones(store: Arc<dyn Store>) {
        let now = now_unix();
        let taken = issued("fam-taken", "1", now);
        store.insert_tokens(&taken).await.unwrap();
        let mut clash = issued("fam-clash", "2", now);
        if let (Some(r), Some(t)) = (clash.refresh.as_mut(), taken.refresh.as_ref()) {
            r.0 = t.0;
        }
        // Alone (nothing else queued, so no savepoint on SQLite's grant thread): the access
        // token written before the clash goes with it.
        let mut alone = issued("fam-clash-alone", "2", now);
        if let (Some(r), Some(t)) = (alone.refresh.as_mut(), taken.refresh.as_ref()) {
            r.0 = t.0;
        }
        let outcome = store.insert_tokens(&alone).await;
        assert!(matches!(outcome, Err(StoreError::Conflict)), "{outcome:?}");
        assert_eq!(access(&store, &alone.access.0).await, None);

        let mut grants: Vec<IssuedTokens> = (0..30).map(|_| issued("fam-ok", "3", now)).collect();
        grants.insert(15, clash.clone());
        let tasks: Vec<_> = grants
            .iter()
            .cloned()
            .map(|g| {
                let store = store.clone();
                tokio::spawn(async move { store.insert_tokens(&g).await })
            })
            .collect();
        for (i, t) in tasks.into_iter().enumerate() {
            let outcome = t.await.expect("task");
            if i == 15 {
                assert!(matches!(outcome, Err(StoreError::Conflict)), "{outcome:?}");
            } else {
                outcome.expect("insert_tokens");
            }
        }
        assert_eq!(
            access(&store, &clash.access.0).await,
            None,
            "the failed grant's access token was not written"
        );
        let kept = store
            .find_refresh_token(&refresh_hash(&taken))
            .await
            .unwrap();
        assert_eq!(kept.map(|r| r.family_id).as_deref(), Some("fam-taken"));
        for (i, g) in grants.iter().enumerate().filter(|(i, _)| *i != 15) {
            assert!(access(&store, &g.access.0).await.is_some(), "grant {i}");
            let r = store.find_refresh_token(&refresh_hash(g)).await.unwrap();
            assert!(r.is_some(), "grant {i}");
        }
    }

    pub async fn insert_tokens_writes_access_and_refresh(store: Arc<dyn Store>) {
        let now = now_unix();
        let t = IssuedTokens {
            access: (
                fresh_hash(),
                StoredAccessToken {
                    user_id: Some("7".to_string()),
                    user_name: Some("carol".to_string()),
                    client_id: Some("spa".to_string()),
                    scopes: "openid email".to_string(),
                    admin: true,
                    created_at: now,
                    expires_at: now + 900,
                    revoked: false,
                    family_id: Some("fam-pair".to_string()),
                    groups: String::new(),
                },
            ),
            refresh: Some((
                fresh_hash(),
                StoredRefreshToken {
                    family_id: "fam-pair".to_string(),
                    user_id: Some("7".to_string()),
                    user_name: Some("carol".to_string()),
                    client_id: "spa".to_string(),
                    scopes: "openid email".to_string(),
                    admin: true,
                    created_at: now,
                    expires_at: now + 30 * 86_400,
                    rotated: false,
                    revoked: false,
                    groups: String::new(),
                },
            )),
        };
        store.insert_tokens(&t).await.unwrap();
        assert_eq!(access(&store, &t.access.0).await, Some(t.access.1.clone()));
        let (rh, r) = t.refresh.clone().unwrap();
        assert_eq!(refresh(&store, &rh).await, Some(r));
        // The access hash is not a refresh token, nor the other way round.
        assert_eq!(refresh(&store, &t.access.0).await, None);
        assert_eq!(access(&store, &rh).await, None);
        assert_eq!(refresh(&store, &fresh_hash()).await, None);

        // A grant without refresh token writes only the access token.
        let only = IssuedTokens {
            access: (fresh_hash(), access_token(Some("fam-only"), "8", now)),
            refresh: None,
        };
        store.insert_tokens(&only).await.unwrap();
        assert_eq!(
            access(&store, &only.access.0).await,
            Some(only.access.1.clone())
        );
    }

    // 3.
    pub async fn rotate_refresh_token(store: Arc<dyn Store>) {
        let now = now_unix();
        let fam = "fam-rotate";
        let bystander = issued("fam-bystander", "2", now);
        store.insert_tokens(&bystander).await.unwrap();

        let first = issued(fam, "1", now);
        store.insert_tokens(&first).await.unwrap();
        let second = issued(fam, "1", now + 1);
        assert_eq!(
            store
                .rotate_refresh_token(&refresh_hash(&first), now + 1, &second)
                .await
                .unwrap(),
            Redemption::Redeemed
        );
        assert_pair(&store, &second, false, false).await;
        assert_eq!(
            refresh(&store, &refresh_hash(&first)).await,
            Some(StoredRefreshToken {
                rotated: true,
                ..first.refresh.clone().unwrap().1
            })
        );

        // Replay of the rotated token: the whole family goes.
        let third = issued(fam, "1", now + 2);
        let revoked = replayed(
            store
                .rotate_refresh_token(&refresh_hash(&first), now + 2, &third)
                .await
                .unwrap(),
        );
        assert_eq!(revoked, sorted(vec![first.access.0, second.access.0]));
        assert_absent(&store, &third).await;
        assert_pair(&store, &first, true, true).await;
        assert_pair(&store, &second, true, false).await;
        assert_pair(&store, &bystander, false, false).await;

        // The revoked (never rotated) successor cannot be rotated either.
        let fourth = issued(fam, "1", now + 3);
        assert_eq!(
            store
                .rotate_refresh_token(&refresh_hash(&second), now + 3, &fourth)
                .await
                .unwrap(),
            Redemption::Unusable
        );
        assert_absent(&store, &fourth).await;

        // Unknown.
        let fifth = issued(fam, "1", now + 3);
        assert_eq!(
            store
                .rotate_refresh_token(&fresh_hash(), now + 3, &fifth)
                .await
                .unwrap(),
            Redemption::Unusable
        );
        assert_absent(&store, &fifth).await;

        // Expired.
        let mut expired = issued("fam-expired", "3", now - 100);
        expired.refresh.as_mut().unwrap().1.expires_at = now - 1;
        store.insert_tokens(&expired).await.unwrap();
        let sixth = issued("fam-expired", "3", now);
        assert_eq!(
            store
                .rotate_refresh_token(&refresh_hash(&expired), now, &sixth)
                .await
                .unwrap(),
            Redemption::Unusable
        );
        assert_absent(&store, &sixth).await;
        assert_pair(&store, &expired, false, false).await;
        assert_pair(&store, &bystander, false, false).await;
    }

    // 3b. `renew_refresh_token` shows the stored token to the grant before anything is
    // written; a refusal leaves the token, live or rotated, as it was (no replay revocation).
    // Both ways a store may run the grant: inside its write (cheap) and outside (signing).
    pub async fn declined_renewal_changes_nothing(store: Arc<dyn Store>) {
        declined_renewal(&store, "fam-decline-cheap", true).await;
        declined_renewal(&store, "fam-decline-signing", false).await;
    }

    /// `make` as a cheap or a signing grant.
    fn way(
        cheap: bool,
        make: impl FnMut(&StoredRefreshToken) -> Option<IssuedTokens> + Send + 'static,
    ) -> Reissue {
        if cheap {
            Reissue::cheap(make)
        } else {
            Reissue::signing(make)
        }
    }

    async fn declined_renewal(store: &Arc<dyn Store>, fam: &str, cheap: bool) {
        let now = now_unix();
        let first = issued(fam, "1", now);
        store.insert_tokens(&first).await.unwrap();
        let old = refresh_hash(&first);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let refuse = move |stored: &StoredRefreshToken| {
            log.lock().unwrap().push(stored.clone());
            None
        };
        let stored = first.refresh.clone().unwrap().1;
        assert_eq!(
            store
                .renew_refresh_token(&old, now + 1, way(cheap, refuse))
                .await
                .unwrap(),
            Renewal::Declined(stored.clone())
        );
        assert_eq!(*seen.lock().unwrap(), vec![stored.clone()]);
        assert_eq!(refresh(store, &old).await, Some(stored.clone()));

        let second = issued(fam, "1", now + 1);
        let give = second.clone();
        let accept = move |_: &StoredRefreshToken| Some(give.clone());
        assert_eq!(
            store
                .renew_refresh_token(&old, now + 1, way(cheap, accept))
                .await
                .unwrap(),
            Renewal::Renewed
        );
        assert_pair(store, &second, false, false).await;

        // Refused once rotated: still no replay, the family stays live.
        let refuse = |_: &StoredRefreshToken| None;
        assert_eq!(
            store
                .renew_refresh_token(&old, now + 2, way(cheap, refuse))
                .await
                .unwrap(),
            Renewal::Declined(StoredRefreshToken {
                rotated: true,
                ..stored
            })
        );
        assert_pair(store, &second, false, false).await;
        assert_pair(store, &first, false, true).await;
    }

    // 4.
    pub async fn concurrent_rotation_has_one_winner(store: Arc<dyn Store>) {
        rotation_race(&store, "fam-race-cheap", true).await;
        rotation_race(&store, "fam-race-signing", false).await;
    }

    async fn rotation_race(store: &Arc<dyn Store>, fam: &str, cheap: bool) {
        let now = now_unix();
        let first = issued(fam, "1", now);
        store.insert_tokens(&first).await.unwrap();
        let old = refresh_hash(&first);
        let candidates: Vec<IssuedTokens> = (0..20).map(|_| issued(fam, "1", now + 1)).collect();

        let tasks: Vec<_> = candidates
            .iter()
            .cloned()
            .map(|new| {
                let store = store.clone();
                tokio::spawn(async move {
                    let renewal = store
                        .renew_refresh_token(&old, now + 1, way(cheap, move |_| Some(new.clone())))
                        .await?;
                    Ok::<_, StoreError>(match renewal {
                        Renewal::Renewed => Redemption::Redeemed,
                        Renewal::Replayed { revoked } => Redemption::Replayed { revoked },
                        Renewal::Declined(_) | Renewal::Unusable => Redemption::Unusable,
                    })
                })
            })
            .collect();
        let mut outcomes = Vec::new();
        for t in tasks {
            outcomes.push(t.await.expect("task").expect("rotate_refresh_token"));
        }

        let winners: Vec<usize> = (0..outcomes.len())
            .filter(|&i| outcomes[i] == Redemption::Redeemed)
            .collect();
        assert_eq!(winners.len(), 1, "outcomes: {outcomes:?}");
        let w = winners[0];
        let family = sorted(vec![first.access.0, candidates[w].access.0]);
        let mut any_replay = false;
        for (i, o) in outcomes.into_iter().enumerate() {
            if i == w {
                continue;
            }
            match o {
                Redemption::Replayed { revoked } => {
                    any_replay = true;
                    assert_eq!(sorted(revoked), family);
                }
                Redemption::Unusable => {}
                Redemption::Redeemed => unreachable!(),
            }
            assert_absent(store, &candidates[i]).await;
        }
        // Only the winner's pair was written; a replay revoked the family.
        assert_pair(store, &candidates[w], any_replay, false).await;
        assert_pair(store, &first, any_replay, true).await;
    }

    // 5.
    pub async fn codes(store: Arc<dyn Store>) {
        let now = now_unix();
        let h = fresh_hash();
        let code = StoredCode {
            family_id: "fam-code".to_string(),
            client_id: "web-app".to_string(),
            user_id: "7".to_string(),
            user_name: Some("carol".to_string()),
            redirect_uri: "https://app.example/cb".to_string(),
            scopes: "openid profile".to_string(),
            code_challenge: Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".to_string()),
            code_challenge_method: Some("S256".to_string()),
            created_at: now,
            expires_at: now + 60,
            used: false,
        };
        store.insert_code(&h, &code).await.unwrap();
        assert_eq!(store.find_code(&h).await.unwrap(), Some(code.clone()));
        assert_eq!(store.find_code(&fresh_hash()).await.unwrap(), None);

        let bare_h = fresh_hash();
        let bare = StoredCode {
            user_name: None,
            code_challenge: None,
            code_challenge_method: None,
            scopes: String::new(),
            family_id: "fam-bare".to_string(),
            ..code.clone()
        };
        store.insert_code(&bare_h, &bare).await.unwrap();
        assert_eq!(store.find_code(&bare_h).await.unwrap(), Some(bare));

        let tokens = issued("fam-code", "7", now + 1);
        assert_eq!(
            store.redeem_code(&h, now + 1, &tokens).await.unwrap(),
            Redemption::Redeemed
        );
        assert_pair(&store, &tokens, false, false).await;
        assert_eq!(
            store.find_code(&h).await.unwrap(),
            Some(StoredCode {
                used: true,
                ..code.clone()
            })
        );

        let again = issued("fam-code", "7", now + 2);
        let revoked = replayed(store.redeem_code(&h, now + 2, &again).await.unwrap());
        assert_eq!(revoked, vec![tokens.access.0]);
        assert_pair(&store, &tokens, true, false).await;
        assert_absent(&store, &again).await;

        // Expired.
        let exp_h = fresh_hash();
        let expired = StoredCode {
            family_id: "fam-code-expired".to_string(),
            created_at: now - 120,
            expires_at: now - 1,
            ..code.clone()
        };
        store.insert_code(&exp_h, &expired).await.unwrap();
        let late = issued("fam-code-expired", "7", now);
        assert_eq!(
            store.redeem_code(&exp_h, now, &late).await.unwrap(),
            Redemption::Unusable
        );
        assert_absent(&store, &late).await;
        assert_eq!(store.find_code(&exp_h).await.unwrap(), Some(expired));

        // Unknown.
        let stray = issued("fam-stray", "7", now);
        assert_eq!(
            store.redeem_code(&fresh_hash(), now, &stray).await.unwrap(),
            Redemption::Unusable
        );
        assert_absent(&store, &stray).await;
    }

    // 5 (concurrency).
    pub async fn concurrent_code_redemption_has_one_winner(store: Arc<dyn Store>) {
        let now = now_unix();
        let h = fresh_hash();
        let code = StoredCode {
            family_id: "fam-code-race".to_string(),
            client_id: "web-app".to_string(),
            user_id: "7".to_string(),
            user_name: None,
            redirect_uri: "https://app.example/cb".to_string(),
            scopes: "openid".to_string(),
            code_challenge: None,
            code_challenge_method: None,
            created_at: now,
            expires_at: now + 60,
            used: false,
        };
        store.insert_code(&h, &code).await.unwrap();
        let candidates: Vec<IssuedTokens> = (0..20)
            .map(|_| issued("fam-code-race", "7", now + 1))
            .collect();
        let tasks: Vec<_> = candidates
            .iter()
            .cloned()
            .map(|t| {
                let store = store.clone();
                tokio::spawn(async move { store.redeem_code(&h, now + 1, &t).await })
            })
            .collect();
        let mut outcomes = Vec::new();
        for t in tasks {
            outcomes.push(t.await.expect("task").expect("redeem_code"));
        }
        let winners: Vec<usize> = (0..outcomes.len())
            .filter(|&i| outcomes[i] == Redemption::Redeemed)
            .collect();
        assert_eq!(winners.len(), 1, "outcomes: {outcomes:?}");
        let w = winners[0];
        let mut any_replay = false;
        for (i, o) in outcomes.into_iter().enumerate() {
            if i == w {
                continue;
            }
            match o {
                Redemption::Replayed { revoked } => {
                    any_replay = true;
                    assert_eq!(revoked, vec![candidates[w].access.0]);
                }
                Redemption::Unusable => {}
                Redemption::Redeemed => unreachable!(),
            }
            assert_absent(&store, &candidates[i]).await;
        }
        assert_pair(&store, &candidates[w], any_replay, false).await;
        assert_eq!(
            store.find_code(&h).await.unwrap(),
            Some(StoredCode { used: true, ..code })
        );
    }

    // 6.
    pub async fn revoke_family(store: Arc<dyn Store>) {
        let now = now_unix();
        let a1 = issued("fam-a", "1", now);
        let a2 = issued("fam-a", "1", now + 1);
        let a3_h = fresh_hash();
        let a3 = access_token(Some("fam-a"), "1", now);
        let b = issued("fam-b", "1", now);
        let loose_h = fresh_hash();
        let loose = access_token(None, "1", now);
        store.insert_tokens(&a1).await.unwrap();
        store.insert_tokens(&a2).await.unwrap();
        store.insert_access_token(&a3_h, &a3).await.unwrap();
        store.insert_tokens(&b).await.unwrap();
        store.insert_access_token(&loose_h, &loose).await.unwrap();

        let revoked = store.revoke_family("fam-a", now + 2).await.unwrap();
        assert_eq!(
            sorted(revoked),
            sorted(vec![a1.access.0, a2.access.0, a3_h])
        );
        assert_pair(&store, &a1, true, false).await;
        assert_pair(&store, &a2, true, false).await;
        assert_eq!(
            access(&store, &a3_h).await,
            Some(StoredAccessToken {
                revoked: true,
                ..a3
            })
        );
        assert_pair(&store, &b, false, false).await;
        assert_eq!(access(&store, &loose_h).await, Some(loose));

        // Revoking again still lists the family; an unknown family lists nothing.
        let again = store.revoke_family("fam-a", now + 3).await.unwrap();
        assert_eq!(sorted(again), sorted(vec![a1.access.0, a2.access.0, a3_h]));
        assert_eq!(
            store.revoke_family("fam-none", now).await.unwrap(),
            Vec::<TokenHash>::new()
        );
        assert_pair(&store, &b, false, false).await;
    }

    // 7.
    pub async fn authorization_requests(store: Arc<dyn Store>) {
        let now = now_unix();
        let id = fresh_hash();
        let req = AuthorizationRequest {
            csrf_token: "csrf-0123456789".to_string(),
            client_id: "web-app".to_string(),
            redirect_uri: "https://app.example/cb".to_string(),
            scopes: "openid profile".to_string(),
            state: Some("xyz".to_string()),
            code_challenge: Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".to_string()),
            code_challenge_method: Some("S256".to_string()),
            user_id: None,
            user_name: None,
            created_at: now,
            expires_at: now + 600,
            nonce: None,
            prompt: None,
            auth_time: None,
            sid: None,
        };
        store.insert_authorization_request(&id, &req).await.unwrap();
        assert_eq!(
            store.find_authorization_request(&id).await.unwrap(),
            Some(req.clone())
        );
        assert_eq!(
            store
                .find_authorization_request(&fresh_hash())
                .await
                .unwrap(),
            None
        );

        // All optional fields set at insert.
        let full_id = fresh_hash();
        let full = AuthorizationRequest {
            state: None,
            code_challenge: None,
            code_challenge_method: None,
            user_id: Some("5".to_string()),
            user_name: Some("eve".to_string()),
            nonce: Some("n-0S6_WzA2Mj".to_string()),
            prompt: Some("consent".to_string()),
            auth_time: Some(now - 5),
            sid: Some("sid-1".to_string()),
            ..req.clone()
        };
        store
            .insert_authorization_request(&full_id, &full)
            .await
            .unwrap();
        assert_eq!(
            store.find_authorization_request(&full_id).await.unwrap(),
            Some(full.clone())
        );

        store
            .set_authorization_request_user(
                &id,
                &SignedInUser {
                    user_id: "42".to_string(),
                    user_name: "alice".to_string(),
                    auth_time: now - 1,
                    sid: "sid-2".to_string(),
                },
            )
            .await
            .unwrap();
        let signed_in = AuthorizationRequest {
            user_id: Some("42".to_string()),
            user_name: Some("alice".to_string()),
            auth_time: Some(now - 1),
            sid: Some("sid-2".to_string()),
            ..req.clone()
        };
        assert_eq!(
            store.find_authorization_request(&id).await.unwrap(),
            Some(signed_in)
        );

        assert!(store.take_authorization_request(&id).await.unwrap());
        assert!(!store.take_authorization_request(&id).await.unwrap());
        assert_eq!(store.find_authorization_request(&id).await.unwrap(), None);
        assert!(!store
            .take_authorization_request(&fresh_hash())
            .await
            .unwrap());
        // The other request is untouched.
        assert_eq!(
            store.find_authorization_request(&full_id).await.unwrap(),
            Some(full)
        );
    }

    // 8.
    pub async fn oidc_grants(store: Arc<dyn Store>) {
        let now = now_unix();
        let grant = |family: &str, sid: &str, expires_at: i64| OidcGrant {
            family_id: format!("{family}-{}", generate_token()),
            client_id: "rp".to_string(),
            user_id: "42".to_string(),
            sid: sid.to_string(),
            nonce: Some("n".to_string()),
            auth_time: now - 3,
            created_at: now,
            expires_at,
        };
        let sid = generate_token();
        let (a, b) = (grant("a", &sid, now + 600), grant("b", &sid, now - 7200));
        let other = grant("c", "another-sign-in", now + 600);
        for g in [&a, &b, &other] {
            store.insert_oidc_grant(g).await.unwrap();
        }
        assert_eq!(
            store.find_oidc_grant(&a.family_id).await.unwrap(),
            Some(a.clone())
        );
        assert_eq!(store.find_oidc_grant("nope").await.unwrap(), None);
        let mut families = store.oidc_families_of_sign_in(&sid).await.unwrap();
        families.sort();
        let mut expected = vec![a.family_id.clone(), b.family_id.clone()];
        expected.sort();
        assert_eq!(families, expected);
        assert!(matches!(
            store.insert_oidc_grant(&a).await,
            Err(StoreError::Conflict)
        ));
        // Purged once ended and without a refresh token of its family.
        store.purge_expired(now, 60).await.unwrap();
        assert_eq!(store.find_oidc_grant(&b.family_id).await.unwrap(), None);
        assert!(store.find_oidc_grant(&a.family_id).await.unwrap().is_some());
    }

    pub async fn consents(store: Arc<dyn Store>) {
        let now = now_unix();
        assert_eq!(store.find_consent("42", "web-app").await.unwrap(), None);
        store
            .save_consent("42", "web-app", "openid", now)
            .await
            .unwrap();
        assert_eq!(
            store.find_consent("42", "web-app").await.unwrap(),
            Some("openid".to_string())
        );
        // Keyed by (user, client).
        assert_eq!(store.find_consent("42", "spa").await.unwrap(), None);
        assert_eq!(store.find_consent("43", "web-app").await.unwrap(), None);
        store
            .save_consent("43", "web-app", "email", now)
            .await
            .unwrap();

        store
            .save_consent("42", "web-app", "openid profile email", now + 10)
            .await
            .unwrap();
        assert_eq!(
            store.find_consent("42", "web-app").await.unwrap(),
            Some("openid profile email".to_string())
        );
        assert_eq!(
            store.find_consent("43", "web-app").await.unwrap(),
            Some("email".to_string())
        );
    }

    // 9.
    pub async fn users(store: Arc<dyn Store>) {
        let now = now_unix();
        let nu = new_user("Alice");
        let alice = store.create_user(&nu, now).await.unwrap();
        assert_eq!(alice.username, "Alice");
        assert_eq!(alice.created_at, now);

        let dup = NewUser {
            username: "ALICE".to_string(),
            username_key: "alice".to_string(),
            username_skeleton: "skeleton-other".to_string(),
            password_hash: "other".to_string(),
            groups: String::new(),
        };
        let err = store.create_user(&dup, now + 1).await;
        assert!(
            matches!(err, Err(StoreError::Conflict)),
            "expected Conflict, got {err:?}"
        );

        let bob = store.create_user(&new_user("Bob"), now + 2).await.unwrap();
        assert_ne!(bob.id, alice.id);
        assert_eq!(bob.username, "Bob");
        assert_eq!(bob.created_at, now + 2);

        let creds = store
            .find_user_by_key("alice")
            .await
            .unwrap()
            .expect("alice");
        assert_eq!(creds.user, alice);
        assert_eq!(creds.password_hash, nu.password_hash);
        assert!(store.find_user_by_key("Alice").await.unwrap().is_none());
        assert!(store.find_user_by_key("nobody").await.unwrap().is_none());

        assert_eq!(
            store.find_user(alice.id).await.unwrap(),
            Some(alice.clone())
        );
        assert_eq!(store.find_user(bob.id).await.unwrap(), Some(bob.clone()));
        assert_eq!(
            store.find_user(alice.id.max(bob.id) + 1000).await.unwrap(),
            None
        );

        let (page, total) = store.list_users(0, 10).await.unwrap();
        assert_eq!(total, 2);
        let mut expected = vec![alice, bob];
        expected.sort_by_key(|u| u.id);
        assert_eq!(page, expected);
    }

    // 9 (pagination).
    /// Issue 15 part 2: a user's groups, and the groups tokens were issued with, read back
    /// as written; users created without groups have none.
    pub async fn user_and_token_groups(store: Arc<dyn Store>) {
        let now = now_unix();
        let ed = store
            .create_user(
                &NewUser {
                    groups: "editors staff".to_string(),
                    ..new_user("Ed")
                },
                now,
            )
            .await
            .unwrap();
        assert_eq!(ed.groups, "editors staff");
        let plain = store.create_user(&new_user("Plain"), now).await.unwrap();
        assert_eq!(plain.groups, "");
        let creds = store.find_user_by_key("ed").await.unwrap().expect("ed");
        assert_eq!(creds.user.groups, "editors staff");
        assert_eq!(store.find_user(ed.id).await.unwrap(), Some(ed.clone()));
        let (page, _) = store.list_users(0, 10).await.unwrap();
        assert_eq!(page, vec![ed.clone(), plain.clone()]);

        let mut t = issued("fam-groups", &ed.id.to_string(), now);
        t.access.1.groups = "editors staff".to_string();
        if let Some((_, r)) = t.refresh.as_mut() {
            r.groups = "editors staff".to_string();
        }
        store.insert_tokens(&t).await.unwrap();
        assert_eq!(
            access(&store, &t.access.0).await.unwrap().groups,
            "editors staff"
        );
        assert_eq!(
            refresh(&store, &refresh_hash(&t)).await.unwrap().groups,
            "editors staff"
        );
        let single = fresh_hash();
        let bare = access_token(None, &plain.id.to_string(), now);
        store.insert_access_token(&single, &bare).await.unwrap();
        assert_eq!(access(&store, &single).await.unwrap().groups, "");
    }

    pub async fn users_list_pagination(store: Arc<dyn Store>) {
        let now = now_unix();
        let mut created = Vec::new();
        for i in 0..12 {
            let u = store
                .create_user(&new_user(&format!("user{i:02}")), now + i)
                .await
                .unwrap();
            created.push(u);
        }
        created.sort_by_key(|u| u.id);

        let (first, total) = store.list_users(0, 10).await.unwrap();
        assert_eq!(total, 12);
        assert_eq!(first, created[..10].to_vec());

        let (last, total) = store.list_users(10, 10).await.unwrap();
        assert_eq!(total, 12);
        assert_eq!(last.len(), 2);
        assert_eq!(last, created[10..].to_vec());

        let (middle, total) = store.list_users(3, 4).await.unwrap();
        assert_eq!(total, 12);
        assert_eq!(middle, created[3..7].to_vec());

        let (beyond, total) = store.list_users(20, 10).await.unwrap();
        assert_eq!(total, 12);
        assert_eq!(beyond, Vec::new());
    }

    // 9 (delete).
    // Hardening 13: deleting a user leaves nothing of their Facebook link behind.
    pub async fn delete_user_removes_facebook_links(store: Arc<dyn Store>) {
        let now = now_unix();
        let dave = store.create_user(&new_user("Dave"), now).await.unwrap();
        let erin = store.create_user(&new_user("Erin"), now).await.unwrap();
        let link = |user: i64, fb: &str| {
            let store = store.clone();
            let fb = fb.to_string();
            async move {
                let account = FbAccount {
                    id: format!("acct-{fb}"),
                    fb_user_id: fb.clone(),
                    user_id: user.to_string(),
                    name: None,
                    email: None,
                    token_ciphertext: vec![1, 2, 3],
                    token_expires_at: None,
                    scopes: String::new(),
                    declined_scopes: String::new(),
                    created_at: now,
                    updated_at: now,
                };
                let pages = [FbPage {
                    page_id: format!("page-{fb}"),
                    name: "p".into(),
                    avatar: None,
                    is_owned: true,
                    is_connected: false,
                }];
                let ads = [FbAdAccount {
                    ad_account_id: format!("ad-{fb}"),
                    name: None,
                }];
                store.link_fb_account(&account, &pages, &ads).await.unwrap()
            }
        };
        let dave_acct = link(dave.id, "fb-dave").await;
        let erin_acct = link(erin.id, "fb-erin").await;
        assert!(store
            .fb_link_of_user(&dave.id.to_string())
            .await
            .unwrap()
            .is_some());

        store
            .delete_user(dave.id, now + 1)
            .await
            .unwrap()
            .expect("dave existed");
        assert_eq!(
            store.fb_link_of_user(&dave.id.to_string()).await.unwrap(),
            None
        );
        assert_eq!(store.find_fb_account(&dave_acct).await.unwrap(), None);
        assert!(store.fb_pages(&dave_acct).await.unwrap().is_empty());
        // Another user's link is untouched, and the freed Facebook id can be linked again.
        assert!(store.find_fb_account(&erin_acct).await.unwrap().is_some());
        assert_eq!(store.fb_pages(&erin_acct).await.unwrap().len(), 1);
        assert_eq!(
            store.fb_link_of_user(&erin.id.to_string()).await.unwrap(),
            Some(("fb-erin".to_string(), vec!["ad-fb-erin".to_string()]))
        );
        let frank = store.create_user(&new_user("Frank"), now).await.unwrap();
        link(frank.id, "fb-dave").await;
    }

    pub async fn delete_user_revokes_tokens(store: Arc<dyn Store>) {
        let now = now_unix();
        let bob = store.create_user(&new_user("Bob"), now).await.unwrap();
        let carol = store.create_user(&new_user("Carol"), now).await.unwrap();
        let bob_id = bob.id.to_string();
        let carol_id = carol.id.to_string();

        let bob_pair = issued("fam-bob", &bob_id, now);
        let bob_loose_h = fresh_hash();
        let bob_loose = access_token(None, &bob_id, now);
        let carol_pair = issued("fam-carol", &carol_id, now);
        store.insert_tokens(&bob_pair).await.unwrap();
        store
            .insert_access_token(&bob_loose_h, &bob_loose)
            .await
            .unwrap();
        store.insert_tokens(&carol_pair).await.unwrap();

        let revoked = store
            .delete_user(bob.id, now + 1)
            .await
            .unwrap()
            .expect("bob existed");
        assert_eq!(
            sorted(revoked),
            sorted(vec![bob_pair.access.0, bob_loose_h])
        );
        assert_pair(&store, &bob_pair, true, false).await;
        assert_eq!(
            access(&store, &bob_loose_h).await,
            Some(StoredAccessToken {
                revoked: true,
                ..bob_loose
            })
        );
        assert_pair(&store, &carol_pair, false, false).await;

        assert_eq!(store.find_user(bob.id).await.unwrap(), None);
        assert!(store.find_user_by_key("bob").await.unwrap().is_none());
        assert_eq!(
            store.find_user(carol.id).await.unwrap(),
            Some(carol.clone())
        );
        let (page, total) = store.list_users(0, 10).await.unwrap();
        assert_eq!((page, total), (vec![carol.clone()], 1));

        assert_eq!(store.delete_user(bob.id, now + 2).await.unwrap(), None);
        assert_eq!(
            store.delete_user(carol.id + 1000, now + 2).await.unwrap(),
            None
        );
        assert_pair(&store, &carol_pair, false, false).await;
    }

    // 10.
    pub async fn concurrent_create_user_conflicts(store: Arc<dyn Store>) {
        let now = now_unix();
        let tasks: Vec<_> = (0..10)
            .map(|i| {
                let store = store.clone();
                tokio::spawn(async move {
                    let u = NewUser {
                        username: format!("Dave{i}"),
                        username_key: "dave".to_string(),
                        username_skeleton: format!("skeleton-dave{i}"),
                        password_hash: format!("hash-{i}"),
                        groups: String::new(),
                    };
                    store.create_user(&u, now).await
                })
            })
            .collect();
        let mut ok = Vec::new();
        let mut conflicts = 0;
        for t in tasks {
            match t.await.expect("task") {
                Ok(u) => ok.push(u),
                Err(StoreError::Conflict) => conflicts += 1,
                Err(e) => panic!("expected Ok or Conflict, got {e:?}"),
            }
        }
        assert_eq!(ok.len(), 1, "winners: {ok:?}");
        assert_eq!(conflicts, 9);
        let winner = ok.pop().unwrap();
        let creds = store.find_user_by_key("dave").await.unwrap().expect("dave");
        assert_eq!(creds.user, winner);
        assert_eq!(
            creds.password_hash,
            format!("hash-{}", winner.username.trim_start_matches("Dave"))
        );
        assert_eq!(store.list_users(0, 100).await.unwrap(), (vec![winner], 1));
    }

    // Hardening finding 10: two names that look alike are one name. The skeleton is a unique
    // index, so a look-alike with another key is refused by the store itself.
    pub async fn username_skeletons_are_unique(store: Arc<dyn Store>) {
        let now = now_unix();
        let alice = store.create_user(&new_user("alice"), now).await.unwrap();
        assert!(store
            .username_skeleton_taken("skeleton-alice")
            .await
            .unwrap());
        assert!(!store.username_skeleton_taken("skeleton-bob").await.unwrap());
        let look_alike = NewUser {
            username: "\u{430}lice".to_string(),
            username_key: "\u{430}lice".to_string(),
            username_skeleton: "skeleton-alice".to_string(),
            password_hash: "other".to_string(),
            groups: String::new(),
        };
        let err = store.create_user(&look_alike, now).await;
        assert!(
            matches!(err, Err(StoreError::Conflict)),
            "expected Conflict, got {err:?}"
        );
        assert!(store
            .find_user_by_key("\u{430}lice")
            .await
            .unwrap()
            .is_none());
        assert_eq!(store.list_users(0, 10).await.unwrap(), (vec![alice], 1));
        // Every user already has a skeleton: a start-up fill finds nothing to do.
        let fill = store
            .fill_username_skeletons(|key| format!("skeleton-{key}"))
            .await
            .unwrap();
        assert_eq!(fill, Default::default());
    }

    /// Concurrent sign-ups of look-alikes (distinct keys, one skeleton): exactly one wins.
    pub async fn concurrent_look_alikes_conflict(store: Arc<dyn Store>) {
        let now = now_unix();
        let tasks: Vec<_> = (0..8)
            .map(|i| {
                let store = store.clone();
                tokio::spawn(async move {
                    let u = NewUser {
                        username: format!("eve{i}"),
                        username_key: format!("eve{i}"),
                        username_skeleton: "skeleton-eve".to_string(),
                        password_hash: format!("hash-{i}"),
                        groups: String::new(),
                    };
                    store.create_user(&u, now).await
                })
            })
            .collect();
        let mut winners = 0;
        for t in tasks {
            match t.await.expect("task") {
                Ok(_) => winners += 1,
                Err(StoreError::Conflict) => {}
                Err(e) => panic!("expected Ok or Conflict, got {e:?}"),
            }
        }
        assert_eq!(winners, 1);
        assert_eq!(store.list_users(0, 100).await.unwrap().1, 1);
    }

    const POLICY: ThrottlePolicy = ThrottlePolicy {
        max_attempts: 5,
        window_secs: 300,
        ban_secs: 900,
    };

    const ALLOWED: ThrottleOutcome = ThrottleOutcome {
        allowed: true,
        locked_until: 0,
    };

    fn locked(until: i64) -> ThrottleOutcome {
        ThrottleOutcome {
            allowed: false,
            locked_until: until,
        }
    }

    async fn attempt(store: &Arc<dyn Store>, key: &str, now: i64) -> ThrottleOutcome {
        store
            .throttle_attempt(key, now, POLICY)
            .await
            .expect("throttle_attempt")
    }

    // 11.
    pub async fn throttle_lockout_and_ban(store: Arc<dyn Store>) {
        let now = now_unix();
        for i in 1..=5 {
            assert_eq!(attempt(&store, "acct:a", now).await, ALLOWED, "attempt {i}");
        }
        assert_eq!(attempt(&store, "acct:a", now).await, locked(now + 900));
        // A different key is independent.
        assert_eq!(attempt(&store, "acct:b", now).await, ALLOWED);
        // Still locked later within the ban, and the ban is not extended.
        assert_eq!(
            attempt(&store, "acct:a", now + 100).await,
            locked(now + 900)
        );
        assert_eq!(
            attempt(&store, "acct:a", now + 899).await,
            locked(now + 900)
        );
        // After the ban: a fresh window of five.
        let later = now + 901;
        for i in 1..=5 {
            assert_eq!(
                attempt(&store, "acct:a", later).await,
                ALLOWED,
                "attempt {i}"
            );
        }
        assert_eq!(attempt(&store, "acct:a", later).await, locked(later + 900));
        assert_eq!(attempt(&store, "acct:b", later).await, ALLOWED);
    }

    // 11 (status): reading a ban neither counts an attempt nor extends the ban.
    pub async fn throttle_status_counts_nothing(store: Arc<dyn Store>) {
        let now = now_unix();
        assert_eq!(store.throttle_locked_until("acct:s", now).await.unwrap(), 0);
        for _ in 1..=4 {
            assert_eq!(attempt(&store, "acct:s", now).await, ALLOWED);
        }
        for _ in 0..10 {
            assert_eq!(store.throttle_locked_until("acct:s", now).await.unwrap(), 0);
        }
        assert_eq!(
            attempt(&store, "acct:s", now).await,
            ALLOWED,
            "still the fifth"
        );
        assert_eq!(attempt(&store, "acct:s", now).await, locked(now + 900));
        assert_eq!(
            store
                .throttle_locked_until("acct:s", now + 10)
                .await
                .unwrap(),
            now + 900
        );
        assert_eq!(
            store
                .throttle_locked_until("acct:s", now + 900)
                .await
                .unwrap(),
            0
        );
    }

    // 11 (reset, release).
    pub async fn throttle_reset_and_release(store: Arc<dyn Store>) {
        let now = now_unix();
        // Reset clears a lock and the count.
        for _ in 1..=5 {
            assert_eq!(attempt(&store, "acct:r", now).await, ALLOWED);
        }
        assert_eq!(attempt(&store, "acct:r", now).await, locked(now + 900));
        store.throttle_reset("acct:r").await.unwrap();
        for i in 1..=5 {
            assert_eq!(
                attempt(&store, "acct:r", now + 1).await,
                ALLOWED,
                "attempt {i}"
            );
        }
        assert_eq!(attempt(&store, "acct:r", now + 1).await, locked(now + 901));
        store.throttle_reset("acct:unknown").await.unwrap();

        // Release gives exactly one attempt back.
        for _ in 1..=5 {
            assert_eq!(attempt(&store, "ip:x", now).await, ALLOWED);
        }
        store.throttle_release("ip:x").await.unwrap();
        assert_eq!(attempt(&store, "ip:x", now).await, ALLOWED);
        assert_eq!(attempt(&store, "ip:x", now).await, locked(now + 900));

        // Releasing an unknown key is harmless and grants nothing extra.
        store.throttle_release("ip:y").await.unwrap();
        for _ in 1..=5 {
            assert_eq!(attempt(&store, "ip:y", now).await, ALLOWED);
        }
        assert_eq!(attempt(&store, "ip:y", now).await, locked(now + 900));
    }

    // 11 (concurrency).
    pub async fn throttle_concurrent_attempts(store: Arc<dyn Store>) {
        let now = now_unix();
        let tasks: Vec<_> = (0..50)
            .map(|_| {
                let store = store.clone();
                tokio::spawn(async move { store.throttle_attempt("ip:c", now, POLICY).await })
            })
            .collect();
        let mut allowed = 0;
        for t in tasks {
            let o = t.await.expect("task").expect("throttle_attempt");
            if o.allowed {
                assert_eq!(o, ALLOWED);
                allowed += 1;
            } else {
                assert_eq!(o, locked(now + 900));
            }
        }
        assert_eq!(allowed, 5);
        assert_eq!(attempt(&store, "ip:c", now).await, locked(now + 900));
        assert_eq!(attempt(&store, "ip:d", now).await, ALLOWED);
    }

    // 11 (window).
    pub async fn throttle_window_expiry(store: Arc<dyn Store>) {
        let now = now_unix();
        for _ in 1..=3 {
            assert_eq!(attempt(&store, "acct:w", now).await, ALLOWED);
        }
        // Within the window the count carries on: one at `now`, four at `now + 299`, the sixth locks.
        assert_eq!(attempt(&store, "acct:v", now).await, ALLOWED);
        for _ in 1..=4 {
            assert_eq!(attempt(&store, "acct:v", now + 299).await, ALLOWED);
        }
        assert_eq!(
            attempt(&store, "acct:v", now + 299).await,
            locked(now + 299 + 900)
        );

        // Past the window the count restarts: five more pass.
        let later = now + 301;
        for i in 1..=5 {
            assert_eq!(
                attempt(&store, "acct:w", later).await,
                ALLOWED,
                "attempt {i}"
            );
        }
        assert_eq!(attempt(&store, "acct:w", later).await, locked(later + 900));
    }

    /// Retention: rows that ended before `now - keep` go, everything else stays.
    pub async fn purge_expired(store: Arc<dyn Store>) {
        let now = now_unix();
        let old = now - 10_000;
        let mut expired = issued("f-old", "u1", old);
        expired.access.1.expires_at = old + 10;
        if let Some((_, r)) = expired.refresh.as_mut() {
            r.expires_at = old + 10;
        }
        let live = issued("f-live", "u2", now);
        store.insert_tokens(&expired).await.unwrap();
        store.insert_tokens(&live).await.unwrap();
        let code_hash = fresh_hash();
        let code = StoredCode {
            family_id: "f-code".into(),
            client_id: "web-app".into(),
            user_id: "u1".into(),
            user_name: None,
            redirect_uri: "https://app.example/cb".into(),
            scopes: String::new(),
            code_challenge: None,
            code_challenge_method: None,
            created_at: old,
            expires_at: old + 60,
            used: false,
        };
        store.insert_code(&code_hash, &code).await.unwrap();
        let policy = ThrottlePolicy {
            max_attempts: 5,
            window_secs: 300,
            ban_secs: 900,
        };
        store.throttle_attempt("ip:old", old, policy).await.unwrap();
        store.throttle_attempt("ip:new", now, policy).await.unwrap();

        // Keeping an hour: the rows that ended ~2.8 h ago go (access, refresh, code, throttle).
        let removed = store.purge_expired(now, 3600).await.unwrap();
        assert_eq!(removed, 4);
        assert_eq!(access(&store, &expired.access.0).await, None);
        assert_eq!(refresh(&store, &refresh_hash(&expired)).await, None);
        assert_eq!(store.find_code(&code_hash).await.unwrap(), None);
        assert_pair(&store, &live, false, false).await;
        // The fresh throttle still counts: its next attempt is the second.
        for _ in 0..4 {
            assert!(
                store
                    .throttle_attempt("ip:new", now, policy)
                    .await
                    .unwrap()
                    .allowed
            );
        }
        assert!(
            !store
                .throttle_attempt("ip:new", now, policy)
                .await
                .unwrap()
                .allowed
        );
        assert_eq!(store.purge_expired(now, 3600).await.unwrap(), 0);
    }

    fn session(user_id: &str, now: i64) -> StoredSession {
        StoredSession {
            user_id: user_id.into(),
            user_name: format!("name-{user_id}"),
            groups: "staff ops".into(),
            created_at: now,
            expires_at: now + 3600,
            last_seen_at: now,
            revoked: false,
        }
    }

    pub async fn sessions(store: Arc<dyn Store>) {
        let now = now_unix();
        let h = fresh_hash();
        assert_eq!(store.find_session(&h).await.unwrap(), None);
        let s = session("7", now);
        store.insert_session(&h, &s, None).await.unwrap();
        assert_eq!(store.find_session(&h).await.unwrap(), Some(s.clone()));
        // The last use only moves forward.
        store.touch_session(&h, now + 30).await.unwrap();
        store.touch_session(&h, now + 10).await.unwrap();
        assert_eq!(
            store.find_session(&h).await.unwrap().unwrap().last_seen_at,
            now + 30
        );
        assert!(store.revoke_session(&h, now + 40).await.unwrap());
        assert!(!store.revoke_session(&h, now + 50).await.unwrap());
        assert!(!store.revoke_session(&fresh_hash(), now).await.unwrap());
        let found = store.find_session(&h).await.unwrap().unwrap();
        assert!(found.revoked);
        assert_eq!(found.user_name, "name-7");
        assert_eq!(found.groups, "staff ops");
        // A hash is a primary key: a second insert of it is refused, the first row kept.
        assert!(store
            .insert_session(&h, &session("8", now), None)
            .await
            .is_err());
        assert_eq!(store.find_session(&h).await.unwrap().unwrap().user_id, "7");
    }

    pub async fn session_rotation_revokes_the_replaced_one(store: Arc<dyn Store>) {
        let now = now_unix();
        let (old, new, other) = (fresh_hash(), fresh_hash(), fresh_hash());
        store
            .insert_session(&old, &session("1", now), None)
            .await
            .unwrap();
        store
            .insert_session(&other, &session("1", now), None)
            .await
            .unwrap();
        store
            .insert_session(&new, &session("1", now + 1), Some(&old))
            .await
            .unwrap();
        assert!(store.find_session(&old).await.unwrap().unwrap().revoked);
        assert!(!store.find_session(&new).await.unwrap().unwrap().revoked);
        assert!(!store.find_session(&other).await.unwrap().unwrap().revoked);
        // Replacing one that does not exist (a forged cookie) still signs in.
        let newer = fresh_hash();
        store
            .insert_session(&newer, &session("1", now), Some(&fresh_hash()))
            .await
            .unwrap();
        assert!(store.find_session(&newer).await.unwrap().is_some());
        // A failed insert leaves the replaced session alone (one transaction).
        assert!(store
            .insert_session(&newer, &session("1", now), Some(&other))
            .await
            .is_err());
        assert!(!store.find_session(&other).await.unwrap().unwrap().revoked);
    }

    pub async fn delete_user_revokes_sessions(store: Arc<dyn Store>) {
        let now = now_unix();
        let bob = store.create_user(&new_user("Bob"), now).await.unwrap();
        let carol = store.create_user(&new_user("Carol"), now).await.unwrap();
        let (b1, b2, c1) = (fresh_hash(), fresh_hash(), fresh_hash());
        store
            .insert_session(&b1, &session(&bob.id.to_string(), now), None)
            .await
            .unwrap();
        store
            .insert_session(&b2, &session(&bob.id.to_string(), now), None)
            .await
            .unwrap();
        store
            .insert_session(&c1, &session(&carol.id.to_string(), now), None)
            .await
            .unwrap();
        let revoked = store.delete_user(bob.id, now + 1).await.unwrap().unwrap();
        assert_eq!(sorted(revoked), sorted(vec![b1, b2]));
        assert!(store.find_session(&b1).await.unwrap().unwrap().revoked);
        assert!(store.find_session(&b2).await.unwrap().unwrap().revoked);
        assert!(!store.find_session(&c1).await.unwrap().unwrap().revoked);
    }

    pub async fn purge_removes_ended_sessions(store: Arc<dyn Store>) {
        let now = now_unix();
        let (ended, live) = (fresh_hash(), fresh_hash());
        let mut old = session("1", now - 10_000);
        old.expires_at = now - 9_000;
        store.insert_session(&ended, &old, None).await.unwrap();
        store
            .insert_session(&live, &session("1", now), None)
            .await
            .unwrap();
        assert_eq!(store.purge_expired(now, 3600).await.unwrap(), 1);
        assert_eq!(store.find_session(&ended).await.unwrap(), None);
        assert!(store.find_session(&live).await.unwrap().is_some());
    }

    /// Replicas starting together each offer a key; all of them get the first one stored, and
    /// a restart reads it back unchanged. Keys are kept by name.
    pub async fn server_keys_first_writer_wins(store: Arc<dyn Store>) {
        assert_eq!(store.find_key("token_checksum").await.unwrap(), None);
        let tasks: Vec<_> = (0..8u8)
            .map(|i| {
                let store = store.clone();
                tokio::spawn(async move {
                    store
                        .key_or_insert("token_checksum", &[i; 32], now_unix())
                        .await
                })
            })
            .collect();
        let mut seen = Vec::new();
        for t in tasks {
            seen.push(t.await.expect("task").unwrap());
        }
        let first = seen[0].clone();
        assert_eq!(first.len(), 32);
        assert!(
            seen.iter().all(|k| *k == first),
            "one key for every replica"
        );
        assert_eq!(
            store.find_key("token_checksum").await.unwrap(),
            Some(first.clone())
        );
        let again = store
            .key_or_insert("token_checksum", &[99; 32], now_unix())
            .await;
        assert_eq!(again.unwrap(), first);
        let other = store.key_or_insert("another", &[7; 32], now_unix()).await;
        assert_eq!(other.unwrap(), vec![7; 32]);
    }
}
