//! Garbling one circuit on several threads, with exactly the tables and labels of the sequential
//! garbler.
//!
//! A circuit of many independent parts (a chunk of ReLU comparators, an AND stream) splits into
//! connected components: gates linked through gate outputs (inputs are read-only and shared, so
//! they link nothing). [`Partition`] deals the components out to groups of about equal work, in
//! order, and gives each group its gates in schedule order. Each thread garbles one group with its
//! own wire table (indexed by the schedule's slots: a slot another group also uses holds that
//! group's wire in that group's table, so private tables never interfere) and writes its AND tables
//! straight into their places in the shared table buffer, which is split into disjoint slices by
//! schedule position beforehand. Every AND gate keeps its tweak (`base + 2j` and `+ 1` for
//! schedule position `j`) and its input labels, so the result does not depend on the number of
//! threads: tests compare it with the sequential garbler bit for bit.

use circa_ot::{Block, TweakableHash};

use crate::circuit::{Gate, GateKind};
use crate::garble::{
    AND_BATCH, BLOCKS_PER_AND, HashScratch, Lanes, block, garble_ands_into, garble_free, lanes,
};
use crate::schedule::Schedule;

/// One group's share of the schedule, over its own compact slot numbering: the global slots it
/// touches, renumbered in order of first use (a global slot reused over time stays one local slot,
/// which is sound because the group sees the same order of writes and last reads).
#[derive(Debug, Default)]
pub(crate) struct Group {
    /// Runs in schedule order.
    steps: Vec<GroupStep>,
    /// Size of the group's wire table.
    num_slots: usize,
    /// `(local slot, input index)` for the circuit inputs the group reads.
    inputs: Vec<(u32, u32)>,
    /// `(output index, local slot)` for the circuit outputs this group computes.
    outputs: Vec<(usize, u32)>,
}

impl Group {
    /// Renumbers the group's slots (see the type docs) and records the inputs it reads and the
    /// outputs (`(output index, global slot)`) it computes.
    fn localise(&mut self, global_slots: usize, inputs: usize, outputs: Vec<(usize, u32)>) {
        const NONE: u32 = u32::MAX;
        let mut local = vec![NONE; global_slots];
        let mut written = vec![false; global_slots];
        let mut n = 0u32;
        let mut map = |s: u32, local: &mut [u32]| {
            if local[s as usize] == NONE {
                local[s as usize] = n;
                n += 1;
            }
            local[s as usize]
        };
        for step in &mut self.steps {
            let (gates, and) = match step {
                GroupStep::Free(g) => (g, false),
                GroupStep::And { gates, .. } => (gates, true),
            };
            // An AND run reads all its inputs before writing any output.
            let reads = |g: &Gate| [g.a, g.b];
            if and {
                for g in gates.iter() {
                    for s in reads(g) {
                        if !written[s as usize]
                            && (s as usize) < inputs
                            && local[s as usize] == NONE
                        {
                            let l = map(s, &mut local);
                            self.inputs.push((l, s));
                        }
                    }
                }
            }
            for g in gates.iter_mut() {
                for s in reads(g) {
                    if !written[s as usize] && (s as usize) < inputs && local[s as usize] == NONE {
                        let l = map(s, &mut local);
                        self.inputs.push((l, s));
                    }
                }
                g.a = map(g.a, &mut local);
                g.b = map(g.b, &mut local);
                written[g.out as usize] = true;
                g.out = map(g.out, &mut local);
            }
        }
        self.outputs = outputs
            .into_iter()
            .map(|(i, s)| {
                if !written[s as usize] && local[s as usize] == NONE {
                    // An output that is an input the group never otherwise read.
                    let l = map(s, &mut local);
                    self.inputs.push((l, s));
                }
                (i, local[s as usize])
            })
            .collect();
        self.num_slots = n as usize;
        // Copied in input order: the input labels are read as one stream.
        self.inputs.sort_unstable_by_key(|&(_, i)| i);
    }
}

