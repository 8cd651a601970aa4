//! Garbled evaluation against the plaintext evaluator, in memory (no network).

mod common;

use circa_gc::{
    Circuit, CircuitBuilder, Delta, Error, EvaluatorSession, GarblerSession, Gate, bits_to_hex,
    hex_to_bits, u128_to_bits,
};
use circa_ot::Block;
use common::*;
use proptest::prelude::*;
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};

fn sessions(seed: u64) -> (GarblerSession, EvaluatorSession, ChaCha20Rng) {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let delta = Delta::random(&mut rng);
    let tweak = Block::random(&mut rng);
    (
        GarblerSession::new(delta, tweak),
        EvaluatorSession::new(tweak),
        rng,
    )
}

/// Garbles and evaluates in memory; returns the decoded outputs and checks the garbler's decoding.
fn garbled_eval(c: &Circuit, x: &[bool], y: &[bool], seed: u64) -> Vec<bool> {
    let (mut gs, mut es, mut rng) = sessions(seed);
    let (gc, enc, dec) = gs.garble(c, &mut rng).unwrap();
    assert_eq!(gc.size_bytes(), 32 * c.and_count());
    let labels = enc.encode_all(x, y).unwrap();
    let out = es.evaluate(c, gc, &labels).unwrap();
    dec.decode(&out).unwrap()
}

fn random_bits(rng: &mut ChaCha20Rng, n: usize) -> Vec<bool> {
    (0..n).map(|_| rng.next_u32() & 1 == 1).collect()
}

