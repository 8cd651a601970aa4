//! The server's pure steps: encoding a layer's weights once per model, and
//! answering a query (ciphertext x plaintext, mask, re-randomisation with the
//! client's public key, flooding, switching to `q_f`, compression).

use rand_core::CryptoRng;
use zeroize::Zeroizing;

use super::client::check_plan_params;
use super::keys::{expand_uniform, intt_limbs, lift_signed, ntt_limbs, sample_cbd, sample_ternary};
use super::msgs::{AnswerCt, HeAnswer, HePublicKey, HeQuery, check_count};
use super::params::{HeParams, Inner};
use super::plan::HePlan;
use crate::error::Error;
use crate::field::batch::check_len;
use crate::field::fp::cond_sub;
use crate::field::{Fp, Modulus};
use crate::linalg::Conv2dShape;
use crate::ole::linear::check_weight_range;

/// A layer's weights laid out as kernel polynomials (coefficient form,
/// small signed integers), prepared once per model and shared read-only
/// (`Send + Sync`) by every session. The weights are zeroized on drop and
/// never printed.
pub struct HeLayer<M: Modulus> {
    plan: HePlan<M>,
    /// `(position, weight)` of every tap, pair after pair.
    taps: Zeroizing<Vec<(u32, i32)>>,
    /// `taps[ranges[mb * n_cb + cb]]` is the kernel of the pair (empty when
    /// the pair shares no group).
    ranges: Vec<(usize, usize)>,
    /// Optional NTT forms of every active pair's kernel (limb-major, `L N`
    /// values per pair, in pair order), see [`HeLayer::with_ntt_cache`].
    ntt_cache: Option<Zeroizing<Vec<u64>>>,
    /// Position of each pair's kernel in the cache.
    cache_index: Vec<usize>,
}

impl<M: Modulus> core::fmt::Debug for HeLayer<M> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "HeLayer({:?}, weights redacted)", self.plan.shape)
    }
}

impl<M: Modulus> HeLayer<M> {
    /// Plans and encodes a convolution (OIHW weights as signed field
    /// elements of `weight_bits` bits, the layout of
    /// [`crate::linalg::conv2d`]).
    pub fn encode(
        params: &HeParams<M>,
        shape: &Conv2dShape,
        weights: &[Fp<M>],
        weight_bits: u32,
    ) -> Result<Self, Error> {
        Self::encode_plan(HePlan::conv(params, shape, weight_bits)?, weights)
    }

    /// Encodes the weights for an existing plan.
    ///
    /// # Errors
    ///
    /// [`Error::LengthMismatch`] for a wrong weight count,
    /// [`Error::WeightOutOfRange`] for a weight outside its width.
    pub fn encode_plan(plan: HePlan<M>, weights: &[Fp<M>]) -> Result<Self, Error> {
        check_len(plan.shape.weight_len(), weights.len())?;
        check_weight_range(weights, plan.weight_bits)?;
        let signed: Zeroizing<Vec<i32>> =
            Zeroizing::new(weights.iter().map(|w| w.to_i64() as i32).collect());
        let mut taps = Zeroizing::new(Vec::new());
        let mut ranges = Vec::with_capacity(plan.n_mb * plan.n_cb);
        for mb in 0..plan.n_mb {
            for cb in 0..plan.n_cb {
                let start = taps.len();
                if plan.pair_active(cb, mb) {
                    plan.for_each_tap(&signed, cb, mb, |pos, w| taps.push((pos as u32, w)));
                }
                ranges.push((start, taps.len()));
            }
        }
        Ok(Self {
            plan,
            taps,
            ranges,
            ntt_cache: None,
            cache_index: Vec::new(),
        })
    }

    /// Precomputes the NTT form of every kernel polynomial, trading
    /// [`HeLayer::cache_bytes`] of memory (per model, shared by sessions)
    /// for the kernel transforms of every answer (about half the server's
    /// time on large layers).
    pub fn with_ntt_cache(mut self) -> Self {
        let inner = &*self.plan.params.inner;
        let len = inner.n * inner.query.len();
        let mut cache = Zeroizing::new(Vec::new());
        let mut buf = Zeroizing::new(vec![0u64; len]);
        let mut index = Vec::with_capacity(self.ranges.len());
        for pair in 0..self.ranges.len() {
            index.push(cache.len() / len);
            if self.ranges[pair].0 != self.ranges[pair].1 {
                cache.extend_from_slice(self.kernel_ntt(pair, &mut buf));
            }
        }
        self.ntt_cache = Some(cache);
        self.cache_index = index;
        self
    }

