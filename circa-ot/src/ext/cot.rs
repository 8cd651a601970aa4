//! Correlated OT: the IKNP/ALSZ core. [`SenderCore`] and [`ReceiverCore`]
//! are the pure per-chunk computations; [`CotSender`] and [`CotReceiver`]
//! add setup, count agreement, limits, poisoning and the channel.

use super::{BASE_OTS, CHUNK_OTS, MAX_OTS_PER_SESSION, pack_bits, session_hash, unpack_bits};
use crate::transpose::transpose_128xn;
use crate::{Block, Channel, Error, Prg, TweakableHash, base_ot};
use rand_core::CryptoRng;
use zeroize::{Zeroize, Zeroizing};

/// Blocks per matrix row for a chunk of `m` OTs.
#[inline]
fn width(m: usize) -> usize {
    m.div_ceil(128)
}

/// The sender's column PRGs and scratch matrix.
pub(super) struct SenderCore {
    delta: Block,
    prgs: Vec<Prg>,
    qmat: Vec<Block>,
}

impl SenderCore {
    /// From the base-OT keys `k_{Delta_j}`.
    fn new(delta: Block, keys: &[Block]) -> SenderCore {
        SenderCore {
            delta,
            prgs: keys.iter().map(|k| Prg::from_seed_block(*k)).collect(),
            qmat: vec![Block::ZERO; BASE_OTS * width(CHUNK_OTS)],
        }
    }

    /// One chunk: from the receiver's rows `u` (`128 * width(q.len())`
    /// blocks) to `q_i = t_i xor r_i * Delta` for every OT of the chunk.
    pub(super) fn chunk(&mut self, u: &[Block], q: &mut [Block]) {
        let w = width(q.len());
        debug_assert_eq!(u.len(), BASE_OTS * w);
        let qmat = &mut self.qmat[..BASE_OTS * w];
        let delta = self.delta.to_u128();
        for (j, ((row, urow), prg)) in qmat
            .chunks_exact_mut(w)
            .zip(u.chunks_exact(w))
            .zip(self.prgs.iter_mut())
            .enumerate()
        {
            prg.fill_blocks(row);
            // Delta_j is secret: a mask, not a branch.
            let mask = Block::from_u128(0u128.wrapping_sub((delta >> j) & 1));
            for (q, u) in row.iter_mut().zip(urow) {
                *q ^= *u & mask;
            }
        }
        transpose_128xn(qmat, w, q);
    }
}

impl Drop for SenderCore {
    fn drop(&mut self) {
        self.delta.zeroize();
        self.qmat.zeroize();
    }
}

/// The receiver's column PRG pairs and scratch matrix.
pub(super) struct ReceiverCore {
    prg0: Vec<Prg>,
    prg1: Vec<Prg>,
    tmat: Vec<Block>,
    g1: Vec<Block>,
}

impl ReceiverCore {
    /// From the base-OT key pairs.
    fn new(keys: &[[Block; 2]]) -> ReceiverCore {
        ReceiverCore {
            prg0: keys.iter().map(|k| Prg::from_seed_block(k[0])).collect(),
            prg1: keys.iter().map(|k| Prg::from_seed_block(k[1])).collect(),
            tmat: vec![Block::ZERO; BASE_OTS * width(CHUNK_OTS)],
            g1: vec![Block::ZERO; width(CHUNK_OTS)],
        }
    }

    /// One chunk: from the packed choice bits `r` (`width(t.len())` blocks,
    /// zero-padded) to the rows `u` for the sender (`128 * width` blocks)
    /// and the outputs `t`.
    pub(super) fn chunk(&mut self, r: &[Block], t: &mut [Block], u: &mut [Block]) {
        let w = width(t.len());
        debug_assert_eq!(r.len(), w);
        debug_assert_eq!(u.len(), BASE_OTS * w);
        let tmat = &mut self.tmat[..BASE_OTS * w];
        let g1 = &mut self.g1[..w];
        for (((trow, urow), p0), p1) in tmat
            .chunks_exact_mut(w)
            .zip(u.chunks_exact_mut(w))
            .zip(self.prg0.iter_mut())
            .zip(self.prg1.iter_mut())
        {
            p0.fill_blocks(trow);
            p1.fill_blocks(g1);
            for (((u, t), g), r) in urow.iter_mut().zip(trow.iter()).zip(g1.iter()).zip(r) {
                *u = *t ^ *g ^ *r;
            }
        }
        transpose_128xn(tmat, w, t);
    }
}

