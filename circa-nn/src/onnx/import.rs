//! ONNX graph -> [`Network`].
//!
//! Supported (default domain): Conv, Gemm, MatMul (+ a following Add of a constant as bias), Add
//! (residual, two activations of equal shape), Relu, AveragePool, GlobalAveragePool, MaxPool,
//! BatchNormalization (folded into the preceding Conv/Gemm/MatMul), Flatten, Reshape, Constant.
//! Custom domain `ai.circa`: `ChannelRelu` (INTS `mask`, one entry per channel, 1 = ReLU,
//! 0 = identity) and `Polynomial` (FLOATS `coefficients` `[c0, c1, c2]`, degree <= 2).
//! A ChannelRelu whose mask is all ones is imported as [`Activation::Relu`], all zeros as
//! [`Activation::Identity`].
//!
//! Batch size is 1: activations have ONNX shape `[1, C, H, W]` or `[1, N]`. Anything else --
//! another operator, domain, attribute, attribute value or data type -- is an error naming it.

use std::collections::HashMap;

use super::proto::{
    AttributeProto, DATA_TYPE_FLOAT, Dim, GraphProto, ModelProto, NodeProto, TensorProto,
    ValueInfoProto, attr_type, data_type_name,
};
use super::wire::DecodeLimits;
use crate::error::{NnError, Result};
use crate::model::{
    Activation, Architecture, Conv2d, LinearWeights, Network, Op, Shape, TensorId, Window2d,
};

/// The custom operator domain for Circa's activations.
pub const CIRCA_DOMAIN: &str = "ai.circa";

/// Decodes and imports a serialised ONNX model with the default [`DecodeLimits`].
pub fn import_onnx(bytes: &[u8]) -> Result<Network> {
    import_onnx_with_limits(bytes, &DecodeLimits::default())
}

/// Decodes and imports a serialised ONNX model, enforcing `limits`.
pub fn import_onnx_with_limits(bytes: &[u8], limits: &DecodeLimits) -> Result<Network> {
    let model = ModelProto::decode_with_limits(bytes, limits)?;
    import_model(&model, limits)
}

/// Imports a decoded ONNX model. `limits.max_elements` bounds every constant tensor.
pub fn import_model(model: &ModelProto, limits: &DecodeLimits) -> Result<Network> {
    let graph = model.graph.as_ref().ok_or(NnError::MissingGraph)?;
    Builder::new(graph, limits)?.run()
}

/// ONNX rank of an activation: `[1, N]` or `[1, C, H, W]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rank {
    Flat,
    Spatial,
}

#[derive(Debug, Clone, Copy)]
struct Act {
    id: TensorId,
    rank: Rank,
}

struct Builder<'m> {
    graph: &'m GraphProto,
    limits: &'m DecodeLimits,
    consts: HashMap<&'m str, &'m TensorProto>,
    acts: HashMap<&'m str, Act>,
    /// Number of nodes (and graph outputs) consuming each tensor name.
    consumers: HashMap<&'m str, usize>,
    declared: HashMap<&'m str, &'m ValueInfoProto>,
    /// Per tensor id: consumers summed over every name bound to it (aliases come from folding
    /// and flattening), kept up to date as names are bound so no lookup rescans the aliases.
    uses: Vec<usize>,
    /// Elements of constant tensors read (and weights rescaled by folding) so far; bounded by
    /// [`Builder::MATERIALIZE_FACTOR`] times `limits.max_elements` so that many nodes sharing one
    /// large initializer cannot multiply the memory and time spent on it.
    materialized: usize,
    input_shape: Shape,
    shapes: Vec<Shape>,
    layers: Vec<(String, Op, Vec<TensorId>)>,
    weights: Vec<Option<LinearWeights>>,
}

fn onnx_dims(shape: Shape, rank: Rank) -> Vec<i64> {
    match rank {
        Rank::Flat => vec![1, shape.len() as i64],
        Rank::Spatial => vec![
            1,
            shape.channels as i64,
            shape.height as i64,
            shape.width as i64,
        ],
    }
}

