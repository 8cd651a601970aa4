//! ONNX graph -> [`Network`].
//!
//! One walk over the nodes in graph order. Every tensor name stands for an activation of the
//! network IR, a constant, or a pending element-wise function of one activation
//! ([`values`]); nodes are translated by operator family:
//!
//! * [`linear`]: Conv, Gemm, MatMul, BatchNormalization (folded into the preceding linear
//!   layer) and constant additions folded into a bias (both exporters' Gemm and MatMul + Add);
//! * [`pool`]: AveragePool, MaxPool, GlobalAveragePool, ReduceMean over H and W;
//! * [`activation`]: Relu, residual Add, the `ai.circa` operators, and the patterns PyTorch
//!   emits for partial ReLUs (a channel Slice + Relu + Concat, or a Where on a constant
//!   channel mask) and for polynomials (Mul/Add/Sub/Div/Pow of one tensor and constants);
//! * [`shape`]: views of activations (Flatten, Reshape, Squeeze, Unsqueeze, Expand to the same
//!   shape), and no-ops (Identity, inference-mode Dropout, Cast to float);
//! * [`fold`]: constants (initializers, Constant nodes) and the shape arithmetic on them
//!   (Shape, Gather, Unsqueeze, Squeeze, Concat, Slice, Reshape, Cast, Expand, Transpose,
//!   element-wise arithmetic), folded at import.
//!
//! Before the walk, one pass names every node whose operator is not known at all
//! ([`support`]): the error lists them all, with hints. Batch size is 1: activations have
//! ONNX shape `[1, C, H, W]` or `[1, N]` (a symbolic batch dimension is taken as 1).

mod activation;
mod attrs;
mod fold;
mod linear;
mod pool;
mod shape;
mod support;
mod values;

use std::cell::Cell;
use std::collections::HashMap;
use std::path::Path;
use std::rc::Rc;

pub use support::{CIRCA_DOMAIN, TESTED_OPSETS};

use self::values::{Act, Const, ConstData, Expr, Pending, Rank, Value, dims_i64, onnx_dims};
use super::decode::{DecodeLimits, decode_model, read_model_file};
use super::external::ExternalDir;
use super::proto::{
    DimensionValue, GraphProto, ModelProto, NodeProto, TensorProto, ValueInfoProto, WipedOnDrop,
    data_type, data_type_name,
};
use super::tensor::TensorReader;
use crate::error::{NnError, Result};
use crate::model::{Activation, Architecture, LinearWeights, Network, Op, Shape, TensorId};

/// Decodes and imports a serialised ONNX model with the default [`DecodeLimits`]. Tensors
/// with external data are an error ([`NnError::ExternalData`]): use [`import_onnx_file`].
pub fn import_onnx(bytes: &[u8]) -> Result<Network> {
    import_onnx_with_limits(bytes, &DecodeLimits::default())
}

/// Decodes and imports a serialised ONNX model, enforcing `limits`.
pub fn import_onnx_with_limits(bytes: &[u8], limits: &DecodeLimits) -> Result<Network> {
    let model = WipedOnDrop(decode_model(bytes, limits)?);
    import(&model.0, limits, None)
}

/// Reads, decodes and imports the ONNX model file at `path`, with its external data (side
/// files in the model's folder), enforcing `limits`.
pub fn import_onnx_file(path: impl AsRef<Path>, limits: &DecodeLimits) -> Result<Network> {
    let path = path.as_ref();
    let bytes = read_model_file(path, limits)?;
    let model = WipedOnDrop(decode_model(&bytes, limits)?);
    drop(bytes);
    let external = ExternalDir::for_model(path)?;
    import(&model.0, limits, Some(&external))
}

/// Imports a decoded ONNX model whose tensors are all inline. `limits.max_elements` bounds
/// every constant tensor.
pub fn import_model(model: &ModelProto, limits: &DecodeLimits) -> Result<Network> {
    import(model, limits, None)
}

fn import(
    model: &ModelProto,
    limits: &DecodeLimits,
    external: Option<&ExternalDir>,
) -> Result<Network> {
    let graph = model.graph.as_ref().ok_or(NnError::MissingGraph)?;
    support::check_operators(model, graph)?;
    let reader = TensorReader {
        external,
        max_elements: limits.max_elements,
    };
    let network = Builder::new(graph, limits, reader)?.run()?;
    // The last calibration entry counts (a calibrated model may be calibrated again).
    match model
        .metadata_props
        .iter()
        .rev()
        .find(|e| e.key == crate::calibration::METADATA_KEY)
    {
        Some(e) => {
            let layers = network.architecture().layers().len();
            let c = crate::calibration::Calibration::from_text(&e.value, layers)?;
            Ok(network.with_calibration(Some(c)))
        }
        None => Ok(network),
    }
}

