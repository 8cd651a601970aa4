//! Transposition of a 128 x N bit matrix, the step of IKNP OT extension that
//! turns the 128 column PRG streams into one 128-bit block per OT.
//!
//! Portable Rust on `u64` words: the matrix is cut into 64 x 64 tiles and
//! each tile is transposed with the recursive block-swap method (six stages
//! of masked shifts, Hacker's Delight section 7-3), about 0.3 word operations
//! per bit. Eight tiles are transposed side by side, lane `l` of every
//! vector belonging to tile `l`, so each stage is a handful of lane-wise
//! vector operations. No SIMD intrinsics: the compiler vectorises the safe
//! code with SSE2 by default, and on x86-64 [`transpose_128xn`] dispatches at
//! run time to copies of the same code compiled with AVX2 or AVX-512F (in
//! the crate's one `unsafe` module, `simd`).
//!
//! Bit conventions match [`Block`]: bit `i` of a row is bit `i % 8` of byte
//! `i / 8` of the row's bytes, and bit `j` of an output block is bit `j` of
//! its little-endian integer value ([`Block::to_u128`]).

use crate::Block;

/// Rows of the matrix: one per base OT.
pub const ROWS: usize = 128;

/// Tiles transposed side by side: lane `l` of `tile[r]` belongs to tile `l`.
/// Every stage then works on whole `[u64; LANES]` vectors with lane-wise
/// shifts, which the compiler maps onto SIMD registers (SSE2 always; wider
/// units where the build enables them).
const LANES: usize = 8;

type Tiles = [[u64; LANES]; 64];

/// One stage of the 64 x 64 transpose: swaps the off-diagonal `J x J` blocks
/// within every `2J x 2J` block (`mask` selects the low `J` bits of each `2J`).
#[inline(always)]
fn stage<const J: usize>(a: &mut Tiles, mask: u64) {
    for k in 0..64 {
        if k & J == 0 {
            let (lo, hi) = a.split_at_mut(k + J);
            let (x, y) = (&mut lo[k], &mut hi[0]);
            for l in 0..LANES {
                let t = ((x[l] >> J) ^ y[l]) & mask;
                y[l] ^= t;
                x[l] ^= t << J;
            }
        }
    }
}

/// Transposes `LANES` 64 x 64 bit tiles in place: afterwards bit `r` of
/// `a[c][l]` is what bit `c` of `a[r][l]` was (Hacker's Delight 7-3).
#[inline(always)]
fn transpose64_lanes(a: &mut Tiles) {
    stage::<32>(a, 0x0000_0000_ffff_ffff);
    stage::<16>(a, 0x0000_ffff_0000_ffff);
    stage::<8>(a, 0x00ff_00ff_00ff_00ff);
    stage::<4>(a, 0x0f0f_0f0f_0f0f_0f0f);
    stage::<2>(a, 0x3333_3333_3333_3333);
    stage::<1>(a, 0x5555_5555_5555_5555);
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
    #[cfg(target_arch = "x86_64")]
    crate::simd::wide_transpose::transpose(rows, width, out);
    #[cfg(not(target_arch = "x86_64"))]
    transpose_portable(rows, width, out);
}

/// Blocks per row of the fixed-shape matrices of [`transpose_128x16`].
pub(crate) const SUB_BLOCKS: usize = 16;

/// [`transpose_128xn`] of a 128 x 2048 matrix whose rows are arrays (OT
/// extension's sub-chunks): only the first `out.len()` columns are written.
///
/// # Panics
/// If `out.len() > 2048`.
pub(crate) fn transpose_128x16(rows: &[[Block; SUB_BLOCKS]; ROWS], out: &mut [Block]) {
    #[cfg(target_arch = "x86_64")]
    crate::simd::wide_transpose::transpose_rows(rows, out);
    #[cfg(not(target_arch = "x86_64"))]
    {
        assert!(out.len() <= 128 * SUB_BLOCKS, "transpose: too many columns");
        transpose_portable(bytemuck::cast_slice(&rows[..]), SUB_BLOCKS, out);
    }
}

