//! Prints the garbling figures of `bench_support::measure_all`: wall-clock and thread-CPU AND gates
//! per second for the AND stream, `aes_128` and `sha256` (garble, eval, garble_net), and the
//! fixed-key AES / TCCR hash ceilings of this machine.
//!
//! ```text
//! cargo run --release -p circa-gc --example bench_figures [-- REPS]
//! ```
//!
//! On a shared machine the CPU-time column is the one to compare with single-core targets.

fn main() {
    let reps = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(9);
    let dir = std::path::PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/circuits"
    ));
    let figures = match circa_gc::bench_support::measure_all(Some(&dir), 1 << 20, reps) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    };
    println!("circuit    phase        AND gates   wall M AND/s   cpu M AND/s   B/AND");
    for m in figures {
        let cpu = m
            .cpu_seconds
            .map(|s| m.and_gates as f64 / s / 1e6)
            .unwrap_or(f64::NAN);
        println!(
            "{:<10} {:<10} {:>11} {:>14.2} {:>13.2} {:>7.2}",
            m.circuit,
            m.phase,
            m.and_gates,
            m.and_per_sec / 1e6,
            cpu,
            m.bytes_per_and
        );
    }
    if let Ok((aes, tccr)) = circa_gc::bench_support::measure_aes_limit(1 << 16, 51) {
        println!(
            "fixed-key AES {:.0} M blocks/s, TCCR hash {:.0} M/s (CPU time): ceilings {:.0} M AND/s garbling, {:.0} M evaluating",
            aes / 1e6,
            tccr / 1e6,
            tccr / 4e6,
            tccr / 2e6
        );
    }
}
