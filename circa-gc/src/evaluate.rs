//! Half-gates evaluation (see [`crate::garble`] for the scheme), streamed: tables are consumed as
//! they arrive, in any chunking.

use circa_ot::{Block, TweakableHash};
use zeroize::Zeroizing;

use crate::circuit::{Circuit, Gate, GateKind, check_len};
use crate::error::Error;
use crate::garble::{
    AND_BATCH, BLOCKS_PER_AND, GarbledCircuit, HashScratch, Lanes, lanes, reserve_tweaks, xor,
};
use crate::label::Label;
use crate::schedule::{Cursor, Schedule, Step};

/// The evaluator's side of a session: the session's hash and tweak counter (kept in step with the
/// garbler's by evaluating the same circuits in the same order).
#[derive(Debug)]
pub struct EvaluatorSession {
    hash: TweakableHash,
    next_tweak: u64,
}

impl EvaluatorSession {
    /// A session with the agreed random `session_tweak`.
    pub fn new(session_tweak: Block) -> EvaluatorSession {
        EvaluatorSession {
            hash: TweakableHash::new(session_tweak),
            next_tweak: 0,
        }
    }

    /// Starts evaluating `circuit` on the input labels (garbler's inputs then evaluator's).
    pub fn evaluate_stream<'c>(
        &mut self,
        circuit: &'c Circuit,
        input_labels: &[Label],
    ) -> Result<StreamEvaluator<'c>, Error> {
        let inputs = circuit.garbler_inputs() + circuit.evaluator_inputs();
        check_len("input labels", inputs, input_labels.len())?;
        let tweak_base = reserve_tweaks(&mut self.next_tweak, circuit.and_count())?;
        // One entry per wire slot (see `schedule`); input `i` is in slot `i`.
        let mut wires = Zeroizing::new(vec![[0u64; 2]; circuit.schedule().num_slots]);
        for (w, l) in wires.iter_mut().zip(input_labels) {
            *w = lanes(l.as_block());
        }
        let mut ev = StreamEvaluator {
            circuit,
            schedule: circuit.schedule(),
            cursor: Cursor::default(),
            hash: self.hash,
            tweak_base,
            wires,
            scratch: HashScratch::new(),
        };
        ev.run(&[]);
        Ok(ev)
    }

    /// Evaluates a whole garbled circuit in memory (consuming it) and returns the output labels.
    pub fn evaluate(
        &mut self,
        circuit: &Circuit,
        garbled: GarbledCircuit,
        input_labels: &[Label],
    ) -> Result<Vec<Label>, Error> {
        let mut ev = self.evaluate_stream(circuit, input_labels)?;
        ev.consume(&garbled.into_tables())?;
        ev.finish()
    }
}

/// Evaluates one circuit as its tables arrive; memory is the wire table.
pub struct StreamEvaluator<'c> {
    circuit: &'c Circuit,
    schedule: &'c Schedule,
    cursor: Cursor,
    hash: TweakableHash,
    tweak_base: u64,
    /// Labels by wire slot (zeroized on drop: with the garbler's zero-labels they give every wire's
    /// value).
    wires: Zeroizing<Vec<Lanes>>,
    scratch: HashScratch,
}

impl StreamEvaluator<'_> {
    /// AND tables still expected.
    pub fn tables_remaining(&self) -> u64 {
        self.circuit.and_count() as u64 - self.cursor.ands_done()
    }

    /// Consumes the next tables (2 blocks each, any number of whole tables).
    pub fn consume(&mut self, tables: &[Block]) -> Result<(), Error> {
        if !tables.len().is_multiple_of(BLOCKS_PER_AND) {
            return Err(Error::PartialTable {
                blocks: tables.len(),
            });
        }
        if (tables.len() / BLOCKS_PER_AND) as u64 > self.tables_remaining() {
            return Err(Error::TooManyTables {
                expected: self.circuit.and_count() as u64,
            });
        }
        self.run(tables);
        Ok(())
    }

    /// Evaluates as far as `tables` allow (all of them are used: the caller checked the count).
    fn run(&mut self, tables: &[Block]) {
        run_schedule(
            &self.hash,
            self.schedule,
            &mut self.cursor,
            self.tweak_base,
            &mut self.wires,
            &mut self.scratch,
            tables,
        );
    }

    /// Ends evaluation and returns the output labels; fails if tables are missing.
    pub fn finish(self) -> Result<Vec<Label>, Error> {
        if !self.cursor.done(self.schedule) {
            return Err(Error::TruncatedStream {
                expected: self.circuit.and_count() as u64,
                actual: self.cursor.ands_done(),
            });
        }
        Ok(self.schedule.output_labels(&self.wires).collect())
    }
}

impl core::fmt::Debug for StreamEvaluator<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "StreamEvaluator({} of {} ANDs)",
            self.cursor.ands_done(),
            self.circuit.and_count()
        )
    }
}

