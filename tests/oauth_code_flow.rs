//! The authorization code flow driven like a browser: real HTML forms with CSRF tokens, the
//! pending-request cookie, PKCE, consent memory, denial, replays and bad redirect URIs.

use crate::support;

use base64::Engine;
use serde_json::Value;
use sha2::Digest;
use support::oauth::*;
use support::*;

const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

fn challenge(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(verifier.as_bytes()))
}

async fn start() -> (TestGatehouse, std::sync::Arc<EchoUpstream>) {
    let up = EchoUpstream::start("app").await;
    let config = [
        oauth_sections(""),
        upstream_section("app", &up, ""),
        route("/api", "app", "required", ""),
    ]
    .concat();
    let gh = TestGatehouse::start(&config);
    gh.sign_up("frank", "password123").await;
    (gh, up)
}

/// The value of the hidden `csrf_token` input of a page.
fn csrf(html: &str) -> String {
    let marker = "name=\"csrf_token\" value=\"";
    let start = html.find(marker).expect("csrf input") + marker.len();
    html[start..].split('"').next().unwrap().to_string()
}

fn cookie(r: &reqwest::Response) -> String {
    let v = r.headers()["set-cookie"].to_str().unwrap();
    v.split(';').next().unwrap().to_string()
}

fn location(r: &reqwest::Response) -> String {
    r.headers()["location"].to_str().unwrap().to_string()
}

fn query_param(url: &str, name: &str) -> Option<String> {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

struct Browser<'a> {
    gh: &'a TestGatehouse,
    cookie: String,
}

impl<'a> Browser<'a> {
    /// GET /oauth/authorize; returns the browser and the sign-in page.
    async fn open(gh: &'a TestGatehouse, query: &str) -> (Browser<'a>, reqwest::Response) {
        let r = gh
            .client
            .get(gh.url(&format!("/oauth/authorize?{query}")))
            .send()
            .await
            .unwrap();
        let cookie = r
            .headers()
            .get("set-cookie")
            .map(|_| cookie(&r))
            .unwrap_or_default();
        (Browser { gh, cookie }, r)
    }

    async fn post(&self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        self.gh
            .client
            .post(self.gh.url(path))
            .header("Cookie", &self.cookie)
            .form(form)
            .send()
            .await
            .unwrap()
    }

    async fn get(&self, path: &str) -> reqwest::Response {
        self.gh
            .client
            .get(self.gh.url(path))
            .header("Cookie", &self.cookie)
            .send()
            .await
            .unwrap()
    }

    /// Signs in and, when asked, approves: returns the final redirect to the client.
    async fn sign_in_and_decide(
        &self,
        sign_in_page: &str,
        decision: Option<&str>,
    ) -> reqwest::Response {
        let token = csrf(sign_in_page);
        let r = self
            .post(
                "/oauth/sign-in",
                &[
                    ("username", "frank"),
                    ("password", "password123"),
                    ("csrf_token", &token),
                ],
            )
            .await;
        assert_eq!(r.status(), 303, "sign-in answers 303 (never 307)");
        let Some(decision) = decision else { return r };
        assert_eq!(location(&r), "/oauth/consent");
        let page = self.get("/oauth/consent").await;
        assert_eq!(page.status(), 200);
        assert_eq!(page.headers()["x-frame-options"], "DENY");
        let html = page.text().await.unwrap();
        assert!(
            html.contains("read") && html.contains("write"),
            "scopes listed"
        );
        assert!(html.contains("Web &lt;App&gt;"), "client name escaped");
        let r = self
            .post(
                "/oauth/consent",
                &[("csrf_token", &csrf(&html)), ("decision", decision)],
            )
            .await;
        assert_eq!(r.status(), 303);
        r
    }
}

fn authorize_query(client: &str, redirect: &str, state: &str, extra: &str) -> String {
    format!(
        "response_type=code&client_id={client}&redirect_uri={}&scope=read%20write&state={state}&code_challenge={}&code_challenge_method=S256{extra}",
        url::form_urlencoded::byte_serialize(redirect.as_bytes()).collect::<String>(),
        challenge(VERIFIER)
    )
}

