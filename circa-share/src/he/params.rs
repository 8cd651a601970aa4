//! Public BFV parameters: ring degree, the query modulus `Q = q_1 q_2`
//! (two NTT primes), the response modulus `q_f` (one NTT prime sized for the
//! field prime `t = M::P`), and the bits of `c0` dropped in an answer.
//!
//! Security: ternary secret, centred binomial error of variance 10
//! (`sigma = 3.16`), at the 128-bit classical bounds of the
//! HomomorphicEncryption.org standard (Albrecht et al., 2018/2021,
//! table for ternary secrets): `N = 4096` with `log2 Q <= 109`,
//! `N = 8192` with `log2 Q <= 218`. The response modulus is smaller than
//! `Q`, so the same bound covers it.

use std::sync::Arc;

use super::ntt::{CtDiv, NttPrime};
use crate::error::Error;
use crate::field::Modulus;

/// A named parameter set (the choice is public; both parties agree on it
/// from the public layer shapes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HeParamSet {
    /// `N = 4096`, `Q = q_1 q_2` of 55 + 54 bits (`log2 Q < 109`).
    N4096,
    /// `N = 8192`, `Q = q_1 q_2` of 62 + 62 bits (`log2 Q < 124`, bound 218).
    N8192,
}

impl HeParamSet {
    /// Every set, smallest first.
    pub const ALL: [HeParamSet; 2] = [HeParamSet::N4096, HeParamSet::N8192];

    /// The ring degree `N`.
    pub const fn degree(self) -> usize {
        match self {
            HeParamSet::N4096 => 4096,
            HeParamSet::N8192 => 8192,
        }
    }

    /// The query primes `q_1, q_2` (each `= 1 mod 2N`).
    pub const fn query_primes(self) -> [u64; 2] {
        match self {
            HeParamSet::N4096 => [36_028_797_018_652_673, 18_014_398_509_309_953],
            HeParamSet::N8192 => [4_611_686_018_427_322_369, 4_611_686_018_427_289_601],
        }
    }

    /// The standard's largest `log2 Q` for 128-bit security at this degree.
    pub const fn max_log_q(self) -> u32 {
        match self {
            HeParamSet::N4096 => 109,
            HeParamSet::N8192 => 218,
        }
    }

    /// Bits of the response modulus beyond `bits(t)` (room for the
    /// rounding noise of the response, see [`super::noise`]).
    pub(crate) const fn final_extra_bits(self) -> u32 {
        match self {
            HeParamSet::N4096 => 10,
            HeParamSet::N8192 => 11,
        }
    }

    /// Low bits of each returned `c0` coefficient that are not sent.
    pub const fn dropped_bits(self) -> u32 {
        match self {
            HeParamSet::N4096 => 7,
            HeParamSet::N8192 => 8,
        }
    }

    /// Wire identifier.
    pub(crate) const fn id(self) -> u8 {
        match self {
            HeParamSet::N4096 => 1,
            HeParamSet::N8192 => 2,
        }
    }
}

/// The largest prime `p < 2^bits` with `p = 1 mod 2n` (deterministic).
fn ntt_prime_below(bits: u32, n: usize) -> Option<u64> {
    let step = 2 * n as u64;
    let mut k = ((1u64 << bits) - 1) / step;
    while k > 0 {
        let p = k * step + 1;
        if p < 1 << (bits - 1) {
            return None;
        }
        if crate::field::is_prime(p) {
            return Some(p);
        }
        k -= 1;
    }
    None
}

