//! The authorization code flow's browser side (RFC 6749 §4.1, RFC 7636, RFC 9207):
//! `GET /oauth/authorize` checks the client and redirect URI (an error page, never a redirect,
//! when either is wrong), stores the pending request and shows the sign-in page; the sign-in
//! and consent forms post back with a CSRF token bound to the request's cookie; approval
//! redirects with `code`, `state` and `iss`, denial with `error=access_denied`.

use super::super::clients::{Client, RedirectRefusal};
use super::super::grants::password::{requested_scopes, verify_user};
use super::super::{issuer, pages, pkce, scope, OAuthServer};
use crate::auth::{generate_token, hash_token};
use crate::config::GrantType;
use crate::http::ApiError;
use crate::http::Request;
use crate::http::{cookies, page, OwnResponse};
use crate::metrics::AuthDecision;
use crate::store::{now_unix, AuthorizationRequest, StoredCode, TokenHash};
use http::header::HeaderValue;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use subtle::ConstantTimeEq;

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

/// Cookie holding the pending request's id; `__Host-` whenever the public URL is https.
pub(super) fn cookie_name(server: &OAuthServer) -> &'static str {
    if secure(server) {
        cookies::SIGN_IN_HOST
    } else {
        cookies::SIGN_IN
    }
}

fn secure(server: &OAuthServer) -> bool {
    server.issuer.starts_with("https://")
}

pub(super) fn set_cookie(
    server: &OAuthServer,
    value: &str,
    max_age: u64,
) -> Result<HeaderValue, ApiError> {
    cookies::set(cookie_name(server), value, "/", max_age, secure(server))
}

fn error_page(status: u16, title: &str, message: &str) -> ApiError {
    ApiError::page(status, title, message)
}

/// The raw (still percent-encoded) value of a query parameter: `state` goes back byte for byte.
fn raw_query_value<'a>(query: Option<&'a str>, name: &str) -> Option<&'a str> {
    query?
        .split('&')
        .filter_map(|pair| pair.split_once('=').or(Some((pair, ""))))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

fn encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// `redirect_uri` (already matched exactly against the registration) plus `pairs`, whose values
/// are already encoded, and `iss`.
fn redirect(
    server: &OAuthServer,
    status: u16,
    redirect_uri: &str,
    pairs: &[(&str, String)],
) -> Result<OwnResponse, ApiError> {
    let mut location = redirect_uri.to_string();
    let mut sep = if redirect_uri.contains('?') { '&' } else { '?' };
    for (k, v) in pairs
        .iter()
        .chain(std::iter::once(&("iss", encode(&server.issuer))))
    {
        location.push(sep);
        location.push_str(k);
        location.push('=');
        location.push_str(v);
        sep = '&';
    }
    OwnResponse::browser_redirect(status, &location).map_err(|_| {
        error_page(
            400,
            "Invalid request",
            "The redirect address cannot be used.",
        )
    })
}

