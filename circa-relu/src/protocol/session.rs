//! State and helpers both parties share: tweak derivation, the field-valued hash, the circuit
//! cache and the session constants agreed at setup.

use std::sync::Arc;

use circa_gc::Circuit;
use circa_ot::{Block, Channel, TweakableHash};
use circa_share::{Fp, Modulus};
use subtle::ConstantTimeEq;

use crate::circuits::relu_circuit;
use crate::error::Error;
use crate::params::ReluParams;

/// ReLUs per garbled circuit (one chunk of a batch); the circuit is built once per size.
///
/// Small enough that the garbler's and evaluator's wire tables (16 B per wire, a few hundred
/// wires per ReLU for the sign variants, more for the baseline) stay within the L2 cache: measured over 2^16 ReLUs
/// (41-bit prime, k = 12), 512-1024 gave the lowest CPU time per party; 4096 cost the garbler
/// about 25% more and the evaluator 20% more.
pub const CHUNK_RELUS: usize = 1024;
/// Largest batch one `offline` call accepts (checked before anything is allocated).
pub const MAX_BATCH: usize = 1 << 24;
/// Largest number of ReLUs one session may preprocess in total (keeps the hash tweaks
/// `2 * index + 1` inside `u64`).
pub const MAX_SESSION_RELUS: u64 = 1 << 60;

/// Domain label hashed into the fingerprint exchange.
pub(crate) const HELLO_LABEL: &[u8; 16] = b"circa-relu/v1\0\0\0";

/// The garbling session tweak of chunk `chunk`: the agreed base XOR the chunk number in the high
/// 64 bits. Gate tweaks of one chunk occupy the low 64 bits, so all chunks use distinct tweaks,
/// and each chunk can be evaluated independently of the order in which chunks were garbled.
pub(crate) fn chunk_tweak(base: Block, chunk: u64) -> Block {
    base ^ Block::from_u128(u128::from(chunk) << 64)
}

/// The conversion hash's session tweak: the garbling tweak with bit 127 flipped. Garbling tweaks
/// are `base ^ (chunk << 64) ^ j` with `chunk < 2^60` and `j < 2^64` (bit 127 as in `base`),
/// conversion tweaks `base ^ 2^127 ^ t` with `t < 2^61` (bit 127 flipped): the two sets are
/// disjoint by construction, not only with high probability.
pub(crate) fn conversion_tweak(garble_tweak: Block) -> Block {
    garble_tweak ^ Block::from_u128(1 << 127)
}

/// Tweak of the output table of ReLU `relu` (global index within the session).
pub(crate) fn output_table_tweak(relu: u64) -> u64 {
    relu << 1
}

/// Tweak of the lambda-OT hash of ReLU `relu`.
pub(crate) fn lambda_ot_tweak(relu: u64) -> u64 {
    (relu << 1) | 1
}

/// `HF(x_i, first + i * stride)`: the tweakable hash reduced into the field (128 bits into at most
/// 62: the statistical distance from uniform is below 2^-66).
pub(crate) fn hash_to_field_strided<M: Modulus>(
    hash: &TweakableHash,
    xs: &[Block],
    first: u64,
    stride: u64,
) -> Vec<Fp<M>> {
    let mut out = xs.to_vec();
    hash.hash_strided_in_place(&mut out, first, stride);
    let r = out
        .iter()
        .map(|h| Fp::from_u128_reduced(h.to_u128()))
        .collect();
    zeroize::Zeroize::zeroize(&mut out);
    r
}

/// `[HF(x_i, t_i), HF(x_i ^ offset, t_i)]` with `t_i = first + i * stride`: both hashes of each
/// pair under one tweak (one AES key schedule per pair).
pub(crate) fn hash_pairs_to_field<M: Modulus>(
    hash: &TweakableHash,
    xs: &[Block],
    offset: Block,
    first: u64,
    stride: u64,
) -> Vec<[Fp<M>; 2]> {
    let mut out = vec![[Block::ZERO; 2]; xs.len()];
    hash.hash_pairs(xs, offset, first, stride, &mut out);
    let r = out
        .iter()
        .map(|h| h.map(|h| Fp::from_u128_reduced(h.to_u128())))
        .collect();
    zeroize::Zeroize::zeroize(&mut out);
    r
}

