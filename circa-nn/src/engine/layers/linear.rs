//! Convolution and dense layers.
//!
//! The client's share of the input is a fresh random mask `r` chosen offline (the plan
//! re-masks the input when it is not). Offline, a linear-layer correlation
//! (`circa_share::ole`, vector OLE from correlated OT; a convolution is one matrix product per
//! group on the client's im2col of `r`) leaves the client with `W r - s` and the server with
//! `s`. Online the server computes `W (x - r) + s + b` (bias at `2^(2f)`) with circa-share's
//! blocked kernels, with no communication. The output is rescaled unless the plan defers it.

use circa_ot::Channel;
use circa_share::{FP_BYTES, Modulus, he};
use zeroize::Zeroizing;

use super::super::client::{ClientOffline, ClientOnline};
use super::super::linear_choice::key_for;
use super::super::material::wrong_kind;
use super::super::plan::{Compile, Share, ShareRule};
use super::super::reference::Arith;
use super::super::server::{ServerOffline, ServerOnline};
use super::super::{Known, Shares, add_assign, client, server};
use super::{ClientItem, ServerItem};
use crate::error::NnError;
use crate::kernels::{self, Ring};
use crate::model::{Conv2d, Op, Shape};
use crate::private::{PrivateError, Result};

/// A convolution or dense layer.
#[derive(Clone, Debug, PartialEq)]
pub struct Linear {
    conv: Option<Conv2d>,
    input: Shape,
    output: Shape,
    rescale: bool,
}

/// The client's material: its share `W r - s` of the output.
pub(crate) type ClientMaterial<M> = Shares<M>;
/// The server's material: its share `s` of `W r`.
pub(crate) type ServerMaterial<M> = Shares<M>;

impl Linear {
    pub(super) fn compile(c: &Compile<'_>) -> Self {
        Self {
            conv: match c.op {
                Op::Conv2d(conv) => Some(*conv),
                _ => None,
            },
            input: c.input,
            output: c.output,
            rescale: !c.deferred,
        }
    }

    /// The convolution geometry (`None` for a dense layer).
    pub fn conv(&self) -> Option<&Conv2d> {
        self.conv.as_ref()
    }

    /// Input shape.
    pub fn input(&self) -> Shape {
        self.input
    }

    /// Output shape.
    pub fn output(&self) -> Shape {
        self.output
    }

    /// Whether the output is rescaled to `2^f` (else it stays at `2^(2f)`).
    pub fn rescale(&self) -> bool {
        self.rescale
    }

    /// Number of weights.
    pub fn weight_len(&self) -> usize {
        match &self.conv {
            Some(c) => c.weight_len(),
            None => self.input.len() * self.output.len(),
        }
    }

    /// Multiply-accumulates (padding included, as the correlation computes them).
    pub fn macs(&self) -> u64 {
        self.weight_len() as u64 * self.output.spatial() as u64
    }

    pub(super) fn share_rule(&self, inputs: &[Share]) -> ShareRule {
        ShareRule {
            remask: ShareRule::remask_for(inputs[0], true),
            output: if self.rescale {
                Share::Known
            } else {
                Share::Uniform
            },
        }
    }

    /// `W x + b` (no rescale), over any ring, with the lengths checked.
    fn affine<V: Ring>(
        &self,
        layer: usize,
        x: &[V],
        w: &[V],
        b: &[V],
    ) -> std::result::Result<Vec<V>, NnError> {
        if b.len() != self.output.channels {
            return Err(NnError::WeightLengthMismatch {
                layer,
                what: "bias",
                expected: self.output.channels,
                actual: b.len(),
            });
        }
        let mut y = match &self.conv {
            Some(c) => kernels::conv2d(c, self.input, x, w),
            None => kernels::dense(self.input.len(), self.output.len(), x, w),
        }
        .map_err(|e| kernels::refused(layer, &e))?;
        kernels::add_channel_bias(&mut y, b, self.output.spatial());
        Ok(y)
    }

    pub(super) fn plain<A: Arith>(
        &self,
        a: &A,
        layer: usize,
        x: &[A::V],
    ) -> std::result::Result<Vec<A::V>, NnError> {
        let (w, b) = a
            .weights(layer)
            .ok_or(NnError::WeightKindMismatch { layer })?;
        let mut y = self.affine(layer, x, w, b)?;
        if self.rescale {
            a.rescale(&mut y);
        }
        Ok(y)
    }