/// Walks `schedule` from `cursor` as far as `tables` allow (all of them are used: the caller
/// checked the count), on the wire table `wires` (at least `schedule.num_slots` entries).
fn run_schedule(
    hash: &TweakableHash,
    schedule: &Schedule,
    cursor: &mut Cursor,
    tweak_base: u64,
    wires: &mut [Lanes],
    scratch: &mut HashScratch,
    mut tables: &[Block],
) {
    loop {
        let room = (tables.len() / BLOCKS_PER_AND).min(AND_BATCH);
        match cursor.next_step(schedule, room) {
            None => break,
            Some(Step::Free(gates)) => {
                for g in gates {
                    wires[g.out as usize] = match g.kind {
                        GateKind::Not => wires[g.a as usize],
                        _ => xor(wires[g.a as usize], wires[g.b as usize]),
                    };
                }
            }
            Some(Step::And { gates, first_and }) => {
                let (now, rest) = tables.split_at(gates.len() * BLOCKS_PER_AND);
                let tweak = tweak_base + 2 * first_and;
                eval_ands(hash, wires, gates, tweak, scratch, now);
                tables = rest;
            }
        }
    }
}

/// A wire table (labels by wire slot) and hash buffers, kept across circuits by callers that
/// evaluate or garble many circuits in a row ([`EvaluatorSession::evaluate_parts`],
/// [`GarblerSession::garble_in_place`](crate::GarblerSession::garble_in_place)): no allocation
/// or zero-fill per circuit. It holds the labels of the last circuit evaluated until
/// [`WireTable::wipe`] or drop, which zeroize it in place.
#[derive(Default)]
pub struct WireTable {
    wires: Vec<Lanes>,
    scratch: Option<HashScratch>,
}

impl WireTable {
    /// An empty table (grows to the largest circuit evaluated with it).
    pub fn new() -> WireTable {
        WireTable::default()
    }

    /// Zeroizes the labels in place (the allocation is kept for the next circuit).
    pub fn wipe(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.wires.iter_mut());
        if let Some(s) = &mut self.scratch {
            s.wipe();
        }
    }

    /// A table of at least `slots` entries. Growing wipes the old buffer first (a reallocation
    /// would otherwise leave an unwiped copy); the entries are not cleared otherwise: a valid
    /// schedule writes every slot before reading it, except the input slots, which the caller
    /// fills.
    pub(crate) fn reserve(&mut self, slots: usize) -> (&mut [Lanes], &mut HashScratch) {
        if self.wires.len() < slots {
            zeroize::Zeroize::zeroize(&mut self.wires);
            self.wires = vec![[0u64; 2]; slots];
        }
        let scratch = self.scratch.get_or_insert_with(HashScratch::new);
        (&mut self.wires[..slots], scratch)
    }
}

impl Drop for WireTable {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.wires);
    }
}

impl core::fmt::Debug for WireTable {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "WireTable({} slots, redacted)", self.wires.len())
    }
}

impl EvaluatorSession {
    /// Evaluates `circuit` with all its `tables` in memory (two blocks per AND gate, in the order
    /// [`StreamEvaluator::consume`] takes them) on the reused wire table `wires`, and appends the
    /// output labels to `outputs`. The input labels come in consecutive parts (`inputs`
    /// concatenated: the garbler's inputs, then the evaluator's), so callers need not copy them
    /// into one buffer. Same tweaks and results as [`EvaluatorSession::evaluate_stream`] with
    /// [`StreamEvaluator::consume`] and [`StreamEvaluator::finish`].
    pub fn evaluate_parts(
        &mut self,
        circuit: &Circuit,
        inputs: &[&[Label]],
        tables: &[Block],
        wires: &mut WireTable,
        outputs: &mut Vec<Label>,
    ) -> Result<(), Error> {
        let want = circuit.garbler_inputs() + circuit.evaluator_inputs();
        let got = inputs.iter().map(|p| p.len()).sum::<usize>();
        check_len("input labels", want, got)?;
        if !tables.len().is_multiple_of(BLOCKS_PER_AND) {
            return Err(Error::PartialTable {
                blocks: tables.len(),
            });
        }
        let and_tables = (tables.len() / BLOCKS_PER_AND) as u64;
        if and_tables > circuit.and_count() as u64 {
            return Err(Error::TooManyTables {
                expected: circuit.and_count() as u64,
            });
        }
        if and_tables < circuit.and_count() as u64 {
            return Err(Error::TruncatedStream {
                expected: circuit.and_count() as u64,
                actual: and_tables,
            });
        }
        let tweak_base = reserve_tweaks(&mut self.next_tweak, circuit.and_count())?;
        let schedule = circuit.schedule();
        let (w, scratch) = wires.reserve(schedule.num_slots);
        let mut slots = w.iter_mut();
        for part in inputs {
            // The part first: `zip` polls it first, so no slot is skipped when it ends.
            for (l, s) in part.iter().zip(slots.by_ref()) {
                *s = lanes(l.as_block());
            }
        }
        let mut cursor = Cursor::default();
        run_schedule(
            &self.hash,
            schedule,
            &mut cursor,
            tweak_base,
            w,
            scratch,
            tables,
        );
        outputs.extend(schedule.output_labels(w));
        Ok(())
    }
}

