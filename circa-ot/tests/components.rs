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
    }
    let h = TweakableHash::new(Block::from_u128(1));
    let s = best(|| {
        for k in 0..REPS {
            h.hash_seq_in_place(&mut out, (k * 128 * W) as u64);
        }
    });
    println!("TCCR hash               {:7.1} M hashes/s", ots / s / 1e6);
    std::hint::black_box(&out);
}