    /// Bytes held by the NTT cache (zero without one).
    pub fn cache_bytes(&self) -> usize {
        self.ntt_cache.as_ref().map_or(0, |c| c.len() * 8)
    }

    /// The NTT form of pair `pair`'s kernel: from the cache, or computed
    /// into `buf`.
    fn kernel_ntt<'a>(&'a self, pair: usize, buf: &'a mut [u64]) -> &'a [u64] {
        let inner = &*self.plan.params.inner;
        let (n, len) = (inner.n, inner.n * inner.query.len());
        if let Some(cache) = &self.ntt_cache {
            let index = self.cache_index[pair];
            return &cache[index * len..(index + 1) * len];
        }
        let (lo, hi) = self.ranges[pair];
        buf.iter_mut().for_each(|v| *v = 0);
        for (i, p) in inner.query.iter().enumerate() {
            for &(pos, w) in &self.taps[lo..hi] {
                buf[i * n + pos as usize] = p.signed(w as i64);
            }
        }
        ntt_limbs(&inner.query, buf);
        buf
    }

    /// The layer's plan.
    pub fn plan(&self) -> &HePlan<M> {
        &self.plan
    }
}

/// The server's per-session state: the client's validated public key.
pub struct HeServer<M: Modulus> {
    params: HeParams<M>,
    p0: Vec<u64>,
    p1: Vec<u64>,
}

impl<M: Modulus> core::fmt::Debug for HeServer<M> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "HeServer({:?})", self.params.set())
    }
}

/// Switches one coefficient `(x mod q_1, x mod q_2)` to `round(x q_f / Q)
/// mod q_f` in two roundings (`Q -> q_1 -> q_f`), without branches.
#[inline]
fn switch(inner: &Inner, x1: u64, x2: u64) -> u64 {
    let (p1, p2) = (&inner.query[0], &inner.query[1]);
    // round(x / q_2) = (x - c) / q_2 with c the centred residue of x mod q_2.
    let upper = 0u64.wrapping_sub(((p2.q / 2).wrapping_sub(x2)) >> 63); // x2 > q2/2
    let t = p1.sub(x1, p1.reduce_u64(x2));
    let t = p1.add(t, inner.q2_mod_q1 & upper);
    let x = p1.mul(t, inner.q2_inv_mod_q1);
    let (y, _) = inner
        .div_q1
        .div_rem(x as u128 * inner.fin.q as u128 + (p1.q / 2) as u128);
    cond_sub(y as u64, inner.fin.q)
}

impl<M: Modulus> HeServer<M> {
    /// Accepts the client's public key (already validated by
    /// [`HePublicKey::from_bytes`]).
    pub fn new(params: &HeParams<M>, pk: &HePublicKey) -> Result<Self, Error> {
        if pk.set != params.set() {
            return Err(Error::HeHeader {
                what: "public key",
                field: "parameter set",
                expected: params.set().id() as u64,
                actual: pk.set.id() as u64,
            });
        }
        let p1 = expand_uniform(pk.key.seed, &params.inner.query, params.degree());
        Ok(Self {
            params: params.clone(),
            p0: pk.key.c0.clone(),
            p1,
        })
    }

    /// Answers `query` for `layer`: returns the answer and the server's
    /// share `s` (uniform, the layer's output layout).
    ///
    /// # Errors
    ///
    /// [`Error::HeHeader`] if the layer was planned for other parameters or
    /// the query has the wrong ciphertext count.
    pub fn answer<R: CryptoRng + ?Sized>(
        &self,
        layer: &HeLayer<M>,
        query: &HeQuery,
        rng: &mut R,
    ) -> Result<(HeAnswer, Vec<Fp<M>>), Error> {
        let plan = &layer.plan;
        check_plan_params(&self.params, plan)?;
        check_count("query", plan.n_in(), query.cts.len())?;
        let inner = &*self.params.inner;
        let (n, l) = (inner.n, inner.query.len());
        // The query's c1 polynomials, regenerated once.
        let a: Vec<Vec<u64>> = query
            .cts
            .iter()
            .map(|ct| expand_uniform(ct.seed, &inner.query, n))
            .collect();
        let tiles = plan.tiles();
        let per_image = tiles;
        let mut s_out = Zeroizing::new(vec![Fp::<M>::ZERO; plan.shape.output_len()]);
        let mut cts: Vec<Option<AnswerCt>> = vec![None; plan.n_out()];
        let mut kbuf = Zeroizing::new(vec![0u64; l * n]);
        for mb in 0..plan.n_mb {
            let mut acc = Zeroizing::new(vec![0u64; plan.shape.batch * per_image * 2 * l * n]);
            for cb in 0..plan.n_cb {
                let pair = mb * plan.n_cb + cb;
                let (lo, hi) = layer.ranges[pair];
                if lo == hi {
                    continue;
                }
                let kpoly = layer.kernel_ntt(pair, &mut kbuf);
                for img_tile in 0..plan.shape.batch * per_image {
                    let k = img_tile * plan.n_cb + cb;
                    let acc = &mut acc[img_tile * 2 * l * n..(img_tile + 1) * 2 * l * n];
                    let (acc0, acc1) = acc.split_at_mut(l * n);
                    for (i, p) in inner.query.iter().enumerate() {
                        let r = i * n..(i + 1) * n;
                        p.mul_acc(
                            &mut acc0[r.clone()],
                            &kpoly[r.clone()],
                            &query.cts[k].c0[r.clone()],
                        );
                        p.mul_acc(&mut acc1[r.clone()], &kpoly[r.clone()], &a[k][r]);
                    }
                }
            }
            for img_tile in 0..plan.shape.batch * per_image {
                let o = img_tile * plan.n_mb + mb;
                let acc = &mut acc[img_tile * 2 * l * n..(img_tile + 1) * 2 * l * n];
                cts[o] = Some(self.finish(plan, o, acc, &mut s_out, rng));
            }
        }
        let cts = cts
            .into_iter()
            .map(|c| c.expect("every answer ct is computed"))
            .collect();
        Ok((HeAnswer { cts }, core::mem::take(&mut *s_out)))
    }

