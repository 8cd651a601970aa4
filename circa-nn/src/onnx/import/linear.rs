//! Linear layers: Conv, Gemm, MatMul; BatchNormalization and constant additions folded into
//! the preceding layer's weights and bias.

use zeroize::Zeroizing;

use super::attrs::Attrs;
use super::values::{Act, Const, Rank, shape_err};
use super::{Builder, arity, expect_inputs, expect_inputs_between};
use crate::error::{NnError, Result};
use crate::model::{Conv2d, LinearWeights, Op};
use crate::onnx::proto::NodeProto;

impl<'m> Builder<'m> {
    pub(super) fn conv(&mut self, node: &'m NodeProto) -> Result<()> {
        let attrs = Attrs::check(
            node,
            &[
                "auto_pad",
                "dilations",
                "group",
                "kernel_shape",
                "pads",
                "strides",
            ],
        )?;
        expect_inputs_between(node, 2, 3, "2 or 3")?;
        let x = self.spatial_act(node, 0)?;
        let xs = self.shape(x);
        attrs.no_auto_pad()?;
        attrs.all_ones("dilations")?;
        let groups = attrs.usize_at_least("group", 1, 1)?;
        let (wd, weight) = self.weight(node, 1)?;
        let weight = Zeroizing::new(weight);
        if wd.len() != 4 {
            return Err(shape_err(&node.name, "Conv weight rank", &[0; 4], &wd));
        }
        let (out_channels, kh, kw) = (wd[0], wd[2], wd[3]);
        if !xs.channels.is_multiple_of(groups) || wd[1] != xs.channels / groups {
            return Err(NnError::InvalidNode {
                node: node.name.clone(),
                reason: "Conv weight's input channels do not match the input and group",
            });
        }
        if let Some(ks) = attrs.ints("kernel_shape")?
            && (ks.len() != 2 || ks[0] as u64 != kh as u64 || ks[1] as u64 != kw as u64)
        {
            return Err(NnError::ShapeMismatch {
                context: format!("node {:?}: Conv kernel_shape", node.name),
                expected: vec![kh as i64, kw as i64],
                actual: ks.to_vec(),
            });
        }
        let conv = Conv2d {
            in_channels: xs.channels,
            out_channels,
            window: attrs.window(kh, kw)?,
            groups,
        };
        let bias = match self.input_name(node, 2) {
            Some(_) => {
                let (bd, b) = self.weight(node, 2)?;
                if b.len() != out_channels || bd.len() != 1 {
                    return Err(shape_err(&node.name, "Conv bias", &[out_channels], &bd));
                }
                b
            }
            None => vec![0.0; out_channels],
        };
        let weights = LinearWeights::new(weight.to_vec(), bias);
        self.push_output(
            node,
            Op::Conv2d(conv),
            vec![x.id],
            Some(weights),
            Rank::Spatial,
        )
    }

    pub(super) fn gemm(&mut self, node: &'m NodeProto) -> Result<()> {
        let attrs = Attrs::check(node, &["alpha", "beta", "transA", "transB"])?;
        expect_inputs_between(node, 2, 3, "2 or 3")?;
        let trans_a = attrs.int("transA", 0)?;
        if trans_a != 0 {
            return Err(attrs.unsupported_value("transA", trans_a));
        }
        let trans_b = attrs.flag("transB", false)?;
        let alpha = f64::from(attrs.float("alpha", 1.0)?);
        let beta = f64::from(attrs.float("beta", 1.0)?);
        let x = self.flat_act(node, 0)?;
        let k = self.shape(x).len();
        let (weight, n) = self.dense_weight(node, 1, k, trans_b, alpha)?;
        let bias = match self.input_name(node, 2) {
            Some(_) => {
                let c = self.constant(node, 2)?;
                row_bias(node, "Gemm bias C", &c, n, beta)?
            }
            None => vec![0.0; n],
        };
        self.push_dense(node, x, weight, bias)
    }

    /// A Dense layer on `x` with `weight` (`[N][K]`) and `bias` (`N`).
    fn push_dense(
        &mut self,
        node: &'m NodeProto,
        x: Act,
        weight: Vec<f64>,
        bias: Vec<f64>,
    ) -> Result<()> {
        let op = Op::Dense {
            in_features: self.shape(x).len(),
            out_features: bias.len(),
        };
        let weights = Some(LinearWeights::new(weight, bias));
        self.push_output(node, op, vec![x.id], weights, Rank::Flat)
    }

