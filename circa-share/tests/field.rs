//! Field axioms, boundaries, encoding and sampling for both shipped primes.

// (p + 1) / 2 is the boundary exactly as the spec writes it.
#![allow(clippy::manual_div_ceil)]

use circa_share::field::batch;
use circa_share::{Error, Fp, Modulus, P2138816513, P2061584302081};
use proptest::prelude::*;
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};

fn boundaries<M: Modulus>() -> Vec<u64> {
    let p = M::P;
    vec![
        0,
        1,
        2,
        p - 2,
        p - 1,
        (p - 1) / 2,
        (p + 1) / 2,
        (p - 3) / 2,
        (p + 3) / 2,
    ]
}

fn check_boundaries<M: Modulus>() {
    let p = M::P as u128;
    let bs = boundaries::<M>();
    for &a in &bs {
        let x = Fp::<M>::from_u64(a).unwrap();
        for &b in &bs {
            let y = Fp::<M>::from_u64(b).unwrap();
            let (a1, b1) = (a as u128, b as u128);
            assert_eq!((x + y).value() as u128, (a1 + b1) % p);
            assert_eq!((x - y).value() as u128, (a1 + p - b1) % p);
            assert_eq!((x * y).value() as u128, (a1 * b1) % p);
        }
        assert_eq!((-x).value() as u128, (p - a as u128) % p);
    }
    let half = (M::P - 1) / 2;
    assert_eq!(Fp::<M>::from_u64(half).unwrap().to_i64(), half as i64);
    assert_eq!(
        Fp::<M>::from_u64(half + 1).unwrap().to_i64(),
        -(half as i64)
    );
    assert_eq!(Fp::<M>::from_u64(M::P - 1).unwrap().to_i64(), -1);
    assert_eq!(Fp::<M>::from_i64(-(half as i64)).unwrap().value(), half + 1);
    assert!(matches!(
        Fp::<M>::from_i64(half as i64 + 1),
        Err(Error::SignedOutOfRange { .. })
    ));
    assert!(matches!(
        Fp::<M>::from_i64(-(half as i64) - 1),
        Err(Error::SignedOutOfRange { .. })
    ));
    assert_eq!(
        Fp::<M>::from_i64_reduced(half as i64 + 1).to_i64(),
        -(half as i64)
    );
    assert_eq!(
        Fp::<M>::from_i64_reduced(i64::MIN).value() as i128,
        (i64::MIN as i128).rem_euclid(p as i128)
    );
}

#[test]
fn boundaries_delphi() {
    check_boundaries::<P2061584302081>();
}

#[test]
fn boundaries_circa() {
    check_boundaries::<P2138816513>();
}

fn check_noncanonical<M: Modulus>() {
    for v in [M::P, M::P + 1, 2 * M::P, u64::MAX] {
        assert!(matches!(
            Fp::<M>::from_u64(v),
            Err(Error::NonCanonical { value, modulus }) if value == v && modulus == M::P
        ));
        assert!(matches!(
            Fp::<M>::from_le_bytes(v.to_le_bytes()),
            Err(Error::NonCanonical { value, modulus }) if value == v && modulus == M::P
        ));
        let mut bytes = batch::encode_many(&[Fp::<M>::ONE, Fp::ZERO]);
        bytes[8..].copy_from_slice(&v.to_le_bytes());
        assert!(matches!(
            batch::decode_many::<M>(&bytes),
            Err(Error::NonCanonical { .. })
        ));
    }
    assert!(matches!(
        batch::decode_many::<M>(&[0u8; 15]),
        Err(Error::LengthMismatch {
            expected: 16,
            actual: 15
        })
    ));
    let mut out = vec![Fp::<M>::ZERO; 3];
    assert!(matches!(
        batch::decode_into(&[0u8; 16], &mut out),
        Err(Error::LengthMismatch { .. })
    ));
}

#[test]
fn noncanonical_rejected() {
    check_noncanonical::<P2061584302081>();
    check_noncanonical::<P2138816513>();
}

