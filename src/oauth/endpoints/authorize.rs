//! The authorization code flow's browser side (RFC 6749 §4.1, RFC 7636, RFC 9207):
//! `GET /oauth/authorize` checks the client and redirect URI (an error page, never a redirect,
//! when either is wrong), stores the pending request and shows the sign-in page; the sign-in
//! and consent forms post back with a CSRF token bound to the request's cookie; approval
//! redirects with `code`, `state` and `iss`, denial with `error=access_denied`. OpenID
//! Connect adds `nonce`, `prompt` and `max_age`: a live sign-in session (`sso`) answers in
//! place of the sign-in form unless `prompt=login` or `max_age` asks for a fresh one, and
//! `prompt=none` fails with `login_required` or `consent_required` rather than show a page.

use super::super::clients::{Client, RedirectRefusal};
use super::super::grants::password::{requested_scopes, verify_user};
use super::super::oidc::prompt::Prompt;
use super::super::oidc::{self, MAX_NONCE_LEN};
use super::super::{pages, pkce, OAuthServer};
use super::browser::{
    cookie_name, csrf_matches, error_page, error_redirect, expired_page, forbidden_page,
    raw_query_value, set_cookie,
};
use super::code::issue_code;
use super::sso;
use crate::auth::{generate_token, hash_token};
use crate::config::GrantType;
use crate::http::ApiError;
use crate::http::Request;
use crate::http::{cookies, page, OwnResponse};
use crate::metrics::AuthDecision;
use crate::store::{now_unix, AuthorizationRequest, TokenHash};
use serde::de::DeserializeOwned;
use serde::Deserialize;

const MAX_STATE_LEN: usize = 2048;

/// `GET /oauth/authorize`. `state` is not here: it goes back byte for byte, so it is read raw.
#[derive(Debug, Deserialize)]
struct AuthorizeQuery {
    client_id: Option<String>,
    redirect_uri: Option<String>,
    response_type: Option<String>,
    scope: Option<String>,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
    nonce: Option<String>,
    prompt: Option<String>,
    max_age: Option<String>,
}

/// A form posted back to a pending request, bound to it by its CSRF token.
trait PendingForm: DeserializeOwned {
    fn csrf_token(&self) -> Option<&str>;
}

