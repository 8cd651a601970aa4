//! Views and no-ops: Flatten, Reshape, Squeeze, Unsqueeze and Expand change only how an
//! activation's elements are indexed (a reshape layer when the IR shape changes, nothing when
//! it does not); Identity, inference-mode Dropout and a Cast to float are no-ops. The shape
//! arithmetic here (with checked products) serves constants too (`fold`).

use super::attrs::Attrs;
use super::values::{Act, Rank, Value, axis, broadcast_dims, count, onnx_dims, shape_err};
use super::{Builder, expect_inputs, expect_inputs_between, pattern};
use crate::error::{NnError, Result};
use crate::model::{MAX_TENSOR_ELEMENTS, Op, Shape};
use crate::onnx::proto::{NodeProto, data_type};

/// One axis of a `Slice`: the first index, how many, and the step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct SliceAxis {
    pub(super) start: usize,
    pub(super) count: usize,
    pub(super) step: i64,
}

impl<'m> Builder<'m> {
    /// The ONNX dims a view node (Flatten, Reshape, Squeeze, Unsqueeze, Expand) gives a tensor
    /// of `dims`.
    pub(super) fn view_dims(&mut self, node: &'m NodeProto, dims: &[usize]) -> Result<Vec<usize>> {
        let limit = self.limits.max_elements.max(MAX_TENSOR_ELEMENTS);
        let total = count(dims, limit)?;
        let out = match node.op_type.as_str() {
            "Flatten" => {
                let attrs = Attrs::check(node, &["axis"])?;
                expect_inputs(node, 1)?;
                let a = attrs.int("axis", 1)?;
                let r = dims.len() as i64;
                let a = if a < 0 { a + r } else { a };
                if !(0..=r).contains(&a) {
                    return Err(attrs.unsupported_value("axis", a));
                }
                let outer = count(&dims[..a as usize], limit)?;
                vec![outer, total / outer.max(1)]
            }
            "Reshape" => {
                let attrs = Attrs::check(node, &["allowzero"])?;
                expect_inputs(node, 2)?;
                let allow_zero = attrs.flag("allowzero", false)?;
                let target = self.int_list(node, 1)?;
                reshape_dims(node, dims, &target, allow_zero, limit)?
            }
            "Squeeze" => {
                let attrs = Attrs::check(node, &["axes"])?;
                expect_inputs_between(node, 1, 2, "1 or 2")?;
                let axes = match (attrs.ints("axes")?, self.input_name(node, 1)) {
                    (Some(a), _) => Some(a.to_vec()),
                    (None, Some(_)) => Some(self.int_list(node, 1)?),
                    (None, None) => None,
                };
                squeeze_dims(node, dims, axes.as_deref())?
            }
            "Unsqueeze" => {
                let attrs = Attrs::check(node, &["axes"])?;
                expect_inputs_between(node, 1, 2, "1 or 2")?;
                let axes = match (attrs.ints("axes")?, self.input_name(node, 1)) {
                    (Some(a), _) => a.to_vec(),
                    (None, Some(_)) => self.int_list(node, 1)?,
                    (None, None) => return Err(attrs.missing("axes")),
                };
                unsqueeze_dims(node, dims, &axes)?
            }
            "Expand" => {
                Attrs::check(node, &[])?;
                expect_inputs(node, 2)?;
                let shape = self.int_list(node, 1)?;
                let shape: Vec<usize> = shape
                    .iter()
                    .map(|&d| usize::try_from(d))
                    .collect::<std::result::Result<_, _>>()
                    .map_err(|_| shape_err(&node.name, "Expand shape", dims, &[]))?;
                let out = broadcast_dims(dims, &shape)
                    .ok_or_else(|| shape_err(&node.name, "Expand shape", dims, &shape))?;
                count(&out, self.limits.max_elements)?;
                out
            }
            _ => return Err(pattern(node, "not a view", "")),
        };
        Ok(out)
    }

