//! Every ReLU circuit against its plaintext reference (in the clear and garbled), on random shares
//! and boundary values, for both shipped primes and several k; and the AND-gate counts.

use circa_gc::EvaluatorSession;
use circa_gc::bench_support::bench_session;
use circa_relu::circuits::{
    and_gates_per_relu, decode_field_outputs, evaluator_bits, garbler_bits, garbler_offline_bits,
    garbler_online_bits, merge_garbler_inputs, relu_circuit,
};
use circa_relu::reference::{baseline_output, relu_value, sign_bit, true_sign};
use circa_relu::{ProductPath, ReluParams, TieMode, Variant};
use circa_share::{Fp, Modulus, P2138816513, P2061584302081};
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};

fn all_variants<M: Modulus>(ks: &[u32]) -> Vec<ReluParams<M>> {
    let mut v = vec![
        Variant::DelphiBaseline,
        Variant::ExactSign,
        Variant::StochasticSign,
    ];
    for &k in ks {
        for mode in [TieMode::NegPass, TieMode::PosZero] {
            v.push(Variant::TruncatedSign { k, mode });
        }
    }
    let plain: Vec<ReluParams<M>> = v
        .into_iter()
        .map(|variant| ReluParams::new(variant, ProductPath::LabelTable, 12).unwrap())
        .collect();
    // Every variant that can fuse the rescale, fused.
    let fused: Vec<ReluParams<M>> = plain
        .iter()
        .filter_map(|p| p.with_rescale(true).ok())
        .collect();
    plain.into_iter().chain(fused).collect()
}

/// Share pairs `(c, s)`: boundary `y` values with the edge client shares `0`, `y` (so `s = 0`),
/// `p - 1`, `y + 1` and a random one, then random `y`.
fn test_shares<M: Modulus>(k: u32, rng: &mut ChaCha20Rng) -> Vec<(Fp<M>, Fp<M>)> {
    let big_k = 1i64 << k;
    let half = M::HALF as i64;
    let mut ys = vec![0, 1, -1, half, -half];
    ys.extend([
        big_k - 1,
        -(big_k - 1),
        big_k,
        -big_k,
        big_k + 1,
        -(big_k + 1),
    ]);
    let mut out = Vec::new();
    for y in ys {
        let y = Fp::<M>::from_i64_reduced(y);
        for c in [
            Fp::ZERO,
            y,
            Fp::from_u64(M::P - 1).unwrap(),
            y + Fp::ONE,
            Fp::random(rng),
        ] {
            out.push((c, y - c));
        }
    }
    for _ in 0..40 {
        let (c, s) = (Fp::random(rng), Fp::random(rng));
        out.push((c, s));
    }
    out
}

fn check_variants<M: Modulus>(ks: &[u32], seed: u64) {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let (mut gbits, mut ebits) = (Vec::new(), Vec::new());
    for params in all_variants::<M>(ks) {
        let pairs = test_shares::<M>(params.variant().truncation_bits(), &mut rng);
        let (c, s): (Vec<_>, Vec<_>) = pairs.iter().copied().unzip();
        let masks: Vec<Fp<M>> = if params.variant().is_sign() {
            Vec::new()
        } else {
            (0..pairs.len()).map(|_| Fp::random(&mut rng)).collect()
        };
        let circuit = relu_circuit(&params, pairs.len()).unwrap();
        garbler_bits(&params, &s, &masks, &mut gbits).unwrap();
        evaluator_bits(&params, &c, &mut ebits);
        let plain = circuit.eval_plain(&gbits, &ebits).unwrap();

        // The online/offline split reassembles to the same garbler input.
        let (mut on, mut off, mut merged) = (Vec::new(), Vec::new(), Vec::new());
        garbler_online_bits(&params, &s, &mut on);
        garbler_offline_bits(&params, &masks, &mut off).unwrap();
        merge_garbler_inputs(&params, &on, &off, &mut merged).unwrap();
        assert_eq!(merged, gbits);

        if params.variant().is_sign() {
            assert_eq!(plain.len(), pairs.len());
            for (i, &(ci, si)) in pairs.iter().enumerate() {
                assert_eq!(
                    plain[i],
                    sign_bit(&params, ci, si),
                    "{params:?} c={ci} s={si}"
                );
                if matches!(params.variant(), Variant::ExactSign) {
                    assert_eq!(plain[i], true_sign(ci + si));
                }
            }
        } else {
            let values = decode_field_outputs(&params, &plain).unwrap();
            for (i, &(ci, si)) in pairs.iter().enumerate() {
                assert_eq!(
                    values[i],
                    baseline_output(ci, si, masks[i]),
                    "c={ci} s={si}"
                );
                assert_eq!(values[i] - masks[i], relu_value(&params, ci, si));
            }
        }

        // Garbled evaluation (in memory) agrees with the plaintext evaluation.
        let (mut gs, tweak, mut grng) = bench_session(seed);
        let (garbled, encoder, decoder) = gs.garble(&circuit, &mut grng).unwrap();
        let labels = encoder.encode_all(&gbits, &ebits).unwrap();
        let out = EvaluatorSession::new(tweak)
            .evaluate(&circuit, garbled, &labels)
            .unwrap();
        assert_eq!(decoder.decode(&out).unwrap(), plain, "{params:?}");
    }
}

