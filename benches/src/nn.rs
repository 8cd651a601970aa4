//! `circa-bench nn`: private inference end to end over TCP loopback (one
//! thread per party) on the bundled digits models and on the MiniONN
//! CIFAR-10 architecture (Delphi's benchmark network) with random weights.

use crate::{Error, Record, Size};
use circa_nn::fixed::defaults;
use circa_nn::model::{
    Activation, Architecture, Conv2d, LinearWeights, Network, Op, Shape, Window2d,
};
use circa_nn::private::{
    ClientSession, Prime, PrivateParams, ServerModel, ServerSession, SessionStats,
};
use circa_nn::{argmax, import_onnx};
use circa_ot::{Block, Prg, TcpChannel};
use serde_json::json;
use std::path::Path;

/// The ReLU variants measured on every network.
fn variants() -> [(&'static str, PrivateParams); 2] {
    [
        (
            "exact",
            PrivateParams::exact(Prime::P41, defaults::FRAC_BITS),
        ),
        (
            "circa",
            PrivateParams::circa(
                Prime::P41,
                defaults::FRAC_BITS,
                defaults::K,
                defaults::TIE_MODE,
            ),
        ),
    ]
}

/// Costs summed over the inferences of one run.
#[derive(Default)]
struct Totals {
    runs: u64,
    correct: u64,
    stats: Vec<SessionStats>,
}

/// Runs `inputs` through one private session and returns the per-inference statistics.
fn run_session(
    network: &Network,
    params: PrivateParams,
    inputs: &[(Option<usize>, Vec<f64>)],
) -> Result<Totals, Error> {
    let model = ServerModel::new(network, params)?;
    let (mut sch, mut cch) = TcpChannel::loopback_pair()?;
    std::thread::scope(|scope| {
        let model = &model;
        let server = scope.spawn(move || -> Result<(), Error> {
            let mut rng = Prg::from_seed_block(Block::from_u128(0x5e7e_0001));
            let mut session = ServerSession::handshake(&mut sch, model, &mut rng)?;
            while session.serve_one(&mut sch)?.is_some() {}
            Ok(())
        });
        let client = (|| -> Result<Totals, Error> {
            let mut rng = Prg::from_seed_block(Block::from_u128(0xc11e_0001));
            let mut session = ClientSession::handshake(&mut cch, &mut rng)?;
            let mut totals = Totals::default();
            for (label, input) in inputs {
                let pre = session.offline(&mut cch)?;
                let logits = session.online(&mut cch, pre, input)?;
                totals.runs += 1;
                totals.correct += u64::from(label.is_some() && *label == argmax(&logits));
                totals.stats.push(session.last_stats());
            }
            session.close(&mut cch)?;
            Ok(totals)
        })();
        let server = server.join().map_err(|_| Error::ThreadPanicked)?;
        let totals = client?;
        server?;
        Ok(totals)
    })
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs.get(xs.len() / 2).copied().unwrap_or(f64::NAN)
}

fn record(model: &str, variant: &str, t: &Totals, labelled: bool) -> Record {
    let s = &t.stats;
    let mean =
        |f: fn(&SessionStats) -> u64| s.iter().map(f).sum::<u64>() as f64 / s.len().max(1) as f64;
    json!({
        "bench": "nn",
        "model": model,
        "variant": variant,
        "images": t.runs,
        "relus": s.first().map_or(0, |x| x.relus),
        "offline_seconds": median(s.iter().map(|x| x.offline_seconds).collect()),
        "online_seconds": median(s.iter().map(|x| x.online_seconds).collect()),
        "offline_bytes": mean(|x| x.offline_bytes_c2s + x.offline_bytes_s2c),
        "online_bytes": mean(|x| x.online_bytes_c2s + x.online_bytes_s2c),
        "online_bytes_client_to_server": mean(|x| x.online_bytes_c2s),
        "online_bytes_server_to_client": mean(|x| x.online_bytes_s2c),
        "online_rounds": mean(|x| x.online_rounds),
        "client_storage_bytes": mean(|x| x.client_storage_bytes),
        "offline_relu_bytes": mean(|x| x.offline_relu_bytes),
        "accuracy": if labelled { json!(t.correct as f64 / t.runs.max(1) as f64) } else { json!(null) },
    })
}

/// A tiny deterministic generator for benchmark weights (not for secrets).
fn splitmix(state: &mut u64) -> f64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
}

