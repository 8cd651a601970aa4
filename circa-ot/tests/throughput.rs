//! Throughput printout (ignored by default; never asserts on time):
//! `cargo test -p circa-ot --release --test throughput -- --ignored --nocapture`
//! Set `CIRCA_OT_N` to change the number of OTs (default 2^24) and
//! `CIRCA_OT_KIND` (`rcot`, `cot`, `rot`, `chosen`) to run only one kind.

use circa_ot::bench_support::{OtKind, run_ot_loopback};

#[test]
#[ignore = "measurement, not a test; run with --ignored --nocapture"]
fn print_ot_throughput() {
    let n: u64 = std::env::var("CIRCA_OT_N")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1 << 24);
    let only = std::env::var("CIRCA_OT_KIND").ok();
    for kind in OtKind::ALL {
        if only.as_deref().is_some_and(|k| k != kind.name()) {
            continue;
        }
        let r = run_ot_loopback(kind, n).expect("run");
        println!(
            "{:7} n={} {:.3} s {:7.2} M/s  cpu: sender {:.3} s receiver {:.3} s -> {:7.2} M/s  sender {:.2} B/OT  receiver {:.2} B/OT  setup {:.1} ms",
            kind.name(),
            r.n,
            r.seconds,
            r.per_sec / 1e6,
            r.sender_cpu_seconds.unwrap_or(f64::NAN),
            r.receiver_cpu_seconds.unwrap_or(f64::NAN),
            r.n as f64
                / r.sender_cpu_seconds
                    .unwrap_or(f64::NAN)
                    .max(r.receiver_cpu_seconds.unwrap_or(f64::NAN))
                / 1e6,
            r.sender_bytes_per_op,
            r.receiver_bytes_per_op,
            r.setup_seconds * 1e3
        );
    }
}