impl<'m> Builder<'m> {
    fn new(graph: &'m GraphProto, limits: &'m DecodeLimits) -> Result<Self> {
        let mut consts = HashMap::new();
        for t in &graph.initializer {
            if consts.insert(t.name.as_str(), t).is_some() {
                return Err(NnError::UnsupportedGraphShape {
                    what: "duplicate initializer",
                    name: t.name.clone(),
                });
            }
        }
        let mut consumers: HashMap<&str, usize> = HashMap::new();
        for n in &graph.node {
            for i in &n.input {
                *consumers.entry(i.as_str()).or_default() += 1;
            }
        }
        for o in &graph.output {
            *consumers.entry(o.name.as_str()).or_default() += 1;
        }
        let mut declared = HashMap::new();
        for vi in graph.value_info.iter().chain(&graph.output) {
            declared.insert(vi.name.as_str(), vi);
        }
        let inputs: Vec<&ValueInfoProto> = graph
            .input
            .iter()
            .filter(|vi| !consts.contains_key(vi.name.as_str()))
            .collect();
        if inputs.len() != 1 {
            return Err(NnError::GraphInterface {
                what: "input",
                actual: inputs.len(),
            });
        }
        let input = inputs[0];
        let (input_shape, rank) = graph_input_shape(input)?;
        let mut acts = HashMap::new();
        acts.insert(input.name.as_str(), Act { id: 0, rank });
        let input_uses = consumers.get(input.name.as_str()).copied().unwrap_or(0);
        Ok(Self {
            graph,
            limits,
            consts,
            acts,
            consumers,
            declared,
            uses: vec![input_uses],
            materialized: 0,
            input_shape,
            shapes: vec![input_shape],
            layers: Vec::new(),
            weights: Vec::new(),
        })
    }

    fn run(mut self) -> Result<Network> {
        for node in &self.graph.node {
            self.node(node)?;
        }
        if self.graph.output.len() != 1 {
            return Err(NnError::GraphInterface {
                what: "output",
                actual: self.graph.output.len(),
            });
        }
        let out_name = self.graph.output[0].name.as_str();
        let out = *self
            .acts
            .get(out_name)
            .ok_or_else(|| NnError::UnsupportedGraphShape {
                what: "output",
                name: out_name.to_owned(),
            })?;
        let arch = Architecture::new(self.input_shape, self.layers, out.id)?;
        Network::new(arch, self.weights)
    }

    // ----- inputs -----