/// A run of one group's gates.
#[derive(Debug)]
enum GroupStep {
    /// Free gates, in schedule order.
    Free(Vec<Gate>),
    /// Independent AND gates at consecutive schedule positions starting at `first_and`.
    And { gates: Vec<Gate>, first_and: u64 },
}

/// The groups of a circuit for a number of threads.
#[derive(Debug)]
pub(crate) struct Partition {
    pub(crate) groups: Vec<Group>,
}

/// Relative cost of a gate when balancing groups (an AND gate hashes four labels).
fn weight(g: &Gate) -> u64 {
    if g.kind == GateKind::And { 16 } else { 1 }
}

fn find(parent: &mut [u32], mut x: u32) -> u32 {
    while parent[x as usize] != x {
        let p = parent[x as usize];
        parent[x as usize] = parent[p as usize];
        x = p;
    }
    x
}

impl Partition {
    /// Splits `schedule` (of a circuit with `inputs` input wires) into at most `groups` groups
    /// (fewer if it has fewer components).
    pub(crate) fn new(schedule: &Schedule, inputs: usize, groups: usize) -> Partition {
        let gates = &schedule.gates;
        const NONE: u32 = u32::MAX;
        // Union-find over schedule positions; `owner[slot]` is the gate whose output the slot holds
        // at this point of the walk (NONE for an input or an unused slot).
        let mut parent: Vec<u32> = (0..gates.len() as u32).collect();
        let mut owner = vec![NONE; schedule.num_slots];
        for (k, g) in gates.iter().enumerate() {
            for s in [g.a, g.b] {
                let o = owner[s as usize];
                if o != NONE {
                    let (ra, rb) = (find(&mut parent, k as u32), find(&mut parent, o));
                    if ra != rb {
                        parent[ra.max(rb) as usize] = ra.min(rb);
                    }
                }
            }
            owner[g.out as usize] = k as u32;
        }
        let owner_at_end = owner;
        // Components in order of first appearance, dealt out by cumulative weight.
        let total: u64 = gates.iter().map(weight).sum();
        let groups = groups.max(1);
        let mut group_of_root = vec![NONE; gates.len()];
        let mut component_weight = vec![0u64; gates.len()];
        let mut roots = Vec::new();
        for (k, g) in gates.iter().enumerate() {
            let r = find(&mut parent, k as u32) as usize;
            if component_weight[r] == 0 {
                roots.push(r);
            }
            component_weight[r] += weight(g);
        }
        let mut acc = 0u64;
        let mut used = 0usize;
        for &r in &roots {
            let g = ((acc * groups as u64) / total.max(1)) as usize;
            group_of_root[r] = g as u32;
            used = used.max(g + 1);
            acc += component_weight[r];
        }
        let mut out = Partition {
            groups: (0..used.max(1)).map(|_| Group::default()).collect(),
        };
        let group_of =
            |parent: &mut [u32], k: usize| group_of_root[find(parent, k as u32) as usize];
        let mut and_pos = 0u64;
        for seg in &schedule.segments {
            for k in seg.start..seg.end {
                let grp = &mut out.groups[group_of(&mut parent, k) as usize];
                let g = gates[k];
                if seg.and {
                    let pos = and_pos + (k - seg.start) as u64;
                    match grp.steps.last_mut() {
                        Some(GroupStep::And { gates, first_and })
                            if *first_and + gates.len() as u64 == pos =>
                        {
                            gates.push(g)
                        }
                        _ => grp.steps.push(GroupStep::And {
                            gates: vec![g],
                            first_and: pos,
                        }),
                    }
                } else {
                    match grp.steps.last_mut() {
                        Some(GroupStep::Free(gates)) => gates.push(g),
                        _ => grp.steps.push(GroupStep::Free(vec![g])),
                    }
                }
            }
            if seg.and {
                and_pos += (seg.end - seg.start) as u64;
            }
        }
        // Output slots are never reused: the gate that last wrote one computed the output. An
        // output that is an input wire is read by group 0 from its own table.
        let mut output_of: Vec<Vec<(usize, u32)>> = vec![Vec::new(); out.groups.len()];
        for (i, &slot) in schedule.output_slots.iter().enumerate() {
            let o = owner_at_end[slot as usize];
            let g = if o == NONE {
                0
            } else {
                group_of(&mut parent, o as usize)
            };
            output_of[g as usize].push((i, slot));
        }
        for (grp, outs) in out.groups.iter_mut().zip(output_of) {
            grp.localise(schedule.num_slots, inputs, outs);
        }
        out
    }
    /// The AND runs of every group, in schedule order, as `(group, first_and, len)`.
    fn runs(&self) -> Vec<(usize, u64, usize)> {
        let mut runs: Vec<(usize, u64, usize)> = self
            .groups
            .iter()
            .enumerate()
            .flat_map(|(gi, g)| {
                g.steps.iter().filter_map(move |s| match s {
                    GroupStep::And { gates, first_and } => Some((gi, *first_and, gates.len())),
                    GroupStep::Free(_) => None,
                })
            })
            .collect();
        runs.sort_by_key(|r| r.1);
        runs
    }
}

