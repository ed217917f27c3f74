//! A fake Facebook for the integration tests: a real HTTP server on 127.0.0.1 that plays the
//! Login dialog (`/dialog/oauth`) and the Graph API endpoints Gatehouse calls (code and
//! long-lived exchanges, `debug_token`, `/me`, `/me/permissions`, `/me/accounts`,
//! `/me/adaccounts`), following /work/shared/docs/FACEBOOK.md.
//!
//! Every path accepts an optional `/vNN.N` version prefix. The test drives the fake directly
//! through its methods (next login outcome, code lifetime, page size, `appsecret_proof`
//! requirement, injected errors and delays) and inspects it afterwards (per-endpoint call
//! counts, every request received).
#![allow(dead_code)]

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub const APP_ID: &str = "668664849828937";
pub const APP_SECRET: &str = "fake-app-secret-0123456789abcdef";

/// `expires_in` of a short-lived token from the code exchange.
pub const SHORT_EXPIRES_IN: u64 = 5_183_476;
/// `expires_in` of a long-lived token (and the `expires_at` offset of `debug_token`).
pub const LONG_EXPIRES_IN: u64 = 5_184_000;

#[derive(Clone, Debug)]
pub struct FakeUser {
    pub id: String,
    pub name: String,
    pub email: Option<String>,
    pub granted: Vec<String>,
    pub declined: Vec<String>,
    pub pages: Vec<FakePage>,
    /// `(account_id digits, name)`; served as `{"id": "act_<digits>", "account_id", "name"}`.
    pub ad_accounts: Vec<(String, String)>,
}

#[derive(Clone, Debug)]
pub struct FakePage {
    pub id: String,
    pub name: String,
    /// URL served as `picture.data.url`.
    pub picture: String,
}

