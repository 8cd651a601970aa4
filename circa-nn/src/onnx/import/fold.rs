//! Constants and the arithmetic on them, folded at import: Constant nodes; Shape of any
//! tensor (static, batch 1); Gather, Unsqueeze, Squeeze, Flatten, Reshape, Expand, Concat,
//! Slice, Cast, Transpose and element-wise Add/Sub/Mul/Div/Pow on constants. This is what
//! exporters emit for `x.view(x.size(0), -1)` and similar shape computations. Every folded
//! result is bounded by `max_elements` and charged to the import's element budget.

use std::rc::Rc;

use super::attrs::Attrs;
use super::values::{
    Const, ConstData, Value, axis, broadcast_dims, broadcast_indices, count, shape_err,
};
use super::{Builder, expect_inputs, expect_inputs_between, pattern};
use crate::error::{NnError, Result};
use crate::onnx::proto::{NodeProto, data_type};

impl<'m> Builder<'m> {
    /// Binds the node's output to a folded constant (bounded and charged).
    fn bind_const(&mut self, node: &'m NodeProto, c: Const) -> Result<()> {
        let n = count(&c.dims, self.limits.max_elements)?;
        if n != c.data.len() {
            return Err(NnError::InvalidNode {
                node: node.name.clone(),
                reason: "folded constant has the wrong number of elements",
            });
        }
        self.charge(n)?;
        self.bind_output(node, Value::Const(Rc::new(c)))
    }

    /// `Constant`: one of `value` (a tensor), `value_float(s)`, `value_int(s)`.
    pub(super) fn constant_node(&mut self, node: &'m NodeProto) -> Result<()> {
        let attrs = Attrs::check(
            node,
            &[
                "value",
                "value_float",
                "value_floats",
                "value_int",
                "value_ints",
            ],
        )?;
        expect_inputs(node, 0)?;
        if node.attribute.len() != 1 {
            return Err(attrs.missing("value"));
        }
        if let Some(t) = attrs.tensor("value")? {
            return self.bind_output(node, Value::Tensor(t));
        }
        if attrs.has("value") {
            return Err(attrs.missing("value"));
        }
        let c = if attrs.has("value_float") {
            Const {
                dims: vec![],
                data: ConstData::F64(vec![f64::from(attrs.float("value_float", 0.0)?)]),
            }
        } else if let Some(v) = attrs.floats("value_floats")? {
            Const {
                dims: vec![v.len()],
                data: ConstData::F64(v.iter().map(|&x| f64::from(x)).collect()),
            }
        } else if attrs.has("value_int") {
            Const::ints(vec![], vec![attrs.int("value_int", 0)?])
        } else {
            let v = attrs
                .ints("value_ints")?
                .ok_or_else(|| attrs.missing("value"))?;
            Const::ints(vec![v.len()], v.to_vec())
        };
        self.bind_const(node, c)
    }

    /// `Shape` of any tensor (attributes `start`, `end` as in opset 15).
    pub(super) fn shape_of(&mut self, node: &'m NodeProto) -> Result<()> {
        let attrs = Attrs::check(node, &["start", "end"])?;
        expect_inputs(node, 1)?;
        let v = self.value(node, 0)?;
        let dims = self.dims_of(&v)?;
        let r = dims.len() as i64;
        let s =
            super::shape::slice_axis(dims.len(), attrs.int("start", 0)?, attrs.int("end", r)?, 1);
        let out: Vec<i64> = super::values::dims_i64(&dims[s.start..s.start + s.count]);
        self.bind_const(node, Const::ints(vec![out.len()], out))
    }

    /// Element-wise Add, Sub, Mul, Div, Pow of two constants (numpy broadcasting).
    pub(super) fn fold_arithmetic(&mut self, node: &'m NodeProto) -> Result<()> {
        Attrs::check(node, &[])?;
        expect_inputs(node, 2)?;
        let a = self.constant(node, 0)?;
        let b = self.constant(node, 1)?;
        let dims = broadcast_dims(&a.dims, &b.dims)
            .ok_or_else(|| shape_err(&node.name, "operands", &a.dims, &b.dims))?;
        count(&dims, self.limits.max_elements)?;
        let ia = broadcast_indices(&a.dims, &dims);
        let ib = broadcast_indices(&b.dims, &dims);
        let op = node.op_type.as_str();
        let data = match (&a.data, &b.data) {
            (ConstData::F64(x), _) if op == "Pow" => ConstData::F64(
                ia.zip(ib)
                    .map(|(i, j)| x[i].powf(b.data.f64_at(j)))
                    .collect(),
            ),
            (ConstData::F64(x), ConstData::F64(y)) => ConstData::F64(
                ia.zip(ib)
                    .map(|(i, j)| match op {
                        "Add" => x[i] + y[j],
                        "Sub" => x[i] - y[j],
                        "Mul" => x[i] * y[j],
                        _ => x[i] / y[j],
                    })
                    .collect(),
            ),
            (ConstData::I64(x), ConstData::I64(y)) if op != "Pow" => {
                let overflow = || NnError::InvalidNode {
                    node: node.name.clone(),
                    reason: "integer arithmetic overflows or divides by zero",
                };
                let v: Option<Vec<i64>> = ia
                    .zip(ib)
                    .map(|(i, j)| match op {
                        "Add" => x[i].checked_add(y[j]),
                        "Sub" => x[i].checked_sub(y[j]),
                        "Mul" => x[i].checked_mul(y[j]),
                        _ => x[i].checked_div(y[j]),
                    })
                    .collect();
                ConstData::I64(v.ok_or_else(overflow)?)
            }
            _ => {
                return Err(NnError::InvalidNode {
                    node: node.name.clone(),
                    reason: "operands of different or unsupported data types",
                });
            }
        };
        self.bind_const(node, Const { dims, data })
    }

