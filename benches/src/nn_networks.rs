//! The CIFAR-shaped benchmark networks of `circa-bench nn`, with random weights: MiniONN
//! (Delphi's CIFAR-10 network), ResNet-32 (CIFAR-100), ResNet-18 and VGG-16 (CIFAR-10).
//! Only the shapes matter for the cost of a private inference (and the weights' bit width,
//! which is public); the weights are deterministic (splitmix) and scaled so that activations
//! keep a trained network's range at `f = 10` on the 41-bit prime.

use crate::Error;
use circa_nn::engine::{Kind, Plan, PlanParams};
use circa_nn::model::{
    Activation, Architecture, Conv2d, LinearWeights, Network, Op, Shape, TensorId, Window2d,
};

/// Names accepted by [`by_name`] (and `circa-bench nn --network`).
pub const CIFAR_NETWORKS: [&str; 4] = [
    "minionn_cifar10",
    "resnet32_cifar100",
    "resnet18_cifar10",
    "vgg16_cifar10",
];

/// The benchmark network called `name` (one of [`CIFAR_NETWORKS`], or the short forms
/// `minionn`, `resnet32`, `resnet18`, `vgg16`), `None` for another name.
pub fn by_name(name: &str) -> Option<Result<Network, Error>> {
    Some(match name {
        "minionn_cifar10" | "minionn" => minionn_cifar10(),
        "resnet32_cifar100" | "resnet32" => resnet32_cifar100(),
        "resnet18_cifar10" | "resnet18" => resnet18_cifar10(),
        "vgg16_cifar10" | "vgg16" => vgg16_cifar10(),
        _ => return None,
    })
}

/// The canonical name of a benchmark network (`resnet32` -> `resnet32_cifar100`).
pub fn canonical_name(name: &str) -> Option<&'static str> {
    CIFAR_NETWORKS
        .iter()
        .copied()
        .find(|n| *n == name || n.split('_').next() == Some(name))
}

/// A tiny deterministic generator for benchmark weights and inputs (not for secrets):
/// splitmix64, mapped to `[0, 1)`.
pub fn splitmix(state: &mut u64) -> f64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
}

/// A deterministic CIFAR-shaped input (`3 x 32 x 32`, values in `[0, 1)`).
pub fn cifar_input(seed: u64) -> Vec<f64> {
    let mut state = seed;
    (0..3 * 32 * 32).map(|_| splitmix(&mut state)).collect()
}

/// Multiply-accumulates of the network's linear layers (convolutions with padding counted,
/// as the correlations compute them, and dense layers), as the engine's plan counts them.
pub fn linear_macs(network: &Network, params: PlanParams) -> Result<u64, Error> {
    let plan = Plan::new(network.architecture(), params)?;
    Ok(plan
        .steps()
        .iter()
        .map(|s| match &s.kind {
            Kind::Linear(l) => l.macs(),
            _ => 0,
        })
        .sum())
}

/// Layers in topological order, with a weight gain per layer (1 for the He scale).
#[derive(Default)]
struct Builder {
    layers: Vec<(String, Op, Vec<TensorId>)>,
    gains: Vec<f64>,
}

impl Builder {
    /// Appends a layer reading `inputs`; returns its output tensor's id.
    fn push(&mut self, op: Op, inputs: Vec<TensorId>, gain: f64) -> TensorId {
        let name = format!("l{}", self.layers.len());
        self.layers.push((name, op, inputs));
        self.gains.push(gain);
        self.layers.len()
    }

    /// The id of the most recent tensor (0, the input, before any layer).
    fn last(&self) -> TensorId {
        self.layers.len()
    }

    fn conv(&mut self, x: TensorId, cin: usize, cout: usize, k: usize, stride: usize) -> TensorId {
        self.conv_gain(x, cin, cout, k, stride, 1.0)
    }

