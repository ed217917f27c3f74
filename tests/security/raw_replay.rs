//! SECURITY "Fuzzing" minimum, the black-box half: at least 10,000 raw requests, mutated
//! deterministically from the framing, host and path corpora (bytes flipped, inserted,
//! deleted, lines repeated or cut, line ends changed), sent over real sockets to a running
//! Gatehouse. Not one may panic a task, get a 500, or stop the server answering.

use crate::support::*;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const REQUESTS: usize = 10_000;

/// A small deterministic generator (xorshift64*), so a failure names a reproducible case.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Bytes worth inserting: the ones parsers disagree about.
const INTERESTING: &[u8] = b"\r\n\t :;,/\\%.?#@\x00\x7f\xff-_0fF";

fn mutate(seed: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut out = seed.to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(out.len() + 1);
        match rng.below(7) {
            0 if at < out.len() => out[at] ^= 1 << rng.below(8),
            1 => out.insert(at, INTERESTING[rng.below(INTERESTING.len())]),
            2 if at < out.len() => {
                out.remove(at);
            }
            3 => {
                // Repeat one line (duplicate headers, repeated request lines).
                let lines: Vec<&[u8]> = seed.split_inclusive(|b| *b == b'\n').collect();
                let line = lines[rng.below(lines.len())].to_vec();
                let at = at.min(out.len());
                out.splice(at..at, line);
            }
            4 => out.truncate(at),
            5 => {
                // Swap line ends: CRLF ↔ LF ↔ CR.
                if let Some(i) = out.iter().skip(at).position(|b| *b == b'\n') {
                    let i = at + i;
                    match rng.below(2) {
                        0 if i > 0 && out[i - 1] == b'\r' => {
                            out.remove(i - 1);
                        }
                        _ => out[i] = b'\r',
                    }
                }
            }
            _ => out.extend_from_slice(b"X-Extra: y\r\n\r\n"),
        }
    }
    out
}

fn seeds() -> Vec<Vec<u8>> {
    let mut seeds: Vec<Vec<u8>> = crate::corpus(include_str!("corpora/framing.tsv"), 1)
        .iter()
        .map(|c| c.field(1).as_bytes().to_vec())
        .collect();
    for c in crate::corpus(include_str!("corpora/host_confusion.tsv"), 1) {
        let head = c.field(0);
        let host = c.field(1);
        let host = if host == "-" {
            String::new()
        } else {
            format!("Host: {host}\r\n")
        };
        seeds.push(format!("{head}\r\n{host}Connection: close\r\n\r\n").into_bytes());
    }
    for c in crate::corpus(include_str!("corpora/paths.tsv"), 1) {
        seeds.push(
            format!(
                "GET {} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
                c.field(0)
            )
            .into_bytes(),
        );
    }
    seeds
}

/// Sends one request, half-closes (so an unfinished head ends at once), and returns the
/// status of the first response, if any (a refusal may also be a closed connection).
fn send(addr: SocketAddr, bytes: &[u8]) -> Option<u16> {
    let mut s = TcpStream::connect(addr).expect("Gatehouse stopped accepting connections");
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let _ = s.write_all(bytes);
    let _ = s.shutdown(Shutdown::Write);
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf);
    text.strip_prefix("HTTP/1.")?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_mutated_raw_requests_panic_nothing() {
    let panics = Arc::new(AtomicUsize::new(0));
    let seen = panics.clone();
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        seen.fetch_add(1, Ordering::Relaxed);
        previous(info);
    }));
    let up = EchoUpstream::start("app").await;
    let gh = TestGatehouse::start(
        &[
            upstream_section("app", &up, ""),
            route("/admin", "app", "required", ""),
            route("/", "app", "public", ""),
        ]
        .concat(),
    );
    let seeds = seeds();
    assert!(seeds.len() >= 150, "{} seeds", seeds.len());
    let addr = gh.addr;
    let failures = Arc::new(Mutex::new(Vec::new()));
    let next = Arc::new(AtomicUsize::new(0));
    let answered = Arc::new(AtomicUsize::new(0));
    let seeds = Arc::new(seeds);
    let workers: Vec<_> = (0..16)
        .map(|_| {
            let (failures, next, seeds) = (failures.clone(), next.clone(), seeds.clone());
            let answered = answered.clone();
            std::thread::spawn(move || loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= REQUESTS {
                    break;
                }
                let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (n as u64 + 1));
                let seed = &seeds[rng.below(seeds.len())];
                let request = mutate(seed, &mut rng);
                if let Some(status) = send(addr, &request) {
                    answered.fetch_add(1, Ordering::Relaxed);
                    if status >= 500 {
                        failures.lock().unwrap().push(format!(
                            "case {n}: {status} for {:?}",
                            String::from_utf8_lossy(&request)
                        ));
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    let failures = failures.lock().unwrap();
    assert!(
        failures.is_empty(),
        "{} of {REQUESTS} got a 5xx:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(panics.load(Ordering::Relaxed), 0, "a task panicked");
    // Most mutants still parse far enough for an answer; the rest are closed on. A run where
    // few are answered has stopped testing anything.
    let answered = answered.load(Ordering::Relaxed);
    assert!(
        answered > REQUESTS / 2,
        "only {answered} of {REQUESTS} answered"
    );
    assert_eq!(raw_get(gh.addr, "/after", &[]).status, 200);
}
