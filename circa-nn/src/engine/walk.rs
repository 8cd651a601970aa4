//! The one walk over the layers. Every backend is a [`Phase`]: the plaintext references
//! (`f64`, fixed point, the fault simulation) and the private client and server in their
//! offline and online phases. The walk owns the tensors of the DAG (each freed after its last
//! reader), applies the plan's re-masking, and hands each layer its inputs.

use super::layers::Kind;
use super::plan::{Plan, Remask};
use crate::error::NnError;

/// A backend of the walk.
pub(crate) trait Phase {
    /// What the phase holds per tensor (values, shares, the client's offline-known shares,
    /// or nothing).
    type Tensor;
    /// The phase's error.
    type Error: From<NnError>;

    /// The network input.
    fn input(&mut self) -> Result<Self::Tensor, Self::Error>;

    /// Re-masks `t`, the first input of layer `layer` (`len` elements), as the plan says.
    fn remask(
        &mut self,
        layer: usize,
        when: Remask,
        len: usize,
        t: &mut Self::Tensor,
    ) -> Result<(), Self::Error>;

    /// Runs layer `layer` on its inputs.
    fn layer(
        &mut self,
        layer: usize,
        kind: &Kind,
        inputs: &[&Self::Tensor],
    ) -> Result<Self::Tensor, Self::Error>;

    /// Called after each layer (progress reports).
    fn done(&mut self, _layer: usize) {}

    /// Called with each layer's output before the walk stores it (instrumentation).
    fn observe(&mut self, _layer: usize, _out: &Self::Tensor) {}
}

/// Runs `phase` over `plan`; returns the output tensor.
pub(crate) fn walk<P: Phase>(plan: &Plan, phase: &mut P) -> Result<P::Tensor, P::Error> {
    let steps = plan.steps();
    let mut tensors: Vec<Option<P::Tensor>> = Vec::with_capacity(steps.len() + 1);
    tensors.push(Some(phase.input()?));
    for (i, step) in steps.iter().enumerate() {
        let bad = |tensor| NnError::InvalidTensorId { layer: i, tensor };
        let first = step.inputs[0];
        if step.remask != Remask::No {
            let t = tensors
                .get_mut(first)
                .and_then(Option::as_mut)
                .ok_or(bad(first))?;
            phase.remask(i, step.remask, plan.tensor_len(first), t)?;
        }
        let out = {
            let mut inputs = Vec::with_capacity(step.inputs.len());
            for &t in &step.inputs {
                inputs.push(tensors.get(t).and_then(Option::as_ref).ok_or(bad(t))?);
            }
            phase.layer(i, &step.kind, &inputs)?
        };
        // Free every input this layer read last (never the output).
        for &t in &step.inputs {
            if plan.last_use(t) == Some(i) && t != plan.output() {
                tensors[t] = None;
            }
        }
        phase.observe(i, &out);
        tensors.push(Some(out));
        phase.done(i);
    }
    let out = plan.output();
    tensors
        .get_mut(out)
        .and_then(Option::take)
        .ok_or(NnError::InvalidTensorId {
            layer: steps.len(),
            tensor: out,
        })
        .map_err(Into::into)
}
