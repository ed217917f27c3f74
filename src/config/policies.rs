//! `[[policies]]` and inline `routes.policy`: ordered allow/deny rules, checked once here and
//! compiled into a typed condition tree (methods parsed, CIDRs parsed, path patterns compiled,
//! claims resolved to an index) that `policy::evaluate` walks without allocating.

use super::raw::{RawCondition, RawPolicy, RawRule};
use super::{is_scope_token, Problems};
use crate::path_pattern::PathPattern;
use ipnet::IpNet;
use std::collections::HashSet;

/// Claims every identity keeps (for policies and, later, identity headers), before any a
/// policy names.
pub const STANDARD_CLAIMS: [&str; 2] = ["groups", "roles"];

#[derive(Debug, Clone)]
pub struct PolicyConfig {
    /// The `[[policies]]` name, or the route's name for rules written inline.
    pub name: String,
    pub rules: Vec<RuleConfig>,
    /// Some condition reads the client address: only then is it worked out per request.
    pub uses_address: bool,
    /// The label of the decision when no rule matched: `<policy>#default`.
    pub default_rule: String,
}

#[derive(Debug, Clone)]
pub struct RuleConfig {
    /// From the file, or `<policy>#<index>`: a metric label, so fixed at load.
    pub name: String,
    pub effect: Effect,
    pub when: Condition,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    Allow,
    Deny,
}

impl Effect {
    pub fn label(self) -> &'static str {
        match self {
            Effect::Allow => "allow",
            Effect::Deny => "deny",
        }
    }
}

#[derive(Debug, Clone)]
pub enum Condition {
    /// The token holds every one of these scopes.
    ScopesAll(Vec<String>),
    /// The token holds at least one.
    ScopesAny(Vec<String>),
    /// `index` into `Config::claims`, the order identities store claim values in.
    Claim {
        index: usize,
        test: ClaimTest,
    },
    ClientId(Vec<String>),
    Issuer(Vec<IssuerRef>),
    Admin(bool),
    Authenticated(bool),
    Method(Vec<http::Method>),
    Path(Vec<PathPattern>),
    Address(Vec<IpNet>),
    All(Vec<Condition>),
    Any(Vec<Condition>),
    Not(Box<Condition>),
}

/// Compared with each value of the claim (a string, or each string of an array).
#[derive(Debug, Clone)]
pub enum ClaimTest {
    Equals(String),
    AnyOf(Vec<String>),
    /// `*` any run of characters, `?` one character.
    Glob(String),
}

/// `issuer = "<server.public_url>"` means Gatehouse's own tokens, whose identities carry no
/// `iss`; any other value is compared with a JWT's `iss`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IssuerRef {
    Local,
    External(String),
}

/// What the policy checks share while compiling: the claim table and Gatehouse's issuer.
pub(super) struct Compiler<'a> {
    pub claims: Vec<String>,
    pub local_issuer: Option<&'a str>,
}

impl<'a> Compiler<'a> {
    pub(super) fn new(local_issuer: Option<&'a str>) -> Self {
        Compiler {
            claims: STANDARD_CLAIMS.iter().map(|c| c.to_string()).collect(),
            local_issuer: local_issuer.map(|i| i.trim_end_matches('/')),
        }
    }

    fn claim_index(&mut self, name: &str) -> usize {
        match self.claims.iter().position(|c| c == name) {
            Some(i) => i,
            None => {
                self.claims.push(name.to_string());
                self.claims.len() - 1
            }
        }
    }
}

/// The `[[policies]]` entries, in file order (routes refer to them by index).
pub(super) fn validate_policies(
    p: &mut Problems,
    c: &mut Compiler<'_>,
    raw: Vec<RawPolicy>,
) -> Vec<PolicyConfig> {
    let mut names = HashSet::new();
    let mut out = Vec::new();
    for (i, policy) in raw.into_iter().enumerate() {
        let key = format!("policies[{i}]");
        if !is_label(&policy.name) {
            p.push(format!(
                "{key}.name: `{}` must be letters, digits, `-`, `_` or `.`",
                policy.name
            ));
        }
        if !names.insert(policy.name.clone()) {
            p.push(format!(
                "{key}.name: duplicate policy name `{}`",
                policy.name
            ));
        }
        out.push(compile_policy(p, c, &key, policy.name, policy.rules));
    }
    out
}

