//! `[sessions]`: the browser sessions of routes with `on_missing = "sign_in"`: the cookie's
//! name and the session's absolute and idle lifetimes.

use super::raw::RawSessions;
use super::{Problems, ServerConfig};
use std::time::Duration;

pub const DEFAULT_COOKIE_NAME: &str = "gatehouse-session";
/// Browsers cap a cookie's lifetime at 400 days (RFC 6265bis §5.5).
const MAX_TTL: Duration = Duration::from_secs(400 * 86_400);

#[derive(Debug, Clone, PartialEq)]
pub struct SessionsConfig {
    /// The name as sent: `__Host-` + the configured name when `secure`.
    pub cookie_name: String,
    /// `server.public_url` is https: the cookie is `Secure` and `__Host-` prefixed.
    pub secure: bool,
    /// Absolute lifetime from sign-in.
    pub ttl: Duration,
    /// A session unused for this long ends.
    pub idle_ttl: Duration,
    /// `[sessions]` is written in the config: the authorization server's sign-in form then
    /// starts a session too, so later authorization requests skip it (single sign-on).
    pub declared: bool,
}

impl SessionsConfig {
    /// How often a session's last use is written to the store: often enough that the idle
    /// lifetime is kept to within a tenth of it, rarely enough that a busy session costs one
    /// write a minute at most.
    pub fn touch_interval(&self) -> Duration {
        (self.idle_ttl / 10).clamp(Duration::from_secs(1), Duration::from_secs(60))
    }
}

/// An RFC 6265 cookie-name token, without the prefixes we add ourselves.
fn is_cookie_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

pub(super) fn validate_sessions(
    p: &mut Problems,
    raw: RawSessions,
    server: Option<&ServerConfig>,
    declared: bool,
) -> SessionsConfig {
    let name = raw
        .cookie_name
        .unwrap_or_else(|| DEFAULT_COOKIE_NAME.to_string());
    if !is_cookie_name(&name) {
        p.push(format!(
            "sessions.cookie_name: `{}` must be 1–64 characters of A–Z, a–z, 0–9, `-`, `_`, `.`",
            name.escape_debug()
        ));
    } else if name.starts_with("__") {
        p.push(format!(
            "sessions.cookie_name: `{name}`: give the name without a `__` prefix (`__Host-` is added when server.public_url is https)"
        ));
    } else if name == "gatehouse-authz" {
        p.push("sessions.cookie_name: `gatehouse-authz` is the sign-in form's own cookie".into());
    }
    let ttl = p.duration(
        "sessions.ttl",
        raw.ttl.as_deref(),
        Duration::from_secs(12 * 3600),
    );
    let idle_ttl = p.duration(
        "sessions.idle_ttl",
        raw.idle_ttl.as_deref(),
        Duration::from_secs(3600).min(ttl),
    );
    if !(Duration::from_secs(1)..=MAX_TTL).contains(&ttl) {
        p.push("sessions.ttl: must be between 1s and 400d".into());
    }
    if idle_ttl < Duration::from_secs(1) || idle_ttl > ttl {
        p.push("sessions.idle_ttl: must be at least 1s and at most sessions.ttl".into());
    }
    let secure = server.is_some_and(|s| s.public_url.scheme() == "https");
    SessionsConfig {
        cookie_name: if secure {
            format!("__Host-{name}")
        } else {
            name
        },
        secure,
        ttl,
        idle_ttl,
        declared,
    }
}
