//! Fixed-point reference inference over the prime field `Fp<M>`: exactly what the private
//! protocol computes on the reconstructed values, with exact rescaling.
//!
//! Encodings (`f` = fractional bits):
//!
//! * inputs and weights at scale `2^f`, biases at `2^(2f)` (they are added to a product);
//! * a linear layer's output (convolution, dense, average pooling as a sum times the
//!   fixed-point reciprocal `round(2^f / area)`) is at `2^(2f)` and is rescaled to `2^f` by
//!   `floor(x / 2^f)` of the centred value. In the private run this rescale is local share
//!   truncation (`circa_share::fixed_point`), which is off by at most one unit and fails (wraps)
//!   with probability about `|x| / p`; this reference rescales exactly, without failures;
//! * ReLU keeps `y` when the sign bit says "non-negative" (a [`SignOracle`]: the exact sign
//!   here, the simulated Circa sign in [`crate::simulate`]), else 0;
//! * [`SignScale`] chooses where ReLU runs relative to the rescale: with
//!   [`SignScale::Product`] a linear layer whose output only ReLU activations consume is left
//!   at `2^(2f)`, the sign test runs on that (`ReLU(a y) = a ReLU(y)` for `a > 0`), and the
//!   ReLU output is rescaled; a given truncation `k` then cuts off a `2^f` times smaller real
//!   magnitude. With [`SignScale::Rescaled`] every product is rescaled first;
//! * polynomial `c0 + c1 x + c2 x^2` (one Beaver round: a square pair gives `x^2`): `c1`, `c2`
//!   at `2^f`, `c0` at `2^(2f)`; `q = floor(x^2 / 2^f)`, then
//!   `floor((c2 q + c1 x + c0) / 2^f)`: two rescales;
//! * max pooling folds each window with `max(a, b) = a + ReLU(b - a)`; the inputs are at
//!   `2^f`. With [`SignScale::Product`] the sign of `b - a` is tested on `2^f (b - a)` (a local
//!   multiplication of the shares by a public constant, so every sign test in the network is at
//!   the same scale and one `k` fits all), and the selected value is `b - a` itself (no extra
//!   rescale).

use circa_relu::reference::true_sign;
use circa_share::fixed_point::truncate_plain;
use circa_share::{Fp, Modulus};

use crate::error::{NnError, Result};
use crate::model::{Activation, Architecture, Network, Op, Shape};
use crate::plain::{Evaluator, LinearParams, evaluate, for_masked_channels};

/// The defaults: the 41-bit prime, `f = 10`, the sign test at the product scale `2^(2f)`,
/// `NegPass`, `k = 16` (`41 - 16 = 25` comparator bits). Field, `f` and sign scale come from the
/// plaintext simulation with local truncation wraps (`examples/accuracy_sweep.rs`, crate README
/// "Accuracy against k (simulated)": the 31-bit prime fails the 0.5-point target there); `k` and
/// the tie mode from real private runs over the whole test split with two seed sets
/// (`examples/private_accuracy.rs`, README "Accuracy against k (private runs)"): the largest `k`
/// with no prediction lost on either ReLU model in either seed set. (`k = 19`, the simulation's
/// choice, lost 3-5 of 360 images in private runs.)
pub mod defaults {
    use circa_relu::{TieMode, Variant};

    use super::SignScale;

    /// The field.
    pub type DefaultModulus = circa_share::P2061584302081;
    /// Fractional bits `f`.
    pub const FRAC_BITS: u32 = 10;
    /// Where the sign test runs.
    pub const SIGN_SCALE: SignScale = SignScale::Product;
    /// Truncation `k` of the comparator inputs.
    pub const K: u32 = 16;
    /// Tie rule.
    pub const TIE_MODE: TieMode = TieMode::NegPass;
    /// The ReLU variant.
    pub const VARIANT: Variant = Variant::TruncatedSign {
        k: K,
        mode: TIE_MODE,
    };
}

