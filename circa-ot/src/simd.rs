//! The one module of circa-ot that contains `unsafe` code: hand-written
//! AES-NI and VAES kernels, OT extension's fused 512-bit PRG kernels
//! (`wide_ctr`), the AVX2 and AVX-512/GFNI bit-matrix transposes
//! (`wide_transpose`) and the non-temporal output copy (`stream`).
//!
//! How it is organised, and why the `unsafe` is small:
//!
//! * `x128` and `x256` hold the vector operations at one width: one AES block
//!   per `__m128i` (AES-NI) or two per `__m256i` (VAES with AVX2, where each
//!   128-bit lane is an independent AES state with its own round key). Every
//!   operation is a safe `#[target_feature]` function: since Rust 1.87 the
//!   `core::arch` intrinsics are safe to call from code compiled with their
//!   features, and loads and stores go through `bytemuck` casts of `Block`
//!   values (no raw pointers, except the one non-temporal store of
//!   `stream`, whose intrinsic takes one: its `unsafe` block justifies the
//!   pointer's validity and alignment).
//! * The `kernels!` macro writes each AES kernel once in terms of those
//!   operations and instantiates it as `ni` (over `x128`) and `vaes` (over
//!   `x256`); all of it is safe code compiled with the level's features.
//! * Otherwise the only `unsafe` is the call from ordinary code into a
//!   `#[target_feature]` function, at the dispatch functions at the bottom of
//!   the module (and in `wide_ctr`, `wide_transpose`, `stream`, each right
//!   after its own feature check). Their soundness rests on one invariant: a [`Hw`] value exists
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

    /// `sigma(lo, hi) = (hi, hi ^ lo)` in every lane (see [`Block::sigma`]).
    #[inline]
    #[target_feature(enable = "sse2")]
    pub(super) fn sigma(v: V) -> V {
        _mm_xor_si128(_mm_unpackhi_epi64(v, v), _mm_slli_si128::<8>(v))
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

    // ---- One AND gate per `G`: its two half gates (input labels A and B,
    // keys of tweaks t and t + 1) in two registers. ----

    /// The two halves of one AND gate: `.0` the A half, `.1` the B half.
    #[derive(Clone, Copy)]
    pub(super) struct G(V, V);

    #[inline]
    #[target_feature(enable = "sse2")]
    pub(super) fn g_load(xs: &[Block], i: usize) -> G {
        G(bytemuck::cast(xs[2 * i]), bytemuck::cast(xs[2 * i + 1]))
    }

    #[inline]
    #[target_feature(enable = "sse2")]
    pub(super) fn g_store(xs: &mut [Block], i: usize, g: G) {
        xs[2 * i] = bytemuck::cast(g.0);
        xs[2 * i + 1] = bytemuck::cast(g.1);
    }

    #[inline]
    #[target_feature(enable = "sse2")]
    pub(super) fn g_splat(b: Block) -> G {
        G(splat(b), splat(b))
    }

    #[inline]
    #[target_feature(enable = "sse2")]
    pub(super) fn g_zero() -> G {
        G(_mm_setzero_si128(), _mm_setzero_si128())
    }

    /// The keys `base ^ t` and `base ^ (t + 1)`, `t` in the low 64 bits of `ctr`.
    #[inline]
    #[target_feature(enable = "sse2")]
    pub(super) fn g_keys(base: V, ctr: V) -> G {
        G(
            _mm_xor_si128(base, ctr),
            _mm_xor_si128(base, _mm_add_epi64(ctr, low64(1))),
        )
    }

    /// The tweak counter of the first gate and its step (two tweaks per gate).
    #[inline]
    #[target_feature(enable = "sse2")]
    pub(super) fn g_counter(first: u64) -> (V, V) {
        (low64(first), low64(2))
    }

    #[inline]
    #[target_feature(enable = "sse2")]
    pub(super) fn g_xor(a: G, b: G) -> G {
        G(_mm_xor_si128(a.0, b.0), _mm_xor_si128(a.1, b.1))
    }

    #[inline]
    #[target_feature(enable = "sse2")]
    pub(super) fn g_and(a: G, b: G) -> G {
        G(_mm_and_si128(a.0, b.0), _mm_and_si128(a.1, b.1))
    }

    #[inline]
    #[target_feature(enable = "aes")]
    pub(super) fn g_enc(a: G, k: G) -> G {
        G(_mm_aesenc_si128(a.0, k.0), _mm_aesenc_si128(a.1, k.1))
    }

    #[inline]
    #[target_feature(enable = "aes")]
    pub(super) fn g_enc_last(a: G, k: G) -> G {
        G(
            _mm_aesenclast_si128(a.0, k.0),
            _mm_aesenclast_si128(a.1, k.1),
        )
    }

    #[inline]
    #[target_feature(enable = "sse2")]
    pub(super) fn g_sigma(a: G) -> G {
        G(sigma(a.0), sigma(a.1))
    }

    #[inline]
    #[target_feature(enable = "sse2")]
    pub(super) fn g_prefix(a: G) -> G {
        G(prefix(a.0), prefix(a.1))
    }

    #[inline]
    #[target_feature(enable = "sse2,ssse3,aes")]
    pub(super) fn g_key_step(k: G, q: G, rcon: V) -> (G, G) {
        let (k0, q0) = key_step(k.0, q.0, rcon);
        let (k1, q1) = key_step(k.1, q.1, rcon);
        (G(k0, k1), G(q0, q1))
    }

    /// The halves exchanged: `(B half, A half)`.
    #[inline]
    #[target_feature(enable = "sse2")]
    pub(super) fn g_swap(a: G) -> G {
        G(a.1, a.0)
    }

    /// The A half of `a` with the B half of `b`.
    #[inline]
    #[target_feature(enable = "sse2")]
    pub(super) fn g_blend_hi(a: G, b: G) -> G {
        G(a.0, b.1)
    }

    /// Per half: all ones if the half's label has colour (lsb) 1, else zero.
    #[inline]
    #[target_feature(enable = "sse2")]
    pub(super) fn g_colour_masks(a: G) -> G {
        G(colour_mask(a.0), colour_mask(a.1))
    }

    /// All ones if the lsb of `v` is 1: the lsb moved to bit 63, dword 1
    /// broadcast, sign-extended.
    #[inline]
    #[target_feature(enable = "sse2")]
    fn colour_mask(v: V) -> V {
        _mm_srai_epi32::<31>(_mm_shuffle_epi32::<0x55>(_mm_slli_epi64::<63>(v)))
    }

    /// `A half ^ B half`.
    #[inline]
    #[target_feature(enable = "sse2")]
    pub(super) fn g_fold(a: G) -> Block {
        bytemuck::cast(_mm_xor_si128(a.0, a.1))
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
    pub(super) fn sigma(v: V) -> V {
        _mm256_xor_si256(_mm256_unpackhi_epi64(v, v), _mm256_bslli_epi128::<8>(v))
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

    // ---- One AND gate per `G`: the A half in the low lane, the B half in
    // the high lane (keys of tweaks t and t + 1). ----

    pub(super) type G = V;

    #[inline]
    #[target_feature(enable = "avx2")]
    pub(super) fn g_load(xs: &[Block], i: usize) -> G {
        load(xs, 2 * i, 1)
    }

    #[inline]
    #[target_feature(enable = "avx2")]
    pub(super) fn g_store(xs: &mut [Block], i: usize, g: G) {
        store(xs, 2 * i, 1, g)
    }

    #[inline]
    #[target_feature(enable = "avx2")]
    pub(super) fn g_splat(b: Block) -> G {
        splat(b)
    }

    #[inline]
    #[target_feature(enable = "avx2")]
    pub(super) fn g_zero() -> G {
        _mm256_setzero_si256()
    }

    #[inline]
    #[target_feature(enable = "avx2")]
    pub(super) fn g_keys(base: V, ctr: V) -> G {
        _mm256_xor_si256(base, ctr)
    }

    #[inline]
    #[target_feature(enable = "avx2")]
    pub(super) fn g_counter(first: u64) -> (V, V) {
        (counters(first, 1, 0), low64(2))
    }

    #[inline]
    #[target_feature(enable = "avx2")]
    pub(super) fn g_xor(a: G, b: G) -> G {
        _mm256_xor_si256(a, b)
    }

    #[inline]
    #[target_feature(enable = "avx2")]
    pub(super) fn g_and(a: G, b: G) -> G {
        _mm256_and_si256(a, b)
    }

    #[inline]
    #[target_feature(enable = "avx2,vaes")]
    pub(super) fn g_enc(a: G, k: G) -> G {
        enc(a, k)
    }

    #[inline]
    #[target_feature(enable = "avx2,vaes")]
    pub(super) fn g_enc_last(a: G, k: G) -> G {
        enc_last(a, k)
    }

    #[inline]
    #[target_feature(enable = "avx2")]
    pub(super) fn g_sigma(a: G) -> G {
        sigma(a)
    }

    #[inline]
    #[target_feature(enable = "avx2")]
    pub(super) fn g_prefix(a: G) -> G {
        prefix(a)
    }

    #[inline]
    #[target_feature(enable = "avx2,vaes")]
    pub(super) fn g_key_step(k: G, q: G, rcon: V) -> (G, G) {
        key_step(k, q, rcon)
    }

    #[inline]
    #[target_feature(enable = "avx2")]
    pub(super) fn g_swap(a: G) -> G {
        _mm256_permute4x64_epi64::<0x4e>(a)
    }

    #[inline]
    #[target_feature(enable = "avx2")]
    pub(super) fn g_blend_hi(a: G, b: G) -> G {
        _mm256_blend_epi32::<0xf0>(a, b)
    }

    #[inline]
    #[target_feature(enable = "avx2")]
    pub(super) fn g_colour_masks(a: G) -> G {
        _mm256_srai_epi32::<31>(_mm256_shuffle_epi32::<0x55>(_mm256_slli_epi64::<63>(a)))
    }

    #[inline]
    #[target_feature(enable = "avx2")]
    pub(super) fn g_fold(a: G) -> Block {
        bytemuck::cast(_mm_xor_si128(
            _mm256_castsi256_si128(a),
            _mm256_extracti128_si256::<1>(a),
        ))
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
            /// Key vectors per step of the re-keyed hash of single blocks.
            const U_SINGLE: usize = 4;
            /// Key vectors per step of the re-keyed hash of pairs.
            const U_PAIR: usize = 3;
            /// AND gates per step of the half-gates kernels.
            const U_GATES: usize = 3;

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
                ctr_inner(rk, low, high, out);
            }

            /// Counter mode under many keys: `out[j * stride + i]` is
            /// `AES_{k_j}(low + i, 0)` for `i < width`, `k_j` the round keys
            /// `keys[j]`. One call for all the column PRGs of OT extension.
            #[target_feature(enable = $features)]
            pub(crate) fn ctr_rows(
                keys: &[[Block; 11]],
                low: u64,
                width: usize,
                stride: usize,
                out: &mut [Block],
            ) {
                for (rk, row) in keys.iter().zip(out.chunks_mut(stride)) {
                    ctr_inner(rk, low, 0, &mut row[..width]);
                }
            }

            #[inline]
            #[target_feature(enable = $features)]
            fn ctr_inner(rk: &[Block; 11], low: u64, high: u64, out: &mut [Block]) {
                let k = round_keys(rk);
                let mut ctr = v::counters(low, 1, high);
                let step = v::low64(v::LANES as u64);
                let mut groups = out.chunks_exact_mut(U_FIXED * v::LANES);
                for c in &mut groups {
                    ctr_step::<U_FIXED>(&k, &mut ctr, step, c);
                }
                // Short rows (the column PRGs' sub-chunks): half groups, then
                // single vectors.
                let mut halves = groups
                    .into_remainder()
                    .chunks_exact_mut(U_FIXED / 2 * v::LANES);
                for c in &mut halves {
                    ctr_step::<{ U_FIXED / 2 }>(&k, &mut ctr, step, c);
                }
                let mut vectors = halves.into_remainder().chunks_exact_mut(v::LANES);
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

            /// Tweak counters: lane `l` of the current vector holds
            /// `first + (i + l) * stride` in its low 64 bits.
            struct Tweaks {
                base: v::V,
                ctr: v::V,
                step: v::V,
            }

            impl Tweaks {
                #[inline]
                #[target_feature(enable = $features)]
                fn new(base: Block, first: u64, stride: u64) -> Tweaks {
                    Tweaks {
                        base: v::splat(base),
                        ctr: v::counters(first, stride, 0),
                        step: v::low64(stride.wrapping_mul(v::LANES as u64)),
                    }
                }

                /// The keys `base ^ tweak` of the next vector.
                #[inline]
                #[target_feature(enable = $features)]
                fn next_keys(&mut self) -> v::V {
                    let k = v::xor(self.base, self.ctr);
                    self.ctr = v::add64(self.ctr, self.step);
                    k
                }
            }

            #[inline]
            #[target_feature(enable = $features)]
            fn singles_step<const U: usize>(tw: &mut Tweaks, c: &mut [Block]) {
                let mut k = [tw.base; U];
                let mut q = [tw.base; U];
                let mut s = [tw.base; U];
                let mut x = [tw.base; U];
                for u in 0..U {
                    k[u] = tw.next_keys();
                    q[u] = v::prefix(k[u]);
                    s[u] = v::sigma(v::load(c, u * v::LANES, 1));
                    x[u] = v::xor(s[u], k[u]);
                }
                for &r in &RCON[..9] {
                    let r = v::rcon(r);
                    for u in 0..U {
                        (k[u], q[u]) = v::key_step(k[u], q[u], r);
                        x[u] = v::enc(x[u], k[u]);
                    }
                }
                let r = v::rcon(RCON[9]);
                for u in 0..U {
                    (k[u], q[u]) = v::key_step(k[u], q[u], r);
                    let h = v::xor(v::enc_last(x[u], k[u]), s[u]);
                    v::store(c, u * v::LANES, 1, h);
                }
            }

            /// The re-keyed hash of single blocks, in place:
            /// `xs[i] = AES_{k_i}(sigma(xs[i])) ^ sigma(xs[i])` with
            /// `k_i = base ^ (first + i * stride)` (the tweak in the low 64
            /// bits). Each key is expanded in registers round by round, next
            /// to the encryption that uses it.
            #[target_feature(enable = $features)]
            pub(crate) fn hash_singles(base: Block, first: u64, stride: u64, xs: &mut [Block]) {
                let mut tw = Tweaks::new(base, first, stride);
                let mut groups = xs.chunks_exact_mut(U_SINGLE * v::LANES);
                for c in &mut groups {
                    singles_step::<U_SINGLE>(&mut tw, c);
                }
                let mut vectors = groups.into_remainder().chunks_exact_mut(v::LANES);
                for c in &mut vectors {
                    singles_step::<1>(&mut tw, c);
                }
                let rest = vectors.into_remainder();
                if !rest.is_empty() {
                    let mut pad = [Block::ZERO; v::LANES];
                    pad[..rest.len()].copy_from_slice(rest);
                    singles_step::<1>(&mut tw, &mut pad);
                    rest.copy_from_slice(&pad[..rest.len()]);
                    pad.zeroize();
                }
            }

            #[inline]
            #[target_feature(enable = $features)]
            fn pairs_step<const U: usize>(tw: &mut Tweaks, so: v::V, c: &[Block], o: &mut [Block]) {
                let mut k = [so; U];
                let mut q = [so; U];
                let mut s0 = [so; U];
                let mut x0 = [so; U];
                let mut x1 = [so; U];
                for u in 0..U {
                    k[u] = tw.next_keys();
                    q[u] = v::prefix(k[u]);
                    s0[u] = v::sigma(v::load(c, u * v::LANES, 1));
                    x0[u] = v::xor(s0[u], k[u]);
                    x1[u] = v::xor(x0[u], so);
                }
                for &r in &RCON[..9] {
                    let r = v::rcon(r);
                    for u in 0..U {
                        (k[u], q[u]) = v::key_step(k[u], q[u], r);
                        x0[u] = v::enc(x0[u], k[u]);
                        x1[u] = v::enc(x1[u], k[u]);
                    }
                }
                let r = v::rcon(RCON[9]);
                for u in 0..U {
                    (k[u], q[u]) = v::key_step(k[u], q[u], r);
                    let h0 = v::xor(v::enc_last(x0[u], k[u]), s0[u]);
                    let h1 = v::xor(v::enc_last(x1[u], k[u]), v::xor(s0[u], so));
                    v::store(o, 2 * u * v::LANES, 2, h0);
                    v::store(o, 2 * u * v::LANES + 1, 2, h1);
                }
            }

            /// The re-keyed hash of the pairs `(x, x ^ offset)`:
            /// `out[2g] = H(xs[g], t_g)` and `out[2g + 1] = H(xs[g] ^ offset, t_g)`
            /// with `t_g = first + g * stride`, `H` as in [`hash_singles`].
            /// One key expansion serves both blocks of a pair.
            #[target_feature(enable = $features)]
            pub(crate) fn hash_pairs(
                base: Block,
                first: u64,
                stride: u64,
                offset: Block,
                xs: &[Block],
                out: &mut [Block],
            ) {
                let mut tw = Tweaks::new(base, first, stride);
                let so = v::sigma(v::splat(offset));
                let n = U_PAIR * v::LANES;
                let mut ins = xs.chunks_exact(n);
                let mut outs = out.chunks_exact_mut(2 * n);
                for (c, o) in (&mut ins).zip(&mut outs) {
                    pairs_step::<U_PAIR>(&mut tw, so, c, o);
                }
                let mut ins = ins.remainder().chunks_exact(v::LANES);
                let mut outs = outs.into_remainder().chunks_exact_mut(2 * v::LANES);
                for (c, o) in (&mut ins).zip(&mut outs) {
                    pairs_step::<1>(&mut tw, so, c, o);
                }
                let rest = ins.remainder();
                if !rest.is_empty() {
                    let mut pad = [Block::ZERO; v::LANES];
                    let mut pad_out = [[Block::ZERO; 2]; v::LANES];
                    let pad_out: &mut [Block] = bytemuck::cast_slice_mut(&mut pad_out);
                    pad[..rest.len()].copy_from_slice(rest);
                    pairs_step::<1>(&mut tw, so, &pad, pad_out);
                    outs.into_remainder()
                        .copy_from_slice(&pad_out[..2 * rest.len()]);
                    pad.zeroize();
                    pad_out.zeroize();
                }
            }

            #[inline]
            #[target_feature(enable = $features)]
            fn garble_step<const U: usize>(
                base: v::V,
                ctr: &mut v::V,
                step: v::V,
                delta: v::G,
                inputs: &[Block],
                tables: &mut [Block],
                outputs: &mut [Block],
            ) {
                let sd = v::g_sigma(delta);
                let z = v::g_zero();
                let (mut k, mut q, mut x, mut s0) = ([z; U], [z; U], [z; U], [z; U]);
                let (mut x0, mut x1) = ([z; U], [z; U]);
                for u in 0..U {
                    k[u] = v::g_keys(base, *ctr);
                    *ctr = v::add64(*ctr, step);
                    q[u] = v::g_prefix(k[u]);
                    x[u] = v::g_load(inputs, u);
                    s0[u] = v::g_sigma(x[u]);
                    x0[u] = v::g_xor(s0[u], k[u]);
                    x1[u] = v::g_xor(x0[u], sd);
                }
                for &r in &RCON[..9] {
                    let r = v::rcon(r);
                    for u in 0..U {
                        (k[u], q[u]) = v::g_key_step(k[u], q[u], r);
                        x0[u] = v::g_enc(x0[u], k[u]);
                        x1[u] = v::g_enc(x1[u], k[u]);
                    }
                }
                let r = v::rcon(RCON[9]);
                for u in 0..U {
                    (k[u], q[u]) = v::g_key_step(k[u], q[u], r);
                    // h0 = (H(A), H(B)), h1 = (H(A ^ Delta), H(B ^ Delta)).
                    let h0 = v::g_xor(v::g_enc_last(x0[u], k[u]), s0[u]);
                    let h1 = v::g_xor(v::g_enc_last(x1[u], k[u]), v::g_xor(s0[u], sd));
                    let d = v::g_xor(h0, h1);
                    let m = v::g_colour_masks(x[u]); // (pa, pb)
                    // (TG, TE) = (d_A ^ pb Delta, d_B ^ A).
                    let t = v::g_xor(
                        d,
                        v::g_blend_hi(v::g_and(v::g_swap(m), delta), v::g_swap(x[u])),
                    );
                    v::g_store(tables, u, t);
                    // WG ^ WE = H(A) ^ pa TG ^ H(B) ^ pb (TE ^ A), TE ^ A = d_B.
                    let w = v::g_xor(h0, v::g_and(m, v::g_blend_hi(t, d)));
                    outputs[u] = v::g_fold(w);
                }
            }

            /// Half-gates garbling of independent AND gates: gate `i` has the
            /// input zero-labels `inputs[2i] = A`, `inputs[2i + 1] = B`, is
            /// hashed under the tweaks `first + 2i` (A) and `first + 2i + 1`
            /// (B), and gets the table `(TG, TE)` in `tables[2i..2i + 2]` and
            /// the output zero-label in `outputs[i]` (formulas in
            /// `crate::halfgates`).
            #[target_feature(enable = $features)]
            pub(crate) fn garble_gates(
                base: Block,
                first: u64,
                delta: Block,
                inputs: &[Block],
                tables: &mut [Block],
                outputs: &mut [Block],
            ) {
                let base = v::splat(base);
                let delta = v::g_splat(delta);
                let (mut ctr, step) = v::g_counter(first);
                let mut i = 0;
                while i + U_GATES <= outputs.len() {
                    garble_step::<U_GATES>(
                        base,
                        &mut ctr,
                        step,
                        delta,
                        &inputs[2 * i..],
                        &mut tables[2 * i..],
                        &mut outputs[i..],
                    );
                    i += U_GATES;
                }
                while i < outputs.len() {
                    garble_step::<1>(
                        base,
                        &mut ctr,
                        step,
                        delta,
                        &inputs[2 * i..],
                        &mut tables[2 * i..],
                        &mut outputs[i..],
                    );
                    i += 1;
                }
            }

            #[inline]
            #[target_feature(enable = $features)]
            fn eval_step<const U: usize>(
                base: v::V,
                ctr: &mut v::V,
                step: v::V,
                inputs: &[Block],
                tables: &[Block],
                outputs: &mut [Block],
            ) {
                let z = v::g_zero();
                let (mut k, mut q, mut x, mut s, mut y) = ([z; U], [z; U], [z; U], [z; U], [z; U]);
                for u in 0..U {
                    k[u] = v::g_keys(base, *ctr);
                    *ctr = v::add64(*ctr, step);
                    q[u] = v::g_prefix(k[u]);
                    x[u] = v::g_load(inputs, u);
                    s[u] = v::g_sigma(x[u]);
                    y[u] = v::g_xor(s[u], k[u]);
                }
                for &r in &RCON[..9] {
                    let r = v::rcon(r);
                    for u in 0..U {
                        (k[u], q[u]) = v::g_key_step(k[u], q[u], r);
                        y[u] = v::g_enc(y[u], k[u]);
                    }
                }
                let r = v::rcon(RCON[9]);
                for u in 0..U {
                    (k[u], q[u]) = v::g_key_step(k[u], q[u], r);
                    let h = v::g_xor(v::g_enc_last(y[u], k[u]), s[u]); // (H(A), H(B))
                    let m = v::g_colour_masks(x[u]); // (sa, sb)
                    // (TG, TE ^ A)
                    let t = v::g_xor(v::g_load(tables, u), v::g_blend_hi(z, v::g_swap(x[u])));
                    outputs[u] = v::g_fold(v::g_xor(h, v::g_and(m, t)));
                }
            }

            /// Half-gates evaluation: gate `i` has the input labels
            /// `inputs[2i..2i + 2]` and the table `tables[2i..2i + 2]`, tweaks
            /// as in [`garble_gates`]; its output label goes to `outputs[i]`.
            #[target_feature(enable = $features)]
            pub(crate) fn eval_gates(
                base: Block,
                first: u64,
                inputs: &[Block],
                tables: &[Block],
                outputs: &mut [Block],
            ) {
                let base = v::splat(base);
                let (mut ctr, step) = v::g_counter(first);
                let mut i = 0;
                while i + U_GATES <= outputs.len() {
                    eval_step::<U_GATES>(
                        base,
                        &mut ctr,
                        step,
                        &inputs[2 * i..],
                        &tables[2 * i..],
                        &mut outputs[i..],
                    );
                    i += U_GATES;
                }
                while i < outputs.len() {
                    eval_step::<1>(
                        base,
                        &mut ctr,
                        step,
                        &inputs[2 * i..],
                        &tables[2 * i..],
                        &mut outputs[i..],
                    );
                    i += 1;
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

/// Counter mode under one key per row (see `ni::ctr_rows`); `low + width`
/// must not wrap.
pub(crate) fn ctr_rows(
    hw: Hw,
    keys: &[[Block; 11]],
    low: u64,
    width: usize,
    stride: usize,
    out: &mut [Block],
) {
    assert!(
        width <= stride && out.len() == keys.len() * stride,
        "ctr_rows: output shape"
    );
    assert!(
        low.checked_add(width as u64).is_some(),
        "ctr_rows: counter wrap"
    );
    match hw.kind {
        // SAFETY: see above.
        HwKind::AesNi => unsafe { ni::ctr_rows(keys, low, width, stride, out) },
        // SAFETY: see above.
        HwKind::Vaes256 => unsafe { vaes::ctr_rows(keys, low, width, stride, out) },
    }
}

/// Copies of OT extension's large outputs with non-temporal stores: a batch
/// of correlated OTs bigger than the caches is written once and read later,
/// so ordinary stores would first read every destination line from memory
/// (read for ownership) only to overwrite it. Needs AVX-512F; the
/// destination's 64-byte lines are streamed, a misaligned head and tail are
/// copied normally, and an `sfence` orders the streamed stores before
/// anything the caller does next.
pub(crate) mod stream {
    use crate::Block;
    use core::arch::x86_64::*;

    /// Whether the running CPU has AVX-512F.
    pub(crate) fn detected() -> bool {
        std::is_x86_feature_detected!("avx512f")
    }

    #[target_feature(enable = "avx512f")]
    fn copy_avx512(src: &[Block], dst: &mut [Block]) {
        let addr = dst.as_ptr() as usize;
        if !addr.is_multiple_of(16) {
            dst.copy_from_slice(src);
            return;
        }
        let head = ((64 - addr % 64) % 64 / 16).min(dst.len());
        let (dh, dst) = dst.split_at_mut(head);
        let (sh, src) = src.split_at(head);
        dh.copy_from_slice(sh);
        let mut lines = dst.chunks_exact_mut(4);
        let mut from = src.chunks_exact(4);
        for (d, s) in (&mut lines).zip(&mut from) {
            let halves: [__m256i; 2] = bytemuck::cast([s[0], s[1], s[2], s[3]]);
            let v = _mm512_inserti64x4::<1>(_mm512_castsi256_si512(halves[0]), halves[1]);
            let line: &mut [Block] = d;
            let p = line.as_mut_ptr().cast::<__m512i>();
            // SAFETY: `p` points to the four blocks (64 bytes) of `line`, a
            // unique borrow of part of `dst`, so it is valid for writes; it is
            // 64-byte aligned because `dst` starts at `head` blocks past a
            // 16-byte aligned address, which puts it on a 64-byte boundary.
            unsafe { _mm512_stream_si512(p, v) };
        }
        lines.into_remainder().copy_from_slice(from.remainder());
        _mm_sfence();
    }

    /// `dst.copy_from_slice(src)`, streamed where the CPU allows.
    pub(crate) fn copy(src: &[Block], dst: &mut [Block]) {
        assert_eq!(src.len(), dst.len(), "stream::copy: lengths");
        if detected() {
            // SAFETY: `copy_avx512` needs AVX-512F, just detected; its one
            // pointer write is justified inside.
            unsafe { copy_avx512(src, dst) }
        } else {
            dst.copy_from_slice(src);
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        use crate::Prg;

        /// Every head misalignment and length, against `copy_from_slice`.
        #[test]
        fn copies_exactly() {
            let mut src = vec![Block::ZERO; 300];
            Prg::from_seed_block(Block::from_u128(31)).fill_blocks(&mut src);
            for off in 0..4 {
                for len in [0, 1, 3, 4, 5, 8, 63, 64, 65, 200, 296] {
                    let mut dst = vec![Block::ONES; 304];
                    copy(&src[..len], &mut dst[off..off + len]);
                    assert_eq!(&dst[off..off + len], &src[..len], "offset {off}, {len}");
                    assert!(dst[..off].iter().all(|b| *b == Block::ONES));
                    assert!(dst[off + len..].iter().all(|b| *b == Block::ONES));
                }
            }
        }
    }
}

/// OT extension's column PRGs fused with the XORs that consume them, on
/// 512-bit VAES (four AES blocks per instruction) when the CPU has AVX-512F
/// besides VAES (the `Vaes256` level's kernels stay on 256 bits): one
/// sub-chunk of at most 16 blocks per row, two AES rows side by side (eight
/// independent vectors hide the AES latency), the keystream combined with
/// the rows in registers (ternary logic) so that it is never stored on its
/// own. Measured against `ctr_rows` plus a separate XOR pass (the
/// `Vaes256` kernel; `core_speeds` in `ext::cot`): 3.1 -> 1.4 ns per OT for
/// the receiver's core, 2.2 -> 1.65 for the sender's. Safe Rust under
/// `#[target_feature]` apart from the dispatch calls; vectors go to and
/// from `Block`s through pairs of 256-bit halves (no pointers).
pub(crate) mod wide_ctr {
    use crate::Block;
    use core::arch::x86_64::*;
    use zeroize::Zeroize;

    /// Blocks per row of one call: four vectors.
    const STEP: usize = 16;

    /// Whether the running CPU has every feature of this kernel.
    pub(crate) fn detected() -> bool {
        std::is_x86_feature_detected!("avx512f")
            && std::is_x86_feature_detected!("vaes")
            && std::is_x86_feature_detected!("aes")
            && std::is_x86_feature_detected!("avx2")
    }

    type Keys = [__m512i; 11];

    #[inline]
    #[target_feature(enable = "avx512f,vaes")]
    fn round_keys(rk: &[Block; 11]) -> Keys {
        let mut k = [_mm512_setzero_si512(); 11];
        for (k, b) in k.iter_mut().zip(rk) {
            *k = _mm512_broadcast_i32x4(bytemuck::cast(*b));
        }
        k
    }

    /// Four consecutive blocks as one vector.
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn store4(out: &mut [Block], v: __m512i) {
        let halves: [__m256i; 2] = [_mm512_castsi512_si256(v), _mm512_extracti64x4_epi64::<1>(v)];
        out.copy_from_slice(&bytemuck::cast::<[__m256i; 2], [Block; 4]>(halves));
    }

    /// AES of `U` vectors, vector `u` under the keys `k[u / (U / R)]` (`R`
    /// rows of `U / R` vectors each).
    #[inline]
    #[target_feature(enable = "avx512f,vaes")]
    #[allow(clippy::needless_range_loop)] // `r` indexes the rounds of every row's keys
    fn aes<const U: usize, const R: usize>(k: &[Keys; R], x: &mut [__m512i; U]) {
        let per = U / R;
        for (u, x) in x.iter_mut().enumerate() {
            *x = _mm512_xor_si512(*x, k[u / per][0]);
        }
        for r in 1..10 {
            for (u, x) in x.iter_mut().enumerate() {
                *x = _mm512_aesenc_epi128(*x, k[u / per][r]);
            }
        }
        for (u, x) in x.iter_mut().enumerate() {
            *x = _mm512_aesenclast_epi128(*x, k[u / per][10]);
        }
    }

    /// Writes the keystream vectors `x` (`STEP` blocks per row) to the rows
    /// `rows[r][..len]`; a partial vector goes through a wiped stack copy.
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn store_rows<const U: usize>(x: &[__m512i; U], rows: &mut [&mut [Block]], len: usize) {
        let per = U / rows.len();
        for (r, row) in rows.iter_mut().enumerate() {
            let row = &mut row[..len];
            let mut quads = row.chunks_exact_mut(4);
            let mut v = x[r * per..].iter();
            for (q, v) in (&mut quads).zip(&mut v) {
                store4(q, *v);
            }
            let rest = quads.into_remainder();
            if let (false, Some(v)) = (rest.is_empty(), v.next()) {
                let mut pad = [Block::ZERO; 4];
                store4(&mut pad, *v);
                rest.copy_from_slice(&pad[..rest.len()]);
                pad.zeroize();
            }
        }
    }

    /// The first four blocks of `xs` as one vector; fewer are zero-padded
    /// in a stack copy that is wiped afterwards (they may be choice bits).
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn load4(xs: &[Block]) -> __m512i {
        let v = |q: [Block; 4]| {
            let halves: [__m256i; 2] = bytemuck::cast(q);
            _mm512_inserti64x4::<1>(_mm512_castsi256_si512(halves[0]), halves[1])
        };
        match xs.get(..4) {
            Some(&[a, b, c, d]) => v([a, b, c, d]),
            _ => {
                let mut q = [Block::ZERO; 4];
                q[..xs.len()].copy_from_slice(xs);
                let x = v(q);
                q.zeroize();
                x
            }
        }
    }

    /// All ones if bit `j` of `delta` is set, else zero (arithmetic, no
    /// branch on the secret bit).
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn bit_mask(delta: u128, j: usize) -> __m512i {
        _mm512_set1_epi64(0i64.wrapping_sub(((delta >> j) & 1) as i64))
    }

    /// The OT extension sender's column PRGs of one sub-chunk, combined with
    /// the receiver's rows in registers: for every row `j` and `i < width`,
    /// `q[j * q_stride + i] = AES_{k_j}(low + i, 0) ^ (u[j * width + i] &
    /// m_j)`, `m_j` all ones where bit `j` of `delta` is set. Two rows side
    /// by side (eight vectors in flight). `width <= STEP`.
    #[target_feature(enable = "avx512f,avx2,vaes,aes")]
    #[allow(clippy::too_many_arguments)]
    fn ctr_rows_masked_vaes512(
        keys: &[[Block; 11]],
        low: u64,
        width: usize,
        delta: u128,
        u: &[Block],
        q: &mut [Block],
        q_stride: usize,
    ) {
        if width == 0 {
            return;
        }
        let four = _mm512_set_epi64(0, 4, 0, 4, 0, 4, 0, 4);
        let at = |d: u64| low.wrapping_add(d) as i64;
        let c0 = _mm512_set_epi64(0, at(3), 0, at(2), 0, at(1), 0, at(0));
        let c1 = _mm512_add_epi64(c0, four);
        let c2 = _mm512_add_epi64(c1, four);
        let c3 = _mm512_add_epi64(c2, four);
        let quad = |row: &[Block], v: usize| load4(row.get(4 * v..).unwrap_or(&[]));
        let mut pairs = keys
            .chunks_exact(2)
            .zip(q.chunks_exact_mut(2 * q_stride))
            .zip(u.chunks_exact(2 * width));
        for (p, ((k, qrows), urows)) in (&mut pairs).enumerate() {
            let k = [round_keys(&k[0]), round_keys(&k[1])];
            let mut x = [c0, c1, c2, c3, c0, c1, c2, c3];
            aes::<8, 2>(&k, &mut x);
            let (ua, ub) = urows.split_at(width);
            let (ma, mb) = (bit_mask(delta, 2 * p), bit_mask(delta, 2 * p + 1));
            for v in 0..4 {
                x[v] = _mm512_ternarylogic_epi64::<0x78>(x[v], quad(ua, v), ma);
                x[4 + v] = _mm512_ternarylogic_epi64::<0x78>(x[4 + v], quad(ub, v), mb);
            }
            let (qa, qb) = qrows.split_at_mut(q_stride);
            store_rows(&x, &mut [qa, qb], width);
        }
        if keys.len() % 2 == 1 {
            let j = keys.len() - 1;
            let k = [round_keys(&keys[j])];
            let mut x = [c0, c1, c2, c3];
            aes::<4, 1>(&k, &mut x);
            let urow = &u[j * width..][..width];
            let m = bit_mask(delta, j);
            for (v, x) in x.iter_mut().enumerate() {
                *x = _mm512_ternarylogic_epi64::<0x78>(*x, quad(urow, v), m);
            }
            store_rows(&x, &mut [&mut q[j * q_stride..]], width);
        }
    }

    /// [`ctr_rows_masked_vaes512`] after checking the shapes (`keys.len()
    /// <= 128` rows, `u.len() == rows * width`, `width <= q_stride`, `width
    /// <= 16`) and [`detected`]. The caller guarantees that `low + width`
    /// does not wrap.
    pub(crate) fn ctr_rows_masked(
        keys: &[[Block; 11]],
        low: u64,
        width: usize,
        delta: u128,
        u: &[Block],
        q: &mut [Block],
        q_stride: usize,
    ) {
        assert!(
            keys.len() <= 128
                && u.len() == keys.len() * width
                && width <= q_stride
                && width <= STEP
                && q.len() == keys.len() * q_stride,
            "ctr_rows_masked: shapes"
        );
        assert!(
            low.checked_add(width as u64).is_some(),
            "ctr_rows_masked: counter wrap"
        );
        assert!(detected(), "wide_ctr: CPU features");
        // SAFETY: `ctr_rows_masked_vaes512` is safe Rust (bounds-checked
        // slices, no pointers) whose only precondition is that the CPU has
        // the features it is compiled with, which `detected` just checked.
        unsafe { ctr_rows_masked_vaes512(keys, low, width, delta, u, q, q_stride) }
    }

    /// The OT extension receiver's two column PRGs of one sub-chunk in one
    /// pass: for every row `j` and `i < width`, `t[j * t_stride + i] =
    /// AES_{k0_j}(low + i, 0)` and `u[j * width + i] = t[j * t_stride + i]
    /// ^ AES_{k1_j}(low + i, 0) ^ r[i]`. Both keystreams of a row are
    /// computed side by side (eight vectors in flight) and combined in
    /// registers, so the second one is never stored. `width <= STEP` (one
    /// sub-chunk): `r` is loaded into registers once for all rows.
    #[target_feature(enable = "avx512f,avx2,vaes,aes")]
    #[allow(clippy::too_many_arguments)]
    fn ctr_rows_xor_vaes512(
        keys: &[[[Block; 11]; 2]],
        low: u64,
        width: usize,
        r: &[Block],
        t: &mut [Block],
        t_stride: usize,
        u: &mut [Block],
    ) {
        if width == 0 {
            return;
        }
        let four = _mm512_set_epi64(0, 4, 0, 4, 0, 4, 0, 4);
        let at = |d: u64| low.wrapping_add(d) as i64;
        let c0 = _mm512_set_epi64(0, at(3), 0, at(2), 0, at(1), 0, at(0));
        let c1 = _mm512_add_epi64(c0, four);
        let c2 = _mm512_add_epi64(c1, four);
        let c3 = _mm512_add_epi64(c2, four);
        let quad = |q: usize| r.get(4 * q..).unwrap_or(&[]);
        let rv = [
            load4(quad(0)),
            load4(quad(1)),
            load4(quad(2)),
            load4(quad(3)),
        ];
        for ((k, trow), urow) in keys
            .iter()
            .zip(t.chunks_exact_mut(t_stride))
            .zip(u.chunks_exact_mut(width))
        {
            let k = [round_keys(&k[0]), round_keys(&k[1])];
            let mut x = [c0, c1, c2, c3, c0, c1, c2, c3];
            aes::<8, 2>(&k, &mut x);
            let mut y = [x[0], x[1], x[2], x[3]];
            for (q, y) in y.iter_mut().enumerate() {
                *y = _mm512_ternarylogic_epi64::<0x96>(*y, x[4 + q], rv[q]);
            }
            let tx = [x[0], x[1], x[2], x[3]];
            store_rows(&tx, &mut [trow], width);
            store_rows(&y, &mut [urow], width);
        }
    }

    /// [`ctr_rows_xor_vaes512`] after checking the shapes (`keys.len()`
    /// rows, `r.len() == width <= t_stride`, `width <= 16`) and [`detected`]. The caller
    /// guarantees that `low + width` does not wrap.
    pub(crate) fn ctr_rows_xor(
        keys: &[[[Block; 11]; 2]],
        low: u64,
        width: usize,
        r: &[Block],
        t: &mut [Block],
        t_stride: usize,
        u: &mut [Block],
    ) {
        assert!(
            r.len() == width
                && width <= t_stride
                && width <= STEP
                && t.len() == keys.len() * t_stride
                && u.len() == keys.len() * width,
            "ctr_rows_xor: shapes"
        );
        assert!(
            low.checked_add(width as u64).is_some(),
            "ctr_rows_xor: counter wrap"
        );
        assert!(detected(), "wide_ctr: CPU features");
        // SAFETY: `ctr_rows_xor_vaes512` is safe Rust (bounds-checked slices,
        // no pointers) whose only precondition is that the CPU has the
        // features it is compiled with, which `detected` just checked.
        unsafe { ctr_rows_xor_vaes512(keys, low, width, r, t, t_stride, u) }
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        use crate::Prg;

        /// The fused receiver kernel against two AES-NI `ctr_rows` calls
        /// and the XOR, on random keys, bits and counters, full and partial
        /// widths; the padding of `t` beyond `width` is left alone.
        #[test]
        fn fused_matches_two_ctr_rows() {
            let Some(hw) = super::super::Hw::new(super::super::HwKind::AesNi) else {
                return;
            };
            if !detected() {
                return;
            }
            let mut prg = Prg::from_seed_block(Block::from_u128(23));
            for (rows, width, stride, low) in [
                (128, 16, 16, 0u64),
                (128, 16, 16, 12345),
                (128, 7, 16, 1 << 50),
                (3, 1, 4, 9),
                (2, 13, 24, u64::MAX - 30),
                (4, 0, 2, 1),
            ] {
                let keys: Vec<[[Block; 11]; 2]> = (0..rows)
                    .map(|_| {
                        [
                            super::super::expand_key(hw, prg.random_block()),
                            super::super::expand_key(hw, prg.random_block()),
                        ]
                    })
                    .collect();
                let mut r = vec![Block::ZERO; width];
                prg.fill_blocks(&mut r);
                let mut t = vec![Block::ONES; rows * stride];
                let mut u = vec![Block::ONES; rows * width];
                ctr_rows_xor(&keys, low, width, &r, &mut t, stride, &mut u);
                if width == 0 {
                    assert!(
                        t.iter().all(|b| *b == Block::ONES),
                        "width 0 writes nothing"
                    );
                    continue;
                }
                let k0: Vec<[Block; 11]> = keys.iter().map(|k| k[0]).collect();
                let k1: Vec<[Block; 11]> = keys.iter().map(|k| k[1]).collect();
                let mut want_t = vec![Block::ONES; rows * stride];
                let mut g = vec![Block::ZERO; rows * width];
                // SAFETY: `hw` proves AES-NI.
                unsafe {
                    super::super::ni::ctr_rows(&k0, low, width, stride, &mut want_t);
                    super::super::ni::ctr_rows(&k1, low, width, width, &mut g);
                }
                assert_eq!(t, want_t, "t: {rows} rows, width {width}");
                for j in 0..rows {
                    for i in 0..width {
                        let want = want_t[j * stride + i] ^ g[j * width + i] ^ r[i];
                        assert_eq!(u[j * width + i], want, "u: row {j}, block {i}");
                    }
                }
            }
        }

        /// The fused sender kernel against AES-NI `ctr_rows` and the masked
        /// XOR, on random keys, rows, offsets and counters, odd and even row
        /// counts, full and partial widths.
        #[test]
        fn masked_matches_ctr_rows() {
            let Some(hw) = super::super::Hw::new(super::super::HwKind::AesNi) else {
                return;
            };
            if !detected() {
                return;
            }
            let mut prg = Prg::from_seed_block(Block::from_u128(29));
            for (rows, width, stride, low) in [
                (128, 16, 16, 0u64),
                (128, 16, 16, 777),
                (128, 9, 16, 1 << 45),
                (5, 3, 4, 8),
                (1, 16, 16, u64::MAX - 20),
                (2, 0, 1, 3),
            ] {
                let keys: Vec<[Block; 11]> = (0..rows)
                    .map(|_| super::super::expand_key(hw, prg.random_block()))
                    .collect();
                let delta = prg.random_block().to_u128();
                let mut u = vec![Block::ZERO; rows * width];
                prg.fill_blocks(&mut u);
                let mut q = vec![Block::ONES; rows * stride];
                ctr_rows_masked(&keys, low, width, delta, &u, &mut q, stride);
                if width == 0 {
                    assert!(
                        q.iter().all(|b| *b == Block::ONES),
                        "width 0 writes nothing"
                    );
                    continue;
                }
                let mut want = vec![Block::ONES; rows * stride];
                // SAFETY: `hw` proves AES-NI.
                unsafe { super::super::ni::ctr_rows(&keys, low, width, stride, &mut want) };
                for j in 0..rows {
                    let mask = Block::from_u128(0u128.wrapping_sub((delta >> j) & 1));
                    for i in 0..width {
                        want[j * stride + i] ^= u[j * width + i] & mask;
                    }
                }
                assert_eq!(q, want, "{rows} rows, width {width}, stride {stride}");
            }
        }
    }
}

/// The re-keyed hash of single blocks in place (see `ni::hash_singles`).
pub(crate) fn hash_singles(hw: Hw, base: Block, first: u64, stride: u64, xs: &mut [Block]) {
    match hw.kind {
        // SAFETY: see above.
        HwKind::AesNi => unsafe { ni::hash_singles(base, first, stride, xs) },
        // SAFETY: see above.
        HwKind::Vaes256 => unsafe { vaes::hash_singles(base, first, stride, xs) },
    }
}

/// The re-keyed hash of pairs `(x, x ^ offset)` (see `ni::hash_pairs`).
pub(crate) fn hash_pairs(
    hw: Hw,
    base: Block,
    first: u64,
    stride: u64,
    offset: Block,
    xs: &[Block],
    out: &mut [Block],
) {
    assert_eq!(out.len(), 2 * xs.len(), "hash_pairs: output length");
    match hw.kind {
        // SAFETY: see above.
        HwKind::AesNi => unsafe { ni::hash_pairs(base, first, stride, offset, xs, out) },
        // SAFETY: see above.
        HwKind::Vaes256 => unsafe { vaes::hash_pairs(base, first, stride, offset, xs, out) },
    }
}

/// Half-gates garbling of independent AND gates (see `ni::garble_gates`).
pub(crate) fn garble_gates(
    hw: Hw,
    base: Block,
    first: u64,
    delta: Block,
    inputs: &[Block],
    tables: &mut [Block],
    outputs: &mut [Block],
) {
    let n = outputs.len();
    assert!(
        inputs.len() == 2 * n && tables.len() == 2 * n,
        "garble_gates: lengths"
    );
    match hw.kind {
        // SAFETY: see above.
        HwKind::AesNi => unsafe { ni::garble_gates(base, first, delta, inputs, tables, outputs) },
        // SAFETY: see above.
        HwKind::Vaes256 => unsafe {
            vaes::garble_gates(base, first, delta, inputs, tables, outputs)
        },
    }
}

/// Half-gates evaluation of independent AND gates (see `ni::eval_gates`).
pub(crate) fn eval_gates(
    hw: Hw,
    base: Block,
    first: u64,
    inputs: &[Block],
    tables: &[Block],
    outputs: &mut [Block],
) {
    let n = outputs.len();
    assert!(
        inputs.len() == 2 * n && tables.len() == 2 * n,
        "eval_gates: lengths"
    );
    match hw.kind {
        // SAFETY: see above.
        HwKind::AesNi => unsafe { ni::eval_gates(base, first, inputs, tables, outputs) },
        // SAFETY: see above.
        HwKind::Vaes256 => unsafe { vaes::eval_gates(base, first, inputs, tables, outputs) },
    }
}

/// The 128 x N bit-matrix transpose of [`crate::transpose`] on AVX2: per
/// group of 128 output columns (one block of every row) and per 32 rows, a
/// byte transpose in registers (two 16 x 16 byte matrices per 256-bit
/// vector, four rounds of byte unpacks), then `movemask` peels one bit plane
/// per instruction: 32 rows of one output column. Safe Rust under
/// `#[target_feature]`; the dispatch below is the only `unsafe`.
pub(crate) mod wide_transpose {
    use crate::Block;
    use crate::transpose::{SUB_BLOCKS as SUB, transpose_portable};
    use core::arch::x86_64::*;
    use zeroize::Zeroize;

    /// Rows `32q..32q + 32` of one column block (`row(j)` is row `j`'s
    /// block): 128 output columns, word `q` of each.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn quarter(row: impl Fn(usize) -> Block, q: usize, out: &mut [Block; 128]) {
        let z = _mm256_setzero_si256();
        // Built with an insert, not through memory: a 32-byte load of two
        // 16-byte stores would miss store forwarding.
        let m: [__m256i; 16] = core::array::from_fn(|r| {
            let lo: __m128i = bytemuck::cast(row(32 * q + r));
            let hi: __m128i = bytemuck::cast(row(32 * q + 16 + r));
            _mm256_inserti128_si256::<1>(_mm256_castsi128_si256(lo), hi)
        });
        let mut m = m;
        // Four rounds of y[2i] = lo(x[i], x[i+8]), y[2i+1] = hi(x[i], x[i+8])
        // transpose each lane's 16 x 16 byte matrix: afterwards byte r of
        // lane l of m[c] is byte c of row 32q + 16l + r.
        for _ in 0..4 {
            let mut y = [z; 16];
            for i in 0..8 {
                y[2 * i] = _mm256_unpacklo_epi8(m[i], m[i + 8]);
                y[2 * i + 1] = _mm256_unpackhi_epi8(m[i], m[i + 8]);
            }
            m = y;
        }
        for (c, x) in m.iter().enumerate() {
            let mut x = *x;
            // movemask takes bit 7 of every byte: column 8c + 7 first.
            for t in (0..8).rev() {
                let bits = _mm256_movemask_epi8(x) as u32;
                out[8 * c + t].0[4 * q..4 * q + 4].copy_from_slice(&bits.to_le_bytes());
                x = _mm256_add_epi8(x, x);
            }
        }
    }

    #[target_feature(enable = "avx2")]
    fn transpose_avx2(rows: &[Block], width: usize, out: &mut [Block]) {
        let b = out.len() / 128;
        let first = 4 * (out.len() / 512);
        // Four column blocks (one cache line of every row) per pass, rows in
        // quarters: 32 rows x 64 bytes stay in L1 and in few TLB entries.
        let mut lines = out.chunks_exact_mut(512);
        for (l, o) in (&mut lines).enumerate() {
            for q in 0..4 {
                for (k, o) in o.chunks_exact_mut(128).enumerate() {
                    let o: &mut [Block; 128] = o.try_into().expect("chunks of 128");
                    let b = 4 * l + k;
                    quarter(|j| rows[j * width + b], q, o);
                }
            }
        }
        let mut groups = lines.into_remainder().chunks_exact_mut(128);
        for (k, o) in (&mut groups).enumerate() {
            let o: &mut [Block; 128] = o.try_into().expect("chunks of 128");
            for q in 0..4 {
                quarter(|j| rows[j * width + first + k], q, o);
            }
        }
        let rest = groups.into_remainder();
        if !rest.is_empty() {
            let mut tmp = [Block::ZERO; 128];
            for q in 0..4 {
                quarter(|j| rows[j * width + b], q, &mut tmp);
            }
            rest.copy_from_slice(&tmp[..rest.len()]);
            tmp.zeroize();
        }
    }

    /// [`transpose_avx2`] for a matrix of rows of exactly [`SUB`] blocks:
    /// the row accesses are constant offsets (no index arithmetic or bounds
    /// checks per load).
    #[target_feature(enable = "avx2")]
    fn transpose_rows_avx2(rows: &[[Block; SUB]; 128], out: &mut [Block]) {
        let mut groups = out.chunks_mut(128);
        for (b, o) in (&mut groups).enumerate() {
            if let Ok(o) = <&mut [Block; 128]>::try_from(&mut *o) {
                for q in 0..4 {
                    quarter(|j| rows[j][b], q, o);
                }
            } else {
                let mut tmp = [Block::ZERO; 128];
                for q in 0..4 {
                    quarter(|j| rows[j][b], q, &mut tmp);
                }
                o.copy_from_slice(&tmp[..o.len()]);
                tmp.zeroize();
            }
        }
    }

    /// The features of the AVX-512 kernel: byte unpacks (BW), two-source
    /// byte permutes (VBMI) and the GF(2) affine map (GFNI).
    fn has_avx512_gfni() -> bool {
        std::is_x86_feature_detected!("avx512f")
            && std::is_x86_feature_detected!("avx512bw")
            && std::is_x86_feature_detected!("avx512vbmi")
            && std::is_x86_feature_detected!("gfni")
    }

    /// `vpermt2b` indices of the last step of [`block_gfni`]: output vector
    /// `t` (columns `8e + 4t .. 8e + 4t + 4`) takes byte `16c + k` (byte `k`
    /// of column `8e + 4t + c`) from byte `8 (k % 8) + 4t + c` of the
    /// affine-mapped vector of row half `k / 8` (bit 6 of an index selects
    /// the second source).
    const fn gfni_out_index(t: usize) -> [u8; 64] {
        let mut idx = [0u8; 64];
        let mut p = 0;
        while p < 64 {
            let (c, k) = (p / 16, p % 16);
            idx[p] = (((k / 8) << 6) | (8 * (k % 8) + 4 * t + c)) as u8;
            p += 1;
        }
        idx
    }

    /// Both index vectors of [`gfni_out_index`].
    const GFNI_OUT_INDEX: [[u8; 64]; 2] = [gfni_out_index(0), gfni_out_index(1)];

    /// One round of [`unpack16`].
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw")]
    fn unpack_round(x: &[__m512i; 16]) -> [__m512i; 16] {
        [
            _mm512_unpacklo_epi8(x[0], x[8]),
            _mm512_unpackhi_epi8(x[0], x[8]),
            _mm512_unpacklo_epi8(x[1], x[9]),
            _mm512_unpackhi_epi8(x[1], x[9]),
            _mm512_unpacklo_epi8(x[2], x[10]),
            _mm512_unpackhi_epi8(x[2], x[10]),
            _mm512_unpacklo_epi8(x[3], x[11]),
            _mm512_unpackhi_epi8(x[3], x[11]),
            _mm512_unpacklo_epi8(x[4], x[12]),
            _mm512_unpackhi_epi8(x[4], x[12]),
            _mm512_unpacklo_epi8(x[5], x[13]),
            _mm512_unpackhi_epi8(x[5], x[13]),
            _mm512_unpacklo_epi8(x[6], x[14]),
            _mm512_unpackhi_epi8(x[6], x[14]),
            _mm512_unpacklo_epi8(x[7], x[15]),
            _mm512_unpackhi_epi8(x[7], x[15]),
        ]
    }

    /// One 16 x 16 byte transpose in each 128-bit lane of 16 vectors (four
    /// rounds of byte unpacks; each round rotates the address bits
    /// `register:4 | byte:4` left by one): afterwards byte `r` of lane `l`
    /// of `m[e]` is what byte `e` of lane `l` of `m[r]` was.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw")]
    fn unpack16(m: [__m512i; 16]) -> [__m512i; 16] {
        let m = unpack_round(&m);
        let m = unpack_round(&m);
        let m = unpack_round(&m);
        unpack_round(&m)
    }

    /// Block `b` of rows `j, j + 16, j + 32, j + 48` as the four lanes of
    /// one vector.
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn lanes4(rows: &[[Block; SUB]; 128], b: usize, j: usize) -> __m512i {
        let x = _mm512_castsi128_si512(bytemuck::cast(rows[j][b]));
        let x = _mm512_inserti32x4::<1>(x, bytemuck::cast(rows[j + 16][b]));
        let x = _mm512_inserti32x4::<2>(x, bytemuck::cast(rows[j + 32][b]));
        _mm512_inserti32x4::<3>(x, bytemuck::cast(rows[j + 48][b]))
    }

    /// Rows `64h .. 64h + 64` of column block `b`, byte-transposed and bit-transposed: byte `8q + c` of the
    /// result `[e]` is byte `8h + q` of output column `8e + c`.
    ///
    /// Lane `l` of input vector `r` is row `64h + 16l + (r ^ 7)`. After
    /// [`unpack16`], qword `q = 2l + s` of vector `e` holds byte `e` of rows
    /// `64h + 16l + 8s + 7 - i` at its bytes `i = 0..8`, i.e. the 8 x 8 bit
    /// matrix of rows `8k .. 8k + 8` (`k = 8h + q`) at columns `8e .. 8e + 8`
    /// with its rows reversed; `gf2p8affine(x, A)` sets bit `i` of byte `c`
    /// to the parity of `A.byte[7 - i] & x.byte[c]`, so with `x.byte[c] = 1
    /// << c` it is the transpose: bit `i` of byte `c` is row `8k + i` at
    /// column `8e + c`.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,gfni")]
    fn half_gfni(rows: &[[Block; SUB]; 128], b: usize, h: usize) -> [__m512i; 16] {
        let j = 64 * h;
        let m = [
            lanes4(rows, b, j + 7),
            lanes4(rows, b, j + 6),
            lanes4(rows, b, j + 5),
            lanes4(rows, b, j + 4),
            lanes4(rows, b, j + 3),
            lanes4(rows, b, j + 2),
            lanes4(rows, b, j + 1),
            lanes4(rows, b, j),
            lanes4(rows, b, j + 15),
            lanes4(rows, b, j + 14),
            lanes4(rows, b, j + 13),
            lanes4(rows, b, j + 12),
            lanes4(rows, b, j + 11),
            lanes4(rows, b, j + 10),
            lanes4(rows, b, j + 9),
            lanes4(rows, b, j + 8),
        ];
        let mut m = unpack16(m);
        let unit = _mm512_set1_epi64(0x8040_2010_0804_0201_u64 as i64);
        for v in m.iter_mut() {
            *v = _mm512_gf2p8affine_epi64_epi8::<0>(unit, *v);
        }
        m
    }

    /// The 128 output columns of column block `b` with AVX-512 and GFNI:
    /// both row halves through
    /// [`half_gfni`], then one two-source byte permute per four output
    /// columns gathers their sixteen bytes.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vbmi,gfni")]
    fn block_gfni(rows: &[[Block; SUB]; 128], b: usize, out: &mut [Block; 128]) {
        assert!(b < SUB, "block_gfni: column block");
        let idx: [__m512i; 2] = [load64(&GFNI_OUT_INDEX[0]), load64(&GFNI_OUT_INDEX[1])];
        let lo = half_gfni(rows, b, 0);
        let hi = half_gfni(rows, b, 1);
        for (e, o) in out.chunks_exact_mut(8).enumerate() {
            for (t, o) in o.chunks_exact_mut(4).enumerate() {
                let v = _mm512_permutex2var_epi8(lo[e], idx[t], hi[e]);
                let halves: [__m256i; 2] =
                    [_mm512_castsi512_si256(v), _mm512_extracti64x4_epi64::<1>(v)];
                o.copy_from_slice(&bytemuck::cast::<[__m256i; 2], [Block; 4]>(halves));
            }
        }
    }

    /// A vector from 64 bytes without a pointer: two 256-bit halves.
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn load64(b: &[u8; 64]) -> __m512i {
        let halves: [__m256i; 2] = bytemuck::cast(*b);
        _mm512_inserti64x4::<1>(_mm512_castsi256_si512(halves[0]), halves[1])
    }

    /// [`transpose_avx2`] with the AVX-512/GFNI block kernel: the matrix
    /// goes through slabs of [`SUB`] blocks per row, copied into a
    /// fixed-shape buffer (wiped afterwards) for [`transpose_rows_gfni`].
    /// OT extension calls the fixed shape directly; this general entry is
    /// for other widths.
    #[target_feature(enable = "avx512f,avx512bw,avx512vbmi,gfni")]
    fn transpose_gfni(rows: &[Block], width: usize, out: &mut [Block]) {
        let mut slab = [[Block::ZERO; SUB]; 128];
        for (s, o) in out.chunks_mut(128 * SUB).enumerate() {
            let w = o.len().div_ceil(128);
            for (j, r) in slab.iter_mut().enumerate() {
                r[..w].copy_from_slice(&rows[j * width + s * SUB..][..w]);
            }
            transpose_rows_gfni(&slab, o);
        }
        slab.zeroize();
    }

    /// [`transpose_rows_avx2`] with the AVX-512/GFNI block kernel.
    #[target_feature(enable = "avx512f,avx512bw,avx512vbmi,gfni")]
    fn transpose_rows_gfni(rows: &[[Block; SUB]; 128], out: &mut [Block]) {
        let mut groups = out.chunks_mut(128);
        for (b, o) in (&mut groups).enumerate() {
            if let Ok(o) = <&mut [Block; 128]>::try_from(&mut *o) {
                block_gfni(rows, b, o);
            } else {
                let mut tmp = [Block::ZERO; 128];
                block_gfni(rows, b, &mut tmp);
                o.copy_from_slice(&tmp[..o.len()]);
                tmp.zeroize();
            }
        }
    }

    /// A transpose kernel level. The dispatch takes the best one the CPU
    /// has; tests and benches can name one.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub(crate) enum Level {
        /// Plain Rust (`transpose_portable`).
        Portable,
        /// Byte unpacks and `movemask` on 256-bit vectors.
        Avx2,
        /// Byte unpacks, GF(2) affine bit transposes and byte permutes on
        /// 512-bit vectors (AVX-512 F, BW, VBMI and GFNI).
        Avx512Gfni,
    }

    impl Level {
        /// Whether the running CPU has the level's features.
        #[cfg(test)]
        pub(crate) fn detected(self) -> bool {
            match self {
                Level::Portable => true,
                Level::Avx2 => std::is_x86_feature_detected!("avx2"),
                Level::Avx512Gfni => has_avx512_gfni(),
            }
        }

        /// The levels the running CPU has, slowest first.
        #[cfg(test)]
        pub(crate) fn available() -> Vec<Level> {
            [Level::Portable, Level::Avx2, Level::Avx512Gfni]
                .into_iter()
                .filter(|l| l.detected())
                .collect()
        }

        /// The fastest level the running CPU has.
        fn best() -> Level {
            if has_avx512_gfni() {
                Level::Avx512Gfni
            } else if std::is_x86_feature_detected!("avx2") {
                Level::Avx2
            } else {
                Level::Portable
            }
        }
    }

    /// The transpose of a 128 x (128 * SUB) matrix, only `out.len()` columns.
    pub(crate) fn transpose_rows(rows: &[[Block; SUB]; 128], out: &mut [Block]) {
        transpose_rows_at(Level::best(), rows, out);
    }

    /// [`transpose_rows`] at `level`; a level the CPU lacks runs the
    /// portable code.
    pub(crate) fn transpose_rows_at(level: Level, rows: &[[Block; SUB]; 128], out: &mut [Block]) {
        assert!(out.len() <= 128 * SUB, "transpose_rows: too many columns");
        match level {
            // SAFETY: `transpose_rows_gfni` is safe Rust (bounds-checked
            // slices, no pointers) whose only precondition is that the CPU has
            // the features it is compiled with, which the guard just detected.
            Level::Avx512Gfni if has_avx512_gfni() => unsafe { transpose_rows_gfni(rows, out) },
            // SAFETY: as above, for AVX2.
            Level::Avx2 if std::is_x86_feature_detected!("avx2") => unsafe {
                transpose_rows_avx2(rows, out)
            },
            _ => transpose_portable(bytemuck::cast_slice(&rows[..]), SUB, out),
        }
    }

    /// Dispatches on the features of the running CPU.
    pub(crate) fn transpose(rows: &[Block], width: usize, out: &mut [Block]) {
        transpose_at(Level::best(), rows, width, out);
    }

    /// [`transpose`] at `level`; a level the CPU lacks runs the portable code.
    pub(crate) fn transpose_at(level: Level, rows: &[Block], width: usize, out: &mut [Block]) {
        match level {
            // SAFETY: `transpose_gfni` is safe Rust (bounds-checked slices, no
            // pointers) whose only precondition is that the CPU has the
            // features it is compiled with, which the guard just detected.
            Level::Avx512Gfni if has_avx512_gfni() => unsafe { transpose_gfni(rows, width, out) },
            // SAFETY: as above: `transpose_avx2` needs AVX2, just detected.
            Level::Avx2 if std::is_x86_feature_detected!("avx2") => unsafe {
                transpose_avx2(rows, width, out)
            },
            _ => transpose_portable(rows, width, out),
        }
    }
}
