//! OpenTelemetry traces and trace ids in logs (issue 13): the real binary with `[tracing]`
//! exports to an OTLP/HTTP receiver run by this test, which decodes every export request.
//! Checked: one server span per request (route, status, authentication decision, never the
//! token), a store-lookup child on a cache miss and none on a hit, the upstream call's span,
//! a trusted proxy's `traceparent` continued and an untrusted client's ignored, the upstream
//! handed a `traceparent` of the request's trace, JSON log lines carrying `trace_id`, and an
//! Envoy gRPC `Check` traced like a request.

use crate::support;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use serde_json::Value;
use std::net::{IpAddr, SocketAddr};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::*;

/// What the receiver got: each span with its resource's `service.name`, and each request's
/// path and content type.
#[derive(Default)]
struct Received {
    spans: Vec<(String, Span)>,
    requests: Vec<(String, String)>,
}

/// An OTLP/HTTP trace receiver (protobuf), as a collector would run it.
async fn start_receiver() -> (SocketAddr, Arc<Mutex<Received>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let received = Arc::new(Mutex::new(Received::default()));
    let store = received.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let store = store.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req: Request<Incoming>| {
                    let store = store.clone();
                    async move {
                        let path = req.uri().path().to_string();
                        let kind = req
                            .headers()
                            .get("content-type")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("")
                            .to_string();
                        let body = req.into_body().collect().await?.to_bytes();
                        let export = ExportTraceServiceRequest::decode(body).unwrap_or_default();
                        let mut r = store.lock().unwrap();
                        r.requests.push((path, kind));
                        for resource in export.resource_spans {
                            let service = resource
                                .resource
                                .as_ref()
                                .and_then(|r| text(&r.attributes, "service.name"))
                                .unwrap_or_default();
                            for scope in resource.scope_spans {
                                for span in scope.spans {
                                    r.spans.push((service.clone(), span));
                                }
                            }
                        }
                        // An empty ExportTraceServiceResponse: full success.
                        Ok::<_, hyper::Error>(
                            Response::builder()
                                .header("content-type", "application/x-protobuf")
                                .body(Full::new(Bytes::new()))
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
    (addr, received)
}

fn attr<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a AnyValue> {
    attrs
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| v.value.as_ref())
}

fn text(attrs: &[KeyValue], key: &str) -> Option<String> {
    match attr(attrs, key)? {
        AnyValue::StringValue(s) => Some(s.clone()),
        _ => None,
    }
}

fn int(attrs: &[KeyValue], key: &str) -> Option<i64> {
    match attr(attrs, key)? {
        AnyValue::IntValue(i) => Some(*i),
        _ => None,
    }
}

/// `00-TRACE-PARENT-FLAGS` → (trace id, parent span id), as hex.
fn traceparent(value: &str) -> (String, String) {
    let parts: Vec<&str> = value.split('-').collect();
    assert_eq!(parts.len(), 4, "traceparent `{value}`");
    assert_eq!(parts[0], "00");
    (parts[1].to_string(), parts[2].to_string())
}

const CLIENT_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CLIENT_PARENT: &str = "00f067aa0ba902b7";
const FORGED_TRACE: &str = "0af7651916cd43dd8448eb211c80319c";
const FORGED_PARENT: &str = "b7ad6b7169203331";

/// The real binary with `[tracing]` pointed at the receiver and JSON logs to a file.
struct Traced {
    child: std::process::Child,
    addr: SocketAddr,
    dir: tempfile::TempDir,
    log_path: std::path::PathBuf,
}

impl Traced {
    fn start(
        receiver: SocketAddr,
        server_extra: &str,
        sections: &str,
        before: impl FnOnce(&std::path::Path),
    ) -> Traced {
        let dir = tempfile::tempdir().unwrap();
        let (port, admin) = (free_port(), free_port());
        let sections = format!(
            "[tracing]\notlp_endpoint = \"http://{receiver}\"\nservice_name = \"gatehouse-test\"\n{sections}"
        );
        let config_text = TestGatehouse::config_text_full(
            port,
            admin,
            &format!(
                "[store]\nurl = \"sqlite://{}\"\n",
                dir.path().join("g.db").display()
            ),
            server_extra,
            &sections,
        )
        .replace("level = \"warn\"", "level = \"info\"\nformat = \"json\"")
        .replace("access_log = false", "access_log = true");
        let config = dir.path().join("gatehouse.toml");
        std::fs::write(&config, config_text).unwrap();
        before(&config);
        let log_path = dir.path().join("gatehouse.log");
        let log = std::fs::File::create(&log_path).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
            .arg("--config")
            .arg(&config)
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(addr).is_err() {
            assert!(Instant::now() < deadline, "gatehouse did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Traced {
            child,
            addr,
            dir,
            log_path,
        }
    }

    /// SIGTERM: the batch still buffered is exported before the process exits. The logs.
    fn stop(mut self) -> String {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.child.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "gatehouse did not exit");
            std::thread::sleep(Duration::from_millis(50));
        }
        let logs = std::fs::read_to_string(&self.log_path).unwrap();
        drop(self.dir);
        logs
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_are_traced_through_otlp_and_the_upstream() {
    let (receiver, received) = start_receiver().await;
    let upstream = EchoUpstream::start("app").await;
    let sections = [
        format!(
            "[[upstreams]]\nname = \"app\"\naddrs = [\"{}\"]\n",
            upstream.addr
        ),
        route("/api", "app", "required", "name = \"api\""),
    ]
    .concat();
    // Peers on 127.0.0.2 are the trusted ingress; 127.0.0.1 is any client.
    let mut token = String::new();
    let gatehouse = Traced::start(
        receiver,
        "trusted_proxies = [\"127.0.0.2\"]",
        &sections,
        |config| token = cli_issue(config, &["--user", "traced-user"]),
    );
    let addr = gatehouse.addr;
    let base = format!("http://{addr}");
    let from = |ip: &str| {
        reqwest::Client::builder()
            .local_address(ip.parse::<IpAddr>().unwrap())
            .build()
            .unwrap()
    };
    let (ingress, client) = (from("127.0.0.2"), from("127.0.0.1"));

    // 1. Through the trusted ingress, with its trace context; the token is not cached yet.
    let r = ingress
        .get(format!("{base}/api/first"))
        .bearer_auth(&token)
        .header(
            "traceparent",
            format!("00-{CLIENT_TRACE}-{CLIENT_PARENT}-01"),
        )
        .header("tracestate", "ingress=1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let first_up = upstream.last();
    // 2. Straight from a client that made its trace context up; the token is cached now.
    let r = client
        .get(format!("{base}/api/second"))
        .bearer_auth(&token)
        .header(
            "traceparent",
            format!("00-{FORGED_TRACE}-{FORGED_PARENT}-01"),
        )
        .header("tracestate", "forged=1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let second_up = upstream.last();
    // 3. No token: refused before any lookup or upstream call.
    let r = client
        .get(format!("{base}/api/third"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(upstream.count(), 2);

    let logs = gatehouse.stop();

    let r = received.lock().unwrap();
    assert!(
        !r.requests.is_empty(),
        "no export reached the receiver:\n{logs}"
    );
    for (path, kind) in &r.requests {
        assert_eq!(path, "/v1/traces");
        assert_eq!(kind, "application/x-protobuf");
    }
    let spans: Vec<&Span> = r.spans.iter().map(|(_, s)| s).collect();
    assert!(
        r.spans
            .iter()
            .all(|(service, _)| service == "gatehouse-test"),
        "service.name"
    );
    let named =
        |name: &str| -> Vec<&Span> { spans.iter().copied().filter(|s| s.name == name).collect() };
    let requests = named("request");
    assert_eq!(requests.len(), 3, "one server span per request: {spans:#?}");
    let by_path = |path: &str| -> &Span {
        requests
            .iter()
            .copied()
            .find(|s| text(&s.attributes, "url.path").as_deref() == Some(path))
            .unwrap_or_else(|| panic!("no request span for {path}: {requests:#?}"))
    };
    let (first, second, third) = (
        by_path("/api/first"),
        by_path("/api/second"),
        by_path("/api/third"),
    );
    for (span, status, decision) in [
        (first, 200, "ok"),
        (second, 200, "ok"),
        (third, 401, "missing"),
    ] {
        assert_eq!(span.kind, SpanKind::Server as i32);
        assert_eq!(
            text(&span.attributes, "gatehouse.route").as_deref(),
            Some("api")
        );
        assert_eq!(
            text(&span.attributes, "http.request.method").as_deref(),
            Some("GET")
        );
        assert_eq!(
            int(&span.attributes, "http.response.status_code"),
            Some(status)
        );
        assert_eq!(
            text(&span.attributes, "gatehouse.auth.decision").as_deref(),
            Some(decision)
        );
    }

    // The trusted ingress's trace is continued, under its span.
    assert_eq!(hex(&first.trace_id), CLIENT_TRACE);
    assert_eq!(hex(&first.parent_span_id), CLIENT_PARENT);
    // The client's forged context is not: a new trace, with no parent.
    assert_ne!(hex(&second.trace_id), FORGED_TRACE);
    assert!(second.parent_span_id.is_empty(), "{second:#?}");
    assert_ne!(first.trace_id, third.trace_id);
    assert_ne!(second.trace_id, third.trace_id);

    // The store is asked once: on the first request's cache miss, not on the second's hit.
    let lookups = named("token.lookup");
    assert_eq!(lookups.len(), 1, "{lookups:#?}");
    assert_eq!(lookups[0].trace_id, first.trace_id);
    assert_eq!(lookups[0].parent_span_id, first.span_id);

    // One upstream call per proxied request, each a client span under its request; the
    // upstream got a `traceparent` naming that span, in place of whatever came in.
    let calls = named("upstream");
    assert_eq!(calls.len(), 2, "{calls:#?}");
    for (request, seen) in [(first, &first_up), (second, &second_up)] {
        let call = calls
            .iter()
            .find(|c| c.parent_span_id == request.span_id)
            .unwrap_or_else(|| panic!("no upstream span under {request:#?}"));
        assert_eq!(call.kind, SpanKind::Client as i32);
        assert_eq!(call.trace_id, request.trace_id);
        assert_eq!(
            text(&call.attributes, "gatehouse.upstream").as_deref(),
            Some("app")
        );
        assert_eq!(
            int(&call.attributes, "http.response.status_code"),
            Some(200)
        );
        let sent = seen.header_values("traceparent");
        assert_eq!(sent.len(), 1, "{:?}", seen.headers);
        assert_eq!(
            traceparent(sent[0]),
            (hex(&call.trace_id), hex(&call.span_id))
        );
    }
    assert_eq!(first_up.header("tracestate"), Some("ingress=1"));
    assert_eq!(
        second_up.header("tracestate"),
        None,
        "the forged tracestate went on"
    );

    // Nothing of the credential in any span.
    let dump = format!("{spans:?}");
    assert!(!dump.contains(&token), "the token reached a span");
    assert!(!dump.to_lowercase().contains("bearer"), "{dump}");

    // JSON log lines written inside a request carry its trace id; and no colour codes.
    assert!(!logs.contains('\x1b'), "ANSI escape codes in a log file");
    let access: Vec<Value> = logs
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["target"] == "gatehouse::access")
        .collect();
    assert_eq!(access.len(), 3, "{logs}");
    for (span, path) in [
        (first, "/api/first"),
        (second, "/api/second"),
        (third, "/api/third"),
    ] {
        let line = access
            .iter()
            .find(|v| v["path"] == path)
            .unwrap_or_else(|| panic!("no access line for {path}:\n{logs}"));
        assert_eq!(line["trace_id"], hex(&span.trace_id), "{line}");
    }
    let started = logs
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["message"] == "gatehouse starting")
        .expect("start line");
    assert!(
        started.get("trace_id").is_none(),
        "outside any request: {started}"
    );
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Facebook Login's callback calls the Graph API: each call is a client span under the
/// callback's request span, with its endpoint label and outcome and nothing of the tokens.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graph_calls_are_spans_of_the_callback_request() {
    use support::fake_facebook::{FakeFacebook, APP_ID, APP_SECRET};
    use support::oauth::{oauth_sections, LEGACY};
    let (receiver, received) = start_receiver().await;
    let fb = FakeFacebook::start().await;
    let key = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
    let sections = format!(
        "{}\n[facebook]\napp_id = \"{APP_ID}\"\napp_secret = \"{APP_SECRET}\"\n\
         dialog_url = \"{base}\"\ngraph_url = \"{base}\"\napi_version = \"v21.0\"\n\
         scopes = [\"pages_show_list\"]\nintegrator_origins = [\"https://btask.example.net\"]\n\
         token_encryption_key = \"{key}\"\ntimeout = \"2s\"\n",
        oauth_sections(""),
        base = fb.base_url
    );
    let gatehouse = Traced::start(receiver, "", &sections, |_| {});
    let base = format!("http://{}", gatehouse.addr);
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let password = "password-for-tracing-1";
    let r = client
        .post(format!("{base}/sign-up"))
        .json(
            &serde_json::json!({"username": "fbtraced", "password": password, "client_id": LEGACY}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let login: Value = client
        .post(format!("{base}/oauth/authorize"))
        .json(&serde_json::json!({"username": "fbtraced", "password": password, "grant_type": "password", "client_id": LEGACY}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["access_token"].as_str().unwrap().to_string();

    let r = client
        .get(format!(
            "{base}/facebook/oauth_dialog?redirect_uri=https%3A%2F%2Fbtask.example.net%2Fdone&oauth_token={token}"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    let cookies: Vec<String> = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_string())
        .collect();
    let dialog = r.headers()["location"].to_str().unwrap().to_string();
    let r = client.get(dialog).send().await.unwrap();
    assert_eq!(r.status(), 302, "the fake dialog redirects");
    let back = r.headers()["location"].to_str().unwrap().to_string();
    let path = back
        .split('#')
        .next()
        .unwrap()
        .splitn(4, '/')
        .nth(3)
        .unwrap()
        .to_string();
    let r = client
        .get(format!("{base}/{path}"))
        .header("cookie", cookies.join("; "))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302, "{}", r.text().await.unwrap());
    let logs = gatehouse.stop();

    let r = received.lock().unwrap();
    let spans: Vec<&Span> = r.spans.iter().map(|(_, s)| s).collect();
    let callback = spans
        .iter()
        .find(|s| {
            s.name == "request"
                && text(&s.attributes, "url.path").as_deref() == Some("/facebook/oauth_code")
        })
        .unwrap_or_else(|| panic!("no span for the callback: {spans:#?}\n{logs}"));
    let calls: Vec<&&Span> = spans
        .iter()
        .filter(|s| s.name == "facebook.graph")
        .collect();
    assert!(!calls.is_empty(), "no Graph span: {spans:#?}");
    for call in &calls {
        assert_eq!(call.kind, SpanKind::Client as i32);
        assert_eq!(call.trace_id, callback.trace_id);
        assert_eq!(call.parent_span_id, callback.span_id);
        assert_eq!(
            text(&call.attributes, "gatehouse.graph.outcome").as_deref(),
            Some("ok")
        );
    }
    let endpoints: Vec<String> = calls
        .iter()
        .filter_map(|c| text(&c.attributes, "gatehouse.graph.endpoint"))
        .collect();
    assert!(
        endpoints.iter().any(|e| e == "code_exchange"),
        "{endpoints:?}"
    );
    let dump = format!("{spans:?}");
    for secret in [
        token.as_str(),
        APP_SECRET,
        "access_token",
        "appsecret_proof",
    ] {
        assert!(!dump.contains(secret), "`{secret}` in a span");
    }
}

/// What Envoy sends for `GET /private/x` from a client, with `bearer` if any.
fn envoy_check(bearer: Option<&str>) -> envoy_types::pb::envoy::service::auth::v3::CheckRequest {
    use envoy_types::pb::envoy::service::auth::v3::attribute_context::{HttpRequest, Request};
    use envoy_types::pb::envoy::service::auth::v3::{AttributeContext, CheckRequest};
    let mut headers = std::collections::HashMap::from([
        (":method".to_string(), "GET".to_string()),
        (
            ":path".to_string(),
            "/private/x?oauth_token=hidden".to_string(),
        ),
        (":authority".to_string(), "app.test".to_string()),
    ]);
    if let Some(token) = bearer {
        headers.insert("authorization".into(), format!("Bearer {token}"));
    }
    CheckRequest {
        attributes: Some(AttributeContext {
            request: Some(Request {
                http: Some(HttpRequest {
                    method: "GET".into(),
                    path: "/private/x?oauth_token=hidden".into(),
                    host: "app.test".into(),
                    scheme: "https".into(),
                    protocol: "HTTP/1.1".into(),
                    headers,
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }),
    }
}

/// Envoy's gRPC ext_authz `Check` gets the server span an HTTP request gets: the described
/// method and path (without the query), route, status and decision, the store lookup under
/// it, Envoy's `traceparent` (call metadata) continued, and the access line's trace id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn envoy_checks_are_traced_like_requests() {
    use envoy_types::pb::envoy::service::auth::v3::authorization_client::AuthorizationClient;
    let (receiver, received) = start_receiver().await;
    let grpc: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let sections = format!(
        "[forward_auth]\ngrpc_listen = \"{grpc}\"\n\n\
         [[routes]]\nname = \"private\"\npath_prefix = \"/private\"\n"
    );
    let mut token = String::new();
    let gatehouse = Traced::start(
        receiver,
        "trusted_proxies = [\"127.0.0.1\"]",
        &sections,
        |config| token = cli_issue(config, &["--user", "checked-user"]),
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let channel = loop {
        match tonic::transport::Channel::from_shared(format!("http://{grpc}"))
            .expect("uri")
            .connect()
            .await
        {
            Ok(channel) => break channel,
            Err(e) => assert!(Instant::now() < deadline, "no gRPC listener: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let mut client = AuthorizationClient::new(channel);

    // 1. From Envoy with its call's trace context, and a token not cached yet.
    let mut first = tonic::Request::new(envoy_check(Some(&token)));
    first.metadata_mut().insert(
        "traceparent",
        format!("00-{CLIENT_TRACE}-{CLIENT_PARENT}-01")
            .parse()
            .unwrap(),
    );
    let allowed = client.check(first).await.expect("Check").into_inner();
    assert_eq!(allowed.status.map(|s| s.code), Some(0), "allowed");
    // 2. No token, no trace context: denied, in a trace of its own.
    let denied = client
        .check(envoy_check(None))
        .await
        .expect("Check")
        .into_inner();
    assert_eq!(denied.status.map(|s| s.code), Some(16), "UNAUTHENTICATED");

    let logs = gatehouse.stop();
    let r = received.lock().unwrap();
    let spans: Vec<&Span> = r.spans.iter().map(|(_, s)| s).collect();
    let checks: Vec<&Span> = spans
        .iter()
        .copied()
        .filter(|s| s.name == "request")
        .collect();
    assert_eq!(
        checks.len(),
        2,
        "one server span per Check: {spans:#?}\n{logs}"
    );
    let by_status = |status: i64| -> &Span {
        checks
            .iter()
            .copied()
            .find(|s| int(&s.attributes, "http.response.status_code") == Some(status))
            .unwrap_or_else(|| panic!("no Check span with {status}: {checks:#?}"))
    };
    let (ok, refused) = (by_status(200), by_status(401));
    for (span, decision) in [(ok, "ok"), (refused, "missing")] {
        assert_eq!(span.kind, SpanKind::Server as i32);
        for (key, value) in [
            ("rpc.system", "grpc"),
            ("rpc.service", "envoy.service.auth.v3.Authorization"),
            ("rpc.method", "Check"),
            ("http.request.method", "GET"),
            ("url.path", "/private/x"),
            ("gatehouse.route", "private"),
            ("gatehouse.auth.decision", decision),
        ] {
            assert_eq!(text(&span.attributes, key).as_deref(), Some(value), "{key}");
        }
    }
    assert_eq!(hex(&ok.trace_id), CLIENT_TRACE);
    assert_eq!(hex(&ok.parent_span_id), CLIENT_PARENT);
    assert!(refused.parent_span_id.is_empty(), "{refused:#?}");
    assert_ne!(ok.trace_id, refused.trace_id);

    let lookups: Vec<&Span> = spans
        .iter()
        .copied()
        .filter(|s| s.name == "token.lookup")
        .collect();
    assert_eq!(lookups.len(), 1, "{lookups:#?}");
    assert_eq!(lookups[0].parent_span_id, ok.span_id);

    let dump = format!("{spans:?}");
    assert!(!dump.contains(&token), "the token reached a span");
    assert!(!dump.contains("hidden"), "the query reached a span");

    let access: Vec<Value> = logs
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["target"] == "gatehouse::access" && v["front_end"] == "grpc")
        .collect();
    assert_eq!(access.len(), 2, "{logs}");
    for span in [ok, refused] {
        let status = int(&span.attributes, "http.response.status_code").unwrap();
        let line = access
            .iter()
            .find(|v| v["status"] == status)
            .unwrap_or_else(|| panic!("no access line with {status}:\n{logs}"));
        assert_eq!(line["trace_id"], hex(&span.trace_id), "{line}");
    }
}
