//! The network IR: validation, the client's architecture encoding (round trip, malformed and
//! hostile bytes), weights checks, and the generic kernels on a second number type.

use circa_nn::kernels;
use circa_nn::{
    Activation, Architecture, Conv2d, LinearWeights, Network, NnError, Op, Shape, Window2d, infer,
};
use proptest::prelude::*;

fn conv(in_c: usize, out_c: usize, k: usize, pad: usize, stride: usize, groups: usize) -> Conv2d {
    Conv2d {
        in_channels: in_c,
        out_channels: out_c,
        window: Window2d::square(k, stride).with_padding(pad),
        groups,
    }
}

/// A residual network using every layer kind.
fn sample_architecture() -> Architecture {
    let l = |name: &str, op: Op, inputs: Vec<usize>| (name.to_owned(), op, inputs);
    Architecture::new(
        Shape::new(2, 6, 6),
        vec![
            l("c1", Op::Conv2d(conv(2, 4, 3, 1, 1, 2)), vec![0]),
            l("r1", Op::Activation(Activation::Relu), vec![1]),
            l(
                "cr",
                Op::Activation(Activation::ChannelRelu {
                    mask: vec![true, false, false, true],
                }),
                vec![2],
            ),
            l("add", Op::Add, vec![2, 3]),
            l("mp", Op::MaxPool(Window2d::square(2, 2)), vec![4]),
            l(
                "ap",
                Op::AvgPool(Window2d {
                    pad_top: 1,
                    pad_left: 1,
                    pad_bottom: 1,
                    pad_right: 1,
                    ..Window2d::square(3, 1)
                }),
                vec![5],
            ),
            l(
                "poly",
                Op::Activation(Activation::Polynomial {
                    coefficients: [0.5, 1.0, 0.25],
                }),
                vec![6],
            ),
            l("gap", Op::GlobalAvgPool, vec![7]),
            l("id", Op::Activation(Activation::Identity), vec![8]),
            l(
                "flat",
                Op::Reshape {
                    shape: Shape::flat(4),
                },
                vec![9],
            ),
            l(
                "fc",
                Op::Dense {
                    in_features: 4,
                    out_features: 3,
                },
                vec![10],
            ),
        ],
        11,
    )
    .expect("valid architecture")
}

#[test]
fn shapes_are_inferred() {
    let a = sample_architecture();
    let shapes: Vec<Shape> = a.layers().iter().map(|l| l.output_shape()).collect();
    assert_eq!(shapes[0], Shape::new(4, 6, 6));
    assert_eq!(shapes[4], Shape::new(4, 3, 3));
    assert_eq!(shapes[5], Shape::new(4, 3, 3));
    assert_eq!(shapes[7], Shape::flat(4));
    assert_eq!(a.output_shape(), Shape::flat(3));
    // ReLU 144 + ChannelRelu 2 of 4 channels x 36 + max pool 36 outputs x 3
    assert_eq!(a.relu_count(), 144 + 72 + 108);
    assert_eq!(a.polynomial_count(), 36);
}

