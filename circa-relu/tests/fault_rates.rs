//! The analytic fault model against (1) exhaustive enumeration of every client share for small
//! primes and (2) measured fault rates over 10^5 random sharings for the shipped primes.

use circa_relu::fault_model::{fault_count, fault_probability, value_fault_probability};
use circa_relu::reference::{relu_value, sign_bit, true_sign};
use circa_relu::{ProductPath, ReluParams, TieMode, Variant};
use circa_share::{Fp, Modulus, P2138816513, P2061584302081};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

/// Test primes with awkward top buckets: just below 2^8, just above 2^8, just below 2^16.
macro_rules! test_prime {
    ($name:ident, $p:expr) => {
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
        struct $name;
        impl Modulus for $name {
            const P: u64 = $p;
            const NAME: &'static str = stringify!($name);
        }
    };
}
test_prime!(P251, 251);
test_prime!(P257, 257);
test_prime!(P65521, 65521);
test_prime!(P40009, 40009);

/// Every sign variant of the field: exact, stochastic, truncated for every valid k and both modes.
fn sign_variants<M: Modulus>(ks: impl IntoIterator<Item = u32>) -> Vec<ReluParams<M>> {
    let mut v = vec![Variant::ExactSign, Variant::StochasticSign];
    for k in ks {
        for mode in [TieMode::NegPass, TieMode::PosZero] {
            v.push(Variant::TruncatedSign { k, mode });
        }
    }
    v.into_iter()
        .map(|variant| ReluParams::new(variant, ProductPath::LabelTable, 2).unwrap())
        .collect()
}

/// The same variants with a fused rescale, where they have it.
fn fused_variants<M: Modulus>(ks: impl IntoIterator<Item = u32>) -> Vec<ReluParams<M>> {
    sign_variants::<M>(ks)
        .iter()
        .filter_map(|p| p.with_rescale(true).ok())
        .collect()
}

/// Wrong sign bits over every client share `c` (s = y - c), by brute force.
fn enumerate_faults<M: Modulus>(params: &ReluParams<M>, y: i64) -> u64 {
    let yf = Fp::<M>::from_i64_reduced(y);
    let want = true_sign(yf);
    (0..M::P)
        .filter(|&c| {
            let c = Fp::<M>::from_u64(c).unwrap();
            sign_bit(params, c, yf - c) != want
        })
        .count() as u64
}

fn exhaustive_all_y<M: Modulus>() {
    let half = M::HALF as i64;
    for params in sign_variants::<M>(0..M::BITS) {
        for y in -half..=half {
            assert_eq!(
                fault_count(&params, y),
                enumerate_faults(&params, y),
                "{params:?} y={y}"
            );
        }
    }
}

/// With a fused rescale the model is exact for every `|y|` within the fused range (every `c`
/// enumerated), and a negative `y` faults only inside the tie band.
fn exhaustive_fused<M: Modulus>() {
    for params in fused_variants::<M>(0..M::BITS) {
        let range = params.fused_range() as i64;
        let band = 1i64 << params.variant().truncation_bits();
        for y in -range + 1..range {
            let count = fault_count(&params, y);
            assert_eq!(count, enumerate_faults(&params, y), "{params:?} y={y}");
            if y <= -band {
                assert_eq!(count, 0, "{params:?} y={y}");
            }
        }
    }
}

#[test]
fn fused_model_is_exact_within_its_range_on_tiny_and_16_bit_primes() {
    exhaustive_fused::<P251>();
    exhaustive_fused::<P257>();
    exhaustive_fused::<P40009>();
}

#[test]
fn model_is_exact_for_every_y_and_k_on_tiny_primes() {
    exhaustive_all_y::<P251>();
    exhaustive_all_y::<P257>();
}

fn exhaustive_selected_y<M: Modulus>(ks: &[u32]) {
    let half = M::HALF as i64;
    for params in sign_variants::<M>(ks.iter().copied()) {
        let big_k = 1i64 << params.variant().truncation_bits();
        let mut ys = vec![0, 1, -1, half, -half, half / 2, -half / 3, 1000, -999];
        for d in [-1, 0, 1] {
            ys.extend([big_k + d, -(big_k + d), 2 * big_k + d, -(2 * big_k + d)]);
            ys.extend([big_k / 2 + d, -(big_k / 2 + d)]);
        }
        for y in ys {
            assert_eq!(
                fault_count(&params, y),
                enumerate_faults(&params, y),
                "{params:?} y={y}"
            );
        }
    }
}

#[test]
fn model_is_exact_on_16_bit_primes() {
    exhaustive_selected_y::<P65521>(&[1, 3, 8, 12, 15]);
    exhaustive_selected_y::<P40009>(&[2, 7, 11, 15]);
}

/// Faults beyond the `|y|/p` term are confined to `|y| < 2^(k+1)` (in fact `|y| < 2^k`).
fn large_y_only_wrap_faults<M: Modulus>() {
    let half = M::HALF as i64;
    for params in sign_variants::<M>(0..M::BITS) {
        let big_k = 1i64 << params.variant().truncation_bits();
        for y in -half..=half {
            if y.abs() >= 2 * big_k {
                assert!(
                    fault_count(&params, y) <= y.unsigned_abs(),
                    "{params:?} y={y}"
                );
            }
        }
    }
}

