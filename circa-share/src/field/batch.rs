//! Batched operations on slices of field elements: element-wise arithmetic,
//! lazily reduced dot products, bulk encoding/decoding and sampling.

use rand_core::CryptoRng;

use super::fp::{FP_BYTES, Fp};
use super::modulus::Modulus;
use crate::error::Error;

#[inline]
pub(crate) fn check_len(expected: usize, actual: usize) -> Result<(), Error> {
    if expected == actual {
        Ok(())
    } else {
        Err(Error::LengthMismatch { expected, actual })
    }
}

/// `acc[i] += x[i]`.
pub fn add_assign_many<M: Modulus>(acc: &mut [Fp<M>], x: &[Fp<M>]) -> Result<(), Error> {
    check_len(acc.len(), x.len())?;
    acc.iter_mut().zip(x).for_each(|(a, b)| *a += *b);
    Ok(())
}

/// `acc[i] -= x[i]`.
pub fn sub_assign_many<M: Modulus>(acc: &mut [Fp<M>], x: &[Fp<M>]) -> Result<(), Error> {
    check_len(acc.len(), x.len())?;
    acc.iter_mut().zip(x).for_each(|(a, b)| *a -= *b);
    Ok(())
}

/// `acc[i] *= x[i]`.
pub fn mul_assign_many<M: Modulus>(acc: &mut [Fp<M>], x: &[Fp<M>]) -> Result<(), Error> {
    check_len(acc.len(), x.len())?;
    acc.iter_mut().zip(x).for_each(|(a, b)| *a *= *b);
    Ok(())
}

/// `acc[i] *= c` for a public scalar `c`.
pub fn scale_assign_many<M: Modulus>(acc: &mut [Fp<M>], c: Fp<M>) {
    acc.iter_mut().for_each(|a| *a *= c);
}

/// `acc[i] += a[i] * b[i]`, one reduction per element.
pub fn mul_add_many<M: Modulus>(acc: &mut [Fp<M>], a: &[Fp<M>], b: &[Fp<M>]) -> Result<(), Error> {
    check_len(acc.len(), a.len())?;
    check_len(acc.len(), b.len())?;
    for ((z, x), y) in acc.iter_mut().zip(a).zip(b) {
        *z = Fp::from_u128_reduced(x.value() as u128 * y.value() as u128 + z.value() as u128);
    }
    Ok(())
}

/// `sum_i a[i] * b[i]`, accumulated in a `u128` and reduced once per
/// [`Modulus::LAZY_TERMS`] terms.
pub fn dot<M: Modulus>(a: &[Fp<M>], b: &[Fp<M>]) -> Result<Fp<M>, Error> {
    check_len(a.len(), b.len())?;
    Ok(dot_lazy(a, b))
}

/// Lazily reduced dot product over the common prefix of `a` and `b`.
#[inline]
pub(crate) fn dot_lazy<M: Modulus>(a: &[Fp<M>], b: &[Fp<M>]) -> Fp<M> {
    let n = a.len().min(b.len());
    let mut total = Fp::ZERO;
    for (ca, cb) in a[..n]
        .chunks(M::LAZY_TERMS)
        .zip(b[..n].chunks(M::LAZY_TERMS))
    {
        let mut acc: u128 = 0;
        for (x, y) in ca.iter().zip(cb) {
            acc += x.value() as u128 * y.value() as u128;
        }
        total += Fp::from_u128_reduced(acc);
    }
    total
}

/// Writes `xs` into `out` as fixed-width little-endian bytes
/// (`out.len()` must be `8 * xs.len()`).
pub fn encode_into<M: Modulus>(xs: &[Fp<M>], out: &mut [u8]) -> Result<(), Error> {
    check_len(xs.len() * FP_BYTES, out.len())?;
    for (x, chunk) in xs.iter().zip(out.chunks_exact_mut(FP_BYTES)) {
        chunk.copy_from_slice(&x.to_le_bytes());
    }
    Ok(())
}

/// `xs` as fixed-width little-endian bytes (8 per element).
pub fn encode_many<M: Modulus>(xs: &[Fp<M>]) -> Vec<u8> {
    let mut out = vec![0u8; xs.len() * FP_BYTES];
    for (x, chunk) in xs.iter().zip(out.chunks_exact_mut(FP_BYTES)) {
        chunk.copy_from_slice(&x.to_le_bytes());
    }
    out
}

/// Canonical bulk decoding into `out` (`bytes.len()` must be `8 * out.len()`);
/// any value `>= P` is [`Error::NonCanonical`].
pub fn decode_into<M: Modulus>(bytes: &[u8], out: &mut [Fp<M>]) -> Result<(), Error> {
    check_len(out.len() * FP_BYTES, bytes.len())?;
    for (o, chunk) in out.iter_mut().zip(bytes.chunks_exact(FP_BYTES)) {
        let mut b = [0u8; FP_BYTES];
        b.copy_from_slice(chunk);
        *o = Fp::from_le_bytes(b)?;
    }
    Ok(())
}

/// Canonical bulk decoding; the length must be a multiple of 8 and every
/// value below `P`.
pub fn decode_many<M: Modulus>(bytes: &[u8]) -> Result<Vec<Fp<M>>, Error> {
    if !bytes.len().is_multiple_of(FP_BYTES) {
        return Err(Error::LengthMismatch {
            expected: bytes.len().next_multiple_of(FP_BYTES),
            actual: bytes.len(),
        });
    }
    let mut out = vec![Fp::ZERO; bytes.len() / FP_BYTES];
    decode_into(bytes, &mut out)?;
    Ok(out)
}

/// Bytes per element in the packed encoding: `ceil(bits(p) / 8)`.
pub const fn packed_width<M: Modulus>() -> usize {
    M::BITS.div_ceil(8) as usize
}

/// Packed little-endian encoding into `out` (`packed_width` bytes per
/// element; `out.len()` must be `packed_width * xs.len()`).
pub fn encode_packed_into<M: Modulus>(xs: &[Fp<M>], out: &mut [u8]) -> Result<(), Error> {
    let w = packed_width::<M>();
    check_len(xs.len() * w, out.len())?;
    for (x, chunk) in xs.iter().zip(out.chunks_exact_mut(w)) {
        chunk.copy_from_slice(&x.to_le_bytes()[..w]);
    }
    Ok(())
}

/// Canonical decoding of the packed encoding; a value `>= P` is
/// [`Error::NonCanonical`].
pub fn decode_packed_into<M: Modulus>(bytes: &[u8], out: &mut [Fp<M>]) -> Result<(), Error> {
    let w = packed_width::<M>();
    check_len(out.len() * w, bytes.len())?;
    for (o, chunk) in out.iter_mut().zip(bytes.chunks_exact(w)) {
        let mut b = [0u8; FP_BYTES];
        b[..w].copy_from_slice(chunk);
        *o = Fp::from_le_bytes(b)?;
    }
    Ok(())
}

/// Fills `out` with independent uniform elements.
pub fn fill_random<M: Modulus, R: CryptoRng + ?Sized>(rng: &mut R, out: &mut [Fp<M>]) {
    out.iter_mut().for_each(|o| *o = Fp::random(rng));
}

/// `n` independent uniform elements.
pub fn random_many<M: Modulus, R: CryptoRng + ?Sized>(rng: &mut R, n: usize) -> Vec<Fp<M>> {
    (0..n).map(|_| Fp::random(rng)).collect()
}
