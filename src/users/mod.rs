//! Local user accounts: sign-up, the admin users API, usernames and passwords.

pub mod api;
pub mod passwords;

use unicode_normalization::UnicodeNormalization;

/// The uniqueness key of a username: NFKC, then lowercase (`Alice`, `ALICE`, `ａｌｉｃｅ` are one).
pub fn username_key(username: &str) -> String {
    username.nfkc().collect::<String>().to_lowercase()
}

/// A displayable, storable username: 1–64 characters, no control characters, no outer spaces.
pub fn username_problem(username: &str) -> Option<&'static str> {
    let n = username.chars().count();
    if n == 0 || n > 64 {
        return Some("username must be 1 to 64 characters");
    }
    if username.trim() != username {
        return Some("username must not start or end with spaces");
    }
    if username.chars().any(char::is_control) {
        return Some("username must not contain control characters");
    }
    None
}

/// NIST SP 800-63B lengths, checked before any hashing (a megabyte password costs nothing).
pub fn password_problem(password: &str) -> Option<&'static str> {
    let n = password.chars().count();
    if n < passwords::MIN_PASSWORD_LEN {
        Some("password must be at least 8 characters")
    } else if n > passwords::MAX_PASSWORD_LEN {
        Some("password must be at most 128 characters")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_fold_case_and_width() {
        assert_eq!(username_key("Alice"), "alice");
        assert_eq!(username_key("ＡＬＩＣＥ"), "alice");
        assert!(username_problem(" bob").is_some());
        assert!(username_problem("").is_some());
        assert!(username_problem("bob\n").is_some());
        assert!(username_problem("bob").is_none());
        assert!(password_problem("1234567").is_some());
        assert!(password_problem(&"x".repeat(129)).is_some());
        assert!(password_problem("12345678").is_none());
    }
}
