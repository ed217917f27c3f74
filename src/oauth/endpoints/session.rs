//! The browser-session side of the sign-in pages. A route with `on_missing = "sign_in"` sends
//! a browser to `GET /oauth/sign-in?rd=…` on its own host; that shows the ordinary sign-in
//! page for a pending request of the internal session client, whose "redirect" is the
//! checked return path. The posted form (`authorize::sign_in`) ends here: a new session
//! cookie (the one the browser came with revoked: rotation on every sign-in), then back to
//! the path. `GET /oauth/logout` revokes the session (and the token families issued in it) and clears the
//! cookie; `logout` adds OpenID Connect's RP-initiated form.

use super::super::grants::password::verify_user;
use super::super::oidc::sid_of_session;
use super::super::return_to::return_path;
use super::super::{pages, OAuthServer};
use super::authorize::SignInForm;
use super::browser::{self, expired_page, forbidden_page};
use super::sso;
use crate::auth::{generate_token, hash_token};
use crate::http::same_origin::{is_cross_site, is_same_origin};
use crate::http::{cookies, page, ApiError, OwnResponse, Request};
use crate::store::{now_unix, AuthorizationRequest, TokenHash};
use http::header::{HOST, SET_COOKIE};
use serde::Deserialize;

/// The `client_id` of pending requests that end in a session rather than a code. Never a
/// configured client's id: those start with a letter or digit.
pub const SESSION_CLIENT: &str = "@session";

/// `rd`: where to go back to, on the host the request came to.
#[derive(Debug, Deserialize)]
struct ReturnTo {
    rd: Option<String>,
}

fn bad_return() -> ApiError {
    ApiError::page(
        400,
        "Invalid return address",
        "The address to return to is not on this site.",
    )
}

/// The host the browser sent the request to, port included: the only origin it may go back to.
pub(super) fn host(req: &Request) -> Result<&str, ApiError> {
    req.headers
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .ok_or_else(|| ApiError::page(400, "Invalid request", "The request names no host."))
}

/// The checked return path of `rd`; `None` when none was given.
fn checked_return(rd: Option<&str>, host: &str) -> Result<Option<String>, ApiError> {
    rd.map(|rd| return_path(rd, host).ok_or_else(bad_return))
        .transpose()
}

/// `GET /oauth/sign-in?rd=…`: the sign-in page, for a session on this host.
pub async fn start(server: &OAuthServer, req: &Request) -> Result<OwnResponse, ApiError> {
    let query: ReturnTo = req
        .query_params()
        .and_then(|p| p.parse())
        .map_err(|_| bad_return())?;
    let host = host(req)?;
    let path = checked_return(query.rd.as_deref(), host)?.unwrap_or_else(|| "/".into());
    let id = generate_token();
    let csrf = generate_token();
    let now = now_unix();
    let ttl = server.config.sign_in_ttl.as_secs();
    let pending = AuthorizationRequest {
        csrf_token: csrf.clone(),
        client_id: SESSION_CLIENT.to_string(),
        redirect_uri: path,
        scopes: String::new(),
        state: None,
        code_challenge: None,
        code_challenge_method: None,
        user_id: None,
        user_name: None,
        created_at: now,
        expires_at: now + ttl as i64,
        nonce: None,
        prompt: None,
        auth_time: None,
        sid: None,
    };
    let id_hash = hash_token(&id);
    server
        .store
        .run(move |s| async move { s.insert_authorization_request(&id_hash, &pending).await })
        .await?;
    let html = pages::sign_in(&pages::SignInPage {
        client_name: host,
        action: "/oauth/sign-in",
        csrf_token: &csrf,
        username: "",
        error: None,
    });
    Ok(page::response(200, html, None)
        .with_header(SET_COOKIE, browser::set_cookie(server, &id, ttl)?))
}