    /// A `k x k` convolution with "same" padding (`k / 2`) and the given stride.
    fn conv_gain(
        &mut self,
        x: TensorId,
        cin: usize,
        cout: usize,
        k: usize,
        stride: usize,
        gain: f64,
    ) -> TensorId {
        let op = Op::Conv2d(Conv2d {
            in_channels: cin,
            out_channels: cout,
            window: Window2d::square(k, stride).with_padding(k / 2),
            groups: 1,
        });
        self.push(op, vec![x], gain)
    }

    fn relu(&mut self, x: TensorId) -> TensorId {
        self.push(Op::Activation(Activation::Relu), vec![x], 1.0)
    }

    fn op(&mut self, x: TensorId, op: Op) -> TensorId {
        self.push(op, vec![x], 1.0)
    }

    /// The network with He-scaled uniform weights: `U(-a, a)` with `a = gain sqrt(6 / fan_in)`
    /// (variance `2 gain^2 / fan_in`, which keeps the second moment through a ReLU layer),
    /// biases `U(-0.01, 0.01)`.
    fn build(self, input: Shape, seed: u64) -> Result<Network, Error> {
        let output = self.last();
        let arch = Architecture::new(input, self.layers, output)?;
        let mut state = seed;
        let weights = arch
            .layers()
            .iter()
            .zip(&self.gains)
            .map(|(layer, &gain)| {
                let (w, b) = linear_sizes(&layer.op)?;
                let bound = gain * (6.0 / (w / b) as f64).sqrt();
                Some(random_weights(&mut state, w, b, bound))
            })
            .collect();
        Ok(Network::new(arch, weights)?)
    }
}

/// `(weights, biases)` of a linear layer, `None` for other layers.
fn linear_sizes(op: &Op) -> Option<(usize, usize)> {
    match op {
        Op::Conv2d(c) => Some((c.weight_len(), c.out_channels)),
        Op::Dense {
            in_features,
            out_features,
        } => Some((in_features * out_features, *out_features)),
        _ => None,
    }
}

fn random_weights(state: &mut u64, w: usize, b: usize, bound: f64) -> LinearWeights {
    let weight = (0..w)
        .map(|_| (2.0 * splitmix(state) - 1.0) * bound)
        .collect();
    let bias = (0..b)
        .map(|_| 0.01 * (2.0 * splitmix(state) - 1.0))
        .collect();
    LinearWeights::new(weight, bias)
}

/// The MiniONN CIFAR-10 network as benchmarked by Delphi: seven convolutions
/// (3x3 "same", then two 1x1), each followed by a ReLU, two 2x2 average pools,
/// and a dense layer to 10 classes; 3x32x32 input; 173,056 ReLUs, 61.1 M MACs.
/// He-scaled random weights. (Earlier reports used `U(-a, a)` with `a = sqrt(2 / fan_in)`,
/// whose logits shrink to about 0.03; the weights' public bit width, which sets the linear
/// correlations' cost, is 10 bits either way.)
pub fn minionn_cifar10() -> Result<Network, Error> {
    let mut b = Builder::default();
    let mut x = 0;
    for (cin, cout, k, pool) in [
        (3, 64, 3, false),
        (64, 64, 3, true),
        (64, 64, 3, false),
        (64, 64, 3, true),
        (64, 64, 3, false),
        (64, 64, 1, false),
        (64, 16, 1, false),
    ] {
        x = b.conv(x, cin, cout, k, 1);
        x = b.relu(x);
        if pool {
            x = b.op(x, Op::AvgPool(Window2d::square(2, 2)));
        }
    }
    x = b.op(
        x,
        Op::Reshape {
            shape: Shape::flat(16 * 8 * 8),
        },
    );
    b.op(
        x,
        Op::Dense {
            in_features: 16 * 8 * 8,
            out_features: 10,
        },
    );
    b.build(Shape::new(3, 32, 32), 0x0123_4567)
}

