//! The HTML page shell of every page Gatehouse writes itself: the one stylesheet, the CSP
//! that allows exactly that stylesheet by its hash, the escaper of the askama templates
//! (`templates/`, compiled in, every value escaped), the error page, and the response
//! headers a page goes out with (framing, referrer, caching).

use crate::http::OwnResponse;
use askama::Template;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};
use sha2::{Digest, Sha256};
use std::sync::OnceLock;

/// The one stylesheet shared by every page. It is inserted verbatim between `<style>` and
/// `</style>`, and its sha256 is what [`content_security_policy`] allows, so any change here
/// is picked up by the policy automatically.
pub const STYLE: &str = "\
:root{color-scheme:light dark;--bg:#f3f4f6;--card:#fff;--text:#111827;--muted:#4b5563;\
--border:#d1d5db;--accent:#2563eb;--accent-text:#fff;--focus:#2563eb;\
--error-bg:#fef2f2;--error-border:#fca5a5;--error-text:#991b1b}\
@media (prefers-color-scheme:dark){:root{--bg:#0f172a;--card:#1e293b;--text:#f1f5f9;\
--muted:#94a3b8;--border:#475569;--accent:#3b82f6;--focus:#93c5fd;\
--error-bg:#450a0a;--error-border:#b91c1c;--error-text:#fecaca}}\
*,*::before,*::after{box-sizing:border-box}\
html{-webkit-text-size-adjust:100%;text-size-adjust:100%}\
body{margin:0;min-height:100vh;display:flex;align-items:center;justify-content:center;\
padding:1.5rem 1rem;background:var(--bg);color:var(--text);\
font-family:system-ui,-apple-system,\"Segoe UI\",Roboto,\"Helvetica Neue\",Arial,\"Noto Sans\",sans-serif;\
font-size:1rem;line-height:1.5}\
main{width:100%;max-width:26rem;background:var(--card);border:1px solid var(--border);\
border-radius:.75rem;padding:2rem 1.75rem;box-shadow:0 10px 30px rgba(0,0,0,.08)}\
h1{margin:0 0 1rem;font-size:1.375rem;line-height:1.3;font-weight:650;overflow-wrap:anywhere}\
p{margin:0 0 1rem;overflow-wrap:anywhere}\
.muted{color:var(--muted);font-size:.9375rem}\
.alert{padding:.75rem 1rem;border:1px solid var(--error-border);border-radius:.5rem;\
background:var(--error-bg);color:var(--error-text)}\
form{margin:0}\
label{display:block;margin:0 0 .375rem;font-weight:600;font-size:.9375rem}\
input[type=text],input[type=password]{display:block;width:100%;margin:0 0 1rem;\
padding:.625rem .75rem;font:inherit;color:inherit;background:transparent;\
border:1px solid var(--border);border-radius:.5rem}\
ul{margin:0 0 1.5rem;padding:0;list-style:none;border:1px solid var(--border);border-radius:.5rem}\
li{padding:.625rem .875rem;overflow-wrap:anywhere}\
li+li{border-top:1px solid var(--border)}\
.actions{display:flex;flex-wrap:wrap;gap:.75rem}\
button{flex:1 1 8rem;padding:.625rem 1rem;font:inherit;font-weight:600;cursor:pointer;\
border-radius:.5rem;border:1px solid var(--border);background:transparent;color:inherit}\
button.primary{background:var(--accent);border-color:var(--accent);color:var(--accent-text)}\
button:hover{filter:brightness(1.08)}\
input:focus-visible,button:focus-visible{outline:3px solid var(--focus);outline-offset:2px}\
@media (max-width:30rem){main{padding:1.5rem 1.25rem}}";

/// Escapes text for HTML element content and double-quoted attribute values
/// (`&`, `<`, `>`, `"`, `'` and `/`).
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            '/' => out.push_str("&#x2F;"),
            c => out.push(c),
        }
    }
    out
}

/// askama's escaper for every page: the characters of [`escape`], `/` included, so that no
/// interpolated value can form a URL on a page that must never link anywhere.
pub struct PageEscaper;

impl askama_escape::Escaper for PageEscaper {
    fn write_escaped<W: std::fmt::Write>(&self, mut fmt: W, string: &str) -> std::fmt::Result {
        fmt.write_str(&escape(string))
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    style: &'static str,
    title: &'a str,
    message: &'a str,
}

/// What a page shows if its template ever failed to render (it has no fallible parts).
const UNRENDERED: &str = "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Error</title></head><body></body></html>\n";

/// Renders a page template; every page embeds [`STYLE`] through the shared shell.
pub fn render(page: &impl Template) -> String {
    page.render().unwrap_or_else(|e| {
        tracing::error!(error = %e, "a page template failed to render");
        UNRENDERED.to_string()
    })
}

/// An error page (invalid client, `redirect_uri` mismatch, expired sign-in session…).
/// Never links anywhere, in particular not to the untrusted `redirect_uri`.
pub fn error(title: &str, message: &str) -> String {
    render(&ErrorPage {
        style: STYLE,
        title,
        message,
    })
}

/// The Content-Security-Policy value the caller must send with every page above: no script,
/// the shared inline `<style>` allowed by its sha256 hash, forms posting to the same origin
/// only, no framing, no `<base>`, nothing else.
pub fn content_security_policy() -> &'static str {
    static POLICY: OnceLock<String> = OnceLock::new();
    POLICY.get_or_init(|| {
        let hash = STANDARD.encode(Sha256::digest(STYLE.as_bytes()));
        format!(
            "default-src 'none'; script-src 'none'; style-src 'sha256-{hash}'; \
             form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
        )
    })
}

/// A page response with the framing, CSP and referrer protections of RFC 9700 §4.16.
/// `form_target` is where a form on the page may end up after a redirect: Chrome and Safari
/// apply `form-action` to the redirect after a submit, so that origin is allowed too.
pub fn response(status: u16, html: String, form_target: Option<&str>) -> OwnResponse {
    let mut csp = content_security_policy().to_string();
    if let Some(origin) = form_target
        .and_then(|u| url::Url::parse(u).ok())
        .map(|u| u.origin().ascii_serialization())
        .filter(|o| o != "null")
    {
        csp = csp.replace(
            "form-action 'self'",
            &format!("form-action 'self' {origin}"),
        );
    }
    let headers: Vec<(HeaderName, HeaderValue)> = vec![
        (
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        ),
        (
            HeaderName::from_static("x-frame-options"),
            HeaderValue::from_static("DENY"),
        ),
        (
            http::header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_str(&csp).unwrap_or_else(|_| {
                HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'")
            }),
        ),
        (
            http::header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ),
        (
            http::header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ),
    ];
    OwnResponse {
        status,
        headers,
        body: Bytes::from(html),
    }
}
