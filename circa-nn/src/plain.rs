//! Reference inference. [`evaluate`] walks the layer DAG once for any numeric backend that
//! implements [`Evaluator`] (the linear algebra comes from [`crate::kernels`]); [`F64`] is the
//! plaintext `f64` oracle the private run is compared against. A fixed-point reference is a
//! second [`Evaluator`] (weights encoded once, a rescale after each product, its own ReLU and
//! comparison), reusing the same traversal, index tables and kernels.

use crate::error::{NnError, Result};
use crate::kernels::{self, Ring};
use crate::model::{Activation, Architecture, Network, Op, Shape};

/// Weights and bias of one linear layer in a backend's representation.
pub type LinearParams<'a, V> = (&'a [V], &'a [V]);

/// A numeric backend for [`evaluate`].
pub trait Evaluator {
    /// The number type.
    type Value: Ring;

    /// Weights and bias of linear layer `layer` (index into [`Architecture::layers`]) in this
    /// representation; `None` if the layer has no weights. The bias is added after
    /// [`kernels::conv2d`] / [`kernels::dense`] and before [`Evaluator::after_product`].
    fn linear_params(&self, layer: usize) -> Option<LinearParams<'_, Self::Value>>;

    /// Called on the output of every product of two encoded values (linear layers and the
    /// average-pool scaling), e.g. to bring a fixed-point scale `2^(2f)` back to `2^f`.
    fn after_product(&self, data: &mut [Self::Value]);

    /// The public constant `1 / divisor` in this representation (average pooling).
    fn reciprocal(&self, divisor: usize) -> Self::Value;

    /// Applies an activation in place to a tensor of shape `shape`.
    fn activation(&self, act: &Activation, shape: Shape, data: &mut [Self::Value]);

    /// Layer-aware form of [`Evaluator::after_product`], which is what [`evaluate`] calls, with
    /// the index of the layer whose product it is. The default ignores the index; a fixed-point
    /// backend overrides it to leave a product at scale `2^(2f)` when a ReLU consumes it
    /// (`crate::fixed::SignScale::Product`).
    fn after_layer_product(&self, layer: usize, data: &mut [Self::Value]) {
        let _ = layer;
        self.after_product(data);
    }

    /// Layer-aware form of [`Evaluator::activation`], which is what [`evaluate`] calls, with
    /// the index of the activation layer. The default ignores the index.
    fn layer_activation(
        &self,
        layer: usize,
        act: &Activation,
        shape: Shape,
        data: &mut [Self::Value],
    ) {
        let _ = layer;
        self.activation(act, shape, data);
    }

    /// `max(a, b)` (max pooling folds each window with this, in [`kernels::pool_windows`]
    /// order; a private evaluation computes it as `a + ReLU(b - a)`).
    fn max(&self, a: Self::Value, b: Self::Value) -> Self::Value;
}

