//! Private inference with HE linear layers (`circa_share::he` behind the engine's per-layer
//! choice), exact variant, over several inferences of one session: bit-identical to the
//! fixed-point reference on a PyTorch-exported dyadic residual network (both primes), within
//! local truncation's one unit per rescale (same argmax) on the digits CNN (both primes, HE, OT
//! and the automatic mix) and the Fashion-MNIST ResNet-8; the handshake carries the choice; HE
//! moves far fewer offline bytes than OT.

use std::path::PathBuf;
use std::thread;

use circa_nn::engine::LinearMethod;
use circa_nn::private::{
    ClientSession, LinearMode, Prime, PrivateParams, ServerModel, ServerSession, SessionStats,
};
use circa_nn::{Fixed, Network, import_onnx};
use circa_ot::MemChannel;
use circa_share::{Modulus, P2138816513, P2061584302081};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn load(path: &str) -> Network {
    import_onnx(&std::fs::read(root().join(path)).expect("model file")).expect("import")
}

fn digits(n: usize) -> Vec<Vec<f64>> {
    let text = std::fs::read_to_string(root().join("../models/data/digits_test.csv")).unwrap();
    let mut all = circa_nn::dataset::parse_labelled(&text, 64, 10).expect("test set");
    all.truncate(n);
    all.into_iter().map(|(_, x)| x).collect()
}

fn fashion(n: usize) -> Vec<Vec<f64>> {
    let dir = root().join("../models/data");
    circa_nn::dataset::read_idx(
        &dir.join("fashion_test_1000-images.idx3"),
        &dir.join("fashion_test_1000-labels.idx1"),
        10,
        circa_nn::dataset::MAX_IDX_ITEMS,
    )
    .expect("fashion test images")
    .into_labelled()
    .into_iter()
    .take(n)
    .map(|(_, x)| x)
    .collect()
}

/// Runs `inputs` through one session of `model` (server seed 11, client seed 12); returns the
/// logits and the client's and server's stats of every inference.
fn run(model: ServerModel, inputs: &[Vec<f64>]) -> Vec<(Vec<f64>, SessionStats, SessionStats)> {
    let (mut sch, mut cch) = MemChannel::pair();
    let server = thread::spawn(move || {
        let mut rng = ChaCha20Rng::seed_from_u64(11);
        let mut s = ServerSession::handshake(&mut sch, &model, &mut rng).expect("server");
        let mut stats = Vec::new();
        while s.serve_one(&mut sch).expect("serve").is_some() {
            stats.push(s.last_stats());
        }
        stats
    });
    let mut rng = ChaCha20Rng::seed_from_u64(12);
    let mut c = ClientSession::handshake(&mut cch, &mut rng).expect("client");
    let mut out = Vec::new();
    for x in inputs {
        let pre = c.offline(&mut cch).expect("offline");
        let logits = c.online(&mut cch, pre, x).expect("online");
        out.push((logits, c.last_stats()));
    }
    c.close(&mut cch).expect("close");
    let server_stats = server.join().expect("server thread");
    assert_eq!(server_stats.len(), inputs.len());
    out.into_iter()
        .zip(server_stats)
        .map(|((l, c), s)| (l, c, s))
        .collect()
}

fn reference<M: Modulus>(net: &Network, params: &PrivateParams, x: &[f64]) -> Vec<f64> {
    Fixed::<M>::new(net, params.frac_bits, params.sign_scale)
        .expect("reference")
        .logits(x)
        .expect("logits")
}

fn reference_for(net: &Network, params: &PrivateParams, x: &[f64]) -> Vec<f64> {
    match params.prime {
        Prime::P41 => reference::<P2061584302081>(net, params, x),
        Prime::P31 => reference::<P2138816513>(net, params, x),
    }
}

/// `n` units of `2^-f`.
fn units(params: &PrivateParams, n: f64) -> f64 {
    n / f64::from(params.frac_bits).exp2()
}

/// The linear layers' offline bytes the cost model gives for `model`'s choices (exact for both
/// methods, without the once-per-session keys).
fn predicted_bytes(model: &ServerModel) -> u64 {
    model
        .linear_choices()
        .iter()
        .map(|c| c.cost().bytes())
        .sum()
}

/// Every linear layer of `model` runs `want` (HE of any set, or OT).
fn assert_methods(model: &ServerModel, he: bool) {
    assert!(!model.linear_choices().is_empty());
    for c in model.linear_choices() {
        assert_eq!(
            matches!(c.method, LinearMethod::He(_)),
            he,
            "layer {}: {:?}",
            c.layer,
            c.method
        );
    }
}

/// How close the exact variant's logits must be to the reference's: `0.0` (bit for bit) on a
/// dyadic network, whose fixed-point pipeline never rounds; else local truncation is off by at
/// most one unit per rescale, and the argmax must agree.
fn assert_matches(
    net: &Network,
    params: PrivateParams,
    mode: LinearMode,
    inputs: &[Vec<f64>],
    tolerance: f64,
) -> Vec<(SessionStats, SessionStats)> {
    let model = ServerModel::new(net, params)
        .expect("model")
        .with_linear(mode)
        .expect("linear mode");
    let results = run(model, inputs);
    for (i, (x, (got, _, _))) in inputs.iter().zip(&results).enumerate() {
        let want = reference_for(net, &params, x);
        let what = format!("inference {i} of the session ({mode}, {:?})", params.prime);
        if tolerance == 0.0 {
            assert_eq!(got, &want, "{what}");
        } else {
            assert_eq!(circa_nn::argmax(got), circa_nn::argmax(&want), "{what}");
            let gap = got
                .iter()
                .zip(&want)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f64::max);
            assert!(gap < tolerance, "{what}: largest logit gap {gap}");
        }
    }
    results.into_iter().map(|(_, c, s)| (c, s)).collect()
}

