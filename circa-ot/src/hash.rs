//! Hash functions built from the fixed-key AES permutation `pi`, following
//! Guo, Katz, Wang and Yu, "Efficient and Secure Multiparty Computation from
//! Fixed-Key Block Ciphers" (ePrint 2019/074, IEEE S&P 2020), section 7:
//!
//! * [`TweakableHash`]: the tweakable circular correlation-robust (TCCR) hash
//!   `H(x, i) = pi(pi(x) xor i) xor pi(x)` (their `TMMO`), used by half-gates
//!   garbling and by OT extension with the OT index as the tweak.
//! * [`ccr_hash_many`]: the circular correlation-robust hash
//!   `H(x) = pi(sigma(x)) xor sigma(x)` (their `MMO` with the orthomorphism
//!   `sigma`), for places without a natural tweak.
//!
//! Multi-instance security: a fixed-key hash is shared by every session, so
//! an adversary who sees many sessions gets many targets for the same tweak.
//! Following the multi-instance analysis of ePrint 2019/1168 (Guo, Katz, Wang,
//! Weng, Yu), every session XORs a fresh random 128-bit `session_tweak` into
//! each tweak, so (session, tweak) pairs never repeat across sessions except
//! with probability about `sessions^2 * tweaks / 2^128`.

use crate::{AES_BATCH, Block, FixedKeyAes, HASH_BATCH};
use zeroize::Zeroize;

/// The TCCR hash `H(x, i) = pi(pi(x) xor T_i) xor pi(x)` with
/// `T_i = session_tweak xor i` (see the module docs).
#[derive(Clone, Copy)]
pub struct TweakableHash {
    aes: &'static FixedKeyAes,
    session_tweak: Block,
}

impl TweakableHash {
    /// The hash for one session. `session_tweak` must be fresh and random for
    /// every session and known to both parties (one of them samples and sends it).
    pub fn new(session_tweak: Block) -> Self {
        TweakableHash {
            aes: FixedKeyAes::fixed(),
            session_tweak,
        }
    }

    /// The full 128-bit tweak `session_tweak xor tweak`.
    #[inline(always)]
    pub fn tweak_block(&self, tweak: u64) -> Block {
        self.session_tweak ^ Block::from_u128(tweak as u128)
    }

    /// `H(x, tweak)`.
    #[inline]
    pub fn hash(&self, x: Block, tweak: u64) -> Block {
        let px = self.aes.encrypt(x);
        self.aes.encrypt(px ^ self.tweak_block(tweak)) ^ px
    }

    /// `out[j] = H(xs[j], tweaks[j])`, with the AES calls batched.
    ///
    /// # Panics
    /// If the three slices differ in length (a caller bug, never peer data).
    pub fn hash_many(&self, xs: &[Block], tweaks: &[u64], out: &mut [Block]) {
        assert!(
            xs.len() == tweaks.len() && xs.len() == out.len(),
            "hash_many: slices of different lengths"
        );
        with_scratch(xs.len(), |px| {
            let batch = px.len();
            for ((xs, tweaks), out) in xs
                .chunks(batch)
                .zip(tweaks.chunks(batch))
                .zip(out.chunks_mut(batch))
            {
                let px = &mut px[..xs.len()];
                px.copy_from_slice(xs);
                self.aes.encrypt_many(px);
                for ((o, p), t) in out.iter_mut().zip(px.iter()).zip(tweaks) {
                    *o = *p ^ self.tweak_block(*t);
                }
                self.aes.encrypt_many(out);
                for (o, p) in out.iter_mut().zip(px.iter()) {
                    *o ^= *p;
                }
            }
        });
    }

    /// `xs[j] = H(xs[j], first_tweak + j)` in place: the common case of
    /// consecutive tweaks (OT indices).
    pub fn hash_seq_in_place(&self, xs: &mut [Block], first_tweak: u64) {
        with_scratch(xs.len(), |px| {
            let mut tweak = first_tweak;
            for chunk in xs.chunks_mut(px.len()) {
                let px = &mut px[..chunk.len()];
                px.copy_from_slice(chunk);
                self.aes.encrypt_many(px);
                for (x, p) in chunk.iter_mut().zip(px.iter()) {
                    *x = *p ^ self.tweak_block(tweak);
                    tweak = tweak.wrapping_add(1);
                }
                self.aes.encrypt_many(chunk);
                for (x, p) in chunk.iter_mut().zip(px.iter()) {
                    *x ^= *p;
                }
            }
        });
    }
}