    /// A view node on an activation.
    pub(super) fn view(&mut self, node: &'m NodeProto) -> Result<()> {
        let x = self.act(node, 0)?;
        let dims = onnx_dims(self.shape(x), x.rank);
        let out = self.view_dims(node, &dims)?;
        if node.op_type == "Expand" && out != dims {
            return Err(pattern(
                node,
                "Expand of an activation to a larger shape",
                "activations keep their shape; broadcast constants instead",
            ));
        }
        self.bind_view(node, x, &out)
    }

    /// Binds the node's output to `x` viewed with ONNX dims `out` (`[1, N]` or
    /// `[1, C, H, W]`), adding a reshape layer if the IR shape changes.
    fn bind_view(&mut self, node: &'m NodeProto, x: Act, out: &[usize]) -> Result<()> {
        let (shape, rank) = match *out {
            [1, n] => (Shape::flat(n), Rank::Flat),
            [1, c, h, w] => (Shape::new(c, h, w), Rank::Spatial),
            _ => {
                return Err(shape_err(
                    &node.name,
                    "activation shape (rank 2 or 4 with batch 1)",
                    &onnx_dims(self.shape(x), x.rank),
                    out,
                ));
            }
        };
        if shape.len() != self.shape(x).len() {
            return Err(shape_err(
                &node.name,
                "view (same number of elements)",
                &onnx_dims(self.shape(x), x.rank),
                out,
            ));
        }
        if shape == self.shape(x) {
            return self.bind_output(node, Value::Act(Act { id: x.id, rank }));
        }
        self.push_output(node, Op::Reshape { shape }, vec![x.id], None, rank)
    }

    /// Identity, and Dropout in inference mode: the output is the input (of any kind).
    pub(super) fn pass_through(&mut self, node: &'m NodeProto) -> Result<()> {
        if node.op_type == "Identity" {
            Attrs::check(node, &[])?;
            expect_inputs(node, 1)?;
            if node.output.len() != 1 {
                return Err(super::arity(node, "output", "1", node.output.len()));
            }
        } else {
            let attrs = Attrs::check(node, &["seed", "ratio", "is_test"])?;
            expect_inputs_between(node, 1, 3, "1 to 3")?;
            if attrs.has("is_test") && !attrs.flag("is_test", true)? {
                return Err(attrs.unsupported_value("is_test", 0));
            }
            if self.input_name(node, 2).is_some() {
                let training = self.constant(node, 2)?;
                if training.scalar() != Some(0.0) {
                    return Err(pattern(
                        node,
                        "Dropout in training mode",
                        "export the model in eval mode (model.eval())",
                    ));
                }
            }
            // The mask output, if named, must be unused.
            if node.output.len() > 2
                || node.output.get(1).is_some_and(|m| {
                    !m.is_empty() && self.consumers.get(m.as_str()).copied().unwrap_or(0) > 0
                })
            {
                return Err(pattern(
                    node,
                    "the Dropout mask is used",
                    "export the model in eval mode (model.eval())",
                ));
            }
        }
        let v = self.value(node, 0)?;
        self.bind(node, 0, v)
    }

    /// A Cast of an activation: only to FLOAT, which it already is.
    pub(super) fn cast_activation(&mut self, node: &'m NodeProto) -> Result<()> {
        let attrs = Attrs::check(node, &["to", "saturate"])?;
        expect_inputs(node, 1)?;
        let to = attrs.int("to", 0)?;
        if to != i64::from(data_type::FLOAT) {
            return Err(attrs.unsupported_value("to", to));
        }
        let x = self.act(node, 0)?;
        self.bind_output(node, Value::Act(x))
    }

