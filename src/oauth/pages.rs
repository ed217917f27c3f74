//! HTML pages of the authorization code flow (sign-in, consent): askama templates in
//! `templates/`, extending the shared shell of `http::page`, which owns the one stylesheet,
//! its CSP hash, the escaper and the error page.
//!
//! Pure functions returning complete HTML documents; `http::page::response` adds the HTTP
//! plumbing. No script, no external asset, no inline `style` attribute, so the one CSP hash
//! covers every page. Every interpolated value is escaped by the templates.

pub use crate::http::page::{content_security_policy, error, escape};
use crate::http::page::{render, STYLE};
use askama::Template;
#[cfg(test)]
use base64::{engine::general_purpose::STANDARD, Engine};
#[cfg(test)]
use sha2::{Digest, Sha256};

/// The sign-in form of the authorization flow.
pub struct SignInPage<'a> {
    /// Display name of the app asking for access.
    pub client_name: &'a str,
    /// Form POST target, e.g. `/oauth/sign-in`.
    pub action: &'a str,
    /// Value of the hidden input named `csrf_token`.
    pub csrf_token: &'a str,
    /// Pre-filled username after a failed attempt (`""` otherwise).
    pub username: &'a str,
    /// Message shown above the form after a failed attempt.
    pub error: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "sign_in.html")]
struct SignInTemplate<'a> {
    style: &'static str,
    page: &'a SignInPage<'a>,
}

/// Renders the sign-in page: a form posting `username`, `password` and `csrf_token`, the
/// first field still to fill in focused.
pub fn sign_in(page: &SignInPage<'_>) -> String {
    render(&SignInTemplate { style: STYLE, page })
}

/// The consent screen shown to a signed-in user.
pub struct ConsentPage<'a> {
    /// Display name of the app asking for access.
    pub client_name: &'a str,
    /// Display name of the signed-in user.
    pub user_name: &'a str,
    /// Requested scopes, listed one per item; empty means "basic access to your account".
    pub scopes: &'a [String],
    /// Form POST target, e.g. `/oauth/consent`.
    pub action: &'a str,
    /// Value of the hidden input named `csrf_token`.
    pub csrf_token: &'a str,
}

#[derive(Template)]
#[template(path = "consent.html")]
struct ConsentTemplate<'a> {
    style: &'static str,
    page: &'a ConsentPage<'a>,
}

/// Renders the consent page: two submit buttons in ONE form,
/// `name="decision" value="approve"` and `name="decision" value="deny"`.
pub fn consent(page: &ConsentPage<'_>) -> String {
    render(&ConsentTemplate { style: STYLE, page })
}

/// After signing out (`done`), or the confirmation asked of a sign-out another site started:
/// one form posting `rd` to `/oauth/logout`.
pub struct SignOutPage<'a> {
    pub host: &'a str,
    pub rd: &'a str,
    pub done: bool,
}

#[derive(Template)]
#[template(path = "sign_out.html")]
struct SignOutTemplate<'a> {
    style: &'static str,
    host: &'a str,
    rd: &'a str,
    done: bool,
}

