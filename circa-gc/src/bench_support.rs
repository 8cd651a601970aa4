//! Measurement helpers shared by the criterion benches and the `circa-bench gc` report.
//!
//! Wall-clock timing lives here and in benches only; tests never assert on time.

use std::path::Path;
use std::time::Instant;

use circa_ot::{Block, Channel, Prg, TcpChannel};

use crate::circuit::{Circuit, Gate};
use crate::error::Error;
use crate::evaluate::EvaluatorSession;
use crate::garble::GarblerSession;
use crate::label::{Delta, Label};
use crate::twopc::{Evaluator2pc, Garbler2pc, Reveal};

/// One measured figure.
#[derive(Clone, Debug, PartialEq)]
pub struct GcMeasurement {
    /// `and_stream`, `aes_128` or `sha256`.
    pub circuit: String,
    /// `garble`, `eval` or `garble_net`.
    pub phase: &'static str,
    /// AND gates per run.
    pub and_gates: u64,
    /// Median wall-clock seconds per run.
    pub seconds: f64,
    /// AND gates per wall-clock second.
    pub and_per_sec: f64,
    /// Median CPU seconds of the measuring thread per run (the garbler's thread for `garble_net`),
    /// from `/proc/thread-self/schedstat`; `None` where unavailable. On a shared machine this is the
    /// figure to compare with single-core targets.
    pub cpu_seconds: Option<f64>,
    /// Garbled bytes per AND gate (tables only for in-memory phases; all channel bytes for `garble_net`).
    pub bytes_per_and: f64,
    /// Threads garbling (`garble_parallel` only; 1 otherwise). Compare wall-clock figures across
    /// thread counts: `cpu_seconds` is the calling thread's only.
    pub threads: usize,
}

/// A circuit of `n` independent AND gates over 128 + 128 inputs (no outputs): the "AND stream".
pub fn and_stream_circuit(n: usize) -> Result<Circuit, Error> {
    const K: u32 = 128;
    let gates = (0..n as u32)
        .map(|i| Gate::and(i % K, K + (i / K) % K, 2 * K + i))
        .collect();
    Circuit::new(2 * K as usize + n, K as usize, K as usize, gates, vec![])
}

/// `count` independent comparator blocks of `bits`-bit words, shaped like the ReLU circuits of
/// circa-relu: with `full`, the Delphi-baseline ReLU (`y = (c + s) mod m`, `y <= m/2`, select, add a
/// mask mod `m`); otherwise the stochastic sign (`c >= t`, `bits` AND gates). `m` is `2^bits - 21`.
/// Many small circuits side by side: the case where the wire table, not AES, bounds garbling.
pub fn relu_batch_circuit(count: usize, bits: usize, full: bool) -> Result<Circuit, Error> {
    let bits = bits.clamp(2, 120);
    let m = (1u128 << bits) - 21;
    let mut b = crate::builder::CircuitBuilder::new();
    for _ in 0..count {
        let s = b.garbler_input(bits);
        let c = b.evaluator_input(bits);
        if full {
            let mask = b.garbler_input(bits);
            let y = b.add_mod(&c, &s, m);
            let non_negative = b.le_const(&y, m / 2);
            let relu: Vec<_> = y.iter().map(|&w| b.and(non_negative, w)).collect();
            let out = b.add_mod(&relu, &mask, m);
            b.output(&out);
        } else {
            let bit = b.ge(&c, &s);
            b.output(&[bit]);
        }
    }
    b.finish()
}

/// A seeded garbler session, its session tweak and rng for benchmarking (fixed seeds: benchmarks
/// are not about secrecy). `EvaluatorSession::new(tweak)` gives the matching evaluator.
pub fn bench_session(seed: u64) -> (GarblerSession, Block, Prg) {
    let mut rng = Prg::from_seed_block(Block::from_u128(u128::from(seed)));
    let delta = Delta::random(&mut rng);
    let tweak = Block::random(&mut rng);
    (GarblerSession::new(delta, tweak), tweak, rng)
}

/// Garbles `circuit` once, discarding tables chunk by chunk (the in-memory garbling cost).
pub fn garble_discard(
    gs: &mut GarblerSession,
    circuit: &Circuit,
    rng: &mut Prg,
    buf: &mut Vec<Block>,
) -> Result<(), Error> {
    let mut g = gs.garble_stream(circuit, rng)?;
    loop {
        buf.clear();
        if g.next_chunk(buf) == 0 {
            break;
        }
    }
    g.finish().map(|_| ())
}

