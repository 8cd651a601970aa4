//! Wire labels and the global free-XOR offset `Delta`.

use circa_ot::Block;
use rand_core::CryptoRng;
use subtle::{Choice, ConstantTimeEq};
use zeroize::Zeroize;

use crate::error::Error;

/// The garbler's global free-XOR offset: the one-label of every wire is its zero-label XOR `Delta`.
///
/// Its least significant bit is 1 by construction (point-and-permute needs the two labels of a wire
/// to have different colour bits): [`Delta::random`] sets it and [`Delta::try_from_block`] refuses a
/// block whose lsb is 0. Zeroized on drop; `Debug` is redacted.
#[derive(Clone)]
pub struct Delta(Block);

/// Constant-time (no early exit on the first differing byte).
impl PartialEq for Delta {
    fn eq(&self, other: &Delta) -> bool {
        bool::from(self.ct_eq(other))
    }
}
impl Eq for Delta {}

impl ConstantTimeEq for Delta {
    fn ct_eq(&self, other: &Delta) -> Choice {
        self.0.0.ct_eq(&other.0.0)
    }
}

impl Delta {
    /// A fresh random Delta (lsb forced to 1).
    pub fn random<R: CryptoRng + ?Sized>(rng: &mut R) -> Delta {
        Delta(Block::random(rng).with_lsb(true))
    }

    /// `Ok` only if `block` has lsb 1.
    pub fn try_from_block(block: Block) -> Result<Delta, Error> {
        if block.lsb() {
            Ok(Delta(block))
        } else {
            Err(Error::DeltaLsbZero)
        }
    }

    /// The offset as a block (for correlated OT under this Delta).
    pub fn as_block(&self) -> Block {
        self.0
    }
}

impl TryFrom<Block> for Delta {
    type Error = Error;
    fn try_from(block: Block) -> Result<Delta, Error> {
        Delta::try_from_block(block)
    }
}

impl Drop for Delta {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl core::fmt::Debug for Delta {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Delta(..)")
    }
}

/// One wire label (the evaluator's view of a wire). `Debug` is redacted; `==` is constant-time.
#[derive(Clone, Copy, Default, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(transparent)]
pub struct Label(Block);

impl PartialEq for Label {
    fn eq(&self, other: &Label) -> bool {
        bool::from(self.ct_eq(other))
    }
}
impl Eq for Label {}

impl ConstantTimeEq for Label {
    fn ct_eq(&self, other: &Label) -> Choice {
        self.0.0.ct_eq(&other.0.0)
    }
}

impl Label {
    /// Wraps a block.
    pub const fn from_block(b: Block) -> Label {
        Label(b)
    }
    /// The label's block.
    pub const fn as_block(self) -> Block {
        self.0
    }
    /// The point-and-permute colour bit.
    pub const fn lsb(self) -> bool {
        self.0.lsb()
    }
}

impl zeroize::DefaultIsZeroes for Label {}

impl core::fmt::Debug for Label {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Label(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    #[test]
    fn delta_lsb_is_always_one() {
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        for _ in 0..64 {
            assert!(Delta::random(&mut rng).as_block().lsb());
        }
        assert!(matches!(
            Delta::try_from_block(Block::from_u128(2)),
            Err(Error::DeltaLsbZero)
        ));
        assert!(matches!(
            Delta::try_from(Block::ZERO),
            Err(Error::DeltaLsbZero)
        ));
        assert_eq!(
            Delta::try_from_block(Block::from_u128(3))
                .unwrap()
                .as_block(),
            Block::from_u128(3)
        );
        let (a, b) = (Block::from_u128(5), Block::from_u128(5 | 1 << 100));
        assert!(Label::from_block(a) == Label::from_block(a));
        assert!(Label::from_block(a) != Label::from_block(b));
        assert!(Delta::try_from(a).unwrap() != Delta::try_from(b).unwrap());
        assert!(Delta::try_from(b).unwrap() == Delta::try_from(b).unwrap());
        assert_eq!(format!("{:?}", Delta::random(&mut rng)), "Delta(..)");
        assert_eq!(format!("{:?}", Label::from_block(Block::ONES)), "Label(..)");
    }
}