#[test]
fn invalid_architectures_are_rejected() {
    let s = Shape::new(3, 8, 8);
    let one = |op: Op, inputs: Vec<usize>| Architecture::new(s, vec![("x".into(), op, inputs)], 1);
    assert!(matches!(
        one(Op::Activation(Activation::Relu), vec![1]),
        Err(NnError::InvalidTensorId {
            layer: 0,
            tensor: 1
        })
    ));
    assert!(matches!(
        one(Op::Conv2d(conv(4, 4, 3, 0, 1, 1)), vec![0]),
        Err(NnError::InvalidLayer { .. })
    ));
    assert!(matches!(
        one(Op::Conv2d(conv(3, 4, 3, 0, 0, 1)), vec![0]),
        Err(NnError::InvalidLayer { .. })
    ));
    assert!(matches!(
        one(Op::Conv2d(conv(3, 4, 3, 0, 1, 2)), vec![0]),
        Err(NnError::InvalidLayer { .. })
    ));
    assert!(matches!(
        one(Op::Conv2d(conv(3, 4, 9, 0, 1, 1)), vec![0]),
        Err(NnError::InvalidLayer { .. })
    ));
    assert!(matches!(
        one(
            Op::Dense {
                in_features: 10,
                out_features: 2
            },
            vec![0]
        ),
        Err(NnError::InvalidLayer { .. })
    ));
    assert!(matches!(
        one(
            Op::MaxPool(Window2d {
                pad_top: 1,
                ..Window2d::square(3, 1)
            }),
            vec![0]
        ),
        Err(NnError::InvalidLayer { .. })
    ));
    assert!(matches!(
        one(
            Op::Activation(Activation::ChannelRelu { mask: vec![true] }),
            vec![0]
        ),
        Err(NnError::InvalidLayer { .. })
    ));
    assert!(matches!(
        one(
            Op::Activation(Activation::Polynomial {
                coefficients: [f64::NAN, 0.0, 0.0]
            }),
            vec![0]
        ),
        Err(NnError::InvalidLayer { .. })
    ));
    assert!(matches!(
        one(Op::Add, vec![0]),
        Err(NnError::InvalidLayer { .. })
    ));
    assert!(matches!(
        one(
            Op::Reshape {
                shape: Shape::flat(5)
            },
            vec![0]
        ),
        Err(NnError::InvalidLayer { .. })
    ));
    assert!(matches!(
        Architecture::new(s, vec![], 1),
        Err(NnError::InvalidTensorId { .. })
    ));
}

#[test]
fn network_checks_weights() {
    let a = sample_architecture();
    let n = a.layers().len();
    let mut w: Vec<Option<LinearWeights>> = vec![None; n];
    w[0] = Some(LinearWeights::new(vec![0.1; 4 * 9], vec![0.0; 4]));
    w[10] = Some(LinearWeights::new(vec![0.5; 12], vec![1.0; 3]));
    assert!(Network::new(a.clone(), w.clone()).is_ok());
    let mut bad = w.clone();
    bad[0] = Some(LinearWeights::new(vec![0.1; 4 * 9 + 1], vec![0.0; 4]));
    assert!(matches!(
        Network::new(a.clone(), bad),
        Err(NnError::WeightLengthMismatch {
            layer: 0,
            what: "weight",
            ..
        })
    ));
    let mut bad = w.clone();
    bad[10] = Some(LinearWeights::new(vec![0.5; 12], vec![1.0; 2]));
    assert!(matches!(
        Network::new(a.clone(), bad),
        Err(NnError::WeightLengthMismatch { what: "bias", .. })
    ));
    let mut bad = w.clone();
    bad[1] = Some(LinearWeights::new(vec![], vec![]));
    assert!(matches!(
        Network::new(a.clone(), bad),
        Err(NnError::WeightKindMismatch { layer: 1 })
    ));
    let mut bad = w.clone();
    bad[10] = Some(LinearWeights::new(vec![f64::INFINITY; 12], vec![1.0; 3]));
    assert!(matches!(
        Network::new(a.clone(), bad),
        Err(NnError::NonFiniteParameter { layer: 10 })
    ));
    // Debug never prints weights.
    let dbg = format!("{:?}", w[10]);
    assert!(dbg.contains("redacted") && !dbg.contains("0.5"), "{dbg}");
    let net = Network::new(a, w).expect("network");
    assert!(matches!(
        infer(&net, &[0.0; 10]),
        Err(NnError::InputLengthMismatch {
            expected: 72,
            actual: 10
        })
    ));
    let out = infer(&net, &[0.25; 72]).expect("inference");
    assert_eq!(out.len(), 3);
}

#[test]
fn architecture_bytes_round_trip() {
    let a = sample_architecture();
    let bytes = a.to_bytes();
    assert_eq!(Architecture::from_bytes(&bytes), Ok(a));
}

