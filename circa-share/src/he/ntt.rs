//! Arithmetic modulo one NTT-friendly prime `q < 2^62` (`q = 1 mod 2N`) and
//! the negacyclic number-theoretic transform of `Z_q[X]/(X^N + 1)`.
//!
//! Forward: Cooley-Tukey with the powers of a primitive `2N`-th root `psi`
//! merged into the twiddles (natural order in, bit-reversed order out);
//! inverse: Gentleman-Sande (bit-reversed in, natural out), the standard
//! pair of Longa and Naehrig (CANS 2016). Twiddle products use Shoup's
//! precomputed quotients; general products use Barrett reduction. Every
//! reduction is a masked subtraction, never a branch on a value, so the
//! transform runs in time independent of the (secret) data.

use crate::field::fp::{cond_sub, mul_hi_u128};

/// Floor division of any `u128` by a fixed public divisor `d < 2^64`,
/// without a branch or a hardware division on the (secret) dividend:
/// `mu = floor((2^128 - 1) / d)` gives a quotient estimate at most two
/// short, fixed by two masked corrections.
#[derive(Clone, Copy, Debug)]
pub(crate) struct CtDiv {
    d: u128,
    mu: u128,
}

impl CtDiv {
    pub fn new(d: u64) -> Self {
        assert!(d > 1, "divisor must exceed 1");
        Self {
            d: d as u128,
            mu: u128::MAX / d as u128,
        }
    }

    /// `(floor(x / d), x mod d)`.
    #[inline(always)]
    pub fn div_rem(&self, x: u128) -> (u128, u64) {
        // The estimate is at most two short (x mu / 2^128 > x/d - 1 - 1/d).
        let mut q = mul_hi_u128(x, self.mu);
        let mut r = x - q * self.d;
        for _ in 0..2 {
            let (r2, borrow) = r.overflowing_sub(self.d);
            let keep = 0u128.wrapping_sub(borrow as u128); // all ones when r < d
            r = (r & keep) | (r2 & !keep);
            q += 1 & !keep;
        }
        (q, r as u64)
    }
}

/// One prime of a residue number system with its NTT tables for degree `n`.
#[derive(Clone, Debug)]
pub(crate) struct NttPrime {
    /// The prime.
    pub q: u64,
    /// `bits(q)`.
    pub bits: u32,
    /// `floor(2^(2 bits) / q)`, the Barrett constant for products.
    mu: u64,
    /// Degree `N`.
    n: usize,
    /// `psi^bitrev(i)` for `i < N`, and Shoup quotients.
    fwd: Vec<u64>,
    fwd_shoup: Vec<u64>,
    /// `psi^-bitrev(i)` for `i < N`, and Shoup quotients.
    inv: Vec<u64>,
    inv_shoup: Vec<u64>,
    /// `N^-1 mod q` and its Shoup quotient.
    n_inv: u64,
    n_inv_shoup: u64,
}

/// `floor(w 2^64 / q)` for `w < q`.
#[inline]
fn shoup(w: u64, q: u64) -> u64 {
    (((w as u128) << 64) / q as u128) as u64
}

/// `x w mod q` given `ws = shoup(w, q)`, for any `x < 2^64`.
#[inline(always)]
fn mul_shoup(x: u64, w: u64, ws: u64, q: u64) -> u64 {
    let qh = ((x as u128 * ws as u128) >> 64) as u64;
    cond_sub(x.wrapping_mul(w).wrapping_sub(qh.wrapping_mul(q)), q)
}

const fn pow_mod(mut b: u64, mut e: u64, q: u64) -> u64 {
    let mut acc = 1u64;
    b %= q;
    while e > 0 {
        if e & 1 == 1 {
            acc = ((acc as u128 * b as u128) % q as u128) as u64;
        }
        b = ((b as u128 * b as u128) % q as u128) as u64;
        e >>= 1;
    }
    acc
}