/// Where the ReLU sign test runs relative to the rescale after a linear layer (DESIGN.md §3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SignScale {
    /// On the product at scale `2^(2f)`, before rescaling (then the ReLU output is rescaled).
    Product,
    /// On the rescaled value at scale `2^f`.
    Rescaled,
}

impl SignScale {
    /// A short stable name (`"product"`, `"rescaled"`), for reports.
    pub const fn name(self) -> &'static str {
        match self {
            SignScale::Product => "product",
            SignScale::Rescaled => "rescaled",
        }
    }
}

/// The source of each ReLU's sign bit, given the reconstructed pre-activation `y`, and of each
/// rescale.
pub trait SignOracle<M: Modulus> {
    /// `true` keeps `y`, `false` zeroes it.
    fn sign(&self, y: Fp<M>) -> bool;

    /// `x / 2^bits` after a product. The default is the exact `floor` of the centred value;
    /// a simulation may instead truncate a random sharing locally (with its failures).
    fn truncate(&self, x: Fp<M>, bits: u32) -> Fp<M> {
        truncate_plain(x, bits)
    }
}

/// The exact sign: `y >= 0` as a centred value.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExactOracle;

impl<M: Modulus> SignOracle<M> for ExactOracle {
    fn sign(&self, y: Fp<M>) -> bool {
        true_sign(y)
    }
}

/// Encodes `r` as `round(r * 2^bits)`, checked against the centred range of the field.
pub fn encode<M: Modulus>(r: f64, bits: u32, what: &'static str) -> Result<Fp<M>> {
    let v = (r * (bits as f64).exp2()).round();
    // Compared as integers: `HALF as f64` rounds for primes above 2^53 (up to 2^61 for a
    // 62-bit prime, letting 2^61 through and wrapping it to a negative value). `as` saturates,
    // so values beyond i64 are out of range too.
    if !v.is_finite() || (v as i64).unsigned_abs() > M::HALF {
        return Err(NnError::FixedPointOverflow {
            what,
            value: r,
            scale_bits: bits,
        });
    }
    // |v| <= HALF < 2^61 is an exact i64.
    Ok(Fp::from_i64_reduced(v as i64))
}

/// Index of the largest centred value (the predicted class); the first one on ties.
pub fn argmax_fixed<M: Modulus>(values: &[Fp<M>]) -> Option<usize> {
    let mut best: Option<usize> = None;
    for (i, v) in values.iter().enumerate() {
        if best.is_none_or(|b| v.to_i64() > values[b].to_i64()) {
            best = Some(i);
        }
    }
    best
}

type EncodedLinear<M> = Option<(Vec<Fp<M>>, Vec<Fp<M>>)>;

/// The fixed-point backend: weights encoded once, an [`Evaluator`] for
/// [`crate::plain::evaluate`], generic over the modulus and the ReLU sign source.
#[derive(Debug)]
pub struct Fixed<M: Modulus, S = ExactOracle> {
    arch: Architecture,
    frac_bits: u32,
    sign_scale: SignScale,
    oracle: S,
    params: Vec<EncodedLinear<M>>,
    /// Per layer: `[c0 at 2^(2f), c1 at 2^f, c2 at 2^f]` of a polynomial activation.
    poly: Vec<Option<[Fp<M>; 3]>>,
    /// Per layer: its product stays at `2^(2f)` (only ReLU activations consume it).
    deferred: Vec<bool>,
    /// `2^f` (the lift of a max-pool difference to the product scale).
    lift: Fp<M>,
}

impl<M: Modulus> Fixed<M, ExactOracle> {
    /// The fixed-point reference with exact ReLU.
    pub fn new(network: &Network, frac_bits: u32, sign_scale: SignScale) -> Result<Self> {
        Self::with_oracle(network, frac_bits, sign_scale, ExactOracle)
    }
}

