//! Correlated OT: the IKNP/ALSZ core. [`SenderCore`] and [`ReceiverCore`]
//! are the pure per-chunk computations; [`CotSender`] and [`CotReceiver`]
//! add setup, count agreement, limits, poisoning and the channel.

use super::{BASE_OTS, CHUNK_OTS, MAX_OTS_PER_SESSION, pack_bits, session_hash, unpack_bits};
use crate::aes::RowCtr;
use crate::transpose::{SUB_BLOCKS, transpose_128x16};
use crate::{Block, Channel, Error, Prg, TweakableHash, base_ot};
use rand_core::CryptoRng;
use zeroize::{Zeroize, Zeroizing};

/// Blocks per matrix row for a chunk of `m` OTs.
#[inline]
fn width(m: usize) -> usize {
    m.div_ceil(128)
}

/// Blocks per row of the sub-matrices a chunk is processed in: 16 blocks, i.e. 2048 OTs and a
/// 32 KiB matrix, so that column expansion, transpose and the caller's hashing of one sub-chunk
/// run in cache (on the wire, each sub-chunk's 128 rows row-major, one sub-chunk after the
/// other: row `j` of a sub-chunk is the next `SUB_W` blocks of column PRG `j`). Measured
/// against 4, 8 and 32 blocks (rcot, 2^22 OTs, alternating runs): 4 was 20% slower, 8 to 32
/// within noise.
const SUB_W: usize = SUB_BLOCKS;

/// OTs per sub-chunk.
const SUB_OTS: usize = 128 * SUB_W;

/// A sub-matrix: 128 rows of `SUB_W` blocks.
type SubMatrix = [[Block; SUB_W]; BASE_OTS];

fn sub_matrix() -> Box<SubMatrix> {
    Box::new([[Block::ZERO; SUB_W]; BASE_OTS])
}

/// Correlated-OT batches of at least this many OTs (2 MiB of outputs, twice
/// the L2 cache of the machines measured) write their outputs with
/// non-temporal stores: they leave the caches before the caller reads them
/// anyway, and ordinary stores would first read every output line from
/// memory. Random and chosen OT hash the outputs right away and never
/// stream.
const STREAM_MIN_OTS: usize = 1 << 17;

/// Transposes `sub` into `out`: directly, or with `stream` into the scratch
/// `tmp` (in L1) and from there to `out` with non-temporal stores.
fn transpose_out(sub: &SubMatrix, out: &mut [Block], stream: bool, tmp: &mut [Block; SUB_OTS]) {
    #[cfg(target_arch = "x86_64")]
    if stream {
        let tmp = &mut tmp[..out.len()];
        transpose_128x16(sub, tmp);
        crate::simd::stream::copy(tmp, out);
        return;
    }
    let _ = (stream, tmp);
    transpose_128x16(sub, out);
}

/// The sender's column PRGs `G(k_{Delta_j})`: the streams of a [`RowCtr`],
/// or the same streams as round keys for the fused 512-bit kernel
/// (`simd::wide_ctr::ctr_rows_masked`) when the CPU has it.
enum SenderPrgs {
    /// One row stream per column.
    Rows(RowCtr),
    /// The round keys of every column's PRG and the next counter (as
    /// `RowCtr` keeps it).
    #[cfg(target_arch = "x86_64")]
    Fused(Vec<[Block; 11]>, u64),
}

impl SenderPrgs {
    fn new(keys: &[Block], fused: bool) -> SenderPrgs {
        #[cfg(target_arch = "x86_64")]
        if let (true, Some(hw)) = (
            fused && crate::simd::wide_ctr::detected(),
            crate::simd::Hw::new(crate::simd::HwKind::Vaes256),
        ) {
            let keys = keys
                .iter()
                .map(|k| crate::simd::expand_key(hw, *k))
                .collect();
            return SenderPrgs::Fused(keys, 0);
        }
        let _ = fused;
        SenderPrgs::Rows(RowCtr::new(keys))
    }