fn error_redirect(
    server: &OAuthServer,
    status: u16,
    redirect_uri: &str,
    state: Option<&str>,
    error: &str,
    description: &str,
) -> Result<OwnResponse, ApiError> {
    let mut pairs = vec![
        ("error", error.to_string()),
        ("error_description", encode(description)),
    ];
    if let Some(s) = state {
        pairs.push(("state", s.to_string()));
    }
    redirect(server, status, redirect_uri, &pairs)
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

    let id = generate_token();
    let csrf = generate_token();
    let now = now_unix();
    let ttl = server.config.sign_in_ttl.as_secs();
    let pending = AuthorizationRequest {
        csrf_token: csrf.clone(),
        client_id: client.id().to_string(),
        redirect_uri,
        scopes: scope::join(&scopes),
        state: state.map(str::to_string),
        code_challenge: challenge.map(str::to_string),
        code_challenge_method: challenge.map(|_| method.as_str().to_string()),
        user_id: None,
        user_name: None,
        created_at: now,
        expires_at: now + ttl as i64,
    };
    let id_hash = hash_token(&id);
    let redirect_to = pending.redirect_uri.clone();
    server
        .store
        .run(move |s| async move { s.insert_authorization_request(&id_hash, &pending).await })
        .await?;
    let html = pages::sign_in(&pages::SignInPage {
        client_name: &client.config.name,
        action: "/oauth/sign-in",
        csrf_token: &csrf,
        username: "",
        error: None,
    });
    Ok(page::response(200, html, Some(&redirect_to))
        .with_header(http::header::SET_COOKIE, set_cookie(server, &id, ttl)?))
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

fn csrf_matches(given: Option<&str>, expected: &str) -> bool {
    given.is_some_and(|g| bool::from(g.as_bytes().ct_eq(expected.as_bytes())))
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

pub(super) fn expired_page() -> ApiError {
    error_page(
        400,
        "Sign-in expired",
        "This sign-in page is no longer valid. Go back to the application and start again.",
    )
}

pub(super) fn forbidden_page() -> ApiError {
    error_page(
        403,
        "Request refused",
        "The form could not be verified. Go back to the application and start again.",
    )
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
    let (uid, uname) = (user.id.to_string(), user.username.clone());
    let (u2, cid) = (uid.clone(), pending.client_id.clone());
    let remembered = server
        .store
        .run(move |s| async move {
            s.set_authorization_request_user(&id_hash, &uid, &uname)
                .await?;
            s.find_consent(&u2, &cid).await
        })
        .await?;
    let requested = scope::parse(&pending.scopes).unwrap_or_default();
    let consented = remembered
        .and_then(|s| scope::parse(&s))
        .is_some_and(|granted| scope::is_subset(&requested, &granted));
    if consented {
        return finish(
            server,
            client,
            id_hash,
            pending,
            user.id.to_string(),
            Some(user.username),
            true,
        )
        .await;
    }
    OwnResponse::browser_redirect(303, "/oauth/consent")
}

pub async fn consent_page(server: &OAuthServer, req: &Request) -> Result<OwnResponse, ApiError> {
    let Some((_, pending)) = pending(server, req).await? else {
        return Err(expired_page());
    };
    let (Some(client), Some(user_name)) = (
        server.clients.get(&pending.client_id),
        pending.user_name.as_deref(),
    ) else {
        return Err(expired_page());
    };
    let scopes = scope::parse(&pending.scopes).unwrap_or_default();
    Ok(page::response(
        200,
        pages::consent(&pages::ConsentPage {
            client_name: &client.config.name,
            user_name,
            scopes: &scopes,
            action: "/oauth/consent",
            csrf_token: &pending.csrf_token,
        }),
        Some(&pending.redirect_uri),
    ))
}

pub async fn consent(server: &OAuthServer, req: &Request) -> Result<OwnResponse, ApiError> {
    let (id_hash, pending, form) = posted_form::<ConsentForm>(server, req).await?;
    let (Some(client), Some(user_id)) = (
        server.clients.get(&pending.client_id),
        pending.user_id.clone(),
    ) else {
        return Err(expired_page());
    };
    let approved = match form.decision.as_deref() {
        Some("approve") => true,
        Some("deny") => false,
        _ => return Err(forbidden_page()),
    };
    let user_name = pending.user_name.clone();
    finish(
        server, client, id_hash, pending, user_id, user_name, approved,
    )
    .await
}

/// Ends the pending request (once: a double submit finds it gone) with a code or a denial.
async fn finish(
    server: &OAuthServer,
    client: &Client,
    id_hash: TokenHash,
    pending: AuthorizationRequest,
    user_id: String,
    user_name: Option<String>,
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
    let state = pending.state.as_deref();
    if !approved {
        return Ok(error_redirect(
            server,
            303,
            &pending.redirect_uri,
            state,
            "access_denied",
            "the user denied the request",
        )?
        .with_header(http::header::SET_COOKIE, clear));
    }
    let now = now_unix();
    let code = server.checksum.mint();
    let stored = StoredCode {
        family_id: issuer::new_family_id(),
        client_id: client.id().to_string(),
        user_id: user_id.clone(),
        user_name,
        redirect_uri: pending.redirect_uri.clone(),
        scopes: pending.scopes.clone(),
        code_challenge: pending.code_challenge.clone(),
        code_challenge_method: pending.code_challenge_method.clone(),
        created_at: now,
        expires_at: now + server.config.code_ttl.as_secs() as i64,
        used: false,
    };
    let code_hash = hash_token(&code);
    let (cid, scopes) = (client.id().to_string(), pending.scopes.clone());
    server
        .store
        .run(move |s| async move {
            s.save_consent(&user_id, &cid, &scopes, now).await?;
            s.insert_code(&code_hash, &stored).await
        })
        .await?;
    let mut pairs = vec![("code", code)];
    if let Some(s) = state {
        pairs.push(("state", s.to_string()));
    }
    Ok(redirect(server, 303, &pending.redirect_uri, &pairs)?
        .with_header(http::header::SET_COOKIE, clear))
}

#[cfg(test)]
mod tests {
    use super::raw_query_value;

    #[test]
    fn state_is_taken_raw() {
        assert_eq!(
            raw_query_value(Some("a=1&state=a%20b%2Bc&x"), "state"),
            Some("a%20b%2Bc")
        );
        assert_eq!(raw_query_value(Some("state"), "state"), Some(""));
        assert_eq!(raw_query_value(None, "state"), None);
    }
}