/// Runs `arch` on `input` with backend `eval` and returns every tensor: index 0 is the input,
/// index `i + 1` the output of layer `i`.
pub fn evaluate<E: Evaluator>(
    arch: &Architecture,
    eval: &E,
    input: Vec<E::Value>,
) -> Result<Vec<Vec<E::Value>>> {
    let in_shape = arch.input_shape();
    if input.len() != in_shape.len() {
        return Err(NnError::InputLengthMismatch {
            expected: in_shape.len(),
            actual: input.len(),
        });
    }
    let mut tensors: Vec<Vec<E::Value>> = Vec::with_capacity(arch.layers().len() + 1);
    tensors.push(input);
    for (i, layer) in arch.layers().iter().enumerate() {
        // Architecture::new guarantees inputs refer to earlier tensors with these shapes.
        let x = &tensors[layer.inputs[0]];
        let xs = arch.tensor_shape(layer.inputs[0]).unwrap_or(in_shape);
        let out_shape = layer.output_shape();
        // The backend is caller-supplied: check its parameter lengths before the kernels index
        // them.
        let params = |weights: usize, biases: usize| {
            let (w, b) = eval
                .linear_params(i)
                .ok_or(NnError::WeightKindMismatch { layer: i })?;
            for (what, expected, actual) in
                [("weight", weights, w.len()), ("bias", biases, b.len())]
            {
                if actual != expected {
                    return Err(NnError::WeightLengthMismatch {
                        layer: i,
                        what,
                        expected,
                        actual,
                    });
                }
            }
            Ok((w, b))
        };
        let kernel = |e: circa_share::Error| kernels::refused(i, &e);
        let out = match &layer.op {
            Op::Conv2d(c) => {
                let (w, b) = params(c.weight_len(), c.out_channels)?;
                let mut y = kernels::conv2d(c, xs, x, w).map_err(kernel)?;
                kernels::add_channel_bias(&mut y, b, out_shape.spatial());
                eval.after_layer_product(i, &mut y);
                y
            }
            Op::Dense {
                in_features,
                out_features,
            } => {
                let (w, b) = params(in_features * out_features, *out_features)?;
                let mut y = kernels::dense(*in_features, *out_features, x, w).map_err(kernel)?;
                kernels::add_channel_bias(&mut y, b, 1);
                eval.after_layer_product(i, &mut y);
                y
            }
            Op::AvgPool(p) => {
                let mut y = kernels::sum_pool(p, xs, x).map_err(kernel)?;
                kernels::scale(&mut y, eval.reciprocal(p.area()));
                eval.after_layer_product(i, &mut y);
                y
            }
            Op::GlobalAvgPool => {
                let mut y = kernels::sum_channels(xs, x).map_err(kernel)?;
                kernels::scale(&mut y, eval.reciprocal(xs.spatial()));
                eval.after_layer_product(i, &mut y);
                y
            }
            Op::MaxPool(p) => kernels::pool_windows(p, xs)
                .map_err(kernel)?
                .chunks_exact(p.area())
                .map(|w| w[1..].iter().fold(x[w[0]], |acc, &j| eval.max(acc, x[j])))
                .collect(),
            Op::Add => kernels::add(x, &tensors[layer.inputs[1]]),
            Op::Reshape { .. } => x.clone(),
            Op::Activation(a) => {
                let mut y = x.clone();
                eval.layer_activation(i, a, out_shape, &mut y);
                y
            }
        };
        tensors.push(out);
    }
    Ok(tensors)
}

/// Applies an activation to a tensor of shape `shape` in `f64`.
pub fn activation_f64(act: &Activation, shape: Shape, data: &mut [f64]) {
    match act {
        Activation::Relu => data.iter_mut().for_each(|v| *v = v.max(0.0)),
        Activation::ChannelRelu { mask } => {
            for_masked_channels(mask, shape, data, |v| *v = v.max(0.0))
        }
        Activation::Polynomial {
            coefficients: [c0, c1, c2],
        } => data.iter_mut().for_each(|v| *v = c0 + (c1 + c2 * *v) * *v),
        Activation::Identity => {}
    }
}

/// Applies `f` to every element of the channels whose mask entry is `true` (the ReLU channels
/// of an [`Activation::ChannelRelu`]) of a tensor of shape `shape`.
pub(crate) fn for_masked_channels<V>(
    mask: &[bool],
    shape: Shape,
    data: &mut [V],
    f: impl FnMut(&mut V),
) {
    let spatial = shape.spatial();
    data.chunks_mut(spatial.max(1))
        .zip(mask)
        .filter(|&(_, &on)| on)
        .flat_map(|(channel, _)| channel.iter_mut())
        .for_each(f);
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

impl Evaluator for F64<'_> {
    type Value = f64;

    fn linear_params(&self, layer: usize) -> Option<(&[f64], &[f64])> {
        self.network
            .layer_weights(layer)
            .map(|w| (w.weight(), w.bias()))
    }

    fn after_product(&self, _data: &mut [f64]) {}

    fn reciprocal(&self, divisor: usize) -> f64 {
        1.0 / divisor as f64
    }

    fn activation(&self, act: &Activation, shape: Shape, data: &mut [f64]) {
        activation_f64(act, shape, data);
    }

    fn max(&self, a: f64, b: f64) -> f64 {
        a.max(b)
    }
}

/// Runs the network on one input (length `input_shape().len()`, `C x H x W` order) in `f64`
/// and returns every tensor: index 0 is the input, index `i + 1` the output of layer `i`.
pub fn infer_all(network: &Network, input: &[f64]) -> Result<Vec<Vec<f64>>> {
    evaluate(network.architecture(), &F64::new(network), input.to_vec())
}

/// Runs the network on one input in `f64` and returns the output tensor (the logits).
pub fn infer(network: &Network, input: &[f64]) -> Result<Vec<f64>> {
    let out = network.architecture().output();
    let mut all = infer_all(network, input)?;
    Ok(all.swap_remove(out))
}

/// Index of the largest output (the predicted class); the first one on ties.
pub fn argmax(values: &[f64]) -> Option<usize> {
    let mut best: Option<usize> = None;
    for (i, &v) in values.iter().enumerate() {
        if best.is_none_or(|b| v > values[b]) {
            best = Some(i);
        }
    }
    best
}
