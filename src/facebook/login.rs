//! The login flows: the dialog redirect of seed 000, the popup start of seed 003 (with a
//! short-lived start token for `window.open`, which cannot send headers), and the callback
//! that exchanges the code, checks the token, links the account and reports back.
//! Gatehouse's own token never reaches Facebook: a one-time `state` stands in for it.

use super::graph::GraphError;
use super::{integrator, pages, FacebookService, Unauthenticated};
use crate::auth::{generate_token, hash_token, Identity};
use crate::handlers::HandlerRequest;
use crate::http::OwnResponse;
use crate::oauth::request::Params;
use crate::store::{now_unix, FbAccount, FbAdAccount, FbPage, FbState, StoreError};
use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};
use serde_json::{json, Value};
use std::sync::Arc;
use url::Url;

const START_TOKEN_TTL: i64 = 120;

fn unauthenticated(e: Unauthenticated) -> OwnResponse {
    match e {
        Unauthenticated::StoreDown => OwnResponse::error(
            503,
            "temporarily_unavailable",
            "the token store cannot be reached; retry later",
        ),
        Unauthenticated::Missing => OwnResponse::error(
            401,
            "invalid_request",
            "a Gatehouse access token is required",
        )
        .with_header(
            http::header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"gatehouse\""),
        ),
        Unauthenticated::Invalid => OwnResponse::error(
            401,
            "invalid_token",
            "the access token is invalid or expired",
        )
        .with_header(
            http::header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"gatehouse\", error=\"invalid_token\""),
        ),
    }
}

fn store_error(e: StoreError) -> OwnResponse {
    tracing::warn!(error = %e, "store error in the Facebook flow");
    OwnResponse::error(
        503,
        "temporarily_unavailable",
        "the store cannot be reached; retry later",
    )
}

fn html(status: u16, body: String, extra: Vec<(HeaderName, HeaderValue)>) -> OwnResponse {
    let mut headers = vec![
        (
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        ),
        (
            http::header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ),
    ];
    headers.extend(extra);
    OwnResponse {
        status,
        headers,
        body: Bytes::from(body),
    }
}

fn error_page(status: u16, title: &str, message: &str) -> OwnResponse {
    html(
        status,
        crate::oauth::pages::error(title, message),
        vec![
            (
                http::header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(
                    "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
                ),
            ),
            (
                http::header::CACHE_CONTROL,
                HeaderValue::from_static("no-store"),
            ),
        ],
    )
}

/// A 302 with the Rails body of seed 000.
fn redirect(location: &str) -> OwnResponse {
    let Ok(value) = HeaderValue::from_str(location) else {
        return OwnResponse::error(500, "server_error", "cannot build the redirect");
    };
    html(
        302,
        pages::redirect_body(location),
        vec![
            (http::header::LOCATION, value),
            (
                http::header::CACHE_CONTROL,
                HeaderValue::from_static("no-cache"),
            ),
        ],
    )
}

/// The cookie that ties a login to the browser that started it (login CSRF: without it, a
/// victim's browser could be made to finish a flow an attacker started, linking the victim's
/// Facebook account to the attacker). One cookie per flow, named after the state.
fn browser_cookie_name(state: &str) -> String {
    format!("gatehouse_fb_{}", &hex::encode(hash_token(state))[..16])
}