impl Drop for ReceiverCore {
    fn drop(&mut self) {
        self.tmat.zeroize();
        self.g1.zeroize();
    }
}

/// Shared bookkeeping: OTs done, the cap, and the poison flag.
struct Budget {
    done: u64,
    limit: u64,
    poisoned: bool,
}

impl Budget {
    fn new() -> Budget {
        Budget {
            done: 0,
            limit: MAX_OTS_PER_SESSION,
            poisoned: false,
        }
    }

    /// Checks that `n` more OTs are allowed; returns the index of the first.
    fn reserve(&mut self, n: usize) -> Result<u64, Error> {
        if self.poisoned {
            return Err(Error::StateConsumed);
        }
        let requested = self.done.saturating_add(n as u64);
        if requested > self.limit {
            self.poisoned = true;
            return Err(Error::TooManyOts {
                requested,
                max: self.limit,
            });
        }
        let first = self.done;
        self.done = requested;
        Ok(first)
    }

    /// Poisons the state if `r` is an error.
    fn track<T>(&mut self, r: Result<T, Error>) -> Result<T, Error> {
        if r.is_err() {
            self.poisoned = true;
        }
        r
    }
}

/// The sender of correlated OTs: holds the global offset `Delta`.
///
/// After [`CotSender::setup`], every [`CotSender::send_cot`] call produces
/// `q_i` such that the receiver holds `t_i = q_i xor (b_i * Delta)`. For
/// free-XOR garbling pass a `Delta` with `lsb(Delta) = 1`: `q_i` is then the
/// zero label and `t_i` the evaluator's label. Semi-honest.
///
/// `Delta`, the PRG states and the scratch matrix are zeroized on drop; the
/// `Debug` output is redacted.
pub struct CotSender {
    core: SenderCore,
    u: Vec<Block>,
    hash: TweakableHash,
    budget: Budget,
}

impl CotSender {
    /// Runs the base OTs once (the sender plays base-OT receiver with choice
    /// bits = the bits of `delta`).
    pub fn setup<C: Channel + ?Sized, R: CryptoRng + ?Sized>(
        ch: &mut C,
        delta: Block,
        rng: &mut R,
    ) -> Result<Self, Error> {
        let mut session = [0u8; 16];
        ch.recv(&mut session)?;
        let d = delta.to_u128();
        let bits: Zeroizing<Vec<bool>> =
            Zeroizing::new((0..BASE_OTS).map(|j| (d >> j) & 1 == 1).collect());
        let keys = base_ot::receive(ch, session, &bits, rng)?;
        Ok(CotSender {
            core: SenderCore::new(delta, &keys),
            u: vec![Block::ZERO; BASE_OTS * width(CHUNK_OTS)],
            hash: session_hash(&session),
            budget: Budget::new(),
        })
    }

    /// The global offset `Delta`.
    pub fn delta(&self) -> Block {
        self.core.delta
    }

    /// The session's tweakable hash (both parties hold the same).
    ///
    /// Tweak discipline: its tweaks are this session's OT indices. Hash only
    /// this session's OT outputs with it, each under its own index (the
    /// first index of a call is [`CotSender::ots_done`] before the call), as
    /// the random and chosen-message OTs of this crate do. Never use it for
    /// anything else (garbling takes its own random session tweak): a second
    /// use with the same tweaks could repeat (input, tweak) pairs.
    pub fn hash(&self) -> TweakableHash {
        self.hash
    }

    /// Lowers the cap on the OTs this session may still produce in total
    /// (default [`MAX_OTS_PER_SESSION`]).
    pub fn set_ot_limit(&mut self, max_total: u64) {
        self.budget.limit = self.budget.limit.min(max_total);
    }

    /// OTs produced so far in this session.
    pub fn ots_done(&self) -> u64 {
        self.budget.done
    }

