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

/// Fills `out` with keystream blocks of `prg` exactly as `out.len()` calls of `Block::random` on
/// a fresh [`BlockRng`] over `prg` would, leaving `prg` in the same state (the rest of the last
/// refill is drawn and wiped): one bulk fill instead of one request per block.
pub(crate) fn fill_like_block_rng(prg: &mut Prg, out: &mut [Block]) {
    prg.fill_blocks(out);
    let rest = out.len().next_multiple_of(BLOCKS) - out.len();
    if rest > 0 {
        let mut discard = [Block::ZERO; BLOCKS];
        prg.fill_blocks(&mut discard[..rest]);
        discard.zeroize();
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

    /// The bulk fill gives the blocks a fresh `BlockRng` hands out and leaves the PRG where the
    /// `BlockRng` leaves it, for lengths on and off the refill size.
    #[test]
    fn bulk_fill_is_a_block_rng() {
        for n in [0, 1, BLOCKS - 1, BLOCKS, BLOCKS + 1, 3 * BLOCKS + 17] {
            let mut a = Prg::from_seed_block(Block::from_u128(n as u128 + 1));
            let mut b = Prg::from_seed_block(Block::from_u128(n as u128 + 1));
            let want: Vec<Block> = {
                let mut rng = BlockRng::new(&mut a);
                (0..n).map(|_| Block::random(&mut rng)).collect()
            };
            let mut got = vec![Block::ZERO; n];
            fill_like_block_rng(&mut b, &mut got);
            assert_eq!(got, want, "n = {n}");
            assert_eq!(
                a.random_block(),
                b.random_block(),
                "PRG state after n = {n}"
            );
        }
    }
}
