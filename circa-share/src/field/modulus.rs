//! The [`Modulus`] trait: a prime below 2^62 and every constant the
//! arithmetic needs, all computed at compile time from the prime.

use core::fmt::Debug;
use core::hash::Hash;

/// A prime modulus `P` with `3 <= P < 2^62`.
///
/// Implementors set only [`Modulus::P`] and [`Modulus::NAME`]; every other
/// constant has a default computed from `P` at compile time and must not be
/// overridden. Referencing a field type whose `P` is not an odd prime in
/// range fails to compile (see [`Modulus::VALID`]; the primality check is a
/// deterministic Miller-Rabin test evaluated by the compiler).
pub trait Modulus:
    'static + Copy + Clone + Debug + Default + PartialEq + Eq + Hash + Send + Sync
{
    /// The prime.
    const P: u64;
    /// A short human-readable name, used in `Debug` output and reports.
    const NAME: &'static str;

    /// Compile-time validity check: `P` is an odd prime below 2^62.
    const VALID: () = assert!(
        Self::P >= 3 && Self::P < (1 << 62) && is_prime(Self::P),
        "Modulus::P must be an odd prime below 2^62"
    );
    /// `bits(P)`: the number of bits of the prime (`2^(BITS-1) <= P < 2^BITS`).
    const BITS: u32 = 64 - Self::P.leading_zeros();
    /// `(P - 1) / 2`: the largest non-negative value in the centred range.
    const HALF: u64 = (Self::P - 1) / 2;
    /// `floor(2^(2*BITS) / P)`, the Barrett constant for products (`< 2^(BITS+1)`).
    const MU_PRODUCT: u64 = ((1u128 << (2 * Self::BITS)) / Self::P as u128) as u64;
    /// `floor(2^64 / P)`, the Barrett constant for reducing any `u64`.
    const MU_64: u64 = ((1u128 << 64) / Self::P as u128) as u64;
    /// `floor((2^128 - 1) / P) = floor(2^128 / P)` (P is odd), for reducing any `u128`.
    const MU_128: u128 = u128::MAX / Self::P as u128;
    /// How many products of two canonical elements (each `< P^2`) can be
    /// summed in a `u128` without overflow, capped at 2^32.
    const LAZY_TERMS: usize = {
        let free = 128 - 2 * Self::BITS;
        if free >= 32 { 1 << 32 } else { 1 << free }
    };
}

/// Delphi's prime `p = 2061584302081 = 15 * 2^37 + 1` (41 bits).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct P2061584302081;

impl Modulus for P2061584302081 {
    const P: u64 = 2_061_584_302_081;
    const NAME: &'static str = "p41 (Delphi, 2061584302081)";
}

/// Circa's prime `p = 2138816513 = 2^14 * 7 * 17 * 1097 + 1` (31 bits).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct P2138816513;

impl Modulus for P2138816513 {
    const P: u64 = 2_138_816_513;
    const NAME: &'static str = "p31 (Circa, 2138816513)";
}

const fn mul_mod(a: u64, b: u64, m: u64) -> u64 {
    ((a as u128 * b as u128) % m as u128) as u64
}

const fn pow_mod(mut base: u64, mut exp: u64, m: u64) -> u64 {
    let mut acc = 1 % m;
    base %= m;
    while exp > 0 {
        if exp & 1 == 1 {
            acc = mul_mod(acc, base, m);
        }
        base = mul_mod(base, base, m);
        exp >>= 1;
    }
    acc
}

/// Deterministic Miller-Rabin primality test for any `u64` (the first twelve
/// primes as bases suffice below 3.3 * 10^24). Usable in constant context.
pub const fn is_prime(n: u64) -> bool {
    const BASES: [u64; 12] = [2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37];
    if n < 2 {
        return false;
    }
    let mut i = 0;
    while i < BASES.len() {
        if n == BASES[i] {
            return true;
        }
        if n.is_multiple_of(BASES[i]) {
            return false;
        }
        i += 1;
    }
    let mut d = n - 1;
    let mut s = 0;
    while d.is_multiple_of(2) {
        d /= 2;
        s += 1;
    }
    let mut i = 0;
    while i < BASES.len() {
        let mut x = pow_mod(BASES[i], d, n);
        if x != 1 && x != n - 1 {
            let mut r = 1;
            let mut witness = true;
            while r < s {
                x = mul_mod(x, x, n);
                if x == n - 1 {
                    witness = false;
                    break;
                }
                r += 1;
            }
            if witness {
                return false;
            }
        }
        i += 1;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_primes_are_prime_and_sized() {
        assert!(is_prime(P2061584302081::P));
        assert!(is_prime(P2138816513::P));
        assert_eq!(P2061584302081::BITS, 41);
        assert_eq!(P2138816513::BITS, 31);
        assert_eq!(P2061584302081::P, 15 * (1 << 37) + 1);
        assert_eq!(P2138816513::P, (1 << 14) * 7 * 17 * 1097 + 1);
    }

    #[test]
    fn miller_rabin_agrees_with_trial_division() {
        fn trial(n: u64) -> bool {
            n >= 2
                && (2..)
                    .take_while(|d| d * d <= n)
                    .all(|d| !n.is_multiple_of(d))
        }
        for n in 0..5000u64 {
            assert_eq!(is_prime(n), trial(n), "n = {n}");
        }
        // Carmichael numbers and strong pseudoprimes to small bases.
        for n in [561u64, 1105, 1729, 2047, 3215031751, 3825123056546413051] {
            assert!(!is_prime(n), "n = {n}");
        }
        assert!(is_prime((1 << 61) - 1));
        assert!(!is_prime((1 << 62) - 1));
    }

    #[test]
    fn lazy_terms_fit() {
        // LAZY_TERMS products below P^2 must fit in a u128.
        let p = P2061584302081::P as u128;
        let n = P2061584302081::LAZY_TERMS as u128;
        assert!((p - 1) * (p - 1) <= u128::MAX / n);
    }
}
