//! Cost measurement over TCP loopback (both parties one thread each): the figures of the
//! `circa-bench relu --json` line. Setup (base OTs) is outside the timed phases.
//!
//! Throughput is reported two ways: wall clock (batch / slower party's elapsed time, which on a
//! loaded machine includes time the thread waited for a core) and thread CPU time (batch / the
//! larger of the two parties' CPU seconds in the phase, from `/proc/thread-self/schedstat`; this
//! is what one dedicated core per party would give if the parties' work did not serialise).

use std::sync::Barrier;
use std::time::Instant;

use circa_ot::{Block, ChannelStats, Prg, TcpChannel};
use circa_share::{Client, Fp, Modulus, Server, TripleSource};
use rand_core::Rng;

use super::{ReluClient, ReluServer};
use crate::circuits::and_gates_per_relu;
use crate::error::Error;
use crate::params::{ProductPath, ReluParams, TieMode, Variant};
use crate::reference::relu_value;

/// Measured cost of one ReLU configuration; byte and storage figures are per ReLU.
#[derive(Clone, Debug, PartialEq)]
pub struct CostReport {
    /// `delphi_baseline`, `exact_sign`, `stochastic_sign` or `truncated_sign`.
    pub variant: &'static str,
    /// Truncated bits (0 unless truncated).
    pub k: u32,
    /// `neg_pass`, `pos_zero`, or `none`.
    pub mode: &'static str,
    /// `label_table` or `beaver` (`none` for the baseline, which ignores it).
    pub product: &'static str,
    /// The prime.
    pub modulus: u64,
    /// ReLUs in the measured batch.
    pub relus: usize,
    /// AND gates per ReLU.
    pub and_gates: usize,
    /// Garbled-table bytes per ReLU (32 per AND gate).
    pub garbled_bytes: f64,
    /// All offline bytes per ReLU, both directions (tables, COTs, baseline mask labels).
    pub offline_bytes: f64,
    /// Online bytes per ReLU, server to client.
    pub online_bytes_server_to_client: f64,
    /// Online bytes per ReLU, client to server.
    pub online_bytes_client_to_server: f64,
    /// Online flights (messages in sequence) of both parties together, for the whole batch.
    pub online_rounds: u64,
    /// Bytes per ReLU the client stores between offline and online.
    pub client_storage_bytes: f64,
    /// Offline throughput (batch / slower party's wall time).
    pub offline_relus_per_sec: f64,
    /// Online throughput (batch / slower party's wall time).
    pub online_relus_per_sec: f64,
    /// Bytes per ReLU of triple generation (both directions, offline), when an OT-based triple
    /// source was measured ([`run_with_ot_triples`]); included in `offline_bytes`. 0 otherwise.
    pub triple_bytes: f64,
    /// Thread CPU seconds of the offline phase: (server, client). `None` where the platform has no
    /// per-thread CPU clock (`/proc/thread-self/schedstat`).
    pub offline_cpu_seconds: Option<(f64, f64)>,
    /// Thread CPU seconds of the online phase: (server, client).
    pub online_cpu_seconds: Option<(f64, f64)>,
    /// Threads the server garbled with ([`ReluServer::set_threads`]); its CPU seconds are those
    /// of the calling thread only, so compare wall-clock figures across thread counts.
    pub server_threads: usize,
}

impl CostReport {
    /// Offline ReLUs per second of CPU time of the busier party (see the module docs).
    pub fn offline_relus_per_cpu_sec(&self) -> Option<f64> {
        self.offline_cpu_seconds
            .map(|(s, c)| self.relus as f64 / s.max(c).max(1e-9))
    }
    /// Online ReLUs per second of CPU time of the busier party.
    pub fn online_relus_per_cpu_sec(&self) -> Option<f64> {
        self.online_cpu_seconds
            .map(|(s, c)| self.relus as f64 / s.max(c).max(1e-9))
    }
}

use circa_ot::bench_support::thread_cpu_ns;

/// CPU seconds of the calling thread since `start` (as returned by [`thread_cpu_ns`]).
fn cpu_since(start: Option<u64>) -> Option<f64> {
    Some(thread_cpu_ns()?.saturating_sub(start?) as f64 * 1e-9)
}

fn opt_pair(a: Option<f64>, b: Option<f64>) -> Option<(f64, f64)> {
    Some((a?, b?))
}