impl<M: Modulus, S: SignOracle<M>> Fixed<M, S> {
    /// The fixed-point backend with ReLU signs from `oracle`. Errors when `2f + 2 > bits(p)`
    /// or a weight, bias or coefficient overflows the field at its scale.
    pub fn with_oracle(
        network: &Network,
        frac_bits: u32,
        sign_scale: SignScale,
        oracle: S,
    ) -> Result<Self> {
        if 2 * frac_bits + 2 > M::BITS {
            return Err(NnError::FracBitsTooLarge {
                frac_bits,
                field_bits: M::BITS,
            });
        }
        let f = frac_bits;
        let params = network
            .weights()
            .iter()
            .map(|w| {
                w.as_ref()
                    .map(|w| {
                        let weight = w
                            .weight()
                            .iter()
                            .map(|&v| encode(v, f, "weight"))
                            .collect::<Result<Vec<_>>>()?;
                        let bias = w
                            .bias()
                            .iter()
                            .map(|&v| encode(v, 2 * f, "bias"))
                            .collect::<Result<Vec<_>>>()?;
                        Ok((weight, bias))
                    })
                    .transpose()
            })
            .collect::<Result<Vec<_>>>()?;
        let arch = network.architecture().clone();
        let poly = arch
            .layers()
            .iter()
            .map(|l| match &l.op {
                Op::Activation(Activation::Polynomial {
                    coefficients: [c0, c1, c2],
                }) => Ok(Some([
                    encode(*c0, 2 * f, "coefficient")?,
                    encode(*c1, f, "coefficient")?,
                    encode(*c2, f, "coefficient")?,
                ])),
                _ => Ok(None),
            })
            .collect::<Result<Vec<_>>>()?;
        check_reciprocals(&arch, f)?;
        let deferred = deferred_layers(&arch, sign_scale);
        Ok(Self {
            arch,
            frac_bits,
            sign_scale,
            oracle,
            params,
            poly,
            deferred,
            lift: Fp::from_u64_reduced(1u64 << f),
        })
    }

    /// Fractional bits `f`.
    pub fn frac_bits(&self) -> u32 {
        self.frac_bits
    }

    /// Where the ReLU sign test runs.
    pub fn sign_scale(&self) -> SignScale {
        self.sign_scale
    }

    /// The sign source.
    pub fn oracle(&self) -> &S {
        &self.oracle
    }

    /// Encodes an input (`C x H x W`) at scale `2^f`.
    pub fn encode_input(&self, input: &[f64]) -> Result<Vec<Fp<M>>> {
        input
            .iter()
            .map(|&v| encode(v, self.frac_bits, "input"))
            .collect()
    }

    /// Runs the network on an encoded input; returns the output (logits) at scale `2^f`.
    pub fn run_encoded(&self, input: Vec<Fp<M>>) -> Result<Vec<Fp<M>>> {
        let out = self.arch.output();
        let mut all = evaluate(&self.arch, self, input)?;
        Ok(all.swap_remove(out))
    }

    /// Encodes `input`, runs the network and returns the logits at scale `2^f`.
    pub fn run(&self, input: &[f64]) -> Result<Vec<Fp<M>>> {
        self.run_encoded(self.encode_input(input)?)
    }

    /// The logits decoded to reals.
    pub fn logits(&self, input: &[f64]) -> Result<Vec<f64>> {
        let scale = (self.frac_bits as f64).exp2();
        Ok(self
            .run(input)?
            .iter()
            .map(|v| v.to_i64() as f64 / scale)
            .collect())
    }

    /// The predicted class (`None` only for an empty output).
    pub fn predict(&self, input: &[f64]) -> Result<Option<usize>> {
        Ok(argmax_fixed(&self.run(input)?))
    }

    fn rescale(&self, x: Fp<M>) -> Fp<M> {
        self.oracle.truncate(x, self.frac_bits)
    }

