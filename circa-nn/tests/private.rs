//! Private inference end to end: server and client in two threads over an in-memory or TCP
//! loopback channel, compared with the fixed-point reference (`circa_nn::fixed`).

use std::path::PathBuf;
use std::thread;

use circa_nn::private::{
    ClientSession, Prime, PrivateParams, ServerModel, ServerSession, SessionStats,
};
use std::cell::Cell;

use circa_nn::{Fixed, Network, SignOracle, SignScale, argmax, import_onnx};
use circa_ot::{Channel, MemChannel, TcpChannel};
use circa_relu::{ProductPath, TieMode, Variant};
use circa_share::fixed_point::truncate_plain;
use circa_share::{Fp, Modulus};
use circa_share::{P2138816513, P2061584302081};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

/// Fractional bits of the tests on the 41-bit prime.
const F41: u32 = 10;

fn models_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models")
}

fn load(model: &str) -> Network {
    let bytes = std::fs::read(models_dir().join(format!("{model}.onnx"))).expect("model file");
    import_onnx(&bytes).expect("import")
}

fn test_images(n: usize) -> Vec<(usize, Vec<f64>)> {
    let text = std::fs::read_to_string(models_dir().join("data/digits_test.csv")).expect("csv");
    let mut all = circa_nn::dataset::parse_labelled(&text, 64, 10).expect("test set");
    all.truncate(n);
    all
}

/// Runs one session: the client runs every input (offline then online); returns the logits
/// and the client's stats of each inference.
fn run_session<C: Channel + Send + 'static>(
    (mut sch, mut cch): (C, C),
    network: &Network,
    params: PrivateParams,
    inputs: &[Vec<f64>],
) -> Vec<(Vec<f64>, SessionStats, SessionStats)> {
    let net = network.clone();
    let n = inputs.len();
    let server = thread::spawn(move || {
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let mut s = ServerSession::handshake(
            &mut sch,
            &ServerModel::new(&net, params).expect("model"),
            &mut rng,
        )
        .expect("server");
        let mut stats = Vec::new();
        while s.serve_one(&mut sch).expect("serve").is_some() {
            stats.push(s.last_stats());
        }
        assert_eq!(stats.len(), n);
        stats
    });
    let mut rng = ChaCha20Rng::seed_from_u64(2);
    let mut c = ClientSession::handshake(&mut cch, &mut rng).expect("client");
    assert_eq!(c.params(), &params);
    assert_eq!(c.architecture(), network.architecture());
    let mut out = Vec::new();
    for x in inputs {
        let pre = c.offline(&mut cch).expect("offline");
        let logits = c.online(&mut cch, pre, x).expect("online");
        out.push((logits, c.last_stats()));
    }
    c.close(&mut cch).expect("close");
    let server_stats = server.join().expect("server thread");
    out.into_iter()
        .zip(server_stats)
        .map(|((l, cs), ss)| (l, cs, ss))
        .collect()
}

fn reference(network: &Network, params: &PrivateParams, x: &[f64]) -> Vec<f64> {
    match params.prime {
        Prime::P41 => Fixed::<P2061584302081>::new(network, params.frac_bits, params.sign_scale)
            .expect("reference")
            .logits(x)
            .expect("logits"),
        Prime::P31 => Fixed::<P2138816513>::new(network, params.frac_bits, params.sign_scale)
            .expect("reference")
            .logits(x)
            .expect("logits"),
    }
}

/// Private predictions vs the fixed-point reference: (agreeing, total, largest logit gap).
fn compare(model: &str, params: PrivateParams, images: usize, tcp: bool) -> (usize, usize, f64) {
    let net = load(model);
    let data = test_images(images);
    let inputs: Vec<Vec<f64>> = data.iter().map(|(_, x)| x.clone()).collect();
    let results = if tcp {
        run_session(
            TcpChannel::loopback_pair().expect("tcp"),
            &net,
            params,
            &inputs,
        )
    } else {
        run_session(MemChannel::pair(), &net, params, &inputs)
    };
    let mut agree = 0;
    let mut gap = 0f64;
    for (x, (logits, _, _)) in inputs.iter().zip(&results) {
        let want = reference(&net, &params, x);
        assert_eq!(logits.len(), want.len());
        if argmax(logits) == argmax(&want) {
            agree += 1;
        }
        for (a, b) in logits.iter().zip(&want) {
            gap = gap.max((a - b).abs());
        }
    }
    (agree, inputs.len(), gap)
}

