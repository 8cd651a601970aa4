//! Half-gates garbling (Zahur, Rosulek, Evans, "Two Halves Make a Whole", Eurocrypt 2015).
//!
//! Free-XOR with a global [`Delta`] (lsb 1), point-and-permute on the label lsb, two ciphertexts
//! per AND gate, and the re-keyed multi-instance tweakable circular correlation-robust hash of
//! circa-ot, `H(x, j) = AES_{S ^ j}(sigma(x)) ^ sigma(x)` (MITCCRH, Guo, Katz, Wang, Weng, Yu,
//! ePrint 2019/1168; one AES call per hashed label) under the session's random tweak `S`. The AND
//! gate at position `j` of a circuit's schedule uses tweaks `base + 2j` (garbler half) and
//! `base + 2j + 1` (evaluator half), where `base` is reserved from the session's counter, so no
//! tweak (no AES key) repeats within a session: each key hashes exactly the pair `{L, L ^ Delta}`
//! of one half gate.
//!
//! For AND gate `c = a & b` with zero-labels `A, B`, colour bits `pa = lsb(A)`, `pb = lsb(B)`:
//!
//! ```text
//! TG = H(A, 2j) ^ H(A ^ Delta, 2j) ^ pb * Delta        WG = H(A, 2j) ^ pa * TG
//! TE = H(B, 2j+1) ^ H(B ^ Delta, 2j+1) ^ A             WE = H(B, 2j+1) ^ pb * (TE ^ A)
//! C = WG ^ WE, table = (TG, TE)
//! ```
//!
//! Semi-honest security.

use circa_ot::{Block, TweakableHash};
use rand_core::CryptoRng;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::circuit::{Circuit, Gate, GateKind, check_len};
use crate::error::Error;
use crate::evaluate::WireTable;
use crate::label::{Delta, Label};
use crate::schedule::{Cursor, Schedule, Step};

/// AND gates hashed together (4 hashed labels each for the garbler, 2 for the evaluator).
pub const AND_BATCH: usize = 96;
/// AND gates per chunk of the garbled stream (32 bytes each: 128 KiB per chunk).
pub const CHUNK_ANDS: usize = 4096;
/// Blocks per AND table.
pub const BLOCKS_PER_AND: usize = 2;

/// A label in a wire table: two 64-bit lanes. Keeping every load and store of the tables at the
/// same width lets a gate read the label an earlier gate just wrote through store-to-load
/// forwarding (a 16-byte load of two 8-byte stores stalls; `u128` arithmetic produced that mix).
pub(crate) type Lanes = [u64; 2];

#[inline(always)]
pub(crate) fn lanes(b: Block) -> Lanes {
    let (lo, hi) = b.to_u64_pair();
    [lo, hi]
}

#[inline(always)]
pub(crate) fn block(l: Lanes) -> Block {
    Block::from_u64_pair(l[0], l[1])
}

#[inline(always)]
pub(crate) fn xor(a: Lanes, b: Lanes) -> Lanes {
    [a[0] ^ b[0], a[1] ^ b[1]]
}

/// Reserves `2 * and_count` consecutive tweaks from a session counter.
pub(crate) fn reserve_tweaks(next: &mut u64, and_count: usize) -> Result<u64, Error> {
    let base = *next;
    let n = (and_count as u64)
        .checked_mul(2)
        .ok_or(Error::TweaksExhausted)?;
    *next = base.checked_add(n).ok_or(Error::TweaksExhausted)?;
    Ok(base)
}

/// The garbler's side of a session: the free-XOR offset, the session's hash and tweak counter.
/// Every circuit garbled under the session gets fresh tweaks and fresh input labels.
#[derive(Debug)]
pub struct GarblerSession {
    delta: Delta,
    hash: TweakableHash,
    next_tweak: u64,
}

