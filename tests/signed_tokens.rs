//! Gatehouse signs tokens (issue 11, parts 1, 2, 6): RFC 9068 JWT access tokens from every
//! grant, validated through the proxy and revoked across replicas; the JWKS checked by an
//! independent verifier (the `openssl` CLI, from a public key built out of the JWK); key
//! rotation as a rolling config change with requests running; the signed identity assertion
//! (verifies, expires, cached, a client-sent one stripped); and the config checks.
//! PostgreSQL: see `support::postgres`. `openssl` must be installed (the test fails otherwise).

use crate::support;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use gatehouse::signing::{generate_pem, KeyAlgorithm};
use gatehouse::Config;
use serde_json::{json, Value};
use sha2::Digest;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use support::jws::{b64d, openssl_verifies};
use support::oauth::*;
use support::*;

const PUBLIC_URL: &str = "https://auth.example";

/// A fresh key of `alg` in `dir`, as `gatehouse keys generate` writes it.
fn key_file(dir: &Path, name: &str, alg: KeyAlgorithm) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, generate_pem(alg).unwrap()).unwrap();
    path
}

fn signing_key(kid: &str, alg: &str, path: &Path, status: &str) -> String {
    format!(
        "[[tokens.signing_keys]]\nkid = \"{kid}\"\nalgorithm = \"{alg}\"\nprivate_key_file = \"{}\"\nstatus = \"{status}\"\n",
        path.display()
    )
}

/// Starts Gatehouse with `public_url` = `PUBLIC_URL` (replicas share their issuer); `store`
/// `None`: SQLite in the instance's own directory.
fn start_shared(store: Option<&str>, sections: &str) -> TestGatehouse {
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let store = store
        .map(str::to_string)
        .unwrap_or_else(|| sqlite(dir.path()));
    let text = TestGatehouse::config_text_full(port, free_port(), &store, "", sections).replace(
        &format!("public_url = \"http://localhost:{port}\""),
        &format!("public_url = \"{PUBLIC_URL}\""),
    );
    let config = Config::from_toml(&text, "test").unwrap_or_else(|e| panic!("{e}\n---\n{text}"));
    TestGatehouse {
        addr: config.server.listen.expect("plain listener"),
        admin: config.server.admin_listen,
        running: start_outside_runtime(config),
        dir,
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
    }
}

/// Stops an instance from a blocking thread (its drop joins the server thread).
async fn drop_outside(gh: TestGatehouse) {
    tokio::task::spawn_blocking(move || drop(gh)).await.unwrap();
}

fn sqlite(dir: &Path) -> String {
    format!(
        "[store]\nurl = \"sqlite://{}\"\n",
        dir.join("gatehouse.db").display()
    )
}

fn part(token: &str, i: usize) -> Value {
    let text = token.split('.').nth(i).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(text).unwrap()).unwrap()
}

/// Checks the RFC 9068 shape of an access token and returns its claims.
fn access_claims(token: &str, kid: &str, client: &str) -> Value {
    assert_eq!(token.split('.').count(), 3, "a JWT: {token}");
    let header = part(token, 0);
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(header["kid"], kid);
    let claims = part(token, 1);
    assert_eq!(claims["iss"], PUBLIC_URL);
    assert_eq!(claims["aud"], PUBLIC_URL);
    assert_eq!(claims["client_id"], client);
    for c in ["sub", "jti"] {
        assert!(claims[c].is_string(), "{c} in {claims}");
    }
    for c in ["exp", "iat"] {
        assert!(claims[c].is_i64(), "{c} in {claims}");
    }
    claims
}

async fn until_refused(gh: &TestGatehouse, token: &str) -> bool {
    eventually(Duration::from_secs(10), || async {
        gh.get("/api/x", Some(token)).await.status() == 401
    })
    .await
}

fn challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes()))
}

