//! What an ONNX tensor name stands for during the walk: an activation of the network IR, a
//! constant (an initializer not read yet, or a small folded tensor), or a pending element-wise
//! function of one activation that becomes a layer only when a node needs an activation.

use std::cell::Cell;
use std::rc::Rc;

use crate::error::{NnError, Result};
use crate::model::{Shape, TensorId};
use crate::onnx::proto::TensorProto;

/// ONNX rank of an activation: `[1, N]` or `[1, C, H, W]` (batch 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Rank {
    Flat,
    Spatial,
}

/// An activation: a tensor of the network IR and the ONNX rank it is viewed with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Act {
    pub(super) id: TensorId,
    pub(super) rank: Rank,
}

/// The ONNX dims of an IR shape viewed at `rank`.
pub(super) fn onnx_dims(shape: Shape, rank: Rank) -> Vec<usize> {
    match rank {
        Rank::Flat => vec![1, shape.len()],
        Rank::Spatial => vec![1, shape.channels, shape.height, shape.width],
    }
}

/// Values of a constant tensor.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum ConstData {
    F64(Vec<f64>),
    I64(Vec<i64>),
    Bool(Vec<bool>),
}

impl ConstData {
    pub(super) fn len(&self) -> usize {
        match self {
            ConstData::F64(v) => v.len(),
            ConstData::I64(v) => v.len(),
            ConstData::Bool(v) => v.len(),
        }
    }

    /// The same kind of data with the elements at `indices`.
    pub(super) fn gather(&self, indices: impl Iterator<Item = usize>) -> ConstData {
        match self {
            ConstData::F64(v) => ConstData::F64(indices.map(|i| v[i]).collect()),
            ConstData::I64(v) => ConstData::I64(indices.map(|i| v[i]).collect()),
            ConstData::Bool(v) => ConstData::Bool(indices.map(|i| v[i]).collect()),
        }
    }

    /// Element `i` as `f64` (booleans as 0 and 1).
    pub(super) fn f64_at(&self, i: usize) -> f64 {
        match self {
            ConstData::F64(v) => v[i],
            ConstData::I64(v) => v[i] as f64,
            ConstData::Bool(v) => f64::from(u8::from(v[i])),
        }
    }
}

/// A constant tensor, materialised (small: shapes, masks, scalars, folded results).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Const {
    pub(super) dims: Vec<usize>,
    pub(super) data: ConstData,
}

impl Const {
    pub(super) fn ints(dims: Vec<usize>, v: Vec<i64>) -> Self {
        Self {
            dims,
            data: ConstData::I64(v),
        }
    }

    pub(super) fn scalar_f64(v: f64) -> Self {
        Self {
            dims: vec![],
            data: ConstData::F64(vec![v]),
        }
    }

    /// Its single value, if it has exactly one element.
    pub(super) fn scalar(&self) -> Option<f64> {
        (self.data.len() == 1).then(|| self.data.f64_at(0))
    }
}

/// An element-wise function of one activation, not yet a layer.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Expr {
    /// `c[0] + c[1] x + c[2] x^2` on every element.
    Poly { x: Act, c: [f64; 3] },
    /// Per channel (per feature of a flat vector): ReLU where `mask` is true, identity where
    /// false.
    Mask { x: Act, mask: Vec<bool> },
    /// Channels `start .. start + mask.len()` of `x`, each through ReLU (true) or not: only
    /// valid as a part of a `Concat` that puts every channel of `x` back in order.
    Channels {
        x: Act,
        start: usize,
        mask: Vec<bool>,
    },
}

/// A pending expression, the node it came from (its layer name), and how it was
/// materialised, if it was.
#[derive(Debug)]
pub(super) struct Pending {
    pub(super) node: String,
    pub(super) expr: Expr,
    /// Consumers of every name bound to this expression.
    pub(super) consumers: Cell<usize>,
    pub(super) layer: Cell<Option<Act>>,
}

