//! IKNP OT extension (Ishai, Kilian, Nissim, Petrank, CRYPTO 2003) with the
//! optimisations of Asharov, Lindell, Schneider and Zohner (ALSZ, CCS 2013,
//! ePrint 2013/552), **semi-honest**.
//!
//! Setup (once per session): the COT receiver picks a random 16-byte session
//! id and sends it; then 128 Chou-Orlandi base OTs ([`crate::base_ot`]) run
//! with the COT *sender* as base-OT receiver, its choice bits being the bits
//! of its offset `Delta`. Every base-OT key seeds one AES-CTR [`crate::Prg`]
//! ("column PRG") that keeps running for the whole session, so no PRG output
//! is ever used twice. The session id also fixes the session tweak of the
//! [`crate::TweakableHash`] used by random and chosen-message OT.
//!
//! Per batch of `n` OTs the receiver announces `n` (u64, little-endian) and
//! then, chunk by chunk ([`CHUNK_OTS`] OTs at a time), sends for each column
//! `j` the row `u^j = G(k0_j) xor G(k1_j) xor r` (ALSZ: one row per column,
//! 16 bytes per OT). The sender computes `q^j = G(k_{Delta_j}) xor Delta_j *
//! u^j` and both sides transpose ([`crate::transpose`]), giving
//! `q_i = t_i xor r_i * Delta` for every OT `i`.
//!
//! Outputs: correlated OT ([`CotSender`], [`CotReceiver`]), random OT
//! ([`RotSender`], [`RotReceiver`]: `H(q_i, i)`, `H(q_i xor Delta, i)`) and
//! chosen-message OT of 128-bit messages ([`OtSender`], [`OtReceiver`], 32
//! more bytes per OT from sender to receiver). `i` is the OT's index in the
//! session, so hash tweaks never repeat.
//!
//! Any error poisons the extension state: every later call returns
//! [`crate::Error::StateConsumed`].

mod chosen;
mod cot;
mod rot;

pub use chosen::{OtReceiver, OtSender};
pub use cot::{CotReceiver, CotSender};
pub use rot::{RotReceiver, RotSender};

use crate::{Block, TweakableHash};
use sha2::{Digest, Sha256};

/// OTs per internal chunk: bounds the working memory of a batch to a few
/// MiB whatever the caller asks for (the matrices are `CHUNK_OTS * 16` bytes).
pub const CHUNK_OTS: usize = 1 << 15;

/// Default cap on the OTs one session may produce.
pub const MAX_OTS_PER_SESSION: u64 = 1 << 40;

/// Number of base OTs, i.e. the computational security parameter.
pub const BASE_OTS: usize = 128;

/// The session tweak of the hash, derived from the session id.
fn session_hash(session: &[u8; 16]) -> TweakableHash {
    let digest = Sha256::new()
        .chain_update(b"circa-ot/iknp/session-tweak")
        .chain_update(session)
        .finalize();
    let mut tweak = [0u8; 16];
    tweak.copy_from_slice(&digest[..16]);
    TweakableHash::new(Block(tweak))
}

/// Packs choice bits into blocks (bit `i` of the result is `bits[i]`);
/// trailing bits of `out` are zero.
fn pack_bits(bits: &[bool], out: &mut [Block]) {
    out.fill(Block::ZERO);
    for (o, chunk) in out.iter_mut().zip(bits.chunks(128)) {
        let mut x = 0u128;
        for (k, byte) in chunk.chunks(8).enumerate() {
            let mut b = 0u128;
            for (s, &bit) in byte.iter().enumerate() {
                b |= (bit as u128) << s;
            }
            x |= b << (8 * k);
        }
        *o = Block::from_u128(x);
    }
}

/// Unpacks the first `out.len()` bits of `blocks`.
fn unpack_bits(blocks: &[Block], out: &mut [bool]) {
    for (chunk, b) in out.chunks_mut(128).zip(blocks) {
        let x = b.to_u128();
        for (s, o) in chunk.iter_mut().enumerate() {
            *o = (x >> s) & 1 == 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pack_unpack_roundtrip() {
        let bits: Vec<bool> = (0..300).map(|i| (i * 7 + i / 5) % 3 == 0).collect();
        let mut blocks = [Block::ONES; 3];
        pack_bits(&bits, &mut blocks);
        for (i, &b) in bits.iter().enumerate() {
            assert_eq!((blocks[i / 128].to_u128() >> (i % 128)) & 1 == 1, b);
        }
        assert_eq!(blocks[2].to_u128() >> 44, 0, "padding is zero");
        let mut back = vec![false; 300];
        unpack_bits(&blocks, &mut back);
        assert_eq!(back, bits);
    }
}