/// Garbled tables and input labels for evaluating `circuit` (all-zero inputs).
pub fn prepare_eval(
    gs: &mut GarblerSession,
    circuit: &Circuit,
    rng: &mut Prg,
) -> Result<(Vec<Block>, Vec<Label>), Error> {
    let mut g = gs.garble_stream(circuit, rng)?;
    let mut tables = Vec::with_capacity(2 * circuit.and_count());
    while g.next_chunk(&mut tables) > 0 {}
    let labels = g.encoder().encode_all(
        &vec![false; circuit.garbler_inputs()],
        &vec![false; circuit.evaluator_inputs()],
    )?;
    Ok((tables, labels))
}

/// Evaluates prepared tables once.
pub fn eval_tables(
    es: &mut EvaluatorSession,
    circuit: &Circuit,
    tables: &[Block],
    labels: &[Label],
) -> Result<Vec<Label>, Error> {
    let mut ev = es.evaluate_stream(circuit, labels)?;
    ev.consume(tables)?;
    ev.finish()
}

/// CPU time of the calling thread in nanoseconds (Linux), if available.
pub use circa_ot::bench_support::thread_cpu_ns;

/// Median wall-clock and thread-CPU seconds per run over `reps` samples (after a warm-up run).
/// Each sample repeats the run enough times to last about 50 ms, so that the CPU-time counter
/// (updated at scheduler ticks) is meaningful for short circuits too.
fn median_seconds(
    reps: usize,
    mut run: impl FnMut() -> Result<(), Error>,
) -> Result<(f64, Option<f64>), Error> {
    let start = Instant::now();
    run()?; // warm-up and calibration
    let once = start.elapsed().as_secs_f64().max(1e-7);
    let iters = ((0.05 / once).ceil() as usize).clamp(1, 100_000);
    let mut wall = Vec::with_capacity(reps);
    let mut cpu = Vec::with_capacity(reps);
    for _ in 0..reps.max(1) {
        let c0 = thread_cpu_ns();
        let start = Instant::now();
        for _ in 0..iters {
            run()?;
        }
        wall.push(start.elapsed().as_secs_f64() / iters as f64);
        // A zero difference means the counter was not updated during the sample: skip it.
        if let (Some(a), Some(b)) = (c0, thread_cpu_ns())
            && b > a
        {
            cpu.push((b - a) as f64 * 1e-9 / iters as f64);
        }
    }
    wall.sort_by(f64::total_cmp);
    cpu.sort_by(f64::total_cmp);
    let cpu = (!cpu.is_empty()).then(|| cpu[cpu.len() / 2]);
    Ok((wall[wall.len() / 2], cpu))
}

fn record(
    circuit: &str,
    phase: &'static str,
    and_gates: u64,
    (seconds, cpu_seconds): (f64, Option<f64>),
    bytes: u64,
) -> GcMeasurement {
    GcMeasurement {
        circuit: circuit.to_string(),
        phase,
        and_gates,
        seconds,
        and_per_sec: and_gates as f64 / seconds,
        cpu_seconds,
        bytes_per_and: bytes as f64 / and_gates.max(1) as f64,
        threads: 1,
    }
}

/// `garble_parallel`: [`GarblerSession::garble_parallel_with_evaluator_labels`] on the AND stream
/// (`stream_ands` gates) and on a chunk of 1024 ReLU sign comparators of 25 bits (the circa-relu
/// default), at 1 and at `threads` threads, tables kept in a reused buffer (median of `reps`).
pub fn measure_parallel(
    stream_ands: usize,
    reps: usize,
    threads: usize,
) -> Result<Vec<GcMeasurement>, Error> {
    let circuits = [
        ("and_stream", and_stream_circuit(stream_ands)?),
        ("relu_sign_1024x25", relu_batch_circuit(1024, 25, false)?),
    ];
    let mut out = Vec::new();
    for (name, c) in &circuits {
        let e0 = vec![Block::ZERO; c.evaluator_inputs()];
        for t in [1, threads.max(1)] {
            let (mut gs, _, mut rng) = bench_session(3);
            let mut tables = Vec::new();
            let times = median_seconds(reps, || {
                gs.garble_parallel_with_evaluator_labels(c, &mut rng, &e0, t, &mut tables)
                    .map(|_| ())
            })?;
            let mut m = record(
                name,
                "garble_parallel",
                c.and_count() as u64,
                times,
                16 * tables.len() as u64,
            );
            m.threads = t;
            out.push(m);
        }
    }
    Ok(out)
}

