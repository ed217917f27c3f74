//! The Graph API client: exactly the calls of FACEBOOK.md, every user-token call with
//! `appsecret_proof`, bounded timeouts, retries only for idempotent reads on transient errors,
//! and `paging.next` followed only to the Graph host, up to `max_pages`.

use crate::config::FacebookConfig;
use crate::metrics::Metrics;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;
use std::sync::Arc;
use std::time::Duration;
use tracing::Instrument;
use url::Url;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GraphError {
    /// Facebook refused (`code` from its error body): not retried.
    Refused {
        code: i64,
        subcode: Option<i64>,
        message: String,
    },
    /// Rate limited (codes 4, 17, 32, 613): try later.
    RateLimited(String),
    /// Timeouts, connection failures, 5xx, codes 1/2 after the retries ran out.
    Unavailable(String),
    /// An answer we cannot read.
    Malformed(String),
}

impl GraphError {
    /// `(error, description)` for the integrator redirect; never holds a token.
    pub fn describe(&self) -> (&'static str, String) {
        match self {
            GraphError::Refused {
                code: 190, message, ..
            } => (
                "invalid_token",
                format!("Facebook rejected the token: {message}"),
            ),
            GraphError::Refused { code, message, .. } => (
                "facebook_error",
                format!("Facebook error {code}: {message}"),
            ),
            GraphError::RateLimited(m) => (
                "rate_limited",
                format!("Facebook rate limit reached, retry later: {m}"),
            ),
            GraphError::Unavailable(m) => (
                "temporarily_unavailable",
                format!("Facebook could not be reached: {m}"),
            ),
            GraphError::Malformed(m) => (
                "facebook_error",
                format!("unexpected answer from Facebook: {m}"),
            ),
        }
    }

    fn transient(&self) -> bool {
        matches!(self, GraphError::Unavailable(_))
    }
}

pub struct GraphClient {
    http: reqwest::Client,
    graph_base: String,
    graph_origin: String,
    app_id: String,
    app_secret: String,
    max_pages: usize,
    metrics: Arc<Metrics>,
}

/// What the token exchange returns.
pub struct UserToken {
    pub token: String,
    pub expires_in: Option<i64>,
}

pub struct DebugInfo {
    pub app_id: String,
    pub is_valid: bool,
    pub expires_at: i64,
    pub user_id: String,
}

pub struct Me {
    pub id: String,
    pub name: Option<String>,
    pub email: Option<String>,
}

