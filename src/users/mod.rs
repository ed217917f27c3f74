//! Local user accounts: sign-up, the admin users API, the username profile and passwords.

pub mod admission;
pub mod api;
pub mod groups;
pub mod passwords;
pub mod username;

pub use admission::{screen_username, ReservedNames, Screened};
pub use username::username_key;

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
    fn passwords_are_8_to_128_characters() {
        assert!(password_problem("1234567").is_some());
        assert!(password_problem(&"x".repeat(129)).is_some());
        assert!(password_problem("12345678").is_none());
    }
}