    pub(super) fn client_offline<M: Modulus, C: Channel + ?Sized>(
        &self,
        p: &mut ClientOffline<'_, M, C>,
        layer: usize,
        x: &Known<M>,
    ) -> Result<Known<M>> {
        let r = x.as_ref().ok_or(PrivateError::Unsupported {
            layer,
            reason: "linear input without a mask",
        })?;
        let before = p.ch.stats();
        let setup = &mut *p.setup;
        let wr = Zeroizing::new(match setup.he_plans.get(layer).and_then(Option::as_ref) {
            Some(plan) => {
                let key = key_for(&setup.he, plan.params().set())?;
                he::driver::client_layer(p.ch, key, plan, r, &mut setup.prg)?
            }
            None => {
                let bits = setup.weight_bits;
                match &self.conv {
                    Some(c) => setup.lin.conv2d(p.ch, &c.shape(self.input), bits, r)?,
                    None => setup
                        .lin
                        .dense(p.ch, self.output.len(), self.input.len(), bits, r)?,
                }
            }
        });
        let d = p.ch.stats().since(&before);
        p.out.linear_bytes += d.bytes_sent + d.bytes_received;
        let mut out = wr.clone();
        p.out.material.put(layer, ClientItem::Linear(wr))?;
        if self.rescale {
            client::PARTY.truncate(&mut out, p.setup.frac_bits());
        }
        Ok(Some(out))
    }

    pub(super) fn server_offline<M: Modulus, C: Channel + ?Sized>(
        &self,
        p: &mut ServerOffline<'_, M, C>,
        layer: usize,
    ) -> Result<()> {
        let net = std::sync::Arc::clone(&p.setup.net);
        let (w, _) = net
            .linear(layer)
            .ok_or(NnError::WeightKindMismatch { layer })?;
        let before = p.ch.stats();
        let setup = &mut *p.setup;
        let s = Zeroizing::new(match net.he_layer(layer) {
            Some(he_layer) => {
                let key = key_for(&setup.he, he_layer.plan().params().set())?;
                he::driver::server_layer(p.ch, key, he_layer, &mut setup.prg)?
            }
            None => {
                let bits = net.weight_bits();
                match &self.conv {
                    Some(c) => setup.lin.conv2d(p.ch, &c.shape(self.input), w, bits)?,
                    None => setup
                        .lin
                        .dense(p.ch, w, self.output.len(), self.input.len(), bits)?,
                }
            }
        });
        let d = p.ch.stats().since(&before);
        p.out.linear_bytes += d.bytes_sent + d.bytes_received;
        p.out.material.put(layer, ServerItem::Linear(s))
    }

    pub(super) fn client_online<M: Modulus, C: Channel + ?Sized>(
        &self,
        p: &mut ClientOnline<'_, '_, M, C>,
        layer: usize,
    ) -> Result<Shares<M>> {
        let ClientItem::Linear(mut y) = p.material.take(layer)? else {
            return Err(wrong_kind());
        };
        if self.rescale {
            client::PARTY.truncate(&mut y, p.setup.frac_bits());
        }
        Ok(y)
    }

    pub(super) fn server_online<M: Modulus, C: Channel + ?Sized>(
        &self,
        p: &mut ServerOnline<'_, '_, M, C>,
        layer: usize,
        x: &Shares<M>,
    ) -> Result<Shares<M>> {
        let ServerItem::Linear(s) = p.material.take(layer)? else {
            return Err(wrong_kind());
        };
        let (w, b) = p
            .setup
            .net
            .linear(layer)
            .ok_or(NnError::WeightKindMismatch { layer })?;
        let mut y = Zeroizing::new(self.affine(layer, x, w, b)?);
        add_assign(&mut y, &s);
        if self.rescale {
            server::PARTY.truncate(&mut y, p.setup.frac_bits());
        }
        Ok(y)
    }
}

/// Bytes of the client's linear material.
pub(crate) fn storage_bytes<M: Modulus>(m: &ClientMaterial<M>) -> usize {
    m.len() * FP_BYTES
}