/// The SPA's authorization code flow with PKCE, through the real forms; the token response.
async fn code_flow_with_pkce(gh: &TestGatehouse, user: &str) -> Value {
    let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    let redirect: String = url::form_urlencoded::byte_serialize(SPA_REDIRECT.as_bytes()).collect();
    let q = format!(
        "response_type=code&client_id={SPA}&redirect_uri={redirect}&scope=read&state=s1&code_challenge={}&code_challenge_method=S256",
        challenge(verifier)
    );
    let code = gh.authorization_code_for(&q, user).await;
    let r = gh
        .post_form(
            "/oauth/token",
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", SPA_REDIRECT),
                ("client_id", SPA),
                ("code_verifier", verifier),
            ],
        )
        .await;
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwt_access_tokens_from_every_grant_validate_and_revoke_on_every_replica() {
    let url = postgres::url("signed_tokens::jwt_access_tokens_from_every_grant").await;
    let store = postgres::store_section(&url, &postgres::fresh_schema(), "");
    let keys = tempfile::tempdir().unwrap();
    let k1 = key_file(keys.path(), "k1.pem", KeyAlgorithm::EdDsa);
    let up = EchoUpstream::start("app").await;
    let sections = [
        "[tokens]\nformat = \"jwt\"\n".to_string(),
        signing_key("k1", "EdDSA", &k1, "active"),
        oauth_sections(""),
        "[cache]\nttl = \"300s\"\n".to_string(),
        upstream_section("app", &up, ""),
        route("/api", "app", "required", ""),
    ]
    .concat();
    let a = start_shared(Some(&store), &sections);
    let b = start_shared(Some(&store), &sections);
    a.sign_up("ann", "password123").await;

    // Every grant gives a JWT that both replicas accept.
    let password = a.login("ann", "password123").await;
    let by_password = password["access_token"].as_str().unwrap().to_string();
    let claims = access_claims(&by_password, "k1", LEGACY);
    assert!(
        password["refresh_token"]
            .as_str()
            .unwrap()
            .starts_with("gth1_"),
        "refresh tokens stay opaque"
    );
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        password["expires_in"].as_i64().unwrap()
    );
    let code = code_flow_with_pkce(&a, "ann").await;
    let by_code = code["access_token"].as_str().unwrap().to_string();
    assert_eq!(access_claims(&by_code, "k1", SPA)["scope"], "read");
    let refreshed: Value = b
        .post_form(
            "/oauth/token",
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", code["refresh_token"].as_str().unwrap()),
                ("client_id", SPA),
            ],
        )
        .await
        .json()
        .await
        .unwrap();
    let by_refresh = refreshed["access_token"].as_str().unwrap().to_string();
    access_claims(&by_refresh, "k1", SPA);
    let service: Value = a
        .post_form_basic(
            "/oauth/token",
            SERVICE,
            SERVICE_SECRET,
            &[
                ("grant_type", "client_credentials"),
                ("scope", "reports:read"),
            ],
        )
        .await
        .json()
        .await
        .unwrap();
    let by_client = service["access_token"].as_str().unwrap().to_string();
    assert_eq!(access_claims(&by_client, "k1", SERVICE)["sub"], SERVICE);
    for token in [&by_password, &by_code, &by_refresh, &by_client] {
        for gh in [&a, &b] {
            assert_eq!(gh.get("/api/x", Some(token)).await.status(), 200);
        }
    }
    a.get("/api/x", Some(&by_password)).await;
    assert_eq!(up.last().header("x-auth-user-id"), claims["sub"].as_str());
    // Introspection answers for JWTs too.
    let info = b.introspect(&by_password).await;
    assert_eq!(info["active"], true, "{info}");
    assert_eq!(info["client_id"], LEGACY);

    // A forged signature (the payload of a good token re-signed by another key) is refused.
    let forged = {
        let other = tempfile::tempdir().unwrap();
        let pem = std::fs::read(key_file(other.path(), "x.pem", KeyAlgorithm::EdDsa)).unwrap();
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
        header.typ = Some("at+jwt".into());
        header.kid = Some("k1".into());
        jsonwebtoken::encode(
            &header,
            &part(&by_password, 1),
            &jsonwebtoken::EncodingKey::from_ed_pem(&pem).unwrap(),
        )
        .unwrap()
    };
    // Refused by the signature check, before any store lookup.
    let lookups = a.metric("gatehouse_token_store_lookups_total").await;
    assert_eq!(a.get("/api/x", Some(&forged)).await.status(), 401);
    // `alg: none`, and HS256 keyed with the published public key (RFC 8725 §2.1), are refused.
    let payload = by_password.split('.').nth(1).unwrap();
    let header = |alg: &str| {
        URL_SAFE_NO_PAD.encode(json!({"alg": alg, "typ": "at+jwt", "kid": "k1"}).to_string())
    };
    let none = format!("{}.{payload}.", header("none"));
    assert_eq!(a.get("/api/x", Some(&none)).await.status(), 401);
    let jwks: Value = a.get("/oauth/jwks.json", None).await.json().await.unwrap();
    let public = b64d(&jwks["keys"][0]["x"]);
    let confused = {
        use hmac::Mac;
        let signing_input = format!("{}.{payload}", header("HS256"));
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&public).unwrap();
        mac.update(signing_input.as_bytes());
        let tag = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        format!("{signing_input}.{tag}")
    };
    assert_eq!(a.get("/api/x", Some(&confused)).await.status(), 401);
    assert_eq!(
        a.metric("gatehouse_token_store_lookups_total").await,
        lookups,
        "forged JWTs cost no store lookup"
    );

    // Revoked on A (RFC 7009), refused on B: the store revocation and NOTIFY of opaque tokens.
    let r = a
        .post_form(
            "/oauth/revoke",
            &[("token", &by_password), ("client_id", LEGACY)],
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(a.get("/api/x", Some(&by_password)).await.status(), 401);
    assert!(
        until_refused(&b, &by_password).await,
        "B refuses the revoked JWT"
    );
    assert_eq!(b.introspect(&by_password).await["active"], false);
    assert_eq!(b.get("/api/x", Some(&by_client)).await.status(), 200);

    // A refresh-token replay on B kills the family's JWT access tokens on A.
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", code["refresh_token"].as_str().unwrap()),
        ("client_id", SPA),
    ];
    assert_eq!(b.post_form("/oauth/token", &form).await.status(), 400);
    assert!(until_refused(&a, &by_refresh).await, "family revoked on A");
    assert!(until_refused(&a, &by_code).await);
    assert!(until_refused(&b, &by_refresh).await);
}