    /// Re-randomises, masks, floods, switches and compresses answer ct `o`
    /// from its accumulated product `acc = (c0, c1)` (NTT form).
    fn finish<R: CryptoRng + ?Sized>(
        &self,
        plan: &HePlan<M>,
        o: usize,
        acc: &mut [u64],
        s_out: &mut [Fp<M>],
        rng: &mut R,
    ) -> AnswerCt {
        let inner = &*self.params.inner;
        let (n, l) = (inner.n, inner.query.len());
        let (acc0, acc1) = acc.split_at_mut(l * n);
        // + Enc_pk(0) = (p0 u + e1, p1 u + e2).
        let u = sample_ternary(rng, n);
        let mut un = Zeroizing::new(vec![0u64; l * n]);
        lift_signed(&u, &inner.query, &mut un);
        ntt_limbs(&inner.query, &mut un);
        for (i, p) in inner.query.iter().enumerate() {
            let r = i * n..(i + 1) * n;
            p.mul_acc(&mut acc0[r.clone()], &un[r.clone()], &self.p0[r.clone()]);
            p.mul_acc(&mut acc1[r.clone()], &un[r.clone()], &self.p1[r]);
        }
        intt_limbs(&inner.query, acc0);
        intt_limbs(&inner.query, acc1);
        let e2 = sample_cbd(rng, n);
        for (i, p) in inner.query.iter().enumerate() {
            for (d, &e) in acc1[i * n..(i + 1) * n].iter_mut().zip(e2.iter()) {
                *d = p.add(*d, p.signed(e));
            }
        }
        let c1: Vec<u64> = (0..n)
            .map(|j| switch(inner, acc1[j], acc1[n + j]))
            .collect();
        // Returned coefficients: + Delta(-s) + flood + e1, switch, compress.
        let flood = plan.budget.flood;
        let span = 2 * flood + 1;
        let mask = u128::MAX >> span.leading_zeros();
        let d0 = inner.set.dropped_bits();
        let mut c0 = Vec::with_capacity(plan.useful_count(o));
        plan.for_each_useful(o, |pos, out_index| {
            let s = Fp::<M>::random(rng);
            s_out[out_index] = s;
            let neg_s = (-s).value();
            let f = loop {
                let v = ((rng.next_u64() as u128) << 64 | rng.next_u64() as u128) & mask;
                if v < span {
                    break v as i128 - flood as i128;
                }
            };
            let e1 = sample_cbd(rng, 1)[0] as i128;
            let noise = f + e1;
            let neg = 0u128.wrapping_sub((noise < 0) as u128);
            let mag = noise.unsigned_abs();
            let mut x = [0u64; 2];
            for (i, p) in inner.query.iter().enumerate() {
                let (_, r) = inner.div_query[i].div_rem(mag);
                let r = r as u128;
                let r = ((r & !neg) | ((p.q as u128 - r) & neg)) as u64;
                let r = cond_sub(r, p.q);
                let enc = self.params.encode_scaled(neg_s, i);
                x[i] = p.add(p.add(acc0[i * n + pos], enc), r);
            }
            let y = switch(inner, x[0], x[1]);
            c0.push((y + (1 << (d0 - 1))) >> d0);
        });
        AnswerCt { c1, c0 }
    }
}