impl GarblerSession {
    /// A session with offset `delta` and the agreed random `session_tweak`.
    pub fn new(delta: Delta, session_tweak: Block) -> GarblerSession {
        GarblerSession {
            delta,
            hash: TweakableHash::new(session_tweak),
            next_tweak: 0,
        }
    }

    /// The session's free-XOR offset (use it as the correlated-OT offset).
    pub fn delta(&self) -> &Delta {
        &self.delta
    }

    /// Starts garbling `circuit` with fresh random zero-labels for all inputs.
    pub fn garble_stream<'c, R: CryptoRng + ?Sized>(
        &mut self,
        circuit: &'c Circuit,
        rng: &mut R,
    ) -> Result<StreamGarbler<'c>, Error> {
        let n = circuit.evaluator_inputs();
        let eval: Vec<Block> = (0..n).map(|_| Block::random(rng)).collect();
        self.garble_stream_with_evaluator_labels(circuit, rng, &eval)
    }

    /// Starts garbling `circuit`; the zero-labels of the evaluator's inputs are given (the
    /// correlated-OT outputs `q_i` under this session's Delta), the garbler's are fresh random.
    pub fn garble_stream_with_evaluator_labels<'c, R: CryptoRng + ?Sized>(
        &mut self,
        circuit: &'c Circuit,
        rng: &mut R,
        evaluator_zero_labels: &[Block],
    ) -> Result<StreamGarbler<'c>, Error> {
        check_len(
            "evaluator zero-labels",
            circuit.evaluator_inputs(),
            evaluator_zero_labels.len(),
        )?;
        let (tweak_base, encoder) = self.start(circuit, rng, evaluator_zero_labels)?;
        // One entry per wire slot (see `schedule`); input `i` is in slot `i`.
        let mut wires = Zeroizing::new(vec![[0u64; 2]; circuit.schedule().num_slots]);
        for (w, z) in wires.iter_mut().zip(encoder.zero.iter()) {
            *w = lanes(*z);
        }
        Ok(StreamGarbler {
            circuit,
            schedule: circuit.schedule(),
            cursor: Cursor::default(),
            hash: self.hash,
            delta: self.delta.clone(),
            tweak_base,
            wires,
            encoder,
            scratch: HashScratch::new(),
        })
    }

    /// Reserves the circuit's tweaks and draws the garbler's input zero-labels (the evaluator's
    /// are given): the first step of every garbling, the only one that consumes randomness.
    fn start<R: CryptoRng + ?Sized>(
        &mut self,
        circuit: &Circuit,
        rng: &mut R,
        evaluator_zero_labels: &[Block],
    ) -> Result<(u64, InputEncoder), Error> {
        check_len(
            "evaluator zero-labels",
            circuit.evaluator_inputs(),
            evaluator_zero_labels.len(),
        )?;
        let tweak_base = reserve_tweaks(&mut self.next_tweak, circuit.and_count())?;
        let g = circuit.garbler_inputs();
        let mut input_zero = Zeroizing::new(Vec::with_capacity(g + evaluator_zero_labels.len()));
        input_zero.extend((0..g).map(|_| Block::random(rng)));
        input_zero.extend_from_slice(evaluator_zero_labels);
        let encoder = InputEncoder {
            zero: input_zero,
            garbler_inputs: g,
            delta: self.delta.clone(),
        };
        Ok((tweak_base, encoder))
    }

    /// Garbles `circuit` on up to `threads` threads, with exactly the tables, labels and tweaks of
    /// [`GarblerSession::garble_stream_with_evaluator_labels`] followed by
    /// [`StreamGarbler::next_chunk`] to the end (the randomness is drawn in the same order, before
    /// any thread starts). The circuit's independent parts (its connected components through
    /// gate outputs, e.g. the ReLUs of a chunk) are dealt out to the threads; a circuit with one
    /// part, or `threads <= 1`, is garbled on the calling thread. Returns the tables (two blocks
    /// per AND gate, in the order the evaluator consumes them), the input encoder and the
    /// outputs.
    pub fn garble_parallel_with_evaluator_labels<R: CryptoRng + ?Sized>(
        &mut self,
        circuit: &Circuit,
        rng: &mut R,
        evaluator_zero_labels: &[Block],
        threads: usize,
        tables: &mut Vec<Block>,
    ) -> Result<(InputEncoder, GarblerOutputs), Error> {
        tables.clear();
        let partition = (threads > 1).then(|| circuit.partition(threads));
        let Some(partition) = partition.filter(|p| p.groups.len() > 1) else {
            let mut g =
                self.garble_stream_with_evaluator_labels(circuit, rng, evaluator_zero_labels)?;
            tables.reserve(circuit.and_count() * BLOCKS_PER_AND);
            while g.next_chunk(tables) > 0 {}
            return g.finish_with_encoder();
        };
        let (tweak_base, encoder) = self.start(circuit, rng, evaluator_zero_labels)?;
        tables.resize(circuit.and_count() * BLOCKS_PER_AND, Block::ZERO);
        let mut outputs = Zeroizing::new(vec![Block::ZERO; circuit.outputs().len()]);
        crate::parallel::garble_groups(
            &partition,
            &self.hash,
            lanes(self.delta.as_block()),
            tweak_base,
            &encoder.zero,
            tables,
            &mut outputs,
        );
        Ok((
            encoder,
            GarblerOutputs {
                zero: outputs,
                delta: self.delta.clone(),
            },
        ))
    }

    /// Garbles `circuit` in memory on the calling thread with the given input zero-labels (the
    /// garbler's, which the caller must draw uniformly at random, and the evaluator's, e.g. the
    /// correlated-OT outputs under this session's Delta), on the reused wire table `wires`.
    /// Replaces `tables` with the tables (two blocks per AND gate, in the order the evaluator
    /// consumes them; entries are overwritten in place, not cleared first) and `outputs` with the
    /// output zero-labels. Same tweaks and tables as
    /// [`GarblerSession::garble_stream_with_evaluator_labels`] whose rng yields `garbler_zero`.
    pub fn garble_in_place(
        &mut self,
        circuit: &Circuit,
        garbler_zero: &[Label],
        evaluator_zero: &[Block],
        wires: &mut WireTable,
        tables: &mut Vec<Block>,
        outputs: &mut Vec<Label>,
    ) -> Result<(), Error> {
        check_len(
            "garbler zero-labels",
            circuit.garbler_inputs(),
            garbler_zero.len(),
        )?;
        check_len(
            "evaluator zero-labels",
            circuit.evaluator_inputs(),
            evaluator_zero.len(),
        )?;
        let tweak_base = reserve_tweaks(&mut self.next_tweak, circuit.and_count())?;
        let schedule = circuit.schedule();
        let (w, scratch) = wires.reserve(schedule.num_slots);
        let inputs = garbler_zero
            .iter()
            .map(|l| l.as_block())
            .chain(evaluator_zero.iter().copied());
        for (z, slot) in inputs.zip(w.iter_mut()) {
            *slot = lanes(z);
        }
        // Every entry is overwritten below (the AND runs cover every schedule position), so the
        // previous circuit's tables (public ciphertexts) are not cleared first.
        tables.resize(circuit.and_count() * BLOCKS_PER_AND, Block::ZERO);
        let delta = lanes(self.delta.as_block());
        let mut cursor = Cursor::default();
        let mut rest = &mut tables[..];
        loop {
            match cursor.next_step(schedule, AND_BATCH) {
                None => break,
                Some(Step::Free(gates)) => garble_free(w, gates, delta),
                Some(Step::And { gates, first_and }) => {
                    let (now, later) = rest.split_at_mut(gates.len() * BLOCKS_PER_AND);
                    let tweak = tweak_base + 2 * first_and;
                    garble_ands_into(&self.hash, delta, w, gates, tweak, scratch, now);
                    rest = later;
                }
            }
        }
        outputs.clear();
        outputs.extend(schedule.output_labels(w));
        Ok(())
    }

    /// Garbles `circuit` in memory with fresh random input labels.
    pub fn garble<R: CryptoRng + ?Sized>(
        &mut self,
        circuit: &Circuit,
        rng: &mut R,
    ) -> Result<(GarbledCircuit, InputEncoder, OutputDecoder), Error> {
        let mut g = self.garble_stream(circuit, rng)?;
        let mut tables = Vec::with_capacity(circuit.and_count() * BLOCKS_PER_AND);
        while g.next_chunk(&mut tables) > 0 {}
        let encoder = g.encoder().clone();
        let out = g.finish()?;
        Ok((GarbledCircuit { tables }, encoder, out.decoder()))
    }
}

