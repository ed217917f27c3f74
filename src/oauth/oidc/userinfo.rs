//! The UserInfo claims (OIDC Core §5.3, §5.4): `sub` always, and what each granted scope
//! releases. Gatehouse knows a username only, so `profile` releases it as both
//! `preferred_username` and `name`.

use crate::auth::Identity;
use serde_json::{json, Value};

/// Scopes with claims, and the claims they release.
pub const SCOPE_CLAIMS: &[(&str, &[&str])] = &[("profile", &["name", "preferred_username"])];

pub fn claims(identity: &Identity, user_id: &str) -> Value {
    let mut body = json!({ "sub": user_id });
    let granted = |scope: &str| identity.scopes().iter().any(|s| &**s == scope);
    if granted("profile") {
        if let Some(name) = identity.user_name() {
            body["name"] = name.into();
            body["preferred_username"] = name.into();
        }
    }
    body
}