/// What the next visit to the dialog does.
#[derive(Clone, Debug)]
pub enum Outcome {
    Approve(FakeUser),
    Deny,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Endpoint {
    Dialog,
    CodeExchange,
    LongLivedExchange,
    DebugToken,
    Me,
    Permissions,
    Accounts,
    AdAccounts,
}

#[derive(Clone, Debug)]
pub struct RecordedRequest {
    /// `None` for a path the fake does not serve (answered 404).
    pub endpoint: Option<Endpoint>,
    pub method: String,
    /// Path and query exactly as received.
    pub path_and_query: String,
    pub body: String,
    /// `appsecret_proof` present and equal to HMAC-SHA256(APP_SECRET, access_token).
    pub had_valid_proof: bool,
}

pub struct FakeFacebook {
    pub addr: SocketAddr,
    /// `http://127.0.0.1:PORT`, usable as both `dialog_url` and `graph_url`.
    pub base_url: String,
    inner: Arc<Inner>,
    task: Mutex<Option<JoinHandle<()>>>,
}

struct Inner {
    base_url: String,
    state: Mutex<State>,
}

struct Injection {
    remaining: usize,
    status: u16,
    body: Value,
}

struct Delay {
    remaining: usize,
    delay: Duration,
}

struct CodeEntry {
    redirect_uri: String,
    user: FakeUser,
    expires_at: Instant,
    used: bool,
}

struct TokenEntry {
    user: FakeUser,
    /// Set by `DELETE /me/permissions` (the user removed the app).
    revoked: bool,
}

struct State {
    next_outcome: Option<Outcome>,
    code_ttl: Duration,
    page_size: usize,
    require_proof: bool,
    debug_app_id: Option<String>,
    failures: HashMap<Endpoint, Injection>,
    delays: HashMap<Endpoint, Delay>,
    graph_silent: bool,
    counts: HashMap<Endpoint, usize>,
    requests: Vec<RecordedRequest>,
    codes: HashMap<String, CodeEntry>,
    tokens: HashMap<String, TokenEntry>,
}

impl FakeFacebook {
    /// Binds 127.0.0.1:0 and serves on the current tokio runtime until dropped.
    pub async fn start() -> Arc<FakeFacebook> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind fake facebook");
        let addr = listener.local_addr().expect("fake facebook addr");
        let base_url = format!("http://{addr}");
        let inner = Arc::new(Inner {
            base_url: base_url.clone(),
            state: Mutex::new(State {
                next_outcome: None,
                code_ttl: Duration::from_secs(300),
                page_size: 25,
                require_proof: true,
                debug_app_id: None,
                failures: HashMap::new(),
                delays: HashMap::new(),
                graph_silent: false,
                counts: HashMap::new(),
                requests: Vec::new(),
                codes: HashMap::new(),
                tokens: HashMap::new(),
            }),
        });
        let served = inner.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let inner = served.clone();
                tokio::spawn(async move {
                    let svc = service_fn(move |req: Request<Incoming>| {
                        let inner = inner.clone();
                        async move { Ok::<_, hyper::Error>(handle(inner, req).await) }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        Arc::new(FakeFacebook {
            addr,
            base_url,
            inner,
            task: Mutex::new(Some(task)),
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.inner.state.lock().unwrap()
    }

    /// What the next successful dialog visit does; afterwards the dialog goes back to
    /// `Approve(default_user())`. Visits rejected with an error (wrong `client_id`, missing
    /// `redirect_uri`, injected failure) do not consume it.
    pub fn next_login(&self, outcome: Outcome) {
        self.state().next_outcome = Some(outcome);
    }

    /// Id `10220000000001`, "Test User", an email, granted `pages_show_list`,
    /// `ads_management` and `pages_manage_posts`, pages 111 and 222, ad account 123.
    pub fn default_user() -> FakeUser {
        FakeUser {
            id: "10220000000001".into(),
            name: "Test User".into(),
            email: Some("test@example.com".into()),
            granted: vec![
                "pages_show_list".into(),
                "ads_management".into(),
                "pages_manage_posts".into(),
            ],
            declined: vec![],
            pages: vec![
                FakePage {
                    id: "111".into(),
                    name: "Acme Page".into(),
                    picture: "https://scontent.example/111.jpg".into(),
                },
                FakePage {
                    id: "222".into(),
                    name: "Acme Labs".into(),
                    picture: "https://scontent.example/222.jpg".into(),
                },
            ],
            ad_accounts: vec![("123".into(), "Acme Ads".into())],
        }
    }

    /// Lifetime of codes issued from now on (default 5 minutes; zero: expired at once).
    pub fn set_code_ttl(&self, ttl: Duration) {
        self.state().code_ttl = ttl;
    }

    /// Server-side page size of `/me/accounts` and `/me/adaccounts` (default 25). A smaller
    /// `limit` from the client wins.
    pub fn set_page_size(&self, n: usize) {
        self.state().page_size = n.max(1);
    }

    /// Whether user-token Graph calls need a valid `appsecret_proof` (default true).
    pub fn require_proof(&self, on: bool) {
        self.state().require_proof = on;
    }

    /// `Some(x)`: `debug_token` reports `app_id` x for valid tokens (a token issued to another
    /// app); `None`: the real `APP_ID`.
    pub fn set_debug_token_app_id(&self, app_id: Option<&str>) {
        self.state().debug_app_id = app_id.map(str::to_string);
    }

    /// The next `times` calls of `endpoint` answer `status` with `body`, before any other
    /// processing (they still count as calls). A `Value::String` body is sent as raw text
    /// (`text/html`), to simulate a non-JSON error page. Replaces a previous injection.
    pub fn fail_next(&self, endpoint: Endpoint, times: usize, status: u16, body: Value) {
        self.state().failures.insert(
            endpoint,
            Injection {
                remaining: times,
                status,
                body,
            },
        );
    }

    /// The next `times` calls of `endpoint` wait `delay` before being processed and answered.
    /// A delayed request is processed even if the client gave up meanwhile.
    pub fn delay_next(&self, endpoint: Endpoint, times: usize, delay: Duration) {
        self.state().delays.insert(
            endpoint,
            Delay {
                remaining: times,
                delay,
            },
        );
    }

    /// While on, every Graph call (anything but the dialog) is received and counted and then
    /// never answered: the connection stays open without a response byte.
    pub fn set_graph_silent(&self, on: bool) {
        self.state().graph_silent = on;
    }

    /// Requests received for `endpoint`, failed and injected ones included.
    pub fn calls(&self, endpoint: Endpoint) -> usize {
        self.state().counts.get(&endpoint).copied().unwrap_or(0)
    }

    /// Every request received, in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.state().requests.clone()
    }

    /// A valid `SIG.PAYLOAD` signed with `APP_SECRET` (base64url, no padding).
    pub fn signed_request(payload: &Value) -> String {
        let encoded = URL_SAFE_NO_PAD.encode(payload.to_string());
        let sig = hmac_sha256(APP_SECRET.as_bytes(), encoded.as_bytes());
        format!("{}.{}", URL_SAFE_NO_PAD.encode(sig), encoded)
    }

    /// A `signed_request` whose payload was changed after signing (another `user_id`, or an
    /// extra field), so its signature no longer matches.
    pub fn tampered_signed_request(payload: &Value) -> String {
        let signed = Self::signed_request(payload);
        let sig = signed.split('.').next().unwrap_or_default().to_string();
        let mut altered = payload.clone();
        match altered.as_object_mut() {
            Some(obj) => {
                let changed = match obj.get("user_id").and_then(Value::as_str) {
                    Some(id) => format!("{id}9"),
                    None => "10220000000666".to_string(),
                };
                obj.insert("user_id".into(), Value::String(changed));
            }
            None => altered = json!({ "tampered": altered }),
        }
        format!("{}.{}", sig, URL_SAFE_NO_PAD.encode(altered.to_string()))
    }
}

impl Drop for FakeFacebook {
    fn drop(&mut self) {
        if let Some(t) = self.task.lock().unwrap().take() {
            t.abort();
        }
    }
}

/// HMAC-SHA256 (RFC 2104) built on `sha2`.
pub fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut k = [0u8; BLOCK];
    if key.len() > BLOCK {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let ipad: Vec<u8> = k.iter().map(|b| b ^ 0x36).collect();
    let opad: Vec<u8> = k.iter().map(|b| b ^ 0x5c).collect();
    let inner = Sha256::new()
        .chain_update(&ipad)
        .chain_update(data)
        .finalize();
    let outer = Sha256::new()
        .chain_update(&opad)
        .chain_update(inner)
        .finalize();
    outer.into()
}

/// Lowercase hex HMAC-SHA256(APP_SECRET, access_token): the expected `appsecret_proof`.
pub fn appsecret_proof(access_token: &str) -> String {
    hex::encode(hmac_sha256(APP_SECRET.as_bytes(), access_token.as_bytes()))
}

// ---------------------------------------------------------------------------------------------
// Server side.

type Resp = Response<Full<Bytes>>;

struct Params(Vec<(String, String)>);

impl Params {
    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn random_hex() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

fn fbtrace_id() -> String {
    format!("A{}", &random_hex()[..10])
}

fn json_response(status: u16, body: &Value) -> Resp {
    Response::builder()
        .status(status)
        .header("content-type", "application/json; charset=UTF-8")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap()
}

/// The FACEBOOK.md §10 error shape.
fn error(status: u16, code: u64, subcode: Option<u64>, kind: &str, message: &str) -> Resp {
    let mut err = json!({
        "message": message,
        "type": kind,
        "code": code,
        "fbtrace_id": fbtrace_id(),
    });
    if let Some(sub) = subcode {
        err["error_subcode"] = json!(sub);
    }
    json_response(status, &json!({ "error": err }))
}

fn oauth_error(code: u64, subcode: Option<u64>, message: &str) -> Resp {
    error(400, code, subcode, "OAuthException", message)
}

fn injected(status: u16, body: &Value) -> Resp {
    match body {
        Value::String(text) => Response::builder()
            .status(status)
            .header("content-type", "text/html; charset=utf-8")
            .body(Full::new(Bytes::from(text.clone())))
            .unwrap(),
        other => json_response(status, other),
    }
}

/// Splits off an optional `/vNN.N` prefix; returns the remaining segments.
fn route_segments(path: &str) -> Vec<String> {
    let mut segs: Vec<String> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    if let Some(first) = segs.first() {
        let is_version = first.len() > 1
            && first.starts_with('v')
            && first[1..].split('.').count() <= 2
            && first[1..]
                .split('.')
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
        if is_version {
            segs.remove(0);
        }
    }
    segs
}

/// The node a Graph path addresses: `me` or a numeric user id.
fn is_user_node(seg: &str) -> bool {
    seg == "me" || (!seg.is_empty() && seg.bytes().all(|b| b.is_ascii_digit()))
}

fn classify(method: &Method, segs: &[&str], params: &Params) -> Option<Endpoint> {
    let get_or_post = method == Method::GET || method == Method::POST;
    match segs {
        ["dialog", "oauth"] if method == Method::GET => Some(Endpoint::Dialog),
        ["oauth", "access_token"] if get_or_post => {
            if params.get("grant_type") == Some("fb_exchange_token") {
                Some(Endpoint::LongLivedExchange)
            } else {
                Some(Endpoint::CodeExchange)
            }
        }
        ["debug_token"] if get_or_post => Some(Endpoint::DebugToken),
        [node] if get_or_post && is_user_node(node) => Some(Endpoint::Me),
        [node, "permissions"]
            if (get_or_post || method == Method::DELETE) && is_user_node(node) =>
        {
            Some(Endpoint::Permissions)
        }
        [node, "accounts"] if get_or_post && is_user_node(node) => Some(Endpoint::Accounts),
        [node, "adaccounts"] if get_or_post && is_user_node(node) => Some(Endpoint::AdAccounts),
        _ => None,
    }
}

async fn handle(inner: Arc<Inner>, req: Request<Incoming>) -> Resp {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let path_and_query = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| path.clone());
    let is_form = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.to_ascii_lowercase().contains("x-www-form-urlencoded"))
        .unwrap_or(true);
    let auth_header = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.split_once(' ')?;
            (scheme.eq_ignore_ascii_case("oauth") || scheme.eq_ignore_ascii_case("bearer"))
                .then(|| token.trim().to_string())
        });
    let query = req.uri().query().unwrap_or("").to_string();
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes().to_vec())
        .unwrap_or_default();

