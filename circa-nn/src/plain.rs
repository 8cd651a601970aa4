//! The plaintext `f64` reference: the engine's walk ([`crate::engine`]) with `f64` arithmetic
//! over the network's weights, the oracle the private run and the fixed-point reference are
//! compared against.

use crate::engine::plan::{Plan, PlanParams, SignScale};
use crate::engine::reference::{self, F64};
use crate::error::Result;
use crate::model::Network;

/// Runs the network on one input (length `input_shape().len()`, `C x H x W` order) in `f64`
/// and returns the output tensor (the logits).
pub fn infer(network: &Network, input: &[f64]) -> Result<Vec<f64>> {
    // In f64 no rescale happens, so the plan's fixed-point choices do not matter.
    let plan = Plan::new(
        network.architecture(),
        PlanParams {
            frac_bits: 0,
            sign_scale: SignScale::Product,
            variant: circa_relu::Variant::ExactSign,
            field_bits: 64,
        },
    )?;
    reference::run(&plan, &F64::new(network), input.to_vec())
}

/// Index of the largest output (the predicted class); the first one on ties.
pub fn argmax(values: &[f64]) -> Option<usize> {
    let mut best: Option<usize> = None;
    for (i, &v) in values.iter().enumerate() {
        if best.is_none_or(|b| v > values[b]) {
            best = Some(i);
        }
    }
    best
}
