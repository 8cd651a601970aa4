//! Max pooling as a balanced tree of `max(a, b) = a + ReLU(b - a)` over each window (pairs in
//! `kernels::pool_windows` order, an odd candidate passed up): `ceil(log2(area))` ReLU levels,
//! `area - 1` ReLUs per output. Every backend evaluates the same tree, so the fault
//! simulation sees the protocol's sign tests in the protocol's order.
//!
//! The level-0 differences have offline-known client shares when the pool's input does (the
//! plan re-masks it otherwise); every later level's candidates are re-masked to fresh offline
//! masks in the flight carrying the previous level's reply. So a 2x2 pool costs 2 ReLU rounds.
//! At the product scale the sign of `2^f (b - a)` is tested (a local multiplication by a
//! public constant, so every sign test of the network runs at the same scale) and the selected
//! value is divided back exactly (a multiple of `2^f`: truncation is exact unless it wraps).

use circa_ot::Channel;
use circa_relu::protocol::{ClientPreprocessed, ServerPreprocessed};
use circa_share::{FP_BYTES, Fp, Modulus};
use zeroize::Zeroizing;

use super::super::client::{self, ClientOffline, ClientOnline};
use super::super::material::wrong_kind;
use super::super::plan::{Compile, Scale, Share, ShareRule, SignSite};
use super::super::reference::Arith;
use super::super::server::{self, ServerOffline, ServerOnline};
use super::super::{Known, Shares, add_assign, difference};
use super::{ClientItem, ServerItem};
use crate::error::NnError;
use crate::kernels;
use crate::model::{Op, Shape, Window2d};
use crate::private::{PrivateError, Result};

/// A max-pooling layer.
#[derive(Clone, Debug, PartialEq)]
pub struct MaxPool {
    window: Window2d,
    input: Shape,
    outputs: usize,
    /// Candidates per output at each level: `area, ceil(area / 2), ..., 1`.
    widths: Vec<usize>,
    site: SignSite,
}

/// One tree level of the client's material: the mask its candidates are re-masked to (every
/// level but the first) and the ReLU preprocessing of its differences.
pub(crate) struct ClientLevel<M: Modulus> {
    mask: Option<Shares<M>>,
    relu: ClientPreprocessed<M>,
}

/// The client's material: one entry per tree level.
pub(crate) type ClientMaterial<M> = Vec<ClientLevel<M>>;
/// The server's material: the ReLU preprocessing of each level.
pub(crate) type ServerMaterial<M> = Vec<ServerPreprocessed<M>>;

/// Candidates per output at each max-pool level: `area, ceil(area/2), ..., 1`.
fn pool_widths(area: usize) -> Vec<usize> {
    let mut w = vec![area.max(1)];
    while let Some(&last) = w.last() {
        if last <= 1 {
            break;
        }
        w.push(last / 2 + last % 2);
    }
    w
}

impl MaxPool {
    pub(super) fn compile(c: &Compile<'_>) -> Self {
        let window = match c.op {
            Op::MaxPool(w) => *w,
            _ => Window2d::square(1, 1),
        };
        Self {
            window,
            input: c.input,
            outputs: c.output.len(),
            widths: pool_widths(window.area()),
            site: c.site,
        }
    }

    /// Tree levels (ReLU batches).
    fn levels(&self) -> usize {
        self.widths.len() - 1
    }

    /// ReLUs of tree level `l`.
    fn level_relus(&self, l: usize) -> usize {
        self.outputs * (self.widths[l] / 2)
    }

    /// ReLUs of the whole tree.
    pub fn relu_count(&self) -> usize {
        (0..self.levels()).map(|l| self.level_relus(l)).sum()
    }

    /// The sign tests.
    pub fn site(&self) -> &SignSite {
        &self.site
    }

    pub(super) fn share_rule(&self, inputs: &[Share]) -> ShareRule {
        ShareRule {
            remask: ShareRule::remask_for(inputs[0], false),
            output: Share::Online,
        }
    }

