//! Facebook Login against a fake Facebook (tests/support/fake_facebook.rs): seed 000's dialog
//! redirect, the callback that links the account, denial, state replay, the open-redirect
//! corpus, Graph errors and timeouts, the connected-accounts API, the popup flow, and the
//! deauthorize / data-deletion callbacks.

use crate::support;

use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use support::fake_facebook::{Endpoint, FakeFacebook, FakeUser, Outcome, APP_ID, APP_SECRET};
use support::oauth::*;
use support::*;

const INTEGRATOR: &str = "https://btask.example.net";
const KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

struct World {
    gh: TestGatehouse,
    fb: Arc<FakeFacebook>,
    token: String,
    /// Cookies Gatehouse set on this "browser" (the login-binding cookies).
    cookies: std::sync::Mutex<Vec<String>>,
}

async fn world() -> World {
    world_with("").await
}

async fn world_with(extra_facebook: &str) -> World {
    let fb = FakeFacebook::start().await;
    let sections = format!(
        "{}\n[facebook]\napp_id = \"{APP_ID}\"\napp_secret = \"{APP_SECRET}\"\ndialog_url = \"{base}\"\ngraph_url = \"{base}\"\n\
         api_version = \"v21.0\"\nscopes = [\"pages_show_list\", \"ads_management\", \"pages_manage_posts\"]\n\
         integrator_origins = [\"{INTEGRATOR}\", \"http://localhost:3999\"]\ntoken_encryption_key = \"{KEY}\"\ntimeout = \"1s\"\n{extra_facebook}\n",
        oauth_sections(""),
        base = fb.base_url
    );
    let gh = TestGatehouse::start(&sections);
    gh.sign_up("fbuser", "password123").await;
    let token = gh.login("fbuser", "password123").await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    World {
        gh,
        fb,
        token,
        cookies: Default::default(),
    }
}

fn location(r: &reqwest::Response) -> String {
    r.headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}

