//! A degree-2 polynomial activation `c0 + c1 x + c2 x^2` (Diaa et al., arXiv 2306.08538), as
//! in the fixed-point reference: `q = trunc(x^2)`, then `trunc(c2 q + c1 x + c0)` (coefficients
//! public: `c1, c2` at `2^f`, `c0` at `2^(2f)`).
//!
//! One Beaver multiplication `x * x` per unit with a triple from `circa_share::OtTripleSource`
//! (made offline). Online one round: the server sends its opening, the client answers with its
//! own. The client's share of `c2 q + c1 x` is built from truncated shares (small, in
//! `[0, p / 2^f)`), which would make its truncation wrap far more often than `|x| / p`: the
//! client re-masks it to a fresh offline mask in the same flight as its opening (8 B per unit,
//! no round).

use circa_ot::Channel;
use circa_share::{BeaverRound, Client, FP_BYTES, Fp, Modulus, Server, Share as ShareVec, Triples};
use zeroize::Zeroizing;

use super::super::client::{self, ClientOffline, ClientOnline};
use super::super::material::wrong_kind;
use super::super::plan::{Compile, Remask, Share, ShareRule};
use super::super::reference::Arith;
use super::super::server::{self, ServerOffline, ServerOnline};
use super::super::{Known, Shares};
use super::{ClientItem, ServerItem};
use crate::error::NnError;
use crate::model::{Activation, Op};
use crate::private::{PrivateError, Result};

/// A polynomial activation layer.
#[derive(Clone, Debug, PartialEq)]
pub struct Polynomial {
    coefficients: [f64; 3],
    len: usize,
}

/// The client's material: its triples and the mask of `c2 q + c1 x`.
pub(crate) struct ClientMaterial<M: Modulus> {
    triples: Triples<Client, M>,
    mask: Shares<M>,
}

/// The server's material: its triples.
pub(crate) type ServerMaterial<M> = Triples<Server, M>;

impl Polynomial {
    pub(super) fn compile(c: &Compile<'_>) -> Self {
        let coefficients = match c.op {
            Op::Activation(Activation::Polynomial { coefficients }) => *coefficients,
            _ => [0.0; 3],
        };
        Self {
            coefficients,
            len: c.input.len(),
        }
    }

    /// `[c0, c1, c2]`.
    pub fn coefficients(&self) -> [f64; 3] {
        self.coefficients
    }

    /// Units (elements).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the layer has no units.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub(super) fn share_rule(&self, _: &[Share]) -> ShareRule {
        ShareRule {
            remask: Remask::No,
            output: Share::Online,
        }
    }

    pub(super) fn plain<A: Arith>(
        &self,
        a: &A,
        layer: usize,
        x: &[A::V],
    ) -> std::result::Result<Vec<A::V>, NnError> {
        let [c0, c1, c2] = a
            .coefficients(layer)
            .ok_or(NnError::WeightKindMismatch { layer })?;
        let mut q: Vec<A::V> = x.iter().map(|&v| v * v).collect();
        a.rescale(&mut q);
        let mut y: Vec<A::V> = q
            .iter()
            .zip(x)
            .map(|(&q, &v)| c2 * q + c1 * v + c0)
            .collect();
        a.rescale(&mut y);
        Ok(y)
    }

    pub(super) fn client_offline<M: Modulus, C: Channel + ?Sized>(
        &self,
        p: &mut ClientOffline<'_, M, C>,
        layer: usize,
    ) -> Result<Known<M>> {
        let triples = p.triples.take_front(self.len)?;
        let mask = p.setup.random(self.len);
        p.out.material.put(
            layer,
            ClientItem::Polynomial(ClientMaterial { triples, mask }),
        )?;
        Ok(None)
    }

    pub(super) fn server_offline<M: Modulus, C: Channel + ?Sized>(
        &self,
        p: &mut ServerOffline<'_, M, C>,
        layer: usize,
    ) -> Result<()> {
        let triples = p.triples.take_front(self.len)?;
        p.out.material.put(layer, ServerItem::Polynomial(triples))
    }

    fn encoded<M: Modulus>(
        constants: &super::super::PublicConstants<M>,
        layer: usize,
    ) -> Result<[Fp<M>; 3]> {
        constants
            .coefficients(layer)
            .ok_or(PrivateError::Preprocessing {
                what: "polynomial coefficients",
            })
    }

    pub(super) fn client_online<M: Modulus, C: Channel + ?Sized>(
        &self,
        p: &mut ClientOnline<'_, '_, M, C>,
        layer: usize,
        x: &Shares<M>,
    ) -> Result<Shares<M>> {
        let ClientItem::Polynomial(ClientMaterial { triples, mask }) = p.material.take(layer)?
        else {
            return Err(wrong_kind());
        };
        let [_, c1, c2] = Self::encoded(&p.setup.constants, layer)?;
        let f = p.setup.frac_bits();
        let xs = ShareVec::<Client, M>::from_vec(x.to_vec());
        let (round, mine) = BeaverRound::start(&xs, &xs, triples)?;
        let theirs = p.driver.recv(round.peer_len())?;
        let mut q = Zeroizing::new(round.finish(&theirs)?.into_vec());
        client::PARTY.truncate(&mut q, f);
        p.driver.send(&mine)?;
        let d: Shares<M> = Zeroizing::new(
            q.iter()
                .zip(x.iter())
                .zip(mask.iter())
                .map(|((&q, &v), &m)| c2 * q + c1 * v - m)
                .collect(),
        );
        p.driver.send_field(&d)?;
        let mut y = mask;
        client::PARTY.truncate(&mut y, f);
        Ok(y)
    }

    pub(super) fn server_online<M: Modulus, C: Channel + ?Sized>(
        &self,
        p: &mut ServerOnline<'_, '_, M, C>,
        layer: usize,
        x: &Shares<M>,
    ) -> Result<Shares<M>> {
        let ServerItem::Polynomial(triples) = p.material.take(layer)? else {
            return Err(wrong_kind());
        };
        let [c0, c1, c2] = Self::encoded(p.setup.net.constants(), layer)?;
        let f = p.setup.frac_bits();
        let xs = ShareVec::<Server, M>::from_vec(x.to_vec());
        let (round, mine) = BeaverRound::start(&xs, &xs, triples)?;
        p.driver.send(&mine)?;
        let theirs = p.driver.recv(round.peer_len())?;
        let mut q = Zeroizing::new(round.finish(&theirs)?.into_vec());
        server::PARTY.truncate(&mut q, f);
        // The client's re-masking of `c2 q + c1 x`, in the same flight as its opening.
        let adj = Zeroizing::new(p.driver.recv_field::<M>(self.len)?);
        let mut y: Shares<M> = Zeroizing::new(
            q.iter()
                .zip(x.iter())
                .zip(adj.iter())
                .map(|((&q, &v), &a)| c2 * q + c1 * v + c0 + a)
                .collect(),
        );
        server::PARTY.truncate(&mut y, f);
        Ok(y)
    }
}

impl<M: Modulus> ClientMaterial<M> {
    pub(crate) fn storage_bytes(&self) -> usize {
        (3 * self.triples.len() + self.mask.len()) * FP_BYTES
    }
}
