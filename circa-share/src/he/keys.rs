//! The client's keys and the samplers: ternary secrets, centred binomial
//! errors (variance 10), uniform ring elements from a 16-byte seed (the
//! public `c1` of a ciphertext, expanded by AES-CTR), and the server's
//! flood.

use circa_ot::Prg;
use rand_core::{CryptoRng, SeedableRng};
use zeroize::{Zeroize, Zeroizing};

use super::noise::{E_NORM_FACTOR, S_NORM_FRACTION};
use super::ntt::NttPrime;
use super::params::HeParams;
use crate::field::Modulus;

/// A uniform ternary vector (`-1, 0, 1` each with probability 1/3), by
/// rejection on 2-bit strings (a rejection reveals only the rejected pair).
pub(crate) fn sample_ternary<R: CryptoRng + ?Sized>(rng: &mut R, n: usize) -> Zeroizing<Vec<i64>> {
    let mut out = Zeroizing::new(Vec::with_capacity(n));
    while out.len() < n {
        let mut word = rng.next_u64();
        for _ in 0..32 {
            let v = word & 3;
            word >>= 2;
            if v != 3 && out.len() < n {
                // 0 -> 0, 1 -> 1, 2 -> -1, without a branch on v.
                out.push((v & 1) as i64 - (v >> 1) as i64);
            }
        }
        word.zeroize();
    }
    out
}

/// Centred binomial errors `popcount(a) - popcount(b)` of two 20-bit
/// strings: variance 10, `|e| <= 20`.
pub(crate) fn sample_cbd<R: CryptoRng + ?Sized>(rng: &mut R, n: usize) -> Zeroizing<Vec<i64>> {
    let mut out = Zeroizing::new(vec![0i64; n]);
    for e in out.iter_mut() {
        let w = rng.next_u64();
        *e = (w & 0xf_ffff).count_ones() as i64 - ((w >> 20) & 0xf_ffff).count_ones() as i64;
    }
    out
}

/// The uniform polynomial of `seed`, in NTT form (uniform there as well),
/// one limb per prime: what both parties regenerate for a ciphertext's `c1`.
pub(crate) fn expand_uniform(seed: [u8; 16], primes: &[NttPrime], n: usize) -> Vec<u64> {
    let mut prg = Prg::from_seed(seed);
    let mut out = Vec::with_capacity(primes.len() * n);
    for p in primes {
        let mask = (1u64 << p.bits) - 1;
        let mut filled = 0;
        while filled < n {
            let v = rand_core::Rng::next_u64(&mut prg) & mask;
            if v < p.q {
                out.push(v);
                filled += 1;
            }
        }
    }
    out
}

/// Sets `out[i*n..][..n] = x mod q_i` for signed small `x`.
pub(crate) fn lift_signed(x: &[i64], primes: &[NttPrime], out: &mut [u64]) {
    let n = x.len();
    for (p, limb) in primes.iter().zip(out.chunks_exact_mut(n)) {
        for (d, &v) in limb.iter_mut().zip(x) {
            *d = p.signed(v);
        }
    }
}

/// Forward NTT of every limb.
pub(crate) fn ntt_limbs(primes: &[NttPrime], poly: &mut [u64]) {
    let n = poly.len() / primes.len();
    for (p, limb) in primes.iter().zip(poly.chunks_exact_mut(n)) {
        p.forward(limb);
    }
}

/// Inverse NTT of every limb.
pub(crate) fn intt_limbs(primes: &[NttPrime], poly: &mut [u64]) {
    let n = poly.len() / primes.len();
    for (p, limb) in primes.iter().zip(poly.chunks_exact_mut(n)) {
        p.inverse(limb);
    }
}