    /// `q_j = G(k_j) ^ (u_j & Delta_j)` for the next `ws` blocks of every
    /// column `j` (`u`: `128 * ws` blocks row-major; `Delta_j` is secret: a
    /// mask, not a branch).
    fn fill(&mut self, ws: usize, delta: u128, u: &[Block], q: &mut SubMatrix) {
        match self {
            SenderPrgs::Rows(prgs) => {
                prgs.fill_rows(ws, SUB_W, bytemuck::cast_slice_mut(&mut q[..]));
                for (j, (row, urow)) in q.iter_mut().zip(u.chunks_exact(ws)).enumerate() {
                    let mask = Block::from_u128(0u128.wrapping_sub((delta >> j) & 1));
                    for (q, u) in row.iter_mut().zip(urow) {
                        *q ^= *u & mask;
                    }
                }
            }
            #[cfg(target_arch = "x86_64")]
            SenderPrgs::Fused(keys, counter) => {
                let low = *counter;
                *counter = low.checked_add(ws as u64).expect("RowCtr: counter wrap");
                let q: &mut [Block] = bytemuck::cast_slice_mut(&mut q[..]);
                crate::simd::wide_ctr::ctr_rows_masked(keys, low, ws, delta, u, q, SUB_W);
            }
        }
    }
}

impl Drop for SenderPrgs {
    fn drop(&mut self) {
        // Row streams wipe their own keys.
        #[cfg(target_arch = "x86_64")]
        if let SenderPrgs::Fused(keys, _) = self {
            keys.zeroize();
        }
    }
}

/// The sender's column PRGs and scratch sub-matrix.
pub(super) struct SenderCore {
    delta: Block,
    prgs: SenderPrgs,
    qmat: Box<SubMatrix>,
    /// The receiver's rows of one chunk.
    umat: Vec<Block>,
    /// Outputs of one sub-chunk on their way to a streamed copy.
    qout: Box<[Block; SUB_OTS]>,
    /// Whether outputs are streamed ([`STREAM_MIN_OTS`]).
    stream: bool,
}

impl SenderCore {
    /// From the base-OT keys `k_{Delta_j}`.
    fn new(delta: Block, keys: &[Block]) -> SenderCore {
        Self::with_prgs(delta, keys, true)
    }

    /// As [`SenderCore::new`]; `fused: false` keeps the row streams even
    /// where the fused kernel exists (for the tests that compare them).
    fn with_prgs(delta: Block, keys: &[Block], fused: bool) -> SenderCore {
        SenderCore {
            delta,
            prgs: SenderPrgs::new(keys, fused),
            qmat: sub_matrix(),
            umat: vec![Block::ZERO; rows_len(CHUNK_OTS)],
            qout: Box::new([Block::ZERO; SUB_OTS]),
            stream: false,
        }
    }

    /// One chunk of `q.len()` OTs (at most [`CHUNK_OTS`]): `recv(u)` fills
    /// the receiver's rows for the whole chunk (`rows_len(q.len())` blocks:
    /// per sub-chunk `128 * ws` blocks row-major, `ws = width` of the
    /// sub-chunk), in one channel call so that a large read can bypass the
    /// channel's buffer; then, sub-chunk by sub-chunk, `q_i = t_i xor r_i *
    /// Delta` is computed and `each(offset, q_sub)` sees the outputs while
    /// they are in cache (`offset` within the chunk). Stops at the first
    /// error of `recv` or `each`.
    pub(super) fn chunk(
        &mut self,
        q: &mut [Block],
        mut recv: impl FnMut(&mut [Block]) -> Result<(), Error>,
        mut each: impl FnMut(usize, &mut [Block]) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let delta = self.delta.to_u128();
        let rows = &mut self.umat[..rows_len(q.len())];
        recv(rows)?;
        for ((s, qs), u) in q
            .chunks_mut(SUB_OTS)
            .enumerate()
            .zip(rows.chunks(BASE_OTS * SUB_W))
        {
            let ws = width(qs.len());
            let sub = &mut *self.qmat;
            self.prgs.fill(ws, delta, u, sub);
            transpose_out(sub, qs, self.stream, &mut self.qout);
            each(s * SUB_OTS, qs)?;
        }
        Ok(())
    }
}

impl Drop for SenderCore {
    fn drop(&mut self) {
        self.delta.zeroize();
        self.qmat.zeroize();
        self.qout.zeroize();
    }
}

