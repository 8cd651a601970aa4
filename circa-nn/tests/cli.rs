//! Smoke tests of the `circa` binary: `inspect`, `demo --limit 3`, `serve` + `infer` over
//! loopback (port 0), and clear errors for a malformed model or a bad option.
#![cfg(feature = "cli")]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};

fn circa() -> Command {
    Command::new(env!("CARGO_BIN_EXE_circa"))
}

fn models() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models")
}

fn run(cmd: &mut Command) -> (bool, String, String) {
    let out = cmd.output().expect("run circa");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn inspect_prints_layers_relus_and_costs() {
    let (ok, out, err) = run(circa().arg("inspect").arg(models().join("digits_cnn.onnx")));
    assert!(ok, "{err}");
    assert!(
        out.contains("relus: 1184 (activations 800, max pooling 384)"),
        "{out}"
    );
    assert!(out.contains("Conv2d 1->8 k3x3"), "{out}");
    assert!(out.contains("AND gates"), "{out}");
    assert!(out.contains("per ReLU (analytic)"), "{out}");
    // The exact-sign circuit is larger than the truncated one.
    let (ok, exact, _) = run(circa()
        .args(["inspect", "--variant", "exact"])
        .arg(models().join("digits_cnn.onnx")));
    assert!(ok);
    assert_ne!(exact, out);
}

/// The numbers after "offline" and "client storage" in the "per ReLU" line.
fn per_relu(out: &str) -> (f64, f64) {
    let line = out
        .lines()
        .find(|l| l.contains("per ReLU ("))
        .unwrap_or_else(|| panic!("{out}"));
    let after = |key: &str| -> f64 {
        let rest = &line[line.find(key).unwrap_or_else(|| panic!("{line}")) + key.len()..];
        rest.split_whitespace().next().unwrap().parse().unwrap()
    };
    (after("offline "), after("client storage "))
}

#[test]
fn analytic_relu_costs_match_a_measured_run() {
    for variant in ["circa", "exact", "delphi"] {
        let model = models().join("digits_cnn.onnx");
        let (ok, analytic, err) = run(circa().args(["inspect", "--variant", variant]).arg(&model));
        assert!(ok, "{err}");
        let (ok, measured, err) = run(circa()
            .args(["inspect", "--measure", "256", "--variant", variant])
            .arg(&model));
        assert!(ok, "{err}");
        assert!(measured.contains("per ReLU (measured"), "{measured}");
        let (a_off, a_store) = per_relu(&analytic);
        let (m_off, m_store) = per_relu(&measured);
        assert!(
            (a_off - m_off).abs() <= 0.01 * m_off,
            "{variant}: {a_off} vs {m_off}"
        );
        assert!(
            (a_store - m_store).abs() <= 0.01 * m_store,
            "{variant}: {a_store} vs {m_store}"
        );
    }
}

#[test]
fn malformed_model_is_a_clear_error() {
    let dir = std::env::temp_dir().join(format!("circa-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.onnx");
    std::fs::write(&bad, [0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01]).unwrap();
    for args in [
        vec!["inspect"],
        vec!["serve", "--listen", "127.0.0.1:0", "--model"],
    ] {
        let (ok, _, err) = run(circa().args(&args).arg(&bad));
        assert!(!ok, "{args:?} accepted a malformed model");
        assert!(err.contains("bad.onnx"), "{err}");
        assert!(err.starts_with("circa: "), "{err}");
    }
    let (ok, _, err) = run(circa().args(["inspect"]).arg(dir.join("missing.onnx")));
    assert!(!ok);
    assert!(err.contains("missing.onnx"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn invalid_parameters_are_rejected() {
    let (ok, _, err) = run(circa()
        .args(["inspect", "--prime", "p31", "--k", "31"])
        .arg(models().join("digits_cnn.onnx")));
    assert!(!ok);
    assert!(err.contains("circa: "), "{err}");
    let (ok, _, _) = run(circa().args(["demo", "--mode", "sideways"]));
    assert!(!ok);
}

#[test]
fn demo_runs_three_images() {
    let (ok, out, err) = run(circa()
        .args(["demo", "--limit", "3", "--model"])
        .arg(models().join("digits_cnn.onnx")));
    assert!(ok, "{err}");
    assert!(out.contains("plaintext accuracy"), "{out}");
    let acc = out
        .lines()
        .find(|l| l.starts_with("private accuracy"))
        .unwrap_or_else(|| panic!("{out}"));
    // Both private runs agree with the labels on the three bundled test images.
    assert_eq!(acc.matches("(3/3)").count(), 2, "{out}");
    assert!(out.contains("online rounds"), "{out}");
    assert!(out.contains("client storage"), "{out}");
}

#[test]
fn default_demo_runs_the_fashion_models() {
    // The default: the calibrated Fashion-MNIST ResNet-8 (exact and Circa), a calibrated
    // DeepReDuce model and the polynomial model, on the bundled IDX subset.
    let (ok, out, err) = run(circa().args(["demo", "--images", "1"]));
    assert!(ok, "{err}");
    for model in [
        "fashion_resnet8",
        "fashion_drd_cull1_thinch",
        "fashion_poly",
    ] {
        assert!(out.contains(model), "{model}: {out}");
    }
    assert!(out.contains("calibrated k per layer"), "{out}");
    let summary = out
        .split("summary (")
        .nth(1)
        .unwrap_or_else(|| panic!("{out}"));
    assert_eq!(summary.lines().count(), 5, "{out}");
    // ResNet-8: 56,448 ReLUs; calibrated (at f = 10), fewer AND gates than the defaults'
    // 1,467,648 at f = 10 (26 per test: k = 16 at 2^20 and the fused rescale's range check, at
    // every site, those after an Add included: one real band).
    let resnet = summary
        .lines()
        .find(|l| l.starts_with("fashion_resnet8"))
        .unwrap_or_else(|| panic!("{out}"));
    let cols: Vec<&str> = resnet.split_whitespace().collect();
    assert_eq!(cols[1], "56448", "{resnet}");
    let gates: u64 = cols[2].parse().unwrap_or_else(|_| panic!("{resnet}"));
    assert!(gates > 0 && gates < 1_467_648, "{resnet}");
}

/// Starts `circa serve` on a free loopback port; returns the child, its standard output (kept
/// open while it runs) and the address it printed.
fn start_server(
    model: &std::path::Path,
    extra: &[&str],
) -> (
    std::process::Child,
    BufReader<std::process::ChildStdout>,
    String,
) {
    let mut server = circa()
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(extra)
        .arg("--model")
        .arg(model)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(server.stdout.take().unwrap());
    let mut first = String::new();
    lines.read_line(&mut first).unwrap();
    // "circa serve: MODEL (N ReLUs) on ADDR, at most ..."
    let addr = first
        .split(" on ")
        .nth(1)
        .and_then(|s| s.split(',').next())
        .unwrap_or_else(|| panic!("no address in {first:?}"))
        .to_owned();
    (server, lines, addr)
}

#[test]
fn serve_and_infer_over_loopback() {
    let (mut server, lines, addr) = start_server(
        &models().join("digits_cnn.onnx"),
        // Two garbling threads: the client has no matching option (the tables are the same).
        &["--max-sessions", "2", "--timeout", "5", "--threads", "2"],
    );
    let result = run(circa()
        .args(["infer", "--timeout", "20", "--connect", &addr, "--input"])
        .arg(models().join("data/sample_input.csv")));
    // An input of the wrong shape is refused with a clear message.
    let bad = std::env::temp_dir().join(format!("circa-cli-bad-input-{}.csv", std::process::id()));
    std::fs::write(&bad, vec!["0.5"; 63].join(",")).unwrap();
    let bad_result = run(circa()
        .args(["infer", "--timeout", "20", "--connect", &addr, "--input"])
        .arg(&bad));
    std::fs::remove_file(&bad).ok();
    // Stop the server we started (by its handle) before asserting.
    server.kill().ok();
    server.wait().ok();
    drop(lines);
    let (ok, out, err) = result;
    assert!(ok, "{err}");
    // The sample input is the first test image, a 7 (models/data/digits_test.csv).
    assert!(out.contains("predicted class: 7"), "{out}");
    assert!(out.contains("logits: "), "{out}");
    let (ok, _, err) = bad_result;
    assert!(!ok);
    assert!(err.contains("63 values, the network expects 64"), "{err}");
}

fn torch_fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/torch")
        .join(name)
}

/// The 4 inputs of the MLP fixture (12 values each).
fn mlp_inputs() -> Vec<Vec<f32>> {
    std::fs::read_to_string(torch_fixture("mlp.inputs.txt"))
        .unwrap()
        .lines()
        .map(|l| l.split_whitespace().map(|v| v.parse().unwrap()).collect())
        .collect()
}

/// A `.npy` file of float32 values (format 1.0).
fn npy_f32(shape: &str, values: &[f32]) -> Vec<u8> {
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {shape}, }}");
    while (11 + header.len()) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend((header.len() as u16).to_le_bytes());
    out.extend(header.as_bytes());
    for v in values {
        out.extend(v.to_le_bytes());
    }
    out
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("circa-cli-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn infer_json_from_npy_and_csv_with_header_and_labels() {
    let dir = scratch("json");
    let inputs = mlp_inputs();
    let flat: Vec<f32> = inputs.iter().flatten().copied().collect();
    let npy = dir.join("inputs.npy");
    std::fs::write(&npy, npy_f32("(4, 12)", &flat)).unwrap();
    let csv = dir.join("inputs.csv");
    let mut text = format!("label,{}\n", ["f"; 12].join(","));
    for (i, row) in inputs.iter().enumerate() {
        let values: Vec<String> = row.iter().map(|v| v.to_string()).collect();
        text.push_str(&format!("{},{}\n", i % 5, values.join(",")));
    }
    std::fs::write(&csv, text).unwrap();
    let out_file = dir.join("out.jsonl");

    // The default torch export: weights in mlp.dynamo.onnx.data next to the model.
    let (mut server, lines, addr) =
        start_server(&torch_fixture("mlp.dynamo.onnx"), &["--timeout", "20"]);
    let from_npy = run(circa()
        .args(["infer", "--json", "--connect", &addr, "--input"])
        .arg(&npy));
    let from_csv = run(circa()
        .args(["infer", "--json", "--header", "--label-column", "0"])
        .args(["--connect", &addr, "--input"])
        .arg(&csv)
        .arg("--output")
        .arg(&out_file));
    server.kill().ok();
    server.wait().ok();
    drop(lines);

    let (ok, out, err) = from_npy;
    assert!(ok, "{err}");
    let records: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect();
    assert_eq!(records.len(), 4, "{out}");
    for (i, r) in records.iter().enumerate() {
        assert_eq!(r["index"], i);
        let logits: Vec<f64> = r["logits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        assert_eq!(logits.len(), 5);
        assert_eq!(
            r["class"].as_u64().map(|c| c as usize),
            circa_nn::argmax(&logits)
        );
        for key in [
            "offline_seconds",
            "online_seconds",
            "offline_bytes_sent",
            "offline_bytes_received",
            "online_bytes_sent",
            "online_bytes_received",
            "online_rounds",
        ] {
            assert!(r[key].as_f64().unwrap() > 0.0, "{key}: {r}");
        }
        assert!(r.get("label").is_none());
    }
    let (ok, out, err) = from_csv;
    assert!(ok, "{err}");
    assert!(out.is_empty(), "{out}");
    let written = std::fs::read_to_string(&out_file).unwrap();
    let labels: Vec<u64> = written
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["label"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(labels, [0, 1, 2, 3]);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn inputs_are_checked_before_connecting_and_connection_errors_name_the_address() {
    let dir = scratch("early");
    let bad = dir.join("bad.csv");
    std::fs::write(&bad, "0.5,NaN\n").unwrap();
    // Nothing listens on port 1: the input error comes first.
    let (ok, _, err) = run(circa()
        .args(["infer", "--connect", "127.0.0.1:1", "--input"])
        .arg(&bad));
    assert!(!ok);
    assert!(
        err.contains("bad.csv") && err.contains("not a valid value"),
        "{err}"
    );
    let ragged = dir.join("ragged.csv");
    std::fs::write(&ragged, "1,2\n3\n").unwrap();
    let (_, _, err) = run(circa()
        .args(["infer", "--connect", "127.0.0.1:1", "--input"])
        .arg(&ragged));
    assert!(err.contains("line 2"), "{err}");
    let npy = dir.join("x.npy");
    std::fs::write(&npy, b"not numpy").unwrap();
    let (_, _, err) = run(circa()
        .args(["infer", "--connect", "127.0.0.1:1", "--input"])
        .arg(&npy));
    assert!(err.contains("bad magic"), "{err}");
    let good = dir.join("good.csv");
    std::fs::write(&good, "0.5,1\n").unwrap();
    let (ok, _, err) = run(circa()
        .args([
            "infer",
            "--timeout",
            "5",
            "--connect",
            "127.0.0.1:1",
            "--input",
        ])
        .arg(&good));
    assert!(!ok);
    assert!(err.contains("cannot connect to 127.0.0.1:1"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn demo_runs_any_model_on_tabular_data() {
    let dir = scratch("demo");
    let inputs = mlp_inputs();
    let flat: Vec<f32> = inputs.iter().flatten().copied().collect();
    let npy = dir.join("rows.npy");
    std::fs::write(&npy, npy_f32("(4, 12)", &flat)).unwrap();
    let labels = dir.join("labels.txt");
    std::fs::write(&labels, "0\n1\n2\n3\n").unwrap();
    let (ok, out, err) = run(circa()
        .arg("demo")
        .arg("--model")
        .arg(torch_fixture("mlp.dynamo.onnx"))
        .arg("--data")
        .arg(&npy)
        .arg("--labels")
        .arg(&labels));
    assert!(ok, "{err}");
    assert!(out.contains("4 rows from"), "{out}");
    assert!(out.contains("private accuracy"), "{out}");
    assert!(!out.contains("images"), "{out}");
    // Without labels: agreement only.
    let (ok, out, err) = run(circa()
        .arg("demo")
        .arg("--model")
        .arg(torch_fixture("mlp.dynamo.onnx"))
        .arg("--data")
        .arg(&npy));
    assert!(ok, "{err}");
    assert!(out.contains("no labels"), "{out}");
    std::fs::remove_dir_all(&dir).ok();
}