/// Makes `v` empty with room for `n` items without reallocating later (a reallocation would
/// leave an unwiped copy of a secret buffer): a buffer that is too small is wiped and replaced.
pub(crate) fn reserve_wiped<T: zeroize::Zeroize>(v: &mut Vec<T>, n: usize) {
    if v.capacity() < n {
        zeroize::Zeroize::zeroize(v);
        *v = Vec::with_capacity(n);
    }
    v.clear();
}

/// The field element 0 or 1.
pub(crate) fn fp_bit<M: Modulus>(b: bool) -> Fp<M> {
    Fp::from_u64_reduced(u64::from(b))
}

/// Most circuits a session keeps (variant and ReLU count).
const CIRCUIT_CACHE: usize = 16;

/// Circuits by variant and ReLU count (a session's batches may use different variants: per-layer
/// `k`), the full-size chunk circuits kept longest.
#[derive(Debug, Default)]
pub(crate) struct CircuitCache {
    entries: Vec<((crate::params::Variant, bool, usize), Arc<Circuit>)>,
}

impl CircuitCache {
    /// The circuit for `count` ReLUs, built on first use.
    pub(crate) fn get<M: Modulus>(
        &mut self,
        params: &ReluParams<M>,
        count: usize,
    ) -> Result<Arc<Circuit>, Error> {
        let key = (params.variant(), params.rescale(), count);
        if let Some((_, c)) = self.entries.iter().find(|(k, _)| *k == key) {
            return Ok(Arc::clone(c));
        }
        let c = Arc::new(relu_circuit(params, count)?);
        if self.entries.len() >= CIRCUIT_CACHE {
            // Drop the oldest short-chunk circuit (or the oldest, if all are full size).
            let i = self
                .entries
                .iter()
                .position(|((_, _, n), _)| *n != CHUNK_RELUS)
                .unwrap_or(0);
            self.entries.remove(i);
        }
        self.entries.push((key, Arc::clone(&c)));
        Ok(c)
    }
}

/// Splits `n` ReLUs into chunk lengths.
pub(crate) fn chunk_lengths(n: usize) -> impl Iterator<Item = usize> {
    (0..n.div_ceil(CHUNK_RELUS)).map(move |i| CHUNK_RELUS.min(n - i * CHUNK_RELUS))
}

/// Exchanges and compares parameter fingerprints (both directions, so both parties detect a
/// mismatch).
pub(crate) fn exchange_fingerprints<C: Channel + ?Sized>(
    ch: &mut C,
    mine: &[u8; 32],
    first: bool,
) -> Result<(), Error> {
    let mut theirs = [0u8; 32];
    if first {
        ch.send(HELLO_LABEL)?;
        ch.send(mine)?;
        ch.flush()?;
    }
    let mut label = [0u8; 16];
    ch.recv(&mut label)?;
    ch.recv(&mut theirs)?;
    if !first {
        ch.send(HELLO_LABEL)?;
        ch.send(mine)?;
        ch.flush()?;
    }
    if &label != HELLO_LABEL || !bool::from(theirs.ct_eq(mine)) {
        return Err(Error::ParamsMismatch);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Garbling and conversion tweak blocks differ in bit 127 for every chunk and offset the
    /// session allows.
    #[test]
    fn garbling_and_conversion_tweaks_are_disjoint() {
        let top = |b: Block| b.to_u128() >> 127;
        for base in [
            Block::ZERO,
            Block::ONES,
            Block::from_u128(0x0123_4567_89ab_cdef << 60),
        ] {
            let conv = conversion_tweak(base);
            for chunk in [0, 1, MAX_SESSION_RELUS] {
                let g = chunk_tweak(base, chunk) ^ Block::from_u128(u128::from(u64::MAX));
                assert_ne!(top(g), top(conv));
                assert_eq!(top(chunk_tweak(base, chunk)), top(base));
            }
            let last = u128::from(lambda_ot_tweak(MAX_SESSION_RELUS - 1));
            assert_eq!(top(conv ^ Block::from_u128(last)), top(conv));
            assert_ne!(output_table_tweak(5), lambda_ot_tweak(5));
        }
    }
}
