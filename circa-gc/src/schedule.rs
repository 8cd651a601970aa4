//! Level schedule: the gates reordered so that AND gates come in runs of independent gates.
//!
//! The AND-depth of a wire is 0 for inputs, `max(depth of inputs)` for XOR/NOT outputs and one more
//! for AND outputs. Gates are emitted level by level: first the free gates whose output has depth
//! `L` (in their original order), then every AND gate whose inputs have depth at most `L` and at
//! least one exactly `L`. The AND gates of one run are independent, so their hashes are batched.
//!
//! Wire slots: the garbler and evaluator keep one label per *live* wire, not one per wire id. Walking
//! the reordered gates, a wire's slot is released after its last reader and reused (most recently
//! released first, so the slot is likely still in cache) for the next gate output; outputs are never
//! released. The wire table then has [`Schedule::num_slots`] entries -- about the peak number of live
//! wires -- instead of `num_wires`: for many small circuits side by side (a batch of ReLU
//! comparators) that keeps it in cache. Input wire `i` keeps slot `i`.
//!
//! This is sound for batched AND runs because every gate of a run reads its inputs before any gate
//! of the run writes its output, and a slot is only reused after the last read of its wire.

use crate::circuit::{Circuit, Gate, GateKind};

/// A run of gates in the schedule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Segment {
    /// Range in [`Schedule::gates`].
    pub start: usize,
    /// End of the range (exclusive).
    pub end: usize,
    /// Whether the run is of (independent) AND gates; otherwise of free gates.
    pub and: bool,
}

/// The reordered gates (over wire slots, see the module docs) and their runs; computed once per
/// circuit.
#[derive(Clone, Debug, Default)]
pub(crate) struct Schedule {
    /// The gates in schedule order, their wire ids replaced by slots.
    pub gates: Vec<Gate>,
    pub segments: Vec<Segment>,
    /// Size of the wire table: slots `0..num_slots` (at least the number of input wires).
    pub num_slots: usize,
    /// The slot holding each circuit output at the end.
    pub output_slots: Vec<u32>,
}

impl Schedule {
    /// The circuit's output labels (or zero-labels) in the wire table `w` after the last gate.
    pub(crate) fn output_labels<'a>(
        &'a self,
        w: &'a [crate::garble::Lanes],
    ) -> impl Iterator<Item = crate::Label> + 'a {
        self.output_slots
            .iter()
            .map(|&o| crate::Label::from_block(crate::garble::block(w[o as usize])))
    }

    pub(crate) fn new(circuit: &Circuit) -> Schedule {
        let gates = circuit.gates();
        let mut depth = vec![0u32; circuit.num_wires()];
        // Per gate: (bucket, is_and). Bucket 2L is the free gates of level L, 2L+1 the AND gates.
        let mut bucket = Vec::with_capacity(gates.len());
        let mut max_bucket = 0usize;
        for g in gates {
            let d = depth[g.a as usize].max(depth[g.b as usize]);
            let b = if g.kind == GateKind::And {
                depth[g.out as usize] = d + 1;
                2 * d as usize + 1
            } else {
                depth[g.out as usize] = d;
                2 * d as usize
            };
            max_bucket = max_bucket.max(b);
            bucket.push(b as u32);
        }
        drop(depth);
        // Counting sort by bucket, stable.
        let mut start = vec![0usize; max_bucket + 2];
        for &b in &bucket {
            start[b as usize + 1] += 1;
        }
        for i in 1..start.len() {
            start[i] += start[i - 1];
        }
        let mut segments = Vec::new();
        for b in 0..=max_bucket {
            if start[b] < start[b + 1] {
                segments.push(Segment {
                    start: start[b],
                    end: start[b + 1],
                    and: b % 2 == 1,
                });
            }
        }
        let mut ordered = vec![Gate::xor(0, 0, 0); gates.len()];
        let mut next = start;
        for (g, &b) in gates.iter().zip(&bucket) {
            ordered[next[b as usize]] = *g;
            next[b as usize] += 1;
        }
        let (num_slots, output_slots) = assign_slots(circuit, &mut ordered);
        Schedule {
            gates: ordered,
            segments,
            num_slots,
            output_slots,
        }
    }
}