    let query_params: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    let mut all = query_params.clone();
    if method != Method::GET && is_form && !body.is_empty() {
        all.extend(url::form_urlencoded::parse(&body).into_owned());
    }
    if let Some(token) = auth_header {
        if !all.iter().any(|(k, _)| k == "access_token") {
            all.push(("access_token".into(), token));
        }
    }
    let params = Params(all);

    let segs = route_segments(&path);
    let endpoint = classify(
        &method,
        &segs.iter().map(String::as_str).collect::<Vec<_>>(),
        &params,
    );
    let had_valid_proof = match (params.get("access_token"), params.get("appsecret_proof")) {
        (Some(token), Some(proof)) => proof == appsecret_proof(token),
        _ => false,
    };

    let (failure, delay, silent) = {
        let mut st = inner.state.lock().unwrap();
        st.requests.push(RecordedRequest {
            endpoint,
            method: method.to_string(),
            path_and_query,
            body: String::from_utf8_lossy(&body).into_owned(),
            had_valid_proof,
        });
        let Some(ep) = endpoint else {
            drop(st);
            return error(
                404,
                803,
                None,
                "OAuthException",
                &format!("Unknown path components: {path}"),
            );
        };
        *st.counts.entry(ep).or_insert(0) += 1;
        let failure = match st.failures.get_mut(&ep) {
            Some(inj) if inj.remaining > 0 => {
                inj.remaining -= 1;
                Some((inj.status, inj.body.clone()))
            }
            _ => None,
        };
        let delay = match st.delays.get_mut(&ep) {
            Some(d) if d.remaining > 0 => {
                d.remaining -= 1;
                Some(d.delay)
            }
            _ => None,
        };
        (failure, delay, st.graph_silent && ep != Endpoint::Dialog)
    };
    if silent {
        std::future::pending::<()>().await;
    }
    let endpoint = endpoint.expect("checked above");

