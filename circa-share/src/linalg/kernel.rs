//! The blocked multiply shared by the field and the plain `i64` paths:
//! `out[i][j] = sum_t a[i][t] * b[j][t]` with both operands row-major, four
//! rows of `a` per pass over a row of `b`, and lazy reduction (one reduction
//! per dot product, or per [`Modulus::LAZY_TERMS`] terms).

use crate::field::{Fp, Modulus};

mod sealed {
    pub trait Sealed {}
    impl<M: crate::field::Modulus> Sealed for crate::field::Fp<M> {}
    impl Sealed for i64 {}
    impl Sealed for f64 {}
}

/// A scalar the linear algebra of this crate works on: a field element
/// [`Fp`] (shares and fixed-point references), plain wrapping `i64` (the
/// benchmark reference) or `f64` (plaintext references). Sealed.
pub trait Scalar: Copy + Default + Send + Sync + sealed::Sealed {
    /// The unreduced accumulator.
    type Acc: Copy;
    /// A zero accumulator.
    const ACC_ZERO: Self::Acc;
    /// How many products one accumulator can absorb.
    const CHUNK: usize;
    /// `acc + a * b`, unreduced.
    fn mac(acc: Self::Acc, a: Self, b: Self) -> Self::Acc;
    /// Reduces an accumulator.
    fn reduce(acc: Self::Acc) -> Self;
    /// Adds two reduced values.
    fn add(a: Self, b: Self) -> Self;
    /// The multiplicative identity.
    fn one() -> Self;
}

impl<M: Modulus> Scalar for Fp<M> {
    type Acc = u128;
    const ACC_ZERO: u128 = 0;
    const CHUNK: usize = M::LAZY_TERMS;
    #[inline(always)]
    fn mac(acc: u128, a: Self, b: Self) -> u128 {
        if M::BITS <= 32 {
            // Both factors are below 2^32: a one-uop 64-bit multiply suffices.
            acc + (a.value() * b.value()) as u128
        } else {
            acc + a.value() as u128 * b.value() as u128
        }
    }
    #[inline(always)]
    fn reduce(acc: u128) -> Self {
        Fp::from_u128_reduced(acc)
    }
    #[inline(always)]
    fn add(a: Self, b: Self) -> Self {
        a + b
    }
    #[inline(always)]
    fn one() -> Self {
        Fp::ONE
    }
}

impl Scalar for f64 {
    type Acc = f64;
    const ACC_ZERO: f64 = 0.0;
    const CHUNK: usize = usize::MAX;
    #[inline(always)]
    fn mac(acc: f64, a: f64, b: f64) -> f64 {
        acc + a * b
    }
    #[inline(always)]
    fn reduce(acc: f64) -> f64 {
        acc
    }
    #[inline(always)]
    fn add(a: f64, b: f64) -> f64 {
        a + b
    }
    #[inline(always)]
    fn one() -> f64 {
        1.0
    }
}

impl Scalar for i64 {
    type Acc = i64;
    const ACC_ZERO: i64 = 0;
    const CHUNK: usize = usize::MAX;
    #[inline(always)]
    fn mac(acc: i64, a: i64, b: i64) -> i64 {
        acc.wrapping_add(a.wrapping_mul(b))
    }
    #[inline(always)]
    fn reduce(acc: i64) -> i64 {
        acc
    }
    #[inline(always)]
    fn add(a: i64, b: i64) -> i64 {
        a.wrapping_add(b)
    }
    #[inline(always)]
    fn one() -> i64 {
        1
    }
}

/// Target size in elements of the block of `b` rows kept hot in cache.
const B_BLOCK_ELEMS: usize = 16 * 1024;

#[inline(always)]
fn dot4<T: Scalar>(a: [&[T]; 4], b: &[T]) -> [T; 4] {
    let mut res = [T::default(); 4];
    let mut start = 0;
    while start < b.len() {
        let end = b.len().min(start.saturating_add(T::CHUNK));
        let mut s = [T::ACC_ZERO; 4];
        let rows = a[0][start..end]
            .iter()
            .zip(&a[1][start..end])
            .zip(&a[2][start..end])
            .zip(&a[3][start..end]);
        for ((((&x0, &x1), &x2), &x3), &y) in rows.zip(&b[start..end]) {
            s[0] = T::mac(s[0], x0, y);
            s[1] = T::mac(s[1], x1, y);
            s[2] = T::mac(s[2], x2, y);
            s[3] = T::mac(s[3], x3, y);
        }
        for (r, s) in res.iter_mut().zip(s) {
            *r = T::add(*r, T::reduce(s));
        }
        start = end;
    }
    res
}

