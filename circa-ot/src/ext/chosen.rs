//! Chosen-message OT of 128-bit messages from random OT: the sender sends
//! `y0_i = m0_i xor H(q_i, i)` and `y1_i = m1_i xor H(q_i xor Delta, i)`
//! (32 bytes per OT), the receiver unmasks `y{b_i}_i` with `H(t_i, i)`,
//! selecting in constant time. Semi-honest.
//!
//! Chunks are pipelined without risk of deadlock: the receiver computes the
//! rows of chunk `k + 1` while the sender answers chunk `k`, and reads that
//! answer before sending the new rows, so at most one message is in flight
//! in each direction.

use super::cot::{check_len, rows_len};
use super::{CHUNK_OTS, CotReceiver, CotSender};
use crate::{Block, Channel, Error};
use core::ops::Range;
use rand_core::CryptoRng;
use subtle::Choice;
use zeroize::Zeroize;

/// The sender of chosen-message OTs. Semi-honest.
pub struct OtSender {
    cot: CotSender,
    q: Vec<Block>,
    pads: Vec<[Block; 2]>,
}

impl OtSender {
    /// Sets up a session with a fresh random offset.
    pub fn setup<C: Channel + ?Sized, R: CryptoRng + ?Sized>(
        ch: &mut C,
        rng: &mut R,
    ) -> Result<Self, Error> {
        let delta = Block::random(rng);
        Ok(OtSender {
            cot: CotSender::setup(ch, delta, rng)?,
            q: vec![Block::ZERO; CHUNK_OTS],
            pads: vec![[Block::ZERO; 2]; CHUNK_OTS],
        })
    }

    /// The underlying correlated-OT sender (for its limit and counters).
    pub fn cot_mut(&mut self) -> &mut CotSender {
        &mut self.cot
    }

    /// Transfers `msgs[i][b_i]` to the receiver for each OT `i`.
    pub fn send<C: Channel + ?Sized>(
        &mut self,
        ch: &mut C,
        msgs: &[[Block; 2]],
    ) -> Result<(), Error> {
        let r = self.cot.begin(ch, msgs.len()).and_then(|first| {
            let delta = self.cot.delta();
            let hash = self.cot.hash();
            let mut index = first;
            for chunk in msgs.chunks(CHUNK_OTS) {
                let m = chunk.len();
                let (q, pads) = (&mut self.q[..m], &mut self.pads[..m]);
                // Each sub-chunk is hashed and masked while it is in cache.
                self.cot.recv_chunk_with(ch, q, |off, qs| {
                    let pads = &mut pads[off..off + qs.len()];
                    hash.hash_pairs(qs, delta, index + off as u64, 1, pads);
                    for (p, msg) in pads.iter_mut().zip(&chunk[off..]) {
                        p[0] ^= msg[0];
                        p[1] ^= msg[1];
                    }
                })?;
                ch.send_blocks(bytemuck::cast_slice(pads))?;
                ch.flush()?;
                index += m as u64;
            }
            Ok(())
        });
        self.cot.track(r)
    }

    /// Ends the session, zeroizing the state.
    pub fn finish(self) {}
}

impl Drop for OtSender {
    fn drop(&mut self) {
        self.q.zeroize();
        self.pads.zeroize();
    }
}

impl core::fmt::Debug for OtSender {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("OtSender").field("cot", &self.cot).finish()
    }
}

/// The receiver of chosen-message OTs. Semi-honest.
pub struct OtReceiver {
    cot: CotReceiver,
    rows: Vec<Block>,
    y: Vec<Block>,
}

impl OtReceiver {
    /// Sets up a session (sends the session id, runs the base OTs).
    pub fn setup<C: Channel + ?Sized, R: CryptoRng + ?Sized>(
        ch: &mut C,
        rng: &mut R,
    ) -> Result<Self, Error> {
        Ok(OtReceiver {
            cot: CotReceiver::setup(ch, rng)?,
            rows: vec![Block::ZERO; rows_len(CHUNK_OTS)],
            y: vec![Block::ZERO; 2 * CHUNK_OTS],
        })
    }

    /// The underlying correlated-OT receiver (for its limit and counters).
    pub fn cot_mut(&mut self) -> &mut CotReceiver {
        &mut self.cot
    }

    /// Receives `out[i] = msgs[i][choices[i]]`.
    pub fn receive<C: Channel + ?Sized>(
        &mut self,
        ch: &mut C,
        choices: &[bool],
        out: &mut [Block],
    ) -> Result<(), Error> {
        let r = check_len(choices.len(), out.len())
            .and_then(|_| self.cot.begin(ch, out.len()))
            .and_then(|first| self.run(ch, first, choices, out));
        self.cot.track(r)
    }

    fn run<C: Channel + ?Sized>(
        &mut self,
        ch: &mut C,
        first: u64,
        choices: &[bool],
        out: &mut [Block],
    ) -> Result<(), Error> {
        let n = out.len();
        let chunks = n.div_ceil(CHUNK_OTS);
        let range = |k: usize| -> Range<usize> { k * CHUNK_OTS..n.min((k + 1) * CHUNK_OTS) };
        let hash = self.cot.hash();
        if chunks > 0 {
            let r0 = range(0);
            let rows = &mut self.rows[..rows_len(r0.len())];
            let first0 = first + r0.start as u64;
            self.cot
                .compute_chunk(&choices[r0.clone()], &mut out[r0], rows, |off, ts| {
                    hash.hash_seq_in_place(ts, first0 + off as u64)
                });
            ch.send_blocks(rows)?;
        }
        ch.flush()?;
        for k in 0..chunks {
            if k + 1 < chunks {
                let rn = range(k + 1);
                let rows = &mut self.rows[..rows_len(rn.len())];
                let first_n = first + rn.start as u64;
                self.cot
                    .compute_chunk(&choices[rn.clone()], &mut out[rn], rows, |off, ts| {
                        hash.hash_seq_in_place(ts, first_n + off as u64)
                    });
            }
            let rk = range(k);
            let t = &mut out[rk.clone()];
            let y = &mut self.y[..2 * t.len()];
            ch.recv_blocks(y)?;
            for ((o, pair), &c) in t.iter_mut().zip(y.chunks_exact(2)).zip(&choices[rk]) {
                *o ^= Block::select(Choice::from(c as u8), pair[0], pair[1]);
            }
            if k + 1 < chunks {
                let rn = range(k + 1);
                ch.send_blocks(&self.rows[..rows_len(rn.len())])?;
                ch.flush()?;
            }
        }
        Ok(())
    }

    /// Ends the session, zeroizing the state.
    pub fn finish(self) {}
}

impl Drop for OtReceiver {
    fn drop(&mut self) {
        self.y.zeroize();
    }
}

impl core::fmt::Debug for OtReceiver {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("OtReceiver")
            .field("cot", &self.cot)
            .finish()
    }
}
