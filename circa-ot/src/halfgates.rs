//! The AES-bound inner loop of half-gates garbling (Zahur, Rosulek, Evans,
//! "Two Halves Make a Whole", Eurocrypt 2015): a batch of independent AND
//! gates, hashed and combined in registers by the kernels of
//! [`crate::simd`]. It lives here, next to the hash, because it is a vector
//! kernel; circuits, schedules, wire tables and the protocol are circa-gc's.
//!
//! Gate `i` of a batch has the input zero-labels (garbler) or labels
//! (evaluator) `A = inputs[i][0]`, `B = inputs[i][1]`, colour bits
//! `pa = lsb(A)`, `pb = lsb(B)`, and is hashed with [`TweakableHash`] under
//! the tweaks `j = first + 2i` (the garbler half, on `A`) and `j + 1` (the
//! evaluator half, on `B`):
//!
//! ```text
//! TG = H(A, j) ^ H(A ^ Delta, j) ^ pb Delta          WG = H(A, j) ^ pa TG
//! TE = H(B, j+1) ^ H(B ^ Delta, j+1) ^ A             WE = H(B, j+1) ^ pb (TE ^ A)
//! C = WG ^ WE, table = (TG, TE)
//! ```
//!
//! and the evaluator, holding `A`, `B` with colours `sa`, `sb`, computes
//! `H(A, j) ^ sa TG ^ H(B, j+1) ^ sb (TE ^ A)`. Each tweak (AES key) hashes
//! only the pair `{L, L ^ Delta}` of one half gate: the callers must never
//! reuse a tweak within a session (circa-gc reserves `2 * and_count`
//! consecutive tweaks per circuit).

use crate::aes::Engine;
use crate::{Block, TweakableHash};

/// Garbles `inputs.len()` independent AND gates under the free-XOR offset
/// `delta` (its lsb must be 1): writes each gate's table `(TG, TE)` to
/// `tables[i]` and its output zero-label to `outputs[i]`.
///
/// # Panics
/// If the three slices differ in length (a caller bug, never peer data).
pub fn garble(
    hash: &TweakableHash,
    delta: Block,
    first_tweak: u64,
    inputs: &[[Block; 2]],
    tables: &mut [[Block; 2]],
    outputs: &mut [Block],
) {
    assert!(
        inputs.len() == outputs.len() && tables.len() == outputs.len(),
        "halfgates::garble: slices of different lengths"
    );
    match hash.engine() {
        Engine::Portable => {
            let mut h = [[Block::ZERO; 2]; 2];
            for (i, ((x, t), o)) in inputs
                .iter()
                .zip(tables.iter_mut())
                .zip(outputs)
                .enumerate()
            {
                let j = first_tweak.wrapping_add(2 * i as u64);
                hash.hash_pairs(x, delta, j, 1, &mut h);
                let [[ha, ha1], [hb, hb1]] = h;
                let (a, b) = (x[0], x[1]);
                let tg = ha ^ ha1 ^ delta.and_bit(b.lsb());
                let te = hb ^ hb1 ^ a;
                *t = [tg, te];
                *o = ha ^ tg.and_bit(a.lsb()) ^ hb ^ (te ^ a).and_bit(b.lsb());
            }
            zeroize::Zeroize::zeroize(&mut h);
        }
        #[cfg(target_arch = "x86_64")]
        Engine::Hw(hw) => crate::simd::garble_gates(
            hw,
            hash.session_tweak(),
            first_tweak,
            delta,
            bytemuck::cast_slice(inputs),
            bytemuck::cast_slice_mut(tables),
            outputs,
        ),
    }
}

/// Evaluates `inputs.len()` independent AND gates with their tables: writes
/// each gate's output label to `outputs[i]`.
///
/// # Panics
/// If the three slices differ in length (a caller bug, never peer data).
pub fn evaluate(
    hash: &TweakableHash,
    first_tweak: u64,
    inputs: &[[Block; 2]],
    tables: &[[Block; 2]],
    outputs: &mut [Block],
) {
    assert!(
        inputs.len() == outputs.len() && tables.len() == outputs.len(),
        "halfgates::evaluate: slices of different lengths"
    );
    match hash.engine() {
        Engine::Portable => {
            for (i, ((x, t), o)) in inputs.iter().zip(tables).zip(outputs).enumerate() {
                let mut h = *x;
                hash.hash_seq_in_place(&mut h, first_tweak.wrapping_add(2 * i as u64));
                let (a, b) = (x[0], x[1]);
                *o = h[0] ^ t[0].and_bit(a.lsb()) ^ h[1] ^ (t[1] ^ a).and_bit(b.lsb());
                zeroize::Zeroize::zeroize(&mut h);
            }
        }
        #[cfg(target_arch = "x86_64")]
        Engine::Hw(hw) => crate::simd::eval_gates(
            hw,
            hash.session_tweak(),
            first_tweak,
            bytemuck::cast_slice(inputs),
            bytemuck::cast_slice(tables),
            outputs,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AesBackend, Prg};

    /// Every backend gives the same tables and labels as the portable one,
    /// and evaluating on either label of each input gives the label of the
    /// AND of the bits.
    #[test]
    fn every_level_garbles_the_same_and_evaluates_correctly() {
        let mut prg = Prg::from_seed_block(Block::from_u128(2015));
        for n in [0usize, 1, 2, 3, 5, 64, 67] {
            let session = prg.random_block();
            let delta = prg.random_block().with_lsb(true);
            let mut inputs = vec![[Block::ZERO; 2]; n];
            prg.fill_blocks(bytemuck::cast_slice_mut(&mut inputs));
            // Some gates whose inputs are one wire and itself or its negation (zero-labels
            // equal or Delta apart): the formulas hold for any pair of zero-labels.
            for (i, x) in inputs.iter_mut().enumerate() {
                if i % 5 == 3 {
                    x[1] = x[0] ^ delta.and_bit(i % 2 == 0);
                }
            }
            let first = prg.random_block().to_u128() as u64;
            let portable = TweakableHash::with_backend(session, AesBackend::Portable).unwrap();
            let mut want_t = vec![[Block::ZERO; 2]; n];
            let mut want_o = vec![Block::ZERO; n];
            garble(&portable, delta, first, &inputs, &mut want_t, &mut want_o);
            for backend in AesBackend::available() {
                let h = TweakableHash::with_backend(session, backend).unwrap();
                let mut t = vec![[Block::ZERO; 2]; n];
                let mut o = vec![Block::ZERO; n];
                garble(&h, delta, first, &inputs, &mut t, &mut o);
                assert_eq!((&t, &o), (&want_t, &want_o), "{backend:?} n={n}");
                for bits in 0..4u8 {
                    let (ba, bb) = (bits & 1 == 1, bits & 2 == 2);
                    let labels: Vec<[Block; 2]> = inputs
                        .iter()
                        .map(|x| [x[0] ^ delta.and_bit(ba), x[1] ^ delta.and_bit(bb)])
                        .collect();
                    let mut out = vec![Block::ZERO; n];
                    evaluate(&h, first, &labels, &t, &mut out);
                    for i in 0..n {
                        let want = o[i] ^ delta.and_bit(ba & bb);
                        assert_eq!(out[i], want, "{backend:?} n={n} gate {i} bits {ba}{bb}");
                    }
                }
            }
        }
    }
}
