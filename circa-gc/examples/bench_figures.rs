//! Prints the garbling figures of `bench_support::measure_all`: wall-clock and thread-CPU AND gates
//! per second for the AND stream, `aes_128` and `sha256` (garble, eval, garble_net), and the
//! AES and re-keyed hash ceilings of this machine.
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
    if let Ok(l) = circa_gc::bench_support::measure_aes_limit(1 << 14, 51) {
        println!(
            "{}: fixed-key AES {:.0} M blocks/s; re-keyed hash {:.0} M/s in pairs, {:.0} M/s single: \
             hashing ceilings {:.0} M AND/s garbling, {:.0} M evaluating",
            l.backend,
            l.ecb_blocks_per_sec / 1e6,
            l.pair_hashes_per_sec / 1e6,
            l.single_hashes_per_sec / 1e6,
            l.garble_ceiling() / 1e6,
            l.eval_ceiling() / 1e6
        );
    }
}
