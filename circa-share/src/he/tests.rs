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

/// One layer through the pure steps; returns (client share, server share).
pub(super) fn run_layer<M: Modulus>(
    params: &HeParams<M>,
    shape: &Conv2dShape,
    bits: u32,
    seed: u64,
) -> (Vec<Fp<M>>, Vec<Fp<M>>, Vec<Fp<M>>) {
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