impl FacebookService {
    /// The dialog URL with a fresh state stored for `user` and `integrator`, plus the cookie
    /// binding the flow to this browser.
    async fn dialog_redirect(
        &self,
        purpose: &str,
        user: &Identity,
        integrator: &str,
        mut details: Value,
        popup: bool,
    ) -> OwnResponse {
        let state = generate_token();
        let browser = generate_token();
        details["browser"] = json!(hex::encode(hash_token(&browser)));
        let now = now_unix();
        let ttl = self.config.state_ttl.as_secs() as i64;
        let record = FbState {
            purpose: purpose.into(),
            user_id: user.user_id.clone().unwrap_or_default(),
            integrator_uri: integrator.into(),
            details: details.to_string(),
            created_at: now,
            expires_at: now + ttl,
        };
        let hash = hash_token(&state);
        if let Err(e) = self
            .store
            .run(move |s| async move { s.insert_fb_state(&hash, &record).await })
            .await
        {
            return store_error(e);
        }
        let mut url = self.config.dialog_url.clone();
        let path = format!(
            "{}/{}/dialog/oauth",
            url.path().trim_end_matches('/'),
            self.config.api_version
        );
        url.set_path(&path);
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("client_id", &self.config.app_id)
                .append_pair("redirect_uri", &self.callback_url)
                .append_pair("state", &state)
                .append_pair("scope", &self.config.scopes.join(","))
                .append_pair("response_type", "code");
            if popup {
                q.append_pair("display", "popup");
            }
        }
        let secure = if self.public_url.starts_with("https://") {
            "; Secure"
        } else {
            ""
        };
        let cookie = format!(
            "{}={browser}; Path=/facebook; HttpOnly; SameSite=Lax; Max-Age={ttl}{secure}",
            browser_cookie_name(&state)
        );
        match HeaderValue::from_str(&cookie) {
            Ok(v) => redirect(url.as_str()).with_header(http::header::SET_COOKIE, v),
            Err(_) => OwnResponse::error(500, "server_error", "cannot build the login cookie"),
        }
    }
}

/// True when the request carries the cookie set when `state` was issued.
fn same_browser(req: &HandlerRequest<'_>, state_param: &str, stored: &FbState) -> bool {
    let details: Value = serde_json::from_str(&stored.details).unwrap_or_default();
    let Some(expected) = details["browser"].as_str() else {
        return false;
    };
    let name = browser_cookie_name(state_param);
    req.headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .filter(|(k, _)| *k == name)
        .any(|(_, v)| {
            let got = hex::encode(hash_token(v));
            bool::from(subtle::ConstantTimeEq::ct_eq(
                got.as_bytes(),
                expected.as_bytes(),
            ))
        })
}

/// `GET /facebook/oauth_dialog?redirect_uri=…&oauth_token=…` (seed 000).
pub async fn dialog(fb: &FacebookService, req: &HandlerRequest<'_>) -> OwnResponse {
    let user = match fb.authenticate(req).await {
        Ok(u) => u,
        Err(e) => return unauthenticated(e),
    };
    let Ok(params) = Params::from_query(req.query) else {
        return OwnResponse::error(400, "invalid_request", "the query string is malformed");
    };
    let Some(target) = params
        .get("redirect_uri")
        .and_then(|u| integrator::check(u, &fb.config.integrator_origins))
    else {
        return OwnResponse::error(
            400,
            "invalid_request",
            "redirect_uri is missing or not an allowed integrator URL",
        );
    };
    fb.dialog_redirect("redirect", &user, target.as_str(), json!({}), false)
        .await
}

/// `POST /facebook/start-token` (Bearer): a one-time token a page can put in the popup's URL.
pub async fn start_token(fb: &FacebookService, req: &HandlerRequest<'_>) -> OwnResponse {
    let user = match fb.authenticate(req).await {
        Ok(u) => u,
        Err(e) => return unauthenticated(e),
    };
    let params = Params::from_body(req.headers, &req.body).unwrap_or_default();
    let Some(origin) = popup_origin(
        fb,
        params.get("origin").or(Params::from_query(req.query)
            .ok()
            .as_ref()
            .and_then(|q| q.get("origin"))),
    ) else {
        return OwnResponse::error(
            400,
            "invalid_request",
            "origin is missing or not an allowed integrator origin",
        );
    };
    let token = generate_token();
    let now = now_unix();
    let record = FbState {
        purpose: "start".into(),
        user_id: user.user_id.clone().unwrap_or_default(),
        integrator_uri: origin,
        details: "{}".into(),
        created_at: now,
        expires_at: now + START_TOKEN_TTL,
    };
    let hash = hash_token(&token);
    if let Err(e) = fb
        .store
        .run(move |s| async move { s.insert_fb_state(&hash, &record).await })
        .await
    {
        return store_error(e);
    }
    OwnResponse::json(
        200,
        &json!({ "start_token": token, "expires_in": START_TOKEN_TTL }),
    )
    .with_header(
        http::header::CACHE_CONTROL,
        HeaderValue::from_static("no-store"),
    )
}

