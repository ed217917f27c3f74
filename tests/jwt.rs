//! JWTs from an external issuer with a static key (`[[jwt.issuers]]` with `secret` or
//! `public_key_file`) beside opaque tokens: claims become
//! identity headers, and the tampering corpus of SECURITY.md D5–D6 is refused.
//! The RSA key pair in tests/fixtures exists only for these tests.

use crate::support;

use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use support::*;

const SECRET: &str = "jwt-test-secret-jwt-test-secret-0123";
const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

fn now() -> i64 {
    gatehouse::store::now_unix()
}

fn hs256(claims: &Value, secret: &str) -> String {
    encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

fn good_claims() -> Value {
    json!({"sub": "jwt-user-7", "name": "Jay", "scope": "read write", "client_id": "ext-app",
           "iss": "https://issuer.example", "aud": "legacy-api", "iat": now(), "exp": now() + 600})
}

fn b64(v: &Value) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hs256_tokens_from_the_issuer_are_accepted_and_tampering_refused() {
    let up = EchoUpstream::start("app").await;
    let config = format!(
        "[[jwt.issuers]]\nalgorithms = [\"HS256\"]\nsecret = \"{SECRET}\"\nissuer = \"https://issuer.example\"\naudiences = [\"legacy-api\"]\nleeway = \"5s\"\n{}{}",
        upstream_section("app", &up, ""),
        route("/api", "app", "required", "scopes = [\"read\"]")
    );
    let gh = TestGatehouse::start(&config);

    let token = hs256(&good_claims(), SECRET);
    let r = gh.get("/api/x", Some(&token)).await;
    assert_eq!(r.status(), 200);
    let seen = up.last();
    assert_eq!(seen.header("x-auth-user-id"), Some("jwt-user-7"));
    assert_eq!(seen.header("x-auth-user-name"), Some("Jay"));
    assert_eq!(seen.header("x-auth-scopes"), Some("read write"));
    assert_eq!(seen.header("x-auth-client-id"), Some("ext-app"));
    // Opaque tokens keep working beside JWTs.
    let opaque = gh.issue("opaque-user", &["read"]).await;
    assert_eq!(gh.get("/api/x", Some(&opaque)).await.status(), 200);

    let claims = |patch: Value| {
        let mut c = good_claims();
        for (k, v) in patch.as_object().unwrap() {
            if v.is_null() {
                c.as_object_mut().unwrap().remove(k);
            } else {
                c[k] = v.clone();
            }
        }
        c
    };
    let (head, body, _) = {
        let mut parts = token.split('.');
        (
            parts.next().unwrap().to_string(),
            parts.next().unwrap().to_string(),
            parts.next().unwrap().to_string(),
        )
    };
    let public_pem = std::fs::read(format!("{FIXTURES}/jwt-test-public.pem")).unwrap();
    let private_pem = std::fs::read(format!("{FIXTURES}/jwt-test-private.pem")).unwrap();
    let rs256 = encode(
        &Header::new(Algorithm::RS256),
        &good_claims(),
        &EncodingKey::from_rsa_pem(&private_pem).unwrap(),
    )
    .unwrap();
    let tampered = [
        (
            "alg none",
            format!("{}.{}.", b64(&json!({"alg": "none", "typ": "JWT"})), body),
        ),
        (
            "alg none, no dot",
            format!("{}.{}", b64(&json!({"alg": "none"})), body),
        ),
        (
            "wrong key",
            hs256(&good_claims(), "another-secret-another-secret-0123"),
        ),
        (
            "altered signature",
            format!("{head}.{body}.AAAA{}", &token[token.len() - 20..]),
        ),
        (
            "altered payload",
            format!(
                "{head}.{}.{}",
                b64(&claims(json!({"sub": "admin"}))),
                token.rsplit('.').next().unwrap()
            ),
        ),
        (
            "expired",
            hs256(&claims(json!({"exp": now() - 120})), SECRET),
        ),
        (
            "not yet valid",
            hs256(&claims(json!({"nbf": now() + 600})), SECRET),
        ),
        (
            "wrong audience",
            hs256(&claims(json!({"aud": "other-api"})), SECRET),
        ),
        ("no audience", hs256(&claims(json!({"aud": null})), SECRET)),
        (
            "wrong issuer",
            hs256(&claims(json!({"iss": "https://evil.example"})), SECRET),
        ),
        ("no issuer", hs256(&claims(json!({"iss": null})), SECRET)),
        ("no exp", hs256(&claims(json!({"exp": null})), SECRET)),
        ("no sub", hs256(&claims(json!({"sub": null})), SECRET)),
        (
            "sub that cannot be a header",
            hs256(&claims(json!({"sub": "u\r\nX-Auth-Scopes: admin"})), SECRET),
        ),
        ("RS256 where HS256 is configured", rs256),
        (
            "HS256 signed with the RSA public key",
            hs256(&good_claims(), std::str::from_utf8(&public_pem).unwrap()),
        ),
    ];
    for (what, t) in tampered {
        let r = gh.get("/api/x", Some(&t)).await;
        assert_eq!(r.status(), 401, "{what}");
        assert!(
            r.headers()["www-authenticate"]
                .to_str()
                .unwrap()
                .contains("invalid_token"),
            "{what}"
        );
    }
    // Scopes from the token are checked like any other.
    let narrow = hs256(&claims(json!({"scope": "write"})), SECRET);
    assert_eq!(gh.get("/api/x", Some(&narrow)).await.status(), 403);
    assert_eq!(
        up.count(),
        2,
        "only the two good tokens reached the upstream"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rs256_issuer_refuses_hmac_confusion() {
    let up = EchoUpstream::start("app").await;
    let config = format!(
        "[[jwt.issuers]]\nissuer = \"https://issuer.example\"\naudiences = [\"legacy-api\"]\nalgorithms = [\"RS256\"]\npublic_key_file = \"{FIXTURES}/jwt-test-public.pem\"\n{}{}",
        upstream_section("app", &up, ""),
        route("/", "app", "required", "")
    );
    let gh = TestGatehouse::start(&config);
    let private_pem = std::fs::read(format!("{FIXTURES}/jwt-test-private.pem")).unwrap();
    let public_pem = std::fs::read_to_string(format!("{FIXTURES}/jwt-test-public.pem")).unwrap();
    let good = encode(
        &Header::new(Algorithm::RS256),
        &good_claims(),
        &EncodingKey::from_rsa_pem(&private_pem).unwrap(),
    )
    .unwrap();
    assert_eq!(gh.get("/x", Some(&good)).await.status(), 200);
    // The classic confusion: HS256 keyed with the public key the server trusts.
    let forged = hs256(&good_claims(), &public_pem);
    assert_eq!(gh.get("/x", Some(&forged)).await.status(), 401);
    assert_eq!(up.count(), 1);
}

#[test]
fn bad_jwt_config_is_named() {
    let base = "[server]\nlisten = \"127.0.0.1:0\"\npublic_url = \"http://localhost\"\nadmin_listen = \"127.0.0.1:0\"\n";
    let issuer = "[[jwt.issuers]]\nissuer = \"https://issuer.example\"\naudiences = [\"api\"]\n";
    let secret = "secret = \"0123456789abcdef0123456789abcdef\"\n";
    let cases = [
        // The old single table is refused, naming the new shape.
        ("[jwt]\nalgorithm = \"HS256\"\n".to_string(), "[[jwt.issuers]]"),
        (format!("{issuer}algorithms = [\"none\"]\n{secret}"), "jwt.issuers[0].algorithms"),
        (format!("{issuer}algorithms = [\"HS256\"]\nsecret = \"short\"\n"), "jwt.issuers[0].secret"),
        (format!("{issuer}algorithms = [\"RS256\"]\n"), "exactly one of"),
        (format!("{issuer}algorithms = [\"RS256\"]\npublic_key_file = \"/nonexistent.pem\"\n"), "jwt.issuers[0].public_key_file"),
        (format!("{issuer}algorithms = [\"HS256\"]\n{secret}leeway = \"5m\"\n"), "jwt.issuers[0].leeway"),
        (format!("{issuer}algorithms = [\"RS256\"]\n{secret}"), "HS* algorithms only"),
        (format!("{issuer}algorithms = [\"HS256\"]\npublic_key_file = \"{FIXTURES}/jwt-test-public.pem\"\n"), "one family per public key"),
        // No HMAC where the issuer publishes asymmetric keys.
        (format!("{issuer}algorithms = [\"HS256\", \"RS256\"]\njwks_url = \"https://issuer.example/jwks\"\n"), "never a JWKS"),
        (format!("{issuer}algorithms = [\"RS256\"]\njwks_url = \"http://issuer.example/jwks\"\n"), "must be https"),
        (format!("{issuer}algorithms = [\"RS256\"]\ndiscovery = true\nmin_refresh = \"0s\"\n"), "jwt.issuers[0].min_refresh"),
        (format!("{issuer}algorithms = [\"RS256\"]\ndiscovery = true\n{secret}"), "exactly one of"),
        ("[[jwt.issuers]]\nissuer = \"https://i.example\"\nalgorithms = [\"RS256\"]\ndiscovery = true\n".to_string(), "jwt.issuers[0].audiences"),
        (format!("{issuer}algorithms = [\"HS256\"]\n{secret}{issuer}algorithms = [\"HS256\"]\n{secret}"), "listed twice"),
    ];
    for (section, needle) in cases {
        let err = gatehouse::Config::from_toml(&format!("{base}{section}"), "t")
            .unwrap_err()
            .to_string();
        assert!(err.contains(needle), "{needle}: {err}");
    }
}

/// Hardening finding 13: a JWT accepted inside its leeway is served from the cache until the
/// leeway ends too, instead of being refused (or revalidated) on its next hit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_inside_its_leeway_is_cached_like_any_other() {
    let up = EchoUpstream::start("app").await;
    let config = format!(
        "[[jwt.issuers]]\nalgorithms = [\"HS256\"]\nsecret = \"{SECRET}\"\nissuer = \"https://issuer.example\"\naudiences = [\"legacy-api\"]\nleeway = \"60s\"\n{}{}",
        upstream_section("app", &up, ""),
        route("/api", "app", "required", "scopes = [\"read\"]")
    );
    let gh = TestGatehouse::start(&config);
    let mut claims = good_claims();
    claims["exp"] = json!(now() - 5);
    let token = hs256(&claims, SECRET);
    for _ in 0..3 {
        assert_eq!(gh.get("/api/x", Some(&token)).await.status(), 200);
    }
    assert_eq!(
        gh.metric("gatehouse_token_cache_total{result=\"miss\"}")
            .await,
        1.0
    );
    assert_eq!(
        gh.metric("gatehouse_token_cache_total{result=\"hit\"}")
            .await,
        2.0
    );
    // Past exp + leeway it is refused as expired.
    claims["exp"] = json!(now() - 61);
    let late = hs256(&claims, SECRET);
    assert_eq!(gh.get("/api/x", Some(&late)).await.status(), 401);
}