#[test]
fn circuits_match_reference_p31() {
    check_variants::<P2138816513>(&[1, 4, 8, 12, 20, 30], 1);
}

#[test]
fn circuits_match_reference_p41() {
    check_variants::<P2061584302081>(&[1, 8, 12, 20, 40], 2);
}

#[test]
fn reference_catches_a_wrong_circuit_input() {
    // Oracle sanity: feeding s instead of t to the stochastic comparator disagrees somewhere.
    let params =
        ReluParams::<P2138816513>::new(Variant::StochasticSign, ProductPath::Beaver, 12).unwrap();
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    let pairs = test_shares::<P2138816513>(0, &mut rng);
    let (c, s): (Vec<_>, Vec<_>) = pairs.iter().copied().unzip();
    let circuit = relu_circuit(&params, pairs.len()).unwrap();
    let exact =
        ReluParams::<P2138816513>::new(Variant::ExactSign, ProductPath::Beaver, 12).unwrap();
    let (mut g, mut e) = (Vec::new(), Vec::new());
    garbler_online_bits(&exact, &s, &mut g); // s, not t
    evaluator_bits(&params, &c, &mut e);
    let out = circuit.eval_plain(&g, &e).unwrap();
    assert!(
        pairs
            .iter()
            .zip(&out)
            .any(|(&(ci, si), &b)| b != sign_bit(&params, ci, si))
    );
}

#[test]
fn bit_vectors_reject_bad_lengths() {
    let params =
        ReluParams::<P2138816513>::new(Variant::DelphiBaseline, ProductPath::Beaver, 12).unwrap();
    let one = [Fp::ONE; 3];
    let mut out = Vec::new();
    assert!(garbler_bits(&params, &one, &one[..2], &mut out).is_err());
    let sign =
        ReluParams::<P2138816513>::new(Variant::StochasticSign, ProductPath::Beaver, 12).unwrap();
    assert!(garbler_offline_bits(&sign, &one, &mut out).is_err());
    assert!(decode_field_outputs(&params, &[true; 30]).is_err());
    // A word >= p is rejected, not reduced.
    assert!(decode_field_outputs(&params, &[true; 31]).is_err());
}

/// The fused rescale's output is 0 or within one unit of `floor(y / 2^f)`, whatever the
/// sharing: no wrap for any `|y|` within `fused_range`, and a negative `y` beyond the tie band
/// is never passed (the unfused sign passes it with probability `|y| / p`).
fn fused_never_wraps<M: Modulus>(seed: u64) {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    for params in all_variants::<M>(&[1, 8, 12, 16]) {
        if !params.rescale() {
            continue;
        }
        let f = params.frac_bits();
        let band = 1i64 << params.variant().truncation_bits();
        let range = params.fused_range() as i64;
        let edge = |y: i64| Fp::<M>::from_i64_reduced(y);
        for i in 0..4000 {
            let y = match i % 4 {
                0 => (rng.next_u64() % (2 * range as u64)) as i64 - range + 1,
                1 => (rng.next_u64() % (1 << 20)) as i64 - (1 << 19),
                2 => range - 1 - (rng.next_u64() % 4) as i64,
                _ => -(range - 1) + (rng.next_u64() % 4) as i64,
            };
            let yf = edge(y);
            // Random client shares, and the ones that put t at the edges (s = 0, s near p).
            for c in [
                Fp::random(&mut rng),
                yf,
                yf + Fp::ONE,
                yf - Fp::ONE,
                Fp::ZERO,
            ] {
                let s = yf - c;
                let out = relu_value(&params, c, s).to_i64();
                if out != 0 {
                    let want = y >> f;
                    assert!(
                        (out - want).abs() <= 1,
                        "{params:?} y={y} c={c} out={out} want={want}"
                    );
                    assert!(y > -band, "{params:?} a negative y={y} passed");
                }
            }
        }
    }
}