/// The origin the popup will post to: the one asked for if allowed, else the only one configured.
fn popup_origin(fb: &FacebookService, asked: Option<&str>) -> Option<String> {
    match asked {
        Some(o) => fb
            .config
            .integrator_origins
            .iter()
            .find(|a| a.as_str() == o)
            .cloned(),
        None if fb.config.integrator_origins.len() == 1 => {
            fb.config.integrator_origins.first().cloned()
        }
        None => None,
    }
}

/// `GET /facebook/start` and `/social-media-posting/oauth/facebook/start` (seed 003): opens the
/// dialog in popup mode for the caller (Bearer, or a start token from `window.open`).
pub async fn start_popup(fb: &FacebookService, req: &HandlerRequest<'_>) -> OwnResponse {
    let Ok(params) = Params::from_query(req.query) else {
        return error_page(400, "Invalid request", "The query string is malformed.");
    };
    let (user, origin) = match params.get("start_token") {
        Some(t) => {
            let hash = hash_token(t);
            let now = now_unix();
            match fb.store.run(move |s| async move { s.consume_fb_state(&hash, now).await }).await {
                Ok(Some(state)) if state.purpose == "start" => {
                    let identity = Identity {
                        user_id: Some(state.user_id),
                        user_name: None,
                        client_id: None,
                        scopes: vec![],
                        admin: false,
                        expires_at: now + 60,
                        headers: Default::default(),
                    };
                    (Arc::new(identity), state.integrator_uri)
                }
                Ok(_) => return error_page(401, "Link expired", "This connection link was already used or has expired. Start again from the application."),
                Err(e) => return store_error(e),
            }
        }
        None => {
            let user = match fb.authenticate(req).await {
                Ok(u) => u,
                Err(e) => return unauthenticated(e),
            };
            let Some(origin) = popup_origin(fb, params.get("origin")) else {
                return error_page(
                    400,
                    "Invalid request",
                    "origin is missing or not an allowed integrator origin.",
                );
            };
            (user, origin)
        }
    };
    let details = json!({
        "locationId": params.get("locationId"),
        "userId": params.get("userId"),
        "page": params.get("page"),
        "reconnect": params.get("reconnect") == Some("true"),
    });
    fb.dialog_redirect("popup", &user, &origin, details, true)
        .await
}

/// What the callback achieved, to report to the integrator.
enum Outcome {
    Linked {
        account_id: String,
        relinked: bool,
        declined: Vec<String>,
        token: String,
    },
    Failed {
        error: String,
        reason: String,
        description: String,
    },
}

