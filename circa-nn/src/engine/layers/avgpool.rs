//! Average pooling (a window, or each whole plane for global average pooling): the window sum
//! times the public reciprocal `round(2^f / divisor)`, a local operation on either party's
//! share; the product at `2^(2f)` is rescaled unless the plan defers it.

use circa_share::{Fp, Modulus};
use zeroize::Zeroizing;

use super::super::plan::{Compile, Share, ShareRule};
use super::super::reference::Arith;
use super::super::{Known, Party, Shares, reciprocal_units};
use crate::error::NnError;
use crate::kernels::{self, Ring};
use crate::model::{Op, Shape, Window2d};

/// Average pooling.
#[derive(Clone, Debug, PartialEq)]
pub struct AvgPool {
    window: Option<Window2d>,
    input: Shape,
    divisor: usize,
    rescale: bool,
}

impl AvgPool {
    pub(super) fn compile(c: &Compile<'_>) -> Self {
        let window = match c.op {
            Op::AvgPool(w) => Some(*w),
            _ => None,
        };
        Self {
            window,
            input: c.input,
            divisor: window.map_or(c.input.spatial(), |w| w.area()),
            rescale: !c.deferred,
        }
    }

    /// The divisor: the window area, or the plane size for global average pooling.
    pub fn divisor(&self) -> usize {
        self.divisor
    }

    pub(super) fn share_rule(&self, inputs: &[Share]) -> ShareRule {
        ShareRule {
            remask: super::super::plan::Remask::No,
            output: if inputs[0] == Share::Online {
                Share::Online
            } else {
                Share::Known
            },
        }
    }

    /// `sum * factor` over the windows (or planes).
    fn scaled_sum<V: Ring>(&self, x: &[V], factor: V) -> Result<Vec<V>, circa_share::Error> {
        let mut y = match &self.window {
            Some(w) => kernels::sum_pool(w, self.input, x)?,
            None => kernels::sum_channels(self.input, x)?,
        };
        kernels::scale(&mut y, factor);
        Ok(y)
    }

    pub(super) fn plain<A: Arith>(
        &self,
        a: &A,
        layer: usize,
        x: &[A::V],
    ) -> Result<Vec<A::V>, NnError> {
        let mut y = self
            .scaled_sum(x, a.reciprocal(self.divisor))
            .map_err(|e| kernels::refused(layer, &e))?;
        if self.rescale {
            a.rescale(&mut y);
        }
        Ok(y)
    }

    /// Either party's share of the output (also the client's offline-known share).
    fn shares<M: Modulus>(
        &self,
        frac_bits: u32,
        party: Party,
        x: &[Fp<M>],
    ) -> crate::private::Result<Shares<M>> {
        let r = Fp::from_i64_reduced(reciprocal_units(frac_bits, self.divisor));
        let mut y = Zeroizing::new(self.scaled_sum(x, r)?);
        if self.rescale {
            party.truncate(&mut y, frac_bits);
        }
        Ok(y)
    }

    pub(super) fn client_offline<M: Modulus, C: circa_ot::Channel + ?Sized>(
        &self,
        p: &mut super::super::client::ClientOffline<'_, M, C>,
        x: &Known<M>,
    ) -> crate::private::Result<Known<M>> {
        x.as_ref()
            .map(|x| self.shares(p.setup.frac_bits(), Party::Client, x))
            .transpose()
    }

    pub(super) fn online<M: Modulus>(
        &self,
        frac_bits: u32,
        party: Party,
        x: &Shares<M>,
    ) -> crate::private::Result<Shares<M>> {
        self.shares(frac_bits, party, x)
    }
}
