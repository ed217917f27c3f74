//! Evaluates a route's policy: rules in order, the first whose condition holds decides, no
//! match denies. Everything was compiled at config load (`config::policies`), so a decision
//! walks borrowed data and allocates nothing. `explain` answers the same question for an
//! operator from the command line.

mod explain;

pub use explain::explain;

use crate::auth::Identity;
use crate::config::{ClaimTest, Condition, Effect, IssuerRef, PolicyConfig};
use std::net::IpAddr;

/// What a policy may look at: the cached identity and the request as routed.
pub struct Facts<'a> {
    /// `None`: anonymous (an optional or public route without a token).
    pub identity: Option<&'a Identity>,
    pub method: &'a http::Method,
    /// The normalized path.
    pub path: &'a str,
    /// The client address (`server.trusted_proxies` applied); only filled when the policy
    /// reads it.
    pub address: Option<IpAddr>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub effect: Effect,
    /// The rule that decided; `None`: no rule matched.
    pub rule: Option<usize>,
}

impl Decision {
    pub fn rule_name<'p>(&self, policy: &'p PolicyConfig) -> &'p str {
        self.rule
            .and_then(|i| policy.rules.get(i))
            .map_or(policy.default_rule.as_str(), |r| r.name.as_str())
    }
}

pub fn evaluate(policy: &PolicyConfig, facts: &Facts<'_>) -> Decision {
    policy
        .rules
        .iter()
        .position(|r| holds(&r.when, facts))
        .and_then(|i| policy.rules.get(i).map(|r| (i, r.effect)))
        .map_or(
            Decision {
                effect: Effect::Deny,
                rule: None,
            },
            |(i, effect)| Decision {
                effect,
                rule: Some(i),
            },
        )
}

/// Conditions about the token are false for anonymous requests (`authenticated = false`
/// and `not` aside), so an allow rule never lets an anonymous request through by accident.
fn holds(c: &Condition, f: &Facts<'_>) -> bool {
    let id = f.identity;
    match c {
        Condition::ScopesAll(want) => {
            id.is_some_and(|i| want.iter().all(|w| i.scopes().iter().any(|s| **s == **w)))
        }
        Condition::ScopesAny(want) => {
            id.is_some_and(|i| want.iter().any(|w| i.scopes().iter().any(|s| **s == **w)))
        }
        Condition::Claim { index, test } => id.is_some_and(|i| {
            i.claims().get(*index).iter().any(|v| match test {
                ClaimTest::Equals(e) => **v == **e,
                ClaimTest::AnyOf(list) => list.iter().any(|e| **v == **e),
                ClaimTest::Glob(g) => glob_matches(g, v),
            })
        }),
        Condition::ClientId(ids) => id
            .and_then(|i| i.client_id())
            .is_some_and(|c| ids.iter().any(|x| x == c)),
        Condition::Issuer(issuers) => id.is_some_and(|i| {
            issuers.iter().any(|want| match (want, i.issuer()) {
                (IssuerRef::Local, None) => true,
                (IssuerRef::External(w), Some(got)) => w == got,
                _ => false,
            })
        }),
        Condition::Admin(want) => id.is_some_and(|i| i.admin) == *want,
        Condition::Authenticated(want) => id.is_some() == *want,
        Condition::Method(methods) => methods.iter().any(|m| m == f.method),
        Condition::Path(patterns) => patterns.iter().any(|p| p.matches(f.path)),
        Condition::Address(nets) => f
            .address
            .is_some_and(|a| nets.iter().any(|n| n.contains(&a))),
        Condition::All(cs) => cs.iter().all(|c| holds(c, f)),
        Condition::Any(cs) => cs.iter().any(|c| holds(c, f)),
        Condition::Not(inner) => !holds(inner, f),
    }
}

/// `*` matches any run of characters (none included), `?` exactly one; the rest literally.
/// Greedy with one backtracking point, over the characters in place.
pub fn glob_matches(pattern: &str, text: &str) -> bool {
    let mut p = pattern.chars();
    let mut t = text.chars();
    let mut star: Option<(std::str::Chars<'_>, std::str::Chars<'_>)> = None;
    loop {
        let mut p_ahead = p.clone();
        let mut t_ahead = t.clone();
        match (p_ahead.next(), t_ahead.clone().next()) {
            (Some('*'), _) => {
                star = Some((p_ahead.clone(), t.clone()));
                p = p_ahead;
                continue;
            }
            (Some(pc), Some(tc)) if pc == '?' || pc == tc => {
                t_ahead.next();
                p = p_ahead;
                t = t_ahead;
                continue;
            }
            (None, None) => return true,
            _ => {}
        }
        // Mismatch: the last `*` takes one more character, or there is no match.
        let Some((after_star, mut taken)) = star.take() else {
            return false;
        };
        if taken.next().is_none() {
            return false;
        }
        p = after_star.clone();
        t = taken.clone();
        star = Some((after_star, taken));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_stars_and_question_marks() {
        let cases: &[(&str, &str, bool)] = &[
            ("*@example.com", "ann@example.com", true),
            ("*@example.com", "ann@example.com.evil", false),
            ("*@example.com", "@example.com", true),
            ("team-?", "team-a", true),
            ("team-?", "team-ab", false),
            ("team-?", "team-é", true),
            ("a*b*c", "a-x-b-y-b-c", true),
            ("a*b*c", "a-x-b-y-c-d", false),
            ("*", "", true),
            ("", "", true),
            ("", "x", false),
            ("exact", "exact", true),
            ("exact", "exactly", false),
        ];
        for (p, t, want) in cases {
            assert_eq!(glob_matches(p, t), *want, "{p} vs {t}");
        }
    }
}