/// The receiver's column PRG pairs `G(k0_j)`, `G(k1_j)`: the AES-CTR
/// streams of [`RowCtr`], the same streams as one list of key pairs for the
/// fused 512-bit kernel (`simd::wide_ctr::ctr_rows_xor`) when the CPU has
/// it.
enum PrgPairs {
    /// Two row streams.
    Rows(RowCtr, RowCtr),
    /// The round keys of both PRGs of every column, and the next counter
    /// (as `RowCtr` keeps it).
    #[cfg(target_arch = "x86_64")]
    Fused(Vec<[[Block; 11]; 2]>, u64),
}

impl PrgPairs {
    fn new(keys: &[[Block; 2]], fused: bool) -> PrgPairs {
        #[cfg(target_arch = "x86_64")]
        if let (true, Some(hw)) = (
            fused && crate::simd::wide_ctr::detected(),
            crate::simd::Hw::new(crate::simd::HwKind::Vaes256),
        ) {
            let rk = |k: Block| crate::simd::expand_key(hw, k);
            return PrgPairs::Fused(keys.iter().map(|k| [rk(k[0]), rk(k[1])]).collect(), 0);
        }
        let _ = fused;
        let column = |b: usize| {
            RowCtr::new(&Zeroizing::new(
                keys.iter().map(|k| k[b]).collect::<Vec<_>>(),
            ))
        };
        PrgPairs::Rows(column(0), column(1))
    }

    /// The next `ws` blocks of both PRGs of every column: the first into
    /// the rows of `t` (stride `SUB_W`), `first ^ second ^ r` into `u`
    /// (`128 * ws` blocks, row-major).
    fn fill(&mut self, ws: usize, r: &[Block], t: &mut SubMatrix, u: &mut [Block]) {
        match self {
            PrgPairs::Rows(prg0, prg1) => {
                prg0.fill_rows(ws, SUB_W, bytemuck::cast_slice_mut(&mut t[..]));
                prg1.fill_rows(ws, ws, u);
                if let (Ok(r), true) = (<&[Block; SUB_W]>::try_from(r), ws == SUB_W) {
                    // Full sub-chunk: fixed-length rows the compiler unrolls.
                    for (trow, urow) in t.iter().zip(u.chunks_exact_mut(SUB_W)) {
                        for ((u, t), r) in urow.iter_mut().zip(trow).zip(r) {
                            *u ^= *t ^ *r;
                        }
                    }
                } else {
                    for (trow, urow) in t.iter().zip(u.chunks_exact_mut(ws)) {
                        for ((u, t), r) in urow.iter_mut().zip(trow).zip(r) {
                            *u ^= *t ^ *r;
                        }
                    }
                }
            }
            #[cfg(target_arch = "x86_64")]
            PrgPairs::Fused(keys, counter) => {
                let low = *counter;
                *counter = low.checked_add(ws as u64).expect("RowCtr: counter wrap");
                let t: &mut [Block] = bytemuck::cast_slice_mut(&mut t[..]);
                crate::simd::wide_ctr::ctr_rows_xor(keys, low, ws, r, t, SUB_W, u);
            }
        }
    }
}

impl Drop for PrgPairs {
    fn drop(&mut self) {
        // Row streams wipe their own keys.
        #[cfg(target_arch = "x86_64")]
        if let PrgPairs::Fused(keys, _) = self {
            keys.zeroize();
        }
    }
}

/// The receiver's column PRG pairs and scratch sub-matrix.
pub(super) struct ReceiverCore {
    prgs: PrgPairs,
    tmat: Box<SubMatrix>,
    /// Outputs of one sub-chunk on their way to a streamed copy.
    tout: Box<[Block; SUB_OTS]>,
    /// Whether outputs are streamed ([`STREAM_MIN_OTS`]).
    stream: bool,
}

impl ReceiverCore {
    /// From the base-OT key pairs.
    fn new(keys: &[[Block; 2]]) -> ReceiverCore {
        Self::with_prgs(keys, true)
    }