#[test]
fn slice_length_mismatches() {
    type F = Fp<P2138816513>;
    let mut a = vec![F::ONE; 3];
    let b = vec![F::ONE; 4];
    assert!(matches!(
        batch::add_assign_many(&mut a, &b),
        Err(Error::LengthMismatch {
            expected: 3,
            actual: 4
        })
    ));
    assert!(batch::sub_assign_many(&mut a, &b).is_err());
    assert!(batch::mul_assign_many(&mut a, &b).is_err());
    assert!(batch::dot(&a, &b).is_err());
    assert!(batch::mul_add_many(&mut a, &b[..3], &b).is_err());
}

/// Chi-square statistic of `samples` over `buckets` equal-width buckets of [0, p).
fn chi_square<M: Modulus>(samples: &[u64], buckets: usize) -> f64 {
    let mut counts = vec![0u64; buckets];
    for &s in samples {
        counts[(s as u128 * buckets as u128 / M::P as u128) as usize] += 1;
    }
    // Bucket widths differ by at most one element out of p / buckets: negligible.
    let expected = samples.len() as f64 / buckets as f64;
    counts
        .iter()
        .map(|&c| (c as f64 - expected).powi(2) / expected)
        .sum()
}

// 63 degrees of freedom: mean 63, sd 11.2; P(chi2 > 130) < 1e-6.
const CHI2_LIMIT_63: f64 = 130.0;

fn check_sampling<M: Modulus>(seed: u64) {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let samples: Vec<u64> = (0..200_000)
        .map(|_| Fp::<M>::random(&mut rng).value())
        .collect();
    let chi2 = chi_square::<M>(&samples, 64);
    assert!(chi2 < CHI2_LIMIT_63, "{}: chi2 = {chi2}", M::NAME);
    // Negative control: the same statistic flags the classic biased sampler
    // (mask to bits(p), subtract p once), so the test can fail.
    let mask = (1u64 << M::BITS) - 1;
    let biased: Vec<u64> = (0..200_000)
        .map(|_| {
            let v = rng.next_u64() & mask;
            if v >= M::P { v - M::P } else { v }
        })
        .collect();
    assert!(
        chi_square::<M>(&biased, 64) > CHI2_LIMIT_63,
        "{}: control not detected",
        M::NAME
    );
}

#[test]
fn sampling_uniform_delphi() {
    check_sampling::<P2061584302081>(11);
}

#[test]
fn sampling_uniform_circa() {
    check_sampling::<P2138816513>(12);
}

#[test]
fn inverse_and_pow() {
    type F = Fp<P2061584302081>;
    assert_eq!(F::ZERO.inverse(), None);
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    for _ in 0..100 {
        let x = F::random(&mut rng);
        if let Some(inv) = x.inverse() {
            assert_eq!(x * inv, F::ONE);
        }
    }
    assert_eq!(F::from_u64(3).unwrap().pow(4).value(), 81);
}

