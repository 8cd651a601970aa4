//! Which operators the importer knows, and the one error naming every node it does not.

use crate::error::{NnError, Result, UnsupportedNode};
use crate::onnx::proto::{GraphProto, ModelProto};

/// The custom operator domain for Circa's activations.
pub const CIRCA_DOMAIN: &str = "ai.circa";

/// Operators of the default domain the importer translates (in some or all of their forms).
pub(super) const DEFAULT_OPS: &[&str] = &[
    // layers
    "Conv",
    "Gemm",
    "MatMul",
    "BatchNormalization",
    "AveragePool",
    "MaxPool",
    "GlobalAveragePool",
    "ReduceMean",
    // activations and element-wise arithmetic (residual Add, biases, polynomials)
    "Relu",
    "Add",
    "Sub",
    "Mul",
    "Div",
    "Pow",
    "Where",
    // views, channel slices, no-ops
    "Flatten",
    "Reshape",
    "Squeeze",
    "Unsqueeze",
    "Slice",
    "Concat",
    "Identity",
    "Dropout",
    "Expand",
    "Cast",
    // constants and shape arithmetic
    "Constant",
    "Shape",
    "Gather",
    "Transpose",
];

/// Operators of the `ai.circa` domain.
pub(super) const CIRCA_OPS: &[&str] = &["ChannelRelu", "Polynomial"];

/// Opset versions of the default domain the importer is tested with.
pub const TESTED_OPSETS: core::ops::RangeInclusive<i64> = 13..=20;

fn is_default_domain(domain: &str) -> bool {
    domain.is_empty() || domain == "ai.onnx"
}

/// Whether `(domain, op_type)` is known to the importer.
pub(super) fn is_supported(domain: &str, op_type: &str) -> bool {
    if is_default_domain(domain) {
        DEFAULT_OPS.contains(&op_type)
    } else {
        domain == CIRCA_DOMAIN && CIRCA_OPS.contains(&op_type)
    }
}

const HINT_ACTIVATION: &str = "private inference evaluates ReLU, partial ReLU and polynomial \
    activations of degree <= 2 only: replace other activations (for example by nn.ReLU, or by \
    a * x * x + b * x + c written with tensor arithmetic)";
const HINT_SOFTMAX: &str = "a final Softmax or LogSoftmax can be left out of the exported \
    model: it does not change the argmax of the logits";
const HINT_DOMAIN: &str = "operators of other domains (custom ops, functions) are not \
    supported; the ai.circa domain has ChannelRelu and Polynomial";
const HINT_GENERAL: &str = "see \"Supported ONNX\" in circa-nn's README and docs/pytorch.md";

fn hint_for(node: &UnsupportedNode) -> &'static str {
    if !is_default_domain(&node.domain) {
        return HINT_DOMAIN;
    }
    match node.op_type.as_str() {
        "Softmax" | "LogSoftmax" => HINT_SOFTMAX,
        "Sigmoid" | "Tanh" | "Gelu" | "Erf" | "LeakyRelu" | "Elu" | "Selu" | "Celu"
        | "HardSigmoid" | "HardSwish" | "Softplus" | "Softsign" | "Mish" | "PRelu" | "Clip"
        | "Max" | "Min" | "ThresholdedRelu" => HINT_ACTIVATION,
        _ => HINT_GENERAL,
    }
}

/// One error listing every node whose operator is unknown, or `Ok` if there is none.
pub(super) fn check_operators(model: &ModelProto, graph: &GraphProto) -> Result<()> {
    let nodes: Vec<UnsupportedNode> = graph
        .node
        .iter()
        .filter(|n| !is_supported(&n.domain, &n.op_type))
        .map(|n| UnsupportedNode {
            name: n.name.clone(),
            op_type: n.op_type.clone(),
            domain: n.domain.clone(),
        })
        .collect();
    if nodes.is_empty() {
        return Ok(());
    }
    let mut hints: Vec<&'static str> = Vec::new();
    for n in &nodes {
        let h = hint_for(n);
        if !hints.contains(&h) {
            hints.push(h);
        }
    }
    if let Some(hint) = opset_hint(model) {
        hints.push(hint);
    }
    Err(NnError::UnsupportedOperators { nodes, hints })
}

/// A hint when the default domain's opset is outside the tested range.
pub(super) fn opset_hint(model: &ModelProto) -> Option<&'static str> {
    let version = model
        .opset_import
        .iter()
        .find(|o| is_default_domain(&o.domain))
        .map(|o| o.version)?;
    (!TESTED_OPSETS.contains(&version)).then_some(
        "the model's default opset is outside 13..20: export with opset 13 to 20 \
         (torch.onnx.export(..., opset_version=17))",
    )
}
