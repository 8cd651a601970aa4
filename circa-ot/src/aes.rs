//! AES-128 with run-time dispatch: the crate's own AES-NI and VAES kernels
//! (in [`crate::simd`], the crate's one `unsafe` module) where the CPU has
//! them, the RustCrypto `aes` crate (constant-time software, or its own
//! AES-NI) everywhere else. [`AesBackend`] names the levels; every kernel is
//! tested against FIPS-197 and against the `aes` crate at every level the
//! running CPU offers.
//!
//! [`FixedKeyAes`] is AES under one key (the fixed public permutation `pi`,
//! or a PRG seed), with batched ECB and counter mode. The re-keyed hash that
//! expands a fresh key per tweak is [`crate::TweakableHash`].

use crate::Block;
use aes::Aes128;
use aes::cipher::{Array, BlockCipherEncrypt, KeyInit};
use sha2::{Digest, Sha256};
use std::sync::OnceLock;
use zeroize::Zeroize;

/// Blocks per refill of the PRG's byte buffer, and a convenient batch size
/// for callers: the kernels pipeline 8 (AES-NI) or 16 (VAES) blocks at a
/// time and finish any tail vector by vector, so batches need not be padded.
pub const AES_BATCH: usize = 64;

/// Blocks per scratch buffer in the batched fixed-key hashes
/// ([`crate::ccr_hash_many`]): 8 KiB of stack.
pub const HASH_BATCH: usize = 512;

const _: () = assert!(HASH_BATCH.is_multiple_of(AES_BATCH));

/// Which implementation runs the AES calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AesBackend {
    /// The RustCrypto `aes` crate (its own run-time detection: constant-time
    /// fixsliced software, or AES-NI), one key schedule per re-keyed block.
    Portable,
    /// This crate's AES-NI kernels on 128-bit registers, 8 blocks in flight.
    AesNi,
    /// This crate's VAES kernels on 256-bit registers (two AES states per
    /// instruction), 16 blocks in flight.
    Vaes256,
}

impl AesBackend {
    /// Every level, slowest first.
    pub const ALL: [AesBackend; 3] = [AesBackend::Portable, AesBackend::AesNi, AesBackend::Vaes256];

    /// The fastest level the running CPU supports (detected once).
    pub fn detected() -> AesBackend {
        static BEST: OnceLock<AesBackend> = OnceLock::new();
        *BEST.get_or_init(|| {
            AesBackend::ALL
                .into_iter()
                .rev()
                .find(|b| b.is_available())
                .unwrap_or(AesBackend::Portable)
        })
    }

    /// The levels the running CPU supports, slowest first (always starts
    /// with [`AesBackend::Portable`]).
    pub fn available() -> Vec<AesBackend> {
        AesBackend::ALL
            .into_iter()
            .filter(|b| b.is_available())
            .collect()
    }

    /// Whether the running CPU supports this level.
    pub fn is_available(self) -> bool {
        self.engine().is_some()
    }

    /// A short name: `portable`, `aes-ni`, `vaes256`.
    pub fn name(self) -> &'static str {
        match self {
            AesBackend::Portable => "portable",
            AesBackend::AesNi => "aes-ni",
            AesBackend::Vaes256 => "vaes256",
        }
    }

    pub(crate) fn engine(self) -> Option<Engine> {
        match self {
            AesBackend::Portable => Some(Engine::Portable),
            #[cfg(target_arch = "x86_64")]
            AesBackend::AesNi => crate::simd::Hw::new(crate::simd::HwKind::AesNi).map(Engine::Hw),
            #[cfg(target_arch = "x86_64")]
            AesBackend::Vaes256 => {
                crate::simd::Hw::new(crate::simd::HwKind::Vaes256).map(Engine::Hw)
            }
            #[cfg(not(target_arch = "x86_64"))]
            _ => None,
        }
    }
}

/// A level whose availability has been checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Engine {
    Portable,
    #[cfg(target_arch = "x86_64")]
    Hw(crate::simd::Hw),
}

impl Engine {
    /// The detected best level.
    pub(crate) fn detected() -> Engine {
        AesBackend::detected().engine().unwrap_or(Engine::Portable)
    }