    /// The level-0 candidates of every window, in tree order.
    fn gather<V: Copy>(&self, layer: usize, x: &[V]) -> std::result::Result<Vec<V>, NnError> {
        let windows = kernels::pool_windows(&self.window, self.input)
            .map_err(|e| kernels::refused(layer, &e))?;
        windows
            .iter()
            .map(|&i| {
                x.get(i).copied().ok_or(NnError::KernelRefused {
                    layer,
                    reason: "operand length differs from the geometry",
                })
            })
            .collect()
    }

    pub(super) fn plain<A: Arith>(
        &self,
        a: &A,
        layer: usize,
        x: &[A::V],
    ) -> std::result::Result<Vec<A::V>, NnError> {
        let lift = a.lift(&self.site);
        let mut cand = self.gather(layer, x)?;
        for &w in &self.widths[..self.levels()] {
            let mut next = Vec::with_capacity(cand.len() / w * (w / 2 + w % 2));
            for window in cand.chunks_exact(w) {
                for pair in window.chunks_exact(2) {
                    let d = pair[1] - pair[0];
                    next.push(if a.keep(&self.site, d * lift) {
                        pair[0] + d
                    } else {
                        pair[0]
                    });
                }
                if w % 2 == 1 {
                    next.push(window[w - 1]);
                }
            }
            cand = next;
        }
        Ok(cand)
    }

    /// `2^f` at the product scale, else one.
    fn lift<M: Modulus>(&self, two_f: Fp<M>) -> Fp<M> {
        match self.site.scale {
            Scale::Product => two_f,
            Scale::Single => Fp::ONE,
        }
    }

    /// The differences `cand[2k+1] - cand[2k]` of every pair of one level (`width` candidates
    /// per output), times `lift`.
    fn pair_differences<M: Modulus>(cand: &[Fp<M>], width: usize, lift: Fp<M>) -> Shares<M> {
        let mut out = Zeroizing::new(Vec::with_capacity(cand.len() / 2));
        for w in cand.chunks_exact(width) {
            for pair in w.chunks_exact(2) {
                out.push((pair[1] - pair[0]) * lift);
            }
        }
        out
    }

    /// The next level's candidates: `cand[2k] + relu[k]` for every pair, the odd candidate
    /// passed through.
    fn fold_level<M: Modulus>(cand: &[Fp<M>], width: usize, relu: &[Fp<M>]) -> Shares<M> {
        let pairs = width / 2;
        let mut out = Zeroizing::new(Vec::with_capacity(cand.len() / width * (pairs + width % 2)));
        for (j, w) in cand.chunks_exact(width).enumerate() {
            for k in 0..pairs {
                out.push(w[2 * k] + relu[j * pairs + k]);
            }
            if width % 2 == 1 {
                out.push(w[width - 1]);
            }
        }
        out
    }

    pub(super) fn client_offline<M: Modulus, C: Channel + ?Sized>(
        &self,
        p: &mut ClientOffline<'_, M, C>,
        layer: usize,
        x: &Known<M>,
    ) -> Result<Known<M>> {
        let x = x.as_ref().ok_or(PrivateError::Unsupported {
            layer,
            reason: "client share not known offline",
        })?;
        let lift = self.lift(p.setup.constants.lift());
        let mut cand = Zeroizing::new(self.gather(layer, x)?);
        let mut levels = Vec::with_capacity(self.levels());
        for l in 0..self.levels() {
            let mask = if l > 0 {
                let m = p.setup.random(self.outputs * self.widths[l]);
                cand = m.clone();
                Some(m)
            } else {
                None
            };
            let c = Self::pair_differences(&cand, self.widths[l], lift);
            let relu = p.relu_offline(&self.site, &c)?;
            levels.push(ClientLevel { mask, relu });
        }
        p.out.material.put(layer, ClientItem::MaxPool(levels))?;
        Ok(None)
    }

    pub(super) fn server_offline<M: Modulus, C: Channel + ?Sized>(
        &self,
        p: &mut ServerOffline<'_, M, C>,
        layer: usize,
    ) -> Result<()> {
        let mut levels = Vec::with_capacity(self.levels());
        for l in 0..self.levels() {
            levels.push(p.relu_offline(&self.site, self.level_relus(l))?);
        }
        p.out.material.put(layer, ServerItem::MaxPool(levels))
    }