#[test]
fn architecture_bytes_malformed() {
    let bytes = sample_architecture().to_bytes();
    for len in 0..bytes.len() {
        assert!(
            Architecture::from_bytes(&bytes[..len]).is_err(),
            "prefix {len}"
        );
    }
    let mut extra = bytes.clone();
    extra.push(0);
    assert_eq!(
        Architecture::from_bytes(&extra),
        Err(NnError::TrailingBytes { extra: 1 })
    );
    // Huge layer count: rejected before allocating.
    let mut huge = bytes[..12].to_vec();
    huge.extend(u32::MAX.to_le_bytes());
    assert!(matches!(
        Architecture::from_bytes(&huge),
        Err(NnError::LimitExceeded { what: "layers", .. })
    ));
    // A plausible count with too few bytes behind it.
    let mut short = bytes[..12].to_vec();
    short.extend(1000u32.to_le_bytes());
    assert!(matches!(
        Architecture::from_bytes(&short),
        Err(NnError::Truncated { .. })
    ));
    // Huge input dimension.
    let mut dims = bytes.clone();
    dims[0..4].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(matches!(
        Architecture::from_bytes(&dims),
        Err(NnError::LimitExceeded { .. })
    ));
    // Dimensions each within the bound whose product is too large.
    let mut prod = bytes.clone();
    for i in 0..3 {
        let at = 4 * i;
        prod[at..at + 4].copy_from_slice(&(1u32 << 20).to_le_bytes());
    }
    assert!(Architecture::from_bytes(&prod).is_err());
    // Unknown layer tag (first layer: name "c1" at 16..20, tag at 20).
    let mut tag = bytes.clone();
    assert_eq!(tag[20], 1);
    tag[20] = 99;
    assert!(matches!(
        Architecture::from_bytes(&tag),
        Err(NnError::InvalidTag {
            what: "layer",
            tag: 99,
            ..
        })
    ));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn architecture_random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = Architecture::from_bytes(&bytes);
    }

    #[test]
    fn architecture_corrupted_bytes_never_panic(pos in 0usize..1000, val in any::<u8>()) {
        let mut bytes = sample_architecture().to_bytes();
        let p = pos % bytes.len();
        bytes[p] = val;
        if let Ok(a) = Architecture::from_bytes(&bytes) {
            // Anything accepted is a valid architecture that re-encodes to the same bytes.
            prop_assert_eq!(a.to_bytes(), bytes);
        }
    }
}

/// Field elements: the second backend of the generic kernels, and additive shares.
type F = circa_share::Fp<circa_share::P2061584302081>;

proptest! {
    #[test]
    fn kernels_are_linear_over_additive_shares(
        x in proptest::collection::vec(-8i64..8, 2 * 5 * 5),
        r in proptest::collection::vec(any::<u64>(), 2 * 5 * 5),
        w in proptest::collection::vec(-4i64..4, 6 * 9),
    ) {
        let c = conv(2, 6, 3, 1, 2, 2);
        let shape = Shape::new(2, 5, 5);
        let z = |v: &[i64]| v.iter().map(|&a| F::from_i64_reduced(a)).collect::<Vec<_>>();
        let (xz, wz) = (z(&x), z(&w));
        // shares: x = (x - r) + r
        let s1: Vec<F> = r.iter().map(|&b| F::from_u64_reduced(b)).collect();
        let s0: Vec<F> = xz.iter().zip(&s1).map(|(&a, &b)| a - b).collect();
        let whole = kernels::conv2d(&c, shape, &xz, &wz).unwrap();
        let joined = kernels::add(
            &kernels::conv2d(&c, shape, &s0, &wz).unwrap(),
            &kernels::conv2d(&c, shape, &s1, &wz).unwrap(),
        );
        prop_assert_eq!(&whole, &joined);
        // and the integer result equals the f64 one
        let xf: Vec<f64> = x.iter().map(|&a| a as f64).collect();
        let wf: Vec<f64> = w.iter().map(|&a| a as f64).collect();
        let f = kernels::conv2d(&c, shape, &xf, &wf).unwrap();
        for (a, b) in whole.iter().zip(&f) {
            prop_assert_eq!(a.to_i64() as f64, *b);
        }
        let p = Window2d::square(2, 1);
        let sp = kernels::add(
            &kernels::sum_pool(&p, shape, &s0).unwrap(),
            &kernels::sum_pool(&p, shape, &s1).unwrap(),
        );
        prop_assert_eq!(sp, kernels::sum_pool(&p, shape, &xz).unwrap());
    }
}

