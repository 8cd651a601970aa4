//! IKNP OT extension (Ishai, Kilian, Nissim, Petrank, CRYPTO 2003) with the
//! optimisations of Asharov, Lindell, Schneider and Zohner (ALSZ, CCS 2013,
//! ePrint 2013/552), **semi-honest**.
//!
//! Setup (once per session): the COT receiver picks a random 16-byte session
//! id and sends it; then 128 Chou-Orlandi base OTs ([`crate::base_ot`]) run
//! with the COT *sender* as base-OT receiver, its choice bits being the bits
//! of its offset `Delta`. Every base-OT key seeds one AES-CTR stream
//! ("column PRG", the stream of a [`crate::Prg`] with that seed; all 128 are
//! filled by one kernel call per sub-chunk) that keeps running for the whole
//! session, so no PRG output is ever used twice. The session id also fixes the session tweak of the
//! [`crate::TweakableHash`] used by random and chosen-message OT.
//!
//! Per batch of `n` OTs the receiver announces `n` (u64, little-endian) and
//! then, sub-chunk by sub-chunk of 2048 OTs (the last one shorter), sends for
//! each column `j` its piece of the row `u^j = G(k0_j) xor G(k1_j) xor r`
//! (ALSZ: one row per column, 16 bytes per OT): 128 pieces of 16 blocks,
//! 32 KiB per sub-chunk, computed in cache. The
//! sender computes `q^j = G(k_{Delta_j}) xor Delta_j * u^j` and both sides
//! transpose ([`crate::transpose`]), giving `q_i = t_i xor r_i * Delta` for
//! every OT `i`; random and chosen OT hash each sub-chunk's outputs while
//! they are still in cache. [`CHUNK_OTS`] is the unit of the API loops, of
//! chosen OT's request/answer pipelining and of the channel calls (the rows
//! of a chunk, up to 512 KiB, are sent and received in one call, so that a
//! buffered channel passes them straight through), not of the wire: the
//! byte stream is the sub-chunks' rows one after the other either way.
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

/// OTs per internal chunk: bounds the working memory of a batch whatever the
/// caller asks for (the receiver's rows and chosen OT's answers are
/// `CHUNK_OTS * 16` and `* 32` bytes), and is the unit in which chosen OT
/// pipelines requests and answers. The wire carries sub-chunks of 2048 OTs.
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
/// trailing bits of `out` are zero. Eight bools at a time, without branches
/// on the (secret) bits: their bytes (0 or 1) are read as a little-endian
/// word, and one multiplication gathers bit 0 of byte `k` into bit `56 + k`.
fn pack_bits(bits: &[bool], out: &mut [Block]) {
    out.fill(Block::ZERO);
    let bytes: &[u8] = bytemuck::cast_slice(bits);
    let packed: &mut [u8] = bytemuck::cast_slice_mut(out);
    for (p, chunk) in packed.iter_mut().zip(bytes.chunks(8)) {
        let mut w = [0u8; 8];
        w[..chunk.len()].copy_from_slice(chunk);
        *p = (u64::from_le_bytes(w).wrapping_mul(0x0102_0408_1020_4080) >> 56) as u8;
    }
}

/// Unpacks the first `out.len()` bits of `blocks`, eight at a time without
/// branches or table lookups on the (secret) bits: the byte is broadcast to
/// the eight bytes of a word, byte `k` keeps bit `k`, and adding `0x7f`
/// moves "nonzero" to bit 7 of each byte. Whole groups of eight are written
/// as one array (the bytes of the word are known to be 0 or 1, so the
/// compiler stores the word as it is).
fn unpack_bits(blocks: &[Block], out: &mut [bool]) {
    #[inline(always)]
    fn spread(b: u8) -> [bool; 8] {
        let spread = (u64::from(b) * 0x0101_0101_0101_0101) & 0x8040_2010_0804_0201;
        let ones = ((spread + 0x7f7f_7f7f_7f7f_7f7f) >> 7) & 0x0101_0101_0101_0101;
        ones.to_le_bytes().map(|x| x != 0)
    }
    let bytes: &[u8] = bytemuck::cast_slice(blocks);
    let full = out.len() / 8;
    let mut groups = out.chunks_exact_mut(8);
    for (g, &b) in (&mut groups).zip(bytes) {
        g.copy_from_slice(&spread(b));
    }
    let rest = groups.into_remainder();
    if let (false, Some(&b)) = (rest.is_empty(), bytes.get(full)) {
        let bits = spread(b);
        rest.copy_from_slice(&bits[..rest.len()]);
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
        for n in [300, 296, 8, 7, 1, 0] {
            let mut back = vec![true; n];
            unpack_bits(&blocks, &mut back);
            assert_eq!(back, bits[..n], "{n} bits");
        }
    }
}