#[test]
fn exact_relu_matches_fixed_reference_on_every_image() {
    let params = PrivateParams::exact(Prime::P41, F41);
    let (agree, total, gap) = compare("digits_cnn", params, 20, true);
    assert_eq!(
        agree, total,
        "exact ReLU must reproduce every reference prediction"
    );
    // Local truncation is off by at most one unit per rescale; the logits stay close.
    assert!(gap < 0.05, "largest logit gap {gap}");
}

#[test]
fn circa_relu_at_the_default_k_agrees_on_at_least_99_percent() {
    let params = PrivateParams::circa(
        Prime::P41,
        circa_nn::fixed::defaults::FRAC_BITS,
        circa_nn::fixed::defaults::K,
        circa_nn::fixed::defaults::TIE_MODE,
    );
    let (agree, total, _) = compare("digits_cnn", params, 20, false);
    assert!(agree * 100 >= 99 * total, "{agree}/{total}");
}

#[test]
fn pruned_and_polynomial_models_agree() {
    for model in ["digits_cnn_pruned", "digits_poly"] {
        let params = PrivateParams::exact(Prime::P41, F41);
        let (agree, total, gap) = compare(model, params, 8, false);
        assert_eq!(agree, total, "{model}");
        // The polynomial network's logits reach about 57 and square its rounding errors.
        assert!(gap < 0.25, "{model}: largest logit gap {gap}");
    }
}

#[test]
fn other_parameters_run_and_agree() {
    let cases = [
        // 31-bit prime, sign test after the rescale.
        PrivateParams {
            sign_scale: SignScale::Rescaled,
            ..PrivateParams::exact(Prime::P31, 8)
        },
        // Beaver product path (triples from OT) and the Delphi baseline circuit.
        PrivateParams {
            relu: (Variant::StochasticSign, ProductPath::Beaver),
            ..PrivateParams::exact(Prime::P41, F41)
        },
        PrivateParams {
            relu: (Variant::DelphiBaseline, ProductPath::LabelTable),
            ..PrivateParams::exact(Prime::P41, F41)
        },
    ];
    for params in cases {
        let (agree, total, gap) = compare("digits_cnn", params, 3, false);
        assert_eq!(agree, total, "{params:?}");
        assert!(gap < 0.2, "{params:?}: gap {gap}");
    }
}

#[test]
fn stats_and_round_count() {
    let net = load("digits_cnn");
    let x = test_images(1).remove(0).1;
    let params = PrivateParams::exact(Prime::P41, F41);
    let r = run_session(MemChannel::pair(), &net, params, &[x]);
    let (_, c, s) = &r[0];
    // input, 3 ReLU layers and 2 max-pool levels (2 flights each), logits
    assert_eq!(c.online_rounds, 12, "{c:?}");
    assert_eq!(s.online_rounds, 12, "{s:?}");
    assert_eq!(c.relus, 1184);
    assert_eq!(c.online_bytes_c2s, s.online_bytes_c2s);
    assert_eq!(c.online_bytes_s2c, s.online_bytes_s2c);
    assert_eq!(c.offline_bytes_c2s, s.offline_bytes_c2s);
    assert!(c.client_storage_bytes > 0 && c.offline_relu_bytes > 0);
    assert!(c.offline_relu_bytes < c.offline_bytes_c2s + c.offline_bytes_s2c);
}

