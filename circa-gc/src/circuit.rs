//! Boolean circuits of XOR, AND and NOT gates, validated on construction, and the plaintext evaluator.

use std::sync::{Arc, Mutex, OnceLock};

use crate::error::Error;
use crate::parallel::Partition;
use crate::schedule::Schedule;

/// The lazily computed level schedule of a circuit (ignored by equality and `Debug`).
#[derive(Clone, Default)]
struct ScheduleCache(OnceLock<Schedule>);

impl PartialEq for ScheduleCache {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}
impl Eq for ScheduleCache {}
impl core::fmt::Debug for ScheduleCache {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("..")
    }
}

/// The last partition of the circuit for parallel garbling, with its group count (ignored by
/// equality, `Debug` and `Clone`).
#[derive(Default)]
struct PartitionCache(Mutex<Option<(usize, Arc<Partition>)>>);

impl Clone for PartitionCache {
    fn clone(&self) -> Self {
        PartitionCache::default()
    }
}
impl PartialEq for PartitionCache {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}
impl Eq for PartitionCache {}
impl core::fmt::Debug for PartitionCache {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("..")
    }
}

/// The operation of a gate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GateKind {
    /// `out = a ^ b` (free under free-XOR).
    Xor,
    /// `out = a & b` (one half-gates table).
    And,
    /// `out = !a` (free; `b` is ignored and equals `a`).
    Not,
}

/// One gate: `out = kind(a, b)`. Wire ids index the circuit's wire table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Gate {
    /// The operation.
    pub kind: GateKind,
    /// First input wire.
    pub a: u32,
    /// Second input wire (equal to `a` for [`GateKind::Not`]).
    pub b: u32,
    /// Output wire.
    pub out: u32,
}

impl Gate {
    /// `out = a ^ b`.
    pub const fn xor(a: u32, b: u32, out: u32) -> Gate {
        Gate {
            kind: GateKind::Xor,
            a,
            b,
            out,
        }
    }
    /// `out = a & b`.
    pub const fn and(a: u32, b: u32, out: u32) -> Gate {
        Gate {
            kind: GateKind::And,
            a,
            b,
            out,
        }
    }
    /// `out = !a`.
    pub const fn not(a: u32, out: u32) -> Gate {
        Gate {
            kind: GateKind::Not,
            a,
            b: a,
            out,
        }
    }
}

/// Largest wire count a circuit may have (wire ids are `u32`).
pub const MAX_WIRES: u64 = u32::MAX as u64;

/// A validated Boolean circuit.
///
/// Wires `0..garbler_inputs` are the garbler's inputs, the next `evaluator_inputs` wires are the
/// evaluator's; every other wire is written by exactly one gate, after all wires it reads are defined.
/// Outputs are a list of defined wires (repetitions allowed), optionally split into groups (as in
/// Bristol Fashion).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Circuit {
    num_wires: usize,
    garbler_inputs: usize,
    evaluator_inputs: usize,
    gates: Vec<Gate>,
    outputs: Vec<u32>,
    output_groups: Vec<usize>,
    and_count: usize,
    schedule: ScheduleCache,
    partition: PartitionCache,
}

impl Circuit {
    /// Builds and validates a circuit with one output group.
    pub fn new(
        num_wires: usize,
        garbler_inputs: usize,
        evaluator_inputs: usize,
        gates: Vec<Gate>,
        outputs: Vec<u32>,
    ) -> Result<Circuit, Error> {
        let groups = vec![outputs.len()];
        Circuit::with_output_groups(
            num_wires,
            garbler_inputs,
            evaluator_inputs,
            gates,
            outputs,
            groups,
        )
    }

