//! Introspection and revocation respect whose token it is (SECURITY N1, N2; hardening
//! findings 7 and 11): introspection is no oracle for any confidential client, and a client
//! cannot revoke a token it does not own, command-line tokens included.

use crate::support;

use gatehouse::auth::NewToken;
use serde_json::Value;
use std::time::Duration;
use support::oauth::*;
use support::*;

const RESOURCE: &str = "resource-server";
const RESOURCE_SECRET: &str = "resource-secret-0123456789";

async fn start() -> (TestGatehouse, std::sync::Arc<EchoUpstream>) {
    let up = EchoUpstream::start("app").await;
    let config = [
        oauth_sections(""),
        format!(
            "[[clients]]\nid = \"{RESOURCE}\"\nsecret = \"{RESOURCE_SECRET}\"\nintrospect = true\ngrant_types = [\"client_credentials\"]\n"
        ),
        upstream_section("app", &up, ""),
        route("/api", "app", "required", ""),
    ]
    .concat();
    (TestGatehouse::start(&config), up)
}

async fn introspect_as(gh: &TestGatehouse, id: &str, secret: &str, token: &str) -> Value {
    let r = gh
        .post_form_basic("/oauth/introspect", id, secret, &[("token", token)])
        .await;
    assert_eq!(r.status(), 200, "{id}");
    r.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_owner_a_resource_server_or_an_admin_sees_a_token() {
    let (gh, _up) = start().await;
    gh.sign_up("owner", "owner password").await;
    let r = gh
        .post_form_basic(
            "/oauth/token",
            WEB,
            WEB_SECRET,
            &[
                ("grant_type", "password"),
                ("username", "owner"),
                ("password", "owner password"),
            ],
        )
        .await;
    assert_eq!(r.status(), 200);
    let token = r.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_string();

    // Another confidential client learns nothing, not even that the token exists.
    assert_eq!(
        introspect_as(&gh, SERVICE, SERVICE_SECRET, &token).await,
        serde_json::json!({"active": false})
    );
    for (id, secret) in [
        (WEB, WEB_SECRET),
        (RESOURCE, RESOURCE_SECRET),
        (ADMIN, ADMIN_SECRET),
    ] {
        let body = introspect_as(&gh, id, secret, &token).await;
        assert_eq!(body["active"], true, "{id}: {body}");
        assert_eq!(body["username"], "owner", "{id}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_owner_or_an_admin_revokes_a_token() {
    let (gh, _up) = start().await;
    // A command-line token has no client.
    let cli = gh
        .issue_with(
            NewToken {
                user_id: Some("42".into()),
                user_name: Some("ops".into()),
                client_id: None,
                scopes: vec!["read".into()],
                admin: false,
                groups: vec![],
            },
            Duration::from_secs(3600),
        )
        .await;
    let service = gh
        .post_form_basic(
            "/oauth/token",
            SERVICE,
            SERVICE_SECRET,
            &[("grant_type", "client_credentials")],
        )
        .await
        .json::<Value>()
        .await
        .unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_string();

    // RFC 7009: 200 whatever happens; the tokens keep working.
    let r = gh
        .post_form(
            "/oauth/revoke",
            &[("token", cli.as_str()), ("client_id", SPA)],
        )
        .await;
    assert_eq!(r.status(), 200);
    let r = gh
        .post_form_basic(
            "/oauth/revoke",
            WEB,
            WEB_SECRET,
            &[("token", service.as_str())],
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(gh.get("/api/x", Some(&cli)).await.status(), 200);
    assert_eq!(gh.get("/api/x", Some(&service)).await.status(), 200);

    // The owner revokes its own; an admin client revokes the ownerless one.
    let r = gh
        .post_form_basic(
            "/oauth/revoke",
            SERVICE,
            SERVICE_SECRET,
            &[("token", service.as_str())],
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(gh.get("/api/x", Some(&service)).await.status(), 401);
    let r = gh
        .post_form_basic(
            "/oauth/revoke",
            ADMIN,
            ADMIN_SECRET,
            &[("token", cli.as_str())],
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(gh.get("/api/x", Some(&cli)).await.status(), 401);
}