    /// `Concat` of constants.
    pub(super) fn fold_concat(&mut self, node: &'m NodeProto) -> Result<()> {
        let attrs = Attrs::check(node, &["axis"])?;
        let a = attrs.int("axis", i64::MIN)?;
        let parts: Vec<Rc<Const>> = (0..node.input.len())
            .map(|i| self.constant(node, i))
            .collect::<Result<_>>()?;
        let Some(first) = parts.first() else {
            return Err(super::arity(node, "input", "at least 1", 0));
        };
        let ax = axis(a, first.dims.len()).ok_or_else(|| attrs.unsupported_value("axis", a))?;
        let mut dims = first.dims.clone();
        dims[ax] = 0;
        for p in &parts {
            let same = p.dims.len() == dims.len()
                && p.dims
                    .iter()
                    .zip(&first.dims)
                    .enumerate()
                    .all(|(i, (x, y))| i == ax || x == y)
                && std::mem::discriminant(&p.data) == std::mem::discriminant(&first.data);
            if !same {
                return Err(shape_err(
                    &node.name,
                    "Concat operands",
                    &first.dims,
                    &p.dims,
                ));
            }
            dims[ax] = dims[ax]
                .checked_add(p.dims[ax])
                .ok_or(NnError::InvalidNode {
                    node: node.name.clone(),
                    reason: "Concat size overflows",
                })?;
        }
        count(&dims, self.limits.max_elements)?;
        let outer: usize = dims[..ax].iter().product();
        let inner: usize = dims[ax + 1..].iter().product();
        // For each output element: which part, and which element of it.
        let mut picks: Vec<(usize, usize)> = Vec::new();
        for o in 0..outer {
            for (pi, p) in parts.iter().enumerate() {
                let block = p.dims[ax] * inner;
                picks.extend((0..block).map(|k| (pi, o * block + k)));
            }
        }
        let data = match &first.data {
            ConstData::F64(_) => ConstData::F64(
                picks
                    .iter()
                    .map(|&(p, i)| parts[p].data.f64_at(i))
                    .collect(),
            ),
            ConstData::I64(_) => ConstData::I64(
                picks
                    .iter()
                    .map(|&(p, i)| match &parts[p].data {
                        ConstData::I64(v) => v[i],
                        _ => 0,
                    })
                    .collect(),
            ),
            ConstData::Bool(_) => ConstData::Bool(
                picks
                    .iter()
                    .map(|&(p, i)| parts[p].data.f64_at(i) != 0.0)
                    .collect(),
            ),
        };
        self.bind_const(node, Const { dims, data })
    }

    /// `Slice` of a constant.
    pub(super) fn fold_slice(&mut self, node: &'m NodeProto) -> Result<()> {
        Attrs::check(node, &[])?;
        expect_inputs_between(node, 3, 5, "3 to 5")?;
        let c = self.constant(node, 0)?;
        let ranges = self.slice_ranges(node, &c.dims)?;
        let dims: Vec<usize> = ranges.iter().map(|r| r.count).collect();
        count(&dims, self.limits.max_elements)?;
        let strides = strides(&c.dims);
        let indices = odometer(&dims).map(|idx| {
            idx.iter()
                .zip(&ranges)
                .zip(&strides)
                .map(|((&i, r), &s)| {
                    let pos = r.start as i128 + i as i128 * i128::from(r.step);
                    pos as usize * s
                })
                .sum()
        });
        let data = c.data.gather(indices);
        self.bind_const(node, Const { dims, data })
    }

