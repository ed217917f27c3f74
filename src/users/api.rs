//! The PitchTarget users API: `POST /sign-up` (public, names a registered client), and for
//! admin tokens only `GET /users?page=N`, `GET /users/:id`, `DELETE /users/:id`. Deleting a
//! user revokes every token they hold, effective at once on this process.

use super::passwords::PasswordHasher;
use super::{password_problem, screen_username, ReservedNames};
use crate::auth::{CachedValidator, Sessions};
use crate::config::{Config, SignUpLimits};
use crate::http::{ApiError, Auth, Contract, Endpoint, OwnResponse, Request, Verb};
use crate::store::{now_unix, NewUser, StoreError, StoreHandle, ThrottlePolicy, User};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::HashSet;
use std::sync::Arc;

pub const PAGE_SIZE: i64 = 10;

/// `POST /sign-up`, form or JSON (the seed clients send JSON).
#[derive(Debug, Deserialize)]
struct SignUp {
    client_id: Option<String>,
    username: Option<String>,
    password: Option<String>,
}

/// `GET /users?page=N`; the page is checked by hand for the API's own message.
#[derive(Debug, Deserialize)]
struct ListQuery {
    page: Option<String>,
}

fn present<'a>(value: &'a Option<String>, name: &str) -> Result<&'a str, ApiError> {
    value
        .as_deref()
        .ok_or_else(|| ApiError::InvalidRequest(format!("missing `{name}`")))
}

/// The users API as a service of its own: it shares the password hasher and the token cache
/// with the authorization server but knows nothing of OAuth beyond the registered client ids.
pub struct UsersService {
    pub store: StoreHandle,
    pub passwords: Arc<PasswordHasher>,
    pub cache: Arc<CachedValidator>,
    pub sessions: Arc<Sessions>,
    client_ids: HashSet<String>,
    reserved: ReservedNames,
    sign_up_limits: Option<SignUpLimits>,
}

impl UsersService {
    pub fn new(
        config: &Config,
        store: StoreHandle,
        passwords: Arc<PasswordHasher>,
        cache: Arc<CachedValidator>,
        sessions: Arc<Sessions>,
    ) -> UsersService {
        UsersService {
            store,
            passwords,
            cache,
            sessions,
            client_ids: config.clients.iter().map(|c| c.id.clone()).collect(),
            reserved: ReservedNames::new(config.clients.iter().map(|c| c.id.as_str())),
            sign_up_limits: config.oauth.as_ref().map(|o| o.sign_up.clone()),
        }
    }
}

const fn endpoint(
    verb: Verb,
    path: &'static str,
    auth: Auth,
    handler: crate::http::endpoint::Handler<UsersService>,
) -> Endpoint<UsersService> {
    Endpoint {
        verb,
        path,
        auth,
        contract: Contract::UsersApi,
        handler,
    }
}

pub const ENDPOINTS: &[Endpoint<UsersService>] = &[
    endpoint(Verb::Post, "/sign-up", Auth::Public, |s, r| {
        Box::pin(async move { sign_up(s, &r).await })
    }),
    endpoint(Verb::Get, "/users", Auth::Admin, |s, r| {
        Box::pin(async move { list(s, &r).await })
    }),
    endpoint(Verb::Get, "/users/:id", Auth::Admin, |s, r| {
        Box::pin(async move { show(s, &r).await })
    }),
    endpoint(Verb::Delete, "/users/:id", Auth::Admin, |s, r| {
        Box::pin(async move { delete(s, &r).await })
    }),
];

/// A store conflict on sign-up is the username; every other store error is an outage.
fn creating(e: StoreError) -> ApiError {
    match e {
        StoreError::Conflict => ApiError::UsernameTaken,
        other => other.into(),
    }
}

/// Ids that do not parse name no user, exactly like ids that do not exist.
fn user_id(req: &Request) -> Result<i64, ApiError> {
    req.capture("id")
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| ApiError::NotFound("no such user".into()))
}

/// The user as the PitchTarget API shows it, with the linked Facebook id and ad accounts.
async fn user_json(server: &UsersService, u: &User) -> Result<Value, ApiError> {
    let uid = u.id.to_string();
    let link = server
        .store
        .run(move |s| async move { s.fb_link_of_user(&uid).await })
        .await?;
    Ok(user_value(u, link))
}

fn user_value(u: &User, link: Option<(String, Vec<String>)>) -> Value {
    let (fb_id, ads) = match link {
        Some((fb, ads)) => (Value::String(fb), ads),
        None => (Value::Null, Vec::new()),
    };
    let groups = super::groups::group_list(&u.groups);
    json!({ "id": u.id, "username": u.username, "groups": groups, "fb_id": fb_id, "fb_ad_accounts": ads })
}