    fn input_name(&self, node: &'m NodeProto, idx: usize) -> Option<&'m str> {
        node.input
            .get(idx)
            .map(String::as_str)
            .filter(|s| !s.is_empty())
    }

    fn act(&self, node: &'m NodeProto, idx: usize) -> Result<Act> {
        let name = self
            .input_name(node, idx)
            .ok_or_else(|| arity(node, "input", "more inputs", node.input.len()))?;
        if let Some(a) = self.acts.get(name) {
            return Ok(*a);
        }
        if self.consts.contains_key(name) {
            return Err(NnError::WrongInputKind {
                node: node.name.clone(),
                tensor: name.to_owned(),
                expected: "an activation",
            });
        }
        Err(NnError::UnknownTensor {
            node: node.name.clone(),
            tensor: name.to_owned(),
        })
    }

    fn constant(&self, node: &'m NodeProto, idx: usize) -> Result<&'m TensorProto> {
        let name = self
            .input_name(node, idx)
            .ok_or_else(|| arity(node, "input", "more inputs", node.input.len()))?;
        if let Some(t) = self.consts.get(name) {
            return Ok(t);
        }
        if self.acts.contains_key(name) {
            return Err(NnError::WrongInputKind {
                node: node.name.clone(),
                tensor: name.to_owned(),
                expected: "a constant",
            });
        }
        Err(NnError::UnknownTensor {
            node: node.name.clone(),
            tensor: name.to_owned(),
        })
    }

    /// How many times `limits.max_elements` may be read from constants over the whole import.
    const MATERIALIZE_FACTOR: usize = 2;

    /// Charges `n` elements of constant data (or of folding work) against the import budget.
    fn charge(&mut self, n: usize) -> Result<()> {
        let limit = self
            .limits
            .max_elements
            .saturating_mul(Self::MATERIALIZE_FACTOR);
        let total = self.materialized.saturating_add(n);
        if total > limit {
            return Err(NnError::LimitExceeded {
                what: "constant elements read over the whole graph",
                value: total as u64,
                limit: limit as u64,
            });
        }
        self.materialized = total;
        Ok(())
    }

    fn floats(&mut self, t: &TensorProto) -> Result<Vec<f64>> {
        self.charge(t.element_count(self.limits.max_elements)?)?;
        t.float_values(self.limits.max_elements)
    }

    fn int64s(&mut self, t: &TensorProto) -> Result<Vec<i64>> {
        self.charge(t.element_count(self.limits.max_elements)?)?;
        t.int64_values(self.limits.max_elements)
    }

    fn shape(&self, a: Act) -> Shape {
        self.shapes[a.id]
    }

    // ----- outputs -----

    fn push_layer(
        &mut self,
        node: &'m NodeProto,
        op: Op,
        inputs: Vec<TensorId>,
        weights: Option<LinearWeights>,
        rank: Rank,
    ) -> Result<()> {
        let in_shapes: Vec<Shape> = inputs.iter().map(|&t| self.shapes[t]).collect();
        let shape = op
            .output_shape(&in_shapes)
            .map_err(|reason| NnError::InvalidNode {
                node: node.name.clone(),
                reason,
            })?;
        self.layers.push((node.name.clone(), op, inputs));
        self.weights.push(weights);
        self.shapes.push(shape);
        self.uses.push(0);
        let id = self.shapes.len() - 1;
        self.bind_output(node, Act { id, rank })
    }

    fn bind_output(&mut self, node: &'m NodeProto, act: Act) -> Result<()> {
        if node.output.len() != 1 {
            return Err(arity(node, "output", "1", node.output.len()));
        }
        let name = node.output[0].as_str();
        self.check_fresh(node, name)?;
        if let Some(vi) = self.declared.get(name) {
            check_declared(vi, &onnx_dims(self.shapes[act.id], act.rank))?;
        }
        self.acts.insert(name, act);
        self.uses[act.id] += self.consumers.get(name).copied().unwrap_or(0);
        Ok(())
    }

    /// Tensor names are assigned once (static single assignment, as ONNX requires).
    fn check_fresh(&self, node: &NodeProto, name: &str) -> Result<()> {
        if name.is_empty() || self.acts.contains_key(name) || self.consts.contains_key(name) {
            return Err(NnError::InvalidNode {
                node: node.name.clone(),
                reason: "output name is empty or already defined",
            });
        }
        Ok(())
    }

    /// The linear layer producing `a`, if its output (under every name bound to it) is
    /// consumed only by `node`.
    fn foldable_producer(&self, a: Act) -> Option<usize> {
        if self.uses[a.id] != 1 || a.id == 0 {
            return None;
        }
        let layer = a.id - 1;
        self.layers[layer].1.has_weights().then_some(layer)
    }

    // ----- operators -----

    fn node(&mut self, node: &'m NodeProto) -> Result<()> {
        let domain = node.domain.as_str();
        let op = node.op_type.as_str();
        if domain == CIRCA_DOMAIN {
            return match op {
                "ChannelRelu" => self.channel_relu(node),
                "Polynomial" => self.polynomial(node),
                _ => Err(unsupported_op(node)),
            };
        }
        if !domain.is_empty() && domain != "ai.onnx" {
            return Err(unsupported_op(node));
        }
        match op {
            "Conv" => self.conv(node),
            "Gemm" => self.gemm(node),
            "MatMul" => self.matmul(node),
            "Add" => self.add(node),
            "Relu" => {
                Attrs::check(node, &[])?;
                expect_inputs(node, 1)?;
                let x = self.act(node, 0)?;
                self.push_layer(
                    node,
                    Op::Activation(Activation::Relu),
                    vec![x.id],
                    None,
                    x.rank,
                )
            }
            "AveragePool" => self.pool(node, false),
            "MaxPool" => self.pool(node, true),
            "GlobalAveragePool" => {
                Attrs::check(node, &[])?;
                expect_inputs(node, 1)?;
                let x = self.spatial_act(node)?;
                self.push_layer(node, Op::GlobalAvgPool, vec![x.id], None, Rank::Spatial)
            }
            "BatchNormalization" => self.batch_norm(node),
            "Flatten" => self.flatten(node),
            "Reshape" => self.reshape(node),
            "Constant" => {
                let attrs = Attrs::check(node, &["value"])?;
                let t = attrs
                    .tensor("value")?
                    .ok_or_else(|| missing(node, "value"))?;
                if node.output.len() != 1 {
                    return Err(arity(node, "output", "1", node.output.len()));
                }
                self.check_fresh(node, &node.output[0])?;
                self.consts.insert(node.output[0].as_str(), t);
                Ok(())
            }
            _ => Err(unsupported_op(node)),
        }
    }

    fn spatial_act(&self, node: &'m NodeProto) -> Result<Act> {
        let x = self.act(node, 0)?;
        if x.rank != Rank::Spatial {
            return Err(NnError::UnsupportedRank {
                node: node.name.clone(),
                op_type: node.op_type.clone(),
                expected: "4",
                actual: 2,
            });
        }
        Ok(x)
    }

    fn flat_act(&self, node: &'m NodeProto) -> Result<Act> {
        let x = self.act(node, 0)?;
        if x.rank != Rank::Flat {
            return Err(NnError::UnsupportedRank {
                node: node.name.clone(),
                op_type: node.op_type.clone(),
                expected: "2",
                actual: 4,
            });
        }
        Ok(x)
    }

    fn conv(&mut self, node: &'m NodeProto) -> Result<()> {
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
        if node.input.len() != 2 && node.input.len() != 3 {
            return Err(arity(node, "input", "2 or 3", node.input.len()));
        }
        let x = self.spatial_act(node)?;
        let xs = self.shape(x);
        let w = self.constant(node, 1)?;
        attrs.no_auto_pad()?;
        attrs.all_ones("dilations")?;
        let groups = attrs.usize_at_least("group", 1, 1)?;
        if w.dims.len() != 4 {
            return Err(shape_err(&node.name, "Conv weight rank", &[0; 4], &w.dims));
        }
        let wd = nonneg_dims(node, &w.dims)?;
        let (out_channels, kh, kw) = (wd[0], wd[2], wd[3]);
        if groups == 0 || !xs.channels.is_multiple_of(groups) || wd[1] != xs.channels / groups {
            return Err(NnError::InvalidNode {
                node: node.name.clone(),
                reason: "Conv weight's input channels do not match the input and group",
            });
        }
        if let Some(ks) = attrs.ints("kernel_shape")?
            && ks != [kh as i64, kw as i64]
        {
            return Err(shape_err(
                &node.name,
                "Conv kernel_shape",
                &[kh as i64, kw as i64],
                ks,
            ));
        }
        let (sh, sw) = attrs.strides()?;
        let [pt, pl, pb, pr] = attrs.pads()?;
        let conv = Conv2d {
            in_channels: xs.channels,
            out_channels,
            window: Window2d {
                kernel_h: kh,
                kernel_w: kw,
                stride_h: sh,
                stride_w: sw,
                pad_top: pt,
                pad_left: pl,
                pad_bottom: pb,
                pad_right: pr,
            },
            groups,
        };
        let weight = self.floats(w)?;
        let bias = match self.input_name(node, 2) {
            Some(_) => {
                let b = self.floats(self.constant(node, 2)?)?;
                if b.len() != out_channels {
                    return Err(shape_err(
                        &node.name,
                        "Conv bias",
                        &[out_channels as i64],
                        &[b.len() as i64],
                    ));
                }
                b
            }
            None => vec![0.0; out_channels],
        };
        self.push_layer(
            node,
            Op::Conv2d(conv),
            vec![x.id],
            Some(LinearWeights::new(weight, bias)),
            Rank::Spatial,
        )
    }

    fn gemm(&mut self, node: &'m NodeProto) -> Result<()> {
        let attrs = Attrs::check(node, &["alpha", "beta", "transA", "transB"])?;
        if node.input.len() != 2 && node.input.len() != 3 {
            return Err(arity(node, "input", "2 or 3", node.input.len()));
        }
        let trans_a = attrs.int("transA", 0)?;
        if trans_a != 0 {
            return Err(attrs.unsupported_value("transA", trans_a));
        }
        let trans_b = attrs.int("transB", 0)?;
        if trans_b != 0 && trans_b != 1 {
            return Err(attrs.unsupported_value("transB", trans_b));
        }
        let alpha = f64::from(attrs.float("alpha", 1.0)?);
        let beta = f64::from(attrs.float("beta", 1.0)?);
        let x = self.flat_act(node)?;
        let k = self.shape(x).len();
        let b = self.constant(node, 1)?;
        let (weight, n) = self.dense_weight(node, b, k, trans_b == 1, alpha)?;
        let bias = match self.input_name(node, 2) {
            Some(_) => {
                let c = self.constant(node, 2)?;
                self.row_bias(node, "Gemm bias C", c, n, beta)?
            }
            None => vec![0.0; n],
        };
        self.push_layer(
            node,
            Op::Dense {
                in_features: k,
                out_features: n,
            },
            vec![x.id],
            Some(LinearWeights::new(weight, bias)),
            Rank::Flat,
        )
    }

    /// Converts a 2-D constant `B` (`[K, N]`, or `[N, K]` if `transposed`) times `alpha` into a
    /// dense weight `[N][K]`. Returns the weight and `N`.
    fn dense_weight(
        &mut self,
        node: &NodeProto,
        b: &TensorProto,
        k: usize,
        transposed: bool,
        alpha: f64,
    ) -> Result<(Vec<f64>, usize)> {
        if b.dims.len() != 2 {
            return Err(shape_err(&node.name, "weight rank", &[0, 0], &b.dims));
        }
        let d = nonneg_dims(node, &b.dims)?;
        let (bk, n) = if transposed {
            (d[1], d[0])
        } else {
            (d[0], d[1])
        };
        if bk != k {
            return Err(shape_err(
                &node.name,
                "weight inner dimension",
                &[k as i64],
                &[bk as i64],
            ));
        }
        let vals = self.floats(b)?;
        let weight = if transposed {
            vals.iter().map(|v| alpha * v).collect()
        } else {
            let mut w = vec![0.0; n * k];
            for kk in 0..k {
                for nn in 0..n {
                    w[nn * k + kk] = alpha * vals[kk * n + nn];
                }
            }
            w
        };
        Ok((weight, n))
    }

    /// A constant added to a `[1, n]` row (Gemm's C, or an Add after a Gemm/MatMul), times
    /// `factor`, as `n` values. Its dims must broadcast to `[1, n]` without growing it:
    /// `[]`, `[1]`, `[n]`, `[1, 1]` or `[1, n]` (a `[n, 1]` column would broadcast to `[n, n]`).
    fn row_bias(
        &mut self,
        node: &NodeProto,
        what: &str,
        t: &TensorProto,
        n: usize,
        factor: f64,
    ) -> Result<Vec<f64>> {
        let last = t.dims.last().copied().unwrap_or(1);
        let leading_ones = t.dims.len() <= 2 && t.dims.iter().rev().skip(1).all(|&d| d == 1);
        if !leading_ones || (last != 1 && last != n as i64) {
            return Err(shape_err(&node.name, what, &[1, n as i64], &t.dims));
        }
        let c = self.floats(t)?;
        Ok(match c.as_slice() {
            [v] => vec![factor * v; n],
            _ => c.iter().map(|v| factor * v).collect(),
        })
    }

    fn matmul(&mut self, node: &'m NodeProto) -> Result<()> {
        Attrs::check(node, &[])?;
        expect_inputs(node, 2)?;
        let x = self.flat_act(node)?;
        let k = self.shape(x).len();
        let b = self.constant(node, 1)?;
        let (weight, n) = self.dense_weight(node, b, k, false, 1.0)?;
        self.push_layer(
            node,
            Op::Dense {
                in_features: k,
                out_features: n,
            },
            vec![x.id],
            Some(LinearWeights::new(weight, vec![0.0; n])),
            Rank::Flat,
        )
    }

    fn add(&mut self, node: &'m NodeProto) -> Result<()> {
        Attrs::check(node, &[])?;
        expect_inputs(node, 2)?;
        let is_const = |i: usize| {
            self.input_name(node, i)
                .is_some_and(|n| self.consts.contains_key(n))
        };
        match (is_const(0), is_const(1)) {
            (false, false) => {
                let a = self.act(node, 0)?;
                let b = self.act(node, 1)?;
                if a.rank != b.rank || self.shape(a) != self.shape(b) {
                    return Err(shape_err(
                        &node.name,
                        "Add operands (no broadcasting)",
                        &onnx_dims(self.shape(a), a.rank),
                        &onnx_dims(self.shape(b), b.rank),
                    ));
                }
                self.push_layer(node, Op::Add, vec![a.id, b.id], None, a.rank)
            }
            (true, true) => Err(NnError::WrongInputKind {
                node: node.name.clone(),
                tensor: node.input[0].clone(),
                expected: "an activation",
            }),
            (c0, _) => {
                let (ai, ci) = if c0 { (1, 0) } else { (0, 1) };
                let a = self.act(node, ai)?;
                let c = self.constant(node, ci)?;
                let layer = self
                    .foldable_producer(a)
                    .filter(|&l| matches!(self.layers[l].1, Op::Dense { .. }))
                    .ok_or_else(|| NnError::ConstantAddNotFoldable {
                        node: node.name.clone(),
                    })?;
                let n = self.shape(a).len();
                let c = self.row_bias(node, "Add bias", c, n, 1.0)?;
                let w = self.weights[layer]
                    .as_mut()
                    .ok_or(NnError::WeightKindMismatch { layer })?;
                let (_, bias) = w.parts_mut();
                for (b, c) in bias.iter_mut().zip(c) {
                    *b += c;
                }
                self.bind_output(node, a)
            }
        }
    }

    fn pool(&mut self, node: &'m NodeProto, max: bool) -> Result<()> {
        let allowed: &[&str] = if max {
            &[
                "auto_pad",
                "ceil_mode",
                "dilations",
                "kernel_shape",
                "pads",
                "storage_order",
                "strides",
            ]
        } else {
            &[
                "auto_pad",
                "ceil_mode",
                "count_include_pad",
                "dilations",
                "kernel_shape",
                "pads",
                "strides",
            ]
        };
        let attrs = Attrs::check(node, allowed)?;
        expect_inputs(node, 1)?;
        let x = self.spatial_act(node)?;
        attrs.no_auto_pad()?;
        attrs.all_ones("dilations")?;
        let ceil = attrs.int("ceil_mode", 0)?;
        if ceil != 0 {
            return Err(attrs.unsupported_value("ceil_mode", ceil));
        }
        let ks = attrs
            .ints("kernel_shape")?
            .ok_or_else(|| missing(node, "kernel_shape"))?;
        if ks.len() != 2 || ks.iter().any(|&k| k < 1) {
            return Err(attrs.unsupported_value("kernel_shape", format!("{ks:?}")));
        }
        let (sh, sw) = attrs.strides()?;
        let [pt, pl, pb, pr] = attrs.pads()?;
        let pool = Window2d {
            kernel_h: ks[0] as usize,
            kernel_w: ks[1] as usize,
            stride_h: sh,
            stride_w: sw,
            pad_top: pt,
            pad_left: pl,
            pad_bottom: pb,
            pad_right: pr,
        };
        let op = if max {
            if pool.has_padding() {
                return Err(attrs.unsupported_value("pads", format!("{:?}", [pt, pl, pb, pr])));
            }
            Op::MaxPool(pool)
        } else {
            let cip = attrs.int("count_include_pad", 0)?;
            if cip != 0 && cip != 1 {
                return Err(attrs.unsupported_value("count_include_pad", cip));
            }
            if cip == 0 && pool.has_padding() {
                // The divisor would vary near the border; only the constant divisor is supported.
                return Err(attrs.unsupported_value("count_include_pad", "0 with non-zero pads"));
            }
            Op::AvgPool(pool)
        };
        self.push_layer(node, op, vec![x.id], None, Rank::Spatial)
    }

    fn batch_norm(&mut self, node: &'m NodeProto) -> Result<()> {
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
            let p = self.floats(self.constant(node, i)?)?;
            if p.len() != channels {
                return Err(shape_err(
                    &node.name,
                    what,
                    &[channels as i64],
                    &[p.len() as i64],
                ));
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
        let folded = self.weights[layer].as_ref().map_or(0, |w| w.weight().len());
        self.charge(folded)?;
        let w = self.weights[layer]
            .as_mut()
            .ok_or(NnError::WeightKindMismatch { layer })?;
        let (weight, bias) = w.parts_mut();
        let per_channel = weight.len() / channels;
        for c in 0..channels {
            for v in &mut weight[c * per_channel..(c + 1) * per_channel] {
                *v *= factors[c];
            }
            bias[c] = (bias[c] - mean[c]) * factors[c] + beta[c];
        }
        self.bind_output(node, x)
    }

    fn flatten(&mut self, node: &'m NodeProto) -> Result<()> {
        let attrs = Attrs::check(node, &["axis"])?;
        expect_inputs(node, 1)?;
        let x = self.act(node, 0)?;
        let dims = onnx_dims(self.shape(x), x.rank);
        let r = dims.len() as i64;
        let axis = attrs.int("axis", 1)?;
        let a = if axis < 0 { axis + r } else { axis };
        if !(0..=r).contains(&a) || dims[..a as usize].iter().product::<i64>() != 1 {
            return Err(attrs.unsupported_value("axis", axis));
        }
        self.bind_flat(node, x)
    }

    /// Binds the node's output to `x` viewed as `[1, N]`, adding a reshape layer if needed.
    fn bind_flat(&mut self, node: &'m NodeProto, x: Act) -> Result<()> {
        let s = self.shape(x);
        let flat = Shape::flat(s.len());
        if s == flat {
            return self.bind_output(
                node,
                Act {
                    id: x.id,
                    rank: Rank::Flat,
                },
            );
        }
        self.push_layer(
            node,
            Op::Reshape { shape: flat },
            vec![x.id],
            None,
            Rank::Flat,
        )
    }

    fn reshape(&mut self, node: &'m NodeProto) -> Result<()> {
        let attrs = Attrs::check(node, &["allowzero"])?;
        expect_inputs(node, 2)?;
        let x = self.act(node, 0)?;
        let allow_zero = match attrs.int("allowzero", 0)? {
            0 => false,
            1 => true,
            other => return Err(attrs.unsupported_value("allowzero", other)),
        };
        let target = self.constant(node, 1)?;
        let target = self.int64s(target)?;
        let in_dims = onnx_dims(self.shape(x), x.rank);
        let total: i64 = in_dims.iter().product();
        let mut dims = Vec::with_capacity(target.len());
        let mut infer = None;
        for (i, &d) in target.iter().enumerate() {
            match d {
                0 if !allow_zero => dims.push(*in_dims.get(i).unwrap_or(&0)),
                -1 if infer.is_none() => {
                    infer = Some(i);
                    dims.push(1);
                }
                d if d >= 0 => dims.push(d),
                _ => return Err(shape_err(&node.name, "Reshape target", &in_dims, &target)),
            }
        }
        // Target dims come from the file: multiply with overflow checks.
        let product = |dims: &[i64]| dims.iter().try_fold(1i64, |acc, &d| acc.checked_mul(d));
        if let Some(i) = infer {
            let known = product(&dims).unwrap_or(0);
            if known == 0 || total % known != 0 {
                return Err(shape_err(&node.name, "Reshape target", &in_dims, &target));
            }
            dims[i] = total / known;
        }
        if product(&dims) != Some(total) || dims.first() != Some(&1) {
            return Err(shape_err(&node.name, "Reshape target", &in_dims, &dims));
        }
        match dims.len() {
            2 => self.bind_flat(node, x),
            4 => {
                let shape = Shape::new(dims[1] as usize, dims[2] as usize, dims[3] as usize);
                if shape == self.shape(x) {
                    return self.bind_output(
                        node,
                        Act {
                            id: x.id,
                            rank: Rank::Spatial,
                        },
                    );
                }
                self.push_layer(node, Op::Reshape { shape }, vec![x.id], None, Rank::Spatial)
            }
            _ => Err(shape_err(
                &node.name,
                "Reshape target (rank 2 or 4 with batch 1)",
                &in_dims,
                &dims,
            )),
        }
    }

    fn channel_relu(&mut self, node: &'m NodeProto) -> Result<()> {
        let attrs = Attrs::check(node, &["mask"])?;
        expect_inputs(node, 1)?;
        let x = self.act(node, 0)?;
        let raw = attrs.ints("mask")?.ok_or_else(|| missing(node, "mask"))?;
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
                &[channels as i64],
                &[mask.len() as i64],
            ));
        }
        let act = if mask.iter().all(|&m| m) {
            Activation::Relu
        } else if mask.iter().all(|&m| !m) {
            Activation::Identity
        } else {
            Activation::ChannelRelu { mask }
        };
        self.push_layer(node, Op::Activation(act), vec![x.id], None, x.rank)
    }

