//! Field multiply-add throughput; convolution and dense layers on shares
//! next to the same layers in plain `i64` (same shapes, same run).
//!
//! Run: `cargo bench -p circa-share --bench arith` (one thread), or with
//! `--features rayon` (convolution and dense layers, shares and `i64` alike,
//! split over output channels / rows on rayon's pool).

use std::hint::black_box;
use std::time::Duration;

use circa_share::bench_support::standard_conv_shapes;
use circa_share::field::batch;
use circa_share::linalg::{conv2d, dense};
use circa_share::{Fp, Modulus, P2138816513, P2061584302081};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};

fn field_ops<M: Modulus>(c: &mut Criterion, label: &str) {
    let n = 1 << 14;
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let a: Vec<Fp<M>> = batch::random_many(&mut rng, n);
    let b: Vec<Fp<M>> = batch::random_many(&mut rng, n);
    let mut acc: Vec<Fp<M>> = batch::random_many(&mut rng, n);
    let mut g = c.benchmark_group(format!("field/{label}"));
    g.throughput(Throughput::Elements(n as u64));
    g.bench_function("mul_add_many (reduce each)", |bch| {
        bch.iter(|| batch::mul_add_many(black_box(&mut acc), black_box(&a), black_box(&b)))
    });
    g.bench_function("dot (lazy reduction)", |bch| {
        bch.iter(|| batch::dot(black_box(&a), black_box(&b)))
    });
    g.bench_function("mul", |bch| {
        bch.iter(|| batch::mul_assign_many(black_box(&mut acc), black_box(&a)))
    });
    g.finish();
}

fn small_signed(rng: &mut ChaCha20Rng, n: usize) -> Vec<i64> {
    (0..n)
        .map(|_| (rng.next_u32() % 8191) as i64 - 4095)
        .collect()
}

fn conv(c: &mut Criterion) {
    for (name, shape) in standard_conv_shapes() {
        let mut rng = ChaCha20Rng::seed_from_u64(2);
        let w = small_signed(&mut rng, shape.weight_len());
        let x = small_signed(&mut rng, shape.input_len());
        let mut g = c.benchmark_group(format!("conv/{name}"));
        g.throughput(Throughput::Elements(shape.macs()));
        g.bench_function("conv_plain_i64", |bch| {
            bch.iter(|| conv2d(&shape, black_box(&w), black_box(&x)))
        });
        conv_shares::<P2138816513>(&mut g, "conv_shares_p31", &shape, &w, &mut rng);
        conv_shares::<P2061584302081>(&mut g, "conv_shares_p41", &shape, &w, &mut rng);
        g.finish();
    }
}

fn conv_shares<M: Modulus>(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    id: &str,
    shape: &circa_share::linalg::Conv2dShape,
    w: &[i64],
    rng: &mut ChaCha20Rng,
) {
    let wf: Vec<Fp<M>> = w.iter().map(|&v| Fp::from_i64_reduced(v)).collect();
    // A share is a full-range field element.
    let xf: Vec<Fp<M>> = batch::random_many(rng, shape.input_len());
    g.bench_function(id, |bch| {
        bch.iter(|| conv2d(shape, black_box(&wf), black_box(&xf)))
    });
}

fn dense_layer(c: &mut Criterion) {
    let (rows, cols) = (256, 4096);
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    let w = small_signed(&mut rng, rows * cols);
    let x = small_signed(&mut rng, cols);
    let wf: Vec<Fp<P2138816513>> = w.iter().map(|&v| Fp::from_i64_reduced(v)).collect();
    let xf: Vec<Fp<P2138816513>> = batch::random_many(&mut rng, cols);
    let mut g = c.benchmark_group("dense/256x4096");
    g.throughput(Throughput::Elements((rows * cols) as u64));
    g.bench_function("dense_plain_i64", |bch| {
        bch.iter(|| dense(black_box(&w), rows, cols, black_box(&x)))
    });
    g.bench_function("dense_shares_p31", |bch| {
        bch.iter(|| dense(black_box(&wf), rows, cols, black_box(&xf)))
    });
    g.finish();
}

fn field(c: &mut Criterion) {
    field_ops::<P2138816513>(c, "p31");
    field_ops::<P2061584302081>(c, "p41");
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10).warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2));
    targets = field, conv, dense_layer
}
criterion_main!(benches);