/// Garbles `partition` on one thread per group (group 0 on the calling thread): `inputs` holds
/// the input zero-labels (by input index), `tables` receives `BLOCKS_PER_AND` blocks per AND gate
/// in schedule order, and the output zero-labels go to `outputs` (by output index).
pub(crate) fn garble_groups(
    partition: &Partition,
    hash: &TweakableHash,
    delta: Lanes,
    tweak_base: u64,
    inputs: &[Block],
    tables: &mut [Block],
    outputs: &mut [Block],
) {
    // Split the table buffer into one slice per AND run and hand each to its group.
    let mut pieces: Vec<Vec<&mut [Block]>> = partition.groups.iter().map(|_| Vec::new()).collect();
    let mut rest = tables;
    for (g, _, len) in partition.runs() {
        let (now, later) = rest.split_at_mut(len * BLOCKS_PER_AND);
        pieces[g].push(now);
        rest = later;
    }
    let job = |group: &Group, pieces: Vec<&mut [Block]>| {
        garble_group(group, hash, delta, tweak_base, inputs, pieces)
    };
    let results: Vec<Vec<(usize, Block)>> = std::thread::scope(|s| {
        let mut pieces = pieces.into_iter();
        let first = pieces.next().unwrap_or_default();
        let handles: Vec<_> = partition.groups[1..]
            .iter()
            .zip(pieces)
            .map(|(group, p)| s.spawn(move || job(group, p)))
            .collect();
        let mut results = vec![job(&partition.groups[0], first)];
        for h in handles {
            // A panic in a worker is a bug here (all inputs were checked); propagate it.
            results.push(h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)));
        }
        results
    });
    for (i, label) in results.into_iter().flatten() {
        outputs[i] = label;
    }
}

/// One group on the current thread, with a private wire table (wiped on drop).
fn garble_group(
    group: &Group,
    hash: &TweakableHash,
    delta: Lanes,
    tweak_base: u64,
    inputs: &[Block],
    pieces: Vec<&mut [Block]>,
) -> Vec<(usize, Block)> {
    let mut wires = zeroize::Zeroizing::new(vec![[0u64; 2]; group.num_slots]);
    for &(l, i) in &group.inputs {
        wires[l as usize] = lanes(inputs[i as usize]);
    }
    let mut scratch = HashScratch::new();
    let mut pieces = pieces.into_iter();
    for step in &group.steps {
        match step {
            GroupStep::Free(gates) => garble_free(&mut wires, gates, delta),
            GroupStep::And { gates, first_and } => {
                let piece = pieces.next().expect("one table slice per AND run");
                for (k, (batch, out)) in gates
                    .chunks(AND_BATCH)
                    .zip(piece.chunks_mut(AND_BATCH * BLOCKS_PER_AND))
                    .enumerate()
                {
                    let first = first_and + (k * AND_BATCH) as u64;
                    garble_ands_into(
                        hash,
                        delta,
                        &mut wires,
                        batch,
                        tweak_base + 2 * first,
                        &mut scratch,
                        out,
                    );
                }
            }
        }
    }
    group
        .outputs
        .iter()
        .map(|&(i, slot)| (i, block(wires[slot as usize])))
        .collect()
}