#[test]
fn wrong_input_length_is_an_error() {
    let net = load("digits_cnn");
    let (mut sch, mut cch) = MemChannel::pair_with_timeout(std::time::Duration::from_secs(5));
    let params = PrivateParams::exact(Prime::P41, F41);
    let server = thread::spawn(move || {
        let mut rng = ChaCha20Rng::seed_from_u64(3);
        let mut s = ServerSession::handshake(
            &mut sch,
            &ServerModel::new(&net, params).expect("model"),
            &mut rng,
        )
        .expect("server");
        // The client gives up after the offline phase: the server's online read fails.
        s.serve_one(&mut sch).is_err()
    });
    let mut rng = ChaCha20Rng::seed_from_u64(4);
    let mut c = ClientSession::handshake(&mut cch, &mut rng).expect("client");
    let mut calls = Vec::new();
    let pre = c
        .offline_with_progress(&mut cch, &mut |done, total| calls.push((done, total)))
        .expect("offline");
    assert_eq!(calls.len(), 10);
    assert_eq!(calls.last(), Some(&(10, 10)));
    assert!(c.online(&mut cch, pre, &[0.5; 63]).is_err());
    drop(cch);
    assert!(server.join().expect("thread"));
}

/// Exact signs; every rescale adds its local-truncation failure probability `|x| / p`.
#[derive(Default)]
struct FailureMeter {
    expected: Cell<f64>,
    count: Cell<u64>,
}

impl<M: Modulus> SignOracle<M> for FailureMeter {
    fn sign(&self, y: Fp<M>) -> bool {
        y.to_i64() >= 0
    }
    fn truncate(&self, x: Fp<M>, bits: u32) -> Fp<M> {
        self.expected
            .set(self.expected.get() + x.to_i64().unsigned_abs() as f64 / M::P as f64);
        self.count.set(self.count.get() + 1);
        truncate_plain(x, bits)
    }
}

/// Expected local-truncation failures per inference (mean over `images` test images) and
/// truncations per inference, from the reference's rescales (the private run truncates the
/// same tensors, except that the network output is rescaled exactly by the client and, with
/// `SignScale::Product`, the max-pool selections are divided by `2^f` exactly unless they wrap).
fn expected_truncation_failures<M: Modulus>(
    model: &str,
    f: u32,
    sign_scale: SignScale,
    images: usize,
) -> (f64, f64) {
    let net = load(model);
    let data = test_images(images);
    let fixed = Fixed::<M, _>::with_oracle(&net, f, sign_scale, FailureMeter::default())
        .expect("reference");
    for (_, x) in &data {
        fixed.run(x).expect("run");
    }
    let n = data.len() as f64;
    (
        fixed.oracle().expected.get() / n,
        fixed.oracle().count.get() as f64 / n,
    )
}

#[test]
fn local_truncation_failure_rate_is_small_at_the_test_parameters() {
    for model in ["digits_cnn", "digits_cnn_pruned", "digits_poly"] {
        let (e, n) =
            expected_truncation_failures::<P2061584302081>(model, F41, SignScale::Product, 50);
        println!("{model}: p41 f={F41}: {n} truncations, {e:.2e} expected failures per inference");
        assert!(n > 100.0);
        assert!(e < 5e-3, "{model}: {e}");
    }
}

