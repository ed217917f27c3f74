//! The typed requests of the authorization server's JSON endpoints, read once by
//! `http::params` (form or JSON, repeats refused), and HTTP Basic client credentials
//! (RFC 6749 §2.3.1). Parameters stay optional here so that each endpoint checks them in the
//! order its RFC answers errors (grant type, then client, then the grant's own parameters).

use crate::http::ApiError;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use http::HeaderMap;
use serde::Deserialize;

/// Client credentials in the body (`client_secret_post`, or a public client's `client_id`).
#[derive(Debug, Default, Deserialize)]
pub struct ClientCredentials {
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
}

/// The resource owner's credentials (password grant, and seed 001's legacy login).
#[derive(Debug, Default, Deserialize)]
pub struct PasswordCredentials {
    pub username: Option<String>,
    pub password: Option<String>,
    pub scope: Option<String>,
}

/// `POST /oauth/token`: which parameters are required depends on `grant_type`.
#[derive(Debug, Default, Deserialize)]
pub struct TokenRequest {
    pub grant_type: Option<String>,
    #[serde(flatten)]
    pub client: ClientCredentials,
    #[serde(flatten)]
    pub owner: PasswordCredentials,
    pub code: Option<String>,
    pub redirect_uri: Option<String>,
    pub code_verifier: Option<String>,
    pub refresh_token: Option<String>,
}

/// `POST /oauth/revoke` (RFC 7009) and `POST /oauth/introspect` (RFC 7662).
#[derive(Debug, Default, Deserialize)]
pub struct TokenReference {
    #[serde(flatten)]
    pub client: ClientCredentials,
    pub token: Option<String>,
}

/// `POST /oauth/authorize` with `grant_type=password` (seed 001): no client secret.
#[derive(Debug, Default, Deserialize)]
pub struct LegacyPasswordRequest {
    pub grant_type: Option<String>,
    pub client_id: Option<String>,
    #[serde(flatten)]
    pub owner: PasswordCredentials,
}

/// A parameter the endpoint cannot do without.
pub fn required<'a>(value: &'a Option<String>, name: &str) -> Result<&'a str, ApiError> {
    value
        .as_deref()
        .ok_or_else(|| ApiError::InvalidRequest(format!("missing parameter `{name}`")))
}

/// Client credentials from `Authorization: Basic` (RFC 6749 §2.3.1: each part form-urlencoded).
/// `Ok(None)` when the header is absent or another scheme.
pub fn basic_credentials(headers: &HeaderMap) -> Result<Option<(String, String)>, ApiError> {
    let Some(value) = headers.get(http::header::AUTHORIZATION) else {
        return Ok(None);
    };
    let text = value.to_str().map_err(|_| ApiError::InvalidClient)?;
    let Some((scheme, rest)) = text.split_once(' ') else {
        return Ok(None);
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Ok(None);
    }
    let decoded = STANDARD
        .decode(rest.trim())
        .map_err(|_| ApiError::InvalidClient)?;
    let decoded = String::from_utf8(decoded).map_err(|_| ApiError::InvalidClient)?;
    let (id, secret) = decoded.split_once(':').ok_or(ApiError::InvalidClient)?;
    let unescape = |s: &str| -> String {
        url::form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    Ok(Some((unescape(id), unescape(secret))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn token_requests_read_from_form_or_json() {
        use crate::http::Params;
        let mut h = HeaderMap::new();
        h.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        let p = Params::from_body(
            &h,
            br#"{"grant_type":"password","client_id":"c","username":"u","password":"p","scope":""}"#,
        )
        .unwrap();
        let t: TokenRequest = p.parse().unwrap();
        assert_eq!(t.grant_type.as_deref(), Some("password"));
        assert_eq!(t.client.client_id.as_deref(), Some("c"));
        assert_eq!(t.owner.username.as_deref(), Some("u"));
        assert_eq!(t.owner.scope, None);
        assert!(required(&t.code, "code").is_err());
    }

    #[test]
    fn basic_credentials_are_unescaped() {
        let mut h = HeaderMap::new();
        let v = STANDARD.encode("my%20client:s%3Acret");
        h.insert(
            http::header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Basic {v}")).unwrap(),
        );
        assert_eq!(
            basic_credentials(&h).unwrap(),
            Some(("my client".into(), "s:cret".into()))
        );
        h.insert(
            http::header::AUTHORIZATION,
            HeaderValue::from_static("Basic !!!"),
        );
        assert!(basic_credentials(&h).is_err());
        h.insert(
            http::header::AUTHORIZATION,
            HeaderValue::from_static("Bearer abc"),
        );
        assert_eq!(basic_credentials(&h).unwrap(), None);
    }
}
