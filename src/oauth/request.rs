//! Reading OAuth request parameters: form or JSON bodies (the seeds send JSON), HTTP Basic
//! client credentials. Repeated parameters are refused (RFC 6749 §3.1).

use super::OAuthError;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use http::HeaderMap;
use std::collections::HashMap;

#[derive(Debug, Default)]
pub struct Params(HashMap<String, String>);

impl Params {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    pub fn require(&self, name: &str) -> Result<&str, OAuthError> {
        self.get(name)
            .ok_or_else(|| OAuthError::InvalidRequest(format!("missing parameter `{name}`")))
    }

    pub fn from_query(query: Option<&str>) -> Result<Params, OAuthError> {
        from_pairs(url::form_urlencoded::parse(query.unwrap_or("").as_bytes()).into_owned())
    }

    /// Parses a body by its content type; an empty body gives no parameters.
    pub fn from_body(headers: &HeaderMap, body: &[u8]) -> Result<Params, OAuthError> {
        let content_type = headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if body.is_empty() {
            return Ok(Params::default());
        }
        match content_type.as_str() {
            "application/x-www-form-urlencoded" => {
                from_pairs(url::form_urlencoded::parse(body).into_owned())
            }
            "application/json" => {
                let value: serde_json::Value = serde_json::from_slice(body)
                    .map_err(|_| OAuthError::InvalidRequest("the body is not valid JSON".into()))?;
                let object = value.as_object().ok_or_else(|| {
                    OAuthError::InvalidRequest("the JSON body must be an object".into())
                })?;
                let mut map = HashMap::new();
                for (k, v) in object {
                    let text = match v {
                        serde_json::Value::String(s) => s.clone(),
                        serde_json::Value::Number(n) => n.to_string(),
                        serde_json::Value::Bool(b) => b.to_string(),
                        serde_json::Value::Null => continue,
                        _ => {
                            return Err(OAuthError::InvalidRequest(format!(
                                "`{k}` must be a string"
                            )))
                        }
                    };
                    map.insert(k.clone(), text);
                }
                Ok(Params(map))
            }
            _ => Err(OAuthError::UnsupportedMediaType),
        }
    }
}

fn from_pairs(pairs: impl Iterator<Item = (String, String)>) -> Result<Params, OAuthError> {
    let mut map = HashMap::new();
    for (k, v) in pairs {
        if map.insert(k.clone(), v).is_some() {
            return Err(OAuthError::InvalidRequest(format!(
                "parameter `{k}` is repeated"
            )));
        }
    }
    Ok(Params(map))
}

/// Client credentials from `Authorization: Basic` (RFC 6749 §2.3.1: each part form-urlencoded).
/// `Ok(None)` when the header is absent or another scheme.
pub fn basic_credentials(headers: &HeaderMap) -> Result<Option<(String, String)>, OAuthError> {
    let Some(value) = headers.get(http::header::AUTHORIZATION) else {
        return Ok(None);
    };
    let text = value.to_str().map_err(|_| OAuthError::InvalidClient)?;
    let Some((scheme, rest)) = text.split_once(' ') else {
        return Ok(None);
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Ok(None);
    }
    let decoded = STANDARD
        .decode(rest.trim())
        .map_err(|_| OAuthError::InvalidClient)?;
    let decoded = String::from_utf8(decoded).map_err(|_| OAuthError::InvalidClient)?;
    let (id, secret) = decoded.split_once(':').ok_or(OAuthError::InvalidClient)?;
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

    fn headers(ct: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_str(ct).unwrap(),
        );
        h
    }

    #[test]
    fn form_and_json_bodies() {
        let p = Params::from_body(
            &headers("application/x-www-form-urlencoded"),
            b"a=1&b=x%20y",
        )
        .unwrap();
        assert_eq!(p.get("b"), Some("x y"));
        let p = Params::from_body(
            &headers("application/json; charset=utf-8"),
            br#"{"a":"1","n":5}"#,
        )
        .unwrap();
        assert_eq!(p.get("n"), Some("5"));
        assert!(Params::from_body(&headers("application/json"), b"{bad").is_err());
        assert!(Params::from_body(&headers("application/json"), b"[1]").is_err());
        assert!(Params::from_body(&headers("application/json"), br#"{"a":{}}"#).is_err());
        assert_eq!(
            Params::from_body(&headers("text/plain"), b"a").unwrap_err(),
            OAuthError::UnsupportedMediaType
        );
        assert!(
            Params::from_body(&headers("application/x-www-form-urlencoded"), b"a=1&a=2").is_err()
        );
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
