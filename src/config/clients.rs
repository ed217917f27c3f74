//! Validation of the `[oauth]` section and the `[[clients]]` registry.

use super::raw::{OneOf, RawClient, RawOAuth};
use super::{is_scope_token, Problems, SecretString};
use serde::de::{value::StrDeserializer, IntoDeserializer};
use serde::Deserialize;
use std::collections::HashSet;
use std::time::Duration;
use url::Url;

#[derive(Debug, Clone)]
pub struct OAuthConfig {
    /// Authorization code lifetime (60 s–10 min).
    pub code_ttl: Duration,
    /// How long a sign-in/consent page stays usable.
    pub sign_in_ttl: Duration,
    /// Mount `POST /sign-up` and the admin `/users` API.
    pub users_api: bool,
    pub max_concurrent_hashes: usize,
    pub lockout: LockoutConfig,
    pub sign_up: SignUpLimits,
}

/// How many accounts may be created per window, per client address and per client: sign-up
/// is an unauthenticated write that costs an argon2 hash.
#[derive(Debug, Clone)]
pub struct SignUpLimits {
    pub max_per_address: u32,
    pub max_per_client: u32,
    pub window: Duration,
}

#[derive(Debug, Clone)]
pub struct LockoutConfig {
    /// Per account or client.
    pub max_failures: u32,
    /// Per client address. Much larger than per account: behind a NAT or an ingress many
    /// users share one address, and one of them must not lock out the rest.
    pub max_failures_per_address: u32,
    pub window: Duration,
    pub ban: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantType {
    Password,
    AuthorizationCode,
    RefreshToken,
    ClientCredentials,
}

impl GrantType {
    /// The grant a `grant_type` value names, spelled as in the config file (serde's names).
    pub fn parse(s: &str) -> Option<GrantType> {
        let text: StrDeserializer<'_, serde::de::value::Error> = s.into_deserializer();
        GrantType::deserialize(text).ok()
    }
    pub fn as_str(self) -> &'static str {
        match self {
            GrantType::Password => "password",
            GrantType::AuthorizationCode => "authorization_code",
            GrantType::RefreshToken => "refresh_token",
            GrantType::ClientCredentials => "client_credentials",
        }
    }
}

/// How a client proves itself: a secret from env/file, the SHA-256 of a generated secret, an
/// argon2 hash, or nothing (public).
#[derive(Debug, Clone)]
pub enum ClientSecretConfig {
    Public,
    Plain(SecretString),
    /// `secret_hash = "sha256:<hex>"`, from `gatehouse client-secret`: for secrets of 256
    /// random bits, where a slow hash would add cost and no safety (RFC 6749 §2.3.1).
    Sha256([u8; 32]),
    /// An argon2id PHC string (`gatehouse hash-secret`), for secrets a person chose.
    Hash(String),
}

/// The prefix of a `secret_hash` that is a SHA-256 digest.
pub const SHA256_SECRET_PREFIX: &str = "sha256:";

/// `sha256:` and 64 hex digits, or an argon2id PHC string; `None` for anything else.
pub fn parse_secret_hash(text: &str) -> Option<ClientSecretConfig> {
    if let Some(hex_digest) = text.strip_prefix(SHA256_SECRET_PREFIX) {
        let mut digest = [0u8; 32];
        return hex::decode_to_slice(hex_digest, &mut digest)
            .ok()
            .map(|()| ClientSecretConfig::Sha256(digest));
    }
    argon2::PasswordHash::new(text)
        .is_ok_and(|ph| ph.algorithm.as_str() == "argon2id")
        .then(|| ClientSecretConfig::Hash(text.to_string()))
}

#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub id: String,
    pub name: String,
    pub secret: ClientSecretConfig,
    pub redirect_uris: Vec<String>,
    /// Where RP-initiated logout may send the browser afterwards (exact match).
    pub post_logout_redirect_uris: Vec<String>,
    pub grant_types: Vec<GrantType>,
    /// Scopes the client may ask for; `None` = any.
    pub scopes: Option<Vec<String>>,
    pub admin: bool,
    /// Legacy clients may use the password grant and `plain` PKCE.
    pub legacy: bool,
    /// A resource server: may introspect tokens issued to other clients.
    pub introspect: bool,
}