/// [`transpose_128xn`] in plain Rust (the caller checked the sizes).
#[inline(always)]
pub(crate) fn transpose_portable(rows: &[Block], width: usize, out: &mut [Block]) {
    let bytes: &[u8] = bytemuck::cast_slice(rows);
    let row_bytes = 16 * width;
    // Rows 0..64 in `tiles[0]`, rows 64..128 in `tiles[1]`.
    let mut tiles: [Tiles; 2] = [[[0u64; LANES]; 64]; 2];
    // A group covers LANES 64-bit words of every row: columns 64 * LANES * g ...
    for (g, out_group) in out.chunks_mut(64 * LANES).enumerate() {
        let first_word = g * LANES;
        let lanes = out_group.len().div_ceil(64);
        for (half, t) in tiles.iter_mut().enumerate() {
            for (r, tile_row) in t.iter_mut().enumerate() {
                let start = (64 * half + r) * row_bytes + 8 * first_word;
                let src = &bytes[start..start + 8 * lanes];
                for (t, w) in tile_row.iter_mut().zip(src.chunks_exact(8)) {
                    let mut b = [0u8; 8];
                    b.copy_from_slice(w);
                    *t = u64::from_le_bytes(b);
                }
            }
            transpose64_lanes(t);
        }
        for (k, col) in out_group.iter_mut().enumerate() {
            let (r, l) = (k % 64, k / 64);
            *col = Block::from_u64_pair(tiles[0][r][l], tiles[1][r][l]);
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
        let mut a: Tiles = [[0u64; LANES]; 64];
        for x in a.iter_mut().flatten() {
            *x = prg.random_block().to_u64_pair().0;
        }
        let orig = a;
        transpose64_lanes(&mut a);
        for l in 0..LANES {
            for r in 0..64 {
                for c in 0..64 {
                    assert_eq!((a[c][l] >> r) & 1, (orig[r][l] >> c) & 1);
                }
            }
        }
        transpose64_lanes(&mut a);
        assert_eq!(a, orig);
    }

    #[test]
    fn matches_naive_for_several_widths() {
        let mut prg = Prg::from_seed_block(Block::from_u128(7));
        for (width, cols) in [
            (1, 128),
            (1, 37),
            (3, 384),
            (3, 300),
            (8, 1000),
            (2, 64),
            (9, 1152),
            (9, 1100),
            (20, 2560),
        ] {
            let mut rows = vec![Block::ZERO; ROWS * width];
            prg.fill_blocks(&mut rows);
            let mut fast = vec![Block::ZERO; cols];
            let mut slow = vec![Block::ZERO; cols];
            transpose_128xn(&rows, width, &mut fast);
            transpose_naive(&rows, width, &mut slow);
            assert_eq!(fast, slow, "width {width}, {cols} columns");
            let mut portable = vec![Block::ZERO; cols];
            transpose_portable(&rows, width, &mut portable);
            assert_eq!(portable, slow, "portable, width {width}, {cols} columns");
        }
    }

    #[test]
    fn fixed_shape_matches_naive() {
        let mut prg = Prg::from_seed_block(Block::from_u128(11));
        let mut rows = [[Block::ZERO; SUB_BLOCKS]; ROWS];
        prg.fill_blocks(bytemuck::cast_slice_mut(&mut rows[..]));
        for cols in [2048, 2047, 1024, 129, 1] {
            let mut fast = vec![Block::ZERO; cols];
            let mut slow = vec![Block::ZERO; cols];
            transpose_128x16(&rows, &mut fast);
            transpose_naive(bytemuck::cast_slice(&rows[..]), SUB_BLOCKS, &mut slow);
            assert_eq!(fast, slow, "{cols} columns");
        }
    }

    /// Every kernel level the CPU has (portable, AVX2, AVX-512 with GFNI),
    /// both entry points, against the naive transpose on random matrices,
    /// full and partial column counts (a partial last block goes through
    /// the padded path).
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn every_level_matches_naive() {
        use crate::simd::wide_transpose::{Level, transpose_at, transpose_rows_at};
        let levels = Level::available();
        assert!(levels.contains(&Level::Portable));
        println!("transpose levels: {levels:?}");
        let mut prg = Prg::from_seed_block(Block::from_u128(13));
        for &level in &levels {
            assert!(level.detected());
            for _ in 0..4 {
                let mut rows = [[Block::ZERO; SUB_BLOCKS]; ROWS];
                prg.fill_blocks(bytemuck::cast_slice_mut(&mut rows[..]));
                for cols in [2048, 2047, 1920, 1025, 128, 127, 1, 0] {
                    let mut fast = vec![Block::ONES; cols];
                    let mut slow = vec![Block::ZERO; cols];
                    transpose_rows_at(level, &rows, &mut fast);
                    transpose_naive(bytemuck::cast_slice(&rows[..]), SUB_BLOCKS, &mut slow);
                    assert_eq!(fast, slow, "{level:?}, fixed shape, {cols} columns");
                }
            }
            for (width, cols) in [
                (1, 128),
                (1, 5),
                (3, 300),
                (9, 1152),
                (20, 2560),
                (20, 2431),
            ] {
                let mut rows = vec![Block::ZERO; ROWS * width];
                prg.fill_blocks(&mut rows);
                let mut fast = vec![Block::ONES; cols];
                let mut slow = vec![Block::ZERO; cols];
                transpose_at(level, &rows, width, &mut fast);
                transpose_naive(&rows, width, &mut slow);
                assert_eq!(fast, slow, "{level:?}, width {width}, {cols} columns");
            }
        }
    }

    /// The fixed-shape transpose of OT extension (128 x 2048, in L1) at every
    /// level, best of 2000 runs (a printout, not a test): `cargo test -p
    /// circa-ot --release --lib level_speeds -- --ignored --nocapture`.
    #[cfg(target_arch = "x86_64")]
    #[test]
    #[ignore = "measurement, not a test"]
    fn level_speeds() {
        use crate::simd::wide_transpose::{Level, transpose_rows_at};
        let mut rows = [[Block::ZERO; SUB_BLOCKS]; ROWS];
        Prg::from_seed_block(Block::from_u128(17))
            .fill_blocks(bytemuck::cast_slice_mut(&mut rows[..]));
        let mut out = vec![Block::ZERO; 128 * SUB_BLOCKS];
        for level in Level::available() {
            let best = (0..2000)
                .map(|_| {
                    let t = std::time::Instant::now();
                    transpose_rows_at(level, std::hint::black_box(&rows), &mut out);
                    t.elapsed().as_secs_f64()
                })
                .fold(f64::INFINITY, f64::min);
            println!(
                "{level:?}: {:.2} ns per column",
                best / out.len() as f64 * 1e9
            );
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