impl CostReport {
    /// One JSON object on one line, with `"bench":"relu"`.
    pub fn to_json_line(&self) -> String {
        format!(
            concat!(
                "{{\"bench\":\"relu\",\"variant\":\"{}\",\"k\":{},\"mode\":\"{}\",",
                "\"product\":\"{}\",\"modulus\":{},\"relus\":{},\"and_gates\":{},",
                "\"garbled_bytes\":{:.1},\"offline_bytes\":{:.1},",
                "\"online_bytes_server_to_client\":{:.1},\"online_bytes_client_to_server\":{:.1},",
                "\"online_rounds\":{},\"client_storage_bytes\":{:.1},",
                "\"offline_relus_per_sec\":{:.0},\"online_relus_per_sec\":{:.0},",
                "\"triple_bytes\":{:.1},",
                "\"offline_cpu_s\":{},\"online_cpu_s\":{},",
                "\"offline_relus_per_cpu_sec\":{},\"online_relus_per_cpu_sec\":{},",
                "\"server_threads\":{}}}"
            ),
            self.variant,
            self.k,
            self.mode,
            self.product,
            self.modulus,
            self.relus,
            self.and_gates,
            self.garbled_bytes,
            self.offline_bytes,
            self.online_bytes_server_to_client,
            self.online_bytes_client_to_server,
            self.online_rounds,
            self.client_storage_bytes,
            self.offline_relus_per_sec,
            self.online_relus_per_sec,
            self.triple_bytes,
            json_pair(self.offline_cpu_seconds),
            json_pair(self.online_cpu_seconds),
            json_num(self.offline_relus_per_cpu_sec()),
            json_num(self.online_relus_per_cpu_sec()),
            self.server_threads,
        )
    }
}

fn json_pair(p: Option<(f64, f64)>) -> String {
    p.map_or_else(
        || "null".to_string(),
        |(s, c)| format!("{{\"server\":{s:.4},\"client\":{c:.4}}}"),
    )
}

fn json_num(x: Option<f64>) -> String {
    x.map_or_else(|| "null".to_string(), |x| format!("{x:.0}"))
}

/// Measures `n` ReLUs (label-table path or baseline). The Beaver path needs triple sources:
/// use [`run_with_triples`].
pub fn run<M: Modulus>(params: &ReluParams<M>, n: usize) -> Result<CostReport, Error> {
    run_threads(params, n, 1)
}

/// As [`run`] with the server garbling on `threads` threads ([`ReluServer::set_threads`]).
pub fn run_threads<M: Modulus>(
    params: &ReluParams<M>,
    n: usize,
    threads: usize,
) -> Result<CostReport, Error> {
    if params.variant().is_sign() && params.product() == ProductPath::Beaver {
        return Err(Error::TriplesRequired);
    }
    run_inner(params, n, None, None, threads)
}

/// Measures `n` ReLUs with the given triple sources (their triple generation is timed as part of
/// the offline phase). The triple sources' own traffic is NOT in the byte counts (`triple_bytes`
/// is 0): they may use channels this function cannot see. Use [`run_with_ot_triples`] for the
/// paper's Beaver path with OT-based triples and their bytes counted.
pub fn run_with_triples<M: Modulus>(
    params: &ReluParams<M>,
    n: usize,
    server_triples: &mut (dyn TripleSource<M, Role = Server> + Send),
    client_triples: &mut (dyn TripleSource<M, Role = Client> + Send),
) -> Result<CostReport, Error> {
    run_inner(params, n, Some(server_triples), Some(client_triples), 1)
}

/// Measures `n` ReLUs on the Beaver path with triples from circa-share's OT-based
/// [`OtTripleSource`](circa_share::ole::OtTripleSource) over a second loopback connection. Its
/// bytes (both directions, setup excluded) are reported as `triple_bytes` and included in
/// `offline_bytes`; its time is part of the offline phase.
pub fn run_with_ot_triples<M: Modulus>(
    params: &ReluParams<M>,
    n: usize,
) -> Result<CostReport, Error> {
    use circa_share::ole::OtTripleSource;
    let (sch, cch) = TcpChannel::loopback_pair()?;
    let client = std::thread::spawn(move || {
        let mut rng = Prg::from_seed_block(Block::from_u128(0xbeef_c11e));
        OtTripleSource::<Client, M, TcpChannel>::setup(cch, &mut rng)
    });
    let mut rng = Prg::from_seed_block(Block::from_u128(0xbeef_5e7e));
    let server = OtTripleSource::<Server, M, TcpChannel>::setup(sch, &mut rng);
    let Ok(client) = client.join() else {
        return Err(Error::SessionState {
            what: "bench triple-source thread panicked",
        });
    };
    let (mut server, mut client) = (server?, client?);
    let before = circa_ot::Channel::stats(server.channel());
    let mut report = run_inner(params, n, Some(&mut server), Some(&mut client), 1)?;
    let st = circa_ot::Channel::stats(server.channel()).since(&before);
    let per = (st.bytes_sent + st.bytes_received) as f64 / n.max(1) as f64;
    report.triple_bytes = per;
    report.offline_bytes += per;
    Ok(report)
}

struct PartyTimes {
    offline: f64,
    online: f64,
    offline_cpu: Option<f64>,
    online_cpu: Option<f64>,
}

