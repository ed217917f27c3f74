//! SECURITY D1 (no token → Bearer challenge), D2 (malformed credentials → 400
//! invalid_request) and D4 (legacy token locations only when configured, stripped before
//! forwarding): every way a client might place a token, valid or not.

use crate::support::*;

const CORPUS: &str = include_str!("corpora/token_extraction.tsv");

fn instance(up: &EchoUpstream, tokens: &str) -> TestGatehouse {
    TestGatehouse::start(
        &[
            upstream_section("app", up, ""),
            route("/", "app", "required", ""),
            tokens.to_string(),
        ]
        .concat(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_extraction_corpus() {
    let up = EchoUpstream::start("app").await;
    let strict = instance(&up, "");
    let legacy = instance(
        &up,
        "[tokens]\nlegacy_locations = [\"oauth_header\", \"query:oauth_token\"]\n",
    );
    // One token valid on both instances: each has its own store, so issue on each and use
    // the same placeholder per instance.
    let tokens = [
        ("strict", strict.issue("u1", &["read"]).await),
        ("legacy", legacy.issue("u1", &["read"]).await),
    ];
    let cases = crate::corpus(CORPUS, 36);
    let mut failures = Vec::new();
    for case in &cases {
        let which = case.field(0);
        let (gh, token) = match which {
            "strict" => (&strict, &tokens[0].1),
            "legacy" => (&legacy, &tokens[1].1),
            other => panic!("line {}: unknown instance {other}", case.line),
        };
        let target = case.field(1).replace("$T", token);
        let headers = case.field(2).replace("$T", token);
        let headers: Vec<&str> = match headers.as_str() {
            "-" => vec![],
            h => h.split("\r\n").collect(),
        };
        let expected = case.field(3);
        let before = up.count();
        let r = raw_get(gh.addr, &target, &headers);
        let challenge = r.header("www-authenticate").unwrap_or("").to_string();
        let problem = match expected {
            "200" => {
                let seen = up.seen();
                match seen.get(before) {
                    Some(s) if r.status == 200 && !s.uri.contains(token.as_str()) => None,
                    s => Some(format!(
                        "status {}, forwarded {:?}",
                        r.status,
                        s.map(|s| &s.uri)
                    )),
                }
            }
            _ => {
                let shaped = match expected {
                    "400" => challenge.contains("error=\"invalid_request\""),
                    _ => challenge.starts_with("Bearer realm="),
                };
                (r.status.to_string() != expected || !shaped || up.count() != before).then(|| {
                    format!(
                        "status {}, challenge {challenge:?}, forwarded {}",
                        r.status,
                        up.count() - before
                    )
                })
            }
        };
        if let Some(p) = problem {
            failures.push(format!(
                "line {} {which} {}: expected {expected}, {p}",
                case.line,
                case.field(1)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
