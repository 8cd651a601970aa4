//! Human-readable network summary (for `circa inspect`).

use std::fmt::Write as _;

use crate::model::{Activation, Architecture, Network, Op};

/// Summary of a network: one line per layer (index, name, operation and parameters, input
/// tensor ids, output shape, ReLUs) and totals: ReLUs (identity channels do not count; max
/// pooling counts `area - 1` per output), identity units, polynomial activations, parameters.
pub fn summary(network: &Network) -> String {
    let mut s = architecture_summary(network.architecture());
    let params: usize = network
        .weights()
        .iter()
        .flatten()
        .map(|w| w.weight().len() + w.bias().len())
        .sum();
    let _ = writeln!(s, "parameters: {params}");
    s
}

/// The part of [`summary`] that needs no weights (what a client can print).
pub fn architecture_summary(arch: &Architecture) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "input: {}", arch.input_shape());
    let _ = writeln!(
        s,
        "{:>4}  {:<20} {:<44} {:<10} {:>12} {:>8}",
        "#", "name", "operation", "inputs", "output", "relus"
    );
    let mut identity_units = 0usize;
    for (i, layer) in arch.layers().iter().enumerate() {
        let out = layer.output_shape();
        let detail = match &layer.op {
            Op::Conv2d(c) => format!(
                "Conv2d {}->{} k{}x{} s{}x{} p{},{},{},{} g{}",
                c.in_channels,
                c.out_channels,
                c.window.kernel_h,
                c.window.kernel_w,
                c.window.stride_h,
                c.window.stride_w,
                c.window.pad_top,
                c.window.pad_left,
                c.window.pad_bottom,
                c.window.pad_right,
                c.groups
            ),
            Op::Dense {
                in_features,
                out_features,
            } => format!("Dense {in_features}->{out_features}"),
            Op::AvgPool(p) | Op::MaxPool(p) => format!(
                "{} k{}x{} s{}x{}",
                layer.op.kind_name(),
                p.kernel_h,
                p.kernel_w,
                p.stride_h,
                p.stride_w
            ),
            Op::Activation(Activation::ChannelRelu { mask }) => {
                let on = mask.iter().filter(|&&m| m).count();
                identity_units += (mask.len() - on) * out.spatial();
                format!("ChannelRelu {on}/{} channels ReLU", mask.len())
            }
            Op::Activation(Activation::Identity) => {
                identity_units += out.len();
                "Identity".to_owned()
            }
            Op::Activation(Activation::Polynomial {
                coefficients: [c0, c1, c2],
            }) => {
                format!("Polynomial {c0:.4} + {c1:.4}x + {c2:.4}x^2")
            }
            other => other.kind_name().to_owned(),
        };
        let inputs = layer
            .inputs
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(",");
        // Names come from the model file (or the server): no control characters reach the
        // terminal (escape sequences, newlines breaking the table).
        let name: String = layer
            .name
            .chars()
            .map(|c| if c.is_control() { '?' } else { c })
            .take(20)
            .collect();
        let _ = writeln!(
            s,
            "{:>4}  {:<20} {:<44} {:<10} {:>12} {:>8}",
            i + 1,
            name,
            detail,
            inputs,
            out.to_string(),
            arch.layer_relu_count(layer)
        );
    }
    let maxpool: usize = arch
        .layers()
        .iter()
        .filter(|l| matches!(l.op, Op::MaxPool(_)))
        .map(|l| arch.layer_relu_count(l))
        .sum();
    let _ = writeln!(
        s,
        "output: tensor {} ({})",
        arch.output(),
        arch.output_shape()
    );
    let _ = writeln!(
        s,
        "relus: {} (activations {}, max pooling {})",
        arch.relu_count(),
        arch.relu_count() - maxpool,
        maxpool
    );
    let _ = writeln!(s, "identity units (pruned ReLUs, free): {identity_units}");
    let _ = writeln!(s, "polynomial activations: {}", arch.polynomial_count());
    s
}
