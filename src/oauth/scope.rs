//! Scopes (RFC 6749 §3.3): parsing, the client's allowance, and narrowing on refresh.

use crate::config::is_scope_token;

/// Parses a space-separated scope string; `None` when a token is malformed.
/// Duplicates are dropped, order is kept.
pub fn parse(text: &str) -> Option<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for s in text.split(' ').filter(|s| !s.is_empty()) {
        if !is_scope_token(s) {
            return None;
        }
        if !out.iter().any(|o| o == s) {
            out.push(s.to_string());
        }
    }
    Some(out)
}

pub fn join(scopes: &[String]) -> String {
    scopes.join(" ")
}

/// Every requested scope is in `allowed` (`None` allows anything).
pub fn allowed_by(requested: &[String], allowed: Option<&[String]>) -> bool {
    match allowed {
        None => true,
        Some(list) => requested.iter().all(|r| list.contains(r)),
    }
}

/// `requested` only narrows `granted` (RFC 6749 §6).
pub fn is_subset(requested: &[String], granted: &[String]) -> bool {
    requested.iter().all(|r| granted.contains(r))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsing_and_narrowing() {
        assert_eq!(parse("read  write read").unwrap(), vec!["read", "write"]);
        assert_eq!(parse("").unwrap(), Vec::<String>::new());
        assert!(parse("read \"x\"").is_none());
        let granted = parse("read write").unwrap();
        assert!(is_subset(&parse("read").unwrap(), &granted));
        assert!(!is_subset(&parse("read admin").unwrap(), &granted));
        assert!(allowed_by(&granted, None));
        assert!(!allowed_by(&granted, Some(&["read".to_string()])));
    }
}
