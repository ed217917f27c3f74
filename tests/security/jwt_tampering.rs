//! SECURITY D5 (per-key `alg` allow-list; no `none`, no HS/RS confusion) and D6 (`iss`,
//! `aud`, `exp`, `nbf` checked exactly): a corpus of forged and tampered JWTs against an HS256
//! and an RS256 issuer. Each token is built from the corpus line byte for byte, so headers a
//! JWT library would refuse to produce can be sent too.

use crate::support::*;
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{json, Value};

const CORPUS: &str = include_str!("corpora/jwt_tampering.tsv");
const SECRET: &str = "jwt-test-secret-jwt-test-secret-0123";
const OTHER: &str = "another-secret-another-secret-0123";
const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

fn now() -> i64 {
    gatehouse::store::now_unix()
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn good_claims() -> Value {
    json!({"sub": "jwt-user-7", "scope": "read", "iss": "https://issuer.example",
           "aud": "legacy-api", "iat": now(), "exp": now() + 600})
}

/// The default claims with the corpus patch applied (`null` removes, `"$now±N"` is a time).
fn claims(patch: &str) -> Value {
    let mut c = good_claims();
    let patch: Value = serde_json::from_str(patch).expect("claims patch is JSON");
    for (k, v) in patch.as_object().expect("claims patch is an object") {
        let v = match v.as_str().and_then(|s| s.strip_prefix("$now")) {
            Some(offset) => json!(now() + offset.replace('+', "").parse::<i64>().unwrap()),
            None => v.clone(),
        };
        if v.is_null() {
            c.as_object_mut().unwrap().remove(k);
        } else {
            c[k] = v;
        }
    }
    c
}

fn sign(message: &str, spec: &str) -> String {
    let (alg, key) = spec.split_once(':').expect("ALG:KEY");
    let alg: Algorithm = alg.parse().expect("algorithm");
    let pem = |name: &str| std::fs::read(format!("{FIXTURES}/{name}")).unwrap();
    let key = match key {
        "secret" => EncodingKey::from_secret(SECRET.as_bytes()),
        "other" => EncodingKey::from_secret(OTHER.as_bytes()),
        "public" => EncodingKey::from_secret(&pem("jwt-test-public.pem")),
        "private" => EncodingKey::from_rsa_pem(&pem("jwt-test-private.pem")).unwrap(),
        other => panic!("unknown key {other}"),
    };
    jsonwebtoken::crypto::sign(message.as_bytes(), &key, alg).unwrap()
}

fn token(header: &str, patch: &str, signature: &str) -> String {
    let head = b64(header.as_bytes());
    let message = format!("{head}.{}", b64(claims(patch).to_string().as_bytes()));
    let sig = if signature == "empty" {
        String::new()
    } else if let Some(spec) = signature.strip_prefix("altered:") {
        let good = sign(&message, spec);
        let first = if good.starts_with('A') {
            "BBBB"
        } else {
            "AAAA"
        };
        format!("{first}{}", &good[4..])
    } else if let Some(spec) = signature.strip_prefix("stale:") {
        sign(
            &format!("{head}.{}", b64(good_claims().to_string().as_bytes())),
            spec,
        )
    } else {
        sign(&message, signature)
    };
    format!("{message}.{sig}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwt_tampering_corpus_is_refused() {
    let up = EchoUpstream::start("app").await;
    let hs = TestGatehouse::start(&format!(
        "[[jwt.issuers]]\nalgorithms = [\"HS256\"]\nsecret = \"{SECRET}\"\nissuer = \"https://issuer.example\"\naudiences = [\"legacy-api\"]\nleeway = \"5s\"\n{}{}",
        upstream_section("app", &up, ""),
        route("/", "app", "required", "")
    ));
    let rs = TestGatehouse::start(&format!(
        "[[jwt.issuers]]\nissuer = \"https://issuer.example\"\naudiences = [\"legacy-api\"]\nalgorithms = [\"RS256\"]\npublic_key_file = \"{FIXTURES}/jwt-test-public.pem\"\n{}{}",
        upstream_section("app", &up, ""),
        route("/", "app", "required", "")
    ));
    let cases = crate::corpus(CORPUS, 48);
    let mut failures = Vec::new();
    for case in &cases {
        let (instance, kind, expected) = (case.field(0), case.field(1), case.field(5));
        let gh = if instance == "rs" { &rs } else { &hs };
        let t = token(case.field(2), case.field(3), case.field(4));
        let before = up.count();
        let r = raw_get(gh.addr, "/x", &[&format!("Authorization: Bearer {t}")]);
        let challenge = r.header("www-authenticate").unwrap_or("");
        let ok = match expected {
            "200" => r.status == 200 && up.count() == before + 1,
            _ => {
                r.status == 401
                    && challenge.contains("error=\"invalid_token\"")
                    && up.count() == before
            }
        };
        if !ok {
            failures.push(format!(
                "line {} {instance} {kind:?}: expected {expected}, got {} {challenge:?}",
                case.line, r.status
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