/// Gain of the last convolution of every residual branch: `x + F(x)` then grows the second
/// moment by `1 + gain^2` per block instead of doubling it (random weights have no batch
/// norm to hold it), so ResNet-32's 15 blocks widen the activations by
/// `1.25^(15/2) = 5.3`, not `2^(15/2) = 181`.
const BRANCH_GAIN: f64 = 0.5;

/// A CIFAR ResNet of basic blocks: a 3x3 stem to `stages[0]` channels with ReLU, then per
/// stage `blocks` blocks `ReLU(x + conv3x3(ReLU(conv3x3(x))))`; the first block of every later
/// stage halves the plane (3x3 stride 2) and doubles the channels, its shortcut a 1x1 stride-2
/// projection (He et al.'s option B). Then global average pooling and a dense layer.
fn cifar_resnet(
    stages: &[usize],
    blocks: usize,
    classes: usize,
    seed: u64,
) -> Result<Network, Error> {
    let mut b = Builder::default();
    let mut c = stages[0];
    let stem = b.conv(0, 3, c, 3, 1);
    let mut x = b.relu(stem);
    for (i, &width) in stages.iter().enumerate() {
        for block in 0..blocks {
            let stride = if block == 0 && i > 0 { 2 } else { 1 };
            let h = b.conv(x, c, width, 3, stride);
            let h = b.relu(h);
            let h = b.conv_gain(h, width, width, 3, 1, BRANCH_GAIN);
            let shortcut = if stride == 1 && c == width {
                x
            } else {
                b.conv(x, c, width, 1, stride)
            };
            let sum = b.push(Op::Add, vec![h, shortcut], 1.0);
            x = b.relu(sum);
            c = width;
        }
    }
    x = b.op(x, Op::GlobalAvgPool);
    b.op(
        x,
        Op::Dense {
            in_features: c,
            out_features: classes,
        },
    );
    b.build(Shape::new(3, 32, 32), seed)
}

/// ResNet-32 for CIFAR-100 (3x32x32): 16/32/64 channels on 32x32/16x16/8x8 planes, 5 basic
/// blocks per stage, 1x1 stride-2 projections, global average pooling, dense to 100.
/// 31 ReLU layers, 303,104 ReLUs; 69.13 M MACs (33 convolutions, 2 of them projections).
pub fn resnet32_cifar100() -> Result<Network, Error> {
    cifar_resnet(&[16, 32, 64], 5, 100, 0x5e32_0001)
}

/// ResNet-18 for CIFAR-10 (3x32x32; 3x3 stem, no max pool): 64/128/256/512 channels on
/// 32x32 .. 4x4 planes, 2 basic blocks per stage, 1x1 stride-2 projections, global average
/// pooling, dense to 10. 557,056 ReLUs; 555.4 M MACs.
pub fn resnet18_cifar10() -> Result<Network, Error> {
    cifar_resnet(&[64, 128, 256, 512], 2, 10, 0x5e18_0001)
}

/// VGG-16 for CIFAR-10 (3x32x32): 13 3x3 "same" convolutions with ReLU in five stages of
/// 2, 2, 3, 3, 3 (64, 128, 256, 512, 512 channels), each stage closed by a 2x2 max pool
/// (the engine evaluates max pooling with 3 ReLUs per output), then dense 512 -> 512 (ReLU)
/// -> 10. ReLUs: 276,480 after the convolutions + 512 after the hidden dense layer + 93,696
/// in the max pools = 370,688; 313.5 M MACs.
pub fn vgg16_cifar10() -> Result<Network, Error> {
    let mut b = Builder::default();
    let (mut x, mut c) = (0, 3);
    for (width, convs) in [(64, 2), (128, 2), (256, 3), (512, 3), (512, 3)] {
        for _ in 0..convs {
            x = b.conv(x, c, width, 3, 1);
            x = b.relu(x);
            c = width;
        }
        x = b.op(x, Op::MaxPool(Window2d::square(2, 2)));
    }
    x = b.op(
        x,
        Op::Reshape {
            shape: Shape::flat(512),
        },
    );
    x = b.op(
        x,
        Op::Dense {
            in_features: 512,
            out_features: 512,
        },
    );
    x = b.relu(x);
    b.op(
        x,
        Op::Dense {
            in_features: 512,
            out_features: 10,
        },
    );
    b.build(Shape::new(3, 32, 32), 0x5e16_0001)
}