impl NttPrime {
    /// Tables for the prime `q` and degree `n` (a power of two). Returns
    /// `None` unless `q` is an odd prime below `2^62` with `q = 1 mod 2n`.
    pub fn new(q: u64, n: usize) -> Option<Self> {
        let two_n = 2 * n as u64;
        if !n.is_power_of_two()
            || n < 2
            || q >= 1 << 62
            || q % two_n != 1
            || !crate::field::is_prime(q)
        {
            return None;
        }
        // A primitive 2n-th root: g^((q-1)/2n) for the smallest g that gives
        // psi^n = -1 (then psi has order exactly 2n).
        let psi = (2..q)
            .map(|g| pow_mod(g, (q - 1) / two_n, q))
            .find(|&c| pow_mod(c, n as u64, q) == q - 1)?;
        let psi_inv = pow_mod(psi, q - 2, q);
        let log_n = n.trailing_zeros();
        let bitrev = |i: usize| {
            if log_n == 0 {
                0
            } else {
                i.reverse_bits() >> (usize::BITS - log_n)
            }
        };
        let mut fwd = vec![0u64; n];
        let mut inv = vec![0u64; n];
        let (mut p, mut pi) = (1u64, 1u64);
        for i in 0..n {
            fwd[bitrev(i)] = p;
            inv[bitrev(i)] = pi;
            p = ((p as u128 * psi as u128) % q as u128) as u64;
            pi = ((pi as u128 * psi_inv as u128) % q as u128) as u64;
        }
        let fwd_shoup = fwd.iter().map(|&w| shoup(w, q)).collect();
        let inv_shoup = inv.iter().map(|&w| shoup(w, q)).collect();
        let n_inv = pow_mod(n as u64, q - 2, q);
        let bits = 64 - q.leading_zeros();
        Some(Self {
            q,
            bits,
            mu: ((1u128 << (2 * bits)) / q as u128) as u64,
            n,
            fwd,
            fwd_shoup,
            inv,
            inv_shoup,
            n_inv,
            n_inv_shoup: shoup(n_inv, q),
        })
    }

    /// `x mod q` for `x < q^2` (Barrett).
    #[inline(always)]
    pub fn reduce_product(&self, x: u128) -> u64 {
        let q1 = (x >> (self.bits - 1)) as u64;
        let q3 = ((q1 as u128 * self.mu as u128) >> (self.bits + 1)) as u64;
        let r = (x as u64).wrapping_sub(q3.wrapping_mul(self.q));
        cond_sub(cond_sub(r, self.q), self.q)
    }

    /// `a b mod q` for `a, b < q`.
    #[inline(always)]
    pub fn mul(&self, a: u64, b: u64) -> u64 {
        self.reduce_product(a as u128 * b as u128)
    }

    /// `a + b mod q` for `a, b < q`.
    #[inline(always)]
    pub fn add(&self, a: u64, b: u64) -> u64 {
        cond_sub(a + b, self.q)
    }

    /// `a - b mod q` for `a, b < q`.
    #[inline(always)]
    pub fn sub(&self, a: u64, b: u64) -> u64 {
        cond_sub(a + self.q - b, self.q)
    }

    /// A signed value `|v| < q` as a residue, without a branch on `v`.
    #[inline(always)]
    pub fn signed(&self, v: i64) -> u64 {
        let neg = 0u64.wrapping_sub((v as u64) >> 63);
        let mag = v.unsigned_abs();
        cond_sub((mag & !neg) | ((self.q - mag) & neg), self.q)
    }

    /// Any `u64` reduced modulo `q`.
    #[inline(always)]
    pub fn reduce_u64(&self, v: u64) -> u64 {
        self.reduce_product(v as u128)
    }

    /// In-place forward negacyclic NTT (natural order in, bit-reversed out).
    pub fn forward(&self, a: &mut [u64]) {
        debug_assert_eq!(a.len(), self.n);
        let q = self.q;
        let mut t = self.n;
        let mut m = 1;
        while m < self.n {
            t >>= 1;
            for i in 0..m {
                let (w, ws) = (self.fwd[m + i], self.fwd_shoup[m + i]);
                let (lo, hi) = a[2 * i * t..2 * i * t + 2 * t].split_at_mut(t);
                for (x, y) in lo.iter_mut().zip(hi.iter_mut()) {
                    let u = *x;
                    let v = mul_shoup(*y, w, ws, q);
                    *x = cond_sub(u + v, q);
                    *y = cond_sub(u + q - v, q);
                }
            }
            m <<= 1;
        }
    }