    /// `n = q.len()` correlated OTs: the receiver ends with
    /// `t_i = q_i xor (b_i * Delta)` for its bits `b_i` (chosen or random,
    /// the sender cannot tell). May be called many times; never reuses PRG
    /// output. Errors: [`Error::CountMismatch`] if the receiver announced a
    /// different `n`, channel errors, [`Error::TooManyOts`]; after any error
    /// the state is poisoned ([`Error::StateConsumed`]).
    pub fn send_cot<C: Channel + ?Sized>(
        &mut self,
        ch: &mut C,
        q: &mut [Block],
    ) -> Result<(), Error> {
        let n = q.len();
        let r = self.begin(ch, n).and_then(|_| {
            for chunk in q.chunks_mut(CHUNK_OTS) {
                self.recv_chunk(ch, chunk)?;
            }
            Ok(())
        });
        self.budget.track(r)
    }

    /// Starts a batch of `n` OTs: reserves them, receives and checks the
    /// receiver's announced count; returns the index of the first OT.
    /// Does not poison on its own; callers wrap it with `budget.track`.
    pub(super) fn begin<C: Channel + ?Sized>(
        &mut self,
        ch: &mut C,
        n: usize,
    ) -> Result<u64, Error> {
        let first = self.budget.reserve(n)?;
        let announced = ch.recv_u64()?;
        if announced != n as u64 {
            return Err(Error::CountMismatch {
                expected: n as u64,
                actual: announced,
            });
        }
        Ok(first)
    }

    /// Receives the rows for one chunk (at most [`CHUNK_OTS`] OTs) and fills `q`.
    pub(super) fn recv_chunk<C: Channel + ?Sized>(
        &mut self,
        ch: &mut C,
        q: &mut [Block],
    ) -> Result<(), Error> {
        let u = &mut self.u[..BASE_OTS * width(q.len())];
        ch.recv_blocks(u)?;
        self.core.chunk(u, q);
        Ok(())
    }

    /// Poisons the state if `r` is an error (for the wrappers in this module).
    pub(super) fn track<T>(&mut self, r: Result<T, Error>) -> Result<T, Error> {
        self.budget.track(r)
    }

    /// Ends the session, zeroizing the state.
    pub fn finish(self) {}
}

impl core::fmt::Debug for CotSender {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("CotSender")
            .field("delta", &"<redacted>")
            .field("ots_done", &self.budget.done)
            .field("poisoned", &self.budget.poisoned)
            .finish()
    }
}

/// The receiver of correlated OTs (see [`CotSender`]). Semi-honest.
///
/// PRG states and scratch matrices are zeroized on drop; `Debug` is redacted.
pub struct CotReceiver {
    core: ReceiverCore,
    u: Vec<Block>,
    r: Vec<Block>,
    choice_prg: Prg,
    hash: TweakableHash,
    budget: Budget,
}

impl CotReceiver {
    /// Sends a fresh session id and runs the base OTs once as base-OT sender.
    pub fn setup<C: Channel + ?Sized, R: CryptoRng + ?Sized>(
        ch: &mut C,
        rng: &mut R,
    ) -> Result<Self, Error> {
        let mut session = [0u8; 16];
        rng.fill_bytes(&mut session);
        ch.send(&session)?;
        let keys = base_ot::send(ch, session, BASE_OTS, rng)?;
        Ok(CotReceiver {
            core: ReceiverCore::new(&keys),
            u: vec![Block::ZERO; BASE_OTS * width(CHUNK_OTS)],
            r: vec![Block::ZERO; width(CHUNK_OTS)],
            choice_prg: Prg::from_crypto_rng(rng),
            hash: session_hash(&session),
            budget: Budget::new(),
        })
    }

    /// The session's tweakable hash (both parties hold the same); see
    /// [`CotSender::hash`] for the tweak discipline.
    pub fn hash(&self) -> TweakableHash {
        self.hash
    }

    /// Lowers the cap on the OTs this session may still produce in total.
    pub fn set_ot_limit(&mut self, max_total: u64) {
        self.budget.limit = self.budget.limit.min(max_total);
    }

    /// OTs produced so far in this session.
    pub fn ots_done(&self) -> u64 {
        self.budget.done
    }

    /// Correlated OTs with chosen choice bits: `t_i = q_i xor (choices[i] * Delta)`.
    /// `choices` and `t` must have the same length ([`Error::LengthMismatch`]).
    pub fn receive_cot<C: Channel + ?Sized>(
        &mut self,
        ch: &mut C,
        choices: &[bool],
        t: &mut [Block],
    ) -> Result<(), Error> {
        let r = check_len(choices.len(), t.len())
            .and_then(|_| self.begin(ch, t.len()))
            .and_then(|_| {
                for (c, t) in choices.chunks(CHUNK_OTS).zip(t.chunks_mut(CHUNK_OTS)) {
                    self.send_chunk_chosen(ch, c, t)?;
                }
                ch.flush()
            });
        self.budget.track(r)
    }

