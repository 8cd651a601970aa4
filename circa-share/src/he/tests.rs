//! Both parties in one thread through the pure steps, against the
//! plaintext convolution.

use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

use super::*;
use crate::field::{Fp, Modulus, P2138816513, P2061584302081};
use crate::linalg::{Conv2dShape, Window2d, conv2d};

fn random_weights<M: Modulus>(rng: &mut ChaCha20Rng, len: usize, bits: u32) -> Vec<Fp<M>> {
    let half = 1i64 << (bits - 1);
    (0..len)
        .map(|_| {
            Fp::from_i64_reduced((rand_core::Rng::next_u64(rng) % (2 * half as u64)) as i64 - half)
        })
        .collect()
}

/// Client share, server share, plaintext `W r`.
type Outcome<M> = (Vec<Fp<M>>, Vec<Fp<M>>, Vec<Fp<M>>);

/// One layer through the pure steps.
pub(super) fn run_layer<M: Modulus>(
    params: &HeParams<M>,
    shape: &Conv2dShape,
    bits: u32,
    seed: u64,
) -> Outcome<M> {
    let mut crng = ChaCha20Rng::seed_from_u64(seed);
    let mut srng = ChaCha20Rng::seed_from_u64(seed ^ 0x5e5e);
    let w = random_weights::<M>(&mut srng, shape.weight_len(), bits);
    let r: Vec<Fp<M>> = (0..shape.input_len())
        .map(|_| Fp::random(&mut crng))
        .collect();
    let client = HeLinearClient::new(params, &mut crng);
    let server = HeServer::new(params, &client.public_key()).unwrap();
    let layer = HeLayer::encode(params, shape, &w, bits).unwrap();
    let plan = HePlan::conv(params, shape, bits).unwrap();
    let (query, pending) = client.encrypt(&plan, &r, &mut crng).unwrap();
    let (answer, s) = server.answer(&layer, &query, &mut srng).unwrap();
    // The NTT cache changes nothing: same randomness, same answer.
    if seed.is_multiple_of(2) {
        let cached = HeLayer::encode(params, shape, &w, bits)
            .unwrap()
            .with_ntt_cache();
        assert!(cached.cache_bytes() > 0);
        let mut srng2 = ChaCha20Rng::seed_from_u64(seed ^ 0x5e5e);
        let _ = random_weights::<M>(&mut srng2, shape.weight_len(), bits);
        let (answer2, s2) = server.answer(&cached, &query, &mut srng2).unwrap();
        assert!(answer2 == answer && s2 == s);
    }
    let c = pending.decrypt(&answer).unwrap();
    let want = conv2d(shape, &w, &r).unwrap();
    (c, s, want)
}

fn check<M: Modulus>(set: HeParamSet, shape: &Conv2dShape, bits: u32, seed: u64) {
    let params = HeParams::<M>::new(set).unwrap();
    let (c, s, want) = run_layer(&params, shape, bits, seed);
    assert_eq!(c.len(), want.len());
    for (i, ((&c, &s), &w)) in c.iter().zip(&s).zip(&want).enumerate() {
        assert_eq!(c + s, w, "{shape:?} {set:?} output {i}");
    }
}

#[test]
fn small_convolutions_both_primes() {
    let shapes = [
        Conv2dShape::new(3, 8, 8, 4, 3).with_padding(1),
        Conv2dShape::new(5, 7, 6, 3, 1),
        Conv2dShape::new(4, 9, 9, 6, 3).with_stride(2),
        Conv2dShape::new(2, 11, 10, 3, 7).with_window(Window2d::square(7, 2).with_pads(3, 2, 1, 0)),
        Conv2dShape::new(4, 6, 6, 4, 3)
            .with_padding(1)
            .with_groups(2),
        Conv2dShape::new(4, 6, 6, 4, 3)
            .with_padding(1)
            .with_groups(4),
        Conv2dShape::new(3, 5, 5, 2, 3)
            .with_batch(2)
            .with_padding(1),
    ];
    for (i, shape) in shapes.iter().enumerate() {
        check::<P2061584302081>(HeParamSet::N4096, shape, 9, i as u64);
        check::<P2138816513>(HeParamSet::N4096, shape, 9, 100 + i as u64);
    }
}

#[test]
fn dense_layers_and_one_by_one() {
    for (rows, cols) in [(10usize, 1024usize), (7, 33), (300, 20)] {
        let shape = Conv2dShape::new(cols, 1, 1, rows, 1);
        check::<P2061584302081>(HeParamSet::N4096, &shape, 12, rows as u64);
        check::<P2138816513>(HeParamSet::N4096, &shape, 12, cols as u64);
        let p = HeParams::<P2061584302081>::new(HeParamSet::N4096).unwrap();
        let plan = HePlan::dense(&p, rows, cols, 12).unwrap();
        assert_eq!(plan.shape(), &shape);
    }
    check::<P2138816513>(HeParamSet::N8192, &Conv2dShape::new(32, 8, 8, 16, 1), 13, 9);
}

