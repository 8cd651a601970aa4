//! Random OT from correlated OT: the sender gets `(H(q_i, i), H(q_i xor
//! Delta, i))`, the receiver `H(t_i, i)` for its choice bit, with `H` the
//! session's [`crate::TweakableHash`] and `i` the OT's index in the session
//! (IKNP section 3, with the re-keyed MITCCRH of ePrint 2019/1168: one AES
//! call per pad, one key schedule per OT). Semi-honest.

use super::cot::check_len;
use super::{CHUNK_OTS, CotReceiver, CotSender};
use crate::{Block, Channel, Error};
use rand_core::CryptoRng;
use zeroize::Zeroize;

/// The sender of random OTs. Semi-honest.
pub struct RotSender {
    cot: CotSender,
    /// One chunk of correlated-OT outputs `q_i` (wiped on drop).
    q: Vec<Block>,
}

impl RotSender {
    /// Sets up a session with a fresh random offset.
    pub fn setup<C: Channel + ?Sized, R: CryptoRng + ?Sized>(
        ch: &mut C,
        rng: &mut R,
    ) -> Result<Self, Error> {
        let delta = Block::random(rng);
        Ok(RotSender {
            cot: CotSender::setup(ch, delta, rng)?,
            q: vec![Block::ZERO; CHUNK_OTS],
        })
    }

    /// The underlying correlated-OT sender (for its limit and counters).
    pub fn cot_mut(&mut self) -> &mut CotSender {
        &mut self.cot
    }

    /// `out.len()` random OTs: `out[i] = [m0_i, m1_i]`; the receiver learns
    /// `m{b_i}_i` only.
    pub fn send_rot<C: Channel + ?Sized>(
        &mut self,
        ch: &mut C,
        out: &mut [[Block; 2]],
    ) -> Result<(), Error> {
        let r = self.cot.begin(ch, out.len()).and_then(|first| {
            let delta = self.cot.delta();
            let hash = self.cot.hash();
            let mut index = first;
            for chunk in out.chunks_mut(CHUNK_OTS) {
                let m = chunk.len();
                let q = &mut self.q[..m];
                // Each sub-chunk is hashed while its q_i are in cache.
                self.cot.recv_chunk_with(ch, q, |off, qs| {
                    let pads = &mut chunk[off..off + qs.len()];
                    hash.hash_pairs(qs, delta, index + off as u64, 1, pads);
                })?;
                index += m as u64;
            }
            Ok(())
        });
        self.cot.track(r)
    }

    /// Ends the session, zeroizing the state.
    pub fn finish(self) {}
}

impl Drop for RotSender {
    fn drop(&mut self) {
        self.q.zeroize();
    }
}

impl core::fmt::Debug for RotSender {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RotSender").field("cot", &self.cot).finish()
    }
}

/// The receiver of random OTs. Semi-honest.
#[derive(Debug)]
pub struct RotReceiver {
    cot: CotReceiver,
}

impl RotReceiver {
    /// Sets up a session (sends the session id, runs the base OTs).
    pub fn setup<C: Channel + ?Sized, R: CryptoRng + ?Sized>(
        ch: &mut C,
        rng: &mut R,
    ) -> Result<Self, Error> {
        Ok(RotReceiver {
            cot: CotReceiver::setup(ch, rng)?,
        })
    }

    /// The underlying correlated-OT receiver (for its limit and counters).
    pub fn cot_mut(&mut self) -> &mut CotReceiver {
        &mut self.cot
    }

    /// Random OTs with chosen choice bits: `out[i] = m{choices[i]}_i`.
    pub fn receive_rot<C: Channel + ?Sized>(
        &mut self,
        ch: &mut C,
        choices: &[bool],
        out: &mut [Block],
    ) -> Result<(), Error> {
        let r = check_len(choices.len(), out.len())
            .and_then(|_| self.cot.begin(ch, out.len()))
            .and_then(|first| {
                let hash = self.cot.hash();
                let mut index = first;
                for (c, t) in choices.chunks(CHUNK_OTS).zip(out.chunks_mut(CHUNK_OTS)) {
                    let m = t.len() as u64;
                    self.cot.send_chunk_chosen(ch, c, t, |off, ts| {
                        hash.hash_seq_in_place(ts, index + off as u64)
                    })?;
                    index += m;
                }
                ch.flush()
            });
        self.cot.track(r)
    }

    /// Random OTs with random choice bits, written to `choices`.
    pub fn receive_random_rot<C: Channel + ?Sized>(
        &mut self,
        ch: &mut C,
        choices: &mut [bool],
        out: &mut [Block],
    ) -> Result<(), Error> {
        let r = check_len(choices.len(), out.len())
            .and_then(|_| self.cot.begin(ch, out.len()))
            .and_then(|first| {
                let hash = self.cot.hash();
                let mut index = first;
                for (c, t) in choices.chunks_mut(CHUNK_OTS).zip(out.chunks_mut(CHUNK_OTS)) {
                    let m = t.len() as u64;
                    self.cot.send_chunk_random(ch, c, t, |off, ts| {
                        hash.hash_seq_in_place(ts, index + off as u64)
                    })?;
                    index += m;
                }
                ch.flush()
            });
        self.cot.track(r)
    }

    /// Ends the session, zeroizing the state.
    pub fn finish(self) {}
}