/// `gatehouse keys generate` writes a PKCS#8 key, mode 0600, and never over a file.
#[test]
fn keys_generate_writes_a_private_key_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("k.pem");
    let config = dir.path().join("none.toml");
    let args = ["keys", "generate", "--algorithm", "ed25519", "--out"];
    let run = run_cli(&[&args[..], &[out.to_str().unwrap()]].concat(), &config, "");
    assert!(run.success, "{}", run.stderr);
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(text.starts_with("-----BEGIN PRIVATE KEY-----"), "{text}");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&out).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let again = run_cli(&[&args[..], &[out.to_str().unwrap()]].concat(), &config, "");
    assert!(!again.success, "an existing key file is never overwritten");
    assert_eq!(std::fs::read_to_string(&out).unwrap(), text);
    // openssl reads it as an Ed25519 key.
    let o = std::process::Command::new("openssl")
        .args(["pkey", "-noout", "-text", "-in"])
        .arg(&out)
        .output()
        .expect("the openssl CLI is required by this test");
    assert!(o.status.success());
    assert!(String::from_utf8_lossy(&o.stdout).contains("ED25519"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_jwks_verifies_every_algorithm_with_an_independent_verifier() {
    let keys = tempfile::tempdir().unwrap();
    let files = [
        (
            "ed",
            "EdDSA",
            key_file(keys.path(), "ed.pem", KeyAlgorithm::EdDsa),
        ),
        (
            "ec",
            "ES256",
            key_file(keys.path(), "ec.pem", KeyAlgorithm::Es256),
        ),
        (
            "rsa",
            "RS256",
            key_file(keys.path(), "rsa.pem", KeyAlgorithm::Rs256),
        ),
    ];
    for (active, _, _) in &files {
        let mut sections = "[tokens]\nformat = \"jwt\"\n".to_string();
        for (kid, alg, path) in &files {
            let status = if kid == active { "active" } else { "published" };
            sections.push_str(&signing_key(kid, alg, path, status));
        }
        sections.push_str(&oauth_sections(""));
        let gh = start_shared(None, &sections);

        let meta: Value = gh
            .get("/.well-known/oauth-authorization-server", None)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(meta["jwks_uri"], format!("{PUBLIC_URL}/oauth/jwks.json"));
        let r = gh.get("/oauth/jwks.json", None).await;
        assert_eq!(r.status(), 200);
        let cache = r.headers()["cache-control"].to_str().unwrap().to_string();
        assert!(cache.contains("max-age="), "{cache}");
        let jwks: Value = r.json().await.unwrap();
        let list = jwks["keys"].as_array().unwrap();
        assert_eq!(list.len(), 3, "every listed key is published");
        for jwk in list {
            for private in ["d", "p", "q", "dp", "dq", "qi"] {
                assert!(
                    jwk.get(private).is_none(),
                    "private part {private} in {jwk}"
                );
            }
        }
        let token: Value = gh
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
        let token = token["access_token"].as_str().unwrap();
        access_claims(token, active, SERVICE);
        let jwk = list.iter().find(|k| k["kid"] == *active).unwrap();
        assert!(openssl_verifies(token, jwk), "{active}: openssl verifies");
        // The same check fails for a changed payload and for another key: it can fail.
        let other = list.iter().find(|k| k["kid"] != *active).unwrap();
        let mut other = other.clone();
        other["alg"] = jwk["alg"].clone();
        if other["kty"] == jwk["kty"] {
            assert!(!openssl_verifies(token, &other));
        }
        let mut parts: Vec<&str> = token.split('.').collect();
        let tampered_claims = URL_SAFE_NO_PAD
            .encode(serde_json::to_vec(&json!({"sub": "mallory", "iss": PUBLIC_URL})).unwrap());
        parts[1] = &tampered_claims;
        assert!(!openssl_verifies(&parts.join("."), jwk));
    }
}

/// A rolling config change: A runs with k1 active (k2 already published), B starts with k2
/// active (k1 still published), A leaves. Requests run all along, with tokens of either key
/// against either replica; not one fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotating_the_active_key_fails_no_request() {
    let url = postgres::url("signed_tokens::rotating_the_active_key_fails_no_request").await;
    let store = postgres::store_section(&url, &postgres::fresh_schema(), "");
    let keys = tempfile::tempdir().unwrap();
    let k1 = key_file(keys.path(), "k1.pem", KeyAlgorithm::EdDsa);
    let k2 = key_file(keys.path(), "k2.pem", KeyAlgorithm::Es256);
    let up = EchoUpstream::start("app").await;
    let config = |k1_status: &str, k2_status: &str| {
        [
            "[tokens]\nformat = \"jwt\"\n".to_string(),
            signing_key("k1", "EdDSA", &k1, k1_status),
            signing_key("k2", "ES256", &k2, k2_status),
            oauth_sections(""),
            upstream_section("app", &up, ""),
            route("/api", "app", "required", ""),
        ]
        .concat()
    };
    let live: Arc<tokio::sync::RwLock<Vec<Arc<TestGatehouse>>>> =
        Arc::new(tokio::sync::RwLock::new(vec![Arc::new(start_shared(
            Some(&store),
            &config("active", "published"),
        ))]));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (ok, kids) = (
        Arc::new(AtomicUsize::new(0)),
        Arc::new(std::sync::Mutex::new(Vec::new())),
    );
    let mut workers = Vec::new();
    for w in 0..2 {
        let (live, stop, ok, kids) = (live.clone(), stop.clone(), ok.clone(), kids.clone());
        workers.push(tokio::spawn(async move {
            let mut i = w;
            while !stop.load(Ordering::Relaxed) {
                // The read lock spans one round: a replica leaves only between rounds.
                let replicas = live.read().await;
                let issuer = &replicas[i % replicas.len()];
                let r = issuer
                    .post_form_basic(
                        "/oauth/token",
                        SERVICE,
                        SERVICE_SECRET,
                        &[("grant_type", "client_credentials")],
                    )
                    .await;
                assert_eq!(r.status(), 200, "token request failed");
                let body: Value = r.json().await.unwrap();
                let token = body["access_token"].as_str().unwrap().to_string();
                kids.lock()
                    .unwrap()
                    .push(part(&token, 0)["kid"].as_str().unwrap().to_string());
                for gh in replicas.iter() {
                    let status = gh.get("/api/x", Some(&token)).await.status();
                    assert_eq!(status, 200, "a token was refused during the rotation");
                    ok.fetch_add(1, Ordering::Relaxed);
                }
                drop(replicas);
                i += 1;
                tokio::task::yield_now().await;
            }
        }));
    }
    let progress = |n: usize| {
        let ok = ok.clone();
        async move {
            let target = ok.load(Ordering::Relaxed) + n;
            assert!(
                eventually(Duration::from_secs(60), || async {
                    ok.load(Ordering::Relaxed) >= target
                })
                .await,
                "requests stalled"
            );
        }
    };
    progress(20).await;
    // The new config (k2 active) comes up beside the old one.
    let b = Arc::new(start_shared(Some(&store), &config("published", "active")));
    live.write().await.push(b);
    progress(40).await;
    // The old replica leaves between rounds.
    let old = live.write().await.remove(0);
    progress(20).await;
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.await.expect("no request failed");
    }
    let kids = kids.lock().unwrap().clone();
    assert!(kids.iter().any(|k| k == "k1") && kids.iter().any(|k| k == "k2"));
    assert_eq!(kids.last().map(String::as_str), Some("k2"));
    tokio::task::spawn_blocking(move || drop(old))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_identity_assertion_verifies_expires_and_cannot_be_sent_by_a_client() {
    let keys = tempfile::tempdir().unwrap();
    let k1 = key_file(keys.path(), "k1.pem", KeyAlgorithm::EdDsa);
    let up = EchoUpstream::start("app").await;
    let start = |ttl: &str| {
        let sections = [
            signing_key("k1", "EdDSA", &k1, "active"),
            format!("[assertion]\nttl = \"{ttl}\"\n"),
            oauth_sections(""),
            upstream_section("app", &up, ""),
            route("/api", "app", "required", "assertion = true"),
            route(
                "/orders",
                "app",
                "optional",
                "assertion = true\nassertion_audience = \"orders-service\"",
            ),
            route("/plain", "app", "required", ""),
        ]
        .concat();
        start_shared(None, &sections)
    };
    let gh = start("60s");
    gh.sign_up("ann", "password123").await;
    let token = gh.login("ann", "password123").await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(token.starts_with("gth1_"), "format stays opaque: {token}");
    let jwks: Value = gh.get("/oauth/jwks.json", None).await.json().await.unwrap();
    let jwk = jwks["keys"][0].clone();

    // A client's own assertion never reaches the upstream, on any route.
    let forged = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhZG1pbiJ9.";
    for path in ["/api/x", "/plain/x"] {
        let r = gh
            .client
            .get(gh.url(path))
            .bearer_auth(&token)
            .header("X-Gatehouse-Assertion", forged)
            .header("x_gatehouse_assertion", forged)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let seen = up.last();
        assert!(
            !seen
                .headers
                .iter()
                .any(|(k, v)| k.replace('_', "-") == "x-gatehouse-assertion" && v == forged),
            "{path}: {:?}",
            seen.headers
        );
        if path == "/plain/x" {
            assert!(seen.header("x-gatehouse-assertion").is_none());
        }
    }

    // Ours: signed with the active key (openssl checks), the upstream's name as audience.
    gh.get("/api/x", Some(&token)).await;
    let assertion = up
        .last()
        .header("x-gatehouse-assertion")
        .unwrap()
        .to_string();
    assert!(openssl_verifies(&assertion, &jwk));
    let header = part(&assertion, 0);
    assert_eq!(header["kid"], "k1");
    assert_ne!(header["typ"], "at+jwt", "never usable as an access token");
    let claims = part(&assertion, 1);
    assert_eq!(claims["aud"], "app");
    assert_eq!(claims["iss"], PUBLIC_URL);
    assert_eq!(claims["client_id"], LEGACY);
    assert!(claims["sub"].is_string() && claims["jti"].is_string());
    assert!(claims["scope"].is_string());
    let lifetime = claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap();
    assert!(lifetime > 0 && lifetime <= 60, "{lifetime}");
    assert_eq!(
        gh.get("/api/x", Some(&assertion)).await.status(),
        401,
        "an assertion is not an access token"
    );
    // Reused while fresh: the next request carries the same one (cached for 30 s).
    gh.get("/api/x", Some(&token)).await;
    assert_eq!(
        up.last().header("x-gatehouse-assertion"),
        Some(assertion.as_str())
    );
    // The configured audience; no identity, no assertion.
    gh.get("/orders/1", Some(&token)).await;
    let other = up
        .last()
        .header("x-gatehouse-assertion")
        .unwrap()
        .to_string();
    assert_eq!(part(&other, 1)["aud"], "orders-service");
    gh.get("/orders/1", None).await;
    assert!(up.last().header("x-gatehouse-assertion").is_none());

    // `all_routes`: every upstream route unless it opts out; the header name is configurable.
    let all = start_shared(
        None,
        &[
            signing_key("k1", "EdDSA", &k1, "active"),
            "[assertion]\nall_routes = true\nheader = \"X-Caller\"\n".to_string(),
            oauth_sections(""),
            upstream_section("app", &up, ""),
            route("/api", "app", "required", ""),
            route("/plain", "app", "required", "assertion = false"),
        ]
        .concat(),
    );
    all.sign_up("cid", "password123").await;
    let token = all.login("cid", "password123").await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    all.get("/api/x", Some(&token)).await;
    let caller = up.last().header("x-caller").unwrap().to_string();
    assert_eq!(part(&caller, 1)["aud"], "app");
    let r = all
        .client
        .get(all.url("/plain/x"))
        .bearer_auth(&token)
        .header("X-Caller", forged)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        up.last().header("x-caller").is_none(),
        "opted out, and stripped"
    );
    drop_outside(all).await;

    // It expires: a 2 s assertion is refused by a verifier once its `exp` has passed.
    let short = start("2s");
    short.sign_up("bob", "password123").await;
    let token = short.login("bob", "password123").await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    short.get("/api/x", Some(&token)).await;
    let assertion = up
        .last()
        .header("x-gatehouse-assertion")
        .unwrap()
        .to_string();
    let claims = part(&assertion, 1);
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        2
    );
    let key = jsonwebtoken::DecodingKey::from_jwk(&serde_json::from_value(jwk).unwrap()).unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::EdDSA);
    validation.leeway = 0;
    validation.set_audience(&["app"]);
    assert!(jsonwebtoken::decode::<Value>(&assertion, &key, &validation).is_ok());
    let exp = claims["exp"].as_i64().unwrap();
    while gatehouse::store::now_unix() <= exp {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let err = jsonwebtoken::decode::<Value>(&assertion, &key, &validation).unwrap_err();
    assert_eq!(
        *err.kind(),
        jsonwebtoken::errors::ErrorKind::ExpiredSignature
    );
    // A later request gets a new one.
    short.get("/api/x", Some(&token)).await;
    let fresh = up
        .last()
        .header("x-gatehouse-assertion")
        .unwrap()
        .to_string();
    assert!(part(&fresh, 1)["exp"].as_i64().unwrap() > exp);
}