/// Buffers for a run of AND gates: their gathered input labels and their output labels. Wiped on
/// drop.
pub(crate) struct HashScratch {
    pub inputs: Vec<[Block; 2]>,
    pub outputs: Vec<Block>,
}

impl HashScratch {
    pub(crate) fn new() -> HashScratch {
        HashScratch {
            inputs: vec![[Block::ZERO; 2]; AND_BATCH],
            outputs: vec![Block::ZERO; AND_BATCH],
        }
    }

    /// Gathers the input labels of `gates` from the wire table.
    pub(crate) fn gather(&mut self, wires: &[Lanes], gates: &[crate::circuit::Gate]) {
        for (x, g) in self.inputs.iter_mut().zip(gates) {
            *x = [block(wires[g.a as usize]), block(wires[g.b as usize])];
        }
    }

    /// Writes the output labels of `gates` to the wire table.
    pub(crate) fn scatter(&self, wires: &mut [Lanes], gates: &[crate::circuit::Gate]) {
        for (o, g) in self.outputs.iter().zip(gates) {
            wires[g.out as usize] = lanes(*o);
        }
    }
}

impl HashScratch {
    /// Zeroizes the buffers in place (kept for reuse).
    pub(crate) fn wipe(&mut self) {
        use zeroize::Zeroize;
        self.inputs.iter_mut().zeroize();
        self.outputs.iter_mut().zeroize();
    }
}

