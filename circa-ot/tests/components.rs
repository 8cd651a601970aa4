//! Component timing printout (ignored by default; never asserts on time):
//! `cargo test -p circa-ot --release --test components -- --ignored --nocapture`

use circa_ot::transpose::transpose_128xn;
use circa_ot::{Block, FixedKeyAes, Prg, TweakableHash};

/// CPU time of this thread in seconds (from /proc; load on the machine does not inflate it).
fn cpu_now() -> f64 {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap_or_default();
    s.split_whitespace()
        .next()
        .and_then(|x| x.parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1e9
}

struct Instant(f64);
impl Instant {
    fn now() -> Instant {
        Instant(cpu_now())
    }
    fn elapsed(&self) -> Secs {
        Secs(cpu_now() - self.0)
    }
}
struct Secs(f64);
impl Secs {
    fn as_secs_f64(&self) -> f64 {
        self.0
    }
}

#[test]
#[ignore = "measurement, not a test; run with --ignored --nocapture"]
fn print_component_speeds() {
    const W: usize = 256; // one chunk: 128 rows x 256 blocks = 32768 OTs
    const REPS: usize = 256; // 2^23 OTs
    let ots = (W * 128 * REPS) as f64;
    let mut mat = vec![Block::ZERO; 128 * W];
    let mut prgs: Vec<Prg> = (0..128)
        .map(|i| Prg::from_seed_block(Block::from_u128(i)))
        .collect();
    let t = Instant::now();
    for _ in 0..REPS {
        for (row, p) in mat.chunks_exact_mut(W).zip(prgs.iter_mut()) {
            p.fill_blocks(row);
        }
    }
    let s = t.elapsed().as_secs_f64();
    println!("column PRG  {:7.1} M blocks/s", ots / s / 1e6);

    let mut out = vec![Block::ZERO; 128 * W];
    let t = Instant::now();
    for _ in 0..REPS {
        transpose_128xn(&mat, W, &mut out);
    }
    let s = t.elapsed().as_secs_f64();
    println!("transpose   {:7.1} M columns/s", ots / s / 1e6);

    let aes = FixedKeyAes::fixed();
    let t = Instant::now();
    for _ in 0..REPS {
        aes.encrypt_many(&mut out);
    }
    let s = t.elapsed().as_secs_f64();
    println!("fixed AES   {:7.1} M blocks/s", ots / s / 1e6);

    let h = TweakableHash::new(Block::from_u128(1));
    let t = Instant::now();
    for k in 0..REPS {
        h.hash_seq_in_place(&mut out, (k * 128 * W) as u64);
    }
    let s = t.elapsed().as_secs_f64();
    println!("tccr hash   {:7.1} M blocks/s", ots / s / 1e6);
    std::hint::black_box(&out);
}
