//! Prints which of the committed torch exports (tests/fixtures/torch/) import, as a
//! family x exporter table, and whether the f64 reference agrees with onnxruntime's logits.
//!
//! `cargo run --release -p circa-nn --example torch_import_table`

use std::path::PathBuf;

include!("../tests/fixtures/torch_matrix.rs");

fn rows(text: &str) -> Vec<Vec<f64>> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.split_whitespace().map(|v| v.parse().unwrap()).collect())
        .collect()
}

fn main() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/torch");
    let mut ok = 0;
    println!("| family | {} |", EXPORTERS.join(" | "));
    println!("|---|{}", "---|".repeat(EXPORTERS.len()));
    for family in FAMILIES {
        let inputs =
            rows(&std::fs::read_to_string(dir.join(format!("{family}.inputs.txt"))).unwrap());
        let mut cells = Vec::new();
        for exporter in EXPORTERS {
            let stem = format!("{family}.{exporter}");
            let want = rows(&std::fs::read_to_string(dir.join(format!("{stem}.ort.txt"))).unwrap());
            let path = dir.join(format!("{stem}.onnx"));
            let limits = circa_nn::DecodeLimits::default();
            let cell = match circa_nn::import_onnx_file(&path, &limits) {
                Err(e) => {
                    eprintln!("{stem}: {e}");
                    "no".to_owned()
                }
                Ok(net) => {
                    let mut worst = 0.0f64;
                    for (x, w) in inputs.iter().zip(&want) {
                        let got = circa_nn::infer(&net, x).unwrap();
                        for (g, w) in got.iter().zip(w) {
                            worst = worst.max((g - w).abs());
                        }
                    }
                    if worst <= 1e-4 {
                        ok += 1;
                        "yes".to_owned()
                    } else {
                        format!("wrong ({worst:.1e})")
                    }
                }
            };
            cells.push(cell);
        }
        println!("| {family} | {} |", cells.join(" | "));
    }
    println!(
        "{ok} of {} import and agree",
        FAMILIES.len() * EXPORTERS.len()
    );
}