impl Drop for HashScratch {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        self.inputs.zeroize();
        self.outputs.zeroize();
    }
}

/// The complete garbled tables of one circuit (2 blocks per AND gate, in schedule order).
/// Not `Clone`: evaluation consumes it, so the same garbled circuit cannot be evaluated twice.
pub struct GarbledCircuit {
    tables: Vec<Block>,
}

impl GarbledCircuit {
    /// Size in bytes (32 per AND gate).
    pub fn size_bytes(&self) -> usize {
        self.tables.len() * 16
    }
    /// The tables as raw bytes (for sending).
    pub fn as_bytes(&self) -> &[u8] {
        bytemuck::cast_slice(&self.tables)
    }
    pub(crate) fn into_tables(self) -> Vec<Block> {
        self.tables
    }
}

impl core::fmt::Debug for GarbledCircuit {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "GarbledCircuit({} tables)",
            self.tables.len() / BLOCKS_PER_AND
        )
    }
}

/// The garbler's input zero-labels and Delta: turns input bits into labels. Zeroized on drop.
#[derive(Clone)]
pub struct InputEncoder {
    zero: Zeroizing<Vec<Block>>,
    garbler_inputs: usize,
    delta: Delta,
}

impl InputEncoder {
    /// The garbler's labels for its own input bits (constant-time in the bits).
    pub fn encode_garbler(&self, bits: &[bool]) -> Result<Vec<Label>, Error> {
        check_len("garbler input", self.garbler_inputs, bits.len())?;
        Ok(self.encode(&self.zero[..self.garbler_inputs], bits))
    }

