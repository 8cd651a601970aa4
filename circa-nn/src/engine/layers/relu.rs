//! ReLU on every element, or on the channels of a mask (pruned channels are the identity and
//! cost nothing).
//!
//! The ReLU elements run `circa_relu`'s protocol with the client's share `c` known offline (it
//! is `W r - s` after local operations, or a fresh mask: the plan re-masks otherwise), so the
//! garbled circuit, the client's input labels and the conversion material are all produced
//! offline. Online: the server's flight (its input labels and the output tables), the client's
//! reply (`d`). With the input at `2^(2f)` (a deferred product) the output is rescaled.

use circa_ot::Channel;
use circa_relu::protocol::{ClientPreprocessed, ServerPreprocessed};
use circa_share::{Fp, Modulus};
use zeroize::Zeroizing;

use super::super::client::{self, ClientOffline, ClientOnline};
use super::super::material::wrong_kind;
use super::super::plan::{Compile, Scale, Share, ShareRule, SignSite};
use super::super::reference::Arith;
use super::super::server::{self, ServerOffline, ServerOnline};
use super::super::{Known, Shares};
use super::{ClientItem, ServerItem};
use crate::model::{Activation, Op};
use crate::private::{PrivateError, Result};

/// A ReLU layer.
#[derive(Clone, Debug, PartialEq)]
pub struct Relu {
    /// Per element: a ReLU (`true`) or the identity; `None` = every element.
    mask: Option<Vec<bool>>,
    count: usize,
    site: SignSite,
    rescale: bool,
}

/// The client's material: the ReLU protocol's preprocessing of its batch.
pub(crate) type ClientMaterial<M> = ClientPreprocessed<M>;
/// The server's material.
pub(crate) type ServerMaterial<M> = ServerPreprocessed<M>;

impl Relu {
    pub(super) fn compile(c: &Compile<'_>) -> Self {
        let spatial = c.input.spatial();
        let mask = match c.op {
            Op::Activation(Activation::ChannelRelu { mask }) => Some(
                mask.iter()
                    .flat_map(|&m| core::iter::repeat_n(m, spatial))
                    .collect::<Vec<bool>>(),
            ),
            _ => None,
        };
        let count = mask
            .as_ref()
            .map_or(c.input.len(), |m| m.iter().filter(|&&b| b).count());
        Self {
            mask,
            count,
            site: c.site,
            rescale: c.input_scale == Scale::Product,
        }
    }

    /// Number of ReLU elements.
    pub fn count(&self) -> usize {
        self.count
    }

    /// The sign tests.
    pub fn site(&self) -> &SignSite {
        &self.site
    }

    pub(super) fn share_rule(&self, inputs: &[Share], input_scale: Scale) -> ShareRule {
        if self.count > 0 {
            return ShareRule {
                remask: ShareRule::remask_for(inputs[0], false),
                output: Share::Online,
            };
        }
        // All channels pruned: the identity (truncated when the input is a deferred product).
        ShareRule {
            remask: super::super::plan::Remask::No,
            output: match inputs[0] {
                Share::Online => Share::Online,
                _ if input_scale == Scale::Product => Share::Known,
                s => s,
            },
        }
    }

    /// The ReLU elements of `x`, in order.
    fn select<V: Copy>(&self, x: &[V]) -> Vec<V> {
        match &self.mask {
            None => x.to_vec(),
            Some(m) => x
                .iter()
                .zip(m)
                .filter(|(_, on)| **on)
                .map(|(v, _)| *v)
                .collect(),
        }
    }

    /// The rescale after the ReLU runs inside its sign tests (the identity elements of pruned
    /// channels are still truncated locally).
    fn fused(&self) -> bool {
        self.rescale && self.site.fused && self.count > 0
    }

    /// Local truncation of the identity elements of pruned channels (after a fused ReLU).
    fn truncate_identity<M: Modulus>(&self, party: super::super::Party, y: &mut [Fp<M>], f: u32) {
        if let Some(m) = &self.mask {
            for (v, _) in y.iter_mut().zip(m).filter(|(_, on)| !**on) {
                party.truncate(core::slice::from_mut(v), f);
            }
        }
    }

    /// The output's rescale, by `party`, of the ReLU's output `y` (at `2^(2f)` when the input
    /// was a deferred product): nothing, the identity elements only (fused), or every element.
    fn rescale_output<M: Modulus>(&self, party: super::super::Party, y: &mut [Fp<M>], f: u32) {
        if self.fused() {
            self.truncate_identity(party, y, f);
        } else if self.rescale {
            party.truncate(y, f);
        }
    }

    /// `x` with its ReLU elements replaced by `values`.
    fn scatter<V: Copy>(&self, x: &[V], values: &[V]) -> Vec<V> {
        match &self.mask {
            None => values.to_vec(),
            Some(m) => {
                let mut it = values.iter();
                x.iter()
                    .zip(m)
                    .map(|(&v, &on)| {
                        if on {
                            it.next().copied().unwrap_or(v)
                        } else {
                            v
                        }
                    })
                    .collect()
            }
        }
    }

