//! Hash functions from AES.
//!
//! * [`TweakableHash`]: the multi-instance tweakable circular
//!   correlation-robust hash (MITCCRH) of Guo, Katz, Wang, Weng and Yu,
//!   "Better Concrete Security for Half-Gates Garbling (in the Multi-Instance
//!   Setting)", CRYPTO 2020, ePrint 2019/1168: **one AES call per hashed
//!   block**, under a key derived from the session tweak and the tweak,
//!   `H(x, j) = AES_{S ^ j}(sigma(x)) ^ sigma(x)`. Used by half-gates
//!   garbling and evaluation, random and chosen-message OT, and the label
//!   tables of circa-relu.
//! * [`ccr_hash_many`]: the fixed-key circular correlation-robust hash
//!   `H(x) = pi(sigma(x)) ^ sigma(x)` of Guo, Katz, Wang and Yu (ePrint
//!   2019/074, section 7), for places without a natural tweak.
//!
//! `sigma(L || R) = (L ^ R) || L` is the linear orthomorphism of ePrint
//! 2019/074 ([`Block::sigma`]).
//!
//! # Security of `TweakableHash` (why one call suffices, and what it assumes)
//!
//! The model is the ideal-cipher model: AES-128 under each key is an
//! independent random permutation, and the adversary may query every one of
//! them and their inverses. The session tweak `S` is uniform per session and
//! public (both parties know it); the key of tweak `j` is `S ^ j` with `j` a
//! 64-bit integer in the low half. So, within a session, distinct tweaks
//! select distinct, independent permutations, and sessions collide on a key
//! only with probability about `(total keys)^2 / 2^128`.
//!
//! What the protocols need is that `H(x ^ Delta, j)` (possibly XORed with
//! `Delta`: circularity) looks random to someone who knows `x` but not the
//! secret offset `Delta`, for each tweak queried on the one pair `{x, x ^
//! Delta}` (half-gates garbling, the pads of random OT) or on one block of
//! it (evaluation, the OT receiver). Take the oracle `x -> H(x ^ Delta, j) ^
//! b Delta`:
//!
//! * `sigma` makes the circular query safe: with `s = sigma(x)`,
//!   `H(x ^ Delta, j) ^ Delta = E_j(s ^ sigma(Delta)) ^ s ^ sigma(Delta) ^
//!   Delta`, and `sigma(Delta) ^ Delta` is again a permutation of `Delta`,
//!   so `Delta` does not cancel. (Without `sigma`, `E_j(x ^ Delta) ^ x` would
//!   come out for `b = 1`, and inverting `E_j` would give `Delta`.)
//! * An output is distinguishable only if the adversary queries `E_j` or
//!   `E_j^{-1}` at the hidden point `sigma(x ^ Delta)` (or its image), i.e.
//!   guesses `Delta`. Because every key `S ^ j` hides at most two points, one
//!   query to the ideal cipher tests one guess of `Delta` against one tweak:
//!   with `p` queries the advantage is about `p / 2^127`, independent of the
//!   number of hashes, circuits and sessions, plus the key-collision term
//!   above.
//!
//! This is the point of the re-keyed construction. With a single fixed key
//! (the two-call TCCR hash `pi(pi(x) ^ T) ^ pi(x)` of ePrint 2019/074 that
//! circa-ot used before) one query to `pi` tests a guess of the hidden input
//! against all `C` hashes of all sessions at once, so the bound degrades to
//! about `C p / 2^128` (ePrint 2019/1168 turns this into an attack on
//! fixed-key half-gates in time about `2^128 / C`). Re-keying costs a key
//! schedule per tweak; the kernels in [`crate::simd`] expand each key in
//! registers next to the encryption that uses it, so garbling costs 4 block
//! encryptions and 2 key schedules per AND gate instead of 8 encryptions.
//!
//! Assumptions, stated plainly: AES-128 is modelled as an ideal cipher,
//! including for the related keys `S ^ j` (no related-key attack on
//! AES-128's key schedule is known that applies here; the same assumption
//! underlies emp-toolkit's MITCCRH, which uses `S ^ j` too). Tweaks must not
//! repeat within a session except for the two blocks of one pair: every
//! caller in this workspace derives its tweaks from an index (gate, OT,
//! ReLU) and documents the disjointness of its tweak ranges.