fn run_inner<M: Modulus>(
    params: &ReluParams<M>,
    n: usize,
    server_triples: Option<&mut (dyn TripleSource<M, Role = Server> + Send)>,
    client_triples: Option<&mut (dyn TripleSource<M, Role = Client> + Send)>,
    threads: usize,
) -> Result<CostReport, Error> {
    let (mut sch, mut cch) = TcpChannel::loopback_pair()?;
    let mut rng = Prg::from_seed_block(Block::from_u128(0x5eed_0001));
    let y: Vec<Fp<M>> = (0..n)
        .map(|_| Fp::from_i64_reduced((rng.next_u64() % (1 << 21)) as i64 - (1 << 20)))
        .collect();
    let c: Vec<Fp<M>> = (0..n).map(|_| Fp::random(&mut rng)).collect();
    let s: Vec<Fp<M>> = y.iter().zip(&c).map(|(&y, &c)| y - c).collect();
    let barrier = Barrier::new(2);

    let (server_res, client_res) = std::thread::scope(|scope| {
        let client = scope.spawn(|| -> Result<_, Error> {
            let mut crng = Prg::from_seed_block(Block::from_u128(0xc11e));
            let mut cl = ReluClient::setup(&mut cch, params, &mut crng)?;
            barrier.wait();
            let (t0, c0) = (Instant::now(), thread_cpu_ns());
            let pre = match client_triples {
                Some(t) => cl.offline_with_triples(&mut cch, &c, t)?,
                None => cl.offline(&mut cch, &c)?,
            };
            let (offline, offline_cpu) = (t0.elapsed().as_secs_f64(), cpu_since(c0));
            let storage = pre.storage_bytes();
            let before = circa_ot::Channel::stats(&cch);
            barrier.wait();
            let (t1, c1) = (Instant::now(), thread_cpu_ns());
            let out = cl.online(&mut cch, pre)?;
            let (online, online_cpu) = (t1.elapsed().as_secs_f64(), cpu_since(c1));
            let st = circa_ot::Channel::stats(&cch).since(&before);
            let times = PartyTimes {
                offline,
                online,
                offline_cpu,
                online_cpu,
            };
            Ok((out, storage, st, times))
        });
        let server = (|| -> Result<_, Error> {
            let mut srng = Prg::from_seed_block(Block::from_u128(0x5e7e));
            let mut sv = ReluServer::setup(&mut sch, params, &mut srng)?;
            sv.set_threads(threads);
            barrier.wait();
            let start = circa_ot::Channel::stats(&sch);
            let (t0, c0) = (Instant::now(), thread_cpu_ns());
            let pre = match server_triples {
                Some(t) => sv.offline_with_triples(&mut sch, n, t)?,
                None => sv.offline(&mut sch, n)?,
            };
            let (offline, offline_cpu) = (t0.elapsed().as_secs_f64(), cpu_since(c0));
            let mid = circa_ot::Channel::stats(&sch);
            barrier.wait();
            let (t1, c1) = (Instant::now(), thread_cpu_ns());
            let out = sv.online(&mut sch, pre, &s)?;
            let (online, online_cpu) = (t1.elapsed().as_secs_f64(), cpu_since(c1));
            let end = circa_ot::Channel::stats(&sch);
            let times = PartyTimes {
                offline,
                online,
                offline_cpu,
                online_cpu,
            };
            Ok((out, mid.since(&start), end.since(&mid), times))
        })();
        let client = client.join().unwrap_or(Err(Error::SessionState {
            what: "bench client thread panicked",
        }));
        (server, client)
    });
    let (s_out, off, on, st) = server_res?;
    let (c_out, storage, con, ct): (Vec<Fp<M>>, usize, ChannelStats, PartyTimes) = client_res?;
    for i in 0..n {
        if s_out[i] + c_out[i] != relu_value(params, c[i], s[i]) {
            return Err(Error::SessionState {
                what: "bench: reconstructed output differs from the reference",
            });
        }
    }
    let per = |x: u64| x as f64 / n.max(1) as f64;
    let and_gates = and_gates_per_relu(params);
    let (variant, k, mode) = describe(params.variant());
    Ok(CostReport {
        variant,
        k,
        mode,
        product: if params.variant().is_sign() {
            match params.product() {
                ProductPath::Beaver => "beaver",
                ProductPath::LabelTable => "label_table",
            }
        } else {
            "none"
        },
        modulus: M::P,
        relus: n,
        and_gates,
        garbled_bytes: (32 * and_gates) as f64,
        offline_bytes: per(off.bytes_sent + off.bytes_received),
        online_bytes_server_to_client: per(on.bytes_sent),
        online_bytes_client_to_server: per(on.bytes_received),
        online_rounds: on.rounds + con.rounds,
        client_storage_bytes: per(storage as u64),
        offline_relus_per_sec: n as f64 / st.offline.max(ct.offline),
        online_relus_per_sec: n as f64 / st.online.max(ct.online),
        triple_bytes: 0.0,
        offline_cpu_seconds: opt_pair(st.offline_cpu, ct.offline_cpu),
        online_cpu_seconds: opt_pair(st.online_cpu, ct.online_cpu),
        server_threads: threads.max(1),
    })
}

fn describe(v: Variant) -> (&'static str, u32, &'static str) {
    match v {
        Variant::DelphiBaseline => ("delphi_baseline", 0, "none"),
        Variant::ExactSign => ("exact_sign", 0, "none"),
        Variant::StochasticSign => ("stochastic_sign", 0, "none"),
        Variant::TruncatedSign { k, mode } => (
            "truncated_sign",
            k,
            match mode {
                TieMode::NegPass => "neg_pass",
                TieMode::PosZero => "pos_zero",
            },
        ),
    }
}