/// One policy's rules; `key` is where they sit (`policies[0]`, or `routes[2].policy`).
pub(super) fn compile_policy(
    p: &mut Problems,
    c: &mut Compiler<'_>,
    key: &str,
    name: String,
    raw: Vec<RawRule>,
) -> PolicyConfig {
    let rules_key = if key.starts_with("routes") {
        key.to_string()
    } else {
        format!("{key}.rules")
    };
    if raw.is_empty() {
        p.push(format!(
            "{rules_key}: no rules (a policy without rules would deny everything)"
        ));
    }
    let mut rule_names = HashSet::new();
    let mut uses_address = false;
    let mut rules = Vec::new();
    for (j, rule) in raw.into_iter().enumerate() {
        let rkey = format!("{rules_key}[{j}]");
        let rule_name = match rule.name {
            Some(n) => {
                if !is_label(&n) {
                    p.push(format!(
                        "{rkey}.name: `{n}` must be letters, digits, `-`, `_` or `.`"
                    ));
                }
                n
            }
            None => format!("{name}#{j}"),
        };
        if !rule_names.insert(rule_name.clone()) {
            p.push(format!("{rkey}.name: duplicate rule name `{rule_name}`"));
        }
        let (effect, cond, ckey) = match (rule.allow, rule.deny) {
            (Some(a), None) => (Effect::Allow, a, format!("{rkey}.allow")),
            (None, Some(d)) => (Effect::Deny, d, format!("{rkey}.deny")),
            (Some(_), Some(_)) => {
                p.push(format!("{rkey}: give either `allow` or `deny`, not both"));
                continue;
            }
            (None, None) => {
                p.push(format!(
                    "{rkey}: empty rule (write `{{ allow = {{ … }} }}` or `{{ deny = {{ … }} }}`)"
                ));
                continue;
            }
        };
        if let Some(when) = compile_condition(p, c, &ckey, cond) {
            uses_address |= reads_address(&when);
            rules.push(RuleConfig {
                name: rule_name,
                effect,
                when,
            });
        }
    }
    PolicyConfig {
        default_rule: format!("{name}#default"),
        name,
        rules,
        uses_address,
    }
}

fn reads_address(c: &Condition) -> bool {
    match c {
        Condition::Address(_) => true,
        Condition::All(v) | Condition::Any(v) => v.iter().any(reads_address),
        Condition::Not(inner) => reads_address(inner),
        _ => false,
    }
}

/// Names that go into metric labels and log fields as they are.
pub(super) fn is_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'#'))
}

/// The condition keys present in a table, in a fixed order; `claim`'s companions are not
/// conditions of their own.
fn present_keys(r: &RawCondition) -> Vec<&'static str> {
    let keys = [
        ("scopes", r.scopes.is_some()),
        ("any_scope", r.any_scope.is_some()),
        ("claim", r.claim.is_some()),
        ("client_id", r.client_id.is_some()),
        ("issuer", r.issuer.is_some()),
        ("admin", r.admin.is_some()),
        ("authenticated", r.authenticated.is_some()),
        ("method", r.method.is_some()),
        ("path", r.path.is_some()),
        ("address", r.address.is_some()),
        ("all", r.all.is_some()),
        ("any", r.any.is_some()),
        ("not", r.not.is_some()),
    ];
    keys.iter().filter(|(_, on)| *on).map(|(k, _)| *k).collect()
}

