//! Token endpoint load generator for bench/run.sh (not a test: timings live here only).
//!
//! `cargo run --profile dist --example token_bench -- BASE_URL MODE CONCURRENCY SECONDS`
//! MODE: `password` (seed 001 logins, bounded by argon2), `client_credentials`, `refresh`
//! (each worker follows its own rotation chain), `introspect` (a resource server asking about
//! one `bench-service` access token, RFC 7662). Prints one Markdown table row.

use std::time::{Duration, Instant};

const LEGACY: &str = "bench-legacy";
const SERVICE: &str = "bench-service";
const SERVICE_SECRET: &str = "bench-service-secret-0123456789";
const RESOURCE: &str = "bench-api";
const RESOURCE_SECRET: &str = "bench-api-secret-0123456789abcdef";

#[tokio::main(flavor = "multi_thread", worker_threads = 1)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 5 {
        eprintln!(
            "usage: token_bench BASE_URL password|client_credentials|refresh|introspect CONCURRENCY SECONDS"
        );
        std::process::exit(2);
    }
    let base = args[1].trim_end_matches('/').to_string();
    let mode = args[2].clone();
    let concurrency: usize = args[3].parse().expect("concurrency");
    let seconds: u64 = args[4].parse().expect("seconds");
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()
        .expect("client");

    // One user per worker: logins never contend on one account's throttle row.
    for w in 0..concurrency {
        let _ = client
            .post(format!("{base}/sign-up"))
            .json(&serde_json::json!({"username": format!("bench{w}"), "password": "bench-password", "client_id": LEGACY}))
            .send()
            .await;
    }

    // The token a resource server keeps asking about (introspect mode).
    let introspected = if mode == "introspect" {
        let r = client
            .post(format!("{base}/oauth/token"))
            .basic_auth(SERVICE, Some(SERVICE_SECRET))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .expect("client_credentials for introspect");
        let body: serde_json::Value = r.json().await.expect("token response");
        body["access_token"]
            .as_str()
            .expect("access_token")
            .to_string()
    } else {
        String::new()
    };

    // Each refresh worker's chain starts with a password login (argon2): set-up, done before
    // the timed window so that neither the rate nor the server's CPU figure counts it.
    let mut logins = Vec::new();
    for w in 0..concurrency {
        let (client, base, mode) = (client.clone(), base.clone(), mode.clone());
        logins.push(tokio::spawn(async move {
            if mode != "refresh" {
                return None;
            }
            let r = client.post(format!("{base}/oauth/authorize")).json(&serde_json::json!({
                "username": format!("bench{w}"), "password": "bench-password", "grant_type": "password", "client_id": LEGACY
            })).send().await.ok()?;
            let body: serde_json::Value = r.json().await.ok()?;
            body["refresh_token"].as_str().map(str::to_string)
        }));
    }
    let mut chains = Vec::new();
    for l in logins {
        chains.push(l.await.expect("login"));
    }

    // With TOKEN_BENCH_SERVER_PID (bench/token_ab.sh), the server's CPU time over the timed
    // window alone, in clock ticks, goes to stderr.
    let server = std::env::var("TOKEN_BENCH_SERVER_PID").ok();
    let ticks_before = server.as_deref().and_then(cpu_ticks);
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut workers = Vec::new();
    for (w, chain) in chains.into_iter().enumerate() {
        let (client, base, mode) = (client.clone(), base.clone(), mode.clone());
        let introspected = introspected.clone();
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0u64;
            let mut refresh = chain;
            while Instant::now() < deadline {
                let started = Instant::now();
                let req = match mode.as_str() {
                    "password" => client.post(format!("{base}/oauth/authorize")).json(&serde_json::json!({
                        "username": format!("bench{w}"), "password": "bench-password", "grant_type": "password", "client_id": LEGACY
                    })),
                    "client_credentials" => client
                        .post(format!("{base}/oauth/token"))
                        .basic_auth(SERVICE, Some(SERVICE_SECRET))
                        .form(&[("grant_type", "client_credentials")]),
                    "refresh" => match &refresh {
                        Some(r) => client
                            .post(format!("{base}/oauth/token"))
                            .form(&[("grant_type", "refresh_token"), ("refresh_token", r.as_str()), ("client_id", LEGACY)]),
                        None => client.post(format!("{base}/oauth/authorize")).json(&serde_json::json!({
                            "username": format!("bench{w}"), "password": "bench-password", "grant_type": "password", "client_id": LEGACY
                        })),
                    },
                    "introspect" => client
                        .post(format!("{base}/oauth/introspect"))
                        .basic_auth(RESOURCE, Some(RESOURCE_SECRET))
                        .form(&[("token", introspected.as_str())]),
                    other => panic!("unknown mode {other}"),
                };
                let was_refresh = refresh.is_some();
                match req.send().await {
                    Ok(r) if r.status() == 200 => {
                        let body: serde_json::Value = r.json().await.unwrap_or_default();
                        if mode == "introspect" && body["active"] != true {
                            errors += 1;
                            continue;
                        }
                        if mode == "refresh" {
                            refresh = body["refresh_token"].as_str().map(str::to_string);
                        }
                        // A chain restarted by a login (after an error) is set-up, not a refresh: not measured.
                        if mode != "refresh" || was_refresh {
                            latencies.push(started.elapsed());
                        }
                    }
                    _ => {
                        errors += 1;
                        refresh = None;
                    }
                }
            }
            (latencies, errors)
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    for w in workers {
        let (l, e) = w.await.expect("worker");
        all.extend(l);
        errors += e;
    }
    if let (Some(before), Some(after)) = (ticks_before, server.as_deref().and_then(cpu_ticks)) {
        eprintln!("window-cpu-ticks {}", after - before);
    }
    all.sort();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    println!(
        "| token endpoint: {mode} (c={concurrency}) | {:.0} | {:.2} ms | {:.2} ms | {errors} |",
        all.len() as f64 / seconds as f64,
        pct(0.50).as_secs_f64() * 1000.0,
        pct(0.99).as_secs_f64() * 1000.0,
    );
}

/// utime + stime of a process, in clock ticks (/proc/PID/stat fields 14 and 15).
fn cpu_ticks(pid: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces: count fields after its closing parenthesis.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}
