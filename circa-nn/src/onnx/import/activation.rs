//! Activations and element-wise arithmetic on activations.
//!
//! * `Relu`, and the `ai.circa` operators `ChannelRelu` and `Polynomial`;
//! * partial ReLUs as PyTorch exports them: `torch.cat([F.relu(y[:, :k]), y[:, k:]], 1)` (a
//!   `Slice` of channels, `Relu` on some slices, a `Concat` putting every channel back in
//!   order) and `torch.where(mask, F.relu(y), y)` (a `Where` on a constant mask that is the
//!   same over each channel): both become one per-channel [`Activation::ChannelRelu`];
//! * polynomials of one tensor: `Mul`, `Add`, `Sub`, `Div` and `Pow` (exponent 1 or 2) with
//!   scalar constants, in any association (`a*x*x + b*x + c`, `(a*x + b)*x + c`,
//!   `x + a*x.pow(2)`): one [`Activation::Polynomial`] of degree <= 2;
//! * `Add` of two different activations: the residual [`Op::Add`]; `Add`/`Sub` of a
//!   constant vector right after a Dense or Conv layer: folded into its bias.
//!
//! Element-wise results are pending expressions (see `values`): a layer is added only when
//! a node needs the activation, so that `Relu` followed by a `Where` that keeps some channels
//! as they are costs only the ReLUs of the other channels.

use std::rc::Rc;

use super::attrs::Attrs;
use super::values::{Act, Const, ConstData, Expr, Pending, Rank, Value, shape_err};
use super::{Builder, expect_inputs, pattern};
use crate::error::{NnError, Result};
use crate::model::{Activation, Op};
use crate::onnx::proto::NodeProto;

/// How to write a partial ReLU in PyTorch so that it imports.
pub(super) const PARTIAL_RELU_HINT: &str = "write partial ReLUs as torch.cat([F.relu(y[:, :k]), \
    y[:, k:]], dim=1) over channel slices, or as torch.where(mask, F.relu(y), y) with a \
    constant boolean mask of shape [1, C, 1, 1] (or [C] for a flat [1, C] tensor)";
/// How to write a polynomial activation so that it imports.
pub(super) const POLYNOMIAL_HINT: &str = "write polynomial activations of one tensor with \
    scalar constants and degree <= 2, e.g. a * y * y + b * y + c or y + a * y.pow(2)";

const IDENTITY: [f64; 3] = [0.0, 1.0, 0.0];

/// One operand of element-wise arithmetic.
enum Operand {
    /// `c0 + c1 x + c2 x^2`, and the pending expression it came from (if any).
    Poly {
        x: Act,
        c: [f64; 3],
        pending: Option<Rc<Pending>>,
    },
    Scalar(f64),
    Tensor(Rc<Const>),
}

