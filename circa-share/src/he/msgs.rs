//! The three messages and their canonical byte encoding.
//!
//! Every message starts with a 16-byte header: kind (1 public key, 2 query,
//! 3 answer), parameter set id, the plan's tag ([`HePlan::tag`], u16 LE;
//! zero for the public key), the field prime `t` (u64 LE) and the
//! ciphertext count (u32 LE). Bodies are fixed-width bit-packed
//! little-endian integers (bit `k` of the stream is bit `k mod 8` of byte
//! `k / 8`), each field padded to a whole byte with zero bits:
//!
//! * public key: `seed(16) | p0` (NTT form, per query prime `N` values of
//!   `bits(q_i)` bits);
//! * query: per ciphertext `seed(16) | c0` (as the public key's `p0`);
//! * answer: per ciphertext `c1` (`N` values mod `q_f`, `bits(q_f)` bits) |
//!   `c0` at the returned positions (`bits(q_f) - d0` bits each, the value
//!   `floor((c0 + 2^(d0-1)) / 2^d0)`).
//!
//! Decoding checks, before anything else, that the length is exactly the
//! one the public plan gives, then every header field, then that every
//! value is reduced and every padding bit is zero: a message that decodes
//! is the encoding of exactly one valid value, and nothing read from the
//! peer decides an allocation.

use super::params::{HeParams, packed_len};
use super::plan::{HEADER_BYTES, HePlan};
use crate::error::Error;
use crate::field::Modulus;

pub(crate) const KIND_PUBLIC_KEY: u8 = 1;
pub(crate) const KIND_QUERY: u8 = 2;
pub(crate) const KIND_ANSWER: u8 = 3;

/// Appends `values` packed at `bits` bits each.
pub(crate) fn pack(out: &mut Vec<u8>, values: &[u64], bits: u32) {
    let start = out.len();
    out.resize(start + packed_len(values.len(), bits), 0);
    let buf = &mut out[start..];
    let mut acc: u128 = 0;
    let mut nbits = 0u32;
    let mut pos = 0;
    for &v in values {
        acc |= (v as u128) << nbits;
        nbits += bits;
        while nbits >= 8 {
            buf[pos] = acc as u8;
            pos += 1;
            acc >>= 8;
            nbits -= 8;
        }
    }
    if nbits > 0 {
        buf[pos] = acc as u8;
    }
}

/// Reads `out.len()` values of `bits` bits from `buf` (exactly
/// `packed_len(out.len(), bits)` bytes), each `<= max`, with zero padding.
pub(crate) fn unpack(
    buf: &[u8],
    bits: u32,
    max: u64,
    out: &mut [u64],
    what: &'static str,
) -> Result<(), Error> {
    debug_assert_eq!(buf.len(), packed_len(out.len(), bits));
    let mask = (1u128 << bits) - 1;
    let mut acc: u128 = 0;
    let mut nbits = 0u32;
    let mut bytes = buf.iter();
    for (index, d) in out.iter_mut().enumerate() {
        while nbits < bits {
            acc |= (*bytes.next().unwrap_or(&0) as u128) << nbits;
            nbits += 8;
        }
        let v = (acc & mask) as u64;
        acc >>= bits;
        nbits -= bits;
        if v > max {
            return Err(Error::HeNonCanonical { what, index });
        }
        *d = v;
    }
    if acc != 0 {
        return Err(Error::HeNonCanonical {
            what,
            index: out.len(),
        });
    }
    Ok(())
}

fn header<M: Modulus>(out: &mut Vec<u8>, kind: u8, params: &HeParams<M>, tag: u16, count: usize) {
    out.extend_from_slice(&[kind, params.set().id()]);
    out.extend_from_slice(&tag.to_le_bytes());
    out.extend_from_slice(&M::P.to_le_bytes());
    out.extend_from_slice(&(count as u32).to_le_bytes());
}

fn check_header<M: Modulus>(
    bytes: &[u8],
    kind: u8,
    params: &HeParams<M>,
    tag: u16,
    count: usize,
    what: &'static str,
) -> Result<(), Error> {
    let field = |field: &'static str, expected: u64, actual: u64| {
        if expected == actual {
            Ok(())
        } else {
            Err(Error::HeHeader {
                what,
                field,
                expected,
                actual,
            })
        }
    };
    field("kind", kind as u64, bytes[0] as u64)?;
    field("parameter set", params.set().id() as u64, bytes[1] as u64)?;
    field(
        "plan tag",
        tag as u64,
        u16::from_le_bytes([bytes[2], bytes[3]]) as u64,
    )?;
    let t = u64::from_le_bytes(bytes[4..12].try_into().unwrap_or_default());
    field("plaintext modulus", M::P, t)?;
    let c = u32::from_le_bytes(bytes[12..16].try_into().unwrap_or_default());
    field("ciphertext count", count as u64, c as u64)
}

