//! Throughput measurement helpers for the workspace benchmark report
//! (`circa-bench share --json`). Not for tests: these use wall-clock time.

use std::hint::black_box;
use std::time::{Duration, Instant};

use circa_ot::{Block, Channel, Prg, TcpChannel};

use crate::beaver::TripleSource;
use crate::error::Error;
use crate::field::{Fp, Modulus, batch};
use crate::linalg::{Conv2dShape, conv2d};
use crate::ole::{Direction, LinearCorrelationClient, LinearCorrelationServer, OtTripleSource};
use crate::share::{Client, Server};

/// Multiply-accumulates per second of one convolution on shares and of the
/// same convolution in plain `i64`, measured in the same call.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ConvThroughput {
    /// Multiply-accumulates per convolution.
    pub macs_per_conv: u64,
    /// MACs per second on one party's share (field arithmetic).
    pub shares_macs_per_sec: f64,
    /// MACs per second in plain wrapping `i64`.
    pub plain_i64_macs_per_sec: f64,
}

impl ConvThroughput {
    /// `shares / plain_i64` (the target is at least 0.5).
    pub fn ratio(&self) -> f64 {
        self.shares_macs_per_sec / self.plain_i64_macs_per_sec
    }
}

/// The shapes the benchmarks use: `("16x16x16 3x3 16->16", ..)` and a
/// MiniONN-like `("32x32x64 3x3 64->64", ..)`, both with padding 1.
pub fn standard_conv_shapes() -> Vec<(&'static str, Conv2dShape)> {
    vec![
        (
            "16x16x16_3x3_16to16",
            Conv2dShape::new(16, 16, 16, 16, 3).with_padding(1),
        ),
        (
            "32x32x64_3x3_64to64",
            Conv2dShape::new(64, 32, 32, 64, 3).with_padding(1),
        ),
    ]
}

/// Deterministic non-cryptographic filler (SplitMix64) for benchmark data.
fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn time_until<F: FnMut()>(min_time: Duration, mut f: F) -> f64 {
    f(); // warm up
    let start = Instant::now();
    let mut runs = 0u64;
    while runs == 0 || start.elapsed() < min_time {
        f();
        runs += 1;
    }
    runs as f64 / start.elapsed().as_secs_f64()
}

/// Runs the convolution `shape` on a full-range share with signed small
/// weights (12-bit fixed-point magnitudes, as field elements) and the same
/// shapes in `i64`, each for at least `min_time` (on the calling thread, or
/// on rayon's pool with the `rayon` feature).
pub fn conv_throughput<M: Modulus>(
    shape: &Conv2dShape,
    min_time: Duration,
) -> Result<ConvThroughput, Error> {
    shape.validate()?;
    let mut st = 0x5eed_u64;
    let w_i64: Vec<i64> = (0..shape.weight_len())
        .map(|_| (splitmix(&mut st) % 8191) as i64 - 4095)
        .collect();
    let x_i64: Vec<i64> = (0..shape.input_len())
        .map(|_| (splitmix(&mut st) % 8191) as i64 - 4095)
        .collect();
    let w: Vec<Fp<M>> = w_i64.iter().map(|&v| Fp::from_i64_reduced(v)).collect();
    let x: Vec<Fp<M>> = (0..shape.input_len())
        .map(|_| Fp::from_u64_reduced(splitmix(&mut st)))
        .collect();
    let macs = shape.macs();
    let shares_per_sec = time_until(min_time, || {
        black_box(conv2d(shape, black_box(&w), black_box(&x)).ok());
    });
    let plain_per_sec = time_until(min_time, || {
        black_box(conv2d(shape, black_box(&w_i64), black_box(&x_i64)).ok());
    });
    Ok(ConvThroughput {
        macs_per_conv: macs,
        shares_macs_per_sec: shares_per_sec * macs as f64,
        plain_i64_macs_per_sec: plain_per_sec * macs as f64,
    })
}

