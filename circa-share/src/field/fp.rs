//! [`Fp`]: an element of the prime field `Z/PZ`, generic over the [`Modulus`].

use core::fmt;
use core::iter::{Product, Sum};
use core::marker::PhantomData;
use core::ops::{Add, AddAssign, Mul, MulAssign, Neg, Sub, SubAssign};

use rand_core::CryptoRng;
use subtle::{Choice, ConditionallySelectable, ConstantTimeEq};

use super::modulus::Modulus;
use crate::error::Error;

/// Width in bytes of an encoded field element (little-endian `u64`).
pub const FP_BYTES: usize = 8;

/// An element of `Z/PZ`, always stored in canonical form `0 <= v < P`.
///
/// The arithmetic has no branches on values: reductions use conditional
/// subtraction by masks and Barrett reduction with constants from
/// [`Modulus`]. A field element stands for the signed integer of its centred
/// representative (see [`Fp::to_i64`]).
///
/// `Debug` prints the value: `Fp` is a plain value container; types that
/// hold secrets ([`crate::Share`], [`crate::Triples`]) redact it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
#[repr(transparent)]
pub struct Fp<M: Modulus>(u64, PhantomData<M>);

/// `x mod p` for `x < 2p` (with `p < 2^62`), by a masked subtraction.
#[inline(always)]
pub(crate) const fn cond_sub(x: u64, p: u64) -> u64 {
    let r = x.wrapping_sub(p);
    // r has its top bit set exactly when x < p (the subtraction borrowed).
    let mask = 0u64.wrapping_sub(r >> 63);
    r.wrapping_add(p & mask)
}

/// High 128 bits of the 256-bit product `a * b`.
#[inline(always)]
pub(crate) const fn mul_hi_u128(a: u128, b: u128) -> u128 {
    let (a0, a1) = (a as u64 as u128, a >> 64);
    let (b0, b1) = (b as u64 as u128, b >> 64);
    let lo = a0 * b0;
    let m1 = a0 * b1;
    let m2 = a1 * b0;
    let hi = a1 * b1;
    let mid = (lo >> 64) + (m1 as u64 as u128) + (m2 as u64 as u128);
    hi + (m1 >> 64) + (m2 >> 64) + (mid >> 64)
}

impl<M: Modulus> Fp<M> {
    /// The modulus `P`.
    pub const MODULUS: u64 = M::P;
    /// Zero.
    pub const ZERO: Self = Self(0, PhantomData);
    /// One.
    pub const ONE: Self = Self(1, PhantomData);

    #[inline(always)]
    pub(crate) const fn from_canonical_unchecked(v: u64) -> Self {
        Self(v, PhantomData)
    }

    /// The canonical representative `0 <= v < P`.
    #[inline(always)]
    pub const fn value(self) -> u64 {
        self.0
    }

    /// `v` as a field element; a value `>= P` is an error (never reduced).
    #[inline]
    pub fn from_u64(v: u64) -> Result<Self, Error> {
        #[allow(clippy::let_unit_value)]
        let () = M::VALID;
        if v < M::P {
            Ok(Self(v, PhantomData))
        } else {
            Err(Error::NonCanonical {
                value: v,
                modulus: M::P,
            })
        }
    }

    /// `v mod P` for any `u64` (explicit reduction, for sampling and hashing).
    #[inline(always)]
    pub fn from_u64_reduced(v: u64) -> Self {
        let q = ((v as u128 * M::MU_64 as u128) >> 64) as u64;
        // v - q*p lies in [0, 2p).
        Self(
            cond_sub(v.wrapping_sub(q.wrapping_mul(M::P)), M::P),
            PhantomData,
        )
    }