    pub(crate) fn backend(self) -> AesBackend {
        match self {
            Engine::Portable => AesBackend::Portable,
            #[cfg(target_arch = "x86_64")]
            Engine::Hw(hw) => match hw.kind() {
                crate::simd::HwKind::AesNi => AesBackend::AesNi,
                crate::simd::HwKind::Vaes256 => AesBackend::Vaes256,
            },
        }
    }
}

/// Expanded round keys, wiped on drop (a PRG's keys are its seed).
#[derive(Clone)]
struct RoundKeys([Block; 11]);

impl Drop for RoundKeys {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

#[derive(Clone)]
enum Keys {
    /// The `aes` crate's cipher (zeroizes itself on drop: feature `zeroize`).
    Portable(Box<Aes128>),
    #[cfg(target_arch = "x86_64")]
    Hw(crate::simd::Hw, RoundKeys),
}

/// AES-128 under one key: the fixed public permutation behind the
/// fixed-key hashes, or a PRG under its secret seed. The key schedule is
/// wiped on drop.
#[derive(Clone)]
pub struct FixedKeyAes {
    keys: Keys,
}

impl FixedKeyAes {
    /// AES-128 keyed with `key`, on the detected backend.
    pub fn new(key: Block) -> Self {
        Self::with_engine(key, Engine::detected())
    }

    /// AES-128 keyed with `key` on `backend`; `None` if the running CPU does
    /// not support it.
    pub fn with_backend(key: Block, backend: AesBackend) -> Option<Self> {
        backend.engine().map(|e| Self::with_engine(key, e))
    }

    pub(crate) fn with_engine(key: Block, engine: Engine) -> Self {
        let keys = match engine {
            Engine::Portable => Keys::Portable(Box::new(Aes128::new(&Array::from(key.0)))),
            #[cfg(target_arch = "x86_64")]
            Engine::Hw(hw) => Keys::Hw(hw, RoundKeys(crate::simd::expand_key(hw, key))),
        };
        FixedKeyAes { keys }
    }

    /// The process-wide fixed-key permutation. Its key is public: the first 16
    /// bytes of `SHA-256("circa-ot/fixed-key-aes/v1")`.
    pub fn fixed() -> &'static FixedKeyAes {
        static FIXED: OnceLock<FixedKeyAes> = OnceLock::new();
        FIXED.get_or_init(|| FixedKeyAes::new(fixed_key()))
    }

    /// The backend this instance runs on.
    pub fn backend(&self) -> AesBackend {
        match &self.keys {
            Keys::Portable(_) => AesBackend::Portable,
            #[cfg(target_arch = "x86_64")]
            Keys::Hw(hw, _) => Engine::Hw(*hw).backend(),
        }
    }

    /// `AES_k(x)`.
    #[inline]
    pub fn encrypt(&self, x: Block) -> Block {
        let mut b = [x];
        self.encrypt_many(&mut b);
        b[0]
    }

    /// Encrypts every block in place, pipelined across the slice.
    #[inline]
    pub fn encrypt_many(&self, xs: &mut [Block]) {
        match &self.keys {
            Keys::Portable(c) => {
                let raw: &mut [[u8; 16]] = bytemuck::cast_slice_mut(xs);
                c.encrypt_blocks(Array::cast_slice_from_core_mut(raw));
            }
            #[cfg(target_arch = "x86_64")]
            Keys::Hw(hw, rk) => crate::simd::encrypt(*hw, &rk.0, xs),
        }
    }

    /// Counter mode: `out[i] = AES_k(counter + i)` (the counter as a
    /// little-endian 128-bit integer, wrapping).
    pub fn ctr(&self, counter: u128, out: &mut [Block]) {
        match &self.keys {
            Keys::Portable(_) => {
                for (i, b) in out.iter_mut().enumerate() {
                    *b = Block::from_u128(counter.wrapping_add(i as u128));
                }
                self.encrypt_many(out);
            }
            #[cfg(target_arch = "x86_64")]
            Keys::Hw(hw, rk) => {
                // Split wherever the low 64 bits of the counter wrap (the
                // kernel adds in 64-bit lanes).
                let mut counter = counter;
                let mut out = out;
                while !out.is_empty() {
                    let low = counter as u64;
                    let room = (u64::MAX - low) as u128 + 1;
                    let n = (out.len() as u128).min(room) as usize;
                    let (now, rest) = out.split_at_mut(n);
                    crate::simd::ctr(*hw, &rk.0, low, (counter >> 64) as u64, now);
                    counter = counter.wrapping_add(n as u128);
                    out = rest;
                }
            }
        }
    }
}

