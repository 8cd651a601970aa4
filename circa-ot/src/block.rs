//! The 128-bit [`Block`], the unit of every label, key and OT message.

use bytemuck::{Pod, Zeroable};
use core::fmt;
use core::ops::{BitAnd, BitAndAssign, BitXor, BitXorAssign};
use subtle::{Choice, ConditionallySelectable};

/// A 128-bit value: a wire label, an AES block, an OT message or a key.
///
/// `Block` is a plain value container (`repr(transparent)` over `[u8; 16]`). It
/// is `Copy` so that bulk protocol code stays fast; types that hold *secret*
/// blocks (deltas, seeds, labels kept across phases) wrap it, redact their
/// `Debug` output and zeroize on drop. Slices of blocks convert to bytes with
/// [`bytemuck::cast_slice`], which is how they go on the wire.
///
/// Integer views are little-endian: bit `i` of [`Block::to_u128`] is bit
/// `i % 8` of byte `i / 8`, so [`Block::lsb`] is bit 0 of byte 0.
#[repr(transparent)]
#[derive(Clone, Copy, PartialEq, Eq, Default, Hash, Pod, Zeroable)]
pub struct Block(pub [u8; 16]);

impl Block {
    /// The all-zero block.
    pub const ZERO: Block = Block([0; 16]);
    /// The all-one block.
    pub const ONES: Block = Block([0xff; 16]);

    /// Wraps 16 bytes.
    #[inline(always)]
    pub const fn new(bytes: [u8; 16]) -> Block {
        Block(bytes)
    }

    /// The block whose little-endian integer value is `x`.
    #[inline(always)]
    pub const fn from_u128(x: u128) -> Block {
        Block(x.to_le_bytes())
    }

    /// The little-endian integer value of the block.
    #[inline(always)]
    pub const fn to_u128(self) -> u128 {
        u128::from_le_bytes(self.0)
    }

    /// The two 64-bit halves `(low, high)`.
    #[inline(always)]
    pub const fn to_u64_pair(self) -> (u64, u64) {
        let x = self.to_u128();
        (x as u64, (x >> 64) as u64)
    }

    /// The block with halves `low` and `high`.
    #[inline(always)]
    pub const fn from_u64_pair(low: u64, high: u64) -> Block {
        Block::from_u128((low as u128) | ((high as u128) << 64))
    }

    /// The least significant bit (bit 0 of byte 0): the point-and-permute colour bit.
    #[inline(always)]
    pub const fn lsb(self) -> bool {
        self.0[0] & 1 == 1
    }

    /// The same block with its least significant bit set to `bit`.
    #[inline(always)]
    pub const fn with_lsb(self, bit: bool) -> Block {
        let mut b = self.0;
        b[0] = (b[0] & 0xfe) | bit as u8;
        Block(b)
    }

    /// The linear orthomorphism `sigma(L || R) = (L xor R) || L` on the 64-bit halves
    /// (`L` the high half), as used by the correlation-robust hashes of
    /// Guo, Katz, Wang and Yu (ePrint 2019/074, section 7).
    #[inline(always)]
    pub const fn sigma(self) -> Block {
        let (lo, hi) = self.to_u64_pair();
        Block::from_u64_pair(hi, hi ^ lo)
    }

    /// A uniformly random block.
    #[inline]
    pub fn random<R: rand_core::Rng + ?Sized>(rng: &mut R) -> Block {
        let mut b = [0u8; 16];
        rng.fill_bytes(&mut b);
        Block(b)
    }

    /// `if0` when `bit` is 0 and `if1` when it is 1, in constant time.
    #[inline(always)]
    pub fn select(bit: Choice, if0: Block, if1: Block) -> Block {
        Block::from_u128(u128::conditional_select(
            &if0.to_u128(),
            &if1.to_u128(),
            bit,
        ))
    }

    /// `self` if `bit` is set, else zero, without a branch on `bit`.
    #[inline(always)]
    pub const fn and_bit(self, bit: bool) -> Block {
        let mask = (bit as u128).wrapping_neg();
        Block::from_u128(self.to_u128() & mask)
    }

    /// The 16 bytes.
    #[inline(always)]
    pub const fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }
}

impl From<u128> for Block {
    #[inline(always)]
    fn from(x: u128) -> Block {
        Block::from_u128(x)
    }
}

impl From<[u8; 16]> for Block {
    #[inline(always)]
    fn from(b: [u8; 16]) -> Block {
        Block(b)
    }
}

impl BitXor for Block {
    type Output = Block;
    #[inline(always)]
    fn bitxor(self, rhs: Block) -> Block {
        Block::from_u128(self.to_u128() ^ rhs.to_u128())
    }
}

impl BitXorAssign for Block {
    #[inline(always)]
    fn bitxor_assign(&mut self, rhs: Block) {
        *self = *self ^ rhs;
    }
}

impl BitAnd for Block {
    type Output = Block;
    #[inline(always)]
    fn bitand(self, rhs: Block) -> Block {
        Block::from_u128(self.to_u128() & rhs.to_u128())
    }
}

impl BitAndAssign for Block {
    #[inline(always)]
    fn bitand_assign(&mut self, rhs: Block) {
        *self = *self & rhs;
    }
}

impl ConditionallySelectable for Block {
    #[inline(always)]
    fn conditional_select(a: &Block, b: &Block, choice: Choice) -> Block {
        Block::select(choice, *a, *b)
    }
}

impl zeroize::DefaultIsZeroes for Block {}

impl fmt::Debug for Block {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Block(")?;
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        write!(f, ")")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_view_is_little_endian() {
        let b = Block::from_u128(1);
        assert_eq!(b.0[0], 1);
        assert!(b.lsb());
        assert_eq!(Block::from_u128(0x0100).0[1], 1);
        assert_eq!(Block::from_u64_pair(5, 7).to_u64_pair(), (5, 7));
    }

    #[test]
    fn lsb_and_select() {
        let x = Block::from_u128(0xdead_beef_0000_0000_1234_5678_9abc_def0);
        assert!(!x.lsb());
        assert!(x.with_lsb(true).lsb());
        assert_eq!(x.with_lsb(true).with_lsb(false), x);
        let y = Block::ONES;
        assert_eq!(Block::select(Choice::from(0), x, y), x);
        assert_eq!(Block::select(Choice::from(1), x, y), y);
        assert_eq!(x.and_bit(false), Block::ZERO);
        assert_eq!(x.and_bit(true), x);
    }

    #[test]
    fn sigma_is_a_linear_orthomorphism() {
        // sigma is linear, and both sigma and sigma(x) ^ x are permutations:
        // check linearity and the defining identity on a few values.
        let a = Block::from_u128(0x0123_4567_89ab_cdef_fedc_ba98_7654_3210);
        let b = Block::from_u128(0x1111_2222_3333_4444_5555_6666_7777_8888);
        assert_eq!((a ^ b).sigma(), a.sigma() ^ b.sigma());
        let (lo, hi) = a.to_u64_pair();
        assert_eq!(a.sigma().to_u64_pair(), (hi, hi ^ lo));
        // sigma(x) ^ x = (L ^ R ^ L... ) is invertible: (lo, hi) -> (hi ^ lo, hi ^ lo ^ hi) = (hi^lo, lo)
        let s = a.sigma() ^ a;
        assert_eq!(s.to_u64_pair(), (hi ^ lo, lo));
    }

    #[test]
    fn debug_is_hex() {
        assert_eq!(
            format!("{:?}", Block::from_u128(0xab)),
            "Block(ab000000000000000000000000000000)"
        );
    }
}
