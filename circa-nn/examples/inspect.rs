//! Prints the summary of an ONNX model: `cargo run -p circa-nn --example inspect -- MODEL.onnx`.

fn main() {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: inspect MODEL.onnx");
        std::process::exit(2);
    };
    let result = std::fs::read(&path)
        .map_err(|e| e.to_string())
        .and_then(|b| circa_nn::import_onnx(&b).map_err(|e| e.to_string()));
    match result {
        Ok(net) => print!("{}", circa_nn::summary(&net)),
        Err(e) => {
            eprintln!("{path}: {e}");
            std::process::exit(1);
        }
    }
}