    /// The evaluator's labels for its input bits. In the two-party protocol these come from
    /// correlated OT instead; this is for in-memory use and tests.
    pub fn encode_evaluator(&self, bits: &[bool]) -> Result<Vec<Label>, Error> {
        check_len(
            "evaluator input",
            self.zero.len() - self.garbler_inputs,
            bits.len(),
        )?;
        Ok(self.encode(&self.zero[self.garbler_inputs..], bits))
    }

    /// Labels for all inputs (garbler's then evaluator's), for in-memory use and tests.
    pub fn encode_all(&self, garbler: &[bool], evaluator: &[bool]) -> Result<Vec<Label>, Error> {
        let mut v = self.encode_garbler(garbler)?;
        v.extend(self.encode_evaluator(evaluator)?);
        Ok(v)
    }

    fn encode(&self, zero: &[Block], bits: &[bool]) -> Vec<Label> {
        let d = self.delta.as_block();
        zero.iter()
            .zip(bits)
            .map(|(&z, &b)| {
                Label::from_block(Block::select(subtle::Choice::from(u8::from(b)), z, z ^ d))
            })
            .collect()
    }
}

impl core::fmt::Debug for InputEncoder {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("InputEncoder(..)")
    }
}

/// Public decoding information: the colour bit of each output's zero-label. Given to whichever
/// party learns the output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutputDecoder {
    colours: Vec<bool>,
}

impl OutputDecoder {
    /// Wraps colour bits (as received from the garbler).
    pub fn from_colours(colours: Vec<bool>) -> OutputDecoder {
        OutputDecoder { colours }
    }
    /// The colour bits.
    pub fn colours(&self) -> &[bool] {
        &self.colours
    }
    /// Decodes output labels: bit = lsb(label) ^ colour.
    pub fn decode(&self, labels: &[Label]) -> Result<Vec<bool>, Error> {
        check_len("output labels", self.colours.len(), labels.len())?;
        Ok(labels
            .iter()
            .zip(&self.colours)
            .map(|(l, &c)| l.lsb() ^ c)
            .collect())
    }
}

/// The garbler's output zero-labels: decodes the evaluator's output labels and checks that each is
/// one of the two valid labels of its wire. Zeroized on drop.
pub struct GarblerOutputs {
    zero: Zeroizing<Vec<Block>>,
    delta: Delta,
}

impl GarblerOutputs {
    /// The public decoding bits for the evaluator.
    pub fn decoder(&self) -> OutputDecoder {
        OutputDecoder {
            colours: self.zero.iter().map(|z| z.lsb()).collect(),
        }
    }

    /// The output wires' zero-labels (secret: with [`GarblerOutputs::delta`] they give both labels of
    /// every output), for protocols that post-process output labels, e.g. label tables.
    pub fn zero_labels(&self) -> &[Label] {
        bytemuck::cast_slice(self.zero.as_slice())
    }

    /// The free-XOR offset the circuit was garbled under.
    pub fn delta(&self) -> &Delta {
        &self.delta
    }

    /// Decodes the evaluator's output labels, rejecting any label that is neither valid label.
    pub fn decode_verified(&self, labels: &[Label]) -> Result<Vec<bool>, Error> {
        check_len("output labels", self.zero.len(), labels.len())?;
        let d = self.delta.as_block();
        let mut out = Vec::with_capacity(labels.len());
        for (index, (l, &z)) in labels.iter().zip(self.zero.iter()).enumerate() {
            let is0 = l.as_block().0.ct_eq(&z.0);
            let is1 = l.as_block().0.ct_eq(&(z ^ d).0);
            if !bool::from(is0 | is1) {
                return Err(Error::InvalidOutputLabel { index });
            }
            out.push(bool::from(is1));
        }
        Ok(out)
    }
}

impl core::fmt::Debug for GarblerOutputs {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("GarblerOutputs(..)")
    }
}