pub fn sign_out(page: &SignOutPage<'_>) -> String {
    render(&SignOutTemplate {
        style: STYLE,
        host: page.host,
        rd: page.rd,
        done: page.done,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAYLOAD: &str = "<script>\"'&";
    const ESCAPED: &str = "&lt;script&gt;&quot;&#x27;&amp;";

    fn sign_in_page<'a>() -> SignInPage<'a> {
        SignInPage {
            client_name: "Example App",
            action: "/oauth/sign-in",
            csrf_token: "csrf-123",
            username: "",
            error: None,
        }
    }

    fn consent_page(scopes: &[String]) -> ConsentPage<'_> {
        ConsentPage {
            client_name: "Example App",
            user_name: "alice",
            scopes,
            action: "/oauth/consent",
            csrf_token: "csrf-456",
        }
    }

    /// The payload must only ever appear escaped.
    fn assert_escaped(html: &str, field: &str) {
        assert!(
            html.contains(ESCAPED),
            "{field}: escaped payload missing:\n{html}"
        );
        assert!(!html.contains(PAYLOAD), "{field}: raw payload leaked");
        assert!(!html.contains("<script"), "{field}: raw <script");
        assert!(!html.contains("\"'"), "{field}: raw quotes leaked");
    }

    /// Structural rules every page must follow.
    fn assert_well_formed(html: &str) {
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(html.contains("<html lang=\"en\">"));
        assert!(html.contains("<meta charset=\"utf-8\">"));
        assert!(html.contains("name=\"viewport\""));
        assert!(html.contains("<meta name=\"referrer\" content=\"no-referrer\">"));
        assert!(html.contains("<title>"));
        assert_eq!(html.matches("<style>").count(), 1);
        assert_eq!(html.matches("</style>").count(), 1);
        assert!(!html.contains("<script"));
        assert!(!html.contains("style=\""));
        assert!(!html.contains("<link"));
        assert!(!html.contains("src="));
        assert!(!html.contains("http://") && !html.contains("https://"));
        for handler in [" onclick", " onload", " onerror", " onsubmit", " onfocus"] {
            assert!(!html.contains(handler), "inline event handler {handler}");
        }
        assert!(html.trim_end().ends_with("</html>"));
    }

    fn style_content(html: &str) -> &str {
        let start = html.find("<style>").expect("no <style>") + "<style>".len();
        let end = start + html[start..].find("</style>").expect("no </style>");
        &html[start..end]
    }

    fn csp_style_hash() -> &'static str {
        let csp = content_security_policy();
        let start = csp.find("'sha256-").expect("no style hash in CSP") + "'sha256-".len();
        let end = start + csp[start..].find('\'').expect("unterminated hash");
        &csp[start..end]
    }

    #[test]
    fn escape_covers_all_special_characters() {
        assert_eq!(
            escape("a&b<c>d\"e'f/g"),
            "a&amp;b&lt;c&gt;d&quot;e&#x27;f&#x2F;g"
        );
        assert_eq!(escape(PAYLOAD), ESCAPED);
        assert_eq!(escape("plain text, ünïcode ✓"), "plain text, ünïcode ✓");
        assert_eq!(escape(""), "");
    }

    #[test]
    fn sign_in_form_has_the_expected_fields() {
        let html = sign_in(&sign_in_page());
        assert_well_formed(&html);
        assert!(html.contains("<h1>Sign in to continue to Example App</h1>"));
        assert!(html.contains("<form method=\"post\" action=\"&#x2F;oauth&#x2F;sign-in\">"));
        assert!(html.contains("name=\"username\""));
        assert!(html.contains("autocomplete=\"username\""));
        assert!(html.contains("name=\"password\" type=\"password\""));
        assert!(html.contains("autocomplete=\"current-password\""));
        assert!(html.contains("<input type=\"hidden\" name=\"csrf_token\" value=\"csrf-123\">"));
        assert!(html.contains("<label for=\"username\">"));
        assert!(html.contains("<label for=\"password\">"));
        assert!(html.contains("id=\"username\""));
        assert!(html.contains("id=\"password\""));
        assert!(!html.contains("role=\"alert\""), "no error, no alert");
        assert_eq!(html.matches("<form").count(), 1);
    }

    #[test]
    fn sign_in_shows_error_and_prefills_username() {
        let page = SignInPage {
            username: "alice",
            error: Some("Wrong username or password."),
            ..sign_in_page()
        };
        let html = sign_in(&page);
        assert_well_formed(&html);
        assert!(html.contains("role=\"alert\">Wrong username or password.</p>"));
        assert!(html.contains("value=\"alice\""));
        // The error comes before the form.
        assert!(html.find("role=\"alert\"").unwrap() < html.find("<form").unwrap());
    }

    #[test]
    fn sign_in_escapes_every_field() {
        let base = sign_in_page();
        let pages = [
            (
                "client_name",
                SignInPage {
                    client_name: PAYLOAD,
                    ..sign_in_page()
                },
            ),
            (
                "action",
                SignInPage {
                    action: PAYLOAD,
                    ..sign_in_page()
                },
            ),
            (
                "csrf_token",
                SignInPage {
                    csrf_token: PAYLOAD,
                    ..sign_in_page()
                },
            ),
            (
                "username",
                SignInPage {
                    username: PAYLOAD,
                    ..sign_in_page()
                },
            ),
            (
                "error",
                SignInPage {
                    error: Some(PAYLOAD),
                    ..sign_in_page()
                },
            ),
        ];
        for (field, page) in pages {
            let html = sign_in(&page);
            assert_escaped(&html, field);
            assert_well_formed(&html);
        }
        assert!(!sign_in(&base).contains(ESCAPED));
    }

    #[test]
    fn consent_has_both_decisions_in_one_form_and_lists_scopes() {
        let scopes = vec!["read:profile".to_string(), "write:notes".to_string()];
        let html = consent(&consent_page(&scopes));
        assert_well_formed(&html);
        assert!(html.contains("<h1>Example App wants to access your account</h1>"));
        assert!(html.contains("<strong>alice</strong>"));
        assert!(html.contains("<li>read:profile</li>"));
        assert!(html.contains("<li>write:notes</li>"));
        assert!(!html.contains("basic access to your account"));
        assert_eq!(html.matches("<form").count(), 1);
        assert!(html.contains("<form method=\"post\" action=\"&#x2F;oauth&#x2F;consent\">"));
        assert!(html.contains("<input type=\"hidden\" name=\"csrf_token\" value=\"csrf-456\">"));
        let form_start = html.find("<form").unwrap();
        let form_end = html.find("</form>").unwrap();
        let form = &html[form_start..form_end];
        assert!(form.contains("type=\"submit\" name=\"decision\" value=\"approve\""));
        assert!(form.contains("type=\"submit\" name=\"decision\" value=\"deny\""));
    }

    #[test]
    fn consent_without_scopes_asks_for_basic_access() {
        let html = consent(&consent_page(&[]));
        assert_well_formed(&html);
        assert!(html.contains("<li>basic access to your account</li>"));
        assert_eq!(html.matches("<li>").count(), 1);
    }

    #[test]
    fn consent_escapes_every_field() {
        let scopes = vec!["openid".to_string(), PAYLOAD.to_string()];
        let plain = vec!["openid".to_string()];
        let pages = [
            (
                "client_name",
                ConsentPage {
                    client_name: PAYLOAD,
                    ..consent_page(&plain)
                },
            ),
            (
                "user_name",
                ConsentPage {
                    user_name: PAYLOAD,
                    ..consent_page(&plain)
                },
            ),
            ("scopes", consent_page(&scopes)),
            (
                "action",
                ConsentPage {
                    action: PAYLOAD,
                    ..consent_page(&plain)
                },
            ),
            (
                "csrf_token",
                ConsentPage {
                    csrf_token: PAYLOAD,
                    ..consent_page(&plain)
                },
            ),
        ];
        for (field, page) in pages {
            let html = consent(&page);
            assert_escaped(&html, field);
            assert_well_formed(&html);
        }
    }

    #[test]
    fn error_page_escapes_and_links_nowhere() {
        let html = error(
            "Invalid redirect_uri",
            "The redirect_uri https://evil.example/cb?x=1&y=2 is not registered.",
        );
        assert_well_formed(&html);
        assert!(html.contains("<h1>Invalid redirect_uri</h1>"));
        assert!(html.contains("https:&#x2F;&#x2F;evil.example&#x2F;cb?x=1&amp;y=2"));
        assert!(!html.contains("href"));
        assert!(!html.contains("<a "));
        assert!(!html.contains("<form"));
        assert!(!html.contains("http-equiv"), "no meta refresh");

        for (field, html) in [
            ("title", error(PAYLOAD, "m")),
            ("message", error("t", PAYLOAD)),
        ] {
            assert_escaped(&html, field);
            assert_well_formed(&html);
        }
    }

    #[test]
    fn csp_hash_matches_the_style_element_of_every_page() {
        let scopes = vec!["read".to_string()];
        let pages = [
            sign_in(&sign_in_page()),
            sign_in(&SignInPage {
                error: Some("nope"),
                username: "bob",
                ..sign_in_page()
            }),
            consent(&consent_page(&scopes)),
            consent(&consent_page(&[])),
            error("Error", "Something went wrong."),
        ];
        let expected = csp_style_hash();
        for html in &pages {
            let style = style_content(html);
            assert!(!style.is_empty());
            let actual = STANDARD.encode(Sha256::digest(style.as_bytes()));
            assert_eq!(
                actual, expected,
                "CSP hash does not match the <style> content"
            );
        }
        // One stylesheet, byte for byte, in every page.
        assert!(pages
            .iter()
            .all(|html| style_content(html) == style_content(&pages[0])));
    }

    #[test]
    fn csp_forbids_everything_else() {
        let csp = content_security_policy();
        for directive in [
            "default-src 'none'",
            "script-src 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
            "base-uri 'none'",
        ] {
            assert!(csp.contains(directive), "missing {directive} in {csp}");
        }
        assert!(!csp.contains("unsafe-inline"));
        assert!(!csp.contains("unsafe-eval"));
        assert_eq!(csp.matches("'sha256-").count(), 1);
        // Header-safe: a single line of visible ASCII.
        assert!(csp.bytes().all(|b| (0x20..0x7f).contains(&b)));
        // Same value every call.
        assert!(std::ptr::eq(csp, content_security_policy()));
    }
}