    fn polynomial(&mut self, node: &'m NodeProto) -> Result<()> {
        let attrs = Attrs::check(node, &["coefficients"])?;
        expect_inputs(node, 1)?;
        let x = self.act(node, 0)?;
        let raw = attrs
            .floats("coefficients")?
            .ok_or_else(|| missing(node, "coefficients"))?;
        if raw.is_empty() || raw.len() > 3 || raw.iter().any(|c| !c.is_finite()) {
            return Err(attrs.unsupported_value("coefficients", format!("{raw:?}")));
        }
        let mut coefficients = [0.0; 3];
        for (c, &r) in coefficients.iter_mut().zip(raw) {
            *c = f64::from(r);
        }
        self.push_layer(
            node,
            Op::Activation(Activation::Polynomial { coefficients }),
            vec![x.id],
            None,
            x.rank,
        )
    }
}

fn graph_input_shape(vi: &ValueInfoProto) -> Result<(Shape, Rank)> {
    let bad = || NnError::UnsupportedGraphShape {
        what: "input",
        name: vi.name.clone(),
    };
    match vi.elem_type {
        Some(DATA_TYPE_FLOAT) => {}
        Some(code) => {
            return Err(NnError::UnsupportedDataType {
                tensor: vi.name.clone(),
                data_type: code,
                type_name: data_type_name(code),
            });
        }
        None => return Err(bad()),
    }
    let dims = vi.shape.as_ref().ok_or_else(bad)?;
    let mut concrete = Vec::with_capacity(dims.len());
    for (i, d) in dims.iter().enumerate() {
        match d {
            Dim::Value(v) if *v >= 1 && *v <= (1 << 24) && (i > 0 || *v == 1) => {
                concrete.push(*v as usize)
            }
            // A symbolic batch dimension is taken as 1.
            Dim::Param(_) | Dim::Unknown if i == 0 => concrete.push(1),
            _ => return Err(bad()),
        }
    }
    match concrete.as_slice() {
        [1, c, h, w] => Ok((Shape::new(*c, *h, *w), Rank::Spatial)),
        [1, n] => Ok((Shape::flat(*n), Rank::Flat)),
        _ => Err(bad()),
    }
}