    /// In-place inverse negacyclic NTT (bit-reversed in, natural order out).
    pub fn inverse(&self, a: &mut [u64]) {
        debug_assert_eq!(a.len(), self.n);
        let q = self.q;
        let mut t = 1;
        let mut m = self.n;
        while m > 1 {
            let h = m >> 1;
            for i in 0..h {
                let (w, ws) = (self.inv[h + i], self.inv_shoup[h + i]);
                let (lo, hi) = a[2 * i * t..2 * i * t + 2 * t].split_at_mut(t);
                for (x, y) in lo.iter_mut().zip(hi.iter_mut()) {
                    let (u, v) = (*x, *y);
                    *x = cond_sub(u + v, q);
                    *y = mul_shoup(u + q - v, w, ws, q);
                }
            }
            t <<= 1;
            m = h;
        }
        for x in a.iter_mut() {
            *x = mul_shoup(*x, self.n_inv, self.n_inv_shoup, q);
        }
    }

    /// `acc += a * b` element-wise (NTT domain).
    pub fn mul_acc(&self, acc: &mut [u64], a: &[u64], b: &[u64]) {
        for ((z, &x), &y) in acc.iter_mut().zip(a).zip(b) {
            *z = self.add(*z, self.mul(x, y));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Schoolbook negacyclic product, the oracle.
    fn negacyclic(p: &NttPrime, a: &[u64], b: &[u64]) -> Vec<u64> {
        let n = a.len();
        let mut out = vec![0u64; n];
        for (i, &x) in a.iter().enumerate() {
            for (j, &y) in b.iter().enumerate() {
                let v = p.mul(x, y);
                let k = i + j;
                if k < n {
                    out[k] = p.add(out[k], v);
                } else {
                    out[k - n] = p.sub(out[k - n], v);
                }
            }
        }
        out
    }

    #[test]
    fn ntt_product_matches_schoolbook() {
        let mut st = 7u64;
        let mut next = || {
            st = st
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            st >> 11
        };
        for (q, n) in [
            (12289u64, 16usize),
            (4611686018427322369, 64),
            (1099511480321, 32),
        ] {
            let p = NttPrime::new(q, n).expect("NTT prime");
            let a: Vec<u64> = (0..n).map(|_| next() % q).collect();
            let b: Vec<u64> = (0..n).map(|_| next() % q).collect();
            let want = negacyclic(&p, &a, &b);
            let (mut fa, mut fb) = (a.clone(), b.clone());
            p.forward(&mut fa);
            p.forward(&mut fb);
            let mut prod = vec![0u64; n];
            p.mul_acc(&mut prod, &fa, &fb);
            p.inverse(&mut prod);
            assert_eq!(prod, want, "q = {q}, n = {n}");
            p.inverse(&mut fa);
            assert_eq!(fa, a);
        }
    }

    #[test]
    fn refuses_unfriendly_moduli() {
        assert!(NttPrime::new(12289, 16).is_some());
        assert!(NttPrime::new(12289, 8192).is_none()); // 12289 != 1 mod 16384
        assert!(NttPrime::new(12291, 2).is_none()); // not prime
        assert!(NttPrime::new(17, 6).is_none()); // degree not a power of two
    }

    #[test]
    fn constant_time_division() {
        for d in [2u64, 3, 12289, 2061584302081, 4611686018427322369, u64::MAX] {
            let div = CtDiv::new(d);
            for x in [
                0u128,
                1,
                d as u128 - 1,
                d as u128,
                12345678901234567890123,
                u128::MAX,
                u128::MAX - 7,
            ] {
                assert_eq!(
                    div.div_rem(x),
                    (x / d as u128, (x % d as u128) as u64),
                    "{x} / {d}"
                );
            }
        }
    }

    #[test]
    fn arithmetic_edges() {
        let p = NttPrime::new(4611686018427322369, 8).unwrap();
        let q = p.q;
        assert_eq!(p.mul(q - 1, q - 1), 1);
        assert_eq!(p.signed(-1), q - 1);
        assert_eq!(p.signed(5), 5);
        assert_eq!(p.sub(0, 1), q - 1);
        assert_eq!(p.reduce_u64(u64::MAX), u64::MAX % q);
    }
}