pub fn appsecret_proof(app_secret: &str, token: &str) -> String {
    // HMAC accepts keys of any length: new_from_slice cannot fail here.
    let mut mac = match Hmac::<Sha256>::new_from_slice(app_secret.as_bytes()) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(token.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

const RETRIES: u32 = 2;

/// One Graph call (each attempt of a retried one), for `[tracing]`: the endpoint's label and
/// outcome, never the URL (it may carry a token).
fn graph_span(endpoint: &'static str) -> tracing::Span {
    tracing::info_span!(
        target: crate::telemetry::SPANS,
        "facebook.graph",
        otel.kind = "client",
        gatehouse.graph.endpoint = endpoint,
        gatehouse.graph.outcome = tracing::field::Empty,
    )
}

impl GraphClient {
    pub fn new(config: &FacebookConfig, metrics: Arc<Metrics>) -> Result<Self, String> {
        let http = reqwest::Client::builder()
            .connect_timeout(config.timeout.min(Duration::from_secs(5)))
            .timeout(config.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("facebook: HTTP client: {e}"))?;
        let graph = config.graph_url.as_str().trim_end_matches('/');
        Ok(GraphClient {
            http,
            graph_base: format!("{graph}/{}", config.api_version),
            graph_origin: config.graph_url.origin().ascii_serialization(),
            app_id: config.app_id.clone(),
            app_secret: config.app_secret.expose().to_string(),
            max_pages: config.max_pages,
            metrics,
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}/{}", self.graph_base, path)
    }

    fn proof(&self, token: &str) -> String {
        appsecret_proof(&self.app_secret, token)
    }

    async fn read(
        &self,
        endpoint: &'static str,
        response: Result<reqwest::Response, reqwest::Error>,
    ) -> Result<Value, GraphError> {
        let result = Self::parse(response).await;
        let outcome = match &result {
            Ok(_) => "ok",
            Err(GraphError::Refused { .. }) => "refused",
            Err(GraphError::RateLimited(_)) => "rate_limited",
            Err(GraphError::Unavailable(_)) => "unavailable",
            Err(GraphError::Malformed(_)) => "malformed",
        };
        self.metrics.facebook_request(endpoint, outcome);
        tracing::Span::current().record("gatehouse.graph.outcome", outcome);
        result
    }

    async fn parse(
        response: Result<reqwest::Response, reqwest::Error>,
    ) -> Result<Value, GraphError> {
        let response = response.map_err(|e| {
            // Never the URL: it may carry a token.
            GraphError::Unavailable(if e.is_timeout() {
                "timed out".into()
            } else {
                "connection failed".into()
            })
        })?;
        let status = response.status();
        let body: Value = response.json().await.map_err(|_| {
            if status.is_server_error() {
                GraphError::Unavailable(format!("HTTP {status}"))
            } else {
                GraphError::Malformed(format!("HTTP {status}, body is not JSON"))
            }
        })?;
        if status.is_success() {
            return Ok(body);
        }
        let err = &body["error"];
        let code = err["code"].as_i64();
        let message = err["message"]
            .as_str()
            .unwrap_or("no message")
            .chars()
            .take(200)
            .collect::<String>();
        Err(match code {
            Some(4 | 17 | 32 | 613) => GraphError::RateLimited(message),
            Some(1 | 2) => GraphError::Unavailable(message),
            _ if status.is_server_error() => GraphError::Unavailable(format!("HTTP {status}")),
            Some(code) => GraphError::Refused {
                code,
                subcode: err["error_subcode"].as_i64(),
                message,
            },
            None => GraphError::Malformed(format!("HTTP {status} without an error code")),
        })
    }

    /// An idempotent GET, retried on transient failures with bounded backoff and jitter.
    async fn get(
        &self,
        endpoint: &'static str,
        url: &str,
        query: &[(&str, &str)],
    ) -> Result<Value, GraphError> {
        let mut attempt = 0;
        loop {
            let result = async {
                self.read(endpoint, self.http.get(url).query(query).send().await)
                    .await
            }
            .instrument(graph_span(endpoint))
            .await;
            match result {
                Err(e) if e.transient() && attempt < RETRIES => {
                    attempt += 1;
                    let jitter = rand::random::<u64>() % 50;
                    tokio::time::sleep(Duration::from_millis(100 * 2u64.pow(attempt - 1) + jitter))
                        .await;
                }
                other => return other,
            }
        }
    }

    /// Exchanges the dialog's code (FACEBOOK.md §3). POSTed, so the secret stays out of URLs;
    /// never retried: a code works once.
    pub async fn exchange_code(
        &self,
        code: &str,
        redirect_uri: &str,
    ) -> Result<UserToken, GraphError> {
        let form = [
            ("client_id", self.app_id.as_str()),
            ("redirect_uri", redirect_uri),
            ("client_secret", self.app_secret.as_str()),
            ("code", code),
        ];
        let endpoint = "code_exchange";
        let sent = async {
            let response = self
                .http
                .post(self.url("oauth/access_token"))
                .form(&form)
                .send()
                .await;
            self.read(endpoint, response).await
        };
        let body = sent.instrument(graph_span(endpoint)).await?;
        Self::user_token(&body)
    }

    /// Short-lived → long-lived token (§4).
    pub async fn long_lived(&self, short: &str) -> Result<UserToken, GraphError> {
        let query = [
            ("grant_type", "fb_exchange_token"),
            ("client_id", self.app_id.as_str()),
            ("client_secret", self.app_secret.as_str()),
            ("fb_exchange_token", short),
        ];
        let body = self
            .get(
                "long_lived_exchange",
                &self.url("oauth/access_token"),
                &query,
            )
            .await?;
        Self::user_token(&body)
    }

    fn user_token(body: &Value) -> Result<UserToken, GraphError> {
        Ok(UserToken {
            token: body["access_token"]
                .as_str()
                .ok_or_else(|| GraphError::Malformed("no access_token".into()))?
                .to_string(),
            expires_in: body["expires_in"].as_i64(),
        })
    }

    /// Token inspection with the app token (§5).
    pub async fn debug_token(&self, token: &str) -> Result<DebugInfo, GraphError> {
        let app_token = format!("{}|{}", self.app_id, self.app_secret);
        let body = self
            .get(
                "debug_token",
                &self.url("debug_token"),
                &[("input_token", token), ("access_token", &app_token)],
            )
            .await?;
        let d = &body["data"];
        Ok(DebugInfo {
            app_id: d["app_id"]
                .as_str()
                .map(str::to_string)
                .or_else(|| d["app_id"].as_i64().map(|n| n.to_string()))
                .unwrap_or_default(),
            is_valid: d["is_valid"].as_bool().unwrap_or(false),
            expires_at: d["expires_at"].as_i64().unwrap_or(0),
            user_id: d["user_id"].as_str().unwrap_or_default().to_string(),
        })
    }

    pub async fn me(&self, token: &str) -> Result<Me, GraphError> {
        let proof = self.proof(token);
        let body = self
            .get(
                "me",
                &self.url("me"),
                &[
                    ("fields", "id,name,email"),
                    ("access_token", token),
                    ("appsecret_proof", &proof),
                ],
            )
            .await?;
        Ok(Me {
            id: body["id"]
                .as_str()
                .ok_or_else(|| GraphError::Malformed("no id".into()))?
                .to_string(),
            name: body["name"].as_str().map(str::to_string),
            email: body["email"].as_str().map(str::to_string),
        })
    }

    /// `(granted, declined)` permissions (§9).
    pub async fn permissions(&self, token: &str) -> Result<(Vec<String>, Vec<String>), GraphError> {
        let proof = self.proof(token);
        let body = self
            .get(
                "permissions",
                &self.url("me/permissions"),
                &[("access_token", token), ("appsecret_proof", &proof)],
            )
            .await?;
        let (mut granted, mut declined) = (Vec::new(), Vec::new());
        for p in body["data"].as_array().into_iter().flatten() {
            let name = p["permission"].as_str().unwrap_or_default().to_string();
            match p["status"].as_str() {
                Some("granted") => granted.push(name),
                Some("declined") => declined.push(name),
                _ => {}
            }
        }
        Ok((granted, declined))
    }

    /// Every item of a paged edge (§7, §8): `paging.next` is followed as given, but only to
    /// the Graph host, with the proof kept on, and at most `max_pages` pages.
    pub async fn paged(
        &self,
        label: &'static str,
        token: &str,
        edge: &str,
        fields: &str,
    ) -> Result<Vec<Value>, GraphError> {
        let proof = self.proof(token);
        let mut items = Vec::new();
        let mut body = self
            .get(
                label,
                &self.url(edge),
                &[
                    ("fields", fields),
                    ("limit", "25"),
                    ("access_token", token),
                    ("appsecret_proof", &proof),
                ],
            )
            .await?;
        for page in 1.. {
            items.extend(body["data"].as_array().cloned().unwrap_or_default());
            let Some(next) = body["paging"]["next"].as_str() else {
                break;
            };
            if page >= self.max_pages {
                tracing::warn!(
                    edge,
                    pages = page,
                    "Graph paging stopped at facebook.max_pages"
                );
                break;
            }
            let Ok(mut next) = Url::parse(next) else {
                break;
            };
            if next.origin().ascii_serialization() != self.graph_origin {
                return Err(GraphError::Malformed(
                    "paging.next points outside the Graph API".into(),
                ));
            }
            if !next.query_pairs().any(|(k, _)| k == "appsecret_proof") {
                next.query_pairs_mut()
                    .append_pair("appsecret_proof", &proof);
            }
            body = self.get(label, next.as_str(), &[]).await?;
        }
        Ok(items)
    }
}

#[cfg(test)]
mod tests {
    use super::appsecret_proof;

    #[test]
    fn proof_is_hex_hmac_sha256() {
        // RFC 4231 test case 2.
        assert_eq!(
            appsecret_proof("Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