    /// The per-axis ranges of a `Slice` node (inputs starts, ends, axes, steps) on `dims`.
    pub(super) fn slice_ranges(
        &mut self,
        node: &'m NodeProto,
        dims: &[usize],
    ) -> Result<Vec<SliceAxis>> {
        let starts = self.int_list(node, 1)?;
        let ends = self.int_list(node, 2)?;
        let axes = match self.input_name(node, 3) {
            Some(_) => self.int_list(node, 3)?,
            None => (0..starts.len() as i64).collect(),
        };
        let steps = match self.input_name(node, 4) {
            Some(_) => self.int_list(node, 4)?,
            None => vec![1; starts.len()],
        };
        if ends.len() != starts.len() || axes.len() != starts.len() || steps.len() != starts.len() {
            return Err(NnError::InvalidNode {
                node: node.name.clone(),
                reason: "Slice starts, ends, axes and steps differ in length",
            });
        }
        let mut out: Vec<SliceAxis> = dims
            .iter()
            .map(|&d| SliceAxis {
                start: 0,
                count: d,
                step: 1,
            })
            .collect();
        let mut seen = vec![false; dims.len()];
        for i in 0..starts.len() {
            let a = axis(axes[i], dims.len()).ok_or(NnError::InvalidNode {
                node: node.name.clone(),
                reason: "Slice axis out of range",
            })?;
            if std::mem::replace(&mut seen[a], true) || steps[i] == 0 {
                return Err(NnError::InvalidNode {
                    node: node.name.clone(),
                    reason: "Slice axis repeated or step 0",
                });
            }
            out[a] = slice_axis(dims[a], starts[i], ends[i], steps[i]);
        }
        Ok(out)
    }
}

/// ONNX `Slice` semantics on one axis of size `dim` (negative indices count from the end,
/// indices are clamped, `step != 0`).
pub(super) fn slice_axis(dim: usize, start: i64, end: i64, step: i64) -> SliceAxis {
    let d = dim as i128;
    let norm = |v: i64| {
        let v = i128::from(v);
        if v < 0 { v + d } else { v }
    };
    let (s, e) = (norm(start), norm(end));
    let step128 = i128::from(step);
    let (s, count) = if step > 0 {
        let s = s.clamp(0, d);
        let e = e.clamp(0, d);
        (
            s,
            if e > s {
                (e - s + step128 - 1) / step128
            } else {
                0
            },
        )
    } else {
        let s = s.clamp(0, (d - 1).max(0));
        let e = e.clamp(-1, d - 1);
        (
            s,
            if s > e {
                (s - e - step128 - 1) / -step128
            } else {
                0
            },
        )
    };
    SliceAxis {
        start: s as usize,
        count: if dim == 0 { 0 } else { count as usize },
        step,
    }
}

/// ONNX `Reshape`: `0` copies the input dim (unless `allow_zero`), one `-1` is inferred.
pub(super) fn reshape_dims(
    node: &NodeProto,
    dims: &[usize],
    target: &[i64],
    allow_zero: bool,
    limit: usize,
) -> Result<Vec<usize>> {
    let total = count(dims, limit)?;
    let bad = || NnError::ShapeMismatch {
        context: format!("node {:?}: Reshape target", node.name),
        expected: super::values::dims_i64(dims),
        actual: target.to_vec(),
    };
    let mut out = Vec::with_capacity(target.len());
    let mut infer = None;
    for (i, &d) in target.iter().enumerate() {
        match d {
            0 if !allow_zero => out.push(*dims.get(i).ok_or_else(bad)?),
            -1 if infer.is_none() => {
                infer = Some(i);
                out.push(1);
            }
            d if d >= 0 => out.push(usize::try_from(d).map_err(|_| bad())?),
            _ => return Err(bad()),
        }
    }
    // Target dims come from the file: multiply with overflow checks.
    let known = out
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(bad)?;
    if let Some(i) = infer {
        if known == 0 || total % known != 0 {
            return Err(bad());
        }
        out[i] = total / known;
    } else if known != total {
        return Err(bad());
    }
    Ok(out)
}