/// Measures in-memory garbling and evaluation of `circuit` (median of `reps` runs).
pub fn measure_in_memory(
    name: &str,
    circuit: &Circuit,
    reps: usize,
) -> Result<Vec<GcMeasurement>, Error> {
    let ands = circuit.and_count() as u64;
    let (mut gs, _, mut rng) = bench_session(1);
    let mut buf = Vec::new();
    let garble = median_seconds(reps, || {
        garble_discard(&mut gs, circuit, &mut rng, &mut buf)
    })?;
    let (mut gs, tweak, mut rng) = bench_session(2);
    let (tables, labels) = prepare_eval(&mut gs, circuit, &mut rng)?;
    let eval = median_seconds(reps, || {
        // A fresh evaluator session per run, so every run uses the tweaks the tables were made with.
        eval_tables(&mut EvaluatorSession::new(tweak), circuit, &tables, &labels).map(|_| ())
    })?;
    let bytes = 16 * tables.len() as u64;
    Ok(vec![
        record(name, "garble", ands, garble, bytes),
        record(name, "eval", ands, eval, bytes),
    ])
}

/// The benchmark circuits: the AND stream (`stream_ands` gates) and, if present in `circuits_dir`,
/// `aes_128.txt` and `sha256.txt`.
pub fn bench_circuits(
    circuits_dir: Option<&Path>,
    stream_ands: usize,
) -> Result<Vec<(String, Circuit)>, Error> {
    let mut out = vec![("and_stream".to_string(), and_stream_circuit(stream_ands)?)];
    if let Some(dir) = circuits_dir {
        for (name, file) in [("aes_128", "aes_128.txt"), ("sha256", "sha256.txt")] {
            let path = dir.join(file);
            if path.exists() {
                out.push((name.to_string(), crate::bristol::read_bristol_file(&path)?));
            }
        }
    }
    Ok(out)
}

/// All in-memory figures (`garble`, `eval`) for [`bench_circuits`].
pub fn measure_all_in_memory(
    circuits_dir: Option<&Path>,
    stream_ands: usize,
    reps: usize,
) -> Result<Vec<GcMeasurement>, Error> {
    measure_circuits(circuits_dir, stream_ands, reps, false)
}

/// All figures: `garble`, `eval` in memory and `garble_net` over TCP loopback, for [`bench_circuits`].
pub fn measure_all(
    circuits_dir: Option<&Path>,
    stream_ands: usize,
    reps: usize,
) -> Result<Vec<GcMeasurement>, Error> {
    measure_circuits(circuits_dir, stream_ands, reps, true)
}

/// In-memory figures, and with `net` the loopback figure, for every circuit of [`bench_circuits`].
fn measure_circuits(
    circuits_dir: Option<&Path>,
    stream_ands: usize,
    reps: usize,
    net: bool,
) -> Result<Vec<GcMeasurement>, Error> {
    let mut out = Vec::new();
    for (name, c) in bench_circuits(circuits_dir, stream_ands)? {
        out.extend(measure_in_memory(&name, &c, reps)?);
        if net {
            out.push(measure_net(&name, &c, reps)?);
        }
    }
    Ok(out)
}

/// `garble_net`: the garbler garbles and streams `circuit` over TCP loopback to an evaluator thread
/// that evaluates as tables arrive (the full per-circuit protocol of [`crate::twopc`], including the
/// correlated OTs for the evaluator's inputs; the one-time base-OT setup is excluded). Time per run
/// ends when the evaluator acknowledges completion; bytes are everything the garbler sent per run.
pub fn measure_net(name: &str, circuit: &Circuit, reps: usize) -> Result<GcMeasurement, Error> {
    let (mut gch, mut ech) = TcpChannel::loopback_pair()?;
    std::thread::scope(|s| {
        let evaluator = s.spawn(move || -> Result<(), Error> {
            let mut rng = Prg::from_seed_block(Block::from_u128(2));
            let mut e = Evaluator2pc::setup(&mut ech, &mut rng)?;
            let y = vec![false; circuit.evaluator_inputs()];
            // The garbler announces each run with 1 and the end with 0.
            while ech.recv_u64()? == 1 {
                e.run(&mut ech, circuit, &y, Reveal::Evaluator)?;
                ech.send(&[1])?;
                ech.flush()?;
            }
            Ok(())
        });
        let garbler = (|| -> Result<GcMeasurement, Error> {
            let mut rng = Prg::from_seed_block(Block::from_u128(1));
            let mut g = Garbler2pc::setup(&mut gch, &mut rng)?;
            let x = vec![false; circuit.garbler_inputs()];
            let before = gch.stats().bytes_sent;
            let mut runs = 0u64;
            let times = median_seconds(reps, || {
                gch.send_u64(1)?;
                g.run(&mut gch, circuit, &x, Reveal::Evaluator, &mut rng)?;
                gch.recv(&mut [0u8])?;
                runs += 1;
                Ok(())
            })?;
            gch.send_u64(0)?;
            gch.flush()?;
            // Per-run bytes, without the 8-byte run announcements of this harness.
            let bytes = (gch.stats().bytes_sent - before) / runs.max(1) - 8;
            Ok(record(
                name,
                "garble_net",
                circuit.and_count() as u64,
                times,
                bytes,
            ))
        })();
        drop(gch);
        let ev = evaluator.join();
        let m = garbler?;
        match ev {
            Ok(r) => r.map(|_| m),
            Err(_) => Err(Error::Malformed {
                what: "evaluator thread panicked",
            }),
        }
    })
}

