//! SECURITY M1 (route on exactly the forwarded authority; HTTP/1.1 without Host refused;
//! hosts normalised or refused) and the "host confusion" minimum: absolute-form with and
//! without Host, trailing dots, case, ports and invalid hosts. A token that is refused by the
//! strict host route never reaches its upstream through another spelling.

use crate::support::*;

const CORPUS: &str = include_str!("corpora/host_confusion.tsv");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_corpus_never_reaches_a_stricter_route_under_a_laxer_rule() {
    let strict = EchoUpstream::start("strict").await;
    let lax = EchoUpstream::start("lax").await;
    let gh = TestGatehouse::start(
        &[
            upstream_section("strict", &strict, ""),
            upstream_section("lax", &lax, ""),
            route(
                "/",
                "strict",
                "required",
                "name = \"admin\"\nhost = \"admin.test\"\nscopes = [\"admin\"]",
            ),
            route("/", "lax", "required", "name = \"any\""),
        ]
        .concat(),
    );
    let read = gh.issue("7", &["read"]).await;
    let admin = gh.issue("8", &["admin"]).await;
    let cases = crate::corpus(CORPUS, 48);
    let mut failures = Vec::new();
    for case in &cases {
        let (line, host, who, expected) =
            (case.field(0), case.field(1), case.field(2), case.field(3));
        let token = if who == "admin" { &admin } else { &read };
        let host = if host == "-" {
            String::new()
        } else {
            format!("Host: {host}\r\n")
        };
        let (s0, l0) = (strict.count(), lax.count());
        let r = raw_request(
            gh.addr,
            &format!("{line}\r\n{host}Authorization: Bearer {token}\r\nConnection: close\r\n\r\n"),
        );
        let reached = match (strict.count() - s0, lax.count() - l0) {
            (0, 0) => "",
            (1, 0) => " strict",
            (0, 1) => " lax",
            _ => " both",
        };
        let got = format!("{}{reached}", r.status);
        // A bare status means nothing may be forwarded.
        if got != expected {
            failures.push(format!(
                "line {} {line:?} host {host:?} {who}: expected {expected}, got {got}",
                case.line
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
