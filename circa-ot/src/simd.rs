//! The one module of circa-ot that contains `unsafe` code: hand-written
//! AES-NI and VAES kernels, and the run-time dispatch to wider SIMD builds of
//! the bit-matrix transpose.
//!
//! How it is organised, and why the `unsafe` is small:
//!
//! * `x128` and `x256` hold the vector operations at one width: one AES block
//!   per `__m128i` (AES-NI) or two per `__m256i` (VAES with AVX2, where each
//!   128-bit lane is an independent AES state with its own round key). Every
//!   operation is a safe `#[target_feature]` function: since Rust 1.87 the
//!   `core::arch` intrinsics are safe to call from code compiled with their
//!   features, and loads and stores go through `bytemuck` casts of `Block`
//!   values (no raw pointers anywhere in this module).
//! * The `kernels!` macro writes each AES kernel once in terms of those
//!   operations and instantiates it as `ni` (over `x128`) and `vaes` (over
//!   `x256`); all of it is safe code compiled with the level's features.
//! * The only `unsafe` is the call from ordinary code into a
//!   `#[target_feature]` function, at the dispatch functions at the bottom of
//!   the module. Their soundness rests on one invariant: a [`Hw`] value exists
//!   only if [`Hw::new`] detected its CPU features at run time (the type has a
//!   private field and no other constructor), and the dispatch calls the
//!   kernels of exactly the level the `Hw` names.
//!
//! The kernels never branch or index memory on secret data (AES-NI is
//! constant time; addresses depend only on lengths).

#![allow(unsafe_code)]

use crate::Block;
use core::arch::x86_64::*;
use zeroize::Zeroize;

/// A hardware kernel level.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum HwKind {
    /// AES-NI on 128-bit registers (needs AES, SSE2, SSSE3).
    AesNi,
    /// VAES on 256-bit registers, two blocks per instruction (needs VAES, AVX2).
    Vaes256,
}

/// Proof that the running CPU supports a [`HwKind`]: the only constructor is
/// [`Hw::new`], which checks. Every `unsafe` call in this module relies on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Hw {
    kind: HwKind,
}

impl Hw {
    /// `Some` if and only if the running CPU has every feature `kind` uses.
    pub(crate) fn new(kind: HwKind) -> Option<Hw> {
        let base = std::is_x86_feature_detected!("aes")
            && std::is_x86_feature_detected!("sse2")
            && std::is_x86_feature_detected!("ssse3");
        let ok = match kind {
            HwKind::AesNi => base,
            HwKind::Vaes256 => {
                base && std::is_x86_feature_detected!("avx2")
                    && std::is_x86_feature_detected!("vaes")
            }
        };
        ok.then_some(Hw { kind })
    }

    /// The level.
    pub(crate) fn kind(self) -> HwKind {
        self.kind
    }
}

/// AES-128 round constants, one per round of the key schedule.
const RCON: [i32; 10] = [0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80, 0x1b, 0x36];

/// `pshufb` mask that fills every 32-bit word with `RotWord(w3)`: bytes
/// 13, 14, 15, 12 of the key.
const ROT_WORD: i32 = 0x0c0f_0e0d;

/// One block per vector (AES-NI).
mod x128 {
    use super::*;

    pub(super) type V = __m128i;
    pub(super) const LANES: usize = 1;

    #[inline]
    #[target_feature(enable = "sse2")]
    pub(super) fn splat(b: Block) -> V {
        bytemuck::cast(b)
    }

    #[inline]
    #[target_feature(enable = "sse2")]
    pub(super) fn lane0(v: V) -> Block {
        bytemuck::cast(v)
    }

    /// Lane `l` is `xs[i + l * stride]`.
    #[inline]
    #[target_feature(enable = "sse2")]
    pub(super) fn load(xs: &[Block], i: usize, _stride: usize) -> V {
        bytemuck::cast(xs[i])
    }

