//! Offline correlations from `circa_share::ole` (OT-based, no trusted party): the linear-layer
//! correlation (server `W`, client mask `r`: the client ends with `W r - s`, the server with
//! `s`) and Beaver triples (`OtTripleSource`), adapted to this crate's layer geometry.
//!
//! A convolution is run as one matrix product per group, `A_g B_g`, with `A_g` the group's
//! weights (`out/groups x (in/groups * kh * kw)`, the weight layout as stored) and `B_g` the
//! client's im2col of its mask (zero at padded positions), for any strides and paddings.
//! The weights' bit width `w` is a public session parameter chosen by the server (the smallest
//! signed width holding every encoded weight; it reveals a power-of-two bound on the largest
//! weight) because the correlation's cost is proportional to it.

use circa_ot::Channel;
use circa_share::ole::{LinearCorrelationClient, LinearCorrelationServer};
use circa_share::{Fp, Modulus, OtTripleSource, Role, TripleSource, Triples};

use super::error::Result;
use crate::model::{Op, Shape};

/// Smallest signed bit width holding every value (at least 2).
pub(crate) fn weight_bits<M: Modulus>(weights: &[Fp<M>]) -> u32 {
    let max = weights
        .iter()
        .map(|w| w.to_i64().unsigned_abs())
        .max()
        .unwrap_or(0);
    (65 - max.leading_zeros()).max(2)
}

/// The client's share `W r - s` of linear layer `op` (input shape `xs`) for its mask `r`.
pub(crate) fn client_linear<M: Modulus, C: Channel + ?Sized>(
    ch: &mut C,
    lin: &mut LinearCorrelationClient<M>,
    op: &Op,
    xs: Shape,
    weight_bits: u32,
    r: &[Fp<M>],
) -> Result<Vec<Fp<M>>> {
    Ok(match op {
        Op::Conv2d(c) => lin.conv2d(ch, &c.shape(xs), weight_bits, r)?,
        Op::Dense {
            in_features,
            out_features,
        } => lin.dense(ch, *out_features, *in_features, weight_bits, r)?,
        _ => Vec::new(),
    })
}

/// The server's share `s` of linear layer `op` with encoded weights `w`.
pub(crate) fn server_linear<M: Modulus, C: Channel + ?Sized>(
    ch: &mut C,
    lin: &mut LinearCorrelationServer<M>,
    op: &Op,
    xs: Shape,
    weight_bits: u32,
    w: &[Fp<M>],
) -> Result<Vec<Fp<M>>> {
    Ok(match op {
        Op::Conv2d(c) => lin.conv2d(ch, &c.shape(xs), w, weight_bits)?,
        Op::Dense {
            in_features,
            out_features,
        } => lin.dense(ch, w, *out_features, *in_features, weight_bits)?,
        _ => Vec::new(),
    })
}

/// `n` Beaver triples from a fresh `OtTripleSource` over `ch` (one base-OT setup per
/// inference; both parties call this at the same point with the same `n`).
pub(crate) fn triples<
    R: Role,
    M: Modulus,
    C: Channel + ?Sized,
    G: rand_core::CryptoRng + ?Sized,
>(
    ch: &mut C,
    n: usize,
    rng: &mut G,
) -> Result<Triples<R, M>> {
    if n == 0 {
        return Ok(Triples::empty());
    }
    let mut src = OtTripleSource::<R, M, &mut C>::setup(ch, rng)?;
    Ok(src.triples(n)?)
}

/// Pregenerated triples served through `TripleSource` (for the ReLU's Beaver path).
pub(crate) struct Pregenerated<R: Role, M: Modulus>(pub(crate) Triples<R, M>);

impl<R: Role, M: Modulus> TripleSource<M> for Pregenerated<R, M> {
    type Role = R;
    fn triples(&mut self, n: usize) -> std::result::Result<Triples<R, M>, circa_share::Error> {
        self.0.take_front(n)
    }
}
