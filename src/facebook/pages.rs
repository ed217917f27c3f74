//! HTML Gatehouse writes in the Facebook flows: the Rails-style redirect body of seed 000 and
//! the popup's closing page, which posts one message to the exact integrator origin.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use sha2::{Digest, Sha256};

/// Rails' `redirect_to` body, byte for byte: `&` in the URL becomes `&amp;`.
pub fn redirect_body(location: &str) -> String {
    format!(
        "<html><body>You are being <a href=\"{}\">redirected</a>.</body></html>",
        rails_escape(location)
    )
}

/// ERB::Util.html_escape: `& < > " '` (slashes stay, as in the seed's body).
fn rails_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The popup's last page: posts `message` to `target_origin` (never `"*"`) and closes.
/// Returns the HTML and the CSP that allows exactly its one script.
pub fn popup_close(message: &serde_json::Value, target_origin: &str) -> (String, String) {
    // JSON is valid JavaScript; `<` is escaped so no value can close the script element.
    let js = |v: &serde_json::Value| v.to_string().replace('<', "\\u003c");
    let script = format!(
        "(function(){{var m={};var o={};if(window.opener){{window.opener.postMessage(m,o);}}window.close();}})();",
        js(message),
        js(&serde_json::Value::String(target_origin.to_string()))
    );
    let hash = STANDARD.encode(Sha256::digest(script.as_bytes()));
    let html = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"referrer\" content=\"no-referrer\">\
         <title>Facebook connected</title></head><body><p>You can close this window.</p><script>{script}</script></body></html>"
    );
    let csp = format!(
        "default-src 'none'; script-src 'sha256-{hash}'; frame-ancestors 'none'; base-uri 'none'"
    );
    (html, csp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_body_escapes_ampersands() {
        assert_eq!(
            redirect_body("https://f.example/d?a=1&b=2"),
            "<html><body>You are being <a href=\"https://f.example/d?a=1&amp;b=2\">redirected</a>.</body></html>"
        );
    }

    #[test]
    fn popup_posts_to_the_exact_origin_and_cannot_be_broken_out_of() {
        let msg =
            serde_json::json!({"actionType": "close", "accountId": "</script><script>alert(1)"});
        let (html, csp) = popup_close(&msg, "https://btask.example.net");
        assert!(html.contains("\"https://btask.example.net\""));
        assert!(!html.contains("\"*\""));
        assert!(!html.contains("</script><script>alert"));
        let script = html
            .split("<script>")
            .nth(1)
            .unwrap()
            .split("</script>")
            .next()
            .unwrap();
        let hash = STANDARD.encode(Sha256::digest(script.as_bytes()));
        assert!(csp.contains(&hash));
    }
}
