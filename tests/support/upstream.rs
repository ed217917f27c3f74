//! A real HTTP upstream for tests: records every request it receives and answers with a JSON
//! echo of it. It can be stopped and restarted on the same port, made to fail its health
//! check, or made silent (accepts connections, never answers). `/slow` paths answer late, and
//! `hold` keeps every request that arrives waiting until `release`.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    /// Path and query exactly as received.
    pub uri: String,
    /// Header names lowercase, every value in order (duplicates kept).
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Seen {
    pub fn header_values(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.header_values(name).first().copied()
    }
}

pub struct EchoUpstream {
    pub addr: SocketAddr,
    pub name: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    healthy: Arc<AtomicBool>,
    silent: Arc<AtomicBool>,
    gate: Arc<Gate>,
    task: Mutex<Option<JoinHandle<()>>>,
    connections: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl EchoUpstream {
    pub async fn start(name: &str) -> Arc<EchoUpstream> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind upstream");
        let addr = listener.local_addr().expect("upstream addr");
        let up = Arc::new(EchoUpstream {
            addr,
            name: name.to_string(),
            seen: Arc::default(),
            healthy: Arc::new(AtomicBool::new(true)),
            silent: Arc::new(AtomicBool::new(false)),
            gate: Arc::new(Gate {
                closed: watch::channel(false).0,
                held: AtomicUsize::new(0),
            }),
            task: Mutex::new(None),
            connections: Arc::default(),
        });
        up.serve(listener);
        up
    }

    fn serve(&self, listener: TcpListener) {
        let seen = self.seen.clone();
        let healthy = self.healthy.clone();
        let silent = self.silent.clone();
        let gate = self.gate.clone();
        let name = self.name.clone();
        let connections = self.connections.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let (seen, healthy, silent, gate, name) = (
                    seen.clone(),
                    healthy.clone(),
                    silent.clone(),
                    gate.clone(),
                    name.clone(),
                );
                let conn = tokio::spawn(async move {
                    if silent.load(Ordering::SeqCst) {
                        // Hold the connection open and never answer.
                        tokio::time::sleep(std::time::Duration::from_secs(60)).await;
                        drop(stream);
                        return;
                    }
                    let svc = service_fn(move |req: Request<Incoming>| {
                        let (seen, healthy, gate, name) =
                            (seen.clone(), healthy.clone(), gate.clone(), name.clone());
                        async move {
                            let answer = answer(req, &seen, &healthy, &gate, &name).await;
                            Ok::<_, hyper::Error>(answer)
                        }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
                connections.lock().unwrap().push(conn);
            }
        });
        *self.task.lock().unwrap() = Some(task);
    }

    /// Closes the listener: new connections are refused until `restart`.
    pub fn stop(&self) {
        if let Some(t) = self.task.lock().unwrap().take() {
            t.abort();
        }
        // Kept-alive connections die too, as they would when a real process stops.
        for c in self.connections.lock().unwrap().drain(..) {
            c.abort();
        }
    }

    pub async fn restart(&self) {
        self.stop();
        let mut tries = 0;
        let listener = loop {
            match TcpListener::bind(self.addr).await {
                Ok(l) => break l,
                Err(e) if tries < 50 => {
                    tries += 1;
                    let _ = e;
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
                Err(e) => panic!("rebind upstream {}: {e}", self.addr),
            }
        };
        self.serve(listener);
    }

    pub fn set_healthy(&self, healthy: bool) {
        self.healthy.store(healthy, Ordering::SeqCst);
    }

    pub fn set_silent(&self, silent: bool) {
        self.silent.store(silent, Ordering::SeqCst);
    }

    /// Requests received, health checks excluded.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    pub fn last(&self) -> Seen {
        self.seen()
            .last()
            .cloned()
            .expect("upstream received no request")
    }

    /// From now on every request that arrives (health checks excepted) waits, unanswered,
    /// until `release`.
    pub fn hold(&self) {
        self.gate.closed.send_replace(true);
    }

    /// Lets the held requests, and all later ones, through.
    pub fn release(&self) {
        self.gate.closed.send_replace(false);
    }

    /// Requests waiting at the gate now.
    pub fn held(&self) -> usize {
        self.gate.held.load(Ordering::SeqCst)
    }

    pub fn count(&self) -> usize {
        self.seen.lock().unwrap().len()
    }
}

/// `EchoUpstream::hold`'s state: lets a test freeze its clients at a moment when each has a
/// request inside the upstream, so none is between requests.
struct Gate {
    closed: watch::Sender<bool>,
    held: AtomicUsize,
}

async fn answer(
    req: Request<Incoming>,
    seen: &Mutex<Vec<Seen>>,
    healthy: &AtomicBool,
    gate: &Gate,
    name: &str,
) -> Response<Full<Bytes>> {
    if req.uri().path() == "/health" {
        let ok = healthy.load(Ordering::SeqCst);
        return Response::builder()
            .status(if ok { 200 } else { 503 })
            .body(Full::new(Bytes::from_static(b"health")))
            .unwrap();
    }
    let mut closed = gate.closed.subscribe();
    if *closed.borrow_and_update() {
        gate.held.fetch_add(1, Ordering::SeqCst);
        let _ = closed.wait_for(|closed| !closed).await;
        gate.held.fetch_sub(1, Ordering::SeqCst);
    }
    if req.uri().path().starts_with("/slow") {
        // `?ms=N` sets the delay; 800 ms without it.
        let ms = req
            .uri()
            .query()
            .and_then(|q| q.strip_prefix("ms="))
            .and_then(|n| n.parse().ok())
            .unwrap_or(800);
        tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
    }
    let method = req.method().to_string();
    let uri = req.uri().to_string();
    let headers = req
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect::<Vec<_>>();
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes().to_vec())
        .unwrap_or_default();
    let record = Seen {
        method,
        uri: uri.clone(),
        headers,
        body,
    };
    seen.lock().unwrap().push(record);
    let json = serde_json::json!({ "upstream": name, "uri": uri });
    Response::builder()
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(json.to_string())))
        .unwrap()
}