#[cfg(test)]
mod tests {
    use super::*;
    use circa_nn::fixed::{Fixed, defaults};
    use circa_nn::private::{Prime, PrivateParams, ServerModel};
    use circa_share::P2061584302081;

    fn params() -> PrivateParams {
        PrivateParams::exact(Prime::P41, defaults::FRAC_BITS)
    }

    /// MACs of a 3x3 "same" stride-1 convolution on an `h x h` plane.
    fn c3(cin: u64, cout: u64, h: u64) -> u64 {
        cin * cout * 9 * h * h
    }

    /// MACs of a CIFAR ResNet counted by hand: stem, blocks, stride-2 first blocks with their
    /// 1x1 projections (counted at the output plane), the dense layer.
    fn resnet_macs(stages: &[(u64, u64)], blocks: u64, classes: u64) -> u64 {
        let mut macs = c3(3, stages[0].0, 32);
        let mut cin = stages[0].0;
        for &(c, h) in stages {
            for _ in 0..blocks {
                if cin != c {
                    macs += c3(cin, c, h) + cin * c * h * h;
                } else {
                    macs += c3(c, c, h);
                }
                macs += c3(c, c, h);
                cin = c;
            }
        }
        macs + cin * classes
    }

    #[test]
    fn relu_counts_are_the_papers() {
        let counts = [
            (minionn_cifar10().unwrap(), 173_056),
            (resnet32_cifar100().unwrap(), 303_104),
            (resnet18_cifar10().unwrap(), 557_056),
            (vgg16_cifar10().unwrap(), 276_480 + 512 + 3 * 31_232),
        ];
        for (net, relus) in counts {
            assert_eq!(net.architecture().relu_count(), relus);
            let plan = Plan::new(net.architecture(), params().plan()).unwrap();
            assert_eq!(plan.relu_count(), relus);
        }
    }

    #[test]
    fn mac_counts_match_the_shapes() {
        let p = params().plan();
        let minionn = c3(3, 64, 32)
            + c3(64, 64, 32)
            + 2 * c3(64, 64, 16)
            + c3(64, 64, 8)
            + 64 * 64 * 64
            + 64 * 16 * 64
            + 1024 * 10;
        assert_eq!(
            linear_macs(&minionn_cifar10().unwrap(), p).unwrap(),
            minionn
        );
        assert_eq!(minionn, 61_089_792);
        let r32 = resnet_macs(&[(16, 32), (32, 16), (64, 8)], 5, 100);
        assert_eq!(linear_macs(&resnet32_cifar100().unwrap(), p).unwrap(), r32);
        assert_eq!(r32, 69_130_496);
        let r18 = resnet_macs(&[(64, 32), (128, 16), (256, 8), (512, 4)], 2, 10);
        assert_eq!(linear_macs(&resnet18_cifar10().unwrap(), p).unwrap(), r18);
        assert_eq!(r18, 555_422_720);
        let vgg = c3(3, 64, 32)
            + c3(64, 64, 32)
            + c3(64, 128, 16)
            + c3(128, 128, 16)
            + c3(128, 256, 8)
            + 2 * c3(256, 256, 8)
            + c3(256, 512, 4)
            + 2 * c3(512, 512, 4)
            + 3 * c3(512, 512, 2)
            + 512 * 512
            + 512 * 10;
        assert_eq!(linear_macs(&vgg16_cifar10().unwrap(), p).unwrap(), vgg);
        assert_eq!(vgg, 313_463_808);
    }

