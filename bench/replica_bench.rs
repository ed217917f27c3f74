//! Revocation propagation between two replicas on one PostgreSQL database (bench/run.sh).
//!
//! `cargo run --profile dist --example replica_bench -- POSTGRES_URL [N]`
//! Starts replicas A and B in-process on a fresh schema, issues N tokens, caches each on B,
//! revokes it through A and times how long until B's cache has let it go. Prints Markdown rows.

use gatehouse::auth::NewToken;
use gatehouse::{Config, Gatehouse, RunningGatehouse};
use std::net::TcpListener;
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("port")
}

fn replica(url: &str, schema: &str) -> RunningGatehouse {
    let (port, admin) = (free_port(), free_port());
    let text = format!(
        "[server]\nlisten = \"127.0.0.1:{port}\"\npublic_url = \"http://127.0.0.1:{port}\"\nadmin_listen = \"127.0.0.1:{admin}\"\n\
         [log]\nlevel = \"warn\"\naccess_log = false\n[store]\nurl = \"{url}\"\nschema = \"{schema}\"\n[cache]\nttl = \"300s\"\n"
    );
    let config = Config::from_toml(&text, "replica_bench").expect("config");
    // Gatehouse opens its store on a runtime of its own: build it outside ours.
    std::thread::spawn(move || Gatehouse::build(config).and_then(Gatehouse::spawn))
        .join()
        .expect("thread")
        .expect("start replica")
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let url = args
        .get(1)
        .expect("usage: replica_bench POSTGRES_URL [N]")
        .clone();
    let n: usize = args.get(2).map(|s| s.parse().expect("N")).unwrap_or(1000);
    let schema = format!(
        "gatehouse_bench_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    );
    let a = replica(&url, &schema);
    let b = replica(&url, &schema);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let (after_commit, from_call) = runtime.block_on(async {
        let (mut after_commit, mut from_call) = (Vec::with_capacity(n), Vec::with_capacity(n));
        for i in 0..n {
            let new = NewToken {
                user_id: Some(format!("u{i}")),
                ..Default::default()
            };
            let token = a
                .state()
                .tokens
                .issue(new, Duration::from_secs(3600))
                .await
                .expect("issue");
            b.state()
                .validator
                .validate(&token)
                .await
                .expect("valid on B");
            let started = Instant::now();
            a.state().tokens.revoke(&token).await.expect("revoke");
            let committed = Instant::now();
            let deadline = committed + Duration::from_secs(10);
            while b.state().validator.validate(&token).await.is_ok() {
                assert!(
                    Instant::now() < deadline,
                    "revocation did not reach B within 10 s"
                );
                tokio::task::yield_now().await;
            }
            let seen = Instant::now();
            after_commit.push(seen - committed);
            from_call.push(seen - started);
        }
        after_commit.sort();
        from_call.sort();
        (after_commit, from_call)
    });
    for (label, v) in [
        ("commit on A → evicted on B", &after_commit),
        ("revoke call on A → evicted on B", &from_call),
    ] {
        println!(
            "| revocation propagation, {label} (n={n}) | {:.2} ms | {:.2} ms | {:.2} ms |",
            percentile(v, 0.50).as_secs_f64() * 1000.0,
            percentile(v, 0.99).as_secs_f64() * 1000.0,
            v[v.len() - 1].as_secs_f64() * 1000.0,
        );
    }
    drop(a);
    drop(b);
}
