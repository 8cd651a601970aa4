//! Residual add of two tensors of equal shape: each party adds its shares.

use circa_share::Modulus;
use zeroize::Zeroizing;

use super::super::plan::{Remask, Share, ShareRule};
use super::super::{Known, Shares};
use crate::kernels::{self, Ring};

/// A residual add.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Add;

impl Add {
    pub(super) fn share_rule(&self, inputs: &[Share]) -> ShareRule {
        ShareRule {
            remask: Remask::No,
            output: if inputs.contains(&Share::Online) {
                Share::Online
            } else {
                Share::Known
            },
        }
    }

    pub(super) fn plain<V: Ring>(&self, a: &[V], b: &[V]) -> Vec<V> {
        kernels::add(a, b)
    }

    pub(super) fn client_offline<M: Modulus>(&self, a: &Known<M>, b: &Known<M>) -> Known<M> {
        match (a, b) {
            (Some(a), Some(b)) => Some(Zeroizing::new(kernels::add(a, b))),
            _ => None,
        }
    }

    pub(super) fn online<M: Modulus>(&self, a: &Shares<M>, b: &Shares<M>) -> Shares<M> {
        Zeroizing::new(kernels::add(a, b))
    }
}