    /// Writes lane `l` to `xs[i + l * stride]`.
    #[inline]
    #[target_feature(enable = "sse2")]
    pub(super) fn store(xs: &mut [Block], i: usize, _stride: usize, v: V) {
        xs[i] = bytemuck::cast(v);
    }

    #[inline]
    #[target_feature(enable = "sse2")]
    pub(super) fn xor(a: V, b: V) -> V {
        _mm_xor_si128(a, b)
    }

    #[inline]
    #[target_feature(enable = "aes")]
    pub(super) fn enc(a: V, k: V) -> V {
        _mm_aesenc_si128(a, k)
    }

    #[inline]
    #[target_feature(enable = "aes")]
    pub(super) fn enc_last(a: V, k: V) -> V {
        _mm_aesenclast_si128(a, k)
    }

    #[inline]
    #[target_feature(enable = "sse2")]
    pub(super) fn rcon(c: i32) -> V {
        _mm_set1_epi32(c)
    }

    /// The prefix XOR of the four 32-bit words of every lane:
    /// `(w0, w0^w1, w0^w1^w2, w0^w1^w2^w3)`.
    #[inline]
    #[target_feature(enable = "sse2")]
    pub(super) fn prefix(k: V) -> V {
        let k = _mm_xor_si128(k, _mm_slli_si128::<4>(k));
        _mm_xor_si128(k, _mm_slli_si128::<8>(k))
    }

    /// One step of the AES-128 key schedule (FIPS-197 section 5.2) in every
    /// lane, on the pair `(k, q)` with `q = prefix(k)`; returns the next pair.
    ///
    /// `t = SubWord(RotWord(w3)) ^ rcon` in all four words comes from
    /// `aesenclast` on a vector whose words all equal `RotWord(w3)` (so that
    /// `ShiftRows` is the identity). The next key is `q ^ t`. Its prefix is
    /// `prefix(q) ^ prefix(t)`, where `prefix(prefix(k)) = k ^ (k << 64)` and
    /// `prefix(t) = (t, 0, t, 0)`: one byte shift instead of the two a
    /// prefix XOR takes, which relieves the shuffle ports.
    #[inline]
    #[target_feature(enable = "sse2,ssse3,aes")]
    pub(super) fn key_step(k: V, q: V, rcon: V) -> (V, V) {
        let t = _mm_aesenclast_si128(_mm_shuffle_epi8(k, _mm_set1_epi32(ROT_WORD)), rcon);
        let even = _mm_and_si128(t, _mm_set_epi32(0, -1, 0, -1));
        let q2 = _mm_xor_si128(_mm_xor_si128(k, _mm_slli_si128::<8>(k)), even);
        (_mm_xor_si128(q, t), q2)
    }


    /// Lane `l` holds `(low + l * step, high)` as two 64-bit halves.
    #[inline]
    #[target_feature(enable = "sse2")]
    pub(super) fn counters(low: u64, step: u64, high: u64) -> V {
        let _ = step;
        _mm_set_epi64x(high as i64, low as i64)
    }

    /// `x` in the low 64 bits of every lane, 0 in the high ones.
    #[inline]
    #[target_feature(enable = "sse2")]
    pub(super) fn low64(x: u64) -> V {
        _mm_set_epi64x(0, x as i64)
    }

    #[inline]
    #[target_feature(enable = "sse2")]
    pub(super) fn add64(a: V, b: V) -> V {
        _mm_add_epi64(a, b)
    }
}

/// Two blocks per vector (VAES on AVX2 registers).
mod x256 {
    use super::*;

    pub(super) type V = __m256i;
    pub(super) const LANES: usize = 2;

    #[inline]
    #[target_feature(enable = "avx2")]
    pub(super) fn splat(b: Block) -> V {
        _mm256_broadcastsi128_si256(bytemuck::cast(b))
    }

    #[inline]
    #[target_feature(enable = "avx2")]
    pub(super) fn lane0(v: V) -> Block {
        bytemuck::cast(_mm256_castsi256_si128(v))
    }