/// Cost figures for the report: `cargo test -p circa-nn --release --test private -- --ignored
/// --nocapture`.
#[test]
#[ignore]
fn report_costs() {
    let models = ["digits_cnn", "digits_cnn_pruned", "digits_poly"];
    let variants = [
        ("exact", PrivateParams::exact(Prime::P41, F41)),
        (
            "delphi baseline",
            PrivateParams {
                relu: (Variant::DelphiBaseline, ProductPath::LabelTable),
                ..PrivateParams::exact(Prime::P41, F41)
            },
        ),
        (
            "circa k=12 poszero",
            PrivateParams::circa(Prime::P41, F41, 12, TieMode::PosZero),
        ),
        (
            "circa p31 f=8 k=8 poszero",
            PrivateParams::circa(Prime::P31, 8, 8, TieMode::PosZero),
        ),
    ];
    for model in models {
        for (prime, f) in [("p41", 10), ("p41", 12), ("p31", 8)] {
            for scale in [SignScale::Product, SignScale::Rescaled] {
                let (e, n) = if prime == "p41" {
                    expected_truncation_failures::<P2061584302081>(model, f, scale, 360)
                } else {
                    expected_truncation_failures::<P2138816513>(model, f, scale, 360)
                };
                println!(
                    "{model:18} {prime} f={f} {:8}: {n:.0} truncations, {e:.2e} expected wraps per inference",
                    scale.name()
                );
            }
        }
    }
    for model in models {
        let net = load(model);
        let inputs: Vec<Vec<f64>> = test_images(5).into_iter().map(|(_, x)| x).collect();
        for (name, params) in variants {
            let r = run_session(
                TcpChannel::loopback_pair().expect("tcp"),
                &net,
                params,
                &inputs,
            );
            let n = r.len() as f64;
            let avg =
                |f: &dyn Fn(&SessionStats) -> f64| r.iter().map(|(_, c, _)| f(c)).sum::<f64>() / n;
            let c = &r[0].1;
            let relus = c.relus.max(1) as f64;
            println!(
                "{model:18} {name:26} relus {:5} offline {:.3} s online {:.4} s | offline B c2s {} s2c {} (ReLU part {} = {:.0} B/ReLU) | online B c2s {} s2c {} | flights {} | client storage {} B",
                c.relus,
                avg(&|s| s.offline_seconds),
                avg(&|s| s.online_seconds),
                c.offline_bytes_c2s,
                c.offline_bytes_s2c,
                c.offline_relu_bytes,
                c.offline_relu_bytes as f64 / relus,
                c.online_bytes_c2s,
                c.online_bytes_s2c,
                c.online_rounds,
                c.client_storage_bytes
            );
        }
    }
    // The whole test split with the default Circa ReLU against the fixed-point reference.
    let params = PrivateParams::circa(Prime::P41, F41, 12, TieMode::PosZero);
    let net = load("digits_cnn");
    let data = test_images(360);
    let inputs: Vec<Vec<f64>> = data.iter().map(|(_, x)| x.clone()).collect();
    let r = run_session(
        TcpChannel::loopback_pair().expect("tcp"),
        &net,
        params,
        &inputs,
    );
    let (mut agree, mut correct, mut ref_correct) = (0, 0, 0);
    for ((label, x), (logits, _, _)) in data.iter().zip(&r) {
        let want = reference(&net, &params, x);
        agree += usize::from(argmax(logits) == argmax(&want));
        correct += usize::from(argmax(logits) == Some(*label));
        ref_correct += usize::from(argmax(&want) == Some(*label));
    }
    println!(
        "digits_cnn circa k=12 poszero p41 f={F41}, all 360 test images: private accuracy {correct}/360, fixed-point reference {ref_correct}/360, predictions agree on {agree}/360"
    );
}

#[test]
fn garbage_from_the_peer_is_a_typed_error() {
    // A client that sends an unknown tag instead of "infer"/"done".
    let net = load("digits_cnn");
    let (mut sch, mut cch) = MemChannel::pair_with_timeout(std::time::Duration::from_secs(5));
    let params = PrivateParams::exact(Prime::P31, 8);
    let server = thread::spawn(move || {
        let mut rng = ChaCha20Rng::seed_from_u64(5);
        let mut s = ServerSession::handshake(
            &mut sch,
            &ServerModel::new(&net, params).expect("model"),
            &mut rng,
        )
        .expect("server");
        s.serve_one(&mut sch)
    });
    let mut rng = ChaCha20Rng::seed_from_u64(6);
    let _c = ClientSession::handshake(&mut cch, &mut rng).expect("client");
    cch.send(&[0x42]).expect("send");
    cch.flush().expect("flush");
    let err = server.join().expect("thread").expect_err("bad tag");
    assert!(
        matches!(
            err,
            circa_nn::private::PrivateError::UnexpectedTag { actual: 0x42, .. }
        ),
        "{err}"
    );

    // A "server" whose hello is garbage, or whose parameters are invalid.
    for hello in [vec![0u8; 64], {
        let mut h = vec![];
        let mut p = PrivateParams::exact(Prime::P31, 8).to_bytes();
        p[1] = 40; // f = 40 does not fit the field
        h.extend_from_slice(&p);
        h
    }] {
        let (mut sch, mut cch) = MemChannel::pair_with_timeout(std::time::Duration::from_secs(5));
        sch.send(&hello).expect("send");
        sch.flush().expect("flush");
        let mut rng = ChaCha20Rng::seed_from_u64(7);
        assert!(ClientSession::handshake(&mut cch, &mut rng).is_err());
    }

    // An architecture frame that claims a huge length is rejected before allocating.
    let (mut sch, mut cch) = MemChannel::pair_with_timeout(std::time::Duration::from_secs(5));
    let mut h = vec![];
    h.extend_from_slice(&PrivateParams::exact(Prime::P41, 10).to_bytes());
    h.extend_from_slice(&u64::MAX.to_le_bytes());
    sch.send(&h).expect("send");
    sch.flush().expect("flush");
    let mut rng = ChaCha20Rng::seed_from_u64(8);
    let err = ClientSession::handshake(&mut cch, &mut rng).expect_err("huge frame");
    assert!(
        matches!(err, circa_nn::private::PrivateError::Channel(_)),
        "{err}"
    );
}

