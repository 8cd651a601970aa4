//! The client's pure steps: key generation, encrypting a layer's mask,
//! decrypting the answer.

use std::sync::Arc;

use rand_core::CryptoRng;
use zeroize::Zeroizing;

use super::keys::{KeyMaterial, expand_uniform, ntt_limbs, sample_cbd};
use super::msgs::{HeAnswer, HePublicKey, HeQuery, SeededPoly, check_count};
use super::params::HeParams;
use super::plan::HePlan;
use crate::error::Error;
use crate::field::batch::check_len;
use crate::field::fp::cond_sub;
use crate::field::{Fp, Modulus};

/// Checks that a plan was made for these parameters.
pub(crate) fn check_plan_params<M: Modulus>(
    params: &HeParams<M>,
    plan: &HePlan<M>,
) -> Result<(), Error> {
    if plan.params.set() == params.set() {
        Ok(())
    } else {
        Err(Error::HeHeader {
            what: "plan",
            field: "parameter set",
            expected: params.set().id() as u64,
            actual: plan.params.set().id() as u64,
        })
    }
}

/// The client: its secret key never leaves this value (redacted `Debug`,
/// zeroized on drop).
pub struct HeLinearClient<M: Modulus> {
    params: HeParams<M>,
    keys: Arc<KeyMaterial>,
}

impl<M: Modulus> core::fmt::Debug for HeLinearClient<M> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "HeLinearClient({:?}, key redacted)", self.params.set())
    }
}

/// What the client keeps between its query and the server's answer (the
/// plan and a handle on its key; no mask or noise is kept).
pub struct HePending<M: Modulus> {
    plan: HePlan<M>,
    keys: Arc<KeyMaterial>,
}

impl<M: Modulus> core::fmt::Debug for HePending<M> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "HePending({} answer ciphertexts expected)",
            self.plan.n_out()
        )
    }
}

impl<M: Modulus> HeLinearClient<M> {
    /// Generates a fresh secret key and public key.
    pub fn new<R: CryptoRng + ?Sized>(params: &HeParams<M>, rng: &mut R) -> Self {
        Self {
            params: params.clone(),
            keys: Arc::new(KeyMaterial::generate(params, rng)),
        }
    }

    /// The parameters.
    pub fn params(&self) -> &HeParams<M> {
        &self.params
    }

    /// The public key message for the server (re-randomisation of answers).
    pub fn public_key(&self) -> HePublicKey {
        HePublicKey {
            set: self.params.set(),
            key: SeededPoly {
                seed: self.keys.pk_seed,
                c0: self.keys.pk_p0.clone(),
            },
        }
    }

    /// Encrypts the layer input mask `r` (the layer's input layout, all
    /// images) for `plan`.
    ///
    /// # Errors
    ///
    /// [`Error::LengthMismatch`] if `r` is not the layer's input length;
    /// [`Error::HeHeader`] if the plan is for other parameters.
    pub fn encrypt<R: CryptoRng + ?Sized>(
        &self,
        plan: &HePlan<M>,
        r: &[Fp<M>],
        rng: &mut R,
    ) -> Result<(HeQuery, HePending<M>), Error> {
        check_plan_params(&self.params, plan)?;
        check_len(plan.shape.input_len(), r.len())?;
        let inner = &*self.params.inner;
        let (n, l) = (inner.n, inner.query.len());
        let values: Zeroizing<Vec<u64>> = Zeroizing::new(r.iter().map(|x| x.value()).collect());
        let mut cts = Vec::with_capacity(plan.n_in());
        let mut coeffs = Zeroizing::new(vec![0u64; n]);
        let mut m = Zeroizing::new(vec![0u64; l * n]);
        for k in 0..plan.n_in() {
            coeffs.iter_mut().for_each(|c| *c = 0);
            plan.fill_input(k, &values, &mut coeffs);
            let e = sample_cbd(rng, n);
            for (i, p) in inner.query.iter().enumerate() {
                for ((d, &v), &ev) in m[i * n..(i + 1) * n]
                    .iter_mut()
                    .zip(coeffs.iter())
                    .zip(e.iter())
                {
                    *d = p.add(self.params.encode_scaled(v, i), p.signed(ev));
                }
            }
            ntt_limbs(&inner.query, &mut m);
            let mut seed = [0u8; 16];
            rng.fill_bytes(&mut seed);
            let a = expand_uniform(seed, &inner.query, n);
            let mut c0 = vec![0u64; l * n];
            for (i, p) in inner.query.iter().enumerate() {
                let r = i * n..(i + 1) * n;
                for (((d, &mv), &av), &sv) in c0[r.clone()]
                    .iter_mut()
                    .zip(&m[r.clone()])
                    .zip(&a[r.clone()])
                    .zip(&self.keys.s_query[r])
                {
                    *d = p.sub(mv, p.mul(av, sv));
                }
            }
            cts.push(SeededPoly { seed, c0 });
        }
        Ok((
            HeQuery { cts },
            HePending {
                plan: plan.clone(),
                keys: Arc::clone(&self.keys),
            },
        ))
    }
}

