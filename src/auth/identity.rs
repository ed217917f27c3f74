//! Who a valid token speaks for, kept small because the cache holds one per token (issue 14:
//! 100,000 of them). The per-token part is the user id and name, in one buffer; the client id,
//! scope set, issuer and claims are shared with every other identity that has the same value
//! (`intern`), their header values built once. The user's header values are slices of the one
//! buffer, so a cache hit allocates nothing and formats nothing.

use super::intern::Interner;
use super::ClaimValues;
use crate::store::StoredAccessToken;
use bytes::Bytes;
use http::HeaderValue;
use std::sync::{Arc, LazyLock};

#[derive(Debug)]
pub struct Identity {
    /// `user_id` then `user_name`, back to back.
    text: Bytes,
    /// Where `user_id` ends in `text`.
    split: u32,
    /// Which of `user_id` (bit 0) and `user_name` (bit 1) is present (either may be empty).
    present: u8,
    pub admin: bool,
    /// Unix seconds.
    pub expires_at: i64,
    client_id: Option<Arc<SharedText>>,
    scopes: Arc<ScopeSet>,
    /// A JWT's `iss`; `None` for Gatehouse's own tokens, so an external issuer's `sub` can
    /// never pass for a local user in a policy.
    issuer: Option<Arc<SharedText>>,
    /// `groups`, `roles` and the claims policies name (`Config::claims`); none for most tokens.
    claims: Option<Arc<ClaimSet>>,
}

/// What an identity is built from (a store row, a JWT's claims, a session).
#[derive(Debug, Default)]
pub struct IdentityParts<'a> {
    pub user_id: Option<&'a str>,
    pub user_name: Option<&'a str>,
    pub client_id: Option<&'a str>,
    /// Space-separated.
    pub scopes: &'a str,
    pub admin: bool,
    pub issuer: Option<&'a str>,
    pub claims: ClaimValues,
    /// Unix seconds.
    pub expires_at: i64,
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

/// A client id or issuer, shared by every identity that names it.
#[derive(Debug)]
struct SharedText {
    text: Box<str>,
    /// `None` when the text cannot be a header value (control characters): left out, never
    /// passed raw.
    header: Option<HeaderValue>,
}

#[derive(Debug)]
struct ScopeSet {
    list: Box<[Box<str>]>,
    /// The scopes joined by one space: the header, the assertion and introspection show this.
    joined: Box<str>,
    header: Option<HeaderValue>,
}

#[derive(Debug)]
struct ClaimSet {
    values: ClaimValues,
    /// The first of `Config::claims` (`groups`), comma-separated.
    groups: Option<HeaderValue>,
}

static TEXTS: LazyLock<Interner<Box<str>, SharedText>> = LazyLock::new(Interner::new);
static SCOPES: LazyLock<Interner<Box<str>, ScopeSet>> = LazyLock::new(Interner::new);
static CLAIMS: LazyLock<Interner<ClaimValues, ClaimSet>> = LazyLock::new(Interner::new);
static NO_CLAIMS: ClaimValues = ClaimValues::EMPTY;

const USER_ID: u8 = 1;
const USER_NAME: u8 = 2;

fn shared_text(text: &str) -> Arc<SharedText> {
    TEXTS.get(
        text,
        || text.into(),
        || SharedText {
            text: text.into(),
            header: HeaderValue::from_str(text).ok(),
        },
    )
}

fn scope_set(scopes: &str) -> Arc<ScopeSet> {
    let joined = scopes.split_whitespace().collect::<Vec<_>>().join(" ");
    SCOPES.get(
        joined.as_str(),
        || joined.as_str().into(),
        || ScopeSet {
            list: joined
                .split(' ')
                .filter(|s| !s.is_empty())
                .map(Into::into)
                .collect(),
            header: HeaderValue::from_str(&joined).ok(),
            joined: joined.as_str().into(),
        },
    )
}

fn claim_set(values: ClaimValues) -> Option<Arc<ClaimSet>> {
    if values == ClaimValues::EMPTY {
        return None;
    }
    Some(CLAIMS.get(
        &values,
        || values.clone(),
        || {
            let groups = values.get(0);
            ClaimSet {
                groups: match groups.is_empty() {
                    true => None,
                    false => HeaderValue::from_str(&groups.join(",")).ok(),
                },
                values: values.clone(),
            }
        },
    ))
}

impl Identity {
    pub fn new(p: IdentityParts<'_>) -> Identity {
        let (uid, uname) = (p.user_id.unwrap_or(""), p.user_name.unwrap_or(""));
        // Exactly sized, so `Bytes` keeps this one allocation.
        let mut text = Vec::with_capacity(uid.len() + uname.len());
        text.extend_from_slice(uid.as_bytes());
        text.extend_from_slice(uname.as_bytes());
        let present =
            (p.user_id.is_some() as u8 * USER_ID) | (p.user_name.is_some() as u8 * USER_NAME);
        Identity {
            text: Bytes::from(text),
            // Token and claim sizes are bounded far below 4 GiB; saturating keeps it total.
            split: u32::try_from(uid.len()).unwrap_or(u32::MAX),
            present,
            admin: p.admin,
            expires_at: p.expires_at,
            client_id: p.client_id.map(shared_text),
            scopes: scope_set(p.scopes),
            issuer: p.issuer.map(shared_text),
            claims: claim_set(p.claims),
        }
    }

