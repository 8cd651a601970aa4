//! OT-based triples per second and bytes per triple; linear-layer
//! correlation seconds and bytes per multiply-accumulate. Two threads over
//! TCP loopback; base-OT setup is excluded from the timed part.
//!
//! Run: `cargo bench -p circa-share --bench correlations`.

use std::time::Duration;

use circa_share::bench_support::{linear_correlation_throughput, triples_ot_throughput};
use circa_share::linalg::Conv2dShape;
use circa_share::{Modulus, P2138816513, P2061584302081};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn triples<M: Modulus>(c: &mut Criterion, label: &str) {
    let n = 20_000;
    let probe = triples_ot_throughput::<M>(n).expect("loopback triples");
    eprintln!(
        "triples_ot {label}: {:.0} triples/s, {:.1} B/triple (analytic {:.1})",
        probe.per_sec, probe.bytes_per_op, probe.analytic_bytes_per_op
    );
    let mut g = c.benchmark_group(format!("triples_ot/{label}"));
    g.throughput(Throughput::Elements(n as u64));
    g.bench_function("generate", |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| {
                    let t = triples_ot_throughput::<M>(n).expect("loopback triples");
                    Duration::from_secs_f64(n as f64 / t.per_sec)
                })
                .sum()
        })
    });
    g.finish();
}

fn linear(c: &mut Criterion) {
    let shape = Conv2dShape::new(16, 16, 16, 16, 3).with_padding(1);
    let bits = 13;
    let probe =
        linear_correlation_throughput::<P2138816513>(&shape, bits).expect("loopback correlation");
    eprintln!(
        "linear_correlation p31 16x16x16 3x3 16->16, {bits}-bit weights: {:.3e} MAC/s, {:.2} B/MAC (analytic {:.2})",
        probe.per_sec, probe.bytes_per_op, probe.analytic_bytes_per_op
    );
    let mut g = c.benchmark_group("linear_correlation/p31_16x16x16_3x3_16to16");
    g.throughput(Throughput::Elements(shape.macs()));
    g.bench_function("conv", |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| {
                    let t = linear_correlation_throughput::<P2138816513>(&shape, bits)
                        .expect("loopback");
                    Duration::from_secs_f64(t.ops as f64 / t.per_sec)
                })
                .sum()
        })
    });
    g.finish();
}

fn all(c: &mut Criterion) {
    triples::<P2138816513>(c, "p31");
    triples::<P2061584302081>(c, "p41");
    linear(c);
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10).warm_up_time(Duration::from_millis(200)).measurement_time(Duration::from_secs(3));
    targets = all
}
criterion_main!(benches);