#[inline(always)]
fn dot1<T: Scalar>(a: &[T], b: &[T]) -> T {
    let mut res = T::default();
    let mut start = 0;
    while start < b.len() {
        let end = b.len().min(start.saturating_add(T::CHUNK));
        let mut s = T::ACC_ZERO;
        for (&x, &y) in a[start..end].iter().zip(&b[start..end]) {
            s = T::mac(s, x, y);
        }
        res = T::add(res, T::reduce(s));
        start = end;
    }
    res
}

/// How [`gemm_nt`] spreads its output rows over threads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Schedule {
    /// Every row on the calling thread.
    Serial,
    /// Output rows in tasks on rayon's pool: each task a multiple of four
    /// rows (the serial path's row blocks) and at least `min_task_macs`
    /// multiply-accumulates. Every output element is the same dot product
    /// as on the serial path, so results are bit-identical.
    #[cfg(feature = "rayon")]
    Rows {
        /// Lower bound on a task's work (keeps small layers on one thread).
        min_task_macs: usize,
    },
}

impl Schedule {
    /// What the public linear-algebra functions use: serial by default,
    /// rows split over rayon's pool with the `rayon` feature.
    #[cfg(not(feature = "rayon"))]
    pub(crate) const DEFAULT: Self = Self::Serial;
    /// What the public linear-algebra functions use: serial by default,
    /// rows split over rayon's pool with the `rayon` feature.
    #[cfg(feature = "rayon")]
    pub(crate) const DEFAULT: Self = Self::Rows {
        min_task_macs: 1 << 16,
    };
}

/// `out[i * n + j] = dot(a[i*k..(i+1)*k], b[j*k..(j+1)*k])` for `i < m`, `j < n`,
/// with rows of `out` distributed as `schedule` says.
/// Lengths are the caller's responsibility (checked by the public wrappers).
pub(crate) fn gemm_nt<T: Scalar>(
    a: &[T],
    m: usize,
    b: &[T],
    n: usize,
    k: usize,
    out: &mut [T],
    schedule: Schedule,
) {
    match schedule {
        Schedule::Serial => gemm_nt_serial(a, m, b, n, k, out),
        #[cfg(feature = "rayon")]
        Schedule::Rows { min_task_macs } => gemm_nt_rows(a, m, b, n, k, out, min_task_macs),
    }
}

/// Splits the rows of `a` and `out` into tasks of `rows` rows (a multiple of
/// four, so the four-row blocks are those of the serial path) and runs the
/// serial multiply on each in rayon's pool.
#[cfg(feature = "rayon")]
fn gemm_nt_rows<T: Scalar>(
    a: &[T],
    m: usize,
    b: &[T],
    n: usize,
    k: usize,
    out: &mut [T],
    min_task_macs: usize,
) {
    use rayon::prelude::*;
    let row_macs = n.saturating_mul(k).max(1);
    let rows = min_task_macs
        .div_ceil(row_macs)
        .clamp(1, m.max(1))
        .next_multiple_of(4);
    if k == 0 || n == 0 || rows >= m {
        return gemm_nt(a, m, b, n, k, out, Schedule::Serial);
    }
    out[..m * n]
        .par_chunks_mut(rows * n)
        .zip(a[..m * k].par_chunks(rows * k))
        .for_each(|(o, a)| gemm_nt_serial(a, o.len() / n, b, n, k, o));
}

/// The single-threaded blocked multiply (see [`gemm_nt`]).
fn gemm_nt_serial<T: Scalar>(a: &[T], m: usize, b: &[T], n: usize, k: usize, out: &mut [T]) {
    debug_assert!(a.len() >= m * k && b.len() >= n * k && out.len() >= m * n);
    if k == 0 {
        out[..m * n].iter_mut().for_each(|o| *o = T::default());
        return;
    }
    let jb = (B_BLOCK_ELEMS / k).max(1);
    let row = |i: usize| &a[i * k..(i + 1) * k];
    for j0 in (0..n).step_by(jb) {
        let j1 = n.min(j0 + jb);
        let mut i = 0;
        while i + 4 <= m {
            let rows = [row(i), row(i + 1), row(i + 2), row(i + 3)];
            for j in j0..j1 {
                let r = dot4(rows, &b[j * k..(j + 1) * k]);
                for (d, v) in r.into_iter().enumerate() {
                    out[(i + d) * n + j] = v;
                }
            }
            i += 4;
        }
        for i in i..m {
            for j in j0..j1 {
                out[i * n + j] = dot1(row(i), &b[j * k..(j + 1) * k]);
            }
        }
    }
}
