//! Config and client helpers for the authorization-server tests.

use super::TestGatehouse;
use serde_json::Value;
use std::sync::Arc;

pub const LEGACY: &str = "1bv9sh664cowghktxwn307wpeghj8e1";
pub const ADMIN: &str = "admin-app";
pub const ADMIN_SECRET: &str = "admin-secret-0123456789";
pub const SERVICE: &str = "reporting-service";
pub const SERVICE_SECRET: &str = "service-secret-0123456789";
pub const WEB: &str = "web-app";
pub const WEB_SECRET: &str = "web-secret-0123456789abc";
pub const WEB_REDIRECT: &str = "https://app.example/cb";
pub const SPA: &str = "spa";
pub const SPA_REDIRECT: &str = "http://localhost:5173/callback";

/// `[oauth]` plus five clients: the seeds' legacy public client (password grant), an admin
/// client, a service (client_credentials), a confidential web app and a public SPA.
pub fn oauth_sections(oauth_extra: &str) -> String {
    format!(
        r#"
[oauth]
{oauth_extra}

[[clients]]
id = "{LEGACY}"
name = "Legacy mobile"
legacy = true
grant_types = ["password", "refresh_token"]
scopes = ["read", "write"]

[[clients]]
id = "{ADMIN}"
secret = "{ADMIN_SECRET}"
admin = true
legacy = true
grant_types = ["password", "refresh_token", "client_credentials"]

[[clients]]
id = "{SERVICE}"
secret = "{SERVICE_SECRET}"
grant_types = ["client_credentials"]
scopes = ["reports:read", "reports:write"]

[[clients]]
id = "{WEB}"
name = "Web <App>"
secret = "{WEB_SECRET}"
legacy = true
redirect_uris = ["{WEB_REDIRECT}", "https://app.example/other"]
grant_types = ["authorization_code", "refresh_token", "password"]
scopes = ["read", "write", "admin"]

[[clients]]
id = "{SPA}"
redirect_uris = ["{SPA_REDIRECT}"]
grant_types = ["authorization_code", "refresh_token"]
scopes = ["read", "write"]
"#
    )
}

impl TestGatehouse {
    /// Drives `/oauth/authorize?{query}` through the real sign-in and consent forms as `user`
    /// (password `password123`, approving) and returns the code from the redirect.
    pub async fn authorization_code_for(&self, query: &str, user: &str) -> String {
        let page = self
            .client
            .get(self.url(&format!("/oauth/authorize?{query}")))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), 200);
        let cookie = page.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_string();
        let html = page.text().await.unwrap();
        let marker = "name=\"csrf_token\" value=\"";
        let csrf = html[html.find(marker).unwrap() + marker.len()..]
            .split('"')
            .next()
            .unwrap()
            .to_string();
        let post = |path: &'static str, form: Vec<(&'static str, String)>| {
            self.client
                .post(self.url(path))
                .header("Cookie", cookie.clone())
                .form(&form)
                .send()
        };
        let r = post(
            "/oauth/sign-in",
            vec![
                ("username", user.to_string()),
                ("password", "password123".into()),
                ("csrf_token", csrf.clone()),
            ],
        )
        .await
        .unwrap();
        assert_eq!(r.status(), 303);
        let r = post(
            "/oauth/consent",
            vec![("csrf_token", csrf), ("decision", "approve".into())],
        )
        .await
        .unwrap();
        let location = r.headers()["location"].to_str().unwrap().to_string();
        url::Url::parse(&location)
            .unwrap()
            .query_pairs()
            .find(|(k, _)| k == "code")
            .unwrap()
            .1
            .into_owned()
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .expect("post")
    }

    pub async fn post_form(&self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .form(form)
            .send()
            .await
            .expect("post")
    }

    pub async fn post_form_basic(
        &self,
        path: &str,
        id: &str,
        secret: &str,
        form: &[(&str, &str)],
    ) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .basic_auth(id, Some(secret))
            .form(form)
            .send()
            .await
            .expect("post")
    }

    pub async fn sign_up(&self, username: &str, password: &str) -> Value {
        let r = self
            .post_json("/sign-up", &serde_json::json!({ "username": username, "password": password, "client_id": LEGACY }))
            .await;
        assert_eq!(r.status(), 201, "sign-up {username}");
        r.json().await.expect("sign-up body")
    }

    /// Seed 001's login: returns the token response.
    pub async fn login(&self, username: &str, password: &str) -> Value {
        let r = self
            .post_json(
                "/oauth/authorize",
                &serde_json::json!({ "username": username, "password": password, "grant_type": "password", "client_id": LEGACY }),
            )
            .await;
        assert_eq!(r.status(), 200, "login {username}");
        r.json().await.expect("login body")
    }

    pub async fn admin_token(&self) -> String {
        let body = self
            .post_json(
                "/oauth/authorize",
                &serde_json::json!({ "username": ADMIN, "password": ADMIN_SECRET, "grant_type": "password", "client_id": ADMIN }),
            )
            .await
            .json::<Value>()
            .await
            .expect("admin login");
        body["access_token"]
            .as_str()
            .expect("admin token")
            .to_string()
    }

    pub async fn introspect(&self, token: &str) -> Value {
        self.post_form_basic(
            "/oauth/introspect",
            ADMIN,
            ADMIN_SECRET,
            &[("token", token)],
        )
        .await
        .json()
        .await
        .expect("introspection")
    }
}

/// Redeems `refresh` `n` times at once, round-robin over `replicas`; returns how many got 200.
pub async fn concurrent_refreshes(
    replicas: &[Arc<TestGatehouse>],
    refresh: &str,
    n: usize,
) -> usize {
    let mut tasks = Vec::new();
    for i in 0..n {
        let (gh, r) = (replicas[i % replicas.len()].clone(), refresh.to_string());
        tasks.push(tokio::spawn(async move {
            let form = [
                ("grant_type", "refresh_token"),
                ("refresh_token", r.as_str()),
                ("client_id", LEGACY),
            ];
            gh.post_form("/oauth/token", &form).await.status().as_u16()
        }));
    }
    let mut ok = 0;
    for t in tasks {
        if t.await.expect("task") == 200 {
            ok += 1;
        }
    }
    ok
}