/// The AES ceilings of this machine on the detected backend, in blocks (hashes) per second.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AesLimit {
    /// The backend measured (`aes-ni`, `vaes256`, `portable`).
    pub backend: &'static str,
    /// Fixed-key AES-128 (ECB, one key schedule for all): the raw AES throughput.
    pub ecb_blocks_per_sec: f64,
    /// Re-keyed hashes of label pairs `{L, L ^ Delta}` (one key schedule per pair): the garbler's
    /// hash, 4 per AND gate.
    pub pair_hashes_per_sec: f64,
    /// Re-keyed hashes of single labels (one key schedule each): the evaluator's, 2 per AND gate.
    pub single_hashes_per_sec: f64,
}

impl AesLimit {
    /// The hashing ceiling of garbling: AND gates per second if nothing but the 4 hashes cost.
    pub fn garble_ceiling(&self) -> f64 {
        self.pair_hashes_per_sec / 4.0
    }
    /// The hashing ceiling of evaluation (2 hashes per AND gate).
    pub fn eval_ceiling(&self) -> f64 {
        self.single_hashes_per_sec / 2.0
    }
    /// The raw AES ceiling of half-gates with a re-keyed hash: 4 block encryptions and 2 key
    /// schedules per AND gate to garble, 2 and 2 to evaluate; a key schedule costs about one
    /// block encryption in AES-unit work (10 `aesenclast`), so 6 and 4 ECB-block equivalents.
    pub fn raw_garble_ceiling(&self) -> f64 {
        self.ecb_blocks_per_sec / 6.0
    }
    /// See [`AesLimit::raw_garble_ceiling`].
    pub fn raw_eval_ceiling(&self) -> f64 {
        self.ecb_blocks_per_sec / 4.0
    }
}

/// Measures [`AesLimit`] on `blocks` blocks per run (median of `reps` samples, each long enough
/// for the thread CPU clock; CPU time where available, as on a loaded machine wall time is not
/// what one core gives).
pub fn measure_aes_limit(blocks: usize, reps: usize) -> Result<AesLimit, Error> {
    let aes = circa_ot::FixedKeyAes::fixed();
    let mut buf = vec![Block::from_u128(7); blocks];
    let t_aes = median_seconds(reps, || {
        aes.encrypt_many(&mut buf);
        Ok(())
    })?;
    let hash = circa_ot::TweakableHash::new(Block::from_u128(1));
    let mut pairs = vec![[Block::ZERO; 2]; blocks / 2];
    let mut tweak = 0u64;
    let t_pairs = median_seconds(reps, || {
        hash.hash_pairs(&buf[..blocks / 2], Block::ONES, tweak, 1, &mut pairs);
        tweak += blocks as u64;
        Ok(())
    })?;
    let t_singles = median_seconds(reps, || {
        hash.hash_seq_in_place(&mut buf, tweak);
        tweak += blocks as u64;
        Ok(())
    })?;
    let secs = |t: (f64, Option<f64>)| t.1.unwrap_or(t.0);
    Ok(AesLimit {
        backend: hash.backend().name(),
        ecb_blocks_per_sec: blocks as f64 / secs(t_aes),
        pair_hashes_per_sec: (blocks / 2 * 2) as f64 / secs(t_pairs),
        single_hashes_per_sec: blocks as f64 / secs(t_singles),
    })
}