/// The architectures of the real bundled models, as the server sends them.
fn bundled_architecture_bytes() -> &'static [Vec<u8>] {
    static BYTES: std::sync::OnceLock<Vec<Vec<u8>>> = std::sync::OnceLock::new();
    BYTES.get_or_init(|| {
        [
            "digits_cnn.onnx",
            "digits_cnn_pruned.onnx",
            "digits_poly.onnx",
        ]
        .iter()
        .map(|name| {
            let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../models")
                .join(name);
            let bytes = std::fs::read(&path).expect("bundled model");
            circa_nn::import_onnx(&bytes)
                .expect("bundled model imports")
                .architecture()
                .to_bytes()
        })
        .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    /// The client decodes the architecture the server sends: byte edits of the real models'
    /// architectures (overwrites, insertions, deletions, truncation) never panic, and whatever
    /// decodes is canonical (re-encodes to the same bytes).
    #[test]
    fn mutated_bundled_architectures_never_panic(
        model in 0usize..3,
        edits in proptest::collection::vec((0u8..4, any::<usize>(), any::<u8>()), 1..6),
    ) {
        let mut bytes = bundled_architecture_bytes()[model].clone();
        for &(kind, pos, val) in &edits {
            if bytes.is_empty() {
                break;
            }
            let n = bytes.len();
            match kind {
                0 => bytes[pos % n] = val,
                1 => bytes.insert(pos % (n + 1), val),
                2 => {
                    bytes.remove(pos % n);
                }
                _ => bytes.truncate(pos % n),
            }
        }
        if let Ok(a) = Architecture::from_bytes(&bytes) {
            prop_assert_eq!(a.to_bytes(), bytes);
        }
    }
}

/// Work and memory bounds a tiny architecture description could otherwise blow up: each is
/// rejected just past its limit and accepted just inside it.
#[test]
fn work_and_memory_limits() {
    let layer = |s: Shape, op: Op| Architecture::new(s, vec![("x".into(), op, vec![0])], 1);
    let reason = |r: circa_nn::Result<Architecture>| match r {
        Err(NnError::InvalidLayer { reason, .. }) => reason,
        other => panic!("expected InvalidLayer, got {other:?}"),
    };
    // Max pooling: output elements x window area bounds the index table and the ReLU count.
    let big = Shape::new(4, 1024, 1024);
    assert!(layer(big, Op::MaxPool(Window2d::square(2, 1))).is_ok()); // 4 * 1023^2 * 4 < 2^24
    assert_eq!(
        reason(layer(big, Op::MaxPool(Window2d::square(3, 1)))),
        "pooling windows too large for the output size"
    );
    // Average pooling of a 4096 x 4096 input with a 2048-wide window at stride 1: 2^44 adds.
    let huge = Shape::new(1, 4096, 4096);
    assert_eq!(
        reason(layer(huge, Op::AvgPool(Window2d::square(2048, 1)))),
        "pooling windows too large for the output size"
    );
    assert!(layer(huge, Op::AvgPool(Window2d::square(2048, 2048))).is_ok());
    // Convolution: output positions x weights.
    let wide = Shape::new(64, 512, 512);
    assert_eq!(
        reason(layer(wide, Op::Conv2d(conv(64, 64, 3, 1, 1, 1)))),
        "too many multiply-accumulates"
    );
    assert!(layer(wide, Op::Conv2d(conv(64, 64, 3, 1, 2, 1))).is_ok());
    // Every parameter fits the client encoding (a stride of 2^25 used to be accepted here and
    // then refused by from_bytes).
    let s = Shape::new(1, 4, 4);
    assert_eq!(
        reason(layer(s, Op::Conv2d(conv(1, 1, 1, 0, 1 << 25, 1)))),
        "a parameter exceeds MAX_DIM"
    );
    let a = layer(s, Op::Conv2d(conv(1, 1, 1, 0, 1 << 24, 1))).expect("at MAX_DIM");
    assert_eq!(Architecture::from_bytes(&a.to_bytes()).expect("decodes"), a);
    // All tensors together (a reference run keeps every one): 4 ReLUs on a 2^24 input fit
    // (5 x 2^24 > 2^26 does not).
    let relus = |n: usize| {
        let layers = (0..n)
            .map(|i| ("r".to_owned(), Op::Activation(Activation::Relu), vec![i]))
            .collect();
        Architecture::new(huge, layers, n)
    };
    assert!(relus(3).is_ok());
    assert!(matches!(
        relus(4),
        Err(NnError::LimitExceeded {
            what: "elements over all tensors",
            ..
        })
    ));
}

/// The engine's walk takes any caller-written plaintext backend (`engine::reference::Arith`):
/// parameter lists of the wrong length are a typed error, not an index panic in the kernels.
#[test]
fn walk_checks_backend_parameter_lengths() {
    use circa_nn::engine::reference::{Arith, F64, run};
    use circa_nn::engine::{Plan, PlanParams, SignScale, SignSite};
    struct Short<'n> {
        inner: F64<'n>,
        cut: usize,
        bias_cut: usize,
    }
    impl Arith for Short<'_> {
        type V = f64;
        fn weights(
            &self,
            layer: usize,
        ) -> Option<circa_nn::engine::reference::LinearParams<'_, f64>> {
            let (w, b) = self.inner.weights(layer)?;
            Some((&w[..w.len() - self.cut], &b[..b.len() - self.bias_cut]))
        }
        fn coefficients(&self, layer: usize) -> Option<[f64; 3]> {
            self.inner.coefficients(layer)
        }
        fn reciprocal(&self, divisor: usize) -> f64 {
            self.inner.reciprocal(divisor)
        }
        fn lift(&self, site: &SignSite) -> f64 {
            self.inner.lift(site)
        }
        fn two_f(&self) -> f64 {
            self.inner.two_f()
        }
        fn rescale(&self, data: &mut [f64]) {
            self.inner.rescale(data)
        }
        fn keep(&self, site: &SignSite, y: f64) -> bool {
            self.inner.keep(site, y)
        }
    }
    let a = sample_architecture();
    let mut w: Vec<Option<LinearWeights>> = vec![None; a.layers().len()];
    w[0] = Some(LinearWeights::new(vec![0.1; 4 * 9], vec![0.0; 4]));
    w[10] = Some(LinearWeights::new(vec![0.5; 12], vec![1.0; 3]));
    let net = Network::new(a.clone(), w).expect("network");
    let plan = Plan::new(
        &a,
        PlanParams {
            frac_bits: 0,
            sign_scale: SignScale::Product,
            variant: circa_relu::Variant::ExactSign,
            field_bits: 64,
        },
    )
    .expect("plan");
    let input = vec![1.0; a.input_shape().len()];
    let go = |cut, bias_cut| {
        let eval = Short {
            inner: F64::new(&net),
            cut,
            bias_cut,
        };
        run(&plan, &eval, input.clone())
    };
    assert_eq!(
        go(0, 0).expect("full parameters"),
        infer(&net, &input).expect("infer")
    );
    assert!(matches!(
        go(1, 0),
        Err(NnError::KernelRefused { layer: 0, .. })
    ));
    assert!(matches!(
        go(0, 1),
        Err(NnError::WeightLengthMismatch {
            layer: 0,
            what: "bias",
            ..
        })
    ));
}

/// Layer names come from the model file (or from the server): the summary never passes their
/// control characters (terminal escape sequences, newlines) through.
#[test]
fn summary_strips_control_characters_from_names() {
    let arch = Architecture::new(
        Shape::flat(2),
        vec![(
            "evil\x1b[2J\nname".to_owned(),
            Op::Activation(Activation::Relu),
            vec![0],
        )],
        1,
    )
    .expect("architecture");
    let net = Network::new(arch, vec![None]).expect("network");
    let text = circa_nn::summary(&net);
    assert!(!text.contains('\x1b'), "{text:?}");
    assert!(text.contains("evil?[2J?name"), "{text}");
}
