//! Single sign-on at the authorization endpoint: the browser's session (`[sessions]`) stands
//! for the sign-in form, and the form, when `[sessions]` is declared, starts one. Each
//! sign-in has a `sid` (OpenID Connect) by which logout finds what it produced.

use super::super::oidc::{new_sid, sid_of_session};
use super::super::{scope, OAuthServer};
use crate::auth::{hash_token, AuthError};
use crate::http::{cookies, ApiError, Request};
use crate::store::{SignedInUser, StoreError, User};
use http::header::HeaderValue;

/// The live session the browser sent, as a sign-in; `None` without one.
pub(super) async fn current(
    server: &OAuthServer,
    req: &Request,
) -> Result<Option<SignedInUser>, ApiError> {
    let config = server.sessions.config();
    for token in cookies::read(&req.headers, &config.cookie_name) {
        match server.sessions.validate(&token).await {
            Ok(identity) => {
                let hash = hash_token(&token);
                let Some(stored) = server
                    .store
                    .run(move |s| async move { s.find_session(&hash).await })
                    .await?
                else {
                    continue;
                };
                let user_id = identity.user_id().map_or(stored.user_id, str::to_string);
                return Ok(Some(SignedInUser {
                    user_id,
                    user_name: stored.user_name,
                    auth_time: stored.created_at,
                    sid: sid_of_session(&hash),
                }));
            }
            Err(AuthError::Unavailable(e)) => {
                return Err(ApiError::from(StoreError::Unavailable(e)))
            }
            Err(_) => {}
        }
    }
    Ok(None)
}

/// The sign-in form accepted `user` at `now`: with `[sessions]` declared, a new session
/// (replacing the one the browser came with) and its cookie; otherwise a sign-in of its own.
pub(super) async fn signed_in(
    server: &OAuthServer,
    req: &Request,
    user: &User,
    now: i64,
) -> Result<(SignedInUser, Option<HeaderValue>), ApiError> {
    let config = server.sessions.config();
    let (sid, cookie) = if config.declared {
        let old = cookies::read(&req.headers, &config.cookie_name);
        let token = server
            .sessions
            .create(user, old.first().map(String::as_str))
            .await?;
        let cookie = cookies::set(
            &config.cookie_name,
            &token,
            "/",
            config.ttl.as_secs(),
            config.secure,
        )?;
        (sid_of_session(&hash_token(&token)), Some(cookie))
    } else {
        (new_sid(), None)
    };
    Ok((
        SignedInUser {
            user_id: user.id.to_string(),
            user_name: user.username.clone(),
            auth_time: now,
            sid,
        },
        cookie,
    ))
}

/// Whether the user already consented to every scope of `scopes` for the client.
pub(super) async fn consented(
    server: &OAuthServer,
    user_id: &str,
    client_id: &str,
    scopes: &str,
) -> Result<bool, ApiError> {
    let (uid, cid) = (user_id.to_string(), client_id.to_string());
    let remembered = server
        .store
        .run(move |s| async move { s.find_consent(&uid, &cid).await })
        .await?;
    let requested = scope::parse(scopes).unwrap_or_default();
    Ok(remembered
        .and_then(|s| scope::parse(&s))
        .is_some_and(|granted| scope::is_subset(&requested, &granted)))
}

/// Ends what the sign-in `sid` produced: every token family issued in it, for any client
/// (the access tokens also leave this process's cache; other replicas hear of it from the
/// store's revocation feed).
pub(super) async fn revoke_sign_in(server: &OAuthServer, sid: String) -> Result<(), ApiError> {
    let families = server
        .store
        .run(move |s| async move { s.oidc_families_of_sign_in(&sid).await })
        .await?;
    let now = crate::store::now_unix();
    for family in families {
        let hashes = server
            .store
            .run(move |s| async move { s.revoke_family(&family, now).await })
            .await?;
        server.forget(&hashes).await;
    }
    Ok(())
}