/// The widest weights a parameter set accepts for a layer decrypt
/// correctly with noise inside the budget; one bit more is refused with a
/// typed error.
fn worst_case<M: Modulus>(set: HeParamSet, shape: &Conv2dShape) {
    let params = HeParams::<M>::new(set).unwrap();
    let w_max = (2..30)
        .take_while(|&w| HePlan::conv(&params, shape, w).is_ok())
        .last()
        .expect("some width fits");
    assert!(matches!(
        HePlan::conv(&params, shape, w_max + 1),
        Err(crate::Error::HeLayerTooLarge {
            required: STAT_BITS,
            ..
        })
    ));
    let plan = HePlan::conv(&params, shape, w_max).unwrap();
    assert!(plan.budget().stat_bits >= STAT_BITS as f64);
    // Extreme weights (every weight -2^(w-1) or 2^(w-1) - 1) maximise the
    // weight-dependent noise.
    let half = 1i64 << (w_max - 1);
    let w: Vec<Fp<M>> = (0..shape.weight_len())
        .map(|i| Fp::from_i64_reduced(if i % 3 == 0 { half - 1 } else { -half }))
        .collect();
    let mut crng = ChaCha20Rng::seed_from_u64(11);
    let mut srng = ChaCha20Rng::seed_from_u64(12);
    let r: Vec<Fp<M>> = (0..shape.input_len())
        .map(|_| Fp::random(&mut crng))
        .collect();
    let client = HeLinearClient::new(&params, &mut crng);
    let server = HeServer::new(&params, &client.public_key()).unwrap();
    let layer = HeLayer::encode_plan(plan.clone(), &w).unwrap();
    let (query, pending) = client.encrypt(&plan, &r, &mut crng).unwrap();
    let (answer, s) = server.answer(&layer, &query, &mut srng).unwrap();
    let noise = pending.max_noise(&answer) as f64;
    let inner = &*params.inner;
    let limit = inner.fin.q as f64 / (2.0 * inner.t as f64);
    let b = plan.budget();
    let predicted = inner.fin.q as f64 / inner.q as f64
        * (b.flood as f64 + b.delta_bound + b.pk_bound)
        + b.round_bound;
    assert!(
        noise <= predicted && predicted < limit,
        "{set:?} w={w_max}: noise {noise}, bound {predicted}, limit {limit}"
    );
    let c = pending.decrypt(&answer).unwrap();
    let want = conv2d(shape, &w, &r).unwrap();
    for (i, ((&c, &s), &w)) in c.iter().zip(&s).zip(&want).enumerate() {
        assert_eq!(c + s, w, "output {i}");
    }
}

#[test]
fn worst_case_layers_decrypt_and_wider_weights_are_refused() {
    let shape = Conv2dShape::new(16, 16, 16, 16, 3).with_padding(1);
    worst_case::<P2061584302081>(HeParamSet::N8192, &shape);
    worst_case::<P2138816513>(HeParamSet::N4096, &shape);
    // p41 does not fit N = 4096 beyond tiny layers.
    let p = HeParams::<P2061584302081>::new(HeParamSet::N4096).unwrap();
    let big = Conv2dShape::new(64, 32, 32, 64, 3).with_padding(1);
    assert!(matches!(
        HePlan::conv(&p, &big, 13),
        Err(crate::Error::HeLayerTooLarge { .. })
    ));
}

#[test]
fn shares_are_fresh_and_messages_round_trip() {
    let params = HeParams::<P2138816513>::new(HeParamSet::N4096).unwrap();
    let shape = Conv2dShape::new(3, 6, 6, 2, 3);
    let (_, s1, _) = run_layer(&params, &shape, 8, 1);
    let (_, s2, _) = run_layer(&params, &shape, 8, 2);
    assert_ne!(s1, s2);
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    let client = HeLinearClient::new(&params, &mut rng);
    let pk = client.public_key();
    assert_eq!(
        HePublicKey::from_bytes(&params, &pk.to_bytes(&params)).unwrap(),
        pk
    );
    let plan = HePlan::conv(&params, &shape, 8).unwrap();
    let r: Vec<Fp<P2138816513>> = (0..shape.input_len())
        .map(|_| Fp::random(&mut rng))
        .collect();
    let (q, _) = client.encrypt(&plan, &r, &mut rng).unwrap();
    let qb = q.to_bytes(&plan);
    assert_eq!(qb.len(), plan.query_bytes());
    assert_eq!(HeQuery::from_bytes(&plan, &qb).unwrap(), q);
    let w = random_weights::<P2138816513>(&mut rng, shape.weight_len(), 8);
    let server = HeServer::new(&params, &pk).unwrap();
    let (a, _) = server
        .answer(
            &HeLayer::encode_plan(plan.clone(), &w).unwrap(),
            &q,
            &mut rng,
        )
        .unwrap();
    let ab = a.to_bytes(&plan);
    assert_eq!(ab.len(), plan.answer_bytes());
    assert_eq!(HeAnswer::from_bytes(&plan, &ab).unwrap(), a);
    assert!(!format!("{client:?} {server:?}").contains(&format!("{}", r[0].value())));
}

