//! Transposition of a 128 x N bit matrix, the step of IKNP OT extension that
//! turns the 128 column PRG streams into one 128-bit block per OT.
//!
//! Portable Rust on `u64` words: the matrix is cut into 64 x 64 tiles and
//! each tile is transposed with the recursive block-swap method (six stages
//! of masked shifts, Hacker's Delight section 7-3), about 0.3 word operations
//! per bit. No `unsafe`, no SIMD intrinsics; the compiler vectorises the
//! stages with the baseline SSE2 it may always use.
//!
//! Bit conventions match [`Block`]: bit `i` of a row is bit `i % 8` of byte
//! `i / 8` of the row's bytes, and bit `j` of an output block is bit `j` of
//! its little-endian integer value ([`Block::to_u128`]).

use crate::Block;

/// Rows of the matrix: one per base OT.
pub const ROWS: usize = 128;

/// Transposes a 64 x 64 bit tile in place: afterwards bit `r` of `a[c]` is
/// what bit `c` of `a[r]` was.
#[inline(always)]
fn transpose64(a: &mut [u64; 64]) {
    #[inline(always)]
    fn stage<const J: usize>(a: &mut [u64; 64], mask: u64) {
        for k in 0..64 {
            if k & J == 0 {
                let t = ((a[k] >> J) ^ a[k + J]) & mask;
                a[k + J] ^= t;
                a[k] ^= t << J;
            }
        }
    }
    stage::<32>(a, 0x0000_0000_ffff_ffff);
    stage::<16>(a, 0x0000_ffff_0000_ffff);
    stage::<8>(a, 0x00ff_00ff_00ff_00ff);
    stage::<4>(a, 0x0f0f_0f0f_0f0f_0f0f);
    stage::<2>(a, 0x3333_3333_3333_3333);
    stage::<1>(a, 0x5555_5555_5555_5555);
}

/// The `half`-th (0 = low, 1 = high) 64-bit word of a block.
#[inline(always)]
fn word(b: &Block, half: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b.0[8 * half..8 * half + 8]);
    u64::from_le_bytes(w)
}

/// Transposes the 128-row matrix `rows` (row-major, each row `width` blocks,
/// i.e. `128 * width` bits) into `out`: bit `j` of `out[i]` is bit `i` of row
/// `j`. Only the first `out.len()` columns are written; the rest are ignored.
///
/// # Panics
/// If `rows.len() != 128 * width` or `out.len() > 128 * width` (caller bugs).
pub fn transpose_128xn(rows: &[Block], width: usize, out: &mut [Block]) {
    assert_eq!(rows.len(), ROWS * width, "transpose: matrix size");
    assert!(out.len() <= 128 * width, "transpose: too many columns");
    let mut lo = [0u64; 64];
    let mut hi = [0u64; 64];
    // Tile g covers columns 64g .. 64g + 64: word (g % 2) of block g / 2 of each row.
    for (g, out_tile) in out.chunks_mut(64).enumerate() {
        let (blk, half) = (g / 2, g % 2);
        for r in 0..64 {
            lo[r] = word(&rows[r * width + blk], half);
            hi[r] = word(&rows[(64 + r) * width + blk], half);
        }
        transpose64(&mut lo);
        transpose64(&mut hi);
        for (k, o) in out_tile.iter_mut().enumerate() {
            *o = Block::from_u64_pair(lo[k], hi[k]);
        }
    }
}

/// The obvious bit-by-bit transpose, for tests.
#[cfg(test)]
pub(crate) fn transpose_naive(rows: &[Block], width: usize, out: &mut [Block]) {
    for (i, o) in out.iter_mut().enumerate() {
        let mut x = 0u128;
        for j in 0..ROWS {
            let bit = (rows[j * width + i / 128].to_u128() >> (i % 128)) & 1;
            x |= bit << j;
        }
        *o = Block::from_u128(x);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Prg;

    #[test]
    #[allow(clippy::needless_range_loop)]
    fn tile_transpose_is_an_involution_and_correct() {
        let mut prg = Prg::from_seed_block(Block::from_u128(3));
        let mut a = [0u64; 64];
        for x in a.iter_mut() {
            *x = prg.random_block().to_u64_pair().0;
        }
        let orig = a;
        transpose64(&mut a);
        for r in 0..64 {
            for c in 0..64 {
                assert_eq!((a[c] >> r) & 1, (orig[r] >> c) & 1);
            }
        }
        transpose64(&mut a);
        assert_eq!(a, orig);
    }

    #[test]
    fn matches_naive_for_several_widths() {
        let mut prg = Prg::from_seed_block(Block::from_u128(7));
        for (width, cols) in [(1, 128), (1, 37), (3, 384), (3, 300), (8, 1000), (2, 64)] {
            let mut rows = vec![Block::ZERO; ROWS * width];
            prg.fill_blocks(&mut rows);
            let mut fast = vec![Block::ZERO; cols];
            let mut slow = vec![Block::ZERO; cols];
            transpose_128xn(&rows, width, &mut fast);
            transpose_naive(&rows, width, &mut slow);
            assert_eq!(fast, slow, "width {width}, {cols} columns");
        }
    }

    #[test]
    fn single_bit_lands_in_the_right_place() {
        let width = 2;
        let mut rows = vec![Block::ZERO; ROWS * width];
        // Row 77, column 200 -> block 1 of row 77, bit 72.
        rows[77 * width + 1] = Block::from_u128(1 << 72);
        let mut out = vec![Block::ZERO; 256];
        transpose_128xn(&rows, width, &mut out);
        for (i, o) in out.iter().enumerate() {
            let want = if i == 200 { 1u128 << 77 } else { 0 };
            assert_eq!(o.to_u128(), want, "column {i}");
        }
    }
}