impl core::fmt::Debug for TweakableHash {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("TweakableHash(..)")
    }
}

/// The CCR hash `H(x) = pi(sigma(x)) xor sigma(x)` applied in place, batched.
pub fn ccr_hash_many(xs: &mut [Block]) {
    let aes = FixedKeyAes::fixed();
    with_scratch(xs.len(), |sx| {
        for chunk in xs.chunks_mut(sx.len()) {
            let sx = &mut sx[..chunk.len()];
            for (s, x) in sx.iter_mut().zip(chunk.iter_mut()) {
                *s = x.sigma();
                *x = *s;
            }
            aes.encrypt_many(chunk);
            for (x, s) in chunk.iter_mut().zip(sx.iter()) {
                *x ^= *s;
            }
        }
    });
}

/// Runs `f` with a stack scratch of blocks sized for a batch of `len`
/// (`AES_BATCH`, 256 or `HASH_BATCH` blocks: small calls, such as the
/// garbler's per-level batches, do not pay for clearing a large buffer), and
/// wipes the part that was used afterwards: the scratch holds `pi(x)` or
/// `sigma(x)`, either of which reveals `x`.
fn with_scratch<R>(len: usize, f: impl FnOnce(&mut [Block]) -> R) -> R {
    fn run<const N: usize, R>(len: usize, f: impl FnOnce(&mut [Block]) -> R) -> R {
        let mut scratch = [Block::ZERO; N];
        let r = f(&mut scratch);
        scratch[..len.min(N)].zeroize();
        r
    }
    if len <= AES_BATCH {
        run::<AES_BATCH, R>(len, f)
    } else if len <= 256 {
        run::<256, R>(len, f)
    } else {
        run::<HASH_BATCH, R>(len, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batched_matches_definition() {
        let h = TweakableHash::new(Block::from_u128(0x5eed));
        let aes = FixedKeyAes::fixed();
        // Several batches of `HASH_BATCH` plus a tail that is not a
        // multiple of the AES pipeline width.
        const N: usize = 2 * HASH_BATCH + 77;
        let xs: Vec<Block> = (0..N as u128)
            .map(|i| Block::from_u128(i.wrapping_mul(0x0123_4567_89ab_cdef)))
            .collect();
        let tweaks: Vec<u64> = (0..N as u64).map(|i| i * 3 + 7).collect();
        let mut out = vec![Block::ZERO; N];
        h.hash_many(&xs, &tweaks, &mut out);
        for j in 0..N {
            let px = aes.encrypt(xs[j]);
            let want = aes.encrypt(px ^ Block::from_u128(0x5eed ^ tweaks[j] as u128)) ^ px;
            assert_eq!(out[j], want);
            assert_eq!(h.hash(xs[j], tweaks[j]), want);
        }
        let mut seq = xs.clone();
        h.hash_seq_in_place(&mut seq, 1000);
        for j in 0..N {
            assert_eq!(seq[j], h.hash(xs[j], 1000 + j as u64));
        }
    }

    #[test]
    fn tweak_and_session_separate_outputs() {
        let x = Block::from_u128(42);
        let h1 = TweakableHash::new(Block::from_u128(1));
        let h2 = TweakableHash::new(Block::from_u128(2));
        assert_ne!(h1.hash(x, 0), h1.hash(x, 1));
        assert_ne!(h1.hash(x, 0), h2.hash(x, 0));
    }

    #[test]
    fn ccr_matches_definition() {
        let aes = FixedKeyAes::fixed();
        let xs: Vec<Block> = (0..(HASH_BATCH + 70) as u128)
            .map(|i| Block::from_u128(i << 70 | i))
            .collect();
        let mut ys = xs.clone();
        ccr_hash_many(&mut ys);
        for (x, y) in xs.iter().zip(&ys) {
            assert_eq!(*y, aes.encrypt(x.sigma()) ^ x.sigma());
        }
    }
}