#[test]
fn digits_cnn_with_he_layers_matches_the_reference_on_both_primes_over_several_inferences() {
    let net = load("../models/digits_cnn.onnx");
    let inputs = digits(3);
    for params in [
        PrivateParams::exact(Prime::P41, 10),
        PrivateParams::exact(Prime::P31, 8),
    ] {
        let model = ServerModel::new(&net, params)
            .unwrap()
            .with_linear(LinearMode::He)
            .unwrap();
        assert_methods(&model, true);
        let tol = units(&params, 64.0);
        let he = assert_matches(&net, params, LinearMode::He, &inputs, tol);
        let ot = assert_matches(&net, params, LinearMode::Ot, &inputs[..1], tol);
        assert_eq!(he[0].0.offline_linear_bytes, predicted_bytes(&model));
        let (he, ot) = (he[0].0, ot[0].0);
        // Client and server count the same linear bytes; HE moves far fewer of them.
        assert!(he.offline_linear_bytes > 0 && he.linear_macs == ot.linear_macs);
        assert!(
            he.offline_linear_bytes * 4 < ot.offline_linear_bytes,
            "{:?}: HE {} B vs OT {} B",
            params.prime,
            he.offline_linear_bytes,
            ot.offline_linear_bytes
        );
    }
}

#[test]
fn the_torch_residual_network_with_he_layers_is_bit_identical() {
    let net = load("tests/fixtures/residual/resnet_dyadic.onnx");
    let text =
        std::fs::read_to_string(root().join("tests/fixtures/residual/resnet_dyadic.inputs.txt"))
            .expect("inputs");
    let inputs: Vec<Vec<f64>> = text
        .lines()
        .take(2)
        .map(|l| l.split_whitespace().map(|v| v.parse().unwrap()).collect())
        .collect();
    // Dyadic at f = 10 (the fixture's scale), so on the 41-bit prime.
    let params = PrivateParams::exact(Prime::P41, 10);
    let stats = assert_matches(&net, params, LinearMode::He, &inputs, 0.0);
    let (client, server) = stats[0];
    assert_eq!(client.offline_linear_bytes, server.offline_linear_bytes);
}

#[test]
fn fashion_resnet8_with_he_layers_matches_the_reference_over_two_inferences() {
    let net = load("../models/fashion/fashion_resnet8.onnx");
    let params = PrivateParams::exact(Prime::P41, 8);
    let stats = assert_matches(
        &net,
        params,
        LinearMode::He,
        &fashion(2),
        units(&params, 64.0),
    );
    let (client, server) = stats[1];
    assert_eq!(client.offline_linear_bytes, server.offline_linear_bytes);
    let model = ServerModel::new(&net, params)
        .unwrap()
        .with_linear(LinearMode::He)
        .unwrap();
    assert_eq!(client.offline_linear_bytes, predicted_bytes(&model));
    // 9.3 M multiply-accumulates under 1 B each (OT: about 60 B each).
    assert!(client.linear_macs > 9_000_000, "{}", client.linear_macs);
    let ot: u64 = model.linear_choices().iter().map(|c| c.ot.bytes()).sum();
    assert!(
        client.offline_linear_bytes < client.linear_macs && client.offline_linear_bytes * 50 < ot,
        "{} B for {} MACs (OT {ot} B)",
        client.offline_linear_bytes,
        client.linear_macs
    );
}

#[test]
fn auto_mode_runs_and_every_choice_has_both_costs() {
    let net = load("../models/digits_cnn.onnx");
    let params = PrivateParams::exact(Prime::P41, 10);
    let model = ServerModel::new(&net, params)
        .unwrap()
        .with_linear(LinearMode::Auto)
        .unwrap();
    for c in model.linear_choices() {
        assert!(c.ot.bytes() > 0 && c.macs > 0);
        assert!(
            c.he.is_some(),
            "layer {}: every digits layer fits a set",
            c.layer
        );
    }
    assert_matches(
        &net,
        params,
        LinearMode::Auto,
        &digits(2),
        units(&params, 64.0),
    );
    let ot = ServerModel::new(&net, params)
        .unwrap()
        .with_linear(LinearMode::Ot)
        .unwrap();
    assert_methods(&ot, false);
}

#[test]
fn the_kernel_ntt_cache_changes_nothing_on_the_wire() {
    let net = load("../models/digits_cnn.onnx");
    let params = PrivateParams::exact(Prime::P41, 10);
    let inputs = digits(1);
    let model = ServerModel::new(&net, params)
        .unwrap()
        .with_linear_options(LinearMode::He, true)
        .unwrap();
    assert_eq!(model.linear_mode(), LinearMode::He);
    assert!(model.he_cache_bytes() > 0);
    let cached = run(model, &inputs);
    let plain = run(
        ServerModel::new(&net, params)
            .unwrap()
            .with_linear(LinearMode::He)
            .unwrap(),
        &inputs,
    );
    // Same seeds, same transcript: the cache only saves the server's kernel transforms.
    assert_eq!(cached[0].0, plain[0].0);
    assert_eq!(cached[0].1.offline_bytes_s2c, plain[0].1.offline_bytes_s2c);
}
