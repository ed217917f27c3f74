//! SECURITY B1 (a code works once; reuse revokes what it issued), B2 (expired codes), B3
//! (codes bound to client, redirect URI and challenge), B9 (refresh rotation; reuse revokes the
//! family) and B10 (refresh only narrows): the replay minimum, one scenario per corpus kind.

use crate::support::oauth::*;
use crate::support::postgres;
use crate::support::*;
use base64::Engine;
use serde_json::Value;
use sha2::Digest;
use std::sync::Arc;

const CORPUS: &str = include_str!("corpora/replay.tsv");
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

fn challenge(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(verifier.as_bytes()))
}

fn location(r: &reqwest::Response) -> String {
    r.headers()["location"].to_str().unwrap().to_string()
}

fn csrf(html: &str) -> String {
    let marker = "name=\"csrf_token\" value=\"";
    let start = html.find(marker).expect("csrf input") + marker.len();
    html[start..].split('"').next().unwrap().to_string()
}

/// A fresh authorization code for web-app, obtained like a browser (sign-in, consent).
async fn code(gh: &TestGatehouse) -> String {
    code_for(gh, WEB, WEB_REDIRECT).await
}

async fn code_for(gh: &TestGatehouse, client: &str, redirect: &str) -> String {
    let q = format!(
        "response_type=code&client_id={client}&redirect_uri={}&scope=read%20write&state=s&code_challenge={}&code_challenge_method=S256",
        url::form_urlencoded::byte_serialize(redirect.as_bytes()).collect::<String>(),
        challenge(VERIFIER)
    );
    let page = gh
        .client
        .get(gh.url(&format!("/oauth/authorize?{q}")))
        .send()
        .await
        .unwrap();
    let cookie = page.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let token = csrf(&page.text().await.unwrap());
    let post = |path: &'static str, form: Vec<(&'static str, String)>| {
        let (gh, cookie) = (gh, cookie.clone());
        async move {
            gh.client
                .post(gh.url(path))
                .header("Cookie", cookie)
                .form(&form)
                .send()
                .await
                .unwrap()
        }
    };
    let r = post(
        "/oauth/sign-in",
        vec![
            ("username", "replay".into()),
            ("password", "password123".into()),
            ("csrf_token", token.clone()),
        ],
    )
    .await;
    let mut loc = location(&r);
    if loc == "/oauth/consent" {
        let html = gh
            .client
            .get(gh.url("/oauth/consent"))
            .header("Cookie", &cookie)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let r = post(
            "/oauth/consent",
            vec![("csrf_token", csrf(&html)), ("decision", "approve".into())],
        )
        .await;
        loc = location(&r);
    }
    url::Url::parse(&loc)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| panic!("no code in {loc}"))
}

/// `(status, body)` of a token request by `client` (with its secret when it has one).
async fn token(gh: &TestGatehouse, client: (&str, &str), form: &[(&str, &str)]) -> (u16, Value) {
    let r = if client.1.is_empty() {
        let mut form = form.to_vec();
        form.push(("client_id", client.0));
        gh.post_form("/oauth/token", &form).await
    } else {
        gh.post_form_basic("/oauth/token", client.0, client.1, form)
            .await
    };
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

async fn redeem(gh: &TestGatehouse, code: &str) -> (u16, Value) {
    redeem_as(gh, (WEB, WEB_SECRET), WEB_REDIRECT, code).await
}

async fn redeem_as(
    gh: &TestGatehouse,
    client: (&str, &str),
    redirect: &str,
    code: &str,
) -> (u16, Value) {
    token(
        gh,
        client,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect),
            ("code_verifier", VERIFIER),
        ],
    )
    .await
}

/// 20 concurrent attempts: exactly one may succeed, and every other one must get the same
/// answer, which is returned.
async fn one_of_twenty<F, Fut>(attempt: F) -> Result<(u16, Value), String>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = (u16, Value)> + Send + 'static,
{
    let tasks: Vec<_> = (0..20).map(|_| tokio::spawn(attempt())).collect();
    let mut answers = Vec::new();
    for t in tasks {
        answers.push(t.await.unwrap());
    }
    let wins = answers.iter().filter(|(s, _)| *s == 200).count();
    let mut refusals: Vec<String> = answers
        .iter()
        .filter(|(s, _)| *s != 200)
        .map(|(s, b)| format!("{s} {}", b["error"]))
        .collect();
    refusals.sort();
    refusals.dedup();
    if wins != 1 || refusals.len() != 1 {
        return Err(format!("{wins} of 20 succeeded; refusals {refusals:?}"));
    }
    Ok(answers.into_iter().find(|(s, _)| *s != 200).unwrap())
}

async fn refresh(
    gh: &TestGatehouse,
    client: (&str, &str),
    rt: &str,
    scope: Option<&str>,
) -> (u16, Value) {
    let mut form = vec![("grant_type", "refresh_token"), ("refresh_token", rt)];
    if let Some(s) = scope {
        form.push(("scope", s));
    }
    token(gh, client, &form).await
}