    pub(super) fn matmul(&mut self, node: &'m NodeProto) -> Result<()> {
        Attrs::check(node, &[])?;
        expect_inputs(node, 2)?;
        let x = self.flat_act(node, 0)?;
        let k = self.shape(x).len();
        let (weight, n) = self.dense_weight(node, 1, k, false, 1.0)?;
        self.push_dense(node, x, weight, vec![0.0; n])
    }

    /// Converts the 2-D constant input `idx` (`[K, N]`, or `[N, K]` if `transposed`) times
    /// `alpha` into a dense weight `[N][K]`. Returns the weight and `N`.
    fn dense_weight(
        &mut self,
        node: &'m NodeProto,
        idx: usize,
        k: usize,
        transposed: bool,
        alpha: f64,
    ) -> Result<(Vec<f64>, usize)> {
        let (d, vals) = self.weight(node, idx)?;
        let vals = Zeroizing::new(vals);
        if d.len() != 2 {
            return Err(shape_err(&node.name, "weight rank", &[0, 0], &d));
        }
        let (bk, n) = if transposed {
            (d[1], d[0])
        } else {
            (d[0], d[1])
        };
        if bk != k {
            return Err(shape_err(&node.name, "weight inner dimension", &[k], &[bk]));
        }
        let weight = if transposed {
            vals.iter().map(|v| alpha * v).collect()
        } else {
            let mut w = vec![0.0; vals.len()];
            for kk in 0..k {
                for nn in 0..n {
                    w[nn * k + kk] = alpha * vals[kk * n + nn];
                }
            }
            w
        };
        Ok((weight, n))
    }

    pub(super) fn batch_norm(&mut self, node: &'m NodeProto) -> Result<()> {
        let attrs = Attrs::check(node, &["epsilon", "momentum", "training_mode", "spatial"])?;
        expect_inputs(node, 5)?;
        let training = attrs.int("training_mode", 0)?;
        if training != 0 {
            return Err(attrs.unsupported_value("training_mode", training));
        }
        let spatial = attrs.int("spatial", 1)?;
        if spatial != 1 {
            return Err(attrs.unsupported_value("spatial", spatial));
        }
        if node.output.len() > 1 && node.output[1..].iter().any(|o| !o.is_empty()) {
            return Err(arity(node, "output", "1", node.output.len()));
        }
        let eps = f64::from(attrs.float("epsilon", 1e-5)?);
        let x = self.act(node, 0)?;
        let layer = self
            .foldable_producer(x)
            .ok_or_else(|| NnError::BatchNormNotFoldable {
                node: node.name.clone(),
            })?;
        let channels = self.shape(x).channels;
        let mut params = Vec::with_capacity(4);
        for (i, what) in [(1, "scale"), (2, "B"), (3, "mean"), (4, "var")] {
            let (_, p) = self.weight(node, i)?;
            if p.len() != channels {
                return Err(shape_err(&node.name, what, &[channels], &[p.len()]));
            }
            params.push(p);
        }
        let (gamma, beta, mean, var) = (&params[0], &params[1], &params[2], &params[3]);
        let mut factors = Vec::with_capacity(channels);
        for c in 0..channels {
            let denom = var[c] + eps;
            if denom <= 0.0 || !denom.is_finite() {
                return Err(NnError::InvalidNode {
                    node: node.name.clone(),
                    reason: "BatchNormalization variance + epsilon must be positive",
                });
            }
            factors.push(gamma[c] / denom.sqrt());
        }
        let shift: Vec<f64> = (0..channels)
            .map(|c| beta[c] - mean[c] * factors[c])
            .collect();
        self.scale_and_shift(layer, &factors, &shift)?;
        self.bind(node, 0, super::Value::Act(x))
    }