    /// As [`ReceiverCore::new`]; `fused: false` keeps the two row streams
    /// even where the fused kernel exists (for the tests that compare them).
    fn with_prgs(keys: &[[Block; 2]], fused: bool) -> ReceiverCore {
        ReceiverCore {
            prgs: PrgPairs::new(keys, fused),
            tmat: sub_matrix(),
            tout: Box::new([Block::ZERO; SUB_OTS]),
            stream: false,
        }
    }

    /// One chunk: from the packed choice bits `r` (`width(t.len())` blocks,
    /// zero-padded) to the outputs `t` and the rows `u` for the sender
    /// (`rows_len(t.len())` blocks: for each sub-chunk of `ws` blocks per
    /// row, its `128 * ws` blocks row-major). After each sub-chunk,
    /// `each(offset, t_sub, u_sub)` sees its outputs and rows while they are
    /// in cache; stops at its first error.
    ///
    /// The second PRG of each column goes straight into the rows `u`
    /// (`u ^= t ^ r` in place, or combined in registers by the fused
    /// kernel): no second scratch matrix.
    pub(super) fn chunk(
        &mut self,
        r: &[Block],
        t: &mut [Block],
        u: &mut [Block],
        mut each: impl FnMut(usize, &mut [Block], &[Block]) -> Result<(), Error>,
    ) -> Result<(), Error> {
        debug_assert_eq!(r.len(), width(t.len()));
        debug_assert_eq!(u.len(), rows_len(t.len()));
        for ((s, ts), us) in t
            .chunks_mut(SUB_OTS)
            .enumerate()
            .zip(u.chunks_mut(BASE_OTS * SUB_W))
        {
            let ws = width(ts.len());
            let sub = &mut *self.tmat;
            let rs = &r[s * SUB_W..][..ws];
            self.prgs.fill(ws, rs, sub, us);
            transpose_out(sub, ts, self.stream, &mut self.tout);
            each(s * SUB_OTS, ts, us)?;
        }
        Ok(())
    }
}

impl Drop for ReceiverCore {
    fn drop(&mut self) {
        self.tmat.zeroize();
        self.tout.zeroize();
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
        self.core.stream = n >= STREAM_MIN_OTS;
        let r = self.begin(ch, n).and_then(|_| {
            for chunk in q.chunks_mut(CHUNK_OTS) {
                self.recv_chunk(ch, chunk)?;
            }
            Ok(())
        });
        self.core.stream = false;
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
        self.recv_chunk_with(ch, q, |_, _| {})
    }

    /// As [`CotSender::recv_chunk`], calling `each(offset, q_sub)` on every
    /// sub-chunk of outputs while it is in cache.
    pub(super) fn recv_chunk_with<C: Channel + ?Sized>(
        &mut self,
        ch: &mut C,
        q: &mut [Block],
        mut each: impl FnMut(usize, &mut [Block]),
    ) -> Result<(), Error> {
        self.core.chunk(
            q,
            |u| ch.recv_blocks(u),
            |off, qs| {
                each(off, qs);
                Ok(())
            },
        )
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
        self.core.stream = t.len() >= STREAM_MIN_OTS;
        let r = check_len(choices.len(), t.len())
            .and_then(|_| self.begin(ch, t.len()))
            .and_then(|_| {
                for (c, t) in choices.chunks(CHUNK_OTS).zip(t.chunks_mut(CHUNK_OTS)) {
                    self.send_chunk_chosen(ch, c, t, |_, _| {})?;
                }
                ch.flush()
            });
        self.core.stream = false;
        self.budget.track(r)
    }

