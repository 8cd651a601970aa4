//! The schedule both parties derive from the public architecture: for every layer, whether
//! its input must first be re-masked (and in which phase), whether its product stays at scale
//! `2^(2f)`, and how many ReLUs it runs. The client's share of each tensor is tracked as
//! [`Kind`]: a ReLU needs a client share known offline (the garbled circuit's evaluator input
//! labels are fetched offline), and a linear layer needs the client's share to be a fresh
//! random mask `r_i` (the one its offline correlation used).

use crate::fixed::SignScale;
use crate::model::{Activation, Architecture, Op};

/// What the client knows of its share of a tensor before the online phase.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A fresh uniform mask chosen offline (the server holds `x - mask`).
    Fresh,
    /// Computable offline and uniform, independent of the value: a linear layer's `W r - s`
    /// before any rescale (the correlation's `s` is uniform).
    Uniform,
    /// Computable offline (e.g. `W r - s` after truncation or pooling), not uniform.
    Known,
    /// Known only online (after a ReLU, a polynomial or a max pool).
    Online,
}

/// When a tensor's client share is replaced by a fresh mask `m`: the client sends its share
/// minus `m` and the server adds it to its own share.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Remask {
    /// Not needed.
    No,
    /// The client's share is known offline: the message goes in the offline phase.
    Offline,
    /// The client's share is known online only: the message joins the client's next flight.
    Online,
}

/// The plan of one layer.
#[derive(Clone, Debug)]
pub(crate) struct LayerPlan {
    /// Re-masking of `inputs[0]` before the layer runs.
    pub(crate) remask: Remask,
    /// A product layer whose output stays at `2^(2f)` (not truncated).
    pub(crate) deferred: bool,
    /// An activation whose input is at `2^(2f)`: its output is truncated.
    pub(crate) input_at_product: bool,
}

/// The plan of a network.
#[derive(Clone, Debug)]
pub(crate) struct Plan {
    pub(crate) layers: Vec<LayerPlan>,
}

fn is_product(op: &Op) -> bool {
    matches!(
        op,
        Op::Conv2d(_) | Op::Dense { .. } | Op::AvgPool(_) | Op::GlobalAvgPool
    )
}

fn is_relu(op: &Op) -> bool {
    matches!(
        op,
        Op::Activation(Activation::Relu | Activation::ChannelRelu { .. })
    )
}

/// Number of ReLU elements of an activation layer (`None` for other layers).
pub(crate) fn relu_mask(act: &Activation, channels: usize, spatial: usize) -> Option<Vec<bool>> {
    match act {
        Activation::Relu => Some(vec![true; channels * spatial]),
        Activation::ChannelRelu { mask } => Some(
            mask.iter()
                .flat_map(|&m| core::iter::repeat_n(m, spatial))
                .collect(),
        ),
        _ => None,
    }
}

/// Candidates per output at each max-pool level: `area, ceil(area/2), ..., 1`.
pub(crate) fn pool_widths(area: usize) -> Vec<usize> {
    let mut w = vec![area.max(1)];
    while let Some(&last) = w.last() {
        if last <= 1 {
            break;
        }
        w.push(last / 2 + last % 2);
    }
    w
}

/// Beaver triples one inference needs: one per polynomial unit, and one per ReLU on the
/// ReLU's Beaver product path.
pub(crate) fn triple_count(arch: &Architecture, params: &super::PrivateParams) -> usize {
    let beaver = params.relu.0.is_sign() && params.relu.1 == circa_relu::ProductPath::Beaver;
    arch.polynomial_count() + if beaver { arch.relu_count() } else { 0 }
}