/// Without `[oauth]` Gatehouse issues no tokens, but it still signs assertions: the keys an
/// upstream verifies them with are published at the same path, and a file route cannot take it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_keys_are_published_without_an_authorization_server() {
    let keys = tempfile::tempdir().unwrap();
    let k1 = key_file(keys.path(), "k1.pem", KeyAlgorithm::Es256);
    let up = EchoUpstream::start("app").await;
    let sections = [
        signing_key("k1", "ES256", &k1, "active"),
        "[assertion]\n".to_string(),
        upstream_section("app", &up, ""),
        route("/api", "app", "required", "assertion = true"),
    ]
    .concat();
    let gh = start_shared(None, &sections);
    let r = gh.get("/oauth/jwks.json", None).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "public, max-age=300");
    let jwks: Value = r.json().await.unwrap();
    assert_eq!(jwks["keys"][0]["kid"], "k1");
    assert!(jwks["keys"][0].get("d").is_none(), "public half only");
    assert_eq!(
        gh.get("/oauth/token", None).await.status(),
        404,
        "no authorization server behind the key set"
    );

    let token = gh.issue("7", &[]).await;
    assert_eq!(gh.get("/api/x", Some(&token)).await.status(), 200);
    let assertion = up
        .last()
        .header("x-gatehouse-assertion")
        .unwrap()
        .to_string();
    assert!(openssl_verifies(&assertion, &jwks["keys"][0]));
    assert_eq!(part(&assertion, 1)["sub"], "7");
    drop_outside(gh).await;

    let taken = [
        sections.as_str(),
        &route("/oauth/jwks.json", "app", "public", ""),
    ]
    .concat();
    let text = TestGatehouse::config_text(1, 2, "/tmp/x.db", &taken);
    let e = Config::from_toml(&text, "test").unwrap_err().to_string();
    assert!(
        e.contains("`/oauth/jwks.json` is served by Gatehouse itself"),
        "{e}"
    );
}

