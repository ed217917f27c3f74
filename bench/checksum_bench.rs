//! What the token checksum costs per request (issue 14 part 4), not a test: timings live here.
//!
//! `cargo run --profile dist --example checksum_bench [ITERATIONS]` prints ns per call of the
//! checksum screen on a valid token (every request pays it, cache hit or not), on a forged
//! one (what a flood costs), on an unstructured one, of minting, and of the SHA-256 that keys
//! the cache, for comparison.

use gatehouse::auth::{hash_token, TokenChecksum};
use std::hint::black_box;
use std::time::Instant;

fn time(name: &str, iterations: u32, mut f: impl FnMut()) {
    for _ in 0..iterations / 10 {
        f();
    }
    let started = Instant::now();
    for _ in 0..iterations {
        f();
    }
    let ns = started.elapsed().as_nanos() as f64 / f64::from(iterations);
    println!("| {name} | {ns:.0} ns |");
}

fn main() {
    let iterations: u32 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let checksum = TokenChecksum::new(&[7; 32], &[[8; 32]], true, false);
    let valid = checksum.mint();
    let mut forged = valid.clone().into_bytes();
    forged[20] = if forged[20] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).unwrap_or_default();
    let legacy = "j89n22wmadh8vkc5e6bwqey9tp42cdc";
    println!("| operation ({iterations} calls) | time per call |\n|---|---|");
    time("screen, valid token (current key)", iterations, || {
        black_box(checksum.screen(black_box(&valid))).ok();
    });
    time(
        "screen, forged token (current + 1 previous key)",
        iterations,
        || {
            black_box(checksum.screen(black_box(&forged))).ok();
        },
    );
    time("screen, unstructured token", iterations, || {
        black_box(checksum.screen(black_box(legacy))).ok();
    });
    time("mint", iterations / 10, || {
        black_box(checksum.mint());
    });
    time(
        "SHA-256 of the token (cache key, already paid)",
        iterations,
        || {
            black_box(hash_token(black_box(&valid)));
        },
    );
}