impl Plan {
    pub(crate) fn new(arch: &Architecture, sign_scale: SignScale) -> Self {
        let layers = arch.layers();
        let output = arch.output();
        let consumers = |id: usize| layers.iter().filter(move |l| l.inputs.contains(&id));
        // Same rule as the fixed-point reference (crate::fixed), plus: the network output stays
        // at the product scale and the client rescales it exactly after reconstruction.
        let deferred: Vec<bool> = layers
            .iter()
            .enumerate()
            .map(|(i, layer)| {
                let id = i + 1;
                let mut cons = consumers(id).peekable();
                let has = cons.peek().is_some();
                is_product(&layer.op)
                    && if id == output {
                        !has
                    } else {
                        sign_scale == SignScale::Product && has && cons.all(|l| is_relu(&l.op))
                    }
            })
            .collect();
        let mut kinds = vec![Kind::Fresh; layers.len() + 1];
        let mut plans = Vec::with_capacity(layers.len());
        for (i, layer) in layers.iter().enumerate() {
            let t = layer.inputs[0];
            let input_at_product = t > 0 && deferred[t - 1];
            let mut remask = Remask::No;
            // A linear layer needs its own fresh mask; a sign test needs a client share that
            // is uniform and independent of the value (what the ReLU's fault model and the
            // simulation in crate::simulate assume: a truncated share lies in [0, p / 2^f)).
            let need = |kind: Kind, need_fresh: bool| match kind {
                Kind::Fresh => Remask::No,
                Kind::Uniform if !need_fresh => Remask::No,
                Kind::Uniform | Kind::Known => Remask::Offline,
                Kind::Online => Remask::Online,
            };
            let out_kind = match &layer.op {
                Op::Conv2d(_) | Op::Dense { .. } => {
                    remask = need(kinds[t], true);
                    kinds[t] = Kind::Fresh;
                    if deferred[i] {
                        Kind::Uniform
                    } else {
                        Kind::Known
                    }
                }
                Op::AvgPool(_) | Op::GlobalAvgPool => match kinds[t] {
                    Kind::Online => Kind::Online,
                    _ => Kind::Known,
                },
                Op::Add => {
                    if kinds[t] == Kind::Online || kinds[layer.inputs[1]] == Kind::Online {
                        Kind::Online
                    } else {
                        Kind::Known
                    }
                }
                Op::Reshape { .. } | Op::Activation(Activation::Identity) => kinds[t],
                Op::MaxPool(_) => {
                    remask = need(kinds[t], false);
                    if remask != Remask::No {
                        kinds[t] = Kind::Fresh;
                    }
                    Kind::Online
                }
                Op::Activation(Activation::Polynomial { .. }) => Kind::Online,
                Op::Activation(act) => {
                    let shape = layer.output_shape();
                    let any = relu_mask(act, shape.channels, shape.spatial())
                        .is_some_and(|m| m.iter().any(|&b| b));
                    if any {
                        remask = need(kinds[t], false);
                        if remask != Remask::No {
                            kinds[t] = Kind::Fresh;
                        }
                        Kind::Online
                    } else if kinds[t] == Kind::Online {
                        Kind::Online
                    } else if input_at_product {
                        Kind::Known
                    } else {
                        kinds[t]
                    }
                }
            };
            kinds[i + 1] = out_kind;
            plans.push(LayerPlan {
                remask,
                deferred: deferred[i],
                input_at_product,
            });
        }
        Plan { layers: plans }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digits_cnn() -> Architecture {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../models/digits_cnn.onnx");
        let bytes = std::fs::read(path).expect("model");
        crate::import_onnx(&bytes)
            .expect("import")
            .architecture()
            .clone()
    }

    #[test]
    fn digits_cnn_schedule() {
        use Remask::{No, Offline, Online};
        // conv1, act1, pool1, conv2, act2, pool2, flatten, fc1, act3, fc2
        let arch = digits_cnn();
        let remasks = |scale| -> Vec<Remask> {
            Plan::new(&arch, scale)
                .layers
                .iter()
                .map(|l| l.remask)
                .collect()
        };
        // Product: each ReLU reads W r - s directly (uniform); after a ReLU the next linear
        // layer's input is re-masked online.
        assert_eq!(
            remasks(SignScale::Product),
            [No, No, Online, Online, No, No, No, Online, No, Online]
        );
        // Rescaled: the truncated linear outputs are re-masked offline before each ReLU.
        assert_eq!(
            remasks(SignScale::Rescaled),
            [
                No, Offline, Online, Online, Offline, No, No, Online, Offline, Online
            ]
        );
        let plan = Plan::new(&arch, SignScale::Product);
        let deferred: Vec<bool> = plan.layers.iter().map(|l| l.deferred).collect();
        // conv1, conv2, fc1 feed ReLUs; fc2 is the output (rescaled by the client).
        assert_eq!(
            deferred,
            [
                true, false, false, true, false, false, false, true, false, true
            ]
        );
    }

    #[test]
    fn widths() {
        assert_eq!(pool_widths(4), vec![4, 2, 1]);
        assert_eq!(pool_widths(9), vec![9, 5, 3, 2, 1]);
        assert_eq!(pool_widths(1), vec![1]);
    }
}
