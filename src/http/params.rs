//! Request parameters of built-in endpoints, from the query string or a form or JSON body
//! (the seed clients send JSON), read into a typed struct per endpoint with serde.
//! Repeated parameters are refused (RFC 6749 §3.1) and an empty value counts as absent, the
//! same rule for both encodings.

use super::error::ApiError;
use http::HeaderMap;
use serde::de::DeserializeOwned;

/// The name/value pairs of one request, already checked for repeats.
#[derive(Debug, Default)]
pub struct Params(Vec<(String, String)>);

impl Params {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    pub fn require(&self, name: &str) -> Result<&str, ApiError> {
        self.get(name)
            .ok_or_else(|| ApiError::InvalidRequest(format!("missing parameter `{name}`")))
    }

    pub fn from_query(query: Option<&str>) -> Result<Params, ApiError> {
        from_pairs(url::form_urlencoded::parse(query.unwrap_or("").as_bytes()).into_owned())
    }

    /// Parses a body by its content type; an empty body gives no parameters.
    pub fn from_body(headers: &HeaderMap, body: &[u8]) -> Result<Params, ApiError> {
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
                    .map_err(|_| ApiError::InvalidRequest("the body is not valid JSON".into()))?;
                let object = value.as_object().ok_or_else(|| {
                    ApiError::InvalidRequest("the JSON body must be an object".into())
                })?;
                let mut pairs = Vec::with_capacity(object.len());
                for (k, v) in object {
                    let text = match v {
                        serde_json::Value::String(s) => s.clone(),
                        serde_json::Value::Number(n) => n.to_string(),
                        serde_json::Value::Bool(b) => b.to_string(),
                        serde_json::Value::Null => continue,
                        _ => {
                            return Err(ApiError::InvalidRequest(format!("`{k}` must be a string")))
                        }
                    };
                    pairs.push((k.clone(), text));
                }
                Ok(Params(pairs))
            }
            _ => Err(ApiError::UnsupportedMediaType),
        }
    }

    /// The endpoint's typed request. Empty values are dropped first, so `Option` fields read
    /// them as absent; a missing required field is an `invalid_request`.
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        let present: Vec<(&str, &str)> = self
            .0
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let encoded = serde_urlencoded::to_string(&present)
            .map_err(|_| ApiError::InvalidRequest("the parameters cannot be read".into()))?;
        serde_urlencoded::from_str(&encoded).map_err(|e| ApiError::InvalidRequest(describe(&e)))
    }
}

/// serde says "missing field `x`"; the OAuth clients know them as parameters.
fn describe(e: &serde_urlencoded::de::Error) -> String {
    let text = e.to_string();
    match text.strip_prefix("missing field ") {
        Some(name) => format!("missing parameter {name}"),
        None => format!("invalid parameters: {text}"),
    }
}

fn from_pairs(pairs: impl Iterator<Item = (String, String)>) -> Result<Params, ApiError> {
    let mut seen: Vec<(String, String)> = Vec::new();
    for (k, v) in pairs {
        if seen.iter().any(|(s, _)| *s == k) {
            return Err(ApiError::InvalidRequest(format!(
                "parameter `{k}` is repeated"
            )));
        }
        seen.push((k, v));
    }
    Ok(Params(seen))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;
    use serde::Deserialize;

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
            ApiError::UnsupportedMediaType
        );
        assert!(
            Params::from_body(&headers("application/x-www-form-urlencoded"), b"a=1&a=2").is_err()
        );
    }

    #[derive(Deserialize, Debug)]
    struct Example {
        grant_type: String,
        scope: Option<String>,
        page: Option<i64>,
    }

    #[test]
    fn typed_requests_from_either_encoding() {
        let form = Params::from_body(
            &headers("application/x-www-form-urlencoded"),
            b"grant_type=password&scope=&page=3&extra=x",
        )
        .unwrap();
        let e: Example = form.parse().unwrap();
        assert_eq!(e.grant_type, "password");
        assert_eq!(e.scope, None, "an empty value is absent");
        assert_eq!(e.page, Some(3));
        let json = Params::from_body(
            &headers("application/json"),
            br#"{"grant_type":"password","page":2}"#,
        )
        .unwrap();
        let e: Example = json.parse().unwrap();
        assert_eq!(e.page, Some(2));
        let missing = Params::from_query(Some("scope=a")).unwrap();
        assert_eq!(
            missing.parse::<Example>().unwrap_err(),
            ApiError::InvalidRequest("missing parameter `grant_type`".into())
        );
        assert!(Params::from_query(Some("page=x&grant_type=p"))
            .unwrap()
            .parse::<Example>()
            .is_err());
    }
}