/// `GET /facebook/oauth_code`: Facebook's redirect back.
pub async fn callback(fb: &FacebookService, req: &HandlerRequest<'_>) -> OwnResponse {
    let Ok(params) = Params::from_query(req.query) else {
        return error_page(400, "Invalid request", "The callback is malformed.");
    };
    let Some(state) = params.get("state") else {
        return error_page(
            400,
            "Invalid request",
            "The login state is missing. Start again from the application.",
        );
    };
    let hash = hash_token(state);
    let now = now_unix();
    let consumed = match fb
        .store
        .run(move |s| async move { s.consume_fb_state(&hash, now).await })
        .await
    {
        Ok(c) => c,
        Err(e) => return store_error(e),
    };
    // Unknown, replayed, expired — or a start token presented as a state: nothing to send back to.
    let Some(state) = consumed.filter(|s| s.purpose == "redirect" || s.purpose == "popup") else {
        return error_page(
            400,
            "Login expired",
            "This Facebook login is no longer valid. Start again from the application.",
        );
    };
    if !same_browser(req, params.get("state").unwrap_or_default(), &state) {
        return error_page(
            400,
            "Login refused",
            "This Facebook login was started in another browser. Start again from the application.",
        );
    }
    let outcome = if let Some(error) = params.get("error") {
        Outcome::Failed {
            error: error.to_string(),
            reason: params
                .get("error_reason")
                .unwrap_or("user_denied")
                .to_string(),
            description: params
                .get("error_description")
                .unwrap_or("The user denied the request")
                .to_string(),
        }
    } else if let Some(code) = params.get("code") {
        match link(fb, code, &state).await {
            Ok(o) => o,
            Err((error, description)) => Outcome::Failed {
                error: error.into(),
                reason: "gatehouse".into(),
                description,
            },
        }
    } else {
        Outcome::Failed {
            error: "invalid_request".into(),
            reason: "missing_code".into(),
            description: "Facebook sent neither a code nor an error".into(),
        }
    };
    match state.purpose.as_str() {
        "popup" => popup_page(&state, outcome),
        _ => integrator_redirect(fb, &state.integrator_uri, outcome),
    }
}

fn integrator_redirect(fb: &FacebookService, integrator: &str, outcome: Outcome) -> OwnResponse {
    // Stored at flow start after validation; parse again rather than trust any callback input.
    let Ok(mut url) = Url::parse(integrator) else {
        return error_page(500, "Error", "The stored return address is unusable.");
    };
    {
        let mut q = url.query_pairs_mut();
        match &outcome {
            Outcome::Linked {
                account_id,
                declined,
                token,
                ..
            } => {
                q.append_pair("status", "success")
                    .append_pair("account_id", account_id);
                if !declined.is_empty() {
                    q.append_pair("declined_scopes", &declined.join(","));
                }
                if fb.config.return_token_to_integrator {
                    q.append_pair("access_token", token);
                }
            }
            Outcome::Failed {
                error,
                reason,
                description,
            } => {
                q.append_pair("status", "error")
                    .append_pair("error", error)
                    .append_pair("error_reason", reason)
                    .append_pair("error_description", description);
            }
        }
    }
    redirect(url.as_str())
}

fn popup_page(state: &FbState, outcome: Outcome) -> OwnResponse {
    let details: Value = serde_json::from_str(&state.details).unwrap_or_else(|_| json!({}));
    let mut message = json!({
        "actionType": "close",
        "page": "social_media_posting",
        "platform": "facebook",
        "placement": "placement",
    });
    match outcome {
        Outcome::Linked {
            account_id,
            relinked,
            declined,
            ..
        } => {
            let reconnect = details["reconnect"].as_bool().unwrap_or(false) && relinked;
            message["accountId"] = json!(account_id);
            message["reconnectAccounts"] = if reconnect {
                json!([account_id])
            } else {
                json!([])
            };
            if !declined.is_empty() {
                message["declinedScopes"] = json!(declined);
            }
        }
        Outcome::Failed {
            error,
            reason,
            description,
        } => {
            message["error"] = json!(error);
            message["errorReason"] = json!(reason);
            message["errorDescription"] = json!(description);
            message["reconnectAccounts"] = json!([]);
        }
    }
    let (body, csp) = pages::popup_close(&message, &state.integrator_uri);
    let csp = HeaderValue::from_str(&csp)
        .unwrap_or_else(|_| HeaderValue::from_static("default-src 'none'"));
    html(
        200,
        body,
        vec![
            (http::header::CONTENT_SECURITY_POLICY, csp),
            (
                http::header::CACHE_CONTROL,
                HeaderValue::from_static("no-store"),
            ),
        ],
    )
}

