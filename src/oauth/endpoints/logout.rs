//! `/oauth/logout` with OpenID Connect RP-Initiated Logout 1.0: `id_token_hint`,
//! `post_logout_redirect_uri`, `client_id` and `state`. Without any of them it is the
//! session sign-out of `session`.
//!
//! An RP's request is checked whole before anything ends: a hint we did not sign, a client
//! that is not the hint's, or a redirect not registered byte for byte in the client's
//! `post_logout_redirect_uris` gets an error page, and nothing is revoked. A redirect needs
//! a hint (§2: the OP must not redirect where it cannot confirm who asked). A request from
//! another site whose hint is not the signed-in user's only asks for confirmation, as a plain
//! sign-out does. Ending the sign-in revokes the browser's sessions and every token family
//! issued in them (`session::end_sign_ins`).

use super::super::oidc::id_token::{read_hint, Hint};
use super::super::OAuthServer;
use super::browser::{error_page, raw_query_value};
use super::{session, sso};
use crate::http::same_origin::is_cross_site;
use crate::http::{page, ApiError, OwnResponse, Request};
use http::header::SET_COOKIE;
use serde::Deserialize;

/// `state` is not here: it goes back byte for byte, so it is read raw.
#[derive(Debug, Deserialize)]
struct LogoutQuery {
    id_token_hint: Option<String>,
    post_logout_redirect_uri: Option<String>,
    client_id: Option<String>,
}

const MAX_STATE_LEN: usize = 2048;

fn refused(message: &str) -> ApiError {
    error_page(400, "Invalid sign-out request", message)
}

/// `GET /oauth/logout`.
pub async fn get(server: &OAuthServer, req: &Request) -> Result<OwnResponse, ApiError> {
    let query: LogoutQuery = req
        .query_params()
        .and_then(|p| p.parse())
        .map_err(|_| refused("The sign-out request is malformed."))?;
    if query.id_token_hint.is_none()
        && query.post_logout_redirect_uri.is_none()
        && query.client_id.is_none()
    {
        return session::logout(server, req).await;
    }
    let state = raw_query_value(req.query(), "state").filter(|s| !s.is_empty());
    if state.is_some_and(|s| s.len() > MAX_STATE_LEN) {
        return Err(refused("state is too long."));
    }
    rp_initiated(server, req, query, state).await
}

/// `POST /oauth/logout`: the confirmation page's form.
pub async fn post(server: &OAuthServer, req: &Request) -> Result<OwnResponse, ApiError> {
    session::logout_confirmed(server, req).await
}

async fn rp_initiated(
    server: &OAuthServer,
    req: &Request,
    query: LogoutQuery,
    state: Option<&str>,
) -> Result<OwnResponse, ApiError> {
    let keys = server.tokens.signing.as_ref().ok_or_else(|| {
        refused("This server has no signing keys, so it takes no OpenID Connect sign-outs.")
    })?;
    let hint: Option<Hint> = match query.id_token_hint.as_deref() {
        None => None,
        Some(token) => Some(read_hint(keys, token).ok_or_else(|| {
            refused("The id_token_hint is not an ID token issued by this server.")
        })?),
    };
    let client_id = match (
        hint.as_ref().map(|h| h.client_id.as_str()),
        query.client_id.as_deref(),
    ) {
        (Some(a), Some(b)) if a != b => {
            return Err(refused(
                "client_id is not the client the id_token_hint was issued to.",
            ))
        }
        (a, b) => a.or(b),
    };
    let client = client_id
        .map(|id| {
            server
                .clients
                .get(id)
                .ok_or_else(|| refused("The application is not registered."))
        })
        .transpose()?;
    let redirect_to = match (query.post_logout_redirect_uri, &hint, client) {
        (None, _, _) => None,
        (Some(_), None, _) | (Some(_), _, None) => {
            return Err(refused(
                "post_logout_redirect_uri needs an id_token_hint from the application.",
            ))
        }
        (Some(uri), Some(_), Some(c)) if c.has_post_logout_redirect_uri(&uri) => Some(uri),
        (Some(_), Some(_), Some(_)) => {
            return Err(refused(
                "post_logout_redirect_uri is not registered for the application.",
            ))
        }
    };
    let host = session::host(req)?;
    let signed_in = sso::current(server, req).await?;
    let hint_is_user = hint
        .as_ref()
        .is_some_and(|h| signed_in.as_ref().is_none_or(|s| s.user_id == h.sub));
    if !hint_is_user && is_cross_site(&req.headers) {
        let html = super::super::pages::sign_out(&super::super::pages::SignOutPage {
            host,
            rd: "",
            done: false,
        });
        return Ok(page::response(200, html, None));
    }
    let clear = session::end_sign_ins(server, req).await?;
    // The hint's sign-in may be an earlier one of the same user in this browser (a session
    // rotated by a later sign-in): the RP that holds its tokens asks to end it too.
    if let (Some(h), Some(_)) = (&hint, &signed_in) {
        if let Some(sid) = h.sid.clone().filter(|_| hint_is_user) {
            sso::revoke_sign_in(server, sid).await?;
        }
    }
    let resp = match redirect_to {
        Some(uri) => {
            let mut location = uri;
            if let Some(s) = state {
                location.push(if location.contains('?') { '&' } else { '?' });
                location.push_str("state=");
                location.push_str(s);
            }
            OwnResponse::browser_redirect(303, &location)
                .map_err(|_| refused("The redirect address cannot be used."))?
        }
        None => page::response(
            200,
            super::super::pages::sign_out(&super::super::pages::SignOutPage {
                host,
                rd: "",
                done: true,
            }),
            None,
        ),
    };
    Ok(resp.with_header(SET_COOKIE, clear))
}