/// Throughput and wire cost of an OT-based generator, measured over TCP
/// loopback between two threads (setup with base OTs excluded).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OtThroughput {
    /// Operations produced (triples, or multiply-accumulates).
    pub ops: u64,
    /// Operations per second (wall clock, both parties on this machine).
    pub per_sec: f64,
    /// Bytes on the wire (both directions) per operation.
    pub bytes_per_op: f64,
    /// The method's analytic bytes per operation.
    pub analytic_bytes_per_op: f64,
}

fn server_thread<T: Send + 'static>(
    chs: TcpChannel,
    f: impl FnOnce(TcpChannel) -> Result<T, Error> + Send + 'static,
) -> std::thread::JoinHandle<Result<T, Error>> {
    std::thread::spawn(move || f(chs))
}

/// `n` OT-based triples ([`OtTripleSource`]) over loopback.
pub fn triples_ot_throughput<M: Modulus>(n: usize) -> Result<OtThroughput, Error> {
    let (chc, chs) = TcpChannel::loopback_pair()?;
    let server = server_thread(chs, move |chs| {
        let mut rng = Prg::from_seed_block(Block::from_u128(2));
        let mut src = OtTripleSource::<Server, M, _>::setup(chs, &mut rng)?;
        src.triples(n).map(|_| ())
    });
    let mut rng = Prg::from_seed_block(Block::from_u128(1));
    let mut src = OtTripleSource::<Client, M, _>::setup(chc, &mut rng)?;
    let before = src.channel().stats();
    let start = Instant::now();
    let t = src.triples(n)?;
    let secs = start.elapsed().as_secs_f64();
    let stats = src.channel().stats().since(&before);
    server
        .join()
        .map_err(|_| Error::Ot(circa_ot::Error::Closed))??;
    black_box(t);
    let bits = M::BITS as f64;
    Ok(OtThroughput {
        ops: n as u64,
        per_sec: n as f64 / secs,
        bytes_per_op: (stats.bytes_sent + stats.bytes_received) as f64 / n as f64,
        analytic_bytes_per_op: 2.0 * bits * (16.0 + batch::packed_width::<M>() as f64),
    })
}

/// The linear-layer correlation of the convolution `shape` with
/// `weight_bits`-bit weights over loopback, per multiply-accumulate.
pub fn linear_correlation_throughput<M: Modulus>(
    shape: &Conv2dShape,
    weight_bits: u32,
) -> Result<OtThroughput, Error> {
    shape.validate()?;
    if !(1..=crate::ole::MAX_WEIGHT_BITS).contains(&weight_bits) {
        return Err(Error::LimitExceeded {
            what: "weight bits",
            requested: weight_bits as u64,
            limit: crate::ole::MAX_WEIGHT_BITS as u64,
        });
    }
    let mut st = 0xc0ffee_u64;
    let half = 1u64 << (weight_bits - 1);
    let w: Vec<Fp<M>> = (0..shape.weight_len())
        .map(|_| Fp::from_i64_reduced((splitmix(&mut st) % (2 * half)) as i64 - half as i64))
        .collect();
    let (mut chc, chs) = TcpChannel::loopback_pair()?;
    let shape2 = *shape;
    let server = server_thread(chs, move |mut chs| {
        let mut rng = Prg::from_seed_block(Block::from_u128(4));
        let mut s = LinearCorrelationServer::<M>::setup(&mut chs, &mut rng)?;
        s.conv2d(&mut chs, &shape2, &w, weight_bits).map(|_| ())
    });
    let mut rng = Prg::from_seed_block(Block::from_u128(3));
    let mut c = LinearCorrelationClient::<M>::setup(&mut chc, &mut rng)?;
    let r: Vec<Fp<M>> = batch::random_many(&mut rng, shape.input_len());
    let before = chc.stats();
    let start = Instant::now();
    let out = c.conv2d(&mut chc, shape, weight_bits, &r)?;
    let secs = start.elapsed().as_secs_f64();
    let stats = chc.stats().since(&before);
    server
        .join()
        .map_err(|_| Error::Ot(circa_ot::Error::Closed))??;
    black_box(out);
    let macs = shape.macs();
    let (ocg, k) = (shape.out_channels / shape.groups, shape.patch_len());
    let npos = shape.out_height() * shape.out_width();
    let per_group =
        Direction::choose::<M>(ocg, k, npos, weight_bits).bytes::<M>(ocg, k, npos, weight_bits);
    let analytic = per_group as f64 * (shape.batch * shape.groups) as f64;
    Ok(OtThroughput {
        ops: macs,
        per_sec: macs as f64 / secs,
        bytes_per_op: (stats.bytes_sent + stats.bytes_received) as f64 / macs as f64,
        analytic_bytes_per_op: analytic / macs as f64,
    })
}

