//! OpenID Connect Core on Gatehouse (issue 11, part 3), over real HTTP with a browser that
//! keeps its cookies: the ID token (claims, nonce, `at_hash`, checked by the `openssl` CLI
//! from the published JWKS), its refresh, UserInfo, discovery, `prompt` and `max_age` with a
//! sign-in session, and RP-initiated logout. `openssl` must be installed (the test fails
//! otherwise).

use crate::support;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use gatehouse::signing::{generate_pem, KeyAlgorithm, KeyPair, KeySet};
use serde_json::{json, Value};
use sha2::Digest;
use std::path::{Path, PathBuf};
use std::time::Duration;
use support::browser::{Browser, Page};
use support::jws::openssl_verifies;
use support::oauth::*;
use support::*;

const RP: &str = "rp";
const RP_SECRET: &str = "rp-secret-0123456789abcdef";
const RP_REDIRECT: &str = "https://rp.example/cb";
const RP_BYE: &str = "https://rp.example/signed-out";
const PASSWORD: &str = "password123";

fn key_file(dir: &Path, alg: KeyAlgorithm) -> PathBuf {
    let path = dir.join("key.pem");
    std::fs::write(&path, generate_pem(alg).unwrap()).unwrap();
    path
}

/// Signing keys (`alg`, when given), the seed clients, an OpenID RP, and `[sessions]`.
fn sections(key: Option<(&str, &Path)>) -> String {
    let keys = key
        .map(|(alg, path)| {
            format!(
                "[[tokens.signing_keys]]\nkid = \"k1\"\nalgorithm = \"{alg}\"\nprivate_key_file = \"{}\"\nstatus = \"active\"\n",
                path.display()
            )
        })
        .unwrap_or_default();
    format!(
        r#"{keys}
{oauth}
[[clients]]
id = "{RP}"
name = "Relying Party"
secret = "{RP_SECRET}"
redirect_uris = ["{RP_REDIRECT}"]
post_logout_redirect_uris = ["{RP_BYE}"]
grant_types = ["authorization_code", "refresh_token"]
scopes = ["openid", "profile", "read"]

[sessions]
"#,
        oauth = oauth_sections("")
    )
}

struct Oidc {
    gh: TestGatehouse,
    keys: tempfile::TempDir,
    /// Ann's user id, the `sub` of her tokens.
    ann: String,
}

impl Oidc {
    async fn start(alg: KeyAlgorithm) -> Oidc {
        let keys = tempfile::tempdir().unwrap();
        let name = match alg {
            KeyAlgorithm::EdDsa => "EdDSA",
            KeyAlgorithm::Es256 => "ES256",
            KeyAlgorithm::Rs256 => "RS256",
        };
        let path = key_file(keys.path(), alg);
        let gh = TestGatehouse::start(&sections(Some((name, &path))));
        let ann = gh.sign_up("ann", PASSWORD).await["user"]["id"].to_string();
        gh.sign_up("bob", PASSWORD).await;
        Oidc { gh, keys, ann }
    }

    fn browser(&self) -> Browser {
        Browser::new(self.gh.addr, &format!("localhost:{}", self.gh.addr.port()))
    }

    fn issuer(&self) -> String {
        format!("http://localhost:{}", self.gh.addr.port())
    }

    /// The key the server signs with, read from its file: to forge hints the way only the
    /// server could (an expired one), never to check what the server signed.
    fn key_set(&self, alg: KeyAlgorithm) -> KeySet {
        let pem = std::fs::read(self.keys.path().join("key.pem")).unwrap();
        let key = KeyPair::from_pem("k1", alg, &pem).unwrap();
        KeySet::new(vec![key], 0, self.issuer()).unwrap()
    }

    async fn token(&self, form: &[(&str, &str)]) -> reqwest::Response {
        self.gh
            .post_form_basic("/oauth/token", RP, RP_SECRET, form)
            .await
    }

    async fn redeem(&self, code: &str) -> Value {
        let r = self
            .token(&[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", RP_REDIRECT),
            ])
            .await;
        assert_eq!(r.status(), 200);
        r.json().await.unwrap()
    }

    async fn userinfo(&self, token: Option<&str>) -> reqwest::Response {
        let mut req = self.gh.client.get(self.gh.url("/oauth/userinfo"));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.unwrap()
    }