    // Processed in a task of its own, so a delayed request completes even when the client
    // hangs up before the answer.
    let work = tokio::spawn(async move {
        if let Some(d) = delay {
            tokio::time::sleep(d).await;
        }
        if let Some((status, body)) = failure {
            return injected(status, &body);
        }
        let ctx = Ctx {
            inner: &inner,
            method: &method,
            path: &path,
            segs: &segs,
            query: &query_params,
            params: &params,
        };
        match endpoint {
            Endpoint::Dialog => dialog(&ctx),
            Endpoint::CodeExchange => code_exchange(&ctx),
            Endpoint::LongLivedExchange => long_lived_exchange(&ctx),
            Endpoint::DebugToken => debug_token(&ctx),
            Endpoint::Me | Endpoint::Permissions | Endpoint::Accounts | Endpoint::AdAccounts => {
                user_graph(&ctx, endpoint)
            }
        }
    });
    work.await.unwrap_or_else(|e| {
        error(
            500,
            2,
            None,
            "OAuthException",
            &format!("fake facebook panicked: {e}"),
        )
    })
}

struct Ctx<'a> {
    inner: &'a Inner,
    method: &'a Method,
    /// Path as received, version prefix included.
    path: &'a str,
    segs: &'a [String],
    /// Query parameters only (used to build `paging.next`).
    query: &'a [(String, String)],
    /// Query, form body and Authorization-header token merged.
    params: &'a Params,
}