pub(crate) struct Inner {
    pub set: HeParamSet,
    pub n: usize,
    /// Query primes, `q_1` first (the one kept when switching down).
    pub query: Vec<NttPrime>,
    /// The response prime `q_f`.
    pub fin: NttPrime,
    /// `Q = prod q_i` (below `2^124`).
    pub q: u128,
    /// `floor(Q / t) mod q_i` for each query prime.
    pub delta_mod: Vec<u64>,
    /// `Q mod t`.
    pub rho: u64,
    /// `q_2^-1 mod q_1`.
    pub q2_inv_mod_q1: u64,
    /// `q_2 mod q_1`.
    pub q2_mod_q1: u64,
    /// The field prime.
    pub t: u64,
    /// Division by `2t`, by `q_1` and by `q_f` (public divisors, secret
    /// dividends).
    pub div_2t: CtDiv,
    pub div_q1: CtDiv,
    pub div_qf: CtDiv,
    /// Reduction of 128-bit values modulo each query prime.
    pub div_query: Vec<CtDiv>,
}

/// Public parameters for the field `M` (cheap to clone; shared by every
/// session).
pub struct HeParams<M: Modulus> {
    pub(crate) inner: Arc<Inner>,
    _m: core::marker::PhantomData<M>,
}

impl<M: Modulus> Clone for HeParams<M> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
            _m: core::marker::PhantomData,
        }
    }
}

impl<M: Modulus> core::fmt::Debug for HeParams<M> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("HeParams")
            .field("set", &self.inner.set)
            .field("t", &self.inner.t)
            .field("q_f", &self.inner.fin.q)
            .finish()
    }
}

fn inv_mod(a: u64, p: &NttPrime) -> u64 {
    // Fermat (p is prime); public values only.
    let mut acc = 1u64;
    let (mut b, mut e) = (a % p.q, p.q - 2);
    while e > 0 {
        if e & 1 == 1 {
            acc = p.mul(acc, b);
        }
        b = p.mul(b, b);
        e >>= 1;
    }
    acc
}

impl<M: Modulus> HeParams<M> {
    /// Builds (and checks) the parameter set for the field `M`.
    ///
    /// # Errors
    ///
    /// [`Error::LimitExceeded`] if the field prime is too wide for the set
    /// (the response modulus needs `bits(p) + 11 <= 62`).
    pub fn new(set: HeParamSet) -> Result<Self, Error> {
        let n = set.degree();
        let fbits = M::BITS + set.final_extra_bits();
        let limit = 62 - set.final_extra_bits();
        let too_wide = Error::LimitExceeded {
            what: "field bits for HE",
            requested: M::BITS as u64,
            limit: limit as u64,
        };
        if fbits > 62 {
            return Err(too_wide);
        }
        let fin = ntt_prime_below(fbits, n)
            .and_then(|p| NttPrime::new(p, n))
            .ok_or(too_wide)?;
        let query: Vec<NttPrime> = set
            .query_primes()
            .iter()
            .map(|&q| NttPrime::new(q, n).expect("built-in query primes are NTT primes"))
            .collect();
        let q = query[0].q as u128 * query[1].q as u128;
        let t = M::P;
        let delta = q / t as u128;
        let delta_mod = query.iter().map(|p| (delta % p.q as u128) as u64).collect();
        let q2_inv_mod_q1 = inv_mod(query[1].q, &query[0]);
        let q2_mod_q1 = query[1].q % query[0].q;
        let (div_q1, div_qf) = (CtDiv::new(query[0].q), CtDiv::new(fin.q));
        let div_query = query.iter().map(|p| CtDiv::new(p.q)).collect();
        Ok(Self {
            inner: Arc::new(Inner {
                set,
                n,
                query,
                fin,
                q,
                delta_mod,
                rho: (q % t as u128) as u64,
                q2_inv_mod_q1,
                q2_mod_q1,
                t,
                div_2t: CtDiv::new(2 * t),
                div_q1,
                div_qf,
                div_query,
            }),
            _m: core::marker::PhantomData,
        })
    }

    /// The parameter set.
    pub fn set(&self) -> HeParamSet {
        self.inner.set
    }

    /// Ring degree `N`.
    pub fn degree(&self) -> usize {
        self.inner.n
    }

