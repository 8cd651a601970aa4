//! The HE linear-layer correlation: key generation, encryption, the
//! server's answer (ciphertext x plaintext, re-randomisation, switching)
//! and decryption; one convolution of each benchmark shape over TCP
//! loopback with bytes per multiply-accumulate, beside the OT correlation
//! measured in the same run; and the per-network totals of the plans.
//!
//! Run: `cargo bench -p circa-share --bench he`.

use std::hint::black_box;
use std::time::Duration;

use circa_ot::Block;
use circa_ot::Prg;
use circa_share::bench_support::{
    he_benchmark_networks, he_correlation_throughput, he_correlation_throughput_with,
    linear_correlation_throughput,
};
use circa_share::he::cost::{he_cost, ot_cost};
use circa_share::he::{HeLayer, HeLinearClient, HeParamSet, HeParams, HePlan, HeServer};
use circa_share::linalg::{Conv2dShape, Window2d};
use circa_share::{Fp, Modulus, P2138816513, P2061584302081};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};

const WEIGHT_BITS: u32 = 13;

/// The cheapest HE plan over both parameter sets.
fn best_plan<M: Modulus>(sets: &[HeParams<M>], shape: &Conv2dShape) -> Option<HePlan<M>> {
    sets.iter()
        .filter_map(|p| HePlan::conv(p, shape, WEIGHT_BITS).ok())
        .min_by_key(|p| p.query_bytes() + p.answer_bytes())
}

fn networks<M: Modulus>(label: &str) {
    let sets: Vec<HeParams<M>> = HeParamSet::ALL
        .iter()
        .map(|&s| HeParams::new(s).unwrap())
        .collect();
    for (name, layers) in he_benchmark_networks() {
        let (mut he_bytes, mut ot_bytes, mut macs, mut secs) = (0u64, 0u64, 0u64, 0f64);
        let mut he_c2s = 0u64;
        let mut cache = 0usize;
        let mut worst: (f64, String) = (f64::INFINITY, String::new());
        for shape in &layers {
            let plan = best_plan(&sets, shape).expect("every benchmark layer fits a parameter set");
            let c = he_cost(&plan);
            he_bytes += c.bytes();
            he_c2s += c.client_to_server;
            cache += plan.kernel_pairs() * 2 * plan.params().degree() * 8;
            secs += c.client_seconds + c.server_seconds;
            ot_bytes += ot_cost::<M>(shape, WEIGHT_BITS).unwrap().bytes();
            macs += shape.macs();
            if plan.budget().stat_bits < worst.0 {
                worst = (
                    plan.budget().stat_bits,
                    format!("{:?} {:?}", plan.params().set(), shape),
                );
            }
        }
        eprintln!(
            "network {name} {label}: {} linear layers, {:.1} M MACs; HE {:.2} MB ({:.2} MB up), {:.4} B/MAC, est. {:.2} s CPU; OT {:.0} MB, {:.1} B/MAC; min slack {:.1} bits at {}; kernel NTT cache {:.0} MB",
            layers.len(),
            macs as f64 / 1e6,
            he_bytes as f64 / 1e6,
            he_c2s as f64 / 1e6,
            he_bytes as f64 / macs as f64,
            secs,
            ot_bytes as f64 / 1e6,
            ot_bytes as f64 / macs as f64,
            worst.0,
            worst.1,
            cache as f64 / 1e6
        );
    }
}

fn primitives<M: Modulus>(c: &mut Criterion, label: &str) {
    for set in HeParamSet::ALL {
        let params = HeParams::<M>::new(set).unwrap();
        let shape = Conv2dShape::new(16, 16, 16, 16, 3).with_padding(1);
        let Ok(plan) = HePlan::conv(&params, &shape, WEIGHT_BITS) else {
            continue;
        };
        let mut g = c.benchmark_group(format!("he/{label}/{set:?}"));
        let mut rng = Prg::from_seed_block(Block::from_u128(1));
        g.bench_function("keygen", |b| {
            b.iter(|| black_box(HeLinearClient::new(&params, &mut rng)))
        });
        let client = HeLinearClient::new(&params, &mut rng);
        let server = HeServer::new(&params, &client.public_key()).unwrap();
        let r: Vec<Fp<M>> = (0..shape.input_len())
            .map(|_| Fp::random(&mut rng))
            .collect();
        let w: Vec<Fp<M>> = (0..shape.weight_len())
            .map(|i| Fp::from_i64_reduced((i as i64 * 7919) % 8191 - 4095))
            .collect();
        let layer = HeLayer::encode_plan(plan.clone(), &w).unwrap();
        g.throughput(Throughput::Elements(plan.n_in() as u64));
        g.bench_function("encrypt_per_query", |b| {
            b.iter(|| black_box(client.encrypt(&plan, &r, &mut rng).unwrap()))
        });
        let (query, _) = client.encrypt(&plan, &r, &mut rng).unwrap();
        g.throughput(Throughput::Elements(shape.macs()));
        g.bench_function("answer_ct_x_pt", |b| {
            b.iter(|| black_box(server.answer(&layer, &query, &mut rng).unwrap()))
        });
        let (answer, _) = server.answer(&layer, &query, &mut rng).unwrap();
        g.throughput(Throughput::Elements(plan.n_out() as u64));
        g.bench_function("decrypt", |b| {
            b.iter_batched(
                || {
                    client
                        .encrypt(&plan, &r, &mut Prg::from_seed_block(Block::from_u128(9)))
                        .unwrap()
                        .1
                },
                |pending| black_box(pending.decrypt(&answer).unwrap()),
                BatchSize::SmallInput,
            )
        });
        g.finish();
    }
}