/// What a tensor name stands for.
#[derive(Debug, Clone)]
pub(super) enum Value<'m> {
    Act(Act),
    /// An initializer or a `Constant`'s tensor, read only where needed.
    Tensor(&'m TensorProto),
    Const(Rc<Const>),
    Expr(Rc<Pending>),
}

impl Value<'_> {
    pub(super) fn is_constant(&self) -> bool {
        matches!(self, Value::Tensor(_) | Value::Const(_))
    }
}

/// `d` as an ONNX dimension (every size here is far below `i64::MAX`).
pub(super) fn dims_i64(dims: &[usize]) -> Vec<i64> {
    dims.iter()
        .map(|&d| i64::try_from(d).unwrap_or(i64::MAX))
        .collect()
}

/// An axis of a rank-`rank` tensor, negative values counting from the end.
pub(super) fn axis(value: i64, rank: usize) -> Option<usize> {
    let r = i64::try_from(rank).ok()?;
    let a = if value < 0 { value + r } else { value };
    (0..r).contains(&a).then_some(a as usize)
}

/// The numpy broadcast of two shapes, or `None` if they do not broadcast.
pub(super) fn broadcast_dims(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    let rank = a.len().max(b.len());
    let at = |d: &[usize], i: usize| -> usize {
        let pad = rank - d.len();
        if i < pad { 1 } else { d[i - pad] }
    };
    (0..rank)
        .map(|i| match (at(a, i), at(b, i)) {
            (x, y) if x == y => Some(x),
            (1, y) => Some(y),
            (x, 1) => Some(x),
            _ => None,
        })
        .collect()
}

/// For a tensor of `dims` broadcast to `out` (which `broadcast_dims` produced), the flat
/// index into it of every flat index of `out`, in order.
pub(super) fn broadcast_indices(dims: &[usize], out: &[usize]) -> impl Iterator<Item = usize> {
    let pad = out.len() - dims.len();
    // Strides of the input, 0 along broadcast axes.
    let mut strides = vec![0usize; out.len()];
    let mut s = 1usize;
    for i in (0..dims.len()).rev() {
        strides[pad + i] = if dims[i] == 1 { 0 } else { s };
        s *= dims[i];
    }
    let total: usize = out.iter().product();
    let out = out.to_vec();
    (0..total).map(move |mut flat| {
        let mut idx = 0;
        for i in (0..out.len()).rev() {
            let d = out[i];
            idx += (flat % d) * strides[i];
            flat /= d;
        }
        idx
    })
}

/// The element count of `dims` if it is at most `limit`.
pub(super) fn count(dims: &[usize], limit: usize) -> Result<usize> {
    crate::onnx::tensor::checked_len(dims, limit)
}

/// An error for a shape that does not fit.
pub(super) fn shape_err(node: &str, what: &str, expected: &[usize], actual: &[usize]) -> NnError {
    NnError::ShapeMismatch {
        context: format!("node {node:?}: {what}"),
        expected: dims_i64(expected),
        actual: dims_i64(actual),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcasting() {
        assert_eq!(
            broadcast_dims(&[1, 6, 1, 1], &[1, 6, 4, 4]),
            Some(vec![1, 6, 4, 4])
        );
        assert_eq!(broadcast_dims(&[8], &[1, 8]), Some(vec![1, 8]));
        assert_eq!(broadcast_dims(&[], &[2, 3]), Some(vec![2, 3]));
        assert_eq!(broadcast_dims(&[2], &[3]), None);
        let idx: Vec<usize> = broadcast_indices(&[2, 1], &[2, 3]).collect();
        assert_eq!(idx, vec![0, 0, 0, 1, 1, 1]);
        let idx: Vec<usize> = broadcast_indices(&[3], &[2, 3]).collect();
        assert_eq!(idx, vec![0, 1, 2, 0, 1, 2]);
        assert_eq!(axis(-1, 4), Some(3));
        assert_eq!(axis(4, 4), None);
        assert_eq!(axis(-5, 4), None);
    }
}