use crate::aes::{Engine, portable_encrypt};
use crate::{AES_BATCH, AesBackend, Block, FixedKeyAes, HASH_BATCH};
use zeroize::Zeroize;

/// The re-keyed hash `H(x, j) = AES_{S ^ j}(sigma(x)) ^ sigma(x)` for one
/// session tweak `S` (see the module docs). `Copy`: the session tweak is
/// public; the kernel expands every key on the fly.
#[derive(Clone, Copy)]
pub struct TweakableHash {
    session_tweak: Block,
    engine: Engine,
}

impl TweakableHash {
    /// The hash for one session on the detected AES backend. `session_tweak`
    /// must be fresh and random for every session and known to both parties
    /// (one of them samples and sends it, or both derive it from a random
    /// session id).
    pub fn new(session_tweak: Block) -> Self {
        TweakableHash {
            session_tweak,
            engine: Engine::detected(),
        }
    }

    /// As [`TweakableHash::new`] on a given backend; `None` if the running
    /// CPU does not support it.
    pub fn with_backend(session_tweak: Block, backend: AesBackend) -> Option<Self> {
        Some(TweakableHash {
            session_tweak,
            engine: backend.engine()?,
        })
    }

    /// The backend this hash runs on.
    pub fn backend(&self) -> AesBackend {
        self.engine.backend()
    }

    pub(crate) fn engine(&self) -> Engine {
        self.engine
    }

    pub(crate) fn session_tweak(&self) -> Block {
        self.session_tweak
    }

    /// The AES key of `tweak`: `session_tweak ^ tweak`.
    #[inline(always)]
    pub fn tweak_key(&self, tweak: u64) -> Block {
        self.session_tweak ^ Block::from_u128(tweak as u128)
    }

    /// `H(x, tweak)`.
    #[inline]
    pub fn hash(&self, x: Block, tweak: u64) -> Block {
        let mut b = [x];
        self.hash_strided_in_place(&mut b, tweak, 0);
        b[0]
    }

    /// `xs[i] = H(xs[i], first + i)` in place: consecutive tweaks (OT indices,
    /// the two halves of consecutive AND gates).
    pub fn hash_seq_in_place(&self, xs: &mut [Block], first: u64) {
        self.hash_strided_in_place(xs, first, 1);
    }

    /// `xs[i] = H(xs[i], first + i * stride)` in place (tweaks wrap modulo
    /// 2^64, like the kernel's 64-bit lanes).
    pub fn hash_strided_in_place(&self, xs: &mut [Block], first: u64, stride: u64) {
        match self.engine {
            Engine::Portable => {
                for (i, x) in xs.iter_mut().enumerate() {
                    let t = first.wrapping_add((i as u64).wrapping_mul(stride));
                    let s = x.sigma();
                    *x = portable_encrypt(self.tweak_key(t), s) ^ s;
                }
            }
            #[cfg(target_arch = "x86_64")]
            Engine::Hw(hw) => crate::simd::hash_singles(hw, self.session_tweak, first, stride, xs),
        }
    }

    /// Both hashes of each pair `{x, x ^ offset}` under one tweak:
    /// `out[i] = [H(xs[i], t_i), H(xs[i] ^ offset, t_i)]` with
    /// `t_i = first + i * stride`. One key schedule serves the pair: this is
    /// the garbler's half gate (`offset = Delta`) and the random-OT sender's
    /// pads.
    ///
    /// # Panics
    /// If `out.len() != xs.len()` (a caller bug, never peer data).
    pub fn hash_pairs(
        &self,
        xs: &[Block],
        offset: Block,
        first: u64,
        stride: u64,
        out: &mut [[Block; 2]],
    ) {
        assert_eq!(
            xs.len(),
            out.len(),
            "hash_pairs: slices of different lengths"
        );
        match self.engine {
            Engine::Portable => {
                for (i, (x, o)) in xs.iter().zip(out.iter_mut()).enumerate() {
                    let key = self.tweak_key(first.wrapping_add((i as u64).wrapping_mul(stride)));
                    let (s0, s1) = (x.sigma(), (*x ^ offset).sigma());
                    *o = [
                        portable_encrypt(key, s0) ^ s0,
                        portable_encrypt(key, s1) ^ s1,
                    ];
                }
            }
            #[cfg(target_arch = "x86_64")]
            Engine::Hw(hw) => crate::simd::hash_pairs(
                hw,
                self.session_tweak,
                first,
                stride,
                offset,
                xs,
                bytemuck::cast_slice_mut(out),
            ),
        }
    }
}