#[derive(Debug, Deserialize)]
pub(super) struct SignInForm {
    csrf_token: Option<String>,
    pub(super) username: Option<String>,
    pub(super) password: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ConsentForm {
    csrf_token: Option<String>,
    decision: Option<String>,
}

impl PendingForm for SignInForm {
    fn csrf_token(&self) -> Option<&str> {
        self.csrf_token.as_deref()
    }
}

impl PendingForm for ConsentForm {
    fn csrf_token(&self) -> Option<&str> {
        self.csrf_token.as_deref()
    }
}

pub async fn start(server: &OAuthServer, req: &Request) -> Result<OwnResponse, ApiError> {
    let params = match req.query_params().and_then(|p| p.parse::<AuthorizeQuery>()) {
        Ok(p) => p,
        Err(_) => {
            return Err(error_page(
                400,
                "Invalid request",
                "The authorization request is malformed.",
            ))
        }
    };
    // Until client and redirect_uri are known good, nothing may redirect (RFC 6749 §4.1.2.1).
    let Some(client) = params
        .client_id
        .as_deref()
        .and_then(|id| server.clients.get(id))
    else {
        return Err(error_page(
            400,
            "Unknown application",
            "The application asking for access is not registered.",
        ));
    };
    let redirect_uri = match client.redirect_uri_for(params.redirect_uri.as_deref()) {
        Ok(uri) => uri.to_string(),
        Err(RedirectRefusal::NotRegistered) => {
            return Err(error_page(
                400,
                "Invalid redirect address",
                "The redirect address does not match the application's registration.",
            ))
        }
        Err(RedirectRefusal::Missing) => {
            return Err(error_page(
                400,
                "Invalid request",
                "redirect_uri is required.",
            ))
        }
    };
    let state = raw_query_value(req.query(), "state").filter(|s| !s.is_empty());
    let fail = |error: &str, description: &str| {
        error_redirect(server, 302, &redirect_uri, state, error, description)
    };

    if state.is_some_and(|s| s.len() > MAX_STATE_LEN) {
        return fail("invalid_request", "state is too long");
    }
    if params.response_type.as_deref() != Some("code") {
        return fail(
            "unsupported_response_type",
            "only response_type=code is supported",
        );
    }
    if !client.allows(GrantType::AuthorizationCode) {
        return fail(
            "unauthorized_client",
            "this client may not use the authorization code flow",
        );
    }
    let scopes = match requested_scopes(client, params.scope.as_deref()) {
        Ok(s) => s,
        Err(_) => {
            return fail(
                "invalid_scope",
                "a requested scope is malformed or not allowed",
            )
        }
    };
    let challenge = params.code_challenge.as_deref();
    let method = match pkce::Method::parse(params.code_challenge_method.as_deref()) {
        Some(m) => m,
        None => return fail("invalid_request", "code_challenge_method must be S256"),
    };
    match challenge {
        None if client.is_public() => {
            return fail(
                "invalid_request",
                "PKCE (code_challenge with S256) is required",
            )
        }
        None if params.code_challenge_method.is_some() => {
            return fail(
                "invalid_request",
                "code_challenge_method without code_challenge",
            )
        }
        Some(_) if method == pkce::Method::Plain && !client.config.legacy => {
            return fail("invalid_request", "code_challenge_method must be S256")
        }
        Some(c) if !pkce::is_valid_challenge(c, method) => {
            return fail("invalid_request", "code_challenge is malformed")
        }
        _ => {}
    }

    let openid = oidc::is_openid(&scopes);
    if openid && server.tokens.signing.is_none() {
        return fail(
            "invalid_scope",
            "openid needs a signing key, and none is configured",
        );
    }
    let Some(prompt) = Prompt::parse(params.prompt.as_deref()) else {
        return fail("invalid_request", "prompt is malformed");
    };
    let max_age = match params.max_age.as_deref().map(str::parse::<u32>) {
        None => None,
        Some(Ok(secs)) => Some(i64::from(secs)),
        Some(Err(_)) => return fail("invalid_request", "max_age must be a number of seconds"),
    };
    let nonce = params.nonce.filter(|n| !n.is_empty());
    if nonce.as_ref().is_some_and(|n| n.len() > MAX_NONCE_LEN) {
        return fail("invalid_request", "nonce is too long");
    }

    let now = now_unix();
    let ttl = server.config.sign_in_ttl.as_secs();
    let mut pending = AuthorizationRequest {
        csrf_token: generate_token(),
        client_id: client.id().to_string(),
        redirect_uri: redirect_uri.clone(),
        scopes: super::super::scope::join(&scopes),
        state: state.map(str::to_string),
        code_challenge: challenge.map(str::to_string),
        code_challenge_method: challenge.map(|_| method.as_str().to_string()),
        user_id: None,
        user_name: None,
        created_at: now,
        expires_at: now + ttl as i64,
        nonce,
        prompt: prompt.stored(),
        auth_time: None,
        sid: None,
    };
    // The session stands for the form unless the client asks for a fresh sign-in.
    let session = match prompt.login {
        true => None,
        false => sso::current(server, req)
            .await?
            .filter(|s| max_age.is_none_or(|m| now - s.auth_time <= m)),
    };
    let Some(user) = session else {
        if prompt.none {
            return fail("login_required", "the user is not signed in");
        }
        return show_page(server, client, pending, Page::SignIn).await;
    };
    pending.user_id = Some(user.user_id.clone());
    pending.user_name = Some(user.user_name.clone());
    pending.auth_time = Some(user.auth_time);
    pending.sid = Some(user.sid);
    if !prompt.consent
        && sso::consented(server, &user.user_id, client.id(), &pending.scopes).await?
    {
        return issue_code(server, client, &pending, 302).await;
    }
    if prompt.none {
        return fail(
            "consent_required",
            "the user has not consented to this request",
        );
    }
    show_page(server, client, pending, Page::Consent).await
}

enum Page {
    SignIn,
    Consent,
}

/// Stores the pending request and shows its first page, with the cookie that names it.
async fn show_page(
    server: &OAuthServer,
    client: &Client,
    pending: AuthorizationRequest,
    which: Page,
) -> Result<OwnResponse, ApiError> {
    let id = generate_token();
    let id_hash = hash_token(&id);
    let ttl = server.config.sign_in_ttl.as_secs();
    let stored = pending.clone();
    server
        .store
        .run(move |s| async move { s.insert_authorization_request(&id_hash, &stored).await })
        .await?;
    let html = match which {
        Page::SignIn => pages::sign_in(&pages::SignInPage {
            client_name: &client.config.name,
            action: "/oauth/sign-in",
            csrf_token: &pending.csrf_token,
            username: "",
            error: None,
        }),
        Page::Consent => consent_html(client, &pending),
    };
    Ok(page::response(200, html, Some(&pending.redirect_uri))
        .with_header(http::header::SET_COOKIE, set_cookie(server, &id, ttl)?))
}

fn consent_html(client: &Client, pending: &AuthorizationRequest) -> String {
    let scopes = super::super::scope::parse(&pending.scopes).unwrap_or_default();
    pages::consent(&pages::ConsentPage {
        client_name: &client.config.name,
        user_name: pending.user_name.as_deref().unwrap_or(""),
        scopes: &scopes,
        action: "/oauth/consent",
        csrf_token: &pending.csrf_token,
    })
}

/// The pending request named by the cookie, if it is still valid.
async fn pending(
    server: &OAuthServer,
    req: &Request,
) -> Result<Option<(TokenHash, AuthorizationRequest)>, ApiError> {
    let Some(id) = cookies::read(&req.headers, cookie_name(server))
        .into_iter()
        .next()
    else {
        return Ok(None);
    };
    let id_hash = hash_token(&id);
    let found = server
        .store
        .run(move |s| async move { s.find_authorization_request(&id_hash).await })
        .await?;
    Ok(found
        .filter(|r| r.expires_at > now_unix())
        .map(|r| (id_hash, r)))
}

/// A form posted to the pending request named by the cookie, with its CSRF token checked;
/// a page error when it expired or the form could not be verified.
async fn posted_form<F: PendingForm>(
    server: &OAuthServer,
    req: &Request,
) -> Result<(TokenHash, AuthorizationRequest, F), ApiError> {
    let Some((id_hash, pending)) = pending(server, req).await? else {
        server.metrics.auth_decision(AuthDecision::Expired);
        return Err(expired_page());
    };
    let Ok(form) = super::body_params::<F>(req) else {
        server.metrics.auth_decision(AuthDecision::Malformed);
        return Err(forbidden_page());
    };
    if !csrf_matches(form.csrf_token(), &pending.csrf_token) {
        server.metrics.auth_decision(AuthDecision::Invalid);
        return Err(forbidden_page());
    }
    server.metrics.auth_decision(AuthDecision::Ok);
    Ok((id_hash, pending, form))
}

pub async fn sign_in(server: &OAuthServer, req: &Request) -> Result<OwnResponse, ApiError> {
    let (id_hash, pending, form) = posted_form::<SignInForm>(server, req).await?;
    if pending.client_id == super::session::SESSION_CLIENT {
        return super::session::signed_in(server, req, id_hash, pending, form).await;
    }
    let Some(client) = server.clients.get(&pending.client_id) else {
        return Err(expired_page());
    };
    let username = form.username.as_deref().unwrap_or("");
    let password = form.password.as_deref().unwrap_or("");
    let user = match verify_user(server, username, password, req.client_ip).await {
        Ok(u) => u,
        Err(e @ (ApiError::InvalidGrant(_) | ApiError::LockedOut { .. })) => {
            let html = pages::sign_in(&pages::SignInPage {
                client_name: &client.config.name,
                action: "/oauth/sign-in",
                csrf_token: &pending.csrf_token,
                username,
                error: Some("The username or password is incorrect."),
            });
            let resp = page::response(200, html, Some(&pending.redirect_uri));
            return Ok(match e {
                ApiError::LockedOut { retry_after } => resp.retry_after(retry_after),
                _ => resp,
            });
        }
        Err(other) => return Err(other),
    };
    let (signed_in, session_cookie) = sso::signed_in(server, req, &user, now_unix()).await?;
    let mut pending = pending;
    pending.user_id = Some(signed_in.user_id.clone());
    pending.user_name = Some(signed_in.user_name.clone());
    pending.auth_time = Some(signed_in.auth_time);
    pending.sid = Some(signed_in.sid.clone());
    server
        .store
        .run(move |s| async move { s.set_authorization_request_user(&id_hash, &signed_in).await })
        .await?;
    let prompt = Prompt::from_stored(pending.prompt.as_deref());
    let user_id = user.id.to_string();
    let resp = if !prompt.consent
        && sso::consented(server, &user_id, &pending.client_id, &pending.scopes).await?
    {
        finish(server, client, id_hash, pending, true).await?
    } else {
        OwnResponse::browser_redirect(303, "/oauth/consent")?
    };
    Ok(match session_cookie {
        Some(cookie) => resp.with_header(http::header::SET_COOKIE, cookie),
        None => resp,
    })
}

pub async fn consent_page(server: &OAuthServer, req: &Request) -> Result<OwnResponse, ApiError> {
    let Some((_, pending)) = pending(server, req).await? else {
        return Err(expired_page());
    };
    let Some(client) = server
        .clients
        .get(&pending.client_id)
        .filter(|_| pending.user_name.is_some())
    else {
        return Err(expired_page());
    };
    Ok(page::response(
        200,
        consent_html(client, &pending),
        Some(&pending.redirect_uri),
    ))
}

pub async fn consent(server: &OAuthServer, req: &Request) -> Result<OwnResponse, ApiError> {
    let (id_hash, pending, form) = posted_form::<ConsentForm>(server, req).await?;
    let Some(client) = server
        .clients
        .get(&pending.client_id)
        .filter(|_| pending.user_id.is_some())
    else {
        return Err(expired_page());
    };
    let approved = match form.decision.as_deref() {
        Some("approve") => true,
        Some("deny") => false,
        _ => return Err(forbidden_page()),
    };
    finish(server, client, id_hash, pending, approved).await
}

/// Ends the pending request (once: a double submit finds it gone) with a code or a denial.
async fn finish(
    server: &OAuthServer,
    client: &Client,
    id_hash: TokenHash,
    pending: AuthorizationRequest,
    approved: bool,
) -> Result<OwnResponse, ApiError> {
    let taken = server
        .store
        .run(move |s| async move { s.take_authorization_request(&id_hash).await })
        .await?;
    if !taken {
        return Err(expired_page());
    }
    let clear = set_cookie(server, "", 0)?;
    let resp = if approved {
        issue_code(server, client, &pending, 303).await?
    } else {
        error_redirect(
            server,
            303,
            &pending.redirect_uri,
            pending.state.as_deref(),
            "access_denied",
            "the user denied the request",
        )?
    };
    Ok(resp.with_header(http::header::SET_COOKIE, clear))
}