/// A synthetic network with the structures the digits models lack: a partial ChannelRelu, a
/// 3x3 max pool with stride 1 (overlapping windows, odd tree levels 9 -> 5 -> 3 -> 2 -> 1), a
/// residual add of an offline-known and an online-only tensor, a ReLU whose input must be
/// re-masked online, global average pooling, a polynomial and a strided, padded convolution.
fn synthetic_network() -> Network {
    use circa_nn::{Activation, Architecture, Conv2d, LinearWeights, Op, Shape, Window2d};
    let conv = |i, o, k, s, p| {
        Op::Conv2d(Conv2d {
            in_channels: i,
            out_channels: o,
            window: Window2d::square(k, s).with_padding(p),
            groups: 1,
        })
    };
    let layers = vec![
        ("c0".to_string(), conv(2, 4, 3, 1, 1), vec![0]), // t1: 4x7x7
        (
            "r1".to_string(),
            Op::Activation(Activation::ChannelRelu {
                mask: vec![true, false, true, true],
            }),
            vec![1],
        ), // t2
        (
            "m2".to_string(),
            Op::MaxPool(Window2d::square(3, 1)),
            vec![2],
        ), // t3: 4x5x5
        ("c3".to_string(), conv(4, 4, 1, 1, 0), vec![3]), // t4
        ("a4".to_string(), Op::Add, vec![3, 4]),          // t5
        ("r5".to_string(), Op::Activation(Activation::Relu), vec![5]), // t6
        ("c6".to_string(), conv(4, 3, 3, 2, 1), vec![6]), // t7: 3x3x3
        ("g7".to_string(), Op::GlobalAvgPool, vec![7]),   // t8: 3
        (
            "p8".to_string(),
            Op::Activation(Activation::Polynomial {
                coefficients: [0.25, 0.5, 0.125],
            }),
            vec![8],
        ), // t9
        (
            "d9".to_string(),
            Op::Dense {
                in_features: 3,
                out_features: 5,
            },
            vec![9],
        ), // t10
    ];
    let arch = Architecture::new(Shape::new(2, 7, 7), layers, 10).expect("architecture");
    let mut rng = ChaCha20Rng::seed_from_u64(11);
    let mut weights = Vec::new();
    for layer in arch.layers() {
        let (nw, nb) = match &layer.op {
            Op::Conv2d(c) => (c.weight_len(), c.out_channels),
            Op::Dense {
                in_features,
                out_features,
            } => (in_features * out_features, *out_features),
            _ => {
                weights.push(None);
                continue;
            }
        };
        let mut draw = |n: usize| -> Vec<f64> {
            (0..n)
                .map(|_| (rand_core::Rng::next_u32(&mut rng) as f64 / u32::MAX as f64) * 2.0 - 1.0)
                .collect()
        };
        weights.push(Some(LinearWeights::new(draw(nw), draw(nb))));
    }
    Network::new(arch, weights).expect("network")
}

#[test]
fn synthetic_network_with_every_layer_kind_matches_the_reference() {
    let net = synthetic_network();
    let mut rng = ChaCha20Rng::seed_from_u64(12);
    let inputs: Vec<Vec<f64>> = (0..3)
        .map(|_| {
            (0..98)
                .map(|_| rand_core::Rng::next_u32(&mut rng) as f64 / u32::MAX as f64)
                .collect()
        })
        .collect();
    for scale in [SignScale::Product, SignScale::Rescaled] {
        let params = PrivateParams {
            sign_scale: scale,
            ..PrivateParams::exact(Prime::P41, F41)
        };
        let results = run_session(MemChannel::pair(), &net, params, &inputs);
        for (x, (logits, c, _)) in inputs.iter().zip(&results) {
            let want = reference(&net, &params, x);
            for (a, b) in logits.iter().zip(&want) {
                assert!((a - b).abs() < 0.05, "{scale:?}: {logits:?} vs {want:?}");
            }
            // 3 ReLU channels x 49 + (9 - 1) x 100 pool outputs + 100
            assert_eq!(c.relus, 3 * 49 + 8 * 100 + 100);
        }
    }
}

