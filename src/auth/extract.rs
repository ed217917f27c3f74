//! Finds the access token in a request: `Authorization: Bearer`, and where the config allows
//! the seed clients' forms, `Authorization: OAuth` and `?oauth_token=`. Ambiguity (two headers,
//! header plus query, an empty or ill-formed token) is a malformed request, per RFC 6750 §3.1.

use http::HeaderMap;
use std::borrow::Cow;

pub const QUERY_PARAM: &str = "oauth_token";

#[derive(Debug, Clone, Copy)]
pub struct Locations {
    pub oauth_header: bool,
    pub query_param: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Malformed {
    #[error("more than one Authorization header")]
    MultipleHeaders,
    #[error("the Authorization header is not valid text")]
    NotText,
    #[error("the access token is empty")]
    Empty,
    #[error("the access token contains characters a bearer token cannot have")]
    BadCharacters,
    #[error("the access token was sent in more than one place")]
    MultipleMethods,
}

/// Returns the token, or `None` when the request carries no credential Gatehouse accepts.
pub fn extract_token<'a>(
    headers: &'a HeaderMap,
    query: Option<&'a str>,
    locations: Locations,
) -> Result<Option<Cow<'a, str>>, Malformed> {
    let mut values = headers.get_all(http::header::AUTHORIZATION).iter();
    let header_token = match (values.next(), values.next()) {
        (Some(_), Some(_)) => return Err(Malformed::MultipleHeaders),
        (Some(v), None) => {
            let text = v.to_str().map_err(|_| Malformed::NotText)?;
            from_authorization(text, locations.oauth_header)?
        }
        (None, _) => None,
    };
    let query_token = match (locations.query_param, query) {
        (true, Some(q)) => from_query(q)?,
        _ => None,
    };
    match (header_token, query_token) {
        (Some(_), Some(_)) => Err(Malformed::MultipleMethods),
        (Some(t), None) => Ok(Some(Cow::Borrowed(t))),
        (None, Some(t)) => Ok(Some(t)),
        (None, None) => Ok(None),
    }
}

fn from_authorization(text: &str, allow_oauth: bool) -> Result<Option<&str>, Malformed> {
    let text = text.trim();
    let (scheme, rest) = match text.split_once(' ') {
        Some((s, r)) => (s, r.trim_start()),
        None => (text, ""),
    };
    let ours = scheme.eq_ignore_ascii_case("bearer")
        || (allow_oauth && scheme.eq_ignore_ascii_case("oauth"));
    if !ours {
        // Another scheme (Basic, Digest, …) carries no bearer credential: "no token", not malformed.
        return Ok(None);
    }
    check_token(rest).map(Some)
}

fn from_query(query: &str) -> Result<Option<Cow<'_, str>>, Malformed> {
    let mut found = None;
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        if k == QUERY_PARAM {
            if found.is_some() {
                return Err(Malformed::MultipleMethods);
            }
            check_token(&v)?;
            found = Some(v);
        }
    }
    Ok(found)
}

/// The characters of RFC 6750's b64token before its `=` padding, by byte value. A table because
/// every token of every request is checked: one load a byte instead of eight range tests
/// (about 1.3k instructions a request for a 180-byte JWT).
const B64TOKEN: [bool; 256] = {
    let mut table = [false; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        table[i] =
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/');
        i += 1;
    }
    table
};

/// RFC 6750 b64token: `1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
fn check_token(t: &str) -> Result<&str, Malformed> {
    if t.is_empty() {
        return Err(Malformed::Empty);
    }
    let body = t.trim_end_matches('=');
    let ok = !body.is_empty() && body.bytes().all(|b| B64TOKEN[usize::from(b)]);
    if ok {
        Ok(t)
    } else {
        Err(Malformed::BadCharacters)
    }
}

/// Query parameters that carry a token somewhere: ours (`oauth_token`, the seeds' form) and
/// RFC 6750 §2.3's `access_token`, which we never accept but a client may still send. Neither
/// goes upstream, where URLs are logged.
const TOKEN_PARAMS: [&str; 2] = [QUERY_PARAM, "access_token"];

