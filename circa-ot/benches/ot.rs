//! Criterion benches of circa-ot: AES and the re-keyed hash at every backend, base OT and the IKNP
//! extension over TCP loopback (one thread per party).
//!
//! `cargo bench -p circa-ot --bench ot`; set `CIRCA_OT_BENCH_BIG=1` to add
//! the 2^24 runs (about 10 runs of 1-3 s each per kind).

use circa_ot::bench_support::{OtKind, run_ot_loopback};
use circa_ot::{AesBackend, Block, FixedKeyAes, MemChannel, Prg, TweakableHash, base_ot};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use std::hint::black_box;
use std::time::{Duration, Instant};

fn hashing(c: &mut Criterion) {
    const N: usize = 1 << 12;
    let mut xs = vec![Block::ZERO; N];
    Prg::from_seed_block(Block::from_u128(1)).fill_blocks(&mut xs);
    let mut out = vec![Block::ZERO; N];
    let mut pairs = vec![[Block::ZERO; 2]; N / 2];
    for backend in AesBackend::available() {
        let aes = FixedKeyAes::with_backend(Block::from_u128(3), backend).expect("available");
        let hash = TweakableHash::with_backend(Block::from_u128(2), backend).expect("available");
        let mut g = c.benchmark_group(format!("aes/{}", backend.name()));
        g.throughput(Throughput::Elements(N as u64));
        g.bench_function("fixed_key_ecb", |b| {
            b.iter(|| aes.encrypt_many(black_box(&mut out)))
        });
        g.bench_function("ctr", |b| b.iter(|| aes.ctr(0, black_box(&mut out))));
        g.bench_function("mitccrh_singles", |b| {
            b.iter(|| hash.hash_seq_in_place(black_box(&mut out), 0))
        });
        g.bench_function("mitccrh_pairs", |b| {
            b.iter(|| hash.hash_pairs(black_box(&xs[..N / 2]), Block::ONES, 0, 1, &mut pairs))
        });
        g.finish();
    }
}

fn base_ots(c: &mut Criterion) {
    let mut g = c.benchmark_group("base_ot");
    g.sample_size(10);
    g.throughput(Throughput::Elements(128));
    g.bench_function("chou_orlandi_128", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for i in 0..iters {
                let (mut cs, mut cr) = MemChannel::pair();
                let choices: Vec<bool> = (0..128)
                    .map(|j| (j * 5 + i as usize).is_multiple_of(3))
                    .collect();
                let start = Instant::now();
                std::thread::scope(|s| {
                    s.spawn(|| {
                        base_ot::send(&mut cs, [1; 16], 128, &mut ChaCha20Rng::seed_from_u64(i))
                            .expect("base OT sender")
                    });
                    base_ot::receive(
                        &mut cr,
                        [1; 16],
                        &choices,
                        &mut ChaCha20Rng::seed_from_u64(!i),
                    )
                    .expect("base OT receiver");
                });
                total += start.elapsed();
            }
            total
        })
    });
    g.finish();
}

fn extension(c: &mut Criterion) {
    let mut sizes = vec![1u64 << 20];
    if std::env::var_os("CIRCA_OT_BENCH_BIG").is_some() {
        sizes.push(1 << 24);
    }
    let mut g = c.benchmark_group("iknp_loopback");
    g.sample_size(10);
    g.warm_up_time(Duration::from_millis(500));
    g.measurement_time(Duration::from_secs(3));
    for n in sizes {
        g.throughput(Throughput::Elements(n));
        for kind in OtKind::ALL {
            g.bench_function(format!("{}/{}", kind.name(), n), |b| {
                // Times the extension only (setup and thread start excluded).
                b.iter_custom(|iters| {
                    (0..iters)
                        .map(|_| {
                            let r = run_ot_loopback(kind, n).expect("loopback run");
                            Duration::from_secs_f64(r.seconds)
                        })
                        .sum()
                })
            });
        }
    }
    g.finish();
}

criterion_group!(benches, hashing, base_ots, extension);
criterion_main!(benches);
