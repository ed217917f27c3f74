//! The whole browser-session loop in a real browser (headless Chromium): a page of the app
//! opens a protected URL in a window; Gatehouse redirects it to the sign-in page; the page
//! (same origin, so it may) fills in the form and submits it, as a user would; the 303 brings
//! the window back to the URL it asked for, now with the session cookie, which the page's
//! scripts cannot read (HttpOnly) and the app never receives. Fails, naming the `chromium`
//! package, where Chromium is not installed (scripts/install-deps.sh installs it).

use crate::support;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::chromium::{self, Chromium};
use support::oauth::*;
use support::*;

/// The page that drives the window: what a user does, done by a script of the app's origin.
const DRIVER: &str = r#"<!DOCTYPE html><html><body><script>
function report(o) { fetch("/public/record", { method: "POST", body: JSON.stringify(o) }); }
var w = window.open("/app/done?x=1", "app");
var filled = false;
var timer = setInterval(function () {
  var path;
  try { path = w.location.pathname; } catch (e) { return; }
  if (w.document.readyState !== "complete") { return; }
  if (!filled && path === "/oauth/sign-in" && w.document.getElementById("password")) {
    filled = true;
    report({ step: "sign-in", url: w.location.href });
    w.document.getElementById("username").value = "alice";
    w.document.getElementById("password").value = "password123";
    w.document.forms[0].submit();
  } else if (filled && path === "/app/done") {
    clearInterval(timer);
    report({ step: "back", url: w.location.href, body: w.document.body.innerText,
             cookie: w.document.cookie });
  }
}, 100);
</script></body></html>"#;

/// The app behind Gatehouse: the driver page, a page greeting whoever the identity headers
/// name, and the record of what the driver reports and of every request's cookies.
struct App {
    addr: std::net::SocketAddr,
    reports: Arc<Mutex<Vec<Value>>>,
    cookies: Arc<Mutex<Vec<(String, String)>>>,
}

async fn app() -> App {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let reports = Arc::new(Mutex::new(Vec::new()));
    let cookies = Arc::new(Mutex::new(Vec::new()));
    let (r, c) = (reports.clone(), cookies.clone());
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let (r, c) = (r.clone(), c.clone());
            tokio::spawn(async move {
                let svc = service_fn(move |req: Request<hyper::body::Incoming>| {
                    let (r, c) = (r.clone(), c.clone());
                    async move {
                        let path = req.uri().path().to_string();
                        let header = |n: &str| {
                            req.headers()
                                .get(n)
                                .and_then(|v| v.to_str().ok())
                                .unwrap_or("")
                                .to_string()
                        };
                        c.lock().unwrap().push((path.clone(), header("cookie")));
                        let user = header("x-auth-user-name");
                        let html = match path.as_str() {
                            "/public/record" => {
                                let body = req.into_body().collect().await.unwrap().to_bytes();
                                if let Ok(v) = serde_json::from_slice::<Value>(&body) {
                                    r.lock().unwrap().push(v);
                                }
                                "ok".to_string()
                            }
                            "/public/driver" => DRIVER.to_string(),
                            _ => format!(
                                "<!DOCTYPE html><html><body><p>Hello {user}</p></body></html>"
                            ),
                        };
                        Ok::<_, hyper::Error>(
                            Response::builder()
                                .header("content-type", "text/html; charset=utf-8")
                                .header("set-cookie", "app=1; Path=/")
                                .body(Full::new(Bytes::from(html)))
                                .unwrap(),
                        )
                    }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    App {
        addr,
        reports,
        cookies,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirect_sign_in_and_back_in_a_real_browser() {
    // Fails here, naming the package, before anything starts.
    chromium::binary();
    let app = app().await;
    let sections = format!(
        "{}{}{}{}",
        oauth_sections(""),
        upstream_at("app", app.addr, ""),
        route("/public", "app", "public", ""),
        route("/app", "app", "required", "on_missing = \"sign_in\""),
    );
    let gh = TestGatehouse::start(&sections);
    gh.sign_up("alice", "password123").await;

    let browser = Chromium::open(&format!(
        "http://localhost:{}/public/driver",
        gh.addr.port()
    ));
    let deadline = Instant::now() + Duration::from_secs(60);
    let done = |reports: &[Value]| reports.iter().any(|r| r["step"] == "back");
    while !done(&app.reports.lock().unwrap()) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(browser);

    let reports = app.reports.lock().unwrap().clone();
    let origin = format!("http://localhost:{}", gh.addr.port());
    let sign_in = reports
        .iter()
        .find(|r| r["step"] == "sign-in")
        .unwrap_or_else(|| panic!("never reached the sign-in page: {reports:?}"));
    assert_eq!(
        sign_in["url"],
        format!("{origin}/oauth/sign-in?rd=%2Fapp%2Fdone%3Fx%3D1")
    );
    let back = reports
        .iter()
        .find(|r| r["step"] == "back")
        .unwrap_or_else(|| panic!("never came back: {reports:?}"));
    assert_eq!(back["url"], format!("{origin}/app/done?x=1"));
    assert_eq!(back["body"], "Hello alice");
    // HttpOnly: the page's scripts see the app's cookie, never the session.
    assert_eq!(back["cookie"], "app=1");

    let cookies = app.cookies.lock().unwrap().clone();
    let done_requests: Vec<_> = cookies.iter().filter(|(p, _)| p == "/app/done").collect();
    assert_eq!(done_requests.len(), 1, "{cookies:?}");
    assert!(
        cookies
            .iter()
            .all(|(_, c)| !c.contains("gatehouse-session")),
        "the session cookie reached the app: {cookies:?}"
    );
}