/// The query string without any token parameter (other parameters kept byte for byte), or
/// `None` when there was nothing to remove.
pub fn strip_query_token(query: &str) -> Option<String> {
    let is_token = |pair: &str| {
        let key = pair.split('=').next().unwrap_or("");
        url::form_urlencoded::parse(key.as_bytes())
            .next()
            .is_some_and(|(k, _)| TOKEN_PARAMS.contains(&k.as_ref()))
    };
    if !query.split('&').any(is_token) {
        return None;
    }
    let kept: Vec<&str> = query.split('&').filter(|p| !is_token(p)).collect();
    Some(kept.join("&"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn the_b64token_table_is_rfc_6750s_alphabet() {
        let alphabet: Vec<u8> = (b'A'..=b'Z')
            .chain(b'a'..=b'z')
            .chain(b'0'..=b'9')
            .chain(*b"-._~+/")
            .collect();
        for b in 0..=255u8 {
            assert_eq!(B64TOKEN[usize::from(b)], alphabet.contains(&b), "byte {b}");
        }
        assert_eq!(check_token("a.b-c_d~e+f/g=="), Ok("a.b-c_d~e+f/g=="));
        assert_eq!(check_token("ab=c"), Err(Malformed::BadCharacters));
        assert_eq!(check_token("=="), Err(Malformed::BadCharacters));
        assert_eq!(check_token("tök"), Err(Malformed::BadCharacters));
    }

    const ALL: Locations = Locations {
        oauth_header: true,
        query_param: true,
    };
    const BEARER_ONLY: Locations = Locations {
        oauth_header: false,
        query_param: false,
    };

    fn headers(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(
                http::header::AUTHORIZATION,
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    #[test]
    fn bearer_and_legacy_forms() {
        let h = headers(&["Bearer abc.DEF-_~+/="]);
        assert_eq!(
            extract_token(&h, None, BEARER_ONLY).unwrap().as_deref(),
            Some("abc.DEF-_~+/=")
        );
        let h = headers(&["bearer abc"]);
        assert_eq!(
            extract_token(&h, None, BEARER_ONLY).unwrap().as_deref(),
            Some("abc")
        );
        let h = headers(&["OAuth abc"]);
        assert_eq!(extract_token(&h, None, BEARER_ONLY).unwrap(), None);
        assert_eq!(
            extract_token(&h, None, ALL).unwrap().as_deref(),
            Some("abc")
        );
        let h = HeaderMap::new();
        assert_eq!(
            extract_token(&h, Some("a=1&oauth_token=xyz"), BEARER_ONLY).unwrap(),
            None
        );
        assert_eq!(
            extract_token(&h, Some("a=1&oauth_token=xyz"), ALL)
                .unwrap()
                .as_deref(),
            Some("xyz")
        );
    }

    #[test]
    fn malformed_requests() {
        let none = None;
        assert_eq!(
            extract_token(&headers(&["Bearer a", "Bearer b"]), none, ALL),
            Err(Malformed::MultipleHeaders)
        );
        assert_eq!(
            extract_token(&headers(&["Bearer"]), none, ALL),
            Err(Malformed::Empty)
        );
        assert_eq!(
            extract_token(&headers(&["Bearer "]), none, ALL),
            Err(Malformed::Empty)
        );
        assert_eq!(
            extract_token(&headers(&["Bearer a b"]), none, ALL),
            Err(Malformed::BadCharacters)
        );
        assert_eq!(
            extract_token(&headers(&["Bearer a,b"]), none, ALL),
            Err(Malformed::BadCharacters)
        );
        assert_eq!(
            extract_token(&headers(&["Bearer a"]), Some("oauth_token=b"), ALL),
            Err(Malformed::MultipleMethods)
        );
        assert_eq!(
            extract_token(&HeaderMap::new(), Some("oauth_token=a&oauth_token=b"), ALL),
            Err(Malformed::MultipleMethods)
        );
        assert_eq!(
            extract_token(&headers(&["Basic dXNlcjpwYXNz"]), none, ALL),
            Ok(None)
        );
    }

    #[test]
    fn strips_only_the_token_parameter() {
        assert_eq!(
            strip_query_token("a=1&oauth_token=x&b=%20"),
            Some("a=1&b=%20".into())
        );
        assert_eq!(strip_query_token("oauth_token=x"), Some(String::new()));
        assert_eq!(strip_query_token("oauth%5Ftoken=x&c"), Some("c".into()));
        assert_eq!(strip_query_token("a=oauth_token"), None);
    }
}