#[test]
fn fused_rescale_never_wraps_p31() {
    fused_never_wraps::<P2138816513>(11);
}

#[test]
fn fused_rescale_never_wraps_p41() {
    fused_never_wraps::<P2061584302081>(12);
}

#[test]
fn and_gate_counts() {
    fn counts<M: Modulus>() {
        let n = M::BITS as usize;
        for params in all_variants::<M>(&[1, 4, 8, 12, 16]) {
            let ands = and_gates_per_relu(&params);
            let range_check = usize::from(params.rescale());
            match params.variant() {
                Variant::StochasticSign => assert_eq!(ands, n + range_check),
                Variant::TruncatedSign { k, .. } => {
                    assert_eq!(ands, n - k as usize + range_check)
                }
                Variant::ExactSign => assert!(ands > n && ands <= 4 * n + 2, "{ands}"),
                Variant::DelphiBaseline => assert!(ands > 4 * n && ands <= 8 * n + 4, "{ands}"),
            }
            println!(
                "{} {} k={} mode={} rescale={} and_gates={}",
                M::NAME,
                params.variant().name(),
                params.variant().truncation_bits(),
                params.variant().tie_mode().map_or("-", TieMode::name),
                params.rescale(),
                ands
            );
        }
    }
    counts::<P2138816513>();
    counts::<P2061584302081>();
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    fn params_from<M: Modulus>(which: u8, k: u32, poszero: bool) -> ReluParams<M> {
        let variant = match which % 4 {
            0 => Variant::DelphiBaseline,
            1 => Variant::ExactSign,
            2 => Variant::StochasticSign,
            _ => Variant::TruncatedSign {
                k: k % M::BITS,
                mode: if poszero {
                    TieMode::PosZero
                } else {
                    TieMode::NegPass
                },
            },
        };
        ReluParams::new(variant, ProductPath::LabelTable, 12).unwrap()
    }

    fn agrees<M: Modulus>(params: &ReluParams<M>, raw: &[(u64, u64, u64)]) {
        let f = |v: u64| Fp::<M>::from_u64_reduced(v);
        let c: Vec<_> = raw.iter().map(|r| f(r.0)).collect();
        let s: Vec<_> = raw.iter().map(|r| f(r.1)).collect();
        let masks: Vec<_> = if params.variant().is_sign() {
            Vec::new()
        } else {
            raw.iter().map(|r| f(r.2)).collect()
        };
        let circuit = relu_circuit(params, raw.len()).unwrap();
        let (mut g, mut e) = (Vec::new(), Vec::new());
        garbler_bits(params, &s, &masks, &mut g).unwrap();
        evaluator_bits(params, &c, &mut e);
        let out = circuit.eval_plain(&g, &e).unwrap();
        if params.variant().is_sign() {
            for i in 0..raw.len() {
                assert_eq!(out[i], sign_bit(params, c[i], s[i]));
            }
        } else {
            let v = decode_field_outputs(params, &out).unwrap();
            for i in 0..raw.len() {
                assert_eq!(v[i], baseline_output(c[i], s[i], masks[i]));
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        #[test]
        fn random_shares_p31(which in 0u8..4, k in 0u32..31, poszero: bool,
                             raw in prop::collection::vec(any::<(u64, u64, u64)>(), 1..12)) {
            agrees(&params_from::<P2138816513>(which, k, poszero), &raw);
        }

        #[test]
        fn random_shares_p41(which in 0u8..4, k in 0u32..41, poszero: bool,
                             raw in prop::collection::vec(any::<(u64, u64, u64)>(), 1..12)) {
            agrees(&params_from::<P2061584302081>(which, k, poszero), &raw);
        }
    }
}
