//! `circa-bench gc`: half-gates garbling and evaluation throughput.

use crate::{Error, Record, Size};
use serde_json::json;
use std::path::Path;

/// Measures the AND stream and, if `circuits_dir` holds them, the Bristol
/// AES-128 and SHA-256 circuits: garbling and evaluation in memory, and
/// garbling over TCP loopback (`garble_net`).
pub fn run(size: Size, circuits_dir: Option<&Path>) -> Result<Vec<Record>, Error> {
    let (stream_ands, reps) = match size {
        Size::Full => (1 << 22, 9),
        Size::Quick => (1 << 12, 3),
    };
    let figures = circa_gc::bench_support::measure_all(circuits_dir, stream_ands, reps)?;
    Ok(figures
        .into_iter()
        .map(|m| {
            json!({
                "bench": "gc",
                "circuit": m.circuit,
                "phase": m.phase,
                "and_gates": m.and_gates,
                "seconds": m.seconds,
                "and_per_sec": m.and_per_sec,
                "bytes_per_and": m.bytes_per_and,
                // Thread CPU time of the measuring party: comparable across loads.
                "cpu_seconds": m.cpu_seconds,
                "cpu_and_per_sec": m.cpu_seconds.map(|c| m.and_gates as f64 / c),
            })
        })
        .collect())
}