    /// `v mod P` for any `u128` (Barrett with a 128-bit constant).
    #[inline(always)]
    pub fn from_u128_reduced(v: u128) -> Self {
        let q = mul_hi_u128(v, M::MU_128);
        // q is floor(v/p) or one less, so v - q*p lies in [0, 2p).
        let r = v.wrapping_sub(q.wrapping_mul(M::P as u128)) as u64;
        Self(cond_sub(r, M::P), PhantomData)
    }

    /// Reduces a product of two canonical elements (`x < P^2`), HAC 14.42.
    #[inline(always)]
    pub(crate) fn reduce_product(x: u128) -> Self {
        let q1 = (x >> (M::BITS - 1)) as u64;
        let q3 = ((q1 as u128 * M::MU_PRODUCT as u128) >> (M::BITS + 1)) as u64;
        // r = x - q3*p lies in [0, 3p); compute it modulo 2^64.
        let r = (x as u64).wrapping_sub(q3.wrapping_mul(M::P));
        Self(cond_sub(cond_sub(r, M::P), M::P), PhantomData)
    }

    /// Signed embedding: `v` must lie in the centred range
    /// `[-(P-1)/2, (P-1)/2]`, otherwise [`Error::SignedOutOfRange`].
    #[inline]
    pub fn from_i64(v: i64) -> Result<Self, Error> {
        let half = M::HALF as i64;
        if v < -half || v > half {
            return Err(Error::SignedOutOfRange {
                value: v,
                modulus: M::P,
            });
        }
        Ok(Self::from_i64_in_range(v))
    }

    /// Signed embedding of any `i64`, reduced modulo `P` (explicitly lossy
    /// outside the centred range).
    #[inline]
    pub fn from_i64_reduced(v: i64) -> Self {
        let m = Self::from_u64_reduced(v.unsigned_abs());
        let neg = Choice::from((v < 0) as u8);
        Self::conditional_select(&m, &-m, neg)
    }

    #[inline(always)]
    fn from_i64_in_range(v: i64) -> Self {
        let mask = (v >> 63) as u64; // all ones if negative
        Self((v as u64).wrapping_add(M::P & mask), PhantomData)
    }

    /// The centred representative in `[-(P-1)/2, (P-1)/2]`.
    #[inline(always)]
    pub fn to_i64(self) -> i64 {
        // HALF - v borrows exactly when v > HALF.
        let mask = 0u64.wrapping_sub(M::HALF.wrapping_sub(self.0) >> 63);
        (self.0 as i64).wrapping_sub((M::P & mask) as i64)
    }

    /// Fixed-width little-endian encoding (8 bytes).
    #[inline]
    pub fn to_le_bytes(self) -> [u8; FP_BYTES] {
        self.0.to_le_bytes()
    }

    /// Canonical decoding: a value `>= P` is [`Error::NonCanonical`].
    #[inline]
    pub fn from_le_bytes(bytes: [u8; FP_BYTES]) -> Result<Self, Error> {
        Self::from_u64(u64::from_le_bytes(bytes))
    }

    /// A uniformly random element, by rejection sampling on `BITS`-bit
    /// strings (each try succeeds with probability above 1/2; rejected
    /// candidates are discarded, so the timing reveals nothing about the
    /// accepted value).
    pub fn random<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        #[allow(clippy::let_unit_value)]
        let () = M::VALID;
        let mask = (1u64 << M::BITS) - 1;
        loop {
            let v = rng.next_u64() & mask;
            if v < M::P {
                return Self(v, PhantomData);
            }
        }
    }

    /// `self^e` by square-and-multiply (the exponent is public).
    pub fn pow(self, mut e: u64) -> Self {
        let mut base = self;
        let mut acc = Self::ONE;
        while e > 0 {
            if e & 1 == 1 {
                acc *= base;
            }
            base *= base;
            e >>= 1;
        }
        acc
    }

    /// The multiplicative inverse, or `None` for zero.
    pub fn inverse(self) -> Option<Self> {
        if self.0 == 0 {
            None
        } else {
            Some(self.pow(M::P - 2))
        }
    }

    /// Whether this is zero.
    #[inline]
    pub fn is_zero(self) -> bool {
        self.0 == 0
    }
}

