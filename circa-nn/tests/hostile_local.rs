//! Hostile local input: command-line values and files. Durations and sizes out of range are
//! typed errors (never a panic: exit status 1, not 101), files are refused before they are
//! read whole (`/dev/zero`, a 300 MB model), `--measure` is bounded before anything is
//! allocated, and an unservable model is refused at load, naming its layer, before the server
//! binds a socket. Every run of the command is bounded in time (killed after 30 s).
#![cfg(feature = "cli")]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use circa_nn::net::PrivateInference;
use circa_nn::private::{Prime, PrivateParams};
use circa_nn::{Activation, Architecture, LinearWeights, Network, NnError, Op, Shape};

fn models() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models")
}

/// A fresh directory of its own for test `name` (tests run in parallel).
fn temp_dir(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("circa-hostile-local-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs `circa args`; returns (exit code, stdout, stderr, seconds). Kills it after 30 s.
fn circa(args: &[&str]) -> (Option<i32>, String, String, f64) {
    let start = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_circa"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run circa");
    loop {
        if child.try_wait().expect("wait").is_some() {
            break;
        }
        if start.elapsed() > Duration::from_secs(30) {
            child.kill().ok();
            child.wait().ok();
            panic!("circa {args:?} still running after 30 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().expect("output");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        start.elapsed().as_secs_f64(),
    )
}

/// `circa args` fails with exit status 1 and a message containing `needle`.
fn refused(args: &[&str], needle: &str) -> String {
    let (code, out, err, secs) = circa(args);
    assert_eq!(code, Some(1), "{args:?}: {err}{out}");
    assert!(err.starts_with("circa: "), "{args:?}: {err}");
    assert!(err.contains(needle), "{args:?}: {err}");
    assert!(
        !out.contains(" on 127.0.0.1"),
        "{args:?}: the server started: {out}"
    );
    eprintln!("{args:?} -> {} ({secs:.2} s)", err.trim());
    err
}

fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn out_of_range_options_are_typed_errors() {
    let model = models().join("digits_cnn.onnx");
    let model = path_str(&model);
    fn serve<'a>(model: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
        let mut v = vec!["serve", "--listen", "127.0.0.1:0", "--model", model];
        v.extend_from_slice(extra);
        v
    }
    for (extra, needle) in [
        (&["--max-session-time", "1e19"][..], "--max-session-time"),
        (&["--timeout", "1e19"], "--timeout"),
        (&["--timeout", "nan"], "--timeout"),
        (&["--timeout=-1"], "--timeout"),
        (&["--handshake-timeout", "0"], "--handshake-timeout"),
        (&["--flight-timeout", "1e300"], "--flight-timeout"),
        (&["--max-sessions", "0"], "max_sessions"),
        (&["--max-sessions", "1000000"], "max_sessions"),
        (&["--max-pending", "0"], "max_pending"),
        (&["--max-per-address", "0"], "max_per_address"),
        (&["--max-message", "3"], "max_message"),
        (&["--max-message", "18446744073709551615"], "max_message"),
        (&["--threads", "0"], "--threads: 1 to 64"),
        (&["--threads", "65"], "--threads: 1 to 64"),
    ] {
        refused(&serve(model, extra), needle);
    }
    refused(
        &[
            "infer",
            "--connect",
            "127.0.0.1:9",
            "--input",
            "/nonexistent",
            "--timeout",
            "1e19",
        ],
        "--timeout",
    );
    refused(
        &["inspect", "--measure", "100000000", model],
        "--measure: at most 16384",
    );
}

#[test]
fn files_are_refused_before_they_are_read_whole() {
    let (_, _, _, secs) = circa(&["inspect", "/dev/zero"]);
    let err = refused(&["inspect", "/dev/zero"], "not a regular file");
    assert!(err.contains("/dev/zero"), "{err}");
    assert!(secs < 10.0);
    // A 300 MB model (sparse: no disk space used) is refused from its size alone.
    let dir = temp_dir("files");
    let big = dir.join("big.onnx");
    std::fs::File::create(&big)
        .unwrap()
        .set_len(300 << 20)
        .unwrap();
    let err = refused(&["inspect", path_str(&big)], "larger than the limit");
    assert!(err.contains("314572800 bytes"), "{err}");
    refused(
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--model",
            path_str(&big),
        ],
        "larger than the limit",
    );
    refused(&["inspect", path_str(&dir)], "not a regular file");
    // An input file that is a device is refused before anything is read from it (the
    // connection is never tried: nothing listens on port 9).
    refused(
        &["infer", "--connect", "127.0.0.1:9", "--input", "/dev/zero"],
        "not a regular file",
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn an_unservable_model_is_refused_at_load_naming_its_layer() {
    // ok_polynomial.onnx with its constant coefficient 0.25 (once in the file, as a float32)
    // replaced by 1e30.
    let bytes = std::fs::read(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ok_polynomial.onnx"),
    )
    .unwrap();
    let (from, to) = (0.25f32.to_le_bytes(), 1e30f32.to_le_bytes());
    let at: Vec<usize> = (0..bytes.len() - 3)
        .filter(|&i| bytes[i..i + 4] == from)
        .collect();
    assert_eq!(at.len(), 1, "the coefficient is not unique in the fixture");
    let mut patched = bytes.clone();
    patched[at[0]..at[0] + 4].copy_from_slice(&to);
    let dir = temp_dir("unservable");
    let path = dir.join("huge_coefficient.onnx");
    std::fs::write(&path, &patched).unwrap();
    let err = refused(
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--model",
            path_str(&path),
        ],
        "coefficient c0",
    );
    assert!(err.contains("\"poly\""), "{err}");
    assert!(err.contains("cannot be served"), "{err}");
    // The original model loads and inspects.
    let (code, _, err, _) = circa(&[
        "inspect",
        path_str(
            &PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ok_polynomial.onnx"),
        ),
    ]);
    assert_eq!(code, Some(0), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

/// Dense 4 -> 2 with the given first weight.
fn dense(first_weight: f64) -> Network {
    let arch = Architecture::new(
        Shape::flat(4),
        vec![
            (
                "fc".into(),
                Op::Dense {
                    in_features: 4,
                    out_features: 2,
                },
                vec![0],
            ),
            ("relu".into(), Op::Activation(Activation::Relu), vec![1]),
        ],
        2,
    )
    .unwrap();
    let mut w = vec![0.5; 8];
    w[0] = first_weight;
    Network::new(arch, vec![Some(LinearWeights::new(w, vec![0.0; 2])), None]).unwrap()
}

#[test]
fn weights_that_do_not_fit_are_refused_naming_the_layer() {
    let params = PrivateParams::exact(Prime::P41, 12);
    assert!(PrivateInference::new(&dense(1.0), params).is_ok());
    // Overflows the field at 2^12.
    let err = PrivateInference::new(&dense(1e30), params).unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(
            &err,
            circa_nn::net::NetError::Private(circa_nn::private::PrivateError::Network(
                NnError::ParameterOverflow {
                    layer: 0,
                    what: "weight",
                    ..
                }
            ))
        ),
        "{err:?}"
    );
    assert!(msg.contains("\"fc\""), "{msg}");
    // Fits the field but is too wide for the correlation (more than 39 bits at 2^12).
    let err = PrivateInference::new(&dense(1e8), params).unwrap_err();
    assert!(
        matches!(
            &err,
            circa_nn::net::NetError::Private(circa_nn::private::PrivateError::WeightsTooWide {
                layer: 0,
                ..
            })
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("\"fc\""), "{err}");
}