/// Local share truncation as the private run does it, simulated on the plain value: with a
/// uniform client share, `floor(c / 2^f) - floor(t / 2^f)` is `floor(x / 2^f)` plus a carry
/// with probability `(x mod 2^f) / 2^f` (unbiased stochastic rounding; wraps not simulated).
/// `offset` is added to `x` first (a public constant the server could add to its share).
struct StochasticRounding {
    rng: std::cell::RefCell<ChaCha20Rng>,
    offset: i64,
}

impl<M: Modulus> SignOracle<M> for StochasticRounding {
    fn sign(&self, y: Fp<M>) -> bool {
        y.to_i64() >= 0
    }
    fn truncate(&self, x: Fp<M>, bits: u32) -> Fp<M> {
        use rand_core::Rng;
        let v = x.to_i64() + self.offset;
        let low = v.rem_euclid(1 << bits) as u64;
        let carry = self.rng.borrow_mut().next_u64() % (1 << bits) < low;
        Fp::from_i64_reduced((v >> bits) + i64::from(carry))
    }
}

/// Round-to-nearest truncation (`floor((x + 2^(f-1)) / 2^f)`).
struct Nearest;

impl<M: Modulus> SignOracle<M> for Nearest {
    fn sign(&self, y: Fp<M>) -> bool {
        y.to_i64() >= 0
    }
    fn truncate(&self, x: Fp<M>, bits: u32) -> Fp<M> {
        Fp::from_i64_reduced((x.to_i64() + (1 << (bits - 1))) >> bits)
    }
}

/// Which plaintext truncation convention the private run's local truncation agrees with best:
/// `cargo test -p circa-nn --release --test private -- --ignored --nocapture truncation_convention`.
#[test]
#[ignore]
fn truncation_convention() {
    type M = P2061584302081;
    let f = F41;
    let data = test_images(360);
    let seeds = 20u64;
    for model in ["digits_cnn", "digits_cnn_pruned", "digits_poly"] {
        let net = load(model);
        let floor = Fixed::<M>::new(&net, f, SignScale::Product).expect("reference");
        let near =
            Fixed::<M, _>::with_oracle(&net, f, SignScale::Product, Nearest).expect("reference");
        let (mut d_floor, mut d_near, mut d_shift, mut floor_vs_near) = (0, 0, 0, 0);
        let (mut plain_vs_floor, mut plain_vs_near, mut plain_vs_sim) = (0, 0, 0);
        let (mut acc_floor, mut acc_near, mut acc_sim) = (0, 0, 0);
        for (idx, (label, x)) in data.iter().enumerate() {
            let pf = floor.predict(x).expect("run");
            let pn = near.predict(x).expect("run");
            let pp = argmax(&circa_nn::infer(&net, x).expect("plaintext"));
            plain_vs_floor += usize::from(pp != pf);
            plain_vs_near += usize::from(pp != pn);
            floor_vs_near += usize::from(pf != pn);
            acc_floor += usize::from(pf == Some(*label));
            acc_near += usize::from(pn == Some(*label));
            for seed in 0..seeds {
                let sim = |offset| {
                    let o = StochasticRounding {
                        rng: std::cell::RefCell::new(ChaCha20Rng::seed_from_u64(
                            seed * 1000 + idx as u64,
                        )),
                        offset,
                    };
                    Fixed::<M, _>::with_oracle(&net, f, SignScale::Product, o)
                        .expect("reference")
                        .predict(x)
                        .expect("run")
                };
                let ps = sim(0);
                acc_sim += usize::from(ps == Some(*label));
                plain_vs_sim += usize::from(ps != pp);
                d_floor += usize::from(ps != pf);
                d_near += usize::from(ps != pn);
                d_shift += usize::from(sim(-(1 << (f - 1))) != pf);
            }
        }
        let n = (data.len() as u64 * seeds) as f64;
        println!(
            "{model:18} floor ref acc {acc_floor}/360, nearest ref acc {acc_near}/360, floor vs nearest differ on {floor_vs_near}; \
             stochastic (private) acc {:.2}/360; private-like disagrees with floor ref {:.2}/360, with nearest ref {:.2}/360; \
             private shifted by -2^(f-1) vs floor ref {:.2}/360; \
             f64 plaintext differs from floor ref on {plain_vs_floor}, nearest ref {plain_vs_near}, private-like {:.2}/360",
            acc_sim as f64 / n * 360.0,
            d_floor as f64 / n * 360.0,
            d_near as f64 / n * 360.0,
            d_shift as f64 / n * 360.0,
            plain_vs_sim as f64 / n * 360.0,
        );
    }
}

