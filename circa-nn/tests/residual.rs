//! Circa's ReLU at every place in a network (issue 15): after a residual Add, after max and
//! average pooling, after a BatchNorm-folded convolution, with pruned channels, and in
//! PyTorch-exported ResNets.
//!
//! * Exact variant: the private run (both parties in-process over a memory channel) is bit for
//!   bit the fixed-point reference (`circa_nn::fixed`). The networks are *dyadic*: integer
//!   weights, dyadic biases and inputs with few fractional bits, so every value has at most
//!   `f` fractional bits, every rescale is exact and local share truncation (exact on a
//!   multiple of `2^f`, absent a wrap) cannot differ from the reference's `floor`.
//! * Default Circa variant: per ReLU layer, the private run's fault rate matches the Circa fault
//!   simulation (`circa_nn::simulate`) within 5 sigma. Each ReLU layer is measured on the
//!   network cut after it (so its output is the network's output): with the default tie rule
//!   (`NegPass`) a fault passes a negative value, which an exact ReLU never outputs, so the
//!   negative outputs (in the channels that have ReLUs) count that layer's faults; a max-pool
//!   layer's faults are counted as outputs that differ from the exact reference.
//! * On the trained Fashion-MNIST ResNet-8 (56,448 ReLUs) the default Circa variant agrees with
//!   the `f64` model's argmax on at least 99 % of the bundled test images, with a mean logit
//!   error within 3x of the exact variant's, and no output wraps in 1,000 inferences. This is
//!   measured by the fault simulation with the private run's rescales (a fused ReLU as the
//!   protocol computes it on its sign test's sharing, every other rescale a local truncation
//!   of a fresh sharing, wraps included); the private run's equivalence to that simulation is
//!   what the per-layer tests above check, and 50 real private inferences (ignored test)
//!   confirm it end to end.
//! * `circa calibrate` -> `circa serve` -> `circa infer` end to end, including `infer` refusing
//!   an input outside the calibrated range before any protocol work.

use std::path::PathBuf;
use std::thread;

use circa_nn::engine::{PlanParams, SiteChoice};
use circa_nn::fixed::defaults;
use circa_nn::private::{ClientSession, Prime, PrivateParams, ServerModel, ServerSession};
use circa_nn::{
    Activation, Architecture, Conv2d, Fixed, LinearWeights, Network, Op, Shape, SignScale,
    Window2d, argmax, import_onnx, infer, simulated_with_sites,
};
use circa_ot::MemChannel;
use circa_relu::Variant;
use circa_share::P2061584302081 as P41;
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};

const F: u32 = defaults::FRAC_BITS;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn load(path: &std::path::Path) -> Network {
    import_onnx(&std::fs::read(path).expect("model file")).expect("import")
}

/// One value per whitespace-separated field, one vector per line.
fn read_rows(path: &std::path::Path) -> Vec<Vec<f64>> {
    std::fs::read_to_string(path)
        .expect("fixture")
        .lines()
        .map(|l| l.split_whitespace().map(|v| v.parse().unwrap()).collect())
        .collect()
}

/// Runs `inputs` through one private session of `network` (server seed `seed`, client seed
/// `seed + 1`) with the sign tests of `sites`; returns the client's logits.
fn private_logits(
    network: &Network,
    params: PrivateParams,
    sites: &[SiteChoice],
    inputs: &[Vec<f64>],
    seed: u64,
) -> Vec<Vec<f64>> {
    let (mut sch, mut cch) = MemChannel::pair();
    let model = ServerModel::with_sites(network, params, sites).expect("server model");
    let server = thread::spawn(move || {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let mut s = ServerSession::handshake(&mut sch, &model, &mut rng).expect("server");
        while s.serve_one(&mut sch).expect("serve").is_some() {}
    });
    let mut rng = ChaCha20Rng::seed_from_u64(seed + 1);
    let mut c = ClientSession::handshake(&mut cch, &mut rng).expect("client");
    let out = inputs
        .iter()
        .map(|x| {
            let pre = c.offline(&mut cch).expect("offline");
            c.online(&mut cch, pre, x).expect("online")
        })
        .collect();
    c.close(&mut cch).expect("close");
    server.join().expect("server thread");
    out
}

// ---------------------------------------------------------------------------------------------
// Dyadic networks.

/// A convolution with stride 1 and `same` padding.
fn conv(cin: usize, cout: usize, k: usize) -> Op {
    Op::Conv2d(Conv2d {
        in_channels: cin,
        out_channels: cout,
        window: Window2d::square(k, 1).with_padding(k / 2),
        groups: 1,
    })
}

