//! A browser as the session tests need one, over real HTTP: it asks for HTML, keeps the
//! cookies the server sets (name → value, removed on `Max-Age=0`), sends them back, and can
//! follow redirects and post forms like a page would.

use std::collections::BTreeMap;
use std::net::SocketAddr;

pub struct Browser {
    pub client: reqwest::Client,
    /// Every request goes here, whatever the URL's host (`host` is sent as `Host`).
    pub addr: SocketAddr,
    pub host: String,
    pub jar: BTreeMap<String, String>,
}

/// What came back: status, `Location`, every `Set-Cookie`, body.
#[derive(Debug)]
pub struct Page {
    pub status: u16,
    pub location: Option<String>,
    pub set_cookies: Vec<String>,
    pub body: String,
}

impl Page {
    /// The value of the hidden `csrf_token` input of a sign-in form.
    pub fn csrf_token(&self) -> String {
        let marker = "name=\"csrf_token\" value=\"";
        let start = self.body.find(marker).expect("a csrf_token input") + marker.len();
        let end = start + self.body[start..].find('"').expect("end of value");
        self.body[start..end].to_string()
    }

    pub fn set_cookie(&self, name: &str) -> Option<&str> {
        self.set_cookies
            .iter()
            .find(|c| c.starts_with(&format!("{name}=")))
            .map(String::as_str)
    }
}

impl Browser {
    pub fn new(addr: SocketAddr, host: &str) -> Browser {
        Browser {
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            addr,
            host: host.to_string(),
            jar: BTreeMap::new(),
        }
    }

    pub fn origin(&self) -> String {
        format!("http://{}", self.host)
    }

    fn cookie_header(&self) -> Option<String> {
        (!self.jar.is_empty()).then(|| {
            self.jar
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; ")
        })
    }

    /// Sends `method path` with the jar's cookies and `headers`; keeps what `Set-Cookie` says.
    pub async fn send(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        form: Option<&[(&str, &str)]>,
    ) -> Page {
        let url = format!("http://{}{path}", self.addr);
        let mut req = self
            .client
            .request(method.parse().expect("method"), url)
            .header("host", &self.host);
        if let Some(c) = self.cookie_header() {
            req = req.header("cookie", c);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(f) = form {
            req = req.form(f);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let location = resp
            .headers()
            .get("location")
            .map(|v| v.to_str().expect("location").to_string());
        let set_cookies: Vec<String> = resp
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().expect("set-cookie").to_string())
            .collect();
        for c in &set_cookies {
            let pair = c.split(';').next().unwrap_or("");
            let (name, value) = pair.split_once('=').expect("name=value");
            if c.contains("Max-Age=0") {
                self.jar.remove(name);
            } else {
                self.jar.insert(name.to_string(), value.to_string());
            }
        }
        let body = resp.text().await.unwrap_or_default();
        Page {
            status,
            location,
            set_cookies,
            body,
        }
    }

    /// A navigation: `GET` accepting HTML, as a user's click sends it.
    pub async fn visit(&mut self, path: &str) -> Page {
        self.send(
            "GET",
            path,
            &[
                ("accept", "text/html,application/xhtml+xml,*/*;q=0.8"),
                ("sec-fetch-site", "none"),
            ],
            None,
        )
        .await
    }

    /// Visits `path` and follows redirects (on this host only) until a page answers.
    pub async fn visit_following(&mut self, path: &str) -> (Page, Vec<String>) {
        let mut seen = Vec::new();
        let mut page = self.visit(path).await;
        while let Some(next) = page.location.clone().filter(|_| seen.len() < 10) {
            assert!(next.starts_with('/'), "redirect off the host: {next}");
            seen.push(next.clone());
            page = self.visit(&next).await;
        }
        (page, seen)
    }

    /// Posts a form from a page of this origin, as the sign-in page's submit does.
    pub async fn submit(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let origin = self.origin();
        self.send(
            "POST",
            path,
            &[
                ("accept", "text/html"),
                ("origin", &origin),
                ("sec-fetch-site", "same-origin"),
            ],
            Some(form),
        )
        .await
    }

    /// The whole loop a browser goes through: visit `path`, be sent to sign in, post the form,
    /// come back. Returns the page answered at the end and the redirects taken.
    pub async fn sign_in_through(
        &mut self,
        path: &str,
        username: &str,
        password: &str,
    ) -> (Page, Vec<String>) {
        let (form, mut hops) = self.visit_following(path).await;
        assert_eq!(form.status, 200, "sign-in page: {form:?}");
        let csrf = form.csrf_token();
        let posted = self
            .submit(
                "/oauth/sign-in",
                &[
                    ("csrf_token", &csrf),
                    ("username", username),
                    ("password", password),
                ],
            )
            .await;
        assert_eq!(posted.status, 303, "sign-in post: {posted:?}");
        let back = posted.location.clone().expect("a way back");
        hops.push(back.clone());
        let page = self.visit(&back).await;
        (page, hops)
    }
}