impl Ctx<'_> {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.inner.state.lock().unwrap()
    }
}

fn dialog(ctx: &Ctx) -> Resp {
    let p = ctx.params;
    if p.get("client_id") != Some(APP_ID) {
        return oauth_error(
            101,
            None,
            "Error validating application. Invalid application ID.",
        );
    }
    let Some(redirect_uri) = p.get("redirect_uri") else {
        return oauth_error(100, None, "The parameter redirect_uri is required");
    };
    if url::Url::parse(redirect_uri).is_err() {
        return oauth_error(
            191,
            None,
            "Can't load URL: The domain of this URL isn't included in the app's domains.",
        );
    }
    let state_param = p.get("state");

    let mut st = ctx.state();
    let outcome = st
        .next_outcome
        .take()
        .unwrap_or_else(|| Outcome::Approve(FakeFacebook::default_user()));
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    match outcome {
        Outcome::Approve(user) => {
            let code = format!("AQD{}{}", random_hex(), random_hex());
            let expires_at = Instant::now() + st.code_ttl;
            st.codes.insert(
                code.clone(),
                CodeEntry {
                    redirect_uri: redirect_uri.to_string(),
                    user,
                    expires_at,
                    used: false,
                },
            );
            query.append_pair("code", &code);
        }
        Outcome::Deny => {
            query
                .append_pair("error", "access_denied")
                .append_pair("error_code", "200")
                .append_pair("error_description", "Permissions error")
                .append_pair("error_reason", "user_denied");
        }
    }
    drop(st);
    if let Some(s) = state_param {
        query.append_pair("state", s);
    }
    let sep = if redirect_uri.ends_with('?') || redirect_uri.ends_with('&') {
        ""
    } else if redirect_uri.contains('?') {
        "&"
    } else {
        "?"
    };
    let location = format!("{redirect_uri}{sep}{}#_=_", query.finish());
    Response::builder()
        .status(302)
        .header("location", location)
        .header("content-type", "text/html; charset=utf-8")
        .body(Full::new(Bytes::new()))
        .unwrap()
}

/// Checks `client_id` and `client_secret` of the exchanges; `Some` is the error answer.
fn bad_app_credentials(p: &Params) -> Option<Resp> {
    if p.get("client_id") != Some(APP_ID) {
        return Some(oauth_error(
            101,
            None,
            "Error validating application. Invalid application ID.",
        ));
    }
    if p.get("client_secret") != Some(APP_SECRET) {
        return Some(oauth_error(1, None, "Error validating client secret."));
    }
    None
}

fn code_exchange(ctx: &Ctx) -> Resp {
    let p = ctx.params;
    if let Some(resp) = bad_app_credentials(p) {
        return resp;
    }
    let Some(code) = p.get("code") else {
        return oauth_error(100, None, "Missing code parameter.");
    };
    let mut st = ctx.state();
    let Some(entry) = st.codes.get_mut(code) else {
        return oauth_error(100, None, "Invalid verification code format.");
    };
    if entry.used {
        return oauth_error(100, Some(36009), "This authorization code has been used.");
    }
    if Instant::now() >= entry.expires_at {
        return oauth_error(100, Some(36007), "This authorization code has expired.");
    }
    if p.get("redirect_uri") != Some(entry.redirect_uri.as_str()) {
        return oauth_error(
            100,
            None,
            "Error validating verification code. Please make sure your redirect_uri is \
             identical to the one you used in the OAuth dialog request",
        );
    }
    entry.used = true;
    let user = entry.user.clone();
    let token = format!("EAAshort-{}", random_hex());
    st.tokens.insert(
        token.clone(),
        TokenEntry {
            user,
            revoked: false,
        },
    );
    json_response(
        200,
        &json!({"access_token": token, "token_type": "bearer", "expires_in": SHORT_EXPIRES_IN}),
    )
}