/// Draws the weights of every linear layer: per output, `nonzero` weights of +-1 (the rest 0)
/// and a bias that is a multiple of 1/64 in [-1/4, 1/4].
fn dyadic_weights(arch: &Architecture, nonzero: usize, seed: u64) -> Vec<Option<LinearWeights>> {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    arch.layers()
        .iter()
        .map(|layer| {
            let (outputs, fan_in) = match &layer.op {
                Op::Conv2d(c) => (c.out_channels, c.weight_len() / c.out_channels),
                Op::Dense {
                    in_features,
                    out_features,
                } => (*out_features, *in_features),
                _ => return None,
            };
            let mut w = vec![0.0; outputs * fan_in];
            for o in 0..outputs {
                for _ in 0..nonzero {
                    let i = (rng.next_u32() as usize) % fan_in;
                    w[o * fan_in + i] = if rng.next_u32() & 1 == 0 { 1.0 } else { -1.0 };
                }
            }
            let b = (0..outputs)
                .map(|_| (rng.next_u32() % 33) as f64 / 64.0 - 0.25)
                .collect();
            Some(LinearWeights::new(w, b))
        })
        .collect()
}

/// Inputs whose elements are multiples of 1/32 in [-1, 1].
fn dyadic_inputs(len: usize, count: usize, seed: u64) -> Vec<Vec<f64>> {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    (0..count)
        .map(|_| {
            (0..len)
                .map(|_| (rng.next_u32() % 65) as f64 / 32.0 - 1.0)
                .collect()
        })
        .collect()
}

fn relu() -> Op {
    Op::Activation(Activation::Relu)
}

fn named(layers: Vec<(&str, Op, Vec<usize>)>) -> Vec<(String, Op, Vec<usize>)> {
    layers
        .into_iter()
        .map(|(n, op, i)| (n.to_owned(), op, i))
        .collect()
}

/// The small networks, each ending at the ReLU whose placement it tests (inputs 2 x 6 x 6).
fn small_networks() -> Vec<(&'static str, Network)> {
    let pool = |w| Window2d::square(w, w);
    let archs = [
        (
            "relu after add",
            Shape::new(2, 6, 6),
            named(vec![
                ("c0", conv(2, 4, 3), vec![0]), // t1
                ("r1", relu(), vec![1]),        // t2
                ("c2", conv(4, 4, 3), vec![2]), // t3
                ("a3", Op::Add, vec![3, 2]),    // t4
                ("r4", relu(), vec![4]),        // t5
                ("c5", conv(4, 4, 1), vec![5]), // t6
                ("a6", Op::Add, vec![6, 4]),    // t7: a sum of a sum
                ("r7", relu(), vec![7]),        // t8
            ]),
        ),
        (
            "relu after max pool",
            Shape::new(2, 6, 6),
            named(vec![
                ("c0", conv(2, 4, 3), vec![0]),                       // t1: 4x6x6
                ("m1", Op::MaxPool(pool(2)), vec![1]),                // t2: 4x3x3
                ("r2", relu(), vec![2]),                              // t3
                ("c3", conv(4, 4, 3), vec![3]),                       // t4
                ("m4", Op::MaxPool(Window2d::square(3, 1)), vec![4]), // t5: 4x1x1
                ("r5", relu(), vec![5]),                              // t6
            ]),
        ),
        (
            "relu after average pool",
            Shape::new(2, 4, 4),
            named(vec![
                ("c0", conv(2, 4, 3), vec![0]),        // t1: 4x4x4
                ("p1", Op::AvgPool(pool(2)), vec![1]), // t2: 4x2x2 (times 1/4)
                ("r2", relu(), vec![2]),               // t3
                ("c3", conv(4, 4, 3), vec![3]),        // t4
                ("g4", Op::GlobalAvgPool, vec![4]), // t5: 4 (times 1/4: every value keeps <= 10 fractional bits)
                ("r5", relu(), vec![5]),            // t6
            ]),
        ),
        (
            "pruned channels",
            Shape::new(2, 6, 6),
            named(vec![
                ("c0", conv(2, 4, 3), vec![0]), // t1
                (
                    "r1",
                    Op::Activation(Activation::ChannelRelu {
                        mask: vec![true, false, true, false],
                    }),
                    vec![1],
                ), // t2
                ("c2", conv(4, 3, 3), vec![2]), // t3
                (
                    "r3",
                    Op::Activation(Activation::ChannelRelu {
                        mask: vec![false, true, true],
                    }),
                    vec![3],
                ), // t4
            ]),
        ),
    ];
    archs
        .into_iter()
        .enumerate()
        .map(|(i, (name, input, layers))| {
            let n = layers.len();
            let arch = Architecture::new(input, layers, n).expect("architecture");
            let weights = dyadic_weights(&arch, 2, 100 + i as u64);
            (name, Network::new(arch, weights).expect("network"))
        })
        .collect()
}

/// The PyTorch ResNet with dyadic parameters (`models/residual_fixtures.py`): conv + BN stem,
/// max pool then ReLU, a basic block with an identity skip, one with a 1x1 projection whose sum
/// goes through an average pool and a ReLU, global average pooling, Linear.
fn torch_dyadic_resnet() -> (Network, Vec<Vec<f64>>, Vec<Vec<f64>>) {
    let net = load(&fixture("residual/resnet_dyadic.onnx"));
    let inputs = read_rows(&fixture("residual/resnet_dyadic.inputs.txt"));
    let ort = read_rows(&fixture("residual/resnet_dyadic.ort.txt"));
    (net, inputs, ort)
}

