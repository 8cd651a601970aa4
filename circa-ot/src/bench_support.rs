//! Throughput measurement of the OT extension between two threads over TCP
//! loopback, shared by the criterion benches and the `circa-bench ot` report.
//!
//! Randomness here comes from fixed seeds: this module measures speed and
//! must not be used to produce OTs for real.

use crate::{
    Block, Channel, ChannelStats, CotReceiver, CotSender, Error, OtReceiver, OtSender, Prg,
    RotReceiver, RotSender, TcpChannel,
};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use std::sync::Barrier;
use std::time::Instant;

/// OTs per call to the extension during a measurement: larger runs are
/// split into calls of this size so that memory stays bounded.
pub const BENCH_BATCH: usize = 1 << 20;

/// OTs run untimed before each measurement, on the same connection: TCP's
/// slow start and buffer growth on a fresh loopback connection (and first
/// touches of the buffers) otherwise land in the first measured batch.
pub const WARMUP_OTS: usize = 1 << 20;

/// A kind of OT to measure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OtKind {
    /// Correlated OT with random choice bits.
    Rcot,
    /// Correlated OT with chosen choice bits (sender-chosen Delta with lsb 1).
    Cot,
    /// Random OT (random choice bits, hashed outputs).
    Rot,
    /// Chosen-message OT of 128-bit messages.
    Chosen,
}

impl OtKind {
    /// Every kind, in report order.
    pub const ALL: [OtKind; 4] = [OtKind::Rcot, OtKind::Cot, OtKind::Rot, OtKind::Chosen];

    /// The name used in reports: `rcot`, `cot`, `rot`, `chosen`.
    pub fn name(self) -> &'static str {
        match self {
            OtKind::Rcot => "rcot",
            OtKind::Cot => "cot",
            OtKind::Rot => "rot",
            OtKind::Chosen => "chosen",
        }
    }
}

/// One measurement.
#[derive(Clone, Debug)]
pub struct OtBenchResult {
    /// What was measured.
    pub kind: OtKind,
    /// Number of OTs.
    pub n: u64,
    /// Wall-clock seconds for the extension (base OTs excluded), the slower party.
    pub seconds: f64,
    /// `n / seconds`.
    pub per_sec: f64,
    /// Bytes the OT sender sent per OT (extension only).
    pub sender_bytes_per_op: f64,
    /// Bytes the OT receiver sent per OT (extension only).
    pub receiver_bytes_per_op: f64,
    /// Seconds for the one-time setup (128 base OTs), the slower party.
    pub setup_seconds: f64,
    /// CPU seconds the sender thread spent in the extension (Linux only:
    /// read from `/proc/thread-self/schedstat`; `None` elsewhere). Unlike
    /// `seconds`, not inflated by other load on the machine.
    pub sender_cpu_seconds: Option<f64>,
    /// CPU seconds of the receiver thread, as `sender_cpu_seconds`.
    pub receiver_cpu_seconds: Option<f64>,
}

/// CPU time consumed so far by the calling thread in nanoseconds, read from
/// `/proc/thread-self/schedstat` (Linux); `None` where the OS does not say.
/// The one CPU clock of the workspace's benchmark helpers (circa-gc and
/// circa-relu use it too): on a loaded machine it gives the single-core
/// figure that wall-clock time cannot.
pub fn thread_cpu_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_ascii_whitespace().next()?.parse().ok()
}

/// [`thread_cpu_ns`] in seconds.
fn thread_cpu_seconds() -> Option<f64> {
    Some(thread_cpu_ns()? as f64 * 1e-9)
}

/// What one party measured: setup seconds, extension seconds, extension
/// traffic, extension CPU seconds.
type PartyResult = Result<(f64, f64, ChannelStats, Option<f64>), Error>;

/// Runs `n` OTs of `kind` between two threads over TCP loopback (one core
/// per party) in calls of at most [`BENCH_BATCH`] OTs and measures them.
pub fn run_ot_loopback(kind: OtKind, n: u64) -> Result<OtBenchResult, Error> {
    let (mut ch_s, mut ch_r) = TcpChannel::loopback_pair()?;
    let barrier = Barrier::new(2);
    // Each party owns its channel, so a party that fails closes its end and
    // the other one gets `Error::Closed` instead of waiting forever.
    let (sender, receiver) = std::thread::scope(|s| {
        let barrier = &barrier;
        let hs = s.spawn(move || run_sender(kind, n, &mut ch_s, barrier));
        let receiver = run_receiver(kind, n, &mut ch_r, barrier);
        drop(ch_r);
        let sender = hs.join().unwrap_or(Err(Error::Closed));
        (sender, receiver)
    });
    let (setup_s, secs_s, stats_s, cpu_s) = sender?;
    let (setup_r, secs_r, stats_r, cpu_r) = receiver?;
    let seconds = secs_s.max(secs_r);
    let ops = n.max(1) as f64;
    Ok(OtBenchResult {
        kind,
        n,
        seconds,
        per_sec: n as f64 / seconds,
        sender_bytes_per_op: stats_s.bytes_sent as f64 / ops,
        receiver_bytes_per_op: stats_r.bytes_sent as f64 / ops,
        setup_seconds: setup_s.max(setup_r),
        sender_cpu_seconds: cpu_s,
        receiver_cpu_seconds: cpu_r,
    })
}

/// A buffer whose pages are all written, so that first-touch page faults do
/// not land in the timed section (a zeroed `vec!` is mapped lazily).
fn pretouched(len: usize) -> Vec<Block> {
    vec![Block::ONES; len]
}

