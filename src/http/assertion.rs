//! The signed identity assertion (`[assertion]`): a short-lived JWT about the caller, signed
//! with Gatehouse's active key, in one request header to the upstreams of the routes that ask
//! for it. Upstreams verify it with the published JWKS instead of trusting plain identity
//! headers. A signed assertion is reused for half its lifetime per (audience, identity), so
//! the hot path signs once per identity every `ttl / 2`, not per request. A client-sent header
//! of that name never reaches an upstream, assertions on or off.

use super::HeadEdit;
use crate::auth::Identity;
use crate::config::{Config, RouteTarget, DEFAULT_ASSERTION_HEADER};
use crate::signing::{new_jti, KeySet};
use http::header::{HeaderName, HeaderValue};
use std::sync::Arc;
use std::time::Duration;

/// The `typ` of assertions (RFC 8725 §3.11): never mistaken for an access token (`at+jwt`).
pub const ASSERTION_TYP: &str = "gatehouse-assertion+jwt";

pub struct Assertions {
    header: HeaderName,
    /// The header name as a client might spell it with `_` (folded into `-` by some servers).
    underscored: Option<HeaderName>,
    signer: Option<Signer>,
}

struct Signer {
    keys: Arc<KeySet>,
    ttl: Duration,
    /// Per route index: the `aud` of its assertion, `None` for routes without one.
    audiences: Vec<Option<Arc<str>>>,
    /// (audience, identity) → the signed header value.
    cache: moka::sync::Cache<String, HeaderValue>,
}

#[derive(serde::Serialize)]
struct Claims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    iat: i64,
    exp: i64,
    jti: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_id: Option<&'a str>,
    scope: &'a str,
    /// The external issuer that vouched for `sub` (`[jwt]` tokens); absent for our own users.
    #[serde(skip_serializing_if = "Option::is_none")]
    idp: Option<&'a str>,
}

impl Assertions {
    pub fn new(config: &Config) -> Assertions {
        let a = config.assertion.as_ref();
        let header = a
            .map(|a| a.header.clone())
            .unwrap_or(HeaderName::from_static(DEFAULT_ASSERTION_HEADER));
        let underscored = HeaderName::from_bytes(header.as_str().replace('-', "_").as_bytes())
            .ok()
            .filter(|h| *h != header);
        let signer = a.map(|a| Signer {
            keys: a.keys.clone(),
            ttl: a.ttl,
            audiences: config
                .routes
                .iter()
                .map(|r| match (&r.assertion_audience, &r.target) {
                    (Some(aud), _) => Some(Arc::from(aud.as_str())),
                    (None, RouteTarget::Upstream(i)) if a.all_routes && !r.assertion_off => {
                        config.upstreams.get(*i).map(|u| Arc::from(u.name.as_str()))
                    }
                    _ => None,
                })
                .collect(),
            cache: moka::sync::Cache::builder()
                .max_capacity(config.cache.max_entries)
                .time_to_live(a.ttl / 2)
                .build(),
        });
        Assertions {
            header,
            underscored,
            signer,
        }
    }

    /// Removes any client-sent assertion, then adds ours when the route takes one and the
    /// request has an identity. A signing failure sends none (and is logged): the upstream
    /// then refuses, as it would an unauthenticated request.
    pub fn apply<H: HeadEdit + ?Sized>(
        &self,
        req: &mut H,
        route: Option<usize>,
        identity: Option<&Identity>,
    ) {
        req.unset(&self.header);
        if let Some(u) = &self.underscored {
            req.unset(u);
        }
        let (Some(signer), Some(route), Some(identity)) = (&self.signer, route, identity) else {
            return;
        };
        let Some(Some(audience)) = signer.audiences.get(route) else {
            return;
        };
        match signer.assertion(audience, identity) {
            Some(value) => {
                req.set(&self.header, value);
            }
            None => tracing::error!(audience = &**audience, "identity assertion: signing failed"),
        }
    }
}

impl Signer {
    fn assertion(&self, audience: &str, identity: &Identity) -> Option<HeaderValue> {
        let sub = identity.user_id().or(identity.client_id())?;
        let scope = identity.scope_string();
        let idp = identity.issuer();
        let client_id = identity.client_id();
        // Every claim but the times and the jti: what one cached value may stand for.
        let key = format!(
            "{audience}\n{sub}\n{}\n{scope}\n{}",
            client_id.unwrap_or(""),
            idp.unwrap_or("")
        );
        if let Some(v) = self.cache.get(&key) {
            return Some(v);
        }
        let now = crate::store::now_unix();
        let claims = Claims {
            iss: &self.keys.issuer,
            sub,
            aud: audience,
            iat: now,
            exp: now + self.ttl.as_secs() as i64,
            jti: new_jti(),
            client_id,
            scope,
            idp,
        };
        let token = self.keys.sign(ASSERTION_TYP, &claims).ok()?;
        let value = HeaderValue::from_str(&token).ok()?;
        self.cache.insert(key, value.clone());
        Some(value)
    }
}