impl<'m> Builder<'m> {
    /// `v`, with a pending expression already turned into a layer replaced by that layer.
    fn resolved(v: Value<'m>) -> Value<'m> {
        match v {
            Value::Expr(p) => match p.layer.get() {
                Some(a) => Value::Act(a),
                None => Value::Expr(p),
            },
            other => other,
        }
    }

    pub(super) fn relu(&mut self, node: &'m NodeProto) -> Result<()> {
        Attrs::check(node, &[])?;
        expect_inputs(node, 1)?;
        let expr = match Self::resolved(self.value(node, 0)?) {
            Value::Expr(p) => match &p.expr {
                Expr::Mask { x, mask } => Expr::Mask {
                    x: *x,
                    mask: vec![true; mask.len()],
                },
                Expr::Channels { x, start, mask } => Expr::Channels {
                    x: *x,
                    start: *start,
                    mask: vec![true; mask.len()],
                },
                Expr::Poly { .. } => {
                    let x = self.materialize(&p)?;
                    self.all_relu(x)
                }
            },
            _ => {
                let x = self.act(node, 0)?;
                self.all_relu(x)
            }
        };
        self.bind_expr(node, expr)
    }

    fn all_relu(&self, x: Act) -> Expr {
        Expr::Mask {
            x,
            mask: vec![true; self.shape(x).channels],
        }
    }

    /// `ai.circa.ChannelRelu`: INTS `mask`, one entry per channel, 1 = ReLU, 0 = identity.
    pub(super) fn channel_relu(&mut self, node: &'m NodeProto) -> Result<()> {
        let attrs = Attrs::check(node, &["mask"])?;
        expect_inputs(node, 1)?;
        let x = self.act(node, 0)?;
        let raw = attrs.ints("mask")?.ok_or_else(|| attrs.missing("mask"))?;
        let mut mask = Vec::with_capacity(raw.len());
        for &m in raw {
            match m {
                0 => mask.push(false),
                1 => mask.push(true),
                other => return Err(attrs.unsupported_value("mask", other)),
            }
        }
        let channels = self.shape(x).channels;
        if mask.len() != channels {
            return Err(shape_err(
                &node.name,
                "ChannelRelu mask length",
                &[channels],
                &[mask.len()],
            ));
        }
        let act = if mask.iter().all(|&m| m) {
            Activation::Relu
        } else if mask.iter().all(|&m| !m) {
            Activation::Identity
        } else {
            Activation::ChannelRelu { mask }
        };
        self.push_output(node, Op::Activation(act), vec![x.id], None, x.rank)
    }

    /// `ai.circa.Polynomial`: FLOATS `coefficients` `[c0, c1, c2]`.
    pub(super) fn circa_polynomial(&mut self, node: &'m NodeProto) -> Result<()> {
        let attrs = Attrs::check(node, &["coefficients"])?;
        expect_inputs(node, 1)?;
        let x = self.act(node, 0)?;
        let raw = attrs
            .floats("coefficients")?
            .ok_or_else(|| attrs.missing("coefficients"))?;
        if raw.is_empty() || raw.len() > 3 || raw.iter().any(|c| !c.is_finite()) {
            return Err(attrs.unsupported_value("coefficients", format!("{raw:?}")));
        }
        let mut coefficients = [0.0; 3];
        for (c, &r) in coefficients.iter_mut().zip(raw) {
            *c = f64::from(r);
        }
        self.push_output(
            node,
            Op::Activation(Activation::Polynomial { coefficients }),
            vec![x.id],
            None,
            x.rank,
        )
    }

    /// `Where(condition, a, b)` with a constant condition that is the same over each channel
    /// and `a`, `b` each `y` or a (partial) ReLU of the same `y`.
    pub(super) fn where_mask(&mut self, node: &'m NodeProto) -> Result<()> {
        Attrs::check(node, &[])?;
        expect_inputs(node, 3)?;
        if !self.value(node, 0)?.is_constant() {
            return Err(pattern(
                node,
                "the condition of a Where on activations must be a constant",
                PARTIAL_RELU_HINT,
            ));
        }
        let cond = self.constant(node, 0)?;
        let (xa, ma) = self.masked(node, 1)?;
        let (xb, mb) = self.masked(node, 2)?;
        if xa != xb {
            return Err(pattern(
                node,
                "Where must choose between ReLU(y) and y of one tensor y",
                PARTIAL_RELU_HINT,
            ));
        }
        let dims = super::values::onnx_dims(self.shape(xa), xa.rank);
        let ConstData::Bool(_) = &cond.data else {
            return Err(NnError::WrongInputKind {
                node: node.name.clone(),
                tensor: node.input[0].clone(),
                expected: "a boolean constant",
            });
        };
        let per_channel = channel_mask(node, &cond, &dims)?.ok_or_else(|| {
            pattern(
                node,
                "the condition differs within a channel (only per-channel masks are supported)",
                PARTIAL_RELU_HINT,
            )
        })?;
        let mask = per_channel
            .iter()
            .zip(ma.iter().zip(&mb))
            .map(|(&c, (&a, &b))| if c { a } else { b })
            .collect();
        self.bind_expr(node, Expr::Mask { x: xa, mask })
    }

    /// Input `idx` as `(y, mask)`: `y` itself (mask all false) or a per-channel ReLU of `y`.
    fn masked(&mut self, node: &'m NodeProto, idx: usize) -> Result<(Act, Vec<bool>)> {
        if let Value::Expr(p) = Self::resolved(self.value(node, idx)?)
            && let Expr::Mask { x, mask } = &p.expr
        {
            return Ok((*x, mask.clone()));
        }
        let x = self.act(node, idx)?;
        Ok((x, vec![false; self.shape(x).channels]))
    }

    /// `Slice` of an activation: a channel range (every other axis whole, steps 1).
    pub(super) fn slice_channels(&mut self, node: &'m NodeProto) -> Result<()> {
        Attrs::check(node, &[])?;
        super::expect_inputs_between(node, 3, 5, "3 to 5")?;
        let value = Self::resolved(self.value(node, 0)?);
        let (x, start, mask) = match &value {
            Value::Expr(p) => match &p.expr {
                Expr::Mask { x, mask } => (*x, 0, mask.clone()),
                Expr::Channels { x, start, mask } => (*x, *start, mask.clone()),
                Expr::Poly { .. } => {
                    let x = self.materialize(p)?;
                    (x, 0, vec![false; self.shape(x).channels])
                }
            },
            _ => {
                let x = self.act(node, 0)?;
                (x, 0, vec![false; self.shape(x).channels])
            }
        };
        let mut dims = super::values::onnx_dims(self.shape(x), x.rank);
        dims[1] = mask.len();
        let ranges = self.slice_ranges(node, &dims)?;
        let mut channels = 0..mask.len();
        for (axis, r) in ranges.into_iter().enumerate() {
            let range = r.start..r.start + r.count;
            if axis == 1 {
                if r.step != 1 || range.is_empty() {
                    return Err(pattern(
                        node,
                        "a channel slice must have step 1 and at least one channel",
                        PARTIAL_RELU_HINT,
                    ));
                }
                channels = range;
            } else if r.step != 1 || range != (0..dims[axis]) {
                return Err(pattern(
                    node,
                    "only the channel axis of an activation can be sliced",
                    PARTIAL_RELU_HINT,
                ));
            }
        }
        let expr = Expr::Channels {
            x,
            start: start + channels.start,
            mask: mask[channels].to_vec(),
        };
        self.bind_expr(node, expr)
    }

    /// `Concat` of activations along the channels: channel slices of one tensor that put
    /// all of its channels back in order (the per-channel ReLU of a partial ReLU).
    pub(super) fn concat_channels(&mut self, node: &'m NodeProto) -> Result<()> {
        let attrs = Attrs::check(node, &["axis"])?;
        let axis_attr = attrs.int("axis", i64::MIN)?;
        if axis_attr == i64::MIN {
            return Err(attrs.missing("axis"));
        }
        let mut base: Option<Act> = None;
        let mut mask = Vec::new();
        for idx in 0..node.input.len() {
            let part = match Self::resolved(self.value(node, idx)?) {
                Value::Expr(p) => match &p.expr {
                    Expr::Channels { x, start, mask } => Some((*x, *start, mask.clone())),
                    _ => None,
                },
                _ => None,
            };
            let Some((x, start, m)) = part else {
                return Err(pattern(
                    node,
                    "Concat of activations is supported only to put channel slices of one \
                     tensor back together",
                    PARTIAL_RELU_HINT,
                ));
            };
            if base.is_some_and(|b| b != x) || start != mask.len() {
                return Err(pattern(
                    node,
                    "the slices must come from one tensor and cover its channels in order",
                    PARTIAL_RELU_HINT,
                ));
            }
            base = Some(x);
            mask.extend(m);
        }
        let Some(x) = base else {
            return Err(super::arity(node, "input", "at least 1", 0));
        };
        let rank = match x.rank {
            Rank::Flat => 2,
            Rank::Spatial => 4,
        };
        if super::values::axis(axis_attr, rank) != Some(1) {
            return Err(attrs.unsupported_value("axis", axis_attr));
        }
        if mask.len() != self.shape(x).channels {
            return Err(pattern(
                node,
                "the slices must cover every channel of their tensor",
                PARTIAL_RELU_HINT,
            ));
        }
        self.bind_expr(node, Expr::Mask { x, mask })
    }

    fn operand(&mut self, node: &'m NodeProto, idx: usize) -> Result<Operand> {
        Ok(match Self::resolved(self.value(node, idx)?) {
            Value::Act(x) => Operand::Poly {
                x,
                c: IDENTITY,
                pending: None,
            },
            Value::Expr(p) => match &p.expr {
                Expr::Poly { x, c } => Operand::Poly {
                    x: *x,
                    c: *c,
                    pending: Some(Rc::clone(&p)),
                },
                _ => Operand::Poly {
                    x: self.materialize(&p)?,
                    c: IDENTITY,
                    pending: None,
                },
            },
            Value::Tensor(_) | Value::Const(_) => {
                let c = self.constant(node, idx)?;
                match (&c.data, c.scalar()) {
                    (ConstData::F64(_) | ConstData::I64(_), Some(v)) => Operand::Scalar(v),
                    _ => Operand::Tensor(c),
                }
            }
        })
    }

    /// `Add`, `Sub`, `Mul`, `Div` or `Pow` with at least one activation operand.
    pub(super) fn arithmetic(&mut self, node: &'m NodeProto) -> Result<()> {
        Attrs::check(node, &[])?;
        expect_inputs(node, 2)?;
        let a = self.operand(node, 0)?;
        let b = self.operand(node, 1)?;
        let poly_err = |reason| pattern(node, reason, POLYNOMIAL_HINT);
        use Operand::{Poly, Scalar, Tensor};
        let (x, c) = match (node.op_type.as_str(), a, b) {
            ("Add" | "Sub", Poly { x, c: p, .. }, Poly { x: y, c: q, .. }) if x == y => {
                let s = if node.op_type == "Sub" { -1.0 } else { 1.0 };
                (x, [p[0] + s * q[0], p[1] + s * q[1], p[2] + s * q[2]])
            }
            ("Add", a @ Poly { .. }, b @ Poly { .. }) => return self.residual(node, a, b),
            // A constant added right after a linear layer goes into its bias.
            ("Add", Poly { x, c, .. }, Scalar(s)) | ("Add", Scalar(s), Poly { x, c, .. })
                if c == IDENTITY && self.foldable_producer(x).is_some() =>
            {
                return self.fold_bias(node, x, &Const::scalar_f64(s), 1.0);
            }
            ("Sub", Poly { x, c, .. }, Scalar(s))
                if c == IDENTITY && self.foldable_producer(x).is_some() =>
            {
                return self.fold_bias(node, x, &Const::scalar_f64(s), -1.0);
            }
            ("Add", Poly { x, c, .. }, Scalar(s)) | ("Add", Scalar(s), Poly { x, c, .. }) => {
                (x, [c[0] + s, c[1], c[2]])
            }
            ("Sub", Poly { x, c, .. }, Scalar(s)) => (x, [c[0] - s, c[1], c[2]]),
            ("Sub", Scalar(s), Poly { x, c, .. }) => (x, [s - c[0], -c[1], -c[2]]),
            ("Add", Poly { x, c, .. }, Tensor(t)) | ("Add", Tensor(t), Poly { x, c, .. })
                if c == IDENTITY =>
            {
                return self.fold_bias(node, x, &t, 1.0);
            }
            ("Sub", Poly { x, c, .. }, Tensor(t)) if c == IDENTITY => {
                return self.fold_bias(node, x, &t, -1.0);
            }
            ("Add" | "Sub", _, Tensor(_)) | ("Add", Tensor(_), _) => {
                return Err(NnError::ConstantAddNotFoldable {
                    node: node.name.clone(),
                });
            }
            ("Mul", Poly { x, c: p, .. }, Poly { x: y, c: q, .. }) if x == y => {
                (x, product(&p, &q).ok_or_else(|| poly_err(DEGREE))?)
            }
            ("Mul", Poly { x, c, .. }, Scalar(s)) | ("Mul", Scalar(s), Poly { x, c, .. }) => {
                (x, c.map(|v| v * s))
            }
            ("Div", Poly { x, c, .. }, Scalar(s)) if s != 0.0 => (x, c.map(|v| v / s)),
            ("Pow", Poly { x, c, .. }, Scalar(1.0)) => (x, c),
            ("Pow", Poly { x, c, .. }, Scalar(2.0)) => {
                (x, product(&c, &c).ok_or_else(|| poly_err(DEGREE))?)
            }
            ("Mul", Poly { .. }, Poly { .. }) => {
                return Err(poly_err("the product of two different activations"));
            }
            ("Sub" | "Div", Poly { .. }, Poly { .. }) => {
                return Err(poly_err(
                    "the difference or quotient of two different activations",
                ));
            }
            ("Pow", ..) => return Err(poly_err("only exponents 1 and 2 are supported")),
            (..) => {
                return Err(poly_err(
                    "only scalar constants (the same for every element) can multiply, divide \
                     or be subtracted from an activation",
                ));
            }
        };
        if c.iter().any(|v| !v.is_finite()) {
            return Err(poly_err("a coefficient is not finite"));
        }
        if c == IDENTITY {
            return self.bind_output(node, Value::Act(x));
        }
        self.bind_expr(node, Expr::Poly { x, c })
    }

    /// `a + b` for two different activations (each materialised): the residual `Add`.
    fn residual(&mut self, node: &'m NodeProto, a: Operand, b: Operand) -> Result<()> {
        let mut acts = Vec::with_capacity(2);
        for o in [a, b] {
            let Operand::Poly { x, c, pending } = o else {
                unreachable!("residual() takes two activations");
            };
            acts.push(match pending {
                Some(p) if c != IDENTITY => self.materialize(&p)?,
                _ => x,
            });
        }
        let (a, b) = (acts[0], acts[1]);
        if a.rank != b.rank || self.shape(a) != self.shape(b) {
            return Err(shape_err(
                &node.name,
                "Add operands (no broadcasting)",
                &super::values::onnx_dims(self.shape(a), a.rank),
                &super::values::onnx_dims(self.shape(b), b.rank),
            ));
        }
        self.push_output(node, Op::Add, vec![a.id, b.id], None, a.rank)
    }
}

const DEGREE: &str = "the polynomial's degree would exceed 2";

/// The product of two polynomials, if its degree is at most 2.
fn product(p: &[f64; 3], q: &[f64; 3]) -> Option<[f64; 3]> {
    let d3 = p[1] * q[2] + p[2] * q[1];
    let d4 = p[2] * q[2];
    (d3 == 0.0 && d4 == 0.0).then(|| {
        [
            p[0] * q[0],
            p[0] * q[1] + p[1] * q[0],
            p[0] * q[2] + p[1] * q[1] + p[2] * q[0],
        ]
    })
}

/// A boolean constant broadcast to `dims` (`[1, C, H, W]` or `[1, C]`), one value per
/// channel (axis 1) if it is the same over each channel, `None` if not.
fn channel_mask(node: &NodeProto, cond: &Const, dims: &[usize]) -> Result<Option<Vec<bool>>> {
    let ConstData::Bool(values) = &cond.data else {
        return Ok(None);
    };
    if super::values::broadcast_dims(&cond.dims, dims).as_deref() != Some(dims) {
        return Err(shape_err(
            &node.name,
            "Where condition (must broadcast to the activation)",
            dims,
            &cond.dims,
        ));
    }
    let pad = dims.len() - cond.dims.len();
    let mut padded = vec![1usize; pad];
    padded.extend(&cond.dims);
    // Elements per channel index of the condition, and whether it has a channel axis.
    let inner: usize = padded[2..].iter().product();
    let per_channel_axis = padded[1] > 1;
    let mut out: Vec<Option<bool>> = vec![None; dims[1]];
    for (k, &v) in values.iter().enumerate() {
        let channel = (k / inner) % padded[1];
        let targets = if per_channel_axis {
            channel..channel + 1
        } else {
            0..dims[1]
        };
        for slot in &mut out[targets] {
            match slot {
                Some(prev) if *prev != v => return Ok(None),
                _ => *slot = Some(v),
            }
        }
    }
    Ok(out.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn polynomial_products() {
        assert_eq!(product(&[0.0, 0.1, 0.0], &IDENTITY), Some([0.0, 0.0, 0.1]));
        assert_eq!(
            product(&[1.0, 2.0, 0.0], &[3.0, 4.0, 0.0]),
            Some([3.0, 10.0, 8.0])
        );
        assert_eq!(product(&[0.0, 0.0, 1.0], &IDENTITY), None);
    }

    #[test]
    fn masks_per_channel() {
        let node = NodeProto::default();
        let c = Const {
            dims: vec![1, 3, 1, 1],
            data: ConstData::Bool(vec![true, false, true]),
        };
        assert_eq!(
            channel_mask(&node, &c, &[1, 3, 2, 2]),
            Ok(Some(vec![true, false, true]))
        );
        let spatial = Const {
            dims: vec![1, 1, 2],
            data: ConstData::Bool(vec![true, false]),
        };
        assert_eq!(channel_mask(&node, &spatial, &[1, 3, 2, 2]), Ok(None));
        let all = Const {
            dims: vec![],
            data: ConstData::Bool(vec![true]),
        };
        assert_eq!(
            channel_mask(&node, &all, &[1, 2]),
            Ok(Some(vec![true, true]))
        );
        let flat = Const {
            dims: vec![3],
            data: ConstData::Bool(vec![false, true, true]),
        };
        assert_eq!(
            channel_mask(&node, &flat, &[1, 3]),
            Ok(Some(vec![false, true, true]))
        );
        let grows = Const {
            dims: vec![2, 3],
            data: ConstData::Bool(vec![true; 6]),
        };
        assert!(channel_mask(&node, &grows, &[1, 3]).is_err());
    }
}