fn layers<M: Modulus>(c: &mut Criterion, label: &str) {
    let sets: Vec<HeParams<M>> = HeParamSet::ALL
        .iter()
        .map(|&s| HeParams::new(s).unwrap())
        .collect();
    let c3 = |ch, h, m| Conv2dShape::new(ch, h, h, m, 3).with_padding(1);
    let shapes = [
        ("minionn_l1_3x32x32_3x3_64", c3(3, 32, 64)),
        ("minionn_l2_64x32x32_3x3_64", c3(64, 32, 64)),
        ("resnet32_16x32x32_3x3_16", c3(16, 32, 16)),
        ("resnet32_32x16x16_3x3_32", c3(32, 16, 32)),
        ("resnet32_64x8x8_3x3_64", c3(64, 8, 64)),
        ("resnet18_128x16x16_3x3_128", c3(128, 16, 128)),
        (
            "1x1_64x32x32_128_s2",
            Conv2dShape::new(64, 32, 32, 128, 1).with_stride(2),
        ),
        (
            "7x7_3x32x32_64_s2_p3",
            Conv2dShape::new(3, 32, 32, 64, 7).with_window(Window2d::square(7, 2).with_padding(3)),
        ),
    ];
    // The OT correlation on one small layer in the same run (it moves
    // ~50 B/MAC, so a large layer would take minutes).
    let ot_shape = c3(16, 16, 16);
    let ot = linear_correlation_throughput::<M>(&ot_shape, WEIGHT_BITS).expect("OT correlation");
    eprintln!(
        "ot {label} {ot_shape:?}: {:.3e} MAC/s, {:.2} B/MAC (analytic {:.2})",
        ot.per_sec, ot.bytes_per_op, ot.analytic_bytes_per_op
    );
    let mut g = c.benchmark_group(format!("he_layer/{label}"));
    for (name, shape) in shapes {
        let Some(plan) = best_plan(&sets, &shape) else {
            eprintln!("he {label} {name}: no parameter set fits");
            continue;
        };
        let params = plan.params().clone();
        let t = he_correlation_throughput(&params, &shape, WEIGHT_BITS).expect("HE correlation");
        let ot_bytes = ot_cost::<M>(&shape, WEIGHT_BITS).unwrap().bytes();
        let est = he_cost(&plan);
        eprintln!(
            "he {label} {name} {:?} packing {:?}: {:.2} M MACs, {:.1} KB up + {:.1} KB down = {:.4} B/MAC (OT analytic {:.1} B/MAC); client {:.3} s, server {:.3} s CPU (model {:.3} / {:.3}); slack {:.1} bits",
            params.set(),
            plan.packing(),
            t.macs as f64 / 1e6,
            t.client_to_server as f64 / 1e3,
            t.server_to_client as f64 / 1e3,
            t.bytes_per_mac(),
            ot_bytes as f64 / t.macs as f64,
            t.client_seconds,
            t.server_seconds,
            est.client_seconds,
            est.server_seconds,
            plan.budget().stat_bits
        );
        g.throughput(Throughput::Elements(shape.macs()));
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                (0..iters)
                    .map(|_| {
                        let t = he_correlation_throughput(&params, &shape, WEIGHT_BITS)
                            .expect("HE correlation");
                        Duration::from_secs_f64(t.wall_seconds)
                    })
                    .sum()
            })
        });
    }
    g.finish();
}

/// Every linear layer of MiniONN through the HE correlation over loopback,
/// once: total bytes and CPU seconds per party (one thread each).
fn minionn_run<M: Modulus>(label: &str, ntt_cache: bool) {
    let sets: Vec<HeParams<M>> = HeParamSet::ALL
        .iter()
        .map(|&s| HeParams::new(s).unwrap())
        .collect();
    let (_, layers) = he_benchmark_networks()
        .into_iter()
        .next()
        .expect("MiniONN is listed first");
    let (mut bytes, mut macs, mut client, mut server) = (0u64, 0u64, 0f64, 0f64);
    for shape in &layers {
        let plan = best_plan(&sets, shape).expect("MiniONN fits");
        let t = he_correlation_throughput_with(plan.params(), shape, WEIGHT_BITS, ntt_cache)
            .expect("HE correlation");
        bytes += t.client_to_server + t.server_to_client;
        macs += t.macs;
        client += t.client_seconds;
        server += t.server_seconds;
    }
    eprintln!(
        "run MiniONN {label} (kernel NTT cache: {ntt_cache}): {} layers, {:.2} MB, {:.4} B/MAC, client {:.2} s CPU, server {:.2} s CPU (public keys excluded)",
        layers.len(),
        bytes as f64 / 1e6,
        bytes as f64 / macs as f64,
        client,
        server
    );
}

fn all(c: &mut Criterion) {
    for cache in [false, true] {
        minionn_run::<P2061584302081>("p41", cache);
        minionn_run::<P2138816513>("p31", cache);
    }
    networks::<P2061584302081>("p41");
    networks::<P2138816513>("p31");
    primitives::<P2061584302081>(c, "p41");
    primitives::<P2138816513>(c, "p31");
    layers::<P2061584302081>(c, "p41");
    layers::<P2138816513>(c, "p31");
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10).warm_up_time(Duration::from_millis(200)).measurement_time(Duration::from_secs(2));
    targets = all
}
criterion_main!(benches);
