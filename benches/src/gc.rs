//! `circa-bench gc`: half-gates garbling and evaluation throughput.

use crate::{Error, Record, Size};
use serde_json::json;
use std::path::Path;

/// Measures the AND stream and, if `circuits_dir` holds them, the Bristol
/// AES-128 and SHA-256 circuits: garbling and evaluation in memory, and
/// garbling over TCP loopback (`garble_net`); with `threads > 1` also
/// parallel garbling (`garble_parallel`) of the AND stream and of a chunk of
/// 1024 ReLU comparators at 1 and `threads` threads.
pub fn run(size: Size, circuits_dir: Option<&Path>, threads: usize) -> Result<Vec<Record>, Error> {
    let (stream_ands, reps) = match size {
        Size::Full => (1 << 22, 9),
        Size::Quick => (1 << 12, 3),
    };
    let mut figures = circa_gc::bench_support::measure_all(circuits_dir, stream_ands, reps)?;
    if threads > 1 {
        figures.extend(circa_gc::bench_support::measure_parallel(
            stream_ands,
            reps,
            threads,
        )?);
    }
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
                "threads": m.threads,
            })
        })
        .collect())
}

/// The machine's AES ceilings (`"bench": "aes"`): fixed-key ECB and the re-keyed hash on the
/// detected backend, and the AND-gate rates they would allow.
pub fn aes_limit(size: Size) -> Result<Record, Error> {
    let reps = match size {
        Size::Full => 45,
        Size::Quick => 5,
    };
    let l = circa_gc::bench_support::measure_aes_limit(1 << 14, reps)?;
    Ok(json!({
        "bench": "aes",
        "backend": l.backend,
        "ecb_blocks_per_sec": l.ecb_blocks_per_sec,
        "pair_hashes_per_sec": l.pair_hashes_per_sec,
        "single_hashes_per_sec": l.single_hashes_per_sec,
        "hash_garble_ceiling_and_per_sec": l.garble_ceiling(),
        "hash_eval_ceiling_and_per_sec": l.eval_ceiling(),
        "aes_garble_ceiling_and_per_sec": l.raw_garble_ceiling(),
        "aes_eval_ceiling_and_per_sec": l.raw_eval_ceiling(),
    }))
}