/// Garbles one circuit as a stream of table chunks; memory is the wire table plus one chunk.
pub struct StreamGarbler<'c> {
    circuit: &'c Circuit,
    schedule: &'c Schedule,
    cursor: Cursor,
    hash: TweakableHash,
    delta: Delta,
    tweak_base: u64,
    /// Zero-labels by wire slot.
    wires: Zeroizing<Vec<Lanes>>,
    encoder: InputEncoder,
    scratch: HashScratch,
}

impl StreamGarbler<'_> {
    /// The input encoder (zero-labels of all inputs).
    pub fn encoder(&self) -> &InputEncoder {
        &self.encoder
    }

    /// Number of AND tables the whole circuit produces.
    pub fn total_tables(&self) -> usize {
        self.circuit.and_count()
    }

    /// Garbles up to [`CHUNK_ANDS`] more AND gates, appending their tables (2 blocks each) to `out`;
    /// returns the number of tables appended (0 once the circuit is done).
    pub fn next_chunk(&mut self, out: &mut Vec<Block>) -> usize {
        let mut produced = 0;
        let delta = lanes(self.delta.as_block());
        loop {
            let room = (CHUNK_ANDS - produced).min(AND_BATCH);
            match self.cursor.next_step(self.schedule, room) {
                None => break,
                Some(Step::Free(gates)) => garble_free(&mut self.wires, gates, delta),
                Some(Step::And { gates, first_and }) => {
                    let tweak = self.tweak_base + 2 * first_and;
                    garble_ands(
                        &self.hash,
                        delta,
                        &mut self.wires,
                        gates,
                        tweak,
                        &mut self.scratch,
                        out,
                    );
                    produced += gates.len();
                    if produced == CHUNK_ANDS {
                        break;
                    }
                }
            }
        }
        produced
    }

    /// Whether all gates are garbled.
    pub fn is_done(&self) -> bool {
        self.cursor.done(self.schedule)
    }

    /// Ends garbling; fails if tables are left (call [`StreamGarbler::next_chunk`] until it returns 0).
    pub fn finish(self) -> Result<GarblerOutputs, Error> {
        self.finish_with_encoder().map(|(_, out)| out)
    }

    /// As [`StreamGarbler::finish`], also handing back the input encoder (without a copy).
    pub fn finish_with_encoder(self) -> Result<(InputEncoder, GarblerOutputs), Error> {
        if !self.is_done() {
            return Err(Error::NotFinished);
        }
        let zero = self
            .schedule
            .output_slots
            .iter()
            .map(|&o| block(self.wires[o as usize]))
            .collect();
        let out = GarblerOutputs {
            zero: Zeroizing::new(zero),
            delta: self.delta.clone(),
        };
        Ok((self.encoder, out))
    }
}

impl core::fmt::Debug for StreamGarbler<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "StreamGarbler({} of {} ANDs)",
            self.cursor.ands_done(),
            self.circuit.and_count()
        )
    }
}

/// The free gates of a run on the garbler's zero-labels (NOT adds Delta).
pub(crate) fn garble_free(wires: &mut [Lanes], gates: &[Gate], delta: Lanes) {
    for g in gates {
        wires[g.out as usize] = match g.kind {
            GateKind::Not => xor(wires[g.a as usize], delta),
            _ => xor(wires[g.a as usize], wires[g.b as usize]),
        };
    }
}

/// Garbles a run of independent AND gates (at most [`AND_BATCH`]), appending their tables to `out`.
fn garble_ands(
    hash: &TweakableHash,
    delta: Lanes,
    wires: &mut [Lanes],
    gates: &[Gate],
    first_tweak: u64,
    s: &mut HashScratch,
    out: &mut Vec<Block>,
) {
    let start = out.len();
    out.resize(start + BLOCKS_PER_AND * gates.len(), Block::ZERO);
    garble_ands_into(hash, delta, wires, gates, first_tweak, s, &mut out[start..]);
}

