//! The popup flow in a real browser (headless Chromium): an integrator page opens Gatehouse's
//! start URL with `window.open`; the popup goes through the fake Facebook and back, and its
//! page posts the result to `window.opener` for the exact integrator origin. The page records
//! what it receives by POSTing it back to the test. A page on another origin receives nothing.
//! Fails, naming the `chromium` package, where Chromium is not installed (`make test` and
//! .ci/run install it through scripts/install-deps.sh).

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
use support::fake_facebook::{FakeFacebook, APP_ID, APP_SECRET};
use support::oauth::*;
use support::*;

/// The integrator: serves the opener page and records the messages it reports.
struct Integrator {
    port: u16,
    page: Arc<Mutex<String>>,
    received: Arc<Mutex<Vec<Value>>>,
}

impl Integrator {
    async fn start() -> Integrator {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let page = Arc::new(Mutex::new(String::new()));
        let received = Arc::new(Mutex::new(Vec::new()));
        let (p, r) = (page.clone(), received.clone());
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let (p, r) = (p.clone(), r.clone());
                tokio::spawn(async move {
                    let svc = service_fn(move |req: Request<hyper::body::Incoming>| {
                        let (p, r) = (p.clone(), r.clone());
                        async move {
                            if req.uri().path() == "/record" {
                                let body = req
                                    .into_body()
                                    .collect()
                                    .await
                                    .map(|b| b.to_bytes())
                                    .unwrap_or_default();
                                if let Ok(v) = serde_json::from_slice::<Value>(&body) {
                                    r.lock().unwrap().push(v);
                                }
                                return Ok::<_, hyper::Error>(Response::new(Full::new(
                                    Bytes::from_static(b"ok"),
                                )));
                            }
                            let html = p.lock().unwrap().clone();
                            Ok(Response::builder()
                                .header("content-type", "text/html; charset=utf-8")
                                .body(Full::new(Bytes::from(html)))
                                .unwrap())
                        }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        Integrator {
            port,
            page,
            received,
        }
    }
}

/// The opener page: opens the popup at `start_url` and reports every message it gets.
fn opener_page(start_url: &str) -> String {
    format!(
        r#"<!DOCTYPE html><html><body><script>
window.addEventListener("message", function (e) {{
  fetch("/record", {{ method: "POST", body: JSON.stringify({{ origin: e.origin, data: e.data }}) }});
}});
window.open({start_url:?}, "facebook", "width=500,height=600");
</script></body></html>"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn popup_posts_its_result_to_the_exact_opener_origin() {
    chromium::binary();
    let integrator = Integrator::start().await;
    let origin = format!("http://localhost:{}", integrator.port);
    let fb = FakeFacebook::start().await;
    let sections = format!(
        "{}\n[facebook]\napp_id = \"{APP_ID}\"\napp_secret = \"{APP_SECRET}\"\ndialog_url = \"{base}\"\ngraph_url = \"{base}\"\n\
         integrator_origins = [\"{origin}\"]\ntoken_encryption_key = \"{key}\"\n",
        oauth_sections(""),
        base = fb.base_url,
        key = "11".repeat(32),
    );
    let gh = TestGatehouse::start(&sections);
    gh.sign_up("browser", "password123").await;
    let token = gh.login("browser", "password123").await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let new_start = || async {
        let r = gh
            .client
            .post(gh.url("/facebook/start-token"))
            .bearer_auth(&token)
            .form(&[("origin", origin.as_str())])
            .send()
            .await
            .unwrap();
        let t = r.json::<Value>().await.unwrap()["start_token"]
            .as_str()
            .unwrap()
            .to_string();
        format!("http://localhost:{}/social-media-posting/oauth/facebook/start?start_token={t}&locationId=loc-9&reconnect=false", gh.addr.port())
    };

    // The right opener receives exactly one message, from Gatehouse's origin.
    *integrator.page.lock().unwrap() = opener_page(&new_start().await);
    let browser = Chromium::open(&format!("{origin}/opener"));
    let deadline = Instant::now() + Duration::from_secs(60);
    while integrator.received.lock().unwrap().is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(browser);
    let got = integrator.received.lock().unwrap().clone();
    assert_eq!(got.len(), 1, "messages: {got:?}");
    assert_eq!(
        got[0]["origin"],
        format!("http://localhost:{}", gh.addr.port())
    );
    let data = &got[0]["data"];
    assert_eq!(data["actionType"], "close");
    assert_eq!(data["page"], "social_media_posting");
    assert_eq!(data["platform"], "facebook");
    assert_eq!(data["placement"], "placement");
    assert_eq!(data["accountId"].as_str().unwrap().len(), 24);
    assert!(data["reconnectAccounts"].is_array());

    // An opener on another origin (127.0.0.1 is not localhost to the browser) gets nothing.
    integrator.received.lock().unwrap().clear();
    *integrator.page.lock().unwrap() = opener_page(&new_start().await);
    let browser = Chromium::open(&format!("http://127.0.0.1:{}/opener", integrator.port));
    // Long enough for the whole round trip that succeeded above.
    tokio::time::sleep(Duration::from_secs(8)).await;
    drop(browser);
    assert!(
        integrator.received.lock().unwrap().is_empty(),
        "a foreign opener received the message"
    );
}
