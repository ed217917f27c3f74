//! External issuers (`[[jwt.issuers]]`, issue 11 parts 4 and 5) against identity providers
//! started in the test (real HTTP servers serving discovery and JWKS, counting fetches): the
//! tampering cases of SECURITY D5–D7, discovery, the JWKS fetch rules (1,000 random `kid`s,
//! endpoint down, rotation, oversized answer), the issuer header, and an external `sub` that
//! equals a local user id getting none of that user's data nor its rate-limit bucket.
//! The RSA keys in tests/fixtures exist only for these tests.

use crate::support;

use bytes::Bytes;
use gatehouse::auth::NewToken;
use gatehouse::store::{FbAccount, FbAdAccount, FbPage};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::fake_facebook::{FakeFacebook, APP_ID, APP_SECRET};
use support::oauth::*;
use support::*;
use tokio::net::TcpListener;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
const AUD: &str = "orders-api";

fn now() -> i64 {
    gatehouse::store::now_unix()
}

fn pem(name: &str) -> Vec<u8> {
    std::fs::read(format!("{FIXTURES}/jwt-test-{name}.pem")).unwrap()
}

/// A signing key of the test identity providers.
struct Key {
    kid: &'static str,
    encoding: EncodingKey,
}

impl Key {
    fn new(kid: &'static str, private: &str) -> Key {
        Key {
            kid,
            encoding: EncodingKey::from_rsa_pem(&pem(private)).unwrap(),
        }
    }

    fn jwk(&self) -> Value {
        let mut jwk = Jwk::from_encoding_key(&self.encoding, Algorithm::RS256).unwrap();
        jwk.common.key_id = Some(self.kid.into());
        serde_json::to_value(jwk).unwrap()
    }

    /// RS256 with this key, under the `kid` given (normally its own).
    fn sign_as(&self, kid: Option<&str>, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = kid.map(str::to_string);
        encode(&header, claims, &self.encoding).unwrap()
    }

    fn sign(&self, claims: &Value) -> String {
        self.sign_as(Some(self.kid), claims)
    }
}

fn jwks(keys: &[&Key]) -> Value {
    json!({ "keys": keys.iter().map(|k| k.jwk()).collect::<Vec<_>>() })
}

#[derive(Clone)]
enum Answer {
    Keys(Value),
    Down,
    Oversized,
}

/// An identity provider: `/.well-known/openid-configuration` and `/jwks`, counting each.
struct Idp {
    base: String,
    answer: Mutex<Answer>,
    jwks_fetches: AtomicUsize,
    discoveries: AtomicUsize,
}