fn long_lived_exchange(ctx: &Ctx) -> Resp {
    let p = ctx.params;
    if let Some(resp) = bad_app_credentials(p) {
        return resp;
    }
    let Some(short) = p.get("fb_exchange_token") else {
        return oauth_error(100, None, "Missing fb_exchange_token parameter.");
    };
    let mut st = ctx.state();
    let user = match st.tokens.get(short) {
        Some(t) if !t.revoked => t.user.clone(),
        Some(t) => return revoked_error(&t.user),
        None => {
            return oauth_error(
                190,
                None,
                "Invalid OAuth access token - Cannot parse access token",
            )
        }
    };
    let token = format!("EAAlong-{}", random_hex());
    st.tokens.insert(
        token.clone(),
        TokenEntry {
            user,
            revoked: false,
        },
    );
    json_response(
        200,
        &json!({"access_token": token, "token_type": "bearer", "expires_in": LONG_EXPIRES_IN}),
    )
}

fn revoked_error(user: &FakeUser) -> Resp {
    oauth_error(
        190,
        Some(458),
        &format!(
            "Error validating access token: The user {} has not authorized application {APP_ID}.",
            user.id
        ),
    )
}

fn debug_token(ctx: &Ctx) -> Resp {
    let p = ctx.params;
    let app_token = format!("{APP_ID}|{APP_SECRET}");
    if p.get("access_token") != Some(app_token.as_str()) {
        return oauth_error(
            190,
            None,
            "Invalid OAuth access token - Cannot parse access token",
        );
    }
    let Some(input) = p.get("input_token") else {
        return oauth_error(100, None, "The parameter input_token is required");
    };
    let st = ctx.state();
    let now = now_secs();
    let app_id = st
        .debug_app_id
        .clone()
        .unwrap_or_else(|| APP_ID.to_string());
    let data = match st.tokens.get(input) {
        Some(t) if !t.revoked => {
            let granular: Vec<Value> = t
                .user
                .granted
                .iter()
                .map(|s| {
                    if s.starts_with("pages_") {
                        let ids: Vec<&str> = t.user.pages.iter().map(|pg| pg.id.as_str()).collect();
                        json!({"scope": s, "target_ids": ids})
                    } else {
                        json!({ "scope": s })
                    }
                })
                .collect();
            json!({
                "app_id": app_id,
                "type": "USER",
                "application": "Gatehouse Test",
                "data_access_expires_at": now + 90 * 86_400,
                "expires_at": now + LONG_EXPIRES_IN,
                "is_valid": true,
                "issued_at": now,
                "scopes": t.user.granted,
                "granular_scopes": granular,
                "user_id": t.user.id,
            })
        }
        Some(t) => json!({
            "app_id": app_id,
            "type": "USER",
            "application": "Gatehouse Test",
            "expires_at": 0,
            "is_valid": false,
            "scopes": [],
            "user_id": t.user.id,
            "error": {
                "code": 190,
                "subcode": 458,
                "message": format!(
                    "Error validating access token: The user {} has not authorized application {APP_ID}.",
                    t.user.id
                ),
            },
        }),
        None => json!({
            "is_valid": false,
            "scopes": [],
            "error": {"code": 190, "message": "Invalid OAuth access token."},
        }),
    };
    json_response(200, &json!({ "data": data }))
}