    /// `Gather` on a constant with constant indices.
    pub(super) fn fold_gather(&mut self, node: &'m NodeProto) -> Result<()> {
        let attrs = Attrs::check(node, &["axis"])?;
        expect_inputs(node, 2)?;
        if !self.value(node, 0)?.is_constant() {
            return Err(pattern(
                node,
                "Gather on an activation",
                "index activations with channel slices (y[:, a:b])",
            ));
        }
        let data = self.constant(node, 0)?;
        let idx = self.constant(node, 1)?;
        let a = attrs.int("axis", 0)?;
        let ax = axis(a, data.dims.len()).ok_or_else(|| attrs.unsupported_value("axis", a))?;
        let ConstData::I64(raw) = &idx.data else {
            return Err(NnError::WrongInputKind {
                node: node.name.clone(),
                tensor: node.input[1].clone(),
                expected: "an integer constant",
            });
        };
        let d = data.dims[ax];
        let picks: Vec<usize> = raw
            .iter()
            .map(|&i| {
                let i = if i < 0 { i + d as i64 } else { i };
                usize::try_from(i).ok().filter(|&i| i < d)
            })
            .collect::<Option<_>>()
            .ok_or(NnError::InvalidNode {
                node: node.name.clone(),
                reason: "Gather index out of range",
            })?;
        let mut dims = data.dims[..ax].to_vec();
        dims.extend(&idx.dims);
        dims.extend(&data.dims[ax + 1..]);
        count(&dims, self.limits.max_elements)?;
        let outer: usize = data.dims[..ax].iter().product();
        let inner: usize = data.dims[ax + 1..].iter().product();
        let mut indices = Vec::new();
        for o in 0..outer {
            for &p in &picks {
                indices.extend((0..inner).map(|k| (o * d + p) * inner + k));
            }
        }
        let out = data.data.gather(indices.into_iter());
        self.bind_const(node, Const { dims, data: out })
    }

    /// `Transpose` of a constant.
    pub(super) fn fold_transpose(&mut self, node: &'m NodeProto) -> Result<()> {
        let attrs = Attrs::check(node, &["perm"])?;
        expect_inputs(node, 1)?;
        if !self.value(node, 0)?.is_constant() {
            return Err(pattern(
                node,
                "Transpose of an activation",
                "activations keep their C x H x W order",
            ));
        }
        let c = self.constant(node, 0)?;
        let r = c.dims.len();
        let perm: Vec<usize> = match attrs.ints("perm")? {
            None => (0..r).rev().collect(),
            Some(p) => p
                .iter()
                .map(|&a| axis(a, r))
                .collect::<Option<_>>()
                .ok_or_else(|| attrs.unsupported_value("perm", format!("{p:?}")))?,
        };
        let mut sorted = perm.clone();
        sorted.sort_unstable();
        if sorted != (0..r).collect::<Vec<_>>() {
            return Err(attrs.unsupported_value("perm", format!("{perm:?}")));
        }
        let dims: Vec<usize> = perm.iter().map(|&p| c.dims[p]).collect();
        let strides = strides(&c.dims);
        let indices =
            odometer(&dims).map(|idx| idx.iter().zip(&perm).map(|(&i, &p)| i * strides[p]).sum());
        let data = c.data.gather(indices);
        self.bind_const(node, Const { dims, data })
    }

    /// `Cast` of a constant to FLOAT/DOUBLE, INT64/INT32 or BOOL.
    pub(super) fn fold_cast(&mut self, node: &'m NodeProto) -> Result<()> {
        let attrs = Attrs::check(node, &["to", "saturate"])?;
        expect_inputs(node, 1)?;
        let c = self.constant(node, 0)?;
        let to = attrs.int("to", 0)?;
        let n = c.data.len();
        let data = match i32::try_from(to).unwrap_or(0) {
            data_type::FLOAT | data_type::DOUBLE => {
                ConstData::F64((0..n).map(|i| c.data.f64_at(i)).collect())
            }
            data_type::INT64 | data_type::INT32 => {
                let v: Option<Vec<i64>> = (0..n)
                    .map(|i| match &c.data {
                        ConstData::I64(v) => Some(v[i]),
                        other => {
                            let f = other.f64_at(i).trunc();
                            (f.is_finite() && f.abs() < 9.0e18).then_some(f as i64)
                        }
                    })
                    .collect();
                ConstData::I64(v.ok_or(NnError::InvalidNode {
                    node: node.name.clone(),
                    reason: "Cast of a value that does not fit an integer",
                })?)
            }
            data_type::BOOL => ConstData::Bool((0..n).map(|i| c.data.f64_at(i) != 0.0).collect()),
            _ => return Err(attrs.unsupported_value("to", to)),
        };
        self.bind_const(
            node,
            Const {
                dims: c.dims.clone(),
                data,
            },
        )
    }

    /// Flatten, Reshape, Squeeze, Unsqueeze or Expand of a constant.
    pub(super) fn fold_view(&mut self, node: &'m NodeProto) -> Result<()> {
        let c = self.constant(node, 0)?;
        let dims = self.view_dims(node, &c.dims)?;
        let data = if node.op_type == "Expand" {
            c.data.gather(broadcast_indices(&c.dims, &dims))
        } else {
            c.data.clone()
        };
        self.bind_const(node, Const { dims, data })
    }
}

/// Row-major strides of `dims`.
fn strides(dims: &[usize]) -> Vec<usize> {
    let mut s = vec![1usize; dims.len()];
    for i in (0..dims.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * dims[i + 1];
    }
    s
}

/// Every multi-index of `dims` in row-major order.
fn odometer(dims: &[usize]) -> impl Iterator<Item = Vec<usize>> + '_ {
    let total: usize = dims.iter().product();
    (0..total).map(move |mut flat| {
        let mut idx = vec![0; dims.len()];
        for i in (0..dims.len()).rev() {
            idx[i] = flat % dims[i];
            flat /= dims[i];
        }
        idx
    })
}