/// ONNX `Squeeze`: removes the listed axes (each of size 1), or every axis of size 1.
pub(super) fn squeeze_dims(
    node: &NodeProto,
    dims: &[usize],
    axes: Option<&[i64]>,
) -> Result<Vec<usize>> {
    let mut remove = vec![false; dims.len()];
    match axes {
        None => {
            for (r, &d) in remove.iter_mut().zip(dims) {
                *r = d == 1;
            }
        }
        Some(axes) => {
            for &a in axes {
                let a = axis(a, dims.len())
                    .filter(|&a| dims[a] == 1)
                    .ok_or_else(|| shape_err(&node.name, "Squeeze axes", dims, &[]))?;
                remove[a] = true;
            }
        }
    }
    Ok(dims
        .iter()
        .zip(&remove)
        .filter(|(_, r)| !**r)
        .map(|(&d, _)| d)
        .collect())
}

/// ONNX `Unsqueeze`: inserts axes of size 1 (axes index the output).
pub(super) fn unsqueeze_dims(node: &NodeProto, dims: &[usize], axes: &[i64]) -> Result<Vec<usize>> {
    let rank = dims.len() + axes.len();
    let mut insert = vec![false; rank];
    for &a in axes {
        let a = axis(a, rank)
            .filter(|&a| !insert[a])
            .ok_or_else(|| shape_err(&node.name, "Unsqueeze axes", dims, &[]))?;
        insert[a] = true;
    }
    let mut rest = dims.iter();
    Ok(insert
        .iter()
        .map(|&i| if i { 1 } else { *rest.next().unwrap_or(&1) })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node() -> NodeProto {
        NodeProto::default()
    }

    #[test]
    fn slices_follow_onnx() {
        let s = slice_axis(6, 0, 2, 1);
        assert_eq!((s.start, s.count), (0, 2));
        let s = slice_axis(6, 2, i64::MAX, 1);
        assert_eq!((s.start, s.count), (2, 4));
        let s = slice_axis(6, -2, i64::MAX, 1);
        assert_eq!((s.start, s.count), (4, 2));
        let s = slice_axis(6, i64::MIN, i64::MIN, 1);
        assert_eq!(s.count, 0);
        let s = slice_axis(6, -1, i64::MIN, -1);
        assert_eq!((s.start, s.count), (5, 6));
        let s = slice_axis(6, 0, 6, 4);
        assert_eq!((s.start, s.count), (0, 2));
    }

    #[test]
    fn reshapes_check_products() {
        let n = node();
        assert_eq!(
            reshape_dims(&n, &[1, 4, 2, 2], &[1, -1], false, 1 << 20),
            Ok(vec![1, 16])
        );
        assert_eq!(
            reshape_dims(&n, &[1, 4, 2, 2], &[0, -1], false, 1 << 20),
            Ok(vec![1, 16])
        );
        assert!(reshape_dims(&n, &[1, 4], &[1 << 40, 1 << 40, -1], false, 1 << 20).is_err());
        assert!(reshape_dims(&n, &[1, 4], &[3, -1], false, 1 << 20).is_err());
        assert!(reshape_dims(&n, &[1, 4], &[-1, -1], false, 1 << 20).is_err());
        assert!(reshape_dims(&n, &[1, 4], &[1, 0], true, 1 << 20).is_err());
        assert_eq!(
            squeeze_dims(&n, &[1, 4, 1, 1], Some(&[2, 3])),
            Ok(vec![1, 4])
        );
        assert_eq!(squeeze_dims(&n, &[1, 4, 1, 1], None), Ok(vec![4]));
        assert!(squeeze_dims(&n, &[1, 4], Some(&[1])).is_err());
        assert_eq!(unsqueeze_dims(&n, &[1, 4], &[-1, 2]), Ok(vec![1, 4, 1, 1]));
        assert_eq!(unsqueeze_dims(&n, &[], &[0]), Ok(vec![1]));
        assert!(unsqueeze_dims(&n, &[4], &[0, 0]).is_err());
    }
}
