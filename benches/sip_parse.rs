//! SIP parse speed: an emergency INVITE with SDP and its 200 OK, parsed in a loop.
//! Prints a table (median of 15 runs of 20,000 parses each). Run with
//! `cargo bench --bench sip_parse`; for a noise-free figure count instructions with
//! `valgrind --tool=callgrind --toggle-collect='cc112::sip::parse::parse' target/release/deps/sip_parse-* --count N`.

// A measuring tool, not the gateway: the crate's no-panic lints do not apply.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::hint::black_box;
use std::time::Instant;

#[path = "common/messages.rs"]
mod messages;
use messages::{INVITE, OK};

fn median_ns(msg: &[u8], n: u32) -> f64 {
    let mut runs: Vec<f64> = (0..15)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..n {
                black_box(cc112::sip::parse(black_box(msg)).is_ok());
            }
            t.elapsed().as_nanos() as f64 / f64::from(n)
        })
        .collect();
    runs.sort_by(f64::total_cmp);
    runs[runs.len() / 2]
}

fn main() {
    // `--count N`: parse the INVITE N times and exit, for callgrind (instructions per
    // INVITE = (count(101) - count(1)) / 100, which leaves out one-time warm-up).
    let args: Vec<String> = std::env::args().collect();
    if let Some(n) = args.iter().position(|a| a == "--count").and_then(|i| args.get(i + 1)).and_then(|n| n.parse::<u32>().ok()) {
        for _ in 0..n {
            black_box(cc112::sip::parse(black_box(INVITE)).is_ok());
        }
        return;
    }
    assert!(cc112::sip::parse(INVITE).is_ok() && cc112::sip::parse(OK).is_ok());
    println!("{:<22} {:>12} {:>16}", "message", "ns/parse", "parses/s/core");
    for (name, msg) in [("INVITE with SDP", INVITE), ("200 OK", OK)] {
        let ns = median_ns(msg, 20_000);
        println!("{name:<22} {ns:>12.0} {:>16.0}", 1e9 / ns);
    }
}
