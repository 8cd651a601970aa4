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
//! Work is done in chunks of whole OT-extension column blocks (at least 128
//! OTs, so the extension's per-batch cost stays at 16 bytes per OT), and the
//! corrections are streamed in messages of about [`CHUNK_ELEMS`] field
//! elements (at least one OT's vector), so memory stays at about
//! `max(CHUNK_ELEMS, L)` field elements whatever the job size. Every length on
//! the wire is known to both parties beforehand; nothing read from the peer
//! decides an allocation. Every buffer that holds a pad, a correlation or a
//! choice bit is zeroized when the call returns, on success and on error.

use circa_ot::{Block, Channel, CotReceiver, CotSender, Prg};
use subtle::{Choice, ConditionallySelectable};
use zeroize::Zeroizing;

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

/// OTs per correction message for vectors of length `len` (at least one).
fn message_ots(len: usize) -> usize {
    (CHUNK_ELEMS / len.max(1)).max(1)
}

/// `[1, 2, 4, ..., 2^(count-1)]` in the field (`count <= 63`), the weights
/// of the bit decompositions whose bits are OT choice bits.
pub(crate) fn powers_of_two<M: Modulus>(count: usize) -> Vec<Fp<M>> {
    (0..count)
        .map(|j| Fp::from_u64_reduced(1u64 << j))
        .collect()
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
    let per_msg = message_ots(len).min(chunk);
    let delta = cot.delta();
    let hash = cot.hash();
    let mut q = Zeroizing::new(vec![Block::ZERO; chunk]);
    let mut q1 = Zeroizing::new(vec![Block::ZERO; chunk]);
    let mut pad0 = Zeroizing::new(vec![Fp::<M>::ZERO; len]);
    let mut pad1 = Zeroizing::new(vec![Fp::<M>::ZERO; len]);
    let mut v = Zeroizing::new(vec![Fp::<M>::ZERO; len]);
    let mut buf = Zeroizing::new([Block::ZERO; 64]);
    let width = batch::packed_width::<M>();
    let row = len * width;
    // Holds only corrections d_o, which the peer receives anyway.
    let mut wire = vec![0u8; per_msg * row];
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
        for m0 in (0..c).step_by(per_msg) {
            let m1 = c.min(m0 + per_msg);
            for o in m0..m1 {
                expand_pad(q[o], &mut pad0, &mut buf[..]);
                expand_pad(q1[o], &mut pad1, &mut buf[..]);
                corr(start + o, &mut v);
                for ((d, &p0), &p1) in v.iter_mut().zip(pad0.iter()).zip(pad1.iter()) {
                    *d = p0 - p1 + *d;
                }
                batch::encode_packed_into(&v, &mut wire[(o - m0) * row..(o - m0 + 1) * row])?;
                pad0.iter_mut().for_each(|p| *p = -*p);
                acc(start + o, &pad0);
            }
            ch.send(&wire[..(m1 - m0) * row])?;
        }
        ch.flush()?;
        start += c;
    }
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
    let per_msg = message_ots(len).min(chunk);
    let hash = cot.hash();
    let mut t = Zeroizing::new(vec![Block::ZERO; chunk]);
    let mut bits = Zeroizing::new(vec![false; chunk]);
    let mut y = Zeroizing::new(vec![Fp::<M>::ZERO; len]);
    let mut buf = Zeroizing::new([Block::ZERO; 64]);
    let width = batch::packed_width::<M>();
    let row = len * width;
    // Corrections from the peer (public to the receiver).
    let mut d = vec![Fp::<M>::ZERO; per_msg * len];
    let mut wire = vec![0u8; per_msg * row];
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
        for m0 in (0..c).step_by(per_msg) {
            let m1 = c.min(m0 + per_msg);
            let (wire, d) = (&mut wire[..(m1 - m0) * row], &mut d[..(m1 - m0) * len]);
            ch.recv(wire)?;
            batch::decode_packed_into(wire, d)?;
            for o in m0..m1 {
                expand_pad(t[o], &mut y, &mut buf[..]);
                let b = Choice::from(bits[o] as u8);
                for (yv, &dv) in y.iter_mut().zip(&d[(o - m0) * len..(o - m0 + 1) * len]) {
                    *yv += Fp::conditional_select(&Fp::ZERO, &dv, b);
                }
                acc(start + o, &y);
            }
        }
        start += c;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::thread;

    use circa_ot::{ChannelStats, MemChannel};
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    use super::*;
    use crate::field::P2138816513;

    type M = P2138816513;

    /// Forwards everything and records the largest single `send`.
    struct MaxSend<C> {
        inner: C,
        max: usize,
    }

    impl<C: Channel> Channel for MaxSend<C> {
        fn send(&mut self, data: &[u8]) -> Result<(), circa_ot::Error> {
            self.max = self.max.max(data.len());
            self.inner.send(data)
        }
        fn recv(&mut self, buf: &mut [u8]) -> Result<(), circa_ot::Error> {
            self.inner.recv(buf)
        }
        fn flush(&mut self) -> Result<(), circa_ot::Error> {
            self.inner.flush()
        }
        fn stats(&self) -> ChannelStats {
            self.inner.stats()
        }
    }

    fn corr(o: usize, l: usize) -> Fp<M> {
        Fp::from_u64_reduced((o * 7919 + l * 104729) as u64)
    }

    fn choice(o: usize) -> bool {
        ((o * 2654435761) >> 7) & 1 == 1
    }

    /// Long vectors (1000 elements, so fewer than 128 OTs fit in
    /// `CHUNK_ELEMS`): the result is `b_o v_o` at every OT and element, and
    /// no correction message exceeds `CHUNK_ELEMS` packed elements.
    #[test]
    fn long_vectors_correct_and_messages_bounded() {
        let (len, n_ots) = (1000, 300);
        let (chs, chr) = MemChannel::pair();
        let receiver = thread::spawn(move || {
            let mut ch = chr;
            let mut rng = ChaCha20Rng::seed_from_u64(2);
            let mut cot = CotReceiver::setup(&mut ch, &mut rng).unwrap();
            let mut ys = vec![Fp::<M>::ZERO; n_ots * len];
            vole_receive(&mut cot, &mut ch, n_ots, len, choice, |o, y: &[Fp<M>]| {
                ys[o * len..(o + 1) * len].copy_from_slice(y)
            })
            .unwrap();
            ys
        });
        let mut ch = MaxSend { inner: chs, max: 0 };
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let mut cot = CotSender::setup(&mut ch, Block::random(&mut rng), &mut rng).unwrap();
        let mut shares = vec![Fp::<M>::ZERO; n_ots * len];
        vole_send(
            &mut cot,
            &mut ch,
            n_ots,
            len,
            |o, v: &mut [Fp<M>]| v.iter_mut().enumerate().for_each(|(l, x)| *x = corr(o, l)),
            |o, s: &[Fp<M>]| shares[o * len..(o + 1) * len].copy_from_slice(s),
        )
        .unwrap();
        let ys = receiver.join().unwrap();
        for o in 0..n_ots {
            for l in 0..len {
                let want = if choice(o) { corr(o, l) } else { Fp::ZERO };
                assert_eq!(
                    ys[o * len + l] + shares[o * len + l],
                    want,
                    "ot {o}, element {l}"
                );
            }
        }
        assert!(ys.iter().any(|y| !y.is_zero()));
        let width = batch::packed_width::<M>();
        assert!(ch.max > 0 && ch.max <= CHUNK_ELEMS * width, "{}", ch.max);
    }
}