struct Builder<'m> {
    graph: &'m GraphProto,
    limits: &'m DecodeLimits,
    reader: TensorReader<'m>,
    values: HashMap<&'m str, Value<'m>>,
    /// Number of nodes (and graph outputs) consuming each tensor name.
    consumers: HashMap<&'m str, usize>,
    declared: HashMap<&'m str, &'m ValueInfoProto>,
    /// Per tensor id: consumers summed over every name bound to it (aliases come from views
    /// and no-ops), kept up to date as names are bound.
    uses: Vec<usize>,
    /// Elements of constant tensors read, folded or rescaled so far; bounded by
    /// [`Builder::MATERIALIZE_FACTOR`] times `limits.max_elements` so that many nodes sharing
    /// one large initializer cannot multiply the memory and time spent on it.
    materialized: usize,
    input_shape: Shape,
    shapes: Vec<Shape>,
    layers: Vec<(String, Op, Vec<TensorId>)>,
    weights: Vec<Option<LinearWeights>>,
}

impl<'m> Builder<'m> {
    /// How many times `limits.max_elements` may be read from constants over the whole import.
    const MATERIALIZE_FACTOR: usize = 2;

    fn new(
        graph: &'m GraphProto,
        limits: &'m DecodeLimits,
        reader: TensorReader<'m>,
    ) -> Result<Self> {
        let mut values = HashMap::new();
        for t in &graph.initializer {
            if values.insert(t.name.as_str(), Value::Tensor(t)).is_some() {
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
            .filter(|vi| !values.contains_key(vi.name.as_str()))
            .collect();
        if inputs.len() != 1 {
            return Err(NnError::GraphInterface {
                what: "input",
                actual: inputs.len(),
            });
        }
        let input = inputs[0];
        let (input_shape, rank) = graph_input_shape(input)?;
        values.insert(input.name.as_str(), Value::Act(Act { id: 0, rank }));
        let input_uses = consumers.get(input.name.as_str()).copied().unwrap_or(0);
        Ok(Self {
            graph,
            limits,
            reader,
            values,
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
        let value =
            self.values
                .get(out_name)
                .cloned()
                .ok_or_else(|| NnError::UnsupportedGraphShape {
                    what: "output",
                    name: out_name.to_owned(),
                })?;
        let out = match value {
            Value::Act(a) => a,
            Value::Expr(p) => self.materialize(&p)?,
            Value::Tensor(_) | Value::Const(_) => {
                return Err(NnError::UnsupportedGraphShape {
                    what: "output (a constant)",
                    name: out_name.to_owned(),
                });
            }
        };
        let arch = Architecture::new(self.input_shape, self.layers, out.id)?;
        Network::new(arch, self.weights)
    }

    fn node(&mut self, node: &'m NodeProto) -> Result<()> {
        let op = node.op_type.as_str();
        if node.domain == CIRCA_DOMAIN {
            return match op {
                "ChannelRelu" => self.channel_relu(node),
                _ => self.circa_polynomial(node),
            };
        }
        let constant_input = |i: usize| {
            self.input_name(node, i)
                .and_then(|n| self.values.get(n))
                .is_some_and(Value::is_constant)
        };
        let all_constant =
            (0..node.input.len()).all(|i| self.input_name(node, i).is_none() || constant_input(i));
        match op {
            "Conv" => self.conv(node),
            "Gemm" => self.gemm(node),
            "MatMul" => self.matmul(node),
            "BatchNormalization" => self.batch_norm(node),
            "AveragePool" => self.pool(node, false),
            "MaxPool" => self.pool(node, true),
            "GlobalAveragePool" => self.global_average_pool(node),
            "ReduceMean" => self.reduce_mean(node),
            "Relu" => self.relu(node),
            "Where" => self.where_mask(node),
            "Constant" => self.constant_node(node),
            "Shape" => self.shape_of(node),
            "Identity" | "Dropout" => self.pass_through(node),
            "Add" | "Sub" | "Mul" | "Div" | "Pow" if all_constant => self.fold_arithmetic(node),
            "Add" | "Sub" | "Mul" | "Div" | "Pow" => self.arithmetic(node),
            "Concat" if all_constant => self.fold_concat(node),
            "Concat" => self.concat_channels(node),
            "Slice" if constant_input(0) => self.fold_slice(node),
            "Slice" => self.slice_channels(node),
            "Cast" if constant_input(0) => self.fold_cast(node),
            "Cast" => self.cast_activation(node),
            "Flatten" | "Reshape" | "Squeeze" | "Unsqueeze" | "Expand" if constant_input(0) => {
                self.fold_view(node)
            }
            "Flatten" | "Reshape" | "Squeeze" | "Unsqueeze" | "Expand" => self.view(node),
            "Gather" => self.fold_gather(node),
            "Transpose" => self.fold_transpose(node),
            // `support::check_operators` rejected every other operator.
            _ => Err(pattern(
                node,
                "operator not handled",
                "see circa-nn's README",
            )),
        }
    }

    // ----- inputs -----

    fn input_name(&self, node: &'m NodeProto, idx: usize) -> Option<&'m str> {
        node.input
            .get(idx)
            .map(String::as_str)
            .filter(|s| !s.is_empty())
    }

    /// The value of input `idx`.
    fn value(&self, node: &'m NodeProto, idx: usize) -> Result<Value<'m>> {
        let name = self
            .input_name(node, idx)
            .ok_or_else(|| arity(node, "input", "more inputs", node.input.len()))?;
        self.values
            .get(name)
            .cloned()
            .ok_or_else(|| NnError::UnknownTensor {
                node: node.name.clone(),
                tensor: name.to_owned(),
            })
    }

    /// Input `idx` as an activation (a pending expression becomes a layer).
    fn act(&mut self, node: &'m NodeProto, idx: usize) -> Result<Act> {
        match self.value(node, idx)? {
            Value::Act(a) => Ok(a),
            Value::Expr(p) => self.materialize(&p),
            Value::Tensor(_) | Value::Const(_) => Err(NnError::WrongInputKind {
                node: node.name.clone(),
                tensor: node.input[idx].clone(),
                expected: "an activation",
            }),
        }
    }

    fn spatial_act(&mut self, node: &'m NodeProto, idx: usize) -> Result<Act> {
        let x = self.act(node, idx)?;
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

    fn flat_act(&mut self, node: &'m NodeProto, idx: usize) -> Result<Act> {
        let x = self.act(node, idx)?;
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

    /// Input `idx` as a constant (an initializer or Constant is read, charged to the budget).
    fn constant(&mut self, node: &'m NodeProto, idx: usize) -> Result<Rc<Const>> {
        match self.value(node, idx)? {
            Value::Const(c) => Ok(c),
            Value::Tensor(t) => Ok(Rc::new(self.read_const(t)?)),
            Value::Act(_) | Value::Expr(_) => Err(NnError::WrongInputKind {
                node: node.name.clone(),
                tensor: node.input[idx].clone(),
                expected: "a constant",
            }),
        }
    }

    /// Input `idx` as integers (a shape, axes, indices...).
    fn int_list(&mut self, node: &'m NodeProto, idx: usize) -> Result<Vec<i64>> {
        let c = self.constant(node, idx)?;
        match &c.data {
            ConstData::I64(v) => Ok(v.clone()),
            _ => Err(NnError::WrongInputKind {
                node: node.name.clone(),
                tensor: node.input[idx].clone(),
                expected: "an integer constant",
            }),
        }
    }

    /// Input `idx` as float weights: dims and values (FLOAT tensors only).
    fn weight(&mut self, node: &'m NodeProto, idx: usize) -> Result<(Vec<usize>, Vec<f64>)> {
        match self.value(node, idx)? {
            Value::Tensor(t) => {
                let dims = self.reader.dims(t)?;
                self.charge(self.reader.element_count(t)?)?;
                Ok((dims, self.reader.floats(t)?))
            }
            Value::Const(c) => match &c.data {
                ConstData::F64(v) => Ok((c.dims.clone(), v.clone())),
                _ => Err(NnError::WrongInputKind {
                    node: node.name.clone(),
                    tensor: node.input[idx].clone(),
                    expected: "a float constant",
                }),
            },
            Value::Act(_) | Value::Expr(_) => Err(NnError::WrongInputKind {
                node: node.name.clone(),
                tensor: node.input[idx].clone(),
                expected: "a constant",
            }),
        }
    }

    /// Reads a tensor into a [`Const`], charging its elements.
    fn read_const(&mut self, t: &TensorProto) -> Result<Const> {
        let n = self.reader.element_count(t)?;
        self.charge(n)?;
        let dims = self.reader.dims(t)?;
        let data = match t.data_type {
            data_type::FLOAT => ConstData::F64(self.reader.floats(t)?),
            data_type::INT64 | data_type::INT32 => ConstData::I64(self.reader.ints(t)?),
            data_type::BOOL => ConstData::Bool(self.reader.bools(t)?),
            code => {
                return Err(NnError::UnsupportedDataType {
                    tensor: t.name.clone(),
                    data_type: code,
                    type_name: data_type_name(code),
                });
            }
        };
        Ok(Const { dims, data })
    }

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

    fn shape(&self, a: Act) -> Shape {
        self.shapes[a.id]
    }

    /// The ONNX dims of a value.
    fn dims_of(&self, v: &Value<'m>) -> Result<Vec<usize>> {
        Ok(match v {
            Value::Act(a) => onnx_dims(self.shape(*a), a.rank),
            Value::Tensor(t) => self.reader.dims(t)?,
            Value::Const(c) => c.dims.clone(),
            Value::Expr(p) => match &p.expr {
                Expr::Poly { x, .. } | Expr::Mask { x, .. } => onnx_dims(self.shape(*x), x.rank),
                Expr::Channels { x, mask, .. } => {
                    let mut d = onnx_dims(self.shape(*x), x.rank);
                    d[1] = mask.len();
                    d
                }
            },
        })
    }

    // ----- outputs -----

    /// Adds a layer and returns its output (not bound to a name).
    fn push_layer(
        &mut self,
        name: &str,
        op: Op,
        inputs: Vec<TensorId>,
        weights: Option<LinearWeights>,
        rank: Rank,
    ) -> Result<Act> {
        let in_shapes: Vec<Shape> = inputs.iter().map(|&t| self.shapes[t]).collect();
        let shape = op
            .output_shape(&in_shapes)
            .map_err(|reason| NnError::InvalidNode {
                node: name.to_owned(),
                reason,
            })?;
        if self.layers.len() >= crate::model::MAX_LAYERS {
            return Err(NnError::LimitExceeded {
                what: "layers",
                value: self.layers.len() as u64 + 1,
                limit: crate::model::MAX_LAYERS as u64,
            });
        }
        self.layers.push((name.to_owned(), op, inputs));
        self.weights.push(weights);
        self.shapes.push(shape);
        self.uses.push(0);
        Ok(Act {
            id: self.shapes.len() - 1,
            rank,
        })
    }

    /// Adds a layer and binds the node's single output to it.
    fn push_output(
        &mut self,
        node: &'m NodeProto,
        op: Op,
        inputs: Vec<TensorId>,
        weights: Option<LinearWeights>,
        rank: Rank,
    ) -> Result<()> {
        let act = self.push_layer(&node.name, op, inputs, weights, rank)?;
        self.bind_output(node, Value::Act(act))
    }

    /// Binds the node's single output (a node with more outputs is an error).
    fn bind_output(&mut self, node: &'m NodeProto, value: Value<'m>) -> Result<()> {
        if node.output.len() != 1 {
            return Err(arity(node, "output", "1", node.output.len()));
        }
        self.bind(node, 0, value)
    }

    /// A pending expression of `node`, bound to its output.
    fn bind_expr(&mut self, node: &'m NodeProto, expr: Expr) -> Result<()> {
        let pending = Pending {
            node: node.name.clone(),
            expr,
            consumers: Cell::new(0),
            layer: Cell::new(None),
        };
        self.bind_output(node, Value::Expr(Rc::new(pending)))
    }

    /// Binds output `idx` of `node` to `value`.
    fn bind(&mut self, node: &'m NodeProto, idx: usize, value: Value<'m>) -> Result<()> {
        let name = node.output[idx].as_str();
        if name.is_empty() || self.values.contains_key(name) {
            return Err(NnError::InvalidNode {
                node: node.name.clone(),
                reason: "output name is empty or already defined",
            });
        }
        if let Some(vi) = self.declared.get(name) {
            check_declared(vi, &self.dims_of(&value)?)?;
        }
        let n = self.consumers.get(name).copied().unwrap_or(0);
        let value = match value {
            Value::Expr(p) => match p.layer.get() {
                Some(a) => Value::Act(a),
                None => {
                    p.consumers.set(p.consumers.get() + n);
                    Value::Expr(p)
                }
            },
            other => other,
        };
        if let Value::Act(a) = value {
            self.uses[a.id] += n;
        }
        self.values.insert(name, value);
        Ok(())
    }

    /// The activation computing a pending expression (added as a layer the first time).
    fn materialize(&mut self, p: &Rc<Pending>) -> Result<Act> {
        if let Some(a) = p.layer.get() {
            return Ok(a);
        }
        let (x, op) = match &p.expr {
            Expr::Poly { x, c } if *c == [0.0, 1.0, 0.0] => (*x, None),
            Expr::Poly { x, c } => (*x, Some(Activation::Polynomial { coefficients: *c })),
            Expr::Mask { x, mask } if mask.iter().all(|&m| !m) => (*x, None),
            Expr::Mask { x, mask } if mask.iter().all(|&m| m) => (*x, Some(Activation::Relu)),
            Expr::Mask { x, mask } => (*x, Some(Activation::ChannelRelu { mask: mask.clone() })),
            Expr::Channels { .. } => {
                return Err(NnError::UnsupportedPattern {
                    node: p.node.clone(),
                    op_type: "Slice".to_owned(),
                    reason: "a channel slice of an activation is used other than as a part of a \
                             Concat that puts all of its channels back in order",
                    hint: activation::PARTIAL_RELU_HINT,
                });
            }
        };
        let act = match op {
            None => x,
            Some(a) => self.push_layer(&p.node, Op::Activation(a), vec![x.id], None, x.rank)?,
        };
        self.uses[act.id] += p.consumers.get();
        p.layer.set(Some(act));
        Ok(act)
    }

    /// The linear layer producing `a`, if its output (under every name bound to it) is
    /// consumed only once.
    fn foldable_producer(&self, a: Act) -> Option<usize> {
        if self.uses[a.id] != 1 || a.id == 0 {
            return None;
        }
        let layer = a.id - 1;
        self.layers[layer].1.has_weights().then_some(layer)
    }
}

fn graph_input_shape(vi: &ValueInfoProto) -> Result<(Shape, Rank)> {
    let bad = || NnError::UnsupportedGraphShape {
        what: "input",
        name: vi.name.clone(),
    };
    let tensor = vi
        .r#type
        .as_ref()
        .and_then(|t| t.tensor_type.as_ref())
        .ok_or_else(bad)?;
    if tensor.elem_type != data_type::FLOAT {
        return Err(NnError::UnsupportedDataType {
            tensor: vi.name.clone(),
            data_type: tensor.elem_type,
            type_name: data_type_name(tensor.elem_type),
        });
    }
    let dims = &tensor.shape.as_ref().ok_or_else(bad)?.dim;
    let mut concrete = Vec::with_capacity(dims.len());
    for (i, d) in dims.iter().enumerate() {
        match &d.value {
            Some(DimensionValue::DimValue(v))
                if *v >= 1 && *v <= (1 << 24) && (i > 0 || *v == 1) =>
            {
                concrete.push(*v as usize)
            }
            // A symbolic batch dimension is taken as 1.
            Some(DimensionValue::DimParam(_)) | None if i == 0 => concrete.push(1),
            _ => return Err(bad()),
        }
    }
    match concrete.as_slice() {
        [1, c, h, w] => Ok((Shape::new(*c, *h, *w), Rank::Spatial)),
        [1, n] => Ok((Shape::flat(*n), Rank::Flat)),
        _ => Err(bad()),
    }
}

fn check_declared(vi: &ValueInfoProto, inferred: &[usize]) -> Result<()> {
    let Some(shape) = vi
        .r#type
        .as_ref()
        .and_then(|t| t.tensor_type.as_ref())
        .and_then(|t| t.shape.as_ref())
    else {
        return Ok(());
    };
    let inferred = dims_i64(inferred);
    let matches = shape.dim.len() == inferred.len()
        && shape
            .dim
            .iter()
            .zip(&inferred)
            .all(|(d, &v)| match &d.value {
                Some(DimensionValue::DimValue(x)) => *x == v,
                _ => true,
            });
    if matches {
        return Ok(());
    }
    let declared: Vec<i64> = shape
        .dim
        .iter()
        .map(|d| match &d.value {
            Some(DimensionValue::DimValue(x)) => *x,
            _ => -1,
        })
        .collect();
    Err(NnError::ShapeMismatch {
        context: format!("tensor {:?}: declared shape", vi.name),
        expected: inferred,
        actual: declared,
    })
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

/// Inputs between `min` and `max` (trailing empty names count as absent).
fn expect_inputs_between(
    node: &NodeProto,
    min: usize,
    max: usize,
    what: &'static str,
) -> Result<()> {
    let n = node.input.len();
    if n < min || n > max {
        return Err(arity(node, "input", what, n));
    }
    Ok(())
}

fn pattern(node: &NodeProto, reason: &'static str, hint: &'static str) -> NnError {
    NnError::UnsupportedPattern {
        node: node.name.clone(),
        op_type: node.op_type.clone(),
        reason,
        hint,
    }
}