/// Every test image through the private run with exact ReLU, against the fixed-point
/// reference; prints each disagreement with the reference's top-two margin and the largest
/// logit gap, in units of `2^-f`: `cargo test -p circa-nn --release --test private --
/// --ignored --nocapture disagreements_explained`.
#[test]
#[ignore]
fn disagreements_explained() {
    let params = PrivateParams::exact(Prime::P41, F41);
    let ulp = f64::from(F41).exp2();
    for model in ["digits_poly", "digits_cnn"] {
        let net = load(model);
        let data = test_images(360);
        let inputs: Vec<Vec<f64>> = data.iter().map(|(_, x)| x.clone()).collect();
        let results = run_session(MemChannel::pair(), &net, params, &inputs);
        let (mut differ, mut largest, mut wrapped) = (0, 0f64, 0);
        for (i, (x, (logits, _, _))) in inputs.iter().zip(&results).enumerate() {
            let want = reference(&net, &params, x);
            let gap = logits
                .iter()
                .zip(&want)
                .map(|(a, b)| (a - b).abs() * ulp)
                .fold(0f64, f64::max);
            largest = largest.max(gap);
            // A local-truncation wrap moves a value by about p / 2^(2f) units or more.
            wrapped += usize::from(gap > 1e6);
            if argmax(logits) != argmax(&want) {
                differ += 1;
                let mut sorted = want.clone();
                sorted.sort_by(|a, b| b.total_cmp(a));
                println!(
                    "{model} image {i}: reference margin {:.0} ulp, largest logit gap {gap:.0} ulp",
                    (sorted[0] - sorted[1]) * ulp
                );
            }
        }
        println!(
            "{model}: {differ}/360 predictions differ; {wrapped} images with a wrap; largest logit gap {largest:.0} ulp"
        );
    }
}