    pub fn from_stored(t: &StoredAccessToken) -> Identity {
        // A local token's groups; `groups` is the first of `Config::claims` (STANDARD_CLAIMS).
        let groups: Vec<String> = t.groups.split_whitespace().map(str::to_string).collect();
        Identity::new(IdentityParts {
            user_id: t.user_id.as_deref(),
            user_name: t.user_name.as_deref(),
            client_id: t.client_id.as_deref(),
            scopes: &t.scopes,
            admin: t.admin,
            issuer: None,
            claims: ClaimValues::from_lists(vec![groups]),
            expires_at: t.expires_at,
        })
    }

    fn range(&self, which: u8) -> Option<std::ops::Range<usize>> {
        let split = (self.split as usize).min(self.text.len());
        match which {
            USER_ID => (self.present & USER_ID != 0).then_some(0..split),
            _ => (self.present & USER_NAME != 0).then_some(split..self.text.len()),
        }
    }

    fn text(&self, which: u8) -> Option<&str> {
        // Built from two `&str`s split at a char boundary: never fails.
        self.range(which)
            .and_then(|r| std::str::from_utf8(&self.text[r]).ok())
    }

    pub fn user_id(&self) -> Option<&str> {
        self.text(USER_ID)
    }

    pub fn user_name(&self) -> Option<&str> {
        self.text(USER_NAME)
    }

    pub fn client_id(&self) -> Option<&str> {
        self.client_id.as_deref().map(|c| &*c.text)
    }

    pub fn issuer(&self) -> Option<&str> {
        self.issuer.as_deref().map(|i| &*i.text)
    }

    pub fn scopes(&self) -> &[Box<str>] {
        &self.scopes.list
    }

    /// The scopes joined by one space.
    pub fn scope_string(&self) -> &str {
        &self.scopes.joined
    }

    pub fn claims(&self) -> &ClaimValues {
        self.claims.as_deref().map_or(&NO_CLAIMS, |c| &c.values)
    }

    /// The values to send upstream: slices of this identity's buffer and the shared values'
    /// prebuilt headers, so this copies no bytes.
    pub fn headers(&self) -> IdentityHeaderValues {
        let user = |which| {
            self.range(which)
                .and_then(|r| HeaderValue::from_maybe_shared(self.text.slice(r)).ok())
        };
        IdentityHeaderValues {
            user_id: user(USER_ID),
            user_name: user(USER_NAME),
            scopes: self.scopes.header.clone(),
            client_id: self.client_id.as_ref().and_then(|c| c.header.clone()),
            groups: self.claims.as_ref().and_then(|c| c.groups.clone()),
            issuer: self.issuer.as_ref().and_then(|i| i.header.clone()),
        }
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
            .filter(|r| !self.scopes().iter().any(|s| **s == ***r))
            .map(String::as_str)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_what_identities_have_in_common_and_keeps_the_rest() {
        let parts = |uid: &'static str| IdentityParts {
            user_id: Some(uid),
            user_name: Some("ann"),
            client_id: Some("app"),
            scopes: " read  write ",
            claims: ClaimValues::from_lists(vec![vec!["a".into(), "b".into()]]),
            expires_at: 9,
            ..Default::default()
        };
        let (a, b) = (Identity::new(parts("1")), Identity::new(parts("2")));
        assert!(Arc::ptr_eq(&a.scopes, &b.scopes));
        assert!(Arc::ptr_eq(
            a.client_id.as_ref().unwrap(),
            b.client_id.as_ref().unwrap()
        ));
        assert!(Arc::ptr_eq(
            a.claims.as_ref().unwrap(),
            b.claims.as_ref().unwrap()
        ));
        assert_eq!(
            (a.user_id(), a.user_name(), b.user_id()),
            (Some("1"), Some("ann"), Some("2"))
        );
        assert_eq!(a.scope_string(), "read write");
        assert_eq!(a.scopes(), &["read".into(), "write".into()] as &[Box<str>]);
        let h = a.headers();
        assert_eq!(h.user_id.unwrap(), "1");
        assert_eq!(h.user_name.unwrap(), "ann");
        assert_eq!(h.scopes.unwrap(), "read write");
        assert_eq!(h.groups.unwrap(), "a,b");
        assert!(h.issuer.is_none() && a.is_local());
    }

    #[test]
    fn absent_empty_and_unsendable_values_stay_distinct() {
        let id = Identity::new(IdentityParts {
            user_id: Some(""),
            user_name: Some("bad\nname"),
            issuer: Some("https://idp.example"),
            ..Default::default()
        });
        assert_eq!(id.user_id(), Some(""));
        assert_eq!(id.user_name(), Some("bad\nname"));
        assert_eq!(id.client_id(), None);
        let h = id.headers();
        assert_eq!(h.user_id.unwrap(), "");
        assert!(h.user_name.is_none(), "a control character is never sent");
        assert_eq!(h.scopes.unwrap(), "");
        assert_eq!(h.issuer.unwrap(), "https://idp.example");
        assert!(!id.is_local());
        let none = Identity::new(IdentityParts::default());
        assert_eq!((none.user_id(), none.user_name()), (None, None));
        assert!(none.headers().user_id.is_none());
    }
}