/// One HE correlation ([`crate::he`]) of a convolution: wire bytes each
/// way and CPU seconds of each party (thread CPU time, one thread each).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HeThroughput {
    /// Multiply-accumulates of the layer.
    pub macs: u64,
    /// Bytes client to server (the query; the public key is excluded).
    pub client_to_server: u64,
    /// Bytes server to client (the answer).
    pub server_to_client: u64,
    /// Client CPU seconds (encrypt + decrypt).
    pub client_seconds: f64,
    /// Server CPU seconds (answer).
    pub server_seconds: f64,
    /// Wall seconds of the call (both parties, loopback).
    pub wall_seconds: f64,
}

impl HeThroughput {
    /// Bytes both ways per multiply-accumulate.
    pub fn bytes_per_mac(&self) -> f64 {
        (self.client_to_server + self.server_to_client) as f64 / self.macs as f64
    }
}

/// The HE correlation of `shape` (random `weight_bits`-bit weights) over
/// TCP loopback between two threads, through the drivers of
/// [`crate::he::driver`]; key generation and the public key are excluded.
pub fn he_correlation_throughput<M: Modulus>(
    params: &crate::he::HeParams<M>,
    shape: &Conv2dShape,
    weight_bits: u32,
) -> Result<HeThroughput, Error> {
    he_correlation_throughput_with(params, shape, weight_bits, false)
}

/// [`he_correlation_throughput`], optionally with the server's kernel NTT
/// cache ([`crate::he::HeLayer::with_ntt_cache`], built outside the timed
/// part).
pub fn he_correlation_throughput_with<M: Modulus>(
    params: &crate::he::HeParams<M>,
    shape: &Conv2dShape,
    weight_bits: u32,
    ntt_cache: bool,
) -> Result<HeThroughput, Error> {
    use crate::he::{HeLayer, HeLinearClient, HePlan, driver};
    let cpu = || circa_ot::bench_support::thread_cpu_ns().map_or(0.0, |v| v as f64 * 1e-9);
    let mut st = 0xbeef_u64;
    let half = 1u64 << (weight_bits - 1);
    let w: Vec<Fp<M>> = (0..shape.weight_len())
        .map(|_| Fp::from_i64_reduced((splitmix(&mut st) % (2 * half)) as i64 - half as i64))
        .collect();
    let layer = HeLayer::encode(params, shape, &w, weight_bits)?;
    let layer = if ntt_cache {
        layer.with_ntt_cache()
    } else {
        layer
    };
    let plan = HePlan::conv(params, shape, weight_bits)?;
    let (mut chc, chs) = TcpChannel::loopback_pair()?;
    let sp = params.clone();
    let server = server_thread(chs, move |mut chs| {
        let mut rng = Prg::from_seed_block(Block::from_u128(6));
        let srv = driver::recv_public_key(&mut chs, &sp)?;
        let t0 = cpu();
        driver::server_layer(&mut chs, &srv, &layer, &mut rng)?;
        Ok(cpu() - t0)
    });
    let mut rng = Prg::from_seed_block(Block::from_u128(5));
    let client = HeLinearClient::new(params, &mut rng);
    driver::send_public_key(&mut chc, &client)?;
    let r: Vec<Fp<M>> = batch::random_many(&mut rng, shape.input_len());
    let before = chc.stats();
    let (start, t0) = (Instant::now(), cpu());
    let out = driver::client_layer(&mut chc, &client, &plan, &r, &mut rng)?;
    let (wall, client_seconds) = (start.elapsed().as_secs_f64(), cpu() - t0);
    let stats = chc.stats().since(&before);
    let server_seconds = server
        .join()
        .map_err(|_| Error::Ot(circa_ot::Error::Closed))??;
    black_box(out);
    Ok(HeThroughput {
        macs: shape.macs(),
        client_to_server: stats.bytes_sent,
        server_to_client: stats.bytes_received,
        client_seconds,
        server_seconds,
        wall_seconds: wall,
    })
}