/// Local truncation after the polynomial follows the `|x| / p` fault model: the client's share
/// of `c2 q + c1 x` (with `q = trunc(x^2)` and `x` a truncated linear output, both small,
/// independent client shares) is re-masked to a uniform one before the final truncation.
/// Without the re-mask, the share `q_C - x_C` here lies near 0 and that truncation wrapped
/// about as often as the one of `x^2` (about twice the modelled total). Identity dense layer,
/// then `(x^2 - x) / 2^10` on inputs 400..480, where truncating `x^2` wraps with probability
/// about 0.1 per element.
#[test]
fn polynomial_truncation_wraps_as_modelled() {
    use circa_nn::{Activation, Architecture, LinearWeights, Op, Shape};
    let n = 256;
    let layers = vec![
        (
            "d0".to_string(),
            Op::Dense {
                in_features: n,
                out_features: n,
            },
            vec![0],
        ),
        (
            "p1".to_string(),
            Op::Activation(Activation::Polynomial {
                coefficients: [0.0, -1.0 / 1024.0, 1.0 / 1024.0],
            }),
            vec![1],
        ),
    ];
    let arch = Architecture::new(Shape::new(n, 1, 1), layers, 2).expect("architecture");
    let mut eye = vec![0.0; n * n];
    (0..n).for_each(|i| eye[i * n + i] = 1.0);
    let net = Network::new(
        arch,
        vec![Some(LinearWeights::new(eye, vec![0.0; n])), None],
    )
    .expect("network");
    let inputs: Vec<Vec<f64>> = (0..4)
        .map(|k| {
            (0..n)
                .map(|i| 400.0 + ((i * 7 + k * 13) % 81) as f64)
                .collect()
        })
        .collect();
    let params = PrivateParams::exact(Prime::P41, F41);
    let meter = Fixed::<P2061584302081, _>::with_oracle(
        &net,
        F41,
        SignScale::Product,
        FailureMeter::default(),
    )
    .expect("reference");
    let results = run_session(MemChannel::pair(), &net, params, &inputs);
    let ulp = f64::from(F41).exp2();
    let mut wraps = 0usize;
    for (x, (logits, _, _)) in inputs.iter().zip(&results) {
        meter.run(x).expect("run");
        let want = reference(&net, &params, x);
        wraps += logits
            .iter()
            .zip(&want)
            .filter(|(a, b)| (*a - *b).abs() * ulp > 1000.0)
            .count();
    }
    let expected = meter.oracle().expected.get();
    assert!(expected > 50.0, "test inputs too small: {expected}");
    let bound = expected + 5.0 * expected.sqrt();
    assert!(
        (wraps as f64) < bound,
        "{wraps} wrapped elements, {expected:.1} expected (bound {bound:.1})"
    );
    assert!(
        (wraps as f64) > expected - 5.0 * expected.sqrt(),
        "{wraps} vs {expected:.1}"
    );
}

/// `serve` refuses a calibrated model whose recorded range overflows the field at its scale
/// (with a factor 2 of headroom), and for a value tested by a fused sign test, the range
/// within which the fused rescale cannot wrap (`circa_relu::params::fused_range`, at p41 and
/// `k = 16` about 0.93 `p / 2`). `digits_cnn`'s first convolution output (tensor 1) is a
/// deferred product read by a fused ReLU; its input (tensor 0) is at `2^f`.
#[test]
fn calibrated_ranges_are_checked_against_the_field_and_the_fused_range() {
    use circa_nn::calibration::Calibration;
    let params = PrivateParams::circa(Prime::P41, F41, 16, TieMode::NegPass);
    let with_bound = |tensor: usize, bound: f64| {
        let c = Calibration {
            prime: Prime::P41,
            frac_bits: F41,
            sign_scale: SignScale::Product,
            sites: Vec::new(),
            input_bound: 1.0,
            tensor_bounds: vec![(tensor, bound)],
        };
        ServerModel::new(&load("digits_cnn").with_calibration(Some(c)), params)
    };
    let scale = 2f64.powi(2 * F41 as i32);
    let half = (Prime::P41.value() / 2) as f64;
    let fused = circa_relu::params::fused_range(Prime::P41.value(), 16) as f64;
    assert!(fused < half);
    // Below the fused range (with headroom 2): served.
    assert!(with_bound(1, 0.99 * fused / (2.0 * scale)).is_ok());
    // Between the fused range and p / 2: refused for the fused site's input only.
    let between = (fused + half) / 2.0 / (2.0 * scale);
    let Err(err) = with_bound(1, between) else {
        panic!("served a bound beyond the fused range")
    };
    assert!(err.to_string().contains("tensor 1"), "{err}");
    // The same bound on the input, at 2^f, fits easily.
    assert!(with_bound(0, between).is_ok());
    // The first max pool's input (tensor 2, at 2^f) has its differences tested at 2^(2f)
    // (times the public 2^f) with a fused rescale, with headroom 4: its bound is checked at
    // 2^(2f) against the fused range.
    assert!(with_bound(2, 0.99 * fused / (4.0 * scale)).is_ok());
    let Err(err) = with_bound(2, 1.01 * fused / (4.0 * scale)) else {
        panic!("served a max-pool input beyond the fused range")
    };
    assert!(err.to_string().contains("tensor 2"), "{err}");
    // Beyond p / 2 at 2^f: refused too.
    let Err(err) = with_bound(0, half / 2f64.powi(F41 as i32)) else {
        panic!("served a bound beyond p / 2")
    };
    assert!(err.to_string().contains("tensor 0"), "{err}");
}