/// Garbles a run of independent AND gates (at most [`AND_BATCH`]) into `tables`
/// (`BLOCKS_PER_AND` blocks per gate).
pub(crate) fn garble_ands_into(
    hash: &TweakableHash,
    delta: Lanes,
    wires: &mut [Lanes],
    gates: &[Gate],
    first_tweak: u64,
    s: &mut HashScratch,
    tables: &mut [Block],
) {
    let n = gates.len();
    s.gather(wires, gates);
    circa_ot::halfgates::garble(
        hash,
        block(delta),
        first_tweak,
        &s.inputs[..n],
        bytemuck::cast_slice_mut(&mut tables[..BLOCKS_PER_AND * n]),
        &mut s.outputs[..n],
    );
    s.scatter(wires, gates);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench_support::{and_stream_circuit, relu_batch_circuit};
    use circa_ot::Prg;

    /// `garble_in_place` on one reused wire table gives the stream garbler's tables and output
    /// zero-labels when its garbler labels are the ones the stream garbler draws.
    #[test]
    fn garble_in_place_matches_the_stream_garbler() {
        let circuits = [
            relu_batch_circuit(50, 25, false).unwrap(),
            relu_batch_circuit(7, 12, true).unwrap(),
            and_stream_circuit(300).unwrap(),
            relu_batch_circuit(2, 41, false).unwrap(),
        ];
        let mut wires = WireTable::new();
        let (mut tables, mut outputs) = (Vec::new(), Vec::new());
        for (ci, c) in circuits.iter().enumerate() {
            let seed = Block::from_u128(100 + ci as u128);
            let mut rng = Prg::from_seed_block(seed);
            let delta = Delta::random(&mut rng);
            let tweak = Block::random(&mut rng);
            let e0: Vec<Block> = (0..c.evaluator_inputs())
                .map(|_| Block::random(&mut rng))
                .collect();
            // Two sessions, each garbling a first circuit so that the tweak counter is not 0.
            let mut a = GarblerSession::new(delta.clone(), tweak);
            let mut b = GarblerSession::new(delta.clone(), tweak);
            let warm = and_stream_circuit(3).unwrap();
            let mut warm_rng = Prg::from_seed_block(Block::ONES);
            a.garble(&warm, &mut warm_rng).unwrap();
            b.garble(&warm, &mut warm_rng).unwrap();

            let mut ra = Prg::from_seed_block(Block::from_u128(7));
            let mut g = a
                .garble_stream_with_evaluator_labels(c, &mut ra, &e0)
                .unwrap();
            let mut want = Vec::new();
            while g.next_chunk(&mut want) > 0 {}
            let want_out = g.finish().unwrap();

            let mut rb = Prg::from_seed_block(Block::from_u128(7));
            let gz: Vec<Label> = (0..c.garbler_inputs())
                .map(|_| Label::from_block(Block::random(&mut rb)))
                .collect();
            b.garble_in_place(c, &gz, &e0, &mut wires, &mut tables, &mut outputs)
                .unwrap();
            assert_eq!(tables, want, "circuit {ci}: tables");
            assert!(outputs.as_slice() == want_out.zero_labels(), "circuit {ci}");
            // The next circuit of both sessions gets the same tweaks again.
            assert_eq!(a.next_tweak, b.next_tweak);
        }
        let c = &circuits[0];
        let mut s = GarblerSession::new(
            Delta::random(&mut Prg::from_seed_block(Block::ONES)),
            Block::ZERO,
        );
        let gz = vec![Label::default(); c.garbler_inputs()];
        let e0 = vec![Block::ZERO; c.evaluator_inputs()];
        assert!(matches!(
            s.garble_in_place(c, &gz[1..], &e0, &mut wires, &mut tables, &mut outputs),
            Err(Error::LengthMismatch { .. })
        ));
        assert!(matches!(
            s.garble_in_place(c, &gz, &e0[1..], &mut wires, &mut tables, &mut outputs),
            Err(Error::LengthMismatch { .. })
        ));
    }
}