/// The fixed-point reference's logits.
fn reference(net: &Network, sign_scale: SignScale, x: &[f64]) -> Vec<f64> {
    Fixed::<P41>::new(net, F, sign_scale)
        .expect("reference")
        .logits(x)
        .expect("logits")
}

fn exact_params(sign_scale: SignScale) -> PrivateParams {
    PrivateParams {
        sign_scale,
        ..PrivateParams::exact(Prime::P41, F)
    }
}

fn default_params() -> PrivateParams {
    PrivateParams::circa(Prime::P41, F, defaults::K, defaults::TIE_MODE)
}

/// Private exact == fixed-point reference == the `f64` model, bit for bit, at both sign
/// scales.
fn assert_exact_bit_identical(name: &str, net: &Network, inputs: &[Vec<f64>]) {
    for scale in [SignScale::Product, SignScale::Rescaled] {
        let private = private_logits(net, exact_params(scale), &[], inputs, 7);
        for (x, got) in inputs.iter().zip(&private) {
            let want = reference(net, scale, x);
            assert_eq!(got, &want, "{name} ({scale:?}): private exact vs reference");
            // Dyadic: the fixed-point pipeline does not round at all.
            assert_eq!(want, infer(net, x).unwrap(), "{name}: reference vs f64");
        }
    }
}

#[test]
fn exact_variant_is_bit_identical_on_small_networks() {
    for (name, net) in small_networks() {
        let inputs = dyadic_inputs(net.architecture().input_shape().len(), 4, 1);
        assert_exact_bit_identical(name, &net, &inputs);
    }
}

#[test]
fn exact_variant_is_bit_identical_on_a_torch_resnet_with_folded_batchnorm() {
    let (net, inputs, ort) = torch_dyadic_resnet();
    // The importer folded every BatchNormalization into its convolution.
    let convs = net
        .architecture()
        .layers()
        .iter()
        .filter(|l| matches!(l.op, Op::Conv2d(_)))
        .count();
    assert_eq!(convs, 6);
    assert!(
        net.architecture()
            .layers()
            .iter()
            .any(|l| matches!(l.op, Op::Add))
    );
    for (x, o) in inputs.iter().zip(&ort) {
        for (a, b) in infer(&net, x).unwrap().iter().zip(o) {
            assert!((a - b).abs() < 1e-4, "f64 vs onnxruntime: {a} vs {b}");
        }
    }
    assert_exact_bit_identical("torch dyadic resnet", &net, &inputs[..6]);
}