    async fn jwks(&self) -> Value {
        self.gh
            .client
            .get(self.gh.url("/oauth/jwks.json"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

fn authorize_path(scope: &str, extra: &str) -> String {
    let enc = |s: &str| -> String { url::form_urlencoded::byte_serialize(s.as_bytes()).collect() };
    format!(
        "/oauth/authorize?response_type=code&client_id={RP}&redirect_uri={}&scope={}&state=st%2B1{extra}",
        enc(RP_REDIRECT),
        enc(scope)
    )
}

/// The query of a redirect to the RP, as pairs.
fn redirect_params(page: &Page) -> Vec<(String, String)> {
    let location = page.location.as_deref().expect("a redirect");
    assert!(location.starts_with(RP_REDIRECT), "{location}");
    url::Url::parse(location)
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn param<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Signs in through the form the authorization endpoint shows and approves consent if
/// asked; the code from the final redirect.
async fn sign_in_for_code(b: &mut Browser, path: &str, user: &str) -> String {
    let form = b.visit(path).await;
    assert_eq!(form.status, 200, "sign-in page: {}", form.body);
    assert!(form.body.contains("name=\"password\""), "a sign-in form");
    let csrf = form.csrf_token();
    let mut page = b
        .submit(
            "/oauth/sign-in",
            &[
                ("csrf_token", &csrf),
                ("username", user),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(page.status, 303, "{}", page.body);
    if page.location.as_deref() == Some("/oauth/consent") {
        page = b
            .submit(
                "/oauth/consent",
                &[("csrf_token", &csrf), ("decision", "approve")],
            )
            .await;
    }
    let pairs = redirect_params(&page);
    assert_eq!(param(&pairs, "state"), Some("st+1"));
    param(&pairs, "code").expect("a code").to_string()
}

fn part(token: &str, i: usize) -> Value {
    let text = token.split('.').nth(i).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(text).unwrap()).unwrap()
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_id_token_carries_the_sign_in_and_verifies_with_openssl_from_the_jwks() {
    for (alg, hash_len) in [(KeyAlgorithm::EdDsa, 64), (KeyAlgorithm::Es256, 32)] {
        let o = Oidc::start(alg).await;
        let ann = o.ann.clone();
        let mut b = o.browser();
        let before = now();
        let code = sign_in_for_code(
            &mut b,
            &authorize_path("openid profile", "&nonce=n-0S6_WzA2Mj"),
            "ann",
        )
        .await;
        let tokens = o.redeem(&code).await;
        let id_token = tokens["id_token"].as_str().expect("an id_token");
        let access = tokens["access_token"].as_str().unwrap();

        let header = part(id_token, 0);
        assert_eq!(header["typ"], "JWT");
        assert_eq!(header["kid"], "k1");
        let claims = part(id_token, 1);
        assert_eq!(claims["iss"], o.issuer());
        assert_eq!(claims["sub"], ann.as_str(), "{claims}");
        assert_eq!(claims["aud"], RP);
        assert_eq!(claims["azp"], RP);
        assert_eq!(claims["nonce"], "n-0S6_WzA2Mj");
        let (iat, exp) = (
            claims["iat"].as_i64().unwrap(),
            claims["exp"].as_i64().unwrap(),
        );
        let auth_time = claims["auth_time"].as_i64().unwrap();
        assert!(exp > iat && iat >= before && auth_time >= before && auth_time <= iat);
        assert!(claims["sid"].is_string());
        // at_hash: the left half of the access token's hash, the hash of the key's algorithm.
        let digest = match alg {
            KeyAlgorithm::EdDsa => sha2::Sha512::digest(access.as_bytes()).to_vec(),
            _ => sha2::Sha256::digest(access.as_bytes()).to_vec(),
        };
        assert_eq!(digest.len(), hash_len);
        assert_eq!(
            claims["at_hash"],
            URL_SAFE_NO_PAD.encode(&digest[..hash_len / 2])
        );

        // The JWKS verifies it with a verifier that shares nothing with the signer.
        let jwks = o.jwks().await;
        let jwk = &jwks["keys"][0];
        assert!(openssl_verifies(id_token, jwk), "{alg:?}: openssl verifies");
        let mut forged: Vec<&str> = id_token.split('.').collect();
        let other = URL_SAFE_NO_PAD
            .encode(serde_json::to_vec(&json!({"sub": "someone-else", "aud": RP})).unwrap());
        forged[1] = &other;
        assert!(!openssl_verifies(&forged.join("."), jwk));

        // A refresh: a new ID token of the same sign-in, without the nonce (OIDC Core 12.2).
        let refreshed: Value = o
            .token(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
            ])
            .await
            .json()
            .await
            .unwrap();
        let again = refreshed["id_token"]
            .as_str()
            .expect("an id_token on refresh");
        assert!(openssl_verifies(again, jwk));
        let c2 = part(again, 1);
        assert_eq!(c2["sub"], claims["sub"]);
        assert_eq!(c2["aud"], RP);
        assert_eq!(c2["auth_time"], claims["auth_time"]);
        assert!(c2.get("nonce").is_none(), "{c2}");
        // Narrowed to no `openid`: no ID token.
        let narrowed: Value = o
            .token(&[
                ("grant_type", "refresh_token"),
                (
                    "refresh_token",
                    refreshed["refresh_token"].as_str().unwrap(),
                ),
                ("scope", "profile"),
            ])
            .await
            .json()
            .await
            .unwrap();
        assert!(narrowed["access_token"].is_string());
        assert!(narrowed.get("id_token").is_none(), "{narrowed}");

        // Without `openid` no ID token; a client's own token never has one.
        let mut b = o.browser();
        let code = sign_in_for_code(&mut b, &authorize_path("read", ""), "bob").await;
        assert!(o.redeem(&code).await.get("id_token").is_none());
        let service: Value =
            o.gh.post_form_basic(
                "/oauth/token",
                SERVICE,
                SERVICE_SECRET,
                &[("grant_type", "client_credentials")],
            )
            .await
            .json()
            .await
            .unwrap();
        assert!(service["access_token"].is_string() && service.get("id_token").is_none());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn userinfo_answers_by_scope_and_refuses_per_rfc_6750() {
    let o = Oidc::start(KeyAlgorithm::EdDsa).await;
    let ann = o.ann.clone();
    let mut b = o.browser();
    let code = sign_in_for_code(&mut b, &authorize_path("openid profile", ""), "ann").await;
    let tokens = o.redeem(&code).await;
    let access = tokens["access_token"].as_str().unwrap();

    let r = o.userinfo(Some(access)).await;
    assert_eq!(r.status(), 200);
    assert!(r.headers()["cache-control"]
        .to_str()
        .unwrap()
        .contains("no-store"));
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        body,
        json!({"sub": ann, "name": "ann", "preferred_username": "ann"})
    );
    // POST answers the same.
    let r =
        o.gh.client
            .post(o.gh.url("/oauth/userinfo"))
            .bearer_auth(access)
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["sub"], ann.as_str());

    // `openid` alone: `sub` only.
    let mut b = o.browser();
    let code = sign_in_for_code(&mut b, &authorize_path("openid", ""), "ann").await;
    let narrow = o.redeem(&code).await;
    let body: Value = o
        .userinfo(narrow["access_token"].as_str())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body, json!({"sub": ann}));

    // No token: 401 with a bare Bearer challenge.
    let r = o.userinfo(None).await;
    assert_eq!(r.status(), 401);
    let challenge = r.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(challenge.starts_with("Bearer"), "{challenge}");

    // A token without `openid`: 403 insufficient_scope.
    let mut b = o.browser();
    let code = sign_in_for_code(&mut b, &authorize_path("read", ""), "bob").await;
    let plain = o.redeem(&code).await;
    let r = o.userinfo(plain["access_token"].as_str()).await;
    assert_eq!(r.status(), 403);
    let challenge = r.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(challenge.contains("insufficient_scope"), "{challenge}");

    // Revoked: 401 invalid_token.
    let r =
        o.gh.post_form_basic("/oauth/revoke", RP, RP_SECRET, &[("token", access)])
            .await;
    assert_eq!(r.status(), 200);
    let r = o.userinfo(Some(access)).await;
    assert_eq!(r.status(), 401);
    let challenge = r.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(challenge.contains("invalid_token"), "{challenge}");
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_token");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_describes_the_provider_and_needs_a_signing_key() {
    let o = Oidc::start(KeyAlgorithm::Es256).await;
    let iss = o.issuer();
    let r =
        o.gh.client
            .get(o.gh.url("/.well-known/openid-configuration"))
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), 200);
    let doc: Value = r.json().await.unwrap();
    assert_eq!(doc["issuer"], iss.as_str());
    for (field, path) in [
        ("authorization_endpoint", "/oauth/authorize"),
        ("token_endpoint", "/oauth/token"),
        ("userinfo_endpoint", "/oauth/userinfo"),
        ("jwks_uri", "/oauth/jwks.json"),
        ("end_session_endpoint", "/oauth/logout"),
    ] {
        assert_eq!(doc[field], format!("{iss}{path}"), "{field}");
    }
    let list = |field: &str| -> Vec<String> {
        doc[field]
            .as_array()
            .unwrap_or_else(|| panic!("{field} in {doc}"))
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(list("response_types_supported"), ["code"]);
    assert_eq!(list("subject_types_supported"), ["public"]);
    assert_eq!(list("id_token_signing_alg_values_supported"), ["ES256"]);
    assert_eq!(list("code_challenge_methods_supported"), ["S256"]);
    for s in ["openid", "profile", "read"] {
        assert!(list("scopes_supported").contains(&s.to_string()), "{s}");
    }
    for c in [
        "sub",
        "iss",
        "aud",
        "nonce",
        "auth_time",
        "at_hash",
        "azp",
        "preferred_username",
    ] {
        assert!(list("claims_supported").contains(&c.to_string()), "{c}");
    }
    // The endpoints it names answer.
    let jwks = o.jwks().await;
    assert_eq!(jwks["keys"][0]["alg"], "ES256");

    // Without signing keys: no discovery, and `openid` is refused at the redirect.
    let plain = TestGatehouse::start(&sections(None));
    let r = plain
        .client
        .get(plain.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let mut b = Browser::new(plain.addr, &format!("localhost:{}", plain.addr.port()));
    let page = b.visit(&authorize_path("openid", "")).await;
    assert_eq!(page.status, 302, "{}", page.body);
    let pairs = redirect_params(&page);
    assert_eq!(param(&pairs, "error"), Some("invalid_scope"));
    assert_eq!(param(&pairs, "state"), Some("st+1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prompt_and_max_age_follow_the_sign_in_session() {
    let o = Oidc::start(KeyAlgorithm::EdDsa).await;
    let mut b = o.browser();

    // No session: prompt=none fails at the RP, no page shown.
    let page = b.visit(&authorize_path("openid", "&prompt=none")).await;
    assert_eq!(page.status, 302);
    let pairs = redirect_params(&page);
    assert_eq!(param(&pairs, "error"), Some("login_required"));
    assert_eq!(param(&pairs, "state"), Some("st+1"));
    assert_eq!(param(&pairs, "iss"), Some(o.issuer().as_str()));
    assert!(param(&pairs, "code").is_none());
    // Malformed prompt: invalid_request.
    let page = b
        .visit(&authorize_path("openid", "&prompt=none%20login"))
        .await;
    assert_eq!(
        param(&redirect_params(&page), "error"),
        Some("invalid_request")
    );

    // Sign in once (this starts the session).
    let first = sign_in_for_code(&mut b, &authorize_path("openid", "&nonce=a"), "ann").await;
    assert!(b.jar.contains_key("gatehouse-session"), "{:?}", b.jar);
    let auth_time =
        part(o.redeem(&first).await["id_token"].as_str().unwrap(), 1)["auth_time"].clone();

    // With the session: a code straight away, no form; the ID token keeps the sign-in's time.
    let page = b
        .visit(&authorize_path("openid", "&prompt=none&nonce=b"))
        .await;
    assert_eq!(page.status, 302, "{}", page.body);
    let pairs = redirect_params(&page);
    let code = param(&pairs, "code").expect("a code without a form");
    let sso = o.redeem(code).await;
    let claims = part(sso["id_token"].as_str().unwrap(), 1);
    assert_eq!(claims["nonce"], "b");
    assert_eq!(claims["auth_time"], auth_time);
    // Without prompt: also no form.
    let page = b.visit(&authorize_path("openid", "")).await;
    assert!(param(&redirect_params(&page), "code").is_some());
    // A scope not consented to: consent_required with prompt=none, the consent page without.
    let page = b
        .visit(&authorize_path("openid profile", "&prompt=none"))
        .await;
    assert_eq!(
        param(&redirect_params(&page), "error"),
        Some("consent_required")
    );
    let page = b.visit(&authorize_path("openid profile", "")).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("decision"), "the consent page");
    // prompt=consent asks again even for what was consented.
    let page = b.visit(&authorize_path("openid", "&prompt=consent")).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("decision") && !page.body.contains("name=\"password\""));

    // prompt=login: the form, although the session is live.
    let page = b.visit(&authorize_path("openid", "&prompt=login")).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("name=\"password\""));

    // max_age: a sign-in older than it needs the form (with prompt=none: login_required).
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let page = b.visit(&authorize_path("openid", "&max_age=0")).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("name=\"password\""));
    let page = b
        .visit(&authorize_path("openid", "&max_age=0&prompt=none"))
        .await;
    assert_eq!(
        param(&redirect_params(&page), "error"),
        Some("login_required")
    );
    let page = b.visit(&authorize_path("openid", "&max_age=3600")).await;
    assert!(param(&redirect_params(&page), "code").is_some());
    let page = b.visit(&authorize_path("openid", "&max_age=soon")).await;
    assert_eq!(
        param(&redirect_params(&page), "error"),
        Some("invalid_request")
    );

    // Signing in again (prompt=login) is a new sign-in: a later auth_time.
    let code = sign_in_for_code(&mut b, &authorize_path("openid", "&prompt=login"), "ann").await;
    let claims = part(o.redeem(&code).await["id_token"].as_str().unwrap(), 1);
    assert!(claims["auth_time"].as_i64() > auth_time.as_i64());
}

fn logout_path(hint: Option<&str>, redirect: Option<&str>) -> String {
    let enc = |s: &str| -> String { url::form_urlencoded::byte_serialize(s.as_bytes()).collect() };
    let mut path = "/oauth/logout?state=bye%2F1".to_string();
    if let Some(h) = hint {
        path.push_str(&format!("&id_token_hint={}", enc(h)));
    }
    if let Some(r) = redirect {
        path.push_str(&format!("&post_logout_redirect_uri={}", enc(r)));
    }
    path
}

/// Sends the RP's logout redirect as a browser follows it: a navigation from another site.
async fn rp_logout(b: &mut Browser, path: &str) -> Page {
    b.send(
        "GET",
        path,
        &[("accept", "text/html"), ("sec-fetch-site", "cross-site")],
        None,
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rp_initiated_logout_ends_the_sign_in_and_revokes_its_tokens() {
    let o = Oidc::start(KeyAlgorithm::EdDsa).await;
    let mut b = o.browser();
    let code = sign_in_for_code(&mut b, &authorize_path("openid profile", ""), "ann").await;
    let tokens = o.redeem(&code).await;
    let id_token = tokens["id_token"].as_str().unwrap().to_string();
    let access = tokens["access_token"].as_str().unwrap();
    let refresh = tokens["refresh_token"].as_str().unwrap();
    // A second token family from the same sign-in, by single sign-on.
    let page = b.visit(&authorize_path("openid", "&prompt=none")).await;
    let second = o
        .redeem(param(&redirect_params(&page), "code").unwrap())
        .await;
    // Another user's sign-in in another browser stays untouched.
    let mut other = o.browser();
    let code = sign_in_for_code(&mut other, &authorize_path("openid", ""), "bob").await;
    let bobs = o.redeem(&code).await;

    // Refused before anything ends: an unregistered redirect, a forged or foreign hint, a
    // redirect without a hint, a client_id that is not the hint's.
    let refusals = [
        logout_path(Some(&id_token), Some("https://rp.example/elsewhere")),
        logout_path(Some(&id_token), Some("https://rp.example/signed-out/")),
        logout_path(None, Some(RP_BYE)),
        format!(
            "{}&client_id={WEB}",
            logout_path(Some(&id_token), Some(RP_BYE))
        ),
    ];
    let mut forged: Vec<&str> = id_token.split('.').collect();
    let sig = URL_SAFE_NO_PAD.encode([7u8; 64]);
    forged[2] = &sig;
    let forged = forged.join(".");
    let foreign = {
        let dir = tempfile::tempdir().unwrap();
        let pem = generate_pem(KeyAlgorithm::EdDsa).unwrap();
        std::fs::write(dir.path().join("k"), &pem).unwrap();
        let key = KeyPair::from_pem("k1", KeyAlgorithm::EdDsa, pem.as_bytes()).unwrap();
        let set = KeySet::new(vec![key], 0, o.issuer()).unwrap();
        set.sign("JWT", &part(&id_token, 1)).unwrap()
    };
    for path in refusals.into_iter().chain([
        logout_path(Some(&forged), Some(RP_BYE)),
        logout_path(Some(&foreign), Some(RP_BYE)),
        logout_path(Some(access), None),
    ]) {
        let page = rp_logout(&mut b, &path).await;
        assert_eq!(page.status, 400, "{path}: {}", page.body);
        assert!(page.location.is_none(), "{path}");
    }
    // Nothing ended: the session still answers prompt=none, the tokens still work.
    let page = b.visit(&authorize_path("openid", "&prompt=none")).await;
    assert!(param(&redirect_params(&page), "code").is_some());
    assert_eq!(o.userinfo(Some(access)).await.status(), 200);

    // The RP's logout: back to the registered address with its state, the cookie cleared.
    let session = b.jar["gatehouse-session"].clone();
    let page = rp_logout(&mut b, &logout_path(Some(&id_token), Some(RP_BYE))).await;
    assert_eq!(page.status, 303, "{}", page.body);
    assert_eq!(
        page.location.as_deref(),
        Some(&*format!("{RP_BYE}?state=bye%2F1"))
    );
    assert!(!b.jar.contains_key("gatehouse-session"), "{:?}", b.jar);

    // The sign-in is over: even with the old cookie back, prompt=none needs a login.
    b.jar.insert("gatehouse-session".into(), session);
    let page = b.visit(&authorize_path("openid", "&prompt=none")).await;
    assert_eq!(
        param(&redirect_params(&page), "error"),
        Some("login_required")
    );
    // Every token family of that sign-in is revoked: access and refresh tokens.
    for t in [access, second["access_token"].as_str().unwrap()] {
        assert_eq!(o.userinfo(Some(t)).await.status(), 401);
    }
    for r in [refresh, second["refresh_token"].as_str().unwrap()] {
        let resp = o
            .token(&[("grant_type", "refresh_token"), ("refresh_token", r)])
            .await;
        assert_eq!(resp.status(), 400);
        assert_eq!(
            resp.json::<Value>().await.unwrap()["error"],
            "invalid_grant"
        );
    }
    // Bob's sign-in is another one.
    assert_eq!(
        o.userinfo(bobs["access_token"].as_str()).await.status(),
        200
    );
    let page = other.visit(&authorize_path("openid", "&prompt=none")).await;
    assert!(param(&redirect_params(&page), "code").is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_hint_still_logs_out_and_another_users_hint_asks_first() {
    let o = Oidc::start(KeyAlgorithm::EdDsa).await;
    let mut b = o.browser();
    let code = sign_in_for_code(&mut b, &authorize_path("openid", ""), "ann").await;
    let tokens = o.redeem(&code).await;
    let claims = part(tokens["id_token"].as_str().unwrap(), 1);

    // A hint for bob, sent cross-site to ann's browser: a confirmation page, nothing ended.
    let mut bobs = claims.clone();
    bobs["sub"] = json!("999");
    let keys = o.key_set(KeyAlgorithm::EdDsa);
    let bob_hint = keys.sign("JWT", &bobs).unwrap();
    let page = rp_logout(&mut b, &logout_path(Some(&bob_hint), Some(RP_BYE))).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.location.is_none());
    assert!(b.jar.contains_key("gatehouse-session"));
    let page = b.visit(&authorize_path("openid", "&prompt=none")).await;
    assert!(param(&redirect_params(&page), "code").is_some());

    // Ann's hint, expired long ago (an RP logs out with the last ID token it has).
    let mut expired = claims.clone();
    expired["iat"] = json!(1_000);
    expired["exp"] = json!(2_000);
    let hint = keys.sign("JWT", &expired).unwrap();
    let page = rp_logout(&mut b, &logout_path(Some(&hint), Some(RP_BYE))).await;
    assert_eq!(page.status, 303, "{}", page.body);
    assert!(page.location.unwrap().starts_with(RP_BYE));
    assert_eq!(
        o.userinfo(tokens["access_token"].as_str()).await.status(),
        401
    );
    // Without a redirect: the signed-out page.
    let page = rp_logout(&mut b, &logout_path(Some(&hint), None)).await;
    assert_eq!(page.status, 200);
}

#[test]
fn post_logout_redirect_uris_are_validated_like_redirect_uris() {
    let text = TestGatehouse::config_text(1, 2, "x.db", &sections(None)).replace(
        &format!("post_logout_redirect_uris = [\"{RP_BYE}\"]"),
        "post_logout_redirect_uris = [\"http://rp.example/bye#frag\"]",
    );
    let err = gatehouse::Config::from_toml(&text, "test")
        .unwrap_err()
        .to_string();
    assert!(err.contains("post_logout_redirect_uris[0]"), "{err}");
}
