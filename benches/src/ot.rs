//! `circa-bench ot`: OT extension throughput over TCP loopback, one thread per party.

use crate::{Error, Record, Size};
use circa_ot::bench_support::{OtKind, run_ot_loopback};
use serde_json::json;

/// Every OT kind (`rcot`, `cot`, `rot`, `chosen`) at `n = 2^24` (or `2^16` quick).
pub fn run(size: Size) -> Result<Vec<Record>, Error> {
    let n: u64 = match size {
        Size::Full => 1 << 24,
        Size::Quick => 1 << 16,
    };
    let mut out = Vec::new();
    for kind in OtKind::ALL {
        let r = run_ot_loopback(kind, n)?;
        out.push(json!({
            "bench": "ot",
            "kind": r.kind.name(),
            "n": r.n,
            "seconds": r.seconds,
            "per_sec": r.per_sec,
            "sender_bytes_per_op": r.sender_bytes_per_op,
            "receiver_bytes_per_op": r.receiver_bytes_per_op,
            "setup_seconds": r.setup_seconds,
            // Thread CPU time per party: the single-core figure on a loaded machine.
            "sender_cpu_seconds": r.sender_cpu_seconds,
            "receiver_cpu_seconds": r.receiver_cpu_seconds,
            "per_cpu_sec": r.sender_cpu_seconds.zip(r.receiver_cpu_seconds)
                .map(|(s, c)| r.n as f64 / s.max(c)),
        }));
    }
    Ok(out)
}
