//! Client secrets in every stored form authenticate at the token endpoint: the SHA-256 of a
//! generated secret (`gatehouse client-secret`), an argon2id hash (`gatehouse hash-secret`,
//! remembered after its first check when long) and a plain configured secret. Wrong secrets
//! are refused and counted toward the (client, address) lockout whatever the form, and a ban
//! refuses even the right secret, also after that secret was just accepted from there.

use crate::support;

use support::*;

const FAST: &str = "generated-client";
const ARGON_LONG: &str = "argon-long-client";
const ARGON_SHORT: &str = "argon-short-client";
const LONG_SECRET: &str = "0123456789abcdef0123456789abcdef-long";
const SHORT_SECRET: &str = "a-person-chose-it";
const LEGACY: &str = "legacy-client";
const LEGACY_SECRET: &str = "legacy-client-secret-0123";

/// `per_address`: failures allowed per address (every request here comes from 127.0.0.1).
fn start(fast_hash: &str, per_address: u32) -> TestGatehouse {
    let long = gatehouse::users::passwords::hash_now(LONG_SECRET).unwrap();
    let short = gatehouse::users::passwords::hash_now(SHORT_SECRET).unwrap();
    let client = |id: &str, hash: &str| {
        format!("[[clients]]\nid = \"{id}\"\nsecret_hash = \"{hash}\"\ngrant_types = [\"client_credentials\"]\n")
    };
    let sections = [
        format!("[oauth]\n[oauth.lockout]\nmax_failures = 3\nmax_failures_per_address = {per_address}\n"),
        format!("[[clients]]\nid = \"{LEGACY}\"\nsecret = \"{LEGACY_SECRET}\"\nlegacy = true\ngrant_types = [\"password\"]\n"),
        client(FAST, fast_hash),
        client(ARGON_LONG, &long),
        client(ARGON_SHORT, &short),
    ]
    .concat();
    TestGatehouse::start(&sections)
}

async fn token(gh: &TestGatehouse, id: &str, secret: &str) -> reqwest::Response {
    gh.client
        .post(gh.url("/oauth/token"))
        .basic_auth(id, Some(secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
}

/// Four wrong secrets (max_failures = 3): 401 each, the fourth, past the limit, starts the
/// ban and says Retry-After; then the right secret is refused too.
async fn guess_until_banned(gh: &TestGatehouse, id: &str, wrong: [&str; 4], right: &str) {
    for (i, guess) in wrong.iter().enumerate() {
        let r = token(gh, id, guess).await;
        assert_eq!(r.status(), 401, "{id} attempt {i}");
        assert_eq!(
            r.headers().contains_key("retry-after"),
            i == 3,
            "{id} attempt {i}"
        );
    }
    let r = token(gh, id, right).await;
    assert_eq!(r.status(), 401, "{id}: banned, right secret refused");
    assert!(r.headers().contains_key("retry-after"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_stored_form_authenticates_and_counts_failures() {
    let (secret, hash) = gatehouse::oauth::client_secret::generate();
    assert!(hash.starts_with("sha256:"), "{hash}");
    let gh = start(&hash, 100);
    let failures = gh.metric("gatehouse_login_failures_total").await;

    for (id, right) in [
        (FAST, secret.as_str()),
        (ARGON_LONG, LONG_SECRET),
        (ARGON_SHORT, SHORT_SECRET),
    ] {
        // Twice: the second check of an argon2 secret may come from its remembered digest.
        for _ in 0..2 {
            let r = token(&gh, id, right).await;
            assert_eq!(r.status(), 200, "{id}");
        }
        // The stored form is not the secret; a near miss is not either. Successes between
        // failures reset nothing: only failures are counted.
        let near_miss = format!("{right}x");
        let cut = &right[..right.len() - 1];
        guess_until_banned(&gh, id, [hash.as_str(), &near_miss, cut, ""], right).await;
    }
    // Every wrong or refused attempt was counted as a failed credential check.
    let counted = gh.metric("gatehouse_login_failures_total").await - failures;
    assert_eq!(counted, 3.0 * 5.0);
}

/// A ban of the address (from password guesses) also refuses a client secret that was
/// accepted from that address a moment before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_address_ban_refuses_a_client_just_accepted_from_there() {
    let (secret, hash) = gatehouse::oauth::client_secret::generate();
    let gh = start(&hash, 4);
    assert_eq!(token(&gh, FAST, &secret).await.status(), 200);
    // max_failures_per_address = 4: the fifth wrong password from here starts its ban.
    for i in 0..5 {
        let r = gh
            .client
            .post(gh.url("/oauth/token"))
            .basic_auth(LEGACY, Some(LEGACY_SECRET))
            .form(&[
                ("grant_type", "password"),
                ("username", &format!("nobody{i}")),
                ("password", "wrong-password"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "password attempt {i}");
    }
    let r = token(&gh, FAST, &secret).await;
    assert_eq!(r.status(), 401);
    assert!(r.headers().contains_key("retry-after"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_secret_hash_fails_the_config_naming_the_key() {
    let sections = "[oauth]\n[[clients]]\nid = \"c\"\nsecret_hash = \"sha256:abcd\"\ngrant_types = [\"client_credentials\"]\n";
    let text = TestGatehouse::config_text(free_port(), free_port(), "/tmp/unused.db", sections);
    let err = gatehouse::Config::from_toml(&text, "test")
        .unwrap_err()
        .to_string();
    assert!(err.contains("clients[0].secret_hash"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_generates_a_secret_and_its_hash() {
    let out = run_cli(&["client-secret"], std::path::Path::new("/nonexistent"), "");
    assert!(out.success, "{}", out.stderr);
    let lines: Vec<&str> = out.stdout.lines().collect();
    let [secret, hash] = lines.as_slice() else {
        panic!("two lines expected: {:?}", out.stdout)
    };
    assert_eq!(secret.len(), 43);
    let gh = start(hash, 100);
    assert_eq!(token(&gh, FAST, secret).await.status(), 200);
    assert_eq!(token(&gh, FAST, "not-the-secret").await.status(), 401);
}