#[cfg(test)]
mod tests {
    use crate::bench_support::{and_stream_circuit, bench_session, relu_batch_circuit};
    use crate::{Circuit, CircuitBuilder, EvaluatorSession, Label};
    use circa_ot::Block;

    /// A circuit with two independent parts, an output that is an input wire and one that is a
    /// NOT of an input (no AND), and parts that share an input.
    fn mixed() -> Circuit {
        let mut b = CircuitBuilder::new();
        let x = b.garbler_input(8);
        let y = b.evaluator_input(8);
        let ge = b.ge(&x, &y);
        let s = b.add(&x[..4], &y[..4]);
        let nx = b.not(x[5]);
        b.output(&[ge, x[0], nx]);
        b.output(&s);
        b.finish().unwrap()
    }

    /// Parallel garbling gives the sequential garbler's tables, labels and outputs, for every
    /// thread count, and evaluates correctly.
    #[test]
    fn parallel_equals_sequential() {
        let circuits = [
            relu_batch_circuit(37, 25, false).unwrap(),
            relu_batch_circuit(9, 20, true).unwrap(),
            and_stream_circuit(1000).unwrap(),
            mixed(),
        ];
        for (ci, c) in circuits.iter().enumerate() {
            // Every test circuit really splits.
            assert!(c.partition(3).groups.len() >= 2, "circuit {ci}");
            let e0: Vec<Block> = (0..c.evaluator_inputs() as u128)
                .map(|i| Block::from_u128(i * 977 + 5))
                .collect();
            let (mut gs, tweak, mut rng) = bench_session(40 + ci as u64);
            let mut g = gs
                .garble_stream_with_evaluator_labels(c, &mut rng, &e0)
                .unwrap();
            let mut want = Vec::new();
            while g.next_chunk(&mut want) > 0 {}
            let want_enc = g
                .encoder()
                .encode_all(
                    &vec![true; c.garbler_inputs()],
                    &vec![false; c.evaluator_inputs()],
                )
                .unwrap();
            let want_out = g.finish().unwrap();
            for threads in [1, 2, 3, 8] {
                let (mut gs, _, mut rng) = bench_session(40 + ci as u64);
                let mut tables = Vec::new();
                let (enc, out) = gs
                    .garble_parallel_with_evaluator_labels(c, &mut rng, &e0, threads, &mut tables)
                    .unwrap();
                assert_eq!(tables, want, "circuit {ci}, {threads} threads: tables");
                let got_enc = enc
                    .encode_all(
                        &vec![true; c.garbler_inputs()],
                        &vec![false; c.evaluator_inputs()],
                    )
                    .unwrap();
                assert!(
                    got_enc == want_enc,
                    "circuit {ci}, {threads} threads: input labels"
                );
                assert!(
                    out.zero_labels() == want_out.zero_labels(),
                    "circuit {ci}: outputs"
                );
                // The tables evaluate to the plaintext result.
                let gin: Vec<bool> = (0..c.garbler_inputs()).map(|i| i % 3 == 0).collect();
                let ein: Vec<bool> = (0..c.evaluator_inputs()).map(|i| i % 2 == 1).collect();
                let labels = enc.encode_all(&gin, &ein).unwrap();
                let mut es = EvaluatorSession::new(tweak);
                let mut ev = es.evaluate_stream(c, &labels).unwrap();
                ev.consume(&tables).unwrap();
                let labels: Vec<Label> = ev.finish().unwrap();
                let bits = out.decode_verified(&labels).unwrap();
                assert_eq!(
                    bits,
                    c.eval_plain(&gin, &ein).unwrap(),
                    "circuit {ci}, {threads} threads"
                );
            }
        }
    }
}