    pub(super) fn client_online<M: Modulus, C: Channel + ?Sized>(
        &self,
        p: &mut ClientOnline<'_, '_, M, C>,
        layer: usize,
        x: &Shares<M>,
    ) -> Result<Shares<M>> {
        let ClientItem::MaxPool(levels) = p.material.take(layer)? else {
            return Err(wrong_kind());
        };
        if levels.len() != self.levels() {
            return Err(wrong_kind());
        }
        let f = p.setup.frac_bits();
        let mut cand = Zeroizing::new(self.gather(layer, x)?);
        for (level, &w) in levels.into_iter().zip(&self.widths) {
            let ClientLevel { mask, relu } = level;
            if let Some(m) = mask {
                p.driver.send_field(&difference(&cand, &m))?;
                cand = m;
            }
            let mut r = p.relu_online(relu)?;
            // At the product scale the selected difference is a multiple of 2^f: the fused
            // rescale returns it exactly; otherwise it is truncated locally.
            if self.site.scale == Scale::Product && !self.site.fused {
                client::PARTY.truncate(&mut r, f);
            }
            cand = Self::fold_level(&cand, w, &r);
        }
        Ok(cand)
    }

    pub(super) fn server_online<M: Modulus, C: Channel + ?Sized>(
        &self,
        p: &mut ServerOnline<'_, '_, M, C>,
        layer: usize,
        x: &Shares<M>,
    ) -> Result<Shares<M>> {
        let ServerItem::MaxPool(levels) = p.material.take(layer)? else {
            return Err(wrong_kind());
        };
        if levels.len() != self.levels() {
            return Err(wrong_kind());
        }
        let f = p.setup.frac_bits();
        let lift = self.lift(p.setup.net.constants().lift());
        let mut cand = Zeroizing::new(self.gather(layer, x)?);
        for (l, (relu, &w)) in levels.into_iter().zip(&self.widths).enumerate() {
            if l > 0 {
                let adj = Zeroizing::new(p.driver.recv_field::<M>(cand.len())?);
                add_assign(&mut cand, &adj);
            }
            let diffs = Self::pair_differences(&cand, w, lift);
            let mut r = p.relu_online(relu, &diffs)?;
            // At the product scale the selected difference is a multiple of 2^f: the fused
            // rescale returns it exactly; otherwise it is truncated locally.
            if self.site.scale == Scale::Product && !self.site.fused {
                server::PARTY.truncate(&mut r, f);
            }
            cand = Self::fold_level(&cand, w, &r);
        }
        Ok(cand)
    }
}

/// Bytes of the client's max-pool material.
pub(crate) fn storage_bytes<M: Modulus>(m: &ClientMaterial<M>) -> usize {
    m.iter()
        .map(|l| l.relu.storage_bytes() + l.mask.as_ref().map_or(0, |m| m.len() * FP_BYTES))
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widths() {
        assert_eq!(pool_widths(4), vec![4, 2, 1]);
        assert_eq!(pool_widths(9), vec![9, 5, 3, 2, 1]);
        assert_eq!(pool_widths(1), vec![1]);
    }

    #[test]
    fn fold_of_differences_is_the_maximum_on_plain_values() {
        type F = Fp<circa_share::P2138816513>;
        let v = |x: i64| F::from_i64_reduced(x);
        // Two windows of 3: [5, -2, 7], [-1, -4, 0]; level 0 pairs (5,-2), (-1,-4).
        let cand = [v(5), v(-2), v(7), v(-1), v(-4), v(0)];
        let d = MaxPool::pair_differences(&cand, 3, F::ONE);
        assert_eq!(d.as_slice(), &[v(-7), v(-3)]);
        let relu: Vec<F> = d
            .iter()
            .map(|&x| if x.to_i64() >= 0 { x } else { F::ZERO })
            .collect();
        let next = MaxPool::fold_level(&cand, 3, &relu);
        assert_eq!(next.as_slice(), &[v(5), v(7), v(-1), v(0)]);
    }
}
