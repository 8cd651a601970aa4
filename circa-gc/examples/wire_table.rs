//! Garbling and evaluation figures for batches of small comparator circuits (the ReLU workload),
//! with the circuit's wire count and wire-table size, and the same for the AES-128 and SHA-256
//! circuits if `CIRCUITS_DIR` holds them:
//! `cargo run --release -p circa-gc --example wire_table [REPS [CIRCUITS_DIR]]`.

use circa_gc::bench_support::{bench_circuits, measure_in_memory, relu_batch_circuit};

fn main() -> Result<(), circa_gc::Error> {
    let reps = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(15);
    let dir = std::env::args().nth(2).map(std::path::PathBuf::from);
    let mut circuits = vec![
        (
            "relu_sign_4096x41".to_string(),
            relu_batch_circuit(4096, 41, false)?,
        ),
        (
            "relu_delphi_4096x41".to_string(),
            relu_batch_circuit(4096, 41, true)?,
        ),
    ];
    if let Some(dir) = dir {
        circuits.extend(bench_circuits(Some(&dir), 1 << 20)?);
    }
    for (name, c) in circuits {
        let name = name.as_str();
        for m in measure_in_memory(name, &c, reps)? {
            println!(
                "{{\"circuit\":\"{}\",\"phase\":\"{}\",\"and_gates\":{},\"wires\":{},\"gates\":{},\"wire_slots\":{},\"seconds\":{:.6},\"cpu_seconds\":{:.6},\"and_per_sec\":{:.0}}}",
                m.circuit,
                m.phase,
                m.and_gates,
                c.num_wires(),
                c.gates().len(),
                c.wire_slots(),
                m.seconds,
                m.cpu_seconds.unwrap_or(f64::NAN),
                m.and_gates as f64 / m.cpu_seconds.unwrap_or(m.seconds),
            );
        }
    }
    Ok(())
}
