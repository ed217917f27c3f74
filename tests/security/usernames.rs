//! SECURITY N3 (hardening finding 10): usernames that impersonate. Every corpus name goes to
//! `POST /sign-up` or to `gatehouse user add` on the same database: invisible and layout
//! characters, stray combining marks, mixed scripts, look-alikes of existing users (by UTS #39
//! skeleton) and reserved names (built-in ones and client ids) are refused; names in other
//! scripts are accepted and stored in their profile form, which is what the identity header
//! then carries.

use crate::support::oauth::*;
use crate::support::*;
use serde_json::{json, Value};
use std::path::Path;

const CORPUS: &str = include_str!("corpora/usernames.tsv");
const PASSWORD: &str = "password123";
const CONSOLE: &str = "admin-console";

fn sections() -> String {
    [
        oauth_sections("[oauth.sign_up]\nmax_per_address = 1000\n"),
        format!(
            "[[clients]]\nid = \"{CONSOLE}\"\nsecret = \"console-secret-0123456789\"\n\
             grant_types = [\"client_credentials\"]\n"
        ),
        route("/echo", "handler:echo", "required", ""),
    ]
    .concat()
}

/// What happened to one name: accepted (with the stored form), or refused with this message.
enum Outcome {
    Accepted(String),
    Refused(String),
    Taken,
    Other(String),
}

impl Outcome {
    fn describe(&self) -> String {
        match self {
            Outcome::Accepted(stored) => format!("accepted as {stored:?}"),
            Outcome::Refused(message) => format!("refused: {message}"),
            Outcome::Taken => "taken".into(),
            Outcome::Other(answer) => format!("unexpected answer: {answer}"),
        }
    }
}

async fn by_http(gh: &TestGatehouse, name: &str) -> Outcome {
    let r = gh
        .post_json(
            "/sign-up",
            &json!({"username": name, "password": PASSWORD, "client_id": LEGACY}),
        )
        .await;
    let status = r.status().as_u16();
    let body: Value = r.json().await.unwrap_or(Value::Null);
    match (status, body["error"].as_str()) {
        (201, _) => Outcome::Accepted(body["user"]["username"].as_str().unwrap_or("").into()),
        (422, Some("invalid_user")) => {
            Outcome::Refused(body["error_description"].as_str().unwrap_or("").into())
        }
        (409, Some("username_taken")) => Outcome::Taken,
        _ => Outcome::Other(format!("{status} {body}")),
    }
}

fn by_cli(config: &Path, name: &str) -> Outcome {
    let out = run_cli(
        &["user", "add", "--username", name],
        config,
        &format!("{PASSWORD}\n"),
    );
    let stdout = out.stdout.trim().to_string();
    let stderr = out.stderr.trim().to_string();
    match (out.success, stdout.split_once('\t')) {
        // `ID<TAB>stored name`
        (true, Some((_, stored))) => Outcome::Accepted(stored.into()),
        (false, _) if stderr.contains("already taken") => Outcome::Taken,
        (false, _) if stderr.contains("username") => Outcome::Refused(stderr),
        (success, _) => Outcome::Other(format!("success={success}: {stdout} {stderr}")),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usernames_corpus() {
    let gh = TestGatehouse::start(&sections());
    gh.sign_up("alice", PASSWORD).await;
    // The command line on the same database (its own ports are never opened).
    let db = gh.dir.path().join("gatehouse.db").display().to_string();
    let config = gh.dir.path().join("cli.toml");
    std::fs::write(
        &config,
        TestGatehouse::config_text(free_port(), free_port(), &db, &sections()),
    )
    .unwrap();

    let cases = crate::corpus(CORPUS, 76);
    let mut failures = Vec::new();
    for case in &cases {
        let name = case.field(1);
        let expected = case.field(2);
        let detail = case.fields.get(3).map(String::as_str);
        let outcome = match case.field(0) {
            "http" => by_http(&gh, name).await,
            "cli" => by_cli(&config, name),
            other => panic!("line {}: unknown way in {other}", case.line),
        };
        let ok = match (&outcome, expected) {
            (Outcome::Accepted(stored), "accepted") => detail.is_none_or(|d| stored == d),
            (Outcome::Refused(message), "refused") => detail.is_none_or(|d| message.contains(d)),
            (Outcome::Taken, "taken") => true,
            (_, "accepted" | "refused" | "taken") => false,
            (_, other) => panic!("line {}: unknown expectation {other}", case.line),
        };
        if !ok {
            failures.push(format!(
                "line {}: {name:?} expected {expected} {detail:?}, got {}",
                case.line,
                outcome.describe()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// What the identity header and the users API show is the stored, profile-enforced form, not
/// what the client typed at sign-up or login.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stored_form_is_what_upstreams_see() {
    let gh = TestGatehouse::start(&sections());
    let created = gh.sign_up("ｆｒｅｄ", PASSWORD).await;
    assert_eq!(created["user"]["username"], "fred");
    let nfd = gh.sign_up("Jose\u{301}", PASSWORD).await;
    assert_eq!(nfd["user"]["username"], "Jos\u{e9}");
    for (login, shown) in [("FRED", "fred"), ("jos\u{e9}", "Jos\u{e9}")] {
        let token = gh.login(login, PASSWORD).await["access_token"]
            .as_str()
            .unwrap()
            .to_string();
        let echo: Value = gh.get("/echo", Some(&token)).await.json().await.unwrap();
        assert_eq!(
            echo["identity_headers"]["x-auth-user-name"], shown,
            "{login}: {echo}"
        );
    }
    let admin = gh.admin_token().await;
    let id = created["user"]["id"].as_i64().unwrap();
    let shown: Value = gh
        .client
        .get(gh.url(&format!("/users/{id}")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(shown["user"]["username"], "fred");
}