/// The client's key material: the ternary secret `s` in NTT form modulo
/// each query prime and modulo `q_f`, and the public key. Zeroized on drop.
pub(crate) struct KeyMaterial {
    /// `s` mod each query prime, NTT form (limb-major).
    pub s_query: Zeroizing<Vec<u64>>,
    /// `s` mod `q_f`, NTT form.
    pub s_fin: Zeroizing<Vec<u64>>,
    /// Public key: the seed of `p1` and `p0 = e - p1 s` (NTT form).
    pub pk_seed: [u8; 16],
    pub pk_p0: Vec<u64>,
}

impl KeyMaterial {
    pub fn generate<M: Modulus, R: CryptoRng + ?Sized>(params: &HeParams<M>, rng: &mut R) -> Self {
        let inner = &*params.inner;
        let n = inner.n;
        // Resample the (negligibly rare) keys outside the norms the noise
        // budget assumes.
        let s = loop {
            let s = sample_ternary(rng, n);
            let norm: i64 = s.iter().map(|v| v * v).sum();
            if (norm as f64) <= S_NORM_FRACTION * n as f64 {
                break s;
            }
        };
        let e = loop {
            let e = sample_cbd(rng, n);
            let norm: i64 = e.iter().map(|v| v * v).sum();
            if (norm as f64) <= E_NORM_FACTOR * n as f64 {
                break e;
            }
        };
        let l = inner.query.len();
        let mut s_query = Zeroizing::new(vec![0u64; l * n]);
        lift_signed(&s, &inner.query, &mut s_query);
        ntt_limbs(&inner.query, &mut s_query);
        let mut s_fin = Zeroizing::new(vec![0u64; n]);
        lift_signed(&s, core::slice::from_ref(&inner.fin), &mut s_fin);
        inner.fin.forward(&mut s_fin);
        let mut pk_seed = [0u8; 16];
        rng.fill_bytes(&mut pk_seed);
        let p1 = expand_uniform(pk_seed, &inner.query, n);
        let mut p0 = Zeroizing::new(vec![0u64; l * n]);
        lift_signed(&e, &inner.query, &mut p0);
        ntt_limbs(&inner.query, &mut p0);
        for (i, p) in inner.query.iter().enumerate() {
            let r = i * n..(i + 1) * n;
            for ((d, &a), &sv) in p0[r.clone()]
                .iter_mut()
                .zip(&p1[r.clone()])
                .zip(&s_query[r])
            {
                *d = p.sub(*d, p.mul(a, sv));
            }
        }
        Self {
            s_query,
            s_fin,
            pk_seed,
            pk_p0: p0.to_vec(),
        }
    }
}

impl Drop for KeyMaterial {
    fn drop(&mut self) {
        self.pk_seed.zeroize();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha20Rng;

    #[test]
    fn samplers_have_the_right_distribution() {
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let n = 60_000;
        let t = sample_ternary(&mut rng, n);
        for v in [-1i64, 0, 1] {
            let c = t.iter().filter(|&&x| x == v).count() as f64 / n as f64;
            assert!((c - 1.0 / 3.0).abs() < 0.01, "ternary {v}: {c}");
        }
        let e = sample_cbd(&mut rng, n);
        let mean = e.iter().sum::<i64>() as f64 / n as f64;
        let var = e.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / n as f64;
        assert!(
            mean.abs() < 0.05 && (var - 10.0).abs() < 0.3,
            "cbd mean {mean} var {var}"
        );
        assert!(e.iter().all(|x| x.abs() <= 20));
    }

    #[test]
    fn uniform_expansion_is_deterministic_and_reduced() {
        let primes = [
            NttPrime::new(12289, 16).unwrap(),
            NttPrime::new(4611686018427322369, 16).unwrap(),
        ];
        let a = expand_uniform([7; 16], &primes, 16);
        assert_eq!(a, expand_uniform([7; 16], &primes, 16));
        assert_ne!(a, expand_uniform([8; 16], &primes, 16));
        assert_eq!(a.len(), 32);
        assert!(a[..16].iter().all(|&v| v < 12289));
        assert!(a[16..].iter().all(|&v| v < 4611686018427322369));
    }
}
