//! Fixed-point encoding of reals in the field, rescaling, and local
//! truncation of additive shares.
//!
//! A real `r` is encoded as the field element of the integer `round(r * 2^f)`
//! (signed, centred). A product of two encodings carries scale `2^(2f)` and
//! is brought back to `2^f` by dropping `f` low bits.
//!
//! # Local share truncation
//!
//! Let `x = c + s mod p` with the client holding `c` and the server `s`, and
//! let `t = (p - s) mod p`, so `x = c - t mod p`. To divide by `2^k`:
//!
//! * the client replaces `c` by `floor(c / 2^k)` (its share read as an
//!   unsigned integer in `[0, p)`);
//! * the server replaces `s` by `-floor(t / 2^k) mod p` (the wrap
//!   correction: it shifts the integer `p - s`, not `s`).
//!
//! If the integers satisfy `c - t = x` (no wrap), the new shares reconstruct
//! to `floor(x / 2^k)` or `floor(x / 2^k) + 1`: an error of at most one unit
//! in the last place. If `c - t = x - p` or `x + p` (a wrap), the result is
//! off by about `p / 2^k`: a failure. With `c` uniform and `x` the centred
//! value, the failure probability is exactly `|x| / p` (for `x >= 0` the wrap
//! happens iff `c < x`; for `x < 0` iff `c >= p + x`). Failures are measured
//! in the crate's tests. For the 31-bit Circa prime and `|x| = 2^20`, this is
//! about `4.9 * 10^-4` per truncation; for Delphi's 41-bit prime, `4.8 * 10^-7`.

use core::marker::PhantomData;

use crate::error::Error;
use crate::field::{Fp, Modulus};

/// Fixed-point parameters: `f` fractional bits in the field `Fp<M>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FixedPoint<M: Modulus> {
    frac_bits: u32,
    _field: PhantomData<M>,
}

impl<M: Modulus> FixedPoint<M> {
    /// Parameters with `frac_bits` fractional bits. A product of two encodings
    /// (scale `2^(2f)`) must still represent magnitudes of at least 1, so
    /// `2f + 2 <= bits(p)` is required.
    pub fn new(frac_bits: u32) -> Result<Self, Error> {
        let needed = frac_bits.checked_mul(2).and_then(|b| b.checked_add(2));
        if needed.is_none_or(|b| b > M::BITS) {
            return Err(Error::FracBitsTooLarge {
                frac_bits,
                field_bits: M::BITS,
            });
        }
        Ok(Self {
            frac_bits,
            _field: PhantomData,
        })
    }

    /// The number of fractional bits `f`.
    pub fn frac_bits(&self) -> u32 {
        self.frac_bits
    }

    /// `2^f` as a float.
    pub fn scale(&self) -> f64 {
        (self.frac_bits as f64).exp2()
    }

    /// Encodes `r` at scale `2^f`: `round(r * 2^f)`. Errors when `r` is not
    /// finite or the result is outside the centred range of the field.
    pub fn encode(&self, r: f64) -> Result<Fp<M>, Error> {
        encode_at_scale(r, self.frac_bits)
    }

    /// Encodes a slice at scale `2^f`.
    pub fn encode_many(&self, rs: &[f64]) -> Result<Vec<Fp<M>>, Error> {
        rs.iter().map(|&r| self.encode(r)).collect()
    }

    /// Encodes `r` at the product scale `2^(2f)` (e.g. a bias added after a
    /// linear layer, before rescaling).
    pub fn encode_product_scale(&self, r: f64) -> Result<Fp<M>, Error> {
        encode_at_scale(r, 2 * self.frac_bits)
    }

    /// Decodes a value at scale `2^f`.
    pub fn decode(&self, x: Fp<M>) -> f64 {
        x.to_i64() as f64 / self.scale()
    }

    /// Decodes a slice at scale `2^f`.
    pub fn decode_many(&self, xs: &[Fp<M>]) -> Vec<f64> {
        xs.iter().map(|&x| self.decode(x)).collect()
    }

    /// Decodes a value at the product scale `2^(2f)`.
    pub fn decode_product(&self, x: Fp<M>) -> f64 {
        x.to_i64() as f64 / (2.0 * self.frac_bits as f64).exp2()
    }

    /// Plaintext rescaling after a product: `floor(x / 2^f)` of the centred
    /// value (the reference for [`truncate_client_share`] and
    /// [`truncate_server_share`], which may add one unit).
    pub fn rescale(&self, x: Fp<M>) -> Fp<M> {
        truncate_plain(x, self.frac_bits)
    }
}

fn encode_at_scale<M: Modulus>(r: f64, bits: u32) -> Result<Fp<M>, Error> {
    if !r.is_finite() {
        return Err(Error::NotFinite);
    }
    let v = (r * (bits as f64).exp2()).round();
    // Every |v| <= HALF < 2^61 is exactly representable as an i64.
    if v.abs() > M::HALF as f64 {
        return Err(Error::FixedPointOverflow {
            value: r,
            frac_bits: bits,
        });
    }
    Fp::from_i64(v as i64)
}

/// `floor(x / 2^bits)` of the centred value of `x` (an arithmetic shift).
pub fn truncate_plain<M: Modulus>(x: Fp<M>, bits: u32) -> Fp<M> {
    // |x >> bits| <= |x| stays in the centred range.
    Fp::from_i64_reduced(x.to_i64() >> bits.min(63))
}

/// The client's half of local share truncation: `floor(c / 2^bits)`.
pub fn truncate_client_share<M: Modulus>(c: Fp<M>, bits: u32) -> Fp<M> {
    Fp::from_canonical_unchecked(c.value() >> bits.min(63))
}

/// The server's half of local share truncation: `-floor(((p - s) mod p) / 2^bits)`.
pub fn truncate_server_share<M: Modulus>(s: Fp<M>, bits: u32) -> Fp<M> {
    let t = (-s).value();
    -Fp::from_canonical_unchecked(t >> bits.min(63))
}

/// The exact probability that local truncation of a value with centred
/// representative `x` fails (wraps), for a uniformly random client share:
/// `|x| / p`.
pub fn truncation_failure_probability<M: Modulus>(x: Fp<M>) -> f64 {
    x.to_i64().unsigned_abs() as f64 / M::P as f64
}