/// Batch sizes summing to `n`.
fn batches(n: u64) -> impl Iterator<Item = usize> {
    let full = n / BENCH_BATCH as u64;
    let rest = (n % BENCH_BATCH as u64) as usize;
    (0..full)
        .map(|_| BENCH_BATCH)
        .chain((rest > 0).then_some(rest))
}

fn batch_len(n: u64) -> usize {
    n.min(BENCH_BATCH as u64) as usize
}

fn run_sender(kind: OtKind, n: u64, ch: &mut TcpChannel, barrier: &Barrier) -> PartyResult {
    let mut rng = ChaCha20Rng::seed_from_u64(0x5e4d);
    let t0 = Instant::now();
    let len = batch_len(n);
    // Each arm: setup, then the timed loop.
    let (setup, start, before, cpu) = match kind {
        OtKind::Rcot | OtKind::Cot => {
            let delta = Block::random(&mut rng).with_lsb(true);
            let s = CotSender::setup(ch, delta, &mut rng);
            let setup = t0.elapsed().as_secs_f64();
            barrier.wait();
            let mut s = s?;
            let mut q = pretouched(len.max(WARMUP_OTS));
            s.send_cot(ch, &mut q[..WARMUP_OTS])?;
            barrier.wait();
            let (start, before, cpu) = (Instant::now(), ch.stats(), thread_cpu_seconds());
            for b in batches(n) {
                s.send_cot(ch, &mut q[..b])?;
            }
            (setup, start, before, cpu)
        }
        OtKind::Rot => {
            let s = RotSender::setup(ch, &mut rng);
            let setup = t0.elapsed().as_secs_f64();
            barrier.wait();
            let mut s = s?;
            let mut out = vec![[Block::ONES; 2]; len.max(WARMUP_OTS)];
            s.send_rot(ch, &mut out[..WARMUP_OTS])?;
            barrier.wait();
            let (start, before, cpu) = (Instant::now(), ch.stats(), thread_cpu_seconds());
            for b in batches(n) {
                s.send_rot(ch, &mut out[..b])?;
            }
            (setup, start, before, cpu)
        }
        OtKind::Chosen => {
            let s = OtSender::setup(ch, &mut rng);
            let setup = t0.elapsed().as_secs_f64();
            let mut msgs = vec![[Block::ZERO; 2]; len.max(WARMUP_OTS)];
            Prg::from_seed_block(Block::from_u128(5))
                .fill_blocks(bytemuck::cast_slice_mut(&mut msgs));
            barrier.wait();
            let mut s = s?;
            s.send(ch, &msgs[..WARMUP_OTS])?;
            barrier.wait();
            let (start, before, cpu) = (Instant::now(), ch.stats(), thread_cpu_seconds());
            for b in batches(n) {
                s.send(ch, &msgs[..b])?;
            }
            (setup, start, before, cpu)
        }
    };
    ch.flush()?;
    let cpu = thread_cpu_seconds().zip(cpu).map(|(now, then)| now - then);
    Ok((
        setup,
        start.elapsed().as_secs_f64(),
        ch.stats().since(&before),
        cpu,
    ))
}

fn run_receiver(kind: OtKind, n: u64, ch: &mut TcpChannel, barrier: &Barrier) -> PartyResult {
    let mut rng = ChaCha20Rng::seed_from_u64(0x7ec1);
    let t0 = Instant::now();
    let len = batch_len(n);
    let len = len.max(WARMUP_OTS);
    let mut choices: Vec<bool> = (0..len).map(|i| (i * 7 + i / 13) % 3 == 0).collect();
    let mut out = pretouched(len);
    let w = WARMUP_OTS;
    let (setup, start, before, cpu) = match kind {
        OtKind::Rcot | OtKind::Cot => {
            let r = CotReceiver::setup(ch, &mut rng);
            let setup = t0.elapsed().as_secs_f64();
            barrier.wait();
            let mut r = r?;
            r.receive_cot(ch, &choices[..w], &mut out[..w])?;
            barrier.wait();
            let (start, before, cpu) = (Instant::now(), ch.stats(), thread_cpu_seconds());
            for b in batches(n) {
                if kind == OtKind::Rcot {
                    r.receive_rcot(ch, &mut choices[..b], &mut out[..b])?;
                } else {
                    r.receive_cot(ch, &choices[..b], &mut out[..b])?;
                }
            }
            (setup, start, before, cpu)
        }
        OtKind::Rot => {
            let r = RotReceiver::setup(ch, &mut rng);
            let setup = t0.elapsed().as_secs_f64();
            barrier.wait();
            let mut r = r?;
            r.receive_random_rot(ch, &mut choices[..w], &mut out[..w])?;
            barrier.wait();
            let (start, before, cpu) = (Instant::now(), ch.stats(), thread_cpu_seconds());
            for b in batches(n) {
                r.receive_random_rot(ch, &mut choices[..b], &mut out[..b])?;
            }
            (setup, start, before, cpu)
        }
        OtKind::Chosen => {
            let r = OtReceiver::setup(ch, &mut rng);
            let setup = t0.elapsed().as_secs_f64();
            barrier.wait();
            let mut r = r?;
            r.receive(ch, &choices[..w], &mut out[..w])?;
            barrier.wait();
            let (start, before, cpu) = (Instant::now(), ch.stats(), thread_cpu_seconds());
            for b in batches(n) {
                r.receive(ch, &choices[..b], &mut out[..b])?;
            }
            (setup, start, before, cpu)
        }
    };
    ch.flush()?;
    let cpu = thread_cpu_seconds().zip(cpu).map(|(now, then)| now - then);
    Ok((
        setup,
        start.elapsed().as_secs_f64(),
        ch.stats().since(&before),
        cpu,
    ))
}