    /// `log2 Q` of the query modulus.
    pub fn log_q(&self) -> f64 {
        (self.inner.q as f64).log2()
    }

    /// Bits of the response modulus `q_f`.
    pub fn final_bits(&self) -> u32 {
        self.inner.fin.bits
    }

    /// Bytes of one query ciphertext on the wire (16-byte seed for `c1`,
    /// then `c0` in NTT form, `N` coefficients per prime at `bits(q_i)`).
    pub fn query_ct_bytes(&self) -> usize {
        16 + self
            .inner
            .query
            .iter()
            .map(|p| packed_len(self.inner.n, p.bits))
            .sum::<usize>()
    }

    /// Bytes of one answer ciphertext with `useful` returned coefficients.
    pub fn answer_ct_bytes(&self, useful: usize) -> usize {
        packed_len(self.inner.n, self.final_bits()) + packed_len(useful, self.c0_bits())
    }

    /// Bits of each returned `c0` coefficient.
    pub fn c0_bits(&self) -> u32 {
        self.final_bits() - self.inner.set.dropped_bits()
    }

    /// `Delta r` with `Delta = Q / t` rounded per value: `round(Q v / t)`
    /// modulo query prime `i` for `v < t`, computed as
    /// `floor(Q/t) v + round((Q mod t) v / t)` (exact `u128` arithmetic).
    #[inline]
    pub(crate) fn encode_scaled(&self, v: u64, i: usize) -> u64 {
        let inner = &*self.inner;
        let p = &inner.query[i];
        let frac = inner
            .div_2t
            .div_rem(2 * inner.rho as u128 * v as u128 + inner.t as u128)
            .0 as u64;
        p.add(
            p.mul(inner.delta_mod[i], p.reduce_u64(v)),
            p.reduce_u64(frac),
        )
    }
}

/// Bytes of `count` values packed at `bits` bits each.
pub(crate) const fn packed_len(count: usize, bits: u32) -> usize {
    (count * bits as usize).div_ceil(8)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::field::{P2138816513, P2061584302081};

    #[test]
    fn sets_meet_the_standard_and_are_ntt_friendly() {
        for set in HeParamSet::ALL {
            let p = HeParams::<P2061584302081>::new(set).unwrap();
            assert!(p.log_q() < set.max_log_q() as f64, "{set:?}");
            for q in set.query_primes() {
                assert!(crate::field::is_prime(q));
                assert_eq!(q % (2 * set.degree() as u64), 1);
            }
            assert_eq!(p.final_bits(), 41 + set.final_extra_bits());
            let p31 = HeParams::<P2138816513>::new(set).unwrap();
            assert_eq!(p31.final_bits(), 31 + set.final_extra_bits());
            assert_ne!(p31.inner.fin.q, p.inner.fin.q);
        }
    }

    #[test]
    fn scaled_encoding_is_round_q_v_over_t() {
        // t round(Q v / t) - Q v lies in [-t/2, t/2], and Q = 0 mod q_i, so
        // t enc_i(v) mod q_i must be that same small value d for every i.
        fn check<M: Modulus>(set: HeParamSet) {
            let p = HeParams::<M>::new(set).unwrap();
            let t = p.inner.t;
            for v in [0u64, 1, 2, 12345, t / 2, t - 1] {
                let ds: Vec<i128> = (0..2)
                    .map(|i| {
                        let qi = &p.inner.query[i];
                        let x = qi.mul(qi.reduce_u64(t), p.encode_scaled(v, i)) as i128;
                        if x > qi.q as i128 / 2 {
                            x - qi.q as i128
                        } else {
                            x
                        }
                    })
                    .collect();
                assert_eq!(ds[0], ds[1], "v = {v}");
                assert!(ds[0].unsigned_abs() <= t as u128 / 2, "v = {v}");
            }
        }
        for set in HeParamSet::ALL {
            check::<P2061584302081>(set);
            check::<P2138816513>(set);
        }
    }
}