/// Rewrites the wire ids of `gates` (a valid evaluation order of `circuit`'s gates) to slots,
/// releasing a slot after the last read of its wire; returns the slot count and the output slots.
fn assign_slots(circuit: &Circuit, gates: &mut [Gate]) -> (usize, Vec<u32>) {
    const NEVER: u32 = u32::MAX;
    const KEEP: u32 = u32::MAX - 1;
    // last[w]: position of the last gate reading w; NEVER if none, KEEP for outputs.
    let mut last = vec![NEVER; circuit.num_wires()];
    for (k, g) in gates.iter().enumerate() {
        last[g.a as usize] = k as u32;
        last[g.b as usize] = k as u32;
    }
    for &o in circuit.outputs() {
        last[o as usize] = KEEP;
    }
    let inputs = circuit.garbler_inputs() + circuit.evaluator_inputs();
    // slot[w] for defined wires; inputs keep their ids.
    let mut slot: Vec<u32> = (0..circuit.num_wires() as u32).collect();
    let mut free: Vec<u32> = (0..inputs as u32)
        .rev()
        .filter(|&w| last[w as usize] == NEVER)
        .collect();
    let mut num_slots = inputs as u32;
    for (k, g) in gates.iter_mut().enumerate() {
        let (a, b, out) = (g.a as usize, g.b as usize, g.out as usize);
        g.a = slot[a];
        g.b = slot[b];
        if last[a] == k as u32 {
            free.push(slot[a]);
        }
        if b != a && last[b] == k as u32 {
            free.push(slot[b]);
        }
        let s = free.pop().unwrap_or_else(|| {
            num_slots += 1;
            num_slots - 1
        });
        slot[out] = s;
        g.out = s;
        if last[out] == NEVER {
            free.push(s); // never read: the slot is free again at once
        }
    }
    let outputs = circuit
        .outputs()
        .iter()
        .map(|&o| slot[o as usize])
        .collect();
    (num_slots as usize, outputs)
}

/// One step of a walk through a schedule.
pub(crate) enum Step<'s> {
    /// A whole run of free gates.
    Free(&'s [Gate]),
    /// Up to the requested number of independent AND gates; `first_and` is the schedule position
    /// among AND gates of the first one (its tweaks are `2 * first_and` and `2 * first_and + 1`,
    /// relative to the circuit's tweak base).
    And { gates: &'s [Gate], first_and: u64 },
}

/// A position in a schedule.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Cursor {
    segment: usize,
    offset: usize,
    ands_done: u64,
}