    /// [`CotReceiver::receive_cot`] as a pure step: the same OTs, and the message it would
    /// send (the count, then the rows, byte for byte) returned instead of sent, so that the
    /// caller can put it on the wire at its turn in a larger protocol. The message reveals
    /// nothing beyond what `receive_cot` sends; `t` is secret.
    pub fn prepare_cot(&mut self, choices: &[bool], t: &mut [Block]) -> Result<Vec<u8>, Error> {
        let r = check_len(choices.len(), t.len()).and_then(|_| {
            self.budget.reserve(t.len())?;
            let mut message = Vec::with_capacity(8 + 16 * rows_len(t.len().min(CHUNK_OTS)));
            message.extend_from_slice(&(t.len() as u64).to_le_bytes());
            for (c, t) in choices.chunks(CHUNK_OTS).zip(t.chunks_mut(CHUNK_OTS)) {
                let mut u = core::mem::take(&mut self.u);
                let rows = &mut u[..rows_len(t.len())];
                self.compute_chunk(c, t, rows, |_, _| {});
                message.extend_from_slice(bytemuck::cast_slice(rows));
                self.u = u;
            }
            Ok(message)
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
        self.core.stream = t.len() >= STREAM_MIN_OTS;
        let r = check_len(choices.len(), t.len())
            .and_then(|_| self.begin(ch, t.len()))
            .and_then(|_| {
                for (c, t) in choices.chunks_mut(CHUNK_OTS).zip(t.chunks_mut(CHUNK_OTS)) {
                    self.send_chunk_random(ch, c, t, |_, _| {})?;
                }
                ch.flush()
            });
        self.core.stream = false;
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
    /// (pure; `u` has `rows_len(t.len())` blocks, in wire order); `each(offset,
    /// t_sub)` as for [`ReceiverCore::chunk`].
    pub(super) fn compute_chunk(
        &mut self,
        choices: &[bool],
        t: &mut [Block],
        u: &mut [Block],
        mut each: impl FnMut(usize, &mut [Block]),
    ) {
        let r = &mut self.r[..width(t.len())];
        pack_bits(choices, r);
        let done = self.core.chunk(r, t, u, |off, ts, _| {
            each(off, ts);
            Ok(())
        });
        debug_assert!(done.is_ok(), "no fallible step");
    }

    /// Computes one chunk with fresh random choice bits (written to
    /// `choices`) and sends its rows; `each(offset, t_sub)` as for
    /// [`ReceiverCore::chunk`].
    pub(super) fn send_chunk_random<C: Channel + ?Sized>(
        &mut self,
        ch: &mut C,
        choices: &mut [bool],
        t: &mut [Block],
        each: impl FnMut(usize, &mut [Block]),
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
        self.stream_chunk(ch, t, each)
    }

    /// Computes one chunk with chosen bits and sends its rows; `each` as for
    /// [`ReceiverCore::chunk`].
    pub(super) fn send_chunk_chosen<C: Channel + ?Sized>(
        &mut self,
        ch: &mut C,
        choices: &[bool],
        t: &mut [Block],
        each: impl FnMut(usize, &mut [Block]),
    ) -> Result<(), Error> {
        pack_bits(choices, &mut self.r[..width(t.len())]);
        self.stream_chunk(ch, t, each)
    }

    /// The chunk for the packed bits in `self.r`, its rows sent in one
    /// channel call once computed (a write of up to 512 KiB bypasses the
    /// channel's buffer: no copy into it; the bytes on the wire are the
    /// same as sub-chunk by sub-chunk).
    fn stream_chunk<C: Channel + ?Sized>(
        &mut self,
        ch: &mut C,
        t: &mut [Block],
        mut each: impl FnMut(usize, &mut [Block]),
    ) -> Result<(), Error> {
        let r = &self.r[..width(t.len())];
        let u = &mut self.u[..rows_len(t.len())];
        self.core.chunk(r, t, u, |off, ts, _| {
            each(off, ts);
            Ok(())
        })?;
        ch.send_blocks(u)
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

#[cfg(test)]
mod timing {
    use super::*;
    use std::time::Instant;

    /// Compute cost of one chunk on each side, no channel (best of 200 runs;
    /// a printout, not a test), with the fused PRG kernels where the CPU has
    /// them and with the row streams: `cargo test -p circa-ot --release --lib
    /// core_speeds -- --ignored --nocapture`.
    #[test]
    #[ignore = "measurement, not a test"]
    fn core_speeds() {
        let keys: Vec<[Block; 2]> = (0..128u128)
            .map(|i| [Block::from_u128(i), Block::from_u128(!i)])
            .collect();
        let sender_keys: Vec<Block> = keys.iter().map(|k| k[1]).collect();
        let m = CHUNK_OTS;
        let r = vec![Block::from_u128(0x5555); width(m)];
        let mut t = vec![Block::ZERO; m];
        let mut u = vec![Block::ZERO; BASE_OTS * width(m)];
        let mut q = vec![Block::ZERO; m];
        let best = |f: &mut dyn FnMut()| {
            (0..200)
                .map(|_| {
                    let s = Instant::now();
                    f();
                    s.elapsed().as_secs_f64()
                })
                .fold(f64::INFINITY, f64::min)
        };
        for fused in [true, false] {
            let mut rc = ReceiverCore::with_prgs(&keys, fused);
            let mut sc = SenderCore::with_prgs(Block::ONES, &sender_keys, fused);
            let tr = best(&mut || {
                rc.chunk(&r, &mut t, &mut u, |_, _, _| Ok(())).unwrap();
            });
            let ts = best(&mut || {
                sc.chunk(
                    &mut q,
                    |us| {
                        us.copy_from_slice(&u[..us.len()]);
                        Ok(())
                    },
                    |_, _| Ok(()),
                )
                .unwrap();
            });
            println!(
                "fused kernels {fused}: receiver core {:.2} ns/OT, sender core {:.2} ns/OT",
                tr / m as f64 * 1e9,
                ts / m as f64 * 1e9
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fused PRG kernel (where the CPU has it) and the two row streams
    /// give the same outputs and rows, chunk after chunk (the counters stay
    /// in step), for full and partial sub-chunks.
    #[test]
    fn fused_and_row_prgs_agree() {
        let mut prg = Prg::from_seed_block(Block::from_u128(41));
        let keys: Vec<[Block; 2]> = (0..BASE_OTS)
            .map(|_| [prg.random_block(), prg.random_block()])
            .collect();
        let mut fused = ReceiverCore::with_prgs(&keys, true);
        let mut rows = ReceiverCore::with_prgs(&keys, false);
        for m in [CHUNK_OTS, 5000, 2048, 2047, 1, 130, CHUNK_OTS - 3] {
            let mut r = vec![Block::ZERO; width(m)];
            prg.fill_blocks(&mut r);
            let tail = m % 128;
            if tail != 0 {
                let last = r.len() - 1;
                r[last] = Block::from_u128(r[last].to_u128() & ((1u128 << tail) - 1));
            }
            let mut out = [vec![Block::ZERO; m], vec![Block::ONES; m]];
            let mut u = [
                vec![Block::ZERO; rows_len(m)],
                vec![Block::ONES; rows_len(m)],
            ];
            let [t0, t1] = &mut out;
            let [u0, u1] = &mut u;
            fused.chunk(&r, t0, u0, |_, _, _| Ok(())).unwrap();
            rows.chunk(&r, t1, u1, |_, _, _| Ok(())).unwrap();
            assert_eq!(t0, t1, "outputs, {m} OTs");
            assert_eq!(u0, u1, "rows, {m} OTs");
        }
    }

    /// The same for the sender: fused kernel and row streams agree chunk
    /// after chunk, for random rows and a random `Delta`.
    #[test]
    fn fused_and_row_sender_prgs_agree() {
        let mut prg = Prg::from_seed_block(Block::from_u128(43));
        let keys: Vec<Block> = (0..BASE_OTS).map(|_| prg.random_block()).collect();
        let delta = prg.random_block();
        let mut fused = SenderCore::with_prgs(delta, &keys, true);
        let mut rows = SenderCore::with_prgs(delta, &keys, false);
        for m in [CHUNK_OTS, 5000, 2048, 2047, 1, 130, CHUNK_OTS - 3] {
            let mut u = vec![Block::ZERO; rows_len(m)];
            prg.fill_blocks(&mut u);
            let mut q0 = vec![Block::ZERO; m];
            let mut q1 = vec![Block::ONES; m];
            let recv = |x: &mut [Block]| {
                x.copy_from_slice(&u);
                Ok(())
            };
            fused.chunk(&mut q0, recv, |_, _| Ok(())).unwrap();
            rows.chunk(&mut q1, recv, |_, _| Ok(())).unwrap();
            assert_eq!(q0, q1, "outputs, {m} OTs");
        }
    }
}