    fn relu(&self, y: Fp<M>) -> Fp<M> {
        if self.oracle.sign(y) { y } else { Fp::ZERO }
    }
}

/// `round(2^f / divisor)`, the fixed-point reciprocal average pooling multiplies by.
fn reciprocal_units(frac_bits: u32, divisor: usize) -> i64 {
    ((frac_bits as f64).exp2() / divisor.max(1) as f64).round() as i64
}

/// Every average pooling's reciprocal must be within 1/8 (relative) of `1 / divisor`;
/// otherwise the layer's output is scaled wrongly (by 0 once `divisor > 2^(f+1)`).
fn check_reciprocals(arch: &Architecture, frac_bits: u32) -> Result<()> {
    for (layer, l) in arch.layers().iter().enumerate() {
        let divisor = match &l.op {
            Op::AvgPool(p) => p.area(),
            Op::GlobalAvgPool => arch.tensor_shape(l.inputs[0]).map_or(1, |s| s.spatial()),
            _ => continue,
        };
        let unit = (frac_bits as f64).exp2();
        let r = reciprocal_units(frac_bits, divisor) as f64;
        if ((r * divisor as f64 - unit) / unit).abs() > 0.125 {
            return Err(NnError::ReciprocalImprecise {
                layer,
                divisor,
                frac_bits,
            });
        }
    }
    Ok(())
}

/// Which layers' products stay at `2^(2f)`: with [`SignScale::Product`], every product layer
/// whose output is not the network output and is consumed only by ReLU activations.
fn deferred_layers(arch: &Architecture, sign_scale: SignScale) -> Vec<bool> {
    let layers = arch.layers();
    // One pass over the consumers of every tensor (scanning all layers per layer was
    // quadratic in the layer count).
    let mut consumed = vec![false; layers.len() + 1];
    let mut relu_only = vec![true; layers.len() + 1];
    for layer in layers {
        let is_relu = matches!(
            layer.op,
            Op::Activation(Activation::Relu | Activation::ChannelRelu { .. })
        );
        for &t in &layer.inputs {
            consumed[t] = true;
            relu_only[t] &= is_relu;
        }
    }
    layers
        .iter()
        .enumerate()
        .map(|(i, layer)| {
            let product = matches!(
                layer.op,
                Op::Conv2d(_) | Op::Dense { .. } | Op::AvgPool(_) | Op::GlobalAvgPool
            );
            let id = i + 1;
            sign_scale == SignScale::Product
                && product
                && arch.output() != id
                && consumed[id]
                && relu_only[id]
        })
        .collect()
}

impl<M: Modulus, S: SignOracle<M>> Evaluator for Fixed<M, S> {
    type Value = Fp<M>;

    fn linear_params(&self, layer: usize) -> Option<LinearParams<'_, Fp<M>>> {
        self.params
            .get(layer)?
            .as_ref()
            .map(|(w, b)| (w.as_slice(), b.as_slice()))
    }

    fn after_product(&self, data: &mut [Fp<M>]) {
        data.iter_mut().for_each(|v| *v = self.rescale(*v));
    }

    fn after_layer_product(&self, layer: usize, data: &mut [Fp<M>]) {
        if !self.deferred.get(layer).copied().unwrap_or(false) {
            self.after_product(data);
        }
    }

    fn reciprocal(&self, divisor: usize) -> Fp<M> {
        Fp::from_i64_reduced(reciprocal_units(self.frac_bits, divisor))
    }

    fn activation(&self, act: &Activation, shape: Shape, data: &mut [Fp<M>]) {
        // Input at 2^f (no layer index: nothing deferred).
        self.apply(act, shape, data, false, None);
    }

    fn layer_activation(&self, layer: usize, act: &Activation, shape: Shape, data: &mut [Fp<M>]) {
        let input = self.arch.layers().get(layer).map(|l| l.inputs[0]);
        // Tensor id t > 0 is the output of layer t - 1.
        let at_product = input.is_some_and(|t| t > 0 && self.deferred[t - 1]);
        self.apply(
            act,
            shape,
            data,
            at_product,
            self.poly.get(layer).copied().flatten(),
        );
    }

    fn max(&self, a: Fp<M>, b: Fp<M>) -> Fp<M> {
        let d = b - a;
        let probe = match self.sign_scale {
            SignScale::Product => d * self.lift,
            SignScale::Rescaled => d,
        };
        if self.oracle.sign(probe) { a + d } else { a }
    }
}

