//! The plaintext backends of the walk: any number system that implements [`Arith`] runs the
//! network through the same plan and the same per-layer semantics as the private engine (so
//! the fixed-point reference computes exactly what the protocol computes on the reconstructed
//! values, max-pool tree order included). [`F64`] is the `f64` oracle; the fixed-point
//! reference and the Circa fault simulation are `crate::Fixed` with a sign oracle.

use super::layers::Kind;
use super::plan::{Plan, Remask, SignSite};
use super::walk::{Phase, walk};
use crate::error::{NnError, Result};
use crate::kernels::Ring;
use crate::model::Network;

/// Weights and bias of one linear layer in a backend's representation.
pub type LinearParams<'a, V> = (&'a [V], &'a [V]);

/// A plaintext number system for the walk.
pub trait Arith {
    /// The number type.
    type V: Ring;

    /// Weights and bias of linear layer `layer` in this representation (`None`: the layer has
    /// none). The bias is added to the product (at the product's scale).
    fn weights(&self, layer: usize) -> Option<LinearParams<'_, Self::V>>;

    /// `[c0, c1, c2]` of polynomial layer `layer` (`c0` at the product's scale).
    fn coefficients(&self, layer: usize) -> Option<[Self::V; 3]>;

    /// The public constant `1 / divisor` (average pooling).
    fn reciprocal(&self, divisor: usize) -> Self::V;

    /// The factor a max-pool difference is multiplied by before its sign test at `site`
    /// (`2^f` when the site is at the product scale in fixed point, else one).
    fn lift(&self, site: &SignSite) -> Self::V;

    /// `2^f`, the factor a lifted add multiplies an input at the single scale by (one in
    /// `f64`).
    fn two_f(&self) -> Self::V;

    /// Brings products back to the single scale (`floor(x / 2^f)` in fixed point; nothing in
    /// `f64`).
    fn rescale(&self, data: &mut [Self::V]);

    /// The sign test of a ReLU at `site`: `true` keeps `y`, `false` zeroes it.
    fn keep(&self, site: &SignSite, y: Self::V) -> bool;

    /// A ReLU at a site whose rescale is fused ([`SignSite::fused`]): `ReLU(y)` brought back to
    /// the single scale. The default keeps or zeroes `y` by [`Arith::keep`], then rescales.
    fn fused_relu(&self, site: &SignSite, y: Self::V) -> Self::V {
        if self.keep(site, y) {
            let mut v = [y];
            self.rescale(&mut v);
            v[0]
        } else {
            Self::V::default()
        }
    }
}

/// What a plaintext walk calls with each layer's output: the tensor id and its values.
pub type Tap<'t, V> = &'t mut dyn FnMut(usize, &[V]);

struct Plain<'a, 't, A: Arith> {
    arith: &'a A,
    input: Option<Vec<A::V>>,
    tap: Option<Tap<'t, A::V>>,
}

impl<A: Arith> Phase for Plain<'_, '_, A> {
    type Tensor = Vec<A::V>;
    type Error = NnError;

    fn input(&mut self) -> Result<Vec<A::V>> {
        self.input.take().ok_or(NnError::InputLengthMismatch {
            expected: 0,
            actual: 0,
        })
    }

    fn remask(&mut self, _: usize, _: Remask, _: usize, _: &mut Vec<A::V>) -> Result<()> {
        // Masks are a matter of the private backends only.
        Ok(())
    }

    fn layer(&mut self, layer: usize, kind: &Kind, inputs: &[&Vec<A::V>]) -> Result<Vec<A::V>> {
        let views: Vec<&[A::V]> = inputs.iter().map(|v| v.as_slice()).collect();
        kind.plain(self.arith, layer, &views)
    }

    fn observe(&mut self, layer: usize, out: &Vec<A::V>) {
        if let Some(tap) = self.tap.as_mut() {
            tap(layer + 1, out);
        }
    }
}

/// Runs `plan` on `input` (already in `arith`'s representation) and returns the output tensor
/// at the scale the plan leaves it ([`Plan::scale`] of [`Plan::output`]).
pub fn run<A: Arith>(plan: &Plan, arith: &A, input: Vec<A::V>) -> Result<Vec<A::V>> {
    run_observed(plan, arith, input, None)
}

/// [`run`], calling `tap` with the id and values of the input and of every layer output
/// (for calibration and diagnostics).
pub fn run_observed<A: Arith>(
    plan: &Plan,
    arith: &A,
    input: Vec<A::V>,
    mut tap: Option<Tap<'_, A::V>>,
) -> Result<Vec<A::V>> {
    if let Some(t) = tap.as_mut() {
        t(0, &input);
    }
    if input.len() != plan.input_len() {
        return Err(NnError::InputLengthMismatch {
            expected: plan.input_len(),
            actual: input.len(),
        });
    }
    walk(
        plan,
        &mut Plain {
            arith,
            input: Some(input),
            tap,
        },
    )
}

/// The plaintext `f64` backend over a [`Network`]'s weights.
#[derive(Debug, Clone, Copy)]
pub struct F64<'n> {
    network: &'n Network,
}

impl<'n> F64<'n> {
    /// The `f64` backend for `network`.
    pub fn new(network: &'n Network) -> Self {
        Self { network }
    }
}

impl Arith for F64<'_> {
    type V = f64;

    fn weights(&self, layer: usize) -> Option<LinearParams<'_, f64>> {
        self.network
            .layer_weights(layer)
            .map(|w| (w.weight(), w.bias()))
    }

    fn coefficients(&self, layer: usize) -> Option<[f64; 3]> {
        let layer = self.network.architecture().layers().get(layer)?;
        match &layer.op {
            crate::model::Op::Activation(crate::model::Activation::Polynomial { coefficients }) => {
                Some(*coefficients)
            }
            _ => None,
        }
    }

    fn reciprocal(&self, divisor: usize) -> f64 {
        1.0 / divisor as f64
    }

    fn lift(&self, _: &SignSite) -> f64 {
        1.0
    }

    fn two_f(&self) -> f64 {
        1.0
    }

    fn rescale(&self, _: &mut [f64]) {}

    fn keep(&self, _: &SignSite, y: f64) -> bool {
        y >= 0.0
    }
}