async fn exchange(gh: &TestGatehouse, code: &str, verifier: &str) -> (u16, Value) {
    let r = gh
        .post_form_basic(
            "/oauth/token",
            WEB,
            WEB_SECRET,
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", WEB_REDIRECT),
                ("code_verifier", verifier),
            ],
        )
        .await;
    (r.status().as_u16(), r.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_flow_with_pkce_consent_memory_and_code_replay() {
    let (gh, up) = start().await;
    let (browser, page) =
        Browser::open(&gh, &authorize_query(WEB, WEB_REDIRECT, "a%20b%2Bc", "")).await;
    assert_eq!(page.status(), 200);
    let h = page.headers().clone();
    assert_eq!(h["x-frame-options"], "DENY");
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(
        csp.contains("form-action 'self' https://app.example"),
        "{csp}"
    );
    assert_eq!(h["referrer-policy"], "no-referrer");
    let set_cookie = h["set-cookie"].to_str().unwrap();
    assert!(
        set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Lax"),
        "{set_cookie}"
    );
    let html = page.text().await.unwrap();
    assert!(html.contains("<form") && html.contains("name=\"password\""));

    let r = browser.sign_in_and_decide(&html, Some("approve")).await;
    let loc = location(&r);
    assert!(loc.starts_with(&format!("{WEB_REDIRECT}?code=")), "{loc}");
    assert!(
        loc.contains("&state=a%20b%2Bc&"),
        "state echoed byte for byte: {loc}"
    );
    assert_eq!(
        query_param(&loc, "iss").unwrap(),
        format!("http://localhost:{}", gh.addr.port())
    );
    let code = query_param(&loc, "code").unwrap();

    // Wrong verifier, then the right one.
    let (status, body) =
        exchange(&gh, &code, "wrong-verifier-wrong-verifier-wrong-verifier-x").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let (status, body) = exchange(&gh, &code, VERIFIER).await;
    assert_eq!(status, 200, "{body}");
    let access = body["access_token"].as_str().unwrap().to_string();
    assert!(body["refresh_token"].is_string());
    assert_eq!(gh.get("/api/me", Some(&access)).await.status(), 200);
    assert_eq!(up.last().header("x-auth-user-name"), Some("frank"));
    assert_eq!(up.last().header("x-auth-scopes"), Some("read write"));

    // Replaying the code fails and revokes what it produced.
    let (status, body) = exchange(&gh, &code, VERIFIER).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    assert_eq!(gh.get("/api/me", Some(&access)).await.status(), 401);

    // Consent is remembered: the next sign-in goes straight back to the client.
    let (browser, page) =
        Browser::open(&gh, &authorize_query(WEB, WEB_REDIRECT, "second", "")).await;
    let r = browser
        .sign_in_and_decide(&page.text().await.unwrap(), None)
        .await;
    let loc = location(&r);
    assert!(
        loc.starts_with(WEB_REDIRECT) && loc.contains("code=") && loc.contains("state=second"),
        "{loc}"
    );
    let (status, _) = exchange(&gh, &query_param(&loc, "code").unwrap(), VERIFIER).await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn denial_csrf_and_bad_passwords() {
    let (gh, _up) = start().await;
    let (browser, page) = Browser::open(&gh, &authorize_query(WEB, WEB_REDIRECT, "xyz", "")).await;
    let html = page.text().await.unwrap();

    // Missing or foreign CSRF token: 403, nothing happens.
    let r = browser
        .post(
            "/oauth/sign-in",
            &[("username", "frank"), ("password", "password123")],
        )
        .await;
    assert_eq!(r.status(), 403);
    let r = browser
        .post(
            "/oauth/sign-in",
            &[
                ("username", "frank"),
                ("password", "password123"),
                ("csrf_token", "forged"),
            ],
        )
        .await;
    assert_eq!(r.status(), 403);
    // No cookie at all: the page is not usable.
    let r = gh
        .post_form(
            "/oauth/sign-in",
            &[
                ("username", "frank"),
                ("password", "password123"),
                ("csrf_token", &csrf(&html)),
            ],
        )
        .await;
    assert_eq!(r.status(), 400);
    assert!(r.headers().get("location").is_none());

    // A wrong password shows the form again with an error.
    let r = browser
        .post(
            "/oauth/sign-in",
            &[
                ("username", "frank"),
                ("password", "nope-nope"),
                ("csrf_token", &csrf(&html)),
            ],
        )
        .await;
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().to_lowercase().contains("incorrect"));

    let r = browser.sign_in_and_decide(&html, Some("deny")).await;
    let loc = location(&r);
    assert!(loc.starts_with(WEB_REDIRECT), "{loc}");
    assert_eq!(query_param(&loc, "error").unwrap(), "access_denied");
    assert_eq!(query_param(&loc, "state").unwrap(), "xyz");
    assert!(query_param(&loc, "code").is_none());
    // The pending request is spent: submitting again shows the expired page.
    let r = browser
        .post(
            "/oauth/consent",
            &[("csrf_token", &csrf(&html)), ("decision", "approve")],
        )
        .await;
    assert_eq!(r.status(), 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_clients_and_redirects_get_an_error_page_never_a_redirect() {
    let (gh, _up) = start().await;
    let bad = [
        authorize_query("unknown", "https://evil.example/cb", "s", ""),
        authorize_query(WEB, "https://app.example/cb/x", "s", ""),
        authorize_query(WEB, "https://app.example/cb?a=1", "s", ""),
        authorize_query(WEB, "https://APP.example/cb", "s", ""),
        authorize_query(WEB, "https://evil.example/cb", "s", ""),
        authorize_query(WEB, "javascript:alert(1)", "s", ""),
    ];
    for q in bad {
        let r = gh
            .client
            .get(gh.url(&format!("/oauth/authorize?{q}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{q}");
        assert!(r.headers().get("location").is_none(), "{q}");
        assert!(r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pkce_rules_for_public_and_confidential_clients() {
    let (gh, _up) = start().await;
    let redirect = |q: String| {
        let gh = &gh;
        async move {
            let r = gh
                .client
                .get(gh.url(&format!("/oauth/authorize?{q}")))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 302, "{q}");
            location(&r)
        }
    };
    let spa = url::form_urlencoded::byte_serialize(SPA_REDIRECT.as_bytes()).collect::<String>();
    // Public client without PKCE, or with plain.
    let loc = redirect(format!(
        "response_type=code&client_id={SPA}&redirect_uri={spa}&state=s1"
    ))
    .await;
    assert_eq!(query_param(&loc, "error").unwrap(), "invalid_request");
    assert_eq!(query_param(&loc, "state").unwrap(), "s1");
    assert!(query_param(&loc, "iss").is_some());
    let loc = redirect(format!("response_type=code&client_id={SPA}&redirect_uri={spa}&code_challenge={VERIFIER}&code_challenge_method=plain")).await;
    assert_eq!(query_param(&loc, "error").unwrap(), "invalid_request");
    let loc = redirect(
        authorize_query(WEB, WEB_REDIRECT, "s", "&response_type=token")
            .replace("response_type=code&", ""),
    )
    .await;
    assert_eq!(
        query_param(&loc, "error").unwrap(),
        "unsupported_response_type"
    );
    let loc = redirect(
        authorize_query(WEB, WEB_REDIRECT, "s", "")
            .replace("scope=read%20write", "scope=read%20superuser"),
    )
    .await;
    assert_eq!(query_param(&loc, "error").unwrap(), "invalid_scope");

    // The public client's full flow, then verifier format rules at the token endpoint.
    let q = format!("response_type=code&client_id={SPA}&redirect_uri={spa}&scope=read&code_challenge={}&code_challenge_method=S256", challenge(VERIFIER));
    let (browser, page) = Browser::open(&gh, &q).await;
    let token = csrf(&page.text().await.unwrap());
    let r = browser
        .post(
            "/oauth/sign-in",
            &[
                ("username", "frank"),
                ("password", "password123"),
                ("csrf_token", &token),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
    let r = browser
        .post(
            "/oauth/consent",
            &[("csrf_token", &token), ("decision", "approve")],
        )
        .await;
    let code = query_param(&location(&r), "code").unwrap();
    for bad in [
        "a".repeat(42),
        "a".repeat(129),
        format!("{}+", "a".repeat(43)),
    ] {
        let r = gh
            .post_form(
                "/oauth/token",
                &[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("redirect_uri", SPA_REDIRECT),
                    ("client_id", SPA),
                    ("code_verifier", &bad),
                ],
            )
            .await;
        assert_eq!(r.status(), 400);
    }
    // Bound to its redirect_uri and client.
    let r = gh
        .post_form(
            "/oauth/token",
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", "http://localhost:5173/other"),
                ("client_id", SPA),
                ("code_verifier", VERIFIER),
            ],
        )
        .await;
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_grant");
    let r = gh
        .post_form(
            "/oauth/token",
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", SPA_REDIRECT),
                ("client_id", SPA),
                ("code_verifier", VERIFIER),
            ],
        )
        .await;
    assert_eq!(r.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_code_redemption_succeeds_once() {
    let (gh, _up) = start().await;
    let (browser, page) = Browser::open(&gh, &authorize_query(WEB, WEB_REDIRECT, "c", "")).await;
    let r = browser
        .sign_in_and_decide(&page.text().await.unwrap(), Some("approve"))
        .await;
    let code = query_param(&location(&r), "code").unwrap();
    let gh = std::sync::Arc::new(gh);
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let (gh, code) = (gh.clone(), code.clone());
        tasks.push(tokio::spawn(async move {
            exchange(&gh, &code, VERIFIER).await.0
        }));
    }
    let mut ok = 0;
    for t in tasks {
        if t.await.unwrap() == 200 {
            ok += 1;
        }
    }
    assert_eq!(ok, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_code_is_refused() {
    let (gh, _up) = start().await;
    let now = gatehouse::store::now_unix();
    let code = "an-expired-code-value-for-this-test";
    let stored = gatehouse::store::StoredCode {
        family_id: "f-expired".into(),
        client_id: WEB.into(),
        user_id: "1".into(),
        user_name: Some("frank".into()),
        redirect_uri: WEB_REDIRECT.into(),
        scopes: "read".into(),
        code_challenge: Some(challenge(VERIFIER)),
        code_challenge_method: Some("S256".into()),
        created_at: now - 120,
        expires_at: now - 60,
        used: false,
    };
    let hash = gatehouse::auth::hash_token(code);
    gh.running
        .state()
        .store
        .run(move |s| async move { s.insert_code(&hash, &stored).await })
        .await
        .unwrap();
    let (status, body) = exchange(&gh, code, VERIFIER).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
}
