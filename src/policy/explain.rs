//! `gatehouse check-config --explain METHOD URL --token-claims FILE`: which route a request
//! takes and which rule of its policy decides, from the same compiled config the proxy uses,
//! for an operator writing rules.

use super::{evaluate, holds, Facts};
use crate::auth::identity_from_claims;
use crate::config::{AuthMode, ClaimMapping, Config, Effect};
use crate::path::normalize_path;
use crate::routing::{normalize_host, RouteTable};
use serde_json::Value;
use std::fmt::Write;
use std::net::IpAddr;

/// `target` is an absolute URL or a path; `claims` a JWT-style claims object (`sub`, `scope`,
/// `client_id`, `iss`, `groups`…, and `admin: true` for Gatehouse's admin tokens); without
/// it the request is anonymous. The report, or why the question cannot be answered.
pub fn explain(
    config: &Config,
    method: &str,
    target: &str,
    claims: Option<&Value>,
    address: Option<IpAddr>,
) -> Result<String, String> {
    let method = http::Method::from_bytes(method.as_bytes())
        .map_err(|_| format!("`{method}` is not an HTTP method"))?;
    let (host, raw_path) = match url::Url::parse(target) {
        Ok(u) => (u.host_str().map(str::to_string), u.path().to_string()),
        Err(_) if target.starts_with('/') => (
            None,
            target.split(['?', '#']).next().unwrap_or("/").to_string(),
        ),
        Err(e) => return Err(format!("`{target}` is neither a URL nor a path: {e}")),
    };
    let host = host
        .map(|h| normalize_host(h.as_bytes()).map(|h| h.into_owned()))
        .transpose()
        .map_err(|e| format!("host: {e}"))?;
    let path = normalize_path(&raw_path).map_err(|e| format!("path `{raw_path}`: {e} (400)"))?;
    let table = RouteTable::new(&config.routes);
    let route = table
        .find(host.as_deref(), &path)
        .ok_or_else(|| format!("no route matches {method} {path} (404)"))?;
    let rc = config
        .routes
        .get(route.index)
        .ok_or("internal: route index out of range")?;

    let identity = match claims {
        None => None,
        Some(Value::Object(map)) => {
            // A claims file naming a configured issuer reads its claims as that issuer does.
            let iss = map.get("iss").and_then(Value::as_str);
            let default = ClaimMapping::default();
            let mapping = config
                .jwt
                .iter()
                .flat_map(|j| &j.issuers)
                .find(|i| Some(i.issuer.as_str()) == iss)
                .map_or(&default, |i| &i.claims);
            let mut id = identity_from_claims(map, mapping, &config.claims, i64::MAX)
                .ok_or("the claims need `sub` (a string) and a string `scope` or array `scp`")?;
            id.admin = map.get("admin").and_then(Value::as_bool).unwrap_or(false);
            Some(id)
        }
        Some(_) => return Err("the claims file must hold a JSON object".into()),
    };

    let mut out = String::new();
    let auth = match rc.auth {
        AuthMode::Required => "required",
        AuthMode::Optional => "optional",
        AuthMode::Public => "public",
    };
    let _ = writeln!(
        out,
        "request: {method} {path}\nroute: {} (path_prefix {}, auth {auth})",
        rc.name, rc.path_prefix
    );
    match &identity {
        Some(i) => {
            let _ = writeln!(
                out,
                "identity: user {}, client {}, issuer {}, scopes [{}]{}",
                i.user_id().unwrap_or("-"),
                i.client_id().unwrap_or("-"),
                i.issuer().unwrap_or("gatehouse"),
                i.scope_string(),
                if i.admin { ", admin" } else { "" }
            );
        }
        None => out.push_str("identity: anonymous\n"),
    }
    if rc.auth == AuthMode::Required && identity.is_none() {
        out.push_str("decision: refused before any policy: a token is required (401)\n");
        return Ok(out);
    }
    if rc.auth != AuthMode::Public {
        if let Some(i) = &identity {
            let missing = i.missing_scopes(&rc.scopes);
            if !missing.is_empty() {
                let _ = writeln!(
                    out,
                    "decision: refused before any policy: scopes missing: {} (403 insufficient_scope)",
                    missing.join(" ")
                );
                return Ok(out);
            }
        }
    }
    let Some(policy) = rc.policy.and_then(|i| config.policies.get(i)) else {
        out.push_str("policy: none\ndecision: allow (the route has no policy)\n");
        return Ok(out);
    };
    let facts = Facts {
        identity: identity.as_ref(),
        method: &method,
        path: &path,
        address,
    };
    let _ = writeln!(out, "policy: {}", policy.name);
    if policy.uses_address && address.is_none() {
        out.push_str("  (no --address given: address conditions do not hold)\n");
    }
    let decision = evaluate(policy, &facts);
    for (i, rule) in policy.rules.iter().enumerate() {
        // The first rule that holds decides, so every rule before it does not hold.
        let verdict = if holds(&rule.when, &facts) {
            "matches, decides"
        } else {
            "no match"
        };
        let _ = writeln!(
            out,
            "  rule {} ({}): {verdict}",
            rule.name,
            rule.effect.label()
        );
        if Some(i) == decision.rule {
            break;
        }
    }
    let _ = writeln!(
        out,
        "decision: {} by rule `{}`{}",
        decision.effect.label(),
        decision.rule_name(policy),
        match (decision.effect, decision.rule) {
            (Effect::Allow, _) => "",
            (Effect::Deny, None) => " (no rule matched; 403 access_denied)",
            (Effect::Deny, Some(_)) => " (403 access_denied)",
        }
    );
    Ok(out)
}
