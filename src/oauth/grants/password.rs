//! The resource owner password grant (RFC 6749 §4.3), for legacy clients only, plus the
//! seeds' admin login: username = a client id, password = that client's secret.

use super::super::clients::Client;
use super::super::issuer::{self, Grant, Minted};
use super::super::request::{required, PasswordCredentials};
use super::super::{scope, OAuthServer};
use crate::config::GrantType;
use crate::http::ApiError;
use crate::http::BAD_CREDENTIALS;
use crate::store::User;
use crate::users::username_key;
use std::net::IpAddr;

pub async fn grant(
    server: &OAuthServer,
    client: &Client,
    params: &PasswordCredentials,
    ip: Option<IpAddr>,
) -> Result<Minted, ApiError> {
    if !client.allows(GrantType::Password) {
        return Err(ApiError::UnauthorizedClient(
            "this client may not use the password grant".into(),
        ));
    }
    let username = required(&params.username, "username")?;
    let password = required(&params.password, "password")?;
    let scopes = requested_scopes(client, params.scope.as_deref())?;

    if username == client.id() && client.config.admin {
        // Admin login: the client's own secret, throttled like any credential.
        let admin = server
            .clients
            .authenticate(
                client.id(),
                password,
                &server.passwords,
                &server.lockout,
                ip,
            )
            .await
            .map_err(|e| match e {
                ApiError::InvalidClient => ApiError::InvalidGrant(BAD_CREDENTIALS.into()),
                // The admin login speaks the password grant's language: 400 + Retry-After.
                ApiError::ClientLockedOut { retry_after } => ApiError::LockedOut { retry_after },
                other => other,
            })?;
        let grant = Grant {
            user_id: None,
            user_name: Some(admin.id().to_string()),
            client_id: admin.id().to_string(),
            scopes,
            admin: true,
            groups: String::new(),
            family_id: issuer::new_family_id(),
            with_refresh: admin.allows(GrantType::RefreshToken),
        };
        return super::issue(server, grant, "password").await;
    }

    let user = verify_user(server, username, password, ip).await?;
    let grant = Grant {
        user_id: Some(user.id.to_string()),
        user_name: Some(user.username),
        client_id: client.id().to_string(),
        scopes,
        admin: false,
        groups: user.groups,
        family_id: issuer::new_family_id(),
        with_refresh: client.allows(GrantType::RefreshToken),
    };
    super::issue(server, grant, "password").await
}

/// Checks a user's password, throttled per account and address. Unknown users, wrong
/// passwords and locked accounts all get the same error; unknown users still cost a hash.
pub async fn verify_user(
    server: &OAuthServer,
    username: &str,
    password: &str,
    ip: Option<IpAddr>,
) -> Result<User, ApiError> {
    if password.chars().count() > crate::users::passwords::MAX_PASSWORD_LEN {
        // Refused before any hashing; same answer as a wrong password.
        server.lockout.failed();
        return Err(ApiError::InvalidGrant(BAD_CREDENTIALS.into()));
    }
    let key = username_key(username);
    let attempt = server.lockout.begin(&format!("user:{key}"), ip).await?;
    let found = server
        .store
        .run(move |s| async move { s.find_user_by_key(&key).await })
        .await?;
    let ok = server
        .passwords
        .verify(password, found.as_ref().map(|u| u.password_hash.as_str()))
        .await?;
    match found.filter(|_| ok) {
        Some(user) => {
            server.lockout.succeeded(attempt).await;
            Ok(user.user)
        }
        None => {
            server.lockout.failed();
            Err(ApiError::InvalidGrant(BAD_CREDENTIALS.into()))
        }
    }
}

/// The requested scopes, which the client must be allowed; none requested = the client's list.
pub fn requested_scopes(client: &Client, requested: Option<&str>) -> Result<Vec<String>, ApiError> {
    let scopes = match requested {
        Some(text) => {
            scope::parse(text).ok_or_else(|| ApiError::InvalidScope("malformed scope".into()))?
        }
        None => client.config.scopes.clone().unwrap_or_default(),
    };
    if !scope::allowed_by(&scopes, client.config.scopes.as_deref()) {
        return Err(ApiError::InvalidScope(
            "a requested scope is not allowed for this client".into(),
        ));
    }
    Ok(scopes)
}