fn compile_condition(
    p: &mut Problems,
    c: &mut Compiler<'_>,
    key: &str,
    r: RawCondition,
) -> Option<Condition> {
    let present = present_keys(&r);
    let companions = [
        ("equals", r.equals.is_some()),
        ("any_of", r.any_of.is_some()),
        ("glob", r.glob.is_some()),
    ];
    let given: Vec<&str> = companions
        .iter()
        .filter(|(_, on)| *on)
        .map(|(k, _)| *k)
        .collect();
    if r.claim.is_none() && !given.is_empty() {
        p.push(format!(
            "{key}.{}: only used with `claim = \"…\"`",
            given.join("/")
        ));
        return None;
    }
    match present.as_slice() {
        [] => {
            p.push(format!("{key}: empty condition"));
            return None;
        }
        [_] => {}
        many => {
            p.push(format!(
                "{key}: one condition per table, found {}; combine them with `all = [ … ]`",
                many.join(", ")
            ));
            return None;
        }
    }
    let list = |p: &mut Problems, name: &str, v: Vec<String>| -> Option<Vec<String>> {
        if v.is_empty() {
            p.push(format!("{key}.{name}: empty list"));
            return None;
        }
        Some(v)
    };
    let scopes = match (r.scopes, r.any_scope) {
        (Some(s), _) => Some(("scopes", s)),
        (None, Some(s)) => Some(("any_scope", s)),
        (None, None) => None,
    };
    if let Some((name, scopes)) = scopes {
        let scopes = list(p, name, scopes)?;
        for (i, s) in scopes.iter().enumerate() {
            if !is_scope_token(s) {
                p.push(format!("{key}.{name}[{i}]: `{s}` is not a valid scope"));
            }
        }
        return Some(if name == "any_scope" {
            Condition::ScopesAny(scopes)
        } else {
            Condition::ScopesAll(scopes)
        });
    }
    if let Some(claim) = r.claim {
        if claim.is_empty() {
            p.push(format!("{key}.claim: empty claim name"));
            return None;
        }
        let test = match (r.equals, r.any_of, r.glob) {
            (Some(v), None, None) => ClaimTest::Equals(v),
            (None, Some(v), None) => ClaimTest::AnyOf(list(p, "any_of", v)?),
            (None, None, Some(g)) => ClaimTest::Glob(g),
            _ => {
                p.push(format!(
                    "{key}: `claim = \"{claim}\"` needs exactly one of `equals`, `any_of`, `glob`"
                ));
                return None;
            }
        };
        return Some(Condition::Claim {
            index: c.claim_index(&claim),
            test,
        });
    }
    if let Some(ids) = r.client_id {
        return Some(Condition::ClientId(list(p, "client_id", ids.into_vec())?));
    }
    if let Some(issuers) = r.issuer {
        let issuers = list(p, "issuer", issuers.into_vec())?;
        let local = c.local_issuer;
        return Some(Condition::Issuer(
            issuers
                .into_iter()
                .map(|i| {
                    if Some(i.trim_end_matches('/')) == local {
                        IssuerRef::Local
                    } else {
                        IssuerRef::External(i)
                    }
                })
                .collect(),
        ));
    }
    if let Some(admin) = r.admin {
        return Some(Condition::Admin(admin));
    }
    if let Some(authenticated) = r.authenticated {
        return Some(Condition::Authenticated(authenticated));
    }
    if let Some(methods) = r.method {
        let methods = list(p, "method", methods.into_vec())?;
        return methods_condition(p, key, methods);
    }
    if let Some(paths) = r.path {
        let mut out = Vec::new();
        for (i, text) in list(p, "path", paths.into_vec())?.iter().enumerate() {
            match PathPattern::parse(text) {
                Ok(pattern) => out.push(pattern),
                Err(e) => p.push(format!("{key}.path[{i}]: `{text}` {e}")),
            }
        }
        return (!out.is_empty()).then_some(Condition::Path(out));
    }
    if let Some(addresses) = r.address {
        let mut out = Vec::new();
        for (i, text) in list(p, "address", addresses.into_vec())?.iter().enumerate() {
            let parsed = text
                .parse::<IpNet>()
                .or_else(|_| text.parse::<std::net::IpAddr>().map(IpNet::from));
            match parsed {
                Ok(net) => out.push(net),
                Err(_) => p.push(format!(
                    "{key}.address[{i}]: `{text}` is not an IP address or CIDR"
                )),
            }
        }
        return (!out.is_empty()).then_some(Condition::Address(out));
    }
    if let Some(all) = r.all {
        return combine(p, c, &format!("{key}.all"), all).map(Condition::All);
    }
    if let Some(any) = r.any {
        return combine(p, c, &format!("{key}.any"), any).map(Condition::Any);
    }
    if let Some(not) = r.not {
        return compile_condition(p, c, &format!("{key}.not"), *not)
            .map(|inner| Condition::Not(Box::new(inner)));
    }
    None
}

fn combine(
    p: &mut Problems,
    c: &mut Compiler<'_>,
    key: &str,
    raw: Vec<RawCondition>,
) -> Option<Vec<Condition>> {
    if raw.is_empty() {
        p.push(format!("{key}: empty list"));
        return None;
    }
    let n = raw.len();
    let out: Vec<Condition> = raw
        .into_iter()
        .enumerate()
        .filter_map(|(i, r)| compile_condition(p, c, &format!("{key}[{i}]"), r))
        .collect();
    (out.len() == n).then_some(out)
}

fn methods_condition(p: &mut Problems, key: &str, methods: Vec<String>) -> Option<Condition> {
    let mut out = Vec::new();
    for (i, m) in methods.iter().enumerate() {
        // Methods are case-sensitive (RFC 9110 §9.1): `get` would never match a browser's GET.
        let upper = m.bytes().all(|b| b.is_ascii_uppercase() || b == b'-');
        match http::Method::from_bytes(m.as_bytes()) {
            Ok(method) if upper => out.push(method),
            _ => p.push(format!(
                "{key}.method[{i}]: `{m}` is not an HTTP method (write it in capitals, e.g. GET)"
            )),
        }
    }
    (out.len() == methods.len()).then_some(Condition::Method(out))
}

#[cfg(test)]
#[path = "policies_tests.rs"]
mod tests;
