//! Local users' groups: validated names, kept in the store space-separated (a name never
//! holds a space), shown as a list and sent upstream comma-separated.

/// At most this many groups per user or token.
pub const MAX_GROUPS: usize = 32;
const MAX_GROUP_LEN: usize = 64;

/// `[A-Za-z0-9][A-Za-z0-9._:-]{0,63}`.
pub fn is_group_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= MAX_GROUP_LEN
        && b[0].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b':' | b'-'))
}

/// Validates group names and returns the stored form: space-separated, duplicates dropped,
/// first appearance kept. Refusals name the bad group.
pub fn normalize_groups<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<String, String> {
    let mut kept: Vec<&str> = Vec::new();
    for name in names {
        if !is_group_name(name) {
            return Err(format!(
                "`{name}` is not a valid group name (1 to 64 of A-Z a-z 0-9 . _ : -, starting \
                 with a letter or digit)"
            ));
        }
        if !kept.contains(&name) {
            kept.push(name);
        }
    }
    if kept.len() > MAX_GROUPS {
        return Err(format!("at most {MAX_GROUPS} groups are allowed"));
    }
    Ok(kept.join(" "))
}

/// `a,b,c` (spaces around names ignored, empty items skipped) → the stored form.
pub fn parse_group_list(list: &str) -> Result<String, String> {
    normalize_groups(list.split(',').map(str::trim).filter(|s| !s.is_empty()))
}

/// The stored form → the list shown by the users API.
pub fn group_list(stored: &str) -> Vec<&str> {
    stored.split_whitespace().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_and_deduplicated() {
        assert_eq!(
            parse_group_list("editors, admins,editors,"),
            Ok("editors admins".into())
        );
        assert_eq!(parse_group_list(""), Ok(String::new()));
        assert!(parse_group_list("a b").is_err());
        assert!(parse_group_list("-x").is_err());
        assert!(parse_group_list(&"a".repeat(65)).is_err());
        assert!(parse_group_list(&"a".repeat(64)).is_ok());
        assert!(normalize_groups(["team:ops.1_x-y"]).is_ok());
        let many: Vec<String> = (0..33).map(|i| format!("g{i}")).collect();
        assert!(normalize_groups(many.iter().map(String::as_str)).is_err());
        assert_eq!(group_list("a b"), vec!["a", "b"]);
    }
}
