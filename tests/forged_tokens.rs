//! Structured tokens (`gth1_` + random + keyed checksum): every grant mints them, forged and
//! tampered ones are refused before the cache and the store (the store-lookup metric does not
//! move while a valid token keeps hitting the cache), unstructured tokens follow
//! `tokens.accept_unstructured`, the OAuth endpoints screen what they are given the same way,
//! and the key survives restarts and is shared by replicas on PostgreSQL.

use crate::support;

use base64::Engine;
use gatehouse::auth::{generate_token, hash_token, TokenChecksum, TOKEN_LEN, TOKEN_PREFIX};
use gatehouse::store::{now_unix, StoredAccessToken};
use rand::Rng;
use serde_json::Value;
use sha2::Digest;
use std::sync::Arc;
use support::oauth::*;
use support::*;

const LOOKUPS: &str = "gatehouse_token_store_lookups_total";
const MISSES: &str = "gatehouse_token_cache_total{result=\"miss\"}";
const HITS: &str = "gatehouse_token_cache_total{result=\"hit\"}";
const FORGED: &str = "gatehouse_auth_decisions_total{result=\"forged\"}";
const UNSTRUCTURED: &str = "gatehouse_auth_decisions_total{result=\"unstructured\"}";
/// Seed 001's access token: 31 lowercase characters, stored before structured tokens existed.
const SEED_TOKEN: &str = "j89n22wmadh8vkc5e6bwqey9tp42cdc";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const B64URL: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

fn sections(up: &EchoUpstream, tokens: &str) -> String {
    [
        oauth_sections(""),
        upstream_section("app", up, ""),
        route("/api", "app", "required", ""),
        format!("[tokens]\n{tokens}\n"),
    ]
    .concat()
}

fn assert_structured(token: &str, what: &str) {
    assert!(token.starts_with(TOKEN_PREFIX), "{what}: {token}");
    assert_eq!(token.len(), TOKEN_LEN, "{what}: {token}");
    assert!(
        token[TOKEN_PREFIX.len()..]
            .bytes()
            .all(|b| B64URL.contains(&b)),
        "{what}: {token}"
    );
}

fn random_text(len: usize) -> String {
    let mut rng = rand::thread_rng();
    (0..len)
        .map(|_| B64URL[rng.gen_range(0..B64URL.len())] as char)
        .collect()
}

/// `n` tokens of the forms an attacker sends: random `gth1_` tokens, a valid token with one
/// character changed, a valid token's random part with another checksum, a well-formed token
/// under another key, and `gth1_` tokens of the wrong length.
fn forgeries(valid: &[String], n: usize) -> Vec<String> {
    let other_key = TokenChecksum::new(&[0x5a; 32], &[], true, false);
    let mut rng = rand::thread_rng();
    let body_len = TOKEN_LEN - TOKEN_PREFIX.len();
    (0..n)
        .map(|i| {
            let source = &valid[i % valid.len()];
            match i % 5 {
                0 => format!("{TOKEN_PREFIX}{}", random_text(body_len)),
                1 => {
                    let mut b = source.clone().into_bytes();
                    let at = rng.gen_range(TOKEN_PREFIX.len()..b.len());
                    let was = b[at];
                    while b[at] == was {
                        b[at] = B64URL[rng.gen_range(0..B64URL.len())];
                    }
                    String::from_utf8(b).unwrap()
                }
                2 => format!("{}{}", &source[..TOKEN_LEN - 16], random_text(16)),
                3 => other_key.mint(),
                _ => format!(
                    "{TOKEN_PREFIX}{}",
                    random_text(body_len + rng.gen_range(1..20) - 10)
                ),
            }
        })
        .filter(|t| !valid.contains(t))
        .collect()
}

/// Sends every forged token, and the valid one after every fourth, from 16 concurrent
/// clients. Returns (forged tokens answered 401 invalid_token, valid requests, valid 200s).
async fn flood(gh: &Arc<TestGatehouse>, forged: Vec<String>, valid: &str) -> (usize, usize, usize) {
    let chunks: Vec<Vec<String>> = forged
        .chunks(forged.len().div_ceil(16))
        .map(<[String]>::to_vec)
        .collect();
    let mut tasks = Vec::new();
    for chunk in chunks {
        let (gh, valid) = (gh.clone(), valid.to_string());
        tasks.push(tokio::spawn(async move {
            let (mut refused, mut sent, mut ok) = (0, 0, 0);
            for (i, t) in chunk.iter().enumerate() {
                let r = gh.get("/api/x", Some(t)).await;
                let challenge = r
                    .headers()
                    .get("www-authenticate")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_string();
                if r.status() == 401 && challenge.contains("error=\"invalid_token\"") {
                    refused += 1;
                }
                if i % 4 == 0 {
                    sent += 1;
                    if gh.get("/api/x", Some(&valid)).await.status() == 200 {
                        ok += 1;
                    }
                }
            }
            (refused, sent, ok)
        }));
    }
    let mut total = (0, 0, 0);
    for t in tasks {
        let (r, s, o) = t.await.unwrap();
        total = (total.0 + r, total.1 + s, total.2 + o);
    }
    total
}

