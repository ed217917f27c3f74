//! The PitchTarget users API: `POST /sign-up` (public, names a registered client), and for
//! admin tokens only `GET /users?page=N`, `GET /users/:id`, `DELETE /users/:id`. Deleting a
//! user revokes every token they hold, effective at once on this process.

use super::{password_problem, username_key, username_problem};
use crate::handlers::HandlerRequest;
use crate::http::OwnResponse;
use crate::oauth::request::Params;
use crate::oauth::{OAuthError, OAuthServer};
use crate::store::{now_unix, NewUser, StoreError, User};
use http::Method;
use serde_json::{json, Value};

pub const PAGE_SIZE: i64 = 10;

#[derive(Debug)]
enum UsersError {
    BadRequest(String),
    Unprocessable(String),
    Conflict,
    Forbidden,
    NotFound,
    MethodNotAllowed,
    OAuth(OAuthError),
}

impl From<StoreError> for UsersError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict => UsersError::Conflict,
            other => UsersError::OAuth(other.into()),
        }
    }
}

impl UsersError {
    fn response(self) -> OwnResponse {
        match self {
            UsersError::BadRequest(d) => OwnResponse::error(400, "invalid_request", &d),
            UsersError::Unprocessable(d) => OwnResponse::error(422, "invalid_user", &d),
            UsersError::Conflict => {
                OwnResponse::error(409, "username_taken", "this username is already taken")
            }
            UsersError::Forbidden => {
                OwnResponse::error(403, "forbidden", "an admin token is required")
            }
            UsersError::NotFound => OwnResponse::error(404, "not_found", "no such user"),
            UsersError::MethodNotAllowed => {
                OwnResponse::error(405, "invalid_request", "method not allowed")
            }
            UsersError::OAuth(e) => e.response(),
        }
    }
}

/// The user as the PitchTarget API shows it, with the linked Facebook id and ad accounts.
async fn user_json(server: &OAuthServer, u: &User) -> Result<Value, UsersError> {
    let uid = u.id.to_string();
    let link = server
        .store
        .run(move |s| async move { s.fb_link_of_user(&uid).await })
        .await?;
    let (fb_id, ads) = match link {
        Some((fb, ads)) => (Value::String(fb), ads),
        None => (Value::Null, Vec::new()),
    };
    Ok(json!({ "id": u.id, "username": u.username, "fb_id": fb_id, "fb_ad_accounts": ads }))
}

pub async fn handle(server: &OAuthServer, req: &HandlerRequest<'_>) -> OwnResponse {
    let result = match (req.method, req.path) {
        (&Method::POST, "/sign-up") => sign_up(server, req).await,
        (_, "/sign-up") => Err(UsersError::MethodNotAllowed),
        _ => admin(server, req).await,
    };
    result.unwrap_or_else(UsersError::response)
}

async fn sign_up(
    server: &OAuthServer,
    req: &HandlerRequest<'_>,
) -> Result<OwnResponse, UsersError> {
    if req.body.len() > server.max_body_bytes {
        return Err(UsersError::OAuth(OAuthError::PayloadTooLarge));
    }
    let params = Params::from_body(req.headers, &req.body).map_err(UsersError::OAuth)?;
    let client_id = params
        .get("client_id")
        .ok_or_else(|| UsersError::BadRequest("missing `client_id`".into()))?;
    if server.clients.get(client_id).is_none() {
        return Err(UsersError::OAuth(OAuthError::InvalidClient));
    }
    let username = params
        .get("username")
        .ok_or_else(|| UsersError::BadRequest("missing `username`".into()))?;
    let password = params
        .get("password")
        .ok_or_else(|| UsersError::BadRequest("missing `password`".into()))?;
    if let Some(p) = username_problem(username) {
        return Err(UsersError::Unprocessable(p.into()));
    }
    // Length is checked before hashing: an oversized password costs nothing.
    if let Some(p) = password_problem(password) {
        return Err(UsersError::Unprocessable(p.into()));
    }
    let new = NewUser {
        username: username.to_string(),
        username_key: username_key(username),
        password_hash: server.passwords.hash(password).await?,
    };
    let now = now_unix();
    let user = server
        .store
        .run(move |s| async move { s.create_user(&new, now).await })
        .await?;
    Ok(OwnResponse::json(
        201,
        &json!({ "user": { "id": user.id, "username": user.username } }),
    ))
}

async fn admin(server: &OAuthServer, req: &HandlerRequest<'_>) -> Result<OwnResponse, UsersError> {
    // The proxy already refused requests without a valid token on this route.
    if !req.identity.is_some_and(|i| i.admin) {
        return Err(UsersError::Forbidden);
    }
    let id_part = req
        .path
        .strip_prefix("/users")
        .unwrap_or("")
        .trim_matches('/');
    if id_part.is_empty() {
        if req.method != Method::GET {
            return Err(UsersError::MethodNotAllowed);
        }
        let query = Params::from_query(req.query).map_err(UsersError::OAuth)?;
        let page: i64 = match query.get("page") {
            None => 1,
            Some(p) => p
                .parse()
                .ok()
                .filter(|n| (1..=1_000_000).contains(n))
                .ok_or_else(|| UsersError::BadRequest("page must be a positive integer".into()))?,
        };
        let (users, total) = server
            .store
            .run(move |s| async move { s.list_users((page - 1) * PAGE_SIZE, PAGE_SIZE).await })
            .await?;
        let mut list = Vec::with_capacity(users.len());
        for u in &users {
            list.push(user_json(server, u).await?);
        }
        return Ok(OwnResponse::json(
            200,
            &json!({ "users": list, "meta": { "page": page, "total": total } }),
        ));
    }
    let id: i64 = id_part.parse().map_err(|_| UsersError::NotFound)?;
    match *req.method {
        Method::GET => {
            let user = server
                .store
                .run(move |s| async move { s.find_user(id).await })
                .await?
                .ok_or(UsersError::NotFound)?;
            Ok(OwnResponse::json(
                200,
                &json!({ "user": user_json(server, &user).await? }),
            ))
        }
        Method::DELETE => {
            let now = now_unix();
            let revoked = server
                .store
                .run(move |s| async move { s.delete_user(id, now).await })
                .await?
                .ok_or(UsersError::NotFound)?;
            server.forget(&revoked).await;
            Ok(OwnResponse::empty(204))
        }
        _ => Err(UsersError::MethodNotAllowed),
    }
}