impl<M: Modulus> fmt::Debug for Fp<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fp({})", self.0)
    }
}

impl<M: Modulus> fmt::Display for Fp<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl<M: Modulus> zeroize::DefaultIsZeroes for Fp<M> {}

impl<M: Modulus> ConstantTimeEq for Fp<M> {
    fn ct_eq(&self, other: &Self) -> Choice {
        self.0.ct_eq(&other.0)
    }
}

impl<M: Modulus> ConditionallySelectable for Fp<M> {
    fn conditional_select(a: &Self, b: &Self, choice: Choice) -> Self {
        Self(u64::conditional_select(&a.0, &b.0, choice), PhantomData)
    }
}

impl<M: Modulus> Add for Fp<M> {
    type Output = Self;
    #[inline(always)]
    fn add(self, rhs: Self) -> Self {
        Self(cond_sub(self.0 + rhs.0, M::P), PhantomData)
    }
}

impl<M: Modulus> Sub for Fp<M> {
    type Output = Self;
    #[inline(always)]
    fn sub(self, rhs: Self) -> Self {
        let r = self.0.wrapping_sub(rhs.0);
        let mask = 0u64.wrapping_sub(r >> 63);
        Self(r.wrapping_add(M::P & mask), PhantomData)
    }
}

impl<M: Modulus> Mul for Fp<M> {
    type Output = Self;
    #[inline(always)]
    fn mul(self, rhs: Self) -> Self {
        Self::reduce_product(self.0 as u128 * rhs.0 as u128)
    }
}

impl<M: Modulus> Neg for Fp<M> {
    type Output = Self;
    #[inline(always)]
    fn neg(self) -> Self {
        Self::ZERO - self
    }
}

macro_rules! assign_op {
    ($tr:ident, $method:ident, $op:tt) => {
        impl<M: Modulus> $tr for Fp<M> {
            #[inline(always)]
            fn $method(&mut self, rhs: Self) {
                *self = *self $op rhs;
            }
        }
    };
}
assign_op!(AddAssign, add_assign, +);
assign_op!(SubAssign, sub_assign, -);
assign_op!(MulAssign, mul_assign, *);

impl<M: Modulus> Sum for Fp<M> {
    fn sum<I: Iterator<Item = Self>>(iter: I) -> Self {
        iter.fold(Self::ZERO, |a, b| a + b)
    }
}

impl<'a, M: Modulus> Sum<&'a Fp<M>> for Fp<M> {
    fn sum<I: Iterator<Item = &'a Self>>(iter: I) -> Self {
        iter.fold(Self::ZERO, |a, b| a + *b)
    }
}

impl<M: Modulus> Product for Fp<M> {
    fn product<I: Iterator<Item = Self>>(iter: I) -> Self {
        iter.fold(Self::ONE, |a, b| a * b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::field::{P2138816513, P2061584302081};

    fn reduction_edges<M: Modulus>() {
        let p = M::P as u128;
        for v in [
            0u128,
            1,
            p - 1,
            p,
            p + 1,
            2 * p - 1,
            2 * p,
            (p - 1) * (p - 1),
            u64::MAX as u128,
            u128::MAX,
            u128::MAX - 1,
            1 << 127,
        ] {
            assert_eq!(
                Fp::<M>::from_u128_reduced(v).value() as u128,
                v % p,
                "v = {v}"
            );
            if v <= u64::MAX as u128 {
                assert_eq!(Fp::<M>::from_u64_reduced(v as u64).value() as u128, v % p);
            }
            if v < p * p {
                assert_eq!(Fp::<M>::reduce_product(v).value() as u128, v % p);
            }
        }
    }

    #[test]
    fn reduction_edges_both_primes() {
        reduction_edges::<P2061584302081>();
        reduction_edges::<P2138816513>();
    }
}
