//! Whether a new username may be registered: the profile (`username.rs`), names reserved for
//! operators and for the registered clients, and look-alikes of existing users. Shared by
//! `POST /sign-up` and `gatehouse user add`, so both refuse the same names the same way.

use super::username::{confusable_skeleton, enforce, username_key, Refusal, Username};
use crate::http::ApiError;
use crate::store::StoreHandle;
use std::collections::HashSet;

/// Names a user could take to pass for the operator, the service or a mail role account.
pub const BUILT_IN_RESERVED: &[&str] = &[
    "admin",
    "administrator",
    "root",
    "superuser",
    "sysadmin",
    "system",
    "operator",
    "moderator",
    "staff",
    "official",
    "gatehouse",
    "support",
    "security",
    "help",
    "info",
    "postmaster",
    "webmaster",
    "hostmaster",
    "abuse",
    "noreply",
    "no-reply",
    "null",
    "nil",
    "undefined",
    "anonymous",
    "nobody",
    "everyone",
    "oauth",
    "api",
];

/// The skeletons of every reserved name: the built-in list and each configured client id (the
/// consent page and `X-Auth-Client-Id` show client ids beside user names, and the admin login
/// takes a client id as its username).
#[derive(Debug, Clone)]
pub struct ReservedNames(HashSet<String>);

impl ReservedNames {
    pub fn new<'a>(client_ids: impl IntoIterator<Item = &'a str>) -> ReservedNames {
        ReservedNames(
            BUILT_IN_RESERVED
                .iter()
                .copied()
                .chain(client_ids)
                .map(|name| confusable_skeleton(&username_key(name)))
                .collect(),
        )
    }

    fn holds(&self, skeleton: &str) -> bool {
        self.0.contains(skeleton)
    }
}

/// A name past the checks that need no store. Sign-up counts the attempt against its
/// throttle before `settle` looks anything up, so the look-alike answer is no free oracle for
/// which names exist.
#[derive(Debug)]
pub enum Screened {
    Accepted(Username),
    /// Refused for mixing scripts: 409 when it imitates an existing user, otherwise 422.
    MixedScripts(Refusal),
}

/// The checks that need no store: 422 (`Unprocessable`) for a name the profile refuses, 409
/// (`UsernameTaken`) for a reserved one, which answers exactly as a name in use.
pub fn screen_username(reserved: &ReservedNames, input: &str) -> Result<Screened, ApiError> {
    match enforce(input) {
        Ok(name) if reserved.holds(&name.skeleton) => Err(ApiError::UsernameTaken),
        Ok(name) => Ok(Screened::Accepted(name)),
        Err(refusal @ Refusal::MixedScripts { .. }) => match refusal.skeleton() {
            Some(skeleton) if reserved.holds(skeleton) => Err(ApiError::UsernameTaken),
            _ => Ok(Screened::MixedScripts(refusal)),
        },
        Err(refusal) => Err(ApiError::Unprocessable(refusal.message())),
    }
}

impl Screened {
    /// The name to write, or why not. The unique indexes on key and skeleton still decide
    /// between accepted names when the user is written (races, and look-alikes in one script).
    pub async fn settle(self, store: &StoreHandle) -> Result<Username, ApiError> {
        let refusal = match self {
            Screened::Accepted(name) => return Ok(name),
            Screened::MixedScripts(refusal) => refusal,
        };
        let skeleton = refusal.skeleton().unwrap_or_default().to_string();
        let imitates = store
            .run(move |s| async move { s.username_skeleton_taken(&skeleton).await })
            .await?;
        Err(if imitates {
            ApiError::UsernameTaken
        } else {
            ApiError::Unprocessable(refusal.message())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_names_match_by_skeleton() {
        let reserved = ReservedNames::new(["admin-console", "demo-app"]);
        for name in [
            "admin",
            "ADMIN",
            "root",
            "admin-console",
            "Admin-C0nsole",
            "demo-app",
        ] {
            let u = enforce(name).unwrap();
            assert!(reserved.holds(&u.skeleton), "{name}");
        }
        for name in ["alice", "admins", "console"] {
            let u = enforce(name).unwrap();
            assert!(!reserved.holds(&u.skeleton), "{name}");
        }
    }
}