    /// `y = factor[c] * y + shift[c]` per output channel of linear layer `layer`, folded
    /// into its weights and bias.
    fn scale_and_shift(&mut self, layer: usize, factors: &[f64], shift: &[f64]) -> Result<()> {
        let folded = self.weights[layer].as_ref().map_or(0, |w| w.weight().len());
        self.charge(folded)?;
        let w = self.weights[layer]
            .as_mut()
            .ok_or(NnError::WeightKindMismatch { layer })?;
        let (weight, bias) = w.parts_mut();
        let channels = bias.len();
        if factors.len() != channels || shift.len() != channels {
            return Err(NnError::WeightKindMismatch { layer });
        }
        let per_channel = weight.len() / channels.max(1);
        for c in 0..channels {
            for v in &mut weight[c * per_channel..(c + 1) * per_channel] {
                *v *= factors[c];
            }
            bias[c] = bias[c] * factors[c] + shift[c];
        }
        Ok(())
    }

    /// `x + sign * c` for an activation `x` whose producer is a Dense or Conv layer consumed
    /// only here: added to its bias (`c` one value per output feature or channel, or one for
    /// all). Binds the node's output to `x`.
    pub(super) fn fold_bias(
        &mut self,
        node: &'m NodeProto,
        x: Act,
        c: &Const,
        sign: f64,
    ) -> Result<()> {
        let layer = self
            .foldable_producer(x)
            .ok_or_else(|| NnError::ConstantAddNotFoldable {
                node: node.name.clone(),
            })?;
        let per_channel = match (&self.layers[layer].1, x.rank) {
            (Op::Dense { out_features, .. }, Rank::Flat) => {
                row_bias(node, "Add bias", c, *out_features, sign)?
            }
            (Op::Conv2d(conv), Rank::Spatial) => channel_bias(node, c, conv.out_channels, sign)?,
            _ => {
                return Err(NnError::ConstantAddNotFoldable {
                    node: node.name.clone(),
                });
            }
        };
        let ones = vec![1.0; per_channel.len()];
        self.scale_and_shift(layer, &ones, &per_channel)?;
        self.bind_output(node, super::Value::Act(x))
    }
}

/// A constant added to a `[1, n]` row (Gemm's C, or an Add after a Gemm/MatMul), times
/// `factor`, as `n` values. Its dims must broadcast to `[1, n]` without growing it: `[]`,
/// `[1]`, `[n]`, `[1, 1]` or `[1, n]` (a `[n, 1]` column would broadcast to `[n, n]`).
fn row_bias(node: &NodeProto, what: &str, c: &Const, n: usize, factor: f64) -> Result<Vec<f64>> {
    let last = c.dims.last().copied().unwrap_or(1);
    let leading_ones = c.dims.len() <= 2 && c.dims.iter().rev().skip(1).all(|&d| d == 1);
    if !leading_ones || (last != 1 && last != n) {
        return Err(shape_err(&node.name, what, &[1, n], &c.dims));
    }
    bias_values(node, c, n, factor)
}

/// A constant added to a `[1, C, H, W]` convolution output: one value per channel (`[C, 1, 1]`
/// or `[1, C, 1, 1]`) or one for all.
fn channel_bias(node: &NodeProto, c: &Const, channels: usize, factor: f64) -> Result<Vec<f64>> {
    let d = &c.dims;
    let all_ones = d.len() <= 4 && d.iter().all(|&x| x == 1);
    let per_channel = (3..=4).contains(&d.len())
        && d[d.len() - 3] == channels
        && d[d.len() - 2..] == [1, 1]
        && d[..d.len() - 3].iter().all(|&x| x == 1);
    let ok = all_ones || per_channel;
    if !ok {
        return Err(shape_err(&node.name, "Add bias", &[1, channels, 1, 1], d));
    }
    bias_values(node, c, channels, factor)
}

fn bias_values(node: &NodeProto, c: &Const, n: usize, factor: f64) -> Result<Vec<f64>> {
    let v = match &c.data {
        super::values::ConstData::F64(v) => v,
        _ => {
            return Err(NnError::WrongInputKind {
                node: node.name.clone(),
                tensor: node.input.last().cloned().unwrap_or_default(),
                expected: "a float constant",
            });
        }
    };
    Ok(match v.as_slice() {
        [one] => vec![factor * one; n],
        _ => v.iter().map(|x| factor * x).collect(),
    })
}