    /// Builds and validates a circuit whose outputs are split into groups of the given sizes.
    pub fn with_output_groups(
        num_wires: usize,
        garbler_inputs: usize,
        evaluator_inputs: usize,
        gates: Vec<Gate>,
        outputs: Vec<u32>,
        output_groups: Vec<usize>,
    ) -> Result<Circuit, Error> {
        if num_wires as u64 > MAX_WIRES {
            return Err(Error::TooManyWires {
                count: num_wires as u64,
                max: MAX_WIRES,
            });
        }
        let inputs = garbler_inputs
            .checked_add(evaluator_inputs)
            .filter(|&n| n <= num_wires)
            .ok_or(Error::TooManyWires {
                count: (garbler_inputs as u64).saturating_add(evaluator_inputs as u64),
                max: num_wires as u64,
            })?;
        let grouped: usize = output_groups
            .iter()
            .fold(0usize, |acc, &g| acc.saturating_add(g));
        if grouped != outputs.len() {
            return Err(Error::LengthMismatch {
                what: "output group sizes",
                expected: outputs.len(),
                actual: grouped,
            });
        }
        let mut defined = vec![false; num_wires];
        defined[..inputs].fill(true);
        let mut and_count = 0;
        for (i, g) in gates.iter().enumerate() {
            for w in [g.a, g.b, g.out] {
                if w as usize >= num_wires {
                    return Err(Error::WireOutOfRange {
                        gate: i,
                        wire: w,
                        num_wires,
                    });
                }
            }
            for w in [g.a, g.b] {
                if !defined[w as usize] {
                    return Err(Error::WireUndefined { gate: i, wire: w });
                }
            }
            if g.kind == GateKind::Not && g.a != g.b {
                return Err(Error::WireUndefined { gate: i, wire: g.b });
            }
            if defined[g.out as usize] {
                return Err(Error::WireWrittenTwice {
                    gate: i,
                    wire: g.out,
                });
            }
            defined[g.out as usize] = true;
            and_count += usize::from(g.kind == GateKind::And);
        }
        for (index, &w) in outputs.iter().enumerate() {
            if !defined.get(w as usize).copied().unwrap_or(false) {
                return Err(Error::OutputUndefined { index, wire: w });
            }
        }
        Ok(Circuit {
            num_wires,
            garbler_inputs,
            evaluator_inputs,
            gates,
            outputs,
            output_groups,
            and_count,
            schedule: ScheduleCache::default(),
            partition: PartitionCache::default(),
        })
    }

    /// Number of wires (size of the wire table).
    pub fn num_wires(&self) -> usize {
        self.num_wires
    }
    /// Number of garbler input bits (wires `0..garbler_inputs()`).
    pub fn garbler_inputs(&self) -> usize {
        self.garbler_inputs
    }
    /// Number of evaluator input bits (the wires after the garbler's).
    pub fn evaluator_inputs(&self) -> usize {
        self.evaluator_inputs
    }
    /// The gates in evaluation order.
    pub fn gates(&self) -> &[Gate] {
        &self.gates
    }
    /// The output wires.
    pub fn outputs(&self) -> &[u32] {
        &self.outputs
    }
    /// Sizes of the output groups (they sum to `outputs().len()`).
    pub fn output_groups(&self) -> &[usize] {
        &self.output_groups
    }
    /// Number of AND gates (each costs one garbled table of 32 bytes).
    pub fn and_count(&self) -> usize {
        self.and_count
    }
    /// Number of XOR gates (free).
    pub fn xor_count(&self) -> usize {
        self.gates
            .iter()
            .filter(|g| g.kind == GateKind::Xor)
            .count()
    }
    /// Number of NOT gates (free).
    pub fn not_count(&self) -> usize {
        self.gates
            .iter()
            .filter(|g| g.kind == GateKind::Not)
            .count()
    }

    /// Entries in the garbler's and the evaluator's wire table (16 bytes each): the peak number of
    /// live wires of the evaluation schedule, usually far below [`Circuit::num_wires`] (wire slots
    /// are reused once their wire has been read for the last time). Computed on first use.
    pub fn wire_slots(&self) -> usize {
        self.schedule().num_slots
    }

