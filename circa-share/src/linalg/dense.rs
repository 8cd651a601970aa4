//! Dense (fully connected) layers: matrix-vector products.

use super::kernel::{Scalar, Schedule, gemm_nt};
use crate::error::Error;
use crate::field::batch::check_len;

pub(crate) fn dense_generic<T: Scalar>(
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

/// `W x` for a row-major `rows x cols` matrix `W` over any [`Scalar`]
/// (linear: applies to a share or a plaintext; no bias). With the `rayon`
/// feature the rows are split over rayon's pool (bit-identical results).
pub fn dense<T: Scalar>(weights: &[T], rows: usize, cols: usize, x: &[T]) -> Result<Vec<T>, Error> {
    dense_generic(weights, rows, cols, x, Schedule::DEFAULT)
}
