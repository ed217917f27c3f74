//! Validation of the `[facebook]` section: app credentials, Facebook's URLs, scopes, the
//! integrator origins allow-list and the key that encrypts stored Facebook tokens.

use super::raw::RawFacebook;
use super::secret::parse_key;
use super::{Problems, SecretString};
use std::time::Duration;
use url::Url;

#[derive(Debug, Clone)]
pub struct FacebookConfig {
    pub app_id: String,
    pub app_secret: SecretString,
    pub dialog_url: Url,
    pub graph_url: Url,
    pub api_version: String,
    pub scopes: Vec<String>,
    /// Exact origins (scheme://host[:port]) integrators may be sent back to.
    pub integrator_origins: Vec<String>,
    /// The seeds passed Facebook's token to the integrator; off unless asked for.
    pub return_token_to_integrator: bool,
    /// ChaCha20-Poly1305 key for Facebook tokens at rest.
    pub token_key: [u8; 32],
    pub timeout: Duration,
    pub max_pages: usize,
    pub state_ttl: Duration,
}

/// An origin integrators may name: https, or http on a loopback host (development).
pub fn origin_problem(origin: &str) -> Option<&'static str> {
    let Ok(url) = Url::parse(origin) else {
        return Some("is not an absolute URL");
    };
    if url.origin().ascii_serialization() != origin {
        return Some("must be an origin like https://app.example.com (no path, no trailing slash)");
    }
    match (url.scheme(), url.host_str()) {
        ("https", _) => None,
        ("http", Some("localhost" | "127.0.0.1" | "[::1]")) => None,
        _ => Some("must use https (http only on localhost)"),
    }
}

pub(super) fn validate_facebook(p: &mut Problems, raw: RawFacebook) -> Option<FacebookConfig> {
    if raw.app_id.is_empty() || !raw.app_id.bytes().all(|b| b.is_ascii_digit()) {
        p.push("facebook.app_id: must be the numeric app id".into());
    }
    let app_secret = match p.secret(
        "facebook.app_secret",
        raw.app_secret.as_deref(),
        raw.app_secret_file.as_deref(),
    ) {
        Ok(Some(s)) if s.expose().len() >= 16 => Some(s),
        Ok(Some(_)) => {
            p.push("facebook.app_secret: too short to be an app secret".into());
            None
        }
        Ok(None) => {
            p.push("facebook.app_secret: required (or app_secret_file)".into());
            None
        }
        Err(e) => {
            p.push(e);
            None
        }
    };
    let token_key = match p.secret(
        "facebook.token_encryption_key",
        raw.token_encryption_key.as_deref(),
        raw.token_encryption_key_file.as_deref(),
    ) {
        Ok(Some(k)) => match parse_key(k.expose()) {
            Some(key) => Some(key),
            None => {
                p.push("facebook.token_encryption_key: must be 32 bytes, base64 or 64 hex digits (e.g. `openssl rand -base64 32`)".into());
                None
            }
        },
        Ok(None) => {
            p.push(
                "facebook.token_encryption_key: required: Facebook tokens are stored encrypted"
                    .into(),
            );
            None
        }
        Err(e) => {
            p.push(e);
            None
        }
    };
    let mut url = |key: &str, value: Option<String>, default: &str| -> Option<Url> {
        let text = value.unwrap_or_else(|| default.to_string());
        match Url::parse(&text) {
            Ok(u) if u.scheme() == "https" => Some(u),
            // The app secret (appsecret_proof, code exchange) travels to these: plain http
            // only to this machine, for a local stand-in of Facebook.
            Ok(u) if u.scheme() == "http" && is_loopback(&u) => Some(u),
            Ok(u) if u.scheme() == "http" => {
                p.push(format!(
                    "facebook.{key}: `{text}` must be https (plain http only on loopback)"
                ));
                None
            }
            _ => {
                p.push(format!("facebook.{key}: `{text}` is not an http(s) URL"));
                None
            }
        }
    };
    let dialog_url = url("dialog_url", raw.dialog_url, "https://www.facebook.com");
    let graph_url = url("graph_url", raw.graph_url, "https://graph.facebook.com");
    let api_version = raw.api_version.unwrap_or_else(|| "v21.0".into());
    let version_ok = api_version
        .strip_prefix('v')
        .and_then(|v| v.split_once('.'))
        .is_some_and(|(a, b)| {
            !a.is_empty()
                && !b.is_empty()
                && (a.to_string() + b).bytes().all(|c| c.is_ascii_digit())
        });
    if !version_ok {
        p.push(format!(
            "facebook.api_version: `{api_version}` is not like v21.0"
        ));
    }
    let scopes = raw.scopes.unwrap_or_else(|| {
        vec![
            "pages_show_list".into(),
            "pages_manage_posts".into(),
            "ads_management".into(),
        ]
    });
    for (i, s) in scopes.iter().enumerate() {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
            p.push(format!(
                "facebook.scopes[{i}]: `{s}` is not a Facebook permission name"
            ));
        }
    }
    if raw.integrator_origins.is_empty() {
        p.push("facebook.integrator_origins: list the origins users may be sent back to".into());
    }
    for (i, o) in raw.integrator_origins.iter().enumerate() {
        if let Some(problem) = origin_problem(o) {
            p.push(format!("facebook.integrator_origins[{i}]: `{o}` {problem}"));
        }
    }
    let timeout = p.duration(
        "facebook.timeout",
        raw.timeout.as_deref(),
        Duration::from_secs(10),
    );
    let state_ttl = p.duration(
        "facebook.state_ttl",
        raw.state_ttl.as_deref(),
        Duration::from_secs(600),
    );
    if state_ttl > Duration::from_secs(600) {
        p.push("facebook.state_ttl: at most 10m".into());
    }
    Some(FacebookConfig {
        app_id: raw.app_id,
        app_secret: app_secret?,
        dialog_url: dialog_url?,
        graph_url: graph_url?,
        api_version,
        scopes,
        integrator_origins: raw.integrator_origins,
        return_token_to_integrator: raw.return_token_to_integrator.unwrap_or(false),
        token_key: token_key?,
        timeout,
        max_pages: raw.max_pages.unwrap_or(10).max(1),
        state_ttl,
    })
}

fn is_loopback(u: &Url) -> bool {
    match u.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d == "localhost",
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_and_keys() {
        assert!(origin_problem("https://btask.example.net").is_none());
        assert!(origin_problem("http://localhost:3000").is_none());
        for bad in [
            "http://btask.example.net",
            "https://a.example/",
            "https://a.example/x",
            "javascript:x",
            "a.example",
        ] {
            assert!(origin_problem(bad).is_some(), "{bad}");
        }
        assert!(parse_key(&"ab".repeat(32)).is_some());
        use base64::Engine;
        assert!(parse_key(&base64::engine::general_purpose::STANDARD.encode([7u8; 32])).is_some());
        assert!(parse_key("short").is_none());
    }
}