/// Code → long-lived token → checks → profile, permissions, pages, ad accounts → stored link.
async fn link(
    fb: &FacebookService,
    code: &str,
    state: &FbState,
) -> Result<Outcome, (&'static str, String)> {
    let graph = |e: GraphError| {
        let (kind, description) = e.describe();
        (kind, description)
    };
    let short = fb
        .graph
        .exchange_code(code, &fb.callback_url)
        .await
        .map_err(graph)?;
    let long = fb.graph.long_lived(&short.token).await.map_err(graph)?;
    let info = fb.graph.debug_token(&long.token).await.map_err(graph)?;
    let now = now_unix();
    if info.app_id != fb.config.app_id {
        return Err((
            "invalid_token",
            "the Facebook token was issued to another app".into(),
        ));
    }
    if !info.is_valid || (info.expires_at != 0 && info.expires_at <= now) {
        return Err(("invalid_token", "the Facebook token is not valid".into()));
    }
    let me = fb.graph.me(&long.token).await.map_err(graph)?;
    if !info.user_id.is_empty() && info.user_id != me.id {
        return Err((
            "invalid_token",
            "the Facebook token does not belong to this user".into(),
        ));
    }
    let (granted, declined) = fb.graph.permissions(&long.token).await.map_err(graph)?;
    let pages = fb
        .graph
        .paged(
            "accounts",
            &long.token,
            "me/accounts",
            "id,name,picture,tasks",
        )
        .await
        .map_err(graph)?;
    let ads = fb
        .graph
        .paged(
            "adaccounts",
            &long.token,
            "me/adaccounts",
            "id,account_id,name",
        )
        .await
        .map_err(graph)?;
    let sealed = fb.cipher.seal(&long.token, &me.id).ok_or((
        "server_error",
        "could not protect the Facebook token".to_string(),
    ))?;
    let account = FbAccount {
        id: hex::encode(rand::random::<[u8; 12]>()),
        fb_user_id: me.id.clone(),
        user_id: state.user_id.clone(),
        name: me.name,
        email: me.email,
        token_ciphertext: sealed,
        token_expires_at: long.expires_in.map(|s| now + s),
        scopes: granted.join(","),
        declined_scopes: declined.join(","),
        created_at: now,
        updated_at: now,
    };
    let pages: Vec<FbPage> = pages
        .iter()
        .filter_map(|p| {
            Some(FbPage {
                page_id: p["id"].as_str()?.to_string(),
                name: p["name"].as_str().unwrap_or_default().to_string(),
                avatar: p["picture"]["data"]["url"].as_str().map(str::to_string),
                is_owned: p["tasks"]
                    .as_array()
                    .is_none_or(|t| t.iter().any(|x| x == "MANAGE")),
                is_connected: false,
            })
        })
        .collect();
    let ads: Vec<FbAdAccount> = ads
        .iter()
        .filter_map(|a| {
            Some(FbAdAccount {
                ad_account_id: a["account_id"]
                    .as_str()
                    .or_else(|| a["id"].as_str())?
                    .to_string(),
                name: a["name"].as_str().map(str::to_string),
            })
        })
        .collect();
    let new_id = account.id.clone();
    let linked = fb
        .store
        .run(move |s| async move { s.link_fb_account(&account, &pages, &ads).await })
        .await;
    match linked {
        Ok(account_id) => Ok(Outcome::Linked {
            relinked: account_id != new_id,
            account_id,
            declined: declined
                .into_iter()
                .filter(|d| fb.config.scopes.contains(d))
                .collect(),
            token: long.token,
        }),
        Err(StoreError::Conflict) => Err((
            "account_conflict",
            "this Facebook account is already linked to another user".into(),
        )),
        Err(e) => {
            tracing::warn!(error = %e, "could not store the Facebook link");
            Err((
                "temporarily_unavailable",
                "the link could not be saved; retry later".into(),
            ))
        }
    }
}
