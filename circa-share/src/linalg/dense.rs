//! Dense (fully connected) layers: matrix-vector products.

use super::kernel::{DotScalar, Schedule, gemm_nt};
use crate::error::Error;
use crate::field::batch::check_len;
use crate::field::{Fp, Modulus};

pub(crate) fn dense_generic<T: DotScalar>(
    weights: &[T],
    rows: usize,
    cols: usize,
    x: &[T],
    schedule: Schedule,
) -> Result<Vec<T>, Error> {
    let len = rows.checked_mul(cols).ok_or(Error::ShapeOverflow)?;
    check_len(len, weights.len())?;
    check_len(cols, x.len())?;
    let mut out = vec![T::default(); rows];
    gemm_nt(weights, rows, x, 1, cols, &mut out, schedule);
    Ok(out)
}

/// `W x` for a row-major `rows x cols` matrix `W` over the field (linear:
/// applies to a share or a plaintext; no bias). With the `rayon` feature
/// the rows are split over rayon's pool (bit-identical results).
pub fn dense<M: Modulus>(
    weights: &[Fp<M>],
    rows: usize,
    cols: usize,
    x: &[Fp<M>],
) -> Result<Vec<Fp<M>>, Error> {
    dense_generic(weights, rows, cols, x, Schedule::DEFAULT)
}

/// The same product in plain wrapping `i64` arithmetic (split over rayon's
/// pool the same way with the `rayon` feature).
pub fn dense_i64(weights: &[i64], rows: usize, cols: usize, x: &[i64]) -> Result<Vec<i64>, Error> {
    dense_generic(weights, rows, cols, x, Schedule::DEFAULT)
}
