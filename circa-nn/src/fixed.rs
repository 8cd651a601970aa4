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
//! * max pooling folds each window with `max(a, b) = a + ReLU(b - a)` as the protocol does, a
//!   balanced tree over the window; the inputs are at `2^f`. With [`SignScale::Product`] the
//!   sign of `b - a` is tested on `2^f (b - a)` (a local multiplication of the shares by a public
//!   constant, so every sign test in the network is at the same scale and one `k` fits all), and
//!   the selected value is `b - a` itself (no extra rescale);
//! * a network output that is a product read by no layer stays at `2^(2f)` and is rescaled
//!   exactly at the end, as the client does after reconstructing it.
//!
//! The evaluation is the engine's walk ([`crate::engine`]) over the plan, with the weights
//! encoded once ([`EncodedNetwork`], shareable with the server's sessions).

use std::sync::Arc;

use circa_relu::reference::true_sign;
use circa_share::fixed_point::truncate_plain;
use circa_share::{Fp, Modulus};

pub use crate::engine::SignScale;
use crate::engine::reciprocal_units;
use crate::engine::reference::{self, Arith};
use crate::engine::{EncodedNetwork, PlanParams, Scale, SignSite};
use crate::error::{NnError, Result};
use crate::model::Network;

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

/// The source of each ReLU's sign bit, given the reconstructed pre-activation `y`, and of each
/// rescale.
pub trait SignOracle<M: Modulus> {
    /// `true` keeps `y`, `false` zeroes it.
    fn sign(&self, y: Fp<M>) -> bool;

    /// The ReLU variant this oracle simulates (its truncation `k` meant at the product scale,
    /// as in the plan's parameters): the plan gives every site its own variant from it. The
    /// default, for exact oracles, is the exact sign.
    fn variant(&self) -> circa_relu::Variant {
        circa_relu::Variant::ExactSign
    }

    /// The sign test of a ReLU at `site` (its variant and the scale of `y`). The default
    /// ignores the site.
    fn sign_at(&self, site: &SignSite, y: Fp<M>) -> bool {
        let _ = site;
        self.sign(y)
    }

    /// `x / 2^bits` after a product. The default is the exact `floor` of the centred value;
    /// a simulation may instead truncate a random sharing locally (with its failures).
    fn truncate(&self, x: Fp<M>, bits: u32) -> Fp<M> {
        truncate_plain(x, bits)
    }