fn check_declared(vi: &ValueInfoProto, inferred: &[i64]) -> Result<()> {
    let Some(dims) = &vi.shape else {
        return Ok(());
    };
    let matches = dims.len() == inferred.len()
        && dims.iter().zip(inferred).all(|(d, &v)| match d {
            Dim::Value(x) => *x == v,
            _ => true,
        });
    if matches {
        return Ok(());
    }
    let declared: Vec<i64> = dims
        .iter()
        .map(|d| match d {
            Dim::Value(x) => *x,
            _ => -1,
        })
        .collect();
    Err(NnError::ShapeMismatch {
        context: format!("tensor {:?}: declared shape", vi.name),
        expected: inferred.to_vec(),
        actual: declared,
    })
}

fn shape_err(node: &str, what: &str, expected: &[i64], actual: &[i64]) -> NnError {
    NnError::ShapeMismatch {
        context: format!("node {node:?}: {what}"),
        expected: expected.to_vec(),
        actual: actual.to_vec(),
    }
}

fn nonneg_dims(node: &NodeProto, dims: &[i64]) -> Result<Vec<usize>> {
    dims.iter()
        .map(|&d| usize::try_from(d).map_err(|_| shape_err(&node.name, "constant dims", &[], dims)))
        .collect()
}

fn unsupported_op(node: &NodeProto) -> NnError {
    NnError::UnsupportedOperator {
        node: node.name.clone(),
        op_type: node.op_type.clone(),
        domain: node.domain.clone(),
    }
}

