//! Residual add of two tensors of equal shape: each party adds its shares. A lifted add (its
//! output at `2^(2f)`, see the plan) first multiplies each input at `2^f` by the public `2^f`
//! (exact on shares: no truncation, no wrap).

use circa_share::{Fp, Modulus};
use zeroize::Zeroizing;

use super::super::plan::{Compile, Remask, Scale, Share, ShareRule};
use super::super::reference::Arith;
use super::super::{Known, Shares};
use crate::kernels::{self, Ring};

/// A residual add.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Add {
    /// Per input: multiplied by `2^f` before the add.
    lift: [bool; 2],
}

impl Add {
    pub(super) fn compile(c: &Compile<'_>) -> Self {
        let lift_input = |i: usize| {
            c.output_scale == Scale::Product
                && c.input_scales.get(i).copied().unwrap_or(Scale::Single) == Scale::Single
        };
        Self {
            lift: [lift_input(0), lift_input(1)],
        }
    }

    /// Per input: whether it is multiplied by `2^f` first.
    pub fn lifts(&self) -> [bool; 2] {
        self.lift
    }

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

    /// `a * la + b * lb` for the lift factors (`2^f` or none).
    fn sum<V: Ring>(&self, two_f: V, a: &[V], b: &[V]) -> Vec<V> {
        match self.lift {
            [false, false] => kernels::add(a, b),
            [la, lb] => a
                .iter()
                .zip(b)
                .map(|(&x, &y)| {
                    let x = if la { x * two_f } else { x };
                    let y = if lb { y * two_f } else { y };
                    x + y
                })
                .collect(),
        }
    }

    pub(super) fn plain<A: Arith>(&self, a: &A, x: &[A::V], y: &[A::V]) -> Vec<A::V> {
        self.sum(a.two_f(), x, y)
    }

    pub(super) fn client_offline<M: Modulus>(
        &self,
        two_f: Fp<M>,
        a: &Known<M>,
        b: &Known<M>,
    ) -> Known<M> {
        match (a, b) {
            (Some(a), Some(b)) => Some(Zeroizing::new(self.sum(two_f, a, b))),
            _ => None,
        }
    }

    pub(super) fn online<M: Modulus>(
        &self,
        two_f: Fp<M>,
        a: &Shares<M>,
        b: &Shares<M>,
    ) -> Shares<M> {
        Zeroizing::new(self.sum(two_f, a, b))
    }
}
