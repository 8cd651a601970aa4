//! One cost run of the Circa ReLU (p41, k = 16, NegPass, label-table product) for a profiler:
//! `cargo run --release -p circa-relu --example relu_profile -- [RELUS [RUNS]]`, e.g. under
//! `perf record -g` or `valgrind --tool=callgrind`. Prints the run's JSON line.

use circa_relu::protocol::bench::run_threads;
use circa_relu::{ProductPath, ReluParams, TieMode, Variant};
use circa_share::P2061584302081;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(1 << 18);
    let variant = Variant::TruncatedSign {
        k: 16,
        mode: TieMode::NegPass,
    };
    let params = ReluParams::<P2061584302081>::new(variant, ProductPath::LabelTable, 12)?;
    let runs: usize = std::env::args()
        .nth(2)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(1);
    for _ in 0..runs {
        println!("{}", run_threads(&params, n, 1)?.to_json_line());
    }
    Ok(())
}