#[test]
fn ot_cost_matches_the_ot_accounting() {
    use crate::ole::Direction;
    for (shape, bits) in [
        (Conv2dShape::new(16, 16, 16, 16, 3).with_padding(1), 13),
        (Conv2dShape::new(1024, 1, 1, 10, 1), 13),
        (
            Conv2dShape::new(8, 8, 8, 8, 3).with_groups(2).with_batch(3),
            9,
        ),
    ] {
        let c = cost::ot_cost::<P2138816513>(&shape, bits).unwrap();
        let (m, k, n) = (
            shape.out_channels / shape.groups,
            shape.patch_len(),
            shape.out_positions(),
        );
        let d = Direction::choose::<P2138816513>(m, k, n, bits);
        let want = d.bytes::<P2138816513>(m, k, n, bits) * (shape.batch * shape.groups) as u128;
        assert_eq!(c.bytes() as u128, want);
    }
    let p = HeParams::<P2138816513>::new(HeParamSet::N4096).unwrap();
    let shape = Conv2dShape::new(16, 16, 16, 16, 3).with_padding(1);
    let plan = HePlan::conv(&p, &shape, 13).unwrap();
    let he = cost::he_cost(&plan);
    assert_eq!(he.client_to_server as usize, plan.query_bytes());
    assert_eq!(he.server_to_client as usize, plan.answer_bytes());
    let choice = cost::choose(&[p], &shape, 13, 1e9).unwrap();
    assert!(matches!(choice.method, cost::Method::He(_)));
    assert!(choice.ot.bytes() > 50 * he.bytes());
}

#[test]
fn shared_types_are_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<HeLayer<P2061584302081>>();
    check::<HeParams<P2138816513>>();
    check::<HePlan<P2138816513>>();
    check::<HeServer<P2061584302081>>();
    check::<HeLinearClient<P2061584302081>>();
}

/// Random geometries (channels, sizes, kernels, strides and paddings per
/// axis and side, groups, batch, weight widths), both primes.
#[test]
fn random_layers_match_plaintext() {
    let mut g = ChaCha20Rng::seed_from_u64(77);
    let mut pick = |lo: u64, hi: u64| lo + rand_core::Rng::next_u64(&mut g) % (hi - lo + 1);
    let mut done = 0;
    while done < 24 {
        let (c, m) = (pick(1, 12) as usize, pick(1, 10) as usize);
        let groups = [1, 2, 3, 4]
            .into_iter()
            .filter(|g| c % g == 0 && m % g == 0)
            .max_by_key(|_| pick(0, 9))
            .unwrap_or(1);
        let window = Window2d {
            kernel_h: pick(1, 7) as usize,
            kernel_w: pick(1, 7) as usize,
            stride_h: pick(1, 3) as usize,
            stride_w: pick(1, 3) as usize,
            pad_top: pick(0, 3) as usize,
            pad_left: pick(0, 3) as usize,
            pad_bottom: pick(0, 3) as usize,
            pad_right: pick(0, 3) as usize,
        };
        let shape = Conv2dShape::new(c, pick(1, 14) as usize, pick(1, 14) as usize, m, 1)
            .with_window(window)
            .with_groups(groups)
            .with_batch(pick(1, 2) as usize);
        if shape.validate().is_err() {
            continue;
        }
        let bits = pick(2, 14) as u32;
        let seed = pick(0, 1 << 40);
        check::<P2061584302081>(HeParamSet::N4096, &shape, bits, seed);
        check::<P2138816513>(HeParamSet::N4096, &shape, bits, seed + 1);
        if done % 4 == 0 {
            check::<P2061584302081>(HeParamSet::N8192, &shape, bits, seed + 2);
            check::<P2138816513>(HeParamSet::N8192, &shape, bits, seed + 3);
        }
        done += 1;
    }
}