/// `Error::HeHeader` on a ciphertext count other than the plan's.
pub(crate) fn check_count(what: &'static str, expected: usize, actual: usize) -> Result<(), Error> {
    if expected == actual {
        Ok(())
    } else {
        Err(Error::HeHeader {
            what,
            field: "ciphertext count",
            expected: expected as u64,
            actual: actual as u64,
        })
    }
}

fn check_size(what: &'static str, expected: usize, actual: usize) -> Result<(), Error> {
    if expected == actual {
        Ok(())
    } else {
        Err(Error::HeMessageSize {
            what,
            expected,
            actual,
        })
    }
}

/// A seed and a polynomial modulo the query primes in NTT form (a fresh
/// ciphertext's `c0` or the public key's `p0`).
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct SeededPoly {
    pub seed: [u8; 16],
    /// Limb-major, `N` values per query prime.
    pub c0: Vec<u64>,
}

impl SeededPoly {
    fn encode<M: Modulus>(&self, params: &HeParams<M>, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.seed);
        let n = params.degree();
        for (p, limb) in params.inner.query.iter().zip(self.c0.chunks_exact(n)) {
            pack(out, limb, p.bits);
        }
    }

    fn decode<M: Modulus>(
        params: &HeParams<M>,
        buf: &[u8],
        what: &'static str,
    ) -> Result<Self, Error> {
        let n = params.degree();
        let mut seed = [0u8; 16];
        seed.copy_from_slice(&buf[..16]);
        let mut c0 = vec![0u64; n * params.inner.query.len()];
        let mut at = 16;
        for (p, limb) in params.inner.query.iter().zip(c0.chunks_exact_mut(n)) {
            let len = packed_len(n, p.bits);
            unpack(&buf[at..at + len], p.bits, p.q - 1, limb, what)?;
            at += len;
        }
        Ok(Self { seed, c0 })
    }
}

/// The client's public key (sent once per session and parameter set).
#[derive(Clone, PartialEq, Eq)]
pub struct HePublicKey {
    pub(crate) set: super::params::HeParamSet,
    pub(crate) key: SeededPoly,
}

impl core::fmt::Debug for HePublicKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "HePublicKey({:?})", self.set)
    }
}

impl HePublicKey {
    /// Exact encoded size under `params`.
    pub fn encoded_len<M: Modulus>(params: &HeParams<M>) -> usize {
        HEADER_BYTES + params.query_ct_bytes()
    }

    /// Canonical encoding.
    pub fn to_bytes<M: Modulus>(&self, params: &HeParams<M>) -> Vec<u8> {
        let mut out = Vec::with_capacity(Self::encoded_len(params));
        header(&mut out, KIND_PUBLIC_KEY, params, 0, 1);
        self.key.encode(params, &mut out);
        out
    }

    /// Decodes and validates a public key for `params`.
    pub fn from_bytes<M: Modulus>(params: &HeParams<M>, bytes: &[u8]) -> Result<Self, Error> {
        const WHAT: &str = "public key";
        check_size(WHAT, Self::encoded_len(params), bytes.len())?;
        check_header(bytes, KIND_PUBLIC_KEY, params, 0, 1, WHAT)?;
        Ok(Self {
            set: params.set(),
            key: SeededPoly::decode(params, &bytes[HEADER_BYTES..], WHAT)?,
        })
    }
}

/// The client's query for one layer: its mask, encrypted.
#[derive(Clone, PartialEq, Eq)]
pub struct HeQuery {
    pub(crate) cts: Vec<SeededPoly>,
}

impl core::fmt::Debug for HeQuery {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "HeQuery({} ciphertexts)", self.cts.len())
    }
}

impl HeQuery {
    /// Canonical encoding (exactly [`HePlan::query_bytes`] bytes).
    pub fn to_bytes<M: Modulus>(&self, plan: &HePlan<M>) -> Vec<u8> {
        let mut out = Vec::with_capacity(plan.query_bytes());
        header(
            &mut out,
            KIND_QUERY,
            &plan.params,
            plan.tag(),
            self.cts.len(),
        );
        for ct in &self.cts {
            ct.encode(&plan.params, &mut out);
        }
        out
    }

    /// Decodes and validates a query for `plan`.
    pub fn from_bytes<M: Modulus>(plan: &HePlan<M>, bytes: &[u8]) -> Result<Self, Error> {
        const WHAT: &str = "query";
        check_size(WHAT, plan.query_bytes(), bytes.len())?;
        check_header(
            bytes,
            KIND_QUERY,
            &plan.params,
            plan.tag(),
            plan.n_in(),
            WHAT,
        )?;
        let ct_len = plan.params.query_ct_bytes();
        let cts = bytes[HEADER_BYTES..]
            .chunks_exact(ct_len)
            .map(|b| SeededPoly::decode(&plan.params, b, WHAT))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { cts })
    }

    /// Ciphertexts in the query.
    pub fn len(&self) -> usize {
        self.cts.len()
    }

    /// Whether the query holds no ciphertext.
    pub fn is_empty(&self) -> bool {
        self.cts.is_empty()
    }
}