/// Me, Permissions, Accounts, AdAccounts: token, then `appsecret_proof`, then the answer.
fn user_graph(ctx: &Ctx, endpoint: Endpoint) -> Resp {
    let p = ctx.params;
    let Some(token) = p.get("access_token") else {
        return oauth_error(
            2500,
            None,
            "An active access token must be used to query information about the current user.",
        );
    };
    let mut st = ctx.state();
    let user = match st.tokens.get(token) {
        Some(t) if !t.revoked => t.user.clone(),
        Some(t) => return revoked_error(&t.user),
        None => {
            return oauth_error(
                190,
                Some(463),
                "Error validating access token: Session has expired or the token is invalid.",
            )
        }
    };
    if st.require_proof && p.get("appsecret_proof") != Some(appsecret_proof(token).as_str()) {
        return error(
            400,
            100,
            None,
            "GraphMethodException",
            "Invalid appsecret_proof provided in the API argument",
        );
    }
    let node = ctx.segs.first().map(String::as_str).unwrap_or("me");
    if node != "me" && node != user.id {
        return error(
            400,
            100,
            Some(33),
            "GraphMethodException",
            &format!(
                "Unsupported get request. Object with ID '{node}' does not exist, cannot be \
                 loaded due to missing permissions, or does not support this operation."
            ),
        );
    }
    let page_size = st.page_size;
    match endpoint {
        Endpoint::Me => {
            drop(st);
            let fields = p.get("fields").unwrap_or("id,name");
            let mut out = serde_json::Map::new();
            for field in fields.split(',').map(str::trim) {
                match field {
                    "id" => {
                        out.insert("id".into(), json!(user.id));
                    }
                    "name" => {
                        out.insert("name".into(), json!(user.name));
                    }
                    "email" => {
                        if let Some(email) = &user.email {
                            out.insert("email".into(), json!(email));
                        }
                    }
                    _ => {}
                }
            }
            json_response(200, &Value::Object(out))
        }
        Endpoint::Permissions if ctx.method == Method::DELETE => {
            for t in st.tokens.values_mut() {
                if t.user.id == user.id {
                    t.revoked = true;
                }
            }
            json_response(200, &json!({"success": true}))
        }
        Endpoint::Permissions => {
            drop(st);
            let data: Vec<Value> = user
                .granted
                .iter()
                .map(|s| json!({"permission": s, "status": "granted"}))
                .chain(
                    user.declined
                        .iter()
                        .map(|s| json!({"permission": s, "status": "declined"})),
                )
                .collect();
            json_response(200, &json!({ "data": data }))
        }
        Endpoint::Accounts => {
            drop(st);
            let items: Vec<Value> = user
                .pages
                .iter()
                .map(|pg| {
                    json!({
                        "access_token": format!("EAApage-{}", pg.id),
                        "category": "Software",
                        "category_list": [{"id": "2211", "name": "Software"}],
                        "name": pg.name,
                        "id": pg.id,
                        "tasks": ["ADVERTISE", "ANALYZE", "CREATE_CONTENT", "MESSAGING", "MODERATE", "MANAGE"],
                        "picture": {"data": {"url": pg.picture}},
                    })
                })
                .collect();
            paged(ctx, items, page_size)
        }
        Endpoint::AdAccounts => {
            drop(st);
            let items: Vec<Value> = user
                .ad_accounts
                .iter()
                .map(
                    |(id, name)| json!({"id": format!("act_{id}"), "account_id": id, "name": name}),
                )
                .collect();
            paged(ctx, items, page_size)
        }
        _ => unreachable!("user_graph endpoint"),
    }
}

fn cursor(index: usize) -> String {
    URL_SAFE_NO_PAD.encode(index.to_string())
}

fn decode_cursor(c: &str) -> Option<usize> {
    let bytes = URL_SAFE_NO_PAD.decode(c.trim_end_matches('=')).ok()?;
    String::from_utf8(bytes).ok()?.parse().ok()
}

/// Cursor paging: `limit` (capped by the fake's page size), `after` cursors, and a
/// `paging.next` URL on the fake (same path and query, new `after`) while more remain.
fn paged(ctx: &Ctx, items: Vec<Value>, page_size: usize) -> Resp {
    let p = ctx.params;
    let start = match p.get("after") {
        Some(c) => match decode_cursor(c) {
            Some(i) => i + 1,
            None => return error(400, 100, None, "OAuthException", "Invalid after cursor"),
        },
        None => 0,
    };
    let limit = p
        .get("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .filter(|&l| l > 0)
        .map_or(page_size, |l| l.min(page_size))
        .max(1);
    let start = start.min(items.len());
    let end = (start + limit).min(items.len());
    let data = items[start..end].to_vec();
    if data.is_empty() {
        return json_response(200, &json!({ "data": [] }));
    }
    let mut paging = json!({"cursors": {"before": cursor(start), "after": cursor(end - 1)}});
    if end < items.len() {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in ctx.query {
            if k != "after" && k != "before" {
                q.append_pair(k, v);
            }
        }
        q.append_pair("after", &cursor(end - 1));
        paging["next"] = json!(format!("{}{}?{}", ctx.inner.base_url, ctx.path, q.finish()));
    }
    json_response(200, &json!({ "data": data, "paging": paging }))
}
