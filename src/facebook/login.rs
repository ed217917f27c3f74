//! The start of the login flows: the dialog redirect of seed 000, and the popup start of
//! seed 003 (with a short-lived start token for `window.open`, which cannot send headers).
//! Gatehouse's own token never reaches Facebook: a one-time `state` stands in for it, and a
//! cookie binds the flow to the browser that started it. `callback` handles the way back.

use super::{integrator, pages, FacebookService};
use crate::auth::{generate_token, hash_token, Identity, IdentityParts};
use crate::http::{cookies, ApiError, OwnResponse, Request};
use crate::store::{now_unix, FbState};
use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;

const START_TOKEN_TTL: i64 = 120;

pub(super) fn html(
    status: u16,
    body: String,
    extra: Vec<(HeaderName, HeaderValue)>,
) -> OwnResponse {
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

/// A 302 with the Rails body of seed 000.
pub(super) fn redirect(location: &str) -> Result<OwnResponse, ApiError> {
    let value = HeaderValue::from_str(location)
        .map_err(|_| ApiError::Internal("cannot build the redirect".into()))?;
    Ok(html(
        302,
        pages::redirect_body(location),
        vec![
            (http::header::LOCATION, value),
            (
                http::header::CACHE_CONTROL,
                HeaderValue::from_static("no-cache"),
            ),
        ],
    ))
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
    ) -> Result<OwnResponse, ApiError> {
        let state = generate_token();
        let browser = generate_token();
        details["browser"] = json!(hex::encode(hash_token(&browser)));
        let now = now_unix();
        let ttl = self.config.state_ttl.as_secs() as i64;
        let record = FbState {
            purpose: purpose.into(),
            user_id: user.user_id().unwrap_or_default().to_string(),
            integrator_uri: integrator.into(),
            details: details.to_string(),
            created_at: now,
            expires_at: now + ttl,
        };
        let hash = hash_token(&state);
        self.store
            .run(move |s| async move { s.insert_fb_state(&hash, &record).await })
            .await?;
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
        let cookie = cookies::set(
            &browser_cookie_name(&state),
            &browser,
            "/facebook",
            ttl.max(0) as u64,
            self.public_url.starts_with("https://"),
        )?;
        Ok(redirect(url.as_str())?.with_header(http::header::SET_COOKIE, cookie))
    }
}

/// True when the request carries the cookie set when `state` was issued.
pub(super) fn same_browser(req: &Request, state_param: &str, stored: &FbState) -> bool {
    let details: Value = serde_json::from_str(&stored.details).unwrap_or_default();
    let Some(expected) = details["browser"].as_str() else {
        return false;
    };
    let name = browser_cookie_name(state_param);
    cookies::read(&req.headers, &name).iter().any(|v| {
        let got = hex::encode(hash_token(v));
        bool::from(subtle::ConstantTimeEq::ct_eq(
            got.as_bytes(),
            expected.as_bytes(),
        ))
    })
}

#[derive(Debug, Deserialize)]
struct DialogQuery {
    redirect_uri: Option<String>,
}

/// Seed 003's popup start: the caller's context is echoed back to the integrator.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StartQuery {
    #[serde(rename = "start_token")]
    start_token: Option<String>,
    origin: Option<String>,
    location_id: Option<String>,
    user_id: Option<String>,
    page: Option<String>,
    reconnect: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct StartTokenRequest {
    origin: Option<String>,
}

/// `GET /facebook/oauth_dialog?redirect_uri=…&oauth_token=…` (seed 000).
pub async fn dialog(fb: &FacebookService, req: &Request) -> Result<OwnResponse, ApiError> {
    let user = req.identity()?;
    let params: DialogQuery = req
        .query_params()
        .and_then(|p| p.parse())
        .map_err(|_| ApiError::InvalidRequest("the query string is malformed".into()))?;
    let Some(target) = params
        .redirect_uri
        .as_deref()
        .and_then(|u| integrator::check(u, &fb.config.integrator_origins))
    else {
        return Err(ApiError::InvalidRequest(
            "redirect_uri is missing or not an allowed integrator URL".into(),
        ));
    };
    fb.dialog_redirect("redirect", user, target.as_str(), json!({}), false)
        .await
}

/// `POST /facebook/start-token` (Bearer): a one-time token a page can put in the popup's URL.
pub async fn start_token(fb: &FacebookService, req: &Request) -> Result<OwnResponse, ApiError> {
    let user = req.identity()?;
    let body: StartTokenRequest = req
        .body_params()
        .and_then(|p| p.parse())
        .unwrap_or_default();
    let query: StartTokenRequest = req
        .query_params()
        .and_then(|p| p.parse())
        .unwrap_or_default();
    let asked = body.origin.or(query.origin);
    let asked = asked.as_deref();
    let Some(origin) = popup_origin(fb, asked) else {
        return Err(ApiError::InvalidRequest(
            "origin is missing or not an allowed integrator origin".into(),
        ));
    };
    let token = generate_token();
    let now = now_unix();
    let record = FbState {
        purpose: "start".into(),
        user_id: user.user_id().unwrap_or_default().to_string(),
        integrator_uri: origin,
        details: "{}".into(),
        created_at: now,
        expires_at: now + START_TOKEN_TTL,
    };
    let hash = hash_token(&token);
    fb.store
        .run(move |s| async move { s.insert_fb_state(&hash, &record).await })
        .await?;
    Ok(OwnResponse::json(
        200,
        &json!({ "start_token": token, "expires_in": START_TOKEN_TTL }),
    )
    .no_store())
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
pub async fn start_popup(fb: &FacebookService, req: &Request) -> Result<OwnResponse, ApiError> {
    let params: StartQuery = req
        .query_params()
        .and_then(|p| p.parse())
        .map_err(|_| ApiError::page(400, "Invalid request", "The query string is malformed."))?;
    let (user, origin) = match params.start_token.as_deref() {
        Some(t) => {
            let hash = hash_token(t);
            let now = now_unix();
            match fb.store.run(move |s| async move { s.consume_fb_state(&hash, now).await }).await {
                Ok(Some(state)) if state.purpose == "start" => {
                    let identity = Identity::new(IdentityParts {
                        user_id: Some(&state.user_id),
                        expires_at: now + 60,
                        ..Default::default()
                    });
                    (Arc::new(identity), state.integrator_uri)
                }
                Ok(_) => return Err(ApiError::page(401, "Link expired", "This connection link was already used or has expired. Start again from the application.")),
                Err(e) => return Err(e.into()),
            }
        }
        None => {
            // Without a ticket the proxy required a user token (`Auth::UserOrTicket`).
            let user = req.identity()?.clone();
            let Some(origin) = popup_origin(fb, params.origin.as_deref()) else {
                return Err(ApiError::page(
                    400,
                    "Invalid request",
                    "origin is missing or not an allowed integrator origin.",
                ));
            };
            (user, origin)
        }
    };
    let details = json!({
        "locationId": params.location_id,
        "userId": params.user_id,
        "page": params.page,
        "reconnect": params.reconnect.as_deref() == Some("true"),
    });
    fb.dialog_redirect("popup", &user, &origin, details, true)
        .await
}
