//! The few claims an identity keeps beyond user, client and scopes: `groups`, `roles` and any
//! claim a policy names (`Config::claims`, fixed at load), stored by position so an identity
//! holds no claim names and nothing a policy cannot ask about. Identities share equal sets
//! (`identity`), and one with none of them holds nothing here.

use serde_json::{Map, Value};

#[derive(Debug, Default, Clone, PartialEq, Eq, Hash)]
pub struct ClaimValues(Vec<Box<[Box<str>]>>);

impl ClaimValues {
    pub const EMPTY: ClaimValues = ClaimValues(Vec::new());

    /// The values of the claim at `index` of `Config::claims` (empty when absent).
    pub fn get(&self, index: usize) -> &[Box<str>] {
        self.0.get(index).map_or(&[], |v| &v[..])
    }

    /// One list per name of `Config::claims`, in that order: how local users' groups and
    /// roles (kept in the store) enter an identity.
    pub fn from_lists(lists: Vec<Vec<String>>) -> ClaimValues {
        let mut lists: Vec<Box<[Box<str>]>> = lists
            .into_iter()
            .map(|l| l.into_iter().map(String::into_boxed_str).collect())
            .collect();
        while lists.last().is_some_and(|l| l.is_empty()) {
            lists.pop();
        }
        ClaimValues(lists)
    }

    /// Picks `names` out of a token's claims: a string is one value, an array gives each of
    /// its strings, numbers and booleans; objects and nulls give nothing.
    pub fn from_json(names: &[String], claims: &Map<String, Value>) -> ClaimValues {
        ClaimValues::from_lists(
            names
                .iter()
                .map(|n| match claims.get(n) {
                    Some(Value::Array(items)) => items.iter().filter_map(scalar).collect(),
                    Some(v) => scalar(v).into_iter().collect(),
                    None => vec![],
                })
                .collect(),
        )
    }
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keeps_only_the_named_claims_by_position() {
        let names: Vec<String> = ["groups", "roles", "tier"].map(String::from).to_vec();
        let claims = json!({"groups": ["a", "b", {"x": 1}], "tier": 3, "secret": "no"});
        let v = ClaimValues::from_json(&names, claims.as_object().unwrap());
        assert_eq!(v.get(0), &["a".into(), "b".into()] as &[Box<str>]);
        assert!(v.get(1).is_empty());
        assert_eq!(v.get(2), &["3".into()] as &[Box<str>]);
        assert!(v.get(9).is_empty());
        let none = ClaimValues::from_json(&names, json!({"sub": "x"}).as_object().unwrap());
        assert_eq!(none, ClaimValues::default());
    }
}