    pub(super) fn plain<A: Arith>(
        &self,
        a: &A,
        x: &[A::V],
    ) -> std::result::Result<Vec<A::V>, crate::error::NnError> {
        if self.fused() {
            let kept: Vec<A::V> = self
                .select(x)
                .into_iter()
                .map(|y| a.fused_relu(&self.site, y))
                .collect();
            let mut identity: Vec<A::V> = match &self.mask {
                None => Vec::new(),
                Some(m) => x
                    .iter()
                    .zip(m)
                    .filter(|(_, on)| !**on)
                    .map(|(v, _)| *v)
                    .collect(),
            };
            a.rescale(&mut identity);
            let mut identity = identity.into_iter();
            let mut kept = kept.into_iter();
            return Ok(match &self.mask {
                None => kept.collect(),
                Some(m) => m
                    .iter()
                    .map(|&on| if on { kept.next() } else { identity.next() }.unwrap_or_default())
                    .collect(),
            });
        }
        let zero = A::V::default();
        let kept: Vec<A::V> = self
            .select(x)
            .into_iter()
            .map(|y| if a.keep(&self.site, y) { y } else { zero })
            .collect();
        let mut y = self.scatter(x, &kept);
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
        if self.count == 0 {
            return Ok(x.as_ref().map(|x| {
                let mut y = x.clone();
                if self.rescale {
                    client::PARTY.truncate(&mut y, p.setup.frac_bits());
                }
                y
            }));
        }
        let x = x.as_ref().ok_or(PrivateError::Unsupported {
            layer,
            reason: "client share not known offline",
        })?;
        let c = Zeroizing::new(self.select(x));
        let pre = p.relu_offline(&self.site, &c)?;
        p.out.material.put(layer, ClientItem::Relu(pre))?;
        Ok(None)
    }

    pub(super) fn server_offline<M: Modulus, C: Channel + ?Sized>(
        &self,
        p: &mut ServerOffline<'_, M, C>,
        layer: usize,
    ) -> Result<()> {
        if self.count > 0 {
            let pre = p.relu_offline(&self.site, self.count)?;
            p.out.material.put(layer, ServerItem::Relu(pre))?;
        }
        Ok(())
    }

    pub(super) fn client_online<M: Modulus, C: Channel + ?Sized>(
        &self,
        p: &mut ClientOnline<'_, '_, M, C>,
        layer: usize,
        x: &Shares<M>,
    ) -> Result<Shares<M>> {
        let mut y = if self.count > 0 {
            let ClientItem::Relu(pre) = p.material.take(layer)? else {
                return Err(wrong_kind());
            };
            let r = p.relu_online(pre)?;
            Zeroizing::new(self.scatter(x, &r))
        } else {
            x.clone()
        };
        self.rescale_output(client::PARTY, &mut y, p.setup.frac_bits());
        Ok(y)
    }

    pub(super) fn server_online<M: Modulus, C: Channel + ?Sized>(
        &self,
        p: &mut ServerOnline<'_, '_, M, C>,
        layer: usize,
        x: &Shares<M>,
    ) -> Result<Shares<M>> {
        let mut y = if self.count > 0 {
            let ServerItem::Relu(pre) = p.material.take(layer)? else {
                return Err(wrong_kind());
            };
            let s: Shares<M> = Zeroizing::new(self.select(x));
            let r = p.relu_online(pre, &s)?;
            Zeroizing::new(self.scatter(x, &r))
        } else {
            x.clone()
        };
        self.rescale_output(server::PARTY, &mut y, p.setup.frac_bits());
        Ok(y)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::plan::PlanParams;
    use crate::model::Shape;
    use circa_relu::Variant;

    #[test]
    fn select_and_scatter_follow_the_channel_mask() {
        let op = Op::Activation(Activation::ChannelRelu {
            mask: vec![false, true, false],
        });
        let relu = Relu::compile(&Compile {
            op: &op,
            input: Shape::new(3, 1, 2),
            output: Shape::new(3, 1, 2),
            input_scale: Scale::Single,
            input_scales: &[Scale::Single],
            output_scale: Scale::Single,
            deferred: false,
            site: crate::engine::SignSite {
                layer: 0,
                variant: Variant::ExactSign,
                scale: Scale::Single,
                fused: false,
            },
            params: PlanParams {
                frac_bits: 8,
                sign_scale: crate::engine::SignScale::Product,
                variant: Variant::ExactSign,
                field_bits: 31,
            },
        });
        assert_eq!(relu.count(), 2);
        let x = [1, 2, 3, 4, 5, 6];
        assert_eq!(relu.select(&x), vec![3, 4]);
        assert_eq!(relu.scatter(&x, &[30, 40]), vec![1, 2, 30, 40, 5, 6]);
    }
}