pub(super) fn validate_oauth(p: &mut Problems, raw: RawOAuth) -> OAuthConfig {
    let code_ttl = p.duration(
        "oauth.code_ttl",
        raw.code_ttl.as_deref(),
        Duration::from_secs(60),
    );
    if !(Duration::from_secs(60)..=Duration::from_secs(600)).contains(&code_ttl) {
        p.push("oauth.code_ttl: must be between 60s and 10m".into());
    }
    let max_failures = raw.lockout.max_failures.unwrap_or(5);
    if max_failures == 0 {
        p.push("oauth.lockout.max_failures: must be at least 1".into());
    }
    let max_failures_per_address = raw
        .lockout
        .max_failures_per_address
        .unwrap_or_else(|| max_failures.saturating_mul(10));
    if max_failures_per_address < max_failures {
        p.push(
            "oauth.lockout.max_failures_per_address: must be at least oauth.lockout.max_failures"
                .into(),
        );
    }
    let sign_up = SignUpLimits {
        max_per_address: raw.sign_up.max_per_address.unwrap_or(20),
        max_per_client: raw.sign_up.max_per_client.unwrap_or(1000),
        window: p.duration(
            "oauth.sign_up.window",
            raw.sign_up.window.as_deref(),
            Duration::from_secs(3600),
        ),
    };
    if sign_up.max_per_address == 0 {
        p.push("oauth.sign_up.max_per_address: must be at least 1".into());
    }
    if sign_up.max_per_client == 0 {
        p.push("oauth.sign_up.max_per_client: must be at least 1".into());
    }
    let max_concurrent_hashes = raw.max_concurrent_hashes.unwrap_or(4);
    if max_concurrent_hashes == 0 {
        p.push("oauth.max_concurrent_hashes: must be at least 1".into());
    }
    OAuthConfig {
        code_ttl,
        sign_in_ttl: p.duration(
            "oauth.sign_in_ttl",
            raw.sign_in_ttl.as_deref(),
            Duration::from_secs(600),
        ),
        users_api: raw.users_api.unwrap_or(true),
        max_concurrent_hashes,
        sign_up,
        lockout: LockoutConfig {
            max_failures,
            max_failures_per_address,
            window: p.duration(
                "oauth.lockout.window",
                raw.lockout.window.as_deref(),
                Duration::from_secs(300),
            ),
            ban: p.duration(
                "oauth.lockout.ban",
                raw.lockout.ban.as_deref(),
                Duration::from_secs(900),
            ),
        },
    }
}

/// RFC 8252 §7.3 / RFC 9700 §2.1: https, or http on a loopback host; no fragment.
pub fn redirect_uri_problem(uri: &str) -> Option<&'static str> {
    let Ok(url) = Url::parse(uri) else {
        return Some("is not an absolute URL");
    };
    if url.fragment().is_some() {
        return Some("must not have a fragment");
    }
    match url.scheme() {
        "https" => None,
        "http" => match url.host_str() {
            Some("localhost") | Some("127.0.0.1") | Some("[::1]") => None,
            _ => Some("http is only allowed for localhost/loopback"),
        },
        _ => Some("must use https (or http on loopback)"),
    }
}

const MIN_SECRET_LEN: usize = 16;

pub const MAX_CLIENT_ID_LEN: usize = 64;

