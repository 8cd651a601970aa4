//! Cost measurement over TCP loopback (both parties one thread each): the figures of the
//! `circa-bench relu --json` line. Setup (base OTs) is outside the timed phases.

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
                "\"offline_relus_per_sec\":{:.0},\"online_relus_per_sec\":{:.0}}}"
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
        )
    }
}

/// Measures `n` ReLUs (label-table path or baseline). The Beaver path needs triple sources:
/// use [`run_with_triples`].
pub fn run<M: Modulus>(params: &ReluParams<M>, n: usize) -> Result<CostReport, Error> {
    if params.variant().is_sign() && params.product() == ProductPath::Beaver {
        return Err(Error::TriplesRequired);
    }
    run_inner(params, n, None, None)
}

/// Measures `n` ReLUs with the given triple sources (their triple generation is timed as part of
/// the offline phase).
pub fn run_with_triples<M: Modulus>(
    params: &ReluParams<M>,
    n: usize,
    server_triples: &mut (dyn TripleSource<M, Role = Server> + Send),
    client_triples: &mut (dyn TripleSource<M, Role = Client> + Send),
) -> Result<CostReport, Error> {
    run_inner(params, n, Some(server_triples), Some(client_triples))
}

struct PartyTimes {
    offline: f64,
    online: f64,
}

fn run_inner<M: Modulus>(
    params: &ReluParams<M>,
    n: usize,
    server_triples: Option<&mut (dyn TripleSource<M, Role = Server> + Send)>,
    client_triples: Option<&mut (dyn TripleSource<M, Role = Client> + Send)>,
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
            let t0 = Instant::now();
            let pre = match client_triples {
                Some(t) => cl.offline_with_triples(&mut cch, &c, t)?,
                None => cl.offline(&mut cch, &c)?,
            };
            let offline = t0.elapsed().as_secs_f64();
            let storage = pre.storage_bytes();
            let before = circa_ot::Channel::stats(&cch);
            barrier.wait();
            let t1 = Instant::now();
            let out = cl.online(&mut cch, pre)?;
            let online = t1.elapsed().as_secs_f64();
            let st = circa_ot::Channel::stats(&cch).since(&before);
            Ok((out, storage, st, PartyTimes { offline, online }))
        });
        let server = (|| -> Result<_, Error> {
            let mut srng = Prg::from_seed_block(Block::from_u128(0x5e7e));
            let mut sv = ReluServer::setup(&mut sch, params, &mut srng)?;
            barrier.wait();
            let start = circa_ot::Channel::stats(&sch);
            let t0 = Instant::now();
            let pre = match server_triples {
                Some(t) => sv.offline_with_triples(&mut sch, n, t)?,
                None => sv.offline(&mut sch, n)?,
            };
            let offline = t0.elapsed().as_secs_f64();
            let mid = circa_ot::Channel::stats(&sch);
            barrier.wait();
            let t1 = Instant::now();
            let out = sv.online(&mut sch, pre, &s)?;
            let online = t1.elapsed().as_secs_f64();
            let end = circa_ot::Channel::stats(&sch);
            Ok((
                out,
                mid.since(&start),
                end.since(&mid),
                PartyTimes { offline, online },
            ))
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