async fn sign_up(server: &UsersService, req: &Request) -> Result<OwnResponse, ApiError> {
    let params: SignUp = req.body_params()?.parse()?;
    if !server
        .client_ids
        .contains(present(&params.client_id, "client_id")?)
    {
        return Err(ApiError::InvalidClient);
    }
    let username = present(&params.username, "username")?;
    let password = present(&params.password, "password")?;
    let screened = screen_username(&server.reserved, username)?;
    // Length is checked before hashing: an oversized password costs nothing.
    if let Some(p) = password_problem(password) {
        return Err(ApiError::Unprocessable(p.into()));
    }
    // Counted once the request is well-formed, before the look-up and the hash it would cost.
    admit_sign_up(server, req, present(&params.client_id, "client_id")?).await?;
    let name = screened.settle(&server.store).await?;
    let new = NewUser {
        username: name.display,
        username_key: name.key,
        username_skeleton: name.skeleton,
        // Only operators give groups (`gatehouse user add --group`); a sign-up has none.
        groups: String::new(),
        password_hash: server.passwords.hash(password).await?,
    };
    let now = now_unix();
    let user = server
        .store
        .run(move |s| async move { s.create_user(&new, now).await })
        .await
        .map_err(creating)?;
    Ok(OwnResponse::json(
        201,
        &json!({ "user": { "id": user.id, "username": user.username } }),
    ))
}

/// Sign-ups per client address and per client in a window; past either, 429 + Retry-After.
async fn admit_sign_up(server: &UsersService, req: &Request, client: &str) -> Result<(), ApiError> {
    let Some(limits) = &server.sign_up_limits else {
        return Ok(());
    };
    let window = limits.window.as_secs() as i64;
    let policy = |max_attempts| ThrottlePolicy {
        max_attempts,
        window_secs: window,
        ban_secs: window,
    };
    let keys: Vec<(String, ThrottlePolicy)> = req
        .client_ip
        .map(|ip| (format!("signup:ip:{ip}"), policy(limits.max_per_address)))
        .into_iter()
        .chain(std::iter::once((
            format!("signup:client:{client}"),
            policy(limits.max_per_client),
        )))
        .collect();
    let now = now_unix();
    // The address first, and stop there: one address flooding must not spend the client's
    // allowance for everyone else.
    let locked_until = server
        .store
        .run(move |s| async move { s.throttle_attempts(&keys, now, true).await })
        .await?;
    if locked_until > 0 {
        return Err(ApiError::TooManyRequests {
            retry_after: locked_until - now,
        });
    }
    Ok(())
}

async fn list(server: &UsersService, req: &Request) -> Result<OwnResponse, ApiError> {
    let query: ListQuery = req.query_params()?.parse()?;
    let page: i64 = match query.page.as_deref() {
        None => 1,
        Some(p) => p
            .parse()
            .ok()
            .filter(|n| (1..=1_000_000).contains(n))
            .ok_or_else(|| ApiError::InvalidRequest("page must be a positive integer".into()))?,
    };
    let offset = (page - 1) * PAGE_SIZE;
    let (users, total, mut links) = server
        .store
        .run(move |s| async move {
            let (users, total) = s.list_users(offset, PAGE_SIZE).await?;
            let links = s.fb_links_of_user_page(offset, PAGE_SIZE).await?;
            Ok((users, total, links))
        })
        .await?;
    let list: Vec<Value> = users
        .iter()
        .map(|u| user_value(u, links.remove(&u.id.to_string())))
        .collect();
    Ok(OwnResponse::json(
        200,
        &json!({ "users": list, "meta": { "page": page, "total": total } }),
    ))
}

async fn show(server: &UsersService, req: &Request) -> Result<OwnResponse, ApiError> {
    let id = user_id(req)?;
    let user = server
        .store
        .run(move |s| async move { s.find_user(id).await })
        .await?
        .ok_or_else(|| ApiError::NotFound("no such user".into()))?;
    Ok(OwnResponse::json(
        200,
        &json!({ "user": user_json(server, &user).await? }),
    ))
}

/// Every token and session the user holds is revoked, and leaves this process's cache at once.
async fn delete(server: &UsersService, req: &Request) -> Result<OwnResponse, ApiError> {
    let id = user_id(req)?;
    let now = now_unix();
    let revoked = server
        .store
        .run(move |s| async move { s.delete_user(id, now).await })
        .await?
        .ok_or_else(|| ApiError::NotFound("no such user".into()))?;
    for h in &revoked {
        // Access tokens and sessions share the list; each cache drops what it holds.
        server.cache.invalidate_hash(*h).await;
        server.sessions.forget(*h).await;
    }
    Ok(OwnResponse::empty(204))
}