impl Cursor {
    /// The next step, taking at most `max_ands` AND gates; `None` at the end, or when the next step is
    /// an AND run and `max_ands` is 0.
    pub(crate) fn next_step<'s>(&mut self, s: &'s Schedule, max_ands: usize) -> Option<Step<'s>> {
        let seg = *s.segments.get(self.segment)?;
        if !seg.and {
            self.segment += 1;
            return Some(Step::Free(&s.gates[seg.start..seg.end]));
        }
        let from = seg.start + self.offset;
        let take = (seg.end - from).min(max_ands);
        if take == 0 {
            return None;
        }
        let first_and = self.ands_done;
        self.ands_done += take as u64;
        self.offset += take;
        if seg.start + self.offset == seg.end {
            self.segment += 1;
            self.offset = 0;
        }
        Some(Step::And {
            gates: &s.gates[from..from + take],
            first_and,
        })
    }

    /// Whether every gate has been visited.
    pub(crate) fn done(&self, s: &Schedule) -> bool {
        self.segment == s.segments.len()
    }

    /// AND gates visited so far.
    pub(crate) fn ands_done(&self) -> u64 {
        self.ands_done
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CircuitBuilder;

    /// Runs the schedule in the clear the way the garbler and evaluator do (free gates in order; an
    /// AND run reads all its inputs before writing any output) on a table of `num_slots` bits.
    fn eval_schedule(sched: &Schedule, inputs: &[bool]) -> Vec<bool> {
        let mut w = vec![false; sched.num_slots];
        w[..inputs.len()].copy_from_slice(inputs);
        for seg in &sched.segments {
            let gates = &sched.gates[seg.start..seg.end];
            if seg.and {
                let vals: Vec<bool> = gates
                    .iter()
                    .map(|g| w[g.a as usize] & w[g.b as usize])
                    .collect();
                for (g, v) in gates.iter().zip(vals) {
                    w[g.out as usize] = v;
                }
            } else {
                for g in gates {
                    w[g.out as usize] = match g.kind {
                        GateKind::Not => !w[g.a as usize],
                        _ => w[g.a as usize] ^ w[g.b as usize],
                    };
                }
            }
        }
        sched.output_slots.iter().map(|&o| w[o as usize]).collect()
    }

    fn sample_circuit() -> Circuit {
        let mut b = CircuitBuilder::new();
        let x = b.garbler_input(16);
        let y = b.evaluator_input(16);
        let s = b.add(&x, &y);
        let p = b.and_words(&x, &y); // 16 independent ANDs at level 0
        let e = b.eq(&s, &p);
        let g = b.ge(&x, &y);
        b.output(&[e, g]);
        b.output(&s[..3]);
        b.output(&x[..2]);
        b.finish().unwrap()
    }

    #[test]
    fn schedule_is_a_valid_topological_order_with_batched_ands() {
        let c = sample_circuit();
        let sched = Schedule::new(&c);
        let mut defined = vec![false; sched.num_slots];
        defined[..32].fill(true);
        let mut ands = 0;
        for seg in &sched.segments {
            for g in &sched.gates[seg.start..seg.end] {
                assert!(defined[g.a as usize] && defined[g.b as usize]);
                assert_eq!(g.kind == GateKind::And, seg.and);
                ands += usize::from(seg.and);
                if !seg.and {
                    defined[g.out as usize] = true; // free gates may feed each other in order
                }
            }
            for g in &sched.gates[seg.start..seg.end] {
                defined[g.out as usize] = true; // AND gates of a run are independent
            }
        }
        assert_eq!(ands, c.and_count());
        let first_and_run = sched.segments.iter().find(|s| s.and).unwrap();
        assert!(first_and_run.end - first_and_run.start >= 17);
    }

    #[test]
    fn reused_slots_compute_the_circuit() {
        let c = sample_circuit();
        let sched = Schedule::new(&c);
        assert!(sched.num_slots < c.num_wires());
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..200 {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let bits: Vec<bool> = (0..32).map(|i| (state >> (i + 16)) & 1 == 1).collect();
            assert_eq!(
                eval_schedule(&sched, &bits),
                c.eval_plain(&bits[..16], &bits[16..]).unwrap()
            );
        }
    }

    #[test]
    fn dead_and_repeated_wires_and_unused_inputs() {
        // Wire 3 is never read (dead), input 1 is unused, wire 4 is read twice by one gate, an
        // input is an output, and an output is repeated.
        let gates = vec![
            Gate::and(0, 0, 3),
            Gate::xor(0, 2, 4),
            Gate::and(4, 4, 5),
            Gate::not(5, 6),
            Gate::and(5, 6, 7),
        ];
        let c = Circuit::new(8, 1, 2, gates, vec![7, 0, 7, 6]).unwrap();
        let sched = Schedule::new(&c);
        for x in 0..8u32 {
            let bits: Vec<bool> = (0..3).map(|i| (x >> i) & 1 == 1).collect();
            assert_eq!(
                eval_schedule(&sched, &bits),
                c.eval_plain(&bits[..1], &bits[1..]).unwrap()
            );
        }
    }
}