/// Random circuits: (garbler inputs, evaluator inputs, gates as (kind, i, j), outputs).
fn random_circuit() -> impl Strategy<Value = Circuit> {
    (
        0usize..5,
        1usize..5,
        prop::collection::vec((0u8..3, any::<u32>(), any::<u32>()), 0..120),
        1usize..12,
        any::<u64>(),
    )
        .prop_map(|(g, e, spec, nout, oseed)| {
            let inputs = g + e;
            let mut gates = Vec::new();
            for (k, (kind, i, j)) in spec.into_iter().enumerate() {
                let avail = (inputs + k) as u32;
                let (a, b, out) = (i % avail, j % avail, avail);
                gates.push(match kind {
                    0 => Gate::xor(a, b, out),
                    1 => Gate::and(a, b, out),
                    _ => Gate::not(a, out),
                });
            }
            let n = inputs + gates.len();
            let outputs = (0..nout as u64)
                .map(|k| (oseed.wrapping_mul(k + 7) % n as u64) as u32)
                .collect();
            Circuit::new(n, g, e, gates, outputs).unwrap()
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]
    #[test]
    fn random_circuits_garble_like_plain(c in random_circuit(), seed in any::<u64>()) {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        for _ in 0..4 {
            let x = random_bits(&mut rng, c.garbler_inputs());
            let y = random_bits(&mut rng, c.evaluator_inputs());
            prop_assert_eq!(garbled_eval(&c, &x, &y, seed), c.eval_plain(&x, &y).unwrap());
        }
    }
}

#[test]
fn gadget_circuit_with_constants_and_deep_chains() {
    let mut b = CircuitBuilder::new();
    let x = b.garbler_input(32);
    let y = b.evaluator_input(32);
    let (s, carry) = b.add_with_carry(&x, &y);
    let ge = b.ge(&x, &y);
    let m = b.mux(ge, &y, &x);
    let e = b.eq_const(&s, 12345);
    let one = b.constant(true);
    b.output(&s);
    b.output(&[carry, ge, e, one]);
    b.output(&m);
    let c = b.finish().unwrap();
    let mut rng = ChaCha20Rng::seed_from_u64(5);
    for i in 0..20 {
        let x = random_bits(&mut rng, 32);
        let y = if i == 0 {
            x.clone()
        } else {
            random_bits(&mut rng, 32)
        };
        assert_eq!(garbled_eval(&c, &x, &y, i), c.eval_plain(&x, &y).unwrap());
    }
}

#[test]
fn aes_128_known_answer_in_memory() {
    let Some(c) = shared_circuit("aes_128.txt") else {
        return;
    };
    let (k, p) = (
        hex_to_bits(AES_KEY, 128).unwrap(),
        hex_to_bits(AES_PT, 128).unwrap(),
    );
    assert_eq!(bits_to_hex(&garbled_eval(&c, &k, &p, 1)), AES_CT);
}

#[test]
fn sha256_in_memory_matches_plain() {
    let Some(c) = shared_circuit("sha256.txt") else {
        return;
    };
    let mut rng = ChaCha20Rng::seed_from_u64(256);
    let x = random_bits(&mut rng, 512);
    let y = hex_to_bits(SHA256_IV, 256).unwrap();
    assert_eq!(garbled_eval(&c, &x, &y, 2), c.eval_plain(&x, &y).unwrap());
}

fn and_tree() -> Circuit {
    let mut b = CircuitBuilder::new();
    let x = b.garbler_input(64);
    let y = b.evaluator_input(64);
    let p = b.and_words(&x, &y);
    let q = b.add(&p, &x);
    let z = b.eq(&q, &y);
    b.output(&q);
    b.output(&[z]);
    b.finish().unwrap()
}

#[test]
fn streaming_in_arbitrary_chunks_and_garbler_decoding() {
    let c = and_tree();
    let (mut gs, mut es, mut rng) = sessions(9);
    let mut g = gs.garble_stream(&c, &mut rng).unwrap();
    let mut tables = Vec::new();
    while g.next_chunk(&mut tables) > 0 {}
    assert_eq!(tables.len(), 2 * c.and_count());
    let x = random_bits(&mut rng, 64);
    let y = random_bits(&mut rng, 64);
    let labels = g.encoder().encode_all(&x, &y).unwrap();
    let outs = g.finish().unwrap();
    let mut ev = es.evaluate_stream(&c, &labels).unwrap();
    // Feed 1, 2, 3, ... tables at a time.
    let mut rest = &tables[..];
    let mut k = 1;
    while !rest.is_empty() {
        let take = (2 * k).min(rest.len());
        ev.consume(&rest[..take]).unwrap();
        rest = &rest[take..];
        k += 1;
    }
    let out = ev.finish().unwrap();
    let want = c.eval_plain(&x, &y).unwrap();
    assert_eq!(outs.decoder().decode(&out).unwrap(), want);
    assert_eq!(outs.decode_verified(&out).unwrap(), want);
    // The exposed zero-labels and Delta give exactly the evaluator's labels.
    let d = outs.delta().as_block();
    for ((z, l), &bit) in outs.zero_labels().iter().zip(&out).zip(&want) {
        let expect = if bit { z.as_block() ^ d } else { z.as_block() };
        assert_eq!(l.as_block(), expect);
    }
    let mut forged = out.clone();
    forged[3] = circa_gc::Label::from_block(forged[3].as_block() ^ Block::from_u128(1 << 7));
    assert!(matches!(
        outs.decode_verified(&forged),
        Err(Error::InvalidOutputLabel { index: 3 })
    ));
}

#[test]
fn truncated_or_overlong_streams_and_wrong_label_counts_are_errors() {
    let c = and_tree();
    let (mut gs, mut es, mut rng) = sessions(10);
    let mut g = gs.garble_stream(&c, &mut rng).unwrap();
    let mut tables = Vec::new();
    while g.next_chunk(&mut tables) > 0 {}
    let labels = g.encoder().encode_all(&[false; 64], &[true; 64]).unwrap();

    let mut ev = es.evaluate_stream(&c, &labels).unwrap();
    ev.consume(&tables[..tables.len() - 2]).unwrap();
    let n = c.and_count() as u64;
    assert!(
        matches!(ev.finish(), Err(Error::TruncatedStream { expected, actual }) if expected == n && actual == n - 1)
    );

    let mut ev = es.evaluate_stream(&c, &labels).unwrap();
    assert!(matches!(
        ev.consume(&tables[..3]),
        Err(Error::PartialTable { blocks: 3 })
    ));
    let mut long = tables.clone();
    long.extend_from_slice(&[Block::ZERO; 2]);
    assert!(matches!(
        ev.consume(&long),
        Err(Error::TooManyTables { .. })
    ));

    assert!(matches!(
        es.evaluate_stream(&c, &labels[..127]),
        Err(Error::LengthMismatch {
            expected: 128,
            actual: 127,
            ..
        })
    ));
    assert!(matches!(
        g.encoder().encode_garbler(&[true; 3]),
        Err(Error::LengthMismatch { expected: 64, .. })
    ));
    // A garbler that has not produced every table cannot finish.
    let mut g2 = gs.garble_stream(&c, &mut rng).unwrap();
    assert!(!g2.is_done());
    let _ = &mut g2;
    assert!(matches!(g2.finish(), Err(Error::NotFinished)));
}

#[test]
fn each_garbling_in_a_session_uses_fresh_tweaks() {
    // Same Delta, same input labels (same rng seed) -- only the tweaks differ between the two runs.
    let c = and_tree();
    let mut rng = ChaCha20Rng::seed_from_u64(11);
    let delta = Delta::random(&mut rng);
    let tweak = Block::random(&mut rng);
    let mut gs = GarblerSession::new(delta, tweak);
    let (a, ..) = gs.garble(&c, &mut ChaCha20Rng::seed_from_u64(1)).unwrap();
    let (b, ..) = gs.garble(&c, &mut ChaCha20Rng::seed_from_u64(1)).unwrap();
    assert_ne!(a.as_bytes(), b.as_bytes());
    // A fresh session with the same tweak reproduces the first garbling exactly.
    let mut gs2 = GarblerSession::new(Delta::try_from_block(gs.delta().as_block()).unwrap(), tweak);
    let (a2, ..) = gs2.garble(&c, &mut ChaCha20Rng::seed_from_u64(1)).unwrap();
    assert_eq!(a.as_bytes(), a2.as_bytes());
}

#[test]
fn output_of_an_input_wire_and_empty_circuits() {
    let c = Circuit::new(2, 1, 1, vec![], vec![1, 0, 1]).unwrap();
    for (x, y) in [(false, true), (true, false)] {
        assert_eq!(garbled_eval(&c, &[x], &[y], 3), vec![y, x, y]);
    }
    let bits = u128_to_bits(0b1011, 4);
    let c = Circuit::new(4, 4, 0, vec![], vec![3, 2, 1, 0]).unwrap();
    assert_eq!(
        garbled_eval(&c, &bits, &[], 4),
        vec![true, false, true, true]
    );
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn aes_128_random_inputs_match_the_aes_crate() {
    use aes::Aes128;
    use aes::cipher::{Array, BlockCipherEncrypt, KeyInit};
    let Some(c) = shared_circuit("aes_128.txt") else {
        return;
    };
    let mut rng = ChaCha20Rng::seed_from_u64(0xae5);
    for i in 0..8 {
        let mut key = [0u8; 16];
        let mut pt = [0u8; 16];
        rng.fill_bytes(&mut key);
        rng.fill_bytes(&mut pt);
        let mut block = Array::from(pt);
        Aes128::new(&Array::from(key)).encrypt_block(&mut block);
        let k = hex_to_bits(&to_hex(&key), 128).unwrap();
        let p = hex_to_bits(&to_hex(&pt), 128).unwrap();
        assert_eq!(
            bits_to_hex(&garbled_eval(&c, &k, &p, 100 + i)),
            to_hex(&block.0)
        );
    }
}