/// Linear layers (convolutions, dense layers as `1 x 1` convolutions) of
/// the benchmark networks, CIFAR shapes, one image: MiniONN (CIFAR-10),
/// ResNet-32 (CIFAR-100, 1x1 stride-2 projections), ResNet-18 (CIFAR),
/// VGG-16 (CIFAR). Average pooling is local on shares and not listed.
pub fn he_benchmark_networks() -> Vec<(&'static str, Vec<Conv2dShape>)> {
    let c3 = |c, h, m| Conv2dShape::new(c, h, h, m, 3).with_padding(1);
    let c3s2 = |c, h, m| {
        Conv2dShape::new(c, h, h, m, 3)
            .with_padding(1)
            .with_stride(2)
    };
    let c1s2 = |c, h, m| Conv2dShape::new(c, h, h, m, 1).with_stride(2);
    let fc = |i, o| Conv2dShape::new(i, 1, 1, o, 1);
    let minionn = vec![
        c3(3, 32, 64),
        c3(64, 32, 64),
        c3(64, 16, 64),
        c3(64, 16, 64),
        c3(64, 8, 64),
        Conv2dShape::new(64, 8, 8, 64, 1),
        Conv2dShape::new(64, 8, 8, 16, 1),
        fc(1024, 10),
    ];
    // A CIFAR ResNet: stem, then per stage `blocks` basic blocks of two 3x3
    // convolutions, the first block of later stages with stride 2 and a 1x1
    // stride-2 projection.
    let resnet = |stem: usize, stages: &[(usize, usize)], blocks: usize| {
        let mut v = vec![c3(3, 32, stem)];
        for (i, &(c, h)) in stages.iter().enumerate() {
            for b in 0..blocks {
                if b == 0 && i > 0 {
                    v.push(c3s2(c / 2, 2 * h, c));
                    v.push(c1s2(c / 2, 2 * h, c));
                } else {
                    v.push(c3(c, h, c));
                }
                v.push(c3(c, h, c));
            }
        }
        v
    };
    let mut resnet32 = resnet(16, &[(16, 32), (32, 16), (64, 8)], 5);
    resnet32.push(fc(64, 100));
    let mut resnet18 = resnet(64, &[(64, 32), (128, 16), (256, 8), (512, 4)], 2);
    resnet18.push(fc(512, 10));
    let mut vgg16 = Vec::new();
    let mut c = 3;
    for (h, m, n) in [
        (32, 64, 2),
        (16, 128, 2),
        (8, 256, 3),
        (4, 512, 3),
        (2, 512, 3),
    ] {
        for _ in 0..n {
            vgg16.push(c3(c, h, m));
            c = m;
        }
    }
    vgg16.push(fc(512, 512));
    vgg16.push(fc(512, 10));
    vec![
        ("MiniONN", minionn),
        ("ResNet-32", resnet32),
        ("ResNet-18", resnet18),
        ("VGG-16", vgg16),
    ]
}
