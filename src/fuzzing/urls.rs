//! Harnesses for the URLs a browser may be sent to: OAuth redirect URIs and Facebook
//! integrator URLs.

use super::context_and_value;
use crate::config::{
    origin_problem, redirect_uri_problem, ClientConfig, ClientSecretConfig, GrantType,
};
use crate::facebook::integrator;
use crate::http::Params;
use crate::oauth::clients::{Client, RedirectRefusal};
use serde::Deserialize;
use url::Url;

fn loopback(url: &Url) -> bool {
    matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"))
}

/// How the authorization endpoint reads the parameter (`Params::parse`, serde).
#[derive(Deserialize)]
struct Asked {
    redirect_uri: Option<String>,
}

/// Lines before the last: redirect URIs offered for registration (kept when config would
/// accept them). Last line: the authorization request's query string. A registration accepted
/// is https, or http on loopback, without a fragment; a redirect URI accepted is byte-equal to
/// a registered one.
pub fn redirect_uri(data: &[u8]) {
    let Some((offered, query)) = context_and_value(data) else {
        return;
    };
    let mut registered = Vec::new();
    for uri in offered {
        if redirect_uri_problem(uri).is_some() {
            continue;
        }
        let url = match Url::parse(uri) {
            Ok(u) => u,
            Err(e) => panic!("registered {uri:?}, which does not parse: {e}"),
        };
        assert!(url.fragment().is_none(), "registered {uri:?}");
        assert!(
            url.scheme() == "https" || (url.scheme() == "http" && loopback(&url)),
            "registered {uri:?}"
        );
        registered.push(uri.to_string());
    }
    let client = Client::new(ClientConfig {
        id: "fuzz".into(),
        name: "fuzz".into(),
        secret: ClientSecretConfig::Public,
        redirect_uris: registered.clone(),
        post_logout_redirect_uris: vec![],
        grant_types: vec![GrantType::AuthorizationCode],
        scopes: None,
        admin: false,
        legacy: false,
        introspect: false,
    });
    let Ok(params) = Params::from_query(Some(query)) else {
        return;
    };
    let Ok(Asked {
        redirect_uri: asked,
    }) = params.parse::<Asked>()
    else {
        return;
    };
    assert_eq!(asked.as_deref(), params.get("redirect_uri"), "read twice");
    match client.redirect_uri_for(asked.as_deref()) {
        Ok(uri) => {
            assert!(
                registered.iter().any(|r| r.as_bytes() == uri.as_bytes()),
                "{uri:?} is not registered"
            );
            match &asked {
                Some(a) => assert_eq!(a, uri),
                None => assert_eq!(registered.len(), 1),
            }
        }
        Err(RedirectRefusal::NotRegistered) => {
            assert!(asked.is_some_and(|a| !registered.contains(&a)));
        }
        Err(RedirectRefusal::Missing) => {
            assert!(asked.is_none() && registered.len() != 1);
        }
    }
}

/// Lines before the last: integrator origins offered to config (kept when accepted). Last
/// line: the URL asked for. An origin accepted is exactly the origin of itself, https or http
/// on loopback, and is itself an acceptable integrator URL. A URL accepted has one of those
/// origins, no credentials, no fragment, nothing a parser would strip, and keeps its origin
/// when the browser parses what we send.
pub fn integrator_url(data: &[u8]) {
    let Some((offered, raw)) = context_and_value(data) else {
        return;
    };
    let mut allowed = Vec::new();
    for origin in offered {
        if origin_problem(origin).is_some() {
            continue;
        }
        let url = match Url::parse(origin) {
            Ok(u) => u,
            Err(e) => panic!("allowed origin {origin:?} does not parse: {e}"),
        };
        assert_eq!(url.origin().ascii_serialization(), origin);
        assert!(
            url.scheme() == "https" || (url.scheme() == "http" && loopback(&url)),
            "allowed origin {origin:?}"
        );
        allowed.push(origin.to_string());
    }
    for origin in &allowed {
        assert!(
            integrator::check(origin, &allowed).is_some(),
            "allowed origin {origin:?} refused as a URL"
        );
        assert!(integrator::check(&format!("{origin}/"), &allowed).is_some());
    }
    let Some(url) = integrator::check(raw, &allowed) else {
        return;
    };
    let origin = url.origin().ascii_serialization();
    assert!(allowed.contains(&origin), "{raw:?} reaches {origin}");
    assert!(matches!(url.scheme(), "https" | "http"));
    assert!(
        url.username().is_empty() && url.password().is_none(),
        "{raw:?}"
    );
    assert!(url.fragment().is_none(), "{raw:?}");
    assert!(
        !raw.chars()
            .any(|c| c.is_control() || c.is_whitespace() || c == '\\'),
        "{raw:?}"
    );
    let sent = match Url::parse(url.as_str()) {
        Ok(u) => u,
        Err(e) => panic!(
            "{raw:?} is sent as {:?}, which does not parse: {e}",
            url.as_str()
        ),
    };
    assert_eq!(sent.origin().ascii_serialization(), origin, "{raw:?}");
}