fn conv(cin: usize, cout: usize, k: usize) -> Op {
    let pad = k / 2;
    Op::Conv2d(Conv2d {
        in_channels: cin,
        out_channels: cout,
        window: Window2d::square(k, 1).with_padding(pad),
        groups: 1,
    })
}

/// The MiniONN CIFAR-10 network as benchmarked by Delphi: seven convolutions
/// (3x3 "same", then two 1x1), each followed by a ReLU, two 2x2 average pools,
/// and a dense layer to 10 classes; 3x32x32 input. Weights are random (only
/// the shapes matter for cost), scaled like a trained network's.
pub fn minionn_cifar10() -> Result<Network, Error> {
    let relu = || Op::Activation(Activation::Relu);
    let ops = vec![
        conv(3, 64, 3),
        relu(),
        conv(64, 64, 3),
        relu(),
        Op::AvgPool(Window2d::square(2, 2)),
        conv(64, 64, 3),
        relu(),
        conv(64, 64, 3),
        relu(),
        Op::AvgPool(Window2d::square(2, 2)),
        conv(64, 64, 3),
        relu(),
        conv(64, 64, 1),
        relu(),
        conv(64, 16, 1),
        relu(),
        Op::Reshape {
            shape: Shape::flat(16 * 8 * 8),
        },
        Op::Dense {
            in_features: 16 * 8 * 8,
            out_features: 10,
        },
    ];
    let layers: Vec<(String, Op, Vec<usize>)> = ops
        .into_iter()
        .enumerate()
        .map(|(i, op)| (format!("l{i}"), op, vec![i]))
        .collect();
    let n = layers.len();
    let arch = Architecture::new(Shape::new(3, 32, 32), layers, n)?;
    let mut state = 0x0123_4567_u64;
    let weights = arch
        .layers()
        .iter()
        .map(|layer| {
            let (w, b) = match &layer.op {
                Op::Conv2d(c) => (c.weight_len(), c.out_channels),
                Op::Dense {
                    in_features,
                    out_features,
                } => (in_features * out_features, *out_features),
                _ => return None,
            };
            // He-style scale keeps activations in a trained network's range.
            let fan_in = (w / b) as f64;
            let scale = (2.0 / fan_in).sqrt();
            let weight = (0..w)
                .map(|_| (2.0 * splitmix(&mut state) - 1.0) * scale)
                .collect();
            let bias = (0..b)
                .map(|_| 0.01 * (2.0 * splitmix(&mut state) - 1.0))
                .collect();
            Some(LinearWeights::new(weight, bias))
        })
        .collect();
    Ok(Network::new(arch, weights)?)
}

/// The bundled models on `images` test images each, and (full size only)
/// one MiniONN inference per variant.
pub fn run(size: Size, models_dir: &Path) -> Result<Vec<Record>, Error> {
    let images = match size {
        Size::Full => 100,
        Size::Quick => 2,
    };
    let test = std::fs::read_to_string(models_dir.join("data/digits_test.csv"))?;
    let test = circa_nn::dataset::parse_labelled(&test, 64, 10)?;
    let inputs: Vec<(Option<usize>, Vec<f64>)> = test
        .into_iter()
        .take(images)
        .map(|(l, x)| (Some(l), x))
        .collect();
    let mut out = Vec::new();
    for model in ["digits_cnn", "digits_cnn_pruned", "digits_poly"] {
        let bytes = std::fs::read(models_dir.join(format!("{model}.onnx")))?;
        let network = import_onnx(&bytes)?;
        for (variant, params) in variants() {
            // The polynomial network has no ReLU: one run covers it.
            if model == "digits_poly" && variant == "exact" {
                continue;
            }
            let name = if model == "digits_poly" {
                "polynomial"
            } else {
                variant
            };
            out.push(record(
                model,
                name,
                &run_session(&network, params, &inputs)?,
                true,
            ));
        }
    }
    if size == Size::Full {
        let network = minionn_cifar10()?;
        let mut state = 42u64;
        let input: Vec<f64> = (0..3 * 32 * 32).map(|_| splitmix(&mut state)).collect();
        for (variant, params) in variants() {
            let t = run_session(&network, params, &[(None, input.clone())])?;
            out.push(record("minionn_cifar10", variant, &t, false));
        }
    }
    Ok(out)
}
