//! The admin listener: Prometheus metrics, liveness and readiness, on its own port so that
//! none of it is reachable through the proxied one.

use crate::app::{AppState, Live};
use async_trait::async_trait;
use http::{Response, StatusCode};
use pingora::apps::http_app::ServeHttp;
use pingora::protocols::http::ServerSession;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

pub struct AdminApp {
    live: Arc<Live>,
}

impl AdminApp {
    pub fn new(live: Arc<Live>) -> Self {
        AdminApp { live }
    }
}

/// Ready when the store answers and every upstream has a healthy address. The result is
/// also kept in `gatehouse_ready`, so that a scrape alone shows readiness. `/readyz` answers
/// with it, and gRPC health (`forward_auth.grpc_listen`) reports it.
pub async fn readiness(state: &AppState) -> (StatusCode, serde_json::Value) {
    let store = match tokio::time::timeout(Duration::from_secs(2), state.store.ping()).await {
        Ok(Ok(())) => "ok".to_string(),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness: store check failed");
            "unavailable".to_string()
        }
        Err(_) => "timeout".to_string(),
    };
    let upstreams: serde_json::Map<String, serde_json::Value> = state
        .upstreams
        .iter()
        .map(|u| {
            (
                u.name.clone(),
                json!(if u.healthy() { "ok" } else { "unhealthy" }),
            )
        })
        .collect();
    let ready = store == "ok" && upstreams.values().all(|v| v == "ok");
    state.metrics.ready.set(i64::from(ready));
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        json!({ "status": if ready { "ready" } else { "not_ready" }, "store": store, "upstreams": upstreams }),
    )
}

fn respond(status: StatusCode, content_type: &str, body: Vec<u8>) -> Response<Vec<u8>> {
    let mut resp = Response::new(body);
    *resp.status_mut() = status;
    if let Ok(v) = http::HeaderValue::from_str(content_type) {
        resp.headers_mut().insert(http::header::CONTENT_TYPE, v);
    }
    resp.headers_mut().insert(
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-store"),
    );
    let len = resp.body().len();
    resp.headers_mut()
        .insert(http::header::CONTENT_LENGTH, http::HeaderValue::from(len));
    resp
}

#[async_trait]
impl ServeHttp for AdminApp {
    async fn response(&self, session: &mut ServerSession) -> Response<Vec<u8>> {
        let path = session.req_header().uri.path().to_string();
        let state = self.live.current();
        let json_type = "application/json";
        match path.as_str() {
            "/metrics" => {
                // Checked on each scrape, so `gatehouse_ready` is current without a prober.
                readiness(&state).await;
                respond(
                    StatusCode::OK,
                    "text/plain; version=0.0.4; charset=utf-8",
                    state.metrics.render(),
                )
            }
            "/healthz" => respond(StatusCode::OK, json_type, br#"{"status":"alive"}"#.to_vec()),
            "/readyz" => {
                let (status, body) = readiness(&state).await;
                respond(status, json_type, body.to_string().into_bytes())
            }
            _ => respond(
                StatusCode::NOT_FOUND,
                json_type,
                br#"{"error":"not_found","error_description":"admin endpoints: /metrics, /healthz, /readyz"}"#
                    .to_vec(),
            ),
        }
    }
}
