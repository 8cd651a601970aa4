//! A buffered view of the session PRG for the garbler's input labels: circa-gc draws them one
//! 16-byte block at a time, and serving those from a large buffer filled in one call is cheaper
//! than a byte-oriented `fill_bytes` per label.

use core::convert::Infallible;

use circa_ot::{Block, Prg};
use rand_core::{TryCryptoRng, TryRng};
use zeroize::Zeroize;

/// Blocks generated per refill (8 KiB).
const BLOCKS: usize = 512;

/// Serves `fill_bytes` requests from keystream blocks of the wrapped [`Prg`], one whole block per
/// request of at most 16 bytes (the rest of that block is discarded, never reused). The buffer is
/// zeroized on drop; unused blocks are discarded with it.
pub(crate) struct BlockRng<'a> {
    prg: &'a mut Prg,
    buf: Vec<Block>,
    next: usize,
}

impl<'a> BlockRng<'a> {
    pub(crate) fn new(prg: &'a mut Prg) -> BlockRng<'a> {
        BlockRng {
            prg,
            buf: vec![Block::ZERO; BLOCKS],
            next: BLOCKS,
        }
    }

    fn block(&mut self) -> Block {
        if self.next == self.buf.len() {
            self.prg.fill_blocks(&mut self.buf);
            self.next = 0;
        }
        let b = self.buf[self.next];
        // Each block is handed out once.
        self.buf[self.next] = Block::ZERO;
        self.next += 1;
        b
    }
}

impl TryRng for BlockRng<'_> {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        Ok(self.block().to_u128() as u32)
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        Ok(self.block().to_u128() as u64)
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        for chunk in dst.chunks_mut(16) {
            let b = self.block();
            chunk.copy_from_slice(&b.as_bytes()[..chunk.len()]);
        }
        Ok(())
    }
}

impl TryCryptoRng for BlockRng<'_> {}

impl Drop for BlockRng<'_> {
    fn drop(&mut self) {
        self.buf.zeroize();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_core::Rng;

    #[test]
    fn serves_distinct_keystream_blocks() {
        let mut prg = Prg::from_seed_block(Block::from_u128(9));
        let mut reference = Prg::from_seed_block(Block::from_u128(9));
        let mut want = vec![Block::ZERO; 2 * BLOCKS + 3];
        reference.fill_blocks(&mut want);
        let mut rng = BlockRng::new(&mut prg);
        for w in &want[..BLOCKS + 1] {
            assert_eq!(Block::random(&mut rng), *w);
        }
        // A short request uses a whole block; a long one several.
        let mut five = [0u8; 5];
        rng.fill_bytes(&mut five);
        assert_eq!(five, want[BLOCKS + 1].as_bytes()[..5]);
        let mut twenty = [0u8; 20];
        rng.fill_bytes(&mut twenty);
        assert_eq!(twenty[..16], want[BLOCKS + 2].as_bytes()[..]);
        assert_eq!(twenty[16..], want[BLOCKS + 3].as_bytes()[..4]);
    }
}