impl Idp {
    async fn start(keys: Value) -> Arc<Idp> {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let idp = Arc::new(Idp {
            base: format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port()),
            answer: Mutex::new(Answer::Keys(keys)),
            jwks_fetches: AtomicUsize::new(0),
            discoveries: AtomicUsize::new(0),
        });
        let served = idp.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let idp = served.clone();
                tokio::spawn(async move {
                    let svc = service_fn(move |req: Request<Incoming>| {
                        let idp = idp.clone();
                        async move { Ok::<_, hyper::Error>(idp.answer(req.uri().path())) }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        idp
    }

    fn issuer(&self) -> String {
        format!("{}/", self.base)
    }

    fn answer(&self, path: &str) -> Response<Full<Bytes>> {
        let reply = |status: u16, body: String| {
            Response::builder()
                .status(status)
                .header("content-type", "application/json")
                .body(Full::new(Bytes::from(body)))
                .unwrap()
        };
        match path {
            "/.well-known/openid-configuration" => {
                self.discoveries.fetch_add(1, Ordering::SeqCst);
                reply(
                    200,
                    json!({"issuer": self.issuer(), "jwks_uri": format!("{}/jwks", self.base)})
                        .to_string(),
                )
            }
            "/jwks" => {
                self.jwks_fetches.fetch_add(1, Ordering::SeqCst);
                match self.answer.lock().unwrap().clone() {
                    Answer::Keys(v) => reply(200, v.to_string()),
                    Answer::Down => reply(503, "{}".into()),
                    // A valid JWKS padded past the cap: refused for its size alone.
                    Answer::Oversized => reply(
                        200,
                        json!({"keys": [], "padding": "x".repeat(gatehouse::auth::MAX_JWKS_BYTES)})
                            .to_string(),
                    ),
                }
            }
            _ => reply(404, "{}".into()),
        }
    }

    fn set(&self, answer: Answer) {
        *self.answer.lock().unwrap() = answer;
    }

    fn fetches(&self) -> usize {
        self.jwks_fetches.load(Ordering::SeqCst)
    }
}

fn claims_for(iss: &str, sub: &str) -> Value {
    json!({"iss": iss, "sub": sub, "aud": AUD, "scope": "read", "iat": now(), "exp": now() + 600,
           "jti": format!("{:x}", rand::random::<u64>())})
}

fn patched(mut c: Value, patch: Value) -> Value {
    for (k, v) in patch.as_object().unwrap() {
        c[k] = v.clone();
    }
    c
}

fn b64(v: &Value) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
}

fn hs256(claims: &Value, kid: &str, secret: &[u8]) -> String {
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(kid.into());
    encode(&header, claims, &EncodingKey::from_secret(secret)).unwrap()
}

fn jwks_issuer(idp: &Idp, extra: &str) -> String {
    format!(
        "[[jwt.issuers]]\nissuer = \"{}\"\njwks_url = \"{}/jwks\"\nalgorithms = [\"RS256\"]\naudiences = [\"{AUD}\"]\nleeway = \"5s\"\n{extra}\n",
        idp.issuer(),
        idp.base
    )
}

fn discovery_issuer(idp: &Idp, extra: &str) -> String {
    format!(
        "[[jwt.issuers]]\nissuer = \"{}\"\ndiscovery = true\nalgorithms = [\"RS256\"]\naudiences = [\"{AUD}\"]\n{extra}\n",
        idp.issuer()
    )
}

/// Retries with a fresh token each time (a refused token sits in the negative cache).
async fn comes_to(gh: &TestGatehouse, status: u16, token: impl Fn() -> String) -> bool {
    eventually(Duration::from_secs(10), || {
        let t = token();
        async move { gh.get("/api/x", Some(&t)).await.status() == status }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_of_each_issuer_are_accepted_and_tampering_refused() {
    let a_key = Key::new("a1", "private");
    let b_key = Key::new("b1", "other-private");
    let a = Idp::start(jwks(&[&a_key])).await;
    let b = Idp::start(jwks(&[&b_key])).await;
    let up = EchoUpstream::start("app").await;
    let gh = TestGatehouse::start(&format!(
        "{}{}{}{}",
        jwks_issuer(&a, "min_refresh = \"1h\"\nrefresh = \"1h\""),
        discovery_issuer(&b, "min_refresh = \"1h\"\nrefresh = \"1h\""),
        upstream_section("app", &up, ""),
        route("/api", "app", "required", "scopes = [\"read\"]")
    ));
    let (a_iss, b_iss) = (a.issuer(), b.issuer());

    // Issuer A (jwks_url): accepted, and the issuer reaches the upstream; a client's own
    // issuer header never does.
    let good = a_key.sign(&claims_for(&a_iss, "ext-7"));
    assert!(comes_to(&gh, 200, || a_key.sign(&claims_for(&a_iss, "ext-7"))).await);
    let r = gh
        .client
        .get(gh.url("/api/x"))
        .bearer_auth(&good)
        .header("X-Auth-Issuer", "https://evil.example/")
        .header("x_auth_issuer", "https://evil.example/")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let seen = up.last();
    assert_eq!(seen.header("x-auth-user-id"), Some("ext-7"));
    assert_eq!(seen.header_values("x-auth-issuer"), vec![a_iss.as_str()]);
    assert!(seen.header("x_auth_issuer").is_none());
    // A local token: no issuer header, even when the client sends one.
    let local = gh.issue("local-7", &["read"]).await;
    let r = gh
        .client
        .get(gh.url("/api/x"))
        .bearer_auth(&local)
        .header("X-Auth-Issuer", &a_iss)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(up.last().header("x-auth-issuer"), None);

    // Issuer B, found by discovery.
    assert!(comes_to(&gh, 200, || b_key.sign(&claims_for(&b_iss, "ext-8"))).await);
    assert_eq!(up.last().header("x-auth-issuer"), Some(b_iss.as_str()));
    assert!(b.discoveries.load(Ordering::SeqCst) >= 1);

    let c = || claims_for(&a_iss, "ext-7");
    let a_public_pem = pem("public");
    let a_modulus = a_key.jwk()["n"].as_str().unwrap().to_string();
    let body = b64(&c());
    let tampered = [
        (
            "alg none",
            format!(
                "{}.{body}.",
                b64(&json!({"alg": "none", "typ": "JWT", "kid": "a1"}))
            ),
        ),
        (
            "HS256 signed with the public key (PEM)",
            hs256(&c(), "a1", &a_public_pem),
        ),
        (
            "HS256 signed with the public key (JWK modulus)",
            hs256(&c(), "a1", a_modulus.as_bytes()),
        ),
        (
            "wrong key under the issuer's kid",
            b_key.sign_as(Some("a1"), &c()),
        ),
        ("wrong key, no kid", b_key.sign_as(None, &c())),
        (
            "expired",
            a_key.sign(&patched(c(), json!({"exp": now() - 120}))),
        ),
        (
            "future nbf",
            a_key.sign(&patched(c(), json!({"nbf": now() + 600}))),
        ),
        (
            "wrong aud",
            a_key.sign(&patched(c(), json!({"aud": "other-api"}))),
        ),
        (
            "wrong iss",
            a_key.sign(&patched(c(), json!({"iss": "https://evil.example/"}))),
        ),
        (
            "iss without the trailing slash",
            a_key.sign(&patched(c(), json!({"iss": a.base}))),
        ),
        ("unknown kid", a_key.sign_as(Some("not-published"), &c())),
        (
            "kid of another issuer (B's key, claiming A)",
            b_key.sign(&c()),
        ),
        (
            "A's key, claiming B",
            a_key.sign(&claims_for(&b_iss, "ext-7")),
        ),
    ];
    for (what, t) in &tampered {
        let r = gh.get("/api/x", Some(t)).await;
        assert_eq!(r.status(), 401, "{what}");
        assert!(
            r.headers()["www-authenticate"]
                .to_str()
                .unwrap()
                .contains("invalid_token"),
            "{what}"
        );
    }
    // Scopes of an external token are checked like any other.
    let narrow = a_key.sign(&patched(c(), json!({"scope": "write"})));
    assert_eq!(gh.get("/api/x", Some(&narrow)).await.status(), 403);
    assert!(gh
        .metrics_text()
        .await
        .contains("gatehouse_jwks_fetches_total{issuer="));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_random_kids_cause_at_most_one_fetch_per_min_refresh() {
    let key = Key::new("a1", "private");
    let idp = Idp::start(jwks(&[&key])).await;
    let up = EchoUpstream::start("app").await;
    let gh = TestGatehouse::start(&format!(
        "{}{}{}",
        jwks_issuer(&idp, "min_refresh = \"1h\"\nrefresh = \"1h\""),
        upstream_section("app", &up, ""),
        route("/api", "app", "required", "")
    ));
    let iss = idp.issuer();
    assert!(comes_to(&gh, 200, || key.sign(&claims_for(&iss, "u"))).await);
    let before = idp.fetches();
    let gh = Arc::new(gh);
    let mut refused = 0;
    for batch in 0..20 {
        let mut tasks = Vec::new();
        for i in 0..50 {
            let (gh, token) = (
                gh.clone(),
                key.sign_as(
                    Some(&format!("kid-{batch}-{i}-{:x}", rand::random::<u64>())),
                    &claims_for(&iss, "u"),
                ),
            );
            tasks.push(tokio::spawn(async move {
                gh.get("/api/x", Some(&token)).await.status()
            }));
        }
        for t in tasks {
            if t.await.unwrap() == 401 {
                refused += 1;
            }
        }
    }
    assert_eq!(refused, 1000);
    let during = idp.fetches() - before;
    assert!(during <= 1, "{during} JWKS fetches for 1,000 random kids");
    // The known key still works.
    let fresh = key.sign(&claims_for(&iss, "u"));
    assert_eq!(gh.get("/api/x", Some(&fresh)).await.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwks_down_or_oversized_keeps_the_last_keys_and_rotation_is_picked_up() {
    let old = Key::new("k1", "private");
    let new = Key::new("k2", "rotated-private");
    let idp = Idp::start(jwks(&[&old])).await;
    let up = EchoUpstream::start("app").await;
    let gh = TestGatehouse::start(&format!(
        "{}{}{}",
        jwks_issuer(&idp, "min_refresh = \"1s\""),
        upstream_section("app", &up, ""),
        route("/api", "app", "required", "")
    ));
    let iss = idp.issuer();
    assert!(comes_to(&gh, 200, || old.sign(&claims_for(&iss, "u"))).await);
    let series = |result: &str| {
        format!("gatehouse_jwks_fetches_total{{issuer=\"{iss}\",result=\"{result}\"}}")
    };

    // Down: an unknown kid makes Gatehouse try (once min_refresh allows), the fetch fails,
    // and the old key keeps working.
    idp.set(Answer::Down);
    assert!(
        eventually(Duration::from_secs(10), || async {
            let t = new.sign(&claims_for(&iss, "u"));
            gh.get("/api/x", Some(&t)).await.status() == 401
                && gh.metric(&series("status")).await >= 1.0
        })
        .await
    );
    let fresh = old.sign(&claims_for(&iss, "u"));
    assert_eq!(gh.get("/api/x", Some(&fresh)).await.status(), 200);

    // Oversized: refused for its size, the old key still works.
    idp.set(Answer::Oversized);
    assert!(
        eventually(Duration::from_secs(10), || async {
            let t = new.sign(&claims_for(&iss, "u"));
            gh.get("/api/x", Some(&t)).await.status() == 401
                && gh.metric(&series("too_large")).await >= 1.0
        })
        .await
    );
    let fresh = old.sign(&claims_for(&iss, "u"));
    assert_eq!(gh.get("/api/x", Some(&fresh)).await.status(), 200);

    // Rotation at the issuer: the new kid is fetched on first sight (min_refresh allowing).
    idp.set(Answer::Keys(jwks(&[&new])));
    assert!(comes_to(&gh, 200, || new.sign(&claims_for(&iss, "u"))).await);
    assert_eq!(up.last().header("x-auth-issuer"), Some(iss.as_str()));
    // The retired key is gone with the old set (a fresh token, not a cached one).
    let retired = old.sign(&claims_for(&iss, "u"));
    assert_eq!(gh.get("/api/x", Some(&retired)).await.status(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_external_sub_equal_to_a_local_id_gets_none_of_that_users_data() {
    let key = Key::new("a1", "private");
    let idp = Idp::start(jwks(&[&key])).await;
    let fb = FakeFacebook::start().await;
    let up = EchoUpstream::start("app").await;
    let gh = TestGatehouse::start(&format!(
        "{}\n[facebook]\napp_id = \"{APP_ID}\"\napp_secret = \"{APP_SECRET}\"\ndialog_url = \"{base}\"\ngraph_url = \"{base}\"\n\
         api_version = \"v21.0\"\nscopes = [\"pages_show_list\"]\nintegrator_origins = [\"https://btask.example.net\"]\n\
         token_encryption_key = \"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\"\n{}{}{}{}{}",
        oauth_sections(""),
        jwks_issuer(&idp, ""),
        upstream_section("app", &up, ""),
        "[[rate_limits]]\nname = \"per-user\"\nkey = \"user\"\nrate = \"1/h\"\nburst = 1\n",
        route("/api", "app", "required", ""),
        route("/limited", "app", "required", "rate_limit = \"per-user\""),
        base = fb.base_url
    ));
    let iss = idp.issuer();
    let id = gh.sign_up("alice", "password123").await["user"]["id"]
        .as_i64()
        .unwrap()
        .to_string();
    let alice = gh.login("alice", "password123").await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let account_id = "0123456789abcdef01234567";
    let account = FbAccount {
        id: account_id.into(),
        fb_user_id: "fb-alice".into(),
        user_id: id.clone(),
        name: Some("Alice".into()),
        email: None,
        token_ciphertext: vec![1, 2, 3],
        token_expires_at: None,
        scopes: String::new(),
        declined_scopes: String::new(),
        created_at: now(),
        updated_at: now(),
    };
    gh.running
        .state()
        .store
        .run(move |s| async move {
            let pages = [FbPage {
                page_id: "page-alice".into(),
                name: "Alice's page".into(),
                avatar: None,
                is_owned: true,
                is_connected: false,
            }];
            let ads: [FbAdAccount; 0] = [];
            s.link_fb_account(&account, &pages, &ads).await
        })
        .await
        .unwrap();

    // The impostor: a valid token of the external issuer whose `sub` is Alice's local id,
    // claiming admin and every scope too.
    let impostor = || {
        key.sign(&patched(
            claims_for(&iss, &id),
            json!({"admin": true, "scope": "read write admin"}),
        ))
    };
    assert!(
        comes_to(&gh, 200, impostor).await,
        "the token itself is valid"
    );

    let accounts = |token: String| {
        let url = gh.url(&format!(
            "/social-media-posting/oauth/facebook/accounts/{account_id}"
        ));
        let client = gh.client.clone();
        async move {
            let r = client
                .get(url)
                .bearer_auth(token)
                .header("Version", "2021-07-28")
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    // Alice herself sees her pages: the request can succeed.
    let (status, body) = accounts(alice.clone()).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("page-alice"));
    let (status, body) = accounts(impostor()).await;
    assert_eq!(status, 403, "{body}");
    assert!(!body.contains("page-alice"), "{body}");

    // Rate limits keyed by user: the impostor does not share Alice's bucket.
    assert_eq!(gh.get("/limited/x", Some(&alice)).await.status(), 200);
    assert_eq!(gh.get("/limited/x", Some(&alice)).await.status(), 429);
    assert_eq!(gh.get("/limited/x", Some(&impostor())).await.status(), 200);
    assert_eq!(gh.get("/limited/x", Some(&impostor())).await.status(), 429);

    // Users API: an admin sees Alice; the impostor, "admin" claim and all, does not.
    let admin = gh
        .issue_with(
            NewToken {
                user_id: Some("root".into()),
                user_name: None,
                client_id: None,
                scopes: vec![],
                admin: true,
                groups: vec![],
            },
            Duration::from_secs(600),
        )
        .await;
    let path = format!("/users/{id}");
    assert_eq!(gh.get(&path, Some(&admin)).await.status(), 200);
    let r = gh.get(&path, Some(&impostor())).await;
    assert_eq!(r.status(), 403);
    assert!(!r.text().await.unwrap().contains("alice"));
    assert_eq!(gh.get("/users", Some(&impostor())).await.status(), 403);
}

/// `claims` maps the issuer's own claim names onto the identity; a static HMAC secret is still
/// an issuer's key source beside JWKS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claim_mapping_names_where_the_identity_comes_from() {
    const SECRET: &[u8] = b"mapping-secret-mapping-secret-0123";
    const ISS: &str = "https://corp.example/";
    let up = EchoUpstream::start("app").await;
    let gh = TestGatehouse::start(&format!(
        "[[jwt.issuers]]\nissuer = \"{ISS}\"\nsecret = \"{}\"\nalgorithms = [\"HS256\"]\naudiences = [\"{AUD}\"]\n\
         claims = {{ user_id = \"oid\", user_name = \"email\", scopes = \"roles_granted\", client_id = \"appid\" }}\n{}{}",
        std::str::from_utf8(SECRET).unwrap(),
        upstream_section("app", &up, ""),
        route("/api", "app", "required", "scopes = [\"read\"]")
    ));
    let sign = |patch: Value| {
        let c = patched(claims_for(ISS, "sub-is-not-used"), patch);
        encode(
            &Header::new(Algorithm::HS256),
            &c,
            &EncodingKey::from_secret(SECRET),
        )
        .unwrap()
    };
    let token = sign(json!({"oid": "8f2c", "email": "ann@corp.example",
                            "roles_granted": ["read", "write"], "appid": "corp-app"}));
    assert_eq!(gh.get("/api/x", Some(&token)).await.status(), 200);
    let seen = up.last();
    assert_eq!(seen.header("x-auth-user-id"), Some("8f2c"));
    assert_eq!(seen.header("x-auth-user-name"), Some("ann@corp.example"));
    assert_eq!(seen.header("x-auth-scopes"), Some("read write"));
    assert_eq!(seen.header("x-auth-client-id"), Some("corp-app"));
    assert_eq!(seen.header("x-auth-issuer"), Some(ISS));
    // The standard `scope` no longer counts, and without the mapped user id there is no identity.
    let unmapped = sign(json!({"oid": "8f2c", "scope": "read"}));
    assert_eq!(gh.get("/api/x", Some(&unmapped)).await.status(), 403);
    let no_oid = sign(json!({"roles_granted": "read"}));
    assert_eq!(gh.get("/api/x", Some(&no_oid)).await.status(), 401);
}
