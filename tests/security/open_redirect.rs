//! SECURITY G1 (integrator URLs and popup origins), A1 (exact `redirect_uri` match) and A3
//! (unknown client or redirect: an error page, never a redirect), O2 (a browser session's
//! return URL stays on its host): every endpoint that takes a URL it might send a browser to, fed the corpus raw and encoded. Each case must be refused
//! with 400 and no `Location`.

use crate::support::fake_facebook::{FakeFacebook, APP_ID, APP_SECRET};
use crate::support::oauth::*;
use crate::support::*;

const CORPUS: &str = include_str!("corpora/open_redirect.tsv");
const KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
/// A valid S256 challenge; the value does not matter, only that the request is otherwise fine.
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

/// `raw`: on the wire as written, except the bytes a request target cannot carry literally.
fn raw(value: &str) -> String {
    let mut out = String::new();
    for c in value.chars() {
        match c {
            ' ' | '#' | '&' | '+' => out.push_str(&format!("%{:02X}", c as u32)),
            c if c.is_ascii() && !c.is_ascii_control() => out.push(c),
            c => {
                let mut buf = [0u8; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    out.push_str(&format!("%{b:02X}"));
                }
            }
        }
    }
    out
}

fn encoded(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// The raw request for one case.
fn request(endpoint: &str, value: &str, token: &str) -> String {
    let get = |target: String, auth: bool| {
        let auth = if auth {
            format!("Authorization: Bearer {token}\r\n")
        } else {
            String::new()
        };
        format!("GET {target} HTTP/1.1\r\nHost: localhost\r\n{auth}Connection: close\r\n\r\n")
    };
    let authorize = |client: &str| {
        format!("/oauth/authorize?response_type=code&client_id={client}&redirect_uri={value}&scope=read&state=s&code_challenge={CHALLENGE}&code_challenge_method=S256")
    };
    match endpoint {
        "dialog" => get(
            format!("/facebook/oauth_dialog?redirect_uri={value}&oauth_token={token}"),
            false,
        ),
        "social-dialog" => get(
            format!("/social-media-posting/oauth/facebook/oauth_dialog?redirect_uri={value}&oauth_token={token}"),
            false,
        ),
        "start" => get(format!("/facebook/start?origin={value}"), true),
        "social-start" => get(
            format!("/social-media-posting/oauth/facebook/start?origin={value}"),
            true,
        ),
        "start-token" => {
            let body = format!("origin={value}");
            format!(
                "POST /facebook/start-token HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )
        }
        "authorize" => get(authorize(WEB), false),
        "session-sign-in" => get(format!("/oauth/sign-in?rd={value}"), false),
        "logout" => get(format!("/oauth/logout?rd={value}"), false),
        "authorize-unknown" => get(authorize("no-such-client"), false),
        other => panic!("unknown endpoint {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_redirect_corpus_is_refused_on_every_endpoint() {
    let fb = FakeFacebook::start().await;
    let sections = format!(
        "{}\n[facebook]\napp_id = \"{APP_ID}\"\napp_secret = \"{APP_SECRET}\"\ndialog_url = \"{base}\"\ngraph_url = \"{base}\"\n\
         api_version = \"v21.0\"\nscopes = [\"pages_show_list\"]\n\
         integrator_origins = [\"https://btask.example.net\", \"http://localhost:3999\"]\ntoken_encryption_key = \"{KEY}\"\ntimeout = \"1s\"\n",
        oauth_sections(""),
        base = fb.base_url
    );
    let gh = TestGatehouse::start(&sections);
    gh.sign_up("redirects", "password123").await;
    let token = gh.login("redirects", "password123").await["access_token"]
        .as_str()
        .unwrap()
        .to_string();

    // Controls: each endpoint accepts an allowed value, so a refusal below is about the value.
    for (endpoint, good, status) in [
        ("dialog", "https://btask.example.net/done?x=1", 302),
        ("social-dialog", "https://btask.example.net/done", 302),
        ("start", "https://btask.example.net", 302),
        ("social-start", "http://localhost:3999", 302),
        ("start-token", "https://btask.example.net", 200),
        ("authorize", WEB_REDIRECT, 200),
        ("session-sign-in", "/app/x?y=1", 200),
        ("session-sign-in", "http://localhost/app", 200),
        ("logout", "/app", 303),
    ] {
        let r = raw_request(gh.addr, &request(endpoint, &encoded(good), &token));
        assert_eq!(r.status, status, "control {endpoint}: {r:?}");
    }

    let cases = crate::corpus(CORPUS, 398);
    let mut failures = Vec::new();
    for case in &cases {
        let (endpoint, encoding, value) = (case.field(0), case.field(1), case.field(2));
        let wire = match encoding {
            "raw" => raw(value),
            "encoded" => encoded(value),
            other => panic!("line {}: unknown encoding {other}", case.line),
        };
        let r = raw_request(gh.addr, &request(endpoint, &wire, &token));
        if r.status != 400 || r.header("location").is_some() {
            failures.push(format!(
                "line {} {endpoint} {encoding} {value:?}: status {} location {:?}",
                case.line,
                r.status,
                r.header("location")
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
