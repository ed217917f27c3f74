//! SECURITY E1 (identity headers stripped in every spelling), E2 and M5 (forwarding and
//! address claims dropped from untrusted peers): each corpus header is sent alone on a
//! required, an optional and a public route; the upstream never sees the spoofed value.

use crate::support::upstream::Seen;
use crate::support::*;

const CORPUS: &str = include_str!("corpora/spoof_headers.tsv");

/// Header names compare as a server that folds `_` into `-` would (nginx, CGI, Rack).
fn same_name(a: &str, b: &str) -> bool {
    a.replace('_', "-")
        .eq_ignore_ascii_case(&b.replace('_', "-"))
}

/// The spoofed `(name, value)` pairs of one case (one or more header lines).
fn spoofs(lines: &str) -> Vec<(String, String)> {
    lines
        .split("\r\n")
        .map(|l| {
            let (n, v) = l.split_once(':').expect("name: value");
            (n.to_string(), v.trim().to_string())
        })
        .collect()
}

fn leaked(seen: &Seen, spoofs: &[(String, String)]) -> Vec<String> {
    let mut out = Vec::new();
    for (k, v) in &seen.headers {
        if k.contains('_') {
            out.push(format!("underscore header {k}: {v}"));
        }
        for (name, value) in spoofs {
            if same_name(k, name) && v.contains(value.as_str()) {
                out.push(format!("{k}: {v}"));
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spoofed_headers_never_reach_the_upstream() {
    let up = EchoUpstream::start("app").await;
    let gh = TestGatehouse::start(
        &[
            upstream_section("app", &up, ""),
            route("/req", "app", "required", ""),
            route("/opt", "app", "optional", ""),
            route("/pub", "app", "public", ""),
        ]
        .concat(),
    );
    let token = gh.issue("42", &["read", "write"]).await;
    let auth = format!("Authorization: Bearer {token}");
    let cases = crate::corpus(CORPUS, 36);
    let mut failures = Vec::new();
    for case in &cases {
        let line = case.field(0);
        let spoofed = spoofs(line);
        for (path, with_token) in [("/req/x", true), ("/opt/x", false), ("/pub/x", false)] {
            let mut headers = vec![line];
            if with_token {
                headers.push(&auth);
            }
            let before = up.count();
            let r = raw_get(gh.addr, path, &headers);
            if r.status != 200 || up.count() != before + 1 {
                failures.push(format!("line {} {path}: status {}", case.line, r.status));
                continue;
            }
            let seen = up.last();
            let leaks = leaked(&seen, &spoofed);
            if !leaks.is_empty() {
                failures.push(format!("line {} {path}: {leaks:?}", case.line));
            }
            // Gatehouse's own values are what the upstream sees instead.
            let ours_ok = seen.header_values("x-forwarded-for") == vec!["127.0.0.1"]
                && seen.header_values("x-forwarded-proto") == vec!["http"]
                && if with_token {
                    // M5's second rule (the client's `Authorization` is not forwarded) is open
                    // finding F-HDR-2 in docs/security.md: it is forwarded today, so not asserted.
                    seen.header_values("x-auth-user-id") == vec!["42"]
                        && seen.header_values("x-auth-scopes") == vec!["read write"]
                } else {
                    seen.header("x-auth-user-id").is_none()
                };
            if !ours_ok {
                failures.push(format!(
                    "line {} {path}: own headers wrong: {:?}",
                    case.line, seen.headers
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