impl<M: Modulus, S: SignOracle<M>> Fixed<M, S> {
    /// Applies an activation; `at_product`: the input is at `2^(2f)` (a deferred product).
    fn apply(
        &self,
        act: &Activation,
        shape: Shape,
        data: &mut [Fp<M>],
        at_product: bool,
        poly: Option<[Fp<M>; 3]>,
    ) {
        match act {
            Activation::Relu => data.iter_mut().for_each(|v| *v = self.relu(*v)),
            Activation::ChannelRelu { mask } => {
                for_masked_channels(mask, shape, data, |v| *v = self.relu(*v))
            }
            Activation::Polynomial { coefficients } => {
                let [c0, c1, c2] = match poly {
                    Some(p) => p,
                    // Only reachable through the index-free `activation`: encode on the fly
                    // (coefficients were range-checked when the backend was built).
                    None => {
                        let f = self.frac_bits;
                        let e = |v: f64, bits| encode(v, bits, "coefficient").unwrap_or(Fp::ZERO);
                        [
                            e(coefficients[0], 2 * f),
                            e(coefficients[1], f),
                            e(coefficients[2], f),
                        ]
                    }
                };
                for v in data.iter_mut() {
                    let x = *v;
                    let q = self.rescale(x * x);
                    *v = self.rescale(c2 * q + c1 * x + c0);
                }
            }
            Activation::Identity => {}
        }
        if at_product {
            self.after_product(data);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{LinearWeights, Window2d};
    use circa_share::P2138816513 as P31;

    /// Dense 4->4 -> ReLU -> reshape 2x2 -> 2x2 max pool -> polynomial; every intermediate is
    /// exact at f = 8, so the fixed-point output is exactly the real one.
    fn tiny() -> Network {
        let arch = Architecture::new(
            Shape::flat(4),
            vec![
                (
                    "fc".into(),
                    Op::Dense {
                        in_features: 4,
                        out_features: 4,
                    },
                    vec![0],
                ),
                ("relu".into(), Op::Activation(Activation::Relu), vec![1]),
                (
                    "reshape".into(),
                    Op::Reshape {
                        shape: Shape::new(1, 2, 2),
                    },
                    vec![2],
                ),
                ("pool".into(), Op::MaxPool(Window2d::square(2, 2)), vec![3]),
                (
                    "poly".into(),
                    Op::Activation(Activation::Polynomial {
                        coefficients: [0.5, 1.0, 0.25],
                    }),
                    vec![4],
                ),
            ],
            5,
        )
        .expect("architecture");
        #[rustfmt::skip]
        let w = vec![
            1.0, 0.0, 0.0, 0.0,
            0.0, -1.0, 0.0, 0.0,
            0.0, 0.0, 0.5, 0.0,
            0.0, 0.0, 0.0, 2.0,
        ];
        let weights = vec![
            Some(LinearWeights::new(w, vec![0.25, 0.0, -1.0, 0.0])),
            None,
            None,
            None,
            None,
        ];
        Network::new(arch, weights).expect("network")
    }

    /// The largest prime below 2^62: `HALF = 2^61 - 29`, which `as f64` rounds up to 2^61.
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
    struct P62;
    impl Modulus for P62 {
        const P: u64 = (1 << 62) - 57;
        const NAME: &'static str = "2^62-57";
    }

    #[test]
    fn encode_range_is_exact_for_wide_primes() {
        let two61 = 2f64.powi(61);
        assert!(matches!(
            encode::<P62>(two61, 0, "input"),
            Err(NnError::FixedPointOverflow { what: "input", .. })
        ));
        assert!(encode::<P62>(-two61, 0, "input").is_err());
        let near = two61 - 1024.0;
        let e = encode::<P62>(near, 0, "input").expect("in range");
        assert_eq!(e.to_i64(), near as i64);
        assert_eq!(
            encode::<P62>(-near, 0, "input").expect("in range").to_i64(),
            -(near as i64)
        );
        assert!(encode::<P62>(f64::MAX, 0, "input").is_err());
        assert!(encode::<P62>(f64::NAN, 0, "input").is_err());
    }

    /// Deferral rule on a DAG: a product stays at `2^(2f)` only when it is consumed, only by
    /// ReLU activations, and is not the network output.
    #[test]
    fn deferral_follows_every_consumer() {
        let dense = |n| Op::Dense {
            in_features: n,
            out_features: n,
        };
        let relu = Op::Activation(Activation::Relu);
        let l = |op: &Op, inputs: Vec<usize>| ("l".to_owned(), op.clone(), inputs);
        let arch = Architecture::new(
            Shape::flat(2),
            vec![
                l(&dense(2), vec![0]),   // 1: two ReLU consumers -> deferred
                l(&relu, vec![1]),       // 2
                l(&relu, vec![1]),       // 3
                l(&dense(2), vec![2]),   // 4: a ReLU and an Add consume it -> not deferred
                l(&relu, vec![4]),       // 5
                l(&Op::Add, vec![4, 5]), // 6
                l(&dense(2), vec![3]),   // 7: unconsumed -> not deferred
                l(&dense(2), vec![6]),   // 8: the network output -> not deferred
            ],
            8,
        )
        .expect("architecture");
        let want = [true, false, false, false, false, false, false, false];
        assert_eq!(deferred_layers(&arch, SignScale::Product), want);
        assert_eq!(deferred_layers(&arch, SignScale::Rescaled), [false; 8]);
    }

    #[test]
    fn exact_values_and_deferral() {
        let net = tiny();
        // fc: [1.75, -0.75, -0.5, 1.0] -> relu [1.75, 0, 0, 1] -> max 1.75
        // -> 0.5 + 1.75 + 0.25 * 1.75^2 = 3.015625 = 772 / 256.
        let x = [1.5, 0.75, 1.0, 0.5];
        for (scale, deferred) in [(SignScale::Product, true), (SignScale::Rescaled, false)] {
            let fx = Fixed::<P31>::new(&net, 8, scale).expect("backend");
            assert_eq!(fx.deferred, vec![deferred, false, false, false, false]);
            let out = fx.run(&x).expect("run");
            assert_eq!(out, vec![Fp::from_i64_reduced(772)], "{scale:?}");
        }
    }

    #[test]
    fn rescale_is_floor_and_relu_uses_the_oracle() {
        struct Never;
        impl<M: Modulus> SignOracle<M> for Never {
            fn sign(&self, _y: Fp<M>) -> bool {
                false
            }
        }
        let net = tiny();
        let fx = Fixed::<P31, _>::with_oracle(&net, 8, SignScale::Product, Never).expect("backend");
        // Every ReLU and max zeroes/keeps a: max pool output 0 -> polynomial gives c0 = 0.5.
        assert_eq!(
            fx.run(&[1.5, 0.75, 1.0, 0.5]).expect("run"),
            vec![Fp::from_i64_reduced(128)]
        );
        let exact = Fixed::<P31>::new(&net, 8, SignScale::Rescaled).expect("backend");
        assert_eq!(
            exact.rescale(Fp::from_i64_reduced(-1)),
            Fp::from_i64_reduced(-1)
        );
        assert_eq!(
            exact.rescale(Fp::from_i64_reduced(511)),
            Fp::from_i64_reduced(1)
        );
    }
}
