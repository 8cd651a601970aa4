//! Fixed-point encoding, products and local share truncation against f64,
//! and the measured truncation failure rate against `|x|/p`.

use circa_share::fixed_point::{truncate_plain, truncation_failure_probability};
use circa_share::{
    Error, FixedPoint, Fp, Modulus, P2138816513, P2061584302081, Share, reconstruct, share,
};
use proptest::prelude::*;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

#[test]
fn encode_errors() {
    let fx = FixedPoint::<P2138816513>::new(12).unwrap();
    assert!(matches!(fx.encode(f64::NAN), Err(Error::NotFinite)));
    assert!(matches!(fx.encode(f64::INFINITY), Err(Error::NotFinite)));
    // (p-1)/2 / 2^12 ~ 261085: just inside and just outside.
    let max = ((P2138816513::P - 1) / 2) as f64 / 4096.0;
    assert!(fx.encode(max - 0.001).is_ok());
    assert!(matches!(
        fx.encode(max + 1.0),
        Err(Error::FixedPointOverflow { .. })
    ));
    assert!(matches!(
        fx.encode(-max - 1.0),
        Err(Error::FixedPointOverflow { .. })
    ));
    assert!(matches!(
        FixedPoint::<P2138816513>::new(15),
        Err(Error::FracBitsTooLarge { .. })
    ));
    assert!(FixedPoint::<P2138816513>::new(14).is_ok());
    // 2f + 2 overflowing u32 is the same error, not a panic.
    assert!(matches!(
        FixedPoint::<P2138816513>::new(u32::MAX / 2 + 1),
        Err(Error::FracBitsTooLarge { .. })
    ));
}

fn check_products<M: Modulus>(f: u32, a: f64, b: f64) -> Result<(), TestCaseError> {
    let fx = FixedPoint::<M>::new(f).unwrap();
    let ulp = fx.scale().recip();
    let (ea, eb) = (fx.encode(a).unwrap(), fx.encode(b).unwrap());
    prop_assert!((fx.decode(ea) - a).abs() <= ulp / 2.0 + 1e-12);
    let prod = ea * eb;
    // Encoding errors of at most ulp/2 each: |ea*eb - a*b| <= (|a|+|b|) ulp/2 + ulp^2/4.
    let bound = (a.abs() + b.abs()) * ulp / 2.0 + ulp * ulp;
    prop_assert!((fx.decode_product(prod) - a * b).abs() <= bound);
    // Rescaling (floor) adds at most one ulp.
    prop_assert!((fx.decode(fx.rescale(prod)) - a * b).abs() <= bound + ulp);
    Ok(())
}

proptest! {
    #[test]
    // The product at scale 2^(2f) must stay inside the centred range:
    // |ab| < p / 2^(2f+1) (~63 for p31 with f = 12, ~61000 for p41 with f = 12).
    fn products_match_f64_circa(a in -7.0f64..7.0, b in -7.0f64..7.0) {
        check_products::<P2138816513>(12, a, b)?;
    }

    #[test]
    fn products_match_f64_delphi(a in -200.0f64..200.0, b in -200.0f64..200.0) {
        check_products::<P2061584302081>(12, a, b)?;
    }

    #[test]
    fn share_truncation_within_one_ulp_when_small(x in -(1i64 << 20)..(1i64 << 20), seed in any::<u64>(), bits in 1u32..16) {
        type F = Fp<P2061584302081>;
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let v = F::from_i64(x).unwrap();
        let (mut c, mut s) = share(&[v], &mut rng);
        let wrapped = {
            // Whether the integers c - t differ from x (the failure event).
            let (cv, t) = (c.as_slice()[0].value() as i128, (-s.as_slice()[0]).value() as i128);
            cv - t != x as i128
        };
        c.truncate(bits);
        s.truncate(bits);
        let got = reconstruct(&c, &s).unwrap()[0].to_i64();
        let want = truncate_plain(v, bits).to_i64();
        prop_assert_eq!(want, x >> bits);
        if !wrapped {
            prop_assert!(got == want || got == want + 1, "got {} want {}", got, want);
        }
    }
}

/// Measured failure rate of local truncation against the exact `|x|/p`.
fn measure_failure_rate<M: Modulus>(x: i64, bits: u32, trials: usize, seed: u64) {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let v = Fp::<M>::from_i64(x).unwrap();
    let want = x >> bits;
    let mut failures = 0usize;
    for _ in 0..trials {
        let (mut c, mut s) = share(&[v], &mut rng);
        c.truncate(bits);
        s.truncate(bits);
        let got = reconstruct(&c, &s).unwrap()[0].to_i64();
        if got != want && got != want + 1 {
            failures += 1;
            // A failure is off by about p / 2^bits.
            let err = (got - want).unsigned_abs() as f64;
            let big = M::P as f64 / (bits as f64).exp2();
            assert!(
                (err - big).abs() <= 2.0,
                "failure error {err}, expected about {big}"
            );
        }
    }
    let q = truncation_failure_probability(v);
    let expected = q * trials as f64;
    let sd = (trials as f64 * q * (1.0 - q)).sqrt();
    assert!(
        (failures as f64 - expected).abs() <= 5.0 * sd + 1.0,
        "{}: x = {x}: {failures} failures, expected {expected:.1} +- {sd:.1}",
        M::NAME
    );
}

#[test]
fn truncation_failure_rate_matches_model() {
    let pc = P2138816513::P as i64;
    let pd = P2061584302081::P as i64;
    // Large |x| so that failures are frequent enough to count.
    measure_failure_rate::<P2138816513>(pc / 50, 12, 100_000, 21);
    measure_failure_rate::<P2138816513>(-pc / 20, 12, 100_000, 22);
    measure_failure_rate::<P2061584302081>(pd / 40, 15, 100_000, 23);
    measure_failure_rate::<P2061584302081>(-(pd / 100), 15, 100_000, 24);
    // Small |x| (a typical activation at f = 12): expect (almost) no failures.
    measure_failure_rate::<P2138816513>(1 << 14, 12, 100_000, 25);
}

#[test]
fn vector_truncation_of_a_product() {
    type M = P2061584302081;
    let fx = FixedPoint::<M>::new(12).unwrap();
    let mut rng = ChaCha20Rng::seed_from_u64(31);
    let a: Vec<f64> = (0..200).map(|i| (i as f64 - 100.0) * 0.173).collect();
    let b: Vec<f64> = (0..200).map(|i| 3.1 - i as f64 * 0.05).collect();
    let prod: Vec<Fp<M>> = a
        .iter()
        .zip(&b)
        .map(|(&x, &y)| fx.encode(x).unwrap() * fx.encode(y).unwrap())
        .collect();
    let (mut c, mut s) = share(&prod, &mut rng);
    c.truncate(12);
    s.truncate(12);
    let out = fx.decode_many(&reconstruct(&c, &s).unwrap());
    for i in 0..200 {
        let bound = (a[i].abs() + b[i].abs()) / 8192.0 + 2.0 / 4096.0;
        assert!(
            (out[i] - a[i] * b[i]).abs() <= bound,
            "i = {i}: {} vs {}",
            out[i],
            a[i] * b[i]
        );
    }
    let _: &Share<_, M> = &c;
}