/// The sign-in form of a session request was posted (CSRF token already checked).
pub(super) async fn signed_in(
    server: &OAuthServer,
    req: &Request,
    id_hash: TokenHash,
    pending: AuthorizationRequest,
    form: SignInForm,
) -> Result<OwnResponse, ApiError> {
    let username = form.username.as_deref().unwrap_or("");
    let password = form.password.as_deref().unwrap_or("");
    let user = match verify_user(server, username, password, req.client_ip).await {
        Ok(u) => u,
        Err(e @ (ApiError::InvalidGrant(_) | ApiError::LockedOut { .. })) => {
            let html = pages::sign_in(&pages::SignInPage {
                client_name: host(req)?,
                action: "/oauth/sign-in",
                csrf_token: &pending.csrf_token,
                username,
                error: Some("The username or password is incorrect."),
            });
            let resp = page::response(200, html, None);
            return Ok(match e {
                ApiError::LockedOut { retry_after } => resp.retry_after(retry_after),
                _ => resp,
            });
        }
        Err(other) => return Err(other),
    };
    // Once: a double submit finds the request gone.
    let taken = server
        .store
        .run(move |s| async move { s.take_authorization_request(&id_hash).await })
        .await?;
    if !taken {
        return Err(expired_page());
    }
    let config = server.sessions.config();
    let old = cookies::read(&req.headers, &config.cookie_name);
    let token = server
        .sessions
        .create(&user, old.first().map(String::as_str))
        .await?;
    let cookie = cookies::set(
        &config.cookie_name,
        &token,
        "/",
        config.ttl.as_secs(),
        config.secure,
    )?;
    Ok(OwnResponse::browser_redirect(303, &pending.redirect_uri)?
        .with_header(SET_COOKIE, cookie)
        .with_header(SET_COOKIE, browser::set_cookie(server, "", 0)?))
}

/// `GET /oauth/logout[?rd=…]`. A sign-out another site started (`Sec-Fetch-Site`) only asks
/// for confirmation: a link elsewhere must not be able to end the user's session.
pub async fn logout(server: &OAuthServer, req: &Request) -> Result<OwnResponse, ApiError> {
    let query: ReturnTo = req
        .query_params()
        .and_then(|p| p.parse())
        .map_err(|_| bad_return())?;
    let host = host(req)?;
    let rd = checked_return(query.rd.as_deref(), host)?;
    if is_cross_site(&req.headers) {
        let html = pages::sign_out(&pages::SignOutPage {
            host,
            rd: rd.as_deref().unwrap_or(""),
            done: false,
        });
        return Ok(page::response(200, html, None));
    }
    end_session(server, req, host, rd).await
}

/// `POST /oauth/logout` (the confirmation's form): from a page of this origin only.
pub async fn logout_confirmed(
    server: &OAuthServer,
    req: &Request,
) -> Result<OwnResponse, ApiError> {
    let host = host(req)?;
    if !is_same_origin(&req.headers, host, server.sessions.config().secure) {
        return Err(forbidden_page());
    }
    let form: ReturnTo = super::body_params(req).map_err(|_| bad_return())?;
    let rd = checked_return(form.rd.as_deref(), host)?;
    end_session(server, req, host, rd).await
}

/// Revokes every session cookie the browser sent, clears it, and goes back to `rd` or says so.
pub(super) async fn end_session(
    server: &OAuthServer,
    req: &Request,
    host: &str,
    rd: Option<String>,
) -> Result<OwnResponse, ApiError> {
    let clear = end_sign_ins(server, req).await?;
    let resp = match rd {
        Some(path) => OwnResponse::browser_redirect(303, &path)?,
        None => page::response(
            200,
            pages::sign_out(&pages::SignOutPage {
                host,
                rd: "",
                done: true,
            }),
            None,
        ),
    };
    Ok(resp.with_header(SET_COOKIE, clear))
}

/// Revokes every session the browser sent and the token families issued in them; returns
/// the cookie that clears the session cookie.
pub(super) async fn end_sign_ins(
    server: &OAuthServer,
    req: &Request,
) -> Result<http::HeaderValue, ApiError> {
    let config = server.sessions.config();
    for token in cookies::read(&req.headers, &config.cookie_name) {
        server.sessions.revoke(&token).await?;
        sso::revoke_sign_in(server, sid_of_session(&hash_token(&token))).await?;
    }
    cookies::set(&config.cookie_name, "", "/", 0, config.secure)
}