/// Client ids are shown on the consent page, sent in `X-Auth-Client-Id` and reserved as
/// usernames: plain ASCII, so that none can pass for another (a Cyrillic `а`, an invisible
/// character) and none needs escaping anywhere.
pub fn is_client_id(id: &str) -> bool {
    let mut bytes = id.bytes();
    id.len() <= MAX_CLIENT_ID_LEN
        && bytes.next().is_some_and(|b| b.is_ascii_alphanumeric())
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

pub(super) fn validate_clients(p: &mut Problems, raw: Vec<RawClient>) -> Vec<ClientConfig> {
    let mut seen = HashSet::new();
    let mut clients = Vec::new();
    for (i, c) in raw.into_iter().enumerate() {
        let key = format!("clients[{i}]");
        if !is_client_id(&c.id) {
            p.push(format!(
                "{key}.id: `{}` is not a client id: 1–{MAX_CLIENT_ID_LEN} characters of A–Z, a–z, 0–9, `.`, `_`, `-`, starting with a letter or digit",
                c.id.escape_debug()
            ));
        }
        if !seen.insert(c.id.clone()) {
            p.push(format!("{key}.id: duplicate client `{}`", c.id));
        }
        let secret = match (
            &c.secret_hash,
            p.secret(
                &format!("{key}.secret"),
                c.secret.as_deref(),
                c.secret_file.as_deref(),
            ),
        ) {
            (_, Err(e)) => {
                p.push(e);
                ClientSecretConfig::Public
            }
            (Some(_), Ok(Some(_))) => {
                p.push(format!(
                    "{key}: give secret, secret_file or secret_hash, not several"
                ));
                ClientSecretConfig::Public
            }
            (Some(h), Ok(None)) => match parse_secret_hash(h) {
                Some(parsed) => parsed,
                None => {
                    p.push(format!("{key}.secret_hash: neither `sha256:` and 64 hex digits (`gatehouse client-secret`) nor an argon2id PHC string (`gatehouse hash-secret`)"));
                    ClientSecretConfig::Public
                }
            },
            (None, Ok(Some(s))) => {
                if s.expose().len() < MIN_SECRET_LEN {
                    p.push(format!(
                        "{key}.secret: shorter than {MIN_SECRET_LEN} characters"
                    ));
                }
                ClientSecretConfig::Plain(s)
            }
            (None, Ok(None)) => ClientSecretConfig::Public,
        };
        let grant_types: Vec<GrantType> = match c.grant_types {
            None => vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
            Some(list) => list
                .into_iter()
                .enumerate()
                .filter_map(|(j, g)| match g {
                    OneOf::Known(g) => Some(g),
                    OneOf::Unknown(g) => {
                        p.push(format!("{key}.grant_types[{j}]: unknown grant `{g}`"));
                        None
                    }
                })
                .collect(),
        };
        let public = matches!(secret, ClientSecretConfig::Public);
        if public && grant_types.contains(&GrantType::ClientCredentials) {
            p.push(format!(
                "{key}.grant_types: client_credentials needs a client secret"
            ));
        }
        if grant_types.contains(&GrantType::Password) && !c.legacy {
            p.push(format!(
                "{key}.grant_types: the password grant is only for clients marked `legacy = true`"
            ));
        }
        if c.admin && public {
            p.push(format!(
                "{key}.admin: an admin client needs a secret (it is the admin password)"
            ));
        }
        if grant_types.contains(&GrantType::AuthorizationCode) && c.redirect_uris.is_empty() {
            p.push(format!(
                "{key}.redirect_uris: authorization_code needs at least one"
            ));
        }
        for (j, u) in c.redirect_uris.iter().enumerate() {
            if let Some(problem) = redirect_uri_problem(u) {
                p.push(format!("{key}.redirect_uris[{j}]: `{u}` {problem}"));
            }
        }
        for (j, u) in c.post_logout_redirect_uris.iter().enumerate() {
            if let Some(problem) = redirect_uri_problem(u) {
                p.push(format!(
                    "{key}.post_logout_redirect_uris[{j}]: `{u}` {problem}"
                ));
            }
        }
        if let Some(scopes) = &c.scopes {
            for (j, s) in scopes.iter().enumerate() {
                if !is_scope_token(s) {
                    p.push(format!("{key}.scopes[{j}]: `{s}` is not a valid scope"));
                }
            }
        }
        clients.push(ClientConfig {
            name: c.name.unwrap_or_else(|| c.id.clone()),
            id: c.id,
            secret,
            redirect_uris: c.redirect_uris,
            post_logout_redirect_uris: c.post_logout_redirect_uris,
            grant_types,
            scopes: c.scopes,
            admin: c.admin,
            legacy: c.legacy,
            introspect: c.introspect,
        });
    }
    clients
}

/// What `check-config` and the start warn about without refusing the file: a client that
/// may ask for `openid` on a server with no key to sign ID tokens (its requests get
/// `invalid_scope`).
pub fn openid_warnings(clients: &[ClientConfig], has_signing_keys: bool) -> Vec<String> {
    if has_signing_keys {
        return Vec::new();
    }
    clients
        .iter()
        .enumerate()
        .filter(|(_, c)| c.scopes.as_ref().is_some_and(|s| s.iter().any(|s| s == "openid")))
        .map(|(i, c)| {
            format!(
                "clients[{i}] (`{}`).scopes: `openid` needs [[tokens.signing_keys]]; without them its OpenID requests are refused with invalid_scope",
                c.id
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::{is_client_id, parse_secret_hash, redirect_uri_problem, ClientSecretConfig};

    #[test]
    fn secret_hashes_are_sha256_digests_or_argon2id() {
        let hex_digest = "ab".repeat(32);
        assert!(matches!(
            parse_secret_hash(&format!("sha256:{hex_digest}")),
            Some(ClientSecretConfig::Sha256(d)) if d == [0xab; 32]
        ));
        let argon = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$hQ7ep4VPTpi8zGHCu7H0sBGZKc9fHfoQgyQVYQcHpwo";
        assert!(matches!(
            parse_secret_hash(argon),
            Some(ClientSecretConfig::Hash(_))
        ));
        for bad in [
            "sha256:",
            "sha256:abcd",
            &format!("sha256:{}", "zz".repeat(32)),
            &format!("sha256:{}", "ab".repeat(33)),
            &format!("SHA256:{hex_digest}"),
            &hex_digest,
            "$argon2i$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$hQ7ep4VPTpi8zGHCu7H0sBGZKc9fHfoQgyQVYQcHpwo",
            "plain-secret",
        ] {
            assert!(parse_secret_hash(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn client_ids_are_plain_ascii_identifiers() {
        for good in [
            "demo-app",
            "1bv9sh664cowghktxwn307wpeghj8e1",
            "a",
            "svc.reports_v2",
            &"x".repeat(64),
        ] {
            assert!(is_client_id(good), "{good}");
        }
        for bad in [
            "",
            "-app",
            ".app",
            "my app",
            "app/x",
            "\u{430}pp",
            "app\u{200B}",
            "app:1",
            &"x".repeat(65),
        ] {
            assert!(!is_client_id(bad), "{bad:?}");
        }
    }

    #[test]
    fn redirect_registration_rules() {
        assert!(redirect_uri_problem("https://app.example/cb").is_none());
        assert!(redirect_uri_problem("http://localhost:3000/cb").is_none());
        assert!(redirect_uri_problem("http://127.0.0.1/cb").is_none());
        for bad in [
            "javascript:alert(1)",
            "data:text/html,x",
            "http://app.example/cb",
            "https://a/cb#x",
            "/cb",
            "ftp://a/cb",
        ] {
            assert!(redirect_uri_problem(bad).is_some(), "{bad}");
        }
    }
}