    #[inline]
    #[target_feature(enable = "avx2")]
    pub(super) fn load(xs: &[Block], i: usize, stride: usize) -> V {
        if stride == 1 {
            let pair: [Block; 2] = [xs[i], xs[i + 1]];
            bytemuck::cast(pair)
        } else {
            _mm256_set_m128i(bytemuck::cast(xs[i + stride]), bytemuck::cast(xs[i]))
        }
    }

    #[inline]
    #[target_feature(enable = "avx2")]
    pub(super) fn store(xs: &mut [Block], i: usize, stride: usize, v: V) {
        let pair: [Block; 2] = bytemuck::cast(v);
        xs[i] = pair[0];
        xs[i + stride] = pair[1];
    }

    #[inline]
    #[target_feature(enable = "avx2")]
    pub(super) fn xor(a: V, b: V) -> V {
        _mm256_xor_si256(a, b)
    }

    #[inline]
    #[target_feature(enable = "avx2,vaes")]
    pub(super) fn enc(a: V, k: V) -> V {
        _mm256_aesenc_epi128(a, k)
    }

    #[inline]
    #[target_feature(enable = "avx2,vaes")]
    pub(super) fn enc_last(a: V, k: V) -> V {
        _mm256_aesenclast_epi128(a, k)
    }

    #[inline]
    #[target_feature(enable = "avx2")]
    pub(super) fn rcon(c: i32) -> V {
        _mm256_set1_epi32(c)
    }

    #[inline]
    #[target_feature(enable = "avx2")]
    pub(super) fn prefix(k: V) -> V {
        let k = _mm256_xor_si256(k, _mm256_bslli_epi128::<4>(k));
        _mm256_xor_si256(k, _mm256_bslli_epi128::<8>(k))
    }

    /// As `x128::key_step`, in both lanes (the shuffles and byte shifts of
    /// AVX2 act within 128-bit lanes).
    #[inline]
    #[target_feature(enable = "avx2,vaes")]
    pub(super) fn key_step(k: V, q: V, rcon: V) -> (V, V) {
        let t = _mm256_aesenclast_epi128(_mm256_shuffle_epi8(k, _mm256_set1_epi32(ROT_WORD)), rcon);
        let even = _mm256_blend_epi32::<0b1010_1010>(t, _mm256_setzero_si256());
        let q2 = _mm256_xor_si256(_mm256_xor_si256(k, _mm256_bslli_epi128::<8>(k)), even);
        (_mm256_xor_si256(q, t), q2)
    }


    #[inline]
    #[target_feature(enable = "avx2")]
    pub(super) fn counters(low: u64, step: u64, high: u64) -> V {
        _mm256_set_epi64x(
            high as i64,
            low.wrapping_add(step) as i64,
            high as i64,
            low as i64,
        )
    }

    #[inline]
    #[target_feature(enable = "avx2")]
    pub(super) fn low64(x: u64) -> V {
        _mm256_set_epi64x(0, x as i64, 0, x as i64)
    }

    #[inline]
    #[target_feature(enable = "avx2")]
    pub(super) fn add64(a: V, b: V) -> V {
        _mm256_add_epi64(a, b)
    }
}

