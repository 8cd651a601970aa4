//! Component timing printout (ignored by default; never asserts on time):
//! `cargo test -p circa-ot --release --test components -- --ignored --nocapture`
//!
//! Wall clock, best of five runs: the thread CPU clock of `/proc` only
//! advances at scheduler ticks, too coarse for runs of a few milliseconds.

use circa_ot::transpose::transpose_128xn;
use circa_ot::{AesBackend, Block, FixedKeyAes, Prg, TweakableHash};
use std::time::Instant;

/// Best (shortest) of five runs of `f`, in seconds.
fn best(mut f: impl FnMut()) -> f64 {
    (0..15)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

#[test]
#[ignore = "measurement, not a test; run with --ignored --nocapture"]
fn print_component_speeds() {
    const W: usize = 256; // one chunk: 128 rows x 256 blocks = 32768 OTs
    const REPS: usize = 64; // 2^21 OTs per run
    let ots = (W * 128 * REPS) as f64;
    let mut mat = vec![Block::ZERO; 128 * W];
    let mut prgs: Vec<Prg> = (0..128)
        .map(|i| Prg::from_seed_block(Block::from_u128(i)))
        .collect();
    let s = best(|| {
        for _ in 0..REPS {
            for (row, p) in mat.chunks_exact_mut(W).zip(prgs.iter_mut()) {
                p.fill_blocks(row);
            }
        }
    });
    println!("column PRG              {:7.1} M blocks/s", ots / s / 1e6);

    let mut out = vec![Block::ZERO; 128 * W];
    let s = best(|| {
        for _ in 0..REPS {
            transpose_128xn(&mat, W, &mut out);
        }
    });
    println!("transpose               {:7.1} M columns/s", ots / s / 1e6);

    // Per AES level, in calls of one chunk (L2-resident) and of 256 blocks.
    let mut pairs = vec![[Block::ZERO; 2]; 128 * W];
    for backend in AesBackend::available() {
        let name = backend.name();
        let aes = FixedKeyAes::with_backend(Block::from_u128(9), backend).unwrap();
        let s = best(|| {
            for _ in 0..REPS {
                aes.encrypt_many(&mut out);
            }
        });
        println!("{name:9} ECB           {:7.1} M blocks/s", ots / s / 1e6);
        let s = best(|| {
            for _ in 0..REPS {
                for c in out.chunks_mut(256) {
                    aes.encrypt_many(c);
                }
            }
        });
        println!("{name:9} ECB (256)     {:7.1} M blocks/s", ots / s / 1e6);
        let s = best(|| {
            for k in 0..REPS {
                aes.ctr((k * 128 * W) as u128, &mut out);
            }
        });
        println!("{name:9} CTR           {:7.1} M blocks/s", ots / s / 1e6);
        let h = TweakableHash::with_backend(Block::from_u128(1), backend).unwrap();
        let reps = if backend == AesBackend::Portable {
            REPS / 16
        } else {
            REPS
        };
        let n = (W * 128 * reps) as f64;
        let s = best(|| {
            for k in 0..reps {
                h.hash_seq_in_place(&mut out, (k * 128 * W) as u64);
            }
        });
        println!(
            "{name:9} MITCCRH       {:7.1} M hashes/s (single blocks)",
            n / s / 1e6
        );
        let s = best(|| {
            for k in 0..reps {
                h.hash_pairs(&mat, Block::ONES, (k * 128 * W) as u64, 1, &mut pairs);
            }
        });
        println!(
            "{name:9} MITCCRH pairs {:7.1} M hashes/s ({:.1} M pairs/s)",
            2.0 * n / s / 1e6,
            n / s / 1e6
        );
    }
    std::hint::black_box(&out);
    std::hint::black_box(&pairs);
}

/// The re-keyed hash against fixed-key ECB on the same backend, interleaved
/// run by run so that load and clock changes cancel: hashes per ECB block
/// time (1.0 would mean a re-keyed hash costs one fixed-key encryption).
#[test]
#[ignore = "measurement, not a test; run with --ignored --nocapture"]
fn print_hash_cost_relative_to_ecb() {
    const N: usize = 4096;
    const REPS: usize = 200;
    let mut xs = vec![Block::ZERO; N];
    let mut pairs = vec![[Block::ZERO; 2]; N];
    for backend in AesBackend::available().into_iter().skip(1) {
        let aes = FixedKeyAes::with_backend(Block::from_u128(9), backend).unwrap();
        let h = TweakableHash::with_backend(Block::from_u128(1), backend).unwrap();
        let (mut ecb, mut single, mut pair) = (f64::INFINITY, f64::INFINITY, f64::INFINITY);
        for _ in 0..15 {
            ecb = ecb.min(best(|| (0..REPS).for_each(|_| aes.encrypt_many(&mut xs))));
            single = single.min(best(|| {
                (0..REPS).for_each(|k| h.hash_seq_in_place(&mut xs, (k * N) as u64))
            }));
            pair = pair.min(best(|| {
                (0..REPS)
                    .for_each(|k| h.hash_pairs(&xs, Block::ONES, (k * N) as u64, 1, &mut pairs))
            }));
        }
        let per = |s: f64, blocks: usize| s / (blocks * REPS) as f64 * 1e9;
        println!(
            "{:9} ECB {:.2} ns/block; MITCCRH single {:.2} ns ({:.2} ECB), pair {:.2} ns per hash ({:.2} ECB)",
            backend.name(),
            per(ecb, N),
            per(single, N),
            single / ecb,
            per(pair, 2 * N),
            pair / (2.0 * ecb)
        );
    }
    std::hint::black_box(&pairs);
}

/// The transpose alone at several widths (cache-resident and not): best of
/// 300 runs of about a millisecond, short enough to fit between preemptions
/// on a loaded machine.
#[test]
#[ignore = "measurement, not a test; run with --ignored --nocapture"]
fn print_transpose_speeds() {
    for w in [8usize, 32, 64, 256] {
        let mut mat = vec![Block::ZERO; 128 * w];
        Prg::from_seed_block(Block::from_u128(5)).fill_blocks(&mut mat);
        let mut out = vec![Block::ZERO; 128 * w];
        let reps = ((1 << 15) / (128 * w)).max(1);
        let s = (0..300)
            .map(|_| {
                let t = Instant::now();
                for _ in 0..reps {
                    transpose_128xn(&mat, w, &mut out);
                }
                t.elapsed().as_secs_f64()
            })
            .fold(f64::INFINITY, f64::min);
        println!(
            "transpose width {w:4}: {:7.1} M columns/s",
            (reps * 128 * w) as f64 / s / 1e6
        );
    }
}
