//! Fixed-key AES-128: the public random permutation `pi` behind every hash in
//! the workspace, with batched calls.
//!
//! The `aes` crate detects AES-NI and VAES at run time and falls back to a
//! constant-time software implementation, so no `target-cpu` flag is needed.

use crate::Block;
use aes::Aes128;
use aes::cipher::{Array, BlockCipherEncrypt, KeyInit};
use sha2::{Digest, Sha256};
use std::sync::OnceLock;

/// The pipelined width of the AES backend: the `aes` crate encrypts whole
/// groups of this many blocks in parallel (64 with VAES-512; 8 with AES-NI)
/// and a shorter tail one block at a time, so batched calls should cover a
/// multiple of it. Used as the PRG's byte buffer and by callers that pad their
/// batches (circa-gc).
pub const AES_BATCH: usize = 64;

/// Blocks per `encrypt_many` call inside the batched hashes
/// ([`crate::TweakableHash::hash_many`], `hash_seq_in_place`,
/// [`crate::ccr_hash_many`], the OT-extension output hashes). Longer calls
/// amortise the backend's per-call setup (key broadcast, dispatch): measured
/// with CPU time on this machine (AVX-512 + VAES), fixed-key AES runs at about
/// 430 M blocks/s in calls of 64 blocks and 530 M blocks/s in calls of 128 or
/// more, the TCCR hash at about 195 M/s with 64-block batches and 210-250 M/s
/// with 512. A multiple of [`AES_BATCH`]; 8 KiB of stack per scratch buffer.
pub const HASH_BATCH: usize = 512;

const _: () = assert!(HASH_BATCH.is_multiple_of(AES_BATCH));

/// AES-128 under one key, used as a fixed public permutation.
#[derive(Clone)]
pub struct FixedKeyAes {
    cipher: Aes128,
}

impl FixedKeyAes {
    /// AES-128 keyed with `key`.
    pub fn new(key: Block) -> Self {
        FixedKeyAes {
            cipher: Aes128::new(&Array::from(key.0)),
        }
    }

    /// The process-wide fixed-key permutation. Its key is public: the first 16
    /// bytes of `SHA-256("circa-ot/fixed-key-aes/v1")`.
    pub fn fixed() -> &'static FixedKeyAes {
        static FIXED: OnceLock<FixedKeyAes> = OnceLock::new();
        FIXED.get_or_init(|| {
            let digest = Sha256::digest(b"circa-ot/fixed-key-aes/v1");
            let mut key = [0u8; 16];
            key.copy_from_slice(&digest[..16]);
            FixedKeyAes::new(Block(key))
        })
    }

    /// `AES_k(x)`.
    #[inline]
    pub fn encrypt(&self, x: Block) -> Block {
        let mut a = Array::from(x.0);
        self.cipher.encrypt_block(&mut a);
        Block(a.0)
    }

    /// Encrypts every block in place, batched across the slice.
    #[inline]
    pub fn encrypt_many(&self, xs: &mut [Block]) {
        let raw: &mut [[u8; 16]] = bytemuck::cast_slice_mut(xs);
        self.cipher
            .encrypt_blocks(Array::cast_slice_from_core_mut(raw));
    }
}

impl core::fmt::Debug for FixedKeyAes {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("FixedKeyAes(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex16(s: &str) -> Block {
        let mut b = [0u8; 16];
        for (i, byte) in b.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap();
        }
        Block(b)
    }

    /// FIPS-197 appendix C.1 known answer.
    #[test]
    fn fips197_c1() {
        let aes = FixedKeyAes::new(hex16("000102030405060708090a0b0c0d0e0f"));
        let pt = hex16("00112233445566778899aabbccddeeff");
        let want = hex16("69c4e0d86a7b0430d8cdb78070b4c55a");
        assert_eq!(aes.encrypt(pt), want);
        let mut many = [pt; 67];
        aes.encrypt_many(&mut many);
        assert!(many.iter().all(|b| *b == want));
    }

    /// FIPS-197 appendix B (the "Cipher Example").
    #[test]
    fn fips197_appendix_b() {
        let aes = FixedKeyAes::new(hex16("2b7e151628aed2a6abf7158809cf4f3c"));
        assert_eq!(
            aes.encrypt(hex16("3243f6a8885a308d313198a2e0370734")),
            hex16("3925841d02dc09fbdc118597196a0b32")
        );
    }

    #[test]
    fn batched_equals_single() {
        let aes = FixedKeyAes::fixed();
        let mut xs: Vec<Block> = (0..200u128)
            .map(|i| Block::from_u128(i * 0x9e37_79b9))
            .collect();
        let singles: Vec<Block> = xs.iter().map(|x| aes.encrypt(*x)).collect();
        aes.encrypt_many(&mut xs);
        assert_eq!(xs, singles);
    }
}