/// Evaluates a run of independent AND gates with their tables.
fn eval_ands(
    hash: &TweakableHash,
    wires: &mut [Lanes],
    gates: &[Gate],
    first_tweak: u64,
    s: &mut HashScratch,
    tables: &[Block],
) {
    let n = gates.len();
    s.gather(wires, gates);
    circa_ot::halfgates::evaluate(
        hash,
        first_tweak,
        &s.inputs[..n],
        bytemuck::cast_slice(tables),
        &mut s.outputs[..n],
    );
    s.scatter(wires, gates);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CircuitBuilder;
    use crate::bench_support::{bench_session, relu_batch_circuit};

    /// A small circuit with NOT gates, an output that is an input and a repeated output.
    fn mixed() -> Circuit {
        let mut b = CircuitBuilder::new();
        let x = b.garbler_input(8);
        let y = b.evaluator_input(8);
        let ge = b.ge(&x, &y);
        let s = b.add(&x[..4], &y[..4]);
        let nx = b.not(x[5]);
        b.output(&[ge, x[0], nx, ge]);
        b.output(&s);
        b.finish().unwrap()
    }

    /// `evaluate_parts` on one reused wire table, across circuits of different sizes (larger
    /// and smaller than the table) and with the inputs split anywhere, gives the streaming
    /// evaluator's output labels, and those decode to the plaintext result.
    #[test]
    fn evaluate_parts_matches_the_stream_evaluator() {
        let circuits = [
            relu_batch_circuit(5, 25, false).unwrap(),
            relu_batch_circuit(40, 20, true).unwrap(),
            mixed(),
            relu_batch_circuit(3, 41, false).unwrap(),
        ];
        let mut table = WireTable::new();
        let mut out = Vec::new();
        for round in 0..2u64 {
            for (ci, c) in circuits.iter().enumerate() {
                let (mut gs, tweak, mut rng) = bench_session(7 + ci as u64 + 10 * round);
                let (gc, enc, dec) = gs.garble(c, &mut rng).unwrap();
                let tables: Vec<Block> = bytemuck::cast_slice(gc.as_bytes()).to_vec();
                let gin: Vec<bool> = (0..c.garbler_inputs()).map(|i| i % 3 == 1).collect();
                let ein: Vec<bool> = (0..c.evaluator_inputs()).map(|i| i % 5 < 2).collect();
                let labels = enc.encode_all(&gin, &ein).unwrap();
                let mut es = EvaluatorSession::new(tweak);
                let mut ev = es.evaluate_stream(c, &labels).unwrap();
                ev.consume(&tables).unwrap();
                let want = ev.finish().unwrap();
                let n = labels.len();
                for split in [0, 1, c.garbler_inputs(), n - 1, n] {
                    let (a, b) = labels.split_at(split);
                    let mut es = EvaluatorSession::new(tweak);
                    out.clear();
                    es.evaluate_parts(c, &[a, &[], b], &tables, &mut table, &mut out)
                        .unwrap();
                    assert!(out == want, "circuit {ci}, split {split}");
                }
                assert_eq!(
                    dec.decode(&out).unwrap(),
                    c.eval_plain(&gin, &ein).unwrap(),
                    "circuit {ci}"
                );
            }
        }
        table.wipe();
        assert!(table.wires.iter().all(|w| *w == [0, 0]));
        assert!(table.wires.len() >= circuits[1].wire_slots());
    }

    /// Wrong input counts and missing, extra or partial tables are errors.
    #[test]
    fn evaluate_parts_checks_lengths() {
        let c = relu_batch_circuit(4, 10, false).unwrap();
        let (mut gs, tweak, mut rng) = bench_session(3);
        let (gc, enc, _) = gs.garble(&c, &mut rng).unwrap();
        let tables: Vec<Block> = bytemuck::cast_slice(gc.as_bytes()).to_vec();
        let labels = enc
            .encode_all(
                &vec![false; c.garbler_inputs()],
                &vec![true; c.evaluator_inputs()],
            )
            .unwrap();
        let mut table = WireTable::new();
        let mut out = Vec::new();
        let mut es = EvaluatorSession::new(tweak);
        let short = &labels[1..];
        assert!(matches!(
            es.evaluate_parts(&c, &[short], &tables, &mut table, &mut out),
            Err(Error::LengthMismatch { .. })
        ));
        assert!(matches!(
            es.evaluate_parts(&c, &[&labels], &tables[2..], &mut table, &mut out),
            Err(Error::TruncatedStream { .. })
        ));
        assert!(matches!(
            es.evaluate_parts(&c, &[&labels], &tables[1..], &mut table, &mut out),
            Err(Error::PartialTable { .. })
        ));
        let mut more = tables.clone();
        more.extend_from_slice(&tables[..2]);
        assert!(matches!(
            es.evaluate_parts(&c, &[&labels], &more, &mut table, &mut out),
            Err(Error::TooManyTables { .. })
        ));
        assert!(out.is_empty());
    }
}
