//! Request parameters of built-in endpoints, from the query string or a form or JSON body
//! (the seed clients send JSON), read into a typed struct per endpoint with serde.
//! Repeated parameters are refused (RFC 6749 §3.1) and an empty value counts as absent, the
//! same rule for both encodings: a repeated JSON key too, which serde_json would resolve as
//! last-wins. Bytes that are not UTF-8 are refused rather than replaced with U+FFFD, so two
//! different passwords (`%ff`, `%fe`) can never become the same string.

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

    /// Every parameter name, in request order (each appears once).
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|(k, _)| k.as_str())
    }

    pub fn require(&self, name: &str) -> Result<&str, ApiError> {
        self.get(name)
            .ok_or_else(|| ApiError::InvalidRequest(format!("missing parameter `{name}`")))
    }

    pub fn from_query(query: Option<&str>) -> Result<Params, ApiError> {
        from_pairs(form_pairs(query.unwrap_or("").as_bytes())?.into_iter())
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
            "application/x-www-form-urlencoded" => from_pairs(form_pairs(body)?.into_iter()),
            "application/json" => {
                let value: serde_json::Value = serde_json::from_slice(body)
                    .map_err(|_| ApiError::InvalidRequest("the body is not valid JSON".into()))?;
                if !value.is_object() {
                    return Err(ApiError::InvalidRequest(
                        "the JSON body must be an object".into(),
                    ));
                }
                // Parsed a second time, keeping every key, only to find repeats.
                let UniqueKeys(object) = serde_json::from_slice(body).map_err(|e| {
                    let text = e.to_string();
                    ApiError::InvalidRequest(match text.strip_prefix(REPEATED) {
                        // serde_json appends " at line L column C".
                        Some(rest) => format!(
                            "parameter {} is repeated",
                            rest.split(" at line").next().unwrap_or(rest)
                        ),
                        None => "the body is not valid JSON".into(),
                    })
                })?;
                let mut pairs = Vec::with_capacity(object.len());
                for (k, v) in &object {
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

/// `application/x-www-form-urlencoded` pairs (`+` is a space), refusing what is not UTF-8
/// once decoded.
fn form_pairs(input: &[u8]) -> Result<Vec<(String, String)>, ApiError> {
    let decode = |part: &[u8]| -> Result<String, ApiError> {
        let spaced: Vec<u8> = part
            .iter()
            .map(|&b| if b == b'+' { b' ' } else { b })
            .collect();
        let bytes: Vec<u8> = percent_encoding::percent_decode(&spaced).collect();
        String::from_utf8(bytes)
            .map_err(|_| ApiError::InvalidRequest("a parameter is not valid UTF-8".into()))
    };
    input
        .split(|&b| b == b'&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = match pair.iter().position(|&b| b == b'=') {
                Some(i) => (&pair[..i], &pair[i + 1..]),
                None => (pair, &b""[..]),
            };
            Ok((decode(name)?, decode(value)?))
        })
        .collect()
}

/// How the visitor below marks its error, so it can be told from a syntax error.
const REPEATED: &str = "repeated key ";

/// A JSON object's members in order, refusing a key that comes twice.
struct UniqueKeys(Vec<(String, serde_json::Value)>);

impl<'de> serde::Deserialize<'de> for UniqueKeys {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Members;
        impl<'de> serde::de::Visitor<'de> for Members {
            type Value = UniqueKeys;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<UniqueKeys, A::Error> {
                let mut members: Vec<(String, serde_json::Value)> = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, serde_json::Value>()? {
                    if members.iter().any(|(seen, _)| *seen == k) {
                        return Err(serde::de::Error::custom(format!("{REPEATED}`{k}`")));
                    }
                    members.push((k, v));
                }
                Ok(UniqueKeys(members))
            }
        }
        d.deserialize_map(Members)
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

#[cfg(test)]
mod strictness_tests {
    use super::*;
    use http::HeaderValue;

    fn body(ct: &'static str, b: &[u8]) -> Result<Params, ApiError> {
        let mut h = HeaderMap::new();
        h.insert(http::header::CONTENT_TYPE, HeaderValue::from_static(ct));
        Params::from_body(&h, b)
    }

    #[test]
    fn repeated_json_keys_are_refused_like_repeated_form_parameters() {
        let e = body("application/json", br#"{"username":"a","username":"b"}"#).unwrap_err();
        assert_eq!(
            e,
            ApiError::InvalidRequest("parameter `username` is repeated".into())
        );
        let e = body(
            "application/x-www-form-urlencoded",
            b"username=a&username=b",
        )
        .unwrap_err();
        assert_eq!(
            e,
            ApiError::InvalidRequest("parameter `username` is repeated".into())
        );
        let p = body("application/json", br#"{"username":"a","password":"b"}"#).unwrap();
        assert_eq!(p.get("username"), Some("a"));
        assert!(body("application/json", br#"{"a":1,"a""#).is_err());
    }

    #[test]
    fn bytes_that_are_not_utf8_are_refused_not_replaced() {
        for input in [
            &b"password=%ff"[..],
            b"password=%fe",
            b"pass%ffword=x",
            b"password=\xff",
        ] {
            assert!(
                body("application/x-www-form-urlencoded", input).is_err(),
                "{input:?}"
            );
        }
        assert!(Params::from_query(Some("code=%ff")).is_err());
        let p = body(
            "application/x-www-form-urlencoded",
            b"password=p%C3%A4ss+word&x=%2B",
        )
        .unwrap();
        assert_eq!(p.get("password"), Some("päss word"));
        assert_eq!(p.get("x"), Some("+"));
    }
}