    /// A ReLU at a site with a fused rescale: `ReLU(y) / 2^bits`. The default is the sign test
    /// then the exact `floor`; a simulation may instead run the protocol's reference on a
    /// random sharing (the fused product of truncated shares).
    fn fused_relu_at(&self, site: &SignSite, y: Fp<M>, bits: u32) -> Fp<M> {
        if self.sign_at(site, y) {
            truncate_plain(y, bits)
        } else {
            Fp::ZERO
        }
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

/// The fixed-point backend: the network encoded once ([`EncodedNetwork`]), a sign source, and
/// the engine's walk; generic over the modulus.
#[derive(Debug)]
pub struct Fixed<M: Modulus, S = ExactOracle> {
    net: Arc<EncodedNetwork<M>>,
    oracle: S,
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
        let params = PlanParams {
            frac_bits,
            sign_scale,
            variant: oracle.variant(),
            field_bits: M::BITS,
        };
        Ok(Self::from_encoded(
            Arc::new(EncodedNetwork::new(network, params)?),
            oracle,
        ))
    }

    /// The backend over a network already encoded (e.g. the one a server's sessions share).
    pub fn from_encoded(net: Arc<EncodedNetwork<M>>, oracle: S) -> Self {
        Self { net, oracle }
    }

    /// The encoded network and the sign source, taken apart.
    pub fn into_parts(self) -> (Arc<EncodedNetwork<M>>, S) {
        (self.net, self.oracle)
    }

    /// The encoded network.
    pub fn encoded(&self) -> &Arc<EncodedNetwork<M>> {
        &self.net
    }

    /// Fractional bits `f`.
    pub fn frac_bits(&self) -> u32 {
        self.net.plan().frac_bits()
    }

    /// Where the ReLU sign test runs.
    pub fn sign_scale(&self) -> SignScale {
        self.net.plan().params().sign_scale
    }

    /// The sign source.
    pub fn oracle(&self) -> &S {
        &self.oracle
    }

    /// Encodes an input (`C x H x W`) at scale `2^f`.
    pub fn encode_input(&self, input: &[f64]) -> Result<Vec<Fp<M>>> {
        let f = self.frac_bits();
        input.iter().map(|&v| encode(v, f, "input")).collect()
    }

    /// Runs the network on an encoded input; returns the output (logits) at scale `2^f`.
    pub fn run_encoded(&self, input: Vec<Fp<M>>) -> Result<Vec<Fp<M>>> {
        self.run_observed(input, None)
    }

    /// [`Fixed::run_encoded`], calling `tap` with the id and the values of the input and of
    /// every layer output (at the scale the plan gives the tensor).
    pub fn run_observed(
        &self,
        input: Vec<Fp<M>>,
        tap: Option<reference::Tap<'_, Fp<M>>>,
    ) -> Result<Vec<Fp<M>>> {
        let plan = self.net.plan();
        let mut out = reference::run_observed(plan, self, input, tap)?;
        if plan.scale(plan.output()) == Scale::Product {
            let f = self.frac_bits();
            out.iter_mut().for_each(|v| *v = truncate_plain(*v, f));
        }
        Ok(out)
    }

    /// Encodes `input`, runs the network and returns the logits at scale `2^f`.
    pub fn run(&self, input: &[f64]) -> Result<Vec<Fp<M>>> {
        self.run_encoded(self.encode_input(input)?)
    }

    /// The logits decoded to reals.
    pub fn logits(&self, input: &[f64]) -> Result<Vec<f64>> {
        let scale = (self.frac_bits() as f64).exp2();
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
}

impl<M: Modulus, S: SignOracle<M>> Arith for Fixed<M, S> {
    type V = Fp<M>;

    fn weights(&self, layer: usize) -> Option<reference::LinearParams<'_, Fp<M>>> {
        self.net.linear(layer)
    }

    fn coefficients(&self, layer: usize) -> Option<[Fp<M>; 3]> {
        self.net.constants().coefficients(layer)
    }

    fn reciprocal(&self, divisor: usize) -> Fp<M> {
        Fp::from_i64_reduced(reciprocal_units(self.frac_bits(), divisor))
    }

    fn lift(&self, site: &SignSite) -> Fp<M> {
        match site.scale {
            Scale::Product => self.net.constants().lift(),
            Scale::Single => Fp::ONE,
        }
    }

    fn two_f(&self) -> Fp<M> {
        self.net.constants().lift()
    }

    fn rescale(&self, data: &mut [Fp<M>]) {
        let f = self.frac_bits();
        data.iter_mut()
            .for_each(|v| *v = self.oracle.truncate(*v, f));
    }

    fn keep(&self, site: &SignSite, y: Fp<M>) -> bool {
        self.oracle.sign_at(site, y)
    }

    fn fused_relu(&self, site: &SignSite, y: Fp<M>) -> Fp<M> {
        self.oracle.fused_relu_at(site, y, self.frac_bits())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Activation, Architecture, LinearWeights, Op, Shape, Window2d};
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

    #[test]
    fn exact_values_and_deferral() {
        let net = tiny();
        // fc: [1.75, -0.75, -0.5, 1.0] -> relu [1.75, 0, 0, 1] -> max 1.75
        // -> 0.5 + 1.75 + 0.25 * 1.75^2 = 3.015625 = 772 / 256.
        let x = [1.5, 0.75, 1.0, 0.5];
        for (scale, deferred) in [(SignScale::Product, true), (SignScale::Rescaled, false)] {
            let fx = Fixed::<P31>::new(&net, 8, scale).expect("backend");
            let plan = fx.encoded().plan();
            assert_eq!(plan.scale(1) == Scale::Product, deferred);
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
        let mut v = [Fp::from_i64_reduced(-1), Fp::from_i64_reduced(511)];
        exact.rescale(&mut v);
        assert_eq!(v, [Fp::from_i64_reduced(-1), Fp::from_i64_reduced(1)]);
    }
}