macro_rules! field_props {
    ($name:ident, $m:ty) => {
        mod $name {
            use super::*;
            type F = Fp<$m>;
            const P: u64 = <$m as Modulus>::P;

            fn fe() -> impl Strategy<Value = F> {
                prop_oneof![
                    (0..P).prop_map(|v| F::from_u64(v).unwrap()),
                    prop::sample::select(boundaries::<$m>()).prop_map(|v| F::from_u64(v).unwrap()),
                ]
            }

            proptest! {
                #[test]
                fn ring_axioms(a in fe(), b in fe(), c in fe()) {
                    prop_assert_eq!(a + b, b + a);
                    prop_assert_eq!(a * b, b * a);
                    prop_assert_eq!((a + b) + c, a + (b + c));
                    prop_assert_eq!((a * b) * c, a * (b * c));
                    prop_assert_eq!(a * (b + c), a * b + a * c);
                    prop_assert_eq!(a + F::ZERO, a);
                    prop_assert_eq!(a * F::ONE, a);
                    prop_assert_eq!(a + (-a), F::ZERO);
                    prop_assert_eq!(a - b, a + (-b));
                    if let Some(inv) = b.inverse() { prop_assert_eq!(b * inv, F::ONE); }
                }

                #[test]
                fn matches_u128_oracle(a in fe(), b in fe()) {
                    let (x, y, p) = (a.value() as u128, b.value() as u128, P as u128);
                    prop_assert_eq!((a * b).value() as u128, x * y % p);
                    prop_assert_eq!((a + b).value() as u128, (x + y) % p);
                    prop_assert_eq!((a - b).value() as u128, (x + p - y) % p);
                }

                #[test]
                fn reductions(v in any::<u64>(), w in any::<u128>()) {
                    prop_assert_eq!(F::from_u64_reduced(v).value(), v % P);
                    prop_assert_eq!(F::from_u128_reduced(w).value() as u128, w % P as u128);
                }

                #[test]
                fn encode_round_trips(a in fe(), s in -((P as i64 - 1) / 2)..=((P as i64 - 1) / 2)) {
                    prop_assert_eq!(F::from_le_bytes(a.to_le_bytes()).unwrap(), a);
                    prop_assert_eq!(F::from_i64(s).unwrap().to_i64(), s);
                    prop_assert_eq!(F::from_i64(a.to_i64()).unwrap(), a);
                }

                #[test]
                fn bulk_ops(xs in prop::collection::vec(fe(), 0..64), seed in any::<u64>()) {
                    let bytes = batch::encode_many(&xs);
                    prop_assert_eq!(bytes.len(), 8 * xs.len());
                    prop_assert_eq!(batch::decode_many::<$m>(&bytes).unwrap(), xs.clone());
                    let mut rng = ChaCha20Rng::seed_from_u64(seed);
                    let ys: Vec<F> = batch::random_many(&mut rng, xs.len());
                    let naive = xs.iter().zip(&ys).fold(F::ZERO, |acc, (&x, &y)| acc + x * y);
                    prop_assert_eq!(batch::dot(&xs, &ys).unwrap(), naive);
                    let mut acc = ys.clone();
                    batch::mul_add_many(&mut acc, &xs, &ys).unwrap();
                    for i in 0..xs.len() { prop_assert_eq!(acc[i], ys[i] + xs[i] * ys[i]); }
                }
            }
        }
    };
}

field_props!(props_delphi, P2061584302081);
field_props!(props_circa, P2138816513);

/// The lazy dot product at the accumulator limit of a 62-bit prime (16 terms
/// of (p-1)^2 fill a u128): exercises the chunked reduction.
#[test]
fn lazy_dot_at_accumulator_limit() {
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
    struct P61;
    impl Modulus for P61 {
        const P: u64 = (1 << 61) - 1;
        const NAME: &'static str = "2^61-1";
    }
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
    struct P62;
    impl Modulus for P62 {
        // The largest prime below 2^62.
        const P: u64 = (1 << 62) - 57;
        const NAME: &'static str = "2^62-57";
    }
    fn check<M: Modulus>() {
        let m = Fp::<M>::from_u64(M::P - 1).unwrap();
        for n in [1usize, 15, 16, 17, 33, 100] {
            let xs = vec![m; n];
            // (-1)*(-1) summed n times = n.
            assert_eq!(
                batch::dot(&xs, &xs).unwrap().value(),
                n as u64 % M::P,
                "{} n={n}",
                M::NAME
            );
        }
    }
    assert_eq!(P62::LAZY_TERMS, 16);
    check::<P61>();
    check::<P62>();
}

#[test]
fn packed_encoding() {
    fn check<M: Modulus>(width: usize) {
        assert_eq!(batch::packed_width::<M>(), width);
        let xs = [Fp::<M>::ZERO, Fp::ONE, Fp::from_u64(M::P - 1).unwrap()];
        let mut bytes = vec![0u8; 3 * width];
        batch::encode_packed_into(&xs, &mut bytes).unwrap();
        let mut back = [Fp::<M>::ZERO; 3];
        batch::decode_packed_into(&bytes, &mut back).unwrap();
        assert_eq!(back, xs);
        // A packed value >= p is rejected.
        bytes[..width].fill(0xff);
        assert!(matches!(
            batch::decode_packed_into(&bytes, &mut back),
            Err(Error::NonCanonical { .. })
        ));
        assert!(batch::decode_packed_into(&bytes[1..], &mut back).is_err());
    }
    check::<P2138816513>(4);
    check::<P2061584302081>(6);
}