impl<M: Modulus> HePending<M> {
    /// Calls `f(output index, phase)` for every returned coefficient:
    /// `phase = c0 + (c1 s) mod q_f`.
    fn for_each_phase(
        &self,
        answer: &HeAnswer,
        mut f: impl FnMut(usize, u64),
    ) -> Result<(), Error> {
        let plan = &self.plan;
        check_count("answer", plan.n_out(), answer.cts.len())?;
        let inner = &*plan.params.inner;
        let fin = &inner.fin;
        let d0 = inner.set.dropped_bits();
        let mut cs = Zeroizing::new(vec![0u64; inner.n]);
        for (o, ct) in answer.cts.iter().enumerate() {
            check_count("answer ciphertext", plan.useful_count(o), ct.c0.len())?;
            check_count("answer ciphertext", inner.n, ct.c1.len())?;
            cs.copy_from_slice(&ct.c1);
            fin.forward(&mut cs);
            for (c, &s) in cs.iter_mut().zip(self.keys.s_fin.iter()) {
                *c = fin.mul(*c, s);
            }
            fin.inverse(&mut cs);
            let mut values = ct.c0.iter();
            plan.for_each_useful(o, |pos, out_index| {
                let c0 = cond_sub(values.next().copied().unwrap_or(0) << d0, fin.q);
                f(out_index, fin.add(c0, cs[pos]));
            });
        }
        Ok(())
    }

    /// Largest decryption noise `|E_f|` over the returned coefficients
    /// (tests of the noise budget).
    #[cfg(test)]
    pub(crate) fn max_noise(&self, answer: &HeAnswer) -> u64 {
        let inner = &*self.plan.params.inner;
        let (q, t) = (inner.fin.q, inner.t);
        let mut worst = 0u64;
        self.for_each_phase(answer, |_, phase| {
            let m = ((t as u128 * phase as u128 + (q / 2) as u128) / q as u128) as u64 % t;
            let ideal = ((q as u128 * m as u128 + (t / 2) as u128) / t as u128) as u64 % q;
            let d = inner.fin.sub(phase, ideal);
            worst = worst.max(d.min(q - d));
        })
        .expect("a well-formed answer");
        worst
    }

    /// The plan of the pending layer.
    pub fn plan(&self) -> &HePlan<M> {
        &self.plan
    }

    /// Decrypts the server's answer: the client's share `W r - s` in the
    /// layer's output layout.
    ///
    /// # Errors
    ///
    /// [`Error::HeHeader`] if the answer does not have the plan's
    /// ciphertext count (answers from [`HeAnswer::from_bytes`] always do).
    pub fn decrypt(self, answer: &HeAnswer) -> Result<Vec<Fp<M>>, Error> {
        let inner = &*self.plan.params.inner;
        let half_qf = (inner.fin.q / 2) as u128;
        let mut out = Zeroizing::new(vec![Fp::<M>::ZERO; self.plan.shape.output_len()]);
        self.for_each_phase(answer, |out_index, phase| {
            let (m, _) = inner
                .div_qf
                .div_rem(inner.t as u128 * phase as u128 + half_qf);
            out[out_index] = Fp::from_u64_reduced(cond_sub(m as u64, inner.t));
        })?;
        Ok(core::mem::take(&mut *out))
    }
}