/// Many AES-CTR streams advancing in lockstep: row `j` is
/// `AES_{k_j}(c), AES_{k_j}(c + 1), ...` from a shared counter `c` starting
/// at 0, exactly the stream of a [`crate::Prg`] seeded with `k_j`. The column
/// PRGs of OT extension: one kernel call fills a block of every row. Keys
/// (secret seeds) wiped on drop.
pub(crate) struct RowCtr {
    rows: RowKeys,
    counter: u64,
}

enum RowKeys {
    Portable(Vec<FixedKeyAes>),
    #[cfg(target_arch = "x86_64")]
    Hw(crate::simd::Hw, Vec<[Block; 11]>),
}

impl RowCtr {
    /// One stream per seed, on the detected backend.
    pub(crate) fn new(seeds: &[Block]) -> RowCtr {
        let rows = match Engine::detected() {
            Engine::Portable => RowKeys::Portable(
                seeds
                    .iter()
                    .map(|s| FixedKeyAes::with_engine(*s, Engine::Portable))
                    .collect(),
            ),
            #[cfg(target_arch = "x86_64")]
            Engine::Hw(hw) => RowKeys::Hw(
                hw,
                seeds
                    .iter()
                    .map(|s| crate::simd::expand_key(hw, *s))
                    .collect(),
            ),
        };
        RowCtr { rows, counter: 0 }
    }

    /// The next `width` blocks of every stream into `out`: stream `j` to
    /// `out[j * stride..j * stride + width]` (the rest of each row is left
    /// as it is).
    ///
    /// # Panics
    /// If `width > stride`, `out.len()` is not `stride` times the number of
    /// streams, or the 64-bit counter would wrap (2^64 blocks per stream;
    /// OT extension caps a session far below).
    pub(crate) fn fill_rows(&mut self, width: usize, stride: usize, out: &mut [Block]) {
        let low = self.counter;
        self.counter = low.checked_add(width as u64).expect("RowCtr: counter wrap");
        match &self.rows {
            RowKeys::Portable(ciphers) => {
                assert!(
                    width <= stride && out.len() == ciphers.len() * stride,
                    "RowCtr: output shape"
                );
                for (c, row) in ciphers.iter().zip(out.chunks_exact_mut(stride)) {
                    c.ctr(u128::from(low), &mut row[..width]);
                }
            }
            #[cfg(target_arch = "x86_64")]
            RowKeys::Hw(hw, keys) => crate::simd::ctr_rows(*hw, keys, low, width, stride, out),
        }
    }
}

impl Drop for RowCtr {
    fn drop(&mut self) {
        #[cfg(target_arch = "x86_64")]
        if let RowKeys::Hw(_, keys) = &mut self.rows {
            keys.zeroize();
        }
        // Portable rows: each FixedKeyAes wipes its own schedule.
    }
}

/// The public key of [`FixedKeyAes::fixed`].
fn fixed_key() -> Block {
    let digest = Sha256::digest(b"circa-ot/fixed-key-aes/v1");
    let mut key = [0u8; 16];
    key.copy_from_slice(&digest[..16]);
    Block(key)
}

impl core::fmt::Debug for FixedKeyAes {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "FixedKeyAes({}, ..)", self.backend().name())
    }
}