/// Writes every AES kernel once over the vector operations `$v` and compiles
/// it with `$features`. Each kernel has a step function over `U` independent
/// vectors (to hide the AES latency) and a driver: steps of `U_*` vectors,
/// then of one vector, then (two-block vectors only) a last odd block in a
/// zero-padded stack buffer that is wiped afterwards (it holds inputs or
/// keystream).
macro_rules! kernels {
    ($name:ident, $v:ident, $features:literal) => {
        pub(super) mod $name {
            use super::$v as v;
            use super::{Block, RCON, Zeroize};

            /// Independent vectors per step of the fixed-key kernels.
            const U_FIXED: usize = 8;

            type Keys = [v::V; 11];

            /// The eleven round keys, broadcast to every lane.
            #[inline]
            #[target_feature(enable = $features)]
            fn round_keys(rk: &[Block; 11]) -> Keys {
                let mut k = [v::splat(Block::ZERO); 11];
                for (k, b) in k.iter_mut().zip(rk) {
                    *k = v::splat(*b);
                }
                k
            }

            /// AES of `U` vectors under the round keys `k`.
            #[inline]
            #[target_feature(enable = $features)]
            fn aes<const U: usize>(k: &Keys, x: &mut [v::V; U]) {
                for x in x.iter_mut() {
                    *x = v::xor(*x, k[0]);
                }
                for k in &k[1..10] {
                    for x in x.iter_mut() {
                        *x = v::enc(*x, *k);
                    }
                }
                for x in x.iter_mut() {
                    *x = v::enc_last(*x, k[10]);
                }
            }

            #[inline]
            #[target_feature(enable = $features)]
            fn encrypt_step<const U: usize>(k: &Keys, c: &mut [Block]) {
                let mut x = [v::splat(Block::ZERO); U];
                for (u, x) in x.iter_mut().enumerate() {
                    *x = v::load(c, u * v::LANES, 1);
                }
                aes(k, &mut x);
                for (u, x) in x.iter().enumerate() {
                    v::store(c, u * v::LANES, 1, *x);
                }
            }

            /// Encrypts `xs` in place under the round keys `rk`.
            #[target_feature(enable = $features)]
            pub(crate) fn encrypt(rk: &[Block; 11], xs: &mut [Block]) {
                let k = round_keys(rk);
                let mut groups = xs.chunks_exact_mut(U_FIXED * v::LANES);
                for c in &mut groups {
                    encrypt_step::<U_FIXED>(&k, c);
                }
                let mut vectors = groups.into_remainder().chunks_exact_mut(v::LANES);
                for c in &mut vectors {
                    encrypt_step::<1>(&k, c);
                }
                let rest = vectors.into_remainder();
                if !rest.is_empty() {
                    let mut pad = [Block::ZERO; v::LANES];
                    pad[..rest.len()].copy_from_slice(rest);
                    encrypt_step::<1>(&k, &mut pad);
                    rest.copy_from_slice(&pad[..rest.len()]);
                    pad.zeroize();
                }
            }

            #[inline]
            #[target_feature(enable = $features)]
            fn ctr_step<const U: usize>(k: &Keys, ctr: &mut v::V, step: v::V, c: &mut [Block]) {
                let mut x = [*ctr; U];
                for x in x.iter_mut() {
                    *x = *ctr;
                    *ctr = v::add64(*ctr, step);
                }
                aes(k, &mut x);
                for (u, x) in x.iter().enumerate() {
                    v::store(c, u * v::LANES, 1, *x);
                }
            }

            /// Counter mode: `out[i] = AES(low + i, high)` (the two 64-bit
            /// halves of the counter block). The caller guarantees that
            /// `low + i` does not wrap for any `i < out.len()`.
            #[target_feature(enable = $features)]
            pub(crate) fn ctr(rk: &[Block; 11], low: u64, high: u64, out: &mut [Block]) {
                let k = round_keys(rk);
                let mut ctr = v::counters(low, 1, high);
                let step = v::low64(v::LANES as u64);
                let mut groups = out.chunks_exact_mut(U_FIXED * v::LANES);
                for c in &mut groups {
                    ctr_step::<U_FIXED>(&k, &mut ctr, step, c);
                }
                let mut vectors = groups.into_remainder().chunks_exact_mut(v::LANES);
                for c in &mut vectors {
                    ctr_step::<1>(&k, &mut ctr, step, c);
                }
                let rest = vectors.into_remainder();
                if !rest.is_empty() {
                    let mut pad = [Block::ZERO; v::LANES];
                    ctr_step::<1>(&k, &mut ctr, step, &mut pad);
                    rest.copy_from_slice(&pad[..rest.len()]);
                    pad.zeroize();
                }
            }

            /// The AES-128 key schedule of `key` (the first lane's).
            #[target_feature(enable = $features)]
            pub(crate) fn expand_key(key: Block) -> [Block; 11] {
                let mut out = [Block::ZERO; 11];
                let mut k = v::splat(key);
                let mut q = v::prefix(k);
                out[0] = key;
                for (o, &r) in out[1..].iter_mut().zip(&RCON) {
                    (k, q) = v::key_step(k, q, v::rcon(r));
                    *o = v::lane0(k);
                }
                out
            }
        }
    };
}