    /// The same totals as the layer lists circa-share's HE bench costs (its README's "Whole
    /// networks' linear layers" table), layer by layer.
    #[test]
    fn macs_match_circa_share_layer_lists() {
        let p = params().plan();
        let lists = circa_share::bench_support::he_benchmark_networks();
        let ours = [
            minionn_cifar10(),
            resnet32_cifar100(),
            resnet18_cifar10(),
            vgg16_cifar10(),
        ];
        assert_eq!(lists.len(), ours.len());
        for ((name, layers), net) in lists.iter().zip(ours) {
            let net = net.unwrap();
            let plan = Plan::new(net.architecture(), p).unwrap();
            let mut mine: Vec<u64> = plan
                .steps()
                .iter()
                .filter_map(|s| match &s.kind {
                    Kind::Linear(l) => Some(l.macs()),
                    _ => None,
                })
                .collect();
            let mut theirs: Vec<u64> = layers.iter().map(|s| s.macs()).collect();
            // Projections come after the block's first convolution there, after its second here.
            mine.sort_unstable();
            theirs.sort_unstable();
            assert_eq!(mine, theirs, "{name}");
        }
    }

    #[test]
    fn names_resolve() {
        for name in CIFAR_NETWORKS {
            let short = name.split('_').next().unwrap();
            assert_eq!(canonical_name(short), Some(name));
            assert_eq!(canonical_name(name), Some(name));
            assert!(by_name(short).is_some());
        }
        assert_eq!(canonical_name("resnet50"), None);
        assert!(by_name("resnet50").is_none());
        assert!(by_name("").is_none());
    }

    #[test]
    fn weights_are_deterministic_and_differ_between_networks() {
        let a = resnet32_cifar100().unwrap();
        let b = resnet32_cifar100().unwrap();
        assert!(a == b);
        let w18 = resnet18_cifar10().unwrap();
        assert_ne!(
            a.layer_weights(0).unwrap().weight()[..27],
            w18.layer_weights(0).unwrap().weight()[..27]
        );
    }

    /// The plaintext reference runs, and the fixed-point reference at `f = 10` on the 41-bit
    /// prime tracks it (no activation wraps the field, none vanishes below `2^-f`), and the
    /// server accepts the weights.
    #[test]
    fn references_agree_at_f10() {
        for name in CIFAR_NETWORKS {
            let net = by_name(name).unwrap().unwrap();
            let input = cifar_input(7);
            let plain = circa_nn::infer(&net, &input).unwrap();
            assert_eq!(plain.len(), net.architecture().output_shape().len());
            assert!(plain.iter().all(|v| v.is_finite()), "{name}");
            let fixed =
                Fixed::<P2061584302081>::new(&net, defaults::FRAC_BITS, defaults::SIGN_SCALE)
                    .unwrap();
            let got = fixed.logits(&input).unwrap();
            let norm = plain.iter().map(|v| v * v).sum::<f64>().sqrt();
            let err = plain
                .iter()
                .zip(&got)
                .map(|(a, b)| (a - b) * (a - b))
                .sum::<f64>()
                .sqrt();
            // Logits of order one (neither blown up nor vanished) ...
            assert!((0.05..1e3).contains(&norm), "{name}: |logits| = {norm}");
            // ... and the fixed-point run within a few percent of them.
            assert!(err < 0.1 * norm, "{name}: error {err} of {norm}");
            let model = ServerModel::new(&net, params()).unwrap();
            eprintln!(
                "{name}: |logits| {norm:.3}, fixed-point error {err:.2e}, weight bits {}",
                model.weight_bits()
            );
            if name == "minionn_cifar10" {
                // As with the earlier weights (so the linear layers' costs are unchanged).
                assert_eq!(model.weight_bits(), 10);
            }
        }
    }
}
