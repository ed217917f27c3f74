//! `prompt` (OIDC Core §3.1.2.1): space-separated `none`, `login`, `consent`,
//! `select_account`; `none` stands alone.

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Prompt {
    /// Show no page: answer from the sign-in session or fail with `login_required` etc.
    pub none: bool,
    /// Ask for the password even with a live session.
    pub login: bool,
    /// Show the consent page even when consent was given before.
    pub consent: bool,
}

impl Prompt {
    /// `None` when a value is unknown, repeated or `none` is combined with another.
    pub fn parse(text: Option<&str>) -> Option<Prompt> {
        let mut p = Prompt::default();
        let mut count = 0;
        for value in text.unwrap_or("").split(' ').filter(|v| !v.is_empty()) {
            count += 1;
            let flag = match value {
                "none" => &mut p.none,
                "login" => &mut p.login,
                "consent" => &mut p.consent,
                // One account per session: there is nothing to select, so the user is asked
                // nothing more than without it.
                "select_account" => continue,
                _ => return None,
            };
            if *flag {
                return None;
            }
            *flag = true;
        }
        (!p.none || count == 1).then_some(p)
    }

    /// The flags that matter after the sign-in form, as stored with the pending request.
    pub fn stored(self) -> Option<String> {
        self.consent.then(|| "consent".to_string())
    }

    pub fn from_stored(text: Option<&str>) -> Prompt {
        Prompt::parse(text).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::Prompt;

    #[test]
    fn none_stands_alone_and_unknown_values_are_refused() {
        assert_eq!(Prompt::parse(None), Some(Prompt::default()));
        let both = Prompt::parse(Some("login consent")).unwrap();
        assert!(both.login && both.consent && !both.none);
        assert!(Prompt::parse(Some("none")).unwrap().none);
        assert!(Prompt::parse(Some("select_account")).is_some());
        for bad in ["none login", "bogus", "login login", "none consent"] {
            assert_eq!(Prompt::parse(Some(bad)), None, "{bad}");
        }
    }
}