/// A ResNet with random (non-dyadic) weights, exported from PyTorch with BatchNorm
/// (`models/torch_fixtures.py`): rescales round, so the private exact run may differ from the
/// reference by a unit per rescale, never more than that; the argmax is the reference's.
#[test]
fn exact_variant_matches_the_reference_on_the_random_torch_resnet() {
    let dir = fixture("torch");
    let net = load(&dir.join("resnet.legacy13.onnx"));
    let inputs = read_rows(&dir.join("resnet.inputs.txt"));
    let private = private_logits(&net, exact_params(SignScale::Product), &[], &inputs, 9);
    for (x, got) in inputs.iter().zip(&private) {
        let want = reference(&net, SignScale::Product, x);
        assert_eq!(argmax(got), argmax(&want));
        for (a, b) in got.iter().zip(&want) {
            assert!((a - b).abs() < 0.02, "{got:?} vs {want:?}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Per-layer fault rates: private Circa against the fault simulation.

/// `net` cut after layer `layer` (its output is the network output).
fn prefix(net: &Network, layer: usize) -> Network {
    let arch = net.architecture();
    let layers = arch.layers()[..=layer]
        .iter()
        .map(|l| (l.name.clone(), l.op.clone(), l.inputs.clone()))
        .collect();
    let cut = Architecture::new(arch.input_shape(), layers, layer + 1).expect("prefix");
    Network::new(cut, net.weights()[..=layer].to_vec()).expect("prefix network")
}

/// The statistic that counts layer `layer`'s faults in the output of the network cut there:
/// for a ReLU, outputs below zero in the channels with ReLUs; for a max pool, outputs that
/// differ from the exact reference's.
fn faults_seen(net: &Network, layer: usize, outputs: &[f64], exact: &[f64]) -> u64 {
    let arch = net.architecture();
    let l = &arch.layers()[layer];
    let spatial = l.output_shape().spatial();
    match &l.op {
        Op::Activation(Activation::Relu) => outputs.iter().filter(|&&v| v < 0.0).count() as u64,
        Op::Activation(Activation::ChannelRelu { mask }) => outputs
            .iter()
            .enumerate()
            .filter(|(i, v)| mask[i / spatial] && **v < 0.0)
            .count() as u64,
        Op::MaxPool(_) => outputs.iter().zip(exact).filter(|(a, b)| a != b).count() as u64,
        other => panic!("layer {layer} ({other:?}) runs no sign test"),
    }
}

/// Simulated runs per private run.
const SIM_RUNS: u64 = 10;

/// For every sign-test layer of `net`: faults seen in the private run of the cut network over
/// `inputs`, against the mean of `SIM_RUNS` fault simulations (local truncation on, as the
/// private run rescales) of the same inputs; asserts they agree within 5 sigma (Poisson
/// variance of the private count plus the simulated mean's). Returns per layer
/// `(layer, private faults, simulated mean, sign tests)`.
fn compare_fault_rates(
    name: &str,
    net: &Network,
    inputs: &[Vec<f64>],
    sites: &[SiteChoice],
    min_faults: f64,
) -> Vec<(usize, u64, f64, u64)> {
    let params = default_params();
    let plan = PlanParams {
        frac_bits: F,
        sign_scale: params.sign_scale,
        variant: params.relu.0,
        field_bits: 41,
    };
    let mut rows = Vec::new();
    for (layer, l) in net.architecture().layers().iter().enumerate() {
        let has_tests = match &l.op {
            Op::Activation(Activation::Relu) => true,
            Op::Activation(Activation::ChannelRelu { mask }) => mask.contains(&true),
            Op::MaxPool(w) => w.area() > 1,
            _ => false,
        };
        if !has_tests {
            continue;
        }
        let cut = prefix(net, layer);
        let own: Vec<SiteChoice> = sites.iter().filter(|s| s.layer <= layer).copied().collect();
        let exact: Vec<Vec<f64>> = inputs
            .iter()
            .map(|x| reference(&cut, params.sign_scale, x))
            .collect();
        let private = private_logits(&cut, params, &own, inputs, 1000 + layer as u64);
        let seen: u64 = private
            .iter()
            .zip(&exact)
            .map(|(o, e)| faults_seen(&cut, layer, o, e))
            .sum();
        let mut simulated = 0u64;
        let mut tests = 0u64;
        let mut counted = 0u64;
        for run in 0..SIM_RUNS {
            let sim = simulated_with_sites::<P41, _>(
                &cut,
                plan,
                &own,
                ChaCha20Rng::seed_from_u64(50_000 + run),
            )
            .expect("simulation");
            let (encoded, oracle) = sim.into_parts();
            let sim = Fixed::from_encoded(encoded, oracle.with_local_truncation(true));
            for (x, e) in inputs.iter().zip(&exact) {
                let out = sim.logits(x).expect("simulate");
                simulated += faults_seen(&cut, layer, &out, e);
            }
            let (t, f) = sim.oracle().site_counts()[&layer];
            tests += t;
            counted += f;
        }
        let mean = simulated as f64 / SIM_RUNS as f64;
        let sigma = (mean + mean / SIM_RUNS as f64).sqrt().max(1.0);
        println!(
            "{name}: layer {layer} ({}): private {seen} faults, simulated {mean:.1} (sigma {sigma:.1}), \
             simulator's own count {:.1}, {} sign tests per run",
            l.name,
            counted as f64 / SIM_RUNS as f64,
            tests / SIM_RUNS
        );
        assert!(
            (seen as f64 - mean).abs() <= 5.0 * sigma,
            "{name}: layer {layer} ({}): private run {seen} faults, simulation {mean:.1} +- {sigma:.1}",
            l.name
        );
        // The statistic sees (almost) every fault of the layer: for a ReLU, all but a passed
        // positive value's wrong zero (probability |y| / p); a max pool's wrong selection of an
        // equal pair changes nothing and is not counted either way.
        if matches!(l.op, Op::Activation(_)) {
            let own_count = counted as f64 / SIM_RUNS as f64;
            assert!(
                (own_count - mean).abs() <= 0.02 * own_count + 1.0,
                "{name}: layer {layer}: {own_count} counted vs {mean} seen"
            );
        }
        rows.push((layer, seen, mean, tests / SIM_RUNS));
    }
    // Enough faults that a wrong fault model would show.
    let total: f64 = rows.iter().map(|r| r.2).sum();
    assert!(
        total >= min_faults,
        "{name}: only {total} faults expected, the test would be weak"
    );
    rows
}

#[test]
fn circa_fault_rates_match_the_simulation_on_small_networks() {
    for (name, net) in small_networks() {
        let inputs = dyadic_inputs(net.architecture().input_shape().len(), 120, 2);
        compare_fault_rates(name, &net, &inputs, &[], 50.0);
    }
}

#[test]
fn circa_fault_rates_match_the_simulation_on_the_torch_resnets() {
    let (net, inputs, _) = torch_dyadic_resnet();
    compare_fault_rates("torch dyadic resnet", &net, &inputs, &[], 100.0);
    let dir = fixture("torch");
    let net = load(&dir.join("resnet.legacy13.onnx"));
    // The four fixture inputs and more of the same distribution (standard normal-ish).
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    let mut inputs = read_rows(&dir.join("resnet.inputs.txt"));
    let len = inputs[0].len();
    inputs.extend((0..20).map(|_| {
        (0..len)
            .map(|_| (rng.next_u32() as f64 / u32::MAX as f64 - 0.5) * 3.0)
            .collect()
    }));
    compare_fault_rates("random torch resnet", &net, &inputs, &[], 100.0);
}

/// The first reproduction: a ResNet exported from PyTorch (basic blocks, BN folded,
/// residual adds then ReLU, random weights, 3x32x32), private default Circa through the real
/// protocol against the `f64` model (which agrees with onnxruntime within 1e-4 on the
/// fixture's inputs, `tests/torch_fixtures.rs`): the issue saw 0 of 20 argmax agreements and
/// once a wrapped logit; with sites at one real band, lifted adds and fused rescales every
/// input agrees and no logit is off by more than a few hundredths.
#[test]
fn default_circa_agrees_with_the_random_torch_resnet() {
    let dir = fixture("torch");
    let net = load(&dir.join("resnet.legacy13.onnx"));
    let ort = read_rows(&dir.join("resnet.legacy13.ort.txt"));
    let mut rng = ChaCha20Rng::seed_from_u64(17);
    let mut inputs = read_rows(&dir.join("resnet.inputs.txt"));
    let len = inputs[0].len();
    inputs.extend((0..16).map(|_| {
        (0..len)
            .map(|_| (rng.next_u32() as f64 / u32::MAX as f64 - 0.5) * 3.0)
            .collect()
    }));
    let private = private_logits(&net, default_params(), &[], &inputs, 31);
    let mut agree = 0;
    let mut worst = 0.0f64;
    for (i, (x, got)) in inputs.iter().zip(&private).enumerate() {
        let want = infer(&net, x).unwrap();
        if let Some(o) = ort.get(i) {
            assert_eq!(argmax(o), argmax(&want), "f64 vs onnxruntime, input {i}");
        }
        agree += usize::from(argmax(got) == argmax(&want));
        for (a, b) in got.iter().zip(&want) {
            worst = worst.max((a - b).abs());
        }
    }
    println!(
        "random torch resnet, default Circa: {agree}/20 agree, largest |logit error| {worst:.4}"
    );
    assert!(agree >= 19, "{agree}/20");
    assert!(worst < 0.05, "largest logit error {worst}");
}

/// A site at its own `k` (as a calibrated model runs it) follows the simulation too: the
/// first and last ReLU layers of the dyadic ResNet two bits coarser than their default.
#[test]
fn circa_fault_rates_match_the_simulation_with_per_site_k() {
    let (net, inputs, _) = torch_dyadic_resnet();
    let params = default_params().plan();
    let plan = circa_nn::engine::Plan::new(net.architecture(), params).unwrap();
    let sites: Vec<SiteChoice> = net
        .architecture()
        .layers()
        .iter()
        .enumerate()
        .filter(|(_, l)| matches!(l.op, Op::Activation(Activation::Relu)))
        .filter_map(
            |(layer, l)| match params.site_variant(plan.scale(l.inputs[0])) {
                Variant::TruncatedSign { k, mode } => Some(SiteChoice {
                    layer,
                    k: k + 2,
                    mode,
                }),
                _ => None,
            },
        )
        .collect();
    assert!(sites.len() >= 3);
    let chosen = [sites[0], sites[sites.len() - 1]];
    compare_fault_rates(
        "dyadic resnet, two sites k + 2",
        &net,
        &inputs,
        &chosen,
        100.0,
    );
}

// ---------------------------------------------------------------------------------------------
// The trained Fashion-MNIST ResNet-8.

/// The first `n` bundled Fashion-MNIST test images.
fn fashion_images(n: usize) -> Vec<Vec<f64>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models/data");
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

fn fashion_resnet8() -> Network {
    load(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models/fashion/fashion_resnet8.onnx"))
}

/// A logit error above this many real units is a local-truncation wrap (a wrap moves a value
/// by about `p / 2^(2f)` = 2e6 units at the defaults).
const WRAP_ERROR: f64 = 1e3;

/// A simulated private run of `variant` over `images` (two threads, each with its own seed):
/// per image, the logits' argmax agreement with `f64`, the mean |logit error| and whether a
/// logit wrapped.
struct PrivateLike {
    agree: usize,
    /// Agreeing images among those without a wrapped logit.
    agree_clean: usize,
    wrapped: usize,
    /// Mean |logit error| over the images without a wrapped logit.
    error: f64,
    /// Mean |logit error| over every image.
    error_all: f64,
}

fn simulate_private(
    net: &Network,
    variant: Variant,
    images: &[Vec<f64>],
    f64_logits: &[Vec<f64>],
) -> PrivateLike {
    simulate_private_at(net, variant, F, &[], images, f64_logits)
}

/// [`simulate_private`] at `frac_bits` with the per-site choices `sites`.
fn simulate_private_at(
    net: &Network,
    variant: Variant,
    frac_bits: u32,
    sites: &[SiteChoice],
    images: &[Vec<f64>],
    f64_logits: &[Vec<f64>],
) -> PrivateLike {
    let plan = PlanParams {
        frac_bits,
        sign_scale: defaults::SIGN_SCALE,
        variant,
        field_bits: 41,
    };
    let half = images.len().div_ceil(2).max(1);
    let per_image: Vec<(bool, f64)> = thread::scope(|s| {
        let workers: Vec<_> = images
            .chunks(half)
            .zip(f64_logits.chunks(half))
            .enumerate()
            .map(|(i, (xs, want))| {
                s.spawn(move || {
                    let rng = ChaCha20Rng::seed_from_u64(70 + i as u64);
                    let sim = simulated_with_sites::<P41, _>(net, plan, sites, rng).unwrap();
                    let (encoded, oracle) = sim.into_parts();
                    let sim = Fixed::from_encoded(encoded, oracle.with_local_truncation(true));
                    xs.iter()
                        .zip(want)
                        .map(|(x, w)| {
                            let got = sim.logits(x).unwrap();
                            let err: Vec<f64> =
                                got.iter().zip(w).map(|(a, b)| (a - b).abs()).collect();
                            (
                                argmax(&got) == argmax(w),
                                err.iter().sum::<f64>() / err.len() as f64,
                            )
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    });
    let clean: Vec<f64> = per_image
        .iter()
        .map(|p| p.1)
        .filter(|&e| e <= WRAP_ERROR)
        .collect();
    PrivateLike {
        agree: per_image.iter().filter(|p| p.0).count(),
        agree_clean: per_image
            .iter()
            .filter(|p| p.0 && p.1 <= WRAP_ERROR)
            .count(),
        wrapped: per_image.len() - clean.len(),
        error: clean.iter().sum::<f64>() / clean.len().max(1) as f64,
        error_all: per_image.iter().map(|p| p.1).sum::<f64>() / per_image.len().max(1) as f64,
    }
}

/// Default Circa vs the exact variant on the first `n` images: the argmax agreement with `f64`
/// (>= 99 %, over every image, and over the images without a wrapped logit when `all` is
/// false) and the mean logit error (within 3x of the exact variant's, both over the images
/// without a wrapped logit; wraps are a separate target, see
/// `no_wrapped_output_in_1000_inferences_of_fashion_resnet8`).
fn check_fashion_resnet8(n: usize, all: bool) {
    let net = fashion_resnet8();
    let images = fashion_images(n);
    let want: Vec<Vec<f64>> = images.iter().map(|x| infer(&net, x).unwrap()).collect();
    let exact = simulate_private(&net, Variant::ExactSign, &images, &want);
    let circa = simulate_private(&net, defaults::VARIANT, &images, &want);
    for (name, r) in [("exact", &exact), ("default circa", &circa)] {
        println!(
            "fashion_resnet8, {n} images, {name}: agree with f64 {}/{n} ({}/{} without a wrapped \
             output), mean |logit error| {:.5} without wraps ({} wrapped outputs; {:.3} with them)",
            r.agree,
            r.agree_clean,
            n - r.wrapped,
            r.error,
            r.wrapped,
            r.error_all
        );
    }
    let clean = n - circa.wrapped;
    assert!(
        circa.agree_clean * 100 >= 99 * clean,
        "{}/{clean} without wraps",
        circa.agree_clean
    );
    if all {
        assert!(circa.agree * 100 >= 99 * n, "{}/{n}", circa.agree);
    }
    assert!(
        circa.error <= 3.0 * exact.error,
        "mean logit error {} vs exact {}",
        circa.error,
        exact.error
    );
}

/// On 300 images (about 15 s): every target, wraps included.
#[test]
fn default_circa_agrees_with_f64_on_fashion_resnet8() {
    check_fashion_resnet8(300, true);
}

/// All 1,000 bundled images, Circa's faults alone (images with a wrapped logit set aside):
/// `cargo test -p circa-nn --release --test residual -- --ignored --nocapture fashion`
#[test]
#[ignore = "about a minute: all 1,000 bundled images"]
fn default_circa_agrees_with_f64_on_1000_fashion_images_without_wraps() {
    check_fashion_resnet8(1000, false);
}

/// The target as stated, on all 1,000 images, wraps included.
#[test]
#[ignore = "about a minute: all 1,000 bundled images, the exact and the default variant"]
fn default_circa_agrees_with_f64_on_1000_fashion_images() {
    check_fashion_resnet8(1000, true);
}

/// The real protocol on the trained ResNet-8 (the issue measured 40 % accuracy on 50 images
/// here with the default variant before per-site `k`): agreement with `f64` and accuracy on 50
/// images, against the simulation's figures above.
/// `cargo test -p circa-nn --release --test residual -- --ignored --nocapture private_fashion`
#[test]
#[ignore = "minutes: 50 private inferences of a 56,448-ReLU network"]
fn private_fashion_resnet8_default_circa_agrees_with_f64() {
    let net = fashion_resnet8();
    let n = 50;
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models/data");
    let data: Vec<(usize, Vec<f64>)> = circa_nn::dataset::read_idx(
        &dir.join("fashion_test_1000-images.idx3"),
        &dir.join("fashion_test_1000-labels.idx1"),
        10,
        circa_nn::dataset::MAX_IDX_ITEMS,
    )
    .unwrap()
    .into_labelled()
    .into_iter()
    .take(n)
    .collect();
    let images: Vec<Vec<f64>> = data.iter().map(|(_, x)| x.clone()).collect();
    let start = std::time::Instant::now();
    let private = private_logits(&net, default_params(), &[], &images, 21);
    let (mut agree, mut correct, mut plain_correct) = (0, 0, 0);
    for ((label, x), got) in data.iter().zip(&private) {
        let want = infer(&net, x).unwrap();
        agree += usize::from(argmax(got) == argmax(&want));
        correct += usize::from(argmax(got) == Some(*label));
        plain_correct += usize::from(argmax(&want) == Some(*label));
    }
    println!(
        "private default Circa, fashion_resnet8, {n} images: agree with f64 {agree}/{n}, accuracy \
         {correct}/{n} (f64 {plain_correct}/{n}), {:.1} s",
        start.elapsed().as_secs_f64()
    );
    assert!(agree * 100 >= 96 * n, "{agree}/{n}");
}

/// The bundled configuration, the three targets on the trained ResNet-8 (56,448
/// ReLUs): `fashion_resnet8` calibrated at `f = 10` (2,000 training images, tolerance 0.004,
/// `models/calibrate_fashion.sh`; its calibration's `k` per site), all 1,000 bundled test
/// images, as the protocol computes it (fault simulation with the protocol's rescales, the
/// seeds of [`simulate_private_at`]): calibrated Circa agrees with f64's argmax on >= 99 % and
/// has no wrapped output (its rescales are fused into the ReLUs); the default Circa variant at
/// the same `f` has a mean logit error within 3x of the exact variant's (both over the images
/// without a wrapped output: the exact variant rescales by local truncation, about one wrap in
/// a hundred inferences at `f = 10`; its agreement is asserted at 98.5 %). Calibration widens
/// bands where the predictions allow it, trading logit error for AND gates within its
/// tolerance, so the calibrated error is printed, not bounded by the default's target. About
/// a minute in release.
/// `cargo test -p circa-nn --release --test residual -- --ignored --nocapture calibrated`
#[test]
#[ignore = "about a minute in release: three simulated private runs over 1,000 images"]
fn calibrated_fashion_resnet8_agrees_on_1000_images() {
    let net = load(
        &PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../models/fashion/calibrated/fashion_resnet8.onnx"),
    );
    let c = net.calibration().expect("calibrated").clone();
    let f = c.frac_bits;
    let images = fashion_images(1000);
    let want: Vec<Vec<f64>> = images.iter().map(|x| infer(&net, x).unwrap()).collect();
    // The default band 1/16 at this f (the calibrated sites replace it).
    let circa_variant = Variant::TruncatedSign {
        k: 2 * f - 4,
        mode: circa_relu::TieMode::NegPass,
    };
    let start = std::time::Instant::now();
    let exact = simulate_private_at(&net, Variant::ExactSign, f, &[], &images, &want);
    let circa = simulate_private_at(&net, circa_variant, f, &c.sites, &images, &want);
    let default = simulate_private_at(&net, circa_variant, f, &[], &images, &want);
    for (name, r) in [
        ("exact", &exact),
        ("calibrated circa", &circa),
        ("default circa", &default),
    ] {
        println!(
            "fashion_resnet8 at f = {f}, 1000 images, {name}: agree with f64 {}/1000, mean |logit error| {:.5} without wraps ({:.5} with them), {} wrapped outputs",
            r.agree, r.error, r.error_all, r.wrapped
        );
    }
    println!("{:.1} s", start.elapsed().as_secs_f64());
    for (name, r) in [("calibrated", &circa), ("default", &default)] {
        assert!(r.agree >= 990, "{name} circa: {}/1000", r.agree);
        assert_eq!(r.wrapped, 0, "{name} circa: {} wrapped", r.wrapped);
    }
    assert!(exact.agree >= 985, "exact: {}/1000", exact.agree);
    assert!(
        default.error <= 3.0 * exact.error,
        "{} vs {}",
        default.error,
        exact.error
    );
}

/// The wrap target: no wrapped output in 1,000 inferences of a >= 50 k-ReLU network,
/// with the private run's rescales modelled exactly by the simulation (a fused ReLU as the
/// protocol computes it on the sharing of its sign test; every other rescale a local
/// truncation of a fresh sharing). With the default Circa variant every rescale of a
/// convolution is fused into a ReLU (residual adds are lifted to the product scale), so only
/// the 64 average-pooled values before the last dense layer are truncated locally: the wrap
/// is no longer chance but structure. (The exact variant cannot fuse its rescale and keeps
/// about one wrap in a hundred inferences at `f = 10`: see the ignored test below.)
#[test]
fn no_wrapped_output_in_1000_inferences_of_fashion_resnet8() {
    let net = fashion_resnet8();
    let images = fashion_images(1000);
    let want: Vec<Vec<f64>> = images.iter().map(|x| infer(&net, x).unwrap()).collect();
    let r = simulate_private(&net, defaults::VARIANT, &images, &want);
    assert_eq!(r.wrapped, 0, "{} wrapped outputs in 1,000", r.wrapped);
    assert!(r.agree >= 990, "{}/1000", r.agree);
}

/// The exact variant's wraps on the same run, for the record (it rescales by local
/// truncation after the ReLU: `sum |x| / p` per inference).
#[test]
#[ignore = "a measurement, not a target: the exact variant cannot fuse its rescale (8 wrapped outputs in 1,000 at f = 10)"]
fn exact_variant_wraps_on_fashion_resnet8() {
    let net = fashion_resnet8();
    let images = fashion_images(1000);
    let want: Vec<Vec<f64>> = images.iter().map(|x| infer(&net, x).unwrap()).collect();
    let r = simulate_private(&net, Variant::ExactSign, &images, &want);
    println!("exact variant: {} wrapped outputs in 1,000", r.wrapped);
    assert!(r.wrapped <= 30, "{} wrapped outputs in 1,000", r.wrapped);
}

// ---------------------------------------------------------------------------------------------
// calibrate -> serve -> infer through the `circa` binary.

#[cfg(feature = "cli")]
mod cli {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    use super::*;

    fn circa() -> Command {
        Command::new(env!("CARGO_BIN_EXE_circa"))
    }

    fn run(cmd: &mut Command) -> (bool, String, String) {
        let out = cmd.output().expect("run circa");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn csv(rows: &[Vec<f64>]) -> String {
        rows.iter()
            .map(|r| {
                r.iter()
                    .map(|v| v.to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .map(|l| l + "\n")
            .collect()
    }

    /// Calibrates the dyadic ResNet on its fixture inputs, serves the calibrated model, runs
    /// one input through `infer` and has an out-of-range input refused.
    #[test]
    fn calibrate_serve_infer_end_to_end() {
        let dir = std::env::temp_dir().join(format!("circa-residual-cli-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (net, inputs, _) = torch_dyadic_resnet();
        let data = dir.join("calibration.csv");
        std::fs::write(&data, csv(&inputs)).unwrap();
        let calibrated = dir.join("calibrated.onnx");
        let (ok, out, err) = run(circa()
            .arg("calibrate")
            .arg(fixture("residual/resnet_dyadic.onnx"))
            .arg("--data")
            .arg(&data)
            .arg("--output")
            .arg(&calibrated));
        assert!(ok, "calibrate: {err}");
        assert!(out.contains("AND gates per inference"), "{out}");
        assert!(out.contains("calibrated model written to"), "{out}");
        println!("{out}");

        // The calibrated model carries its choices and ranges; inspect prints them.
        let model = load(&calibrated);
        let cal = model.calibration().expect("calibration in the model");
        assert_eq!(cal.input_bound, 1.0);
        assert!(!cal.sites.is_empty());
        let (ok, out, err) = run(circa().arg("inspect").arg(&calibrated));
        assert!(ok, "inspect: {err}");
        assert!(out.contains("calibrated input range: [-1, 1]"), "{out}");

        let mut server = circa()
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--timeout",
                "20",
                "--model",
            ])
            .arg(&calibrated)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(server.stdout.take().unwrap());
        let mut banner = String::new();
        for _ in 0..3 {
            lines.read_line(&mut banner).unwrap();
        }
        let addr = banner
            .split(" on ")
            .nth(1)
            .and_then(|s| s.split(',').next())
            .unwrap_or_else(|| panic!("no address in {banner:?}"))
            .to_owned();
        let good = dir.join("good.csv");
        std::fs::write(&good, csv(&inputs[..1])).unwrap();
        let good_run = run(circa()
            .args(["infer", "--timeout", "20", "--connect", &addr, "--input"])
            .arg(&good));
        let mut far = inputs[0].clone();
        far[5] = 3.5;
        let bad = dir.join("bad.csv");
        std::fs::write(&bad, csv(&[far])).unwrap();
        let bad_run = run(circa()
            .args(["infer", "--timeout", "20", "--connect", &addr, "--input"])
            .arg(&bad));
        // Stop the server we started (by its handle) before asserting.
        server.kill().ok();
        server.wait().ok();
        drop(lines);
        std::fs::remove_dir_all(&dir).ok();

        assert!(
            banner.contains("calibrated sign tests at") && banner.contains("input range [-1, 1]"),
            "{banner}"
        );
        let (ok, out, err) = good_run;
        assert!(ok, "infer: {err}");
        let want = argmax(&infer(&net, &inputs[0]).unwrap()).unwrap();
        assert!(out.contains(&format!("predicted class: {want}")), "{out}");
        let (ok, out, err) = bad_run;
        assert!(!ok, "an out-of-range input was accepted: {out}");
        assert!(
            err.contains("input element 5 is 3.5, outside the server's calibrated range [-1, 1]"),
            "{err}"
        );
    }
}
