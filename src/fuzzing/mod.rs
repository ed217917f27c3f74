//! The fuzz harnesses: one entry per fuzz target, taking arbitrary bytes, driving one parser or
//! validator the way a request or a config file does, and panicking when a property that must
//! hold is broken (a panic is what libFuzzer reports). Shared by `fuzz/fuzz_targets/` and by
//! `tests/fuzz_regressions.rs`, which replays the committed inputs on the stable toolchain.
//! Not part of the service.

// A harness reports a broken property by panicking; that is its whole purpose.
#![allow(clippy::panic)]

mod credentials;
mod requests;
mod urls;

pub use credentials::{jwt, signed_request};
pub use requests::{form_params, host_normalize, json_params, path_normalize, token_extract};
pub use urls::{integrator_url, redirect_uri};

use crate::config::{origin_problem, redirect_uri_problem, Config, ConfigError, RouteTarget};
use crate::host::normalize_host;
use crate::path::normalize_path;
use crate::routing::RouteTable;
use std::collections::HashSet;
use std::time::Duration;

/// A harness: arbitrary bytes in, a panic when a property breaks.
pub type Harness = fn(&[u8]);

/// Every target by the name of its `fuzz/fuzz_targets/<name>.rs` and of its input folders.
pub const TARGETS: &[(&str, Harness)] = &[
    ("path_normalize", path_normalize),
    ("host_normalize", host_normalize),
    ("token_extract", token_extract),
    ("config_load", config_load),
    ("redirect_uri", redirect_uri),
    ("integrator_url", integrator_url),
    ("form_params", form_params),
    ("json_params", json_params),
    ("signed_request", signed_request),
    ("jwt", jwt),
];

/// The config loader on arbitrary TOML, consulting nothing outside the text. An accepted
/// config keeps the promises the rest of Gatehouse relies on without checking again.
pub fn config_load(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let config = match Config::from_toml_sandboxed(text, "fuzz") {
        Ok(c) => c,
        Err(ConfigError::Invalid { problems, .. }) => {
            assert!(!problems.is_empty(), "refused without naming a problem");
            return;
        }
        Err(_) => return,
    };
    let mut names = HashSet::new();
    for r in &config.routes {
        assert!(names.insert(&r.name), "route name {:?} twice", r.name);
        assert_eq!(
            normalize_path(&r.path_prefix).as_deref(),
            Ok(r.path_prefix.as_str()),
            "route prefix is not canonical"
        );
        if let RouteTarget::Upstream(i) = r.target {
            assert!(i < config.upstreams.len(), "route names upstream #{i}");
        }
    }
    // Two routes the table would see at one place: one silently shadows the other.
    let mut places = HashSet::new();
    for r in &config.routes {
        let host = r
            .host
            .as_deref()
            .map(|h| match normalize_host(h.as_bytes()) {
                Ok(n) => n.into_owned(),
                Err(_) => h.to_ascii_lowercase(),
            });
        assert!(
            places.insert((host, r.path_prefix.as_str())),
            "route {:?} shares its host and prefix with another",
            r.name
        );
    }
    RouteTable::new(&config.routes);
    for c in &config.clients {
        for u in &c.redirect_uris {
            assert_eq!(redirect_uri_problem(u), None, "registered {u:?}");
        }
    }
    if let Some(fb) = &config.facebook {
        for o in &fb.integrator_origins {
            assert_eq!(origin_problem(o), None, "integrator origin {o:?}");
        }
    }
    assert!(config.cache.ttl <= Duration::from_secs(300));
    assert!(config.cache.negative_ttl <= Duration::from_secs(5));
    for j in config.jwt.iter().flat_map(|j| &j.issuers) {
        assert!(j.leeway <= Duration::from_secs(60));
    }
}

/// Splits `data` into lines; the last one is the value under test, the others its context.
fn context_and_value(data: &[u8]) -> Option<(Vec<&str>, &str)> {
    let text = std::str::from_utf8(data).ok()?;
    let mut lines: Vec<&str> = text.split('\n').collect();
    let value = lines.pop()?;
    Some((lines, value))
}