fn arity(node: &NodeProto, what: &'static str, expected: &'static str, actual: usize) -> NnError {
    NnError::ArityMismatch {
        node: node.name.clone(),
        op_type: node.op_type.clone(),
        what,
        expected,
        actual,
    }
}

fn expect_inputs(node: &NodeProto, n: usize) -> Result<()> {
    const COUNTS: [&str; 6] = ["0", "1", "2", "3", "4", "5"];
    if node.input.len() != n {
        return Err(arity(node, "input", COUNTS[n.min(5)], node.input.len()));
    }
    Ok(())
}

fn missing(node: &NodeProto, attribute: &'static str) -> NnError {
    NnError::MissingAttribute {
        node: node.name.clone(),
        op_type: node.op_type.clone(),
        attribute,
    }
}

/// Typed access to a node's attributes, after checking that every attribute is known.
struct Attrs<'n> {
    node: &'n NodeProto,
}

impl<'n> Attrs<'n> {
    /// Every attribute must be in `allowed` and appear once (a second value would otherwise be
    /// ignored silently).
    fn check(node: &'n NodeProto, allowed: &[&str]) -> Result<Self> {
        let mut seen = vec![false; allowed.len()];
        for a in &node.attribute {
            let Some(i) = allowed.iter().position(|&n| n == a.name) else {
                return Err(NnError::UnsupportedAttribute {
                    node: node.name.clone(),
                    op_type: node.op_type.clone(),
                    attribute: a.name.clone(),
                });
            };
            if std::mem::replace(&mut seen[i], true) {
                return Err(NnError::InvalidNode {
                    node: node.name.clone(),
                    reason: "attribute given more than once",
                });
            }
        }
        Ok(Self { node })
    }

