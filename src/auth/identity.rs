//! Who a valid token speaks for. Header values are built once, when the identity enters the
//! cache, so a cache hit costs no formatting on the hot path.

use super::ClaimValues;
use crate::store::StoredAccessToken;
use http::HeaderValue;

#[derive(Debug)]
pub struct Identity {
    pub user_id: Option<String>,
    pub user_name: Option<String>,
    pub client_id: Option<String>,
    pub scopes: Vec<String>,
    pub admin: bool,
    /// A JWT's `iss`; `None` for Gatehouse's own tokens, so an external issuer's `sub` can
    /// never pass for a local user in a policy.
    pub issuer: Option<Box<str>>,
    /// `groups`, `roles` and the claims policies name (`Config::claims`).
    pub claims: ClaimValues,
    /// Unix seconds.
    pub expires_at: i64,
    pub headers: IdentityHeaderValues,
}

/// Values to send upstream, already checked to be legal header bytes.
#[derive(Debug, Default)]
pub struct IdentityHeaderValues {
    pub user_id: Option<HeaderValue>,
    pub user_name: Option<HeaderValue>,
    pub scopes: Option<HeaderValue>,
    pub client_id: Option<HeaderValue>,
    /// The `groups` claim, comma-separated.
    pub groups: Option<HeaderValue>,
    /// An external identity's `iss`; none for Gatehouse's own.
    pub issuer: Option<HeaderValue>,
}

impl Identity {
    pub fn from_stored(t: &StoredAccessToken) -> Identity {
        let scopes: Vec<String> = t.scopes.split_whitespace().map(str::to_string).collect();
        // A value that cannot be a header (control characters) is left out, never passed raw.
        let value = |v: Option<&str>| v.and_then(|s| HeaderValue::from_str(s).ok());
        let joined = scopes.join(" ");
        // A local token's groups; `groups` is the first of `Config::claims` (STANDARD_CLAIMS).
        let groups: Vec<String> = t.groups.split_whitespace().map(str::to_string).collect();
        let mut identity = Identity {
            headers: IdentityHeaderValues {
                user_id: value(t.user_id.as_deref()),
                user_name: value(t.user_name.as_deref()),
                scopes: value(Some(joined.as_str())),
                client_id: value(t.client_id.as_deref()),
                groups: None,
                issuer: None,
            },
            user_id: t.user_id.clone(),
            user_name: t.user_name.clone(),
            client_id: t.client_id.clone(),
            scopes,
            admin: t.admin,
            issuer: None,
            claims: ClaimValues::default(),
            expires_at: t.expires_at,
        };
        identity.set_claims(ClaimValues::from_lists(vec![groups]));
        identity
    }

    /// Sets the kept claims and the groups header that shows the first of them (`groups`).
    pub fn set_claims(&mut self, claims: ClaimValues) {
        let groups = claims.get(0);
        self.headers.groups = if groups.is_empty() {
            None
        } else {
            HeaderValue::from_str(&groups.join(",")).ok()
        };
        self.claims = claims;
    }

    /// Whether this identity is one of Gatehouse's own accounts: only those may act on local
    /// accounts (users API, Facebook links), since an external issuer's `sub = "42"` is not
    /// local user 42.
    pub fn is_local(&self) -> bool {
        self.issuer.is_none()
    }

    /// The route's required scopes this identity lacks (empty when all are held).
    pub fn missing_scopes<'r>(&self, required: &'r [String]) -> Vec<&'r str> {
        required
            .iter()
            .filter(|r| !self.scopes.iter().any(|s| s == *r))
            .map(String::as_str)
            .collect()
    }
}