impl core::fmt::Debug for TweakableHash {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "TweakableHash({})", self.backend().name())
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
/// (`AES_BATCH` or `HASH_BATCH` blocks), and wipes the part that was used
/// afterwards: the scratch holds `sigma(x)`, which reveals `x`.
fn with_scratch<R>(len: usize, f: impl FnOnce(&mut [Block]) -> R) -> R {
    fn run<const N: usize, R>(len: usize, f: impl FnOnce(&mut [Block]) -> R) -> R {
        let mut scratch = [Block::ZERO; N];
        let r = f(&mut scratch);
        scratch[..len.min(N)].zeroize();
        r
    }
    if len <= AES_BATCH {
        run::<AES_BATCH, R>(len, f)
    } else {
        run::<HASH_BATCH, R>(len, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Prg;

    /// The definition, through the `aes` crate.
    fn reference(s: Block, x: Block, t: u64) -> Block {
        portable_encrypt(s ^ Block::from_u128(t as u128), x.sigma()) ^ x.sigma()
    }

    fn hashes(s: Block) -> Vec<TweakableHash> {
        AesBackend::available()
            .into_iter()
            .map(|b| TweakableHash::with_backend(s, b).unwrap())
            .collect()
    }

    /// Every level, every entry point, random inputs, lengths that exercise
    /// the pipelined groups, single vectors and the padded odd tail, and
    /// tweak sequences that wrap.
    #[test]
    fn every_level_matches_the_definition() {
        let mut prg = Prg::from_seed_block(Block::from_u128(0x1168));
        for n in [0usize, 1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 31, 100, 513] {
            let s = prg.random_block();
            let offset = prg.random_block();
            let mut xs = vec![Block::ZERO; n];
            prg.fill_blocks(&mut xs);
            for (first, stride) in [(0u64, 1u64), (1000, 2), (u64::MAX - 3, 1), (77, 0)] {
                let t = |i: usize| first.wrapping_add((i as u64).wrapping_mul(stride));
                for h in hashes(s) {
                    let mut got = xs.clone();
                    h.hash_strided_in_place(&mut got, first, stride);
                    for i in 0..n {
                        assert_eq!(got[i], reference(s, xs[i], t(i)), "{h:?} n={n} i={i}");
                    }
                    let mut pairs = vec![[Block::ZERO; 2]; n];
                    h.hash_pairs(&xs, offset, first, stride, &mut pairs);
                    for i in 0..n {
                        assert_eq!(pairs[i][0], reference(s, xs[i], t(i)), "{h:?} pair n={n}");
                        assert_eq!(
                            pairs[i][1],
                            reference(s, xs[i] ^ offset, t(i)),
                            "{h:?} pair"
                        );
                    }
                    if stride == 1 {
                        let mut seq = xs.clone();
                        h.hash_seq_in_place(&mut seq, first);
                        assert_eq!(seq, got);
                    }
                    if n > 0 {
                        assert_eq!(h.hash(xs[0], first), reference(s, xs[0], first));
                    }
                }
            }
        }
    }

    #[test]
    fn tweak_and_session_separate_outputs() {
        let x = Block::from_u128(42);
        let h1 = TweakableHash::new(Block::from_u128(1));
        let h2 = TweakableHash::new(Block::from_u128(2));
        assert_ne!(h1.hash(x, 0), h1.hash(x, 1));
        assert_ne!(h1.hash(x, 0), h2.hash(x, 0));
        // Key S ^ j: session 1 with tweak 3 is session 2 with tweak 0.
        assert_eq!(h1.hash(x, 3), h2.hash(x, 0));
        assert_eq!(h1.tweak_key(3), Block::from_u128(2));
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