    fn get(
        &self,
        name: &str,
        ty: i32,
        ty_name: &'static str,
    ) -> Result<Option<&'n AttributeProto>> {
        match self.node.attribute.iter().find(|a| a.name == name) {
            None => Ok(None),
            Some(a) if a.attr_type == ty => Ok(Some(a)),
            Some(a) => Err(NnError::AttributeTypeMismatch {
                node: self.node.name.clone(),
                attribute: name.to_owned(),
                expected: ty_name,
                actual: a.attr_type,
            }),
        }
    }

    fn unsupported_value(&self, attribute: &str, value: impl std::fmt::Display) -> NnError {
        NnError::UnsupportedAttributeValue {
            node: self.node.name.clone(),
            op_type: self.node.op_type.clone(),
            attribute: attribute.to_owned(),
            value: value.to_string(),
        }
    }

    fn int(&self, name: &str, default: i64) -> Result<i64> {
        Ok(self
            .get(name, attr_type::INT, "INT")?
            .map_or(default, |a| a.i))
    }

    fn float(&self, name: &str, default: f32) -> Result<f32> {
        Ok(self
            .get(name, attr_type::FLOAT, "FLOAT")?
            .map_or(default, |a| a.f))
    }

    fn ints(&self, name: &str) -> Result<Option<&'n [i64]>> {
        Ok(self
            .get(name, attr_type::INTS, "INTS")?
            .map(|a| a.ints.as_slice()))
    }

    fn floats(&self, name: &str) -> Result<Option<&'n [f32]>> {
        Ok(self
            .get(name, attr_type::FLOATS, "FLOATS")?
            .map(|a| a.floats.as_slice()))
    }

    fn tensor(&self, name: &str) -> Result<Option<&'n TensorProto>> {
        Ok(self
            .get(name, attr_type::TENSOR, "TENSOR")?
            .and_then(|a| a.t.as_ref()))
    }

    fn no_auto_pad(&self) -> Result<()> {
        if let Some(a) = self.get("auto_pad", attr_type::STRING, "STRING")?
            && a.s != b"NOTSET"
        {
            // Quoted and escaped: the string comes from the file.
            return Err(
                self.unsupported_value("auto_pad", format!("{:?}", String::from_utf8_lossy(&a.s)))
            );
        }
        Ok(())
    }

    fn all_ones(&self, name: &str) -> Result<()> {
        if let Some(v) = self.ints(name)?
            && v.iter().any(|&d| d != 1)
        {
            return Err(self.unsupported_value(name, format!("{v:?}")));
        }
        Ok(())
    }

    fn usize_at_least(&self, name: &str, default: i64, min: i64) -> Result<usize> {
        let v = self.int(name, default)?;
        if v < min || v > (1 << 24) {
            return Err(self.unsupported_value(name, v));
        }
        Ok(v as usize)
    }

    fn strides(&self) -> Result<(usize, usize)> {
        match self.ints("strides")? {
            None => Ok((1, 1)),
            Some(&[h, w]) if (1..=1 << 24).contains(&h) && (1..=1 << 24).contains(&w) => {
                Ok((h as usize, w as usize))
            }
            Some(v) => Err(self.unsupported_value("strides", format!("{v:?}"))),
        }
    }

    /// ONNX pads `[top, left, bottom, right]` (begin of each axis, then end of each axis).
    fn pads(&self) -> Result<[usize; 4]> {
        match self.ints("pads")? {
            None => Ok([0; 4]),
            Some(v) if v.len() == 4 && v.iter().all(|&p| (0..=1 << 24).contains(&p)) => {
                Ok([v[0] as usize, v[1] as usize, v[2] as usize, v[3] as usize])
            }
            Some(v) => Err(self.unsupported_value("pads", format!("{v:?}"))),
        }
    }
}
