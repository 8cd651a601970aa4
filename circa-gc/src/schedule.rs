//! Level schedule: the gates reordered so that AND gates come in runs of independent gates.
//!
//! The AND-depth of a wire is 0 for inputs, `max(depth of inputs)` for XOR/NOT outputs and one more
//! for AND outputs. Gates are emitted level by level: first the free gates whose output has depth
//! `L` (in their original order), then every AND gate whose inputs have depth at most `L` and at
//! least one exactly `L`. The AND gates of one run are independent, so their hashes are batched.

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

/// The reordered gates and their runs; computed once per circuit.
#[derive(Clone, Debug, Default)]
pub(crate) struct Schedule {
    pub gates: Vec<Gate>,
    pub segments: Vec<Segment>,
}

impl Schedule {
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
        Schedule {
            gates: ordered,
            segments,
        }
    }
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

    #[test]
    fn schedule_is_a_valid_topological_order_with_batched_ands() {
        let mut b = CircuitBuilder::new();
        let x = b.garbler_input(16);
        let y = b.evaluator_input(16);
        let s = b.add(&x, &y);
        let p = b.and_words(&x, &y); // 16 independent ANDs at level 0
        let e = b.eq(&s, &p);
        b.output(&[e]);
        let c = b.finish().unwrap();
        let sched = Schedule::new(&c);
        let mut defined = vec![false; c.num_wires()];
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
}