    /// Correlated OTs with random choice bits, written to `choices`:
    /// `t_i = q_i xor (choices[i] * Delta)`. Same wire cost as
    /// [`CotReceiver::receive_cot`].
    pub fn receive_rcot<C: Channel + ?Sized>(
        &mut self,
        ch: &mut C,
        choices: &mut [bool],
        t: &mut [Block],
    ) -> Result<(), Error> {
        let r = check_len(choices.len(), t.len())
            .and_then(|_| self.begin(ch, t.len()))
            .and_then(|_| {
                for (c, t) in choices.chunks_mut(CHUNK_OTS).zip(t.chunks_mut(CHUNK_OTS)) {
                    self.send_chunk_random(ch, c, t)?;
                }
                ch.flush()
            });
        self.budget.track(r)
    }

    /// Starts a batch of `n` OTs: reserves them and announces `n`; returns
    /// the index of the first OT.
    pub(super) fn begin<C: Channel + ?Sized>(
        &mut self,
        ch: &mut C,
        n: usize,
    ) -> Result<u64, Error> {
        let first = self.budget.reserve(n)?;
        ch.send_u64(n as u64)?;
        Ok(first)
    }

    /// Computes one chunk with chosen bits into `t` and the rows into `u`
    /// (pure; `u` has `128 * ceil(t.len() / 128)` blocks).
    pub(super) fn compute_chunk(&mut self, choices: &[bool], t: &mut [Block], u: &mut [Block]) {
        let r = &mut self.r[..width(t.len())];
        pack_bits(choices, r);
        self.core.chunk(r, t, u);
    }

    /// Computes one chunk with fresh random choice bits (written to
    /// `choices`) and sends its rows.
    pub(super) fn send_chunk_random<C: Channel + ?Sized>(
        &mut self,
        ch: &mut C,
        choices: &mut [bool],
        t: &mut [Block],
    ) -> Result<(), Error> {
        let w = width(t.len());
        let r = &mut self.r[..w];
        self.choice_prg.fill_blocks(r);
        // Clear the padding bits beyond the chunk.
        let tail = t.len() % 128;
        if tail != 0 {
            r[w - 1] = Block::from_u128(r[w - 1].to_u128() & ((1u128 << tail) - 1));
        }
        unpack_bits(r, choices);
        let u = &mut self.u[..BASE_OTS * w];
        self.core.chunk(r, t, u);
        ch.send_blocks(u)
    }

    /// Computes one chunk with chosen bits and sends its rows.
    pub(super) fn send_chunk_chosen<C: Channel + ?Sized>(
        &mut self,
        ch: &mut C,
        choices: &[bool],
        t: &mut [Block],
    ) -> Result<(), Error> {
        let mut u = core::mem::take(&mut self.u);
        let rows = &mut u[..BASE_OTS * width(t.len())];
        self.compute_chunk(choices, t, rows);
        let r = ch.send_blocks(rows);
        self.u = u;
        r
    }

    /// Poisons the state if `r` is an error (for the wrappers in this module).
    pub(super) fn track<T>(&mut self, r: Result<T, Error>) -> Result<T, Error> {
        self.budget.track(r)
    }

    /// Ends the session, zeroizing the state.
    pub fn finish(self) {}
}

impl Drop for CotReceiver {
    fn drop(&mut self) {
        // The packed choice bits of the last chunk.
        self.r.zeroize();
    }
}

impl core::fmt::Debug for CotReceiver {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("CotReceiver")
            .field("ots_done", &self.budget.done)
            .field("poisoned", &self.budget.poisoned)
            .finish_non_exhaustive()
    }
}

/// Blocks in the 128 rows of a chunk of `m` OTs, for the other modules.
pub(super) fn rows_len(m: usize) -> usize {
    BASE_OTS * width(m)
}

/// [`Error::LengthMismatch`] unless the two lengths agree.
pub(super) fn check_len(expected: usize, actual: usize) -> Result<(), Error> {
    if expected == actual {
        Ok(())
    } else {
        Err(Error::LengthMismatch { expected, actual })
    }
}
