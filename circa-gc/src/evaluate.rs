//! Half-gates evaluation (see [`crate::garble`] for the scheme), streamed: tables are consumed as
//! they arrive, in any chunking.

use circa_ot::{Block, TweakableHash};
use zeroize::Zeroizing;

use crate::circuit::{Circuit, Gate, GateKind, check_len};
use crate::error::Error;
use crate::garble::{
    AND_BATCH, BLOCKS_PER_AND, GarbledCircuit, HashScratch, Lanes, block, lanes, reserve_tweaks,
    xor,
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
    fn run(&mut self, mut tables: &[Block]) {
        loop {
            let room = (tables.len() / BLOCKS_PER_AND).min(AND_BATCH);
            match self.cursor.next_step(self.schedule, room) {
                None => break,
                Some(Step::Free(gates)) => {
                    let w = &mut self.wires;
                    for g in gates {
                        w[g.out as usize] = match g.kind {
                            GateKind::Not => w[g.a as usize],
                            _ => xor(w[g.a as usize], w[g.b as usize]),
                        };
                    }
                }
                Some(Step::And { gates, first_and }) => {
                    let (now, rest) = tables.split_at(gates.len() * BLOCKS_PER_AND);
                    let tweak = self.tweak_base + 2 * first_and;
                    eval_ands(
                        &self.hash,
                        &mut self.wires,
                        gates,
                        tweak,
                        &mut self.scratch,
                        now,
                    );
                    tables = rest;
                }
            }
        }
    }

    /// Ends evaluation and returns the output labels; fails if tables are missing.
    pub fn finish(self) -> Result<Vec<Label>, Error> {
        if !self.cursor.done(self.schedule) {
            return Err(Error::TruncatedStream {
                expected: self.circuit.and_count() as u64,
                actual: self.cursor.ands_done(),
            });
        }
        Ok(self
            .schedule
            .output_slots
            .iter()
            .map(|&o| Label::from_block(block(self.wires[o as usize])))
            .collect())
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
