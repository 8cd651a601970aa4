//! Known-answer tests of the shared Bristol circuits through the plaintext evaluator.

mod common;

use circa_gc::{bits_to_hex, hex_to_bits};
use common::*;

#[test]
fn aes_128_fips197_plain() {
    let Some(c) = shared_circuit("aes_128.txt") else {
        return;
    };
    assert_eq!(
        (c.garbler_inputs(), c.evaluator_inputs(), c.outputs().len()),
        (128, 128, 128)
    );
    assert_eq!(c.and_count(), 6400);
    let out = c
        .eval_plain(
            &hex_to_bits(AES_KEY, 128).unwrap(),
            &hex_to_bits(AES_PT, 128).unwrap(),
        )
        .unwrap();
    assert_eq!(bits_to_hex(&out), AES_CT);
}

/// The SHA-256 compression circuit: first input the 512-bit message block, second the 256-bit
/// chaining value, output the new chaining value, all in the hex convention of the crate (the
/// block / state written as the usual big-endian byte strings).
#[test]
fn sha256_compression_plain() {
    let Some(c) = shared_circuit("sha256.txt") else {
        return;
    };
    assert_eq!(
        (c.garbler_inputs(), c.evaluator_inputs(), c.outputs().len()),
        (512, 256, 256)
    );
    let iv = hex_to_bits(SHA256_IV, 256).unwrap();
    // Empty message: 0x80 then zeros, length 0.
    let empty = format!("80{}", "0".repeat(126));
    let out = c
        .eval_plain(&hex_to_bits(&empty, 512).unwrap(), &iv)
        .unwrap();
    let hexes = bits_to_hex(&out);
    eprintln!("{hexes}");
    assert_eq!(
        hexes,
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    // "abc": 616263 80 .. length 24 bits.
    let abc = format!("61626380{}18", "0".repeat(118));
    let out = c.eval_plain(&hex_to_bits(&abc, 512).unwrap(), &iv).unwrap();
    assert_eq!(
        bits_to_hex(&out),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
}

#[test]
fn bristol_writer_round_trips_the_shared_circuits() {
    for name in ["aes_128.txt", "sha256.txt"] {
        let Some(c) = shared_circuit(name) else {
            return;
        };
        let again = circa_gc::parse_bristol(&circa_gc::to_bristol_string(&c)).unwrap();
        assert_eq!(again.and_count(), c.and_count());
        assert_eq!(again.outputs().len(), c.outputs().len());
        let x: Vec<bool> = (0..c.garbler_inputs()).map(|i| i % 3 == 0).collect();
        let y: Vec<bool> = (0..c.evaluator_inputs()).map(|i| i % 5 == 1).collect();
        assert_eq!(
            again.eval_plain(&x, &y).unwrap(),
            c.eval_plain(&x, &y).unwrap(),
            "{name}"
        );
    }
}
