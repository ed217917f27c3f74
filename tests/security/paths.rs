//! SECURITY F1 (one canonical path, refusals) and F2 (query never matched): a corpus of
//! tricky paths against a protected `/admin` beside public routes. None may reach the
//! protected upstream without a token.

use crate::support::*;

const CORPUS: &str = include_str!("corpora/paths.tsv");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn path_corpus_never_reaches_a_protected_route_unauthenticated() {
    let public = EchoUpstream::start("public").await;
    let protected = EchoUpstream::start("protected").await;
    let gh = TestGatehouse::start(
        &[
            upstream_section("public", &public, ""),
            upstream_section("protected", &protected, ""),
            route("/", "public", "public", ""),
            route("/pub", "public", "public", ""),
            route("/admin", "protected", "required", ""),
        ]
        .concat(),
    );
    let cases = crate::corpus(CORPUS, 46);
    let mut failures = Vec::new();
    for case in &cases {
        let (path, expected) = (case.field(0), case.field(1));
        let before = public.count();
        let r = raw_get(gh.addr, path, &[]);
        let problem = match expected.split_once(' ') {
            Some(("200", uri)) => {
                let forwarded = public.seen().get(before).map(|s| s.uri.clone());
                (r.status != 200 || forwarded.as_deref() != Some(uri))
                    .then(|| format!("status {} forwarded {forwarded:?}", r.status))
            }
            // A 401 is the missing-token challenge of a protected route; a 400 is the
            // normaliser's refusal.
            _ => {
                let json: Option<serde_json::Value> = serde_json::from_str(&r.body).ok();
                let error = json.as_ref().and_then(|j| j["error"].as_str());
                let challenge = r.header("www-authenticate").unwrap_or("");
                let shaped = match expected {
                    "400" => error == Some("invalid_request"),
                    _ => challenge.starts_with("Bearer realm="),
                };
                (r.status.to_string() != expected || !shaped || public.count() != before).then(
                    || {
                        format!(
                            "status {} error {error:?} challenge {challenge:?}",
                            r.status
                        )
                    },
                )
            }
        };
        if let Some(p) = problem {
            failures.push(format!(
                "line {} {path:?}: expected {expected}, {p}",
                case.line
            ));
        }
    }
    assert_eq!(
        protected.count(),
        0,
        "reached the protected upstream: {:?}",
        protected.seen()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
