//! Plaintext `f64` reference inference: the oracle the private run is compared against.

use crate::error::{NnError, Result};
use crate::kernels;
use crate::model::{Activation, Network, Op, Shape};

/// Applies an activation to a tensor of shape `shape` in `f64`.
pub fn activation_f64(act: &Activation, shape: Shape, data: &mut [f64]) {
    match act {
        Activation::Relu => data.iter_mut().for_each(|v| *v = v.max(0.0)),
        Activation::ChannelRelu { mask } => {
            let spatial = shape.spatial();
            for (c, &on) in mask.iter().enumerate() {
                if on {
                    data[c * spatial..(c + 1) * spatial]
                        .iter_mut()
                        .for_each(|v| *v = v.max(0.0));
                }
            }
        }
        Activation::Polynomial {
            coefficients: [c0, c1, c2],
        } => data.iter_mut().for_each(|v| *v = c0 + (c1 + c2 * *v) * *v),
        Activation::Identity => {}
    }
}

/// Runs the network on one input (length `input_shape().len()`, `C x H x W` order) and returns
/// every tensor: index 0 is the input, index `i + 1` the output of layer `i`.
pub fn infer_all(network: &Network, input: &[f64]) -> Result<Vec<Vec<f64>>> {
    let arch = network.architecture();
    let in_shape = arch.input_shape();
    if input.len() != in_shape.len() {
        return Err(NnError::InputLengthMismatch {
            expected: in_shape.len(),
            actual: input.len(),
        });
    }
    let mut tensors: Vec<Vec<f64>> = Vec::with_capacity(arch.layers().len() + 1);
    let mut shapes: Vec<Shape> = Vec::with_capacity(arch.layers().len() + 1);
    tensors.push(input.to_vec());
    shapes.push(in_shape);
    for (i, layer) in arch.layers().iter().enumerate() {
        // Architecture::new guarantees inputs refer to earlier tensors.
        let x = &tensors[layer.inputs[0]];
        let xs = shapes[layer.inputs[0]];
        let out_shape = layer.output_shape();
        let weights = || {
            network
                .layer_weights(i)
                .ok_or(NnError::WeightKindMismatch { layer: i })
        };
        let out = match &layer.op {
            Op::Conv2d(c) => {
                let w = weights()?;
                let mut y = kernels::conv2d(c, xs, x, w.weight());
                kernels::add_channel_bias(&mut y, w.bias(), out_shape.spatial());
                y
            }
            Op::Dense {
                in_features,
                out_features,
            } => {
                let w = weights()?;
                let mut y = kernels::dense(*in_features, *out_features, x, w.weight());
                kernels::add_channel_bias(&mut y, w.bias(), 1);
                y
            }
            Op::AvgPool(p) => {
                let mut y = kernels::sum_pool(p, xs, x);
                kernels::scale(&mut y, 1.0 / p.area() as f64);
                y
            }
            Op::GlobalAvgPool => {
                let mut y = kernels::sum_channels(xs, x);
                kernels::scale(&mut y, 1.0 / xs.spatial() as f64);
                y
            }
            Op::MaxPool(p) => {
                let table = kernels::pool_windows(p, xs);
                table
                    .chunks_exact(p.area())
                    .map(|w| w.iter().map(|&j| x[j]).fold(f64::NEG_INFINITY, f64::max))
                    .collect()
            }
            Op::Add => kernels::add(x, &tensors[layer.inputs[1]]),
            Op::Reshape { .. } => x.clone(),
            Op::Activation(a) => {
                let mut y = x.clone();
                activation_f64(a, out_shape, &mut y);
                y
            }
        };
        tensors.push(out);
        shapes.push(out_shape);
    }
    Ok(tensors)
}

/// Runs the network on one input and returns the output tensor (the logits).
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
