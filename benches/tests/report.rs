//! The report sections run end to end at quick sizes and carry the keys the
//! issues require. (No figure is asserted: tests never judge wall-clock time.)

use circa_benches::{Record, Size};

fn assert_keys(records: &[Record], bench: &str, keys: &[&str]) {
    assert!(!records.is_empty(), "{bench}: no records");
    for r in records {
        assert_eq!(r["bench"], bench, "{r}");
        for k in keys {
            assert!(r.get(k).is_some(), "{bench}: key {k} missing in {r}");
        }
    }
}

#[test]
fn ot_section_has_required_keys() {
    let r = circa_benches::ot::run(Size::Quick).unwrap();
    let keys = [
        "kind",
        "n",
        "seconds",
        "per_sec",
        "sender_bytes_per_op",
        "receiver_bytes_per_op",
    ];
    assert_keys(&r, "ot", &keys);
    let kinds: Vec<&str> = r.iter().map(|x| x["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["rcot", "cot", "rot", "chosen"]);
    // IKNP: 16 bytes per OT from receiver to sender (plus a few bytes of framing).
    for x in &r {
        let b = x["receiver_bytes_per_op"].as_f64().unwrap();
        assert!((16.0..16.01).contains(&b), "{x}");
    }
}

#[test]
fn gc_section_has_required_keys() {
    let r = circa_benches::gc::run(Size::Quick, None, 2).unwrap();
    let keys = [
        "circuit",
        "phase",
        "and_gates",
        "seconds",
        "and_per_sec",
        "bytes_per_and",
    ];
    assert_keys(&r, "gc", &keys);
    for x in &r {
        let b = x["bytes_per_and"].as_f64().unwrap();
        if x["phase"] == "garble_net" {
            // Tables plus input labels and framing over the channel.
            assert!((32.0..34.0).contains(&b), "{x}");
        } else {
            assert_eq!(b, 32.0, "{x}");
        }
    }
    let phases: std::collections::BTreeSet<&str> =
        r.iter().map(|x| x["phase"].as_str().unwrap()).collect();
    assert!(phases.contains("garble_net"), "{phases:?}");
}

#[test]
fn share_section_has_required_keys() {
    let r = circa_benches::share::run(Size::Quick).unwrap();
    assert_keys(&r, "share", &["op", "per_sec"]);
    let ops: std::collections::BTreeSet<&str> =
        r.iter().map(|x| x["op"].as_str().unwrap()).collect();
    for op in [
        "conv_shares",
        "conv_plain_i64",
        "triples_ot",
        "linear_correlation",
    ] {
        assert!(ops.contains(op), "{op} missing: {ops:?}");
    }
    for x in r.iter().filter(|x| x.get("bytes_per_op").is_some()) {
        // The measured bytes are the method's analytic figure (plus framing).
        let (m, a) = (
            x["bytes_per_op"].as_f64().unwrap(),
            x["analytic_bytes_per_op"].as_f64().unwrap(),
        );
        assert!(m >= a * 0.999 && m <= a * 1.01, "{x}");
    }
}

#[test]
fn relu_section_has_required_keys() {
    let r = circa_benches::relu::run_all(Size::Quick, 1).unwrap();
    let keys = [
        "variant",
        "k",
        "mode",
        "and_gates",
        "garbled_bytes",
        "offline_bytes",
        "online_bytes_server_to_client",
        "online_bytes_client_to_server",
        "online_rounds",
        "client_storage_bytes",
        "offline_relus_per_sec",
        "online_relus_per_sec",
    ];
    assert_keys(&r, "relu", &keys);
    // Half-gates: 32 garbled bytes per AND gate, for every variant.
    for x in &r {
        let per_and = x["garbled_bytes"].as_f64().unwrap() / x["and_gates"].as_f64().unwrap();
        assert_eq!(per_and, 32.0, "{x}");
    }
}

#[test]
fn nn_section_has_required_keys() {
    let models = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../models"));
    let r = circa_benches::nn::run(Size::Quick, models).unwrap();
    let keys = [
        "model",
        "variant",
        "relus",
        "offline_seconds",
        "online_seconds",
        "offline_bytes",
        "online_bytes",
        "online_rounds",
        "client_storage_bytes",
        "accuracy",
        "linear_macs",
        "peak_memory_server_bytes",
        "peak_memory_client_bytes",
        "peak_memory_both_parties_bytes",
        "linear_mode",
        "offline_linear_bytes",
        "linear_bytes_per_mac",
    ];
    assert_keys(&r, "nn", &keys);
    let cnn: Vec<&Record> = r.iter().filter(|x| x["model"] == "digits_cnn").collect();
    assert_eq!(cnn.len(), 2);
    assert!(cnn.iter().all(|x| x["relus"] == 1184), "{cnn:?}");
}

#[test]
fn minionn_has_the_delphi_shapes() {
    let net = circa_benches::nn::minionn_cifar10().unwrap();
    let arch = net.architecture();
    // 2 x 64x32x32 + 2 x 64x16x16 + (64 + 64 + 16) x 8x8 ReLUs.
    assert_eq!(arch.relu_count(), 2 * 65536 + 2 * 16384 + 144 * 64);
    assert_eq!(arch.output_shape().len(), 10);
}

/// `circa-bench nn --network NAME`: each party in its own process reports its own peak
/// memory, and the costs are those of the same session run as two threads (the seeds are
/// fixed, so the bytes are equal to the byte).
#[test]
fn nn_parties_in_processes_match_threads() {
    use circa_benches::nn::{NnOptions, Parties, run_with};
    let models = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../models"));
    let opts = |parties| NnOptions {
        size: Size::Quick,
        models_dir: models.to_path_buf(),
        network: Some("digits_cnn".into()),
        parties,
        linear: circa_nn::private::LinearMode::Auto,
        he_ntt_cache: false,
    };
    let threads = run_with(&opts(Parties::Threads)).unwrap();
    let exe = std::path::PathBuf::from(env!("CARGO_BIN_EXE_circa-bench"));
    let procs = run_with(&opts(Parties::Processes { exe })).unwrap();
    assert_eq!(procs.len(), 2, "{procs:?}");
    for (t, p) in threads.iter().zip(&procs) {
        assert_eq!(p["model"], "digits_cnn");
        assert_eq!(p["parties"], "processes");
        for k in [
            "variant",
            "images",
            "relus",
            "linear_macs",
            "linear_layers",
            "linear_layers_he",
            "offline_linear_bytes",
            "offline_linear_bytes_estimated",
            "offline_bytes_client_to_server",
            "offline_bytes_server_to_client",
            "online_bytes_client_to_server",
            "online_bytes_server_to_client",
            "online_rounds",
            "client_storage_bytes",
            "accuracy",
        ] {
            assert_eq!(t[k], p[k], "{k}: {t} vs {p}");
        }
        if cfg!(target_os = "linux") {
            // Each party holds at least its share of the client's stored material.
            let storage = p["client_storage_bytes"].as_f64().unwrap() as u64;
            assert!(
                p["peak_memory_client_bytes"].as_u64().unwrap() > storage,
                "{p}"
            );
            assert!(p["peak_memory_server_bytes"].as_u64().unwrap() > 0, "{p}");
            assert!(
                t["peak_memory_both_parties_bytes"].as_u64().unwrap() > 0,
                "{t}"
            );
        }
        assert!(t["peak_memory_server_bytes"].is_null(), "{t}");
    }
    // The engine's count of multiply-accumulates is the plan's.
    let net =
        circa_nn::import_onnx(&std::fs::read(models.join("digits_cnn.onnx")).unwrap()).unwrap();
    let params = circa_nn::private::PrivateParams::exact(circa_nn::private::Prime::P41, 10);
    let macs = circa_benches::nn_networks::linear_macs(&net, params.plan()).unwrap();
    assert_eq!(procs[0]["linear_macs"], macs, "{}", procs[0]);
    assert!(macs > 0);
    // An unknown network is a typed error, before any process starts.
    let mut bad = opts(Parties::Threads);
    bad.network = Some("resnet50".into());
    assert!(matches!(
        run_with(&bad),
        Err(circa_benches::Error::UnknownName { .. })
    ));
}