/// A fresh token family from the password grant: `(access, refresh)`.
async fn family(gh: &TestGatehouse) -> (String, String) {
    let (status, body) = token(
        gh,
        (WEB, WEB_SECRET),
        &[
            ("grant_type", "password"),
            ("username", "replay"),
            ("password", "password123"),
            ("scope", "read write"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    (
        body["access_token"].as_str().unwrap().into(),
        body["refresh_token"].as_str().unwrap().into(),
    )
}

fn field(body: &Value, name: &str) -> String {
    body[name].as_str().unwrap_or_default().to_string()
}

/// Fails unless `token` is now refused on a protected route.
async fn assert_dead(gh: &TestGatehouse, what: &str, token: &str) -> Result<(), String> {
    match gh.get("/api/x", Some(token)).await.status().as_u16() {
        401 => Ok(()),
        s => Err(format!("{what} still works ({s})")),
    }
}

/// Runs one scenario; returns the decisive replayed answer, or why the scenario failed.
async fn scenario(gh: &Arc<TestGatehouse>, kind: &str) -> Result<(u16, Value), String> {
    let ok = |(s, b): (u16, Value), what: &str| {
        if s == 200 {
            Ok(b)
        } else {
            Err(format!("{what}: {s} {b}"))
        }
    };
    match kind {
        "code-reuse-serial" => {
            let c = code(gh).await;
            ok(redeem(gh, &c).await, "first redemption")?;
            Ok(redeem(gh, &c).await)
        }
        // A public client: no client authentication, so only the code's single use decides.
        "code-reuse-concurrent" => {
            let c = code_for(gh, SPA, SPA_REDIRECT).await;
            let gh = gh.clone();
            one_of_twenty(move || {
                let (gh, c) = (gh.clone(), c.clone());
                async move { redeem_as(&gh, (SPA, ""), SPA_REDIRECT, &c).await }
            })
            .await
        }
        "code-reuse-concurrent-confidential" => {
            let c = code(gh).await;
            let gh = gh.clone();
            one_of_twenty(move || {
                let (gh, c) = (gh.clone(), c.clone());
                async move { redeem(&gh, &c).await }
            })
            .await
        }
        "code-reuse-revokes-issued-tokens" => {
            let c = code(gh).await;
            let first = ok(redeem(gh, &c).await, "first redemption")?;
            let replay = redeem(gh, &c).await;
            assert_dead(
                gh,
                "access token from the replayed code",
                &field(&first, "access_token"),
            )
            .await?;
            let (s, b) =
                refresh(gh, (WEB, WEB_SECRET), &field(&first, "refresh_token"), None).await;
            if s == 200 {
                return Err(format!(
                    "refresh token from the replayed code still works: {b}"
                ));
            }
            Ok(replay)
        }
        "code-other-client" => {
            let c = code(gh).await;
            let answer = token(
                gh,
                (SPA, ""),
                &[
                    ("grant_type", "authorization_code"),
                    ("code", &c),
                    ("redirect_uri", WEB_REDIRECT),
                    ("code_verifier", VERIFIER),
                ],
            )
            .await;
            Ok(answer)
        }
        "code-other-redirect-uri" | "code-no-redirect-uri" | "code-wrong-verifier" => {
            let c = code(gh).await;
            let mut form = vec![
                ("grant_type", "authorization_code"),
                ("code", c.as_str()),
                ("redirect_uri", "https://app.example/other"),
                ("code_verifier", VERIFIER),
            ];
            match kind {
                "code-no-redirect-uri" => {
                    form.remove(2);
                }
                "code-wrong-verifier" => {
                    form[2].1 = WEB_REDIRECT;
                    form[3].1 = "wrong-verifier-wrong-verifier-wrong-verifier-x";
                }
                _ => {}
            }
            Ok(token(gh, (WEB, WEB_SECRET), &form).await)
        }
        "code-expired" => {
            let now = gatehouse::store::now_unix();
            let c = "an-expired-code-for-the-security-suite";
            let stored = gatehouse::store::StoredCode {
                family_id: "f-expired-security".into(),
                client_id: WEB.into(),
                user_id: "1".into(),
                user_name: Some("replay".into()),
                redirect_uri: WEB_REDIRECT.into(),
                scopes: "read".into(),
                code_challenge: Some(challenge(VERIFIER)),
                code_challenge_method: Some("S256".into()),
                created_at: now - 120,
                expires_at: now - 60,
                used: false,
            };
            let hash = gatehouse::auth::hash_token(c);
            gh.running
                .state()
                .store
                .run(move |s| async move { s.insert_code(&hash, &stored).await })
                .await
                .unwrap();
            Ok(redeem(gh, c).await)
        }
        "code-as-refresh-token" => {
            let c = code(gh).await;
            Ok(refresh(gh, (WEB, WEB_SECRET), &c, None).await)
        }
        "refresh-reuse" => {
            let (_, r1) = family(gh).await;
            ok(refresh(gh, (WEB, WEB_SECRET), &r1, None).await, "rotation")?;
            Ok(refresh(gh, (WEB, WEB_SECRET), &r1, None).await)
        }
        "refresh-reuse-revokes-family" => {
            let (a1, r1) = family(gh).await;
            let second = ok(refresh(gh, (WEB, WEB_SECRET), &r1, None).await, "rotation")?;
            let replay = refresh(gh, (WEB, WEB_SECRET), &r1, None).await;
            assert_dead(gh, "first access token", &a1).await?;
            assert_dead(gh, "rotated access token", &field(&second, "access_token")).await?;
            let (s, b) = refresh(
                gh,
                (WEB, WEB_SECRET),
                &field(&second, "refresh_token"),
                None,
            )
            .await;
            if s == 200 {
                return Err(format!(
                    "rotated refresh token survived the family revocation: {b}"
                ));
            }
            Ok(replay)
        }
        // The seeds' public client (password grant, no secret).
        "refresh-concurrent" => {
            let r = field(&gh.login("replay", "password123").await, "refresh_token");
            let gh = gh.clone();
            one_of_twenty(move || {
                let (gh, r) = (gh.clone(), r.clone());
                async move { refresh(&gh, (LEGACY, ""), &r, None).await }
            })
            .await
        }
        "refresh-concurrent-confidential" => {
            let (_, r) = family(gh).await;
            let gh = gh.clone();
            one_of_twenty(move || {
                let (gh, r) = (gh.clone(), r.clone());
                async move { refresh(&gh, (WEB, WEB_SECRET), &r, None).await }
            })
            .await
        }
        "refresh-other-client" => {
            let (_, r) = family(gh).await;
            Ok(refresh(gh, (ADMIN, ADMIN_SECRET), &r, None).await)
        }
        "refresh-after-revocation" => {
            let (a, r) = family(gh).await;
            let revoked = gh
                .post_form_basic(
                    "/oauth/revoke",
                    WEB,
                    WEB_SECRET,
                    &[("token", &r), ("token_type_hint", "refresh_token")],
                )
                .await;
            if revoked.status() != 200 {
                return Err(format!("revocation answered {}", revoked.status()));
            }
            assert_dead(gh, "access token of the revoked family", &a).await?;
            Ok(refresh(gh, (WEB, WEB_SECRET), &r, None).await)
        }
        "refresh-widened-scope" => {
            let (_, r) = family(gh).await;
            let widened = refresh(gh, (WEB, WEB_SECRET), &r, Some("read write admin")).await;
            // A refused widening does not spend the token; narrowing still works.
            let narrowed = ok(
                refresh(gh, (WEB, WEB_SECRET), &r, Some("read")).await,
                "narrowing",
            )?;
            if narrowed["scope"] != "read" {
                return Err(format!("narrowed scope: {narrowed}"));
            }
            Ok(widened)
        }
        "access-token-as-refresh-token" => {
            let (a, _) = family(gh).await;
            Ok(refresh(gh, (WEB, WEB_SECRET), &a, None).await)
        }
        "refresh-token-as-code" => {
            let (_, r) = family(gh).await;
            Ok(redeem(gh, &r).await)
        }
        other => Err(format!("no scenario for {other}")),
    }
}

fn sections(up: &EchoUpstream) -> String {
    [
        oauth_sections(""),
        upstream_section("app", up, ""),
        route("/api", "app", "required", ""),
    ]
    .concat()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_corpus_is_refused() {
    let up = EchoUpstream::start("app").await;
    run_corpus(Arc::new(TestGatehouse::start(&sections(&up)))).await;
}

/// SECURITY.md: "Tests run on SQLite and PostgreSQL"; single use and family revocation are
/// store transactions, so the replay corpus runs on both backends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_corpus_is_refused_on_postgres() {
    let url = postgres::url("security::replay::replay_corpus_is_refused_on_postgres").await;
    let up = EchoUpstream::start("app").await;
    let store = postgres::store_section(&url, &postgres::fresh_schema(), "");
    let gh = TestGatehouse::start_with_store(tempfile::tempdir().unwrap(), &store, &sections(&up));
    run_corpus(Arc::new(gh)).await;
}

async fn run_corpus(gh: Arc<TestGatehouse>) {
    gh.sign_up("replay", "password123").await;
    let cases = crate::corpus(CORPUS, 19);
    let mut failures = Vec::new();
    for case in &cases {
        let (kind, expected) = (case.field(0), case.field(1));
        match scenario(&gh, kind).await {
            Ok((status, body)) => {
                let got = format!("{status} {}", body["error"].as_str().unwrap_or("-"));
                if got != expected {
                    failures.push(format!(
                        "line {} {kind}: expected {expected}, got {got} {body}",
                        case.line
                    ));
                }
            }
            Err(e) => failures.push(format!("line {} {kind}: {e}", case.line)),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