fn param(url: &str, name: &str) -> Option<String> {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

impl World {
    /// Keeps the cookies a response sets, as a browser would.
    fn remember(&self, r: &reqwest::Response) {
        for v in r.headers().get_all("set-cookie") {
            let pair = v.to_str().unwrap().split(';').next().unwrap().to_string();
            self.cookies.lock().unwrap().push(pair);
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies.lock().unwrap().join("; ")
    }

    /// Starts the seed-000 flow and returns Gatehouse's redirect to the dialog.
    async fn dialog(&self, integrator: &str) -> reqwest::Response {
        let q = format!(
            "redirect_uri={}&oauth_token={}",
            url::form_urlencoded::byte_serialize(integrator.as_bytes()).collect::<String>(),
            self.token
        );
        let r = self
            .gh
            .client
            .get(self.gh.url(&format!("/facebook/oauth_dialog?{q}")))
            .send()
            .await
            .unwrap();
        self.remember(&r);
        r
    }

    /// Follows a dialog URL through the fake Facebook and back into Gatehouse's callback.
    async fn through_facebook(&self, dialog_url: &str) -> reqwest::Response {
        let r = self.gh.client.get(dialog_url).send().await.unwrap();
        assert_eq!(r.status(), 302, "the fake dialog redirects");
        let back = location(&r).split('#').next().unwrap().to_string();
        assert!(
            back.starts_with(&format!(
                "http://localhost:{}/facebook/oauth_code?",
                self.gh.addr.port()
            )),
            "{back}"
        );
        let path = back.splitn(4, '/').nth(3).unwrap();
        self.gh
            .client
            .get(self.gh.url(&format!("/{path}")))
            .header("Cookie", self.cookie_header())
            .send()
            .await
            .unwrap()
    }

    async fn login_flow(&self) -> String {
        let r = self.dialog(&format!("{INTEGRATOR}/done?x=1")).await;
        assert_eq!(r.status(), 302);
        let r = self.through_facebook(&location(&r)).await;
        if r.status() != 302 {
            panic!(
                "callback: {} cookies={:?} body={}",
                r.status(),
                self.cookie_header(),
                r.text().await.unwrap()
            );
        }
        location(&r)
    }

    async fn accounts(
        &self,
        method: reqwest::Method,
        id: &str,
        token: Option<&str>,
        version: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self.gh.client.request(
            method,
            self.gh.url(&format!(
                "/social-media-posting/oauth/facebook/accounts/{id}"
            )),
        );
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(v) = version {
            req = req.header("Version", v);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap();
        (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_000_dialog_redirect_reproduced() {
    let w = world().await;
    let r = w.dialog(INTEGRATOR).await;
    assert_eq!(r.status(), 302);
    let h = r.headers().clone();
    let loc = location(&r);
    let url = url::Url::parse(&loc).unwrap();
    assert_eq!(
        format!("{}{}", url.origin().ascii_serialization(), url.path()),
        format!("{}/v21.0/dialog/oauth", w.fb.base_url)
    );
    assert_eq!(param(&loc, "client_id").unwrap(), APP_ID);
    assert_eq!(
        param(&loc, "redirect_uri").unwrap(),
        format!("http://localhost:{}/facebook/oauth_code", w.gh.addr.port())
    );
    assert_eq!(
        param(&loc, "scope").unwrap(),
        "pages_show_list,ads_management,pages_manage_posts"
    );
    assert!(
        loc.contains("scope=pages_show_list%2Cads_management%2Cpages_manage_posts"),
        "commas encoded as in the seed"
    );
    assert!(param(&loc, "state").unwrap().len() >= 32);
    assert!(
        !loc.contains(&w.token),
        "the Gatehouse token never goes to Facebook"
    );
    assert_eq!(h["content-type"], "text/html; charset=utf-8");
    assert_eq!(h["cache-control"], "no-cache");
    for name in [
        "x-frame-options",
        "x-xss-protection",
        "x-content-type-options",
        "access-control-allow-origin",
        "x-request-id",
        "x-runtime",
    ] {
        assert!(h.contains_key(name), "{name}");
    }
    let body = r.text().await.unwrap();
    assert_eq!(
        body,
        format!(
            "<html><body>You are being <a href=\"{}\">redirected</a>.</body></html>",
            loc.replace('&', "&amp;")
        )
    );
    assert_eq!(
        h["content-length"]
            .to_str()
            .unwrap()
            .parse::<usize>()
            .unwrap(),
        body.len()
    );

    // A bad Gatehouse token: 401, nothing stored, no redirect.
    let r = w
        .gh
        .client
        .get(w.gh.url(
            "/facebook/oauth_dialog?redirect_uri=https%3A%2F%2Fbtask.example.net&oauth_token=nope",
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers().get("location").is_none());
    assert_eq!(w.fb.calls(Endpoint::Dialog), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_login_links_the_account_and_feeds_the_accounts_api() {
    let w = world().await;
    let back = w.login_flow().await;
    assert!(
        back.starts_with(&format!("{INTEGRATOR}/done?x=1&status=success")),
        "{back}"
    );
    assert!(
        param(&back, "access_token").is_none(),
        "Facebook's token stays with Gatehouse by default"
    );
    let account_id = param(&back, "account_id").unwrap();

    assert_eq!(
        w.fb.calls(Endpoint::CodeExchange),
        1,
        "one code exchange per login"
    );
    assert_eq!(w.fb.calls(Endpoint::LongLivedExchange), 1);
    assert_eq!(w.fb.calls(Endpoint::DebugToken), 1);
    for r in w.fb.requests() {
        assert!(
            !r.path_and_query.contains(&w.token) && !r.body.contains(&w.token),
            "Gatehouse token sent to Facebook: {r:?}"
        );
        if matches!(
            r.endpoint,
            Some(Endpoint::Me | Endpoint::Permissions | Endpoint::Accounts | Endpoint::AdAccounts)
        ) {
            assert!(
                r.had_valid_proof,
                "appsecret_proof missing on {}",
                r.path_and_query
            );
        }
        if r.endpoint == Some(Endpoint::CodeExchange) {
            assert_eq!(r.method, "POST", "the secret travels in a body, not a URL");
        }
    }

    let (status, body) = w
        .accounts(
            reqwest::Method::GET,
            &account_id,
            Some(&w.token),
            Some("2021-07-28"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["success"], true);
    assert_eq!(body["statusCode"], 200);
    assert_eq!(body["message"], "Fetched Facebook Account");
    let pages = body["results"]["pages"].as_array().unwrap();
    assert_eq!(pages.len(), FakeFacebook::default_user().pages.len());
    let first = &pages[0];
    for field in ["id", "name", "avatar", "isOwned", "isConnected"] {
        assert!(first.get(field).is_some(), "{field}");
    }
    assert_eq!(first["isConnected"], false);

    // Attach a page.
    let page_id = first["id"].as_str().unwrap().to_string();
    let attach =
        json!({"type": "page", "originId": page_id, "name": "x", "avatar": "y", "companyId": "c1"});
    let (status, body) = w
        .accounts(
            reqwest::Method::POST,
            &account_id,
            Some(&w.token),
            Some("2021-07-28"),
            Some(attach),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let attached = body["results"]["pages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == page_id.as_str())
        .unwrap()
        .clone();
    assert_eq!(attached["isConnected"], true);

    // The users API shows the link.
    let admin = w.gh.admin_token().await;
    assert_eq!(
        fb_link(&w, &admin).await,
        (json!(FakeFacebook::default_user().id), json!(["123"]))
    );

    // Logging in again refreshes the link and keeps the attached page.
    let again = w.login_flow().await;
    assert_eq!(param(&again, "account_id").unwrap(), account_id);
    let (_, body) = w
        .accounts(
            reqwest::Method::GET,
            &account_id,
            Some(&w.token),
            Some("2021-07-28"),
            None,
        )
        .await;
    assert!(body["results"]["pages"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["id"] == page_id.as_str() && p["isConnected"] == true));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_api_errors_in_the_seed_shape() {
    let w = world().await;
    let account_id = param(&w.login_flow().await, "account_id").unwrap();
    let shape = |status: u16, body: &Value| {
        assert_eq!(body["statusCode"], status, "{body}");
        assert!(
            body["message"].is_string() && body["error"].is_string(),
            "{body}"
        );
    };
    let get = reqwest::Method::GET;
    let (s, b) = w
        .accounts(get.clone(), &account_id, Some(&w.token), None, None)
        .await;
    assert_eq!(s, 400);
    shape(400, &b);
    let (s, b) = w
        .accounts(
            get.clone(),
            &account_id,
            Some(&w.token),
            Some("2020-01-01"),
            None,
        )
        .await;
    assert_eq!(s, 400);
    shape(400, &b);
    let (s, b) = w
        .accounts(get.clone(), &account_id, None, Some("2021-07-28"), None)
        .await;
    assert_eq!(s, 401);
    shape(401, &b);
    let (s, b) = w
        .accounts(
            get.clone(),
            &account_id,
            Some("bogus"),
            Some("2021-07-28"),
            None,
        )
        .await;
    assert_eq!(s, 401);
    shape(401, &b);
    let (s, b) = w
        .accounts(
            get.clone(),
            "ffffffffffffffffffffffff",
            Some(&w.token),
            Some("2021-07-28"),
            None,
        )
        .await;
    assert_eq!(s, 422);
    shape(422, &b);
    let (s, _) = w
        .accounts(
            get.clone(),
            "not-an-id",
            Some(&w.token),
            Some("2021-07-28"),
            None,
        )
        .await;
    assert_eq!(s, 400);
    let post = reqwest::Method::POST;
    let (s, b) = w
        .accounts(
            post.clone(),
            &account_id,
            Some(&w.token),
            Some("2021-07-28"),
            Some(json!({"type": "page", "originId": "999999"})),
        )
        .await;
    assert_eq!(s, 422);
    shape(422, &b);
    let (s, _) = w
        .accounts(
            post.clone(),
            &account_id,
            Some(&w.token),
            Some("2021-07-28"),
            Some(json!({"type": "group", "originId": "1"})),
        )
        .await;
    assert_eq!(s, 400);

    // Another user's account: 422, never data.
    w.gh.sign_up("other", "password123").await;
    let other = w.gh.login("other", "password123").await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let (s, b) = w
        .accounts(get, &account_id, Some(&other), Some("2021-07-28"), None)
        .await;
    assert_eq!(s, 422);
    assert!(b.get("results").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn denial_replay_and_conflicts() {
    let w = world().await;
    // Denied on Facebook.
    w.fb.next_login(Outcome::Deny);
    let r = w.dialog(INTEGRATOR).await;
    let dialog = location(&r);
    let r = w.through_facebook(&dialog).await;
    let back = location(&r);
    assert_eq!(param(&back, "status").unwrap(), "error");
    assert_eq!(param(&back, "error").unwrap(), "access_denied");
    assert_eq!(param(&back, "error_reason").unwrap(), "user_denied");
    assert!(param(&back, "error_description").is_some());
    assert_eq!(w.fb.calls(Endpoint::CodeExchange), 0);

    // The same state again (replay), an unknown state, a missing state: an error page, no redirect.
    let state = param(&dialog, "state").unwrap();
    for q in [
        format!("code=abc&state={state}"),
        "code=abc&state=unknown".to_string(),
        "code=abc".to_string(),
        format!("code=abc&state={state}&integrator_uri=https%3A%2F%2Fevil.com"),
    ] {
        let r =
            w.gh.client
                .get(w.gh.url(&format!("/facebook/oauth_code?{q}")))
                .send()
                .await
                .unwrap();
        assert_eq!(r.status(), 400, "{q}");
        assert!(r.headers().get("location").is_none(), "{q}");
    }

    // A second local user cannot take over a Facebook account linked to the first.
    w.login_flow().await;
    w.gh.sign_up("intruder", "password123").await;
    let intruder = w.gh.login("intruder", "password123").await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let q = format!(
        "redirect_uri={}&oauth_token={intruder}",
        url::form_urlencoded::byte_serialize(INTEGRATOR.as_bytes()).collect::<String>()
    );
    let r =
        w.gh.client
            .get(w.gh.url(&format!("/facebook/oauth_dialog?{q}")))
            .send()
            .await
            .unwrap();
    w.remember(&r);
    let r = w.through_facebook(&location(&r)).await;
    let back = location(&r);
    assert_eq!(param(&back, "status").unwrap(), "error");
    assert_eq!(param(&back, "error").unwrap(), "account_conflict");

    // Login CSRF: a flow started in one browser cannot be finished in another (no cookie),
    // and the attempt does not spend the state (hardening 13): the real browser finishes.
    let r = w.dialog(INTEGRATOR).await;
    let fake = w.gh.client.get(location(&r)).send().await.unwrap();
    let back = location(&fake).split('#').next().unwrap().to_string();
    let path = back.splitn(4, '/').nth(3).unwrap().to_string();
    let r =
        w.gh.client
            .get(w.gh.url(&format!("/{path}")))
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), 400, "foreign browser");
    assert!(r.headers().get("location").is_none());
    let r =
        w.gh.client
            .get(w.gh.url(&format!("/{path}")))
            .header("Cookie", w.cookie_header())
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), 302, "the real browser still finishes");
    let back = location(&r);
    assert!(back.starts_with(INTEGRATOR), "{back}");
    assert!(param(&back, "error").is_none(), "{back}");
    // And now it is spent.
    let r =
        w.gh.client
            .get(w.gh.url(&format!("/{path}")))
            .header("Cookie", w.cookie_header())
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), 400, "the state was spent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_state_is_refused() {
    let w = world_with("state_ttl = \"1s\"").await;
    let r = w.dialog(INTEGRATOR).await;
    let dialog = location(&r);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let r = w.through_facebook(&dialog).await;
    assert_eq!(r.status(), 400);
    assert!(r.headers().get("location").is_none());
    assert_eq!(w.fb.calls(Endpoint::CodeExchange), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_redirect_corpus_is_refused() {
    let w = world().await;
    let corpus = [
        "//evil.com",
        "/\\evil.com",
        "https:evil.com",
        "https://btask.example.net.evil.com",
        "https://btask.example.net@evil.com",
        "https://evil.com#btask.example.net",
        "https://btask.example.net%09.evil.com",
        "java%0ascript:alert(1)",
        "https://btask.example.net%00.evil.com",
        "HTTPS://EVIL.COM",
        "https://btаsk.example.net",
        "https://xn--btsk-8cd.example.net",
        "javascript:alert(1)",
        "data:text/html,x",
        "http://btask.example.net",
        "https://btask.example.net:444/",
        "https://user:pw@btask.example.net/",
        "https://btask.example.net/#x",
        " https://btask.example.net",
        "ftp://btask.example.net",
        "https://evil.com/https://btask.example.net",
        "https:///btask.example.net",
        "\\\\evil.com",
        "https://btask.example.net\\@evil.com",
        "https://evil.com\\.btask.example.net",
        "http://localhost:3998/",
        "https://btask.example.net.",
        "https://BTASK.example.net.evil.com",
        "",
        "https://btask.example.net%2f@evil.com",
    ];
    for raw in corpus {
        // Raw, and percent-encoded once more.
        for value in [
            url::form_urlencoded::byte_serialize(raw.as_bytes()).collect::<String>(),
            raw.replace('%', "%25")
                .replace('#', "%23")
                .replace(' ', "%20")
                .replace('&', "%26"),
        ] {
            let r =
                w.gh.client
                    .get(w.gh.url(&format!(
                        "/facebook/oauth_dialog?redirect_uri={value}&oauth_token={}",
                        w.token
                    )))
                    .send()
                    .await
                    .unwrap();
            assert_eq!(r.status(), 400, "{raw:?} as {value:?}");
            assert!(r.headers().get("location").is_none(), "{raw:?}");
        }
    }
    assert_eq!(w.fb.calls(Endpoint::Dialog), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graph_errors_and_timeouts() {
    let w = world().await;
    let error_body = |code: i64, subcode: Option<i64>, message: &str| json!({"error": {"message": message, "type": "OAuthException", "code": code, "error_subcode": subcode, "fbtrace_id": "T"}});
    // A used code: a clear error, and the exchange is not retried.
    w.fb.fail_next(
        Endpoint::CodeExchange,
        1,
        400,
        error_body(100, Some(36009), "This authorization code has been used."),
    );
    let back = w.login_flow().await;
    assert_eq!(param(&back, "status").unwrap(), "error");
    assert_eq!(param(&back, "error").unwrap(), "facebook_error");
    assert!(param(&back, "error_description").unwrap().contains("100"));
    assert_eq!(w.fb.calls(Endpoint::CodeExchange), 1);

    // Rate limited on /me: reported as such, not retried.
    let before = w.fb.calls(Endpoint::Me);
    w.fb.fail_next(
        Endpoint::Me,
        1,
        400,
        error_body(4, None, "Application request limit reached"),
    );
    let back = w.login_flow().await;
    assert_eq!(param(&back, "error").unwrap(), "rate_limited");
    assert_eq!(w.fb.calls(Endpoint::Me), before + 1);

    // Transient failures (code 2, a 500, a timeout) are retried with backoff and succeed.
    w.fb.fail_next(
        Endpoint::LongLivedExchange,
        1,
        500,
        error_body(2, None, "Service temporarily unavailable"),
    );
    w.fb.fail_next(
        Endpoint::Permissions,
        1,
        400,
        error_body(2, None, "Unexpected error"),
    );
    w.fb.delay_next(Endpoint::Me, 1, Duration::from_millis(1500));
    let back = w.login_flow().await;
    assert_eq!(param(&back, "status").unwrap(), "success", "{back}");

    // Every attempt times out: a temporary failure, bounded.
    w.fb.delay_next(Endpoint::DebugToken, 10, Duration::from_millis(1500));
    let started = std::time::Instant::now();
    let back = w.login_flow().await;
    assert_eq!(param(&back, "error").unwrap(), "temporarily_unavailable");
    assert!(started.elapsed() < Duration::from_secs(10));
    w.fb.delay_next(Endpoint::DebugToken, 0, Duration::ZERO);

    // A token issued to another app is refused and nothing is linked.
    w.fb.set_debug_token_app_id(Some("999"));
    let back = w.login_flow().await;
    assert_eq!(param(&back, "error").unwrap(), "invalid_token");
    w.fb.set_debug_token_app_id(None);
}

/// What the users API says fbuser is linked to: `(fb_id, fb_ad_accounts)`.
async fn fb_link(w: &World, admin: &str) -> (Value, Value) {
    let users: Value = w.gh.get("/users", Some(admin)).await.json().await.unwrap();
    let me = users["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == "fbuser")
        .unwrap()
        .clone();
    (me["fb_id"].clone(), me["fb_ad_accounts"].clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graph_that_never_answers_fails_in_time_and_writes_nothing() {
    let w = world().await;
    let admin = w.gh.admin_token().await;
    let version = Some("2021-07-28");
    let get = reqwest::Method::GET;

    w.fb.set_graph_silent(true);
    let started = std::time::Instant::now();
    let back = w.login_flow().await;
    // Hang guard only: the code exchange is not retried, so one Graph timeout (1 s) ends it.
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(back.starts_with(&format!("{INTEGRATOR}/done?")), "{back}");
    assert_eq!(param(&back, "status").unwrap(), "error");
    assert_eq!(param(&back, "error").unwrap(), "temporarily_unavailable");
    assert!(param(&back, "error_description").is_some());
    assert_eq!(param(&back, "account_id"), None);
    assert_eq!(w.fb.calls(Endpoint::CodeExchange), 1);
    assert_eq!(fb_link(&w, &admin).await, (Value::Null, json!([])));
    let (s, b) = w
        .accounts(
            get.clone(),
            "ffffffffffffffffffffffff",
            Some(&w.token),
            version,
            None,
        )
        .await;
    assert_eq!(s, 422);
    assert_eq!(b["statusCode"], 422, "{b}");

    // Linked while Graph answers; then Graph goes silent again.
    w.fb.set_graph_silent(false);
    let account_id = param(&w.login_flow().await, "account_id").unwrap();
    let linked = fb_link(&w, &admin).await;
    let (s, pages) = w
        .accounts(get.clone(), &account_id, Some(&w.token), version, None)
        .await;
    assert_eq!(s, 200);
    w.fb.set_graph_silent(true);
    let back = w.login_flow().await;
    assert_eq!(param(&back, "error").unwrap(), "temporarily_unavailable");
    // The failed relink changed nothing, and the accounts API (which never calls Graph) still
    // answers from the store while Graph hangs.
    assert_eq!(fb_link(&w, &admin).await, linked);
    let (s, after) = w
        .accounts(get, &account_id, Some(&w.token), version, None)
        .await;
    assert_eq!(s, 200);
    assert_eq!(after, pages);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declined_scopes_are_reported_and_paging_is_followed() {
    let w = world().await;
    w.fb.set_page_size(1);
    let mut user = FakeFacebook::default_user();
    user.granted.retain(|s| s != "ads_management");
    user.declined = vec!["ads_management".into()];
    w.fb.next_login(Outcome::Approve(FakeUser { ..user.clone() }));
    let back = w.login_flow().await;
    assert_eq!(param(&back, "status").unwrap(), "success");
    assert_eq!(param(&back, "declined_scopes").unwrap(), "ads_management");
    let (_, body) = w
        .accounts(
            reqwest::Method::GET,
            &param(&back, "account_id").unwrap(),
            Some(&w.token),
            Some("2021-07-28"),
            None,
        )
        .await;
    assert_eq!(
        body["results"]["pages"].as_array().unwrap().len(),
        user.pages.len(),
        "every page, one per Graph page"
    );
    assert!(w.fb.calls(Endpoint::Accounts) >= user.pages.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn popup_flow_posts_to_the_exact_origin() {
    let w = world().await;
    let r =
        w.gh.client
            .post(w.gh.url("/facebook/start-token"))
            .bearer_auth(&w.token)
            .form(&[("origin", "http://localhost:3999")])
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), 200);
    let start = r.json::<Value>().await.unwrap()["start_token"]
        .as_str()
        .unwrap()
        .to_string();
    let r = w
        .gh
        .client
        .get(w.gh.url(&format!("/social-media-posting/oauth/facebook/start?start_token={start}&locationId=loc1&userId=u1&page=integration&reconnect=false")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    w.remember(&r);
    let dialog = location(&r);
    assert_eq!(param(&dialog, "display").unwrap(), "popup");
    let r = w.through_facebook(&dialog).await;
    assert_eq!(r.status(), 200);
    let csp = r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(csp.contains("script-src 'sha256-"), "{csp}");
    let html = r.text().await.unwrap();
    assert!(html.contains("postMessage(m,o)"));
    assert!(html.contains("var o=\"http://localhost:3999\""), "{html}");
    assert!(!html.contains("\"*\""));
    assert!(
        html.contains("\"actionType\":\"close\"")
            && html.contains("\"platform\":\"facebook\"")
            && html.contains("\"accountId\":\"")
    );

    // The start token works once.
    let r =
        w.gh.client
            .get(w.gh.url(&format!("/facebook/start?start_token={start}")))
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), 401);

    // Denied in the popup: the message carries the error.
    w.fb.next_login(Outcome::Deny);
    let r =
        w.gh.client
            .get(w.gh.url("/facebook/start?origin=http%3A%2F%2Flocalhost%3A3999"))
            .bearer_auth(&w.token)
            .send()
            .await
            .unwrap();
    w.remember(&r);
    let r = w.through_facebook(&location(&r)).await;
    let html = r.text().await.unwrap();
    assert!(html.contains("\"error\":\"access_denied\""), "{html}");
    // An origin outside the allow-list is refused before any dialog.
    let r =
        w.gh.client
            .get(w.gh.url("/facebook/start?origin=https%3A%2F%2Fevil.example"))
            .bearer_auth(&w.token)
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deauthorize_and_data_deletion_callbacks() {
    let w = world().await;
    let account_id = param(&w.login_flow().await, "account_id").unwrap();
    let fb_user = FakeFacebook::default_user().id;
    let payload = json!({"algorithm": "HMAC-SHA256", "issued_at": 1756857600, "user_id": fb_user});

    for bad in [
        FakeFacebook::tampered_signed_request(&payload),
        "not.signed".to_string(),
        String::new(),
        FakeFacebook::signed_request(&json!({"algorithm": "HMAC-SHA1", "user_id": fb_user})),
    ] {
        let r =
            w.gh.client
                .post(w.gh.url("/facebook/deauthorize"))
                .form(&[("signed_request", bad.as_str())])
                .send()
                .await
                .unwrap();
        assert_eq!(r.status(), 400);
    }
    let (s, _) = w
        .accounts(
            reqwest::Method::GET,
            &account_id,
            Some(&w.token),
            Some("2021-07-28"),
            None,
        )
        .await;
    assert_eq!(s, 200, "nothing was deleted by the bad requests");

    let r =
        w.gh.client
            .post(w.gh.url("/facebook/data-deletion"))
            .form(&[(
                "signed_request",
                FakeFacebook::signed_request(&payload).as_str(),
            )])
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert!(body["url"]
        .as_str()
        .unwrap()
        .starts_with(&format!("http://localhost:{}/", w.gh.addr.port())));
    assert!(body["confirmation_code"].as_str().unwrap().len() >= 8);
    let (s, _) = w
        .accounts(
            reqwest::Method::GET,
            &account_id,
            Some(&w.token),
            Some("2021-07-28"),
            None,
        )
        .await;
    assert_eq!(s, 422, "the account is gone");

    // Deauthorize after a new login unlinks again.
    let account_id = param(&w.login_flow().await, "account_id").unwrap();
    let r =
        w.gh.client
            .post(w.gh.url("/facebook/deauthorize"))
            .form(&[(
                "signed_request",
                FakeFacebook::signed_request(&payload).as_str(),
            )])
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), 200);
    let (s, _) = w
        .accounts(
            reqwest::Method::GET,
            &account_id,
            Some(&w.token),
            Some("2021-07-28"),
            None,
        )
        .await;
    assert_eq!(s, 422);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn facebook_tokens_are_encrypted_at_rest_and_never_logged() {
    let w = world().await;
    w.login_flow().await;
    let db = std::fs::read(w.gh.dir.path().join("gatehouse.db")).unwrap_or_default();
    let wal = std::fs::read(w.gh.dir.path().join("gatehouse.db-wal")).unwrap_or_default();
    for bytes in [&db, &wal] {
        assert!(
            !bytes.windows(7).any(|win| win == b"EAAlong"),
            "a Facebook token is stored in clear"
        );
        assert!(!bytes.windows(8).any(|win| win == b"EAAshort"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_integrator_url_is_the_one_stored_at_flow_start() {
    let w = world().await;
    let r = w.dialog(&format!("{INTEGRATOR}/fixed")).await;
    let fake = w.gh.client.get(location(&r)).send().await.unwrap();
    let back = location(&fake).split('#').next().unwrap().to_string();
    let path = back.splitn(4, '/').nth(3).unwrap().to_string();
    let tampered = format!(
        "/{path}&integrator_uri=https%3A%2F%2Fevil.com&redirect_uri=https%3A%2F%2Fevil.com"
    );
    let r =
        w.gh.client
            .get(w.gh.url(&tampered))
            .header("Cookie", w.cookie_header())
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), 302);
    let loc = location(&r);
    assert!(
        loc.starts_with(&format!("{INTEGRATOR}/fixed?status=success")),
        "{loc}"
    );
    assert!(!loc.contains("evil.com"));
}
