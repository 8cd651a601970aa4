//! Reshape and the identity activation (a fully pruned ReLU layer): the data passes unchanged
//! and costs nothing.

use circa_share::Modulus;

use super::super::plan::{Remask, Share, ShareRule};
use super::super::{Known, Shares};

/// A pass-through layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pass;

impl Pass {
    pub(super) fn share_rule(&self, inputs: &[Share]) -> ShareRule {
        ShareRule {
            remask: Remask::No,
            output: inputs[0],
        }
    }

    pub(super) fn plain<V: Copy>(&self, x: &[V]) -> Vec<V> {
        x.to_vec()
    }

    pub(super) fn client_offline<M: Modulus>(&self, x: &Known<M>) -> Known<M> {
        x.clone()
    }

    pub(super) fn online<M: Modulus>(&self, x: &Shares<M>) -> Shares<M> {
        x.clone()
    }
}
