//! Vector oblivious linear evaluation from correlated OT (Gilboa, CRYPTO
//! 1999, with vector-valued correlations), the core of the OT-based triple
//! generator and of the linear-layer correlation. Semi-honest.
//!
//! For every OT `o` the COT sender has a correlation vector `v_o` (length
//! `L`) and the COT receiver a choice bit `b_o`. With `q_o`, `t_o = q_o xor
//! b_o Delta` from the OT extension and `H` the session's tweakable hash
//! (tweak = the OT's index in the session, never repeated):
//!
//! * pads `P0 = G(H(q_o)), P1 = G(H(q_o xor Delta))`, where `G` expands a
//!   block into `L` field elements (one 128-bit AES-CTR block reduced mod `p`
//!   per element: statistical distance below `p / 2^128 <= 2^-66` from uniform);
//! * the sender sends `d_o = P0 - P1 + v_o` (`L` field elements, packed to
//!   `ceil(bits(p)/8)` bytes each and decoded canonically) and keeps `-P0`;
//! * the receiver computes `y_o = G(H(t_o)) + b_o d_o = P0 + b_o v_o`.
//!
//! So `y_o + (-P0) = b_o v_o`. The receiver never learns `P_{1-b}` (the hash
//! is correlation robust), so `d_o` hides `v_o`; the sender's view is the OT
//! extension's, independent of `b_o`.
//!
//! Work is done in chunks of whole OT-extension columns so that memory stays
//! bounded (about [`CHUNK_ELEMS`] field elements) whatever the job size. Every
//! length on the wire is known to both parties beforehand.

use circa_ot::{Block, Channel, CotReceiver, CotSender, Prg};
use subtle::{Choice, ConditionallySelectable};

use crate::error::Error;
use crate::field::batch;
use crate::field::{Fp, Modulus};

/// Target number of field elements per chunk (bounds memory).
pub const CHUNK_ELEMS: usize = 1 << 16;

/// OTs per chunk for vectors of length `len`: a multiple of 128 (a whole
/// OT-extension column block), at least 128.
pub(crate) fn chunk_ots(len: usize) -> usize {
    ((CHUNK_ELEMS / len.max(1)) / 128 * 128).max(128)
}

/// Expands a hashed block into `out.len()` field elements.
fn expand_pad<M: Modulus>(seed: Block, out: &mut [Fp<M>], buf: &mut [Block]) {
    if out.len() == 1 {
        out[0] = Fp::from_u128_reduced(seed.to_u128());
        return;
    }
    let mut prg = Prg::from_seed_block(seed);
    for chunk in out.chunks_mut(buf.len()) {
        let b = &mut buf[..chunk.len()];
        prg.fill_blocks(b);
        for (o, x) in chunk.iter_mut().zip(b.iter()) {
            *o = Fp::from_u128_reduced(x.to_u128());
        }
    }
}

/// Sender side of `n_ots` OTs with vectors of length `len`.
///
/// `corr(o, out)` writes `v_o` into `out`; `acc(o, share)` receives the
/// sender's share `-P0` of `b_o v_o`.
pub(crate) fn vole_send<M, C, F, A>(
    cot: &mut CotSender,
    ch: &mut C,
    n_ots: usize,
    len: usize,
    mut corr: F,
    mut acc: A,
) -> Result<(), Error>
where
    M: Modulus,
    C: Channel + ?Sized,
    F: FnMut(usize, &mut [Fp<M>]),
    A: FnMut(usize, &[Fp<M>]),
{
    if len == 0 || n_ots == 0 {
        return Ok(());
    }
    let chunk = chunk_ots(len);
    let delta = cot.delta();
    let hash = cot.hash();
    let mut q = vec![Block::ZERO; chunk];
    let mut q1 = vec![Block::ZERO; chunk];
    let mut pad0 = vec![Fp::<M>::ZERO; len];
    let mut pad1 = vec![Fp::<M>::ZERO; len];
    let mut v = vec![Fp::<M>::ZERO; len];
    let width = batch::packed_width::<M>();
    let mut wire = vec![0u8; chunk * len * width];
    let mut buf = [Block::ZERO; 64];
    let mut start = 0;
    while start < n_ots {
        let c = chunk.min(n_ots - start);
        let first = cot.ots_done();
        let (q, q1) = (&mut q[..c], &mut q1[..c]);
        cot.send_cot(ch, q)?;
        for (a, b) in q1.iter_mut().zip(q.iter()) {
            *a = *b ^ delta;
        }
        hash.hash_seq_in_place(q, first);
        hash.hash_seq_in_place(q1, first);
        for o in 0..c {
            expand_pad(q[o], &mut pad0, &mut buf);
            expand_pad(q1[o], &mut pad1, &mut buf);
            corr(start + o, &mut v);
            for ((d, &p0), &p1) in v.iter_mut().zip(&pad0).zip(&pad1) {
                *d = p0 - p1 + *d;
            }
            batch::encode_packed_into(&v, &mut wire[o * len * width..(o + 1) * len * width])?;
            pad0.iter_mut().for_each(|p| *p = -*p);
            acc(start + o, &pad0);
        }
        ch.send(&wire[..c * len * width])?;
        ch.flush()?;
        start += c;
    }
    zeroize::Zeroize::zeroize(&mut q);
    zeroize::Zeroize::zeroize(&mut q1);
    zeroize::Zeroize::zeroize(&mut pad0);
    zeroize::Zeroize::zeroize(&mut pad1);
    Ok(())
}

/// Receiver side: `choice(o)` gives `b_o`; `acc(o, y)` receives
/// `y_o = P0 + b_o v_o`.
pub(crate) fn vole_receive<M, C, B, A>(
    cot: &mut CotReceiver,
    ch: &mut C,
    n_ots: usize,
    len: usize,
    mut choice: B,
    mut acc: A,
) -> Result<(), Error>
where
    M: Modulus,
    C: Channel + ?Sized,
    B: FnMut(usize) -> bool,
    A: FnMut(usize, &[Fp<M>]),
{
    if len == 0 || n_ots == 0 {
        return Ok(());
    }
    let chunk = chunk_ots(len);
    let hash = cot.hash();
    let mut t = vec![Block::ZERO; chunk];
    let mut bits = vec![false; chunk];
    let mut d = vec![Fp::<M>::ZERO; chunk * len];
    let mut y = vec![Fp::<M>::ZERO; len];
    let width = batch::packed_width::<M>();
    let mut wire = vec![0u8; chunk * len * width];
    let mut buf = [Block::ZERO; 64];
    let mut start = 0;
    while start < n_ots {
        let c = chunk.min(n_ots - start);
        let first = cot.ots_done();
        let (t, bits) = (&mut t[..c], &mut bits[..c]);
        for (o, b) in bits.iter_mut().enumerate() {
            *b = choice(start + o);
        }
        cot.receive_cot(ch, bits, t)?;
        hash.hash_seq_in_place(t, first);
        ch.recv(&mut wire[..c * len * width])?;
        batch::decode_packed_into(&wire[..c * len * width], &mut d[..c * len])?;
        for o in 0..c {
            expand_pad(t[o], &mut y, &mut buf);
            let b = Choice::from(bits[o] as u8);
            for (yv, &dv) in y.iter_mut().zip(&d[o * len..(o + 1) * len]) {
                *yv += Fp::conditional_select(&Fp::ZERO, &dv, b);
            }
            acc(start + o, &y);
        }
        start += c;
    }
    zeroize::Zeroize::zeroize(&mut t);
    zeroize::Zeroize::zeroize(&mut bits);
    zeroize::Zeroize::zeroize(&mut y);
    Ok(())
}