#[test]
fn signing_key_problems_name_the_key() {
    let keys = tempfile::tempdir().unwrap();
    let ed = key_file(keys.path(), "ed.pem", KeyAlgorithm::EdDsa);
    let check = |sections: String| -> String {
        let text = TestGatehouse::config_text(1, 2, "/tmp/x.db", &sections);
        match Config::from_toml(&text, "test") {
            Ok(_) => String::new(),
            Err(e) => e.to_string(),
        }
    };
    let e = check(format!(
        "[tokens]\nformat = \"jwt\"\n{}",
        signing_key("a", "EdDSA", &ed, "published")
    ));
    assert!(
        e.contains("exactly one key must have status = \"active\""),
        "{e}"
    );
    let e = check(format!(
        "{}{}",
        signing_key("a", "EdDSA", &ed, "active"),
        signing_key("b", "EdDSA", &ed, "active")
    ));
    assert!(e.contains("exactly one key"), "{e}");
    let e = check(signing_key("a", "ES256", &ed, "active"));
    assert!(
        e.contains("tokens.signing_keys[0].private_key_file") && e.contains("ed.pem"),
        "{e}"
    );
    let missing = keys.path().join("missing.pem");
    let e = check(signing_key("a", "EdDSA", &missing, "active"));
    assert!(
        e.contains("cannot read") && e.contains("missing.pem"),
        "{e}"
    );
    let e = check("[tokens]\nformat = \"jwt\"\n".into());
    assert!(e.contains("tokens.signing_keys"), "{e}");
    let e = check("[assertion]\n".into());
    assert!(
        e.contains("assertion: needs [[tokens.signing_keys]]"),
        "{e}"
    );
    let e = check(format!(
        "{}[tokens.x]\n",
        signing_key("a", "EdDSA", &ed, "active")
    ));
    assert!(!e.is_empty(), "unknown keys are refused");
    assert_eq!(check(signing_key("a", "EdDSA", &ed, "active")), "");
    // Routes: an assertion needs the section, an upstream, and `assertion_audience` needs it.
    let upstream = "[[upstreams]]\nname = \"app\"\naddrs = [\"127.0.0.1:9\"]\n";
    let e = check(format!(
        "{upstream}{}",
        route("/a", "app", "required", "assertion = true")
    ));
    assert!(e.contains("needs an [assertion] section"), "{e}");
    let with_section = format!(
        "{}[assertion]\n{upstream}",
        signing_key("a", "EdDSA", &ed, "active")
    );
    let e = check(format!(
        "{with_section}{}",
        route("/a", "handler:echo", "required", "assertion = true")
    ));
    assert!(e.contains("only routes to an upstream"), "{e}");
    let e = check(format!(
        "{with_section}{}",
        route("/a", "app", "required", "assertion_audience = \"x\"")
    ));
    assert!(
        e.contains("assertion_audience: set without `assertion = true`"),
        "{e}"
    );
    let e = check(format!(
        "{}[assertion]\nttl = \"5m\"\n",
        signing_key("a", "EdDSA", &ed, "active")
    ));
    assert!(e.contains("assertion.ttl: between 2s and 60s"), "{e}");
}