/// One returned ciphertext: `c1` mod `q_f` (all `N` coefficients) and the
/// compressed `c0` at the returned positions.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct AnswerCt {
    pub c1: Vec<u64>,
    pub c0: Vec<u64>,
}

/// The server's answer for one layer.
#[derive(Clone, PartialEq, Eq)]
pub struct HeAnswer {
    pub(crate) cts: Vec<AnswerCt>,
}

impl core::fmt::Debug for HeAnswer {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "HeAnswer({} ciphertexts)", self.cts.len())
    }
}

/// Largest compressed `c0` value: `floor((q_f - 1 + 2^(d0-1)) / 2^d0)`.
pub(crate) fn c0_max<M: Modulus>(params: &HeParams<M>) -> u64 {
    let d0 = params.set().dropped_bits();
    (params.inner.fin.q - 1 + (1 << (d0 - 1))) >> d0
}

impl HeAnswer {
    /// Canonical encoding (exactly [`HePlan::answer_bytes`] bytes).
    pub fn to_bytes<M: Modulus>(&self, plan: &HePlan<M>) -> Vec<u8> {
        let params = &plan.params;
        let mut out = Vec::with_capacity(plan.answer_bytes());
        header(&mut out, KIND_ANSWER, params, plan.tag(), self.cts.len());
        for ct in &self.cts {
            pack(&mut out, &ct.c1, params.final_bits());
            pack(&mut out, &ct.c0, params.c0_bits());
        }
        out
    }

    /// Decodes and validates an answer for `plan`.
    pub fn from_bytes<M: Modulus>(plan: &HePlan<M>, bytes: &[u8]) -> Result<Self, Error> {
        const WHAT: &str = "answer";
        let params = &plan.params;
        check_size(WHAT, plan.answer_bytes(), bytes.len())?;
        check_header(bytes, KIND_ANSWER, params, plan.tag(), plan.n_out(), WHAT)?;
        let n = params.degree();
        let (fb, cb) = (params.final_bits(), params.c0_bits());
        let mut at = HEADER_BYTES;
        let mut cts = Vec::with_capacity(plan.n_out());
        for o in 0..plan.n_out() {
            let useful = plan.useful_count(o);
            let mut c1 = vec![0u64; n];
            let len = packed_len(n, fb);
            unpack(
                &bytes[at..at + len],
                fb,
                params.inner.fin.q - 1,
                &mut c1,
                WHAT,
            )?;
            at += len;
            let mut c0 = vec![0u64; useful];
            let len = packed_len(useful, cb);
            unpack(&bytes[at..at + len], cb, c0_max(params), &mut c0, WHAT)?;
            at += len;
            cts.push(AnswerCt { c1, c0 });
        }
        Ok(Self { cts })
    }

    /// Ciphertexts in the answer.
    pub fn len(&self) -> usize {
        self.cts.len()
    }

    /// Whether the answer holds no ciphertext.
    pub fn is_empty(&self) -> bool {
        self.cts.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packing_round_trips_and_rejects_non_canonical() {
        for bits in [7u32, 33, 44, 52, 55, 62] {
            let max = (1u64 << bits) - 3;
            let vals: Vec<u64> = (0..13u64)
                .map(|i| (i * 0x9E37_79B9_7F4A_7C15) % (max + 1))
                .collect();
            let mut buf = Vec::new();
            pack(&mut buf, &vals, bits);
            assert_eq!(buf.len(), packed_len(vals.len(), bits));
            let mut back = vec![0; vals.len()];
            unpack(&buf, bits, max, &mut back, "t").unwrap();
            assert_eq!(back, vals);
            // A value above the bound.
            let mut big = vals.clone();
            big[5] = max + 1;
            let mut b2 = Vec::new();
            pack(&mut b2, &big, bits);
            assert!(matches!(
                unpack(&b2, bits, max, &mut back, "t"),
                Err(Error::HeNonCanonical { index: 5, .. })
            ));
            // A set padding bit.
            if !(vals.len() * bits as usize).is_multiple_of(8) {
                let mut b3 = buf.clone();
                *b3.last_mut().unwrap() |= 0x80;
                assert!(matches!(
                    unpack(&b3, bits, max, &mut back, "t"),
                    Err(Error::HeNonCanonical { .. })
                ));
            }
        }
    }
}