/// Stores an access token the way tokens were stored before they had a structure.
async fn store_unstructured(gh: &TestGatehouse, token: &str, user: &str) {
    let now = now_unix();
    gh.running
        .state()
        .store
        .insert_access_token(
            hash_token(token),
            StoredAccessToken {
                user_id: Some(user.into()),
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
}

fn field(body: &Value, name: &str) -> String {
    body[name]
        .as_str()
        .unwrap_or_else(|| panic!("no {name} in {body}"))
        .to_string()
}

fn csrf(html: &str) -> String {
    let marker = "name=\"csrf_token\" value=\"";
    let start = html.find(marker).expect("csrf input") + marker.len();
    html[start..].split('"').next().unwrap().to_string()
}

/// The authorization code flow with PKCE for the web client, driven like a browser: the code.
async fn authorization_code(gh: &TestGatehouse, user: &str, password: &str) -> String {
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(VERIFIER.as_bytes()));
    let query = format!(
        "response_type=code&client_id={WEB}&redirect_uri={}&scope=read&state=s1&code_challenge={challenge}&code_challenge_method=S256",
        url::form_urlencoded::byte_serialize(WEB_REDIRECT.as_bytes()).collect::<String>(),
    );
    let page = gh
        .client
        .get(gh.url(&format!("/oauth/authorize?{query}")))
        .send()
        .await
        .unwrap();
    let cookie = page.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let post = |path: &'static str, form: Vec<(&'static str, String)>| {
        gh.client
            .post(gh.url(path))
            .header("Cookie", &cookie)
            .form(&form)
            .send()
    };
    let html = page.text().await.unwrap();
    let r = post(
        "/oauth/sign-in",
        vec![
            ("username", user.into()),
            ("password", password.into()),
            ("csrf_token", csrf(&html)),
        ],
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 303);
    let consent = gh
        .client
        .get(gh.url("/oauth/consent"))
        .header("Cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let r = post(
        "/oauth/consent",
        vec![
            ("csrf_token", csrf(&consent)),
            ("decision", "approve".into()),
        ],
    )
    .await
    .unwrap();
    let status = r.status();
    let to = r
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_string());
    assert_eq!(status, 303, "{:?} {}", to, r.text().await.unwrap());
    let to = to.unwrap();
    url::Url::parse(&to)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| panic!("no code in {to}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_grant_mints_structured_tokens_that_work_through_the_proxy() {
    let up = EchoUpstream::start("app").await;
    let dir = tempfile::tempdir().unwrap();
    let store = format!(
        "[store]\nurl = \"sqlite://{}\"\n",
        dir.path().join("g.db").display()
    );
    let sections = sections(&up, "");
    let config = dir.path().join("gatehouse.toml");
    let text = TestGatehouse::config_text_with_store(free_port(), free_port(), &store, &sections);
    std::fs::write(&config, text).unwrap();
    let gh = TestGatehouse::start_with_store(dir, &store, &sections);
    gh.sign_up("ann", "ann-password").await;

    let login = gh.login("ann", "ann-password").await;
    let refreshed: Value = gh
        .post_form(
            "/oauth/token",
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &field(&login, "refresh_token")),
                ("client_id", LEGACY),
            ],
        )
        .await
        .json()
        .await
        .unwrap();
    let service: Value = gh
        .post_form_basic(
            "/oauth/token",
            SERVICE,
            SERVICE_SECRET,
            &[("grant_type", "client_credentials")],
        )
        .await
        .json()
        .await
        .unwrap();
    let code = authorization_code(&gh, "ann", "ann-password").await;
    assert_structured(&code, "authorization code");
    let exchanged: Value = gh
        .post_form_basic(
            "/oauth/token",
            WEB,
            WEB_SECRET,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", WEB_REDIRECT),
                ("code_verifier", VERIFIER),
            ],
        )
        .await
        .json()
        .await
        .unwrap();
    let cli = cli_issue(&config, &["--user", "42"]);
    let issued = gh.issue("u", &[]).await;

    let access = [
        ("password grant", field(&login, "access_token")),
        ("refresh grant", field(&refreshed, "access_token")),
        ("client_credentials grant", field(&service, "access_token")),
        (
            "authorization_code grant",
            field(&exchanged, "access_token"),
        ),
        ("gatehouse token issue", cli),
        ("token service", issued),
    ];
    for (what, token) in &access {
        assert_structured(token, what);
        assert_eq!(gh.get("/api/x", Some(token)).await.status(), 200, "{what}");
    }
    // The password grant's refresh token was rotated by the refresh grant: shape only.
    assert_structured(
        &field(&login, "refresh_token"),
        "password grant refresh token",
    );
    for (what, body) in [
        ("refresh grant", &refreshed),
        ("authorization_code grant", &exchanged),
    ] {
        let refresh = field(body, "refresh_token");
        assert_structured(&refresh, what);
        assert_eq!(gh.introspect(&refresh).await["active"], true, "{what}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_tokens_never_reach_the_cache_or_the_store() {
    let up = EchoUpstream::start("app").await;
    let gh = Arc::new(TestGatehouse::start(&sections(&up, "")));
    let valid = gh.issue("valid", &[]).await;
    let unused = gh.issue("unused", &[]).await;
    assert_eq!(gh.get("/api/x", Some(&valid)).await.status(), 200, "warm");
    let forged = forgeries(&[valid.clone(), unused.clone()], 5000);
    assert!(forged.len() > 4900);

    let before = [LOOKUPS, MISSES, HITS, FORGED].map(|s| (s, 0.0));
    let mut before_values = Vec::new();
    for (s, _) in before {
        before_values.push(gh.metric(s).await);
    }
    let (refused, sent, ok) = flood(&gh, forged.clone(), &valid).await;
    assert_eq!(
        refused,
        forged.len(),
        "every forged token gets 401 invalid_token"
    );
    assert_eq!(ok, sent, "the valid token always passes");
    assert!(sent >= 1000);

    let delta = |i: usize, now: f64| now - before_values[i];
    assert_eq!(delta(0, gh.metric(LOOKUPS).await), 0.0, "store lookups");
    assert_eq!(delta(1, gh.metric(MISSES).await), 0.0, "cache misses");
    assert_eq!(
        delta(2, gh.metric(HITS).await),
        sent as f64,
        "the valid token hit"
    );
    assert_eq!(delta(3, gh.metric(FORGED).await), forged.len() as f64);
    let (positive, negative) = gh.running.state().validator.entry_counts().await;
    assert_eq!(
        (positive, negative),
        (1, 0),
        "no entry for any forged token"
    );

    // The same metric moves for a real lookup: the unused valid token is looked up once.
    assert_eq!(gh.get("/api/x", Some(&unused)).await.status(), 200);
    assert_eq!(delta(0, gh.metric(LOOKUPS).await), 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unstructured_tokens_follow_accept_unstructured() {
    let up = EchoUpstream::start("app").await;
    let legacy = generate_token();
    for accept in [true, false] {
        let gh = Arc::new(TestGatehouse::start(&sections(
            &up,
            &format!("accept_unstructured = {accept}"),
        )));
        store_unstructured(&gh, SEED_TOKEN, "seed-user").await;
        store_unstructured(&gh, &legacy, "legacy-user").await;
        let structured = gh.issue("new", &[]).await;
        let lookups = gh.metric(LOOKUPS).await;
        let expected = if accept { 200 } else { 401 };
        for t in [SEED_TOKEN, legacy.as_str()] {
            assert_eq!(
                gh.get("/api/x", Some(t)).await.status(),
                expected,
                "accept_unstructured = {accept}"
            );
        }
        assert_eq!(gh.get("/api/x", Some(&structured)).await.status(), 200);
        if accept {
            assert_eq!(
                gh.metric(LOOKUPS).await - lookups,
                3.0,
                "two unstructured and one structured token"
            );
            assert_eq!(up.last().header("x-auth-user-id"), Some("new"));
            continue;
        }
        // Refused without a lookup, even a flood of random unstructured tokens.
        let random: Vec<String> = (0..2000).map(|i| random_text(20 + i % 40)).collect();
        let (refused, sent, ok) = flood(&gh, random.clone(), &structured).await;
        assert_eq!((refused, ok), (random.len(), sent));
        assert_eq!(
            gh.metric(LOOKUPS).await - lookups,
            1.0,
            "only the structured token's lookup"
        );
        assert_eq!(gh.metric(UNSTRUCTURED).await, 2.0 + random.len() as f64);
        assert_eq!(gh.running.state().validator.entry_counts().await, (1, 0));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oauth_endpoints_refuse_forged_tokens_without_a_lookup() {
    let up = EchoUpstream::start("app").await;
    let gh = TestGatehouse::start(&sections(&up, "accept_unstructured = false"));
    gh.sign_up("bea", "bea-password").await;
    let login = gh.login("bea", "bea-password").await;
    let refresh = field(&login, "refresh_token");
    let access = field(&login, "access_token");
    let mut forged = forgeries(&[refresh.clone(), access.clone()], 10);
    forged.push(SEED_TOKEN.to_string());
    let lookups = gh.metric(LOOKUPS).await;

    for t in &forged {
        let r = gh
            .post_form(
                "/oauth/token",
                &[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", t),
                    ("client_id", LEGACY),
                ],
            )
            .await;
        assert_eq!(r.status(), 400);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"], "invalid_grant", "{body}");

        let r = gh
            .post_form_basic(
                "/oauth/token",
                WEB,
                WEB_SECRET,
                &[
                    ("grant_type", "authorization_code"),
                    ("code", t),
                    ("redirect_uri", WEB_REDIRECT),
                    ("code_verifier", VERIFIER),
                ],
            )
            .await;
        assert_eq!(r.status(), 400);
        assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_grant");

        assert_eq!(
            gh.introspect(t).await,
            serde_json::json!({ "active": false })
        );

        let r = gh
            .post_form("/oauth/revoke", &[("token", t), ("client_id", LEGACY)])
            .await;
        assert_eq!(r.status(), 200, "RFC 7009: unknown tokens are revoked too");
    }
    assert_eq!(gh.metric(LOOKUPS).await - lookups, 0.0);

    // The real ones were neither refused nor revoked by any of that, and are looked up: the
    // refresh token twice (introspection tries the token cache, i.e. the access tokens, first),
    // the access token once.
    assert_eq!(gh.introspect(&refresh).await["active"], true);
    assert_eq!(gh.get("/api/x", Some(&access)).await.status(), 200);
    assert_eq!(gh.metric(LOOKUPS).await - lookups, 3.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_generated_key_survives_a_restart() {
    let up = EchoUpstream::start("app").await;
    let dir = tempfile::tempdir().unwrap();
    let store = format!(
        "[store]\nurl = \"sqlite://{}\"\n",
        dir.path().join("g.db").display()
    );
    let sections = sections(&up, "");
    let gh = TestGatehouse::start_with_store(dir, &store, &sections);
    let token = gh.issue("kept", &[]).await;
    let TestGatehouse { running, dir, .. } = gh;
    tokio::task::spawn_blocking(move || running.stop_gracefully())
        .await
        .unwrap();
    let gh = TestGatehouse::start_with_store(dir, &store, &sections);
    assert_eq!(gh.get("/api/x", Some(&token)).await.status(), 200);
    assert_eq!(gh.metric(FORGED).await, 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_share_the_key_and_a_configured_key_wins() {
    let url =
        postgres::url("forged_tokens::replicas_share_the_key_and_a_configured_key_wins").await;
    let store = postgres::store_section(&url, &postgres::fresh_schema(), "");
    let up = EchoUpstream::start("app").await;
    let start = |tokens: &str| {
        TestGatehouse::start_with_store(
            tempfile::tempdir().unwrap(),
            &store,
            &sections(&up, tokens),
        )
    };

    // No key configured: the first replica stores one, the second reads it.
    let a = start("");
    let b = start("");
    let from_a = a.issue("from-a", &[]).await;
    let from_b = b.issue("from-b", &[]).await;
    assert_eq!(b.get("/api/x", Some(&from_a)).await.status(), 200);
    assert_eq!(a.get("/api/x", Some(&from_b)).await.status(), 200);

    // A configured key wins for minting (same key from a file and inline, as hex and base64),
    // and tokens under the stored key keep working there.
    let key = [0x42u8; 32];
    let key_file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        key_file.path(),
        format!(
            "{}\n",
            base64::engine::general_purpose::STANDARD.encode(key)
        ),
    )
    .unwrap();
    let c = start(&format!(
        "checksum_key_file = \"{}\"",
        key_file.path().display()
    ));
    let d = start(&format!("checksum_key = \"{}\"", hex::encode(key)));
    let from_c = c.issue("from-c", &[]).await;
    assert_eq!(d.get("/api/x", Some(&from_c)).await.status(), 200);
    assert_eq!(c.get("/api/x", Some(&from_a)).await.status(), 200);
    assert_eq!(
        TokenChecksum::new(&key, &[], false, false).screen(&from_c),
        Ok(())
    );

    // A replica without the configured key refuses C's token on its shape alone.
    let lookups = b.metric(LOOKUPS).await;
    assert_eq!(b.get("/api/x", Some(&from_c)).await.status(), 401);
    assert_eq!(b.metric(LOOKUPS).await, lookups);
    assert_eq!(b.metric(FORGED).await, 1.0);
}