#[test]
fn large_values_fault_at_most_with_the_wrap_probability() {
    large_y_only_wrap_faults::<P251>();
    large_y_only_wrap_faults::<P257>();
}

#[test]
fn closed_form_shapes_match_the_design() {
    // NegPass: a negative y with |y| < K passes with probability about 1 - |y|/K;
    // PosZero: a positive y < K is zeroed with probability about 1 - y/K.
    let p = P2138816513::P as f64;
    for k in [4u32, 8, 12] {
        let big_k = (1u64 << k) as f64;
        let neg = ReluParams::<P2138816513>::new(
            Variant::TruncatedSign {
                k,
                mode: TieMode::NegPass,
            },
            ProductPath::LabelTable,
            12,
        )
        .unwrap();
        let pos = ReluParams::<P2138816513>::new(
            Variant::TruncatedSign {
                k,
                mode: TieMode::PosZero,
            },
            ProductPath::LabelTable,
            12,
        )
        .unwrap();
        for y in [1i64, 3, (1 << k) / 2, (1 << k) - 1] {
            let a = y as f64;
            let tol = 2.0 * big_k / p + 2.0 * a / p;
            let neg_pass = fault_probability(&neg, -y);
            assert!((neg_pass - (1.0 - a / big_k)).abs() <= tol, "k={k} y={y}");
            let pos_zero = fault_probability(&pos, y);
            assert!((pos_zero - (1.0 - a / big_k)).abs() <= tol, "k={k} y={y}");
            // The other direction errs only with the wrap probability.
            assert!(fault_probability(&neg, y) <= a / p + 1e-15);
            assert!(fault_probability(&pos, -y) <= a / p + 1e-15);
        }
        // y = 0: PosZero always reports "negative", which changes nothing.
        assert_eq!(fault_probability(&pos, 0), 1.0);
        assert_eq!(value_fault_probability(&pos, 0), 0.0);
        assert_eq!(fault_probability(&neg, 0), 0.0);
    }
    let exact =
        ReluParams::<P2138816513>::new(Variant::ExactSign, ProductPath::Beaver, 12).unwrap();
    assert_eq!(fault_count(&exact, -5), 0);
}

/// Measured fault count of `trials` random sharings of `y`; also checks that the reference ReLU
/// value is `y` or 0 according to the measured sign bit.
fn measure<M: Modulus>(params: &ReluParams<M>, y: i64, trials: u32, rng: &mut ChaCha20Rng) -> u64 {
    let yf = Fp::<M>::from_i64_reduced(y);
    let want = true_sign(yf);
    let mut faults = 0;
    for _ in 0..trials {
        let c = Fp::<M>::random(rng);
        let s = yf - c;
        let b = sign_bit(params, c, s);
        faults += u64::from(b != want);
        assert_eq!(relu_value(params, c, s), if b { yf } else { Fp::ZERO });
    }
    faults
}

/// `|measured - N q| <= 5 sigma`, sigma the binomial standard deviation floored at one count (so
/// that a model probability of ~1e-6 still allows a handful of observed faults; a model
/// probability of exactly 0 allows none).
fn within_five_sigma(measured: u64, trials: u32, q: f64) -> bool {
    if q == 0.0 {
        return measured == 0;
    }
    let n = f64::from(trials);
    let sigma = (n * q * (1.0 - q)).sqrt().max(1.0);
    (measured as f64 - n * q).abs() <= 5.0 * sigma
}

const TRIALS: u32 = 100_000;

fn statistical<M: Modulus>(ks: &[u32], seed: u64) {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let half = M::HALF as i64;
    for params in sign_variants::<M>(ks.iter().copied()) {
        let big_k = 1i64 << params.variant().truncation_bits();
        let ys = [
            0,
            1,
            -1,
            big_k / 2,
            -big_k / 2,
            big_k - 1,
            -(big_k - 1),
            big_k,
            -big_k,
            2 * big_k,
            -2 * big_k,
            half / 2,
            -half / 2,
            half,
            -half,
        ];
        for y in ys {
            let q = fault_probability(&params, y);
            let measured = measure(&params, y, TRIALS, &mut rng);
            assert!(
                within_five_sigma(measured, TRIALS, q),
                "{params:?} y={y}: measured {measured}/{TRIALS}, model {q}"
            );
            if y.abs() >= 2 * big_k {
                // One-sided: never beyond the wrap term |y|/p.
                let wrap = y.unsigned_abs() as f64 / M::P as f64;
                assert!(q <= wrap + 1e-15, "{params:?} y={y}");
                let n = f64::from(TRIALS);
                let sigma = (n * wrap * (1.0 - wrap)).sqrt().max(1.0);
                assert!(
                    measured as f64 <= n * wrap + 5.0 * sigma,
                    "{params:?} y={y}"
                );
            }
        }
    }
}

#[test]
fn measured_rates_match_the_model_p31() {
    statistical::<P2138816513>(&[4, 8, 12, 16], 0x31);
}

#[test]
fn measured_rates_match_the_model_p41() {
    statistical::<P2061584302081>(&[8, 12, 20], 0x41);
}