    /// The level schedule used by the garbler and evaluator (computed on first use).
    pub(crate) fn schedule(&self) -> &Schedule {
        self.schedule.0.get_or_init(|| Schedule::new(self))
    }

    /// The schedule split into at most `groups` groups of independent gates for parallel
    /// garbling (the last one computed is kept).
    pub(crate) fn partition(&self, groups: usize) -> Arc<Partition> {
        let mut cache = self
            .partition
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((n, p)) = cache.as_ref()
            && *n == groups
        {
            return Arc::clone(p);
        }
        let inputs = self.garbler_inputs + self.evaluator_inputs;
        let p = Arc::new(Partition::new(self.schedule(), inputs, groups));
        *cache = Some((groups, Arc::clone(&p)));
        p
    }

    /// Evaluates the circuit in the clear: the oracle for every garbling test.
    pub fn eval_plain(
        &self,
        garbler_input: &[bool],
        evaluator_input: &[bool],
    ) -> Result<Vec<bool>, Error> {
        check_len("garbler input", self.garbler_inputs, garbler_input.len())?;
        check_len(
            "evaluator input",
            self.evaluator_inputs,
            evaluator_input.len(),
        )?;
        let mut w = vec![false; self.num_wires];
        w[..self.garbler_inputs].copy_from_slice(garbler_input);
        w[self.garbler_inputs..self.garbler_inputs + self.evaluator_inputs]
            .copy_from_slice(evaluator_input);
        for g in &self.gates {
            let (a, b) = (w[g.a as usize], w[g.b as usize]);
            w[g.out as usize] = match g.kind {
                GateKind::Xor => a ^ b,
                GateKind::And => a & b,
                GateKind::Not => !a,
            };
        }
        Ok(self.outputs.iter().map(|&o| w[o as usize]).collect())
    }
}

pub(crate) fn check_len(what: &'static str, expected: usize, actual: usize) -> Result<(), Error> {
    if expected == actual {
        Ok(())
    } else {
        Err(Error::LengthMismatch {
            what,
            expected,
            actual,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates_wires() {
        // 2 inputs, and + not.
        let ok = Circuit::new(
            4,
            1,
            1,
            vec![Gate::and(0, 1, 2), Gate::not(2, 3)],
            vec![3, 0],
        )
        .unwrap();
        assert_eq!(ok.and_count(), 1);
        assert_eq!(ok.eval_plain(&[true], &[true]).unwrap(), vec![false, true]);
        assert_eq!(ok.eval_plain(&[true], &[false]).unwrap(), vec![true, true]);
        assert!(matches!(
            Circuit::new(3, 1, 1, vec![Gate::and(0, 1, 3)], vec![]),
            Err(Error::WireOutOfRange {
                gate: 0,
                wire: 3,
                ..
            })
        ));
        assert!(matches!(
            Circuit::new(4, 1, 1, vec![Gate::and(0, 3, 2)], vec![]),
            Err(Error::WireUndefined { gate: 0, wire: 3 })
        ));
        assert!(matches!(
            Circuit::new(
                4,
                1,
                1,
                vec![Gate::and(0, 1, 2), Gate::xor(0, 1, 2)],
                vec![]
            ),
            Err(Error::WireWrittenTwice { gate: 1, wire: 2 })
        ));
        assert!(matches!(
            Circuit::new(4, 1, 1, vec![Gate::xor(0, 1, 1)], vec![]),
            Err(Error::WireWrittenTwice { gate: 0, wire: 1 })
        ));
        assert!(matches!(
            Circuit::new(4, 1, 1, vec![Gate::and(0, 1, 2)], vec![3]),
            Err(Error::OutputUndefined { index: 0, wire: 3 })
        ));
        assert!(matches!(
            Circuit::new(1, 1, 1, vec![], vec![]),
            Err(Error::TooManyWires { .. })
        ));
        assert!(matches!(
            ok.eval_plain(&[], &[true]),
            Err(Error::LengthMismatch {
                expected: 1,
                actual: 0,
                ..
            })
        ));
    }
}