/// The `aes` crate's AES-128 of one block: the portable re-keyed hash uses
/// it (one key schedule per call), and it is the reference of the tests.
pub(crate) fn portable_encrypt(key: Block, x: Block) -> Block {
    let cipher = Aes128::new(&Array::from(key.0));
    let mut a = Array::from(x.0);
    cipher.encrypt_block(&mut a);
    Block(a.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Prg;

    pub(crate) fn hex16(s: &str) -> Block {
        let mut b = [0u8; 16];
        for (i, byte) in b.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap();
        }
        Block(b)
    }

    fn all(key: Block) -> Vec<FixedKeyAes> {
        let v: Vec<FixedKeyAes> = AesBackend::available()
            .into_iter()
            .map(|b| FixedKeyAes::with_backend(key, b).unwrap())
            .collect();
        assert!(!v.is_empty() && v[0].backend() == AesBackend::Portable);
        v
    }

    /// FIPS-197 appendix C.1 and appendix B, single and batched, at every
    /// level (batches of several lengths exercise the pipelined groups, the
    /// single-vector steps and the padded odd tail).
    #[test]
    fn fips197_known_answers_every_level() {
        let cases = [
            (
                "000102030405060708090a0b0c0d0e0f",
                "00112233445566778899aabbccddeeff",
                "69c4e0d86a7b0430d8cdb78070b4c55a",
            ),
            (
                "2b7e151628aed2a6abf7158809cf4f3c",
                "3243f6a8885a308d313198a2e0370734",
                "3925841d02dc09fbdc118597196a0b32",
            ),
        ];
        for (key, pt, ct) in cases {
            let (pt, want) = (hex16(pt), hex16(ct));
            for aes in all(hex16(key)) {
                assert_eq!(aes.encrypt(pt), want, "{:?}", aes.backend());
                for n in [1, 2, 7, 8, 15, 16, 17, 33, 67] {
                    let mut many = vec![pt; n];
                    aes.encrypt_many(&mut many);
                    assert!(many.iter().all(|b| *b == want), "{:?} n={n}", aes.backend());
                }
            }
        }
    }

    /// FIPS-197 appendix A.1: the expanded key of `2b7e1516...` (last round
    /// key `d014f9a8 c9ee2589 e13f0cc8 b6630ca6`), through the hardware key
    /// schedule.
    #[test]
    #[cfg(target_arch = "x86_64")]
    fn fips197_key_expansion() {
        let key = hex16("2b7e151628aed2a6abf7158809cf4f3c");
        for b in AesBackend::available() {
            if let Some(Engine::Hw(hw)) = b.engine() {
                let rk = crate::simd::expand_key(hw, key);
                assert_eq!(rk[0], key);
                assert_eq!(rk[1], hex16("a0fafe1788542cb123a339392a6c7605"));
                assert_eq!(rk[10], hex16("d014f9a8c9ee2589e13f0cc8b6630ca6"));
            }
        }
    }

    /// Random keys and inputs: every level equals the `aes` crate, for ECB
    /// and counter mode (including a counter whose low half wraps).
    #[test]
    fn every_level_equals_the_aes_crate_on_random_inputs() {
        let mut prg = Prg::from_seed_block(Block::from_u128(0xae5));
        for trial in 0..20 {
            let key = prg.random_block();
            let n = 1 + (prg.random_block().to_u128() % 300) as usize;
            let mut xs = vec![Block::ZERO; n];
            prg.fill_blocks(&mut xs);
            let want: Vec<Block> = xs.iter().map(|x| portable_encrypt(key, *x)).collect();
            let counter = if trial % 2 == 0 {
                prg.random_block().to_u128()
            } else {
                (7u128 << 64) | u128::from(u64::MAX - 5)
            };
            let want_ctr: Vec<Block> = (0..n as u128)
                .map(|i| portable_encrypt(key, Block::from_u128(counter.wrapping_add(i))))
                .collect();
            for aes in all(key) {
                let mut got = xs.clone();
                aes.encrypt_many(&mut got);
                assert_eq!(got, want, "{:?} n={n}", aes.backend());
                let mut ctr = vec![Block::ZERO; n];
                aes.ctr(counter, &mut ctr);
                assert_eq!(ctr, want_ctr, "{:?} ctr n={n}", aes.backend());
            }
        }
    }

    #[test]
    fn detected_is_the_fastest_available_and_debug_is_redacted() {
        let avail = AesBackend::available();
        assert_eq!(AesBackend::detected(), *avail.last().unwrap());
        let aes = FixedKeyAes::new(Block::ONES);
        assert_eq!(aes.backend(), AesBackend::detected());
        assert!(!format!("{aes:?}").contains("ff"));
        assert_eq!(
            FixedKeyAes::fixed().encrypt(Block::ZERO),
            portable_encrypt(fixed_key(), Block::ZERO)
        );
    }
}