kernels!(ni, x128, "sse2,ssse3,aes,avx");
kernels!(vaes, x256, "sse2,ssse3,aes,avx2,vaes");

// ---- Dispatch: the only `unsafe` calls of the crate. ----
//
// SAFETY (for every `unsafe` block below): the function called is the
// `#[target_feature]` kernel of the level `hw.kind()`. A `Hw` is only created
// by `Hw::new`, which returns `Some` only after `is_x86_feature_detected!`
// found every feature that level's kernels are compiled with (`ni`: sse2,
// ssse3, aes; `vaes`: those plus avx2 and vaes). The kernels are otherwise
// safe Rust: they index slices with bounds checks and touch no raw pointer.

/// The AES-128 key schedule.
pub(crate) fn expand_key(hw: Hw, key: Block) -> [Block; 11] {
    match hw.kind {
        // SAFETY: see above.
        HwKind::AesNi => unsafe { ni::expand_key(key) },
        // SAFETY: see above.
        HwKind::Vaes256 => unsafe { vaes::expand_key(key) },
    }
}

/// ECB encryption in place under the round keys `rk`.
pub(crate) fn encrypt(hw: Hw, rk: &[Block; 11], xs: &mut [Block]) {
    match hw.kind {
        // SAFETY: see above.
        HwKind::AesNi => unsafe { ni::encrypt(rk, xs) },
        // SAFETY: see above.
        HwKind::Vaes256 => unsafe { vaes::encrypt(rk, xs) },
    }
}

/// Counter mode from the counter block `(low, high)`; `low + out.len()` must
/// not wrap (the caller splits at the wrap).
pub(crate) fn ctr(hw: Hw, rk: &[Block; 11], low: u64, high: u64, out: &mut [Block]) {
    debug_assert!(low.checked_add(out.len() as u64).is_some());
    match hw.kind {
        // SAFETY: see above.
        HwKind::AesNi => unsafe { ni::ctr(rk, low, high, out) },
        // SAFETY: see above.
        HwKind::Vaes256 => unsafe { vaes::ctr(rk, low, high, out) },
    }
}

/// The transpose of [`crate::transpose`] compiled again with AVX2 or AVX-512F
/// enabled, so that its lane vectors use 256- or 512-bit registers; chosen by
/// run-time detection. Safe Rust otherwise (no intrinsics, no pointers).
pub(crate) mod wide_transpose {
    use crate::Block;
    use crate::transpose::transpose_portable;

    #[target_feature(enable = "avx512f")]
    fn transpose_avx512(rows: &[Block], width: usize, out: &mut [Block]) {
        transpose_portable(rows, width, out);
    }

    #[target_feature(enable = "avx2")]
    fn transpose_avx2(rows: &[Block], width: usize, out: &mut [Block]) {
        transpose_portable(rows, width, out);
    }

    /// Dispatches on the features of the running CPU.
    pub(crate) fn transpose(rows: &[Block], width: usize, out: &mut [Block]) {
        if std::is_x86_feature_detected!("avx512f") {
            // SAFETY: `transpose_avx512` is safe Rust whose only precondition
            // is that the CPU supports AVX-512F, which was just detected.
            unsafe { transpose_avx512(rows, width, out) }
        } else if std::is_x86_feature_detected!("avx2") {
            // SAFETY: as above, for AVX2, which was just detected.
            unsafe { transpose_avx2(rows, width, out) }
        } else {
            transpose_portable(rows, width, out);
        }
    }
}
